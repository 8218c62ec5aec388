/*
 * timeutil.c — timestamps, durations, sizes and zone offsets.
 *
 * Purpose: turn what shippers send (RFC 3339 strings, epoch numbers in
 * seconds, milliseconds, microseconds or nanoseconds) into milliseconds since
 * the Unix epoch, and print them back as RFC 3339 for the API. It also parses
 * the human-friendly durations ("5m"), sizes ("10MiB") and zone offsets
 * ("+02:00") used by the configuration.
 *
 * Threads: every function is pure (no TZ, no locale, no static state), so any
 * thread may call any of them at any time.
 *
 * Invariants: calendar arithmetic is done here with the proleptic Gregorian
 * days-from-civil algorithm, never with mktime()/timegm(), so the result does
 * not depend on the process environment. Numbers are parsed by hand (no
 * strtod), so a locale's decimal comma never changes a result.
 *
 * Limits: accepted years are 0000..9999. Epoch numbers are read by magnitude
 * in ranges that cannot overlap for dates after 2000 (epoch_unit); one in a
 * gap between the ranges, or beyond them, is refused. Whether a date is
 * within reason (not far ahead of its receive time, not before a floor) is
 * time_within_reason's question, asked by the ingest side. Fractions of a second are kept to the millisecond
 * (truncated, never rounded up into the next second).
 */
#include "anomalog/timeutil.h"
#include "anomalog/tzone.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* 9999-12-31T23:59:59.999Z */
#define TIME_MAX_MS INT64_C(253402300799999)

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly n digits at s[*pos]; advances *pos. -1 when they are not there. */
static int take_digits(const char *s, size_t len, size_t *pos, int n, int *out)
{
    int v = 0;
    if (len - *pos < (size_t)n)
        return -1;
    for (int i = 0; i < n; i++) {
        char c = s[*pos + (size_t)i];
        if (!is_digit(c))
            return -1;
        v = v * 10 + (c - '0');
    }
    *pos += (size_t)n;
    *out = v;
    return 0;
}

/*
 * Reads a zone at s[*pos]: Z, +hh, +hh:mm, +hhmm (or -). Advances *pos over
 * what it used. Returns 1 when a zone was read, 0 when none is there.
 */
static int take_zone(const char *s, size_t len, size_t *pos, int *offset_s)
{
    size_t p = *pos;
    if (p >= len)
        return 0;
    if (s[p] == 'Z' || s[p] == 'z') {
        *offset_s = 0;
        *pos = p + 1;
        return 1;
    }
    if (s[p] != '+' && s[p] != '-')
        return 0;
    int sign = s[p] == '-' ? -1 : 1, hh, mm = 0;
    p++;
    if (take_digits(s, len, &p, 2, &hh) < 0 || hh > 23)
        return 0;
    if (p < len && s[p] == ':') {
        size_t q = p + 1;
        if (take_digits(s, len, &q, 2, &mm) == 0) {
            p = q;
        } else {
            mm = 0;
        }
    } else if (p + 1 < len && is_digit(s[p]) && is_digit(s[p + 1])) {
        take_digits(s, len, &p, 2, &mm);
    }
    if (mm > 59)
        return 0;
    *offset_s = sign * (hh * 3600 + mm * 60);
    *pos = p;
    return 1;
}

int time_parse_rfc3339(const char *s, size_t len, int tz_offset_s, int64_t *ms, size_t *consumed)
{
    size_t p = 0;
    int year, mon, day, hh, mi, ss = 0, frac_ms = 0, zone;

    if (!s)
        return -1;
    if (take_digits(s, len, &p, 4, &year) < 0 || p >= len || s[p++] != '-' ||
        take_digits(s, len, &p, 2, &mon) < 0 || p >= len || s[p++] != '-' ||
        take_digits(s, len, &p, 2, &day) < 0)
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || (unsigned)day > days_in_month(year, (unsigned)mon))
        return -1;
    if (p >= len || (s[p] != 'T' && s[p] != 't' && s[p] != ' '))
        return -1;
    p++;
    if (take_digits(s, len, &p, 2, &hh) < 0 || p >= len || s[p++] != ':' ||
        take_digits(s, len, &p, 2, &mi) < 0)
        return -1;
    if (hh > 23 || mi > 59)
        return -1;
    if (p < len && s[p] == ':') {
        size_t q = p + 1;
        if (take_digits(s, len, &q, 2, &ss) == 0) {
            if (ss > 60) /* 60: a leap second, counted into the next minute */
                return -1;
            p = q;
            /* ISO 8601 allows a comma as well as a dot before the fraction */
            if (p + 1 < len && (s[p] == '.' || s[p] == ',') && is_digit(s[p + 1])) {
                int ndig = 0;
                p++;
                while (p < len && is_digit(s[p])) {
                    if (ndig < 3)
                        frac_ms = frac_ms * 10 + (s[p] - '0');
                    ndig++;
                    p++;
                }
                for (; ndig < 3; ndig++)
                    frac_ms *= 10;
            }
        } else {
            ss = 0;
        }
    }
    int named = 0;
    if (!take_zone(s, len, &p, &zone)) {
        zone = tz_offset_s;
        named = tz_offset_s == TZONE_NAMED; /* an IANA zone: its offset depends on the date (tzone.c) */
    }

    int64_t days = days_from_civil(year, (unsigned)mon, (unsigned)day);
    int64_t local = days * 86400 + hh * 3600 + mi * 60 + ss;
    if (named)
        zone = tzone_offset_for_local(local);
    int64_t secs = local - zone;
    *ms = secs * 1000 + frac_ms;
    if (consumed)
        *consumed = p;
    return 0;
}

/*
 * The unit of an epoch number, by magnitude: seconds below 1e10 (2286-11-20),
 * milliseconds in [1e11, 1e13), microseconds in [1e14, 1e16), nanoseconds in
 * [1e17, 1e19). Each unit reads the years 1973..2286 and the gaps between
 * them hold no date of the years 2000..2286 in any unit, so no sane date can
 * be read two ways; a number in a gap (5e10: year 3554 in seconds, 1971 in
 * milliseconds) or beyond 1e19 (1e20) is refused. 253402300800 (year 10000
 * in seconds, beyond what a date may be) is milliseconds: 1978, which the
 * ingest side then finds before its floor (time_within_reason). Returns the divisor that makes milliseconds
 * (0.001 for seconds), or 0 when refused.
 */
static double epoch_unit(double v)
{
    if (v < 1e10)
        return 0.001;
    if (v >= 1e11 && v < 1e13)
        return 1;
    if (v >= 1e14 && v < 1e16)
        return 1e3;
    if (v >= 1e17 && v < 1e19)
        return 1e6;
    return 0;
}

int time_from_epoch_number(double v, int64_t *ms)
{
    if (!isfinite(v) || v < 0)
        return -1;
    double unit = epoch_unit(v);
    if (unit == 0)
        return -1;
    double x = unit < 1 ? v * 1000.0 : v / unit;
    /* the small epsilon keeps 1.123 s from becoming 1122 ms through binary rounding */
    x = floor(x + 1e-3);
    if (x > (double)TIME_MAX_MS)
        return -1;
    *ms = (int64_t)x;
    return 0;
}

int time_from_epoch_integer(int64_t v, int64_t *ms)
{
    if (v < 0)
        return -1;
    double unit = epoch_unit((double)v); /* exact enough: the bounds are powers of ten far from a double's ulp */
    if (unit == 0)
        return -1;
    int64_t r = unit < 1 ? v * 1000 : v / (int64_t)unit;
    if (r > TIME_MAX_MS)
        return -1;
    *ms = r;
    return 0;
}

int time_within_reason(int64_t ts_ms, int64_t received_ms, int64_t max_future_ms, int64_t floor_ms)
{
    return ts_ms >= floor_ms && ts_ms - received_ms <= max_future_ms;
}

int time_parse_epoch_string(const char *s, size_t len, int64_t *ms)
{
    size_t p = 0;
    int64_t ip = 0;
    if (!s || len == 0)
        return -1;
    while (p < len && is_digit(s[p])) {
        int dgt = s[p] - '0';
        if (ip > (INT64_MAX - dgt) / 10)
            return -1;
        ip = ip * 10 + dgt;
        p++;
    }
    if (p == 0)
        return -1;
    if (p == len)
        return time_from_epoch_integer(ip, ms);
    if (s[p] != '.' || p + 1 == len)
        return -1;
    double frac = 0, scale = 1;
    for (p++; p < len; p++) {
        if (!is_digit(s[p]))
            return -1;
        if (scale > 1e-15) {
            scale /= 10;
            frac += (s[p] - '0') * scale;
        }
    }
    return time_from_epoch_number((double)ip + frac, ms);
}

char *time_format_rfc3339(int64_t ms, char *buf, size_t buflen)
{
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    unsigned msec = (unsigned)(rem % 1000), sec = (unsigned)(rem / 1000);
    if (buflen)
        snprintf(buf, buflen, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, m, d,
                 sec / 3600, sec / 60 % 60, sec % 60, msec);
    return buf;
}

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads a run of decimal digits as an unsigned value; -1 on none or overflow. */
static int take_uint(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;
    if (!is_digit(*s))
        return -1;
    for (; is_digit(*s); s++) {
        unsigned dgt = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return -1;
        v = v * 10 + dgt;
    }
    *sp = s;
    *out = v;
    return 0;
}

/* A unit a number may carry, and what it multiplies the number by. */
typedef struct unit_factor {
    const char *name;
    uint64_t factor;
} unit_factor;

/* v times the factor of the unit named exactly `name` in units[0..n): 0, or -1 when none is named so or the
 * product passes max. */
static int scale_by_unit(uint64_t v, const char *name, const unit_factor *units, size_t n, uint64_t max,
                         uint64_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, units[i].name) == 0) {
            if (v > max / units[i].factor)
                return -1;
            *out = v * units[i].factor;
            return 0;
        }
    }
    return -1;
}

int duration_parse_ms(const char *s, int64_t *ms)
{
    static const unit_factor units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    };
    uint64_t v, scaled;
    if (!s || take_uint(&s, &v) < 0 || v == 0 ||
        scale_by_unit(v, s, units, sizeof units / sizeof units[0], INT64_MAX, &scaled) < 0)
        return -1;
    *ms = (int64_t)scaled;
    return 0;
}

int size_parse(const char *s, uint64_t *bytes)
{
    static const unit_factor units[] = {
        {"", 1},        {"b", 1},        {"k", 1 << 10},  {"kb", 1 << 10}, {"kib", 1 << 10}, {"m", 1 << 20},
        {"mb", 1 << 20}, {"mib", 1 << 20}, {"g", 1 << 30}, {"gb", 1 << 30}, {"gib", 1 << 30},
    };
    uint64_t v;
    if (!s || take_uint(&s, &v) < 0 || v == 0)
        return -1;
    if (*s == ' ') {
        while (*s == ' ')
            s++;
        if (!*s) /* a space is only allowed before a unit */
            return -1;
    }
    char unit[4];
    size_t n = strlen(s);
    if (n >= sizeof unit)
        return -1;
    for (size_t i = 0; i < n; i++)
        unit[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    unit[n] = '\0';
    return scale_by_unit(v, unit, units, sizeof units / sizeof units[0], UINT64_MAX, bytes);
}

int tz_offset_parse(const char *s, int *offset_s)
{
    if (!s)
        return -1;
    size_t len = strlen(s), p = 0;
    if ((len == 3 && (strncasecmp(s, "UTC", 3) == 0 || strncasecmp(s, "GMT", 3) == 0))) {
        *offset_s = 0;
        return 0;
    }
    int off;
    if (s[0] != 'Z' && s[0] != 'z') {
        /* a numeric zone needs its minutes written out or none at all: "+02", "+02:00", "+0200" */
        if (len != 3 && len != 5 && len != 6)
            return -1;
        if (len == 6 && s[3] != ':')
            return -1;
    }
    if (!take_zone(s, len, &p, &off) || p != len)
        return -1;
    *offset_s = off;
    return 0;
}
