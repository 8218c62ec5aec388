/*
 * common.c — what the benchmarks share: timing, percentiles, paths, and the
 * real `anomalog serve` process (started on 127.0.0.1:0 with its output drained
 * to a log file, its RSS sampled, stopped with SIGTERM). See common.h.
 */
#include "common.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *bench_name = "bench";

double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void sleep_until(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", bench_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

uint64_t rnd(void)
{
    uint64_t x = rng_state; /* xorshift64*: deterministic rows across runs */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* snprintf for paths: a path that does not fit is fatal, never silently cut. */
void pathf(char *buf, size_t cap, const char *a, const char *b)
{
    int n = snprintf(buf, cap, "%s%s", a, b);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "%s: path too long: %s%s\n", bench_name, a, b);
        exit(1);
    }
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "%s: out of memory\n", bench_name);
        exit(1);
    }
    return p;
}

int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)ceil(p * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}



/* Reads one line from fd into buf, waiting at most until deadline. 1 line, 0 EOF, -1 timeout/error. */
static int read_line(int fd, char *buf, size_t cap, double deadline)
{
    size_t n = 0;
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r == 0)
            return n ? 1 : 0;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (c == '\n') {
            buf[n] = '\0';
            return 1;
        }
        if (n + 1 < cap)
            buf[n++] = c;
    }
}

static void *drain_main(void *arg)
{
    server *s = arg;
    char buf[4096];
    char line[512];
    size_t ln = 0;
    ssize_t r;
    while ((r = read(s->err_fd, buf, sizeof buf)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        fwrite(buf, 1, (size_t)r, s->log);
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] == '\n') {
                line[ln] = '\0';
                atomic_fetch_add(&s->lines_after_ready, 1);
                pthread_mutex_lock(&s->mu);
                snprintf(s->last_line, sizeof s->last_line, "%.500s", line);
                pthread_mutex_unlock(&s->mu);
                ln = 0;
            } else if (ln + 1 < sizeof line) {
                line[ln++] = buf[i];
            }
        }
    }
    fflush(s->log);
    return NULL;
}

long proc_status_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

double load_average(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double v = -1;
    if (f) {
        if (fscanf(f, "%lf", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* after "(comm)": state is field 3; utime and stime are fields 14 and 15 */
    const char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void *sampler_main(void *arg)
{
    server *s = arg;
    while (!atomic_load(&s->sampler_stop)) {
        long kb = proc_status_kb(s->pid, "VmRSS");
        if (kb > atomic_load(&s->max_rss_kb))
            atomic_store(&s->max_rss_kb, kb);
        usleep(100 * 1000);
    }
    return NULL;
}

static size_t discard_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

int readyz(int port)
{
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/readyz", port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status == 200;
}

int server_start(server *s, const char *bin, const char *dbpath, const char *logpath, const char *const *extra,
                 char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    s->err_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    if (!(s->log = fopen(logpath, "w"))) {
        snprintf(err, errlen, "%.300s: %s", logpath, strerror(errno));
        return -1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC)) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    double t_exec = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
        if (getppid() != parent)
            _exit(127);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        char *argv[32] = {(char *)bin, "serve", "--listen", "127.0.0.1:0", "--db", (char *)dbpath, "--window", "5m"};
        for (int i = 0, k = 8; extra && extra[i] && k < 31; i++)
            argv[k++] = (char *)extra[i];
        execv(bin, argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    s->pid = pid;
    s->err_fd = fds[0];

    char line[1024];
    double deadline = now_s() + 20;
    for (;;) {
        int r = read_line(s->err_fd, line, sizeof line, deadline);
        if (r <= 0) {
            snprintf(err, errlen, "%.300s did not print \"listening on 127.0.0.1:PORT\" (%s)%s%.300s", bin,
                     r == 0 ? "it exited" : "timeout", s->last_line[0] ? ": " : "", s->last_line);
            return -1;
        }
        fprintf(s->log, "%s\n", line);
        snprintf(s->last_line, sizeof s->last_line, "%.500s", line);
        const char *p = strstr(line, "listening on 127.0.0.1:");
        if (p) {
            s->startup_s = now_s() - t_exec;
            s->port = atoi(p + strlen("listening on 127.0.0.1:"));
            break;
        }
    }
    if (s->port <= 0) {
        snprintf(err, errlen, "could not read the port from \"%.300s\"", line);
        return -1;
    }
    if (pthread_create(&s->drain, NULL, drain_main, s) == 0)
        s->drain_started = 1;
    if (pthread_create(&s->sampler, NULL, sampler_main, s) == 0)
        s->sampler_started = 1;

    deadline = now_s() + 20;
    while (!readyz(s->port)) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = -1;
            snprintf(err, errlen, "the server exited before /readyz answered 200");
            return -1;
        }
        if (now_s() > deadline) {
            snprintf(err, errlen, "GET /readyz did not answer 200 within 20 s");
            return -1;
        }
        usleep(50 * 1000);
    }
    return 0;
}


void sampler_stop(server *s)
{
    if (s->sampler_started) {
        atomic_store(&s->sampler_stop, 1);
        pthread_join(s->sampler, NULL);
        s->sampler_started = 0;
    }
}

void server_stop(server *s, stop_result *sr)
{
    memset(sr, 0, sizeof *sr);
    sampler_stop(s);
    if (s->pid > 0) {
        double t0 = now_s();
        kill(s->pid, SIGTERM);
        for (;;) {
            int st;
            pid_t r = waitpid(s->pid, &st, WNOHANG);
            if (r == s->pid) {
                sr->exited = 1;
                sr->status = st;
                break;
            }
            if (now_s() - t0 > 30) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, &st, 0);
                sr->status = st;
                break;
            }
            usleep(10 * 1000);
        }
        sr->seconds = now_s() - t0;
        s->pid = -1;
    }
    if (s->drain_started) {
        pthread_join(s->drain, NULL);
        s->drain_started = 0;
    }
    if (s->err_fd >= 0)
        close(s->err_fd);
    s->err_fd = -1;
    if (s->log)
        fclose(s->log);
    s->log = NULL;
}

const char *default_bin(char *buf, size_t cap)
{
    const char *env = getenv("ANOMALOG_BIN");
    if (env && *env && access(env, X_OK) == 0)
        return env;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            pathf(buf, cap, self, "/../anomalog");
            char real[PATH_MAX];
            if (realpath(buf, real) && access(real, X_OK) == 0) {
                pathf(buf, cap, real, "");
                return buf;
            }
        }
    }
    if (env && *env)
        return env; /* will fail with a clear message */
    return "./anomalog";
}
