/*
 * answer.c — the model's answer for an incident (incident.h:
 * incident_answer_parse, incident_answer_schema): recovered leniently, checked
 * strictly, as a window's answer is (verdict.c).
 *
 * The answer is text we trust less than our own code: the JSON object is the
 * first '{' through the last '}' (a ```json fence or prose around it is
 * dropped); it must hold "summary", "root_cause" and "first_action" as
 * non-empty strings of at most INCIDENT_ANSWER_MAX bytes after trimming;
 * anything else in it is dropped. Nothing crashes on any input.
 *
 * Threads: any; pure. Limits: an answer of at most 1 MiB is read.
 */
#include "anomalog/incident.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *const FIELDS[] = {"summary", "root_cause", "first_action"};

json_t *incident_answer_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (!text || len == 0 || len > (1u << 20)) {
        snprintf(err, errlen, "the answer is empty or over 1 MiB");
        return NULL;
    }
    const char *open = memchr(text, '{', len);
    const char *close = NULL;
    for (size_t i = len; i > 0 && !close; i--)
        if (text[i - 1] == '}')
            close = text + i - 1;
    if (!open || !close || close < open) {
        snprintf(err, errlen, "no JSON object in the answer");
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(open, (size_t)(close - open) + 1, 0, &je);
    if (!json_is_object(o)) {
        snprintf(err, errlen, "the answer's object is not valid JSON: %s", o ? "not an object" : je.text);
        json_decref(o);
        return NULL;
    }
    json_t *out = json_object();
    for (size_t k = 0; out && k < sizeof FIELDS / sizeof FIELDS[0]; k++) {
        const char *v = json_string_value(json_object_get(o, FIELDS[k]));
        size_t n = v ? json_string_length(json_object_get(o, FIELDS[k])) : 0;
        while (n > 0 && isspace((unsigned char)*v)) {
            v++;
            n--;
        }
        while (n > 0 && isspace((unsigned char)v[n - 1]))
            n--;
        if (!v || n == 0 || n > INCIDENT_ANSWER_MAX || memchr(v, '\0', n)) {
            snprintf(err, errlen, "%s: %s", FIELDS[k],
                     !v ? "missing or not a string" : n == 0 ? "empty" : n > INCIDENT_ANSWER_MAX ? "too long" : "holds a NUL");
            json_decref(out);
            out = NULL;
            break;
        }
        json_object_set_new(out, FIELDS[k], json_stringn(v, n));
    }
    json_decref(o);
    return out;
}

json_t *incident_answer_schema(void)
{
    return json_pack("{s:s, s:{s:{s:s, s:i}, s:{s:s, s:i}, s:{s:s, s:i}}, s:[s, s, s], s:b}", "type", "object",
                     "properties", "summary", "type", "string", "maxLength", INCIDENT_ANSWER_MAX, "root_cause", "type",
                     "string", "maxLength", INCIDENT_ANSWER_MAX, "first_action", "type", "string", "maxLength",
                     INCIDENT_ANSWER_MAX, "required", "summary", "root_cause", "first_action", "additionalProperties",
                     0);
}
