/**
 * @file retention.h
 * @brief The retention thread: deletes what is older than the configured ages,
 *        in small batches, without stalling ingestion.
 *
 * Raw lines go after retention.lines (by their window's end, once the window
 * was analysed); windows with their anomalies, prompts, notifications and
 * delivery attempts, ended suppression intervals, and templates no window
 * recorded for that long, after retention.windows.
 * An age of 0 disables that retention.
 */
#ifndef ANOMALOG_RETENTION_H
#define ANOMALOG_RETENTION_H

#include <stdint.h>

#include "anomalog/store.h"

typedef struct retention retention;

typedef struct retention_opts {
    int64_t lines_ms;    /**< age of raw lines; 0: kept forever */
    int64_t windows_ms;  /**< age of windows and what hangs off them; 0: kept forever */
    int64_t batch_rows;  /**< rows deleted per transaction */
} retention_opts;

/**
 * Starts the thread (none when both ages are 0: returns a handle that does
 * nothing). It wakes every quarter of the shorter age, between 1 s and 1 min.
 * @return the handle, or NULL with err
 */
retention *retention_start(store *st, const retention_opts *o, char *err, size_t errlen);

/** Stops the thread after its current batch; frees r. Accepts NULL. */
void retention_stop(retention *r);

#endif
