/*
 * evidence.c — the lines a model's evidence quotes, found by a query
 * instead of a copy or a second read of the window.
 *
 * The model copies evidence from the digest, where each line shows its
 * timestamp; an evidence line that keeps it can only quote lines stamped
 * with that millisecond (digest_quote_matches). So the check asks the store
 * for those lines alone: one indexed range read of logs_by_window
 * (window_id, ts, id; migration 012), and the line's position in the
 * analysis' read (the digest's line index, for its template) from one
 * count over the same index. What a read saw is the lines whose id is in
 * (after_id, upto_id], the first max of them by (ts, id): the lines stamped
 * ts_ms in that range come in id order, each at position
 * (lines of the range stamped earlier) + (its rank among them), and the
 * ones at or past max were not read.
 *
 * Threads: a borrowed read connection, from any thread (the analysis
 * workers). Memory: one row at a time; nothing of the window is kept.
 */
#include <assert.h>

#include "store/db.h"
#include "store/queries.h"

typedef struct at_arg {
    store_line_at_fn fn;
    void *arg;
    int64_t next; /* the position of the next row */
} at_arg;

static int at_row(const store_row *r, void *p)
{
    at_arg *a = p;
    const char *msg = row_text(r, 2);
    return a->fn(a->next++, row_i64(r, 0), row_text(r, 1), msg ? msg : "", a->arg);
}

store_rc store_window_lines_at(store *s, int64_t window_id, int64_t after_id, int64_t upto_id, size_t max,
                               int64_t ts_ms, store_line_at_fn fn, void *arg, char *err, size_t errlen)
{
    assert(fn != NULL);
    int64_t before = 0;
    store_rc rc = db_read(s, &sql_ev_before,
                          DB_ARGS(db_int(window_id), db_int(after_id), db_int(upto_id), db_int(ts_ms)), db_row_i64,
                          &before, err, errlen);
    if (rc != STORE_OK || before >= (int64_t)max)
        return rc; /* past the read's first max lines: none of them was read */
    at_arg a = {fn, arg, before};
    return db_read(s, &sql_ev_at,
                   DB_ARGS(db_int(window_id), db_int(after_id), db_int(upto_id), db_int(ts_ms),
                           db_int((int64_t)max - before)),
                   at_row, &a, err, errlen);
}
