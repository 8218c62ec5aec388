/*
 * digest.c — a closed window compressed to what matters, under a token
 * budget: the build and the digest's public surface (digest.h). The
 * baseline's judgements of the same statistics are in digest_baseline.c,
 * the text the model reads is written by digest_render.c; what the three
 * share is digest_int.h.
 *
 * Threads: called by an analysis worker holding its service's miner lock;
 * no state of its own outside the digest being built.
 *
 * Steps: (1) mine every line's first line (a stack trace is grouped by its
 * head; the whole message stays available as an exemplar) and gather, per
 * template, its count, time span, highest level, up to K distinct exemplars,
 * and the shapes of its variable values; (2) look each template up in the
 * service's history: new, rate against the trailing average, windows seen;
 * (3) derive the baseline's findings (digest_baseline); (4) render
 * (digest_render), then shrink to the budget by
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
 * Templates the miner merges while the window is mined count as the one that
 * holds them (digest_merge_absorbed). Durations among a template's values
 * (latency.h: `took 23 ms`, `latency=0.4s`) are gathered per position for
 * the baseline's latency rule.
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
#include "digest_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anomalog/ingest.h"
#include "anomalog/timeutil.h"

void digest_opts_defaults(digest_opts *o)
{
    memset(o, 0, sizeof *o);
    o->exemplars = 3;
    o->token_budget = 3000;
    o->history_windows = 12;
    o->max_window_templates = DIGEST_MAX_WINDOW_TEMPLATES;
}

/* A line without a level may still say it (`[ERROR]`, `level=error`, `ERROR:`): the one reader ingestion uses. */
static int infer_level(const char *msg, size_t len)
{
    return digest_level_rank(ingest_level_sniff(msg, len));
}

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

/* ---- the build ------------------------------------------------------------ */

/* Room for one more of n elements of size bytes in *v (capacity *cap, doubling from first): 0, or -1. */
static int grow(void **v, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : first;
    void *nv = realloc(*v, nc * size);
    if (!nv)
        return -1;
    *v = nv;
    *cap = nc;
    return 0;
}

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
        if (grow((void **)&c->kl, &c->capkl, c->nkl, sizeof *c->kl, 64))
            return SIZE_MAX;
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
        if (grow((void **)&c->t, &c->capt, c->nt, sizeof *c->t, 64))
            return -1;
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
    if (grow((void **)&c->tids, &c->cap_tids, c->n_lines, sizeof *c->tids, 1024))
        return -1;
    size_t len = digest_first_line_len(l->message);
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
    const char *what = digest_attack_shape(l->message, len);
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
    strbuf b = STRBUF_INIT(STRBUF_UNBOUNDED);
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
    digest_baseline(c, d);
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
        strbuf_truncate(&b, 0);
        digest_render(c, d, &plans[k], &b);
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
        strbuf_truncate(&b, cut);
        strbuf_printf(&b, "\n… digest cut at the token budget; %zu templates in all.\n", c->nt);
    }
    if (!(d->text = strbuf_steal(&b)))
        goto out;
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
    strbuf_free(&b);
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
