/*
 * test_strbuf.c — the one growable string buffer (src/core/strbuf.c): its
 * bound holds to the byte for plain and formatted appends, a refused append
 * leaves the text as it was, and the text handed over is always a string.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/strbuf.h"

static void test_strbuf_bound(void **state)
{
    (void)state;
    strbuf b;
    strbuf_init(&b, 10);
    assert_int_equal(strbuf_str(&b, "hello"), STRBUF_OK);
    assert_int_equal(strbuf_add(&b, " world", 6), STRBUF_FULL); /* 11 > 10: nothing of it goes in */
    assert_string_equal(b.p, "hello");
    assert_int_equal(b.len, 5);
    assert_int_equal(strbuf_add(&b, "world", 5), STRBUF_OK); /* exactly the maximum */
    assert_string_equal(b.p, "helloworld");
    assert_int_equal(strbuf_add(&b, "!", 1), STRBUF_FULL);
    assert_int_equal(strbuf_add(&b, "", 0), STRBUF_OK);
    assert_true(b.cap <= b.max + 1);
    assert_int_equal(b.oom, 0);
    strbuf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 10);
}

static void test_strbuf_printf(void **state)
{
    (void)state;
    strbuf b = STRBUF_INIT(STRBUF_UNBOUNDED);
    assert_int_equal(strbuf_printf(&b, "%d-%s", 42, "x"), STRBUF_OK);
    assert_string_equal(b.p, "42-x");
    /* longer than the room there is: the buffer grows and the text is whole */
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(strbuf_printf(&b, "[%s]", big), STRBUF_OK);
    assert_int_equal(b.len, 4 + 2 + sizeof big - 1);
    assert_int_equal(b.p[4], '[');
    assert_int_equal(b.p[b.len - 1], ']');
    assert_int_equal(b.p[b.len], '\0');
    strbuf_free(&b);

    /* past the maximum, whether or not it fits the room allocated: nothing goes in, the text stays terminated */
    strbuf_init(&b, 8);
    assert_int_equal(strbuf_printf(&b, "%s", "abc"), STRBUF_OK);
    assert_int_equal(strbuf_printf(&b, "%s", "defghi"), STRBUF_FULL);
    assert_string_equal(b.p, "abc");
    assert_int_equal(strbuf_printf(&b, "%s", "defgh"), STRBUF_OK);
    assert_string_equal(b.p, "abcdefgh");
    strbuf_free(&b);

    strbuf_init(&b, 1000);
    assert_int_equal(strbuf_str(&b, "0123456789"), STRBUF_OK); /* 256 bytes allocated */
    b.max = 12;                                                  /* lowered: room is kept back */
    assert_int_equal(strbuf_printf(&b, "%s", "abc"), STRBUF_FULL);
    assert_string_equal(b.p, "0123456789");
    assert_int_equal(strbuf_printf(&b, "%s", "ab"), STRBUF_OK);
    assert_string_equal(b.p, "0123456789ab");
    strbuf_free(&b);
}

static void test_strbuf_truncate_steal(void **state)
{
    (void)state;
    strbuf b = STRBUF_INIT(100);
    char *s = strbuf_steal(&b); /* nothing added: still a string */
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(strbuf_str(&b, "line one\nline two\n"), STRBUF_OK);
    strbuf_truncate(&b, 9);
    assert_string_equal(b.p, "line one\n");
    assert_int_equal(strbuf_str(&b, "end"), STRBUF_OK);
    s = strbuf_steal(&b);
    assert_string_equal(s, "line one\nend");
    free(s);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 100);
    strbuf_free(NULL);
}

/* Growth never passes the maximum's NUL: a large maximum filled a byte at a time. */
static void test_strbuf_growth(void **state)
{
    (void)state;
    strbuf b;
    strbuf_init(&b, 3000);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(strbuf_add(&b, "x", 1), STRBUF_OK);
    assert_int_equal(strbuf_add(&b, "x", 1), STRBUF_FULL);
    assert_int_equal(b.len, 3000);
    assert_int_equal(b.cap, 3001);
    assert_int_equal(strlen(b.p), 3000);
    strbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strbuf_bound),
        cmocka_unit_test(test_strbuf_printf),
        cmocka_unit_test(test_strbuf_truncate_steal),
        cmocka_unit_test(test_strbuf_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
