/*
 * Unit tests of the store and writer.c on a real SQLite file in a temp dir or,
 * when ANOMALOG_TEST_PG_URL names a PostgreSQL server (tests/pg/with-postgres.sh),
 * on a fresh PostgreSQL database per test: the same tests, both backends.
 * Tests of what only PostgreSQL does (leases shared by replicas) skip on SQLite.
 */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include "anomalog/store.h"
#include "anomalog/timeutil.h"
#include "anomalog/writer.h"

#define MIN 60000LL
#define T0 1795514400000LL /* 2026-11-24T10:00:00Z */

typedef struct fixture {
    char dir[64];
    char path[512];
    store *st;
} fixture;

static const char *pg_url(void)
{
    const char *u = getenv("ANOMALOG_TEST_PG_URL");
    return u && *u ? u : NULL;
}

static int is_pg(const char *path)
{
    return strncmp(path, "postgres", 8) == 0;
}

/* Runs sql on the server of ANOMALOG_TEST_PG_URL's database. */
static void pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(pg_url());
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (pg_url()) {
        /* a fresh database per test, beside the one the URL names */
        static int seq;
        snprintf(f->dir, sizeof f->dir, "t_%d_%d", (int)getpid(), seq++);
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->dir);
        pg_admin(sql);
        const char *u = pg_url(), *slash = strrchr(u, '/');
        snprintf(f->path, sizeof f->path, "%.*s/%s", (int)(slash - u), u, f->dir);
    } else {
        snprintf(f->dir, sizeof f->dir, "/tmp/anomalog-store-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    }
    char err[256];
    assert_int_equal(store_open(f->path, STORE_DURABLE_NORMAL, &f->st, err, sizeof err), STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    char cmd[256];
    if (is_pg(f->path)) {
        snprintf(cmd, sizeof cmd, "DROP DATABASE %s", f->dir);
        pg_admin(cmd);
    } else {
        snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
        assert_int_equal(system(cmd), 0);
    }
    free(f);
    return 0;
}

static void add(batch *b, const char *service, int64_t ts, const char *msg)
{
    log_entry *e = batch_push(b);
    e->service = service;
    e->ts_ms = ts;
    e->message = msg;
    e->message_len = msg ? strlen(msg) : 0;
}

/* What a store_window_read handed over, copied. */
typedef struct lines_got {
    size_t n, cap, stop_at;
    int64_t *id, *ts;
    char **level, **msg, **attrs;
} lines_got;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int got_line(const window_line *l, void *arg)
{
    lines_got *g = arg;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->id = realloc(g->id, g->cap * sizeof *g->id);
        g->ts = realloc(g->ts, g->cap * sizeof *g->ts);
        g->level = realloc(g->level, g->cap * sizeof *g->level);
        g->msg = realloc(g->msg, g->cap * sizeof *g->msg);
        g->attrs = realloc(g->attrs, g->cap * sizeof *g->attrs);
        assert_non_null(g->id && g->ts && g->level && g->msg && g->attrs);
    }
    g->id[g->n] = l->id;
    g->ts[g->n] = l->ts_ms;
    g->level[g->n] = dup_or_null(l->level);
    g->msg[g->n] = strdup(l->message);
    g->attrs[g->n] = dup_or_null(l->attributes);
    g->n++;
    return g->stop_at && g->n == g->stop_at;
}

static void lines_got_free(lines_got *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->level[i]);
        free(g->msg[i]);
        free(g->attrs[i]);
    }
    free(g->id);
    free(g->ts);
    free(g->level);
    free(g->msg);
    free(g->attrs);
    *g = (lines_got){0};
}

static void read_lines(fixture *f, int64_t window_id, int64_t after, int64_t upto, size_t max, lines_got *g,
                       int64_t *max_id)
{
    char err[256];
    size_t n = 0;
    assert_int_equal(store_window_read(f->st, window_id, after, upto, max, got_line, g, max_id, &n, err, sizeof err),
                     STORE_OK);
    assert_int_equal(n, g->n);
}

static int64_t scalar(const char *path, const char *sql)
{
    if (is_pg(path)) {
        PGconn *c = PQconnectdb(path);
        PGresult *r = PQexec(c, sql);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
        return v;
    }
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void exec_sql(const char *path, const char *sql)
{
    if (is_pg(path)) {
        PGconn *c = PQconnectdb(path);
        PGresult *r = PQexec(c, sql);
        assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
        PQclear(r);
        PQfinish(c);
        return;
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_reopen_keeps_schema_version(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_schema_version(f->st), store_schema_latest());
    int64_t applied = scalar(f->path, "SELECT count(*) FROM schema_version");
    assert_true(applied > 0);
    store *again;
    char err[256];
    assert_int_equal(store_open(f->path, STORE_DURABLE_FULL, &again, err, sizeof err), STORE_OK);
    assert_int_equal(store_schema_version(again), store_schema_latest());
    store_close(again);
    /* migration numbers are handed out ahead of merging, so versions may have gaps */
    assert_int_equal(scalar(f->path, "SELECT max(version) FROM schema_version"), store_schema_latest());
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM schema_version"), applied);
}

static void test_windows_are_aligned_and_counted(void **state)
{
    fixture *f = *state;
    batch *b = batch_new(T0);
    add(b, "api", T0 + 1, "a");
    add(b, "api", T0 + 5 * MIN - 1, "b");
    add(b, "api", T0 + 5 * MIN, "c");
    add(b, "db", T0 - 1, "d"); /* previous window */
    char err[256];
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);

    window_info *rows;
    size_t n;
    int more;
    window_query q = {.limit = 10};
    assert_int_equal(store_windows_list(f->st, &q, &rows, &n, &more, err, sizeof err), STORE_OK);
    assert_int_equal(n, 3);
    assert_false(more);
    assert_string_equal(rows[0].service, "api");
    assert_int_equal(rows[0].start_ms, T0 + 5 * MIN);
    assert_int_equal(rows[0].line_count, 1);
    assert_int_equal(rows[1].start_ms, T0);
    assert_int_equal(rows[1].end_ms, T0 + 5 * MIN);
    assert_int_equal(rows[1].line_count, 2);
    assert_string_equal(rows[2].service, "db");
    assert_int_equal(rows[2].start_ms, T0 - 5 * MIN);
    free(rows);
    assert_int_equal(scalar(f->path, "SELECT watermark FROM services WHERE name = 'api'"), T0 + 5 * MIN);
}

/* One group of several batches, services and windows, with every field's awkward bytes: each line comes
 * back as written (on PostgreSQL: the services' and windows' upsert takes the names as array elements,
 * the lines go in by binary COPY), and writing the group again adds to the same windows. */
static void test_group_fields_round_trip(void **state)
{
    fixture *f = *state;
    static const char *const names[] = {"a \"quoted\" \\ svc, {x}", "\xe6\x9c\x8d\xe5\x8a\xa1", "NULL", "plain"};
    static const char *const msgs[] = {"tab\there", "new\nline", "back\\slash \\N", "cr\rend", ""};
    batch *b[2] = {batch_new(T0), batch_new(T0 + 7)};
    for (int i = 0; i < 40; i++) {
        batch *x = b[i % 2];
        add(x, names[i % 4], T0 + (i % 3) * 5 * MIN + i, msgs[i % 5]);
        log_entry *e = &x->entries[x->count - 1];
        e->level = i % 2 ? "error" : NULL;
        e->attributes = i % 3 ? NULL : "{\"k\":\"v\\t\"}";
    }
    char err[256];
    for (int round = 1; round <= 2; round++) {
        assert_int_equal(store_write_batches(f->st, b, 2, 5 * MIN, err, sizeof err), STORE_OK);
        int64_t n = 0;
        assert_int_equal(store_count_logs(f->st, &n, err, sizeof err), STORE_OK);
        assert_int_equal(n, 40 * round);
        for (int k = 0; k < 4; k++) {
            window_info *rows;
            size_t nw;
            int more;
            window_query q = {.service = names[k], .limit = 10};
            assert_int_equal(store_windows_list(f->st, &q, &rows, &nw, &more, err, sizeof err), STORE_OK);
            assert_int_equal(nw, 3); /* i % 4 == k meets every i % 3 */
            int64_t sum = 0;
            for (size_t w = 0; w < nw; w++) {
                assert_string_equal(rows[w].service, names[k]);
                sum += rows[w].line_count;
                lines_got l = {0};
                read_lines(f, rows[w].id, 0, 0, 100, &l, NULL);
                assert_int_equal((int64_t)l.n, rows[w].line_count);
                for (size_t j = 0; j < l.n; j++) {
                    int i = (int)(l.ts[j] - T0) % (5 * MIN); /* the line's number */
                    assert_string_equal(l.msg[j], msgs[i % 5]);
                    if (i % 2)
                        assert_string_equal(l.level[j], "error");
                    else
                        assert_null(l.level[j]);
                    if (i % 3)
                        assert_null(l.attrs[j]);
                    else
                        assert_string_equal(l.attrs[j], "{\"k\":\"v\\t\"}");
                }
                lines_got_free(&l);
            }
            assert_int_equal(sum, 10 * round);
            free(rows);
        }
    }
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs WHERE attributes = '{\"k\":\"v\\t\"}'"), 28);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs WHERE attributes IS NULL"), 52);
    assert_int_equal(scalar(f->path, "SELECT min(received_at) FROM logs"), T0);
    assert_int_equal(scalar(f->path, "SELECT max(received_at) FROM logs"), T0 + 7);
    batch_free(b[0]);
    batch_free(b[1]);
}

/* store_window_read: a window's lines by event time, each string whole, a page at a time: 3000 lines (more
 * than a page), many sharing a timestamp across page boundaries (the page's next start is (ts, id)); the first
 * max only; a read stopped by its callback; the bounds on ids (after, upto). */
static void test_window_lines(void **state)
{
    fixture *f = *state;
    enum { N = 3000 };
    static char big[2000];
    memset(big, 'x', sizeof big - 1);
    static const char *const levels[3] = {NULL, "info", "error"};
    batch *b = batch_new(T0);
    for (int i = 0; i < N; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "line %04d", i);
        /* by time: the last added first, ten lines a millisecond */
        add(b, "api", T0 + (N - i) / 10, i % 2 ? big : batch_strndup(b, msg, strlen(msg)));
        b->entries[b->count - 1].level = levels[i / 10 % 3];
    }
    char err[256];
    assert_int_equal(store_write_batches(f->st, &b, 1, 60 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    int64_t id = scalar(f->path, "SELECT id FROM windows");
    int64_t first_id = scalar(f->path, "SELECT min(id) FROM logs");
    lines_got l = {0};
    int64_t max_id = 0;
    read_lines(f, id, 0, 0, N - 100, &l, &max_id);
    assert_int_equal(l.n, N - 100);
    for (size_t k = 0; k < l.n; k++) { /* by (ts, id): the later added first, by id within a millisecond */
        int i = (int)(l.id[k] - first_id); /* the line's number: its id's rank */
        assert_int_equal(l.ts[k], T0 + (N - i) / 10);
        if (k) /* strictly after the line before */
            assert_true(l.ts[k] > l.ts[k - 1] || (l.ts[k] == l.ts[k - 1] && l.id[k] > l.id[k - 1]));
        char msg[32];
        snprintf(msg, sizeof msg, "line %04d", i);
        assert_string_equal(l.msg[k], i % 2 ? big : msg);
        const char *want = levels[i / 10 % 3];
        if (!want)
            assert_null(l.level[k]);
        else
            assert_string_equal(l.level[k], want);
        assert_true(l.id[k] <= max_id);
    }
    /* the same read bounded by the first one's highest id: the same lines */
    lines_got again = {0};
    read_lines(f, id, 0, max_id, N - 100, &again, NULL);
    assert_int_equal(again.n, l.n);
    for (size_t k = 0; k < l.n; k++)
        assert_int_equal(again.id[k], l.id[k]);
    lines_got_free(&again);
    /* above an id, up to another */
    read_lines(f, id, first_id + 99, first_id + 199, N, &again, NULL);
    assert_int_equal(again.n, 100);
    for (size_t k = 0; k < again.n; k++)
        assert_true(again.id[k] > first_id + 99 && again.id[k] <= first_id + 199);
    lines_got_free(&again);
    /* a callback that stops: the read stops there */
    again.stop_at = 2500;
    read_lines(f, id, 0, 0, N, &again, NULL);
    assert_int_equal(again.n, 2500);
    lines_got_free(&again);
    lines_got_free(&l);
}

static void test_late_lines_are_counted_not_dropped(void **state)
{
    fixture *f = *state;
    batch *b = batch_new(T0);
    add(b, "api", T0, "on time");
    char err[256];
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    exec_sql(f->path, "UPDATE windows SET status = 'closed'"); /* as the scheduler will */
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    window_info w;
    assert_int_equal(store_window_get(f->st, 1, &w, err, sizeof err), STORE_OK);
    assert_int_equal(w.line_count, 2);
    assert_int_equal(w.late_count, 1);
    assert_string_equal(w.status, "closed");
    assert_int_equal(store_window_get(f->st, 99, &w, err, sizeof err), STORE_NOTFOUND);
}

static int is_late(fixture *f, const char *service, int64_t start)
{
    char err[256];
    int late = -1;
    assert_int_equal(store_window_is_late(f->st, service, start, &late, err, sizeof err), STORE_OK);
    return late;
}

/* store_window_is_late keeps an answer a moment (late.c): a window closed behind the store's back (as another
 * replica would) still reads open within the second, since the database is not asked again; a close or a deletion
 * of windows through the store is seen at once; after the second the database is asked again. */
static void test_late_answers_kept_a_moment(void **state)
{
    fixture *f = *state;
    batch *b = batch_new(T0);
    add(b, "api", T0, "x");
    add(b, "db", T0, "y");
    char err[256];
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    int64_t asked = time_mono_ms();
    assert_int_equal(is_late(f, "api", T0), 0);
    assert_int_equal(is_late(f, "api", T0 + 5 * MIN), 0); /* no such window: not late */
    exec_sql(f->path, "UPDATE windows SET status = 'closed'");
    int kept = is_late(f, "api", T0);
    if (time_mono_ms() - asked < 900) /* a machine that stalled for the whole second proves nothing here */
        assert_int_equal(kept, 0);
    assert_int_equal(is_late(f, "db", T0), 1);  /* never asked: the database */
    usleep(1100 * 1000);
    assert_int_equal(is_late(f, "api", T0), 1); /* a second later: the database */

    b = batch_new(T0);
    add(b, "api", T0 + 10 * MIN, "z");
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    assert_int_equal(is_late(f, "api", T0 + 10 * MIN), 0);
    int closed = 0;
    assert_int_equal(store_windows_close(f->st, time_now_ms(), 0, 1, NULL, &closed, err, sizeof err), STORE_OK);
    assert_int_equal(closed, 1);
    assert_int_equal(is_late(f, "api", T0 + 10 * MIN), 1); /* closed through the store: seen at once */

    store_expired out;
    int more = 0;
    assert_int_equal(store_expire_windows(f->st, time_now_ms() + 60 * MIN, 1000, &out, &more, err, sizeof err),
                     STORE_OK);
    assert_int_equal(out.windows, 3);
    assert_int_equal(is_late(f, "api", T0), 0); /* deleted through the store: a line for it opens a new window */
    assert_int_equal(is_late(f, "api", T0 + 10 * MIN), 0);
}

/* More distinct windows in one transaction than the caches hold. */
static void test_many_windows_in_one_transaction(void **state)
{
    fixture *f = *state;
    batch *b = batch_new(T0);
    for (int i = 0; i < 10000; i++)
        add(b, (i % 2) ? "odd" : "even", T0 + (int64_t)(i % 5000) * MIN, "m");
    char err[256];
    assert_int_equal(store_write_batches(f->st, &b, 1, MIN, err, sizeof err), STORE_OK);
    assert_int_equal(store_write_batches(f->st, &b, 1, MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM windows"), 5000);
    assert_int_equal(scalar(f->path, "SELECT sum(line_count) FROM windows"), 20000);
    assert_int_equal(scalar(f->path, "SELECT max(line_count) FROM windows"), 4);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs"), 20000);
}

/* A refused batch leaves nothing behind, and the caches stay right afterwards. */
static void test_failed_group_stores_nothing(void **state)
{
    fixture *f = *state;
    batch *good = batch_new(T0), *bad = batch_new(T0);
    add(good, "new-service", T0 + 7 * MIN, "fine");
    add(bad, "other", T0, "fine");
    add(bad, "other", T0, NULL); /* NOT NULL constraint on logs.message */
    batch *both[2] = {good, bad};
    char err[256];
    assert_int_equal(store_write_batches(f->st, both, 2, 5 * MIN, err, sizeof err), STORE_ERROR);
    assert_true(strstr(err, "NOT NULL") || strstr(err, "not-null")); /* SQLite's words, PostgreSQL's */
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs"), 0);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM windows"), 0);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM services"), 0);
    /* the service and window ids of the rolled-back transaction must not be reused from cache */
    assert_int_equal(store_write_batches(f->st, &good, 1, 5 * MIN, err, sizeof err), STORE_OK);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs l JOIN windows w ON w.id = l.window_id "
                                     "JOIN services s ON s.id = w.service_id WHERE s.name = 'new-service'"),
                     1);
    batch_free(good);
    batch_free(bad);
}

/* A batch's Idempotency-Key is stored with its lines, or not at all; lookups honour the expiry; pruning
 * deletes expired keys, at most the limit at a time, oldest first. */
static void test_idempotency_keys(void **state)
{
    fixture *f = *state;
    char err[256];
    batch *b = batch_new(T0), *bad = batch_new(T0);
    add(b, "svc", T0, "kept");
    batch_idempotency k = {.scope = "", .key = "k-1", .endpoint = "/ingest", .status = 202,
                           .content_type = "application/json", .body = "{\"accepted\":1}\n", .body_len = 15,
                           .created_ms = T0};
    memset(k.body_sha256, 0xab, sizeof k.body_sha256);
    batch_idempotency kb = k;
    kb.key = "k-bad";
    add(bad, "svc", T0, NULL); /* NOT NULL constraint on logs.message */
    b->idem = &k;
    bad->idem = &kb;
    batch *both[2] = {b, bad};
    assert_int_equal(store_write_batches(f->st, both, 2, 5 * MIN, err, sizeof err), STORE_ERROR);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM idempotency_keys"), 0);
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);

    idempotency_record r;
    assert_int_equal(store_idempotency_get(f->st, "", "k-1", T0 - 1, &r, err, sizeof err), STORE_OK);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.endpoint, "/ingest");
    assert_string_equal(r.content_type, "application/json");
    assert_int_equal(r.body_len, 15);
    assert_memory_equal(r.body, "{\"accepted\":1}\n", 15);
    assert_memory_equal(r.body_sha256, k.body_sha256, sizeof k.body_sha256);
    idempotency_record_free(&r);
    assert_int_equal(store_idempotency_get(f->st, "auth.tokens[0]", "k-1", T0 - 1, &r, err, sizeof err),
                     STORE_NOTFOUND); /* another scope */
    assert_int_equal(store_idempotency_get(f->st, "", "k-1", T0, &r, err, sizeof err), STORE_NOTFOUND); /* expired */

    /* an empty batch records its key alone; an expired key is replaced */
    batch *empty = batch_new(T0);
    char keys[5][8];
    batch_idempotency ks[5];
    for (int i = 0; i < 5; i++) {
        snprintf(keys[i], sizeof keys[i], "e-%d", i);
        ks[i] = k;
        ks[i].key = keys[i];
        ks[i].created_ms = T0 + i;
        empty->idem = &ks[i];
        assert_int_equal(store_write_batches(f->st, &empty, 1, 5 * MIN, err, sizeof err), STORE_OK);
    }
    ks[0].created_ms = T0 + 100;
    ks[0].status = 200;
    assert_int_equal(store_write_batches(f->st, &empty, 1, 5 * MIN, err, sizeof err), STORE_OK); /* e-4 again */
    empty->idem = &ks[0];
    assert_int_equal(store_write_batches(f->st, &empty, 1, 5 * MIN, err, sizeof err), STORE_OK);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM idempotency_keys"), 6);
    assert_int_equal(scalar(f->path, "SELECT status FROM idempotency_keys WHERE key = 'e-0'"), 200);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs"), 1);

    int n = -1;
    assert_int_equal(store_idempotency_prune(f->st, T0 + 3, 2, &n, err, sizeof err), STORE_OK);
    assert_int_equal(n, 2); /* k-1 (T0) and e-1 (T0 + 1): the oldest two of four due */
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM idempotency_keys WHERE key IN ('k-1', 'e-1')"), 0);
    assert_int_equal(store_idempotency_prune(f->st, T0 + 3, 2, &n, err, sizeof err), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_idempotency_prune(f->st, T0 + 3, 2, &n, err, sizeof err), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM idempotency_keys"), 2);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM idempotency_keys WHERE key IN ('e-0', 'e-4')"), 2);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs"), 1); /* lines are never pruned with keys */
    batch_free(b);
    batch_free(bad);
    batch_free(empty);
}

static void test_paging_with_service_filter(void **state)
{
    fixture *f = *state;
    batch *b = batch_new(T0);
    for (int i = 0; i < 30; i++)
        add(b, i % 3 ? "a" : "b", T0 + i * MIN, "m");
    char err[256];
    assert_int_equal(store_write_batches(f->st, &b, 1, MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    window_query q = {.service = "a", .limit = 7};
    int seen = 0, pages = 0, more = 1;
    int64_t last = INT64_MAX;
    while (more) {
        window_info *rows;
        size_t n;
        assert_int_equal(store_windows_list(f->st, &q, &rows, &n, &more, err, sizeof err), STORE_OK);
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(rows[i].service, "a");
            assert_true(rows[i].start_ms < last);
            last = rows[i].start_ms;
        }
        seen += (int)n;
        pages++;
        if (n) {
            q.has_cursor = 1;
            q.cursor_start = rows[n - 1].start_ms;
            q.cursor_id = rows[n - 1].id;
        }
        free(rows);
    }
    assert_int_equal(seen, 20);
    assert_int_equal(pages, 3);
}

/* The writer answers each submitter only after its batch is committed. */
typedef struct sub_arg {
    writer *w;
    int k;
    writer_rc rc;
} sub_arg;

static void *submitter(void *p)
{
    sub_arg *a = p;
    batch *b = batch_new(T0);
    for (int i = 0; i < 100; i++)
        add(b, "w", T0 + a->k, "line");
    a->rc = writer_submit(a->w, b, NULL, 0);
    batch_free(b);
    return NULL;
}

/* 32 threads submit 100 lines each at once; every one is answered WRITER_OK. */
static void submit_32(writer *w)
{
    pthread_t th[32];
    sub_arg args[32];
    for (int i = 0; i < 32; i++) {
        args[i] = (sub_arg){.w = w, .k = i};
        pthread_create(&th[i], NULL, submitter, &args[i]);
    }
    for (int i = 0; i < 32; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].rc, WRITER_OK);
    }
}

static void test_writer_group_commit(void **state)
{
    fixture *f = *state;
    char err[256];
    writer_opts o = {.queue_depth = 64, .max_txn_entries = 1000, .window_ms = MIN};
    writer *w = writer_start(f->st, &o, err, sizeof err);
    assert_non_null(w);
    submit_32(w);
    writer_stats ws;
    writer_get_stats(w, &ws);
    assert_int_equal(ws.batches, 32);
    assert_int_equal(ws.entries, 3200);
    assert_true(ws.commits <= 32);
    writer_stop(w);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs"), 3200);
}

/* Journal files of the SQLite file at path, now. */
static int journal_files(const char *path)
{
    char pat[600];
    snprintf(pat, sizeof pat, "%s-ingest.*", path);
    glob_t g;
    int n = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    if (n)
        globfree(&g);
    return n;
}

/*
 * With a journal, a submitter is answered once its record is in the file;
 * the database catches up (writer_wait), its mark follows the last record,
 * files closed at journal_file_bytes are deleted once stored, and a clean
 * stop deletes the last.
 */
static void test_writer_journal(void **state)
{
    fixture *f = *state;
    if (is_pg(f->path))
        skip(); /* PostgreSQL keeps no journal */
    char err[256];
    writer_opts o = {.queue_depth = 64, .max_txn_entries = 1000, .window_ms = MIN, .journal = f->path,
                     .journal_file_bytes = 4096};
    writer *w = writer_start(f->st, &o, err, sizeof err);
    assert_non_null(w);
    submit_32(w);
    writer_wait(w, 10000);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs"), 3200);
    assert_int_equal(scalar(f->path, "SELECT seq FROM journal_state"), 32);
    /* each 100-line record passes 4096 bytes: every record closed its file, deleted once stored */
    assert_int_equal(journal_files(f->path), 1);
    writer_stop(w);
    assert_int_equal(journal_files(f->path), 0);
}

/* The records of a journal file, walked by their headers (magic "ALJ1", payload length, seq, CRC, zero);
 * -1 when anything but whole records is in it. */
static int journal_records(const char *path)
{
    char pat[600];
    snprintf(pat, sizeof pat, "%s-ingest.*", path);
    glob_t g;
    assert_int_equal(glob(pat, 0, NULL, &g), 0);
    assert_int_equal(g.gl_pathc, 1);
    FILE *fp = fopen(g.gl_pathv[0], "rb");
    globfree(&g);
    assert_non_null(fp);
    int n = 0;
    struct {
        uint32_t magic, len;
        uint64_t seq;
        uint32_t crc, zero;
    } h;
    size_t got;
    while ((got = fread(&h, 1, sizeof h, fp)) == sizeof h && h.magic == 0x314a4c41u &&
           fseek(fp, (long)h.len, SEEK_CUR) == 0)
        n++;
    long at = ftell(fp);
    fseek(fp, 0, SEEK_END);
    int whole = got == 0 && at == ftell(fp);
    fclose(fp);
    return whole ? n : -1;
}

/*
 * A journal write the file system refuses part way (here RLIMIT_FSIZE: the
 * record is cut short, then EFBIG) is answered WRITER_FAILED with the
 * reason, and what part of the record reached the file is cut off again:
 * the next batch is acknowledged and the file holds whole records only, so
 * a replay after a crash would read past the failure.
 */
static void test_writer_journal_write_fails(void **state)
{
    fixture *f = *state;
    if (is_pg(f->path))
        skip();
    char err[256];
    writer_opts o = {.queue_depth = 64, .max_txn_entries = 1000, .window_ms = MIN, .journal = f->path};
    writer *w = writer_start(f->st, &o, err, sizeof err);
    assert_non_null(w);
    batch *b = batch_new(T0);
    for (int i = 0; i < 100; i++)
        add(b, "w", T0, "a line of the journal");
    assert_int_equal(writer_submit(w, b, err, sizeof err), WRITER_OK);
    writer_wait(w, 10000); /* stored: the writer is idle while the limit holds */
    assert_int_equal(journal_records(f->path), 1);

    char pat[600];
    snprintf(pat, sizeof pat, "%s-ingest.*", f->path);
    glob_t g;
    assert_int_equal(glob(pat, 0, NULL, &g), 0);
    struct stat before, after;
    assert_int_equal(stat(g.gl_pathv[0], &before), 0);
    void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit was, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
    small = was;
    small.rlim_cur = (rlim_t)before.st_size + 40; /* the header and a little of the payload fit */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    err[0] = '\0';
    writer_rc rc = writer_submit(w, b, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
    signal(SIGXFSZ, old_xfsz);
    assert_int_equal(rc, WRITER_FAILED);
    assert_non_null(strstr(err, "journal"));
    assert_int_equal(stat(g.gl_pathv[0], &after), 0);
    globfree(&g);
    assert_int_equal(after.st_size, before.st_size); /* the cut-short record is gone */

    assert_int_equal(writer_submit(w, b, err, sizeof err), WRITER_OK);
    writer_wait(w, 10000);
    assert_int_equal(journal_records(f->path), 2);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs"), 200); /* the refused batch is not stored */
    batch_free(b);
    writer_stop(w);
}

/*
 * queue_bytes bounds what waits: while the database is locked the first
 * batch waits in the queue, and a second that would pass the bound is
 * refused at once (WRITER_FULL), not queued; the first is stored once the
 * lock goes.
 */
static void test_writer_queue_bytes(void **state)
{
    fixture *f = *state;
    if (is_pg(f->path))
        skip();
    char err[256];
    writer_opts o = {.queue_depth = 64, .queue_bytes = 1000, .max_txn_entries = 1000, .window_ms = MIN,
                     .journal = f->path};
    writer *w = writer_start(f->st, &o, err, sizeof err);
    assert_non_null(w);
    sqlite3 *lock;
    assert_int_equal(sqlite3_open(f->path, &lock), SQLITE_OK);
    assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    pthread_t th;
    sub_arg first = {.w = w, .k = 0};
    pthread_create(&th, NULL, submitter, &first);
    for (int i = 0; i < 200; i++) { /* until the first is queued */
        writer_stats ws;
        writer_get_stats(w, &ws);
        if (ws.queued)
            break;
        usleep(5000);
    }
    batch *b = batch_new(T0);
    for (int i = 0; i < 100; i++)
        add(b, "w", T0, "line");
    assert_int_equal(writer_submit(w, b, NULL, 0), WRITER_FULL);
    batch_free(b);
    sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(lock);
    pthread_join(th, NULL);
    assert_int_equal(first.rc, WRITER_OK);
    writer_stop(w);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM logs"), 100);
}

/* Two replicas on one PostgreSQL database: a claimed window is held for its
 * lease, start-up recovery leaves a live lease alone, another replica takes
 * the window over once the lease has run out, and the old claim can no
 * longer record an analysis. */
/* The server drops the store's connections (a restart, a failover): a transaction (db_tx) meets the lost
 * connection, which is reset, and is tried again on the new one instead of failing the caller. */
static void test_pg_transaction_retried_on_a_lost_connection(void **state)
{
    fixture *f = *state;
    if (!is_pg(f->path))
        skip();
    char sql[256], err[256];
    batch *b = batch_new(T0);
    add(b, "api", T0, "x");
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    int64_t service_id = scalar(f->path, "SELECT id FROM services WHERE name = 'api'");
    int64_t window_id = scalar(f->path, "SELECT id FROM windows");
    snprintf(sql, sizeof sql,
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' "
             "AND application_name = 'anomalog'", f->dir);
    PGconn *c = PQconnectdb(pg_url());
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(atoi(PQgetvalue(r, 0, 0)) >= 2); /* the writer's and the background connection at least */
    PQclear(r);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'", f->dir);
    for (int i = 0; i < 100; i++) { /* terminating is asynchronous */
        r = PQexec(c, sql);
        int left = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (!left)
            break;
        usleep(50000);
    }
    PQfinish(c);
    store_template t = {.id = 1, .text = "GET /<*>", .count = 3, .max_level = 3};
    assert_int_equal(store_templates_record(f->st, service_id, window_id, T0, &t, 1, 0, 0, 0, err, sizeof err), STORE_OK);
    assert_int_equal(scalar(f->path, "SELECT total FROM templates WHERE id = 1"), 3);
}

typedef struct at_seen {
    int64_t pos[16];
    char msg[16][16];
    int n, stop_after;
} at_seen;

static int at_line(int64_t position, int64_t ts_ms, const char *level, const char *message, void *arg)
{
    at_seen *a = arg;
    (void)ts_ms, (void)level;
    a->pos[a->n] = position;
    snprintf(a->msg[a->n], sizeof a->msg[a->n], "%s", message);
    return ++a->n == a->stop_after;
}

/* The lines of one millisecond of a window, with their positions in a read by (ts, id), found by a query (the
 * evidence check): positions count the read's earlier lines, the read's bounds (ids above after_id and up to
 * upto_id, the first max lines) hold, and nothing else of the window comes back. */
static void test_window_lines_at(void **state)
{
    fixture *f = *state;
    char err[256];
    /* ids 1..10 in this order; by (ts, id): a0 a1 a2 (ts 0), b0..b3 (ts 5), c0 c1 c2 (ts 9) */
    static const struct {
        int64_t ts;
        const char *msg;
    } in[] = {{9, "c0"}, {5, "b0"}, {0, "a0"}, {5, "b1"}, {9, "c1"}, {0, "a1"}, {5, "b2"}, {0, "a2"}, {9, "c2"}, {5, "b3"}};
    batch *b = batch_new(T0);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        add(b, "api", T0 + in[i].ts, in[i].msg);
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    int64_t w = scalar(f->path, "SELECT id FROM windows"), top = scalar(f->path, "SELECT max(id) FROM logs");
    int64_t first = scalar(f->path, "SELECT min(id) FROM logs");
    at_seen a = {0};
    assert_int_equal(store_window_lines_at(f->st, w, 0, top, 100, T0 + 5, at_line, &a, err, sizeof err), STORE_OK);
    assert_int_equal(a.n, 4);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(a.pos[k], 3 + k);
        char want[4] = {'b', (char)('0' + k), 0};
        assert_string_equal(a.msg[k], want);
    }
    /* a read of the first 5 lines saw b0 and b1 only; of the first 3, none of them */
    a = (at_seen){0};
    assert_int_equal(store_window_lines_at(f->st, w, 0, top, 5, T0 + 5, at_line, &a, err, sizeof err), STORE_OK);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.pos[1], 4);
    a = (at_seen){0};
    assert_int_equal(store_window_lines_at(f->st, w, 0, top, 3, T0 + 5, at_line, &a, err, sizeof err), STORE_OK);
    assert_int_equal(a.n, 0);
    /* a late read: the lines above the fourth id (c1 a1 b2 a2 c2 b3): b2 b3 come after a1 a2 */
    a = (at_seen){0};
    assert_int_equal(store_window_lines_at(f->st, w, first + 3, top, 100, T0 + 5, at_line, &a, err, sizeof err),
                     STORE_OK);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.pos[0], 2);
    assert_string_equal(a.msg[0], "b2");
    assert_string_equal(a.msg[1], "b3");
    /* a read that stopped at the eighth id does not see b3; the callback stops the rest */
    a = (at_seen){0};
    assert_int_equal(store_window_lines_at(f->st, w, 0, first + 7, 100, T0 + 5, at_line, &a, err, sizeof err),
                     STORE_OK);
    assert_int_equal(a.n, 3);
    a = (at_seen){.stop_after = 1};
    assert_int_equal(store_window_lines_at(f->st, w, 0, top, 100, T0 + 9, at_line, &a, err, sizeof err), STORE_OK);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.pos[0], 7);
    assert_string_equal(a.msg[0], "c0");
    /* a millisecond with no line, another window */
    a = (at_seen){0};
    assert_int_equal(store_window_lines_at(f->st, w, 0, top, 100, T0 + 4, at_line, &a, err, sizeof err), STORE_OK);
    assert_int_equal(store_window_lines_at(f->st, w + 1, 0, top, 100, T0 + 5, at_line, &a, err, sizeof err),
                     STORE_OK);
    assert_int_equal(a.n, 0);
}

static void count_loaded(void *arg, int64_t id, const char *text, uint64_t total)
{
    (void)id, (void)text, (void)total;
    (*(int *)arg)++;
}

/* The templates table is bounded per service (the least recently seen evicted, as the miner evicts), a pruned id
 * is recorded again when a window sees it, retention deletes templates by when they were last recorded, and the
 * highest id a service ever recorded survives both (a rebuilt miner assigns above it). */
static void test_templates_bounded_and_expired(void **state)
{
    fixture *f = *state;
    char err[256], text[8][32];
    batch *b = batch_new(T0);
    add(b, "api", T0, "x");
    add(b, "db", T0, "y");
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    int64_t api = scalar(f->path, "SELECT id FROM services WHERE name = 'api'");
    int64_t db = scalar(f->path, "SELECT id FROM services WHERE name = 'db'");
    int64_t window_id = scalar(f->path, "SELECT min(id) FROM windows");
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM templates WHERE service_id = %lld", (long long)api);
    /* three windows of api with 8 new templates each (ids 1..24), bound 10 */
    for (int w = 0; w < 3; w++) {
        store_template t[8];
        for (int i = 0; i < 8; i++) {
            snprintf(text[i], sizeof text[i], "event %d of kind <NUM>", w * 8 + i + 1);
            t[i] = (store_template){.id = w * 8 + i + 1, .text = text[i], .count = 1, .max_level = 3};
        }
        assert_int_equal(store_templates_record(f->st, api, window_id, T0 + w * 5 * MIN, t, 8, 0, 10, 0, err, sizeof err),
                         STORE_OK);
        assert_int_equal(scalar(f->path, sql), w < 1 ? 8 : 10);
    }
    assert_int_equal(scalar(f->path, sql), 10);
    /* the kept are the most recently seen: all 8 of the last window and the 2 newest of the one before */
    snprintf(sql, sizeof sql, "SELECT min(id) FROM templates WHERE service_id = %lld", (long long)api);
    assert_int_equal(scalar(f->path, sql), 15);
    /* another service's templates do not count against api's bound */
    store_template one = {.id = 1, .text = "connection <*> ok", .count = 4, .max_level = 3};
    assert_int_equal(store_templates_record(f->st, db, window_id, T0, &one, 1, 0, 10, 0, err, sizeof err), STORE_OK);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM templates WHERE service_id = %lld", (long long)api);
    assert_int_equal(scalar(f->path, sql), 10);
    /* an evicted id seen again by a live miner is recorded again, under its id */
    store_template back = {.id = 3, .text = "event 3 of kind <NUM>", .count = 2, .max_level = 3};
    assert_int_equal(store_templates_record(f->st, api, window_id, T0 + 15 * MIN, &back, 1, 0, 10, 0, err, sizeof err),
                     STORE_OK);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM templates WHERE service_id = %lld AND id = 3", (long long)api);
    assert_int_equal(scalar(f->path, sql), 1);
    int loaded = 0;
    int64_t id_max = -1;
    assert_int_equal(store_templates_load(f->st, api, count_loaded, &loaded, &id_max, err, sizeof err), STORE_OK);
    assert_int_equal(loaded, 10);
    assert_int_equal(id_max, 24);

    /* retention: nothing was recorded before an hour ago; everything was recorded before a second from now */
    store_expired e;
    int more = 1;
    assert_int_equal(store_expire_templates(f->st, time_now_ms() - 3600 * 1000, 100, &e, &more, err, sizeof err),
                     STORE_OK);
    assert_int_equal(e.templates, 0);
    assert_int_equal(more, 0);
    assert_int_equal(store_expire_templates(f->st, time_now_ms() + 1000, 4, &e, &more, err, sizeof err), STORE_OK);
    assert_int_equal(e.templates, 4); /* one batch: at most max_rows, and more to do */
    assert_int_equal(more, 1);
    assert_int_equal(store_expire_templates(f->st, time_now_ms() + 1000, 100, &e, &more, err, sizeof err), STORE_OK);
    assert_int_equal(e.templates, 7);
    assert_int_equal(more, 0);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM templates"), 0);
    /* the high-water mark outlives the templates */
    loaded = 0;
    assert_int_equal(store_templates_load(f->st, api, count_loaded, &loaded, &id_max, err, sizeof err), STORE_OK);
    assert_int_equal(loaded, 0);
    assert_int_equal(id_max, 24);
    assert_int_equal(store_templates_load(f->st, db, count_loaded, &loaded, &id_max, err, sizeof err), STORE_OK);
    assert_int_equal(id_max, 1);
}

/* Incident retention: a resolved incident that ended and was resolved by the cutoff and has no member left goes,
 * with the incidents merged into it (at any depth); an open one, one with a member left, and one resolved or ended
 * after the cutoff stay; a batch stops at its bound and says there is more. */
static void test_incidents_expire_once_resolved_and_their_members_gone(void **state)
{
    fixture *f = *state;
    char err[256], sql[640];
    batch *b = batch_new(T0);
    add(b, "api", T0, "x");
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    int64_t svc = scalar(f->path, "SELECT id FROM services WHERE name = 'api'");
    int64_t win = scalar(f->path, "SELECT min(id) FROM windows");
    const int64_t cut = T0 + 60 * MIN;
    static const struct {
        int id;
        const char *status;
        int64_t end, resolved;
        int merged_into;
    } incs[] = {
        {1, "resolved", T0 + MIN, T0 + 2 * MIN, 0},      /* goes */
        {2, "resolved", T0 + MIN, T0 + 2 * MIN, 1},      /* merged into 1: goes with it */
        {3, "resolved", T0 + MIN, T0 + 2 * MIN, 2},      /* merged into 2: so does it */
        {4, "open", T0 + MIN, 0, 0},                     /* open: stays, members or not */
        {5, "resolved", T0 + MIN, T0 + 2 * MIN, 0},      /* a member left: stays */
        {6, "resolved", T0 + MIN, cut + 1, 0},           /* resolved after the cutoff: stays */
        {7, "resolved", cut + 1, T0 + 2 * MIN, 0},       /* ended after the cutoff: stays */
        {8, "resolved", T0 + 2 * MIN, T0 + 3 * MIN, 0},  /* goes, in a second batch */
    };
    for (size_t i = 0; i < sizeof incs / sizeof incs[0]; i++) {
        char merged[24] = "NULL", resolved[24] = "NULL";
        if (incs[i].merged_into)
            snprintf(merged, sizeof merged, "%d", incs[i].merged_into);
        if (incs[i].resolved)
            snprintf(resolved, sizeof resolved, "%lld", (long long)incs[i].resolved);
        snprintf(sql, sizeof sql,
                 "INSERT INTO incidents(id, status, start_ms, end_ms, severity, severity_rank, services, members, "
                 "root_service, root_reason, summary, created_at, updated_at, resolved_at, merged_into) VALUES "
                 "(%d, '%s', %lld, %lld, 'low', 1, '[\"api\"]', 1, 'api', 'r', 's', %lld, %lld, %s, %s)",
                 incs[i].id, incs[i].status, (long long)T0, (long long)incs[i].end, (long long)T0, (long long)T0,
                 resolved, merged);
        exec_sql(f->path, sql);
    }
    snprintf(sql, sizeof sql,
             "INSERT INTO anomalies(window_id, service_id, window_start, window_end, severity, severity_rank, type, "
             "summary, evidence, recommended_action, created_at, incident_id) VALUES (%lld, %lld, %lld, %lld, 'low', "
             "1, 'config', 's', '[]', 'a', %lld, 5)",
             (long long)win, (long long)svc, (long long)T0, (long long)(T0 + 5 * MIN), (long long)T0);
    exec_sql(f->path, sql);

    store_expired e;
    int more = 0;
    /* a batch of one incident: 1 goes with the two merged into it, and there is more */
    assert_int_equal(store_expire_incidents(f->st, cut, 1, &e, &more, err, sizeof err), STORE_OK);
    assert_int_equal(e.incidents, 3);
    assert_int_equal(e.anomalies + e.windows, 0);
    assert_int_equal(more, 1);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM incidents WHERE id IN (1, 2, 3)"), 0);
    assert_int_equal(store_expire_incidents(f->st, cut, 100, &e, &more, err, sizeof err), STORE_OK);
    assert_int_equal(e.incidents, 1);
    assert_int_equal(more, 0);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM incidents"), 4);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM incidents WHERE id IN (4, 5, 6, 7)"), 4);
    assert_int_equal(store_expire_incidents(f->st, cut, 100, &e, &more, err, sizeof err), STORE_OK);
    assert_int_equal(e.incidents, 0);
    /* once window retention took 5's member, 5 goes too; the open one still stays */
    exec_sql(f->path, "DELETE FROM anomalies");
    assert_int_equal(store_expire_incidents(f->st, cut, 100, &e, &more, err, sizeof err), STORE_OK);
    assert_int_equal(e.incidents, 1);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM incidents WHERE id = 5"), 0);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM incidents WHERE id IN (4, 6, 7)"), 3);
}

/* One line of api at T0, so one window, and anomalies 1..n of that window (low, config), for the tests of
 * incidents and the outbox that make their rows by hand. */
static void api_window_with_anomalies(fixture *f, int n)
{
    char err[256], sql[512];
    batch *b = batch_new(T0);
    add(b, "api", T0, "x");
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    for (int id = 1; id <= n; id++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO anomalies(id, window_id, service_id, window_start, window_end, severity, "
                 "severity_rank, type, summary, evidence, recommended_action, created_at) SELECT %d, min(id), "
                 "min(service_id), %lld, %lld, 'low', 1, 'config', 's', '[]', 'a', %lld FROM windows",
                 id, (long long)T0, (long long)(T0 + 5 * MIN), (long long)T0);
        exec_sql(f->path, sql);
    }
}

/* An incident open longer than retention.windows: the anomaly whose notification opened it is gone with its
 * outbox rows, a later member's update is still there. The resolve goes where that update went, hanging from
 * that member (outbox rows need their anomaly: on PostgreSQL a foreign key, which failed the resolve before). */
static void test_incident_resolve_outlives_its_opening_anomaly(void **state)
{
    fixture *f = *state;
    char err[256], sql[900];
    api_window_with_anomalies(f, 2);
    snprintf(sql, sizeof sql,
             "INSERT INTO incidents(id, status, start_ms, end_ms, severity, severity_rank, services, members, "
             "root_service, root_reason, summary, created_at, updated_at, notified_by) VALUES (1, 'open', %lld, "
             "%lld, 'low', 1, '[\"api\"]', 2, 'api', 'r', 's', %lld, %lld, 1)",
             (long long)T0, (long long)(T0 + MIN), (long long)T0, (long long)T0);
    exec_sql(f->path, sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO outbox(anomaly_id, destination, kind, dedup_key, payload, status, next_attempt_at, "
             "created_at) VALUES (1, 'pd', 'pagerduty', 'anomalog:incident:1', '{}', 'sent', %lld, %lld), "
             "(2, 'pd', 'pagerduty', 'anomalog:incident:1', '{}', 'sent', %lld, %lld), "
             "(1, 'hook', 'webhook', 'anomalog:incident:1', '{}', 'sent', %lld, %lld)",
             (long long)T0, (long long)T0, (long long)T0, (long long)T0, (long long)T0, (long long)T0);
    exec_sql(f->path, sql);
    /* retention takes the opening anomaly with its notifications */
    exec_sql(f->path, "DELETE FROM outbox WHERE anomaly_id = 1");
    exec_sql(f->path, "DELETE FROM anomalies WHERE id = 1");

    incident_config ic = {.enabled = 1, .quiet_ms = 15 * MIN};
    route_config rt = {.enabled = 1};
    int resolved = 0;
    assert_int_equal(store_incidents_resolve(f->st, T0 + 16 * MIN, &ic, &rt, &resolved, err, sizeof err), STORE_OK);
    assert_int_equal(resolved, 1);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM incidents WHERE id = 1 AND status = 'resolved'"), 1);
    /* one resolve, to PagerDuty (where the update went), from the member still there */
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM outbox WHERE status = 'pending'"), 1);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM outbox WHERE status = 'pending' AND destination = 'pd' "
                                     "AND anomaly_id = 2 AND dedup_key = 'anomalog:incident:1'"),
                     1);
}

/* The claim takes the rows of one (dedup key, destination) in the order they were queued: a resolve queued
 * behind an incident's open held for incident.group_wait waits for it, other destinations do not. */
static void test_outbox_claims_in_order_per_key_and_destination(void **state)
{
    fixture *f = *state;
    char err[256], sql[900];
    api_window_with_anomalies(f, 1);
    const int64_t held_until = T0 + 30000;
    snprintf(sql, sizeof sql,
             "INSERT INTO outbox(id, anomaly_id, destination, kind, dedup_key, payload, status, next_attempt_at, "
             "created_at) VALUES (1, 1, 'pd', 'pagerduty', 'anomalog:incident:1', '{}', 'pending', %lld, %lld), "
             "(2, 1, 'pd', 'pagerduty', 'anomalog:incident:1', '{}', 'pending', %lld, %lld), "
             "(3, 1, 'hook', 'webhook', 'anomalog:incident:1', '{}', 'pending', %lld, %lld)",
             (long long)held_until, (long long)T0, (long long)T0, (long long)T0, (long long)T0, (long long)T0);
    exec_sql(f->path, sql);
    outbox_item it;
    /* the open (1) is held; the resolve behind it (2) is due but waits; the other destination's goes */
    assert_int_equal(store_outbox_claim(f->st, T0 + 1, 1000, &it, err, sizeof err), STORE_OK);
    assert_int_equal(it.id, 3);
    outbox_item_free(&it);
    assert_int_equal(store_outbox_claim(f->st, T0 + 2, 1000, &it, err, sizeof err), STORE_NOTFOUND);
    assert_int_equal(store_outbox_record(f->st, 3, T0 + 3, 200, "sent", NULL, 0, err, sizeof err), STORE_OK);
    /* the wait over: the open first, and while it is out (claimed, not recorded) the resolve still waits */
    assert_int_equal(store_outbox_claim(f->st, held_until, 1000, &it, err, sizeof err), STORE_OK);
    assert_int_equal(it.id, 1);
    outbox_item_free(&it);
    assert_int_equal(store_outbox_claim(f->st, held_until + 1, 1000, &it, err, sizeof err), STORE_NOTFOUND);
    assert_int_equal(store_outbox_record(f->st, 1, held_until + 2, 202, "sent", NULL, 0, err, sizeof err), STORE_OK);
    assert_int_equal(store_outbox_claim(f->st, held_until + 3, 1000, &it, err, sizeof err), STORE_OK);
    assert_int_equal(it.id, 2);
    outbox_item_free(&it);
}

static void test_pg_window_lease(void **state)
{
    fixture *f = *state;
    if (!is_pg(f->path))
        skip();
    char err[256];
    store *other;
    assert_int_equal(store_open(f->path, STORE_DURABLE_NORMAL, &other, err, sizeof err), STORE_OK);
    batch *b = batch_new(T0);
    add(b, "api", T0, "x");
    add(b, "db", T0, "y");
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    int closed = 0;
    assert_int_equal(store_windows_close(other, T0, 1, 1, NULL, &closed, err, sizeof err), STORE_OK);
    assert_int_equal(closed, 2);
    int64_t now = time_now_ms(), lease = 60000;
    window_work a, b2, x;
    assert_int_equal(store_window_claim(f->st, now, lease, 0, &a, err, sizeof err), STORE_OK);
    assert_int_equal(store_window_claim(other, now, lease, 0, &b2, err, sizeof err), STORE_OK);
    assert_true(a.id != b2.id);
    assert_int_equal(store_window_claim(other, now + lease - 1, lease, 0, &x, err, sizeof err), STORE_NOTFOUND);
    int recovered = -1;
    assert_int_equal(store_windows_recover(other, &recovered, err, sizeof err), STORE_OK);
    assert_int_equal(recovered, 0); /* both leases are live */
    json_t *verdict = json_pack("{s:s, s:[]}", "health", "normal", "anomalies");
    analysis_meta m = {.analyzer = "baseline", .prompt_tokens = -1, .completion_tokens = -1, .latency_ms = -1};
    assert_int_equal(store_window_finish(other, &b2, verdict, &m, err, sizeof err), STORE_OK);
    /* a's replica went quiet: after its lease, the other one takes the window */
    assert_int_equal(store_window_claim(other, now + lease, lease, 0, &x, err, sizeof err), STORE_OK);
    assert_int_equal(x.id, a.id);
    assert_int_equal(x.attempts, a.attempts + 1);
    assert_int_equal(store_window_finish(f->st, &a, verdict, &m, err, sizeof err), STORE_NOTFOUND);
    assert_int_equal(store_window_release(f->st, &a, err, sizeof err), STORE_OK);
    assert_int_equal(store_window_finish(other, &x, verdict, &m, err, sizeof err), STORE_OK);
    int64_t n = 0;
    assert_int_equal(store_windows_count(f->st, "analyzed", &n, err, sizeof err), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(scalar(f->path, "SELECT sum(attempts) FROM windows"), 3);
    json_decref(verdict);
    window_work_free(&a);
    window_work_free(&b2);
    window_work_free(&x);
    store_close(other);
}

/* Replicas starting together on an empty PostgreSQL database apply each migration once. */
static void *open_close(void *p)
{
    fixture *f = p;
    char err[256];
    store *st = NULL;
    store_rc rc = store_open(f->path, STORE_DURABLE_NORMAL, &st, err, sizeof err);
    store_close(st);
    return (void *)(intptr_t)rc;
}

static void test_pg_migrations_run_once(void **state)
{
    fixture *f = *state;
    if (!is_pg(f->path))
        skip();
    exec_sql(f->path, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, open_close, f);
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        assert_int_equal((intptr_t)rc, STORE_OK);
    }
    assert_int_equal(scalar(f->path, "SELECT max(version) FROM schema_version"), store_schema_latest());
}

/* A migration numbered below the database's highest (one that landed later) is still applied on PostgreSQL. */
static void test_pg_migration_below_the_highest_is_applied(void **state)
{
    fixture *f = *state;
    if (!is_pg(f->path))
        skip();
    int64_t rows = scalar(f->path, "SELECT count(*) FROM schema_version");
    exec_sql(f->path, "DELETE FROM schema_version WHERE version = 6; "
                      "ALTER TABLE anomalies DROP COLUMN evidence_verified");
    store *again;
    char err[256];
    assert_int_equal(store_open(f->path, STORE_DURABLE_NORMAL, &again, err, sizeof err), STORE_OK);
    assert_int_equal(store_schema_version(again), store_schema_latest());
    store_close(again);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM schema_version"), rows);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM information_schema.columns "
                                     "WHERE table_name = 'anomalies' AND column_name = 'evidence_verified'"),
                     1);
}

/* A PostgreSQL password never reaches a log line. */
static void test_location_hides_password(void **state)
{
    (void)state;
    char buf[256];
    assert_string_equal(store_location("postgresql://app:s3cret@db:5432/logs", buf, sizeof buf),
                        "postgresql://app:***@db:5432/logs");
    assert_string_equal(store_location("postgres://db/logs?user=app&password=s3cret&sslmode=require", buf, sizeof buf),
                        "postgres://app:***@db/logs?sslmode=require");
    /* percent-encoded (libpq decodes it), and a password alone */
    assert_string_equal(store_location("postgresql://app:s%40cret@db/logs", buf, sizeof buf), "postgresql://app:***@db/logs");
    assert_null(strstr(store_location("postgresql://:s3cret@db/logs", buf, sizeof buf), "s3cret"));
    assert_string_equal(store_location("postgres://app@db/logs", buf, sizeof buf), "postgres://app@db/logs");
    /* what libpq cannot read is not shown at all */
    assert_string_equal(store_location("postgres://db/logs?password=s3cret&bogus=1", buf, sizeof buf),
                        "postgres://(a URI libpq cannot read)");
    assert_string_equal(store_location("./a:b@c.db", buf, sizeof buf), "./a:b@c.db");
}

/* The listing reads an index between bounds (store.c): "since" becomes a range
 * on start through the longest window, so a long window that began well before
 * since but ends after it must still be listed; until and the cursor together
 * take the smaller; status and health have statements of their own. */
static void test_listing_bounds(void **state)
{
    fixture *f = *state;
    batch *b = batch_new(T0);
    add(b, "long", T0 + 1, "in the hour window");
    char err[256];
    assert_int_equal(store_write_batches(f->st, &b, 1, 60 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    b = batch_new(T0);
    for (int i = 0; i < 12; i++)
        add(b, "short", T0 + i * 5 * MIN, "x");
    assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
    exec_sql(f->path, "UPDATE windows SET status = 'failed', health = 'unknown' WHERE start_ms = "
                      "1795514400000 + 10 * 300000");

    window_info *rows;
    size_t n;
    int more;
    /* since T0+50m: short windows 10 and 11 (start 50m, 55m), and the hour window (start T0, end T0+60m) */
    window_query q = {.limit = 10, .has_since = 1, .since_ms = T0 + 50 * MIN};
    assert_int_equal(store_windows_list(f->st, &q, &rows, &n, &more, err, sizeof err), STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].start_ms, T0 + 55 * MIN);
    assert_int_equal(rows[1].start_ms, T0 + 50 * MIN);
    assert_string_equal(rows[2].service, "long");
    free(rows);

    /* until T0+30m and a cursor at window 8 (40m): until is the smaller bound */
    q = (window_query){.limit = 2, .service = "short", .has_until = 1, .until_ms = T0 + 30 * MIN, .has_cursor = 1,
                       .cursor_start = T0 + 40 * MIN, .cursor_id = 1000};
    assert_int_equal(store_windows_list(f->st, &q, &rows, &n, &more, err, sizeof err), STORE_OK);
    assert_int_equal(n, 2);
    assert_true(more);
    assert_int_equal(rows[0].start_ms, T0 + 25 * MIN);
    assert_int_equal(rows[1].start_ms, T0 + 20 * MIN);
    /* then the cursor the page gave is the smaller one */
    q.cursor_start = rows[1].start_ms;
    q.cursor_id = rows[1].id;
    free(rows);
    assert_int_equal(store_windows_list(f->st, &q, &rows, &n, &more, err, sizeof err), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].start_ms, T0 + 15 * MIN);
    free(rows);

    const char *st[] = {"failed", NULL}, *he[] = {NULL, "unknown"};
    for (int i = 0; i < 2; i++) {
        q = (window_query){.limit = 10, .status = st[i], .health = he[i]};
        assert_int_equal(store_windows_list(f->st, &q, &rows, &n, &more, err, sizeof err), STORE_OK);
        assert_int_equal(n, 1);
        assert_int_equal(rows[0].start_ms, T0 + 50 * MIN);
        free(rows);
    }
    /* a status and a health that no window has together */
    q = (window_query){.limit = 10, .status = "failed", .health = "normal"};
    assert_int_equal(store_windows_list(f->st, &q, &rows, &n, &more, err, sizeof err), STORE_OK);
    assert_int_equal(n, 0);
    free(rows);
}

/* The writer does not checkpoint (store.c, Checkpoints): past CKPT_PAGES of WAL
 * the checkpointer thread copies the pages into the database file. Only a
 * checkpoint writes that file in WAL mode, so its growth is the proof. */
static void test_checkpoints_in_the_background(void **state)
{
    fixture *f = *state;
    if (is_pg(f->path))
        skip(); /* about the SQLite file */
    static char msg[200];
    memset(msg, 'x', sizeof msg - 1);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    off_t before = st.st_size;
    char err[256];
    for (int k = 0; k < 4; k++) { /* about 2000 pages of WAL, in four commits */
        batch *b = batch_new(T0);
        for (int i = 0; i < 10000; i++)
            add(b, "api", T0 + i, msg);
        assert_int_equal(store_write_batches(f->st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
        batch_free(b);
    }
    for (int i = 0; i < 500; i++) {
        assert_int_equal(stat(f->path, &st), 0);
        if (st.st_size > before + 4 * 1024 * 1024)
            break;
        usleep(10 * 1000);
    }
    assert_true(st.st_size > before + 4 * 1024 * 1024);
}

/* A migration numbered below the database's highest version (numbers are
 * handed out ahead of merging) is still applied when the database lacks it. */
static void test_missing_lower_migration_is_applied(void **state)
{
    fixture *f = *state;
    if (is_pg(f->path))
        skip(); /* SQLite's catalogue; test_pg_migration_below_the_highest_is_applied is PostgreSQL's */
    assert_true(scalar(f->path, "SELECT max(version) FROM schema_version") > 7);
    store_close(f->st);
    f->st = NULL;
    exec_sql(f->path, "DELETE FROM schema_version WHERE version = 7; DROP INDEX windows_by_length; "
                      "DROP INDEX windows_by_status_start; DROP INDEX windows_by_health; "
                      "CREATE INDEX windows_by_health ON windows (health, start_ms DESC)");
    char err[256];
    assert_int_equal(store_open(f->path, STORE_DURABLE_NORMAL, &f->st, err, sizeof err), STORE_OK);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM schema_version WHERE version = 7"), 1);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'windows_by_length'"), 1);
    assert_int_equal(store_schema_version(f->st), store_schema_latest());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reopen_keeps_schema_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_windows_are_aligned_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_fields_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_lines_are_counted_not_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_answers_kept_a_moment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_windows_in_one_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_group_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paging_with_service_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_templates_bounded_and_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incidents_expire_once_resolved_and_their_members_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_claims_in_order_per_key_and_destination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incident_resolve_outlives_its_opening_anomaly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_lines_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_lower_migration_is_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_in_the_background, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_journal_write_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_queue_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_window_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_transaction_retried_on_a_lost_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_migrations_run_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_migration_below_the_highest_is_applied, setup, teardown),
        cmocka_unit_test(test_location_hides_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
