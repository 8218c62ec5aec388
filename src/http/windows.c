/*
 * windows.c — GET /windows (filtered, newest first, cursor paging) and
 * GET /windows/{id}.
 *
 * The cursor is "<start_ms>:<id>" of the last window of the previous page:
 * paging is stable while new windows appear at the top.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/http.h"
#include "anomalog/timeutil.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX 1000

static const char *const statuses[] = {"open", "closed", "analyzing", "analyzed", "failed"};

static json_t *window_json(const window_info *w)
{
    char s[40], e[40];
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I}", "id", (json_int_t)w->id, "service", w->service, "start",
                     time_format_rfc3339(w->start_ms, s, sizeof s), "end", time_format_rfc3339(w->end_ms, e, sizeof e),
                     "status", w->status, "line_count", (json_int_t)w->line_count, "late_count",
                     (json_int_t)w->late_count);
}

static int parse_i64(const char *s, int64_t *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* A time parameter: RFC 3339, or epoch seconds / ms (by magnitude). */
static int parse_time_param(const char *v, int64_t *ms)
{
    size_t used;
    if (time_parse_rfc3339(v, strlen(v), 0, ms, &used) == 0 && used == strlen(v))
        return 0;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end)
        return -1;
    return time_from_epoch_number(d, ms);
}

static int bad_param(http_response *rs, const char *name, const char *value, const char *why)
{
    json_t *e = http_error(rs, 400, "invalid_parameter", "%s: \"%s\" %s", name, value, why);
    json_object_set_new(e, "parameter", json_string(name));
    return -1;
}

void http_windows_list(const app *a, const http_request *rq, http_response *rs)
{
    window_query q = {.limit = LIMIT_DEFAULT};
    const char *v;
    if ((v = rq->query(rq, "service")) && *v)
        q.service = v;
    if ((v = rq->query(rq, "status")) && *v) {
        for (size_t i = 0; i < sizeof statuses / sizeof statuses[0] && !q.status; i++)
            if (strcmp(v, statuses[i]) == 0)
                q.status = statuses[i];
        if (!q.status) {
            bad_param(rs, "status", v, "is not one of open, closed, analyzing, analyzed, failed");
            return;
        }
    }
    if ((v = rq->query(rq, "since")) && *v) {
        if (parse_time_param(v, &q.since_ms)) {
            bad_param(rs, "since", v, "is not an RFC 3339 time or epoch number");
            return;
        }
        q.has_since = 1;
    }
    if ((v = rq->query(rq, "until")) && *v) {
        if (parse_time_param(v, &q.until_ms)) {
            bad_param(rs, "until", v, "is not an RFC 3339 time or epoch number");
            return;
        }
        q.has_until = 1;
    }
    if ((v = rq->query(rq, "limit")) && *v) {
        int64_t n;
        if (parse_i64(v, &n) || n < 1 || n > LIMIT_MAX) {
            bad_param(rs, "limit", v, "is not an integer from 1 to 1000");
            return;
        }
        q.limit = (int)n;
    }
    if ((v = rq->query(rq, "cursor")) && *v) {
        char extra;
        long long st, id;
        if (sscanf(v, "%lld:%lld%c", &st, &id, &extra) != 2) {
            bad_param(rs, "cursor", v, "is not a cursor this service gave out");
            return;
        }
        q.has_cursor = 1;
        q.cursor_start = st;
        q.cursor_id = id;
    }

    window_info *rows;
    size_t n;
    int more;
    char err[256];
    if (store_windows_list(a->st, &q, &rows, &n, &more, err, sizeof err) != STORE_OK) {
        http_error(rs, 503, "storage_unavailable", "%s", err);
        snprintf(rs->retry_after, sizeof rs->retry_after, "1");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, window_json(&rows[i]));
    json_t *cursor = json_null();
    if (more && n) {
        char c[64];
        snprintf(c, sizeof c, "%" PRId64 ":%" PRId64, rows[n - 1].start_ms, rows[n - 1].id);
        cursor = json_string(c);
    }
    free(rows);
    rs->status = 200;
    rs->json = json_pack("{s:o, s:o}", "windows", arr, "next_cursor", cursor);
}

void http_window_get(const app *a, const http_request *rq, http_response *rs)
{
    int64_t id;
    if (parse_i64(rq->params[0], &id) || id < 1) {
        bad_param(rs, "id", rq->params[0], "is not a window id");
        return;
    }
    window_info w;
    char err[256];
    switch (store_window_get(a->st, id, &w, err, sizeof err)) {
    case STORE_OK:
        rs->status = 200;
        rs->json = window_json(&w);
        return;
    case STORE_NOTFOUND:
        http_error(rs, 404, "not_found", "no window %lld", (long long)id);
        return;
    default:
        http_error(rs, 503, "storage_unavailable", "%s", err);
        snprintf(rs->retry_after, sizeof rs->retry_after, "1");
        return;
    }
}
