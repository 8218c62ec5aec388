/*
 * analyzer.c — the analysis workers.
 *
 * Threads: cfg->workers worker threads, started by analyzer_start(). They
 * share the store (each claim, record, finish and fail is one transaction
 * there), the per-service miners (svccache.c: at
 * most analysis.max_services_in_memory, least recently used evicted and
 * restored from the store on return; each behind its own mutex, so one
 * window of a service is digested at a time) and a
 * condition variable that the window scheduler (src/window/) and
 * POST /windows/flush use, through analyzer_wake(), to wake idle workers.
 *
 * One analysis, a function per step (analyze() runs them): claim() (closed
 * → analyzing; a service's windows in order, so each one's history is
 * complete); digest_window(): stream up to max_lines lines from the store
 * through the digest (the service's miner and history; the lines are not
 * held, store_window_read pages them) and record its templates (redacted);
 * ask() the model (analyzer_model.c: the context plan, the call and its
 * retries, the answer redacted) and check its evidence; judge(): the
 * verdict, assembled in one place (verdict_assemble, verdict.c); record()
 * it. What they decide:
 *  - no model configured, or a quiet window (nothing new or unusual) with
 *    skip_quiet_windows: the baseline's findings are the result;
 *  - otherwise ask the model with the digest; an answer that fails the schema
 *    is asked again up to schema_retries times; the model's anomalies are
 *    kept with the baseline's findings of types it did not report (the
 *    baseline is never talked out of a finding);
 *  - the model is down (its circuit breaker, breaker.c, is open after
 *    llm.breaker_failures consecutive failed calls): no call is made, and
 *    the window goes on as when the model fails;
 *  - the model fails: with on_model_failure baseline, the baseline's findings
 *    stand (analyzer "baseline", the reason kept in error) and, with
 *    reanalyze, the model reads the window again once it answers (after
 *    retry_base doubling up to retry_max; the baseline's findings are not
 *    recorded twice); with retry, the window fails and is retried the same way.
 * Late lines: when nothing else is due, a worker claims an analysed window
 * with late lines its analysis did not read (grace after that analysis, so
 * once per window per grace) and analyses the lines above the last one read
 * (store_window_read above analyzed_line_id); its findings are added, the
 * earlier ones are not recorded again, and the health is the worse of the two.
 * Incidents: before recording, each finding is annotated with what ties it to
 * others (incident_annotate); the store joins it into an incident in the
 * finish transaction. A worker with nothing to analyse resolves the
 * incidents that have been quiet long enough, then gives the next settled
 * incident of more than one member its one model call (incident_model.h).
 * Window state lives only in the database: a crash leaves at most an
 * 'analyzing' window, put back to 'closed' at the next start; a finish only
 * applies to a window still 'analyzing', so none is recorded twice.
 *
 * Shutdown: analyzer_stop() sets the cancel flag the model client watches;
 * an interrupted analysis puts its window back to 'closed'.
 */
#include "anomalog/analyzer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anomalog/backoff.h"
#include "anomalog/breaker.h"
#include "anomalog/digest.h"
#include "anomalog/incident.h"
#include "anomalog/incident_model.h"
#include "anomalog/llm.h"
#include "anomalog/llm_fit.h"
#include "anomalog/metrics.h"
#include "anomalog/log.h"
#include "anomalog/miner.h"
#include "anomalog/redact.h"
#include "anomalog/severity.h"
#include "anomalog/prompt.h"
#include "anomalog/svccache.h"
#include "anomalog/timeutil.h"
#include "anomalog/verdict.h"
#include "analyzer_int.h"

static int64_t retry_delay(const config *cfg, int attempts)
{
    return backoff_ms(cfg->retry_base_ms, cfg->retry_max_ms, attempts, 0); /* no jitter: a time the store keeps */
}

static void restore_one(void *arg, int64_t id, const char *text, uint64_t total)
{
    miner_restore(arg, id, text, total);
}

/* svccache's loader: a service's miner from its stored templates (same ids as before an eviction). */
static int load_miner(void *arg, int64_t service_id, miner *m, char *err, size_t errlen)
{
    analyzer *a = arg;
    int64_t id_max;
    if (store_templates_load(a->st, service_id, restore_one, m, &id_max, err, errlen) != STORE_OK)
        return -1;
    miner_reserve_ids(m, id_max); /* ids of pruned templates are not given out again */
    return 0;
}

typedef struct hist_lookup {
    template_history *rows;
    size_t n;
    int windows;
} hist_lookup;

static int hist_cmp(const void *k, const void *e)
{
    int64_t a = *(const int64_t *)k, b = ((const template_history *)e)->id;
    return (a > b) - (a < b);
}

static int history_of(void *arg, int64_t id, digest_history *out)
{
    hist_lookup *h = arg;
    const template_history *r = h->n ? bsearch(&id, h->rows, h->n, sizeof *h->rows, hist_cmp) : NULL;
    if (!r)
        return -1;
    out->known = r->known;
    out->benign = r->benign;
    out->trailing_avg = (double)r->lines / (h->windows > 0 ? h->windows : 1);
    out->windows_seen = r->windows;
    return 0;
}

/* A duration as the store keeps it: thousandths, within what an int64_t holds. */
static int64_t to_milli(double v)
{
    double m = v * 1000.0;
    return m >= 9e18 ? INT64_MAX : m <= 0 ? 0 : (int64_t)(m + 0.5);
}

/* The service's duration summaries over its history, as the digest reads them (sorted as the store gave them). */
static int read_values(analyzer *a, const window_work *w, int64_t from, latency_summary **out, size_t *n, char *err,
                       size_t errlen)
{
    store_value_summary *rows = NULL;
    size_t nr = 0;
    if (store_values_history(a->st, w->service_id, from, w->start_ms, &rows, &nr, err, errlen) != STORE_OK)
        return -1;
    latency_summary *v = calloc(nr ? nr : 1, sizeof *v);
    if (!v) {
        free(rows);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nr; i++)
        v[i] = (latency_summary){.template_id = rows[i].template_id, .pos = rows[i].pos,
                                 .window_start = rows[i].window_start, .count = (uint64_t)rows[i].count,
                                 .mean = (double)rows[i].mean_milli / 1000, .median = (double)rows[i].median_milli / 1000,
                                 .p95 = (double)rows[i].p95_milli / 1000};
    free(rows);
    *out = v;
    *n = nr;
    return 0;
}

/* Keeps the window's duration summaries for the windows after it; drops those older than the history it reads. */
static int record_values(analyzer *a, const window_work *w, const digest *d, char *err, size_t errlen)
{
    int64_t prune_before = w->start_ms - (int64_t)a->cfg->history_windows * (w->end_ms - w->start_ms);
    store_value_summary v[LATENCY_MAX_SUMMARIES];
    size_t n = d->n_values < LATENCY_MAX_SUMMARIES ? d->n_values : LATENCY_MAX_SUMMARIES;
    for (size_t i = 0; i < n; i++)
        v[i] = (store_value_summary){.template_id = d->values[i].template_id, .pos = d->values[i].pos,
                                     .window_start = d->values[i].window_start, .count = (int64_t)d->values[i].count,
                                     .mean_milli = to_milli(d->values[i].mean),
                                     .median_milli = to_milli(d->values[i].median),
                                     .p95_milli = to_milli(d->values[i].p95)};
    return store_values_record(a->st, w->service_id, v, n, prune_before, err, errlen) == STORE_OK ? 0 : -1;
}

/*
 * Persists the digest's templates so the next window sees them as history,
 * each redacted first (a session of its own, so a template's stored text is
 * the same whichever window records it): the miner reads raw lines, but no
 * JWT, key, e-mail address or token it kept in a template is ever at rest in
 * the templates table; then the durations its templates carried. 0, or -1
 * with err.
 */
static int record_templates(analyzer *a, const window_work *w, const digest *d, int late, char *err, size_t errlen)
{
    int rc = -1;
    size_t n = d->n_templates, done = 0;
    store_template *t = calloc(n ? n : 1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (; done < n; done++) {
        const char *raw = d->templates[done].text;
        redact_session *rs = redact_session_new();
        char *text = rs ? redact_text(a->red, rs, raw, strlen(raw), NULL) : NULL;
        redact_session_free(rs);
        if (!text) {
            snprintf(err, errlen, "out of memory redacting templates");
            goto out;
        }
        t[done] = (store_template){.id = d->templates[done].id, .text = text, .count = d->templates[done].count,
                                   .max_level = d->templates[done].max_level};
    }
    rc = store_templates_record(a->st, w->service_id, w->id, w->start_ms, t, n, d->error_lines,
                                (size_t)a->cfg->max_templates, late, err, errlen) ==
                 STORE_OK ? 0 : -1;
    if (rc == 0)
        rc = record_values(a, w, d, err, errlen);
out:
    for (size_t i = 0; i < done; i++)
        free((char *)t[i].text);
    free(t);
    return rc;
}

typedef struct feed_arg {
    digest_builder *b;
    int failed;
} feed_arg;

/* store_window_read's callback: one stored line into the digest, with its attributes (the digest shows the
 * salient ones under the exemplars of notable templates). */
static int feed_line(const window_line *l, void *arg)
{
    feed_arg *f = arg;
    prompt_line pl = {.ts_ms = l->ts_ms, .level = l->level, .message = l->message};
    if (digest_add(f->b, &pl, l->attributes) == 0)
        return 0;
    f->failed = 1;
    return 1;
}

/*
 * Digests a claimed window with its service's miner and history: its lines
 * above w->after_line_id (the first max_lines by event time) stream from the
 * store through the digest, which keeps what it may show, never the window;
 * w->read_line_id is set to the highest id read. total_lines is the window's
 * line count as the digest states it (0: the lines read). The miner is locked
 * for the read.
 */
static int build_digest(analyzer *a, window_work *w, int64_t total_lines, size_t token_budget, digest *d,
                        char *err, size_t errlen)
{
    const config *cfg = a->cfg;
    svccache_entry *held = NULL;
    miner *m = svccache_acquire(a->miners, w->service_id, &held, err, errlen); /* locked until released */
    if (!m)
        return -1;
    int rc = -1;
    hist_lookup h = {0};
    int depth = 0;
    double err_avg = -1;
    int64_t len = w->end_ms - w->start_ms;
    int64_t from = w->start_ms - (int64_t)cfg->history_windows * len;
    latency_summary *values = NULL;
    size_t n_values = 0;
    feed_arg f = {0};
    if (store_template_history(a->st, w->service_id, from, w->start_ms, &h.rows, &h.n, &depth, &err_avg, err,
                               errlen) != STORE_OK ||
        read_values(a, w, from, &values, &n_values, err, errlen) != 0)
        goto out;
    h.windows = depth > 0 ? depth : 1; /* a rate is per window of history that exists */
    digest_opts o;
    digest_opts_defaults(&o);
    o.exemplars = cfg->exemplars;
    o.max_window_templates = cfg->max_window_templates;
    o.token_budget = token_budget;
    o.history_windows = (int)cfg->history_windows;
    o.redact = a->red;
    digest_input in = {.service = w->service,
                       .start_ms = w->start_ms,
                       .end_ms = w->end_ms,
                       .total_lines = total_lines > 0 ? (size_t)total_lines : 0,
                       .m = m,
                       .history = history_of,
                       .history_arg = &h,
                       .trailing_error_avg = err_avg,
                       .history_depth = depth,
                       .value_history = values,
                       .n_value_history = n_values};
    if (!(f.b = digest_begin(&in, &o))) {
        snprintf(err, errlen, "out of memory building the digest");
        goto out;
    }
    if (store_window_read(a->st, w->id, w->after_line_id, 0, cfg->max_lines, feed_line, &f, &w->read_line_id, NULL,
                          err, errlen) != STORE_OK) {
        digest_abort(f.b);
        goto out;
    }
    if (digest_end(f.b, d) != 0 || f.failed) {
        digest_free(d);
        snprintf(err, errlen, "out of memory building the digest");
        goto out;
    }
    rc = 0;
out:
    svccache_release(a->miners, held);
    free(h.rows);
    free(values);
    return rc;
}

/* One evidence line of a model anomaly, looked for among the window's lines. */
typedef struct quote_ref {
    digest_quote q;
    int found;
    int64_t tid; /* the template of the line quoted */
} quote_ref;

typedef struct quote_scan {
    digest *d;
    quote_ref *v;
    size_t n, left;
    size_t line; /* the ordinal of the next line read: the same as in the digest's read */
} quote_scan;

static int quote_line(const window_line *l, void *arg)
{
    quote_scan *s = arg;
    prompt_line pl = {.ts_ms = l->ts_ms, .level = l->level, .message = l->message};
    size_t k = s->line++;
    for (size_t i = 0; i < s->n; i++) {
        quote_ref *r = &s->v[i];
        if (r->found || !digest_quote_matches(s->d, &r->q, &pl))
            continue;
        r->found = 1;
        r->tid = k < s->d->n_lines ? s->d->line_tids[k] : 0;
        s->left--;
    }
    return s->left == 0;
}

/* store_window_lines_at's callback: a line of the quote's millisecond, at its position in the digest's read. */
static int quote_at(int64_t position, int64_t ts_ms, const char *level, const char *message, void *arg)
{
    quote_scan *s = arg; /* s->v: the one quote asked about */
    prompt_line pl = {.ts_ms = ts_ms, .level = level, .message = message};
    if (!digest_quote_matches(s->d, &s->v->q, &pl))
        return 0;
    s->v->found = 1;
    s->v->tid = (size_t)position < s->d->n_lines ? s->d->line_tids[position] : 0;
    return 1;
}

/*
 * Checks the model anomalies' evidence against the window: an anomaly's
 * "evidence_verified" is true when it has evidence and every line of it
 * quotes a line of the window (digest_quote_matches); its "template_ids" are
 * the templates of the lines quoted. The lines are those the digest was
 * built from, with the same bounds. A quote that keeps its timestamp (as the
 * digest shows every line) can only quote lines of that millisecond: the
 * store is asked for those alone (store_window_lines_at, an index read),
 * not for the window. The quotes without one are looked for in one more
 * read of the window the same way (same bounds, same order:
 * store_window_read), only until each is found. An anomaly whose evidence
 * is not verified is recorded but routed to no one: a model that invents
 * its evidence, or was talked into it by log text, pages nobody. 0, or -1
 * with err.
 */
static int check_evidence(analyzer *a, const window_work *w, digest *d, json_t *list, char *err, size_t errlen)
{
    size_t total = 0, i, k, j, at = 0;
    json_t *an, *ev, *x;
    json_array_foreach(list, i, an) total += json_array_size(json_object_get(an, "evidence"));
    quote_scan s = {.d = d, .v = calloc(total ? total : 1, sizeof *s.v)};
    if (!s.v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_array_foreach(list, i, an)
    {
        json_array_foreach(json_object_get(an, "evidence"), k, ev)
        {
            quote_ref *r = &s.v[at++];
            if (!digest_quote_parse(json_string_value(ev), &r->q))
                r->found = -1; /* blank: quotes nothing */
            else
                s.left++;
        }
    }
    s.n = total;
    int rc = 0;
    for (at = 0; at < total && rc == 0 && d->n_lines > 0; at++) {
        quote_ref *r = &s.v[at];
        if (r->found || !r->q.has_ts)
            continue;
        quote_scan one = {.d = d, .v = r};
        rc = store_window_lines_at(a->st, w->id, w->after_line_id, w->read_line_id, a->cfg->max_lines, r->q.ts,
                                   quote_at, &one, err, errlen) == STORE_OK ? 0 : -1;
        r->found = r->found ? 1 : -1; /* settled either way: no line of its millisecond is none of the window */
        s.left--;
    }
    if (rc == 0 && s.left && d->n_lines > 0)
        rc = store_window_read(a->st, w->id, w->after_line_id, w->read_line_id, a->cfg->max_lines, quote_line, &s,
                               NULL, NULL, err, errlen) == STORE_OK ? 0 : -1;
    at = 0;
    json_array_foreach(list, i, an)
    {
        json_t *evidence = json_object_get(an, "evidence"), *ids = json_array();
        int verified = json_array_size(evidence) > 0;
        json_array_foreach(evidence, k, ev)
        {
            quote_ref *r = &s.v[at++];
            if (r->found != 1) {
                verified = 0;
                continue;
            }
            int dup = 0;
            json_array_foreach(ids, j, x) dup |= json_integer_value(x) == r->tid;
            if (!dup)
                json_array_append_new(ids, json_integer(r->tid));
        }
        json_object_set_new(an, "template_ids", ids);
        json_object_set_new(an, "evidence_verified", json_boolean(verified));
    }
    free(s.v);
    return rc;
}

typedef struct incident_feed {
    incident_annotator *an;
    const digest *d;
    size_t line; /* the ordinal of the next line read: the same as in the digest's read */
} incident_feed;

static int incident_line_of(const window_line *l, void *arg)
{
    incident_feed *f = arg;
    size_t k = f->line++;
    incident_line il = {.ts_ms = l->ts_ms, .level = digest_level_rank(l->level), .message = l->message,
                        .template_id = k < f->d->n_lines ? f->d->line_tids[k] : 0};
    return incident_annotator_add(f->an, &il) != 0;
}

/*
 * What ties each finding of the verdict to findings of other services
 * (incident_annotator: the time of its first and last line, the services and
 * ids its lines name) and the services the window's lines name, returned
 * (NULL: none, or incidents are off). The lines are the digest's, read again
 * from the store the same way (one more read, as check_evidence's).
 * Annotation failing leaves findings that still join incidents by their
 * window's span.
 */
static json_t *annotate_incidents(analyzer *a, const window_work *w, json_t *verdict, const digest *d)
{
    if (!a->cfg->incidents.enabled || !d->line_tids || d->n_lines == 0)
        return NULL;
    char err[256];
    json_t *names = NULL, *calls = NULL;
    if (store_service_names(a->st, 256, &names, err, sizeof err) != STORE_OK) {
        log_msg(LOG_WARN, "analysis", "window %lld: service names: %s", (long long)w->id, err);
        return NULL;
    }
    const char **nv = calloc(json_array_size(names) + 1, sizeof *nv);
    incident_feed f = {.d = d};
    if (nv) {
        size_t k;
        json_t *x;
        json_array_foreach(names, k, x) nv[k] = json_string_value(x);
        f.an = incident_annotator_new(json_object_get(verdict, "anomalies"), w->service, nv, json_array_size(names), 1);
    }
    if (!f.an) {
        log_msg(LOG_WARN, "analysis", "window %lld: out of memory reading what ties its findings", (long long)w->id);
    } else if (store_window_read(a->st, w->id, w->after_line_id, w->read_line_id, a->cfg->max_lines, incident_line_of,
                                 &f, NULL, NULL, err, sizeof err) != STORE_OK) {
        log_msg(LOG_WARN, "analysis", "window %lld: reading what ties its findings: %s", (long long)w->id, err);
        incident_annotator_free(f.an);
    } else if (incident_annotator_end(f.an, &calls) != 0) {
        log_msg(LOG_WARN, "analysis", "window %lld: out of memory reading what ties its findings", (long long)w->id);
    }
    free(nv);
    json_decref(names);
    return calls;
}

/* ---- one analysis: claim, digest, ask the model, judge, record ------------------------------ */

/* One analysis in progress: what its steps share. */
typedef struct analysis {
    window_work w;
    verdict_pass pass;
    int use_model;         /* the model is asked (configured, and the window is not quiet) */
    llm_plan plan;
    size_t budget;         /* the digest's token budget */
    digest d;
    prompt p;
    json_t *schema;
    json_t *answer;        /* the model's validated answer, evidence checked; NULL when it gave none */
    json_t *verdict;       /* what is recorded (verdict_assemble) */
    json_t *calls;         /* the services the window's lines name (annotate_incidents) */
    analysis_meta m;
    char reason[768];      /* why the model gave no answer, or why the analysis failed */
    char err[512];
} analysis;

/* Claims the next window due (a closed one, a failed one due for retry, an analysed one due to be read by the
 * model again; with none, an analysed window's late lines). 1 claimed, 0 none. */
static int claim(analyzer *a, int retry_failed, analysis *an)
{
    const config *cfg = a->cfg;
    store_rc rc = store_window_claim(a->st, time_now_ms(), cfg->lease_ms, retry_failed, &an->w, an->err,
                                     sizeof an->err);
    if (rc == STORE_NOTFOUND && retry_failed) /* nothing else due: an analysed window's late lines */
        rc = store_window_claim_late(a->st, time_now_ms(), cfg->lease_ms, cfg->grace_ms, &an->w, an->err,
                                     sizeof an->err);
    if (rc != STORE_OK && rc != STORE_NOTFOUND)
        log_msg(LOG_ERROR, "analysis", "claim: %s", an->err);
    if (rc != STORE_OK)
        return 0;
    /* the late part of an analysed window: its lines are the window's as far as this analysis goes */
    an->pass = an->w.reanalysis ? VERDICT_REREAD : an->w.after_line_id > 0 ? VERDICT_LATE : VERDICT_FIRST;
    return 1;
}

/* Digests the window's lines (streamed) and records its templates. 0; 1 when a late pass finds nothing the
 * analysis before did not read; -1 failed (reason). */
static int digest_window(analyzer *a, analysis *an)
{
    const config *cfg = a->cfg;
    window_work *w = &an->w;
    an->budget = analyzer_model_configured(cfg) ? analyzer_plan_window(a, w, &an->plan) : cfg->token_budget;
    if (build_digest(a, w, an->pass == VERDICT_LATE ? 0 : w->line_count, an->budget, &an->d, an->err,
                     sizeof an->err) != 0) {
        snprintf(an->reason, sizeof an->reason, "digest: %s", an->err);
        return -1;
    }
    if (an->pass == VERDICT_LATE)
        w->line_count = (int64_t)an->d.n_lines;
    if (an->pass == VERDICT_LATE && an->d.n_lines == 0)
        return 1;
    if (record_templates(a, w, &an->d, an->pass == VERDICT_LATE, an->err, sizeof an->err) != 0) {
        snprintf(an->reason, sizeof an->reason, "digest: %s", an->err);
        return -1;
    }
    an->m.digest = an->d.text;
    an->m.redactions = an->d.redactions;
    an->use_model = analyzer_model_configured(cfg) && (w->reanalysis || !(cfg->skip_quiet && an->d.quiet && an->d.n_lines > 0));
    return 0;
}

/* Asks the model about the digest and checks the evidence of its answer (an->answer, or NULL with reason).
 * ANALYSIS_ANALYZED to go on, ANALYSIS_INTERRUPTED, or ANALYSIS_FAILED (reason). */
static analysis_outcome ask(analyzer *a, const atomic_int *cancel, analysis *an)
{
    const config *cfg = a->cfg;
    window_work *w = &an->w;
    size_t n = an->d.n_lines;
    prompt_input in = {
        .service = w->service,
        .context = w->context,
        .start_ms = w->start_ms,
        .end_ms = w->end_ms,
        .total_lines = (size_t)w->line_count > n ? (size_t)w->line_count : n,
        .max_bytes = cfg->max_prompt_bytes,
        .digest = an->d.text,
    };
    if (an->plan.max_prompt_bytes > 0) /* the digest's estimate is a guess: the context is the bound */
        in.max_bytes = analyzer_fit_user_bytes(in.max_bytes, an->plan.max_prompt_bytes, prompt_system_bytes());
    if (prompt_build(&in, &an->p) != 0) {
        snprintf(an->reason, sizeof an->reason, "out of memory building the prompt");
        return ANALYSIS_FAILED;
    }
    an->m.analyzer = "llm";
    an->m.model = cfg->llm_model;
    an->schema = verdict_schema();
    if (analyzer_ask_model(a, cancel, &in, &an->plan, an->schema, &an->p, &an->m, &an->answer, an->reason,
                  sizeof an->reason) == LLM_CANCELLED)
        return ANALYSIS_INTERRUPTED;
    if (an->answer &&
        check_evidence(a, w, &an->d, json_object_get(an->answer, "anomalies"), an->err, sizeof an->err) != 0) {
        snprintf(an->reason, sizeof an->reason, "checking the evidence: %s", an->err);
        return ANALYSIS_FAILED;
    }
    return ANALYSIS_ANALYZED;
}

/*
 * The verdict (verdict_assemble): the model's answer with the baseline's
 * findings beside it; without an answer, the baseline's findings stand on
 * their own when no model was asked, with on_model_failure baseline, or on a
 * re-read (the baseline's verdict stands until the model is back). 0, or -1
 * when the window fails (reason).
 */
static int judge(analyzer *a, analysis *an)
{
    const config *cfg = a->cfg;
    window_work *w = &an->w;
    int nothing_new = an->pass == VERDICT_LATE && an->d.n_lines == 0;
    if (!an->answer && an->use_model && !cfg->fallback_baseline && !w->reanalysis)
        return -1; /* the model failed and the window is retried (reason) */
    if (!an->answer) {
        an->m.analyzer = "baseline";
        an->m.model = NULL;
        an->m.note = an->use_model ? an->reason : NULL;
        if (an->use_model && (cfg->reanalyze || w->reanalysis)) /* read it again once the model is back */
            an->m.reanalyze_at = time_now_ms() + retry_delay(cfg, w->attempts);
        if (!an->use_model)
            an->m.system_prompt = an->m.user_prompt = NULL;
    }
    json_t *answer = an->answer;
    an->answer = NULL;
    an->verdict = verdict_assemble(answer, nothing_new ? NULL : an->d.findings, an->pass, w->health);
    if (!an->verdict) {
        snprintf(an->reason, sizeof an->reason, "out of memory assembling the verdict");
        return -1;
    }
    /* a late pass keeps a model re-read the window was waiting for */
    if (an->pass == VERDICT_LATE && an->m.reanalyze_at <= 0 && w->next_attempt_at > 0)
        an->m.reanalyze_at = w->next_attempt_at;
    return 0;
}

/* Records the verdict with its findings' ties (one transaction in the store), and counts them. 0, or -1
 * (reason). */
static int record(analyzer *a, analysis *an)
{
    const config *cfg = a->cfg;
    an->m.routing = cfg->routing.enabled ? &cfg->routing : NULL;
    an->m.incidents = &cfg->incidents;
    an->calls = annotate_incidents(a, &an->w, an->verdict, &an->d);
    an->m.calls = an->calls;
    if (store_window_finish(a->st, &an->w, an->verdict, &an->m, an->err, sizeof an->err) != STORE_OK) {
        snprintf(an->reason, sizeof an->reason, "storing the result: %s", an->err);
        return -1;
    }
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(an->verdict, "anomalies"), i, x)
    {
        metrics_anomaly(json_string_value(json_object_get(x, "severity")),
                        json_string_value(json_object_get(x, "type")));
        if (!json_is_true(json_object_get(x, "evidence_verified")))
            metrics_evidence_unverified();
    }
    return 0;
}

/* The steps after the claim. */
static analysis_outcome run(analyzer *a, const atomic_int *cancel, analysis *an)
{
    int dg = digest_window(a, an);
    if (dg < 0)
        return ANALYSIS_FAILED;
    if (dg == 0 && an->use_model) {
        analysis_outcome o = ask(a, cancel, an);
        if (o != ANALYSIS_ANALYZED)
            return o;
    }
    if (judge(a, an) != 0 || record(a, an) != 0)
        return ANALYSIS_FAILED;
    return ANALYSIS_ANALYZED;
}

static analysis_outcome analyze(analyzer *a, const atomic_int *cancel, int retry_failed)
{
    analysis an = {.m = {.prompt_tokens = -1, .completion_tokens = -1, .latency_ms = -1}};
    if (!claim(a, retry_failed, &an))
        return ANALYSIS_NONE;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    analysis_outcome out = run(a, cancel, &an);
    window_work *w = &an.w;
    if (out == ANALYSIS_INTERRUPTED) {
        store_window_release(a->st, w, an.err, sizeof an.err);
    } else {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        metrics_analysis_observe((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
    if (out == ANALYSIS_FAILED) {
        int64_t next = time_now_ms() + retry_delay(a->cfg, w->attempts);
        if (store_window_fail(a->st, w, an.reason, next, &an.m, an.err, sizeof an.err) != STORE_OK)
            log_msg(LOG_ERROR, "analysis", "window %lld: cannot record failure: %s", (long long)w->id, an.err);
        log_msg(LOG_WARN, "analysis", "window %lld (%s) failed: %s", (long long)w->id, w->service, an.reason);
    }
    json_decref(an.answer);
    json_decref(an.verdict);
    json_decref(an.calls);
    json_decref(an.schema);
    prompt_free(&an.p);
    digest_free(&an.d);
    window_work_free(w);
    return out;
}

const char *analyzer_model_state(analyzer *a)
{
    return a && a->brk ? breaker_state(a->brk) : "none";
}

analysis_outcome analyzer_run_one(analyzer *a, int retry_failed)
{
    static const atomic_int never = 0;
    return analyze(a, &never, retry_failed);
}

char *analyzer_digest_text(analyzer *a, int64_t window_id, char *err, size_t errlen)
{
    window_info wi;
    if (store_window_get(a->st, window_id, &wi, err, errlen) != STORE_OK)
        return NULL;
    window_work w = {.id = window_id, .start_ms = wi.start_ms, .end_ms = wi.end_ms, .line_count = wi.line_count};
    snprintf(w.service, sizeof w.service, "%s", wi.service);
    char *text = NULL;
    digest d = {0};
    if (store_window_service_id(a->st, window_id, &w.service_id, err, errlen) == STORE_OK &&
        build_digest(a, &w, w.line_count, a->cfg->token_budget, &d, err, errlen) == 0 &&
        record_templates(a, &w, &d, 0, err, errlen) == 0) {
        text = d.text;
        d.text = NULL;
    }
    digest_free(&d);
    return text;
}

/* Waits until woken or timeout_ms passed, unless a wakeup happened since seen. */
static void wait_for_work(analyzer *a, int *seen, int64_t timeout_ms)
{
    pthread_mutex_lock(&a->mu);
    if (*seen == a->wakeups && !atomic_load(&a->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
    }
    *seen = a->wakeups;
    pthread_mutex_unlock(&a->mu);
}

/* Resolves the incidents that have been quiet for incident.quiet (store_incidents_resolve). */
static void resolve_incidents(analyzer *a)
{
    char err[256];
    int resolved = 0;
    if (a->cfg->incidents.enabled &&
        store_incidents_resolve(a->st, time_now_ms(), &a->cfg->incidents,
                                a->cfg->routing.enabled ? &a->cfg->routing : NULL, &resolved, err, sizeof err) != STORE_OK)
        log_msg(LOG_ERROR, "analysis", "resolving incidents: %s", err);
}

/* The model's one call for the next incident due (incident_model.h), when a model is configured. */
static void summarize_incident(analyzer *a, const atomic_int *cancel)
{
    const config *cfg = a->cfg;
    if (!cfg->incidents.enabled || !analyzer_model_configured(cfg))
        return;
    llm_opts lo;
    analyzer_model_opts(cfg, cancel, &lo);
    size_t cap = cfg->token_budget * 4; /* the digest's budget, at about 4 bytes a token */
    incident_model_opts o = {.llm = &lo, .red = a->red, .brk = a->brk,
                             .max_bytes = cfg->max_prompt_bytes && cfg->max_prompt_bytes < cap ? cfg->max_prompt_bytes : cap,
                             .schema_retries = (unsigned)cfg->schema_retries, .settle_ms = cfg->incidents.gap_ms};
    incident_model_next(a->st, &o);
}

static void *worker_main(void *arg)
{
    analyzer *a = arg;
    int seen = 0;
    while (!atomic_load(&a->stop)) {
        analysis_outcome o = analyze(a, &a->stop, 1);
        if (o == ANALYSIS_NONE) {
            resolve_incidents(a); /* nothing left to analyse: a quiet incident will get no member now */
            summarize_incident(a, &a->stop);
            wait_for_work(a, &seen, 1000); /* failed windows come due without a wakeup */
        }
    }
    return NULL;
}

void analyzer_wake(analyzer *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->wakeups++;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

analyzer *analyzer_start(store *st, const config *cfg, size_t threads, char *err, size_t errlen)
{
    int recovered = 0;
    if (store_windows_recover(st, &recovered, err, errlen) != STORE_OK)
        return NULL;
    if (recovered)
        log_msg(LOG_WARN | LOG_BARE, "analysis", "%d window(s) interrupted in analysis are queued again", recovered);
    analyzer *a = calloc(1, sizeof *a);
    if (!a || !(a->workers = calloc(threads ? threads : 1, sizeof *a->workers))) {
        free(a);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->st = st;
    a->cfg = cfg;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    miner_opts mo = miner_opts_defaults();
    mo.max_templates = cfg->max_templates;
    if (!(a->miners = svccache_new(cfg->max_services_in_memory, &mo, load_miner, a))) {
        snprintf(err, errlen, "out of memory");
        analyzer_stop(a);
        return NULL;
    }
    redact_opts ro = {.ip_addresses = cfg->redact_ips,
                      .patterns = (const char *const *)cfg->redact_patterns,
                      .n_patterns = cfg->n_redact_patterns};
    char rerr[512];
    llm_fit_opts fo = {.context_tokens = (long)cfg->llm_context_tokens,
                       .answer_tokens = (long)cfg->llm_max_tokens,
                       .digest_budget = cfg->token_budget};
    if (!(a->fit = llm_fit_new(&fo))) {
        snprintf(err, errlen, "out of memory");
        analyzer_stop(a);
        return NULL;
    }
    if (analyzer_model_configured(cfg) &&
        !(a->brk = breaker_new((unsigned)cfg->breaker_failures, cfg->breaker_cooldown_ms))) {
        snprintf(err, errlen, "out of memory");
        analyzer_stop(a);
        return NULL;
    }
    if (!(a->red = redactor_new(&ro, rerr, sizeof rerr))) {
        snprintf(err, errlen, "%s", rerr);
        analyzer_stop(a);
        return NULL;
    }
    for (size_t i = 0; i < threads; i++) {
        if (pthread_create(&a->workers[i], NULL, worker_main, a) != 0) {
            snprintf(err, errlen, "cannot start analysis worker");
            analyzer_stop(a);
            return NULL;
        }
        a->n_workers++;
    }
    return a;
}

void analyzer_stop(analyzer *a)
{
    if (!a)
        return;
    atomic_store(&a->stop, 1);
    analyzer_wake(a);
    for (size_t i = 0; i < a->n_workers; i++)
        pthread_join(a->workers[i], NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    svccache_free(a->miners);
    redactor_free(a->red);
    llm_fit_free(a->fit);
    breaker_free(a->brk);
    free(a->workers);
    free(a);
}
