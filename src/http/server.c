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
 * limits.max_connections are not accepted until one goes.
 *
 * Connection table (slowloris): libmicrohttpd has no deadline for headers,
 * only the idle timeout per byte, so this file keeps its own table of open
 * connections (NOTIFY_CONNECTION adds and removes; one mutex; at most
 * limits.max_connections entries). A reaper thread looks at it every
 * CONN_REAP_MS: a connection whose request has begun arriving (TCP_INFO's
 * received bytes grew since its last request completed) and whose headers
 * are not complete limits.header_timeout later is shut down, which wakes its
 * thread and makes libmicrohttpd close it. An idle kept-alive connection is
 * left to the idle timeout. The table also decides, when a connection is
 * accepted:
 *  - per address (limits.max_connections_per_ip, default 64): the first N of
 *    an address are served; the next N are accepted but answered 503
 *    too_many_connections with Retry-After as soon as their headers arrive,
 *    with a header deadline of CONN_OVER_DEADLINE_MS from acceptance; beyond
 *    2N an address's connections are closed at once (accept policy), so one
 *    address holds at most 2N of limits.max_connections;
 *  - a reserve of limits.max_connections / 16 for probes: once all but the
 *    reserve are open, a new connection is served only for GET /healthz and
 *    /readyz (others get 503 server_busy with Retry-After).
 * The table is read by /metrics (http_connections_metrics): open connections
 * and the busiest address's count, refusals by reason.
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
#include <linux/tcp.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "anomalog/http.h"
#include "anomalog/log.h"
#include "anomalog/metrics.h"
#include "anomalog/timeutil.h"

#define DRAIN_TIMEOUT_MS 15000

#define CONN_REAP_MS 100            /* how often the reaper looks at the connection table */
#define CONN_OVER_DEADLINE_MS 2000  /* headers of a connection over its address's limit, from acceptance */
#define CONN_RESERVE_DIVISOR 16     /* limits.max_connections / 16 kept for /healthz and /readyz */

/* One open connection in the table (see the opening comment). Guarded by http_server.conn_mu. */
typedef struct conn_slot {
    int used;
    MHD_socket fd;
    unsigned char addr[17];   /* family byte, then 4 or 16 address bytes (no port) */
    int64_t since_mono_ms;    /* accepted, or its last request completed */
    uint64_t base_bytes;      /* TCP bytes received by then */
    int64_t arriving_mono_ms; /* when the reaper first saw more bytes; 0: none yet */
    int in_request;           /* headers complete, request not yet completed */
    int over;                 /* CONN_OVER: address over its limit; CONN_RESERVE: only probes served */
    int cut;                  /* shut down by the reaper */
} conn_slot;

enum { CONN_NORMAL = 0, CONN_OVER = 1, CONN_RESERVE = 2 };

/* Connection refusals by reason, process-wide (a process runs one server). */
enum { REFUSED_ACCEPT, REFUSED_PER_ADDRESS, REFUSED_RESERVE, REFUSED_HEADER_TIMEOUT, REFUSED_N };
static const char *const refused_reasons[REFUSED_N] = {"address_limit_closed", "address_limit_503",
                                                       "reserve_503", "header_timeout"};
static atomic_llong refused_total[REFUSED_N];

struct http_server {
    struct MHD_Daemon *d;
    const app *a;
    atomic_int active;   /* requests between first callback and completion */
    atomic_int stopping; /* set by http_stop: new requests get 503 and Connection: close */
    pthread_mutex_t conn_mu;
    conn_slot *conns;    /* nconns entries */
    size_t nconns;
    pthread_t reaper;
    int reaper_started;
    atomic_int reaper_stop;
    atomic_llong last_warn_ms; /* rate limit of the "connections refused" warning */
};

static http_server *live_server; /* for /metrics; set by http_start, cleared by http_stop */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;

typedef struct req_ctx {
    char *buf;
    size_t len, cap, first_cap;
    int64_t received_ms;
    int64_t started_mono_ms; /* for limits.request_timeout */
    struct timespec started;  /* for anomalog_http_request_duration_seconds */
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
#define WRITE HTTP_ACCESS_WRITE

static const route routes[] = {
    {"POST", "/ingest", http_ingest_post, INGEST},
    {"POST", "/loki/api/v1/push", http_loki_push, INGEST},
    {"POST", "/v1/logs", http_otlp_logs, INGEST},
    {"POST", "/_bulk", http_es_bulk, INGEST},
    {"PUT", "/_bulk", http_es_bulk, INGEST},
    {"POST", "/{index}/_bulk", http_es_bulk, INGEST},
    {"PUT", "/{index}/_bulk", http_es_bulk, INGEST},
    {"GET", "/_license", http_es_license, OPEN},
    {"GET", "/_cluster/health", http_es_cluster_health, OPEN}, /* Vector's elasticsearch sink checks it at start */
    {"GET", "/", http_root_get, OPEN}, /* the dashboard page for browsers, the Elasticsearch version probe else */
    {"GET", "/windows", http_windows_list, READ},
    {"POST", "/windows/flush", http_windows_flush, WRITE},
    {"GET", "/windows/{id}", http_window_get, READ},
    {"GET", "/windows/{id}/lines", http_window_lines, READ},
    {"GET", "/anomalies", http_anomalies_list, READ},
    {"POST", "/anomalies/{id}/feedback", http_anomaly_feedback, WRITE},
    {"GET", "/incidents", http_incidents_list, READ},
    {"GET", "/incidents/{id}", http_incident_get, READ},
    {"POST", "/incidents/{id}/feedback", http_incident_feedback, WRITE},
    {"GET", "/notifications", http_notifications_list, READ},
    {"GET", "/suppressions", http_suppressions_list, READ},
    {"GET", "/services", http_services_list, READ},
    {"PUT", "/services/{name}", http_service_put, WRITE},
    {"GET", "/healthz", http_healthz, OPEN},
    {"GET", "/readyz", http_readyz, OPEN},
    {"GET", "/metrics", http_metrics_get, READ}, /* scrapers send the read token when one is set */
    {"GET", "/ui/{file}", http_ui_asset, OPEN},  /* the page's script and styles; its API calls need the token */
};

/* GET routes whose navigation by a browser (http_page_wanted) gets the dashboard, which opens what the path
 * names: a notification's link. The page itself is open; its API calls need the read token as always. */
static const char *const page_routes[] = {"/windows/{id}", "/incidents/{id}"};

static int page_route(const char *pattern)
{
    for (size_t i = 0; i < sizeof page_routes / sizeof page_routes[0]; i++)
        if (!strcmp(page_routes[i], pattern))
            return 1;
    return 0;
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
            rq->route = routes[i].pattern;
            int page = strcmp(routes[i].method, "GET") == 0 && page_route(routes[i].pattern);
            if (page) { /* one URL, two representations: caches must key on Accept */
                rs->extra_header[0] = "Vary";
                rs->extra_header[1] = "Accept";
            }
            if (page && http_page_wanted(rq)) {
                http_ui_index(a, rq, rs);
                return;
            }
            if (!http_authorized(a->cfg, routes[i].access, rq->header(rq, "Authorization"), &rq->bound_service,
                                 &rq->token)) {
                const char *need = routes[i].access == HTTP_ACCESS_INGEST ? "ingest"
                                   : routes[i].access == HTTP_ACCESS_WRITE ? "write" : "read";
                /* 401 whether or not the token given opens another scope: the answer never tells which tokens exist */
                http_error(rs, 401, "unauthorized", "%s needs the %s token: Authorization: Bearer <token>", rq->path,
                           need);
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
            if ((routes[i].access == HTTP_ACCESS_READ || routes[i].access == HTTP_ACCESS_WRITE) &&
                routes[i].fn != http_metrics_get)
                writer_wait(a->wr, WRITER_READ_WAIT_MS);
            routes[i].fn(a, rq, rs);
            if (routes[i].access == HTTP_ACCESS_INGEST) /* every refusal of an ingest endpoint counts once */
                http_ingest_count_rejection(http_ingest_endpoint(rq->path), rs);
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

/* ---- the connection table ------------------------------------------------------------------------------ */

/* The address of sa without its port, as a comparable key; 0 when it is no IP address. */
static int conn_addr_key(const struct sockaddr *sa, unsigned char key[17])
{
    memset(key, 0, 17);
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return 1;
    }
    if (sa->sa_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        return 1;
    }
    return 0;
}

/* Bytes the kernel has received on fd (TCP_INFO), or UINT64_MAX when it cannot say. */
static uint64_t conn_bytes_received(MHD_socket fd)
{
    struct tcp_info ti;
    socklen_t n = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &n) != 0 ||
        n < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
        return UINT64_MAX;
    return ti.tcpi_bytes_received;
}

/* Open connections of the address key; conn_mu held. */
static size_t conn_count_addr(const http_server *s, const unsigned char key[17])
{
    size_t n = 0;
    for (size_t i = 0; i < s->nconns; i++)
        n += s->conns[i].used && memcmp(s->conns[i].addr, key, 17) == 0;
    return n;
}

/* Counts a refusal; logs at most one warning per 10 s so that an attack does not flood the log. */
static void conn_refused(http_server *s, int reason, const unsigned char key[17])
{
    atomic_fetch_add(&refused_total[reason], 1);
    long long now = time_mono_ms(), last = atomic_load(&s->last_warn_ms);
    if (now - last < 10000 || !atomic_compare_exchange_strong(&s->last_warn_ms, &last, now))
        return;
    char text[INET6_ADDRSTRLEN] = "?";
    if (key[0])
        inet_ntop(key[0] == 4 ? AF_INET : AF_INET6, key + 1, text, sizeof text);
    log_msg(LOG_WARN, "http", "connections refused (%s, from %s among others): see "
            "anomalog_http_connections_refused_total; limits.max_connections_per_ip=%llu, "
            "limits.header_timeout=%llds", refused_reasons[reason], text,
            (unsigned long long)s->a->cfg->max_connections_per_ip, (long long)s->a->cfg->header_timeout_ms / 1000);
}

/* Accept policy: an address already holding twice its limit is closed at once. */
static enum MHD_Result conn_accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addrlen;
    http_server *s = cls;
    uint64_t per_ip = s->a->cfg->max_connections_per_ip;
    unsigned char key[17];
    if (!per_ip || !conn_addr_key(addr, key))
        return MHD_YES;
    pthread_mutex_lock(&s->conn_mu);
    size_t n = conn_count_addr(s, key);
    pthread_mutex_unlock(&s->conn_mu);
    if (n < 2 * per_ip)
        return MHD_YES;
    conn_refused(s, REFUSED_ACCEPT, key);
    return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *s = cls;
    const config *cfg = s->a->cfg;
    pthread_mutex_lock(&s->conn_mu);
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_slot *slot = *socket_context;
        if (slot)
            slot->used = 0;
        *socket_context = NULL;
        pthread_mutex_unlock(&s->conn_mu);
        return;
    }
    conn_slot *slot = NULL;
    size_t open = 0;
    for (size_t i = 0; i < s->nconns; i++) {
        if (s->conns[i].used)
            open++;
        else if (!slot)
            slot = &s->conns[i];
    }
    if (slot) {
        const union MHD_ConnectionInfo *fdi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        memset(slot, 0, sizeof *slot);
        slot->used = 1;
        slot->fd = fdi ? fdi->connect_fd : MHD_INVALID_SOCKET;
        conn_addr_key(ai ? ai->client_addr : NULL, slot->addr);
        slot->since_mono_ms = time_mono_ms();
        slot->base_bytes = 0;
        size_t reserve = cfg->max_connections / CONN_RESERVE_DIVISOR;
        if (cfg->max_connections_per_ip && slot->addr[0] &&
            conn_count_addr(s, slot->addr) > cfg->max_connections_per_ip) /* counts itself */
            slot->over = CONN_OVER;
        else if (reserve && open >= cfg->max_connections - reserve)
            slot->over = CONN_RESERVE;
    }
    *socket_context = slot;
    pthread_mutex_unlock(&s->conn_mu);
}

static conn_slot *conn_slot_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

/* The reaper: shuts down connections whose headers missed their deadline (see the opening comment). */
static void *conn_reaper(void *arg)
{
    http_server *s = arg;
    int64_t header_ms = s->a->cfg->header_timeout_ms;
    while (!atomic_load(&s->reaper_stop)) {
        usleep(CONN_REAP_MS * 1000);
        int64_t now = time_mono_ms();
        pthread_mutex_lock(&s->conn_mu);
        for (size_t i = 0; i < s->nconns; i++) {
            conn_slot *slot = &s->conns[i];
            if (!slot->used || slot->in_request || slot->cut || slot->fd == MHD_INVALID_SOCKET)
                continue;
            int late;
            if (slot->over) {
                late = now - slot->since_mono_ms > (header_ms < CONN_OVER_DEADLINE_MS ? header_ms : CONN_OVER_DEADLINE_MS);
            } else {
                if (!slot->arriving_mono_ms) { /* idle (kept alive) until the next request's bytes come */
                    uint64_t got = conn_bytes_received(slot->fd);
                    if (got != UINT64_MAX && got > slot->base_bytes)
                        slot->arriving_mono_ms = now;
                    else if (got == UINT64_MAX)
                        slot->arriving_mono_ms = slot->since_mono_ms;
                }
                late = slot->arriving_mono_ms && now - slot->arriving_mono_ms > header_ms;
            }
            if (!late)
                continue;
            /* the fd is open until NOTIFY_CLOSED takes conn_mu; the connection's thread then closes it */
            shutdown(slot->fd, SHUT_RDWR);
            slot->cut = 1;
            conn_refused(s, REFUSED_HEADER_TIMEOUT, slot->addr);
        }
        pthread_mutex_unlock(&s->conn_mu);
    }
    return NULL;
}

/* A request's headers are complete: the reaper leaves the connection to the request timeout. Returns its
 * CONN_* class. */
static int conn_request_began(http_server *s, struct MHD_Connection *c, unsigned char key[17])
{
    pthread_mutex_lock(&s->conn_mu);
    conn_slot *slot = conn_slot_of(c);
    int over = CONN_NORMAL;
    memset(key, 0, 17);
    if (slot) {
        slot->in_request = 1;
        over = slot->over;
        memcpy(key, slot->addr, 17);
    }
    pthread_mutex_unlock(&s->conn_mu);
    return over;
}

/* A request completed: the header deadline of the next one on the connection starts with its first byte. */
static void conn_request_ended(http_server *s, struct MHD_Connection *c)
{
    conn_slot *slot = conn_slot_of(c);
    if (!slot)
        return;
    uint64_t got = conn_bytes_received(slot->fd); /* this connection's thread: its fd is open */
    pthread_mutex_lock(&s->conn_mu);
    slot->in_request = 0;
    slot->since_mono_ms = time_mono_ms();
    slot->base_bytes = got == UINT64_MAX ? 0 : got;
    slot->arriving_mono_ms = got == UINT64_MAX ? slot->since_mono_ms : 0;
    pthread_mutex_unlock(&s->conn_mu);
}

char *http_connections_metrics(size_t *len)
{
    long long open = 0, busiest = 0;
    pthread_mutex_lock(&live_mu);
    http_server *s = live_server;
    if (s) {
        pthread_mutex_lock(&s->conn_mu);
        for (size_t i = 0; i < s->nconns; i++) {
            if (!s->conns[i].used)
                continue;
            open++;
            long long same = 0;
            for (size_t j = 0; j < s->nconns; j++)
                same += s->conns[j].used && memcmp(s->conns[j].addr, s->conns[i].addr, 17) == 0;
            if (same > busiest)
                busiest = same;
        }
        pthread_mutex_unlock(&s->conn_mu);
    }
    pthread_mutex_unlock(&live_mu);
    size_t cap = 2048;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    int n = snprintf(out, cap,
                     "# HELP anomalog_http_connections_open HTTP connections open now.\n"
                     "# TYPE anomalog_http_connections_open gauge\n"
                     "anomalog_http_connections_open %lld\n"
                     "# HELP anomalog_http_connections_open_busiest_address HTTP connections open now from the "
                     "address with the most.\n"
                     "# TYPE anomalog_http_connections_open_busiest_address gauge\n"
                     "anomalog_http_connections_open_busiest_address %lld\n"
                     "# HELP anomalog_http_connections_refused_total HTTP connections refused or cut, by reason.\n"
                     "# TYPE anomalog_http_connections_refused_total counter\n",
                     open, busiest);
    for (int r = 0; r < REFUSED_N && n > 0 && (size_t)n < cap; r++)
        n += snprintf(out + n, cap - (size_t)n, "anomalog_http_connections_refused_total{reason=\"%s\"} %lld\n",
                      refused_reasons[r], (long long)atomic_load(&refused_total[r]));
    if (n < 0 || (size_t)n >= cap) {
        free(out);
        return NULL;
    }
    *len = (size_t)n;
    return out;
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
        clock_gettime(CLOCK_MONOTONIC, &ctx->started);
        request_id_for(c, ctx->request_id);
        *con_cls = ctx;
        atomic_fetch_add(&s->active, 1);
        if (atomic_load(&s->stopping)) /* a keep-alive connection asking after SIGTERM */
            return refuse(c, ctx, url, 503, "stopping", "the service is shutting down: retry on another replica or later");
        unsigned char key[17];
        int over = conn_request_began(s, c, key);
        int probe = strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0;
        if (over == CONN_OVER) {
            char msg[160];
            snprintf(msg, sizeof msg, "over limits.max_connections_per_ip (%llu connections from one address): "
                     "retry after one closes", (unsigned long long)cfg->max_connections_per_ip);
            conn_refused(s, REFUSED_PER_ADDRESS, key);
            return refuse(c, ctx, url, 503, "too_many_connections", msg);
        }
        if (over == CONN_RESERVE && !probe) {
            conn_refused(s, REFUSED_RESERVE, key);
            return refuse(c, ctx, url, 503, "server_busy",
                          "every connection but those kept for /healthz and /readyz is in use: retry later");
        }
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
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    metrics_http_request(rq.route, rs.status,
                         (double)(now.tv_sec - ctx->started.tv_sec) + (double)(now.tv_nsec - ctx->started.tv_nsec) / 1e9);
    ctx->answered = 1;
    free(ctx->buf);
    ctx->buf = NULL;
    return send_response(c, &rs, atomic_load(&s->stopping), ctx->request_id);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    http_server *s = cls;
    req_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    conn_request_ended(s, c);
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
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int gai = getaddrinfo(cfg->listen_host[0] ? cfg->listen_host : NULL, cfg->listen_port, &hints, &ai);
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
    s->nconns = cfg->max_connections;
    if (!(s->conns = calloc(s->nconns, sizeof *s->conns)) || pthread_mutex_init(&s->conn_mu, NULL) != 0) {
        freeaddrinfo(ai);
        free(s->conns);
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    /* the limit per address is ours (conn_accept_policy, on_connection): libmicrohttpd's would close at once */
    s->d = MHD_start_daemon(flags, 0, conn_accept_policy, s, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((cfg->connection_timeout_ms + 999) / 1000),
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    /* no MHD_OPTION_LISTENING_ADDRESS_REUSE (SO_REUSEPORT): a second instance on the same port must fail to
     * start rather than take half the requests; MHD's default SO_REUSEADDR still allows a restart while
     * old connections sit in TIME_WAIT */
    freeaddrinfo(ai);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s (address in use or not available)", cfg->listen);
        pthread_mutex_destroy(&s->conn_mu);
        free(s->conns);
        free(s);
        return NULL;
    }
    s->reaper_started = pthread_create(&s->reaper, NULL, conn_reaper, s) == 0;
    if (!s->reaper_started)
        log_msg(LOG_WARN, "http", "no header deadline: the connection reaper thread could not start");
    pthread_mutex_lock(&live_mu);
    live_server = s;
    pthread_mutex_unlock(&live_mu);
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
    pthread_mutex_lock(&live_mu);
    live_server = NULL;
    pthread_mutex_unlock(&live_mu);
    atomic_store(&s->reaper_stop, 1);
    if (s->reaper_started)
        pthread_join(s->reaper, NULL);
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->conn_mu);
    free(s->conns);
    free(s);
}
