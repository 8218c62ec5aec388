/*
 * backend.h — what a storage backend provides. Private to src/store/.
 *
 * dispatch.c is a thin dispatcher: every public function of store.h calls the
 * entry of the same name in the store's ops table. A backend's own struct
 * starts with a `store` (whose only field is the ops pointer) and casts.
 * The SQLite backend is sqlite.c, the PostgreSQL one pg.c; rows.c holds what
 * both share (rows into API objects, notification bodies).
 */
#ifndef ANOMALOG_STORE_BACKEND_H
#define ANOMALOG_STORE_BACKEND_H

#include "anomalog/store.h"

typedef struct store_ops {
    void (*close)(store *s);
    int (*schema_version)(store *s);
    store_rc (*write_batches)(store *s, batch *const *batches, size_t n, int64_t window_ms, char *err, size_t errlen);
    store_rc (*windows_list)(store *s, const window_query *q, window_info **rows, size_t *n, int *has_more, char *err, size_t errlen);
    store_rc (*window_get)(store *s, int64_t id, window_info *out, char *err, size_t errlen);
    store_rc (*count_logs)(store *s, int64_t *count, char *err, size_t errlen);
    store_rc (*metrics)(store *s, int64_t windows[5], int64_t *db_bytes, char *err, size_t errlen);
    store_rc (*ping)(store *s, char *err, size_t errlen);
    store_rc (*windows_close)(store *s, int64_t now_ms, int64_t grace_ms, int force, const char *service, int *closed, char *err, size_t errlen);
    store_rc (*windows_recover)(store *s, int *recovered, char *err, size_t errlen);
    store_rc (*window_claim)(store *s, int64_t now_ms, int64_t lease_ms, int retry_failed, window_work *w, char *err, size_t errlen);
    store_rc (*window_lines)(store *s, int64_t window_id, size_t max, window_lines *out, char *err, size_t errlen);
    store_rc (*window_finish)(store *s, const window_work *w, const json_t *verdict, const analysis_meta *m, char *err, size_t errlen);
    store_rc (*window_fail)(store *s, const window_work *w, const char *reason, int64_t next_attempt_ms, const analysis_meta *m, char *err, size_t errlen);
    store_rc (*window_release)(store *s, const window_work *w, char *err, size_t errlen);
    store_rc (*window_service_id)(store *s, int64_t window_id, int64_t *service_id, char *err, size_t errlen);
    store_rc (*windows_count)(store *s, const char *status, int64_t *n, char *err, size_t errlen);
    store_rc (*anomalies_list)(store *s, const anomaly_query *q, json_t **out, char *next_cursor, size_t curlen, char *err, size_t errlen);
    store_rc (*window_anomalies)(store *s, int64_t window_id, json_t **out, char *err, size_t errlen);
    store_rc (*window_prompt)(store *s, int64_t window_id, json_t **out, char *err, size_t errlen);
    store_rc (*services_list)(store *s, json_t **out, char *err, size_t errlen);
    store_rc (*service_set_context)(store *s, const char *name, const char *context, const char *source, json_t **service, char *err, size_t errlen);
    store_rc (*templates_load)(store *s, int64_t service_id, void (*fn)(void *arg, int64_t id, const char *text, uint64_t total), void *arg, char *err, size_t errlen);
    store_rc (*template_history)(store *s, int64_t service_id, int64_t from_ms, int64_t before_ms, template_history **rows, size_t *n, int *depth, double *error_avg, char *err, size_t errlen);
    store_rc (*templates_record)(store *s, int64_t service_id, int64_t window_id, int64_t window_start, const store_template *t, size_t n, long error_lines, char *err, size_t errlen);
    store_rc (*templates_benign)(store *s, int64_t service_id, const int64_t *ids, size_t n, char *err, size_t errlen);
    store_rc (*anomaly_feedback)(store *s, int64_t anomaly_id, const char *verdict, const char *note, json_t **out, char *err, size_t errlen);
    store_rc (*outbox_claim)(store *s, int64_t now_ms, int64_t lease_ms, outbox_item *it, char *err, size_t errlen);
    store_rc (*outbox_record)(store *s, int64_t id, int64_t now_ms, int http_status, const char *outcome, const char *error, int64_t next_attempt_ms, char *err, size_t errlen);
    store_rc (*outbox_recover)(store *s, int64_t now_ms, int *recovered, char *err, size_t errlen);
    store_rc (*notifications_list)(store *s, const char *status, int64_t cursor, int limit, json_t **out, int64_t *next_cursor, char *err, size_t errlen);
    store_rc (*outbox_counts)(store *s, json_t **out, char *err, size_t errlen);
    store_rc (*suppressions_list)(store *s, int64_t now_ms, json_t **out, char *err, size_t errlen);
    store_rc (*expire_lines)(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more, char *err, size_t errlen);
    store_rc (*idempotency_get)(store *s, const char *scope, const char *key, int64_t after_ms, idempotency_record *out, char *err, size_t errlen);
    store_rc (*idempotency_prune)(store *s, int64_t before_ms, int limit, int *deleted, char *err, size_t errlen);
    store_rc (*journal_seq)(store *s, uint64_t *seq, char *err, size_t errlen); /* NULL: no journal */
    store_rc (*expire_windows)(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more, char *err, size_t errlen);
} store_ops;

struct store {
    const store_ops *ops;
};

/* Opens the SQLite file at path (sqlite.c). */
store_rc store_sqlite_open(const char *path, store_durability durability, store **out, char *err, size_t errlen);

/* Connects to the PostgreSQL database at a libpq URI (pg.c). */
store_rc store_pg_open(const char *url, store_durability durability, store **out, char *err, size_t errlen);

#endif
