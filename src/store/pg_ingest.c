/*
 * pg_ingest.c — the PostgreSQL write path (store_write_batches).
 *
 * Thread: the writer's only, on the write connection (s->w).
 *
 * One transaction per group commit, in four round trips whatever the number
 * of services and windows in it:
 *  1. BEGIN and one statement that upserts every service and every window of
 *     the group (their names, starts and line counts as arrays) and returns
 *     the windows' ids, sent together in one pipeline;
 *  2. COPY logs FROM STDIN in binary format: fixed-size integers and the
 *     strings as they are, no escaping on either side, sent in chunks of
 *     COPY_CHUNK bytes while the server already stores the first ones;
 *  3. (a batch's Idempotency-Key, rare: one statement each;)
 *  4. COMMIT.
 * Services are upserted in name order and windows in (service name, start)
 * order in every replica, so replicas writing the same windows cannot
 * deadlock. Late lines are counted by the window upsert from the window's
 * status at that moment, as on SQLite.
 *
 * Limits: the entries of one call (the writer bounds them, max_txn_entries)
 * are held in two arrays of n pointers; a COPY chunk is COPY_CHUNK bytes (a
 * larger field is sent on its own); the upsert's array texts grow with the
 * number of distinct services and windows of the group.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"
#include "store/pg_int.h"
#include "store/queries.h"

#define COPY_CHUNK (1 << 20)

/* One entry of the commit, with where it goes. */
typedef struct ent {
    const log_entry *e;
    int64_t received, start;
    int64_t window_id;
} ent;

static int ent_cmp(const void *x, const void *y)
{
    const ent *a = *(const ent *const *)x, *b = *(const ent *const *)y;
    int c = strcmp(a->e->service, b->e->service);
    return c ? c : (a->start > b->start) - (a->start < b->start);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- the upsert's arrays: PostgreSQL array literals ({"a","b"}, {1,2}) ---------------- */

/* An array literal built in memory (open_memstream): after array_close, p holds it NUL-terminated. */
typedef struct array {
    FILE *f;
    char *p;
    size_t n;
    int items;
} array;

static int array_open(array *a)
{
    *a = (array){0};
    return (a->f = open_memstream(&a->p, &a->n)) && fputc('{', a->f) != EOF ? 0 : -1;
}

/* the next element: a string, quoted, its quotes and backslashes escaped */
static void array_str(array *a, const char *s)
{
    fputs(a->items++ ? ",\"" : "\"", a->f);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', a->f);
        fputc(*p, a->f);
    }
    fputc('"', a->f);
}

static void array_num(array *a, int64_t v)
{
    fprintf(a->f, "%s%lld", a->items++ ? "," : "", (long long)v);
}

/* 0, or -1 when memory ran out on the way */
static int array_close(array *a)
{
    if (!a->f)
        return -1;
    int bad = fputc('}', a->f) == EOF || ferror(a->f);
    return fclose(a->f) || bad ? -1 : 0;
}

/* ---- 1. BEGIN and the services' and windows' upsert, one round trip ----------------------- */

typedef struct group {
    ent **first;  /* its entries in the sorted array */
    size_t n;
} group;

typedef struct upsert {
    group *g;     /* one per (service, window start), in sorted order */
    size_t ng;
} upsert;

static int group_find(const void *key, const void *elem)
{
    const ent *k = key;
    const ent *g = ((const group *)elem)->first[0];
    int c = strcmp(k->e->service, g->e->service);
    return c ? c : (k->start > g->start) - (k->start < g->start);
}

/* Reads the upsert's rows (id, service name, start) into the groups' entries. */
static int ids_into(const upsert *u, PGresult *r)
{
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        log_entry e = {.service = PQgetvalue(r, i, 1)};
        ent key = {.e = &e, .start = strtoll(PQgetvalue(r, i, 2), NULL, 10)};
        group *g = bsearch(&key, u->g, u->ng, sizeof *u->g, group_find);
        if (!g)
            return -1;
        int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        for (size_t k = 0; k < g->n; k++)
            g->first[k]->window_id = id;
    }
    return rows == (int)u->ng ? 0 : -1;
}

static store_rc begin_and_upsert(store *s, ent **sorted, size_t n, int64_t window_ms, int64_t now, char *err,
                                 size_t errlen)
{
    store_rc rc = STORE_OK;
    upsert u = {malloc((n ? n : 1) * sizeof *u.g), 0};
    array names, marks, wnames, starts, counts;
    array *arrays[] = {&names, &marks, &wnames, &starts, &counts};
    int oom = !u.g;
    for (size_t i = 0; i < 5; i++)
        oom |= array_open(arrays[i]);
    for (size_t i = 0; !oom && i < n;) {
        const char *name = sorted[i]->e->service;
        int64_t max_ts = sorted[i]->e->ts_ms;
        size_t j = i;
        for (; j < n && !strcmp(sorted[j]->e->service, name); j++)
            if (sorted[j]->e->ts_ms > max_ts)
                max_ts = sorted[j]->e->ts_ms;
        array_str(&names, name);
        array_num(&marks, max_ts);
        for (size_t k = i; k < j;) {
            size_t m = k;
            while (m < j && sorted[m]->start == sorted[k]->start)
                m++;
            u.g[u.ng++] = (group){&sorted[k], m - k};
            array_str(&wnames, name);
            array_num(&starts, sorted[k]->start);
            array_num(&counts, (int64_t)(m - k));
            k = m;
        }
        i = j;
    }
    for (size_t i = 0; i < 5; i++)
        oom |= array_close(arrays[i]);
    db_conn *c = s->w;
    db_stmt *st = &sql_pgw_upsert;
    int slot = db_slot(st);
    char name[16], now_s[24], len_s[24];
    snprintf(name, sizeof name, "s%d", slot);
    snprintf(now_s, sizeof now_s, "%lld", (long long)now);
    snprintf(len_s, sizeof len_s, "%lld", (long long)window_ms);
    const char *v[7] = {names.p, marks.p, now_s, wnames.p, starts.p, counts.p, len_s};
    if (oom) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    } else if (!PQenterPipelineMode(c->c)) {
        rc = pg_fail(c, NULL, "pipeline", err, errlen);
    } else {
        int sent = PQsendQueryParams(c->c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
        int prepare = !c->prepared[slot];
        if (sent && prepare)
            sent = PQsendPrepare(c->c, name, st->pg, 7, NULL);
        sent = sent && PQsendQueryPrepared(c->c, name, 7, v, NULL, NULL, 0) && PQpipelineSync(c->c);
        /* results: BEGIN, [the prepare], the upsert (each followed by NULL), then the sync; an error
         * aborts what follows it in the pipeline */
        for (int nth = 0, nulls = 0; sent && nulls < 2;) {
            PGresult *r = PQgetResult(c->c);
            if (!r) {
                nulls++; /* two in a row: the connection is gone */
                continue;
            }
            nulls = 0;
            ExecStatusType status = PQresultStatus(r);
            if (status == PGRES_PIPELINE_SYNC) {
                PQclear(r);
                break;
            }
            nth++;
            if (status == PGRES_COMMAND_OK && prepare && nth == 2)
                c->prepared[slot] = 1;
            if (status == PGRES_TUPLES_OK && rc == STORE_OK && ids_into(&u, r)) {
                snprintf(err, errlen, "upsert: the windows' ids do not match the group");
                rc = STORE_ERROR;
            }
            if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && rc == STORE_OK)
                rc = pg_fail(c, r, "upsert", err, errlen);
            else
                PQclear(r);
        }
        if (!sent && rc == STORE_OK)
            rc = pg_fail(c, NULL, "upsert", err, errlen);
        PQexitPipelineMode(c->c);
    }
    for (size_t i = 0; i < 5; i++)
        free(arrays[i]->p);
    free(u.g);
    return rc;
}

/* ---- 2. COPY in binary format ---------------------------------------------------------------- */

typedef struct copy_out {
    PGconn *c;
    size_t n;
    int bad;
    char buf[COPY_CHUNK];
} copy_out;

static void co_flush(copy_out *o)
{
    if (o->n && !o->bad)
        o->bad = PQputCopyData(o->c, o->buf, (int)o->n) != 1;
    o->n = 0;
}

static void co_put(copy_out *o, const void *p, size_t n)
{
    if (o->n + n > sizeof o->buf)
        co_flush(o);
    if (n > sizeof o->buf) { /* a field larger than a chunk goes on its own */
        if (!o->bad)
            o->bad = PQputCopyData(o->c, p, (int)n) != 1;
        return;
    }
    memcpy(o->buf + o->n, p, n);
    o->n += n;
}

static void co_i16(copy_out *o, int16_t v)
{
    uint16_t be = htobe16((uint16_t)v);
    co_put(o, &be, 2);
}

static void co_i32(copy_out *o, int32_t v)
{
    uint32_t be = htobe32((uint32_t)v);
    co_put(o, &be, 4);
}

/* an int8 field: its length, then the value */
static void co_int8(copy_out *o, int64_t v)
{
    uint64_t be = htobe64((uint64_t)v);
    co_i32(o, 8);
    co_put(o, &be, 8);
}

/* a text field: its length and bytes, or -1 for NULL */
static void co_text(copy_out *o, const char *s, size_t n)
{
    co_i32(o, s ? (int32_t)n : -1);
    if (s)
        co_put(o, s, n);
}

static store_rc copy_logs(store *s, ent *v, size_t n, char *err, size_t errlen)
{
    PGconn *c = s->w->c;
    PGresult *r = PQexec(c, "COPY logs(window_id, ts, level, message, attributes, received_at) FROM STDIN "
                            "(FORMAT binary)");
    if (PQresultStatus(r) != PGRES_COPY_IN)
        return pg_fail(s->w, r, "copy", err, errlen);
    PQclear(r);
    copy_out *o = malloc(sizeof *o);
    int oom = !o, bad = oom;
    if (o) {
        o->c = c;
        o->n = 0;
        o->bad = 0;
        static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0"; /* signature, flags, extension */
        co_put(o, header, sizeof header);
        for (size_t i = 0; i < n; i++) {
            const log_entry *e = v[i].e;
            co_i16(o, 6);
            co_int8(o, v[i].window_id);
            co_int8(o, e->ts_ms);
            co_text(o, e->level, e->level ? strlen(e->level) : 0);
            co_text(o, e->message, e->message_len);
            co_text(o, e->attributes, e->attributes ? strlen(e->attributes) : 0);
            co_int8(o, v[i].received);
        }
        co_i16(o, -1); /* the trailer */
        co_flush(o);
        bad = o->bad;
        free(o);
    }
    if (PQputCopyEnd(c, bad ? "could not send the rows" : NULL) != 1)
        bad = 1;
    store_rc rc = STORE_OK;
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == STORE_OK)
            rc = pg_fail(s->w, r, "copy", err, errlen);
        else
            PQclear(r);
    }
    if (bad && rc == STORE_OK) {
        snprintf(err, errlen, "copy: %s", oom ? "out of memory" : PQerrorMessage(c));
        rc = STORE_ERROR;
    }
    return rc;
}

/* ---- the group commit ------------------------------------------------------------------------- */

store_rc pg_write_batches(store *s, batch *const *batches, size_t nb, int64_t window_ms, char *err, size_t errlen)
{
    size_t n = 0;
    for (size_t b = 0; b < nb; b++)
        n += batches[b]->count;
    ent *v = malloc((n ? n : 1) * sizeof *v);
    ent **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!v || !sorted) {
        free(v);
        free(sorted);
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    size_t k = 0;
    for (size_t b = 0; b < nb; b++)
        for (size_t i = 0; i < batches[b]->count; i++, k++) {
            const log_entry *e = &batches[b]->entries[i];
            v[k] = (ent){.e = e, .received = batches[b]->received_ms,
                         .start = floor_div(e->ts_ms, window_ms) * window_ms};
            sorted[k] = &v[k];
        }
    /* services and windows in one order in every replica: no deadlock between writers */
    qsort(sorted, n, sizeof *sorted, ent_cmp);
    store_rc rc = begin_and_upsert(s, sorted, n, window_ms, time_now_ms(), err, errlen);
    if (rc == STORE_OK && n) /* a batch may be empty and carry only its Idempotency-Key */
        rc = copy_logs(s, v, n, err, errlen);
    for (size_t b = 0; b < nb && rc == STORE_OK; b++)
        if (batches[b]->idem)
            rc = idem_put(s, s->w, batches[b]->idem, err, errlen);
    if (rc == STORE_OK)
        rc = pg_exec(s->w, "COMMIT", err, errlen);
    if (rc != STORE_OK && PQtransactionStatus(s->w->c) != PQTRANS_IDLE)
        pg_exec(s->w, "ROLLBACK", NULL, 0);
    free(v);
    free(sorted);
    return rc;
}
