/*
 * test_gunzip.c — inflating request bodies: gzip and zlib round trips,
 * concatenated members, the output cap (gzip bombs), corrupt input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "anomalog/ingest.h"

#define MB (1024 * 1024)

/* Compresses data with deflate; window_bits 15+16 = gzip, 15 = zlib, -15 = raw. */
static char *compress_buf(const void *data, size_t len, int window_bits, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 9, Z_DEFAULT_STRATEGY),
                     Z_OK);
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    char *out = malloc(cap);
    assert_non_null(out);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static char *gzip_buf(const void *data, size_t len, size_t *out_len)
{
    return compress_buf(data, len, 15 + 16, out_len);
}

/* Some text that compresses, of exactly len bytes. */
static char *sample(size_t len)
{
    static const char line[] = "2026-11-24T10:00:00Z INFO api request served in 12ms\n";
    char *s = malloc(len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = line[i % (sizeof line - 1)];
    s[len] = '\0';
    return s;
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const struct {
        int window_bits;
        size_t len;
    } rows[] = {
        {15 + 16, 0}, {15 + 16, 1}, {15 + 16, 1000}, {15 + 16, 300000},
        {15, 0},      {15, 1000},   {15, 300000},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *plain = sample(rows[i].len);
        size_t zlen, outlen = 12345;
        char *z = compress_buf(plain, rows[i].len, rows[i].window_bits, &zlen), *out = NULL;
        assert_int_equal(ingest_gunzip(z, zlen, MB, &out, &outlen), GUNZIP_OK);
        assert_non_null(out);
        assert_int_equal(outlen, rows[i].len);
        assert_memory_equal(out, plain, rows[i].len);
        assert_int_equal(out[outlen], '\0');
        free(out);
        free(z);
        free(plain);
    }
}

static void test_incompressible(void **state)
{
    (void)state;
    /* random bytes: output larger than any first guess of the buffer size */
    size_t len = 3 * MB;
    unsigned char *plain = malloc(len);
    assert_non_null(plain);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        plain[i] = (unsigned char)x;
    }
    size_t zlen, outlen;
    char *z = gzip_buf(plain, len, &zlen), *out;
    assert_int_equal(ingest_gunzip(z, zlen, 4 * MB, &out, &outlen), GUNZIP_OK);
    assert_int_equal(outlen, len);
    assert_memory_equal(out, plain, len);
    free(out);
    free(z);
    free(plain);
}

static void test_concatenated_members(void **state)
{
    (void)state;
    size_t la, lb;
    char *a = gzip_buf("first part\n", 11, &la), *b = gzip_buf("second part\n", 12, &lb);
    char *both = malloc(la + lb + la);
    assert_non_null(both);
    memcpy(both, a, la);
    memcpy(both + la, b, lb);
    memcpy(both + la + lb, a, la);
    char *out;
    size_t outlen;
    assert_int_equal(ingest_gunzip(both, la + lb + la, MB, &out, &outlen), GUNZIP_OK);
    assert_int_equal(outlen, 11 + 12 + 11);
    assert_memory_equal(out, "first part\nsecond part\nfirst part\n", outlen);
    free(out);
    /* the cap applies to the sum of the members */
    assert_int_equal(ingest_gunzip(both, la + lb + la, 30, &out, &outlen), GUNZIP_TOO_LARGE);
    assert_null(out);
    free(both);
    free(a);
    free(b);
}

static void test_cap_boundary(void **state)
{
    (void)state;
    size_t len = 100000, zlen, outlen;
    char *plain = sample(len), *z = gzip_buf(plain, len, &zlen), *out;
    assert_int_equal(ingest_gunzip(z, zlen, len, &out, &outlen), GUNZIP_OK);
    assert_int_equal(outlen, len);
    free(out);
    out = (char *)1;
    outlen = 99;
    assert_int_equal(ingest_gunzip(z, zlen, len - 1, &out, &outlen), GUNZIP_TOO_LARGE);
    assert_null(out);
    assert_int_equal(outlen, 0);
    assert_int_equal(ingest_gunzip(z, zlen, 0, &out, &outlen), GUNZIP_TOO_LARGE);
    free(z);
    free(plain);

    /* an empty payload fits a zero cap */
    z = gzip_buf("", 0, &zlen);
    assert_int_equal(ingest_gunzip(z, zlen, 0, &out, &outlen), GUNZIP_OK);
    assert_int_equal(outlen, 0);
    free(out);
    free(z);
}

static void test_gzip_bomb(void **state)
{
    (void)state;
    size_t len = 10 * MB, zlen, outlen;
    char *zeros = calloc(1, len);
    assert_non_null(zeros);
    char *z = gzip_buf(zeros, len, &zlen), *out = NULL;
    free(zeros);
    assert_true(zlen < 20 * 1024); /* about 1000:1 */
    assert_int_equal(ingest_gunzip(z, zlen, MB, &out, &outlen), GUNZIP_TOO_LARGE);
    assert_null(out);
    /* the same body under a cap it fits */
    assert_int_equal(ingest_gunzip(z, zlen, 10 * MB, &out, &outlen), GUNZIP_OK);
    assert_int_equal(outlen, len);
    free(out);
    free(z);
}

static void test_corrupt(void **state)
{
    (void)state;
    size_t len = 5000, zlen, outlen;
    char *plain = sample(len), *z = gzip_buf(plain, len, &zlen), *out;
    char *bad = malloc(zlen + 16);
    assert_non_null(bad);

    /* empty input */
    out = (char *)1;
    assert_int_equal(ingest_gunzip("", 0, MB, &out, &outlen), GUNZIP_CORRUPT);
    assert_null(out);
    /* not gzip at all */
    assert_int_equal(ingest_gunzip("hello world, plain text", 23, MB, &out, &outlen), GUNZIP_CORRUPT);
    assert_null(out);
    /* truncated streams, at several points */
    for (size_t cut = 1; cut < zlen; cut += zlen / 7 + 1) {
        if (ingest_gunzip(z, cut, MB, &out, &outlen) != GUNZIP_CORRUPT)
            fail_msg("truncated at %zu of %zu not detected", cut, zlen);
        assert_null(out);
    }
    assert_int_equal(ingest_gunzip(z, zlen - 1, MB, &out, &outlen), GUNZIP_CORRUPT);
    /* a damaged CRC-32 in the trailer */
    memcpy(bad, z, zlen);
    bad[zlen - 8] ^= 0x01;
    assert_int_equal(ingest_gunzip(bad, zlen, MB, &out, &outlen), GUNZIP_CORRUPT);
    /* a damaged length in the trailer */
    memcpy(bad, z, zlen);
    bad[zlen - 4] ^= 0x01;
    assert_int_equal(ingest_gunzip(bad, zlen, MB, &out, &outlen), GUNZIP_CORRUPT);
    /* a damaged magic number */
    memcpy(bad, z, zlen);
    bad[0] = 0x1e;
    assert_int_equal(ingest_gunzip(bad, zlen, MB, &out, &outlen), GUNZIP_CORRUPT);
    /* garbage after the member */
    memcpy(bad, z, zlen);
    memcpy(bad + zlen, "garbage", 7);
    assert_int_equal(ingest_gunzip(bad, zlen + 7, MB, &out, &outlen), GUNZIP_CORRUPT);
    assert_null(out);
    free(bad);
    free(z);

    /* raw deflate has no header: refused */
    z = compress_buf(plain, len, -15, &zlen);
    assert_int_equal(ingest_gunzip(z, zlen, MB, &out, &outlen), GUNZIP_CORRUPT);
    free(z);
    free(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),     cmocka_unit_test(test_incompressible),
        cmocka_unit_test(test_concatenated_members), cmocka_unit_test(test_cap_boundary),
        cmocka_unit_test(test_gzip_bomb),     cmocka_unit_test(test_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
