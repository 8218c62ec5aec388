/*
 * test_svccache.c — the per-service miner cache: its bound, its LRU order,
 * entries in use never evicted, a failed load retried, and a service evicted
 * then returning with the same template ids (its loader restores what a
 * fake store recorded, as the analyzer's restores the templates table).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/svccache.h"

/* A fake templates table: per service, (id, text, count) rows. */
#define FAKE_SERVICES 8
#define FAKE_ROWS 64
typedef struct fake_row {
    int64_t id;
    char text[256];
    uint64_t count;
} fake_row;
typedef struct fake_store {
    fake_row rows[FAKE_SERVICES][FAKE_ROWS];
    size_t n[FAKE_SERVICES];
    int loads[FAKE_SERVICES];
    int fail_next; /* the next load fails */
} fake_store;

static int fake_load(void *arg, int64_t service_id, miner *m, char *err, size_t errlen)
{
    fake_store *fs = arg;
    if (fs->fail_next) {
        fs->fail_next = 0;
        snprintf(err, errlen, "database is locked");
        return -1;
    }
    fs->loads[service_id]++;
    /* oldest id first, as the store hands them over */
    for (size_t i = 0; i < fs->n[service_id]; i++)
        assert_int_equal(miner_restore(m, fs->rows[service_id][i].id, fs->rows[service_id][i].text,
                                       fs->rows[service_id][i].count), 0);
    return 0;
}

typedef struct record_ctx {
    fake_store *fs;
    int64_t service;
} record_ctx;

static int row_cmp(const void *a, const void *b)
{
    int64_t x = ((const fake_row *)a)->id, y = ((const fake_row *)b)->id;
    return (x > y) - (x < y);
}

static void record_one(int64_t id, const char *text, uint64_t count, void *arg)
{
    record_ctx *r = arg;
    fake_store *fs = r->fs;
    size_t *n = &fs->n[r->service];
    for (size_t i = 0; i < *n; i++) {
        if (fs->rows[r->service][i].id == id) {
            snprintf(fs->rows[r->service][i].text, sizeof fs->rows[r->service][i].text, "%s", text);
            fs->rows[r->service][i].count = count;
            return;
        }
    }
    assert_true(*n < FAKE_ROWS);
    fake_row *row = &fs->rows[r->service][(*n)++];
    row->id = id;
    snprintf(row->text, sizeof row->text, "%s", text);
    row->count = count;
}

/* What the analyzer does after a digest: the miner's templates go to the store. */
static void record(fake_store *fs, int64_t service, const miner *m)
{
    record_ctx r = {fs, service};
    miner_foreach(m, record_one, &r);
    qsort(fs->rows[service], fs->n[service], sizeof(fake_row), row_cmp);
}

static int64_t add(miner *m, const char *msg)
{
    return miner_add(m, msg, strlen(msg), NULL, NULL, 0, NULL);
}

static void touch(svccache *c, int64_t service)
{
    char err[128];
    svccache_entry *e = NULL;
    miner *m = svccache_acquire(c, service, &e, err, sizeof err);
    assert_non_null(m);
    svccache_release(c, e);
}

static void test_bound_holds(void **state)
{
    (void)state;
    fake_store *fs = calloc(1, sizeof *fs);
    svccache *c = svccache_new(3, NULL, NULL, NULL);
    svccache_stats st;
    for (int64_t id = 1; id <= 1000; id++) {
        touch(c, id);
        svccache_stats_get(c, &st);
        assert_true(st.size <= 3);
    }
    svccache_stats_get(c, &st);
    assert_int_equal(st.size, 3);
    assert_int_equal(st.loads, 1000);
    assert_int_equal(st.evictions, 997);
    svccache_free(c);
    free(fs);
}

static void test_least_recently_used_goes(void **state)
{
    (void)state;
    fake_store *fs = calloc(1, sizeof *fs);
    svccache *c = svccache_new(2, NULL, fake_load, fs);
    touch(c, 1);
    touch(c, 2);
    touch(c, 1); /* 2 is now the least recently used */
    touch(c, 3); /* evicts 2 */
    touch(c, 1); /* still in memory: not loaded again */
    assert_int_equal(fs->loads[1], 1);
    touch(c, 2); /* evicted: loaded again, evicting 3 */
    assert_int_equal(fs->loads[2], 2);
    touch(c, 1);
    assert_int_equal(fs->loads[1], 1);
    svccache_free(c);
    free(fs);
}

static void test_in_use_is_never_evicted(void **state)
{
    (void)state;
    fake_store *fs = calloc(1, sizeof *fs);
    svccache *c = svccache_new(1, NULL, fake_load, fs);
    char err[128];
    svccache_entry *e1 = NULL, *e2 = NULL;
    miner *m1 = svccache_acquire(c, 1, &e1, err, sizeof err);
    assert_non_null(m1);
    assert_int_equal(add(m1, "held while another service comes"), 1);
    miner *m2 = svccache_acquire(c, 2, &e2, err, sizeof err); /* 1 is in use: over the bound for now */
    assert_non_null(m2);
    svccache_stats st;
    svccache_stats_get(c, &st);
    assert_int_equal(st.size, 2);
    assert_int_equal(miner_template_count(m1, 1), 1); /* m1 still alive and usable */
    svccache_release(c, e1);
    svccache_release(c, e2);
    touch(c, 3); /* back within the bound */
    svccache_stats_get(c, &st);
    assert_int_equal(st.size, 1);
    svccache_free(c);
    free(fs);
}

static void test_failed_load_is_retried(void **state)
{
    (void)state;
    fake_store *fs = calloc(1, sizeof *fs);
    svccache *c = svccache_new(4, NULL, fake_load, fs);
    char err[128] = "";
    svccache_entry *e = NULL;
    fs->fail_next = 1;
    assert_null(svccache_acquire(c, 5, &e, err, sizeof err));
    assert_string_equal(err, "database is locked");
    svccache_stats st;
    svccache_stats_get(c, &st);
    assert_int_equal(st.size, 0); /* dropped, not kept half-loaded */
    touch(c, 5);
    assert_int_equal(fs->loads[5], 1);
    svccache_free(c);
    free(fs);
}

static void test_evicted_service_returns_with_the_same_template_ids(void **state)
{
    (void)state;
    static const char *const msgs[] = {
        "user alice logged in from 10.0.0.1",
        "user bob logged in from 10.0.0.2",
        "disk /dev/sda1 at 91% capacity",
        "GET /api/v1/orders/1234 took 35ms",
        "GET /api/v1/orders/98 took 1200ms",
        "connection reset by peer",
    };
    enum { N = sizeof msgs / sizeof msgs[0] };
    fake_store *fs = calloc(1, sizeof *fs);
    svccache *c = svccache_new(2, NULL, fake_load, fs);
    char err[128];
    svccache_entry *e = NULL;
    int64_t first[N], again[N];
    miner *m = svccache_acquire(c, 1, &e, err, sizeof err);
    assert_non_null(m);
    for (size_t i = 0; i < N; i++)
        first[i] = add(m, msgs[i]);
    record(fs, 1, m);
    size_t templates = miner_size(m);
    svccache_release(c, e);
    for (int64_t other = 2; other <= 4; other++) /* service 1 is evicted */
        touch(c, other);
    svccache_stats st;
    svccache_stats_get(c, &st);
    assert_true(st.evictions >= 1);
    m = svccache_acquire(c, 1, &e, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(fs->loads[1], 2); /* rebuilt from the store */
    assert_int_equal(miner_size(m), templates);
    for (size_t i = 0; i < N; i++) {
        again[i] = add(m, msgs[i]);
        assert_int_equal(again[i], first[i]);
    }
    int64_t max = 0;
    for (size_t i = 0; i < N; i++)
        max = first[i] > max ? first[i] : max;
    assert_true(add(m, "a message never seen before, quite unlike the others") > max); /* no id reused */
    svccache_release(c, e);
    svccache_free(c);
    free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_holds),
        cmocka_unit_test(test_least_recently_used_goes),
        cmocka_unit_test(test_in_use_is_never_evicted),
        cmocka_unit_test(test_failed_load_is_retried),
        cmocka_unit_test(test_evicted_service_returns_with_the_same_template_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
