/*
 * severity.c — the one ranking of anomaly severities (low < medium < high <
 * critical). The verdict validator, the store (severity_rank columns), the
 * routing rules of the configuration and the ?severity= filter all rank
 * through it, so "at least high" means the same everywhere.
 *
 * And the one ranking of a window's health (normal < degraded < critical):
 * the verdict validator takes its names, the verdict's assembly ranks the
 * model's health against the one its findings' severities make, and the
 * ?health= filter of GET /windows takes the names a stored window can have.
 *
 * Threads: pure functions over constant data. Limits: none.
 */
#include "anomalog/severity.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

const char *const SEVERITY_NAMES[] = {"low", "medium", "high", "critical", NULL};

int severity_rank(const char *name)
{
    for (int i = 0; name && SEVERITY_NAMES[i]; i++)
        if (strcasecmp(name, SEVERITY_NAMES[i]) == 0)
            return i + 1;
    return 0;
}

#define HEALTH_RANKED "normal", "degraded", "critical"

const char *const HEALTH_NAMES[] = {HEALTH_RANKED, NULL};
const char *const HEALTH_STATES[] = {HEALTH_RANKED, "unknown", NULL};

int health_rank(const char *name)
{
    for (int i = 0; name && HEALTH_NAMES[i]; i++)
        if (strcmp(name, HEALTH_NAMES[i]) == 0)
            return i;
    return -1;
}

const char *health_worse(const char *a, const char *b)
{
    return health_rank(b) > health_rank(a) ? b : a;
}

const char *health_of_severity(int severity_rank)
{
    return severity_rank >= 4 ? "critical" : severity_rank >= 2 ? "degraded" : "normal";
}
