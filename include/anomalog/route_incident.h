/**
 * @file route_incident.h
 * @brief Notifications by incident: each destination gets one when the
 *        incident first reaches it, updates under the same dedup key when a
 *        service joins or the severity rises, a resolve when it is resolved
 *        or merged into another.
 *
 * Pure functions (route.h, route_decide.h and jansson only). The store calls
 * them inside the transaction that joins an anomaly to its incident (or
 * resolves the incident), so what is decided and queued commits together.
 * The (service, type) suppression of route_decide still applies: a member
 * whose pair is suppressed queues nothing.
 */
#ifndef ANOMALOG_ROUTE_INCIDENT_H
#define ANOMALOG_ROUTE_INCIDENT_H

#include <stdint.h>

#include <jansson.h>

#include "anomalog/route.h"
#include "anomalog/route_decide.h"

/** An incident as its notifications describe it. */
typedef struct route_incident {
    int64_t id;
    const char *severity;
    const json_t *services;      /**< array of names */
    const char *root_service, *root_reason, *summary;
    int64_t start_ms, end_ms, members;
    int64_t merged_into;         /**< resolve of a merged incident: the one that took its members; else 0 */
} route_incident;

/** What a member makes its incident send to one destination. */
typedef enum route_incident_event {
    ROUTE_INCIDENT_NONE = 0, /**< nothing: the destination already has the incident, and there is no news */
    ROUTE_INCIDENT_OPEN,     /**< the incident opens there (held for incident.group_wait by the store) */
    ROUTE_INCIDENT_UPDATE,   /**< news under the same dedup key, after the open that was sent */
    ROUTE_INCIDENT_HELD      /**< news while the open is still held: the open carries it, nothing follows */
} route_incident_event;

/**
 * What a member that opened a suppression interval of its pair makes its
 * incident send to one destination: OPEN when that destination has had
 * nothing of the incident yet; when it has and the member brings news (a
 * service new to the incident, or a higher severity), HELD if all it has is
 * an open still held back, else UPDATE; NONE without news.
 */
route_incident_event route_incident_event_of(int had, int held, int news);

/** The incident's dedup key, "anomalog:incident:<id>", into buf (at least 40 bytes). */
const char *route_incident_key(int64_t id, char *buf, size_t len);

/**
 * The body of event ev (OPEN or UPDATE) of incident inc at a destination of
 * kind k, from anomaly a (of window w): the anomaly's own body
 * (route_payload) under the incident's dedup key with the incident added
 * (PagerDuty custom_details.incident and a summary that starts
 * "Incident #<id>:", a first line in Slack, Alertmanager labels {alertname
 * AnomalogIncident, incident <id>}, "event" and "incident" in a webhook's or
 * file's object) with a link to it.
 * @return the JSON text (the caller frees it), or NULL when out of memory
 */
char *route_incident_body(const route_config *rt, dest_kind k, const route_window *w, const json_t *a,
                          int64_t anomaly_id, int64_t now_ms, int64_t until_ms, const route_incident *inc,
                          route_incident_event ev);

/**
 * The notifications of anomaly a (of window w) for its incident: to each
 * destination the anomaly's routes match (route_match), the event
 * route_incident_event_of gives for it (had: its name is among had[]; held:
 * held[] says so for that name), through put with its body
 * (route_incident_body; NULL for HELD: the store makes its held open carry
 * the member).
 * @return how many were handed to put, or -1 when put failed or memory ran out
 */
int route_incident_notifications(const route_config *rt, const route_window *w, const json_t *a, int severity_rank,
                                 int64_t anomaly_id, int64_t now_ms, int64_t until_ms, const route_incident *inc,
                                 int news, const char *const *had, const int *held, size_t n_had,
                                 int (*put)(void *arg, const route_dest *d, route_incident_event ev, const char *dedup,
                                            const char *body),
                                 void *arg);

/**
 * The body resolving the incident at a destination of kind k (new
 * reference): PagerDuty event_action resolve, Alertmanager the same labels
 * with endsAt now, a Slack follow-up, the webhook's and file's "resolve"
 * event. NULL when out of memory.
 */
json_t *route_incident_resolve_payload(dest_kind k, const route_incident *inc, const char *public_url,
                                       int64_t now_ms);

#endif
