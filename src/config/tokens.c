/*
 * tokens.c — auth.tokens of the configuration file: more bearer tokens
 * beside the three of the environment, each with its scopes (ingest, read,
 * write; ingest-only by default) and optionally bound to one service.
 *
 * Threads: called by config_load on main's thread before any other starts.
 * Limits: a token 1-255 bytes, a service name 1-128; every error names the
 * file and line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

/* One scope word, or -1. */
static int scope_bit(const char *w)
{
    return !strcmp(w, "ingest") ? (int)CONFIG_SCOPE_INGEST : !strcmp(w, "read") ? (int)CONFIG_SCOPE_READ
         : !strcmp(w, "write") ? (int)CONFIG_SCOPE_WRITE : -1;
}

/* scopes: [ingest, read, write] (a list, or one word). 0 and *out set, or -1. */
static int load_scopes(yaml_document_t *doc, yaml_node_t *v, unsigned *out)
{
    *out = 0;
    if (v->type == YAML_SCALAR_NODE) {
        int b = scope_bit((const char *)v->data.scalar.value);
        return b < 0 ? -1 : (*out = (unsigned)b, 0);
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return -1;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *w = yaml_document_get_node(doc, *it);
        int b = w && w->type == YAML_SCALAR_NODE ? scope_bit((const char *)w->data.scalar.value) : -1;
        if (b < 0)
            return -1;
        *out |= (unsigned)b;
    }
    return *out ? 0 : -1;
}

/* auth.tokens: [{token: "...", service: "...", scopes: [...]}]: more tokens, ingest-only unless scoped,
 * each optionally bound to a service (which only ingestion uses) */
int config_load_tokens(config *c, yaml_document_t *doc, yaml_node_t *node, const char *file, char *err,
                       size_t errlen)
{
    unsigned long line = (unsigned long)node->start_mark.line + 1;
    if (config_expect(node, YAML_SEQUENCE_NODE, file, "auth.tokens", "a list of {token, service}", err, errlen))
        return -1;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
        yaml_node_t *m = yaml_document_get_node(doc, *it);
        const char *token = NULL, *service = NULL;
        unsigned scopes = CONFIG_SCOPE_INGEST;
        line = m ? (unsigned long)m->start_mark.line + 1 : line;
        if (!m || m->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%lu: auth.tokens: each item is a mapping with token and optional service",
                     file, line);
            return -1;
        }
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < m->data.mapping.pairs.top; q++) {
            yaml_node_t *kk = yaml_document_get_node(doc, q->key), *vv = yaml_document_get_node(doc, q->value);
            const char *k = kk->type == YAML_SCALAR_NODE ? (const char *)kk->data.scalar.value : "";
            const char *v = vv->type == YAML_SCALAR_NODE ? (const char *)vv->data.scalar.value : NULL;
            line = (unsigned long)kk->start_mark.line + 1;
            if (strcmp(k, "token") == 0 && v && *v && strlen(v) < 256) {
                token = v;
            } else if (strcmp(k, "service") == 0 && v && *v && strlen(v) <= 128) {
                service = v;
            } else if (strcmp(k, "scopes") == 0) {
                if (load_scopes(doc, vv, &scopes) != 0) {
                    snprintf(err, errlen, "%s:%lu: auth.tokens.scopes: a list of ingest, read, write", file, line);
                    return -1;
                }
            } else {
                snprintf(err, errlen,
                         "%s:%lu: auth.tokens.%s: a token is 1-255 bytes, a service 1-128, scopes a list "
                         "(and nothing else)", file,
                         line, k);
                return -1;
            }
        }
        if (!token) {
            snprintf(err, errlen, "%s:%lu: auth.tokens: an item has no token", file, line);
            return -1;
        }
        struct ingest_token *n = config_grow(c->tokens, c->n_tokens, sizeof *n, err, errlen);
        if (!n)
            return -1;
        c->tokens = n;
        n[c->n_tokens++] = (struct ingest_token){
            .token = strdup(token), .service = service ? strdup(service) : NULL, .scopes = scopes};
    }
    return 0;
}

