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

typedef struct anomalies_acc {
    json_t *arr;
    int limit;          /* rows wanted; one more tells that more follow */
    int64_t last_start, last_id;
    int more;
} anomalies_acc;

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

typedef struct notif_acc {
    json_t *arr;
    int limit;
    int64_t last_id;
    int more;
} notif_acc;


void window_from_row(const store_row *q, window_info *w);
json_t *json_time(int64_t ms);
int anomaly_row(const store_row *q, void *arg);
json_t *json_text_or_null(const store_row *q, int col);
int prompt_row(const store_row *q, void *arg);
int service_row(const store_row *q, void *arg);
int template_load_row(const store_row *q, void *p);
int hist_known_row(const store_row *q, void *p);
int hist_cmp(const void *x, const void *y);
int hist_count_row(const store_row *q, void *p);
int depth_row(const store_row *q, void *p);
int id_row(const store_row *q, void *arg);
json_t *json_time_or_null(const store_row *q, int col);
int notification_row(const store_row *q, void *arg);
int count_row(const store_row *q, void *arg);
int suppression_row(const store_row *q, void *arg);

#endif
