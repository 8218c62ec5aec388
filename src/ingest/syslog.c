/*
 * syslog.c — syslog lines over HTTP (?format=syslog on /ingest), as
 * syslog-ng's http() destination batches them: one message per line.
 *
 * Each line is RFC 5424 or RFC 3164, the leading <PRI> optional:
 *   <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...]|- MSG      (RFC 5424)
 *   <PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG                   (RFC 3164)
 * giving timestamp, level (PRI's severity: 0-2 fatal, 3 error, 4 warn, 5-6
 * info, 7 debug), service (APP or TAG), message, and attributes host,
 * facility, pid, msgid and structured_data when present. A "-" is absent.
 * Without PRI, or with notice or info (the defaults of logger and of
 * journald's stdout), the level the line states wins (level.c); a message
 * that is a JSON object is read like an NDJSON entry (ingest_entry_finish).
 * RFC 3164 has no year or zone: the year is the receive time's (the year
 * before when that would put the line more than a day in the future) and
 * the zone is the configured timezone. A line that is neither is kept whole
 * as the message, with the receive time, like text/plain.
 *
 * A message is taken as it comes, like a text/plain line: bytes that are
 * not valid UTF-8, and NUL bytes, become U+FFFD (legacy senders write
 * Latin-1; refusing the batch would lose its good lines with the bad one).
 *
 * Threads: the HTTP thread that owns the batch. Limits: max_entries lines
 * (413), max_line per message, service names of 1..128 bytes without
 * control characters (else the default service).
 */
#include "ingest/common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"

static const char *const FACILITIES[24] = {"kern",   "user",   "mail",   "daemon", "auth",   "syslog",
                                           "lpr",    "news",   "uucp",   "cron",   "authpriv", "ftp",
                                           "ntp",    "audit",  "alert",  "clock",  "local0", "local1",
                                           "local2", "local3", "local4", "local5", "local6", "local7"};
static const char *const LEVELS[8] = {"fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug"};

typedef struct span {
    const char *p;
    size_t n;
} span;

/* Next space-delimited token of [*s, end); moves *s past it and one space. */
static span token(const char **s, const char *end)
{
    span t = {*s, 0};
    while (*s < end && **s != ' ')
        (*s)++;
    t.n = (size_t)(*s - t.p);
    if (*s < end)
        (*s)++;
    return t;
}

static int nil(span t)
{
    return t.n == 0 || (t.n == 1 && t.p[0] == '-');
}

static int set_attr(json_t **attrs, const char *key, span v)
{
    if (nil(v))
        return 0;
    if (!utf8_valid(v.p, v.n) || memchr(v.p, '\0', v.n))
        return 0; /* not worth refusing a line for */
    if (!*attrs && !(*attrs = json_object()))
        return -2;
    json_t *js = json_stringn(v.p, v.n);
    return js && json_object_set_new(*attrs, key, js) == 0 ? 0 : -2;
}

static int valid_service(span t)
{
    if (nil(t) || t.n > INGEST_SERVICE_MAX || !utf8_valid(t.p, t.n))
        return 0;
    for (size_t i = 0; i < t.n; i++) {
        if ((unsigned char)t.p[i] < 0x20 || t.p[i] == 0x7f)
            return 0;
    }
    return 1;
}

/* RFC 3164 "Mmm dd hh:mm:ss" (15 bytes) at s. 0 and *ms, or -1. */
static int parse_3164_time(const char *s, size_t n, const ingest_ctx *c, int64_t *ms)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (n < 15 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':')
        return -1;
    int mon = -1;
    for (int i = 0; i < 12; i++) {
        if (memcmp(s, months + 3 * i, 3) == 0)
            mon = i + 1;
    }
    if (mon < 0)
        return -1;
    char day[3] = {s[4] == ' ' ? '0' : s[4], s[5], 0};
    char year[32];
    time_format_rfc3339(c->b->received_ms, year, sizeof year);
    int y = atoi(year);
    for (int attempt = 0; attempt < 2; attempt++, y--) {
        char iso[32];
        snprintf(iso, sizeof iso, "%04d-%02d-%sT%.8s", y, mon, day, s + 7);
        size_t used = 0;
        if (time_parse_rfc3339(iso, strlen(iso), c->o->tz_offset_s, ms, &used) != 0 || used != strlen(iso))
            return -1;
        if (*ms <= c->b->received_ms + INT64_C(86400000))
            return 0;
    }
    return 0;
}

/* Skips RFC 5424 structured data ([id k="v"...]... or -) at *s; its span, or n=SIZE_MAX when malformed. */
static span structured_data(const char **s, const char *end)
{
    span sd = {*s, 0};
    if (*s < end && **s == '-') {
        (*s)++;
        sd.n = 1;
    } else {
        while (*s < end && **s == '[') {
            int quoted = 0;
            (*s)++;
            while (*s < end && (quoted || **s != ']')) {
                if (**s == '\\' && *s + 1 < end)
                    (*s)++;
                else if (**s == '"')
                    quoted = !quoted;
                (*s)++;
            }
            if (*s >= end) {
                sd.n = SIZE_MAX;
                return sd;
            }
            (*s)++; /* ] */
        }
        sd.n = (size_t)(*s - sd.p);
    }
    if (*s < end && **s == ' ')
        (*s)++;
    return sd;
}

static int parse_line(ingest_ctx *c, const char *s, size_t n, long ln)
{
    const char *end = s + n, *p = s;
    int pri = -1, rc = 0;
    int64_t ts = 0;
    int has_ts = 0;
    span app = {NULL, 0}, msg = {s, n};
    json_t *attrs = NULL;

    if (p < end && *p == '<') {
        const char *q = p + 1;
        int v = 0, digits = 0;
        while (q < end && *q >= '0' && *q <= '9' && digits < 3) {
            v = v * 10 + (*q++ - '0');
            digits++;
        }
        if (digits && q < end && *q == '>' && v <= 191) {
            pri = v;
            p = q + 1;
        }
    }
    const char *body = p;
    if (end - p >= 2 && p[0] == '1' && p[1] == ' ') { /* RFC 5424 */
        p += 2;
        span t = token(&p, end), host = token(&p, end);
        app = token(&p, end);
        span procid = token(&p, end), msgid = token(&p, end);
        span sd = structured_data(&p, end);
        size_t used = 0;
        if (sd.n != SIZE_MAX && (nil(t) || (time_parse_rfc3339(t.p, t.n, c->o->tz_offset_s, &ts, &used) == 0 &&
                                           used == t.n))) {
            has_ts = !nil(t);
            if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
                p += 3;
            msg.p = p;
            msg.n = (size_t)(end - p);
            if ((rc = set_attr(&attrs, "host", host)) || (rc = set_attr(&attrs, "pid", procid)) ||
                (rc = set_attr(&attrs, "msgid", msgid)) || (sd.n > 1 && (rc = set_attr(&attrs, "structured_data", sd))))
                goto out;
        } else {
            app.p = NULL;
            app.n = 0;
            pri = -1; /* not syslog after all: keep the whole line */
        }
    } else if (parse_3164_time(p, (size_t)(end - p), c, &ts) == 0) { /* RFC 3164 */
        has_ts = 1;
        p += 15;
        if (p < end && *p == ' ')
            p++;
        span host = token(&p, end);
        const char *tag = p;
        while (p < end && *p != '[' && *p != ':' && *p != ' ')
            p++;
        app.p = tag;
        app.n = (size_t)(p - tag);
        if (p < end && *p == '[') {
            const char *pid = ++p;
            while (p < end && *p != ']')
                p++;
            span pd = {pid, (size_t)(p - pid)};
            if ((rc = set_attr(&attrs, "pid", pd)))
                goto out;
            if (p < end)
                p++;
        }
        if (p < end && *p == ':')
            p++;
        if (p < end && *p == ' ')
            p++;
        msg.p = p;
        msg.n = (size_t)(end - p);
        if ((rc = set_attr(&attrs, "host", host)))
            goto out;
    } else if (pri >= 0) {
        msg.p = body; /* <PRI> and free text */
        msg.n = (size_t)(end - body);
    }
    if (pri >= 0 && pri / 8 < 24) {
        span fac = {FACILITIES[pri / 8], strlen(FACILITIES[pri / 8])};
        if ((rc = set_attr(&attrs, "facility", fac)))
            goto out;
    }

    log_entry *e = ingest_entry_new(c, ln, has_ts, ts);
    if (!e) {
        rc = -2;
        goto out;
    }
    /* notice and info are what senders put when they do not know (logger, journald's stdout): the line's own
     * level, when it states one, is more precise */
    const char *pri_level = pri >= 0 ? LEVELS[pri & 7] : NULL;
    e->level = pri >= 0 && ((pri & 7) == 5 || (pri & 7) == 6) ? NULL : pri_level;
    int cut;
    if (!(e->message = ingest_text_copy(c->b, msg.p, msg.n, c->max_line, &e->message_len, &cut))) {
        rc = -2;
        goto out;
    }
    c->b->stats.truncated += cut;
    if ((rc = ingest_entry_service(c, e, valid_service(app) ? app.p : NULL, app.n)) != 0)
        goto out;
    if (attrs && !(e->attributes = ingest_dump_json(c->b, attrs, JSON_COMPACT))) {
        rc = -2;
        goto out;
    }
    rc = ingest_entry_finish(c, e, (has_ts ? INGEST_GIVEN_TS : 0) | (valid_service(app) ? INGEST_GIVEN_SERVICE : 0));
    if (!e->level)
        e->level = pri_level;
out:
    json_decref(attrs);
    return rc;
}

/* One line of the body: its trailing white space dropped; a blank line is no entry. */
static int syslog_line(ingest_ctx *c, const char *s, size_t n, long ln, void *arg)
{
    (void)arg;
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0)
        return 0;
    return ingest_line_room(c, ln) ? -1 : parse_line(c, s, n, ln);
}

int ingest_parse_syslog(const char *body, size_t len, const ingest_opts *o, batch *b, ingest_error *err)
{
    return ingest_each_line(body, len, o, b, err, syslog_line, NULL);
}
