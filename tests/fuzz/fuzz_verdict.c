/*
 * fuzz_verdict.c — libFuzzer harness for verdict_parse(), the reader of a
 * model's answer.
 *
 * The input is the answer, as is (not NUL-terminated: the length bounds the
 * parse). Either it fails with a NUL-terminated, non-empty, valid UTF-8
 * reason, or it gives a verdict that holds the contract (only the schema's
 * fields, enums in lowercase, limits respected) and that re-validates to
 * itself: its compact dump parses again into an equal object.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/verdict.h"
#include "anomalog/severity.h"

#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when s[0..len) is valid UTF-8 without NUL. */
static int utf8_ok(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len); /* jansson validates UTF-8 */
    int ok = v != NULL && memchr(s, '\0', len) == NULL;
    json_decref(v);
    return ok;
}

static void check_text(const json_t *v, int allow_empty)
{
    FUZZ_ASSERT(json_is_string(v));
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    FUZZ_ASSERT(n <= VERDICT_MAX_TEXT);
    FUZZ_ASSERT(allow_empty || n > 0);
    FUZZ_ASSERT(strlen(s) == n);
    if (n > 0) {
        FUZZ_ASSERT(s[0] != ' ' && s[0] != '\n' && s[0] != '\t' && s[0] != '\r');
        FUZZ_ASSERT(s[n - 1] != ' ' && s[n - 1] != '\n' && s[n - 1] != '\t' && s[n - 1] != '\r');
    }
}

static int one_of(const json_t *v, const char *const *values)
{
    const char *s = json_string_value(v);
    if (!s)
        return 0;
    for (size_t i = 0; values[i]; i++)
        if (strcmp(s, values[i]) == 0)
            return 1;
    return 0;
}

static void check_verdict(const json_t *v)
{
    static const char *const health[] = {"normal", "degraded", "critical", NULL};
    static const char *const severity[] = {"low", "medium", "high", "critical", NULL};
    static const char *const type[] = {"error_spike", "auth_failure", "latency", "security",
                                       "resource",    "config",       "unknown", NULL};
    FUZZ_ASSERT(json_is_object(v) && json_object_size(v) == 2);
    FUZZ_ASSERT(one_of(json_object_get(v, "health"), health));
    const json_t *list = json_object_get(v, "anomalies");
    FUZZ_ASSERT(json_is_array(list) && json_array_size(list) <= VERDICT_MAX_ANOMALIES);
    size_t i;
    const json_t *a;
    json_array_foreach(list, i, a) {
        FUZZ_ASSERT(json_is_object(a) && json_object_size(a) == 5);
        FUZZ_ASSERT(one_of(json_object_get(a, "severity"), severity));
        FUZZ_ASSERT(severity_rank(json_string_value(json_object_get(a, "severity"))) > 0);
        FUZZ_ASSERT(one_of(json_object_get(a, "type"), type));
        check_text(json_object_get(a, "summary"), 0);
        check_text(json_object_get(a, "recommended_action"), 1);
        const json_t *ev = json_object_get(a, "evidence");
        FUZZ_ASSERT(json_is_array(ev) && json_array_size(ev) <= VERDICT_MAX_EVIDENCE);
        size_t k;
        const json_t *line;
        json_array_foreach(ev, k, line) check_text(line, 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so reading past the end is caught */
    char *text = malloc(size ? size : 1);
    FUZZ_ASSERT(text != NULL);
    memcpy(text, data, size);

    char err[256];
    memset(err, 'x', sizeof err);
    json_t *v = verdict_parse(text, size, err, sizeof err);
    if (!v) {
        size_t n = strnlen(err, sizeof err);
        FUZZ_ASSERT(n > 0 && n < sizeof err);
        FUZZ_ASSERT(utf8_ok(err, n));
    } else {
        check_verdict(v);
        char *dump = json_dumps(v, JSON_COMPACT);
        FUZZ_ASSERT(dump != NULL);
        char err2[256];
        json_t *again = verdict_parse(dump, strlen(dump), err2, sizeof err2);
        FUZZ_ASSERT(again != NULL);
        FUZZ_ASSERT(json_equal(v, again));
        json_decref(again);
        free(dump);
        json_decref(v);
    }
    free(text);
    return 0;
}
