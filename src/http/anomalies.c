/*
 * anomalies.c — GET /anomalies: filtered by service, severity (at least),
 * type and time (the anomaly's window overlapping [since, until)), newest
 * first by window start, cursor paging like /windows; POST
 * /anomalies/{id}/feedback, and the feedback body and steps it shares with
 * POST /incidents/{id}/feedback.
 *
 * Threads: HTTP threads. Limits: a feedback note of at most 4096 bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anomalog/http.h"
#include "anomalog/severity.h"

static const char *const types[] = {"error_spike", "auth_failure", "latency", "security",
                                    "resource",    "config",       "unknown", NULL};

void http_anomalies_list(const app *a, const http_request *rq, http_response *rs)
{
    anomaly_query q = {0};
    const char *sev = NULL;
    if (http_list_params(rq, rs, HTTP_LIST_FIELDS(q), (http_list_enum){"severity", SEVERITY_NAMES, &sev},
                         (http_list_enum){"type", types, &q.type}))
        return;
    q.min_severity = sev ? severity_rank(sev) : 0;
    json_t *arr;
    char cursor[64], err[256];
    if (store_anomalies_list(a->st, &q, &arr, cursor, sizeof cursor, err, sizeof err) == STORE_OK)
        http_list_answer(rs, "anomalies", arr, cursor);
    else
        http_storage_unavailable(rs, err);
}

int http_feedback_body(const http_request *rq, http_response *rs, json_t **body, const char **verdict,
                       const char **note)
{
    *body = NULL;
    const char *ctype = rq->header(rq, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0) {
        http_error(rs, 415, "unsupported_media_type", "send application/json {\"verdict\": ..., \"note\": ...}");
        return -1;
    }
    json_error_t jerr;
    json_t *b = json_loadb(rq->body ? rq->body : "", rq->body_len, 0, &jerr);
    if (!b) {
        json_t *e = http_error(rs, 400, "invalid_json", "invalid JSON: %s", jerr.text);
        json_object_set_new(e, "line", json_integer(jerr.line));
        return -1;
    }
    const char *v = json_string_value(json_object_get(b, "verdict"));
    json_t *n = json_object_get(b, "note");
    const char *field = !json_is_object(b) ? NULL
                        : !v || (strcmp(v, "false_positive") != 0 && strcmp(v, "true_positive") != 0) ? "verdict"
                        : (n && !json_is_string(n) && !json_is_null(n)) || json_string_length(n) > 4096 ? "note"
                                                                                                        : "";
    if (!field || *field) {
        json_t *e = http_error(rs, 400, "invalid_entry",
                               "%s: expected {\"verdict\": \"false_positive\" or \"true_positive\", "
                               "\"note\": text of at most 4096 bytes}",
                               field ? field : "body");
        json_object_set_new(e, "field", field ? json_string(field) : json_null());
        json_decref(b);
        return -1;
    }
    *body = b;
    *verdict = v;
    *note = json_string_value(n);
    return 0;
}

/*
 * POST /anomalies/{id}/feedback {"verdict": "false_positive"|"true_positive", "note": "..."}:
 * a false positive marks the templates behind the anomaly known-benign for its
 * service: later digests say so, and the baseline does not raise them again.
 */
void http_anomaly_feedback(const app *a, const http_request *rq, http_response *rs)
{
    http_feedback_post(a, rq, rs, "an anomaly", "anomaly", store_anomaly_feedback);
}

void http_feedback_post(const app *a, const http_request *rq, http_response *rs, const char *an_what,
                        const char *what, http_feedback_fn record)
{
    long long id = http_param_id(rq, rs, an_what);
    json_t *body, *out = NULL;
    const char *verdict, *note;
    if (!id || http_feedback_body(rq, rs, &body, &verdict, &note))
        return;
    char err[256];
    if (http_store_found(rs, record(a->st, id, verdict, note, &out, err, sizeof err), what, id, err) == 0) {
        rs->status = 200;
        rs->json = out;
    }
    json_decref(body);
}
