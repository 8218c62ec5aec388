/*
 * services.c — services: of the configuration file: each service's context
 * (what normal looks like for it), which main writes to the store at start.
 *
 * Threads: called by config_load on main's thread before any other starts.
 * Limits: a name 1-128 bytes, a context at most 16384; every error names the
 * file and line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

/* services: {name: {context: text}} */
int config_load_services(config *c, yaml_document_t *doc, yaml_node_t *node, const char *file, char *err,
                         size_t errlen)
{
    if (config_expect(node, YAML_MAPPING_NODE, file, "services", "a mapping of service names", err, errlen))
        return -1;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        unsigned long line = (unsigned long)k->start_mark.line + 1;
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        if (!*name || strlen(name) > 128 || !v || v->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%lu: services: each entry is a service name (1-128 bytes) with a mapping",
                     file, line);
            return -1;
        }
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
            yaml_node_t *kk = yaml_document_get_node(doc, q->key);
            yaml_node_t *vv = yaml_document_get_node(doc, q->value);
            line = (unsigned long)kk->start_mark.line + 1;
            if (kk->type != YAML_SCALAR_NODE || strcmp((const char *)kk->data.scalar.value, "context") != 0) {
                snprintf(err, errlen, "%s:%lu: services.%s: unknown setting (a service takes: context)", file, line,
                         name);
                return -1;
            }
            if (vv->type != YAML_SCALAR_NODE || vv->data.scalar.length > 16384) {
                snprintf(err, errlen, "%s:%lu: services.%s.context: expected text of at most 16384 bytes", file,
                         line, name);
                return -1;
            }
            struct service_context *n = config_grow(c->contexts, c->n_contexts, sizeof *n, err, errlen);
            if (!n)
                return -1;
            c->contexts = n;
            n[c->n_contexts++] = (struct service_context){.name = strdup(name),
                                                          .context = strdup((const char *)vv->data.scalar.value)};
        }
    }
    return 0;
}

