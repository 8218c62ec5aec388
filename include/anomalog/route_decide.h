/**
 * @file route_decide.h
 * @brief The routing decision for one anomaly: suppressed by an open interval
 *        of its (service, type), or opening one, and then which notifications
 *        go where with which bodies.
 *
 * Pure functions (route.h and jansson only). The store calls them inside the
 * transaction that records the anomaly: it reads the (service, type)'s
 * interval, asks route_decide, writes what was decided, and queues what
 * route_notifications hands it in the outbox, so the decision and its
 * records commit together.
 */
#ifndef ANOMALOG_ROUTE_DECIDE_H
#define ANOMALOG_ROUTE_DECIDE_H

#include <stdint.h>

#include <jansson.h>

#include "anomalog/route.h"

/** The suppression interval of a (service, type) as stored. */
typedef struct route_open {
    int exists;           /**< 0: none was ever opened */
    int64_t opened_by;    /**< the anomaly that opened it */
    int severity_rank;    /**< its severity, 1 low .. 4 critical */
    int64_t until_ms;
} route_open;

/** What becomes of an anomaly. */
typedef struct route_decision {
    int suppress;           /**< 1: suppressed by suppressed_by; 0: opens an interval until until_ms */
    int64_t suppressed_by;
    int64_t until_ms;
} route_decision;

/**
 * Within an open interval (until > now) and not more severe than the anomaly
 * that opened it, an anomaly is suppressed; otherwise it opens a new interval
 * of route_suppress_ms(rt, service, type) from now.
 */
route_decision route_decide(const route_config *rt, const char *service, const char *type, int severity_rank,
                            const route_open *open, int64_t now_ms);

/** The window an anomaly was found in, as notifications name it. */
typedef struct route_window {
    int64_t id;
    const char *service;
    int64_t start_ms, end_ms;
} route_window;

/**
 * What every notification of anomaly a (a verdict's anomaly object, with id anomaly_id, of window w) says
 * of it, repeats suppressed until until_ms: its strings borrowed from a and w, its evidence a's array or
 * `empty` (an empty array the caller keeps) when a has none. The caller sets dedup_key and link.
 */
notification route_notification_of(const route_window *w, const json_t *a, int64_t anomaly_id, int64_t until_ms,
                                   const json_t *empty);

/**
 * The notifications of anomaly a (a verdict's anomaly object, with id
 * anomaly_id, of window w), which opened a suppression interval until
 * `until`: calls put once per destination of rt that matches, with the
 * interval's dedup key and the body built for the destination's kind.
 * @return 0, or -1 when put failed or memory ran out
 */
int route_notifications(const route_config *rt, const route_window *w, const json_t *a, int severity_rank,
                        int64_t anomaly_id, int64_t now_ms, int64_t until_ms,
                        int (*put)(void *arg, const route_dest *d, const char *dedup, const char *body), void *arg);

#endif
