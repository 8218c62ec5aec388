/*
 * loki.c — Loki's push API bodies: JSON and snappy-compressed protobuf.
 *
 * Purpose: Promtail, Grafana Alloy and Vector send protobuf (PushRequest,
 * snappy block compressed); Fluent Bit sends JSON. Both carry streams, each a
 * set of labels with entries (timestamp in nanoseconds, line, optional
 * structured metadata). Both decoders reduce a stream to a jansson object of
 * labels and hand every entry to loki_entry(), so they map fields the same:
 *   service   first non-empty label of service_name, service, app, job (or the
 *             comma-separated list in ingest_opts.service_labels)
 *   level     structured metadata, then labels: level, detected_level, severity;
 *             else the level the line states (level.c)
 *   message   the line (cut to max_line); a line that is a JSON object is
 *             read like an NDJSON entry (ingest_entry_finish), the entry's
 *             time staying Loki's
 *   attributes every other label and structured metadata pair (metadata wins)
 *
 * The protobuf is decoded by hand (no generated code): the schema is three
 * small messages (field numbers from Loki's pkg/push/push.proto):
 *   PushRequest   { repeated StreamAdapter streams = 1; }
 *   StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
 *   EntryAdapter  { Timestamp timestamp = 1; string line = 2;
 *                   repeated LabelPairAdapter structuredMetadata = 3; }
 *   LabelPairAdapter { string name = 1; string value = 2; }
 *   Timestamp     { int64 seconds = 1; int32 nanos = 2; }
 * Unknown fields are skipped as protobuf requires; nesting is fixed by the
 * schema (4 levels), so the decoder needs no recursion limit; every length is
 * checked against what remains of its enclosing message.
 *
 * Threads: runs on the HTTP thread that owns the batch; no shared state.
 *
 * Limits: max_entries per body (413), max_line per message, a varint is at
 * most 10 bytes, a label string is parsed within its own length; the body
 * was decompressed within max_body by ingest_unsnappy().
 */
#include "ingest/common.h"

#include <jansson.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

static const char DEFAULT_SERVICE_LABELS[] = "service_name,service,app,job";
static const char *const LEVEL_LABELS[] = {"level", "detected_level", "severity", NULL};

/* ------------------------------------------------------------- snappy */

gunzip_result ingest_unsnappy(const char *in, size_t in_len, size_t max_out, char **out, size_t *out_len)
{
    size_t n = 0;
    *out = NULL;
    *out_len = 0;
    if (snappy_uncompressed_length(in, in_len, &n) != SNAPPY_OK)
        return GUNZIP_CORRUPT;
    if (n > max_out)
        return GUNZIP_TOO_LARGE;
    char *buf = malloc(n + 1);
    if (!buf)
        return GUNZIP_NOMEM;
    size_t got = n;
    if (snappy_uncompress(in, in_len, buf, &got) != SNAPPY_OK || got != n) {
        free(buf);
        return GUNZIP_CORRUPT;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return GUNZIP_OK;
}

/* -------------------------------------------------------------- entries */

static json_t *first_label(json_t *obj, const char *const *names, const char **which)
{
    for (; *names; names++) {
        json_t *v = json_object_get(obj, *names);
        if (v && json_is_string(v) && json_string_length(v) > 0) {
            *which = *names;
            return v;
        }
    }
    return NULL;
}

/* First label named in the comma-separated list with a non-empty string value; its name into which. */
static json_t *first_label_in(json_t *obj, const char *list, char *which, size_t whichlen)
{
    while (*list) {
        size_t n = strcspn(list, ",");
        if (n > 0 && n < whichlen) {
            memcpy(which, list, n);
            which[n] = '\0';
            json_t *v = json_object_get(obj, which);
            if (v && json_is_string(v) && json_string_length(v) > 0)
                return v;
        }
        list += n + (list[n] == ',');
    }
    which[0] = '\0';
    return NULL;
}

/*
 * Appends one entry. labels and meta (may be NULL) are borrowed objects of
 * strings; line need not be NUL-terminated.
 */
static int loki_entry(ingest_ctx *c, json_t *labels, json_t *meta, int has_ts, int64_t ts_ms, const char *line,
                      size_t n, long stream)
{
    const char *lvl_key = NULL;
    char svc_key[INGEST_SERVICE_MAX + 1] = "";
    int rc = 0;
    json_t *attrs = NULL;

    if (c->b->count >= c->max_entries)
        return ingest_err_set(c->err, 413, "too_many_entries", 0, -1,
                              "stream %ld: too many entries (at most %zu in one request)", stream, c->max_entries);
    if (!utf8_valid(line, n) || memchr(line, '\0', n))
        return ingest_err_set(c->err, 400, "invalid_line", 0, -1,
                              "stream %ld: a line must be UTF-8 text without NUL bytes", stream);
    log_entry *e = ingest_entry_new(c, (long)c->b->count + 1, has_ts, ts_ms);
    if (!e || ingest_entry_message(c, e, line, n) != 0)
        return -2;

    const char *svc_labels = c->o->service_labels && *c->o->service_labels ? c->o->service_labels
                                                                            : DEFAULT_SERVICE_LABELS;
    json_t *sv = first_label_in(labels, svc_labels, svc_key, sizeof svc_key);
    const char *s = json_string_value(sv); /* NULL without one */
    size_t sn = json_string_length(sv);
    int ok = sn <= INGEST_SERVICE_MAX;
    for (size_t i = 0; ok && i < sn; i++)
        ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
    if (!ok) {
        char snip[64];
        ingest_snippet(snip, sizeof snip, s, sn);
        return ingest_err_set(c->err, 400, "invalid_service", 0, -1,
                              "stream %ld: label \"%s\": \"%s\" is not a service name (1..%d bytes, no "
                              "control characters)",
                              stream, svc_key, snip, INGEST_SERVICE_MAX);
    }
    if (ingest_entry_service(c, e, s, sn) != 0)
        return -2;

    const char *mlvl_key = NULL;
    /* a level label is consumed even when structured metadata's level wins over it */
    json_t *label_lv = first_label(labels, LEVEL_LABELS, &lvl_key);
    json_t *lv = meta ? first_label(meta, LEVEL_LABELS, &mlvl_key) : NULL;
    if (!lv)
        lv = label_lv;
    if (lv && (rc = ingest_level_word(c, json_string_value(lv), json_string_length(lv), &e->level)) != 0)
        return rc;

    const char *key;
    json_t *val;
    json_object_foreach(labels, key, val) {
        if ((svc_key[0] && strcmp(key, svc_key) == 0) || (lvl_key && strcmp(key, lvl_key) == 0))
            continue;
        if ((!attrs && !(attrs = json_object())) || json_object_set(attrs, key, val) < 0) {
            rc = -2;
            goto out;
        }
    }
    if (meta) {
        json_object_foreach(meta, key, val) {
            if (mlvl_key && strcmp(key, mlvl_key) == 0)
                continue;
            if ((!attrs && !(attrs = json_object())) || json_object_set(attrs, key, val) < 0) {
                rc = -2;
                goto out;
            }
        }
    }
    if (attrs && json_object_size(attrs) > 0 && !(e->attributes = ingest_dump_json(c->b, attrs, JSON_COMPACT))) {
        rc = -2;
        goto out;
    }
    rc = ingest_entry_finish(c, e, (has_ts ? INGEST_GIVEN_TS : 0) | (sv ? INGEST_GIVEN_SERVICE : 0));
out:
    json_decref(attrs);
    return rc;
}

/* "<unix ns>" as a string of 1..19 digits. */
static int parse_ns(const char *s, size_t n, int64_t *ms)
{
    if (n == 0 || n > 19)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *ms = (int64_t)(v / 1000000);
    return 0;
}

/* ----------------------------------------------------------------- JSON */

static int labels_are_strings(json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (!json_is_string(v))
            return 0;
    }
    return 1;
}

/* A push request's body: {"streams": [{"stream": {labels}, "values": [["<unix ns>", "line", {metadata}], ...]}]}. */
static int loki_json_root(ingest_ctx *c, json_t *root, void *arg)
{
    (void)arg;
    json_t *streams = json_object_get(root, "streams");
    if (!json_is_array(streams))
        return ingest_err_set(c->err, 400, "invalid_push", 0, -1, "\"streams\" must be an array");
    int rc = 0;
    for (size_t i = 0; i < json_array_size(streams) && rc == 0; i++) {
        json_t *st = json_array_get(streams, i);
        json_t *labels = json_is_object(st) ? json_object_get(st, "stream") : NULL;
        json_t *values = json_is_object(st) ? json_object_get(st, "values") : NULL;
        json_t *empty = NULL;
        if (!labels || json_is_null(labels))
            labels = empty = json_object();
        if (!labels) {
            rc = -2;
            break;
        }
        if (!json_is_object(labels) || !labels_are_strings(labels) || !json_is_array(values)) {
            rc = ingest_err_set(c->err, 400, "invalid_push", 0, (long)i,
                                "stream %zu: needs \"stream\" (an object of string labels) and \"values\" (an array)",
                                i);
        }
        for (size_t j = 0; rc == 0 && j < json_array_size(values); j++) {
            json_t *v = json_array_get(values, j);
            json_t *ts = json_array_get(v, 0), *line = json_array_get(v, 1), *meta = json_array_get(v, 2);
            int64_t ms = 0;
            size_t n = json_array_size(v);
            if (!json_is_array(v) || n < 2 || n > 3 || !json_is_string(ts) || !json_is_string(line) ||
                (meta && !json_is_null(meta) && !(json_is_object(meta) && labels_are_strings(meta)))) {
                rc = ingest_err_set(c->err, 400, "invalid_push", 0, (long)i,
                                    "stream %zu, value %zu: expected [\"<unix ns>\", \"line\", {metadata}]", i, j);
            } else if (parse_ns(json_string_value(ts), json_string_length(ts), &ms) != 0) {
                char snip[64];
                ingest_snippet(snip, sizeof snip, json_string_value(ts), json_string_length(ts));
                rc = ingest_err_set(c->err, 400, "invalid_timestamp", 0, (long)i,
                                    "stream %zu, value %zu: \"%s\" is not a Unix time in nanoseconds", i, j, snip);
            } else {
                rc = loki_entry(c, labels, json_is_object(meta) ? meta : NULL, 1, ms, json_string_value(line),
                                json_string_length(line), (long)i);
            }
        }
        json_decref(empty);
    }
    return rc;
}

int ingest_parse_loki_json(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err)
{
    return ingest_json_body(body, len, o, b, err, loki_json_root, NULL);
}

/* ------------------------------------------------------------- protobuf */

static int pb_bad(ingest_ctx *c, const char *what)
{
    return ingest_err_set(c->err, 400, "invalid_protobuf", 0, -1, "body is not a Loki PushRequest: %s", what);
}

/* A string field as a new jansson string; NULL with *bad set when it is not UTF-8 or has NUL. */
static json_t *pb_string(pb s, int *bad)
{
    size_t n = (size_t)(s.end - s.p);
    if (!utf8_valid((const char *)s.p, n) || memchr(s.p, '\0', n)) {
        *bad = 1;
        return NULL;
    }
    return json_stringn((const char *)s.p, n);
}

/*
 * Prometheus label text `{a="b", c="d"}` into an object of strings.
 * 0, -1 (malformed) or -2 (out of memory).
 */
static int parse_label_text(const char *s, size_t n, json_t *out)
{
    size_t i = 0;
    char *val = malloc(n + 1), name[256];
    int rc = -1;
    if (!val)
        return -2;
#define SKIP_WS()                                                                                          \
    while (i < n && (s[i] == ' ' || s[i] == '\t'))                                                         \
    i++
    SKIP_WS();
    if (i >= n || s[i++] != '{')
        goto out;
    SKIP_WS();
    if (i < n && s[i] == '}') {
        i++;
        rc = 0;
        goto tail;
    }
    for (;;) {
        size_t k = 0;
        SKIP_WS();
        while (i < n && (s[i] == '_' || s[i] == '.' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                         (k > 0 && s[i] >= '0' && s[i] <= '9'))) {
            if (k + 1 >= sizeof name)
                goto out;
            name[k++] = s[i++];
        }
        name[k] = '\0';
        SKIP_WS();
        if (k == 0 || i >= n || s[i++] != '=')
            goto out;
        SKIP_WS();
        if (i >= n || s[i++] != '"')
            goto out;
        size_t vn = 0;
        for (;;) {
            if (i >= n)
                goto out;
            char ch = s[i++];
            if (ch == '"')
                break;
            if (ch == '\\') {
                if (i >= n)
                    goto out;
                ch = s[i++];
                ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch;
            }
            val[vn++] = ch;
        }
        if (!utf8_valid(val, vn) || memchr(val, '\0', vn))
            goto out;
        json_t *js = json_stringn(val, vn);
        if (!js || json_object_set_new(out, name, js) < 0) { /* set_new steals js */
            rc = -2;
            goto out;
        }
        SKIP_WS();
        if (i < n && s[i] == ',') {
            i++;
            SKIP_WS();
            if (i < n && s[i] == '}') {
                i++;
                rc = 0;
                goto tail;
            }
            continue;
        }
        if (i < n && s[i] == '}') {
            i++;
            rc = 0;
            goto tail;
        }
        goto out;
    }
tail:
    SKIP_WS();
    if (i != n)
        rc = -1;
#undef SKIP_WS
out:
    free(val);
    return rc;
}

static int decode_timestamp(pb t, int64_t *ms)
{
    int64_t sec = 0, nanos = 0;
    uint32_t f;
    int wt;
    uint64_t v = 0;
    pb sub;
    while (t.p < t.end) {
        if (pb_next(&t, &f, &wt, &v, &sub) != 0)
            return -1;
        if (f == 1 && wt == 0)
            sec = (int64_t)v;
        else if (f == 2 && wt == 0)
            nanos = (int64_t)(int32_t)(uint32_t)v;
    }
    /* years 0001..9999, as google.protobuf.Timestamp allows */
    if (sec < INT64_C(-62135596800) || sec > INT64_C(253402300799) || nanos < 0 || nanos > 999999999)
        return -1;
    *ms = sec * 1000 + nanos / 1000000;
    return 0;
}

static int decode_entry(ingest_ctx *c, pb e, json_t *labels, long stream)
{
    int has_ts = 0, rc = 0, bad = 0;
    int64_t ms = 0;
    pb line = {NULL, NULL}, sub;
    json_t *meta = NULL;
    uint32_t f;
    int wt;
    uint64_t v;
    while (e.p < e.end && rc == 0) {
        if (pb_next(&e, &f, &wt, &v, &sub) != 0) {
            rc = pb_bad(c, "truncated or malformed entry");
        } else if (f == 1 && wt == 2) {
            if (decode_timestamp(sub, &ms) != 0)
                rc = pb_bad(c, "entry timestamp out of range");
            has_ts = 1;
        } else if (f == 2 && wt == 2) {
            line = sub;
        } else if (f == 3 && wt == 2) {
            pb name = {NULL, NULL}, value = {NULL, NULL}, x;
            while (sub.p < sub.end && rc == 0) {
                if (pb_next(&sub, &f, &wt, &v, &x) != 0)
                    rc = pb_bad(c, "malformed structured metadata");
                else if (f == 1 && wt == 2)
                    name = x;
                else if (f == 2 && wt == 2)
                    value = x;
            }
            if (rc)
                break;
            if (!name.p || name.p == name.end) {
                rc = pb_bad(c, "structured metadata without a name");
                break;
            }
            if (!meta && !(meta = json_object())) {
                rc = -2;
                break;
            }
            size_t kn = (size_t)(name.end - name.p);
            if (!utf8_valid((const char *)name.p, kn) || memchr(name.p, '\0', kn)) {
                rc = pb_bad(c, "structured metadata name is not UTF-8 text");
                break;
            }
            char *k = strndup((const char *)name.p, kn);
            json_t *js = value.p ? pb_string(value, &bad) : json_string("");
            if (bad)
                rc = pb_bad(c, "structured metadata value is not UTF-8 text");
            else if (!k || !js || json_object_set(meta, k, js) < 0)
                rc = -2;
            json_decref(js);
            free(k);
        }
    }
    if (rc == 0) {
        const char *lp = line.p ? (const char *)line.p : "";
        rc = loki_entry(c, labels, meta, has_ts, ms, lp, line.p ? (size_t)(line.end - line.p) : 0, stream);
    }
    json_decref(meta);
    return rc;
}

static int decode_stream(ingest_ctx *c, pb s, long stream)
{
    pb labels_text = {NULL, NULL}, sub;
    uint32_t f;
    int wt;
    uint64_t v;
    int rc = 0;
    /* labels come first in practice, but protobuf allows any order: find them first */
    pb scan = s;
    while (scan.p < scan.end) {
        if (pb_next(&scan, &f, &wt, &v, &sub) != 0)
            return pb_bad(c, "truncated or malformed stream");
        if (f == 1 && wt == 2)
            labels_text = sub;
    }
    json_t *labels = json_object();
    if (!labels)
        return -2;
    if (labels_text.p) {
        rc = parse_label_text((const char *)labels_text.p, (size_t)(labels_text.end - labels_text.p), labels);
        if (rc == -1)
            rc = ingest_err_set(c->err, 400, "invalid_labels", 0, -1,
                                "stream %ld: labels are not of the form {name=\"value\", ...}", stream);
    }
    while (rc == 0 && s.p < s.end) {
        if (pb_next(&s, &f, &wt, &v, &sub) != 0)
            rc = pb_bad(c, "truncated or malformed stream");
        else if (f == 2 && wt == 2)
            rc = decode_entry(c, sub, labels, stream);
    }
    json_decref(labels);
    return rc;
}

int ingest_parse_loki_proto(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err)
{
    ingest_ctx c;
    pb r = {(const unsigned char *)body, (const unsigned char *)body + len}, sub;
    uint32_t f;
    int wt;
    uint64_t v;
    long stream = 0;
    int rc = 0;

    ingest_ctx_init(&c, o, b, err);
    while (rc == 0 && r.p < r.end) {
        if (pb_next(&r, &f, &wt, &v, &sub) != 0)
            rc = pb_bad(&c, "truncated or malformed message");
        else if (f == 1 && wt == 2)
            rc = decode_stream(&c, sub, stream++);
    }
    return rc;
}
