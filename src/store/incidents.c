/*
 * incidents.c — incidents in the store: an anomaly joining one (or opening
 * one) inside the transaction that records it, the call graph learned from
 * each analysed window, resolving quiet incidents, feedback on an incident
 * (given to each member through the anomaly's own step, analysis.c), and
 * reading them back.
 *
 * Threads: incident_join, incident_route and incident_calls_record inside
 * the finish transaction (analysis.c) on the background connection;
 * resolving and the model's summary on the background connection (an idle
 * analysis worker), one transaction per incident; feedback (an HTTP thread)
 * one transaction on the background connection;
 * reads on a borrowed read connection.
 *
 * Joining: the anomaly's features (first/last anomalous line, services named,
 * trace ids) are written on it; the members of open incidents near it in
 * event time and the call graph's edges are read; incident_choose (incident.h)
 * picks the incidents it ties to: it joins the oldest, the others are merged
 * into it (their members move; each stays, resolved, with merged_into naming
 * the one that took them, so links to it still lead somewhere), and
 * incident_describe makes the incident again from all its members (span,
 * severity, services, root, summary). On PostgreSQL a
 * transaction-scoped advisory lock makes joins one at a time across replicas,
 * so two related findings cannot each open an incident.
 *
 * The group wait (incident.group_wait): an incident's open to a destination
 * is an outbox row due when the incident is group_wait old ("held": queued,
 * never claimed, not due yet). Until then a member with news makes no
 * update: the held open is made from it; after every join each destination
 * keeps one held open at most, made again from its member and the incident
 * as it is then (settle_held). A merge moves the merged incident's held opens
 * to the incident that took its members, in the same transaction, so nothing
 * of it is sent and no resolve follows where nothing was sent. Every change
 * of a held row re-checks that it is still held, so a row a sender claimed
 * meanwhile (another replica) goes out as it was.
 *
 * Limits: 500 candidate members and 2000 call-graph edges read per join, 512
 * destinations and held opens of an incident read per join (32 destinations
 * routed), 1000 members described per incident (an incident keeps growing
 * past it; its description is then of its first 1000), 256 service names;
 * feedback reads members 500 ids at a time (every member gets it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/route_incident.h"
#include "anomalog/severity.h"
#include "anomalog/timeutil.h"
#include "store/db.h"
#include "store/queries.h"

#define MEMBERS_MAX 1000
#define EDGES_MAX 2000

/* ---- rows into members and edges ---------------------------------------------------- */

typedef struct member_acc {
    incident_member *v;
    json_t **owned;  /* per member: its mentions and trace_ids arrays, and its strings */
    size_t n, cap;
    int oom;
} member_acc;

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static int member_row(const store_row *r, void *arg)
{
    member_acc *a = arg;
    if (a->n == a->cap)
        return 1;
    incident_member *m = &a->v[a->n];
    /* strings are copied: a row's text lives until the next row only */
    json_t *keep = json_pack("{s:s?, s:s?, s:s?, s:s?}", "service", row_text(r, 2), "type", row_text(r, 3), "severity",
                             row_text(r, 4), "summary", row_text(r, 5));
    if (!keep) {
        a->oom = 1;
        return 1;
    }
    const char *mt = row_text(r, 9), *tt = row_text(r, 10);
    json_object_set_new(keep, "mentions", mt ? json_loads(mt, 0, NULL) : json_array());
    json_object_set_new(keep, "trace_ids", tt ? json_loads(tt, 0, NULL) : json_array());
    json_object_set_new(keep, "window_id", json_integer(row_i64(r, 11)));
    a->owned[a->n] = keep;
    *m = (incident_member){.anomaly_id = row_i64(r, 0), .incident_id = row_i64_or(r, 1, 0),
                           .service = json_string_value(json_object_get(keep, "service")),
                           .type = json_string_value(json_object_get(keep, "type")),
                           .severity = json_string_value(json_object_get(keep, "severity")),
                           .summary = json_string_value(json_object_get(keep, "summary")),
                           .severity_rank = (int)row_i64(r, 6), .first_ts = row_i64(r, 7), .last_ts = row_i64(r, 8),
                           .mentions = json_object_get(keep, "mentions"),
                           .trace_ids = json_object_get(keep, "trace_ids")};
    if (!m->service)
        m->service = "";
    a->n++;
    return 0;
}

static int member_acc_init(member_acc *a, size_t cap)
{
    *a = (member_acc){.v = calloc(cap, sizeof *a->v), .owned = calloc(cap, sizeof *a->owned), .cap = cap};
    return a->v && a->owned ? 0 : -1;
}

static void member_acc_free(member_acc *a)
{
    for (size_t i = 0; a->owned && i < a->n; i++)
        json_decref(a->owned[i]);
    free(a->v);
    free(a->owned);
    memset(a, 0, sizeof *a);
}

typedef struct edge_acc {
    incident_edge *v;
    char **names;  /* 2 per edge */
    size_t n, cap;
    int oom;
} edge_acc;

static int edge_row(const store_row *r, void *arg)
{
    edge_acc *a = arg;
    if (a->n == a->cap)
        return 1;
    char *x = dup_or_empty(row_text(r, 0)), *y = dup_or_empty(row_text(r, 1));
    if (!x || !y) {
        free(x);
        free(y);
        a->oom = 1;
        return 1;
    }
    a->names[2 * a->n] = x;
    a->names[2 * a->n + 1] = y;
    a->v[a->n++] = (incident_edge){x, y};
    return 0;
}

static void edge_acc_free(edge_acc *a)
{
    for (size_t i = 0; a->names && i < 2 * a->n; i++)
        free(a->names[i]);
    free(a->v);
    free(a->names);
    memset(a, 0, sizeof *a);
}

static store_rc read_edges(store *s, db_conn *c, edge_acc *e, char *err, size_t errlen)
{
    *e = (edge_acc){.v = calloc(EDGES_MAX, sizeof *e->v), .names = calloc(2 * EDGES_MAX, sizeof *e->names),
                    .cap = EDGES_MAX};
    if (!e->v || !e->names) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    store_rc rc = c ? db_run(s, c, &sql_inc_edges, DB_ARGS(db_int(INCIDENT_CALL_MIN_WINDOWS)), edge_row, e, NULL, err,
                             errlen)
                    : db_read(s, &sql_inc_edges, DB_ARGS(db_int(INCIDENT_CALL_MIN_WINDOWS)), edge_row, e, err, errlen);
    if (rc == STORE_OK && e->oom) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    return rc;
}

/* ---- joining (inside the finish transaction) ----------------------------------------------- */

/* Makes incident id again from its members and writes it. */
static store_rc describe(store *s, db_conn *c, int64_t id, const edge_acc *e, int64_t now, incident_change *out,
                         char *err, size_t errlen)
{
    member_acc ms;
    incident_view v = {0};
    store_rc rc = STORE_OK;
    if (member_acc_init(&ms, MEMBERS_MAX) != 0) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    rc = db_run(s, c, &sql_inc_members, DB_ARGS(db_int(id)), member_row, &ms, NULL, err, errlen);
    if (rc == STORE_OK && (ms.oom || ms.n == 0 || incident_describe(ms.v, ms.n, e->v, e->n, &v) != 0)) {
        snprintf(err, errlen, ms.n ? "out of memory" : "incident %lld has no member", (long long)id);
        rc = STORE_ERROR;
    }
    char *services = rc == STORE_OK ? json_dumps(v.services, JSON_COMPACT) : NULL;
    if (rc == STORE_OK && !services) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_inc_update,
                    DB_ARGS(db_int(id), db_int(v.start_ms), db_int(v.end_ms), db_text(v.severity),
                            db_int(v.severity_rank), db_text(services), db_int((int64_t)ms.n), db_text(v.root_service),
                            db_text(v.root_reason), db_text(v.summary), db_int(now)),
                    NULL, NULL, NULL, err, errlen);
    if (rc == STORE_OK) {
        out->rank = v.severity_rank;
        out->members = (int64_t)ms.n;
    }
    free(services);
    incident_view_free(&v);
    member_acc_free(&ms);
    return rc;
}

store_rc incident_join(store *s, db_conn *c, const window_work *w, const json_t *a, int64_t anomaly_id, int64_t now,
                       const incident_config *ic, incident_change *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *ft = json_object_get(a, "first_ts"), *lt = json_object_get(a, "last_ts");
    int64_t first = json_is_integer(ft) ? json_integer_value(ft) : w->start_ms;
    int64_t last = json_is_integer(lt) ? json_integer_value(lt) : w->end_ms - 1;
    const json_t *men = json_object_get(a, "mentions"), *ids = json_object_get(a, "trace_ids");
    char *mt = json_dumps(json_is_array(men) ? men : json_array(), JSON_COMPACT | JSON_ENCODE_ANY);
    char *tt = json_dumps(json_is_array(ids) ? ids : json_array(), JSON_COMPACT | JSON_ENCODE_ANY);
    member_acc near = {0};
    edge_acc e = {0};
    store_rc rc = mt && tt ? STORE_OK : STORE_ERROR;
    if (rc != STORE_OK)
        snprintf(err, errlen, "out of memory");
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_inc_lock, DB_NOARGS, NULL, NULL, NULL, err, errlen);
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_inc_features,
                    DB_ARGS(db_int(anomaly_id), db_int(first), db_int(last), db_text(mt), db_text(tt)), NULL, NULL,
                    NULL, err, errlen);
    if (rc == STORE_OK && member_acc_init(&near, 500) != 0) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_inc_near, DB_ARGS(db_int(first), db_int(last), db_int(ic->gap_ms)), member_row, &near,
                    NULL, err, errlen);
    if (rc == STORE_OK)
        rc = read_edges(s, c, &e, err, errlen);
    if (rc == STORE_OK && near.oom) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc != STORE_OK)
        goto out;
    const char *sev = json_string_value(json_object_get(a, "severity"));
    incident_member f = {.anomaly_id = anomaly_id, .service = w->service,
                         .type = json_string_value(json_object_get(a, "type")), .severity = sev,
                         .severity_rank = severity_rank(sev), .first_ts = first, .last_ts = last, .mentions = men,
                         .trace_ids = ids};
    int64_t tied[1 + sizeof out->merged / sizeof out->merged[0]];
    size_t nt = incident_choose(&f, near.v, near.n, e.v, e.n, ic->gap_ms, tied, sizeof tied / sizeof tied[0]);
    if (nt > 0) {
        out->id = tied[0];
        for (size_t i = 0; i < near.n; i++) /* its severity before this member (and those it brings) */
            for (size_t k = 0; k < nt; k++)
                if (near.v[i].incident_id == tied[k] && near.v[i].severity_rank > out->prev_rank)
                    out->prev_rank = near.v[i].severity_rank;
        out->new_service = 1;
        for (size_t i = 0; i < near.n; i++)
            if (near.v[i].incident_id == out->id && strcmp(near.v[i].service, w->service) == 0)
                out->new_service = 0;
        for (size_t k = 1; rc == STORE_OK && k < nt; k++) {
            rc = db_run(s, c, &sql_inc_move, DB_ARGS(db_int(tied[k]), db_int(out->id)), NULL, NULL, NULL, err, errlen);
            if (rc == STORE_OK)
                rc = db_run(s, c, &sql_inc_merged, DB_ARGS(db_int(tied[k]), db_int(out->id), db_int(now)), NULL, NULL,
                            NULL, err, errlen);
            out->merged[out->n_merged++] = tied[k];
        }
    } else {
        out->opened = 1;
        out->new_service = 1;
        rc = db_int_of(s, c, &sql_inc_insert,
                       DB_ARGS(db_int(first), db_int(last), db_text(sev), db_int(f.severity_rank), db_int(now)),
                       &out->id, NULL, err, errlen);
    }
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_inc_assign, DB_ARGS(db_int(anomaly_id), db_int(out->id)), NULL, NULL, NULL, err,
                    errlen);
    if (rc == STORE_OK)
        rc = describe(s, c, out->id, &e, now, out, err, errlen);
out:
    free(mt);
    free(tt);
    member_acc_free(&near);
    edge_acc_free(&e);
    return rc;
}

store_rc incident_calls_record(store *s, db_conn *c, const window_work *w, const json_t *calls, char *err,
                               size_t errlen)
{
    const char *name;
    json_t *v;
    store_rc rc = STORE_OK;
    json_object_foreach((json_t *)calls, name, v)
    {
        if (rc == STORE_OK && json_integer_value(v) > 0)
            rc = db_run(s, c, &sql_inc_call,
                        DB_ARGS(db_int(w->service_id), db_text(name), db_int(json_integer_value(v)), db_int(w->start_ms)),
                        NULL, NULL, NULL, err, errlen);
    }
    return rc;
}

/* ---- routing by incident ------------------------------------------------------------------- */

/* An incident as its notifications describe it; the strings live in keep (a JSON object). */
typedef struct state {
    route_incident ri;
    int64_t notified_by;  /* 0: never notified */
    int64_t created_at;
    json_t *keep;
} state;

static int state_row(const store_row *r, void *arg)
{
    state *st = arg;
    const char *sv = row_text(r, 2);
    st->keep = json_pack("{s:s?, s:s?, s:s?, s:s?, s:o}", "severity", row_text(r, 1), "root", row_text(r, 3),
                         "reason", row_text(r, 4), "summary", row_text(r, 5), "services",
                         sv ? json_loads(sv, 0, NULL) : json_array());
    if (!st->keep)
        return 1;
    st->ri = (route_incident){.id = row_i64(r, 0), .severity = json_string_value(json_object_get(st->keep, "severity")),
                              .services = json_object_get(st->keep, "services"),
                              .root_service = json_string_value(json_object_get(st->keep, "root")),
                              .root_reason = json_string_value(json_object_get(st->keep, "reason")),
                              .summary = json_string_value(json_object_get(st->keep, "summary")),
                              .start_ms = row_i64(r, 6), .end_ms = row_i64(r, 7), .members = row_i64(r, 8),
                              .merged_into = row_i64_or(r, 10, 0)};
    st->notified_by = row_i64_or(r, 9, 0);
    st->created_at = row_i64(r, 11);
    return 1;
}

static store_rc read_state(store *s, db_conn *c, int64_t id, state *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    store_rc rc = db_run(s, c, &sql_inc_state, DB_ARGS(db_int(id)), state_row, st, NULL, err, errlen);
    if (rc == STORE_OK && !st->keep) {
        snprintf(err, errlen, "incident %lld: not found or out of memory", (long long)id);
        rc = STORE_ERROR;
    }
    return rc;
}

typedef struct dest_acc {
    route_dest v[32];
    char names[32][129];
    int64_t anomaly[32]; /* sql_inc_dests: the anomaly a notification there may hang from */
    size_t n;
} dest_acc;

static int dest_row(const store_row *r, void *arg)
{
    dest_acc *d = arg;
    if (d->n == sizeof d->v / sizeof d->v[0])
        return 1;
    int kind = dest_kind_parse(row_text(r, 1) ? row_text(r, 1) : "");
    if (kind < 0)
        return 0;
    row_copy(r, 0, d->names[d->n], sizeof d->names[d->n]);
    d->v[d->n] = (route_dest){.name = d->names[d->n], .kind = (dest_kind)kind};
    d->anomaly[d->n++] = row_i64(r, 2);
    return 0;
}

/* Queues the resolve of incident id (if it ever notified) to every destination its notifications went to
 * (an open still held there goes first: the claim keeps each destination's rows of a key in order). Each
 * resolve hangs from the newest anomaly behind a notification there: the one that opened the incident may
 * be gone with retention while the incident stayed open, and outbox rows need their anomaly. */
static store_rc queue_resolve(store *s, db_conn *c, int64_t id, int64_t now, const route_config *rt, char *err,
                              size_t errlen)
{
    state st;
    store_rc rc = read_state(s, c, id, &st, err, errlen);
    dest_acc d = {.n = 0};
    char key[48];
    route_incident_key(id, key, sizeof key);
    if (rc == STORE_OK && st.notified_by)
        rc = db_run(s, c, &sql_inc_dests, DB_ARGS(db_text(key)), dest_row, &d, NULL, err, errlen);
    outbox_put_arg pa = {s, c, st.notified_by, now, rt->dry_run ? "dry_run" : "pending", err, errlen, 0};
    for (size_t i = 0; rc == STORE_OK && st.notified_by && i < d.n; i++) {
        pa.anomaly_id = d.anomaly[i];
        json_t *body = route_incident_resolve_payload(d.v[i].kind, &st.ri, rt->public_url, now);
        char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(body);
        if (!text || outbox_put(&pa, &d.v[i], key, text) != 0) {
            if (!*err)
                snprintf(err, errlen, "out of memory");
            rc = STORE_ERROR;
        }
        free(text);
    }
    json_decref(st.keep);
    return rc;
}

/* Where an incident's notifications went (sql_inc_rows): per destination, one row if some were released
 * (sent or due), then its opens still held, the earliest due first. */
typedef struct out_row {
    int64_t id, anomaly_id;
    char destination[129], kind[16];
    int held;
} out_row;

typedef struct out_rows {
    out_row v[512]; /* sql_inc_rows' LIMIT */
    size_t n;
} out_rows;

static int out_row_read(const store_row *r, void *arg)
{
    out_rows *o = arg;
    if (o->n == sizeof o->v / sizeof o->v[0])
        return 1;
    out_row *x = &o->v[o->n++];
    x->id = row_i64(r, 0);
    row_copy(r, 1, x->destination, sizeof x->destination);
    row_copy(r, 2, x->kind, sizeof x->kind);
    x->anomaly_id = row_i64(r, 3);
    x->held = row_i64(r, 4) != 0;
    return 0;
}

static store_rc read_rows(store *s, db_conn *c, int64_t id, int64_t now, out_rows *o, char *err, size_t errlen)
{
    char key[48];
    o->n = 0;
    return db_run(s, c, &sql_inc_rows, DB_ARGS(db_text(route_incident_key(id, key, sizeof key)), db_int(now)),
                  out_row_read, o, NULL, err, errlen);
}

/* The member a held open is made from, read back as routing reads a new one. */
typedef struct held_member {
    route_window w;
    json_t *a;         /* type, severity, summary, evidence, recommended_action, analyzer; owns the strings */
    int64_t until_ms;
} held_member;

static int held_member_row(const store_row *r, void *arg)
{
    held_member *m = arg;
    const char *ev = row_text(r, 7);
    json_t *evidence = ev ? json_loads(ev, 0, NULL) : NULL;
    m->a = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o}", "service", row_text(r, 1), "type", row_text(r, 4),
                     "severity", row_text(r, 5), "summary", row_text(r, 6), "recommended_action", row_text(r, 8),
                     "analyzer", row_text(r, 9), "evidence", json_is_array(evidence) ? evidence : json_array());
    if (evidence && !json_is_array(evidence))
        json_decref(evidence);
    m->w = (route_window){.id = row_i64(r, 0), .service = json_string_value(json_object_get(m->a, "service")),
                          .start_ms = row_i64(r, 2), .end_ms = row_i64(r, 3)};
    if (!m->w.service)
        m->w.service = "";
    m->until_ms = row_i64(r, 10);
    return 1;
}

/* Makes held open r again from its member and the incident as it is now; when the destination already
 * has the incident (r is an open of a merged incident moved here), r becomes an update queued now, after
 * what the destination has. */
static store_rc held_rebuild(store *s, db_conn *c, const out_row *r, const state *st, int as_update, int64_t now,
                             const route_config *rt, char *err, size_t errlen)
{
    held_member m = {0};
    int kind = dest_kind_parse(r->kind);
    store_rc rc = db_run(s, c, &sql_inc_held_member, DB_ARGS(db_int(r->anomaly_id)), held_member_row, &m, NULL, err,
                         errlen);
    if (rc != STORE_OK || kind < 0 || !m.a) {
        json_decref(m.a);
        if (rc == STORE_OK && kind >= 0) {
            snprintf(err, errlen, "anomaly %lld of notification %lld: not found or out of memory",
                     (long long)r->anomaly_id, (long long)r->id);
            rc = STORE_ERROR;
        }
        return rc; /* a destination kind this build does not know: the row stays as it was */
    }
    char *text = route_incident_body(rt, (dest_kind)kind, &m.w, m.a, r->anomaly_id, now, m.until_ms, &st->ri,
                                     as_update ? ROUTE_INCIDENT_UPDATE : ROUTE_INCIDENT_OPEN);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    } else if (as_update) {
        char key[48], name[sizeof r->destination];
        snprintf(name, sizeof name, "%s", r->destination);
        route_dest d = {.name = name, .kind = (dest_kind)kind};
        outbox_put_arg pa = {s, c, r->anomaly_id, now, rt->dry_run ? "dry_run" : "pending", err, errlen, 0};
        rc = db_run(s, c, &sql_inc_held_drop, DB_ARGS(db_int(r->id), db_int(now)), NULL, NULL, NULL, err, errlen);
        if (rc == STORE_OK && outbox_put(&pa, &d, route_incident_key(st->ri.id, key, sizeof key), text) != 0)
            rc = STORE_ERROR;
    } else {
        rc = db_run(s, c, &sql_inc_held_set, DB_ARGS(db_int(r->id), db_text(text), db_int(now)), NULL, NULL, NULL,
                    err, errlen);
    }
    free(text);
    json_decref(m.a);
    return rc;
}

/*
 * After a member joined incident id: at each destination one held open at most, made from its member and
 * the incident now (so when the wait ends the destination gets one open carrying the current state). An
 * open moved here from a merged incident, at a destination that already has this one, becomes an update
 * due now, unless this member's own update went there (updated[]).
 */
static store_rc settle_held(store *s, db_conn *c, int64_t id, int64_t now, const route_config *rt,
                            const dest_acc *updated, char *err, size_t errlen)
{
    out_rows *o = malloc(sizeof *o);
    state st = {0};
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    store_rc rc = read_rows(s, c, id, now, o, err, errlen);
    for (size_t i = 0; rc == STORE_OK && i < o->n; i++) {
        if (!o->v[i].held)
            continue;
        const out_row *keep = &o->v[i];
        int released = i > 0 && strcmp(o->v[i - 1].destination, keep->destination) == 0; /* released rows sort first */
        for (; i + 1 < o->n && rc == STORE_OK && strcmp(o->v[i + 1].destination, keep->destination) == 0; i++)
            rc = db_run(s, c, &sql_inc_held_drop, DB_ARGS(db_int(o->v[i + 1].id), db_int(now)), NULL, NULL, NULL, err,
                        errlen);
        int went = 0;
        for (size_t k = 0; released && k < updated->n && !went; k++)
            went = strcmp(updated->names[k], keep->destination) == 0;
        if (rc == STORE_OK && went)
            rc = db_run(s, c, &sql_inc_held_drop, DB_ARGS(db_int(keep->id), db_int(now)), NULL, NULL, NULL, err,
                        errlen);
        else if (rc == STORE_OK && !st.keep)
            rc = read_state(s, c, id, &st, err, errlen);
        if (rc == STORE_OK && !went)
            rc = held_rebuild(s, c, keep, &st, released, now, rt, err, errlen);
        if (rc == STORE_OK && !went && !st.notified_by)
            rc = db_run(s, c, &sql_inc_notified, DB_ARGS(db_int(id), db_int(keep->anomaly_id)), NULL, NULL, NULL, err,
                        errlen);
    }
    json_decref(st.keep);
    free(o);
    return rc;
}

/* put for route_incident_notifications: an open is held until the incident is group_wait old, an update
 * is due now, a member with news for a held open is what that open is made from. */
typedef struct incident_put_arg {
    outbox_put_arg pa;
    int64_t held_until;
    dest_acc *updated;  /* destinations this member's update went to */
} incident_put_arg;

static int incident_put(void *arg, const route_dest *d, route_incident_event ev, const char *dedup, const char *body)
{
    incident_put_arg *ip = arg;
    outbox_put_arg *pa = &ip->pa;
    if (ev == ROUTE_INCIDENT_HELD)
        return db_run(pa->s, pa->c, &sql_inc_held_take,
                      DB_ARGS(db_text(dedup), db_text(d->name), db_int(pa->anomaly_id), db_int(pa->now)), NULL, NULL,
                      NULL, pa->err, pa->errlen) == STORE_OK
                   ? 0
                   : -1;
    pa->due = ev == ROUTE_INCIDENT_OPEN ? ip->held_until : 0;
    if (ev == ROUTE_INCIDENT_UPDATE && ip->updated->n < sizeof ip->updated->v / sizeof ip->updated->v[0]) {
        dest_acc *u = ip->updated;
        snprintf(u->names[u->n++], sizeof u->names[0], "%s", d->name);
    }
    return outbox_put(pa, d, dedup, body);
}

store_rc incident_route(store *s, db_conn *c, const window_work *w, const json_t *a, int64_t anomaly_id, int64_t now,
                        const route_config *rt, const incident_config *ic, const incident_change *ch, char *err,
                        size_t errlen)
{
    char key[48], mkey[48];
    route_incident_key(ch->id, key, sizeof key);
    store_rc rc = STORE_OK;
    /* a merged incident's opens still held come here; where it was heard of, it is resolved */
    for (size_t i = 0; rc == STORE_OK && i < ch->n_merged; i++) {
        rc = db_run(s, c, &sql_inc_held_move,
                    DB_ARGS(db_text(route_incident_key(ch->merged[i], mkey, sizeof mkey)), db_text(key), db_int(now)),
                    NULL, NULL, NULL, err, errlen);
        if (rc == STORE_OK)
            rc = queue_resolve(s, c, ch->merged[i], now, rt, err, errlen);
    }
    route_decision d = {.suppress = 1};
    if (rc == STORE_OK)
        rc = outbox_pair_decide(s, c, w, a, anomaly_id, now, rt, &d, err, errlen);
    dest_acc updated = {.n = 0};
    state st = {0};
    out_rows *o = NULL;
    if (rc != STORE_OK || d.suppress)
        goto settle;
    rc = read_state(s, c, ch->id, &st, err, errlen);
    o = rc == STORE_OK ? malloc(sizeof *o) : NULL;
    if (rc == STORE_OK && !o) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc == STORE_OK)
        rc = read_rows(s, c, ch->id, now, o, err, errlen);
    if (rc != STORE_OK)
        goto settle;
    /* where it went so far (a destination once, with whether all it has is a held open): those get updates
     * or give their held open this member's news, the others an open */
    const char *names[32];
    int held[32];
    size_t nh = 0;
    for (size_t i = 0; i < o->n; i++) {
        if (nh > 0 && strcmp(names[nh - 1], o->v[i].destination) == 0)
            continue; /* released rows sort first: the first row says whether it was heard of */
        if (nh == sizeof names / sizeof names[0])
            break;
        names[nh] = o->v[i].destination;
        held[nh++] = o->v[i].held;
    }
    /* a merge brings the other incidents' services: news as well */
    int news = ch->new_service || ch->n_merged > 0 || ch->rank > ch->prev_rank;
    incident_put_arg ip = {.pa = {s, c, anomaly_id, now, rt->dry_run ? "dry_run" : "pending", err, errlen, 0},
                           .held_until = st.created_at + ic->group_wait_ms, .updated = &updated};
    route_window rw = {.id = w->id, .service = w->service, .start_ms = w->start_ms, .end_ms = w->end_ms};
    int rank = severity_rank(json_string_value(json_object_get(a, "severity")));
    int queued = route_incident_notifications(rt, &rw, a, rank, anomaly_id, now, d.until_ms, &st.ri, news, names, held,
                                              nh, incident_put, &ip);
    if (queued < 0) {
        if (!*err)
            snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc == STORE_OK && !st.notified_by && queued > 0)
        rc = db_run(s, c, &sql_inc_notified, DB_ARGS(db_int(ch->id), db_int(anomaly_id)), NULL, NULL, NULL, err,
                    errlen);
settle:
    /* held opens carry the incident as it is now (this member, merged members), suppressed or not */
    if (rc == STORE_OK)
        rc = settle_held(s, c, ch->id, now, rt, &updated, err, errlen);
    free(o);
    json_decref(st.keep);
    return rc;
}

/* ---- resolving ------------------------------------------------------------------------------ */

typedef struct resolve_one {
    int64_t id, now;
    const route_config *rt;
    int changed;
} resolve_one;

static store_rc resolve_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    resolve_one *r = p;
    int64_t changed = 0;
    store_rc rc = db_run(s, c, &sql_inc_resolve, DB_ARGS(db_int(r->id), db_int(r->now)), NULL, NULL, &changed, err,
                         errlen);
    r->changed = rc == STORE_OK && changed == 1;
    if (r->changed && r->rt)
        rc = queue_resolve(s, c, r->id, r->now, r->rt, err, errlen);
    return rc;
}

store_rc store_incidents_resolve(store *s, int64_t now_ms, const incident_config *ic, const route_config *rt,
                                 int *resolved, char *err, size_t errlen)
{
    *resolved = 0;
    int64_t ids[50]; /* sql_inc_quiet's LIMIT */
    db_ids quiet = {ids, 0, sizeof ids / sizeof ids[0]};
    store_rc rc = db_bg(s, &sql_inc_quiet, DB_ARGS(db_int(now_ms), db_int(ic->quiet_ms)), db_row_ids, &quiet, NULL,
                        err, errlen);
    for (size_t i = 0; rc == STORE_OK && i < quiet.n; i++) {
        resolve_one r = {.id = ids[i], .now = now_ms, .rt = rt};
        rc = db_tx(s, resolve_tx, &r, err, errlen);
        *resolved += r.changed;
    }
    return rc;
}

/* ---- reads ---------------------------------------------------------------------------------- */

static int ids_cmp(const void *x, const void *y)
{
    json_int_t a = json_integer_value(*(json_t *const *)x), b = json_integer_value(*(json_t *const *)y);
    return a < b ? -1 : a > b;
}

/* "3,1,2" as a sorted array of integers */
static json_t *id_list(const char *s)
{
    json_t *arr = json_array();
    while (arr && s && *s) {
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s)
            break;
        json_array_append_new(arr, json_integer(v));
        s = *end == ',' ? end + 1 : end;
    }
    size_t n = json_array_size(arr);
    if (n > 1) {
        json_t **v = malloc(n * sizeof *v);
        if (v) {
            for (size_t i = 0; i < n; i++)
                v[i] = json_incref(json_array_get(arr, i));
            qsort(v, n, sizeof *v, ids_cmp);
            json_array_clear(arr);
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, v[i]);
            free(v);
        }
    }
    return arr;
}

static int incident_row(const store_row *r, void *arg)
{
    json_page *a = arg;
    if (json_page_full(a))
        return 1;
    json_t *services = json_loads(row_text(r, 5) ? row_text(r, 5) : "[]", 0, NULL);
    json_t *o = json_pack("{s:I, s:s, s:o, s:o, s:s, s:o, s:I, s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o, s:o}",
                          "id", (json_int_t)row_i64(r, 0), "status", row_text(r, 1), "start", json_time(row_i64(r, 2)),
                          "end", json_time(row_i64(r, 3)), "severity", row_text(r, 4), "services",
                          services ? services : json_array(), "members", (json_int_t)row_i64(r, 6), "root_service",
                          row_text(r, 7), "root_reason", row_text(r, 8), "summary", row_text(r, 9), "root_cause",
                          json_text_or_null(r, 10), "first_action", json_text_or_null(r, 11), "summary_by",
                          row_text(r, 12), "created_at", json_time(row_i64(r, 13)), "updated_at",
                          json_time(row_i64(r, 14)), "resolved_at", json_time_or_null(r, 15), "anomaly_ids",
                          id_list(row_text(r, 16)));
    if (o)
    {
        json_object_set_new(o, "merged_into", row_null(r, 17) ? json_null() : json_integer(row_i64(r, 17)));
        json_object_set_new(o, "summary_note", json_text_or_null(r, 18));
        json_object_set_new(o, "feedback", json_text_or_null(r, 19));
        json_object_set_new(o, "feedback_note", json_text_or_null(r, 20));
    }
    if (o)
        json_array_append_new(a->arr, o);
    a->last_start = row_i64(r, 2);
    a->last_id = row_i64(r, 0);
    return 0;
}

store_rc store_incidents_list(store *s, const incident_query *q, json_t **out, char *next_cursor, size_t curlen,
                              char *err, size_t errlen)
{
    json_page a = {.arr = json_array(), .limit = q->limit};
    int64_t up_start, up_id;
    list_upper(q->has_until, q->until_ms, q->has_cursor, q->cursor_start, q->cursor_id, &up_start, &up_id);
    store_rc rc = db_read(s, &sql_inc_list,
                          DB_ARGS(q->has_since ? db_int(q->since_ms) : db_null(),
                                  q->has_until ? db_int(q->until_ms) : db_null(), db_int(q->min_severity),
                                  db_text(q->status), db_text(q->service), db_int(up_start), db_int(up_id),
                                  db_int(q->limit + 1)),
                          incident_row, &a, err, errlen);
    return json_page_end(&a, rc, "listing incidents", out, next_cursor, curlen, err, errlen);
}

/* One member of the timeline. */
static int timeline_row(const store_row *r, void *arg)
{
    json_t *o = json_pack("{s:I, s:I, s:s?, s:s?, s:s?, s:o, s:o, s:s?}", "anomaly_id", (json_int_t)row_i64(r, 0),
                          "window_id", (json_int_t)row_i64(r, 11), "service", row_text(r, 2), "type", row_text(r, 3),
                          "severity", row_text(r, 4), "first", json_time(row_i64(r, 7)), "last",
                          json_time(row_i64(r, 8)), "summary", row_text(r, 5));
    if (o) {
        const char *mt = row_text(r, 9), *ev = row_text(r, 12);
        json_t *m = mt ? json_loads(mt, 0, NULL) : NULL, *e = ev ? json_loads(ev, 0, NULL) : NULL;
        json_object_set_new(o, "mentions", m ? m : json_array());
        json_object_set_new(o, "evidence", json_is_array(e) ? e : json_array());
        if (e && !json_is_array(e))
            json_decref(e);
    }
    return o ? json_array_append_new(arg, o) : 1;
}

store_rc store_incident_get(store *s, int64_t id, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    json_page a = {.arr = json_array(), .limit = 1};
    store_rc rc = db_read(s, &sql_inc_get, DB_ARGS(db_int(id)), incident_row, &a, err, errlen);
    json_t *inc = json_incref(json_array_get(a.arr, 0));
    json_decref(a.arr);
    if (rc != STORE_OK || !inc) {
        json_decref(inc);
        return rc != STORE_OK ? rc : STORE_NOTFOUND;
    }
    json_t *tl = json_array();
    rc = db_read(s, &sql_inc_members, DB_ARGS(db_int(id)), timeline_row, tl, err, errlen);
    if (rc != STORE_OK) {
        json_decref(tl);
        json_decref(inc);
        return rc;
    }
    json_object_set_new(inc, "timeline", tl);
    *out = inc;
    return STORE_OK;
}

/* ---- feedback on an incident ---------------------------------------------------------------- */

typedef struct incident_feedback_arg {
    int64_t id;
    const char *verdict, *note;
} incident_feedback_arg;

/* Records the verdict on the incident, then gives it to each member through the anomaly's own feedback step. */
static store_rc incident_feedback_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    incident_feedback_arg *f = p;
    int found = 0;
    int64_t id;
    store_rc rc = db_int_of(s, c, &sql_inc_feedback,
                            DB_ARGS(db_int(f->id), db_text(f->verdict), db_text(f->note), db_int(time_now_ms())),
                            &id, &found, err, errlen);
    if (rc == STORE_OK && !found)
        return STORE_NOTFOUND;
    int64_t ids[500]; /* sql_inc_member_ids' LIMIT */
    db_ids pg = {ids, 0, sizeof ids / sizeof ids[0]};
    int64_t after = 0;
    do {
        pg.n = 0;
        rc = db_run(s, c, &sql_inc_member_ids, DB_ARGS(db_int(f->id), db_int(after)), db_row_ids, &pg, NULL, err,
                    errlen);
        for (size_t i = 0; rc == STORE_OK && i < pg.n; i++)
            rc = anomaly_feedback_apply(s, c, ids[i], f->verdict, f->note, err, errlen);
        if (pg.n)
            after = ids[pg.n - 1];
    } while (rc == STORE_OK && pg.n == pg.cap);
    return rc;
}

store_rc store_incident_feedback(store *s, int64_t id, const char *verdict, const char *note, json_t **out,
                                 char *err, size_t errlen)
{
    *out = NULL;
    incident_feedback_arg f = {.id = id, .verdict = verdict, .note = note};
    store_rc rc = db_tx(s, incident_feedback_tx, &f, err, errlen);
    return rc == STORE_OK ? store_incident_get(s, id, out, err, errlen) : rc;
}

static int name_row(const store_row *r, void *arg)
{
    const char *t = row_text(r, 0);
    return t ? json_array_append_new(arg, json_string(t)) : 0;
}

store_rc store_service_names(store *s, size_t max, json_t **out, char *err, size_t errlen)
{
    json_t *arr = json_array();
    store_rc rc = db_bg(s, &sql_inc_names, DB_ARGS(db_int((int64_t)max)), name_row, arr, NULL, err, errlen);
    if (rc != STORE_OK) {
        json_decref(arr);
        arr = NULL;
    }
    *out = arr;
    return rc;
}

typedef struct open_out {
    int64_t open, members;
} open_out;

static int open_row(const store_row *r, void *arg)
{
    open_out *o = arg;
    o->open = row_i64_or(r, 0, 0);
    o->members = row_i64_or(r, 1, 0);
    return 1;
}

store_rc store_incidents_open(store *s, int64_t *open, int64_t *members, char *err, size_t errlen)
{
    open_out o = {0};
    store_rc rc = db_read(s, &sql_inc_open_count, DB_NOARGS, open_row, &o, err, errlen);
    *open = o.open;
    *members = o.members;
    return rc;
}

/* ---- the model's one call per incident --------------------------------------------------- */

store_rc store_incident_to_summarize(store *s, int64_t now_ms, int64_t settle_ms, json_t **out, char *err,
                                     size_t errlen)
{
    *out = NULL;
    int64_t id = 0;
    store_rc rc = db_bg(s, &sql_inc_summary_claim, DB_ARGS(db_int(now_ms), db_int(settle_ms)), db_row_i64, &id, NULL,
                        err, errlen);
    if (rc != STORE_OK)
        return rc;
    return id ? store_incident_get(s, id, out, err, errlen) : STORE_NOTFOUND;
}

store_rc store_incident_summary_set(store *s, int64_t id, const json_t *answer, const char *note, char *err,
                                    size_t errlen)
{
    return db_bg(s, &sql_inc_summary_set,
                 DB_ARGS(db_int(id), db_text(json_string_value(json_object_get(answer, "summary"))),
                         db_text(json_string_value(json_object_get(answer, "root_cause"))),
                         db_text(json_string_value(json_object_get(answer, "first_action"))), db_text(note)),
                 NULL, NULL, NULL, err, errlen);
}
