/*
 * svccache.c — each service's template miner in a hash table, at most
 * analysis.max_services_in_memory of them, the least recently used evicted.
 *
 * Why: a miner is tens of kilobytes to megabytes; keeping every service's
 * forever grows memory with the number of services, and finding one in a
 * list grows the cost of every window with it. Here a lookup is a hash
 * (chained buckets, doubled when the table is as full as it is long), and an
 * evicted service's miner is rebuilt by the loader when the service returns
 * (the analyzer restores it from its stored templates, ids and counts
 * included), so evicting loses nothing but the time to reload.
 *
 * Threads: any. One mutex (mu) guards the table, the LRU list, the use
 * counts and the counters; each entry has its own mutex, held by its user
 * from acquire to release (one window of a service at a time). Lock order:
 * mu, then an entry's; the loader runs with only the entry's held, so a slow
 * load of one service does not hold up the others.
 *
 * Invariants: an entry with users > 0 is in the table and is never evicted
 * or freed; an entry with users == 0 has its mutex free, so eviction may free
 * it. An entry whose load failed stays unloaded and is dropped when its last
 * user releases it. size <= max_services, except while every entry is in use
 * (then it exceeds it by at most the number of concurrent users).
 */
#include "anomalog/svccache.h"

#include "anomalog/lru.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct svccache_entry {
    int64_t service_id;
    miner *m;
    int loaded;               /* guarded by mu (the entry's) */
    pthread_mutex_t mu;       /* held by the user between acquire and release */
    unsigned users;           /* acquired or waiting to; guarded by the cache's mu */
    svccache_entry *hnext;    /* bucket chain */
    lru_link lru;             /* in the cache's lru: the most recently used at its head */
};

struct svccache {
    pthread_mutex_t mu;
    svccache_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t size, max;
    lru_list lru; /* every entry */
    miner_opts mo;
    svccache_load_fn load;
    void *load_arg;
    uint64_t loads, evictions;
};

static size_t bucket_of(const svccache *c, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;
    return (size_t)(h ^ (h >> 29)) & (c->nbuckets - 1);
}

svccache *svccache_new(size_t max_services, const miner_opts *mo, svccache_load_fn load, void *load_arg)
{
    svccache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->nbuckets = 64;
    if (!(c->buckets = calloc(c->nbuckets, sizeof *c->buckets)) || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->buckets);
        free(c);
        return NULL;
    }
    c->max = max_services ? max_services : 1;
    c->mo = mo ? *mo : miner_opts_defaults();
    c->load = load;
    c->load_arg = load_arg;
    return c;
}

static void entry_free(svccache_entry *e)
{
    if (!e)
        return;
    miner_free(e->m);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

void svccache_free(svccache *c)
{
    if (!c)
        return;
    for (lru_link *k = c->lru.head, *next; k; k = next) {
        next = k->next;
        entry_free(LRU_ENTRY(k, svccache_entry, lru));
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* mu held: unlinks e from its bucket and the LRU list. */
static void unlink_entry(svccache *c, svccache_entry *e)
{
    svccache_entry **pp = &c->buckets[bucket_of(c, e->service_id)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
    lru_unlink(&c->lru, &e->lru);
    c->size--;
}

/* mu held: doubles the table when it holds as many entries as buckets (a failure leaves it as it is). */
static void maybe_grow(svccache *c)
{
    if (c->size < c->nbuckets || c->nbuckets > ((size_t)1 << 40))
        return;
    size_t n = c->nbuckets * 2;
    svccache_entry **b = calloc(n, sizeof *b);
    if (!b)
        return;
    svccache_entry **old = c->buckets;
    size_t oldn = c->nbuckets;
    c->buckets = b;
    c->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        for (svccache_entry *e = old[i], *next; e; e = next) {
            next = e->hnext;
            size_t k = bucket_of(c, e->service_id);
            e->hnext = b[k];
            b[k] = e;
        }
    }
    free(old);
}

/* Drops one use of e; an entry whose load failed goes with its last user. */
static void drop_use(svccache *c, svccache_entry *e)
{
    svccache_entry *gone = NULL;
    pthread_mutex_lock(&c->mu);
    e->users--;
    if (!e->users && !e->loaded) {
        unlink_entry(c, e);
        gone = e;
    }
    pthread_mutex_unlock(&c->mu);
    entry_free(gone);
}

miner *svccache_acquire(svccache *c, int64_t service_id, svccache_entry **out, char *err, size_t errlen)
{
    svccache_entry *victims = NULL; /* evicted, freed once mu is released (chained by hnext) */
    pthread_mutex_lock(&c->mu);
    svccache_entry *e = c->buckets[bucket_of(c, service_id)];
    while (e && e->service_id != service_id)
        e = e->hnext;
    if (e) {
        lru_touch(&c->lru, &e->lru);
    } else {
        for (lru_link *k = c->lru.tail, *prev; k && c->size >= c->max; k = prev) {
            prev = k->prev;
            svccache_entry *v = LRU_ENTRY(k, svccache_entry, lru);
            if (v->users)
                continue;
            unlink_entry(c, v);
            v->hnext = victims;
            victims = v;
            c->evictions++;
        }
        if (!(e = calloc(1, sizeof *e)) || pthread_mutex_init(&e->mu, NULL) != 0) {
            free(e);
            pthread_mutex_unlock(&c->mu);
            snprintf(err, errlen, "out of memory");
            while (victims) {
                svccache_entry *next = victims->hnext;
                entry_free(victims);
                victims = next;
            }
            return NULL;
        }
        e->service_id = service_id;
        maybe_grow(c);
        size_t k = bucket_of(c, service_id);
        e->hnext = c->buckets[k];
        c->buckets[k] = e;
        lru_push(&c->lru, &e->lru);
        c->size++;
    }
    e->users++;
    pthread_mutex_unlock(&c->mu);
    while (victims) {
        svccache_entry *next = victims->hnext;
        entry_free(victims);
        victims = next;
    }

    pthread_mutex_lock(&e->mu);
    if (!e->loaded) { /* new, or a previous load failed: from an empty miner */
        miner_free(e->m);
        if (!(e->m = miner_new(&c->mo))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (c->load && c->load(c->load_arg, service_id, e->m, err, errlen) != 0)
            goto fail;
        e->loaded = 1;
        pthread_mutex_lock(&c->mu);
        c->loads++;
        pthread_mutex_unlock(&c->mu);
    }
    *out = e;
    return e->m;
fail:
    pthread_mutex_unlock(&e->mu);
    drop_use(c, e);
    return NULL;
}

void svccache_release(svccache *c, svccache_entry *e)
{
    if (!e)
        return;
    pthread_mutex_unlock(&e->mu);
    drop_use(c, e);
}

void svccache_stats_get(svccache *c, svccache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    out->size = c->size;
    out->loads = c->loads;
    out->evictions = c->evictions;
    pthread_mutex_unlock(&c->mu);
}
