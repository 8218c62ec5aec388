/*
 * idempotency.c — the Idempotency-Key header of the ingest endpoints, as
 * Stripe's API has it: a client that did not learn whether a batch was stored
 * (a timeout, a reset connection, a restart of the service) sends it again
 * with the same key, and the batch is stored once.
 *
 * A key is 1..255 printable ASCII bytes. Keys are scoped: per ingest token
 * when ingestion needs one ("auth.ingest_token", "auth.tokens[N]": the token's
 * place in the configuration, never the token), else one scope for everyone,
 * so two tenants with their own tokens cannot collide. What identifies the
 * request is its path and the SHA-256 of its body as sent (before gunzip);
 * other headers and the query are not compared.
 *
 * Life of a key:
 *   1. http_idem_begin() (dispatch, after authorization) validates it (400),
 *      marks it in flight in a process-wide table (the same key in flight
 *      already: 409 idempotency_key_in_use, Retry-After: 1), waits for the
 *      batches acknowledged before it to be stored (writer_wait: a 202 comes
 *      once a batch is in the ingest journal), and looks it up in the store. Recorded within ingest.idempotency_ttl: same path and
 *      body -> the recorded status and body again, with
 *      Idempotent-Replayed: true, and nothing stored; anything else -> 422
 *      idempotency_key_reused.
 *   2. The handler parses as usual; http_ingest_commit() builds the success
 *      answer before the commit and http_idem_record() puts it, with the key,
 *      into the batch, so the writer stores key, answer and lines in one
 *      transaction (store_write_batches): a committed batch always has its
 *      key, and a key never exists without its batch.
 *   3. http_idem_end() takes the key out of the in-flight table.
 * Only a stored batch records its key: an answer that stored nothing (4xx,
 * 503) leaves the key free, and a retry is processed afresh. The writer
 * prunes expired keys (writer.c).
 *
 * Threads: any HTTP thread; the in-flight table is guarded by one mutex, held
 * only to link or unlink an entry. Entries live on the dispatching thread's
 * stack, so the table allocates nothing. One service per process: the table
 * is the process's.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/http.h"
#include "anomalog/metrics.h"
#include "anomalog/timeutil.h"

#define INFLIGHT_BUCKETS 256

static pthread_mutex_t inflight_mu = PTHREAD_MUTEX_INITIALIZER;
static http_idem *inflight[INFLIGHT_BUCKETS];

static unsigned bucket_of(const char *scope, const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a over scope, a separator, key */
    for (const char *p = scope; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % INFLIGHT_BUCKETS;
}

/* Links k into the table; 0, or -1 when the same scope and key is there already. */
static int inflight_claim(http_idem *k)
{
    k->bucket = bucket_of(k->scope, k->key);
    pthread_mutex_lock(&inflight_mu);
    for (http_idem *e = inflight[k->bucket]; e; e = e->next) {
        if (strcmp(e->key, k->key) == 0 && strcmp(e->scope, k->scope) == 0) {
            pthread_mutex_unlock(&inflight_mu);
            return -1;
        }
    }
    k->next = inflight[k->bucket];
    inflight[k->bucket] = k;
    metrics_idem_in_flight(1);
    pthread_mutex_unlock(&inflight_mu);
    return 0;
}

void http_idem_end(http_idem *k)
{
    pthread_mutex_lock(&inflight_mu);
    for (http_idem **p = &inflight[k->bucket]; *p; p = &(*p)->next) {
        if (*p == k) {
            *p = k->next;
            metrics_idem_in_flight(-1);
            break;
        }
    }
    pthread_mutex_unlock(&inflight_mu);
}

/* The static Content-Type string of a recorded answer (http_response wants one). */
static const char *static_type(const char *ct)
{
    static const char *const known[] = {"application/json", "application/x-protobuf"};
    if (!*ct)
        return NULL;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(ct, known[i]) == 0)
            return known[i];
    return "application/octet-stream";
}

/* Answers from the record r (its body moves into rs). */
static void replay(const http_request *rq, http_response *rs, idempotency_record *r)
{
    http_response_clear(rs);
    rs->status = r->status;
    rs->content_type = static_type(r->content_type);
    if (r->body_len) {
        rs->body = r->body;
        rs->body_len = r->body_len;
        r->body = NULL;
    }
    rs->replayed = 1;
    const char *endpoint = http_ingest_endpoint(rq->path);
    metrics_replayed(endpoint);
    if (endpoint && strcmp(endpoint, "/_bulk") == 0)
        http_es_product(rs);
}

int http_idem_begin(const app *a, http_request *rq, http_response *rs, http_idem *k)
{
    const char *key = rq->header(rq, "Idempotency-Key");
    if (!key)
        return 0;
    size_t n = 0;
    while (n <= HTTP_IDEM_KEY_MAX && key[n] >= 0x20 && key[n] <= 0x7e)
        n++;
    if (n == 0 || n > HTTP_IDEM_KEY_MAX || key[n]) {
        json_t *e = http_error(rs, 400, "invalid_parameter",
                               "header Idempotency-Key: a key is 1 to %d printable ASCII characters",
                               HTTP_IDEM_KEY_MAX);
        json_object_set_new(e, "parameter", json_string("Idempotency-Key"));
        return -1;
    }
    memset(k, 0, sizeof *k);
    memcpy(k->key, key, n);
    if (rq->token == 0)
        snprintf(k->scope, sizeof k->scope, "auth.ingest_token");
    else if (rq->token > 0)
        snprintf(k->scope, sizeof k->scope, "auth.tokens[%d]", rq->token - 1);
    k->endpoint = rq->path;
    if (!EVP_Digest(rq->body ? rq->body : "", rq->body_len, k->body_sha256, NULL, EVP_sha256(), NULL)) {
        http_error(rs, 500, "internal", "cannot hash the body");
        return -1;
    }
    if (inflight_claim(k) != 0) {
        http_error(rs, 409, "idempotency_key_in_use",
                   "a request with this Idempotency-Key is still being processed: retry once it is answered");
        snprintf(rs->retry_after, sizeof rs->retry_after, "1");
        return -1;
    }
    idempotency_record r;
    char err[256] = "";
    writer_wait(a->wr, WRITER_READ_WAIT_MS); /* a key acknowledged a moment ago is in the database */
    switch (store_idempotency_get(a->st, k->scope, k->key, time_now_ms() - a->cfg->idempotency_ttl_ms, &r, err,
                                  sizeof err)) {
    case STORE_NOTFOUND:
        rq->idem = k;
        return 1;
    case STORE_OK:
        if (strcmp(r.endpoint, k->endpoint) != 0)
            http_error(rs, 422, "idempotency_key_reused",
                       "this Idempotency-Key was used with another endpoint (%s): use a new key for a new request",
                       r.endpoint);
        else if (memcmp(r.body_sha256, k->body_sha256, sizeof k->body_sha256) != 0)
            http_error(rs, 422, "idempotency_key_reused",
                       "this Idempotency-Key was used with another body: use a new key for a new request");
        else
            replay(rq, rs, &r);
        idempotency_record_free(&r);
        break;
    default:
        http_storage_unavailable(rs, err);
        break;
    }
    http_idem_end(k);
    return -1;
}

int http_idem_record(const http_request *rq, const http_response *rs, batch_idempotency *rec, char **owned)
{
    const http_idem *k = rq->idem;
    *owned = NULL;
    memset(rec, 0, sizeof *rec);
    rec->scope = k->scope;
    rec->key = k->key;
    rec->endpoint = k->endpoint;
    memcpy(rec->body_sha256, k->body_sha256, sizeof rec->body_sha256);
    rec->status = rs->status;
    rec->created_ms = time_now_ms();
    if (rs->json) {
        if (!(*owned = http_json_text(rs->json, &rec->body_len)))
            return -1;
        rec->body = *owned;
        rec->content_type = "application/json";
    } else {
        rec->body = rs->body;
        rec->body_len = rs->body ? rs->body_len : 0;
        rec->content_type = rs->content_type;
    }
    return 0;
}
