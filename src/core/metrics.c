/*
 * metrics.c — the counters behind GET /metrics.
 *
 * What it is for: ingest, the writer, the analyzer and the notifier record
 * what they do here; the /metrics handler renders it, with a few gauges it
 * reads at scrape time (queue depth, windows by status, database size), in
 * the Prometheus text format.
 *
 * Threads: any thread records. Values are C11 atomics (relaxed: a scrape may
 * see one counter a moment ahead of another, never a torn value). Labelled
 * series live in fixed slot tables; a slot, once published (its table's
 * count raised with release order), never changes its labels, so lookups
 * scan without a lock. Claiming a new slot takes the table's mutex and
 * scans again, so two threads never claim the same labels twice.
 *
 * HTTP requests are counted by (route pattern, status) and timed per route:
 * routes are ours (a fixed list in server.c), statuses a few dozen, so the
 * tables are small and a path a client makes up never becomes a label.
 *
 * Limits: every table has a fixed size. The (endpoint, service) table keeps
 * OVERFLOW_RESERVE slots for service="_other", one per endpoint, and counts
 * every service past the cap there. Error codes and destinations are ours
 * (the code and the config name them), so their tables are small; a label
 * past a table's size is dropped from the metrics, never from the data.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/metrics.h"

#define LABEL_MAX 132
#define OVERFLOW_RESERVE 8

typedef struct mslot {
    char a[LABEL_MAX], b[LABEL_MAX];
    atomic_ullong v[3];
} mslot;

typedef struct mtable {
    pthread_mutex_t mu;
    atomic_size_t n;
    size_t cap;
    mslot *slots;
} mtable;

typedef struct mhist {
    const double *bounds;
    size_t nb;
    atomic_ullong *counts;   /* nb + 1: the last is +Inf; not cumulative */
    atomic_ullong sum_us, count;
} mhist;

static mslot ingest_slots[METRICS_MAX_SERVICES + OVERFLOW_RESERVE];
static mslot reject_slots[128]; /* 4 endpoints x the error codes an ingest route can answer */
static mslot notify_slots[64];
static mtable ingest_t = {PTHREAD_MUTEX_INITIALIZER, 0, sizeof ingest_slots / sizeof ingest_slots[0], ingest_slots};
static mtable reject_t = {PTHREAD_MUTEX_INITIALIZER, 0, sizeof reject_slots / sizeof reject_slots[0], reject_slots};
static mtable notify_t = {PTHREAD_MUTEX_INITIALIZER, 0, sizeof notify_slots / sizeof notify_slots[0], notify_slots};
static mslot http_slots[256]; /* (route, status): about 35 routes, each answering a handful of statuses */
static mtable http_t = {PTHREAD_MUTEX_INITIALIZER, 0, sizeof http_slots / sizeof http_slots[0], http_slots};

static const double commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
static atomic_ullong commit_counts[sizeof commit_bounds / sizeof commit_bounds[0] + 1];
static mhist commit_h = {commit_bounds, sizeof commit_bounds / sizeof commit_bounds[0], commit_counts, 0, 0};

static const double analysis_bounds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
static atomic_ullong analysis_counts[sizeof analysis_bounds / sizeof analysis_bounds[0] + 1];
static mhist analysis_h = {analysis_bounds, sizeof analysis_bounds / sizeof analysis_bounds[0], analysis_counts, 0, 0};

static const char *const model_outcomes[] = {"ok", "invalid_answer", "unavailable", "rejected", "bad_response",
                                             "cancelled"};
#define N_MODEL (sizeof model_outcomes / sizeof model_outcomes[0])
static atomic_ullong model_calls[N_MODEL];
static atomic_ullong prompt_tokens, completion_tokens;
static atomic_int model_state; /* 0 no model configured, 1 ok, 2 down (the circuit breaker is open) */

static const char *const severities[] = {"low", "medium", "high", "critical", "unknown"};
static const char *const types[] = {"error_spike", "auth_failure", "latency", "security", "resource", "config",
                                    "unknown"};
#define N_SEV (sizeof severities / sizeof severities[0])
#define N_TYPE (sizeof types / sizeof types[0])
static atomic_ullong anomalies[N_SEV][N_TYPE];
static atomic_ullong evidence_unverified;

/* the ingest endpoints http_ingest_endpoint() names: a fixed set, so a fixed array */
static const char *const replay_endpoints[] = {"/ingest", "/loki/api/v1/push", "/v1/logs", "/_bulk"};
#define N_REPLAY (sizeof replay_endpoints / sizeof replay_endpoints[0])
static atomic_ullong replayed[N_REPLAY];
static atomic_llong idem_in_flight; /* a gauge: keys in idempotency.c's in-flight table now */
static atomic_ullong clamped[N_REPLAY]; /* event times not within reason, set to the receive time */
static atomic_ullong late_lines[N_REPLAY]; /* lines whose window was no longer open (http_ingest_late) */

static const char *const notify_outcomes[] = {"sent", "retry", "failed"};

/* request latency per route: one histogram per route pattern, claimed like a slot */
#define HTTP_MAX_ROUTES 64
static const double http_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define HTTP_NB (sizeof http_bounds / sizeof http_bounds[0])
typedef struct mroute {
    char route[LABEL_MAX];
    atomic_ullong counts[HTTP_NB + 1];
    mhist h;
} mroute;
static mroute http_routes[HTTP_MAX_ROUTES];
static atomic_size_t http_nroutes;
static pthread_mutex_t http_routes_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const item_endpoints[] = {"/_bulk", "/v1/logs"};
static atomic_ullong items_rejected[2];

static const char *const retention_tables[] = {"logs", "windows", "anomalies", "outbox", "delivery_attempts",
                                               "window_prompts", "template_counts", "suppressions", "templates",
                                               "template_values", "incidents"};
#define N_RETENTION (sizeof retention_tables / sizeof retention_tables[0])
static atomic_ullong retention_rows[N_RETENTION];
static const double retention_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
static atomic_ullong retention_counts[sizeof retention_bounds / sizeof retention_bounds[0] + 1];
static mhist retention_h = {retention_bounds, sizeof retention_bounds / sizeof retention_bounds[0], retention_counts,
                            0, 0};

const char *const metrics_window_statuses[5] = {"open", "closed", "analyzing", "analyzed", "failed"};

static size_t index_of(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(names[i], s))
            return i;
    return n;
}

static mslot *scan(mtable *t, size_t upto, const char *a, const char *b)
{
    for (size_t i = 0; i < upto; i++)
        if (!strcmp(t->slots[i].a, a) && !strcmp(t->slots[i].b, b))
            return &t->slots[i];
    return NULL;
}

/* The slot of (a, b); past the table's soft cap, the slot of (a, overflow_b) when given. NULL when full. */
static mslot *slot_get(mtable *t, const char *a, const char *b, const char *overflow_b)
{
    char ka[LABEL_MAX], kb[LABEL_MAX];
    snprintf(ka, sizeof ka, "%s", a ? a : "");
    snprintf(kb, sizeof kb, "%s", b ? b : "");
    mslot *s = scan(t, atomic_load_explicit(&t->n, memory_order_acquire), ka, kb);
    if (s)
        return s;
    pthread_mutex_lock(&t->mu);
    size_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
    if (!(s = scan(t, n, ka, kb))) {
        size_t soft = overflow_b ? t->cap - OVERFLOW_RESERVE : t->cap;
        if (n >= soft && overflow_b) {
            snprintf(kb, sizeof kb, "%s", overflow_b);
            s = scan(t, n, ka, kb);
        }
        if (!s && n < t->cap) {
            s = &t->slots[n];
            memcpy(s->a, ka, sizeof ka);
            memcpy(s->b, kb, sizeof kb);
            for (size_t i = 0; i < 3; i++)
                atomic_store_explicit(&s->v[i], 0, memory_order_relaxed);
            atomic_store_explicit(&t->n, n + 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&t->mu);
    return s;
}

static void add(atomic_ullong *v, unsigned long long d)
{
    atomic_fetch_add_explicit(v, d, memory_order_relaxed);
}

static void observe(mhist *h, double seconds)
{
    if (seconds < 0)
        seconds = 0;
    size_t i = 0;
    while (i < h->nb && seconds > h->bounds[i])
        i++;
    add(&h->counts[i], 1);
    add(&h->sum_us, (unsigned long long)(seconds * 1e6));
    add(&h->count, 1);
}

void metrics_ingested(const char *endpoint, const batch *b)
{
    if (!b)
        return;
    size_t e = index_of(replay_endpoints, N_REPLAY, endpoint);
    if (e < N_REPLAY && b->stats.timestamp_clamped > 0)
        add(&clamped[e], (unsigned long long)b->stats.timestamp_clamped);
    if (e < N_REPLAY && b->stats.late > 0)
        add(&late_lines[e], (unsigned long long)b->stats.late);
    /* batches are mostly one service: count runs, one slot lookup per run */
    for (size_t i = 0; i < b->count;) {
        const char *svc = b->entries[i].service;
        unsigned long long lines = 0, bytes = 0;
        size_t j = i;
        for (; j < b->count && !strcmp(b->entries[j].service, svc); j++) {
            lines++;
            bytes += b->entries[j].message_len;
        }
        mslot *s = slot_get(&ingest_t, endpoint, svc, METRICS_OTHER);
        if (s) {
            add(&s->v[0], lines);
            add(&s->v[1], bytes);
        }
        i = j;
    }
}

static mroute *route_get(const char *route)
{
    size_t n = atomic_load_explicit(&http_nroutes, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(http_routes[i].route, route))
            return &http_routes[i];
    mroute *r = NULL;
    pthread_mutex_lock(&http_routes_mu);
    n = atomic_load_explicit(&http_nroutes, memory_order_relaxed);
    for (size_t i = 0; i < n && !r; i++)
        if (!strcmp(http_routes[i].route, route))
            r = &http_routes[i];
    if (!r && n < HTTP_MAX_ROUTES) {
        r = &http_routes[n];
        snprintf(r->route, sizeof r->route, "%s", route);
        for (size_t i = 0; i <= HTTP_NB; i++)
            atomic_store_explicit(&r->counts[i], 0, memory_order_relaxed);
        r->h = (mhist){http_bounds, HTTP_NB, r->counts, 0, 0};
        atomic_store_explicit(&http_nroutes, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&http_routes_mu);
    return r;
}

void metrics_http_request(const char *route, int status, double seconds)
{
    char st[16];
    snprintf(st, sizeof st, "%d", status);
    if (!route)
        route = "unmatched";
    mslot *s = slot_get(&http_t, route, st, NULL);
    if (s)
        add(&s->v[0], 1);
    mroute *r = route_get(route);
    if (r)
        observe(&r->h, seconds);
}

void metrics_items_rejected(const char *endpoint, long n)
{
    size_t i = index_of(item_endpoints, 2, endpoint);
    if (i < 2 && n > 0)
        add(&items_rejected[i], (unsigned long long)n);
}

void metrics_model_state(const char *state)
{
    atomic_store_explicit(&model_state, !strcmp(state, "ok") ? 1 : !strcmp(state, "down") ? 2 : 0,
                          memory_order_relaxed);
}

void metrics_rejected(const char *endpoint, const char *reason)
{
    mslot *s = slot_get(&reject_t, endpoint, reason ? reason : "unknown", NULL);
    if (s)
        add(&s->v[0], 1);
}

void metrics_replayed(const char *endpoint)
{
    for (size_t i = 0; endpoint && i < N_REPLAY; i++)
        if (strcmp(endpoint, replay_endpoints[i]) == 0)
            add(&replayed[i], 1);
}

void metrics_idem_in_flight(int delta)
{
    atomic_fetch_add(&idem_in_flight, delta);
}

void metrics_commit_observe(double seconds)
{
    observe(&commit_h, seconds);
}

void metrics_analysis_observe(double seconds)
{
    observe(&analysis_h, seconds);
}

void metrics_model_call(const char *outcome)
{
    size_t i = index_of(model_outcomes, N_MODEL, outcome);
    if (i < N_MODEL)
        add(&model_calls[i], 1);
}

void metrics_tokens(long prompt, long completion)
{
    if (prompt > 0)
        add(&prompt_tokens, (unsigned long long)prompt);
    if (completion > 0)
        add(&completion_tokens, (unsigned long long)completion);
}

void metrics_anomaly(const char *severity, const char *type)
{
    size_t s = index_of(severities, N_SEV, severity), t = index_of(types, N_TYPE, type);
    add(&anomalies[s < N_SEV ? s : N_SEV - 1][t < N_TYPE ? t : N_TYPE - 1], 1);
}

void metrics_evidence_unverified(void)
{
    add(&evidence_unverified, 1);
}

void metrics_notification(const char *destination, const char *outcome)
{
    size_t o = index_of(notify_outcomes, 3, outcome);
    mslot *s = slot_get(&notify_t, destination, "", NULL);
    if (s && o < 3)
        add(&s->v[o], 1);
}

void metrics_retention_deleted(const char *table, int64_t rows)
{
    size_t i = index_of(retention_tables, N_RETENTION, table);
    if (i < N_RETENTION && rows > 0)
        add(&retention_rows[i], (unsigned long long)rows);
}

void metrics_retention_batch(double seconds)
{
    observe(&retention_h, seconds);
}

/* A label value with \, " and newline escaped, as the text format wants. */
static void put_label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f), fputc(*s, f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static unsigned long long get(atomic_ullong *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter with one label: name{label="values[i]"} counts[i], for each of the n values. */
static void render_by(FILE *f, const char *name, const char *help, const char *label, const char *const *values,
                      atomic_ullong *counts, size_t n)
{
    head(f, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s{%s=\"%s\"} %llu\n", name, label, values[i], get(&counts[i]));
}

/* The series of one histogram; label is "" or `route="/x",` (with its trailing comma) */
static void render_hist_series(FILE *f, const char *name, const char *label, mhist *h)
{
    size_t ll = strlen(label);
    unsigned long long cum = 0;
    for (size_t i = 0; i <= h->nb; i++) {
        cum += get(&h->counts[i]);
        if (i < h->nb)
            fprintf(f, "%s_bucket{%sle=\"%g\"} %llu\n", name, label, h->bounds[i], cum);
        else
            fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, label, cum);
    }
    if (ll) /* `route="/x",` without its comma */
        fprintf(f, "%s_sum{%.*s} %.6f\n%s_count{%.*s} %llu\n", name, (int)ll - 1, label,
                (double)get(&h->sum_us) / 1e6, name, (int)ll - 1, label, cum);
    else
        fprintf(f, "%s_sum %.6f\n%s_count %llu\n", name, (double)get(&h->sum_us) / 1e6, name, cum);
}

static void render_hist(FILE *f, const char *name, const char *help, mhist *h)
{
    head(f, name, "histogram", help);
    render_hist_series(f, name, "", h);
}

static void render_pairs(FILE *f, mtable *t, const char *name, const char *la, const char *lb, int v)
{
    size_t n = atomic_load_explicit(&t->n, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s{%s=\"", name, la);
        put_label(f, t->slots[i].a);
        if (lb) {
            fprintf(f, "\",%s=\"", lb);
            put_label(f, t->slots[i].b);
        }
        fprintf(f, "\"} %llu\n", get(&t->slots[i].v[v]));
    }
}

char *metrics_render(const metrics_gauges *g, size_t *len)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    if (!f)
        return NULL;
    head(f, "anomalog_build_info", "gauge", "Always 1; the version is a label.");
    fprintf(f, "anomalog_build_info{version=\"%s\"} 1\n", ANOMALOG_VERSION);

    head(f, "anomalog_ingested_lines_total", "counter",
         "Log lines committed, by ingest endpoint and service (services past the cap count as _other).");
    render_pairs(f, &ingest_t, "anomalog_ingested_lines_total", "endpoint", "service", 0);
    head(f, "anomalog_ingested_bytes_total", "counter", "Message bytes committed, by ingest endpoint and service.");
    render_pairs(f, &ingest_t, "anomalog_ingested_bytes_total", "endpoint", "service", 1);
    head(f, "anomalog_ingest_rejected_batches_total", "counter",
         "Batches refused whole, by endpoint and reason (the error code of the answer).");
    render_pairs(f, &reject_t, "anomalog_ingest_rejected_batches_total", "endpoint", "reason", 0);
    render_by(f, "anomalog_ingest_replayed_batches_total",
              "Batches answered from the record of an earlier request with the same Idempotency-Key (a retry), "
              "not stored again, by endpoint.", "endpoint", replay_endpoints, replayed, N_REPLAY);
    head(f, "anomalog_ingest_idempotency_keys_in_flight", "gauge",
         "Idempotency-Keys of requests in progress now (the same key again meanwhile gets 409).");
    fprintf(f, "anomalog_ingest_idempotency_keys_in_flight %lld\n", (long long)atomic_load(&idem_in_flight));

    render_by(f, "anomalog_ingest_timestamps_clamped_total",
              "Lines whose event time was more than ingest.max_future ahead of their receive time, or before 2000, "
              "stored at the receive time instead, by endpoint.", "endpoint", replay_endpoints, clamped, N_REPLAY);
    render_by(f, "anomalog_ingest_late_lines_total",
              "Lines acknowledged for a window that was no longer open (closed, being analysed, analysed or failed): "
              "stored, counted in the window's late_count and analysed by a later pass, by endpoint.", "endpoint",
              replay_endpoints, late_lines, N_REPLAY);
    render_by(f, "anomalog_ingest_rejected_items_total",
              "Items of a bulk request (/_bulk) or records of an OTLP export (/v1/logs) refused while the rest of "
              "the request was stored, by endpoint.", "endpoint", item_endpoints, items_rejected, 2);

    head(f, "anomalog_http_requests_total", "counter",
         "HTTP requests answered, by route pattern (unmatched: no route) and status.");
    render_pairs(f, &http_t, "anomalog_http_requests_total", "route", "status", 0);
    head(f, "anomalog_http_request_duration_seconds", "histogram",
         "From a request's first byte to its answer, by route pattern.");
    size_t nr = atomic_load_explicit(&http_nroutes, memory_order_acquire);
    for (size_t i = 0; i < nr; i++) {
        char label[LABEL_MAX + 16];
        snprintf(label, sizeof label, "route=\"%.*s\",", LABEL_MAX - 1, http_routes[i].route); /* ours: no escapes */
        render_hist_series(f, "anomalog_http_request_duration_seconds", label, &http_routes[i].h);
    }

    head(f, "anomalog_writer_queue_depth", "gauge", "Batches waiting for the writer.");
    fprintf(f, "anomalog_writer_queue_depth %lld\n", (long long)g->writer_queue_depth);
    head(f, "anomalog_writer_queue_bytes", "gauge",
         "Bytes of the batches waiting for the writer (new batches are refused past the queue's bound).");
    fprintf(f, "anomalog_writer_queue_bytes %lld\n", (long long)g->writer_queue_bytes);
    head(f, "anomalog_writer_up", "gauge", "1 when the writer runs and its last commit succeeded.");
    fprintf(f, "anomalog_writer_up %d\n", g->writer_alive ? 1 : 0);
    render_hist(f, "anomalog_writer_commit_seconds", "Duration of one writer transaction (group commit).",
                &commit_h);

    head(f, "anomalog_windows", "gauge", "Windows in the database, by status.");
    for (size_t i = 0; i < 5; i++)
        if (g->windows[i] >= 0)
            fprintf(f, "anomalog_windows{status=\"%s\"} %lld\n", metrics_window_statuses[i], (long long)g->windows[i]);
    render_hist(f, "anomalog_analysis_seconds", "Duration of one window's analysis, claim to recorded result.",
                &analysis_h);
    if (g->oldest_waiting_seconds >= 0) {
        head(f, "anomalog_analysis_oldest_waiting_seconds", "gauge",
             "Seconds since the oldest window without a result (closed, analyzing or failed) closed; 0 when none.");
        fprintf(f, "anomalog_analysis_oldest_waiting_seconds %.3f\n", g->oldest_waiting_seconds);
    }

    render_by(f, "anomalog_model_calls_total", "Calls to the model, by outcome.", "outcome", model_outcomes, model_calls,
              N_MODEL);
    int ms = atomic_load_explicit(&model_state, memory_order_relaxed);
    if (ms) {
        head(f, "anomalog_model_up", "gauge",
             "1 when the model is taken to answer, 0 when its circuit breaker is open (windows go to the baseline).");
        fprintf(f, "anomalog_model_up %d\n", ms == 1);
    }
    head(f, "anomalog_model_prompt_tokens_total", "counter", "Prompt tokens the model reported.");
    fprintf(f, "anomalog_model_prompt_tokens_total %llu\n", get(&prompt_tokens));
    head(f, "anomalog_model_completion_tokens_total", "counter", "Completion tokens the model reported.");
    fprintf(f, "anomalog_model_completion_tokens_total %llu\n", get(&completion_tokens));

    head(f, "anomalog_anomalies_total", "counter", "Anomalies recorded, by severity and type.");
    for (size_t s = 0; s < N_SEV; s++)
        for (size_t t = 0; t < N_TYPE; t++)
            if (s < N_SEV - 1 || get(&anomalies[s][t]))
                fprintf(f, "anomalog_anomalies_total{severity=\"%s\",type=\"%s\"} %llu\n", severities[s], types[t],
                        get(&anomalies[s][t]));
    head(f, "anomalog_evidence_unverified_total", "counter",
         "Model anomalies whose evidence is not in the window: recorded, never routed.");
    fprintf(f, "anomalog_evidence_unverified_total %llu\n", get(&evidence_unverified));

    head(f, "anomalog_notifications_total", "counter", "Notification delivery attempts, by destination and outcome.");
    size_t nn = atomic_load_explicit(&notify_t.n, memory_order_acquire);
    for (size_t i = 0; i < nn; i++)
        for (size_t o = 0; o < 3; o++) {
            fputs("anomalog_notifications_total{destination=\"", f);
            put_label(f, notify_slots[i].a);
            fprintf(f, "\",outcome=\"%s\"} %llu\n", notify_outcomes[o], get(&notify_slots[i].v[o]));
        }

    if (g->outbox_pending >= 0) {
        head(f, "anomalog_outbox_pending", "gauge", "Notifications in the outbox not delivered yet.");
        fprintf(f, "anomalog_outbox_pending %lld\n", (long long)g->outbox_pending);
    }

    if (g->incidents_open >= 0) {
        head(f, "anomalog_incidents_open", "gauge", "Incidents open (findings joined into one problem, not resolved).");
        fprintf(f, "anomalog_incidents_open %lld\n", (long long)g->incidents_open);
        head(f, "anomalog_incident_members_open", "gauge",
             "Findings in the open incidents (divided by anomalog_incidents_open: members per incident).");
        fprintf(f, "anomalog_incident_members_open %lld\n", (long long)g->incident_members_open);
    }

    render_by(f, "anomalog_retention_deleted_rows_total", "Rows deleted by retention, by table.", "table",
              retention_tables, retention_rows, N_RETENTION);
    render_hist(f, "anomalog_retention_batch_seconds", "Duration of one retention batch (one transaction).",
                &retention_h);

    if (g->database_bytes >= 0) {
        head(f, "anomalog_database_size_bytes", "gauge", "Size of the SQLite database file (page_count * page_size).");
        fprintf(f, "anomalog_database_size_bytes %lld\n", (long long)g->database_bytes);
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    if (len)
        *len = n;
    return out;
}

void metrics_reset(void)
{
    mtable *ts[] = {&ingest_t, &reject_t, &notify_t, &http_t};
    atomic_store(&http_nroutes, 0);
    for (size_t i = 0; i < 2; i++)
        atomic_store(&items_rejected[i], 0);
    for (size_t i = 0; i < 4; i++) {
        pthread_mutex_lock(&ts[i]->mu);
        for (size_t j = 0; j < ts[i]->cap; j++)
            memset(ts[i]->slots[j].a, 0, LABEL_MAX), memset(ts[i]->slots[j].b, 0, LABEL_MAX);
        atomic_store(&ts[i]->n, 0);
        pthread_mutex_unlock(&ts[i]->mu);
    }
    mhist *hs[] = {&commit_h, &analysis_h, &retention_h};
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j <= hs[i]->nb; j++)
            atomic_store(&hs[i]->counts[j], 0);
        atomic_store(&hs[i]->sum_us, 0);
        atomic_store(&hs[i]->count, 0);
    }
    for (size_t i = 0; i < N_MODEL; i++)
        atomic_store(&model_calls[i], 0);
    for (size_t i = 0; i < N_REPLAY; i++)
        atomic_store(&replayed[i], 0), atomic_store(&clamped[i], 0), atomic_store(&late_lines[i], 0);
    atomic_store(&prompt_tokens, 0);
    for (size_t i = 0; i < N_RETENTION; i++)
        atomic_store(&retention_rows[i], 0);
    atomic_store(&completion_tokens, 0);
    for (size_t s = 0; s < N_SEV; s++)
        for (size_t t = 0; t < N_TYPE; t++)
            atomic_store(&anomalies[s][t], 0);
    atomic_store(&evidence_unverified, 0);
    atomic_store(&model_state, 0);
}
