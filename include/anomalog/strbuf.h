/**
 * @file strbuf.h
 * @brief The one growable string buffer, created with its maximum: text of
 *        unknown length (a prompt, a model's answer off the wire, a digest, a
 *        redacted line, a log line) is appended to one, and an append past the
 *        maximum fails cleanly, leaving the buffer as it was.
 *
 * A buffer belongs to one thread at a time. Its fields may be read; `max`
 * may be changed between appends (a caller keeping room back for a trailer).
 */
#ifndef ANOMALOG_STRBUF_H
#define ANOMALOG_STRBUF_H

#include <stddef.h>
#include <stdint.h>

/** The largest maximum: a buffer bounded only by memory. */
#define STRBUF_UNBOUNDED (SIZE_MAX - 1)

typedef enum strbuf_rc {
    STRBUF_OK = 0,
    STRBUF_FULL,  /**< the bytes would take the buffer past max: nothing was added */
    STRBUF_NOMEM, /**< out of memory (or a format that cannot be written): sticky, see strbuf.oom */
} strbuf_rc;

typedef struct strbuf {
    char *p;    /**< the text, NUL-terminated once anything was added; NULL before */
    size_t len; /**< bytes of text, never more than max */
    size_t cap; /**< bytes allocated */
    size_t max; /**< the bound on len */
    int oom;    /**< set by the first STRBUF_NOMEM; every later append then fails at once, so a run of
                     appends may be checked once, at its end */
} strbuf;

/** An empty buffer of at most max bytes, as an initializer. */
#define STRBUF_INIT(max) {NULL, 0, 0, (max), 0}

/** Makes b empty, holding no memory, with at most max bytes (capped at STRBUF_UNBOUNDED). */
void strbuf_init(strbuf *b, size_t max);

/** Makes room for n more bytes now (for a caller that knows the size ahead), as strbuf_add. */
strbuf_rc strbuf_reserve(strbuf *b, size_t n);

/** Appends s[0..n). @return STRBUF_OK, STRBUF_FULL (b unchanged) or STRBUF_NOMEM (b's text unchanged). */
strbuf_rc strbuf_add(strbuf *b, const void *s, size_t n);

/** Appends the string s, as strbuf_add. */
strbuf_rc strbuf_str(strbuf *b, const char *s);

/** Appends formatted text, as strbuf_add: all of it, or nothing. */
strbuf_rc strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Takes the text back to its first len bytes (len <= b->len), keeping the memory. */
void strbuf_truncate(strbuf *b, size_t len);

/**
 * Hands the text over, to be freed by the caller: an empty string when
 * nothing was added; NULL when out of memory (b->oom, or that empty string
 * could not be made). b is empty afterwards, holding no memory, its max kept.
 */
char *strbuf_steal(strbuf *b);

/** Frees the text; b is empty afterwards, its max kept. NULL is accepted. */
void strbuf_free(strbuf *b);

#endif
