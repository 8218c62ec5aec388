/*
 * test_ingest_text.c — text/plain bodies: the line format, defaults, joined
 * stack traces, UTF-8 repair, truncation, limits; plus the Content-Type map,
 * the level words and ingest_parse() dispatch shared by every format.
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

/* Parses body (strlen) with o; asserts success; caller frees. */
static batch *parse_ok_n(const char *body, size_t len, const ingest_opts *o)
{
    batch *b = batch_new(o->received_ms);
    ingest_error err;
    assert_non_null(b);
    int rc = ingest_parse_text(body, len, o, b, &err);
    if (rc != 0)
        fail_msg("rc=%d %s: %s", rc, err.code ? err.code : "?", err.message);
    return b;
}

static batch *parse_ok(const char *body, const ingest_opts *o)
{
    return parse_ok_n(body, strlen(body), o);
}

static void test_line_format(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int tz;
        int64_t ts;        /* 0: received time */
        const char *level; /* NULL: none */
        const char *service;
        const char *message;
        long normalized;
    } rows[] = {
        {"2026-11-24T10:00:00Z INFO api started server", 0, T0, "info", "api", "started server", 0},
        {"2026-11-24T10:00:00.5+01:00 WARNING billing disk at 91%", 0, T0 - HOUR + 500, "warn",
         "billing", "disk at 91%", 1},
        {"2026-11-24T10:00:00Z ERROR api boom", 0, T0, "error", "api", "boom", 0},
        {"2026-11-24T10:00:00Z ERR api boom", 0, T0, "error", "api", "boom", 1},
        {"2026-11-24T10:00:00Z Info api x", 0, T0, "info", "api", "x", 0},
        {"2026-11-24T10:00:00Z notice api x", 0, T0, "info", "api", "x", 1},
        {"2026-11-24T10:00:00Z CRITICAL db down", 0, T0, "fatal", "db", "down", 1},
        {"2026-11-24T10:00:00Z trace api t", 0, T0, "trace", "api", "t", 0},
        {"2026-11-24T10:00:00Z INFO api", 0, T0, "info", "api", "", 0},
        {"2026-11-24T10:00:00Z INFO api   ", 0, T0, "info", "api", "", 0},
        {"2026-11-24T10:00:00Z INFO api  two  spaces ", 0, T0, "info", "api", "two  spaces ", 0},
        {"2026-11-24T10:00:00Z\tINFO\tapi\tmsg", 0, T0, "info", "api", "msg", 0},
        {"2026-11-24T10:00:00Z  INFO   api msg", 0, T0, "info", "api", "msg", 0},
        {"2026-11-24T10:00:00 INFO api x", 3600, T0 - HOUR, "info", "api", "x", 0},
        {"2026-11-24T10:00 DEBUG api x", 0, T0, "debug", "api", "x", 0},
        {"2026-11-24T10:00:00Z INFO api héllo wörld", 0, T0, "info", "api", "héllo wörld", 0},
        /* not the format: the whole line is the message, with the level it states (level.c) */
        {"2026-11-24T10:00:00Z INFO", 0, 0, "info", "dflt", "2026-11-24T10:00:00Z INFO", 0},
        {"2026-11-24T10:00:00Z HELLO api x", 0, 0, NULL, "dflt", "2026-11-24T10:00:00Z HELLO api x", 0},
        {"2026-11-24T10:00:00Z eror api x", 0, 0, NULL, "dflt", "2026-11-24T10:00:00Z eror api x", 0},
        {"2026-11-24 10:00:00 INFO api x", 0, 0, "info", "dflt", "2026-11-24 10:00:00 INFO api x", 0},
        {"2026-11-24T10:00:00Zjunk INFO api x", 0, 0, "info", "dflt",
         "2026-11-24T10:00:00Zjunk INFO api x", 0},
        {"2026-13-24T10:00:00Z INFO api x", 0, 0, "info", "dflt", "2026-13-24T10:00:00Z INFO api x", 0},
        {"yesterday INFO api x", 0, 0, "info", "dflt", "yesterday INFO api x", 0},
        {"plain message", 0, 0, NULL, "dflt", "plain message", 0},
        {"INFO api x", 0, 0, "info", "dflt", "INFO api x", 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ingest_opts o = opts();
        o.tz_offset_s = rows[i].tz;
        batch *b = parse_ok(rows[i].line, &o);
        assert_int_equal(b->count, 1);
        const log_entry *e = &b->entries[0];
        int64_t want_ts = rows[i].ts ? rows[i].ts : RECEIVED;
        if (e->ts_ms != want_ts)
            fail_msg("row %zu: ts %lld want %lld", i, (long long)e->ts_ms, (long long)want_ts);
        if (rows[i].level)
            assert_string_equal(e->level, rows[i].level);
        else
            assert_null(e->level);
        assert_string_equal(e->service, rows[i].service);
        assert_string_equal(e->message, rows[i].message);
        assert_int_equal(e->message_len, strlen(rows[i].message));
        assert_null(e->attributes);
        assert_int_equal(e->line, 1);
        if (b->stats.level_normalized != rows[i].normalized)
            fail_msg("row %zu: level_normalized %ld", i, b->stats.level_normalized);
        long defaulted = rows[i].ts ? 0 : 1;
        assert_int_equal(b->stats.timestamp_defaulted, defaulted);
        assert_int_equal(b->stats.service_defaulted, defaulted);
        assert_int_equal(b->stats.lines_joined, 0);
        assert_int_equal(b->stats.truncated, 0);
        batch_free(b);
    }
}

static void test_service_token_limits(void **state)
{
    (void)state;
    ingest_opts o = opts();
    char line[512];
    char svc[130];
    memset(svc, 's', 128);
    svc[128] = '\0';
    snprintf(line, sizeof line, "2026-11-24T10:00:00Z INFO %s msg", svc);
    batch *b = parse_ok(line, &o);
    assert_string_equal(b->entries[0].service, svc);
    batch_free(b);
    /* 129 bytes is not a service: the line is kept whole */
    memset(svc, 's', 129);
    svc[129] = '\0';
    snprintf(line, sizeof line, "2026-11-24T10:00:00Z INFO %s msg", svc);
    b = parse_ok(line, &o);
    assert_string_equal(b->entries[0].service, "dflt");
    assert_string_equal(b->entries[0].message, line);
    batch_free(b);
    /* a control character or invalid UTF-8 in the service token: not the format */
    b = parse_ok("2026-11-24T10:00:00Z INFO a\x01pi msg", &o);
    assert_string_equal(b->entries[0].service, "dflt");
    batch_free(b);
    b = parse_ok("2026-11-24T10:00:00Z INFO a\xffpi msg", &o);
    assert_string_equal(b->entries[0].service, "dflt");
    assert_string_equal(b->entries[0].message, "2026-11-24T10:00:00Z INFO a\xEF\xBF\xBDpi msg");
    batch_free(b);
}

static void test_default_service(void **state)
{
    (void)state;
    ingest_opts o = opts();
    o.default_service = NULL;
    batch *b = parse_ok("hello\nworld\n2026-11-24T10:00:00Z INFO api x\n2026-11-24T10:00:00Z INFO api y", &o);
    assert_int_equal(b->count, 4);
    assert_string_equal(b->entries[0].service, "default");
    assert_string_equal(b->entries[1].service, "default");
    assert_string_equal(b->entries[2].service, "api");
    assert_string_equal(b->entries[3].service, "api");
    assert_int_equal(b->stats.service_defaulted, 2);
    assert_int_equal(b->stats.timestamp_defaulted, 2);
    batch_free(b);
}

static void test_lines_blank_crlf_numbers(void **state)
{
    (void)state;
    ingest_opts o = opts();
    batch *b = parse_ok("\xEF\xBB\xBF" "first\r\n\r\n   \r\nsecond\r\n\n\t\nthird\n", &o);
    assert_int_equal(b->count, 3);
    assert_string_equal(b->entries[0].message, "first");
    assert_int_equal(b->entries[0].line, 1);
    assert_string_equal(b->entries[1].message, "second");
    assert_int_equal(b->entries[1].line, 4);
    assert_string_equal(b->entries[2].message, "third");
    assert_int_equal(b->entries[2].line, 7);
    assert_int_equal(b->stats.lines_joined, 0);
    batch_free(b);

    b = parse_ok("", &o);
    assert_int_equal(b->count, 0);
    batch_free(b);
    b = parse_ok("\n\n \r\n", &o);
    assert_int_equal(b->count, 0);
    batch_free(b);
    /* no final newline; a lone \r in the middle of a line is kept */
    b = parse_ok("a\rb", &o);
    assert_int_equal(b->count, 1);
    assert_string_equal(b->entries[0].message, "a\rb");
    batch_free(b);
}

static void test_java_stack_trace(void **state)
{
    (void)state;
    ingest_opts o = opts();
    const char *body =
        "2026-11-24T10:00:00Z ERROR api request failed: java.lang.IllegalStateException: boom\n"
        "\tat com.example.Api.handle(Api.java:42)\n"
        "\tat com.example.Server.run(Server.java:7)\n"
        "Caused by: java.io.IOException: disk full\n"
        "\tat com.example.Disk.write(Disk.java:99)\n"
        "\t... 12 more\n"
        "at com.example.Unindented.frame(U.java:1)\n"
        "Suppressed: java.lang.Exception: also\n"
        "...\n"
        "    at com.example.Spaces.frame(S.java:3)\n"
        "2026-11-24T10:00:01Z INFO api recovered\n";
    batch *b = parse_ok(body, &o);
    assert_int_equal(b->count, 2);
    assert_string_equal(b->entries[0].message,
                        "request failed: java.lang.IllegalStateException: boom\n"
                        "\tat com.example.Api.handle(Api.java:42)\n"
                        "\tat com.example.Server.run(Server.java:7)\n"
                        "Caused by: java.io.IOException: disk full\n"
                        "\tat com.example.Disk.write(Disk.java:99)\n"
                        "\t... 12 more\n"
                        "at com.example.Unindented.frame(U.java:1)\n"
                        "Suppressed: java.lang.Exception: also\n"
                        "...\n"
                        "    at com.example.Spaces.frame(S.java:3)");
    assert_string_equal(b->entries[0].level, "error");
    assert_int_equal(b->entries[0].line, 1);
    assert_string_equal(b->entries[1].message, "recovered");
    assert_int_equal(b->entries[1].line, 11);
    assert_int_equal(b->stats.lines_joined, 9);
    batch_free(b);

    /* logback and .NET put the exception line between the message and the frames */
    b = parse_ok("2026-11-24T10:00:00Z ERROR api request failed\n"
                 "java.lang.IllegalStateException: boom\n"
                 "\tat com.acme.Api.handle(Api.java:42)\n"
                 "Caused by: java.io.IOException: disk gone\n"
                 "\t... 12 more\n"
                 "Unhandled exception\n"
                 "System.InvalidOperationException: bad state\n"
                 "   at Acme.Api.Handle() in Api.cs:line 42\n"
                 "com.acme.Outer$InnerError\n"
                 "at com.acme.Outer.run(Outer.java:1)\n",
                 &o);
    assert_int_equal(b->count, 2);
    assert_string_equal(b->entries[0].message, "request failed\n"
                                               "java.lang.IllegalStateException: boom\n"
                                               "\tat com.acme.Api.handle(Api.java:42)\n"
                                               "Caused by: java.io.IOException: disk gone\n"
                                               "\t... 12 more");
    assert_string_equal(b->entries[1].message, "Unhandled exception\n"
                                               "System.InvalidOperationException: bad state\n"
                                               "   at Acme.Api.Handle() in Api.cs:line 42\n"
                                               "com.acme.Outer$InnerError\n"
                                               "at com.acme.Outer.run(Outer.java:1)");
    assert_int_equal(b->stats.lines_joined, 8);
    batch_free(b);

    /* an exception line with no frame after it, or a name that is not an exception, stands alone */
    static const char *const alone[] = {
        "first\njava.lang.IllegalStateException: boom\nsecond\n",
        "first\njava.lang.IllegalStateException: boom",
        "first\ncom.acme.Thing: not an exception\n\tat x.y(Z.java:1)\n",
        "first\nIllegalStateException: no package\n\tat x.y(Z.java:1)\n",
        "first\njava.lang.Illegal StateException: space\n\tat x.y(Z.java:1)\n",
        "first\njava..IllegalStateException: empty segment\n\tat x.y(Z.java:1)\n",
        "first\n1java.IllegalStateException: digit\n\tat x.y(Z.java:1)\n",
    };
    for (size_t i = 0; i < sizeof alone / sizeof alone[0]; i++) {
        b = parse_ok(alone[i], &o);
        if (b->count < 2)
            fail_msg("row %zu: joined", i);
        assert_string_equal(b->entries[0].message, "first");
        batch_free(b);
    }

    /* a blank line inside a Java trace is skipped, the frame after it still joins */
    b = parse_ok("boom\n\n\tat a.b(C.java:1)\nnext", &o);
    assert_int_equal(b->count, 2);
    assert_string_equal(b->entries[0].message, "boom\n\tat a.b(C.java:1)");
    assert_string_equal(b->entries[1].message, "next");
    assert_int_equal(b->entries[1].line, 4);
    assert_int_equal(b->stats.lines_joined, 1);
    batch_free(b);
}

static void test_python_traceback(void **state)
{
    (void)state;
    ingest_opts o = opts();
    const char *body =
        "2026-11-24T10:00:00Z ERROR worker job failed\n"
        "Traceback (most recent call last):\n"
        "  File \"/app/job.py\", line 10, in run\n"
        "    data[key]\n"
        "\n"
        "KeyError: 'user'\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        "  File \"/app/job.py\", line 12, in run\n"
        "    raise ValueError('bad')\n"
        "ValueError: bad\n"
        "  \n"
        "The above exception was the direct cause of the following exception:\n"
        "\n"
        "Traceback (most recent call last):\n"
        "  File \"/app/main.py\", line 3, in <module>\n"
        "RuntimeError: job failed\n"
        "\n"
        "worker idle\n"
        "2026-11-24T10:00:05Z INFO worker next job\n";
    batch *b = parse_ok(body, &o);
    assert_int_equal(b->count, 3);
    assert_string_equal(b->entries[0].message,
                        "job failed\n"
                        "Traceback (most recent call last):\n"
                        "  File \"/app/job.py\", line 10, in run\n"
                        "    data[key]\n"
                        "\n"
                        "KeyError: 'user'\n"
                        "\n"
                        "During handling of the above exception, another exception occurred:\n"
                        "\n"
                        "Traceback (most recent call last):\n"
                        "  File \"/app/job.py\", line 12, in run\n"
                        "    raise ValueError('bad')\n"
                        "ValueError: bad\n"
                        "  \n"
                        "The above exception was the direct cause of the following exception:\n"
                        "\n"
                        "Traceback (most recent call last):\n"
                        "  File \"/app/main.py\", line 3, in <module>\n"
                        "RuntimeError: job failed");
    assert_int_equal(b->entries[0].line, 1);
    assert_string_equal(b->entries[0].service, "worker");
    assert_string_equal(b->entries[1].message, "worker idle");
    assert_int_equal(b->entries[1].line, 21);
    assert_null(b->entries[1].level);
    assert_string_equal(b->entries[2].message, "next job");
    assert_int_equal(b->entries[2].line, 22);
    assert_int_equal(b->stats.lines_joined, 18);
    batch_free(b);
}

static void test_traceback_edges(void **state)
{
    (void)state;
    ingest_opts o = opts();
    /* a traceback at the very start is an entry of its own; its exception line ends it */
    batch *b = parse_ok("Traceback (most recent call last):\n"
                        "  File \"x.py\", line 1, in <module>\n"
                        "ZeroDivisionError: division by zero\n"
                        "after\n",
                        &o);
    assert_int_equal(b->count, 2);
    assert_string_equal(b->entries[0].message, "Traceback (most recent call last):\n"
                                               "  File \"x.py\", line 1, in <module>\n"
                                               "ZeroDivisionError: division by zero");
    assert_int_equal(b->stats.lines_joined, 2);
    assert_string_equal(b->entries[1].message, "after");
    assert_int_equal(b->entries[1].line, 4);
    batch_free(b);

    /* a structured line never joins, even where the exception line is expected */
    b = parse_ok("oops\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
                 "2026-11-24T10:00:00Z INFO api fine\n",
                 &o);
    assert_int_equal(b->count, 2);
    assert_string_equal(b->entries[0].message,
                        "oops\nTraceback (most recent call last):\n  File \"x.py\", line 1");
    assert_string_equal(b->entries[1].message, "fine");
    batch_free(b);

    /* blank lines after a finished traceback, not followed by a chained one, are skipped */
    b = parse_ok("oops\nTraceback (most recent call last):\nE: x\n\n\nnext\n", &o);
    assert_int_equal(b->count, 2);
    assert_string_equal(b->entries[0].message, "oops\nTraceback (most recent call last):\nE: x");
    assert_string_equal(b->entries[1].message, "next");
    assert_int_equal(b->entries[1].line, 6);
    assert_int_equal(b->stats.lines_joined, 2);
    batch_free(b);

    /* continuation lines at the start of the body start an entry */
    b = parse_ok("  indented first\n\tmore\nCaused by: x\nplain\n", &o);
    assert_int_equal(b->count, 2);
    assert_string_equal(b->entries[0].message, "  indented first\n\tmore\nCaused by: x");
    assert_int_equal(b->stats.lines_joined, 2);
    assert_int_equal(b->stats.timestamp_defaulted, 2);
    batch_free(b);

    /* a structured line with an empty message and a trace after it */
    b = parse_ok("2026-11-24T10:00:00Z ERROR api\n\tat x.y(Z.java:1)\n", &o);
    assert_int_equal(b->count, 1);
    assert_string_equal(b->entries[0].message, "\n\tat x.y(Z.java:1)");
    batch_free(b);
}

static void test_truncation(void **state)
{
    (void)state;
    ingest_opts o = opts();
    o.max_line = 10;
    static const struct {
        const char *line;
        const char *want;
        long truncated;
    } rows[] = {
        {"0123456789", "0123456789", 0},        /* exactly max_line: kept */
        {"0123456789A", "0123456789", 1},
        {"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 1},
        {"a\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", "a\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 1},
        {"abcdefgh\xF0\x9F\x98\x80", "abcdefgh", 1},  /* 4-byte emoji does not fit */
        {"abcdef\xF0\x9F\x98\x80", "abcdef\xF0\x9F\x98\x80", 0},
        {"abcdefgh\xff\xff", "abcdefgh", 1},          /* U+FFFD (3 bytes) does not fit */
        {"2026-11-24T10:00:00Z INFO api 0123456789", "0123456789", 0},
        {"2026-11-24T10:00:00Z INFO api 0123456789xyz", "0123456789", 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        batch *b = parse_ok(rows[i].line, &o);
        assert_int_equal(b->count, 1);
        if (strcmp(b->entries[0].message, rows[i].want) != 0)
            fail_msg("row %zu: got \"%s\"", i, b->entries[0].message);
        assert_int_equal(b->entries[0].message_len, strlen(rows[i].want));
        assert_int_equal(b->stats.truncated, rows[i].truncated);
        batch_free(b);
    }
    /* joining past the cap counts once per entry, and the next entry is unaffected */
    batch *b = parse_ok("12345\n\tat a\n\tat b\n\tat c\nshort\n", &o);
    assert_int_equal(b->count, 2);
    assert_string_equal(b->entries[0].message, "12345\n\tat ");
    assert_string_equal(b->entries[1].message, "short");
    assert_int_equal(b->stats.truncated, 1);
    assert_int_equal(b->stats.lines_joined, 3);
    batch_free(b);
    /* a message that fills the cap exactly, then a joined line: longer, so counted */
    b = parse_ok("0123456789\n\tx\n", &o);
    assert_string_equal(b->entries[0].message, "0123456789");
    assert_int_equal(b->stats.truncated, 1);
    batch_free(b);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    ingest_opts o = opts();
    static const char body[] = "bad \xff\xfe byte \xc3 end\0nul\n"
                               "overlong \xc0\xaf surrogate \xed\xa0\x80 ok \xF0\x9F\x98\x80 \xF4\x90\x80\x80\n"
                               "cut \xE2\x82";
    batch *b = parse_ok_n(body, sizeof body - 1, &o);
    assert_int_equal(b->count, 3);
#define R "\xEF\xBF\xBD"
    assert_string_equal(b->entries[0].message, "bad " R R " byte " R " end" R "nul");
    assert_int_equal(b->entries[0].message_len, strlen(b->entries[0].message));
    assert_string_equal(b->entries[1].message,
                        "overlong " R R " surrogate " R R R " ok \xF0\x9F\x98\x80 " R R R R);
    assert_string_equal(b->entries[2].message, "cut " R R);
#undef R
    batch_free(b);
}

static void test_max_entries(void **state)
{
    (void)state;
    ingest_opts o = opts();
    o.max_entries = 3;
    /* exactly max_entries: fine; continuation lines do not count */
    batch *b = parse_ok("a\n\tat x\nb\n\nc\n  more\n", &o);
    assert_int_equal(b->count, 3);
    batch_free(b);

    b = batch_new(RECEIVED);
    ingest_error err;
    const char *body = "a\n\nb\nc\n\nd\ne\n";
    assert_int_equal(ingest_parse_text(body, strlen(body), &o, b, &err), -1);
    assert_int_equal(err.status, 413);
    assert_string_equal(err.code, "too_many_entries");
    assert_int_equal(err.line, 6);
    assert_int_equal(err.index, -1);
    assert_non_null(strstr(err.message, "line 6"));
    batch_free(b);
}

static void test_huge_stack_trace(void **state)
{
    (void)state;
    const char head[] = "2026-11-24T10:00:00Z ERROR api java.lang.StackOverflowError\n";
    const char frame[] = "\tat com.example.Recursive.call(Recursive.java:123)\n";
    const size_t nframes = 200000, flen = sizeof frame - 1;
    size_t len = sizeof head - 1 + nframes * flen + strlen("next line\n");
    char *body = malloc(len + 1);
    assert_non_null(body);
    char *p = body;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    for (size_t i = 0; i < nframes; i++, p += flen)
        memcpy(p, frame, flen);
    memcpy(p, "next line\n", 11);

    /* capped: one entry, cut at max_line, counted once */
    ingest_opts o = opts();
    o.max_line = 64 * 1024;
    batch *b = parse_ok_n(body, len, &o);
    assert_int_equal(b->count, 2);
    assert_int_equal(b->stats.lines_joined, (long)nframes);
    assert_int_equal(b->stats.truncated, 1);
    assert_int_equal(b->entries[0].message_len, 64 * 1024);
    assert_int_equal(b->entries[1].line, (long)nframes + 2);
    batch_free(b);

    /* uncapped (max_line 0): the whole trace, still one pass */
    o.max_line = 0;
    b = parse_ok_n(body, len, &o);
    assert_int_equal(b->count, 2);
    assert_int_equal(b->stats.truncated, 0);
    assert_int_equal(b->entries[0].message_len,
                     strlen("java.lang.StackOverflowError") + nframes * flen);
    assert_int_equal(strlen(b->entries[0].message), b->entries[0].message_len);
    batch_free(b);
    free(body);
}

static void test_no_pointer_into_body(void **state)
{
    (void)state;
    ingest_opts o = opts();
    char *body = strdup("2026-11-24T10:00:00Z INFO api hello\nplain");
    batch *b = parse_ok(body, &o);
    memset(body, 'X', strlen(body));
    free(body);
    assert_string_equal(b->entries[0].service, "api");
    assert_string_equal(b->entries[0].message, "hello");
    assert_string_equal(b->entries[1].message, "plain");
    batch_free(b);
}

static void test_content_type(void **state)
{
    (void)state;
    static const struct {
        const char *ct;
        ingest_format fmt;
    } rows[] = {
        {"text/plain", INGEST_TEXT},
        {"text/plain; charset=utf-8", INGEST_TEXT},
        {"Text/Plain;charset=UTF-8", INGEST_TEXT},
        {"  text/plain ; charset=utf-8", INGEST_TEXT},
        {"application/x-ndjson", INGEST_NDJSON},
        {"application/jsonl", INGEST_NDJSON},
        {"application/jsonlines", INGEST_NDJSON},
        {"application/x-jsonlines", INGEST_NDJSON},
        {"APPLICATION/X-NDJSON; charset=utf-8", INGEST_NDJSON},
        {"application/json", INGEST_JSON},
        {"application/json; charset=utf-8", INGEST_JSON},
        {"application/json\t;charset=utf-8", INGEST_JSON},
        {NULL, INGEST_UNKNOWN},
        {"", INGEST_UNKNOWN},
        {"text/html", INGEST_UNKNOWN},
        {"application/jsonx", INGEST_UNKNOWN},
        {"application/js", INGEST_UNKNOWN},
        {"text/plainx", INGEST_UNKNOWN},
        {"application/x-protobuf", INGEST_UNKNOWN},
        {"; text/plain", INGEST_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (ingest_format_from_content_type(rows[i].ct) != rows[i].fmt)
            fail_msg("row %zu \"%s\"", i, rows[i].ct ? rows[i].ct : "(null)");
    }
}

static void test_level_canonical(void **state)
{
    (void)state;
    static const struct {
        const char *word;
        const char *canon;
    } rows[] = {
        {"trace", "trace"},  {"TRACE", "trace"},       {"debug", "debug"},
        {"DBG", "debug"},    {"fine", "debug"},        {"FINER", "debug"},
        {"finest", "debug"}, {"info", "info"},         {"Information", "info"},
        {"informational", "info"}, {"NOTICE", "info"}, {"inf", "info"},
        {"warn", "warn"},    {"WARNING", "warn"},      {"wrn", "warn"},
        {"error", "error"},  {"ERR", "error"},         {"severe", "error"},
        {"fatal", "fatal"},  {"crit", "fatal"},        {"CRITICAL", "fatal"},
        {"alert", "fatal"},  {"emerg", "fatal"},       {"Emergency", "fatal"},
        {"panic", "fatal"},  {"FTL", "fatal"},
        {"eror", NULL},      {"", NULL},               {"verbose", NULL},
        {"infos", NULL},     {"warn ", NULL},          {"informationalx", NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *got = ingest_level_canonical(rows[i].word, strlen(rows[i].word));
        if (rows[i].canon ? !got || strcmp(got, rows[i].canon) != 0 : got != NULL)
            fail_msg("row %zu \"%s\": got %s", i, rows[i].word, got ? got : "NULL");
    }
    /* length-bounded: "info" inside a longer buffer */
    assert_string_equal(ingest_level_canonical("infoXYZ", 4), "info");
    assert_null(ingest_level_canonical(NULL, 0));
}

static void test_dispatch(void **state)
{
    (void)state;
    ingest_opts o = opts();
    ingest_error err;
    batch *b = batch_new(RECEIVED);
    assert_int_equal(ingest_parse(INGEST_TEXT, "a\nb", 3, &o, b, &err), 0);
    assert_int_equal(b->count, 2);
    assert_int_equal(ingest_parse(INGEST_NDJSON, "{\"msg\":\"c\"}", 11, &o, b, &err), 0);
    assert_int_equal(ingest_parse(INGEST_JSON, "[{\"msg\":\"d\"}]", 13, &o, b, &err), 0);
    assert_int_equal(b->count, 4);
    assert_string_equal(b->entries[3].message, "d");
    assert_int_equal(ingest_parse(INGEST_UNKNOWN, "x", 1, &o, b, &err), -1);
    assert_int_equal(err.status, 415);
    assert_string_equal(err.code, "unsupported_media_type");
    batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_service_token_limits),
        cmocka_unit_test(test_default_service),
        cmocka_unit_test(test_lines_blank_crlf_numbers),
        cmocka_unit_test(test_java_stack_trace),
        cmocka_unit_test(test_python_traceback),
        cmocka_unit_test(test_traceback_edges),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_max_entries),
        cmocka_unit_test(test_huge_stack_trace),
        cmocka_unit_test(test_no_pointer_into_body),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_level_canonical),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
