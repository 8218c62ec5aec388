/*
 * eval.c — `anomalog eval LOG LABELS.json [--json]`: a scorecard of the
 * detector (the model, the baseline, or both) against labelled incidents.
 *
 * Purpose: replay prints findings, but nobody can tell from it how good a
 * model is on their logs. eval replays LOG through the whole pipeline (the
 * same parse, windows, digest, baseline, prompt and model client as serve,
 * notifications off, a temporary database unless --db is given), then scores
 * every finding against the incidents of LABELS.json:
 *
 *   {"incidents": [{"id": "db-cascade", "services": ["db", "api"],
 *                   "first": "2026-11-24T10:20:00Z", "last": "2026-11-24T10:31:00Z",
 *                   "type": "error_spike"}]}
 *
 * ("service" may stand for a one-element "services"; times are RFC 3339 or
 * epoch seconds; "type" is optional). A finding matches an incident when its
 * service is one of the incident's and its window overlaps [first, last]
 * (a window that starts before last and ends after first). Per incident:
 * found or missed, by which analyzer (llm, baseline), when (the end of the
 * first matching window: when the finding existed, counted from first),
 * whether a matching finding has the labelled type. Findings matching no
 * incident are listed as outside. Totals: windows, tokens, model latency,
 * wall time. --json prints one object for CI.
 *
 * Threads: the CLI's main thread; the analyzer runs with no worker threads
 * (analyzer_run_one), so the replay is deterministic given the model's
 * answers.
 *
 * Limits: EVAL_MAX_INCIDENTS incidents; LOG is read whole (as replay does).
 */
#include "anomalog/eval.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anomalog/analyzer.h"
#include "anomalog/batch.h"
#include "anomalog/ingest.h"
#include "anomalog/llm.h"
#include "anomalog/log.h"
#include "anomalog/store.h"
#include "anomalog/timeutil.h"

#define EVAL_MAX_INCIDENTS 10000
#define EVAL_MAX_SERVICES 32

typedef struct incident {
    char id[128];
    char services[EVAL_MAX_SERVICES][129];
    int n_services;
    int64_t first_ms, last_ms;
    char type[32];
    /* score */
    int by_llm, by_baseline, type_match;
    int64_t detected_ms; /* end of the first matching window; 0 none */
    long findings;
} incident;

static int parse_time(const json_t *v, int64_t *ms)
{
    if (json_is_string(v)) {
        size_t used = 0;
        return time_parse_rfc3339(json_string_value(v), json_string_length(v), 0, ms, &used) == 0 &&
                       used == json_string_length(v)
                   ? 0
                   : -1;
    }
    if (json_is_number(v))
        return time_from_epoch_number(json_number_value(v), ms);
    return -1;
}

/* Reads LABELS.json. @return the incidents (malloc'd), or NULL with err set. */
static incident *load_labels(const char *path, size_t *n, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    incident *v = NULL;
    *n = 0;
    if (!root) {
        snprintf(err, errlen, "%s: line %d: %s", path, je.line, je.text);
        return NULL;
    }
    json_t *list = json_is_array(root) ? root : json_object_get(root, "incidents");
    if (!json_is_array(list)) {
        snprintf(err, errlen, "%s: expected {\"incidents\": [...]}", path);
        goto out;
    }
    if (json_array_size(list) > EVAL_MAX_INCIDENTS) {
        snprintf(err, errlen, "%s: more than %d incidents", path, EVAL_MAX_INCIDENTS);
        goto out;
    }
    if (!(v = calloc(json_array_size(list) + 1, sizeof *v))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        incident *in = &v[i];
        const char *id = json_string_value(json_object_get(x, "id"));
        snprintf(in->id, sizeof in->id, "%s", id ? id : "");
        if (!id)
            snprintf(in->id, sizeof in->id, "#%zu", i + 1);
        json_t *svcs = json_object_get(x, "services"), *svc = json_object_get(x, "service");
        if (json_is_string(svc))
            snprintf(in->services[in->n_services++], sizeof in->services[0], "%s", json_string_value(svc));
        size_t k;
        json_t *s;
        json_array_foreach(svcs, k, s)
        {
            if (json_is_string(s) && in->n_services < EVAL_MAX_SERVICES)
                snprintf(in->services[in->n_services++], sizeof in->services[0], "%s", json_string_value(s));
        }
        if (in->n_services == 0) {
            snprintf(err, errlen, "%s: incidents[%zu]: needs \"service\" or \"services\"", path, i);
            goto bad;
        }
        if (parse_time(json_object_get(x, "first"), &in->first_ms) != 0 ||
            parse_time(json_object_get(x, "last"), &in->last_ms) != 0 || in->last_ms < in->first_ms) {
            snprintf(err, errlen, "%s: incidents[%zu]: \"first\" and \"last\" must be times (RFC 3339 or epoch "
                                  "seconds), first <= last",
                     path, i);
            goto bad;
        }
        const char *type = json_string_value(json_object_get(x, "type"));
        snprintf(in->type, sizeof in->type, "%s", type ? type : "");
    }
    *n = json_array_size(list);
    goto out;
bad:
    free(v);
    v = NULL;
out:
    json_decref(root);
    return v;
}

static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : (size_t)1 << 20;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "out of memory");
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int has_service(const incident *in, const char *service)
{
    for (int i = 0; i < in->n_services; i++)
        if (strcmp(in->services[i], service) == 0)
            return 1;
    return 0;
}

typedef struct totals {
    long windows, analysed_llm, analysed_baseline, failed, findings, outside;
    int64_t prompt_tokens, completion_tokens, latency_ms, wall_ms;
} totals;

/* Scores one window's findings; appends those outside every incident to outside. */
static void score_window(const window_info *w, json_t *anomalies, incident *inc, size_t n_inc, json_t *outside,
                         totals *t)
{
    size_t i;
    json_t *a;
    json_array_foreach(anomalies, i, a)
    {
        const char *an = json_string_value(json_object_get(a, "analyzer"));
        const char *type = json_string_value(json_object_get(a, "type"));
        int matched = 0;
        t->findings++;
        for (size_t k = 0; k < n_inc; k++) {
            incident *in = &inc[k];
            if (!has_service(in, w->service) || w->start_ms > in->last_ms || w->end_ms <= in->first_ms)
                continue;
            matched = 1;
            in->findings++;
            if (an && strcmp(an, "baseline") == 0)
                in->by_baseline = 1;
            else
                in->by_llm = 1;
            if (type && in->type[0] && strcmp(type, in->type) == 0)
                in->type_match = 1;
            if (!in->detected_ms || w->end_ms < in->detected_ms)
                in->detected_ms = w->end_ms;
        }
        if (!matched) {
            char s[40];
            t->outside++;
            json_array_append_new(outside,
                                  json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "service", w->service, "window_start",
                                            time_format_rfc3339(w->start_ms, s, sizeof s), "type", type, "analyzer",
                                            an, "severity", json_string_value(json_object_get(a, "severity")),
                                            "summary", json_string_value(json_object_get(a, "summary"))));
        }
    }
}

static json_t *incident_json(const incident *in)
{
    char f[40], l[40], d[40];
    json_t *svcs = json_array();
    for (int i = 0; i < in->n_services; i++)
        json_array_append_new(svcs, json_string(in->services[i]));
    json_t *by = json_array();
    if (in->by_llm)
        json_array_append_new(by, json_string("llm"));
    if (in->by_baseline)
        json_array_append_new(by, json_string("baseline"));
    int found = in->by_llm || in->by_baseline;
    return json_pack("{s:s, s:o, s:s, s:s, s:s?, s:b, s:o, s:o, s:o, s:o, s:I}", "id", in->id, "services", svcs,
                     "first", time_format_rfc3339(in->first_ms, f, sizeof f), "last",
                     time_format_rfc3339(in->last_ms, l, sizeof l), "type", in->type[0] ? in->type : NULL, "found",
                     found, "by", by, "detected_at",
                     found ? json_string(time_format_rfc3339(in->detected_ms, d, sizeof d)) : json_null(),
                     "delay_s", found ? json_integer((in->detected_ms - in->first_ms) / 1000) : json_null(),
                     "type_match", in->type[0] && found ? json_boolean(in->type_match) : json_null(), "findings",
                     (json_int_t)in->findings);
}

static void print_text(const incident *inc, size_t n_inc, const json_t *outside, const totals *t, const config *cfg)
{
    size_t found = 0;
    printf("incidents\n");
    for (size_t k = 0; k < n_inc; k++) {
        const incident *in = &inc[k];
        char f[40];
        int ok = in->by_llm || in->by_baseline;
        found += (size_t)ok;
        printf("  %-24s %-8s", in->id, ok ? "FOUND" : "MISSED");
        if (ok)
            printf(" by %s%s%s, %+llds after its start (%s)", in->by_llm ? "llm" : "",
                   in->by_llm && in->by_baseline ? "+" : "", in->by_baseline ? "baseline" : "",
                   (long long)((in->detected_ms - in->first_ms) / 1000),
                   time_format_rfc3339(in->detected_ms, f, sizeof f));
        if (ok && in->type[0])
            printf(", type %s %s", in->type, in->type_match ? "matched" : "not matched");
        printf("\n");
    }
    printf("findings outside any incident: %zu\n", json_array_size(outside));
    size_t i;
    json_t *x;
    json_array_foreach(outside, i, x)
    {
        if (i >= 20) {
            printf("  ... %zu more (--json lists them all)\n", json_array_size(outside) - 20);
            break;
        }
        printf("  %s %s [%s] %s by %s: %s\n", json_string_value(json_object_get(x, "service")),
               json_string_value(json_object_get(x, "window_start")),
               json_string_value(json_object_get(x, "severity")), json_string_value(json_object_get(x, "type")),
               json_string_value(json_object_get(x, "analyzer")), json_string_value(json_object_get(x, "summary")));
    }
    printf("score: %zu of %zu incident(s) found, %ld finding(s), %ld outside; %ld window(s) (%ld by the model, %ld "
           "by the baseline, %ld failed)\n",
           found, n_inc, t->findings, t->outside, t->windows, t->analysed_llm, t->analysed_baseline, t->failed);
    printf("cost: %lld prompt + %lld answer tokens, %lld ms in the model, %lld ms in all (model: %s)\n",
           (long long)t->prompt_tokens, (long long)t->completion_tokens, (long long)t->latency_ms,
           (long long)t->wall_ms,
           cfg->llm_url[0] && strcmp(cfg->llm_url, "none") ? cfg->llm_model : "none, the baseline alone");
}

int eval_main(config *cfg, int argc, char **argv)
{
    const char *log_path = NULL, *labels_path = NULL;
    int json = 0, rc = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (argv[i][0] != '-' && !log_path)
            log_path = argv[i];
        else if (argv[i][0] != '-' && !labels_path)
            labels_path = argv[i];
        else {
            fprintf(stderr, "anomalog: eval: unknown argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (!log_path || !labels_path) {
        fprintf(stderr, "usage: anomalog eval LOG LABELS.json [--json] [--window 5m] [--llm-url URL|none] ...\n");
        return 2;
    }
    llm_global_init();
    char err[1024], tmpdir[] = "/tmp/anomalog-eval-XXXXXX";
    int made_tmp = 0;
    size_t n_inc = 0, len = 0;
    store *st = NULL;
    analyzer *an = NULL;
    batch *b = NULL;
    json_t *outside = json_array(), *ids = json_array();
    totals t = {0};
    int64_t t0 = time_mono_ms();
    char *body = NULL;
    incident *inc = load_labels(labels_path, &n_inc, err, sizeof err);
    if (!inc) {
        fprintf(stderr, "anomalog: eval: %s\n", err);
        goto out;
    }
    rc = 1;
    if (!(body = read_all(log_path, &len, err, sizeof err))) {
        fprintf(stderr, "anomalog: eval: %s\n", err);
        goto out;
    }
    if (!cfg->db_set) {
        if (!mkdtemp(tmpdir)) {
            fprintf(stderr, "anomalog: eval: cannot create a temporary directory: %s\n", strerror(errno));
            goto out;
        }
        made_tmp = 1;
        snprintf(cfg->db, sizeof cfg->db, "%s/eval.db", tmpdir);
    }
    size_t i = strspn(body, " \t\r\n");
    ingest_opts o = {.default_service = "default",
                     .received_ms = time_now_ms(),
                     .tz_offset_s = cfg->tz_offset_s,
                     .max_line = cfg->max_line,
                     .max_entries = 0};
    ingest_error perr = {.index = -1};
    if (!(b = batch_new(o.received_ms)) ||
        ingest_parse(i < len && body[i] == '{' ? INGEST_NDJSON : INGEST_TEXT, body, len, &o, b, &perr) != 0) {
        fprintf(stderr, "anomalog: eval: %s: %s\n", log_path, b ? perr.message : "out of memory");
        goto out;
    }
    int closed = 0;
    if (store_open(cfg->db, STORE_DURABLE_NORMAL, &st, err, sizeof err) != STORE_OK ||
        store_write_batches(st, &b, 1, cfg->window_ms, err, sizeof err) != STORE_OK ||
        store_windows_close(st, time_now_ms(), cfg->grace_ms, 1, NULL, &closed, err, sizeof err) != STORE_OK ||
        !(an = analyzer_start(st, cfg, 0, err, sizeof err))) {
        fprintf(stderr, "anomalog: eval: %s\n", err);
        goto out;
    }
    while (analyzer_run_one(an, 0) != ANALYSIS_NONE)
        ;

    /* every window, oldest first */
    window_query q = {.limit = 1000};
    for (int more = 1; more;) {
        window_info *rows;
        size_t n;
        if (store_windows_list(st, &q, &rows, &n, &more, err, sizeof err) != STORE_OK) {
            fprintf(stderr, "anomalog: eval: %s\n", err);
            goto out;
        }
        for (size_t k = 0; k < n; k++)
            json_array_append_new(ids, json_integer(rows[k].id));
        if (n) {
            q.has_cursor = 1;
            q.cursor_start = rows[n - 1].start_ms;
            q.cursor_id = rows[n - 1].id;
        }
        free(rows);
    }
    for (size_t k = json_array_size(ids); k-- > 0;) {
        window_info w;
        json_t *list = NULL;
        int64_t id = json_integer_value(json_array_get(ids, k));
        if (store_window_get(st, id, &w, err, sizeof err) != STORE_OK ||
            store_window_anomalies(st, id, &list, err, sizeof err) != STORE_OK) {
            fprintf(stderr, "anomalog: eval: %s\n", err);
            goto out;
        }
        t.windows++;
        t.analysed_llm += strcmp(w.analyzer, "llm") == 0;
        t.analysed_baseline += strcmp(w.analyzer, "baseline") == 0;
        t.failed += strcmp(w.status, "failed") == 0;
        t.prompt_tokens += w.prompt_tokens > 0 ? w.prompt_tokens : 0;
        t.completion_tokens += w.completion_tokens > 0 ? w.completion_tokens : 0;
        t.latency_ms += w.latency_ms > 0 ? w.latency_ms : 0;
        score_window(&w, list, inc, n_inc, outside, &t);
        json_decref(list);
    }
    t.wall_ms = time_mono_ms() - t0;
    if (json) {
        json_t *list = json_array();
        size_t found = 0;
        for (size_t k = 0; k < n_inc; k++) {
            json_array_append_new(list, incident_json(&inc[k]));
            found += (size_t)(inc[k].by_llm || inc[k].by_baseline);
        }
        json_t *out = json_pack(
            "{s:s, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "model",
            cfg->llm_url[0] && strcmp(cfg->llm_url, "none") ? cfg->llm_model : "none", "incidents", list, "outside",
            json_incref(outside), "score", "incidents", (json_int_t)n_inc, "found", (json_int_t)found, "missed",
            (json_int_t)(n_inc - found), "findings", (json_int_t)t.findings, "outside", (json_int_t)t.outside,
            "windows", (json_int_t)t.windows, "cost", "windows_by_llm", (json_int_t)t.analysed_llm,
            "windows_by_baseline", (json_int_t)t.analysed_baseline, "windows_failed", (json_int_t)t.failed,
            "prompt_tokens", (json_int_t)t.prompt_tokens, "completion_tokens", (json_int_t)t.completion_tokens,
            "model_latency_ms", (json_int_t)t.latency_ms, "wall_ms", (json_int_t)t.wall_ms);
        char *s = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
        json_decref(out);
        if (!s) {
            fprintf(stderr, "anomalog: eval: out of memory\n");
            goto out;
        }
        puts(s);
        free(s);
    } else {
        print_text(inc, n_inc, outside, &t, cfg);
    }
    rc = 0;
out:
    analyzer_stop(an);
    store_close(st);
    batch_free(b);
    free(body);
    free(inc);
    json_decref(outside);
    json_decref(ids);
    if (made_tmp) {
        char p[4200];
        static const char *const sfx[] = {"", "-wal", "-shm", ".lock"};
        for (int k = 0; k < 4; k++) {
            snprintf(p, sizeof p, "%s/eval.db%s", tmpdir, sfx[k]);
            unlink(p);
        }
        rmdir(tmpdir);
    }
    return rc;
}
