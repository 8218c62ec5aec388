/*
 * open.c — opening and closing a store: the location chooses the driver
 * (postgres:// or postgresql:// the PostgreSQL one, anything else a SQLite
 * file), and a location is shown without its password. The one file of the
 * store that knows both drivers; the drivers and the domains never call it.
 *
 * Threads: store_open and store_close on main's thread, before and after
 * every other; store_location from any. Limits: none of its own.
 */
#include "store/db.h"

#include <stdio.h>
#include <string.h>

static int is_pg(const char *path)
{
    return !strncmp(path, "postgres://", 11) || !strncmp(path, "postgresql://", 13);
}

store_rc store_open(const char *path, store_durability durability, store **out, char *err, size_t errlen)
{
    return is_pg(path) ? store_pg_open(path, durability, out, err, errlen)
                       : store_sqlite_open(path, durability, out, err, errlen);
}

const char *store_location(const char *path, char *buf, size_t len)
{
    if (is_pg(path))
        return store_pg_location(path, buf, len);
    snprintf(buf, len, "%s", path);
    return buf;
}

void store_close(store *s)
{
    db_store_free(s);
}
