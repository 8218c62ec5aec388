/*
 * lru.c — the one recency list (lru.h): an intrusive doubly linked list,
 * most recently used at the head. A miner keeps its templates in one (the
 * least recently seen is evicted at the template cap) and the cache of
 * miners keeps the services in one (the least recently used idle miner goes
 * at the service cap).
 *
 * Threads: none of its own; the list's owner holds its lock around every call.
 *
 * Invariants: head and tail are both NULL or both set; head->prev and
 * tail->next are NULL; following next from head reaches every element once
 * and ends at tail. Limits: none (the owner bounds its list).
 */
#include "anomalog/lru.h"

#include <assert.h>

void lru_push(lru_list *l, lru_link *e)
{
    assert(l->head != e);
    e->prev = NULL;
    e->next = l->head;
    if (l->head)
        l->head->prev = e;
    l->head = e;
    if (!l->tail)
        l->tail = e;
}

void lru_unlink(lru_list *l, lru_link *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
}

void lru_touch(lru_list *l, lru_link *e)
{
    if (l->head == e)
        return;
    lru_unlink(l, e);
    lru_push(l, e);
}
