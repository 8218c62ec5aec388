/*
 * fuzz_latency.c — libFuzzer harness for latency_value(), which reads
 * durations out of the values of log lines (outside input), and for the
 * summaries built from what it reads.
 *
 * The input is a line, copied into a buffer of exactly its size (a read past
 * it ASan reports). Every space-separated token of it, and every suffix of
 * each token that starts with a digit, is offered as a value. Checked: a
 * duration read is finite and not negative; the same call gives the same
 * answer; the durations summarised give a count equal to those added (per
 * position), a median and p95 between the least and the greatest of them,
 * and a median no greater than the p95.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/latency.h"
#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size ? size : 1);
    FUZZ_ASSERT(line != NULL);
    memcpy(line, data, size);
    latency_acc *acc = NULL;
    double lo[LATENCY_POSITIONS + 1], hi[LATENCY_POSITIONS + 1];
    uint64_t added[LATENCY_POSITIONS + 1] = {0};
    int pos = 0;
    for (size_t i = 0; i < size;) {
        while (i < size && line[i] == ' ')
            i++;
        size_t e = i;
        while (e < size && line[e] != ' ')
            e++;
        for (size_t s = i; s < e; s++) {
            if (line[s] < '0' || line[s] > '9')
                continue;
            double v = -1, w = -1;
            int is = latency_value(line, size, line + s, e - s, &v);
            FUZZ_ASSERT(is == 0 || is == 1);
            FUZZ_ASSERT(latency_value(line, size, line + s, e - s, &w) == is);
            if (!is)
                continue;
            FUZZ_ASSERT(isfinite(v) && v >= 0 && v == w);
            int p = pos % (LATENCY_POSITIONS + 1); /* one position more than followed: ignored */
            FUZZ_ASSERT(latency_add(&acc, p, v) == 0);
            if (!added[p] || v < lo[p])
                lo[p] = v;
            if (!added[p] || v > hi[p])
                hi[p] = v;
            added[p]++;
        }
        pos++;
        i = e;
    }
    latency_summary s[LATENCY_POSITIONS + 1];
    size_t n = latency_summarise(acc, 1, 0, s, LATENCY_POSITIONS + 1);
    FUZZ_ASSERT(n <= LATENCY_POSITIONS);
    for (size_t k = 0; k < n; k++) {
        int p = s[k].pos;
        FUZZ_ASSERT(p >= 0 && p <= LATENCY_POSITIONS && added[p] == s[k].count);
        FUZZ_ASSERT(s[k].median >= lo[p] && s[k].median <= hi[p]);
        FUZZ_ASSERT(s[k].p95 >= lo[p] && s[k].p95 <= hi[p] && s[k].median <= s[k].p95);
    }
    latency_judgement j;
    FUZZ_ASSERT(!n || latency_drift(&s[0], s, n, &j) == 0); /* none of them is earlier than s[0]: no drift */
    latency_acc_free(acc);
    free(line);
    return 0;
}
