/*
 * redact.c — secrets and personal data out of log text before it leaves the
 * process.
 *
 * Purpose: redact_text() returns a copy of a text in which passwords, tokens,
 * keys, card numbers, addresses (and, on request, IPs and whatever the
 * config's extra patterns match) are replaced by placeholders `<kind:N>`,
 * numbered per kind and per session so one value always reads the same
 * within a window. The forms each detector recognises are listed in
 * redact.h; the caller keeps the raw text.
 *
 * How: placeholders already in the text (`<kind:N>`) are found first and
 * protected. The built-in detectors then scan a copy in which each of them is
 * a run of '#' (inert: not a key, not an address, not a value's start, but a
 * value running into one runs through it). Each detector is a hand-written
 * single pass, no regex, whose lookaround is bounded by a small constant or
 * skipped over afterwards, so all of them cost linear time on any input.
 * They append spans [start, end) with a kind. Extra patterns run through
 * PCRE2 line by line (below). Spans are sorted and overlapping ones merged
 * (nothing is half-redacted because two rules disagree on where a value
 * ends); a merged span takes the kind with the highest priority: private_key,
 * jwt, aws_key, secret, card, email, ip, then the extra patterns in order.
 * The protected placeholders are cut out of each span; what remains is one
 * value, identified by kind, length and two hashes, and written as its
 * placeholder.
 *
 * Extra patterns: compiled in UTF mode with automatic callouts and without
 * auto-possessification. Each line is split into its maximal valid UTF-8
 * fragments (checked here once, so PCRE2 is told not to re-check the rest of
 * the subject on every call, which would be quadratic); invalid sequences
 * never match and no match crosses one. The callout counts matcher steps,
 * backtracking included, against a budget of REDACT_PCRE_WORK_FIXED +
 * REDACT_PCRE_WORK_PER_BYTE per byte of the line, shared by every search of
 * one pattern over that line; PCRE2's match limit (per start position),
 * depth and heap limits stay as a second line of defence. When any of them
 * hits, or PCRE2 fails in any other way, the pattern cannot say whether the
 * rest of the line holds a match, so the rest of the line from where the
 * search stood is redacted as the pattern's kind: fail safe, over-redact,
 * never leak.
 *
 * Threads: a redactor is read-only after redactor_new(); its PCRE2 code is
 * shared and each call makes its own match data and match context, so any
 * number of threads may redact with one redactor. A session is used by one
 * thread at a time.
 *
 * Invariants: the output is NUL-terminated; bytes outside spans are copied
 * unchanged; spans start and end on ASCII delimiters or UTF-8 character
 * boundaries, so valid UTF-8 in gives valid UTF-8 out. Every placeholder of
 * the input is in the output, unchanged, in order. The session holds no
 * secret bytes, only hashes.
 *
 * Limits: a span becomes one placeholder of at most REDACT_KIND_MAX + 13
 * bytes, so the output is at most 37 bytes per input byte. Spans cost a few
 * words each while a call runs. A session remembers REDACT_SESSION_MAX_VALUES
 * distinct values; past that, new values still get new numbers but are not
 * remembered (a repeat gets another number). Keys longer than REDACT_KEY_MAX
 * bytes are not keys; email local parts are at most 64 bytes and domains 255.
 * Explicitly possessive quantifiers and atomic groups in extra patterns scan
 * without callouts: each may cost up to the line's length per start position
 * unmetered.
 */
#include "anomalog/redact.h"
#include "anomalog/utf8.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDACT_KEY_MAX 64
#define REDACT_SESSION_MAX_VALUES ((size_t)1 << 18)
#define REDACT_PCRE_WORK_FIXED 200000u
#define REDACT_PCRE_WORK_PER_BYTE 256u
#define REDACT_PCRE_MATCH_LIMIT 1000000u
#define REDACT_PCRE_DEPTH_LIMIT 20000u
#define REDACT_PCRE_HEAP_LIMIT_KIB 8192u
#define REDACT_PLACEHOLDER_MAX (REDACT_KIND_MAX + 13) /* '<' kind ':' 10 digits '>' */
#define REDACT_ERR_SNIPPET 60

/* Built-in kinds, in the redactor's kind table at these indices. */
enum { K_SECRET, K_JWT, K_AWS_KEY, K_PRIVATE_KEY, K_CARD, K_EMAIL, K_IP, K_BUILTIN };
static const char *const BUILTIN_KIND_NAMES[K_BUILTIN] = {
    [K_SECRET] = "secret", [K_JWT] = "jwt",   [K_AWS_KEY] = "aws_key", [K_PRIVATE_KEY] = "private_key",
    [K_CARD] = "card",     [K_EMAIL] = "email", [K_IP] = "ip",
};
/* Lower wins when spans overlap; extra pattern i has priority K_BUILTIN + i. */
static const unsigned BUILTIN_PRIO[K_BUILTIN] = {
    [K_PRIVATE_KEY] = 0, [K_JWT] = 1, [K_AWS_KEY] = 2, [K_SECRET] = 3, [K_CARD] = 4, [K_EMAIL] = 5, [K_IP] = 6,
};

typedef struct user_pattern {
    pcre2_code *code;
    unsigned kind;  /* index in redactor.kinds */
    int has_group;  /* redact group 1 when it took part */
} user_pattern;

struct redactor {
    int ip_addresses;
    user_pattern *patterns;
    size_t n_patterns;
    char (*kinds)[REDACT_KIND_MAX + 1];
    size_t n_kinds;
};

typedef struct sess_kind {
    char name[REDACT_KIND_MAX + 1];
    uint32_t next;  /* last number given */
    uint64_t count; /* redactions */
} sess_kind;

typedef struct sess_entry {
    uint64_t h1, h2;
    size_t len;
    uint32_t kind;
    uint32_t number; /* 0: empty slot */
} sess_entry;

struct redact_session {
    sess_kind *kinds;
    size_t n_kinds, cap_kinds;
    sess_entry *table;
    size_t cap, used; /* cap: 0 or a power of two */
};

/* ------------------------------------------------------------------------ */
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

/* 1 when t[i..] starts with the lowercase ASCII word w, ignoring case. */
static int starts_with_ci(const char *t, size_t n, size_t i, const char *w)
{
    size_t k = strlen(w);
    if (n - i < k)
        return 0;
    for (size_t j = 0; j < k; j++)
        if (to_lower(AT(t, i + j)) != (unsigned char)w[j])
            return 0;
    return 1;
}

static int eq_ci(const char *t, size_t n, const char *w)
{
    return strlen(w) == n && starts_with_ci(t, n, 0, w);
}

/* ------------------------------------------------------------------------ */
/* Spans. */

typedef struct span {
    size_t start, end;
    unsigned kind, prio;
} span;

typedef struct span_list {
    span *v;
    size_t n, cap;
    int oom;
} span_list;

static void spans_add(span_list *l, size_t start, size_t end, unsigned kind, unsigned prio)
{
    if (l->oom || end <= start)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        span *v = cap > SIZE_MAX / sizeof *v ? NULL : realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (span){start, end, kind, prio};
}

static void add_builtin(span_list *l, size_t start, size_t end, unsigned kind)
{
    spans_add(l, start, end, kind, BUILTIN_PRIO[kind]);
}

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Placeholders: '<' [a-z][a-z0-9_]{0,23} ':' [1-9][0-9]{0,9} '>' */

static size_t placeholder_len(const char *t, size_t n, size_t i)
{
    size_t j = i + 1, k = 1, d = 1;
    if (AT(t, i) != '<' || j >= n || !is_lower(AT(t, j)))
        return 0;
    for (j++; j < n && (is_lower(AT(t, j)) || is_digit(AT(t, j)) || t[j] == '_'); j++)
        if (++k > REDACT_KIND_MAX)
            return 0;
    if (j + 1 >= n || t[j] != ':' || AT(t, j + 1) < '1' || AT(t, j + 1) > '9')
        return 0;
    for (j += 2; j < n && is_digit(AT(t, j)); j++)
        if (++d > 10)
            return 0;
    if (j >= n || t[j] != '>')
        return 0;
    return j + 1 - i;
}

static void scan_placeholders(const char *t, size_t n, span_list *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(t + i, '<', n - i);
        if (!p)
            break;
        i = (size_t)(p - t);
        size_t k = placeholder_len(t, n, i);
        if (k) {
            spans_add(out, i, i + k, 0, 0);
            i += k - 1;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* private_key: -----BEGIN <label with PRIVATE KEY>----- ... -----END <same>----- */

/* If t[i..] is "-----<word> LABEL-----" with LABEL holding "PRIVATE KEY"
 * (at most 64 bytes of [A-Z0-9 ]), returns the offset after it, else 0. */
static size_t pem_marker(const char *t, size_t n, size_t i, const char *word)
{
    size_t wl = strlen(word);
    if (n - i < 5 + wl || memcmp(t + i, "-----", 5) != 0 || memcmp(t + i + 5, word, wl) != 0)
        return 0;
    size_t ls = i + 5 + wl, j = ls;
    while (j < n && j - ls <= 64 && (is_upper(AT(t, j)) || is_digit(AT(t, j)) || t[j] == ' '))
        j++;
    if (n - j < 5 || memcmp(t + j, "-----", 5) != 0)
        return 0;
    const char *lab = t + ls;
    size_t ll = j - ls;
    if (ll < 11 || !memmem(lab, ll, "PRIVATE KEY", 11))
        return 0;
    return j + 5;
}

static void scan_private_keys(const char *t, size_t n, span_list *out)
{
    size_t i = 0;
    while (i < n) {
        const char *p = memmem(t + i, n - i, "-----BEGIN ", 11);
        if (!p)
            return;
        size_t b = (size_t)(p - t), e = pem_marker(t, n, b, "BEGIN ");
        if (!e) {
            i = b + 5;
            continue;
        }
        size_t end = n, j = e;
        while (j < n) {
            const char *q = memmem(t + j, n - j, "-----END ", 9);
            if (!q)
                break;
            size_t qe = pem_marker(t, n, (size_t)(q - t), "END ");
            if (qe) {
                end = qe;
                break;
            }
            j = (size_t)(q - t) + 5;
        }
        add_builtin(out, b, end, K_PRIVATE_KEY);
        i = end;
    }
}

/* ------------------------------------------------------------------------ */
/* jwt: eyJ... . ... . ...  (base64url segments; an empty signature is kept) */

static void scan_jwt(const char *t, size_t n, span_list *out)
{
    size_t i = 0;
    while (i + 3 <= n) {
        const char *p = memmem(t + i, n - i, "eyJ", 3);
        if (!p)
            return;
        size_t s = (size_t)(p - t);
        if (s > 0 && (is_b64url(AT(t, s - 1)) || t[s - 1] == '.')) {
            i = s + 3;
            continue;
        }
        size_t j = s;
        while (j < n && is_b64url(AT(t, j)))
            j++;
        size_t segs = 1, header = j - s;
        int payload_ok = 0;
        while (j < n && t[j] == '.') {
            size_t k = j + 1;
            while (k < n && is_b64url(AT(t, k)))
                k++;
            if (k == j + 1) { /* empty segment */
                if (segs == 2) {
                    j = k; /* "header.payload." : unsigned token */
                    segs++;
                }
                break;
            }
            if (segs == 1)
                payload_ok = k - j - 1 >= 2;
            segs++;
            j = k;
        }
        if (header >= 10 && payload_ok && segs >= 3)
            add_builtin(out, s, j, K_JWT);
        i = j > s + 3 ? j : s + 3;
    }
}

/* ------------------------------------------------------------------------ */
/* aws_key: (AKIA|ASIA)[A-Z0-9]{16} as a whole word. */

static void scan_aws(const char *t, size_t n, span_list *out)
{
    for (size_t i = 0; i + 20 <= n; i++) {
        if (t[i] != 'A' || (t[i + 1] != 'K' && t[i + 1] != 'S') || t[i + 2] != 'I' || t[i + 3] != 'A')
            continue;
        if (i > 0 && is_alnum(AT(t, i - 1)))
            continue;
        size_t j = i + 4;
        while (j < n && j - i < 21 && (is_upper(AT(t, j)) || is_digit(AT(t, j))))
            j++;
        if (j - i == 20 && (j == n || !is_alnum(AT(t, j)))) {
            add_builtin(out, i, j, K_AWS_KEY);
            i = j - 1;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* secret: sensitive key, separator, value. */

static int word_in(const char *w, size_t wl, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == wl && memcmp(w, list[i], wl) == 0)
            return 1;
    return 0;
}

static int word_ends_with(const char *w, size_t wl, const char *const *list)
{
    for (size_t i = 0; list[i]; i++) {
        size_t k = strlen(list[i]);
        if (wl >= k && memcmp(w + wl - k, list[i], k) == 0)
            return 1;
    }
    return 0;
}

/* KEY_DIR: pwd-like, a path value is a directory; KEY_WEAK: "auth", a
 * credential only after '=' or in quotes (or after a scheme) */
enum { KEY_NO, KEY_YES, KEY_DIR, KEY_WEAK };

/* Classifies a key by its last word (lowercased; words split at _ - . and
 * camelCase), and the word before it for "key". */
static int key_class(const char *k, size_t kl)
{
    static const char *const exact[] = {"password", "passwd", "passphrase", "secret", "secrets",
                                        "token", "authorization", "credential", "credentials", NULL};
    static const char *const suffix[] = {"password", "passwd",    "secret",    "token",      "apikey",
                                         "accesskey", "secretkey", "privatekey", "passphrase", NULL};
    static const char *const key_after[] = {"api",    "access", "secret",     "private", "signing",
                                            "master", "app",    "encryption", "auth",    "account", NULL};
    char w[2][REDACT_KEY_MAX + 1]; /* w[1]: last word, w[0]: the one before */
    size_t wl[2] = {0, 0};
    int started = 0; /* a word has begun; each new one shifts w[1] into w[0] */
    for (size_t i = 0; i < kl; i++) {
        unsigned char c = AT(k, i);
        if (!is_alnum(c)) /* _ - . */
            continue;
        int boundary = i == 0 || !is_alnum(AT(k, i - 1));
        if (!boundary && is_upper(c)) {
            unsigned char p = AT(k, i - 1);
            boundary = is_lower(p) || is_digit(p) || (is_upper(p) && i + 1 < kl && is_lower(AT(k, i + 1)));
        }
        if (boundary || !started) {
            if (started) {
                memcpy(w[0], w[1], wl[1]);
                wl[0] = wl[1];
            }
            started = 1;
            wl[1] = 0;
        }
        w[1][wl[1]++] = (char)to_lower(c);
    }
    if (!started)
        return KEY_NO;
    const char *last = w[1];
    size_t ll = wl[1];
    if (ll >= 3 && memcmp(last + ll - 3, "pwd", 3) == 0)
        return KEY_DIR; /* PWD=/home/bob is a directory; pwd=x a password */
    if (word_in(last, ll, exact) || word_ends_with(last, ll, suffix))
        return KEY_YES;
    if (ll == 4 && memcmp(last, "auth", 4) == 0)
        return KEY_WEAK;
    if (ll == 4 && memcmp(last, "pass", 4) == 0 && wl[0]) /* db_pass, not a test's "pass=12" */
        return KEY_YES;
    if (ll == 3 && memcmp(last, "key", 3) == 0 && wl[0] && word_in(w[0], wl[0], key_after))
        return KEY_YES;
    return KEY_NO;
}

static int is_key_char(unsigned char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; }

/* Ends an unquoted value. */
static int is_value_delim(unsigned char c)
{
    return c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '`' || c == ',' || c == ';' || c == '&' ||
           c == ')' || c == ']' || c == '}' || c == '\\';
}

/* RFC 7235 token68, the credential after an auth scheme */
static int is_token68(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

static size_t unquoted_end(const char *t, size_t n, size_t i)
{
    while (i < n && !is_value_delim(AT(t, i)))
        i++;
    return i;
}

/* A quoted value's content starts at i; q is the quote, esc the number of
 * backslashes that preceded the opening quote. Sets *ce to the content's end
 * and returns the offset after the closing quote (or the line end when the
 * quote is not closed). */
static size_t quoted_end(const char *t, size_t n, size_t i, char q, size_t esc, size_t *ce)
{
    size_t j = i;
    while (j < n && t[j] != '\n') {
        if (esc == 0) {
            if (t[j] == '\\') {
                j += 2;
                continue;
            }
            if (t[j] == q) {
                *ce = j;
                return j + 1;
            }
        } else if (t[j] == q && j > i && t[j - 1] == '\\') {
            size_t b = j;
            while (b > i && t[b - 1] == '\\')
                b--;
            *ce = b;
            return j + 1;
        }
        j++;
    }
    if (j > n)
        j = n;
    *ce = j;
    return j;
}

static int is_auth_scheme(const char *w, size_t wl)
{
    static const char *const schemes[] = {"bearer", "basic", "token", "negotiate", "ntlm", "apikey", NULL};
    for (size_t i = 0; schemes[i]; i++)
        if (eq_ci(w, wl, schemes[i]))
            return 1;
    return 0;
}

/* Tries a key=value at key run [ks, ke). Returns where scanning resumes. */
static size_t try_key_value(const char *t, size_t n, size_t ks, size_t ke, span_list *out)
{
    int kc = key_class(t + ks, ke - ks);
    if (kc == KEY_NO)
        return ke;
    if (ks > 0 && t[ks - 1] == '<' && ke < n && t[ke] == '>') { /* XML: <password>pw</password> */
        size_t ve = ke + 1;
        while (ve < n && t[ve] != '<' && t[ve] != '\n')
            ve++;
        if (ve > ke + 1 && !(kc == KEY_DIR && (t[ke + 1] == '/' || t[ke + 1] == '~')))
            add_builtin(out, ke + 1, ve, K_SECRET);
        return ve;
    }
    size_t j = ke;
    /* the key's closing quote: ", ' or \" (any number of backslashes) */
    size_t b = j;
    while (b < n && t[b] == '\\')
        b++;
    int key_quoted = b < n && (t[b] == '"' || t[b] == '\'');
    if (key_quoted)
        j = b + 1;
    int space_before = 0, space_after = 0;
    char sep;
    while (j < n && is_blank(AT(t, j))) {
        j++;
        space_before = 1;
    }
    if (j >= n)
        return ke;
    sep = t[j];
    if (sep == '=') {
        if (j + 1 < n && t[j + 1] == '=')
            return ke;
        j += (j + 1 < n && t[j + 1] == '>') ? 2 : 1;
        if (j < n && is_blank(AT(t, j)) && !space_before && t[j - 1] == '=')
            return ke; /* "token= uid=0": an empty field, not "token = x" */
    } else if (sep == ':') {
        if (j + 1 < n && (t[j + 1] == ':' || (t[j + 1] == '/' && j + 2 < n && t[j + 2] == '/')))
            return ke;
        j++;
    } else {
        return ke;
    }
    while (j < n && is_blank(AT(t, j))) {
        j++;
        space_after = 1;
    }
    if (j >= n)
        return j;
    /* opening quote */
    size_t esc = 0, v = j;
    while (v < n && t[v] == '\\')
        v++;
    char q = 0;
    if (v < n && (t[v] == '"' || t[v] == '\'')) {
        q = t[v];
        esc = v - j;
        j = v + 1;
    } else if (t[j] == '{' || t[j] == '[') {
        return j; /* a nested object or array: its own keys are looked at */
    }
    size_t vs = j, ve, resume;
    if (q) {
        resume = quoted_end(t, n, vs, q, esc, &ve);
    } else {
        ve = unquoted_end(t, n, vs);
        resume = ve;
        if (ve == vs)
            return resume;
        static const char *const literals[] = {"null", "true", "false", "none", "nil", NULL};
        for (size_t k = 0; literals[k]; k++)
            if (eq_ci(t + vs, ve - vs, literals[k]))
                return resume;
    }
    if (ve <= vs)
        return resume;
    if (kc == KEY_DIR && (t[vs] == '/' || t[vs] == '~'))
        return resume;
    /* "Bearer xyz", "Basic xyz": keep the scheme */
    size_t w = vs;
    while (w < ve && is_alpha(AT(t, w)))
        w++;
    if (w > vs && w == ve && is_auth_scheme(t + vs, w - vs) && (q || w >= n || !is_blank(AT(t, w))))
        return resume; /* "Authorization: Bearer" and nothing after it */
    if (w > vs && is_auth_scheme(t + vs, w - vs) && ((q && w < ve && is_blank(AT(t, w))) ||
                                                     (!q && w == ve && w < n && is_blank(AT(t, w))))) {
        size_t cs = w;
        while (cs < n && (q ? cs < ve : 1) && is_blank(AT(t, cs)))
            cs++;
        size_t cend = cs;
        if (q)
            cend = ve;
        else
            while (cend < n && is_token68(AT(t, cend)))
                cend++;
        if (cend > cs)
            add_builtin(out, cs, cend, K_SECRET);
        return q ? resume : cend;
    }
    if (sep == ':' && !q && (kc == KEY_WEAK || (!key_quoted && !space_after)))
        return resume; /* "auth: ok", "(auth:SIMPLE)", "pam_unix(passwd:chauthtok)": words, not credentials */
    add_builtin(out, vs, ve, K_SECRET);
    return resume;
}

static void scan_key_values(const char *t, size_t n, span_list *out)
{
    size_t i = 0;
    while (i < n) {
        if (!is_key_char(AT(t, i))) {
            i++;
            continue;
        }
        size_t ks = i;
        while (i < n && is_key_char(AT(t, i)))
            i++;
        size_t ke = i;
        if (ks > 0 && t[ks - 1] == '\\' && ke - ks > 1 && (t[ks] == 'n' || t[ks] == 't' || t[ks] == 'r'))
            ks++; /* "\npassword=..." in escaped text */
        else if (ks > 0 && (t[ks - 1] == '/' || t[ks - 1] == '\\'))
            continue; /* a path component: "/etc/passwd: ..." */
        if (ke - ks > REDACT_KEY_MAX)
            continue;
        size_t r = try_key_value(t, n, ks, ke, out);
        if (r > i)
            i = r;
    }
}

/* ------------------------------------------------------------------------ */
/* secret: bare "Bearer <token>" */

static void scan_bearer(const char *t, size_t n, span_list *out)
{
    for (size_t i = 0; i + 7 < n; i++) {
        if ((t[i] != 'b' && t[i] != 'B') || !starts_with_ci(t, n, i, "bearer"))
            continue;
        if (i > 0 && is_word(AT(t, i - 1)))
            continue;
        size_t j = i + 6;
        if (!is_blank(AT(t, j)))
            continue;
        while (j < n && is_blank(AT(t, j)))
            j++;
        size_t s = j;
        int digit = 0, punct = 0, upper = 0, lower = 0;
        while (j < n) {
            unsigned char c = AT(t, j);
            if (is_digit(c))
                digit = 1;
            else if (is_upper(c))
                upper = 1;
            else if (is_lower(c))
                lower = 1;
            else if (c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '-' || c == '=')
                punct = 1;
            else
                break;
            j++;
        }
        if (j - s >= 8 && (digit || punct || (upper && lower)))
            add_builtin(out, s, j, K_SECRET);
        i = j > i ? j - 1 : i;
    }
}

/* ------------------------------------------------------------------------ */
/* secret: scheme://user:PASSWORD@host */

static int ends_authority(unsigned char c)
{
    return c <= ' ' || c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c == '<' || c == '>' ||
           c == '\\' || c == '`' || c == 0x7f;
}

static void scan_url_userinfo(const char *t, size_t n, span_list *out)
{
    size_t i = 0;
    while (i + 3 < n) {
        const char *p = memmem(t + i, n - i, "://", 3);
        if (!p)
            return;
        size_t a = (size_t)(p - t) + 3, e = a, at = 0;
        while (e < n && e - a <= 512 && !ends_authority(AT(t, e))) {
            if (t[e] == '@')
                at = e;
            e++;
        }
        i = e > a ? e : a;
        if (!at || e - a > 512)
            continue;
        const char *c = memchr(t + a, ':', at - a);
        if (c && (size_t)(c - t) + 1 < at)
            add_builtin(out, (size_t)(c - t) + 1, at, K_SECRET);
    }
}

/* ------------------------------------------------------------------------ */
/* card: 13-19 digits, Luhn, network prefix, groups split by ' ' or '-' */

static int card_prefix_ok(const char *d)
{
    switch (d[0]) {
    case '4': case '5': case '6':
        return 1;
    case '3':
        return (d[1] >= '4' && d[1] <= '9') || (d[1] == '0' && d[2] >= '0' && d[2] <= '5');
    case '2': {
        int p = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
        return p >= 2221 && p <= 2720;
    }
    default:
        return 0;
    }
}

static int luhn_ok(const char *d, size_t nd)
{
    unsigned sum = 0;
    for (size_t k = 0; k < nd; k++) {
        unsigned v = (unsigned)(d[nd - 1 - k] - '0');
        if (k % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

static void scan_cards(const char *t, size_t n, span_list *out)
{
    size_t i = 0;
    while (i < n) {
        if (!is_digit(AT(t, i))) {
            i++;
            continue;
        }
        if (i > 0 && is_word(AT(t, i - 1))) { /* "visa13 4222...": skip the digits glued to a word */
            while (i < n && is_digit(AT(t, i)))
                i++;
            continue;
        }
        size_t s = i, nd = 0, groups = 0, first = 0;
        int shape_ok = 1;
        char d[20];
        for (;;) {
            size_t gs = i;
            while (i < n && is_digit(AT(t, i))) {
                if (nd < sizeof d)
                    d[nd] = t[i];
                nd++;
                i++;
            }
            size_t gl = i - gs;
            if (groups == 0)
                first = gl;
            else if (gl > 7)
                shape_ok = 0;
            groups++;
            if (i + 1 < n && (t[i] == ' ' || t[i] == '-') && is_digit(AT(t, i + 1)))
                i++;
            else
                break;
        }
        size_t e = i;
        if (nd < 13 || nd > 19 || groups > 5 || (groups > 1 && (first != 4 || !shape_ok)))
            continue;
        if (s > 0) {
            unsigned char c = AT(t, s - 1);
            if (is_word(c))
                continue;
            if ((c == '-' || c == '.' || c == '+') && s > 1 && is_word(AT(t, s - 2)))
                continue; /* blk_-4330..., v1.4111..., a decimal */
        }
        if (e < n && (is_word(AT(t, e)) || (t[e] == '.' && e + 1 < n && is_digit(AT(t, e + 1)))))
            continue;
        if (card_prefix_ok(d) && luhn_ok(d, nd))
            add_builtin(out, s, e, K_CARD);
    }
}

/* ------------------------------------------------------------------------ */
/* email: local@domain.tld */

static int is_local_char(unsigned char c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* 1 when the ':' at c ends the user of URL credentials "//user:" */
static int url_user_before(const char *t, size_t c)
{
    size_t j = c, k = 0;
    while (j > 0 && k < 256 && t[j - 1] != '/' && t[j - 1] != '@' && !ends_authority(AT(t, j - 1))) {
        j--;
        k++;
    }
    return j >= 2 && t[j - 1] == '/' && t[j - 2] == '/';
}

static void scan_emails(const char *t, size_t n, span_list *out)
{
    size_t i = 0;
    while (i < n) {
        const char *p = memchr(t + i, '@', n - i);
        if (!p)
            return;
        size_t a = (size_t)(p - t), l = a;
        i = a + 1;
        while (l > 0 && a - l < 65 && is_local_char(AT(t, l - 1)))
            l--;
        if (a - l > 64)
            continue;
        while (l < a && t[l] == '.')
            l++;
        if (l == a)
            continue;
        if (l > 0 && t[l - 1] == ':' && url_user_before(t, l - 1))
            continue;
        size_t d = a + 1, e = d;
        while (e < n && e - d <= 255 && (is_alnum(AT(t, e)) || t[e] == '.' || t[e] == '-'))
            e++;
        if (e - d > 255)
            continue;
        while (e > d && (t[e - 1] == '.' || t[e - 1] == '-'))
            e--;
        /* labels: non-empty, at least two, the last 2+ letters */
        size_t dots = 0, last = d;
        int ok = e > d && is_alnum(AT(t, d));
        for (size_t k = d; ok && k < e; k++) {
            if (t[k] == '.') {
                if (k + 1 >= e || t[k + 1] == '.' || t[k + 1] == '-' || t[k - 1] == '-')
                    ok = 0;
                dots++;
                last = k + 1;
            }
        }
        if (!ok || dots == 0 || e - last < 2)
            continue;
        for (size_t k = last; k < e && ok; k++)
            ok = is_alpha(AT(t, k));
        if (!ok)
            continue;
        add_builtin(out, l, e, K_EMAIL);
        i = e;
    }
}

/* ------------------------------------------------------------------------ */
/* ip: IPv4 dotted quads and IPv6 (checked by inet_pton) */

static void scan_ipv4(const char *t, size_t n, span_list *out)
{
    size_t i = 0;
    while (i < n) {
        if (!is_digit(AT(t, i)) || (i > 0 && (is_word(AT(t, i - 1)) || t[i - 1] == '.'))) {
            i++;
            continue;
        }
        size_t j = i;
        int ok = 1;
        for (int part = 0; part < 4 && ok; part++) {
            if (part > 0) {
                if (j >= n || t[j] != '.') {
                    ok = 0;
                    break;
                }
                j++;
            }
            size_t ds = j;
            unsigned v = 0;
            while (j < n && is_digit(AT(t, j)) && j - ds < 4)
                v = v * 10 + (unsigned)(t[j++] - '0');
            if (j == ds || j - ds > 3 || v > 255)
                ok = 0;
        }
        if (ok && (j == n || (!is_word(AT(t, j)) && !(t[j] == '.' && j + 1 < n && is_digit(AT(t, j + 1)))))) {
            add_builtin(out, i, j, K_IP);
            i = j;
            continue;
        }
        /* skip this run of digits and dots: no address starts inside it */
        while (i < n && (is_digit(AT(t, i)) || t[i] == '.'))
            i++;
    }
}

static int ipv6_ok(const char *t, size_t len)
{
    char buf[64];
    unsigned char addr[16];
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, t, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

static void scan_ipv6(const char *t, size_t n, span_list *out)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = AT(t, i);
        if (!is_hex(c) && c != ':') {
            i++;
            continue;
        }
        size_t s = i, colons = 0, hex = 0;
        while (i < n && (is_hex(AT(t, i)) || t[i] == ':' || t[i] == '.')) {
            colons += t[i] == ':';
            hex += is_hex(AT(t, i));
            i++;
        }
        size_t e = i;
        if (colons < 2 || hex == 0 || (s > 0 && is_word(AT(t, s - 1))) || (e < n && is_word(AT(t, e))))
            continue;
        while (e > s && t[e - 1] == '.')
            e--;
        if (ipv6_ok(t + s, e - s)) {
            add_builtin(out, s, e, K_IP);
            continue;
        }
        /* "addr:port" */
        size_t k = e;
        while (k > s && is_digit(AT(t, k - 1)))
            k--;
        if (k < e && k > s + 1 && t[k - 1] == ':' && ipv6_ok(t + s, k - 1 - s))
            add_builtin(out, s, k - 1, K_IP);
    }
}

/* ------------------------------------------------------------------------ */
/* Extra patterns (PCRE2). */

typedef struct pcre_budget {
    uint64_t used, limit;
} pcre_budget;

static int budget_callout(pcre2_callout_block *cb, void *data)
{
    (void)cb;
    pcre_budget *b = data;
    return ++b->used > b->limit ? PCRE2_ERROR_CALLOUT : 0;
}

/* Offset of the character after t[i] in valid UTF-8. */
static size_t next_char(const char *t, size_t n, size_t i)
{
    i++;
    while (i < n && (AT(t, i) & 0xC0) == 0x80)
        i++;
    return i;
}

/* Runs pattern p over t[fs, fe), valid UTF-8 inside the line t[ls, le),
 * adding its spans (out of memory is out's flag). Returns 1 when a limit hit
 * and the rest of the line was redacted, else 0. */
static int match_fragment(const user_pattern *p, unsigned prio, const char *t, size_t fs, size_t fe, size_t le,
                          uint32_t flags, pcre2_match_data *md, pcre2_match_context *mc, span_list *out)
{
    const char *sub = t + fs;
    size_t sl = fe - fs, off = 0;
    while (off <= sl) {
        int rc = pcre2_match(p->code, (PCRE2_SPTR)sub, sl, off, flags | PCRE2_NO_UTF_CHECK, md, mc);
        if (rc == PCRE2_ERROR_NOMATCH)
            return 0;
        if (rc < 0) { /* a limit, or anything else: fail safe */
            spans_add(out, fs + off, le, p->kind, prio);
            return 1;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1], rs = ms, re = me;
        if (p->has_group && rc > 1 && ov[2] != PCRE2_UNSET && ov[3] != PCRE2_UNSET && ov[3] > ov[2]) {
            rs = ov[2];
            re = ov[3];
        }
        if (re > rs && re <= sl)
            spans_add(out, fs + rs, fs + re, p->kind, prio);
        if (off >= sl)
            return 0;
        off = me > off && me <= sl ? me : next_char(sub, sl, off);
    }
    return 0;
}

/* Runs pattern p over the line t[ls, le), one valid UTF-8 fragment at a time
 * (invalid sequences never match, and no match crosses them; ^ and $ hold
 * only at the line's ends), under one budget for the whole line. */
static void match_line(const user_pattern *p, unsigned prio, const char *t, size_t ls, size_t le,
                       pcre2_match_data *md, pcre2_match_context *mc, pcre_budget *bud, span_list *out)
{
    bud->used = 0;
    bud->limit = REDACT_PCRE_WORK_FIXED + (uint64_t)REDACT_PCRE_WORK_PER_BYTE * (le - ls);
    size_t i = ls, k;
    while (i < le) {
        size_t fe = i;
        while (fe < le && (k = utf8_seq_len((const unsigned char *)t + fe, le - fe)) != 0)
            fe += k;
        uint32_t flags = (i > ls ? PCRE2_NOTBOL : 0) | (fe < le ? PCRE2_NOTEOL : 0);
        if (fe > i && match_fragment(p, prio, t, i, fe, le, flags, md, mc, out))
            return;
        for (i = fe; i < le && !utf8_seq_len((const unsigned char *)t + i, le - i); i++)
            ;
    }
}

static int scan_patterns(const redactor *r, const char *t, size_t n, span_list *out)
{
    pcre2_match_data *md = pcre2_match_data_create(2, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre_budget bud = {0, 0};
    int result = -1;
    if (!md || !mc)
        goto out;
    pcre2_set_match_limit(mc, REDACT_PCRE_MATCH_LIMIT);
    pcre2_set_depth_limit(mc, REDACT_PCRE_DEPTH_LIMIT);
    pcre2_set_heap_limit(mc, REDACT_PCRE_HEAP_LIMIT_KIB);
    pcre2_set_callout(mc, budget_callout, &bud);
    for (size_t ls = 0; ls <= n;) {
        const char *nl = n > ls ? memchr(t + ls, '\n', n - ls) : NULL;
        size_t le = nl ? (size_t)(nl - t) : n;
        for (size_t k = 0; k < r->n_patterns; k++)
            match_line(&r->patterns[k], K_BUILTIN + (unsigned)k, t, ls, le, md, mc, &bud, out);
        if (!nl)
            break;
        ls = le + 1;
    }
    result = 0;
out:
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    return result;
}

/* ------------------------------------------------------------------------ */
/* Redactor. */

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The pattern as shown in an error: at most REDACT_ERR_SNIPPET bytes, cut on
 * a UTF-8 boundary, control bytes as '?'. */
static void snippet(const char *s, char *buf, size_t size)
{
    size_t n = strlen(s), k = 0;
    int cut = n > REDACT_ERR_SNIPPET;
    if (cut) {
        n = REDACT_ERR_SNIPPET;
        n = utf8_cut(s, strlen(s), REDACT_ERR_SNIPPET);
    }
    for (size_t i = 0; i < n && k + 4 < size; i++) {
        unsigned char c = AT(s, i);
        buf[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (cut && k + 4 < size) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
}

static unsigned kind_index(redactor *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->n_kinds; i++)
        if (strlen(r->kinds[i]) == len && memcmp(r->kinds[i], name, len) == 0)
            return (unsigned)i;
    memcpy(r->kinds[r->n_kinds], name, len);
    r->kinds[r->n_kinds][len] = '\0';
    return (unsigned)r->n_kinds++;
}

static int compile_pattern(redactor *r, size_t idx, const char *src, pcre2_compile_context *cc, char *err,
                           size_t errlen)
{
    char shown[REDACT_ERR_SNIPPET * 2];
    if (!src) {
        set_err(err, errlen, "redaction pattern %zu: missing", idx + 1);
        return -1;
    }
    snippet(src, shown, sizeof shown);
    size_t nl = 0;
    if (is_lower(AT(src, 0))) {
        nl = 1;
        while (nl <= REDACT_KIND_MAX && (is_lower(AT(src, nl)) || is_digit(AT(src, nl)) || src[nl] == '_'))
            nl++;
        if (nl > REDACT_KIND_MAX || src[nl] != '=')
            nl = 0;
    }
    const char *re = nl ? src + nl + 1 : src;
    if (!*re) {
        set_err(err, errlen, "redaction pattern %zu \"%s\": empty regular expression", idx + 1, shown);
        return -1;
    }
    if (strlen(re) > REDACT_PATTERN_MAX) {
        set_err(err, errlen, "redaction pattern %zu \"%s\": longer than %d bytes", idx + 1, shown,
                REDACT_PATTERN_MAX);
        return -1;
    }
    int code = 0;
    PCRE2_SIZE eoff = 0;
    uint32_t opts = PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C | PCRE2_NO_AUTO_POSSESS | PCRE2_AUTO_CALLOUT;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, opts, &code, &eoff, cc);
    if (!c) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", code);
        set_err(err, errlen, "redaction pattern %zu \"%s\": %s at offset %zu", idx + 1, shown, (const char *)msg,
                (size_t)eoff + (nl ? nl + 1 : 0));
        return -1;
    }
    uint32_t groups = 0;
    pcre2_pattern_info(c, PCRE2_INFO_CAPTURECOUNT, &groups);
    user_pattern *p = &r->patterns[r->n_patterns++];
    p->code = c;
    p->has_group = groups > 0;
    p->kind = nl ? kind_index(r, src, nl) : kind_index(r, "custom", 6);
    return 0;
}

redactor *redactor_new(const redact_opts *o, char *err, size_t errlen)
{
    static const redact_opts none = {0, NULL, 0};
    if (!o)
        o = &none;
    if (err && errlen)
        err[0] = '\0';
    if (o->n_patterns > REDACT_MAX_PATTERNS) {
        set_err(err, errlen, "redaction: %zu patterns, at most %d allowed", o->n_patterns, REDACT_MAX_PATTERNS);
        return NULL;
    }
    redactor *r = calloc(1, sizeof *r);
    pcre2_compile_context *cc = NULL;
    int result = -1;
    if (!r)
        goto out;
    r->ip_addresses = o->ip_addresses != 0;
    r->kinds = calloc(K_BUILTIN + o->n_patterns + 1, sizeof *r->kinds);
    r->patterns = calloc(o->n_patterns ? o->n_patterns : 1, sizeof *r->patterns);
    if (!r->kinds || !r->patterns)
        goto out;
    for (size_t i = 0; i < K_BUILTIN; i++)
        kind_index(r, BUILTIN_KIND_NAMES[i], strlen(BUILTIN_KIND_NAMES[i]));
    if (o->n_patterns) {
        if (!(cc = pcre2_compile_context_create(NULL)))
            goto out;
        pcre2_set_newline(cc, PCRE2_NEWLINE_ANYCRLF);
        for (size_t i = 0; i < o->n_patterns; i++)
            if (compile_pattern(r, i, o->patterns[i], cc, err, errlen))
                goto out; /* err says which and why */
    }
    result = 0;
out:
    if (result && err && errlen && !err[0])
        set_err(err, errlen, "redaction: out of memory");
    pcre2_compile_context_free(cc);
    if (result) {
        redactor_free(r);
        return NULL;
    }
    return r;
}

void redactor_free(redactor *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_patterns; i++)
        pcre2_code_free(r->patterns[i].code);
    free(r->patterns);
    free(r->kinds);
    free(r);
}

/* ------------------------------------------------------------------------ */
/* Session. */

redact_session *redact_session_new(void)
{
    return calloc(1, sizeof(redact_session));
}

void redact_session_free(redact_session *s)
{
    if (!s)
        return;
    free(s->kinds);
    free(s->table);
    free(s);
}

/* Index of kind name in s, added when new; -1 when out of memory. */
static long session_kind(redact_session *s, const char *name)
{
    for (size_t i = 0; i < s->n_kinds; i++)
        if (strcmp(s->kinds[i].name, name) == 0)
            return (long)i;
    if (s->n_kinds == s->cap_kinds) {
        size_t cap = s->cap_kinds ? s->cap_kinds * 2 : 8;
        sess_kind *k = realloc(s->kinds, cap * sizeof *k);
        if (!k)
            return -1;
        s->kinds = k;
        s->cap_kinds = cap;
    }
    sess_kind *k = &s->kinds[s->n_kinds];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    return (long)s->n_kinds++;
}

/* The identity of a value: two 64-bit hashes (FNV-1a and a multiply-xorshift)
 * and the length. A card's spaces and dashes are left out, so one number
 * written two ways is one value. */
typedef struct value_key {
    uint64_t h1, h2;
    size_t len;
} value_key;

static value_key value_key_of(const char *p, size_t n, int card)
{
    uint64_t a = 0xcbf29ce484222325ULL, b = 0x9e3779b97f4a7c15ULL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = AT(p, i);
        if (card && (c == ' ' || c == '-'))
            continue;
        a = (a ^ c) * 0x100000001b3ULL;
        b = (b ^ c) * 0xff51afd7ed558ccdULL;
        b ^= b >> 32;
        len++;
    }
    b ^= (uint64_t)len;
    b ^= b >> 29;
    b *= 0xc4ceb9fe1a85ec53ULL;
    b ^= b >> 32;
    return (value_key){a, b, len};
}

static int session_grow(redact_session *s)
{
    size_t cap = s->cap ? s->cap * 2 : 256;
    sess_entry *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        sess_entry *e = &s->table[i];
        if (!e->number)
            continue;
        size_t h = (size_t)(e->h1 ^ e->kind) & (cap - 1);
        while (t[h].number)
            h = (h + 1) & (cap - 1);
        t[h] = *e;
    }
    free(s->table);
    s->table = t;
    s->cap = cap;
    return 0;
}

/* Slot of value v of session kind k: its entry, or the empty slot where it goes. */
static sess_entry *session_slot(const redact_session *s, size_t k, const value_key *v)
{
    size_t h = (size_t)(v->h1 ^ k) & (s->cap - 1);
    for (; s->table[h].number; h = (h + 1) & (s->cap - 1)) {
        sess_entry *e = &s->table[h];
        if (e->h1 == v->h1 && e->h2 == v->h2 && e->len == v->len && e->kind == k)
            break;
    }
    return &s->table[h];
}

/* The placeholder number of value v of session kind k (counted); 0 when out of memory. */
static uint32_t session_number(redact_session *s, size_t k, const value_key *v)
{
    sess_kind *kind = &s->kinds[k];
    if (s->used < REDACT_SESSION_MAX_VALUES && (s->used + 1) * 2 > s->cap && session_grow(s))
        return 0;
    kind->count++;
    sess_entry *e = session_slot(s, k, v);
    if (e->number)
        return e->number;
    uint32_t num = kind->next < UINT32_MAX ? ++kind->next : UINT32_MAX;
    if (s->used < REDACT_SESSION_MAX_VALUES) { /* when full: numbered, not remembered */
        *e = (sess_entry){v->h1, v->h2, v->len, (uint32_t)k, num};
        s->used++;
    }
    return num;
}

json_t *redact_session_counts(const redact_session *s)
{
    json_t *o = json_object();
    if (!o || !s)
        return o;
    for (size_t i = 0; i < s->n_kinds; i++) {
        if (!s->kinds[i].count)
            continue;
        if (json_object_set_new(o, s->kinds[i].name, json_integer((json_int_t)s->kinds[i].count))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* ------------------------------------------------------------------------ */
/* Redaction. */

typedef struct outbuf {
    char *p;
    size_t len, cap;
} outbuf;

/* Appends n bytes, keeping room for the NUL; -1 when out of memory. The
 * caller checked that the worst case (37 bytes per input byte) fits a size_t. */
static int out_put(outbuf *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 64;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p)
            return -1;
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    return 0;
}

/* Writes the placeholder of value t[a, b) of redactor kind rk. */
static int emit_piece(const redactor *r, redact_session *s, long *kmap, unsigned rk, const char *t, size_t a,
                      size_t b, outbuf *o)
{
    if (kmap[rk] < 0 && (kmap[rk] = session_kind(s, r->kinds[rk])) < 0)
        return -1;
    value_key v = value_key_of(t + a, b - a, rk == K_CARD);
    uint32_t num = session_number(s, (size_t)kmap[rk], &v);
    if (!num)
        return -1;
    char ph[REDACT_PLACEHOLDER_MAX + 1];
    int k = snprintf(ph, sizeof ph, "<%s:%" PRIu32 ">", r->kinds[rk], num);
    assert(k > 0 && (size_t)k < sizeof ph);
    return out_put(o, ph, (size_t)k);
}

char *redact_text(const redactor *r, redact_session *s, const char *text, size_t len, size_t *out_len)
{
    assert(r != NULL && s != NULL && (text != NULL || len == 0));
    static const char empty[1] = "";
    if (!text)
        text = empty;
    span_list sp = {0}, prot = {0};
    outbuf o = {NULL, 0, 0};
    long *kmap = NULL;
    char *masked = NULL;
    int result = -1;

    if (len > (SIZE_MAX - 1) / REDACT_PLACEHOLDER_MAX / 2)
        goto out; /* the worst-case output (and its doubling) must fit a size_t */
    kmap = malloc(r->n_kinds * sizeof *kmap);
    if (!kmap)
        goto out;
    for (size_t i = 0; i < r->n_kinds; i++)
        kmap[i] = -1;

    /* Built-in detectors see each placeholder as an inert run of '#': not a
     * key, not part of a value's first character, not an address; a value
     * that runs into one still runs through it. */
    const char *scan = text;
    scan_placeholders(text, len, &prot);
    if (prot.n) {
        if (!(masked = malloc(len)))
            goto out;
        memcpy(masked, text, len);
        for (size_t i = 0; i < prot.n; i++)
            memset(masked + prot.v[i].start, '#', prot.v[i].end - prot.v[i].start);
        scan = masked;
    }
    scan_private_keys(scan, len, &sp);
    scan_jwt(scan, len, &sp);
    scan_aws(scan, len, &sp);
    scan_key_values(scan, len, &sp);
    scan_bearer(scan, len, &sp);
    scan_url_userinfo(scan, len, &sp);
    scan_cards(scan, len, &sp);
    scan_emails(scan, len, &sp);
    if (r->ip_addresses) {
        scan_ipv4(scan, len, &sp);
        scan_ipv6(scan, len, &sp);
    }
    if (r->n_patterns && scan_patterns(r, text, len, &sp))
        goto out;
    if (sp.oom || prot.oom)
        goto out;
    if (sp.n > 1)
        qsort(sp.v, sp.n, sizeof *sp.v, span_cmp);

    /* room for the text and a few placeholders; grows when there are many */
    o.cap = len + 1 + (sp.n < 64 ? sp.n : 64) * REDACT_PLACEHOLDER_MAX;
    if (!(o.p = malloc(o.cap)))
        goto out;
    size_t pos = 0, pi = 0;
    for (size_t i = 0; i < sp.n;) {
        size_t cs = sp.v[i].start, ce = sp.v[i].end;
        unsigned kind = sp.v[i].kind, prio = sp.v[i].prio;
        for (i++; i < sp.n && sp.v[i].start < ce; i++) {
            if (sp.v[i].end > ce)
                ce = sp.v[i].end;
            if (sp.v[i].prio < prio) {
                prio = sp.v[i].prio;
                kind = sp.v[i].kind;
            }
        }
        if (cs < pos) /* cannot happen: clusters are disjoint and ordered */
            cs = pos;
        for (size_t a = cs; a < ce;) {
            while (pi < prot.n && prot.v[pi].end <= a)
                pi++;
            if (pi < prot.n && prot.v[pi].start <= a) {
                a = prot.v[pi].end;
                continue;
            }
            size_t b = (pi < prot.n && prot.v[pi].start < ce) ? prot.v[pi].start : ce;
            if (out_put(&o, text + pos, a - pos) || emit_piece(r, s, kmap, kind, text, a, b, &o))
                goto out;
            pos = a = b;
        }
    }
    if (out_put(&o, text + pos, len - pos))
        goto out;
    o.p[o.len] = '\0';
    if (o.cap > o.len + 1 + 4096) {
        char *shrunk = realloc(o.p, o.len + 1);
        if (shrunk)
            o.p = shrunk;
    }
    result = 0;
out:
    free(sp.v);
    free(prot.v);
    free(kmap);
    free(masked);
    if (result) {
        free(o.p);
        return NULL;
    }
    if (out_len)
        *out_len = o.len;
    return o.p;
}
