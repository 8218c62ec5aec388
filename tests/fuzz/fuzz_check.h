/*
 * fuzz_check.h — invariants every parsed batch and every ingest error must
 * hold, checked after each fuzz input. A violation aborts, which libFuzzer
 * reports as a crash with the input that caused it.
 */
#ifndef ANOMALOG_FUZZ_CHECK_H
#define ANOMALOG_FUZZ_CHECK_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/ingest.h"
#include "ingest/common.h"
#include "fuzz_assert.h"


static inline void fuzz_check_string(const char *s, size_t max)
{
    FUZZ_ASSERT(s != NULL);
    size_t n = strnlen(s, max + 1);
    FUZZ_ASSERT(n <= max);
    FUZZ_ASSERT(utf8_valid(s, n));
}

static inline void fuzz_check_batch(const batch *b, const ingest_opts *o)
{
    size_t max_line = o->max_line ? o->max_line : (size_t)-1;
    FUZZ_ASSERT(!o->max_entries || b->count <= o->max_entries);
    for (size_t i = 0; i < b->count; i++) {
        const log_entry *e = &b->entries[i];
        FUZZ_ASSERT(e->message != NULL);
        FUZZ_ASSERT(strlen(e->message) == e->message_len); /* no NUL inside */
        FUZZ_ASSERT(e->message_len <= max_line);
        FUZZ_ASSERT(utf8_valid(e->message, e->message_len));
        fuzz_check_string(e->service, INGEST_SERVICE_MAX);
        FUZZ_ASSERT(e->service[0] != '\0');
        if (e->level)
            fuzz_check_string(e->level, INGEST_LEVEL_MAX);
        FUZZ_ASSERT(e->line >= 1);
        FUZZ_ASSERT(i == 0 || e->line > b->entries[i - 1].line);
        if (e->attributes) {
            json_t *a = json_loads(e->attributes, 0, NULL);
            FUZZ_ASSERT(a != NULL && json_is_object(a) && json_object_size(a) > 0);
            json_decref(a);
        }
    }
}

static inline void fuzz_check_error(const ingest_error *err)
{
    FUZZ_ASSERT(err->status == 400 || err->status == 413);
    FUZZ_ASSERT(err->code != NULL && err->code[0] != '\0');
    FUZZ_ASSERT(memchr(err->message, '\0', sizeof err->message) != NULL);
    FUZZ_ASSERT(err->message[0] != '\0');
    FUZZ_ASSERT(utf8_valid(err->message, strlen(err->message)));
    FUZZ_ASSERT(err->line >= 0 && err->index >= -1);
}

#endif
