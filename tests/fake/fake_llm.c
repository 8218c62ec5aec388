/*
 * fake_llm: a scriptable fake OpenAI-compatible chat-completions server for
 * anomalog's end-to-end tests. It answers POST .../chat/completions the way a
 * model server would, records every chat request (path, Authorization,
 * Content-Type, parsed body, receive time) so tests can check exactly what
 * anomalog sent, and lets a test script its behaviour per request through
 * POST /_script: a list of steps, each applying to the next `count` chat
 * requests, then a `then` mode forever. Modes: good (a small deterministic
 * "analyst" that reads the log lines between the nonce markers of the user
 * message and flags ERROR/FATAL lines and failed logins), fenced and prose
 * (the same verdict wrapped in a ```json fence or in chatter), garbage,
 * wrong_schema, truncated, fixed (any content the test gives), empty_choices,
 * not_json (200 text/html), status (any HTTP status, optional Retry-After),
 * slow (answer after delay_ms), hang (never answer) and close (drop the
 * connection without answering). Introspection: GET/DELETE /_requests,
 * GET/DELETE /_script, GET /_stats. Server emulation (POST /_server, see
 * its section): Ollama, llama.cpp and vLLM at the edge of their context, and
 * reasoning models. See tests/fake/README.md.
 *
 * Threads: libmicrohttpd runs one thread per connection (plus its listening
 * thread), so a hanging or slow request never blocks the others. All shared
 * state (script, counters, recorded requests) sits behind one mutex, held only
 * for bookkeeping, never while sleeping or sending. The main thread blocks
 * SIGTERM/SIGINT before the daemon starts (so every MHD thread inherits the
 * mask) and waits for them with sigwait(); it then raises a stop flag, which
 * the sleeping modes poll every 20 ms, and stops the daemon. Sleeping modes
 * also watch the client socket and give up as soon as the client hangs up.
 */
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_LIMIT ((size_t)64 * 1024 * 1024)
#define MAX_RECORDED 1000
#define HANG_MAX_MS 60000L
#define SLOW_DEFAULT_MS 5000L
#define POLL_SLICE_MS 20L
#define MAX_EVIDENCE 3

/* ------------------------------------------------------------------------ */
/* Shared state                                                               */

static atomic_int g_stop;
static bool g_verbose;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static long g_chat_requests;   /* chat requests seen, ever */
static json_t *g_requests;     /* array of records, oldest first */
static json_t *g_steps;        /* array of step objects; "count" is what remains */
static size_t g_step_pos;      /* first step not used up */
static json_t *g_then;         /* step object applied after the steps */
static json_t *g_then_display; /* "then" as the test gave it (string or object) */

static const char *const MODES[] = {
    "good", "fenced", "prose", "garbage", "wrong_schema", "truncated", "empty_choices",
    "not_json", "status", "slow", "hang", "close", "fixed",
};

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
    if (!g_verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("fake_llm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (!g_verbose)
        return;
    fputs("fake_llm: mhd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fflush(stderr);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------------ */
/* Script                                                                     */

static bool is_mode(const char *m)
{
    for (size_t i = 0; i < sizeof MODES / sizeof MODES[0]; i++)
        if (strcmp(m, MODES[i]) == 0)
            return true;
    return false;
}

static bool get_nonneg_int(const json_t *step, const char *key, json_int_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(step, key);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(err, errlen, "\"%s\" must be a non-negative integer", key);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

/* Checks one step and returns a normalised copy (count set), or NULL with err. */
static json_t *step_normalise(const json_t *in, bool is_then, char *err, size_t errlen)
{
    json_t *step;
    if (json_is_string(in)) {
        step = json_pack("{s:O}", "mode", in);
    } else if (json_is_object(in)) {
        step = json_deep_copy(in);
    } else {
        snprintf(err, errlen, "a step must be an object (or, for \"then\", a mode name)");
        return NULL;
    }
    if (!step) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *mode = json_string_value(json_object_get(step, "mode"));
    if (!mode) {
        snprintf(err, errlen, "a step needs a \"mode\" string");
        goto bad;
    }
    if (!is_mode(mode)) {
        snprintf(err, errlen, "unknown mode \"%.64s\"", mode);
        goto bad;
    }
    json_int_t count = 1, delay = 0, status = 500;
    if (!get_nonneg_int(step, "count", &count, err, errlen) || !get_nonneg_int(step, "delay_ms", &delay, err, errlen) ||
        !get_nonneg_int(step, "status", &status, err, errlen))
        goto bad;
    if (strcmp(mode, "status") == 0 && (status < 100 || status > 599)) {
        snprintf(err, errlen, "\"status\" must be an HTTP status between 100 and 599");
        goto bad;
    }
    const json_t *ra = json_object_get(step, "retry_after");
    if (ra && !(json_is_string(ra) || (json_is_integer(ra) && json_integer_value(ra) >= 0))) {
        snprintf(err, errlen, "\"retry_after\" must be a non-negative integer (seconds) or a string");
        goto bad;
    }
    if (strcmp(mode, "fixed") == 0 && !json_is_string(json_object_get(step, "content"))) {
        snprintf(err, errlen, "mode \"fixed\" needs a \"content\" string");
        goto bad;
    }
    if (!is_then)
        json_object_set_new(step, "count", json_integer(count));
    else
        json_object_del(step, "count");
    return step;
bad:
    json_decref(step);
    return NULL;
}

/* Replaces the script from a POST /_script body. Returns false with err. */
static bool script_set(const json_t *body, char *err, size_t errlen)
{
    if (!json_is_object(body)) {
        snprintf(err, errlen, "the script must be a JSON object {\"steps\": [...], \"then\": \"good\"}");
        return false;
    }
    const json_t *steps_in = json_object_get(body, "steps");
    if (steps_in && !json_is_array(steps_in)) {
        snprintf(err, errlen, "\"steps\" must be an array");
        return false;
    }
    json_t *steps = json_array();
    size_t i;
    const json_t *s;
    char sub[200];
    json_array_foreach(steps_in, i, s) {
        json_t *n = step_normalise(s, false, sub, sizeof sub);
        if (!n) {
            snprintf(err, errlen, "steps[%zu]: %s", i, sub);
            json_decref(steps);
            return false;
        }
        json_array_append_new(steps, n);
    }
    json_t *then_in = json_object_get(body, "then");
    json_t *then_owned = NULL;
    if (!then_in)
        then_in = then_owned = json_string("good");
    json_t *then = step_normalise(then_in, true, sub, sizeof sub);
    if (!then) {
        snprintf(err, errlen, "then: %s", sub);
        json_decref(steps);
        json_decref(then_owned);
        return false;
    }
    json_t *display = json_deep_copy(then_in);
    json_decref(then_owned);

    pthread_mutex_lock(&g_lock);
    json_decref(g_steps);
    json_decref(g_then);
    json_decref(g_then_display);
    g_steps = steps;
    g_step_pos = 0;
    g_then = then;
    g_then_display = display;
    pthread_mutex_unlock(&g_lock);
    return true;
}

/* Under g_lock: the step for the next chat request (new reference). */
static json_t *script_next_locked(void)
{
    while (g_step_pos < json_array_size(g_steps)) {
        json_t *step = json_array_get(g_steps, g_step_pos);
        json_int_t left = json_integer_value(json_object_get(step, "count"));
        if (left <= 0) {
            g_step_pos++;
            continue;
        }
        json_t *copy = json_copy(step);
        json_object_del(copy, "count");
        json_object_set_new(step, "count", json_integer(left - 1));
        if (left - 1 <= 0)
            g_step_pos++;
        return copy;
    }
    return json_copy(g_then);
}

/* Under g_lock: the remaining script. */
static json_t *script_show_locked(void)
{
    json_t *rest = json_array();
    for (size_t i = g_step_pos; i < json_array_size(g_steps); i++) {
        json_t *step = json_array_get(g_steps, i);
        if (json_integer_value(json_object_get(step, "count")) > 0)
            json_array_append_new(rest, json_deep_copy(step));
    }
    return json_pack("{s:o, s:O, s:I}", "steps", rest, "then", g_then_display, "chat_requests",
                     (json_int_t)g_chat_requests);
}

/* ------------------------------------------------------------------------ */
/* The "good" analyst                                                         */

typedef struct finding {
    size_t errors, fatals, auths, flagged;
    json_t *error_evidence; /* array of strings */
    json_t *auth_evidence;
} finding;

static bool starts_with(const char *p, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(p, prefix, n) == 0;
}

/* The nonce after "nonce=" in a marker line: [A-Za-z0-9_-]+. */
static size_t nonce_at(const char *line, size_t len, const char *prefix, const char **nonce)
{
    size_t off = strlen(prefix);
    if (!starts_with(line, len, prefix))
        return 0;
    *nonce = line + off;
    size_t n = 0;
    while (off + n < len) {
        char c = line[off + n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-'))
            break;
        n++;
    }
    return n;
}

static bool mem_contains(const char *hay, size_t len, const char *needle, bool nocase)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (nocase ? strncasecmp(hay + i, needle, n) == 0 : memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

static bool token_is(const char *tok, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && strncasecmp(tok, *words, len) == 0)
            return true;
    return false;
}

static bool is_auth_text(const char *p, size_t len)
{
    return mem_contains(p, len, "Failed password", false) || mem_contains(p, len, "authentication failure", true);
}

/* One entry "[12] 2026-...Z LEVEL message": rest points at the timestamp. */
typedef struct entry {
    const char *rest;
    size_t rest_len;
    bool error, fatal, auth;
    bool open;
    long weight;          /* lines it stands for: 1, or a digest template's count */
    bool want_exemplar;   /* a digest template: its first exemplar line becomes the evidence */
} entry;

static void entry_flush(entry *e, finding *f)
{
    if (!e->open)
        return;
    e->open = false;
    json_t *line = json_stringn(e->rest, e->rest_len);
    if (e->error || e->fatal) {
        f->errors += e->weight;
        if (e->fatal)
            f->fatals += e->weight;
        if (line && json_array_size(f->error_evidence) < MAX_EVIDENCE)
            json_array_append(f->error_evidence, line);
    }
    if (e->auth) {
        f->auths += e->weight;
        if (line && json_array_size(f->auth_evidence) < MAX_EVIDENCE)
            json_array_append(f->auth_evidence, line);
    }
    if (e->error || e->fatal || e->auth)
        f->flagged += e->weight;
    json_decref(line);
}

static void entry_start(entry *e, const char *rest, size_t len)
{
    static const char *const error_words[] = {"ERROR", "ERR", NULL};
    static const char *const fatal_words[] = {"FATAL", "CRITICAL", "CRIT", "EMERG", "EMERGENCY", "ALERT", "PANIC", NULL};
    e->open = true;
    e->rest = rest;
    e->rest_len = len;
    e->weight = 1;
    e->want_exemplar = false;
    e->error = e->fatal = false;
    e->auth = is_auth_text(rest, len);

    /* first token: the timestamp when it starts with a digit; next: the level */
    size_t i = 0;
    while (i < len && rest[i] == ' ')
        i++;
    if (i < len && rest[i] >= '0' && rest[i] <= '9') {
        while (i < len && rest[i] != ' ')
            i++;
        while (i < len && rest[i] == ' ')
            i++;
    }
    size_t t0 = i;
    while (i < len && rest[i] != ' ')
        i++;
    const char *tok = rest + t0;
    size_t tlen = i - t0;
    if (tlen >= 2 && tok[0] == '[' && tok[tlen - 1] == ']') {
        tok++;
        tlen -= 2;
    } else if (tlen >= 1 && tok[tlen - 1] == ':') {
        tlen--;
    }
    if (token_is(tok, tlen, error_words))
        e->error = true;
    else if (token_is(tok, tlen, fatal_words))
        e->fatal = true;
}

/* "[digits] " prefix: returns its length, or 0. */
static size_t index_prefix(const char *line, size_t len)
{
    if (len < 3 || line[0] != '[')
        return 0;
    size_t i = 1;
    while (i < len && line[i] >= '0' && line[i] <= '9')
        i++;
    if (i == 1 || i >= len || line[i] != ']')
        return 0;
    i++;
    if (i < len && line[i] == ' ')
        i++;
    return i;
}

/* "T<digits> <level> x<count> ...: text": returns the offset of text (0 when not such a line). */
static size_t digest_template_line(const char *line, size_t len, long *count)
{
    size_t i = 1;
    if (len < 4 || line[0] != 'T' || !(line[1] >= '0' && line[1] <= '9'))
        return 0;
    while (i < len && line[i] >= '0' && line[i] <= '9')
        i++;
    if (i >= len || line[i] != ' ')
        return 0;
    i++;
    while (i < len && line[i] != ' ')
        i++; /* level */
    if (i + 2 >= len || line[i + 1] != 'x')
        return 0;
    i += 2;
    long n = 0;
    while (i < len && line[i] >= '0' && line[i] <= '9')
        n = n * 10 + (line[i++] - '0');
    const char *colon = memmem(line + i, len - i, ": ", 2);
    if (!colon)
        return 0;
    *count = n;
    return (size_t)(colon - line) + 2;
}

static void scan_logs(const char *text, size_t len, finding *f)
{
    const char *nonce = NULL;
    size_t nonce_len = 0;
    bool inside = false;
    entry e = {0};
    size_t pos = 0;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        if (!inside) {
            const char *n;
            size_t nl_len = nonce_at(line, ll, "<<<LOGS nonce=", &n);
            if (nl_len > 0) {
                nonce = n;
                nonce_len = nl_len;
                inside = true;
            }
            continue;
        }
        const char *n;
        size_t el = nonce_at(line, ll, "<<<END LOGS nonce=", &n);
        if (el > 0 && el == nonce_len && memcmp(n, nonce, el) == 0) {
            entry_flush(&e, f);
            inside = false;
            continue;
        }
        size_t pre = index_prefix(line, ll);
        long count = 0;
        size_t text_at = 0;
        if (pre > 0) {
            entry_flush(&e, f);
            entry_start(&e, line + pre, ll - pre);
        } else if ((text_at = digest_template_line(line, ll, &count)) > 0) {
            /* a digest's "T12 error x40 10:00..10:04 ...: text" stands for count lines */
            entry_flush(&e, f);
            entry_start(&e, line + 1 + strcspn(line + 1, " "), ll - 1 - strcspn(line + 1, " "));
            e.auth = is_auth_text(line + text_at, ll - text_at);
            e.weight = count;
            e.want_exemplar = true;
        } else if (e.open && e.want_exemplar && ll > 5 && memcmp(line, "    ", 4) == 0 && line[4] >= '0' &&
                   line[4] <= '9') {
            e.rest = line + 4; /* the template's first exemplar: the evidence line */
            e.rest_len = ll - 4;
            e.auth = e.auth || is_auth_text(line, ll);
            e.want_exemplar = false;
        } else if (e.open && is_auth_text(line, ll)) {
            e.auth = true; /* continuation line of a multi-line message */
        }
    }
    entry_flush(&e, f);
}

/* Adds the text of one message content (string or array of parts). */
static void content_text(const json_t *content, void (*fn)(const char *, size_t, void *), void *arg)
{
    if (json_is_string(content)) {
        fn(json_string_value(content), json_string_length(content), arg);
    } else if (json_is_array(content)) {
        size_t i;
        const json_t *part;
        json_array_foreach(content, i, part) {
            const json_t *t = json_object_get(part, "text");
            if (json_is_string(t))
                fn(json_string_value(t), json_string_length(t), arg);
        }
    }
}

static void count_bytes(const char *s, size_t len, void *arg)
{
    (void)s;
    *(size_t *)arg += len;
}

static void scan_part(const char *s, size_t len, void *arg)
{
    scan_logs(s, len, arg);
}

/* The verdict of the "good" analyst for a request's messages (new object). */
static json_t *good_verdict(const json_t *messages)
{
    finding f = {0};
    f.error_evidence = json_array();
    f.auth_evidence = json_array();
    size_t i;
    const json_t *m;
    bool any_user = false;
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && strcmp(role, "user") == 0)
            any_user = true;
    }
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (any_user && !(role && strcmp(role, "user") == 0))
            continue;
        content_text(json_object_get(m, "content"), scan_part, &f);
    }

    json_t *anomalies = json_array();
    const char *health = "normal";
    if (f.flagged > 0)
        health = (f.flagged >= 10 || f.fatals > 0) ? "critical" : "degraded";
    char summary[96];
    if (f.errors > 0) {
        snprintf(summary, sizeof summary, "%zu error lines in window", f.errors);
        json_array_append_new(anomalies,
                              json_pack("{s:s, s:s, s:s, s:O, s:s}", "severity", f.fatals > 0 ? "critical" : "high",
                                        "type", "error_spike", "summary", summary, "evidence", f.error_evidence,
                                        "recommended_action", "Inspect the failing component"));
    }
    if (f.auths > 0) {
        snprintf(summary, sizeof summary, "%zu failed authentication lines in window", f.auths);
        json_array_append_new(anomalies,
                              json_pack("{s:s, s:s, s:s, s:O, s:s}", "severity", "high", "type", "auth_failure",
                                        "summary", summary, "evidence", f.auth_evidence, "recommended_action",
                                        "Check the source addresses and block brute-force attempts"));
    }
    json_decref(f.error_evidence);
    json_decref(f.auth_evidence);
    return json_pack("{s:s, s:o}", "health", health, "anomalies", anomalies);
}

/* ------------------------------------------------------------------------ */
/* HTTP plumbing                                                              */

typedef struct request {
    char *body;
    size_t len, cap;
    bool too_large;
    bool answered; /* a response was queued early (413 on Content-Length) */
} request;

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *ctype, const char *body,
                                size_t len, const char *retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (retry_after)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* Sends obj (stolen) as JSON. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *obj, const char *retry_after)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(obj);
    if (!s)
        return MHD_NO;
    enum MHD_Result rc = send_buf(c, status, "application/json", s, strlen(s), retry_after);
    free(s);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *type, const char *msg)
{
    return send_json(c, status, json_pack("{s:{s:s, s:s}}", "error", "message", msg, "type", type), NULL);
}

enum wait_rc { WAIT_DONE, WAIT_STOP, WAIT_GONE };

/* Sleeps ms in small slices; stops early on shutdown or when the client hangs up. */
static enum wait_rc wait_ms(struct MHD_Connection *c, long ms)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    int64_t end = mono_ms() + ms;
    for (;;) {
        if (atomic_load(&g_stop))
            return WAIT_STOP;
        int64_t left = end - mono_ms();
        if (left <= 0)
            return WAIT_DONE;
        long slice = left < POLL_SLICE_MS ? (long)left : POLL_SLICE_MS;
        if (fd < 0) {
            sleep_ms(slice);
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
        int rc = poll(&p, 1, (int)slice);
        if (rc <= 0)
            continue;
        if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
            return WAIT_GONE;
        if (p.revents & POLLIN) {
            char b;
            ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                return WAIT_GONE;
            sleep_ms(slice); /* pipelined bytes: nothing to do but wait */
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Chat completions                                                           */

static void append_str(char **buf, size_t *len, const char *s, size_t n)
{
    char *nb = realloc(*buf, *len + n + 1);
    if (!nb)
        abort();
    memcpy(nb + *len, s, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
}

static void append_cstr(char **buf, size_t *len, const char *s)
{
    append_str(buf, len, s, strlen(s));
}

/* Raw bytes as a JSON string; invalid UTF-8 bytes become '?'. */
static json_t *raw_string(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j)
        return j;
    char *copy = malloc(len + 1);
    if (!copy)
        return json_null();
    for (size_t i = 0; i < len; i++)
        copy[i] = (s[i] & 0x80) || s[i] == '\0' ? '?' : s[i];
    j = json_stringn(copy, len);
    free(copy);
    return j ? j : json_null();
}

static json_t *header_or_null(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    return v ? raw_string(v, strlen(v)) : json_null();
}

static enum MHD_Result send_completion(struct MHD_Connection *c, long n, const json_t *body, const char *content,
                                       size_t content_len)
{
    const char *model = json_string_value(json_object_get(body, "model"));
    size_t prompt_bytes = 0;
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(body, "messages"), i, m) {
        content_text(json_object_get(m, "content"), count_bytes, &prompt_bytes);
    }
    json_int_t p = (json_int_t)(prompt_bytes / 4), cc = (json_int_t)(content_len / 4);
    char id[48];
    snprintf(id, sizeof id, "chatcmpl-fake-%ld", n);
    json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content", raw_string(content, content_len));
    json_t *env = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s}], s:{s:I, s:I, s:I}}", "id", id, "object",
                            "chat.completion", "created", (json_int_t)time(NULL), "model", model ? model : "fake",
                            "choices", "index", 0, "message", msg, "finish_reason", "stop", "usage",
                            "prompt_tokens", p, "completion_tokens", cc, "total_tokens", p + cc);
    return send_json(c, MHD_HTTP_OK, env, NULL);
}

/* Largest length <= len that does not split a UTF-8 sequence. */
static size_t utf8_floor(const char *s, size_t len)
{
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    return len;
}

static bool ends_with(const char *s, const char *suffix);

/* ------------------------------------------------------------------------ */
/* Server emulation                                                           */
/*
 * POST /_server (or --server JSON) makes the fake behave as one real model
 * server does at the edge of its context; GET /_server shows the settings.
 * Fields: "kind" openai (the default: no limits, as above) | ollama |
 * llamacpp | vllm; "ctx" the server's context in tokens (Ollama: the default
 * its OpenAI endpoint always uses, and /api/chat without options.num_ctx;
 * llama.cpp: n_ctx; vLLM: max_model_len; default 4096); "model_ctx" the
 * model's own limit (Ollama /api/show, default 131072); "bytes_per_token"
 * (default 2.3: log text tokenises badly, so this counts conservatively);
 * "models" the names present (default: any); "reasoning" none | think
 * (<think>…</think> with braces before the JSON) | field (reasoning_content,
 * or Ollama's message.thinking); "loaded" (Ollama /api/ps lists the model);
 * "native": false hides every endpoint but the OpenAI ones (a proxy).
 *
 * Tokens of a prompt = ceil(bytes of every message content / bytes_per_token)
 * + 4 per message. What each server does past its context:
 *  - ollama: the OpenAI endpoint ignores num_ctx and any option, and keeps the
 *    prompt's END: the beginning (system prompt first) is cut silently so that
 *    ctx tokens remain, and usage.prompt_tokens says ctx. /api/chat honours
 *    options.num_ctx (up to model_ctx), cuts the same way past it, turns
 *    thinking off on think:false, and refuses "think" for a model without the
 *    capability (400), as Ollama does;
 *  - llamacpp: 400 exceed_context_size_error when the prompt is over n_ctx;
 *    an answer past n_ctx stops with finish_reason "length";
 *  - vllm: 400 naming max_model_len when prompt + max_tokens is over it.
 * Every server stops an answer at max_tokens (num_predict) with "length".
 * Each recorded request carries "emulation": {kind, ctx, tokens (counted
 * before any cut), prompt_tokens (after), cut, rejected, finish_reason}.
 */

static json_t *g_server; /* settings; NULL: openai */

#define REASONING_TEXT                                                                                                 \
    "Okay, the user wants a verdict. Let me look at the digest. The schema is {\"health\": ..., "                      \
    "\"anomalies\": [{\"severity\": ...}]} so I need braces like {this}. REASONING-MARK-7f3a: errors seen, "           \
    "maybe {\"health\":\"critical\"}? No, let me count again before answering."

typedef struct emul {
    const char *kind;   /* "openai", "ollama", "llamacpp", "vllm" */
    long ctx;           /* effective context of this request; 0: none */
    double bpt;
    long tokens;        /* counted before any cut */
    long prompt_tokens; /* after the cut */
    long max_answer;    /* answer tokens allowed (max_tokens / num_predict / room); -1: no limit */
    bool cut;
    bool think_off;     /* native think:false */
    const char *reasoning; /* "none", "think", "field" */
    json_t *messages;   /* what the model reads (after the cut); new reference */
    json_t *reject;     /* an error answer instead (status in reject_status); new reference */
    unsigned reject_status;
} emul;

static const char *srv_str(const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(g_server, key));
    return v ? v : def;
}

static long srv_long(const char *key, long def)
{
    json_t *v = json_object_get(g_server, key);
    return json_is_integer(v) ? (long)json_integer_value(v) : def;
}

static bool server_set(const json_t *body, char *err, size_t errlen)
{
    static const char *const kinds[] = {"openai", "ollama", "llamacpp", "vllm", NULL};
    static const char *const reasonings[] = {"none", "think", "field", NULL};
    if (!json_is_object(body)) {
        snprintf(err, errlen, "the server settings must be a JSON object");
        return false;
    }
    const char *kind = json_string_value(json_object_get(body, "kind"));
    const char *reasoning = json_string_value(json_object_get(body, "reasoning"));
    bool ok = !kind;
    for (size_t i = 0; kind && kinds[i]; i++)
        ok |= strcmp(kind, kinds[i]) == 0;
    if (!ok) {
        snprintf(err, errlen, "\"kind\" must be openai, ollama, llamacpp or vllm");
        return false;
    }
    ok = !reasoning;
    for (size_t i = 0; reasoning && reasonings[i]; i++)
        ok |= strcmp(reasoning, reasonings[i]) == 0;
    if (!ok) {
        snprintf(err, errlen, "\"reasoning\" must be none, think or field");
        return false;
    }
    json_t *bpt = json_object_get(body, "bytes_per_token");
    if (bpt && (!json_is_number(bpt) || json_number_value(bpt) < 0.5 || json_number_value(bpt) > 16)) {
        snprintf(err, errlen, "\"bytes_per_token\" must be a number in [0.5, 16]");
        return false;
    }
    json_int_t v = 0;
    if (!get_nonneg_int(body, "ctx", &v, err, errlen) || !get_nonneg_int(body, "model_ctx", &v, err, errlen))
        return false;
    json_t *models = json_object_get(body, "models");
    if (models && !json_is_array(models)) {
        snprintf(err, errlen, "\"models\" must be an array of names");
        return false;
    }
    pthread_mutex_lock(&g_lock);
    json_decref(g_server);
    g_server = json_deep_copy(body);
    pthread_mutex_unlock(&g_lock);
    return true;
}

/* "llama3.2" names "llama3.2:latest" too, as on Ollama. Under g_lock. */
static bool model_present_locked(const char *model)
{
    json_t *models = json_object_get(g_server, "models");
    if (!models)
        return true;
    if (!model)
        return false;
    size_t i, n = strlen(model);
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *s = json_string_value(m);
        if (!s)
            continue;
        if (strcmp(s, model) == 0 || (strncmp(s, model, n) == 0 && strcmp(s + n, ":latest") == 0) ||
            (strncmp(model, s, strlen(s)) == 0 && strcmp(model + strlen(s), ":latest") == 0))
            return true;
    }
    return false;
}

static long tokens_of(size_t bytes, double bpt)
{
    return (long)((double)bytes / bpt + 0.999999);
}

static size_t content_len(const json_t *m)
{
    size_t n = 0;
    content_text(json_object_get(m, "content"), count_bytes, &n);
    return n;
}

/*
 * Under g_lock: what the emulated server makes of this request. native is
 * Ollama's /api/chat. Fills e; e->reject set when it refuses.
 */
static void emulate_locked(const json_t *body, bool native, emul *e)
{
    memset(e, 0, sizeof *e);
    e->kind = srv_str("kind", "openai");
    e->bpt = json_is_number(json_object_get(g_server, "bytes_per_token"))
                 ? json_number_value(json_object_get(g_server, "bytes_per_token"))
                 : 2.3;
    e->reasoning = srv_str("reasoning", "none");
    e->max_answer = -1;
    const json_t *messages = json_object_get(body, "messages");
    size_t bytes = 0, i;
    const json_t *m;
    json_array_foreach(messages, i, m) bytes += content_len(m);
    e->tokens = tokens_of(bytes, e->bpt) + 4 * (long)json_array_size(messages);
    e->prompt_tokens = e->tokens;
    e->messages = json_incref((json_t *)messages);
    bool openai = strcmp(e->kind, "openai") == 0;
    if (openai)
        return;

    const char *model = json_string_value(json_object_get(body, "model"));
    if (!model_present_locked(model)) {
        char msg[300];
        e->reject_status = 404;
        if (strcmp(e->kind, "ollama") == 0) {
            snprintf(msg, sizeof msg, "model \"%.200s\" not found, try pulling it first", model ? model : "");
            e->reject = native ? json_pack("{s:s}", "error", msg)
                               : json_pack("{s:{s:s, s:s, s:n}}", "error", "message", msg, "type", "api_error", "param");
        } else {
            snprintf(msg, sizeof msg, "The model `%.200s` does not exist.", model ? model : "");
            e->reject = json_pack("{s:s, s:s, s:s, s:i}", "object", "error", "message", msg, "type", "NotFoundError",
                                  "code", 404);
        }
        return;
    }
    e->ctx = srv_long("ctx", 4096);
    json_t *mt = json_object_get(body, native ? "options" : "max_tokens");
    if (native)
        mt = json_object_get(mt, "num_predict");
    if (json_is_integer(mt) && json_integer_value(mt) > 0)
        e->max_answer = (long)json_integer_value(mt);
    if (!native && json_is_integer(json_object_get(body, "max_completion_tokens")))
        e->max_answer = (long)json_integer_value(json_object_get(body, "max_completion_tokens"));

    if (strcmp(e->kind, "ollama") == 0) {
        if (native) {
            json_t *nc = json_object_get(json_object_get(body, "options"), "num_ctx");
            if (json_is_integer(nc) && json_integer_value(nc) > 0) {
                long model_ctx = srv_long("model_ctx", 131072);
                e->ctx = (long)json_integer_value(nc) < model_ctx ? (long)json_integer_value(nc) : model_ctx;
            }
            json_t *think = json_object_get(body, "think");
            if (think && strcmp(e->reasoning, "none") == 0) {
                char msg[300];
                snprintf(msg, sizeof msg, "\"%.200s\" does not support thinking", model ? model : "");
                e->reject_status = 400;
                e->reject = json_pack("{s:s}", "error", msg);
                return;
            }
            e->think_off = json_is_false(think);
        }
        if (e->tokens > e->ctx) {
            /* keep the end: drop whole messages, then the front of the first one kept */
            double keep_bytes = (double)(e->ctx - 4 * (long)json_array_size(messages)) * e->bpt;
            json_t *cut = json_array();
            size_t n = json_array_size(messages), k;
            double tail = 0;
            for (k = n; k > 0; k--) {
                double len = (double)content_len(json_array_get(messages, k - 1));
                if (tail + len > keep_bytes)
                    break;
                tail += len;
            }
            for (size_t j = k > 0 ? k - 1 : 0; j < n; j++) {
                json_t *msg = json_deep_copy(json_array_get(messages, j));
                json_t *c = json_object_get(msg, "content");
                if (j + 1 == k && json_is_string(c)) {
                    size_t len = json_string_length(c);
                    size_t want = keep_bytes - tail > 0 ? (size_t)(keep_bytes - tail) : 0;
                    size_t from = len > want ? len - want : 0;
                    while (from < len && ((unsigned char)json_string_value(c)[from] & 0xC0) == 0x80)
                        from++;
                    json_object_set_new(msg, "content", json_stringn(json_string_value(c) + from, len - from));
                }
                json_array_append_new(cut, msg);
            }
            json_decref(e->messages);
            e->messages = cut;
            e->cut = true;
            e->prompt_tokens = e->ctx;
        }
        return;
    }
    if (strcmp(e->kind, "llamacpp") == 0) {
        if (e->tokens > e->ctx) {
            e->reject_status = 400;
            e->reject = json_pack("{s:{s:i, s:s, s:s, s:I, s:I}}", "error", "code", 400, "message",
                                  "the request exceeds the available context size, try increasing it", "type",
                                  "exceed_context_size_error", "n_prompt_tokens", (json_int_t)e->tokens, "n_ctx",
                                  (json_int_t)e->ctx);
            return;
        }
        long room = e->ctx - e->tokens;
        if (e->max_answer < 0 || e->max_answer > room)
            e->max_answer = room;
        return;
    }
    /* vllm: max_tokens defaults to what the context leaves */
    long want = e->max_answer > 0 ? e->max_answer : 0;
    if (e->tokens + want > e->ctx || e->tokens >= e->ctx) {
        char msg[400];
        if (want > 0)
            snprintf(msg, sizeof msg,
                     "This model's maximum context length is %ld tokens. However, you requested %ld tokens (%ld in "
                     "the messages, %ld in the completion). Please reduce the length of the messages or completion.",
                     e->ctx, e->tokens + want, e->tokens, want);
        else
            snprintf(msg, sizeof msg,
                     "This model's maximum context length is %ld tokens. However, your request has %ld input tokens. "
                     "Please reduce the length of the input messages.",
                     e->ctx, e->tokens);
        e->reject_status = 400;
        e->reject = json_pack("{s:s, s:s, s:s, s:n, s:i}", "object", "error", "message", msg, "type",
                              "BadRequestError", "param", "code", 400);
        return;
    }
    if (e->max_answer < 0)
        e->max_answer = e->ctx - e->tokens;
}

static json_t *emul_record(const emul *e, const char *finish)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:b, s:b, s:s?}", "kind", e->kind, "ctx", (json_int_t)e->ctx, "tokens",
                     (json_int_t)e->tokens, "prompt_tokens", (json_int_t)e->prompt_tokens, "cut", e->cut, "rejected",
                     e->reject != NULL, "finish_reason", finish);
}

/*
 * The answer of an emulated server: the verdict text, preceded by reasoning
 * as the server gives it, stopped at e->max_answer tokens. Sends it in the
 * OpenAI envelope, or Ollama's native one.
 */
static enum MHD_Result send_emulated(struct MHD_Connection *c, long n, const json_t *body, const emul *e,
                                     const char *verdict, bool native, const char **finish_out)
{
    const char *model = json_string_value(json_object_get(body, "model"));
    bool reasoning = strcmp(e->reasoning, "none") != 0 && !e->think_off;
    bool inline_think = reasoning && strcmp(e->reasoning, "think") == 0;
    char *content = NULL, *thinking = NULL;
    size_t clen = 0, tlen = 0;
    if (inline_think) {
        append_cstr(&content, &clen, "<think>\n" REASONING_TEXT "\n</think>\n\n");
    } else if (reasoning) {
        append_cstr(&thinking, &tlen, REASONING_TEXT);
    }
    append_cstr(&content, &clen, verdict);
    const char *finish = "stop";
    long answer_tokens = tokens_of(clen + tlen, e->bpt);
    if (e->max_answer >= 0 && answer_tokens > e->max_answer) {
        size_t keep = (size_t)((double)e->max_answer * e->bpt);
        if (keep < tlen) {
            tlen = utf8_floor(thinking, keep);
            clen = 0;
        } else {
            clen = utf8_floor(content, keep - tlen < clen ? keep - tlen : clen);
        }
        answer_tokens = e->max_answer;
        finish = "length";
    }
    *finish_out = finish;
    json_t *ct = raw_string(content ? content : "", clen);
    json_t *env;
    if (native) {
        json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content", ct);
        if (thinking)
            json_object_set_new(msg, "thinking", raw_string(thinking, tlen));
        env = json_pack("{s:s, s:s, s:o, s:b, s:s, s:I, s:I, s:I}", "model", model ? model : "fake", "created_at",
                        "2026-12-06T12:00:00Z", "message", msg, "done", 1, "done_reason", finish, "total_duration",
                        (json_int_t)1000000, "prompt_eval_count", (json_int_t)e->prompt_tokens, "eval_count",
                        (json_int_t)answer_tokens);
    } else {
        json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content", ct);
        if (thinking)
            json_object_set_new(msg, strcmp(e->kind, "ollama") == 0 ? "reasoning" : "reasoning_content",
                                raw_string(thinking, tlen));
        char id[48];
        snprintf(id, sizeof id, "chatcmpl-fake-%ld", n);
        env = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s}], s:{s:I, s:I, s:I}}", "id", id, "object",
                        "chat.completion", "created", (json_int_t)time(NULL), "model", model ? model : "fake", "choices",
                        "index", 0, "message", msg, "finish_reason", finish, "usage", "prompt_tokens",
                        (json_int_t)e->prompt_tokens, "completion_tokens", (json_int_t)answer_tokens, "total_tokens",
                        (json_int_t)(e->prompt_tokens + answer_tokens));
    }
    free(content);
    free(thinking);
    return send_json(c, MHD_HTTP_OK, env, NULL);
}

/* GET/POST endpoints an emulated server has besides chat; MHD_NO when url is none of them. */
static bool emulated_info(struct MHD_Connection *c, const char *url, bool get, bool post, const request *rq,
                          enum MHD_Result *rc)
{
    pthread_mutex_lock(&g_lock);
    const char *kind = srv_str("kind", "openai");
    json_t *answer = NULL;
    unsigned status = MHD_HTTP_OK;
    long ctx = srv_long("ctx", 4096), model_ctx = srv_long("model_ctx", 131072);
    json_t *models = json_object_get(g_server, "models");
    const char *first = json_string_value(json_array_get(models, 0));
    bool thinking = strcmp(srv_str("reasoning", "none"), "none") != 0;
    if (json_is_false(json_object_get(g_server, "native"))) {
        /* behind a proxy that passes only the OpenAI API */
    } else if (strcmp(kind, "ollama") == 0) {
        if (get && strcmp(url, "/api/version") == 0) {
            answer = json_pack("{s:s}", "version", "0.12.3");
        } else if (get && strcmp(url, "/api/tags") == 0) {
            json_t *list = json_array();
            size_t i;
            json_t *m;
            json_array_foreach(models, i, m) json_array_append_new(
                list, json_pack("{s:O, s:O, s:I}", "name", m, "model", m, "size", (json_int_t)2019393189));
            answer = json_pack("{s:o}", "models", list);
        } else if (get && strcmp(url, "/api/ps") == 0) {
            json_t *list = json_array();
            if (first && json_is_true(json_object_get(g_server, "loaded")))
                json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:I}", "name", first, "model", first, "size",
                                                      (json_int_t)3500000000, "context_length", (json_int_t)ctx));
            answer = json_pack("{s:o}", "models", list);
        } else if (post && strcmp(url, "/api/show") == 0) {
            json_t *b = json_loadb(rq->body ? rq->body : "", rq->len, 0, NULL);
            const char *model = json_string_value(json_object_get(b, "model"));
            if (!model)
                model = json_string_value(json_object_get(b, "name"));
            if (!model_present_locked(model)) {
                char msg[300];
                snprintf(msg, sizeof msg, "model '%.200s' not found", model ? model : "");
                status = MHD_HTTP_NOT_FOUND;
                answer = json_pack("{s:s}", "error", msg);
            } else {
                json_t *caps = thinking ? json_pack("[s,s]", "completion", "thinking") : json_pack("[s,s]",
                                                                                                 "completion", "tools");
                answer = json_pack("{s:{s:s, s:s}, s:{s:s, s:I}, s:o}", "details", "family", "llama",
                                   "parameter_size", "3.2B", "model_info", "general.architecture", "llama",
                                   "llama.context_length", (json_int_t)model_ctx, "capabilities", caps);
            }
            json_decref(b);
        }
    } else if (strcmp(kind, "llamacpp") == 0) {
        if (get && strcmp(url, "/props") == 0)
            answer = json_pack("{s:{s:I, s:I}, s:i, s:s, s:s}", "default_generation_settings", "n_ctx",
                               (json_int_t)ctx, "n_predict", (json_int_t)-1, "total_slots", 1, "model_path",
                               "/models/fake.gguf", "build_info", "b6000-fake");
        else if (get && strcmp(url, "/health") == 0)
            answer = json_pack("{s:s}", "status", "ok");
        else if (get && ends_with(url, "/models"))
            answer = json_pack("{s:s, s:[{s:s, s:s, s:s, s:{s:I}}]}", "object", "list", "data", "id",
                               first ? first : "fake", "object", "model", "owned_by", "llamacpp", "meta",
                               "n_ctx_train", (json_int_t)model_ctx);
    } else if (strcmp(kind, "vllm") == 0) {
        if (get && ends_with(url, "/models"))
            answer = json_pack("{s:s, s:[{s:s, s:s, s:s, s:s, s:I}]}", "object", "list", "data", "id",
                               first ? first : "fake", "object", "model", "owned_by", "vllm", "root",
                               first ? first : "fake", "max_model_len", (json_int_t)ctx);
    }
    pthread_mutex_unlock(&g_lock);
    if (!answer)
        return false;
    *rc = send_json(c, status, answer, NULL);
    return true;
}

static enum MHD_Result handle_chat(struct MHD_Connection *c, const char *path, const request *rq, bool native)
{
    json_error_t jerr;
    json_t *body = rq->len ? json_loadb(rq->body, rq->len, JSON_DECODE_ANY, &jerr) : NULL;

    json_t *rec = json_object();
    json_object_set_new(rec, "path", json_string(path));
    json_object_set_new(rec, "authorization", header_or_null(c, MHD_HTTP_HEADER_AUTHORIZATION));
    json_object_set_new(rec, "content_type", header_or_null(c, MHD_HTTP_HEADER_CONTENT_TYPE));
    json_object_set_new(rec, "body", body ? json_incref(body) : raw_string(rq->body ? rq->body : "", rq->len));
    json_object_set_new(rec, "received_at_ms", json_integer(now_ms()));

    pthread_mutex_lock(&g_lock);
    long n = ++g_chat_requests;
    json_t *step = script_next_locked();
    json_object_set_new(rec, "index", json_integer(n));
    json_object_set(rec, "mode", json_object_get(step, "mode"));
    emul em;
    emulate_locked(body, native, &em);
    json_object_set_new(rec, "emulation", emul_record(&em, NULL));
    json_incref(rec); /* kept to note the finish reason once answered */
    json_array_append_new(g_requests, rec);
    while (json_array_size(g_requests) > MAX_RECORDED)
        json_array_remove(g_requests, 0);
    pthread_mutex_unlock(&g_lock);

    const char *mode = json_string_value(json_object_get(step, "mode"));
    vlog("chat #%ld %s mode=%s", n, path, mode);
    enum MHD_Result rc = MHD_NO;
    json_t *delay_j = json_object_get(step, "delay_ms");
    long delay = strcmp(mode, "slow") == 0 ? SLOW_DEFAULT_MS : 0;
    if (json_is_integer(delay_j))
        delay = json_integer_value(delay_j) > LONG_MAX / 2 ? LONG_MAX / 2 : (long)json_integer_value(delay_j);

    if (strcmp(mode, "hang") == 0) {
        enum wait_rc w = wait_ms(c, HANG_MAX_MS);
        vlog("chat #%ld hang ended: %s", n, w == WAIT_GONE ? "client gone" : w == WAIT_STOP ? "shutdown" : "60 s");
        goto out; /* MHD_NO: close without an answer */
    }
    if (delay > 0) {
        enum wait_rc w = wait_ms(c, delay);
        if (w != WAIT_DONE) {
            vlog("chat #%ld delay ended early: %s", n, w == WAIT_GONE ? "client gone" : "shutdown");
            goto out;
        }
    }
    if (strcmp(mode, "close") == 0)
        goto out;
    if (strcmp(mode, "status") == 0) {
        json_t *st = json_object_get(step, "status");
        unsigned status = json_is_integer(st) ? (unsigned)json_integer_value(st) : 500;
        const json_t *ra = json_object_get(step, "retry_after");
        char rabuf[32];
        const char *retry = NULL;
        if (json_is_integer(ra)) {
            snprintf(rabuf, sizeof rabuf, "%" JSON_INTEGER_FORMAT, json_integer_value(ra));
            retry = rabuf;
        } else if (json_is_string(ra)) {
            retry = json_string_value(ra);
        }
        rc = send_json(c, status, json_pack("{s:{s:s, s:s}}", "error", "message", "fake error", "type", "fake"),
                       retry);
        goto out;
    }
    if (strcmp(mode, "not_json") == 0) {
        static const char html[] = "<html>oops</html>";
        rc = send_buf(c, MHD_HTTP_OK, "text/html", html, sizeof html - 1, NULL);
        goto out;
    }
    if (strcmp(mode, "empty_choices") == 0) {
        rc = send_json(c, MHD_HTTP_OK, json_pack("{s:[]}", "choices"), NULL);
        goto out;
    }
    if (strcmp(mode, "garbage") == 0) {
        static const char g[] = "I cannot help with that.";
        rc = send_completion(c, n, body, g, sizeof g - 1);
        goto out;
    }
    if (strcmp(mode, "wrong_schema") == 0) {
        static const char w[] = "{\"health\":\"sick\",\"anomalies\":[{\"severity\":\"urgent\",\"type\":\"boom\"}]}";
        rc = send_completion(c, n, body, w, sizeof w - 1);
        goto out;
    }
    if (strcmp(mode, "fixed") == 0) {
        const json_t *fc = json_object_get(step, "content");
        rc = send_completion(c, n, body, json_string_value(fc), json_string_length(fc));
        goto out;
    }

    /* good, fenced, prose, truncated, slow: the analyst's verdict */
    const json_t *messages = json_object_get(body, "messages");
    if (!json_is_array(messages)) {
        rc = send_error(c, MHD_HTTP_BAD_REQUEST, "invalid_request_error",
                        body ? "\"messages\" must be an array" : "the body is not JSON");
        goto out;
    }
    if (em.reject) {
        rc = send_json(c, em.reject_status, json_incref(em.reject), NULL);
        goto out;
    }
    if (native || (strcmp(em.kind, "openai") != 0 && (strcmp(mode, "good") == 0 || strcmp(mode, "slow") == 0))) {
        /* an emulated server: the analyst reads what is left after the server's cut */
        json_t *v = good_verdict(em.messages);
        char *text = json_dumps(v, JSON_COMPACT);
        json_decref(v);
        const char *finish = "stop";
        rc = text ? send_emulated(c, n, body, &em, text, native, &finish) : MHD_NO;
        free(text);
        pthread_mutex_lock(&g_lock);
        json_object_set_new(json_object_get(rec, "emulation"), "finish_reason", json_string(finish));
        pthread_mutex_unlock(&g_lock);
        goto out;
    }
    json_t *verdict = good_verdict(messages);
    char *vs = json_dumps(verdict, JSON_COMPACT);
    json_decref(verdict);
    if (!vs)
        goto out;
    char *content = NULL;
    size_t clen = 0;
    if (strcmp(mode, "fenced") == 0) {
        append_cstr(&content, &clen, "Here is my analysis:\n```json\n");
        append_str(&content, &clen, vs, strlen(vs));
        append_cstr(&content, &clen, "\n```\nLet me know if you need more.");
    } else if (strcmp(mode, "prose") == 0) {
        append_cstr(&content, &clen, "Sure! ");
        append_str(&content, &clen, vs, strlen(vs));
        append_cstr(&content, &clen, " Hope this helps.");
    } else if (strcmp(mode, "truncated") == 0) {
        append_str(&content, &clen, vs, utf8_floor(vs, strlen(vs) / 2));
    } else {
        append_str(&content, &clen, vs, strlen(vs));
    }
    free(vs);
    rc = send_completion(c, n, body, content, clen);
    free(content);
out:
    json_decref(em.messages);
    json_decref(em.reject);
    json_decref(rec);
    json_decref(step);
    json_decref(body);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                    */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static enum MHD_Result route(struct MHD_Connection *c, const char *url, const char *method, const request *rq)
{
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0, del = strcmp(method, "DELETE") == 0;

    if (ends_with(url, "/chat/completions")) {
        if (!post)
            return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", "use POST");
        return handle_chat(c, url, rq, false);
    }
    if (strcmp(url, "/api/chat") == 0 && post) {
        pthread_mutex_lock(&g_lock);
        bool ollama = strcmp(srv_str("kind", "openai"), "ollama") == 0 &&
                      !json_is_false(json_object_get(g_server, "native"));
        pthread_mutex_unlock(&g_lock);
        if (ollama)
            return handle_chat(c, url, rq, true);
    }
    enum MHD_Result info_rc;
    if (emulated_info(c, url, get, post, rq, &info_rc))
        return info_rc;
    if (strcmp(url, "/_server") == 0 && (get || post)) {
        char err[300];
        if (post) {
            json_error_t jerr;
            json_t *b = json_loadb(rq->body ? rq->body : "", rq->len, 0, &jerr);
            bool ok = b && server_set(b, err, sizeof err);
            json_decref(b);
            if (!ok)
                return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid_server", b ? err : "not JSON");
        }
        pthread_mutex_lock(&g_lock);
        json_t *s = g_server ? json_deep_copy(g_server) : json_object();
        pthread_mutex_unlock(&g_lock);
        return send_json(c, MHD_HTTP_OK, s, NULL);
    }
    if (strcmp(url, "/_script") == 0) {
        if (post) {
            json_error_t jerr;
            json_t *b = json_loadb(rq->body ? rq->body : "", rq->len, 0, &jerr);
            char err[300];
            if (!b) {
                snprintf(err, sizeof err, "the script is not JSON: %s", jerr.text);
                return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid_script", err);
            }
            bool ok = script_set(b, err, sizeof err);
            json_decref(b);
            if (!ok)
                return send_error(c, MHD_HTTP_BAD_REQUEST, "invalid_script", err);
            vlog("script replaced");
        } else if (del) {
            json_t *d = json_pack("{s:[]}", "steps");
            char err[300];
            script_set(d, err, sizeof err);
            json_decref(d);
        } else if (!get) {
            return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", "use GET, POST or DELETE");
        }
        pthread_mutex_lock(&g_lock);
        json_t *s = script_show_locked();
        pthread_mutex_unlock(&g_lock);
        return send_json(c, MHD_HTTP_OK, s, NULL);
    }
    if (strcmp(url, "/_requests") == 0) {
        if (get) {
            pthread_mutex_lock(&g_lock);
            char *s = json_dumps(g_requests, JSON_COMPACT);
            pthread_mutex_unlock(&g_lock);
            if (!s)
                return MHD_NO;
            enum MHD_Result rc = send_buf(c, MHD_HTTP_OK, "application/json", s, strlen(s), NULL);
            free(s);
            return rc;
        }
        if (del) {
            pthread_mutex_lock(&g_lock);
            json_array_clear(g_requests);
            pthread_mutex_unlock(&g_lock);
            return send_json(c, MHD_HTTP_OK, json_pack("{s:b}", "cleared", 1), NULL);
        }
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "invalid_request_error", "use GET or DELETE");
    }
    if (strcmp(url, "/_stats") == 0 && get) {
        pthread_mutex_lock(&g_lock);
        json_t *s = json_pack("{s:I, s:I}", "chat_requests", (json_int_t)g_chat_requests, "recorded",
                              (json_int_t)json_array_size(g_requests));
        pthread_mutex_unlock(&g_lock);
        return send_json(c, MHD_HTTP_OK, s, NULL);
    }
    if (ends_with(url, "/models") && get)
        return send_json(c, MHD_HTTP_OK,
                         json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "object", "list", "data", "id", "fake", "object",
                                   "model", "owned_by", "fake_llm"),
                         NULL);
    return send_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)version;
    request *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > BODY_LIMIT) {
            rq->answered = true;
            return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request_too_large", "body over 64 MiB");
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->answered || rq->too_large)
            return MHD_YES;
        if (rq->len + n > BODY_LIMIT) {
            rq->too_large = true;
            free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
            return MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 16384;
            while (cap < rq->len + n + 1)
                cap *= 2;
            char *nb = realloc(rq->body, cap);
            if (!nb)
                return MHD_NO;
            rq->body = nb;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        rq->body[rq->len] = '\0';
        return MHD_YES;
    }
    if (rq->answered)
        return MHD_YES;
    if (rq->too_large)
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request_too_large", "body over 64 MiB");
    return route(c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* ------------------------------------------------------------------------ */
/* Main                                                                       */

static void usage(FILE *f)
{
    fputs("usage: fake_llm [--port N] [--script JSON] [--server JSON] [--verbose]\n"
          "  --server JSON  emulate a model server (POST /_server body): ollama, llamacpp, vllm\n"
          "  --port N       TCP port on 127.0.0.1 (0, the default, picks a free one)\n"
          "  --script JSON  initial script, same body as POST /_script\n"
          "  --verbose      log each request to stderr\n"
          "Prints \"fake_llm listening on 127.0.0.1:PORT\" on stderr once bound; stops on SIGTERM/SIGINT.\n",
          f);
}

int main(int argc, char **argv)
{
    long port = 0;
    const char *script = NULL, *server = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        if (strcmp(a, "--server") == 0 && i + 1 < argc) {
            server = argv[++i];
            continue;
        }
        if ((strcmp(a, "--port") == 0 || strcmp(a, "--script") == 0) && i + 1 < argc)
            val = argv[++i];
        else if (strncmp(a, "--port=", 7) == 0 || strncmp(a, "--script=", 9) == 0)
            val = strchr(a, '=') + 1;
        if (val && strncmp(a, "--port", 6) == 0) {
            char *end;
            errno = 0;
            port = strtol(val, &end, 10);
            if (errno || *end || end == val || port < 0 || port > 65535) {
                fprintf(stderr, "fake_llm: bad --port \"%s\"\n", val);
                return 2;
            }
        } else if (val) {
            script = val;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            g_verbose = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "fake_llm: unknown argument \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }

    g_requests = json_array();
    char err[300];
    json_t *initial = script ? json_loads(script, 0, NULL) : json_pack("{s:[]}", "steps");
    if (!initial || !script_set(initial, err, sizeof err)) {
        fprintf(stderr, "fake_llm: bad --script: %s\n", initial ? err : "not JSON");
        json_decref(initial);
        json_decref(g_requests);
        return 2;
    }
    json_decref(initial);
    if (server) {
        json_t *sv = json_loads(server, 0, NULL);
        bool ok = sv && server_set(sv, err, sizeof err);
        json_decref(sv);
        if (!ok) {
            fprintf(stderr, "fake_llm: bad --server: %s\n", sv ? err : "not JSON");
            json_decref(g_requests);
            return 2;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)0, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake_llm: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "fake_llm listening on 127.0.0.1:%u\n", info ? (unsigned)info->port : (unsigned)port);
    fflush(stderr);

    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    vlog("signal %d: stopping", sig);
    atomic_store(&g_stop, 1);
    MHD_stop_daemon(d);

    json_decref(g_requests);
    json_decref(g_steps);
    json_decref(g_then);
    json_decref(g_then_display);
    json_decref(g_server);
    return 0;
}
