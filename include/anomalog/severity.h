/**
 * @file severity.h
 * @brief The one ranking of anomaly severities, used wherever they are
 *        compared: validation, storage, routing rules, query filters; and
 *        the one ranking of a window's health, which the severities of its
 *        anomalies make.
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

/** The healths a verdict gives, best first (HEALTH_NAMES[rank]; NULL-terminated). */
extern const char *const HEALTH_NAMES[];

/** The healths a window is stored with: HEALTH_NAMES, and "unknown" (not analysed); NULL-terminated. */
extern const char *const HEALTH_STATES[];

/** Rank of a health: 0 normal, 1 degraded, 2 critical; -1 for NULL, "unknown" or anything else. */
int health_rank(const char *name);

/** The worse of two healths (a when they rank the same; a health that ranks -1 loses to any other). */
const char *health_worse(const char *a, const char *b);

/**
 * The health that anomalies up to a severity make (the highest severity_rank
 * among them, 0 for none): critical with a critical one, degraded with a
 * medium or high one, else normal.
 */
const char *health_of_severity(int severity_rank);

#endif
