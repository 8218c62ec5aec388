/*
 * query.c — bench_query: how fast the real server answers GET /anomalies,
 * GET /windows and GET /windows/{id}/lines, and how fast it starts, on a
 * database of realistic size.
 *
 * The database: 10 million log lines (--lines), in 200,000 five-minute
 * windows (50 lines each) of 40 services, and 100,000 anomalies (exactly 10
 * per 20 windows, spread at random), created through store_open() so the
 * tables and indexes are the migrations' own, then filled by bulk INSERTs in
 * large transactions. Windows are analyzed (health normal, degraded or
 * critical by their anomalies), one in 200 failed (health unknown, its retry
 * far in the future so the server leaves it alone); none is open, so the
 * server has nothing to close or analyse while it is measured. The file is
 * cached beside the build (build-bench/query-<lines>.v<gen>.db) and reused by
 * later runs; each run opens it with store_open() first, so a migration added
 * since it was built is applied before anything is timed. A 1/10-size
 * database is built the same way for the start-up comparison.
 *
 * What it measures, against the real `anomalog serve` binary on loopback
 * (retention off: it would start deleting the weeks-old generated lines):
 *  1. Queries: one keep-alive connection, each query of a table of typical
 *     ones (no filter, service, severity, type, health, status, time range,
 *     combinations, and a deep page: the cursor the server hands out after
 *     50,000 anomalies or 100,000 windows; and a window's lines, from the
 *     start and from the middle of the window) sent --requests times after a
 *     warm-up; p50, p99 and max latency, and the rows it returned (a query
 *     that answers nothing proves nothing, so an empty answer is an error).
 *     The limit in the same run is GET /healthz over the same connection:
 *     the cost of HTTP and the server's dispatch with no database work.
 *  2. Start-up: time from exec to the "listening on" line, --starts times,
 *     median and max, on the full database and on the 1/10 one: a start-up
 *     that scanned a table would grow with it, so the ratio of the two
 *     medians shows whether anything at start-up depends on the data size.
 *
 * It prints figures and never asserts a timing: the exit status is 0 unless
 * the database could not be built, the server could not be run, or a query
 * failed (1), or the command line is wrong (2).
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "anomalog/store.h"
#include "common.h"

#define GEN_VERSION 1           /* bump when the generated rows change: the cache is rebuilt */
#define NSERVICES 40
#define LINES_PER_WINDOW 50
#define WINDOW_MS (5 * 60 * 1000)
#define TXN_ROWS 200000
#define TARGET_QUERY_MS 10.0
#define TARGET_START_MS 300.0

typedef struct options {
    long long lines;
    int requests;
    int starts;
    const char *bin;
    const char *cache;
    int json_only;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_query [--lines N] [--requests N] [--starts N] [--cache DIR] [--bin PATH] [--json-only]\n"
               "  --lines N     log lines in the database (default 10000000; windows N/50, anomalies N/100)\n"
               "  --requests N  requests per query (default 200, after 10 warm-up ones)\n"
               "  --starts N    server starts timed per database (default 7)\n"
               "  --cache DIR   where the generated databases are kept (default: the build directory)\n"
               "  --bin PATH    anomalog binary (default $ANOMALOG_BIN, else ../anomalog beside this program)\n"
               "  --json-only   print only the JSON object on stdout\n"
               "  (--duration and other arguments of bench/run-all.sh are accepted and ignored)\n");
}

/* ---- the database ---------------------------------------------------------- */

static int64_t base_ms; /* 2026-10-01T00:00:00Z */

static const char *const severities[] = {"low", "medium", "high", "critical"};
static const char *const types[] = {"error_spike", "auth_failure", "latency", "security", "resource", "config",
                                    "unknown"};
static const char *const users[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"};

static int sql_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        progress("%s: %s", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int step_done(sqlite3 *db, sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        progress("insert: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* One log line of window w at position k: the access-log / cache / upstream /
 * payment / auth mix of bench_ingest, ~110 bytes, a third with attributes. */
static void log_row(sqlite3_stmt *q, int64_t window_id, int64_t start, int k)
{
    char m[256], a[160];
    unsigned lv = rnd_below(100);
    const char *level = lv < 70 ? "info" : lv < 85 ? "debug" : lv < 95 ? "warn" : "error";
    unsigned long long rid = (unsigned long long)rnd();
    const char *user = users[rnd_below(8)];
    int n;
    if (lv < 70)
        n = snprintf(m, sizeof m, "GET /api/v1/users/%u 200 %ums user=%s request_id=%016llx bytes=%u",
                     10000 + rnd_below(90000), 1 + rnd_below(80), user, rid, 200 + rnd_below(8000));
    else if (lv < 85)
        n = snprintf(m, sizeof m, "cache miss key=session:%016llx ttl=300 backend=redis-%u latency=%ums", rid,
                     rnd_below(3), rnd_below(5));
    else if (lv < 95)
        n = snprintf(m, sizeof m, "upstream payments responded slowly: %ums (threshold 500ms) request_id=%016llx",
                     500 + rnd_below(3000), rid);
    else
        n = snprintf(m, sizeof m, "authentication failed for user=%s from 10.%u.%u.%u: invalid password", user,
                     rnd_below(256), rnd_below(256), rnd_below(256));
    int64_t ts = start + (int64_t)k * (WINDOW_MS / LINES_PER_WINDOW) + rnd_below(1000);
    sqlite3_bind_int64(q, 1, window_id);
    sqlite3_bind_int64(q, 2, ts);
    sqlite3_bind_text(q, 3, level, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, m, n, SQLITE_TRANSIENT);
    if (rnd_below(3) == 0) {
        int an = snprintf(a, sizeof a, "{\"host\":\"web-%u\",\"region\":\"eu-west-1\",\"trace_id\":\"%016llx\"}",
                          rnd_below(12), (unsigned long long)rnd());
        sqlite3_bind_text(q, 5, a, an, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(q, 5);
    }
    sqlite3_bind_int64(q, 6, ts + 200);
}

/* Fills an empty, migrated database. 0 or -1 (reason printed). */
static int fill(const char *path, long long lines)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        progress("open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_stmt *svc = NULL, *win = NULL, *log = NULL, *ano = NULL;
    int rc = -1;
    if (sql_exec(db, "PRAGMA synchronous = OFF") || sql_exec(db, "PRAGMA cache_size = -262144") ||
        sqlite3_prepare_v2(db, "INSERT INTO services(id, name, watermark, last_seen, created_at, context) "
                               "VALUES (?1, ?2, ?3, ?3, ?4, 'a web service')", -1, &svc, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO windows(id, service_id, start_ms, end_ms, status, line_count, "
                               "last_line_at, health, anomaly_count, analyzer, model, prompt_tokens, "
                               "completion_tokens, latency_ms, error, attempts, next_attempt_at, closed_at, "
                               "analyzed_at, error_lines) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'llm', "
                               "'llama3.2', ?10, ?11, ?12, ?13, 1, ?14, ?15, ?16, ?17)", -1, &win, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO logs(window_id, ts, level, message, attributes, received_at) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &log, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO anomalies(window_id, service_id, window_start, window_end, severity, "
                               "severity_rank, type, summary, evidence, recommended_action, created_at, analyzer, "
                               "template_ids) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'llm', '[3,7]')",
                           -1, &ano, NULL)) {
        progress("prepare: %s", sqlite3_errmsg(db));
        goto out;
    }
    long long nwin = lines / LINES_PER_WINDOW, per_service = (nwin + NSERVICES - 1) / NSERVICES;
    if (sql_exec(db, "BEGIN"))
        goto out;
    for (int s = 0; s < NSERVICES; s++) {
        char name[32];
        snprintf(name, sizeof name, "svc-%02d", s);
        sqlite3_bind_int(svc, 1, s + 1);
        sqlite3_bind_text(svc, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(svc, 3, base_ms + per_service * WINDOW_MS);
        sqlite3_bind_int64(svc, 4, base_ms);
        if (step_done(db, svc))
            goto out;
    }
    /* anomalies per window: each block of 20 windows gets this pattern, shuffled (10 in all) */
    static const int pattern[20] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 3};
    int counts[20];
    long long in_txn = 0, anomaly_id = 0, done_lines = 0;
    double t0 = now_s();
    for (long long w = 0; w < nwin; w++) {
        if (w % 20 == 0) {
            memcpy(counts, pattern, sizeof counts);
            for (int i = 19; i > 0; i--) {
                int j = (int)rnd_below((unsigned)i + 1), t = counts[i];
                counts[i] = counts[j];
                counts[j] = t;
            }
        }
        int64_t id = w + 1, service = w % NSERVICES + 1, start = base_ms + (w / NSERVICES) * WINDOW_MS;
        int na = counts[w % 20], max_rank = 0;
        int ranks[3];
        for (int i = 0; i < na; i++) {
            unsigned r = rnd_below(10);
            ranks[i] = r < 4 ? 1 : r < 7 ? 2 : r < 9 ? 3 : 4;
            if (ranks[i] > max_rank)
                max_rank = ranks[i];
        }
        int failed = na == 0 && rnd_below(200) == 0;
        const char *health = failed ? "unknown" : na == 0 ? "normal" : max_rank >= 3 ? "critical" : "degraded";
        sqlite3_bind_int64(win, 1, id);
        sqlite3_bind_int64(win, 2, service);
        sqlite3_bind_int64(win, 3, start);
        sqlite3_bind_int64(win, 4, start + WINDOW_MS);
        sqlite3_bind_text(win, 5, failed ? "failed" : "analyzed", -1, SQLITE_STATIC);
        sqlite3_bind_int(win, 6, LINES_PER_WINDOW);
        sqlite3_bind_int64(win, 7, start + WINDOW_MS - 500);
        sqlite3_bind_text(win, 8, health, -1, SQLITE_STATIC);
        sqlite3_bind_int(win, 9, na);
        sqlite3_bind_int(win, 10, 900 + (int)rnd_below(600));
        sqlite3_bind_int(win, 11, 40 + (int)rnd_below(200));
        sqlite3_bind_int(win, 12, 800 + (int)rnd_below(4000));
        if (failed)
            sqlite3_bind_text(win, 13, "model answered invalid JSON 3 times", -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(win, 13);
        if (failed)
            sqlite3_bind_int64(win, 14, INT64_C(4102444800000)); /* 2100: not retried while measured */
        else
            sqlite3_bind_null(win, 14);
        sqlite3_bind_int64(win, 15, start + WINDOW_MS + 30000);
        sqlite3_bind_int64(win, 16, start + WINDOW_MS + 35000);
        sqlite3_bind_int(win, 17, (int)rnd_below(4));
        if (step_done(db, win))
            goto out;
        for (int k = 0; k < LINES_PER_WINDOW; k++) {
            log_row(log, id, start, k);
            if (step_done(db, log))
                goto out;
        }
        for (int i = 0; i < na; i++) {
            int t = (int)rnd_below(7);
            char summary[160], evidence[200];
            snprintf(summary, sizeof summary, "%s in svc-%02d: %u lines over the usual rate", types[t],
                     (int)(service - 1), 10 + rnd_below(300));
            snprintf(evidence, sizeof evidence,
                     "[\"authentication failed for user=%s from 10.0.%u.%u: invalid password\"]", users[rnd_below(8)],
                     rnd_below(256), rnd_below(256));
            sqlite3_bind_int64(ano, 1, id);
            sqlite3_bind_int64(ano, 2, service);
            sqlite3_bind_int64(ano, 3, start);
            sqlite3_bind_int64(ano, 4, start + WINDOW_MS);
            sqlite3_bind_text(ano, 5, severities[ranks[i] - 1], -1, SQLITE_STATIC);
            sqlite3_bind_int(ano, 6, ranks[i]);
            sqlite3_bind_text(ano, 7, types[t], -1, SQLITE_STATIC);
            sqlite3_bind_text(ano, 8, summary, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ano, 9, evidence, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ano, 10, "check the upstream and the recent deploy", -1, SQLITE_STATIC);
            sqlite3_bind_int64(ano, 11, start + WINDOW_MS + 35000);
            if (step_done(db, ano))
                goto out;
            anomaly_id++;
        }
        done_lines += LINES_PER_WINDOW;
        if ((in_txn += LINES_PER_WINDOW) >= TXN_ROWS) {
            if (sql_exec(db, "COMMIT") || sql_exec(db, "BEGIN"))
                goto out;
            in_txn = 0;
            if (done_lines % 1000000 == 0)
                progress("  %lld lines, %.0f lines/s", done_lines, (double)done_lines / (now_s() - t0));
        }
    }
    if (sql_exec(db, "COMMIT") || sql_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)"))
        goto out;
    progress("  %lld lines, %lld windows, %lld anomalies in %.1f s", done_lines, nwin, anomaly_id, now_s() - t0);
    rc = 0;
out:
    sqlite3_finalize(svc);
    sqlite3_finalize(win);
    sqlite3_finalize(log);
    sqlite3_finalize(ano);
    sqlite3_close(db);
    return rc;
}

static void unlink_db(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char p[PATH_MAX];
    for (int i = 0; i < 3; i++) {
        pathf(p, sizeof p, path, sfx[i]);
        unlink(p);
    }
}

/* Migrates path (a new migration since it was built is applied here, not
 * while the server is timed), building and filling it first when absent.
 * The file appears under its name only once complete. */
static int db_ready(const char *path, long long lines)
{
    char err[512];
    store *st;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        char tmp[PATH_MAX];
        pathf(tmp, sizeof tmp, path, ".building");
        unlink_db(tmp);
        progress("building %s (%lld lines; kept for later runs)", path, lines);
        if (store_open(tmp, STORE_DURABLE_NORMAL, &st, err, sizeof err) != STORE_OK) {
            progress("%s", err);
            return -1;
        }
        store_close(st);
        if (fill(tmp, lines) || rename(tmp, path) != 0) {
            progress("building %s failed", path);
            unlink_db(tmp);
            return -1;
        }
        unlink_db(tmp);
    }
    double t0 = now_s();
    if (store_open(path, STORE_DURABLE_NORMAL, &st, err, sizeof err) != STORE_OK) {
        progress("%s", err);
        return -1;
    }
    progress("%s: schema %d (opened and migrated in %.2f s)", path, store_schema_version(st), now_s() - t0);
    store_close(st);
    return 0;
}

/* The cursor a listing hands out after some row: "<a>:<b>" of the one row sql selects. */
static int cursor_of(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    int rc = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
        snprintf(out, cap, "%lld:%lld", (long long)sqlite3_column_int64(q, 0), (long long)sqlite3_column_int64(q, 1));
        rc = 0;
    } else {
        progress("%s: %s", sql, db ? sqlite3_errmsg(db) : "out of memory");
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return rc;
}

/* The cursor the server hands out after `depth` rows of a newest-first listing. */
static int deep_cursor(const char *path, const char *table, long long depth, char *out, size_t cap)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s, id FROM %s ORDER BY %s DESC, id DESC LIMIT 1 OFFSET %lld",
             strcmp(table, "anomalies") ? "start_ms" : "window_start", table,
             strcmp(table, "anomalies") ? "start_ms" : "window_start", depth - 1);
    return cursor_of(path, sql, out, cap);
}

/* The cursor GET /windows/{id}/lines hands out after `depth` lines of window `id` (by ts, then id). */
static int lines_cursor(const char *path, long long window_id, long long depth, char *out, size_t cap)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT ts, id FROM logs WHERE window_id = %lld ORDER BY ts, id LIMIT 1 OFFSET %lld",
             window_id, depth - 1);
    return cursor_of(path, sql, out, cap);
}

/* ---- the queries -------------------------------------------------------- */

typedef struct query {
    char name[48];
    char path[256];
    const char *list;        /* "anomalies", "windows", "lines", or NULL (/healthz) */
    double p50, p99, max;
    long rows;               /* in the last answer */
    int errors;
    char first_err[200];
} query;

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    buf *b = ud;
    size_t len = size * n;
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return 0;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

static void run_query(CURL *h, int port, buf *b, query *q, int requests)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, q->path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    double *lat = xmalloc((size_t)requests * sizeof *lat);
    int n = 0;
    for (int i = -10; i < requests; i++) {
        b->n = 0;
        double t0 = now_s();
        CURLcode cc = curl_easy_perform(h);
        double ms = (now_s() - t0) * 1000;
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK || status != 200) {
            if (!q->errors++)
                snprintf(q->first_err, sizeof q->first_err, "%s: %s", cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP",
                         cc != CURLE_OK ? "" : b->n ? b->p : "no body");
            continue;
        }
        if (i >= 0)
            lat[n++] = ms;
    }
    if (q->list && b->n) { /* the last answer: how many rows, and proof it was a real one */
        json_t *j = json_loadb(b->p, b->n, 0, NULL);
        json_t *arr = json_object_get(j, q->list);
        q->rows = json_is_array(arr) ? (long)json_array_size(arr) : -1;
        json_decref(j);
        if (q->rows <= 0 && !q->errors++)
            snprintf(q->first_err, sizeof q->first_err, "no %s in the answer: %.150s", q->list, b->p);
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    q->p50 = pct(lat, (size_t)n, 0.50);
    q->p99 = pct(lat, (size_t)n, 0.99);
    q->max = n ? lat[n - 1] : 0;
    free(lat);
}

/* The server keeps everything: retention would otherwise start deleting the
 * generated lines (their event times are weeks old) while they are measured,
 * and change the cached database. */
static const char *const server_args[] = {"--retention-lines", "0", "--retention-windows", "0", NULL};

/* ---- start-up ---------------------------------------------------------------- */

typedef struct startup {
    double median_ms, max_ms;
} startup;

static int time_starts(const char *bin, const char *db, const char *logpath, int starts, startup *out)
{
    double *t = xmalloc((size_t)starts * sizeof *t);
    int rc = 0;
    for (int i = 0; i < starts && !rc; i++) {
        server s;
        stop_result sr;
        char err[1024];
        if (server_start(&s, bin, db, logpath, server_args, err, sizeof err)) {
            progress("start-up on %s: %s", db, err);
            rc = -1;
        }
        t[i] = s.startup_s * 1000;
        server_stop(&s, &sr);
    }
    if (!rc) {
        qsort(t, (size_t)starts, sizeof *t, cmp_double);
        out->median_ms = t[starts / 2];
        out->max_ms = t[starts - 1];
    }
    free(t);
    return rc;
}

/* ---- main ------------------------------------------------------------------ */

static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end = NULL;
        int last = i + 1 >= argc;
        if (!strcmp(a, "--lines") && !last) {
            o->lines = strtoll(argv[++i], &end, 10);
            if (*end || o->lines < 100000 || o->lines > 1000000000LL) {
                fprintf(stderr, "bench_query: --lines: \"%s\" is not in 100000..1000000000\n", argv[i]);
                return -1;
            }
        } else if ((!strcmp(a, "--requests") || !strcmp(a, "--starts")) && !last) {
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 100000) {
                fprintf(stderr, "bench_query: %s: \"%s\" is not in 1..100000\n", a, argv[i]);
                return -1;
            }
            *(a[2] == 'r' ? &o->requests : &o->starts) = (int)n;
        } else if (!strcmp(a, "--cache") && !last) {
            o->cache = argv[++i];
        } else if (!strcmp(a, "--bin") && !last) {
            o->bin = argv[++i];
        } else if (!strcmp(a, "--json-only")) {
            o->json_only = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if ((!strcmp(a, "--duration") || !strcmp(a, "--connections") || !strcmp(a, "--batch") ||
                    !strcmp(a, "--rate")) && !last) {
            i++; /* bench/run-all.sh passes its arguments to every benchmark */
        } else if (!strcmp(a, "--keep")) {
        } else {
            fprintf(stderr, "bench_query: unknown argument \"%s\"\n", a);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_name = "bench_query";
    options o = {.lines = 10000000, .requests = 200, .starts = 7};
    if (parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    char binbuf[PATH_MAX], cachebuf[PATH_MAX];
    if (!o.bin)
        o.bin = default_bin(binbuf, sizeof binbuf);
    if (access(o.bin, X_OK) != 0) {
        fprintf(stderr, "bench_query: server binary %s: %s (build it, or pass --bin)\n", o.bin, strerror(errno));
        return 1;
    }
    if (!o.cache) { /* the build directory: the parent of the server binary's folder or the binary's own */
        snprintf(cachebuf, sizeof cachebuf, "%s", o.bin);
        char *slash = strrchr(cachebuf, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(cachebuf, sizeof cachebuf, ".");
        o.cache = cachebuf;
    }
    signal(SIGPIPE, SIG_IGN);
    struct tm tm = {.tm_year = 2026 - 1900, .tm_mon = 9, .tm_mday = 1};
    base_ms = (int64_t)timegm(&tm) * 1000;

    char db[PATH_MAX], small_db[PATH_MAX], name[64], logpath[PATH_MAX];
    snprintf(name, sizeof name, "/query-%lld.v%d.db", o.lines, GEN_VERSION);
    pathf(db, sizeof db, o.cache, name);
    snprintf(name, sizeof name, "/query-%lld.v%d.db", o.lines / 10, GEN_VERSION);
    pathf(small_db, sizeof small_db, o.cache, name);
    snprintf(name, sizeof name, "/bench-query-%d.log", (int)getpid());
    const char *tmp = getenv("TMPDIR");
    pathf(logpath, sizeof logpath, tmp && *tmp ? tmp : "/tmp", name);
    rng_state = 0x9E3779B97F4A7C15ULL;
    if (db_ready(db, o.lines))
        return 1;
    rng_state = 0x9E3779B97F4A7C15ULL;
    if (db_ready(small_db, o.lines / 10))
        return 1;

    char acur[64], wcur[64], lcur[64];
    long long nwin = o.lines / LINES_PER_WINDOW;
    if (deep_cursor(db, "anomalies", o.lines / 200, acur, sizeof acur) ||
        deep_cursor(db, "windows", nwin / 2, wcur, sizeof wcur) ||
        lines_cursor(db, nwin / 2, LINES_PER_WINDOW / 2, lcur, sizeof lcur))
        return 1;
    /* a day in the middle of the data, and the service and type most queries name */
    int64_t mid = base_ms + (nwin / NSERVICES / 2) * WINDOW_MS;
    char since[32], until[32];
    time_t ss = (time_t)(mid / 1000), us = (time_t)(mid / 1000 + 86400);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime(&ss));
    strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", gmtime(&us));

    query qs[] = {
        {.name = "healthz (the limit)", .path = "/healthz", .list = NULL},
        {.name = "anomalies", .path = "/anomalies?limit=50", .list = "anomalies"},
        {.name = "anomalies service", .path = "/anomalies?service=svc-17&limit=50", .list = "anomalies"},
        {.name = "anomalies severity=critical", .path = "/anomalies?severity=critical&limit=50", .list = "anomalies"},
        {.name = "anomalies type=security", .path = "/anomalies?type=security&limit=50", .list = "anomalies"},
        {.name = "anomalies service+severity+type", .path = "/anomalies?service=svc-17&severity=high&type=auth_failure&limit=50", .list = "anomalies"},
        {.name = "anomalies since/until", .path = "", .list = "anomalies"},
        {.name = "anomalies service+since/until", .path = "", .list = "anomalies"},
        {.name = "anomalies deep cursor", .path = "", .list = "anomalies"},
        {.name = "anomalies critical deep cursor", .path = "", .list = "anomalies"},
        {.name = "windows", .path = "/windows?limit=50", .list = "windows"},
        {.name = "windows service", .path = "/windows?service=svc-17&limit=50", .list = "windows"},
        {.name = "windows health=critical", .path = "/windows?health=critical&limit=50", .list = "windows"},
        {.name = "windows status=failed", .path = "/windows?status=failed&limit=50", .list = "windows"},
        {.name = "windows service+health", .path = "/windows?service=svc-17&health=degraded&limit=50", .list = "windows"},
        {.name = "windows since/until", .path = "", .list = "windows"},
        {.name = "windows service+since/until", .path = "", .list = "windows"},
        {.name = "windows deep cursor", .path = "", .list = "windows"},
        {.name = "windows health deep cursor", .path = "", .list = "windows"},
        {.name = "window lines", .path = "", .list = "lines"},
        {.name = "window lines cursor", .path = "", .list = "lines"},
    };
    size_t nq = sizeof qs / sizeof qs[0];
    snprintf(qs[6].path, sizeof qs[6].path, "/anomalies?since=%s&until=%s&limit=50", since, until);
    snprintf(qs[7].path, sizeof qs[7].path, "/anomalies?service=svc-17&since=%s&until=%s&limit=50", since, until);
    snprintf(qs[8].path, sizeof qs[8].path, "/anomalies?cursor=%s&limit=50", acur);
    snprintf(qs[9].path, sizeof qs[9].path, "/anomalies?severity=critical&cursor=%s&limit=50", acur);
    snprintf(qs[15].path, sizeof qs[15].path, "/windows?since=%s&until=%s&limit=50", since, until);
    snprintf(qs[16].path, sizeof qs[16].path, "/windows?service=svc-17&since=%s&until=%s&limit=50", since, until);
    snprintf(qs[17].path, sizeof qs[17].path, "/windows?cursor=%s&limit=50", wcur);
    snprintf(qs[18].path, sizeof qs[18].path, "/windows?health=critical&cursor=%s&limit=50", wcur);
    snprintf(qs[19].path, sizeof qs[19].path, "/windows/%lld/lines?limit=50", (long long)(nwin / 2));
    snprintf(qs[20].path, sizeof qs[20].path, "/windows/%lld/lines?cursor=%s&limit=50", (long long)(nwin / 2), lcur);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    int failed = 0;
    server srv;
    stop_result sr;
    char err[1024];
    if (server_start(&srv, o.bin, db, logpath, server_args, err, sizeof err)) {
        progress("%s (server output in %s)", err, logpath);
        server_stop(&srv, &sr);
        return 1;
    }
    CURL *h = curl_easy_init();
    buf b = {0};
    if (!h) {
        progress("curl_easy_init failed");
        return 1;
    }
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    double worst = 0;
    const char *worst_name = "";
    for (size_t i = 0; i < nq; i++) {
        run_query(h, srv.port, &b, &qs[i], o.requests);
        if (qs[i].errors) {
            progress("%s: %d error(s); first: %s", qs[i].name, qs[i].errors, qs[i].first_err);
            failed = 1;
        }
        if (qs[i].list && qs[i].p99 > worst) {
            worst = qs[i].p99;
            worst_name = qs[i].name;
        }
    }
    curl_easy_cleanup(h);
    free(b.p);
    long rss_kb = proc_status_kb(srv.pid, "VmHWM");
    server_stop(&srv, &sr);
    curl_global_cleanup();

    startup big = {0}, small = {0};
    if (time_starts(o.bin, db, logpath, o.starts, &big) || time_starts(o.bin, small_db, logpath, o.starts, &small))
        failed = 1;
    double flat = small.median_ms > 0 ? big.median_ms / small.median_ms : 0;
    unlink(logpath);

    if (!o.json_only) {
        printf("%-34s %8s %8s %8s %6s\n", "query (one keep-alive connection)", "p50 ms", "p99 ms", "max ms", "rows");
        for (size_t i = 0; i < nq; i++)
            printf("%-34s %8.2f %8.2f %8.2f %6ld\n", qs[i].name, qs[i].p50, qs[i].p99, qs[i].max, qs[i].list ? qs[i].rows : 0);
        printf("\n%-22s %-15s %-22s %-7s %-10s %s\n", "benchmark", "figure", "limit (same run)", "ratio", "target",
               "met");
        char f[64], l[64];
        snprintf(f, sizeof f, "%.2f ms", worst);
        snprintf(l, sizeof l, "healthz p99 %.2f ms", qs[0].p99);
        printf("%-22s %-15s %-22s %-7.1f %-10s %s\n", "query p99 (worst)", f, l, qs[0].p99 > 0 ? worst / qs[0].p99 : 0,
               "< 10 ms", worst < TARGET_QUERY_MS && !failed ? "yes" : "no");
        snprintf(f, sizeof f, "%.0f ms", big.median_ms);
        snprintf(l, sizeof l, "1/10 size %.0f ms", small.median_ms);
        printf("%-22s %-15s %-22s %-7.2f %-10s %s\n", "start-up (median)", f, l, flat, "< 300 ms",
               big.max_ms < TARGET_START_MS && big.median_ms > 0 ? "yes" : "no");
        printf("\nworst query: %s; start-up max %.0f ms (1/10 size: max %.0f ms); server VmHWM %.1f MiB\n\n",
               worst_name, big.max_ms, small.max_ms, rss_kb / 1024.0);
    }
    printf("{\"bench\":\"query\",\"lines\":%lld,\"windows\":%lld,\"anomalies\":%lld,\"requests\":%d,"
           "\"healthz_p50_ms\":%.3f,\"healthz_p99_ms\":%.3f,\"query_p99_worst_ms\":%.3f,\"query_p99_worst\":\"%s\","
           "\"queries\":{",
           o.lines, nwin, o.lines / 100, o.requests, qs[0].p50, qs[0].p99, worst, worst_name);
    for (size_t i = 1; i < nq; i++)
        printf("%s\"%s\":{\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"rows\":%ld}", i > 1 ? "," : "", qs[i].name,
               qs[i].p50, qs[i].p99, qs[i].max, qs[i].rows);
    printf("},\"startup_median_ms\":%.1f,\"startup_max_ms\":%.1f,\"startup_small_median_ms\":%.1f,"
           "\"startup_ratio_10x_data\":%.2f,\"starts\":%d,\"errors\":%s}\n",
           big.median_ms, big.max_ms, small.median_ms, flat, o.starts, failed ? "true" : "false");
    fflush(stdout);
    return failed ? 1 : 0;
}
