/*
 * redact_int.h — what redact.c (the redactor: placeholders, extra patterns,
 * sessions, assembly) shares with redact_scan.c (the built-in detectors):
 * ASCII character classes, spans and their kinds. Private to src/analyze/.
 */
#ifndef ANOMALOG_ANALYZE_REDACT_INT_H
#define ANOMALOG_ANALYZE_REDACT_INT_H

#include <stddef.h>

/* Keys longer than this are not keys (redact_scan.c). */
#define REDACT_KEY_MAX 64

/* Built-in kinds, in the redactor's kind table at these indices. */
enum { K_SECRET, K_JWT, K_AWS_KEY, K_PRIVATE_KEY, K_CARD, K_EMAIL, K_IP, K_BUILTIN };

/* Character classes (ASCII only: locale-independent on purpose). */

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static inline int is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static inline int is_alpha(unsigned char c) { return is_upper(c) || is_lower(c); }
static inline int is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }
static inline int is_word(unsigned char c) { return is_alnum(c) || c == '_'; }
static inline int is_hex(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static inline unsigned char to_lower(unsigned char c) { return is_upper(c) ? (unsigned char)(c + 32) : c; }
static inline int is_b64url(unsigned char c) { return is_alnum(c) || c == '-' || c == '_'; }
static inline int is_blank(unsigned char c) { return c == ' ' || c == '\t'; }

#define AT(t, i) ((unsigned char)(t)[i])

/* The first position at or after j of t[0..n) that is not a space or tab (n when none). */
static inline size_t skip_blanks(const char *t, size_t n, size_t j)
{
    while (j < n && is_blank(AT(t, j)))
        j++;
    return j;
}

/* A value to redact: [start, end) of the scanned text, its kind and priority (lower wins). */
typedef struct span {
    size_t start, end;
    unsigned kind, prio;
} span;

typedef struct span_list {
    span *v;
    size_t n, cap;
    int oom;
} span_list;

/* Appends a span (no-op for an empty one); on allocation failure sets l->oom. */
void redact_spans_add(span_list *l, size_t start, size_t end, unsigned kind, unsigned prio);

/* Runs every built-in detector over t[0..n) (the IP ones only with ip_addresses), appending spans. */
void redact_scan_builtin(const char *t, size_t n, int ip_addresses, span_list *out);

#endif
