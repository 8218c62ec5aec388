/*
 * test_llm.c — the chat-completions client against a scripted in-process
 * HTTP server (libmicrohttpd on 127.0.0.1, a free port): the request it
 * sends (URL, headers, body for each response format), usage counts,
 * retries on 5xx, 429 with Retry-After, timeouts and refused connections,
 * no retry on 401, bad and oversize answers, cancellation during a backoff
 * and during a transfer, and concurrent calls. Backoffs are a few
 * milliseconds so the whole file runs in a few seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "anomalog/llm.h"
#include "anomalog/llm_fit.h"
#include "anomalog/timeutil.h"
#include "anomalog/verdict.h"

#define MAX_STEPS 8

/* An upper time limit in ms, scaled by $ANOMALOG_TEST_SLOWDOWN (CMake sets it for sanitizer builds):
 * what must happen soon may take longer there, what must wait (the lower limits) waits as long. */
static int64_t slow_ms(int64_t ms)
{
    const char *e = getenv("ANOMALOG_TEST_SLOWDOWN");
    double f = e && *e ? atof(e) : 1.0;
    return f > 1.0 ? (int64_t)((double)ms * f) : ms;
}
#define VERDICT_TEXT "{\"health\":\"normal\",\"anomalies\":[]}"
#define OK_BODY                                                                                                        \
    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","    \
    "\"content\":\"{\\\"health\\\":\\\"normal\\\",\\\"anomalies\\\":[]}\"},\"finish_reason\":\"stop\"}],"             \
    "\"usage\":{\"prompt_tokens\":123,\"completion_tokens\":45,\"total_tokens\":168}}"

/* What the server answers to its n-th request (the last step repeats). */
typedef struct step {
    int status;
    const char *body;        /* NULL: empty */
    const char *retry_after; /* Retry-After header, or NULL */
    int delay_ms;            /* before answering */
    size_t chunked;          /* when non-zero: answer this many bytes of body, repeated, without Content-Length */
} step;

typedef struct server {
    struct MHD_Daemon *d;
    unsigned port;
    pthread_mutex_t mu;
    step steps[MAX_STEPS];
    int n_steps;
    int calls;
    /* the last request */
    char *body;
    char auth[256];
    int has_auth;
    char url[256];
    char method[16];
    char ctype[64];
} server;

typedef struct req {
    char *p;
    size_t len;
} req;

typedef struct chunk_src {
    const char *body;
    size_t body_len, total, sent;
} chunk_src;

static ssize_t chunk_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    chunk_src *c = cls;
    (void)pos;
    if (c->sent >= c->total)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = c->total - c->sent;
    if (n > max)
        n = max;
    if (n > 333)
        n = 333; /* several small chunks */
    for (size_t i = 0; i < n; i++)
        buf[i] = c->body[(c->sent + i) % c->body_len];
    c->sent += n;
    return (ssize_t)n;
}

static void chunk_free(void *cls)
{
    free(cls);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    server *s = cls;
    req *r = *con_cls;
    (void)version;
    if (!r) {
        r = calloc(1, sizeof *r);
        *con_cls = r;
        return r ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        char *np = realloc(r->p, r->len + *upload_data_size + 1);
        if (!np)
            return MHD_NO;
        r->p = np;
        memcpy(r->p + r->len, upload_data, *upload_data_size);
        r->len += *upload_data_size;
        r->p[r->len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }

    pthread_mutex_lock(&s->mu);
    step st = s->steps[s->calls < s->n_steps ? s->calls : s->n_steps - 1];
    s->calls++;
    free(s->body);
    s->body = strdup(r->p ? r->p : "");
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    s->has_auth = auth != NULL;
    snprintf(s->auth, sizeof s->auth, "%s", auth ? auth : "");
    snprintf(s->ctype, sizeof s->ctype, "%s", ctype ? ctype : "");
    snprintf(s->url, sizeof s->url, "%s", url);
    snprintf(s->method, sizeof s->method, "%s", method);
    pthread_mutex_unlock(&s->mu);

    if (st.delay_ms)
        usleep((useconds_t)st.delay_ms * 1000);

    struct MHD_Response *resp;
    const char *body = st.body ? st.body : "";
    if (st.chunked) {
        chunk_src *c = calloc(1, sizeof *c);
        if (!c)
            return MHD_NO;
        c->body = body;
        c->body_len = strlen(body) ? strlen(body) : 1;
        if (!strlen(body))
            c->body = " ";
        c->total = st.chunked;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, chunk_read, c, chunk_free);
    } else {
        resp = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (st.retry_after)
        MHD_add_response_header(resp, "Retry-After", st.retry_after);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)st.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req *r = *con_cls;
    if (r) {
        free(r->p);
        free(r);
        *con_cls = NULL;
    }
}

static server *server_start(const step *steps, int n)
{
    server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_true(n > 0 && n <= MAX_STEPS);
    memcpy(s->steps, steps, (size_t)n * sizeof *steps);
    s->n_steps = n;
    pthread_mutex_init(&s->mu, NULL);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, handler,
                            s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed,
                            s, MHD_OPTION_END);
    assert_non_null(s->d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    s->port = info->port;
    assert_true(s->port > 0);
    return s;
}

static void server_stop(server *s)
{
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s->body);
    free(s);
}

static int server_calls(server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->calls;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Options for a test: small timeouts and backoffs. url must hold 64 bytes. */
static llm_opts opts_for(unsigned port, char *url)
{
    llm_opts o;
    llm_opts_defaults(&o);
    snprintf(url, 64, "http://127.0.0.1:%u/v1/", port);
    o.base_url = url;
    o.model = "test-model";
    o.timeout_ms = 3000;
    o.connect_timeout_ms = 1000;
    o.retries = 2;
    o.backoff_base_ms = 5;
    o.backoff_max_ms = 20;
    return o;
}

static int group_setup(void **state)
{
    (void)state;
    llm_global_init();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    llm_global_cleanup();
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    llm_opts o;
    memset(&o, 0xff, sizeof o);
    llm_opts_defaults(&o);
    assert_true(o.temperature > 0.099 && o.temperature < 0.101);
    assert_int_equal(o.timeout_ms, 120000);
    assert_int_equal(o.connect_timeout_ms, 5000);
    assert_int_equal(o.retries, 3);
    assert_int_equal(o.backoff_base_ms, 1000);
    assert_int_equal(o.backoff_max_ms, 30000);
    assert_int_equal(o.max_response, 4 << 20);
    assert_int_equal(o.format, LLM_FORMAT_JSON_SCHEMA);
    assert_null(o.cancel);
    assert_null(o.api_key);
    assert_non_null(o.base_url);
    assert_non_null(o.model);
}

/* The request body the server saw, parsed. */
static json_t *seen_body(server *s)
{
    json_error_t je;
    json_t *b = json_loads(s->body, 0, &je);
    if (!b)
        fail_msg("request body is not JSON: %s: %s", je.text, s->body);
    return b;
}

static void test_success_and_request(void **state)
{
    (void)state;
    static const step steps[] = {{200, OK_BODY, NULL, 0, 0}};
    static const llm_format formats[] = {LLM_FORMAT_JSON_SCHEMA, LLM_FORMAT_JSON_OBJECT, LLM_FORMAT_NONE};
    const char *user = "Service: api\n[0] 2026-11-24T10:00:00.000Z ERROR \"quoted\" \\ caf\xc3\xa9";
    json_t *schema = verdict_schema();
    server *s = server_start(steps, 1);
    char url[64];

    for (size_t f = 0; f < 3; f++) {
        llm_opts o = opts_for(s->port, url);
        o.format = formats[f];
        o.api_key = f == 1 ? NULL : f == 2 ? "" : "sk-test-123";
        llm_result r;
        llm_rc rc = llm_chat(&o, "SYS", user, schema, &r);
        if (rc != LLM_OK)
            fail_msg("format %zu: rc %d: %s", f, rc, r.error);
        assert_string_equal(r.content, VERDICT_TEXT);
        assert_int_equal(r.prompt_tokens, 123);
        assert_int_equal(r.completion_tokens, 45);
        assert_int_equal(r.attempts, 1);
        assert_int_equal(r.http_status, 200);
        assert_true(r.latency_ms >= 0 && r.latency_ms < 3000);
        llm_result_free(&r);
        assert_null(r.content);

        /* what the server received */
        assert_string_equal(s->url, "/v1/chat/completions");
        assert_string_equal(s->method, "POST");
        assert_string_equal(s->ctype, "application/json");
        if (f == 0) {
            assert_true(s->has_auth);
            assert_string_equal(s->auth, "Bearer sk-test-123");
        } else {
            assert_false(s->has_auth);
        }
        json_t *b = seen_body(s);
        assert_string_equal(json_string_value(json_object_get(b, "model")), "test-model");
        json_t *t = json_object_get(b, "temperature");
        assert_true(json_is_number(t));
        assert_true(json_number_value(t) > 0.0999999 && json_number_value(t) < 0.1000001);
        assert_true(json_is_false(json_object_get(b, "stream")));
        json_t *m = json_object_get(b, "messages");
        assert_int_equal(json_array_size(m), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "role")), "system");
        assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")), "SYS");
        assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "role")), "user");
        assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "content")), user);
        json_t *rf = json_object_get(b, "response_format");
        switch (formats[f]) {
        case LLM_FORMAT_JSON_SCHEMA: {
            assert_string_equal(json_string_value(json_object_get(rf, "type")), "json_schema");
            json_t *js = json_object_get(rf, "json_schema");
            assert_string_equal(json_string_value(json_object_get(js, "name")), "window_verdict");
            assert_true(json_is_true(json_object_get(js, "strict")));
            assert_true(json_equal(json_object_get(js, "schema"), schema));
            break;
        }
        case LLM_FORMAT_JSON_OBJECT: {
            json_t *want = json_pack("{s:s}", "type", "json_object");
            assert_true(json_equal(rf, want));
            json_decref(want);
            break;
        }
        case LLM_FORMAT_NONE:
            assert_null(rf);
            break;
        }
        json_decref(b);
    }

    /* json_schema without a schema falls back to json_object */
    llm_opts o = opts_for(s->port, url);
    llm_result r;
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_OK);
    llm_result_free(&r);
    json_t *b = seen_body(s);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "response_format"), "type")),
                        "json_object");
    json_decref(b);

    /* the base URL without a trailing slash gives the same path */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1", s->port);
    o.base_url = url;
    assert_int_equal(llm_chat(&o, "SYS", "USER", schema, &r), LLM_OK);
    llm_result_free(&r);
    assert_string_equal(s->url, "/v1/chat/completions");

    server_stop(s);
    json_decref(schema);
}

static void test_envelopes(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        llm_rc want;
        long pt, ct;
        const char *content, *err;
    } rows[] = {
        /* no usage */
        {"{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}", LLM_OK, -1, -1, "hi", NULL},
        /* partial usage */
        {"{\"choices\":[{\"message\":{\"content\":\"\"}}],\"usage\":{\"prompt_tokens\":7}}", LLM_OK, 7, -1, "", NULL},
        {"this is not json", LLM_BAD_RESPONSE, -1, -1, NULL, "not a JSON object"},
        {"", LLM_BAD_RESPONSE, -1, -1, NULL, "not a JSON object"},
        {"[1,2]", LLM_BAD_RESPONSE, -1, -1, NULL, "not a JSON object"},
        {"{\"choices\":[]}", LLM_BAD_RESPONSE, -1, -1, NULL, "no choices[0].message"},
        {"{\"object\":\"chat.completion\"}", LLM_BAD_RESPONSE, -1, -1, NULL, "no choices[0].message"},
        {"{\"choices\":[{\"message\":{\"role\":\"assistant\"}}]}", LLM_BAD_RESPONSE, -1, -1, NULL,
         "choices[0].message.content is missing"},
        {"{\"choices\":[{\"message\":{\"content\":42}}]}", LLM_BAD_RESPONSE, -1, -1, NULL, "not a string"},
        {"{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{\"id\":\"t\",\"type\":\"function\"}]}}]}",
         LLM_BAD_RESPONSE, -1, -1, NULL, "tool_calls"},
        {"{\"choices\":[{\"message\":{\"reasoning_content\":\"thinking...\"}}],\"usage\":{\"prompt_tokens\":9,"
         "\"completion_tokens\":4096}}",
         LLM_BAD_RESPONSE, 9, 4096, NULL, "reasoning"},
        {"{\"choices\":[{\"message\":{\"content\":null,\"reasoning\":\"hmm\"}}]}", LLM_BAD_RESPONSE, -1, -1, NULL,
         "content is null"},
        {"{\"error\":{\"message\":\"model is loading\"}}", LLM_BAD_RESPONSE, -1, -1, NULL, "model is loading"},
    };
    char url[64];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        step st = {200, rows[i].body, NULL, 0, 0};
        server *s = server_start(&st, 1);
        llm_opts o = opts_for(s->port, url);
        llm_result r;
        llm_rc rc = llm_chat(&o, "SYS", "USER", NULL, &r);
        if (rc != rows[i].want)
            fail_msg("row %zu: rc %d, want %d (%s)", i, rc, rows[i].want, r.error);
        assert_int_equal(r.attempts, 1); /* a bad answer is not retried here */
        assert_int_equal(r.prompt_tokens, rows[i].pt);
        assert_int_equal(r.completion_tokens, rows[i].ct);
        if (rows[i].content)
            assert_string_equal(r.content, rows[i].content);
        else
            assert_null(r.content);
        if (rows[i].err && !strstr(r.error, rows[i].err))
            fail_msg("row %zu: error \"%s\" lacks \"%s\"", i, r.error, rows[i].err);
        llm_result_free(&r);
        server_stop(s);
    }
}

static void test_retry_500_then_ok(void **state)
{
    (void)state;
    static const step steps[] = {{500, "{\"error\":{\"message\":\"boom\"}}", NULL, 0, 0}, {200, OK_BODY, NULL, 0, 0}};
    server *s = server_start(steps, 2);
    char url[64];
    llm_opts o = opts_for(s->port, url);
    llm_result r;
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_OK);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(r.http_status, 200);
    assert_string_equal(r.content, VERDICT_TEXT);
    assert_int_equal(r.prompt_tokens, 123);
    llm_result_free(&r);
    assert_int_equal(server_calls(s), 2);
    server_stop(s);
}

static void test_429_retry_after(void **state)
{
    (void)state;
    static const step steps[] = {{429, "{\"error\":{\"message\":\"slow down\"}}", "1", 0, 0},
                                 {200, OK_BODY, NULL, 0, 0}};
    server *s = server_start(steps, 2);
    char url[64];
    llm_opts o = opts_for(s->port, url);
    o.backoff_max_ms = 3000; /* the cap lets the 1 s through; jitter alone would be a few ms */
    llm_result r;
    int64_t t0 = time_mono_ms();
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_OK);
    int64_t took = time_mono_ms() - t0;
    assert_int_equal(r.attempts, 2);
    if (took < 950 || took > slow_ms(2500))
        fail_msg("waited %lld ms after Retry-After: 1", (long long)took);
    llm_result_free(&r);
    server_stop(s);

    /* a Retry-After beyond backoff_max_ms is capped */
    static const step long_wait[] = {{503, "", "30", 0, 0}, {200, OK_BODY, NULL, 0, 0}};
    s = server_start(long_wait, 2);
    o = opts_for(s->port, url);
    o.backoff_max_ms = 50;
    t0 = time_mono_ms();
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_OK);
    took = time_mono_ms() - t0;
    assert_int_equal(r.attempts, 2);
    if (took > slow_ms(1000))
        fail_msg("Retry-After: 30 not capped at 50 ms: waited %lld ms", (long long)took);
    llm_result_free(&r);
    server_stop(s);
}

static void test_permanent_503(void **state)
{
    (void)state;
    static const step steps[] = {{503, "<html>Service Unavailable</html>", NULL, 0, 0}};
    server *s = server_start(steps, 1);
    char url[64];
    llm_opts o = opts_for(s->port, url);
    llm_result r;
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_UNAVAILABLE);
    assert_int_equal(r.attempts, 3);
    assert_int_equal(server_calls(s), 3);
    assert_int_equal(r.http_status, 503);
    assert_null(r.content);
    assert_non_null(strstr(r.error, "503"));
    assert_non_null(strstr(r.error, "Service Unavailable"));
    llm_result_free(&r);
    server_stop(s);

    /* 408 and 502 are retried the same way; retries = 0 means one attempt */
    static const step more[] = {{408, "", NULL, 0, 0}, {502, "", NULL, 0, 0}, {200, OK_BODY, NULL, 0, 0}};
    s = server_start(more, 3);
    o = opts_for(s->port, url);
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_OK);
    assert_int_equal(r.attempts, 3);
    llm_result_free(&r);
    server_stop(s);
    s = server_start(steps, 1);
    o = opts_for(s->port, url);
    o.retries = 0;
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_UNAVAILABLE);
    assert_int_equal(r.attempts, 1);
    llm_result_free(&r);
    server_stop(s);
}

static void test_rejected(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *body, *err;
    } rows[] = {
        {401, "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":\"invalid_request_error\"}}",
         "Incorrect API key provided"},
        {404, "{\"error\":\"model \\\"llama9\\\" not found, try pulling it first\"}", "not found"},
        {400, "plain text\nerror\tbody \xff", "plain text error body ?"},
        {422, "{\"detail\":\"bad temperature\"}", "bad temperature"},
        {301, "", "HTTP 301"},
    };
    char url[64];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        step st = {rows[i].status, rows[i].body, NULL, 0, 0};
        server *s = server_start(&st, 1);
        llm_opts o = opts_for(s->port, url);
        o.api_key = "sk-secret-key-do-not-log";
        llm_result r;
        assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_REJECTED);
        assert_int_equal(r.attempts, 1);
        assert_int_equal(server_calls(s), 1);
        assert_int_equal(r.http_status, rows[i].status);
        char status[16];
        snprintf(status, sizeof status, "%d", rows[i].status);
        assert_non_null(strstr(r.error, status));
        if (!strstr(r.error, rows[i].err))
            fail_msg("row %zu: error \"%s\" lacks \"%s\"", i, r.error, rows[i].err);
        assert_null(strstr(r.error, "sk-secret"));
        llm_result_free(&r);
        server_stop(s);
    }

    /* a long error body is quoted up to ~200 bytes */
    char big[2000];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    step st = {403, big, NULL, 0, 0};
    server *s = server_start(&st, 1);
    llm_opts o = opts_for(s->port, url);
    llm_result r;
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_REJECTED);
    const char *q = strstr(r.error, "eeee");
    assert_non_null(q);
    assert_int_equal(strspn(q, "e"), 200);
    llm_result_free(&r);
    server_stop(s);
}

static void test_timeout(void **state)
{
    (void)state;
    static const step steps[] = {{200, OK_BODY, NULL, 500, 0}};
    server *s = server_start(steps, 1);
    char url[64];
    llm_opts o = opts_for(s->port, url);
    o.timeout_ms = 150;
    o.retries = 1;
    llm_result r;
    int64_t t0 = time_mono_ms();
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_UNAVAILABLE);
    int64_t took = time_mono_ms() - t0;
    assert_int_equal(r.attempts, 2);
    assert_int_equal(r.http_status, 0);
    assert_non_null(strstr(r.error, "imeout")); /* "Timeout was reached" */
    assert_true(took < slow_ms(1500));
    llm_result_free(&r);
    server_stop(s);
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* a port nobody listens on: bind one, note it, close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    unsigned port = ntohs(sa.sin_port);
    close(fd);

    char url[64];
    llm_opts o = opts_for(port, url);
    llm_result r;
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_UNAVAILABLE);
    assert_int_equal(r.attempts, 3);
    assert_int_equal(r.http_status, 0);
    assert_null(r.content);
    assert_non_null(strstr(r.error, "3 attempt"));
    llm_result_free(&r);
}

/* An envelope padded with spaces to exactly len bytes. */
static char *padded_envelope(size_t len)
{
    char *b = malloc(len + 1);
    assert_non_null(b);
    size_t n = strlen(OK_BODY);
    assert_true(len >= n);
    memcpy(b, OK_BODY, n);
    memset(b + n, ' ', len - n);
    b[len] = '\0';
    return b;
}

static void test_oversize(void **state)
{
    (void)state;
    char url[64];
    /* with Content-Length and chunked, exactly max_response passes and one byte more does not */
    for (int chunked = 0; chunked < 2; chunked++) {
        for (size_t extra = 0; extra < 2; extra++) {
            char *body = padded_envelope(1000 + extra);
            step st = {200, body, NULL, 0, chunked ? 1000 + extra : 0};
            server *s = server_start(&st, 1);
            llm_opts o = opts_for(s->port, url);
            o.max_response = 1000;
            llm_result r;
            llm_rc rc = llm_chat(&o, "SYS", "USER", NULL, &r);
            if (rc != (extra ? LLM_BAD_RESPONSE : LLM_OK))
                fail_msg("chunked %d extra %zu: rc %d (%s)", chunked, extra, rc, r.error);
            if (extra) {
                assert_non_null(strstr(r.error, "larger than 1000 bytes"));
                assert_null(r.content);
                assert_int_equal(r.attempts, 1);
            }
            llm_result_free(&r);
            server_stop(s);
            free(body);
        }
    }

    /* a much larger chunked body aborts early */
    step st = {200, "x", NULL, 0, 5 << 20};
    server *s = server_start(&st, 1);
    llm_opts o = opts_for(s->port, url);
    o.max_response = 4096;
    llm_result r;
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_BAD_RESPONSE);
    llm_result_free(&r);
    server_stop(s);
}

typedef struct canceller {
    atomic_int *flag;
    int after_ms;
} canceller;

static void *cancel_later(void *arg)
{
    canceller *c = arg;
    usleep((useconds_t)c->after_ms * 1000);
    atomic_store(c->flag, 1);
    return NULL;
}

static void test_cancel(void **state)
{
    (void)state;
    char url[64];
    atomic_int flag;
    llm_result r;

    /* during a backoff: Retry-After 5 s, cancelled after 150 ms */
    static const step steps[] = {{429, "", "5", 0, 0}};
    server *s = server_start(steps, 1);
    llm_opts o = opts_for(s->port, url);
    o.backoff_max_ms = 5000;
    o.cancel = &flag;
    atomic_init(&flag, 0);
    canceller c = {&flag, 150};
    pthread_t t;
    int64_t t0 = time_mono_ms();
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_CANCELLED);
    int64_t took = time_mono_ms() - t0;
    pthread_join(t, NULL);
    assert_int_equal(r.attempts, 1);
    assert_null(r.content);
    if (took > slow_ms(1000))
        fail_msg("cancel during backoff took %lld ms", (long long)took);
    llm_result_free(&r);
    server_stop(s);

    /* already cancelled: no attempt at all */
    s = server_start(steps, 1);
    o = opts_for(s->port, url);
    o.cancel = &flag;
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_CANCELLED);
    assert_int_equal(r.attempts, 0);
    assert_int_equal(server_calls(s), 0);
    llm_result_free(&r);
    server_stop(s);

    /* during a transfer: the server takes 1.5 s, cancelled after 100 ms */
    static const step slow[] = {{200, OK_BODY, NULL, 1500, 0}};
    s = server_start(slow, 1);
    o = opts_for(s->port, url);
    o.cancel = &flag;
    atomic_store(&flag, 0);
    c.after_ms = 100;
    t0 = time_mono_ms();
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_CANCELLED);
    took = time_mono_ms() - t0;
    pthread_join(t, NULL);
    if (took > slow_ms(1400))
        fail_msg("cancel during a transfer took %lld ms", (long long)took);
    llm_result_free(&r);
    server_stop(s);
}

static void test_bad_input(void **state)
{
    (void)state;
    static const step steps[] = {{200, OK_BODY, NULL, 0, 0}};
    server *s = server_start(steps, 1);
    char url[64];
    llm_opts o = opts_for(s->port, url);
    llm_result r;

    assert_int_equal(llm_chat(&o, "SYS", "bad \xff utf-8", NULL, &r), LLM_REJECTED);
    assert_non_null(strstr(r.error, "user message is not valid UTF-8"));
    assert_int_equal(r.attempts, 0);
    llm_result_free(&r);

    o.api_key = "sk-abc\r\nX-Injected: 1";
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_REJECTED);
    assert_null(strstr(r.error, "sk-abc"));
    llm_result_free(&r);

    o = opts_for(s->port, url);
    o.base_url = "";
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_REJECTED);
    llm_result_free(&r);

    o = opts_for(s->port, url);
    o.temperature = -1;
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_REJECTED);
    assert_int_equal(r.attempts, 0);
    llm_result_free(&r);

    o = opts_for(s->port, url);
    o.base_url = "ftp://127.0.0.1/v1";
    assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_REJECTED);
    assert_int_equal(r.attempts, 1);
    llm_result_free(&r);

    assert_int_equal(server_calls(s), 0);
    server_stop(s);
    llm_result_free(NULL);
}

typedef struct worker {
    unsigned port;
    llm_rc rc;
    int ok_content;
} worker;

static void *chat_worker(void *arg)
{
    worker *w = arg;
    char url[64];
    llm_opts o = opts_for(w->port, url);
    llm_result r;
    w->rc = llm_chat(&o, "SYS", "USER", NULL, &r);
    w->ok_content = r.content && strcmp(r.content, VERDICT_TEXT) == 0;
    llm_result_free(&r);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    static const step steps[] = {{200, OK_BODY, NULL, 20, 0}};
    server *s = server_start(steps, 1);
    enum { N = 6 };
    pthread_t t[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){s->port, LLM_REJECTED, 0};
        assert_int_equal(pthread_create(&t[i], NULL, chat_worker, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, LLM_OK);
        assert_true(w[i].ok_content);
    }
    assert_int_equal(server_calls(s), N);
    server_stop(s);
}

static void test_strip_reasoning(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out, *reasoning;
    } rows[] = {
        {"{\"health\":\"normal\"}", "{\"health\":\"normal\"}", NULL},
        /* a block with braces and a fake answer inside: the first closing tag ends it */
        {"<think>\nthe schema is {\"health\": ...} {x}\n</think>\n\n{\"a\":1}", "\n\n{\"a\":1}",
         "\nthe schema is {\"health\": ...} {x}\n"},
        {"  <THINKING>hm</THINKING>{\"a\":1}", "{\"a\":1}", "hm"},
        /* the template opened the block: only the closing tag is in the answer */
        {"counting errors {3}...</think>{\"a\":1}", "{\"a\":1}", "counting errors {3}..."},
        /* unclosed: the answer ran out while thinking, nothing is left */
        {"<think>still going {", "", "still going {"},
        /* a closing tag quoted inside a JSON answer is text, not reasoning */
        {"{\"evidence\":[\"</think> in a log line\"]}", "{\"evidence\":[\"</think> in a log line\"]}", NULL},
        {"<think></think>{}", "{}", ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *t = strdup(rows[i].in), *r = NULL;
        size_t n = llm_strip_reasoning(t, &r);
        if (strcmp(t, rows[i].out) != 0)
            fail_msg("row %zu: \"%s\", want \"%s\"", i, t, rows[i].out);
        if (rows[i].reasoning) {
            assert_non_null(r);
            assert_string_equal(r, rows[i].reasoning);
            assert_true(n > 0);
        } else {
            assert_null(r);
            assert_int_equal(n, 0);
        }
        free(t);
        free(r);
    }
}

#define NATIVE_BODY                                                                                                    \
    "{\"model\":\"qwen3\",\"created_at\":\"2026-12-06T12:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":"   \
    "\"{\\\"health\\\":\\\"normal\\\",\\\"anomalies\\\":[]}\",\"thinking\":\"let me see {x}\"},\"done\":true,"        \
    "\"done_reason\":\"stop\",\"prompt_eval_count\":5028,\"eval_count\":17}"

static void test_ollama_native(void **state)
{
    (void)state;
    static const step steps[] = {{200, NATIVE_BODY, NULL, 0, 0}};
    json_t *schema = verdict_schema();
    server *s = server_start(steps, 1);
    char url[64];
    llm_opts o = opts_for(s->port, url);
    o.api = LLM_API_OLLAMA;
    o.num_ctx = 8192;
    o.max_tokens = 1024;
    o.think_off = 1;
    llm_result r;
    assert_int_equal(llm_chat(&o, "SYS", "USER", schema, &r), LLM_OK);
    assert_string_equal(r.content, VERDICT_TEXT);
    assert_string_equal(r.reasoning, "let me see {x}");
    assert_string_equal(r.finish_reason, "stop");
    assert_int_equal(r.prompt_tokens, 5028);
    assert_int_equal(r.completion_tokens, 17);
    assert_int_equal(r.prompt_bytes, 7);
    llm_result_free(&r);
    assert_null(r.reasoning);
    /* the root, not /v1: the native API */
    assert_string_equal(s->url, "/api/chat");
    json_t *b = seen_body(s);
    json_t *opt = json_object_get(b, "options");
    assert_int_equal(json_integer_value(json_object_get(opt, "num_ctx")), 8192);
    assert_int_equal(json_integer_value(json_object_get(opt, "num_predict")), 1024);
    assert_true(json_number_value(json_object_get(opt, "temperature")) > 0.0999);
    assert_true(json_is_false(json_object_get(b, "think")));
    assert_true(json_is_false(json_object_get(b, "stream")));
    assert_true(json_equal(json_object_get(b, "format"), schema));
    assert_null(json_object_get(b, "response_format"));
    assert_null(json_object_get(b, "max_tokens"));
    json_decref(b);
    /* json_object: format "json"; no switch, no num_ctx: nothing sent for them */
    o.format = LLM_FORMAT_JSON_OBJECT;
    o.think_off = 0;
    o.num_ctx = 0;
    assert_int_equal(llm_chat(&o, "SYS", "USER", schema, &r), LLM_OK);
    llm_result_free(&r);
    b = seen_body(s);
    assert_string_equal(json_string_value(json_object_get(b, "format")), "json");
    assert_null(json_object_get(b, "think"));
    assert_null(json_object_get(json_object_get(b, "options"), "num_ctx"));
    json_decref(b);
    server_stop(s);
    json_decref(schema);
}

static void test_reasoning_answers(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        llm_rc want;
        const char *content, *reasoning, *finish;
    } rows[] = {
        /* vLLM / llama.cpp: a separate field */
        {"{\"choices\":[{\"message\":{\"content\":\"{}\",\"reasoning_content\":\"R {1}\"},\"finish_reason\":\"stop\"}]}",
         LLM_OK, "{}", "R {1}", "stop"},
        /* Ollama's OpenAI endpoint: "reasoning" */
        {"{\"choices\":[{\"message\":{\"content\":\"{}\",\"reasoning\":\"R2\"}}]}", LLM_OK, "{}", "R2", ""},
        /* inline <think> with braces */
        {"{\"choices\":[{\"message\":{\"content\":\"<think>{\\\"health\\\":\\\"critical\\\"}?</think>{}\"},"
         "\"finish_reason\":\"stop\"}]}",
         LLM_OK, "{}", "{\"health\":\"critical\"}?", "stop"},
        /* out of tokens while thinking: no answer, and the error says why */
        {"{\"choices\":[{\"message\":{\"content\":\"<think>on and on\"},\"finish_reason\":\"length\"}]}",
         LLM_BAD_RESPONSE, NULL, NULL, "length"},
    };
    char url[64];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        step st = {200, rows[i].body, NULL, 0, 0};
        server *s = server_start(&st, 1);
        llm_opts o = opts_for(s->port, url);
        o.max_tokens = 700;
        o.think_off = o.template_kwargs = 1;
        llm_result r;
        llm_rc rc = llm_chat(&o, "SYS", "USER", NULL, &r);
        if (rc != rows[i].want)
            fail_msg("row %zu: rc %d (%s)", i, rc, r.error);
        if (rows[i].content) {
            assert_string_equal(r.content, rows[i].content);
            assert_string_equal(r.reasoning, rows[i].reasoning);
        } else {
            assert_null(r.content);
            assert_null(r.reasoning);
            assert_non_null(strstr(r.error, "ran out of tokens while thinking"));
        }
        assert_string_equal(r.finish_reason, rows[i].finish);
        llm_result_free(&r);
        json_t *b = seen_body(s);
        assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")), 700);
        assert_true(json_is_false(json_object_get(json_object_get(b, "chat_template_kwargs"), "enable_thinking")));
        json_decref(b);
        server_stop(s);
    }
}

static void test_context_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        long limit, prompt;
    } rows[] = {
        {"{\"error\":{\"code\":400,\"message\":\"the request exceeds the available context size, try increasing "
         "it\",\"type\":\"exceed_context_size_error\",\"n_prompt_tokens\":5132,\"n_ctx\":4096}}",
         4096, 5132},
        {"{\"object\":\"error\",\"message\":\"This model's maximum context length is 4096 tokens. However, you "
         "requested 6156 tokens (5132 in the messages, 1024 in the completion). Please reduce the length of the "
         "messages or completion.\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}",
         4096, 5132},
        {"{\"object\":\"error\",\"message\":\"This model's maximum context length is 2048 tokens. However, your "
         "request has 3000 input tokens. Please reduce the length of the input messages.\",\"code\":400}",
         2048, 3000},
        {"{\"error\":{\"message\":\"bad thing\"}}", 0, 0},
    };
    char url[64];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        step st = {400, rows[i].body, NULL, 0, 0};
        server *s = server_start(&st, 1);
        llm_opts o = opts_for(s->port, url);
        llm_result r;
        assert_int_equal(llm_chat(&o, "SYS", "USER", NULL, &r), LLM_REJECTED);
        assert_int_equal(r.attempts, 1);
        assert_int_equal(r.context_refused, rows[i].limit > 0);
        assert_int_equal(r.context_limit, rows[i].limit);
        assert_int_equal(r.context_prompt, rows[i].prompt);
        llm_result_free(&r);
        server_stop(s);
    }
}

static void test_root_url(void **state)
{
    (void)state;
    static const char *const rows[][2] = {
        {"http://h:11434/v1", "http://h:11434"}, {"http://h:11434/v1/", "http://h:11434"},
        {"http://h/x/v1", "http://h/x"},         {"http://h:8000", "http://h:8000"},
        {"http://h:8000/", "http://h:8000"},     {"", ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[64];
        llm_root_url(rows[i][0], out, sizeof out);
        assert_string_equal(out, rows[i][1]);
    }
    char tiny[5];
    llm_root_url("http://h:11434/v1", tiny, sizeof tiny);
    assert_string_equal(tiny, "http");
}

/* A fit whose server cannot be reached (a closed port): only llm.context_tokens and what it learns count. */
static void test_fit_plan_and_observe(void **state)
{
    (void)state;
    llm_opts o;
    llm_opts_defaults(&o);
    o.base_url = "http://127.0.0.1:1/v1";
    o.connect_timeout_ms = 500;
    llm_fit_opts fo = {.context_tokens = 4096, .answer_tokens = 1024, .digest_budget = 3000};
    llm_fit *f = llm_fit_new(&fo);
    assert_non_null(f);
    llm_plan p;
    llm_fit_plan(f, &o, 2500, &p);
    assert_int_equal(p.kind, LLM_SERVER_UNKNOWN);
    assert_int_equal(p.api, LLM_API_OPENAI);
    assert_int_equal(p.context, 4096);
    assert_int_equal(p.max_tokens, 1024);
    assert_true(p.bytes_per_token > 2.29 && p.bytes_per_token < 2.31);
    /* the prompt and answer fit: (4096 - 1024 - margins) tokens at 2.3 bytes */
    assert_true(p.max_prompt_bytes > 6500 && p.max_prompt_bytes < 3072 * 2.3);
    assert_true(p.digest_budget * 3 + 2500 <= p.max_prompt_bytes);
    assert_true(p.digest_budget < 3000);
    assert_true(llm_fit_estimate(&p, (size_t)p.max_prompt_bytes) + p.max_tokens <= 4096);

    /* a whole prompt: calibrates (the smallest of the samples) */
    llm_result r;
    memset(&r, 0, sizeof r);
    r.prompt_bytes = 9000;
    r.prompt_tokens = 3000; /* 3 bytes a token */
    size_t retry = 1;
    assert_int_equal(llm_fit_observe(f, &p, LLM_OK, &r, &retry), LLM_FIT_OK);
    assert_int_equal(retry, 0);
    assert_true(llm_fit_bytes_per_token(f) > 2.99 && llm_fit_bytes_per_token(f) < 3.01);
    r.prompt_tokens = 3500; /* denser: 2.57 */
    llm_fit_observe(f, &p, LLM_OK, &r, &retry);
    r.prompt_tokens = 2500; /* lighter: the estimate keeps the densest */
    llm_fit_observe(f, &p, LLM_OK, &r, &retry);
    assert_true(llm_fit_bytes_per_token(f) > 2.56 && llm_fit_bytes_per_token(f) < 2.58);

    /* a count at exactly the assumed context while the estimate is larger: cut */
    r.prompt_bytes = 12000;
    r.prompt_tokens = 4096;
    assert_int_equal(llm_fit_observe(f, &p, LLM_OK, &r, &retry), LLM_FIT_PROMPT_CUT);
    assert_true(retry > 0 && retry < 12000);
    /* a count far under the bytes (over 6 bytes a token): cut, and the context learned is that count */
    r.prompt_tokens = 1500;
    assert_int_equal(llm_fit_observe(f, &p, LLM_OK, &r, &retry), LLM_FIT_PROMPT_CUT);
    assert_int_equal(p.context, 1500);
    assert_true(p.max_tokens <= 1500 / 4);
    assert_true(llm_fit_estimate(&p, retry) + p.max_tokens <= 1500);
    llm_plan q;
    llm_fit_plan(f, &o, 2500, &q);
    assert_int_equal(q.context, 1500); /* the next plan keeps within what was learned */

    /* an answer stopped for length: more room, the prompt shorter to make it */
    memset(&r, 0, sizeof r);
    r.prompt_bytes = 2000;
    r.prompt_tokens = 800;
    snprintf(r.finish_reason, sizeof r.finish_reason, "length");
    long before = q.max_tokens;
    assert_int_equal(llm_fit_observe(f, &q, LLM_OK, &r, &retry), LLM_FIT_ANSWER_CUT);
    assert_int_equal(q.max_tokens, before * 4 <= 750 ? before * 4 : 750);

    /* a refusal naming the context and the prompt's count: both learned */
    memset(&r, 0, sizeof r);
    r.prompt_bytes = 11000;
    r.context_refused = 1;
    r.context_limit = 1200;
    r.context_prompt = 5000; /* 2.2 bytes a token */
    assert_int_equal(llm_fit_observe(f, &q, LLM_REJECTED, &r, &retry), LLM_FIT_PROMPT_CUT);
    assert_int_equal(q.context, 1200);
    assert_true(q.bytes_per_token > 2.19 && q.bytes_per_token < 2.21);
    assert_true(retry < 11000 && llm_fit_estimate(&q, retry) + q.max_tokens <= 1200);
    /* other failures teach nothing */
    memset(&r, 0, sizeof r);
    assert_int_equal(llm_fit_observe(f, &q, LLM_UNAVAILABLE, &r, &retry), LLM_FIT_OK);
    llm_fit_free(f);

    /* Ollama's num_ctx: a power of two from 2048 that holds prompt and answer, at most the model's */
    llm_plan n = {.api = LLM_API_OLLAMA, .bytes_per_token = 2.3, .max_tokens = 1024, .model_context = 131072};
    llm_opts no;
    llm_opts_defaults(&no);
    llm_fit_apply(&n, 100, &no);
    assert_int_equal(no.num_ctx, 2048);
    assert_int_equal(no.api, LLM_API_OLLAMA);
    assert_int_equal(no.max_tokens, 1024);
    llm_fit_apply(&n, 11783, &no); /* the busy window: 5,132 tokens */
    assert_int_equal(no.num_ctx, 8192);
    n.model_context = 6000;
    llm_fit_apply(&n, 11783, &no);
    assert_int_equal(no.num_ctx, 6000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_success_and_request),
        cmocka_unit_test(test_envelopes),
        cmocka_unit_test(test_retry_500_then_ok),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_permanent_503),
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_strip_reasoning),
        cmocka_unit_test(test_ollama_native),
        cmocka_unit_test(test_reasoning_answers),
        cmocka_unit_test(test_context_refusals),
        cmocka_unit_test(test_root_url),
        cmocka_unit_test(test_fit_plan_and_observe),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
