/*
 * routes.c — the routing part of the configuration file: destinations,
 * routes, suppression intervals per service and per type, and the
 * destinations the environment alone enables (ANOMALOG_SLACK_WEBHOOK_URL, …).
 *
 * Threads: called by config_load on main's thread before any other starts.
 * Invariants: every error names the file, the line and the key; what is
 * read lands in config.routing, which route_config_check() then checks as a
 * whole (a route naming an unknown destination). Limits: names 1-128 bytes,
 * intervals at most 7 days.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/severity.h"
#include "config/config_int.h"

/* destinations: {name: {type, url, routing_key, secret, path}} */
static int config_load_destinations(config *c, yaml_document_t *doc, yaml_node_t *node, const char *file, char *err,
                             size_t errlen)
{
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        unsigned long line = (unsigned long)k->start_mark.line + 1;
        const char *name = config_scalar(k);
        if (!name || !*name || strlen(name) > 128 || !v || v->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%lu: destinations: each entry is a name (1-128 bytes) with a mapping", file, line);
            return -1;
        }
        const char *fields[5] = {0}; /* type url routing_key secret path */
        static const char *const names[5] = {"type", "url", "routing_key", "secret", "path"};
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
            const char *fk = config_scalar(yaml_document_get_node(doc, q->key));
            const char *fv = config_scalar(yaml_document_get_node(doc, q->value));
            int found = -1;
            for (int i = 0; i < 5 && fk; i++)
                if (!strcmp(fk, names[i]))
                    found = i;
            if (found < 0 || !fv) {
                snprintf(err, errlen, "%s:%lu: destinations.%s: unknown or empty setting \"%s\" (a destination "
                         "takes: type, url, routing_key, secret, path)", file, line, name, fk ? fk : "");
                return -1;
            }
            fields[found] = fv;
        }
        int dk = dest_kind_parse(fields[0]);
        if (dk < 0) {
            snprintf(err, errlen, "%s:%lu: destinations.%s.type: expected pagerduty, slack, alertmanager, webhook or "
                     "file", file, line, name);
            return -1;
        }
        route_dest *d = route_dest_add(&c->routing, name, (dest_kind)dk);
        if (!d || (fields[1] && !(d->url = strdup(fields[1]))) || (fields[2] && !(d->routing_key = strdup(fields[2]))) ||
            (fields[3] && !(d->secret = strdup(fields[3]))) || (fields[4] && !(d->path = strdup(fields[4])))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (dk == DEST_PAGERDUTY && !d->url && !(d->url = strdup("https://events.pagerduty.com/v2/enqueue"))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* routes: [{match: {severity, severity_at_least, service, type}, to: [names] or name}] */
static int config_load_routes(config *c, yaml_document_t *doc, yaml_node_t *node, const char *file, char *err, size_t errlen)
{
    if (config_expect(node, YAML_SEQUENCE_NODE, file, "routes", "a list of {match: ..., to: [...]}", err, errlen))
        return -1;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
        yaml_node_t *r = yaml_document_get_node(doc, *it);
        unsigned long line = (unsigned long)r->start_mark.line + 1;
        route_rule *nr = realloc(c->routing.rules, (c->routing.n_rules + 1) * sizeof *nr);
        if (!nr) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        c->routing.rules = nr;
        route_rule *rule = &nr[c->routing.n_rules++];
        memset(rule, 0, sizeof *rule);
        if (r->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%lu: routes: each route is a mapping {match: ..., to: [...]}", file, line);
            return -1;
        }
        for (yaml_node_pair_t *p = r->data.mapping.pairs.start; p < r->data.mapping.pairs.top; p++) {
            const char *k = config_scalar(yaml_document_get_node(doc, p->key));
            yaml_node_t *v = yaml_document_get_node(doc, p->value);
            if (k && !strcmp(k, "match") && v->type == YAML_MAPPING_NODE) {
                for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
                    const char *mk = config_scalar(yaml_document_get_node(doc, q->key));
                    const char *mv = config_scalar(yaml_document_get_node(doc, q->value));
                    int bad = !mk || !mv;
                    for (yaml_node_pair_t *e = v->data.mapping.pairs.start; !bad && e < q; e++) {
                        const char *ek = config_scalar(yaml_document_get_node(doc, e->key));
                        if (ek && !strcmp(ek, mk)) {
                            snprintf(err, errlen, "%s:%lu: routes: match.%s is given twice", file, line, mk);
                            return -1;
                        }
                    }
                    if (!bad && !strcmp(mk, "severity"))
                        bad = !(rule->severity = severity_rank(mv));
                    else if (!bad && !strcmp(mk, "severity_at_least"))
                        bad = !(rule->severity_min = severity_rank(mv));
                    else if (!bad && !strcmp(mk, "service"))
                        bad = !(rule->service = strdup(mv));
                    else if (!bad && !strcmp(mk, "type"))
                        bad = !(rule->type = strdup(mv));
                    else
                        bad = 1;
                    if (bad) {
                        snprintf(err, errlen, "%s:%lu: routes: match takes severity or severity_at_least "
                                 "(low, medium, high, critical), service and type; got \"%s\"", file, line,
                                 mk ? mk : "");
                        return -1;
                    }
                }
            } else if (k && !strcmp(k, "to")) {
                yaml_node_item_t *a = NULL, *b = NULL;
                yaml_node_item_t one = p->value;
                if (v->type == YAML_SEQUENCE_NODE) {
                    a = v->data.sequence.items.start;
                    b = v->data.sequence.items.top;
                } else {
                    a = &one;
                    b = &one + 1;
                }
                for (; a < b; a++) {
                    const char *name = config_scalar(yaml_document_get_node(doc, *a));
                    char **nt = realloc(rule->to, (rule->n_to + 1) * sizeof *nt);
                    if (nt)
                        rule->to = nt;
                    if (!name || !nt || !(nt[rule->n_to] = strdup(name))) {
                        snprintf(err, errlen, "%s:%lu: routes: to is a destination name or a list of them", file, line);
                        return -1;
                    }
                    rule->n_to++;
                }
            } else {
                snprintf(err, errlen, "%s:%lu: routes: a route takes match (a mapping) and to", file, line);
                return -1;
            }
        }
        if (!rule->n_to) {
            snprintf(err, errlen, "%s:%lu: routes: a route needs to: [destination, ...]", file, line);
            return -1;
        }
    }
    return 0;
}

static int config_load_intervals(route_interval **v, size_t *n, yaml_document_t *doc, yaml_node_t *node, const char *key,
                          const char *file, char *err, size_t errlen)
{
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        const char *name = config_scalar(k), *val = config_scalar(yaml_document_get_node(doc, p->value));
        int64_t ms;
        if (!name || !val || config_duration0(val, &ms) || ms < 0 || ms > 7LL * 86400 * 1000) {
            snprintf(err, errlen, "%s:%lu: %s: expected name: duration (e.g. 30m, at most 7d)", file,
                     (unsigned long)k->start_mark.line + 1, key);
            return -1;
        }
        route_interval *nv = realloc(*v, (*n + 1) * sizeof *nv);
        if (!nv || !(nv[*n].name = strdup(name))) {
            if (nv)
                *v = nv;
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        *v = nv;
        nv[(*n)++].ms = ms;
    }
    return 0;
}

int config_load_routing(config *c, yaml_document_t *doc, const char *key, yaml_node_t *v, const char *file,
                        char *err, size_t errlen)
{
    if (!strcmp(key, "routes"))
        return config_load_routes(c, doc, v, file, err, errlen);
    if (config_expect(v, YAML_MAPPING_NODE, file, key, "a mapping", err, errlen))
        return -1;
    if (!strcmp(key, "destinations"))
        return config_load_destinations(c, doc, v, file, err, errlen);
    if (!strcmp(key, "suppress_per_service"))
        return config_load_intervals(&c->routing.per_service, &c->routing.n_per_service, doc, v, key, file, err, errlen);
    return config_load_intervals(&c->routing.per_type, &c->routing.n_per_type, doc, v, key, file, err, errlen);
}

/* Destinations enabled by the environment alone (named after their kind). */
int config_env_destinations(config *c, char *err, size_t errlen)
{
    static const struct {
        const char *env;
        dest_kind kind;
    } envs[] = {{"ANOMALOG_PAGERDUTY_ROUTING_KEY", DEST_PAGERDUTY}, {"ANOMALOG_SLACK_WEBHOOK_URL", DEST_SLACK},
                {"ANOMALOG_ALERTMANAGER_URL", DEST_ALERTMANAGER},   {"ANOMALOG_WEBHOOK_URL", DEST_WEBHOOK},
                {"ANOMALOG_ALERT_FILE", DEST_FILE}};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i].env);
        if (!v || !*v)
            continue;
        route_dest *d = route_dest_add(&c->routing, dest_kind_name(envs[i].kind), envs[i].kind);
        int oom = !d;
        if (d && envs[i].kind == DEST_PAGERDUTY) {
            const char *u = getenv("ANOMALOG_PAGERDUTY_URL");
            oom = !(d->routing_key = strdup(v)) ||
                  !(d->url = strdup(u && *u ? u : "https://events.pagerduty.com/v2/enqueue"));
        } else if (d && envs[i].kind == DEST_FILE) {
            oom = !(d->path = strdup(v));
        } else if (d) {
            const char *sec = envs[i].kind == DEST_WEBHOOK ? getenv("ANOMALOG_WEBHOOK_SECRET") : NULL;
            oom = !(d->url = strdup(v)) || (sec && *sec && !(d->secret = strdup(sec)));
        }
        if (oom) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

