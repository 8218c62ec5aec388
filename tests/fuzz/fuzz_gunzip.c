/*
 * fuzz_gunzip.c — libFuzzer harness for ingest_gunzip().
 *
 * Each input is inflated as-is under a 1 MiB cap (checking the cap and the
 * NUL after the output), then compressed with zlib and inflated back, which
 * must give the input exactly (under a cap of exactly its size).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "anomalog/ingest.h"

#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const size_t cap = 1024 * 1024;
    char *out = NULL;
    size_t out_len = 0;
    gunzip_result r = ingest_gunzip((const char *)data, size, cap, &out, &out_len);
    if (r == GUNZIP_OK) {
        FUZZ_ASSERT(out != NULL && out_len <= cap && out[out_len] == '\0');
        free(out);
    } else {
        FUZZ_ASSERT(out == NULL && out_len == 0);
        FUZZ_ASSERT(r == GUNZIP_TOO_LARGE || r == GUNZIP_CORRUPT);
    }

    /* round trip */
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    FUZZ_ASSERT(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) ==
                Z_OK);
    size_t zcap = deflateBound(&zs, (uLong)size);
    unsigned char *z = malloc(zcap);
    FUZZ_ASSERT(z != NULL);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)size;
    zs.next_out = z;
    zs.avail_out = (uInt)zcap;
    FUZZ_ASSERT(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    size_t zlen = zs.total_out;
    deflateEnd(&zs);
    r = ingest_gunzip((const char *)z, zlen, size, &out, &out_len);
    FUZZ_ASSERT(r == GUNZIP_OK && out_len == size && memcmp(out, data, size) == 0);
    free(out);
    if (size > 0) {
        r = ingest_gunzip((const char *)z, zlen, size - 1, &out, &out_len);
        FUZZ_ASSERT(r == GUNZIP_TOO_LARGE && out == NULL);
    }
    free(z);
    return 0;
}
