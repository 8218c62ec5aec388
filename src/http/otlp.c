/*
 * otlp.c — POST /v1/logs: OTLP/HTTP logs, so the OpenTelemetry Collector's
 * otlphttp exporter (protobuf, usually gzip) and SDKs (JSON or protobuf)
 * need only an endpoint.
 *
 * Threads: the connection's thread, blocking in the writer like /ingest.
 *
 * Answers follow the OTLP/HTTP spec: 200 with an ExportLogsServiceResponse in
 * the request's encoding (an empty message, or partial_success with
 * rejected_log_records and error_message when some records could not be
 * stored); 400 for a body that will never succeed (senders must not retry);
 * 413; 503 with Retry-After under pressure (senders retry it). Error bodies
 * are anomalog's JSON errors, not google.rpc.Status: OTLP clients act on the
 * status code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anomalog/http.h"
#include "anomalog/metrics.h"
#include "anomalog/ingest.h"

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    do {
        unsigned char byte = v & 0x7f;
        v >>= 7;
        p[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    return n;
}

/* ExportLogsServiceResponse{partial_success = 1: {rejected_log_records = 1, error_message = 2}} */
static void answer_proto(http_response *rs, const ingest_rejects *rej)
{
    rs->status = 200;
    rs->content_type = "application/x-protobuf";
    if (!rej->count)
        return;
    unsigned char inner[300], *out = malloc(320);
    size_t msg_len = strlen(rej->message), n = 0, m = 0;
    if (!out)
        return;
    inner[n++] = 0x08;
    n += put_varint(inner + n, (uint64_t)rej->count);
    inner[n++] = 0x12;
    n += put_varint(inner + n, msg_len);
    memcpy(inner + n, rej->message, msg_len);
    n += msg_len;
    out[m++] = 0x0a;
    m += put_varint(out + m, n);
    memcpy(out + m, inner, n);
    rs->body = (char *)out;
    rs->body_len = m + n;
}

typedef struct otlp_answer {
    int proto;
    ingest_rejects rej;
} otlp_answer;

/* 200 with an ExportLogsServiceResponse in the request's encoding */
static void answer_export(http_response *rs, void *arg)
{
    const otlp_answer *o = arg;
    metrics_items_rejected("/v1/logs", o->rej.count);
    json_decref(rs->json);
    rs->json = NULL;
    if (o->proto) {
        answer_proto(rs, &o->rej);
    } else {
        rs->status = 200;
        rs->json = o->rej.count ? json_pack("{s:{s:I, s:s}}", "partialSuccess", "rejectedLogRecords",
                                            (json_int_t)o->rej.count, "errorMessage", o->rej.message)
                                 : json_object();
    }
}

static int parse_export(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err, void *arg)
{
    otlp_answer *ans = arg;
    return ans->proto ? ingest_parse_otlp_proto(body, len, o, b, err, &ans->rej)
                      : ingest_parse_otlp_json(body, len, o, b, err, &ans->rej);
}

void http_otlp_logs(const app *a, const http_request *rq, http_response *rs)
{
    int proto = http_proto_or_json(rq, rs, "application/x-protobuf or application/json");
    if (proto < 0)
        return;
    otlp_answer ans = {.proto = proto};
    const char *body;
    size_t len;
    char *owned = NULL;
    if (http_ingest_inflate(a, rq, rs, &body, &len, &owned) == 0)
        http_ingest_parse_commit(a, rq, rs, "/v1/logs", body, len, owned, parse_export, answer_export, &ans);
}
