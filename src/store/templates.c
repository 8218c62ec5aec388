/*
 * templates.c — a service's templates: loading them into its miner, the
 * history of each over earlier windows (for digests and the baseline),
 * recording a digested window (within the service's bound) and marking
 * templates known-benign.
 *
 * Threads: reads on a borrowed read connection; recording and marking on
 * the background connection, one transaction each. Recording the
 * same window again changes no total: a template's count for a window is
 * inserted once (ON CONFLICT DO NOTHING) and only a new row adds to the total.
 *
 * Bounds (migration 014): a service keeps at most max_templates rows, as its
 * miner keeps at most that many templates: recording a window evicts the
 * least recently seen past the bound, in the same transaction. Retention
 * deletes templates not recorded for retention.windows (wall-clock time, in
 * batches: store_expire_templates, expire.c), so no template text outlives
 * the windows it came from.
 *
 * A pruned template may still be live in a miner (analysis' cache keeps
 * miners between windows): the next window that sees it records it again
 * under the same id (the upsert inserts it), first seen in that window,
 * with its history starting again, as the miner's own eviction would. Ids
 * are never given to another template: services.template_id_max is the
 * highest id the service ever recorded, and a miner rebuilt from the table
 * assigns above it (store_templates_load hands it out), so a new template
 * never inherits an evicted one's counts or an old anomaly's feedback.
 */
#include <stdio.h>
#include <stdlib.h>

#include "anomalog/timeutil.h"
#include "store/db.h"
#include "store/queries.h"

store_rc store_templates_load(store *s, int64_t service_id,
                              void (*fn)(void *arg, int64_t id, const char *text, uint64_t total), void *arg,
                              int64_t *id_max, char *err, size_t errlen)
{
    load_arg a = {fn, arg};
    *id_max = 0;
    store_rc rc = db_read(s, &sql_tpl_load, DB_ARGS(db_int(service_id)), template_load_row, &a, err, errlen);
    return rc == STORE_OK ? db_read(s, &sql_tpl_id_max_get, DB_ARGS(db_int(service_id)), db_row_i64, id_max, err,
                                    errlen)
                          : rc;
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
    size_t max_templates;
    int late; /* the late part of an analysed window: its counts add to the window's */
} record_arg;

/* Past the bound, the service's least recently seen templates go (the miner's order: last_seen, then the older id). */
static store_rc evict_tx(store *s, db_conn *c, const record_arg *r, char *err, size_t errlen)
{
    int64_t have = 0;
    if (r->max_templates == 0)
        return STORE_OK;
    store_rc rc = db_int_of(s, c, &sql_tpl_count, DB_ARGS(db_int(r->service_id)), &have, NULL, err, errlen);
    if (rc != STORE_OK || have <= (int64_t)r->max_templates)
        return rc;
    return db_run(s, c, &sql_tpl_evict, DB_ARGS(db_int(r->service_id), db_int(have - (int64_t)r->max_templates)),
                  NULL, NULL, NULL, err, errlen);
}

static store_rc record_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    const record_arg *r = p;
    store_rc rc = STORE_OK;
    int64_t now = time_now_ms(), top = 0;
    for (size_t i = 0; i < r->n && rc == STORE_OK; i++) {
        const store_template *t = &r->t[i];
        int64_t added = 0;
        if (t->id > top)
            top = t->id;
        rc = db_run(s, c, &sql_tpl_upsert,
                    DB_ARGS(db_int(r->service_id), db_int(t->id), db_text(t->text), db_int(t->max_level),
                            db_int(r->window_start), db_int(now)),
                    NULL, NULL, NULL, err, errlen);
        if (rc == STORE_OK)
            rc = db_run(s, c, r->late ? &sql_tpl_count_add : &sql_tpl_count_insert,
                        DB_ARGS(db_int(r->service_id), db_int(r->window_start), db_int(t->id), db_int((int64_t)t->count)),
                        NULL, NULL, &added, err, errlen);
        if (rc == STORE_OK && (added == 1 || r->late)) /* first time this window is recorded, or its late lines */
            rc = db_run(s, c, &sql_tpl_total, DB_ARGS(db_int(r->service_id), db_int(t->id), db_int((int64_t)t->count)),
                        NULL, NULL, NULL, err, errlen);
    }
    if (rc == STORE_OK && top > 0)
        rc = db_run(s, c, &sql_tpl_id_max_set, DB_ARGS(db_int(r->service_id), db_int(top)), NULL, NULL, NULL, err,
                    errlen);
    if (rc == STORE_OK && r->n > 0)
        rc = evict_tx(s, c, r, err, errlen);
    if (rc == STORE_OK)
        rc = db_run(s, c, r->late ? &sql_tpl_window_errors_add : &sql_tpl_window_errors, DB_ARGS(db_int(r->window_id), db_int(r->error_lines)), NULL, NULL, NULL,
                    err, errlen);
    return rc;
}

store_rc store_templates_record(store *s, int64_t service_id, int64_t window_id, int64_t window_start,
                                const store_template *t, size_t n, long error_lines, size_t max_templates, int late,
                                char *err, size_t errlen)
{
    record_arg r = {service_id, window_id, window_start, t, n, error_lines, max_templates, late};
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
