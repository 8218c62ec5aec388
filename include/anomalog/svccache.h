/**
 * @file svccache.h
 * @brief Per-service analysis state (each service's template miner) in a hash
 *        table, bounded by a number of services, least recently used evicted.
 *
 * A service's miner is built on first use by the caller's loader (the
 * analyzer restores it from the service's stored templates, so template ids
 * stay the same when an evicted service returns). A lookup costs the same
 * whatever the number of services. An entry in use (acquired and not yet
 * released) is never evicted: past the bound by at most the number of
 * concurrent users.
 */
#ifndef ANOMALOG_SVCCACHE_H
#define ANOMALOG_SVCCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "anomalog/miner.h"

typedef struct svccache svccache;
typedef struct svccache_entry svccache_entry;

/**
 * Fills a fresh miner with the service's state.
 * @return 0, or -1 with err filled (the entry is dropped; the next acquire tries again)
 */
typedef int (*svccache_load_fn)(void *arg, int64_t service_id, miner *m, char *err, size_t errlen);

/** Counters of a cache (svccache_stats). */
typedef struct svccache_stats {
    size_t size;        /**< services in memory now */
    uint64_t loads;     /**< miners built by the loader */
    uint64_t evictions; /**< miners dropped to stay within the bound */
} svccache_stats;

/**
 * Creates a cache.
 * @param[in] max_services  services kept in memory (>= 1)
 * @param[in] mo            options of each miner (copied), or NULL for miner_opts_defaults()
 * @param[in] load, load_arg  the loader, called without the cache's lock held
 * @return the cache, or NULL when out of memory
 */
svccache *svccache_new(size_t max_services, const miner_opts *mo, svccache_load_fn load, void *load_arg);

/** Frees every miner and the cache. No entry may be in use. Accepts NULL. */
void svccache_free(svccache *c);

/**
 * The service's miner, locked for the caller until svccache_release(): one
 * user of a service at a time, other services meanwhile. Builds and loads it
 * when it is not in memory, evicting the least recently used entry not in use
 * when the cache is full.
 * @param[out] e  the handle to release
 * @return the miner, or NULL with err filled (out of memory, or the loader's error)
 */
miner *svccache_acquire(svccache *c, int64_t service_id, svccache_entry **e, char *err, size_t errlen);

/** Unlocks an acquired entry; it becomes the most recently used. */
void svccache_release(svccache *c, svccache_entry *e);

/** Current size and counters. */
void svccache_stats_get(svccache *c, svccache_stats *out);

#endif
