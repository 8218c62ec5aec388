/*
 * breaker.c — the model's circuit breaker.
 *
 * Purpose: a hung or dead model used to cost every window the full timeout
 * times its attempts (eight minutes a window at the defaults), and baseline
 * results queued behind those calls. The breaker counts consecutive failed
 * model calls; at `threshold` it opens: for `cooldown_ms` no window calls the
 * model (the analyzer falls back to the baseline, or fails the window for a
 * retry, as on_model_failure says). Then one window is let through as the
 * probe; its success closes the breaker, its failure opens it again. While
 * failures have been seen since the last success, calls are "quick" (no
 * retries within the call), so finding a dead model out costs one timeout
 * per call, not timeout x attempts.
 *
 * Threads: every analysis worker calls breaker_allow/breaker_record; one
 * mutex guards the state (a handful of integers). The state is published to
 * the metrics (anomalog_model_up) on each change.
 *
 * Invariants: at most one probe is in flight; a cancelled call (shutdown)
 * says nothing of the model and frees the probe slot. Limits: none held
 * beyond the struct.
 */
#include "anomalog/breaker.h"

#include <pthread.h>
#include <stdlib.h>

#include "anomalog/log.h"
#include "anomalog/metrics.h"

struct breaker {
    pthread_mutex_t mu;
    unsigned threshold;
    int64_t cooldown_ms;
    unsigned failures;  /* consecutive, since the last success */
    int open;           /* 1: down */
    int64_t open_until; /* when open: the first moment a probe may go */
    int probing;        /* when open: the probe is in flight */
};

breaker *breaker_new(unsigned threshold, int64_t cooldown_ms)
{
    breaker *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    b->threshold = threshold ? threshold : 1;
    b->cooldown_ms = cooldown_ms > 0 ? cooldown_ms : 0;
    metrics_model_state("ok");
    return b;
}

void breaker_free(breaker *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

int breaker_allow(breaker *b, int64_t now_ms, int *quick)
{
    int ok = 1;
    pthread_mutex_lock(&b->mu);
    *quick = b->failures > 0;
    if (b->open) {
        if (b->probing || now_ms < b->open_until)
            ok = 0;
        else
            b->probing = 1; /* this call is the probe */
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}

void breaker_record(breaker *b, int ok, int64_t now_ms)
{
    pthread_mutex_lock(&b->mu);
    int was_open = b->open;
    if (ok < 0) { /* cancelled: says nothing of the model */
        b->probing = 0;
    } else if (ok) {
        b->failures = 0;
        b->open = b->probing = 0;
    } else {
        b->failures++;
        if (b->open) { /* the probe failed (or a call let through before it opened) */
            if (b->probing) {
                b->probing = 0;
                b->open_until = now_ms + b->cooldown_ms;
            }
        } else if (b->failures >= b->threshold) {
            b->open = 1;
            b->probing = 0;
            b->open_until = now_ms + b->cooldown_ms;
        }
    }
    int now_open = b->open;
    unsigned failures = b->failures;
    pthread_mutex_unlock(&b->mu);
    if (now_open != was_open) {
        metrics_model_state(now_open ? "down" : "ok");
        if (now_open)
            log_msg(LOG_WARN, "analysis", "model down after %u consecutive failed calls: windows go to the baseline "
                    "for %llds, then one probe call decides", failures, (long long)b->cooldown_ms / 1000);
        else
            log_msg(LOG_INFO, "analysis", "model answers again: windows go to it again");
    }
}

const char *breaker_state(breaker *b)
{
    pthread_mutex_lock(&b->mu);
    int open = b->open;
    pthread_mutex_unlock(&b->mu);
    return open ? "down" : "ok";
}

int64_t breaker_wait_ms(breaker *b, int64_t now_ms)
{
    pthread_mutex_lock(&b->mu);
    int64_t w = b->open && b->open_until > now_ms ? b->open_until - now_ms : 0;
    pthread_mutex_unlock(&b->mu);
    return w;
}
