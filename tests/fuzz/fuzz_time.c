/*
 * fuzz_time.c — libFuzzer harness for the parsers of timeutil.h.
 *
 * The input goes, as a NUL-terminated copy, through every parser. What
 * parses must be in range, and a parsed timestamp must survive a round trip
 * through time_format_rfc3339(). The first 8 bytes, read as a double, also
 * go through time_from_epoch_number() (and as an integer through
 * time_from_epoch_integer()); an epoch number read in any unit is before
 * 2286-11-21, the end of every unit's range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"

#include "fuzz_assert.h"

#define YEAR0_MS INT64_C(-62167219200000)
#define TMAX_MS INT64_C(253402300799999)
#define EPOCH_MAX_MS INT64_C(10000000000000) /* 1e10 s: 2286-11-20T17:46:40Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_ASSERT(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';

    int64_t ms;
    size_t used;
    int tz = size ? ((int)data[0] - 128) * 600 : 0;
    if (time_parse_rfc3339(s, size, tz, &ms, &used) == 0) {
        FUZZ_ASSERT(used >= 16 && used <= size);
        FUZZ_ASSERT(ms >= YEAR0_MS - 86400000 && ms <= TMAX_MS + 86400000);
        if (ms >= YEAR0_MS && ms <= TMAX_MS) {
            char buf[40];
            int64_t back;
            size_t back_used;
            time_format_rfc3339(ms, buf, sizeof buf);
            FUZZ_ASSERT(time_parse_rfc3339(buf, strlen(buf), 0, &back, &back_used) == 0);
            FUZZ_ASSERT(back == ms && back_used == strlen(buf));
        }
        /* the length bounds the parse */
        int64_t ms2;
        if (time_parse_rfc3339(s, used, tz, &ms2, NULL) == 0)
            FUZZ_ASSERT(ms2 == ms);
    }
    /* epoch units by non-overlapping magnitude ranges: whatever is read, it is at most 2286-11-20T17:46:40Z */
    if (time_parse_epoch_string(s, size, &ms) == 0)
        FUZZ_ASSERT(ms >= 0 && ms <= EPOCH_MAX_MS);
    int64_t d;
    if (duration_parse_ms(s, &d) == 0)
        FUZZ_ASSERT(d > 0);
    uint64_t bytes;
    if (size_parse(s, &bytes) == 0)
        FUZZ_ASSERT(bytes > 0);
    int off;
    if (tz_offset_parse(s, &off) == 0)
        FUZZ_ASSERT(off > -86400 && off < 86400);
    if (size >= 8) {
        double v;
        memcpy(&v, data, sizeof v);
        if (time_from_epoch_number(v, &ms) == 0)
            FUZZ_ASSERT(ms >= 0 && ms <= EPOCH_MAX_MS);
        int64_t iv;
        memcpy(&iv, data, sizeof iv);
        if (time_from_epoch_integer(iv, &ms) == 0)
            FUZZ_ASSERT(ms >= 0 && ms <= EPOCH_MAX_MS);
        /* within reason is a pure comparison: the receive time itself always is */
        int64_t now = INT64_C(1795514400000);
        FUZZ_ASSERT(time_within_reason(now, now, 600000, TIME_FLOOR_MS) == 1);
    }
    free(s);
    return 0;
}
