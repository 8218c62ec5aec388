/*
 * anomalies.c — GET /anomalies: filtered by service, severity (at least),
 * type and time (the anomaly's window overlapping [since, until)), newest
 * first by window start, cursor paging like /windows.
 */
#include <stdio.h>

#include "anomalog/http.h"
#include "anomalog/verdict.h"

static const char *const severities[] = {"low", "medium", "high", "critical", NULL};
static const char *const types[] = {"error_spike", "auth_failure", "latency", "security",
                                    "resource",    "config",       "unknown", NULL};

void http_anomalies_list(const app *a, const http_request *rq, http_response *rs)
{
    anomaly_query q = {0};
    const char *sev = NULL;
    const char *v = rq->query(rq, "service");
    q.service = v && *v ? v : NULL;
    if (http_param_enum(rq, rs, "severity", severities, &sev) || http_param_enum(rq, rs, "type", types, &q.type) ||
        http_param_time(rq, rs, "since", &q.has_since, &q.since_ms) ||
        http_param_time(rq, rs, "until", &q.has_until, &q.until_ms) || http_param_limit(rq, rs, &q.limit) ||
        http_param_cursor(rq, rs, &q.has_cursor, &q.cursor_start, &q.cursor_id))
        return;
    q.min_severity = sev ? verdict_severity_rank(sev) : 0;
    json_t *arr;
    char cursor[64], err[256];
    if (store_anomalies_list(a->st, &q, &arr, cursor, sizeof cursor, err, sizeof err) != STORE_OK) {
        http_error(rs, 503, "storage_unavailable", "%s", err);
        snprintf(rs->retry_after, sizeof rs->retry_after, "1");
        return;
    }
    rs->status = 200;
    rs->json = json_pack("{s:o, s:o}", "anomalies", arr, "next_cursor", cursor[0] ? json_string(cursor) : json_null());
}
