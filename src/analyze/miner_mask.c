/*
 * miner_mask.c — the template miner's masking of one token, by shape only.
 *
 * Purpose: each whitespace-separated token of a message is split into leading
 * brackets, a core and trailing punctuation, and inside the core the variable
 * parts are replaced by placeholders, by shape only — no rule names a
 * product's words:
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
 * Placeholder texts in the input (`<NUM>`, `<*>`, …) are read as
 * placeholders, so masking a template's own text gives it back.
 *
 * Threads: pure functions over their arguments; any thread may call them.
 *
 * Invariants: a masked token is at most 5 times its raw bytes (a 1-byte
 * number becomes `<NUM>`); output goes through obuf, which never writes past
 * its capacity (it marks itself full instead).
 *
 * Limits: quoted strings of at most QUOTE_MAX bytes; hex runs of at least
 * HEX_RUN_MIN characters.
 */
#include "analyze/miner_int.h"

/* ---- placeholders --------------------------------------------------------- */

const struct ph_text mask_ph_text[PH_ANY + 1] = {
    [PH_NONE] = {"", 0},          [PH_NUM] = {"<NUM>", 5}, [PH_HEX] = {"<HEX>", 5}, [PH_UUID] = {"<UUID>", 6},
    [PH_IP] = {"<IP>", 4},        [PH_TS] = {"<TS>", 4},   [PH_ANY] = {"<*>", 3},
};
_Static_assert(sizeof mask_ph_text / sizeof mask_ph_text[0] == PH_ANY + 1, "one text per placeholder kind");

/* If s (n bytes left) starts with a placeholder text, returns its kind. */
ph_kind mask_ph_at(const char *s, size_t n)
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
    return n >= mask_ph_text[k].n && memcmp(s, mask_ph_text[k].s, mask_ph_text[k].n) == 0 ? k : PH_NONE;
}

/* The skeleton of a masked token is its text with every placeholder read as
 * the same one, so `/static/<HEX>.js` and `/static/<NUM>.js` are alike: a
 * value's type does not split a template. */
uint64_t mask_skel_hash(const char *s, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        ph_kind k = c == '<' ? mask_ph_at(s + i, n - i) : PH_NONE;
        if (k != PH_NONE) {
            c = 0x01;
            i += mask_ph_text[k].n;
        } else {
            i++;
        }
        h = (h ^ c) * UINT64_C(0x100000001b3);
    }
    return h ^ (h >> 29);
}

bool mask_skel_equal(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, j = 0;
    while (i < an && j < bn) {
        ph_kind ka = a[i] == '<' ? mask_ph_at(a + i, an - i) : PH_NONE;
        ph_kind kb = b[j] == '<' ? mask_ph_at(b + j, bn - j) : PH_NONE;
        if (ka != PH_NONE && kb != PH_NONE) {
            i += mask_ph_text[ka].n;
            j += mask_ph_text[kb].n;
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

const unsigned char mask_ct[256] = {
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

/* ---- hashing -------------------------------------------------------------- */


uint64_t mask_hash_bytes(const char *s, size_t n)
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

bool mask_is_unit(const char *s, size_t n)
{
    if (n == 1)
        return strchr(UNIT_LETTERS, s[0]) != NULL && s[0] != '\0';
    return in_list(UNITS, sizeof UNITS / sizeof UNITS[0], s, n);
}

static bool is_unit_suffix(const char *s, size_t n)
{
    return mask_is_unit(s, n) || in_list(UNIT_SUFFIXES, sizeof UNIT_SUFFIXES / sizeof UNIT_SUFFIXES[0], s, n);
}

/* ---- the masking of one token --------------------------------------------- */

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
    return j >= n || (!is_alnum((unsigned char)s[j]) && !(s[j] == '<' && mask_ph_at(s + j, n - j) != PH_NONE));
}

/* Groups joined by c: after the first group (g > 0), steps *j past the c that must come first; false when it is
 * not there. */
static inline bool group_sep(const char *s, size_t n, size_t g, size_t *j, char c)
{
    if (g == 0)
        return true;
    if (*j >= n || s[*j] != c)
        return false;
    ++*j;
    return true;
}

/* UUID 8-4-4-4-12 at i; returns its length or 0. */
static size_t uuid_at(const char *s, size_t n, size_t i)
{
    static const size_t groups[] = {8, 4, 4, 4, 12};
    size_t j = i;
    for (size_t g = 0; g < 5; g++) {
        if (!group_sep(s, n, g, &j, '-'))
            return 0;
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
        if (!group_sep(s, n, (size_t)g, &j, '.'))
            return 0;
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
    char sep = i + 2 < n ? s[i + 2] : '\0'; /* the one separator: ':' or '-' */
    int g;
    for (g = 0; g < 6; g++) {
        if ((sep != ':' && sep != '-') || !group_sep(s, n, (size_t)g, &j, sep))
            break;
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
    if (j + 1 < n && s[j] == '.' && s[j + 1] == '<') /* `co.<NUM>`: a value's label follows, as in the raw */
        return 0;                                    /* `co.4`, which is no host name either */
    for (size_t k = last; k < j; k++)
        if (!is_alpha((unsigned char)s[k]))
            return 0;
    return in_list(TLDS, sizeof TLDS / sizeof TLDS[0], s + last, j - last) ? j - i : 0;
}

/* A variable run written as placeholder k and counted; field: it is a field's value (a placeholder
 * already in the text is not). */
static void put_var(obuf *o, ph_kind k, bool field, tokinfo *ti, int *nph, ph_kind *last_kind)
{
    out_ph(o, k);
    ti->var = true;
    if (field)
        ti->field = true;
    ++*nph;
    *last_kind = k;
}

/* A number's glued unit s[j, u) (none when u == j): a constant word, written as it is. */
static void put_unit(obuf *o, const char *s, size_t j, size_t u, bool *literal_alnum)
{
    if (u > j) {
        out_bytes(o, s + j, u - j);
        *literal_alnum = true;
    }
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
            ph_kind k = mask_ph_at(s + i, n - i);
            if (k != PH_NONE) {
                put_var(o, k, false, ti, nph, last_kind);
                i += mask_ph_text[k].n;
                /* `<NUM>ms` reads back as `160ms` did: the unit stays glued
                 * (else `<NUM>d:b8::1` would start a new run, an address) */
                size_t u;
                if (k == PH_NUM && i < n && is_alpha((unsigned char)s[i]) &&
                    (u = glued_unit(s, n, i)) != (size_t)-1) {
                    put_unit(o, s, i, u, literal_alnum);
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
                    put_var(o, PH_NUM, true, ti, nph, last_kind);
                    put_unit(o, s, j, u, literal_alnum);
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
        if (mask_ct[c] & C_HEX) {
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
                put_var(o, k, true, ti, nph, last_kind);
                i += len;
                continue;
            }
        }
        if (is_digit(c)) {
            /* a number: digits, an optional fraction, an optional glued unit */
            size_t j;
            size_t u = number_at(s, n, i, &j);
            if (u != (size_t)-1) {
                put_var(o, PH_NUM, true, ti, nph, last_kind);
                put_unit(o, s, j, u, literal_alnum);
                i = u;
                continue;
            }
        }
        /* the run, in one pass: its length, whether all hex, with digits, letters */
        unsigned char all = 0xff, any = 0;
        size_t j = i;
        while (j < n && (mask_ct[(unsigned char)s[j]] & (C_DIGIT | C_ALPHA))) {
            all &= mask_ct[(unsigned char)s[j]];
            any |= mask_ct[(unsigned char)s[j]];
            j++;
        }
        size_t run = j - i;
        /* a host name: a value, whatever its labels (with digits or not); not an e-mail address's
         * domain (the address stays whole, for redaction to see) */
        size_t hl;
        if (j < n && (s[j] == '.' || s[j] == '-') && (i == 0 || (!is_name_char((unsigned char)s[i - 1]) && s[i - 1] != '@')) &&
            (hl = hostname_at(s, n, i)) != 0) {
            put_var(o, PH_ANY, true, ti, nph, last_kind);
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
            put_var(o, PH_HEX, true, ti, nph, last_kind);
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

/* The closing quote of the quote at s[i] when only trailing punctuation
 * follows it up to whitespace or the end, within QUOTE_MAX bytes; else 0.
 * Backslash escapes a double quote. mask_next_raw() and mask_token() both read
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
void mask_token(const char *s, size_t n, obuf *o, tokinfo *ti)
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
            while (k > a && k + mask_ph_text[PH_UUID].n > b && s[k] != '<')
                k--;
            if (s[k] == '<' && mask_ph_at(s + k, b - k) != PH_NONE && mask_ph_text[mask_ph_at(s + k, b - k)].n == b - k)
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
        if (vph == 1 && !vlit && o->len - vstart == mask_ph_text[vlast].n) {
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
                ph_kind k = mask_ph_at(w + j, m - j);
                if (k != PH_NONE) {
                    kinds[k]++;
                    j += mask_ph_text[k].n;
                    continue;
                }
                if (!is_value_sep(w[j]))
                    seps_only = false;
                colon |= w[j] == ':';
                dash_or_slash |= w[j] == '-' || w[j] == '/';
                j++;
            }
            if (nph == 1 && m == mask_ph_text[last].n) {
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
bool mask_next_raw(const char *s, size_t n, size_t *pos, size_t *ts, size_t *tl, bool quotes)
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
