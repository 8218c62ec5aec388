/*
 * utf8.c — the one UTF-8 checker (utf8.h). Ingestion cleans log text with
 * it, redaction checks text before PCRE2 (told not to check again), the
 * prompt and the log writer escape with it, and every cut of text at a byte
 * limit lands on a character boundary through it.
 *
 * Threads: pure functions. Invariants: a sequence is valid by RFC 3629
 * (C0, C1 and F5..FF never lead; E0 and F0 are not overlong; ED is no
 * surrogate; F4 stays under U+110000). Limits: reads at most n bytes.
 */
#include "anomalog/utf8.h"

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    }
    if (c < 0xF0) {
        if (n < 3 || (s[2] & 0xC0) != 0x80)
            return 0;
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi ? 3 : 0;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi ? 4 : 0;
    }
    return 0;
}

int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq_len(p + i, len - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

size_t utf8_clean_prefix(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t k = p[i] == 0 ? 0 : p[i] < 0x80 ? 1 : utf8_seq_len(p + i, len - i);
        if (!k)
            break;
        i += k;
    }
    return i;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t cut = max;
    /* back up over continuation bytes to the start of the character at the cut */
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

size_t utf8_whole(const char *s, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i > 0 && (unsigned char)s[i - 1] >= 0xC0 && utf8_seq_len((const unsigned char *)s + i - 1, n - i + 1) == 0)
        return i - 1; /* a lead byte whose character does not fit in n */
    return n;
}
