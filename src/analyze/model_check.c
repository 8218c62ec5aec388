/*
 * model_check.c — `anomalog model check`: what the configured model server
 * is, whether it can do the job, and how analysis will talk to it.
 *
 * Purpose: a first run against a local model fails in ways that are hard to
 * see from the service (the model not pulled, a 2048-token context that cuts
 * every busy window, a schema the server ignores, a reasoning model that
 * spends the answer's room thinking). This command probes the server the
 * way analysis does (llm_server_probe, llm_fit_plan: the same code, so what
 * it prints is what serve will do), then sends one sample window's prompt
 * (a synthetic digest, about 2,000 tokens at 2.3 bytes a token, built by prompt_build like any
 * window's) with the verdict schema, and prints: reachable, model present
 * (with the pull command when not), context lengths, whether the JSON schema
 * is honoured (the answer is bare JSON that passes the verdict schema),
 * reasoning or not, latency per thousand prompt tokens, and the settings it
 * will use. --json prints one object instead, for scripts and CI.
 *
 * Threads: runs on the main thread of the CLI, nothing else.
 *
 * Limits: one chat request (plus a second one, shorter, only when the
 * server cut or refused the first), probes bounded by llm_fetch's 10 s
 * timeout, the chat call by llm.timeout with llm.retries.
 */
#include "anomalog/model_check.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/llm.h"
#include "anomalog/llm_fit.h"
#include "anomalog/prompt.h"
#include "anomalog/verdict.h"

#define MODEL_CHECK_TEMPLATES 20

/* A digest of a made-up window, shaped as digest.c renders one: a few errors among routine lines. */
static char *sample_digest(void)
{
    static const char *const verbs[] = {"served", "cached", "queued", "flushed", "synced", "resolved", "rotated",
                                        "compacted"};
    size_t cap = 16384, n = 0;
    char *d = malloc(cap);
    if (!d)
        return NULL;
    n += (size_t)snprintf(d + n, cap - n,
                          "Window digest of checkout: 2418 lines, %d templates (info 2301, warn 95, error 22)\n"
                          "History: 12 windows; usually 1.5 error lines per window\n",
                          MODEL_CHECK_TEMPLATES + 2);
    n += (size_t)snprintf(d + n, cap - n,
                          "T901 error x22 10:02:11..10:04:58 NEW: payment gateway timeout after <*>ms order=<*>\n"
                          "    2026-11-24T10:02:11.204Z error payment gateway timeout after 30000ms order=88121\n"
                          "    2026-11-24T10:03:40.017Z error payment gateway timeout after 30001ms order=88190\n"
                          "T902 warn x95 10:02:09..10:04:59 usual 4 x23.8 in 12/12: retrying call to <*> attempt "
                          "<*> of 3\n"
                          "    2026-11-24T10:02:09.990Z warn retrying call to payments.internal attempt 2 of 3\n");
    for (int i = 0; i < MODEL_CHECK_TEMPLATES && n + 256 < cap; i++)
        n += (size_t)snprintf(d + n, cap - n,
                              "T%d info x%d 10:00:00..10:04:59 usual %d x1.0 in 12/12: %s request <*> for tenant "
                              "<*> in <*>ms via node-%c\n",
                              100 + i, 40 + i * 3, 40 + i * 3, verbs[i % 8], 'a' + i % 26);
    return d;
}

typedef struct check {
    llm_server_info info;
    llm_plan plan;
    long full_num_ctx;       /* num_ctx a full-budget prompt would get (Ollama) */
    int called;              /* the chat request was made */
    llm_rc rc;
    char error[512];
    int schema_honoured;     /* -1 not known, 0 no, 1 yes */
    int answer_valid;        /* passes the verdict schema (leniently read) */
    int reasoning;           /* -1 not known */
    int refits;
    long prompt_tokens, completion_tokens;
    size_t prompt_bytes;
    int64_t latency_ms;
} check;

static void run_check(const config *cfg, check *c)
{
    llm_opts o;
    llm_opts_defaults(&o);
    o.base_url = cfg->llm_url;
    o.model = cfg->llm_model;
    o.api_key = cfg->llm_api_key;
    o.timeout_ms = cfg->llm_timeout_ms;
    o.retries = (int)cfg->llm_retries;
    o.format = (llm_format)cfg->llm_format;
    memset(c, 0, sizeof *c);
    c->schema_honoured = c->reasoning = -1;

    llm_fit_opts fo = {.context_tokens = (long)cfg->llm_context_tokens,
                       .answer_tokens = (long)cfg->llm_max_tokens,
                       .digest_budget = cfg->token_budget};
    llm_fit *f = llm_fit_new(&fo);
    char *digest = sample_digest();
    json_t *schema = verdict_schema();
    prompt p = {0};
    prompt_input in = {.service = "checkout", .start_ms = 1795514400000, .end_ms = 1795514700000,
                       .max_bytes = cfg->max_prompt_bytes, .digest = ""};
    if (!f || !digest || !schema || prompt_build(&in, &p) != 0) {
        snprintf(c->error, sizeof c->error, "out of memory");
        goto out;
    }
    size_t fixed = strlen(p.system) + strlen(p.user);
    prompt_free(&p);
    llm_fit_plan(f, &o, fixed, &c->plan);
    llm_fit_server(f, &c->info);
    llm_plan full = c->plan;
    llm_opts fo_opts = o;
    llm_fit_apply(&full, fixed + c->plan.digest_budget * 3, &fo_opts);
    c->full_num_ctx = fo_opts.num_ctx;
    if (!c->info.reachable || c->info.model_present == 0)
        goto out;

    in.digest = digest;
    if (c->plan.max_prompt_bytes > 0 && c->plan.max_prompt_bytes - prompt_system_bytes() < in.max_bytes)
        in.max_bytes = c->plan.max_prompt_bytes - prompt_system_bytes();
    if (prompt_build(&in, &p) != 0) {
        snprintf(c->error, sizeof c->error, "out of memory");
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        llm_result r;
        llm_fit_apply(&c->plan, strlen(p.system) + strlen(p.user), &o);
        c->rc = llm_chat(&o, p.system, p.user, schema, &r);
        c->called = 1;
        c->prompt_tokens = r.prompt_tokens;
        c->completion_tokens = r.completion_tokens;
        c->prompt_bytes = r.prompt_bytes;
        c->latency_ms = r.latency_ms;
        if (r.reasoning)
            c->reasoning = 1;
        size_t retry = 0;
        llm_fit_verdict fv = llm_fit_observe(f, &c->plan, c->rc, &r, &retry);
        if (fv == LLM_FIT_PROMPT_CUT && i < 2) {
            c->refits++;
            llm_result_free(&r);
            prompt_free(&p);
            in.max_bytes = retry > prompt_system_bytes() + 1024 ? retry - prompt_system_bytes() : 1024;
            if (prompt_build(&in, &p) != 0)
                goto out;
            continue;
        }
        if (c->rc != LLM_OK) {
            snprintf(c->error, sizeof c->error, "%s", r.error);
            if (c->rc == LLM_REJECTED && r.http_status == 400 && !r.context_refused && o.format == LLM_FORMAT_JSON_SCHEMA)
                c->schema_honoured = 0; /* most likely the response_format it does not take */
            llm_result_free(&r);
            break;
        }
        char verr[256];
        json_t *v = verdict_parse(r.content, strlen(r.content), verr, sizeof verr);
        json_t *bare = json_loads(r.content, 0, NULL);
        c->answer_valid = v != NULL;
        c->schema_honoured = v && json_is_object(bare);
        if (!v)
            snprintf(c->error, sizeof c->error, "the answer failed the verdict schema: %s", verr);
        json_decref(v);
        json_decref(bare);
        if (c->reasoning < 0)
            c->reasoning = c->info.thinking == 1;
        llm_result_free(&r);
        break;
    }
out:
    prompt_free(&p);
    json_decref(schema);
    free(digest);
    llm_fit_free(f);
}

static const char *endpoint(const check *c)
{
    return c->plan.api == LLM_API_OLLAMA ? "/api/chat (Ollama native: num_ctx holds)" : "/chat/completions";
}

/* Milliseconds per thousand prompt tokens of the sample, or -1 when the server counted none. */
static long per_1k(const check *c)
{
    return c->prompt_tokens > 0 ? (long)((double)c->latency_ms * 1000.0 / (double)c->prompt_tokens + 0.5) : -1;
}

static json_t *per_1k_json(const check *c)
{
    return per_1k(c) >= 0 ? json_integer(per_1k(c)) : json_null();
}

static int usable(const check *c)
{
    return c->info.reachable && c->info.model_present != 0 && c->called && c->rc == LLM_OK && c->answer_valid;
}

static json_t *int_or_null(long v)
{
    return v > 0 ? json_integer(v) : json_null();
}

static int print_json(const config *cfg, const check *c)
{
    char pull[400] = "";
    if (c->info.kind == LLM_SERVER_OLLAMA && c->info.model_present == 0)
        snprintf(pull, sizeof pull, "ollama pull %s", cfg->llm_model);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:b, s:s, s:o, s:s?, s:{s:o, s:o, s:o}, s:o, s:o, s:o, s:{s:o, s:o, s:I, s:I, s:o, s:o}, "
        "s:{s:s, s:s, s:o, s:I, s:I, s:f, s:b, s:o}, s:s?, s:b}",
        "url", cfg->llm_url, "model", cfg->llm_model, "server", llm_server_kind_name(c->info.kind), "reachable",
        c->info.reachable, "version", c->info.version, "model_present",
        c->info.model_present < 0 ? json_null() : json_boolean(c->info.model_present), "pull_command",
        pull[0] ? pull : NULL, "context", "model", int_or_null(c->info.model_context), "server",
        int_or_null(c->info.server_context), "used", int_or_null(c->plan.context), "json_schema",
        c->schema_honoured < 0 ? json_null() : json_boolean(c->schema_honoured), "answer_valid",
        c->called ? json_boolean(c->answer_valid) : json_null(), "reasoning",
        c->reasoning < 0 ? json_null() : json_boolean(c->reasoning), "sample", "latency_ms_per_1k_prompt_tokens",
        per_1k_json(c), "prompt_tokens", int_or_null(c->prompt_tokens), "prompt_bytes",
        (json_int_t)c->prompt_bytes, "latency_ms", (json_int_t)c->latency_ms, "completion_tokens",
        c->completion_tokens >= 0 ? json_integer(c->completion_tokens) : json_null(), "refits",
        json_integer(c->refits), "settings", "api", c->plan.api == LLM_API_OLLAMA ? "ollama" : "openai", "endpoint",
        c->plan.api == LLM_API_OLLAMA ? "/api/chat" : "/chat/completions", "context", int_or_null(c->plan.context),
        "max_tokens", (json_int_t)c->plan.max_tokens, "digest_budget", (json_int_t)c->plan.digest_budget,
        "bytes_per_token", (double)(long)(c->plan.bytes_per_token * 100 + 0.5) / 100, "think_off", c->plan.think_off, "num_ctx_full_prompt",
        int_or_null(c->full_num_ctx), "error", c->error[0] ? c->error : (c->info.reachable ? NULL : c->info.detail),
        "usable", usable(c));
    if (!o)
        return 1;
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    if (!s)
        return 1;
    puts(s);
    free(s);
    return usable(c) ? 0 : 1;
}

static void ctx_text(char *buf, size_t len, long v)
{
    if (v > 0)
        snprintf(buf, len, "%ld tokens", v);
    else
        snprintf(buf, len, "unknown");
}

static int print_text(const config *cfg, const check *c)
{
    char a[32], b[32], u[32];
    printf("model server   %s (%s%s%s)\n", cfg->llm_url, llm_server_kind_name(c->info.kind),
           c->info.version[0] ? " " : "", c->info.version);
    printf("reachable      %s%s%s\n", c->info.reachable ? "yes" : "no", c->info.reachable ? "" : ": ",
           c->info.reachable ? "" : c->info.detail);
    if (!c->info.reachable)
        return 1;
    if (c->info.model_present == 0)
        printf("model          %s: NOT present%s%s\n", cfg->llm_model,
               c->info.kind == LLM_SERVER_OLLAMA ? "; pull it: ollama pull " : " (the server does not list it)",
               c->info.kind == LLM_SERVER_OLLAMA ? cfg->llm_model : "");
    else
        printf("model          %s: %s\n", cfg->llm_model, c->info.model_present ? "present" : "not listed (unknown)");
    ctx_text(a, sizeof a, c->info.model_context);
    ctx_text(b, sizeof b, c->info.server_context);
    ctx_text(u, sizeof u, c->plan.context);
    printf("context        model %s, server %s; fitted in %s%s\n", a, b, u,
           cfg->llm_context_tokens ? " (llm.context_tokens)" : "");
    if (c->called) {
        printf("json schema    %s\n", c->schema_honoured == 1 ? "honoured (bare JSON that passes the verdict schema)"
                                     : c->answer_valid      ? "not honoured (the answer was recovered from prose)"
                                     : c->schema_honoured == 0 ? "not honoured: try llm.response_format json_object"
                                                               : "unknown");
        printf("reasoning      %s\n", c->reasoning == 1 ? (c->plan.think_off ? "yes (asked not to think; any reasoning "
                                                                                 "is read apart, never stored)"
                                                                              : "yes (read apart, never stored)")
                                      : c->reasoning == 0 ? "no"
                                                          : "unknown");
        if (per_1k(c) >= 0)
            printf("latency        %ld ms per 1000 prompt tokens (sample: %ld prompt tokens, %zu bytes, %lld ms, %ld "
                   "answer tokens)\n",
                   per_1k(c), c->prompt_tokens, c->prompt_bytes, (long long)c->latency_ms, c->completion_tokens);
        else
            printf("latency        %lld ms for the sample (the server reported no token counts)\n",
                   (long long)c->latency_ms);
        if (c->refits)
            printf("note           the server cut or refused the sample %d time(s); it was sent again shorter\n",
                   c->refits);
    }
    printf("will use       POST %s, context %s, max_tokens %ld, digest budget %zu tokens, %.2f bytes a token%s",
           endpoint(c), u, c->plan.max_tokens, c->plan.digest_budget, c->plan.bytes_per_token,
           c->plan.think_off ? ", thinking off" : "");
    if (c->full_num_ctx > 0)
        printf(", num_ctx %ld for a full digest", c->full_num_ctx);
    printf("\n");
    if (c->error[0])
        printf("problem        %s\n", c->error);
    printf("verdict        %s\n", usable(c) ? "usable" : "NOT usable");
    return usable(c) ? 0 : 1;
}

int model_main(const config *cfg, int argc, char **argv)
{
    int json = 0;
    const char *sub = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (!sub && argv[i][0] != '-')
            sub = argv[i];
        else {
            fprintf(stderr, "anomalog: model: unknown argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (!sub || strcmp(sub, "check") != 0) {
        fprintf(stderr, "usage: anomalog model check [--json] [--llm-url URL] [--llm-model NAME] ...\n");
        return 2;
    }
    if (!cfg->llm_url[0] || strcmp(cfg->llm_url, "none") == 0) {
        fprintf(stderr, "anomalog: model check: no model configured (llm.url is \"%s\")\n", cfg->llm_url);
        return 2;
    }
    llm_global_init();
    check c;
    run_check(cfg, &c);
    int rc = json ? print_json(cfg, &c) : print_text(cfg, &c);
    llm_global_cleanup();
    return rc;
}
