/*
 * test_severity.c — the one severity ranking (src/core/severity.c) that
 * validation, storage, routing rules and the ?severity= filter share.
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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_severity_rank)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
