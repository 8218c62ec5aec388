/*
 * strbuf.c — the one growable, bounded string buffer (strbuf.h), in the way
 * of curl's dynbuf: each buffer is created with its maximum, and an append
 * past it fails cleanly. The prompt, the model client's answer, the digest's
 * text, the redactor's output and the log writer's lines are built in one.
 *
 * Threads: no shared state; a buffer belongs to one thread at a time.
 *
 * Invariants: len <= max whenever an append succeeded (max may be lowered by
 * the caller afterwards; appends then fail as FULL). Once p is allocated,
 * cap > len and p[len] == '\0'. A failed append leaves the text as it was.
 * An allocation failure sets oom, after which every append fails at once.
 *
 * Limits: max is at most STRBUF_UNBOUNDED; the capacity starts at 256 bytes,
 * doubles, and never goes past max + 1 (the NUL).
 */
#include "anomalog/strbuf.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRBUF_FIRST_CAP 256

void strbuf_init(strbuf *b, size_t max)
{
    *b = (strbuf)STRBUF_INIT(max < STRBUF_UNBOUNDED ? max : STRBUF_UNBOUNDED);
}

/* Room for n more bytes and the NUL: OK, FULL (past max) or NOMEM. */
strbuf_rc strbuf_reserve(strbuf *b, size_t n)
{
    if (b->oom)
        return STRBUF_NOMEM;
    if (b->len > b->max || n > b->max - b->len)
        return STRBUF_FULL;
    size_t need = b->len + n + 1; /* len + n <= max <= SIZE_MAX - 1 */
    if (need <= b->cap)
        return STRBUF_OK;
    size_t ncap = b->cap ? b->cap : STRBUF_FIRST_CAP;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    char *np = realloc(b->p, ncap);
    if (!np) {
        b->oom = 1;
        return STRBUF_NOMEM;
    }
    b->p = np;
    b->cap = ncap;
    return STRBUF_OK;
}

strbuf_rc strbuf_add(strbuf *b, const void *s, size_t n)
{
    strbuf_rc rc = strbuf_reserve(b, n);
    if (rc != STRBUF_OK)
        return rc;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return STRBUF_OK;
}

strbuf_rc strbuf_str(strbuf *b, const char *s)
{
    return strbuf_add(b, s, strlen(s));
}

strbuf_rc strbuf_printf(strbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return STRBUF_NOMEM;
    /* first into the room there is (most texts fit), then again into room made for all of it */
    size_t room = b->p ? b->cap - b->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < room && (size_t)n <= b->max - b->len) {
        b->len += (size_t)n;
        return STRBUF_OK;
    }
    if (b->p)
        b->p[b->len] = '\0'; /* what the first try wrote past the text goes */
    if (n < 0) {
        b->oom = 1;
        return STRBUF_NOMEM;
    }
    strbuf_rc rc = strbuf_reserve(b, (size_t)n);
    if (rc != STRBUF_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return STRBUF_OK;
}

void strbuf_truncate(strbuf *b, size_t len)
{
    assert(len <= b->len);
    b->len = len;
    if (b->p)
        b->p[len] = '\0';
}

char *strbuf_steal(strbuf *b)
{
    char *p = b->oom ? NULL : b->p ? b->p : strdup("");
    if (b->oom)
        free(b->p);
    b->p = NULL;
    strbuf_init(b, b->max);
    return p;
}

void strbuf_free(strbuf *b)
{
    if (!b)
        return;
    free(b->p);
    strbuf_init(b, b->max);
}
