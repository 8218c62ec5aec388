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
} http_request;

typedef struct http_response {
    int status;
    json_t *json;               /**< owned; NULL for an empty body */
    /** A non-JSON body (text, HTML, JS, CSS), used when json is NULL: malloc'd and
     *  owned unless body_static; content_type names it. */
    const char *body;
    size_t body_len;
    int body_static;
    const char *content_type;   /**< static string */
    char retry_after[16];       /**< Retry-After header when not empty */
    char allow[64];             /**< Allow header when not empty */
} http_response;

typedef struct http_server http_server;

/**
 * Starts serving on cfg->listen.
 * @param[out] port  the port bound (useful with port 0)
 */
http_server *http_start(const app *a, int *port, char *err, size_t errlen);

/** Stops accepting, lets requests in progress finish (up to a timeout), closes. Accepts NULL. */
void http_stop(http_server *s);

/** Fills r with an error answer {"error": {"code", "message"}}; returns the error object to add fields to. */
json_t *http_error(http_response *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Handlers, one file per endpoint family (src/http/<family>.c). */
void http_ingest_post(const app *a, const http_request *rq, http_response *rs);
void http_windows_list(const app *a, const http_request *rq, http_response *rs);
void http_window_get(const app *a, const http_request *rq, http_response *rs);
void http_windows_flush(const app *a, const http_request *rq, http_response *rs);
void http_anomalies_list(const app *a, const http_request *rq, http_response *rs);
void http_anomaly_feedback(const app *a, const http_request *rq, http_response *rs);
void http_services_list(const app *a, const http_request *rq, http_response *rs);
void http_service_put(const app *a, const http_request *rq, http_response *rs);
void http_notifications_list(const app *a, const http_request *rq, http_response *rs);
void http_suppressions_list(const app *a, const http_request *rq, http_response *rs);
void http_healthz(const app *a, const http_request *rq, http_response *rs);
void http_readyz(const app *a, const http_request *rq, http_response *rs);
void http_metrics_get(const app *a, const http_request *rq, http_response *rs);
void http_ui_index(const app *a, const http_request *rq, http_response *rs);
void http_ui_asset(const app *a, const http_request *rq, http_response *rs);

/**
 * GETs /readyz from the service on listen (0.0.0.0 and :: mean loopback).
 * @return 0 when it answers 200, -1 otherwise with err filled.
 */
int http_healthcheck(const char *listen, char *err, size_t errlen);

/* Shared parameter parsing of the read endpoints (src/http/params.c). Each
 * returns 0, or -1 after filling rs with a 400 invalid_parameter naming it. */
int http_param_time(const http_request *rq, http_response *rs, const char *name, int *has, int64_t *ms);
int http_param_limit(const http_request *rq, http_response *rs, int *limit);
int http_param_cursor(const http_request *rq, http_response *rs, int *has, int64_t *start, int64_t *id);
int http_param_enum(const http_request *rq, http_response *rs, const char *name, const char *const *allowed,
                    const char **out);
json_t *http_bad_param(http_response *rs, const char *name, const char *value, const char *why);
int http_valid_service(const char *s);

/** Dispatches rq to its route (fills params); answers 404/405 itself. */
void http_dispatch(const app *a, http_request *rq, http_response *rs);

#endif
