/*
 * analyzer_model.c — one window's call to the model, for analyzer.c: the
 * plan that fits the prompt to the model server's context (llm_fit.h), the
 * call with its retries (an answer that fails the schema, a prompt the
 * server cut, an answer out of room), the circuit breaker (breaker.h), and
 * the answer's words redacted before they are stored or routed.
 *
 * Threads: any analysis worker; what they share is the analyzer's fit and
 * breaker, each thread-safe, and the redactor (read-only).
 *
 * Limits: schema_retries more calls for invalid answers, two more for a
 * prompt refit; a reasoning model's reasoning is dropped, never stored.
 */
#include "analyzer_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "anomalog/log.h"
#include "anomalog/metrics.h"
#include "anomalog/timeutil.h"
#include "anomalog/verdict.h"

/* The client's options from the configuration. */
void analyzer_model_opts(const config *cfg, const atomic_int *cancel, llm_opts *o)
{
    llm_opts_defaults(o);
    o->base_url = cfg->llm_url;
    o->model = cfg->llm_model;
    o->api_key = cfg->llm_api_key;
    o->timeout_ms = cfg->llm_timeout_ms;
    o->retries = (int)cfg->llm_retries;
    o->format = (llm_format)cfg->llm_format;
    o->cancel = cancel;
}

static void add_usage(int64_t *acc, long v)
{
    if (v >= 0)
        *acc = (*acc < 0 ? 0 : *acc) + v;
}

/* Replaces the string v (if it is one) by its redacted text. */
static int redact_string(const redactor *red, redact_session *rs, json_t *v)
{
    if (!json_is_string(v))
        return 0;
    char *t = redact_text(red, rs, json_string_value(v), json_string_length(v), NULL);
    int rc = t && json_string_set(v, t) == 0 ? 0 : -1;
    free(t);
    return rc;
}

/*
 * Redacts the model's words before they are stored or routed. The model only
 * ever saw redacted text, but it can still write a secret (invented,
 * remembered, or spelled out from a hint), and what it writes goes to
 * PagerDuty, Slack and the database. Returns -1 when out of memory.
 */
static int redact_answer(const redactor *red, json_t *verdict)
{
    static const char *const fields[] = {"summary", "recommended_action"};
    if (!red)
        return 0;
    redact_session *rs = redact_session_new();
    int rc = rs ? 0 : -1;
    size_t i, k;
    json_t *an, *ev;
    json_array_foreach(json_object_get(verdict, "anomalies"), i, an)
    {
        for (k = 0; rc == 0 && k < sizeof fields / sizeof fields[0]; k++)
            rc = redact_string(red, rs, json_object_get(an, fields[k]));
        json_array_foreach(json_object_get(an, "evidence"), k, ev)
        {
            if (rc == 0)
                rc = redact_string(red, rs, ev);
        }
    }
    redact_session_free(rs);
    return rc;
}

/* ---- fitting the model's context (llm_fit.h) ------------------------------------ */

/* The user message's byte cap when both messages must stay under total. */
size_t analyzer_fit_user_bytes(size_t cap, size_t total, size_t system_bytes)
{
    size_t room = total > system_bytes + 1024 ? total - system_bytes : 1024;
    return cap == 0 || room < cap ? room : cap;
}

/*
 * The plan for a window's model call, and the digest budget it leaves: the
 * server's context (probed once) less the system prompt, the user message's
 * fixed parts (measured on an empty digest) and the answer's room.
 */
size_t analyzer_plan_window(analyzer *a, const window_work *w, llm_plan *plan)
{
    const config *cfg = a->cfg;
    prompt fixed = {0};
    prompt_input in = {.service = w->service, .context = w->context, .start_ms = w->start_ms, .end_ms = w->end_ms,
                       .max_bytes = cfg->max_prompt_bytes, .digest = ""};
    size_t fixed_bytes = prompt_build(&in, &fixed) == 0 ? strlen(fixed.system) + strlen(fixed.user) : 4096;
    prompt_free(&fixed);
    llm_opts o;
    analyzer_model_opts(cfg, NULL, &o);
    llm_fit_plan(a->fit, &o, fixed_bytes, plan);
    return plan->digest_budget < cfg->token_budget ? plan->digest_budget : cfg->token_budget;
}

/*
 * Asks the model for the window's verdict: up to schema_retries more calls
 * for answers that fail the schema, and up to two more when the server cut
 * or refused the prompt (sent again, shortened to what the server showed it
 * takes) or the answer ran out of room (more room). *p is rebuilt for each
 * shortening and m points at the prompt last sent. The reasoning a model
 * wrote (llm_result.reasoning) is dropped here: it reaches neither the
 * verdict, the store nor a notification. @return LLM_CANCELLED when
 * interrupted, else LLM_OK (*verdict set, or NULL with reason).
 */
llm_rc analyzer_ask_model(analyzer *a, const atomic_int *cancel, prompt_input *in, llm_plan *plan,
                          const json_t *schema, prompt *p, analysis_meta *m, json_t **verdict, char *reason, size_t reason_len)
{
    const config *cfg = a->cfg;
    llm_opts o;
    int refits = 0, quick = 0;
    analyzer_model_opts(cfg, cancel, &o);
    if (a->brk && !breaker_allow(a->brk, time_now_ms(), &quick)) { /* down: straight to the baseline */
        snprintf(reason, reason_len, "model: down after %llu consecutive failed calls (circuit open; next probe in "
                 "%llds)", (unsigned long long)cfg->breaker_failures,
                 (long long)(breaker_wait_ms(a->brk, time_now_ms()) + 999) / 1000);
        return LLM_OK;
    }
    if (quick) /* a failure was seen since the last success: a dead model is found out in one timeout */
        o.retries = 0;
    for (uint64_t attempt = 0; attempt <= cfg->schema_retries; attempt++) {
        llm_result r;
        m->system_prompt = p->system;
        m->user_prompt = p->user;
        llm_fit_apply(plan, strlen(p->system) + strlen(p->user), &o);
        llm_rc lrc = llm_chat(&o, p->system, p->user, schema, &r);
        if (a->brk)
            breaker_record(a->brk, lrc == LLM_CANCELLED ? -1 : lrc == LLM_OK, time_now_ms());
        add_usage(&m->prompt_tokens, r.prompt_tokens);
        add_usage(&m->completion_tokens, r.completion_tokens);
        add_usage(&m->latency_ms, (long)r.latency_ms);
        metrics_tokens(r.prompt_tokens, r.completion_tokens);
        free(r.reasoning); /* never stored, never routed */
        r.reasoning = NULL;
        size_t retry_bytes = 0;
        llm_fit_verdict fv = llm_fit_observe(a->fit, plan, lrc, &r, &retry_bytes);
        if (fv != LLM_FIT_OK && refits < 2) {
            refits++;
            log_msg(LOG_WARN, "analysis", "%s: %s (%ld prompt tokens counted, %zu bytes): sending it again%s",
                    in->service, fv == LLM_FIT_PROMPT_CUT ? "the model server cut or refused the prompt"
                                                            : "the answer ran out of room",
                    r.prompt_tokens, r.prompt_bytes, retry_bytes ? " shorter" : " with more room");
            llm_result_free(&r);
            if (retry_bytes) {
                prompt np;
                in->max_bytes = analyzer_fit_user_bytes(in->max_bytes, retry_bytes, strlen(p->system));
                if (prompt_build(in, &np) == 0) {
                    prompt_free(p);
                    *p = np;
                }
            }
            attempt--; /* a refit is not a schema retry */
            continue;
        }
        if (lrc != LLM_OK)
            metrics_model_call(lrc == LLM_CANCELLED     ? "cancelled"
                               : lrc == LLM_REJECTED    ? "rejected"
                               : lrc == LLM_BAD_RESPONSE ? "bad_response"
                                                         : "unavailable");
        if (lrc == LLM_CANCELLED) {
            llm_result_free(&r);
            return LLM_CANCELLED;
        }
        if (lrc != LLM_OK) {
            snprintf(reason, reason_len, "model: %s", r.error);
            llm_result_free(&r);
            break;
        }
        char verr[512];
        *verdict = verdict_parse(r.content, strlen(r.content), verr, sizeof verr);
        if (*verdict && redact_answer(a->red, *verdict) != 0) {
            json_decref(*verdict);
            *verdict = NULL;
            snprintf(verr, sizeof verr, "out of memory redacting the answer");
        }
        metrics_model_call(*verdict ? "ok" : "invalid_answer");
        llm_result_free(&r);
        if (*verdict)
            break;
        snprintf(reason, reason_len, "answer failed the schema after %llu call(s): %s",
                 (unsigned long long)attempt + 1, verr);
    }
    return LLM_OK;
}

