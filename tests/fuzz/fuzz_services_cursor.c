/*
 * fuzz_services_cursor.c — libFuzzer harness for GET /services' cursor
 * (http_services_cursor_decode/encode in src/http/services.c).
 *
 * The input, as a NUL-terminated copy, is decoded: a cursor that decodes
 * stands for a name of 1 to 128 bytes without NUL and encodes back to the
 * very input (so only lowercase hex of even length is one). The input's
 * first 128 non-NUL bytes, as a name, survive encode then decode.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/http.h"

#include "fuzz_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_ASSERT(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';

    char name[HTTP_SERVICE_NAME_MAX + 1], back[2 * HTTP_SERVICE_NAME_MAX + 1];
    if (http_services_cursor_decode(s, name) == 0) {
        size_t n = strlen(name);
        FUZZ_ASSERT(n >= 1 && n <= HTTP_SERVICE_NAME_MAX);
        http_services_cursor_encode(name, back, sizeof back);
        FUZZ_ASSERT(strcmp(back, s) == 0);
    }

    size_t n = strlen(s);
    if (n > HTTP_SERVICE_NAME_MAX)
        s[n = HTTP_SERVICE_NAME_MAX] = '\0';
    if (n) {
        http_services_cursor_encode(s, back, sizeof back);
        FUZZ_ASSERT(strlen(back) == 2 * n);
        FUZZ_ASSERT(http_services_cursor_decode(back, name) == 0 && strcmp(name, s) == 0);
    }
    free(s);
    return 0;
}
