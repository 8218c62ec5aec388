/*
 * test_verdict.c — the model's answer: lenient recovery (bare, fenced, prose
 * around, braces and quotes inside strings, several objects), strict
 * validation with the exact JSON path of each failure, the limits
 * (anomalies, evidence lines, text length), garbage of every kind, the
 * schema sent as response_format, and severity ranks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "anomalog/verdict.h"

#define A_OK                                                                                                           \
    "{\"severity\":\"high\",\"type\":\"auth_failure\",\"summary\":\"s\",\"evidence\":[\"l1\"],"                        \
    "\"recommended_action\":\"a\"}"
#define CANON_OK "{\"health\":\"degraded\",\"anomalies\":[" A_OK "]}"
#define EMPTY_OK "{\"health\":\"normal\",\"anomalies\":[]}"

/* Parses text; on success checks that the result re-parses to itself. */
static json_t *parse(const char *text, char *err, size_t errlen)
{
    json_t *v = verdict_parse(text, strlen(text), err, errlen);
    if (v) {
        char *dump = json_dumps(v, JSON_COMPACT);
        assert_non_null(dump);
        char err2[256];
        json_t *again = verdict_parse(dump, strlen(dump), err2, sizeof err2);
        if (!again)
            fail_msg("own dump does not re-validate: %s (%s)", err2, dump);
        assert_true(json_equal(v, again));
        json_decref(again);
        free(dump);
    }
    return v;
}

static void test_recovery(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want; /* want: the verdict in canonical compact form */
    } rows[] = {
        /* bare */
        {CANON_OK, CANON_OK},
        {EMPTY_OK, EMPTY_OK},
        {"\n\n  " EMPTY_OK "  \n", EMPTY_OK},
        /* fenced */
        {"```json\n" CANON_OK "\n```", CANON_OK},
        {"Here is the analysis:\n```JSON\n" CANON_OK "\n```\nLet me know if you need more.", CANON_OK},
        {"```\n" EMPTY_OK "\n```", EMPTY_OK},
        {"```json " EMPTY_OK "```", EMPTY_OK},
        {"```json\n" EMPTY_OK, EMPTY_OK}, /* unclosed fence */
        /* prose around */
        {"Sure! " EMPTY_OK " Hope this helps.", EMPTY_OK},
        {"Analysis complete.\n\n" CANON_OK "\n\nThe window shows a brute force.", CANON_OK},
        /* a stray brace in the prose, before and after */
        {"The {placeholder in the template is odd. " EMPTY_OK, EMPTY_OK},
        {"Use {name} templates. " EMPTY_OK, EMPTY_OK},
        {EMPTY_OK " and a closing } brace", EMPTY_OK},
        /* braces and escaped quotes inside strings */
        {"Result: {\"health\":\"degraded\",\"anomalies\":[{\"severity\":\"low\",\"type\":\"unknown\","
         "\"summary\":\"handler {id} failed with } and {\\\"code\\\": 1\",\"evidence\":[\"x \\\"}\\\" y\\\\\"],"
         "\"recommended_action\":\"\"}]} done",
         "{\"health\":\"degraded\",\"anomalies\":[{\"severity\":\"low\",\"type\":\"unknown\","
         "\"summary\":\"handler {id} failed with } and {\\\"code\\\": 1\",\"evidence\":[\"x \\\"}\\\" y\\\\\"],"
         "\"recommended_action\":\"\"}]}"},
        /* several objects: the first that parses wins */
        {"{\"health\":\"degraded\",\"anomalies\":[]}\n{\"health\":\"critical\",\"anomalies\":[]}",
         "{\"health\":\"degraded\",\"anomalies\":[]}"},
        {"{not json} then {\"health\":\"critical\",\"anomalies\":[]}", "{\"health\":\"critical\",\"anomalies\":[]}"},
        {"[" EMPTY_OK "]", EMPTY_OK}, /* an array around the object */
        /* case and space normalization, unknown fields dropped */
        {"{\"health\":\" Degraded \",\"confidence\":0.9,"
         "\"anomalies\":[{\"severity\":\"HIGH\",\"type\":\"Auth_Failure\","
         "\"summary\":\"  s \\n\",\"evidence\":[\" l1 \",\"   \",\"\"],\"recommended_action\":\"a\",\"extra\":[1]}]}",
         CANON_OK},
        /* normal health with a critical anomaly is kept as given */
        {"{\"health\":\"normal\",\"anomalies\":[{\"severity\":\"critical\",\"type\":\"security\",\"summary\":\"s\","
         "\"evidence\":[],\"recommended_action\":\"\"}]}",
         "{\"health\":\"normal\",\"anomalies\":[{\"severity\":\"critical\",\"type\":\"security\",\"summary\":\"s\","
         "\"evidence\":[],\"recommended_action\":\"\"}]}"},
        /* non-ASCII text passes through */
        {"{\"health\":\"normal\",\"anomalies\":[{\"severity\":\"low\",\"type\":\"config\",\"summary\":\"caf\\u00e9 "
         "\xe2\x82\xac\",\"evidence\":[\"\xf0\x9f\x94\xa5\"],\"recommended_action\":\"\"}]}",
         "{\"health\":\"normal\",\"anomalies\":[{\"severity\":\"low\",\"type\":\"config\",\"summary\":\"caf\xc3\xa9 "
         "\xe2\x82\xac\",\"evidence\":[\"\xf0\x9f\x94\xa5\"],\"recommended_action\":\"\"}]}"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[256] = "";
        json_t *v = parse(rows[i].in, err, sizeof err);
        if (!v)
            fail_msg("row %zu: no verdict: %s", i, err);
        json_t *want = json_loads(rows[i].want, 0, NULL);
        assert_non_null(want);
        if (!json_equal(v, want)) {
            char *got = json_dumps(v, JSON_COMPACT);
            fail_msg("row %zu: got %s\nwant %s", i, got, rows[i].want);
        }
        /* exactly the fields of the contract, in every anomaly */
        assert_int_equal(json_object_size(v), 2);
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(v, "anomalies"), k, a) assert_int_equal(json_object_size(a), 5);
        json_decref(want);
        json_decref(v);
    }
}

/* An answer with anomaly `field` replaced by `value` (raw JSON) in anomalies[index] of three. */
static char *with_field(size_t index, const char *field, const char *value)
{
    json_t *root = json_loads("{\"health\":\"degraded\",\"anomalies\":[" A_OK "," A_OK "," A_OK "]}", 0, NULL);
    assert_non_null(root);
    json_t *a = json_array_get(json_object_get(root, "anomalies"), index);
    if (value) {
        json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        json_object_set_new(a, field, v);
    } else {
        json_object_del(a, field);
    }
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

static void test_schema_failures(void **state)
{
    (void)state;
    static const struct {
        const char *in, *err;
    } rows[] = {
        {"", "no JSON object found in the answer"},
        {"   \n", "no JSON object found in the answer"},
        {"I found nothing unusual in this window.", "no JSON object found in the answer"},
        {"{\"health\": \"normal\", \"anomalies\": [}", "no JSON object found in the answer"},
        {"[1, 2, 3]", "no JSON object found in the answer"},
        {"\"normal\"", "no JSON object found in the answer"},
        {"{}", "health: missing"},
        {"{\"anomalies\":[]}", "health: missing"},
        {"{\"health\":5,\"anomalies\":[]}", "health: expected a string, got a number"},
        {"{\"health\":null,\"anomalies\":[]}", "health: expected a string, got null"},
        {"{\"health\":\"ok\",\"anomalies\":[]}", "health: \"ok\" is not one of normal, degraded, critical"},
        {"{\"health\":\"unknown\",\"anomalies\":[]}", "health: \"unknown\" is not one of normal, degraded, critical"},
        {"{\"health\":\"normal\"}", "anomalies: missing"},
        {"{\"health\":\"normal\",\"anomalies\":{}}", "anomalies: expected an array, got an object"},
        {"{\"health\":\"normal\",\"anomalies\":null}", "anomalies: expected an array, got null"},
        {"{\"health\":\"normal\",\"anomalies\":[\"x\"]}", "anomalies[0]: expected an object, got a string"},
        {"{\"health\":\"normal\",\"anomalies\":[" A_OK ",[]]}", "anomalies[1]: expected an object, got an array"},
        /* a quoted value is cut and its quotes and control bytes replaced */
        {"{\"health\":\"a\\\"b\\nc\",\"anomalies\":[]}", "health: \"a?b?c\" is not one of normal, degraded, critical"},
        {"{\"health\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\"anomalies\":[]}",
         "health: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" is not one of normal, degraded, critical"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[256] = "?";
        json_t *v = parse(rows[i].in, err, sizeof err);
        if (v)
            fail_msg("row %zu \"%s\" should fail", i, rows[i].in);
        if (strcmp(err, rows[i].err) != 0)
            fail_msg("row %zu: error \"%s\", want \"%s\"", i, err, rows[i].err);
    }

    static const struct {
        size_t index;
        const char *field, *value, *err;
    } fields[] = {
        {0, "severity", NULL, "anomalies[0].severity: missing"},
        {1, "severity", "\"urgent\"", "anomalies[1].severity: \"urgent\" is not one of low, medium, high, critical"},
        {0, "severity", "3", "anomalies[0].severity: expected a string, got a number"},
        {2, "type", "\"oops\"",
         "anomalies[2].type: \"oops\" is not one of error_spike, auth_failure, latency, security, resource, config, "
         "unknown"},
        {2, "type", "true", "anomalies[2].type: expected a string, got a boolean"},
        {1, "type", NULL, "anomalies[1].type: missing"},
        {0, "summary", NULL, "anomalies[0].summary: missing"},
        {0, "summary", "\"  \\n\\t \"", "anomalies[0].summary: empty"},
        {1, "summary", "null", "anomalies[1].summary: expected a string, got null"},
        {2, "evidence", NULL, "anomalies[2].evidence: missing"},
        {0, "evidence", "\"one line\"", "anomalies[0].evidence: expected an array, got a string"},
        {0, "evidence", "[\"ok\", 7]", "anomalies[0].evidence[1]: expected a string, got a number"},
        {1, "evidence", "[\"ok\", {}]", "anomalies[1].evidence[1]: expected a string, got an object"},
        {0, "recommended_action", NULL, "anomalies[0].recommended_action: missing"},
        {2, "recommended_action", "[]", "anomalies[2].recommended_action: expected a string, got an array"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        char *in = with_field(fields[i].index, fields[i].field, fields[i].value);
        char err[256] = "?";
        json_t *v = parse(in, err, sizeof err);
        if (v)
            fail_msg("field row %zu \"%s\" should fail", i, in);
        if (strcmp(err, fields[i].err) != 0)
            fail_msg("field row %zu: error \"%s\", want \"%s\"", i, err, fields[i].err);
        free(in);
    }
}

/* {"health":"degraded","anomalies":[n copies of A_OK]} */
static char *n_anomalies(size_t n)
{
    size_t cap = 64 + n * (sizeof A_OK + 1);
    char *s = malloc(cap);
    assert_non_null(s);
    strcpy(s, "{\"health\":\"degraded\",\"anomalies\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, A_OK);
    }
    strcat(s, "]}");
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    char err[256];

    /* 50 anomalies pass, 51 do not */
    char *s = n_anomalies(VERDICT_MAX_ANOMALIES);
    json_t *v = parse(s, err, sizeof err);
    assert_non_null(v);
    assert_int_equal(json_array_size(json_object_get(v, "anomalies")), VERDICT_MAX_ANOMALIES);
    json_decref(v);
    free(s);
    s = n_anomalies(VERDICT_MAX_ANOMALIES + 1);
    assert_null(parse(s, err, sizeof err));
    assert_string_equal(err, "anomalies: 51 items, at most 50 allowed");
    free(s);

    /* 25 evidence lines: the first 20 are kept */
    json_t *ev = json_array();
    for (int i = 0; i < 25; i++)
        json_array_append_new(ev, json_sprintf("line %d", i));
    char *evs = json_dumps(ev, JSON_COMPACT);
    s = with_field(0, "evidence", evs);
    v = parse(s, err, sizeof err);
    assert_non_null(v);
    json_t *kept = json_object_get(json_array_get(json_object_get(v, "anomalies"), 0), "evidence");
    assert_int_equal(json_array_size(kept), VERDICT_MAX_EVIDENCE);
    assert_string_equal(json_string_value(json_array_get(kept, 0)), "line 0");
    assert_string_equal(json_string_value(json_array_get(kept, 19)), "line 19");
    json_decref(v);
    json_decref(ev);
    free(evs);
    free(s);

    /* a 10 KB summary is cut to VERDICT_MAX_TEXT bytes on a character boundary */
    static const char euro[] = "\xe2\x82\xac"; /* 3 bytes: 4000 is not a multiple */
    json_t *summary = json_string("");
    char *big = malloc(10 * 1024 + 8);
    assert_non_null(big);
    big[0] = '\0';
    for (int i = 0; i < 10 * 1024 / 3; i++)
        strcat(big + (size_t)i * 3, euro);
    json_string_set(summary, big);
    char *sj = json_dumps(summary, JSON_ENCODE_ANY);
    s = with_field(1, "summary", sj);
    v = parse(s, err, sizeof err);
    assert_non_null(v);
    const char *cut = json_string_value(json_object_get(json_array_get(json_object_get(v, "anomalies"), 1), "summary"));
    assert_int_equal(strlen(cut), 3999);
    assert_memory_equal(cut, big, 3999);
    json_decref(v);
    free(s);
    free(sj);

    /* the same for an evidence line and the action, in plain ASCII: exactly 4000 bytes */
    memset(big, 'x', 10 * 1024);
    big[10 * 1024] = '\0';
    json_string_set(summary, big);
    sj = json_dumps(summary, JSON_ENCODE_ANY);
    size_t evlen = strlen(sj) + 3;
    evs = malloc(evlen);
    snprintf(evs, evlen, "[%s]", sj);
    s = with_field(2, "evidence", evs);
    v = parse(s, err, sizeof err);
    assert_non_null(v);
    json_t *a2 = json_array_get(json_object_get(v, "anomalies"), 2);
    assert_int_equal(json_string_length(json_array_get(json_object_get(a2, "evidence"), 0)), VERDICT_MAX_TEXT);
    json_decref(v);
    free(s);
    s = with_field(2, "recommended_action", sj);
    v = parse(s, err, sizeof err);
    assert_non_null(v);
    a2 = json_array_get(json_object_get(v, "anomalies"), 2);
    assert_int_equal(json_string_length(json_object_get(a2, "recommended_action")), VERDICT_MAX_TEXT);
    json_decref(v);
    free(s);
    free(evs);
    free(sj);
    free(big);
    json_decref(summary);
}

static void test_garbage(void **state)
{
    (void)state;
    char err[256];

    /* invalid UTF-8 inside the object: jansson refuses it, we say so without crashing */
    const char bad[] = "{\"health\":\"normal\",\"anomalies\":[{\"severity\":\"low\",\"type\":\"unknown\","
                       "\"summary\":\"\xff\xfe\",\"evidence\":[],\"recommended_action\":\"\"}]}";
    assert_null(verdict_parse(bad, sizeof bad - 1, err, sizeof err));
    assert_string_equal(err, "no JSON object found in the answer");
    /* a NUL byte in the text, and \u0000 in a string */
    const char nul[] = "{\"health\":\"normal\",\0\"anomalies\":[]}";
    assert_null(verdict_parse(nul, sizeof nul - 1, err, sizeof err));
    assert_null(parse("{\"health\":\"normal\\u0000\",\"anomalies\":[]}", err, sizeof err));
    /* the length bounds the parse: the text need not be NUL-terminated */
    char exact[sizeof EMPTY_OK - 1];
    memcpy(exact, EMPTY_OK, sizeof exact);
    json_t *v = verdict_parse(exact, sizeof exact, err, sizeof err);
    assert_non_null(v);
    json_decref(v);
    assert_null(verdict_parse(EMPTY_OK, sizeof EMPTY_OK - 2, err, sizeof err)); /* cut before the last '}' */
    /* NULL text, tiny and absent error buffers */
    assert_null(verdict_parse(NULL, 0, err, sizeof err));
    char tiny[8];
    assert_null(verdict_parse("nope", 4, tiny, sizeof tiny));
    assert_int_equal(strlen(tiny), 7);
    assert_null(verdict_parse("nope", 4, NULL, 0));

    /* huge garbage of several shapes: an answer in bounded time, no crash */
    const size_t n = 1 << 20;
    char *g = malloc(n + 1);
    assert_non_null(g);
    unsigned seed = 12345;
    for (int shape = 0; shape < 6; shape++) {
        for (size_t i = 0; i < n; i++) {
            switch (shape) {
            case 0: /* random bytes */
                g[i] = (char)(rand_r(&seed) & 0xff);
                break;
            case 1: /* unmatched braces */
                g[i] = '{';
                break;
            case 2: /* braces, quotes and backslashes */
                g[i] = "{}\"\\ :,"[rand_r(&seed) % 7];
                break;
            case 3: /* deep nesting */
                g[i] = i < n / 2 ? '[' : ']';
                break;
            case 4: /* nested objects never closed */
                g[i] = "{\"a\":"[i % 5];
                break;
            default: /* objects that are never valid verdicts... */
                g[i] = "{\"x\":1} "[i % 8];
                break;
            }
        }
        g[n] = '\0';
        clock_t t0 = clock();
        v = verdict_parse(g, n, err, sizeof err);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        if (v && shape != 5)
            fail_msg("shape %d parsed", shape);
        if (shape == 5) /* ...but {"x":1} is an object: its validation fails */
            assert_string_equal(err, "health: missing");
        json_decref(v);
        if (secs > 5.0)
            fail_msg("shape %d took %.1f s", shape, secs);
    }
    free(g);
}

/* Checks strict-mode rules on every object schema below s. */
static void check_strict(const json_t *s)
{
    if (!json_is_object(s))
        return;
    const char *type = json_string_value(json_object_get(s, "type"));
    if (type && strcmp(type, "object") == 0) {
        json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
        assert_true(json_is_object(props));
        assert_true(json_is_array(req));
        assert_true(json_is_false(json_object_get(s, "additionalProperties")));
        assert_int_equal(json_array_size(req), json_object_size(props));
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r) assert_non_null(json_object_get(props, json_string_value(r)));
        const char *k;
        json_t *p;
        json_object_foreach(props, k, p) check_strict(p);
    }
    check_strict(json_object_get(s, "items"));
}

static void enum_is(const json_t *s, const char *const *want, size_t n)
{
    json_t *e = json_object_get(s, "enum");
    assert_int_equal(json_array_size(e), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_array_get(e, i)), want[i]);
}

static void test_schema(void **state)
{
    (void)state;
    json_t *s = verdict_schema();
    assert_non_null(s);
    check_strict(s);
    json_t *props = json_object_get(s, "properties");
    static const char *const health[] = {"normal", "degraded", "critical"};
    enum_is(json_object_get(props, "health"), health, 3);
    json_t *item = json_object_get(json_object_get(props, "anomalies"), "items");
    json_t *ip = json_object_get(item, "properties");
    static const char *const sev[] = {"low", "medium", "high", "critical"};
    static const char *const type[] = {"error_spike", "auth_failure", "latency", "security",
                                       "resource",    "config",       "unknown"};
    enum_is(json_object_get(ip, "severity"), sev, 4);
    enum_is(json_object_get(ip, "type"), type, 7);
    json_t *ev = json_object_get(ip, "evidence");
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "array");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "items"), "type")), "string");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ip, "summary"), "type")), "string");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ip, "recommended_action"), "type")),
                        "string");
    /* a new reference each time */
    json_t *s2 = verdict_schema();
    assert_ptr_not_equal(s, s2);
    assert_true(json_equal(s, s2));
    json_decref(s2);
    json_decref(s);
}

/* "health|analyzer:type:severity,..." of an assembled verdict, for one-line comparisons. */
static const char *shape(json_t *v, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "%s|", json_string_value(json_object_get(v, "health")));
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(v, "anomalies"), i, x)
    {
        o += (size_t)snprintf(buf + o, len - o, "%s%s:%s:%s%s", i ? "," : "",
                              json_string_value(json_object_get(x, "analyzer")),
                              json_string_value(json_object_get(x, "type")),
                              json_string_value(json_object_get(x, "severity")),
                              json_is_true(json_object_get(x, "evidence_verified")) ? "+" : "");
    }
    return buf;
}

/* verdict_assemble: one assembly for every path (the model's answer with the baseline beside it, the
 * baseline alone, a re-read, a late pass), and the health each makes. */
static void test_assemble(void **state)
{
    (void)state;
    static const struct {
        const char *model;   /* the model's answer, or NULL */
        verdict_pass pass;
        const char *prior;
        const char *want;
    } cases[] = {
        /* the baseline alone: its findings, verified; health from their severities */
        {NULL, VERDICT_FIRST, NULL, "degraded|baseline:error_spike:high+,baseline:config:low+"},
        /* the model's anomalies first, the baseline's of other types after; the model's normal made worse */
        {"{\"health\":\"normal\",\"anomalies\":[{\"type\":\"error_spike\",\"severity\":\"low\"}]}", VERDICT_FIRST,
         NULL, "normal|llm:error_spike:low,baseline:config:low+"},
        {"{\"health\":\"normal\",\"anomalies\":[{\"type\":\"latency\",\"severity\":\"low\"}]}", VERDICT_FIRST, NULL,
         "degraded|llm:latency:low,baseline:error_spike:high+,baseline:config:low+"},
        /* a model's worse health stands */
        {"{\"health\":\"critical\",\"anomalies\":[]}", VERDICT_FIRST, NULL,
         "critical|baseline:error_spike:high+,baseline:config:low+"},
        /* a re-read: no baseline finding again; the health the first analysis found is the floor */
        {"{\"health\":\"normal\",\"anomalies\":[]}", VERDICT_REREAD, "degraded", "degraded|"},
        {"{\"health\":\"critical\",\"anomalies\":[]}", VERDICT_REREAD, "degraded", "critical|"},
        {NULL, VERDICT_REREAD, "critical", "critical|"},
        {NULL, VERDICT_REREAD, NULL, "normal|"},
        /* a late pass: never better than before */
        {NULL, VERDICT_LATE, "critical", "critical|baseline:error_spike:high+,baseline:config:low+"},
        {NULL, VERDICT_LATE, "normal", "degraded|baseline:error_spike:high+,baseline:config:low+"},
    };
    json_t *findings = json_loads("[{\"type\":\"error_spike\",\"severity\":\"high\"},"
                                  "{\"type\":\"config\",\"severity\":\"low\"}]", 0, NULL);
    assert_non_null(findings);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *model = cases[i].model ? json_loads(cases[i].model, 0, NULL) : NULL;
        json_t *v = verdict_assemble(model, findings, cases[i].pass, cases[i].prior);
        assert_non_null(v);
        char buf[512];
        assert_string_equal(shape(v, buf, sizeof buf), cases[i].want);
        json_decref(v);
    }
    /* a late pass with no new line and no finding keeps the window's health */
    json_t *v = verdict_assemble(NULL, NULL, VERDICT_LATE, "degraded");
    char buf[512];
    assert_string_equal(shape(v, buf, sizeof buf), "degraded|");
    json_decref(v);
    /* the findings are copied, never taken */
    assert_int_equal(json_array_size(findings), 2);
    assert_null(json_object_get(json_array_get(findings, 0), "analyzer"));
    json_decref(findings);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recovery),      cmocka_unit_test(test_schema_failures),
        cmocka_unit_test(test_limits),        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_schema),        cmocka_unit_test(test_assemble),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
