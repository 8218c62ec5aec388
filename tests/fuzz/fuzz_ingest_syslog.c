/*
 * fuzz_ingest_syslog.c — libFuzzer harness for syslog lines (RFC 5424 and
 * RFC 3164). The first byte picks a small max_line and a zone offset; the
 * rest is the body, in a buffer freed before the entries are checked.
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
        .tz_offset_s = (data[0] & 1) ? -1800 : 3600,
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
    int rc = ingest_parse_syslog(body, len, &o, b, &err);
    free(body);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc == 0)
        fuzz_check_batch(b, &o);
    else
        fuzz_check_error(&err);
    batch_free(b);
    return 0;
}
