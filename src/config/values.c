/*
 * values.c — value readers the configuration's files share (config_int.h):
 * a YAML scalar's text, and a duration where zero is allowed (a suppression
 * interval of none). config.c and routes.c both read through them.
 *
 * Threads: pure functions, called on main's thread before any other starts.
 */
#include <string.h>

#include "anomalog/timeutil.h"
#include "config/config_int.h"

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
