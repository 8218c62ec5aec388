/*
 * response.c — what every handler uses to fill its answer: the one error
 * reply (status, code, message, as {"error": {...}}), the JSON text of a
 * body, clearing an answer to fill it again, and the header Elasticsearch
 * clients check.
 *
 * Threads: functions of the calling connection's thread over its own
 * response. Limits: an error message is cut at 511 bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/http.h"

json_t *http_error(http_response *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(r->json);
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);
    r->json = json_pack("{s:o}", "error", e);
    r->status = status;
    return e;
}

char *http_json_text(const json_t *j, size_t *len)
{
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text)
        return NULL;
    *len = strlen(text);
    text[(*len)++] = '\n'; /* dumps' NUL becomes a trailing newline: curl prints nicely */
    return text;
}

void http_response_clear(http_response *r)
{
    json_decref(r->json);
    r->json = NULL;
    if (r->body && !r->body_static)
        free((char *)r->body);
    r->body = NULL;
    r->body_len = 0;
    r->body_static = 0;
    r->content_type = NULL;
}

void http_es_product(http_response *rs)
{
    rs->extra_header[0] = "X-Elastic-Product";
    rs->extra_header[1] = "Elasticsearch";
}
