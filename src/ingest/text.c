/*
 * text.c — text/plain bodies: one entry per line, stack traces joined.
 *
 * Purpose: split a body on '\n' (a trailing '\r' is dropped) and turn each
 * line into a log entry. A line `TIMESTAMP LEVEL SERVICE message` (RFC 3339
 * timestamp, known level word, service token) gives all four fields; any
 * other line is kept whole as the message, at the receive time, of the
 * default service, with the level its text states (level.c). A message
 * that is a JSON object is read like an NDJSON entry (ingest_entry_finish). Lines that continue the entry before them are joined to it
 * with '\n' and kept verbatim:
 *   - indented lines (space or tab), and unindented `at `, `Caused by:`,
 *     `...`, `Suppressed:` lines: Java stack traces; also the exception line
 *     that heads a trace (`java.lang.IllegalStateException: boom`, a dotted
 *     name ending in Exception, Error or Throwable) when a frame follows it;
 *   - `Traceback (most recent call last):` and, until the exception line that
 *     ends it, every indented or blank line of a Python traceback; the
 *     chaining lines ("During handling of the above exception, ..." and "The
 *     above exception was the direct cause ...") join too, with the blank
 *     lines around them, and start the next traceback.
 * Other blank lines are skipped. A structured line (the format above) never
 * joins, even where a traceback's exception line is expected: a truncated
 * traceback must not swallow the next real entry.
 *
 * Threads: runs on the HTTP thread that owns the batch; no shared state.
 *
 * Invariants: messages are valid UTF-8 without NUL bytes (anything else is
 * replaced by U+FFFD), at most max_line bytes, never cut inside a character.
 * Work is linear in the body: a joined line is appended once to a buffer
 * that stops growing at max_line, so a 100k-line trace costs one pass.
 *
 * Limits: max_entries entries (the next one is a 413 naming its line),
 * max_line bytes per message (longer ones are cut and counted once each).
 */
#include "ingest/common.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anomalog/timeutil.h"

static const char TB_HEADER[] = "Traceback (most recent call last):";
static const char TB_DURING[] = "During handling of the above exception, another exception occurred:";
static const char TB_CAUSE[] = "The above exception was the direct cause of the following exception:";

/* A message being built: capped at max bytes, sanitised while appended. */
typedef struct msgbuf {
    char *p;
    size_t len, cap, max;
    int truncated;
} msgbuf;

/* Makes room for n more bytes (n <= max - len). -2 when out of memory. */
static int mb_reserve(msgbuf *m, size_t n)
{
    if (m->cap - m->len >= n)
        return 0;
    size_t ncap = m->cap ? m->cap : 256;
    while (ncap - m->len < n)
        ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
    if (ncap > m->max)
        ncap = m->max;
    char *np = realloc(m->p, ncap);
    if (!np)
        return -2;
    m->p = np;
    m->cap = ncap;
    return 0;
}

/* Appends valid UTF-8 s[0..n), cutting at a character boundary at the cap. */
static int mb_put(msgbuf *m, const char *s, size_t n)
{
    if (m->truncated || n == 0)
        return 0;
    size_t room = m->max - m->len;
    if (n > room) {
        n = utf8_cut(s, n, room);
        m->truncated = 1;
    }
    if (n == 0)
        return 0;
    if (mb_reserve(m, n) < 0)
        return -2;
    memcpy(m->p + m->len, s, n);
    m->len += n;
    return 0;
}

/* Appends s[0..n) with invalid UTF-8 and NUL bytes replaced by U+FFFD. */
static int mb_append(msgbuf *m, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && !m->truncated) {
        size_t k = utf8_clean_prefix(s + i, n - i);
        if (mb_put(m, s + i, k) < 0)
            return -2;
        i += k;
        if (i < n) {
            if (mb_put(m, UTF8_REPLACEMENT, 3) < 0)
                return -2;
            i++;
        }
    }
    return 0;
}

static void mb_reset(msgbuf *m)
{
    m->len = 0;
    m->truncated = 0;
}

static int is_blank_char(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_blank_char(s[i]))
            return 0;
    }
    return 1;
}

/* s[0..n) without leading and trailing blanks equals lit. */
static int trimmed_equals(const char *s, size_t n, const char *lit)
{
    while (n && is_blank_char(*s)) {
        s++;
        n--;
    }
    while (n && is_blank_char(s[n - 1]))
        n--;
    size_t ln = strlen(lit);
    return n == ln && memcmp(s, lit, n) == 0;
}

static int starts_with(const char *s, size_t n, const char *lit)
{
    size_t ln = strlen(lit);
    return n >= ln && memcmp(s, lit, ln) == 0;
}

/* A line of the structured format, split into its parts. */
typedef struct text_fields {
    int64_t ts_ms;
    const char *level;          /* canonical */
    const char *level_word;
    size_t level_len;
    const char *service;
    size_t service_len;
    const char *msg;
    size_t msg_len;
} text_fields;

static int service_token_ok(const char *s, size_t n)
{
    if (n == 0 || n > INGEST_SERVICE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return 0;
    }
    return utf8_valid(s, n);
}

/* Next token of s[*pos..n), separated by spaces and tabs. 0 when there is none. */
static int next_token(const char *s, size_t n, size_t *pos, size_t *start, size_t *end)
{
    size_t p = *pos;
    while (p < n && (s[p] == ' ' || s[p] == '\t'))
        p++;
    if (p == n)
        return 0;
    *start = p;
    while (p < n && s[p] != ' ' && s[p] != '\t')
        p++;
    *end = p;
    *pos = p;
    return 1;
}

/* 1 when line s[0..n) is `TIMESTAMP LEVEL SERVICE [message]`; f filled. */
static int parse_structured(const char *s, size_t n, int tz_offset_s, text_fields *f)
{
    size_t pos = 0, a, e, used;
    if (!next_token(s, n, &pos, &a, &e) || a != 0)
        return 0;
    if (time_parse_rfc3339(s, e, tz_offset_s, &f->ts_ms, &used) < 0 || used != e)
        return 0;
    if (!next_token(s, n, &pos, &a, &e))
        return 0;
    f->level = ingest_level_canonical(s + a, e - a);
    if (!f->level)
        return 0;
    f->level_word = s + a;
    f->level_len = e - a;
    if (!next_token(s, n, &pos, &a, &e) || !service_token_ok(s + a, e - a))
        return 0;
    f->service = s + a;
    f->service_len = e - a;
    while (pos < n && (s[pos] == ' ' || s[pos] == '\t'))
        pos++;
    f->msg = s + pos;
    f->msg_len = n - pos;
    return 1;
}

/* The entry being built. */
typedef struct text_entry {
    int open;
    long line;
    int64_t ts_ms;
    const char *level;
    const char *service;
    int structured;     /* the line gave timestamp and service */
} text_entry;

/* Moves the open entry (if any) into the batch. 0, or -2 when out of memory. */
static int flush_entry(ingest_ctx *c, text_entry *cur, msgbuf *m)
{
    if (!cur->open)
        return 0;
    log_entry *e = batch_push(c->b);
    if (!e)
        return -2;
    char *msg = batch_strndup(c->b, m->len ? m->p : "", m->len);
    if (!msg)
        return -2;
    e->ts_ms = cur->ts_ms;
    e->level = cur->level;
    e->service = cur->service;
    e->message = msg;
    e->message_len = m->len;
    e->attributes = NULL;
    e->line = cur->line;
    if (m->truncated)
        c->b->stats.truncated++;
    cur->open = 0;
    mb_reset(m);
    return ingest_entry_finish(c, e, cur->structured ? INGEST_GIVEN_TS | INGEST_GIVEN_SERVICE : 0);
}

/* Starts an entry at line ln from line s[0..n). 0, -1 (too many), -2 (memory). */
static int start_entry(ingest_ctx *c, text_entry *cur, msgbuf *m, long ln, const char *s, size_t n,
                       long *started)
{
    text_fields f;
    if ((size_t)*started >= c->max_entries)
        return ingest_err_set(c->err, 413, "too_many_entries", ln, -1,
                              "line %ld: too many entries (at most %zu in one request)", ln,
                              c->max_entries);
    (*started)++;
    cur->open = 1;
    cur->line = ln;
    if (parse_structured(s, n, c->o->tz_offset_s, &f)) {
        cur->structured = 1;
        cur->ts_ms = f.ts_ms;
        cur->level = f.level;
        if (strlen(f.level) != f.level_len || strncasecmp(f.level, f.level_word, f.level_len) != 0)
            c->b->stats.level_normalized++;
        cur->service = ingest_ctx_service(c, f.service, f.service_len);
        if (!cur->service)
            return -2;
        return mb_append(m, f.msg, f.msg_len);
    }
    cur->structured = 0;
    cur->ts_ms = c->b->received_ms;
    cur->level = NULL;
    cur->service = ingest_ctx_default_service(c);
    if (!cur->service)
        return -2;
    c->b->stats.timestamp_defaulted++;
    c->b->stats.service_defaulted++;
    return mb_append(m, s, n);
}

/* Joins line s[0..n) to the open entry. */
static int join_line(ingest_ctx *c, msgbuf *m, const char *s, size_t n)
{
    c->b->stats.lines_joined++;
    if (mb_append(m, "\n", 1) < 0)
        return -2;
    return mb_append(m, s, n);
}

/* A line that continues a Java stack trace (or any indented line). */
static int is_java_continuation(const char *s, size_t n)
{
    if (n && (s[0] == ' ' || s[0] == '\t'))
        return 1;
    return starts_with(s, n, "at ") || starts_with(s, n, "Caused by:") || starts_with(s, n, "...") ||
           starts_with(s, n, "Suppressed:");
}

static int is_ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '$';
}

static int ends_with(const char *s, size_t n, const char *lit)
{
    size_t ln = strlen(lit);
    return n >= ln && memcmp(s + n - ln, lit, ln) == 0;
}

/*
 * `java.lang.IllegalStateException: boom`, `System.IO.IOException`: a dotted
 * class name ending in Exception, Error or Throwable, alone or before ':'.
 */
static int is_exception_header(const char *s, size_t n)
{
    size_t i = 0, seg = 0;
    int dots = 0;
    for (; i < n && s[i] != ':'; i++) {
        if (s[i] == '.') {
            if (i == seg)
                return 0;
            dots++;
            seg = i + 1;
        } else if (!is_ident_char(s[i]) || (i == seg && s[i] >= '0' && s[i] <= '9')) {
            return 0;
        }
    }
    if (dots == 0 || seg == i)
        return 0;
    return ends_with(s + seg, i - seg, "Exception") || ends_with(s + seg, i - seg, "Error") ||
           ends_with(s + seg, i - seg, "Throwable");
}

/* The line starting at body[pos] is a stack frame: indented, or `at ...`. */
static int next_is_frame(const char *body, size_t len, size_t pos)
{
    if (pos >= len)
        return 0;
    return body[pos] == ' ' || body[pos] == '\t' || starts_with(body + pos, len - pos, "at ");
}

int ingest_parse_text(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err)
{
    ingest_ctx c;
    text_entry cur = {0};
    msgbuf m = {0};
    long ln = 0, started = 0, pending_blank = 0;
    size_t pos = 0, pending_from = 0;
    int rc = 0;
    /* in_tb: inside a Python traceback; after_tb: its exception line was just joined */
    int in_tb = 0, after_tb = 0;

    ingest_ctx_init(&c, o, b, err);
    m.max = c.max_line;
    ingest_skip_bom(&body, &len);

    while (pos < len && rc == 0) {
        const char *s;
        size_t n = ingest_next_line(body, len, &pos, &s);
        if (n && s[n - 1] == '\r')
            n--;
        ln++;

        int blank = is_blank(s, n);
        int tb_header = trimmed_equals(s, n, TB_HEADER);
        int tb_chain = trimmed_equals(s, n, TB_DURING) || trimmed_equals(s, n, TB_CAUSE);
        int indented = n && (s[0] == ' ' || s[0] == '\t');

        if (cur.open && in_tb) {
            text_fields f;
            if (blank || indented || tb_header || tb_chain) {
                rc = join_line(&c, &m, s, n);
                continue;
            }
            in_tb = 0;
            if (!parse_structured(s, n, o->tz_offset_s, &f)) {
                /* the exception line ends the traceback */
                rc = join_line(&c, &m, s, n);
                after_tb = 1;
                pending_blank = 0;
                continue;
            }
            /* fall through: a structured line starts a new entry */
        }
        if (blank) {
            if (after_tb && pending_blank++ == 0)
                pending_from = (size_t)(s - body);
            continue;
        }
        if (cur.open && (tb_header || tb_chain || is_java_continuation(s, n) ||
                         (is_exception_header(s, n) && next_is_frame(body, len, pos)))) {
            /* blank lines between chained tracebacks belong to the entry */
            if (after_tb && (tb_header || tb_chain)) {
                for (; pending_blank > 0 && rc == 0; pending_blank--) {
                    const char *bs = body + pending_from;
                    const char *bnl = memchr(bs, '\n', len - pending_from);
                    size_t bn = (size_t)(bnl - bs); /* a pending line is never the last one */
                    pending_from += bn + 1;
                    if (bn && bs[bn - 1] == '\r')
                        bn--;
                    rc = join_line(&c, &m, bs, bn);
                }
            }
            if (tb_header || tb_chain)
                in_tb = 1;
            after_tb = 0;
            pending_blank = 0;
            if (rc == 0)
                rc = join_line(&c, &m, s, n);
            continue;
        }
        after_tb = 0;
        pending_blank = 0;
        rc = flush_entry(&c, &cur, &m);
        if (rc == 0)
            rc = start_entry(&c, &cur, &m, ln, s, n, &started);
        in_tb = rc == 0 && (tb_header || tb_chain);
    }
    if (rc == 0)
        rc = flush_entry(&c, &cur, &m);
    free(m.p);
    return rc;
}
