/*
 * rows.c — rows into the store's structures and API objects, and the pages every list of the API
 * is read into (json_page), for every backend (see rows.h).
 */
#include "store/rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"

void row_copy(const store_row *r, int col, char *buf, size_t len)
{
    const char *t = row_text(r, col);
    snprintf(buf, len, "%s", t ? t : "");
}

int64_t row_i64_or(const store_row *r, int col, int64_t dflt)
{
    return row_null(r, col) ? dflt : row_i64(r, col);
}

void window_from_row(const store_row *q, window_info *w)
{
    w->id = row_i64(q, 0);
    snprintf(w->service, sizeof w->service, "%s", row_text(q, 1));
    w->start_ms = row_i64(q, 2);
    w->end_ms = row_i64(q, 3);
    snprintf(w->status, sizeof w->status, "%s", row_text(q, 4));
    w->line_count = row_i64(q, 5);
    w->late_count = row_i64(q, 6);
    row_copy(q, 7, w->health, sizeof w->health);
    w->anomaly_count = row_i64(q, 8);
    row_copy(q, 9, w->analyzer, sizeof w->analyzer);
    row_copy(q, 10, w->model, sizeof w->model);
    w->prompt_tokens = row_i64_or(q, 11, -1);
    w->completion_tokens = row_i64_or(q, 12, -1);
    w->latency_ms = row_i64_or(q, 13, -1);
    row_copy(q, 14, w->error, sizeof w->error);
}

int rows_grow(void **v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 256;
    void *nv = realloc(*v, ncap * size);
    if (!nv)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

json_t *json_time(int64_t ms)
{
    char buf[40];
    return json_string(time_format_rfc3339(ms, buf, sizeof buf));
}

int json_page_full(json_page *p)
{
    if (p->limit < 0 || (int)json_array_size(p->arr) != p->limit)
        return 0;
    p->more = 1;
    return 1;
}

int json_page_add_new(json_page *p, json_t *o, int64_t start, int64_t id)
{
    if (!o) {
        p->oom = 1;
        return 1;
    }
    size_t row = json_dumpb(o, NULL, 0, JSON_COMPACT) + 1;
    if (json_array_size(p->arr) && p->bytes + row > p->max_bytes) {
        json_decref(o); /* over the budget: this row opens the next page */
        p->more = 1;
        return 1;
    }
    if (json_array_append_new(p->arr, o) != 0) {
        p->oom = 1;
        return 1;
    }
    p->bytes += row;
    p->last_start = start;
    p->last_id = id;
    return 0;
}

store_rc json_page_end(json_page *p, store_rc rc, const char *what, json_t **out, char *cursor, size_t curlen,
                       char *err, size_t errlen)
{
    *out = NULL;
    if (cursor)
        cursor[0] = '\0';
    if (rc == STORE_OK && (p->oom || !p->arr)) {
        snprintf(err, errlen, "out of memory %s", what);
        rc = STORE_ERROR;
    }
    if (rc != STORE_OK) {
        json_decref(p->arr);
        p->arr = NULL;
        return rc;
    }
    if (cursor && p->more)
        snprintf(cursor, curlen, "%lld:%lld", (long long)p->last_start, (long long)p->last_id);
    *out = p->arr;
    return STORE_OK;
}

int anomaly_row(const store_row *q, void *arg)
{
    json_page *a = arg;
    if (json_page_full(a))
        return 1;
    json_t *ev = json_loads(row_text(q, 8), 0, NULL);
    json_t *o = json_pack("{s:I, s:I, s:s, s:o, s:o, s:s, s:s, s:s, s:o, s:s, s:o}", "id",
                          (json_int_t)row_i64(q, 0), "window_id", (json_int_t)row_i64(q, 1),
                          "service", row_text(q, 2), "window_start",
                          json_time(row_i64(q, 3)), "window_end", json_time(row_i64(q, 4)),
                          "severity", row_text(q, 5), "type",
                          row_text(q, 6), "summary", row_text(q, 7),
                          "evidence", ev ? ev : json_array(), "recommended_action",
                          row_text(q, 9), "created_at",
                          json_time(row_i64(q, 10)));
    if (o) {
        json_object_set_new(o, "analyzer", json_text_or_null(q, 11));
        json_object_set_new(o, "feedback", json_text_or_null(q, 12));
        json_object_set_new(o, "feedback_note", json_text_or_null(q, 13));
        json_object_set_new(o, "suppressed", json_boolean((int)row_i64(q, 14)));
        json_object_set_new(o, "suppressed_by", row_null(q, 15)
                                                    ? json_null()
                                                    : json_integer(row_i64(q, 15)));
        json_object_set_new(o, "evidence_verified", json_boolean(row_i64(q, 16)));
        json_object_set_new(o, "incident_id", row_null(q, 17) ? json_null() : json_integer(row_i64(q, 17)));
    }
    if (o)
        json_array_append_new(a->arr, o);
    a->last_start = row_i64(q, 3);
    a->last_id = row_i64(q, 0);
    return 0;
}

json_t *json_text_or_null(const store_row *q, int col)
{
    const char *t = row_text(q, col);
    return t ? json_string(t) : json_null();
}

int prompt_row(const store_row *q, void *arg)
{
    const char *red = row_text(q, 3);
    json_t *r = red ? json_loads(red, 0, NULL) : NULL;
    const char *sys = row_text(q, 0);
    *(json_t **)arg = json_pack("{s:o, s:o, s:o, s:o}", "system", sys && *sys ? json_string(sys) : json_null(),
                                "user", sys && *sys ? json_text_or_null(q, 1) : json_null(), "digest",
                                json_text_or_null(q, 2), "redactions", r ? r : json_null());
    return 1;
}

json_t *service_json(const store_row *q)
{
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "name", row_text(q, 0),
                     "context", json_text_or_null(q, 1), "context_source", json_text_or_null(q, 2), "watermark",
                     row_null(q, 3) ? json_null() : json_time(row_i64(q, 3)),
                     "last_seen", json_time(row_i64(q, 4)), "created_at",
                     json_time(row_i64(q, 5)));
}

int service_row(const store_row *q, void *arg)
{
    json_t *o = service_json(q);
    if (o)
        json_array_append_new(arg, o);
    return 0;
}

int template_load_row(const store_row *q, void *p)
{
    load_arg *a = p;
    a->fn(a->arg, row_i64(q, 0), row_text(q, 1),
          (uint64_t)row_i64(q, 2));
    return 0;
}

int hist_known_row(const store_row *q, void *p)
{
    hist_acc *a = p;
    if (rows_grow((void **)&a->v, a->n, &a->cap, sizeof *a->v)) {
        a->oom = 1;
        return 1;
    }
    a->v[a->n++] = (template_history){.id = row_i64(q, 0), .known = (int)row_i64(q, 1),
                                      .benign = (int)row_i64(q, 2)};
    return 0;
}

int hist_cmp(const void *x, const void *y)
{
    int64_t a = ((const template_history *)x)->id, b = ((const template_history *)y)->id;
    return (a > b) - (a < b);
}

int hist_count_row(const store_row *q, void *p)
{
    hist_acc *a = p;
    template_history key = {.id = row_i64(q, 0)};
    template_history *h = a->n ? bsearch(&key, a->v, a->n, sizeof *a->v, hist_cmp) : NULL;
    if (h) {
        h->lines = row_i64(q, 1);
        h->windows = (int)row_i64(q, 2);
    }
    return 0;
}

int depth_row(const store_row *q, void *p)
{
    depth_out *d = p;
    d->depth = (int)row_i64(q, 0);
    d->avg = row_null(q, 1) ? -1 : row_f64(q, 1);
    return 1;
}

json_t *json_time_or_null(const store_row *q, int col)
{
    return row_null(q, col) ? json_null() : json_time(row_i64(q, col));
}

int notification_row(const store_row *q, void *arg)
{
    json_page *a = arg;
    if (json_page_full(a))
        return 1;
    const char *p = row_text(q, 11);
    json_t *payload = p ? json_loads(p, 0, NULL) : NULL;
    json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o}", "id",
                          (json_int_t)row_i64(q, 0), "anomaly_id", (json_int_t)row_i64(q, 1),
                          "window_id", (json_int_t)row_i64(q, 15), "service",
                          row_text(q, 12), "severity", row_text(q, 13),
                          "type", row_text(q, 14), "destination",
                          row_text(q, 2), "kind", row_text(q, 3),
                          "dedup_key", row_text(q, 4), "status",
                          row_text(q, 5), "attempts", (int)row_i64(q, 6),
                          "next_attempt_at", json_time_or_null(q, 7), "created_at", json_time_or_null(q, 8), "sent_at",
                          json_time_or_null(q, 9), "last_error", json_text_or_null(q, 10), "payload",
                          payload ? payload : json_null());
    if (o)
        json_array_append_new(a->arr, o);
    a->last_id = row_i64(q, 0);
    return 0;
}

int count_row(const store_row *q, void *arg)
{
    json_t *o = arg;
    const char *what = row_text(q, 0), *name = row_text(q, 1);
    json_t *into = strcmp(what, "status") == 0 ? o : json_object_get(o, "attempts");
    json_object_set_new(into, name, json_integer(row_i64(q, 2)));
    return 0;
}

int suppression_row(const store_row *q, void *arg)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:o, s:o, s:I}", "service", row_text(q, 0),
                          "type", row_text(q, 1), "opened_by",
                          (json_int_t)row_i64(q, 2), "severity", row_text(q, 3),
                          "opened_at", json_time(row_i64(q, 4)), "until",
                          json_time(row_i64(q, 5)), "suppressed", (json_int_t)row_i64(q, 6));
    if (o)
        json_array_append_new(arg, o);
    return 0;
}
