/*
 * tzone.c — a named IANA zone for timestamps without an offset, as a table of
 * the zone's UTC offset changes from 1900 to 2200.
 *
 * Purpose: `--timezone Europe/Berlin` must read "2026-07-01 12:00:00" as
 * 10:00Z and "2026-01-15 12:00:00" as 11:00Z. The system's tzdata knows the
 * rules; glibc reads them when TZ names the zone. tzone_load() sets TZ for the
 * duration of the load only, walks the years in 6-hour steps with
 * localtime_r() and, wherever tm_gmtoff changes, finds the exact second by
 * bisection; the result is a sorted table of (utc start, offset) that needs
 * no TZ, no locale and no lock afterwards.
 *
 * Threads: tzone_load() runs once, from the configuration, before any thread
 * starts (it changes the environment); the table is read-only afterwards and
 * the lookups are pure reads, safe on any thread.
 *
 * Invariants: starts[] is strictly increasing; offsets[i] is in force from
 * starts[i] to starts[i + 1]; offsets[0] also before starts[0], the last one
 * after it.
 *
 * Limits: TZONE_MAX_CHANGES changes (a real zone has under 400 in these 300
 * years); two changes less than 6 hours apart would be seen as one (none in
 * tzdata). Times outside 1900..2200 use the first or last offset.
 */
#include "anomalog/tzone.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TZONE_MAX_CHANGES 2048
#define TZONE_STEP_S (6 * 3600)
#define TZONE_FROM_S (-2208988800LL) /* 1900-01-01 */
#define TZONE_TO_S (7258118400LL)    /* 2200-01-01 */
#define TZONE_MAX_OFFSET_S (26 * 3600)

static char tzone_name_buf[256];
static int64_t tzone_starts[TZONE_MAX_CHANGES];
static int tzone_offsets[TZONE_MAX_CHANGES];
static size_t tzone_n;

static long tzone_gmtoff(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm))
        return 0;
    return tm.tm_gmtoff;
}

int tzone_load(const char *name, char *err, size_t errlen)
{
    size_t len = name ? strlen(name) : 0;
    if (!len || len >= sizeof tzone_name_buf || name[0] == '/' || name[0] == ':' || strstr(name, "..")) {
        snprintf(err, errlen, "\"%s\" is not a time zone name (expected e.g. Europe/Berlin)", name ? name : "");
        return -1;
    }
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    struct stat sb;
    FILE *f = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? fopen(path, "rb") : NULL;
    char magic[4] = {0};
    int ok = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    if (f)
        fclose(f);
    if (!ok) {
        snprintf(err, errlen, "unknown time zone \"%s\" (no tzdata file %s%s)", name, path,
                 f ? "" : "; is the tzdata package installed?");
        return -1;
    }
    /* TZ names the zone only while the table is built; the process's own TZ is put back */
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    char tzval[sizeof path + 1];
    snprintf(tzval, sizeof tzval, ":%s", path);
    setenv("TZ", tzval, 1);
    tzset();
    size_t n = 0;
    long prev = tzone_gmtoff(TZONE_FROM_S);
    tzone_starts[n] = TZONE_FROM_S;
    tzone_offsets[n++] = (int)prev;
    for (int64_t t = TZONE_FROM_S + TZONE_STEP_S; t <= TZONE_TO_S && n < TZONE_MAX_CHANGES; t += TZONE_STEP_S) {
        long cur = tzone_gmtoff(t);
        if (cur == prev)
            continue;
        int64_t lo = t - TZONE_STEP_S, hi = t; /* offset prev at lo, cur at hi */
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (tzone_gmtoff(mid) == prev)
                lo = mid;
            else
                hi = mid;
        }
        tzone_starts[n] = hi;
        tzone_offsets[n++] = (int)cur;
        prev = cur;
    }
    if (saved) {
        setenv("TZ", saved, 1);
        free(saved);
    } else {
        unsetenv("TZ");
    }
    tzset();
    tzone_n = n;
    snprintf(tzone_name_buf, sizeof tzone_name_buf, "%s", name);
    return 0;
}

const char *tzone_name(void)
{
    return tzone_name_buf;
}

/* Index of the last change at or before UTC second t (0 before the first). */
static size_t tzone_index(int64_t t)
{
    size_t lo = 0, hi = tzone_n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tzone_starts[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int tzone_offset_at_utc(int64_t t)
{
    return tzone_n ? tzone_offsets[tzone_index(t)] : 0;
}

int tzone_offset_for_local(int64_t local)
{
    if (!tzone_n)
        return 0;
    /* the changes that can matter are within the largest offset of the wall-clock time */
    size_t i = tzone_index(local - TZONE_MAX_OFFSET_S), last = tzone_index(local + TZONE_MAX_OFFSET_S);
    for (size_t k = i; k <= last; k++) {
        int64_t from = k == 0 ? INT64_MIN : tzone_starts[k];
        int64_t to = k + 1 < tzone_n ? tzone_starts[k + 1] : INT64_MAX;
        int64_t u = local - tzone_offsets[k];
        if (u >= from && u < to)
            return tzone_offsets[k]; /* the first interval that holds it: an ambiguous time is read as the first */
    }
    /* not a time of this zone (clocks skipped it): the offset before the change that skipped it */
    for (size_t k = i + 1; k <= last; k++)
        if (local < tzone_starts[k] + tzone_offsets[k])
            return tzone_offsets[k - 1];
    return tzone_offsets[last];
}
