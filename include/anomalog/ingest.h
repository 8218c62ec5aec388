/**
 * @file ingest.h
 * @brief Parsers of ingest bodies: every wire format becomes a batch of log entries.
 *
 * Parsers run on the HTTP thread that received the request. They never touch
 * the database: a body is either parsed whole into a batch or rejected with
 * an ingest_error naming what and where, so a batch is atomic from the start.
 * A parser never keeps a pointer into the body: every string it stores is
 * copied into the batch's arena.
 */
#ifndef ANOMALOG_INGEST_H
#define ANOMALOG_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "anomalog/batch.h"

typedef enum ingest_format {
    INGEST_TEXT,    /**< text/plain: one entry per line, continuation lines joined */
    INGEST_NDJSON,  /**< application/x-ndjson: one JSON object per line */
    INGEST_JSON,    /**< application/json: one object or an array of objects */
    INGEST_SYSLOG,  /**< text/plain with ?format=syslog: RFC 5424 or RFC 3164 lines */
    INGEST_UNKNOWN
} ingest_format;

typedef struct ingest_opts {
    const char *default_service;  /**< service for entries without one (query, header, or "default") */
    int64_t received_ms;          /**< receive time: the timestamp of entries without one */
    int tz_offset_s;              /**< offset applied to timestamps without a zone (0 = UTC) */
    size_t max_line;              /**< longest message kept, in bytes; longer ones are truncated and counted (0: no limit) */
    size_t max_entries;           /**< more entries than this in one body is an error (413) (0: no limit) */
    const char *service_labels;   /**< Loki labels naming the service, comma-separated, first wins (NULL: default) */
} ingest_opts;

/** Why a body was refused. code is a stable machine-readable word. */
typedef struct ingest_error {
    int status;          /**< HTTP status to answer with: 400 or 413 (415 from ingest_parse for INGEST_UNKNOWN) */
    const char *code;    /**< e.g. "invalid_json", "invalid_timestamp", "too_many_entries" */
    char message[256];   /**< human-readable, names the field; always valid UTF-8 */
    long line;           /**< 1-based line of the body at fault, or 0 */
    long index;          /**< 0-based array index at fault for application/json arrays, or -1 */
} ingest_error;

/** Maps a Content-Type header value (parameters ignored, case-insensitive) to a format. */
ingest_format ingest_format_from_content_type(const char *content_type);

/**
 * Parses body into b.
 * @param[in]  fmt   the body format
 * @param[in]  body  the (decompressed) body; need not be NUL-terminated
 * @param[in]  len   its length
 * @param[in]  o     options
 * @param[out] b     entries are appended; on failure b may hold partial entries and must be freed
 * @param[out] err   filled on failure
 * @return 0 on success, -1 on a client error (err filled), -2 when out of memory.
 */
int ingest_parse(ingest_format fmt, const char *body, size_t len, const ingest_opts *o,
                 batch *b, ingest_error *err);

int ingest_parse_text(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err);
int ingest_parse_ndjson(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err);
int ingest_parse_json(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err);
/** Syslog lines, RFC 5424 or RFC 3164 (src/ingest/syslog.c). */
int ingest_parse_syslog(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err);

/**
 * Loki push bodies (src/ingest/loki.c): {"streams":[{"stream":{labels},"values":[["<ns>","line",{meta}]]}]}
 * and the (already snappy-decompressed) protobuf PushRequest. Labels service_name, service, app, job give
 * the service; level, detected_level, severity the level; the rest become attributes. Same contract as
 * ingest_parse(); err->index is the stream's index.
 */
int ingest_parse_loki_json(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err);
int ingest_parse_loki_proto(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err);

/**
 * Replaces every entry's timestamp that is not within reason (more than
 * max_future_ms ahead of the batch's receive time, or before floor_ms) by the
 * receive time, counting each in b->stats.timestamp_clamped: one bad clock
 * must not move a service's watermark (time_within_reason). Run on every
 * parsed batch that is received live; never on a replay of history.
 */
void ingest_clamp_timestamps(batch *b, int64_t max_future_ms, int64_t floor_ms);

/**
 * Canonical name of a level word (case-insensitive): trace, debug, info, warn,
 * error or fatal; NULL when the word is not a known level.
 * WARNING→warn, ERR→error, CRIT/CRITICAL/ALERT/EMERG/PANIC→fatal, NOTICE→info.
 */
const char *ingest_level_canonical(const char *word, size_t len);

/** How many bytes of a line ingest_level_sniff() reads at most. */
#define INGEST_SNIFF_BYTES 512
/** How many of a line's first words ingest_level_sniff() reads as possible level words. */
#define INGEST_SNIFF_TOKENS 10

/**
 * The level a log line states in its own text (src/ingest/level.c): a
 * key=value field (`level=error`, `lvl=`, `severity=`), a JSON field in text
 * (`"level":"error"`, `"level":50`), glog's `E1206 12:00:00`, a bracketed
 * level (`[ERROR]`, `[error]`, `<E>`), an upper-case level word among the
 * first words (`2026-... ERROR ...`, `ERROR:root:...`), or a level word in
 * any case right after the timestamp. Reads the first line of s, at most
 * INGEST_SNIFF_BYTES bytes of it, and allocates nothing.
 * @return a canonical name (static), or NULL when the line states no level.
 */
const char *ingest_level_sniff(const char *s, size_t len);

/** Largest decompressed gzip body accepted is passed as max_out. */
typedef enum gunzip_result { GUNZIP_OK = 0, GUNZIP_TOO_LARGE, GUNZIP_CORRUPT, GUNZIP_NOMEM } gunzip_result;

/**
 * Inflates a gzip (or zlib) body.
 * @param[out] out     malloc'd buffer (caller frees) on GUNZIP_OK, NULL otherwise;
 *                     a NUL follows its last byte (not counted in out_len)
 * @param[out] out_len its length (0 unless GUNZIP_OK)
 */
gunzip_result ingest_gunzip(const char *in, size_t in_len, size_t max_out, char **out, size_t *out_len);

/** Records refused alone by a parser that allows partial success (OTLP). */
typedef struct ingest_rejects {
    long count;          /**< records not stored */
    char message[256];   /**< why the first one was refused; valid UTF-8 */
} ingest_rejects;

/**
 * OTLP/HTTP logs (src/ingest/otlp.c): ExportLogsServiceRequest as JSON or protobuf. A record that cannot be
 * stored is skipped and counted in rej (OTLP's partial success); the others are appended. A body that is
 * not an export request is refused whole (-1, err filled). Otherwise as ingest_parse().
 */
int ingest_parse_otlp_json(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                           ingest_rejects *rej);
int ingest_parse_otlp_proto(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                            ingest_rejects *rej);

struct json_t;
/**
 * Elasticsearch bulk NDJSON (src/ingest/esbulk.c). Appends one item per action to items (a jansson array,
 * borrowed), in order: {"<action>": {"_index", "status": 201|400, "error"?}}; 201 items are the batch's
 * entries, in order. url_index (may be NULL) is the {index} of /{index}/_bulk. A malformed action line
 * refuses the body whole (-1). Otherwise as ingest_parse().
 */
int ingest_parse_es_bulk(const char *body, size_t len, const ingest_opts *o, const char *url_index, batch *b,
                         ingest_error *err, struct json_t *items);

/**
 * Decompresses a raw snappy block (not the framing format), refusing before
 * allocating when its declared length is over max_out. Same contract as
 * ingest_gunzip().
 */
gunzip_result ingest_unsnappy(const char *in, size_t in_len, size_t max_out, char **out, size_t *out_len);

#endif
