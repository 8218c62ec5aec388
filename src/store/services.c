/*
 * services.c — services (listing, their context text) and the store's own
 * gauges: lines stored, windows by status, the backlog (oldest window
 * without a result, notifications not delivered), database size, readiness.
 *
 * Listing is paged by a keyset on the unique name, in byte order: a page is
 * the names above the previous page's last, so paging neither skips nor
 * repeats a service however many are created meanwhile, and a page costs the
 * rows it returns. A page is bounded twice: by its limit and by the bytes of
 * its JSON (a context is up to 16 KiB), so one answer, and the buffer a slow
 * reader holds, stays small whatever the number of services.
 *
 * Threads: reads on a borrowed read connection from any thread; setting a
 * context on the background connection.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "anomalog/timeutil.h"
#include "store/db.h"
#include "store/queries.h"

static int service_page_row(const store_row *r, void *arg)
{
    return json_page_full(arg) ? 1 : json_page_add_new(arg, service_json(r), 0, 0);
}

store_rc store_services_list(store *s, const service_query *q, json_t **out, char *last, size_t lastlen, char *err,
                             size_t errlen)
{
    assert(q->limit >= 1);
    last[0] = '\0';
    json_page a = {.arr = json_array(), .limit = q->limit, .max_bytes = q->max_bytes};
    store_rc rc = db_read(s, &sql_svc_services, DB_ARGS(db_text(q->after ? q->after : ""), db_int(q->limit + 1)),
                          service_page_row, &a, err, errlen);
    rc = json_page_end(&a, rc, "listing services", out, NULL, 0, err, errlen);
    size_t n = rc == STORE_OK ? json_array_size(*out) : 0;
    if (a.more && n)
        snprintf(last, lastlen, "%s", json_string_value(json_object_get(json_array_get(*out, n - 1), "name")));
    return rc;
}

store_rc store_service_set_context(store *s, const char *name, const char *context, const char *source,
                                   json_t **service, char *err, size_t errlen)
{
    store_rc rc = db_bg(s, &sql_svc_context_set,
                        DB_ARGS(db_text(name), db_int(time_now_ms()), db_text(context), db_text(source)), NULL, NULL,
                        NULL, err, errlen);
    if (rc != STORE_OK || !service)
        return rc;
    json_t *arr = json_array();
    rc = db_read(s, &sql_svc_service_get, DB_ARGS(db_text(name)), service_row, arr, err, errlen);
    *service = rc == STORE_OK ? json_incref(json_array_get(arr, 0)) : NULL;
    json_decref(arr);
    return rc;
}

store_rc store_count_logs(store *s, int64_t *count, char *err, size_t errlen)
{
    *count = 0;
    return db_read(s, &sql_svc_count_logs, DB_NOARGS, db_row_i64, count, err, errlen);
}

static int status_row(const store_row *r, void *arg)
{
    static const char *const statuses[5] = {"open", "closed", "analyzing", "analyzed", "failed"};
    const char *st = row_text(r, 0);
    for (int i = 0; st && i < 5; i++)
        if (!strcmp(st, statuses[i]))
            ((int64_t *)arg)[i] = row_i64(r, 1);
    return 0;
}

store_rc store_metrics(store *s, int64_t windows[5], int64_t *db_bytes, char *err, size_t errlen)
{
    for (int i = 0; i < 5; i++)
        windows[i] = 0;
    store_rc rc = db_read(s, &sql_svc_status_counts, DB_NOARGS, status_row, windows, err, errlen);
    return rc == STORE_OK ? db_read(s, &sql_svc_db_size, DB_NOARGS, db_row_i64, db_bytes, err, errlen) : rc;
}

static int backlog_row(const store_row *r, void *arg)
{
    store_backlog *b = arg;
    b->oldest_waiting_ms = row_i64_or(r, 0, -1);
    b->outbox_pending = row_i64(r, 1);
    return 1;
}

store_rc store_backlog_get(store *s, store_backlog *out, char *err, size_t errlen)
{
    *out = (store_backlog){.oldest_waiting_ms = -1};
    return db_read(s, &sql_svc_backlog, DB_NOARGS, backlog_row, out, err, errlen);
}

store_rc store_ping(store *s, char *err, size_t errlen)
{
    if (s->drv->ping && s->drv->ping(s, err, errlen) != STORE_OK)
        return STORE_ERROR;
    int64_t v = 0;
    return db_read(s, &sql_svc_ping, DB_NOARGS, db_row_i64, &v, err, errlen);
}
