/*
 * incidents.c — GET /incidents (filtered by status, service, severity (at
 * least) and time (the incident's span overlapping [since, until)), newest
 * first by start, cursor paging like /anomalies) and GET /incidents/{id}
 * (the incident with the timeline of its members), and POST
 * /incidents/{id}/feedback (the anomaly feedback body, given to every member).
 *
 * Threads: HTTP threads; each handler is one or two reads on a borrowed read
 * connection; feedback is one transaction on the background connection.
 * Limits: a page holds at most 1000 incidents (http_param_limit).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "anomalog/http.h"
#include "anomalog/severity.h"

static const char *const statuses[] = {"open", "resolved", NULL};

void http_incidents_list(const app *a, const http_request *rq, http_response *rs)
{
    incident_query q = {0};
    const char *sev = NULL;
    if (http_list_params(rq, rs, HTTP_LIST_FIELDS(q), (http_list_enum){"severity", SEVERITY_NAMES, &sev},
                         (http_list_enum){"status", statuses, &q.status}))
        return;
    q.min_severity = sev ? severity_rank(sev) : 0;
    json_t *arr;
    char cursor[64], err[256];
    if (store_incidents_list(a->st, &q, &arr, cursor, sizeof cursor, err, sizeof err) == STORE_OK)
        http_list_answer(rs, "incidents", arr, cursor);
    else
        http_storage_unavailable(rs, err);
}

void http_incident_get(const app *a, const http_request *rq, http_response *rs)
{
    long long id = http_param_id(rq, rs, "an incident");
    if (!id)
        return;
    json_t *out = NULL;
    char err[256];
    if (http_store_found(rs, store_incident_get(a->st, id, &out, err, sizeof err), "incident", id, err) == 0) {
        rs->status = 200;
        rs->json = out;
    }
}

/*
 * POST /incidents/{id}/feedback, the body of POST /anomalies/{id}/feedback:
 * recorded on the incident and given to each member as its own feedback (a
 * false positive marks every member's templates known-benign).
 */
void http_incident_feedback(const app *a, const http_request *rq, http_response *rs)
{
    http_feedback_post(a, rq, rs, "an incident", "incident", store_incident_feedback);
}
