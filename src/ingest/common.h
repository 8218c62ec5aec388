/*
 * common.h — what the ingest parsers share (text.c, json.c, syslog.c, loki.c,
 * otlp.c, esbulk.c; defined in common.c, level.c and json.c). Not part of
 * the public surface: include only from src/ingest/.
 */
#ifndef ANOMALOG_INGEST_COMMON_H
#define ANOMALOG_INGEST_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "anomalog/batch.h"
#include "anomalog/ingest.h"
#include "anomalog/utf8.h"

/** Longest unknown level word kept, in bytes. */
#define INGEST_LEVEL_MAX 32
/** Longest service name accepted, in bytes. */
#define INGEST_SERVICE_MAX 128

/** State of one ingest_parse_* call. */
typedef struct ingest_ctx {
    const ingest_opts *o;
    batch *b;
    ingest_error *err;
    size_t max_line;            /**< o->max_line, or SIZE_MAX when 0 */
    size_t max_entries;         /**< o->max_entries, or SIZE_MAX when 0 */
    const char *default_service; /**< arena copy of o->default_service, made on first use */
    const char *last_service;   /**< arena copy of the last explicit service, reused when repeated */
    size_t last_service_len;
} ingest_ctx;

/** Fills c and resets err (status 0, code NULL, line 0, index -1). */
void ingest_ctx_init(ingest_ctx *c, const ingest_opts *o, batch *b, ingest_error *err);

/** The default service, copied into the arena once. NULL when out of memory. */
const char *ingest_ctx_default_service(ingest_ctx *c);

/** s[0..len) copied into the arena, or the previous copy when it is the same. NULL when out of memory. */
const char *ingest_ctx_service(ingest_ctx *c, const char *s, size_t len);

/** Resets err to "no error". */
void ingest_err_reset(ingest_error *err);

/**
 * Fills err. The formatted message is cut to fit and made valid UTF-8
 * (a byte that is not is replaced by '?'), so it can go into a JSON answer.
 * @return -1, so callers can `return ingest_err_set(...)`.
 */
int ingest_err_set(ingest_error *err, int status, const char *code, long line, long index,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/**
 * Copies at most 40 bytes of s into dst (dstlen bytes) for quoting in an error
 * message: invalid UTF-8 and control bytes become '?', and "..." marks a cut.
 */
void ingest_snippet(char *dst, size_t dstlen, const char *s, size_t len);

/**
 * Log text as it comes (text/plain and syslog lines): copies s[0..len) into the
 * batch's arena with each byte that is not part of valid UTF-8, and each NUL,
 * replaced by U+FFFD, cut at max bytes on a character boundary.
 * @param[out] out_len  bytes copied
 * @param[out] cut      1 when the text was cut at max
 * @return the NUL-terminated copy, or NULL when out of memory
 */
char *ingest_text_copy(batch *b, const char *s, size_t len, size_t max, size_t *out_len, int *cut);

/**
 * The level word s[0..len), normalised: a known word gives its canonical name
 * (counted in level_normalized when that differs from the word in lowercase);
 * an unknown word is lowercased, trimmed and cut to INGEST_LEVEL_MAX bytes in
 * the arena; blank gives NULL.
 * @return 0, or -2 when out of memory.
 */
int ingest_level_word(ingest_ctx *c, const char *s, size_t len, const char **out);

/** Canonical level of a numeric level: 0..7 a syslog severity, 10..60 pino/bunyan's; else NULL. */
const char *ingest_level_number(long long n);

/** What the shipper sent itself for an entry, beside the line (ingest_entry_finish). */
#define INGEST_GIVEN_TS 1u      /**< a timestamp */
#define INGEST_GIVEN_SERVICE 2u /**< a service */

/**
 * Completes an entry a parser built from a shipper's record (level.c): when
 * its message is a JSON object, it is read like an NDJSON entry
 * (ingest_json_message); then, when the entry still has no level, the level
 * the line states (ingest_level_sniff). A level already set always stays.
 * @return 0, or -2 when out of memory.
 */
int ingest_entry_finish(ingest_ctx *c, log_entry *e, unsigned given);

/**
 * When e's message is a JSON object, reads it into e like an NDJSON entry
 * (json.c): the message field (msg, message, log, ...) becomes the message,
 * its level the level unless e has one, its timestamp the timestamp unless
 * `given` has INGEST_GIVEN_TS, its service the service unless it has
 * INGEST_GIVEN_SERVICE, and its other fields join e's attributes (e's own
 * win on a conflict). Without a message field the message stays whole and
 * only the level is read. Never refuses the entry: a field that cannot be
 * read stays an attribute. 0, or -2 when out of memory.
 */
int ingest_json_message(ingest_ctx *c, log_entry *e, unsigned given);

/**
 * Appends the entry described by a JSON object, read as NDJSON lines are
 * (field aliases, attributes); errors name body line `line`. 0, -1 or -2.
 * On -1 an entry may have been pushed: the caller drops it if it goes on.
 */
int ingest_json_entry(ingest_ctx *c, struct json_t *obj, long line);

/**
 * The line of body that starts at *pos, without its '\n' (the last line may
 * lack one): sets *line, returns its length, and moves *pos past it.
 * Call while *pos < len.
 */
static inline size_t ingest_next_line(const char *body, size_t len, size_t *pos, const char **line)
{
    const char *s = body + *pos;
    const char *nl = memchr(s, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - s) : len - *pos;
    *pos += n + (nl ? 1 : 0);
    *line = s;
    return n;
}

/** What a line-oriented parser does with one line: s[0..n) without its '\n', ln its 1-based number. */
typedef int (*ingest_line_fn)(ingest_ctx *c, const char *s, size_t n, long ln, void *arg);

/**
 * How every line-oriented body is read (NDJSON, syslog): c set up (ingest_ctx_init), a byte order mark
 * skipped, and each line handed to fn(arg) until one returns non-zero.
 * @return what the last fn returned: 0, -1 with err set, or -2.
 */
int ingest_each_line(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                     ingest_line_fn fn, void *arg);

/** 0 while the batch has room for one more entry; else -1 with err set: 413 too_many_entries naming body line ln. */
int ingest_line_room(ingest_ctx *c, long ln);

/**
 * A new entry at the end of the batch, for body line (or entry number) `line`: at ts_ms, or when has_ts is 0
 * at the receive time (counted in timestamp_defaulted). NULL when out of memory.
 */
log_entry *ingest_entry_new(ingest_ctx *c, long line, int has_ts, int64_t ts_ms);

/** Sets e's message to s[0..n), cut at max_line on a character boundary (counted in truncated), copied into the
 *  arena. 0, or -2 when out of memory. */
int ingest_entry_message(ingest_ctx *c, log_entry *e, const char *s, size_t n);

/** Sets e's service to s[0..len), or when s is NULL to the default service (counted in service_defaulted).
 *  0, or -2 when out of memory. */
int ingest_entry_service(ingest_ctx *c, log_entry *e, const char *s, size_t len);

/** Skips a UTF-8 byte order mark at the start of a body. */
void ingest_skip_bom(const char **body, size_t *len);

/** Whether a failed json_loadb() ran out of memory (jansson then leaves no message). */
int ingest_json_oom(const json_error_t *jerr);

/** What a whole-body JSON parser does with the loaded body (an object or an array, borrowed). */
typedef int (*ingest_json_fn)(ingest_ctx *c, json_t *root, void *arg);

/**
 * How every whole-body JSON body is read (JSON, Loki push, OTLP): c set up (ingest_ctx_init), a byte order
 * mark skipped, the body loaded as one JSON object or array and handed to fn(arg), then released.
 * @return what fn returned; -2 when out of memory; or -1 with err set: 400 invalid_json, "line N: invalid
 *         JSON: …".
 */
int ingest_json_body(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                     ingest_json_fn fn, void *arg);

/** Writes v as JSON text (json_dumpb flags) into the batch's arena; NULL when out of memory. */
const char *ingest_dump_json(batch *b, struct json_t *v, size_t flags);

/**
 * A line arena (ingest.c): between begin and end on one thread, jansson
 * allocates from one buffer instead of the heap, and next rewinds it. Every
 * jansson value made meanwhile must be released before next or end.
 * begin returns -1 when out of memory (the arena is then not held).
 */
typedef struct ingest_line_arena ingest_line_arena;
struct ingest_line_arena {
    unsigned char *base;
    size_t used;
};
int ingest_line_arena_begin(ingest_line_arena *a);
void ingest_line_arena_next(ingest_line_arena *a);
void ingest_line_arena_end(ingest_line_arena *a);

/** ingest_parse_ndjson, with its fast reader (YAJL) on or off: both must give the same batch or error. */
int ingest_parse_ndjson_with(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                             int use_fast);

/*
 * Protobuf wire format, read by hand (src/ingest/pb.c): a reader is a byte
 * range; every length is checked against what remains of it.
 */
typedef struct pb {
    const unsigned char *p, *end;
} pb;

/** Reads a varint of at most 10 bytes. 0, or -1 when truncated or too long. */
int pb_varint(pb *r, uint64_t *v);

/**
 * Reads one field: its number and wire type, and a varint (type 0) or a
 * little-endian fixed64/fixed32 (types 1, 5) into *v, or a length-delimited
 * value (type 2) into *sub. 0, or -1 when malformed (groups are refused).
 */
int pb_next(pb *r, uint32_t *field, int *wt, uint64_t *v, pb *sub);

/**
 * The next length-delimited field numbered `want` of the message r (a repeated message or string field),
 * into *sub; every other field is skipped. 1 when found, 0 at r's end, -1 when malformed.
 */
int pb_field(pb *r, uint32_t want, pb *sub);

#endif
