/*
 * esbulk.c — Elasticsearch bulk bodies (NDJSON of action lines and
 * documents), as sent by Fluent Bit's es output, Vector's elasticsearch
 * sink, Filebeat and rsyslog's omelasticsearch.
 *
 * Each `index` or `create` action line is followed by a document, which is
 * read like an NDJSON entry of /ingest (@timestamp, message or log, level,
 * service aliases; the rest become attributes; a message that is itself a
 * JSON object, and a level only the line states, as json.c reads them). A document without a service
 * gets the request's default (?service=, X-Service), else the action's
 * `_index`, else the index in the URL, else "default". `delete` and `update`
 * actions (and an `update`'s document) are answered per item with 400: we
 * only append logs.
 *
 * Per-item outcomes, as bulk clients read them: a document that cannot be a
 * log entry (not an object, a timestamp that is not one) is refused alone
 * (item status 400, mapper_parsing_exception) and the others are stored; a
 * body whose action lines are not JSON objects naming one action is refused
 * whole (400), as Elasticsearch does.
 *
 * Threads: the HTTP thread that owns the batch. Limits: max_entries
 * documents (413), max_line per message, index names to 255 bytes.
 */
#include "ingest/common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    }
    return 1;
}

/* Next non-blank line of body from *pos; 0 when there is none. */
static int next_line(const char *body, size_t len, size_t *pos, long *ln, const char **s, size_t *n)
{
    while (*pos < len) {
        const char *p;
        size_t k = ingest_next_line(body, len, pos, &p);
        (*ln)++;
        if (!is_blank(p, k)) {
            *s = p;
            *n = k;
            return 1;
        }
    }
    return 0;
}

static int valid_index(const char *s, size_t n)
{
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    }
    return n <= INGEST_SERVICE_MAX;
}

static json_t *item(const char *action, const char *index, int status, const char *etype, const char *reason)
{
    json_t *body = json_pack("{s:s, s:i}", "_index", index ? index : "", "status", status);
    if (body && etype)
        json_object_set_new(body, "error", json_pack("{s:s, s:s}", "type", etype, "reason", reason));
    return body ? json_pack("{s:o}", action, body) : NULL;
}

int ingest_parse_es_bulk(const char *body, size_t len, const ingest_opts *o, const char *url_index, batch *b,
                         ingest_error *err, json_t *items)
{
    ingest_ctx c;
    size_t pos = 0;
    long ln = 0;
    const char *s;
    size_t n;
    int rc = 0;
    const char *given = o->default_service && *o->default_service && strcmp(o->default_service, "default") != 0
                            ? o->default_service : NULL;

    ingest_ctx_init(&c, o, b, err);
    ingest_skip_bom(&body, &len);
    while (rc == 0 && next_line(body, len, &pos, &ln, &s, &n)) {
        json_error_t jerr;
        json_t *act = json_loadb(s, n, 0, &jerr), *meta;
        const char *name;
        if (!act) {
            if (ingest_json_oom(&jerr))
                return -2;
            return ingest_err_set(err, 400, "invalid_json", ln, -1, "line %ld: invalid action line: %s", ln,
                                  jerr.text);
        }
        if (!json_is_object(act) || json_object_size(act) != 1) {
            json_decref(act);
            return ingest_err_set(err, 400, "invalid_bulk", ln, -1,
                                  "line %ld: an action line is one of {\"index\"|\"create\"|\"update\"|\"delete\": {...}}",
                                  ln);
        }
        void *it = json_object_iter(act);
        name = json_object_iter_key(it);
        meta = json_object_iter_value(it);
        int is_doc = strcmp(name, "index") == 0 || strcmp(name, "create") == 0;
        int has_doc = is_doc || strcmp(name, "update") == 0;
        if ((!has_doc && strcmp(name, "delete") != 0) || !json_is_object(meta)) {
            json_decref(act);
            return ingest_err_set(err, 400, "invalid_bulk", ln, -1,
                                  "line %ld: unknown bulk action (use index or create with an object)", ln);
        }
        json_t *ix = json_object_get(meta, "_index");
        const char *index = json_is_string(ix) ? json_string_value(ix) : url_index;
        char action[8];
        snprintf(action, sizeof action, "%s", name);
        char index_copy[256] = "";
        if (index) { /* cut at a character boundary: the name goes back in the item */
            size_t in = utf8_cut(index, strlen(index), sizeof index_copy - 1);
            memcpy(index_copy, index, in);
            index_copy[in] = '\0';
        }
        json_decref(act);

        const char *ds = NULL;
        size_t dn = 0;
        if (has_doc && !next_line(body, len, &pos, &ln, &ds, &dn))
            return ingest_err_set(err, 400, "invalid_bulk", ln, -1, "line %ld: the %s action has no document", ln,
                                  action);
        if (!is_doc) {
            json_t *x = item(action, index_copy, 400, "action_request_validation_exception",
                             "anomalog only appends log documents: use index or create");
            if (!x || json_array_append_new(items, x) < 0)
                return -2;
            continue;
        }
        if (b->count >= c.max_entries)
            return ingest_err_set(err, 413, "too_many_entries", ln, -1,
                                  "line %ld: too many documents (at most %zu in one request)", ln, c.max_entries);
        const char *svc = given ? given : valid_index(index_copy, strlen(index_copy)) ? index_copy : "default";
        c.default_service = batch_strndup(b, svc, strlen(svc));
        if (!c.default_service)
            return -2;
        json_t *doc = json_loadb(ds, dn, 0, &jerr);
        size_t before = b->count;
        const char *reason = NULL;
        char why[256];
        if (!doc) {
            if (ingest_json_oom(&jerr))
                return -2;
            snprintf(why, sizeof why, "line %ld: invalid JSON: %s", ln, jerr.text);
            reason = why;
        } else if (!json_is_object(doc)) {
            snprintf(why, sizeof why, "line %ld: a document must be a JSON object", ln);
            reason = why;
        } else {
            rc = ingest_json_entry(&c, doc, ln);
            if (rc == -1) {
                snprintf(why, sizeof why, "%s", err->message);
                reason = why;
                ingest_err_reset(err);
                rc = 0;
            }
        }
        json_decref(doc);
        if (rc)
            return rc;
        json_t *x;
        if (reason) {
            b->count = before; /* drop a half-read entry; its strings stay in the arena */
            json_t *m = json_string(reason); /* err messages are valid UTF-8; a jansson one may not be */
            x = item(action, index_copy, 400, "mapper_parsing_exception", m ? reason : "invalid document");
            json_decref(m);
        } else {
            x = item(action, index_copy, 201, NULL, NULL);
        }
        if (!x || json_array_append_new(items, x) < 0)
            return -2;
    }
    return rc;
}
