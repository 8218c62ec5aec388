/*
 * fuzz_ingest_loki.c — libFuzzer harness for Loki push bodies.
 *
 * The first byte chooses the decoder (0: JSON, 1: protobuf, 2: snappy then
 * protobuf, capped at 64 KiB decompressed) and, in its high bits, a small
 * max_line; the rest is the body, in a buffer freed before the entries are
 * checked.
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
        .max_line = 1 + (size_t)(data[0] >> 2) * 8,
        .max_entries = 64,
    };
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    FUZZ_ASSERT(body != NULL);
    memcpy(body, data + 1, len);
    int mode = data[0] & 3;
    if (mode == 2) {
        char *out = NULL;
        size_t olen = 0;
        gunzip_result r = ingest_unsnappy(body, len, 65536, &out, &olen);
        free(body);
        FUZZ_ASSERT(r == GUNZIP_OK || r == GUNZIP_CORRUPT || r == GUNZIP_TOO_LARGE);
        FUZZ_ASSERT((r == GUNZIP_OK) == (out != NULL));
        if (!out)
            return 0;
        FUZZ_ASSERT(olen <= 65536);
        body = out;
        len = olen;
    }

    batch *b = batch_new(o.received_ms);
    FUZZ_ASSERT(b != NULL);
    ingest_error err;
    int rc = mode == 0 ? ingest_parse_loki_json(body, len, &o, b, &err) : ingest_parse_loki_proto(body, len, &o, b, &err);
    free(body);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc == 0)
        fuzz_check_batch(b, &o);
    else
        fuzz_check_error(&err);
    batch_free(b);
    return 0;
}
