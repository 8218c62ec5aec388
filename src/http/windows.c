/*
 * windows.c — GET /windows (filtered, newest first, cursor paging),
 * GET /windows/{id} (with its anomalies and the exact prompt the model saw),
 * GET /windows/{id}/lines (its stored lines, paged),
 * POST /windows/flush (close every open window now).
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
#include "anomalog/severity.h"
#include "anomalog/timeutil.h"

static const char *const statuses[] = {"open", "closed", "analyzing", "analyzed", "failed", NULL};

static json_t *text_or_null(const char *s)
{
    return *s ? json_string(s) : json_null();
}

static json_t *int_or_null(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

static json_t *window_json(const window_info *w)
{
    char s[40], e[40];
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id",
                     (json_int_t)w->id, "service", w->service, "start", time_format_rfc3339(w->start_ms, s, sizeof s),
                     "end", time_format_rfc3339(w->end_ms, e, sizeof e), "status", w->status, "line_count",
                     (json_int_t)w->line_count, "late_count", (json_int_t)w->late_count, "health",
                     text_or_null(w->health), "anomaly_count", (json_int_t)w->anomaly_count, "analyzer",
                     text_or_null(w->analyzer), "model", text_or_null(w->model), "prompt_tokens",
                     int_or_null(w->prompt_tokens), "completion_tokens", int_or_null(w->completion_tokens),
                     "latency_ms", int_or_null(w->latency_ms), "error", text_or_null(w->error));
}

void http_windows_list(const app *a, const http_request *rq, http_response *rs)
{
    window_query q = {0};
    if (http_list_params(rq, rs, HTTP_LIST_FIELDS(q), (http_list_enum){"status", statuses, &q.status},
                         (http_list_enum){"health", HEALTH_STATES, &q.health}))
        return;

    window_info *rows;
    size_t n;
    int more;
    char err[256];
    if (store_windows_list(a->st, &q, &rows, &n, &more, err, sizeof err) != STORE_OK) {
        http_storage_unavailable(rs, err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, window_json(&rows[i]));
    char cursor[64] = "";
    if (more && n)
        snprintf(cursor, sizeof cursor, "%" PRId64 ":%" PRId64, rows[n - 1].start_ms, rows[n - 1].id);
    free(rows);
    http_list_answer(rs, "windows", arr, cursor);
}

void http_window_get(const app *a, const http_request *rq, http_response *rs)
{
    long long id = http_param_id(rq, rs, "a window");
    if (!id)
        return;
    window_info w;
    char err[256];
    if (http_store_found(rs, store_window_get(a->st, id, &w, err, sizeof err), "window", id, err))
        return;
    json_t *anomalies = NULL, *prompt = NULL;
    store_rc prc;
    if (store_window_anomalies(a->st, id, &anomalies, err, sizeof err) != STORE_OK ||
        ((prc = store_window_prompt(a->st, id, &prompt, err, sizeof err)) != STORE_OK && prc != STORE_NOTFOUND)) {
        json_decref(anomalies);
        http_storage_unavailable(rs, err);
        return;
    }
    rs->status = 200;
    rs->json = window_json(&w);
    json_object_set_new(rs->json, "anomalies", anomalies);
    /* the digest stands on its own (a window the baseline analysed has one and no prompt) */
    json_object_set(rs->json, "digest", prompt ? json_object_get(prompt, "digest") : json_null());
    json_object_set(rs->json, "redactions", prompt ? json_object_get(prompt, "redactions") : json_null());
    json_t *sys = prompt ? json_object_get(prompt, "system") : NULL;
    json_object_set_new(rs->json, "prompt",
                        json_is_string(sys) ? json_pack("{s:O, s:O}", "system", sys, "user", json_object_get(prompt, "user"))
                                            : json_null());
    json_decref(prompt);
}

/*
 * GET /windows/{id}/lines?limit=&cursor=: the window's stored lines by event
 * time, paged like the lists (next_cursor "<ts_ms>:<id>" of the page's last
 * line), a page cut at LINES_PAGE_BYTES of JSON as well. A window with no
 * lines (yet, or after retention) has an empty page; an unknown window is a 404.
 */
#define LINES_PAGE_BYTES (1u << 20)

void http_window_lines(const app *a, const http_request *rq, http_response *rs)
{
    line_page_query q = {.window_id = http_param_id(rq, rs, "a window"), .max_bytes = LINES_PAGE_BYTES};
    if (!q.window_id || http_param_limit(rq, rs, &q.limit) ||
        http_param_cursor(rq, rs, &q.has_cursor, &q.cursor_ts, &q.cursor_id))
        return;
    window_info w;
    char err[256], cursor[64];
    json_t *lines = NULL;
    store_rc rc = store_window_get(a->st, q.window_id, &w, err, sizeof err);
    if (rc == STORE_NOTFOUND) {
        http_error(rs, 404, "not_found", "no window %lld", (long long)q.window_id);
        return;
    }
    if (rc != STORE_OK ||
        store_window_lines_page(a->st, &q, &lines, cursor, sizeof cursor, err, sizeof err) != STORE_OK) {
        http_storage_unavailable(rs, err);
        return;
    }
    rs->status = 200;
    rs->json = json_pack("{s:I, s:o, s:o}", "window_id", (json_int_t)q.window_id, "lines", lines, "next_cursor",
                         cursor[0] ? json_string(cursor) : json_null());
}

void http_windows_flush(const app *a, const http_request *rq, http_response *rs)
{
    const char *service = rq->query(rq, "service");
    if (service && !*service)
        service = NULL;
    if (service && !http_valid_service(service)) {
        http_bad_param(rs, "service", service, "is not a service name (1 to 128 bytes, no control characters)");
        return;
    }
    char err[256];
    int closed = 0;
    if (store_windows_close(a->st, time_now_ms(), a->cfg->grace_ms, 1, service, &closed, err, sizeof err) !=
        STORE_OK) {
        http_storage_unavailable(rs, err);
        return;
    }
    if (closed)
        analyzer_wake(a->an);
    rs->status = 200;
    rs->json = json_pack("{s:i}", "closed", closed);
}
