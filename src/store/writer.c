/*
 * writer.c — the one thread that writes log entries to the database.
 *
 * Threads: HTTP threads call writer_submit(); the writer thread runs
 * writer_main(). Both meet under w->mu: the queue is a fixed ring of pointers
 * to submissions that live on the submitting thread's stack; each submission
 * has its own condition variable, signalled when its batch is committed or
 * refused.
 *
 * Group commit: the writer takes every queued submission, up to
 * max_txn_entries entries (at least one batch), and writes them in one
 * transaction. If that transaction fails, each batch is retried alone, so one
 * batch the database refuses does not take its neighbours down with it; a
 * batch is never half stored.
 *
 * Invariant: a submitter learns WRITER_OK only after COMMIT returned; that is
 * what makes a 202 answer mean "on disk".
 *
 * Bounds: queue_depth submissions wait at most; one more is refused at once
 * with WRITER_FULL (the HTTP layer answers 503 with Retry-After).
 *
 * Pruning: the writer owns the write connection, so it also deletes expired
 * Idempotency-Keys, PRUNE_BATCH at a time between commits, once a second (at
 * once again while a full batch came back): a backlog of expired keys never
 * holds a commit up for long.
 */
#include "anomalog/writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anomalog/log.h"
#include "anomalog/metrics.h"
#include "anomalog/timeutil.h"

#define PRUNE_EVERY_MS 1000
#define PRUNE_BATCH 500

typedef struct submission {
    batch *b;
    int done;
    writer_rc rc;
    char err[256];
    pthread_cond_t cv;
} submission;

struct writer {
    store *st;
    writer_opts o;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t wake;       /* the writer waits here for work */
    submission **ring;
    batch **group;             /* the writer's scratch: batches of one commit */
    size_t head, count;        /* ring holds count items starting at head */
    int stopping;
    int running;
    uint64_t n_batches, n_entries, n_commits;
    int last_ok;
    char last_error[256];
};

static void finish(writer *w, submission **subs, size_t n, writer_rc rc, const char *err)
{
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        subs[i]->rc = rc;
        subs[i]->done = 1;
        if (err)
            snprintf(subs[i]->err, sizeof subs[i]->err, "%s", err);
        if (rc == WRITER_OK) {
            w->n_batches++;
            w->n_entries += subs[i]->b->count;
        }
        pthread_cond_signal(&subs[i]->cv);
    }
    if (rc == WRITER_OK)
        w->n_commits++;
    pthread_mutex_unlock(&w->mu);
}

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void commit_group(writer *w, submission **subs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        w->group[i] = subs[i]->b;
    char err[256] = "";
    double t0 = mono_seconds();
    store_rc rc = store_write_batches(w->st, w->group, n, w->o.window_ms, err, sizeof err);
    metrics_commit_observe(mono_seconds() - t0);
    if (rc == STORE_OK) {
        w->last_ok = 1;
        finish(w, subs, n, WRITER_OK, NULL);
        return;
    }
    if (n > 1) {
        for (size_t i = 0; i < n; i++)
            commit_group(w, &subs[i], 1);
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->last_ok = 0;
    snprintf(w->last_error, sizeof w->last_error, "%s", err);
    pthread_mutex_unlock(&w->mu);
    log_msg(LOG_ERROR, "writer", "batch of %zu entries refused: %s", subs[0]->b->count, err);
    finish(w, subs, 1, WRITER_FAILED, err);
}

/* Deletes a batch of expired Idempotency-Keys; returns when to prune next (monotonic ms). */
static int64_t prune(writer *w)
{
    char err[256];
    int n = 0;
    if (store_idempotency_prune(w->st, time_now_ms() - w->o.idempotency_ttl_ms, PRUNE_BATCH, &n, err,
                                sizeof err) != STORE_OK)
        log_msg(LOG_WARN, "writer", "pruning expired idempotency keys: %s", err);
    return time_mono_ms() + (n == PRUNE_BATCH ? 0 : PRUNE_EVERY_MS);
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    submission **group = malloc(w->o.queue_depth * sizeof *group);
    int64_t next_prune = time_mono_ms();
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->count && !w->stopping && time_mono_ms() < next_prune) {
            int64_t at = next_prune;
            struct timespec ts = {.tv_sec = at / 1000, .tv_nsec = (long)(at % 1000) * 1000000L};
            pthread_cond_timedwait(&w->wake, &w->mu, &ts);
        }
        if (!w->count && w->stopping)
            break;
        if (time_mono_ms() >= next_prune) {
            pthread_mutex_unlock(&w->mu);
            next_prune = prune(w);
            pthread_mutex_lock(&w->mu);
            continue;
        }
        size_t n = 0, entries = 0;
        while (w->count && (n == 0 || entries + w->ring[w->head]->b->count <= w->o.max_txn_entries)) {
            submission *s = w->ring[w->head];
            w->head = (w->head + 1) % w->o.queue_depth;
            w->count--;
            entries += s->b->count;
            group[n++] = s;
        }
        pthread_mutex_unlock(&w->mu);
        commit_group(w, group, n);
        pthread_mutex_lock(&w->mu);
    }
    w->running = 0;
    pthread_mutex_unlock(&w->mu);
    free(group);
    return NULL;
}

writer *writer_start(store *st, const writer_opts *o, char *err, size_t errlen)
{
    writer *w = calloc(1, sizeof *w);
    if (!w || o->queue_depth == 0 || !(w->ring = calloc(o->queue_depth, sizeof *w->ring)) ||
        !(w->group = calloc(o->queue_depth, sizeof *w->group))) {
        snprintf(err, errlen, "writer: out of memory");
        if (w)
            free(w->ring);
        free(w);
        return NULL;
    }
    w->st = st;
    w->o = *o;
    if (w->o.max_txn_entries == 0)
        w->o.max_txn_entries = 1;
    w->last_ok = 1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca; /* the writer's timed waits count on the monotonic clock, as time_mono_ms() */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    w->running = 1;
    if (pthread_create(&w->th, NULL, writer_main, w) != 0) {
        snprintf(err, errlen, "writer: cannot start thread");
        free(w->ring);
        free(w->group);
        free(w);
        return NULL;
    }
    return w;
}

writer_rc writer_submit(writer *w, batch *b, char *err, size_t errlen)
{
    submission s = {.b = b};
    pthread_cond_init(&s.cv, NULL);
    pthread_mutex_lock(&w->mu);
    writer_rc rc;
    if (w->stopping || !w->running) {
        rc = WRITER_STOPPING;
    } else if (w->count >= w->o.queue_depth) {
        rc = WRITER_FULL;
    } else {
        w->ring[(w->head + w->count) % w->o.queue_depth] = &s;
        w->count++;
        pthread_cond_signal(&w->wake);
        while (!s.done)
            pthread_cond_wait(&s.cv, &w->mu);
        rc = s.rc;
        if (rc == WRITER_FAILED && err)
            snprintf(err, errlen, "%s", s.err);
    }
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&s.cv);
    return rc;
}

void writer_stop(writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->wake);
    free(w->ring);
    free(w->group);
    free(w);
}

void writer_get_stats(writer *w, writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    out->batches = w->n_batches;
    out->entries = w->n_entries;
    out->commits = w->n_commits;
    out->queued = w->count;
    out->alive = w->running && w->last_ok;
    snprintf(out->last_error, sizeof out->last_error, "%s", w->last_error);
    pthread_mutex_unlock(&w->mu);
}
