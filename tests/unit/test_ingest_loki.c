/*
 * test_ingest_loki.c — Loki push bodies: JSON and protobuf (built here with a
 * tiny encoder), label mapping, snappy, and every bound and malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <snappy-c.h>

#include "anomalog/ingest.h"

#define RECEIVED INT64_C(1800000000000)

static ingest_opts opts(void)
{
    ingest_opts o = {.default_service = "dflt", .received_ms = RECEIVED, .max_line = 1024, .max_entries = 1000};
    return o;
}

/* ------------------------------------------------ a minimal protobuf encoder */

typedef struct buf {
    unsigned char d[8192];
    size_t n;
} buf;

static void put_varint(buf *b, uint64_t v)
{
    do {
        unsigned char byte = v & 0x7f;
        v >>= 7;
        b->d[b->n++] = byte | (v ? 0x80 : 0);
    } while (v);
}

static void put_bytes(buf *b, unsigned field, const void *p, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, n);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_msg(buf *b, unsigned field, const buf *m)
{
    put_bytes(b, field, m->d, m->n);
}

static void put_uint(buf *b, unsigned field, uint64_t v)
{
    put_varint(b, (uint64_t)field << 3);
    put_varint(b, v);
}

/* EntryAdapter{timestamp{sec,nanos}, line, metadata pairs} */
static buf entry(int64_t sec, int32_t nanos, const char *line, const char *mk, const char *mv)
{
    buf e = {0}, ts = {0}, kv = {0};
    put_uint(&ts, 1, (uint64_t)sec);
    put_uint(&ts, 2, (uint64_t)(uint32_t)nanos);
    put_msg(&e, 1, &ts);
    put_bytes(&e, 2, line, strlen(line));
    if (mk) {
        put_bytes(&kv, 1, mk, strlen(mk));
        put_bytes(&kv, 2, mv, strlen(mv));
        put_msg(&e, 3, &kv);
    }
    return e;
}

static buf stream(const char *labels, const buf *entries, size_t n)
{
    buf s = {0};
    put_bytes(&s, 1, labels, strlen(labels));
    for (size_t i = 0; i < n; i++)
        put_msg(&s, 2, &entries[i]);
    put_uint(&s, 3, 12345); /* hash: ignored */
    return s;
}

static batch *parse_ok(int proto, const void *body, size_t len, const ingest_opts *o)
{
    batch *b = batch_new(o->received_ms);
    ingest_error err;
    assert_non_null(b);
    int rc = proto ? ingest_parse_loki_proto(body, len, o, b, &err) : ingest_parse_loki_json(body, len, o, b, &err);
    if (rc != 0)
        fail_msg("rc=%d %s: %s", rc, err.code ? err.code : "?", err.message);
    return b;
}

static void parse_fail(int proto, const void *body, size_t len, int status, const char *code)
{
    ingest_opts o = opts();
    batch *b = batch_new(o.received_ms);
    ingest_error err;
    int rc = proto ? ingest_parse_loki_proto(body, len, &o, b, &err) : ingest_parse_loki_json(body, len, &o, b, &err);
    batch_free(b);
    if (rc != -1)
        fail_msg("expected %s, got rc=%d", code, rc);
    assert_int_equal(err.status, status);
    assert_string_equal(err.code, code);
    json_t *m = json_string(err.message);
    assert_non_null(m); /* valid UTF-8 */
    json_decref(m);
}

static void test_json_push(void **state)
{
    (void)state;
    const char *body =
        "{\"streams\":[{\"stream\":{\"service_name\":\"api\",\"app\":\"x\",\"level\":\"WARNING\",\"env\":\"prod\"},"
        "\"values\":[[\"1795514400123456789\",\"first\"],[\"1795514401000000000\",\"second\",{\"trace_id\":\"ab\","
        "\"detected_level\":\"error\"}]]},"
        "{\"stream\":{\"job\":\"cron\"},\"values\":[[\"1795514402000000000\",\"third\"]]},"
        "{\"stream\":{},\"values\":[[\"1795514403000000000\",\"fourth\"]]}]}";
    ingest_opts o = opts();
    batch *b = parse_ok(0, body, strlen(body), &o);
    assert_int_equal(b->count, 4);
    assert_int_equal(b->entries[0].ts_ms, INT64_C(1795514400123));
    assert_string_equal(b->entries[0].service, "api");
    assert_string_equal(b->entries[0].level, "warn");
    assert_string_equal(b->entries[0].message, "first");
    assert_string_equal(b->entries[0].attributes, "{\"app\":\"x\",\"env\":\"prod\"}");
    /* structured metadata level wins over the label, and is not kept as an attribute */
    assert_string_equal(b->entries[1].level, "error");
    assert_string_equal(b->entries[1].attributes, "{\"app\":\"x\",\"env\":\"prod\",\"trace_id\":\"ab\"}");
    assert_string_equal(b->entries[2].service, "cron");
    assert_null(b->entries[2].level);
    assert_null(b->entries[2].attributes);
    assert_string_equal(b->entries[3].service, "dflt");
    assert_int_equal(b->stats.service_defaulted, 1);
    batch_free(b);
}

static void test_configured_service_labels(void **state)
{
    (void)state;
    const char *body = "{\"streams\":[{\"stream\":{\"app\":\"a\",\"team\":\"payments\"},"
                       "\"values\":[[\"1\",\"x\"]]},{\"stream\":{\"app\":\"a\"},\"values\":[[\"1\",\"y\"]]}]}";
    ingest_opts o = opts();
    o.service_labels = ",team,,nope";
    batch *b = parse_ok(0, body, strlen(body), &o);
    assert_string_equal(b->entries[0].service, "payments");
    assert_string_equal(b->entries[0].attributes, "{\"app\":\"a\"}");
    assert_string_equal(b->entries[1].service, "dflt"); /* app is not in the configured list */
    batch_free(b);
}

static void test_json_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *code;
    } cases[] = {
        {"{", "invalid_json"},
        {"[]", "invalid_push"},
        {"{\"streams\":{}}", "invalid_push"},
        {"{\"streams\":[{\"stream\":{\"a\":1},\"values\":[]}]}", "invalid_push"},
        {"{\"streams\":[{\"stream\":{},\"values\":[[1,\"x\"]]}]}", "invalid_push"},
        {"{\"streams\":[{\"stream\":{},\"values\":[[\"1\"]]}]}", "invalid_push"},
        {"{\"streams\":[{\"stream\":{},\"values\":[[\"1\",\"x\",{\"k\":2}]]}]}", "invalid_push"},
        {"{\"streams\":[{\"stream\":{},\"values\":[[\"12a\",\"x\"]]}]}", "invalid_timestamp"},
        {"{\"streams\":[{\"stream\":{},\"values\":[[\"\",\"x\"]]}]}", "invalid_timestamp"},
        {"{\"streams\":[{\"stream\":{},\"values\":[[\"99999999999999999999\",\"x\"]]}]}", "invalid_timestamp"},
        {"{\"streams\":[{\"stream\":{\"app\":\"a\\u0001b\"},\"values\":[[\"1\",\"x\"]]}]}", "invalid_service"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_fail(0, cases[i].body, strlen(cases[i].body), 400, cases[i].code);
}

static void test_limits(void **state)
{
    (void)state;
    ingest_opts o = opts();
    o.max_entries = 2;
    o.max_line = 4;
    const char *body = "{\"streams\":[{\"stream\":{},\"values\":[[\"1\",\"abcdefgh\"],[\"2\",\"b\"],[\"3\",\"c\"]]}]}";
    batch *b = batch_new(o.received_ms);
    ingest_error err;
    assert_int_equal(ingest_parse_loki_json(body, strlen(body), &o, b, &err), -1);
    assert_int_equal(err.status, 413);
    assert_string_equal(err.code, "too_many_entries");
    batch_free(b);
    o.max_entries = 3;
    b = parse_ok(0, body, strlen(body), &o);
    assert_string_equal(b->entries[0].message, "abcd");
    assert_int_equal(b->stats.truncated, 1);
    batch_free(b);
}

static void test_proto_push(void **state)
{
    (void)state;
    buf es[2] = {entry(1795514400, 5000000, "hello", NULL, NULL), entry(1795514401, 0, "world", "level", "err")};
    buf s1 = stream("{service=\"api\", level=\"info\", pod=\"p\\\"1\\\\\"}", es, 2);
    buf e3 = entry(1795514402, 0, "x", "user", "bob");
    buf s2 = stream("{}", &e3, 1);
    buf req = {0};
    put_msg(&req, 1, &s1);
    put_msg(&req, 1, &s2);
    put_uint(&req, 9, 7); /* an unknown field is skipped */
    ingest_opts o = opts();
    batch *b = parse_ok(1, req.d, req.n, &o);
    assert_int_equal(b->count, 3);
    assert_int_equal(b->entries[0].ts_ms, INT64_C(1795514400005));
    assert_string_equal(b->entries[0].service, "api");
    assert_string_equal(b->entries[0].level, "info");
    assert_string_equal(b->entries[0].message, "hello");
    assert_string_equal(b->entries[0].attributes, "{\"pod\":\"p\\\"1\\\\\"}");
    assert_string_equal(b->entries[1].level, "error");
    assert_string_equal(b->entries[2].service, "dflt");
    assert_string_equal(b->entries[2].attributes, "{\"user\":\"bob\"}");
    batch_free(b);

    /* through snappy, as Promtail sends it */
    char comp[16384];
    size_t clen = sizeof comp;
    assert_int_equal(snappy_compress((const char *)req.d, req.n, comp, &clen), SNAPPY_OK);
    char *out;
    size_t olen;
    assert_int_equal(ingest_unsnappy(comp, clen, req.n, &out, &olen), GUNZIP_OK);
    assert_int_equal(olen, req.n);
    assert_memory_equal(out, req.d, req.n);
    free(out);
    /* the decompressed size is capped before anything is allocated */
    assert_int_equal(ingest_unsnappy(comp, clen, req.n - 1, &out, &olen), GUNZIP_TOO_LARGE);
    assert_null(out);
    assert_int_equal(ingest_unsnappy("\xff\xff\xff\xff\xff\xff", 6, 1 << 20, &out, &olen), GUNZIP_CORRUPT);
    comp[clen - 1] ^= 0x55;
    gunzip_result r = ingest_unsnappy(comp, clen - 3, req.n, &out, &olen);
    assert_true(r == GUNZIP_CORRUPT);
}

static void test_proto_errors(void **state)
{
    (void)state;
    buf e = entry(1795514400, 0, "x", NULL, NULL);
    buf ok = stream("{a=\"b\"}", &e, 1);
    buf req = {0};
    put_msg(&req, 1, &ok);
    /* every truncation of a valid body is refused cleanly, never read past */
    for (size_t n = 1; n < req.n; n++) {
        ingest_opts o = opts();
        batch *b = batch_new(o.received_ms);
        ingest_error err;
        int rc = ingest_parse_loki_proto((const char *)req.d, n, &o, b, &err);
        assert_true(rc == -1 || rc == 0);
        batch_free(b);
    }
    static const char *const bad_labels[] = {"a=\"b\"", "{a=b}", "{a=\"b\"", "{=\"b\"}", "{a=\"b\"} x",
                                             "{a=\"b\" c=\"d\"}"};
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++) {
        buf s = stream(bad_labels[i], &e, 1), r = {0};
        put_msg(&r, 1, &s);
        parse_fail(1, r.d, r.n, 400, "invalid_labels");
    }
    /* an 11-byte varint, a group wire type, a length past the end */
    parse_fail(1, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, 400, "invalid_protobuf");
    parse_fail(1, "\x0b", 1, 400, "invalid_protobuf");
    parse_fail(1, "\x0a\x05\x01", 3, 400, "invalid_protobuf");
    /* a timestamp past year 9999, a line that is not UTF-8 */
    buf far = entry(INT64_C(253402300800), 0, "x", NULL, NULL), s = stream("{}", &far, 1), r = {0};
    put_msg(&r, 1, &s);
    parse_fail(1, r.d, r.n, 400, "invalid_protobuf");
    buf bad = entry(1, 0, "\xc3\x28", NULL, NULL), s2 = stream("{}", &bad, 1), r2 = {0};
    put_msg(&r2, 1, &s2);
    parse_fail(1, r2.d, r2.n, 400, "invalid_line");
    /* an entry without a timestamp gets the receive time */
    buf nots = {0}, s3, r3 = {0};
    put_bytes(&nots, 2, "y", 1);
    s3 = stream("{}", &nots, 1);
    put_msg(&r3, 1, &s3);
    ingest_opts o = opts();
    batch *b = parse_ok(1, r3.d, r3.n, &o);
    assert_int_equal(b->entries[0].ts_ms, RECEIVED);
    assert_int_equal(b->stats.timestamp_defaulted, 1);
    batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_push),  cmocka_unit_test(test_configured_service_labels),
        cmocka_unit_test(test_json_errors),  cmocka_unit_test(test_limits),
        cmocka_unit_test(test_proto_push), cmocka_unit_test(test_proto_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
