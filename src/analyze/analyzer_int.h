/*
 * analyzer_int.h — what analyzer.c (the workers and the steps of one
 * analysis) and analyzer_model.c (asking the model) share; private to
 * src/analyze/.
 */
#ifndef ANOMALOG_ANALYZER_INT_H
#define ANOMALOG_ANALYZER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <jansson.h>

#include "anomalog/analyzer.h"
#include "anomalog/breaker.h"
#include "anomalog/llm.h"
#include "anomalog/llm_fit.h"
#include "anomalog/prompt.h"
#include "anomalog/redact.h"
#include "anomalog/svccache.h"

struct analyzer {
    store *st;
    const config *cfg;
    redactor *red;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wakeups;           /* bumped on every wake, under mu */
    pthread_t *workers;
    size_t n_workers;
    svccache *miners;      /* each service's miner, bounded */
    llm_fit *fit;           /* the model server's context and bytes per token, shared (llm_fit.h) */
    breaker *brk;           /* the model's circuit breaker (breaker.h); NULL without a model */
};

/* A model is configured (its URL is not empty or "none"). */
static inline int analyzer_model_configured(const config *cfg)
{
    return cfg->llm_url[0] && strcmp(cfg->llm_url, "none") != 0;
}

/* The model client's options from the configuration (analyzer_model.c). */
void analyzer_model_opts(const config *cfg, const atomic_int *cancel, llm_opts *o);

/* The user message's byte cap when both messages must stay under total (analyzer_model.c). */
size_t analyzer_fit_user_bytes(size_t cap, size_t total, size_t system_bytes);

/* The plan for a window's model call, and the digest's token budget it leaves (analyzer_model.c). */
size_t analyzer_plan_window(analyzer *a, const window_work *w, llm_plan *plan);

/* Asks the model for the window's verdict, its answer redacted (analyzer_model.c): LLM_CANCELLED when
 * interrupted, else LLM_OK (*verdict set, or NULL with reason). */
llm_rc analyzer_ask_model(analyzer *a, const atomic_int *cancel, prompt_input *in, llm_plan *plan,
                          const json_t *schema, prompt *p, analysis_meta *m, json_t **verdict, char *reason,
                          size_t reason_len);

#endif
