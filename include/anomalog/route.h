/**
 * @file route.h
 * @brief Where findings go: destinations, routes, suppression intervals, and
 *        the notification bodies built for each kind of destination.
 *
 * Pure data and functions (jansson only): the configuration fills a
 * route_config, the store consults it inside the transaction that records
 * the anomalies (suppression, which destinations, which bodies), and the
 * sender thread (notifier.h) delivers what the store queued.
 */
#ifndef ANOMALOG_ROUTE_H
#define ANOMALOG_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum dest_kind { DEST_PAGERDUTY = 0, DEST_SLACK, DEST_ALERTMANAGER, DEST_WEBHOOK, DEST_FILE } dest_kind;

/** One destination. Strings are malloc'd (NULL when unset). */
typedef struct route_dest {
    char *name;
    dest_kind kind;
    char *url;          /**< pagerduty (events endpoint), slack, alertmanager (base URL), webhook */
    char *routing_key;  /**< pagerduty */
    char *secret;       /**< webhook: HMAC-SHA256 key, or NULL for no signature */
    char *path;         /**< file */
} route_dest;

/** One route: all set conditions must hold. */
typedef struct route_rule {
    int severity;        /**< 0 any, else exactly this rank (1 low .. 4 critical) */
    int severity_min;    /**< 0 any, else at least this rank */
    char *service;       /**< NULL: any */
    char *type;          /**< NULL: any */
    char **to;           /**< destination names */
    size_t n_to;
} route_rule;

typedef struct route_interval {
    char *name;          /**< service or type */
    int64_t ms;
} route_interval;

typedef struct route_config {
    route_dest *dests;
    size_t n_dests;
    route_rule *rules;   /**< empty: the default routes by destination kind */
    size_t n_rules;
    int match_all;       /**< 1: every matching route; 0: the first (route_mode first|all) */
    int64_t suppress_ms; /**< default suppression interval */
    route_interval *per_service, *per_type;
    size_t n_per_service, n_per_type;
    char public_url[1024]; /**< links to windows: <public_url>/windows/<id> */
    int dry_run;         /**< record what would be sent, send nothing */
    int enabled;         /**< suppression and notifications on (serve); off in replay */
} route_config;

/** Frees what a route_config holds (not the struct). Accepts NULL. */
void route_config_free(route_config *rc);

/** "pagerduty" … "file", or -1 for an unknown name. */
int dest_kind_parse(const char *s);
const char *dest_kind_name(dest_kind k);

/**
 * Adds a destination (copies the strings); replaces one of the same name.
 * @return the destination, or NULL when out of memory.
 */
route_dest *route_dest_add(route_config *rc, const char *name, dest_kind kind);

/** Checks every destination has what its kind needs and every route names a destination. */
int route_config_check(const route_config *rc, char *err, size_t errlen);

/** The destination of that name, or NULL. */
const route_dest *route_dest_find(const route_config *rc, const char *name);

/** The suppression interval of (service, type): per service, else per type, else the default. */
int64_t route_suppress_ms(const route_config *rc, const char *service, const char *type);

/**
 * The destinations an anomaly goes to, without duplicates, in route order.
 * With no routes configured, the defaults by kind: pagerduty gets critical,
 * slack high and medium, file low, alertmanager and webhook everything.
 * @param[out] out  up to max destinations
 * @return how many were written
 */
size_t route_match(const route_config *rc, const char *service, const char *type, int severity_rank,
                   const route_dest **out, size_t max);

/** What a notification says. */
typedef struct notification {
    int64_t anomaly_id, window_id;
    const char *service, *type, *severity, *summary, *recommended_action, *analyzer;
    const json_t *evidence;         /**< array of strings */
    int64_t window_start_ms, window_end_ms;
    int64_t until_ms;               /**< repeats suppressed until */
    const char *dedup_key;
    const char *link;               /**< the window on the service */
} notification;

/**
 * The body sent to a destination of kind k (new reference), or NULL when out of memory.
 * PagerDuty's routing_key is added at send time, so no key is stored in the database.
 */
json_t *route_payload(dest_kind k, const notification *n);

/** PagerDuty's severity for ours: critical, error (high), warning (medium), info (low). */
const char *route_pagerduty_severity(const char *severity);

#endif
