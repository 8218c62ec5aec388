/**
 * @file store.h
 * @brief Durable storage: the SQLite file, its migrations, and every query.
 *
 * One store has one write connection, used only by the writer thread (see
 * writer.h), and a pool of read connections for HTTP threads. No SQLite type
 * appears outside src/store/.
 */
#ifndef ANOMALOG_STORE_H
#define ANOMALOG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "anomalog/batch.h"

typedef struct store store;

typedef enum store_rc {
    STORE_OK = 0,
    STORE_NOTFOUND,   /**< no such row */
    STORE_BUSY,       /**< the database was locked past the busy timeout: retry later */
    STORE_ERROR       /**< anything else; the message says what */
} store_rc;

typedef enum store_durability {
    STORE_DURABLE_NORMAL = 0,  /**< synchronous=NORMAL: a committed batch survives a process crash */
    STORE_DURABLE_FULL         /**< synchronous=FULL: a committed batch survives power loss */
} store_durability;

/**
 * Opens (creating if needed) the database at path and applies pending migrations.
 * @param[out] out  the store, or NULL on failure
 * @param[out] err  why it failed
 */
store_rc store_open(const char *path, store_durability durability, store **out, char *err, size_t errlen);

/** Closes every connection. Accepts NULL. */
void store_close(store *s);

/** The schema version the database is at (largest applied migration). */
int store_schema_version(store *s);

/** The newest schema version this binary knows. */
int store_schema_latest(void);

/**
 * Writes the entries of n batches in one transaction (the writer's group commit):
 * each entry goes to the window [floor(ts/window_ms)*window_ms, +window_ms) of its
 * service; window line counts, late counts and service watermarks are updated.
 * All or nothing: on failure nothing of any batch is stored.
 * Writer thread only.
 */
store_rc store_write_batches(store *s, batch *const *batches, size_t n, int64_t window_ms,
                             char *err, size_t errlen);

/** A window as the API shows it. */
typedef struct window_info {
    int64_t id;
    char service[129];
    int64_t start_ms, end_ms;
    char status[16];
    int64_t line_count, late_count;
} window_info;

/** Filters of a window listing; NULL / 0 means "no filter". */
typedef struct window_query {
    const char *service;
    const char *status;
    int has_since, has_until;
    int64_t since_ms, until_ms;   /**< lists windows with end > since and start < until */
    int has_cursor;
    int64_t cursor_start, cursor_id;  /**< lists windows strictly after this one in (start, id) descending order */
    int limit;
} window_query;

/**
 * Lists windows newest first.
 * @param[out] rows     malloc'd array (caller frees), up to q->limit rows
 * @param[out] n        number of rows
 * @param[out] has_more 1 when more rows follow the last one
 */
store_rc store_windows_list(store *s, const window_query *q, window_info **rows, size_t *n,
                            int *has_more, char *err, size_t errlen);

/** One window by id: STORE_OK, STORE_NOTFOUND or an error. */
store_rc store_window_get(store *s, int64_t id, window_info *out, char *err, size_t errlen);

/** Total entries stored (for tests and readiness). */
store_rc store_count_logs(store *s, int64_t *count, char *err, size_t errlen);

/** Checks a read connection answers and the file is writable. */
store_rc store_ping(store *s, char *err, size_t errlen);

#endif
