/*
 * digest_baseline.c — the baseline detector: a window's statistics (the
 * digest's templates, their history, the window's levels) judged without a
 * model, as findings in the anomaly schema (digest.h: digest.findings).
 *
 * Threads: called by digest_end() on the analysis worker building the
 * digest; no state of its own.
 *
 * Rules: an error burst against the service's usual; a template that is new
 * at warning or above, at a rate far from its usual, or a rare failure that
 * keeps recurring; a service's first window judged on its own (fatal lines,
 * a high share of errors, failed logins: baseline_first_window); attack
 * shapes in lines (digest_attack_shape(): traversal, SQL, script, JNDI,
 * shell) and odd values of rare shape (baseline_values); configuration
 * messages at info level that recur (baseline_config); durations drifting
 * up against a template's history (baseline_latency, latency.h). Each
 * finding carries up to three lines the digest kept as evidence, and its
 * template ids. Benign templates (feedback) raise nothing.
 *
 * Limits: summaries of 300 bytes of a template's text; three evidence lines
 * a finding; LATENCY_MAX_SUMMARIES duration summaries a window.
 */
#include "digest_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "anomalog/timeutil.h"

static const char *classify(const char *text)
{
    static const struct {
        const char *kw;
        const char *type;
    } rules[] = {
        {"password", "auth_failure"},   {"authentication", "auth_failure"}, {"unauthorized", "auth_failure"},
        {"invalid user", "auth_failure"}, {"login", "auth_failure"},       {"denied", "auth_failure"},
        {"forbidden", "auth_failure"},  {"injection", "security"},          {"traversal", "security"},
        {"attack", "security"},         {"timeout", "latency"},             {"timed out", "latency"},
        {"slow", "latency"},            {"latency", "latency"},             {"out of memory", "resource"},
        {"no space", "resource"},       {"disk full", "resource"},          {"too many open files", "resource"},
        {"exhausted", "resource"},      {"quota", "resource"},              {"certificate", "config"},
        {"config", "config"},           {"version", "config"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcasestr(text, rules[i].kw))
            return rules[i].type;
    return "error_spike";
}

static void add_finding(ctx *c, json_t *findings, const char *severity, const char *type, const tstat *t,
                        const char *summary)
{
    json_t *ev = json_array();
    if (t) {
        for (size_t k = 0; k < t->n_ex && k < 3; k++) {
            const prompt_line *l = &c->kl[t->ex[k]].l;
            const char *msg = digest_line_text(c, t->ex[k]);
            char ts[40];
            json_array_append_new(ev, json_sprintf("%s %s %.*s", time_format_rfc3339(l->ts_ms, ts, sizeof ts),
                                                   l->level && *l->level ? l->level : "-",
                                                   (int)digest_first_line_len(msg), msg));
        }
    }
    json_t *ids = json_array();
    if (t)
        json_array_append_new(ids, json_integer(t->id));
    json_array_append_new(findings, json_pack("{s:s, s:s, s:s, s:o, s:s, s:o}", "severity", severity, "type", type,
                                              "summary", summary, "evidence", ev, "recommended_action",
                                              t ? "Look at the lines of this template and what changed before it appeared."
                                                : "Look at the error lines of this window and what changed before them.",
                                              "template_ids", ids));
}

/* ---- the baseline's own judgements -------------------------------------- */

/* Does s (n bytes) start with the lower-case word w, in any case? */
static int starts_ci(const char *s, size_t n, const char *w)
{
    size_t k = 0;
    for (; w[k]; k++)
        if (k >= n || (s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]) != w[k])
            return 0;
    return 1;
}

/*
 * The attack shape a message carries, or NULL: what a probe leaves in the
 * value of an ordinary request or login line (path traversal, SQL, script or
 * command injection, JNDI lookups), plain or URL-encoded. One pass over the
 * bytes, a few comparisons at the bytes that can start a shape.
 */
const char *digest_attack_shape(const char *s, size_t n)
{
    static const struct {
        char first;
        const char *w;
        const char *what;
    } shapes[] = {
        {'.', "../../", "path traversal"},       {'.', "..%2f", "path traversal"},
        {'.', "..\\..\\", "path traversal"},    {'%', "%2e%2e", "path traversal"},
        {'/', "/etc/passwd", "path traversal"},  {'/', "/etc/shadow", "path traversal"},
        {'/', "/bin/sh", "command injection"},   {'/', "/bin/bash", "command injection"},
        {'%', "%27", "SQL injection"},           {'\'', "' or ", "SQL injection"},
        {'\'', "'or'", "SQL injection"},         {'\'', "'--", "SQL injection"},
        {'\'', "' --", "SQL injection"},         {'\'', "';", "SQL injection"},
        {'\'', "'/**/", "SQL injection"},        {'u', "union select", "SQL injection"},
        {'u', "union+select", "SQL injection"},  {'u', "union%20select", "SQL injection"},
        {'u', "union/**/select", "SQL injection"}, {'o', "or 1=1", "SQL injection"},
        {'o', "or+1=1", "SQL injection"},        {'s', "sleep(", "SQL injection"},
        {'<', "<script", "script injection"},    {'%', "%3cscript", "script injection"},
        {'j', "javascript:", "script injection"},
        {'$', "${jndi:", "JNDI lookup"},         {'%', "%24%7bjndi", "JNDI lookup"},
        {';', ";cat ", "command injection"},     {'|', "|cat ", "command injection"},
        {'$', "$(", "command injection"},        {'`', "`id`", "command injection"},
        {'c', "cmd.exe", "command injection"},   {'x', "xp_cmdshell", "SQL injection"},
    };
    for (size_t i = 0; i < n; i++) {
        char ch = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        switch (ch) {
        case '.': case '%': case '/': case '\'': case 'u': case 'o': case 's': case '<': case 'j': case '$':
        case ';': case '|': case '`': case 'c': case 'x':
            break;
        default:
            continue;
        }
        /* a word shape starts a word */
        if (ch >= 'a' && ch <= 'z' && i > 0 &&
            ((s[i - 1] >= 'a' && s[i - 1] <= 'z') || (s[i - 1] >= 'A' && s[i - 1] <= 'Z')))
            continue;
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            if (shapes[k].first == ch && starts_ci(s + i, n - i, shapes[k].w))
                return shapes[k].what;
    }
    return NULL;
}

/* A template about a failed authentication: a word of failure and a word of
 * authentication (`Failed password`, `authentication failure`, `invalid
 * user`, `login denied`, `401 Unauthorized`). */
static int is_auth_failure(const char *text)
{
    static const char *const fail[] = {"fail", "invalid", "denied", "unauthori", "reject", "incorrect", "wrong",
                                       "bad ", "refused", "not allowed"};
    static const char *const auth[] = {"password", "auth", "login", "logon", "log in", "credential", "user",
                                       "token", "sign in", "sign-in", "unauthori"};
    int f = 0, a = 0;
    for (size_t i = 0; i < sizeof fail / sizeof fail[0] && !f; i++)
        f = strcasestr(text, fail[i]) != NULL;
    for (size_t i = 0; i < sizeof auth / sizeof auth[0] && f && !a; i++)
        a = strcasestr(text, auth[i]) != NULL;
    return f && a;
}

/* A template about configuration, versions or flags changing or falling back:
 * the kind of INFO line that is harmless at start-up and a change of
 * behaviour when it keeps appearing afterwards. */
static int is_config_change(const char *text)
{
    static const char *const words[] = {"disabled", "missing", "default", "fallback", "falling back", "fell back",
                                        "changed", "version", "deprecated", "overrid", "reloaded", "not set",
                                        "feature flag", "unset", "downgrad"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(text, words[i]))
            return 1;
    return 0;
}

/* Appends "ts LEVEL first line" of kept line i to the evidence array ev. */
static void add_evidence(ctx *c, json_t *ev, size_t i)
{
    const prompt_line *l = &c->kl[i].l;
    const char *msg = digest_line_text(c, i);
    char ts[40];
    json_array_append_new(ev, json_sprintf("%s %s %.*s", time_format_rfc3339(l->ts_ms, ts, sizeof ts),
                                           l->level && *l->level ? l->level : "-", (int)digest_first_line_len(msg), msg));
}

/* The last finding's evidence, emptied: for findings whose evidence is not a template's exemplars. */
static json_t *last_evidence(digest *d)
{
    json_t *ev = json_object_get(json_array_get(d->findings, json_array_size(d->findings) - 1), "evidence");
    json_array_clear(ev);
    return ev;
}

#define FIRST_ERROR_MIN 10      /* error lines that make a first window's error finding ... */
#define FIRST_ERROR_SHARE 0.05  /* ... when they are also this share of its lines */
#define AUTH_MIN 5              /* failed logins of one template that make an auth finding on their own */
#define CONFIG_MIN 2            /* lines of a new config template in one window: it recurs */

/*
 * A service's first window (no history): judged on its own. Fatal lines, a
 * high share of errors, and repeated authentication failures are findings
 * without anything to compare with.
 */
static void baseline_first_window(ctx *c, digest *d)
{
    const digest_input *in = c->in;
    char s[600];
    long fatal = d->level_totals[6];
    long errors = d->error_lines - fatal;
    if (fatal > 0) {
        snprintf(s, sizeof s, "%ld fatal line%s in the first window of %s (no history yet).", fatal,
                 fatal == 1 ? "" : "s", in->service);
        add_finding(c, d->findings, fatal >= 10 ? "critical" : "high", "error_spike", NULL, s);
        json_t *ev = last_evidence(d);
        for (size_t i = 0; i < c->n_fatal_ex; i++)
            add_evidence(c, ev, c->fatal_ex[i]);
    }
    if (errors >= FIRST_ERROR_MIN && (double)errors >= FIRST_ERROR_SHARE * (double)c->n_lines) {
        snprintf(s, sizeof s, "%ld error lines (%.0f%% of %zu) in the first window of %s (no history yet).", errors,
                 100.0 * (double)errors / (double)(c->n_lines ? c->n_lines : 1), c->n_lines, in->service);
        add_finding(c, d->findings, errors >= 100 ? "high" : "medium", "error_spike", NULL, s);
        json_t *ev = last_evidence(d);
        for (size_t i = 0; i < c->n_error_ex; i++)
            add_evidence(c, ev, c->error_ex[i]);
    }
    /* authentication failures: one finding for all their templates, the largest named, a line of each as evidence */
    uint64_t auth = 0;
    size_t nauth = 0, top = SIZE_MAX;
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        if (t->benign || !t->text || !is_auth_failure(t->text))
            continue;
        auth += t->count;
        nauth++;
        if (top == SIZE_MAX || t->count > c->t[top].count)
            top = i;
    }
    if (auth < AUTH_MIN)
        return;
    tstat *t = &c->t[top];
    if (nauth == 1)
        snprintf(s, sizeof s, "%llu authentication failures in the first window of %s: \"%.300s\".",
                 (unsigned long long)auth, in->service, t->text);
    else
        snprintf(s, sizeof s, "%llu authentication failures in %zu templates in the first window of %s, the most "
                 "\"%.300s\" (%llu).", (unsigned long long)auth, nauth, in->service, t->text,
                 (unsigned long long)t->count);
    add_finding(c, d->findings, auth >= 20 ? "high" : "medium", "auth_failure", t, s);
    json_t *f = json_array_get(d->findings, json_array_size(d->findings) - 1);
    json_t *ev = last_evidence(d), *ids = json_object_get(f, "template_ids");
    json_array_clear(ids);
    for (size_t i = 0; i < c->nt; i++) {
        tstat *u = &c->t[i];
        if (u->benign || !u->text || !is_auth_failure(u->text))
            continue;
        json_array_append_new(ids, json_integer(u->id));
        if (json_array_size(ev) < 3 && u->n_ex)
            add_evidence(c, ev, u->ex[0]);
    }
}

/*
 * Attack shapes in values: a template whose lines carry a probe (traversal,
 * injection) in some of their values is a security finding with those lines,
 * history or not, at any level. A template whose every line carries the shape
 * is taken as that shape being its normal content once it is known or has
 * many lines. Also: a value of a rare shape (the unusual values of the
 * digest) with a quote, `;`, `..`, `<`, `|` or `$` in it.
 */
static void baseline_values(ctx *c, digest *d)
{
    char s[700];
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        if (t->benign)
            continue;
        if (t->attack_lines > 0 && (t->attack_lines < t->count || (t->is_new && t->count <= 20))) {
            snprintf(s, sizeof s, "%s in %u of %llu line%s of \"%.300s\" in %s.", t->attack_what[0], t->attack_lines,
                     (unsigned long long)t->count, t->count == 1 ? "" : "s", t->text ? t->text : "", c->in->service);
            add_finding(c, d->findings, t->attack_lines >= 10 ? "high" : "medium", "security", t, s);
            json_t *ev = last_evidence(d);
            for (size_t k = 0; k < t->attack_lines && k < 3; k++)
                add_evidence(c, ev, t->attack_ex[k]);
            continue;
        }
        if (!t->unusual)
            continue;
        for (int pos = 0; pos < PARAM_POSITIONS; pos++) {
            if (t->overflow[pos])
                continue;
            for (int k = 0; k < t->n_shapes[pos]; k++) {
                shape_slot *sl = &t->shapes[pos][k];
                if ((uint64_t)sl->count * 100 >= t->count ||
                    (!strpbrk(sl->shape, "'\";<>|$`") && !strstr(sl->shape, "..")))
                    continue;
                snprintf(s, sizeof s, "A value of a rare shape (%u of %llu lines) in \"%.300s\" in %s: a probe "
                         "hidden in an ordinary line?", sl->count, (unsigned long long)t->count,
                         t->text ? t->text : "", c->in->service);
                add_finding(c, d->findings, "medium", "security", t, s);
                json_t *ev = last_evidence(d);
                add_evidence(c, ev, sl->line);
                pos = PARAM_POSITIONS; /* one finding per template */
                break;
            }
        }
    }
}

/*
 * Configuration: a template at info level or below about configuration,
 * versions or flags (disabled, missing, default, fallback, changed, version)
 * that is new after the service's first window and recurs in it, or that
 * appeared recently and keeps recurring: a change of behaviour nobody logged
 * as a warning.
 */
static void baseline_config(ctx *c, digest *d)
{
    const digest_input *in = c->in;
    char s[600];
    if (in->history_depth <= 0)
        return; /* a first window's configuration lines are its start-up */
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        if (t->benign || t->max_level >= 4 || !t->text || !is_config_change(t->text))
            continue;
        int fresh = t->is_new && t->count >= CONFIG_MIN;
        int young = !t->is_new && t->has_h && t->h.windows_seen <= 2 && in->history_depth >= 3;
        if (!fresh && !young)
            continue;
        snprintf(s, sizeof s, "Configuration message %s in %s: \"%.300s\" (%llu line%s in this window).",
                 fresh ? "new and recurring" : "recent and recurring", in->service, t->text,
                 (unsigned long long)t->count, t->count == 1 ? "" : "s");
        add_finding(c, d->findings, "low", "config", t, s);
    }
}

static int by_count_desc(const void *a, const void *b)
{
    const latency_summary *x = a, *y = b;
    return (x->count < y->count) - (x->count > y->count);
}

/* v to at most one decimal: "182", "7.5". buf holds 40 bytes. */
static const char *duration_text(double v, char *buf)
{
    snprintf(buf, 40, v >= 10 || v == (double)(long long)v ? "%.0f" : "%.1f", v);
    return buf;
}

/*
 * Latency drift: a template whose durations (latency.h) have grown, window
 * after window, to LATENCY_DRIFT_FACTOR times their lowest median over the
 * history, past their highest and to their usual p95, is a `latency` finding. The window's own
 * summaries go to d->values (the templates with the most lines first) for
 * the store to keep for the windows after it. Out of memory: no summaries.
 */
static void baseline_latency(ctx *c, digest *d)
{
    const digest_input *in = c->in;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < c->nt; i++)
        cap += c->t[i].lat ? LATENCY_POSITIONS : 0;
    if (!cap || !(d->values = calloc(cap, sizeof *d->values)))
        return;
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        if (!t->lat)
            continue;
        size_t got = latency_summarise(t->lat, t->id, in->start_ms, d->values + n, cap - n);
        for (size_t k = n; k < n + got && !t->benign; k++) {
            const latency_summary *cur = &d->values[k];
            latency_summary key = {.template_id = cur->template_id, .pos = cur->pos, .window_start = INT64_MIN};
            size_t lo = 0, hi = in->value_history ? in->n_value_history : 0;
            while (lo < hi) { /* the first of the history's rows of this template and position */
                size_t mid = lo + (hi - lo) / 2;
                if (latency_summary_cmp(&in->value_history[mid], &key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            size_t end = lo;
            while (end < in->n_value_history && in->value_history[end].template_id == cur->template_id &&
                   in->value_history[end].pos == cur->pos)
                end++;
            latency_judgement j;
            if (!latency_drift(cur, in->value_history + lo, end - lo, &j))
                continue;
            char s[700], a[40], b[40], e[40], f[40], g[40];
            snprintf(s, sizeof s, "Latency of \"%.300s\" in %s drifting up: median %s over %llu lines now (p95 %s), "
                     "%.1fx its lowest (%s), above its highest (%s) and its usual p95 (%s) in the last %d windows.",
                     t->text ? t->text : "", in->service, duration_text(cur->median, a),
                     (unsigned long long)cur->count, duration_text(cur->p95, b), j.factor,
                     duration_text(j.lowest, e), duration_text(j.highest, f), duration_text(j.usual_p95, g), j.windows);
            add_finding(c, d->findings, j.factor >= 5 ? "high" : "medium", "latency", t, s);
            break; /* one finding per template */
        }
        n += got;
    }
    if (n > LATENCY_MAX_SUMMARIES) {
        qsort(d->values, n, sizeof *d->values, by_count_desc);
        n = LATENCY_MAX_SUMMARIES;
    }
    d->n_values = n;
}

void digest_baseline(ctx *c, digest *d)
{
    const digest_input *in = c->in;
    int n = c->o->history_windows;
    char s[600];
    /* error burst against the service's usual */
    if (d->error_lines >= 10 && in->history_depth > 0 && in->trailing_error_avg >= 0 &&
        d->error_lines >= RATE_FACTOR * (in->trailing_error_avg + 1)) {
        snprintf(s, sizeof s, "Burst of %ld error lines in %s, against %.1f per window over the last %d windows.",
                 d->error_lines, in->service, in->trailing_error_avg, in->history_depth < n ? in->history_depth : n);
        int crit = d->error_lines >= 100 && d->error_lines >= 20 * (in->trailing_error_avg + 1);
        add_finding(c, d->findings, crit ? "critical" : "high", "error_spike", NULL, s);
        /* evidence: the first error lines of the window */
        json_t *ev = last_evidence(d);
        for (size_t i = 0; i < c->n_err_ex; i++)
            add_evidence(c, ev, c->err_ex[i]);
    }
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        if (t->benign)
            continue;
        const char *text = t->text ? t->text : "";
        const char *type = classify(text);
        if (t->is_new && t->max_level >= 4 && in->history_depth > 0) {
            snprintf(s, sizeof s, "New %s message in %s: \"%.300s\" (%llu line%s).", digest_level_name(t->max_level),
                     in->service, text, (unsigned long long)t->count, t->count == 1 ? "" : "s");
            add_finding(c, d->findings, t->max_level >= 6 ? "high" : t->max_level == 5 ? "medium" : "low", type, t, s);
        } else if (t->changed && (t->max_level >= 4 || t->ratio >= 4 * RATE_FACTOR)) {
            snprintf(s, sizeof s, "\"%.300s\" in %s: %llu lines, %.1fx its usual %.1f per window.", text, in->service,
                     (unsigned long long)t->count, t->ratio, t->h.trailing_avg);
            add_finding(c, d->findings, t->max_level >= 5 ? "high" : "medium", type, t, s);
        } else if (!t->is_new && t->has_h && t->count <= 5 && t->h.windows_seen + 1 >= 3 &&
                   (t->max_level >= 4 || strcmp(type, "auth_failure") == 0 || strcmp(type, "security") == 0) &&
                   t->h.windows_seen * 2 <= (in->history_depth > n ? n : in->history_depth)) {
            snprintf(s, sizeof s,
                     "\"%.300s\" keeps recurring in %s: %llu line(s) now, in %d of the last %d windows: a slow, "
                     "persistent failure or probe.",
                     text, in->service, (unsigned long long)t->count, t->h.windows_seen + 1, n + 1);
            add_finding(c, d->findings, "medium", type, t, s);
        }
    }
    if (in->history_depth <= 0)
        baseline_first_window(c, d);
    baseline_values(c, d);
    baseline_config(c, d);
    baseline_latency(c, d);
}

