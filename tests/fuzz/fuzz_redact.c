/*
 * fuzz_redact.c — libFuzzer harness for redact_text().
 *
 * The input is log text, as is (not NUL-terminated: the length bounds every
 * scan). One redactor, built once, has IP addresses on and one extra pattern
 * with a capture group. Each input gets a fresh session and must come out:
 * non-NULL, NUL-terminated at the reported length, at most 37 bytes per input
 * byte, valid UTF-8 when the input was, the same when redacted again in a
 * fresh session (deterministic), and with its placeholders intact when
 * redacted again in the same session: every placeholder of the first output
 * appears, in order and verbatim, among those of the second (a placeholder is
 * never redacted into a new one). The session's counts are a JSON object of
 * positive integers.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/redact.h"

#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when s[0..len) is valid UTF-8 (NUL allowed). */
static int utf8_ok(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 3, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i < k)
            return 0;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k;
    }
    return 1;
}

/* Length of the placeholder at s[i] ('<' [a-z][a-z0-9_]{0,23} ':' [1-9][0-9]{0,9} '>'), or 0. */
static size_t placeholder_at(const char *s, size_t n, size_t i)
{
    size_t j = i + 1, k = 0, d = 0;
    if (s[i] != '<' || j >= n || s[j] < 'a' || s[j] > 'z')
        return 0;
    while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= '0' && s[j] <= '9') || s[j] == '_'))
        j++, k++;
    if (k > 24 || j + 1 >= n || s[j] != ':' || s[j + 1] < '1' || s[j + 1] > '9')
        return 0;
    for (j++; j < n && s[j] >= '0' && s[j] <= '9'; j++)
        d++;
    if (d > 10 || j >= n || s[j] != '>')
        return 0;
    return j + 1 - i;
}

/* Finds the next placeholder at or after *i; returns its length (0: none). */
static size_t next_placeholder(const char *s, size_t n, size_t *i)
{
    for (; *i < n; (*i)++) {
        size_t k = placeholder_at(s, n, *i);
        if (k)
            return k;
    }
    return 0;
}

/* Every placeholder of a, in order, is also one of b's. */
static int placeholders_kept(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, j = 0, ka, kb;
    while ((ka = next_placeholder(a, an, &i)) != 0) {
        for (;;) {
            kb = next_placeholder(b, bn, &j);
            if (!kb)
                return 0;
            if (kb == ka && memcmp(a + i, b + j, ka) == 0)
                break;
            j += kb;
        }
        i += ka;
        j += kb;
    }
    return 1;
}

static redactor *shared(void)
{
    static redactor *r;
    if (!r) {
        static const char *const pats[] = {"ticket=\\btk-([0-9a-z]{3,})"};
        redact_opts o = {.ip_addresses = 1, .patterns = pats, .n_patterns = 1};
        char err[256];
        r = redactor_new(&o, err, sizeof err);
        FUZZ_ASSERT(r != NULL);
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const redactor *r = shared();
    /* a copy of exactly size bytes, so reading past the end is caught */
    char *text = malloc(size ? size : 1);
    FUZZ_ASSERT(text != NULL);
    if (size)
        memcpy(text, data, size);

    redact_session *s = redact_session_new();
    FUZZ_ASSERT(s != NULL);
    size_t n1 = (size_t)-1;
    char *out1 = redact_text(r, s, text, size, &n1);
    FUZZ_ASSERT(out1 != NULL);
    FUZZ_ASSERT(n1 <= size * 37);
    FUZZ_ASSERT(out1[n1] == '\0');
    if (utf8_ok(data, size))
        FUZZ_ASSERT(utf8_ok((const unsigned char *)out1, n1));

    /* again, same session: placeholders stay */
    size_t n2 = (size_t)-1;
    char *out2 = redact_text(r, s, out1, n1, &n2);
    FUZZ_ASSERT(out2 != NULL && out2[n2] == '\0');
    FUZZ_ASSERT(placeholders_kept(out1, n1, out2, n2));

    json_t *counts = redact_session_counts(s);
    FUZZ_ASSERT(json_is_object(counts));
    const char *k;
    json_t *v;
    json_object_foreach(counts, k, v) FUZZ_ASSERT(json_is_integer(v) && json_integer_value(v) > 0);
    json_decref(counts);
    redact_session_free(s);

    /* a fresh session gives the same text */
    s = redact_session_new();
    FUZZ_ASSERT(s != NULL);
    size_t n3 = (size_t)-1;
    char *out3 = redact_text(r, s, text, size, &n3);
    FUZZ_ASSERT(out3 != NULL && n3 == n1 && memcmp(out1, out3, n1) == 0);
    redact_session_free(s);

    free(out3);
    free(out2);
    free(out1);
    free(text);
    return 0;
}
