/* Durations among a template's values and their drift (src/analyze/latency.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/latency.h"

/* Which values the line presents as a duration, and in what. */
static void test_durations_by_shape(void **state)
{
    (void)state;
    static const struct {
        const char *msg, *value; /* value: the first occurrence of it in msg */
        int is;
        double ms;
    } cases[] = {
        {"request took 23 ms", "23", 1, 23},
        {"request took 23ms", "23", 1, 23},
        {"handled order 55123 in 41ms", "41", 1, 41},
        {"handled order 55123 in 41ms", "55123", 0, 0},   /* an id: no unit, no duration word */
        {"GET /api/items?id=77 200 12ms", "200", 0, 0},    /* a status before a duration */
        {"GET /api/items?id=77 200 12ms", "12ms", 1, 12},  /* the unit inside the value */
        {"call finished in 1.5s", "1.5s", 1, 1500},
        {"call finished in 1.5 seconds", "1.5", 1, 1500},
        {"rpc done in 800us", "800us", 1, 0.8},
        {"latency=230", "230", 1, 230},                   /* a duration key, no unit: as written */
        {"response_time_ms: 17", "17", 1, 17},
        {"{\"responseTime\":88}", "88", 1, 88},
        {"elapsed 4", "4", 1, 4},
        {"uptime=3600", "3600", 0, 0},                    /* grows by itself: not a latency */
        {"timestamp=1700000000", "1700000000", 0, 0},
        {"wrote 512KB in a block", "512KB", 0, 0},         /* another unit */
        {"wrote 512 KB", "512", 0, 0},
        {"took 1234567890123 ms", "1234567890123", 0, 0}, /* 13 digits: an id or an epoch */
        {"took abc ms", "abc", 0, 0},
        {"retry 3 sessions", "3", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *m = cases[i].msg, *v = strstr(m, cases[i].value);
        assert_non_null(v);
        double out = -1;
        int is = latency_value(m, strlen(m), v, strlen(cases[i].value), &out);
        if (is != cases[i].is)
            fail_msg("%s / %s: %d, want %d", m, cases[i].value, is, cases[i].is);
        if (is)
            assert_float_equal(out, cases[i].ms, 1e-9);
    }
}

/* Summaries: exact count and mean, the sample's median and p95; positions past LATENCY_POSITIONS ignored. */
static void test_summaries(void **state)
{
    (void)state;
    latency_acc *a = NULL;
    for (int i = 1; i <= 20; i++)
        assert_int_equal(latency_add(&a, 2, i), 0);
    assert_int_equal(latency_add(&a, 5, 7), 0);
    assert_int_equal(latency_add(&a, 9, 7), 0); /* a third position: not followed */
    latency_summary s[4];
    assert_int_equal(latency_summarise(a, 42, 1000, s, 4), 2);
    assert_int_equal(s[0].template_id, 42);
    assert_int_equal(s[0].pos, 2);
    assert_int_equal(s[0].window_start, 1000);
    assert_int_equal(s[0].count, 20);
    assert_float_equal(s[0].mean, 10.5, 1e-9);
    assert_float_equal(s[0].median, 10.5, 1e-9);
    assert_float_equal(s[0].p95, 19, 1e-9);
    assert_int_equal(s[1].pos, 5);
    assert_int_equal(latency_summarise(a, 42, 1000, s, 1), 1); /* bounded by max */
    latency_acc_free(a);

    /* many values: the sample is bounded and still near the truth; the same input gives the same summary */
    latency_summary x[2] = {{0}};
    for (int round = 0; round < 2; round++) {
        a = NULL;
        for (int i = 0; i < 10000; i++)
            assert_int_equal(latency_add(&a, 0, (double)(i % 100)), 0);
        assert_int_equal(latency_summarise(a, 1, 0, &x[round], 1), 1);
        latency_acc_free(a);
    }
    assert_int_equal(x[0].count, 10000);
    assert_float_equal(x[0].mean, 49.5, 1e-9);
    assert_true(x[0].median > 30 && x[0].median < 70);
    assert_true(x[0].p95 > 80);
    assert_true(x[0].count == x[1].count && x[0].mean == x[1].mean && x[0].median == x[1].median &&
                x[0].p95 == x[1].p95);
    latency_acc_free(NULL);
}

static latency_summary sum(int64_t window, uint64_t count, double median)
{
    return (latency_summary){.template_id = 7, .pos = 2, .window_start = window, .count = count, .mean = median,
                             .median = median, .p95 = median * 1.5};
}

/* Drift: twice the lowest median of at least three earlier windows, and above their highest. */
static void test_drift(void **state)
{
    (void)state;
    latency_summary h[] = {sum(0, 50, 20), sum(1, 50, 22), sum(2, 50, 21), sum(3, 50, 30)};
    latency_judgement j;
    latency_summary cur = sum(4, 50, 45);
    assert_int_equal(latency_drift(&cur, h, 4, &j), 1);
    assert_float_equal(j.lowest, 20, 1e-9);
    assert_float_equal(j.highest, 30, 1e-9);
    assert_int_equal(j.windows, 4);
    assert_float_equal(j.factor, 2.25, 1e-9);
    cur = sum(4, 50, 39); /* under twice the lowest */
    assert_int_equal(latency_drift(&cur, h, 4, &j), 0);
    cur = sum(4, 50, 45);
    assert_int_equal(latency_drift(&cur, h, 2, &j), 0); /* two windows of history: too few */
    cur = sum(4, 5, 45);
    assert_int_equal(latency_drift(&cur, h, 4, &j), 0); /* too few lines now */
    latency_summary thin[] = {sum(0, 50, 20), sum(1, 3, 22), sum(2, 50, 21), sum(3, 4, 30)};
    cur = sum(4, 50, 45);
    assert_int_equal(latency_drift(&cur, thin, 4, &j), 0); /* thin windows do not count as history */
    latency_summary high[] = {sum(0, 50, 20), sum(1, 50, 90), sum(2, 50, 21)};
    assert_int_equal(latency_drift(&cur, high, 3, &j), 0); /* it has been this slow before */
    /* a wide spread: a median of 21 against medians of 10..18 is noise while the usual p95 is 28 */
    latency_summary wide[] = {sum(0, 30, 10), sum(1, 30, 18), sum(2, 30, 15), sum(3, 30, 16)};
    for (size_t i = 0; i < 4; i++)
        wide[i].p95 = 28;
    cur = sum(4, 30, 21);
    assert_int_equal(latency_drift(&cur, wide, 4, &j), 0);
    cur = sum(4, 30, 28); /* as slow as the slow lines were: drift */
    assert_int_equal(latency_drift(&cur, wide, 4, &j), 1);
    assert_float_equal(j.usual_p95, 28, 1e-9);
    cur = sum(4, 50, 45);
    latency_summary zero[] = {sum(0, 50, 0), sum(1, 50, 0), sum(2, 50, 0)};
    assert_int_equal(latency_drift(&cur, zero, 3, &j), 0); /* nothing to be a multiple of */
    latency_summary other[] = {sum(0, 50, 20), sum(1, 50, 20), sum(2, 50, 20)};
    other[1].pos = 3; /* another position: not this one's history */
    assert_int_equal(latency_drift(&cur, other, 3, &j), 0);
    latency_summary later[] = {sum(0, 50, 20), sum(1, 50, 20), sum(5, 50, 20)};
    assert_int_equal(latency_drift(&cur, later, 3, &j), 0); /* a window after this one is not history */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations_by_shape),
        cmocka_unit_test(test_summaries),
        cmocka_unit_test(test_drift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
