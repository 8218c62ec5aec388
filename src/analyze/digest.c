/*
 * digest.c — a closed window compressed to what matters, under a token
 * budget, and the baseline detector that reads the same statistics.
 *
 * Threads: called by an analysis worker holding its service's miner lock;
 * no state of its own outside the digest being built.
 *
 * Steps: (1) mine every line's first line (a stack trace is grouped by its
 * head; the whole message stays available as an exemplar) and gather, per
 * template, its count, time span, highest level, up to K distinct exemplars,
 * and the shapes of its variable values; (2) look each template up in the
 * service's history: new, rate against the trailing average, windows seen;
 * (3) derive the baseline's findings; (4) render, then shrink to the budget by
 * dropping the least informative parts first: extra exemplars of notable
 * templates, then common templates themselves (folded into one line with
 * their count); a notable template (warning or higher, new, rare, rate
 * changed, or carrying an unusual value) always keeps its line and one
 * exemplar. The budget is a ceiling, not a target: every prompt carries the
 * digest, so exemplars go only where they tell something the template line
 * does not: K to a template that is new, rare, at a changed rate or carries
 * an unusual value, one to one that stands out only by its level at its usual
 * rate, none to a common one (its text and count say what its lines say).
 *
 * Unusual values: for a template with many lines, a variable value whose shape
 * (character classes, runs collapsed: "alice" → "a", "../../etc" → ".9/..") is
 * carried by under 1% of its lines is shown verbatim with its line: an attack
 * hides in the value of an ordinary-looking line.
 *
 * The baseline judges a service's first window on its own (fatal lines, a
 * high share of errors, failed logins), finds attack shapes in lines
 * (attack_shape(): traversal, SQL, script, JNDI, shell) and odd values of
 * rare shape, and configuration messages at info level that recur
 * (baseline_first_window, baseline_values, baseline_config). Templates the
 * miner merges while the window is mined count as the one that holds them
 * (digest_merge_absorbed). Durations among a template's values (latency.h:
 * `took 23 ms`, `latency=0.4s`) are summarised per position, kept in
 * d->values for the windows after, and a median that has crept up against the
 * template's history is a `latency` finding (baseline_latency). Salient attributes (put_fields: by name, error,
 * reason, status, alert, stack…, or by shape, a long text or a trace) are
 * shown under exemplars of notable templates, at most FIELDS_SHOWN a line.
 *
 * Every line and value shown passes through redaction first. The window's
 * redaction session outlives the build (it is the digest's), so that
 * digest_find_quote() can compare a model's evidence with a line exactly as
 * the digest showed it, placeholders included.
 *
 * Bounds: exemplar text EXEMPLAR_MAX bytes (a stack trace keeps its first line
 * and its last exception / "Caused by:" line), PARAM_POSITIONS value positions
 * per template, SHAPES_MAX shapes per position, the rendered text the budget.
 *
 * Distinct templates per window: at most opts.max_window_templates get their
 * statistics (a window of a million distinct lines would otherwise cost a
 * million of them). Past the cap, a template that still has a single line
 * gives its place up, oldest first, so that one arriving late with many
 * lines (a burst) is still listed; its line, and any template's when no such
 * place is left, is counted in one "rare, unclustered" group, shown as such
 * with exemplars (higher levels preferred) and never persisted as a template.
 *
 * Lines stream in (digest_begin, digest_add per line, digest_end), so that a
 * window's lines go from the store through the miner and these counters
 * without being held: the digest keeps only the lines it may show, each
 * copied (with its attributes) at its first reference and freed at its last
 * (a template giving its place up past the cap gives its lines up too): up to
 * K exemplars, a line per value shape (PARAM_POSITIONS x SHAPES_MAX) and three
 * attack lines per template, the rare group's exemplars, and the first
 * EARLY_LINES fatal and error lines. The window's memory is then its
 * templates' and those lines', plus 8 bytes a line (its template id, for the
 * evidence check) and 32 bytes per distinct template id (the map).
 * digest_build() runs the same steps over an array of lines.
 */
#include "anomalog/digest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anomalog/timeutil.h"

#define MAX_PARAMS 16
#define PARAM_POSITIONS 4
#define SHAPES_MAX 8
#define SHAPE_LEN 24
#define EXEMPLAR_MAX 1500
#define UNUSUAL_MIN_COUNT 20
#define RATE_MIN_COUNT 10
#define RATE_FACTOR 5.0
#define TOKENS_PER_BYTE_DIV 3 /* logs tokenise worse than prose: ~3 bytes a token */

static const char *const level_names[] = {"", "trace", "debug", "info", "warn", "error", "fatal"};

int digest_level_rank(const char *level)
{
    if (!level || !*level)
        return 0;
    for (int i = 1; i < 7; i++)
        if (strcasecmp(level, level_names[i]) == 0)
            return i;
    if (!strcasecmp(level, "warning"))
        return 4;
    if (!strcasecmp(level, "critical") || !strcasecmp(level, "crit") || !strcasecmp(level, "emerg") ||
        !strcasecmp(level, "alert") || !strcasecmp(level, "panic"))
        return 6;
    if (!strcasecmp(level, "err") || !strcasecmp(level, "severe"))
        return 5;
    if (!strcasecmp(level, "notice"))
        return 3;
    return 0;
}

const char *digest_level_name(int rank)
{
    return rank > 0 && rank < 7 ? level_names[rank] : "-";
}

void digest_opts_defaults(digest_opts *o)
{
    memset(o, 0, sizeof *o);
    o->exemplars = 3;
    o->token_budget = 3000;
    o->history_windows = 12;
    o->max_window_templates = DIGEST_MAX_WINDOW_TEMPLATES;
}

/* A line without a level may still say it in its first words (loghub-style content). */
static int infer_level(const char *msg, size_t len)
{
    static const struct {
        const char *w;
        int rank;
    } words[] = {{"FATAL", 6}, {"CRITICAL", 6}, {"PANIC", 6}, {"ERROR", 5}, {"SEVERE", 5},
                 {"WARNING", 4}, {"WARN", 4},   {"INFO", 3},  {"DEBUG", 2}, {"TRACE", 1}};
    size_t scan = len < 80 ? len : 80;
    for (size_t i = 0; i < scan; i++) {
        if (i && (msg[i - 1] >= 'A' && msg[i - 1] <= 'Z'))
            continue;
        for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
            size_t wl = strlen(words[k].w);
            if (i + wl <= len && memcmp(msg + i, words[k].w, wl) == 0 &&
                (i + wl == len || !(msg[i + wl] >= 'A' && msg[i + wl] <= 'Z')))
                return words[k].rank;
        }
    }
    return 0;
}

typedef struct shape_slot {
    char shape[SHAPE_LEN];
    uint32_t count;
    size_t line;       /* first line carrying it */
} shape_slot;

typedef struct tstat {
    int64_t id;
    uint64_t count;
    int max_level;
    int64_t first_ts, last_ts;
    size_t ex[8];        /* exemplar line indices (distinct messages) */
    size_t n_ex;
    shape_slot shapes[PARAM_POSITIONS][SHAPES_MAX];
    int n_shapes[PARAM_POSITIONS];
    int overflow[PARAM_POSITIONS];
    digest_history h;
    int has_h;
    uint32_t attack_lines; /* lines whose message carries an attack shape (attack_shape()) */
    size_t attack_ex[3];   /* the first of them */
    const char *attack_what[3];
    latency_acc *lat;      /* durations among its values (latency.h), NULL when none */
    /* derived */
    int is_new, rare, changed, unusual, notable, benign;
    double ratio;
    char *text;          /* redacted template text */
} tstat;

static void shape_of(const char *v, size_t len, char *out)
{
    size_t o = 0;
    char prev = 0;
    for (size_t i = 0; i < len && o + 1 < SHAPE_LEN; i++) {
        unsigned char c = (unsigned char)v[i];
        char k = c >= '0' && c <= '9' ? '9' : c >= 'a' && c <= 'z' ? 'a' : c >= 'A' && c <= 'Z' ? 'A' : c >= 0x80 ? 'u' : (char)c;
        if (k != prev || !(k == '9' || k == 'a' || k == 'A' || k == 'u'))
            out[o++] = k;
        prev = k;
    }
    out[o] = '\0';
}

/* Open-addressed map template id → index into the stats array. */
typedef struct tmap {
    int64_t *keys;
    size_t *vals;
    size_t cap, used;
} tmap;

static int tmap_grow(tmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 256;
    int64_t *nk = calloc(ncap, sizeof *nk);
    size_t *nv = calloc(ncap, sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = (size_t)((uint64_t)m->keys[i] * 0x9E3779B97F4A7C15ULL >> 7) & (ncap - 1);
        while (nk[j])
            j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return 0;
}

/* Returns the slot for id (keys[slot] == id or 0 when absent). */
static size_t tmap_slot(const tmap *m, int64_t id)
{
    size_t j = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ULL >> 7) & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != id)
        j = (j + 1) & (m->cap - 1);
    return j;
}

static size_t first_line_len(const char *msg)
{
    const char *nl = strchr(msg, '\n');
    return nl ? (size_t)(nl - msg) : strlen(msg);
}

/* ---- growable text with a hard cap ---------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap ? b->cap * 2 : 4096;
        while (ncap < b->len + (size_t)n + 1)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void sb_put(sbuf *b, const char *s, size_t n)
{
    sb_printf(b, "%.*s", (int)n, s);
}

/* ---- exemplars ------------------------------------------------------------ */

/* Writes one line as the window shows it, shortened: a long stack trace keeps
 * its first line and its last exception line. Continuation lines are indented. */
static void put_line(sbuf *b, const prompt_line *l, const char *msg, size_t max)
{
    char ts[40];
    sb_printf(b, "    %s %s ", time_format_rfc3339(l->ts_ms, ts, sizeof ts), l->level && *l->level ? l->level : "-");
    size_t len = strlen(msg);
    size_t head = first_line_len(msg);
    if (len <= max) {
        for (size_t i = 0; i < len; i++) {
            if (msg[i] == '\n')
                sb_put(b, "\n        ", 9);
            else
                sb_put(b, &msg[i], 1);
        }
        sb_put(b, "\n", 1);
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
    sb_put(b, msg, hn);
    if (hn < head)
        sb_put(b, "…", 3);
    if (tail) {
        size_t tn = first_line_len(tail);
        sb_printf(b, "\n        … (%zu bytes omitted) …\n        %.*s", len - head - tn, (int)(tn < max ? tn : max), tail);
    } else if (head < len) {
        sb_printf(b, "\n        … (%zu more bytes)", len - head);
    }
    sb_put(b, "\n", 1);
}

/* ---- the build ------------------------------------------------------------ */

/* Lines of templates past the window's cap (see the opening comment). */
typedef struct rare_group {
    uint64_t lines;
    size_t templates;        /* distinct template ids among them */
    int max_level;
    int64_t first_ts, last_ts;
    size_t ex[8];            /* exemplar line indices, distinct messages, higher levels preferred */
    int ex_level[8];
    size_t n_ex;
    size_t *fifo;            /* ring of cap stats slots, oldest first: who gives its place up */
    size_t fifo_head, fifo_len, fifo_cap;
} rare_group;

#define RARE_SLOT SIZE_MAX /* tmap value of a template whose lines go to the rare group */

/* A line the digest keeps (an exemplar, the line of a value or of an attack shape, an early error line),
 * copied when first referred to, freed when the last reference goes (a slot given up past the cap). */
typedef struct kline {
    prompt_line l;        /* level and message owned */
    char *attrs;          /* owned, or NULL */
    char *red;            /* the redacted message, on demand */
    uint32_t refs;
    size_t next_free;     /* when refs is 0: the next free slot */
} kline;

#define EARLY_LINES 3 /* early fatal / error lines kept as evidence of the window-wide findings */

typedef struct ctx {
    const digest_input *in;
    const digest_opts *o;
    redact_session *rs;
    tstat *t;
    size_t nt, capt;
    rare_group rare;
    size_t *order;        /* render order */
    kline *kl;            /* the kept lines; indices into it stand for lines everywhere */
    size_t nkl, capkl, free_kl;
    const prompt_line *cur; /* the line being added, and its attributes */
    const char *cur_attrs;
    size_t cur_kept;      /* its slot once kept, else SIZE_MAX */
    size_t n_lines;       /* lines added */
    int64_t *tids;        /* template id of each line added */
    size_t cap_tids;
    size_t fatal_ex[EARLY_LINES], error_ex[EARLY_LINES], err_ex[EARLY_LINES]; /* level 6, 5, >= 5 */
    size_t n_fatal_ex, n_error_ex, n_err_ex;
} ctx;

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A new reference to the line being added: its copy, made at the first one. SIZE_MAX when out of memory. */
static size_t keep(ctx *c)
{
    if (c->cur_kept != SIZE_MAX) {
        c->kl[c->cur_kept].refs++;
        return c->cur_kept;
    }
    size_t k = c->free_kl;
    if (k == SIZE_MAX) {
        if (c->nkl == c->capkl) {
            size_t nc = c->capkl ? c->capkl * 2 : 64;
            kline *nk = realloc(c->kl, nc * sizeof *nk);
            if (!nk)
                return SIZE_MAX;
            c->kl = nk;
            c->capkl = nc;
        }
        k = c->nkl++;
    } else {
        c->free_kl = c->kl[k].next_free;
    }
    kline *l = &c->kl[k];
    *l = (kline){.l = {.ts_ms = c->cur->ts_ms, .level = dup_or_null(c->cur->level), .message = strdup(c->cur->message)},
                 .attrs = dup_or_null(c->cur_attrs), .refs = 1};
    if (!l->l.message || (c->cur->level && !l->l.level) || (c->cur_attrs && !l->attrs)) {
        free((char *)l->l.level);
        free((char *)l->l.message);
        free(l->attrs);
        l->refs = 0;
        l->next_free = c->free_kl;
        c->free_kl = k;
        return SIZE_MAX;
    }
    c->cur_kept = k;
    return k;
}

static void kline_clear(kline *l)
{
    free((char *)l->l.level);
    free((char *)l->l.message);
    free(l->attrs);
    free(l->red);
}

/* Gives a reference up; the last one frees the copy. */
static void drop(ctx *c, size_t k)
{
    if (k == SIZE_MAX || --c->kl[k].refs > 0)
        return;
    kline_clear(&c->kl[k]);
    c->kl[k].next_free = c->free_kl;
    c->free_kl = k;
}

static const char *line_text(ctx *c, size_t k)
{
    kline *l = &c->kl[k];
    if (!c->o->redact)
        return l->l.message;
    if (!l->red)
        l->red = redact_text(c->o->redact, c->rs, l->l.message, strlen(l->l.message), NULL);
    return l->red ? l->red : "<redaction failed>";
}

static const char *classify(const char *text)
{
    static const struct {
        const char *kw;
        const char *type;
    } rules[] = {
        {"password", "auth_failure"},   {"authentication", "auth_failure"}, {"unauthorized", "auth_failure"},
        {"invalid user", "auth_failure"}, {"login", "auth_failure"},       {"denied", "auth_failure"},
        {"forbidden", "auth_failure"},  {"injection", "security"},          {"traversal", "security"},
        {"attack", "security"},         {"timeout", "latency"},             {"timed out", "latency"},
        {"slow", "latency"},            {"latency", "latency"},             {"out of memory", "resource"},
        {"no space", "resource"},       {"disk full", "resource"},          {"too many open files", "resource"},
        {"exhausted", "resource"},      {"quota", "resource"},              {"certificate", "config"},
        {"config", "config"},           {"version", "config"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcasestr(text, rules[i].kw))
            return rules[i].type;
    return "error_spike";
}

static void add_finding(ctx *c, json_t *findings, const char *severity, const char *type, const tstat *t,
                        const char *summary)
{
    json_t *ev = json_array();
    if (t) {
        for (size_t k = 0; k < t->n_ex && k < 3; k++) {
            const prompt_line *l = &c->kl[t->ex[k]].l;
            const char *msg = line_text(c, t->ex[k]);
            char ts[40];
            json_array_append_new(ev, json_sprintf("%s %s %.*s", time_format_rfc3339(l->ts_ms, ts, sizeof ts),
                                                   l->level && *l->level ? l->level : "-",
                                                   (int)first_line_len(msg), msg));
        }
    }
    json_t *ids = json_array();
    if (t)
        json_array_append_new(ids, json_integer(t->id));
    json_array_append_new(findings, json_pack("{s:s, s:s, s:s, s:o, s:s, s:o}", "severity", severity, "type", type,
                                              "summary", summary, "evidence", ev, "recommended_action",
                                              t ? "Look at the lines of this template and what changed before it appeared."
                                                : "Look at the error lines of this window and what changed before them.",
                                              "template_ids", ids));
}

/* ---- the baseline's own judgements -------------------------------------- */

/* Does s (n bytes) start with the lower-case word w, in any case? */
static int starts_ci(const char *s, size_t n, const char *w)
{
    size_t k = 0;
    for (; w[k]; k++)
        if (k >= n || (s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]) != w[k])
            return 0;
    return 1;
}

/*
 * The attack shape a message carries, or NULL: what a probe leaves in the
 * value of an ordinary request or login line (path traversal, SQL, script or
 * command injection, JNDI lookups), plain or URL-encoded. One pass over the
 * bytes, a few comparisons at the bytes that can start a shape.
 */
static const char *attack_shape(const char *s, size_t n)
{
    static const struct {
        char first;
        const char *w;
        const char *what;
    } shapes[] = {
        {'.', "../../", "path traversal"},       {'.', "..%2f", "path traversal"},
        {'.', "..\\..\\", "path traversal"},    {'%', "%2e%2e", "path traversal"},
        {'/', "/etc/passwd", "path traversal"},  {'/', "/etc/shadow", "path traversal"},
        {'/', "/bin/sh", "command injection"},   {'/', "/bin/bash", "command injection"},
        {'%', "%27", "SQL injection"},           {'\'', "' or ", "SQL injection"},
        {'\'', "'or'", "SQL injection"},         {'\'', "'--", "SQL injection"},
        {'\'', "' --", "SQL injection"},         {'\'', "';", "SQL injection"},
        {'\'', "'/**/", "SQL injection"},        {'u', "union select", "SQL injection"},
        {'u', "union+select", "SQL injection"},  {'u', "union%20select", "SQL injection"},
        {'u', "union/**/select", "SQL injection"}, {'o', "or 1=1", "SQL injection"},
        {'o', "or+1=1", "SQL injection"},        {'s', "sleep(", "SQL injection"},
        {'<', "<script", "script injection"},    {'%', "%3cscript", "script injection"},
        {'j', "javascript:", "script injection"},
        {'$', "${jndi:", "JNDI lookup"},         {'%', "%24%7bjndi", "JNDI lookup"},
        {';', ";cat ", "command injection"},     {'|', "|cat ", "command injection"},
        {'$', "$(", "command injection"},        {'`', "`id`", "command injection"},
        {'c', "cmd.exe", "command injection"},   {'x', "xp_cmdshell", "SQL injection"},
    };
    for (size_t i = 0; i < n; i++) {
        char ch = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        switch (ch) {
        case '.': case '%': case '/': case '\'': case 'u': case 'o': case 's': case '<': case 'j': case '$':
        case ';': case '|': case '`': case 'c': case 'x':
            break;
        default:
            continue;
        }
        /* a word shape starts a word */
        if (ch >= 'a' && ch <= 'z' && i > 0 &&
            ((s[i - 1] >= 'a' && s[i - 1] <= 'z') || (s[i - 1] >= 'A' && s[i - 1] <= 'Z')))
            continue;
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            if (shapes[k].first == ch && starts_ci(s + i, n - i, shapes[k].w))
                return shapes[k].what;
    }
    return NULL;
}

/* A template about a failed authentication: a word of failure and a word of
 * authentication (`Failed password`, `authentication failure`, `invalid
 * user`, `login denied`, `401 Unauthorized`). */
static int is_auth_failure(const char *text)
{
    static const char *const fail[] = {"fail", "invalid", "denied", "unauthori", "reject", "incorrect", "wrong",
                                       "bad ", "refused", "not allowed"};
    static const char *const auth[] = {"password", "auth", "login", "logon", "log in", "credential", "user",
                                       "token", "sign in", "sign-in", "unauthori"};
    int f = 0, a = 0;
    for (size_t i = 0; i < sizeof fail / sizeof fail[0] && !f; i++)
        f = strcasestr(text, fail[i]) != NULL;
    for (size_t i = 0; i < sizeof auth / sizeof auth[0] && f && !a; i++)
        a = strcasestr(text, auth[i]) != NULL;
    return f && a;
}

/* A template about configuration, versions or flags changing or falling back:
 * the kind of INFO line that is harmless at start-up and a change of
 * behaviour when it keeps appearing afterwards. */
static int is_config_change(const char *text)
{
    static const char *const words[] = {"disabled", "missing", "default", "fallback", "falling back", "fell back",
                                        "changed", "version", "deprecated", "overrid", "reloaded", "not set",
                                        "feature flag", "unset", "downgrad"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(text, words[i]))
            return 1;
    return 0;
}

/* Appends "ts LEVEL first line" of kept line i to the evidence array ev. */
static void add_evidence(ctx *c, json_t *ev, size_t i)
{
    const prompt_line *l = &c->kl[i].l;
    const char *msg = line_text(c, i);
    char ts[40];
    json_array_append_new(ev, json_sprintf("%s %s %.*s", time_format_rfc3339(l->ts_ms, ts, sizeof ts),
                                           l->level && *l->level ? l->level : "-", (int)first_line_len(msg), msg));
}

/* The last finding's evidence, emptied: for findings whose evidence is not a template's exemplars. */
static json_t *last_evidence(digest *d)
{
    json_t *ev = json_object_get(json_array_get(d->findings, json_array_size(d->findings) - 1), "evidence");
    json_array_clear(ev);
    return ev;
}

#define FIRST_ERROR_MIN 10      /* error lines that make a first window's error finding ... */
#define FIRST_ERROR_SHARE 0.05  /* ... when they are also this share of its lines */
#define AUTH_MIN 5              /* failed logins of one template that make an auth finding on their own */
#define CONFIG_MIN 2            /* lines of a new config template in one window: it recurs */

/*
 * A service's first window (no history): judged on its own. Fatal lines, a
 * high share of errors, and repeated authentication failures are findings
 * without anything to compare with.
 */
static void baseline_first_window(ctx *c, digest *d)
{
    const digest_input *in = c->in;
    char s[600];
    long fatal = d->level_totals[6];
    long errors = d->error_lines - fatal;
    if (fatal > 0) {
        snprintf(s, sizeof s, "%ld fatal line%s in the first window of %s (no history yet).", fatal,
                 fatal == 1 ? "" : "s", in->service);
        add_finding(c, d->findings, fatal >= 10 ? "critical" : "high", "error_spike", NULL, s);
        json_t *ev = last_evidence(d);
        for (size_t i = 0; i < c->n_fatal_ex; i++)
            add_evidence(c, ev, c->fatal_ex[i]);
    }
    if (errors >= FIRST_ERROR_MIN && (double)errors >= FIRST_ERROR_SHARE * (double)c->n_lines) {
        snprintf(s, sizeof s, "%ld error lines (%.0f%% of %zu) in the first window of %s (no history yet).", errors,
                 100.0 * (double)errors / (double)(c->n_lines ? c->n_lines : 1), c->n_lines, in->service);
        add_finding(c, d->findings, errors >= 100 ? "high" : "medium", "error_spike", NULL, s);
        json_t *ev = last_evidence(d);
        for (size_t i = 0; i < c->n_error_ex; i++)
            add_evidence(c, ev, c->error_ex[i]);
    }
    /* authentication failures: one finding for all their templates, the largest named, a line of each as evidence */
    uint64_t auth = 0;
    size_t nauth = 0, top = SIZE_MAX;
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        if (t->benign || !t->text || !is_auth_failure(t->text))
            continue;
        auth += t->count;
        nauth++;
        if (top == SIZE_MAX || t->count > c->t[top].count)
            top = i;
    }
    if (auth < AUTH_MIN)
        return;
    tstat *t = &c->t[top];
    if (nauth == 1)
        snprintf(s, sizeof s, "%llu authentication failures in the first window of %s: \"%.300s\".",
                 (unsigned long long)auth, in->service, t->text);
    else
        snprintf(s, sizeof s, "%llu authentication failures in %zu templates in the first window of %s, the most "
                 "\"%.300s\" (%llu).", (unsigned long long)auth, nauth, in->service, t->text,
                 (unsigned long long)t->count);
    add_finding(c, d->findings, auth >= 20 ? "high" : "medium", "auth_failure", t, s);
    json_t *f = json_array_get(d->findings, json_array_size(d->findings) - 1);
    json_t *ev = last_evidence(d), *ids = json_object_get(f, "template_ids");
    json_array_clear(ids);
    for (size_t i = 0; i < c->nt; i++) {
        tstat *u = &c->t[i];
        if (u->benign || !u->text || !is_auth_failure(u->text))
            continue;
        json_array_append_new(ids, json_integer(u->id));
        if (json_array_size(ev) < 3 && u->n_ex)
            add_evidence(c, ev, u->ex[0]);
    }
}

/*
 * Attack shapes in values: a template whose lines carry a probe (traversal,
 * injection) in some of their values is a security finding with those lines,
 * history or not, at any level. A template whose every line carries the shape
 * is taken as that shape being its normal content once it is known or has
 * many lines. Also: a value of a rare shape (the unusual values of the
 * digest) with a quote, `;`, `..`, `<`, `|` or `$` in it.
 */
static void baseline_values(ctx *c, digest *d)
{
    char s[700];
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        if (t->benign)
            continue;
        if (t->attack_lines > 0 && (t->attack_lines < t->count || (t->is_new && t->count <= 20))) {
            snprintf(s, sizeof s, "%s in %u of %llu line%s of \"%.300s\" in %s.", t->attack_what[0], t->attack_lines,
                     (unsigned long long)t->count, t->count == 1 ? "" : "s", t->text ? t->text : "", c->in->service);
            add_finding(c, d->findings, t->attack_lines >= 10 ? "high" : "medium", "security", t, s);
            json_t *ev = last_evidence(d);
            for (size_t k = 0; k < t->attack_lines && k < 3; k++)
                add_evidence(c, ev, t->attack_ex[k]);
            continue;
        }
        if (!t->unusual)
            continue;
        for (int pos = 0; pos < PARAM_POSITIONS; pos++) {
            if (t->overflow[pos])
                continue;
            for (int k = 0; k < t->n_shapes[pos]; k++) {
                shape_slot *sl = &t->shapes[pos][k];
                if ((uint64_t)sl->count * 100 >= t->count ||
                    (!strpbrk(sl->shape, "'\";<>|$`") && !strstr(sl->shape, "..")))
                    continue;
                snprintf(s, sizeof s, "A value of a rare shape (%u of %llu lines) in \"%.300s\" in %s: a probe "
                         "hidden in an ordinary line?", sl->count, (unsigned long long)t->count,
                         t->text ? t->text : "", c->in->service);
                add_finding(c, d->findings, "medium", "security", t, s);
                json_t *ev = last_evidence(d);
                add_evidence(c, ev, sl->line);
                pos = PARAM_POSITIONS; /* one finding per template */
                break;
            }
        }
    }
}

/*
 * Configuration: a template at info level or below about configuration,
 * versions or flags (disabled, missing, default, fallback, changed, version)
 * that is new after the service's first window and recurs in it, or that
 * appeared recently and keeps recurring: a change of behaviour nobody logged
 * as a warning.
 */
static void baseline_config(ctx *c, digest *d)
{
    const digest_input *in = c->in;
    char s[600];
    if (in->history_depth <= 0)
        return; /* a first window's configuration lines are its start-up */
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        if (t->benign || t->max_level >= 4 || !t->text || !is_config_change(t->text))
            continue;
        int fresh = t->is_new && t->count >= CONFIG_MIN;
        int young = !t->is_new && t->has_h && t->h.windows_seen <= 2 && in->history_depth >= 3;
        if (!fresh && !young)
            continue;
        snprintf(s, sizeof s, "Configuration message %s in %s: \"%.300s\" (%llu line%s in this window).",
                 fresh ? "new and recurring" : "recent and recurring", in->service, t->text,
                 (unsigned long long)t->count, t->count == 1 ? "" : "s");
        add_finding(c, d->findings, "low", "config", t, s);
    }
}

static int by_count_desc(const void *a, const void *b)
{
    const latency_summary *x = a, *y = b;
    return (x->count < y->count) - (x->count > y->count);
}

/* v to at most one decimal: "182", "7.5". buf holds 40 bytes. */
static const char *duration_text(double v, char *buf)
{
    snprintf(buf, 40, v >= 10 || v == (double)(long long)v ? "%.0f" : "%.1f", v);
    return buf;
}

/*
 * Latency drift: a template whose durations (latency.h) have grown, window
 * after window, to LATENCY_DRIFT_FACTOR times their lowest median over the
 * history, past their highest and to their usual p95, is a `latency` finding. The window's own
 * summaries go to d->values (the templates with the most lines first) for
 * the store to keep for the windows after it. Out of memory: no summaries.
 */
static void baseline_latency(ctx *c, digest *d)
{
    const digest_input *in = c->in;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < c->nt; i++)
        cap += c->t[i].lat ? LATENCY_POSITIONS : 0;
    if (!cap || !(d->values = calloc(cap, sizeof *d->values)))
        return;
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        if (!t->lat)
            continue;
        size_t got = latency_summarise(t->lat, t->id, in->start_ms, d->values + n, cap - n);
        for (size_t k = n; k < n + got && !t->benign; k++) {
            const latency_summary *cur = &d->values[k];
            latency_summary key = {.template_id = cur->template_id, .pos = cur->pos, .window_start = INT64_MIN};
            size_t lo = 0, hi = in->value_history ? in->n_value_history : 0;
            while (lo < hi) { /* the first of the history's rows of this template and position */
                size_t mid = lo + (hi - lo) / 2;
                if (latency_summary_cmp(&in->value_history[mid], &key) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            size_t end = lo;
            while (end < in->n_value_history && in->value_history[end].template_id == cur->template_id &&
                   in->value_history[end].pos == cur->pos)
                end++;
            latency_judgement j;
            if (!latency_drift(cur, in->value_history + lo, end - lo, &j))
                continue;
            char s[700], a[40], b[40], e[40], f[40], g[40];
            snprintf(s, sizeof s, "Latency of \"%.300s\" in %s drifting up: median %s over %llu lines now (p95 %s), "
                     "%.1fx its lowest (%s), above its highest (%s) and its usual p95 (%s) in the last %d windows.",
                     t->text ? t->text : "", in->service, duration_text(cur->median, a),
                     (unsigned long long)cur->count, duration_text(cur->p95, b), j.factor,
                     duration_text(j.lowest, e), duration_text(j.highest, f), duration_text(j.usual_p95, g), j.windows);
            add_finding(c, d->findings, j.factor >= 5 ? "high" : "medium", "latency", t, s);
            break; /* one finding per template */
        }
        n += got;
    }
    if (n > LATENCY_MAX_SUMMARIES) {
        qsort(d->values, n, sizeof *d->values, by_count_desc);
        n = LATENCY_MAX_SUMMARIES;
    }
    d->n_values = n;
}

static void baseline(ctx *c, digest *d)
{
    const digest_input *in = c->in;
    int n = c->o->history_windows;
    char s[600];
    /* error burst against the service's usual */
    if (d->error_lines >= 10 && in->history_depth > 0 && in->trailing_error_avg >= 0 &&
        d->error_lines >= RATE_FACTOR * (in->trailing_error_avg + 1)) {
        snprintf(s, sizeof s, "Burst of %ld error lines in %s, against %.1f per window over the last %d windows.",
                 d->error_lines, in->service, in->trailing_error_avg, in->history_depth < n ? in->history_depth : n);
        int crit = d->error_lines >= 100 && d->error_lines >= 20 * (in->trailing_error_avg + 1);
        add_finding(c, d->findings, crit ? "critical" : "high", "error_spike", NULL, s);
        /* evidence: the first error lines of the window */
        json_t *ev = last_evidence(d);
        for (size_t i = 0; i < c->n_err_ex; i++)
            add_evidence(c, ev, c->err_ex[i]);
    }
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        if (t->benign)
            continue;
        const char *text = t->text ? t->text : "";
        const char *type = classify(text);
        if (t->is_new && t->max_level >= 4 && in->history_depth > 0) {
            snprintf(s, sizeof s, "New %s message in %s: \"%.300s\" (%llu line%s).", digest_level_name(t->max_level),
                     in->service, text, (unsigned long long)t->count, t->count == 1 ? "" : "s");
            add_finding(c, d->findings, t->max_level >= 6 ? "high" : t->max_level == 5 ? "medium" : "low", type, t, s);
        } else if (t->changed && (t->max_level >= 4 || t->ratio >= 4 * RATE_FACTOR)) {
            snprintf(s, sizeof s, "\"%.300s\" in %s: %llu lines, %.1fx its usual %.1f per window.", text, in->service,
                     (unsigned long long)t->count, t->ratio, t->h.trailing_avg);
            add_finding(c, d->findings, t->max_level >= 5 ? "high" : "medium", type, t, s);
        } else if (!t->is_new && t->has_h && t->count <= 5 && t->h.windows_seen + 1 >= 3 &&
                   (t->max_level >= 4 || strcmp(type, "auth_failure") == 0 || strcmp(type, "security") == 0) &&
                   t->h.windows_seen * 2 <= (in->history_depth > n ? n : in->history_depth)) {
            snprintf(s, sizeof s,
                     "\"%.300s\" keeps recurring in %s: %llu line(s) now, in %d of the last %d windows: a slow, "
                     "persistent failure or probe.",
                     text, in->service, (unsigned long long)t->count, t->h.windows_seen + 1, n + 1);
            add_finding(c, d->findings, "medium", type, t, s);
        }
    }
    if (in->history_depth <= 0)
        baseline_first_window(c, d);
    baseline_values(c, d);
    baseline_config(c, d);
    baseline_latency(c, d);
}

static int by_priority(const void *a, const void *b, void *arg)
{
    const tstat *t = arg;
    const tstat *x = &t[*(const size_t *)a], *y = &t[*(const size_t *)b];
    if (x->notable != y->notable)
        return y->notable - x->notable;
    if (x->max_level != y->max_level)
        return y->max_level - x->max_level;
    if (x->is_new != y->is_new)
        return y->is_new - x->is_new;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : (x->id > y->id) - (x->id < y->id);
}

typedef struct render_plan {
    size_t common_ex;     /* exemplars per common template */
    size_t notable_ex;    /* exemplars per notable template (>= 1) */
    size_t level_ex;      /* of those, per template notable only for its level, at its usual rate */
    size_t common_shown;  /* common templates listed; the rest folded */
    size_t line_max;      /* bytes of an exemplar */
} render_plan;

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

static void render_rare(ctx *c, const render_plan *p, sbuf *b);

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
static void put_fields(ctx *c, sbuf *b, size_t line, size_t max)
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
            sb_printf(b, "      field %s:\n", kred ? kred : k);
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

static void render(ctx *c, const digest *d, const render_plan *p, sbuf *b)
{
    const digest_input *in = c->in;
    char s1[40], s2[40];
    /* the service and the span are in the prompt's header, and in the window the digest is stored with */
    size_t total = in->total_lines > c->n_lines ? in->total_lines : c->n_lines;
    sb_printf(b, "Digest: %zu lines", total);
    if (total > c->n_lines)
        sb_printf(b, " (the first %zu summarised)", c->n_lines);
    sb_printf(b, ", %zu templates (%zu new, %zu at an unusual rate).\n", c->nt, d->n_new, d->n_changed);
    sb_printf(b, "Lines by level:");
    for (int r = 6; r >= 0; r--)
        if (d->level_totals[r])
            sb_printf(b, " %s %ld", r ? level_names[r] : "unknown", d->level_totals[r]);
    sb_printf(b, "\nHistory: %d earlier window(s) of this service", in->history_depth);
    if (in->trailing_error_avg >= 0)
        sb_printf(b, ", %.1f error lines per window on average", in->trailing_error_avg);
    sb_printf(b, ".\n");
    size_t nf = json_array_size(d->findings);
    if (nf) {
        sb_printf(b, "Baseline findings (statistics, no model; hints to check against the lines):\n");
        for (size_t i = 0; i < nf; i++) {
            json_t *f = json_array_get(d->findings, i);
            sb_printf(b, "- [%s] %s: %s\n", json_string_value(json_object_get(f, "severity")),
                      json_string_value(json_object_get(f, "type")), json_string_value(json_object_get(f, "summary")));
        }
    }
    render_rare(c, p, b); /* before the templates: a cut at the budget never drops it */
    sb_printf(b, "Templates, most informative first:\n");
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
        sb_printf(b, "T%lld %s x%llu %s..%ss", (long long)t->id, t->max_level ? level_names[t->max_level] : "-",
                  (unsigned long long)t->count, offset_s(t->first_ts - in->start_ms, s1),
                  offset_s(t->last_ts - in->start_ms, s2));
        if (t->is_new)
            sb_printf(b, " NEW");
        else if (t->has_h)
            sb_printf(b, " usual %s x%s in %d/%d", tenths(t->h.trailing_avg, s1), tenths(t->ratio, s2),
                      t->h.windows_seen, c->o->history_windows);
        if (t->benign)
            sb_printf(b, " known-benign");
        sb_printf(b, ": %s\n", t->text ? t->text : "");
        int changed = t->is_new || t->rare || t->changed || t->unusual;
        size_t want = !t->notable ? p->common_ex : changed ? p->notable_ex : p->level_ex;
        for (size_t e = 0; e < t->n_ex && e < want; e++)
        {
            put_line(b, &c->kl[t->ex[e]].l, line_text(c, t->ex[e]), p->line_max);
            put_fields(c, b, t->ex[e], p->line_max);
        }
        if (t->unusual) {
            for (int pos = 0; pos < PARAM_POSITIONS; pos++) {
                for (int k2 = 0; k2 < t->n_shapes[pos]; k2++) {
                    shape_slot *sl = &t->shapes[pos][k2];
                    if ((uint64_t)sl->count * 100 >= t->count || t->overflow[pos])
                        continue;
                    const char *msg = line_text(c, sl->line);
                    sb_printf(b, "    unusual value (%u of %llu lines):\n", sl->count, (unsigned long long)t->count);
                    put_line(b, &c->kl[sl->line].l, msg, p->line_max);
                }
            }
        }
    }
    if (folded)
        sb_printf(b, "… and %zu more common template%s (%llu lines), nothing new or unusual in them.\n", folded,
                  folded == 1 ? "" : "s", (unsigned long long)folded_lines);
}

/* ---- the window's cap on distinct templates -------------------------------------------------------- */

/* A line (level lvl) joins the rare group: counted, and kept as an exemplar when its message is new to the
 * group and there is room, or when it outranks the lowest-level exemplar. k is its kept slot, or SIZE_MAX for
 * the line being added (kept only when it is shown). 0, or -1 when out of memory. */
static int rare_add(ctx *c, const prompt_line *l, size_t k, int lvl)
{
    rare_group *r = &c->rare;
    if (!r->lines || l->ts_ms < r->first_ts)
        r->first_ts = l->ts_ms;
    if (!r->lines || l->ts_ms > r->last_ts)
        r->last_ts = l->ts_ms;
    r->lines++;
    if (lvl > r->max_level)
        r->max_level = lvl;
    size_t want = c->o->exemplars < 8 ? c->o->exemplars : 8, low = 0;
    for (size_t e = 0; e < r->n_ex; e++) {
        if (strcmp(c->kl[r->ex[e]].l.message, l->message) == 0)
            return 0;
        if (r->ex_level[e] < r->ex_level[low])
            low = e;
    }
    size_t at = r->n_ex < want ? r->n_ex : r->n_ex && lvl > r->ex_level[low] ? low : SIZE_MAX;
    if (at == SIZE_MAX)
        return 0;
    if (k == SIZE_MAX) {
        if ((k = keep(c)) == SIZE_MAX)
            return -1;
    } else {
        c->kl[k].refs++;
    }
    if (at < r->n_ex)
        drop(c, r->ex[at]);
    else
        r->n_ex++;
    r->ex[at] = k;
    r->ex_level[at] = lvl;
    return 0;
}

/* Gives up the references of a template's stats to kept lines. */
static void tstat_drop_lines(ctx *c, tstat *t)
{
    for (size_t e = 0; e < t->n_ex; e++)
        drop(c, t->ex[e]);
    for (int p = 0; p < PARAM_POSITIONS; p++)
        for (int k = 0; k < t->n_shapes[p]; k++)
            drop(c, t->shapes[p][k].line);
    for (uint32_t a = 0; a < t->attack_lines && a < 3; a++)
        drop(c, t->attack_ex[a]);
    t->n_ex = 0;
    memset(t->n_shapes, 0, sizeof t->n_shapes);
    t->attack_lines = 0;
}

/* A stats slot whose template has one line so far, oldest first, for a new template to take; or SIZE_MAX. */
static size_t rare_take_slot(ctx *c)
{
    rare_group *r = &c->rare;
    while (r->fifo_len) {
        size_t idx = r->fifo[r->fifo_head];
        r->fifo_head = (r->fifo_head + 1) % r->fifo_cap;
        r->fifo_len--;
        if (c->t[idx].count == 1)
            return idx;
    }
    return SIZE_MAX;
}

/*
 * The window's stats of template id, created at its first line (ts). Returns 0 with *out, 1 when the line
 * belongs to the rare group, -1 when out of memory. Past max_window_templates, a template with a single line
 * gives its slot up: its line moves to the rare group, and later lines of it go there too.
 */
static int window_template(ctx *c, tmap *map, int64_t id, int64_t ts, tstat **out)
{
    if ((map->used + 1) * 2 > map->cap && tmap_grow(map))
        return -1;
    size_t slot = tmap_slot(map, id);
    if (map->keys[slot]) {
        if (map->vals[slot] == RARE_SLOT)
            return 1;
        *out = &c->t[map->vals[slot]];
        return 0;
    }
    size_t cap = c->o->max_window_templates ? c->o->max_window_templates : DIGEST_MAX_WINDOW_TEMPLATES;
    rare_group *r = &c->rare;
    size_t idx;
    if (c->nt < cap) {
        if (c->nt == c->capt) {
            size_t nc = c->capt ? c->capt * 2 : 64;
            tstat *nt = realloc(c->t, nc * sizeof *nt);
            if (!nt)
                return -1;
            c->t = nt;
            c->capt = nc;
        }
        idx = c->nt++;
    } else {
        if (!r->fifo) { /* at the cap for the first time: every slot, in the order they were made */
            if (!(r->fifo = malloc(c->nt * sizeof *r->fifo)))
                return -1;
            for (size_t k = 0; k < c->nt; k++)
                r->fifo[k] = k;
            r->fifo_cap = r->fifo_len = c->nt;
        }
        idx = rare_take_slot(c);
        map->keys[slot] = id;
        map->used++;
        r->templates++;
        if (idx == SIZE_MAX) {
            map->vals[slot] = RARE_SLOT;
            return 1;
        }
        /* the single line of the template giving its place up moves to the rare group */
        tstat *old = &c->t[idx];
        map->vals[tmap_slot(map, old->id)] = RARE_SLOT;
        if (!old->n_ex)
            r->lines++;
        else if (rare_add(c, &c->kl[old->ex[0]].l, old->ex[0], old->max_level))
            return -1;
        tstat_drop_lines(c, old);
    }
    if (r->fifo) { /* a fresh one-line template: a candidate again, at the back */
        r->fifo[(r->fifo_head + r->fifo_len) % r->fifo_cap] = idx;
        r->fifo_len++;
    } else { /* below the cap: a new key */
        map->keys[slot] = id;
        map->used++;
    }
    map->vals[slot] = idx;
    tstat *t = &c->t[idx];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->first_ts = ts;
    *out = t;
    return 0;
}

/* The rare group's lines in the digest, before the templates. */
static void render_rare(ctx *c, const render_plan *p, sbuf *b)
{
    const rare_group *r = &c->rare;
    char s1[40], s2[40];
    if (!r->lines)
        return;
    sb_printf(b, "RARE %s x%llu %s..%ss: rare, unclustered: %zu more distinct templates past the window's cap of %zu, "
              "counted together\n", r->max_level ? level_names[r->max_level] : "-", (unsigned long long)r->lines,
              offset_s(r->first_ts - c->in->start_ms, s1), offset_s(r->last_ts - c->in->start_ms, s2), r->templates,
              c->nt);
    for (size_t e = 0; e < r->n_ex && e < p->notable_ex; e++)
        put_line(b, &c->kl[r->ex[e]].l, line_text(c, r->ex[e]), p->line_max);
}

/*
 * The miner may merge templates while the window is mined (a position of
 * plain words turns out to hold values): lines counted under an absorbed id
 * join the template that holds them now (miner_resolve()), so that every
 * template of the digest is live and its text is the merged one.
 */
static void digest_merge_absorbed(ctx *c)
{
    const digest_input *in = c->in;
    size_t w = 0;
    int merged = 0;
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        int64_t r = miner_resolve(in->m, t->id);
        tstat *u = NULL;
        merged |= r != t->id;
        if (merged) /* (the common case, no id absorbed: no search) */
            for (size_t k = 0; k < w && !u; k++)
                if (c->t[k].id == r)
                    u = &c->t[k];
        if (!u) {
            t->id = r;
            if (w != i)
                c->t[w] = *t;
            w++;
            continue;
        }
        u->count += t->count;
        u->first_ts = t->first_ts < u->first_ts ? t->first_ts : u->first_ts;
        u->last_ts = t->last_ts > u->last_ts ? t->last_ts : u->last_ts;
        u->max_level = t->max_level > u->max_level ? t->max_level : u->max_level;
        for (size_t e = 0; e < t->n_ex && u->n_ex < c->o->exemplars && u->n_ex < 8; e++)
            u->ex[u->n_ex++] = t->ex[e];
        for (uint32_t a = 0; a < t->attack_lines && u->attack_lines + a < 3; a++) {
            u->attack_ex[u->attack_lines + a] = t->attack_ex[a];
            u->attack_what[u->attack_lines + a] = t->attack_what[a];
        }
        u->attack_lines += t->attack_lines;
        latency_acc_free(t->lat); /* durations at positions of another text: not comparable with u's history */
        t->lat = NULL;
        for (int p = 0; p < PARAM_POSITIONS; p++)
            u->overflow[p] |= t->n_shapes[p] > 0; /* value shapes counted under two texts: no longer comparable */
    }
    c->nt = w;
    if (merged)
        for (size_t i = 0; i < c->n_lines; i++)
            c->tids[i] = miner_resolve(in->m, c->tids[i]);
}

struct digest_builder {
    digest_input in;
    digest_opts o;
    ctx c;
    tmap map;
    json_t *findings;
    long level_totals[7];
    long error_lines;
    int oom;
};

digest_builder *digest_begin(const digest_input *in, const digest_opts *o)
{
    digest_builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->in = *in;
    b->o = *o;
    b->c = (ctx){.in = &b->in, .o = &b->o, .free_kl = SIZE_MAX, .cur_kept = SIZE_MAX};
    if (!(b->findings = json_array()) || tmap_grow(&b->map) || (o->redact && !(b->c.rs = redact_session_new()))) {
        digest_abort(b);
        return NULL;
    }
    return b;
}

/* One more of an early line of a level (fatal_ex, error_ex, err_ex): 0, or -1 when out of memory. */
static int keep_early(ctx *c, size_t *v, size_t *n)
{
    if (*n == EARLY_LINES)
        return 0;
    if ((v[*n] = keep(c)) == SIZE_MAX)
        return -1;
    (*n)++;
    return 0;
}

/* The body of digest_add: 0, or -1 when out of memory. */
static int add_line(digest_builder *db, const prompt_line *l)
{
    ctx *c = &db->c;
    const digest_opts *o = &db->o;
    if (c->n_lines == c->cap_tids) {
        size_t nc = c->cap_tids ? c->cap_tids * 2 : 1024;
        int64_t *nt = realloc(c->tids, nc * sizeof *nt);
        if (!nt)
            return -1;
        c->tids = nt;
        c->cap_tids = nc;
    }
    size_t len = first_line_len(l->message);
    size_t np = 0;
    miner_param params[MAX_PARAMS];
    int64_t id = miner_add(db->in.m, l->message, len, NULL, params, MAX_PARAMS, &np);
    if (id < 0)
        return -1;
    c->tids[c->n_lines++] = id;
    int lvl = digest_level_rank(l->level);
    if (!lvl)
        lvl = infer_level(l->message, len);
    db->level_totals[lvl]++;
    if (lvl >= 5)
        db->error_lines++;
    if ((lvl >= 6 && keep_early(c, c->fatal_ex, &c->n_fatal_ex)) ||
        (lvl == 5 && keep_early(c, c->error_ex, &c->n_error_ex)) ||
        (lvl >= 5 && keep_early(c, c->err_ex, &c->n_err_ex)))
        return -1;
    tstat *t = NULL;
    int placed = window_template(c, &db->map, id, l->ts_ms, &t);
    if (placed != 0) /* > 0: past the cap, counted in the rare group */
        return placed < 0 ? -1 : rare_add(c, l, SIZE_MAX, lvl);
    t->count++;
    t->last_ts = l->ts_ms;
    const char *what = attack_shape(l->message, len);
    if (what) {
        if (t->attack_lines < 3) {
            if ((t->attack_ex[t->attack_lines] = keep(c)) == SIZE_MAX)
                return -1;
            t->attack_what[t->attack_lines] = what;
        }
        t->attack_lines++;
    }
    if (lvl > t->max_level)
        t->max_level = lvl;
    if (t->n_ex < o->exemplars && t->n_ex < 8) {
        int dup = 0;
        for (size_t e = 0; e < t->n_ex && !dup; e++)
            dup = strcmp(c->kl[t->ex[e]].l.message, l->message) == 0;
        if (!dup) {
            if ((t->ex[t->n_ex] = keep(c)) == SIZE_MAX)
                return -1;
            t->n_ex++;
        }
    }
    for (size_t p = 0; p < np; p++) {
        double v;
        if (latency_value(l->message, len, params[p].s, params[p].len, &v) &&
            latency_add(&t->lat, params[p].pos, v) != 0)
            return -1;
    }
    for (size_t p = 0; p < np && p < PARAM_POSITIONS; p++) {
        char sh[SHAPE_LEN];
        shape_of(params[p].s, params[p].len, sh);
        int k, ns = t->n_shapes[p];
        for (k = 0; k < ns && strcmp(t->shapes[p][k].shape, sh) != 0; k++)
            ;
        if (k < ns) {
            t->shapes[p][k].count++;
        } else if (ns < SHAPES_MAX) {
            shape_slot *sl = &t->shapes[p][ns];
            if ((sl->line = keep(c)) == SIZE_MAX)
                return -1;
            memcpy(sl->shape, sh, SHAPE_LEN);
            sl->count = 1;
            t->n_shapes[p]++;
        } else {
            t->overflow[p] = 1;
        }
    }
    return 0;
}

int digest_add(digest_builder *b, const prompt_line *l, const char *attrs)
{
    if (b->oom)
        return -1;
    ctx *c = &b->c;
    prompt_line line = *l;
    if (!line.message)
        line.message = "";
    c->cur = &line;
    c->cur_attrs = attrs && *attrs ? attrs : NULL;
    c->cur_kept = SIZE_MAX;
    int rc = add_line(b, &line);
    c->cur = NULL;
    c->cur_attrs = NULL;
    if (rc)
        b->oom = 1;
    return rc;
}

/* Frees the build's working state (not the digest). */
static void builder_free(digest_builder *b)
{
    ctx *c = &b->c;
    for (size_t i = 0; i < c->nt; i++) {
        free(c->t[i].text);
        latency_acc_free(c->t[i].lat);
    }
    free(c->t);
    free(c->rare.fifo);
    free(c->order);
    for (size_t k = 0; k < c->nkl; k++)
        if (c->kl[k].refs)
            kline_clear(&c->kl[k]);
    free(c->kl);
    free(c->tids);
    redact_session_free(c->rs);
    json_decref(b->findings);
    free(b->map.keys);
    free(b->map.vals);
    free(b);
}

void digest_abort(digest_builder *b)
{
    if (b)
        builder_free(b);
}

int digest_end(digest_builder *db, digest *d)
{
    memset(d, 0, sizeof *d);
    if (!db)
        return -1;
    ctx *c = &db->c;
    const digest_input *in = &db->in;
    const digest_opts *o = &db->o;
    int rc = -1;
    sbuf b = {0};
    if (db->oom)
        goto out;
    d->findings = db->findings;
    db->findings = NULL;
    memcpy(d->level_totals, db->level_totals, sizeof d->level_totals);
    d->error_lines = db->error_lines;
    d->n_lines = c->n_lines;

    digest_merge_absorbed(c);
    for (size_t i = 0; i < c->nt; i++) {
        tstat *t = &c->t[i];
        const char *text = miner_template_text(in->m, t->id);
        if (text && o->redact)
            t->text = redact_text(o->redact, c->rs, text, strlen(text), NULL);
        else if (text)
            t->text = strdup(text);
        t->has_h = in->history && in->history(in->history_arg, t->id, &t->h) == 0;
        t->is_new = !t->has_h || !t->h.known;
        t->benign = t->has_h && t->h.benign;
        t->ratio = t->has_h ? (double)t->count / (t->h.trailing_avg > 0 ? t->h.trailing_avg : 1.0) : 0;
        t->changed = !t->is_new && t->count >= RATE_MIN_COUNT && t->count >= RATE_FACTOR * (t->h.trailing_avg + 1);
        t->rare = !t->is_new && t->has_h && (t->count <= 2 || t->h.windows_seen * 4 <= in->history_depth);
        if (t->count >= UNUSUAL_MIN_COUNT)
            for (int p = 0; p < PARAM_POSITIONS; p++)
                for (int k = 0; k < t->n_shapes[p] && !t->overflow[p]; k++)
                    if ((uint64_t)t->shapes[p][k].count * 100 < t->count)
                        t->unusual = 1;
        t->notable = t->max_level >= 4 || t->is_new || t->rare || t->changed || t->unusual;
        d->n_new += (size_t)t->is_new;
        d->n_changed += (size_t)t->changed;
    }
    baseline(c, d);
    d->quiet = d->n_new == 0 && d->n_changed == 0 && json_array_size(d->findings) == 0;
    for (size_t i = 0; i < c->nt; i++)
        d->quiet = d->quiet && !c->t[i].unusual;
    d->quiet = d->quiet && !c->rare.lines;
    d->rare_lines = c->rare.lines;
    d->rare_templates = c->rare.templates;

    if (!(c->order = malloc((c->nt ? c->nt : 1) * sizeof *c->order)))
        goto out;
    for (size_t i = 0; i < c->nt; i++)
        c->order[i] = i;
    qsort_r(c->order, c->nt, sizeof *c->order, by_priority, c->t);

    /* shrink until the estimate fits: each plan drops less informative parts than the next */
    size_t budget_bytes = o->token_budget * TOKENS_PER_BYTE_DIV;
    render_plan plans[] = {
        {0, o->exemplars, 1, SIZE_MAX, EXEMPLAR_MAX},
        {0, 1, 1, SIZE_MAX, EXEMPLAR_MAX},
        {0, 1, 1, 20, 600},
        {0, 1, 1, 5, 300},
        {0, 1, 1, 0, 200},
    };
    for (size_t k = 0; k < sizeof plans / sizeof plans[0]; k++) {
        b.len = 0;
        render(c, d, &plans[k], &b);
        if (b.oom)
            goto out;
        if (b.len <= budget_bytes)
            break;
    }
    if (b.len > budget_bytes) {
        /* notable templates alone are over the budget: cut, on a line boundary, and say so */
        size_t cut = budget_bytes > 80 ? budget_bytes - 80 : budget_bytes;
        while (cut > 0 && b.p[cut] != '\n')
            cut--;
        b.len = cut;
        sb_printf(&b, "\n… digest cut at the token budget; %zu templates in all.\n", c->nt);
    }
    d->text = b.p;
    b.p = NULL;
    d->est_tokens = (strlen(d->text) + TOKENS_PER_BYTE_DIV - 1) / TOKENS_PER_BYTE_DIV;
    d->redactions = c->rs ? redact_session_counts(c->rs) : json_object();
    if (!(d->templates = calloc(c->nt ? c->nt : 1, sizeof *d->templates)))
        goto out;
    for (size_t i = 0; i < c->nt; i++) {
        const char *text = miner_template_text(in->m, c->t[i].id); /* persisted raw: stored lines are raw too */
        d->templates[i] = (digest_template){.id = c->t[i].id, .text = strdup(text ? text : ""), .count = c->t[i].count,
                                            .max_level = c->t[i].max_level, .first_ts = c->t[i].first_ts,
                                            .last_ts = c->t[i].last_ts};
    }
    d->n_templates = c->nt;
    d->line_tids = c->tids;
    c->tids = NULL;
    rc = 0;
out:
    if (rc)
        digest_free(d);
    free(b.p);
    if (rc == 0 && c->rs) { /* kept for the quotes */
        d->red = o->redact;
        d->rs = c->rs;
        c->rs = NULL;
    }
    builder_free(db);
    return rc;
}

int digest_build(const digest_input *in, const digest_opts *o, digest *d)
{
    digest_builder *b = digest_begin(in, o);
    for (size_t i = 0; b && i < in->n_lines; i++)
        if (digest_add(b, &in->lines[i], in->attrs ? in->attrs[i] : NULL))
            break;
    if (!b) {
        memset(d, 0, sizeof *d);
        return -1;
    }
    return digest_end(b, d);
}

void digest_free(digest *d)
{
    if (!d)
        return;
    free(d->text);
    json_decref(d->findings);
    json_decref(d->redactions);
    for (size_t i = 0; i < d->n_templates; i++)
        free(d->templates[i].text);
    free(d->templates);
    free(d->line_tids);
    free(d->values);
    redact_session_free(d->rs);
    memset(d, 0, sizeof *d);
}

/* ---- quotes ---------------------------------------------------------------- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Whether q[0..qn) is one line of text, surrounding space aside (with prefix, the start of one). */
static int quotes_text(const char *text, const char *q, size_t qn, int prefix)
{
    for (const char *p = text;;) {
        size_t a = 0, b = strcspn(p, "\n");
        const char *next = p[b] ? p + b + 1 : NULL;
        while (a < b && is_blank(p[a]))
            a++;
        while (b > a && is_blank(p[b - 1]))
            b--;
        if ((prefix ? b - a >= qn : b - a == qn) && memcmp(p + a, q, qn) == 0)
            return 1;
        if (!next)
            return 0;
        p = next;
    }
}

/* Whether quote q[0..qn) (prefix or whole) is a line of message m as the digest showed it. */
static int quotes_message(digest *d, const char *m, const char *q, size_t qn, int prefix, int cheap_check)
{
    /* the text before the first placeholder is the same in the raw message: a cheap first test */
    const char *lt = memchr(q, '<', qn);
    size_t lit = lt ? (size_t)(lt - q) : qn;
    if (cheap_check && lit && !memmem(m, strlen(m), q, lit))
        return 0;
    if (!d->red)
        return quotes_text(m, q, qn, prefix);
    char *r = redact_text(d->red, d->rs, m, strlen(m), NULL);
    int ok = r && quotes_text(r, q, qn, prefix);
    free(r);
    return ok;
}

int digest_quote_parse(const char *evidence, digest_quote *q)
{
    memset(q, 0, sizeof *q);
    const char *e = evidence ? evidence : "";
    size_t len = strlen(e);
    while (len && is_blank(*e))
        e++, len--;
    while (len && is_blank(e[len - 1]))
        len--;
    /* an optional leading timestamp */
    size_t tok = strcspn(e, " \t"), used = 0;
    q->has_ts = tok <= len && time_parse_rfc3339(e, tok, 0, &q->ts, &used) == 0 && used == tok;
    if (q->has_ts) {
        e += tok;
        len -= tok;
        while (len && is_blank(*e))
            e++, len--;
    }
    /* a trailing ellipsis: the quote may stop early */
    if (len >= 3 && (memcmp(e + len - 3, "\xE2\x80\xA6", 3) == 0 || memcmp(e + len - 3, "...", 3) == 0)) {
        len -= 3;
        while (len && is_blank(e[len - 1]))
            len--;
        q->prefix = 1;
    }
    q->text = e;
    q->len = len;
    return len > 0;
}

int digest_quote_matches(digest *d, const digest_quote *q, const prompt_line *l)
{
    if (!q->len || (q->has_ts && l->ts_ms != q->ts))
        return 0;
    const char *lv = l->level && *l->level ? l->level : "-";
    size_t lvn = strlen(lv);
    /* the message is the whole rest, or what follows the line's own level */
    for (int skip = 0; skip < 2; skip++) {
        const char *t = q->text;
        size_t tn = q->len;
        if (skip) {
            if (tn <= lvn || strncasecmp(t, lv, lvn) != 0 || !is_blank(t[lvn]))
                break;
            t += lvn;
            tn -= lvn;
            while (tn && is_blank(*t))
                t++, tn--;
        }
        if (tn && (!q->prefix || tn >= DIGEST_QUOTE_MIN_PREFIX) &&
            quotes_message(d, l->message ? l->message : "", t, tn, q->prefix, !q->has_ts))
            return 1;
    }
    return 0;
}

int digest_find_quote(digest *d, const prompt_line *lines, size_t n, const char *evidence, size_t *index)
{
    digest_quote q;
    if (!digest_quote_parse(evidence, &q))
        return 0;
    for (size_t k = 0; k < n; k++) {
        if (digest_quote_matches(d, &q, &lines[k])) {
            *index = k;
            return 1;
        }
    }
    return 0;
}
