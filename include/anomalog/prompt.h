/**
 * @file prompt.h
 * @brief The prompt of one window: system prompt, schema, service context,
 *        and the window's lines delimited as data.
 *
 * Log text is attacker-controlled. The lines go between two marker lines
 * carrying a random nonce drawn per prompt (from getrandom), which log text
 * cannot predict; the system prompt tells the model that everything between
 * the markers is data, never instructions, and any marker-looking text inside
 * is part of the data. Each line is prefixed with its index so the model can
 * quote evidence exactly.
 */
#ifndef ANOMALOG_PROMPT_H
#define ANOMALOG_PROMPT_H

#include <stddef.h>
#include <stdint.h>

typedef struct prompt_line {
    int64_t ts_ms;
    const char *level;     /**< may be NULL */
    const char *message;   /**< may contain newlines (stack traces) */
} prompt_line;

typedef struct prompt_input {
    const char *service;
    const char *context;        /**< what normal looks like for the service, or NULL */
    int64_t start_ms, end_ms;
    const prompt_line *lines;
    size_t n_lines;             /**< lines given (already capped) */
    size_t total_lines;         /**< lines in the window; > n_lines when capped */
    size_t max_bytes;           /**< cap of the user message; lines past it are left out and counted */
    const char *digest;         /**< when set, the data section is this digest instead of the lines */
} prompt_input;

typedef struct prompt {
    char *system;   /**< malloc'd */
    char *user;     /**< malloc'd */
    char nonce[33]; /**< hex nonce of the data markers */
    size_t lines_included;
} prompt;

/** The line that ends a digest shortened to fit the user message's cap. */
#define PROMPT_DIGEST_CUT_NOTE "... the rest of the digest is left out to fit the model's context"

/** Bytes of the system prompt (the same for every prompt). */
size_t prompt_system_bytes(void);

/** Builds the prompt. @return 0, or -1 when out of memory. */
int prompt_build(const prompt_input *in, prompt *out);

void prompt_free(prompt *p);

/** One member of an incident as its prompt shows it (strings redacted by the caller). */
typedef struct prompt_finding {
    const char *service, *severity, *type, *summary;
    int64_t first_ms, last_ms;
    const char *const *evidence;  /**< its key lines */
    size_t n_evidence;
} prompt_finding;

/** An incident's prompt: its members, and what the correlation made of them. */
typedef struct prompt_incident {
    const prompt_finding *findings;  /**< by first anomalous line */
    size_t n_findings;
    const char *root_service, *root_reason;
    size_t max_bytes;                /**< cap of the user message (0: none); findings past it are counted */
} prompt_incident;

/**
 * Builds the one prompt of an incident: the system prompt asks for
 * {"summary", "root_cause", "first_action"}; the user message holds the
 * members' findings and key lines between data markers with a fresh nonce,
 * as a window's lines are (log text is indented, never starts a line, and is
 * data, never instructions). out->lines_included counts the findings included.
 * @return 0, or -1 when out of memory.
 */
int prompt_build_incident(const prompt_incident *in, prompt *out);

#endif
