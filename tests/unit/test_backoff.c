/*
 * test_backoff.c — the one wait before a retry (src/core/backoff.c):
 * doubling from the base up to the cap, the ±20% jitter staying in its
 * band and under the cap, and no overflow however many retries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "anomalog/backoff.h"

static void test_backoff_doubles_to_the_cap(void **state)
{
    (void)state;
    assert_int_equal(backoff_ms(1000, 30000, 1, 0), 1000);
    assert_int_equal(backoff_ms(1000, 30000, 2, 0), 2000);
    assert_int_equal(backoff_ms(1000, 30000, 5, 0), 16000);
    assert_int_equal(backoff_ms(1000, 30000, 6, 0), 30000);
    assert_int_equal(backoff_ms(1000, 30000, 1000000, 0), 30000);
    assert_int_equal(backoff_ms(INT64_MAX / 3, INT64_MAX, 64, 0), INT64_MAX); /* no overflow on the way */
    assert_int_equal(backoff_ms(0, 30000, 3, 1), 0);
    assert_int_equal(backoff_ms(-5, 30000, 3, 0), 0);
    assert_int_equal(backoff_ms(1000, 0, 3, 1), 0);
    assert_int_equal(backoff_ms(1000, 30000, 0, 0), 1000); /* before the first retry: the base */
}

static void test_backoff_jitter_band(void **state)
{
    (void)state;
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
        int64_t d = backoff_ms(1000, 30000, 3, 1); /* 4000 ± 800 */
        assert_in_range(d, 3200, 4800);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        assert_true(backoff_ms(1000, 30000, 9, 1) <= 30000); /* the cap holds after the jitter */
    }
    assert_true(lo < 3500 && hi > 4500); /* it does spread */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_to_the_cap),
        cmocka_unit_test(test_backoff_jitter_band),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
