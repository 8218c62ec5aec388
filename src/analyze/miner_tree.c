/*
 * miner_tree.c — where the template miner keeps its templates: the id map
 * (open addressing), the prefix tree's nodes and their children, eviction
 * from the recency list (m->lru, core/lru.c), and a template's text.
 *
 * Threads: the caller's, holding the miner (one thread at a time).
 *
 * Invariants: every live template is in the id map, in the recency list and in
 * exactly one leaf; a tree node exists only while it has a template or a
 * child below it (tree_node_prune); ids are never reused.
 *
 * Limits: max_templates live templates (tree_evict_to removes the least
 * recently seen); max_children children per node (the walk in miner.c sends
 * the rest to the `<*>` child).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/miner_int.h"

/* ---- id map --------------------------------------------------------------- */

static size_t id_home(const idmap *im, int64_t id)
{
    return (size_t)mix64((uint64_t)id) & (im->cap - 1);
}

idslot *idmap_find(const idmap *im, int64_t id)
{
    if (!im->n)
        return NULL;
    for (size_t i = id_home(im, id);; i = (i + 1) & (im->cap - 1)) {
        if (im->s[i].id == 0)
            return NULL;
        if (im->s[i].id == id)
            return &im->s[i];
    }
}

int idmap_resize(idmap *im, size_t cap)
{
    assert(cap && (cap & (cap - 1)) == 0 && cap >= 2 * im->n);
    idslot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return -1;
    idmap old = *im;
    *im = (idmap){.s = ns, .cap = cap};
    for (size_t i = 0; i < old.cap; i++)
        if (old.s[i].id != 0)
            *idmap_put(im, old.s[i].id) = old.s[i];
    free(old.s);
    return 0;
}

idslot *idmap_put(idmap *im, int64_t id)
{
    assert(id != 0 && im->n + 1 <= im->cap / 2);
    size_t i = id_home(im, id);
    while (im->s[i].id != 0 && im->s[i].id != id)
        i = (i + 1) & (im->cap - 1);
    if (im->s[i].id == 0) {
        im->s[i].id = id;
        im->n++;
    }
    return &im->s[i];
}

void idmap_del(idmap *im, int64_t id)
{
    idslot *s = idmap_find(im, id);
    if (!s)
        return;
    /* backward-shift deletion keeps every probe sequence unbroken */
    size_t mask = im->cap - 1, i = (size_t)(s - im->s), j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (im->s[j].id == 0)
            break;
        size_t h = id_home(im, im->s[j].id);
        /* move j to i when h is cyclically outside (i, j] */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            im->s[i] = im->s[j];
            i = j;
        }
    }
    im->s[i] = (idslot){0};
    im->n--;
}

void idmap_clear(idmap *im)
{
    if (im->s)
        memset(im->s, 0, im->cap * sizeof *im->s);
    im->n = 0;
}

tmpl *tree_id_get(const miner *m, int64_t id)
{
    idslot *s = id > 0 ? idmap_find(&m->ids, id) : NULL;
    return s ? s->t : NULL;
}

/* ---- tree nodes ----------------------------------------------------------- */

node *tree_kid_get(const node *p, uint64_t key)
{
    if (p->nkids == 0)
        return NULL;
    uint32_t mask = p->kcap - 1;
    for (uint32_t i = (uint32_t)key & mask;; i = (i + 1) & mask) {
        node *k = p->kids[i];
        if (!k)
            return NULL;
        if (k->key == key)
            return k;
    }
}

int tree_kid_put(node *p, node *k)
{
    if ((p->nkids + 1) * 2 > p->kcap) {
        uint32_t ncap = p->kcap ? p->kcap * 2 : 4;
        node **nk = calloc(ncap, sizeof *nk);
        if (!nk)
            return -1;
        for (uint32_t i = 0; i < p->kcap; i++) {
            node *c = p->kids[i];
            if (!c)
                continue;
            uint32_t j = (uint32_t)c->key & (ncap - 1);
            while (nk[j])
                j = (j + 1) & (ncap - 1);
            nk[j] = c;
        }
        free(p->kids);
        p->kids = nk;
        p->kcap = ncap;
    }
    uint32_t mask = p->kcap - 1;
    uint32_t i = (uint32_t)k->key & mask;
    while (p->kids[i])
        i = (i + 1) & mask;
    p->kids[i] = k;
    p->nkids++;
    return 0;
}

static void kid_del(node *p, const node *k)
{
    uint32_t mask = p->kcap - 1;
    uint32_t i = (uint32_t)k->key & mask;
    while (p->kids[i] != k) {
        if (!p->kids[i])
            return;
        i = (i + 1) & mask;
    }
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!p->kids[j])
            break;
        uint32_t h = (uint32_t)p->kids[j]->key & mask;
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            p->kids[i] = p->kids[j];
            i = j;
        }
    }
    p->kids[i] = NULL;
    p->nkids--;
}

void tree_node_free(node *nd)
{
    if (!nd)
        return;
    for (uint32_t i = 0; i < nd->kcap; i++)
        tree_node_free(nd->kids[i]);
    tree_node_free(nd->wild);
    free(nd->kids);
    free(nd->tl);
    free(nd);
}

/* Frees nd and its empty ancestors. */
void tree_node_prune(miner *m, node *nd)
{
    while (nd && nd->ntl == 0 && nd->nkids == 0 && !nd->wild) {
        node *p = nd->parent;
        if (p) {
            if (nd->is_wild)
                p->wild = NULL;
            else
                kid_del(p, nd);
        } else {
            m->bylen[nd->len_slot] = NULL;
        }
        free(nd->kids);
        free(nd->tl);
        free(nd);
        nd = p;
    }
}

/* ---- templates ------------------------------------------------------------ */

void tree_tmpl_remove(miner *m, tmpl *t)
{
    node *leaf = t->leaf;
    uint32_t i = t->leaf_idx;
    /* keep the leaf in creation order: the first exact match is the oldest */
    memmove(leaf->tl + i, leaf->tl + i + 1, (size_t)(leaf->ntl - i - 1) * sizeof *leaf->tl);
    leaf->ntl--;
    for (uint32_t k = i; k < leaf->ntl; k++)
        leaf->tl[k]->leaf_idx = k;
    lru_unlink(&m->lru, &t->lru);
    idmap_del(&m->ids, t->id);
    m->n_tmpl--;
    tree_node_prune(m, leaf);
    free(t->text);
    free(t);
}

void tree_evict_to(miner *m, size_t cap)
{
    while (m->n_tmpl > cap && m->lru.tail)
        tree_tmpl_remove(m, LRU_ENTRY(m->lru.tail, tmpl, lru));
}

/* Builds t's text from token texts held in src (template text or scratch)
 * with wild tokens as <*>. Returns a malloc'd string or NULL. */
char *tree_render(const ttok *tt, const char *src, uint32_t n, size_t *len_out, uint32_t *offs)
{
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += (tt[i].wild ? mask_ph_text[PH_ANY].n : tt[i].len) + (i > 0);
    char *s = malloc(total + 1);
    if (!s)
        return NULL;
    size_t p = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0)
            s[p++] = ' ';
        offs[i] = (uint32_t)p;
        if (tt[i].wild) {
            memcpy(s + p, mask_ph_text[PH_ANY].s, mask_ph_text[PH_ANY].n);
            p += mask_ph_text[PH_ANY].n;
        } else {
            memcpy(s + p, src + tt[i].off, tt[i].len);
            p += tt[i].len;
        }
    }
    s[p] = '\0';
    *len_out = p;
    return s;
}
