/*
 * scale.c — bench_scale: does the real server's memory and analysis speed
 * stay flat as the number of services and the size of a window grow?
 *
 * Two series, each point on its own fresh SQLite database and two runs of the
 * real `anomalog serve` binary on loopback (no model: --llm-url none, so the
 * baseline analyses each window; otherwise default settings, grace 1h so
 * nothing closes on its own):
 *  1. Services (--services, default 1000,10000,20000; --full adds 100000):
 *     N services with --lines-per-service (10) lines each in one five-minute
 *     window, from a handful of templates; the first server ingests them
 *     (NDJSON, 5,000 lines a POST) and stops; a second one starts on that
 *     database, POST /windows/flush closes the N windows, and the bench polls
 *     /metrics until every one is analysed (or failed). Figures: the second
 *     server's peak RSS (VmHWM: start-up, flush and analysis) and windows
 *     analysed per second, flush to last.
 *  2. One window of L lines (--lines, default 10000,100000,1000000), uniform
 *     (20 templates with varying numbers) and with a quarter distinct (every
 *     fourth line a message of its own, which no template joins); the same
 *     two-server run; figure: the second server's peak RSS.
 * Flatness, printed as ratios against the smallest point of the same run:
 * peak RSS per service beyond the smallest run's, the windows/s of the
 * largest run over the smallest's, and the 1M-line window's peak RSS.
 *
 * It prints figures and one JSON line; it asserts nothing: the exit status is
 * 1 when the server could not be run or a window was never analysed, 2 on a
 * bad command line, else 0.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define BATCH_LINES 5000
#define T0_S 1795514400LL /* 2026-11-24T10:00:00Z: a window long closed */
#define MAX_POINTS 8

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void buf_put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1 << 16;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            fprintf(stderr, "%s: out of memory\n", bench_name);
            exit(1);
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    buf_put(ud, p, size * n);
    return size * n;
}

/* One request; the answer's body in out (may be NULL). Returns the status, 0 when none came. */
static long request(CURL *h, int port, const char *method, const char *path, const char *body, size_t len,
                    buf *out)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    buf sink = {0};
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out ? out : &sink);
    struct curl_slist *hd = NULL;
    if (body) {
        hd = curl_slist_append(hd, "Content-Type: application/x-ndjson");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    free(sink.p);
    return status;
}

/* A message no template joins: two words of letters spelled from k (the miner masks digits, not letters). */
static void distinct_words(char *out, size_t cap, uint64_t k)
{
    char w[2][16];
    uint64_t v[2] = {k, k * 2654435761u + 97};
    for (int j = 0; j < 2; j++) {
        size_t i = 0;
        do {
            w[j][i++] = (char)('a' + v[j] % 26);
            v[j] /= 26;
        } while (v[j] && i < 12);
        w[j][i] = '\0';
    }
    snprintf(out, cap, "q%s z%s", w[0], w[1]);
}

/* Line i of a service's window: one of 20 templates with varying numbers, or (distinct) a message of its own. */
static void line_of(char *out, size_t cap, uint64_t i, int distinct)
{
    if (distinct) {
        distinct_words(out, cap, i);
        return;
    }
    static const char *const what[] = {"request", "order", "login", "cache", "heartbeat", "job", "queue",
                                       "pool", "retry", "gc", "session", "reload", "disk", "payment", "email",
                                       "thumbnail", "search", "export", "lease", "shard"};
    static const char *const how[] = {"served", "stored", "accepted", "refreshed", "sent", "finished", "drained",
                                      "resized", "scheduled", "paused", "expired", "applied", "checked", "authorised",
                                      "queued", "rendered", "returned", "written", "renewed", "answered"};
    unsigned a = (unsigned)(i * 2654435761u % 100000), b = (unsigned)(i % 997);
    snprintf(out, cap, "%s %u %s in %ums", what[i % 20], a, how[i % 20], b);
}

/* POSTs the lines of `services` services, `per` lines each (service s: "svc-<s>"), or of one service
 * "big" with `per` lines (services == 0), every fourth distinct when quarter. Returns 0, or -1. */
static int ingest(int port, uint64_t services, uint64_t per, int quarter)
{
    CURL *h = curl_easy_init();
    buf b = {0};
    char msg[160], row[320];
    uint64_t total = services ? services * per : per, sent = 0;
    int rc = 0;
    for (uint64_t k = 0; k < total && !rc; k++) {
        uint64_t s = services ? k / per : 0, i = services ? k % per : k;
        line_of(msg, sizeof msg, services ? i + s * 7 : i, quarter && i % 4 == 3);
        char svc[32];
        if (services)
            snprintf(svc, sizeof svc, "svc-%06" PRIu64, s);
        else
            snprintf(svc, sizeof svc, "big");
        /* spread over the window's five minutes, in order */
        double ts = (double)T0_S + 299.0 * (double)i / (double)(per ? per : 1);
        int n = snprintf(row, sizeof row, "{\"ts\":%.3f,\"service\":\"%s\",\"level\":\"%s\",\"message\":\"%s\"}\n",
                         ts, svc, i % 50 == 7 ? "warn" : "info", msg);
        buf_put(&b, row, (size_t)n);
        if ((k + 1) % BATCH_LINES == 0 || k + 1 == total) {
            long st = request(h, port, "POST", "/ingest", b.p, b.len, NULL);
            if (st != 202) {
                fprintf(stderr, "%s: POST /ingest answered %ld\n", bench_name, st);
                rc = -1;
            }
            sent += (k + 1) % BATCH_LINES ? (k + 1) % BATCH_LINES : BATCH_LINES;
            b.len = 0;
        }
    }
    free(b.p);
    curl_easy_cleanup(h);
    return rc;
}

/* anomalog_windows{status="<status>"} from a /metrics text; -1 when absent. */
static long metric_windows(const char *text, const char *status)
{
    char key[96];
    snprintf(key, sizeof key, "anomalog_windows{status=\"%s\"} ", status);
    const char *p = text ? strstr(text, key) : NULL;
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

typedef struct point {
    uint64_t services, lines;
    int quarter;
    long windows;
    double peak_rss_mib, analyse_s, windows_per_s;
    int ok;
} point;

/* One point: ingest with one server, analyse with another on the same database. */
static int run_point(const char *bin, const char *dir, point *pt)
{
    char db[1024], log1[1100], log2[1100], err[512];
    snprintf(db, sizeof db, "%s/scale-%" PRIu64 "-%" PRIu64 "-%d.db", dir, pt->services, pt->lines, pt->quarter);
    snprintf(log1, sizeof log1, "%s.ingest.log", db);
    snprintf(log2, sizeof log2, "%s.analyse.log", db);
    const char *extra[] = {"--llm-url", "none", "--grace", "1h", NULL};
    server s;
    stop_result sr;
    long want = pt->services ? (long)pt->services : 1;
    if (server_start(&s, bin, db, log1, extra, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", bench_name, err);
        server_stop(&s, &sr);
        return -1;
    }
    double t0 = now_s();
    int rc = ingest(s.port, pt->services, pt->services ? pt->lines : pt->lines, pt->quarter);
    progress("%" PRIu64 " services x %" PRIu64 " lines%s: ingested in %.1f s", pt->services ? pt->services : 1,
             pt->lines, pt->quarter ? " (a quarter distinct)" : "", now_s() - t0);
    server_stop(&s, &sr);
    if (rc)
        return -1;

    if (server_start(&s, bin, db, log2, extra, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", bench_name, err);
        server_stop(&s, &sr);
        return -1;
    }
    CURL *h = curl_easy_init();
    t0 = now_s();
    long st = request(h, s.port, "POST", "/windows/flush", "", 0, NULL);
    long done = 0;
    double deadline = t0 + 1800;
    while (st == 200 && now_s() < deadline) {
        buf m = {0};
        if (request(h, s.port, "GET", "/metrics", NULL, 0, &m) == 200) {
            long a = metric_windows(m.p, "analyzed"), f = metric_windows(m.p, "failed");
            done = (a > 0 ? a : 0) + (f > 0 ? f : 0);
        }
        free(m.p);
        if (done >= want)
            break;
        usleep(100 * 1000);
    }
    pt->analyse_s = now_s() - t0;
    pt->windows = done;
    pt->windows_per_s = pt->analyse_s > 0 ? (double)done / pt->analyse_s : 0;
    sampler_stop(&s);
    long hwm = proc_status_kb(s.pid, "VmHWM");
    pt->peak_rss_mib = hwm > 0 ? (double)hwm / 1024.0 : -1;
    curl_easy_cleanup(h);
    server_stop(&s, &sr);
    pt->ok = st == 200 && done >= want;
    if (!pt->ok)
        fprintf(stderr, "%s: flush answered %ld; %ld of %ld windows analysed (see %s)\n", bench_name, st, done, want,
                log2);
    unlink(db);
    char side[1100];
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
    snprintf(side, sizeof side, "%s.journal", db);
    unlink(side);
    return pt->ok ? 0 : -1;
}

/* "1000,10000" into v (at most MAX_POINTS); returns the count, or -1. */
static int parse_list(const char *s, uint64_t *v)
{
    int n = 0;
    while (*s && n < MAX_POINTS) {
        char *end;
        unsigned long long x = strtoull(s, &end, 10);
        if (end == s || !x)
            return -1;
        v[n++] = x;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

int main(int argc, char **argv)
{
    bench_name = "bench_scale";
    uint64_t services[MAX_POINTS] = {1000, 10000, 20000}, lines[MAX_POINTS] = {10000, 100000, 1000000};
    int ns = 3, nl = 3;
    uint64_t per = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--services") && i + 1 < argc)
            ns = parse_list(argv[++i], services);
        else if (!strcmp(argv[i], "--lines") && i + 1 < argc)
            nl = parse_list(argv[++i], lines);
        else if (!strcmp(argv[i], "--lines-per-service") && i + 1 < argc)
            per = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--full") && ns < MAX_POINTS)
            services[ns++] = 100000;
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
            i++; /* run-all.sh passes its arguments to every benchmark: this one has no duration */
        else {
            fprintf(stderr, "usage: bench_scale [--services N,N,...] [--full] [--lines N,N,...] "
                            "[--lines-per-service N]\n");
            return 2;
        }
    }
    if (ns < 1 || nl < 1 || !per) {
        fprintf(stderr, "%s: bad --services, --lines or --lines-per-service\n", bench_name);
        return 2;
    }
    char binbuf[1024], dir[] = "/tmp/anomalog-bench-scale-XXXXXX";
    const char *bin = default_bin(binbuf, sizeof binbuf);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "%s: mkdtemp: %s\n", bench_name, strerror(errno));
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    point sp[MAX_POINTS] = {0}, wp[2 * MAX_POINTS] = {0};
    int failed = 0;
    for (int i = 0; i < ns; i++) {
        sp[i] = (point){.services = services[i], .lines = per};
        failed |= run_point(bin, dir, &sp[i]) != 0;
        progress("%" PRIu64 " services: peak RSS %.0f MiB, %.0f windows/s", sp[i].services, sp[i].peak_rss_mib,
                 sp[i].windows_per_s);
    }
    for (int i = 0; i < nl; i++) {
        for (int q = 0; q < 2; q++) {
            point *p = &wp[2 * i + q];
            *p = (point){.services = 0, .lines = lines[i], .quarter = q};
            failed |= run_point(bin, dir, p) != 0;
            progress("window of %" PRIu64 " lines%s: peak RSS %.0f MiB", p->lines, q ? " (a quarter distinct)" : "",
                     p->peak_rss_mib);
        }
    }
    rmdir(dir);

    printf("\nbench_scale: the real server, no model (baseline analysis), default settings\n\n");
    printf("%-10s %-8s %14s %12s %18s\n", "services", "windows", "peak RSS MiB", "windows/s", "KiB per service*");
    for (int i = 0; i < ns; i++)
        printf("%-10" PRIu64 " %-8ld %14.1f %12.0f %18.1f\n", sp[i].services, sp[i].windows, sp[i].peak_rss_mib,
               sp[i].windows_per_s,
               i ? (sp[i].peak_rss_mib - sp[0].peak_rss_mib) * 1024.0 / (double)(sp[i].services - sp[0].services) : 0.0);
    printf("* peak RSS beyond the smallest run's, per additional service\n\n");
    printf("%-10s %-16s %14s\n", "lines", "window", "peak RSS MiB");
    for (int i = 0; i < 2 * nl; i++)
        printf("%-10" PRIu64 " %-16s %14.1f\n", wp[i].lines, wp[i].quarter ? "quarter distinct" : "uniform",
               wp[i].peak_rss_mib);
    double rate_ratio = sp[0].windows_per_s > 0 ? sp[ns - 1].windows_per_s / sp[0].windows_per_s : 0;
    double kib_per_service = ns > 1 ? (sp[ns - 1].peak_rss_mib - sp[0].peak_rss_mib) * 1024.0 /
                                          (double)(sp[ns - 1].services - sp[0].services)
                                    : 0;
    const point *big = &wp[2 * nl - 1];
    printf("\nflat in services: windows/s at %" PRIu64 " over at %" PRIu64 " = %.2f; %.1f KiB of peak RSS per "
           "added service\n", sp[ns - 1].services, sp[0].services, rate_ratio, kib_per_service);
    printf("largest window, %" PRIu64 " lines with a quarter distinct: peak RSS %.1f MiB (uniform %.1f MiB)\n",
           big->lines, big->peak_rss_mib, wp[2 * nl - 2].peak_rss_mib);

    printf("{\"services\":[");
    for (int i = 0; i < ns; i++)
        printf("%s{\"services\":%" PRIu64 ",\"windows\":%ld,\"peak_rss_mib\":%.1f,\"windows_per_s\":%.1f}",
               i ? "," : "", sp[i].services, sp[i].windows, sp[i].peak_rss_mib, sp[i].windows_per_s);
    printf("],\"windows\":[");
    for (int i = 0; i < 2 * nl; i++)
        printf("%s{\"lines\":%" PRIu64 ",\"quarter_distinct\":%s,\"peak_rss_mib\":%.1f}", i ? "," : "",
               wp[i].lines, wp[i].quarter ? "true" : "false", wp[i].peak_rss_mib);
    printf("],\"largest_services\":%" PRIu64 ",\"largest_services_peak_rss_mib\":%.1f,\"rate_ratio\":%.3f,"
           "\"kib_per_service\":%.2f,\"largest_window_lines\":%" PRIu64 ",\"largest_window_quarter_peak_rss_mib\":%.1f,"
           "\"failed\":%s}\n",
           sp[ns - 1].services, sp[ns - 1].peak_rss_mib, rate_ratio, kib_per_service, big->lines, big->peak_rss_mib,
           failed ? "true" : "false");
    curl_global_cleanup();
    return failed ? 1 : 0;
}
