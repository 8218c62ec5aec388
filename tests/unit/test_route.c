/* Unit tests of routes.c and payload.c: matching, intervals, bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/route.h"

static void add_dest(route_config *rc, const char *name, dest_kind k)
{
    route_dest *d = route_dest_add(rc, name, k);
    assert_non_null(d);
    d->url = strdup("http://127.0.0.1:1/x");
    if (k == DEST_PAGERDUTY)
        d->routing_key = strdup("key");
    if (k == DEST_FILE)
        d->path = strdup("/tmp/x.jsonl");
}

static void add_rule(route_config *rc, int sev, int sev_min, const char *service, const char *type, const char *to)
{
    rc->rules = realloc(rc->rules, (rc->n_rules + 1) * sizeof *rc->rules);
    route_rule *r = &rc->rules[rc->n_rules++];
    memset(r, 0, sizeof *r);
    r->severity = sev;
    r->severity_min = sev_min;
    r->service = service ? strdup(service) : NULL;
    r->type = type ? strdup(type) : NULL;
    r->to = calloc(1, sizeof *r->to);
    r->to[0] = strdup(to);
    r->n_to = 1;
}

static size_t names(const route_config *rc, const char *svc, const char *type, int rank, char *out, size_t len)
{
    const route_dest *d[8];
    size_t n = route_match(rc, svc, type, rank, d, 8);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strncat(out, d[i]->name, len - strlen(out) - 2);
        strcat(out, " ");
    }
    return n;
}

static void test_default_routes_by_kind(void **state)
{
    (void)state;
    route_config rc = {.match_all = 1};
    add_dest(&rc, "pagerduty", DEST_PAGERDUTY);
    add_dest(&rc, "slack", DEST_SLACK);
    add_dest(&rc, "file", DEST_FILE);
    add_dest(&rc, "webhook", DEST_WEBHOOK);
    char err[256], buf[256];
    assert_int_equal(route_config_check(&rc, err, sizeof err), 0);
    static const struct {
        int rank;
        const char *want;
    } cases[] = {{4, "pagerduty webhook "}, {3, "slack webhook "}, {2, "slack webhook "}, {1, "file webhook "}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        names(&rc, "api", "latency", cases[i].rank, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
    route_config_free(&rc);
}

static void test_first_and_all(void **state)
{
    (void)state;
    route_config rc = {.match_all = 0};
    add_dest(&rc, "a", DEST_WEBHOOK);
    add_dest(&rc, "b", DEST_SLACK);
    add_rule(&rc, 0, 0, "billing", NULL, "a");
    add_rule(&rc, 0, 3, NULL, NULL, "b");
    add_rule(&rc, 1, 0, NULL, "config", "a");
    char buf[256];
    names(&rc, "billing", "security", 4, buf, sizeof buf);
    assert_string_equal(buf, "a ");
    names(&rc, "web", "security", 4, buf, sizeof buf);
    assert_string_equal(buf, "b ");
    assert_int_equal(names(&rc, "web", "latency", 2, buf, sizeof buf), 0);
    names(&rc, "web", "config", 1, buf, sizeof buf);
    assert_string_equal(buf, "a ");
    rc.match_all = 1;
    names(&rc, "billing", "security", 4, buf, sizeof buf);
    assert_string_equal(buf, "a b ");
    char err[256];
    add_rule(&rc, 0, 0, NULL, NULL, "nope");
    assert_int_equal(route_config_check(&rc, err, sizeof err), -1);
    assert_non_null(strstr(err, "nope"));
    route_config_free(&rc);
}

static void test_intervals(void **state)
{
    (void)state;
    route_config rc = {.suppress_ms = 1200000};
    rc.per_service = calloc(1, sizeof *rc.per_service);
    rc.per_service[0] = (route_interval){strdup("checkout"), 1800000};
    rc.n_per_service = 1;
    rc.per_type = calloc(1, sizeof *rc.per_type);
    rc.per_type[0] = (route_interval){strdup("auth_failure"), 3600000};
    rc.n_per_type = 1;
    assert_int_equal(route_suppress_ms(&rc, "api", "latency"), 1200000);
    assert_int_equal(route_suppress_ms(&rc, "api", "auth_failure"), 3600000);
    assert_int_equal(route_suppress_ms(&rc, "checkout", "auth_failure"), 1800000);
    route_config_free(&rc);
}

static void test_payloads(void **state)
{
    (void)state;
    json_t *ev = json_pack("[s]", "10:00 ERROR <script>&`x`");
    notification n = {.anomaly_id = 3, .window_id = 9, .service = "api", .type = "latency", .severity = "high",
                      .summary = "slow", .recommended_action = "look", .evidence = ev, .window_start_ms = 0,
                      .window_end_ms = 60000, .until_ms = 1200000, .dedup_key = "anomalog:api:latency:0",
                      .link = "http://h/windows/9"};
    json_t *pd = route_payload(DEST_PAGERDUTY, &n);
    assert_string_equal(json_string_value(json_object_get(json_object_get(pd, "payload"), "severity")), "error");
    assert_string_equal(json_string_value(json_object_get(pd, "dedup_key")), "anomalog:api:latency:0");
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(pd, "payload"), "summary")),
                           "suppressing repeats until 1970-01-01T00:20:00"));
    assert_null(json_object_get(pd, "routing_key"));
    json_t *sl = route_payload(DEST_SLACK, &n);
    const char *t = json_string_value(json_object_get(sl, "text"));
    assert_non_null(strstr(t, "&lt;script&gt;&amp;'x'"));
    assert_non_null(strstr(t, "<http://h/windows/9|Open the window>"));
    assert_string_equal(t, "*[HIGH] api: latency*\nWindow: 1970-01-01T00:00:00.000Z to 1970-01-01T00:01:00.000Z\n"
                           "slow\n```\n10:00 ERROR &lt;script&gt;&amp;'x'\n```\n*Recommended action:* look\n"
                           "<http://h/windows/9|Open the window> (suppressing repeats until 1970-01-01T00:20:00.000Z)");
    json_t *am = route_payload(DEST_ALERTMANAGER, &n);
    json_t *labels = json_object_get(json_array_get(am, 0), "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "type")), "latency");
    assert_string_equal(json_string_value(json_object_get(labels, "severity")), "high");
    assert_string_equal(route_pagerduty_severity("medium"), "warning");
    assert_string_equal(route_pagerduty_severity("low"), "info");
    json_decref(pd);
    json_decref(sl);
    json_decref(am);
    json_decref(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_routes_by_kind),
        cmocka_unit_test(test_first_and_all),
        cmocka_unit_test(test_intervals),
        cmocka_unit_test(test_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
