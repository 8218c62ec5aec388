/*
 * sqlite_ingest.c — the SQLite write path (store_write_batches) and the
 * ingest journal's mark; the journal itself is writer.c's.
 *
 * Thread: the writer's only, on the write connection (s->w).
 *
 * The writer hands over several batches at once (group commit); they are
 * written in one transaction. Service ids and window ids are cached in
 * memory (bounded hash tables of CACHE_SLOTS, cleared when 3/4 full or after
 * a rollback), so a steady stream costs one INSERT per entry plus one UPDATE
 * per touched window per commit. Late lines are counted by the UPDATE
 * itself, inside the transaction, from the window's status at that moment,
 * so no cache can make a late line look on time. A batch's Idempotency-Key
 * (batch.idem) is written in the same transaction as its lines (idem_put),
 * and so is the journal mark (journal_state), so they are committed or
 * rolled back together.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"
#include "store/queries.h"
#include "store/sqlite_int.h"

#define CACHE_SLOTS 4096 /* power of two; each of the two caches */

int sq_ingest_init(sq *s)
{
    return !(s->svc = calloc(CACHE_SLOTS, sizeof *s->svc)) || !(s->win = calloc(CACHE_SLOTS, sizeof *s->win)) ||
           !(s->svc_dirty = calloc(CACHE_SLOTS, sizeof *s->svc_dirty)) ||
           !(s->win_dirty = calloc(CACHE_SLOTS, sizeof *s->win_dirty));
}

void sq_ingest_free(sq *s)
{
    if (s->svc)
        for (size_t i = 0; i < CACHE_SLOTS; i++)
            free(s->svc[i].name);
    free(s->svc);
    free(s->win);
    free(s->svc_dirty);
    free(s->win_dirty);
    s->svc = NULL;
    s->win = NULL;
    s->svc_dirty = s->win_dirty = NULL;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t hash_win(int64_t service_id, int64_t start)
{
    uint64_t h = (uint64_t)service_id * 0x9E3779B97F4A7C15ULL ^ (uint64_t)start * 0xC2B2AE3D27D4EB4FULL;
    return h ^ (h >> 29);
}

static void caches_clear(sq *s)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        free(s->svc[i].name);
    memset(s->svc, 0, CACHE_SLOTS * sizeof *s->svc);
    memset(s->win, 0, CACHE_SLOTS * sizeof *s->win);
    s->svc_used = s->win_used = s->svc_ndirty = s->win_ndirty = 0;
}

/* Caches are cleared between transactions when 3/4 full, so a probe always ends. */
static void caches_trim(sq *s)
{
    if (s->svc_used > CACHE_SLOTS * 3 / 4 || s->win_used > CACHE_SLOTS * 3 / 4)
        caches_clear(s);
}

/* The id of a service or window row, inserted first if it is not there (on a cache miss). */
static int row_id(sq *s, db_stmt *st, const db_val *args, int nargs, int64_t *id)
{
    store_rc rc = db_int_of(&s->base, s->base.w, st, args, nargs, id, NULL, NULL, 0);
    return rc == STORE_OK ? SQLITE_OK : rc == STORE_BUSY ? SQLITE_BUSY : SQLITE_ERROR;
}

static int service_slot(sq *s, const char *name, int64_t now, svc_slot **out)
{
    size_t len = strlen(name);
    size_t i = hash_bytes(name, len) & (CACHE_SLOTS - 1);
    while (s->svc[i].name) {
        if (strcmp(s->svc[i].name, name) == 0) {
            *out = &s->svc[i];
            return SQLITE_OK;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    int64_t id = 0;
    int rc = row_id(s, &sql_sqw_service_id, DB_ARGS(db_textn(name, len), db_int(now)), &id);
    if (rc != SQLITE_OK)
        return rc;
    if (!(s->svc[i].name = strdup(name)))
        return SQLITE_NOMEM;
    s->svc[i].id = id;
    s->svc_used++;
    *out = &s->svc[i];
    return SQLITE_OK;
}

static int window_slot(sq *s, int64_t service_id, int64_t start, int64_t window_ms, win_slot **out)
{
    size_t i = hash_win(service_id, start) & (CACHE_SLOTS - 1);
    while (s->win[i].service_id) {
        if (s->win[i].service_id == service_id && s->win[i].start_ms == start) {
            *out = &s->win[i];
            return SQLITE_OK;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    int64_t id = 0;
    int rc = row_id(s, &sql_sqw_window_id, DB_ARGS(db_int(service_id), db_int(start), db_int(start + window_ms)), &id);
    if (rc != SQLITE_OK)
        return rc;
    s->win[i] = (win_slot){.service_id = service_id, .start_ms = start, .id = id};
    s->win_used++;
    *out = &s->win[i];
    return SQLITE_OK;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int write_entry(sq *s, const log_entry *e, int64_t received, int64_t window_ms)
{
    svc_slot *sv = NULL;
    int rc = service_slot(s, e->service, received, &sv);
    if (rc != SQLITE_OK)
        return rc;
    if (!sv->touched) {
        sv->touched = 1;
        sv->max_ts = e->ts_ms;
        s->svc_dirty[s->svc_ndirty++] = (size_t)(sv - s->svc);
    } else if (e->ts_ms > sv->max_ts) {
        sv->max_ts = e->ts_ms;
    }
    win_slot *wn = NULL;
    int64_t start = floor_div(e->ts_ms, window_ms) * window_ms;
    if ((rc = window_slot(s, sv->id, start, window_ms, &wn)) != SQLITE_OK)
        return rc;
    if (wn->pending++ == 0)
        s->win_dirty[s->win_ndirty++] = (size_t)(wn - s->win);

    sqlite3_stmt *q = sq_stmt(s->base.w, &sql_sqw_log_insert);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, wn->id);
    sqlite3_bind_int64(q, 2, e->ts_ms);
    if (e->level)
        sqlite3_bind_text(q, 3, e->level, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, e->message, (int)e->message_len, SQLITE_STATIC);
    if (e->attributes)
        sqlite3_bind_text(q, 5, e->attributes, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 6, received);
    rc = sqlite3_step(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}
static int write_journal_seq(sq *s, uint64_t seq)
{
    sqlite3_stmt *q = sq_stmt(s->base.w, &sql_sqw_journal_put);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
    int rc = sqlite3_step(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

store_rc sq_journal_seq(store *base, uint64_t *seq, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    sqlite3_stmt *q = sq_stmt(s->base.w, &sql_sqw_journal_get);
    if (!q) {
        sq_set_err(err, errlen, "journal", s->base.w->db);
        return STORE_ERROR;
    }
    int rc = sqlite3_step(q);
    *seq = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sq_set_err(err, errlen, "journal", s->base.w->db);
        return sq_rc(rc);
    }
    return STORE_OK;
}

/* Runs st of the write connection with ?1..?3 = a, b, c; *changed (may be NULL): whether it changed a row. */
static int run3(sq *s, db_stmt *st, int64_t a, int64_t b, int64_t c, int *changed)
{
    sqlite3_stmt *q = sq_stmt(s->base.w, st);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, a);
    sqlite3_bind_int64(q, 2, b);
    sqlite3_bind_int64(q, 3, c);
    int rc = sqlite3_step(q);
    if (changed)
        *changed = sqlite3_changes(s->base.w->db) > 0;
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int flush_counts(sq *s, int64_t now)
{
    int rc = SQLITE_OK, changed = 1;
    for (size_t k = 0; k < s->win_ndirty && rc == SQLITE_OK; k++) {
        win_slot *wn = &s->win[s->win_dirty[k]];
        rc = run3(s, &sql_sqw_window_add, wn->id, wn->pending, now, &changed);
        if (rc == SQLITE_OK && !changed)
            return SQLITE_NOTFOUND; /* window retention deleted a cached window: see store_write_batches */
    }
    for (size_t k = 0; k < s->svc_ndirty && rc == SQLITE_OK; k++) {
        svc_slot *sv = &s->svc[s->svc_dirty[k]];
        rc = run3(s, &sql_sqw_service_touch, sv->id, sv->max_ts, now, NULL);
    }
    return rc;
}

static void pending_reset(sq *s)
{
    for (size_t k = 0; k < s->win_ndirty; k++)
        s->win[s->win_dirty[k]].pending = 0;
    for (size_t k = 0; k < s->svc_ndirty; k++)
        s->svc[s->svc_dirty[k]].touched = 0;
    s->win_ndirty = s->svc_ndirty = 0;
}

store_rc sq_write_batches(store *base, batch *const *batches, size_t n, int64_t window_ms, char *err,
                             size_t errlen)
{
    sq *s = (sq *)base;
    assert(window_ms > 0);
    caches_trim(s);
    int64_t now = time_now_ms();
    int rc = SQLITE_OK;
    uint64_t journal_seq = 0;
    /* A window cached by id may have been deleted by window retention since
     * (a line older than retention.windows): flush_counts notices, and the
     * transaction is written again once with empty caches, which recreate it. */
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = sqlite3_exec(s->base.w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            sq_set_err(err, errlen, "begin", s->base.w->db);
            return sq_rc(rc);
        }
        for (size_t b = 0; b < n && rc == SQLITE_OK; b++) {
            const batch *bt = batches[b];
            for (size_t i = 0; i < bt->count && rc == SQLITE_OK; i++) {
                /* a cache that fills up inside one huge transaction is emptied and
                 * refilled from the database, whose rows this transaction can see */
                if (s->svc_used > CACHE_SLOTS * 3 / 4 || s->win_used > CACHE_SLOTS * 3 / 4) {
                    if ((rc = flush_counts(s, now)) != SQLITE_OK)
                        break;
                    pending_reset(s);
                    caches_clear(s);
                }
                rc = write_entry(s, &bt->entries[i], bt->received_ms, window_ms);
            }
            if (rc == SQLITE_OK && bt->idem)
                rc = idem_put(base, base->w, bt->idem, err, errlen) == STORE_OK ? SQLITE_OK : SQLITE_ERROR;
            if (bt->journal_seq > journal_seq)
                journal_seq = bt->journal_seq;
        }
        if (rc == SQLITE_OK && journal_seq)
            rc = write_journal_seq(s, journal_seq);
        if (rc == SQLITE_OK)
            rc = flush_counts(s, now);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->base.w->db, "COMMIT", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            break;
        if (rc == SQLITE_NOTFOUND)
            snprintf(err, errlen, "write: a window was deleted by retention during the write");
        else
            sq_set_err(err, errlen, "write", s->base.w->db);
        sqlite3_exec(s->base.w->db, "ROLLBACK", NULL, NULL, NULL);
        caches_clear(s); /* ids inserted by the rolled-back transaction are gone */
        if (rc != SQLITE_NOTFOUND)
            break;
    }
    if (rc != SQLITE_OK) {
        store_rc out = sq_rc(rc);
        return out == STORE_OK ? STORE_ERROR : out;
    }
    pending_reset(s);
    return STORE_OK;
}
