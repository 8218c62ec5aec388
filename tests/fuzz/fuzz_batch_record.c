/*
 * fuzz_batch_record.c — libFuzzer harness for batch_decode(), which reads the
 * ingest journal's records back at start-up (a file on disk that a crash may
 * have cut or a disk may have damaged).
 *
 * Whatever decodes must encode again to the very same bytes: nothing is
 * read past the record, nothing is dropped or invented.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/batch.h"

#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    batch *b;
    int rc = batch_decode(data, size, &b);
    FUZZ_ASSERT(rc == 0 || rc == -1 || rc == -2);
    if (rc != 0) {
        FUZZ_ASSERT(b == NULL);
        return 0;
    }
    batch_record r = {0};
    FUZZ_ASSERT(batch_encode(b, &r) == 0);
    FUZZ_ASSERT(r.len == size && memcmp(r.data, data, size) == 0);
    free(r.data);
    batch_free(b);
    return 0;
}
