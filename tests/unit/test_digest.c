/* Unit tests of digest.c: budget, what must survive it, unusual values, the
 * baseline's rules against a scripted history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <malloc.h>

#include "anomalog/digest.h"
#include "anomalog/ingest.h"

#define T0 1795514400000LL

typedef struct lines {
    prompt_line *v;
    char **msgs;
    size_t n, cap;
} lines;

static void add(lines *l, int64_t ts, const char *level, const char *fmt, ...)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        l->msgs = realloc(l->msgs, l->cap * sizeof *l->msgs);
    }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    l->msgs[l->n] = strdup(buf);
    l->v[l->n] = (prompt_line){.ts_ms = ts, .level = level, .message = l->msgs[l->n]};
    l->n++;
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->msgs[i]);
    free(l->msgs);
    free(l->v);
}

/* History: every template id below known_below is known, seen in `seen` windows at `avg` a window. */
typedef struct hist {
    int64_t known_below;
    double avg;
    int seen;
    int64_t benign_id;
} hist;

static int history(void *arg, int64_t id, digest_history *out)
{
    hist *h = arg;
    if (id >= h->known_below)
        return -1;
    *out = (digest_history){.known = 1, .trailing_avg = h->avg, .windows_seen = h->seen, .benign = id == h->benign_id};
    return 0;
}

static void routine(lines *l, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        switch (seed >> 16 & 3) {
        case 0:
            add(l, T0 + i, "info", "GET /api/v1/items/%u 200 %ums", seed % 100000, seed % 300);
            break;
        case 1:
            add(l, T0 + i, "info", "user %s logged in from 10.0.%u.%u", (seed & 64) ? "alice" : "bob", seed % 250,
                (seed >> 8) % 250);
            break;
        case 2:
            add(l, T0 + i, "debug", "cache refresh took %u ms for %u keys", seed % 90, seed % 5000);
            break;
        default:
            add(l, T0 + i, "info", "worker %u heartbeat", seed % 16);
        }
    }
}

static digest_input input(lines *l, miner *m, hist *h)
{
    return (digest_input){.service = "api", .start_ms = T0, .end_ms = T0 + 300000, .lines = l->v, .n_lines = l->n,
                          .total_lines = l->n, .m = m, .history = h ? history : NULL, .history_arg = h,
                          .trailing_error_avg = h ? 0.5 : -1, .history_depth = h ? 12 : 0};
}

static void test_budget_keeps_every_notable_template(void **state)
{
    (void)state;
    miner_opts mo = miner_opts_defaults();
    miner *m = miner_new(&mo);
    lines l = {0};
    routine(&l, 100000, 42);
    add(&l, T0 + 500, "warn", "disk usage 93%% on /var/lib/pg");
    add(&l, T0 + 600, "error", "replica lag 45s exceeds 30s");
    digest_opts o;
    digest_opts_defaults(&o);
    o.token_budget = 800;
    digest_input in = input(&l, m, NULL);
    digest d;
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_true(strlen(d.text) <= 800 * 3);
    assert_true(d.est_tokens <= 800);
    assert_non_null(strstr(d.text, "100002 lines"));
    assert_non_null(strstr(d.text, "disk usage 93% on /var/lib/pg"));
    assert_non_null(strstr(d.text, "replica lag 45s exceeds 30s"));
    assert_int_equal(d.error_lines, 1);
    assert_int_equal(d.level_totals[4], 1);
    uint64_t sum = 0;
    for (size_t i = 0; i < d.n_templates; i++)
        sum += d.templates[i].count;
    assert_int_equal(sum, 100002); /* every line accounted for */
    digest_free(&d);
    miner_free(m);
    lines_free(&l);
}

/* A line stored without a level is read for one the way ingestion reads it (ingest_level_sniff). */
/* The digest ranks a level word as ingestion reads it: one list of level words. */
static void test_level_words_are_ingestions(void **state)
{
    (void)state;
    static const char *const words[] = {"trace", "DEBUG", "dbg", "finest", "info", "Notice", "inf", "warn", "WARNING",
                                        "wrn", "error", "err", "severe", "fatal", "crit", "EMERG", "panic", "ftl"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        int r = digest_level_rank(words[i]);
        assert_in_range(r, 1, 6);
        assert_string_equal(digest_level_name(r), ingest_level_canonical(words[i], strlen(words[i])));
    }
    assert_int_equal(digest_level_rank("dbg"), 2);
    assert_int_equal(digest_level_rank("notice"), 3);
    assert_int_equal(digest_level_rank("wrn"), 4);
    assert_int_equal(digest_level_rank("critical"), 6);
    assert_int_equal(digest_level_rank("bogus"), 0);
    assert_int_equal(digest_level_rank(""), 0);
    assert_int_equal(digest_level_rank(NULL), 0);
    assert_string_equal(digest_level_name(0), "-");
}

static void test_levels_read_from_lines_without_one(void **state)
{
    (void)state;
    miner_opts mo = miner_opts_defaults();
    miner *m = miner_new(&mo);
    lines l = {0};
    add(&l, T0 + 1, NULL, "level=error msg=\"payment declined\" order=%d", 7);
    add(&l, T0 + 2, NULL, "{\"level\":\"fatal\",\"msg\":\"out of file descriptors\"}");
    add(&l, T0 + 3, NULL, "[warn] disk at 91%%");
    add(&l, T0 + 4, NULL, "2026-11-24 10:00:04 error: replica lag 45s");
    add(&l, T0 + 5, NULL, "ERROR:root:connection reset");
    add(&l, T0 + 6, NULL, "an error count of 0 is fine"); /* a word in the text is not a level */
    digest_opts o;
    digest_opts_defaults(&o);
    digest_input in = input(&l, m, NULL);
    digest d;
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_int_equal(d.level_totals[6], 1);
    assert_int_equal(d.level_totals[5], 3);
    assert_int_equal(d.level_totals[4], 1);
    assert_int_equal(d.level_totals[0], 1);
    assert_int_equal(d.error_lines, 4);
    digest_free(&d);
    miner_free(m);
    lines_free(&l);
}

static void test_unusual_value_is_shown(void **state)
{
    (void)state;
    miner_opts mo = miner_opts_defaults();
    miner *m = miner_new(&mo);
    lines l = {0};
    for (int i = 0; i < 500; i++)
        add(&l, T0 + i, "info", "login ok for user u%d", i % 40);
    add(&l, T0 + 900, "info", "login ok for user admin'/**/OR/**/'1'='1");
    hist h = {.known_below = 1000, .avg = 480, .seen = 12};
    digest_opts o;
    digest_opts_defaults(&o);
    digest_input in = input(&l, m, &h);
    digest d;
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_non_null(strstr(d.text, "unusual value"));
    assert_non_null(strstr(d.text, "admin'/**/OR/**/'1'='1"));
    assert_false(d.quiet);
    digest_free(&d);
    miner_free(m);
    lines_free(&l);
}

static void test_quiet_window_and_baseline_rules(void **state)
{
    (void)state;
    miner_opts mo = miner_opts_defaults();
    miner *m = miner_new(&mo);
    /* teach the miner the routine templates, as earlier windows would have */
    lines warm = {0};
    routine(&warm, 2000, 7);
    digest_opts o;
    digest_opts_defaults(&o);
    digest d;
    digest_input in = input(&warm, m, NULL);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    digest_free(&d);
    int64_t known_below = (int64_t)miner_size(m) + 1;

    /* the same routine at its usual rate: quiet, no finding */
    lines calm = {0};
    routine(&calm, 2000, 9);
    hist h = {.known_below = known_below, .avg = 500, .seen = 12};
    in = input(&calm, m, &h);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_true(d.quiet);
    assert_int_equal(json_array_size(d.findings), 0);
    digest_free(&d);

    /* a new error template and a burst: findings, not quiet */
    lines bad = {0};
    routine(&bad, 2000, 11);
    for (int i = 0; i < 60; i++)
        add(&bad, T0 + 3000 + i, "error", "payment provider timeout after %d ms", 3000 + i);
    in = input(&bad, m, &h);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_false(d.quiet);
    char *all = json_dumps(d.findings, 0);
    assert_non_null(strstr(all, "Burst of 60 error lines"));
    assert_non_null(strstr(all, "New error message"));
    assert_non_null(strstr(all, "\"latency\"")); /* "timeout" classifies as latency */
    free(all);
    digest_free(&d);
    miner_free(m);
    lines_free(&warm);
    lines_free(&calm);
    lines_free(&bad);
}

/* Findings of the digest's baseline of one type, joined with " | ". */
static char *findings_of(const digest *d, const char *type)
{
    static char buf[8192];
    buf[0] = '\0';
    size_t i;
    json_t *f;
    json_array_foreach(d->findings, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "type")), type) != 0)
            continue;
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n, "%s%s", n ? " | " : "", json_string_value(json_object_get(f, "summary")));
    }
    return buf;
}

static void test_first_window_is_judged_on_its_own(void **state)
{
    (void)state;
    miner *m = miner_new(NULL);
    digest_opts o;
    digest_opts_defaults(&o);
    digest d;
    /* a first window of routine lines with one error and two failed logins: nothing */
    lines calm = {0};
    routine(&calm, 1000, 3);
    add(&calm, T0 + 10, "error", "could not reach metrics endpoint");
    add(&calm, T0 + 11, "warn", "Failed password for bob from 10.1.1.1 port 2222 ssh2");
    add(&calm, T0 + 12, "warn", "Failed password for bob from 10.1.1.2 port 2223 ssh2");
    digest_input in = input(&calm, m, NULL);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_int_equal(json_array_size(d.findings), 0);
    digest_free(&d);
    miner_free(m);

    /* 30 fatal lines, 60 errors and failed passwords in a first window: three findings */
    m = miner_new(NULL);
    lines bad = {0};
    routine(&bad, 1000, 5);
    for (int i = 0; i < 30; i++)
        add(&bad, T0 + 100 + i, "fatal", "cannot open ledger file /data/ledger-%d.db", i);
    for (int i = 0; i < 60; i++)
        add(&bad, T0 + 200 + i, "error", "upstream %d returned 502", i % 4);
    for (int i = 0; i < 8; i++)
        add(&bad, T0 + 300 + i, "info", "Failed password for root from 203.0.113.%d port %d ssh2", i, 4000 + i);
    for (int i = 0; i < 3; i++)
        add(&bad, T0 + 400 + i, "info", "Invalid user u%d from 203.0.113.9", i);
    in = input(&bad, m, NULL);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    char *all = json_dumps(d.findings, 0);
    assert_non_null(strstr(all, "30 fatal lines in the first window of api"));
    assert_non_null(strstr(all, "cannot open ledger file")); /* the fatal lines are the evidence */
    assert_non_null(strstr(all, "60 error lines"));
    /* one finding for the failed logins of both templates, a line of each as evidence */
    assert_non_null(strstr(findings_of(&d, "auth_failure"), "11 authentication failures in 2 templates"));
    assert_non_null(strstr(all, "Invalid user u0 from"));
    assert_non_null(strstr(all, "Failed password for root from 203.0.113.0"));
    assert_non_null(strstr(d.text, "30 fatal lines in the first window")); /* the model reads it too */
    assert_int_equal(json_array_size(d.findings), 3);
    free(all);
    digest_free(&d);
    /* the same lines with history: the first-window rules stay out (the history rules judge) */
    hist h = {.known_below = 1000, .avg = 1100, .seen = 12};
    in = input(&bad, m, &h);
    in.trailing_error_avg = 60;
    assert_int_equal(digest_build(&in, &o, &d), 0);
    all = json_dumps(d.findings, 0);
    assert_null(strstr(all, "first window"));
    free(all);
    digest_free(&d);
    miner_free(m);
    lines_free(&calm);
    lines_free(&bad);
}

static void test_attack_shapes_in_values_are_security_findings(void **state)
{
    (void)state;
    miner *m = miner_new(NULL);
    digest_opts o;
    digest_opts_defaults(&o);
    digest d;
    lines l = {0};
    for (int i = 0; i < 300; i++)
        add(&l, T0 + i, "info", "user %s looked up item %s%d in %d ms", i % 3 ? "bob" : "eve", i % 2 ? "lamp" : "desk", i,
            i % 90);
    add(&l, T0 + 400, "info", "user bob looked up item x%%27%%20UNION%%20SELECT%%20password in 5 ms");
    add(&l, T0 + 401, "info", "user eve looked up item <script>alert(1)</script> in 5 ms");
    for (int i = 0; i < 200; i++)
        add(&l, T0 + 500 + i, "info", "search for %s%d returned %d rows", i % 3 ? "lamp" : "desk", i % 7, i);
    add(&l, T0 + 800, "info", "search for a;b returned 0 rows");
    hist h = {.known_below = 1000, .avg = 500, .seen = 12};
    digest_input in = input(&l, m, &h);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    const char *sec = findings_of(&d, "security");
    assert_non_null(strstr(sec, "SQL injection"));
    assert_non_null(strstr(sec, "script injection"));
    assert_non_null(strstr(sec, "rare shape")); /* `a;b` where words are usual */
    char *all = json_dumps(d.findings, 0);
    assert_non_null(strstr(all, "UNION%20SELECT")); /* the line itself is the evidence */
    free(all);
    digest_free(&d);
    lines_free(&l);

    /* a shape every line of a known template carries is its content, not a probe */
    lines rel = {0};
    for (int i = 0; i < 100; i++)
        add(&rel, T0 + i, "info", "compiling ../../src/mod%d.c", i);
    in = input(&rel, m, &h);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_string_equal(findings_of(&d, "security"), "");
    digest_free(&d);
    miner_free(m);
    lines_free(&rel);
}

static void test_recurring_config_message_is_a_config_finding(void **state)
{
    (void)state;
    miner *m = miner_new(NULL);
    digest_opts o;
    digest_opts_defaults(&o);
    digest d;
    lines warm = {0};
    routine(&warm, 500, 7);
    add(&warm, T0, "info", "starting version 4.1.0 with default settings");
    digest_input in = input(&warm, m, NULL);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_string_equal(findings_of(&d, "config"), ""); /* start-up lines of a first window */
    digest_free(&d);
    int64_t known_below = (int64_t)miner_size(m) + 1;
    lines l = {0};
    routine(&l, 500, 9);
    for (int i = 0; i < 4; i++)
        add(&l, T0 + 100 * i, "info", "cache ttl changed from %d to %d by reload", 300, 30 + i);
    add(&l, T0 + 900, "info", "flag dark_mode disabled for tenant 7"); /* once: not recurring */
    hist h = {.known_below = known_below, .avg = 120, .seen = 12};
    in = input(&l, m, &h);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    const char *cfg = findings_of(&d, "config");
    assert_non_null(strstr(cfg, "cache ttl changed from"));
    assert_null(strstr(cfg, "dark_mode"));
    assert_int_equal(json_array_size(d.findings), 1);
    digest_free(&d);
    miner_free(m);
    lines_free(&warm);
    lines_free(&l);
}

static void test_templates_merged_while_mining_are_one(void **state)
{
    (void)state;
    miner *m = miner_new(NULL);
    lines l = {0};
    const char *items[] = {"lamp", "desk", "sofa", "rug", "vase", "fan", "oven", "sink"};
    for (int i = 0; i < 80; i++)
        add(&l, T0 + i, i == 3 ? "warn" : "info", "cart item %s added", items[i % 8]);
    digest_opts o;
    digest_opts_defaults(&o);
    digest d;
    digest_input in = input(&l, m, NULL);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    /* the first words were kept apart as event words, then merged as values: one template of 80 lines */
    assert_int_equal(d.n_templates, 1);
    assert_int_equal(d.templates[0].count, 80);
    assert_string_equal(d.templates[0].text, "cart item <*> added");
    assert_int_equal(d.templates[0].max_level, 4);
    for (size_t i = 0; i < l.n; i++)
        assert_int_equal(d.line_tids[i], d.templates[0].id);
    assert_non_null(strstr(d.text, "x80"));
    digest_free(&d);
    miner_free(m);
    lines_free(&l);
}

static void test_salient_fields_are_shown_under_exemplars(void **state)
{
    (void)state;
    miner *m = miner_new(NULL);
    char err[128];
    redact_opts ro = {0};
    redactor *red = redactor_new(&ro, err, sizeof err);
    assert_non_null(red);
    lines l = {0};
    routine(&l, 200, 3);
    const char **attrs = calloc(l.n + 2, sizeof *attrs);
    assert_non_null(attrs);
    add(&l, T0 + 500, "error", "request to upstream failed");
    attrs[l.n - 1] = "{\"user\":\"zed-q\",\"alert\":\"network flapping on eth0\",\"status\":503,"
                     "\"reason\":\"login with password=hunter2 refused\",\"region\":\"eu\"}";
    add(&l, T0 + 600, "fatal", "worker crashed");
    attrs[l.n - 1] = "{\"stack_trace\":\"java.net.SocketException: reset\\n\\tat a.B.c(B.java:1)\"}";
    attrs[0] = "{\"error\":\"shown only for a notable template\"}";
    digest_opts o;
    digest_opts_defaults(&o);
    o.redact = red;
    digest_input in = input(&l, m, NULL);
    in.attrs = attrs;
    in.history = history; /* with history the routine lines are common, not notable */
    hist h = {.known_below = 1000, .avg = 200, .seen = 12};
    in.history_arg = &h;
    in.history_depth = 12;
    /* the error template is new: ids of the routine ones are below it once mined; mine them first */
    lines warm = {0};
    routine(&warm, 200, 5);
    digest_input w = input(&warm, m, NULL);
    digest d;
    assert_int_equal(digest_build(&w, &o, &d), 0);
    h.known_below = (int64_t)miner_size(m) + 1;
    digest_free(&d);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_non_null(strstr(d.text, "field alert:\n        network flapping on eth0\n"));
    assert_non_null(strstr(d.text, "field status:\n        503\n"));
    assert_non_null(strstr(d.text, "field reason:"));
    assert_null(strstr(d.text, "hunter2"));              /* redacted */
    assert_null(strstr(d.text, "zed-q"));                /* not salient */
    assert_non_null(strstr(d.text, "field stack_trace:")); /* by name; a trace keeps its first line */
    assert_non_null(strstr(d.text, "java.net.SocketException: reset"));
    assert_null(strstr(d.text, "shown only for a notable template"));
    /* templates are mined on the message alone */
    assert_non_null(strstr(d.text, ": request to upstream failed\n"));
    digest_free(&d);
    free(attrs);
    redactor_free(red);
    miner_free(m);
    lines_free(&l);
    lines_free(&warm);
}

static void test_benign_templates_are_not_raised(void **state)
{
    (void)state;
    miner_opts mo = miner_opts_defaults();
    miner *m = miner_new(&mo);
    lines l = {0};
    for (int i = 0; i < 50; i++)
        add(&l, T0 + i, "warn", "nightly reindex of shard %d", i);
    digest_opts o;
    digest_opts_defaults(&o);
    digest d;
    digest_input in = input(&l, m, NULL);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    int64_t id = d.templates[0].id;
    digest_free(&d);
    hist h = {.known_below = id + 1, .avg = 1, .seen = 2, .benign_id = id}; /* 50x its usual: a rate jump */
    in = input(&l, m, &h);
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_int_equal(json_array_size(d.findings), 0);
    assert_non_null(strstr(d.text, "known-benign"));
    digest_free(&d);
    h.benign_id = -1;
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_int_equal(json_array_size(d.findings), 1);
    digest_free(&d);
    miner_free(m);
    lines_free(&l);
}

static void test_stack_trace_keeps_head_and_cause(void **state)
{
    (void)state;
    miner_opts mo = miner_opts_defaults();
    miner *m = miner_new(&mo);
    lines l = {0};
    char *trace = malloc(20000);
    size_t n = (size_t)snprintf(trace, 20000, "request failed\njava.lang.RuntimeException: wrapper");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(trace + n, 20000 - n, "\n\tat com.acme.Frame%d.call(Frame.java:%d)", i, i);
    snprintf(trace + n, 20000 - n, "\nCaused by: java.sql.SQLException: connection reset");
    add(&l, T0, "error", "%s", "x"); /* placeholder replaced below */
    free(l.msgs[0]);
    l.msgs[0] = trace;
    l.v[0].message = trace;
    digest_opts o;
    digest_opts_defaults(&o);
    digest_input in = input(&l, m, NULL);
    digest d;
    assert_int_equal(digest_build(&in, &o, &d), 0);
    assert_non_null(strstr(d.text, "request failed"));
    assert_non_null(strstr(d.text, "Caused by: java.sql.SQLException: connection reset"));
    assert_true(strlen(d.text) < 4000);
    digest_free(&d);
    miner_free(m);
    lines_free(&l);
}


/* Which evidence lines quote a line of the window, as the digest showed it (redacted). */
static void test_quotes_are_found_only_in_the_window(void **state)
{
    (void)state;
    miner_opts mo = miner_opts_defaults();
    miner *m = miner_new(&mo);
    char err[128];
    redact_opts ro = {0};
    redactor *red = redactor_new(&ro, err, sizeof err);
    assert_non_null(red);
    lines l = {0};
    add(&l, T0 + 1000, "info", "GET /health 200 1ms");
    add(&l, T0 + 2500, "error", "login failed password=hunter for bob@example.com");
    add(&l, T0 + 3000, NULL, "no level here at all");
    add(&l, T0 + 4000, "error", "java.lang.IllegalStateException: pool closed\n\tat a.b.C.run(C.java:10)\n"
                                "Caused by: java.io.IOException: broken pipe");
    add(&l, T0 + 5000, "warn", "a rather long warning line that the model may cut short at some point");
    digest_opts o;
    digest_opts_defaults(&o);
    o.redact = red;
    digest_input in = input(&l, m, NULL);
    digest d;
    assert_int_equal(digest_build(&in, &o, &d), 0);
    /* the redacted line is what the digest showed */
    /* the exemplar is redacted as the digest showed it (the template line numbers its own text first) */
    assert_non_null(strstr(d.text, "    2026-11-24T10:00:02.500Z error login failed password=<secret:2> for <email:1>\n"));
    static const struct {
        const char *evidence;
        int found;
        size_t index;
    } cases[] = {
        {"2026-11-24T10:00:02.500Z error login failed password=<secret:2> for <email:1>", 1, 1},
        {"2026-11-24T10:00:02.5Z ERROR login failed password=<secret:2> for <email:1>", 1, 1}, /* any spelling, any case */
        {"2026-11-24T11:00:02.500+01:00 error login failed password=<secret:2> for <email:1>", 1, 1},
        {"error login failed password=<secret:2> for <email:1>", 1, 1},              /* no timestamp */
        {"login failed password=<secret:2> for <email:1>", 1, 1},                    /* no timestamp, no level */
        {"  2026-11-24T10:00:02.500Z login failed password=<secret:2> for <email:1>  ", 1, 1}, /* no level, spaces */
        {"2026-11-24T10:00:02.500Z error login failed password=hunter for bob@example.com", 0, 0}, /* raw, not shown */
        {"2026-11-24T10:00:02.500Z error login failed password=<secret:2> for <email:2>", 0, 0}, /* other placeholder */
        {"2026-11-24T10:00:02.500Z error login failed password=<secret:1> for <email:1>", 0, 0}, /* the template's */
        {"2026-11-24T10:00:03.500Z error login failed password=<secret:2> for <email:1>", 0, 0}, /* other time */
        {"2026-11-24T10:00:02.500Z warn login failed password=<secret:2> for <email:1>", 0, 0},  /* other level */
        {"login failed password=<secret:2>", 0, 0},                                               /* part of a line */
        {"2026-11-24T10:00:03.000Z - no level here at all", 1, 2},
        {"no level here at all", 1, 2},
        {"Caused by: java.io.IOException: broken pipe", 1, 3}, /* a line of a multi-line message */
        {"2026-11-24T10:00:04.000Z error java.lang.IllegalStateException: pool closed", 1, 3},
        {"a rather long warning line that…", 1, 4},       /* cut with an ellipsis */
        {"warn a rather long warning line that ...", 1, 4},
        {"a rather long wa…", 1, 4},                       /* 16 bytes before the ellipsis: the least allowed */
        {"a rather long w…", 0, 0},                        /* 15 bytes: too short to tell */
        {"a rather long warning line that", 0, 0},          /* cut without saying so */
        {"2026-11-24T10:00:09.000Z error database dropped by admin", 0, 0}, /* invented */
        {"2026-11-24T10:00:02.500Z", 0, 0},                                  /* a time alone */
        {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t k = 99;
        int found = digest_find_quote(&d, l.v, l.n, cases[i].evidence, &k);
        if (found != cases[i].found)
            fail_msg("case %zu \"%s\": found %d, expected %d", i, cases[i].evidence, found, cases[i].found);
        if (found)
            assert_int_equal(k, cases[i].index);
    }
    digest_free(&d);
    redactor_free(red);
    miner_free(m);
    lines_free(&l);
}

/* Lines streamed through a builder: what it keeps is bounded by its templates, not by the lines. 40,000
 * distinct lines of 2 KB each (80 MB) past a cap of 200 templates: slots given up give their lines up, and the
 * heap grows by a few MB (8 bytes a line of template ids, the id map, the miner's templates), not by the
 * lines. */
static void test_streamed_lines_kept_are_bounded(void **state)
{
    (void)state;
    enum { N = 40000, BODY = 2048 };
    miner_opts mo = miner_opts_defaults();
    miner *m = miner_new(&mo);
    digest_opts o;
    digest_opts_defaults(&o);
    o.max_window_templates = 200;
    lines none = {0};
    digest_input in = input(&none, m, NULL);
    char *msg = malloc(BODY + 128);
    size_t base = mallinfo2().uordblks, peak = base;
    digest_builder *b = digest_begin(&in, &o);
    assert_non_null(b);
    unsigned seed = 7;
    for (int i = 0; i < N; i++) {
        char w[5][8];
        for (int k = 0; k < 5; k++) { /* five words of letters: a template of its own */
            for (int j = 0; j < 6; j++) {
                seed = seed * 1103515245u + 12345u;
                w[k][j] = (char)('a' + (seed >> 16) % 26);
            }
            w[k][6] = '\0';
        }
        int n = snprintf(msg, 128, "%s %s %s %s %s\n", w[0], w[1], w[2], w[3], w[4]);
        memset(msg + n, 'x', BODY);
        msg[n + BODY] = '\0';
        prompt_line l = {.ts_ms = T0 + i, .level = i % 100 ? "info" : "error", .message = msg};
        assert_int_equal(digest_add(b, &l, i % 3 ? NULL : "{\"error\":\"disk on fire\"}"), 0);
        if (i % 1000 == 999) {
            size_t now = mallinfo2().uordblks;
            peak = now > peak ? now : peak;
        }
    }
    assert_true(peak - base < 16u << 20);
    digest d;
    assert_int_equal(digest_end(b, &d), 0);
    assert_int_equal(d.n_lines, N);
    assert_true(d.n_templates <= 200);
    assert_true(d.rare_lines >= N - 200);
    assert_non_null(strstr(d.text, "RARE error"));
    digest_free(&d);
    free(msg);
    miner_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_keeps_every_notable_template),
        cmocka_unit_test(test_unusual_value_is_shown),
        cmocka_unit_test(test_quiet_window_and_baseline_rules),
        cmocka_unit_test(test_benign_templates_are_not_raised),
        cmocka_unit_test(test_salient_fields_are_shown_under_exemplars),
        cmocka_unit_test(test_templates_merged_while_mining_are_one),
        cmocka_unit_test(test_first_window_is_judged_on_its_own),
        cmocka_unit_test(test_attack_shapes_in_values_are_security_findings),
        cmocka_unit_test(test_recurring_config_message_is_a_config_finding),
        cmocka_unit_test(test_stack_trace_keeps_head_and_cause),
        cmocka_unit_test(test_quotes_are_found_only_in_the_window),
        cmocka_unit_test(test_streamed_lines_kept_are_bounded),
        cmocka_unit_test(test_levels_read_from_lines_without_one),
        cmocka_unit_test(test_level_words_are_ingestions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
