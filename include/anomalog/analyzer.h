/**
 * @file analyzer.h
 * @brief Analysis workers: closed windows in, anomalies and health out.
 *
 * Each worker claims a closed window (or a failed one due for retry), builds
 * its prompt from the window's lines and the service's context, asks the
 * model, validates the answer, and records the result or the failure, all
 * through the store. The window scheduler (window.h) closes windows that are
 * due and wakes the workers with analyzer_wake().
 */
#ifndef ANOMALOG_ANALYZER_H
#define ANOMALOG_ANALYZER_H

#include <stddef.h>
#include <stdint.h>

#include "anomalog/config.h"
#include "anomalog/store.h"

typedef struct analyzer analyzer;

typedef enum analysis_outcome {
    ANALYSIS_NONE = 0,     /**< nothing to do */
    ANALYSIS_ANALYZED,
    ANALYSIS_FAILED,
    ANALYSIS_INTERRUPTED   /**< stopped by shutdown; the window went back to closed */
} analysis_outcome;

/**
 * Starts `threads` analysis threads (0: none, for analyzer_run_one). Windows left
 * 'analyzing' by a crash are put back first. Compiles the redaction rules;
 * a bad pattern is an error naming it.
 */
analyzer *analyzer_start(store *st, const config *cfg, size_t threads, char *err, size_t errlen);

/** Wakes the workers (windows were closed). */
void analyzer_wake(analyzer *a);

/** Stops the workers (a model call in progress is cancelled). Accepts NULL. */
void analyzer_stop(analyzer *a);

/**
 * Analyses one claimable window on the calling thread (replay).
 * @param retry_failed  also take failed windows due for retry
 */
analysis_outcome analyzer_run_one(analyzer *a, int retry_failed);

/** The model as the analysis sees it: "ok", "down" (its circuit breaker is open) or "none" (no model). */
const char *analyzer_model_state(analyzer *a);

/**
 * Builds the digest of one closed window without calling a model and without
 * recording anything (anomalog digest). @return malloc'd text, or NULL with err.
 */
char *analyzer_digest_text(analyzer *a, int64_t window_id, char *err, size_t errlen);

#endif
