/*
 * loki.c — POST /loki/api/v1/push: Loki's push API, so Promtail, Grafana
 * Alloy, Vector's loki sink and Fluent Bit's loki output need only a URL.
 *
 * Threads: the connection's thread, blocking in the writer like /ingest.
 *
 * Bodies: application/json (optionally gzip) or application/x-protobuf,
 * which Loki clients always compress as a raw snappy block (with or without
 * Content-Encoding: snappy). Decompressed sizes are capped by max_body before
 * any allocation. Success is 204 with no body, as Loki answers; errors are
 * /ingest's (400 for bodies that will never succeed, 413, 415, 503 with
 * Retry-After, which clients retry).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anomalog/http.h"
#include "anomalog/ingest.h"

static void answer_204(http_response *rs, void *arg)
{
    (void)arg;
    rs->status = 204; /* Loki answers a push with 204 and no body */
    json_decref(rs->json);
    rs->json = NULL;
}

static int parse_push(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err, void *arg)
{
    return *(const int *)arg ? ingest_parse_loki_proto(body, len, o, b, err) : ingest_parse_loki_json(body, len, o, b, err);
}

void http_loki_push(const app *a, const http_request *rq, http_response *rs)
{
    int proto = http_proto_or_json(rq, rs, "application/x-protobuf with snappy, or application/json");
    if (proto < 0)
        return;
    const char *body;
    size_t len;
    char *owned = NULL;
    const char *enc = rq->header(rq, "Content-Encoding");
    if (proto) {
        if (enc && *enc && strcasecmp(enc, "snappy") != 0 && strcasecmp(enc, "identity") != 0) {
            http_error(rs, 415, "unsupported_encoding",
                       "Content-Encoding \"%s\" is not supported with protobuf (bodies are snappy blocks)", enc);
            return;
        }
        switch (ingest_unsnappy(rq->body ? rq->body : "", rq->body_len, a->cfg->max_body, &owned, &len)) {
        case GUNZIP_OK:
            body = owned;
            break;
        case GUNZIP_TOO_LARGE:
            http_error(rs, 413, "body_too_large", "decompressed body is over the limit of %llu bytes",
                       (unsigned long long)a->cfg->max_body);
            return;
        case GUNZIP_CORRUPT:
            http_error(rs, 400, "invalid_snappy", "body is not a snappy-compressed block");
            return;
        default:
            http_error(rs, 500, "internal", "out of memory");
            return;
        }
    } else if (http_ingest_inflate(a, rq, rs, &body, &len, &owned) != 0) {
        return;
    }
    http_ingest_parse_commit(a, rq, rs, "/loki/api/v1/push", body, len, owned, parse_push, answer_204, &proto);
}
