/*
 * values.c — value readers the configuration's files share (config_int.h):
 * a YAML scalar's text, and a duration where zero is allowed (a suppression
 * interval of none); and the growth of a section's array by one element.
 * config.c, routes.c, tokens.c and services.c go through them.
 *
 * Threads: pure functions, called on main's thread before any other starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"
#include "config/config_int.h"

int config_expect(yaml_node_t *node, yaml_node_type_t type, const char *file, const char *key, const char *what,
                  char *err, size_t errlen)
{
    if (node->type == type)
        return 0;
    snprintf(err, errlen, "%s:%lu: %s: expected %s", file, (unsigned long)node->start_mark.line + 1, key, what);
    return -1;
}

const char *config_scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A duration, where zero is allowed: a suppression interval of none (config_int.h). */
int config_duration0(const char *v, int64_t *ms)
{
    size_t z = strspn(v, "0");
    if (z > 0 && (!v[z] || !strcmp(v + z, "s") || !strcmp(v + z, "ms") || !strcmp(v + z, "m") || !strcmp(v + z, "h"))) {
        *ms = 0;
        return 0;
    }
    return duration_parse_ms(v, ms);
}

void *config_grow(void *v, size_t n, size_t size, char *err, size_t errlen)
{
    void *grown = realloc(v, (n + 1) * size);
    if (!grown)
        snprintf(err, errlen, "out of memory");
    return grown;
}
