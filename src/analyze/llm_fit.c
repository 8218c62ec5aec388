/*
 * llm_fit.c — every prompt fits the model server's context, and a prompt the
 * server cut anyway is noticed and sent again smaller.
 *
 * Purpose: the servers people run differ at the edge of their context.
 * Ollama's OpenAI endpoint ignores num_ctx and silently drops the BEGINNING of
 * a prompt longer than its context (the system prompt, with the nonce
 * markers and the schema, goes first); its native /api/chat honours
 * options.num_ctx. llama.cpp refuses with 400 exceed_context_size_error past
 * n_ctx, vLLM with 400 naming max_model_len. So the context is learned first
 * (llm_server_probe, or llm.context_tokens), the digest gets the budget that
 * the context leaves after the system prompt, the fixed parts of the user
 * message and the answer's room (max_tokens), and with Ollama the native API
 * is used with num_ctx sized to the prompt (a power of two from 2048, so the
 * server reloads the model rarely, capped at the model's own context).
 *
 * Estimates: tokens = bytes / bytes_per_token. It starts at 2.3 (log text is
 * dense in tokens: Llama 3 counts 2.34 bytes a token on a busy digest, where
 * the digest budgets 3) and is calibrated from the server's own counts of
 * whole prompts: the smallest of the last LLM_FIT_SAMPLES observations,
 * clamped to [1.5, 4.5], so one friendly window does not make the next busy
 * one overflow.
 *
 * Cuts: llm_fit_observe() judges each answer. A refusal naming the context
 * (llama.cpp's n_ctx, vLLM's max_model_len) teaches the context, and its token
 * count the bytes per token; a prompt counted at over 6 bytes a token, or at
 * exactly the context the plan assumed (or a 2^k context) while the estimate
 * was larger (the last only for a server that did not say what it is:
 * an Ollama behind a proxy), was cut: its count is the server's real context. Either way the
 * caller sends the prompt again under a smaller byte limit (the digest is
 * shortened at a line boundary, most informative templates first). An answer
 * stopped by its length gets four times the room (within half the context).
 *
 * Threads: one llm_fit is shared by the analysis workers; its mutex guards
 * the probe result, the learned context and the samples. The probe runs on
 * the first worker that needs it, under the mutex (the others wait for it:
 * a few requests with a 10 s timeout each at most); a server that did not
 * answer is probed again at most every LLM_FIT_REPROBE_MS, so a model that is
 * down (the breaker's business) costs windows no probe timeouts.
 *
 * Limits: LLM_FIT_SAMPLES samples; retries after a cut are the caller's
 * (analyzer.c allows two per window).
 */
#include "anomalog/llm_fit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"

#define LLM_FIT_SAMPLES 16
#define LLM_FIT_MARGIN 32       /* tokens kept free beyond the estimate (chat template, BOS) */
#define LLM_FIT_MSG_OVERHEAD 8  /* tokens a chat template adds around two messages */
#define LLM_FIT_CUT_BPT 6.0     /* no log text is this light in tokens: a count this low was cut */
#define LLM_FIT_REPROBE_MS 30000 /* an unreachable server is not probed for every window */

struct llm_fit {
    pthread_mutex_t mu;
    llm_fit_opts fo;
    int probed;
    llm_server_info info;
    long learned_context;  /* from a cut or a refusal; 0 none */
    int64_t last_probe_ms; /* monotonic time of the last probe; 0 never */
    double samples[LLM_FIT_SAMPLES];
    size_t n_samples, next_sample;
};

const char *llm_server_kind_name(llm_server_kind k)
{
    switch (k) {
    case LLM_SERVER_OLLAMA:
        return "ollama";
    case LLM_SERVER_LLAMACPP:
        return "llama.cpp";
    case LLM_SERVER_VLLM:
        return "vllm";
    case LLM_SERVER_UNKNOWN:
        break;
    }
    return "openai-compatible";
}

/* ---- probe ------------------------------------------------------------------- */

/* "llama3.2" is "llama3.2:latest" on Ollama. */
static int same_model(const char *have, const char *want)
{
    if (!have || !want)
        return 0;
    size_t n = strlen(want), m = strlen(have);
    return strcmp(have, want) == 0 || (m > n && strncmp(have, want, n) == 0 && strcmp(have + n, ":latest") == 0) ||
           (n > m && strncmp(want, have, m) == 0 && strcmp(want + m, ":latest") == 0);
}

static long json_long(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 100000000
               ? (long)json_integer_value(v)
               : 0;
}

static void probe_ollama(const llm_opts *o, llm_server_info *out)
{
    int st;
    json_t *j = NULL;
    char err[256];
    json_t *req = json_pack("{s:s}", "model", o->model ? o->model : "");
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (body && llm_fetch(o, "/api/show", body, &st, &j, NULL, err, sizeof err) == 0) {
        if (st == 200 && json_is_object(j)) {
            out->model_present = 1;
            const char *key;
            json_t *v;
            json_object_foreach(json_object_get(j, "model_info"), key, v)
            {
                size_t kl = strlen(key);
                if (kl > 15 && strcmp(key + kl - 15, ".context_length") == 0 && json_long(v))
                    out->model_context = json_long(v);
            }
            json_t *caps = json_object_get(j, "capabilities");
            if (json_is_array(caps)) {
                size_t i;
                json_t *c;
                out->thinking = 0;
                json_array_foreach(caps, i, c) out->thinking |= json_is_string(c) &&
                                                               strcmp(json_string_value(c), "thinking") == 0;
            }
        } else if (st == 404) {
            out->model_present = 0;
        }
    }
    free(body);
    json_decref(j);
    j = NULL;
    if (llm_fetch(o, "/api/ps", NULL, &st, &j, NULL, err, sizeof err) == 0 && st == 200) {
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(j, "models"), i, m)
        {
            if (same_model(json_string_value(json_object_get(m, "name")), o->model) ||
                same_model(json_string_value(json_object_get(m, "model")), o->model))
                out->server_context = json_long(json_object_get(m, "context_length"));
        }
    }
    json_decref(j);
}

void llm_server_probe(const llm_opts *o, llm_server_info *out)
{
    int st = 0;
    json_t *j = NULL;
    char err[256] = "";
    memset(out, 0, sizeof *out);
    out->model_present = -1;
    out->thinking = -1;

    /* Ollama */
    if (llm_fetch(o, "/api/version", NULL, &st, &j, NULL, err, sizeof err) != 0) {
        snprintf(out->detail, sizeof out->detail, "%s", err);
        return;
    }
    out->reachable = 1;
    if (st == 200 && json_is_string(json_object_get(j, "version"))) {
        out->kind = LLM_SERVER_OLLAMA;
        snprintf(out->version, sizeof out->version, "%s", json_string_value(json_object_get(j, "version")));
        json_decref(j);
        probe_ollama(o, out);
        return;
    }
    json_decref(j);
    j = NULL;

    /* llama.cpp */
    if (llm_fetch(o, "/props", NULL, &st, &j, NULL, err, sizeof err) == 0 && st == 200 && json_is_object(j)) {
        long n = json_long(json_object_get(json_object_get(j, "default_generation_settings"), "n_ctx"));
        if (!n)
            n = json_long(json_object_get(j, "n_ctx"));
        if (n) {
            out->kind = LLM_SERVER_LLAMACPP;
            out->server_context = n;
            out->model_present = 1; /* it serves the one model it loaded, whatever the name asked */
            const char *b = json_string_value(json_object_get(j, "build_info"));
            snprintf(out->version, sizeof out->version, "%s", b ? b : "");
        }
    }
    json_decref(j);
    j = NULL;

    /* {base}/models: vLLM's max_model_len, llama.cpp's n_ctx_train, or just whether the model is there */
    if (llm_fetch(o, "models", NULL, &st, &j, NULL, err, sizeof err) == 0 && st == 200) {
        size_t i;
        json_t *m;
        int listed = 0;
        json_array_foreach(json_object_get(j, "data"), i, m)
        {
            long mml = json_long(json_object_get(m, "max_model_len"));
            if (out->kind == LLM_SERVER_LLAMACPP) {
                long tr = json_long(json_object_get(json_object_get(m, "meta"), "n_ctx_train"));
                if (tr)
                    out->model_context = tr;
                continue;
            }
            if (mml)
                out->kind = LLM_SERVER_VLLM;
            if (same_model(json_string_value(json_object_get(m, "id")), o->model)) {
                listed = 1;
                if (mml)
                    out->server_context = out->model_context = mml;
            }
        }
        if (out->kind != LLM_SERVER_LLAMACPP && json_is_array(json_object_get(j, "data")))
            out->model_present = listed;
    }
    json_decref(j);
}

/* ---- plan ---------------------------------------------------------------------- */

llm_fit *llm_fit_new(const llm_fit_opts *fo)
{
    llm_fit *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    pthread_mutex_init(&f->mu, NULL);
    f->fo = *fo;
    if (f->fo.answer_tokens <= 0)
        f->fo.answer_tokens = 1024;
    return f;
}

void llm_fit_free(llm_fit *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static double bpt_locked(const llm_fit *f)
{
    if (f->n_samples == 0)
        return LLM_FIT_DEFAULT_BPT;
    double m = f->samples[0];
    for (size_t i = 1; i < f->n_samples; i++)
        m = f->samples[i] < m ? f->samples[i] : m;
    return m < 1.5 ? 1.5 : m > 4.5 ? 4.5 : m;
}

void llm_fit_server(llm_fit *f, llm_server_info *out)
{
    pthread_mutex_lock(&f->mu);
    *out = f->info;
    pthread_mutex_unlock(&f->mu);
}

double llm_fit_bytes_per_token(llm_fit *f)
{
    pthread_mutex_lock(&f->mu);
    double b = bpt_locked(f);
    pthread_mutex_unlock(&f->mu);
    return b;
}

static void sample_locked(llm_fit *f, double bpt)
{
    f->samples[f->next_sample] = bpt;
    f->next_sample = (f->next_sample + 1) % LLM_FIT_SAMPLES;
    if (f->n_samples < LLM_FIT_SAMPLES)
        f->n_samples++;
}

long llm_fit_estimate(const llm_plan *p, size_t bytes)
{
    double b = p->bytes_per_token > 0 ? p->bytes_per_token : LLM_FIT_DEFAULT_BPT;
    return (long)((double)bytes / b + 0.999) + LLM_FIT_MSG_OVERHEAD;
}

/* Bytes of prompt that fit in context beside the answer. */
static size_t prompt_room(const llm_plan *p)
{
    long t = p->context - p->max_tokens - LLM_FIT_MARGIN - LLM_FIT_MSG_OVERHEAD;
    return t > 0 ? (size_t)((double)t * p->bytes_per_token) : 0;
}

void llm_fit_plan(llm_fit *f, const llm_opts *o, size_t fixed_bytes, llm_plan *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&f->mu);
    int64_t now = time_mono_ms();
    if (!f->probed && (f->last_probe_ms == 0 || now - f->last_probe_ms >= LLM_FIT_REPROBE_MS)) {
        llm_server_probe(o, &f->info);
        f->probed = f->info.reachable; /* an unreachable server is probed again, at most every 30 s */
        f->last_probe_ms = now ? now : 1;
    }
    const llm_server_info *s = &f->info;
    out->kind = s->kind;
    out->bytes_per_token = bpt_locked(f);
    out->api = o->api;
    switch (s->kind) {
    case LLM_SERVER_OLLAMA:
        out->api = LLM_API_OLLAMA;
        out->model_context = s->model_context;
        out->context = s->model_context ? s->model_context : s->server_context ? s->server_context : 8192;
        out->think_off = s->thinking == 1;
        break;
    case LLM_SERVER_LLAMACPP:
    case LLM_SERVER_VLLM:
        out->context = s->server_context;
        out->think_off = out->template_kwargs = 1;
        break;
    case LLM_SERVER_UNKNOWN:
        break;
    }
    if (f->fo.context_tokens > 0)
        out->context = f->fo.context_tokens;
    if (f->learned_context > 0 && (out->context == 0 || f->learned_context < out->context))
        out->context = f->learned_context;
    pthread_mutex_unlock(&f->mu);

    out->max_tokens = f->fo.answer_tokens;
    if (out->context > 0 && out->max_tokens > out->context / 4)
        out->max_tokens = out->context / 4;
    out->digest_budget = f->fo.digest_budget;
    if (out->context > 0) {
        size_t room = prompt_room(out);
        out->max_prompt_bytes = room;
        size_t digest_bytes = room > fixed_bytes + 128 ? room - fixed_bytes - 128 : 0;
        if (digest_bytes / 3 < out->digest_budget)
            out->digest_budget = digest_bytes / 3 > 50 ? digest_bytes / 3 : 50;
    }
}

void llm_fit_apply(llm_plan *p, size_t prompt_bytes, llm_opts *o)
{
    o->api = p->api;
    o->max_tokens = p->max_tokens;
    o->think_off = p->think_off;
    o->template_kwargs = p->template_kwargs;
    o->num_ctx = 0;
    if (p->api == LLM_API_OLLAMA) {
        long need = llm_fit_estimate(p, prompt_bytes) + p->max_tokens + LLM_FIT_MARGIN, n = 2048;
        while (n < need && n < (1L << 24))
            n *= 2;
        if (p->model_context > 0 && n > p->model_context)
            n = p->model_context;
        if (p->context > 0 && n > p->context)
            n = p->context;
        o->num_ctx = p->num_ctx = n;
    }
}

static int near_power_of_two(long n)
{
    for (long k = 1024; k <= (1L << 22); k *= 2)
        if (n >= k - 4 && n <= k)
            return 1;
    return 0;
}

llm_fit_verdict llm_fit_observe(llm_fit *f, llm_plan *p, llm_rc rc, const llm_result *r, size_t *retry_bytes)
{
    size_t bytes = r->prompt_bytes;
    *retry_bytes = 0;
    if (rc == LLM_REJECTED && r->context_refused) {
        pthread_mutex_lock(&f->mu);
        if (r->context_prompt > 0 && bytes > 0)
            sample_locked(f, (double)bytes / (double)r->context_prompt);
        if (r->context_limit > 0)
            f->learned_context = r->context_limit;
        p->bytes_per_token = bpt_locked(f);
        pthread_mutex_unlock(&f->mu);
        if (r->context_limit > 0)
            p->context = r->context_limit;
        else if (p->context == 0 || llm_fit_estimate(p, bytes) < p->context)
            p->context = llm_fit_estimate(p, bytes) * 3 / 4;
        if (p->max_tokens > p->context / 4)
            p->max_tokens = p->context / 4;
        *retry_bytes = prompt_room(p);
        if (*retry_bytes >= bytes)
            *retry_bytes = bytes * 3 / 4;
        return LLM_FIT_PROMPT_CUT;
    }
    if (rc != LLM_OK)
        return LLM_FIT_OK;
    long reported = r->prompt_tokens, est = llm_fit_estimate(p, bytes);
    if (reported > 0) {
        long assumed = p->num_ctx > 0 ? p->num_ctx : p->context;
        int cut = (double)bytes / (double)reported > LLM_FIT_CUT_BPT ||
                  (assumed > 0 && reported >= assumed - 16 && est > reported) ||
                  (p->kind == LLM_SERVER_UNKNOWN && near_power_of_two(reported) &&
                   (double)est > (double)reported * 1.2);
        if (cut) {
            pthread_mutex_lock(&f->mu);
            f->learned_context = reported;
            pthread_mutex_unlock(&f->mu);
            p->context = reported;
            if (p->api == LLM_API_OLLAMA)
                p->model_context = reported; /* num_ctx did not hold: stay under what did */
            if (p->max_tokens > p->context / 4)
                p->max_tokens = p->context / 4;
            *retry_bytes = prompt_room(p);
            if (*retry_bytes >= bytes)
                *retry_bytes = bytes * 3 / 4;
            return LLM_FIT_PROMPT_CUT;
        }
        if (reported >= 64 && bytes > 0) {
            pthread_mutex_lock(&f->mu);
            sample_locked(f, (double)bytes / (double)reported);
            pthread_mutex_unlock(&f->mu);
        }
    }
    if (strcmp(r->finish_reason, "length") == 0) {
        p->max_tokens *= 4; /* a cut answer wastes a whole call: be generous */
        if (p->context > 0 && p->max_tokens > p->context / 2)
            p->max_tokens = p->context / 2;
        if (p->context > 0)
            *retry_bytes = prompt_room(p);
        return LLM_FIT_ANSWER_CUT;
    }
    return LLM_FIT_OK;
}
