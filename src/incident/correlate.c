/*
 * correlate.c — which open incident a new finding joins, and what an
 * incident's members make of it: span, severity, services, root and summary
 * (incident.h).
 *
 * Joining: a finding joins an incident when it is close in event time to a
 * member (their anomalous lines at most gap apart: the first and last line
 * behind each finding, not their windows) AND tied to that member: one's
 * lines name the other's service or hosts, they share a trace or request id,
 * they are the same service, or the call graph learned from history has an
 * edge between their services and both are failures that travel along a
 * call (not authentication, security or configuration findings: a credential
 * stuffing run beside a database outage is not caused by it). Closeness
 * alone never joins: unrelated trouble at the same time stays apart. A
 * finding tied to several open incidents joins the oldest and the others
 * are merged into it: windows close per service in any order, so a cascade's
 * two ends can each open an incident before its middle ties them.
 *
 * Root: the member service at the callee end: its findings name no other
 * member service, and the most other members name it (or call it); the
 * earliest first anomalous line breaks a draw, and decides alone when every
 * member names another (a cycle).
 *
 * Threads: any; pure functions of their arguments. Limits: an incident's
 * description handles any number of members (its services are counted in
 * an array of at most n); the summary is at most 1 KiB.
 */
#include "anomalog/incident.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int names_in(const json_t *arr, const char *name)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        const char *s = json_string_value(x);
        if (s && strcasecmp(s, name) == 0)
            return 1;
    }
    return 0;
}

static int share_one(const json_t *a, const json_t *b)
{
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
    {
        const char *s = json_string_value(x);
        if (s && names_in(b, s))
            return 1;
    }
    return 0;
}

static int edge_between(const incident_edge *edges, size_t n, const char *a, const char *b)
{
    for (size_t i = 0; i < n; i++)
        if ((!strcasecmp(edges[i].caller, a) && !strcasecmp(edges[i].callee, b)) ||
            (!strcasecmp(edges[i].caller, b) && !strcasecmp(edges[i].callee, a)))
            return 1;
    return 0;
}

/* a failure that travels along a call: a callee's errors or slowness become its callers' */
static int propagates(const char *type)
{
    return type && strcmp(type, "auth_failure") != 0 && strcmp(type, "security") != 0 && strcmp(type, "config") != 0;
}

int incident_tie(const incident_member *f, const incident_member *m, const incident_edge *edges, size_t n_edges,
                 int64_t gap_ms)
{
    int64_t lo = f->first_ts > m->first_ts ? f->first_ts : m->first_ts;
    int64_t hi = f->last_ts < m->last_ts ? f->last_ts : m->last_ts;
    if (lo - hi > gap_ms)
        return 0;
    int same = strcasecmp(f->service, m->service) == 0;
    if (!same && (names_in(f->mentions, m->service) || names_in(m->mentions, f->service)))
        return 4;
    if (share_one(f->trace_ids, m->trace_ids))
        return 4;
    if (same)
        return 2;
    if (propagates(f->type) && propagates(m->type) && edge_between(edges, n_edges, f->service, m->service))
        return 1;
    return 0;
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

size_t incident_choose(const incident_member *f, const incident_member *members, size_t n,
                       const incident_edge *edges, size_t n_edges, int64_t gap_ms, int64_t *ids, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        int64_t id = members[i].incident_id;
        int seen = 0;
        for (size_t j = 0; j < k && !seen; j++)
            seen = ids[j] == id;
        if (!seen && incident_tie(f, &members[i], edges, n_edges, gap_ms) > 0)
            ids[k++] = id;
    }
    qsort(ids, k, sizeof *ids, id_cmp);
    return k;
}

/* ---- describing an incident ------------------------------------------------------ */

typedef struct svc {
    const char *name;
    int64_t first;         /* earliest anomalous line of its findings */
    int calls;             /* other member services its findings name (or the call graph says it calls) */
    int named_by;          /* other member services that name or call it */
    const incident_member *first_finding;
} svc;

static int svc_first_cmp(const void *a, const void *b)
{
    const svc *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first ? 1 : strcmp(x->name, y->name);
}

/* whether service a's findings name b, or the call graph has a calling b */
static int calls_to(const incident_member *m, size_t n, const incident_edge *edges, size_t n_edges, const char *a,
                    const char *b)
{
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(m[i].service, a) && names_in(m[i].mentions, b))
            return 1;
    for (size_t i = 0; i < n_edges; i++)
        if (!strcasecmp(edges[i].caller, a) && !strcasecmp(edges[i].callee, b))
            return 1;
    return 0;
}

static void time_hms(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms / 1000;
    int64_t d = s % 86400;
    if (d < 0)
        d += 86400;
    snprintf(buf, len, "%02d:%02d:%02d", (int)(d / 3600), (int)(d / 60 % 60), (int)(d % 60));
}

int incident_describe(const incident_member *members, size_t n, const incident_edge *edges, size_t n_edges,
                      incident_view *out)
{
    memset(out, 0, sizeof *out);
    svc *s = calloc(n ? n : 1, sizeof *s);
    if (!s)
        return -1;
    size_t ns = 0;
    out->start_ms = members[0].first_ts;
    out->end_ms = members[0].last_ts;
    for (size_t i = 0; i < n; i++) {
        const incident_member *m = &members[i];
        if (m->first_ts < out->start_ms)
            out->start_ms = m->first_ts;
        if (m->last_ts > out->end_ms)
            out->end_ms = m->last_ts;
        if (m->severity_rank > out->severity_rank) {
            out->severity_rank = m->severity_rank;
            out->severity = m->severity;
        }
        size_t k = 0;
        while (k < ns && strcasecmp(s[k].name, m->service) != 0)
            k++;
        if (k == ns)
            s[ns++] = (svc){.name = m->service, .first = m->first_ts, .first_finding = m};
        else if (m->first_ts < s[k].first) {
            s[k].first = m->first_ts;
            s[k].first_finding = m;
        }
    }
    qsort(s, ns, sizeof *s, svc_first_cmp);
    for (size_t a = 0; a < ns; a++)
        for (size_t b = 0; b < ns; b++)
            if (a != b && calls_to(members, n, edges, n_edges, s[a].name, s[b].name)) {
                s[a].calls++;
                s[b].named_by++;
            }
    size_t root = 0; /* the earliest, unless a callee end exists */
    int have_callee = 0;
    for (size_t k = 0; k < ns; k++) {
        if (s[k].calls > 0)
            continue;
        if (!have_callee || s[k].named_by > s[root].named_by) {
            root = k;
            have_callee = 1;
        }
    }
    out->services = json_array();
    for (size_t k = 0; out->services && k < ns; k++)
        json_array_append_new(out->services, json_string(s[k].name));
    out->root_service = strdup(s[root].name);
    char when[16], from[16], to[16], reason[1024], summary[1024];
    time_hms(s[root].first, when, sizeof when);
    time_hms(out->start_ms, from, sizeof from);
    time_hms(out->end_ms, to, sizeof to);
    if (ns == 1)
        snprintf(reason, sizeof reason, "%s is the only service of the incident; its first anomalous line is at %s.",
                 s[root].name, when);
    else if (have_callee && s[root].named_by > 0) {
        char callers[512] = "";
        size_t cl = 0;
        for (size_t k = 0; k < ns && cl < sizeof callers; k++)
            if (k != root && calls_to(members, n, edges, n_edges, s[k].name, s[root].name))
                cl += (size_t)snprintf(callers + cl, sizeof callers - cl, "%s%s", cl ? ", " : "", s[k].name);
        snprintf(reason, sizeof reason,
                 "%s is where the calls end: %s name%s it or call%s it, it names none of the other services, and its "
                 "first anomalous line is at %s%s.",
                 s[root].name, callers, s[root].named_by == 1 ? "s" : "", s[root].named_by == 1 ? "s" : "", when,
                 root == 0 ? ", the earliest" : "");
    }
    else
        snprintf(reason, sizeof reason, "%s has the earliest anomalous line (%s) of the %zu services%s.", s[root].name,
                 when, ns, have_callee ? "" : ", each of which names another");
    out->root_reason = strdup(reason);
    const char *first = s[root].first_finding->summary ? s[root].first_finding->summary : "";
    int len = 0;
    len += snprintf(summary, sizeof summary, "%zu finding%s in %zu service%s (", n, n == 1 ? "" : "s", ns,
                    ns == 1 ? "" : "s");
    for (size_t k = 0; k < ns && len < (int)sizeof summary; k++)
        len += snprintf(summary + len, sizeof summary - (size_t)len, "%s%s", k ? ", " : "", s[k].name);
    if (len < (int)sizeof summary)
        snprintf(summary + len, sizeof summary - (size_t)len, ") from %s to %s, likely beginning in %s: %.600s", from,
                 to, s[root].name, first);
    out->summary = strdup(summary);
    free(s);
    if (!out->services || !out->root_service || !out->root_reason || !out->summary) {
        incident_view_free(out);
        return -1;
    }
    return 0;
}

void incident_view_free(incident_view *v)
{
    if (!v)
        return;
    json_decref(v->services);
    free(v->root_service);
    free(v->root_reason);
    free(v->summary);
    memset(v, 0, sizeof *v);
}
