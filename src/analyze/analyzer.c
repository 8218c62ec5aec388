/*
 * analyzer.c — the analysis workers and the window scheduler.
 *
 * Threads: cfg->workers worker threads and one scheduler thread, all started
 * by analyzer_start(). They share nothing but the store (each claim, finish
 * and fail is one transaction there) and a condition variable the scheduler
 * and POST /windows/flush use to wake idle workers.
 *
 * Scheduler: every tick it closes the windows that are due (the service's
 * watermark passed end + grace, or nothing arrived for grace of wall-clock
 * time after the window's end and its last line) and wakes the workers.
 *
 * One analysis: claim (closed → analyzing), read up to max_lines lines, build
 * the prompt, call the model; an answer that fails the schema is asked again
 * up to schema_retries times; then finish (→ analyzed, anomalies stored) or
 * fail (→ failed with the reason, retried after retry_base doubling up to
 * retry_max). Window state lives only in the database: a crash leaves at most
 * an 'analyzing' window, put back to 'closed' at the next start; a finish only
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

#include "anomalog/llm.h"
#include "anomalog/prompt.h"
#include "anomalog/timeutil.h"
#include "anomalog/verdict.h"

struct analyzer {
    store *st;
    const config *cfg;
    int64_t tick_ms;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wakeups;           /* bumped on every wake, under mu */
    pthread_t sched;
    int has_sched;
    pthread_t *workers;
    size_t n_workers;
};

static int model_configured(const config *cfg)
{
    return cfg->llm_url[0] && strcmp(cfg->llm_url, "none") != 0;
}

static int64_t retry_delay(const config *cfg, int attempts)
{
    int64_t d = cfg->retry_base_ms;
    for (int i = 1; i < attempts && d < cfg->retry_max_ms; i++)
        d *= 2;
    return d < cfg->retry_max_ms ? d : cfg->retry_max_ms;
}

static void add_usage(int64_t *acc, long v)
{
    if (v >= 0)
        *acc = (*acc < 0 ? 0 : *acc) + v;
}

static analysis_outcome analyze(store *st, const config *cfg, const atomic_int *cancel, int retry_failed)
{
    char err[512];
    window_work w;
    store_rc rc = store_window_claim(st, time_now_ms(), retry_failed, &w, err, sizeof err);
    if (rc == STORE_NOTFOUND)
        return ANALYSIS_NONE;
    if (rc != STORE_OK) {
        fprintf(stderr, "anomalog: analysis: claim: %s\n", err);
        return ANALYSIS_NONE;
    }

    analysis_outcome out = ANALYSIS_FAILED;
    char reason[768] = "";
    window_line *lines = NULL;
    size_t n = 0;
    prompt_line *pl = NULL;
    prompt p = {0};
    json_t *schema = NULL, *verdict = NULL;
    analysis_meta m = {.analyzer = "llm", .model = cfg->llm_model, .prompt_tokens = -1,
                       .completion_tokens = -1, .latency_ms = -1};

    if (store_window_lines(st, w.id, cfg->max_lines, &lines, &n, err, sizeof err) != STORE_OK) {
        snprintf(reason, sizeof reason, "reading lines: %s", err);
        goto out;
    }
    if (!(pl = calloc(n ? n : 1, sizeof *pl))) {
        snprintf(reason, sizeof reason, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        pl[i] = (prompt_line){.ts_ms = lines[i].ts_ms, .level = lines[i].level, .message = lines[i].message};
    prompt_input in = {
        .service = w.service,
        .context = w.context,
        .start_ms = w.start_ms,
        .end_ms = w.end_ms,
        .lines = pl,
        .n_lines = n,
        .total_lines = (size_t)w.line_count > n ? (size_t)w.line_count : n,
        .max_bytes = cfg->max_prompt_bytes,
    };
    if (prompt_build(&in, &p) != 0) {
        snprintf(reason, sizeof reason, "out of memory building the prompt");
        goto out;
    }
    m.system_prompt = p.system;
    m.user_prompt = p.user;
    if (!model_configured(cfg)) {
        snprintf(reason, sizeof reason, "no model configured (set ANOMALOG_LLM_URL)");
        goto out;
    }

    llm_opts o;
    llm_opts_defaults(&o);
    o.base_url = cfg->llm_url;
    o.model = cfg->llm_model;
    o.api_key = cfg->llm_api_key;
    o.timeout_ms = cfg->llm_timeout_ms;
    o.retries = (int)cfg->llm_retries;
    o.format = (llm_format)cfg->llm_format;
    o.cancel = cancel;
    schema = verdict_schema();
    for (uint64_t attempt = 0; attempt <= cfg->schema_retries; attempt++) {
        llm_result r;
        llm_rc lrc = llm_chat(&o, p.system, p.user, schema, &r);
        add_usage(&m.prompt_tokens, r.prompt_tokens);
        add_usage(&m.completion_tokens, r.completion_tokens);
        add_usage(&m.latency_ms, (long)r.latency_ms);
        if (lrc == LLM_CANCELLED) {
            llm_result_free(&r);
            out = ANALYSIS_INTERRUPTED;
            goto out;
        }
        if (lrc != LLM_OK) {
            snprintf(reason, sizeof reason, "model: %s", r.error);
            llm_result_free(&r);
            break;
        }
        char verr[512];
        verdict = verdict_parse(r.content, strlen(r.content), verr, sizeof verr);
        llm_result_free(&r);
        if (verdict)
            break;
        snprintf(reason, sizeof reason, "answer failed the schema after %llu call(s): %s",
                 (unsigned long long)attempt + 1, verr);
    }
    if (verdict) {
        rc = store_window_finish(st, &w, verdict, &m, err, sizeof err);
        if (rc == STORE_OK) {
            out = ANALYSIS_ANALYZED;
        } else {
            snprintf(reason, sizeof reason, "storing the result: %s", err);
            out = ANALYSIS_FAILED;
        }
    }
out:
    if (out == ANALYSIS_INTERRUPTED) {
        store_window_release(st, &w, err, sizeof err);
    } else if (out == ANALYSIS_FAILED) {
        int64_t next = time_now_ms() + retry_delay(cfg, w.attempts);
        if (store_window_fail(st, &w, reason, next, &m, err, sizeof err) != STORE_OK)
            fprintf(stderr, "anomalog: analysis: window %lld: cannot record failure: %s\n", (long long)w.id, err);
        fprintf(stderr, "anomalog: analysis: window %lld (%s) failed: %s\n", (long long)w.id, w.service, reason);
    }
    json_decref(verdict);
    json_decref(schema);
    prompt_free(&p);
    free(pl);
    window_lines_free(lines, n);
    window_work_free(&w);
    return out;
}

analysis_outcome analyzer_run_one(store *st, const config *cfg, int retry_failed)
{
    static const atomic_int never = 0;
    return analyze(st, cfg, &never, retry_failed);
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

static void *worker_main(void *arg)
{
    analyzer *a = arg;
    int seen = 0;
    while (!atomic_load(&a->stop)) {
        analysis_outcome o = analyze(a->st, a->cfg, &a->stop, 1);
        if (o == ANALYSIS_NONE)
            wait_for_work(a, &seen, 1000); /* failed windows come due without a wakeup */
    }
    return NULL;
}

static void *scheduler_main(void *arg)
{
    analyzer *a = arg;
    int seen = 0;
    while (!atomic_load(&a->stop)) {
        char err[256];
        int closed = 0;
        if (store_windows_close(a->st, time_now_ms(), a->cfg->grace_ms, 0, NULL, &closed, err, sizeof err) !=
            STORE_OK)
            fprintf(stderr, "anomalog: scheduler: %s\n", err);
        else if (closed)
            analyzer_wake(a);
        wait_for_work(a, &seen, a->tick_ms);
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

analyzer *analyzer_start(store *st, const config *cfg, int64_t tick_ms, char *err, size_t errlen)
{
    int recovered = 0;
    if (store_windows_recover(st, &recovered, err, errlen) != STORE_OK)
        return NULL;
    if (recovered)
        fprintf(stderr, "anomalog: %d window(s) interrupted in analysis are queued again\n", recovered);
    analyzer *a = calloc(1, sizeof *a);
    if (!a || !(a->workers = calloc(cfg->workers, sizeof *a->workers))) {
        free(a);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->st = st;
    a->cfg = cfg;
    a->tick_ms = tick_ms;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    for (size_t i = 0; i < cfg->workers; i++) {
        if (pthread_create(&a->workers[i], NULL, worker_main, a) != 0) {
            snprintf(err, errlen, "cannot start analysis worker");
            analyzer_stop(a);
            return NULL;
        }
        a->n_workers++;
    }
    if (tick_ms > 0) {
        if (pthread_create(&a->sched, NULL, scheduler_main, a) != 0) {
            snprintf(err, errlen, "cannot start the window scheduler");
            analyzer_stop(a);
            return NULL;
        }
        a->has_sched = 1;
    }
    return a;
}

void analyzer_stop(analyzer *a)
{
    if (!a)
        return;
    atomic_store(&a->stop, 1);
    analyzer_wake(a);
    if (a->has_sched)
        pthread_join(a->sched, NULL);
    for (size_t i = 0; i < a->n_workers; i++)
        pthread_join(a->workers[i], NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a->workers);
    free(a);
}
