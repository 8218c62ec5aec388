/*
 * expire.c — retention's deletes (store_expire_lines, store_expire_windows,
 * store_expire_templates, store_expire_incidents); the thread that calls
 * them is retention.c.
 *
 * Threads: the background connection, each call one short transaction: at
 * most max_rows rows deleted and EXPIRE_VISITS windows looked at, each found
 * through an index (windows_lines_kept, windows_by_start, logs_by_window,
 * anomalies_by_window, outbox_by_anomaly, delivery_attempts_by_outbox, the
 * primary keys of template_counts and template_values; see 008_retention.sql;
 * incidents_open and incidents_by_merged for incidents). The writer waits
 * for one such batch at most; the caller pauses between batches so the
 * writer gets the lock. On PostgreSQL replicas skip the windows another one
 * is expiring (FOR UPDATE SKIP LOCKED).
 */
#include <assert.h>
#include <string.h>

#include "store/db.h"
#include "store/queries.h"

#define EXPIRE_VISITS 256

typedef struct expire_arg {
    int64_t before, max_rows;
    store_expired *out;
    int *more;
} expire_arg;

static int64_t expired_total(const store_expired *e)
{
    return e->logs + e->windows + e->anomalies + e->outbox + e->delivery_attempts + e->window_prompts +
           e->template_counts + e->suppressions + e->templates + e->template_values + e->incidents;
}

/* st with ?1 = a (and ?2 = b); adds the rows it deleted to *total. */
static store_rc del(store *s, db_conn *c, db_stmt *st, int64_t a, int64_t b, int64_t *total, char *err,
                    size_t errlen)
{
    int64_t n = 0;
    store_rc rc = db_run(s, c, st, DB_ARGS(db_int(a), db_int(b)), NULL, NULL, &n, err, errlen);
    if (total)
        *total += n;
    return rc;
}

/* A batch's counts, zeroed (a retried transaction starts again). */
static store_expired *batch_start(expire_arg *x)
{
    memset(x->out, 0, sizeof *x->out);
    *x->more = 0;
    return x->out;
}

/* Whether the batch is spent (rows deleted, windows visited); then there is more to do. */
static int batch_spent(expire_arg *x, int64_t rows, int visits)
{
    if (rows < x->max_rows && visits < EXPIRE_VISITS)
        return 0;
    *x->more = 1;
    return 1;
}

/* One id's deletes within the batch. */
typedef store_rc (*expire_step)(store *s, db_conn *c, expire_arg *x, int64_t id, char *err, size_t errlen);

/* The steps that go an id at a time: the next id st (?1 = the cutoff) finds, handed to step, until none is left
 * or the batch is spent (*rows: the rows deleted so far, which step adds to). */
static store_rc each_due(store *s, db_conn *c, expire_arg *x, db_stmt *st, const int64_t *rows, expire_step step,
                         char *err, size_t errlen)
{
    store_rc rc = STORE_OK;
    for (int visits = 0; rc == STORE_OK && !batch_spent(x, *rows, visits); visits++) {
        int64_t id = 0;
        int found = 0;
        rc = db_int_of(s, c, st, DB_ARGS(db_int(x->before)), &id, &found, err, errlen);
        if (rc != STORE_OK || !found || !id)
            break;
        rc = step(s, c, x, id, err, errlen);
    }
    return rc;
}

/* a window's lines, within the budget; once none is left the window is marked done */
static store_rc lines_step(store *s, db_conn *c, expire_arg *x, int64_t id, char *err, size_t errlen)
{
    int64_t want = x->max_rows - x->out->logs, got = 0;
    store_rc rc = del(s, c, &sql_exp_window_lines, id, want, &got, err, errlen);
    x->out->logs += got;
    if (rc == STORE_OK && got < want) /* none left: the window is done */
        rc = del(s, c, &sql_exp_lines_done, id, 0, NULL, err, errlen);
    return rc;
}

static store_rc lines_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    expire_arg *x = p;
    return each_due(s, c, x, &sql_exp_lines_next, &batch_start(x)->logs, lines_step, err, errlen);
}

typedef struct next_window {
    int found;
    int64_t id, service_id, start;
} next_window;

static int next_row(const store_row *r, void *arg)
{
    *(next_window *)arg = (next_window){1, row_i64(r, 0), row_i64(r, 1), row_i64(r, 2)};
    return 1;
}

static store_rc windows_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    expire_arg *x = p;
    store_expired *out = batch_start(x);
    store_rc rc = STORE_OK;
    for (int visits = 0; rc == STORE_OK && !batch_spent(x, expired_total(out), visits); visits++) {
        next_window w = {0};
        if ((rc = db_run(s, c, &sql_exp_window_next, DB_ARGS(db_int(x->before)), next_row, &w, NULL, err, errlen)) !=
                STORE_OK ||
            !w.found)
            break;
        /* its lines first, within the budget; the window goes once none is left */
        int64_t want = x->max_rows - expired_total(out), got = 0;
        rc = del(s, c, &sql_exp_window_lines, w.id, want, &got, err, errlen);
        out->logs += got;
        if (rc == STORE_OK && got == want) {
            *x->more = 1;
            break;
        }
        if (rc == STORE_OK)
            rc = del(s, c, &sql_exp_attempts, w.id, 0, &out->delivery_attempts, err, errlen);
        if (rc == STORE_OK)
            rc = del(s, c, &sql_exp_outbox, w.id, 0, &out->outbox, err, errlen);
        if (rc == STORE_OK)
            rc = del(s, c, &sql_exp_anomalies, w.id, 0, &out->anomalies, err, errlen);
        if (rc == STORE_OK)
            rc = del(s, c, &sql_exp_prompt, w.id, 0, &out->window_prompts, err, errlen);
        if (rc == STORE_OK)
            rc = del(s, c, &sql_exp_template_counts, w.service_id, w.start, &out->template_counts, err, errlen);
        if (rc == STORE_OK)
            rc = del(s, c, &sql_exp_template_values, w.service_id, w.start, &out->template_values, err, errlen);
        if (rc == STORE_OK)
            rc = del(s, c, &sql_exp_window, w.id, 0, &out->windows, err, errlen);
    }
    /* suppression intervals that ended before the cutoff, once the windows are done */
    if (rc == STORE_OK && !*x->more)
        rc = del(s, c, &sql_exp_suppressions, x->before, 0, &out->suppressions, err, errlen);
    return rc;
}

/* templates no window recorded since the cutoff (wall-clock: templates.recorded_at, migration 014) */
static store_rc templates_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    expire_arg *x = p;
    store_expired *out = batch_start(x);
    store_rc rc = del(s, c, &sql_exp_templates, x->before, x->max_rows, &out->templates, err, errlen);
    *x->more = rc == STORE_OK && out->templates >= x->max_rows;
    return rc;
}

/* resolved incidents whose members window retention took, each with the incidents merged into it: an incident
 * outlives its findings only while it is open */
static store_rc incident_step(store *s, db_conn *c, expire_arg *x, int64_t id, char *err, size_t errlen)
{
    return del(s, c, &sql_exp_incident, id, 0, &x->out->incidents, err, errlen);
}

static store_rc incidents_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    expire_arg *x = p;
    return each_due(s, c, x, &sql_exp_incident_next, &batch_start(x)->incidents, incident_step, err, errlen);
}

static store_rc expire(store *s, db_tx_fn fn, int64_t before_ms, int64_t max_rows, store_expired *out, int *more,
                       char *err, size_t errlen)
{
    assert(max_rows > 0);
    expire_arg x = {before_ms, max_rows, out, more};
    store_rc rc = db_tx(s, fn, &x, err, errlen);
    if (rc != STORE_OK) {
        memset(out, 0, sizeof *out);
        *more = 0;
    }
    return rc;
}

store_rc store_expire_lines(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more, char *err,
                            size_t errlen)
{
    return expire(s, lines_tx, before_ms, max_rows, out, more, err, errlen);
}

store_rc store_expire_windows(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more,
                              char *err, size_t errlen)
{
    store_rc rc = expire(s, windows_tx, before_ms, max_rows, out, more, err, errlen);
    if (out->windows > 0)
        late_forget(s->late); /* a line for a deleted window makes a new, open one (late.c) */
    return rc;
}

store_rc store_expire_templates(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more,
                                char *err, size_t errlen)
{
    return expire(s, templates_tx, before_ms, max_rows, out, more, err, errlen);
}

store_rc store_expire_incidents(store *s, int64_t before_ms, int64_t max_rows, store_expired *out, int *more,
                                char *err, size_t errlen)
{
    return expire(s, incidents_tx, before_ms, max_rows, out, more, err, errlen);
}
