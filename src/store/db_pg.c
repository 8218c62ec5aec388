/*
 * db_pg.c — the PostgreSQL driver of the store's SQL layer (see db.h),
 * through libpq. Selected by a database setting that starts with postgres://
 * or postgresql://. Several anomalog replicas may share one database; the
 * domains' PostgreSQL texts lock rows with FOR UPDATE SKIP LOCKED and hold
 * leases so that they can. The ingest write path (COPY) is pg_ingest.c.
 *
 * Connections: one for the writer thread (s->w), one for the scheduler,
 * analysis workers and senders (s->bg, under bg_mu, short transactions), and
 * a pool of read-only ones that HTTP threads borrow for one query. A
 * connection the server dropped is reset on the failing call, which answers
 * STORE_BUSY (the next call runs on the new connection).
 *
 * Statements: prepared on first use per connection (PQprepare, name "s<slot>")
 * with ?N rewritten to $N and each parameter's declared type (int8, text,
 * bytea), so "$1 IS NULL" needs no cast; integers and text travel as text,
 * bytes in binary. Results come back as text (bytea as its hex form, which
 * row_blob_dup decodes).
 *
 * Retry: db_tx tries a transaction up to 3 times on STORE_BUSY (deadlock
 * 40P01, serialization failure 40001, lock not available 55P03, lost
 * connection).
 *
 * Migrations: sql/pg/NNN_name.sql (the same versions as sql/), applied under
 * a session advisory lock so replicas starting together apply each once.
 */
#include "store/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"

#define MIGRATION_LOCK -7263 /* advisory lock key; service locks use service ids (> 0) */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25

const char *store_pg_location(const char *url, char *buf, size_t len)
{
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    const char *user = NULL, *password = NULL, *host = "", *port = NULL, *dbname = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val)
            continue; /* only what the URI names has a value: libpq adds no defaults here */
        if (!strcmp(o->keyword, "user"))
            user = o->val;
        else if (!strcmp(o->keyword, "password"))
            password = o->val;
        else if (!strcmp(o->keyword, "host"))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            dbname = o->val;
    }
    const char *scheme_end = strstr(url, "://");
    int scheme = scheme_end ? (int)(scheme_end - url) : 0;
    if (!opts) {
        snprintf(buf, len, "%.*s://(a URI libpq cannot read)", scheme, url);
    } else if (!password) {
        snprintf(buf, len, "%s", url);
    } else {
        /* written again from its parts: user:***@host:port/dbname?the other options */
        size_t n = (size_t)snprintf(buf, len, "%.*s://%s:***@%s%s%s/%s", scheme, url, user ? user : "", host,
                                    port ? ":" : "", port ? port : "", dbname ? dbname : "");
        char sep = '?';
        for (PQconninfoOption *o = opts; o->keyword && n < len; o++) {
            if (!o->val || !strcmp(o->keyword, "user") || !strcmp(o->keyword, "password") ||
                !strcmp(o->keyword, "host") || !strcmp(o->keyword, "port") || !strcmp(o->keyword, "dbname"))
                continue;
            n += (size_t)snprintf(buf + n, len - n, "%c%s=%s", sep, o->keyword, o->val);
            sep = '&';
        }
    }
    PQconninfoFree(opts);
    return buf;
}

store_rc pg_fail(db_conn *c, PGresult *r, const char *what, char *err, size_t errlen)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(c->c);
    if (err && errlen) {
        snprintf(err, errlen, "%s: %s", what, msg);
        size_t n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
    }
    store_rc rc = STORE_ERROR;
    if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03")))
        rc = STORE_BUSY;
    if (PQstatus(c->c) == CONNECTION_BAD) {
        /* the server went away: reconnect for the next call (prepared statements are gone) */
        PQreset(c->c);
        memset(c->prepared, 0, sizeof c->prepared);
        rc = STORE_BUSY;
    }
    PQclear(r);
    return rc;
}

store_rc pg_exec(db_conn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c->c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return pg_fail(c, r, sql, err, errlen);
    PQclear(r);
    return STORE_OK;
}

static int row_null_pg(const store_row *r, int col)
{
    return PQgetisnull(r->impl, r->index, col);
}

static int64_t row_i64_pg(const store_row *r, int col)
{
    return strtoll(PQgetvalue(r->impl, r->index, col), NULL, 10);
}

static double row_f64_pg(const store_row *r, int col)
{
    return strtod(PQgetvalue(r->impl, r->index, col), NULL);
}

static const char *row_text_pg(const store_row *r, int col)
{
    return PQgetisnull(r->impl, r->index, col) ? NULL : PQgetvalue(r->impl, r->index, col);
}

static char *row_blob_pg(const store_row *r, int col, size_t *len)
{
    size_t n = 0;
    unsigned char *p = PQunescapeBytea((const unsigned char *)PQgetvalue(r->impl, r->index, col), &n);
    char *out = p ? malloc(n + 1) : NULL;
    if (out) {
        memcpy(out, p, n);
        out[n] = '\0';
        if (len)
            *len = n;
    }
    PQfreemem(p);
    return out;
}

/* Prepares st on c under its slot's name: ?N becomes $N, and the declared types go along. */
static store_rc prepare(db_conn *c, db_stmt *st, const char *sql, int slot, char *err, size_t errlen)
{
    size_t len = strlen(sql);
    char *text = malloc(len + 1);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    for (size_t i = 0; i <= len; i++)
        text[i] = sql[i] == '?' && sql[i + 1] >= '1' && sql[i + 1] <= '9' ? '$' : sql[i];
    Oid types[DB_MAX_PARAMS];
    int n = 0;
    for (const char *t = st->params; t && *t && n < DB_MAX_PARAMS; t++)
        types[n++] = *t == 'i' ? OID_INT8 : *t == 'b' ? OID_BYTEA : OID_TEXT;
    char name[16];
    snprintf(name, sizeof name, "s%d", slot);
    PGresult *r = PQprepare(c->c, name, text, n, n ? types : NULL);
    free(text);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return pg_fail(c, r, "prepare", err, errlen);
    PQclear(r);
    c->prepared[slot] = 1;
    return STORE_OK;
}

static store_rc pg_run(db_conn *c, db_stmt *st, const db_val *args, int nargs, row_fn fn, void *arg,
                       int64_t *changes, char *err, size_t errlen)
{
    const char *sql = st->pg ? st->pg : st->sql;
    if (!sql)
        return STORE_OK; /* a statement only the other dialect needs */
    int slot = db_slot(st);
    store_rc rc;
    if (!c->prepared[slot] && (rc = prepare(c, st, sql, slot, err, errlen)) != STORE_OK)
        return rc;
    const char *v[DB_MAX_PARAMS];
    int lens[DB_MAX_PARAMS], fmts[DB_MAX_PARAMS];
    char num[DB_MAX_PARAMS][24];
    int declared = st->params ? (int)strlen(st->params) : 0;
    if (nargs > declared) /* a text one dialect wrote with fewer parameters */
        nargs = declared;
    for (int i = 0; i < nargs; i++) {
        const db_val *a = &args[i];
        lens[i] = 0;
        fmts[i] = 0;
        switch (a->t) {
        case DB_NULL:
            v[i] = NULL;
            break;
        case DB_INT:
            snprintf(num[i], sizeof num[i], "%lld", (long long)a->i);
            v[i] = num[i];
            break;
        case DB_TEXT:
            v[i] = a->p; /* text parameters are NUL-terminated */
            break;
        case DB_BLOB:
            v[i] = a->p;
            lens[i] = (int)a->n;
            fmts[i] = 1;
            break;
        }
    }
    char name[16];
    snprintf(name, sizeof name, "s%d", slot);
    PGresult *r = PQexecPrepared(c->c, name, nargs, v, lens, fmts, 0);
    ExecStatusType status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        return pg_fail(c, r, "query", err, errlen);
    if (changes)
        *changes = strtoll(PQcmdTuples(r), NULL, 10);
    store_row row = {.impl = r, .null = row_null_pg, .i64 = row_i64_pg, .f64 = row_f64_pg, .text = row_text_pg,
                     .blob_dup = row_blob_pg};
    for (int i = 0, n = fn ? PQntuples(r) : 0; i < n; i++) {
        row.index = i;
        if (fn(&row, arg))
            break;
    }
    PQclear(r);
    return STORE_OK;
}

static store_rc pg_begin(db_conn *c, char *err, size_t errlen)
{
    return pg_exec(c, "BEGIN", err, errlen);
}

static store_rc pg_exec_drv(db_conn *c, const char *sql, char *err, size_t errlen)
{
    return pg_exec(c, sql, err, errlen);
}

static int pg_in_tx(db_conn *c)
{
    return PQtransactionStatus(c->c) != PQTRANS_IDLE;
}

static int pg_conn_ok(db_conn *c)
{
    return PQstatus(c->c) == CONNECTION_OK;
}

static void pg_conn_close(db_conn *c)
{
    if (c) {
        PQfinish(c->c);
        free(c);
    }
}

static store_rc pg_conn_open(store *s, db_role role, db_conn **out, char *err, size_t errlen)
{
    *out = NULL;
    db_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    int readonly = role == DB_READER;
    const char *keys[] = {"dbname", "application_name", readonly ? "options" : NULL, NULL};
    const char *vals[] = {s->target, "anomalog", readonly ? "-c default_transaction_read_only=on" : NULL, NULL};
    c->c = PQconnectdbParams(keys, vals, 1);
    if (!c->c || PQstatus(c->c) != CONNECTION_OK) {
        /* libpq's message names host and port, never the password */
        snprintf(err, errlen, "postgresql: %s", c->c ? PQerrorMessage(c->c) : "out of memory");
        size_t n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
        PQfinish(c->c);
        free(c);
        return STORE_ERROR;
    }
    PQclear(PQexec(c->c, "SET client_min_messages = warning"));
    *out = c;
    return STORE_OK;
}

/* no teardown, no ping beyond a query, no journal: the submitter waits for the commit */
static const db_driver pg_driver = {
    .name = "pg", .tx_tries = 3, .conn_open = pg_conn_open, .conn_close = pg_conn_close, .conn_ok = pg_conn_ok,
    .run = pg_run, .exec = pg_exec_drv, .begin = pg_begin, .in_tx = pg_in_tx, .write_batches = pg_write_batches,
};
static int migrate(store *s, char *err, size_t errlen)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%d)", MIGRATION_LOCK);
    if (pg_exec(s->w, sql, err, errlen) != STORE_OK)
        return -1;
    int rc = db_migrate(s, s->w, pg_migrations, pg_migrations_count, err, errlen);
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%d)", MIGRATION_LOCK);
    pg_exec(s->w, sql, NULL, 0);
    return rc;
}

store_rc store_pg_open(const char *url, store_durability durability, store **out, char *err, size_t errlen)
{
    *out = NULL;
    int latest = pg_migrations_count ? pg_migrations[pg_migrations_count - 1].version : 0;
    if (latest != store_schema_latest()) {
        snprintf(err, errlen, "this binary's PostgreSQL migrations stop at %d, its SQLite ones at %d", latest,
                 store_schema_latest());
        return STORE_ERROR;
    }
    store *s = calloc(1, sizeof *s);
    if (!s || !(s->target = strdup(url))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    db_store_init(s, &pg_driver);
    /* full: every commit waits for its WAL flush; normal lets the writer's commits return before it */
    const char *sync = durability == STORE_DURABLE_FULL ? "SET synchronous_commit = on" : "SET synchronous_commit = off";
    if (pg_conn_open(s, DB_WRITER, &s->w, err, errlen) || migrate(s, err, errlen) ||
        pg_exec(s->w, sync, err, errlen) || pg_conn_open(s, DB_BACKGROUND, &s->bg, err, errlen)) {
        db_store_free(s);
        return STORE_ERROR;
    }
    *out = s;
    return STORE_OK;
}
