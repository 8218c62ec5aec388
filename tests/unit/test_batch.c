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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
