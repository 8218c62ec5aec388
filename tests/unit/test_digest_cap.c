/* Unit tests of the digest's cap on distinct templates per window
 * (digest_opts.max_window_templates): the bound holds whatever the window, every
 * line is still counted (in a template or in the "rare, unclustered" group), the
 * group is shown with exemplars, a late burst still gets its own template, and
 * below the cap nothing changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/digest.h"

#define T0 1795514400000LL

typedef struct lines {
    prompt_line *v;
    char **msgs;
    size_t n, cap;
} lines;

static void add(lines *l, int64_t ts, const char *level, const char *msg)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        l->msgs = realloc(l->msgs, l->cap * sizeof *l->msgs);
    }
    l->msgs[l->n] = strdup(msg);
    l->v[l->n] = (prompt_line){.ts_ms = ts, .level = level, .message = l->msgs[l->n]};
    l->n++;
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->msgs[i]);
    free(l->msgs);
    free(l->v);
}

/* A message the miner cannot join with any other: two words of letters only, spelled from k. */
static void distinct(char *buf, size_t len, unsigned k)
{
    char w1[16], w2[16];
    unsigned a = k, b = k * 7919u + 13u;
    size_t i = 0;
    do {
        w1[i++] = (char)('a' + a % 26);
        a /= 26;
    } while (a && i < 8);
    w1[i] = '\0';
    i = 0;
    do {
        w2[i++] = (char)('a' + b % 26);
        b /= 26;
    } while (b && i < 8);
    w2[i] = '\0';
    snprintf(buf, len, "q%s z%s", w1, w2);
}

static uint64_t counted(const digest *d)
{
    uint64_t n = d->rare_lines;
    for (size_t i = 0; i < d->n_templates; i++)
        n += d->templates[i].count;
    return n;
}

static void build_budget(const lines *l, size_t cap, size_t budget, digest *d)
{
    miner *m = miner_new(NULL);
    assert_non_null(m);
    digest_opts o;
    digest_opts_defaults(&o);
    o.max_window_templates = cap;
    o.token_budget = budget;
    digest_input in = {.service = "api", .start_ms = T0, .end_ms = T0 + 300000, .lines = l->v, .n_lines = l->n,
                       .total_lines = l->n, .m = m, .trailing_error_avg = -1};
    assert_int_equal(digest_build(&in, &o, d), 0);
    miner_free(m);
}

static void build(const lines *l, size_t cap, digest *d)
{
    build_budget(l, cap, 100000, d);
}

static void test_cap_bounds_templates_and_counts_every_line(void **state)
{
    (void)state;
    lines l = {0};
    char buf[64];
    for (unsigned k = 0; k < 5000; k++) {
        distinct(buf, sizeof buf, k);
        add(&l, T0 + k, k == 4000 ? "error" : "info", buf);
    }
    digest d;
    build(&l, 50, &d);
    assert_true(d.n_templates <= 50);
    assert_int_equal(counted(&d), 5000);
    assert_true(d.rare_lines >= 5000 - 50);
    assert_true(d.rare_templates >= 5000 - 50);
    assert_non_null(strstr(d.text, "rare, unclustered"));
    assert_non_null(strstr(d.text, "RARE error")); /* its highest level */
    distinct(buf, sizeof buf, 4000);
    assert_non_null(strstr(d.text, buf)); /* the error line is among its exemplars */
    assert_false(d.quiet);
    digest_free(&d);
    lines_free(&l);
}

static void test_rare_group_survives_the_budget(void **state)
{
    (void)state;
    lines l = {0};
    char buf[64];
    for (unsigned k = 0; k < 3000; k++) {
        distinct(buf, sizeof buf, k);
        add(&l, T0 + k, "info", buf);
    }
    digest d;
    build_budget(&l, 500, 300, &d); /* 500 new templates cannot fit 300 tokens: the digest is cut */
    assert_non_null(strstr(d.text, "digest cut at the token budget"));
    assert_non_null(strstr(d.text, "rare, unclustered"));
    digest_free(&d);
    lines_free(&l);
}

static void test_late_burst_still_gets_its_template(void **state)
{
    (void)state;
    lines l = {0};
    char buf[64];
    for (unsigned k = 0; k < 100; k++) {
        distinct(buf, sizeof buf, k);
        add(&l, T0 + k, "info", buf);
    }
    for (int i = 0; i < 30; i++) {
        snprintf(buf, sizeof buf, "connection to db-primary:5432 refused (attempt %d)", i);
        add(&l, T0 + 1000 + i, "error", buf);
    }
    digest d;
    build(&l, 20, &d);
    assert_int_equal(d.n_templates, 20);
    assert_int_equal(counted(&d), 130);
    int found = 0;
    for (size_t i = 0; i < d.n_templates; i++)
        if (strstr(d.templates[i].text, "db-primary")) {
            found = 1;
            assert_int_equal(d.templates[i].count, 30);
            assert_int_equal(d.templates[i].max_level, 5);
        }
    assert_true(found);
    assert_int_equal(d.rare_lines, 81); /* 100 singletons, 19 kept beside the burst */
    assert_non_null(strstr(d.text, "db-primary"));
    digest_free(&d);
    lines_free(&l);
}

static void test_below_the_cap_nothing_changes(void **state)
{
    (void)state;
    lines l = {0};
    char buf[64];
    for (unsigned k = 0; k < 300; k++) {
        distinct(buf, sizeof buf, k % 30);
        add(&l, T0 + k, "info", buf);
    }
    digest d;
    build(&l, 30, &d);
    assert_int_equal(d.n_templates, 30);
    assert_int_equal(d.rare_lines, 0);
    assert_null(strstr(d.text, "rare, unclustered"));
    for (size_t i = 0; i < d.n_templates; i++)
        assert_int_equal(d.templates[i].count, 10);
    digest_free(&d);
    lines_free(&l);
}

static void test_default_cap(void **state)
{
    (void)state;
    digest_opts o;
    digest_opts_defaults(&o);
    assert_int_equal(o.max_window_templates, DIGEST_MAX_WINDOW_TEMPLATES);
    lines l = {0};
    char buf[64];
    for (unsigned k = 0; k < DIGEST_MAX_WINDOW_TEMPLATES + 500; k++) {
        distinct(buf, sizeof buf, k);
        add(&l, T0 + k, "info", buf);
    }
    digest d;
    build(&l, 0, &d); /* 0: the default */
    assert_int_equal(d.n_templates, DIGEST_MAX_WINDOW_TEMPLATES);
    assert_int_equal(counted(&d), l.n);
    digest_free(&d);
    lines_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_bounds_templates_and_counts_every_line),
        cmocka_unit_test(test_late_burst_still_gets_its_template),
        cmocka_unit_test(test_rare_group_survives_the_budget),
        cmocka_unit_test(test_below_the_cap_nothing_changes),
        cmocka_unit_test(test_default_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
