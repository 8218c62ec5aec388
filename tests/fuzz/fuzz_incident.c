/*
 * fuzz_incident.c — libFuzzer harness for incident_annotate (features.c):
 * log text, which anyone who can write a log line controls, read for the
 * services it names and the trace / request ids it carries.
 *
 * The input is split at newlines into lines (each copied into a buffer of
 * its own, so a read past a line's end is an ASan report); the first byte's
 * bits say which lines are error lines and which template a line has. The
 * service names are fixed, among them short ones that prefix common words.
 * Checks: the bounds on names and ids hold, every name found is one of the
 * given names and never the service's own, every id is 6 to 64 bytes, the
 * first line's time is at most the last's.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/incident.h"
#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"db", "edge", "a", "payments", "db-primary", "trace", "x.y", ""};
    const size_t n_names = sizeof names / sizeof names[0];
    if (size < 1)
        return 0;
    uint8_t bits = data[0];
    data++;
    size--;
    enum { MAX_LINES = 64 };
    incident_line lines[MAX_LINES];
    char *owned[MAX_LINES];
    size_t n = 0, s = 0;
    for (size_t i = 0; i <= size && n < MAX_LINES; i++) {
        if (i < size && data[i] != '\n')
            continue;
        owned[n] = malloc(i - s + 1);
        FUZZ_ASSERT(owned[n] != NULL);
        memcpy(owned[n], data + s, i - s);
        owned[n][i - s] = '\0';
        lines[n] = (incident_line){.ts_ms = (int64_t)(n * 997 % 13), .level = (bits >> (n % 8)) & 1 ? 5 : 3,
                                   .message = owned[n], .template_id = (int64_t)(n % 3)};
        n++;
        s = i + 1;
    }
    json_t *list = json_pack("[{s:[I]}, {s:[]}]", "template_ids", (json_int_t)(bits % 3), "template_ids");
    FUZZ_ASSERT(list != NULL);
    json_t *calls = NULL;
    int rc = incident_annotate(list, "db", lines, n, names, n_names, &calls);
    FUZZ_ASSERT(rc == 0);
    size_t i, k;
    json_t *f, *x;
    json_array_foreach(list, i, f)
    {
        json_t *m = json_object_get(f, "mentions"), *ids = json_object_get(f, "trace_ids");
        FUZZ_ASSERT(json_array_size(m) <= INCIDENT_MAX_MENTIONS && json_array_size(ids) <= INCIDENT_MAX_TRACE_IDS);
        json_array_foreach(m, k, x)
        {
            int known = 0;
            for (size_t j = 0; j < n_names; j++)
                known |= strcmp(json_string_value(x), names[j]) == 0;
            FUZZ_ASSERT(known && strcmp(json_string_value(x), "db") != 0);
        }
        json_array_foreach(ids, k, x) FUZZ_ASSERT(json_string_length(x) >= 6 && json_string_length(x) <= INCIDENT_MAX_ID_LEN);
        json_t *a = json_object_get(f, "first_ts"), *b = json_object_get(f, "last_ts");
        FUZZ_ASSERT((a == NULL) == (b == NULL));
        FUZZ_ASSERT(!a || json_integer_value(a) <= json_integer_value(b));
    }
    FUZZ_ASSERT(calls != NULL && json_object_get(calls, "db") == NULL);
    json_decref(calls);
    json_decref(list);
    for (size_t j = 0; j < n; j++)
        free(owned[j]);
    return 0;
}
