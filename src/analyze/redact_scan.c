/*
 * redact_scan.c — the built-in detectors of redaction (redact.h lists the
 * forms): private keys, JWTs, AWS keys, key=value secrets, bearer tokens,
 * passwords in URLs, card numbers (Luhn), email addresses, and on request
 * IPv4 and IPv6 addresses. Each is a hand-written single pass, no regex,
 * whose lookaround is bounded by a small constant or skipped over
 * afterwards, so each costs linear time on any input; each appends spans
 * [start, end) with its kind for redact.c to merge and replace.
 *
 * Threads: pure functions of the text; any number at once. Limits: keys of
 * at most REDACT_KEY_MAX bytes; email local parts at most 64 bytes and
 * domains 255.
 */
#include "analyze/redact_int.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Lower wins when spans overlap; extra pattern i has priority K_BUILTIN + i. */
static const unsigned BUILTIN_PRIO[K_BUILTIN] = {
    [K_PRIVATE_KEY] = 0, [K_JWT] = 1, [K_AWS_KEY] = 2, [K_SECRET] = 3, [K_CARD] = 4, [K_EMAIL] = 5, [K_IP] = 6,
};

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

void redact_spans_add(span_list *l, size_t start, size_t end, unsigned kind, unsigned prio)
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
    redact_spans_add(l, start, end, kind, BUILTIN_PRIO[kind]);
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
    size_t past = skip_blanks(t, n, j);
    int space_before = past > j, space_after;
    char sep;
    j = past;
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
    past = skip_blanks(t, n, j);
    space_after = past > j;
    j = past;
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
        j = skip_blanks(t, n, j);
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

void redact_scan_builtin(const char *t, size_t n, int ip_addresses, span_list *out)
{
    scan_private_keys(t, n, out);
    scan_jwt(t, n, out);
    scan_aws(t, n, out);
    scan_key_values(t, n, out);
    scan_bearer(t, n, out);
    scan_url_userinfo(t, n, out);
    scan_cards(t, n, out);
    scan_emails(t, n, out);
    if (ip_addresses) {
        scan_ipv4(t, n, out);
        scan_ipv6(t, n, out);
    }
}
