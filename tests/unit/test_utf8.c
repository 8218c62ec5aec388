/*
 * test_utf8.c — the one UTF-8 checker (src/core/utf8.c): which sequences
 * are valid (RFC 3629 edges), prefixes, and cuts that never split a
 * character, including the cut vsnprintf leaves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/utf8.h"

static void test_utf8_seq_len(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n, want;
    } cases[] = {
        {"a", 1, 1},
        {"\xC3\xA9", 2, 2},              /* é */
        {"\xC3\xA9", 1, 0},              /* cut short */
        {"\xC0\xAF", 2, 0},              /* overlong / */
        {"\xC1\xBF", 2, 0},              /* overlong */
        {"\xE0\x9F\xBF", 3, 0},          /* overlong three-byte */
        {"\xE0\xA0\x80", 3, 3},          /* U+0800 */
        {"\xED\x9F\xBF", 3, 3},          /* U+D7FF */
        {"\xED\xA0\x80", 3, 0},          /* a surrogate */
        {"\xEF\xBF\xBD", 3, 3},          /* U+FFFD */
        {"\xF0\x8F\xBF\xBF", 4, 0},      /* overlong four-byte */
        {"\xF0\x9F\x98\x80", 4, 4},      /* U+1F600 */
        {"\xF4\x8F\xBF\xBF", 4, 4},      /* U+10FFFF */
        {"\xF4\x90\x80\x80", 4, 0},      /* past U+10FFFF */
        {"\xF5\x80\x80\x80", 4, 0},
        {"\x80", 1, 0},                  /* a lone continuation byte */
        {"\xE2\x82", 2, 0},
        {"\xE2\x28\xA1", 3, 0},          /* a bad second byte */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (utf8_seq_len((const unsigned char *)cases[i].s, cases[i].n) != cases[i].want)
            fail_msg("case %zu: expected %zu", i, cases[i].want);
}

static void test_utf8_valid_and_prefix(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid("h\xC3\xA9llo", 6));
    assert_true(utf8_valid("a\0b", 3)); /* NUL is valid UTF-8 */
    assert_false(utf8_valid("h\xC3llo", 5));
    assert_int_equal(utf8_clean_prefix("ab\0cd", 5), 2); /* but not clean */
    assert_int_equal(utf8_clean_prefix("ab\xFF" "cd", 5), 2);
    assert_int_equal(utf8_clean_prefix("h\xC3\xA9", 3), 3);
}

static void test_utf8_cuts(void **state)
{
    (void)state;
    const char *s = "a\xC3\xA9\xF0\x9F\x98\x80"; /* a é 😀: 1 + 2 + 4 bytes */
    assert_int_equal(utf8_cut(s, 7, 10), 7);
    assert_int_equal(utf8_cut(s, 7, 7), 7);
    assert_int_equal(utf8_cut(s, 7, 6), 3); /* inside the emoji: before it */
    assert_int_equal(utf8_cut(s, 7, 3), 3);
    assert_int_equal(utf8_cut(s, 7, 2), 1); /* inside é */
    assert_int_equal(utf8_cut(s, 7, 0), 0);
    /* what vsnprintf leaves: a character cut short at the end goes, a whole one stays */
    assert_int_equal(utf8_whole(s, 7), 7);
    assert_int_equal(utf8_whole(s, 6), 3);
    assert_int_equal(utf8_whole(s, 4), 3);
    assert_int_equal(utf8_whole(s, 3), 3);
    assert_int_equal(utf8_whole(s, 2), 1);
    assert_int_equal(utf8_whole(s, 0), 0);
    assert_int_equal(utf8_whole("ab\x80", 3), 3); /* a stray continuation byte is not a cut character */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_seq_len),
        cmocka_unit_test(test_utf8_valid_and_prefix),
        cmocka_unit_test(test_utf8_cuts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
