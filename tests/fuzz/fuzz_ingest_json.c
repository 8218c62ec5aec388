/*
 * fuzz_ingest_json.c — libFuzzer harness for NDJSON and JSON bodies.
 *
 * The low bit of the first byte chooses the parser (0: NDJSON, 1: JSON), its
 * other bits a small max_line (so truncation is reached); the rest is the
 * body, in a buffer freed before the entries are checked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ingest_opts o = {
        .default_service = "fuzz",
        .received_ms = INT64_C(1795514400000),
        .tz_offset_s = -1800,
        .max_line = 1 + (size_t)(data[0] >> 1) * 8,
        .max_entries = 64,
    };
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    FUZZ_ASSERT(body != NULL);
    memcpy(body, data + 1, len);

    batch *b = batch_new(o.received_ms);
    FUZZ_ASSERT(b != NULL);
    ingest_error err;
    int rc = (data[0] & 1) ? ingest_parse_json(body, len, &o, b, &err)
                           : ingest_parse_ndjson(body, len, &o, b, &err);
    free(body);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc == 0)
        fuzz_check_batch(b, &o);
    else
        fuzz_check_error(&err);
    batch_free(b);
    return 0;
}
