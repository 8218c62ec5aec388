/* Migrations compiled in from sql/ by cmake/embed_sql.cmake. Private to store/. */
#ifndef ANOMALOG_STORE_MIGRATIONS_H
#define ANOMALOG_STORE_MIGRATIONS_H

struct migration {
    int version;        /* NNN of NNN_name.sql */
    const char *name;   /* file name */
    const char *sql;    /* the whole file */
};

extern const struct migration migrations[];
extern const int migrations_count;

/* sql/pg/: the same versions for PostgreSQL */
extern const struct migration pg_migrations[];
extern const int pg_migrations_count;

#endif
