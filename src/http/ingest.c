/*
 * ingest.c — POST /ingest: a batch of log lines in, 202 once it is on disk.
 *
 * Threads: runs on the connection's thread; blocks in writer_submit() until
 * the batch is safe: in the ingest journal, or committed where there is none
 * (writer.c). Nothing here writes to the database; count_late reads it.
 *
 * Order of checks: content type (415), encoding (415), gunzip within the body
 * limit (413 / 400), default service (400), parse (400 / 413, naming the line
 * or index), event times not within reason set to the receive time (counted), lines for a window no
 * longer open counted as late (one read per distinct window: the only database access here), then the writer (503 with Retry-After when full or stopping, or
 * when the database refuses). Whatever the answer, a batch is stored whole or
 * not at all. Every ingest endpoint commits through http_ingest_commit(),
 * which also records the request's Idempotency-Key (idempotency.c) with the
 * batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anomalog/http.h"
#include "anomalog/ingest.h"
#include "anomalog/metrics.h"
#include "anomalog/timeutil.h"

/*
 * Counts in b->stats.late the lines whose window (by the writer's rule: the
 * event time floored to the window length) exists and is no longer open: the
 * database counts them in the window's late_count and a later pass analyses
 * them. One read per distinct (service, window) of the batch (runs of equal
 * keys, and the last LATE_RECENT keys, are looked up once), so the body limit
 * bounds the reads; a window closed between this read and the commit is
 * counted by the database, not here. A failed read counts nothing.
 */
#define LATE_RECENT 16
static void count_late(const app *a, batch *b)
{
    struct {
        const char *service;
        int64_t start;
        int late;
    } recent[LATE_RECENT];
    size_t n_recent = 0, next = 0;
    int64_t len = a->cfg->window_ms;
    b->stats.late = 0;
    if (len <= 0)
        return;
    for (size_t i = 0; i < b->count; i++) {
        const log_entry *e = &b->entries[i];
        int64_t q = e->ts_ms / len;
        if (e->ts_ms % len != 0 && e->ts_ms < 0)
            q--;
        int64_t start = q * len;
        int late = -1;
        for (size_t k = 0; k < n_recent && late < 0; k++)
            if (recent[k].start == start && (recent[k].service == e->service || !strcmp(recent[k].service, e->service)))
                late = recent[k].late;
        if (late < 0) {
            char err[256];
            if (store_window_is_late(a->st, e->service, start, &late, err, sizeof err) != STORE_OK)
                late = 0;
            recent[next].service = e->service;
            recent[next].start = start;
            recent[next].late = late;
            next = (next + 1) % LATE_RECENT;
            if (n_recent < LATE_RECENT)
                n_recent++;
        }
        b->stats.late += late;
    }
}

static void answer_parse_error(http_response *rs, const ingest_error *e)
{
    json_t *obj = http_error(rs, e->status, e->code, "%s", e->message);
    if (e->line > 0)
        json_object_set_new(obj, "line", json_integer(e->line));
    if (e->index >= 0)
        json_object_set_new(obj, "index", json_integer(e->index));
}

int http_ingest_inflate(const app *a, const http_request *rq, http_response *rs, const char **body, size_t *len,
                       char **owned)
{
    const config *cfg = a->cfg;
    *owned = NULL;
    *body = rq->body ? rq->body : "";
    *len = rq->body_len;
    const char *enc = rq->header(rq, "Content-Encoding");
    if (!enc || !*enc || strcasecmp(enc, "identity") == 0)
        return 0;
    if (strcasecmp(enc, "gzip") != 0 && strcasecmp(enc, "x-gzip") != 0) {
        http_error(rs, 415, "unsupported_encoding", "Content-Encoding \"%s\" is not supported (use gzip)", enc);
        return -1;
    }
    switch (ingest_gunzip(*body, *len, cfg->max_body, owned, len)) {
    case GUNZIP_OK:
        *body = *owned;
        return 0;
    case GUNZIP_TOO_LARGE:
        http_error(rs, 413, "body_too_large", "decompressed body is over the limit of %llu bytes",
                   (unsigned long long)cfg->max_body);
        return -1;
    case GUNZIP_CORRUPT:
        http_error(rs, 400, "invalid_gzip", "body is not valid gzip");
        return -1;
    case GUNZIP_NOMEM:
        http_error(rs, 500, "internal", "out of memory");
        return -1;
    }
    return -1;
}

/* The service of entries without one: ?service=, then X-Service, then "default". 0, or -1 after answering. */
static int default_service(const http_request *rq, http_response *rs, const char **out)
{
    const char *service = rq->query(rq, "service");
    const char *where = "query parameter service";
    if (!service || !*service) {
        service = rq->header(rq, "X-Service");
        where = "header X-Service";
    }
    if (!service || !*service) {
        service = "default";
    } else if (!http_valid_service(service)) {
        json_t *e = http_error(rs, 400, "invalid_parameter",
                               "%s: a service name is 1 to 128 bytes without control characters", where);
        json_object_set_new(e, "parameter", json_string(strcmp(where, "header X-Service") ? "service" : "X-Service"));
        return -1;
    }
    *out = service;
    return 0;
}

/* Parser options from the config for a request. */
static ingest_opts ingest_opts_for(const app *a, const http_request *rq, const char *service)
{
    ingest_opts o = {
        .default_service = service,
        .received_ms = rq->received_ms,
        .tz_offset_s = a->cfg->tz_offset_s,
        .max_line = a->cfg->max_line,
        .max_entries = a->cfg->max_entries,
        .service_labels = a->cfg->loki_service_labels,
    };
    return o;
}

int http_ingest_commit(const app *a, const http_request *rq, http_response *rs, const char *endpoint, batch *b,
                       int prc, const ingest_error *perr, http_ingest_answer_fn answer, void *arg)
{
    const config *cfg = a->cfg;
    if (prc == -1) {
        answer_parse_error(rs, perr);
        return -1;
    }
    if (prc != 0) {
        http_error(rs, 500, "internal", "out of memory while parsing");
        return -1;
    }
    /* one bad clock must not move a service's watermark: far-future or pre-2000 times become the receive time */
    ingest_clamp_timestamps(b, cfg->max_future_ms, TIME_FLOOR_MS);
    if (rq->bound_service && b->count) { /* a bound token writes only its own service */
        const char *svc = batch_strndup(b, rq->bound_service, strlen(rq->bound_service));
        if (!svc) {
            http_error(rs, 500, "internal", "out of memory while parsing");
            return -1;
        }
        for (size_t i = 0; i < b->count; i++)
            b->entries[i].service = svc;
    }
    count_late(a, b);
    /* the answer exists before the commit: an Idempotency-Key records it in the batch's transaction */
    rs->status = 202;
    rs->json = json_pack("{s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "accepted", (json_int_t)b->count, "late",
                         (json_int_t)b->stats.late, "normalized",
                         "timestamp_defaulted", (json_int_t)b->stats.timestamp_defaulted, "timestamp_clamped",
                         (json_int_t)b->stats.timestamp_clamped, "service_defaulted",
                         (json_int_t)b->stats.service_defaulted, "level_normalized",
                         (json_int_t)b->stats.level_normalized, "lines_joined", (json_int_t)b->stats.lines_joined,
                         "truncated", (json_int_t)b->stats.truncated);
    if (answer)
        answer(rs, arg);
    batch_idempotency rec;
    char *owned = NULL;
    if (rq->idem) {
        if (http_idem_record(rq, rs, &rec, &owned) != 0) {
            http_response_clear(rs);
            http_error(rs, 500, "internal", "out of memory");
            return -1;
        }
        b->idem = &rec;
    }
    char werr[256] = "";
    writer_rc wrc = b->count || b->idem ? writer_submit(a->wr, b, werr, sizeof werr) : WRITER_OK;
    b->idem = NULL;
    free(owned);
    if (wrc == WRITER_OK) {
        metrics_ingested(endpoint, b);
        return 0;
    }
    http_response_clear(rs);
    switch (wrc) {
    case WRITER_OK:
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
    return -1;
}

void http_ingest_parse_commit(const app *a, const http_request *rq, http_response *rs, const char *endpoint,
                              const char *body, size_t len, char *owned, http_ingest_parse_fn parse,
                              http_ingest_answer_fn answer, void *arg)
{
    const char *service;
    if (default_service(rq, rs, &service) != 0) {
        free(owned);
        return;
    }
    ingest_opts o = ingest_opts_for(a, rq, service);
    batch *b = batch_new(rq->received_ms);
    ingest_error perr = {.index = -1};
    int prc = b ? parse(body, len, &o, b, &perr, arg) : -2;
    free(owned);
    http_ingest_commit(a, rq, rs, endpoint, b, prc, &perr, answer, arg);
    batch_free(b);
}

static int parse_format(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err, void *arg)
{
    return ingest_parse(*(const ingest_format *)arg, body, len, o, b, err);
}

void http_ingest_post(const app *a, const http_request *rq, http_response *rs)
{
    const char *ctype = rq->header(rq, "Content-Type");
    ingest_format fmt = ingest_format_from_content_type(ctype);
    const char *format = rq->query(rq, "format");
    if (format && *format) {
        if (strcmp(format, "syslog") != 0) {
            http_bad_param(rs, "format", format, "the one body format chosen by name is syslog");
            return;
        }
        fmt = INGEST_SYSLOG; /* whatever the Content-Type: shippers often cannot set it */
    } else if (fmt == INGEST_TEXT && a->cfg->text_syslog) {
        fmt = INGEST_SYSLOG; /* ingest.text_format: syslog makes every text/plain body syslog */
    }
    if (fmt == INGEST_UNKNOWN) {
        http_unsupported_type(rs, ctype, "text/plain, application/x-ndjson or application/json");
        return;
    }

    const char *body;
    size_t len;
    char *inflated = NULL;
    if (http_ingest_inflate(a, rq, rs, &body, &len, &inflated) == 0)
        http_ingest_parse_commit(a, rq, rs, "/ingest", body, len, inflated, parse_format, NULL, &fmt);
}

