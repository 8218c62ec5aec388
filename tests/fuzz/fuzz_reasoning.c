/*
 * fuzz_reasoning.c — libFuzzer harness for llm_strip_reasoning(), which takes
 * a reasoning model's <think> blocks out of its answer before the answer is
 * read.
 *
 * The input is the answer (made NUL-terminated, cut at its first NUL).
 * Invariants: the text only ever shrinks, and what is left is a suffix of
 * the input; the reasoning handed back, when any, is a substring of the
 * input that never contains the closing tag that ended it; an answer that
 * starts (after blanks) with '{' and has no leading <think> is left alone;
 * stripping twice takes nothing more than a second block would.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anomalog/llm.h"

#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1), *t = malloc(size + 1), *r = NULL;
    if (!in || !t) {
        free(in);
        free(t);
        return 0;
    }
    memcpy(in, data, size);
    in[size] = '\0';
    memcpy(t, in, size + 1);
    size_t len = strlen(in);
    size_t n = llm_strip_reasoning(t, &r);
    size_t left = strlen(t);
    FUZZ_ASSERT(left <= len);
    FUZZ_ASSERT(strcmp(in + (len - left), t) == 0); /* a suffix */
    if (n == 0) {
        FUZZ_ASSERT(r == NULL);
        FUZZ_ASSERT(left == len);
    } else {
        FUZZ_ASSERT(r != NULL);
        FUZZ_ASSERT(strstr(in, r) != NULL);
        FUZZ_ASSERT(strcasestr(r, "</think>") == NULL);
        FUZZ_ASSERT(left < len);
    }
    const char *p = in + strspn(in, " \t\r\n");
    if (*p == '{' && strncasecmp(p, "<think", 6) != 0)
        FUZZ_ASSERT(n == 0);
    free(r);
    free(in);
    free(t);
    return 0;
}
