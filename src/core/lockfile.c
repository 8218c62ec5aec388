/*
 * lockfile.c — the exclusive lock that keeps a second `anomalog serve` (or a
 * `migrate`) off a SQLite database and its ingest journal.
 *
 * Purpose: two processes on one database lose acknowledged lines (the second
 * replays and deletes the first one's live journal files) and store others
 * twice. So `serve` (and `migrate`) takes a lock on `<db>.lock`, a file beside the database,
 * before the database is opened or the journal read, and keeps it for its
 * whole life; a second process is refused at once, with the holder's pid.
 *
 * How: a POSIX record lock (fcntl F_SETLK, write lock on the whole file).
 * The kernel drops it when the process dies however it dies, so a kill -9
 * never leaves a stale lock behind; the file itself stays (deleting it would
 * race with a process opening it). The pid a refused process reports comes
 * from F_GETLK (the kernel's answer), else from the file's text, where the
 * holder writes its pid for people. A POSIX lock is the process's and goes
 * when the process closes any descriptor of the file: nothing else in
 * anomalog opens `<db>.lock`.
 *
 * Threads: called by main before any other thread starts (the list of locks
 * held is not locked); a lock held for the process's life needs no release.
 *
 * Limits: the lock path is the database path plus ".lock", bounded by
 * PATH_MAX. A PostgreSQL URL (postgres:// or postgresql://) takes no lock:
 * replicas on one PostgreSQL database are allowed by design, and each keeps
 * no journal.
 */
#include "anomalog/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lockfile {
    int fd;
    struct lockfile *next;
};

/* Every lock held, so one held until exit without a release is still reachable (not a leak). */
static lockfile *lockfile_held;

static int lockfile_is_pg(const char *db)
{
    return !strncmp(db, "postgres://", 11) || !strncmp(db, "postgresql://", 13);
}

/* The pid the lock file's text names, or 0. */
static long lockfile_holder_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    return pid > 0 && (*end == '\n' || *end == '\0') ? pid : 0;
}

int lockfile_take(const char *db, lockfile **out, char *err, size_t errlen)
{
    *out = NULL;
    if (lockfile_is_pg(db))
        return 0;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s.lock", db) >= sizeof path) {
        snprintf(err, errlen, "database path %s is too long for its lock file", db);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "lock file %s: %s", path, strerror(errno));
        return -1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int why = errno;
        if (why == EAGAIN || why == EACCES) {
            struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
            long pid = fcntl(fd, F_GETLK, &q) == 0 && q.l_pid > 0 ? (long)q.l_pid : 0;
            if (!pid)
                pid = lockfile_holder_pid(fd);
            if (pid)
                snprintf(err, errlen, "database %s is in use by another anomalog (pid %ld holds %s); "
                         "one process serves a SQLite database", db, pid, path);
            else
                snprintf(err, errlen, "database %s is in use by another anomalog (it holds %s); "
                         "one process serves a SQLite database", db, path);
        } else {
            snprintf(err, errlen, "lock file %s: %s", path, strerror(why));
        }
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        snprintf(err, errlen, "lock file %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    lockfile *l = malloc(sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return -1;
    }
    l->fd = fd;
    l->next = lockfile_held;
    lockfile_held = l;
    *out = l;
    return 0;
}

void lockfile_release(lockfile *l)
{
    if (!l)
        return;
    for (lockfile **p = &lockfile_held; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    /* the pid goes first, so the file never names a process that no longer holds it */
    if (ftruncate(l->fd, 0) != 0) {
        /* nothing to do: the lock is dropped with the descriptor anyway */
    }
    close(l->fd);
    free(l);
}
