/*
 * values.c — the durations templates carry, one summary per window and
 * token position (table template_values, 016_template_values.sql): written
 * when a window is analysed, read as the history of the windows after it
 * (analyze/latency.c judges the drift).
 *
 * Threads: recording on the background connection, one transaction; reading
 * on a borrowed read connection.
 *
 * Invariants: a summary recorded for a (service, window, template, position)
 * is never changed by recording the window again (ON CONFLICT DO NOTHING: a
 * late pass over a window's late lines keeps the first summary). Every
 * recording deletes the service's rows older than the history the caller
 * reads, so a service holds at most (its history windows + 1) times the rows
 * one window writes (64 at most, latency.h); retention deletes a window's
 * rows with the window (expire.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "store/db.h"
#include "store/queries.h"

typedef struct record_arg {
    int64_t service_id, prune_before;
    const store_value_summary *v;
    size_t n;
} record_arg;

static store_rc record_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    const record_arg *r = p;
    store_rc rc = STORE_OK;
    for (size_t i = 0; i < r->n && rc == STORE_OK; i++) {
        const store_value_summary *v = &r->v[i];
        rc = db_run(s, c, &sql_val_insert,
                    DB_ARGS(db_int(r->service_id), db_int(v->window_start), db_int(v->template_id), db_int(v->pos),
                            db_int(v->count), db_int(v->mean_milli), db_int(v->median_milli), db_int(v->p95_milli)),
                    NULL, NULL, NULL, err, errlen);
    }
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_val_prune, DB_ARGS(db_int(r->service_id), db_int(r->prune_before)), NULL, NULL, NULL,
                    err, errlen);
    return rc;
}

store_rc store_values_record(store *s, int64_t service_id, const store_value_summary *v, size_t n,
                             int64_t prune_before, char *err, size_t errlen)
{
    record_arg r = {service_id, prune_before, v, n};
    return db_tx(s, record_tx, &r, err, errlen);
}

typedef struct values_acc {
    store_value_summary *v;
    size_t n, cap;
    int oom;
} values_acc;

static int value_row(const store_row *q, void *p)
{
    values_acc *a = p;
    if (rows_grow((void **)&a->v, a->n, &a->cap, sizeof *a->v)) {
        a->oom = 1;
        return 1;
    }
    a->v[a->n++] = (store_value_summary){.template_id = row_i64(q, 0), .pos = (int)row_i64(q, 1),
                                         .window_start = row_i64(q, 2), .count = row_i64(q, 3),
                                         .mean_milli = row_i64(q, 4), .median_milli = row_i64(q, 5),
                                         .p95_milli = row_i64(q, 6)};
    return 0;
}

store_rc store_values_history(store *s, int64_t service_id, int64_t from_ms, int64_t before_ms,
                              store_value_summary **rows, size_t *n, char *err, size_t errlen)
{
    values_acc a = {0};
    store_rc rc = db_read(s, &sql_val_history, DB_ARGS(db_int(service_id), db_int(from_ms), db_int(before_ms)),
                          value_row, &a, err, errlen);
    if (rc == STORE_OK && a.oom) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc != STORE_OK) {
        free(a.v);
        return rc;
    }
    *rows = a.v;
    *n = a.n;
    return STORE_OK;
}
