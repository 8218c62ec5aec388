/*
 * level.c — the level a log line states in its own text, read once for
 * every ingest path.
 *
 * Purpose: shippers (Loki clients, Fluent Bit, bulk clients, the OTel SDKs
 * without a severity, syslog senders, curl) often send the level only inside
 * the line. ingest_level_sniff() reads it from the line's first
 * INGEST_SNIFF_BYTES bytes (its first line only), in this order of
 * precedence, the first that matches in the higher rule winning:
 *   1. a key=value field (logfmt, logrus, slog, go-kit): level=, lvl=,
 *      severity=, loglevel=, log_level=, log.level= with a level word or a
 *      quoted one (`level="ERROR"`), anywhere in the scanned bytes;
 *   2. a JSON field in text (a CRI or prefixed line, a cut JSON object):
 *      "level" / "lvl" / "severity" / "loglevel" / "log_level" / "log.level"
 *      with a string level word or a number (pino/bunyan 10..60, syslog 0..7);
 *   3. glog's prefix `E1206 12:00:00.123456 ...` (I, W, E, F);
 *   4. among the first INGEST_SNIFF_TOKENS words: a bracketed level in any
 *      case (`[ERROR]`, `[error]`, `<E>`, `(WARN)`, Apache's `[core:error]`),
 *      an upper-case level word (`ERROR`, `WARNING:`, Python's
 *      `ERROR:root:msg`, Java's `... ERROR [main] ...`), a level word in any
 *      case written at the level's usual place: right after the timestamp
 *      (`2026-12-06 12:00:00 error ...`, zap's console), or first and ending
 *      in ':' (`error: ...`, winston's `info: ...`), and a single letter
 *      (`E`, `W`, ...) right after the timestamp and numbers (logcat).
 * Words inside double quotes are never read as levels by rule 4 (a quoted
 * message), and only the words a level is spelled with in logs count in
 * lower case (not `alert`, `notice`, `fine`: those are ordinary words).
 *
 * ingest_level_canonical() and ingest_level_word() map a level word a
 * shipper sent to one of the canonical names (or keep it, lower-cased and
 * cut at INGEST_LEVEL_MAX bytes). ingest_entry_finish() (json.c) calls the
 * sniffer for an entry whose shipper sent no level: a level sent as a label
 * or field always wins.
 *
 * Threads: pure functions of their input, or of the batch being built
 * (ingest_level_word); any number of threads at once.
 *
 * Invariants: ingest_level_sniff() allocates nothing and reads at most
 * INGEST_SNIFF_BYTES bytes of its input; what it returns is a static
 * canonical name (trace|debug|info|warn|error|fatal) or NULL.
 *
 * Limits: INGEST_SNIFF_BYTES bytes, INGEST_SNIFF_TOKENS words for rule 4.
 */
#include "ingest/common.h"

#include <string.h>
#include <strings.h>

/* ----------------------------------------------------------- helpers */

static int lv_upper(char ch)
{
    return ch >= 'A' && ch <= 'Z';
}

static int lv_alpha(char ch)
{
    return lv_upper(ch) || (ch >= 'a' && ch <= 'z');
}

static int lv_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int lv_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

const char *ingest_level_number(long long n)
{
    static const char *const syslog[8] = {"fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug"};
    static const char *const pino[6] = {"trace", "debug", "info", "warn", "error", "fatal"};
    if (n >= 0 && n <= 7)
        return syslog[n];
    if (n >= 10 && n <= 60 && n % 10 == 0)
        return pino[n / 10 - 1];
    return NULL;
}

/* The level of a one-letter code (glog, logcat, `<E>`), upper case only. */
static const char *letter_level(char ch)
{
    switch (ch) {
    case 'T':
        return "trace";
    case 'D':
        return "debug";
    case 'I':
        return "info";
    case 'W':
        return "warn";
    case 'E':
        return "error";
    case 'F':
    case 'C':
        return "fatal";
    default:
        return NULL;
    }
}

/* A level word as logs spell it in lower or mixed case; others count only in upper case or brackets. */
static const char *loose_word(const char *s, size_t n)
{
    static const char *const strong[] = {"trace", "debug", "info", "warn", "warning", "error",
                                         "err", "fatal", "crit", "critical", NULL};
    for (const char *const *w = strong; *w; w++) {
        if (strlen(*w) == n && strncasecmp(s, *w, n) == 0)
            return ingest_level_canonical(s, n);
    }
    return NULL;
}

static const char *upper_word(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!lv_upper(s[i]))
            return NULL;
    }
    return ingest_level_canonical(s, n);
}

/* A value: a word (to the first byte that is not a letter) or a quoted word; its level or NULL. */
static const char *value_level(const char *s, size_t n)
{
    size_t i = 0, k;
    if (n && (s[0] == '"' || s[0] == '\'')) {
        char q = s[0];
        for (k = 1; k < n && s[k] != q; k++)
            ;
        if (k == n)
            return NULL;
        s++;
        n = k - 1;
        while (n && lv_space(s[n - 1]))
            n--;
        while (n && lv_space(*s)) {
            s++;
            n--;
        }
        return ingest_level_canonical(s, n);
    }
    while (i < n && lv_alpha(s[i]))
        i++;
    if (i == 0 || (i < n && (lv_digit(s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.')))
        return NULL;
    return ingest_level_canonical(s, i);
}

static int level_key(const char *s, size_t n)
{
    static const char *const keys[] = {"level", "lvl", "severity", "loglevel", "log_level", "log.level", NULL};
    char first = (char)(s[0] | 0x20);
    if (n < 3 || n > 9 || (first != 'l' && first != 's'))
        return 0;
    for (const char *const *k = keys; *k; k++) {
        if (strlen(*k) == n && strncasecmp(s, *k, n) == 0)
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------- rule 2: JSON */

/*
 * `"level": "error"` or `"level":50` somewhere in s[0..n): strings are walked
 * whole (escapes included), so text inside a string is never read as a key.
 */
static const char *json_field_level(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *q = memchr(s + i, '"', n - i);
        if (!q)
            return NULL;
        size_t k0 = (size_t)(q - s) + 1, k = k0;
        while (k < n && s[k] != '"')
            k += s[k] == '\\' ? 2 : 1;
        if (k >= n)
            return NULL;
        i = k + 1; /* past the string */
        size_t v = i;
        while (v < n && lv_space(s[v]))
            v++;
        if (v >= n || s[v] != ':' || !level_key(s + k0, k - k0))
            continue;
        v++;
        while (v < n && lv_space(s[v]))
            v++;
        if (v < n && s[v] == '"') {
            size_t w0 = v + 1, w = w0;
            while (w < n && s[w] != '"' && s[w] != '\\')
                w++;
            if (w < n && s[w] == '"') {
                const char *lv = ingest_level_canonical(s + w0, w - w0);
                if (lv)
                    return lv;
            }
            i = v; /* the value is walked as a string next */
        } else if (v < n && lv_digit(s[v])) {
            long long num = 0;
            size_t d = 0;
            while (v + d < n && lv_digit(s[v + d]) && d < 3)
                num = num * 10 + (s[v + d++] - '0');
            if (v + d == n || !(lv_digit(s[v + d]) || s[v + d] == '.' || s[v + d] == 'e' || s[v + d] == 'E')) {
                const char *lv = ingest_level_number(num);
                if (lv)
                    return lv;
            }
        }
    }
    return NULL;
}

/* --------------------------------------------------- rule 3: glog */

static const char *glog_level(const char *s, size_t n)
{
    if (n < 14 || !strchr("IWEF", s[0]) || s[0] == '\0' || s[5] != ' ' || s[8] != ':' || s[11] != ':')
        return NULL;
    for (int i = 1; i <= 4; i++) {
        if (!lv_digit(s[i]))
            return NULL;
    }
    if (!lv_digit(s[6]) || !lv_digit(s[7]) || !lv_digit(s[9]) || !lv_digit(s[10]) || !lv_digit(s[12]) ||
        !lv_digit(s[13]))
        return NULL;
    return letter_level(s[0]);
}

/* ---------------------------------------------------- rule 4: words */

/* A word made of a timestamp's, a date's or a number's characters (with a digit). */
static int timestampish(const char *s, size_t n)
{
    int digit = 0;
    while (n && (s[0] == '[' || s[0] == '(')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ']' || s[n - 1] == ')' || s[n - 1] == ':' || s[n - 1] == ','))
        n--;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
            digit = 1;
            break;
        case ':': case '.': case ',': case '-': case '+': case '/': case 'T': case 'Z': case '_':
            break;
        default:
            return 0;
        }
    }
    return digit;
}

/* The level of word s[0..n) (no blanks in it); slot: only timestamps and numbers came before it. */
static const char *word_level(const char *s, size_t n, int slot, int first)
{
    char open = s[0];
    if (open == '[' || open == '<' || open == '(') {
        char close = open == '[' ? ']' : open == '<' ? '>' : ')';
        const char *in = s + 1;
        const char *c = memchr(in, close, n - 1);
        if (!c)
            return NULL;
        size_t k = (size_t)(c - in);
        const char *colon = NULL;
        for (size_t i = 0; i < k; i++) {
            if (in[i] == ':')
                colon = in + i;
        }
        if (colon) { /* Apache 2.4: [core:error] */
            k -= (size_t)(colon + 1 - in);
            in = colon + 1;
        }
        while (k && lv_space(*in)) {
            in++;
            k--;
        }
        while (k && lv_space(in[k - 1]))
            k--;
        if (k == 1)
            return letter_level(in[0]);
        return ingest_level_canonical(in, k);
    }
    /* ERROR:root:msg, WARNING:, error: */
    size_t k = 0;
    while (k < n && lv_alpha(s[k]))
        k++;
    if (k == 0)
        return NULL;
    int colon = k < n && s[k] == ':';
    if (k < n && !colon && !(k + 1 == n && (s[k] == ',' || s[k] == '|')))
        return NULL;
    const char *lv = upper_word(s, k);
    if (lv)
        return lv;
    if (slot && !first && k == 1 && n == 1)
        return letter_level(s[0]);
    if ((slot && !first) || (first && colon && k + 1 == n))
        return loose_word(s, k);
    return NULL;
}

/* Length of the word at s[0..n): to a blank, a double-quoted run counting as part of it. */
static size_t word_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && !lv_space(s[i])) {
        if (s[i] == '"') {
            i++;
            while (i < n && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                i++;
            }
            if (i < n)
                i++;
            continue;
        }
        i++;
    }
    return i;
}

/*
 * Rule 1 on s[pos..n), pos at a word's start: a level key before an '=' that
 * starts a word and is outside double quotes. memchr finds the candidates,
 * so a long line without a level costs little.
 */
static const char *keyvalue_level(const char *s, size_t n, size_t pos)
{
    const char *q = pos < n ? memchr(s + pos, '"', n - pos) : NULL;
    while (pos < n) {
        const char *eq = memchr(s + pos, '=', n - pos);
        if (!eq)
            return NULL;
        if (q && q < eq) { /* skip the quoted run, escapes included */
            size_t i = (size_t)(q - s) + 1;
            while (i < n && s[i] != '"')
                i += s[i] == '\\' ? 2 : 1;
            pos = i + 1;
            q = pos < n ? memchr(s + pos, '"', n - pos) : NULL;
            continue;
        }
        size_t e = (size_t)(eq - s), k = e;
        while (k > 0 && !lv_space(s[k - 1]) && s[k - 1] != '"')
            k--;
        if (k < e && (k == 0 || lv_space(s[k - 1])) && level_key(s + k, e - k)) {
            const char *lv = value_level(eq + 1, n - e - 1);
            if (lv)
                return lv;
        }
        pos = e + 1;
    }
    return NULL;
}

const char *ingest_level_sniff(const char *s, size_t len)
{
    if (!s || len == 0)
        return NULL;
    size_t n = len < INGEST_SNIFF_BYTES ? len : INGEST_SNIFF_BYTES;
    const char *nl = memchr(s, '\n', n);
    if (nl)
        n = (size_t)(nl - s);
    while (n && (s[n - 1] == '\r'))
        n--;

    const char *by_word = glog_level(s, n);
    size_t pos = 0;
    int words = 0, slot = 1;
    /* the first words, for rules 1 and 4; then rule 1 alone on the rest */
    while (pos < n && words < INGEST_SNIFF_TOKENS && !by_word) {
        while (pos < n && lv_space(s[pos]))
            pos++;
        if (pos >= n)
            break;
        const char *w = s + pos;
        size_t wn = word_len(w, n - pos);
        pos += wn;
        /* rule 1: key=value */
        const char *eq = memchr(w, '=', wn);
        if (eq && eq > w && level_key(w, (size_t)(eq - w))) {
            const char *lv = value_level(eq + 1, wn - (size_t)(eq + 1 - w));
            if (lv)
                return lv;
        }
        if (w[0] != '"' && !eq) {
            by_word = word_level(w, wn, slot, words == 0);
            if (!timestampish(w, wn))
                slot = 0;
        } else {
            slot = 0;
        }
        words++;
    }
    const char *kv = keyvalue_level(s, n, pos);
    if (kv)
        return kv;
    if (memchr(s, '"', n)) {
        const char *lv = json_field_level(s, n);
        if (lv)
            return lv;
    }
    return by_word;
}

/* ---------------------------------------------------------------- levels */

const char *ingest_level_canonical(const char *word, size_t len)
{
#define LW(w, c) {w, sizeof w - 1, c}
    static const struct {
        const char *word;
        size_t len;
        const char *canon;
    } words[] = {
        LW("trace", "trace"),
        LW("debug", "debug"),     LW("dbg", "debug"),       LW("fine", "debug"),
        LW("finer", "debug"),     LW("finest", "debug"),
        LW("info", "info"),       LW("information", "info"), LW("informational", "info"),
        LW("notice", "info"),     LW("inf", "info"),
        LW("warn", "warn"),       LW("warning", "warn"),    LW("wrn", "warn"),
        LW("error", "error"),     LW("err", "error"),       LW("severe", "error"),
        LW("fatal", "fatal"),     LW("crit", "fatal"),      LW("critical", "fatal"),
        LW("alert", "fatal"),     LW("emerg", "fatal"),     LW("emergency", "fatal"),
        LW("panic", "fatal"),     LW("ftl", "fatal"),
    };
#undef LW
    if (!word || len < 3 || len > 13)
        return NULL;
    /* the level reader asks for every short word of a line: length and first letter first */
    char first = (char)(word[0] | 0x20);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (words[i].len == len && words[i].word[0] == first && strncasecmp(word, words[i].word, len) == 0)
            return words[i].canon;
    }
    return NULL;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' || ch == '\v';
}

int ingest_level_word(ingest_ctx *c, const char *s, size_t len, const char **out)
{
    while (len && is_space(*s)) {
        s++;
        len--;
    }
    while (len && is_space(s[len - 1]))
        len--;
    if (len == 0) {
        *out = NULL;
        return 0;
    }
    const char *canon = ingest_level_canonical(s, len);
    if (canon) {
        if (strlen(canon) != len || strncasecmp(canon, s, len) != 0)
            c->b->stats.level_normalized++;
        *out = canon;
        return 0;
    }
    len = utf8_cut(s, len, INGEST_LEVEL_MAX);
    char *w = batch_strndup(c->b, s, len);
    if (!w)
        return -2;
    for (size_t i = 0; i < len; i++) {
        if (w[i] >= 'A' && w[i] <= 'Z')
            w[i] = (char)(w[i] - 'A' + 'a');
    }
    *out = w;
    return 0;
}
