/**
 * @file batch.h
 * @brief A batch of log entries parsed from one request, with the arena that
 *        owns every string in it.
 *
 * A batch is created by the HTTP thread that received the request, filled by
 * one of the ingest parsers, handed to the writer, and freed by the HTTP
 * thread once the writer has answered. All strings of all entries live in the
 * batch's arena: freeing the batch frees them; no entry string is freed alone.
 */
#ifndef ANOMALOG_BATCH_H
#define ANOMALOG_BATCH_H

#include <stddef.h>
#include <stdint.h>

/** One log entry, normalised. Strings are NUL-terminated and owned by the batch. */
typedef struct log_entry {
    int64_t ts_ms;          /**< event time, milliseconds since the Unix epoch, UTC */
    const char *level;      /**< canonical level (trace|debug|info|warn|error|fatal), another lowercase word, or NULL */
    const char *service;    /**< never NULL once parsed */
    const char *message;    /**< never NULL; may contain newlines (joined stack traces) */
    size_t message_len;
    const char *attributes; /**< compact JSON object text, or NULL when there are none */
    long line;              /**< 1-based line of the body where the entry starts (text, NDJSON) or array index + 1 (JSON) */
} log_entry;

/** What the parsers changed or filled in; reported in the 202 answer. */
typedef struct batch_stats {
    long timestamp_defaulted;  /**< no timestamp: receive time used */
    long timestamp_clamped;    /**< a timestamp not within reason (ingest_clamp_timestamps): receive time used */
    long service_defaulted;    /**< no service in the entry: query, header or "default" used */
    long level_normalized;     /**< a level spelled another way (WARNING, err, 3) mapped to its canonical name */
    long lines_joined;         /**< continuation lines joined to the entry before them */
    long truncated;            /**< messages cut to the line-length limit */
    long late;                 /**< lines whose window was no longer open when the batch was answered (http_ingest_commit) */
} batch_stats;

typedef struct arena arena;

/**
 * An Idempotency-Key to record with a batch, in the same transaction as its
 * entries (see store_write_batches): the key, what identifies the request,
 * and the answer a retry with the same key gets instead of storing the
 * entries again. In a parsed batch every pointer is borrowed from the
 * submitting HTTP thread; in a decoded one (batch_decode) the batch owns it.
 */
typedef struct batch_idempotency {
    const char *scope;             /**< whose key: "" when ingest is open, else the token's name */
    const char *key;               /**< 1..255 printable ASCII bytes */
    const char *endpoint;          /**< request path */
    unsigned char body_sha256[32]; /**< SHA-256 of the request body as sent */
    int status;                    /**< the answer */
    const char *content_type;      /**< NULL: empty body */
    const char *body;
    size_t body_len;
    int64_t created_ms;
} batch_idempotency;

typedef struct batch {
    log_entry *entries;
    size_t count;
    size_t cap;
    batch_stats stats;
    int64_t received_ms;    /**< receive time of the request, ms since epoch */
    arena *mem;             /**< owns every string of every entry */
    const batch_idempotency *idem; /**< recorded with the entries, or NULL (borrowed) */
    uint64_t journal_seq;   /**< the ingest journal's number for the batch (writer.c), 0 when none */
} batch;

/** Creates an empty batch. Returns NULL when out of memory. */
batch *batch_new(int64_t received_ms);

/** Frees the batch, its entries and their strings. Accepts NULL. */
void batch_free(batch *b);

/** Appends a zeroed entry and returns it, or NULL when out of memory. */
log_entry *batch_push(batch *b);

/** Copies len bytes of s into the batch's arena, NUL-terminated. NULL when out of memory. */
char *batch_strndup(batch *b, const char *s, size_t len);

/**
 * Makes room ahead for a batch whose size is known: the arena's first block
 * holds arena_bytes (when the arena is still empty; later blocks are 64
 * KiB), and the entries array entries. Only room: the batch grows past
 * either as usual. 0, or -1 when out of memory.
 */
int batch_reserve(batch *b, size_t arena_bytes, size_t entries);

/** Reserves len bytes (uninitialised) in the batch's arena. NULL when out of memory. */
void *batch_alloc(batch *b, size_t len);

/**
 * A batch as one self-contained record: the receive time, the
 * Idempotency-Key with its answer, and every entry's fields (not the
 * parsers' statistics, which were answered already). It is what the ingest
 * journal writes to disk and what the writer queues; host byte order, so a
 * record is read back only on the machine that wrote it.
 */
typedef struct batch_record {
    unsigned char *data;
    size_t len, cap;
} batch_record;

/** Encodes b into r (whose old contents are dropped). 0, or -1 when out of memory. */
int batch_encode(const batch *b, batch_record *r);

/**
 * Decodes a record made by batch_encode into a new batch that owns copies of
 * every string (the record may be freed at once). 0; -1 when the record is
 * malformed (a length past its end, a missing string, bytes left over),
 * -2 when out of memory. *out is NULL unless 0 is returned.
 */
int batch_decode(const unsigned char *p, size_t len, batch **out);

#endif
