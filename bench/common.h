/*
 * common.h — helpers every benchmark shares: monotonic time, nearest-rank
 * percentiles, a deterministic generator, fatal-on-failure allocation and
 * paths, and the real `anomalog serve` process under test.
 *
 * Messages go to stderr prefixed with bench_name, which each benchmark sets
 * first thing in main().
 */
#ifndef ANOMALOG_BENCH_COMMON_H
#define ANOMALOG_BENCH_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

extern const char *bench_name;   /* "bench_ingest", ...: prefixes every message */
extern uint64_t rng_state;       /* rnd()'s state; fixed start, so rows are the same every run */

double now_s(void);                             /* CLOCK_MONOTONIC, seconds */
void sleep_until(double t);                     /* until now_s() == t */
int64_t wall_ms(void);                          /* CLOCK_REALTIME, ms */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* one stderr line */
uint64_t rnd(void);                             /* xorshift64* */
unsigned rnd_below(unsigned n);
void pathf(char *buf, size_t cap, const char *a, const char *b);  /* a b into buf; too long: exit(1) */
void *xmalloc(size_t n);                        /* out of memory: exit(1) */
int cmp_double(const void *a, const void *b);   /* for qsort */
double pct(const double *v, size_t n, double p); /* nearest rank of sorted v; 0 when n == 0 */

/* $ANOMALOG_BIN, else ../anomalog beside this program, else ./anomalog. */
const char *default_bin(char *buf, size_t cap);
long proc_status_kb(pid_t pid, const char *key);  /* a kB field of /proc/PID/status; -1 if unreadable */
double proc_cpu_s(pid_t pid);                    /* CPU seconds (user + system) PID used so far; -1 if unreadable */
double load_average(void);                       /* the machine's 1-minute load average; -1 if unreadable */

/* The server under test: `BIN serve --listen 127.0.0.1:0 --db DB --window 5m`,
 * its stdout+stderr copied to a log file by a thread, its VmRSS sampled every 100 ms. */
typedef struct server {
    pid_t pid;
    int port;
    double startup_s;        /* exec to the "listening on" line */
    int err_fd;              /* read end of the server's stderr+stdout */
    FILE *log;               /* everything it printed */
    pthread_t drain;
    int drain_started;
    atomic_long lines_after_ready;
    char last_line[512];
    pthread_mutex_t mu;
    pthread_t sampler;
    int sampler_started;
    atomic_int sampler_stop;
    atomic_long max_rss_kb;
} server;

typedef struct stop_result {
    int exited;          /* 1: exited on its own after SIGTERM */
    int status;          /* wait status */
    double seconds;      /* SIGTERM to exit */
} stop_result;

/* Starts the server on dbpath, logging to logpath, with the arguments extra
 * (NULL-terminated, or NULL) after the usual ones, and waits for its port and
 * for GET /readyz to answer 200. 0, or -1 with err set (call server_stop then). */
int server_start(server *s, const char *bin, const char *dbpath, const char *logpath, const char *const *extra,
                 char *err, size_t errlen);
void sampler_stop(server *s);                   /* stops RSS sampling (before reading VmHWM) */
void server_stop(server *s, stop_result *sr);   /* SIGTERM, wait (SIGKILL after 30 s), join, close */

#endif
