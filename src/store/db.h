/*
 * db.h — the store's SQL layer: what every domain file (windows.c,
 * analysis.c, templates.c, outbox.c, services.c, idempotency.c, expire.c,
 * migrate.c) is written on, implemented once per dialect by a driver
 * (db_sqlite.c for SQLite, db_pg.c for PostgreSQL). Private to src/store/.
 *
 * A statement (db_stmt) is SQL text with ?1..?N placeholders and a declared
 * type per parameter ('i' 64-bit integer, 't' text, 'b' bytes). One text
 * serves both dialects unless they really differ (locks, leases, scalar
 * max/greatest, collation, sizes); then .sqlite / .pg override it, and a
 * statement one dialect does not need (.pg only, say) is a no-op in the other.
 * The PostgreSQL driver sends ?N as $N with the declared types, so
 * "?1 IS NULL" needs no cast. Each connection prepares a statement on first
 * use and keeps it (its slot is handed out once, process-wide).
 *
 * Connections: a store has one writer connection (s->w, writer thread only),
 * one background connection (s->bg, under s->bg_mu: scheduler, analysis,
 * sender, retention) and a pool of read-only ones that HTTP threads borrow
 * for one call (db_read). Results come back one row at a time through a
 * row_fn (rows.h); every call returns STORE_OK, STORE_BUSY (retryable: the
 * database was locked, a deadlock or serialization failure, a lost
 * connection), or STORE_ERROR with err filled.
 *
 * Transactions: db_tx() runs a function inside BEGIN .. COMMIT on the
 * background connection and tries it again (DB_TX_TRIES in all, drivers that
 * wait inside the database, as SQLite's busy handler does, say 1) when it
 * came back STORE_BUSY; STORE_NOTFOUND from the function rolls back and is
 * passed on.
 */
#ifndef ANOMALOG_STORE_DB_H
#define ANOMALOG_STORE_DB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "anomalog/route_decide.h"
#include "anomalog/store.h"
#include "store/migrations.h"
#include "store/rows.h"

#define DB_MAX_STMTS 192 /* statement slots per connection */
#define DB_MAX_PARAMS 16
#define DB_READ_POOL_MAX 16

typedef struct db_conn db_conn; /* a driver's connection */

typedef enum db_type { DB_NULL = 0, DB_INT, DB_TEXT, DB_BLOB } db_type;

/* One parameter value. Text and bytes are borrowed for the call. */
typedef struct db_val {
    db_type t;
    int64_t i;
    const void *p;
    size_t n;
} db_val;

static inline db_val db_null(void) { return (db_val){.t = DB_NULL}; }
static inline db_val db_int(int64_t v) { return (db_val){.t = DB_INT, .i = v}; }
/* v, or NULL when negative (unknown) */
static inline db_val db_int_or_null(int64_t v) { return v >= 0 ? db_int(v) : db_null(); }
static inline db_val db_text(const char *s) { return s ? (db_val){.t = DB_TEXT, .p = s, .n = strlen(s)} : db_null(); }
static inline db_val db_textn(const char *s, size_t n) { return (db_val){.t = DB_TEXT, .p = s, .n = n}; }
static inline db_val db_blob(const void *p, size_t n) { return (db_val){.t = DB_BLOB, .p = p ? p : "", .n = n}; }

/* The parameters of one call: DB_ARGS(db_int(id), db_text(name)). */
#define DB_ARGS(...) (const db_val[]){__VA_ARGS__}, (int)(sizeof((const db_val[]){__VA_ARGS__}) / sizeof(db_val))
#define DB_NOARGS NULL, 0

typedef struct db_stmt {
    const char *sql;    /* both dialects */
    const char *sqlite; /* SQLite's own text (overrides sql); */
    const char *pg;     /* PostgreSQL's own text (overrides sql); a dialect with no text skips the statement */
    const char *params; /* declared types of ?1..?N, one letter each: i, t, b ("" or NULL: none) */
    int slot;           /* 0 until first use; then this statement's slot in every connection */
} db_stmt;

typedef enum db_role { DB_WRITER, DB_BACKGROUND, DB_READER } db_role;

typedef struct db_driver {
    const char *name;
    int tx_tries; /* how often db_tx tries a transaction that came back STORE_BUSY */
    store_rc (*conn_open)(store *s, db_role role, db_conn **out, char *err, size_t errlen);
    void (*conn_close)(db_conn *c);
    int (*conn_ok)(db_conn *c);
    /* Runs st with args on c: fn gets each row (returns non-zero to stop); *changes the rows written. */
    store_rc (*run)(db_conn *c, db_stmt *st, const db_val *args, int nargs, row_fn fn, void *arg, int64_t *changes,
                    char *err, size_t errlen);
    /* Plain SQL text, no parameters, no rows (may hold several statements). */
    store_rc (*exec)(db_conn *c, const char *sql, char *err, size_t errlen);
    store_rc (*begin)(db_conn *c, char *err, size_t errlen);
    int (*in_tx)(db_conn *c);
    void (*teardown)(store *s);   /* the driver's own part of store_close, before the connections close */
    store_rc (*ping)(store *s, char *err, size_t errlen); /* beyond a query: NULL for nothing */
    /* the write path (store_write_batches), which each backend does its own way */
    store_rc (*write_batches)(store *s, batch *const *batches, size_t n, int64_t window_ms, char *err, size_t errlen);
    store_rc (*journal_seq)(store *s, uint64_t *seq, char *err, size_t errlen); /* NULL: no journal */
} db_driver;

/* Every backend's store starts with this. */
struct store {
    const db_driver *drv;
    char *target;           /* SQLite path or PostgreSQL URL */
    int version;            /* schema version */
    db_conn *w;             /* writer thread only */
    db_conn *bg;            /* under bg_mu */
    pthread_mutex_t bg_mu;
    pthread_mutex_t pool_mu;
    db_conn *pool[DB_READ_POOL_MAX];
    int pool_n;
    struct late_cache *late; /* store_window_is_late's answers (late.c); NULL: none kept */
};

/* late.c: the answers of store_window_is_late, kept a moment. late_forget drops them all: call it after closing
 * or deleting windows. Both accept NULL. */
typedef struct late_cache late_cache;
late_cache *late_new(void);
void late_free(late_cache *c);
void late_forget(late_cache *c);

/* Sets up the common part of a store the driver allocated (calloc'd, struct store first). */
void db_store_init(store *s, const db_driver *drv);
/* Frees a store: the driver's teardown, the connections, the store. Accepts NULL. */
void db_store_free(store *s);

/* A statement's slot in every connection, handed out on first use (thread-safe). */
int db_slot(db_stmt *st);

/* One statement on connection c. */
static inline store_rc db_run(store *s, db_conn *c, db_stmt *st, const db_val *args, int nargs, row_fn fn,
                              void *arg, int64_t *changes, char *err, size_t errlen)
{
    return s->drv->run(c, st, args, nargs, fn, arg, changes, err, errlen);
}

/* One statement on a borrowed read connection. */
store_rc db_read(store *s, db_stmt *st, const db_val *args, int nargs, row_fn fn, void *arg, char *err,
                 size_t errlen);

/* One statement on the background connection, in its own implicit transaction. */
store_rc db_bg(store *s, db_stmt *st, const db_val *args, int nargs, row_fn fn, void *arg, int64_t *changes,
               char *err, size_t errlen);

/* A transaction's body: runs its statements on c; STORE_OK commits, anything else rolls back. */
typedef store_rc (*db_tx_fn)(store *s, db_conn *c, void *arg, char *err, size_t errlen);

/* fn inside one transaction on the background connection, tried again on STORE_BUSY (see above). */
store_rc db_tx(store *s, db_tx_fn fn, void *arg, char *err, size_t errlen);

/* The first column of the first row as an integer (found: 0 when there was no row; may be NULL). */
store_rc db_int_of(store *s, db_conn *c, db_stmt *st, const db_val *args, int nargs, int64_t *out, int *found,
                   char *err, size_t errlen);

/* Row callbacks: the first column into an int64_t (stops), a count of rows. */
int db_row_i64(const store_row *r, void *arg);

/* Ids read from the first column into the caller's array v of cap (the statement's LIMIT): db_row_ids appends
 * one a row and stops the read when v is full. */
typedef struct db_ids {
    int64_t *v;
    size_t n, cap;
} db_ids;
int db_row_ids(const store_row *r, void *arg);

/* The driver open functions (db_sqlite.c, db_pg.c). */
store_rc store_sqlite_open(const char *path, store_durability durability, store **out, char *err, size_t errlen);
store_rc store_pg_open(const char *url, store_durability durability, store **out, char *err, size_t errlen);
/* A PostgreSQL URI as it may be shown: read by libpq, written again with "***" for its password. */
const char *store_pg_location(const char *url, char *buf, size_t len);

/* Applies the migrations the database lacks on c, each in its own transaction (migrate.c). */
int db_migrate(store *s, db_conn *c, const struct migration *m, int n, char *err, size_t errlen);

/* ---- one domain's step inside another's transaction, on the caller's connection c ---- */

/* Writes a batch's Idempotency-Key (idempotency.c). */
store_rc idem_put(store *s, db_conn *c, const batch_idempotency *k, char *err, size_t errlen);

/* Marks templates of a service known-benign (templates.c). */
store_rc templates_mark_benign(store *s, db_conn *c, int64_t service_id, const int64_t *ids, size_t n, char *err,
                               size_t errlen);

/* Feedback on one anomaly: its verdict and note, and a false positive marks its templates benign
 * (analysis.c). STORE_NOTFOUND: no such anomaly. */
store_rc anomaly_feedback_apply(store *s, db_conn *c, int64_t anomaly_id, const char *verdict, const char *note,
                                char *err, size_t errlen);

/* The suppression decision of anomaly a (id anomaly_id) of window w, recorded: suppressed (marked so), or
 * opening its (service, type) interval until d->until_ms (outbox.c). An anomaly without type or severity
 * comes back suppressed, unmarked. */
store_rc outbox_pair_decide(store *s, db_conn *c, const window_work *w, const json_t *a, int64_t anomaly_id,
                            int64_t now, const route_config *rt, route_decision *d, char *err, size_t errlen);

/* A row of the outbox for each notification route_notifications hands over (outbox.c). */
typedef struct outbox_put_arg {
    store *s;
    db_conn *c;
    int64_t anomaly_id, now;
    const char *status;   /* pending, or dry_run */
    char *err;
    size_t errlen;
    int64_t due;          /* later than now: held until then (an incident's open, incident.group_wait) */
} outbox_put_arg;
int outbox_put(void *arg, const route_dest *d, const char *dedup, const char *body);

/* Suppression and notifications of anomaly a (id anomaly_id) just recorded for window w, as the routing
 * decision (route_decide.h) has it (outbox.c). */
store_rc outbox_route_anomaly(store *s, db_conn *c, const window_work *w, const json_t *a, int64_t anomaly_id,
                              int64_t now, const route_config *rt, char *err, size_t errlen);

/* What joining an incident did (incidents.c), for routing by incident. */
typedef struct incident_change {
    int64_t id;          /* the incident */
    int opened;          /* 1: the anomaly opened it */
    int prev_rank, rank; /* its severity before and after */
    int64_t members;     /* members after */
    int new_service;     /* 1: the anomaly's service was not in it before */
    int64_t merged[8];   /* incidents merged into it by this anomaly (it tied them) */
    size_t n_merged;
} incident_change;

/* Joins anomaly a (id anomaly_id, annotated by incident_annotate) of window w into an open incident, or
 * opens one, and describes the incident again (incidents.c). */
store_rc incident_join(store *s, db_conn *c, const window_work *w, const json_t *a, int64_t anomaly_id, int64_t now,
                       const incident_config *ic, incident_change *out, char *err, size_t errlen);

/* Routes anomaly a by its incident (ch, from incident_join): the (service, type) suppression decides
 * whether it notifies at all, then route_incident.h what its incident sends; an open is held until the
 * incident is ic->group_wait old, and the held opens carry the incident as it is after this member;
 * incidents it merged give it their held opens and are resolved where they were heard of (incidents.c). */
store_rc incident_route(store *s, db_conn *c, const window_work *w, const json_t *a, int64_t anomaly_id, int64_t now,
                        const route_config *rt, const incident_config *ic, const incident_change *ch, char *err,
                        size_t errlen);

/* Counts the window's calls ({service: lines}) in the call graph (incidents.c). */
store_rc incident_calls_record(store *s, db_conn *c, const window_work *w, const json_t *calls, char *err,
                               size_t errlen);

/* The (start, id) a newest-first listing stays below: the smaller of the cursor and (until, 0) (windows.c). */
void list_upper(int has_until, int64_t until, int has_cursor, int64_t cur_start, int64_t cur_id, int64_t *start,
                int64_t *id);

#endif
