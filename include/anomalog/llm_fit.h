/**
 * @file llm_fit.h
 * @brief Fitting each prompt into the model server's context: what the
 *        server is and how much it takes (probed once), how many bytes a
 *        token is (calibrated from the server's counts), the digest's budget
 *        and the answer's room, and noticing a prompt the server cut anyway.
 *
 * One llm_fit is shared by every analysis worker (a mutex guards it). The
 * server is probed on first use: Ollama (GET /api/version, POST /api/show for
 * the model's own context and capabilities, GET /api/ps for the loaded
 * context), llama.cpp (GET /props: n_ctx), vLLM (GET {base}/models:
 * max_model_len). llm.context_tokens, when set, is the context whatever the
 * probe says.
 */
#ifndef ANOMALOG_LLM_FIT_H
#define ANOMALOG_LLM_FIT_H

#include <stddef.h>

#include "anomalog/llm.h"

typedef enum llm_server_kind {
    LLM_SERVER_UNKNOWN = 0, /**< answered none of the probes: an OpenAI-compatible API of unknown context */
    LLM_SERVER_OLLAMA,
    LLM_SERVER_LLAMACPP,
    LLM_SERVER_VLLM
} llm_server_kind;

/** "ollama", "llama.cpp", "vllm" or "openai-compatible". */
const char *llm_server_kind_name(llm_server_kind k);

/** What a probe found. */
typedef struct llm_server_info {
    llm_server_kind kind;
    int reachable;          /**< some HTTP answer came */
    int model_present;      /**< 1 yes, 0 no (the pull command helps), -1 unknown */
    long model_context;     /**< the model's own limit (Ollama /api/show, llama.cpp n_ctx_train), 0 unknown */
    long server_context;    /**< what a request gets: Ollama's loaded context (/api/ps), llama.cpp n_ctx, vLLM
                                 max_model_len; 0 unknown */
    int thinking;           /**< the model reasons (Ollama capability "thinking"), -1 unknown */
    char version[64];       /**< server version when it says */
    char detail[256];       /**< what went wrong, or a note */
} llm_server_info;

/** Probes the server o names (o->base_url, o->model, o->api_key). Never fails: unknowns stay unknown. */
void llm_server_probe(const llm_opts *o, llm_server_info *out);

/** Ollama's context when the server does not say (its default in older releases; 4096 in current ones). */
#define LLM_FIT_OLLAMA_DEFAULT_CTX 2048
/** Bytes a token before any calibration: log text tokenises badly (Llama 3: 2.34 on a busy digest). */
#define LLM_FIT_DEFAULT_BPT 2.3

typedef struct llm_fit_opts {
    long context_tokens;   /**< llm.context_tokens: the context, whatever the probe says; 0: probe */
    long answer_tokens;    /**< room kept for the answer (max_tokens); default 1024 */
    size_t digest_budget;  /**< the digest's own token budget (digest.token_budget) */
} llm_fit_opts;

typedef struct llm_fit llm_fit;

/** @return a new fit (probes nothing yet), or NULL when out of memory. */
llm_fit *llm_fit_new(const llm_fit_opts *fo);
void llm_fit_free(llm_fit *f);

/** How one window's prompt is sent. */
typedef struct llm_plan {
    llm_server_kind kind;
    llm_api api;            /**< Ollama: native, so num_ctx holds */
    long context;           /**< tokens the prompt and answer must fit in; 0: unknown (no limit applied) */
    long max_tokens;        /**< answer room asked for */
    double bytes_per_token; /**< estimate used */
    size_t digest_budget;   /**< digest token budget (digest units: 3 bytes) */
    size_t max_prompt_bytes;/**< both messages together stay under this; 0: no limit */
    int think_off;          /**< ask the server for no reasoning */
    int template_kwargs;    /**< the server takes chat_template_kwargs */
    long model_context;     /**< Ollama: the ceiling of num_ctx */
    long num_ctx;           /**< Ollama: the num_ctx last sent (llm_fit_apply) */
} llm_plan;

/**
 * The plan for a prompt whose fixed parts (system prompt and user message
 * without the digest) are fixed_bytes long. Probes the server the first time
 * (and again after a refusal for size), on the calling thread.
 */
void llm_fit_plan(llm_fit *f, const llm_opts *o, size_t fixed_bytes, llm_plan *out);

/** Sets o's api, max_tokens, num_ctx (sized to a prompt of prompt_bytes) and thinking switch from p. */
void llm_fit_apply(llm_plan *p, size_t prompt_bytes, llm_opts *o);

/** The estimated tokens of bytes of prompt at the plan's bytes per token (rounded up). */
long llm_fit_estimate(const llm_plan *p, size_t bytes);

typedef enum llm_fit_verdict {
    LLM_FIT_OK = 0,        /**< the prompt arrived whole (as far as can be told) */
    LLM_FIT_PROMPT_CUT,    /**< the server cut or refused the prompt: send it again under *retry_bytes */
    LLM_FIT_ANSWER_CUT     /**< the answer ran out of room (finish_reason length): retry with more room */
} llm_fit_verdict;

/**
 * Judges one call's outcome and learns from it: the bytes per token from
 * usage.prompt_tokens when the prompt was whole, the server's real context
 * from a cut or a refusal. A cut is a prompt the server counted well under
 * the estimate (over 6 bytes a token), one that filled exactly the context
 * the plan assumed or a common context size (2^k tokens) while the estimate
 * was larger, or a refusal naming the context (llama.cpp, vLLM).
 * @param[out] retry_bytes  on LLM_FIT_PROMPT_CUT, the byte limit for both messages next time
 */
llm_fit_verdict llm_fit_observe(llm_fit *f, llm_plan *p, llm_rc rc, const llm_result *r, size_t *retry_bytes);

/** What the last probe found (zeroed before the first). */
void llm_fit_server(llm_fit *f, llm_server_info *out);

/** The calibrated bytes per token, for reports. */
double llm_fit_bytes_per_token(llm_fit *f);

#endif
