/*
 * Unit tests of the window scheduler (src/window/scheduler.c) on a real
 * SQLite file: it closes a window that is due on its own tick and wakes the
 * analysis, leaves one that is not due open, stops at once rather than after
 * a tick, and refuses a tick that is not positive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <stdatomic.h>

#include "anomalog/batch.h"
#include "anomalog/store.h"
#include "anomalog/timeutil.h"
#include "anomalog/window.h"

#define MIN 60000LL

typedef struct fixture {
    char dir[64];
    char path[128];
    store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/anomalog-window-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    char err[256];
    assert_int_equal(store_open(f->path, STORE_DURABLE_NORMAL, &f->st, err, sizeof err), STORE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* One line of service at ts, committed. */
static void put_line(store *st, const char *service, int64_t ts)
{
    char err[256];
    batch *b = batch_new(time_now_ms());
    log_entry *e = batch_push(b);
    e->service = service;
    e->ts_ms = ts;
    e->message = "x";
    e->message_len = 1;
    assert_int_equal(store_write_batches(st, &b, 1, 5 * MIN, err, sizeof err), STORE_OK);
    batch_free(b);
}

static void count_wake(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* A window an hour old is due; a tick closes it and calls wake. */
static void test_window_closes_due_and_wakes(void **state)
{
    fixture *f = *state;
    char err[256];
    put_line(f->st, "api", time_now_ms() - 60 * MIN);
    atomic_int woken = 0;
    window_scheduler *ws = window_scheduler_start(f->st, 1000, 20, count_wake, &woken, err, sizeof err);
    assert_non_null(ws);
    for (int i = 0; i < 250 && !atomic_load(&woken); i++)
        usleep(20000);
    window_scheduler_stop(ws);
    assert_true(atomic_load(&woken) >= 1);
    window_work w;
    assert_int_equal(store_window_claim(f->st, time_now_ms(), 60000, 0, &w, err, sizeof err), STORE_OK);
    assert_string_equal(w.service, "api");
    window_work_free(&w);
}

/* A window of now is not due: ticks leave it open and wake no one. */
static void test_window_leaves_open_window(void **state)
{
    fixture *f = *state;
    char err[256];
    put_line(f->st, "api", time_now_ms());
    atomic_int woken = 0;
    window_scheduler *ws = window_scheduler_start(f->st, 10 * MIN, 10, count_wake, &woken, err, sizeof err);
    assert_non_null(ws);
    usleep(200000);
    window_scheduler_stop(ws);
    assert_int_equal(atomic_load(&woken), 0);
    window_work w;
    assert_int_equal(store_window_claim(f->st, time_now_ms(), 60000, 0, &w, err, sizeof err), STORE_NOTFOUND);
}

/* Stopping does not wait for the tick: with an hour's tick it returns at once. */
static void test_window_stop_is_prompt(void **state)
{
    fixture *f = *state;
    char err[256];
    window_scheduler *ws = window_scheduler_start(f->st, 1000, 60 * MIN, NULL, NULL, err, sizeof err);
    assert_non_null(ws);
    usleep(50000);
    int64_t t = time_now_ms();
    window_scheduler_stop(ws);
    assert_true(time_now_ms() - t < 2000);
    window_scheduler_stop(NULL);
}

static void test_window_bad_tick(void **state)
{
    fixture *f = *state;
    char err[256] = "";
    assert_null(window_scheduler_start(f->st, 1000, 0, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "tick"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_window_closes_due_and_wakes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_leaves_open_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_stop_is_prompt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_bad_tick, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
