/*
 * db.c — the dialect-free half of the store's SQL layer (see db.h): the
 * reader pool, the
 * background connection and its transactions with retry, statement slots;
 * and the store.h functions that are the same for every backend.
 *
 * Threads: db_read from any thread (the pool is under pool_mu); db_bg and
 * db_tx from the background threads (serialised by bg_mu); the write path
 * from the writer thread only.
 *
 * Limits: DB_READ_POOL_MAX idle read connections are kept (more are opened
 * when needed and closed when given back); DB_MAX_STMTS statements in all.
 */
#include "store/db.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void db_store_init(store *s, const db_driver *drv)
{
    s->drv = drv;
    pthread_mutex_init(&s->bg_mu, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    s->late = late_new(); /* without it every question goes to the database */
}

void db_store_free(store *s)
{
    if (!s)
        return;
    if (s->drv->teardown)
        s->drv->teardown(s);
    for (int i = 0; i < s->pool_n; i++)
        s->drv->conn_close(s->pool[i]);
    if (s->w)
        s->drv->conn_close(s->w);
    if (s->bg)
        s->drv->conn_close(s->bg);
    free(s->target);
    late_free(s->late);
    pthread_mutex_destroy(&s->bg_mu);
    pthread_mutex_destroy(&s->pool_mu);
    free(s);
}

int store_schema_latest(void)
{
    return migrations_count ? migrations[migrations_count - 1].version : 0;
}

int store_schema_version(store *s)
{
    return s->version;
}

store_rc store_write_batches(store *s, batch *const *batches, size_t n, int64_t window_ms, char *err, size_t errlen)
{
    return s->drv->write_batches(s, batches, n, window_ms, err, errlen);
}

int store_has_journal(store *s)
{
    return s->drv->journal_seq != NULL;
}

store_rc store_journal_seq(store *s, uint64_t *seq, char *err, size_t errlen)
{
    if (!s->drv->journal_seq) {
        *seq = 0;
        return STORE_OK;
    }
    return s->drv->journal_seq(s, seq, err, errlen);
}

int db_slot(db_stmt *st)
{
    static int next;
    int slot = __atomic_load_n(&st->slot, __ATOMIC_ACQUIRE);
    if (slot)
        return slot;
    int mine = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED), expected = 0;
    assert(mine < DB_MAX_STMTS);
    if (__atomic_compare_exchange_n(&st->slot, &expected, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return mine;
    return expected; /* another thread handed one out first; mine stays unused */
}

static db_conn *reader_get(store *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->pool_mu);
    db_conn *c = s->pool_n ? s->pool[--s->pool_n] : NULL;
    pthread_mutex_unlock(&s->pool_mu);
    if (c)
        return c;
    return s->drv->conn_open(s, DB_READER, &c, err, errlen) == STORE_OK ? c : NULL;
}

static void reader_put(store *s, db_conn *c)
{
    pthread_mutex_lock(&s->pool_mu);
    if (s->pool_n < DB_READ_POOL_MAX && s->drv->conn_ok(c)) {
        s->pool[s->pool_n++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (c)
        s->drv->conn_close(c);
}

store_rc db_read(store *s, db_stmt *st, const db_val *args, int nargs, row_fn fn, void *arg, char *err,
                 size_t errlen)
{
    db_conn *c = reader_get(s, err, errlen);
    if (!c)
        return STORE_ERROR;
    store_rc rc = s->drv->run(c, st, args, nargs, fn, arg, NULL, err, errlen);
    reader_put(s, c);
    return rc;
}

store_rc db_bg(store *s, db_stmt *st, const db_val *args, int nargs, row_fn fn, void *arg, int64_t *changes,
               char *err, size_t errlen)
{
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = s->drv->run(s->bg, st, args, nargs, fn, arg, changes, err, errlen);
    pthread_mutex_unlock(&s->bg_mu);
    return rc;
}

store_rc db_tx(store *s, db_tx_fn fn, void *arg, char *err, size_t errlen)
{
    store_rc rc = STORE_ERROR;
    pthread_mutex_lock(&s->bg_mu);
    for (int attempt = 0; attempt < s->drv->tx_tries; attempt++) {
        if (err && errlen)
            err[0] = '\0';
        rc = s->drv->begin(s->bg, err, errlen);
        if (rc == STORE_OK)
            rc = fn(s, s->bg, arg, err, errlen);
        if (rc == STORE_OK)
            rc = s->drv->exec(s->bg, "COMMIT", err, errlen);
        if (rc == STORE_OK)
            break;
        if (s->drv->in_tx(s->bg))
            s->drv->exec(s->bg, "ROLLBACK", NULL, 0);
        if (rc != STORE_BUSY)
            break;
    }
    pthread_mutex_unlock(&s->bg_mu);
    return rc;
}

int db_row_i64(const store_row *r, void *arg)
{
    *(int64_t *)arg = row_i64(r, 0);
    return 1;
}

int db_row_ids(const store_row *r, void *arg)
{
    db_ids *a = arg;
    if (a->n < a->cap)
        a->v[a->n++] = row_i64(r, 0);
    return a->n == a->cap;
}

typedef struct int_of {
    int64_t v;
    int found;
} int_of;

static int int_of_row(const store_row *r, void *arg)
{
    int_of *o = arg;
    o->v = row_i64(r, 0);
    o->found = 1;
    return 1;
}

store_rc db_int_of(store *s, db_conn *c, db_stmt *st, const db_val *args, int nargs, int64_t *out, int *found,
                   char *err, size_t errlen)
{
    int_of o = {0, 0};
    store_rc rc = s->drv->run(c, st, args, nargs, int_of_row, &o, NULL, err, errlen);
    if (rc == STORE_OK && o.found)
        *out = o.v;
    if (found)
        *found = o.found;
    return rc;
}
