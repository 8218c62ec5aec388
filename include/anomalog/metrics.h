/**
 * @file metrics.h
 * @brief Process-wide counters and histograms for GET /metrics (Prometheus text).
 *
 * Every recording function is safe from any thread and does not block on the
 * hot path: values are atomics; only the first sighting of a new label value
 * (a new service, destination or error code) takes a mutex to claim a slot.
 * Label cardinality is bounded: past METRICS_MAX_SERVICES distinct
 * (endpoint, service) pairs, lines count under service="_other".
 */
#ifndef ANOMALOG_METRICS_H
#define ANOMALOG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "anomalog/batch.h"

#define METRICS_MAX_SERVICES 64   /**< distinct (endpoint, service) series before "_other" */
#define METRICS_OTHER "_other"

/** Lines and message bytes of a committed batch, by its entries' services. */
void metrics_ingested(const char *endpoint, const batch *b);
/** A batch refused with error code `reason` (bounded: the codes are ours). */
void metrics_rejected(const char *endpoint, const char *reason);
/**
 * One HTTP request answered by a handler: its route's pattern (`/windows/{id}`; NULL: no route, counted as
 * "unmatched"), its status, and the seconds from its first byte to its answer.
 */
void metrics_http_request(const char *route, int status, double seconds);
/** Items of a bulk request (/_bulk) or records of an OTLP export (/v1/logs) refused while the rest was stored. */
void metrics_items_rejected(const char *endpoint, long n);
/** The model's state for anomalog_model_up: "ok", "down" (circuit open), or "none" (no model). */
void metrics_model_state(const char *state);
/** A batch answered from its Idempotency-Key's record (a retry), on one of the four ingest endpoints. */
void metrics_replayed(const char *endpoint);
/** An Idempotency-Key went in flight (+1) or out of it (-1) (idempotency.c's table). */
void metrics_idem_in_flight(int delta);
/** One writer transaction took `seconds`. */
void metrics_commit_observe(double seconds);
/** One window's analysis (claim to result) took `seconds`. */
void metrics_analysis_observe(double seconds);
/** One model call ended with `outcome` (ok, invalid_answer, unavailable, rejected, bad_response, cancelled). */
void metrics_model_call(const char *outcome);
/** Tokens the model reported (negative values, "not reported", are ignored). */
void metrics_tokens(long prompt, long completion);
/** One anomaly recorded; unknown severity or type values count as "unknown". */
void metrics_anomaly(const char *severity, const char *type);
/** One model anomaly recorded whose evidence does not quote the window (so not routed). */
void metrics_evidence_unverified(void);
/** One delivery attempt to `destination` ended with `outcome` (sent, retry, failed). */
void metrics_notification(const char *destination, const char *outcome);

/** Retention deleted `rows` rows of `table` (logs, windows, anomalies, outbox, delivery_attempts,
 *  window_prompts, template_counts, suppressions, templates, template_values; another name is ignored). */
void metrics_retention_deleted(const char *table, int64_t rows);
/** One retention batch (one transaction) took `seconds`. */
void metrics_retention_batch(double seconds);

/** Gauges read at scrape time by the caller (the HTTP handler). */
typedef struct metrics_gauges {
    int64_t writer_queue_depth;
    int64_t writer_queue_bytes;
    int writer_alive;
    int64_t windows[5];          /**< by status: open, closed, analyzing, analyzed, failed; -1 unknown */
    int64_t database_bytes;      /**< -1 when unknown */
    double oldest_waiting_seconds; /**< age of the oldest window without a result; 0: none; < 0 unknown */
    int64_t outbox_pending;      /**< notifications not delivered yet; -1 unknown */
    int64_t incidents_open;      /**< incidents open; -1 unknown */
    int64_t incident_members_open; /**< findings in the open incidents; -1 unknown */
} metrics_gauges;

extern const char *const metrics_window_statuses[5];

/**
 * Renders every metric in the Prometheus text exposition format 0.0.4.
 * @return malloc'd NUL-terminated text (caller frees), or NULL when out of memory.
 */
char *metrics_render(const metrics_gauges *g, size_t *len);

/** Zeroes everything (tests). Not safe while other threads record. */
void metrics_reset(void);

#endif
