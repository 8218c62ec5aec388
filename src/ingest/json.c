/*
 * json.c — application/x-ndjson and application/json bodies.
 *
 * Purpose: NDJSON is one JSON object per line (blank lines skipped); JSON is
 * one object or an array of objects. Both go through entry_from_object(),
 * which reads the fields shippers use under their common names:
 *   timestamp  timestamp, @timestamp, time, ts, date, datetime
 *   message    message, msg, log, body, text
 *   level      level, severity, lvl, loglevel, log.level
 *   service    service, app, application, service.name, app_name, program
 * The first name with a non-null value wins. `log.level` and `service.name`
 * are also looked up nested (`{"log":{"level":...}}`, ECS style), and an
 * object under `log` or `service` is such a namespace, never the message or
 * the service itself. Every other top-level field, and the fields of an
 * explicit `attributes` object (which win on conflict), become the entry's
 * attributes, stored as compact JSON text. Every entry then goes through
 * ingest_entry_finish() (level.c): a level only the message states is read.
 *
 * ingest_json_message() reads a message that is itself a JSON object (a
 * Loki, OTLP, bulk, syslog or text line; Docker's `log` field) with the
 * same aliases, leniently: the shipper's own timestamp, service, level and
 * attributes win, a field that cannot be read stays an attribute, and an
 * object without a message field stays the whole message.
 *
 * Threads: runs on the HTTP thread that owns the batch; jansson values are
 * local to the call. NDJSON is read in a line arena (common.h):
 * jansson's allocations for a line are pointer bumps, released together.
 *
 * Invariants: a body is parsed whole or refused; an error names the field
 * and where (line for NDJSON and JSON syntax errors, array index for JSON
 * arrays). jansson rejects invalid UTF-8 and "\u0000", so stored strings are
 * valid UTF-8 without NUL bytes. Every jansson reference taken here is
 * released on every path.
 *
 * Limits: max_entries per body (413), max_line bytes per message (cut at a
 * character boundary and counted), service names of 1..128 bytes without
 * control characters, unknown level words cut to 32 bytes; nesting depth is
 * jansson's (2048).
 */
#include "ingest/common.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "anomalog/timeutil.h"
#include "anomalog/type_phrase.h"

/* How many JSON objects, one the message of the other, are read into an entry. */
#define INGEST_JSON_MESSAGE_DEPTH 2

static const char *const TS_ALIASES[] = {"timestamp", "@timestamp", "time", "ts", "date", "datetime", NULL};
static const char *const MSG_ALIASES[] = {"message", "msg", "log", "body", "text", NULL};
static const char *const LEVEL_ALIASES[] = {"level", "severity", "lvl", "loglevel", "log.level", NULL};
static const char *const SVC_ALIASES[] = {"service", "app", "application", "service.name", "app_name",
                                          "program", NULL};

/* Where an entry came from, for error reports. */
typedef struct entry_pos {
    long line;        /* err->line: 1-based body line, or 0 */
    long index;       /* err->index: array index, or -1 */
} entry_pos;

/* "entry 2: ", "line 3: " or "": what an error message starts with (made only for errors). */
static const char *pos_prefix(const entry_pos *at, char buf[32])
{
    if (at->index >= 0)
        snprintf(buf, 32, "entry %ld: ", at->index);
    else if (at->line > 0)
        snprintf(buf, 32, "line %ld: ", at->line);
    else
        buf[0] = '\0';
    return buf;
}
#define PREFIX(at) pos_prefix((at), (char[32]){0})

/* A field found under one of its names. */
typedef struct field {
    const char *name;  /* the name it was found under */
    json_t *value;     /* borrowed; NULL when absent */
    int top;           /* 1 when name is a top-level key of the object (not nested) */
} field;

static int is_namespace(const char *name)
{
    return strcmp(name, "log") == 0 || strcmp(name, "service") == 0;
}

/* First alias with a non-null value. */
static field find_field(json_t *obj, const char *const *aliases)
{
    field f = {NULL, NULL, 0};
    for (const char *const *a = aliases; *a; a++) {
        json_t *v = json_object_get(obj, *a);
        if (v && json_is_object(v) && is_namespace(*a))
            v = NULL;
        if (v && !json_is_null(v)) {
            f.name = *a;
            f.value = v;
            f.top = 1;
            return f;
        }
        const char *dot = strchr(*a, '.');
        if (dot) {
            char parent[16];
            size_t pn = (size_t)(dot - *a);
            if (pn < sizeof parent) {
                memcpy(parent, *a, pn);
                parent[pn] = '\0';
                json_t *p = json_object_get(obj, parent);
                v = json_is_object(p) ? json_object_get(p, dot + 1) : NULL;
                if (v && !json_is_null(v)) {
                    f.name = *a;
                    f.value = v;
                    return f;
                }
            }
        }
    }
    return f;
}

static int in_list(const char *key, const char *const *list)
{
    for (; *list; list++) {
        if (strcmp(key, *list) == 0)
            return 1;
    }
    return 0;
}

/* A top-level key that does not go into the attributes. */
static int consumed(const char *key, json_t *val, const field *fs, size_t nfs)
{
    if (strcmp(key, "attributes") == 0)
        return 1;
    for (size_t i = 0; i < nfs; i++) {
        if (fs[i].top && fs[i].name && strcmp(key, fs[i].name) == 0)
            return 1;
    }
    /* a null under a field's name says "none": nothing worth keeping */
    return json_is_null(val) && (in_list(key, TS_ALIASES) || in_list(key, MSG_ALIASES) ||
                                 in_list(key, LEVEL_ALIASES) || in_list(key, SVC_ALIASES));
}

static int read_timestamp(ingest_ctx *c, const field *f, const entry_pos *at, int64_t *ms)
{
    json_t *v = f->value;
    char what[80];
    if (!v) {
        c->b->stats.timestamp_defaulted++;
        *ms = c->b->received_ms;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), used;
        if (time_parse_rfc3339(s, n, c->o->tz_offset_s, ms, &used) == 0 && used == n)
            return 0;
        if (time_parse_epoch_string(s, n, ms) == 0)
            return 0;
        char snip[64];
        ingest_snippet(snip, sizeof snip, s, n);
        snprintf(what, sizeof what, "\"%s\"", snip);
    } else if (json_is_integer(v)) {
        if (time_from_epoch_integer(json_integer_value(v), ms) == 0)
            return 0;
        snprintf(what, sizeof what, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        if (time_from_epoch_number(json_real_value(v), ms) == 0)
            return 0;
        snprintf(what, sizeof what, "%g", json_real_value(v));
    } else {
        snprintf(what, sizeof what, "%s", json_is_boolean(v) ? "a boolean"
                                          : json_is_array(v) ? "an array" : "an object");
    }
    return ingest_err_set(c->err, 400, "invalid_timestamp", at->line, at->index,
                          "%sfield \"%s\": cannot parse %s as RFC 3339 or epoch", PREFIX(at),
                          f->name, what);
}

/*
 * A number or boolean as JSON text in buf: a real gets the fewest digits
 * that read back as the same value (0.1, not 0.10000000000000001). Returns
 * its length, 0 when it cannot be written.
 */
static size_t number_text(json_t *v, char buf[64])
{
    size_t flags = JSON_ENCODE_ANY | JSON_COMPACT, n;
    if (json_is_real(v)) {
        for (int prec = 15; prec < 17; prec++) {
            n = json_dumpb(v, buf, 63, flags | JSON_REAL_PRECISION(prec));
            if (n == 0 || n > 63)
                return 0;
            json_t *back = json_loadb(buf, n, JSON_DECODE_ANY, NULL);
            int same = back && json_is_real(back) && json_real_value(back) == json_real_value(v);
            json_decref(back);
            if (same)
                return buf[n] = '\0', n;
        }
        flags |= JSON_REAL_PRECISION(17);
    }
    n = json_dumpb(v, buf, 63, flags);
    if (n == 0 || n > 63)
        return 0;
    buf[n] = '\0';
    return n;
}

static int read_message(ingest_ctx *c, const field *f, const entry_pos *at, log_entry *e)
{
    json_t *v = f->value;
    const char *s;
    size_t n;
    char text[64];

    if (!v)
        return ingest_err_set(c->err, 400, "missing_message", at->line, at->index,
                              "%sno message: one of \"message\", \"msg\", \"log\", \"body\", "
                              "\"text\" is required",
                              PREFIX(at));
    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
    } else if (json_is_number(v) || json_is_boolean(v)) {
        if (!(n = number_text(v, text)))
            return -2;
        s = text;
    } else {
        return ingest_err_set(c->err, 400, "invalid_entry", at->line, at->index,
                              "%sfield \"%s\": message must be a string", PREFIX(at), f->name);
    }
    return ingest_entry_message(c, e, s, n);
}

static int read_level(ingest_ctx *c, const field *f, const entry_pos *at, log_entry *e)
{
    json_t *v = f->value;
    if (!v) {
        e->level = NULL;
        return 0;
    }
    if (json_is_string(v))
        return ingest_level_word(c, json_string_value(v), json_string_length(v), &e->level);
    /* a syslog severity 0..7, or bunyan and pino's 10 (trace) .. 60 (fatal) */
    if (json_is_integer(v) && (e->level = ingest_level_number(json_integer_value(v))) != NULL) {
        c->b->stats.level_normalized++;
        return 0;
    }
    return ingest_err_set(c->err, 400, "invalid_level", at->line, at->index,
                          "%sfield \"%s\": a level is a word, a syslog severity 0..7 or a pino level 10..60",
                          PREFIX(at), f->name);
}

static int read_service(ingest_ctx *c, const field *f, const entry_pos *at, log_entry *e)
{
    json_t *v = f->value;
    if (v && json_is_string(v) && json_string_length(v) > 0) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        int ok = n <= INGEST_SERVICE_MAX;
        for (size_t i = 0; ok && i < n; i++) {
            unsigned char ch = (unsigned char)s[i];
            ok = ch >= 0x20 && ch != 0x7f;
        }
        if (!ok) {
            char snip[64];
            ingest_snippet(snip, sizeof snip, s, n);
            return ingest_err_set(c->err, 400, "invalid_service", at->line, at->index,
                                  "%sfield \"%s\": \"%s\" is not a service name (1..%d bytes, no "
                                  "control characters)",
                                  PREFIX(at), f->name, snip, INGEST_SERVICE_MAX);
        }
        e->service = ingest_ctx_service(c, s, n);
        return e->service ? 0 : -2;
    }
    if (v && !json_is_string(v))
        return ingest_err_set(c->err, 400, "invalid_service", at->line, at->index,
                              "%sfield \"%s\": a service name must be a string", PREFIX(at),
                              f->name);
    c->b->stats.service_defaulted++;
    e->service = ingest_ctx_default_service(c);
    return e->service ? 0 : -2;
}

/* Builds the attributes text: other top-level fields, then the `attributes` object. */
static int read_attributes(ingest_ctx *c, json_t *obj, const field *fs, size_t nfs,
                           const entry_pos *at, log_entry *e)
{
    json_t *attrs = json_object_get(obj, "attributes");
    json_t *merged = NULL;
    const char *key;
    json_t *val;
    int rc = 0;

    if (attrs && json_is_null(attrs))
        attrs = NULL;
    if (attrs && !json_is_object(attrs))
        return ingest_err_set(c->err, 400, "invalid_entry", at->line, at->index,
                              "%sfield \"attributes\": must be an object", PREFIX(at));
    json_object_foreach(obj, key, val) {
        if (consumed(key, val, fs, nfs))
            continue;
        if (!merged && !(merged = json_object()))
            return -2;
        if (json_object_set(merged, key, val) < 0) { /* takes a new reference to val */
            rc = -2;
            goto out;
        }
    }
    if (!merged) {
        if (attrs && json_object_size(attrs) > 0) {
            e->attributes = ingest_dump_json(c->b, attrs, JSON_COMPACT);
            rc = e->attributes ? 0 : -2;
        }
        goto out;
    }
    if (attrs && json_object_update(merged, attrs) < 0) {
        rc = -2;
        goto out;
    }
    e->attributes = ingest_dump_json(c->b, merged, JSON_COMPACT);
    rc = e->attributes ? 0 : -2;
out:
    json_decref(merged);
    return rc;
}

/* Appends the entry described by obj. 0, -1 (err filled) or -2 (out of memory). */
static int entry_from_object(ingest_ctx *c, json_t *obj, const entry_pos *at, long entry_line)
{
    field fs[4];
    int64_t ts;
    int rc;

    fs[0] = find_field(obj, TS_ALIASES);
    fs[1] = find_field(obj, MSG_ALIASES);
    fs[2] = find_field(obj, LEVEL_ALIASES);
    fs[3] = find_field(obj, SVC_ALIASES);

    if ((rc = read_timestamp(c, &fs[0], at, &ts)) != 0)
        return rc;
    log_entry *e = batch_push(c->b);
    if (!e)
        return -2;
    e->ts_ms = ts;
    e->line = entry_line;
    long defaulted = c->b->stats.service_defaulted;
    if ((rc = read_message(c, &fs[1], at, e)) != 0 || (rc = read_level(c, &fs[2], at, e)) != 0 ||
        (rc = read_service(c, &fs[3], at, e)) != 0 ||
        (rc = read_attributes(c, obj, fs, 4, at, e)) != 0)
        return rc;
    unsigned given = (fs[0].value ? INGEST_GIVEN_TS : 0) |
                     (c->b->stats.service_defaulted == defaulted ? INGEST_GIVEN_SERVICE : 0);
    return ingest_entry_finish(c, e, given);
}

/* ---- a JSON object inside a message ---------------------------------------- */

/* s[0..n) is, but for white space, one {...}: the only messages worth a JSON parse. */
static int looks_like_object(const char *s, size_t n)
{
    size_t a = 0;
    while (a < n && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r' || s[a] == '\n'))
        a++;
    while (n > a && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    return n - a >= 2 && s[a] == '{' && s[n - 1] == '}';
}

/* A level field read leniently: 0 with *lv set (or left NULL when unreadable), or -2. */
static int lenient_level(ingest_ctx *c, json_t *v, const char **lv)
{
    if (json_is_string(v))
        return ingest_level_word(c, json_string_value(v), json_string_length(v), lv);
    if (json_is_integer(v) && (*lv = ingest_level_number(json_integer_value(v))) != NULL)
        c->b->stats.level_normalized++;
    return 0;
}

/* A timestamp field read leniently: 0 with *ms set, or -1 when it is not one. */
static int lenient_timestamp(ingest_ctx *c, json_t *v, int64_t *ms)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), used;
        if (time_parse_rfc3339(s, n, c->o->tz_offset_s, ms, &used) == 0 && used == n)
            return 0;
        return time_parse_epoch_string(s, n, ms);
    }
    if (json_is_integer(v))
        return time_from_epoch_integer(json_integer_value(v), ms);
    if (json_is_real(v))
        return time_from_epoch_number(json_real_value(v), ms);
    return -1;
}

/* obj's fields not taken, its `attributes` object, then e's own attributes (which win) into e. 0 or -2. */
static int message_attributes(ingest_ctx *c, json_t *obj, const field *fs, size_t nfs, log_entry *e)
{
    json_t *merged = json_object(), *outer = NULL;
    json_t *inner = json_object_get(obj, "attributes");
    const char *key;
    json_t *val;
    int rc = -2;
    if (!merged)
        return -2;
    json_object_foreach(obj, key, val) {
        if (strcmp(key, "attributes") == 0 ? json_is_object(val) || json_is_null(val) : consumed(key, val, fs, nfs))
            continue; /* an `attributes` that is not an object is kept as a field */
        if (json_object_set(merged, key, val) < 0) /* takes a new reference to val */
            goto out;
    }
    if (json_is_object(inner) && json_object_update(merged, inner) < 0)
        goto out;
    if (e->attributes && (!(outer = json_loads(e->attributes, 0, NULL)) || json_object_update(merged, outer) < 0))
        goto out; /* text we wrote: only memory can fail */
    e->attributes = NULL;
    if (json_object_size(merged) > 0 && !(e->attributes = ingest_dump_json(c->b, merged, JSON_COMPACT)))
        goto out;
    rc = 0;
out:
    json_decref(outer);
    json_decref(merged);
    return rc;
}

int ingest_json_message(ingest_ctx *c, log_entry *e, unsigned given)
{
    if (!looks_like_object(e->message, e->message_len))
        return 0;
    json_error_t jerr;
    json_t *obj = json_loadb(e->message, e->message_len, 0, &jerr);
    if (!obj)
        return jerr.text[0] == '\0' || json_error_code(&jerr) == json_error_out_of_memory ? -2 : 0;
    field fs[4];
    char text[64];
    const char *msg = NULL;
    size_t mn = 0;
    int rc = 0;
    if (!json_is_object(obj))
        goto out;
    fs[0] = find_field(obj, TS_ALIASES);
    fs[1] = find_field(obj, MSG_ALIASES);
    fs[2] = find_field(obj, LEVEL_ALIASES);
    fs[3] = find_field(obj, SVC_ALIASES);

    const char *lv = NULL;
    if (!e->level && fs[2].value && (rc = lenient_level(c, fs[2].value, &lv)) != 0)
        goto out;
    if (!lv)
        fs[2].top = 0; /* not taken: stays an attribute */
    if (json_is_string(fs[1].value)) {
        msg = json_string_value(fs[1].value);
        mn = json_string_length(fs[1].value);
    } else if (json_is_number(fs[1].value) || json_is_boolean(fs[1].value)) {
        if (!(mn = number_text(fs[1].value, text))) {
            rc = -2;
            goto out;
        }
        msg = text;
    }
    if (!msg) { /* no message field: the line stays whole, its level is read */
        if (lv)
            e->level = lv;
        goto out;
    }
    e->level = lv ? lv : e->level;

    int64_t ms;
    if (!(given & INGEST_GIVEN_TS) && fs[0].value && lenient_timestamp(c, fs[0].value, &ms) == 0) {
        e->ts_ms = ms;
        if (c->b->stats.timestamp_defaulted > 0)
            c->b->stats.timestamp_defaulted--;
    } else {
        fs[0].top = 0;
    }
    json_t *sv = fs[3].value;
    const char *svc = json_is_string(sv) ? json_string_value(sv) : NULL;
    size_t sn = svc ? json_string_length(sv) : 0;
    int svc_ok = !(given & INGEST_GIVEN_SERVICE) && svc && sn > 0 && sn <= INGEST_SERVICE_MAX;
    for (size_t i = 0; svc_ok && i < sn; i++)
        svc_ok = (unsigned char)svc[i] >= 0x20 && svc[i] != 0x7f;
    if (svc_ok) {
        if (!(e->service = ingest_ctx_service(c, svc, sn))) {
            rc = -2;
            goto out;
        }
        if (c->b->stats.service_defaulted > 0)
            c->b->stats.service_defaulted--;
    } else {
        fs[3].top = 0;
    }
    if ((rc = message_attributes(c, obj, fs, 4, e)) != 0)
        goto out;
    if (mn > c->max_line) {
        mn = utf8_cut(msg, mn, c->max_line);
        c->b->stats.truncated++;
    }
    if (!(e->message = batch_strndup(c->b, msg, mn)))
        rc = -2;
    e->message_len = mn;
out:
    json_decref(obj);
    return rc;
}

/* Every parser's last step on an entry it built (common.h). */
int ingest_entry_finish(ingest_ctx *c, log_entry *e, unsigned given)
{
    /* twice: Fluent Bit wraps a JSON line in {"log": "<the line>", "stream": ...} */
    for (int depth = 0; depth < INGEST_JSON_MESSAGE_DEPTH; depth++) {
        const char *msg = e->message, *svc = e->service;
        int64_t ts = e->ts_ms;
        int rc = ingest_json_message(c, e, given);
        if (rc != 0)
            return rc;
        if (e->message == msg)
            break;
        given |= (e->ts_ms != ts ? INGEST_GIVEN_TS : 0) | (e->service != svc ? INGEST_GIVEN_SERVICE : 0);
    }
    if (!e->level)
        e->level = ingest_level_sniff(e->message, e->message_len);
    return 0;
}

int ingest_json_entry(ingest_ctx *c, json_t *obj, long line)
{
    entry_pos at = {.line = line, .index = -1};
    return entry_from_object(c, obj, &at, line);
}

/* jansson says "out of memory", or fails before it can say anything (lexer setup) */
static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v')
            return 0;
    }
    return 1;
}

/* ---- the fast reader -----------------------------------------------------------
 * YAJL tokenises a line several times faster than jansson's parser; its
 * callbacks build the very jansson values json_loadb would (in the line
 * arena), and entry_from_object reads them as always. Where the two parsers
 * could read a line differently, the line goes to json_loadb instead, whose
 * value or error then stands: a \u escape (surrogates), a \v or \f (YAJL
 * whitespace, not jansson's), a NUL in a string or key, an integer or real
 * jansson refuses, a key longer than FAST_KEY_MAX, nesting deeper than
 * FAST_DEPTH_MAX, a top-level value that is not an object, anything but
 * white space after it, and every line YAJL refuses. fuzz_ingest_ndjson_fast checks that both ways agree.
 */
#define FAST_DEPTH_MAX 64
#define FAST_KEY_MAX 256

typedef struct fast_reader {
    yajl_handle h;
    size_t end;       /* where the top-level object closed */
    json_t *root;
    json_t *stack[FAST_DEPTH_MAX];
    int depth;
    char key[FAST_KEY_MAX];
    size_t keylen;
} fast_reader;

/* Puts v (a new reference, taken even on failure) where the parse is; 0: the line goes to jansson. */
static int fast_add(fast_reader *f, json_t *v)
{
    if (!v)
        return 0;
    if (f->depth == 0) { /* only an object opens a line the fast way */
        if (!json_is_object(v) || f->root) {
            json_decref(v);
            return 0;
        }
        f->root = v;
        return 1;
    }
    json_t *parent = f->stack[f->depth - 1];
    if (json_is_object(parent))
        return json_object_setn_new(parent, f->key, f->keylen, v) == 0;
    return json_array_append_new(parent, v) == 0;
}

static int fast_null(void *ctx)
{
    return fast_add(ctx, json_null());
}

static int fast_boolean(void *ctx, int b)
{
    return fast_add(ctx, json_boolean(b));
}

static int fast_number(void *ctx, const char *s, size_t n)
{
    char buf[64];
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    if (strpbrk(buf, ".eE")) {
        double d = strtod(buf, &end);
        if (*end || isinf(d))
            return 0;
        return fast_add(ctx, json_real(d));
    }
    long long i = strtoll(buf, &end, 10);
    if (*end || errno == ERANGE)
        return 0;
    return fast_add(ctx, json_integer(i));
}

static int fast_string(void *ctx, const unsigned char *s, size_t n)
{
    if (memchr(s, '\0', n))
        return 0;
    return fast_add(ctx, json_stringn((const char *)s, n));
}

/* Opens an object or array: it goes where the parse is, and the stack keeps a borrowed pointer. */
static int fast_open(void *ctx, json_t *v)
{
    fast_reader *f = ctx;
    if (f->depth == FAST_DEPTH_MAX) {
        json_decref(v);
        return 0;
    }
    if (!fast_add(f, v)) /* which released v */
        return 0;
    f->stack[f->depth++] = v;
    return 1;
}

static int fast_start_map(void *ctx)
{
    return fast_open(ctx, json_object());
}

static int fast_key(void *ctx, const unsigned char *k, size_t n)
{
    fast_reader *f = ctx;
    if (n > FAST_KEY_MAX || memchr(k, '\0', n))
        return 0;
    memcpy(f->key, k, n);
    f->keylen = n;
    return 1;
}

static int fast_close(void *ctx)
{
    fast_reader *f = ctx;
    if (--f->depth == 0) /* YAJL takes a string cut short at the end of the line for more to come */
        f->end = yajl_get_bytes_consumed(f->h);
    return 1;
}

static int fast_start_array(void *ctx)
{
    return fast_open(ctx, json_array());
}

static const yajl_callbacks fast_callbacks = {
    .yajl_null = fast_null,
    .yajl_boolean = fast_boolean,
    .yajl_number = fast_number,
    .yajl_string = fast_string,
    .yajl_start_map = fast_start_map,
    .yajl_map_key = fast_key,
    .yajl_end_map = fast_close,
    .yajl_start_array = fast_start_array,
    .yajl_end_array = fast_close,
};

/* Whether s..n holds a \u escape (a backslash is rare in log lines: memchr finds none fast). */
static int has_unicode_escape(const char *s, size_t n)
{
    for (const char *p = s, *end = s + n; (p = memchr(p, '\\', (size_t)(end - p))) && p + 1 < end; p += 2) {
        if (p[1] == 'u')
            return 1;
    }
    return 0;
}

/* The object on line s..n, read the fast way; NULL: let json_loadb read it. */
static json_t *fast_read(const char *s, size_t n)
{
    if (memchr(s, '\v', n) || memchr(s, '\f', n) || has_unicode_escape(s, n))
        return NULL;
    fast_reader f = {0};
    yajl_handle h = yajl_alloc(&fast_callbacks, NULL, &f);
    if (!h)
        return NULL;
    f.h = h;
    int ok = yajl_parse(h, (const unsigned char *)s, n) == yajl_status_ok &&
             yajl_complete_parse(h) == yajl_status_ok && f.depth == 0 && f.root;
    for (size_t i = f.end; ok && i < n; i++) /* after the object, only what jansson calls white space */
        ok = s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n';
    yajl_free(h);
    if (!ok) {
        json_decref(f.root);
        return NULL;
    }
    return f.root;
}

/* How ndjson_line reads: the line arena it rewinds, and whether it tries the fast reader first. */
typedef struct ndjson_reader {
    ingest_line_arena *la;
    int use_fast;
} ndjson_reader;

static int ndjson_line(ingest_ctx *c, const char *s, size_t n, long ln, void *arg)
{
    const ndjson_reader *r = arg;
    ingest_line_arena_next(r->la); /* the line before is released whole */
    if (is_blank(s, n))
        return 0;
    if (ingest_line_room(c, ln))
        return -1;
    json_error_t jerr;
    json_t *obj = r->use_fast ? fast_read(s, n) : NULL;
    if (!obj)
        obj = json_loadb(s, n, 0, &jerr);
    if (!obj) {
        if (ingest_json_oom(&jerr))
            return -2;
        return ingest_err_set(c->err, 400, "invalid_json", ln, -1, "line %ld: invalid JSON: %s", ln, jerr.text);
    }
    entry_pos at = {.line = ln, .index = -1};
    int rc = !json_is_object(obj) ? ingest_err_set(c->err, 400, "invalid_entry", ln, -1,
                                                   "line %ld: expected a JSON object, got an array", ln)
                                  : entry_from_object(c, obj, &at, ln);
    json_decref(obj);
    return rc;
}

int ingest_parse_ndjson_with(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                             int use_fast)
{
    ingest_line_arena la;
    if (ingest_line_arena_begin(&la) != 0)
        return -2;
    ndjson_reader r = {&la, use_fast};
    int rc = ingest_each_line(body, len, o, b, err, ndjson_line, &r);
    ingest_line_arena_end(&la);
    return rc;
}

int ingest_parse_ndjson(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err)
{
    return ingest_parse_ndjson_with(body, len, o, b, err, 1);
}

/* The body of an application/json batch: one entry object, or an array of them. */
static int json_root(ingest_ctx *c, json_t *root, void *arg)
{
    (void)arg;
    if (json_is_object(root)) {
        entry_pos at = {.line = 0, .index = -1};
        return entry_from_object(c, root, &at, 1); /* max_entries is at least 1 */
    }
    /* json_loadb without JSON_DECODE_ANY gives an object or an array */
    size_t count = json_array_size(root);
    if (count > c->max_entries)
        return ingest_err_set(c->err, 413, "too_many_entries", 0, (long)c->max_entries,
                              "entry %zu: too many entries (at most %zu in one request)", c->max_entries,
                              c->max_entries);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        json_t *el = json_array_get(root, i);
        entry_pos at = {.line = 0, .index = (long)i};
        if (!json_is_object(el))
            rc = ingest_err_set(c->err, 400, "invalid_entry", 0, (long)i,
                                "entry %zu: expected a JSON object, got %s", i, type_phrase(el));
        else
            rc = entry_from_object(c, el, &at, (long)i + 1);
    }
    return rc;
}

int ingest_parse_json(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err)
{
    return ingest_json_body(body, len, o, b, err, json_root, NULL);
}
