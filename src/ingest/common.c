/*
 * common.c — what every ingest parser shares (common.h): text
 * copied with bad UTF-8 replaced, error reports, the parse context (default
 * and bound service), the line-by-line reading of NDJSON and syslog bodies,
 * JSON bodies and dumps into the batch's arena, and the
 * line arena that jansson allocates from while one NDJSON line is read.
 *
 * Threads: called on the HTTP thread that owns the batch; the line arena's
 * allocator hooks are installed once (pthread_once) and route to the calling
 * thread's arena, so any number of requests parse at once.
 *
 * Invariants: every error message is valid UTF-8 and fits
 * ingest_error.message; every string stored in an entry lives in the batch's
 * arena (never in the body, never in the options).
 *
 * Limits: quoted values in error messages are cut at 40 bytes.
 */
#include "ingest/common.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char DEFAULT_SERVICE[] = "default";

/* ------------------------------------------------------------------ UTF-8 */

/* the checks themselves are utf8.c's */
char *ingest_text_copy(batch *b, const char *s, size_t len, size_t max, size_t *out_len, int *cut)
{
    /* each bad byte becomes three: the copy is at most 3 * len, and never more than max */
    size_t cap = len <= max / 3 ? len * 3 : max;
    char *out = batch_alloc(b, cap + 1);
    size_t n = 0, i = 0;
    *cut = 0;
    if (!out)
        return NULL;
    while (i < len) {
        size_t k = utf8_clean_prefix(s + i, len - i);
        size_t take = utf8_cut(s + i, k, cap - n);
        memcpy(out + n, s + i, take);
        n += take;
        i += take;
        if (take < k || (i < len && cap - n < 3)) {
            *cut = 1;
            break;
        }
        if (i < len) {
            memcpy(out + n, UTF8_REPLACEMENT, 3);
            n += 3;
            i++;
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* ---------------------------------------------------------------- errors */

void ingest_err_reset(ingest_error *err)
{
    err->status = 0;
    err->code = NULL;
    err->message[0] = '\0';
    err->line = 0;
    err->index = -1;
}

int ingest_err_set(ingest_error *err, int status, const char *code, long line, long index,
                   const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    err->code = code;
    err->line = line;
    err->index = index;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* jansson's error text may quote raw input: keep the message valid UTF-8 */
    unsigned char *m = (unsigned char *)err->message;
    size_t n = strlen(err->message), i = 0;
    while (i < n) {
        size_t k = utf8_seq_len(m + i, n - i);
        if (!k) {
            m[i++] = '?';
        } else {
            i += k;
        }
    }
    return -1;
}

void ingest_snippet(char *dst, size_t dstlen, const char *s, size_t len)
{
    const size_t maxq = 40;
    size_t o = 0, i = 0;
    const unsigned char *p = (const unsigned char *)s;
    if (dstlen == 0)
        return;
    while (i < len && i < maxq) {
        size_t k = p[i] < 0x20 || p[i] == 0x7f ? 0 : utf8_seq_len(p + i, len - i);
        if (k == 0) {
            if (o + 1 >= dstlen)
                break;
            dst[o++] = '?';
            i++;
            continue;
        }
        if (i + k > maxq || o + k >= dstlen)
            break;
        memcpy(dst + o, p + i, k);
        o += k;
        i += k;
    }
    if (i < len && o + 3 < dstlen) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* --------------------------------------------------------------- context */

void ingest_ctx_init(ingest_ctx *c, const ingest_opts *o, batch *b, ingest_error *err)
{
    memset(c, 0, sizeof *c);
    c->o = o;
    c->b = b;
    c->err = err;
    c->max_line = o->max_line ? o->max_line : SIZE_MAX;
    c->max_entries = o->max_entries ? o->max_entries : SIZE_MAX;
    ingest_err_reset(err);
}

const char *ingest_ctx_default_service(ingest_ctx *c)
{
    if (!c->default_service) {
        const char *s = c->o->default_service && *c->o->default_service ? c->o->default_service
                                                                         : DEFAULT_SERVICE;
        c->default_service = batch_strndup(c->b, s, strlen(s));
    }
    return c->default_service;
}

const char *ingest_ctx_service(ingest_ctx *c, const char *s, size_t len)
{
    if (c->last_service && c->last_service_len == len && memcmp(c->last_service, s, len) == 0)
        return c->last_service;
    char *p = batch_strndup(c->b, s, len);
    if (!p)
        return NULL;
    c->last_service = p;
    c->last_service_len = len;
    return p;
}

/* ----------------------------------------------------------------- entries */

log_entry *ingest_entry_new(ingest_ctx *c, long line, int has_ts, int64_t ts_ms)
{
    log_entry *e = batch_push(c->b);
    if (!e)
        return NULL;
    e->line = line;
    e->ts_ms = has_ts ? ts_ms : c->b->received_ms;
    if (!has_ts)
        c->b->stats.timestamp_defaulted++;
    return e;
}

int ingest_entry_message(ingest_ctx *c, log_entry *e, const char *s, size_t n)
{
    if (n > c->max_line) {
        n = utf8_cut(s, n, c->max_line);
        c->b->stats.truncated++;
    }
    e->message = batch_strndup(c->b, s, n);
    e->message_len = n;
    return e->message ? 0 : -2;
}

int ingest_entry_service(ingest_ctx *c, log_entry *e, const char *s, size_t len)
{
    if (s) {
        e->service = ingest_ctx_service(c, s, len);
    } else {
        c->b->stats.service_defaulted++;
        e->service = ingest_ctx_default_service(c);
    }
    return e->service ? 0 : -2;
}

void ingest_skip_bom(const char **body, size_t *len)
{
    if (*len >= 3 && memcmp(*body, "\xEF\xBB\xBF", 3) == 0) {
        *body += 3;
        *len -= 3;
    }
}

int ingest_each_line(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                     ingest_line_fn fn, void *arg)
{
    ingest_ctx c;
    size_t pos = 0;
    long ln = 0;
    int rc = 0;

    ingest_ctx_init(&c, o, b, err);
    ingest_skip_bom(&body, &len);
    while (pos < len && rc == 0) {
        const char *s;
        size_t n = ingest_next_line(body, len, &pos, &s);
        rc = fn(&c, s, n, ++ln, arg);
    }
    return rc;
}

int ingest_line_room(ingest_ctx *c, long ln)
{
    if (c->b->count < c->max_entries)
        return 0;
    return ingest_err_set(c->err, 413, "too_many_entries", ln, -1,
                          "line %ld: too many entries (at most %zu in one request)", ln, c->max_entries);
}

int ingest_json_oom(const json_error_t *jerr)
{
    return json_error_code(jerr) == json_error_out_of_memory || jerr->text[0] == '\0';
}

int ingest_json_body(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                     ingest_json_fn fn, void *arg)
{
    ingest_ctx c;
    ingest_ctx_init(&c, o, b, err);
    ingest_skip_bom(&body, &len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        if (ingest_json_oom(&jerr))
            return -2;
        long line = jerr.line > 0 ? jerr.line : 0;
        return ingest_err_set(err, 400, "invalid_json", line, -1, "line %ld: invalid JSON: %s", line, jerr.text);
    }
    int rc = fn(&c, root, arg);
    json_decref(root);
    return rc;
}

const char *ingest_dump_json(batch *b, json_t *v, size_t flags)
{
    char buf[1024]; /* most attribute objects: one pass, no heap */
    size_t n = json_dumpb(v, buf, sizeof buf, flags);
    if (n == 0)
        return NULL;
    if (n <= sizeof buf)
        return batch_strndup(b, buf, n);
    char *p = batch_alloc(b, n + 1);
    if (!p || json_dumpb(v, p, n, flags) != n)
        return NULL;
    p[n] = '\0';
    return p;
}

/* ---- jansson's memory while a line is parsed -------------------------------
 * jansson allocates each key, value and hashtable of a parsed line and frees
 * them all again once the line is read. While a thread holds a line arena,
 * those allocations are bumps of a pointer in one buffer, their frees do
 * nothing, and ingest_line_arena_next() rewinds the buffer for the next
 * line. What does not fit, and whatever was allocated outside the arena, goes
 * to malloc and free as always. Rule for callers: every jansson value (and
 * json_dumps text) made while the arena is held is released before the next
 * rewind or the end. */

#define LINE_ARENA_BYTES (64 * 1024)

/* Under ASan a rewound arena is poisoned, so a value used after its line ends is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static _Thread_local ingest_line_arena *line_arena;
static pthread_once_t line_arena_once = PTHREAD_ONCE_INIT;

static void *arena_malloc(size_t n)
{
    ingest_line_arena *a = line_arena;
    n = (n + 15) & ~(size_t)15;
    if (a && n <= LINE_ARENA_BYTES - a->used) {
        void *p = a->base + a->used;
        a->used += n;
        ARENA_UNPOISON(p, n);
        return p;
    }
    return malloc(n);
}

static void arena_free(void *p)
{
    ingest_line_arena *a = line_arena;
    if (a && (unsigned char *)p >= a->base && (unsigned char *)p < a->base + LINE_ARENA_BYTES)
        return;
    free(p);
}

static void arena_install(void)
{
    json_set_alloc_funcs(arena_malloc, arena_free);
}

int ingest_line_arena_begin(ingest_line_arena *a)
{
    pthread_once(&line_arena_once, arena_install);
    a->used = 0;
    if (!(a->base = malloc(LINE_ARENA_BYTES)))
        return -1;
    ARENA_POISON(a->base, LINE_ARENA_BYTES);
    line_arena = a;
    return 0;
}

void ingest_line_arena_next(ingest_line_arena *a)
{
    ARENA_POISON(a->base, a->used);
    a->used = 0;
}

void ingest_line_arena_end(ingest_line_arena *a)
{
    line_arena = NULL;
    ARENA_UNPOISON(a->base, LINE_ARENA_BYTES);
    free(a->base);
    a->base = NULL;
}
