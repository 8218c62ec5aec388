/*
 * fuzz_miner.c — libFuzzer harness for the template miner.
 *
 * The first two bytes choose max_templates (1..16, so eviction is constant)
 * and max_tokens (2..41) and max_bytes (16..1036); the rest is split into
 * lines, each copied into a buffer of its own (so a read past a message is a
 * heap overflow ASan reports) and added. After each line: the id is positive
 * and live, its text is bounded, its params lie inside the message, the store
 * is within its cap. At the end, every live template is restored into a fresh
 * miner in id order and must come back with the same text (the masking is
 * idempotent on templates), and the next id continues above them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/miner.h"

#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct saved {
    int64_t id;
    char *text;
    uint64_t count;
} saved;

typedef struct saved_list {
    saved *v;
    size_t n, cap;
} saved_list;

static void save(int64_t id, const char *text, uint64_t count, void *arg)
{
    saved_list *l = arg;
    FUZZ_ASSERT(l->n < l->cap);
    l->v[l->n].id = id;
    l->v[l->n].text = strdup(text);
    FUZZ_ASSERT(l->v[l->n].text != NULL);
    l->v[l->n].count = count;
    l->n++;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = ((const saved *)a)->id, y = ((const saved *)b)->id;
    return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    miner_opts o = miner_opts_defaults();
    o.max_templates = 1 + data[0] % 16;
    o.max_tokens = 2 + data[1] % 40;
    o.max_bytes = 16 + (size_t)(data[0] ^ data[1]) * 4;
    size_t text_max = 5 * o.max_bytes + o.max_tokens;
    miner *m = miner_new(&o);
    FUZZ_ASSERT(m != NULL);

    const uint8_t *p = data + 2, *end = data + size;
    int64_t max_id = 0;
    while (p <= end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        size_t len = (size_t)(nl - p);
        char *line = malloc(len ? len : 1);
        FUZZ_ASSERT(line != NULL);
        memcpy(line, p, len);
        miner_param params[8];
        size_t np = 99;
        int is_new = -1;
        int64_t id = miner_add(m, line, len, &is_new, params, 8, &np);
        FUZZ_ASSERT(id > 0);
        FUZZ_ASSERT(is_new == 0 || is_new == 1);
        FUZZ_ASSERT(!is_new || id > max_id);
        if (id > max_id)
            max_id = id;
        const char *t = miner_template_text(m, id);
        FUZZ_ASSERT(t != NULL);
        FUZZ_ASSERT(strnlen(t, text_max + 1) <= text_max);
        FUZZ_ASSERT(miner_template_count(m, id) >= 1);
        FUZZ_ASSERT(miner_size(m) >= 1 && miner_size(m) <= o.max_templates);
        FUZZ_ASSERT(np <= 8);
        for (size_t i = 0; i < np; i++) {
            FUZZ_ASSERT(params[i].s >= line && params[i].s + params[i].len <= line + len);
            FUZZ_ASSERT(params[i].pos >= 0 && (size_t)params[i].pos < o.max_tokens);
            FUZZ_ASSERT(i == 0 || params[i].pos > params[i - 1].pos);
        }
        free(line);
        if (nl == end)
            break;
        p = nl + 1;
    }

    /* restore round trip */
    saved_list l = {calloc(o.max_templates, sizeof(saved)), 0, o.max_templates};
    FUZZ_ASSERT(l.v != NULL);
    miner_foreach(m, save, &l);
    FUZZ_ASSERT(l.n == miner_size(m));
    qsort(l.v, l.n, sizeof *l.v, by_id);
    miner *r = miner_new(&o);
    FUZZ_ASSERT(r != NULL);
    for (size_t i = 0; i < l.n; i++) {
        FUZZ_ASSERT(miner_restore(r, l.v[i].id, l.v[i].text, l.v[i].count) == 0);
        const char *t = miner_template_text(r, l.v[i].id);
        FUZZ_ASSERT(t != NULL && strcmp(t, l.v[i].text) == 0);
        FUZZ_ASSERT(miner_template_count(r, l.v[i].id) == l.v[i].count);
    }
    FUZZ_ASSERT(miner_size(r) == l.n);
    int64_t next = miner_add(r, "\x01zz novel qq\x01", 13, NULL, NULL, 0, NULL);
    FUZZ_ASSERT(l.n == 0 || next > l.v[l.n - 1].id || miner_template_text(r, next) != NULL);
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].text);
    free(l.v);
    miner_free(r);
    miner_free(m);
    return 0;
}
