/*
 * decide.c — the routing decision for one anomaly (route_decide.h):
 * suppression, then the notifications of an anomaly that opened an interval
 * (whose fields incident.c's notifications share: route_notification_of).
 *
 * Threads: any; pure functions of their arguments (the store calls them
 * inside its finish transaction, so what they decide is recorded atomically
 * with the anomaly). Limits: at most ROUTE_MAX_DESTS destinations per
 * anomaly; the dedup key is at most 299 bytes and the link 1199.
 */
#include "anomalog/route_decide.h"

#include <stdio.h>
#include <stdlib.h>

#define ROUTE_MAX_DESTS 32

route_decision route_decide(const route_config *rt, const char *service, const char *type, int severity_rank,
                            const route_open *open, int64_t now_ms)
{
    if (open && open->exists && open->until_ms > now_ms && severity_rank <= open->severity_rank)
        return (route_decision){.suppress = 1, .suppressed_by = open->opened_by, .until_ms = open->until_ms};
    return (route_decision){.suppress = 0, .until_ms = now_ms + route_suppress_ms(rt, service, type)};
}

notification route_notification_of(const route_window *w, const json_t *a, int64_t anomaly_id, int64_t until_ms,
                                   const json_t *empty)
{
    const char *summary = json_string_value(json_object_get(a, "summary"));
    const char *action = json_string_value(json_object_get(a, "recommended_action"));
    const json_t *ev = json_object_get(a, "evidence");
    return (notification){.anomaly_id = anomaly_id, .window_id = w->id, .service = w->service,
                          .type = json_string_value(json_object_get(a, "type")),
                          .severity = json_string_value(json_object_get(a, "severity")),
                          .summary = summary ? summary : "", .recommended_action = action ? action : "",
                          .analyzer = json_string_value(json_object_get(a, "analyzer")),
                          .evidence = json_is_array(ev) ? ev : empty, .window_start_ms = w->start_ms,
                          .window_end_ms = w->end_ms, .until_ms = until_ms};
}

int route_notifications(const route_config *rt, const route_window *w, const json_t *a, int severity_rank,
                        int64_t anomaly_id, int64_t now_ms, int64_t until_ms,
                        int (*put)(void *arg, const route_dest *d, const char *dedup, const char *body), void *arg)
{
    const char *type = json_string_value(json_object_get(a, "type"));
    const route_dest *dests[ROUTE_MAX_DESTS];
    size_t nd = route_match(rt, w->service, type, severity_rank, dests, ROUTE_MAX_DESTS);
    char dedup[300], link[1200];
    snprintf(dedup, sizeof dedup, "anomalog:%s:%s:%lld", w->service, type, (long long)now_ms);
    snprintf(link, sizeof link, "%s/windows/%lld", rt->public_url, (long long)w->id);
    json_t *empty = json_array();
    notification n = route_notification_of(w, a, anomaly_id, until_ms, empty);
    n.dedup_key = dedup;
    n.link = link;
    int rc = 0;
    for (size_t i = 0; i < nd && rc == 0; i++) {
        json_t *body = route_payload(dests[i]->kind, &n);
        char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(body);
        rc = text ? put(arg, dests[i], dedup, text) : -1;
        free(text);
    }
    json_decref(empty);
    return rc;
}
