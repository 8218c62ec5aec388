/*
 * pg_int.h — what the PostgreSQL driver (db_pg.c) shares with its ingest
 * write path (pg_ingest.c). Private to src/store/; the only header with a
 * libpq type in it.
 */
#ifndef ANOMALOG_STORE_PG_INT_H
#define ANOMALOG_STORE_PG_INT_H

#include <libpq-fe.h>

#include "store/db.h"

struct db_conn {
    PGconn *c;
    unsigned char prepared[DB_MAX_STMTS];
};

/* How a failed call is reported (and r cleared): STORE_BUSY for what a retry may fix. */
store_rc pg_fail(db_conn *c, PGresult *r, const char *what, char *err, size_t errlen);
/* Plain SQL on c. */
store_rc pg_exec(db_conn *c, const char *sql, char *err, size_t errlen);

/* pg_ingest.c */
store_rc pg_write_batches(store *base, batch *const *batches, size_t n, int64_t window_ms, char *err, size_t errlen);

#endif
