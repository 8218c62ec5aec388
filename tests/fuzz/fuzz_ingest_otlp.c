/*
 * fuzz_ingest_otlp.c — libFuzzer harness for OTLP logs bodies.
 *
 * The low bit of the first byte chooses the decoder (0: JSON, 1: protobuf),
 * its other bits a small max_line; the rest is the body, in a buffer freed
 * before the entries are checked. Rejections must be counted with a message.
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
    ingest_rejects rej;
    int rc = (data[0] & 1) ? ingest_parse_otlp_proto(body, len, &o, b, &err, &rej)
                           : ingest_parse_otlp_json(body, len, &o, b, &err, &rej);
    free(body);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc == 0) {
        fuzz_check_batch(b, &o);
        FUZZ_ASSERT(rej.count >= 0);
        FUZZ_ASSERT(rej.count == 0 || (rej.message[0] && utf8_valid(rej.message, strlen(rej.message))));
    } else {
        fuzz_check_error(&err);
    }
    batch_free(b);
    return 0;
}
