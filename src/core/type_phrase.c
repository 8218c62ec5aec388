/*
 * type_phrase.c — a JSON value's type as the error messages say it
 * (type_phrase.h): the JSON body parsers (ingest) and the validator of the
 * model's answer (verdict.c) name what they got the same way.
 *
 * Threads: a pure function. Limits: none.
 */
#include "anomalog/type_phrase.h"

const char *type_phrase(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}
