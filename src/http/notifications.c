/*
 * notifications.c — GET /notifications: the outbox, newest first, filtered by
 * status (pending, sent, failed, dry_run), with the delivery counters; and
 * GET /suppressions: the open suppression intervals, so an operator sees why
 * a repeat did not notify and until when.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "anomalog/http.h"
#include "anomalog/timeutil.h"

static const char *const statuses[] = {"pending", "sent", "failed", "dry_run", NULL};

void http_notifications_list(const app *a, const http_request *rq, http_response *rs)
{
    const char *status = NULL;
    int limit;
    if (http_param_enum(rq, rs, "status", statuses, &status) || http_param_limit(rq, rs, &limit))
        return;
    long long cursor = 0;
    const char *c = rq->query(rq, "cursor");
    if (c && *c) {
        char *end;
        errno = 0;
        cursor = strtoll(c, &end, 10);
        if (errno || *end || cursor < 1) {
            http_bad_param(rs, "cursor", c, "is not a cursor this service gave out");
            return;
        }
    }
    json_t *arr = NULL, *counts = NULL;
    int64_t next = 0;
    char err[256];
    if (store_notifications_list(a->st, status, cursor, limit, &arr, &next, err, sizeof err) != STORE_OK ||
        store_outbox_counts(a->st, &counts, err, sizeof err) != STORE_OK) {
        json_decref(arr);
        http_storage_unavailable(rs, err);
        return;
    }
    char cur[32];
    snprintf(cur, sizeof cur, "%lld", (long long)next);
    rs->status = 200;
    rs->json = json_pack("{s:o, s:o, s:o}", "notifications", arr, "next_cursor", next ? json_string(cur) : json_null(),
                         "counters", counts);
}

void http_suppressions_list(const app *a, const http_request *rq, http_response *rs)
{
    (void)rq;
    json_t *arr;
    char err[256];
    if (store_suppressions_list(a->st, time_now_ms(), &arr, err, sizeof err) != STORE_OK) {
        http_storage_unavailable(rs, err);
        return;
    }
    rs->status = 200;
    rs->json = json_pack("{s:o}", "suppressions", arr);
}
