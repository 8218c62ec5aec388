/**
 * @file severity.h
 * @brief The one ranking of anomaly severities, used wherever they are
 *        compared: validation, storage, routing rules, query filters.
 */
#ifndef ANOMALOG_SEVERITY_H
#define ANOMALOG_SEVERITY_H

/** The severities, in rank order (SEVERITY_NAMES[rank - 1]; NULL-terminated). */
extern const char *const SEVERITY_NAMES[];

/**
 * Rank of a severity name, ignoring case: 1 low, 2 medium, 3 high,
 * 4 critical; 0 for NULL or anything else.
 */
int severity_rank(const char *name);

#endif
