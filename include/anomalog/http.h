/**
 * @file http.h
 * @brief The HTTP server: routing, request limits, JSON answers.
 *
 * Only src/http/server.c includes microhttpd.h. Handlers take a plain
 * http_request and fill a plain http_response, so their logic can be tested
 * without a socket.
 */
#ifndef ANOMALOG_HTTP_H
#define ANOMALOG_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "anomalog/analyzer.h"
#include "anomalog/config.h"
#include "anomalog/ingest.h"
#include "anomalog/store.h"
#include "anomalog/writer.h"

/** What handlers may use: read-only after start-up. */
typedef struct app {
    const config *cfg;
    store *st;
    writer *wr;
    analyzer *an;    /**< woken when windows are flushed; may be NULL */
} app;

#define HTTP_MAX_PARAMS 2
#define HTTP_IDEM_KEY_MAX 255 /**< bytes of an Idempotency-Key */

/**
 * An ingest request that carries an Idempotency-Key, between http_idem_begin()
 * and http_idem_end() (src/http/idempotency.c). Lives on the dispatching
 * thread's stack; while it does, the same key of the same scope is "in flight".
 */
typedef struct http_idem {
    char scope[32];                  /**< "" (ingest open), "auth.ingest_token" or "auth.tokens[N]" */
    char key[HTTP_IDEM_KEY_MAX + 1];
    unsigned char body_sha256[32];   /**< of the body as sent */
    const char *endpoint;            /**< the request path */
    struct http_idem *next;          /**< in the in-flight table */
    unsigned bucket;
} http_idem;

typedef struct http_request {
    const char *method;
    const char *path;
    const char *params[HTTP_MAX_PARAMS];  /**< {name} segments of the route, in order */
    const char *body;                      /**< NULL when there is none */
    size_t body_len;
    int64_t received_ms;
    /** Header (case-insensitive) or query argument, or NULL. */
    const char *(*header)(const struct http_request *r, const char *name);
    const char *(*query)(const struct http_request *r, const char *name);
    void *conn;                            /**< for header()/query() */
    const char *bound_service;             /**< set by dispatch: the service the ingest token is bound to, or NULL */
    int token;                             /**< set by dispatch: the token that authorized it (see http_authorized) */
    const http_idem *idem;                 /**< set by dispatch: the request's Idempotency-Key, or NULL */
    const char *route;                     /**< set by dispatch: the matched route's pattern, or NULL (404) */
} http_request;

typedef struct http_response {
    int status;
    json_t *json;               /**< owned; NULL for an empty body */
    /** A non-JSON body (text, HTML, JS, CSS, protobuf), used when json is NULL: malloc'd and
     *  owned unless body_static; content_type names it. content_type may be set with body NULL:
     *  an empty body of that type. */
    const char *body;
    size_t body_len;
    int body_static;
    const char *content_type;   /**< static string */
    char retry_after[16];       /**< Retry-After header when not empty */
    char allow[64];             /**< Allow header when not empty */
    const char *extra_header[2]; /**< static name and value of one more header, or NULL */
    int replayed;               /**< 1: the answer recorded for the Idempotency-Key (Idempotent-Replayed: true) */
} http_response;

typedef struct http_server http_server;

/**
 * Starts serving on cfg->listen.
 * @param[out] port  the port bound (useful with port 0)
 */
http_server *http_start(const app *a, int *port, char *err, size_t errlen);

/** Stops accepting, lets requests in progress finish (up to a timeout), closes. Accepts NULL. */
void http_stop(http_server *s);

/**
 * The connection gauges and counters of the running server, in Prometheus text:
 * anomalog_http_connections_open, anomalog_http_connections_open_busiest_address (the count of the
 * address with the most) and anomalog_http_connections_refused_total{reason}. Zero gauges when no server
 * runs. @return malloc'd text (caller frees), or NULL when out of memory.
 */
char *http_connections_metrics(size_t *len);

/** A JSON answer's body exactly as sent: compact, with a trailing newline. malloc'd (caller frees), or NULL. */
char *http_json_text(const json_t *j, size_t *len);

/** Frees the body of r (json or a non-static body) and forgets its content type. */
void http_response_clear(http_response *r);

/** Fills r with an error answer {"error": {"code", "message"}}; returns the error object to add fields to. */
json_t *http_error(http_response *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Handlers, one file per endpoint family (src/http/<family>.c). */
void http_ingest_post(const app *a, const http_request *rq, http_response *rs);
void http_windows_list(const app *a, const http_request *rq, http_response *rs);
void http_window_get(const app *a, const http_request *rq, http_response *rs);
void http_window_lines(const app *a, const http_request *rq, http_response *rs);
void http_windows_flush(const app *a, const http_request *rq, http_response *rs);
void http_anomalies_list(const app *a, const http_request *rq, http_response *rs);
void http_anomaly_feedback(const app *a, const http_request *rq, http_response *rs);
void http_incidents_list(const app *a, const http_request *rq, http_response *rs);
void http_incident_get(const app *a, const http_request *rq, http_response *rs);
void http_incident_feedback(const app *a, const http_request *rq, http_response *rs);

/**
 * The body of a feedback POST (src/http/anomalies.c): {"verdict": "false_positive"|"true_positive",
 * "note": text of at most 4096 bytes, or null}. @return 0 with *body (caller decrefs) and *verdict, *note
 * (NULL when absent) borrowed from it; or -1 after answering 415, or 400 naming the field in "field".
 */
int http_feedback_body(const http_request *rq, http_response *rs, json_t **body, const char **verdict,
                       const char **note);
/** How a feedback POST records its verdict: store_anomaly_feedback or store_incident_feedback. */
typedef store_rc (*http_feedback_fn)(store *s, int64_t id, const char *verdict, const char *note, json_t **out,
                                     char *err, size_t errlen);
/**
 * POST /{anomalies|incidents}/{id}/feedback: the id (400 "is not <an_what> id"), the body
 * (http_feedback_body), then record(); 200 with what it gives, 404 "no <what> <id>", or 503.
 */
void http_feedback_post(const app *a, const http_request *rq, http_response *rs, const char *an_what,
                        const char *what, http_feedback_fn record);
void http_services_list(const app *a, const http_request *rq, http_response *rs);
void http_service_put(const app *a, const http_request *rq, http_response *rs);
void http_notifications_list(const app *a, const http_request *rq, http_response *rs);
void http_suppressions_list(const app *a, const http_request *rq, http_response *rs);
void http_healthz(const app *a, const http_request *rq, http_response *rs);
void http_readyz(const app *a, const http_request *rq, http_response *rs);
void http_metrics_get(const app *a, const http_request *rq, http_response *rs);
/**
 * Whether a request for an API object is a browser's navigation that should get the dashboard instead:
 * its Accept names text/html before (or without) application/json.
 */
int http_page_wanted(const http_request *rq);
void http_ui_index(const app *a, const http_request *rq, http_response *rs);
void http_ui_asset(const app *a, const http_request *rq, http_response *rs);
/** GET /: the dashboard (http_ui_index) for a browser, the Elasticsearch version probe (http_es_root) when
 *  http_es_probe_wanted(). */
void http_root_get(const app *a, const http_request *rq, http_response *rs);

/* What every ingest endpoint shares (src/http/ingest.c). Each returns 0, or -1
 * after filling rs with the error answer. */
/** Gunzips the body when Content-Encoding says so; *owned (caller frees) holds the inflated copy or NULL. */
int http_ingest_inflate(const app *a, const http_request *rq, http_response *rs, const char **body, size_t *len,
                       char **owned);
/** Turns the default answer to a stored batch (202 {"accepted",...}) into an endpoint's own answer. */
typedef void (*http_ingest_answer_fn)(http_response *rs, void *arg);
/**
 * Answers a parse result (prc/perr as from ingest_parse) or, when it succeeded, puts every entry in
 * rq->bound_service when set, fills rs with the success answer (202 {"accepted",...}, then answer(rs, arg)
 * when answer is not NULL), records it with rq->idem's key in the batch's transaction, submits b to the
 * writer, and keeps that answer once the commit succeeded (counted in the metrics under endpoint), or
 * replaces it with 503 and Retry-After. b may be NULL when prc is -2.
 */
int http_ingest_commit(const app *a, const http_request *rq, http_response *rs, const char *endpoint, batch *b,
                       int prc, const ingest_error *perr, http_ingest_answer_fn answer, void *arg);
/** An endpoint's parser: body into b, returning as ingest_parse does; arg is the endpoint's own state. */
typedef int (*http_ingest_parse_fn)(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                                    void *arg);
/**
 * The steps every ingest endpoint takes once its body is decompressed: the default service of entries
 * without one (?service=, then X-Service, then "default"; a bad one is a 400), the parser's options from the
 * config, a batch parsed by parse(arg), then http_ingest_commit() under endpoint with answer(arg) (NULL:
 * the default answer). Frees owned (the decompressed copy, or NULL).
 */
void http_ingest_parse_commit(const app *a, const http_request *rq, http_response *rs, const char *endpoint,
                              const char *body, size_t len, char *owned, http_ingest_parse_fn parse,
                              http_ingest_answer_fn answer, void *arg);
/** 1 when the media type of Content-Type ct (parameters aside, case ignored) is want. */
int http_content_type_is(const char *ct, const char *want);
/** 415 unsupported_media_type quoting ctype (or "missing") and naming what to use instead. */
void http_unsupported_type(http_response *rs, const char *ctype, const char *use);
/** 1 for a Content-Type of application/x-protobuf, 0 for application/json; else -1 after
 *  http_unsupported_type() naming `use`. */
int http_proto_or_json(const http_request *rq, http_response *rs, const char *use);
/** Counts rs in anomalog_ingest_rejected_batches_total{endpoint} when it is a refusal (status >= 400). */
void http_ingest_count_rejection(const char *endpoint, const http_response *rs);
/** The metrics endpoint label of an ingest path ("/ingest", "/loki/api/v1/push", "/v1/logs", "/_bulk" for
 *  both bulk routes), or NULL when path is no ingest route. */
const char *http_ingest_endpoint(const char *path);

/* Shipper-native endpoints (src/http/loki.c, ...). */
void http_loki_push(const app *a, const http_request *rq, http_response *rs);
void http_otlp_logs(const app *a, const http_request *rq, http_response *rs);
void http_es_bulk(const app *a, const http_request *rq, http_response *rs);
void http_es_root(const app *a, const http_request *rq, http_response *rs); /**< the version document, always */
void http_es_license(const app *a, const http_request *rq, http_response *rs);
/** GET /_cluster/health: "green" while the writer takes batches (Vector's elasticsearch sink checks it at start). */
void http_es_cluster_health(const app *a, const http_request *rq, http_response *rs);
/** Marks rs as an Elasticsearch answer (X-Elastic-Product), as newer bulk clients check. */
void http_es_product(http_response *rs);
/** 1 when a GET / is an API client's version probe (Accept without text/html), 0 when a browser's. */
int http_es_probe_wanted(const http_request *rq);

/**
 * GETs /readyz from the service on cfg's listen address (0.0.0.0 and :: mean loopback).
 * @return 0 when it answers 200, -1 otherwise with err filled.
 */
int http_healthcheck(const config *cfg, char *err, size_t errlen);

/* Shared parameter parsing of the read endpoints (src/http/params.c). Each
 * returns 0, or -1 after filling rs with a 400 invalid_parameter naming it. */
int http_param_time(const http_request *rq, http_response *rs, const char *name, int *has, int64_t *ms);
int http_param_limit(const http_request *rq, http_response *rs, int *limit);
int http_param_cursor(const http_request *rq, http_response *rs, int *has, int64_t *start, int64_t *id);
int http_param_enum(const http_request *rq, http_response *rs, const char *name, const char *const *allowed,
                    const char **out);
json_t *http_bad_param(http_response *rs, const char *name, const char *value, const char *why);

/** Where a list's query (window_query, anomaly_query, incident_query) keeps what every list takes. */
typedef struct http_list_fields {
    const char **service;
    int *has_since, *has_until;
    int64_t *since_ms, *until_ms;
    int *limit, *has_cursor;
    int64_t *cursor_start, *cursor_id;
} http_list_fields;
/** The http_list_fields of a query q: the three queries name these fields alike. */
#define HTTP_LIST_FIELDS(q)                                                                                        \
    ((http_list_fields){&(q).service, &(q).has_since, &(q).has_until, &(q).since_ms, &(q).until_ms, &(q).limit,  \
                        &(q).has_cursor, &(q).cursor_start, &(q).cursor_id})
/** A list's filter by one of a few words: ?name=, one of allowed (NULL-ended), into *out (NULL when absent). */
typedef struct http_list_enum {
    const char *name;
    const char *const *allowed;
    const char **out;
} http_list_enum;
/**
 * The parameters of a list (GET /windows, /anomalies, /incidents), in the order they are checked: service
 * (empty is none), the list's two word filters, since, until, limit and cursor. 0, or -1 after answering
 * 400 invalid_parameter naming the first bad one.
 */
int http_list_params(const http_request *rq, http_response *rs, http_list_fields f, http_list_enum first,
                     http_list_enum second);
/** Answers a page of a list: 200 {key: rows (taken), "next_cursor": cursor, or null when it is empty}. */
void http_list_answer(http_response *rs, const char *key, json_t *rows, const char *cursor);
/** 503 storage_unavailable with Retry-After: 1, err as the message. */
void http_storage_unavailable(http_response *rs, const char *err);
/** The positive integer id of a /{id} path (rq->params[0]), or 0 after answering 400 "is not <what> id". */
long long http_param_id(const http_request *rq, http_response *rs, const char *what);
/** 0 when rc is STORE_OK; else -1 after answering 404 "no <what> <id>" (STORE_NOTFOUND) or 503 with err. */
int http_store_found(http_response *rs, store_rc rc, const char *what, long long id, const char *err);
int http_valid_service(const char *s);

/* GET /services' cursor: a service name in lowercase hex (src/http/services.c). */
#define HTTP_SERVICE_NAME_MAX 128
/** name (at most HTTP_SERVICE_NAME_MAX bytes are encoded) into out, NUL-terminated; out holds 2*max + 1. */
void http_services_cursor_encode(const char *name, char *out, size_t outlen);
/** The name cursor v stands for into name (HTTP_SERVICE_NAME_MAX + 1 bytes): 0, or -1 when v is not one. */
int http_services_cursor_decode(const char *v, char *name);

/** Who may call a route: readers (the default), shippers (ingest), anyone (health, probes), or those who
 * change state (service context, feedback, flush: the write scope). */
typedef enum http_access { HTTP_ACCESS_READ = 0, HTTP_ACCESS_INGEST, HTTP_ACCESS_OPEN, HTTP_ACCESS_WRITE } http_access;

/**
 * 1 when the Authorization header value (may be NULL) carries a token the access needs (Bearer, Basic
 * with the token as password, or ApiKey), or when no such token is configured; else 0.
 * Ingest needs an ingest-scoped token once one is configured (auth.ingest_token, or auth.tokens with
 * scope ingest). Read needs a read or write token once a read token is configured (auth.read_token, or
 * auth.tokens with scope read). Write needs a write token (auth.write_token, or auth.tokens with scope
 * write) once any read or write token is configured: a read token never changes state.
 * @param[out] bound_service  the service an auth.tokens token is bound to, else NULL (points into cfg)
 * @param[out] token  which token it carried: -1 none needed, 0 auth.ingest_token or auth.read_token,
 *                    N + 1 auth.tokens[N]
 */
/** The scopes (CONFIG_SCOPE_* bits; write implies read) of the configured token the header carries; 0 when none. */
unsigned http_token_scopes(const config *cfg, const char *authorization);

int http_authorized(const config *cfg, http_access access, const char *authorization, const char **bound_service,
                    int *token);

/**
 * Idempotency-Key of an ingest request (src/http/idempotency.c), called by dispatch once the request
 * is authorized. A key recorded with a committed batch of the same scope is answered from the record;
 * else the key is marked in flight until http_idem_end().
 * @return 0: no key; 1: a fresh key, in flight (rq->idem points to k); -1: rs is filled (400 bad key,
 *         409 in flight, 422 reused with another body or endpoint, the replayed answer, 503)
 */
int http_idem_begin(const app *a, http_request *rq, http_response *rs, http_idem *k);
/** The key is no longer in flight. */
void http_idem_end(http_idem *k);
/**
 * Fills rec with rq->idem's key and the answer rs (a batch's record, see batch_idempotency).
 * @param[out] owned  bytes rec points to (caller frees after the commit), or NULL
 * @return 0, or -1 when out of memory
 */
int http_idem_record(const http_request *rq, const http_response *rs, batch_idempotency *rec, char **owned);

/** Dispatches rq to its route (fills params); answers 404/405 itself. */
void http_dispatch(const app *a, http_request *rq, http_response *rs);

#endif
