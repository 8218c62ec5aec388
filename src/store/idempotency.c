/*
 * idempotency.c — the Idempotency-Keys of ingest requests: recorded with
 * their batch (idem_put, in the writer's transaction), read back to replay an
 * answer, pruned once expired.
 *
 * Threads: idem_put and store_idempotency_prune on the writer thread (the
 * write connection); store_idempotency_get on any (a read connection).
 * Bytes (the body's SHA-256, the answer's body) are stored as BLOB / bytea.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/queries.h"

store_rc idem_put(store *s, db_conn *c, const batch_idempotency *k, char *err, size_t errlen)
{
    return db_run(s, c, &sql_idem_put,
                  DB_ARGS(db_text(k->scope), db_text(k->key), db_text(k->endpoint),
                          db_blob(k->body_sha256, sizeof k->body_sha256), db_int(k->status), db_text(k->content_type),
                          db_blob(k->body, k->body_len), db_int(k->created_ms)),
                  NULL, NULL, NULL, err, errlen);
}

store_rc store_idempotency_prune(store *s, int64_t before_ms, int limit, int *deleted, char *err, size_t errlen)
{
    int64_t n = 0;
    store_rc rc = db_run(s, s->w, &sql_idem_prune, DB_ARGS(db_int(before_ms), db_int(limit)), NULL, NULL, &n, err, errlen);
    *deleted = rc == STORE_OK ? (int)n : 0;
    return rc;
}

static int idem_row(const store_row *r, void *arg)
{
    idempotency_record *out = arg;
    size_t n = 0;
    char *sha = row_blob_dup(r, 1, &n);
    if (sha && n == sizeof out->body_sha256)
        memcpy(out->body_sha256, sha, sizeof out->body_sha256);
    free(sha);
    out->status = (int)row_i64(r, 2);
    row_copy(r, 3, out->content_type, sizeof out->content_type);
    out->created_ms = row_i64(r, 5);
    const char *endpoint = row_text(r, 0);
    out->endpoint = strdup(endpoint ? endpoint : "");
    out->body = row_blob_dup(r, 4, &out->body_len);
    return 1;
}

store_rc store_idempotency_get(store *s, const char *scope, const char *key, int64_t after_ms,
                               idempotency_record *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->status = -1;
    store_rc rc = db_read(s, &sql_idem_get, DB_ARGS(db_text(scope), db_text(key), db_int(after_ms)), idem_row, out, err,
                          errlen);
    if (rc == STORE_OK && out->status < 0) {
        rc = STORE_NOTFOUND;
    } else if (rc == STORE_OK && (!out->endpoint || !out->body)) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc != STORE_OK)
        idempotency_record_free(out);
    return rc;
}

void idempotency_record_free(idempotency_record *r)
{
    if (!r)
        return;
    free(r->endpoint);
    free(r->body);
    memset(r, 0, sizeof *r);
}
