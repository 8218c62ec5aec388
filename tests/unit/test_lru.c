/*
 * test_lru.c — the one recency list (src/core/lru.c) that a miner's
 * templates and the cache of miners are evicted from: the order after
 * pushes, touches and unlinks, read from both ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/lru.h"

typedef struct item {
    char name;
    lru_link link;
} item;

/* The names from head to tail, checked against the walk from tail to head. */
static void order(const lru_list *l, char *out)
{
    size_t n = 0;
    for (const lru_link *k = l->head; k; k = k->next)
        out[n++] = LRU_ENTRY(k, const item, link)->name;
    out[n] = '\0';
    for (const lru_link *k = l->tail; k; k = k->prev)
        assert_int_equal(LRU_ENTRY(k, const item, link)->name, out[--n]);
    assert_int_equal(n, 0);
}

static void test_lru_order(void **state)
{
    (void)state;
    item it[4] = {{'a', {0}}, {'b', {0}}, {'c', {0}}, {'d', {0}}};
    lru_list l = {NULL, NULL};
    char s[8];
    for (int i = 0; i < 4; i++)
        lru_push(&l, &it[i].link);
    order(&l, s);
    assert_string_equal(s, "dcba");

    lru_touch(&l, &it[0].link); /* the tail to the head */
    order(&l, s);
    assert_string_equal(s, "adcb");
    lru_touch(&l, &it[0].link); /* the head stays */
    order(&l, s);
    assert_string_equal(s, "adcb");
    lru_touch(&l, &it[2].link); /* from the middle */
    order(&l, s);
    assert_string_equal(s, "cadb");

    lru_unlink(&l, &it[1].link); /* the tail goes: the next least recent is the tail */
    order(&l, s);
    assert_string_equal(s, "cad");
    assert_ptr_equal(LRU_ENTRY(l.tail, item, link), &it[3]);
    assert_null(it[1].link.prev);
    assert_null(it[1].link.next);
    lru_unlink(&l, &it[2].link); /* the head goes */
    lru_unlink(&l, &it[0].link);
    order(&l, s);
    assert_string_equal(s, "d");
    lru_unlink(&l, &it[3].link);
    assert_null(l.head);
    assert_null(l.tail);

    memset(&it[1].link, 0xAB, sizeof it[1].link); /* a fresh element's links need not be set */
    lru_push(&l, &it[1].link);
    order(&l, s);
    assert_string_equal(s, "b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_lru_order)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
