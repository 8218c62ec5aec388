/*
 * ingest.c — bench_ingest: how fast anomalog takes NDJSON over HTTP, measured
 * against what SQLite itself can do with the same rows on the same machine.
 *
 * What it measures: (1) the limit: raw SQLite inserts of the log rows the
 * server would store, into the project's real schema (created by store_open(),
 * so tables and indexes are the migrations' own), WAL, synchronous=NORMAL,
 * one prepared INSERT, 1,000 rows per transaction, window ids computed in
 * memory — rows/s. (2) the project: the real `anomalog serve` binary on a
 * loopback port and a fresh database, fed by C client threads, each with its
 * own keep-alive HTTP/1.1 connection (a lean client written here, or with
 * --client curl a libcurl handle), POSTing pre-generated NDJSON batches to
 * /ingest: lines/s with batches of B lines (default 1000), then with batches
 * of 10 (group commit: how much of the large-batch rate survives tiny
 * requests) -- the two alternating --repeat times (default 3), the pair with
 * the median ratio reported, so that a neighbour's burst during one phase
 * decides neither figure -- then a rate-limited phase at 80% of the last
 * peak phase's rate (the database grows through the pairs; scheduled sends; latency is counted from the scheduled time, so a
 * stall is not hidden by the client waiting for it) for p99 latency; the server's peak RSS (VmHWM,
 * and VmRSS sampled every 100 ms); and, after SIGTERM, that the database holds
 * exactly the number of lines the server acknowledged with 202.
 *
 * The rows are deterministic and realistic: 8 services, levels mostly info,
 * access-log/cache/upstream/payment/auth messages of ~120 bytes, a third with
 * an attributes object, event times spread over one hour (so about 100
 * five-minute windows), ~220 bytes per NDJSON line. The client threads run on
 * the same cores as the server; on a small machine they take a share of the
 * CPU the server could otherwise use, which the paced phase also reports as
 * the p99 from the actual send (service time without schedule lag).
 *
 * Why the limit is measured in the same run: a throughput figure on its own
 * says as much about the machine (disk, CPU, noisy neighbours, the page
 * cache) as about the code. Measuring the ceiling seconds before, on the same
 * disk, with the same rows and schema, turns the figure into a ratio that is
 * comparable across machines and runs: how much of what SQLite can do the
 * service delivers once HTTP, parsing, queueing and group commit are added.
 *
 * (3) With a PostgreSQL server (--pg URL, or $ANOMALOG_TEST_PG_URL as
 * tests/pg/with-postgres.sh sets it, which bench/run-all.sh uses when
 * PostgreSQL is installed): the same peak phase against a fresh PostgreSQL
 * database, first through one server, then through three replicas sharing
 * the database (the connections spread over them), printed beside the SQLite
 * figure, and verified the same way. On a small machine the three replicas,
 * PostgreSQL and the clients share the same cores: the figure says what the
 * database takes, not how replicas on separate machines scale. The one-server
 * figure has two limits, each measured before and after it: raw COPYs of
 * --pg-copy-rows rows (the shape of the batches), and one large COPY of as
 * many rows (the most PostgreSQL takes: the limit).
 *
 * (4) --stored N,N,...: instead of all that, ingest latency beside the lines
 * already stored (see stored_series below).
 *
 * It prints figures and never asserts a timing: the exit status is 0 unless
 * the server could not be run or the stored row count does not match the
 * acknowledged lines (1), or the command line is wrong (2).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <libpq-fe.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "anomalog/store.h"
#include "common.h"

#define WINDOW_MS (5 * 60 * 1000)   /* the server's default window; passed explicitly too */
#define SPAN_MS (60 * 60 * 1000)    /* event times spread over one hour */
#define NSERVICES 8
#define RAW_TXN_ROWS 1000
#define SMALL_BATCH 10
#define MAX_REPEAT 9
#define MAX_STORED 6

/* ---- options ------------------------------------------------------------- */

typedef struct options {
    double duration;   /* seconds per phase */
    int connections;
    int batch;
    double rate;       /* paced phase: fraction of the measured peak */
    const char *bin;
    const char *pg;    /* PostgreSQL server URL, or NULL */
    int pg_copy_rows;  /* rows per COPY (and transaction) of the raw PostgreSQL limit */
    int json_only;
    int keep;
    int curl;          /* --client curl */
    int repeat;        /* pairs of batch=N and batch=10 phases */
    long long stored[MAX_STORED]; /* --stored: the series of lines already stored, instead of the usual run */
    int nstored;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_ingest [--duration S] [--connections N] [--batch N] [--repeat N] [--rate F] [--client lean|curl]\n"
            "                    [--bin PATH] [--pg URL] [--pg-copy-rows N] [--json-only] [--keep]\n"
            "  --duration S     seconds per phase (default 2; 2 x repeat + 1 phases after the raw one)\n"
            "  --connections N  client connections, one thread each (default 4)\n"
            "  --batch N        lines per request in the peak phase (default 1000)\n"
            "  --repeat N       the batch=N and batch=10 phases alternate N times, the pair with the median\n"
            "                   ratio is reported (default 3, at most 9)\n"
            "  --rate F         paced phase at F times the last peak phase's rate (default 0.8)\n"
            "  --client K       lean (default): HTTP/1.1 keep-alive written by hand, little client CPU;\n"
            "                   curl: a libcurl easy handle per connection\n"
            "  --bin PATH       anomalog binary (default $ANOMALOG_BIN, else ../anomalog beside this program)\n"
            "  --pg URL         also on PostgreSQL, 1 and 3 replicas (default $ANOMALOG_TEST_PG_URL; \"\" for none)\n"
            "  --pg-copy-rows N rows per COPY and transaction of the raw PostgreSQL limit (default 1000, as the batches)\n"
            "  --stored N,N,... instead of the usual run: for each N (e.g. 1M,10M), a database already holding N\n"
            "                   lines of older, analysed windows, then the peak phase and the paced one on it;\n"
            "                   the p99 at --rate of peak printed side by side, the curve's flatness checked\n"
            "  --json-only      print only the JSON object on stdout\n"
            "  --keep           keep the temporary directory (databases, server log)\n");
}

/* ---- small helpers ------------------------------------------------------- */

/* ---- the rows: one pool, used both as NDJSON bodies and as raw rows ------ */

typedef struct row {
    int64_t ts_ms;
    int service;            /* 0..NSERVICES-1 */
    const char *level;
    char *message;
    int message_len;
    char *attributes;       /* compact JSON object, or NULL */
} row;

static int64_t base_ms; /* 2026-11-24T10:00:00Z */

static const char *const users[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"};
static const char *const upstreams[] = {"payments", "inventory", "search", "recommendations"};

static void make_row(row *r, size_t i, size_t n)
{
    r->ts_ms = base_ms + (int64_t)((double)i * (double)SPAN_MS / (double)n) + rnd_below(50);
    r->service = (int)rnd_below(NSERVICES);
    unsigned lv = rnd_below(100);
    r->level = lv < 70 ? "info" : lv < 85 ? "debug" : lv < 95 ? "warn" : "error";
    char m[256];
    unsigned long long rid = (unsigned long long)rnd();
    const char *user = users[rnd_below(8)];
    if (strcmp(r->level, "info") == 0) {
        if (rnd_below(2))
            snprintf(m, sizeof m, "GET /api/v1/users/%u 200 %ums user=%s request_id=%016llx bytes=%u ua=curl/8.4.0",
                     10000 + rnd_below(90000), 1 + rnd_below(80), user, rid, 200 + rnd_below(8000));
        else
            snprintf(m, sizeof m, "POST /api/v1/orders 201 %ums user=%s request_id=%016llx order_id=%u items=%u total=%u.%02u",
                     5 + rnd_below(200), user, rid, 100000 + rnd_below(900000), 1 + rnd_below(9),
                     rnd_below(500), rnd_below(100));
    } else if (strcmp(r->level, "debug") == 0) {
        snprintf(m, sizeof m, "cache miss key=session:%016llx ttl=300 backend=redis-%u latency=%ums pool_in_use=%u/64",
                 rid, rnd_below(3), rnd_below(5), rnd_below(64));
    } else if (strcmp(r->level, "warn") == 0) {
        snprintf(m, sizeof m, "upstream %s responded slowly: %ums (threshold 500ms), retrying attempt=%u request_id=%016llx",
                 upstreams[rnd_below(4)], 500 + rnd_below(3000), 1 + rnd_below(3), rid);
    } else if (rnd_below(2)) {
        snprintf(m, sizeof m, "failed to charge card for order %u: gateway timeout after %ums request_id=%016llx user=%s",
                 100000 + rnd_below(900000), 1000 + rnd_below(9000), rid, user);
    } else {
        snprintf(m, sizeof m, "authentication failed for user=%s from 10.%u.%u.%u: invalid password (attempt %u of 5)",
                 user, rnd_below(256), rnd_below(256), rnd_below(256), 1 + rnd_below(5));
    }
    r->message = strdup(m);
    r->message_len = (int)strlen(m);
    r->attributes = NULL;
    if (rnd_below(3) == 0) {
        char a[160];
        snprintf(a, sizeof a, "{\"host\":\"web-%u\",\"region\":\"eu-west-1\",\"trace_id\":\"%016llx%016llx\"}",
                 rnd_below(12), (unsigned long long)rnd(), (unsigned long long)rnd());
        if (!(r->attributes = strdup(a))) {
            fprintf(stderr, "bench_ingest: out of memory\n");
            exit(1);
        }
    }
    if (!r->message) {
        fprintf(stderr, "bench_ingest: out of memory\n");
        exit(1);
    }
}

/* Appends one NDJSON line for r to buf (capacity checked by the caller). */
static size_t ndjson_line(const row *r, char *buf, size_t cap)
{
    time_t secs = (time_t)(r->ts_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[80];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(r->ts_ms % 1000));
    int n = snprintf(buf, cap, "{\"timestamp\":\"%s\",\"level\":\"%s\",\"service\":\"svc-%d\",\"message\":\"%s\"%s%s}\n",
                     ts, r->level, r->service, r->message, r->attributes ? ",\"attributes\":" : "",
                     r->attributes ? r->attributes : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

typedef struct bodyset {
    char **body;
    size_t *len;
    size_t n;
    int lines;        /* lines per body */
    double avg_line;  /* bytes */
} bodyset;

/* Cuts the pool into bodies of `lines` consecutive rows each. */
static void bodies_build(bodyset *bs, const row *rows, size_t nrows, int lines)
{
    bs->n = nrows / (size_t)lines;
    bs->lines = lines;
    bs->body = xmalloc(bs->n * sizeof *bs->body);
    bs->len = xmalloc(bs->n * sizeof *bs->len);
    size_t total = 0;
    for (size_t b = 0; b < bs->n; b++) {
        size_t cap = (size_t)lines * 512, used = 0;
        char *p = xmalloc(cap);
        for (int k = 0; k < lines; k++) {
            size_t w = ndjson_line(&rows[b * (size_t)lines + (size_t)k], p + used, cap - used);
            if (!w) {
                fprintf(stderr, "bench_ingest: line too long\n");
                exit(1);
            }
            used += w;
        }
        bs->body[b] = p;
        bs->len[b] = used;
        total += used;
    }
    bs->avg_line = (double)total / (double)(bs->n * (size_t)lines);
}

static void bodies_free(bodyset *bs)
{
    for (size_t b = 0; b < bs->n; b++)
        free(bs->body[b]);
    free(bs->body);
    free(bs->len);
}

/* ---- 1. the limit: raw SQLite ------------------------------------------- */

typedef struct raw_result {
    double rows_per_s;
    double txn_p50, txn_p99, txn_max; /* ms per 1,000-row transaction: SQLite's own stalls (checkpoints) */
    long long rows;
    double elapsed;
    char err[512];
} raw_result;

static int raw_exec(sqlite3 *db, const char *sql, raw_result *res)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(res->err, sizeof res->err, "%s: %s", sql, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* One row into logs through ins ("INSERT INTO logs(window_id, ts, level, message, attributes, received_at)"). */
static int raw_insert(sqlite3 *db, sqlite3_stmt *ins, int64_t window_id, const row *r, int64_t ts, int64_t received,
                      raw_result *res)
{
    sqlite3_reset(ins);
    sqlite3_bind_int64(ins, 1, window_id);
    sqlite3_bind_int64(ins, 2, ts);
    sqlite3_bind_text(ins, 3, r->level, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, r->message, r->message_len, SQLITE_STATIC);
    if (r->attributes)
        sqlite3_bind_text(ins, 5, r->attributes, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(ins, 5);
    sqlite3_bind_int64(ins, 6, received);
    if (sqlite3_step(ins) == SQLITE_DONE)
        return 0;
    snprintf(res->err, sizeof res->err, "insert: %s", sqlite3_errmsg(db));
    return -1;
}

static int raw_sqlite(const char *path, const row *rows, size_t nrows, double duration, raw_result *res)
{
    memset(res, 0, sizeof *res);
    store *st = NULL;
    char err[512];
    if (store_open(path, STORE_DURABLE_NORMAL, &st, err, sizeof err) != STORE_OK) {
        snprintf(res->err, sizeof res->err, "store_open %.200s: %.280s", path, err);
        return -1;
    }
    store_close(st); /* the file now has the project's schema, in WAL mode */

    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(res->err, sizeof res->err, "open %.300s: %.200s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    int rc = -1;
    sqlite3_stmt *ins = NULL;
    enum { NWIN = SPAN_MS / WINDOW_MS + 1 };
    static int64_t win_id[NSERVICES][NWIN];
    if (raw_exec(db, "PRAGMA journal_mode = WAL", res) || raw_exec(db, "PRAGMA synchronous = NORMAL", res))
        goto out;

    /* what the server does first: one service row per name, one window per
     * (service, start) the rows fall into */
    if (raw_exec(db, "BEGIN IMMEDIATE", res))
        goto out;
    int64_t now = wall_ms();
    for (int s = 0; s < NSERVICES; s++) {
        char sql[512];
        snprintf(sql, sizeof sql, "INSERT INTO services(name, last_seen, created_at) VALUES ('svc-%d', %lld, %lld)",
                 s, (long long)now, (long long)now);
        if (raw_exec(db, sql, res))
            goto out;
        int64_t sid = sqlite3_last_insert_rowid(db);
        for (int w = 0; w < NWIN; w++) {
            int64_t start = base_ms + (int64_t)w * WINDOW_MS;
            snprintf(sql, sizeof sql, "INSERT INTO windows(service_id, start_ms, end_ms) VALUES (%lld, %lld, %lld)",
                     (long long)sid, (long long)start, (long long)(start + WINDOW_MS));
            if (raw_exec(db, sql, res))
                goto out;
            win_id[s][w] = sqlite3_last_insert_rowid(db);
        }
    }
    if (raw_exec(db, "COMMIT", res))
        goto out;

    if (sqlite3_prepare_v2(db,
                           "INSERT INTO logs(window_id, ts, level, message, attributes, received_at) "
                           "VALUES (?,?,?,?,?,?)",
                           -1, &ins, NULL) != SQLITE_OK) {
        snprintf(res->err, sizeof res->err, "prepare: %s", sqlite3_errmsg(db));
        goto out;
    }
    double t0 = now_s(), deadline = t0 + duration, t1 = t0;
    size_t next = 0, ntx = 0, captx = 0;
    double *txms = NULL;
    long long n = 0;
    while (t1 < deadline) {
        double tb = t1;
        if (raw_exec(db, "BEGIN", res))
            goto out;
        int64_t received = wall_ms();
        for (int k = 0; k < RAW_TXN_ROWS; k++) {
            const row *r = &rows[next];
            next = next + 1 == nrows ? 0 : next + 1;
            int64_t w = (r->ts_ms - base_ms) / WINDOW_MS; /* window id from memory, as the server's cache does */
            if (raw_insert(db, ins, win_id[r->service][w], r, r->ts_ms, received, res))
                goto out;
        }
        if (raw_exec(db, "COMMIT", res))
            goto out;
        n += RAW_TXN_ROWS;
        t1 = now_s();
        if (ntx == captx) {
            captx = captx ? captx * 2 : 4096;
            double *nt = realloc(txms, captx * sizeof *nt);
            if (!nt) {
                free(txms);
                snprintf(res->err, sizeof res->err, "out of memory");
                goto out;
            }
            txms = nt;
        }
        txms[ntx++] = (t1 - tb) * 1000;
    }
    qsort(txms, ntx, sizeof *txms, cmp_double);
    res->txn_p50 = pct(txms, ntx, 0.50);
    res->txn_p99 = pct(txms, ntx, 0.99);
    res->txn_max = ntx ? txms[ntx - 1] : 0;
    free(txms);
    res->rows = n;
    res->elapsed = t1 - t0;
    res->rows_per_s = (double)n / res->elapsed;
    rc = 0;
out:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return rc;
}

/* ---- 2. the server process ---------------------------------------------- */
/* ---- 2. clients ------------------------------------------------------------ */

typedef struct phase {
    const bodyset *bs;
    double t0, deadline;
    double interval;     /* seconds between sends per connection; 0 = as fast as possible */
    int connections;
} phase;

typedef struct client {
    int idx;
    CURL *h;             /* --client curl */
    int fd, port;        /* the lean client: one keep-alive socket, -1 when closed */
    const phase *ph;
    char resp[4096];     /* the lean client reads the whole answer here; libcurl only the body */
    size_t resp_len;
    double *lat;         /* ms, one per 202 answer, from the (scheduled) start */
    double *svc;         /* ms, from the moment the request was actually sent */
    size_t nlat, caplat;
    long long accepted, requests, errors;
    double end;
    char first_err[300];
} client;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    client *c = ud;
    size_t len = size * n, room = sizeof c->resp - 1 - c->resp_len;
    size_t k = len < room ? len : room;
    memcpy(c->resp + c->resp_len, p, k);
    c->resp_len += k;
    c->resp[c->resp_len] = '\0';
    return len;
}

static void client_error(client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void client_error(client *c, const char *fmt, ...)
{
    c->errors++;
    if (!c->first_err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->first_err, sizeof c->first_err, fmt, ap);
        va_end(ap);
    }
}

/* ---- the lean client: HTTP/1.1 keep-alive by hand -------------------------
 *
 * One socket, one writev of head and body, reads until the answer's
 * Content-Length is in. It checks what a shipper must (the status, the
 * length, Connection: close) and nothing else, so that on a 2-core machine
 * the client takes as little as possible of the CPU the server is measured
 * on: libcurl spends about 29 us per request, which at 10-line batches is
 * more than the server's whole work for those lines. --client curl measures
 * with libcurl instead. */

static void lean_close(client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int lean_connect(client *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    struct timeval limit = {.tv_sec = 60}; /* as libcurl's CURLOPT_TIMEOUT below */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a)) {
        lean_close(c);
        return -1;
    }
    return 0;
}

/* POSTs body; on success *status is the answer's and c->resp its body. Else -1, why in why. */
static int lean_post(client *c, const char *body, size_t len, long *status, char *why, size_t whylen)
{
    char head[160];
    int hl = snprintf(head, sizeof head,
                      "POST /ingest HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-ndjson\r\n"
                      "Content-Length: %zu\r\n\r\n", c->port, len);
    if (c->fd < 0 && lean_connect(c)) {
        snprintf(why, whylen, "connect: %s", strerror(errno));
        return -1;
    }
    struct iovec iov[2] = {{head, (size_t)hl}, {(void *)body, len}};
    size_t left = (size_t)hl + len;
    while (left) {
        ssize_t w = writev(c->fd, iov, 2);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(why, whylen, "send: %s", w < 0 ? strerror(errno) : "nothing written");
            lean_close(c);
            return -1;
        }
        left -= (size_t)w;
        for (int i = 0; i < 2 && w; i++) {
            size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            w -= (ssize_t)k;
        }
    }
    size_t got = 0, need = 0, body_at = 0;
    for (;;) {
        if (got == sizeof c->resp - 1) {
            snprintf(why, whylen, "answer longer than %zu bytes", sizeof c->resp - 1);
            lean_close(c);
            return -1;
        }
        ssize_t r = read(c->fd, c->resp + got, sizeof c->resp - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(why, whylen, "read: %s", r == 0 ? "connection closed before the answer"
                                              : errno == EAGAIN ? "no answer in 60 s" : strerror(errno));
            lean_close(c);
            return -1;
        }
        got += (size_t)r;
        c->resp[got] = '\0';
        if (!body_at) {
            char *end = strstr(c->resp, "\r\n\r\n");
            if (!end)
                continue;
            body_at = (size_t)(end - c->resp) + 4;
            const char *cl = strcasestr(c->resp, "\r\ncontent-length:");
            if (strncmp(c->resp, "HTTP/1.1 ", 9) || !cl || cl > end) {
                snprintf(why, whylen, "not an HTTP/1.1 answer with Content-Length: %.100s", c->resp);
                lean_close(c);
                return -1;
            }
            *status = strtol(c->resp + 9, NULL, 10);
            need = body_at + (size_t)strtoul(cl + 17, NULL, 10);
            if (need >= sizeof c->resp) {
                snprintf(why, whylen, "answer longer than %zu bytes", sizeof c->resp - 1);
                lean_close(c);
                return -1;
            }
        }
        if (got >= need)
            break;
    }
    const char *conn = strcasestr(c->resp, "\r\nconnection: close");
    if (got != need || (conn && (size_t)(conn - c->resp) < body_at))
        lean_close(c); /* the server ends the connection (or sent more than it said): open a new one next time */
    memmove(c->resp, c->resp + body_at, need - body_at);
    c->resp_len = need - body_at;
    c->resp[c->resp_len] = '\0';
    return 0;
}

static int curl_post(client *c, const char *body, size_t len, long *status, char *why, size_t whylen)
{
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    c->resp_len = 0;
    c->resp[0] = '\0';
    CURLcode cr = curl_easy_perform(c->h);
    if (cr != CURLE_OK) {
        snprintf(why, whylen, "curl: %s", curl_easy_strerror(cr));
        return -1;
    }
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

static void *client_main(void *arg)
{
    client *c = arg;
    const phase *ph = c->ph;
    const bodyset *bs = ph->bs;
    size_t next = (size_t)c->idx * (bs->n / (size_t)ph->connections);
    double sched = ph->t0 + (ph->interval > 0 ? ph->interval * c->idx / ph->connections : 0);
    sleep_until(ph->t0);
    for (;;) {
        double start, sent;
        if (ph->interval > 0) {
            if (sched >= ph->deadline)
                break;
            sleep_until(sched);
            start = sched; /* latency from the scheduled time: a stall is not hidden */
            sched += ph->interval;
            sent = now_s();
        } else {
            start = sent = now_s();
            if (start >= ph->deadline)
                break;
        }
        size_t b = next;
        next = next + 1 == bs->n ? 0 : next + 1;
        long status = 0;
        char why[200];
        int rc = c->h ? curl_post(c, bs->body[b], bs->len[b], &status, why, sizeof why)
                      : lean_post(c, bs->body[b], bs->len[b], &status, why, sizeof why);
        double done = now_s();
        c->requests++;
        if (rc) {
            client_error(c, "%s", why);
            usleep(10 * 1000);
            continue;
        }
        while (c->resp_len && (c->resp[c->resp_len - 1] == '\n' || c->resp[c->resp_len - 1] == '\r'))
            c->resp[--c->resp_len] = '\0';
        if (status != 202) {
            client_error(c, "HTTP %ld: %.200s", status, c->resp);
            usleep(10 * 1000);
            continue;
        }
        const char *acc = strstr(c->resp, "\"accepted\":");
        long long n = acc ? strtoll(acc + 11, NULL, 10) : -1;
        if (n != bs->lines) {
            client_error(c, "202 with accepted=%lld for %d lines: %.200s", n, bs->lines, c->resp);
            if (n > 0)
                c->accepted += n;
            continue;
        }
        c->accepted += n;
        if (c->nlat == c->caplat) {
            c->caplat = c->caplat ? c->caplat * 2 : 4096;
            double *nl = realloc(c->lat, c->caplat * sizeof *nl);
            if (nl)
                c->lat = nl;
            double *ns = nl ? realloc(c->svc, c->caplat * sizeof *ns) : NULL;
            if (!ns) {
                client_error(c, "out of memory");
                break;
            }
            c->svc = ns;
        }
        c->svc[c->nlat] = (done - sent) * 1000;
        c->lat[c->nlat++] = (done - start) * 1000;
    }
    c->end = now_s();
    return NULL;
}

typedef struct phase_result {
    int lines_per_req;
    double lines_per_s;
    double req_per_s;
    double elapsed;
    long long accepted, requests, errors;
    long long commits;         /* the server's transactions during the phase, -1 unknown */
    double cpu_s;              /* CPU seconds the server used during the phase, -1 unknown */
    double p50, p99, max;
    double svc_p99;            /* from the actual send: differs from p99 only when paced */
    double target_lines_per_s; /* rate-limited phase only */
    char first_err[300];
} phase_result;

static size_t metrics_body(char *p, size_t size, size_t n, void *ud)
{
    char **buf = ud;
    size_t len = size * n, old = *buf ? strlen(*buf) : 0;
    char *nb = realloc(*buf, old + len + 1);
    if (!nb)
        return 0;
    memcpy(nb + old, p, len);
    nb[old + len] = '\0';
    *buf = nb;
    return len;
}

/* Transactions the server's writer has committed (its /metrics commit histogram's count), or -1. */
static long long server_commits(int port)
{
    CURL *h = curl_easy_init();
    char url[128], *body = NULL;
    long long n = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, metrics_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    if (curl_easy_perform(h) == CURLE_OK && body) {
        const char *p = strstr(body, "\nanomalog_writer_commit_seconds_count ");
        if (p)
            n = atoll(p + strlen("\nanomalog_writer_commit_seconds_count "));
    }
    free(body);
    curl_easy_cleanup(h);
    return n;
}

static void run_phase(client *cl, int nc, const bodyset *bs, double duration, double interval, phase_result *pr)
{
    memset(pr, 0, sizeof *pr);
    phase ph = {.bs = bs, .interval = interval, .connections = nc};
    ph.t0 = now_s() + 0.05;
    ph.deadline = ph.t0 + duration;
    pthread_t *th = xmalloc((size_t)nc * sizeof *th);
    for (int i = 0; i < nc; i++) {
        cl[i].ph = &ph;
        cl[i].nlat = 0;
        cl[i].accepted = cl[i].requests = cl[i].errors = 0;
        cl[i].first_err[0] = '\0';
        if (pthread_create(&th[i], NULL, client_main, &cl[i])) {
            fprintf(stderr, "bench_ingest: pthread_create failed\n");
            exit(1);
        }
    }
    double end = ph.t0;
    size_t nlat = 0;
    for (int i = 0; i < nc; i++) {
        pthread_join(th[i], NULL);
        if (cl[i].end > end)
            end = cl[i].end;
        nlat += cl[i].nlat;
        pr->accepted += cl[i].accepted;
        pr->requests += cl[i].requests;
        pr->errors += cl[i].errors;
        if (!pr->first_err[0] && cl[i].first_err[0])
            snprintf(pr->first_err, sizeof pr->first_err, "%s", cl[i].first_err);
    }
    free(th);
    double *all = xmalloc(nlat * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < nc; i++) {
        if (cl[i].nlat)
            memcpy(all + k, cl[i].lat, cl[i].nlat * sizeof *all);
        k += cl[i].nlat;
    }
    qsort(all, nlat, sizeof *all, cmp_double);
    pr->lines_per_req = bs->lines;
    pr->elapsed = end - ph.t0;
    pr->lines_per_s = pr->elapsed > 0 ? (double)pr->accepted / pr->elapsed : 0;
    pr->req_per_s = pr->elapsed > 0 ? (double)pr->requests / pr->elapsed : 0;
    pr->p50 = pct(all, nlat, 0.50);
    pr->p99 = pct(all, nlat, 0.99);
    pr->max = nlat ? all[nlat - 1] : 0;
    k = 0;
    for (int i = 0; i < nc; i++) {
        if (cl[i].nlat)
            memcpy(all + k, cl[i].svc, cl[i].nlat * sizeof *all);
        k += cl[i].nlat;
    }
    qsort(all, nlat, sizeof *all, cmp_double);
    pr->svc_p99 = pct(all, nlat, 0.99);
    free(all);
}

static void phase_report(const char *name, const phase_result *pr)
{
    char from_send[64] = "", per_commit[128] = "";
    if (pr->target_lines_per_s > 0)
        snprintf(from_send, sizeof from_send, " (p99 %.1f ms from the actual send)", pr->svc_p99);
    if (pr->commits > 0)
        snprintf(per_commit, sizeof per_commit, ", %.1f requests per commit", (double)pr->requests / (double)pr->commits);
    if (pr->cpu_s >= 0 && pr->accepted > 0) {
        size_t k = strlen(per_commit);
        snprintf(per_commit + k, sizeof per_commit - k, ", server CPU %.1f us/line",
                 pr->cpu_s * 1e6 / (double)pr->accepted);
    }
    progress("%-16s %9.0f lines/s  %7.0f req/s  p50 %.1f ms  p99 %.1f ms%s  max %.1f ms  (%lld requests%s, %lld errors%s%s)",
             name, pr->lines_per_s, pr->req_per_s, pr->p50, pr->p99, from_send, pr->max, pr->requests, per_commit,
             pr->errors, pr->errors ? "; first: " : "", pr->errors ? pr->first_err : "");
}

/* n clients POSTing NDJSON to /ingest of the servers on ports (connection i to ports[i % nports]):
 * lean ones, or with hdrs libcurl handles. */
static client *clients_open(int n, const int *ports, int nports, struct curl_slist *hdrs)
{
    client *cl = calloc((size_t)n, sizeof *cl);
    if (!cl)
        return NULL;
    for (int i = 0; i < n; i++) {
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/ingest", ports[i % nports]);
        cl[i].idx = i;
        cl[i].fd = -1;
        cl[i].port = ports[i % nports];
        if (!hdrs)
            continue;
        cl[i].h = curl_easy_init();
        if (!cl[i].h) {
            fprintf(stderr, "bench_ingest: curl_easy_init failed\n");
            exit(1);
        }
        curl_easy_setopt(cl[i].h, CURLOPT_URL, url);
        curl_easy_setopt(cl[i].h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(cl[i].h, CURLOPT_POST, 1L);
        curl_easy_setopt(cl[i].h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(cl[i].h, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(cl[i].h, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(cl[i].h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(cl[i].h, CURLOPT_WRITEDATA, &cl[i]);
    }
    return cl;
}

static void clients_close(client *cl, int n)
{
    for (int i = 0; i < n; i++) {
        if (cl[i].h)
            curl_easy_cleanup(cl[i].h);
        lean_close(&cl[i]);
        free(cl[i].lat);
        free(cl[i].svc);
    }
    free(cl);
}

/* ---- verification ------------------------------------------------------- */

static int count_rows(const char *path, long long *logs, long long *line_counts, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    *logs = *line_counts = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "open %.300s: %.200s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    const char *q[2] = {"SELECT count(*) FROM logs", "SELECT coalesce(sum(line_count), 0) FROM windows"};
    long long *out[2] = {logs, line_counts};
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(db, q[i], -1, &s, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", q[i], sqlite3_errmsg(db));
            rc = -1;
            break;
        }
        if (sqlite3_step(s) == SQLITE_ROW)
            *out[i] = sqlite3_column_int64(s, 0);
        else {
            snprintf(err, errlen, "%s: %s", q[i], sqlite3_errmsg(db));
            rc = -1;
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return rc;
}

/* ---- --stored: ingest latency beside the lines already stored ----------------
 *
 * For each N of --stored, a fresh database is filled with N lines before the
 * server starts: the pool again and again, each round an hour further back
 * in event time, in windows of their own that are analysed (as a service
 * that has run for a while leaves them), written straight into SQLite like
 * the raw limit (synchronous off: it is set-up, not measured). Then the
 * server starts on it (no model, retention off so nothing is deleted under
 * the measurement) and takes the usual peak phase and the paced one at
 * --rate of that peak, in windows of their own (the pool's hour). The p99
 * of the paced phase at each N, side by side, is the curve; it is flat when
 * the largest N's p99 is within 2x of the smallest's (and its peak within
 * 0.8x). Every point is verified: the logs table holds N plus the lines
 * acknowledged. */

typedef struct stored_point {
    long long stored;
    char label[24];      /* "10M" */
    char db[PATH_MAX];
    double fill_s;
    server srv;
    int started;
    client *cl;
    phase_result peaks[MAX_REPEAT], paceds[MAX_REPEAT];
    phase_result peak, paced; /* the median round's */
    long long acked;
    double rss_mib;
    long long in_logs;
    int ok;
    char err[512];
} stored_point;

/* The pool's rows, round after round an hour further back, until n lines; the windows analysed. */
static int prefill(const char *path, const row *rows, size_t nrows, long long n, stored_point *pt)
{
    raw_result res = {0};
    store *st = NULL;
    char err[512];
    if (store_open(path, STORE_DURABLE_NORMAL, &st, err, sizeof err) != STORE_OK) {
        snprintf(pt->err, sizeof pt->err, "store_open %.200s: %.280s", path, err);
        return -1;
    }
    store_close(st);
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    enum { NWIN = SPAN_MS / WINDOW_MS + 1 };
    int64_t sid[NSERVICES], win[NSERVICES][NWIN], lines[NSERVICES][NWIN];
    int rc = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        raw_exec(db, "PRAGMA journal_mode = WAL", &res) || raw_exec(db, "PRAGMA synchronous = OFF", &res) ||
        sqlite3_prepare_v2(db, "INSERT INTO logs(window_id, ts, level, message, attributes, received_at) "
                               "VALUES (?,?,?,?,?,?)", -1, &ins, NULL) != SQLITE_OK) {
        snprintf(pt->err, sizeof pt->err, "%s", res.err[0] ? res.err : sqlite3_errmsg(db));
        goto out;
    }
    int64_t now = wall_ms();
    char sql[512];
    for (int k = 0; k < NSERVICES; k++) {
        snprintf(sql, sizeof sql, "INSERT INTO services(name, last_seen, created_at) VALUES ('svc-%d', %lld, %lld)", k,
                 (long long)now, (long long)now);
        if (raw_exec(db, sql, &res))
            goto fail;
        sid[k] = sqlite3_last_insert_rowid(db);
    }
    double t0 = now_s();
    long long done = 0;
    for (int64_t round = 1; done < n; round++) {
        int64_t shift = -round * NWIN * WINDOW_MS; /* rounds never share a window */
        if (raw_exec(db, "BEGIN", &res))
            goto fail;
        for (int k = 0; k < NSERVICES; k++)
            for (int w = 0; w < NWIN; w++) {
                int64_t start = base_ms + shift + (int64_t)w * WINDOW_MS;
                snprintf(sql, sizeof sql, "INSERT INTO windows(service_id, start_ms, end_ms, status, health, "
                                          "analyzer, closed_at, analyzed_at) VALUES (%lld, %lld, %lld, 'analyzed', "
                                          "'normal', 'baseline', %lld, %lld)",
                         (long long)sid[k], (long long)start, (long long)(start + WINDOW_MS), (long long)now,
                         (long long)now);
                if (raw_exec(db, sql, &res))
                    goto fail;
                win[k][w] = sqlite3_last_insert_rowid(db);
                lines[k][w] = 0;
            }
        for (size_t i = 0; i < nrows && done < n; i++, done++) {
            const row *r = &rows[i];
            int w = (int)((r->ts_ms - base_ms) / WINDOW_MS);
            lines[r->service][w]++;
            if (raw_insert(db, ins, win[r->service][w], r, r->ts_ms + shift, now, &res))
                goto fail;
        }
        for (int k = 0; k < NSERVICES; k++)
            for (int w = 0; w < NWIN; w++) {
                snprintf(sql, sizeof sql, "UPDATE windows SET line_count = %lld WHERE id = %lld", (long long)lines[k][w],
                         (long long)win[k][w]);
                if (raw_exec(db, sql, &res))
                    goto fail;
            }
        if (raw_exec(db, "COMMIT", &res))
            goto fail;
    }
    if (raw_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", &res))
        goto fail;
    pt->fill_s = now_s() - t0;
    rc = 0;
    goto out;
fail:
    snprintf(pt->err, sizeof pt->err, "prefill: %.480s", res.err);
out:
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return rc;
}

/* run_phase on point p, with the server's CPU seconds and commits during it. */
static void stored_phase(const stored_point *p, int connections, const bodyset *big, double duration, double interval,
                         phase_result *pr)
{
    long long c0 = server_commits(p->srv.port);
    double u0 = proc_cpu_s(p->srv.pid);
    run_phase(p->cl, connections, big, duration, interval, pr);
    long long c1 = server_commits(p->srv.port);
    double u1 = proc_cpu_s(p->srv.pid);
    pr->commits = c0 >= 0 && c1 >= 0 ? c1 - c0 : -1;
    pr->cpu_s = u0 >= 0 && u1 >= 0 ? u1 - u0 : -1;
}

/* The round whose p99 has as many rounds below it as above. */
static int median_round(const phase_result *v, int n)
{
    for (int r = 0; r < n; r++) {
        int below = 0, above = 0;
        for (int q = 0; q < n; q++) {
            below += q != r && (v[q].p99 < v[r].p99 || (v[q].p99 == v[r].p99 && q < r));
            above += q != r && (v[q].p99 > v[r].p99 || (v[q].p99 == v[r].p99 && q > r));
        }
        if (below == above || below == above - 1)
            return r;
    }
    return 0;
}

/* The --stored series: every database filled, a server on each, the phases in turns, then the table side by
 * side and the flatness. 0 when every point verified. */
static int stored_series(const options *o, const char *dir, const row *rows, size_t nrows, const bodyset *big)
{
    static const char *const extra[] = {"--llm-url", "none", "--retention-lines", "0", "--retention-windows", "0",
                                        NULL};
    stored_point *pts = calloc((size_t)o->nstored, sizeof *pts);
    if (!pts) {
        fprintf(stderr, "bench_ingest: out of memory\n");
        exit(1);
    }
    int n = o->nstored, ok = 1;
    char name[64];
    for (int i = 0; i < n; i++) {
        stored_point *p = &pts[i];
        p->stored = o->stored[i];
        if (p->stored % 1000000 == 0)
            snprintf(p->label, sizeof p->label, "%lldM", p->stored / 1000000);
        else
            snprintf(p->label, sizeof p->label, "%lldk", p->stored / 1000);
        snprintf(name, sizeof name, "/stored-%s.db", p->label);
        pathf(p->db, sizeof p->db, dir, name);
        if (prefill(p->db, rows, nrows, p->stored, p) == 0)
            progress("%s: %lld lines stored in %.1f s (%.0f lines/s)", p->label, p->stored, p->fill_s,
                     (double)p->stored / p->fill_s);
    }
    for (int i = 0; i < n && !pts[i].err[0]; i++) {
        stored_point *p = &pts[i];
        char logpath[PATH_MAX], err[1024];
        snprintf(name, sizeof name, "/server-%s.log", p->label);
        pathf(logpath, sizeof logpath, dir, name);
        p->started = 1;
        if (server_start(&p->srv, o->bin, p->db, logpath, extra, err, sizeof err)) {
            snprintf(p->err, sizeof p->err, "%.300s (server output in %.150s)", err, logpath);
            break;
        }
        if (!(p->cl = clients_open(o->connections, &p->srv.port, 1, NULL))) {
            fprintf(stderr, "bench_ingest: out of memory\n");
            exit(1);
        }
    }
    int ready = 1;
    for (int i = 0; i < n; i++)
        ready &= !pts[i].err[0] && pts[i].cl != NULL;
    for (int i = 0; ready && i < n; i++) { /* warm-up: the server's caches, the page cache, the first WAL */
        phase_result w;
        run_phase(pts[i].cl, o->connections, big, o->duration / 2, 0, &w);
        pts[i].acked += w.accepted;
    }
    for (int r = 0; ready && r < o->repeat; r++) {
        for (int i = 0; i < n; i++) {
            stored_point *p = &pts[i];
            stored_phase(p, o->connections, big, o->duration, 0, &p->peaks[r]);
            snprintf(name, sizeof name, "%s peak (%d/%d)", p->label, r + 1, o->repeat);
            phase_report(name, &p->peaks[r]);
            p->acked += p->peaks[r].accepted;
        }
        for (int i = 0; i < n; i++) {
            stored_point *p = &pts[i];
            if (p->peaks[r].lines_per_s <= 0)
                continue;
            double target = o->rate * p->peaks[r].lines_per_s;
            stored_phase(p, o->connections, big, o->duration, (double)o->connections * (double)big->lines / target,
                         &p->paceds[r]);
            p->paceds[r].target_lines_per_s = target;
            snprintf(name, sizeof name, "%s @%.0f%% (%d/%d)", p->label, o->rate * 100, r + 1, o->repeat);
            phase_report(name, &p->paceds[r]);
            p->acked += p->paceds[r].accepted;
        }
    }
    for (int i = 0; i < n; i++) {
        stored_point *p = &pts[i];
        long long errors = 0;
        for (int r = 0; r < o->repeat; r++)
            errors += p->peaks[r].errors + p->paceds[r].errors;
        if (ready) {
            int m = median_round(p->paceds, o->repeat);
            p->paced = p->paceds[m];
            p->peak = p->peaks[m];
        }
        int clean = 0;
        if (p->started) {
            sampler_stop(&p->srv);
            long hwm = proc_status_kb(p->srv.pid, "VmHWM"), sampled = atomic_load(&p->srv.max_rss_kb);
            p->rss_mib = (hwm > sampled ? hwm : sampled) / 1024.0;
            stop_result sr;
            server_stop(&p->srv, &sr);
            clean = sr.exited && WIFEXITED(sr.status) && WEXITSTATUS(sr.status) == 0;
        }
        if (p->cl)
            clients_close(p->cl, o->connections);
        long long windows_sum;
        char err[512];
        if (!p->err[0] && count_rows(p->db, &p->in_logs, &windows_sum, err, sizeof err))
            snprintf(p->err, sizeof p->err, "verify: %.400s", err);
        p->ok = ready && !p->err[0] && p->in_logs == p->stored + p->acked && !errors && clean;
        ok &= p->ok;
        if (p->err[0])
            progress("%s: %s", p->label, p->err);
        else
            progress("verify %s: %lld stored + %lld acknowledged, %lld rows in logs, %lld errors, server %s: %s",
                     p->label, p->stored, p->acked, p->in_logs, errors, clean ? "exit 0" : "UNCLEAN",
                     p->ok ? "OK" : "MISMATCH");
        static const char *const sfx[] = {"", "-wal", "-shm"};
        for (int k = 0; k < 3 && !o->keep; k++) {
            char path[PATH_MAX];
            pathf(path, sizeof path, p->db, sfx[k]);
            unlink(path);
        }
        if (p->ok && !o->keep) {
            char path[PATH_MAX];
            snprintf(name, sizeof name, "/server-%s.log", p->label);
            pathf(path, sizeof path, dir, name);
            unlink(path);
        }
    }
    const stored_point *a = &pts[0], *z = &pts[n - 1];
    double p99_ratio = a->paced.p99 > 0 ? z->paced.p99 / a->paced.p99 : 0;
    double peak_ratio = a->peak.lines_per_s > 0 ? z->peak.lines_per_s / a->peak.lines_per_s : 0;
    int flat = ok && p99_ratio > 0 && p99_ratio <= 2 && peak_ratio >= 0.8;
    if (!o->json_only) {
        char h[4][24];
        snprintf(h[0], sizeof h[0], "p50 @%.0f%%", o->rate * 100);
        snprintf(h[1], sizeof h[1], "p99 @%.0f%%", o->rate * 100);
        snprintf(h[2], sizeof h[2], "from send");
        snprintf(h[3], sizeof h[3], "max @%.0f%%", o->rate * 100);
        printf("%-14s %-8s %-13s %-10s %-10s %-10s %-10s %-10s %s\n", "lines stored", "fill s", "peak lines/s", h[0],
               h[1], h[2], h[3], "RSS MiB", "verify");
        for (int i = 0; i < n; i++) {
            const stored_point *p = &pts[i];
            printf("%-14lld %-8.1f %-13.0f %-10.1f %-10.1f %-10.1f %-10.1f %-10.1f %s\n", p->stored, p->fill_s,
                   p->peak.lines_per_s, p->paced.p50, p->paced.p99, p->paced.svc_p99, p->paced.max, p->rss_mib,
                   p->ok ? "OK" : "FAILED");
        }
        printf("(batch=%d, %d connections; latencies in ms from the scheduled send, \"from send\" from the actual one;"
               " each N the median of %d rounds taken in turns with the other Ns)\n",
               o->batch, o->connections, o->repeat);
        printf("flat: p99 at %s / at %s = %.2f (target <= 2), peak lines/s %.2f (target >= 0.8): %s\n\n", z->label,
               a->label, p99_ratio, peak_ratio, flat ? "yes" : "no");
    }
    printf("{\"bench\":\"ingest_stored\",\"connections\":%d,\"batch\":%d,\"duration_s\":%.1f,\"repeat\":%d,"
           "\"rate_fraction\":%.2f,\"points\":[", o->connections, o->batch, o->duration, o->repeat, o->rate);
    for (int i = 0; i < n; i++) {
        const stored_point *p = &pts[i];
        printf("%s{\"stored\":%lld,\"fill_s\":%.1f,\"peak_lines_per_s\":%.0f,\"p50_at_80_ms\":%.2f,\"p99_at_80_ms\":%.2f,"
               "\"p99_at_80_from_send_ms\":%.2f,\"max_at_80_ms\":%.2f,\"peak_rss_mib\":%.1f,\"verify\":\"%s\"}",
               i ? "," : "", p->stored, p->fill_s, p->peak.lines_per_s, p->paced.p50, p->paced.p99, p->paced.svc_p99,
               p->paced.max, p->rss_mib, p->ok ? "OK" : "FAILED");
    }
    printf("],\"p99_ratio\":%.3f,\"peak_ratio\":%.3f,\"flat\":%s}\n", p99_ratio, peak_ratio, flat ? "true" : "false");
    fflush(stdout);
    free(pts);
    return ok ? 0 : -1;
}

/* ---- 3. PostgreSQL: one server, then three replicas, on one database --------- */

typedef struct pg_result {
    int replicas;
    phase_result peak;
    long long stored, window_lines;
    int ok;              /* stored rows == acknowledged lines == the windows' counts, clean exits */
    char err[512];
} pg_result;

/* Runs sql on the server of url; 0 when it succeeded. */
static int pg_exec(const char *url, const char *sql, long long *value, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || (st == PGRES_TUPLES_OK && PQntuples(r) == 1);
    if (ok && value)
        *value = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (!ok)
        snprintf(err, errlen, "%.100s: %.300s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

/* The URL of database name on the server of base (base's own database replaced). */
static void pg_url_of(const char *base, const char *name, char *out, size_t cap)
{
    const char *scheme = strstr(base, "://"), *slash = strrchr(base, '/');
    size_t keep = scheme && slash > scheme + 2 ? (size_t)(slash - base) : strlen(base);
    snprintf(out, cap, "%.*s/%s", (int)keep, base, name);
}

/* A COPY text field: \N for NULL, else the bytes with backslash, tab, newline and CR escaped. */
static size_t copy_field(char *out, const char *s, size_t n, char sep)
{
    size_t k = 0;
    if (!s) {
        out[k++] = '\\';
        out[k++] = 'N';
    }
    for (size_t i = 0; s && i < n; i++) {
        char c = s[i], e = c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : 0;
        if (e) {
            out[k++] = '\\';
            out[k++] = e;
        } else {
            out[k++] = c;
        }
    }
    out[k++] = sep;
    return k;
}

/*
 * The limit on PostgreSQL: raw COPY of the same rows into the project's schema
 * (a fresh database migrated by store_open()), synchronous_commit off as the
 * server's writer has it at the default durability, window ids from memory:
 * rows/s. With total 0, for duration seconds, --pg-copy-rows rows per COPY and
 * transaction (the shape of the ingest batches); with total > 0, one COPY of
 * total rows in one transaction (the limit: the most PostgreSQL takes),
 * sent RAW_TXN_ROWS rows at a time while the server reads them.
 */
static int raw_pg(const options *o, const row *rows, size_t nrows, double duration, long long total, raw_result *res)
{
    memset(res, 0, sizeof *res);
    char name[64], url[1024], sql[512];
    snprintf(name, sizeof name, "anomalog_bench_%d_raw", (int)getpid());
    pg_url_of(o->pg, name, url, sizeof url);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (pg_exec(o->pg, sql, NULL, res->err, sizeof res->err))
        return -1;
    int rc = -1;
    store *st = NULL;
    char err[512];
    PGconn *c = NULL;
    char *buf = NULL;
    enum { NWIN = SPAN_MS / WINDOW_MS + 1 };
    static int64_t win_id[NSERVICES][NWIN];
    if (store_open(url, STORE_DURABLE_NORMAL, &st, err, sizeof err) != STORE_OK) {
        snprintf(res->err, sizeof res->err, "store_open: %.400s", err);
        goto out;
    }
    store_close(st); /* the database now has the project's schema */
    c = PQconnectdb(url);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, "SET synchronous_commit = off") : NULL;
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    int64_t now = wall_ms();
    for (int sv = 0; ok && sv < NSERVICES; sv++)
        for (int w = 0; ok && w < NWIN; w++) {
            int64_t start = base_ms + (int64_t)w * WINDOW_MS;
            snprintf(sql, sizeof sql,
                     "WITH s AS (INSERT INTO services(name, last_seen, created_at) VALUES ('svc-%d', %lld, %lld) "
                     "ON CONFLICT (name) DO UPDATE SET last_seen = excluded.last_seen RETURNING id) "
                     "INSERT INTO windows(service_id, start_ms, end_ms) SELECT id, %lld, %lld FROM s RETURNING id",
                     sv, (long long)now, (long long)now, (long long)start, (long long)(start + WINDOW_MS));
            r = PQexec(c, sql);
            ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
            if (ok)
                win_id[sv][w] = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            PQclear(r);
        }
    long long per = total > 0 ? total : o->pg_copy_rows; /* rows per COPY */
    int chunk = total <= 0 ? o->pg_copy_rows : total < RAW_TXN_ROWS ? (int)total : RAW_TXN_ROWS; /* per send */
    if (!ok || !(buf = malloc((size_t)chunk * 2048))) {
        snprintf(res->err, sizeof res->err, "setup: %.400s", c ? PQerrorMessage(c) : "out of memory");
        goto out;
    }
    double t0 = now_s(), deadline = t0 + duration, t1 = t0;
    size_t next = 0;
    long long n = 0;
    while (total > 0 ? n == 0 : t1 < deadline) {
        r = PQexec(c, "BEGIN");
        PQclear(r);
        r = PQexec(c, "COPY logs(window_id, ts, level, message, attributes, received_at) FROM STDIN");
        ok = PQresultStatus(r) == PGRES_COPY_IN;
        PQclear(r);
        for (long long sent = 0; ok && sent < per; sent += chunk) {
            size_t len = 0;
            int64_t received = wall_ms();
            long long rows_now = per - sent < chunk ? per - sent : chunk;
            for (long long k = 0; k < rows_now; k++) {
                const row *rw = &rows[next];
                next = next + 1 == nrows ? 0 : next + 1;
                char num[3][24];
                int n0 = snprintf(num[0], sizeof num[0], "%lld",
                                  (long long)win_id[rw->service][(rw->ts_ms - base_ms) / WINDOW_MS]);
                int n1 = snprintf(num[1], sizeof num[1], "%lld", (long long)rw->ts_ms);
                int n2 = snprintf(num[2], sizeof num[2], "%lld", (long long)received);
                len += copy_field(buf + len, num[0], (size_t)n0, '\t');
                len += copy_field(buf + len, num[1], (size_t)n1, '\t');
                len += copy_field(buf + len, rw->level, strlen(rw->level), '\t');
                len += copy_field(buf + len, rw->message, (size_t)rw->message_len, '\t');
                len += copy_field(buf + len, rw->attributes, rw->attributes ? strlen(rw->attributes) : 0, '\t');
                len += copy_field(buf + len, num[2], (size_t)n2, '\n');
            }
            ok = PQputCopyData(c, buf, (int)len) == 1;
        }
        ok = ok && PQputCopyEnd(c, NULL) == 1;
        while ((r = PQgetResult(c))) {
            ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
        }
        r = PQexec(c, "COMMIT");
        ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            snprintf(res->err, sizeof res->err, "copy: %.400s", PQerrorMessage(c));
            goto out;
        }
        n += per;
        t1 = now_s();
    }
    res->rows = n;
    res->elapsed = t1 - t0;
    res->rows_per_s = (double)n / res->elapsed;
    rc = 0;
out:
    free(buf);
    PQfinish(c);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    char ignored[256];
    pg_exec(o->pg, sql, NULL, ignored, sizeof ignored);
    return rc;
}

static void pg_run(const options *o, const char *dir, int replicas, const bodyset *big, struct curl_slist *hdrs,
                   pg_result *res)
{
    memset(res, 0, sizeof *res);
    res->replicas = replicas;
    res->stored = res->window_lines = -1;
    char name[64], url[1024], sql[128];
    snprintf(name, sizeof name, "anomalog_bench_%d_%d", (int)getpid(), replicas);
    pg_url_of(o->pg, name, url, sizeof url);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (pg_exec(o->pg, sql, NULL, res->err, sizeof res->err))
        return;
    server srv[3];
    int ports[3], started = 0, clean = 1;
    for (; started < replicas; started++) {
        char log[64], logpath[PATH_MAX];
        snprintf(log, sizeof log, "/server-pg%d-%d.log", replicas, started);
        pathf(logpath, sizeof logpath, dir, log);
        if (server_start(&srv[started], o->bin, url, logpath, NULL, res->err, sizeof res->err)) {
            stop_result sr;
            server_stop(&srv[started], &sr);
            break;
        }
        ports[started] = srv[started].port;
    }
    if (started == replicas) {
        client *cl = clients_open(o->connections, ports, replicas, hdrs);
        if (cl) { /* the servers' CPU and commits summed over the replicas */
            long long c0 = 0, c1 = 0;
            double u0 = 0, u1 = 0;
            for (int i = 0; i < replicas; i++) {
                c0 += server_commits(ports[i]);
                u0 += proc_cpu_s(srv[i].pid);
            }
            run_phase(cl, o->connections, big, o->duration, 0, &res->peak);
            for (int i = 0; i < replicas; i++) {
                c1 += server_commits(ports[i]);
                u1 += proc_cpu_s(srv[i].pid);
            }
            res->peak.commits = c1 - c0;
            res->peak.cpu_s = u1 - u0;
            clients_close(cl, o->connections);
        }
    }
    for (int i = 0; i < started; i++) {
        stop_result sr;
        server_stop(&srv[i], &sr);
        clean &= sr.exited && WIFEXITED(sr.status) && WEXITSTATUS(sr.status) == 0;
    }
    if (started == replicas && !pg_exec(url, "SELECT count(*) FROM logs", &res->stored, res->err, sizeof res->err) &&
        !pg_exec(url, "SELECT coalesce(sum(line_count), 0) FROM windows", &res->window_lines, res->err,
                 sizeof res->err))
        res->ok = clean && res->stored == res->peak.accepted && res->window_lines == res->stored && !res->peak.errors;
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    char ignored[256];
    pg_exec(o->pg, sql, NULL, ignored, sizeof ignored);
}

/* ---- main ------------------------------------------------------------------ */

static void remove_tree(const char *dir)
{
    static const char *const names[] = {"raw.db",          "raw.db-wal",        "raw.db-shm",
                                        "bench.db",        "bench.db-wal",      "bench.db-shm",
                                        "server.log",      "server-pg1-0.log",  "server-pg3-0.log",
                                        "server-pg3-1.log", "server-pg3-2.log"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "/%s", names[i]);
        pathf(p, sizeof p, dir, name);
        unlink(p);
    }
    rmdir(dir);
}

/* "1M,10M,50M" (k and M multiply by 10^3 and 10^6) into v, increasing, 1000..10^9: 0, or -1. */
static int parse_counts(const char *s, long long *v, int *n)
{
    *n = 0;
    while (*s) {
        char *end;
        double x = strtod(s, &end);
        if (end == s)
            return -1;
        if (*end == 'k' || *end == 'K')
            x *= 1e3, end++;
        else if (*end == 'M' || *end == 'm')
            x *= 1e6, end++;
        if ((*end && *end != ',') || !(x >= 1000 && x <= 1e9) || *n == MAX_STORED || (*n && x <= (double)v[*n - 1]))
            return -1;
        v[(*n)++] = (long long)x;
        s = *end ? end + 1 : end;
    }
    return *n ? 0 : -1;
}

static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        char name[32];
        const char *eq = strchr(a, '=');
        if (eq && (size_t)(eq - a) < sizeof name) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        int takes = !strcmp(name, "--duration") || !strcmp(name, "--connections") || !strcmp(name, "--batch") || !strcmp(name, "--rate") || !strcmp(name, "--repeat") ||
                    !strcmp(name, "--client") || !strcmp(name, "--bin") || !strcmp(name, "--pg") ||
                    !strcmp(name, "--pg-copy-rows") || !strcmp(name, "--stored");
        if (takes && !v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "bench_ingest: %s needs a value\n", name);
                return -1;
            }
            v = argv[++i];
        }
        char *end = NULL;
        if (!strcmp(name, "--duration")) {
            o->duration = strtod(v, &end);
            if (*end || !(o->duration > 0) || o->duration > 3600) {
                fprintf(stderr, "bench_ingest: --duration: \"%s\" is not a number of seconds in (0, 3600]\n", v);
                return -1;
            }
        } else if (!strcmp(name, "--connections")) {
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 1024) {
                fprintf(stderr, "bench_ingest: --connections: \"%s\" is not in 1..1024\n", v);
                return -1;
            }
            o->connections = (int)n;
        } else if (!strcmp(name, "--batch")) {
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 100000) {
                fprintf(stderr, "bench_ingest: --batch: \"%s\" is not in 1..100000\n", v);
                return -1;
            }
            o->batch = (int)n;
        } else if (!strcmp(name, "--repeat")) {
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > MAX_REPEAT) {
                fprintf(stderr, "bench_ingest: --repeat: \"%s\" is not in 1..%d\n", v, MAX_REPEAT);
                return -1;
            }
            o->repeat = (int)n;
        } else if (!strcmp(name, "--rate")) {
            o->rate = strtod(v, &end);
            if (*end || !(o->rate > 0) || o->rate > 1) {
                fprintf(stderr, "bench_ingest: --rate: \"%s\" is not a fraction in (0, 1]\n", v);
                return -1;
            }
        } else if (!strcmp(name, "--client")) {
            if (strcmp(v, "lean") && strcmp(v, "curl")) {
                fprintf(stderr, "bench_ingest: --client: \"%s\" is not lean or curl\n", v);
                return -1;
            }
            o->curl = !strcmp(v, "curl");
        } else if (!strcmp(name, "--bin")) {
            o->bin = v;
        } else if (!strcmp(name, "--pg-copy-rows")) {
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 1000000) {
                fprintf(stderr, "bench_ingest: --pg-copy-rows: \"%s\" is not in 1..1000000\n", v);
                return -1;
            }
            o->pg_copy_rows = (int)n;
        } else if (!strcmp(name, "--pg")) {
            o->pg = *v ? v : NULL;
        } else if (!strcmp(name, "--stored")) {
            if (parse_counts(v, o->stored, &o->nstored)) {
                fprintf(stderr, "bench_ingest: --stored: \"%s\" is not a list of at most %d counts from 1000 to "
                                "1000M, increasing (1M, 500k and 2000 are counts)\n", v, MAX_STORED);
                return -1;
            }
        } else if (!strcmp(a, "--json-only")) {
            o->json_only = 1;
        } else if (!strcmp(a, "--keep")) {
            o->keep = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "bench_ingest: unknown argument \"%s\"\n", a);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench_name = "bench_ingest";
    options o = {.duration = 2, .connections = 4, .batch = 1000, .rate = 0.8, .repeat = 3, .pg_copy_rows = 1000};
    o.pg = getenv("ANOMALOG_TEST_PG_URL");
    if (o.pg && !*o.pg)
        o.pg = NULL;
    if (parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    char binbuf[PATH_MAX];
    if (!o.bin)
        o.bin = default_bin(binbuf, sizeof binbuf);
    if (access(o.bin, X_OK) != 0) {
        fprintf(stderr, "bench_ingest: server binary %s: %s (build it: cmake --build BUILD --target anomalog, or pass --bin)\n",
                o.bin, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    struct tm tm = {.tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 24, .tm_hour = 10};
    base_ms = (int64_t)timegm(&tm) * 1000;

    /* One pool of rows: 16 large bodies' worth at least, and one per connection;
     * a multiple of both body sizes. */
    size_t per = (size_t)(o.batch > 1000 ? o.batch : 1000);
    size_t nbig = o.connections > 16 ? (size_t)o.connections : 16;
    size_t g = (size_t)o.batch, h = SMALL_BATCH;
    while (h) { /* gcd */
        size_t t = g % h;
        g = h;
        h = t;
    }
    size_t lcm = (size_t)o.batch / g * SMALL_BATCH;
    size_t nrows = (per * nbig + lcm - 1) / lcm * lcm;
    row *rows = xmalloc(nrows * sizeof *rows);
    for (size_t i = 0; i < nrows; i++)
        make_row(&rows[i], i, nrows);
    bodyset big, small;
    bodies_build(&big, rows, nrows, o.batch);
    bodies_build(&small, rows, nrows, SMALL_BATCH);

    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX];
    pathf(dir, sizeof dir, tmp && *tmp ? tmp : "/tmp", "/anomalog-bench-XXXXXX");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench_ingest: mkdtemp %s: %s\n", dir, strerror(errno));
        return 1;
    }
    /* the machine's load beside the figures: on a shared machine it, not the code, often decides the latencies */
    double load_start = load_average();
    progress("%zu distinct rows, %.0f bytes per NDJSON line, %d connections (%s client), %.1f s per phase, server %s, dir %s"
             ", load average %.2f",
             nrows, big.avg_line, o.connections, o.curl ? "libcurl" : "lean", o.duration, o.bin, dir, load_start);

    if (o.nstored) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = stored_series(&o, dir, rows, nrows, &big);
        curl_global_cleanup();
        if (o.keep || rc)
            progress("kept %s (server.log)", dir);
        else
            remove_tree(dir);
        return rc ? 1 : 0;
    }

    /* 1. the limit */
    char rawpath[PATH_MAX];
    pathf(rawpath, sizeof rawpath, dir, "/raw.db");
    raw_result raw;
    if (raw_sqlite(rawpath, rows, nrows, o.duration, &raw)) {
        fprintf(stderr, "bench_ingest: raw sqlite: %s\n", raw.err);
        remove_tree(dir);
        return 1;
    }
    progress("raw sqlite       %9.0f rows/s  (%lld rows in %.2f s, %d per transaction; per transaction p50 %.1f ms,"
             " p99 %.1f ms, max %.1f ms)",
             raw.rows_per_s, raw.rows, raw.elapsed, RAW_TXN_ROWS, raw.txn_p50, raw.txn_p99, raw.txn_max);
    /* the raw database is no longer needed; free the disk before the server runs */
    {
        char p[PATH_MAX];
        const char *sfx[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            pathf(p, sizeof p, rawpath, sfx[i]);
            unlink(p);
        }
    }

    /* 2. the server */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    server srv;
    char err[1024];
    int failed = 0;
    char dbpath[PATH_MAX], logpath[PATH_MAX];
    pathf(dbpath, sizeof dbpath, dir, "/bench.db");
    pathf(logpath, sizeof logpath, dir, "/server.log");
    if (server_start(&srv, o.bin, dbpath, logpath, NULL, err, sizeof err)) {
        fprintf(stderr, "bench_ingest: %s (server output kept in %s/server.log)\n", err, dir);
        stop_result sr;
        server_stop(&srv, &sr);
        curl_global_cleanup();
        return 1;
    }
    progress("server pid %d on 127.0.0.1:%d is ready", (int)srv.pid, srv.port);

    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip: send the body at once */
    if (!o.curl) {
        curl_slist_free_all(hdrs);
        hdrs = NULL;
    }
    client *cl = !o.curl || hdrs ? clients_open(o.connections, &srv.port, 1, hdrs) : NULL;
    if (!cl) {
        fprintf(stderr, "bench_ingest: out of memory\n");
        return 1;
    }

    /* The two phases alternate o.repeat times; the pair with the median ratio is the one reported, so a
     * neighbour's burst during one phase moves neither the figures nor the ratio much. Phases are short
     * (2 s) so that the whole run stores about as many lines as four 5 s phases did: the database's size
     * moves the cost of a line, and the analysis of ever larger windows the server's RSS. */
    phase_result peaks[MAX_REPEAT], tinies[MAX_REPEAT], paced;
    double pair_ratio[MAX_REPEAT];
    char name[32];
    long long pair_acked = 0, pair_errors = 0, cprev = server_commits(srv.port);
    double uprev = proc_cpu_s(srv.pid);
    for (int r = 0; r < o.repeat; r++) {
        for (int k = 0; k < 2; k++) {
            phase_result *pr = k ? &tinies[r] : &peaks[r];
            run_phase(cl, o.connections, k ? &small : &big, o.duration, 0, pr);
            long long c = server_commits(srv.port);
            double u = proc_cpu_s(srv.pid);
            pr->commits = cprev >= 0 && c >= 0 ? c - cprev : -1;
            pr->cpu_s = uprev >= 0 && u >= 0 ? u - uprev : -1;
            cprev = c;
            uprev = u;
            pair_acked += pr->accepted;
            pair_errors += pr->errors;
            snprintf(name, sizeof name, "batch=%d (%d/%d)", k ? SMALL_BATCH : o.batch, r + 1, o.repeat);
            phase_report(name, pr);
        }
        pair_ratio[r] = peaks[r].lines_per_s > 0 ? tinies[r].lines_per_s / peaks[r].lines_per_s : 0;
    }
    int median = 0;
    for (int r = 0; r < o.repeat; r++) { /* the pair with as many ratios below it as above */
        int below = 0, above = 0;
        for (int q = 0; q < o.repeat; q++) {
            below += q != r && (pair_ratio[q] < pair_ratio[r] || (pair_ratio[q] == pair_ratio[r] && q < r));
            above += q != r && (pair_ratio[q] > pair_ratio[r] || (pair_ratio[q] == pair_ratio[r] && q > r));
        }
        if (below == above || below == above - 1)
            median = r;
    }
    phase_result peak = peaks[median], tiny = tinies[median];
    if (!peak.first_err[0] || !tiny.first_err[0]) /* an error of any pair is shown */
        for (int r = 0; r < o.repeat; r++) {
            if (!peak.first_err[0] && peaks[r].first_err[0])
                snprintf(peak.first_err, sizeof peak.first_err, "%s", peaks[r].first_err);
            if (!tiny.first_err[0] && tinies[r].first_err[0])
                snprintf(tiny.first_err, sizeof tiny.first_err, "%s", tinies[r].first_err);
        }
    char ratios[16 * MAX_REPEAT] = "";
    for (int r = 0; r < o.repeat; r++)
        snprintf(ratios + strlen(ratios), sizeof ratios - strlen(ratios), "%s%.3f", r ? ", " : "", pair_ratio[r]);
    progress("batch=%d / batch=%d by pair: %s; reported: pair %d", SMALL_BATCH, o.batch, ratios, median + 1);
    memset(&paced, 0, sizeof paced);
    /* paced at a fraction of the last peak phase: the database has grown through the pairs, and the last
     * one measured what it takes now */
    const phase_result *last = &peaks[o.repeat - 1];
    if (last->lines_per_s > 0) {
        double target = o.rate * last->lines_per_s;
        double interval = (double)o.connections * (double)o.batch / target;
        run_phase(cl, o.connections, &big, o.duration, interval, &paced);
        long long c = server_commits(srv.port);
        double u = proc_cpu_s(srv.pid);
        paced.commits = cprev >= 0 && c >= 0 ? c - cprev : -1;
        paced.cpu_s = uprev >= 0 && u >= 0 ? u - uprev : -1;
        paced.target_lines_per_s = target;
        snprintf(name, sizeof name, "@%.0f%% of peak", o.rate * 100);
        phase_report(name, &paced);
        if (paced.lines_per_s < 0.95 * target) /* the p99 from the scheduled send is then a growing queue's */
            progress("the paced phase took only %.0f%% of the rate offered: the server fell behind (less CPU to be had "
                     "than in the peak phase, or a stall), and its p99 from the scheduled send is the backlog's",
                     100 * paced.lines_per_s / target);
    }

    sampler_stop(&srv); /* then VmHWM, which covers every sample */
    long hwm_kb = proc_status_kb(srv.pid, "VmHWM");
    long sampled_kb = atomic_load(&srv.max_rss_kb);
    long lines_during = atomic_load(&srv.lines_after_ready);
    stop_result sr;
    server_stop(&srv, &sr); /* SIGTERM with the clients' keep-alive connections still open, as shippers leave them */
    clients_close(cl, o.connections);
    /* 3. the same peak phase on PostgreSQL, one server then three replicas */
    pg_result pgr[2];
    memset(pgr, 0, sizeof pgr);
    int pg_ok = 1;
    /* two limits, each measured before and after the one-server phase, their means the limits (a
     * neighbour's burst during one of them decides less): COPYs of --pg-copy-rows rows (the batches'
     * shape), and one large COPY of as many rows as the batched COPYs took before, and as the server
     * acknowledged after (the limit) */
    raw_result rawpg, rawpg2 = {0}, bigpg, bigpg2 = {0};
    memset(&rawpg, 0, sizeof rawpg);
    memset(&bigpg, 0, sizeof bigpg);
    if (o.pg && (raw_pg(&o, rows, nrows, o.duration, 0, &rawpg) ||
                 raw_pg(&o, rows, nrows, 0, rawpg.rows, &bigpg))) {
        progress("raw postgresql COPY: %s", rawpg.err[0] ? rawpg.err : bigpg.err);
        pg_ok = 0;
        rawpg.rows_per_s = bigpg.rows_per_s = 0;
    } else if (o.pg) {
        progress("raw pg COPY      %9.0f rows/s  (%lld rows in %.2f s, %d per COPY and transaction)", rawpg.rows_per_s,
                 rawpg.rows, rawpg.elapsed, o.pg_copy_rows);
        progress("raw pg 1 COPY    %9.0f rows/s  (%lld rows in %.2f s, one COPY and transaction)", bigpg.rows_per_s,
                 bigpg.rows, bigpg.elapsed);
    }
    for (int k = 0; o.pg && k < 2; k++) {
        pg_run(&o, dir, k ? 3 : 1, &big, hdrs, &pgr[k]);
        if (k == 0 && rawpg.rows_per_s > 0) {
            if (raw_pg(&o, rows, nrows, o.duration, 0, &rawpg2) ||
                raw_pg(&o, rows, nrows, 0, pgr[0].peak.accepted > 0 ? pgr[0].peak.accepted : rawpg.rows, &bigpg2)) {
                progress("raw postgresql COPY: %s", rawpg2.err[0] ? rawpg2.err : bigpg2.err);
                pg_ok = 0;
            } else {
                progress("raw pg COPY      %9.0f rows/s  (again, after the one-server phase; the limit: the mean %.0f)",
                         rawpg2.rows_per_s, (rawpg.rows_per_s + rawpg2.rows_per_s) / 2);
                progress("raw pg 1 COPY    %9.0f rows/s  (again, %lld rows as acknowledged; the limit: the mean %.0f)",
                         bigpg2.rows_per_s, bigpg2.rows, (bigpg.rows_per_s + bigpg2.rows_per_s) / 2);
                rawpg.rows_per_s = (rawpg.rows_per_s + rawpg2.rows_per_s) / 2;
                bigpg.rows_per_s = (bigpg.rows_per_s + bigpg2.rows_per_s) / 2;
            }
        }
        if (pgr[k].err[0])
            progress("postgresql x%d: %s", pgr[k].replicas, pgr[k].err);
        else
            phase_report(k ? "pg 3 replicas" : "pg 1 server", &pgr[k].peak);
        progress("verify pg x%d: %lld lines acknowledged, %lld rows in logs, windows.line_count sums to %lld: %s",
                 pgr[k].replicas, pgr[k].peak.accepted, pgr[k].stored, pgr[k].window_lines,
                 pgr[k].ok ? "OK" : "MISMATCH");
        pg_ok &= pgr[k].ok;
    }
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    int clean_exit = sr.exited && WIFEXITED(sr.status) && WEXITSTATUS(sr.status) == 0;
    double load_end = load_average();
    progress("server stopped %s in %.2f s%s", clean_exit ? "cleanly" : "UNCLEANLY", sr.seconds,
             !sr.exited ? " (killed after 30 s)" : "");

    long long acked = pair_acked + paced.accepted;
    long long stored = -1, windows_sum = -1;
    if (count_rows(dbpath, &stored, &windows_sum, err, sizeof err))
        progress("verify: %s", err);
    int ok = stored == acked;
    int windows_ok = windows_sum == stored;
    progress("verify: %lld lines acknowledged, %lld rows in logs, windows.line_count sums to %lld: %s", acked,
             stored, windows_sum, ok ? "OK" : "MISMATCH");
    long long errors = pair_errors + paced.errors;
    if (!ok || errors || !clean_exit || !pg_ok)
        failed = 1;

    double ratio = raw.rows_per_s > 0 ? peak.lines_per_s / raw.rows_per_s : 0;
    double batch_ratio = peak.lines_per_s > 0 ? tiny.lines_per_s / peak.lines_per_s : 0;
    /* VmHWM can trail VmRSS by a little (the kernel syncs per-thread RSS
     * counters lazily), so the peak is the larger of the two. */
    double hwm_mib = hwm_kb / 1024.0, sampled_mib = sampled_kb / 1024.0;
    double peak_mib = hwm_mib > sampled_mib ? hwm_mib : sampled_mib;

    if (!o.json_only) {
        char f1[64], f2[64], f3[64], f4[64], l1[64], l2[64];
        snprintf(f1, sizeof f1, "%.0f lines/s", peak.lines_per_s);
        snprintf(l1, sizeof l1, "raw sqlite %.0f/s", raw.rows_per_s);
        snprintf(f2, sizeof f2, "%.0f lines/s", tiny.lines_per_s);
        snprintf(l2, sizeof l2, "batch=%d %.0f/s", o.batch, peak.lines_per_s);
        snprintf(f3, sizeof f3, "%.1f ms", paced.p99);
        snprintf(f4, sizeof f4, "%.1f MiB", peak_mib);
        char b1[32], b2[32];
        snprintf(b1, sizeof b1, "ingest batch=%d", o.batch);
        snprintf(b2, sizeof b2, "ingest batch=%d", SMALL_BATCH);
        printf("%-22s %-15s %-22s %-7s %-10s %s\n", "benchmark", "figure", "limit (same run)", "ratio", "target",
               "met");
        printf("%-22s %-15s %-22s %-7.3f %-10s %s\n", b1, f1, l1, ratio, ">= 0.75", ratio >= 0.75 ? "yes" : "no");
        printf("%-22s %-15s %-22s %-7.3f %-10s %s\n", b2, f2, l2, batch_ratio, ">= 0.50",
               batch_ratio >= 0.50 ? "yes" : "no");
        char b3[32];
        snprintf(b3, sizeof b3, "p99 @%.0f%% peak", o.rate * 100);
        printf("%-22s %-15s %-22s %-7s %-10s %s\n", b3, f3, "", "", "< 50 ms",
               paced.requests && paced.p99 < 50 ? "yes" : "no");
        printf("%-22s %-15s %-22s %-7s %-10s %s\n", "peak RSS", f4, "", "", "< 128 MiB",
               peak_mib > 0 && peak_mib < 128 ? "yes" : "no");
        for (int k = 0; o.pg && k < 2; k++) {
            char b[32], f[64], l[64];
            snprintf(b, sizeof b, "ingest pg x%d", pgr[k].replicas);
            snprintf(f, sizeof f, "%.0f lines/s", pgr[k].peak.lines_per_s);
            if (k == 0) {
                double r = rawpg.rows_per_s > 0 ? pgr[k].peak.lines_per_s / rawpg.rows_per_s : 0;
                snprintf(l, sizeof l, "pg COPY x%d %.0f/s", o.pg_copy_rows, rawpg.rows_per_s);
                printf("%-22s %-15s %-22s %-7.3f %-10s %s\n", b, f, l, r, ">= 0.50", r >= 0.50 ? "yes" : "no");
                r = bigpg.rows_per_s > 0 ? pgr[k].peak.lines_per_s / bigpg.rows_per_s : 0;
                snprintf(l, sizeof l, "pg 1 COPY %.0f/s", bigpg.rows_per_s);
                printf("%-22s %-15s %-22s %-7.3f %-10s %s\n", b, f, l, r, ">= 0.50", r >= 0.50 ? "yes" : "no");
            }
            snprintf(l, sizeof l, "sqlite server %.0f/s", peak.lines_per_s);
            printf("%-22s %-15s %-22s %-7.2f %-10s %s\n", b, f, l,
                   peak.lines_per_s > 0 ? pgr[k].peak.lines_per_s / peak.lines_per_s : 0, "", "");
        }
        printf("\n");
        printf("latency batch=%d (unpaced): p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%.0f req/s)\n", o.batch,
               peak.p50, peak.p99, peak.max, peak.req_per_s);
        printf("latency batch=%d (unpaced): p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%.0f req/s)\n", SMALL_BATCH,
               tiny.p50, tiny.p99, tiny.max, tiny.req_per_s);
        printf("latency @%.0f%% (%.0f lines/s offered, %.0f achieved), from the scheduled send: p50 %.1f ms"
               "  p99 %.1f ms  max %.1f ms; from the actual send: p99 %.1f ms\n",
               o.rate * 100, paced.target_lines_per_s, paced.lines_per_s, paced.p50, paced.p99, paced.max, paced.svc_p99);
        printf("load average (1 min): %.2f at the start, %.2f at the end\n", load_start, load_end);
        printf("raw sqlite, per %d-row transaction: p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", RAW_TXN_ROWS,
               raw.txn_p50, raw.txn_p99, raw.txn_max);
        printf("RSS: VmHWM %.1f MiB, VmRSS sampled every 100 ms max %.1f MiB\n", hwm_mib, sampled_mib);
        printf("errors: %lld (batch=%d %lld, batch=%d %lld, paced %lld)%s%s\n", errors, o.batch, peak.errors,
               SMALL_BATCH, tiny.errors, paced.errors, errors ? "; first: " : "",
               errors ? (peak.first_err[0] ? peak.first_err : tiny.first_err[0] ? tiny.first_err : paced.first_err)
                      : "");
        printf("stored: %lld acknowledged, %lld in logs, %lld in windows.line_count: %s%s\n", acked, stored,
               windows_sum, ok ? "OK" : "MISMATCH", windows_ok ? "" : " (window counts disagree)");
        printf("server: SIGTERM to exit %.2f s, %s; %ld log lines after ready\n\n", sr.seconds,
               clean_exit ? "exit 0" : "NOT a clean exit", lines_during);
    }
    printf("{\"bench\":\"ingest\",\"client\":\"%s\",\"repeat\":%d,\"batch_ratios\":[%s],\"connections\":%d,\"batch\":%d,\"duration_s\":%.1f,"
           "\"raw_sqlite_rows_per_s\":%.0f,\"raw_txn_p99_ms\":%.2f,\"raw_txn_max_ms\":%.2f,\"ingest_1000_lines_per_s\":%.0f,\"ratio\":%.4f,"
           "\"ingest_10_lines_per_s\":%.0f,\"batch_ratio\":%.4f,"
           "\"latency_1000_p50_ms\":%.2f,\"latency_1000_p99_ms\":%.2f,\"latency_1000_max_ms\":%.2f,"
           "\"latency_10_p99_ms\":%.2f,\"requests_per_commit_1000\":%.2f,\"requests_per_commit_10\":%.2f,"
           "\"server_cpu_us_per_line_1000\":%.2f,\"server_cpu_us_per_line_10\":%.2f,"
           "\"rate_fraction\":%.2f,\"rate_80_target_lines_per_s\":%.0f,\"rate_80_lines_per_s\":%.0f,"
           "\"p99_at_80_ms\":%.2f,\"p50_at_80_ms\":%.2f,\"max_at_80_ms\":%.2f,\"p99_at_80_from_send_ms\":%.2f,"
           "\"peak_rss_mib\":%.1f,\"vmhwm_mib\":%.1f,\"sampled_max_rss_mib\":%.1f,"
           "\"errors\":%lld,\"acknowledged\":%lld,\"stored\":%lld,\"verify\":\"%s\","
           "\"shutdown_s\":%.2f,\"clean_exit\":%s,"
           "\"pg_1_lines_per_s\":%.0f,\"pg_3_lines_per_s\":%.0f,\"raw_pg_copy_rows_per_s\":%.0f,\"raw_pg_copy_rows\":%d,\"pg_ratio\":%.4f,"
           "\"raw_pg_one_copy_rows_per_s\":%.0f,\"pg_one_copy_ratio\":%.4f,\"rate_80_reached\":%.3f,"
           "\"load_start\":%.2f,\"load_end\":%.2f,"
           "\"pg_verify\":\"%s\"}\n",
           o.curl ? "curl" : "lean", o.repeat, ratios, o.connections, o.batch, o.duration, raw.rows_per_s, raw.txn_p99, raw.txn_max, peak.lines_per_s, ratio, tiny.lines_per_s,
           batch_ratio, peak.p50, peak.p99, peak.max, tiny.p99,
           peak.commits > 0 ? (double)peak.requests / (double)peak.commits : 0,
           tiny.commits > 0 ? (double)tiny.requests / (double)tiny.commits : 0,
           peak.cpu_s >= 0 && peak.accepted ? peak.cpu_s * 1e6 / (double)peak.accepted : 0,
           tiny.cpu_s >= 0 && tiny.accepted ? tiny.cpu_s * 1e6 / (double)tiny.accepted : 0, o.rate, paced.target_lines_per_s, paced.lines_per_s,
           paced.p99, paced.p50, paced.max, paced.svc_p99, peak_mib, hwm_mib, sampled_mib, errors, acked, stored, ok ? "OK" : "MISMATCH",
           sr.seconds, clean_exit ? "true" : "false", pgr[0].peak.lines_per_s, pgr[1].peak.lines_per_s,
           rawpg.rows_per_s, o.pg_copy_rows, rawpg.rows_per_s > 0 ? pgr[0].peak.lines_per_s / rawpg.rows_per_s : 0,
           bigpg.rows_per_s, bigpg.rows_per_s > 0 ? pgr[0].peak.lines_per_s / bigpg.rows_per_s : 0,
           paced.target_lines_per_s > 0 ? paced.lines_per_s / paced.target_lines_per_s : 0, load_start, load_end,
           !o.pg ? "not run" : pg_ok ? "OK" : "MISMATCH");
    fflush(stdout);

    if (o.keep || failed)
        progress("kept %s (server.log, bench.db)", dir);
    else
        remove_tree(dir);
    bodies_free(&big);
    bodies_free(&small);
    for (size_t i = 0; i < nrows; i++) {
        free(rows[i].message);
        free(rows[i].attributes);
    }
    free(rows);
    return ok && pg_ok ? 0 : 1;
}
