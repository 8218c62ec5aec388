/**
 * @file breaker.h
 * @brief A circuit breaker for the model: after N consecutive failed calls,
 *        windows go straight to the baseline for a cool-down, then one probe
 *        call decides.
 *
 * States: closed ("ok": calls go through), open ("down": none do until the
 * cool-down ends), and, once it has, one probe in flight (the others still go
 * to the baseline); the probe's success closes the breaker, its failure opens
 * it for another cool-down. Thread-safe: any analysis worker may call.
 */
#ifndef ANOMALOG_BREAKER_H
#define ANOMALOG_BREAKER_H

#include <stdint.h>

typedef struct breaker breaker;

/**
 * @param threshold    consecutive failures that open it (at least 1)
 * @param cooldown_ms  how long it stays open before one probe
 * @return the breaker (closed), or NULL when out of memory
 */
breaker *breaker_new(unsigned threshold, int64_t cooldown_ms);

/** Accepts NULL. */
void breaker_free(breaker *b);

/**
 * May a model call go now?
 * @param[out] quick  1 when the call should not retry within itself (it is the probe, or a failure
 *                    was seen since the last success): a dead model is found out in one timeout
 * @return 1: call, then report with breaker_record(); 0: the model is down, use the baseline
 */
int breaker_allow(breaker *b, int64_t now_ms, int *quick);

/** The outcome of an allowed call: ok 1 (the model answered), 0 (failed), -1 (cancelled: no verdict). */
void breaker_record(breaker *b, int ok, int64_t now_ms);

/** "ok" (closed) or "down" (open, probing included). */
const char *breaker_state(breaker *b);

/** ms until the next probe may go (0 when closed or due). */
int64_t breaker_wait_ms(breaker *b, int64_t now_ms);

#endif
