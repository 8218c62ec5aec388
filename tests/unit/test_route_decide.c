/* Unit tests of decide.c: the routing decision the store records inside its finish transaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/route_decide.h"

#define NOW 1764000000000LL

static void test_no_interval_opens_one(void **state)
{
    (void)state;
    route_config rc = {.suppress_ms = 1200000};
    rc.per_service = calloc(1, sizeof *rc.per_service);
    rc.per_service[0] = (route_interval){strdup("checkout"), 1800000};
    rc.n_per_service = 1;
    route_decision d = route_decide(&rc, "api", "latency", 3, NULL, NOW);
    assert_int_equal(d.suppress, 0);
    assert_int_equal(d.until_ms, NOW + 1200000);
    route_open never = {0};
    d = route_decide(&rc, "checkout", "latency", 1, &never, NOW);
    assert_int_equal(d.suppress, 0);
    assert_int_equal(d.until_ms, NOW + 1800000); /* the service's own interval */
    route_config_free(&rc);
}

static void test_open_interval_suppresses_up_to_its_severity(void **state)
{
    (void)state;
    route_config rc = {.suppress_ms = 1200000};
    route_open open = {.exists = 1, .opened_by = 41, .severity_rank = 3, .until_ms = NOW + 1000};
    static const struct {
        int rank, suppress;
    } cases[] = {{1, 1}, {2, 1}, {3, 1}, {4, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        route_decision d = route_decide(&rc, "api", "latency", cases[i].rank, &open, NOW);
        assert_int_equal(d.suppress, cases[i].suppress);
        if (d.suppress) {
            assert_int_equal(d.suppressed_by, 41);
            assert_int_equal(d.until_ms, NOW + 1000);
        } else {
            assert_int_equal(d.until_ms, NOW + 1200000); /* a more severe one opens its own */
        }
    }
    /* an interval that ran out (until == now) suppresses nothing */
    open.until_ms = NOW;
    assert_int_equal(route_decide(&rc, "api", "latency", 1, &open, NOW).suppress, 0);
}

typedef struct put_log {
    char names[4][32];
    char dedup[4][300];
    char *bodies[4];
    int n, fail;
} put_log;

static int record_put(void *arg, const route_dest *d, const char *dedup, const char *body)
{
    put_log *p = arg;
    if (p->fail || p->n == 4)
        return -1;
    snprintf(p->names[p->n], sizeof p->names[p->n], "%s", d->name);
    snprintf(p->dedup[p->n], sizeof p->dedup[p->n], "%s", dedup);
    p->bodies[p->n++] = strdup(body);
    return 0;
}

static void add_dest(route_config *rc, const char *name, dest_kind k)
{
    route_dest *d = route_dest_add(rc, name, k);
    assert_non_null(d);
    d->url = strdup("http://127.0.0.1:1/x");
    if (k == DEST_PAGERDUTY)
        d->routing_key = strdup("key");
}

static void test_notifications_go_where_the_routes_say(void **state)
{
    (void)state;
    route_config rc = {.match_all = 1, .suppress_ms = 1200000};
    snprintf(rc.public_url, sizeof rc.public_url, "http://anomalog.example");
    add_dest(&rc, "pager", DEST_PAGERDUTY);
    add_dest(&rc, "chat", DEST_SLACK);
    json_t *a = json_pack("{s:s, s:s, s:s, s:[s], s:s}", "type", "error_spike", "severity", "high", "summary",
                          "500s on checkout", "evidence", "GET /pay 500", "recommended_action", "roll back");
    route_window w = {.id = 7, .service = "checkout", .start_ms = NOW - 300000, .end_ms = NOW};
    put_log p = {0};
    /* high goes to slack only by default (pagerduty takes critical) */
    assert_int_equal(route_notifications(&rc, &w, a, 3, 99, NOW, NOW + 1200000, record_put, &p), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.names[0], "chat");
    assert_string_equal(p.dedup[0], "anomalog:checkout:error_spike:1764000000000");
    assert_non_null(strstr(p.bodies[0], "http://anomalog.example/windows/7"));
    assert_non_null(strstr(p.bodies[0], "500s on checkout"));
    free(p.bodies[0]);
    /* critical goes to pagerduty only */
    memset(&p, 0, sizeof p);
    assert_int_equal(route_notifications(&rc, &w, a, 4, 99, NOW, NOW + 1200000, record_put, &p), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.names[0], "pager");
    for (int i = 0; i < p.n; i++)
        free(p.bodies[i]);
    /* a put that fails fails the whole: the store rolls the finish back */
    memset(&p, 0, sizeof p);
    p.fail = 1;
    assert_int_equal(route_notifications(&rc, &w, a, 4, 99, NOW, NOW + 1200000, record_put, &p), -1);
    json_decref(a);
    route_config_free(&rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_interval_opens_one),
        cmocka_unit_test(test_open_interval_suppresses_up_to_its_severity),
        cmocka_unit_test(test_notifications_go_where_the_routes_say),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
