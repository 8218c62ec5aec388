/*
 * params.c — query parameters shared by the read endpoints: times (RFC 3339
 * or epoch), limit, cursor, enumerations, and the filters and page every
 * list takes, with its answer. Every refusal is a 400 invalid_parameter that
 * names the parameter and quotes the value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/http.h"
#include "anomalog/timeutil.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX 1000

json_t *http_bad_param(http_response *rs, const char *name, const char *value, const char *why)
{
    json_t *e = http_error(rs, 400, "invalid_parameter", "%s: \"%s\" %s", name, value, why);
    json_object_set_new(e, "parameter", json_string(name));
    return e;
}

void http_storage_unavailable(http_response *rs, const char *err)
{
    http_error(rs, 503, "storage_unavailable", "%s", err);
    snprintf(rs->retry_after, sizeof rs->retry_after, "1");
}

long long http_param_id(const http_request *rq, http_response *rs, const char *what)
{
    char *end;
    errno = 0;
    long long id = strtoll(rq->params[0], &end, 10);
    if (errno || *end || id < 1) {
        char why[64];
        snprintf(why, sizeof why, "is not %s id", what);
        http_bad_param(rs, "id", rq->params[0], why);
        return 0;
    }
    return id;
}

int http_store_found(http_response *rs, store_rc rc, const char *what, long long id, const char *err)
{
    if (rc == STORE_OK)
        return 0;
    if (rc == STORE_NOTFOUND)
        http_error(rs, 404, "not_found", "no %s %lld", what, id);
    else
        http_storage_unavailable(rs, err);
    return -1;
}

int http_valid_service(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

int http_param_time(const http_request *rq, http_response *rs, const char *name, int *has, int64_t *ms)
{
    const char *v = rq->query(rq, name);
    *has = 0;
    if (!v || !*v)
        return 0;
    size_t used;
    if (time_parse_rfc3339(v, strlen(v), 0, ms, &used) == 0 && used == strlen(v)) {
        *has = 1;
        return 0;
    }
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || time_from_epoch_number(d, ms)) {
        http_bad_param(rs, name, v, "is not an RFC 3339 time or epoch number");
        return -1;
    }
    *has = 1;
    return 0;
}

int http_param_limit(const http_request *rq, http_response *rs, int *limit)
{
    const char *v = rq->query(rq, "limit");
    *limit = LIMIT_DEFAULT;
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < 1 || n > LIMIT_MAX) {
        http_bad_param(rs, "limit", v, "is not an integer from 1 to 1000");
        return -1;
    }
    *limit = (int)n;
    return 0;
}

int http_param_cursor(const http_request *rq, http_response *rs, int *has, int64_t *start, int64_t *id)
{
    const char *v = rq->query(rq, "cursor");
    *has = 0;
    if (!v || !*v)
        return 0;
    char extra;
    long long st, i;
    if (sscanf(v, "%lld:%lld%c", &st, &i, &extra) != 2) {
        http_bad_param(rs, "cursor", v, "is not a cursor this service gave out");
        return -1;
    }
    *has = 1;
    *start = st;
    *id = i;
    return 0;
}

int http_param_enum(const http_request *rq, http_response *rs, const char *name, const char *const *allowed,
                    const char **out)
{
    const char *v = rq->query(rq, name);
    *out = NULL;
    if (!v || !*v)
        return 0;
    char list[256] = "";
    for (size_t i = 0; allowed[i]; i++) {
        if (strcmp(v, allowed[i]) == 0) {
            *out = allowed[i];
            return 0;
        }
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", allowed[i]);
    }
    char why[300];
    snprintf(why, sizeof why, "is not one of %s", list);
    http_bad_param(rs, name, v, why);
    return -1;
}

int http_list_params(const http_request *rq, http_response *rs, http_list_fields f, http_list_enum first,
                     http_list_enum second)
{
    const char *v = rq->query(rq, "service");
    *f.service = v && *v ? v : NULL;
    if (http_param_enum(rq, rs, first.name, first.allowed, first.out) ||
        http_param_enum(rq, rs, second.name, second.allowed, second.out) ||
        http_param_time(rq, rs, "since", f.has_since, f.since_ms) ||
        http_param_time(rq, rs, "until", f.has_until, f.until_ms) || http_param_limit(rq, rs, f.limit) ||
        http_param_cursor(rq, rs, f.has_cursor, f.cursor_start, f.cursor_id))
        return -1;
    return 0;
}

void http_list_answer(http_response *rs, const char *key, json_t *rows, const char *cursor)
{
    rs->status = 200;
    rs->json = json_pack("{s:o, s:o}", key, rows, "next_cursor", *cursor ? json_string(cursor) : json_null());
}
