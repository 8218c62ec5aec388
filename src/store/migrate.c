/*
 * migrate.c — applying the numbered migrations (sql/NNN_name.sql, or
 * sql/pg/NNN_name.sql for PostgreSQL, compiled in), once for both dialects.
 *
 * Each migration runs in its own transaction together with its row in
 * schema_version, and each without its row is applied, even one numbered
 * below the database's highest (numbers are handed out ahead of merging).
 * A database newer than the binary is refused. Called at open, on the writer
 * connection, before any other thread has the store; PostgreSQL replicas
 * starting together serialise around it with an advisory lock (db_pg.c).
 */
#include <stdio.h>

#include "anomalog/timeutil.h"
#include "store/db.h"
#include "store/queries.h"

int db_migrate(store *s, db_conn *c, const struct migration *m, int n, char *err, size_t errlen)
{
    int64_t version = 0;
    if (db_run(s, c, &sql_mig_create, DB_NOARGS, NULL, NULL, NULL, err, errlen) != STORE_OK ||
        db_int_of(s, c, &sql_mig_version, DB_NOARGS, &version, NULL, err, errlen) != STORE_OK)
        return -1;
    s->version = (int)version;
    if (s->version > store_schema_latest()) {
        snprintf(err, errlen, "database schema version %d is newer than this binary's %d: upgrade anomalog",
                 s->version, store_schema_latest());
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int applied = 0;
        int64_t one;
        if (db_int_of(s, c, &sql_mig_has, DB_ARGS(db_int(m[i].version)), &one, &applied, err, errlen) != STORE_OK)
            return -1;
        if (applied)
            continue;
        char what[512] = "";
        if (s->drv->begin(c, err, errlen) != STORE_OK)
            return -1;
        if (s->drv->exec(c, m[i].sql, what, sizeof what) != STORE_OK ||
            db_run(s, c, &sql_mig_record, DB_ARGS(db_int(m[i].version), db_text(m[i].name), db_int(time_now_ms())), NULL,
                   NULL, NULL, what, sizeof what) != STORE_OK ||
            s->drv->exec(c, "COMMIT", what, sizeof what) != STORE_OK) {
            snprintf(err, errlen, "migration %s%s: %s", s->drv->name[0] == 'p' ? "pg/" : "", m[i].name, what);
            if (s->drv->in_tx(c))
                s->drv->exec(c, "ROLLBACK", NULL, 0);
            return -1;
        }
        if (m[i].version > s->version)
            s->version = m[i].version;
    }
    return 0;
}
