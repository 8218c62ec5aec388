/*
 * otlp.c — OTLP/HTTP logs bodies (ExportLogsServiceRequest), JSON and
 * protobuf, as the OpenTelemetry Collector's otlphttp exporter and the SDKs
 * send them.
 *
 * Mapping:
 *   service     resource attribute service.name (else the request's default)
 *   timestamp   timeUnixNano, else observedTimeUnixNano, else receive time
 *   level       severityText when it is a level word, else severityNumber
 *               (1-4 trace, 5-8 debug, 9-12 info, 13-16 warn, 17-20 error,
 *               21-24 fatal), else an unknown severityText lowercased,
 *               else the level the body states (level.c)
 *   message     body: a string as is, any other AnyValue as compact JSON;
 *               a body that is a JSON object is then read like an NDJSON
 *               entry (ingest_entry_finish): message, level, fields
 *   attributes  resource attributes (but service.name), overridden by the
 *               record's, plus trace_id / span_id in hex when set
 * AnyValues become plain JSON (kvlist -> object, array -> array, int ->
 * integer, bytes -> base64 text in JSON, hex in protobuf).
 *
 * Partial success: a record that cannot be stored (a body or attribute that
 * is not an AnyValue, a timestamp that is not a number, nesting deeper than
 * OTLP_MAX_DEPTH, text that is not UTF-8 or holds NUL) is rejected alone and
 * counted in ingest_rejects; the others are stored. A body whose structure is
 * not an export request at all is refused whole (400), as is one with more
 * than max_entries records (413).
 *
 * Protobuf field numbers (opentelemetry-proto, logs/v1 and common/v1):
 *   ExportLogsServiceRequest { ResourceLogs resource_logs = 1 }
 *   ResourceLogs { Resource resource = 1; ScopeLogs scope_logs = 2 }
 *   Resource     { KeyValue attributes = 1 }
 *   ScopeLogs    { InstrumentationScope scope = 1; LogRecord log_records = 2 }
 *   LogRecord    { fixed64 time_unix_nano = 1; SeverityNumber severity_number = 2;
 *                  string severity_text = 3; AnyValue body = 5; KeyValue attributes = 6;
 *                  bytes trace_id = 9; bytes span_id = 10; fixed64 observed_time_unix_nano = 11 }
 *   KeyValue     { string key = 1; AnyValue value = 2 }
 *   AnyValue     { string_value = 1; bool_value = 2; int64 int_value = 3; double double_value = 4;
 *                  ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7 }
 *   ArrayValue / KeyValueList { repeated values = 1 }
 *
 * Threads: the HTTP thread that owns the batch. Limits: OTLP_MAX_DEPTH
 * nested AnyValues (recursion is bounded by it), max_entries, max_line.
 */
#include "ingest/common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTLP_MAX_DEPTH 16

typedef struct otlp_rec {
    int has_ts, has_obs;
    uint64_t ts_ns, obs_ns;
    int64_t sev_num;
    const char *sev_text;
    size_t sev_len;
    json_t *body;   /* converted AnyValue, owned; NULL when absent */
    json_t *attrs;  /* object, owned; NULL when none */
    char trace[65], span[33];
    const char *reject; /* why the record is rejected, or NULL */
} otlp_rec;

static void rec_clear(otlp_rec *r)
{
    json_decref(r->body);
    json_decref(r->attrs);
    memset(r, 0, sizeof *r);
}

/* What a resource gives each of its records. */
typedef struct otlp_resource {
    json_t *attrs;      /* its attributes, owned; NULL when none */
    const char *svc;    /* its service.name, in attrs; NULL when none */
    size_t svc_len;
    const char *reject; /* why each of its records is rejected, or NULL */
} otlp_resource;

static void reject(ingest_rejects *rej, const char *why)
{
    if (rej->count++ == 0)
        snprintf(rej->message, sizeof rej->message, "%s", why);
}

static int text_ok(const char *s, size_t n)
{
    return utf8_valid(s, n) && !memchr(s, '\0', n);
}

/* Appends one record of resource res. 0 (stored or rejected), -1 (err filled) or -2. */
static int otlp_entry(ingest_ctx *c, const otlp_resource *res, otlp_rec *r, ingest_rejects *rej)
{
    static const char *const by_number[6] = {"trace", "debug", "info", "warn", "error", "fatal"};
    int rc = 0;
    json_t *attrs = NULL;

    if (r->reject) {
        reject(rej, r->reject);
        return 0;
    }
    if (c->b->count >= c->max_entries)
        return ingest_err_set(c->err, 413, "too_many_entries", 0, -1,
                              "too many log records (at most %zu in one request)", c->max_entries);
    const char *msg = "";
    size_t n = 0;
    char *dumped = NULL;
    if (r->body && json_is_string(r->body)) {
        msg = json_string_value(r->body);
        n = json_string_length(r->body);
    } else if (r->body && !json_is_null(r->body)) {
        if (!(dumped = json_dumps(r->body, JSON_COMPACT | JSON_ENCODE_ANY)))
            return -2;
        msg = dumped;
        n = strlen(dumped);
    }
    int has_ts = (r->has_ts && r->ts_ns) || (r->has_obs && r->obs_ns);
    uint64_t ns = r->has_ts && r->ts_ns ? r->ts_ns : r->obs_ns;
    log_entry *e = ingest_entry_new(c, (long)c->b->count + 1, has_ts, (int64_t)(ns / 1000000));
    rc = !e ? -2 : ingest_entry_message(c, e, msg, n);
    free(dumped);
    if (rc != 0 || ingest_entry_service(c, e, res->svc, res->svc_len) != 0)
        return -2;

    const char *canon = r->sev_len ? ingest_level_canonical(r->sev_text, r->sev_len) : NULL;
    if (canon) {
        e->level = canon;
    } else if (r->sev_num >= 1 && r->sev_num <= 24) {
        e->level = by_number[(r->sev_num - 1) / 4];
    } else if (r->sev_len && (rc = ingest_level_word(c, r->sev_text, r->sev_len, &e->level)) != 0) {
        return rc;
    }

    const char *key;
    json_t *val;
    if (res->attrs && json_object_size(res->attrs) > 0 && !(attrs = json_deep_copy(res->attrs)))
        return -2;
    if (attrs)
        json_object_del(attrs, "service.name");
    if (r->attrs) {
        if (!attrs && !(attrs = json_object()))
            return -2;
        json_object_foreach(r->attrs, key, val) {
            if (json_object_set(attrs, key, val) < 0) {
                rc = -2;
                goto out;
            }
        }
    }
    if (r->trace[0] || r->span[0]) {
        if ((!attrs && !(attrs = json_object())) ||
            (r->trace[0] && json_object_set_new(attrs, "trace_id", json_string(r->trace)) < 0) ||
            (r->span[0] && json_object_set_new(attrs, "span_id", json_string(r->span)) < 0)) {
            rc = -2;
            goto out;
        }
    }
    if (attrs && json_object_size(attrs) > 0 && !(e->attributes = ingest_dump_json(c->b, attrs, JSON_COMPACT))) {
        rc = -2;
        goto out;
    }
    rc = ingest_entry_finish(c, e, (has_ts ? INGEST_GIVEN_TS : 0) | (res->svc ? INGEST_GIVEN_SERVICE : 0));
out:
    json_decref(attrs);
    return rc;
}

static int valid_service(const char *s, size_t n)
{
    if (n == 0 || n > INGEST_SERVICE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    }
    return 1;
}

/* Once res->attrs is read: the service its service.name names, or the rejection of its records when that
 * is no service name. */
static void resource_service(otlp_resource *res)
{
    json_t *sn = json_object_get(res->attrs, "service.name");
    if (!json_is_string(sn))
        return;
    res->svc = json_string_value(sn);
    res->svc_len = json_string_length(sn);
    if (!valid_service(res->svc, res->svc_len))
        res->reject = "service.name is not a service name (1..128 bytes, no control characters)";
}

/* One record of res, as rec_from_json or rec_from_pb read it (rc what they returned): res's rejection when
 * the record has none of its own, then otlp_entry. rec is cleared. 0, -1 or -2. */
static int resource_record(ingest_ctx *c, const otlp_resource *res, otlp_rec *rec, int rc, ingest_rejects *rej)
{
    if (rc == 0 && res->reject && !rec->reject)
        rec->reject = res->reject;
    if (rc == 0)
        rc = otlp_entry(c, res, rec, rej);
    rec_clear(rec);
    return rc;
}

/* ----------------------------------------------------------------- JSON */

/* An OTLP JSON AnyValue as plain JSON (new reference). NULL and *why set when invalid; NULL alone: OOM. */
static json_t *any_from_json(json_t *v, int depth, const char **why);

static json_t *kvlist_from_json(json_t *arr, int depth, const char **why)
{
    if (!json_is_array(arr)) {
        *why = "attributes must be an array of {key, value}";
        return NULL;
    }
    json_t *obj = json_object();
    size_t i;
    json_t *kv;
    json_array_foreach(arr, i, kv) {
        json_t *k = json_object_get(kv, "key");
        if (!obj)
            return NULL;
        if (!json_is_string(k)) {
            *why = "an attribute has no string key";
            json_decref(obj);
            return NULL;
        }
        json_t *jv = json_object_get(kv, "value");
        json_t *conv = jv ? any_from_json(jv, depth + 1, why) : json_null();
        if (!conv || json_object_set_new(obj, json_string_value(k), conv) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *any_from_json(json_t *v, int depth, const char **why)
{
    json_t *x;
    if (depth > OTLP_MAX_DEPTH) {
        *why = "AnyValue nested too deeply";
        return NULL;
    }
    if (!json_is_object(v)) {
        *why = "an AnyValue must be an object";
        return NULL;
    }
    if ((x = json_object_get(v, "stringValue")) && json_is_string(x))
        return json_incref(x);
    if ((x = json_object_get(v, "boolValue")) && json_is_boolean(x))
        return json_incref(x);
    if ((x = json_object_get(v, "intValue"))) {
        if (json_is_integer(x))
            return json_incref(x);
        if (json_is_string(x)) {
            char *end;
            const char *s = json_string_value(x);
            long long n = strtoll(s, &end, 10);
            if (*s && !*end)
                return json_integer(n);
        }
        *why = "intValue is not an integer";
        return NULL;
    }
    if ((x = json_object_get(v, "doubleValue"))) {
        if (json_is_number(x))
            return json_real(json_number_value(x));
        if (json_is_string(x)) /* "NaN", "Infinity": JSON has no such numbers */
            return json_incref(x);
        *why = "doubleValue is not a number";
        return NULL;
    }
    if ((x = json_object_get(v, "bytesValue")) && json_is_string(x))
        return json_incref(x);
    if ((x = json_object_get(v, "arrayValue"))) {
        json_t *vals = json_object_get(x, "values");
        json_t *arr = json_array();
        size_t i;
        json_t *el;
        if (!arr)
            return NULL;
        if (vals && !json_is_array(vals)) {
            *why = "arrayValue.values must be an array";
            json_decref(arr);
            return NULL;
        }
        json_array_foreach(vals, i, el) {
            json_t *conv = any_from_json(el, depth + 1, why);
            if (!conv || json_array_append_new(arr, conv) < 0) {
                json_decref(arr);
                return NULL;
            }
        }
        return arr;
    }
    if ((x = json_object_get(v, "kvlistValue"))) {
        json_t *vals = json_object_get(x, "values");
        return vals ? kvlist_from_json(vals, depth, why) : json_object();
    }
    return json_null(); /* an empty AnyValue */
}

/* A nanosecond time as a JSON string of digits or an integer. 0 absent, 1 set, -1 invalid. */
static int ns_from_json(json_t *v, uint64_t *ns)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ns = (uint64_t)json_integer_value(v);
        return 1;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    uint64_t x = 0;
    if (n == 0 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *ns = x;
    return 1;
}

static int rec_from_json(json_t *lr, otlp_rec *r)
{
    const char *why = NULL;
    json_t *x;
    if (!json_is_object(lr)) {
        r->reject = "a log record must be an object";
        return 0;
    }
    int t = ns_from_json(json_object_get(lr, "timeUnixNano"), &r->ts_ns);
    int o = ns_from_json(json_object_get(lr, "observedTimeUnixNano"), &r->obs_ns);
    if (t < 0 || o < 0) {
        r->reject = "timeUnixNano and observedTimeUnixNano are nanoseconds as a string of digits";
        return 0;
    }
    r->has_ts = t;
    r->has_obs = o;
    x = json_object_get(lr, "severityNumber");
    if (json_is_integer(x))
        r->sev_num = json_integer_value(x);
    x = json_object_get(lr, "severityText");
    if (json_is_string(x)) {
        r->sev_text = json_string_value(x);
        r->sev_len = json_string_length(x);
    }
    if ((x = json_object_get(lr, "body")) && !json_is_null(x) && !(r->body = any_from_json(x, 0, &why))) {
        if (!why)
            return -2;
        r->reject = why;
        return 0;
    }
    if ((x = json_object_get(lr, "attributes")) && !json_is_null(x) && !(r->attrs = kvlist_from_json(x, 0, &why))) {
        if (!why)
            return -2;
        r->reject = why;
        return 0;
    }
    if ((x = json_object_get(lr, "traceId")) && json_is_string(x) && json_string_length(x) < sizeof r->trace)
        snprintf(r->trace, sizeof r->trace, "%s", json_string_value(x));
    if ((x = json_object_get(lr, "spanId")) && json_is_string(x) && json_string_length(x) < sizeof r->span)
        snprintf(r->span, sizeof r->span, "%s", json_string_value(x));
    return 0;
}

/* An export request's body: {"resourceLogs": [{"resource": {...}, "scopeLogs": [{"logRecords": [...]}]}]}. */
static int otlp_json_root(ingest_ctx *c, json_t *root, void *arg)
{
    ingest_rejects *rej = arg;
    json_t *rls = json_object_get(root, "resourceLogs");
    if (!json_is_object(root) || (rls && !json_is_array(rls)))
        return ingest_err_set(c->err, 400, "invalid_otlp", 0, -1, "expected {\"resourceLogs\": [...]}");
    int rc = 0;
    size_t i, j, k;
    json_t *rl, *sl, *lr;
    json_array_foreach(rls, i, rl) {
        otlp_resource res = {0};
        const char *why = NULL;
        json_t *ra = json_object_get(json_object_get(rl, "resource"), "attributes");
        if (ra && !json_is_null(ra) && !(res.attrs = kvlist_from_json(ra, 0, &why))) {
            if (!why)
                return -2;
            res.reject = why;
        }
        resource_service(&res);
        json_t *sls = json_object_get(rl, "scopeLogs");
        if (!json_is_object(rl) || (sls && !json_is_array(sls))) {
            json_decref(res.attrs);
            return ingest_err_set(c->err, 400, "invalid_otlp", 0, (long)i,
                                  "resourceLogs[%zu]: expected {\"scopeLogs\": [...]}", i);
        }
        json_array_foreach(sls, j, sl) {
            json_t *lrs = json_object_get(sl, "logRecords");
            if (!json_is_object(sl) || (lrs && !json_is_array(lrs))) {
                rc = ingest_err_set(c->err, 400, "invalid_otlp", 0, (long)i,
                                    "resourceLogs[%zu].scopeLogs[%zu]: expected {\"logRecords\": [...]}", i, j);
                break;
            }
            json_array_foreach(lrs, k, lr) {
                otlp_rec r = {0};
                if ((rc = resource_record(c, &res, &r, rec_from_json(lr, &r), rej)) != 0)
                    break;
            }
            if (rc)
                break;
        }
        json_decref(res.attrs);
        if (rc)
            break;
    }
    return rc;
}

int ingest_parse_otlp_json(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                           ingest_rejects *rej)
{
    memset(rej, 0, sizeof *rej);
    return ingest_json_body(body, len, o, b, err, otlp_json_root, rej);
}

/* ------------------------------------------------------------- protobuf */

static void hex(char *dst, size_t dstlen, pb s)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = (size_t)(s.end - s.p), o = 0;
    for (size_t i = 0; i < n && o + 2 < dstlen; i++) {
        dst[o++] = digits[s.p[i] >> 4];
        dst[o++] = digits[s.p[i] & 15];
    }
    dst[o] = '\0';
}

/* As any_from_json: NULL with *why set for invalid input, NULL alone when out of memory. */
static json_t *any_from_pb(pb v, int depth, const char **why);

/* Decodes one KeyValue message into obj. 0, -1 (*why set) or -2 (out of memory). */
static int kv_into(json_t *obj, pb kv, int depth, const char **why)
{
    uint32_t f;
    int wt;
    uint64_t x;
    pb y, key = {NULL, NULL}, val = {NULL, NULL};
    while (kv.p < kv.end) {
        if (pb_next(&kv, &f, &wt, &x, &y) != 0) {
            *why = "malformed protobuf";
            return -1;
        }
        if (f == 1 && wt == 2)
            key = y;
        else if (f == 2 && wt == 2)
            val = y;
    }
    size_t kn = key.p ? (size_t)(key.end - key.p) : 0;
    const char *kp = key.p ? (const char *)key.p : "";
    if (!text_ok(kp, kn)) {
        *why = "an attribute key is not UTF-8 text";
        return -1;
    }
    json_t *conv = val.p ? any_from_pb(val, depth + 1, why) : json_null();
    if (!conv)
        return *why ? -1 : -2;
    char *k = strndup(kp, kn);
    if (!k) {
        json_decref(conv);
        return -2;
    }
    int rc = json_object_set_new(obj, k, conv) < 0 ? -2 : 0; /* steals conv, even on failure */
    free(k);
    return rc;
}

/* Every field `want` of s is a KeyValue: collected into obj (stolen). NULL with *why set, or NULL alone (OOM). */
static json_t *kvlist_from_pb(pb s, uint32_t want, int depth, const char **why, json_t *obj)
{
    uint32_t f;
    int wt;
    uint64_t x;
    pb sub;
    if (!obj)
        return NULL;
    while (s.p < s.end) {
        if (pb_next(&s, &f, &wt, &x, &sub) != 0) {
            *why = "malformed protobuf";
            json_decref(obj);
            return NULL;
        }
        if (f == want && wt == 2 && kv_into(obj, sub, depth, why) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *any_from_pb(pb v, int depth, const char **why)
{
    uint32_t f;
    int wt;
    uint64_t x;
    pb sub;
    json_t *out = NULL;
    if (depth > OTLP_MAX_DEPTH) {
        *why = "AnyValue nested too deeply";
        return NULL;
    }
    while (v.p < v.end) {
        if (pb_next(&v, &f, &wt, &x, &sub) != 0) {
            *why = "malformed protobuf";
            json_decref(out);
            return NULL;
        }
        json_t *nv = NULL;
        if (f == 1 && wt == 2) {
            size_t n = (size_t)(sub.end - sub.p);
            if (!text_ok((const char *)sub.p, n)) {
                *why = "a string is not UTF-8 text";
                json_decref(out);
                return NULL;
            }
            nv = json_stringn((const char *)sub.p, n);
        } else if (f == 2 && wt == 0) {
            nv = json_boolean(x != 0);
        } else if (f == 3 && wt == 0) {
            nv = json_integer((json_int_t)(int64_t)x);
        } else if (f == 4 && wt == 1) {
            double d;
            memcpy(&d, &x, sizeof d);
            nv = d == d && d - d == 0 ? json_real(d) : json_string(d != d ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        } else if (f == 5 && wt == 2) {
            json_t *arr = json_array();
            pb s2 = sub, el;
            uint32_t f2;
            int wt2;
            while (arr && s2.p < s2.end) {
                if (pb_next(&s2, &f2, &wt2, &x, &el) != 0) {
                    *why = "malformed protobuf";
                    json_decref(arr);
                    arr = NULL;
                    break;
                }
                if (f2 != 1 || wt2 != 2)
                    continue;
                json_t *conv = any_from_pb(el, depth + 1, why);
                if (!conv || json_array_append_new(arr, conv) < 0) {
                    json_decref(arr);
                    arr = NULL;
                }
            }
            nv = arr;
        } else if (f == 6 && wt == 2) {
            nv = kvlist_from_pb(sub, 1, depth, why, json_object());
        } else if (f == 7 && wt == 2) {
            char *h = malloc((size_t)(sub.end - sub.p) * 2 + 1);
            if (h) {
                hex(h, (size_t)(sub.end - sub.p) * 2 + 1, sub);
                nv = json_string(h);
                free(h);
            }
        } else {
            continue;
        }
        if (!nv) {
            json_decref(out);
            return NULL;
        }
        json_decref(out); /* oneof: the last one wins */
        out = nv;
    }
    return out ? out : json_null();
}

static int rec_from_pb(pb s, otlp_rec *r)
{
    uint32_t f;
    int wt;
    uint64_t x;
    pb sub;
    const char *why = NULL;
    while (s.p < s.end) {
        if (pb_next(&s, &f, &wt, &x, &sub) != 0) {
            r->reject = "malformed protobuf";
            return 0;
        }
        if (f == 1 && wt == 1) {
            r->ts_ns = x;
            r->has_ts = 1;
        } else if (f == 11 && wt == 1) {
            r->obs_ns = x;
            r->has_obs = 1;
        } else if (f == 2 && wt == 0) {
            r->sev_num = (int64_t)x;
        } else if (f == 3 && wt == 2) {
            if (!text_ok((const char *)sub.p, (size_t)(sub.end - sub.p))) {
                r->reject = "severity_text is not UTF-8 text";
                return 0;
            }
            r->sev_text = (const char *)sub.p;
            r->sev_len = (size_t)(sub.end - sub.p);
        } else if (f == 5 && wt == 2) {
            json_decref(r->body);
            if (!(r->body = any_from_pb(sub, 0, &why))) {
                if (!why)
                    return -2;
                r->reject = why;
                return 0;
            }
        } else if (f == 6 && wt == 2) {
            /* attributes is repeated KeyValue: each lands in one object */
            if (!r->attrs && !(r->attrs = json_object()))
                return -2;
            int krc = kv_into(r->attrs, sub, 0, &why);
            if (krc == -2)
                return -2;
            if (krc == -1) {
                r->reject = why;
                return 0;
            }
        } else if (f == 9 && wt == 2) {
            hex(r->trace, sizeof r->trace, sub);
        } else if (f == 10 && wt == 2) {
            hex(r->span, sizeof r->span, sub);
        }
    }
    return 0;
}

static int otlp_bad(ingest_ctx *c)
{
    return ingest_err_set(c->err, 400, "invalid_protobuf", 0, -1, "body is not an OTLP ExportLogsServiceRequest");
}

/* The ScopeLogs (field 2) of a ResourceLogs rl and their LogRecords (field 2 of each), as records of res. */
static int otlp_pb_records(ingest_ctx *c, const otlp_resource *res, pb rl, ingest_rejects *rej)
{
    pb sl, lr;
    int found;
    while ((found = pb_field(&rl, 2, &sl)) > 0) {
        while ((found = pb_field(&sl, 2, &lr)) > 0) {
            otlp_rec rec = {0};
            int rc = resource_record(c, res, &rec, rec_from_pb(lr, &rec), rej);
            if (rc != 0)
                return rc;
        }
        if (found < 0)
            break;
    }
    return found < 0 ? otlp_bad(c) : 0;
}

int ingest_parse_otlp_proto(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err,
                            ingest_rejects *rej)
{
    ingest_ctx c;
    pb r = {(const unsigned char *)body, (const unsigned char *)body + len}, rl;
    int found = 0, rc = 0;

    ingest_ctx_init(&c, o, b, err);
    memset(rej, 0, sizeof *rej);
    while (rc == 0 && (found = pb_field(&r, 1, &rl)) > 0) { /* ResourceLogs */
        /* the resource first (it may come after the scopes on the wire) */
        otlp_resource res = {0};
        const char *why = NULL;
        pb scan = rl, resource;
        while ((found = pb_field(&scan, 1, &resource)) > 0) {
            json_decref(res.attrs);
            res.attrs = kvlist_from_pb(resource, 1, 0, &why, json_object());
            if (!res.attrs) {
                if (!why)
                    return -2;
                res.reject = why;
            }
        }
        if (found < 0) {
            json_decref(res.attrs);
            return otlp_bad(&c);
        }
        resource_service(&res);
        rc = otlp_pb_records(&c, &res, rl, rej);
        json_decref(res.attrs);
    }
    return rc == 0 && found < 0 ? otlp_bad(&c) : rc;
}
