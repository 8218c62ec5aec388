/*
 * test_batch.c — the batch record (batch_encode / batch_decode): what the
 * ingest journal writes and the writer reads back, field for field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/batch.h"

static batch *sample(void)
{
    static const batch_idempotency key = {
        .scope = "auth.tokens[0]", .key = "order-7", .endpoint = "/v1/logs",
        .body_sha256 = {1, 2, 3, 250}, .status = 202, .content_type = "application/json",
        .body = "{\"accepted\":2}\0tail", .body_len = 19, .created_ms = 1764000000123};
    batch *b = batch_new(1764000000000);
    assert_non_null(b);
    log_entry *e = batch_push(b);
    *e = (log_entry){.ts_ms = -5, .level = "error", .service = "api", .message = "multi\nline\0with nul",
                     .message_len = 19, .attributes = "{\"k\":\"v\"}", .line = 3};
    e = batch_push(b);
    *e = (log_entry){.ts_ms = 1764000000999, .level = NULL, .service = "api", .message = "", .message_len = 0,
                     .attributes = NULL, .line = 4};
    b->idem = &key;
    return b;
}

static void test_round_trip(void **state)
{
    (void)state;
    batch *b = sample();
    batch_record r = {0};
    assert_int_equal(batch_encode(b, &r), 0);
    batch *d;
    assert_int_equal(batch_decode(r.data, r.len, &d), 0);
    assert_int_equal(d->received_ms, b->received_ms);
    assert_int_equal(d->count, 2);
    for (size_t i = 0; i < 2; i++) {
        const log_entry *x = &b->entries[i], *y = &d->entries[i];
        assert_int_equal(y->ts_ms, x->ts_ms);
        assert_int_equal(y->line, x->line);
        assert_int_equal(y->message_len, x->message_len);
        assert_memory_equal(y->message, x->message, x->message_len);
        assert_int_equal(y->message[y->message_len], '\0');
        assert_string_equal(y->service, x->service);
        if (x->level)
            assert_string_equal(y->level, x->level);
        else
            assert_null(y->level);
        if (x->attributes)
            assert_string_equal(y->attributes, x->attributes);
        else
            assert_null(y->attributes);
    }
    assert_ptr_equal(d->entries[1].service, d->entries[0].service); /* one copy of a repeated service */
    const batch_idempotency *k = d->idem;
    assert_non_null(k);
    assert_string_equal(k->scope, "auth.tokens[0]");
    assert_string_equal(k->key, "order-7");
    assert_string_equal(k->endpoint, "/v1/logs");
    assert_memory_equal(k->body_sha256, b->idem->body_sha256, 32);
    assert_int_equal(k->status, 202);
    assert_string_equal(k->content_type, "application/json");
    assert_int_equal(k->body_len, 19);
    assert_memory_equal(k->body, b->idem->body, 19);
    assert_int_equal(k->created_ms, b->idem->created_ms);
    batch_free(d);

    /* without a key, and with none of the entries */
    b->idem = NULL;
    b->count = 0;
    assert_int_equal(batch_encode(b, &r), 0);
    assert_int_equal(batch_decode(r.data, r.len, &d), 0);
    assert_null(d->idem);
    assert_int_equal(d->count, 0);
    batch_free(d);
    free(r.data);
    batch_free(b);
}

/* Every cut of a record, and every record with a byte too many, is refused whole. */
/* A decoded batch keeps its strings in one block sized to the record: 100 KB of messages lie end to end
 * (with 64 KiB blocks they would jump to a second block part way), and the entries array is made once. */
static void test_decode_makes_one_block(void **state)
{
    (void)state;
    enum { N = 100, LEN = 1000 };
    batch *b = batch_new(1);
    assert_non_null(b);
    static char text[LEN + 1];
    memset(text, 'm', LEN);
    for (int i = 0; i < N; i++)
        *batch_push(b) = (log_entry){.ts_ms = i, .service = "api", .message = text, .message_len = LEN - (size_t)i};
    batch_record r = {0};
    assert_int_equal(batch_encode(b, &r), 0);
    batch *d;
    assert_int_equal(batch_decode(r.data, r.len, &d), 0);
    assert_int_equal(d->count, N);
    assert_int_equal(d->cap, N);
    const size_t pad = _Alignof(max_align_t);
    for (int i = 0; i + 1 < N; i++) {
        size_t piece = (d->entries[i].message_len + 1 + pad - 1) / pad * pad;
        assert_ptr_equal(d->entries[i + 1].message, d->entries[i].message + piece);
        assert_ptr_equal(d->entries[i + 1].service, d->entries[0].service); /* a repeated name is shared */
    }
    batch_free(d);
    free(r.data);
    batch_free(b);
}

/* batch_reserve: room ahead, and only room. */
static void test_reserve(void **state)
{
    (void)state;
    batch *b = batch_new(1);
    assert_int_equal(batch_reserve(b, 64, 3), 0);
    log_entry *first = batch_push(b);
    batch_push(b);
    batch_push(b);
    assert_ptr_equal(b->entries, first); /* three pushes, no move */
    char *x = batch_alloc(b, 10), *y = batch_alloc(b, 10);
    assert_ptr_equal(y, x + _Alignof(max_align_t));
    char *big = batch_alloc(b, 200); /* past the reserve: the arena grows as ever */
    assert_non_null(big);
    memset(big, 1, 200);
    assert_non_null(batch_push(b));
    assert_int_equal(b->count, 4);
    assert_int_equal(batch_reserve(b, 1 << 20, 2), 0); /* a batch already holding more is left as it is */
    assert_int_equal(b->count, 4);
    batch_free(b);
}

static void test_malformed(void **state)
{
    (void)state;
    batch *b = sample();
    batch_record r = {0};
    assert_int_equal(batch_encode(b, &r), 0);
    batch *d = (batch *)1;
    for (size_t n = 0; n < r.len; n++) {
        assert_int_equal(batch_decode(r.data, n, &d), -1);
        assert_null(d);
    }
    unsigned char *more = malloc(r.len + 1);
    memcpy(more, r.data, r.len);
    more[r.len] = 0;
    assert_int_equal(batch_decode(more, r.len + 1, &d), -1);
    /* a count of entries the record cannot hold is refused before anything is allocated for it */
    uint32_t huge = 0x7fffffff;
    memcpy(more + 8, &huge, sizeof huge);
    assert_int_equal(batch_decode(more, r.len, &d), -1);
    free(more);
    free(r.data);
    batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_decode_makes_one_block),
        cmocka_unit_test(test_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
