/*
 * miner.c — bench_miner: how fast the template miner takes lines on one core,
 * measured against the cheapest pass over the same lines.
 *
 * What it measures: (1) the limit: one pass over the log buffer that splits
 * it into lines with memchr and hashes every line with FNV-1a — the least any
 * parser must do with each line (find it, touch each of its bytes), lines/s.
 * (2) the project: miner_add() of every line's message into the miner of its
 * service (one miner per service, as the digest keeps them), on one thread,
 * lines/s. Each is run --repeat times (default 3), each miner run with fresh
 * miners, and the best run counts, so a hiccup of the machine does not decide
 * the figure. The ratio (2)/(1) is comparable across machines; the target is
 * 1,000,000 lines/s.
 *
 * The log is generated in memory, deterministically (fixed seed): 20 services,
 * each with 30 message templates drawn from 40 realistic shapes (HTTP access
 * lines, logins, caches, queues, jobs, storage, TLS, GC, ...) with a
 * per-service noun, used with a Zipf-like frequency (a few templates carry
 * most lines, as in real services), and variable values of every kind the
 * miner masks: IPv4 and ports, numbers, durations, sizes with units, UUIDs,
 * hex ids, ISO timestamps, paths with ids, quoted strings, key=value pairs,
 * and plain-word variables (user names, states). About 70 bytes per line.
 * Each line is `svc-NN message`; the service field is split off before the
 * miner sees the message, and the limit pass hashes the whole line.
 *
 * It prints figures and never asserts a timing: the exit status is 0, 1 when
 * memory runs out, 2 when the command line is wrong.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anomalog/miner.h"

#define NSERVICES 20
#define TEMPLATES_PER_SERVICE 30
#define TARGET_LINES_PER_S 1000000.0

typedef struct options {
    size_t lines;
    int repeat;
    int json_only;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_miner [--lines N] [--repeat N] [--json-only]\n"
               "  --lines N    lines generated (default 1000000)\n"
               "  --repeat N   runs of each measurement, the best counts (default 3)\n"
               "  --json-only  print only the JSON object on stdout\n"
               "  (--duration and other arguments of bench/run-all.sh are accepted and ignored)\n");
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- deterministic random numbers ---------------------------------------- */

static uint64_t rng = UINT64_C(0x853c49e6748fea9b);

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* ---- the log ---------------------------------------------------------------- */

/*
 * Template shapes. Slots: %S the template's noun (constant per template),
 * %I IPv4, %N number, %M milliseconds, %U UUID, %H hex id, %W user name,
 * %P path with ids, %Z size (`512MB`), %D duration (`1.5s`), %T ISO time,
 * %Q quoted name, %E state word, %C HTTP status, %F decimal, %L signed id.
 */
static const char *const SHAPES[] = {
    "GET /api/v1/%S/%N HTTP/1.1 %C %N bytes in %M ms",
    "Accepted connection from %I:%N",
    "Connection to %I:%N closed after %M ms",
    "user=%W action=login result=success ip=%I session=%U",
    "Failed login for user %W from %I: invalid password (attempt %N of 5)",
    "cache miss key=%S:%H ttl=%N",
    "Processed batch %N of %N in %M ms",
    "Starting %S worker pool with %N threads",
    "Heartbeat from node %S-%N at %T",
    "Checkpoint %N completed: %Z written, took %D",
    "Query took %M ms: SELECT * FROM %S WHERE id = %N",
    "Retrying request %U to %S (attempt %N/%N) after %M ms",
    "Job %H finished with status %E",
    "disk usage on %P at %N%",
    "Opened file %P for writing (fd=%N)",
    "Evicted %N entries from %S cache in %M ms",
    "Scheduled task %Q next run at %T",
    "Received signal %E, shutting down %S",
    "Loaded configuration from %P (%N keys)",
    "Upstream %S responded %C in %M ms, request_id=%H",
    "Session %U expired for user %W",
    "Published message %H to topic %S.events partition %N offset %N",
    "Consumer group %S lag is %N messages",
    "TLS handshake with %I:%N failed: certificate expired at %T",
    "Container %H restarted (exit code %N), restart count %N",
    "GC pause %M ms, heap %Z/%Z",
    "Allocated block blk_%L on datanode %I:%N",
    "Transaction %N committed: %N rows inserted, %N updated",
    "Rate limit exceeded for client %I: %N requests in %N s",
    "Health check passed for %S (%M ms)",
    "Deleting expired snapshot %P",
    "Thread %S-%N blocked for %M ms on lock %H",
    "Payment %U declined: insufficient funds, amount=%F currency=EUR",
    "Sending email to %W@example.com with subject %Q",
    "Reloaded %N %S routes in %M ms",
    "Index %S rebuilt: %N documents, %Z",
    "Websocket client %I:%N disconnected: code=%N reason=%Q",
    "Mounted volume %P on %S-%N",
    "Metric %S.latency.p99=%F exceeds threshold %F",
    "DNS lookup for %S.internal took %M ms",
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

static const char *const NOUNS[] = {
    "orders",  "billing", "search",    "catalog", "accounts", "payments", "inventory", "shipping",
    "reviews", "profile", "sessions",  "ledger",  "pricing",  "gateway",  "auth",      "media",
    "notify",  "reports", "analytics", "config",  "tenants",  "quotas",   "audit",     "exports",
};
static const char *const USERS[] = {
    "alice", "bob",   "carol",  "dave",   "erin",    "frank", "grace", "heidi", "ivan",   "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "admin",
    "root",  "guest", "deploy", "backup", "svc_ci",
};
static const char *const STATES[] = {"SUCCESS", "FAILED", "TIMEOUT", "CANCELLED", "SIGTERM", "SIGINT", "OOMKILLED"};
static const char *const QUOTED[] = {"'nightly-backup'", "'reindex'", "'rotate keys'", "\"going away\"",
                                     "\"idle timeout\"", "'Your invoice'", "'weekly report'"};

static size_t put(char *p, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static size_t put(char *p, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p, cap, fmt, ap);
    va_end(ap);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

/* Writes one message of shape sh with noun into p (cap bytes); returns its length. */
static size_t render(char *p, size_t cap, const char *sh, const char *noun)
{
    size_t o = 0;
    for (const char *s = sh; *s && o + 64 < cap; s++) {
        if (*s != '%' || !s[1]) {
            p[o++] = *s;
            continue;
        }
        char c = *++s;
        switch (c) {
        case 'S': o += put(p + o, cap - o, "%s", noun); break;
        case 'I': o += put(p + o, cap - o, "10.%u.%u.%u", rnd_below(256), rnd_below(256), 1 + rnd_below(254)); break;
        case 'N': {
            unsigned mag = rnd_below(4);
            o += put(p + o, cap - o, "%u", mag == 0 ? rnd_below(10) : mag == 1 ? rnd_below(1000) : mag == 2 ? rnd_below(100000) : (unsigned)rnd());
            break;
        }
        case 'M':
            if (rnd_below(3))
                o += put(p + o, cap - o, "%u", rnd_below(2000));
            else
                o += put(p + o, cap - o, "%u.%03u", rnd_below(2000), rnd_below(1000));
            break;
        case 'U': {
            uint64_t a = rnd(), b = rnd();
            o += put(p + o, cap - o, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
                     (unsigned)a & 0xfff, (unsigned)(b >> 52) & 0xfff, (unsigned long long)(b & UINT64_C(0xffffffffffff)));
            break;
        }
        case 'H': o += put(p + o, cap - o, "%016llx", (unsigned long long)rnd()); break;
        case 'W': o += put(p + o, cap - o, "%s", USERS[rnd_below(sizeof USERS / sizeof USERS[0])]); break;
        case 'P': {
            unsigned a = rnd_below(100000), b = rnd_below(100000);
            switch (rnd_below(4)) {
            case 0: o += put(p + o, cap - o, "/var/lib/%s/data/%u/part-%05u.db", noun, a, b); break;
            case 1: o += put(p + o, cap - o, "/srv/%s/uploads/%u/%08x.bin", noun, a, b); break;
            case 2: o += put(p + o, cap - o, "/data/%s/shard-%u/segment_%u.log", noun, a, b); break;
            default: o += put(p + o, cap - o, "/tmp/%s-%u.sock", noun, a); break;
            }
            break;
        }
        case 'Z': {
            static const char *const u[] = {"KB", "MB", "GB"};
            o += put(p + o, cap - o, "%u%s", 1 + rnd_below(1024), u[rnd_below(3)]);
            break;
        }
        case 'D':
            if (rnd_below(2))
                o += put(p + o, cap - o, "%u.%us", rnd_below(60), rnd_below(10));
            else
                o += put(p + o, cap - o, "%ums", rnd_below(1000));
            break;
        case 'T':
            o += put(p + o, cap - o, "2026-11-%02uT%02u:%02u:%02u.%03uZ", 1 + rnd_below(28), rnd_below(24), rnd_below(60),
                     rnd_below(60), rnd_below(1000));
            break;
        case 'Q': o += put(p + o, cap - o, "%s", QUOTED[rnd_below(sizeof QUOTED / sizeof QUOTED[0])]); break;
        case 'E': o += put(p + o, cap - o, "%s", STATES[rnd_below(sizeof STATES / sizeof STATES[0])]); break;
        case 'C': {
            static const unsigned codes[] = {200, 200, 200, 201, 204, 301, 304, 400, 404, 500, 503};
            o += put(p + o, cap - o, "%u", codes[rnd_below(sizeof codes / sizeof codes[0])]);
            break;
        }
        case 'F': o += put(p + o, cap - o, "%u.%02u", rnd_below(1000), rnd_below(100)); break;
        case 'L': o += put(p + o, cap - o, "%s%llu", rnd_below(2) ? "-" : "", (unsigned long long)(rnd() >> 1)); break;
        default: p[o++] = '%'; p[o++] = c; break;
        }
    }
    return o;
}

typedef struct logbuf {
    char *buf;
    size_t len;
    size_t lines;
} logbuf;

/* Generates n lines `svc-NN message\n`. */
static int generate(logbuf *lb, size_t n)
{
    /* each service: 30 of the shapes, starting at a service-specific offset,
     * each with its own noun; template k of a service has weight 1/(k+1) */
    int shape[NSERVICES][TEMPLATES_PER_SERVICE];
    const char *noun[NSERVICES][TEMPLATES_PER_SERVICE];
    for (int s = 0; s < NSERVICES; s++)
        for (int k = 0; k < TEMPLATES_PER_SERVICE; k++) {
            shape[s][k] = (int)((size_t)(s * 7 + k) % NSHAPES);
            noun[s][k] = NOUNS[(size_t)(s * 5 + k * 3) % (sizeof NOUNS / sizeof NOUNS[0])];
        }
    double cum[TEMPLATES_PER_SERVICE], total = 0;
    for (int k = 0; k < TEMPLATES_PER_SERVICE; k++)
        cum[k] = (total += 1.0 / (k + 1));

    size_t cap = n * 320 + 4096;
    lb->buf = malloc(cap);
    if (!lb->buf)
        return -1;
    lb->len = 0;
    for (size_t i = 0; i < n; i++) {
        int s = (int)rnd_below(NSERVICES);
        double r = (double)(rnd() >> 11) / 9007199254740992.0 * total;
        int k = 0;
        while (k < TEMPLATES_PER_SERVICE - 1 && cum[k] < r)
            k++;
        char *p = lb->buf + lb->len;
        size_t o = (size_t)snprintf(p, 16, "svc-%02d ", s);
        o += render(p + o, 300, SHAPES[shape[s][k]], noun[s][k]);
        p[o++] = '\n';
        lb->len += o;
    }
    lb->lines = n;
    return 0;
}

/* ---- the two passes ------------------------------------------------------- */

static volatile uint64_t sink;

/* The limit: split with memchr, FNV-1a 64 of each line. */
static double limit_pass(const logbuf *lb)
{
    double t0 = now_s();
    const char *p = lb->buf, *end = lb->buf + lb->len;
    uint64_t acc = 0;
    size_t lines = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (const char *q = p; q < nl; q++)
            h = (h ^ (unsigned char)*q) * UINT64_C(0x100000001b3);
        acc += h;
        lines++;
        p = nl + 1;
    }
    double dt = now_s() - t0;
    sink = acc + lines;
    return (double)lines / dt;
}

/* The miner: one miner per service. Returns lines/s, or -1 when out of memory. */
static double miner_pass(const logbuf *lb, size_t *templates)
{
    miner *m[NSERVICES];
    for (int s = 0; s < NSERVICES; s++)
        if (!(m[s] = miner_new(NULL))) {
            while (s-- > 0)
                miner_free(m[s]);
            return -1;
        }
    double t0 = now_s();
    const char *p = lb->buf, *end = lb->buf + lb->len;
    uint64_t acc = 0;
    int oom = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        /* `svc-NN ` */
        int s = (p[4] - '0') * 10 + (p[5] - '0');
        int64_t id = miner_add(m[s], p + 7, (size_t)(nl - p - 7), NULL, NULL, 0, NULL);
        oom |= id < 0;
        acc += (uint64_t)id;
        p = nl + 1;
    }
    double dt = now_s() - t0;
    sink = acc;
    *templates = 0;
    for (int s = 0; s < NSERVICES; s++) {
        *templates += miner_size(m[s]);
        miner_free(m[s]);
    }
    return oom ? -1 : (double)lb->lines / dt;
}

/* ---- main ------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (!strcmp(a, "--lines") && i + 1 < argc) {
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v < 1000 || v > 100000000ULL) {
                fprintf(stderr, "bench_miner: --lines: \"%s\" is not in 1000..100000000\n", argv[i]);
                return -1;
            }
            o->lines = (size_t)v;
        } else if (!strcmp(a, "--repeat") && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 100) {
                fprintf(stderr, "bench_miner: --repeat: \"%s\" is not in 1..100\n", argv[i]);
                return -1;
            }
            o->repeat = (int)v;
        } else if (!strcmp(a, "--json-only")) {
            o->json_only = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strncmp(a, "--", 2)) {
            /* an option of another benchmark (run-all.sh passes its arguments to all) */
            if (!strchr(a, '=') && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
                i++;
        } else {
            fprintf(stderr, "bench_miner: unknown argument \"%s\"\n", a);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o = {.lines = 1000000, .repeat = 3};
    if (parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    logbuf lb;
    if (generate(&lb, o.lines) != 0) {
        fprintf(stderr, "bench_miner: out of memory\n");
        return 1;
    }
    double best_limit = 0, best_miner = 0;
    size_t templates = 0;
    for (int r = 0; r < o.repeat; r++) {
        double l = limit_pass(&lb);
        double mr = miner_pass(&lb, &templates);
        if (mr < 0) {
            fprintf(stderr, "bench_miner: out of memory\n");
            free(lb.buf);
            return 1;
        }
        if (l > best_limit)
            best_limit = l;
        if (mr > best_miner)
            best_miner = mr;
    }
    double ratio = best_limit > 0 ? best_miner / best_limit : 0;
    double avg_bytes = (double)lb.len / (double)lb.lines;
    if (!o.json_only) {
        char f1[64], l1[64], b1[48];
        snprintf(f1, sizeof f1, "%.0f lines/s", best_miner);
        snprintf(l1, sizeof l1, "split+hash %.0f/s", best_limit);
        snprintf(b1, sizeof b1, "miner %d services", NSERVICES);
        printf("%-22s %-17s %-26s %-7s %-14s %s\n", "benchmark", "figure", "limit (same run)", "ratio", "target", "met");
        printf("%-22s %-17s %-26s %-7.3f %-14s %s\n", b1, f1, l1, ratio, ">= 1000000/s",
               best_miner >= TARGET_LINES_PER_S ? "yes" : "no");
        printf("\n%zu lines, %.1f bytes per line, %d services x %d templates generated, %zu templates mined, "
               "best of %d runs, one thread\n\n",
               lb.lines, avg_bytes, NSERVICES, TEMPLATES_PER_SERVICE, templates, o.repeat);
    }
    printf("{\"bench\":\"miner\",\"lines\":%zu,\"bytes_per_line\":%.1f,\"services\":%d,\"templates_generated\":%d,"
           "\"templates_mined\":%zu,\"repeat\":%d,\"miner_lines_per_s\":%.0f,\"limit_lines_per_s\":%.0f,"
           "\"ratio\":%.4f,\"target_lines_per_s\":%.0f,\"met\":%s}\n",
           lb.lines, avg_bytes, NSERVICES, NSERVICES * TEMPLATES_PER_SERVICE, templates, o.repeat, best_miner,
           best_limit, ratio, TARGET_LINES_PER_S, best_miner >= TARGET_LINES_PER_S ? "true" : "false");
    free(lb.buf);
    return 0;
}
