/*
 * fuzz_ingest_esbulk.c — libFuzzer harness for Elasticsearch bulk bodies.
 *
 * The first byte picks a small max_line and whether the URL names an index;
 * the rest is the body. Checked: the batch invariants, and one item per
 * action with exactly as many 201 items as entries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ingest_opts o = {
        .default_service = "default",
        .received_ms = INT64_C(1795514400000),
        .max_line = 1 + (size_t)(data[0] >> 1) * 8,
        .max_entries = 64,
    };
    size_t len = size - 1;
    char *body = malloc(len ? len : 1);
    FUZZ_ASSERT(body != NULL);
    memcpy(body, data + 1, len);
    batch *b = batch_new(o.received_ms);
    json_t *items = json_array();
    FUZZ_ASSERT(b != NULL && items != NULL);
    ingest_error err;
    int rc = ingest_parse_es_bulk(body, len, &o, (data[0] & 1) ? "urlindex" : NULL, b, &err, items);
    free(body);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc == 0) {
        fuzz_check_batch(b, &o);
        size_t created = 0, i;
        json_t *x;
        json_array_foreach(items, i, x) {
            json_t *st = json_object_get(json_object_iter_value(json_object_iter(x)), "status");
            created += json_integer_value(st) == 201;
        }
        FUZZ_ASSERT(created == b->count);
    } else {
        fuzz_check_error(&err);
    }
    json_decref(items);
    batch_free(b);
    return 0;
}
