/*
 * digest.c — bench_digest: what the window digest saves in model cost, and
 * how long it takes on a busy window, each against a comparison measured in
 * the same run.
 *
 * Part 1, model cost. A log of --lines lines (default 500,000) is generated
 * in memory over --hours hours (default 4) for 8 services, then cut into
 * 5-minute windows per service, as the server does. Two ways of sending it to
 * a model are counted on the same windows:
 *   - the seed's way: per service-window, one call per 200 raw lines, each
 *     prompt the system prompt plus those lines verbatim (prompt_build()
 *     without a digest, no byte cap);
 *   - the digest's way, as src/analyze/analyzer.c does it: one miner per
 *     service (miner_opts_defaults()), per window digest_build() with
 *     digest_opts_defaults(), a default redactor and a history callback backed
 *     by an in-memory per-template count table kept across that service's
 *     windows (known = seen in an earlier window; trailing average = lines
 *     over the last 12 windows / windows digested in that span; windows seen;
 *     the mean error lines per window of that span), then prompt_build() with
 *     the digest (max_bytes 256 KiB, the server's default): one call per
 *     service-window. Quiet windows, which the server skips by default
 *     (analysis.skip_quiet_windows), are still counted as calls here: the
 *     figure is an upper bound; the quiet ones are printed beside it.
 * Tokens are estimated the same way for both: bytes of system + user message
 * / 4 (bytes are printed too). Targets: seed tokens / digest tokens >= 20 and
 * at most one model call per service-window.
 *
 * Part 2, digest latency. One 100,000-line window (--window-lines) of the
 * busiest service, after 12 ordinary windows of history mined and recorded
 * the same way (untimed), is digested --repeat times (default 5), each time
 * by a freshly warmed miner and history, and the median digest_build() time
 * counts. The same-run limit: a pass over the same lines computing each
 * line's length and FNV-1a hash (median of as many runs). The miner's share:
 * miner_add() of every line's first line with its variable values, as
 * digest_build() calls it, on an identically warmed miner. Target: < 200 ms.
 *
 * The log is deterministic (fixed seed). Each service has 20–40 message
 * templates drawn from about 60 realistic shapes (access lines, logins,
 * caches, queues, jobs, payments, TLS, GC, Java stack traces, ...), with a
 * per-service noun and random variable values of every kind (IPs, ports,
 * numbers, durations, sizes, UUIDs, hex ids, timestamps, paths, quoted
 * strings, user names, e-mail addresses and tokens the redactor replaces);
 * frequencies are Zipf-like with info and debug templates on top, warnings
 * and errors rarer; volumes differ by service (30% down to 3% of the lines)
 * and drift over the hours; each service has 1–3 bursts of an error
 * (an existing error template or one never seen before, 1–4 minutes at up to
 * 4x the usual rate); ten rare one-off events are spread over the services
 * (an OutOfMemoryError stack trace, a path traversal attempt, an AWS key, a
 * configuration change, a leader election, ...).
 *
 * It prints figures and never asserts a timing: the exit status is 0, 1 on a
 * functional failure (out of memory, a digest or prompt that could not be
 * built, a digest that does not account for every line of its window, a seed
 * prompt that left lines out), 2 when the command line is wrong.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anomalog/digest.h"
#include "anomalog/miner.h"
#include "anomalog/prompt.h"
#include "anomalog/redact.h"
#include "anomalog/timeutil.h"

#define NSERVICES 8
#define WINDOW_MS (5 * 60 * 1000)
#define SEED_LINES_PER_CALL 200
#define PROMPT_MAX_BYTES ((size_t)256 * 1024)
#define BYTES_PER_TOKEN 4
#define TARGET_TOKEN_RATIO 20.0
#define TARGET_CALLS_PER_WINDOW 1.0
#define TARGET_DIGEST_MS 200.0
#define WARM_WINDOWS 12
#define WARM_LINES 2000
#define MAX_PARAMS 16 /* as digest_build() asks the miner */

typedef struct options {
    size_t lines;
    int hours;
    size_t window_lines;
    int repeat;
    int json_only;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_digest [--lines N] [--hours H] [--window-lines N] [--repeat N] [--json-only]\n"
               "  --lines N         lines of the generated multi-service log (default 500000)\n"
               "  --hours H         hours the log spans, cut into 5-minute windows (default 4)\n"
               "  --window-lines N  lines of the one busy window timed in part 2 (default 100000)\n"
               "  --repeat N        timed runs in part 2, the median counts (default 5)\n"
               "  --json-only       print only the JSON object on stdout\n"
               "  (--duration and other arguments of bench/run-all.sh are accepted and ignored)\n");
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void oom(void)
{
    fprintf(stderr, "bench_digest: out of memory\n");
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- deterministic random numbers ---------------------------------------- */

static uint64_t rng = UINT64_C(0x2545f4914f6cdd1d);

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

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* ---- message text: an arena that never moves what it handed out ----------- */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk;

static chunk *arena;
static size_t arena_bytes;

static char *arena_copy(const char *s, size_t n)
{
    if (!arena || arena->cap - arena->used < n + 1) {
        size_t cap = n + 1 > (1u << 20) ? n + 1 : (1u << 20);
        chunk *c = malloc(sizeof *c + cap);
        if (!c)
            oom();
        c->next = arena;
        c->used = 0;
        c->cap = cap;
        arena = c;
    }
    char *p = arena->data + arena->used;
    memcpy(p, s, n);
    p[n] = '\0';
    arena->used += n + 1;
    arena_bytes += n;
    return p;
}

static void arena_free(void)
{
    while (arena) {
        chunk *n = arena->next;
        free(arena);
        arena = n;
    }
}

/* ---- message shapes -------------------------------------------------------- */

/*
 * Slots: %S the template's noun (constant per template), %I IPv4, %N number,
 * %M milliseconds, %U UUID, %H hex id, %W user name, %P path with ids,
 * %Z size, %D duration, %T ISO time, %Q quoted name, %E failure state,
 * %F decimal, %B boolean, %% a percent sign.
 */
typedef struct shape {
    const char *level;
    const char *fmt;
} shape;

static const shape INFO_SHAPES[] = {
    {"info", "GET /api/v1/%S/%N HTTP/1.1 200 %N bytes in %M ms"},
    {"info", "POST /api/v1/%S HTTP/1.1 201 %N bytes in %M ms request_id=%H"},
    {"info", "Accepted connection from %I:%N"},
    {"info", "Connection to %I:%N closed after %M ms"},
    {"info", "user=%W action=login result=success ip=%I session=%U"},
    {"info", "Processed batch %N of %N in %M ms"},
    {"info", "Heartbeat from node %S-%N at %T"},
    {"info", "Checkpoint %N completed: %Z written, took %D"},
    {"info", "Query took %M ms: SELECT * FROM %S WHERE id = %N"},
    {"info", "Job %H finished with status SUCCESS in %D"},
    {"info", "Opened file %P for writing (fd=%N)"},
    {"info", "Evicted %N entries from %S cache in %M ms"},
    {"info", "Scheduled task %Q next run at %T"},
    {"info", "Upstream %S responded 200 in %M ms, request_id=%H"},
    {"info", "Session %U expired for user %W"},
    {"info", "Published message %H to topic %S.events partition %N offset %N"},
    {"info", "Consumer group %S lag is %N messages"},
    {"info", "GC pause %M ms, heap %Z/%Z"},
    {"info", "Transaction %N committed: %N rows inserted, %N updated"},
    {"info", "Health check passed for %S (%M ms)"},
    {"info", "Sending email to %W@example.com with subject %Q"},
    {"info", "Reloaded %N %S routes in %M ms"},
    {"info", "Index %S rebuilt: %N documents, %Z"},
    {"info", "Order %N created for customer %W: %N items, total %F EUR"},
    {"info", "Payment %U authorized: amount=%F currency=EUR card=**** %N"},
    {"info", "Password reset requested for %W@example.com, token=%H"},
    {"info", "Cache hit ratio for %S is %F%% over the last %N s"},
    {"info", "Served %N requests in the last minute, p50=%M ms p99=%M ms"},
    {"info", "Worker %S-%N picked up job %H from queue %S"},
};
static const shape DEBUG_SHAPES[] = {
    {"debug", "cache miss key=%S:%H ttl=%N"},
    {"debug", "Resolved %S.internal to %I in %M ms"},
    {"debug", "Acquired lock %H on %S in %M ms"},
    {"debug", "Pool %S stats: active=%N idle=%N waiting=%N"},
    {"debug", "Feature flag %S evaluated to %B for user %W"},
    {"debug", "Request headers: host=%S.example.com user-agent=%Q content-length=%N"},
};
static const shape WARN_SHAPES[] = {
    {"warn", "Upstream %S responded slowly: %M ms (threshold 500 ms), retrying attempt=%N"},
    {"warn", "Retrying request %U to %S (attempt %N/5) after %M ms"},
    {"warn", "Rate limit exceeded for client %I: %N requests in %N s"},
    {"warn", "Failed login for user %W from %I: invalid password (attempt %N of 5)"},
    {"warn", "Connection pool %S nearly exhausted: %N/64 in use"},
    {"warn", "Slow query (%M ms): UPDATE %S SET status = %Q WHERE id = %N"},
    {"warn", "Consumer group %S lag is growing: %N messages behind"},
    {"warn", "Certificate for %S.example.com expires in %N days"},
    {"warn", "Deprecated API version v1 called by client %H on /api/v1/%S"},
};
static const shape ERROR_SHAPES[] = {
    {"error", "Upstream %S responded 503 in %M ms, request_id=%H"},
    {"error", "Failed to charge card for order %N: gateway timeout after %M ms request_id=%H"},
    {"error", "Job %H finished with status %E"},
    {"error", "TLS handshake with %I:%N failed: certificate verify failed"},
    {"error", "Database connection to %S-db:5432 lost: server closed the connection unexpectedly"},
    {"error", "Unhandled exception processing request %U\n"
              "java.lang.IllegalStateException: %S not ready\n"
              "\tat com.example.%S.Handler.handle(Handler.java:%N)\n"
              "\tat com.example.http.Router.dispatch(Router.java:%N)\n"
              "\tat java.base/java.lang.Thread.run(Thread.java:840)"},
    {"error", "Container %H restarted (exit code %N), restart count %N"},
    {"error", "Write to %P failed: No space left on device"},
    {"error", "Message %H to topic %S.events could not be delivered after %N attempts: broker unavailable"},
};
/* errors only a burst brings: never seen before it */
static const shape BURST_SHAPES[] = {
    {"error", "Connection refused to %S-db:5432 (pool %S, attempt %N): ECONNREFUSED"},
    {"error", "Circuit breaker %S opened after %N consecutive failures"},
    {"error", "Request to %S timed out after %M ms: context deadline exceeded"},
    {"error", "OOMKilled: container %S-%N exceeded memory limit %Z"},
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const NOUNS[] = {
    "orders",  "billing", "search",    "catalog", "accounts", "payments", "inventory", "shipping",
    "reviews", "profile", "sessions",  "ledger",  "pricing",  "gateway",  "auth",      "media",
    "notify",  "reports", "analytics", "config",  "tenants",  "quotas",   "audit",     "exports",
};
static const char *const USERS[] = {
    "alice", "bob",    "carol",  "dave",  "erin",   "frank", "grace", "heidi",  "ivan",   "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "admin",
    "deploy", "backup", "svc_ci",
};
static const char *const STATES[] = {"FAILED", "TIMEOUT", "CANCELLED", "OOMKILLED"};
static const char *const QUOTED[] = {"'nightly-backup'", "'reindex'", "'rotate keys'", "'Your invoice'",
                                     "'weekly report'", "\"curl/8.4.0\"", "\"Mozilla/5.0\""};

static size_t put(char *p, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static size_t put(char *p, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p, cap, fmt, ap);
    va_end(ap);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

/* Writes one message of shape fmt with noun into p (cap bytes, >= 128); returns its length. */
static size_t render(char *p, size_t cap, const char *fmt, const char *noun)
{
    size_t o = 0;
    for (const char *s = fmt; *s && o + 96 < cap; s++) {
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
            o += put(p + o, cap - o, "%u",
                     mag == 0 ? rnd_below(10) : mag == 1 ? rnd_below(1000) : mag == 2 ? rnd_below(100000) : rnd_below(1u << 30));
            break;
        }
        case 'M':
            if (rnd_below(3))
                o += put(p + o, cap - o, "%u", rnd_below(900));
            else
                o += put(p + o, cap - o, "%u.%03u", rnd_below(900), rnd_below(1000));
            break;
        case 'U': {
            uint64_t a = rnd(), b = rnd();
            o += put(p + o, cap - o, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
                     (unsigned)a & 0xfff, (unsigned)(b >> 52) & 0xfff, (unsigned long long)(b & UINT64_C(0xffffffffffff)));
            break;
        }
        case 'H': o += put(p + o, cap - o, "%016llx", (unsigned long long)rnd()); break;
        case 'W': o += put(p + o, cap - o, "%s", USERS[rnd_below(COUNT(USERS))]); break;
        case 'P': {
            unsigned a = rnd_below(100000), b = rnd_below(100000);
            switch (rnd_below(3)) {
            case 0: o += put(p + o, cap - o, "/var/lib/%s/data/%u/part-%05u.db", noun, a, b); break;
            case 1: o += put(p + o, cap - o, "/srv/%s/uploads/%u/%08x.bin", noun, a, b); break;
            default: o += put(p + o, cap - o, "/data/%s/shard-%u/segment_%u.log", noun, a % 64, b); break;
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
            o += put(p + o, cap - o, "2026-11-24T%02u:%02u:%02u.%03uZ", rnd_below(24), rnd_below(60), rnd_below(60),
                     rnd_below(1000));
            break;
        case 'Q': o += put(p + o, cap - o, "%s", QUOTED[rnd_below(COUNT(QUOTED))]); break;
        case 'E': o += put(p + o, cap - o, "%s", STATES[rnd_below(COUNT(STATES))]); break;
        case 'F': o += put(p + o, cap - o, "%u.%02u", rnd_below(1000), rnd_below(100)); break;
        case 'B': o += put(p + o, cap - o, "%s", rnd_below(2) ? "true" : "false"); break;
        case '%': p[o++] = '%'; break;
        default:
            p[o++] = '%';
            p[o++] = c;
            break;
        }
    }
    return o;
}

/* ---- services --------------------------------------------------------------- */

#define MAX_TEMPLATES 48

typedef struct tmpl {
    const shape *sh;
    const char *noun;
} tmpl;

typedef struct service {
    const char *name;
    double weight;       /* share of the log's lines */
    double phase;        /* of its daily drift */
    tmpl t[MAX_TEMPLATES];
    int n_regular;       /* templates of ordinary traffic, by rank */
    int n_t;             /* plus burst-only ones */
    double cum[MAX_TEMPLATES], total;
} service;

static const char *const SERVICE_NAMES[NSERVICES] = {"api-gateway", "search",  "orders",   "inventory",
                                                     "auth",        "notify",  "payments", "billing-worker"};
static const double SERVICE_WEIGHTS[NSERVICES] = {0.30, 0.18, 0.14, 0.12, 0.10, 0.07, 0.06, 0.03};
static const char *const PRIMARY_NOUN[NSERVICES] = {"gateway", "search", "orders", "inventory",
                                                    "auth",    "notify", "payments", "billing"};

/* Picks k distinct indices of 0..n-1 into out (k <= n), in random order. */
static void pick(int *out, int k, int n)
{
    int idx[64];
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)rnd_below((unsigned)(n - i));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        out[i] = idx[i];
    }
}

static const char *noun_for(int s)
{
    return rnd_below(2) ? PRIMARY_NOUN[s] : NOUNS[rnd_below(COUNT(NOUNS))];
}

static void services_setup(service *sv)
{
    for (int s = 0; s < NSERVICES; s++) {
        service *v = &sv[s];
        memset(v, 0, sizeof *v);
        v->name = SERVICE_NAMES[s];
        v->weight = SERVICE_WEIGHTS[s];
        v->phase = rnd_unit() * 6.283185307179586;
        int nt = 20 + (int)rnd_below(21); /* 20..40 */
        int n_warn = nt * 15 / 100, n_err = nt * 10 / 100, n_debug = nt * 12 / 100;
        int n_info = nt - n_warn - n_err - n_debug;
        int ii[64], id[64], iw[64], ie[64];
        pick(ii, n_info, (int)COUNT(INFO_SHAPES));
        pick(id, n_debug, (int)COUNT(DEBUG_SHAPES));
        pick(iw, n_warn, (int)COUNT(WARN_SHAPES));
        pick(ie, n_err, (int)COUNT(ERROR_SHAPES));
        /* ranks: info and debug mixed on top, then warnings, then errors */
        int k = 0, a = 0, b = 0;
        while (a < n_info || b < n_debug) {
            if (b < n_debug && (a >= n_info || rnd_below(n_info + n_debug) < (unsigned)n_debug))
                v->t[k++] = (tmpl){&DEBUG_SHAPES[id[b++]], noun_for(s)};
            else
                v->t[k++] = (tmpl){&INFO_SHAPES[ii[a++]], noun_for(s)};
        }
        for (int i = 0; i < n_warn; i++)
            v->t[k++] = (tmpl){&WARN_SHAPES[iw[i]], noun_for(s)};
        for (int i = 0; i < n_err; i++)
            v->t[k++] = (tmpl){&ERROR_SHAPES[ie[i]], noun_for(s)};
        v->n_regular = k;
        for (int i = 0; i < (int)COUNT(BURST_SHAPES); i++)
            v->t[k++] = (tmpl){&BURST_SHAPES[(s + i) % (int)COUNT(BURST_SHAPES)], PRIMARY_NOUN[s]};
        v->n_t = k;
        double tot = 0;
        for (int i = 0; i < v->n_regular; i++)
            v->cum[i] = (tot += 1.0 / pow(i + 1, 1.1));
        v->total = tot;
    }
}

static int zipf_template(const service *v)
{
    double r = rnd_unit() * v->total;
    int lo = 0, hi = v->n_regular - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v->cum[mid] < r)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Renders one line of template k of service v at ts. */
static prompt_line make_line(const service *v, int k, int64_t ts)
{
    char buf[1024];
    size_t n = render(buf, sizeof buf, v->t[k].sh->fmt, v->t[k].noun);
    return (prompt_line){.ts_ms = ts, .level = v->t[k].sh->level, .message = arena_copy(buf, n)};
}

/* ---- the log -------------------------------------------------------------------- */

typedef struct gline {
    prompt_line l;
    int svc;
    size_t seq;
} gline;

static int by_time(const void *a, const void *b)
{
    const gline *x = a, *y = b;
    if (x->l.ts_ms != y->l.ts_ms)
        return x->l.ts_ms < y->l.ts_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct rare_event {
    int svc;
    double at;          /* fraction of the span */
    const char *level;
    const char *message;
} rare_event;

static const rare_event RARE[] = {
    {2, 0.13, "error",
     "java.lang.OutOfMemoryError: Java heap space\n"
     "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)\n"
     "\tat com.example.orders.export.CsvWriter.append(CsvWriter.java:88)\n"
     "\tat com.example.orders.export.ExportJob.run(ExportJob.java:141)\n"
     "\tat java.base/java.lang.Thread.run(Thread.java:840)"},
    {0, 0.21, "info", "GET /api/v1/gateway/..%2F..%2F..%2F..%2Fetc%2Fpasswd HTTP/1.1 200 1843 bytes in 3 ms"},
    {4, 0.29, "info", "Admin login for user root from 203.0.113.77 (new device, country=RO)"},
    {2, 0.37, "warn", "Configuration reloaded from /etc/orders/config.yaml: max_connections 100 -> 20"},
    {3, 0.45, "warn", "Leader election: node inventory-2 lost leadership, new leader inventory-5 (term 18)"},
    {1, 0.52, "warn", "Disk usage on /var/lib/search/data at 93%, above the 90% warning threshold"},
    {6, 0.61, "warn", "API key AKIAIOSFODNN7EXAMPLE used from unexpected region ap-southeast-2"},
    {5, 0.70, "info", "Schema migration 0042_add_index applied in 18234 ms"},
    {7, 0.78, "error", "Clock skew detected: local time is 2.7 s ahead of NTP server 10.0.0.1"},
    {0, 0.90, "info", "SIGTERM received, draining 212 connections before shutdown"},
};

typedef struct logset {
    gline *g;
    size_t n;
    size_t bytes;          /* of the messages */
    int windows;           /* per service */
    prompt_line *cut;      /* the lines again, grouped by service-window, by time within each */
    size_t *off;           /* bucket s * windows + w spans cut[off[b] .. off[b + 1]) */
    int64_t base_ms;
} logset;

static void generate_log(logset *ls, const service *sv, size_t n_lines, int hours, int64_t base_ms)
{
    int minutes = hours * 60;
    size_t cells = (size_t)NSERVICES * (size_t)minutes;
    double *base = xcalloc(cells, sizeof *base), *extra = xcalloc(cells, sizeof *extra);
    int *btmpl = xcalloc(cells, sizeof *btmpl);
    double total = 0;
    for (int s = 0; s < NSERVICES; s++) {
        for (int m = 0; m < minutes; m++) {
            /* a slow drift over the day, and minute-to-minute noise */
            double drift = 1 + 0.35 * sin(sv[s].phase + 6.283185307179586 * m / (24.0 * 60) * 3);
            base[(size_t)s * minutes + m] = sv[s].weight * drift * (0.8 + 0.4 * rnd_unit());
        }
        int bursts = 1 + (int)rnd_below(3);
        for (int b = 0; b < bursts; b++) {
            int start = (int)rnd_below((unsigned)(minutes > 6 ? minutes - 5 : 1)), dur = 1 + (int)rnd_below(4);
            double mult = 0.5 + 3.5 * rnd_unit();
            /* half the bursts are an existing error or warning, half a never-seen one */
            int k = rnd_below(2) ? sv[s].n_regular + (int)rnd_below((unsigned)(sv[s].n_t - sv[s].n_regular))
                                 : sv[s].n_regular - 1 - (int)rnd_below(3);
            for (int m = start; m < start + dur && m < minutes; m++) {
                size_t c = (size_t)s * minutes + m;
                extra[c] = mult * base[c];
                btmpl[c] = k;
            }
        }
    }
    for (size_t c = 0; c < cells; c++)
        total += base[c] + extra[c];

    size_t cap = n_lines + COUNT(RARE);
    ls->g = xmalloc(cap * sizeof *ls->g);
    ls->n = 0;
    double cum = 0;
    size_t done = 0;
    for (size_t c = 0; c < cells; c++) {
        cum += base[c] + extra[c];
        size_t upto = c + 1 == cells ? n_lines : (size_t)llround((double)n_lines * cum / total);
        if (upto > n_lines)
            upto = n_lines;
        int s = (int)(c / (size_t)minutes), m = (int)(c % (size_t)minutes);
        double p_burst = extra[c] / (base[c] + extra[c]);
        for (; done < upto; done++) {
            int64_t ts = base_ms + (int64_t)m * 60000 + rnd_below(60000);
            int k = p_burst > 0 && rnd_unit() < p_burst ? btmpl[c] : zipf_template(&sv[s]);
            ls->g[ls->n] = (gline){make_line(&sv[s], k, ts), s, ls->n};
            ls->n++;
        }
    }
    for (size_t i = 0; i < COUNT(RARE); i++) {
        int64_t ts = base_ms + (int64_t)(RARE[i].at * minutes * 60000.0);
        const char *msg = RARE[i].message;
        ls->g[ls->n] = (gline){{ts, RARE[i].level, arena_copy(msg, strlen(msg))}, RARE[i].svc, ls->n};
        ls->n++;
    }
    free(base);
    free(extra);
    free(btmpl);

    /* one log, by time, as a shipper would send it */
    qsort(ls->g, ls->n, sizeof *ls->g, by_time);
    ls->bytes = 0;
    for (size_t i = 0; i < ls->n; i++)
        ls->bytes += strlen(ls->g[i].l.message);

    /* the cut: 5-minute windows per service (a stable counting sort keeps time order) */
    ls->base_ms = base_ms;
    ls->windows = minutes * 60000 / WINDOW_MS;
    size_t nb = (size_t)NSERVICES * (size_t)ls->windows;
    ls->off = xcalloc(nb + 1, sizeof *ls->off);
    size_t *fill = xcalloc(nb, sizeof *fill);
    size_t *bucket = xmalloc(ls->n * sizeof *bucket);
    for (size_t i = 0; i < ls->n; i++) {
        int64_t w = (ls->g[i].l.ts_ms - base_ms) / WINDOW_MS;
        if (w >= ls->windows)
            w = ls->windows - 1;
        bucket[i] = (size_t)ls->g[i].svc * (size_t)ls->windows + (size_t)w;
        ls->off[bucket[i] + 1]++;
    }
    for (size_t b = 0; b < nb; b++)
        ls->off[b + 1] += ls->off[b];
    ls->cut = xmalloc(ls->n * sizeof *ls->cut);
    for (size_t i = 0; i < ls->n; i++)
        ls->cut[ls->off[bucket[i]] + fill[bucket[i]]++] = ls->g[i].l;
    free(fill);
    free(bucket);
}

/* ---- the history the store would give: per-template counts per window -------- */

typedef struct history {
    int windows;         /* capacity in windows */
    uint32_t *cnt;       /* cap_ids x windows */
    int *first;          /* first window of each template id, -1 never */
    size_t cap_ids;
    char *digested;      /* per window */
    long *errors;        /* per window: error lines */
} history;

static void history_init(history *h, int windows)
{
    memset(h, 0, sizeof *h);
    h->windows = windows;
    h->digested = xcalloc((size_t)windows, 1);
    h->errors = xcalloc((size_t)windows, sizeof *h->errors);
}

static void history_free(history *h)
{
    free(h->cnt);
    free(h->first);
    free(h->digested);
    free(h->errors);
    memset(h, 0, sizeof *h);
}

static void history_reserve(history *h, int64_t id)
{
    if ((size_t)id < h->cap_ids)
        return;
    size_t nc = h->cap_ids ? h->cap_ids : 256;
    while (nc <= (size_t)id)
        nc *= 2;
    uint32_t *c = realloc(h->cnt, nc * (size_t)h->windows * sizeof *c);
    int *f = realloc(h->first, nc * sizeof *f);
    if (!c || !f)
        oom();
    memset(c + h->cap_ids * (size_t)h->windows, 0, (nc - h->cap_ids) * (size_t)h->windows * sizeof *c);
    for (size_t i = h->cap_ids; i < nc; i++)
        f[i] = -1;
    h->cnt = c;
    h->first = f;
    h->cap_ids = nc;
}

/* store_templates_record(): this window's templates and error lines */
static void history_record(history *h, int w, const digest *d)
{
    for (size_t i = 0; i < d->n_templates; i++) {
        int64_t id = d->templates[i].id;
        history_reserve(h, id);
        h->cnt[(size_t)id * (size_t)h->windows + (size_t)w] = (uint32_t)d->templates[i].count;
        if (h->first[id] < 0 || h->first[id] > w)
            h->first[id] = w;
    }
    h->digested[w] = 1;
    h->errors[w] = d->error_lines;
}

typedef struct hist_lookup {
    const history *h;
    int w, from;         /* window, first window of its history span */
    int depth;           /* windows digested in [from, w) */
} hist_lookup;

/* store_template_history() over windows [w - n, w), then analyzer.c's history_of() */
static void history_span(const history *h, int w, int n, hist_lookup *hl, double *error_avg)
{
    hl->h = h;
    hl->w = w;
    hl->from = w - n > 0 ? w - n : 0;
    hl->depth = 0;
    long errs = 0;
    for (int j = hl->from; j < w; j++)
        if (h->digested[j]) {
            hl->depth++;
            errs += h->errors[j];
        }
    *error_avg = hl->depth ? (double)errs / hl->depth : -1;
}

static int history_of(void *arg, int64_t id, digest_history *out)
{
    const hist_lookup *hl = arg;
    const history *h = hl->h;
    if (id <= 0 || (size_t)id >= h->cap_ids || h->first[id] < 0)
        return -1;
    long lines = 0;
    int seen = 0;
    for (int j = hl->from; j < hl->w; j++) {
        uint32_t c = h->cnt[(size_t)id * (size_t)h->windows + (size_t)j];
        lines += c;
        seen += c > 0;
    }
    out->known = h->first[id] < hl->w;
    out->benign = 0;
    out->trailing_avg = (double)lines / (hl->depth > 0 ? hl->depth : 1);
    out->windows_seen = seen;
    return 0;
}

/* Digests window w of a service and records it. Returns 0, or -1 on a functional failure (message printed). */
static int digest_window(const char *svc, miner *m, history *h, int w, int64_t start_ms, const prompt_line *lines,
                         size_t n, const digest_opts *o, digest *d, double *seconds)
{
    hist_lookup hl;
    double err_avg;
    history_span(h, w, o->history_windows, &hl, &err_avg);
    digest_input in = {.service = svc,
                       .start_ms = start_ms,
                       .end_ms = start_ms + WINDOW_MS,
                       .lines = lines,
                       .n_lines = n,
                       .total_lines = n,
                       .m = m,
                       .history = history_of,
                       .history_arg = &hl,
                       .trailing_error_avg = err_avg,
                       .history_depth = hl.depth};
    double t0 = now_s();
    int rc = digest_build(&in, o, d);
    if (seconds)
        *seconds = now_s() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench_digest: %s window %d: digest_build failed\n", svc, w);
        return -1;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < d->n_templates; i++)
        sum += d->templates[i].count;
    if (sum != n || !d->text || !*d->text) {
        fprintf(stderr, "bench_digest: %s window %d: the digest accounts for %llu of %zu lines%s\n", svc, w,
                (unsigned long long)sum, n, d->text && *d->text ? "" : ", and its text is empty");
        return -1;
    }
    history_record(h, w, d);
    return 0;
}

static size_t prompt_bytes(const prompt *p)
{
    return strlen(p->system) + strlen(p->user);
}

static size_t tokens_of(size_t bytes)
{
    return (bytes + BYTES_PER_TOKEN - 1) / BYTES_PER_TOKEN;
}

/* ---- part 2: one busy window ---------------------------------------------------- */

typedef struct busy {
    prompt_line *warm[WARM_WINDOWS];
    size_t warm_n[WARM_WINDOWS];
    prompt_line *lines;
    size_t n;
    size_t bytes;
} busy;

static void busy_generate(busy *b, const service *v, size_t n, int64_t base_ms)
{
    for (int w = 0; w < WARM_WINDOWS; w++) {
        b->warm_n[w] = WARM_LINES;
        b->warm[w] = xmalloc(WARM_LINES * sizeof *b->warm[w]);
        for (size_t i = 0; i < WARM_LINES; i++)
            b->warm[w][i] = make_line(v, zipf_template(v), base_ms + (int64_t)w * WINDOW_MS +
                                                                   (int64_t)((double)i * WINDOW_MS / WARM_LINES));
    }
    /* the busy window: the usual mix at 50x the usual rate, an existing error at
     * 3% of the lines, a never-seen error at 0.5%, and a few one-offs */
    int64_t start = base_ms + (int64_t)WARM_WINDOWS * WINDOW_MS;
    b->n = n;
    b->lines = xmalloc(n * sizeof *b->lines);
    b->bytes = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t ts = start + (int64_t)((double)i * WINDOW_MS / (double)n);
        double r = rnd_unit();
        int k = r < 0.03 ? v->n_regular - 1 : r < 0.035 ? v->n_regular : zipf_template(v);
        b->lines[i] = make_line(v, k, ts);
    }
    static const char *const oneoff[] = {
        "GET /api/v1/gateway/..%2F..%2F..%2F..%2Fetc%2Fpasswd HTTP/1.1 200 1843 bytes in 3 ms",
        "GET /api/v1/gateway/1%27%20OR%20%271%27%3D%271 HTTP/1.1 200 77 bytes in 2 ms",
        "java.lang.OutOfMemoryError: Java heap space\n\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)\n"
        "\tat com.example.gateway.Buffer.grow(Buffer.java:61)",
    };
    for (size_t i = 0; i < COUNT(oneoff) && n > 10; i++) {
        size_t at = n / 4 * (i + 1);
        b->lines[at].message = arena_copy(oneoff[i], strlen(oneoff[i]));
        b->lines[at].level = i == 2 ? "error" : "info";
    }
    for (size_t i = 0; i < n; i++)
        b->bytes += strlen(b->lines[i].message);
}

/* A miner and history that have seen the WARM_WINDOWS ordinary windows, each digested and recorded. */
static int busy_warm(const busy *b, const char *svc, int64_t base_ms, const digest_opts *o, miner **m, history *h)
{
    if (!(*m = miner_new(NULL)))
        oom();
    history_init(h, WARM_WINDOWS + 1);
    for (int w = 0; w < WARM_WINDOWS; w++) {
        digest d;
        if (digest_window(svc, *m, h, w, base_ms + (int64_t)w * WINDOW_MS, b->warm[w], b->warm_n[w], o, &d, NULL))
            return -1;
        digest_free(&d);
    }
    return 0;
}

static volatile uint64_t sink;

/* The limit: each line's length and FNV-1a 64 hash. */
static double limit_pass(const prompt_line *l, size_t n)
{
    double t0 = now_s();
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = l[i].message;
        size_t len = strlen(p);
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (size_t k = 0; k < len; k++)
            h = (h ^ (unsigned char)p[k]) * UINT64_C(0x100000001b3);
        acc += h + len;
    }
    double dt = now_s() - t0;
    sink = acc;
    return dt;
}

/* ---- main ----------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (!strcmp(a, "--lines") && i + 1 < argc) {
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v < 1000 || v > 50000000ULL) {
                fprintf(stderr, "bench_digest: --lines: \"%s\" is not in 1000..50000000\n", argv[i]);
                return -1;
            }
            o->lines = (size_t)v;
        } else if (!strcmp(a, "--hours") && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 48) {
                fprintf(stderr, "bench_digest: --hours: \"%s\" is not in 1..48\n", argv[i]);
                return -1;
            }
            o->hours = (int)v;
        } else if (!strcmp(a, "--window-lines") && i + 1 < argc) {
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v < 100 || v > 10000000ULL) {
                fprintf(stderr, "bench_digest: --window-lines: \"%s\" is not in 100..10000000\n", argv[i]);
                return -1;
            }
            o->window_lines = (size_t)v;
        } else if (!strcmp(a, "--repeat") && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 100) {
                fprintf(stderr, "bench_digest: --repeat: \"%s\" is not in 1..100\n", argv[i]);
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
            fprintf(stderr, "bench_digest: unknown argument \"%s\"\n", a);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o = {.lines = 500000, .hours = 4, .window_lines = 100000, .repeat = 5};
    if (parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    int64_t base_ms;
    if (time_parse_rfc3339("2026-11-24T06:00:00Z", 20, 0, &base_ms, NULL) != 0)
        return 1;

    service sv[NSERVICES];
    services_setup(sv);
    logset ls;
    double t_gen = now_s();
    generate_log(&ls, sv, o.lines, o.hours, base_ms);
    t_gen = now_s() - t_gen;

    char rerr[256];
    redactor *red = redactor_new(NULL, rerr, sizeof rerr);
    if (!red) {
        fprintf(stderr, "bench_digest: redactor_new: %s\n", rerr);
        return 1;
    }
    digest_opts dopt;
    digest_opts_defaults(&dopt);
    dopt.redact = red;

    /* ---- part 1: model cost over the whole log ---- */
    size_t service_windows = 0, quiet = 0;
    size_t seed_calls = 0, seed_bytes = 0, seed_tokens = 0;
    size_t dig_calls = 0, dig_bytes = 0, dig_tokens = 0, busy_calls = 0, busy_tokens = 0, sys_bytes = 0;
    size_t dig_text_bytes = 0, max_text_tokens = 0, max_prompt_tokens = 0, max_est_tokens = 0;
    size_t max_window_lines = 0, min_window_lines = SIZE_MAX, total_templates = 0;
    double dig_seconds = 0;
    int failed = 0;
    for (int s = 0; s < NSERVICES && !failed; s++) {
        miner *m = miner_new(NULL);
        if (!m)
            oom();
        history h;
        history_init(&h, ls.windows);
        for (int w = 0; w < ls.windows && !failed; w++) {
            size_t b = (size_t)s * (size_t)ls.windows + (size_t)w;
            const prompt_line *lines = ls.cut + ls.off[b];
            size_t n = ls.off[b + 1] - ls.off[b];
            if (!n)
                continue; /* no lines, no window */
            service_windows++;
            max_window_lines = n > max_window_lines ? n : max_window_lines;
            min_window_lines = n < min_window_lines ? n : min_window_lines;
            int64_t start = base_ms + (int64_t)w * WINDOW_MS;

            /* the seed's way */
            for (size_t at = 0; at < n; at += SEED_LINES_PER_CALL) {
                size_t k = n - at < SEED_LINES_PER_CALL ? n - at : SEED_LINES_PER_CALL;
                prompt_input pi = {.service = sv[s].name, .start_ms = start, .end_ms = start + WINDOW_MS,
                                   .lines = lines + at, .n_lines = k, .total_lines = k, .max_bytes = 0};
                prompt p;
                if (prompt_build(&pi, &p) != 0 || p.lines_included != k) {
                    fprintf(stderr, "bench_digest: %s window %d: seed prompt %s\n", sv[s].name, w,
                            "failed or left lines out");
                    failed = 1;
                    break;
                }
                size_t pb = prompt_bytes(&p);
                seed_calls++;
                seed_bytes += pb;
                seed_tokens += tokens_of(pb);
                prompt_free(&p);
            }

            /* the digest's way */
            digest d;
            double dt;
            if (digest_window(sv[s].name, m, &h, w, start, lines, n, &dopt, &d, &dt)) {
                failed = 1;
                break;
            }
            dig_seconds += dt;
            prompt_input pi = {.service = sv[s].name, .start_ms = start, .end_ms = start + WINDOW_MS, .lines = lines,
                               .n_lines = n, .total_lines = n, .max_bytes = PROMPT_MAX_BYTES, .digest = d.text};
            prompt p;
            if (prompt_build(&pi, &p) != 0) {
                fprintf(stderr, "bench_digest: %s window %d: prompt_build with the digest failed\n", sv[s].name, w);
                digest_free(&d);
                failed = 1;
                break;
            }
            size_t pb = prompt_bytes(&p), tl = strlen(d.text);
            dig_calls++;
            dig_bytes += pb;
            dig_tokens += tokens_of(pb);
            dig_text_bytes += tl;
            max_text_tokens = tokens_of(tl) > max_text_tokens ? tokens_of(tl) : max_text_tokens;
            max_prompt_tokens = tokens_of(pb) > max_prompt_tokens ? tokens_of(pb) : max_prompt_tokens;
            max_est_tokens = d.est_tokens > max_est_tokens ? d.est_tokens : max_est_tokens;
            total_templates += d.n_templates;
            quiet += (size_t)d.quiet;
            if (!d.quiet) {
                busy_calls++;
                busy_tokens += tokens_of(pb);
            }
            sys_bytes = strlen(p.system);
            prompt_free(&p);
            digest_free(&d);
        }
        history_free(&h);
        miner_free(m);
    }
    if (failed) {
        printf("{\"bench\":\"digest\",\"error\":\"functional failure in part 1\"}\n");
        return 1;
    }
    double token_ratio = dig_tokens ? (double)seed_tokens / (double)dig_tokens : 0;
    double calls_per_sw = service_windows ? (double)dig_calls / (double)service_windows : 0;
    double seed_calls_per_sw = service_windows ? (double)seed_calls / (double)service_windows : 0;
    double mean_text_tokens = dig_calls ? (double)tokens_of(dig_text_bytes) / (double)dig_calls : 0;
    double mean_prompt_tokens = dig_calls ? (double)dig_tokens / (double)dig_calls : 0;
    double skip_ratio = busy_tokens ? (double)seed_tokens / (double)busy_tokens : 0;
    double seed_line_bytes = ls.n ? (double)(seed_bytes - seed_calls * sys_bytes) / (double)ls.n : 0;

    /* ---- part 2: one busy window ---- */
    busy bw;
    busy_generate(&bw, &sv[0], o.window_lines, base_ms);
    double *t_dig = xcalloc((size_t)o.repeat, sizeof *t_dig), *t_lim = xcalloc((size_t)o.repeat, sizeof *t_lim),
           *t_min = xcalloc((size_t)o.repeat, sizeof *t_min);
    size_t busy_templates = 0, busy_est_tokens = 0, busy_new = 0;
    int64_t busy_start = base_ms + (int64_t)WARM_WINDOWS * WINDOW_MS;
    for (int r = 0; r < o.repeat && !failed; r++) {
        miner *m;
        history h;
        if (busy_warm(&bw, sv[0].name, base_ms, &dopt, &m, &h)) {
            failed = 1;
            break;
        }
        digest d;
        if (digest_window(sv[0].name, m, &h, WARM_WINDOWS, busy_start, bw.lines, bw.n, &dopt, &d, &t_dig[r])) {
            failed = 1;
        } else {
            busy_templates = d.n_templates;
            busy_est_tokens = d.est_tokens;
            busy_new = d.n_new;
            digest_free(&d);
        }
        history_free(&h);
        miner_free(m);
        if (failed)
            break;

        t_lim[r] = limit_pass(bw.lines, bw.n);

        /* the miner's share: the same adds digest_build() makes, on an identically warmed miner */
        if (busy_warm(&bw, sv[0].name, base_ms, &dopt, &m, &h)) {
            failed = 1;
            break;
        }
        miner_param params[MAX_PARAMS];
        uint64_t acc = 0;
        double t0 = now_s();
        for (size_t i = 0; i < bw.n; i++) {
            const char *msg = bw.lines[i].message;
            const char *nl = strchr(msg, '\n');
            size_t np;
            int64_t id = miner_add(m, msg, nl ? (size_t)(nl - msg) : strlen(msg), NULL, params, MAX_PARAMS, &np);
            if (id < 0)
                oom();
            acc += (uint64_t)id + np;
        }
        t_min[r] = now_s() - t0;
        sink = acc;
        history_free(&h);
        miner_free(m);
    }
    if (failed) {
        printf("{\"bench\":\"digest\",\"error\":\"functional failure in part 2\"}\n");
        return 1;
    }
    double dig_min_ms = t_dig[0], dig_max_ms = t_dig[0];
    for (int r = 1; r < o.repeat; r++) {
        dig_min_ms = t_dig[r] < dig_min_ms ? t_dig[r] : dig_min_ms;
        dig_max_ms = t_dig[r] > dig_max_ms ? t_dig[r] : dig_max_ms;
    }
    dig_min_ms *= 1e3;
    dig_max_ms *= 1e3;
    double min_min_ms = t_min[0];
    for (int r = 1; r < o.repeat; r++)
        min_min_ms = t_min[r] < min_min_ms ? t_min[r] : min_min_ms;
    min_min_ms *= 1e3;
    double dig_ms = median(t_dig, o.repeat) * 1e3, lim_ms = median(t_lim, o.repeat) * 1e3,
           min_ms = median(t_min, o.repeat) * 1e3;
    double lat_ratio = lim_ms > 0 ? dig_ms / lim_ms : 0;
    /* from the fastest runs: the medians of two separate passes can cross on a busy machine */
    double miner_share = dig_min_ms > 0 ? min_min_ms / dig_min_ms : 0;
    int met_tokens = token_ratio >= TARGET_TOKEN_RATIO, met_calls = calls_per_sw <= TARGET_CALLS_PER_WINDOW,
        met_ms = dig_ms < TARGET_DIGEST_MS;

    if (!o.json_only) {
        char f1[48], l1[48], f2[48], l2[48], f3[48], l3[48], b3[48];
        snprintf(f1, sizeof f1, "%zu tokens", dig_tokens);
        snprintf(l1, sizeof l1, "seed %zu tokens", seed_tokens);
        snprintf(f2, sizeof f2, "%.2f calls/sw", calls_per_sw);
        snprintf(l2, sizeof l2, "seed %.2f calls/sw", seed_calls_per_sw);
        snprintf(f3, sizeof f3, "%.1f ms", dig_ms);
        snprintf(l3, sizeof l3, "len+FNV %.2f ms", lim_ms);
        snprintf(b3, sizeof b3, "digest %zu lines", bw.n);
        printf("%-24s %-19s %-24s %-9s %-10s %s\n", "benchmark", "figure", "comparison (same run)", "ratio", "target",
               "met");
        printf("%-24s %-19s %-24s %-9s %-10s %s\n", "prompt tokens, digest", f1, l1, "", "", "");
        printf("%-24s %-19s %-24s %-9.1f %-10s %s\n", "  seed / digest", "", "", token_ratio, ">= 20x",
               met_tokens ? "yes" : "no");
        char f4[48];
        snprintf(f4, sizeof f4, "%zu tokens", busy_tokens);
        printf("%-24s %-19s %-24s %-9.1f %-10s %s\n", "  skipping quiet (dflt)", f4, "", skip_ratio, "(info)", "");
        printf("%-24s %-19s %-24s %-9.2f %-10s %s\n", "model calls, digest", f2, l2,
               dig_calls ? (double)seed_calls / (double)dig_calls : 0, "<= 1/sw", met_calls ? "yes" : "no");
        printf("%-24s %-19s %-24s %-9.0f %-10s %s\n", b3, f3, l3, lat_ratio, "< 200 ms", met_ms ? "yes" : "no");
        printf("\n");
        printf("log: %zu lines (%.1f MiB of messages, %.0f bytes per line), %d services, %d h, generated in %.2f s;"
               " %zu service-windows of 5 min (%zu to %zu lines)\n",
               ls.n, (double)ls.bytes / 1048576.0, (double)ls.bytes / (double)ls.n, NSERVICES, o.hours, t_gen,
               service_windows, min_window_lines, max_window_lines);
        printf("model calls: seed %zu (one per %d raw lines), digest %zu (one per service-window; %zu of them quiet,"
               " which the server skips by default: %zu calls then)\n",
               seed_calls, SEED_LINES_PER_CALL, dig_calls, quiet, dig_calls - quiet);
        printf("prompt tokens (system + user bytes / %d): seed %zu (%.1f MiB), digest %zu (%.1f MiB); ratio %.1f;"
               " the system prompt, in every call of both ways, is %zu bytes (~%zu tokens); a raw line costs the"
               " seed %.0f bytes of user message\n",
               BYTES_PER_TOKEN, seed_tokens, (double)seed_bytes / 1048576.0, dig_tokens,
               (double)dig_bytes / 1048576.0, token_ratio, sys_bytes, tokens_of(sys_bytes), seed_line_bytes);
        printf("skipping quiet windows (analysis.skip_quiet_windows, on by default): %zu calls, %zu tokens;"
               " ratio %.1f\n",
               busy_calls, busy_tokens, skip_ratio);
        printf("per service-window, digest: mean %.0f tokens of digest text (max %zu), mean %.0f of whole prompt"
               " (max %zu); digest's own estimate (bytes/3) max %zu against its budget %zu\n",
               mean_text_tokens, max_text_tokens, mean_prompt_tokens, max_prompt_tokens, max_est_tokens,
               dopt.token_budget);
        printf("digest_build over the whole log: %.2f s (%.0f lines/s), %.1f templates per window on average\n",
               dig_seconds, dig_seconds > 0 ? (double)ls.n / dig_seconds : 0,
               dig_calls ? (double)total_templates / (double)dig_calls : 0);
        printf("busy window: %zu lines of %s (%.0f bytes per line) after %d windows of %d lines of history;"
               " %zu templates (%zu new), digest ~%zu tokens\n",
               bw.n, sv[0].name, (double)bw.bytes / (double)bw.n, WARM_WINDOWS, WARM_LINES, busy_templates,
               busy_new, busy_est_tokens);
        printf("busy window, median of %d runs: digest_build %.1f ms, miner_add alone %.1f ms, len+FNV pass %.2f ms;"
               " fastest: digest_build %.1f ms, of which miner_add %.1f ms (%.0f%%); slowest digest_build %.1f ms\n\n",
               o.repeat, dig_ms, min_ms, lim_ms, dig_min_ms, min_min_ms, miner_share * 100, dig_max_ms);
    }
    printf("{\"bench\":\"digest\",\"lines\":%zu,\"services\":%d,\"hours\":%d,\"service_windows\":%zu,"
           "\"seed_calls\":%zu,\"digest_calls\":%zu,\"quiet_windows\":%zu,\"calls_skipping_quiet\":%zu,\"tokens_skipping_quiet\":%zu,"
           "\"token_ratio_skipping_quiet\":%.2f,\"system_prompt_bytes\":%zu,\"calls_per_service_window\":%.3f,"
           "\"seed_prompt_tokens\":%zu,\"digest_prompt_tokens\":%zu,\"seed_prompt_bytes\":%zu,"
           "\"digest_prompt_bytes\":%zu,\"token_ratio\":%.2f,\"target_token_ratio\":%.0f,"
           "\"mean_digest_tokens\":%.0f,\"max_digest_tokens\":%zu,\"mean_digest_prompt_tokens\":%.0f,"
           "\"max_digest_prompt_tokens\":%zu,\"digest_log_s\":%.3f,"
           "\"window_lines\":%zu,\"repeat\":%d,\"digest_ms\":%.2f,\"digest_min_ms\":%.2f,\"digest_max_ms\":%.2f,\"limit_ms\":%.3f,\"latency_ratio\":%.1f,"
           "\"miner_ms\":%.2f,\"miner_min_ms\":%.2f,\"miner_share\":%.3f,\"target_digest_ms\":%.0f,"
           "\"met_tokens\":%s,\"met_calls\":%s,\"met_latency\":%s}\n",
           ls.n, NSERVICES, o.hours, service_windows, seed_calls, dig_calls, quiet, busy_calls, busy_tokens, skip_ratio,
           sys_bytes, calls_per_sw, seed_tokens,
           dig_tokens, seed_bytes, dig_bytes, token_ratio, TARGET_TOKEN_RATIO, mean_text_tokens, max_text_tokens,
           mean_prompt_tokens, max_prompt_tokens, dig_seconds, bw.n, o.repeat, dig_ms, dig_min_ms, dig_max_ms, lim_ms, lat_ratio, min_ms,
           min_min_ms, miner_share, TARGET_DIGEST_MS, met_tokens ? "true" : "false", met_calls ? "true" : "false",
           met_ms ? "true" : "false");
    fflush(stdout);

    for (int w = 0; w < WARM_WINDOWS; w++)
        free(bw.warm[w]);
    free(bw.lines);
    free(t_dig);
    free(t_lim);
    free(t_min);
    free(ls.g);
    free(ls.cut);
    free(ls.off);
    redactor_free(red);
    arena_free();
    return 0;
}
