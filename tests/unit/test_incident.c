/* Unit tests of src/incident/: what ties a finding (features.c), which incident it joins and where an
 * incident began (correlate.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/incident.h"

#define T 1795515000000LL

static void test_a_word_or_a_host_named_after_the_service_names_it(void **state)
{
    (void)state;
    static const struct {
        const char *text, *service;
        int named;
    } cases[] = {
        {"query to db timed out", "db", 1},        {"connect db-primary:5432 refused", "db", 1},
        {"host payments.internal down", "payments", 1}, {"cache2 evicted", "cache", 1},
        {"DB lock", "db", 1},                         {"trace_id=db12f3aa", "db", 0}, /* a hex id */
        {"dbx started", "db", 0},                     {"feedback sent", "db", 0},
        {"upstream checkout_v2 502", "checkout", 1},  {"", "db", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(incident_names(cases[i].text, strlen(cases[i].text), cases[i].service), cases[i].named);
}

static json_t *finding(const char *type, json_int_t tid)
{
    return json_pack("{s:s, s:s, s:[I]}", "type", type, "severity", "high", "template_ids", tid);
}

static void test_annotation_reads_the_lines_behind_each_finding(void **state)
{
    (void)state;
    incident_line lines[] = {
        {T + 1000, 3, "GET /checkout -> checkout 200 trace_id=aaaaaaaa01", 1},
        {T + 2000, 5, "upstream checkout 502 trace_id=bbbbbbbb02 host=auth-3", 2},
        {T + 9000, 5, "upstream checkout 502 request-id: \"cccccccc03\"", 2},
        {T + 9500, 4, "retrying payments call", 3},
    };
    const char *names[] = {"edge", "checkout", "auth", "payments"};
    json_t *list = json_pack("[o, o]", finding("error_spike", 2), json_pack("{s:s, s:s, s:[]}", "type", "latency",
                                                                             "severity", "low", "template_ids"));
    json_t *calls = NULL;
    assert_int_equal(incident_annotate(list, "edge", lines, 4, names, 4, &calls), 0);
    json_t *f = json_array_get(list, 0);
    assert_int_equal(json_integer_value(json_object_get(f, "first_ts")), T + 2000);
    assert_int_equal(json_integer_value(json_object_get(f, "last_ts")), T + 9000);
    char *m = json_dumps(json_object_get(f, "mentions"), JSON_COMPACT);
    assert_string_equal(m, "[\"checkout\",\"auth\"]"); /* its own lines only; never itself */
    free(m);
    char *ids = json_dumps(json_object_get(f, "trace_ids"), JSON_COMPACT);
    assert_string_equal(ids, "[\"bbbbbbbb02\",\"cccccccc03\"]");
    free(ids);
    /* no template: the window's error lines */
    json_t *g = json_array_get(list, 1);
    assert_int_equal(json_integer_value(json_object_get(g, "first_ts")), T + 2000);
    assert_int_equal(json_integer_value(json_object_get(g, "last_ts")), T + 9000);
    /* the window's calls: every line, once per line and name */
    assert_int_equal(json_integer_value(json_object_get(calls, "checkout")), 3);
    assert_int_equal(json_integer_value(json_object_get(calls, "payments")), 1);
    assert_int_equal(json_integer_value(json_object_get(calls, "auth")), 1);
    assert_null(json_object_get(calls, "edge"));
    json_decref(calls);
    json_decref(list);
}

static void test_mentions_and_ids_are_bounded(void **state)
{
    (void)state;
    enum { N = 40 };
    char *msgs[N];
    incident_line lines[N];
    const char *names[N];
    char *nm[N];
    for (int i = 0; i < N; i++) {
        nm[i] = malloc(16);
        snprintf(nm[i], 16, "svc%c%c", 'a' + i / 26, 'a' + i % 26);
        names[i] = nm[i];
        msgs[i] = malloc(128);
        snprintf(msgs[i], 128, "calling %s failed trace_id=%08dabc", nm[i], i);
        lines[i] = (incident_line){T + i, 5, msgs[i], 7};
    }
    json_t *list = json_pack("[o]", finding("error_spike", 7));
    assert_int_equal(incident_annotate(list, "edge", lines, N, names, N, NULL), 0);
    json_t *f = json_array_get(list, 0);
    assert_int_equal(json_array_size(json_object_get(f, "mentions")), INCIDENT_MAX_MENTIONS);
    assert_int_equal(json_array_size(json_object_get(f, "trace_ids")), INCIDENT_MAX_TRACE_IDS);
    json_decref(list);
    for (int i = 0; i < N; i++) {
        free(msgs[i]);
        free(nm[i]);
    }
}

static incident_member member(int64_t id, int64_t inc, const char *svc, const char *type, int64_t first, int64_t last,
                              json_t *mentions, json_t *ids)
{
    return (incident_member){.anomaly_id = id, .incident_id = inc, .service = svc, .type = type, .severity = "high",
                             .summary = svc, .severity_rank = 3, .first_ts = first, .last_ts = last,
                             .mentions = mentions, .trace_ids = ids};
}

static void test_a_tie_needs_closeness_in_event_time_and_a_reason(void **state)
{
    (void)state;
    json_t *names_db = json_pack("[s]", "db"), *none = json_array(), *ids = json_pack("[s]", "t1234567");
    incident_edge edges[] = {{"edge", "auth"}};
    incident_member db = member(1, 10, "db", "latency", T, T + 60000, none, none);
    incident_member pay = member(2, 0, "payments", "latency", T + 20000, T + 70000, names_db, none);
    assert_int_equal(incident_tie(&pay, &db, edges, 1, 300000), 4);
    /* the same, 10 minutes later: more than the gap between their lines */
    incident_member late = member(3, 0, "payments", "latency", T + 60000 + 300001, T + 900000, names_db, none);
    assert_int_equal(incident_tie(&late, &db, edges, 1, 300000), 0);
    assert_int_equal(incident_tie(&late, &db, edges, 1, 300001), 4);
    /* close in time and nothing else: apart */
    incident_member auth = member(4, 0, "auth", "auth_failure", T, T + 60000, none, none);
    assert_int_equal(incident_tie(&auth, &db, edges, 1, 300000), 0);
    /* a call-graph edge ties failures that travel along a call, never an authentication finding */
    incident_member edge_err = member(5, 11, "edge", "error_spike", T, T + 1000, none, none);
    incident_member auth_err = member(6, 0, "auth", "error_spike", T, T + 1000, none, none);
    assert_int_equal(incident_tie(&auth_err, &edge_err, edges, 1, 300000), 1);
    assert_int_equal(incident_tie(&auth, &edge_err, edges, 1, 300000), 0);
    /* a shared trace id */
    incident_member a = member(7, 0, "checkout", "error_spike", T, T + 1000, none, ids);
    incident_member b = member(8, 12, "edge", "error_spike", T, T + 1000, none, ids);
    assert_int_equal(incident_tie(&a, &b, NULL, 0, 300000), 4);
    json_decref(names_db);
    json_decref(none);
    json_decref(ids);
}

static void test_a_finding_tied_to_two_incidents_joins_the_oldest(void **state)
{
    (void)state;
    json_t *names_db = json_pack("[s]", "db"), *names_co = json_pack("[s]", "checkout"), *none = json_array();
    incident_member near[] = {
        member(1, 7, "db", "latency", T, T + 60000, none, none),
        member(2, 9, "edge", "error_spike", T + 50000, T + 60000, names_co, none),
        member(3, 8, "auth", "auth_failure", T, T + 60000, none, none),
    };
    /* checkout's finding names nobody near, but edge names checkout */
    incident_member co = member(4, 0, "checkout", "error_spike", T + 35000, T + 60000, none, none);
    int64_t ids[4];
    assert_int_equal(incident_choose(&co, near, 3, NULL, 0, 300000, ids, 4), 1);
    assert_int_equal(ids[0], 9);
    /* payments names db (incident 7) and shares a trace id with edge (incident 9): it bridges them */
    json_t *ids_t = json_pack("[s]", "t9999999");
    near[1].trace_ids = ids_t;
    incident_member pay = member(5, 0, "payments", "latency", T + 20000, T + 60000, names_db, ids_t);
    assert_int_equal(incident_choose(&pay, near, 3, NULL, 0, 300000, ids, 4), 2);
    assert_int_equal(ids[0], 7);
    assert_int_equal(ids[1], 9);
    /* bounded by max */
    assert_int_equal(incident_choose(&pay, near, 3, NULL, 0, 300000, ids, 1), 1);
    json_decref(ids_t);
    json_decref(names_db);
    json_decref(names_co);
    json_decref(none);
}

static void test_the_root_is_the_callee_the_callers_name(void **state)
{
    (void)state;
    json_t *n_db = json_pack("[s]", "db"), *n_pay = json_pack("[s]", "payments"), *n_co = json_pack("[s]", "checkout"),
           *none = json_array();
    /* edge's errors show first (its log is chattier), yet the calls end at db */
    incident_member m[] = {
        member(1, 1, "edge", "error_spike", T, T + 60000, n_co, none),
        member(2, 1, "checkout", "error_spike", T + 5000, T + 60000, n_pay, none),
        member(3, 1, "payments", "latency", T + 8000, T + 60000, n_db, none),
        member(4, 1, "db", "latency", T + 9000, T + 60000, none, none),
    };
    m[3].severity_rank = 4;
    m[3].severity = "critical";
    incident_view v;
    assert_int_equal(incident_describe(m, 4, NULL, 0, &v), 0);
    assert_string_equal(v.root_service, "db");
    assert_non_null(strstr(v.root_reason, "payments names it"));
    assert_string_equal(v.severity, "critical");
    assert_int_equal(v.start_ms, T);
    char *s = json_dumps(v.services, JSON_COMPACT);
    assert_string_equal(s, "[\"edge\",\"checkout\",\"payments\",\"db\"]");
    free(s);
    assert_non_null(strstr(v.summary, "4 findings in 4 services"));
    incident_view_free(&v);
    /* a cycle: each names another; the earliest line decides */
    incident_member c[] = {
        member(1, 1, "payments", "latency", T + 3000, T + 9000, n_db, none),
        member(2, 1, "db", "latency", T + 1000, T + 9000, n_pay, none),
    };
    assert_int_equal(incident_describe(c, 2, NULL, 0, &v), 0);
    assert_string_equal(v.root_service, "db");
    assert_non_null(strstr(v.root_reason, "earliest"));
    incident_view_free(&v);
    /* one service */
    assert_int_equal(incident_describe(&m[3], 1, NULL, 0, &v), 0);
    assert_string_equal(v.root_service, "db");
    incident_view_free(&v);
    json_decref(n_db);
    json_decref(n_pay);
    json_decref(n_co);
    json_decref(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_word_or_a_host_named_after_the_service_names_it),
        cmocka_unit_test(test_annotation_reads_the_lines_behind_each_finding),
        cmocka_unit_test(test_mentions_and_ids_are_bounded),
        cmocka_unit_test(test_a_tie_needs_closeness_in_event_time_and_a_reason),
        cmocka_unit_test(test_a_finding_tied_to_two_incidents_joins_the_oldest),
        cmocka_unit_test(test_the_root_is_the_callee_the_callers_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
