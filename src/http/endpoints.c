/*
 * endpoints.c — the ingest endpoints by name: which request path is one
 * (the name its metrics series, its refusals and its Idempotency-Key scope
 * carry), and the count of a refusal; and the Content-Type they take: one
 * comparison (media type only, case ignored), one 415, and the protobuf-or-JSON
 * choice of the Loki and OTLP endpoints. The dispatcher, idempotency.c and each
 * ingest endpoint use it, so none of them calls another for it.
 *
 * Threads: pure, or one atomic counter (metrics.c). Limits: none.
 */
#include <string.h>
#include <strings.h>

#include "anomalog/http.h"
#include "anomalog/metrics.h"

int http_content_type_is(const char *ct, const char *want)
{
    if (!ct)
        return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    return strlen(want) == n && strncasecmp(ct, want, n) == 0;
}

void http_unsupported_type(http_response *rs, const char *ctype, const char *use)
{
    http_error(rs, 415, "unsupported_media_type", "Content-Type %s%s%s is not understood (use %s)", ctype ? "\"" : "",
               ctype ? ctype : "missing", ctype ? "\"" : "", use);
}

int http_proto_or_json(const http_request *rq, http_response *rs, const char *use)
{
    const char *ctype = rq->header(rq, "Content-Type");
    if (http_content_type_is(ctype, "application/x-protobuf"))
        return 1;
    if (http_content_type_is(ctype, "application/json"))
        return 0;
    http_unsupported_type(rs, ctype, use);
    return -1;
}

void http_ingest_count_rejection(const char *endpoint, const http_response *rs)
{
    if (rs->status >= 400) /* every refusal counts once, by its error code */
        metrics_rejected(endpoint, json_string_value(json_object_get(json_object_get(rs->json, "error"), "code")));
}

const char *http_ingest_endpoint(const char *path)
{
    static const char *const fixed[] = {"/ingest", "/loki/api/v1/push", "/v1/logs", "/_bulk"};
    if (!path)
        return NULL;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(path, fixed[i]) == 0)
            return fixed[i];
    size_t n = strlen(path);
    if (n > 7 && path[0] == '/' && strcmp(path + n - 6, "/_bulk") == 0 && !memchr(path + 1, '/', n - 7))
        return "/_bulk"; /* /{index}/_bulk: one series whatever the index */
    return NULL;
}
