/**
 * @file incident.h
 * @brief Incidents: findings of several services joined into one problem,
 *        and the member where it most likely began.
 *
 * Three steps, each a pure function a test can call:
 *  - incident_annotate (features.c), in the analysis, reads the lines behind
 *    each finding of a window and records on it what can tie it to others:
 *    the event time of its first and last anomalous line, the other services
 *    (or their hosts) those lines name, and the trace / request ids in them;
 *    and, over all the window's lines, which services it named (the call
 *    graph, learned from history).
 *  - incident_choose (correlate.c), inside the store's finish transaction,
 *    picks the open incidents a new finding ties to: those with a member close
 *    in event time AND tied to it (named, shared ids, the same service, or a
 *    call-graph edge between two failures that propagate). It joins the
 *    oldest, and merges the others into it; with none it opens its own.
 *  - incident_describe (correlate.c) gives an incident's span, severity,
 *    services, root and the correlation's own summary from its members.
 *
 * Only jansson and the C library: the store calls these without any other room.
 */
#ifndef ANOMALOG_INCIDENT_H
#define ANOMALOG_INCIDENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/** Settings (incident.* in the configuration file). */
typedef struct incident_config {
    int enabled;        /**< incident.enabled: correlate findings into incidents (default 1) */
    int64_t gap_ms;     /**< incident.gap: findings whose anomalous lines are further apart never join (5m) */
    int64_t quiet_ms;   /**< incident.quiet: an incident with no new member this long is resolved (15m) */
    int64_t group_wait_ms; /**< incident.group_wait: an incident's opens are held this long after it opened (30s) */
} incident_config;

#define INCIDENT_GAP_DEFAULT_MS (5 * 60 * 1000)
#define INCIDENT_QUIET_DEFAULT_MS (15 * 60 * 1000)
#define INCIDENT_GROUP_WAIT_DEFAULT_MS (30 * 1000)
/** A call-graph edge counts once its caller named its callee in this many windows. */
#define INCIDENT_CALL_MIN_WINDOWS 2
/** Bounds of what a finding records: services named, ids, lines read per finding. */
#define INCIDENT_MAX_MENTIONS 16
#define INCIDENT_MAX_TRACE_IDS 16
#define INCIDENT_MAX_LINES 5000
#define INCIDENT_MAX_ID_LEN 64

/** One window line as the annotation reads it. */
typedef struct incident_line {
    int64_t ts_ms;
    int level;              /**< 0 unknown, 4 warn, 5 error, 6 fatal (digest_level_rank) */
    const char *message;
    int64_t template_id;
} incident_line;

/**
 * Annotates each finding of anomalies (an array of anomaly objects with
 * "template_ids"): "first_ts" and "last_ts" (ms) of the lines behind it (the
 * lines of its templates; with none, the window's error lines; with none of
 * those either, all its lines), "mentions" (the names among names[] other
 * than service that those lines name, as a word or a host named after the
 * service: db, db-1, db.internal:5432) and "trace_ids" (values of trace_id,
 * request_id, correlation id and the like in them). At most
 * INCIDENT_MAX_LINES lines are read per finding.
 * @param[out] calls  when not NULL, a new object {name: lines} of the services
 *                    the window's lines name (its calls), or NULL when out of memory
 * @return 0, or -1 when out of memory
 */
int incident_annotate(json_t *anomalies, const char *service, const incident_line *lines, size_t n,
                      const char *const *names, size_t n_names, json_t **calls);

/**
 * incident_annotate a line at a time, so that a window's lines can stream
 * from the store: the annotator keeps, per finding and per basis (its
 * templates, error lines, all lines), what those lines gave so far (bounded
 * as above), and incident_annotator_end picks the basis incident_annotate
 * would have. anomalies and names must outlive it.
 * @return NULL when out of memory
 */
typedef struct incident_annotator incident_annotator;
incident_annotator *incident_annotator_new(json_t *anomalies, const char *service, const char *const *names,
                                           size_t n_names, int want_calls);
/** The window's next line. @return 0, or -1 when out of memory (end then fails). */
int incident_annotator_add(incident_annotator *an, const incident_line *l);
/** Writes the findings' fields and *calls (when want_calls) as incident_annotate does, and frees an. */
int incident_annotator_end(incident_annotator *an, json_t **calls);
/** Frees an annotator without writing anything. Accepts NULL. */
void incident_annotator_free(incident_annotator *an);

/**
 * Whether text names service, as a word or a host named after it: the word
 * itself, or followed by '-', '.' or '_' and more, or by digits alone
 * (db-primary, payments.internal, cache2; not db12f3, a hex id). Case does
 * not matter.
 */
int incident_names(const char *text, size_t len, const char *service);

/** A finding as correlation reads it (from the store). */
typedef struct incident_member {
    int64_t anomaly_id, incident_id;
    const char *service, *type, *severity, *summary;
    int severity_rank;
    int64_t first_ts, last_ts;
    const json_t *mentions;   /**< array of service names, or NULL */
    const json_t *trace_ids;  /**< array of strings, or NULL */
} incident_member;

/** A call-graph edge: caller's lines name callee. */
typedef struct incident_edge {
    const char *caller, *callee;
} incident_edge;

/**
 * How strongly f and m are tied, 0 when not at all or not close in event time
 * (their anomalous lines more than gap_ms apart): 4 one names the other's
 * service, 4 a shared trace / request id, 2 the same service, 1 a call-graph
 * edge between them when neither is an authentication, security or
 * configuration finding (those do not propagate down a call).
 */
int incident_tie(const incident_member *f, const incident_member *m, const incident_edge *edges, size_t n_edges,
                 int64_t gap_ms);

/**
 * The incidents f ties to among the members of open incidents (each with its
 * incident_id), oldest (smallest id) first: f joins the first, and a finding
 * tied to several bridges them (the cascade's middle, analysed after both
 * ends): the others are merged into the first.
 * @param[out] ids  up to max incident ids
 * @return how many (0: f opens an incident of its own)
 */
size_t incident_choose(const incident_member *f, const incident_member *members, size_t n,
                       const incident_edge *edges, size_t n_edges, int64_t gap_ms, int64_t *ids, size_t max);

/** An incident as its members make it. Strings are malloc'd (incident_view_free). */
typedef struct incident_view {
    int64_t start_ms, end_ms;
    int severity_rank;
    const char *severity;     /**< a member's string */
    json_t *services;         /**< array of names, by first anomalous line */
    char *root_service;
    char *root_reason;        /**< one sentence */
    char *summary;            /**< the correlation's own */
} incident_view;

/**
 * Describes the incident of members[0..n) (n >= 1). Root: among the member
 * services, one whose findings name no other member service (the callee end
 * of the calls) and that the most others name or call, the earliest first
 * anomalous line breaking a draw; when every one names another, the earliest.
 * @return 0, or -1 when out of memory
 */
int incident_describe(const incident_member *members, size_t n, const incident_edge *edges, size_t n_edges,
                      incident_view *out);

void incident_view_free(incident_view *v);

/** Bytes of each field of the model's answer for an incident. */
#define INCIDENT_ANSWER_MAX 2000

/**
 * The model's answer for an incident (answer.c): the JSON object in text
 * (bare, fenced or among prose) with "summary", "root_cause" and
 * "first_action", each a non-empty string of at most INCIDENT_ANSWER_MAX
 * bytes once trimmed. @return a new object of just those three, or NULL with
 * err saying what was wrong.
 */
json_t *incident_answer_parse(const char *text, size_t len, char *err, size_t errlen);

/** The JSON schema of that answer, for response_format (new reference). */
json_t *incident_answer_schema(void);

#endif
