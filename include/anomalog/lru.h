/**
 * @file lru.h
 * @brief The one recency list: an intrusive doubly linked list whose head is
 *        the most recently used element and whose tail the least, which a
 *        bounded store evicts from. A miner's templates and the cache of
 *        miners per service keep one each.
 *
 * An element embeds an lru_link; LRU_ENTRY() gets the element back from its
 * link. The list does no locking and allocates nothing: its owner's lock
 * guards it, and the owner frees the elements.
 */
#ifndef ANOMALOG_LRU_H
#define ANOMALOG_LRU_H

#include <stddef.h>

/** The links an element embeds; both NULL while it is in no list (or alone in one). */
typedef struct lru_link {
    struct lru_link *prev, *next;
} lru_link;

/** A recency list; {NULL, NULL} is the empty one. */
typedef struct lru_list {
    lru_link *head; /**< the most recently used, NULL when empty */
    lru_link *tail; /**< the least recently used, NULL when empty */
} lru_list;

/** The element of type `type` whose member `member` is the (non-NULL) link. */
#define LRU_ENTRY(link, type, member) ((type *)(void *)((char *)(link) - offsetof(type, member)))

/** Puts e, which is in no list (its links need not be set), at the head of l. */
void lru_push(lru_list *l, lru_link *e);

/** Takes e out of l, which holds it; its links are cleared. */
void lru_unlink(lru_list *l, lru_link *e);

/** Moves e, which l holds, to the head of l. */
void lru_touch(lru_list *l, lru_link *e);

#endif
