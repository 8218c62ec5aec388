/*
 * llm.c — the chat-completions client (Ollama, llama.cpp server, vLLM,
 * OpenAI and anything else that speaks the OpenAI API) on libcurl.
 *
 * Purpose: llm_chat() sends one system and one user message to
 * POST {base_url}/chat/completions and returns the assistant's content with
 * the token counts. The request body is built with jansson: model,
 * temperature, the two messages, "stream": false and, depending on the
 * format, a response_format asking for JSON (json_schema with the verdict
 * schema in strict mode, json_object, or none), and max_tokens when set.
 * With api LLM_API_OLLAMA it posts to Ollama's native {root}/api/chat
 * instead: options {temperature, num_ctx, num_predict}, the schema as
 * "format", think:false when asked; its answer (message, done_reason,
 * prompt_eval_count, eval_count) fills the same result. Only this module and
 * the notifiers include curl.h; llm_fetch() is the one-shot GET/POST the
 * probes of llm_fit.c use.
 *
 * Reasoning: a reasoning model's thoughts arrive in reasoning_content
 * (vLLM, llama.cpp), reasoning (Ollama's OpenAI endpoint), message.thinking
 * (Ollama native) or as <think>…</think> before the answer, often holding
 * braces and answer-like JSON. They go to llm_result.reasoning, never into
 * content, so only the answer is read (llm_strip_reasoning).
 *
 * Context refusals: a 400 naming the context (llama.cpp's
 * exceed_context_size_error with n_ctx and n_prompt_tokens, vLLM's "maximum
 * context length is N tokens", OpenAI's context_length_exceeded) sets
 * context_refused / context_limit / context_prompt for llm_fit.c.
 *
 * Retries: connection failures, timeouts, broken transfers, 408, 429 and
 * 5xx are retried up to o->retries times. Between attempts the wait is
 * backoff.h's: backoff_base doubling per attempt up to backoff_max, ±20%
 * jitter; after a 429 or 503 carrying Retry-After (seconds or an HTTP date,
 * which curl turns into seconds) it is max(Retry-After, that), capped at
 * backoff_max.
 * Any other 4xx is LLM_REJECTED at once (bad key, unknown model), a 2xx
 * that is not a chat-completions envelope is LLM_BAD_RESPONSE (the caller
 * decides whether to ask again), and redirects are not followed.
 *
 * Threads: any number of threads may call llm_chat() at once: each call has
 * its own easy handle, buffers and result (the jitter's generator is
 * per thread, backoff.c). llm_global_init() must have run
 * before the first thread starts.
 *
 * Cancellation: when o->cancel is set, a backoff wait ends within
 * LLM_SLEEP_STEP_MS and a transfer within curl's progress interval (the
 * progress callback aborts it); the call returns LLM_CANCELLED.
 *
 * Invariants: every path through llm_chat() fills *out (content only on
 * LLM_OK) and frees everything else at its single exit. The API key goes
 * into one header and nowhere else: no error text, log line or result holds
 * it, and its header buffer is wiped before it is freed.
 *
 * Limits: the response body is capped at o->max_response bytes (after
 * content decoding); a longer one aborts the transfer and is a bad
 * response. Error texts quote at most LLM_BODY_QUOTE bytes of the server's
 * answer (its error.message when it is JSON), cleaned to printable UTF-8.
 */
#include "anomalog/llm.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "anomalog/backoff.h"
#include "anomalog/strbuf.h"
#include "anomalog/timeutil.h"
#include "anomalog/utf8.h"

#define LLM_SLEEP_STEP_MS 20
#define LLM_BODY_QUOTE 200
#define LLM_URL_MAX 2048
#define LLM_KEY_MAX 4096

#ifndef ANOMALOG_VERSION
#define ANOMALOG_VERSION "dev"
#endif

/* ---- helpers ------------------------------------------------------------------ */

static void set_err(llm_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(llm_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    /* a cut may have split a character */
    size_t n = strlen(r->error);
    if (n == sizeof r->error - 1) {
        n = utf8_whole(r->error, n);
        r->error[n] = '\0';
    }
}

static int cancelled(const llm_opts *o)
{
    return o->cancel && atomic_load(o->cancel);
}

/*
 * A quotable copy of s[0..len): at most max bytes, whitespace runs folded to
 * one space, other control bytes and non-ASCII bytes replaced by '?' (so the
 * result is printable ASCII whatever the server sent).
 */
static void quote(char *dst, size_t dstlen, const char *s, size_t len, size_t max)
{
    size_t o = 0;
    int space = 0;
    for (size_t i = 0; i < len && i < max && o + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < dstlen)
            dst[o++] = ' ';
        space = 0;
        dst[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    dst[o] = '\0';
}

/* ---- response buffer ------------------------------------------------------------ */

/* The answer as it arrives, within its maximum (llm_opts.max_response). */
typedef struct body_buf {
    strbuf s;
    int too_big; /* the answer went past the maximum */
} body_buf;

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    body_buf *b = userp;
    size_t n = size * nmemb;
    strbuf_rc rc = strbuf_add(&b->s, data, n);
    b->too_big |= rc == STRBUF_FULL;
    return rc == STRBUF_OK ? n : 0; /* 0 aborts the transfer with CURLE_WRITE_ERROR */
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return cancelled(userp) ? 1 : 0;
}

/* ---- request ------------------------------------------------------------------ */

/*
 * The request body as compact JSON into *text (malloc'd). @return LLM_OK, or
 * LLM_REJECTED (a message is not valid UTF-8) / LLM_UNAVAILABLE (out of
 * memory) with r->error set and *text NULL.
 */
static llm_rc request_body(const llm_opts *o, const char *system, const char *user, const json_t *schema, llm_result *r,
                           char **text)
{
    llm_rc rc = LLM_UNAVAILABLE;
    json_t *body = json_object(), *messages = json_array(), *sys = json_object(), *usr = json_object();
    json_t *rf = NULL;
    int failed;

    *text = NULL;
    if (!body || !messages || !sys || !usr) {
        set_err(r, "out of memory building the request");
        goto out;
    }
    json_t *sys_text = json_string(system), *usr_text = json_string(user);
    if (!sys_text || !usr_text) {
        json_decref(sys_text);
        json_decref(usr_text);
        set_err(r, "the %s message is not valid UTF-8", !sys_text ? "system" : "user");
        rc = LLM_REJECTED;
        goto out;
    }
    /* each _set_new / _append_new steals its value, even when it fails */
    failed = json_object_set_new(sys, "role", json_string("system"));
    failed |= json_object_set_new(sys, "content", sys_text);
    failed |= json_object_set_new(usr, "role", json_string("user"));
    failed |= json_object_set_new(usr, "content", usr_text);
    failed |= json_array_append_new(messages, sys);
    failed |= json_array_append_new(messages, usr);
    sys = usr = NULL;
    failed |= json_object_set_new(body, "model", json_string(o->model));
    failed |= json_object_set_new(body, "messages", messages);
    messages = NULL;
    failed |= json_object_set_new(body, "stream", json_false());
    if (o->api == LLM_API_OLLAMA) {
        /* native: options carry what the OpenAI endpoint would ignore; format is the schema itself */
        json_t *opts = json_object();
        failed |= json_object_set_new(opts, "temperature", json_real(o->temperature));
        if (o->num_ctx > 0)
            failed |= json_object_set_new(opts, "num_ctx", json_integer(o->num_ctx));
        if (o->max_tokens > 0)
            failed |= json_object_set_new(opts, "num_predict", json_integer(o->max_tokens));
        failed |= json_object_set_new(body, "options", opts);
        if (o->think_off)
            failed |= json_object_set_new(body, "think", json_false());
        if (o->format == LLM_FORMAT_JSON_SCHEMA && schema)
            failed |= json_object_set_new(body, "format", json_deep_copy(schema));
        else if (o->format != LLM_FORMAT_NONE)
            failed |= json_object_set_new(body, "format", json_string("json"));
        goto dump;
    }
    failed |= json_object_set_new(body, "temperature", json_real(o->temperature));
    if (o->max_tokens > 0)
        failed |= json_object_set_new(body, "max_tokens", json_integer(o->max_tokens));
    if (o->think_off && o->template_kwargs)
        failed |= json_object_set_new(body, "chat_template_kwargs", json_pack("{s:b}", "enable_thinking", 0));

    switch (o->format) {
    case LLM_FORMAT_JSON_SCHEMA:
        if (schema) {
            /* json_deep_copy: the schema is borrowed and may be shared between threads */
            rf = json_pack("{s:s, s:{s:s, s:b, s:o}}", "type", "json_schema", "json_schema", "name", "window_verdict",
                           "strict", 1, "schema", json_deep_copy(schema));
            break;
        }
        /* no schema to send: ask for a JSON object instead */
        /* fall through */
    case LLM_FORMAT_JSON_OBJECT:
        rf = json_pack("{s:s}", "type", "json_object");
        break;
    case LLM_FORMAT_NONE:
        break;
    }
    if (o->format != LLM_FORMAT_NONE)
        failed |= json_object_set_new(body, "response_format", rf); /* steals rf */
dump:
    if (failed) {
        set_err(r, "out of memory building the request");
        goto out;
    }
    if (!(*text = json_dumps(body, JSON_COMPACT))) {
        set_err(r, "out of memory building the request");
        goto out;
    }
    rc = LLM_OK;
out:
    json_decref(body);
    json_decref(messages);
    json_decref(sys);
    json_decref(usr);
    return rc;
}

/* ---- answer --------------------------------------------------------------------- */

/* The number after the first occurrence of key in s, or 0. */
static long number_after(const char *s, const char *key)
{
    const char *p = s ? strstr(s, key) : NULL;
    if (!p)
        return 0;
    p += strlen(key);
    while (*p == ' ')
        p++;
    long v = 0;
    while (*p >= '0' && *p <= '9' && v < 100000000L)
        v = v * 10 + (*p++ - '0');
    return v;
}

/*
 * A refusal for size: llama.cpp's exceed_context_size_error (error.n_ctx,
 * error.n_prompt_tokens), vLLM's "This model's maximum context length is N
 * tokens ... (P in the messages" or "has P input tokens", and the OpenAI
 * wording "context_length_exceeded".
 */
static void context_refusal(const json_t *root, const char *msg, llm_result *r)
{
    json_t *e = json_object_get(root, "error");
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *code = json_string_value(json_object_get(e, "code"));
    if ((type && strcmp(type, "exceed_context_size_error") == 0) ||
        (code && strcmp(code, "context_length_exceeded") == 0)) {
        json_t *nc = json_object_get(e, "n_ctx"), *np = json_object_get(e, "n_prompt_tokens");
        r->context_refused = 1;
        r->context_limit = json_is_integer(nc) ? (long)json_integer_value(nc) : 0;
        r->context_prompt = json_is_integer(np) ? (long)json_integer_value(np) : 0;
    }
    if (msg && strstr(msg, "maximum context length is")) {
        r->context_refused = 1;
        r->context_limit = number_after(msg, "maximum context length is");
        long p = number_after(msg, "tokens (");
        r->context_prompt = p ? p : number_after(msg, "your request has");
    }
}

/* Error text of a non-2xx answer: error.message (or similar) when JSON, else the body's start. */
static void http_error(llm_result *r, int status, const body_buf *b)
{
    char q[LLM_BODY_QUOTE + 1] = "";
    json_t *root = b->s.len ? json_loadb(b->s.p, b->s.len, 0, NULL) : NULL;
    const char *msg = NULL;
    if (json_is_object(root)) {
        json_t *e = json_object_get(root, "error");
        if (json_is_object(e))
            msg = json_string_value(json_object_get(e, "message"));
        else if (json_is_string(e))
            msg = json_string_value(e);
        if (!msg)
            msg = json_string_value(json_object_get(root, "message"));
        if (!msg)
            msg = json_string_value(json_object_get(root, "detail"));
    }
    if (msg)
        quote(q, sizeof q, msg, strlen(msg), LLM_BODY_QUOTE);
    else if (b->s.len)
        quote(q, sizeof q, b->s.p, b->s.len, LLM_BODY_QUOTE);
    if (status == 400 || status == 413)
        context_refusal(root, msg, r);
    json_decref(root);
    set_err(r, "HTTP %d from the model server%s%s", status, q[0] ? ": " : "", q);
}

/* Reads a 2xx chat-completions envelope into r: LLM_OK or LLM_BAD_RESPONSE. */
static llm_rc parse_envelope(const body_buf *b, llm_result *r)
{
    llm_rc rc = LLM_BAD_RESPONSE;
    json_error_t je;
    char q[64];
    json_t *root = json_loadb(b->s.p ? b->s.p : "", b->s.len, 0, &je);

    if (!json_is_object(root)) {
        quote(q, sizeof q, b->s.p ? b->s.p : "", b->s.len, 40);
        set_err(r, "the answer is not a JSON object (%s): \"%s\"", root ? "other JSON" : je.text, q);
        goto out;
    }
    json_t *msg, *pt, *ct, *fin, *reasoning;
    if (json_is_object(json_object_get(root, "message")) && !json_object_get(root, "choices")) {
        /* Ollama's native answer */
        msg = json_object_get(root, "message");
        pt = json_object_get(root, "prompt_eval_count");
        ct = json_object_get(root, "eval_count");
        fin = json_object_get(root, "done_reason");
        reasoning = json_object_get(msg, "thinking");
    } else {
        json_t *usage = json_object_get(root, "usage"), *choice = json_array_get(json_object_get(root, "choices"), 0);
        msg = json_object_get(choice, "message");
        pt = json_object_get(usage, "prompt_tokens");
        ct = json_object_get(usage, "completion_tokens");
        fin = json_object_get(choice, "finish_reason");
        reasoning = json_object_get(msg, "reasoning_content");
        if (!json_is_string(reasoning))
            reasoning = json_object_get(msg, "reasoning");
    }
    r->prompt_tokens = json_is_integer(pt) ? (long)json_integer_value(pt) : -1;
    r->completion_tokens = json_is_integer(ct) ? (long)json_integer_value(ct) : -1;
    if (json_is_string(fin))
        snprintf(r->finish_reason, sizeof r->finish_reason, "%s", json_string_value(fin));
    json_t *content = json_object_get(msg, "content");
    if (json_is_string(content)) {
        char *inline_reasoning = NULL;
        if (!(r->content = strdup(json_string_value(content)))) {
            set_err(r, "out of memory copying the answer");
            goto out;
        }
        llm_strip_reasoning(r->content, &inline_reasoning);
        if (json_is_string(reasoning) && json_string_length(reasoning) > 0) {
            free(inline_reasoning);
            inline_reasoning = strdup(json_string_value(reasoning));
        }
        r->reasoning = inline_reasoning;
        if (!r->content[strspn(r->content, " \t\r\n")] && r->reasoning) {
            set_err(r, "the answer is only reasoning%s",
                    strcmp(r->finish_reason, "length") == 0 ? ": it ran out of tokens while thinking" : "");
            goto out;
        }
        rc = LLM_OK;
        goto out;
    }
    if (!json_is_object(msg)) {
        json_t *e = json_object_get(root, "error");
        const char *em = json_is_object(e) ? json_string_value(json_object_get(e, "message")) : json_string_value(e);
        if (em) {
            quote(q, sizeof q, em, strlen(em), sizeof q - 1);
            set_err(r, "the model server answered with an error: %s", q);
        } else {
            set_err(r, "the answer has no choices[0].message");
        }
    } else if (json_object_get(msg, "tool_calls") && !json_is_null(json_object_get(msg, "tool_calls"))) {
        set_err(r, "choices[0].message.content is %s: the model answered with tool_calls instead",
                content ? "null" : "missing");
    } else if (json_is_string(json_object_get(msg, "reasoning")) ||
               json_is_string(json_object_get(msg, "reasoning_content"))) {
        set_err(r, "choices[0].message.content is %s: the model only produced reasoning (out of tokens?)",
                content ? "null" : "missing");
    } else {
        set_err(r, "choices[0].message.content is %s", content ? "not a string" : "missing");
    }
out:
    json_decref(root);
    return rc;
}

/* ---- attempts ---------------------------------------------------------------------- */

typedef enum attempt_kind { ATTEMPT_DONE, ATTEMPT_RETRY } attempt_kind;

static int curl_retryable(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST: /* a compose service whose name is not up yet */
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

/* Sleeps ms in small steps; 1 when cancelled meanwhile. */
static int sleep_cancellable(const llm_opts *o, int64_t ms)
{
    int64_t end = time_mono_ms() + ms;
    for (;;) {
        if (cancelled(o))
            return 1;
        int64_t left = end - time_mono_ms();
        if (left <= 0)
            return 0;
        if (left > LLM_SLEEP_STEP_MS)
            left = LLM_SLEEP_STEP_MS;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}

/* The wait before attempt `attempt + 1`: backoff.h's, or a longer Retry-After of a 429 or 503, capped at backoff_max. */
static int64_t retry_wait_ms(const llm_opts *o, int attempt, int status, long retry_after_s)
{
    int64_t max = o->backoff_max_ms > 0 ? o->backoff_max_ms : 0;
    int64_t wait = backoff_ms(o->backoff_base_ms, max, attempt + 1, 1);
    if ((status == 429 || status == 503) && retry_after_s > 0) {
        int64_t ra = retry_after_s > INT64_MAX / 1000 ? INT64_MAX : (int64_t)retry_after_s * 1000;
        if (ra > wait)
            wait = ra;
        if (wait > max)
            wait = max;
    }
    return wait;
}

#define SETOPT(opt, val)                                                                                               \
    do {                                                                                                               \
        if (c == CURLE_OK)                                                                                             \
            c = curl_easy_setopt(h, opt, val);                                                                         \
    } while (0)

/* Sets what every request to the model server has: the URL (HTTP or HTTPS
 * only, no redirects), headers, user agent, the answer into *resp, no
 * signals, and curl's error text into curl_err. Returns the first failure. */
static CURLcode setup_common(CURL *h, const char *url, struct curl_slist *hdrs, body_buf *resp, char *curl_err)
{
    CURLcode c = CURLE_OK;
    SETOPT(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SETOPT(CURLOPT_HTTPHEADER, hdrs);
    SETOPT(CURLOPT_USERAGENT, "anomalog/" ANOMALOG_VERSION);
    SETOPT(CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(CURLOPT_WRITEDATA, resp);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_ERRORBUFFER, curl_err);
    return c;
}

/* Sets the options that stay the same for every attempt of a chat call. */
static CURLcode setup_handle(CURL *h, const llm_opts *o, const char *url, const char *body, struct curl_slist *hdrs,
                             body_buf *resp, char *curl_err)
{
    CURLcode c = setup_common(h, url, hdrs, resp, curl_err);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_POSTFIELDS, body);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    SETOPT(CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(resp->s.max > (size_t)INT64_MAX ? INT64_MAX : resp->s.max));
    SETOPT(CURLOPT_TIMEOUT_MS, (long)(o->timeout_ms > 0 ? o->timeout_ms : 0));
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 0));
    SETOPT(CURLOPT_NOPROGRESS, 0L);
    SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(CURLOPT_XFERINFODATA, (void *)(uintptr_t)o);
    return c;
}

/*
 * One HTTP attempt. Sets *rc and returns ATTEMPT_DONE when the call is over
 * (success, bad answer, rejection, cancel), or ATTEMPT_RETRY with
 * r->http_status and *retry_after_s set when a further attempt may help.
 */
static attempt_kind attempt(CURL *h, body_buf *resp, char *curl_err, llm_result *r, llm_rc *rc, long *retry_after_s)
{
    long status = 0;
    int64_t t0 = time_mono_ms();

    strbuf_free(&resp->s); /* an earlier attempt's answer, or its failure, goes */
    resp->too_big = 0;
    curl_err[0] = '\0';
    *retry_after_s = 0;
    r->attempts++;

    CURLcode c = curl_easy_perform(h);
    r->latency_ms = time_mono_ms() - t0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    r->http_status = (int)status;

    if (c == CURLE_ABORTED_BY_CALLBACK) {
        set_err(r, "cancelled");
        *rc = LLM_CANCELLED;
        return ATTEMPT_DONE;
    }
    if (resp->too_big || c == CURLE_FILESIZE_EXCEEDED) {
        set_err(r, "the answer is larger than %zu bytes", resp->s.max);
        *rc = LLM_BAD_RESPONSE;
        return ATTEMPT_DONE;
    }
    if (c != CURLE_OK) {
        set_err(r, "%s: %s", curl_easy_strerror(c), curl_err[0] ? curl_err : "no detail");
        if (curl_retryable(c)) {
            *rc = LLM_UNAVAILABLE;
            return ATTEMPT_RETRY;
        }
        /* a malformed URL, TLS trouble, out of memory...: retrying will not help */
        *rc = c == CURLE_URL_MALFORMAT || c == CURLE_UNSUPPORTED_PROTOCOL ? LLM_REJECTED : LLM_UNAVAILABLE;
        return ATTEMPT_DONE;
    }
    if (status >= 200 && status < 300) {
        *rc = parse_envelope(resp, r);
        return ATTEMPT_DONE;
    }
    http_error(r, (int)status, resp);
    if (status == 408 || status == 429 || (status >= 500 && status < 600)) {
        curl_off_t ra = 0;
        if ((status == 429 || status == 503) && curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
            *retry_after_s = ra > (curl_off_t)LONG_MAX ? LONG_MAX : (long)ra;
        *rc = LLM_UNAVAILABLE;
        return ATTEMPT_RETRY;
    }
    /* other 4xx, and 1xx/3xx (redirects are not followed) */
    *rc = LLM_REJECTED;
    return ATTEMPT_DONE;
}

/* ---- public ------------------------------------------------------------------------ */

void llm_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void llm_global_cleanup(void)
{
    curl_global_cleanup();
}

void llm_opts_defaults(llm_opts *o)
{
    assert(o);
    memset(o, 0, sizeof *o);
    o->base_url = "http://localhost:11434/v1";
    o->model = "llama3.2";
    o->api_key = NULL;
    o->timeout_ms = 120000;
    o->connect_timeout_ms = 5000;
    o->retries = 3;
    o->backoff_base_ms = 1000;
    o->backoff_max_ms = 30000;
    o->format = LLM_FORMAT_JSON_SCHEMA;
    o->temperature = 0.1;
    o->max_response = (size_t)4 << 20;
    o->cancel = NULL;
}

llm_rc llm_chat(const llm_opts *o, const char *system, const char *user, const json_t *schema, llm_result *out)
{
    llm_rc rc = LLM_REJECTED;
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL, *tmp;
    char *body = NULL, url[LLM_URL_MAX], curl_err[CURL_ERROR_SIZE];
    char auth[LLM_KEY_MAX + 32];
    body_buf resp = {STRBUF_INIT(0), 0};
    size_t base_len;
    long retry_after_s;

    assert(o && out);
    memset(out, 0, sizeof *out);
    out->prompt_tokens = out->completion_tokens = -1;
    auth[0] = '\0';
    resp.s.max = o->max_response ? o->max_response : ((size_t)4 << 20);
    if (resp.s.max > SIZE_MAX / 2)
        resp.s.max = SIZE_MAX / 2;

    if (!o->base_url || !o->base_url[0]) {
        set_err(out, "no base URL given");
        goto out;
    }
    if (!o->model || !o->model[0]) {
        set_err(out, "no model given");
        goto out;
    }
    if (!system || !user) {
        set_err(out, "no %s message given", !system ? "system" : "user");
        goto out;
    }
    if (!isfinite(o->temperature) || o->temperature < 0) {
        set_err(out, "temperature must be a finite number >= 0");
        goto out;
    }
    if (o->api == LLM_API_OLLAMA) {
        llm_root_url(o->base_url, url, sizeof url - sizeof "/api/chat");
        base_len = strlen(url);
    } else {
        base_len = strlen(o->base_url);
        while (base_len > 0 && o->base_url[base_len - 1] == '/')
            base_len--;
    }
    if (base_len + sizeof "/chat/completions" > sizeof url) {
        set_err(out, "base URL longer than %d bytes", LLM_URL_MAX - 32);
        goto out;
    }
    if (o->api == LLM_API_OLLAMA) {
        memcpy(url + base_len, "/api/chat", sizeof "/api/chat");
    } else {
        memcpy(url, o->base_url, base_len);
        memcpy(url + base_len, "/chat/completions", sizeof "/chat/completions");
    }
    out->prompt_bytes = strlen(system) + strlen(user);

    if (o->api_key && o->api_key[0]) {
        size_t klen = strlen(o->api_key);
        if (klen > LLM_KEY_MAX) {
            set_err(out, "API key longer than %d bytes", LLM_KEY_MAX);
            goto out;
        }
        for (size_t i = 0; i < klen; i++) {
            unsigned char ch = (unsigned char)o->api_key[i];
            if (ch < 0x20 || ch == 0x7f) {
                set_err(out, "API key contains a control character");
                goto out;
            }
        }
        memcpy(auth, "Authorization: Bearer ", 22);
        memcpy(auth + 22, o->api_key, klen + 1);
    }

    if ((rc = request_body(o, system, user, schema, out, &body)) != LLM_OK)
        goto out;
    rc = LLM_UNAVAILABLE;
    if (!(tmp = curl_slist_append(hdrs, "Content-Type: application/json")) || !(hdrs = tmp) ||
        !(tmp = curl_slist_append(hdrs, "Accept: application/json")) || !(hdrs = tmp) ||
        !(tmp = curl_slist_append(hdrs, "Expect:")) || !(hdrs = tmp) ||
        (auth[0] && (!(tmp = curl_slist_append(hdrs, auth)) || !(hdrs = tmp)))) {
        set_err(out, "out of memory building the request headers");
        goto out;
    }
    if (!(h = curl_easy_init())) {
        set_err(out, "cannot create a curl handle");
        goto out;
    }
    curl_err[0] = '\0';
    CURLcode c = setup_handle(h, o, url, body, hdrs, &resp, curl_err);
    if (c != CURLE_OK) {
        set_err(out, "curl setup failed: %s", curl_easy_strerror(c));
        goto out;
    }

    for (int i = 0;; i++) {
        if (cancelled(o)) {
            set_err(out, "cancelled");
            rc = LLM_CANCELLED;
            goto out;
        }
        if (attempt(h, &resp, curl_err, out, &rc, &retry_after_s) == ATTEMPT_DONE)
            goto out;
        if (i >= o->retries) {
            char last[sizeof out->error];
            memcpy(last, out->error, sizeof last);
            set_err(out, "%d attempt(s) failed, the last with %s", out->attempts, last);
            goto out;
        }
        if (sleep_cancellable(o, retry_wait_ms(o, i, out->http_status, retry_after_s))) {
            set_err(out, "cancelled");
            rc = LLM_CANCELLED;
            goto out;
        }
    }
out:
    if (rc != LLM_OK) {
        free(out->content);
        out->content = NULL;
        free(out->reasoning);
        out->reasoning = NULL;
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    explicit_bzero(auth, sizeof auth);
    free(body);
    strbuf_free(&resp.s);
    return rc;
}

void llm_result_free(llm_result *r)
{
    if (!r)
        return;
    free(r->content);
    r->content = NULL;
    free(r->reasoning);
    r->reasoning = NULL;
}

/* The end of the tag at p when it is one of tags (case-insensitive), or NULL. */
static char *tag_at(char *p, const char *const *tags)
{
    for (; *tags; tags++) {
        size_t n = strlen(*tags);
        if (strncasecmp(p, *tags, n) == 0)
            return p + n;
    }
    return NULL;
}

size_t llm_strip_reasoning(char *text, char **reasoning)
{
    static const char *const open_tags[] = {"<think>", "<thinking>", NULL};
    static const char *const close_tags[] = {"</think>", "</thinking>", NULL};
    char *start = text + strspn(text, " \t\r\n"), *body, *end = NULL, *after = NULL;
    if (reasoning)
        *reasoning = NULL;
    if ((body = tag_at(start, open_tags)) != NULL) {
        /* the first closing tag ends it: braces or tags quoted inside a block are the model's musing */
        for (char *p = body; *p && !end; p++)
            if (*p == '<' && (after = tag_at(p, close_tags)))
                end = p;
    } else {
        /* a template that opened the block in the prompt leaves only the closing tag; an answer that
         * starts as JSON has no reasoning before it (a tag inside it is quoted text) */
        if (*start == '{' || *start == '[' || *start == '`')
            return 0;
        body = text;
        for (char *p = text; *p && !end; p++)
            if (*p == '<' && (after = tag_at(p, close_tags)))
                end = p;
        if (!end)
            return 0;
    }
    if (!end) /* unclosed: the answer ran out while thinking */
        end = after = body + strlen(body);
    size_t len = (size_t)(end - body);
    if (reasoning)
        *reasoning = strndup(body, len);
    memmove(text, after, strlen(after) + 1);
    return len ? len : 1;
}

void llm_root_url(const char *base_url, char *out, size_t outlen)
{
    size_t n = base_url ? strlen(base_url) : 0;
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    if (n >= 3 && strncmp(base_url + n - 3, "/v1", 3) == 0)
        n -= 3;
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    if (outlen == 0)
        return;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, base_url, n);
    out[n] = '\0';
}

int llm_fetch(const llm_opts *o, const char *path, const char *body, int *status, json_t **json, int64_t *ms,
              char *err, size_t errlen)
{
    int rc = -1;
    char url[LLM_URL_MAX], auth[LLM_KEY_MAX + 32] = "", curl_err[CURL_ERROR_SIZE] = "";
    body_buf resp = {STRBUF_INIT((size_t)1 << 20), 0};
    struct curl_slist *hdrs = NULL, *tmp;
    CURL *h = NULL;
    CURLcode c = CURLE_OK;
    long st = 0;
    int64_t t0 = time_mono_ms();

    *status = 0;
    *json = NULL;
    if (ms)
        *ms = 0;
    if (!o->base_url || !o->base_url[0]) {
        snprintf(err, errlen, "no base URL given");
        return -1;
    }
    if (path[0] == '/') {
        llm_root_url(o->base_url, url, sizeof url);
    } else {
        size_t n = strlen(o->base_url);
        while (n > 0 && o->base_url[n - 1] == '/')
            n--;
        snprintf(url, sizeof url, "%.*s/", (int)(n < sizeof url / 2 ? n : sizeof url / 2), o->base_url);
    }
    if (strlen(url) + strlen(path) + 1 > sizeof url) {
        snprintf(err, errlen, "URL too long");
        return -1;
    }
    strcat(url, path);
    if (o->api_key && o->api_key[0] && strlen(o->api_key) <= LLM_KEY_MAX && !strpbrk(o->api_key, "\r\n"))
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->api_key);
    if (!(tmp = curl_slist_append(hdrs, "Accept: application/json")) || !(hdrs = tmp) ||
        (body && (!(tmp = curl_slist_append(hdrs, "Content-Type: application/json")) || !(hdrs = tmp))) ||
        (auth[0] && (!(tmp = curl_slist_append(hdrs, auth)) || !(hdrs = tmp))) || !(h = curl_easy_init())) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    int64_t tmo = o->timeout_ms > 0 && o->timeout_ms < 10000 ? o->timeout_ms : 10000;
    c = setup_common(h, url, hdrs, &resp, curl_err);
    if (body) {
        SETOPT(CURLOPT_POSTFIELDS, body);
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    SETOPT(CURLOPT_TIMEOUT_MS, (long)tmo);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000));
#undef SETOPT
    if (c == CURLE_OK)
        c = curl_easy_perform(h);
    if (ms)
        *ms = time_mono_ms() - t0;
    if (c != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", curl_easy_strerror(c), curl_err[0] ? curl_err : "no detail");
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    *status = (int)st;
    if (resp.s.len)
        *json = json_loadb(resp.s.p, resp.s.len, 0, NULL);
    rc = 0;
out:
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    explicit_bzero(auth, sizeof auth);
    strbuf_free(&resp.s);
    return rc;
}
