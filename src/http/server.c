/*
 * server.c — libmicrohttpd at the edge: sockets, bodies, limits, routing.
 *
 * Threads: libmicrohttpd runs one thread per connection (bounded by
 * limits.max_connections). A connection's thread reads the body, parses it
 * and waits for the writer's commit before answering; waiting there costs a
 * blocked thread, not a blocked event loop, and keeps "answer after commit"
 * a straight line of code.
 *
 * Bodies: accumulated into a buffer that grows up to limits.max_body; a
 * Content-Length above the limit is refused before any byte is read (413).
 * A body already arriving cannot be answered (libmicrohttpd queues no
 * answer before the whole body is read), so one that crosses the limit
 * (chunked) is cut off: the connection is closed, the refusal logged and
 * counted.
 *
 * Slow senders: libmicrohttpd closes a connection idle for
 * limits.connection_timeout (headers or body stalled); a body that keeps
 * trickling in is cut off the same way once it has taken longer than
 * limits.request_timeout since its headers. Connections beyond
 * limits.max_connections are not accepted until one goes. Headers that
 * trickle in have no deadline of their own (libmicrohttpd has none), only
 * the idle timeout per byte and their size limit: limits.max_connections_per_ip
 * keeps one address from holding every connection that way.
 *
 * Routing: a table of {method, pattern, handler}; `{x}` in a pattern matches
 * one path segment and lands in request.params. A path that matches with
 * another method answers 405 with Allow.
 *
 * Idempotency: a request to an ingest route that carries Idempotency-Key
 * goes through http_idem_begin()/http_idem_end() (idempotency.c) around its
 * handler, once it is authorized.
 *
 * Reads after writes: a 202 may come before the database holds the batch
 * (the ingest journal, writer.c), so a request to a read route first waits
 * (writer_wait, at most WRITER_READ_WAIT_MS) for every batch acknowledged
 * before it.
 *
 * Request ids: every answer carries X-Request-Id: the request's own header
 * when it sent a sane one (1..128 printable ASCII characters), else 16 random
 * hex characters drawn when the request arrived.
 *
 * Shutdown: http_stop() stops accepting, answers any new request on a
 * kept-alive connection with 503 "stopping" and Connection: close, waits for
 * requests already in progress (up to DRAIN_TIMEOUT_MS) so that every batch
 * the writer commits is answered, then closes the idle connections.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "anomalog/http.h"
#include "anomalog/log.h"
#include "anomalog/metrics.h"
#include "anomalog/timeutil.h"

#define DRAIN_TIMEOUT_MS 15000

struct http_server {
    struct MHD_Daemon *d;
    const app *a;
    atomic_int active;   /* requests between first callback and completion */
    atomic_int stopping; /* set by http_stop: new requests get 503 and Connection: close */
};

typedef struct req_ctx {
    char *buf;
    size_t len, cap, first_cap;
    int64_t received_ms;
    int64_t started_mono_ms; /* for limits.request_timeout */
    int answered;
    char request_id[129]; /* echoed in X-Request-Id on whatever answer the request gets */
} req_ctx;

typedef void (*handler_fn)(const app *, const http_request *, http_response *);

typedef struct route {
    const char *method;
    const char *pattern;
    handler_fn fn;
    http_access access; /* left out: readers */
} route;

#define INGEST HTTP_ACCESS_INGEST
#define OPEN HTTP_ACCESS_OPEN
#define READ HTTP_ACCESS_READ

static const route routes[] = {
    {"POST", "/ingest", http_ingest_post, INGEST},
    {"POST", "/loki/api/v1/push", http_loki_push, INGEST},
    {"POST", "/v1/logs", http_otlp_logs, INGEST},
    {"POST", "/_bulk", http_es_bulk, INGEST},
    {"PUT", "/_bulk", http_es_bulk, INGEST},
    {"POST", "/{index}/_bulk", http_es_bulk, INGEST},
    {"PUT", "/{index}/_bulk", http_es_bulk, INGEST},
    {"GET", "/_license", http_es_license, OPEN},
    {"GET", "/", http_root_get, OPEN}, /* the dashboard page for browsers, the Elasticsearch version probe else */
    {"GET", "/windows", http_windows_list, READ},
    {"POST", "/windows/flush", http_windows_flush, READ},
    {"GET", "/windows/{id}", http_window_get, READ},
    {"GET", "/anomalies", http_anomalies_list, READ},
    {"POST", "/anomalies/{id}/feedback", http_anomaly_feedback, READ},
    {"GET", "/notifications", http_notifications_list, READ},
    {"GET", "/suppressions", http_suppressions_list, READ},
    {"GET", "/services", http_services_list, READ},
    {"PUT", "/services/{name}", http_service_put, READ},
    {"GET", "/healthz", http_healthz, OPEN},
    {"GET", "/readyz", http_readyz, OPEN},
    {"GET", "/metrics", http_metrics_get, READ}, /* scrapers send the read token when one is set */
    {"GET", "/ui/{file}", http_ui_asset, OPEN},  /* the page's script and styles; its API calls need the token */
};

json_t *http_error(http_response *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(r->json);
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);
    r->json = json_pack("{s:o}", "error", e);
    r->status = status;
    return e;
}

/* Matches path against pattern; fills params with pointers into scratch. */
static int match(const char *pattern, const char *path, const char **params, char *scratch, size_t scratch_len)
{
    int np = 0;
    size_t used = 0;
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            const char *seg_end = strchr(path, '/');
            size_t n = seg_end ? (size_t)(seg_end - path) : strlen(path);
            if (!close || n == 0 || np >= HTTP_MAX_PARAMS || used + n + 1 > scratch_len)
                return 0;
            memcpy(scratch + used, path, n);
            scratch[used + n] = '\0';
            params[np++] = scratch + used;
            used += n + 1;
            pattern = close + 1;
            path += n;
        } else if (*pattern++ != *path++) {
            return 0;
        }
    }
    return !*pattern && !*path;
}

void http_dispatch(const app *a, http_request *rq, http_response *rs)
{
    static _Thread_local char scratch[512];
    char allow[64] = "";
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const char *params[HTTP_MAX_PARAMS] = {0};
        if (!match(routes[i].pattern, rq->path, params, scratch, sizeof scratch))
            continue;
        if (strcmp(routes[i].method, rq->method) == 0 ||
            (strcmp(rq->method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
            memcpy(rq->params, params, sizeof params);
            if (!http_authorized(a->cfg, routes[i].access, rq->header(rq, "Authorization"), &rq->bound_service,
                                 &rq->token)) {
                http_error(rs, 401, "unauthorized", "%s needs the %s token: Authorization: Bearer <token>", rq->path,
                           routes[i].access == HTTP_ACCESS_INGEST ? "ingest" : "read");
                rs->extra_header[0] = "WWW-Authenticate";
                rs->extra_header[1] = "Bearer realm=\"anomalog\"";
                return;
            }
            http_idem key;
            int keyed = routes[i].access == HTTP_ACCESS_INGEST ? http_idem_begin(a, rq, rs, &key) : 0;
            if (keyed < 0) { /* answered: a bad or busy key, or the answer recorded for it */
                http_ingest_count_rejection(http_ingest_endpoint(rq->path), rs);
                return;
            }
            /* what was acknowledged is what is read; a scrape answers at once, a writer stall included */
            if (routes[i].access == HTTP_ACCESS_READ && routes[i].fn != http_metrics_get)
                writer_wait(a->wr, WRITER_READ_WAIT_MS);
            routes[i].fn(a, rq, rs);
            if (keyed)
                http_idem_end(&key);
            return;
        }
        size_t n = strlen(allow);
        snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", routes[i].method);
    }
    if (*allow) {
        http_error(rs, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)", rq->method, rq->path,
                   allow);
        snprintf(rs->allow, sizeof rs->allow, "%s", allow);
    } else {
        http_error(rs, 404, "not_found", "no endpoint at %s", rq->path);
    }
}

static const char *lookup_header(const http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static const char *lookup_query(const http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

#define REQUEST_ID_MAX 128

/* The request's X-Request-Id when it is 1..REQUEST_ID_MAX printable ASCII characters, else a fresh one. */
static void request_id_for(struct MHD_Connection *c, char out[REQUEST_ID_MAX + 1])
{
    const char *in = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = 0;
    if (in) {
        while (n <= REQUEST_ID_MAX && in[n] >= 0x20 && in[n] <= 0x7e)
            n++;
        if (n >= 1 && n <= REQUEST_ID_MAX && !in[n]) {
            memcpy(out, in, n);
            out[n] = '\0';
            return;
        }
    }
    /* An id needs to be unique, not secret: a per-thread splitmix64 sequence, its start drawn once from
     * getrandom (or the clock and a counter), saves a system call per request. */
    static _Thread_local uint64_t state;
    if (!state && getrandom(&state, sizeof state, GRND_NONBLOCK) != (ssize_t)sizeof state) {
        static atomic_uint_fast64_t counter;
        state = (uint64_t)time_now_ms() ^ ((uint64_t)atomic_fetch_add(&counter, 1) << 40);
    }
    uint64_t v = (state += 0x9e3779b97f4a7c15ull);
    v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
    v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
    v ^= v >> 31;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < 16; i++)
        out[i] = hex[(v >> (60 - 4 * i)) & 15];
    out[16] = '\0';
}

char *http_json_text(const json_t *j, size_t *len)
{
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text)
        return NULL;
    *len = strlen(text);
    text[(*len)++] = '\n'; /* dumps' NUL becomes a trailing newline: curl prints nicely */
    return text;
}

void http_response_clear(http_response *r)
{
    json_decref(r->json);
    r->json = NULL;
    if (r->body && !r->body_static)
        free((char *)r->body);
    r->body = NULL;
    r->body_len = 0;
    r->body_static = 0;
    r->content_type = NULL;
}

static enum MHD_Result send_response(struct MHD_Connection *c, http_response *rs, int close_conn,
                                     const char *request_id)
{
    char *text = NULL;
    size_t len = 0;
    const char *ctype = NULL;
    enum MHD_ResponseMemoryMode mode = MHD_RESPMEM_PERSISTENT;
    if (rs->json && (text = http_json_text(rs->json, &len))) {
        ctype = "application/json";
        mode = MHD_RESPMEM_MUST_FREE;
    } else if (rs->body || rs->content_type) { /* text, HTML, assets, protobuf: ownership moves to MHD unless static */
        text = (char *)rs->body; /* NULL: an empty body of content_type */
        len = rs->body ? rs->body_len : 0;
        ctype = rs->content_type;
        mode = rs->body && !rs->body_static ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT;
        rs->body = NULL;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text ? text : (void *)"", mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(text);
        return MHD_NO;
    }
    if (ctype)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (rs->extra_header[0] && rs->extra_header[1])
        MHD_add_response_header(r, rs->extra_header[0], rs->extra_header[1]);
    if (rs->retry_after[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, rs->retry_after);
    if (rs->allow[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rs->allow);
    if (rs->replayed)
        MHD_add_response_header(r, "Idempotent-Replayed", "true");
    if (request_id && *request_id)
        MHD_add_response_header(r, "X-Request-Id", request_id);
    if (close_conn)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    json_decref(rs->json);
    rs->json = NULL;
    return ret;
}

/* Answers an error before any of the body is read (the first call); MHD then closes the connection. */
static enum MHD_Result refuse(struct MHD_Connection *c, req_ctx *ctx, const char *url, int status, const char *code,
                              const char *msg)
{
    http_response rs = {0};
    http_error(&rs, status, code, "%s", msg);
    const char *endpoint = http_ingest_endpoint(url);
    if (status == 413 && endpoint) /* counted under the ingest route the body was sent to */
        metrics_rejected(endpoint, code);
    if (status == 503)
        snprintf(rs.retry_after, sizeof rs.retry_after, "5");
    ctx->answered = 1;
    return send_response(c, &rs, 1, ctx->request_id);
}

/* Set on a connection's thread by cut_off(): MHD's own line about the closing is then not logged (ours says why). */
static _Thread_local int cut_off_here;

/* Gives up on a body while it arrives: no answer can be queued then, so the connection is closed. */
static enum MHD_Result cut_off(req_ctx *ctx, const char *url, const char *code, const char *msg)
{
    const char *endpoint = http_ingest_endpoint(url);
    if (endpoint)
        metrics_rejected(endpoint, code);
    log_msg(LOG_WARN, "http", "%s: %s: closing the connection (request %s)", url, msg, ctx->request_id);
    ctx->answered = 1;
    cut_off_here = 1;
    return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    req_ctx *ctx = *con_cls;
    const config *cfg = s->a->cfg;
    if (!ctx) {
        if (!(ctx = calloc(1, sizeof *ctx)))
            return MHD_NO;
        ctx->received_ms = time_now_ms();
        ctx->started_mono_ms = time_mono_ms();
        request_id_for(c, ctx->request_id);
        *con_cls = ctx;
        atomic_fetch_add(&s->active, 1);
        if (atomic_load(&s->stopping)) /* a keep-alive connection asking after SIGTERM */
            return refuse(c, ctx, url, 503, "stopping", "the service is shutting down: retry on another replica or later");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
        if (declared > cfg->max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "body of %s bytes is over the limit of %llu bytes", cl,
                     (unsigned long long)cfg->max_body);
            return refuse(c, ctx, url, 413, "body_too_large", msg);
        }
        ctx->first_cap = (size_t)declared; /* the body's buffer, first sized as declared (0: grown from 64 KiB) */
        return MHD_YES;
    }
    if (ctx->answered) {
        *upload_size = 0; /* discard whatever still arrives */
        return MHD_YES;
    }
    if (*upload_size) {
        if (time_mono_ms() - ctx->started_mono_ms > cfg->request_timeout_ms) {
            char msg[128];
            snprintf(msg, sizeof msg, "the body took longer than %llds to arrive",
                     (long long)cfg->request_timeout_ms / 1000);
            return cut_off(ctx, url, "request_timeout", msg);
        }
        if (ctx->len + *upload_size > cfg->max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "body is over the limit of %llu bytes", (unsigned long long)cfg->max_body);
            return cut_off(ctx, url, "body_too_large", msg);
        }
        if (ctx->len + *upload_size > ctx->cap) {
            size_t ncap = ctx->cap ? ctx->cap : ctx->first_cap ? ctx->first_cap : 64 * 1024;
            while (ncap < ctx->len + *upload_size)
                ncap *= 2;
            if (ncap > cfg->max_body)
                ncap = cfg->max_body;
            char *nb = realloc(ctx->buf, ncap);
            if (!nb)
                return MHD_NO;
            ctx->buf = nb;
            ctx->cap = ncap;
        }
        memcpy(ctx->buf + ctx->len, upload, *upload_size);
        ctx->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    http_request rq = {
        .method = method,
        .path = url,
        .body = ctx->buf,
        .body_len = ctx->len,
        .received_ms = ctx->received_ms,
        .header = lookup_header,
        .query = lookup_query,
        .conn = c,
    };
    http_response rs = {.status = 200};
    http_dispatch(s->a, &rq, &rs);
    ctx->answered = 1;
    free(ctx->buf);
    ctx->buf = NULL;
    return send_response(c, &rs, atomic_load(&s->stopping), ctx->request_id);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    http_server *s = cls;
    req_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    free(ctx->buf);
    free(ctx);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

__attribute__((format(printf, 2, 0))) static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    int ours = cut_off_here && strncmp(line, "Application reported internal error", 35) == 0;
    cut_off_here = 0;
    if (!ours)
        log_msg(LOG_WARN, "http", "%s", line);
}

http_server *http_start(const app *a, int *port, char *err, size_t errlen)
{
    const config *cfg = a->cfg;
    char host[256];
    const char *colon = strrchr(cfg->listen, ':');
    size_t hl = (size_t)(colon - cfg->listen);
    if (cfg->listen[0] == '[') { /* [::1]:8080 */
        memcpy(host, cfg->listen + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        memcpy(host, cfg->listen, hl);
        host[hl] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int gai = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &ai);
    if (gai) {
        snprintf(err, errlen, "listen address %s: %s", cfg->listen, gai_strerror(gai));
        return NULL;
    }
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(ai);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->a = a;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((cfg->connection_timeout_ms + 999) / 1000),
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    /* no MHD_OPTION_LISTENING_ADDRESS_REUSE (SO_REUSEPORT): a second instance on the same port must fail to
     * start rather than take half the requests; MHD's default SO_REUSEADDR still allows a restart while
     * old connections sit in TIME_WAIT */
    freeaddrinfo(ai);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s (address in use or not available)", cfg->listen);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : 0;
    return s;
}

void http_stop(http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    int64_t deadline = time_mono_ms() + DRAIN_TIMEOUT_MS;
    while (atomic_load(&s->active) > 0 && time_mono_ms() < deadline)
        usleep(10 * 1000);
    MHD_stop_daemon(s->d);
    free(s);
}
