/*
 * elastic.c — the Elasticsearch surface bulk clients need: POST /_bulk and
 * /{index}/_bulk, and the probes some send first (GET / for the version,
 * GET /_license for the product check Filebeat makes since 7.13).
 *
 * Threads: the connection's thread, blocking in the writer like /ingest.
 *
 * Answers: bulk answers {"took", "errors", "items"} with one item per action,
 * in order (rsyslog's omelasticsearch treats a reply without items as an
 * error, Fluent Bit retries items whose status is not 200/201/409, Filebeat
 * drops 4xx items). Under pressure the whole request gets 503/429 with
 * Retry-After, which every one of them retries. Every answer here carries
 * X-Elastic-Product: Elasticsearch, which newer clients check.
 *
 * GET / is shared with the built-in dashboard (another module): it answers
 * the JSON version document only when the request looks like an API client,
 * that is when its Accept header does not ask for text/html.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/http.h"
#include "anomalog/ingest.h"
#include "anomalog/metrics.h"
#include "anomalog/timeutil.h"
#include "anomalog/writer.h"

#define ES_VERSION "8.11.0"

int http_es_probe_wanted(const http_request *rq)
{
    const char *accept = rq->header(rq, "Accept");
    return !accept || !strstr(accept, "text/html");
}

void http_es_root(const app *a, const http_request *rq, http_response *rs)
{
    (void)a;
    (void)rq;
    http_es_product(rs);
    rs->status = 200;
    rs->json = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:s}", "name", "anomalog",
                         "cluster_name", "anomalog", "cluster_uuid", "anomalog", "version", "number", ES_VERSION,
                         "build_flavor", "default", "build_type", "deb", "lucene_version", "9.8.0",
                         "minimum_wire_compatibility_version", "7.17.0", "minimum_index_compatibility_version",
                         "7.0.0", "tagline", "You Know, for Search");
}

/*
 * GET /_cluster/health: Vector's elasticsearch sink asks it at start-up and
 * refuses to start on an error. "green" while the writer takes batches,
 * "red" (still 200, as Elasticsearch answers) when it does not.
 */
void http_es_cluster_health(const app *a, const http_request *rq, http_response *rs)
{
    (void)rq;
    writer_stats ws = {.alive = 1};
    if (a->wr)
        writer_get_stats(a->wr, &ws);
    int ok = ws.alive;
    http_es_product(rs);
    rs->status = 200;
    rs->json = json_pack("{s:s, s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f}", "cluster_name", "anomalog", "status",
                         ok ? "green" : "red", "timed_out", 0, "number_of_nodes", 1, "number_of_data_nodes", 1,
                         "active_primary_shards", 1, "active_shards", 1, "relocating_shards", 0, "initializing_shards",
                         0, "unassigned_shards", 0, "active_shards_percent_as_number", ok ? 100.0 : 0.0);
}

void http_es_license(const app *a, const http_request *rq, http_response *rs)
{
    (void)a;
    (void)rq;
    http_es_product(rs);
    rs->status = 200;
    rs->json = json_pack("{s:{s:s, s:s, s:s}}", "license", "status", "active", "type", "basic", "uid",
                         "anomalog");
}

typedef struct bulk_answer {
    json_t *items;
    int64_t t0;
    const char *index; /* the path's {index}, or NULL */
} bulk_answer;

/* {"took", "errors", "items"}: one item per action, in order */
static void answer_items(http_response *rs, void *arg)
{
    const bulk_answer *ba = arg;
    int errors = 0;
    long refused = 0;
    size_t i;
    json_t *x;
    json_array_foreach(ba->items, i, x) {
        json_t *st = json_object_get(json_object_iter_value(json_object_iter(x)), "status");
        errors |= json_integer_value(st) >= 300;
        refused += json_integer_value(st) >= 300;
    }
    json_decref(rs->json);
    rs->status = 200;
    rs->json = json_pack("{s:I, s:b, s:O}", "took", (json_int_t)(time_mono_ms() - ba->t0), "errors", errors,
                         "items", ba->items);
    metrics_items_rejected("/_bulk", refused);
}

static int parse_bulk(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err, void *arg)
{
    bulk_answer *ba = arg;
    return ba->items ? ingest_parse_es_bulk(body, len, o, ba->index, b, err, ba->items) : -2;
}

void http_es_bulk(const app *a, const http_request *rq, http_response *rs)
{
    const char *body;
    size_t len;
    char *owned = NULL;
    bulk_answer ba = {.t0 = time_mono_ms(), .index = rq->params[0]};
    http_es_product(rs);
    if (http_ingest_inflate(a, rq, rs, &body, &len, &owned) != 0)
        return;
    ba.items = json_array();
    http_ingest_parse_commit(a, rq, rs, "/_bulk", body, len, owned, parse_bulk, answer_items, &ba);
    json_decref(ba.items);
}
