/**
 * @file llm.h
 * @brief OpenAI-compatible chat-completions client (Ollama, llama.cpp server,
 *        vLLM, OpenAI) on libcurl.
 *
 * One call = one POST {base_url}/chat/completions with a system and a user
 * message, temperature, and a response_format asking for JSON (or Ollama's
 * native /api/chat with options.num_ctx, see llm_api); reasoning comes back
 * apart from the answer. Retries with
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

typedef enum llm_api {
    LLM_API_OPENAI = 0, /**< POST {base_url}/chat/completions */
    LLM_API_OLLAMA      /**< Ollama's native POST {root}/api/chat (root: base_url without a trailing /v1), which
                             honours options.num_ctx where the OpenAI endpoint ignores it */
} llm_api;

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
    llm_api api;               /**< LLM_API_OPENAI by default */
    long max_tokens;           /**< answer cap: max_tokens, or options.num_predict on Ollama; 0: none sent */
    long num_ctx;              /**< Ollama native: options.num_ctx; 0: none sent */
    int think_off;             /**< ask for no reasoning: think:false on Ollama native, chat_template_kwargs
                                    {enable_thinking:false} with chat_template_kwargs set */
    int template_kwargs;       /**< the server takes chat_template_kwargs (llama.cpp, vLLM) */
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
    char finish_reason[16];   /**< "stop", "length"... (Ollama's done_reason), or "" */
    char *reasoning;          /**< malloc'd reasoning the answer carried (reasoning_content, reasoning, thinking,
                                   <think> blocks taken out of content), or NULL; never part of content */
    size_t prompt_bytes;      /**< bytes of the two messages sent */
    long context_limit;       /**< a refusal for size named the server's context (n_ctx, max_model_len), else 0 */
    long context_prompt;      /**< ... and the prompt's tokens it counted, else 0 */
    int context_refused;      /**< the server refused the prompt as too long for its context */
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

/**
 * Takes reasoning out of an answer's text in place: a leading
 * <think>…</think> (or <thinking>…</thinking>) block, or everything up to a
 * lone closing tag (templates that open the block in the prompt), or an
 * unclosed block (the answer ran out while thinking: nothing is left).
 * @return the reasoning's length (0 when none); *reasoning gets a malloc'd
 *         copy of it when non-NULL and there was some.
 */
size_t llm_strip_reasoning(char *text, char **reasoning);

/**
 * One request without retries, for probing a server: GET (body NULL) or POST
 * of a JSON body to path, which is relative to the server's root (base_url
 * without a trailing /v1) when it starts with '/', else to base_url.
 * @param[out] status  HTTP status, 0 when no answer
 * @param[out] json    the parsed answer (new reference) when it is JSON, else NULL
 * @param[out] ms      the request's duration
 * @return 0 when an HTTP answer came (any status), -1 with err set otherwise.
 */
int llm_fetch(const llm_opts *o, const char *path, const char *body, int *status, json_t **json, int64_t *ms,
              char *err, size_t errlen);

/** The server's root: base_url without trailing slashes and a trailing "/v1". */
void llm_root_url(const char *base_url, char *out, size_t outlen);

#endif
