/*
 * test_timeutil.c — timestamps, epoch numbers, durations, sizes, zone offsets.
 *
 * Mostly tables: each row is an input and what must come out of it.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/timeutil.h"

#define T0 INT64_C(1795514400000) /* 2026-11-24T10:00:00Z */
#define HOUR INT64_C(3600000)
#define MIN INT64_C(60000)
#define TMAX INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

static void test_rfc3339_valid(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int tz;
        int64_t want;
        size_t consumed;
    } rows[] = {
        {"2026-11-24T10:00:00Z", 0, T0, 20},
        {"2026-11-24T10:00:00z", 0, T0, 20},
        {"2026-11-24t10:00:00Z", 0, T0, 20},
        {"2026-11-24 10:00:00Z", 0, T0, 20},
        {"2026-11-24T10:00:00.123Z", 0, T0 + 123, 24},
        {"2026-11-24T10:00:00.1Z", 0, T0 + 100, 22},
        {"2026-11-24T10:00:00.12Z", 0, T0 + 120, 23},
        {"2026-11-24T10:00:00.123456789Z", 0, T0 + 123, 30},
        {"2026-11-24T10:00:00.999999Z", 0, T0 + 999, 27},
        {"2026-11-24T10:00:00,5Z", 0, T0 + 500, 22},
        {"2026-11-24T10:00:00+02:00", 0, T0 - 2 * HOUR, 25},
        {"2026-11-24T10:00:00-05:30", 0, T0 + 5 * HOUR + 30 * MIN, 25},
        {"2026-11-24T10:00:00+0200", 0, T0 - 2 * HOUR, 24},
        {"2026-11-24T10:00:00-0530", 0, T0 + 5 * HOUR + 30 * MIN, 24},
        {"2026-11-24T10:00:00+05", 0, T0 - 5 * HOUR, 22},
        {"2026-11-24T10:00:00.250+01:00", 0, T0 - HOUR + 250, 29},
        {"2026-11-24T10:00:00-00:00", 3600, T0, 25},
        /* no zone: tz_offset_s east of UTC */
        {"2026-11-24T10:00:00", 0, T0, 19},
        {"2026-11-24T10:00:00", 3600, T0 - HOUR, 19},
        {"2026-11-24T10:00:00", -7200, T0 + 2 * HOUR, 19},
        {"2026-11-24T10:00:00.5", 3600, T0 - HOUR + 500, 21},
        {"2026-11-24T10:00", 0, T0, 16},
        {"2026-11-24T10:00Z", 0, T0, 17},
        /* the parse need not consume everything */
        {"2026-11-24T10:00:00Z INFO api up", 0, T0, 20},
        {"2026-11-24T10:00:00+0", 0, T0, 19},
        {"2026-11-24T10:00:00+25:00", 0, T0, 19},
        {"2026-11-24T10:00:00.", 0, T0, 19},
        {"2026-11-24T10:00:", 0, T0, 16},
        /* calendar */
        {"1970-01-01T00:00:00Z", 0, 0, 20},
        {"1969-12-31T23:59:59Z", 0, -1000, 20},
        {"2024-02-29T00:00:00Z", 0, INT64_C(1709164800000), 20},
        {"2000-02-29T12:34:56Z", 0, INT64_C(951827696000), 20},
        {"0001-01-01T00:00:00Z", 0, INT64_C(-62135596800000), 20},
        {"0000-01-01T00:00:00Z", 0, INT64_C(-62167219200000), 20},
        {"9999-12-31T23:59:59.999Z", 0, TMAX, 24},
        {"2026-12-31T23:59:60Z", 0, INT64_C(1798761600000), 20}, /* leap second */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t ms = 0;
        size_t used = 0;
        int rc = time_parse_rfc3339(rows[i].in, strlen(rows[i].in), rows[i].tz, &ms, &used);
        if (rc != 0 || ms != rows[i].want || used != rows[i].consumed)
            fail_msg("row %zu \"%s\": rc=%d ms=%lld (want %lld) used=%zu (want %zu)", i, rows[i].in,
                     rc, (long long)ms, (long long)rows[i].want, used, rows[i].consumed);
    }
    /* consumed may be NULL */
    int64_t ms;
    assert_int_equal(time_parse_rfc3339("2026-11-24T10:00:00Z", 20, 0, &ms, NULL), 0);
    assert_true(ms == T0);
}

static void test_rfc3339_invalid(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "",
        "yesterday",
        "2026-11-24",
        "2026-11-24T",
        "2026-11-24T10",
        "2026-11-24T10:0",
        "2026-11-24X10:00:00Z",
        "2026-11-24T 10:00:00Z",
        "26-11-24T10:00:00Z",
        "2026-1-24T10:00:00Z",
        "2026/11/24T10:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-11-24T24:00:00Z",
        "2026-11-24T10:60:00Z",
        "2026-11-24T10:00:61Z",
        "+2026-11-24T10:00:00Z",
        "1732442400",
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t ms = 42;
        if (time_parse_rfc3339(rows[i], strlen(rows[i]), 0, &ms, NULL) != -1)
            fail_msg("row %zu \"%s\" should not parse", i, rows[i]);
    }
    int64_t ms;
    assert_int_equal(time_parse_rfc3339(NULL, 0, 0, &ms, NULL), -1);
}

static void test_rfc3339_len_bounded(void **state)
{
    (void)state;
    /* the length bounds the parse: no read past len, zone outside it ignored */
    const char *s = "2026-11-24T10:00:00Z";
    int64_t ms;
    size_t used;
    assert_int_equal(time_parse_rfc3339(s, 19, 3600, &ms, &used), 0);
    assert_true(ms == T0 - HOUR);
    assert_int_equal(used, 19);
    assert_int_equal(time_parse_rfc3339(s, 15, 0, &ms, &used), -1);
    char buf[16];
    memcpy(buf, "2026-11-24T10:00", 16); /* not NUL-terminated */
    assert_int_equal(time_parse_rfc3339(buf, sizeof buf, 0, &ms, &used), 0);
    assert_true(ms == T0);
    assert_int_equal(used, 16);
}

static void test_epoch_number(void **state)
{
    (void)state;
    static const struct {
        double in;
        int rc;
        int64_t want;
    } rows[] = {
        {0, 0, 0},
        {1.5, 0, 1500},
        {1795514400, 0, T0},
        {1795514400.123, 0, T0 + 123},
        {1795514400.999, 0, T0 + 999},
        {1795514400123.0, 0, T0 + 123},
        {1795514400123.9, 0, T0 + 123},
        {1795514400123456.0, 0, T0 + 123},
        {1795514400123456789.0, 0, T0 + 123},
        {9999999999.0, 0, INT64_C(9999999999000)},     /* largest seconds (2286) */
        {1e10, -1, 0},                                 /* the gap: year 2286+ in s, 1970 in ms */
        {5e10, -1, 0},
        {99999999999.0, -1, 0},
        {100000000000.0, 0, INT64_C(100000000000)},   /* smallest milliseconds */
        {253402300800.0, 0, INT64_C(253402300800)},   /* year 10000 in s: impossible, so ms (1978) */
        {9999999999999.0, 0, INT64_C(9999999999999)},
        {1e13, -1, 0},
        {99999999999999.0, -1, 0},
        {100000000000000.0, 0, INT64_C(100000000000)}, /* smallest microseconds */
        {1e16, -1, 0},
        {1e17, 0, INT64_C(100000000000)},             /* smallest nanoseconds */
        {9.2e18, 0, INT64_C(9200000000000)},
        {1e19, -1, 0},                                /* beyond every range */
        {1e20, -1, 0},
        {2.5e20, -1, 0},
        {3e20, -1, 0},
        {-1, -1, 0},
        {-0.5, -1, 0},
        {NAN, -1, 0},
        {INFINITY, -1, 0},
        {-INFINITY, -1, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t ms = -42;
        int rc = time_from_epoch_number(rows[i].in, &ms);
        if (rc != rows[i].rc || (rc == 0 && ms != rows[i].want))
            fail_msg("row %zu (%.17g): rc=%d ms=%lld want rc=%d ms=%lld", i, rows[i].in, rc,
                     (long long)ms, rows[i].rc, (long long)rows[i].want);
    }
}

static void test_epoch_integer(void **state)
{
    (void)state;
    static const struct {
        int64_t in;
        int rc;
        int64_t want;
    } rows[] = {
        {0, 0, 0},
        {1795514400, 0, T0},
        {INT64_C(1795514400123), 0, T0 + 123},
        {INT64_C(1795514400123456), 0, T0 + 123},
        {INT64_C(1795514400123456789), 0, T0 + 123},
        {INT64_C(9999999999), 0, INT64_C(9999999999000)},
        {INT64_C(10000000000), -1, 0},
        {INT64_C(99999999999), -1, 0},
        {INT64_C(100000000000), 0, INT64_C(100000000000)},
        {INT64_C(253402300800), 0, INT64_C(253402300800)},
        {INT64_C(10000000000000), -1, 0},
        {INT64_C(10000000000000000), -1, 0},
        {INT64_MAX, 0, INT64_MAX / 1000000},
        {-1, -1, 0},
        {INT64_MIN, -1, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t ms = -42;
        int rc = time_from_epoch_integer(rows[i].in, &ms);
        if (rc != rows[i].rc || (rc == 0 && ms != rows[i].want))
            fail_msg("row %zu (%lld): rc=%d ms=%lld", i, (long long)rows[i].in, rc, (long long)ms);
    }
}

static void test_epoch_string(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t want;
    } rows[] = {
        {"0", 0, 0},
        {"1795514400", 0, T0},
        {"1795514400.5", 0, T0 + 500},
        {"1795514400.123", 0, T0 + 123},
        {"1795514400123", 0, T0 + 123},
        {"1795514400123456", 0, T0 + 123},
        {"1795514400123456789", 0, T0 + 123},
        {"1795514400123.5", 0, T0 + 123},
        {"", -1, 0},
        {"abc", -1, 0},
        {"-5", -1, 0},
        {"+5", -1, 0},
        {"1e9", -1, 0},
        {"12.", -1, 0},
        {".5", -1, 0},
        {"1795514400 ", -1, 0},
        {" 1795514400", -1, 0},
        {"1.2.3", -1, 0},
        {"12345678901234567890", -1, 0},
        {"10000000000", -1, 0},
        {"50000000000.5", -1, 0},
        {"253402300800", 0, INT64_C(253402300800)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t ms = -42;
        int rc = time_parse_epoch_string(rows[i].in, strlen(rows[i].in), &ms);
        if (rc != rows[i].rc || (rc == 0 && ms != rows[i].want))
            fail_msg("row %zu \"%s\": rc=%d ms=%lld", i, rows[i].in, rc, (long long)ms);
    }
}

static void test_within_reason(void **state)
{
    (void)state;
    const int64_t now = T0, ten_min = 600000;
    static const struct {
        int64_t ts;
        int want;
    } rows[] = {
        {T0, 1},
        {T0 + 600000, 1},             /* exactly max_future ahead */
        {T0 + 600001, 0},
        {T0 - 86400000LL * 365 * 20, 1}, /* 20 years ago: late, not unreasonable */
        {TIME_FLOOR_MS, 1},
        {TIME_FLOOR_MS - 1, 0},
        {0, 0},
        {INT64_C(253402300799999), 0}, /* 9999-12-31 */
        {INT64_C(253402300800), 0},    /* 1978 */
        {INT64_MIN, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (time_within_reason(rows[i].ts, now, ten_min, TIME_FLOOR_MS) != rows[i].want)
            fail_msg("row %zu (%lld): want %d", i, (long long)rows[i].ts, rows[i].want);
}

static void test_format(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } rows[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {T0 + 7, "2026-11-24T10:00:00.007Z"},
        {INT64_C(951827696000), "2000-02-29T12:34:56.000Z"},
        {TMAX, "9999-12-31T23:59:59.999Z"},
        {INT64_C(-62167219200000), "0000-01-01T00:00:00.000Z"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_ptr_equal(time_format_rfc3339(rows[i].ms, buf, sizeof buf), buf);
        assert_string_equal(buf, rows[i].want);
    }
    /* round trip over the whole range, with odd steps to hit every month and leap rule */
    for (int64_t ms = INT64_C(-62167219200000); ms <= TMAX; ms += INT64_C(86399999) * 97 + 13) {
        int64_t back;
        size_t used;
        time_format_rfc3339(ms, buf, sizeof buf);
        assert_int_equal(time_parse_rfc3339(buf, strlen(buf), 0, &back, &used), 0);
        assert_int_equal(used, strlen(buf));
        if (back != ms)
            fail_msg("%lld -> %s -> %lld", (long long)ms, buf, (long long)back);
    }
    /* a short buffer is cut, never overrun */
    char small[8];
    time_format_rfc3339(T0, small, sizeof small);
    assert_string_equal(small, "2026-11");
}

static void test_clocks(void **state)
{
    (void)state;
    assert_true(time_now_ms() > INT64_C(1700000000000));
    int64_t a = time_mono_ms(), b = time_mono_ms();
    assert_true(b >= a);
}

static void test_duration(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t want;
    } rows[] = {
        {"5m", 0, 5 * MIN},
        {"300s", 0, 300000},
        {"1h", 0, HOUR},
        {"2d", 0, 48 * HOUR},
        {"250ms", 0, 250},
        {"30", 0, 30000},
        {"1", 0, 1000},
        {"9223372036854775807ms", 0, INT64_MAX},
        {"", -1, 0},
        {"0", -1, 0},
        {"0s", -1, 0},
        {"-5m", -1, 0},
        {"+5m", -1, 0},
        {"5x", -1, 0},
        {"m", -1, 0},
        {"5 m", -1, 0},
        {" 5m", -1, 0},
        {"5m ", -1, 0},
        {"5M", -1, 0},
        {"5mm", -1, 0},
        {"1.5h", -1, 0},
        {"9223372036854775807s", -1, 0},
        {"9223372036854775s", 0, INT64_C(9223372036854775000)}, /* the largest whole second */
        {"9223372036854776s", -1, 0},
        {"106751991167d", 0, INT64_C(106751991167) * 24 * HOUR},
        {"106751991168d", -1, 0},
        {"99999999999999999999", -1, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int64_t ms = -42;
        int rc = duration_parse_ms(rows[i].in, &ms);
        if (rc != rows[i].rc || (rc == 0 && ms != rows[i].want))
            fail_msg("row %zu \"%s\": rc=%d ms=%lld", i, rows[i].in, rc, (long long)ms);
    }
    int64_t ms;
    assert_int_equal(duration_parse_ms(NULL, &ms), -1);
}

static void test_size(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        uint64_t want;
    } rows[] = {
        {"1", 0, 1},
        {"10B", 0, 10},
        {"10b", 0, 10},
        {"1K", 0, 1024},
        {"1KB", 0, 1024},
        {"1KiB", 0, 1024},
        {"1kib", 0, 1024},
        {"2M", 0, 2u << 20},
        {"2MB", 0, 2u << 20},
        {"2MiB", 0, 2u << 20},
        {"1G", 0, 1u << 30},
        {"3GB", 0, UINT64_C(3) << 30},
        {"1GiB", 0, 1u << 30},
        {"1 MB", 0, 1u << 20},
        {"17179869183G", 0, UINT64_C(17179869183) << 30},
        {"18446744073709551615", 0, UINT64_MAX},
        {"18446744073709551615b", 0, UINT64_MAX},
        {"18014398509481983K", 0, UINT64_C(18014398509481983) << 10},
        {"18014398509481984K", -1, 0},
        {"", -1, 0},
        {"0", -1, 0},
        {"0K", -1, 0},
        {"1T", -1, 0},
        {"K", -1, 0},
        {"-1", -1, 0},
        {"1.5M", -1, 0},
        {"1MBB", -1, 0},
        {"1 ", -1, 0},
        {"17179869184G", -1, 0},
        {"18446744073709551616", -1, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint64_t v = 42;
        int rc = size_parse(rows[i].in, &v);
        if (rc != rows[i].rc || (rc == 0 && v != rows[i].want))
            fail_msg("row %zu \"%s\": rc=%d v=%llu", i, rows[i].in, rc, (unsigned long long)v);
    }
    uint64_t v;
    assert_int_equal(size_parse(NULL, &v), -1);
}

static void test_tz_offset(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int want;
    } rows[] = {
        {"Z", 0, 0},
        {"z", 0, 0},
        {"UTC", 0, 0},
        {"utc", 0, 0},
        {"GMT", 0, 0},
        {"+02:00", 0, 7200},
        {"-05:30", 0, -19800},
        {"-0530", 0, -19800},
        {"+0200", 0, 7200},
        {"+05", 0, 18000},
        {"+00:00", 0, 0},
        {"-23:59", 0, -(23 * 3600 + 59 * 60)},
        {"", -1, 0},
        {"+2", -1, 0},
        {"+02:0", -1, 0},
        {"+02:000", -1, 0},
        {"+0200x", -1, 0},
        {"+02x00", -1, 0},
        {"+24:00", -1, 0},
        {"+02:60", -1, 0},
        {"EST", -1, 0},
        {"UTC+1", -1, 0},
        {"02:00", -1, 0},
        {"Zulu", -1, 0},
        {"ZZ", -1, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int off = 42;
        int rc = tz_offset_parse(rows[i].in, &off);
        if (rc != rows[i].rc || (rc == 0 && off != rows[i].want))
            fail_msg("row %zu \"%s\": rc=%d off=%d", i, rows[i].in, rc, off);
    }
    int off;
    assert_int_equal(tz_offset_parse(NULL, &off), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_valid),  cmocka_unit_test(test_rfc3339_invalid),
        cmocka_unit_test(test_rfc3339_len_bounded), cmocka_unit_test(test_epoch_number),
        cmocka_unit_test(test_epoch_integer),  cmocka_unit_test(test_epoch_string), cmocka_unit_test(test_within_reason),
        cmocka_unit_test(test_format),         cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_duration),       cmocka_unit_test(test_size),
        cmocka_unit_test(test_tz_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
