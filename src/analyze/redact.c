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
 * value running into one runs through it). Each detector (redact_scan.c) is a hand-written
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
#include "anomalog/strbuf.h"
#include "anomalog/utf8.h"
#include "analyze/redact_int.h"

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

#define REDACT_SESSION_MAX_VALUES ((size_t)1 << 18)
#define REDACT_PCRE_WORK_FIXED 200000u
#define REDACT_PCRE_WORK_PER_BYTE 256u
#define REDACT_PCRE_MATCH_LIMIT 1000000u
#define REDACT_PCRE_DEPTH_LIMIT 20000u
#define REDACT_PCRE_HEAP_LIMIT_KIB 8192u
#define REDACT_PLACEHOLDER_MAX (REDACT_KIND_MAX + 13) /* '<' kind ':' 10 digits '>' */
#define REDACT_ERR_SNIPPET 60

static const char *const BUILTIN_KIND_NAMES[K_BUILTIN] = {
    [K_SECRET] = "secret", [K_JWT] = "jwt",   [K_AWS_KEY] = "aws_key", [K_PRIVATE_KEY] = "private_key",
    [K_CARD] = "card",     [K_EMAIL] = "email", [K_IP] = "ip",
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
            redact_spans_add(out, i, i + k, 0, 0);
            i += k - 1;
        }
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
            redact_spans_add(out, fs + off, le, p->kind, prio);
            return 1;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1], rs = ms, re = me;
        if (p->has_group && rc > 1 && ov[2] != PCRE2_UNSET && ov[3] != PCRE2_UNSET && ov[3] > ov[2]) {
            rs = ov[2];
            re = ov[3];
        }
        if (re > rs && re <= sl)
            redact_spans_add(out, fs + rs, fs + re, p->kind, prio);
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

/* Writes the placeholder of value t[a, b) of redactor kind rk. */
static int emit_piece(const redactor *r, redact_session *s, long *kmap, unsigned rk, const char *t, size_t a,
                      size_t b, strbuf *o)
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
    return strbuf_add(o, ph, (size_t)k) == STRBUF_OK ? 0 : -1;
}

char *redact_text(const redactor *r, redact_session *s, const char *text, size_t len, size_t *out_len)
{
    assert(r != NULL && s != NULL && (text != NULL || len == 0));
    static const char empty[1] = "";
    if (!text)
        text = empty;
    span_list sp = {0}, prot = {0};
    strbuf o = STRBUF_INIT(STRBUF_UNBOUNDED);
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
    redact_scan_builtin(scan, len, r->ip_addresses, &sp);
    if (r->n_patterns && scan_patterns(r, text, len, &sp))
        goto out;
    if (sp.oom || prot.oom)
        goto out;
    if (sp.n > 1)
        qsort(sp.v, sp.n, sizeof *sp.v, span_cmp);

    /* room for the text and a few placeholders; grows when there are many */
    if (strbuf_reserve(&o, len + (sp.n < 64 ? sp.n : 64) * REDACT_PLACEHOLDER_MAX) != STRBUF_OK)
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
            if (strbuf_add(&o, text + pos, a - pos) != STRBUF_OK || emit_piece(r, s, kmap, kind, text, a, b, &o))
                goto out;
            pos = a = b;
        }
    }
    if (strbuf_add(&o, text + pos, len - pos) != STRBUF_OK)
        goto out;
    result = 0;
out:
    free(sp.v);
    free(prot.v);
    free(kmap);
    free(masked);
    if (result) {
        strbuf_free(&o);
        return NULL;
    }
    if (out_len)
        *out_len = o.len;
    size_t olen = o.len, spare = o.cap - o.len;
    char *p = strbuf_steal(&o), *shrunk;
    if (spare > 1 + 4096 && (shrunk = realloc(p, olen + 1)) != NULL)
        p = shrunk;
    return p;
}
