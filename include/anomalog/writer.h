/**
 * @file writer.h
 * @brief The single writer thread: a bounded queue of batches, committed many at a time.
 *
 * HTTP threads call writer_submit(), which queues a copy of the batch and
 * returns once it is safe: in the ingest journal (SQLite), or committed (no
 * journal: PostgreSQL). The writer takes everything queued, up to a cap of
 * entries, and commits it in one transaction (group commit), so the cost of
 * a commit is shared by every batch queued. Between commits (at most once a
 * second) it prunes expired Idempotency-Keys. See src/store/writer.c.
 */
#ifndef ANOMALOG_WRITER_H
#define ANOMALOG_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "anomalog/batch.h"
#include "anomalog/store.h"

typedef struct writer writer;

#define WRITER_QUEUE_BYTES (32u << 20)  /**< default queue_bytes */
#define JOURNAL_FILE_BYTES (8u << 20)   /**< default journal_file_bytes */
#define JOURNAL_STORED_BYTES (256u << 10) /**< default journal_stored_bytes */
#define JOURNAL_RECORD_MAX (1u << 31)   /**< a batch's record beyond this is refused */

typedef struct writer_opts {
    size_t queue_depth;      /**< batches waiting beyond which submit answers WRITER_FULL */
    size_t queue_bytes;      /**< record bytes waiting beyond which submit answers WRITER_FULL (0: WRITER_QUEUE_BYTES) */
    size_t max_txn_entries;  /**< entries per transaction, at least one batch */
    int64_t window_ms;       /**< window length */
    int64_t idempotency_ttl_ms; /**< Idempotency-Keys older than this are pruned, a few at a time */
    const char *journal;     /**< the ingest journal's path prefix (the SQLite file), or NULL: answer after the commit */
    int journal_sync;        /**< 1: fdatasync the journal before answering (durability full) */
    size_t journal_file_bytes; /**< a journal file is closed past this (0: JOURNAL_FILE_BYTES) */
    size_t journal_stored_bytes; /**< ... and once the database holds all of it, past this (0: JOURNAL_STORED_BYTES) */
} writer_opts;

typedef enum writer_rc {
    WRITER_OK = 0,     /**< committed, or in the journal and certain to be */
    WRITER_FULL,       /**< queue full: nothing stored, try again later */
    WRITER_STOPPING,   /**< shutting down: nothing stored */
    WRITER_FAILED      /**< the database refused the batch: nothing stored */
} writer_rc;

typedef struct writer_stats {
    uint64_t batches, entries, commits;
    size_t queued;          /**< batches waiting now */
    size_t queued_bytes;    /**< their records' bytes (bounded by queue_bytes) */
    int alive;              /**< the thread runs and its last commit (if any) succeeded */
    char last_error[256];   /**< empty when none */
} writer_stats;

/**
 * Starts the writer thread on st (which it uses exclusively for writing).
 * With a journal, first stores what the journal holds beyond the database's
 * mark (batches acknowledged before a crash). NULL on failure.
 */
writer *writer_start(store *st, const writer_opts *o, char *err, size_t errlen);

/**
 * Queues a copy of b and waits until it is safe (see WRITER_OK). b stays the caller's.
 * @param[out] err  on WRITER_FAILED, why (may be NULL)
 */
writer_rc writer_submit(writer *w, const batch *b, char *err, size_t errlen);

#define WRITER_READ_WAIT_MS 5000 /**< how long a read waits for what was acknowledged before it */

/** Returns once every batch answered WRITER_OK before the call is in the database, or after timeout_ms. */
void writer_wait(writer *w, int64_t timeout_ms);

/** Stops accepting, commits what is queued, joins the thread, frees w. Accepts NULL. */
void writer_stop(writer *w);

void writer_get_stats(writer *w, writer_stats *out);

#endif
