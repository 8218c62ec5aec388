/*
 * batch.c — a batch of parsed log entries and the arena that owns their strings.
 *
 * Threads: a batch belongs to one HTTP thread at a time; the writer reads it
 * while that thread waits, so no locking happens here.
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
