/**
 * @file type_phrase.h
 * @brief A JSON value's type as an error message says it ("an object",
 *        "a number", ...), the same for a client's body and a model's answer.
 */
#ifndef ANOMALOG_TYPE_PHRASE_H
#define ANOMALOG_TYPE_PHRASE_H

#include <jansson.h>

/** "an object", "an array", "a string", "a number", "a boolean" or "null". */
const char *type_phrase(const json_t *v);

#endif
