/*
 * late.c — whether a window is no longer open (store_window_is_late), for the
 * late count of an ingest answer, from a small cache in front of the database.
 *
 * Why: an ingest request asks once per distinct (service, window) of its batch,
 * and each question was a read on a pooled connection (on PostgreSQL a round
 * trip). With batches of 10 lines that was about a tenth of the server's CPU,
 * spent on the same few windows thousands of times a second.
 *
 * Threads: the HTTP threads ask, each lookup under the cache's mutex (the
 * database is asked outside it). Whatever closes or deletes windows through
 * this store (store_windows_close: the scheduler, POST /windows/flush, start-up;
 * store_expire_windows: retention) calls late_forget(), which moves the
 * generation on: every answer kept before it is dropped.
 *
 * Invariants: an answer is used only while its generation is the current one
 * and it is younger than LATE_TTL_MS, so within one process the answer is the
 * database's as of the last close; a window closed by another replica sharing
 * a PostgreSQL database is seen at most LATE_TTL_MS late. Either way the
 * answer's count is advisory: a window that closes between the answer and the
 * commit is counted late by the commit itself (windows.late_count), not here.
 *
 * Limits: LATE_SLOTS entries, direct-mapped by (service, start), a newer
 * answer replacing an older one in its slot; a service name of
 * LATE_NAME_MAX bytes or more is never kept (asked every time).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"
#include "store/db.h"
#include "store/queries.h"
#include "store/rows.h"

#define LATE_SLOTS 1024 /* power of two */
#define LATE_NAME_MAX 64
#define LATE_TTL_MS 1000

typedef struct late_entry {
    char service[LATE_NAME_MAX]; /* "" when the slot is empty */
    int64_t start;
    int64_t at_ms;               /* when the database answered (monotonic) */
    uint64_t gen;
    int late;
} late_entry;

struct late_cache {
    pthread_mutex_t mu;
    atomic_uint_fast64_t gen;
    late_entry e[LATE_SLOTS];
};

late_cache *late_new(void)
{
    late_cache *c = calloc(1, sizeof *c);
    if (c)
        pthread_mutex_init(&c->mu, NULL);
    return c;
}

void late_free(late_cache *c)
{
    if (c) {
        pthread_mutex_destroy(&c->mu);
        free(c);
    }
}

void late_forget(late_cache *c)
{
    if (c)
        atomic_fetch_add(&c->gen, 1);
}

static late_entry *slot_of(late_cache *c, const char *service, size_t len, int64_t start)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over the name, then the start mixed in */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)service[i];
        h *= 1099511628211ULL;
    }
    h ^= (uint64_t)start * 0x9E3779B97F4A7C15ULL;
    return &c->e[(h ^ (h >> 32)) & (LATE_SLOTS - 1)];
}

store_rc store_window_is_late(store *s, const char *service, int64_t start_ms, int *late, char *err, size_t errlen)
{
    late_cache *c = s->late;
    size_t len = strlen(service);
    int keep = c && len < LATE_NAME_MAX;
    late_entry *e = keep ? slot_of(c, service, len, start_ms) : NULL;
    int64_t now = time_mono_ms();
    uint64_t gen = keep ? atomic_load(&c->gen) : 0;
    if (keep) {
        pthread_mutex_lock(&c->mu);
        int hit = e->gen == gen && e->start == start_ms && now - e->at_ms < LATE_TTL_MS && !strcmp(e->service, service);
        if (hit)
            *late = e->late;
        pthread_mutex_unlock(&c->mu);
        if (hit)
            return STORE_OK;
    }
    int64_t n = 0;
    store_rc rc = db_read(s, &sql_late_window_closed, DB_ARGS(db_text(service), db_int(start_ms)), db_row_i64, &n, err,
                          errlen);
    *late = rc == STORE_OK && n > 0;
    if (keep && rc == STORE_OK) { /* gen as read before the question: a close meanwhile leaves it stale, unused */
        pthread_mutex_lock(&c->mu);
        memcpy(e->service, service, len + 1);
        e->start = start_ms;
        e->at_ms = now;
        e->gen = gen;
        e->late = *late;
        pthread_mutex_unlock(&c->mu);
    }
    return rc;
}
