/*
 * services.c — GET /services and PUT /services/{name} {"context": "..."}:
 * what normal looks like for a service, in its operators' words; it goes
 * into every prompt of the service. A context set here wins over one from
 * the config file, also after a restart.
 *
 * The listing is paged like /anomalies and /windows (limit, cursor,
 * next_cursor), by name; a page is also cut at SERVICES_PAGE_BYTES of JSON.
 * Threads: any HTTP thread; the store call borrows a read connection.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "anomalog/http.h"

#define CONTEXT_MAX 16384
/* The bytes of JSON one page of GET /services holds at most (one service's JSON is at most ~100 KiB: 16 KiB of
 * context, each byte escaped to 6 at worst), so an answer, and what a slow reader keeps buffered, stays small. */
#define SERVICES_PAGE_BYTES (1u << 20)

/* The cursor is the page's last name in hex: opaque, safe in a query string without encoding. */
void http_services_cursor_encode(const char *name, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    for (; name[i] && i < HTTP_SERVICE_NAME_MAX && 2 * i + 2 < outlen; i++) {
        out[2 * i] = hex[(unsigned char)name[i] >> 4];
        out[2 * i + 1] = hex[(unsigned char)name[i] & 15];
    }
    out[2 * i] = '\0';
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int http_services_cursor_decode(const char *v, char *name)
{
    size_t n = strlen(v);
    if (n == 0 || n % 2 || n > 2 * HTTP_SERVICE_NAME_MAX)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        name[i] = (char)(hi << 4 | lo);
    }
    name[n / 2] = '\0';
    return strlen(name) == n / 2 ? 0 : -1; /* any bytes but NUL: it is only where the next page starts */
}

void http_services_list(const app *a, const http_request *rq, http_response *rs)
{
    service_query q = {.max_bytes = SERVICES_PAGE_BYTES};
    char after[HTTP_SERVICE_NAME_MAX + 1];
    const char *cur = rq->query(rq, "cursor");
    if (http_param_limit(rq, rs, &q.limit))
        return;
    if (cur && *cur) {
        if (http_services_cursor_decode(cur, after)) {
            http_bad_param(rs, "cursor", cur, "is not a cursor this service gave out");
            return;
        }
        q.after = after;
    }
    json_t *arr;
    char last[HTTP_SERVICE_NAME_MAX + 1], next[2 * HTTP_SERVICE_NAME_MAX + 1], err[256];
    if (store_services_list(a->st, &q, &arr, last, sizeof last, err, sizeof err) != STORE_OK) {
        http_storage_unavailable(rs, err);
        return;
    }
    http_services_cursor_encode(last, next, sizeof next);
    http_list_answer(rs, "services", arr, next);
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
