/* Unit tests of src/route/incident.c: the event a member makes its incident send, and the bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/route_incident.h"

#define NOW 1795515300000LL

static void test_open_once_then_updates_only_for_news(void **state)
{
    (void)state;
    assert_int_equal(route_incident_event_of(0, 0, 0), ROUTE_INCIDENT_OPEN);
    assert_int_equal(route_incident_event_of(0, 0, 1), ROUTE_INCIDENT_OPEN);
    assert_int_equal(route_incident_event_of(1, 0, 1), ROUTE_INCIDENT_UPDATE);
    assert_int_equal(route_incident_event_of(1, 0, 0), ROUTE_INCIDENT_NONE);
    /* all the destination has is an open still held: news goes into it, never an update after it */
    assert_int_equal(route_incident_event_of(1, 1, 1), ROUTE_INCIDENT_HELD);
    assert_int_equal(route_incident_event_of(1, 1, 0), ROUTE_INCIDENT_NONE);
}

typedef struct got {
    int n;
    char *bodies[8];
    char keys[8][64];
    route_incident_event ev[8];
} got;

static int put(void *arg, const route_dest *d, route_incident_event ev, const char *dedup, const char *body)
{
    (void)d;
    got *g = arg;
    snprintf(g->keys[g->n], sizeof g->keys[g->n], "%s", dedup);
    g->ev[g->n] = ev;
    g->bodies[g->n++] = body ? strdup(body) : NULL;
    return 0;
}

static void test_bodies_carry_the_incident_under_its_key(void **state)
{
    (void)state;
    route_config rc = {.suppress_ms = 1200000};
    snprintf(rc.public_url, sizeof rc.public_url, "https://a.example");
    route_dest_add(&rc, "hook", DEST_WEBHOOK)->url = strdup("http://h");
    route_dest_add(&rc, "chat", DEST_SLACK)->url = strdup("http://s");
    route_dest_add(&rc, "am", DEST_ALERTMANAGER)->url = strdup("http://am");
    json_t *services = json_pack("[s, s]", "db", "<payments>");
    route_incident inc = {.id = 7, .severity = "high", .services = services, .root_service = "db",
                          .root_reason = "db is where the calls end.", .summary = "2 findings", .start_ms = NOW - 60000,
                          .end_ms = NOW, .members = 2};
    json_t *a = json_pack("{s:s, s:s, s:s, s:[s], s:s}", "type", "latency", "severity", "high", "summary", "slow",
                          "evidence", "line", "recommended_action", "look");
    route_window w = {.id = 3, .service = "payments", .start_ms = NOW - 60000, .end_ms = NOW};
    got g = {0};
    const char *had[] = {"hook", "chat", "am"};
    const int sent[] = {0, 0, 0}, held[] = {0, 1, 0};
    assert_int_equal(route_incident_notifications(&rc, &w, a, 3, 11, NOW, NOW + 1000, &inc, 1, had, sent, 3, put, &g),
                     3);
    for (int i = 0; i < g.n; i++)
        assert_string_equal(g.keys[i], "anomalog:incident:7");
    int seen = 0;
    for (int i = 0; i < g.n; i++) {
        json_t *b = json_loads(g.bodies[i], 0, NULL);
        assert_non_null(b);
        if (json_is_array(b)) { /* alertmanager: the incident's labels, whatever the member */
            char *l = json_dumps(json_object_get(json_array_get(b, 0), "labels"), JSON_COMPACT | JSON_SORT_KEYS);
            assert_string_equal(l, "{\"alertname\":\"AnomalogIncident\",\"incident\":\"7\"}");
            free(l);
            seen |= 1;
        } else if (json_object_get(b, "text")) { /* slack: the headline, its markup neutralised */
            const char *t = json_string_value(json_object_get(b, "text"));
            assert_non_null(strstr(t, "*Incident #7 updated: db,  payments  (likely root db)*"));
            assert_non_null(strstr(t, "<https://a.example/incidents/7|open>"));
            seen |= 2;
        } else {
            assert_string_equal(json_string_value(json_object_get(b, "event")), "update");
            assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "incident"), "id")), 7);
            assert_string_equal(json_string_value(json_object_get(json_object_get(b, "anomaly"), "service")), "payments");
            seen |= 4;
        }
        json_decref(b);
        free(g.bodies[i]);
    }
    assert_int_equal(seen, 7);
    /* no news: nothing for the destinations that have it, an open for the one that had nothing of it */
    memset(&g, 0, sizeof g);
    assert_int_equal(route_incident_notifications(&rc, &w, a, 3, 11, NOW, NOW, &inc, 0, had, sent, 2, put, &g), 1);
    json_t *b = json_loads(g.bodies[0], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(b, 0), "annotations"),
                                                          "incident")),
                        "Incident #7 opened: db, <payments> (likely root db)");
    json_decref(b);
    free(g.bodies[0]);
    /* news while chat's open is held: handed over as HELD without a body (the held open takes the member) */
    memset(&g, 0, sizeof g);
    assert_int_equal(route_incident_notifications(&rc, &w, a, 3, 11, NOW, NOW, &inc, 1, had, held, 3, put, &g), 3);
    int helds = 0;
    for (int i = 0; i < g.n; i++) {
        helds += g.ev[i] == ROUTE_INCIDENT_HELD;
        assert_true((g.ev[i] == ROUTE_INCIDENT_HELD) == (g.bodies[i] == NULL));
        free(g.bodies[i]);
    }
    assert_int_equal(helds, 1);
    json_decref(a);
    json_decref(services);
    route_config_free(&rc);
}

static void test_the_resolve_for_each_kind(void **state)
{
    (void)state;
    json_t *services = json_pack("[s]", "db");
    route_incident inc = {.id = 9, .severity = "critical", .services = services, .root_service = "db",
                          .start_ms = NOW - 60000, .end_ms = NOW, .merged_into = 12};
    json_t *pd = route_incident_resolve_payload(DEST_PAGERDUTY, &inc, "https://a", NOW);
    char *s = json_dumps(pd, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"dedup_key\":\"anomalog:incident:9\",\"event_action\":\"resolve\"}");
    free(s);
    json_decref(pd);
    json_t *am = route_incident_resolve_payload(DEST_ALERTMANAGER, &inc, "https://a", NOW);
    assert_string_equal(json_string_value(json_object_get(json_array_get(am, 0), "endsAt")), "2026-11-24T10:15:00.000Z");
    json_decref(am);
    json_t *sl = route_incident_resolve_payload(DEST_SLACK, &inc, "https://a", NOW);
    assert_non_null(strstr(json_string_value(json_object_get(sl, "text")), "merged into incident #12"));
    json_decref(sl);
    json_t *wh = route_incident_resolve_payload(DEST_FILE, &inc, "https://a", NOW);
    assert_string_equal(json_string_value(json_object_get(wh, "event")), "resolve");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(wh, "incident"), "merged_into")), 12);
    json_decref(wh);
    json_decref(services);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_once_then_updates_only_for_news),
        cmocka_unit_test(test_bodies_carry_the_incident_under_its_key),
        cmocka_unit_test(test_the_resolve_for_each_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
