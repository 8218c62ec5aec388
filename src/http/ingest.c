/*
 * ingest.c — POST /ingest: a batch of log lines in, 202 once it is on disk.
 *
 * Threads: runs on the connection's thread; blocks in writer_submit() until
 * the writer has committed the batch. Nothing here touches the database.
 *
 * Order of checks: content type (415), encoding (415), gunzip within the body
 * limit (413 / 400), default service (400), parse (400 / 413, naming the line
 * or index), then the writer (503 with Retry-After when full or stopping, or
 * when the database refuses). Whatever the answer, a batch is stored whole or
 * not at all.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anomalog/http.h"
#include "anomalog/ingest.h"
#include "anomalog/metrics.h"

static void answer_parse_error(http_response *rs, const ingest_error *e)
{
    json_t *obj = http_error(rs, e->status, e->code, "%s", e->message);
    if (e->line > 0)
        json_object_set_new(obj, "line", json_integer(e->line));
    if (e->index >= 0)
        json_object_set_new(obj, "index", json_integer(e->index));
}

static void ingest_post(const app *a, const http_request *rq, http_response *rs)
{
    const config *cfg = a->cfg;
    const char *ctype = rq->header(rq, "Content-Type");
    ingest_format fmt = ingest_format_from_content_type(ctype);
    if (fmt == INGEST_UNKNOWN) {
        http_error(rs, 415, "unsupported_media_type",
                   "Content-Type %s%s%s is not understood (use text/plain, application/x-ndjson or application/json)",
                   ctype ? "\"" : "", ctype ? ctype : "missing", ctype ? "\"" : "");
        return;
    }

    const char *body = rq->body ? rq->body : "";
    size_t len = rq->body_len;
    char *inflated = NULL;
    const char *enc = rq->header(rq, "Content-Encoding");
    if (enc && *enc && strcasecmp(enc, "identity") != 0) {
        if (strcasecmp(enc, "gzip") != 0 && strcasecmp(enc, "x-gzip") != 0) {
            http_error(rs, 415, "unsupported_encoding", "Content-Encoding \"%s\" is not supported (use gzip)", enc);
            return;
        }
        switch (ingest_gunzip(body, len, cfg->max_body, &inflated, &len)) {
        case GUNZIP_OK:
            body = inflated;
            break;
        case GUNZIP_TOO_LARGE:
            http_error(rs, 413, "body_too_large", "decompressed body is over the limit of %llu bytes",
                       (unsigned long long)cfg->max_body);
            return;
        case GUNZIP_CORRUPT:
            http_error(rs, 400, "invalid_gzip", "body is not valid gzip");
            return;
        case GUNZIP_NOMEM:
            http_error(rs, 500, "internal", "out of memory");
            return;
        }
    }

    const char *service = rq->query(rq, "service");
    const char *where = "query parameter service";
    if (!service || !*service) {
        service = rq->header(rq, "X-Service");
        where = "header X-Service";
    }
    if (!service || !*service)
        service = "default";
    else if (!http_valid_service(service)) {
        json_t *e = http_error(rs, 400, "invalid_parameter", "%s: a service name is 1 to 128 bytes without control characters", where);
        json_object_set_new(e, "parameter", json_string(strcmp(where, "header X-Service") ? "service" : "X-Service"));
        free(inflated);
        return;
    }

    ingest_opts o = {
        .default_service = service,
        .received_ms = rq->received_ms,
        .tz_offset_s = cfg->tz_offset_s,
        .max_line = cfg->max_line,
        .max_entries = cfg->max_entries,
    };
    batch *b = batch_new(rq->received_ms);
    ingest_error perr = {.index = -1};
    int prc = b ? ingest_parse(fmt, body, len, &o, b, &perr) : -2;
    free(inflated);
    if (prc == -1) {
        answer_parse_error(rs, &perr);
    } else if (prc != 0) {
        http_error(rs, 500, "internal", "out of memory while parsing");
    } else {
        char werr[256] = "";
        writer_rc wrc = b->count ? writer_submit(a->wr, b, werr, sizeof werr) : WRITER_OK;
        switch (wrc) {
        case WRITER_OK:
            metrics_ingested("/ingest", b);
            rs->status = 202;
            rs->json = json_pack("{s:I, s:{s:I, s:I, s:I, s:I, s:I}}", "accepted", (json_int_t)b->count,
                                 "normalized", "timestamp_defaulted", (json_int_t)b->stats.timestamp_defaulted,
                                 "service_defaulted", (json_int_t)b->stats.service_defaulted, "level_normalized",
                                 (json_int_t)b->stats.level_normalized, "lines_joined",
                                 (json_int_t)b->stats.lines_joined, "truncated", (json_int_t)b->stats.truncated);
            break;
        case WRITER_FULL:
            http_error(rs, 503, "queue_full", "the writer queue is full (%llu batches): retry later",
                       (unsigned long long)cfg->queue_depth);
            snprintf(rs->retry_after, sizeof rs->retry_after, "1");
            break;
        case WRITER_STOPPING:
            http_error(rs, 503, "stopping", "the service is shutting down: retry on another replica or later");
            snprintf(rs->retry_after, sizeof rs->retry_after, "5");
            break;
        case WRITER_FAILED:
            http_error(rs, 503, "storage_unavailable", "the database refused the batch: %s", werr);
            snprintf(rs->retry_after, sizeof rs->retry_after, "5");
            break;
        }
    }
    batch_free(b);
}

void http_ingest_post(const app *a, const http_request *rq, http_response *rs)
{
    ingest_post(a, rq, rs);
    if (rs->status >= 400) /* every refusal counts once, by its error code */
        metrics_rejected("/ingest", json_string_value(json_object_get(json_object_get(rs->json, "error"), "code")));
}
