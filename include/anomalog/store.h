/**
 * @file store.h
 * @brief Durable storage: the database (SQLite, or PostgreSQL shared by replicas), its migrations, and every query.
 *
 * One store has one write connection, used only by the writer thread (see
 * writer.h), a background connection shared (under a mutex) by the
 * scheduler, analysis, notification and retention threads, and a pool of read
 * connections for HTTP threads. No SQLite or libpq type appears outside
 * src/store/.
 */
#ifndef ANOMALOG_STORE_H
#define ANOMALOG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "anomalog/batch.h"
#include "anomalog/incident.h"
#include "anomalog/route.h"

typedef struct store store;

typedef enum store_rc {
    STORE_OK = 0,
    STORE_NOTFOUND,   /**< no such row */
    STORE_BUSY,       /**< the database was locked past the busy timeout: retry later */
    STORE_ERROR       /**< anything else; the message says what */
} store_rc;

typedef enum store_durability {
    STORE_DURABLE_NORMAL = 0,  /**< synchronous=NORMAL: a committed batch survives a process crash */
    STORE_DURABLE_FULL         /**< synchronous=FULL: a committed batch survives power loss */
} store_durability;

/**
 * Opens the database and applies pending migrations: a PostgreSQL database
 * when path starts with postgres:// or postgresql:// (a libpq connection
 * URI), else the SQLite file at path (created if needed).
 * @param[out] out  the store, or NULL on failure
 * @param[out] err  why it failed
 */
store_rc store_open(const char *path, store_durability durability, store **out, char *err, size_t errlen);

/** path as it may be shown or logged: the password of a PostgreSQL URI replaced by "***". */
const char *store_location(const char *path, char *buf, size_t len);

/** Closes every connection. Accepts NULL. */
void store_close(store *s);

/** The schema version the database is at (largest applied migration). */
int store_schema_version(store *s);

/** The newest schema version this binary knows. */
int store_schema_latest(void);

/**
 * Writes the entries of n batches in one transaction (the writer's group commit):
 * each entry goes to the window [floor(ts/window_ms)*window_ms, +window_ms) of its
 * service; window line counts, late counts and service watermarks are updated;
 * a batch's Idempotency-Key (b->idem) is recorded with it; where the backend
 * keeps an ingest journal mark, it is raised to the largest b->journal_seq.
 * All or nothing: on failure nothing of any batch is stored.
 * Writer thread only.
 */
store_rc store_write_batches(store *s, batch *const *batches, size_t n, int64_t window_ms,
                             char *err, size_t errlen);

/**
 * Whether the backend keeps the ingest journal's mark, so the writer may
 * acknowledge a batch once it is in the journal (SQLite: 1; PostgreSQL: 0,
 * a batch is acknowledged once committed).
 */
int store_has_journal(store *s);

/** The largest journal number stored (0: none yet, or no journal). Writer thread only. */
store_rc store_journal_seq(store *s, uint64_t *seq, char *err, size_t errlen);

/* ---- Idempotency-Key of ingest requests ------------------------------------
 * A batch's key (batch.idem) is written by store_write_batches in the batch's
 * own transaction. */

/** A recorded key, as store_idempotency_get reads it. */
typedef struct idempotency_record {
    char *endpoint;                /**< malloc'd */
    unsigned char body_sha256[32];
    int status;
    char content_type[64];         /**< empty: none */
    char *body;                    /**< malloc'd, NUL-terminated after body_len bytes */
    size_t body_len;
    int64_t created_ms;
} idempotency_record;

/** Frees what the record holds. Accepts NULL. */
void idempotency_record_free(idempotency_record *r);

/**
 * The key of scope recorded after after_ms (older ones have expired).
 * @param[out] out  filled on STORE_OK (free with idempotency_record_free); zeroed otherwise
 * @return STORE_OK, STORE_NOTFOUND, or an error
 */
store_rc store_idempotency_get(store *s, const char *scope, const char *key, int64_t after_ms,
                               idempotency_record *out, char *err, size_t errlen);

/**
 * Deletes up to limit keys recorded at or before before_ms, oldest first. Writer thread only.
 * @param[out] deleted  how many were
 */
store_rc store_idempotency_prune(store *s, int64_t before_ms, int limit, int *deleted, char *err, size_t errlen);

/** A window as the API shows it. Text fields are empty and numbers -1 when not set. */
typedef struct window_info {
    int64_t id;
    char service[129];
    int64_t start_ms, end_ms;
    char status[16];
    int64_t line_count, late_count;
    char health[16];
    int64_t anomaly_count;
    char analyzer[16];
    char model[128];
    int64_t prompt_tokens, completion_tokens, latency_ms;
    char error[512];
} window_info;

/** Filters of a window listing; NULL / 0 means "no filter". */
typedef struct window_query {
    const char *service;
    const char *status;
    const char *health;
    int has_since, has_until;
    int64_t since_ms, until_ms;   /**< lists windows with end > since and start < until */
    int has_cursor;
    int64_t cursor_start, cursor_id;  /**< lists windows strictly after this one in (start, id) descending order */
    int limit;
} window_query;

/**
 * Lists windows newest first.
 * @param[out] rows     malloc'd array (caller frees), up to q->limit rows
 * @param[out] n        number of rows
 * @param[out] has_more 1 when more rows follow the last one
 */
store_rc store_windows_list(store *s, const window_query *q, window_info **rows, size_t *n,
                            int *has_more, char *err, size_t errlen);

/** One window by id: STORE_OK, STORE_NOTFOUND or an error. */
store_rc store_window_get(store *s, int64_t id, window_info *out, char *err, size_t errlen);

/** Total entries stored (for tests and readiness). */
store_rc store_count_logs(store *s, int64_t *count, char *err, size_t errlen);

/**
 * Gauges for GET /metrics: windows by status (open, closed, analyzing,
 * analyzed, failed, in that order) and the database size in bytes.
 */
store_rc store_metrics(store *s, int64_t windows[5], int64_t *db_bytes, char *err, size_t errlen);

/** What is waiting, for GET /metrics. */
typedef struct store_backlog {
    int64_t oldest_waiting_ms;  /**< when the oldest window still without a result (closed, analyzing or
                                     failed) closed; -1 when there is none */
    int64_t outbox_pending;     /**< notifications in the outbox still to be delivered (status pending) */
} store_backlog;

/** The backlog gauges; *out is zeroed (oldest_waiting_ms -1) first. */
store_rc store_backlog_get(store *s, store_backlog *out, char *err, size_t errlen);

/** Checks a read connection answers and the file is writable. */
store_rc store_ping(store *s, char *err, size_t errlen);

/* ---- analysis ------------------------------------------------------------ */

/**
 * Closes open windows that are due: the service's watermark passed end + grace,
 * or nothing arrived for grace of wall-clock time after max(end, last line).
 * With force, closes every open window (of service, or of all when NULL).
 * @param[out] closed  how many were closed
 */
store_rc store_windows_close(store *s, int64_t now_ms, int64_t grace_ms, int force, const char *service,
                             int *closed, char *err, size_t errlen);

/**
 * Puts windows left in 'analyzing' by a crash back to 'closed'. Start-up only.
 * On PostgreSQL, only windows whose claim's lease has run out: another
 * replica's live claim is left alone.
 */
store_rc store_windows_recover(store *s, int *recovered, char *err, size_t errlen);

/** A window claimed for analysis. */
typedef struct window_work {
    int64_t id;
    int64_t service_id;
    char service[129];
    int64_t start_ms, end_ms;
    int64_t line_count;
    int attempts;              /**< analyses started, this one included */
    int reanalysis;            /**< analysed by the baseline before; the model reads it again now */
    char health[16];           /**< health before this analysis (re-analysis), or empty */
    char *context;             /**< the service's context (malloc'd) or NULL */
    int late;                  /**< claimed again for lines that arrived after its analysis */
    int64_t after_line_id;     /**< the analysis reads the lines above this id (0: all of them) */
    int64_t late_seen;         /**< the window's late_count at the claim: the late lines this analysis answers for */
    int64_t read_line_id;      /**< set by the analyzer: the highest line id it read (kept by finish) */
    int64_t next_attempt_at;   /**< when the model is due to read the window again (0: not), at the claim */
} window_work;

/**
 * Atomically moves the oldest closed window, else the oldest failed window
 * due for retry (next_attempt_at <= now; only when retry_failed), else an
 * analysed window due to be read by the model again, to 'analyzing'.
 * On PostgreSQL the claim is a lease of lease_ms, shared by replicas: a window
 * whose lease ran out (its replica died) is claimed again like a closed one,
 * and finish, fail and release only take effect for the current claim
 * (w->attempts). SQLite, one process, ignores lease_ms.
 * @return STORE_OK with w filled, STORE_NOTFOUND when there is none.
 */
store_rc store_window_claim(store *s, int64_t now_ms, int64_t lease_ms, int retry_failed, window_work *w, char *err,
                            size_t errlen);

/**
 * Claims an analysed window that has late lines its analysis did not read
 * (late_count above the late_seen of that analysis), once grace_ms has passed
 * since that analysis: one re-analysis per window per grace. w->late is set;
 * the analysis reads the lines above w->after_line_id only.
 * @return STORE_OK with w filled, STORE_NOTFOUND when there is none.
 */
store_rc store_window_claim_late(store *s, int64_t now_ms, int64_t lease_ms, int64_t grace_ms, window_work *w,
                                 char *err, size_t errlen);

void window_work_free(window_work *w);

/**
 * Whether the window of service starting at start_ms exists and is no longer
 * open (closed, analyzing, analyzed or failed): a line for it now is late.
 * Read on a borrowed read connection, and the answer kept for a second unless
 * this store closes or deletes a window meanwhile (src/store/late.c).
 */
store_rc store_window_is_late(store *s, const char *service, int64_t start_ms, int *late, char *err, size_t errlen);

/** One stored line of a window, as a read hands it over: the strings are the store's, valid during the
 *  callback only. */
typedef struct window_line {
    int64_t id;              /**< logs.id: arrival order */
    int64_t ts_ms;
    const char *level;       /**< or NULL */
    const char *message;
    const char *attributes;  /**< the line's attributes as a JSON object text, or NULL */
} window_line;

/** Called for each line of a read, in order; returns 0 to go on, non-zero to stop the read. */
typedef int (*window_line_fn)(const window_line *l, void *arg);

/**
 * Streams a window's lines to fn, by event time (ts, then id), a page of
 * STORE_LINES_PAGE at a time: what a read holds is one page, whatever the
 * window's size. Read are the lines whose id is above after_id (0: all) and
 * at most upto_id (0: the highest id stored when the read starts, so that
 * lines arriving during the read, late ones included, are left whole to the
 * next read), the first max of them. Reading again with the same after_id,
 * max and, as upto_id, the *max_id of the first read gives the same lines in
 * the same order (the evidence check reads a window that way).
 * @param[out] max_id  may be NULL; the highest id read (after_id when none)
 * @param[out] n_read  may be NULL; lines handed to fn
 * @return STORE_OK (also when fn stopped the read), or an error with err.
 */
store_rc store_window_read(store *s, int64_t window_id, int64_t after_id, int64_t upto_id, size_t max,
                           window_line_fn fn, void *arg, int64_t *max_id, size_t *n_read, char *err, size_t errlen);

#define STORE_LINES_PAGE 2048

/** One page of GET /windows/{id}/lines. */
typedef struct line_page_query {
    int64_t window_id;
    int has_cursor;
    int64_t cursor_ts, cursor_id;   /**< the last line of the previous page */
    int limit;                      /**< lines wanted, 1 and up */
    size_t max_bytes;               /**< and at most this many bytes of compact JSON (one line at least) */
} line_page_query;

/**
 * A page of a window's stored lines (raw, as received), by event time then
 * id, after the cursor: objects {id, ts, level, message, attributes}.
 * Says nothing about whether the window exists (an unknown one has no lines).
 * @param[out] out  new JSON array (NULL on failure)
 * @param[out] next_cursor  "<ts_ms>:<id>" when more follow, else empty
 */
store_rc store_window_lines_page(store *s, const line_page_query *q, json_t **out, char *next_cursor,
                                 size_t curlen, char *err, size_t errlen);


typedef struct analysis_meta {
    const char *analyzer;       /**< "llm" or "baseline": the window's analyzer */
    const char *model;
    int64_t prompt_tokens, completion_tokens, latency_ms;  /**< -1 when unknown */
    const char *system_prompt, *user_prompt;              /**< the exact prompt, or NULL */
    const char *digest;                                   /**< the digest, or NULL */
    const json_t *redactions;                             /**< counts per kind, or NULL */
    int64_t reanalyze_at;                                 /**< > 0: have the model read the window again from then */
    const char *note;                                     /**< kept in the window's error field on finish
                                                               (why the model's answer is missing), or NULL */
    const route_config *routing;                          /**< suppression and notifications on finish;
                                                               NULL: neither (replay) */
    const incident_config *incidents;                     /**< join the anomalies into incidents (incident.h);
                                                               NULL or not enabled: none */
    const json_t *calls;                                  /**< {service: lines} the window's lines named (its
                                                               calls, incident_annotate), or NULL */
} analysis_meta;

/**
 * Records a finished analysis in one transaction: the anomalies of verdict
 * (with m->routing: each one suppressed by an open interval of its (service,
 * type), or opening one and queueing a notification per matching destination),
 * (validated {"health", "anomalies": [...]}; an anomaly may carry "analyzer"
 * (default m->analyzer), "template_ids" and "evidence_verified" (default
 * true; false: recorded, but neither suppressed nor routed, and it opens no
 * suppression interval)), the window's health and counts,
 * status 'analyzed'. Only a window in 'analyzing' is finished (STORE_NOTFOUND otherwise).
 */
store_rc store_window_finish(store *s, const window_work *w, const json_t *verdict, const analysis_meta *m,
                             char *err, size_t errlen);

/** Marks a window 'failed' (health 'unknown') with the reason, to be retried from next_attempt_ms. */
store_rc store_window_fail(store *s, const window_work *w, const char *reason, int64_t next_attempt_ms,
                           const analysis_meta *m, char *err, size_t errlen);

/** Puts an 'analyzing' window back to 'closed' (analysis interrupted by shutdown). */
store_rc store_window_release(store *s, const window_work *w, char *err, size_t errlen);

/** The service id of a window. */
store_rc store_window_service_id(store *s, int64_t window_id, int64_t *service_id, char *err, size_t errlen);

/** Counts windows in a status (for tests, metrics and replay). */
store_rc store_windows_count(store *s, const char *status, int64_t *n, char *err, size_t errlen);

/* ---- reading: anomalies, prompts, services ---------------------------------- */

typedef struct anomaly_query {
    const char *service;
    const char *type;
    int min_severity;            /**< 0: any; 1..4 at least low..critical */
    int has_since, has_until;
    int64_t since_ms, until_ms;  /**< anomalies of windows with end > since and start < until */
    int has_cursor;
    int64_t cursor_start, cursor_id;
    int limit;
} anomaly_query;

/**
 * Lists anomalies newest first (by window start, then id) as API objects.
 * @param[out] out  new JSON array
 * @param[out] next_cursor  "<start>:<id>" when more follow, else empty
 */
store_rc store_anomalies_list(store *s, const anomaly_query *q, json_t **out, char *next_cursor, size_t curlen,
                              char *err, size_t errlen);

/** The anomalies of one window as a new JSON array. */
store_rc store_window_anomalies(store *s, int64_t window_id, json_t **out, char *err, size_t errlen);

/** The exact prompt of a window's last analysis as {"system", "user"}, or STORE_NOTFOUND. */
store_rc store_window_prompt(store *s, int64_t window_id, json_t **out, char *err, size_t errlen);

/** A page of services, by name in byte order (a keyset on the unique name: stable under inserts). */
typedef struct service_query {
    const char *after;   /**< only names above this one (the previous page's last); NULL: from the first */
    int limit;           /**< at most this many services (>= 1) */
    size_t max_bytes;    /**< and at most this many bytes of compact JSON in the array (one service at least) */
} service_query;

/**
 * Lists a page of services as API objects {name, context, context_source, watermark, last_seen, created_at}.
 * @param[out] out   new JSON array
 * @param[out] last  the page's last name when more follow (the next page's after), else empty; at least 129 bytes
 */
store_rc store_services_list(store *s, const service_query *q, json_t **out, char *last, size_t lastlen, char *err,
                             size_t errlen);

/**
 * Sets a service's context (creating the service if needed).
 * source "api" always wins; source "config" does not overwrite a context set through the API.
 * @param[out] service  the service as an API object (new reference), may be NULL
 */
store_rc store_service_set_context(store *s, const char *name, const char *context, const char *source,
                                   json_t **service, char *err, size_t errlen);

/* ---- templates: the service's history for digests and the baseline ------- */

/** A template as persisted. */
typedef struct store_template {
    int64_t id;
    const char *text;
    uint64_t count;       /**< lines in the window being recorded / total when loaded */
    int max_level;        /**< 0 unknown .. 6 fatal */
} store_template;

/**
 * Calls fn for every template of a service (to restore its miner), oldest id first.
 * @param[out] id_max  the highest template id the service ever recorded, also one pruned since (0: none): a
 *                     miner restored from these templates must assign new ids above it (miner_reserve_ids)
 */
store_rc store_templates_load(store *s, int64_t service_id,
                              void (*fn)(void *arg, int64_t id, const char *text, uint64_t total), void *arg,
                              int64_t *id_max, char *err, size_t errlen);

/** History of one template over a span of earlier windows. */
typedef struct template_history {
    int64_t id;
    int known;          /**< first seen before the window */
    int benign;
    int64_t lines;      /**< lines over the span */
    int windows;        /**< windows of the span that had it */
} template_history;

/**
 * The history of every template of a service over the windows starting in
 * [from_ms, before_ms), sorted by id (malloc'd; caller frees); and, over the
 * same span, how many windows were digested and their mean error lines.
 */
store_rc store_template_history(store *s, int64_t service_id, int64_t from_ms, int64_t before_ms,
                                template_history **rows, size_t *n, int *depth, double *error_avg, char *err,
                                size_t errlen);

/**
 * Records a digested window in one transaction: templates upserted (text,
 * level, first/last seen, totals), their counts in this window, the window's
 * error lines. Recording the same window again changes no total; with late
 * set (the lines of a late pass, which the analysis before did not read) the
 * counts and error lines add to the window's. A template pruned earlier is
 * inserted again under its id. Past max_templates rows for the service (0: no
 * bound), the least recently seen are deleted.
 */
store_rc store_templates_record(store *s, int64_t service_id, int64_t window_id, int64_t window_start,
                                const store_template *t, size_t n, long error_lines, size_t max_templates, int late,
                                char *err, size_t errlen);

/** One template position's durations over one window (see anomalog/latency.h): thousandths of the unit. */
typedef struct store_value_summary {
    int64_t template_id;
    int pos;
    int64_t window_start;
    int64_t count;
    int64_t mean_milli, median_milli, p95_milli;
} store_value_summary;

/**
 * Records a window's duration summaries in one transaction (a summary already
 * recorded for the same window, template and position is kept as it was) and
 * deletes the service's summaries of windows that started before prune_before.
 */
store_rc store_values_record(store *s, int64_t service_id, const store_value_summary *v, size_t n,
                             int64_t prune_before, char *err, size_t errlen);

/**
 * The duration summaries of a service's windows starting in [from_ms,
 * before_ms), sorted by template, position and window (malloc'd; caller frees).
 */
store_rc store_values_history(store *s, int64_t service_id, int64_t from_ms, int64_t before_ms,
                              store_value_summary **rows, size_t *n, char *err, size_t errlen);

/** Marks templates of a service known-benign. */
store_rc store_templates_benign(store *s, int64_t service_id, const int64_t *ids, size_t n, char *err,
                                size_t errlen);

/**
 * Records feedback on an anomaly; a false positive marks its templates benign.
 * @param[out] out  the anomaly as an API object (new reference)
 * @return STORE_NOTFOUND when there is no such anomaly
 */
store_rc store_anomaly_feedback(store *s, int64_t anomaly_id, const char *verdict, const char *note, json_t **out,
                                char *err, size_t errlen);

/* ---- notifications: the outbox ------------------------------------------------ */

/** A notification claimed for delivery. */
typedef struct outbox_item {
    int64_t id, anomaly_id, created_at;
    char destination[129];
    char kind[16];
    char dedup_key[300];
    char *payload;        /**< malloc'd; free with outbox_item_free */
    int attempts;         /**< deliveries tried before this one */
} outbox_item;

void outbox_item_free(outbox_item *it);

/**
 * Claims the pending notification due first (next_attempt_at <= now) for
 * lease_ms: a sender that dies holding it loses it after the lease (or at
 * the next start, see store_outbox_recover).
 * @return STORE_OK with it filled, STORE_NOTFOUND when none is due.
 */
store_rc store_outbox_claim(store *s, int64_t now_ms, int64_t lease_ms, outbox_item *it, char *err, size_t errlen);

/**
 * Records one delivery attempt and its outcome: "sent", "failed" (given up),
 * or "retry" (due again at next_attempt_ms).
 * @param http_status  the answer's status, or -1 when there was none
 */
store_rc store_outbox_record(store *s, int64_t id, int64_t now_ms, int http_status, const char *outcome,
                             const char *error, int64_t next_attempt_ms, char *err, size_t errlen);

/**
 * Start-up: notifications claimed by a sender that died are due now. On
 * PostgreSQL only those whose lease ran out (they are due anyway): another
 * replica's live claim is left alone.
 */
store_rc store_outbox_recover(store *s, int64_t now_ms, int *recovered, char *err, size_t errlen);

/**
 * Lists notifications newest first.
 * @param status  NULL or pending|sent|failed|dry_run
 * @param cursor  0, or list those with a smaller id
 * @param[out] next_cursor  the id to pass next, or 0 when no more follow
 */
store_rc store_notifications_list(store *s, const char *status, int64_t cursor, int limit, json_t **out,
                                  int64_t *next_cursor, char *err, size_t errlen);

/** {"pending", "sent", "failed", "dry_run", "attempts": {"sent", "retry", "failed"}} as a new object. */
store_rc store_outbox_counts(store *s, json_t **out, char *err, size_t errlen);

/** Open suppression intervals (until > now) as a new array of {service, type, opened_by, severity, opened_at,
 *  until, suppressed}. */
store_rc store_suppressions_list(store *s, int64_t now_ms, json_t **out, char *err, size_t errlen);

/** Rows deleted by one retention batch, by table. */
typedef struct store_expired {
    int64_t logs, windows, anomalies, outbox, delivery_attempts, window_prompts, template_counts, suppressions,
        templates, template_values, incidents;
} store_expired;

/**
 * One batch of line retention, one short transaction: deletes up to max_rows
 * log lines of windows that ended at or before before_ms and were analysed
 * (status analyzed or failed: a window waiting for its first analysis keeps
 * its lines). A window whose lines are all gone is marked; a late line
 * stored into it later clears the mark. The window rows stay.
 * @param[out] out   rows deleted (only logs); zeroed on failure
 * @param[out] more  1 when the batch stopped at its bound: call again
 */
store_rc store_expire_lines(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more, char *err,
                            size_t errlen);

/**
 * One batch of window retention, one short transaction: deletes windows that
 * ended at or before before_ms (but not one being analysed) with everything
 * that hangs off them: their remaining lines, anomalies, notifications and
 * delivery attempts, prompt and template counts; at most about max_rows rows
 * (a window's rows other than its lines are deleted whole). When no such
 * window is left, suppression intervals that ended before before_ms go too.
 * @param[out] out   rows deleted, by table; zeroed on failure
 * @param[out] more  1 when the batch stopped at its bound: call again
 */
store_rc store_expire_windows(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more,
                              char *err, size_t errlen);

/**
 * One batch of template retention, one short transaction: deletes up to
 * max_rows templates (of any service) last recorded at or before before_ms
 * (wall-clock time). A miner that still holds one records it again, under
 * the same id, when a later window sees it.
 * @param[out] out   rows deleted (only templates); zeroed on failure
 * @param[out] more  1 when the batch stopped at its bound: call again
 */
store_rc store_expire_templates(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more,
                                char *err, size_t errlen);

/**
 * One batch of incident retention, one short transaction: deletes resolved
 * incidents that ended (event time) and were resolved (wall-clock time) at or
 * before before_ms and have no member anomaly left (window retention took
 * them), each with the incidents once merged into it (which point at it).
 * An open incident is never deleted, nor one with a member left. About
 * max_rows incidents at most (a deleted incident's merged ones go with it).
 * @param[out] out   rows deleted (only incidents); zeroed on failure
 * @param[out] more  1 when the batch stopped at its bound: call again
 */
store_rc store_expire_incidents(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more,
                                char *err, size_t errlen);

/* ---- evidence: the lines a model's quote names (evidence.c) ---------------- */

/** A line of store_window_lines_at: its position in the read (0-based), time, level (or NULL) and message, all
 *  valid during the call. Returns non-zero to stop. */
typedef int (*store_line_at_fn)(int64_t position, int64_t ts_ms, const char *level, const char *message, void *arg);

/**
 * The lines stamped ts_ms among those one read of a window saw (ids in
 * (after_id, upto_id], the first max by (ts, id), as store_window_read reads
 * them), to fn in that order with their positions in the read, until fn
 * returns non-zero. Costs one index range count and the lines of that
 * millisecond, not a read of the window: the evidence check of a quote that
 * keeps its timestamp.
 */
store_rc store_window_lines_at(store *s, int64_t window_id, int64_t after_id, int64_t upto_id, size_t max,
                               int64_t ts_ms, store_line_at_fn fn, void *arg, char *err, size_t errlen);

/* ---- incidents (incidents.c) --------------------------------------------------
 * An anomaly joins an incident inside the transaction that records it
 * (store_window_finish with m->incidents), as incident.h decides. */

/** Filters of an incident listing; NULL / 0 means "no filter". */
typedef struct incident_query {
    const char *service;          /**< incidents with a member of this service */
    const char *status;           /**< open | resolved */
    int min_severity;             /**< 0: any; 1..4 at least low..critical */
    int has_since, has_until;
    int64_t since_ms, until_ms;   /**< incidents whose [start, end] overlaps [since, until) */
    int has_cursor;
    int64_t cursor_start, cursor_id;
    int limit;
} incident_query;

/**
 * Lists incidents newest first (by start, then id) as API objects.
 * @param[out] out          new JSON array
 * @param[out] next_cursor  "<start>:<id>" when more follow, else empty
 */
store_rc store_incidents_list(store *s, const incident_query *q, json_t **out, char *next_cursor, size_t curlen,
                              char *err, size_t errlen);

/** One incident with its timeline (its members by first anomalous line) as a new object, or STORE_NOTFOUND. */
store_rc store_incident_get(store *s, int64_t id, json_t **out, char *err, size_t errlen);

/**
 * Feedback on an incident: the verdict and note are recorded on it and given
 * to each of its members as store_anomaly_feedback would (a false positive
 * marks their templates benign), all in one transaction.
 * @param[out] out  the incident as store_incident_get gives it (new reference)
 * @return STORE_NOTFOUND when there is no such incident
 */
store_rc store_incident_feedback(store *s, int64_t id, const char *verdict, const char *note, json_t **out,
                                 char *err, size_t errlen);

/**
 * Resolves open incidents quiet for ic->quiet_ms (incident.h), at most 50 per
 * call, each in its own transaction; with rt, an incident that notified
 * queues its resolve to every destination its notifications went to
 * (route_incident.h). @param[out] resolved  how many were
 */
store_rc store_incidents_resolve(store *s, int64_t now_ms, const incident_config *ic, const route_config *rt,
                                 int *resolved, char *err, size_t errlen);

/**
 * Takes the next incident for the model's one call: unmerged, more than one
 * member, not taken before, and resolved or without a new member for
 * settle_ms; it is marked taken in the same statement, so it is read once.
 * @param[out] out  the incident with its timeline (store_incident_get)
 * @return STORE_OK, STORE_NOTFOUND when none is due, or an error
 */
store_rc store_incident_to_summarize(store *s, int64_t now_ms, int64_t settle_ms, json_t **out, char *err,
                                     size_t errlen);

/**
 * Records the model's answer for an incident ({"summary", "root_cause",
 * "first_action"}: summary_by becomes "llm"), or, with answer NULL, why there
 * is none (note; the correlation's summary stands).
 */
store_rc store_incident_summary_set(store *s, int64_t id, const json_t *answer, const char *note, char *err,
                                    size_t errlen);

/** Names of up to max services (the first created first), as a new JSON array. */
store_rc store_service_names(store *s, size_t max, json_t **out, char *err, size_t errlen);

/** Gauges: incidents open and the members they hold. */
store_rc store_incidents_open(store *s, int64_t *open, int64_t *members, char *err, size_t errlen);

#endif
