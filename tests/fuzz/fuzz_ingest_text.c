/*
 * fuzz_ingest_text.c — libFuzzer harness for text/plain bodies.
 *
 * The first two bytes choose max_line (1..1021) and max_entries (1..256) so
 * the fuzzer reaches the caps; the rest is the body, copied into a buffer of
 * its own and freed before the entries are checked, so any pointer kept into
 * the body is a use-after-free ASan reports.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    ingest_opts o = {
        .default_service = "fuzz",
        .received_ms = INT64_C(1795514400000),
        .tz_offset_s = 3600,
        .max_line = 1 + (size_t)data[0] * 4,
        .max_entries = 1 + (size_t)data[1],
    };
    size_t len = size - 2;
    char *body = malloc(len ? len : 1);
    FUZZ_ASSERT(body != NULL);
    memcpy(body, data + 2, len);

    batch *b = batch_new(o.received_ms);
    FUZZ_ASSERT(b != NULL);
    ingest_error err;
    int rc = ingest_parse_text(body, len, &o, b, &err);
    free(body);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc == 0)
        fuzz_check_batch(b, &o);
    else
        fuzz_check_error(&err);
    batch_free(b);
    return 0;
}
