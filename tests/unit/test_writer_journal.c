/*
 * test_writer_journal.c — the ingest journal's files stay small (issue 15,
 * part 5): a file is closed at journal_file_bytes, and also once the database
 * holds every record of it and it holds journal_stored_bytes, so at rest the
 * journal holds little that is already in the database.
 */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "anomalog/store.h"
#include "anomalog/writer.h"

#define T0 INT64_C(1795514400000)

typedef struct fixture {
    char dir[64];
    char path[96];
    store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/anomalog-wj-XXXXXX");
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

/* Journal files of path: how many, and their bytes in all (and the largest). */
static int journal_bytes(const char *path, long *total, long *largest)
{
    char pat[128];
    snprintf(pat, sizeof pat, "%s-ingest.*", path);
    glob_t g;
    *total = *largest = 0;
    if (glob(pat, 0, NULL, &g) != 0)
        return 0;
    int n = (int)g.gl_pathc;
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (stat(g.gl_pathv[i], &sb) == 0) {
            *total += (long)sb.st_size;
            if ((long)sb.st_size > *largest)
                *largest = (long)sb.st_size;
        }
    }
    globfree(&g);
    return n;
}

/* One batch of 100 lines of about 100 bytes: a record of about 11 KB. */
static void submit_one(writer *w, int k)
{
    static char msg[100];
    memset(msg, 'x', sizeof msg - 1);
    batch *b = batch_new(T0);
    for (int i = 0; i < 100; i++) {
        log_entry *e = batch_push(b);
        e->service = "j";
        e->ts_ms = T0 + k;
        e->message = msg;
        e->message_len = strlen(msg);
    }
    assert_int_equal(writer_submit(w, b, NULL, 0), WRITER_OK);
    batch_free(b);
}

/* Stored files go: after 2 MB through the journal, at rest it holds less than journal_stored_bytes + a record. */
static void test_stored_files_go(void **state)
{
    fixture *f = *state;
    char err[256];
    writer_opts o = {.queue_depth = 64, .max_txn_entries = 100000, .window_ms = 60000, .journal = f->path,
                     .journal_stored_bytes = 64 << 10};
    writer *w = writer_start(f->st, &o, err, sizeof err);
    assert_non_null(w);
    long total, largest;
    for (int k = 0; k < 200; k++) {
        submit_one(w, k);
        if (k % 20 == 19) { /* the database catches up now and then, as at a pause in the traffic */
            writer_wait(w, 10000);
            int n = journal_bytes(f->path, &total, &largest);
            if (total > (64 << 10) + 12000)
                fail_msg("after %d batches, all stored: %d journal file(s) of %ld bytes", k + 1, n, total);
        }
    }
    writer_stop(w);
    assert_int_equal(journal_bytes(f->path, &total, &largest), 0);
}

/* Without the database catching up, a file is still closed at journal_file_bytes. */
static void test_size_bound(void **state)
{
    fixture *f = *state;
    char err[256];
    writer_opts o = {.queue_depth = 256, .max_txn_entries = 100000, .window_ms = 60000, .journal = f->path,
                     .journal_file_bytes = 100 << 10, .journal_stored_bytes = 1 << 30};
    writer *w = writer_start(f->st, &o, err, sizeof err);
    assert_non_null(w);
    long total, largest;
    for (int k = 0; k < 100; k++)
        submit_one(w, k);
    journal_bytes(f->path, &total, &largest);
    assert_true(largest < (100 << 10) + 12000); /* closed at the first record past the bound */
    writer_wait(w, 10000);
    writer_stop(w);
}

/* The defaults are the small ones. */
static void test_defaults(void **state)
{
    (void)state;
    assert_true(JOURNAL_FILE_BYTES <= (8u << 20));
    assert_true(JOURNAL_STORED_BYTES <= (256u << 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stored_files_go, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_bound, setup, teardown),
        cmocka_unit_test(test_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
