/*
 * config_int.h — what config.c shares with the readers of the configuration
 * file's nested sections (routes.c, tokens.c, services.c). Private to
 * src/config/; the only header besides config.c that names libyaml.
 */
#ifndef ANOMALOG_CONFIG_INT_H
#define ANOMALOG_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "anomalog/config.h"

/* A node's text when it is a scalar, else NULL. */
const char *config_scalar(yaml_node_t *n);
/* 0 when node is of type; else -1 with err "file:line: key: expected what". */
int config_expect(yaml_node_t *node, yaml_node_type_t type, const char *file, const char *key, const char *what,
                  char *err, size_t errlen);
/* Room for one more element after the n of size bytes at v (realloc): the grown array, which the caller
 * stores in place of v; or NULL with err "out of memory", v untouched and still the caller's. */
void *config_grow(void *v, size_t n, size_t size, char *err, size_t errlen);
/* A duration where zero ("0", "0s", "0m") is allowed. 0 and *ms set, or -1. */
int config_duration0(const char *v, int64_t *ms);

/* Each reads one section of the file into c: 0, or -1 with err naming file:line: key. */
int config_load_routing(config *c, yaml_document_t *doc, const char *key, yaml_node_t *v, const char *file, char *err,
                        size_t errlen);
int config_load_tokens(config *c, yaml_document_t *doc, yaml_node_t *node, const char *file, char *err, size_t errlen);
int config_load_services(config *c, yaml_document_t *doc, yaml_node_t *node, const char *file, char *err,
                         size_t errlen);
/* Destinations enabled by the environment alone (named after their kind). */
int config_env_destinations(config *c, char *err, size_t errlen);

#endif
