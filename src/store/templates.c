/*
 * templates.c — a service's templates: loading them into its miner, the
 * history of each over earlier windows (for digests and the baseline),
 * recording a digested window, and marking templates known-benign.
 *
 * Threads: reads on a borrowed read connection; recording and marking on the
 * background connection, one transaction each. Recording the same window
 * again changes no total: a template's count for a window is inserted once
 * (ON CONFLICT DO NOTHING) and only a new row adds to the total.
 */
#include <stdio.h>
#include <stdlib.h>

#include "store/db.h"
#include "store/queries.h"

store_rc store_templates_load(store *s, int64_t service_id,
                              void (*fn)(void *arg, int64_t id, const char *text, uint64_t total), void *arg,
                              char *err, size_t errlen)
{
    load_arg a = {fn, arg};
    return db_read(s, &sql_tpl_load, DB_ARGS(db_int(service_id)), template_load_row, &a, err, errlen);
}

store_rc store_template_history(store *s, int64_t service_id, int64_t from_ms, int64_t before_ms,
                                template_history **rows, size_t *n, int *depth, double *error_avg, char *err,
                                size_t errlen)
{
    hist_acc a = {0};
    depth_out d = {0, -1};
    store_rc rc = db_read(s, &sql_tpl_known, DB_ARGS(db_int(service_id), db_int(before_ms)), hist_known_row, &a, err,
                          errlen);
    if (rc == STORE_OK && a.oom) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc == STORE_OK)
        rc = db_read(s, &sql_tpl_counts, DB_ARGS(db_int(service_id), db_int(from_ms), db_int(before_ms)), hist_count_row,
                     &a, err, errlen);
    if (rc == STORE_OK)
        rc = db_read(s, &sql_tpl_depth, DB_ARGS(db_int(service_id), db_int(from_ms), db_int(before_ms)), depth_row, &d,
                     err, errlen);
    if (rc != STORE_OK) {
        free(a.v);
        return rc;
    }
    *rows = a.v;
    *n = a.n;
    *depth = d.depth;
    *error_avg = d.avg;
    return STORE_OK;
}

typedef struct record_arg {
    int64_t service_id, window_id, window_start;
    const store_template *t;
    size_t n;
    long error_lines;
} record_arg;

static store_rc record_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    const record_arg *r = p;
    store_rc rc = STORE_OK;
    for (size_t i = 0; i < r->n && rc == STORE_OK; i++) {
        const store_template *t = &r->t[i];
        int64_t added = 0;
        rc = db_run(s, c, &sql_tpl_upsert,
                    DB_ARGS(db_int(r->service_id), db_int(t->id), db_text(t->text), db_int(t->max_level),
                            db_int(r->window_start)),
                    NULL, NULL, NULL, err, errlen);
        if (rc == STORE_OK)
            rc = db_run(s, c, &sql_tpl_count_insert,
                        DB_ARGS(db_int(r->service_id), db_int(r->window_start), db_int(t->id), db_int((int64_t)t->count)),
                        NULL, NULL, &added, err, errlen);
        if (rc == STORE_OK && added == 1) /* first time this window is recorded */
            rc = db_run(s, c, &sql_tpl_total, DB_ARGS(db_int(r->service_id), db_int(t->id), db_int((int64_t)t->count)),
                        NULL, NULL, NULL, err, errlen);
    }
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_tpl_window_errors, DB_ARGS(db_int(r->window_id), db_int(r->error_lines)), NULL, NULL, NULL,
                    err, errlen);
    return rc;
}

store_rc store_templates_record(store *s, int64_t service_id, int64_t window_id, int64_t window_start,
                                const store_template *t, size_t n, long error_lines, char *err, size_t errlen)
{
    record_arg r = {service_id, window_id, window_start, t, n, error_lines};
    return db_tx(s, record_tx, &r, err, errlen);
}

store_rc templates_mark_benign(store *s, db_conn *c, int64_t service_id, const int64_t *ids, size_t n, char *err,
                               size_t errlen)
{
    store_rc rc = STORE_OK;
    for (size_t i = 0; i < n && rc == STORE_OK; i++)
        rc = db_run(s, c, &sql_tpl_benign, DB_ARGS(db_int(service_id), db_int(ids[i])), NULL, NULL, NULL, err, errlen);
    return rc;
}

typedef struct benign_arg {
    int64_t service_id;
    const int64_t *ids;
    size_t n;
} benign_arg;

static store_rc benign_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    const benign_arg *b = p;
    return templates_mark_benign(s, c, b->service_id, b->ids, b->n, err, errlen);
}

store_rc store_templates_benign(store *s, int64_t service_id, const int64_t *ids, size_t n, char *err, size_t errlen)
{
    benign_arg b = {service_id, ids, n};
    return db_tx(s, benign_tx, &b, err, errlen);
}
