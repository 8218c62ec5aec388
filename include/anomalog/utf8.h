/**
 * @file utf8.h
 * @brief The one UTF-8 checker: sequence length, validity, cuts on
 *        character boundaries. Valid means RFC 3629: no overlong forms, no
 *        surrogates, nothing past U+10FFFF (as PCRE2 and jansson expect).
 */
#ifndef ANOMALOG_UTF8_H
#define ANOMALOG_UTF8_H

#include <stddef.h>

/** U+FFFD, what replaces a byte that is not part of valid UTF-8. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

/** Length (1..4) of the valid UTF-8 sequence at s, or 0 when s[0..n) (n >= 1) does not start with one. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/** 1 when s[0..len) is valid UTF-8 (NUL bytes included), else 0. */
int utf8_valid(const char *s, size_t len);

/** Length of the longest prefix of s[0..len) that is valid UTF-8 without NUL bytes. */
size_t utf8_clean_prefix(const char *s, size_t len);

/** Largest cut <= max of valid UTF-8 s[0..len) that does not split a character. */
size_t utf8_cut(const char *s, size_t len, size_t max);

/**
 * s[0..n) without a character cut short at its end (as vsnprintf leaves
 * when it truncates): n, or less by the bytes of that last partial character.
 */
size_t utf8_whole(const char *s, size_t n);

#endif
