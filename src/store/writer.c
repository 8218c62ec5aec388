/*
 * writer.c — the one thread that writes log entries to the database, and the
 * ingest journal in front of it.
 *
 * Submitting: an HTTP thread calls writer_submit(), which encodes the batch
 * into a record (batch_encode), numbers it (seq) and queues it. With a
 * journal (SQLite: store_has_journal), the record is first appended to the
 * journal file, under the same lock, so the file's order is the queue's; the
 * submitter is answered once write(2) returned (with durability full, once
 * fdatasync(2) did too: one call for every submitter waiting at the time).
 * That is the moment a 202 may promise the batch survives a crash, and it
 * does not wait for the database: group commit then gathers the batches of
 * every connection, not only of those still waiting. Without a journal
 * (PostgreSQL, where a replica's disk may not outlive it), the submitter
 * waits for the commit.
 *
 * Group commit: the writer takes the queued records, up to max_txn_entries
 * entries (at least one record), decodes them (batch_decode: the path a
 * replay takes is the path every batch takes) and writes them in one
 * transaction, which also raises the stored journal mark (journal_state) to
 * the last one's seq. With a journal nobody waits for a commit, so one
 * starts at most every GATHER_MS unless GATHER_ENTRIES entries (or a quarter
 * of the queue's bounds) are queued or a reader waits (writer_wait): small
 * batches gather into large commits,
 * whose cost per line is what SQLite's large transactions cost. A failed transaction is retried one record at a time,
 * so a record the database refuses does not take its neighbours down.
 * Without a journal, that record's submitter is answered WRITER_FAILED and
 * the record dropped. With one, the record was acknowledged: it stays at the
 * head of the queue and is tried again after a pause (1 s, doubling to
 * 10 s); meanwhile writer_submit refuses new batches (WRITER_FAILED) and
 * writer_get_stats reports the error, and nothing is ever dropped.
 *
 * Journal files: <db>-ingest.<seq of the first record, 16 hex digits>; a
 * file is closed once it holds journal_file_bytes (8 MiB), or once the
 * database holds every record of it and it holds journal_stored_bytes
 * (256 KiB), and deleted once the database holds its last record; a clean
 * stop deletes them all. So at rest the journal holds at most 256 KiB the
 * database already has, and a full disk is not filled with copies. A record is
 * a header (magic, payload length, seq, CRC-32 of seq and payload) and the
 * payload. writer_start() first stores every journal record above the
 * database's mark, then deletes the files: a file is read up to its first
 * record that is cut short or fails its CRC, which is a write a crash
 * interrupted, never acknowledged.
 *
 * Reads after writes: writer_wait() returns once every batch acknowledged
 * before the call is in the database (or a bound passed), so a client that
 * reads after its 202 sees its lines.
 *
 * Bounds: at most queue_depth records and queue_bytes bytes wait; a batch
 * beyond either is refused at once (WRITER_FULL). A journalled submitter is
 * answered only while at most half of each is queued ahead of it, so a fast
 * client is slowed to the database's pace rather than refused.
 *
 * Pruning: the writer owns the write connection, so it also deletes expired
 * Idempotency-Keys, PRUNE_BATCH at a time between commits, once a second (at
 * once again while a full batch came back): a backlog of expired keys never
 * holds a commit up for long.
 */
#include "anomalog/writer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "anomalog/log.h"
#include "anomalog/metrics.h"
#include "anomalog/timeutil.h"

#define PRUNE_EVERY_MS 1000
#define PRUNE_BATCH 500
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 10000
#define JOURNAL_MAGIC 0x314a4c41u /* "ALJ1" */
#define JOURNAL_SUFFIX "-ingest."
#define REPLAY_GROUP 256
#define GATHER_MS 10         /* with a journal, a commit waits this long after the last began ... */
#define GATHER_ENTRIES 8000  /* ... unless this many entries (or a quarter of the queue's bounds) are queued */

/* A queued batch, as its record. */
typedef struct item {
    struct item *next;
    uint64_t seq;
    size_t entries;
    batch_record rec;
    /* without a journal the submitter owns the item and waits for done */
    int done;
    writer_rc rc;
    char err[256];
} item;

typedef struct journal_header {
    uint32_t magic;
    uint32_t len; /* payload bytes */
    uint64_t seq;
    uint32_t crc; /* CRC-32 of seq, then the payload */
    uint32_t zero;
} journal_header;

/* A closed journal file, deleted once the database holds its last record. */
typedef struct jfile {
    uint64_t last;
    char *path;
} jfile;

struct writer {
    store *st;
    writer_opts o;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t wake;      /* the writer waits here for work */
    pthread_cond_t progress;  /* records done, or the journal synced */
    item *head, *tail;        /* the queue, oldest first */
    size_t count, bytes, entries;
    int hurry;                /* a reader waits (writer_wait): commit without gathering */
    item **group;             /* the writer's scratch: items of one commit */
    batch **batches;          /* ... and their decoded batches */
    uint64_t next_seq;        /* the number the next record gets */
    uint64_t done_seq;        /* every record up to this one is stored (or, without a journal, refused) */
    int stopping;
    int running;
    uint64_t n_batches, n_entries, n_commits;
    int last_ok;
    char last_error[256];
    /* the journal */
    int journaled;            /* 1: there is one (set at start, never changed) */
    int fd;                   /* the current file; -1 after one could not be opened */
    char *path;               /* the current file's */
    size_t file_bytes;
    uint64_t file_last;       /* seq of the file's last record, 0 when empty */
    jfile *closed;
    size_t nclosed, capclosed;
    int syncing;              /* a submitter is in fdatasync for everyone */
    uint64_t synced_seq;
};

static char *journal_path(const char *prefix, uint64_t first)
{
    size_t n = strlen(prefix) + sizeof JOURNAL_SUFFIX + 16;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s" JOURNAL_SUFFIX "%016llx", prefix, (unsigned long long)first);
    return p;
}

/*
 * Splits a copy of the journal's prefix (malloc'd, returned for free()) into
 * the directory its files are in and the base their names start with.
 */
static char *journal_split(const char *prefix, const char **dir, const char **base)
{
    char *copy = strdup(prefix);
    if (!copy)
        return NULL;
    char *slash = strrchr(copy, '/');
    *base = slash ? slash + 1 : copy;
    *dir = slash ? (slash == copy ? "/" : copy) : ".";
    if (slash)
        *slash = '\0';
    return copy;
}

/* Makes a new file's name durable (durability full). */
static void sync_dir(const char *prefix)
{
    const char *dir, *base;
    char *copy = journal_split(prefix, &dir, &base);
    if (!copy)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Opens the journal file whose first record is `first`. Under w->mu. */
static int journal_open(writer *w, uint64_t first, char *err, size_t errlen)
{
    char *path = journal_path(w->o.journal, first);
    int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600) : -1;
    if (fd < 0) {
        snprintf(err, errlen, "journal %s: %s", path ? path : w->o.journal, path ? strerror(errno) : "out of memory");
        free(path);
        return -1;
    }
    if (w->o.journal_sync)
        sync_dir(w->o.journal);
    w->fd = fd;
    w->path = path;
    w->file_bytes = 0;
    w->file_last = 0;
    return 0;
}

/* Closes the current file (kept until the database holds its records). Under w->mu. */
static int journal_close_file(writer *w, char *err, size_t errlen)
{
    while (w->syncing) /* a submitter's fdatasync still uses the descriptor */
        pthread_cond_wait(&w->progress, &w->mu);
    if (w->fd < 0)
        return 0;
    if (w->nclosed == w->capclosed) {
        size_t cap = w->capclosed ? w->capclosed * 2 : 8;
        jfile *c = realloc(w->closed, cap * sizeof *c);
        if (!c) {
            snprintf(err, errlen, "journal: out of memory");
            return -1;
        }
        w->closed = c;
        w->capclosed = cap;
    }
    if (w->o.journal_sync && w->file_last && fdatasync(w->fd) == 0 && w->synced_seq < w->file_last)
        w->synced_seq = w->file_last;
    close(w->fd);
    w->fd = -1;
    if (w->file_last) {
        w->closed[w->nclosed++] = (jfile){w->file_last, w->path};
    } else {
        unlink(w->path);
        free(w->path);
    }
    w->path = NULL;
    return 0;
}

/* Appends it to the journal. Under w->mu. 0, or -1 with err (nothing of it kept). */
static int journal_append(writer *w, item *it, char *err, size_t errlen)
{
    if (it->rec.len > JOURNAL_RECORD_MAX) {
        snprintf(err, errlen, "journal: a batch of %zu bytes is larger than a record may be", it->rec.len);
        return -1;
    }
    if (w->fd >= 0 && w->file_bytes >= w->o.journal_file_bytes && w->file_last &&
        journal_close_file(w, err, errlen) != 0)
        return -1;
    if (w->fd < 0 && journal_open(w, it->seq, err, errlen) != 0)
        return -1;
    journal_header h = {.magic = JOURNAL_MAGIC, .len = (uint32_t)it->rec.len, .seq = it->seq};
    uLong crc = crc32(0L, (const Bytef *)&h.seq, sizeof h.seq);
    h.crc = (uint32_t)crc32(crc, it->rec.data, (uInt)it->rec.len);
    struct iovec iov[2] = {{&h, sizeof h}, {it->rec.data, it->rec.len}};
    size_t total = sizeof h + it->rec.len, put = 0;
    while (put < total) {
        ssize_t n = writev(w->fd, iov, 2);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "journal %s: %s", w->path, n < 0 ? strerror(errno) : "nothing written");
            /* cut what part of the record was written; failing that, the next record opens a new file */
            if (put && ftruncate(w->fd, (off_t)w->file_bytes) != 0) {
                char e2[64];
                journal_close_file(w, e2, sizeof e2);
            }
            return -1;
        }
        put += (size_t)n;
        for (int i = 0; i < 2; i++) { /* advance past what went out */
            size_t k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            n -= (ssize_t)k;
        }
    }
    w->file_bytes += total;
    w->file_last = it->seq;
    return 0;
}

/* Waits until the journal is on disk up to seq (durability full). Under w->mu. */
static void journal_sync(writer *w, uint64_t seq)
{
    while (w->synced_seq < seq) {
        if (w->syncing) {
            pthread_cond_wait(&w->progress, &w->mu);
            continue;
        }
        w->syncing = 1;
        uint64_t upto = w->next_seq - 1;
        int fd = w->fd;
        pthread_mutex_unlock(&w->mu);
        int rc = fdatasync(fd), why = errno;
        pthread_mutex_lock(&w->mu);
        w->syncing = 0;
        if (rc == 0 && w->synced_seq < upto)
            w->synced_seq = upto;
        pthread_cond_broadcast(&w->progress);
        if (rc != 0) {
            /* the database's own sync (synchronous=FULL) then stands for it */
            log_msg(LOG_ERROR, "writer", "journal: fdatasync: %s", strerror(why)); /* the file may be closed by now */
            while (w->done_seq < seq && w->running)
                pthread_cond_wait(&w->progress, &w->mu);
            return;
        }
    }
}

/* Deletes the closed files the database holds everything of, and closes (so deletes) the current one when
 * the database holds it all and it is journal_stored_bytes or more. Under w->mu (after a commit). */
static void journal_trim(writer *w)
{
    if (w->fd >= 0 && w->file_last && w->file_last <= w->done_seq && w->file_bytes >= w->o.journal_stored_bytes) {
        char err[128];
        if (journal_close_file(w, err, sizeof err) != 0) /* out of memory: it stays open, and is tried again */
            log_msg(LOG_WARN, "writer", "%s", err);
    }
    size_t n = 0;
    for (; n < w->nclosed && w->closed[n].last <= w->done_seq; n++) {
        unlink(w->closed[n].path);
        free(w->closed[n].path);
    }
    if (n) {
        memmove(w->closed, w->closed + n, (w->nclosed - n) * sizeof *w->closed);
        w->nclosed -= n;
    }
}

/* ---- the writer thread ----------------------------------------------------- */

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decodes and stores its[0..n) in one transaction. 0, or -1 with err. */
static int write_items(writer *w, item **its, size_t n, char *err, size_t errlen)
{
    size_t k = 0;
    int rc = 0;
    for (; k < n; k++) {
        int d = batch_decode(its[k]->rec.data, its[k]->rec.len, &w->batches[k]);
        if (d != 0) {
            snprintf(err, errlen, "%s", d == -2 ? "out of memory decoding a batch" : "a queued batch is malformed");
            rc = -1;
            break;
        }
        w->batches[k]->journal_seq = w->journaled ? its[k]->seq : 0;
    }
    if (rc == 0) {
        double t0 = mono_seconds();
        rc = store_write_batches(w->st, w->batches, n, w->o.window_ms, err, errlen) == STORE_OK ? 0 : -1;
        metrics_commit_observe(mono_seconds() - t0);
    }
    for (size_t i = 0; i < k; i++)
        batch_free(w->batches[i]);
    return rc;
}

/* Takes its[0..n) (the queue's head) off the queue as stored (or refused). */
static void complete(writer *w, size_t n, writer_rc rc, const char *err)
{
    item *gone = NULL;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        item *it = w->head;
        w->head = it->next;
        if (!w->head)
            w->tail = NULL;
        w->count--;
        w->bytes -= it->rec.len;
        w->entries -= it->entries;
        w->done_seq = it->seq;
        if (rc == WRITER_OK) {
            w->n_batches++;
            w->n_entries += it->entries;
        }
        if (w->journaled) {
            it->next = gone;
            gone = it;
        } else {
            it->rc = rc;
            if (err)
                snprintf(it->err, sizeof it->err, "%s", err);
            it->done = 1;
        }
    }
    if (rc == WRITER_OK) {
        w->n_commits++;
        w->last_ok = 1;
    }
    if (w->journaled)
        journal_trim(w);
    pthread_cond_broadcast(&w->progress);
    pthread_mutex_unlock(&w->mu);
    while (gone) {
        item *next = gone->next;
        free(gone->rec.data);
        free(gone);
        gone = next;
    }
}

/*
 * Stores its[0..n) in one transaction, or else one at a time. Returns how
 * many of them, from the first, are off the queue: all, or up to the one
 * refused (which is off the queue too when there is no journal).
 */
static size_t commit_group(writer *w, item **its, size_t n)
{
    char err[256] = "";
    if (write_items(w, its, n, err, sizeof err) == 0) {
        complete(w, n, WRITER_OK, NULL);
        return n;
    }
    size_t i = 0;
    if (n > 1) {
        for (; i < n && write_items(w, &its[i], 1, err, sizeof err) == 0; i++)
            complete(w, 1, WRITER_OK, NULL);
        if (i == n)
            return n;
    }
    pthread_mutex_lock(&w->mu);
    w->last_ok = 0;
    snprintf(w->last_error, sizeof w->last_error, "%s", err);
    pthread_mutex_unlock(&w->mu);
    if (!w->journaled) {
        log_msg(LOG_ERROR, "writer", "batch of %zu entries refused: %s", its[i]->entries, err);
        complete(w, 1, WRITER_FAILED, err);
        return i + 1;
    }
    log_msg(LOG_ERROR, "writer", "batch of %zu entries (journal record %llu) not stored yet: %s", its[i]->entries,
            (unsigned long long)its[i]->seq, err);
    return i;
}

/* Deletes a batch of expired Idempotency-Keys; returns when to prune next (monotonic ms). */
static int64_t prune(writer *w)
{
    char err[256];
    int n = 0;
    if (store_idempotency_prune(w->st, time_now_ms() - w->o.idempotency_ttl_ms, PRUNE_BATCH, &n, err,
                                sizeof err) != STORE_OK)
        log_msg(LOG_WARN, "writer", "pruning expired idempotency keys: %s", err);
    return time_mono_ms() + (n == PRUNE_BATCH ? 0 : PRUNE_EVERY_MS);
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t at_mono_ms)
{
    struct timespec ts = {.tv_sec = at_mono_ms / 1000, .tv_nsec = (long)(at_mono_ms % 1000) * 1000000L};
    pthread_cond_timedwait(cv, mu, &ts);
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    int64_t next_prune = time_mono_ms(), retry_at = 0, pause = 0; /* pause > 0: the head is being refused */
    int64_t gather_until = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        int64_t now = time_mono_ms();
        int ready = w->count && (!pause || now >= retry_at || w->stopping);
        if (!ready && w->stopping)
            break;
        if (ready && !pause && now < gather_until && !w->hurry && !w->stopping && w->entries < GATHER_ENTRIES &&
            w->count < w->o.queue_depth / 4 && w->bytes < w->o.queue_bytes / 4) { /* never so long that submitters wait */
            timed_wait(&w->wake, &w->mu, gather_until);
            continue;
        }
        if (!ready && now < next_prune) {
            timed_wait(&w->wake, &w->mu, pause && retry_at < next_prune ? retry_at : next_prune);
            continue;
        }
        if (now >= next_prune) {
            pthread_mutex_unlock(&w->mu);
            next_prune = prune(w);
            pthread_mutex_lock(&w->mu);
            continue;
        }
        size_t n = 0, entries = 0;
        for (item *it = w->head; it && (n == 0 || entries + it->entries <= w->o.max_txn_entries); it = it->next) {
            entries += it->entries;
            w->group[n++] = it;
        }
        int stopping = w->stopping;
        w->hurry = 0;
        if (w->journaled) /* nobody waits for this commit: the next one gathers for a moment */
            gather_until = now + GATHER_MS;
        pthread_mutex_unlock(&w->mu);
        size_t off = commit_group(w, w->group, n);
        pthread_mutex_lock(&w->mu);
        if (off == n) {
            pause = 0;
        } else if (w->journaled) {
            if (stopping) {
                log_msg(LOG_ERROR, "writer", "stopping with %zu acknowledged batches still in the journal: they "
                        "are stored at the next start", w->count);
                break;
            }
            pause = pause ? (pause * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : pause * 2) : RETRY_FIRST_MS;
            retry_at = time_mono_ms() + pause;
        }
    }
    w->running = 0;
    pthread_cond_broadcast(&w->progress);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- start-up: the journal's records the database does not hold yet -------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The journal files of prefix, sorted (by their first seq). -1 on error. */
static int journal_list(const char *prefix, char ***out, size_t *n, char *err, size_t errlen)
{
    const char *dname, *base;
    char *copy = journal_split(prefix, &dname, &base);
    if (!copy) {
        snprintf(err, errlen, "journal: out of memory");
        return -1;
    }
    DIR *d = opendir(dname);
    if (!d) {
        snprintf(err, errlen, "journal: directory %s: %s", dname, strerror(errno));
        free(copy);
        return -1;
    }
    size_t blen = strlen(base), slen = strlen(JOURNAL_SUFFIX), cap = 0;
    char **names = NULL;
    *n = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const char *nm = e->d_name;
        if (strlen(nm) != blen + slen + 16 || strncmp(nm, base, blen) || strncmp(nm + blen, JOURNAL_SUFFIX, slen) ||
            strspn(nm + blen + slen, "0123456789abcdef") != 16)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        size_t plen = strlen(dname) + strlen(nm) + 2;
        if (!(names[*n] = malloc(plen))) {
            rc = -1;
            break;
        }
        snprintf(names[(*n)++], plen, "%s/%s", dname, nm);
    }
    closedir(d);
    free(copy);
    if (rc != 0)
        snprintf(err, errlen, "journal: out of memory");
    else if (*n)
        qsort(names, *n, sizeof *names, by_name);
    *out = names;
    return rc;
}

typedef struct replay {
    writer *w;
    batch *group[REPLAY_GROUP];
    size_t n, entries;
    uint64_t batches, lines;
} replay;

static int replay_flush(replay *r, char *err, size_t errlen)
{
    int rc = 0;
    if (r->n && store_write_batches(r->w->st, r->group, r->n, r->w->o.window_ms, err, errlen) != STORE_OK)
        rc = -1;
    for (size_t i = 0; i < r->n; i++) {
        r->batches++;
        r->lines += r->group[i]->count;
        batch_free(r->group[i]);
    }
    r->n = r->entries = 0;
    return rc;
}

/* Stores the records of one file above mark; *max_seq is raised to every seq seen. */
static int replay_file(replay *r, const char *path, uint64_t mark, uint64_t *max_seq, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char *buf = NULL;
    size_t cap = 0;
    long off = 0;
    int rc = 0;
    for (;;) {
        journal_header h;
        size_t got = fread(&h, 1, sizeof h, f);
        if (got == 0 && feof(f))
            break;
        const char *why = NULL;
        if (got != sizeof h || h.magic != JOURNAL_MAGIC || h.zero || h.len > JOURNAL_RECORD_MAX)
            why = "a damaged header";
        if (!why && h.len > cap) {
            unsigned char *nb = realloc(buf, h.len);
            if (!nb) {
                snprintf(err, errlen, "journal: out of memory");
                rc = -1;
                break;
            }
            buf = nb;
            cap = h.len;
        }
        if (!why && fread(buf, 1, h.len, f) != h.len)
            why = "a record cut short";
        if (!why && (uint32_t)crc32(crc32(0L, (const Bytef *)&h.seq, sizeof h.seq), buf, h.len) != h.crc)
            why = "a record that fails its CRC";
        if (why) { /* a write the crash cut: it was never acknowledged, nor anything after it */
            log_msg(LOG_WARN, "writer", "journal %s: %s at byte %ld: the rest of the file is ignored", path, why, off);
            break;
        }
        off += (long)(sizeof h + h.len);
        if (h.seq > *max_seq)
            *max_seq = h.seq;
        if (h.seq <= mark)
            continue;
        batch *b;
        int d = batch_decode(buf, h.len, &b);
        if (d == -2) {
            snprintf(err, errlen, "journal: out of memory");
            rc = -1;
            break;
        }
        if (d != 0) {
            log_msg(LOG_ERROR, "writer", "journal %s: record %llu cannot be read: skipped", path,
                    (unsigned long long)h.seq);
            continue;
        }
        b->journal_seq = h.seq;
        r->group[r->n++] = b;
        r->entries += b->count;
        if ((r->n == REPLAY_GROUP || r->entries >= r->w->o.max_txn_entries) && replay_flush(r, err, errlen) != 0) {
            rc = -1;
            break;
        }
    }
    free(buf);
    fclose(f);
    return rc;
}

/* Stores what the journal holds beyond the database's mark, then deletes its files. */
static int journal_recover(writer *w, char *err, size_t errlen)
{
    uint64_t mark = 0, max_seq;
    if (store_journal_seq(w->st, &mark, err, errlen) != STORE_OK)
        return -1;
    max_seq = mark;
    char **files;
    size_t nf;
    if (journal_list(w->o.journal, &files, &nf, err, errlen) != 0)
        return -1;
    replay r = {.w = w};
    int rc = 0;
    for (size_t i = 0; i < nf && rc == 0; i++)
        rc = replay_file(&r, files[i], mark, &max_seq, err, errlen);
    if (rc == 0)
        rc = replay_flush(&r, err, errlen);
    else
        for (size_t i = 0; i < r.n; i++)
            batch_free(r.group[i]);
    for (size_t i = 0; i < nf; i++) {
        if (rc == 0)
            unlink(files[i]);
        free(files[i]);
    }
    free(files);
    if (rc != 0)
        return -1;
    if (r.batches)
        log_msg(LOG_INFO, "writer", "journal: stored %llu batches (%llu lines) acknowledged before the last stop",
                (unsigned long long)r.batches, (unsigned long long)r.lines);
    w->next_seq = max_seq + 1;
    w->done_seq = w->synced_seq = max_seq;
    return 0;
}

/* ---- the API ------------------------------------------------------------------- */

static void writer_free(writer *w)
{
    free(w->group);
    free(w->batches);
    for (size_t i = 0; i < w->nclosed; i++)
        free(w->closed[i].path);
    free(w->closed);
    free(w->path);
    free(w);
}

writer *writer_start(store *st, const writer_opts *o, char *err, size_t errlen)
{
    writer *w = calloc(1, sizeof *w);
    if (!w || o->queue_depth == 0 || !(w->group = calloc(o->queue_depth, sizeof *w->group)) ||
        !(w->batches = calloc(o->queue_depth, sizeof *w->batches))) {
        snprintf(err, errlen, "writer: out of memory");
        if (w)
            writer_free(w);
        return NULL;
    }
    w->st = st;
    w->o = *o;
    if (w->o.max_txn_entries == 0)
        w->o.max_txn_entries = 1;
    if (w->o.queue_bytes == 0)
        w->o.queue_bytes = WRITER_QUEUE_BYTES;
    if (w->o.journal_file_bytes == 0)
        w->o.journal_file_bytes = JOURNAL_FILE_BYTES;
    if (w->o.journal_stored_bytes == 0)
        w->o.journal_stored_bytes = JOURNAL_STORED_BYTES;
    w->fd = -1;
    w->next_seq = 1;
    w->last_ok = 1;
    w->journaled = w->o.journal != NULL;
    if (w->journaled && (journal_recover(w, err, errlen) != 0 || journal_open(w, w->next_seq, err, errlen) != 0)) {
        writer_free(w);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca; /* timed waits count on the monotonic clock, as time_mono_ms() */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_cond_init(&w->progress, &ca);
    pthread_condattr_destroy(&ca);
    w->running = 1;
    if (pthread_create(&w->th, NULL, writer_main, w) != 0) {
        snprintf(err, errlen, "writer: cannot start thread");
        if (w->fd >= 0) {
            close(w->fd);
            unlink(w->path);
        }
        writer_free(w);
        return NULL;
    }
    return w;
}

writer_rc writer_submit(writer *w, const batch *b, char *err, size_t errlen)
{
    char ebuf[256] = "";
    item *it = calloc(1, sizeof *it);
    if (!it || batch_encode(b, &it->rec) != 0) {
        if (it)
            free(it->rec.data);
        free(it);
        if (err)
            snprintf(err, errlen, "out of memory");
        return WRITER_FAILED;
    }
    it->entries = b->count;
    int journal = w->journaled;
    writer_rc rc = WRITER_OK;
    pthread_mutex_lock(&w->mu);
    if (w->stopping || !w->running) {
        rc = WRITER_STOPPING;
    } else if (journal && !w->last_ok) {
        rc = WRITER_FAILED;
        snprintf(ebuf, sizeof ebuf, "%s", w->last_error);
    } else if (w->count >= w->o.queue_depth || (w->count && w->bytes + it->rec.len > w->o.queue_bytes)) {
        rc = WRITER_FULL;
    } else {
        it->seq = w->next_seq++;
        if (journal && journal_append(w, it, ebuf, sizeof ebuf) != 0) {
            rc = WRITER_FAILED;
        } else {
            if (w->tail)
                w->tail->next = it;
            else
                w->head = it;
            w->tail = it;
            w->count++;
            w->bytes += it->rec.len;
            w->entries += it->entries;
            if (w->count == 1 || w->entries >= GATHER_ENTRIES) /* else the writer is busy or gathering */
                pthread_cond_signal(&w->wake);
            if (journal) {
                uint64_t seq = it->seq;
                it = NULL; /* the writer's now: it frees the item once stored */
                if (w->o.journal_sync)
                    journal_sync(w, seq);
                /* a fast client waits for the database rather than fill the queue */
                while (w->running && w->done_seq < seq &&
                       (seq - w->done_seq > w->o.queue_depth / 2 + 1 || w->bytes > w->o.queue_bytes / 2))
                    pthread_cond_wait(&w->progress, &w->mu);
            } else {
                while (!it->done)
                    pthread_cond_wait(&w->progress, &w->mu);
                rc = it->rc;
                snprintf(ebuf, sizeof ebuf, "%s", it->err);
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (it) {
        free(it->rec.data);
        free(it);
    }
    if (rc == WRITER_FAILED && err)
        snprintf(err, errlen, "%s", ebuf);
    return rc;
}

void writer_wait(writer *w, int64_t timeout_ms)
{
    int64_t until = time_mono_ms() + timeout_ms;
    pthread_mutex_lock(&w->mu);
    uint64_t target = w->next_seq - 1;
    if (w->done_seq < target) {
        w->hurry = 1;
        pthread_cond_signal(&w->wake);
    }
    while (w->done_seq < target && w->running && w->last_ok && time_mono_ms() < until)
        timed_wait(&w->progress, &w->mu, until);
    pthread_mutex_unlock(&w->mu);
}

void writer_stop(writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    if (w->fd >= 0)
        close(w->fd);
    if (w->journaled && !w->count) { /* everything is in the database: the journal has served */
        if (w->path)
            unlink(w->path);
        for (size_t i = 0; i < w->nclosed; i++)
            unlink(w->closed[i].path);
    }
    for (item *it = w->head; it;) {
        item *next = it->next;
        free(it->rec.data);
        free(it);
        it = next;
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->progress);
    writer_free(w);
}

void writer_get_stats(writer *w, writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    out->batches = w->n_batches;
    out->entries = w->n_entries;
    out->commits = w->n_commits;
    out->queued = w->count;
    out->queued_bytes = w->bytes;
    out->alive = w->running && w->last_ok;
    snprintf(out->last_error, sizeof out->last_error, "%s", w->last_error);
    pthread_mutex_unlock(&w->mu);
}
