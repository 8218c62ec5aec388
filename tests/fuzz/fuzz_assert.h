/*
 * fuzz_assert.h — FUZZ_ASSERT: a broken invariant aborts, which libFuzzer
 * reports as a crash with the input that caused it (assert() would vanish
 * under NDEBUG).
 */
#ifndef ANOMALOG_FUZZ_ASSERT_H
#define ANOMALOG_FUZZ_ASSERT_H

#include <stdlib.h>

#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#endif
