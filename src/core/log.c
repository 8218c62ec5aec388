/*
 * log.c — anomalog's own diagnostics (see anomalog/log.h).
 *
 * A line is built whole in memory and written with one write(2): with
 * O_APPEND files and pipes (up to PIPE_BUF) that keeps concurrent lines
 * apart without a lock. JSON strings are escaped by hand so that a message
 * carrying invalid UTF-8 (an error quoting a client's bytes) still gives a
 * valid line: such bytes become U+FFFD.
 */
#include "anomalog/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anomalog/strbuf.h"
#include "anomalog/timeutil.h"
#include "anomalog/utf8.h"

static int g_json = 0;
static int g_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "notice"};

void log_init(int json, int min_level)
{
    g_json = json ? 1 : 0;
    if (min_level < LOG_DEBUG)
        min_level = LOG_DEBUG;
    if (min_level > LOG_ERROR)
        min_level = LOG_ERROR;
    g_min = min_level;
}

int log_enabled(int level)
{
    level &= LOG_LEVEL_MASK;
    return level >= LOG_NOTICE || level >= g_min;
}

static void put_json_string(strbuf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    strbuf_add(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            strbuf_add(b, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char e[8];
            const char *sh = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (sh)
                strbuf_str(b, sh);
            else {
                snprintf(e, sizeof e, "\\u%04x", c);
                strbuf_str(b, e);
            }
            i++;
        } else {
            size_t l = utf8_seq_len(u + i, n - i);
            if (l) {
                strbuf_add(b, s + i, l);
                i += l;
            } else {
                strbuf_str(b, "\\ufffd");
                i++;
            }
        }
    }
    strbuf_add(b, "\"", 1);
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void log_vmsg(int level, const char *component, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    int bare = (level & LOG_BARE) != 0, versioned = (level & LOG_VERSIONED) != 0;
    level &= LOG_LEVEL_MASK;
    if (level > LOG_NOTICE)
        level = LOG_ERROR;
    if (!component || !*component)
        component = "main";

    char small[512];
    char *msg = small;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        snprintf(small, sizeof small, "(unformattable message: %s)", fmt);
    } else if ((size_t)n >= sizeof small) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            msg = big;
        } /* else the truncated text in small */
    }
    size_t ml = strlen(msg);
    while (ml > 0 && msg[ml - 1] == '\n') /* callers need not end with a newline; a trailing one is not doubled */
        msg[--ml] = '\0';

    strbuf b = STRBUF_INIT(STRBUF_UNBOUNDED);
    if (g_json) {
        char ts[40];
        time_format_rfc3339(time_now_ms(), ts, sizeof ts);
        strbuf_str(&b, "{\"ts\":\"");
        strbuf_str(&b, ts);
        strbuf_str(&b, "\",\"level\":\"");
        strbuf_str(&b, level_names[level]);
        strbuf_str(&b, "\",\"component\":");
        put_json_string(&b, component);
        strbuf_str(&b, ",\"msg\":");
        put_json_string(&b, msg);
        strbuf_str(&b, "}\n");
    } else {
        strbuf_str(&b, versioned ? "anomalog " ANOMALOG_VERSION ": " : "anomalog: ");
        if (!bare) {
            strbuf_str(&b, component);
            strbuf_str(&b, ": ");
        }
        strbuf_str(&b, msg);
        strbuf_str(&b, "\n");
    }
    if (!b.oom && b.p)
        write_all(b.p, b.len);
    else /* no memory for the line: the message alone, still one write */
        write_all(msg, strlen(msg)), write_all("\n", 1);
    strbuf_free(&b);
    if (msg != small)
        free(msg);
}

void log_msg(int level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, component, fmt, ap);
    va_end(ap);
}
