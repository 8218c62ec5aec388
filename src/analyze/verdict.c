/*
 * verdict.c — the model's answer: recovered leniently, validated strictly.
 *
 * Purpose: verdict_parse() turns whatever text a model produced into the
 * window verdict of DESIGN.md ("health" plus a list of anomalies), or says
 * precisely why it cannot. Recovery tries, in order: the whole text as JSON;
 * the content of the first ``` fence (```json or bare); then every '{' in the
 * text in order, each with its matching '}' found by a string- and
 * escape-aware brace scan, until one span parses as a JSON object. The first
 * object found is the answer; it is then validated, never searched past, so
 * an invalid answer is reported (and retried by the caller) rather than
 * replaced by some later object quoted in the text.
 *
 * Validation: "health" is normal|degraded|critical; "anomalies" an array of
 * at most VERDICT_MAX_ANOMALIES objects, each with "severity", "type",
 * "summary" (non-empty), "evidence" (array of strings) and
 * "recommended_action" (may be empty). Enum values are matched ignoring case
 * and surrounding space and come out lowercase. Strings are trimmed and cut
 * to VERDICT_MAX_TEXT bytes on a UTF-8 character boundary; blank evidence
 * lines are dropped and only the first VERDICT_MAX_EVIDENCE kept. Unknown
 * fields are dropped. A "normal" health with high anomalies is kept as given:
 * the caller decides what that means. Every error names its JSON path:
 * `anomalies[2].type: "oops" is not one of ...`.
 *
 * Assembly: verdict_assemble() makes the window's verdict, the one place
 * that does, whatever the path: the model's answer with the baseline's
 * findings it did not report, or the baseline alone; its health, the worse
 * of what the model said, the findings kept and (a re-read, a late pass) the
 * window's earlier health.
 *
 * Threads: pure functions over their arguments; any thread may call them.
 *
 * Invariants: the result holds only the fields above, and parsing its own
 * dump gives back an equal object (trim, cut and re-trim are idempotent), a
 * property the fuzz harness checks. jansson rejects invalid UTF-8 and
 * "\u0000", so every string in a result is valid UTF-8 without NUL. Error
 * messages are always NUL-terminated and valid UTF-8 (quoted values are cut
 * and their control bytes replaced).
 *
 * Limits: the recovery scan is bounded by a work budget proportional to the
 * text (VERDICT_WORK_PER_BYTE bytes scanned or parsed per input byte, plus a
 * fixed allowance), so adversarial text full of unmatched braces costs linear
 * time and ends as "no JSON object found in the answer". Nesting deeper than
 * jansson's parser limit (2048) is a parse failure, never a stack overflow.
 */
#include "anomalog/verdict.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "anomalog/severity.h"
#include "anomalog/type_phrase.h"
#include "anomalog/utf8.h"

#define VERDICT_WORK_PER_BYTE 16
#define VERDICT_WORK_FIXED ((size_t)1 << 20)
#define VERDICT_SNIPPET_MAX 40

static const char *const TYPE_VALUES[] = {"error_spike", "auth_failure", "latency", "security",
                                          "resource",    "config",       "unknown", NULL};

/* Bytes of scanning and parsing allowed, and used, by one recovery. */
typedef struct work {
    size_t used, budget;
} work;

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* vsnprintf may have cut inside a character: back off to a boundary */
    size_t n = strlen(err);
    if (n == errlen - 1) {
        n = utf8_whole(err, n);
        err[n] = '\0';
    }
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* s[*start .. *end) without surrounding ASCII whitespace. */
static void trim(const char *s, size_t *start, size_t *end)
{
    while (*start < *end && is_space((unsigned char)s[*start]))
        (*start)++;
    while (*end > *start && is_space((unsigned char)s[*end - 1]))
        (*end)--;
}

/* A quotable copy of a (valid UTF-8) value: cut, control bytes and quotes replaced. */
static void snippet(char dst[VERDICT_SNIPPET_MAX + 4], const char *s)
{
    size_t len = strlen(s), n = utf8_cut(s, len, VERDICT_SNIPPET_MAX), o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[o++] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* ---- recovery ----------------------------------------------------------- */

/* s[0..n) parsed as a JSON object, or NULL; the bytes jansson read are charged. */
static json_t *try_object(const char *s, size_t n, work *w)
{
    json_error_t je;
    json_t *v = json_loadb(s, n, 0, &je);
    if (!v) {
        size_t read = je.position > 0 ? (size_t)je.position : 1;
        w->used += read < n ? read : n;
        return NULL;
    }
    w->used += n;
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/*
 * The '}' matching the '{' at s[start], skipping braces inside JSON strings
 * (a backslash escapes the next byte). 1 and *end set, or 0 when unmatched.
 */
static int match_brace(const char *s, size_t n, size_t start, size_t *end, work *w)
{
    size_t depth = 0;
    int in_str = 0;
    for (size_t j = start; j < n; j++) {
        char c = s[j];
        if (in_str) {
            if (c == '\\')
                j++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{') {
            depth++;
        } else if (c == '}' && --depth == 0) {
            *end = j;
            w->used += j - start + 1;
            return 1;
        }
    }
    w->used += n - start;
    return 0;
}

/* The content of the first ``` fence (after its info string), or 0 when none. */
static int fence_content(const char *s, size_t n, size_t *cstart, size_t *cend)
{
    const char *open = memmem(s, n, "```", 3);
    if (!open)
        return 0;
    size_t i = (size_t)(open - s) + 3;
    while (i < n && s[i] == '`')
        i++;
    /* info string: "json", "JSON", "jsonc"... up to the end of the line */
    const char *nl = memchr(s + i, '\n', n - i);
    if (nl) {
        i = (size_t)(nl - s) + 1;
    } else {
        while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            i++;
    }
    const char *close = memmem(s + i, n - i, "```", 3);
    *cstart = i;
    *cend = close ? (size_t)(close - s) : n; /* an unclosed fence runs to the end */
    return 1;
}

/* The first JSON object in the answer, or NULL. */
static json_t *recover_object(const char *s, size_t n)
{
    work w = {0, VERDICT_WORK_FIXED};
    if (n < (SIZE_MAX - VERDICT_WORK_FIXED) / VERDICT_WORK_PER_BYTE)
        w.budget += n * VERDICT_WORK_PER_BYTE;
    else
        w.budget = SIZE_MAX;

    json_t *v = try_object(s, n, &w);
    if (v)
        return v;

    size_t cs, ce;
    if (fence_content(s, n, &cs, &ce)) {
        trim(s, &cs, &ce);
        if (ce > cs && (v = try_object(s + cs, ce - cs, &w)) != NULL)
            return v;
    }

    for (size_t i = 0; i < n && w.used < w.budget; i++) {
        const char *p = memchr(s + i, '{', n - i);
        if (!p)
            break;
        i = (size_t)(p - s);
        size_t end;
        if (match_brace(s, n, i, &end, &w) && w.used < w.budget && (v = try_object(s + i, end - i + 1, &w)) != NULL)
            return v;
    }
    return NULL;
}

/* ---- validation --------------------------------------------------------- */

/* "prefix.name", or "name" when prefix is empty. */
static void field_path(char *buf, size_t len, const char *prefix, const char *name)
{
    snprintf(buf, len, "%s%s%s", prefix, prefix[0] ? "." : "", name);
}

/*
 * The field `name` of obj if it has JSON type `type` (a string or an array),
 * its path written to path; NULL with err set when missing or of another type.
 */
static const json_t *typed_field(const json_t *obj, const char *prefix, const char *name, json_type type, char *path,
                                 size_t pathlen, char *err, size_t errlen)
{
    field_path(path, pathlen, prefix, name);
    const json_t *v = json_object_get(obj, name);
    if (!v)
        set_err(err, errlen, "%s: missing", path);
    else if (json_typeof(v) != type)
        set_err(err, errlen, "%s: expected %s, got %s", path, type == JSON_ARRAY ? "an array" : "a string",
                type_phrase(v));
    else
        return v;
    return NULL;
}

/* A trimmed, cut copy of a JSON string value as a new jansson string (NULL when out of memory). */
static json_t *clean_string(const char *s, size_t len)
{
    size_t a = 0, b = len;
    trim(s, &a, &b);
    b = a + utf8_cut(s + a, b - a, VERDICT_MAX_TEXT);
    trim(s, &a, &b); /* the cut may have left space at the end */
    return json_stringn(s + a, b - a);
}

/*
 * The enum field `name` of obj, matched ignoring case and surrounding space.
 * @return its canonical (lowercase) spelling, or NULL with err set.
 */
static const char *check_enum(const json_t *obj, const char *prefix, const char *name, const char *const *values,
                              char *err, size_t errlen)
{
    char path[64];
    const json_t *v = typed_field(obj, prefix, name, JSON_STRING, path, sizeof path, err, errlen);
    if (!v)
        return NULL;
    const char *s = json_string_value(v);
    size_t a = 0, b = json_string_length(v);
    trim(s, &a, &b);
    for (size_t i = 0; values[i]; i++) {
        if (strlen(values[i]) == b - a && strncasecmp(values[i], s + a, b - a) == 0)
            return values[i];
    }
    char list[128] = "", q[VERDICT_SNIPPET_MAX + 4];
    size_t o = 0;
    for (size_t i = 0; values[i] && o < sizeof list; i++) {
        int k = snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", values[i]);
        if (k < 0)
            break;
        o += (size_t)k;
    }
    snippet(q, s);
    set_err(err, errlen, "%s: \"%s\" is not one of %s", path, q, list);
    return NULL;
}

/*
 * The string field `name` of obj, cleaned (see clean_string), as a new
 * reference; NULL with err set when missing, not a string, or (unless
 * allow_empty) blank.
 */
static json_t *check_text(const json_t *obj, const char *prefix, const char *name, int allow_empty, char *err,
                          size_t errlen)
{
    char path[64];
    const json_t *v = typed_field(obj, prefix, name, JSON_STRING, path, sizeof path, err, errlen);
    if (!v)
        return NULL;
    json_t *s = clean_string(json_string_value(v), json_string_length(v));
    if (!s) {
        set_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (!allow_empty && json_string_length(s) == 0) {
        json_decref(s);
        set_err(err, errlen, "%s: empty", path);
        return NULL;
    }
    return s;
}

/* The evidence array of an anomaly, cleaned, as a new reference; NULL with err set. */
static json_t *check_evidence(const json_t *obj, const char *prefix, char *err, size_t errlen)
{
    char path[64];
    const json_t *v = typed_field(obj, prefix, "evidence", JSON_ARRAY, path, sizeof path, err, errlen);
    if (!v)
        return NULL;
    json_t *out = json_array();
    if (!out) {
        set_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    size_t i;
    const json_t *line;
    json_array_foreach(v, i, line) {
        if (!json_is_string(line)) {
            set_err(err, errlen, "%s[%zu]: expected a string, got %s", path, i, type_phrase(line));
            goto fail;
        }
        if (json_array_size(out) >= VERDICT_MAX_EVIDENCE)
            continue; /* extra lines are dropped; their types are still checked */
        json_t *s = clean_string(json_string_value(line), json_string_length(line));
        if (!s) {
            set_err(err, errlen, "%s[%zu]: out of memory", path, i);
            goto fail;
        }
        if (json_string_length(s) == 0) {
            json_decref(s); /* a blank line is no evidence */
            continue;
        }
        if (json_array_append_new(out, s) != 0) { /* steals s */
            set_err(err, errlen, "%s[%zu]: out of memory", path, i);
            goto fail;
        }
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* One anomaly, validated and cleaned, as a new object; NULL with err set. */
static json_t *check_anomaly(const json_t *a, size_t index, char *err, size_t errlen)
{
    char prefix[40];
    json_t *res = NULL, *out = NULL, *summary = NULL, *evidence = NULL, *action = NULL;
    const char *severity, *type;
    int failed;

    snprintf(prefix, sizeof prefix, "anomalies[%zu]", index);
    if (!json_is_object(a)) {
        set_err(err, errlen, "%s: expected an object, got %s", prefix, type_phrase(a));
        goto out;
    }
    if (!(severity = check_enum(a, prefix, "severity", SEVERITY_NAMES, err, errlen)) ||
        !(type = check_enum(a, prefix, "type", TYPE_VALUES, err, errlen)) ||
        !(summary = check_text(a, prefix, "summary", 0, err, errlen)) ||
        !(evidence = check_evidence(a, prefix, err, errlen)) ||
        !(action = check_text(a, prefix, "recommended_action", 1, err, errlen)))
        goto out;

    if (!(out = json_object())) {
        set_err(err, errlen, "%s: out of memory", prefix);
        goto out;
    }
    /* each _set_new steals its value, even when it fails */
    failed = json_object_set_new(out, "severity", json_string(severity));
    failed |= json_object_set_new(out, "type", json_string(type));
    failed |= json_object_set_new(out, "summary", summary);
    failed |= json_object_set_new(out, "evidence", evidence);
    failed |= json_object_set_new(out, "recommended_action", action);
    summary = evidence = action = NULL;
    if (failed) {
        set_err(err, errlen, "%s: out of memory", prefix);
        goto out;
    }
    res = out;
    out = NULL;
out:
    json_decref(out);
    json_decref(summary);
    json_decref(evidence);
    json_decref(action);
    return res;
}

/* The whole verdict, validated and cleaned, as a new object; NULL with err set. */
static json_t *validate(const json_t *root, char *err, size_t errlen)
{
    json_t *res = NULL, *out = NULL, *list = NULL;
    const json_t *anomalies, *a;
    const char *health;
    size_t i;
    int failed;

    if (!(health = check_enum(root, "", "health", HEALTH_NAMES, err, errlen)))
        goto out;
    anomalies = json_object_get(root, "anomalies");
    if (!anomalies) {
        set_err(err, errlen, "anomalies: missing");
        goto out;
    }
    if (!json_is_array(anomalies)) {
        set_err(err, errlen, "anomalies: expected an array, got %s", type_phrase(anomalies));
        goto out;
    }
    if (json_array_size(anomalies) > VERDICT_MAX_ANOMALIES) {
        set_err(err, errlen, "anomalies: %zu items, at most %d allowed", json_array_size(anomalies),
                VERDICT_MAX_ANOMALIES);
        goto out;
    }
    if (!(list = json_array()) || !(out = json_object())) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    json_array_foreach(anomalies, i, a) {
        json_t *checked = check_anomaly(a, i, err, errlen);
        if (!checked)
            goto out;
        if (json_array_append_new(list, checked)) { /* steals checked, even when it fails */
            set_err(err, errlen, "out of memory");
            goto out;
        }
    }
    failed = json_object_set_new(out, "health", json_string(health)); /* steals */
    failed |= json_object_set_new(out, "anomalies", list);            /* steals, even when it fails */
    list = NULL;
    if (failed) {
        set_err(err, errlen, "out of memory");
        goto out;
    }
    res = out;
    out = NULL;
out:
    json_decref(list);
    json_decref(out);
    return res;
}

json_t *verdict_parse(const char *text, size_t len, char *err, size_t errlen)
{
    assert(text || len == 0);
    if (err && errlen)
        err[0] = '\0';
    if (!text || len == 0) {
        set_err(err, errlen, "no JSON object found in the answer");
        return NULL;
    }
    json_t *root = recover_object(text, len);
    if (!root) {
        set_err(err, errlen, "no JSON object found in the answer");
        return NULL;
    }
    json_t *out = validate(root, err, errlen);
    json_decref(root);
    return out;
}

/*
 * OpenAI strict mode accepts a subset of JSON Schema: every object lists all
 * its properties in "required" and says "additionalProperties": false; no
 * length or count keywords. The limits are enforced by verdict_parse().
 */
static const char VERDICT_SCHEMA[] =
    "{"
    "\"type\":\"object\","
    "\"properties\":{"
    "\"health\":{\"type\":\"string\",\"enum\":[\"normal\",\"degraded\",\"critical\"],"
    "\"description\":\"State of the service in this window.\"},"
    "\"anomalies\":{\"type\":\"array\",\"description\":\"What does not belong; empty when nothing stands out.\","
    "\"items\":{"
    "\"type\":\"object\","
    "\"properties\":{"
    "\"severity\":{\"type\":\"string\",\"enum\":[\"low\",\"medium\",\"high\",\"critical\"]},"
    "\"type\":{\"type\":\"string\",\"enum\":[\"error_spike\",\"auth_failure\",\"latency\",\"security\","
    "\"resource\",\"config\",\"unknown\"]},"
    "\"summary\":{\"type\":\"string\",\"description\":\"What happened, in one or two sentences.\"},"
    "\"evidence\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
    "\"description\":\"Log lines copied verbatim from the data, without the index prefix.\"},"
    "\"recommended_action\":{\"type\":\"string\",\"description\":\"What to check or do first.\"}"
    "},"
    "\"required\":[\"severity\",\"type\",\"summary\",\"evidence\",\"recommended_action\"],"
    "\"additionalProperties\":false"
    "}"
    "}"
    "},"
    "\"required\":[\"health\",\"anomalies\"],"
    "\"additionalProperties\":false"
    "}";

json_t *verdict_schema(void)
{
    return json_loads(VERDICT_SCHEMA, 0, NULL);
}

/* ---- the window's verdict, assembled once ------------------------------------------------ */

/* The health a list of anomalies makes: critical with a critical one, degraded with a medium or high one. */
static const char *health_of(const json_t *anomalies)
{
    int worst = 0;
    size_t i;
    json_t *x;
    json_array_foreach(anomalies, i, x)
    {
        int r = severity_rank(json_string_value(json_object_get(x, "severity")));
        worst = r > worst ? r : worst;
    }
    return health_of_severity(worst);
}

/* A baseline finding: built from the window's own lines, verified by construction. */
static int mark_baseline(json_t *finding)
{
    return json_object_set_new(finding, "analyzer", json_string("baseline")) |
           json_object_set_new(finding, "evidence_verified", json_true());
}

json_t *verdict_assemble(json_t *model, const json_t *findings, verdict_pass pass, const char *prior_health)
{
    const char *prior = prior_health && *prior_health ? prior_health : NULL;
    json_t *v = model ? model : json_pack("{s:s, s:[]}", "health", "normal", "anomalies");
    json_t *list = json_object_get(v, "anomalies");
    if (!v || !json_is_array(list)) {
        json_decref(v);
        return NULL;
    }
    int rc = 0;
    size_t i, j, n_model = json_array_size(list);
    json_t *x, *y;
    json_array_foreach(list, i, x) rc |= json_object_set_new(x, "analyzer", json_string("llm"));
    /* the baseline's findings of types the model did not report (all of them without a model): the baseline
     * is never talked out of a finding; a re-read recorded them the first time */
    if (pass != VERDICT_REREAD) {
        json_array_foreach(findings, i, x)
        {
            const char *type = json_string_value(json_object_get(x, "type"));
            int covered = 0;
            for (j = 0; j < n_model && (y = json_array_get(list, j)); j++)
                covered |= type && strcmp(type, json_string_value(json_object_get(y, "type"))) == 0;
            if (covered)
                continue;
            json_t *c = json_deep_copy(x);
            rc |= !c || mark_baseline(c) || json_array_append_new(list, c);
        }
    }
    /* the health: the model's, made worse by the findings kept beside its own (on a re-read, by the health
     * the first analysis found); a late part's can only be worse than the analysis before found */
    const char *base = pass == VERDICT_REREAD && prior ? prior : health_of(list);
    const char *h = model ? health_worse(json_string_value(json_object_get(v, "health")), base) : base;
    if (pass == VERDICT_LATE && prior)
        h = health_worse(h, prior);
    rc |= json_object_set_new(v, "health", json_string(h));
    if (rc) {
        json_decref(v);
        return NULL;
    }
    return v;
}
