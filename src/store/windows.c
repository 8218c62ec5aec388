/*
 * windows.c — windows: listing and reading them (with their lines), closing
 * them, and the claim that hands one to an analysis worker, written once for
 * both dialects.
 *
 * Threads: reads on a borrowed read connection from any thread; closing,
 * recovering, claiming and releasing on the background connection.
 *
 * Claims: a service's windows are analysed in order (each one's history is
 * the windows before it): the oldest closed window with no earlier one of its
 * service pending, else the oldest failed window due for retry, else an
 * analysed window due to be read by the model again; apart from those, an
 * analysed window with late lines (store_window_claim_late, migration 010):
 * late_count above the late_seen its last analysis recorded, grace after
 * that analysis. Every analysis reads the lines above analyzed_line_id (0
 * for a window never analysed, and for a model's re-read), and finish
 * records the highest id it read, so late lines are read once and findings
 * are not recorded twice. On PostgreSQL, shared by
 * replicas, rows are taken FOR UPDATE SKIP LOCKED, a claim holds a lease
 * (windows.lease_until) and the window's attempt count is the claim's token:
 * release (and finish, fail: analysis.c) only take effect for the current
 * claim. SQLite, one process, has no leases.
 *
 * Paging a window's lines (GET /windows/{id}/lines, store_window_lines_page,
 * and the analysis's store_window_read) walks logs_by_window in (ts, id)
 * order from the cursor's pair (migration 012), so a page also costs the rows
 * it returns, however deep it is; a page of the API stops at max_bytes of
 * JSON too (one line at least), so 1000 lines of 64 KiB are not one answer.
 *
 * Listing newest first reads an index in (start, id) descending order between
 * two bounds, so a page costs the rows it returns, whatever the filters, the
 * depth of the cursor or the size of the tables:
 *  - upper: ?4/?5, the smaller of the cursor and (until, 0) (ids are
 *    positive, so start < until), bound by the caller (list_upper);
 *  - lower: "end > since" says nothing about start to the planner, so the
 *    start > since - (longest window) bound is added; the longest window is
 *    a max() over the windows_by_length index (migration 007). Without since
 *    both are NULL and the bound is the smallest integer.
 * The status and health filters have statements of their own whose equality
 * leads an index in the same order (007); a service has its own (service_id,
 * start) index, and the other filters are checked on the rows read.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"
#include "store/db.h"
#include "store/queries.h"

typedef struct windows_acc {
    window_info *v;
    size_t n;
} windows_acc;

static int window_into(const store_row *r, void *arg)
{
    windows_acc *a = arg;
    window_from_row(r, &a->v[a->n++]);
    return 0;
}

/* The (start, id) every listed row is below: the smaller of the cursor and (until, 0), or the largest pair
 * when neither is given. */
void list_upper(int has_until, int64_t until, int has_cursor, int64_t cur_start, int64_t cur_id, int64_t *start,
                int64_t *id)
{
    *start = INT64_MAX;
    *id = INT64_MAX;
    if (has_cursor) {
        *start = cur_start;
        *id = cur_id;
    }
    if (has_until && (until < *start || (until == *start && *id > 0))) {
        *start = until;
        *id = 0;
    }
}

store_rc store_windows_list(store *s, const window_query *wq, window_info **rows, size_t *n, int *has_more,
                            char *err, size_t errlen)
{
    *rows = NULL;
    *n = 0;
    *has_more = 0;
    db_stmt *st = wq->service ? &sql_win_list_service : wq->status ? &sql_win_list_status
                                                 : wq->health ? &sql_win_list_health
                                                              : &sql_win_list_all;
    int64_t up_start, up_id;
    list_upper(wq->has_until, wq->until_ms, wq->has_cursor, wq->cursor_start, wq->cursor_id, &up_start, &up_id);
    windows_acc a = {calloc((size_t)wq->limit + 1, sizeof *a.v), 0};
    if (!a.v) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    store_rc rc = db_read(s, st,
                          DB_ARGS(wq->has_since ? db_int(wq->since_ms) : db_null(), db_null(), db_text(wq->status),
                                  db_int(up_start), db_int(up_id), db_int(wq->limit + 1), db_text(wq->service),
                                  db_text(wq->health)),
                          window_into, &a, err, errlen);
    if (rc != STORE_OK) {
        free(a.v);
        return rc;
    }
    if (a.n > (size_t)wq->limit) {
        *has_more = 1;
        a.n = (size_t)wq->limit;
    }
    *rows = a.v;
    *n = a.n;
    return STORE_OK;
}

static int window_one(const store_row *r, void *arg)
{
    window_from_row(r, arg);
    return 1;
}

store_rc store_window_get(store *s, int64_t id, window_info *out, char *err, size_t errlen)
{
    out->id = 0;
    store_rc rc = db_read(s, &sql_win_get, DB_ARGS(db_int(id)), window_one, out, err, errlen);
    return rc == STORE_OK && !out->id ? STORE_NOTFOUND : rc;
}

store_rc store_windows_count(store *s, const char *status, int64_t *n, char *err, size_t errlen)
{
    *n = 0;
    return db_read(s, &sql_win_count_status, DB_ARGS(db_text(status)), db_row_i64, n, err, errlen);
}

store_rc store_window_service_id(store *s, int64_t window_id, int64_t *service_id, char *err, size_t errlen)
{
    *service_id = 0;
    store_rc rc = db_read(s, &sql_win_service_id, DB_ARGS(db_int(window_id)), db_row_i64, service_id, err, errlen);
    if (rc == STORE_OK && !*service_id) {
        snprintf(err, errlen, "no window %lld", (long long)window_id);
        return STORE_NOTFOUND;
    }
    return rc;
}

typedef struct read_page {
    window_line_fn fn;
    void *arg;
    size_t rows;       /* rows of this page */
    size_t left;       /* lines the read may still hand over */
    int64_t last_ts, last_id, max_id;
    int stopped;
} read_page;

static int page_row(const store_row *r, void *arg)
{
    read_page *p = arg;
    const char *msg = row_text(r, 2);
    window_line l = {.ts_ms = row_i64(r, 0), .level = row_text(r, 1), .message = msg ? msg : "",
                     .id = row_i64(r, 3), .attributes = row_text(r, 4)};
    p->rows++;
    p->left--;
    p->last_ts = l.ts_ms;
    p->last_id = l.id;
    if (l.id > p->max_id)
        p->max_id = l.id;
    if (p->fn(&l, p->arg)) {
        p->stopped = 1;
        return 1;
    }
    return p->left == 0;
}

static json_t *text_json(const char *t)
{
    json_t *v = json_string(t ? t : "");
    return v ? v : json_string("(not valid UTF-8)"); /* ingest stores valid UTF-8: only a hand-edited row */
}

/* GET /windows/{id}/lines: one line as an API object into the page, whose keyset is (ts, id) */
static int line_page_row(const store_row *r, void *arg)
{
    if (json_page_full(arg))
        return 1;
    int64_t id = row_i64(r, 0), ts = row_i64(r, 1);
    const char *attrs = row_text(r, 4);
    json_t *at = attrs ? json_loads(attrs, 0, NULL) : NULL;
    json_t *o = json_pack("{s:I, s:o, s:o, s:o, s:o}", "id", (json_int_t)id, "ts", json_time(ts), "level",
                          row_null(r, 2) ? json_null() : text_json(row_text(r, 2)), "message",
                          text_json(row_text(r, 3)), "attributes", json_is_object(at) ? at : json_null());
    if (at && !json_is_object(at))
        json_decref(at);
    return json_page_add_new(arg, o, ts, id);
}

store_rc store_window_lines_page(store *s, const line_page_query *q, json_t **out, char *next_cursor,
                                 size_t curlen, char *err, size_t errlen)
{
    assert(q->limit >= 1);
    json_page a = {.arr = json_array(), .limit = q->limit, .max_bytes = q->max_bytes};
    store_rc rc = db_read(s, &sql_win_lines_page,
                          DB_ARGS(db_int(q->window_id), db_int(q->has_cursor ? q->cursor_ts : INT64_MIN),
                                  db_int(q->has_cursor ? q->cursor_id : 0), db_int(q->limit + 1)),
                          line_page_row, &a, err, errlen);
    return json_page_end(&a, rc, "reading window lines", out, next_cursor, curlen, err, errlen);
}

/* Pages by (ts, id) after the last row handed over: each page is one indexed range read (logs_by_window,
 * migration 012), so a page costs its rows whatever the window's size or the page's depth. */
store_rc store_window_read(store *s, int64_t window_id, int64_t after_id, int64_t upto_id, size_t max,
                           window_line_fn fn, void *arg, int64_t *max_id, size_t *n_read, char *err, size_t errlen)
{
    read_page p = {.fn = fn, .arg = arg, .left = max, .last_ts = INT64_MIN, .last_id = 0, .max_id = after_id};
    store_rc rc = STORE_OK;
    if (upto_id <= 0)
        rc = db_read(s, &sql_win_read_top, DB_NOARGS, db_row_i64, &upto_id, err, errlen);
    while (rc == STORE_OK && p.left > 0 && !p.stopped) {
        size_t want = p.left < STORE_LINES_PAGE ? p.left : STORE_LINES_PAGE;
        p.rows = 0;
        rc = db_read(s, &sql_win_read_page,
                     DB_ARGS(db_int(window_id), db_int(after_id), db_int(upto_id), db_int(p.last_ts),
                             db_int(p.last_id), db_int((int64_t)want)),
                     page_row, &p, err, errlen);
        if (p.rows < want)
            break; /* the last page */
    }
    if (max_id)
        *max_id = rc == STORE_OK ? p.max_id : after_id;
    if (n_read)
        *n_read = max - p.left;
    return rc;
}

store_rc store_windows_close(store *s, int64_t now_ms, int64_t grace_ms, int force, const char *service,
                             int *closed, char *err, size_t errlen)
{
    int64_t n = 0;
    store_rc rc;
    if (!force)
        rc = db_bg(s, &sql_win_close_due, DB_ARGS(db_int(now_ms), db_int(grace_ms)), NULL, NULL, &n, err, errlen);
    else if (service)
        rc = db_bg(s, &sql_win_close_service, DB_ARGS(db_int(now_ms), db_text(service)), NULL, NULL, &n, err, errlen);
    else
        rc = db_bg(s, &sql_win_close_all, DB_ARGS(db_int(now_ms)), NULL, NULL, &n, err, errlen);
    *closed = rc == STORE_OK ? (int)n : 0;
    if (n > 0)
        late_forget(s->late); /* store_window_is_late's answers about open windows (late.c) */
    return rc;
}

store_rc store_windows_recover(store *s, int *recovered, char *err, size_t errlen)
{
    int64_t n = 0;
    store_rc rc = db_bg(s, &sql_win_recover, DB_ARGS(db_int(time_now_ms())), NULL, NULL, &n, err, errlen);
    *recovered = rc == STORE_OK ? (int)n : 0;
    return rc;
}

typedef struct claim_arg {
    int64_t now, lease;
    int retry_failed;
    int64_t late_grace; /* >= 0: claim a window with late lines only (store_window_claim_late) */
    window_work *w;
} claim_arg;

static int late_marks_row(const store_row *r, void *arg)
{
    window_work *w = arg;
    w->after_line_id = row_i64(r, 0);
    w->late_seen = row_i64(r, 1);
    w->next_attempt_at = row_i64(r, 2);
    return 1;
}

static int claimed_row(const store_row *r, void *arg)
{
    window_work *w = arg;
    w->service_id = row_i64(r, 0);
    w->start_ms = row_i64(r, 1);
    w->end_ms = row_i64(r, 2);
    w->line_count = row_i64(r, 3);
    w->attempts = (int)row_i64(r, 4);
    row_copy(r, 5, w->service, sizeof w->service);
    row_copy(r, 6, w->health, sizeof w->health);
    return 1;
}

static int context_row(const store_row *r, void *arg)
{
    const char *t = row_text(r, 0);
    if (t)
        *(char **)arg = strdup(t);
    return 1;
}

static store_rc claim_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    claim_arg *a = p;
    window_work *w = a->w;
    window_work_free(w);
    memset(w, 0, sizeof *w);
    int64_t id = 0;
    int found = 0;
    store_rc rc = STORE_OK;
    if (a->late_grace >= 0) {
        rc = db_int_of(s, c, &sql_late_claim, DB_ARGS(db_int(a->now), db_int(a->late_grace)), &id, &found, err,
                       errlen);
        w->late = found;
    } else {
        rc = db_int_of(s, c, &sql_win_claim_closed, DB_ARGS(db_int(a->now)), &id, &found, err, errlen);
    }
    if (rc == STORE_OK && !found && a->retry_failed && a->late_grace < 0)
        rc = db_int_of(s, c, &sql_win_claim_failed, DB_ARGS(db_int(a->now)), &id, &found, err, errlen);
    if (rc == STORE_OK && !found && a->retry_failed && a->late_grace < 0) {
        rc = db_int_of(s, c, &sql_win_claim_reanalyze, DB_ARGS(db_int(a->now)), &id, &found, err, errlen);
        w->reanalysis = found;
    }
    if (rc != STORE_OK)
        return rc;
    if (!found)
        return STORE_NOTFOUND;
    w->id = id;
    rc = db_run(s, c, &sql_win_claim_set, DB_ARGS(db_int(id), db_int(a->now + a->lease)), claimed_row, w, NULL, err,
                errlen);
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_win_service_context, DB_ARGS(db_int(w->service_id)), context_row, &w->context, NULL, err,
                    errlen);
    /* where this analysis starts: above the last one's lines (a window claimed again for its late lines, or
     * put back by a crash during that); a model's re-read reads the whole window */
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_late_marks, DB_ARGS(db_int(id)), late_marks_row, w, NULL, err, errlen);
    if (w->reanalysis)
        w->after_line_id = 0;
    return rc;
}

store_rc store_window_claim(store *s, int64_t now_ms, int64_t lease_ms, int retry_failed, window_work *w, char *err,
                            size_t errlen)
{
    memset(w, 0, sizeof *w);
    claim_arg a = {now_ms, lease_ms, retry_failed, -1, w};
    store_rc rc = db_tx(s, claim_tx, &a, err, errlen);
    if (rc != STORE_OK)
        window_work_free(w);
    return rc;
}

store_rc store_window_claim_late(store *s, int64_t now_ms, int64_t lease_ms, int64_t grace_ms, window_work *w,
                                 char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    claim_arg a = {now_ms, lease_ms, 1, grace_ms > 0 ? grace_ms : 0, w};
    store_rc rc = db_tx(s, claim_tx, &a, err, errlen);
    if (rc != STORE_OK)
        window_work_free(w);
    return rc;
}

store_rc store_window_release(store *s, const window_work *w, char *err, size_t errlen)
{
    return db_bg(s, &sql_win_release, DB_ARGS(db_int(w->id), db_int(w->attempts)), NULL, NULL, NULL, err, errlen);
}

void window_work_free(window_work *w)
{
    if (w) {
        free(w->context);
        w->context = NULL;
    }
}
