/*
 * incident.c — notifications by incident (route_incident.h): which event a
 * member makes its incident send, and the bodies of an incident's
 * notifications: the opening member's (or the joining member's) own body
 * (payload.c) under the incident's dedup key with the incident added, and the
 * resolve. While a destination's open is held (incident.group_wait, the
 * store's part) a member with news is handed over as HELD: the open takes it
 * instead of an update following it.
 *
 * Each destination hears of an incident once it matches one of its members:
 * the first member it matches opens the incident there, later ones update it
 * when they bring news. Each destination keeps one thing per incident: PagerDuty one alert (its
 * dedup_key: triggers after the first update it, a resolve closes it),
 * Alertmanager one alert (labels alertname AnomalogIncident and incident
 * <id>; endsAt a day ahead while open, the resolve's time at the end), Slack
 * and webhooks a message per event naming the incident.
 *
 * Threads: called on analysis workers inside the store's transaction; pure.
 * Limits: the incident's line in Slack is at most 1.5 KiB; a body is the
 * anomaly's (payload.c's bounds) plus the incident object.
 */
#include "anomalog/route_incident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"

#define ROUTE_MAX_DESTS 32
#define AM_OPEN_MS (24LL * 3600 * 1000) /* an open incident's Alertmanager alert lasts this long unless resolved */

route_incident_event route_incident_event_of(int had, int held, int news)
{
    if (!had)
        return ROUTE_INCIDENT_OPEN;
    if (!news)
        return ROUTE_INCIDENT_NONE;
    return held ? ROUTE_INCIDENT_HELD : ROUTE_INCIDENT_UPDATE;
}

const char *route_incident_key(int64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "anomalog:incident:%lld", (long long)id);
    return buf;
}

static json_t *incident_object(const route_incident *inc, const char *event, const char *link)
{
    char s[40], e[40];
    time_format_rfc3339(inc->start_ms, s, sizeof s);
    time_format_rfc3339(inc->end_ms, e, sizeof e);
    json_t *o = json_pack("{s:I, s:s, s:s, s:O, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "id", (json_int_t)inc->id, "event",
                          event, "severity", inc->severity ? inc->severity : "low", "services", inc->services,
                          "root_service", inc->root_service ? inc->root_service : "", "root_reason",
                          inc->root_reason ? inc->root_reason : "", "summary", inc->summary ? inc->summary : "",
                          "start", s, "end", e, "members", (json_int_t)inc->members, "link", link);
    if (o && inc->merged_into > 0)
        json_object_set_new(o, "merged_into", json_integer(inc->merged_into));
    return o;
}

/* "Incident #3 opened: db, payments (likely root db)" (event: open, update, resolved) */
static void headline(const route_incident *inc, const char *event, char *buf, size_t len)
{
    const char *verb = !strcmp(event, "open") ? "opened" : !strcmp(event, "update") ? "updated" : event;
    size_t n = (size_t)snprintf(buf, len, "Incident #%lld %s: ", (long long)inc->id, verb);
    size_t i;
    json_t *x;
    json_array_foreach(inc->services, i, x)
    {
        if (n >= len)
            break;
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", json_string_value(x));
    }
    if (n < len)
        snprintf(buf + n, len - n, " (likely root %s)", inc->root_service ? inc->root_service : "?");
}

static void link_of(const char *public_url, int64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/incidents/%lld", public_url, (long long)id);
}

/* The anomaly's body for kind k with the incident added (body is changed in place). */
static int add_incident(dest_kind k, json_t *body, const route_incident *inc, const char *event, const char *link,
                        int64_t now_ms)
{
    json_t *obj = incident_object(inc, event, link);
    if (!obj)
        return -1;
    char head[1536];
    headline(inc, event, head, sizeof head);
    int rc = 0;
    switch (k) {
    case DEST_PAGERDUTY: {
        json_t *payload = json_object_get(body, "payload");
        const char *sum = json_string_value(json_object_get(payload, "summary"));
        char s[1001];
        snprintf(s, sizeof s, "Incident #%lld: %s", (long long)inc->id, sum ? sum : "");
        rc |= json_object_set_new(payload, "summary", json_string(s));
        rc |= json_object_set(json_object_get(payload, "custom_details"), "incident", obj);
        rc |= json_array_append_new(json_object_get(body, "links"),
                                    json_pack("{s:s, s:s}", "href", link, "text", "The incident on anomalog"));
        break;
    }
    case DEST_SLACK: {
        const char *t = json_string_value(json_object_get(body, "text"));
        size_t n = strlen(head) + 16 + (t ? strlen(t) : 0) + strlen(link);
        char *text = malloc(n);
        if (!text) {
            rc = -1;
            break;
        }
        /* the headline names services: escape what Slack reads as markup */
        for (char *p = head; *p; p++)
            if (*p == '<' || *p == '>' || *p == '&' || *p == '*')
                *p = ' ';
        snprintf(text, n, "*%s* <%s|open>\n%s", head, link, t ? t : "");
        rc |= json_object_set_new(body, "text", json_string(text));
        free(text);
        break;
    }
    case DEST_ALERTMANAGER: {
        json_t *alert = json_array_get(body, 0);
        char id[32], ends[40];
        snprintf(id, sizeof id, "%lld", (long long)inc->id);
        rc |= json_object_set_new(alert, "labels",
                                  json_pack("{s:s, s:s}", "alertname", "AnomalogIncident", "incident", id));
        json_t *ann = json_object_get(alert, "annotations");
        rc |= json_object_set_new(ann, "incident", json_string(head));
        rc |= json_object_set_new(ann, "root_reason", json_string(inc->root_reason ? inc->root_reason : ""));
        rc |= json_object_set_new(ann, "severity", json_string(inc->severity ? inc->severity : "low"));
        rc |= json_object_set_new(ann, "link", json_string(link));
        rc |= json_object_set_new(alert, "generatorURL", json_string(link));
        rc |= json_object_set_new(alert, "endsAt", json_string(time_format_rfc3339(now_ms + AM_OPEN_MS, ends,
                                                                                 sizeof ends)));
        break;
    }
    case DEST_WEBHOOK:
    case DEST_FILE:
        rc |= json_object_set_new(body, "event", json_string(event));
        rc |= json_object_set(body, "incident", obj);
        break;
    }
    json_decref(obj);
    return rc ? -1 : 0;
}

char *route_incident_body(const route_config *rt, dest_kind k, const route_window *w, const json_t *a,
                          int64_t anomaly_id, int64_t now_ms, int64_t until_ms, const route_incident *inc,
                          route_incident_event ev)
{
    char key[48], wlink[1200], ilink[1200];
    route_incident_key(inc->id, key, sizeof key);
    snprintf(wlink, sizeof wlink, "%s/windows/%lld", rt->public_url, (long long)w->id);
    link_of(rt->public_url, inc->id, ilink, sizeof ilink);
    json_t *empty = json_array();
    notification n = route_notification_of(w, a, anomaly_id, until_ms, empty);
    n.type = n.type ? n.type : "";
    n.severity = n.severity ? n.severity : "low";
    n.dedup_key = key;
    n.link = wlink;
    json_t *body = empty ? route_payload(k, &n) : NULL;
    char *text = NULL;
    if (body && add_incident(k, body, inc, ev == ROUTE_INCIDENT_UPDATE ? "update" : "open", ilink, now_ms) == 0)
        text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    json_decref(empty);
    return text;
}

int route_incident_notifications(const route_config *rt, const route_window *w, const json_t *a, int severity_rank,
                                 int64_t anomaly_id, int64_t now_ms, int64_t until_ms, const route_incident *inc,
                                 int news, const char *const *had, const int *held, size_t n_had,
                                 int (*put)(void *arg, const route_dest *d, route_incident_event ev, const char *dedup,
                                            const char *body),
                                 void *arg)
{
    const char *type = json_string_value(json_object_get(a, "type"));
    const route_dest *dests[ROUTE_MAX_DESTS];
    size_t nd = route_match(rt, w->service, type, severity_rank, dests, ROUTE_MAX_DESTS);
    char key[48];
    route_incident_key(inc->id, key, sizeof key);
    int rc = 0, queued = 0;
    for (size_t i = 0; i < nd && rc == 0; i++) {
        int h = 0, hd = 0;
        for (size_t k = 0; k < n_had && !h; k++)
            if (strcmp(had[k], dests[i]->name) == 0) {
                h = 1;
                hd = held[k];
            }
        route_incident_event ev = route_incident_event_of(h, hd, news);
        if (ev == ROUTE_INCIDENT_NONE)
            continue;
        char *text = NULL;
        if (ev != ROUTE_INCIDENT_HELD) {
            text = route_incident_body(rt, dests[i]->kind, w, a, anomaly_id, now_ms, until_ms, inc, ev);
            if (!text) {
                rc = -1;
                break;
            }
        }
        rc = put(arg, dests[i], ev, key, text);
        free(text);
        queued += rc == 0;
    }
    return rc ? rc : queued;
}

json_t *route_incident_resolve_payload(dest_kind k, const route_incident *inc, const char *public_url,
                                       int64_t now_ms)
{
    char key[48], link[1200], now[40], start[40], head[1536], id[32];
    route_incident_key(inc->id, key, sizeof key);
    link_of(public_url, inc->id, link, sizeof link);
    time_format_rfc3339(now_ms, now, sizeof now);
    time_format_rfc3339(inc->start_ms, start, sizeof start);
    headline(inc, "resolved", head, sizeof head);
    char why[1700];
    if (inc->merged_into > 0)
        snprintf(why, sizeof why, "%s: merged into incident #%lld, where its findings go on.", head,
                 (long long)inc->merged_into);
    else
        snprintf(why, sizeof why, "%s: quiet since its last finding.", head);
    switch (k) {
    case DEST_PAGERDUTY:
        return json_pack("{s:s, s:s}", "event_action", "resolve", "dedup_key", key);
    case DEST_SLACK:
        for (char *p = why; *p; p++)
            if (*p == '<' || *p == '>' || *p == '&' || *p == '*')
                *p = ' ';
        return json_pack("{s:s+}", "text", "*Resolved* ", why);
    case DEST_ALERTMANAGER:
        snprintf(id, sizeof id, "%lld", (long long)inc->id);
        return json_pack("[{s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:s, s:s}]", "labels", "alertname", "AnomalogIncident",
                         "incident", id, "annotations", "summary", why, "link", link, "generatorURL", link, "startsAt",
                         start, "endsAt", now);
    case DEST_WEBHOOK:
    case DEST_FILE: {
        json_t *obj = incident_object(inc, "resolve", link);
        return obj ? json_pack("{s:s, s:o, s:s, s:s, s:s}", "event", "resolve", "incident", obj, "dedup_key", key,
                               "link", link, "message", why)
                   : NULL;
    }
    }
    return NULL;
}
