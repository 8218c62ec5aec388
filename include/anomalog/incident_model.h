/**
 * @file incident_model.h
 * @brief The model, once per incident: one call reads an incident's members
 *        (their findings and key lines, redacted, delimited as data, under a
 *        byte cap) and writes its summary, likely root cause and first action.
 */
#ifndef ANOMALOG_INCIDENT_MODEL_H
#define ANOMALOG_INCIDENT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "anomalog/breaker.h"
#include "anomalog/llm.h"
#include "anomalog/redact.h"
#include "anomalog/store.h"

/** How the one call is made. */
typedef struct incident_model_opts {
    const llm_opts *llm;       /**< the model client's options (the analysis's) */
    const redactor *red;       /**< applied to every text sent and to the answer; NULL: none */
    breaker *brk;              /**< the model's circuit breaker, or NULL: no call while it is open */
    size_t max_bytes;          /**< cap of the user message */
    unsigned schema_retries;   /**< more calls for an answer that fails the check */
    int64_t settle_ms;         /**< an open incident is read once no member joined for this long */
} incident_model_opts;

/**
 * Takes the next incident due for its one call (store_incident_to_summarize),
 * asks the model, checks and redacts the answer, and records it
 * (store_incident_summary_set), or why there is none. The correlation's
 * summary stands when the call or the check fails.
 * @return 1 when an incident was taken, 0 when none was due, -1 on a store error
 */
int incident_model_next(store *st, const incident_model_opts *o);

#endif
