/*
 * services.c — GET /services and PUT /services/{name} {"context": "..."}:
 * what normal looks like for a service, in its operators' words; it goes
 * into every prompt of the service. A context set here wins over one from
 * the config file, also after a restart.
 */
#include <string.h>
#include <strings.h>

#include "anomalog/http.h"

#define CONTEXT_MAX 16384

void http_services_list(const app *a, const http_request *rq, http_response *rs)
{
    (void)rq;
    json_t *arr;
    char err[256];
    if (store_services_list(a->st, &arr, err, sizeof err) != STORE_OK) {
        http_storage_unavailable(rs, err);
        return;
    }
    rs->status = 200;
    rs->json = json_pack("{s:o}", "services", arr);
}

void http_service_put(const app *a, const http_request *rq, http_response *rs)
{
    const char *name = rq->params[0];
    if (!http_valid_service(name)) {
        http_bad_param(rs, "name", name, "is not a service name (1 to 128 bytes, no control characters)");
        return;
    }
    const char *ctype = rq->header(rq, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
        http_error(rs, 415, "unsupported_media_type", "send the context as application/json {\"context\": \"...\"}");
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb(rq->body ? rq->body : "", rq->body_len, 0, &jerr);
    json_t *ctx = json_object_get(body, "context");
    if (!body || !json_is_object(body) || !(json_is_string(ctx) || json_is_null(ctx))) {
        json_t *e = http_error(rs, 400, body ? "invalid_entry" : "invalid_json",
                               body ? "expected {\"context\": \"text\"} (or null to clear)" : "invalid JSON: %s",
                               jerr.text);
        if (!body)
            json_object_set_new(e, "line", json_integer(jerr.line));
        json_decref(body);
        return;
    }
    if (json_is_string(ctx) && json_string_length(ctx) > CONTEXT_MAX) {
        http_error(rs, 413, "body_too_large", "context is %zu bytes; at most %d", json_string_length(ctx), CONTEXT_MAX);
        json_decref(body);
        return;
    }
    json_t *svc = NULL;
    char err[256];
    if (store_service_set_context(a->st, name, json_string_value(ctx), "api", &svc, err, sizeof err) != STORE_OK) {
        http_storage_unavailable(rs, err);
    } else {
        rs->status = 200;
        rs->json = svc;
    }
    json_decref(body);
}
