/*
 * sqlite_stmt.c — what the SQLite driver (db_sqlite.c) and its write path
 * (sqlite_ingest.c) both use: a connection's statements prepared on first
 * use (SQLITE_PREPARE_PERSISTENT, reset and unbound when handed out), a
 * SQLite result code as a store_rc, and its error text.
 *
 * Threads: a connection's statements are used only by the thread that holds
 * the connection. Limits: DB_MAX_STMTS statements per connection.
 */
#include "store/sqlite_int.h"

#include <stdio.h>

void sq_set_err(char *err, size_t errlen, const char *what, sqlite3 *db)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

store_rc sq_rc(int src)
{
    switch (src & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return STORE_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_BUSY;
    default:
        return STORE_ERROR;
    }
}

sqlite3_stmt *sq_stmt(db_conn *c, db_stmt *st)
{
    int slot = db_slot(st);
    if (!c->st[slot]) {
        const char *sql = st->sqlite ? st->sqlite : st->sql;
        if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[slot], NULL) != SQLITE_OK)
            return NULL;
    } else {
        sqlite3_reset(c->st[slot]);
        sqlite3_clear_bindings(c->st[slot]);
    }
    return c->st[slot];
}
