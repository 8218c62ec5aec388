/**
 * @file writer.h
 * @brief The single writer thread: a bounded queue of batches, committed many at a time.
 *
 * HTTP threads call writer_submit(), which queues the batch and blocks until
 * the writer has committed it (or failed to). The writer takes everything
 * queued, up to a cap of entries, and commits it in one transaction (group
 * commit), so the cost of a commit is shared by every request waiting on it.
 * Between commits (at most once a second) it prunes expired Idempotency-Keys.
 */
#ifndef ANOMALOG_WRITER_H
#define ANOMALOG_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "anomalog/batch.h"
#include "anomalog/store.h"

typedef struct writer writer;

typedef struct writer_opts {
    size_t queue_depth;      /**< batches waiting beyond which submit answers WRITER_FULL */
    size_t max_txn_entries;  /**< entries per transaction, at least one batch */
    int64_t window_ms;       /**< window length */
    int64_t idempotency_ttl_ms; /**< Idempotency-Keys older than this are pruned, a few at a time */
} writer_opts;

typedef enum writer_rc {
    WRITER_OK = 0,     /**< committed */
    WRITER_FULL,       /**< queue full: nothing stored, try again later */
    WRITER_STOPPING,   /**< shutting down: nothing stored */
    WRITER_FAILED      /**< the database refused the batch: nothing stored */
} writer_rc;

typedef struct writer_stats {
    uint64_t batches, entries, commits;
    size_t queued;          /**< batches waiting now */
    int alive;              /**< the thread runs and its last commit (if any) succeeded */
    char last_error[256];   /**< empty when none */
} writer_stats;

/** Starts the writer thread on st (which it uses exclusively for writing). NULL on failure. */
writer *writer_start(store *st, const writer_opts *o, char *err, size_t errlen);

/**
 * Queues b and waits for its commit. b stays owned by the caller.
 * @param[out] err  on WRITER_FAILED, why (may be NULL)
 */
writer_rc writer_submit(writer *w, batch *b, char *err, size_t errlen);

/** Stops accepting, commits what is queued, joins the thread, frees w. Accepts NULL. */
void writer_stop(writer *w);

void writer_get_stats(writer *w, writer_stats *out);

#endif
