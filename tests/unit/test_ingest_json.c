/*
 * test_ingest_json.c — application/x-ndjson and application/json bodies:
 * field aliases, value types, attributes, errors with their line or index,
 * limits.
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

#include "anomalog/ingest.h"

#define T0 INT64_C(1795514400000) /* 2026-11-24T10:00:00Z */
#define HOUR INT64_C(3600000)
#define RECEIVED INT64_C(1800000000000)

static ingest_opts opts(void)
{
    ingest_opts o = {
        .default_service = "dflt",
        .received_ms = RECEIVED,
        .tz_offset_s = 0,
        .max_line = 1024,
        .max_entries = 1000,
    };
    return o;
}

typedef int (*parse_fn)(const char *, size_t, const ingest_opts *, batch *, ingest_error *);

static batch *ok_with(parse_fn fn, const char *body, const ingest_opts *o)
{
    batch *b = batch_new(o->received_ms);
    ingest_error err;
    assert_non_null(b);
    int rc = fn(body, strlen(body), o, b, &err);
    if (rc != 0)
        fail_msg("body %s: rc=%d %s: %s", body, rc, err.code ? err.code : "?", err.message);
    return b;
}

static batch *nd_ok(const char *body)
{
    ingest_opts o = opts();
    return ok_with(ingest_parse_ndjson, body, &o);
}

static batch *js_ok(const char *body)
{
    ingest_opts o = opts();
    return ok_with(ingest_parse_json, body, &o);
}

static int utf8_ok(const char *s)
{
    /* jansson is a strict validator: a string it accepts is valid UTF-8 */
    json_t *j = json_string(s);
    int ok = j != NULL;
    json_decref(j);
    return ok;
}

/* Parses body expecting failure; err filled; returns rc. */
static int fail_with(parse_fn fn, const char *body, size_t len, const ingest_opts *o, ingest_error *err)
{
    batch *b = batch_new(o->received_ms);
    assert_non_null(b);
    memset(err, 0x55, sizeof *err);
    int rc = fn(body, len, o, b, err);
    batch_free(b);
    assert_int_equal(rc, -1);
    assert_non_null(err->code);
    if (!utf8_ok(err->message))
        fail_msg("error message is not valid UTF-8");
    return rc;
}

/* Attributes of e equal the JSON object text want (order-insensitive). */
static void assert_attrs(const log_entry *e, const char *want)
{
    if (!want) {
        if (e->attributes)
            fail_msg("unexpected attributes %s", e->attributes);
        return;
    }
    if (!e->attributes)
        fail_msg("no attributes, want %s", want);
    json_t *got = json_loads(e->attributes, 0, NULL), *w = json_loads(want, 0, NULL);
    assert_non_null(got);
    assert_non_null(w);
    if (!json_equal(got, w))
        fail_msg("attributes %s, want %s", e->attributes, want);
    assert_null(strchr(e->attributes, '\n')); /* compact */
    json_decref(got);
    json_decref(w);
}

static void test_aliases(void **state)
{
    (void)state;
    static const char *const ts[] = {"timestamp", "@timestamp", "time", "ts", "date", "datetime"};
    static const char *const msg[] = {"message", "msg", "log", "body", "text"};
    static const char *const lvl[] = {"level", "severity", "lvl", "loglevel", "log.level"};
    static const char *const svc[] = {"service", "app", "application", "service.name", "app_name",
                                      "program"};
    char body[256];
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        snprintf(body, sizeof body, "{\"%s\":\"2026-11-24T10:00:00Z\",\"msg\":\"m\"}", ts[i]);
        batch *b = nd_ok(body);
        assert_true(b->entries[0].ts_ms == T0);
        assert_int_equal(b->stats.timestamp_defaulted, 0);
        assert_attrs(&b->entries[0], NULL);
        batch_free(b);
    }
    for (size_t i = 0; i < sizeof msg / sizeof msg[0]; i++) {
        snprintf(body, sizeof body, "{\"%s\":\"hello\"}", msg[i]);
        batch *b = nd_ok(body);
        assert_string_equal(b->entries[0].message, "hello");
        assert_int_equal(b->entries[0].message_len, 5);
        assert_true(b->entries[0].ts_ms == RECEIVED);
        assert_int_equal(b->stats.timestamp_defaulted, 1);
        assert_int_equal(b->stats.service_defaulted, 1);
        assert_string_equal(b->entries[0].service, "dflt");
        assert_null(b->entries[0].level);
        assert_attrs(&b->entries[0], NULL);
        batch_free(b);
    }
    for (size_t i = 0; i < sizeof lvl / sizeof lvl[0]; i++) {
        snprintf(body, sizeof body, "{\"%s\":\"WARNING\",\"msg\":\"m\"}", lvl[i]);
        batch *b = nd_ok(body);
        assert_string_equal(b->entries[0].level, "warn");
        assert_int_equal(b->stats.level_normalized, 1);
        assert_attrs(&b->entries[0], NULL);
        batch_free(b);
    }
    for (size_t i = 0; i < sizeof svc / sizeof svc[0]; i++) {
        snprintf(body, sizeof body, "{\"%s\":\"billing\",\"msg\":\"m\"}", svc[i]);
        batch *b = nd_ok(body);
        assert_string_equal(b->entries[0].service, "billing");
        assert_int_equal(b->stats.service_defaulted, 0);
        assert_attrs(&b->entries[0], NULL);
        batch_free(b);
    }
}

static void test_alias_precedence(void **state)
{
    (void)state;
    batch *b = nd_ok("{\"time\":\"2026-11-24T11:00:00Z\",\"timestamp\":\"2026-11-24T10:00:00Z\","
                     "\"msg\":\"a\",\"message\":\"b\",\"app\":\"x\",\"service\":\"y\","
                     "\"severity\":\"info\",\"level\":\"error\"}");
    const log_entry *e = &b->entries[0];
    assert_true(e->ts_ms == T0);
    assert_string_equal(e->message, "b");
    assert_string_equal(e->service, "y");
    assert_string_equal(e->level, "error");
    /* the names not used are kept as attributes */
    assert_attrs(e, "{\"time\":\"2026-11-24T11:00:00Z\",\"msg\":\"a\",\"app\":\"x\",\"severity\":\"info\"}");
    batch_free(b);

    /* a null under the first name gives way to the next name, and is dropped */
    b = nd_ok("{\"message\":null,\"msg\":\"x\",\"timestamp\":null,\"ts\":1795514400,\"level\":null}");
    assert_string_equal(b->entries[0].message, "x");
    assert_true(b->entries[0].ts_ms == T0);
    assert_null(b->entries[0].level);
    assert_attrs(&b->entries[0], NULL);
    batch_free(b);

    /* ECS: log.level and service.name nested; the namespaces stay in the attributes */
    b = nd_ok("{\"@timestamp\":\"2026-11-24T10:00:00.000Z\",\"log\":{\"level\":\"warn\",\"logger\":\"a.b\"},"
              "\"service\":{\"name\":\"api\"},\"message\":\"m\"}");
    e = &b->entries[0];
    assert_string_equal(e->level, "warn");
    assert_string_equal(e->service, "api");
    assert_string_equal(e->message, "m");
    assert_int_equal(b->stats.level_normalized, 0);
    assert_attrs(e, "{\"log\":{\"level\":\"warn\",\"logger\":\"a.b\"},\"service\":{\"name\":\"api\"}}");
    batch_free(b);

    /* flat dotted names win over nested ones */
    b = nd_ok("{\"log.level\":\"error\",\"log\":{\"level\":\"warn\"},\"service.name\":\"flat\",\"msg\":\"m\"}");
    assert_string_equal(b->entries[0].level, "error");
    assert_string_equal(b->entries[0].service, "flat");
    batch_free(b);
}

static void test_timestamps(void **state)
{
    (void)state;
    static const struct {
        const char *value; /* JSON text */
        int tz;
        int64_t want;      /* 0: received time */
    } rows[] = {
        {"\"2026-11-24T10:00:00Z\"", 0, T0},
        {"\"2026-11-24T10:00:00.123Z\"", 0, T0 + 123},
        {"\"2026-11-24T12:00:00+02:00\"", 0, T0},
        {"\"2026-11-24 10:00:00Z\"", 0, T0},
        {"\"2026-11-24T11:00:00\"", 3600, T0},
        {"\"2026-11-24T10:00:00\"", 0, T0},
        {"\"1795514400\"", 0, T0},
        {"\"1795514400.250\"", 0, T0 + 250},
        {"\"1795514400123\"", 0, T0 + 123},
        {"1795514400", 0, T0},
        {"1795514400123", 0, T0 + 123},
        {"1795514400123456", 0, T0 + 123},
        {"1795514400123456789", 0, T0 + 123},
        {"1795514400.5", 0, T0 + 500},
        {"1795514400.123", 0, T0 + 123},
        {"1795514400123.0", 0, T0 + 123},
        {"1.795514400123e12", 0, T0 + 123},
        {"null", 0, 0},
    };
    char body[256];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ingest_opts o = opts();
        o.tz_offset_s = rows[i].tz;
        snprintf(body, sizeof body, "{\"ts\":%s,\"msg\":\"m\"}", rows[i].value);
        batch *b = ok_with(ingest_parse_ndjson, body, &o);
        int64_t want = rows[i].want ? rows[i].want : RECEIVED;
        if (b->entries[0].ts_ms != want)
            fail_msg("row %zu %s: %lld want %lld", i, rows[i].value, (long long)b->entries[0].ts_ms,
                     (long long)want);
        assert_int_equal(b->stats.timestamp_defaulted, rows[i].want ? 0 : 1);
        batch_free(b);
    }
}

static void test_timestamp_errors(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *quoted; /* how the message quotes it */
    } rows[] = {
        {"\"yesterday\"", "\"yesterday\""},
        {"\"2026-11-24T10:00:00Z junk\"", "\"2026-11-24T10:00:00Z junk\""},
        {"\"2026-11-24\"", "\"2026-11-24\""},
        {"\"\"", "\"\""},
        {"\"-5\"", "\"-5\""},
        {"-5", "-5"},
        {"-0.5", "-0.5"},
        {"1e300", "1e+300"},
        {"true", "a boolean"},
        {"{}", "an object"},
        {"[1]", "an array"},
    };
    char body[256], want[256];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ingest_opts o = opts();
        ingest_error err;
        snprintf(body, sizeof body, "{\"msg\":\"ok\"}\n\n{\"datetime\":%s,\"msg\":\"m\"}", rows[i].value);
        fail_with(ingest_parse_ndjson, body, strlen(body), &o, &err);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.code, "invalid_timestamp");
        assert_int_equal(err.line, 3);
        assert_int_equal(err.index, -1);
        snprintf(want, sizeof want, "line 3: field \"datetime\": cannot parse %s as RFC 3339 or epoch",
                 rows[i].quoted);
        assert_string_equal(err.message, want);
    }
    /* the example of the contract, in a JSON array */
    ingest_opts o = opts();
    ingest_error err;
    const char *body2 = "[{\"msg\":\"a\"},{\"msg\":\"b\"},{\"timestamp\":\"yesterday\",\"msg\":\"c\"}]";
    fail_with(ingest_parse_json, body2, strlen(body2), &o, &err);
    assert_string_equal(err.code, "invalid_timestamp");
    assert_int_equal(err.index, 2);
    assert_int_equal(err.line, 0);
    assert_string_equal(err.message,
                        "entry 2: field \"timestamp\": cannot parse \"yesterday\" as RFC 3339 or epoch");
    /* a long value is quoted short */
    char big[512], word[301];
    memset(word, 'y', 300);
    word[300] = '\0';
    snprintf(big, sizeof big, "{\"ts\":\"%s\"}", word);
    fail_with(ingest_parse_ndjson, big, strlen(big), &o, &err);
    assert_string_equal(err.code, "invalid_timestamp");
    assert_true(strlen(err.message) < 150);
    assert_non_null(strstr(err.message, "...\""));
}

static void test_messages(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *want;
    } rows[] = {
        {"\"hello\"", "hello"},
        {"\"\"", ""},
        {"\"line1\\nline2\\ttab \\u00e9 \\ud83d\\ude00\"", "line1\nline2\ttab \xC3\xA9 \xF0\x9F\x98\x80"},
        {"42", "42"},
        {"-7", "-7"},
        {"1.5", "1.5"},
        {"0.1", "0.1"},
        {"1e300", "1e300"},
        {"true", "true"},
        {"false", "false"},
    };
    char body[256];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(body, sizeof body, "{\"message\":%s}", rows[i].value);
        batch *b = nd_ok(body);
        assert_string_equal(b->entries[0].message, rows[i].want);
        assert_int_equal(b->entries[0].message_len, strlen(rows[i].want));
        batch_free(b);
    }
    static const struct {
        const char *body;
        const char *code;
        const char *message;
    } errs[] = {
        {"{\"message\":{\"a\":1}}", "invalid_entry", "line 1: field \"message\": message must be a string"},
        {"{\"msg\":[1,2]}", "invalid_entry", "line 1: field \"msg\": message must be a string"},
        {"{\"level\":\"info\"}", "missing_message",
         "line 1: no message: one of \"message\", \"msg\", \"log\", \"body\", \"text\" is required"},
        {"{\"message\":null}", "missing_message", NULL},
        {"{}", "missing_message", NULL},
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        ingest_opts o = opts();
        ingest_error err;
        fail_with(ingest_parse_ndjson, errs[i].body, strlen(errs[i].body), &o, &err);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.code, errs[i].code);
        assert_int_equal(err.line, 1);
        if (errs[i].message)
            assert_string_equal(err.message, errs[i].message);
    }
}

static void test_message_truncation(void **state)
{
    (void)state;
    ingest_opts o = opts();
    o.max_line = 10;
    static const struct {
        const char *body;
        const char *want;
        long truncated;
    } rows[] = {
        {"{\"msg\":\"0123456789\"}", "0123456789", 0},
        {"{\"msg\":\"0123456789A\"}", "0123456789", 1},
        {"{\"msg\":\"a\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}", "a\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 1},
        {"{\"msg\":\"abcdefgh\\ud83d\\ude00\"}", "abcdefgh", 1},
        {"{\"msg\":12345678901234}", "1234567890", 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        batch *b = ok_with(ingest_parse_ndjson, rows[i].body, &o);
        assert_string_equal(b->entries[0].message, rows[i].want);
        assert_int_equal(b->entries[0].message_len, strlen(rows[i].want));
        assert_int_equal(b->stats.truncated, rows[i].truncated);
        batch_free(b);
    }
    batch *b = ok_with(ingest_parse_json, "[{\"msg\":\"0123456789AB\"},{\"msg\":\"xx\"},{\"msg\":\"0123456789ABC\"}]", &o);
    assert_int_equal(b->stats.truncated, 2);
    batch_free(b);
}

static void test_levels(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *want; /* NULL: no level */
        long normalized;
    } rows[] = {
        {"\"info\"", "info", 0},
        {"\"INFO\"", "info", 0},
        {"\"Error\"", "error", 0},
        {"\"WARNING\"", "warn", 1},
        {"\"err\"", "error", 1},
        {"\"ERR\"", "error", 1},
        {"\"notice\"", "info", 1},
        {"\"CRIT\"", "fatal", 1},
        {"\" warn \"", "warn", 0},
        {"\"Verbose\"", "verbose", 0},
        {"\"X\\u00c9\"", "x\xC3\x89", 0}, /* only ASCII is lowercased */
        {"\"abcdefghijklmnopqrstuvwxyz0123456789\"", "abcdefghijklmnopqrstuvwxyz012345", 0},
        {"\"abcdefghijklmnopqrstuvwxyz01234\\u00e9\"", "abcdefghijklmnopqrstuvwxyz01234", 0},
        {"\"\"", NULL, 0},
        {"\"  \"", NULL, 0},
        {"null", NULL, 0},
        {"0", "fatal", 1},
        {"1", "fatal", 1},
        {"2", "fatal", 1},
        {"3", "error", 1},
        {"4", "warn", 1},
        {"5", "info", 1},
        {"6", "info", 1},
        {"7", "debug", 1},
        {"10", "trace", 1},
        {"20", "debug", 1},
        {"30", "info", 1},
        {"40", "warn", 1},
        {"50", "error", 1},
        {"60", "fatal", 1},
    };
    char body[256];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(body, sizeof body, "{\"level\":%s,\"msg\":\"m\"}", rows[i].value);
        batch *b = nd_ok(body);
        if (rows[i].want)
            assert_string_equal(b->entries[0].level, rows[i].want);
        else
            assert_null(b->entries[0].level);
        if (b->stats.level_normalized != rows[i].normalized)
            fail_msg("row %zu %s: level_normalized %ld", i, rows[i].value, b->stats.level_normalized);
        batch_free(b);
    }
    static const char *const bad[] = {"8", "-1", "15", "70", "3.5", "true", "{}", "[\"info\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ingest_opts o = opts();
        ingest_error err;
        snprintf(body, sizeof body, "{\"severity\":%s,\"msg\":\"m\"}", bad[i]);
        fail_with(ingest_parse_ndjson, body, strlen(body), &o, &err);
        assert_string_equal(err.code, "invalid_level");
        assert_non_null(strstr(err.message, "\"severity\""));
    }
}

static void test_services(void **state)
{
    (void)state;
    char s128[129], s129[130], body[512];
    memset(s128, 'a', 128);
    s128[128] = '\0';
    memset(s129, 'a', 129);
    s129[129] = '\0';

    snprintf(body, sizeof body, "{\"service\":\"%s\",\"msg\":\"m\"}", s128);
    batch *b = nd_ok(body);
    assert_string_equal(b->entries[0].service, s128);
    batch_free(b);

    b = nd_ok("{\"service\":\"\",\"msg\":\"m\"}\n{\"service\":null,\"msg\":\"m\"}\n{\"msg\":\"m\"}\n"
              "{\"app\":\"h\\u00e9llo w\",\"msg\":\"m\"}");
    assert_int_equal(b->count, 4);
    for (int i = 0; i < 3; i++)
        assert_string_equal(b->entries[i].service, "dflt");
    assert_string_equal(b->entries[3].service, "h\xC3\xA9llo w");
    assert_int_equal(b->stats.service_defaulted, 3);
    batch_free(b);

    const char *bad[] = {NULL, "{\"service\":\"a\\nb\",\"msg\":\"m\"}", "{\"service\":\"a\\u007fb\",\"msg\":\"m\"}",
                         "{\"service\":5,\"msg\":\"m\"}", "{\"program\":true,\"msg\":\"m\"}",
                         "{\"service\":[\"x\"],\"msg\":\"m\"}"};
    snprintf(body, sizeof body, "{\"service\":\"%s\",\"msg\":\"m\"}", s129);
    bad[0] = body;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ingest_opts o = opts();
        ingest_error err;
        fail_with(ingest_parse_ndjson, bad[i], strlen(bad[i]), &o, &err);
        if (strcmp(err.code, "invalid_service") != 0)
            fail_msg("row %zu: %s %s", i, err.code, err.message);
        assert_int_equal(err.status, 400);
        assert_int_equal(err.line, 1);
    }
}

static void test_attributes(void **state)
{
    (void)state;
    batch *b = nd_ok("{\"msg\":\"x\",\"user\":\"bob\",\"n\":1,\"attributes\":{\"user\":\"alice\",\"k\":true}}\n"
                     "{\"msg\":\"y\",\"attributes\":{\"a\":{\"b\":[1,2]}}}\n"
                     "{\"msg\":\"z\",\"attributes\":{}}\n"
                     "{\"msg\":\"w\",\"attributes\":null,\"extra\":null}\n"
                     "{\"msg\":\"v\",\"trace_id\":\"abc\",\"http\":{\"status\":500}}");
    assert_int_equal(b->count, 5);
    assert_attrs(&b->entries[0], "{\"user\":\"alice\",\"n\":1,\"k\":true}");
    assert_attrs(&b->entries[1], "{\"a\":{\"b\":[1,2]}}");
    assert_string_equal(b->entries[1].attributes, "{\"a\":{\"b\":[1,2]}}");
    assert_attrs(&b->entries[2], NULL);
    assert_attrs(&b->entries[3], "{\"extra\":null}");
    assert_attrs(&b->entries[4], "{\"trace_id\":\"abc\",\"http\":{\"status\":500}}");
    assert_string_equal(b->entries[4].attributes, "{\"trace_id\":\"abc\",\"http\":{\"status\":500}}");
    batch_free(b);

    static const char *const bad[] = {"{\"msg\":\"x\",\"attributes\":[1]}", "{\"msg\":\"x\",\"attributes\":\"s\"}",
                                      "{\"msg\":\"x\",\"attributes\":3}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ingest_opts o = opts();
        ingest_error err;
        fail_with(ingest_parse_ndjson, bad[i], strlen(bad[i]), &o, &err);
        assert_string_equal(err.code, "invalid_entry");
        assert_non_null(strstr(err.message, "\"attributes\""));
    }
}

static void test_ndjson_lines(void **state)
{
    (void)state;
    batch *b = nd_ok("\xEF\xBB\xBF{\"msg\":\"a\"}\r\n\r\n  \n{\"msg\":\"b\",\"level\":\"info\"}\n\t\n{\"msg\":\"c\"}  \n");
    assert_int_equal(b->count, 3);
    assert_int_equal(b->entries[0].line, 1);
    assert_int_equal(b->entries[1].line, 4);
    assert_int_equal(b->entries[2].line, 6);
    assert_string_equal(b->entries[2].message, "c");
    batch_free(b);

    b = nd_ok("");
    assert_int_equal(b->count, 0);
    batch_free(b);
    b = nd_ok("\n\n");
    assert_int_equal(b->count, 0);
    batch_free(b);

    static const struct {
        const char *body;
        const char *code;
        long line;
        const char *message; /* NULL: only the prefix is checked */
    } errs[] = {
        {"{\"msg\":\"a\"}\n\n\nx\n", "invalid_json", 4, "line 4: invalid JSON: '[' or '{' expected near 'x'"},
        {"{\"msg\":\"a\"}\n\n{bad\n", "invalid_json", 3, NULL},
        {"{\"msg\":\"a\"}{\"msg\":\"b\"}", "invalid_json", 1, "line 1: invalid JSON: end of file expected near '{'"},
        {"{\"msg\":\"a\"}\n\"str\"", "invalid_json", 2, NULL},
        {"\n[{\"msg\":\"a\"}]", "invalid_entry", 2, "line 2: expected a JSON object, got an array"},
        {"{\"msg\":\"a\"\n}", "invalid_json", 1, NULL},
        {"{\"msg\":\"bad \xff byte\"}", "invalid_json", 1, NULL},
        {"{\"msg\":\"nul \\u0000 byte\"}", "invalid_json", 1, NULL},
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        ingest_opts o = opts();
        ingest_error err;
        fail_with(ingest_parse_ndjson, errs[i].body, strlen(errs[i].body), &o, &err);
        assert_int_equal(err.status, 400);
        if (strcmp(err.code, errs[i].code) != 0 || err.line != errs[i].line)
            fail_msg("row %zu: %s line %ld: %s", i, err.code, err.line, err.message);
        assert_int_equal(err.index, -1);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "line %ld: ", errs[i].line);
        assert_memory_equal(err.message, prefix, strlen(prefix));
        if (errs[i].message)
            assert_string_equal(err.message, errs[i].message);
    }
}

static void test_json_bodies(void **state)
{
    (void)state;
    batch *b = js_ok("{\"msg\":\"one\",\"level\":\"debug\"}");
    assert_int_equal(b->count, 1);
    assert_int_equal(b->entries[0].line, 1);
    assert_string_equal(b->entries[0].level, "debug");
    batch_free(b);

    b = js_ok("\xEF\xBB\xBF[{\"msg\":\"a\"},\n {\"msg\":\"b\",\"ts\":1795514400},\n {\"msg\":\"c\"}]");
    assert_int_equal(b->count, 3);
    for (long i = 0; i < 3; i++)
        assert_int_equal(b->entries[i].line, i + 1);
    assert_true(b->entries[1].ts_ms == T0);
    batch_free(b);

    b = js_ok("[]");
    assert_int_equal(b->count, 0);
    batch_free(b);
    b = js_ok("  [ ]  \n");
    assert_int_equal(b->count, 0);
    batch_free(b);

    /* Fluent Bit's json format: an array, a float epoch under "date" */
    b = js_ok("[{\"date\":1795514400.25,\"log\":\"x\"}]");
    assert_true(b->entries[0].ts_ms == T0 + 250);
    batch_free(b);

    static const struct {
        const char *body;
        const char *code;
        long line, index;
        const char *message;
    } errs[] = {
        {"[{\"msg\":\"a\"}, 5]", "invalid_entry", 0, 1, "entry 1: expected a JSON object, got a number"},
        {"[{\"msg\":\"a\"}, {\"msg\":\"b\"}, \"s\"]", "invalid_entry", 0, 2, "entry 2: expected a JSON object, got a string"},
        {"[[{\"msg\":\"a\"}]]", "invalid_entry", 0, 0, "entry 0: expected a JSON object, got an array"},
        {"[null]", "invalid_entry", 0, 0, "entry 0: expected a JSON object, got null"},
        {"[{\"msg\":\"a\"},{\"level\":\"x\"}]", "missing_message", 0, 1, NULL},
        {"[\n{\"msg\":\"a\"},\n{bad}\n]", "invalid_json", 3, -1, NULL},
        {"42", "invalid_json", 1, -1, "line 1: invalid JSON: '[' or '{' expected near '42'"},
        {"", "invalid_json", 1, -1, "line 1: invalid JSON: '[' or '{' expected near end of file"},
        {"{\"msg\":\"a\"} {\"msg\":\"b\"}", "invalid_json", 1, -1, NULL},
        {"{\"msg\":\"a\"}\n{\"msg\":\"b\"}", "invalid_json", 2, -1, NULL},
        {"{\"message\":{}}", "invalid_entry", 0, -1, "field \"message\": message must be a string"},
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        ingest_opts o = opts();
        ingest_error err;
        fail_with(ingest_parse_json, errs[i].body, strlen(errs[i].body), &o, &err);
        assert_int_equal(err.status, 400);
        if (strcmp(err.code, errs[i].code) != 0 || err.line != errs[i].line || err.index != errs[i].index)
            fail_msg("row %zu: %s line %ld index %ld: %s", i, err.code, err.line, err.index, err.message);
        if (errs[i].message)
            assert_string_equal(err.message, errs[i].message);
    }
}

static void test_max_entries(void **state)
{
    (void)state;
    ingest_opts o = opts();
    o.max_entries = 3;
    ingest_error err;

    batch *b = ok_with(ingest_parse_ndjson, "{\"msg\":\"1\"}\n\n{\"msg\":\"2\"}\n{\"msg\":\"3\"}\n\n", &o);
    assert_int_equal(b->count, 3);
    batch_free(b);
    const char *nd = "{\"msg\":\"1\"}\n\n{\"msg\":\"2\"}\n{\"msg\":\"3\"}\n\n{\"msg\":\"4\"}\n";
    fail_with(ingest_parse_ndjson, nd, strlen(nd), &o, &err);
    assert_int_equal(err.status, 413);
    assert_string_equal(err.code, "too_many_entries");
    assert_int_equal(err.line, 6);
    assert_int_equal(err.index, -1);

    b = ok_with(ingest_parse_json, "[{\"msg\":\"1\"},{\"msg\":\"2\"},{\"msg\":\"3\"}]", &o);
    assert_int_equal(b->count, 3);
    batch_free(b);
    const char *js = "[{\"msg\":\"1\"},{\"msg\":\"2\"},{\"msg\":\"3\"},{\"msg\":\"4\"}]";
    fail_with(ingest_parse_json, js, strlen(js), &o, &err);
    assert_int_equal(err.status, 413);
    assert_string_equal(err.code, "too_many_entries");
    assert_int_equal(err.index, 3);
    assert_int_equal(err.line, 0);

    o.max_entries = 1;
    b = ok_with(ingest_parse_json, "{\"msg\":\"only\"}", &o);
    assert_int_equal(b->count, 1);
    batch_free(b);
}

static void test_hostile_inputs(void **state)
{
    (void)state;
    ingest_opts o = opts();
    ingest_error err;
    /* nesting deeper than jansson allows is a clean 400 */
    size_t depth = 5000;
    char *deep = malloc(2 * depth + 1);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    fail_with(ingest_parse_json, deep, 2 * depth, &o, &err);
    assert_string_equal(err.code, "invalid_json");
    fail_with(ingest_parse_ndjson, deep, 2 * depth, &o, &err);
    assert_string_equal(err.code, "invalid_json");
    free(deep);

    /* invalid UTF-8 quoted by jansson still gives a valid UTF-8 message */
    static const char raw[] = "\xff\xfe{\"msg\":1}";
    fail_with(ingest_parse_ndjson, raw, sizeof raw - 1, &o, &err);
    assert_string_equal(err.code, "invalid_json");
    static const char raw2[] = "{\"msg\":\"\xc3\x28\"}";
    fail_with(ingest_parse_json, raw2, sizeof raw2 - 1, &o, &err);
    assert_string_equal(err.code, "invalid_json");
    /* a NUL byte in the body is not JSON */
    static const char nul[] = "{\"msg\":\"a\"}\0{\"msg\":\"b\"}";
    fail_with(ingest_parse_ndjson, nul, sizeof nul - 1, &o, &err);
    assert_string_equal(err.code, "invalid_json");

    /* the body is never referenced after parsing */
    char *body = strdup("{\"msg\":\"hello\",\"service\":\"api\",\"level\":\"custom\",\"k\":\"v\"}");
    batch *b = ok_with(ingest_parse_ndjson, body, &o);
    memset(body, 'X', strlen(body));
    free(body);
    assert_string_equal(b->entries[0].message, "hello");
    assert_string_equal(b->entries[0].service, "api");
    assert_string_equal(b->entries[0].level, "custom");
    assert_attrs(&b->entries[0], "{\"k\":\"v\"}");
    batch_free(b);
}

/* jansson allocations fail from the Nth on, when fail_at > 0 */
static long alloc_count, fail_at;

static void *failing_malloc(size_t n)
{
    if (fail_at > 0 && ++alloc_count >= fail_at)
        return NULL;
    return malloc(n);
}

static void test_jansson_out_of_memory(void **state)
{
    (void)state;
    /* every allocation jansson makes fails in turn: the answer is -2 (or, inside jansson's
     * lexer, invalid_json), never another error, never a crash or a leak */
    const char *bodies[] = {
        "{\"msg\":\"a\",\"k\":\"v\",\"attributes\":{\"x\":1}}\n{\"message\":1.5,\"n\":[1,2]}",
        "[{\"msg\":\"a\",\"k\":{\"deep\":[1,2,3]}},{\"msg\":0.1,\"attributes\":{\"y\":2}}]",
    };
    parse_fn fns[] = {ingest_parse_ndjson, ingest_parse_json};
    for (size_t i = 0; i < 2; i++) {
        int succeeded = 0;
        for (long n = 1; n < 1000 && !succeeded; n++) {
            ingest_opts o = opts();
            ingest_error err;
            batch *b = batch_new(RECEIVED);
            assert_non_null(b);
            alloc_count = 0;
            fail_at = n;
            json_set_alloc_funcs(failing_malloc, free);
            int rc = fns[i](bodies[i], strlen(bodies[i]), &o, b, &err);
            fail_at = 0;
            json_set_alloc_funcs(malloc, free);
            if (rc == 0) {
                succeeded = 1;
                assert_int_equal(b->count, 2);
            } else if (rc != -2 && !(rc == -1 && strcmp(err.code, "invalid_json") == 0)) {
                /* jansson's lexer reports some failed allocations as a syntax error: the
                 * one case where out of memory may come back as invalid_json */
                fail_msg("body %zu, allocation %ld failing: rc=%d %s", i, n, rc, err.message);
            }
            batch_free(b);
        }
        assert_true(succeeded);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aliases),         cmocka_unit_test(test_alias_precedence),
        cmocka_unit_test(test_timestamps),      cmocka_unit_test(test_timestamp_errors),
        cmocka_unit_test(test_messages),        cmocka_unit_test(test_message_truncation),
        cmocka_unit_test(test_levels),          cmocka_unit_test(test_services),
        cmocka_unit_test(test_attributes),      cmocka_unit_test(test_ndjson_lines),
        cmocka_unit_test(test_json_bodies),     cmocka_unit_test(test_max_entries),
        cmocka_unit_test(test_hostile_inputs),  cmocka_unit_test(test_jansson_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
