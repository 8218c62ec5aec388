/**
 * @file lockfile.h
 * @brief One serving process per SQLite database: an exclusive lock on `<db>.lock`.
 *
 * `anomalog serve` takes the lock before it opens the database or touches the
 * ingest journal (`<db>-ingest.*`), and holds it until it exits; a second
 * process asking for it is refused at once, told the holder's pid. A
 * PostgreSQL URL takes no lock: replicas sharing one database are allowed.
 */
#ifndef ANOMALOG_LOCKFILE_H
#define ANOMALOG_LOCKFILE_H

#include <stddef.h>

typedef struct lockfile lockfile;

/**
 * Takes the exclusive lock of the database at db (a no-op for a PostgreSQL URL).
 * @param[out] out  the lock held (NULL for a PostgreSQL URL); release with lockfile_release
 * @param[out] err  on failure: why, naming the lock file and, when another process
 *                  holds it, that process's pid
 * @return 0, or -1 (nothing held)
 */
int lockfile_take(const char *db, lockfile **out, char *err, size_t errlen);

/** Releases the lock (process exit does too). Accepts NULL. */
void lockfile_release(lockfile *l);

#endif
