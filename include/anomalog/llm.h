/**
 * @file llm.h
 * @brief OpenAI-compatible chat-completions client (Ollama, llama.cpp server,
 *        vLLM, OpenAI) on libcurl.
 *
 * One call = one POST {base_url}/chat/completions with a system and a user
 * message, temperature, and a response_format asking for JSON. Retries with
 * exponential backoff and full jitter on connection failures, timeouts, 429
 * (honouring Retry-After, capped by backoff_max_ms) and 5xx. Only this module
 * and the notifiers include curl.h. Thread-safe: each call uses its own easy
 * handle; curl_global_init() must have run (llm_global_init()).
 */
#ifndef ANOMALOG_LLM_H
#define ANOMALOG_LLM_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum llm_format {
    LLM_FORMAT_JSON_SCHEMA = 0, /**< response_format {type: json_schema, json_schema: {name, strict, schema}} */
    LLM_FORMAT_JSON_OBJECT,     /**< response_format {type: json_object} */
    LLM_FORMAT_NONE             /**< no response_format: rely on the prompt */
} llm_format;

typedef struct llm_opts {
    const char *base_url;      /**< e.g. http://localhost:11434/v1 ; "/chat/completions" is appended */
    const char *model;
    const char *api_key;       /**< bearer token, or NULL/empty for none */
    int64_t timeout_ms;        /**< whole-request timeout of one attempt */
    int64_t connect_timeout_ms;
    int retries;               /**< further attempts after the first on retryable failures */
    int64_t backoff_base_ms;   /**< first backoff; doubles each retry; full jitter */
    int64_t backoff_max_ms;    /**< cap of one backoff and of a Retry-After wait */
    llm_format format;
    double temperature;        /**< 0.1 by default */
    size_t max_response;       /**< bytes of HTTP response body accepted; more is a bad response */
    const atomic_int *cancel;  /**< when non-NULL and set, waits and transfers stop early (LLM_CANCELLED) */
} llm_opts;

typedef enum llm_rc {
    LLM_OK = 0,
    LLM_UNAVAILABLE,   /**< every attempt failed: connection, timeout, 429 or 5xx */
    LLM_REJECTED,      /**< a 4xx other than 408/429: retrying will not help (bad key, unknown model) */
    LLM_BAD_RESPONSE,  /**< 2xx but not a chat-completions envelope (no choices[0].message.content) */
    LLM_CANCELLED
} llm_rc;

typedef struct llm_result {
    char *content;            /**< malloc'd assistant content on LLM_OK, else NULL */
    long prompt_tokens;       /**< from usage, or -1 when absent */
    long completion_tokens;   /**< from usage, or -1 when absent */
    int64_t latency_ms;       /**< of the successful attempt (or the last one) */
    int attempts;             /**< HTTP attempts made */
    int http_status;          /**< of the last attempt, 0 when none completed */
    char error[256];          /**< what went wrong when not LLM_OK */
} llm_result;

/** curl_global_init; call once before threads start. */
void llm_global_init(void);
void llm_global_cleanup(void);

/** Default options: temperature 0.1, timeout 120 s, connect 5 s, 3 retries, 1 s..30 s backoff, 4 MiB answer. */
void llm_opts_defaults(llm_opts *o);

/**
 * Sends one chat completion.
 * @param[in] schema  JSON schema for LLM_FORMAT_JSON_SCHEMA (borrowed), or NULL
 * @param[out] out    filled in every case; free with llm_result_free()
 */
llm_rc llm_chat(const llm_opts *o, const char *system, const char *user, const json_t *schema, llm_result *out);

void llm_result_free(llm_result *r);

#endif
