/*
 * test_miner.c — the template miner: grouping accuracy on the loghub 2k
 * samples and on generated logs of other kinds (one floor per set: our own
 * figure less a margin), and its contract: stable ids, LRU eviction without
 * id reuse, params, bounds, restore, and `anomalog templates`.
 *
 * Grouping accuracy (GA) is as defined in "Tools and Benchmarks for Automated
 * Log Parsing" (Zhu et al., ICSE-SEIP 2019): a line is correctly grouped when
 * the set of lines in its predicted group equals the set of lines in its
 * ground-truth group; GA is the fraction of such lines.
 *
 * The data (tests/data/loghub/, with its LICENSE) is found next to this file
 * through __FILE__, or at $ANOMALOG_LOGHUB_DIR.
 *
 * Honest generalisation: the rules are measured on sets not used to write
 * them. The rules before issue #19 were tuned on HDFS, Spark, OpenSSH and
 * Proxifier with Hadoop, Zookeeper, Apache and HealthApp held out; for the
 * rules of issue #19 (event words, host names, written-out dates, optional
 * trailing fields) the rotation is reversed, and generated logs of other
 * kinds join: C (hypervisor events), D (web server: host names, dates in
 * words), E (optional trailing key=value fields) were tuned on; F (cloud
 * control plane and mail relay) was held out, first run after the rules were
 * frozen. SETS says which set is which and why OpenSSH moved (see there).
 * Each set's floor is our own measured figure less 0.01, so deleting a rule
 * fails the test (deleting host names and written-out dates: C 0.967, D
 * 0.389, F 0.887, each under its floor). Drain's published figure is printed
 * beside ours for reference only. The predicted group of a line is the
 * template that holds it at the end (miner_resolve()): a template merged into
 * another counts as it.
 *
 * Also: the miner compiled a second time with failing allocators (fault
 * injection), restore round trips on every sample, bounds, and the CLI.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "anomalog/miner.h"

/* ---- fault injection: the miner compiled a second time, its allocations
 * failing on demand (fi_fail_at counts calls from 0; -1 never fails) ---- */

static long fi_fail_at = -1, fi_calls;

static int fi_fail(void)
{
    return fi_fail_at >= 0 && fi_calls++ == fi_fail_at;
}
static void *fi_malloc(size_t n)
{
    return fi_fail() ? NULL : malloc(n);
}
static void *fi_calloc(size_t a, size_t b)
{
    return fi_fail() ? NULL : calloc(a, b);
}
static void *fi_realloc(void *p, size_t n)
{
    return fi_fail() ? NULL : realloc(p, n);
}

#define malloc fi_malloc
#define calloc fi_calloc
#define realloc fi_realloc
#define miner_opts_defaults fi_miner_opts_defaults
#define miner_new fi_miner_new
#define miner_free fi_miner_free
#define miner_add fi_miner_add
#define miner_template_text fi_miner_template_text
#define miner_template_count fi_miner_template_count
#define miner_size fi_miner_size
#define miner_foreach fi_miner_foreach
#define miner_restore fi_miner_restore
#define miner_resolve fi_miner_resolve
#define miner_reserve_ids fi_miner_reserve_ids
miner_opts fi_miner_opts_defaults(void);
miner *fi_miner_new(const miner_opts *o);
void fi_miner_free(miner *m);
int64_t fi_miner_add(miner *m, const char *msg, size_t len, int *is_new, miner_param *params, size_t max_params,
                     size_t *n_params);
const char *fi_miner_template_text(const miner *m, int64_t id);
uint64_t fi_miner_template_count(const miner *m, int64_t id);
size_t fi_miner_size(const miner *m);
void fi_miner_foreach(const miner *m, miner_each_fn fn, void *arg);
int fi_miner_restore(miner *m, int64_t id, const char *template_text, uint64_t count);
int64_t fi_miner_resolve(const miner *m, int64_t id);
void fi_miner_reserve_ids(miner *m, int64_t id);
/* every file of the miner, so that each of its allocations can be made to fail */
#include "analyze/miner.c"
#include "analyze/miner_mask.c"
#include "analyze/miner_tokens.c"
#include "analyze/miner_tree.c"
#undef malloc
#undef calloc
#undef realloc
#undef miner_opts_defaults
#undef miner_new
#undef miner_free
#undef miner_add
#undef miner_template_text
#undef miner_template_count
#undef miner_size
#undef miner_foreach
#undef miner_restore
#undef miner_resolve
#undef miner_reserve_ids

/* ---- CSV (RFC 4180) ---------------------------------------------------------- */

typedef struct dataset {
    char **content;
    char **event;
    size_t n;
} dataset;

static void dataset_free(dataset *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->content[i]);
        free(d->event[i]);
    }
    free(d->content);
    free(d->event);
    memset(d, 0, sizeof *d);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (cap - n < 65536) {
            char *nb = realloc(buf, cap + 65536 + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap += 65536;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Parses the field at *pos (quoted: "..." with "" for a quote, commas and
 * line breaks inside; or not), writing its bytes to out when out is not NULL.
 * Returns the field's length; *next is where the next field starts, *end is
 * ',' or '\n' or 0 (end of input) for what ended it. */
static size_t csv_scan(const char *b, size_t n, size_t pos, char *out, size_t *next, int *end)
{
    size_t i = pos, fl = 0;
    if (i < n && b[i] == '"') {
        for (i++; i < n; i++) {
            if (b[i] == '"') {
                if (i + 1 < n && b[i + 1] == '"') {
                    if (out)
                        out[fl] = '"';
                    fl++;
                    i++;
                } else {
                    i++;
                    break;
                }
            } else {
                if (out)
                    out[fl] = b[i];
                fl++;
            }
        }
    }
    while (i < n && b[i] != ',' && b[i] != '\n' && b[i] != '\r') {
        if (out)
            out[fl] = b[i];
        fl++;
        i++;
    }
    if (i < n && b[i] == ',') {
        *end = ',';
        i++;
    } else if (i < n) {
        *end = '\n';
        if (b[i] == '\r')
            i++;
        if (i < n && b[i] == '\n')
            i++;
    } else {
        *end = 0;
    }
    *next = i;
    return fl;
}

/* Reads one field at *pos into a malloc'd string of its own size. */
static char *csv_field(const char *b, size_t n, size_t *pos, int *end)
{
    size_t next;
    size_t len = csv_scan(b, n, *pos, NULL, &next, end);
    char *f = malloc(len + 1);
    if (!f)
        return NULL;
    csv_scan(b, n, *pos, f, &next, end);
    f[len] = '\0';
    *pos = next;
    return f;
}

/* Reads the Content and EventId columns of a loghub structured CSV. */
static int csv_read(const char *path, dataset *d)
{
    memset(d, 0, sizeof *d);
    size_t n;
    char *b = slurp(path, &n);
    if (!b)
        return -1;
    size_t pos = 0, cap = 0;
    int ci = -1, ei = -1, row = 0, rc = 0;
    while (pos < n && rc == 0) {
        int col = 0, end = ',';
        char *content = NULL, *event = NULL;
        while (end == ',') {
            char *f = csv_field(b, n, &pos, &end);
            if (!f) {
                rc = -1;
                break;
            }
            if (row == 0) {
                if (!strcmp(f, "Content"))
                    ci = col;
                else if (!strcmp(f, "EventId"))
                    ei = col;
                free(f);
            } else if (col == ci) {
                content = f;
            } else if (col == ei) {
                event = f;
            } else {
                free(f);
            }
            col++;
        }
        if (row == 0 && (ci < 0 || ei < 0))
            rc = -1;
        if (row > 0 && rc == 0) {
            if (!content || !event) {
                rc = -1;
            } else {
                if (d->n == cap) {
                    cap = cap ? cap * 2 : 2048;
                    char **nc = realloc(d->content, cap * sizeof *nc);
                    if (nc)
                        d->content = nc;
                    char **ne = realloc(d->event, cap * sizeof *ne);
                    if (ne)
                        d->event = ne;
                    if (!nc || !ne)
                        rc = -1;
                }
                if (rc == 0) {
                    d->content[d->n] = content;
                    d->event[d->n] = event;
                    d->n++;
                    content = event = NULL;
                }
            }
        }
        free(content);
        free(event);
        row++;
    }
    free(b);
    if (rc != 0)
        dataset_free(d);
    return rc;
}

/* ---- grouping accuracy -------------------------------------------------------- */

typedef struct ga_item {
    size_t line;
    int64_t pred;
    const char *truth;
    size_t truth_label;
} ga_item;

static int by_truth(const void *a, const void *b)
{
    return strcmp(((const ga_item *)a)->truth, ((const ga_item *)b)->truth);
}

static int by_pred(const void *a, const void *b)
{
    int64_t x = ((const ga_item *)a)->pred, y = ((const ga_item *)b)->pred;
    return x < y ? -1 : x > y;
}

/* GA of predicted group ids against ground-truth labels, exactly as defined:
 * a line counts when its predicted group's line set equals its true group's. */
static double grouping_accuracy(const int64_t *pred, const char *const *truth, size_t n)
{
    if (n == 0)
        return 1.0;
    ga_item *it = calloc(n, sizeof *it);
    size_t *truth_size = calloc(n, sizeof *truth_size);
    assert_non_null(it);
    assert_non_null(truth_size);
    for (size_t i = 0; i < n; i++)
        it[i] = (ga_item){i, pred[i], truth[i], 0};
    /* label the true groups and count their sizes */
    qsort(it, n, sizeof *it, by_truth);
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(it[i].truth, it[i - 1].truth) != 0)
            label++;
        it[i].truth_label = label;
        truth_size[label]++;
    }
    /* a predicted group is correct when all its lines share one true group
     * and it has as many lines as that group */
    qsort(it, n, sizeof *it, by_pred);
    size_t correct = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int same = 1;
        while (j < n && it[j].pred == it[i].pred) {
            same &= it[j].truth_label == it[i].truth_label;
            j++;
        }
        if (same && j - i == truth_size[it[i].truth_label])
            correct += j - i;
        i = j;
    }
    free(it);
    free(truth_size);
    return (double)correct / (double)n;
}

static void test_ga_definition(void **state)
{
    (void)state;
    /* truth {a,a,b,b,c}; predicted {1,1,2,3,4}: a correct (2), b split (0), c correct (1) */
    const char *truth[] = {"a", "a", "b", "b", "c"};
    int64_t pred[] = {1, 1, 2, 3, 4};
    assert_true(grouping_accuracy(pred, truth, 5) == 3.0 / 5.0);
    /* b merged with c: neither is correct */
    int64_t pred2[] = {1, 1, 2, 2, 2};
    assert_true(grouping_accuracy(pred2, truth, 5) == 2.0 / 5.0);
    int64_t pred3[] = {7, 7, 9, 9, 1};
    assert_true(grouping_accuracy(pred3, truth, 5) == 1.0);
}

/* ---- the loghub samples ---------------------------------------------------------- */

typedef struct loghub_set {
    const char *name;
    double drain;  /* Drain's published GA (logpai/logparser, per-dataset regexes): shown for reference only */
    double floor;  /* our own measured GA less 0.01: a rule deleted makes it fail */
    int held_out;  /* 1: not looked at while the rules of issue #19 were written */
} loghub_set;

/* Rotation for the rules of issue #19 (event words, host names, written-out
 * dates, trailing fields): tuned on Hadoop, Zookeeper, Apache, HealthApp (the
 * sets held out by the rules before them) and the generated logs A-E; held
 * out HDFS, Spark, OpenSSH, Proxifier and generated F. OpenSSH's held-out
 * run gave 0.5575 (plain-word user names kept apart as event words); after
 * it the "a word seen once in a grown family is a value" condition was
 * added looking at it, so it is tuned now. It stayed at 0.749, under
 * Drain's .7875, while the optional-trailing-field rule made loghub's
 * `… ruser= rhost=<*>` and `… ruser= rhost=<*> user=<*>` (110 + 384 lines)
 * one event; then a run after a key printed without a value (a fixed record
 * layout, by shape) was kept field by field, looking at it: 0.996, no other
 * set moved. HDFS, Spark and Proxifier were seen once mid-way (the same
 * figures as now); no rule was changed for them. */
static const loghub_set SETS[] = {
    {"HDFS", 0.9975, 0.99, 1},     {"Hadoop", 0.9475, 0.987, 0},  {"Spark", 0.92, 0.989, 1},
    {"Zookeeper", 0.9665, 0.9845, 0}, {"OpenSSH", 0.7875, 0.986, 0}, {"Apache", 1.0, 0.99, 0},
    {"HealthApp", 0.78, 0.973, 0}, {"Proxifier", 0.5265, 0.99, 1},
};
#define NSETS (sizeof SETS / sizeof SETS[0])

static dataset loaded[NSETS];
static double measured[NSETS];
static size_t measured_templates[NSETS];
static int measured_done[NSETS];
static double synthetic_ga = -1, synthetic_ga_b = -1;

/* Floors of the generated logs A and B (tuned on): their measured GA (A
 * 0.9288, B 1.0) less 0.01. */
#define GENERATED_A_FLOOR 0.9188
#define GENERATED_B_FLOOR 0.99

static void loghub_dir(char *out, size_t cap)
{
    const char *env = getenv("ANOMALOG_LOGHUB_DIR");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    /* tests/unit/test_miner.c -> tests/data/loghub */
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    if (slash)
        snprintf(out, cap, "%.*s/../data/loghub", (int)(slash - f), f);
    else
        snprintf(out, cap, "../data/loghub");
}

static int load_all(void **state)
{
    (void)state;
    char dir[4096];
    loghub_dir(dir, sizeof dir);
    for (size_t i = 0; i < NSETS; i++) {
        char path[4352];
        snprintf(path, sizeof path, "%s/%s_2k.log_structured.csv", dir, SETS[i].name);
        if (csv_read(path, &loaded[i]) != 0) {
            fprintf(stderr, "test_miner: cannot read %s: %s\n", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int free_all(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSETS; i++)
        dataset_free(&loaded[i]);
    return 0;
}

/* Mines a dataset with the default (generic) configuration; returns its GA. */
static double mine_ga(const dataset *d, size_t *templates)
{
    miner *m = miner_new(NULL);
    assert_non_null(m);
    int64_t *pred = malloc(d->n * sizeof *pred);
    assert_non_null(pred);
    for (size_t i = 0; i < d->n; i++) {
        pred[i] = miner_add(m, d->content[i], strlen(d->content[i]), NULL, NULL, 0, NULL);
        assert_true(pred[i] > 0);
    }
    for (size_t i = 0; i < d->n; i++)
        pred[i] = miner_resolve(m, pred[i]); /* the final grouping: a merged template holds its earlier lines */
    double ga = grouping_accuracy(pred, (const char *const *)d->event, d->n);
    if (templates)
        *templates = miner_size(m);
    free(pred);
    miner_free(m);
    return ga;
}

static void check_set(size_t k)
{
    assert_true(loaded[k].n >= 1999); /* the 2k samples */
    double ga = mine_ga(&loaded[k], &measured_templates[k]);
    measured[k] = ga;
    measured_done[k] = 1;
    print_message("GA %-10s %.4f (floor %.4f; Drain published %.4f; %s, %zu templates)\n", SETS[k].name, ga,
                  SETS[k].floor, SETS[k].drain, SETS[k].held_out ? "held out" : "tuned", measured_templates[k]);
    assert_true(ga >= SETS[k].floor);
}

static void test_ga_hdfs(void **state)
{
    (void)state;
    check_set(0);
}
static void test_ga_hadoop(void **state)
{
    (void)state;
    check_set(1);
}
static void test_ga_spark(void **state)
{
    (void)state;
    check_set(2);
}
static void test_ga_zookeeper(void **state)
{
    (void)state;
    check_set(3);
}
static void test_ga_openssh(void **state)
{
    (void)state;
    check_set(4);
}
static void test_ga_apache(void **state)
{
    (void)state;
    check_set(5);
}
static void test_ga_healthapp(void **state)
{
    (void)state;
    check_set(6);
}
static void test_ga_proxifier(void **state)
{
    (void)state;
    check_set(7);
}

/* ---- a generated log, never tuned on ----------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/*
 * Shapes of the generated log (written for this test, before it was ever run,
 * in styles unlike the loghub samples). Slots: %S noun (constant per
 * template), %I IPv4, %N number, %M milliseconds, %U UUID, %H hex id, %W user
 * name, %P path with ids, %Z size, %D duration, %T ISO time, %Q quoted name,
 * %E state word, %C HTTP status, %F decimal, %K pod suffix, %A list of 1-4
 * numbers in brackets.
 */
static const char *const GEN_SHAPES[] = {
    "[%S] request %U completed in %M ms with status %C",
    "pod %S-%K scheduled on node ip-%I",
    "Slow query (%M ms): UPDATE %S SET status = %Q WHERE id = %N",
    "%W logged in from %I via %E",
    "GET /static/%S/%H.js 304 0 - %M ms",
    "checkpoint lsn=%N/%H flushed %N pages (%F%) in %D",
    "consumer %S-%N rebalanced: assigned partitions %A",
    "Exception in thread \"%S-worker-%N\" java.lang.IllegalStateException: %S not ready",
    "Received %N bytes from %I:%N in %M ms",
    "audit: user=%W op=%E path=%P result=%E",
    "Backup of %S completed: %Z in %D",
    "Certificate for %S.example.com expires in %N days",
    "WARNING: heap usage %N% exceeds %N%",
    "connection reset by peer %I:%N, retry %N/%N",
    "DELETE /v2/%S/%U 204 %M ms",
    "Worker %N picked job %H from queue %S (priority %N)",
    "Cron %Q started at %T with pid %N",
    "Rejected request from %I: header %Q too large (%N bytes > %N bytes)",
    "Replica %S-%N lag %M ms behind primary",
    "Token refresh for client_id=%H succeeded, expires_in=%N",
    "Shutting down %S gracefully, %N connections drained",
    "Config key %Q changed by %W",
    "ALERT %E: %S error rate %F% over %N min",
    "Uploaded %P to s3://%S-bucket/%H (%Z)",
    "lock wait timeout on table %S after %D, txid=%N",
    "%S: %N of %N nodes healthy",
    "Invalidated %N keys matching %Q in %M ms",
    "new session %U for %W (ttl %Ds)",
};
#define NGEN (sizeof GEN_SHAPES / sizeof GEN_SHAPES[0])

/*
 * A second generated log, B, written after A had been run and the miner
 * changed for what A showed, and before B itself was ever run: the check of
 * the final version on shapes nothing was adjusted for. Syslog-style lines
 * with program prefixes, as they arrive with no header parsing. Extra slots:
 * %V version, %B base64 key fingerprint.
 */
static const char *const GEN_SHAPES_B[] = {
    "nginx: [error] %N#%N: *%N connect() failed (111: Connection refused) while connecting to upstream, client: %I, server: %S.local",
    "postgres[%N]: LOG:  duration: %F ms  statement: SELECT %S FROM items WHERE id = %N",
    "kubelet: Pulling image \"registry.local/%S:%V\"",
    "systemd[1]: Started %S.service - %S daemon.",
    "sshd[%N]: Accepted publickey for %W from %I port %N ssh2: RSA SHA256:%B",
    "kernel: [%F] %S%N: link up, %N Mbps, full duplex",
    "CRON[%N]: (%W) CMD (/usr/local/bin/%S-sync --since %Nm)",
    "app[%S]: payment_intent=%H amount=%N currency=usd status=%E",
    "GC(%N) Pause Young (Normal) (G1 Evacuation Pause) %NM->%NM(%NM) %F ms",
    "dockerd: time=\"%T\" level=%E msg=\"container %H exited\"",
    "redis[%N]: Background saving terminated with success after %F seconds",
    "etcd: slow fdatasync took %F ms, expected less than 1s",
    "containerd: shim reaped pid %N for container %U",
    "auditd: type=USER_LOGIN msg=audit(%F:%N): pid=%N uid=0 auid=%N ses=%N msg='op=login acct=\"%W\" exe=\"/usr/sbin/sshd\" hostname=%I addr=%I terminal=ssh res=%E'",
    "kernel: Out of memory: Killed process %N (%S) total-vm:%NkB, anon-rss:%NkB",
    "ERROR [%S] %E while processing order %N: upstream unavailable (retry in %N s)",
    "metrics: %S.requests.count=%N %S.requests.p95=%F",
    "vault: token with accessor %H revoked by %W",
    "mysqld: Aborted connection %N to db: '%S' user: '%W' host: '%I' (Got timeout reading communication packets)",
    "k8s: Warning BackOff pod/%S-%K Back-off restarting failed container",
    "%S-%N | %T | INFO | Processed %N messages in %M ms",
    "Disk quota %N% used on volume vol-%H",
    "Rotated log file %P, kept %N archives",
    "Thread pool %S exhausted: active=%N queued=%N max=%N",
};
#define NGEN_B (sizeof GEN_SHAPES_B / sizeof GEN_SHAPES_B[0])

/*
 * Three generated logs of kinds the loghub samples lack, written for the
 * failure modes issue #19 names, with their ground truth (one template per
 * shape). Extra slots: %h host name (with or without digits), %w a date
 * written out `Mon Dec 05 19:14:11 2026`, %x `Tue, 06 Dec 2026 10:00:00
 * GMT`, %y `Dec  5 19:14:11`, %v VM name, %k zero to three optional trailing
 * key=value fields, %m HTTP method, %j a plain word out of many (a value).
 *
 * C, a hypervisor's event log: events that differ only in one plain word
 * (`VM Started` / `VM Paused` / `VM Resumed`, `… initialization` / `…
 * finalization`, `link up` / `link down`) are distinct templates.
 */
static const char *const GEN_SHAPES_C[] = {
    "vm %v: VM Started",
    "vm %v: VM Paused",
    "vm %v: VM Resumed",
    "vm %v: VM Stopped",
    "vm %v: VM Migrated to %h",
    "domain %v guest agent initialization complete after %M ms",
    "domain %v guest agent finalization complete after %M ms",
    "NIC %N of %v link up",
    "NIC %N of %v link down",
    "scheduler placed %v on %h (score %F)",
    "balloon driver on %v reclaimed %N MB",
    "snapshot %U of %v created in %M ms",
    "%h hypervisor heartbeat ok, %N guests running",
    "vCPU %N of %v halted: triple fault",
    "disk %P attached to %v as virtio%N",
    "disk %P detached from %v",
};
#define NGEN_C (sizeof GEN_SHAPES_C / sizeof GEN_SHAPES_C[0])

/* D, a web server's and proxy's log: host names and dates written out in words. */
static const char *const GEN_SHAPES_D[] = {
    "[%w] [error] [client %I] File does not exist: /var/www/%S/%N.png",
    "[%w] [notice] Apache configured -- resuming normal operations",
    "upstream %h:%N responded in %M ms",
    "resolved %h to %I",
    "certificate for %h valid until %x",
    "proxy: connect to %h failed: Connection refused",
    "vhost %h reloaded",
    "backend %h marked DOWN",
    "backend %h marked UP",
    "%y %h nginx: %N#%N: client closed connection while reading upstream",
    "cache purge for %h completed at %x",
    "%m /%S/%N HTTP/1.1 host=%h status=%C bytes=%N",
    "Last-Modified: %x",
    "TLS handshake with %h took %M ms",
};
#define NGEN_D (sizeof GEN_SHAPES_D / sizeof GEN_SHAPES_D[0])

/* E, a service with optional trailing key=value fields, and a plain-word value out of many. */
static const char *const GEN_SHAPES_E[] = {
    "request completed method=%m path=/api/%S status=%C%k",
    "job %S finished in %D s%k",
    "payment authorised amount=%N currency=EUR%k",
    "connection pool stats active=%N idle=%N%k",
    "order %N shipped%k",
    "cart item %j added for %W",
    "cache miss for key %j",
    "retrying call to %S after %M ms%k",
    "user %W signed out%k",
    "webhook delivered to %h in %M ms%k",
};
#define NGEN_E (sizeof GEN_SHAPES_E / sizeof GEN_SHAPES_E[0])

/*
 * F, held out: written with C, D and E, and first run after the rules of
 * issue #19 were frozen. A cloud control plane and a mail relay, the same
 * failure modes in other words and layouts: event words (`state: Running` /
 * `Terminated` / `Waiting`, `lease … acquired` / `released` / `renewed`),
 * host names in other places, dates with full month names (%z, `5 December
 * 2026 10:00`) and the other layouts, optional trailing fields after a value
 * with a unit.
 */
static const char *const GEN_SHAPES_F[] = {
    "container %v state: Running",
    "container %v state: Terminated",
    "container %v state: Waiting",
    "lease for %v acquired by %h",
    "lease for %v released by %h",
    "lease for %v renewed by %h",
    "mail from=<%W@%h> relayed via %h",
    "DNS query %h A answered %I in %M ms",
    "next run of %S scheduled for %x",
    "report for %S generated on %z",
    "%y %h kernel: TCP: request_sock_TCP: Possible SYN flooding on port %N",
    "object %P uploaded in %M ms%k",
    "queue %S drained%k",
    "GC cycle %N done, pause %M ms%k",
    "pulled image registry.%h/%S:%V in %M ms",
    "readiness probe failed for %v: HTTP %C",
    "scaled deployment %S from %N to %N replicas",
    "session cookie expires %w",
};
#define NGEN_F (sizeof GEN_SHAPES_F / sizeof GEN_SHAPES_F[0])
static const char *const GEN_MONTHS_LONG[] = {"January", "February", "March", "April", "May", "June", "July",
                                              "August", "September", "October", "November", "December"};

static const char *const GEN_DAYS[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const GEN_MONTHS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const GEN_HOST_A[] = {"cache", "api", "edge", "db", "lb", "web", "auth", "mail", "static"};
static const char *const GEN_HOST_B[] = {"fra", "ams", "east", "west", "b", "primary", "canary"};
static const char *const GEN_HOST_Z[] = {"example.net", "example.com", "example.org", "example.io", "corp.local"};
static const char *const GEN_WORDS[] = {
    "lamp", "desk", "chair", "sofa", "rug", "mirror", "shelf", "stool", "bench", "clock", "vase", "pillow",
    "blanket", "kettle", "toaster", "blender", "mixer", "grill", "fan", "heater", "fridge", "oven", "sink",
    "faucet", "towel", "soap", "brush", "comb", "razor", "wallet", "bottle", "jar", "lid", "spoon", "fork"};

static const char *const GEN_NOUNS[] = {"orders", "ledger", "catalog", "fraud", "search", "mailer", "assets", "geo"};
static const char *const GEN_USERS[] = {"alice", "bob", "carol", "dan", "eve", "fay", "gus", "hana", "ivo", "jo",
                                        "kim", "lee", "max", "ned", "oz", "pia", "root", "admin", "svc_backup"};
static const char *const GEN_STATES[] = {"ok", "denied", "error", "password", "sso", "mfa", "write", "read"};
static const char *const GEN_QUOTED[] = {"'cache.ttl'", "'X-Forwarded-For'", "\"nightly export\"", "'*.tmp'",
                                         "'feature.flags'", "\"db rotate\""};

static size_t gen_put(char *p, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static size_t gen_put(char *p, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p, cap, fmt, ap);
    va_end(ap);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static size_t gen_line(char *p, size_t cap, const char *shape, const char *noun)
{
    size_t o = 0;
    for (const char *s = shape; *s && o + 80 < cap; s++) {
        if (*s != '%' || !s[1]) {
            p[o++] = *s;
            continue;
        }
        char c = *++s;
        switch (c) {
        case 'S': o += gen_put(p + o, cap - o, "%s", noun); break;
        case 'I': o += gen_put(p + o, cap - o, "%u.%u.%u.%u", 1 + below(223), below(256), below(256), 1 + below(254)); break;
        case 'N': o += gen_put(p + o, cap - o, "%u", below(4) == 0 ? below(10) : below(4) == 0 ? (unsigned)rnd() : below(5000)); break;
        case 'M': o += gen_put(p + o, cap - o, below(2) ? "%u" : "%u.5", below(3000)); break;
        case 'U': {
            uint64_t a = rnd(), b = rnd();
            o += gen_put(p + o, cap - o, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
                         (unsigned)a & 0xffff, (unsigned)(b >> 48), (unsigned long long)(b & UINT64_C(0xffffffffffff)));
            break;
        }
        case 'H': o += gen_put(p + o, cap - o, "%012llx", (unsigned long long)(rnd() >> 16)); break;
        case 'W': o += gen_put(p + o, cap - o, "%s", GEN_USERS[below(sizeof GEN_USERS / sizeof GEN_USERS[0])]); break;
        case 'P': o += gen_put(p + o, cap - o, "/srv/%s/%u/obj_%u.dat", noun, below(1000), below(100000)); break;
        case 'Z': o += gen_put(p + o, cap - o, "%u.%u %s", below(900), below(10), below(2) ? "MB" : "GB"); break;
        case 'D': o += gen_put(p + o, cap - o, "%u", 1 + below(300)); break;
        case 'T': o += gen_put(p + o, cap - o, "2027-0%u-1%uT0%u:1%u:2%u+01:00", 1 + below(9), below(10), below(10), below(10), below(10)); break;
        case 'Q': o += gen_put(p + o, cap - o, "%s", GEN_QUOTED[below(sizeof GEN_QUOTED / sizeof GEN_QUOTED[0])]); break;
        case 'E': o += gen_put(p + o, cap - o, "%s", GEN_STATES[below(sizeof GEN_STATES / sizeof GEN_STATES[0])]); break;
        case 'C': o += gen_put(p + o, cap - o, "%u", below(2) ? 200u : below(2) ? 404u : 500u); break;
        case 'F': o += gen_put(p + o, cap - o, "%u.%u", below(100), below(100)); break;
        case 'K': o += gen_put(p + o, cap - o, "%x%x-%c%c%u", 0x10 + below(0xef), below(0x100), 'a' + below(26), 'a' + below(26), below(10)); break;
        case 'V': o += gen_put(p + o, cap - o, "%u.%u.%u", below(4), below(20), below(30)); break;
        case 'B': {
            static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            for (int j = 0; j < 43; j++)
                p[o++] = b64[below(64)];
            break;
        }
        case 'A': {
            unsigned k = 1 + below(4);
            p[o++] = '[';
            for (unsigned j = 0; j < k; j++)
                o += gen_put(p + o, cap - o, "%s%u", j ? ", " : "", below(64));
            p[o++] = ']';
            break;
        }
        case 'h': {
            o += gen_put(p + o, cap - o, "%s", GEN_HOST_A[below(9)]);
            if (below(2))
                o += gen_put(p + o, cap - o, "-%s", GEN_HOST_B[below(7)]);
            if (below(2))
                o += gen_put(p + o, cap - o, "-%u", below(20));
            if (below(2))
                o += gen_put(p + o, cap - o, ".%s", below(2) ? "prod" : "internal");
            o += gen_put(p + o, cap - o, ".%s", GEN_HOST_Z[below(5)]);
            break;
        }
        case 'w':
            o += gen_put(p + o, cap - o, "%s %s %02u %02u:%02u:%02u 2026", GEN_DAYS[below(7)], GEN_MONTHS[below(12)],
                         1 + below(28), below(24), below(60), below(60));
            break;
        case 'x':
            o += gen_put(p + o, cap - o, "%s, %02u %s 2026 %02u:%02u:%02u GMT", GEN_DAYS[below(7)], 1 + below(28),
                         GEN_MONTHS[below(12)], below(24), below(60), below(60));
            break;
        case 'y':
            o += gen_put(p + o, cap - o, "%s %2u %02u:%02u:%02u", GEN_MONTHS[below(12)], 1 + below(28), below(24),
                         below(60), below(60));
            break;
        case 'v': {
            static const char *const vm[] = {"web", "db-primary", "cache-eu", "build-runner", "billing-api", "vpn"};
            const char *v = vm[below(6)];
            o += below(3) ? gen_put(p + o, cap - o, "%s-%02u", v, below(40)) : gen_put(p + o, cap - o, "%s-%c", v, 'a' + below(6));
            break;
        }
        case 'k': {
            /* optional trailing fields, in a fixed order, each present or not */
            if (below(2))
                o += gen_put(p + o, cap - o, " trace_id=%012llx", (unsigned long long)(rnd() >> 16));
            if (below(3) == 0)
                o += gen_put(p + o, cap - o, " retry=%u", below(5));
            if (below(3) == 0)
                o += gen_put(p + o, cap - o, " user=%s", GEN_USERS[below(sizeof GEN_USERS / sizeof GEN_USERS[0])]);
            if (below(4) == 0)
                o += gen_put(p + o, cap - o, " region=%s", below(2) ? "eu-west-1" : "us-east-2");
            break;
        }
        case 'm': o += gen_put(p + o, cap - o, "%s", below(2) ? "GET" : below(2) ? "POST" : "PUT"); break;
        case 'z':
            o += gen_put(p + o, cap - o, "%u %s 2026 %02u:%02u", 1 + below(28), GEN_MONTHS_LONG[below(12)], below(24),
                         below(60));
            break;
        case 'j': o += gen_put(p + o, cap - o, "%s", GEN_WORDS[below(sizeof GEN_WORDS / sizeof GEN_WORDS[0])]); break;
        default: p[o++] = '%'; p[o++] = c; break;
        }
    }
    p[o] = '\0';
    return o;
}

/* Mines a generated log: nsvc services (one miner each), per shapes each
 * with its own noun, `lines` lines; the truth of a line is (service, shape). */
static double generated_ga(const char *const *shapes, size_t nshapes, int nsvc, int per, size_t lines, uint64_t seed,
                           size_t *mined)
{
    rng_state = seed;
    miner *m[8];
    assert_true(nsvc <= 8);
    for (int s = 0; s < nsvc; s++)
        assert_non_null(m[s] = miner_new(NULL));
    int64_t *pred = malloc(lines * sizeof *pred);
    char **truth = malloc(lines * sizeof *truth);
    int *svc = malloc(lines * sizeof *svc);
    assert_non_null(svc);
    assert_non_null(pred);
    assert_non_null(truth);
    char line[768];
    for (size_t i = 0; i < lines; i++) {
        int s = (int)below((unsigned)nsvc);
        int k = (int)below((unsigned)per);
        int shape = (int)((size_t)(s * 5 + k) % nshapes);
        const char *noun = GEN_NOUNS[(size_t)(s + k) % (sizeof GEN_NOUNS / sizeof GEN_NOUNS[0])];
        size_t len = gen_line(line, sizeof line, shapes[shape], noun);
        int64_t id = miner_add(m[s], line, len, NULL, NULL, 0, NULL);
        assert_true(id > 0);
        pred[i] = id;
        svc[i] = s;
        truth[i] = malloc(16);
        assert_non_null(truth[i]);
        snprintf(truth[i], 16, "%d/%d", s, shape);
    }
    for (size_t i = 0; i < lines; i++) /* the final grouping; ids are per miner */
        pred[i] = (int64_t)svc[i] << 40 | miner_resolve(m[svc[i]], pred[i]);
    free(svc);
    double ga = grouping_accuracy(pred, (const char *const *)truth, lines);
    *mined = 0;
    for (int s = 0; s < nsvc; s++) {
        *mined += miner_size(m[s]);
        miner_free(m[s]);
    }
    for (size_t i = 0; i < lines; i++)
        free(truth[i]);
    free(truth);
    free(pred);
    return ga;
}

/* Generated log A: 4 services x 24 of the 28 shapes, 12,000 lines. Two of its
 * shapes carry a variable word on the tree path (`%W logged in …` first,
 * `ALERT %E: …` second), which the miner splits by design (see search() in
 * miner.c): about 4% of the lines. */
static void test_generated_a(void **state)
{
    (void)state;
    size_t mined;
    double ga = generated_ga(GEN_SHAPES, NGEN, 4, 24, 12000, 20271124, &mined);
    synthetic_ga = ga;
    print_message("GA %-10s %.4f (%d true templates, %zu mined)\n", "generated A", ga, 4 * 24, mined);
    assert_true(ga >= GENERATED_A_FLOOR);
}

/* Generated log B: 3 services x 20 of the 24 shapes, 9,000 lines. Its first
 * run gave 0.9689: `CRON[N]: (user) CMD …` split by user; a bracketed token
 * now routes like a value (see tokinfo.field in miner.c), and B gives 1.0. */
static void test_generated_b(void **state)
{
    (void)state;
    size_t mined;
    double ga = generated_ga(GEN_SHAPES_B, NGEN_B, 3, 20, 9000, 77, &mined);
    synthetic_ga_b = ga;
    print_message("GA %-10s %.4f (%d true templates, %zu mined)\n", "generated B", ga, 3 * 20, mined);
    assert_true(ga >= GENERATED_B_FLOOR);
}

/* The generated logs of other kinds (C, D, E above; F below), each with its
 * role: "tuned" when the rules of issue #19 were written looking at it,
 * "held out" when it was first run after they were frozen. */
typedef struct gen_set {
    const char *name;
    const char *const *shapes;
    size_t nshapes;
    int nsvc, per;
    size_t lines;
    uint64_t seed;
    double floor; /* our measured GA less 0.01 */
    int held_out;
} gen_set;

static const gen_set GEN_SETS[] = {
    /* measured before the rules: C 0.7620, D 0.3580, E 0.2065 (F was not run before) */
    {"gen-C-vm", GEN_SHAPES_C, NGEN_C, 2, (int)NGEN_C, 4000, 1901, 0.99, 0},
    {"gen-D-web", GEN_SHAPES_D, NGEN_D, 2, (int)NGEN_D, 4000, 1902, 0.915, 0},
    {"gen-E-kv", GEN_SHAPES_E, NGEN_E, 2, (int)NGEN_E, 4000, 1903, 0.8948, 0},
    {"gen-F-cloud", GEN_SHAPES_F, NGEN_F, 2, (int)NGEN_F, 4000, 1904, 0.99, 1},
};
#define NGEN_SETS (sizeof GEN_SETS / sizeof GEN_SETS[0])
static double gen_measured[NGEN_SETS] = {-1, -1, -1, -1};
static size_t gen_mined[NGEN_SETS];

static void check_gen(size_t k)
{
    const gen_set *g = &GEN_SETS[k];
    double ga = generated_ga(g->shapes, g->nshapes, g->nsvc, g->per, g->lines, g->seed, &gen_mined[k]);
    gen_measured[k] = ga;
    print_message("GA %-10s %.4f (%s, %zu true templates, %zu mined)\n", g->name, ga, g->held_out ? "held out" : "tuned",
                  (size_t)g->nsvc * g->nshapes, gen_mined[k]);
    assert_true(ga >= g->floor);
}

static void test_gen_c(void **state)
{
    (void)state;
    check_gen(0);
}
static void test_gen_d(void **state)
{
    (void)state;
    check_gen(1);
}
static void test_gen_e(void **state)
{
    (void)state;
    check_gen(2);
}
static void test_gen_f(void **state)
{
    (void)state;
    check_gen(3);
}

static void test_ga_table(void **state)
{
    (void)state;
    print_message("\n%-11s  %-6s  %-6s  %-8s  %-9s  %s\n", "dataset", "ours", "floor", "role", "templates",
                  "Drain (published, reference only)");
    int all = 1;
    for (size_t k = 0; k < NSETS; k++) {
        if (!measured_done[k]) {
            all = 0;
            continue;
        }
        print_message("%-11s  %.4f  %.4f  %-8s  %-9zu  %.4f\n", SETS[k].name, measured[k], SETS[k].floor,
                      SETS[k].held_out ? "held out" : "tuned", measured_templates[k], SETS[k].drain);
    }
    if (synthetic_ga >= 0)
        print_message("%-11s  %.4f  %.4f  %-8s  %-9s  -\n", "gen-A", synthetic_ga, GENERATED_A_FLOOR, "tuned", "");
    if (synthetic_ga_b >= 0)
        print_message("%-11s  %.4f  %.4f  %-8s  %-9s  -\n", "gen-B", synthetic_ga_b, GENERATED_B_FLOOR, "tuned", "");
    for (size_t k = 0; k < NGEN_SETS; k++)
        if (gen_measured[k] >= 0)
            print_message("%-11s  %.4f  %.4f  %-8s  %-9zu  -\n", GEN_SETS[k].name, gen_measured[k], GEN_SETS[k].floor,
                          GEN_SETS[k].held_out ? "held out" : "tuned", gen_mined[k]);
    print_message("\n");
    assert_true(all);
}

/* ---- contract ------------------------------------------------------------------- */

static int64_t add(miner *m, const char *s)
{
    return miner_add(m, s, strlen(s), NULL, NULL, 0, NULL);
}

static void test_options(void **state)
{
    (void)state;
    miner_opts o = miner_opts_defaults();
    assert_int_equal(o.depth, 4);
    assert_true(o.similarity > 0 && o.similarity < 1);
    assert_true(o.max_templates >= 1 && o.max_tokens >= 2 && o.max_bytes >= 16);
    miner *m = miner_new(NULL);
    assert_non_null(m);
    miner_free(m);
    miner_free(NULL);

    static const struct {
        int depth;
        double sim;
        size_t tmpl, tokens, bytes, children;
    } bad[] = {
        {2, 0.5, 10, 10, 100, 10},  {4, -0.1, 10, 10, 100, 10}, {4, 1.5, 10, 10, 100, 10},
        {4, 0.5, 0, 10, 100, 10},   {4, 0.5, 10, 1, 100, 10},   {4, 0.5, 10, 10, 8, 10},
        {4, 0.5, 10, 10, 100, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        miner_opts b = {bad[i].depth, bad[i].sim, bad[i].tmpl, bad[i].tokens, bad[i].bytes, bad[i].children};
        errno = 0;
        assert_null(miner_new(&b));
        assert_int_equal(errno, EINVAL);
    }
}

/* What masking makes of one message (a fresh miner per row). */
static void test_masking(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } rows[] = {
        {"Failed password for root from 183.62.140.253 port 41156 ssh2",
         "Failed password for root from <IP> port <NUM> ssh2"},
        {"request 550e8400-e29b-41d4-a716-446655440000 took 160ms status=200", "request <UUID> took <NUM>ms <*>=<*>"},
        {"session 0x14ed93111f20027 closed after 3.5 s at 2026-11-24T10:00:00.123Z",
         "session <HEX> closed after <NUM> s at <TS>"},
        {"commit a1b2c3d4e5f6 by \"John Smith\" on branch 'main', 45% done",
         "commit <HEX> by \"<*>\" on branch '<*>', <NUM>% done"},
        {"user=alice msg=\"hello world\" code=-5 ratio=0.75 path=/var/log/a.log",
         "user=<*> msg=<*> code=<NUM> ratio=<NUM> path=<*>"},
        {"deleted blk_1 blk_-2 blk_3 from 10.0.0.1:50010", "deleted blk_<NUM> from <IP>:<NUM>"},
        {"sent 2717 bytes (2.65 KB) in 00:05", "sent <NUM> bytes in <TS>"},
        {"lifetime <1 sec, ~3 retries, >5 peers", "lifetime <NUM> sec, <NUM> retries, <NUM> peers"},
        {"conn [2001:db8::ff00:42:8329]:443 mac 00:1a:2b:3c:4d:5e", "conn [<IP>]:<NUM> mac <HEX>"},
        {"at 17:41:44,747 on 2015-10-18 and 17/06/09", "at <TS> on <TS> and <TS>"},
        {"GET /api/v1/users/12345/orders?limit=50 HTTP/1.1", "GET /api/v1/users/<NUM>/orders?limit=<NUM> HTTP/<NUM>"},
        {"took 1.5e3 ms, rdd_42_8 on slave-07", "took <NUM> ms, rdd_<NUM>_<NUM> on slave-<NUM>"},
        {"  leading and   inner\tspaces\r\n", "leading and inner spaces"},
        {"x86_64 SOCKS5 log4j v2 (TID 1280).", "x86_<NUM> SOCKS5 log4j v2 (TID <NUM>)."},
        {"a <NUM> and <*> and <IP>:<NUM>", "a <NUM> and <*> and <IP>:<NUM>"},
        {"partitions [1, 2, 3] then [4] and (7, 8)", "partitions [<NUM>] then [<NUM>] and (<NUM>)"},
        {"GET /static/1a2b3c4d5e.js then /static/1234567890.js", "GET /static/<HEX>.js then /static/<NUM>.js"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        miner *m = miner_new(NULL);
        assert_non_null(m);
        int64_t id = add(m, rows[i].in);
        assert_true(id > 0);
        const char *got = miner_template_text(m, id);
        assert_non_null(got);
        if (strcmp(got, rows[i].want) != 0)
            print_error("row %zu: \"%s\" -> \"%s\", want \"%s\"\n", i, rows[i].in, got, rows[i].want);
        assert_string_equal(got, rows[i].want);
        miner_free(m);
    }
}

static void test_stable_id_when_generalising(void **state)
{
    (void)state;
    miner *m = miner_new(NULL);
    assert_non_null(m);
    int is_new = -1;
    const char *a = "Accepted login for alice1 from 10.0.0.1 using password";
    int64_t id = miner_add(m, a, strlen(a), &is_new, NULL, 0, NULL);
    assert_int_equal(id, 1);
    assert_int_equal(is_new, 1);
    assert_string_equal(miner_template_text(m, id), "Accepted login for alice1 from <IP> using password");
    const char *b = "Accepted login for bob2 from 10.0.0.2 using password";
    assert_int_equal(miner_add(m, b, strlen(b), &is_new, NULL, 0, NULL), id);
    assert_int_equal(is_new, 0);
    assert_string_equal(miner_template_text(m, id), "Accepted login for <*> from <IP> using password");
    const char *c = "Accepted login for carol3 from 10.0.0.3 using 2fa";
    assert_int_equal(miner_add(m, c, strlen(c), &is_new, NULL, 0, NULL), id);
    assert_string_equal(miner_template_text(m, id), "Accepted login for <*> from <IP> using <*>");
    assert_int_equal(miner_template_count(m, id), 3);
    /* a different event gets its own id */
    int64_t other = miner_add(m, "disk full on /dev/sda1", 22, &is_new, NULL, 0, NULL);
    assert_int_equal(other, 2);
    assert_int_equal(is_new, 1);
    assert_int_equal(add(m, b), id);
    assert_int_equal(miner_size(m), 2);
    assert_null(miner_template_text(m, 3));
    assert_null(miner_template_text(m, 0));
    assert_null(miner_template_text(m, -1));
    assert_int_equal(miner_template_count(m, 99), 0);
    miner_free(m);
}

/* The first depth-2 tokens route: a variable word there splits a template,
 * unless it has a value's shape (digits, or brackets around it). */
static void test_path_fields(void **state)
{
    (void)state;
    miner *m = miner_new(NULL);
    assert_non_null(m);
    int64_t a = add(m, "CRON[101]: (alice) CMD (/usr/bin/sync --all)");
    assert_int_equal(add(m, "CRON[102]: (bob) CMD (/usr/bin/sync --all)"), a);
    assert_string_equal(miner_template_text(m, a), "CRON[<NUM>]: <*> CMD (/usr/bin/sync --all)");
    int64_t b = add(m, "[orders] request 1 done in 5 ms");
    assert_int_equal(add(m, "[billing] request 2 done in 7 ms"), b);
    int64_t c = add(m, "node7 joined the cluster as voter");
    assert_int_equal(add(m, "node12 joined the cluster as voter"), c);
    /* a plain word there is taken as the event's word: Drain's prior */
    int64_t d = add(m, "Failed password for root from 1.2.3.4 port 22 ssh2");
    int64_t e = add(m, "Failed none for root from 1.2.3.4 port 22 ssh2");
    assert_true(d != e);
    miner_free(m);
}

/* The rules of issue #19, one by one. */
static void test_event_words_hosts_dates_fields(void **state)
{
    (void)state;
    miner *m = miner_new(NULL);
    assert_non_null(m);
    /* event words: one template each, also when the first two differ */
    int64_t st = add(m, "vm web-01: VM Started");
    int64_t pa = add(m, "vm web-02: VM Paused");
    int64_t re = add(m, "vm web-03: VM Resumed");
    assert_true(st != pa && pa != re && st != re);
    assert_int_equal(add(m, "vm db-7: VM Paused"), pa);
    assert_string_equal(miner_template_text(m, pa), "vm <*> VM Paused");
    assert_int_equal(miner_resolve(m, st), st);
    /* many plain words at one position are values: past EVENT_WORDS_MAX they become one template,
     * the one the last message matched, and the others' ids resolve to it */
    const char *items[] = {"lamp", "desk", "sofa", "rug", "vase", "fan", "oven"};
    int64_t ids[7];
    for (int i = 0; i < 7; i++) {
        char line[64];
        snprintf(line, sizeof line, "cart item %s added", items[i]);
        ids[i] = add(m, line);
    }
    int64_t merged = ids[6];
    assert_string_equal(miner_template_text(m, merged), "cart item <*> added");
    for (int i = 0; i < 7; i++)
        assert_int_equal(miner_resolve(m, ids[i]), merged);
    assert_int_equal(miner_template_count(m, merged), 7);
    assert_int_equal(add(m, "cart item lamp added"), merged);
    /* a word seen once while its family grew past EVENT_FAMILY_MATURE lines: a value */
    for (int i = 0; i < 60; i++)
        add(m, "Failed password for root from 10.0.0.1 port 22 ssh2");
    int64_t git = add(m, "Failed password for git from 10.0.0.2 port 22 ssh2");
    for (int i = 0; i < 3; i++)
        add(m, "Failed password for root from 10.0.0.1 port 22 ssh2");
    int64_t ftp = add(m, "Failed password for ftp from 10.0.0.3 port 22 ssh2");
    assert_int_equal(miner_resolve(m, git), ftp);
    assert_string_equal(miner_template_text(m, ftp), "Failed password for <*> from <IP> port <NUM> ssh2");

    /* host names with and without digits, not class or file names */
    int64_t h = add(m, "resolved cache-fra.example.net to 10.1.1.1");
    assert_int_equal(add(m, "resolved api.internal.corp.local to 10.1.1.2"), h);
    assert_string_equal(miner_template_text(m, h), "resolved <*> to <IP>");
    assert_string_equal(miner_template_text(m, add(m, "loaded org.apache.Foo from app.js")),
                        "loaded org.apache.Foo from app.js");

    /* dates written out in words: one <TS>, whatever the names */
    int64_t d = add(m, "[Mon Dec 05 19:14:11 2026] [notice] configured");
    assert_int_equal(add(m, "[Tue Mar 17 01:02:03 2026] [notice] configured"), d);
    assert_string_equal(miner_template_text(m, d), "[<TS>] [notice] configured");
    assert_string_equal(miner_template_text(m, add(m, "valid until Tue, 06 Dec 2026 10:00:00 GMT")),
                        "valid until <TS>");
    assert_string_equal(miner_template_text(m, add(m, "report generated on 5 December 2026 10:00")),
                        "report generated on <TS>");
    assert_string_equal(miner_template_text(m, add(m, "you may 5 times retry")), "you may <NUM> times retry");

    /* optional trailing fields: one template, its id kept when it gains them */
    int64_t o = add(m, "order 42 shipped");
    assert_string_equal(miner_template_text(m, o), "order <NUM> shipped");
    assert_int_equal(add(m, "order 43 shipped trace_id=ab12cd34ef56 retry=1"), o);
    assert_string_equal(miner_template_text(m, o), "order <NUM> shipped <*>=<*>");
    assert_int_equal(add(m, "order 44 shipped user=bob"), o);
    assert_int_equal(add(m, "order 45 shipped"), o);
    assert_int_equal(miner_template_count(m, o), 4);
    /* a line of fields only (logfmt) keeps its keys */
    assert_string_equal(miner_template_text(m, add(m, "level=info msg=started port=80")),
                        "level=<*> msg=<*> port=<NUM>");
    /* a record that prints a key without a value is a fixed layout: its key set tells events apart */
    int64_t r1 = add(m, "session check failed; name= uid=0 tty=pts rhost=10.0.0.1");
    int64_t r2 = add(m, "session check failed; name= uid=0 tty=pts rhost=10.0.0.2 user=root");
    assert_true(r1 != r2);
    assert_int_equal(add(m, "session check failed; name= uid=7 tty=pts rhost=10.0.0.3"), r1);
    assert_int_equal(add(m, "session check failed; name= uid=7 tty=pts rhost=10.0.0.4 user=bob"), r2);
    assert_string_equal(miner_template_text(m, r2), "session check failed; name= uid=<NUM> tty=<*> rhost=<IP> user=<*>");
    miner_free(m);
}

static void count_each(int64_t id, const char *text, uint64_t count, void *arg)
{
    (void)text;
    (void)count;
    int64_t *order = arg;
    for (int i = 0; i < 8; i++)
        if (order[i] == 0) {
            order[i] = id;
            break;
        }
}

static void test_lru_eviction(void **state)
{
    (void)state;
    miner_opts o = miner_opts_defaults();
    o.max_templates = 3;
    miner *m = miner_new(&o);
    assert_non_null(m);
    int64_t a = add(m, "alpha service started");
    int64_t b = add(m, "beta queue drained");
    int64_t c = add(m, "gamma cache flushed");
    assert_true(a == 1 && b == 2 && c == 3);
    assert_int_equal(add(m, "alpha service started"), a); /* a is now the most recent; b the least */
    int64_t d = add(m, "delta index rebuilt");
    assert_int_equal(d, 4);
    assert_int_equal(miner_size(m), 3);
    assert_null(miner_template_text(m, b));
    assert_int_equal(miner_template_count(m, b), 0);
    assert_non_null(miner_template_text(m, a));
    assert_non_null(miner_template_text(m, c));
    /* b's message again: a new id, never b's */
    int is_new = 0;
    int64_t b2 = miner_add(m, "beta queue drained", 18, &is_new, NULL, 0, NULL);
    assert_int_equal(b2, 5);
    assert_int_equal(is_new, 1);
    assert_null(miner_template_text(m, c)); /* c was the least recent then */
    int64_t order[8] = {0};
    miner_foreach(m, count_each, order);
    assert_int_equal(order[0], b2);
    assert_int_equal(order[1], d);
    assert_int_equal(order[2], a);
    assert_int_equal(order[3], 0);
    /* churn: ids only grow, the size stays at the cap */
    char msg[64];
    int64_t last = b2;
    for (int i = 0; i < 2000; i++) {
        snprintf(msg, sizeof msg, "event%c%c happened", 'a' + i % 26, 'a' + (i / 26) % 26);
        int64_t id = add(m, msg);
        assert_true(id > 0);
        if (id > last)
            last = id;
        assert_true(miner_size(m) <= 3);
    }
    assert_true(last > 600);
    miner_free(m);
}

static void test_params(void **state)
{
    (void)state;
    miner *m = miner_new(NULL);
    assert_non_null(m);
    const char *a = "Failed password for root from 183.62.140.253 port 41156 ssh2";
    miner_param p[8];
    size_t np = 99;
    int64_t id = miner_add(m, a, strlen(a), NULL, p, 8, &np);
    assert_true(id > 0);
    assert_int_equal(np, 2);
    assert_int_equal(p[0].pos, 5);
    assert_int_equal(p[0].len, strlen("183.62.140.253"));
    assert_memory_equal(p[0].s, "183.62.140.253", p[0].len);
    assert_true(p[0].s == a + 30);
    assert_int_equal(p[1].pos, 7);
    assert_memory_equal(p[1].s, "41156", 5);
    /* the template generalises: the user becomes a param too */
    const char *b = "Failed password for admin2 from 10.1.1.1 port 22 ssh2";
    assert_int_equal(miner_add(m, b, strlen(b), NULL, p, 8, &np), id);
    assert_int_equal(np, 3);
    assert_int_equal(p[0].pos, 3);
    assert_memory_equal(p[0].s, "admin2", 6);
    assert_int_equal(p[0].len, 6);
    /* key=value and a prefix: only the value */
    const char *c = "job done user=carol blk_-42 took 17 ms";
    int64_t idc = miner_add(m, c, strlen(c), NULL, p, 8, &np);
    assert_true(idc > 0 && idc != id);
    assert_int_equal(np, 3);
    assert_memory_equal(p[0].s, "carol", 5);
    assert_int_equal(p[0].len, 5);
    assert_memory_equal(p[1].s, "-42", 3);
    assert_int_equal(p[1].len, 3);
    assert_memory_equal(p[2].s, "17", 2);
    assert_int_equal(p[2].len, 2);
    /* a short params array: filled up to its size */
    assert_int_equal(miner_add(m, c, strlen(c), NULL, p, 1, &np), idc);
    assert_int_equal(np, 1);
    /* NULLs accepted */
    assert_int_equal(miner_add(m, c, strlen(c), NULL, NULL, 0, NULL), idc);
    assert_int_equal(miner_add(m, c, strlen(c), NULL, NULL, 4, &np), idc);
    assert_int_equal(np, 0);
    miner_free(m);
}

static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

static void test_bounds(void **state)
{
    (void)state;
    miner_opts o = miner_opts_defaults();
    miner *m = miner_new(&o);
    assert_non_null(m);
    size_t bound = 5 * o.max_bytes + o.max_tokens;

    /* a 10 KB line of one word repeated: only max_bytes count */
    size_t big = 10 * 1024;
    char *s = malloc(big + 1);
    assert_non_null(s);
    for (size_t i = 0; i < big; i++)
        s[i] = i % 8 == 7 ? ' ' : 'w';
    s[big] = '\0';
    int64_t id = miner_add(m, s, big, NULL, NULL, 0, NULL);
    assert_true(id > 0);
    const char *t = miner_template_text(m, id);
    assert_true(strlen(t) <= bound);
    assert_int_equal(miner_add(m, s, big, NULL, NULL, 0, NULL), id);

    /* 1000 tokens: max_tokens, the last one <*> */
    char *many = malloc(8 * 1000 + 1);
    assert_non_null(many);
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        n += (size_t)sprintf(many + n, "%s%c%c", i ? " " : "", 'a' + i % 26, 'a' + (i / 26) % 26);
    miner_param p[4];
    size_t np;
    id = miner_add(m, many, n, NULL, p, 4, &np);
    assert_true(id > 0);
    t = miner_template_text(m, id);
    size_t tokens = 1;
    for (const char *q = t; *q; q++)
        tokens += *q == ' ';
    assert_int_equal(tokens, o.max_tokens);
    assert_string_equal(t + strlen(t) - 4, " <*>");
    assert_int_equal(np, 1);
    assert_true(p[0].s + p[0].len <= many + n);
    assert_true(strlen(t) <= bound);

    /* numbers expand the most (1 byte -> <NUM>): still bounded */
    for (size_t i = 0; i < big; i++)
        s[i] = i % 4 == 3 ? ' ' : i % 4 == 1 ? 'x' : '7';
    id = miner_add(m, s, big, NULL, NULL, 0, NULL);
    assert_true(id > 0 && strlen(miner_template_text(m, id)) <= bound);

    /* empty and whitespace-only lines: one template with no tokens */
    int is_new;
    int64_t e = miner_add(m, "", 0, &is_new, NULL, 0, NULL);
    assert_true(e > 0);
    assert_string_equal(miner_template_text(m, e), "");
    assert_int_equal(miner_add(m, NULL, 0, NULL, NULL, 0, NULL), e);
    assert_int_equal(miner_add(m, " \t \r\n ", 6, &is_new, NULL, 0, NULL), e);
    assert_int_equal(is_new, 0);

    /* NUL and control bytes separate tokens, the text stays a C string */
    const char ctl[] = "a\0b\x01" "c";
    id = miner_add(m, ctl, sizeof ctl - 1, NULL, NULL, 0, NULL);
    assert_string_equal(miner_template_text(m, id), "a b c");

    /* invalid UTF-8 is carried, never fatal */
    const char bad[] = "bad \xff\xfe bytes \xc3 here \xe2\x82";
    id = miner_add(m, bad, sizeof bad - 1, NULL, NULL, 0, NULL);
    assert_true(id > 0);
    assert_non_null(miner_template_text(m, id));

    /* the cut at max_bytes never splits a character */
    miner_opts small = miner_opts_defaults();
    small.max_bytes = 16;
    miner *ms = miner_new(&small);
    assert_non_null(ms);
    const char u8[] = "abcdefghijklmn\xc3\xa9\xc3\xa9\xc3\xa9"; /* 'é' straddles byte 16 */
    id = miner_add(ms, u8, sizeof u8 - 1, NULL, NULL, 0, NULL);
    assert_string_equal(miner_template_text(ms, id), "abcdefghijklmn\xc3\xa9");
    assert_true(utf8_ok(miner_template_text(ms, id)));
    const char u8b[] = "abcdefghijklm\xe2\x82\xac\xe2\x82\xac"; /* '€' at 13..15, the next at 16..18 */
    id = miner_add(ms, u8b, sizeof u8b - 1, NULL, NULL, 0, NULL);
    assert_string_equal(miner_template_text(ms, id), "abcdefghijklm\xe2\x82\xac");
    miner_free(ms);

    free(many);
    free(s);
    miner_free(m);
}

typedef struct tlist {
    int64_t id[8192];
    char *text[8192];
    uint64_t count[8192];
    size_t n;
} tlist;

static void collect(int64_t id, const char *text, uint64_t count, void *arg)
{
    tlist *l = arg;
    if (l->n < 8192) {
        l->id[l->n] = id;
        l->text[l->n] = strdup(text);
        l->count[l->n] = count;
        l->n++;
    }
}

static void test_restore(void **state)
{
    (void)state;
    miner *m = miner_new(NULL);
    assert_non_null(m);
    assert_int_equal(miner_restore(m, 7, "Failed password for <*> from <IP> port <NUM> ssh2", 40), 0);
    assert_int_equal(miner_restore(m, 3, "session opened for user <*>", 2), 0);
    assert_int_equal(miner_restore(m, 7, "duplicate id", 1), -1);
    assert_int_equal(miner_restore(m, 0, "bad id", 1), -1);
    assert_int_equal(miner_restore(m, -4, "bad id", 1), -1);
    assert_int_equal(miner_restore(m, 9, NULL, 1), -1);
    assert_int_equal(miner_size(m), 2);
    assert_int_equal(miner_template_count(m, 7), 40);
    int is_new;
    const char *a = "Failed password for root from 1.2.3.4 port 22 ssh2";
    assert_int_equal(miner_add(m, a, strlen(a), &is_new, NULL, 0, NULL), 7);
    assert_int_equal(is_new, 0);
    assert_int_equal(miner_template_count(m, 7), 41);
    assert_int_equal(add(m, "session opened for user bob"), 3);
    /* numbering continues above the largest restored id */
    assert_int_equal(add(m, "something else entirely"), 8);
    /* and above an id the store reserved (its pruned templates' ids), never below what was given out */
    miner_reserve_ids(m, 20);
    assert_int_equal(add(m, "a fourth kind of line"), 21);
    miner_reserve_ids(m, 5);
    assert_int_equal(add(m, "yet another sort of message here"), 22);
    miner_free(m);
}

/* Messages whose templates once came back different from a restore (found by
 * fuzz_miner): a template's text must tokenise to the template itself. */
static void test_restore_idempotent(void **state)
{
    (void)state;
    static const char *const rows[][2] = {
        {"x ,\"a b\" c", NULL},
        {"sudo: bo3.31.1a2b3c4d5e6f", NULL},
        {"[1]:2 fe80::1%e1:db8::1a2b3c4d5e:e:1.2]", NULL},
        {"<1a2b3c4d:5 ok", NULL},
        {"<deadbeef1> <5> <NUM>> <<7", NULL},
        {"conn [2001d:b8::ff0...se 5ms <NUM>ms", NULL},
        /* generalising the middle token removes a quote */
        {"{a \",x-----B on\",\"s\":\"b.  bcom\"}", "{a \",x-----B off\",\"s\":\"b.  bcom\"}"},
        {"took 5 ms then 7 KB (7 KB) then [1, 2] \"q q\" k='v w' 2026-01-02T03:04:05Z", NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        miner *m = miner_new(NULL);
        assert_non_null(m);
        int64_t id = add(m, rows[i][0]);
        if (rows[i][1])
            assert_int_equal(add(m, rows[i][1]), id);
        const char *t = miner_template_text(m, id);
        miner *r = miner_new(NULL);
        assert_non_null(r);
        assert_int_equal(miner_restore(r, id, t, 1), 0);
        if (strcmp(miner_template_text(r, id), t) != 0)
            print_error("row %zu: \"%s\" restored as \"%s\"\n", i, t, miner_template_text(r, id));
        assert_string_equal(miner_template_text(r, id), t);
        miner_free(r);
        miner_free(m);
    }
}

/* Every template of every sample restores to the same text, and the sample
 * added again finds its templates: no new one, the same ids. */
static void test_restore_round_trip(void **state)
{
    (void)state;
    tlist *l = malloc(sizeof *l);
    assert_non_null(l);
    for (size_t k = 0; k < NSETS; k++) {
        const dataset *d = &loaded[k];
        miner *m = miner_new(NULL);
        assert_non_null(m);
        int64_t *pred = malloc(d->n * sizeof *pred);
        assert_non_null(pred);
        for (size_t i = 0; i < d->n; i++)
            pred[i] = add(m, d->content[i]);
        l->n = 0;
        miner_foreach(m, collect, l);
        assert_int_equal(l->n, miner_size(m));
        int64_t maxid = 0;
        miner *r = miner_new(NULL);
        assert_non_null(r);
        /* in id order, as a store would list them */
        for (int64_t want = 1; want < (int64_t)d->n + 2; want++)
            for (size_t i = 0; i < l->n; i++)
                if (l->id[i] == want) {
                    assert_int_equal(miner_restore(r, l->id[i], l->text[i], l->count[i]), 0);
                    if (strcmp(miner_template_text(r, l->id[i]), l->text[i]) != 0)
                        print_error("%s: template %lld \"%s\" restored as \"%s\"\n", SETS[k].name,
                                    (long long)l->id[i], l->text[i], miner_template_text(r, l->id[i]));
                    assert_string_equal(miner_template_text(r, l->id[i]), l->text[i]);
                    if (l->id[i] > maxid)
                        maxid = l->id[i];
                }
        assert_int_equal(miner_size(r), l->n);
        size_t same = 0;
        for (size_t i = 0; i < d->n; i++) {
            int is_new;
            int64_t id = miner_add(r, d->content[i], strlen(d->content[i]), &is_new, NULL, 0, NULL);
            assert_int_equal(is_new, 0);
            same += id == miner_resolve(m, pred[i]); /* a template merged into another: the one that holds it */
        }
        if (same != d->n)
            print_message("restore %s: %zu of %zu lines found their first id\n", SETS[k].name, same, d->n);
        assert_true((double)same >= 0.99 * (double)d->n);
        assert_int_equal(add(r, "zz an entirely novel message qq"), maxid + 1);
        for (size_t i = 0; i < l->n; i++)
            free(l->text[i]);
        free(pred);
        miner_free(r);
        miner_free(m);
    }
    free(l);
}

/* A snapshot of a miner: every template's id, count and text, in LRU order. */
typedef struct snap {
    char buf[16384];
    size_t len;
    size_t n;
} snap;

static void snap_one(int64_t id, const char *text, uint64_t count, void *arg)
{
    snap *sn = arg;
    int w = snprintf(sn->buf + sn->len, sizeof sn->buf - sn->len, "%lld/%llu/%s\n", (long long)id,
                     (unsigned long long)count, text);
    assert_true(w > 0 && (size_t)w < sizeof sn->buf - sn->len);
    sn->len += (size_t)w;
    sn->n++;
}

static void snap_take(const miner *m, snap *sn)
{
    sn->len = sn->n = 0;
    sn->buf[0] = '\0';
    fi_miner_foreach(m, snap_one, sn);
    assert_int_equal(sn->n, fi_miner_size(m));
}

/* Fails each allocation of a scenario in turn: every failure is reported
 * (-1 or NULL), leaves the miner as it was, and leaks nothing (under ASan). */
static void test_fault_injection(void **state)
{
    (void)state;
    static const char *const msgs[] = {
        "Accepted login for alice from 10.0.0.1 using password",
        "Accepted login for bob from 10.0.0.2 using sso",
        "GET /static/1a2b3c4d5e.js 200 in 5 ms",
        "GET /static/1234567890.js 200 in 7 ms",
        "deleted blk_1 blk_-2 blk_3 from 10.0.0.1:50010",
        "disk full on /dev/sda1",
        "job 1 done user=carol in 17 ms (0.017 s)",
        "assigned partitions [1, 2, 3] to consumer-7",
        "Accepted login for carol from 10.0.0.3 using password",
        "cache warmed with 100 entries",
        "cache warmed with 200 entries",
        "",
        "queue drained after 3 s",
    };
    static snap before, after;
    long fail_at;
    for (fail_at = 0;; fail_at++) {
        fi_calls = 0;
        fi_fail_at = fail_at;
        miner_opts o = fi_miner_opts_defaults();
        o.max_templates = 4;
        miner *m = fi_miner_new(&o);
        if (!m) {
            assert_int_equal(errno, ENOMEM);
            continue;
        }
        int failures = 0;
        for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
            snap_take(m, &before);
            int is_new = -1;
            miner_param p[4];
            size_t np = 9;
            int64_t id = fi_miner_add(m, msgs[i], strlen(msgs[i]), &is_new, p, 4, &np);
            if (id < 0) {
                failures++;
                assert_int_equal(id, -1);
                assert_int_equal(np, 0);
                snap_take(m, &after);
                assert_string_equal(before.buf, after.buf);
            } else {
                assert_non_null(fi_miner_template_text(m, id));
                assert_true(fi_miner_size(m) <= o.max_templates);
            }
        }
        snap_take(m, &before);
        int rc = fi_miner_restore(m, 1000, "restored <*> template with <NUM> parts", 5);
        snap_take(m, &after);
        if (rc != 0) {
            failures++;
            assert_string_equal(before.buf, after.buf);
        } else {
            assert_string_equal(fi_miner_template_text(m, 1000), "restored <*> template with <NUM> parts");
        }
        /* after a failure the miner still works */
        fi_fail_at = -1;
        int64_t id = fi_miner_add(m, msgs[0], strlen(msgs[0]), NULL, NULL, 0, NULL);
        assert_true(id > 0);
        fi_miner_free(m);
        if (fi_calls <= fail_at && failures == 0)
            break; /* the scenario ran without reaching the failing call: all were tried */
    }
    print_message("fault injection: %ld allocations failed in turn\n", fail_at);
    assert_true(fail_at > 20);
}

/* ---- anomalog templates ---------------------------------------------------------- */

/* Runs templates_main with stdout captured into a string (malloc'd). */
static int run_cli(int argc, char **argv, char **out)
{
    char path[] = "/tmp/anomalog-test-miner-out-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    int rc = templates_main(argc, argv);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    close(fd);
    size_t n;
    *out = slurp(path, &n);
    assert_non_null(*out);
    unlink(path);
    return rc;
}

static void test_templates_cli(void **state)
{
    (void)state;
    char in[] = "/tmp/anomalog-test-miner-in-XXXXXX";
    int fd = mkstemp(in);
    assert_true(fd >= 0);
    const char *text = "login ok for alice1 from 10.0.0.1\r\n"
                       "disk full on /data\n"
                       "\n"
                       "login ok for bob2 from 10.0.0.2\n"
                       "login ok for carol3 from 10.0.0.3"; /* no final newline */
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    char *out;
    char *argv1[] = {"templates", in, NULL};
    assert_int_equal(run_cli(2, argv1, &out), 0);
    assert_string_equal(out, "1 login ok for alice1 from <IP>\n"
                             "2 disk full on /data\n"
                             "3 \n"
                             "1 login ok for <*> from <IP>\n"
                             "1 login ok for <*> from <IP>\n");
    free(out);

    char *argv2[] = {"templates", "--summary", in, NULL};
    assert_int_equal(run_cli(3, argv2, &out), 0);
    assert_string_equal(out, "1\t3\tlogin ok for <*> from <IP>\n"
                             "2\t1\tdisk full on /data\n"
                             "3\t1\t\n");
    free(out);

    char *argv3[] = {"templates", NULL};
    assert_int_equal(run_cli(1, argv3, &out), 2);
    free(out);
    char *argv4[] = {"templates", in, in, NULL};
    assert_int_equal(run_cli(3, argv4, &out), 2);
    free(out);
    char *argv5[] = {"templates", "--bogus", in, NULL};
    assert_int_equal(run_cli(3, argv5, &out), 2);
    free(out);
    char *argv6[] = {"templates", "/nonexistent/anomalog/file.log", NULL};
    assert_int_equal(run_cli(2, argv6, &out), 1);
    assert_string_equal(out, "");
    free(out);
    unlink(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ga_definition),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_stable_id_when_generalising),
        cmocka_unit_test(test_path_fields),
        cmocka_unit_test(test_event_words_hosts_dates_fields),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_fault_injection),
        cmocka_unit_test(test_templates_cli),
        cmocka_unit_test(test_ga_hdfs),
        cmocka_unit_test(test_ga_hadoop),
        cmocka_unit_test(test_ga_spark),
        cmocka_unit_test(test_ga_zookeeper),
        cmocka_unit_test(test_ga_openssh),
        cmocka_unit_test(test_ga_apache),
        cmocka_unit_test(test_ga_healthapp),
        cmocka_unit_test(test_ga_proxifier),
        cmocka_unit_test(test_generated_a),
        cmocka_unit_test(test_generated_b),
        cmocka_unit_test(test_gen_c),
        cmocka_unit_test(test_gen_d),
        cmocka_unit_test(test_gen_e),
        cmocka_unit_test(test_gen_f),
        cmocka_unit_test(test_restore_idempotent),
        cmocka_unit_test(test_restore_round_trip),
        cmocka_unit_test(test_ga_table),
    };
    return cmocka_run_group_tests(tests, load_all, free_all);
}
