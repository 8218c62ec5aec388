/*
 * test_ingest_level.c — the level a line states (ingest_level_sniff) and a
 * JSON object message read into fields (ingest_json_message), through every
 * ingest path: text, syslog, NDJSON, Loki JSON and protobuf, OTLP JSON,
 * Elasticsearch bulk. A level or timestamp the shipper sent itself wins.
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

#define RECEIVED INT64_C(1795514400000) /* 2026-11-24T10:00:00Z */

static ingest_opts opts(void)
{
    ingest_opts o = {.default_service = "dflt", .received_ms = RECEIVED, .max_line = 2048, .max_entries = 100};
    return o;
}

/* --------------------------------------------------------- the reader */

static const struct shape {
    const char *line;
    const char *level; /* NULL: the line states none */
} SHAPES[] = {
    /* key=value */
    {"ts=2026-12-06T12:00:00Z caller=main.go:42 level=error msg=\"db down\"", "error"},
    {"time=\"2026-12-06T12:00:00Z\" level=warning msg=\"slow\"", "warn"},
    {"time=2026-12-06T12:00:00Z level=ERROR msg=\"x\" err=\"EOF\"", "error"},
    {"lvl=crit msg=boom", "fatal"},
    {"severity=Error component=db", "error"},
    {"msg=\"level=debug is ignored inside quotes\" level=info", "info"},
    {"msg=\"an ERROR inside a quoted message\" level=info", "info"},
    {"level=\"error\" msg=x", "error"},
    {"loglevel=dbg x=1", "debug"},
    {"level=errors msg=x", NULL},
    {"mylevel=error msg=x", NULL},
    /* JSON in text */
    {"2026-12-06T12:00:00.123456789Z stderr F {\"level\":\"error\",\"msg\":\"x\"}", "error"},
    {"{\"level\":50,\"time\":1733486400000,\"msg\":\"pino\"}", "error"},
    {"{\"lvl\": 40, \"msg\": \"bunyan-ish\"}", "warn"},
    {"{\"severity\":\"CRITICAL\",\"message\":\"gcp\"}", "fatal"},
    {"{\"msg\":\"user said \\\"level\\\":\\\"error\\\"\",\"level\":\"info\"}", "info"},
    {"{\"msg\":\"the level field is quoted\",\"x\":1}", NULL},
    {"{\"level\":55,\"msg\":\"not a level number\"}", NULL},
    /* glog */
    {"E1206 12:00:00.123456   12345 server.cc:42] RPC failed", "error"},
    {"W1206 12:00:00.123456 1 x.go:1] slow", "warn"},
    {"I1206 12:00:00.000001 1 x.go:1] ok", "info"},
    {"F1206 12:00:00.000001 1 x.go:1] dead", "fatal"},
    {"E12 not glog", NULL},
    /* bracketed */
    {"[ERROR] disk full", "error"},
    {"[2026-12-06 12:00:00] [error] upstream timed out", "error"},
    {"2026/12/06 12:00:00 [error] 123#0: *1 connect() failed", "error"},
    {"[Sun Dec 06 12:00:00.123 2026] [core:error] [pid 35708:tid 1] AH00037", "error"},
    {"<E> something broke", "error"},
    {"<W> something odd", "warn"},
    {"(WARN) retrying", "warn"},
    {"[main] [Warning] low memory", "warn"},
    {"<134>Dec  6 12:00:00 host app: plain", NULL},
    {"[e] lower-case letters are not levels", NULL},
    /* text layouts */
    {"2026-12-06 12:00:00,123 ERROR [main] com.acme.Api - request failed", "error"},
    {"2026-12-06 12:00:00,123 [http-nio-8080-exec-1] ERROR com.acme.Api - request failed", "error"},
    {"2026-12-06T12:00:00.123Z ERROR 12345 --- [main] o.s.b.SpringApplication : failed", "error"},
    {"2026-12-06 12:00:00,123 - myapp - WARNING - disk at 91%", "warn"},
    {"ERROR:root:connection refused", "error"},
    {"WARNING:urllib3.connectionpool:Retrying", "warn"},
    {"CRITICAL:app:out of memory", "fatal"},
    {"2026-12-06T12:00:00.000Z\terror\tcaller.go:12\tfailed to connect", "error"},
    {"2026-12-06 12:00:00 Error connecting to db", "error"},
    {"12-06 12:00:00.123  1234  1234 E ActivityManager: ANR", "error"},
    {"error: could not open file", "error"},
    {"info: server listening {\"port\":80}", "info"},
    {"FATAL: password authentication failed for user", "fatal"},
    {"2026-12-06 12:00:00 UTC [123] FATAL:  the database system is starting up", "fatal"},
    {"Dec  6 12:00:00 web1 app[12]: ERROR timeout", "error"},
    {"WARN, slow", "warn"},
    /* no level */
    {"plain message with no level", NULL},
    {"Error connecting to db", NULL},
    {"alert sent to the user", NULL},
    {"2026-12-06 12:00:00 alert sent to the user", NULL},
    {"GET /errors 200", NULL},
    {"the ERRORS table", NULL},
    {"a b c d e f g h i j k ERROR", NULL},
    {"\"ERROR\" in quotes", NULL},
    {"", NULL},
    {"first line\n2026-12-06 ERROR on the second line", NULL},
};

static void test_sniff_shapes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
        const char *got = ingest_level_sniff(SHAPES[i].line, strlen(SHAPES[i].line));
        const char *want = SHAPES[i].level;
        if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
            fail_msg("shape %zu \"%s\": got %s, want %s", i, SHAPES[i].line, got ? got : "none",
                     want ? want : "none");
    }
}

static void test_sniff_bounds(void **state)
{
    (void)state;
    /* the level past INGEST_SNIFF_BYTES is not read: the reader never reads the whole line */
    char line[INGEST_SNIFF_BYTES + 64];
    memset(line, 'x', sizeof line);
    memcpy(line + INGEST_SNIFF_BYTES - 11, " level=warn", 11);
    assert_string_equal(ingest_level_sniff(line, INGEST_SNIFF_BYTES), "warn");
    memset(line, 'x', sizeof line);
    memcpy(line + INGEST_SNIFF_BYTES - 10, " level=warn", 11);
    assert_null(ingest_level_sniff(line, sizeof line));
    /* words past INGEST_SNIFF_TOKENS are not level words */
    char words[256] = "";
    for (int i = 0; i < INGEST_SNIFF_TOKENS - 1; i++)
        strcat(words, "w ");
    strcat(words, "ERROR");
    assert_string_equal(ingest_level_sniff(words, strlen(words)), "error");
    memmove(words + 2, words, strlen(words) + 1);
    memcpy(words, "w ", 2);
    assert_null(ingest_level_sniff(words, strlen(words)));
    /* a length, not a NUL, ends the line */
    assert_null(ingest_level_sniff("ERROR", 0));
    assert_null(ingest_level_sniff(NULL, 0));
    assert_string_equal(ingest_level_sniff("level=error", 11), "error");
    assert_null(ingest_level_sniff("level=error", 8));
    /* unterminated quotes and brackets */
    assert_null(ingest_level_sniff("level=\"error", 12));
    assert_null(ingest_level_sniff("[ERROR", 6));
    assert_null(ingest_level_sniff("{\"level\":\"error", 15));
    assert_null(ingest_level_sniff("\"level\\", 7));
}

/* ------------------------------------------------- through every parser */

typedef enum path { P_TEXT, P_SYSLOG, P_NDJSON, P_LOKI_JSON, P_LOKI_PROTO, P_OTLP, P_BULK, P_COUNT } path;
static const char *const PATH_NAMES[] = {"text", "syslog", "ndjson", "loki-json", "loki-proto", "otlp", "bulk"};

static void put_varint(unsigned char *d, size_t *n, uint64_t v)
{
    do {
        unsigned char byte = v & 0x7f;
        v >>= 7;
        d[(*n)++] = byte | (v ? 0x80 : 0);
    } while (v);
}

static void put_bytes(unsigned char *d, size_t *n, unsigned field, const void *p, size_t len)
{
    put_varint(d, n, (uint64_t)field << 3 | 2);
    put_varint(d, n, len);
    memcpy(d + *n, p, len);
    *n += len;
}

/* One line sent by path, with labels naming service "api" where the format has them. 0 or the parser's rc. */
static int send_line(path p, const char *line, const char *level_label, batch *b)
{
    ingest_opts o = opts();
    ingest_error err;
    ingest_rejects rej = {0};
    char body[8192];
    json_t *j = NULL;
    int rc = -1;
    switch (p) {
    case P_TEXT:
        return ingest_parse_text(line, strlen(line), &o, b, &err);
    case P_SYSLOG:
        snprintf(body, sizeof body, "Nov 24 10:00:00 web1 api[1]: %s", line);
        return ingest_parse_syslog(body, strlen(body), &o, b, &err);
    case P_NDJSON:
        j = json_pack("{s:s, s:s}", "log", line, "stream", "stderr");
        if (level_label)
            json_object_set_new(j, "level", json_string(level_label));
        break;
    case P_LOKI_JSON:
        j = json_pack("{s:[{s:{s:s}, s:[[s, s]]}]}", "streams", "stream", "service_name", "api", "values",
                      "1795514400000000000", line);
        if (level_label)
            json_object_set_new(json_object_get(json_array_get(json_object_get(j, "streams"), 0), "stream"),
                                "level", json_string(level_label));
        break;
    case P_LOKI_PROTO: {
        unsigned char e[4096], ts[16], s[6144];
        size_t en = 0, tn = 0, sn = 0, bn = 0;
        char labels[128];
        snprintf(labels, sizeof labels, "{service_name=\"api\"%s%s%s}", level_label ? ", level=\"" : "",
                 level_label ? level_label : "", level_label ? "\"" : "");
        put_varint(ts, &tn, 1 << 3);
        put_varint(ts, &tn, 1795514400);
        put_bytes(e, &en, 1, ts, tn);
        put_bytes(e, &en, 2, line, strlen(line));
        put_bytes(s, &sn, 1, labels, strlen(labels));
        put_bytes(s, &sn, 2, e, en);
        put_bytes((unsigned char *)body, &bn, 1, s, sn);
        return ingest_parse_loki_proto(body, bn, &o, b, &err);
    }
    case P_OTLP:
        j = json_pack("{s:[{s:{s:[{s:s, s:{s:s}}]}, s:[{s:[{s:s, s:{s:s}}]}]}]}", "resourceLogs", "resource",
                      "attributes", "key", "service.name", "value", "stringValue", "api", "scopeLogs",
                      "logRecords", "timeUnixNano", "1795514400000000000", "body", "stringValue", line);
        if (level_label) {
            json_t *rec = json_array_get(
                json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(j, "resourceLogs"), 0),
                                                               "scopeLogs"),
                                               0),
                                "logRecords"),
                0);
            json_object_set_new(rec, "severityText", json_string(level_label));
        }
        break;
    case P_BULK: {
        json_t *doc = json_pack("{s:s, s:s}", "@timestamp", "2026-11-24T10:00:00Z", "log", line);
        if (level_label)
            json_object_set_new(doc, "level", json_string(level_label));
        char *d = json_dumps(doc, JSON_COMPACT);
        snprintf(body, sizeof body, "{\"create\":{\"_index\":\"api\"}}\n%s\n", d);
        free(d);
        json_decref(doc);
        json_t *items = json_array();
        rc = ingest_parse_es_bulk(body, strlen(body), &o, NULL, b, &err, items);
        json_decref(items);
        return rc;
    }
    case P_COUNT:
        break;
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(text);
    if (p == P_NDJSON)
        rc = ingest_parse_ndjson(text, strlen(text), &o, b, &err);
    else if (p == P_LOKI_JSON)
        rc = ingest_parse_loki_json(text, strlen(text), &o, b, &err);
    else
        rc = ingest_parse_otlp_json(text, strlen(text), &o, b, &err, &rej);
    free(text);
    if (rc == 0)
        assert_int_equal(rej.count, 0);
    return rc;
}

static const log_entry *one(path p, const char *line, const char *level_label, batch **b)
{
    *b = batch_new(RECEIVED);
    int rc = send_line(p, line, level_label, *b);
    if (rc != 0 || (*b)->count != 1)
        fail_msg("%s: rc %d, %zu entries for \"%s\"", PATH_NAMES[p], rc, (*b)->count, line);
    return &(*b)->entries[0];
}

static void test_every_path_reads_the_line(void **state)
{
    (void)state;
    for (int p = 0; p < P_COUNT; p++) {
        for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
            const char *line = SHAPES[i].line;
            if ((p == P_TEXT || p == P_SYSLOG) && (!*line || strchr(line, '\n')))
                continue; /* not one line of these formats */
            batch *b;
            const log_entry *e = one((path)p, line, NULL, &b);
            const char *want = SHAPES[i].level;
            if ((e->level == NULL) != (want == NULL) || (want && strcmp(e->level, want) != 0))
                fail_msg("%s, shape %zu \"%s\": got %s, want %s", PATH_NAMES[p], i, line,
                         e->level ? e->level : "none", want ? want : "none");
            batch_free(b);
        }
    }
}

static void test_shipper_level_wins(void **state)
{
    (void)state;
    for (int p = P_NDJSON; p < P_COUNT; p++) {
        batch *b;
        const log_entry *e = one((path)p, "2026-12-06 12:00:00 ERROR boom", "debug", &b);
        if (strcmp(e->level, "debug") != 0)
            fail_msg("%s: the shipper's level debug lost to the line: %s", PATH_NAMES[p], e->level);
        batch_free(b);
        e = one((path)p, "{\"level\":\"error\",\"msg\":\"boom\"}", "debug", &b);
        if (strcmp(e->level, "debug") != 0 || strcmp(e->message, "boom") != 0)
            fail_msg("%s: got %s \"%s\"", PATH_NAMES[p], e->level, e->message);
        /* the line's own level field is kept beside it */
        json_t *a = json_loads(e->attributes, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(a, "level")), "error");
        json_decref(a);
        batch_free(b);
    }
}

static void test_syslog_priority(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        const char *level;
    } rows[] = {
        {"<11>Nov 24 10:00:00 h app: INFO all good", "error"},      /* user.err: the sender said so */
        {"<12>Nov 24 10:00:00 h app: ERROR boom", "warn"},          /* user.warning */
        {"<13>Nov 24 10:00:00 h app: ERROR boom", "error"},         /* user.notice: logger's default */
        {"<14>Nov 24 10:00:00 h app: level=error msg=x", "error"},  /* user.info: journald's stdout */
        {"<14>Nov 24 10:00:00 h app: nothing to say", "info"},
        {"<15>Nov 24 10:00:00 h app: ERROR boom", "debug"},
        {"<14>1 2026-11-24T10:00:00Z h app - - - {\"level\":\"fatal\",\"msg\":\"oom\"}", "fatal"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ingest_opts o = opts();
        ingest_error err;
        batch *b = batch_new(RECEIVED);
        assert_int_equal(ingest_parse_syslog(rows[i].line, strlen(rows[i].line), &o, b, &err), 0);
        if (strcmp(b->entries[0].level, rows[i].level) != 0)
            fail_msg("row %zu: got %s want %s", i, b->entries[0].level, rows[i].level);
        batch_free(b);
    }
}

/* ---------------------------------------------- a JSON object message */

static const struct jcase {
    const char *line;
    const char *level;
    const char *message;
    const char *attrs;  /* the entry's attributes, compared as JSON, or NULL (none besides the path's own) */
    int64_t ts;         /* the timestamp when the shipper sent none; 0: the receive time */
    const char *ts_attr; /* the line's timestamp field, an attribute when the shipper sent its own */
} JSON_LINES[] = {
    {"{\"level\":\"error\",\"msg\":\"db down\",\"user\":\"bob\",\"code\":42}", "error", "db down",
     "{\"user\":\"bob\",\"code\":42}", 0, NULL},
    {"{\"level\":50,\"time\":1795514460000,\"pid\":7,\"hostname\":\"h\",\"msg\":\"pino\"}", "error", "pino",
     "{\"pid\":7,\"hostname\":\"h\"}", INT64_C(1795514460000), "{\"time\":1795514460000}"},
    {"{\"severity\":\"WARNING\",\"message\":\"gcp\",\"timestamp\":\"2026-11-24T10:01:00Z\"}", "warn", "gcp", NULL,
     INT64_C(1795514460000), "{\"timestamp\":\"2026-11-24T10:01:00Z\"}"},
    {"{\"log\":\"2026-12-06 12:00:00 ERROR inner\\n\",\"stream\":\"stderr\"}", "error",
     "2026-12-06 12:00:00 ERROR inner\n", "{\"stream\":\"stderr\"}", 0, NULL},
    {"{\"msg\":\"no level\",\"attributes\":{\"k\":1},\"a\":2}", NULL, "no level", "{\"a\":2,\"k\":1}", 0, NULL},
    {"{\"msg\":\"bad fields stay\",\"level\":[1],\"ts\":\"yesterday\"}", NULL, "bad fields stay",
     "{\"level\":[1],\"ts\":\"yesterday\"}", 0, NULL},
    {"  {\"level\":\"info\",\"msg\":7}  ", "info", "7", NULL, 0, NULL},
    /* Fluent Bit's record around a JSON line: both read */
    {"{\"log\":\"{\\\"level\\\":\\\"error\\\",\\\"msg\\\":\\\"deep\\\",\\\"k\\\":1}\\n\","
     "\"stream\":\"stderr\",\"time\":\"2026-11-24T10:01:00Z\"}",
     "error", "deep", "{\"stream\":\"stderr\",\"k\":1}", INT64_C(1795514460000),
     "{\"time\":\"2026-11-24T10:01:00Z\"}"},
    /* no message field: kept whole, its level read */
    {"{\"level\":\"error\",\"status\":500}", "error", "{\"level\":\"error\",\"status\":500}", NULL, 0, NULL},
    /* not an object */
    {"{\"msg\":\"cut", NULL, "{\"msg\":\"cut", NULL, 0, NULL},
    {"[1,2]", NULL, "[1,2]", NULL, 0, NULL},
};

static int same_json(const char *a, const char *b)
{
    json_t *x = json_loads(a, 0, NULL), *y = json_loads(b, 0, NULL);
    int same = x && y && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

static void test_json_message_every_path(void **state)
{
    (void)state;
    /* what each path adds to the attributes itself */
    static const char *const own[P_COUNT] = {
        [P_TEXT] = NULL, [P_SYSLOG] = "{\"host\":\"web1\",\"pid\":\"1\"}", [P_NDJSON] = "{\"stream\":\"stderr\"}",
        [P_LOKI_JSON] = NULL, [P_LOKI_PROTO] = NULL, [P_OTLP] = NULL, [P_BULK] = NULL};
    for (int p = 0; p < P_COUNT; p++) {
        for (size_t i = 0; i < sizeof JSON_LINES / sizeof JSON_LINES[0]; i++) {
            const struct jcase *jc = &JSON_LINES[i];
            batch *b;
            const log_entry *e = one((path)p, jc->line, NULL, &b);
            const char *want_msg = jc->message;
            if ((e->level == NULL) != (jc->level == NULL) || (jc->level && strcmp(e->level, jc->level) != 0))
                fail_msg("%s, line %zu: level %s want %s", PATH_NAMES[p], i, e->level ? e->level : "none",
                         jc->level ? jc->level : "none");
            if (strcmp(e->message, want_msg) != 0)
                fail_msg("%s, line %zu: message \"%s\" want \"%s\"", PATH_NAMES[p], i, e->message, want_msg);
            assert_int_equal(e->message_len, strlen(e->message));
            /* expected attributes: the line's fields, then the path's own (which win) */
            json_t *want = jc->attrs ? json_loads(jc->attrs, 0, NULL) : json_object();
            if (jc->ts_attr && p != P_TEXT && p != P_NDJSON) {
                json_t *o = json_loads(jc->ts_attr, 0, NULL);
                json_object_update(want, o);
                json_decref(o);
            }
            if (own[p]) {
                json_t *o = json_loads(own[p], 0, NULL);
                json_object_update(want, o);
                json_decref(o);
            }
            char *w = json_object_size(want) ? json_dumps(want, JSON_COMPACT) : NULL;
            json_decref(want);
            if ((w == NULL) != (e->attributes == NULL) || (w && !same_json(w, e->attributes)))
                fail_msg("%s, line %zu: attributes %s want %s", PATH_NAMES[p], i,
                         e->attributes ? e->attributes : "none", w ? w : "none");
            free(w);
            /* the shipper's timestamp stays: every path but text and ndjson sends one here */
            int64_t want_ts = p == P_TEXT || p == P_NDJSON ? (jc->ts ? jc->ts : RECEIVED) : RECEIVED;
            if (e->ts_ms != want_ts)
                fail_msg("%s, line %zu: ts %lld want %lld", PATH_NAMES[p], i, (long long)e->ts_ms,
                         (long long)want_ts);
            batch_free(b);
        }
    }
}

static void test_json_message_service_and_counts(void **state)
{
    (void)state;
    ingest_opts o = opts();
    ingest_error err;
    batch *b = batch_new(RECEIVED);
    const char *body = "{\"service\":\"inner\",\"msg\":\"a\",\"ts\":1795514460}\n"
                       "2026-11-24T10:00:00Z INFO outer {\"service\":\"inner\",\"msg\":\"b\",\"ts\":1}\n";
    assert_int_equal(ingest_parse_text(body, strlen(body), &o, b, &err), 0);
    assert_int_equal(b->count, 2);
    /* a plain line gave no service or time: the object's count, and are no longer counted as defaulted */
    assert_string_equal(b->entries[0].service, "inner");
    assert_int_equal(b->entries[0].ts_ms, INT64_C(1795514460000));
    assert_null(b->entries[0].attributes);
    assert_int_equal(b->stats.service_defaulted, 0);
    assert_int_equal(b->stats.timestamp_defaulted, 0);
    /* the line's format gave both: they stay, the object's are attributes */
    assert_string_equal(b->entries[1].service, "outer");
    assert_int_equal(b->entries[1].ts_ms, RECEIVED);
    assert_string_equal(b->entries[1].message, "b");
    assert_string_equal(b->entries[1].level, "info");
    assert_true(same_json(b->entries[1].attributes, "{\"service\":\"inner\",\"ts\":1}"));
    batch_free(b);

    /* a message cut to max_line is no longer an object: kept as it is */
    o.max_line = 10;
    b = batch_new(RECEIVED);
    body = "{\"msg\":\"a long message\",\"level\":\"error\"}\n";
    assert_int_equal(ingest_parse_text(body, strlen(body), &o, b, &err), 0);
    assert_string_equal(b->entries[0].message, "{\"msg\":\"a ");
    assert_null(b->entries[0].level);
    batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_shapes),
        cmocka_unit_test(test_sniff_bounds),
        cmocka_unit_test(test_every_path_reads_the_line),
        cmocka_unit_test(test_shipper_level_wins),
        cmocka_unit_test(test_syslog_priority),
        cmocka_unit_test(test_json_message_every_path),
        cmocka_unit_test(test_json_message_service_and_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
