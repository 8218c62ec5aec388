/**
 * @file verdict.h
 * @brief The model's answer: recovered leniently, validated strictly.
 *
 * A model's answer is text we trust less than our own code but that is not
 * the client's fault. verdict_parse() finds the JSON object in it (bare, in a
 * ```json fence, or surrounded by prose), then checks it against the anomaly
 * schema of DESIGN.md. Anything off (unknown severity/type/health, missing
 * field, wrong type) is a schema failure with a reason; nothing crashes.
 */
#ifndef ANOMALOG_VERDICT_H
#define ANOMALOG_VERDICT_H

#include <jansson.h>
#include <stddef.h>

#define VERDICT_MAX_ANOMALIES 50
#define VERDICT_MAX_EVIDENCE 20       /**< lines per anomaly */
#define VERDICT_MAX_TEXT 4000         /**< bytes of summary, action, one evidence line */

/**
 * Parses and validates a model answer.
 * @return a new object {"health": "normal|degraded|critical", "anomalies": [
 *         {"severity": "low|medium|high|critical", "type": "error_spike|auth_failure|latency|security|resource|config|unknown",
 *          "summary": "...", "evidence": ["..."], "recommended_action": "..."}]}
 *         holding only these fields (others dropped, strings trimmed), or NULL
 *         with err saying what and where ("anomalies[1].severity: \"urgent\" is not one of low, medium, high, critical").
 *         Caller owns the result (json_decref).
 */
json_t *verdict_parse(const char *text, size_t len, char *err, size_t errlen);

/** The JSON schema of the answer, for response_format (new reference). */
json_t *verdict_schema(void);


#endif
