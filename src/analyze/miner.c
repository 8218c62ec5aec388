/*
 * miner.c — log template mining: a fixed-depth prefix tree over masked tokens
 * with a similarity threshold (after Drain, He et al., ICWS 2017), our own
 * implementation with generic, shape-only masking.
 *
 * Purpose: miner_add() turns one message into a template id. The message is
 * tokenised once into a scratch buffer owned by the miner (no allocation per
 * line): each whitespace-separated token is split into leading brackets, a
 * core and trailing punctuation, and inside the core the variable parts are
 * replaced by placeholders, by shape only — no rule names a product's words:
 *   - numbers, signed or with a comparator (`-127`, `<1`, `2.65`, `1.5e3`),
 *     also as delimited runs inside names (`blk_-695…`, `rdd_42_8`,
 *     `slave-07`) and with a glued unit (`160ms`, `64KB`, `100%`) -> <NUM>;
 *     digits glued to letters otherwise stay (`ssh2`, `SOCKS5`, `log4j`);
 *   - 0x-hex, and hex runs of 7+ characters with a digit and a letter -> <HEX>;
 *     UUIDs -> <UUID>; IPv4, IPv6 -> <IP>; MAC addresses -> <HEX>;
 *   - ISO dates and times, clock times and durations, and other runs of
 *     numbers joined by `:`, `-` or `/` (`17:41:44,747`, `04:50`,
 *     `2015-10-18`, `17/06/09`) -> <TS>; `<IP>:<NUM>` stays as it is;
 *   - the value of key=value, whatever its shape (`user=root` -> `user=<*>`);
 *   - quoted strings, also spanning spaces (`'x'`, `"a b"`) -> "<*>";
 *   - host names: dotted labels ending in a domain of DNS (`edge-7.cdn.
 *     example.org`, `db.corp.local`, with or without digits) -> <*>; not a
 *     class or file name (`org.apache.Foo`, `app.js`), not an e-mail's domain;
 *   - names of hyphen-joined parts, three or more or ending in one character
 *     (`db-primary-c`, `web-b`), are values: they route like one.
 * Then six rules over the token sequence, again about shapes only:
 *   - a date written out in words (`Mon Dec 05 19:14:11 2026`, `Tue, 06 Dec
 *     2026 10:00:00 GMT`, `5 December 2026 10:00`): a run of capitalised day
 *     or month names, numbers, times and a zone -> one `<TS>` token;
 *   - a run of key=value tokens that ends a message after two or more other
 *     tokens is one token `<*>=<*>` (optional trailing fields), and a message
 *     without one joins a template that has one (or gives one to the template
 *     of its words, which keeps its id);
 *   - a number followed by a measurement unit (`5 ms`, `1.2 KB`, `2717
 *     bytes`) is one token, `<NUM> KB`;
 *   - a parenthesised value right after a value restates it (`2717 bytes
 *     (2.65 KB)`) and joins it, so an optional restatement does not change
 *     the token count;
 *   - a list of values (`[1,` `2,` `3]`) is one value (`[<NUM>]`);
 *   - a run of identical masked tokens (`blk_1 blk_2 …`) is one token.
 * Placeholder texts in the input (`<NUM>`, `<*>`, …) are read as
 * placeholders, so the masking is idempotent: a template's text, tokenised
 * again in template mode (split at spaces only; no restatement, list or run
 * rules), gives the template's own tokens back. miner_restore() relies on
 * that, and fuzz_miner checks it.
 *
 * The tree: level 0 is the token count, then one level per token for the
 * first depth-2 tokens, keyed by the token's hash. A token with a placeholder
 * or a digit, or wrapped in brackets (`(alice)`, `[geo]`: a tag or a value),
 * goes to the node's `<*>` child, and so does a new token once a node has
 * max_children children. A leaf holds templates of equal length, in creation
 * order. At the last level the token's own leaf and the `<*>` leaf are
 * searched. A template takes a message exactly when every template token
 * equals the message's (same text, or the same skeleton: placeholders of any
 * type alike) or is `<*>`; the first such template, oldest first, wins.
 * Otherwise the template with the most equal tokens that carry a letter or
 * digit outside placeholders takes it if those are more than
 * opts.similarity of all its tokens (a strict majority by default), and
 * generalises: differing positions become `<*>`, a placeholder whose type
 * differs becomes `<*>` in place. Its id does not change. Tokens compare by
 * 64-bit hash first, bytes only when the hashes agree.
 *
 * Event words: where a template holds a plain word and a message another
 * literal word (`VM Started` / `VM Paused`), the message starts a template of
 * its own, a sibling, unless the position has EVENT_WORDS_MAX siblings already
 * or one of them was seen once while they grew past EVENT_FAMILY_MATURE lines
 * (a value, not an event's name): then the message joins the template, which
 * generalises and absorbs its siblings: their counts join it, their ids
 * become aliases of its id (miner_resolve()), they leave the store. A masked
 * value (a number, an id) at such a position also makes it a value.
 *
 * Known limit, by design: the first depth-2 tokens are taken as the event's
 * signature (Drain's prior) — it is what keeps `Failed password …` apart from
 * `Failed none …` and `Accepted …` apart from `Failed …` in real logs — so a
 * plain word that varies there (`alice logged in`, `ALERT denied: …`) splits
 * its template by value. Bracketed, numeric and masked tokens do not.
 *
 * Threads: none inside; a miner is used by one thread at a time.
 *
 * Invariants: every live template is in the id map, in the LRU list and in
 * exactly one leaf; a tree node exists only while it has a template or a
 * child below it; ids are assigned increasing from next_id and never reused;
 * a template's tokens and text agree (text = token texts joined by spaces);
 * an operation that runs out of memory changes nothing (absorbing siblings
 * may stop part way: those absorbed stay absorbed, the rest stay live; the
 * store is consistent either way).
 *
 * Aliases: at most max_templates are kept; past that the map starts again
 * empty (an alias is wanted by the window being mined, soon after it is made).
 *
 * Limits: max_bytes of a message (cut at a UTF-8 boundary), max_tokens
 * tokens (the rest joins the last, which becomes <*>), max_templates live
 * templates (the least recently seen is evicted), max_children children per
 * node, quoted strings of at most QUOTE_MAX bytes. A masked token is at most
 * 5 times its raw bytes (a 1-byte number becomes `<NUM>`), so the scratch
 * buffer is sized 6 * max_bytes + 64 and a template text stays under
 * 5 * max_bytes + max_tokens bytes; miner_restore() refuses a text that
 * would not fit the scratch buffer.
 */
#include "anomalog/miner.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define QUOTE_MAX 512
#define HEX_RUN_MIN 7
#define EVENT_WORDS_MAX 6 /* distinct plain words kept apart at one position; one more, and they merge */
#define SIBLINGS_MAX 64   /* templates merged at once when they do */
#define EVENT_FAMILY_MATURE 50 /* lines of such templates after which a word seen once is a value */

/* ---- placeholders --------------------------------------------------------- */

typedef enum ph_kind { PH_NONE = 0, PH_NUM, PH_HEX, PH_UUID, PH_IP, PH_TS, PH_ANY } ph_kind;

static const struct {
    const char *s;
    size_t n;
} PH_TEXT[] = {
    [PH_NONE] = {"", 0},          [PH_NUM] = {"<NUM>", 5}, [PH_HEX] = {"<HEX>", 5}, [PH_UUID] = {"<UUID>", 6},
    [PH_IP] = {"<IP>", 4},        [PH_TS] = {"<TS>", 4},   [PH_ANY] = {"<*>", 3},
};
_Static_assert(sizeof PH_TEXT / sizeof PH_TEXT[0] == PH_ANY + 1, "one text per placeholder kind");

/* If s (n bytes left) starts with a placeholder text, returns its kind. */
static ph_kind ph_at(const char *s, size_t n)
{
    if (n < 3 || s[0] != '<')
        return PH_NONE;
    ph_kind k;
    switch (s[1]) {
    case 'N': k = PH_NUM; break;
    case 'H': k = PH_HEX; break;
    case 'U': k = PH_UUID; break;
    case 'I': k = PH_IP; break;
    case 'T': k = PH_TS; break;
    case '*': k = PH_ANY; break;
    default: return PH_NONE;
    }
    return n >= PH_TEXT[k].n && memcmp(s, PH_TEXT[k].s, PH_TEXT[k].n) == 0 ? k : PH_NONE;
}

/* The skeleton of a masked token is its text with every placeholder read as
 * the same one, so `/static/<HEX>.js` and `/static/<NUM>.js` are alike: a
 * value's type does not split a template. */
static uint64_t skel_hash(const char *s, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        ph_kind k = c == '<' ? ph_at(s + i, n - i) : PH_NONE;
        if (k != PH_NONE) {
            c = 0x01;
            i += PH_TEXT[k].n;
        } else {
            i++;
        }
        h = (h ^ c) * UINT64_C(0x100000001b3);
    }
    return h ^ (h >> 29);
}

static bool skel_equal(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, j = 0;
    while (i < an && j < bn) {
        ph_kind ka = a[i] == '<' ? ph_at(a + i, an - i) : PH_NONE;
        ph_kind kb = b[j] == '<' ? ph_at(b + j, bn - j) : PH_NONE;
        if (ka != PH_NONE && kb != PH_NONE) {
            i += PH_TEXT[ka].n;
            j += PH_TEXT[kb].n;
            continue;
        }
        if (ka != PH_NONE || kb != PH_NONE || a[i] != b[j])
            return false;
        i++;
        j++;
    }
    return i == an && j == bn;
}

/* ---- character classes ---------------------------------------------------- */

/* One table lookup per byte on the hot path. Bytes >= 0x80 (UTF-8 and
 * anything else) count as letters; controls, NUL and space separate tokens. */
enum { C_SPACE = 1, C_DIGIT = 2, C_ALPHA = 4, C_HEX = 8, C_TRAIL = 16 };
static const unsigned char CT[256] = {
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1, 16,  0,  0,  0,  0,  0,  0,  0, 16,  0,  0, 16,  0, 16,  0,
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 16, 16,  0,  0, 16, 16,
     0, 12, 12, 12, 12, 12, 12,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  0,  0, 16,  0,  0,
     0, 12, 12, 12, 12, 12, 12,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  0,  0, 16,  0,  1,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
};

static inline bool is_space(unsigned char c)
{
    return CT[c] & C_SPACE;
}
static inline bool is_digit(unsigned char c)
{
    return CT[c] & C_DIGIT;
}
static inline bool is_alpha(unsigned char c)
{
    return CT[c] & C_ALPHA;
}
static inline bool is_alnum(unsigned char c)
{
    return CT[c] & (C_DIGIT | C_ALPHA);
}
static inline bool is_hex(unsigned char c)
{
    return CT[c] & C_HEX;
}
/* Trailing punctuation: ) ] } , ; : . ! ? > */
static inline bool is_trail_punct(unsigned char c)
{
    return CT[c] & C_TRAIL;
}
static inline char lower(unsigned char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* ---- hashing -------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * UINT64_C(0x100000001b3);
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)(unsigned char)s[i] << (8 * i);
    h = (h ^ w) * UINT64_C(0x100000001b3);
    return mix64(h);
}

/* ---- measurement units ---------------------------------------------------- */

/* Units of size, time, rate and frequency: vocabulary of measurement, the
 * same in every product's logs. Compared case-insensitively; a unit of one
 * letter only as written here (`5 B`, `3 s`), since one letter alone is
 * ambiguous in either case. */
static const char *const UNITS[] = {
    "kb",   "mb",   "gb",     "tb",      "pb",  "kib",  "mib",    "gib",     "tib", "byte", "bytes",
    "bit",  "bits", "kbps",   "mbps",    "gbps", "ns",  "us",     "\xc2\xb5s", "ms", "sec", "secs",
    "second", "seconds", "min", "mins", "minute", "minutes", "hr", "hrs", "hour", "hours", "day", "days",
    "hz",   "khz",  "mhz",    "ghz",
};
static const char *const UNIT_LETTERS = "Bsh%";
/* Letters accepted glued to digits on top of UNITS, in either case (`64K`, `5m`, `10s`, `3d`). */
static const char *const UNIT_SUFFIXES[] = {"k", "m", "g", "t", "b", "s", "h", "d"};

static bool in_list(const char *const *list, size_t nlist, const char *s, size_t n)
{
    if (n == 0 || n > 8)
        return false;
    for (size_t i = 0; i < nlist; i++) {
        const char *u = list[i];
        size_t j = 0;
        while (j < n && u[j] && lower((unsigned char)s[j]) == u[j])
            j++;
        if (j == n && u[j] == '\0')
            return true;
    }
    return false;
}

static bool is_unit(const char *s, size_t n)
{
    if (n == 1)
        return strchr(UNIT_LETTERS, s[0]) != NULL && s[0] != '\0';
    return in_list(UNITS, sizeof UNITS / sizeof UNITS[0], s, n);
}

static bool is_unit_suffix(const char *s, size_t n)
{
    return is_unit(s, n) || in_list(UNIT_SUFFIXES, sizeof UNIT_SUFFIXES / sizeof UNIT_SUFFIXES[0], s, n);
}

/* ---- the masking of one token --------------------------------------------- */

/* Output of masking: bytes appended to the scratch buffer. A message cannot
 * fill it (it is sized for 5 bytes out per byte in); a template text given to
 * miner_restore() can, which then fails. */
typedef struct obuf {
    char *p;
    size_t len, cap;
    bool full; /* an append did not fit: the output is incomplete */
} obuf;

static inline void out_bytes(obuf *o, const char *s, size_t n)
{
    if (n > o->cap - o->len) {
        o->full = true;
        return;
    }
    if (n == 1)
        o->p[o->len] = s[0];
    else
        memcpy(o->p + o->len, s, n);
    o->len += n;
}
static inline void out_ph(obuf *o, ph_kind k)
{
    out_bytes(o, PH_TEXT[k].s, PH_TEXT[k].n);
}

/* What masking found out about a token. */
typedef struct tokinfo {
    bool var;      /* holds a placeholder */
    bool weight;   /* a letter or digit outside placeholders: counts toward similarity */
    bool field;    /* a digit anywhere, or the token is bracketed (`(alice)`,
                    * `[geo]`): a value or tag, not the event's word, so it
                    * routes to the tree's <*> branch */
    bool pure;     /* core is a single placeholder (no literal), e.g. `<NUM>`, `<IP>` */
    ph_kind kind;  /* that placeholder, when pure */
    bool kv;       /* key=value */
    bool lead;     /* leading punctuation was split off */
    bool trail;    /* trailing punctuation was split off */
} tokinfo;

static size_t digits_at(const char *s, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && is_digit((unsigned char)s[j]))
        j++;
    return j - i;
}

static size_t hex_at(const char *s, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && is_hex((unsigned char)s[j]))
        j++;
    return j - i;
}

/* The alphanumeric run at i ends at j: is it delimited there? A placeholder
 * stands for an alphanumeric run, so it does not delimit: `e1:db8::<HEX>` is
 * read as `e1:db8::1a2b3c4d5e` was, which keeps the masking idempotent. */
static inline bool ends_run(const char *s, size_t n, size_t j)
{
    return j >= n || (!is_alnum((unsigned char)s[j]) && !(s[j] == '<' && ph_at(s + j, n - j) != PH_NONE));
}

/* UUID 8-4-4-4-12 at i; returns its length or 0. */
static size_t uuid_at(const char *s, size_t n, size_t i)
{
    static const size_t groups[] = {8, 4, 4, 4, 12};
    size_t j = i;
    for (size_t g = 0; g < 5; g++) {
        if (g) {
            if (j >= n || s[j] != '-')
                return 0;
            j++;
        }
        if (hex_at(s, n, j) != groups[g])
            return 0;
        j += groups[g];
    }
    return ends_run(s, n, j) ? j - i : 0;
}

/* IPv4 a.b.c.d at i; returns its length or 0. */
static size_t ipv4_at(const char *s, size_t n, size_t i)
{
    size_t j = i;
    for (int g = 0; g < 4; g++) {
        if (g) {
            if (j >= n || s[j] != '.')
                return 0;
            j++;
        }
        size_t d = digits_at(s, n, j);
        if (d == 0 || d > 3)
            return 0;
        j += d;
    }
    if (!ends_run(s, n, j))
        return 0;
    if (j + 1 < n && s[j] == '.' && is_digit((unsigned char)s[j + 1]))
        return 0; /* a.b.c.d.e is not an address */
    return j - i;
}

/* IPv6 (groups of 1-4 hex digits separated by ':', with "::" or exactly 7
 * colons) or a MAC address (6 groups of 2 hex digits, ':' or '-'), at i.
 * Sets *kind. Returns the length or 0. */
static size_t ipv6_mac_at(const char *s, size_t n, size_t i, ph_kind *kind)
{
    /* MAC */
    size_t j = i;
    int g;
    for (g = 0; g < 6; g++) {
        if (g) {
            if (j >= n || (s[j] != ':' && s[j] != '-') || s[j] != s[i + 2])
                break;
            j++;
        }
        if (hex_at(s, n, j) != 2)
            break;
        j += 2;
    }
    if (g == 6 && ends_run(s, n, j)) {
        *kind = PH_HEX;
        return j - i;
    }
    /* IPv6 */
    j = i;
    int colons = 0, groups = 0;
    bool dbl = false, digit = false;
    while (j < n) {
        size_t h = hex_at(s, n, j);
        if (h > 4)
            return 0;
        for (size_t k = j; k < j + h; k++)
            digit |= is_digit((unsigned char)s[k]);
        groups += h > 0;
        if (groups > 8 || colons > 8)
            return 0; /* longer than any address: stop (and keep the scan bounded) */
        j += h;
        if (j < n && s[j] == ':') {
            if (j + 1 < n && s[j + 1] == ':') {
                if (dbl)
                    return 0;
                dbl = true;
                colons += 2;
                j += 2;
                continue;
            }
            if (h == 0 && !(j == i))
                return 0;
            colons++;
            j++;
            continue;
        }
        break;
    }
    if (!ends_run(s, n, j) || !digit || groups < 2)
        return 0;
    if (s[j - 1] == ':' && !(j >= 2 && s[j - 2] == ':'))
        return 0; /* trailing single colon: "a:b:" is not an address */
    if (!(dbl ? colons >= 3 : colons == 7))
        return 0;
    *kind = PH_IP;
    return j - i;
}

/* ISO date-time at i: YYYY-MM-DD[T ]hh:mm[:ss[.,frac]][Z|±hh[:]mm] or the date
 * alone, whole up to the end of the run. Returns the length or 0. */
static size_t iso_at(const char *s, size_t n, size_t i)
{
    size_t j = i;
    if (digits_at(s, n, j) != 4 || j + 10 > n || s[j + 4] != '-' || digits_at(s, n, j + 5) != 2 ||
        s[j + 7] != '-' || digits_at(s, n, j + 8) != 2)
        return 0;
    j += 10;
    if (j < n && (s[j] == 'T' || s[j] == 't') && digits_at(s, n, j + 1) == 2 && j + 3 < n && s[j + 3] == ':') {
        j += 3;
        while (j < n && s[j] == ':' && digits_at(s, n, j + 1) == 2)
            j += 3;
        if (j < n && (s[j] == '.' || s[j] == ',') && digits_at(s, n, j + 1) > 0)
            j += 1 + digits_at(s, n, j + 1);
        if (j < n && (s[j] == 'Z' || s[j] == 'z'))
            j++;
        else if (j < n && (s[j] == '+' || s[j] == '-') && digits_at(s, n, j + 1) == 2) {
            j += 3;
            if (j < n && s[j] == ':' && digits_at(s, n, j + 1) == 2)
                j += 3;
            else if (digits_at(s, n, j) == 2)
                j += 2;
        }
    }
    return ends_run(s, n, j) ? j - i : 0;
}

/* The end of the number whose digits start at i: digits, an optional
 * fraction, an optional exponent (`1.5e-3`). */
static size_t number_end(const char *s, size_t n, size_t i)
{
    size_t j = i + digits_at(s, n, i);
    if (j + 1 < n && s[j] == '.' && is_digit((unsigned char)s[j + 1]))
        j += 1 + digits_at(s, n, j + 1);
    if (j + 1 < n && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < n && (s[k] == '+' || s[k] == '-'))
            k++;
        if (k < n && is_digit((unsigned char)s[k])) {
            k += digits_at(s, n, k);
            if (ends_run(s, n, k))
                j = k;
        }
    }
    return j;
}

/* After a number ending at j, where the run goes on: a glued unit (`ms`,
 * `KB`) that ends the run. Returns the end of the unit, or (size_t)-1. (`%`
 * needs nothing: it ends the run and stays a literal after <NUM>.) */
static size_t glued_unit(const char *s, size_t n, size_t j)
{
    size_t a = j;
    while (a < n && is_alpha((unsigned char)s[a]) && (unsigned char)s[a] < 0x80)
        a++;
    if (a > j && ends_run(s, n, a) && is_unit_suffix(s + j, a - j))
        return a;
    return (size_t)-1;
}

/* A number whose digits start at i: returns the end of its digits (with
 * fraction and exponent when they end the run or take a unit, else without)
 * in *num_end and the end of its glued unit (== *num_end without one); or
 * (size_t)-1 when the run is no number (`2kSOSP`, `1st`). */
static size_t number_at(const char *s, size_t n, size_t i, size_t *num_end)
{
    size_t j = number_end(s, n, i);
    size_t u = ends_run(s, n, j) ? j : glued_unit(s, n, j);
    size_t d = i + digits_at(s, n, i);
    if (u == (size_t)-1 && j > d) {
        /* `31.1a2b…`: the fraction was the start of another field */
        j = d;
        u = ends_run(s, n, j) ? j : glued_unit(s, n, j);
    }
    *num_end = j;
    return u;
}

/* Top-level and private domains that end a host name: the vocabulary of DNS,
 * the same in every product's logs (compared case-insensitively). A dotted
 * name ending in one of these is a host (`edge-7.cdn.example.org`,
 * `db.corp.local`); a class or file name (`org.apache.Foo`, `app.js`) is not. */
static const char *const TLDS[] = {
    "com", "net", "org", "io", "edu", "gov", "mil", "int", "info", "biz", "local", "internal", "lan", "localdomain",
    "arpa", "cloud", "co", "uk", "de", "fr", "nl", "eu", "us", "ca", "jp", "cn", "ru", "au", "ch", "se", "it", "es",
};

static inline bool is_name_char(unsigned char c)
{
    return is_alnum(c) || c == '.' || c == '-' || c == '_';
}

/* A host name at i (the start of a name): two or more labels of letters,
 * digits and inner hyphens joined by dots, the last a domain of TLDS, and
 * nothing of a name right after it. Returns its length or 0. */
static size_t hostname_at(const char *s, size_t n, size_t i)
{
    size_t j = i, labels = 0, last = i;
    for (;;) {
        size_t a = j;
        while (j < n && (is_alnum((unsigned char)s[j]) || s[j] == '-'))
            j++;
        if (j == a || s[a] == '-' || s[j - 1] == '-' || j - a > 63)
            return 0;
        labels++;
        last = a;
        if (j + 1 < n && s[j] == '.' && is_alnum((unsigned char)s[j + 1])) {
            j++;
            continue;
        }
        break;
    }
    if (labels < 2 || (j < n && (is_name_char((unsigned char)s[j]) && s[j] != '.')))
        return 0;
    for (size_t k = last; k < j; k++)
        if (!is_alpha((unsigned char)s[k]))
            return 0;
    return in_list(TLDS, sizeof TLDS / sizeof TLDS[0], s + last, j - last) ? j - i : 0;
}

/*
 * Masks the core s[0..n) into o: placeholders for variable runs, literal bytes
 * otherwise. Sets var/weight/field in ti; counts placeholders in *nph and
 * records whether anything but placeholders and separators was written.
 */
static void mask_runs(const char *s, size_t n, obuf *o, tokinfo *ti, int *nph, bool *literal_alnum,
                      ph_kind *last_kind)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '<') {
            ph_kind k = ph_at(s + i, n - i);
            if (k != PH_NONE) {
                out_ph(o, k);
                i += PH_TEXT[k].n;
                ti->var = true;
                ++*nph;
                *last_kind = k;
                /* `<NUM>ms` reads back as `160ms` did: the unit stays glued
                 * (else `<NUM>d:b8::1` would start a new run, an address) */
                size_t u;
                if (k == PH_NUM && i < n && is_alpha((unsigned char)s[i]) &&
                    (u = glued_unit(s, n, i)) != (size_t)-1) {
                    out_bytes(o, s + i, u - i);
                    *literal_alnum = true;
                    i = u;
                }
                continue;
            }
        }
        if (!is_alnum(c)) {
            /* a sign glued to a number that starts a field (`blk_-42`, `=-5`),
             * or a comparator starting the core (`<1`, `>5`, `~3`) */
            bool sign = (c == '-' || c == '+') && (i == 0 || !is_alnum((unsigned char)s[i - 1]));
            bool cmp = (c == '<' || c == '>' || c == '~') && i == 0;
            if ((sign || cmp) && i + 1 < n && is_digit((unsigned char)s[i + 1])) {
                size_t j;
                size_t u = number_at(s, n, i + 1, &j);
                if (u != (size_t)-1) {
                    out_ph(o, PH_NUM);
                    if (u > j) {
                        out_bytes(o, s + j, u - j);
                        *literal_alnum = true; /* the unit is a constant word */
                    }
                    ti->var = ti->field = true;
                    ++*nph;
                    *last_kind = PH_NUM;
                    i = u;
                    continue;
                }
            }
            out_bytes(o, s + i, 1);
            i++;
            continue;
        }
        /* start of an alphanumeric run: the shapes spanning separators first
         * (they all start with a hex digit) */
        if (CT[c] & C_HEX) {
            size_t len;
            ph_kind k = PH_NONE;
            if ((len = uuid_at(s, n, i)) != 0)
                k = PH_UUID;
            else if (is_digit(c) && (len = iso_at(s, n, i)) != 0)
                k = PH_TS;
            else if (is_digit(c) && (len = ipv4_at(s, n, i)) != 0)
                k = PH_IP;
            else if ((len = ipv6_mac_at(s, n, i, &k)) != 0)
                ;
            else if (c == '0' && i + 2 < n && (s[i + 1] == 'x' || s[i + 1] == 'X') && hex_at(s, n, i + 2) > 0 &&
                     ends_run(s, n, i + 2 + hex_at(s, n, i + 2))) {
                k = PH_HEX;
                len = 2 + hex_at(s, n, i + 2);
            }
            if (k != PH_NONE) {
                out_ph(o, k);
                ti->var = ti->field = true;
                ++*nph;
                *last_kind = k;
                i += len;
                continue;
            }
        }
        if (is_digit(c)) {
            /* a number: digits, an optional fraction, an optional glued unit */
            size_t j;
            size_t u = number_at(s, n, i, &j);
            if (u != (size_t)-1) {
                out_ph(o, PH_NUM);
                if (u > j) {
                    out_bytes(o, s + j, u - j);
                    *literal_alnum = true; /* the unit is a constant word */
                }
                ti->var = ti->field = true;
                ++*nph;
                *last_kind = PH_NUM;
                i = u;
                continue;
            }
        }
        /* the run, in one pass: its length, whether all hex, with digits, letters */
        unsigned char all = 0xff, any = 0;
        size_t j = i;
        while (j < n && (CT[(unsigned char)s[j]] & (C_DIGIT | C_ALPHA))) {
            all &= CT[(unsigned char)s[j]];
            any |= CT[(unsigned char)s[j]];
            j++;
        }
        size_t run = j - i;
        /* a host name: a value, whatever its labels (with digits or not); not an e-mail address's
         * domain (the address stays whole, for redaction to see) */
        size_t hl;
        if (j < n && (s[j] == '.' || s[j] == '-') && (i == 0 || (!is_name_char((unsigned char)s[i - 1]) && s[i - 1] != '@')) &&
            (hl = hostname_at(s, n, i)) != 0) {
            out_ph(o, PH_ANY);
            ti->var = ti->field = true;
            ++*nph;
            *last_kind = PH_ANY;
            i += hl;
            continue;
        }
        /* a long hex run with both digits and letters: an id or a hash */
        bool letters = false;
        if (run >= HEX_RUN_MIN && (all & C_HEX) && (any & C_DIGIT)) {
            for (size_t k = i; k < j && !letters; k++)
                letters = !is_digit((unsigned char)s[k]);
        }
        if (letters && ends_run(s, n, j)) {
            out_ph(o, PH_HEX);
            ti->var = ti->field = true;
            ++*nph;
            *last_kind = PH_HEX;
            i = j;
            continue;
        }
        /* a word: literal */
        ti->field |= (any & C_DIGIT) != 0;
        out_bytes(o, s + i, run);
        *literal_alnum = true;
        i = j;
    }
}

/* Leading punctuation: opening brackets. ('<' stays in the core, where it is
 * a comparator before a number, `<1`, or a placeholder's start, or a
 * literal: reading it one way before masking and another after would make
 * the masking of a template differ from the message's.) */
static inline bool is_lead_punct(unsigned char c)
{
    return c == '(' || c == '[' || c == '{';
}

/* The closing quote of the quote at s[i] when only trailing punctuation
 * follows it up to whitespace or the end, within QUOTE_MAX bytes; else 0.
 * Backslash escapes a double quote. next_raw() and mask_token() both read
 * quotes through this, so a token holds whitespace only inside a quote that
 * mask_token() replaces. */
static size_t quote_close(const char *s, size_t n, size_t i)
{
    char q = s[i];
    size_t lim = n - i - 1 > QUOTE_MAX ? i + 1 + QUOTE_MAX : n;
    for (size_t j = i + 1; j < lim; j++) {
        if (q == '"' && s[j] == '\\') {
            j++;
            continue;
        }
        if (s[j] == q) {
            size_t k = j + 1;
            while (k < n && is_trail_punct((unsigned char)s[k]))
                k++;
            return k >= n || is_space((unsigned char)s[k]) ? j : 0;
        }
    }
    return 0;
}

/* A key of key=value: [A-Za-z_][A-Za-z0-9_.-]* */
static size_t key_len(const char *s, size_t n)
{
    if (n == 0 || !(is_alpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    size_t i = 1;
    while (i < n && (is_alnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
        i++;
    return i < n && s[i] == '=' ? i : 0;
}

/* Is c a separator between the parts of a compound value (`17:41:44,747`)? */
static inline bool is_value_sep(char c)
{
    return c == ':' || c == '.' || c == ',' || c == '-' || c == '/' || c == '+' || c == '_' || c == '@';
}

/* A name made of parts joined by hyphens, three or more of them or ending in
 * a single character (`db-primary-c`, `build-runner-a`, `web-b`): the shape of
 * a host, VM or pod name, a value rather than the event's word, so it routes
 * like one (a word with one hyphen, `read-only`, stays a word). */
static bool compound_name(const char *s, size_t n)
{
    size_t parts = 1, plen = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-') {
            if (plen == 0)
                return false;
            parts++;
            plen = 0;
            continue;
        }
        if (!is_alnum((unsigned char)s[i]))
            return false;
        plen++;
        last = plen;
    }
    return plen > 0 && parts >= 2 && (parts >= 3 || last == 1);
}

/*
 * Masks one raw token (no whitespace inside except in quotes) into o.
 */
static void mask_token(const char *s, size_t n, obuf *o, tokinfo *ti)
{
    memset(ti, 0, sizeof *ti);

    /* a quoted string: the quotes stay, the content is a value */
    if (n >= 3 && (s[0] == '"' || s[0] == '\'')) {
        size_t qi = quote_close(s, n, 0);
        if (qi > 1) {
            out_bytes(o, s, 1);
            out_ph(o, PH_ANY);
            out_bytes(o, s + qi, n - qi);
            ti->var = true;
            return;
        }
    }

    /* leading and trailing punctuation */
    size_t a = 0, b = n;
    while (a < b && is_lead_punct((unsigned char)s[a]))
        a++;
    while (b > a && is_trail_punct((unsigned char)s[b - 1])) {
        /* a closing '>' of a placeholder belongs to the core (a placeholder
         * is at most 6 bytes: the look back is bounded) */
        if (s[b - 1] == '>') {
            size_t k = b - 1;
            while (k > a && k + PH_TEXT[PH_UUID].n > b && s[k] != '<')
                k--;
            if (s[k] == '<' && ph_at(s + k, b - k) != PH_NONE && PH_TEXT[ph_at(s + k, b - k)].n == b - k)
                break;
        }
        b--;
    }
    ti->lead = a > 0;
    ti->trail = b < n;
    if (a > 0 && b < n &&
        ((s[a - 1] == '(' && s[b] == ')') || (s[a - 1] == '[' && s[b] == ']') || (s[a - 1] == '{' && s[b] == '}')))
        ti->field = true;
    out_bytes(o, s, a);

    const char *c = s + a;
    size_t cn = b - a;
    int nph = 0;
    bool lit = false;
    ph_kind last = PH_NONE;
    size_t core_out = o->len;

    size_t kl = key_len(c, cn);
    if (kl > 0 && kl + 1 < cn) {
        /* key=value: the key stays, the value is a variable whatever its shape */
        out_bytes(o, c, kl + 1);
        const char *v = c + kl + 1;
        size_t vn = cn - kl - 1;
        size_t vstart = o->len;
        tokinfo vi = {0};
        int vph = 0;
        bool vlit = false;
        ph_kind vlast = PH_NONE;
        if (v[0] == '"' || v[0] == '\'') {
            out_ph(o, PH_ANY);
            vi.var = true;
        } else {
            mask_runs(v, vn, o, &vi, &vph, &vlit, &vlast);
        }
        if (vph == 1 && !vlit && o->len - vstart == PH_TEXT[vlast].n) {
            /* the value is one typed placeholder: keep its type */
        } else {
            o->len = vstart;
            out_ph(o, PH_ANY);
        }
        for (size_t j = 0; j < kl; j++)
            ti->field |= is_digit((unsigned char)c[j]);
        ti->var = true;
        ti->weight = true;
        ti->field |= vi.field;
        ti->kv = a == 0;
    } else {
        mask_runs(c, cn, o, ti, &nph, &lit, &last);
        if (!ti->field && cn >= 3 && memchr(c, '-', cn))
            ti->field = compound_name(c, cn);
        if (nph >= 1 && !lit) {
            /* only placeholders and separators: a compound value */
            size_t m = o->len - core_out;
            const char *w = o->p + core_out;
            bool seps_only = true, colon = false, dash_or_slash = false;
            int kinds[PH_ANY + 1] = {0};
            for (size_t j = 0; j < m;) {
                ph_kind k = ph_at(w + j, m - j);
                if (k != PH_NONE) {
                    kinds[k]++;
                    j += PH_TEXT[k].n;
                    continue;
                }
                if (!is_value_sep(w[j]))
                    seps_only = false;
                colon |= w[j] == ':';
                dash_or_slash |= w[j] == '-' || w[j] == '/';
                j++;
            }
            if (nph == 1 && m == PH_TEXT[last].n) {
                ti->pure = true;
                ti->kind = last;
            } else if (seps_only && nph >= 2) {
                ph_kind k;
                if (kinds[PH_IP] == 1 && nph == 2 && kinds[PH_NUM] == 1 && m == 4 + 1 + 5 &&
                    memcmp(w, "<IP>:<NUM>", 10) == 0)
                    k = PH_NONE; /* address:port stays as written */
                else if (kinds[PH_NUM] + kinds[PH_TS] == nph && (colon || (dash_or_slash && nph >= 3)))
                    k = PH_TS;
                else if (kinds[PH_NUM] == nph)
                    k = PH_NUM;
                else
                    k = PH_ANY;
                if (k != PH_NONE) {
                    o->len = core_out;
                    out_ph(o, k);
                    ti->pure = true;
                    ti->kind = k;
                }
            }
        }
        ti->weight = lit;
    }
    out_bytes(o, s + b, n - b);
}

/* ---- raw token splitting -------------------------------------------------- */

/* Next raw token in s[*pos..n): skips whitespace; with quotes set, a token
 * that opens a quote (at its start or right after `key=`) extends to the
 * closing quote, within QUOTE_MAX bytes, then to the next whitespace.
 * Returns false at the end. */
static bool next_raw(const char *s, size_t n, size_t *pos, size_t *ts, size_t *tl, bool quotes)
{
    size_t i = *pos;
    while (i < n && is_space((unsigned char)s[i]))
        i++;
    if (i >= n) {
        *pos = n;
        return false;
    }
    size_t st = i;
    size_t kl = (size_t)-1; /* the token's key=, looked for once */
    while (i < n && !is_space((unsigned char)s[i])) {
        char c = s[i];
        if (quotes && (c == '"' || c == '\'') && i > st && kl == (size_t)-1)
            kl = key_len(s + st, n - st);
        if (quotes && (c == '"' || c == '\'') && (i == st || (kl > 0 && kl == i - 1 - st))) {
            size_t q = quote_close(s, n, i);
            if (q) {
                i = q + 1;
                continue;
            }
        }
        i++;
    }
    *ts = st;
    *tl = i - st;
    *pos = i;
    return true;
}

/* ---- the miner ------------------------------------------------------------ */

/* A token of the message being added (masked text in the scratch buffer). */
typedef struct mtok {
    uint64_t h;          /* hash of the masked text */
    uint64_t hs;         /* hash of its skeleton: every placeholder alike */
    uint32_t off, len;   /* masked text in m->scratch */
    uint32_t roff, rlen; /* raw bytes in the message */
    bool var, weight, field;
    bool value; /* the core is one value: a single placeholder, or <NUM> and a unit */
    bool kv;    /* key=value (no leading punctuation) */
    bool lead;  /* leading punctuation was split off */
    bool trail; /* trailing punctuation was split off */
} mtok;

/* A token of a template (text in the template's text). */
typedef struct ttok {
    uint64_t h, hs;
    uint32_t off, len;
    bool var, weight, field, wild;
} ttok;

struct node;

typedef struct tmpl {
    int64_t id;
    uint64_t count;
    struct tmpl *prev, *next; /* LRU list, most recent at m->lru_head */
    struct node *leaf;
    uint32_t leaf_idx;
    uint32_t n;
    char *text;
    size_t text_len;
    ttok t[];
} tmpl;

/* A tree node: children by token hash (open addressing, power-of-two
 * capacity, linear probing with backward-shift deletion), a `<*>` child, and,
 * at the leaves, the templates. */
typedef struct node {
    struct node *parent;
    uint64_t key;       /* hash of the token leading here (0 for <*> and the length level) */
    bool is_wild;       /* this is its parent's <*> child */
    int level;          /* 0: length node; k: after k tokens */
    uint32_t len_slot;  /* for level 0: the token count */
    struct node **kids;
    uint32_t kcap, nkids;
    struct node *wild;
    tmpl **tl;
    uint32_t ntl, tlcap;
} node;

typedef struct idalias {
    int64_t id; /* 0: empty */
    int64_t to;
} idalias;

typedef struct idslot {
    int64_t id; /* 0: empty */
    tmpl *t;
} idslot;

struct miner {
    miner_opts o;
    size_t path_len; /* depth - 2 */
    node **bylen;    /* [max_tokens + 1] */
    idslot *ids;
    size_t ids_cap, ids_n;
    tmpl *lru_head, *lru_tail;
    size_t n_tmpl;
    int64_t next_id;
    /* scratch, sized at creation */
    char *scratch;
    size_t scratch_cap;
    mtok *tok;
    size_t ntok;
    ttok *ttmp;     /* [max_tokens]: tokens of a template being built */
    uint32_t *offs; /* [max_tokens]: token offsets of a text being rendered */
    uint64_t h_any;  /* hash of "<*>" */
    uint64_t hs_any; /* skeleton hash of "<*>" */
    char *tbuf;      /* [scratch_cap]: a template text being rebuilt */
    bool kv_tail;    /* the last tokenize() ended in a run of trailing fields, made one token */
    uint64_t h_fields, hs_fields; /* hashes of FIELDS_TEXT */
    size_t fields_off; /* FIELDS_TEXT in the scratch buffer, at its end (never overwritten by a message) */
    struct idalias *alias; /* ids absorbed into another template (open addressing) */
    size_t alias_cap, alias_n;
    bool full;      /* the last tokenize() ran out of scratch */
};

miner_opts miner_opts_defaults(void)
{
    miner_opts o = {
        .depth = 4,
        .similarity = 0.5,
        .max_templates = 4096,
        .max_tokens = 128,
        .max_bytes = 4096,
        .max_children = 100,
    };
    return o;
}

/* ---- id map --------------------------------------------------------------- */

static size_t id_home(const miner *m, int64_t id)
{
    return (size_t)mix64((uint64_t)id) & (m->ids_cap - 1);
}

static tmpl *id_get(const miner *m, int64_t id)
{
    if (id <= 0)
        return NULL;
    for (size_t i = id_home(m, id);; i = (i + 1) & (m->ids_cap - 1)) {
        if (m->ids[i].id == 0)
            return NULL;
        if (m->ids[i].id == id)
            return m->ids[i].t;
    }
}

static int id_grow(miner *m)
{
    size_t ncap = m->ids_cap * 2;
    idslot *n = calloc(ncap, sizeof *n);
    if (!n)
        return -1;
    idslot *old = m->ids;
    size_t ocap = m->ids_cap;
    m->ids = n;
    m->ids_cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].id == 0)
            continue;
        size_t j = id_home(m, old[i].id);
        while (m->ids[j].id != 0)
            j = (j + 1) & (ncap - 1);
        m->ids[j] = old[i];
    }
    free(old);
    return 0;
}

/* Caller made room (ids_n + 1 <= ids_cap / 2). */
static void id_put(miner *m, tmpl *t)
{
    size_t i = id_home(m, t->id);
    while (m->ids[i].id != 0)
        i = (i + 1) & (m->ids_cap - 1);
    m->ids[i].id = t->id;
    m->ids[i].t = t;
    m->ids_n++;
}

static void id_del(miner *m, int64_t id)
{
    size_t mask = m->ids_cap - 1;
    size_t i = id_home(m, id);
    while (m->ids[i].id != id) {
        if (m->ids[i].id == 0)
            return;
        i = (i + 1) & mask;
    }
    /* backward-shift deletion keeps every probe sequence unbroken */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->ids[j].id == 0)
            break;
        size_t h = id_home(m, m->ids[j].id);
        /* move j to i when h is cyclically outside (i, j] */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            m->ids[i] = m->ids[j];
            i = j;
        }
    }
    m->ids[i].id = 0;
    m->ids[i].t = NULL;
    m->ids_n--;
}

/* ---- tree nodes ----------------------------------------------------------- */

static node *kid_get(const node *p, uint64_t key)
{
    if (p->nkids == 0)
        return NULL;
    uint32_t mask = p->kcap - 1;
    for (uint32_t i = (uint32_t)key & mask;; i = (i + 1) & mask) {
        node *k = p->kids[i];
        if (!k)
            return NULL;
        if (k->key == key)
            return k;
    }
}

static int kid_put(node *p, node *k)
{
    if ((p->nkids + 1) * 2 > p->kcap) {
        uint32_t ncap = p->kcap ? p->kcap * 2 : 4;
        node **nk = calloc(ncap, sizeof *nk);
        if (!nk)
            return -1;
        for (uint32_t i = 0; i < p->kcap; i++) {
            node *c = p->kids[i];
            if (!c)
                continue;
            uint32_t j = (uint32_t)c->key & (ncap - 1);
            while (nk[j])
                j = (j + 1) & (ncap - 1);
            nk[j] = c;
        }
        free(p->kids);
        p->kids = nk;
        p->kcap = ncap;
    }
    uint32_t mask = p->kcap - 1;
    uint32_t i = (uint32_t)k->key & mask;
    while (p->kids[i])
        i = (i + 1) & mask;
    p->kids[i] = k;
    p->nkids++;
    return 0;
}

static void kid_del(node *p, const node *k)
{
    uint32_t mask = p->kcap - 1;
    uint32_t i = (uint32_t)k->key & mask;
    while (p->kids[i] != k) {
        if (!p->kids[i])
            return;
        i = (i + 1) & mask;
    }
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!p->kids[j])
            break;
        uint32_t h = (uint32_t)p->kids[j]->key & mask;
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            p->kids[i] = p->kids[j];
            i = j;
        }
    }
    p->kids[i] = NULL;
    p->nkids--;
}

static void node_free_rec(node *nd)
{
    if (!nd)
        return;
    for (uint32_t i = 0; i < nd->kcap; i++)
        node_free_rec(nd->kids[i]);
    node_free_rec(nd->wild);
    free(nd->kids);
    free(nd->tl);
    free(nd);
}

/* Frees nd and its empty ancestors. */
static void node_prune(miner *m, node *nd)
{
    while (nd && nd->ntl == 0 && nd->nkids == 0 && !nd->wild) {
        node *p = nd->parent;
        if (p) {
            if (nd->is_wild)
                p->wild = NULL;
            else
                kid_del(p, nd);
        } else {
            m->bylen[nd->len_slot] = NULL;
        }
        free(nd->kids);
        free(nd->tl);
        free(nd);
        nd = p;
    }
}

/* Does this token route to the <*> branch? */
static inline bool routes_wild(bool var, bool field, bool wild)
{
    return var || field || wild;
}

/* ---- LRU ------------------------------------------------------------------ */

static void lru_unlink(miner *m, tmpl *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        m->lru_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        m->lru_tail = t->prev;
    t->prev = t->next = NULL;
}

static void lru_push(miner *m, tmpl *t)
{
    t->prev = NULL;
    t->next = m->lru_head;
    if (m->lru_head)
        m->lru_head->prev = t;
    m->lru_head = t;
    if (!m->lru_tail)
        m->lru_tail = t;
}

static void lru_touch(miner *m, tmpl *t)
{
    if (m->lru_head == t)
        return;
    lru_unlink(m, t);
    lru_push(m, t);
}

/* ---- templates ------------------------------------------------------------ */

static void tmpl_remove(miner *m, tmpl *t)
{
    node *leaf = t->leaf;
    uint32_t i = t->leaf_idx;
    /* keep the leaf in creation order: the first exact match is the oldest */
    memmove(leaf->tl + i, leaf->tl + i + 1, (size_t)(leaf->ntl - i - 1) * sizeof *leaf->tl);
    leaf->ntl--;
    for (uint32_t k = i; k < leaf->ntl; k++)
        leaf->tl[k]->leaf_idx = k;
    lru_unlink(m, t);
    id_del(m, t->id);
    m->n_tmpl--;
    node_prune(m, leaf);
    free(t->text);
    free(t);
}

static void evict_to(miner *m, size_t cap)
{
    while (m->n_tmpl > cap && m->lru_tail)
        tmpl_remove(m, m->lru_tail);
}

/* Builds t's text from token texts held in src (template text or scratch)
 * with wild tokens as <*>. Returns a malloc'd string or NULL. */
static char *render(const ttok *tt, const char *src, uint32_t n, size_t *len_out, uint32_t *offs)
{
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += (tt[i].wild ? PH_TEXT[PH_ANY].n : tt[i].len) + (i > 0);
    char *s = malloc(total + 1);
    if (!s)
        return NULL;
    size_t p = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0)
            s[p++] = ' ';
        offs[i] = (uint32_t)p;
        if (tt[i].wild) {
            memcpy(s + p, PH_TEXT[PH_ANY].s, PH_TEXT[PH_ANY].n);
            p += PH_TEXT[PH_ANY].n;
        } else {
            memcpy(s + p, src + tt[i].off, tt[i].len);
            p += tt[i].len;
        }
    }
    s[p] = '\0';
    *len_out = p;
    return s;
}

/* ---- tokenising a message ------------------------------------------------- */

typedef enum tok_mode { TOK_MESSAGE, TOK_TEMPLATE } tok_mode;

static void collapse_dates(miner *m, obuf *o);
static void collapse_fields(miner *m, obuf *o);

/* Tokenises s[0..n) into m->tok / m->scratch. */
static void tokenize(miner *m, const char *s, size_t n, tok_mode mode)
{
    obuf o = {m->scratch, 0, m->scratch_cap, false};
    size_t ntok = 0, maxt = m->o.max_tokens;
    /* a template's tokens hold no whitespace (a quoted string is `"<*>"`), and
     * generalising can leave quotes that would pair up differently: template
     * text is split at spaces only */
    bool quotes = mode == TOK_MESSAGE;
    size_t pos = 0, ts = 0, tl = 0;
    bool have = next_raw(s, n, &pos, &ts, &tl, quotes);
    while (have) {
        size_t nts = 0, ntl = 0, npos = pos;
        bool have_next;
        mtok *t = &m->tok[ntok];
        if (ntok == maxt) {
            /* too many tokens: the last one takes the rest and becomes <*> */
            t = &m->tok[ntok - 1];
            o.len = t->off;
            out_ph(&o, PH_ANY);
            t->len = (uint32_t)(o.len - t->off);
            size_t end = n;
            while (end > t->roff && is_space((unsigned char)s[end - 1]))
                end--;
            t->rlen = (uint32_t)(end - t->roff);
            t->var = true;
            t->weight = false;
            t->field = false;
            t->value = true;
            t->h = m->h_any;
            t->hs = m->hs_any;
            break;
        }
        tokinfo ti;
        size_t off = o.len;
        mask_token(s + ts, tl, &o, &ti);
        size_t rend = ts + tl;
        have_next = next_raw(s, n, &npos, &nts, &ntl, quotes);

        /* a number followed by a unit word: one token */
        if (have_next && ti.pure && ti.kind == PH_NUM && !ti.trail) {
            size_t ub = ntl;
            while (ub > 0 && is_trail_punct((unsigned char)s[nts + ub - 1]))
                ub--;
            if (is_unit(s + nts, ub)) {
                out_bytes(&o, " ", 1);
                out_bytes(&o, s + nts, ntl);
                ti.trail = ub < ntl;
                ti.weight = true; /* the unit is a constant word */
                rend = nts + ntl;
                have_next = next_raw(s, n, &npos, &nts, &ntl, quotes);
            }
        }
        t->off = (uint32_t)off;
        t->len = (uint32_t)(o.len - off);
        t->roff = (uint32_t)ts;
        t->rlen = (uint32_t)(rend - ts);
        t->var = ti.var;
        t->weight = ti.weight;
        t->field = ti.field;
        t->value = ti.pure;
        t->lead = ti.lead;
        t->trail = ti.trail;
        t->kv = ti.kv;

        bool merged = false;
        if (mode == TOK_MESSAGE && ntok > 0) {
            mtok *p = &m->tok[ntok - 1];
            const char *pt = m->scratch + p->off;
            const char *ct = m->scratch + t->off;
            /* a parenthesised value right after a value restates it */
            if (p->var && !p->trail && t->value && t->lead && t->trail && ct[0] == '(' && t->len >= 2) {
                size_t close = 1;
                while (close < t->len && ct[close] != ')')
                    close++;
                if (close < t->len) {
                    /* the restatement's punctuation after ')' stays */
                    size_t extra = t->len - close - 1;
                    memmove(m->scratch + p->off + p->len, ct + close + 1, extra);
                    p->len += (uint32_t)extra;
                    p->trail = extra > 0;
                    o.len = p->off + p->len;
                    merged = true;
                }
            }
            /* a list of values, `[1,` `2,` `3]`, is one value `[<NUM>]` */
            if (!merged && p->value && t->value && !t->lead && p->len >= 2 && pt[p->len - 1] == ',' &&
                pt[p->len - 2] == '>') {
                ph_kind k = ph_at(ct, t->len);
                size_t kn = PH_TEXT[k].n;
                if (k != PH_NONE && p->len >= kn + 1 && memcmp(pt + p->len - 1 - kn, ct, kn) == 0) {
                    size_t extra = t->len - kn; /* the last item's punctuation */
                    memmove(m->scratch + p->off + p->len - 1, ct + kn, extra);
                    p->len = (uint32_t)(p->len - 1 + extra);
                    p->trail = extra > 0;
                    o.len = p->off + p->len;
                    merged = true;
                }
            }
            /* a run of identical variable tokens is one token */
            if (!merged && t->var && p->var && p->len == t->len && memcmp(pt, ct, t->len) == 0) {
                o.len = off;
                merged = true;
            }
            if (merged) {
                p->rlen = (uint32_t)(rend - p->roff);
                p->h = hash_bytes(m->scratch + p->off, p->len);
                p->hs = p->var ? skel_hash(m->scratch + p->off, p->len) : p->h;
            }
        }
        if (!merged) {
            t->h = hash_bytes(m->scratch + t->off, t->len);
            t->hs = t->var ? skel_hash(m->scratch + t->off, t->len) : t->h;
            ntok++;
        }
        have = have_next;
        ts = nts;
        tl = ntl;
        pos = npos;
    }
    m->ntok = ntok;
    if (mode == TOK_MESSAGE) {
        collapse_dates(m, &o);
        collapse_fields(m, &o);
    }
    m->full = o.full;
}

/* ---- dates written out in words ------------------------------------------ */

/* Day and month names (English, as logs write them): the words of a date. */
static const char *const DATE_WORDS[] = {
    "mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "january", "february", "march", "april", "june", "july", "august", "september", "october",
    "november", "december",
};

/* 1: a day or month name; 2: a number, time or zone that a date holds; 0: neither.
 * t's text is its masked text, with its leading and trailing punctuation. */
static int date_part(const miner *m, const mtok *t)
{
    const char *s = m->scratch + t->off;
    size_t a = 0, b = t->len;
    while (a < b && is_lead_punct((unsigned char)s[a]))
        a++;
    while (b > a && (s[b - 1] == ',' || s[b - 1] == '.' || s[b - 1] == ']' || s[b - 1] == ')'))
        b--;
    size_t n = b - a;
    if (n == 0)
        return 0;
    if (t->value) {
        ph_kind k = ph_at(s + a, n);
        return (k == PH_NUM || k == PH_TS) && PH_TEXT[k].n == n ? 2 : 0;
    }
    if (t->var || n < 3 || n > 9 || !(s[a] >= 'A' && s[a] <= 'Z'))
        return 0; /* logs write the names capitalised: `may`, `sun`, `sat` are words */
    /* the first three letters, lower-cased, against the names' (one switch; most words leave here) */
    uint32_t k3 = (uint32_t)(unsigned char)lower((unsigned char)s[a]) |
                  (uint32_t)(unsigned char)lower((unsigned char)s[a + 1]) << 8 |
                  (uint32_t)(unsigned char)lower((unsigned char)s[a + 2]) << 16;
#define K3(x, y, z) ((uint32_t)(x) | (uint32_t)(y) << 8 | (uint32_t)(z) << 16)
    switch (k3) {
    case K3('m', 'o', 'n'): case K3('t', 'u', 'e'): case K3('w', 'e', 'd'): case K3('t', 'h', 'u'):
    case K3('f', 'r', 'i'): case K3('s', 'a', 't'): case K3('s', 'u', 'n'): case K3('j', 'a', 'n'):
    case K3('f', 'e', 'b'): case K3('m', 'a', 'r'): case K3('a', 'p', 'r'): case K3('m', 'a', 'y'):
    case K3('j', 'u', 'n'): case K3('j', 'u', 'l'): case K3('a', 'u', 'g'): case K3('s', 'e', 'p'):
    case K3('o', 'c', 't'): case K3('n', 'o', 'v'): case K3('d', 'e', 'c'): case K3('g', 'm', 't'):
    case K3('u', 't', 'c'):
        break;
    default:
        return 0;
    }
#undef K3
    if (n == 3 && (lower((unsigned char)s[a]) == 'g' || lower((unsigned char)s[a]) == 'u') &&
        (!memcmp(s + a, "GMT", 3) || !memcmp(s + a, "UTC", 3)))
        return 2;
    for (size_t i = 0; i < sizeof DATE_WORDS / sizeof DATE_WORDS[0]; i++) {
        const char *w = DATE_WORDS[i];
        size_t j = 0;
        while (j < n && w[j] && lower((unsigned char)s[a + j]) == w[j])
            j++;
        if (j == n && w[j] == '\0')
            return 1;
    }
    return 0;
}

/*
 * A date written out in words (`Mon Dec 05 19:14:11 2026`, `Tue, 06 Dec 2026
 * 10:00:00 GMT`, `Dec  5 19:14:11`) is one value: a run of two or more
 * tokens of day or month names, numbers, times and a zone, with at least one
 * name and one number or time, becomes one `<TS>` token (keeping the run's
 * outer brackets and trailing punctuation). Inside the run only commas may
 * follow a token, and only the first may open a bracket.
 */
static void collapse_dates(miner *m, obuf *o)
{
    size_t w = 0, names = 0;
    for (size_t i = 0; i < m->ntok && !names; i++)
        names = !m->tok[i].var && date_part(m, &m->tok[i]) == 1;
    if (!names)
        return; /* the common case: no day or month name */
    for (size_t i = 0; i < m->ntok;) {
        int k0 = date_part(m, &m->tok[i]);
        if (k0 == 0) {
            m->tok[w++] = m->tok[i++];
            continue;
        }
        size_t j = i, nnames = 0, values = 0;
        for (;;) {
            int k = date_part(m, &m->tok[j]);
            if (k == 0 || (j > i && m->tok[j].lead))
                break;
            nnames += k == 1;
            values += k == 2;
            j++;
            const char *pt = m->scratch + m->tok[j - 1].off;
            char last = pt[m->tok[j - 1].len - 1];
            if (j >= m->ntok || (m->tok[j - 1].trail && last != ','))
                break;
        }
        if (j - i < 2 || nnames == 0 || values == 0) {
            m->tok[w++] = m->tok[i++];
            continue;
        }
        const mtok *f = &m->tok[i], *l = &m->tok[j - 1];
        const char *ft = m->scratch + f->off, *lt = m->scratch + l->off;
        size_t lead = 0, trail = 0;
        while (lead < f->len && is_lead_punct((unsigned char)ft[lead]))
            lead++;
        while (trail < l->len && is_trail_punct((unsigned char)lt[l->len - 1 - trail]) && lt[l->len - 1 - trail] != '>')
            trail++;
        if (trail && lt[l->len - trail] == ',')
            trail = 0; /* a comma inside the date is not its end's */
        mtok nt = *f;
        nt.off = (uint32_t)o->len;
        out_bytes(o, ft, lead);
        out_ph(o, PH_TS);
        out_bytes(o, lt + l->len - trail, trail);
        if (o->full)
            return; /* not reached: the scratch buffer has room for a date's text */
        nt.len = (uint32_t)(o->len - nt.off);
        nt.rlen = l->roff + l->rlen - f->roff;
        nt.var = nt.field = nt.value = true;
        nt.weight = false;
        nt.lead = lead > 0;
        nt.trail = trail > 0;
        nt.h = hash_bytes(m->scratch + nt.off, nt.len);
        nt.hs = skel_hash(m->scratch + nt.off, nt.len);
        m->tok[w++] = nt;
        i = j;
    }
    m->ntok = w;
}

/* ---- optional trailing fields --------------------------------------------- */

/* The text of a run of trailing key=value fields, whatever their keys. */
#define FIELDS_TEXT "<*>=<*>"
#define FIELDS_LEN 7

/*
 * Trailing key=value fields after a message's words are often optional
 * (`order 42 shipped`, `order 42 shipped trace_id=… retry=1`): the run of
 * key=value tokens that ends a message, after two or more other tokens,
 * becomes one token `<*>=<*>`, whatever its keys; and a message without
 * such a run may join a template that has one (see miner_add()). A message
 * made of key=value fields only (logfmt) keeps them all as they are.
 */
static void collapse_fields(miner *m, obuf *o)
{
    size_t a = m->ntok;
    while (a > 0 && m->tok[a - 1].kv)
        a--;
    m->kv_tail = false;
    if (a == m->ntok || a < 2)
        return;
    mtok *f = &m->tok[a];
    const mtok *l = &m->tok[m->ntok - 1];
    uint32_t rend = l->roff + l->rlen;
    f->off = (uint32_t)o->len;
    out_bytes(o, FIELDS_TEXT, FIELDS_LEN);
    if (o->full)
        return; /* not reached: the scratch buffer has room */
    f->len = FIELDS_LEN;
    f->rlen = rend - f->roff;
    f->var = true;
    f->weight = f->field = f->value = f->lead = f->trail = false;
    f->kv = true;
    f->h = m->h_fields;
    f->hs = m->hs_fields;
    m->ntok = a + 1;
    m->kv_tail = true;
}

/* Appends a `<*>=<*>` token standing for no trailing fields (raw length 0 at
 * the message's end). The caller checked there is room for one more token. */
static void fields_append(miner *m, uint32_t msg_len)
{
    mtok *f = &m->tok[m->ntok++];
    memset(f, 0, sizeof *f);
    f->off = (uint32_t)m->fields_off;
    f->len = FIELDS_LEN;
    f->roff = msg_len;
    f->rlen = 0;
    f->var = f->kv = true;
    f->h = m->h_fields;
    f->hs = m->hs_fields;
}

/* ---- the tree walk -------------------------------------------------------- */

static node *node_new(node *parent, uint64_t key, bool wild, int level)
{
    node *nd = calloc(1, sizeof *nd);
    if (!nd)
        return NULL;
    nd->parent = parent;
    nd->key = key;
    nd->is_wild = wild;
    nd->level = level;
    return nd;
}

/* Finds or creates the leaf for tokens tt (n of them) with texts in src. */
static node *leaf_make(miner *m, const ttok *tt, uint32_t n)
{
    node *nd = m->bylen[n];
    if (!nd) {
        nd = node_new(NULL, 0, false, 0);
        if (!nd)
            return NULL;
        nd->len_slot = n;
        m->bylen[n] = nd;
    }
    size_t depth = n < m->path_len ? n : m->path_len;
    for (size_t i = 0; i < depth; i++) {
        const ttok *t = &tt[i];
        node *next = NULL;
        if (!routes_wild(t->var, t->field, t->wild)) {
            next = kid_get(nd, t->h);
            if (!next && nd->nkids + 1 < m->o.max_children) {
                next = node_new(nd, t->h, false, (int)i + 1);
                if (!next || kid_put(nd, next) != 0) {
                    free(next);
                    node_prune(m, nd);
                    return NULL;
                }
            }
        }
        if (!next) {
            if (!nd->wild) {
                nd->wild = node_new(nd, 0, true, (int)i + 1);
                if (!nd->wild) {
                    node_prune(m, nd);
                    return NULL;
                }
            }
            next = nd->wild;
        }
        nd = next;
    }
    return nd;
}

/* Adds a template of n tokens tt whose texts are in src (the scratch buffer
 * or a template text), as the most recently seen. Returns NULL when out of
 * memory, with nothing changed. */
static tmpl *tmpl_create(miner *m, const ttok *tt, const char *src, uint32_t n, int64_t id, uint64_t count)
{
    if (m->ids_n + 1 > m->ids_cap / 2 && id_grow(m) != 0)
        return NULL;
    tmpl *t = malloc(sizeof *t + (size_t)n * sizeof(ttok));
    if (!t)
        return NULL;
    memcpy(t->t, tt, (size_t)n * sizeof(ttok));
    t->text = render(tt, src, n, &t->text_len, m->offs);
    if (!t->text) {
        free(t);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++)
        t->t[i].off = m->offs[i];
    node *leaf = leaf_make(m, tt, n);
    if (leaf && leaf->ntl == leaf->tlcap) {
        uint32_t nc = leaf->tlcap ? leaf->tlcap * 2 : 2;
        tmpl **nl = realloc(leaf->tl, nc * sizeof *nl);
        if (nl) {
            leaf->tl = nl;
            leaf->tlcap = nc;
        } else {
            node_prune(m, leaf);
            leaf = NULL;
        }
    }
    if (!leaf) {
        free(t->text);
        free(t);
        return NULL;
    }
    t->n = n;
    t->id = id;
    t->count = count;
    t->leaf = leaf;
    t->leaf_idx = leaf->ntl;
    leaf->tl[leaf->ntl++] = t;
    id_put(m, t);
    lru_push(m, t);
    m->n_tmpl++;
    return t;
}

/* The template tokens for the current message tokens, into m->ttmp. */
static void tokens_to_ttok(miner *m)
{
    for (size_t i = 0; i < m->ntok; i++) {
        const mtok *a = &m->tok[i];
        ttok *b = &m->ttmp[i];
        b->h = a->h;
        b->hs = a->hs;
        b->off = a->off;
        b->len = a->len;
        b->var = a->var;
        b->weight = a->weight;
        b->field = a->field;
        b->wild = a->h == m->h_any && a->len == PH_TEXT[PH_ANY].n &&
                  memcmp(m->scratch + a->off, PH_TEXT[PH_ANY].s, PH_TEXT[PH_ANY].n) == 0;
        if (b->wild) {
            b->weight = b->field = false;
            b->hs = m->hs_any;
        }
    }
}

/* Does template token i take message token i as it is (same text, or the
 * same skeleton: placeholders of any type alike)? Hashes first. */
static inline bool tok_equal(const miner *m, const tmpl *t, uint32_t i)
{
    const ttok *a = &t->t[i];
    const mtok *b = &m->tok[i];
    if (a->hs != b->hs)
        return false;
    const char *at = t->text + a->off, *bt = m->scratch + b->off;
    if (a->h == b->h && a->len == b->len && memcmp(at, bt, a->len) == 0)
        return true;
    return (a->var || b->var) && skel_equal(at, a->len, bt, b->len);
}

/* Writes into out the template token text a (an bytes) with each placeholder
 * whose type differs from the one at the same place in b turned into <*>
 * (a and b have equal skeletons). Returns the length written (<= an). */
static size_t merge_placeholders(const char *a, size_t an, const char *b, size_t bn, char *out)
{
    size_t i = 0, j = 0, o = 0;
    while (i < an) {
        ph_kind ka = a[i] == '<' ? ph_at(a + i, an - i) : PH_NONE;
        if (ka != PH_NONE) {
            ph_kind kb = j < bn && b[j] == '<' ? ph_at(b + j, bn - j) : PH_NONE;
            ph_kind k = ka == kb ? ka : PH_ANY;
            memcpy(out + o, PH_TEXT[k].s, PH_TEXT[k].n);
            o += PH_TEXT[k].n;
            i += PH_TEXT[ka].n;
            j += kb != PH_NONE ? PH_TEXT[kb].n : 1;
            continue;
        }
        out[o++] = a[i++];
        j++;
    }
    return o;
}

/* Generalises t to cover the current message: a position whose token differs
 * becomes <*>; one that differs only in the type of a placeholder gets <*>
 * for that placeholder. A position on the tree path never changes (the
 * message came down the same path, or through <*>). Returns 0, or -1 when out
 * of memory (t unchanged). */
static int generalise(miner *m, tmpl *t, bool exact)
{
    /* the common case, nothing to do: an exact match with the same texts */
    uint32_t i0 = 0;
    for (; i0 < t->n; i0++) {
        const ttok *a = &t->t[i0];
        if (a->wild)
            continue;
        if (a->h != m->tok[i0].h || (!exact && !tok_equal(m, t, i0)))
            break;
    }
    if (i0 == t->n)
        return 0;

    bool change = false;
    size_t p = 0;
    char *buf = m->tbuf;
    for (uint32_t i = 0; i < t->n; i++) {
        ttok *a = &m->ttmp[i];
        *a = t->t[i];
        const char *at = t->text + a->off;
        const mtok *b = &m->tok[i];
        if (i > 0)
            buf[p++] = ' ';
        a->off = (uint32_t)p;
        if (a->wild) {
            memcpy(buf + p, at, a->len);
        } else if (!tok_equal(m, t, i)) {
            a->wild = a->var = true;
            a->weight = a->field = false;
            a->h = m->h_any;
            a->hs = m->hs_any;
            a->len = (uint32_t)PH_TEXT[PH_ANY].n;
            memcpy(buf + p, PH_TEXT[PH_ANY].s, PH_TEXT[PH_ANY].n);
            change = true;
        } else if (a->h != b->h || a->len != b->len || memcmp(at, m->scratch + b->off, a->len) != 0) {
            size_t nl = merge_placeholders(at, a->len, m->scratch + b->off, b->len, buf + p);
            if (nl != a->len || memcmp(buf + p, at, nl) != 0) {
                a->len = (uint32_t)nl;
                a->h = hash_bytes(buf + p, nl);
                a->wild = nl == PH_TEXT[PH_ANY].n && memcmp(buf + p, PH_TEXT[PH_ANY].s, nl) == 0;
                if (a->wild) {
                    a->weight = a->field = false;
                    a->hs = m->hs_any;
                }
                change = true;
            }
        } else {
            memcpy(buf + p, at, a->len);
        }
        p += a->len;
    }
    if (!change)
        return 0;
    char *text = malloc(p + 1);
    if (!text)
        return -1;
    memcpy(text, buf, p);
    text[p] = '\0';
    memcpy(t->t, m->ttmp, (size_t)t->n * sizeof(ttok));
    free(t->text);
    t->text = text;
    t->text_len = p;
    return 0;
}

/* ---- matching ---------------------------------------------------------------- */

typedef struct match {
    tmpl *best;
    size_t best_w;
    bool exact;
} match;

/* Compares the current tokens with the templates of one leaf. */
static void scan_leaf(const miner *m, const node *leaf, match *mt)
{
    if (!leaf)
        return;
    uint32_t n = (uint32_t)m->ntok;
    for (uint32_t k = 0; k < leaf->ntl && !mt->exact; k++) {
        tmpl *t = leaf->tl[k];
        size_t w = 0;
        bool ex = true;
        for (uint32_t i = 0; i < n; i++) {
            const ttok *a = &t->t[i];
            if (a->wild)
                continue;
            if (tok_equal(m, t, i))
                w += a->weight;
            else
                ex = false;
        }
        if (ex) {
            mt->best = t;
            mt->exact = true;
        } else if (!mt->best || w > mt->best_w) {
            mt->best = t;
            mt->best_w = w;
        }
    }
}

static bool acceptable(const miner *m, const match *mt)
{
    return mt->best && (mt->exact || (double)mt->best_w > m->o.similarity * (double)m->ntok + 1e-9);
}

/*
 * Finds the template for the current tokens: down the tree by token (or the
 * <*> branch when a token has no child); at the last level, the leaf of the
 * token and the <*> leaf are both searched, an exact match first, else the
 * most similar template if it is similar enough. Sibling leaves are not
 * searched: the first depth-2 tokens are taken as the event's signature
 * (Drain's prior), which is what keeps `Failed password …` apart from
 * `Failed none …`, and what splits a template whose variable word sits on
 * the path (`alice logged in …`, `bob logged in …`).
 */
static tmpl *search(const miner *m, bool *exact, node **leaves)
{
    uint32_t n = (uint32_t)m->ntok;
    size_t depth = n < m->path_len ? n : m->path_len;
    match mt = {0};
    *exact = false;
    leaves[0] = leaves[1] = NULL;
    node *nd = m->bylen[n];
    if (!nd)
        return NULL;
    if (depth == 0) {
        scan_leaf(m, nd, &mt);
        leaves[0] = nd;
    } else {
        for (size_t i = 0; nd && i + 1 < depth; i++) {
            const mtok *t = &m->tok[i];
            node *next = routes_wild(t->var, t->field, false) ? NULL : kid_get(nd, t->h);
            nd = next ? next : nd->wild;
        }
        if (!nd)
            return NULL;
        const mtok *t = &m->tok[depth - 1];
        node *own = routes_wild(t->var, t->field, false) ? NULL : kid_get(nd, t->h);
        scan_leaf(m, own, &mt);
        scan_leaf(m, nd->wild, &mt);
        leaves[0] = own;
        leaves[1] = nd->wild;
    }
    if (!acceptable(m, &mt))
        return NULL;
    *exact = mt.exact;
    return mt.best;
}

/* The value of message token i under template token a: the raw bytes less
 * the template token's literal prefix (up to its first '<') and suffix (from
 * its last '>') where the raw bytes have them too. */
static void param_of(const miner *m, const char *msg, const tmpl *t, uint32_t i, miner_param *p)
{
    const ttok *a = &t->t[i];
    const mtok *b = &m->tok[i];
    const char *raw = msg + b->roff;
    size_t rn = b->rlen;
    const char *tx = t->text + a->off;
    size_t tn = a->len;
    size_t pre = 0, suf = 0;
    while (pre < tn && pre < rn && tx[pre] != '<' && tx[pre] == raw[pre])
        pre++;
    while (suf < tn - pre && suf < rn - pre && tx[tn - 1 - suf] != '>' && tx[tn - 1 - suf] == raw[rn - 1 - suf])
        suf++;
    p->s = raw + pre;
    p->len = rn - pre - suf;
    p->pos = (int)i;
}

/* Re-creates template t with a trailing `<*>=<*>` token, with its id, count
 * and place in the LRU order (as the most recent). Returns 0, or -1 when out
 * of memory (t unchanged). */
static int fields_extend(miner *m, tmpl *t)
{
    if (t->n + 1 > m->o.max_tokens || t->text_len + 1 + FIELDS_LEN > 5 * m->o.max_bytes + m->o.max_tokens)
        return 0; /* it stays as it is (the bounds of a template's tokens and text) */
    uint32_t n = t->n;
    memcpy(m->tbuf, t->text, t->text_len);
    m->tbuf[t->text_len] = ' ';
    memcpy(m->tbuf + t->text_len + 1, FIELDS_TEXT, FIELDS_LEN);
    memcpy(m->ttmp, t->t, (size_t)n * sizeof(ttok));
    m->ttmp[n] = (ttok){.h = m->h_fields, .hs = m->hs_fields, .off = (uint32_t)(t->text_len + 1),
                        .len = FIELDS_LEN, .var = true};
    /* created under a provisional id, so that a failure leaves t as it was */
    tmpl *nt = tmpl_create(m, m->ttmp, m->tbuf, n + 1, -1, t->count);
    if (!nt)
        return -1;
    int64_t id = t->id;
    tmpl_remove(m, t);
    id_del(m, -1);
    nt->id = id;
    id_put(m, nt);
    return 0;
}

/* ---- event words ------------------------------------------------------------ */

/* A plain word: two or more letters, nothing else but trailing punctuation
 * (`Started`, `DOWN`, `initialization`, `up.`). */
static bool plain_word(const char *s, size_t n)
{
    while (n > 0 && is_trail_punct((unsigned char)s[n - 1]))
        n--;
    if (n < 2)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alpha((unsigned char)s[i]))
            return false;
    return true;
}

/* The first position where template t holds a plain word and the current
 * message another token; -1 when there is none. *literal: that token is a
 * literal too (no placeholder, digit or bracket): a word of another event,
 * or a value of an odd shape, rather than a masked value. */
static int word_position(const miner *m, const tmpl *t, bool *literal)
{
    for (uint32_t i = 0; i < t->n; i++) {
        const ttok *a = &t->t[i];
        const mtok *b = &m->tok[i];
        if (a->wild || a->var || a->field || tok_equal(m, t, i) || !plain_word(t->text + a->off, a->len))
            continue;
        *literal = !b->var && !b->field;
        return (int)i;
    }
    return -1;
}

static inline bool ttok_plain(const tmpl *t, uint32_t i)
{
    const ttok *a = &t->t[i];
    return !a->wild && !a->var && !a->field && plain_word(t->text + a->off, a->len);
}

/* Is s a sibling of t at position p: a literal word at p, and the same
 * template elsewhere but for other plain words (a position wild in either, or
 * holding placeholders in both, counts as equal)? */
static bool is_sibling(const tmpl *s, const tmpl *t, uint32_t p)
{
    if (s->n != t->n || s->t[p].wild || s->t[p].var || s->t[p].field)
        return false;
    for (uint32_t i = 0; i < t->n; i++) {
        const ttok *a = &s->t[i], *b = &t->t[i];
        if (i == p || a->wild || b->wild || a->h == b->h || (a->var && b->var) || (ttok_plain(s, i) && ttok_plain(t, i)))
            continue;
        return false;
    }
    return true;
}

/* Makes t wild wherever one of the n templates sib holds another token, so
 * that t's text says what the lines it absorbs say. Returns 0, or -1 when out
 * of memory (t unchanged). */
static int widen(miner *m, tmpl *t, tmpl *const *sib, size_t n)
{
    bool change = false;
    memcpy(m->ttmp, t->t, (size_t)t->n * sizeof(ttok));
    for (uint32_t i = 0; i < t->n; i++) {
        ttok *a = &m->ttmp[i];
        for (size_t k = 0; k < n && !a->wild; k++) {
            const ttok *b = &sib[k]->t[i];
            if (sib[k] == t || b->h == a->h)
                continue;
            a->wild = a->var = true;
            a->weight = a->field = false;
            a->h = m->h_any;
            a->hs = m->hs_any;
            change = true;
        }
    }
    if (!change)
        return 0;
    size_t len;
    char *text = render(m->ttmp, t->text, t->n, &len, m->offs);
    if (!text)
        return -1;
    for (uint32_t i = 0; i < t->n; i++) {
        m->ttmp[i].off = m->offs[i];
        if (m->ttmp[i].wild)
            m->ttmp[i].len = (uint32_t)PH_TEXT[PH_ANY].n;
    }
    memcpy(t->t, m->ttmp, (size_t)t->n * sizeof(ttok));
    free(t->text);
    t->text = text;
    t->text_len = len;
    return 0;
}

/* Collects t's siblings at p (t included) from the leaves, up to max. */
static size_t siblings(node *const *leaves, const tmpl *t, uint32_t p, tmpl **out, size_t max)
{
    size_t k = 0;
    for (int l = 0; l < 2; l++) {
        if (!leaves[l])
            continue;
        for (uint32_t i = 0; i < leaves[l]->ntl && k < max; i++)
            if (leaves[l]->tl[i] == t || is_sibling(leaves[l]->tl[i], t, p))
                out[k++] = leaves[l]->tl[i];
    }
    return k;
}

/* ---- aliases: ids of templates absorbed into another ---------------------- */

static size_t alias_home(const miner *m, int64_t id)
{
    return (size_t)mix64((uint64_t)id ^ UINT64_C(0x5bd1e995)) & (m->alias_cap - 1);
}

/* Records that id now counts as `to`. When the map holds max_templates
 * entries it starts again empty (the oldest aliases are the least likely to be
 * asked about). Returns 0, or -1 when out of memory (nothing recorded). */
static int alias_put(miner *m, int64_t id, int64_t to)
{
    if (m->alias_n + 1 > m->o.max_templates || m->alias_n + 1 > m->alias_cap / 2) {
        size_t ncap = m->alias_cap ? m->alias_cap : 64;
        if (m->alias_n + 1 > m->o.max_templates) {
            m->alias_n = 0;
            if (m->alias)
                memset(m->alias, 0, m->alias_cap * sizeof *m->alias);
        } else {
            ncap *= 2;
        }
        if (ncap != m->alias_cap || !m->alias) {
            idalias *na = calloc(ncap, sizeof *na);
            if (!na)
                return -1;
            idalias *old = m->alias;
            size_t ocap = m->alias_cap;
            m->alias = na;
            m->alias_cap = ncap;
            m->alias_n = 0;
            for (size_t i = 0; i < ocap; i++)
                if (old[i].id) {
                    size_t j = alias_home(m, old[i].id);
                    while (m->alias[j].id)
                        j = (j + 1) & (m->alias_cap - 1);
                    m->alias[j] = old[i];
                    m->alias_n++;
                }
            free(old);
        }
    }
    size_t j = alias_home(m, id);
    while (m->alias[j].id && m->alias[j].id != id)
        j = (j + 1) & (m->alias_cap - 1);
    m->alias_n += m->alias[j].id == 0;
    m->alias[j].id = id;
    m->alias[j].to = to;
    return 0;
}

static int64_t alias_get(const miner *m, int64_t id)
{
    if (!m->alias_n)
        return 0;
    for (size_t j = alias_home(m, id);; j = (j + 1) & (m->alias_cap - 1)) {
        if (m->alias[j].id == 0)
            return 0;
        if (m->alias[j].id == id)
            return m->alias[j].to;
    }
}

/* Absorbs the siblings sib[0..n) other than t into t: their counts join it,
 * their ids become aliases of its id, they leave the store. Returns -1 when
 * out of memory before anything changed for one sibling (those before it are
 * absorbed already; the miner stays consistent). */
static int absorb(miner *m, tmpl *t, tmpl **sib, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (sib[i] == t)
            continue;
        if (alias_put(m, sib[i]->id, t->id) != 0)
            return -1;
        t->count += sib[i]->count;
        tmpl_remove(m, sib[i]);
    }
    return 0;
}

/* ---- public interface ----------------------------------------------------- */

miner *miner_new(const miner_opts *opts)
{
    miner_opts o = opts ? *opts : miner_opts_defaults();
    if (o.depth < 3 || o.depth > 64 || !(o.similarity >= 0.0 && o.similarity <= 1.0) || o.max_templates < 1 ||
        o.max_tokens < 2 || o.max_tokens > 65535 || o.max_bytes < 16 || o.max_bytes > ((size_t)64 << 20) ||
        o.max_children < 2 || o.max_children > ((size_t)1 << 30)) {
        errno = EINVAL;
        return NULL;
    }
    miner *m = calloc(1, sizeof *m);
    if (!m)
        goto oom;
    m->o = o;
    m->path_len = (size_t)o.depth - 2;
    m->next_id = 1;
    m->h_any = hash_bytes(PH_TEXT[PH_ANY].s, PH_TEXT[PH_ANY].n);
    m->hs_any = skel_hash(PH_TEXT[PH_ANY].s, PH_TEXT[PH_ANY].n);
    m->ids_cap = 64;
    m->scratch_cap = 6 * o.max_bytes + 64;
    m->h_fields = hash_bytes(FIELDS_TEXT, FIELDS_LEN);
    m->hs_fields = skel_hash(FIELDS_TEXT, FIELDS_LEN);
    m->fields_off = m->scratch_cap;
    m->ids = calloc(m->ids_cap, sizeof *m->ids);
    m->bylen = calloc(o.max_tokens + 1, sizeof *m->bylen);
    m->scratch = malloc(m->scratch_cap + FIELDS_LEN);
    m->tok = malloc(o.max_tokens * sizeof *m->tok);
    m->ttmp = malloc(o.max_tokens * sizeof *m->ttmp);
    m->offs = malloc(o.max_tokens * sizeof *m->offs);
    m->tbuf = malloc(m->scratch_cap);
    if (!m->ids || !m->bylen || !m->scratch || !m->tok || !m->ttmp || !m->offs || !m->tbuf)
        goto oom;
    memcpy(m->scratch + m->fields_off, FIELDS_TEXT, FIELDS_LEN);
    return m;
oom:
    miner_free(m);
    errno = ENOMEM;
    return NULL;
}

void miner_free(miner *m)
{
    if (!m)
        return;
    for (tmpl *t = m->lru_head, *next; t; t = next) {
        next = t->next;
        free(t->text);
        free(t);
    }
    if (m->bylen)
        for (size_t i = 0; i <= m->o.max_tokens; i++)
            node_free_rec(m->bylen[i]);
    free(m->bylen);
    free(m->ids);
    free(m->scratch);
    free(m->tok);
    free(m->ttmp);
    free(m->offs);
    free(m->tbuf);
    free(m->alias);
    free(m);
}

int64_t miner_add(miner *m, const char *msg, size_t len, int *is_new, miner_param *params, size_t max_params,
                  size_t *n_params)
{
    assert(m != NULL);
    if (is_new)
        *is_new = 0;
    if (n_params)
        *n_params = 0;
    if (!msg)
        len = 0;
    if (len > m->o.max_bytes) {
        /* cut at a character boundary: back over at most 3 continuation bytes */
        size_t cut = m->o.max_bytes;
        for (int k = 0; k < 3 && cut > 0 && ((unsigned char)msg[cut] & 0xC0) == 0x80; k++)
            cut--;
        len = cut;
    }
    tokenize(m, msg, len, TOK_MESSAGE);
    assert(!m->full); /* the scratch buffer is sized for any message */
    uint32_t n = (uint32_t)m->ntok;

    bool exact;
    node *leaves[2];
    tmpl *best = search(m, &exact, leaves);
    if (!best && m->kv_tail) {
        /* the same words without trailing fields: that template takes a `<*>=<*>` token, keeping its id */
        m->ntok--;
        tmpl *t = search(m, &exact, leaves);
        m->ntok++;
        if (t) {
            if (fields_extend(m, t) != 0)
                return -1;
            best = search(m, &exact, leaves);
        }
    } else if (!best && m->ntok >= 2 && m->ntok < m->o.max_tokens) {
        /* no trailing fields: a template of the same words that has some takes it */
        fields_append(m, (uint32_t)len);
        best = search(m, &exact, leaves);
        if (!best)
            m->ntok--;
    }
    n = (uint32_t)m->ntok;
    tmpl *sib[SIBLINGS_MAX];
    size_t nsib = 0;
    if (best && !exact) {
        /* an event word: split while the position has few words, merge them all past that */
        bool literal = false;
        int p = word_position(m, best, &literal);
        if (p >= 0) {
            nsib = siblings(leaves, best, (uint32_t)p, sib, SIBLINGS_MAX);
            /* each word recurs (an event's name), or one never came again in many lines (a value) */
            uint64_t total = 0;
            bool single = false;
            for (size_t k = 0; k < nsib; k++) {
                total += sib[k]->count;
                single |= sib[k]->count == 1;
            }
            /* a masked value there (a number, an id) says it is a value: the words split off so far join */
            if (literal && nsib < EVENT_WORDS_MAX && !(single && total >= EVENT_FAMILY_MATURE))
                best = NULL;
        }
    }
    if (best) {
        if (generalise(m, best, exact) != 0)
            return -1;
        if (nsib > 1 && (widen(m, best, sib, nsib) != 0 || absorb(m, best, sib, nsib) != 0))
            return -1;
        lru_touch(m, best);
        best->count++;
    } else {
        tokens_to_ttok(m);
        best = tmpl_create(m, m->ttmp, m->scratch, n, m->next_id, 1);
        if (!best)
            return -1;
        m->next_id++;
        if (is_new)
            *is_new = 1;
        evict_to(m, m->o.max_templates);
    }

    if (params && max_params) {
        size_t np = 0;
        for (uint32_t i = 0; i < n && np < max_params; i++)
            if (best->t[i].var)
                param_of(m, msg, best, i, &params[np++]);
        if (n_params)
            *n_params = np;
    }
    return best->id;
}

int64_t miner_resolve(const miner *m, int64_t id)
{
    /* an alias may point at a template absorbed in turn: follow, boundedly */
    for (int k = 0; k < 64 && !id_get(m, id); k++) {
        int64_t to = alias_get(m, id);
        if (!to)
            break;
        id = to;
    }
    return id;
}

const char *miner_template_text(const miner *m, int64_t id)
{
    const tmpl *t = id_get(m, id);
    return t ? t->text : NULL;
}

uint64_t miner_template_count(const miner *m, int64_t id)
{
    const tmpl *t = id_get(m, id);
    return t ? t->count : 0;
}

size_t miner_size(const miner *m)
{
    return m->n_tmpl;
}

void miner_foreach(const miner *m, miner_each_fn fn, void *arg)
{
    for (const tmpl *t = m->lru_head; t; t = t->next)
        fn(t->id, t->text, t->count, arg);
}

void miner_reserve_ids(miner *m, int64_t id)
{
    assert(m != NULL);
    if (id >= m->next_id)
        m->next_id = id + 1;
}

int miner_restore(miner *m, int64_t id, const char *template_text, uint64_t count)
{
    assert(m != NULL);
    if (id <= 0 || !template_text || id_get(m, id))
        return -1;
    size_t len = strlen(template_text);
    if (len > m->scratch_cap)
        return -1;
    tokenize(m, template_text, len, TOK_TEMPLATE);
    if (m->full)
        return -1;
    tokens_to_ttok(m);
    if (!tmpl_create(m, m->ttmp, m->scratch, (uint32_t)m->ntok, id, count))
        return -1;
    if (id >= m->next_id)
        m->next_id = id + 1;
    evict_to(m, m->o.max_templates);
    return 0;
}
