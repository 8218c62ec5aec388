/*
 * db_sqlite.c — the SQLite driver of the store's SQL layer (see db.h): the
 * file, its connections, statements, transactions, migrations and the WAL
 * checkpointer. The domains (windows.c, analysis.c, ...) run on it; the
 * ingest write path is sqlite_ingest.c.
 *
 * Connections: one write connection (s->w), used only by the writer thread;
 * a background connection (s->bg, under bg_mu) for the scheduler, the
 * analysis workers, the notifier and retention, each in short transactions
 * (BEGIN IMMEDIATE: the write lock is taken at the start, so a transaction
 * never fails half-way on a lock); a pool of read-only connections that HTTP
 * threads borrow for one query. WAL mode lets readers run while the writer
 * commits. Every connection waits up to BUSY_TIMEOUT_MS for a lock (SQLite's
 * busy handler is the retry: db_tx does not try again).
 *
 * Statements: each connection prepares a statement on first use with
 * SQLITE_PREPARE_PERSISTENT into its slot and keeps it until it closes; a
 * statement handed out is reset and unbound. Parameters past the text's
 * largest ?N are not bound (a text one dialect wrote shorter).
 *
 * Checkpoints: the write connection does not checkpoint the WAL itself (its
 * auto-checkpoint is off): a checkpoint copies pages into the database file
 * and syncs it, work that would stall every request waiting on the writer.
 * Its WAL hook, called after each commit with the WAL's size, wakes the
 * checkpointer thread, which runs PASSIVE checkpoints on a connection of its
 * own (they never block the writer or readers), each time the WAL has grown
 * by CKPT_PAGES pages since it last woke it. Should it fall behind, the
 * writer checkpoints itself once the WAL passes CKPT_WRITER_PAGES, so the WAL
 * stays bounded.
 */
#include "store/sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000
#define CKPT_PAGES 1000          /* the checkpointer runs from this WAL size (SQLite's auto-checkpoint default) */
#define CKPT_WRITER_PAGES 20000  /* the writer checkpoints itself past this (80 MB of 4 KiB pages) */

static store_rc sq_fail(db_conn *c, int src, const char *what, char *err, size_t errlen)
{
    sq_set_err(err, errlen, what, c->db);
    store_rc rc = sq_rc(src);
    return rc == STORE_OK ? STORE_ERROR : rc;
}

/* A row of a stepped statement, read through store_row (rows.h). */
static int row_null_sq(const store_row *r, int col)
{
    return sqlite3_column_type((sqlite3_stmt *)r->impl, col) == SQLITE_NULL;
}

static int64_t row_i64_sq(const store_row *r, int col)
{
    return sqlite3_column_int64((sqlite3_stmt *)r->impl, col);
}

static double row_f64_sq(const store_row *r, int col)
{
    return sqlite3_column_double((sqlite3_stmt *)r->impl, col);
}

static const char *row_text_sq(const store_row *r, int col)
{
    return (const char *)sqlite3_column_text((sqlite3_stmt *)r->impl, col);
}

static char *row_blob_sq(const store_row *r, int col, size_t *len)
{
    sqlite3_stmt *q = (sqlite3_stmt *)r->impl;
    const void *p = sqlite3_column_blob(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    if (n)
        memcpy(out, p, n);
    out[n] = '\0';
    if (len)
        *len = n;
    return out;
}

static store_rc sq_run(db_conn *c, db_stmt *st, const db_val *args, int nargs, row_fn fn, void *arg,
                       int64_t *changes, char *err, size_t errlen)
{
    if (!st->sqlite && !st->sql)
        return STORE_OK; /* a statement only the other dialect needs */
    sqlite3_stmt *q = sq_stmt(c, st);
    if (!q)
        return sq_fail(c, SQLITE_ERROR, "prepare", err, errlen);
    int max = sqlite3_bind_parameter_count(q);
    for (int i = 0; i < nargs && i < max; i++) {
        const db_val *v = &args[i];
        switch (v->t) {
        case DB_NULL:
            break;
        case DB_INT:
            sqlite3_bind_int64(q, i + 1, v->i);
            break;
        case DB_TEXT:
            sqlite3_bind_text64(q, i + 1, v->p, v->n, SQLITE_STATIC, SQLITE_UTF8);
            break;
        case DB_BLOB:
            sqlite3_bind_blob64(q, i + 1, v->p, v->n, SQLITE_STATIC);
            break;
        }
    }
    store_row r = {.impl = q, .null = row_null_sq, .i64 = row_i64_sq, .f64 = row_f64_sq, .text = row_text_sq,
                   .blob_dup = row_blob_sq};
    int rc, stopped = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        if (!stopped && fn && fn(&r, arg))
            stopped = 1; /* the rest is stepped through: a RETURNING statement's changes all apply */
    store_rc out = STORE_OK;
    if (rc != SQLITE_DONE)
        out = sq_fail(c, rc, "query", err, errlen);
    else if (changes)
        *changes = sqlite3_changes(c->db);
    /* Reset at once: a statement left on a row keeps its read snapshot open past COMMIT, and it
     * unbinds borrowed text before the caller frees it. */
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return out;
}

static store_rc sq_exec(db_conn *c, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        if (err && errlen)
            snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        store_rc r = sq_rc(rc);
        return r == STORE_OK ? STORE_ERROR : r;
    }
    return STORE_OK;
}

static store_rc sq_begin(db_conn *c, char *err, size_t errlen)
{
    return sq_exec(c, "BEGIN IMMEDIATE", err, errlen);
}

static int sq_in_tx(db_conn *c)
{
    return !sqlite3_get_autocommit(c->db);
}

static int sq_conn_ok(db_conn *c)
{
    (void)c;
    return 1;
}

static void conn_fini(db_conn *c)
{
    for (int i = 0; i < DB_MAX_STMTS; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    memset(c, 0, sizeof *c);
}

static void sq_conn_close(db_conn *c)
{
    if (c) {
        conn_fini(c);
        free(c);
    }
}

static int conn_init(db_conn *c, const char *path, int readonly, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (readonly ? 0 : SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        sq_set_err(err, errlen, path, c->db);
        conn_fini(c);
        return -1;
    }
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    if (readonly && sqlite3_exec(c->db, "PRAGMA query_only = ON", NULL, NULL, NULL) != SQLITE_OK) {
        sq_set_err(err, errlen, "query_only", c->db);
        conn_fini(c);
        return -1;
    }
    return 0;
}

static store_rc sq_conn_open(store *s, db_role role, db_conn **out, char *err, size_t errlen)
{
    *out = NULL;
    db_conn *c = malloc(sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    if (conn_init(c, s->target, role == DB_READER, err, errlen)) {
        free(c);
        return STORE_ERROR;
    }
    *out = c;
    return STORE_OK;
}

static void *checkpointer_main(void *arg)
{
    sq *s = arg;
    pthread_mutex_lock(&s->ck_mu);
    for (;;) {
        while (!s->ck_due && !s->ck_stop)
            pthread_cond_wait(&s->ck_cv, &s->ck_mu);
        if (s->ck_stop)
            break;
        s->ck_due = 0;
        pthread_mutex_unlock(&s->ck_mu);
        sqlite3_wal_checkpoint_v2(s->ck.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ck_mu);
    }
    pthread_mutex_unlock(&s->ck_mu);
    return NULL;
}

/* After each commit of the write connection, on the writer's thread: pages is the WAL's size. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sq *s = arg;
    if (pages >= CKPT_WRITER_PAGES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else {
        if (pages < s->ck_mark)
            s->ck_mark = 0; /* the WAL was reset */
        if (pages < s->ck_mark + CKPT_PAGES)
            return SQLITE_OK;
        s->ck_mark = pages;
        pthread_mutex_lock(&s->ck_mu);
        s->ck_due = 1;
        pthread_cond_signal(&s->ck_cv);
        pthread_mutex_unlock(&s->ck_mu);
    }
    return SQLITE_OK;
}

static void sq_teardown(store *base)
{
    sq *s = (sq *)base;
    if (s->ck_started) {
        pthread_mutex_lock(&s->ck_mu);
        s->ck_stop = 1;
        pthread_cond_signal(&s->ck_cv);
        pthread_mutex_unlock(&s->ck_mu);
        pthread_join(s->ck_thread, NULL);
    }
    if (s->ck.db)
        conn_fini(&s->ck);
    sq_ingest_free(s);
    pthread_mutex_destroy(&s->ck_mu);
    pthread_cond_destroy(&s->ck_cv);
}

static store_rc sq_ping(store *s, char *err, size_t errlen)
{
    if (access(s->target, W_OK) != 0) {
        snprintf(err, errlen, "%s is not writable", s->target);
        return STORE_ERROR;
    }
    return STORE_OK;
}

static const db_driver sq_driver = {
    .name = "sqlite", .tx_tries = 1, /* the busy handler already waited BUSY_TIMEOUT_MS */
    .conn_open = sq_conn_open, .conn_close = sq_conn_close, .conn_ok = sq_conn_ok,
    .run = sq_run, .exec = sq_exec, .begin = sq_begin, .in_tx = sq_in_tx,
    .teardown = sq_teardown, .ping = sq_ping,
    .write_batches = sq_write_batches, .journal_seq = sq_journal_seq,
};
/* SQLite's memory statistics take a global mutex on every allocation of every
 * connection; nothing here reads them. Must run before SQLite initialises:
 * the first store_open() comes first in every program (a later call, or one
 * after the program used SQLite itself, changes nothing). */
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

store_rc store_sqlite_open(const char *path, store_durability durability, store **out, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_setup);
    *out = NULL;
    sq *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    db_store_init(&s->base, &sq_driver);
    pthread_mutex_init(&s->ck_mu, NULL);
    pthread_cond_init(&s->ck_cv, NULL);
    store *b = &s->base;
    if (!(b->target = strdup(path)) || sq_ingest_init(s)) {
        snprintf(err, errlen, "out of memory");
        db_store_free(b);
        return STORE_ERROR;
    }
    if (sq_conn_open(b, DB_WRITER, &b->w, err, errlen) != STORE_OK) {
        db_store_free(b);
        return STORE_ERROR;
    }
    char mode[64] = "";
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(b->w->db, "PRAGMA journal_mode = WAL", -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(q, 0));
        sqlite3_finalize(q);
    }
    if (strcmp(mode, "wal") != 0) {
        snprintf(err, errlen, "%s: cannot switch to WAL mode (%s)", path, sqlite3_errmsg(b->w->db));
        db_store_free(b);
        return STORE_ERROR;
    }
    const char *sync = durability == STORE_DURABLE_FULL ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
    if (sq_exec(b->w, sync, err, errlen) || db_migrate(b, b->w, migrations, migrations_count, err, errlen) ||
        sq_conn_open(b, DB_BACKGROUND, &b->bg, err, errlen) || sq_exec(b->bg, sync, err, errlen) ||
        conn_init(&s->ck, path, 0, err, errlen) || sq_exec(&s->ck, sync, err, errlen)) {
        db_store_free(b);
        return STORE_ERROR;
    }
    if (pthread_create(&s->ck_thread, NULL, checkpointer_main, s) != 0) {
        snprintf(err, errlen, "cannot start the checkpointer thread");
        db_store_free(b);
        return STORE_ERROR;
    }
    s->ck_started = 1;
    sqlite3_wal_hook(b->w->db, wal_hook, s); /* replaces the auto-checkpoint: see Checkpoints */
    *out = b;
    return STORE_OK;
}
