/*
 * pb.c — a bounded reader of the protobuf wire format, shared by the Loki
 * and OTLP decoders. No generated code: each decoder walks its own schema
 * with pb_next(), or pb_field() where it wants one repeated message field
 * and skips the rest. A reader never moves past its end; a varint is at most 10
 * bytes; a length-delimited field must fit in what remains; groups (wire
 * types 3 and 4, unused by these schemas) are refused.
 *
 * Threads: pure functions over caller-owned memory.
 */
#include "ingest/common.h"

int pb_varint(pb *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return -1;
        unsigned char byte = *r->p++;
        x |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

int pb_next(pb *r, uint32_t *field, int *wt, uint64_t *v, pb *sub)
{
    uint64_t key;
    if (pb_varint(r, &key) != 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    *field = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    switch (*wt) {
    case 0:
        return pb_varint(r, v);
    case 1:
        if (r->end - r->p < 8)
            return -1;
        *v = le(r->p, 8);
        r->p += 8;
        return 0;
    case 5:
        if (r->end - r->p < 4)
            return -1;
        *v = le(r->p, 4);
        r->p += 4;
        return 0;
    case 2: {
        uint64_t n;
        if (pb_varint(r, &n) != 0 || n > (uint64_t)(r->end - r->p))
            return -1;
        sub->p = r->p;
        sub->end = r->p + n;
        r->p += n;
        return 0;
    }
    default:
        return -1;
    }
}

int pb_field(pb *r, uint32_t want, pb *sub)
{
    uint32_t f;
    int wt;
    uint64_t v;
    while (r->p < r->end) {
        if (pb_next(r, &f, &wt, &v, sub) != 0)
            return -1;
        if (f == want && wt == 2)
            return 1;
    }
    return 0;
}
