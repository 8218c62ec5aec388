/*
 * digest_render.c — the digest's text, the part of the prompt the model
 * reads: the window's counts by level, its history, the baseline's findings,
 * the "rare, unclustered" group, then the templates, most informative first,
 * each with its count, span, history and exemplars (and under them the
 * salient attributes of their lines, put_fields), unusual values with their
 * line; common templates past the plan's number folded into one line.
 * digest_end() renders with less and less until the text fits the budget.
 *
 * Threads: called by digest_end() on the analysis worker building the
 * digest; no state of its own.
 *
 * Bounds: the text is a strbuf without a bound of its own (digest_end() cuts it at
 * the budget); an exemplar or value is shortened to the plan's line_max (a
 * stack trace keeps its first line and its last exception / "Caused by:"
 * line); FIELDS_SHOWN attributes a line.
 */
#include "digest_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "anomalog/timeutil.h"

/* ---- exemplars ------------------------------------------------------------ */

/* Writes one line as the window shows it, shortened: a long stack trace keeps
 * its first line and its last exception line. Continuation lines are indented. */
static void put_line(strbuf *b, const prompt_line *l, const char *msg, size_t max)
{
    char ts[40];
    strbuf_printf(b, "    %s %s ", time_format_rfc3339(l->ts_ms, ts, sizeof ts), l->level && *l->level ? l->level : "-");
    size_t len = strlen(msg);
    size_t head = digest_first_line_len(msg);
    if (len <= max) {
        for (size_t i = 0; i < len; i++) {
            if (msg[i] == '\n')
                strbuf_add(b, "\n        ", 9);
            else
                strbuf_add(b, &msg[i], 1);
        }
        strbuf_add(b, "\n", 1);
        return;
    }
    /* the tail: the last line that names the exception ("Caused by:", "Error:", "Exception") */
    const char *tail = NULL;
    for (const char *p = msg + len; p > msg + head;) {
        const char *e = p;
        while (p > msg && p[-1] != '\n')
            p--;
        size_t n = (size_t)(e - p);
        if (n && (memmem(p, n, "Caused by:", 10) || memmem(p, n, "Exception", 9) || memmem(p, n, "Error", 5))) {
            tail = p;
            break;
        }
        if (p > msg)
            p--;
    }
    size_t hn = head < max ? head : max;
    strbuf_add(b, msg, hn);
    if (hn < head)
        strbuf_add(b, "…", 3);
    if (tail) {
        size_t tn = digest_first_line_len(tail);
        strbuf_printf(b, "\n        … (%zu bytes omitted) …\n        %.*s", len - head - tn, (int)(tn < max ? tn : max), tail);
    } else if (head < len) {
        strbuf_printf(b, "\n        … (%zu more bytes)", len - head);
    }
    strbuf_add(b, "\n", 1);
}

/* v >= 0 to one decimal, without a trailing ".0": 513, 9.5. buf holds 40 bytes. */
static const char *tenths(double v, char *buf)
{
    unsigned long long k = v > 0 && v < 1e15 ? (unsigned long long)(v * 10 + 0.5) : 0;
    if (k % 10)
        snprintf(buf, 40, "%llu.%llu", k / 10, k % 10);
    else
        snprintf(buf, 40, "%llu", k / 10);
    return buf;
}

/* ms as seconds with the milliseconds only when there are some: 24.606, 295, -1.5. buf holds 40 bytes. */
static const char *offset_s(int64_t ms, char *buf)
{
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    int n = snprintf(buf, 40, "%s%llu", ms < 0 ? "-" : "", (unsigned long long)(a / 1000));
    unsigned frac = (unsigned)(a % 1000);
    if (frac) {
        snprintf(buf + n, 40 - (size_t)n, ".%03u", frac);
        for (char *e = buf + strlen(buf) - 1; *e == '0'; e--)
            *e = '\0';
    }
    return buf;
}

static void render_rare(ctx *c, const render_plan *p, strbuf *b);

/* ---- salient fields ------------------------------------------------------ */

#define FIELDS_SHOWN 4     /* salient attributes shown under one exemplar */
#define FIELD_LONG 120     /* a string this long is salient whatever its name (a text, a trace) */

/* Is an attribute salient by its name: it carries an error, its reason or a status? */
static int salient_name(const char *k)
{
    static const char *const names[] = {"error", "err", "exception", "exc", "reason", "cause", "status", "alert",
                                        "stack", "trace", "fault", "failure", "panic", "fatal"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasestr(k, names[i]))
            return 1;
    return 0;
}

/* Is a string value salient by its shape: a long text or a stack trace? */
static int salient_shape(const char *v, size_t n)
{
    return n >= FIELD_LONG || memmem(v, n, "\n\tat ", 5) || memmem(v, n, "Traceback", 9) ||
           memmem(v, n, "Exception", 9);
}

/*
 * Under an exemplar, the salient attributes of its line (digest_input.attrs):
 * by name or by shape, at most FIELDS_SHOWN, each value redacted and cut to
 * max bytes (a stack trace keeps its first and its exception line, as
 * put_line does). Attributes that are not a JSON object are left out.
 */
static void put_fields(ctx *c, strbuf *b, size_t line, size_t max)
{
    const char *a = c->kl[line].attrs;
    if (!a || !*a)
        return;
    json_t *o = json_loads(a, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    const char *k;
    json_t *v;
    int shown = 0;
    json_object_foreach(o, k, v)
    {
        if (shown == FIELDS_SHOWN)
            break;
        char *text = json_is_string(v) ? strdup(json_string_value(v))
                                       : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            continue;
        size_t n = strlen(text);
        if (n && (salient_name(k) || (json_is_string(v) && salient_shape(text, n)))) {
            char *red = c->o->redact ? redact_text(c->o->redact, c->rs, text, n, NULL) : NULL;
            char *kred = c->o->redact ? redact_text(c->o->redact, c->rs, k, strlen(k), NULL) : NULL;
            strbuf_printf(b, "      field %s:\n", kred ? kred : k);
            prompt_line pl = c->kl[line].l;
            /* the value as a line of its own: put_line's shortening, its indent for continuations */
            size_t mark = b->len;
            put_line(b, &pl, red ? red : c->o->redact ? "<redaction failed>" : text, max);
            /* put_line wrote "    ts level value": keep the value alone, further indented */
            if (!b->oom) {
                char *sp = memchr(b->p + mark + 4, ' ', b->len - mark - 4);
                char *sp2 = sp ? memchr(sp + 1, ' ', b->len - (size_t)(sp + 1 - b->p)) : NULL;
                if (sp2) {
                    size_t cut = (size_t)(sp2 + 1 - (b->p + mark + 4));
                    memmove(b->p + mark + 8, b->p + mark + 4 + cut, b->len - mark - 4 - cut);
                    memset(b->p + mark, ' ', 8);
                    b->len = b->len - cut + 4;
                    b->p[b->len] = '\0';
                }
            }
            free(red);
            free(kred);
            shown++;
        }
        free(text);
    }
    json_decref(o);
}

void digest_render(ctx *c, const digest *d, const render_plan *p, strbuf *b)
{
    const digest_input *in = c->in;
    char s1[40], s2[40];
    /* the service and the span are in the prompt's header, and in the window the digest is stored with */
    size_t total = in->total_lines > c->n_lines ? in->total_lines : c->n_lines;
    strbuf_printf(b, "Digest: %zu lines", total);
    if (total > c->n_lines)
        strbuf_printf(b, " (the first %zu summarised)", c->n_lines);
    strbuf_printf(b, ", %zu templates (%zu new, %zu at an unusual rate).\n", c->nt, d->n_new, d->n_changed);
    strbuf_printf(b, "Lines by level:");
    for (int r = 6; r >= 0; r--)
        if (d->level_totals[r])
            strbuf_printf(b, " %s %ld", r ? digest_level_name(r) : "unknown", d->level_totals[r]);
    strbuf_printf(b, "\nHistory: %d earlier window(s) of this service", in->history_depth);
    if (in->trailing_error_avg >= 0)
        strbuf_printf(b, ", %.1f error lines per window on average", in->trailing_error_avg);
    strbuf_printf(b, ".\n");
    size_t nf = json_array_size(d->findings);
    if (nf) {
        strbuf_printf(b, "Baseline findings (statistics, no model; hints to check against the lines):\n");
        for (size_t i = 0; i < nf; i++) {
            json_t *f = json_array_get(d->findings, i);
            strbuf_printf(b, "- [%s] %s: %s\n", json_string_value(json_object_get(f, "severity")),
                      json_string_value(json_object_get(f, "type")), json_string_value(json_object_get(f, "summary")));
        }
    }
    render_rare(c, p, b); /* before the templates: a cut at the budget never drops it */
    strbuf_printf(b, "Templates, most informative first:\n");
    size_t common_listed = 0, folded = 0;
    uint64_t folded_lines = 0;
    for (size_t k = 0; k < c->nt; k++) {
        tstat *t = &c->t[c->order[k]];
        if (!t->notable && common_listed >= p->common_shown) {
            folded++;
            folded_lines += t->count;
            continue;
        }
        if (!t->notable)
            common_listed++;
        /* "T<id> LEVEL x<count> first..last" (seconds after the window's start) then NEW, or "usual R xF in S/H": R lines per earlier
         * window, this window F times that, seen in S of the last H windows (the system prompt says so);
         * the count covers every line, so lines not shown as exemplars are not mentioned again */
        strbuf_printf(b, "T%lld %s x%llu %s..%ss", (long long)t->id, digest_level_name(t->max_level),
                  (unsigned long long)t->count, offset_s(t->first_ts - in->start_ms, s1),
                  offset_s(t->last_ts - in->start_ms, s2));
        if (t->is_new)
            strbuf_printf(b, " NEW");
        else if (t->has_h)
            strbuf_printf(b, " usual %s x%s in %d/%d", tenths(t->h.trailing_avg, s1), tenths(t->ratio, s2),
                      t->h.windows_seen, c->o->history_windows);
        if (t->benign)
            strbuf_printf(b, " known-benign");
        strbuf_printf(b, ": %s\n", t->text ? t->text : "");
        int changed = t->is_new || t->rare || t->changed || t->unusual;
        size_t want = !t->notable ? p->common_ex : changed ? p->notable_ex : p->level_ex;
        for (size_t e = 0; e < t->n_ex && e < want; e++)
        {
            put_line(b, &c->kl[t->ex[e]].l, digest_line_text(c, t->ex[e]), p->line_max);
            put_fields(c, b, t->ex[e], p->line_max);
        }
        if (t->unusual) {
            for (int pos = 0; pos < PARAM_POSITIONS; pos++) {
                for (int k2 = 0; k2 < t->n_shapes[pos]; k2++) {
                    shape_slot *sl = &t->shapes[pos][k2];
                    if ((uint64_t)sl->count * 100 >= t->count || t->overflow[pos])
                        continue;
                    const char *msg = digest_line_text(c, sl->line);
                    strbuf_printf(b, "    unusual value (%u of %llu lines):\n", sl->count, (unsigned long long)t->count);
                    put_line(b, &c->kl[sl->line].l, msg, p->line_max);
                }
            }
        }
    }
    if (folded)
        strbuf_printf(b, "… and %zu more common template%s (%llu lines), nothing new or unusual in them.\n", folded,
                  folded == 1 ? "" : "s", (unsigned long long)folded_lines);
}

/* The rare group's lines in the digest, before the templates. */
static void render_rare(ctx *c, const render_plan *p, strbuf *b)
{
    const rare_group *r = &c->rare;
    char s1[40], s2[40];
    if (!r->lines)
        return;
    strbuf_printf(b, "RARE %s x%llu %s..%ss: rare, unclustered: %zu more distinct templates past the window's cap of %zu, "
              "counted together\n", digest_level_name(r->max_level), (unsigned long long)r->lines,
              offset_s(r->first_ts - c->in->start_ms, s1), offset_s(r->last_ts - c->in->start_ms, s2), r->templates,
              c->nt);
    for (size_t e = 0; e < r->n_ex && e < p->notable_ex; e++)
        put_line(b, &c->kl[r->ex[e]].l, digest_line_text(c, r->ex[e]), p->line_max);
}

