/*
 * fuzz_ingest_level.c — libFuzzer harness for ingest_level_sniff(), the level
 * a line states, read on every ingest path.
 *
 * The input is the line, copied into a buffer of exactly its size (so a read
 * past the length ASan reports). Checked: the answer is NULL or one of the
 * six canonical names; only the first line and its first INGEST_SNIFF_BYTES
 * bytes decide it; the same input gives the same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const canon[] = {"trace", "debug", "info", "warn", "error", "fatal"};
    char *line = malloc(size ? size : 1);
    FUZZ_ASSERT(line != NULL);
    memcpy(line, data, size);
    const char *lv = ingest_level_sniff(line, size);
    if (lv) {
        int known = 0;
        for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++)
            known |= lv == canon[i] || strcmp(lv, canon[i]) == 0;
        FUZZ_ASSERT(known);
    }
    size_t n = size < INGEST_SNIFF_BYTES ? size : INGEST_SNIFF_BYTES;
    const char *nl = memchr(line, '\n', n);
    if (nl)
        n = (size_t)(nl - line);
    const char *cut = ingest_level_sniff(line, n);
    FUZZ_ASSERT((cut == NULL) == (lv == NULL) && (!lv || strcmp(cut, lv) == 0));
    FUZZ_ASSERT(ingest_level_sniff(line, size) == lv);
    free(line);
    return 0;
}
