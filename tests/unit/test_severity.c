/*
 * test_severity.c — the one severity ranking (src/core/severity.c) that
 * validation, storage, routing rules and the ?severity= filter share, and the
 * one health ranking that the verdict and the ?health= filter share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "anomalog/severity.h"

static void test_severity_rank(void **state)
{
    (void)state;
    assert_int_equal(severity_rank("low"), 1);
    assert_int_equal(severity_rank("medium"), 2);
    assert_int_equal(severity_rank("high"), 3);
    assert_int_equal(severity_rank("critical"), 4);
    assert_int_equal(severity_rank("HIGH"), 3); /* a model's or a client's capitals */
    assert_int_equal(severity_rank("severe"), 0);
    assert_int_equal(severity_rank(""), 0);
    assert_int_equal(severity_rank(NULL), 0);
    for (int i = 0; SEVERITY_NAMES[i]; i++)
        assert_int_equal(severity_rank(SEVERITY_NAMES[i]), i + 1);
}

static void test_health_rank(void **state)
{
    (void)state;
    assert_int_equal(health_rank("normal"), 0);
    assert_int_equal(health_rank("degraded"), 1);
    assert_int_equal(health_rank("critical"), 2);
    assert_int_equal(health_rank("unknown"), -1); /* a window not analysed ranks with nothing */
    assert_int_equal(health_rank("bad"), -1);
    assert_int_equal(health_rank(NULL), -1);
    for (int i = 0; HEALTH_NAMES[i]; i++) {
        assert_int_equal(health_rank(HEALTH_NAMES[i]), i);
        assert_string_equal(HEALTH_STATES[i], HEALTH_NAMES[i]);
    }
    assert_string_equal(HEALTH_STATES[3], "unknown");
    assert_null(HEALTH_STATES[4]);

    assert_string_equal(health_worse("normal", "critical"), "critical");
    assert_string_equal(health_worse("critical", "degraded"), "critical");
    assert_string_equal(health_worse("degraded", "normal"), "degraded");
    assert_string_equal(health_worse("unknown", "normal"), "normal");
    assert_string_equal(health_worse("degraded", NULL), "degraded");

    /* what the anomalies' highest severity makes */
    assert_string_equal(health_of_severity(0), "normal");
    assert_string_equal(health_of_severity(severity_rank("low")), "normal");
    assert_string_equal(health_of_severity(severity_rank("medium")), "degraded");
    assert_string_equal(health_of_severity(severity_rank("high")), "degraded");
    assert_string_equal(health_of_severity(severity_rank("critical")), "critical");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_severity_rank), cmocka_unit_test(test_health_rank)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
