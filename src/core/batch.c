/*
 * batch.c — a batch of parsed log entries and the arena that owns their strings.
 *
 * Threads: a batch belongs to one thread at a time: the HTTP thread that
 * parses it, or the writer that decoded it from its record. No locking here.
 *
 * The arena is a list of blocks; a request for more than a block's size gets
 * a block of its own. Nothing is freed before the whole batch is, which makes
 * parsing one body a run of pointer bumps instead of thousands of mallocs.
 */
#include "anomalog/batch.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK (64 * 1024)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, size;
    _Alignas(max_align_t) unsigned char data[];
} arena_block;

struct arena {
    arena_block *head;
};

batch *batch_new(int64_t received_ms)
{
    batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->mem = calloc(1, sizeof *b->mem);
    if (!b->mem) {
        free(b);
        return NULL;
    }
    b->received_ms = received_ms;
    return b;
}

void batch_free(batch *b)
{
    if (!b)
        return;
    arena_block *blk = b->mem->head;
    while (blk) {
        arena_block *next = blk->next;
        free(blk);
        blk = next;
    }
    free(b->mem);
    free(b->entries);
    free(b);
}

log_entry *batch_push(batch *b)
{
    if (b->count == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        log_entry *n = realloc(b->entries, ncap * sizeof *n);
        if (!n)
            return NULL;
        b->entries = n;
        b->cap = ncap;
    }
    log_entry *e = &b->entries[b->count++];
    memset(e, 0, sizeof *e);
    return e;
}

int batch_reserve(batch *b, size_t arena_bytes, size_t entries)
{
    if (entries > b->cap) {
        log_entry *n = realloc(b->entries, entries * sizeof *n);
        if (!n)
            return -1;
        b->entries = n;
        b->cap = entries;
    }
    if (!b->mem->head && arena_bytes) {
        arena_block *nb = malloc(sizeof *nb + arena_bytes);
        if (!nb)
            return -1;
        *nb = (arena_block){.next = NULL, .used = 0, .size = arena_bytes};
        b->mem->head = nb;
    }
    return 0;
}

void *batch_alloc(batch *b, size_t len)
{
    const size_t align = _Alignof(max_align_t);
    len = (len + align - 1) & ~(align - 1);
    arena_block *blk = b->mem->head;
    if (!blk || blk->size - blk->used < len) {
        size_t size = len > ARENA_BLOCK ? len : ARENA_BLOCK;
        arena_block *nb = malloc(sizeof *nb + size);
        if (!nb)
            return NULL;
        nb->used = 0;
        nb->size = size;
        if (blk && size > ARENA_BLOCK) {
            /* an oversized block goes behind the current one, which keeps its free space */
            nb->next = blk->next;
            blk->next = nb;
        } else {
            nb->next = blk;
            b->mem->head = nb;
        }
        blk = nb;
    }
    void *p = blk->data + blk->used;
    blk->used += len;
    return p;
}

char *batch_strndup(batch *b, const char *s, size_t len)
{
    char *p = batch_alloc(b, len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* ---- records --------------------------------------------------------------
 * Layout: i64 received_ms, u32 count, u8 has_idem, [idem], count × entry.
 *   idem:  str scope, str key, str endpoint, 32 bytes body_sha256, i32 status,
 *          nstr content_type, str body, i64 created_ms
 *   entry: i64 ts_ms, i64 line, nstr level, str service, str message, nstr attributes
 * str is a u32 length and the bytes; nstr is the same with UINT32_MAX for NULL.
 */

#define NSTR_NULL UINT32_MAX

static int rec_put(batch_record *r, const void *p, size_t n)
{
    if (r->cap - r->len < n) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap - r->len < n)
            cap *= 2;
        unsigned char *d = realloc(r->data, cap);
        if (!d)
            return -1;
        r->data = d;
        r->cap = cap;
    }
    memcpy(r->data + r->len, p, n);
    r->len += n;
    return 0;
}

static int rec_i64(batch_record *r, int64_t v)
{
    return rec_put(r, &v, sizeof v);
}

static int rec_u32(batch_record *r, uint32_t v)
{
    return rec_put(r, &v, sizeof v);
}

/* A string of n bytes, or NULL (nullable only). */
static int rec_str(batch_record *r, const char *s, size_t n)
{
    if (!s)
        return rec_u32(r, NSTR_NULL);
    if (n >= NSTR_NULL)
        return -1;
    return rec_u32(r, (uint32_t)n) || rec_put(r, s, n);
}

static int rec_cstr(batch_record *r, const char *s)
{
    return rec_str(r, s, s ? strlen(s) : 0);
}

int batch_encode(const batch *b, batch_record *r)
{
    const batch_idempotency *k = b->idem;
    unsigned char has = k != NULL;
    r->len = 0;
    if (b->count > UINT32_MAX || rec_i64(r, b->received_ms) || rec_u32(r, (uint32_t)b->count) ||
        rec_put(r, &has, 1))
        return -1;
    if (k && (rec_cstr(r, k->scope) || rec_cstr(r, k->key) || rec_cstr(r, k->endpoint) ||
              rec_put(r, k->body_sha256, sizeof k->body_sha256) || rec_put(r, &k->status, sizeof k->status) ||
              rec_cstr(r, k->content_type) || rec_str(r, k->body ? k->body : "", k->body_len) ||
              rec_i64(r, k->created_ms)))
        return -1;
    for (size_t i = 0; i < b->count; i++) {
        const log_entry *e = &b->entries[i];
        if (rec_i64(r, e->ts_ms) || rec_i64(r, (int64_t)e->line) || rec_cstr(r, e->level) ||
            rec_cstr(r, e->service) || rec_str(r, e->message, e->message_len) || rec_cstr(r, e->attributes))
            return -1;
    }
    return 0;
}

typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static int get(reader *rd, void *out, size_t n)
{
    if (rd->left < n)
        return -1;
    memcpy(out, rd->p, n);
    rd->p += n;
    rd->left -= n;
    return 0;
}

/*
 * A string copied into b's arena: *out is NULL for a nullable NULL. Without
 * len it is a C string, which holds no NUL. prev is the same field of the
 * entry before, whose copy is shared when the bytes are the same (a batch is
 * mostly one service and a few levels). -1 malformed, -2 out of memory.
 */
static int get_str(reader *rd, batch *b, int nullable, const char *prev, const char **out, size_t *len)
{
    uint32_t n;
    if (get(rd, &n, sizeof n))
        return -1;
    if (n == NSTR_NULL) {
        *out = NULL;
        if (len)
            *len = 0;
        return nullable ? 0 : -1;
    }
    if (rd->left < n || (!len && memchr(rd->p, '\0', n)))
        return -1;
    if (prev && strlen(prev) == n && !memcmp(prev, rd->p, n)) {
        *out = prev;
    } else if (!(*out = batch_strndup(b, (const char *)rd->p, n))) {
        return -2;
    }
    if (len)
        *len = n;
    rd->p += n;
    rd->left -= n;
    return 0;
}

int batch_decode(const unsigned char *p, size_t len, batch **out)
{
    reader rd = {p, len};
    int64_t received;
    uint32_t count;
    unsigned char has;
    int rc = -1;
    *out = NULL;
    if (get(&rd, &received, sizeof received) || get(&rd, &count, sizeof count) || get(&rd, &has, 1) || has > 1)
        return -1;
    /* each entry takes at least 32 bytes: a count beyond that is a lie, not a reason to allocate */
    if (count > rd.left / 32)
        return -1;
    batch *b = batch_new(received);
    if (!b)
        return -2;
    /* Every string is a copy of record bytes (with its length's 4 bytes to spare for the NUL), each arena
     * piece padded to max_align_t, at most 4 strings an entry and 6 pieces for the key: one block holds
     * them all. The writer decodes a whole group before storing it: 64 KiB blocks for a few KB each
     * would make a 2000-record group hold 128 MiB. */
    const size_t pad = _Alignof(max_align_t);
    if (batch_reserve(b, rd.left + sizeof(batch_idempotency) + ((size_t)count * 4 + 6) * pad, count) != 0) {
        batch_free(b);
        return -2;
    }
    if (has) {
        batch_idempotency *k = batch_alloc(b, sizeof *k);
        if (!k) {
            rc = -2;
            goto fail;
        }
        memset(k, 0, sizeof *k);
        if ((rc = get_str(&rd, b, 0, NULL, &k->scope, NULL)) || (rc = get_str(&rd, b, 0, NULL, &k->key, NULL)) ||
            (rc = get_str(&rd, b, 0, NULL, &k->endpoint, NULL)) ||
            (rc = get(&rd, k->body_sha256, sizeof k->body_sha256)) || (rc = get(&rd, &k->status, sizeof k->status)) ||
            (rc = get_str(&rd, b, 1, NULL, &k->content_type, NULL)) ||
            (rc = get_str(&rd, b, 0, NULL, &k->body, &k->body_len)) ||
            (rc = get(&rd, &k->created_ms, sizeof k->created_ms)))
            goto fail;
        b->idem = k;
    }
    if (count > rd.left / 32) { /* again, past the key */
        rc = -1;
        goto fail;
    }
    for (uint32_t i = 0; i < count; i++) {
        log_entry *e = batch_push(b);
        if (!e) {
            rc = -2;
            goto fail;
        }
        const log_entry *prev = i ? e - 1 : NULL; /* after the push, which may move the entries */
        int64_t line;
        if ((rc = get(&rd, &e->ts_ms, sizeof e->ts_ms)) || (rc = get(&rd, &line, sizeof line)) ||
            (rc = get_str(&rd, b, 1, prev ? prev->level : NULL, &e->level, NULL)) ||
            (rc = get_str(&rd, b, 0, prev ? prev->service : NULL, &e->service, NULL)) ||
            (rc = get_str(&rd, b, 0, NULL, &e->message, &e->message_len)) ||
            (rc = get_str(&rd, b, 1, NULL, &e->attributes, NULL)))
            goto fail;
        e->line = (long)line;
    }
    if (rd.left) {
        rc = -1;
        goto fail;
    }
    *out = b;
    return 0;
fail:
    batch_free(b);
    return rc;
}
