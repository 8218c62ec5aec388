/*
 * dispatch.c — the store's public functions: choose a backend at open, then hand
 * every call to it (see backend.h). Also what needs no database: freeing the
 * structures the store hands out.
 */
#include "anomalog/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "store/migrations.h"

static int is_pg(const char *path)
{
    return !strncmp(path, "postgres://", 11) || !strncmp(path, "postgresql://", 13);
}

store_rc store_open(const char *path, store_durability durability, store **out, char *err, size_t errlen)
{
    return is_pg(path) ? store_pg_open(path, durability, out, err, errlen)
                       : store_sqlite_open(path, durability, out, err, errlen);
}

const char *store_location(const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "%s", path);
    if (!is_pg(path))
        return buf;
    /* postgresql://user:secret@host/db -> postgresql://user:***@host/db */
    char *auth = strstr(buf, "://") + 3, *at = strchr(auth, '@'), *slash = strchr(auth, '/');
    char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (at && colon && (!slash || at < slash)) {
        char rest[1024];
        snprintf(rest, sizeof rest, "%s", at);
        snprintf(colon, len - (size_t)(colon - buf), ":***%s", rest);
    }
    /* ...?password=secret&... */
    for (char *p = strstr(buf, "password="); p; p = strstr(p, "password=")) {
        p += 9;
        char *end = p + strcspn(p, "&");
        if (end - p != 3 || strncmp(p, "***", 3)) {
            char rest[1024];
            snprintf(rest, sizeof rest, "%s", end);
            snprintf(p, len - (size_t)(p - buf), "***%s", rest);
        }
    }
    return buf;
}

void store_close(store *s)
{
    if (s)
        s->ops->close(s);
}

int store_schema_latest(void)
{
    return migrations_count ? migrations[migrations_count - 1].version : 0;
}

int store_schema_version(store *s)
{
    return s->ops->schema_version(s);
}

store_rc store_write_batches(store *s, batch *const *batches, size_t n, int64_t window_ms, char *err, size_t errlen)
{
    return s->ops->write_batches(s, batches, n, window_ms, err, errlen);
}

int store_has_journal(store *s)
{
    return s->ops->journal_seq != NULL;
}

store_rc store_journal_seq(store *s, uint64_t *seq, char *err, size_t errlen)
{
    if (!s->ops->journal_seq) {
        *seq = 0;
        return STORE_OK;
    }
    return s->ops->journal_seq(s, seq, err, errlen);
}

store_rc store_windows_list(store *s, const window_query *q, window_info **rows, size_t *n, int *has_more, char *err, size_t errlen)
{
    return s->ops->windows_list(s, q, rows, n, has_more, err, errlen);
}

store_rc store_window_get(store *s, int64_t id, window_info *out, char *err, size_t errlen)
{
    return s->ops->window_get(s, id, out, err, errlen);
}

store_rc store_count_logs(store *s, int64_t *count, char *err, size_t errlen)
{
    return s->ops->count_logs(s, count, err, errlen);
}

store_rc store_metrics(store *s, int64_t windows[5], int64_t *db_bytes, char *err, size_t errlen)
{
    return s->ops->metrics(s, windows, db_bytes, err, errlen);
}

store_rc store_ping(store *s, char *err, size_t errlen)
{
    return s->ops->ping(s, err, errlen);
}

store_rc store_windows_close(store *s, int64_t now_ms, int64_t grace_ms, int force, const char *service, int *closed, char *err, size_t errlen)
{
    return s->ops->windows_close(s, now_ms, grace_ms, force, service, closed, err, errlen);
}

store_rc store_windows_recover(store *s, int *recovered, char *err, size_t errlen)
{
    return s->ops->windows_recover(s, recovered, err, errlen);
}

store_rc store_window_claim(store *s, int64_t now_ms, int64_t lease_ms, int retry_failed, window_work *w, char *err,
                            size_t errlen)
{
    return s->ops->window_claim(s, now_ms, lease_ms, retry_failed, w, err, errlen);
}

store_rc store_window_lines(store *s, int64_t window_id, size_t max, window_lines *out, char *err, size_t errlen)
{
    *out = (window_lines){0};
    return s->ops->window_lines(s, window_id, max, out, err, errlen);
}

store_rc store_window_finish(store *s, const window_work *w, const json_t *verdict, const analysis_meta *m, char *err, size_t errlen)
{
    return s->ops->window_finish(s, w, verdict, m, err, errlen);
}

store_rc store_window_fail(store *s, const window_work *w, const char *reason, int64_t next_attempt_ms, const analysis_meta *m, char *err, size_t errlen)
{
    return s->ops->window_fail(s, w, reason, next_attempt_ms, m, err, errlen);
}

store_rc store_window_release(store *s, const window_work *w, char *err, size_t errlen)
{
    return s->ops->window_release(s, w, err, errlen);
}

store_rc store_window_service_id(store *s, int64_t window_id, int64_t *service_id, char *err, size_t errlen)
{
    return s->ops->window_service_id(s, window_id, service_id, err, errlen);
}

store_rc store_windows_count(store *s, const char *status, int64_t *n, char *err, size_t errlen)
{
    return s->ops->windows_count(s, status, n, err, errlen);
}

store_rc store_anomalies_list(store *s, const anomaly_query *q, json_t **out, char *next_cursor, size_t curlen, char *err, size_t errlen)
{
    return s->ops->anomalies_list(s, q, out, next_cursor, curlen, err, errlen);
}

store_rc store_window_anomalies(store *s, int64_t window_id, json_t **out, char *err, size_t errlen)
{
    return s->ops->window_anomalies(s, window_id, out, err, errlen);
}

store_rc store_window_prompt(store *s, int64_t window_id, json_t **out, char *err, size_t errlen)
{
    return s->ops->window_prompt(s, window_id, out, err, errlen);
}

store_rc store_services_list(store *s, json_t **out, char *err, size_t errlen)
{
    return s->ops->services_list(s, out, err, errlen);
}

store_rc store_service_set_context(store *s, const char *name, const char *context, const char *source, json_t **service, char *err, size_t errlen)
{
    return s->ops->service_set_context(s, name, context, source, service, err, errlen);
}

store_rc store_templates_load(store *s, int64_t service_id, void (*fn)(void *arg, int64_t id, const char *text, uint64_t total), void *arg, char *err, size_t errlen)
{
    return s->ops->templates_load(s, service_id, fn, arg, err, errlen);
}

store_rc store_template_history(store *s, int64_t service_id, int64_t from_ms, int64_t before_ms, template_history **rows, size_t *n, int *depth, double *error_avg, char *err, size_t errlen)
{
    return s->ops->template_history(s, service_id, from_ms, before_ms, rows, n, depth, error_avg, err, errlen);
}

store_rc store_templates_record(store *s, int64_t service_id, int64_t window_id, int64_t window_start, const store_template *t, size_t n, long error_lines, char *err, size_t errlen)
{
    return s->ops->templates_record(s, service_id, window_id, window_start, t, n, error_lines, err, errlen);
}

store_rc store_templates_benign(store *s, int64_t service_id, const int64_t *ids, size_t n, char *err, size_t errlen)
{
    return s->ops->templates_benign(s, service_id, ids, n, err, errlen);
}

store_rc store_anomaly_feedback(store *s, int64_t anomaly_id, const char *verdict, const char *note, json_t **out, char *err, size_t errlen)
{
    return s->ops->anomaly_feedback(s, anomaly_id, verdict, note, out, err, errlen);
}

store_rc store_outbox_claim(store *s, int64_t now_ms, int64_t lease_ms, outbox_item *it, char *err, size_t errlen)
{
    return s->ops->outbox_claim(s, now_ms, lease_ms, it, err, errlen);
}

store_rc store_outbox_record(store *s, int64_t id, int64_t now_ms, int http_status, const char *outcome, const char *error, int64_t next_attempt_ms, char *err, size_t errlen)
{
    return s->ops->outbox_record(s, id, now_ms, http_status, outcome, error, next_attempt_ms, err, errlen);
}

store_rc store_outbox_recover(store *s, int64_t now_ms, int *recovered, char *err, size_t errlen)
{
    return s->ops->outbox_recover(s, now_ms, recovered, err, errlen);
}

store_rc store_notifications_list(store *s, const char *status, int64_t cursor, int limit, json_t **out, int64_t *next_cursor, char *err, size_t errlen)
{
    return s->ops->notifications_list(s, status, cursor, limit, out, next_cursor, err, errlen);
}

store_rc store_outbox_counts(store *s, json_t **out, char *err, size_t errlen)
{
    return s->ops->outbox_counts(s, out, err, errlen);
}

store_rc store_suppressions_list(store *s, int64_t now_ms, json_t **out, char *err, size_t errlen)
{
    return s->ops->suppressions_list(s, now_ms, out, err, errlen);
}

store_rc store_expire_lines(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more, char *err,
                            size_t errlen)
{
    return s->ops->expire_lines(s, before_ms, max_rows, out, more, err, errlen);
}

store_rc store_expire_windows(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more,
                              char *err, size_t errlen)
{
    return s->ops->expire_windows(s, before_ms, max_rows, out, more, err, errlen);
}

store_rc store_idempotency_get(store *s, const char *scope, const char *key, int64_t after_ms,
                               idempotency_record *out, char *err, size_t errlen)
{
    return s->ops->idempotency_get(s, scope, key, after_ms, out, err, errlen);
}

store_rc store_idempotency_prune(store *s, int64_t before_ms, int limit, int *deleted, char *err, size_t errlen)
{
    return s->ops->idempotency_prune(s, before_ms, limit, deleted, err, errlen);
}

void idempotency_record_free(idempotency_record *r)
{
    if (!r)
        return;
    free(r->endpoint);
    free(r->body);
    memset(r, 0, sizeof *r);
}

void window_work_free(window_work *w)
{
    if (w) {
        free(w->context);
        w->context = NULL;
    }
}

void outbox_item_free(outbox_item *it)
{
    if (it) {
        free(it->payload);
        it->payload = NULL;
    }
}
