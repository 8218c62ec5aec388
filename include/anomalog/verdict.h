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


/** Which analysis of a window a verdict is for. */
typedef enum verdict_pass {
    VERDICT_FIRST,  /**< the window's first analysis (or one retried after a failure) */
    VERDICT_REREAD, /**< the model reads again a window the baseline covered: findings were recorded then */
    VERDICT_LATE,   /**< the late lines of an analysed window: its health only gets worse */
} verdict_pass;

/**
 * The window's verdict, assembled in one place whatever the path: the
 * model's anomalies (marked "analyzer": "llm"; their evidence checked by the
 * caller), then the baseline's findings of types the model did not report,
 * each marked "baseline" and verified (all of them without a model; none on
 * a re-read, which recorded them the first time); the health is the
 * model's, or the anomalies', made worse by the anomalies kept beside the
 * model's (on a re-read, by prior_health), and on a late pass by
 * prior_health.
 * @param[in] model        the model's validated answer (stolen), or NULL: the baseline alone
 * @param[in] findings     the baseline's findings (digest.findings, copied), or NULL
 * @param[in] prior_health the window's health from its earlier analysis, or NULL / ""
 * @return a new {"health", "anomalies"}, or NULL when out of memory (model freed either way)
 */
json_t *verdict_assemble(json_t *model, const json_t *findings, verdict_pass pass, const char *prior_health);

#endif
