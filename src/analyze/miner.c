/*
 * miner.c — log template mining: a fixed-depth prefix tree over masked tokens
 * with a similarity threshold (after Drain, He et al., ICWS 2017), our own
 * implementation with generic, shape-only masking.
 *
 * Purpose: miner_add() turns one message into a template id. The message is
 * tokenised once into a scratch buffer owned by the miner (no allocation per
 * line, miner_tokens.c), each token masked by its shape (miner_mask.c), and
 * the masked tokens walk a prefix tree to a leaf of templates (the tree's
 * nodes, the id map and the LRU list are in miner_tree.c; miner_int.h says
 * what the files share). This file holds the walk, matching and
 * generalising, event words, aliases and the public functions.
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
#include "analyze/miner_int.h"

#include "anomalog/utf8.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

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
            next = tree_kid_get(nd, t->h);
            if (!next && nd->nkids + 1 < m->o.max_children) {
                next = node_new(nd, t->h, false, (int)i + 1);
                if (!next || tree_kid_put(nd, next) != 0) {
                    free(next);
                    tree_node_prune(m, nd);
                    return NULL;
                }
            }
        }
        if (!next) {
            if (!nd->wild) {
                nd->wild = node_new(nd, 0, true, (int)i + 1);
                if (!nd->wild) {
                    tree_node_prune(m, nd);
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
    if (m->ids.n + 1 > m->ids.cap / 2 && idmap_resize(&m->ids, m->ids.cap * 2) != 0)
        return NULL;
    tmpl *t = malloc(sizeof *t + (size_t)n * sizeof(ttok));
    if (!t)
        return NULL;
    memcpy(t->t, tt, (size_t)n * sizeof(ttok));
    t->text = tree_render(tt, src, n, &t->text_len, m->offs);
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
            tree_node_prune(m, leaf);
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
    idmap_put(&m->ids, t->id)->t = t;
    lru_push(&m->lru, &t->lru);
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
        b->wild = a->h == m->h_any && a->len == mask_ph_text[PH_ANY].n &&
                  memcmp(m->scratch + a->off, mask_ph_text[PH_ANY].s, mask_ph_text[PH_ANY].n) == 0;
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
    return (a->var || b->var) && mask_skel_equal(at, a->len, bt, b->len);
}

/* Writes into out the template token text a (an bytes) with each placeholder
 * whose type differs from the one at the same place in b turned into <*>
 * (a and b have equal skeletons). Returns the length written (<= an). */
static size_t merge_placeholders(const char *a, size_t an, const char *b, size_t bn, char *out)
{
    size_t i = 0, j = 0, o = 0;
    while (i < an) {
        ph_kind ka = a[i] == '<' ? mask_ph_at(a + i, an - i) : PH_NONE;
        if (ka != PH_NONE) {
            ph_kind kb = j < bn && b[j] == '<' ? mask_ph_at(b + j, bn - j) : PH_NONE;
            ph_kind k = ka == kb ? ka : PH_ANY;
            memcpy(out + o, mask_ph_text[k].s, mask_ph_text[k].n);
            o += mask_ph_text[k].n;
            i += mask_ph_text[ka].n;
            j += kb != PH_NONE ? mask_ph_text[kb].n : 1;
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
            a->len = (uint32_t)mask_ph_text[PH_ANY].n;
            memcpy(buf + p, mask_ph_text[PH_ANY].s, mask_ph_text[PH_ANY].n);
            change = true;
        } else if (a->h != b->h || a->len != b->len || memcmp(at, m->scratch + b->off, a->len) != 0) {
            size_t nl = merge_placeholders(at, a->len, m->scratch + b->off, b->len, buf + p);
            if (nl != a->len || memcmp(buf + p, at, nl) != 0) {
                a->len = (uint32_t)nl;
                a->h = mask_hash_bytes(buf + p, nl);
                a->wild = nl == mask_ph_text[PH_ANY].n && memcmp(buf + p, mask_ph_text[PH_ANY].s, nl) == 0;
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
            node *next = routes_wild(t->var, t->field, false) ? NULL : tree_kid_get(nd, t->h);
            nd = next ? next : nd->wild;
        }
        if (!nd)
            return NULL;
        const mtok *t = &m->tok[depth - 1];
        node *own = routes_wild(t->var, t->field, false) ? NULL : tree_kid_get(nd, t->h);
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
    tree_tmpl_remove(m, t);
    idmap_del(&m->ids, -1);
    nt->id = id;
    idmap_put(&m->ids, id)->t = nt;
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
    char *text = tree_render(m->ttmp, t->text, t->n, &len, m->offs);
    if (!text)
        return -1;
    for (uint32_t i = 0; i < t->n; i++) {
        m->ttmp[i].off = m->offs[i];
        if (m->ttmp[i].wild)
            m->ttmp[i].len = (uint32_t)mask_ph_text[PH_ANY].n;
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

/* Records that id now counts as `to`. When the map holds max_templates
 * entries it starts again empty (the oldest aliases are the least likely to be
 * asked about). Returns 0, or -1 when out of memory (nothing recorded). */
static int alias_put(miner *m, int64_t id, int64_t to)
{
    if (m->alias.n + 1 > m->o.max_templates)
        idmap_clear(&m->alias);
    if (m->alias.n + 1 > m->alias.cap / 2 && idmap_resize(&m->alias, m->alias.cap ? m->alias.cap * 2 : 64) != 0)
        return -1;
    idmap_put(&m->alias, id)->to = to;
    return 0;
}

static int64_t alias_get(const miner *m, int64_t id)
{
    const idslot *s = idmap_find(&m->alias, id);
    return s ? s->to : 0;
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
        tree_tmpl_remove(m, sib[i]);
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
    m->h_any = mask_hash_bytes(mask_ph_text[PH_ANY].s, mask_ph_text[PH_ANY].n);
    m->hs_any = mask_skel_hash(mask_ph_text[PH_ANY].s, mask_ph_text[PH_ANY].n);
    m->scratch_cap = 6 * o.max_bytes + 64;
    m->h_fields = mask_hash_bytes(FIELDS_TEXT, FIELDS_LEN);
    m->hs_fields = mask_skel_hash(FIELDS_TEXT, FIELDS_LEN);
    m->fields_off = m->scratch_cap;
    m->bylen = calloc(o.max_tokens + 1, sizeof *m->bylen);
    m->scratch = malloc(m->scratch_cap + FIELDS_LEN);
    m->tok = malloc(o.max_tokens * sizeof *m->tok);
    m->ttmp = malloc(o.max_tokens * sizeof *m->ttmp);
    m->offs = malloc(o.max_tokens * sizeof *m->offs);
    m->tbuf = malloc(m->scratch_cap);
    if (idmap_resize(&m->ids, 64) != 0 || !m->bylen || !m->scratch || !m->tok || !m->ttmp || !m->offs || !m->tbuf)
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
    for (lru_link *k = m->lru.head, *next; k; k = next) {
        next = k->next;
        tmpl *t = LRU_ENTRY(k, tmpl, lru);
        free(t->text);
        free(t);
    }
    if (m->bylen)
        for (size_t i = 0; i <= m->o.max_tokens; i++)
            tree_node_free(m->bylen[i]);
    free(m->bylen);
    free(m->ids.s);
    free(m->scratch);
    free(m->tok);
    free(m->ttmp);
    free(m->offs);
    free(m->tbuf);
    free(m->alias.s);
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
    len = utf8_cut(msg, len, m->o.max_bytes); /* at a character boundary */
    tokens_read(m, msg, len, TOK_MESSAGE);
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
        tokens_fields_append(m, (uint32_t)len);
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
        lru_touch(&m->lru, &best->lru);
        best->count++;
    } else {
        tokens_to_ttok(m);
        best = tmpl_create(m, m->ttmp, m->scratch, n, m->next_id, 1);
        if (!best)
            return -1;
        m->next_id++;
        if (is_new)
            *is_new = 1;
        tree_evict_to(m, m->o.max_templates);
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
    for (int k = 0; k < 64 && !tree_id_get(m, id); k++) {
        int64_t to = alias_get(m, id);
        if (!to)
            break;
        id = to;
    }
    return id;
}

const char *miner_template_text(const miner *m, int64_t id)
{
    const tmpl *t = tree_id_get(m, id);
    return t ? t->text : NULL;
}

uint64_t miner_template_count(const miner *m, int64_t id)
{
    const tmpl *t = tree_id_get(m, id);
    return t ? t->count : 0;
}

size_t miner_size(const miner *m)
{
    return m->n_tmpl;
}

void miner_foreach(const miner *m, miner_each_fn fn, void *arg)
{
    for (const lru_link *k = m->lru.head; k; k = k->next) {
        const tmpl *t = LRU_ENTRY(k, const tmpl, lru);
        fn(t->id, t->text, t->count, arg);
    }
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
    if (id <= 0 || !template_text || tree_id_get(m, id))
        return -1;
    size_t len = strlen(template_text);
    if (len > m->scratch_cap)
        return -1;
    tokens_read(m, template_text, len, TOK_TEMPLATE);
    if (m->full)
        return -1;
    tokens_to_ttok(m);
    if (!tmpl_create(m, m->ttmp, m->scratch, (uint32_t)m->ntok, id, count))
        return -1;
    if (id >= m->next_id)
        m->next_id = id + 1;
    tree_evict_to(m, m->o.max_templates);
    return 0;
}
