/*
 * backoff.c — the one wait before a retry (backoff.h): exponential from a
 * base up to a cap, with one jitter rule (±20%). The model client
 * (llm.c), the notification senders (notify/sender.c) and failed windows
 * (analyzer.c, without jitter: a window's next attempt is a stored time)
 * all wait through it. Retry-After is the callers' business: each knows
 * whether a server's wish may exceed its own cap.
 *
 * Threads: any; the jitter comes from a per-thread xorshift64* generator
 * seeded from getrandom() (or the clock and the thread's address when that
 * fails). Limits: base and max are clamped at 0; no overflow past max.
 */
#include "anomalog/backoff.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/random.h>
#include <time.h>

static _Thread_local uint64_t backoff_rng_state;

static uint64_t backoff_rng(void)
{
    uint64_t *st = &backoff_rng_state;
    if (*st == 0) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed || seed == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            seed = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                   ((uint64_t)(uintptr_t)st * UINT64_C(0x9e3779b97f4a7c15));
            if (seed == 0)
                seed = UINT64_C(0x2545f4914f6cdd1d);
        }
        *st = seed;
    }
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * UINT64_C(0x2545f4914f6cdd1d);
}

int64_t backoff_ms(int64_t base_ms, int64_t max_ms, int retry, int jitter)
{
    int64_t max = max_ms > 0 ? max_ms : 0, d = base_ms > 0 ? base_ms : 0;
    for (int i = 1; i < retry && d < max; i++)
        d = d > max / 2 ? max : d * 2;
    if (d > max)
        d = max;
    if (jitter && d > 0) {
        int64_t span = d / 5; /* ±20% */
        d += (int64_t)(backoff_rng() % ((uint64_t)span * 2 + 1)) - span;
        if (d > max)
            d = max;
    }
    return d;
}
