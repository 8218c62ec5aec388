/**
 * @file notifier.h
 * @brief The sender thread: delivers the notifications the store queued in
 *        its outbox, with retries, backoff and jitter, until delivered or
 *        given up.
 */
#ifndef ANOMALOG_NOTIFIER_H
#define ANOMALOG_NOTIFIER_H

#include <stdint.h>

#include "anomalog/config.h"
#include "anomalog/store.h"

typedef struct notifier notifier;

/** Deliveries since start (the outbox table holds the totals). */
typedef struct notifier_stats {
    uint64_t sent, retried, failed;
} notifier_stats;

/**
 * Puts notifications claimed by a sender that died back to due, then starts
 * the sender thread. cfg must outlive the notifier. curl_global_init must
 * have run (llm_global_init).
 */
notifier *notifier_start(store *st, const config *cfg, char *err, size_t errlen);

/** Stops the senders after the deliveries in progress (bounded by notify.timeout). Accepts NULL. */
void notifier_stop(notifier *n);

void notifier_get_stats(notifier *n, notifier_stats *out);

#endif
