/*
 * test_ingest_otlp.c — OTLP logs bodies: field mapping, partial success, and
 * every bound (AnyValue depth, record count, truncated protobuf).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/ingest.h"

#define RECEIVED INT64_C(1800000000000)

static ingest_opts opts(void)
{
    ingest_opts o = {.default_service = "dflt", .received_ms = RECEIVED, .max_line = 1024, .max_entries = 1000};
    return o;
}

static int parse(int proto, const void *body, size_t len, const ingest_opts *o, batch **out, ingest_error *err,
                 ingest_rejects *rej)
{
    *out = batch_new(o->received_ms);
    assert_non_null(*out);
    return proto ? ingest_parse_otlp_proto(body, len, o, *out, err, rej)
                 : ingest_parse_otlp_json(body, len, o, *out, err, rej);
}

static void test_json_levels_and_times(void **state)
{
    (void)state;
    const char *body = "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
                       "{\"stringValue\":\"svc\"}}]},\"scopeLogs\":[{\"logRecords\":["
                       "{\"severityNumber\":1,\"body\":{\"stringValue\":\"a\"}},"
                       "{\"severityNumber\":24,\"timeUnixNano\":\"0\",\"observedTimeUnixNano\":\"2000000\"},"
                       "{\"severityText\":\"Verbose\",\"timeUnixNano\":3000000,\"body\":{\"intValue\":5}},"
                       "{\"severityText\":\"warning\",\"severityNumber\":17,\"body\":{\"doubleValue\":1.5}}"
                       "]}]}]}";
    ingest_opts o = opts();
    batch *b;
    ingest_error err;
    ingest_rejects rej;
    assert_int_equal(parse(0, body, strlen(body), &o, &b, &err, &rej), 0);
    assert_int_equal(rej.count, 0);
    assert_int_equal(b->count, 4);
    assert_string_equal(b->entries[0].level, "trace");
    assert_int_equal(b->entries[0].ts_ms, RECEIVED);
    assert_string_equal(b->entries[0].service, "svc");
    assert_null(b->entries[0].attributes);
    assert_string_equal(b->entries[1].level, "fatal");
    assert_int_equal(b->entries[1].ts_ms, 2);
    assert_string_equal(b->entries[1].message, "");
    assert_string_equal(b->entries[2].level, "verbose");
    assert_int_equal(b->entries[2].ts_ms, 3);
    assert_string_equal(b->entries[2].message, "5");
    assert_string_equal(b->entries[3].level, "warn"); /* a known severityText wins over the number */
    assert_string_equal(b->entries[3].message, "1.5");
    assert_int_equal(b->stats.timestamp_defaulted, 2);
    batch_free(b);
}

static void test_json_bounds(void **state)
{
    (void)state;
    /* AnyValue nesting past the bound rejects the record, not the request */
    char deep[4096];
    size_t n = 0;
    n += (size_t)sprintf(deep + n, "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":");
    for (int i = 0; i < 40; i++)
        n += (size_t)sprintf(deep + n, "{\"arrayValue\":{\"values\":[");
    n += (size_t)sprintf(deep + n, "{\"stringValue\":\"x\"}");
    for (int i = 0; i < 40; i++)
        n += (size_t)sprintf(deep + n, "]}}");
    n += (size_t)sprintf(deep + n, "},{\"body\":{\"stringValue\":\"ok\"}}]}]}]}");
    ingest_opts o = opts();
    batch *b;
    ingest_error err;
    ingest_rejects rej;
    assert_int_equal(parse(0, deep, n, &o, &b, &err, &rej), 0);
    assert_int_equal(rej.count, 1);
    assert_non_null(strstr(rej.message, "deeply"));
    assert_int_equal(b->count, 1);
    batch_free(b);

    o.max_entries = 1;
    const char *two = "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{},{}]}]}]}";
    assert_int_equal(parse(0, two, strlen(two), &o, &b, &err, &rej), -1);
    assert_int_equal(err.status, 413);
    batch_free(b);

    static const char *const bad[] = {"[]", "{\"resourceLogs\":{}}", "{\"resourceLogs\":[{\"scopeLogs\":3}]}",
                                      "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":{}}]}]}"};
    o = opts();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(0, bad[i], strlen(bad[i]), &o, &b, &err, &rej), -1);
        assert_string_equal(err.code, "invalid_otlp");
        batch_free(b);
    }
    /* a service.name with a control character rejects that resource's records */
    const char *svc = "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
                      "{\"stringValue\":\"a\\u0001\"}}]},\"scopeLogs\":[{\"logRecords\":[{}]}]}]}";
    assert_int_equal(parse(0, svc, strlen(svc), &o, &b, &err, &rej), 0);
    assert_int_equal(rej.count, 1);
    assert_int_equal(b->count, 0);
    batch_free(b);
}

static void test_proto_bounds(void **state)
{
    (void)state;
    /* ExportLogsServiceRequest{resource_logs{scope_logs{log_records{time=fixed64, body{string "hi"}}}}} */
    static const unsigned char rec[] = {0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
                                        0x2a, 0x04, 0x0a, 0x02, 'h',  'i'};
    unsigned char req[64];
    size_t n = 0;
    req[n++] = 0x0a;
    req[n++] = (unsigned char)(sizeof rec + 4);
    req[n++] = 0x12;
    req[n++] = (unsigned char)(sizeof rec + 2);
    req[n++] = 0x12;
    req[n++] = (unsigned char)sizeof rec;
    memcpy(req + n, rec, sizeof rec);
    n += sizeof rec;
    ingest_opts o = opts();
    batch *b;
    ingest_error err;
    ingest_rejects rej;
    assert_int_equal(parse(1, req, n, &o, &b, &err, &rej), 0);
    assert_int_equal(b->count, 1);
    assert_string_equal(b->entries[0].message, "hi");
    assert_int_equal(b->entries[0].ts_ms, INT64_C(72057594037)); /* 2^56 ns */
    batch_free(b);
    for (size_t cut = 1; cut < n; cut++) {
        int rc = parse(1, req, cut, &o, &b, &err, &rej);
        assert_true(rc == 0 || rc == -1);
        batch_free(b);
    }
    /* AnyValue nested 40 deep through array_value */
    unsigned char deep[512];
    size_t d = 0, lens[41];
    unsigned char inner[] = {0x0a, 0x01, 'x'};
    memcpy(deep, inner, sizeof inner);
    d = sizeof inner;
    for (int i = 0; i < 40; i++) { /* wrap: AnyValue{array_value{values{<deep>}}} */
        unsigned char tmp[512];
        size_t t = 0;
        tmp[t++] = 0x0a; /* ArrayValue.values */
        tmp[t++] = (unsigned char)d;
        memcpy(tmp + t, deep, d);
        t += d;
        deep[0] = 0x2a; /* AnyValue.array_value */
        deep[1] = (unsigned char)t;
        memcpy(deep + 2, tmp, t);
        d = t + 2;
        lens[i] = d;
        if (d > 100)
            break;
    }
    (void)lens;
    unsigned char req2[600];
    size_t m = 0;
    size_t recl = d + 2, scl = recl + 2, rll = scl + 2;
    req2[m++] = 0x0a;
    req2[m++] = (unsigned char)rll;
    req2[m++] = 0x12;
    req2[m++] = (unsigned char)scl;
    req2[m++] = 0x12;
    req2[m++] = (unsigned char)recl;
    req2[m++] = 0x2a;
    req2[m++] = (unsigned char)d;
    memcpy(req2 + m, deep, d);
    m += d;
    assert_int_equal(parse(1, req2, m, &o, &b, &err, &rej), 0);
    assert_int_equal(rej.count, 1);
    assert_non_null(strstr(rej.message, "deeply"));
    batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_levels_and_times),
        cmocka_unit_test(test_json_bounds),
        cmocka_unit_test(test_proto_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
