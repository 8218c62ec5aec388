/*
 * ingest.c — the dispatcher of the ingest parsers: a Content-Type to a
 * format, a body to its parser (text.c, json.c, syslog.c), and event times
 * not within reason put at the receive time, whatever the format.
 *
 * Purpose: ingest_parse() dispatches a body by format;
 * ingest_clamp_timestamps() puts event times not within reason at the
 * receive time; ingest_format_from_content_type() maps a header to a
 * format. What the parsers share lives in common.c (errors, context, text
 * copies), level.c (level words) and utf8.c (core), never here, so no
 * parser calls back into its dispatcher.
 *
 * Threads: called on the HTTP thread that owns the batch; no static mutable
 * state, so any number of requests parse at once.
 *
 * Limits: none of its own; each parser states its own.
 */
#include "ingest/common.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "anomalog/timeutil.h"

/* ------------------------------------------------------------ event time */

void ingest_clamp_timestamps(batch *b, int64_t max_future_ms, int64_t floor_ms)
{
    for (size_t i = 0; i < b->count; i++)
        if (!time_within_reason(b->entries[i].ts_ms, b->received_ms, max_future_ms, floor_ms)) {
            b->entries[i].ts_ms = b->received_ms;
            b->stats.timestamp_clamped++;
        }
}

/* --------------------------------------------------------------- formats */

ingest_format ingest_format_from_content_type(const char *ct)
{
    static const struct {
        const char *type;
        ingest_format fmt;
    } types[] = {
        {"text/plain", INGEST_TEXT},
        {"application/x-ndjson", INGEST_NDJSON},
        {"application/jsonl", INGEST_NDJSON},
        {"application/jsonlines", INGEST_NDJSON},
        {"application/x-jsonlines", INGEST_NDJSON},
        {"application/json", INGEST_JSON},
    };
    if (!ct)
        return INGEST_UNKNOWN;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strlen(types[i].type) == n && strncasecmp(ct, types[i].type, n) == 0)
            return types[i].fmt;
    }
    return INGEST_UNKNOWN;
}

int ingest_parse(ingest_format fmt, const char *body, size_t len, const ingest_opts *o, batch *b,
                 ingest_error *err)
{
    switch (fmt) {
    case INGEST_TEXT:
        return ingest_parse_text(body, len, o, b, err);
    case INGEST_NDJSON:
        return ingest_parse_ndjson(body, len, o, b, err);
    case INGEST_JSON:
        return ingest_parse_json(body, len, o, b, err);
    case INGEST_SYSLOG:
        return ingest_parse_syslog(body, len, o, b, err);
    case INGEST_UNKNOWN:
        break;
    }
    ingest_err_reset(err);
    return ingest_err_set(err, 415, "unsupported_media_type", 0, -1,
                          "unsupported Content-Type: use text/plain, application/x-ndjson or "
                          "application/json");
}
