/*
 * payload.c — the body each kind of destination receives for one
 * notification. Built once, when the notification is queued, so a retry or a
 * restart sends the same bytes with the same dedup key.
 *
 * Every body states the suppression ("suppressing repeats until …") and links
 * to the window on the service. Evidence lines are log text: they are data,
 * shown in code blocks or JSON strings, never URLs or keys.
 *
 * Threads: called on analysis workers inside the store's transaction; pure.
 */
#include "anomalog/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"

#define SUMMARY_MAX 1000 /* PagerDuty caps payload.summary at 1024 characters */

const char *route_pagerduty_severity(const char *severity)
{
    if (!strcmp(severity, "critical"))
        return "critical";
    if (!strcmp(severity, "high"))
        return "error";
    if (!strcmp(severity, "medium"))
        return "warning";
    return "info";
}

static void fmt_time(int64_t ms, char *buf, size_t len)
{
    time_format_rfc3339(ms, buf, len);
}

static json_t *anomaly_object(const notification *n)
{
    char s[40], e[40];
    fmt_time(n->window_start_ms, s, sizeof s);
    fmt_time(n->window_end_ms, e, sizeof e);
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:s, s:s}", "id", (json_int_t)n->anomaly_id,
                     "window_id", (json_int_t)n->window_id, "service", n->service, "type", n->type, "severity",
                     n->severity, "summary", n->summary, "evidence", n->evidence, "recommended_action",
                     n->recommended_action, "analyzer", n->analyzer ? n->analyzer : "llm", "window_start", s,
                     "window_end", e);
}

/* Slack mrkdwn: &, < and > are control characters. Appends to a bounded buffer. */
static void slack_append(char *buf, size_t cap, size_t *len, const char *text, int escape)
{
    for (const char *p = text; *p && *len + 6 < cap; p++) {
        const char *rep = NULL;
        if (escape && *p == '&')
            rep = "&amp;";
        else if (escape && *p == '<')
            rep = "&lt;";
        else if (escape && *p == '>')
            rep = "&gt;";
        else if (escape && *p == '`')
            rep = "'"; /* a backtick would end the code block early */
        if (rep) {
            size_t k = strlen(rep);
            memcpy(buf + *len, rep, k);
            *len += k;
        } else {
            buf[(*len)++] = *p;
        }
    }
    buf[*len] = '\0';
}

static json_t *slack_body(const notification *n, const char *until, const char *ws, const char *we)
{
    size_t cap = 12000, len = 0;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    char up[16];
    size_t i;
    for (i = 0; n->severity[i] && i < sizeof up - 1; i++)
        up[i] = (char)(n->severity[i] >= 'a' && n->severity[i] <= 'z' ? n->severity[i] - 32 : n->severity[i]);
    up[i] = '\0';
    /* the text in pieces; log text (service, type, summary, evidence, action) escaped */
    const struct {
        const char *text;
        int escape;
    } head[] = {{"*[", 0}, {up, 0}, {"] ", 0}, {n->service, 1}, {": ", 0}, {n->type, 1}, {"*\nWindow: ", 0},
                {ws, 0}, {" to ", 0}, {we, 0}, {"\n", 0}, {n->summary, 1}},
      tail[] = {{"\n*Recommended action:* ", 0}, {n->recommended_action, 1}, {"\n<", 0}, {n->link, 0},
                {"|Open the window> (suppressing repeats until ", 0}, {until, 0}, {")", 0}};
    t[0] = '\0';
    for (i = 0; i < sizeof head / sizeof head[0]; i++)
        slack_append(t, cap, &len, head[i].text, head[i].escape);
    if (json_array_size(n->evidence)) {
        slack_append(t, cap, &len, "\n```\n", 0);
        size_t k;
        json_t *x;
        json_array_foreach(n->evidence, k, x)
        {
            if (k >= 10)
                break;
            slack_append(t, cap, &len, json_string_value(x) ? json_string_value(x) : "", 1);
            slack_append(t, cap, &len, "\n", 0);
        }
        slack_append(t, cap, &len, "```", 0);
    }
    for (i = 0; i < sizeof tail / sizeof tail[0]; i++)
        slack_append(t, cap, &len, tail[i].text, tail[i].escape);
    json_t *o = json_pack("{s:s}", "text", t);
    free(t);
    return o;
}

json_t *route_payload(dest_kind k, const notification *n)
{
    char until[40], ws[40], we[40], sup[96];
    fmt_time(n->until_ms, until, sizeof until);
    fmt_time(n->window_start_ms, ws, sizeof ws);
    fmt_time(n->window_end_ms, we, sizeof we);
    snprintf(sup, sizeof sup, "suppressing repeats until %s", until);
    switch (k) {
    case DEST_PAGERDUTY: {
        char summary[SUMMARY_MAX + 1];
        snprintf(summary, sizeof summary, "[%s] %s %s: %.700s (%s)", n->severity, n->service, n->type, n->summary,
                 sup);
        char source[160];
        snprintf(source, sizeof source, "anomalog/%s", n->service);
        json_t *details = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:I, s:s}", "service", n->service,
                                    "type", n->type, "severity", n->severity, "window_start", ws, "window_end", we,
                                    "evidence", n->evidence, "recommended_action", n->recommended_action,
                                    "suppression", sup, "anomaly_id", (json_int_t)n->anomaly_id, "link", n->link);
        return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:o}, s:[{s:s, s:s}], s:s, s:s}",
                         "event_action", "trigger", "dedup_key", n->dedup_key, "payload", "summary", summary,
                         "severity", route_pagerduty_severity(n->severity), "source", source, "component",
                         n->service, "class", n->type, "timestamp", we, "custom_details", details, "links", "href",
                         n->link, "text", "The window on anomalog", "client", "anomalog", "client_url", n->link);
    }
    case DEST_SLACK:
        return slack_body(n, until, ws, we);
    case DEST_ALERTMANAGER: {
        size_t cap = 8192, len = 0, i;
        char *ev = malloc(cap);
        json_t *x;
        if (!ev)
            return NULL;
        ev[0] = '\0';
        json_array_foreach(n->evidence, i, x)
        {
            int w = snprintf(ev + len, cap - len, "%s%s", i ? "\n" : "", json_string_value(x) ? json_string_value(x) : "");
            if (w < 0 || (size_t)w >= cap - len)
                break;
            len += (size_t)w;
        }
        json_t *o = json_pack("[{s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:s}]",
                              "labels", "alertname", "AnomalogAnomaly", "service", n->service, "severity", n->severity,
                              "type", n->type, "annotations", "summary", n->summary, "description", ev,
                              "recommended_action", n->recommended_action, "suppression", sup, "link", n->link,
                              "dedup_key", n->dedup_key, "generatorURL", n->link, "startsAt", ws, "endsAt", until);
        free(ev);
        return o;
    }
    case DEST_WEBHOOK:
    case DEST_FILE: {
        char msg[1400];
        snprintf(msg, sizeof msg, "[%s] %s %s: %.1000s (%s)", n->severity, n->service, n->type, n->summary, sup);
        return json_pack("{s:o, s:s, s:s, s:s, s:s}", "anomaly", anomaly_object(n), "dedup_key", n->dedup_key,
                         "suppressed_until", until, "link", n->link, "message", msg);
    }
    }
    return NULL;
}
