/*
 * sqlite_int.h — what the SQLite driver (db_sqlite.c) shares with its ingest
 * write path (sqlite_ingest.c). Private to src/store/; the only header with a
 * SQLite type in it.
 */
#ifndef ANOMALOG_STORE_SQLITE_INT_H
#define ANOMALOG_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/db.h"

struct db_conn {
    sqlite3 *db;
    sqlite3_stmt *st[DB_MAX_STMTS];
};

/* Cache slot: services by name hash, windows by (service id, start). */
typedef struct svc_slot {
    char *name;
    int64_t id;
    int64_t max_ts; /* pending watermark in the current transaction */
    int touched;
} svc_slot;

typedef struct win_slot {
    int64_t service_id, start_ms; /* service_id 0: empty */
    int64_t id;
    int64_t pending; /* lines added in the current transaction */
} win_slot;

typedef struct sq {
    store base;              /* first: the rest of the store sees a store */
    db_conn ck;              /* the checkpointer's */
    pthread_t ck_thread;
    pthread_mutex_t ck_mu;
    pthread_cond_t ck_cv;
    int ck_started, ck_due, ck_stop;
    int ck_mark;             /* writer only: WAL size at which the checkpointer was last woken */
    /* the write path's caches (sqlite_ingest.c) */
    svc_slot *svc;
    win_slot *win;
    size_t svc_used, win_used;
    size_t *svc_dirty, *win_dirty; /* slots touched in the current transaction, to flush and reset */
    size_t svc_ndirty, win_ndirty;
} sq;

/* sqlite_stmt.c: the statement st of c, prepared on first use, reset and unbound; NULL on error. */
sqlite3_stmt *sq_stmt(db_conn *c, db_stmt *st);
/* STORE_OK, STORE_BUSY or STORE_ERROR for a SQLite result code. */
store_rc sq_rc(int src);
void sq_set_err(char *err, size_t errlen, const char *what, sqlite3 *db);

/* sqlite_ingest.c */
int sq_ingest_init(sq *s);
void sq_ingest_free(sq *s);
store_rc sq_write_batches(store *base, batch *const *batches, size_t n, int64_t window_ms, char *err, size_t errlen);
store_rc sq_journal_seq(store *base, uint64_t *seq, char *err, size_t errlen);

#endif
