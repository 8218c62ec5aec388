/*
 * fuzz_ingest_ndjson_fast.c — differential harness for the NDJSON reader.
 *
 * NDJSON lines are read by YAJL into jansson values (the fast reader), and
 * by jansson's own parser where the two could disagree (json.c). This
 * harness parses each body both ways, with the fast reader and without it,
 * and aborts unless the outcomes are the same: the status, code, message,
 * line and index of an error, or every field of every entry and the
 * parsers' statistics. The first byte sets a small max_line, as in
 * fuzz_ingest_json.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ingest_opts o = {
        .default_service = "fuzz",
        .received_ms = INT64_C(1795514400000),
        .tz_offset_s = -1800,
        .max_line = 1 + (size_t)(data[0] >> 1) * 8,
        .max_entries = 64,
    };
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    batch *b[2];
    ingest_error err[2];
    int rc[2];
    for (int k = 0; k < 2; k++) {
        b[k] = batch_new(o.received_ms);
        FUZZ_ASSERT(b[k] != NULL);
        rc[k] = ingest_parse_ndjson_with(body, len, &o, b[k], &err[k], k);
        FUZZ_ASSERT(rc[k] == 0 || rc[k] == -1);
    }
    FUZZ_ASSERT(rc[0] == rc[1]);
    if (rc[0] != 0) {
        FUZZ_ASSERT(err[0].status == err[1].status && same_str(err[0].code, err[1].code));
        FUZZ_ASSERT(err[0].line == err[1].line && err[0].index == err[1].index);
        FUZZ_ASSERT(strcmp(err[0].message, err[1].message) == 0);
    } else {
        fuzz_check_batch(b[1], &o);
        FUZZ_ASSERT(b[0]->count == b[1]->count);
        FUZZ_ASSERT(memcmp(&b[0]->stats, &b[1]->stats, sizeof b[0]->stats) == 0);
        for (size_t i = 0; i < b[0]->count; i++) {
            const log_entry *x = &b[0]->entries[i], *y = &b[1]->entries[i];
            FUZZ_ASSERT(x->ts_ms == y->ts_ms && x->line == y->line && x->message_len == y->message_len);
            FUZZ_ASSERT(memcmp(x->message, y->message, x->message_len) == 0);
            FUZZ_ASSERT(same_str(x->level, y->level) && same_str(x->service, y->service));
            FUZZ_ASSERT(same_str(x->attributes, y->attributes));
        }
    }
    batch_free(b[0]);
    batch_free(b[1]);
    return 0;
}
