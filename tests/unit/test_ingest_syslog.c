/*
 * test_ingest_syslog.c — RFC 5424 and RFC 3164 lines: fields, PRI to
 * level, the missing year, lines that are not syslog, and the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/ingest.h"

#define RECEIVED INT64_C(1795514400000) /* 2026-11-24T10:00:00Z */

static ingest_opts opts(void)
{
    ingest_opts o = {.default_service = "dflt", .received_ms = RECEIVED, .max_line = 64, .max_entries = 100};
    return o;
}

static batch *ok_n(const char *body, size_t len, const ingest_opts *o)
{
    batch *b = batch_new(o->received_ms);
    ingest_error err;
    int rc = ingest_parse_syslog(body, len, o, b, &err);
    if (rc != 0)
        fail_msg("rc=%d %s", rc, err.message);
    return b;
}

static batch *ok(const char *body, const ingest_opts *o)
{
    return ok_n(body, strlen(body), o);
}

static void test_rfc5424(void **state)
{
    (void)state;
    ingest_opts o = opts();
    batch *b = ok("<165>1 2026-11-24T09:00:00.5Z web1 nginx 123 ID47 [ex@1 a=\"x]y\\\"\"][b@1] \xEF\xBB\xBFGET / 500\r\n"
                  "<11>1 - - - - - - no fields at all\n",
                  &o);
    assert_int_equal(b->count, 2);
    assert_int_equal(b->entries[0].ts_ms, RECEIVED - 3600000 + 500);
    assert_string_equal(b->entries[0].level, "info"); /* 165 = local4.notice */
    assert_string_equal(b->entries[0].service, "nginx");
    assert_string_equal(b->entries[0].message, "GET / 500");
    assert_string_equal(b->entries[0].attributes,
                        "{\"host\":\"web1\",\"pid\":\"123\",\"msgid\":\"ID47\",\"structured_data\":"
                        "\"[ex@1 a=\\\"x]y\\\\\\\"\\\"][b@1]\",\"facility\":\"local4\"}");
    assert_string_equal(b->entries[1].level, "error");
    assert_string_equal(b->entries[1].service, "dflt");
    assert_int_equal(b->entries[1].ts_ms, RECEIVED);
    assert_string_equal(b->entries[1].message, "no fields at all");
    batch_free(b);
}

static void test_rfc3164(void **state)
{
    (void)state;
    ingest_opts o = opts();
    o.tz_offset_s = 3600;
    batch *b = ok("<34>Nov 24 10:30:00 host1 sshd[42]: Failed password for bob\n"
                  "Dec 31 23:59:59 host2 cron: job ran\n"
                  "<13>Feb  3 01:02:03 h su no colon here\n",
                  &o);
    assert_int_equal(b->count, 3);
    assert_int_equal(b->entries[0].ts_ms, RECEIVED + 30 * 60000 - 3600000);
    assert_string_equal(b->entries[0].level, "fatal"); /* 34 = auth.crit */
    assert_string_equal(b->entries[0].service, "sshd");
    assert_string_equal(b->entries[0].message, "Failed password for bob");
    assert_string_equal(b->entries[0].attributes, "{\"pid\":\"42\",\"host\":\"host1\",\"facility\":\"auth\"}");
    /* December 31 is in the future on November 24: last year */
    assert_int_equal(b->entries[1].ts_ms, INT64_C(1767225599000) - 3600000);
    assert_null(b->entries[1].level);
    assert_string_equal(b->entries[1].service, "cron");
    assert_string_equal(b->entries[2].service, "su");
    assert_string_equal(b->entries[2].message, "no colon here");
    batch_free(b);
}

static void test_not_syslog_and_limits(void **state)
{
    (void)state;
    ingest_opts o = opts();
    batch *b = ok("just text\n<999>odd\n<14>free text after pri\n<14>1 notatime h a - - - m\n"
                  "<14>1 2026-11-24T10:00:00Z h a - - [unterminated\n",
                  &o);
    assert_int_equal(b->count, 5);
    assert_string_equal(b->entries[0].message, "just text");
    assert_null(b->entries[0].level);
    assert_string_equal(b->entries[1].message, "<999>odd");
    assert_string_equal(b->entries[2].message, "free text after pri");
    assert_string_equal(b->entries[2].level, "info");
    assert_string_equal(b->entries[3].message, "<14>1 notatime h a - - - m");
    assert_string_equal(b->entries[4].service, "dflt");
    batch_free(b);

    o.max_entries = 1;
    batch *b2 = batch_new(1);
    ingest_error err;
    assert_int_equal(ingest_parse_syslog("a\nb\n", 4, &o, b2, &err), -1);
    assert_int_equal(err.status, 413);
    batch_free(b2);
    o = opts();
    o.max_line = 4;
    b = ok("<14>1 - h app - - - abcdefgh\n", &o);
    assert_string_equal(b->entries[0].message, "abcd");
    assert_int_equal(b->stats.truncated, 1);
    batch_free(b);
    /* bad bytes are replaced, as in text/plain, and the replacement counts towards max_line */
    static const char bad[] = "<14>1 - h app - - - \xff\0\xc3\n<14>1 - h app - - - ab\xff\n";
    b = ok_n(bad, sizeof bad - 1, &o);
    assert_string_equal(b->entries[0].message, "\xEF\xBF\xBD");
    assert_int_equal(b->entries[0].message_len, 3);
    assert_string_equal(b->entries[1].message, "ab");
    assert_int_equal(b->stats.truncated, 2);
    batch_free(b);
    o = opts();
    b = ok_n(bad, sizeof bad - 1, &o);
    assert_string_equal(b->entries[0].message, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(b->entries[1].message, "ab\xEF\xBF\xBD");
    assert_int_equal(b->stats.truncated, 0);
    batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5424),
        cmocka_unit_test(test_rfc3164),
        cmocka_unit_test(test_not_syslog_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
