/*
 * routes.c — destinations, routes and suppression intervals of the
 * configuration, and the matching the store does for every new anomaly.
 *
 * Threads: filled by config_load() before any thread starts, then read-only;
 * route_match() and route_suppress_ms() run on analysis workers inside the
 * store's finish transaction, so they only read and never block.
 *
 * Matching: a route matches when each condition it sets holds (severity
 * exactly, severity at least, service, type). With route_mode first the first
 * matching route decides; with all, every matching route adds its
 * destinations (a destination is listed once). Without any route the defaults
 * by destination kind apply: pagerduty ← critical, slack ← high and medium,
 * file ← low, alertmanager and webhook ← every severity.
 */
#include "anomalog/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"pagerduty", "slack", "alertmanager", "webhook", "file"};

int dest_kind_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof kind_names / sizeof kind_names[0]); i++)
        if (s && strcmp(s, kind_names[i]) == 0)
            return i;
    return -1;
}

const char *dest_kind_name(dest_kind k)
{
    switch (k) {
    case DEST_PAGERDUTY:
        return "pagerduty";
    case DEST_SLACK:
        return "slack";
    case DEST_ALERTMANAGER:
        return "alertmanager";
    case DEST_WEBHOOK:
        return "webhook";
    case DEST_FILE:
        return "file";
    }
    return "unknown";
}

static void dest_free(route_dest *d)
{
    free(d->name);
    free(d->url);
    free(d->routing_key);
    free(d->secret);
    free(d->path);
    memset(d, 0, sizeof *d);
}

void route_config_free(route_config *rc)
{
    if (!rc)
        return;
    for (size_t i = 0; i < rc->n_dests; i++)
        dest_free(&rc->dests[i]);
    free(rc->dests);
    for (size_t i = 0; i < rc->n_rules; i++) {
        free(rc->rules[i].service);
        free(rc->rules[i].type);
        for (size_t k = 0; k < rc->rules[i].n_to; k++)
            free(rc->rules[i].to[k]);
        free(rc->rules[i].to);
    }
    free(rc->rules);
    for (size_t i = 0; i < rc->n_per_service; i++)
        free(rc->per_service[i].name);
    free(rc->per_service);
    for (size_t i = 0; i < rc->n_per_type; i++)
        free(rc->per_type[i].name);
    free(rc->per_type);
    rc->dests = NULL;
    rc->rules = NULL;
    rc->per_service = rc->per_type = NULL;
    rc->n_dests = rc->n_rules = rc->n_per_service = rc->n_per_type = 0;
}

const route_dest *route_dest_find(const route_config *rc, const char *name)
{
    for (size_t i = 0; i < rc->n_dests; i++)
        if (strcmp(rc->dests[i].name, name) == 0)
            return &rc->dests[i];
    return NULL;
}

route_dest *route_dest_add(route_config *rc, const char *name, dest_kind kind)
{
    route_dest *d = (route_dest *)route_dest_find(rc, name);
    if (d) {
        char *keep = d->name;
        d->name = NULL;
        dest_free(d);
        d->name = keep;
    } else {
        route_dest *nd = realloc(rc->dests, (rc->n_dests + 1) * sizeof *nd);
        if (!nd)
            return NULL;
        rc->dests = nd;
        d = &nd[rc->n_dests];
        memset(d, 0, sizeof *d);
        if (!(d->name = strdup(name)))
            return NULL;
        rc->n_dests++;
    }
    d->kind = kind;
    return d;
}

int route_config_check(const route_config *rc, char *err, size_t errlen)
{
    for (size_t i = 0; i < rc->n_dests; i++) {
        const route_dest *d = &rc->dests[i];
        const char *missing = NULL;
        if (d->kind == DEST_FILE && (!d->path || !*d->path))
            missing = "path";
        else if (d->kind != DEST_FILE && (!d->url || !*d->url))
            missing = "url";
        else if (d->kind == DEST_PAGERDUTY && (!d->routing_key || !*d->routing_key))
            missing = "routing_key";
        if (missing) {
            snprintf(err, errlen, "destinations.%s: a %s destination needs %s", d->name, dest_kind_name(d->kind),
                     missing);
            return -1;
        }
        if (d->url && strncmp(d->url, "http://", 7) != 0 && strncmp(d->url, "https://", 8) != 0) {
            snprintf(err, errlen, "destinations.%s.url: expected an http:// or https:// URL", d->name);
            return -1;
        }
    }
    for (size_t i = 0; i < rc->n_rules; i++)
        for (size_t k = 0; k < rc->rules[i].n_to; k++)
            if (!route_dest_find(rc, rc->rules[i].to[k])) {
                snprintf(err, errlen, "routes[%zu].to: no destination named \"%s\"", i, rc->rules[i].to[k]);
                return -1;
            }
    return 0;
}

static const route_interval *interval_find(const route_interval *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

int64_t route_suppress_ms(const route_config *rc, const char *service, const char *type)
{
    const route_interval *x = interval_find(rc->per_service, rc->n_per_service, service);
    if (!x)
        x = interval_find(rc->per_type, rc->n_per_type, type);
    return x ? x->ms : rc->suppress_ms;
}

static size_t add_unique(const route_dest **out, size_t n, size_t max, const route_dest *d)
{
    for (size_t i = 0; i < n; i++)
        if (out[i] == d)
            return n;
    if (n < max)
        out[n++] = d;
    return n;
}

static int default_route(dest_kind k, int rank)
{
    switch (k) {
    case DEST_PAGERDUTY:
        return rank == 4;
    case DEST_SLACK:
        return rank == 2 || rank == 3;
    case DEST_FILE:
        return rank == 1;
    case DEST_ALERTMANAGER:
    case DEST_WEBHOOK:
        return 1;
    }
    return 0;
}

size_t route_match(const route_config *rc, const char *service, const char *type, int severity_rank,
                   const route_dest **out, size_t max)
{
    size_t n = 0;
    if (rc->n_rules == 0) {
        for (size_t i = 0; i < rc->n_dests; i++)
            if (default_route(rc->dests[i].kind, severity_rank))
                n = add_unique(out, n, max, &rc->dests[i]);
        return n;
    }
    for (size_t i = 0; i < rc->n_rules; i++) {
        const route_rule *r = &rc->rules[i];
        if ((r->severity && r->severity != severity_rank) || (r->severity_min && severity_rank < r->severity_min) ||
            (r->service && strcmp(r->service, service) != 0) || (r->type && strcmp(r->type, type) != 0))
            continue;
        for (size_t k = 0; k < r->n_to; k++) {
            const route_dest *d = route_dest_find(rc, r->to[k]);
            if (d)
                n = add_unique(out, n, max, d);
        }
        if (!rc->match_all)
            break;
    }
    return n;
}
