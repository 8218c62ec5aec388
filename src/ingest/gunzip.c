/*
 * gunzip.c — inflating `Content-Encoding: gzip` request bodies.
 *
 * Purpose: ingest_gunzip() turns a gzip (or zlib) body into the plain body
 * the parsers read. windowBits 15+32 lets zlib detect either header.
 * Concatenated gzip members (what `cat a.gz b.gz` and some shippers produce)
 * are inflated one after the other into one output.
 *
 * Threads: runs on the HTTP thread that received the body; no shared state.
 *
 * Invariants: the output never exceeds max_out bytes: the buffer grows by
 * doubling up to max_out + 1, and producing that one extra byte is the proof
 * that the body is too large, so a gzip bomb (1000:1 and more) costs at most
 * max_out + 1 bytes of memory and the time to inflate them. On any result
 * but GUNZIP_OK, *out is NULL and nothing is leaked. On GUNZIP_OK the buffer
 * has a NUL after its last byte (not counted in out_len), for convenience.
 *
 * Limits: max_out; input of any length (fed to zlib in chunks of at most
 * UINT_MAX bytes). Trailing bytes after the last member that are not another
 * member make the body corrupt; so does a truncated stream or empty input.
 */
#include "anomalog/ingest.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

gunzip_result ingest_gunzip(const char *in, size_t in_len, size_t max_out, char **out, size_t *out_len)
{
    z_stream zs;
    gunzip_result res = GUNZIP_OK;
    char *buf = NULL;
    size_t cap, used = 0, in_left = in_len;
    /* one byte beyond max_out shows the body is too large; one more holds the NUL */
    size_t limit = max_out >= SIZE_MAX - 2 ? SIZE_MAX - 2 : max_out + 1;

    *out = NULL;
    *out_len = 0;
    if (in_len == 0)
        return GUNZIP_CORRUPT;

    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 32) != Z_OK)
        return GUNZIP_NOMEM;

    cap = in_len < (SIZE_MAX / 4) ? in_len * 4 : SIZE_MAX;
    if (cap < 4096)
        cap = 4096;
    if (cap > limit)
        cap = limit;
    buf = malloc(cap + 1);
    if (!buf) {
        res = GUNZIP_NOMEM;
        goto out;
    }
    zs.next_in = (Bytef *)(uintptr_t)in; /* zlib does not write through next_in */

    for (;;) {
        if (zs.avail_in == 0 && in_left > 0) {
            uInt chunk = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
            zs.avail_in = chunk;
            in_left -= chunk;
        }
        if (used == cap) {
            if (cap >= limit) {
                res = GUNZIP_TOO_LARGE;
                goto out;
            }
            size_t ncap = cap > limit / 2 ? limit : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                res = GUNZIP_NOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t room = cap - used;
        uInt avail = room > UINT_MAX ? UINT_MAX : (uInt)room;
        zs.next_out = (Bytef *)buf + used;
        zs.avail_out = avail;
        int zr = inflate(&zs, Z_NO_FLUSH);
        used += avail - zs.avail_out;
        if (used > max_out) {
            res = GUNZIP_TOO_LARGE;
            goto out;
        }
        if (zr == Z_STREAM_END) {
            if (zs.avail_in == 0 && in_left == 0)
                break;
            /* another gzip member follows */
            if (inflateReset(&zs) != Z_OK) {
                res = GUNZIP_CORRUPT;
                goto out;
            }
            continue;
        }
        if (zr == Z_OK)
            continue;
        if (zr == Z_BUF_ERROR && zs.avail_out == 0)
            continue; /* no room: grow and go on */
        if (zr == Z_MEM_ERROR)
            res = GUNZIP_NOMEM;
        else
            res = GUNZIP_CORRUPT; /* Z_DATA_ERROR, Z_NEED_DICT, or input that ended early */
        goto out;
    }
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
    buf = NULL;
out:
    inflateEnd(&zs);
    free(buf);
    return res;
}
