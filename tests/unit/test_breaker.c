/*
 * test_breaker.c — the model's circuit breaker: it opens after `threshold`
 * consecutive failures (a success in between starts the count again), lets
 * nothing through for the cool-down, then exactly one probe; the probe's
 * success closes it, its failure opens it for another cool-down, and a
 * cancelled probe frees the slot. After a failure calls are "quick".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "anomalog/breaker.h"

static void test_opens_after_threshold(void **state)
{
    (void)state;
    breaker *b = breaker_new(3, 1000);
    assert_non_null(b);
    int quick;
    assert_true(breaker_allow(b, 0, &quick));
    assert_false(quick);
    breaker_record(b, 0, 0);
    breaker_record(b, 0, 1);
    assert_true(breaker_allow(b, 2, &quick));
    assert_true(quick); /* failures seen: no retries within the call */
    breaker_record(b, 1, 2); /* a success: the count starts again */
    assert_true(breaker_allow(b, 3, &quick));
    assert_false(quick);
    breaker_record(b, 0, 3);
    breaker_record(b, 0, 4);
    assert_string_equal(breaker_state(b), "ok");
    breaker_record(b, 0, 5); /* the third in a row */
    assert_string_equal(breaker_state(b), "down");
    assert_false(breaker_allow(b, 6, &quick));
    assert_false(breaker_allow(b, 1004, &quick));
    assert_int_equal(breaker_wait_ms(b, 1000), 5);
    breaker_free(b);
}

static void test_one_probe_decides(void **state)
{
    (void)state;
    breaker *b = breaker_new(1, 1000);
    int quick;
    breaker_record(b, 0, 0);
    assert_string_equal(breaker_state(b), "down");
    assert_true(breaker_allow(b, 1000, &quick)); /* the probe */
    assert_true(quick);
    assert_false(breaker_allow(b, 1001, &quick)); /* only one */
    breaker_record(b, 0, 1500);                   /* it failed: another cool-down from now */
    assert_string_equal(breaker_state(b), "down");
    assert_false(breaker_allow(b, 2499, &quick));
    assert_true(breaker_allow(b, 2500, &quick));
    breaker_record(b, -1, 2600); /* cancelled (shutdown): says nothing, frees the slot */
    assert_string_equal(breaker_state(b), "down");
    assert_true(breaker_allow(b, 2601, &quick));
    breaker_record(b, 1, 2700); /* the model answers */
    assert_string_equal(breaker_state(b), "ok");
    assert_true(breaker_allow(b, 2701, &quick));
    assert_false(quick);
    assert_int_equal(breaker_wait_ms(b, 2701), 0);
    breaker_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_opens_after_threshold),
                                       cmocka_unit_test(test_one_probe_decides)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
