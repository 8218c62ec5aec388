/*
 * fuzz_incident_answer.c — libFuzzer harness for incident_answer_parse
 * (src/incident/answer.c): the model's answer for an incident, text we trust
 * less than our own code. The input is copied into a buffer of its own (no
 * NUL after it), so a read past its end is an ASan report. Checks: an
 * accepted answer holds exactly the three fields, each a non-empty string of
 * at most INCIDENT_ANSWER_MAX bytes; a refused one says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/incident.h"
#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    FUZZ_ASSERT(text != NULL);
    memcpy(text, data, size);
    char err[256] = "";
    json_t *a = incident_answer_parse(text, size, err, sizeof err);
    free(text);
    if (!a) {
        FUZZ_ASSERT(err[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT(json_object_size(a) == 3);
    static const char *const fields[] = {"summary", "root_cause", "first_action"};
    for (size_t k = 0; k < 3; k++) {
        json_t *v = json_object_get(a, fields[k]);
        FUZZ_ASSERT(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= INCIDENT_ANSWER_MAX);
    }
    json_decref(a);
    return 0;
}
