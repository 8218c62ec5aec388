/*
 * retention.c — the thread that deletes old lines and old windows.
 *
 * Threads: one, started by retention_start(). It uses the store's background
 * connection (store_expire_lines / store_expire_windows), one short
 * transaction per batch, and nothing else.
 *
 * Not stalling ingestion: a batch deletes at most batch_rows rows (and looks
 * at a bounded number of windows, each through an index), so it holds the
 * database's write lock, and the background mutex, for one small
 * transaction. After each batch the thread sleeps at least as long as the
 * batch took (5 ms at least): the writer, waiting in SQLite's busy handler,
 * gets the lock in between, so under a long backlog retention takes at most
 * about half of the write lock's time and the writer waits for one batch at
 * most.
 *
 * Cycle: every period (a quarter of the shorter enabled age, clamped to
 * 1 s .. 1 min) it runs line retention until nothing is left, then window
 * retention the same way, then template retention (templates not recorded
 * for retention.windows: no template text outlives the windows it came
 * from), then incident retention (resolved incidents whose members window
 * retention took, with the ones merged into them; an open incident stays),
 * counting rows per table in the metrics and logging one line per cycle
 * that deleted something.
 *
 * Space: deleted rows free pages onto SQLite's freelist and new rows reuse
 * them, so the file stops growing once retention keeps up; it is not
 * shrunk (no auto_vacuum / incremental vacuum: that would move pages under
 * the writer and cost write amplification for space that is about to be
 * reused anyway). An operator who wants the space back runs VACUUM offline.
 */
#include "anomalog/retention.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anomalog/log.h"
#include "anomalog/metrics.h"
#include "anomalog/stopper.h"
#include "anomalog/timeutil.h"

#define PAUSE_MIN_MS 5
#define PERIOD_MIN_MS 1000
#define PERIOD_MAX_MS 60000

struct retention {
    store *st;
    retention_opts o;
    int64_t period_ms;
    pthread_t th;
    int running;
    stopper stop;
};

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count(const store_expired *e, store_expired *sum)
{
    static const struct {
        const char *table;
        size_t off;
    } cols[] = {
        {"logs", offsetof(store_expired, logs)},
        {"windows", offsetof(store_expired, windows)},
        {"anomalies", offsetof(store_expired, anomalies)},
        {"outbox", offsetof(store_expired, outbox)},
        {"delivery_attempts", offsetof(store_expired, delivery_attempts)},
        {"window_prompts", offsetof(store_expired, window_prompts)},
        {"template_counts", offsetof(store_expired, template_counts)},
        {"suppressions", offsetof(store_expired, suppressions)},
        {"templates", offsetof(store_expired, templates)},
        {"template_values", offsetof(store_expired, template_values)},
        {"incidents", offsetof(store_expired, incidents)},
    };
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        int64_t v = *(const int64_t *)((const char *)e + cols[i].off);
        if (v > 0)
            metrics_retention_deleted(cols[i].table, v);
        *(int64_t *)((char *)sum + cols[i].off) += v;
    }
}

typedef store_rc (*expire_fn)(store *, int64_t, int64_t, store_expired *, int *, char *, size_t);

/* Runs batches of fn until none is left or the thread stops; returns the batches run. */
static int drain(retention *r, expire_fn fn, int64_t age_ms, store_expired *sum)
{
    int batches = 0, more = 1;
    while (more && !stopper_stopped(&r->stop)) {
        char err[256];
        store_expired e;
        double t0 = mono_seconds();
        store_rc rc = fn(r->st, time_now_ms() - age_ms, r->o.batch_rows, &e, &more, err, sizeof err);
        double took = mono_seconds() - t0;
        if (rc != STORE_OK) {
            /* busy: the next cycle tries again; anything else is worth a line */
            if (rc != STORE_BUSY)
                log_msg(LOG_ERROR, "retention", "%s", err);
            return batches;
        }
        batches++;
        metrics_retention_batch(took);
        count(&e, sum);
        int64_t pause = (int64_t)(took * 1000) + 1;
        if (more && stopper_sleep(&r->stop, pause > PAUSE_MIN_MS ? pause : PAUSE_MIN_MS))
            break;
    }
    return batches;
}

static void *retention_main(void *arg)
{
    retention *r = arg;
    while (!stopper_sleep(&r->stop, r->period_ms)) {
        store_expired sum = {0};
        int batches = 0;
        if (r->o.lines_ms > 0)
            batches += drain(r, store_expire_lines, r->o.lines_ms, &sum);
        if (r->o.windows_ms > 0) {
            batches += drain(r, store_expire_windows, r->o.windows_ms, &sum);
            batches += drain(r, store_expire_templates, r->o.windows_ms, &sum);
            batches += drain(r, store_expire_incidents, r->o.windows_ms, &sum);
        }
        if (sum.logs || sum.windows || sum.suppressions || sum.templates || sum.incidents)
            log_msg(LOG_INFO, "retention",
                    "deleted %lld line(s), %lld window(s), %lld anomaly(ies), %lld notification(s), "
                    "%lld template(s), %lld incident(s) in %d batch(es)",
                    (long long)sum.logs, (long long)sum.windows, (long long)sum.anomalies, (long long)sum.outbox,
                    (long long)sum.templates, (long long)sum.incidents, batches);
    }
    return NULL;
}

retention *retention_start(store *st, const retention_opts *o, char *err, size_t errlen)
{
    retention *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "retention: out of memory");
        return NULL;
    }
    r->st = st;
    r->o = *o;
    if (r->o.batch_rows < 1)
        r->o.batch_rows = 1;
    stopper_init(&r->stop);
    if (o->lines_ms <= 0 && o->windows_ms <= 0)
        return r; /* both disabled: no thread */
    int64_t shortest = o->lines_ms > 0 && (o->windows_ms <= 0 || o->lines_ms < o->windows_ms) ? o->lines_ms
                                                                                             : o->windows_ms;
    r->period_ms = shortest / 4 < PERIOD_MIN_MS ? PERIOD_MIN_MS : shortest / 4 > PERIOD_MAX_MS ? PERIOD_MAX_MS
                                                                                           : shortest / 4;
    if (pthread_create(&r->th, NULL, retention_main, r) != 0) {
        snprintf(err, errlen, "cannot start the retention thread");
        retention_stop(r);
        return NULL;
    }
    r->running = 1;
    return r;
}

void retention_stop(retention *r)
{
    if (!r)
        return;
    stopper_stop(&r->stop);
    if (r->running)
        pthread_join(r->th, NULL);
    stopper_destroy(&r->stop);
    free(r);
}
