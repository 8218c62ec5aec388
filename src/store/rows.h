/*
 * rows.h — result rows as both backends hand them to the shared readers:
 * a row is read through store_row's accessors, whatever produced it, so the
 * code that turns rows into API objects is written once. Private to src/store/.
 */
#ifndef ANOMALOG_STORE_ROWS_H
#define ANOMALOG_STORE_ROWS_H

#include <stdint.h>

#include <jansson.h>

#include "anomalog/store.h"

/* One row of a result; the accessors read column col (0-based). */
typedef struct store_row {
    const void *impl;
    int index;                                                  /* row number, for backends that need it */
    int (*null)(const struct store_row *r, int col);            /* 1 when SQL NULL */
    int64_t (*i64)(const struct store_row *r, int col);
    double (*f64)(const struct store_row *r, int col);
    const char *(*text)(const struct store_row *r, int col);    /* NULL when SQL NULL */
    char *(*blob_dup)(const struct store_row *r, int col, size_t *len); /* malloc'd, NUL after len; NULL: no memory */
} store_row;

/* Called once per row; returns 0 to go on, non-zero to stop. */
typedef int (*row_fn)(const store_row *r, void *arg);

static inline int row_null(const store_row *r, int col) { return r->null(r, col); }
static inline int64_t row_i64(const store_row *r, int col) { return r->i64(r, col); }
static inline double row_f64(const store_row *r, int col) { return r->f64(r, col); }
static inline const char *row_text(const store_row *r, int col) { return r->text(r, col); }
static inline char *row_blob_dup(const store_row *r, int col, size_t *len) { return r->blob_dup(r, col, len); }

/* Copies column col into buf ("" when NULL). */
void row_copy(const store_row *r, int col, char *buf, size_t len);
/* Column col, or dflt when NULL. */
int64_t row_i64_or(const store_row *r, int col, int64_t dflt);
/* Room for one more of n elements of size bytes in the array *v that rows are read into (capacity *cap,
 * doubling from 256; *v and *cap are updated): 0, or -1 when there is no memory (*v is left as it was). */
int rows_grow(void **v, size_t n, size_t *cap, size_t size);

/* A page of API objects being read from rows, newest first or oldest first by a keyset (start, id): up to
 * limit rows (-1: every row), one more row read to tell that more follow, and, for the pages that set
 * max_bytes (json_page_add_new), no more than max_bytes of compact JSON (one row at least). Every JSON list of
 * the API is read into one (GET /windows reads window_info structures instead: windows.c). */
typedef struct json_page {
    json_t *arr;
    int limit;                    /* rows wanted, -1: all */
    size_t max_bytes;             /* what json_page_add_new keeps */
    size_t bytes;                 /* compact JSON of the rows kept, with their commas */
    int64_t last_start, last_id;  /* the keyset of the last row kept: the next page's cursor */
    int more, oom;
} json_page;

/* The row callback's first step: 1 (more follow: stop) when the page already holds its limit. */
int json_page_full(json_page *p);
/* Keeps o (its reference taken; NULL: no memory, the read stops) as the page's next row, whose keyset is
 * (start, id), unless it would take the page past max_bytes: then o is dropped and opens the next page.
 * Returns the row callback's answer (0: go on, 1: stop). */
int json_page_add_new(json_page *p, json_t *o, int64_t start, int64_t id);
/* The end of the read that filled p, whose result was rc: on failure, or when a row found no memory (err
 * names what), the array is freed and the failure returned; else *out takes it, and cursor (NULL: none
 * wanted) gets "start:id" of the last row kept when more follow, "" when none do. */
store_rc json_page_end(json_page *p, store_rc rc, const char *what, json_t **out, char *cursor, size_t curlen,
                       char *err, size_t errlen);

typedef struct load_arg {
    void (*fn)(void *, int64_t, const char *, uint64_t);
    void *arg;
} load_arg;

typedef struct hist_acc {
    template_history *v;
    size_t n, cap;
    int oom;
} hist_acc;

typedef struct depth_out {
    int depth;
    double avg;
} depth_out;


void window_from_row(const store_row *q, window_info *w);
json_t *json_time(int64_t ms);
int anomaly_row(const store_row *q, void *arg);
json_t *json_text_or_null(const store_row *q, int col);
int prompt_row(const store_row *q, void *arg);
json_t *service_json(const store_row *q);
int service_row(const store_row *q, void *arg);
int template_load_row(const store_row *q, void *p);
int hist_known_row(const store_row *q, void *p);
int hist_cmp(const void *x, const void *y);
int hist_count_row(const store_row *q, void *p);
int depth_row(const store_row *q, void *p);
json_t *json_time_or_null(const store_row *q, int col);
int notification_row(const store_row *q, void *arg);
int count_row(const store_row *q, void *arg);
int suppression_row(const store_row *q, void *arg);

#endif
