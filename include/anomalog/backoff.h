/**
 * @file backoff.h
 * @brief The one wait before a retry, for the model client, the senders
 *        and failed windows alike.
 */
#ifndef ANOMALOG_BACKOFF_H
#define ANOMALOG_BACKOFF_H

#include <stdint.h>

/**
 * The wait before retry number `retry` (1 for the first): base_ms doubled
 * retry - 1 times, at most max_ms; with jitter, drawn uniformly within ±20%
 * of that and still at most max_ms, so that many callers failing together
 * do not retry together. Thread-safe (a generator per thread).
 */
int64_t backoff_ms(int64_t base_ms, int64_t max_ms, int retry, int jitter);

#endif
