/*
 * severity.c — the one ranking of anomaly severities (low < medium < high <
 * critical). The verdict validator, the store (severity_rank columns), the
 * routing rules of the configuration and the ?severity= filter all rank
 * through it, so "at least high" means the same everywhere.
 *
 * Threads: pure functions over constant data. Limits: none.
 */
#include "anomalog/severity.h"

#include <stddef.h>
#include <strings.h>

const char *const SEVERITY_NAMES[] = {"low", "medium", "high", "critical", NULL};

int severity_rank(const char *name)
{
    for (int i = 0; name && SEVERITY_NAMES[i]; i++)
        if (strcasecmp(name, SEVERITY_NAMES[i]) == 0)
            return i + 1;
    return 0;
}
