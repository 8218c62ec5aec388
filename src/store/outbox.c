/*
 * outbox.c — notifications waiting to be sent, their delivery attempts, and
 * the suppression intervals that decide which anomalies queue them.
 *
 * Threads: outbox_route_anomaly inside the finish transaction (analysis.c);
 * claim, record and recover on the background connection (the sender
 * thread); listings on a borrowed read connection.
 *
 * Claims: a claimed notification is leased: its next_attempt_at moves to
 * now + lease, so one whose sender died is due again once the lease ran out.
 * The rows of one (dedup key, destination) are claimed in the order they were
 * queued: none while an earlier one is pending (in its retries, leased, or an
 * incident's open held for incident.group_wait), so an update or a resolve
 * never overtakes the open it follows.
 * On PostgreSQL the claim skips rows another replica holds (SKIP LOCKED) and
 * start-up recovery releases only leases that ran out; on SQLite (one
 * process) recovery makes every claimed notification due now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/route_decide.h"
#include "anomalog/severity.h"
#include "store/db.h"
#include "store/queries.h"

/* ---- routing an anomaly (inside the finish transaction) ----------------------------- */

/* One outbox row (route_notifications' callback; db.h). */
int outbox_put(void *arg, const route_dest *d, const char *dedup, const char *body)
{
    outbox_put_arg *pa = arg;
    return db_run(pa->s, pa->c, &sql_out_insert,
                  DB_ARGS(db_int(pa->anomaly_id), db_text(d->name), db_text(dest_kind_name(d->kind)), db_text(dedup),
                          db_text(body), db_text(pa->status), db_int(pa->now), db_int(pa->due)),
                  NULL, NULL, NULL, pa->err, pa->errlen) == STORE_OK
               ? 0
               : -1;
}

static int open_row(const store_row *r, void *arg)
{
    route_open *o = arg;
    *o = (route_open){.exists = 1, .opened_by = row_i64(r, 0), .severity_rank = (int)row_i64(r, 1),
                      .until_ms = row_i64(r, 3)};
    return 1;
}

store_rc outbox_pair_decide(store *s, db_conn *c, const window_work *w, const json_t *a, int64_t anomaly_id,
                            int64_t now, const route_config *rt, route_decision *d, char *err, size_t errlen)
{
    const char *type = json_string_value(json_object_get(a, "type"));
    const char *sev = json_string_value(json_object_get(a, "severity"));
    *d = (route_decision){.suppress = 1};
    if (!type || !sev)
        return STORE_OK;
    int rank = severity_rank(sev);
    route_open open = {0};
    store_rc rc = db_run(s, c, &sql_out_suppression_get, DB_ARGS(db_int(w->service_id), db_text(type)), open_row, &open,
                         NULL, err, errlen);
    if (rc != STORE_OK)
        return rc;
    *d = route_decide(rt, w->service, type, rank, &open, now);
    if (d->suppress)
        return db_run(s, c, &sql_out_suppress, DB_ARGS(db_int(anomaly_id), db_int(d->suppressed_by)), NULL, NULL, NULL, err,
                      errlen);
    return db_run(s, c, &sql_out_suppression_open,
                  DB_ARGS(db_int(w->service_id), db_text(type), db_int(anomaly_id), db_int(rank), db_int(now),
                          db_int(d->until_ms)),
                  NULL, NULL, NULL, err, errlen);
}

store_rc outbox_route_anomaly(store *s, db_conn *c, const window_work *w, const json_t *a, int64_t anomaly_id,
                              int64_t now, const route_config *rt, char *err, size_t errlen)
{
    route_decision d;
    store_rc rc = outbox_pair_decide(s, c, w, a, anomaly_id, now, rt, &d, err, errlen);
    if (rc != STORE_OK || d.suppress)
        return rc;
    outbox_put_arg pa = {s, c, anomaly_id, now, rt->dry_run ? "dry_run" : "pending", err, errlen, 0};
    route_window rw = {.id = w->id, .service = w->service, .start_ms = w->start_ms, .end_ms = w->end_ms};
    int rank = severity_rank(json_string_value(json_object_get(a, "severity")));
    if (route_notifications(rt, &rw, a, rank, anomaly_id, now, d.until_ms, outbox_put, &pa)) {
        if (!*err)
            snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* ---- the sender's side ---------------------------------------------------------------- */

static int claim_row(const store_row *r, void *arg)
{
    outbox_item *it = arg;
    it->id = row_i64(r, 0);
    it->anomaly_id = row_i64(r, 1);
    row_copy(r, 2, it->destination, sizeof it->destination);
    row_copy(r, 3, it->kind, sizeof it->kind);
    row_copy(r, 4, it->dedup_key, sizeof it->dedup_key);
    const char *p = row_text(r, 5);
    it->payload = strdup(p ? p : "");
    it->attempts = (int)row_i64(r, 6);
    it->created_at = row_i64(r, 7);
    return 1;
}

store_rc store_outbox_claim(store *s, int64_t now_ms, int64_t lease_ms, outbox_item *it, char *err, size_t errlen)
{
    memset(it, 0, sizeof *it);
    store_rc rc = db_bg(s, &sql_out_claim, DB_ARGS(db_int(now_ms), db_int(lease_ms)), claim_row, it, NULL, err, errlen);
    if (rc != STORE_OK)
        return rc;
    if (!it->id)
        return STORE_NOTFOUND;
    if (!it->payload) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    return STORE_OK;
}

typedef struct record_arg {
    int64_t id, now;
    int http_status;
    const char *outcome, *error;
    int64_t next_attempt_ms;
} record_arg;

static store_rc record_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    const record_arg *r = p;
    store_rc rc = db_run(s, c, &sql_out_attempt,
                         DB_ARGS(db_int(r->id), db_int(r->now), db_int_or_null(r->http_status), db_text(r->outcome),
                                 db_text(r->error)),
                         NULL, NULL, NULL, err, errlen);
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_out_result,
                    DB_ARGS(db_int(r->id), db_text(r->outcome), db_int(r->now), db_int(r->next_attempt_ms),
                            db_text(r->error)),
                    NULL, NULL, NULL, err, errlen);
    return rc;
}

store_rc store_outbox_record(store *s, int64_t id, int64_t now_ms, int http_status, const char *outcome,
                             const char *error, int64_t next_attempt_ms, char *err, size_t errlen)
{
    record_arg r = {id, now_ms, http_status, outcome, error, next_attempt_ms};
    return db_tx(s, record_tx, &r, err, errlen);
}

store_rc store_outbox_recover(store *s, int64_t now_ms, int *recovered, char *err, size_t errlen)
{
    int64_t n = 0;
    store_rc rc = db_bg(s, &sql_out_recover, DB_ARGS(db_int(now_ms)), NULL, NULL, &n, err, errlen);
    *recovered = rc == STORE_OK ? (int)n : 0;
    return rc;
}

/* ---- reads ------------------------------------------------------------------------------ */

store_rc store_notifications_list(store *s, const char *status, int64_t cursor, int limit, json_t **out,
                                  int64_t *next_cursor, char *err, size_t errlen)
{
    json_page a = {.arr = json_array(), .limit = limit};
    *next_cursor = 0;
    store_rc rc = db_read(s, &sql_out_list, DB_ARGS(db_text(status), db_int_or_null(cursor > 0 ? cursor : -1),
                                               db_int(limit + 1)),
                          notification_row, &a, err, errlen);
    rc = json_page_end(&a, rc, "listing notifications", out, NULL, 0, err, errlen);
    if (rc == STORE_OK && a.more)
        *next_cursor = a.last_id;
    return rc;
}

store_rc store_outbox_counts(store *s, json_t **out, char *err, size_t errlen)
{
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:{s:i, s:i, s:i}}", "pending", 0, "sent", 0, "failed", 0, "dry_run", 0,
                          "attempts", "sent", 0, "retry", 0, "failed", 0);
    store_rc rc = db_read(s, &sql_out_counts, DB_NOARGS, count_row, o, err, errlen);
    if (rc != STORE_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return STORE_OK;
}

store_rc store_suppressions_list(store *s, int64_t now_ms, json_t **out, char *err, size_t errlen)
{
    json_t *arr = json_array();
    store_rc rc = db_read(s, &sql_out_suppressions, DB_ARGS(db_int(now_ms)), suppression_row, arr, err, errlen);
    if (rc != STORE_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return STORE_OK;
}

void outbox_item_free(outbox_item *it)
{
    if (it) {
        free(it->payload);
        it->payload = NULL;
    }
}
