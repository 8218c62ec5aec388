/*
 * miner_tree.c — where the template miner keeps its templates: the id map
 * (open addressing), the prefix tree's nodes and their children, the LRU list
 * and eviction, and a template's text.
 *
 * Threads: the caller's, holding the miner (one thread at a time).
 *
 * Invariants: every live template is in the id map, in the LRU list and in
 * exactly one leaf; a tree node exists only while it has a template or a
 * child below it (tree_node_prune); ids are never reused.
 *
 * Limits: max_templates live templates (tree_evict_to removes the least
 * recently seen); max_children children per node (the walk in miner.c sends
 * the rest to the `<*>` child).
 */
#include <stdlib.h>

#include "analyze/miner_int.h"

/* ---- id map --------------------------------------------------------------- */

static size_t id_home(const miner *m, int64_t id)
{
    return (size_t)mix64((uint64_t)id) & (m->ids_cap - 1);
}

tmpl *tree_id_get(const miner *m, int64_t id)
{
    if (id <= 0)
        return NULL;
    for (size_t i = id_home(m, id);; i = (i + 1) & (m->ids_cap - 1)) {
        if (m->ids[i].id == 0)
            return NULL;
        if (m->ids[i].id == id)
            return m->ids[i].t;
    }
}

int tree_id_grow(miner *m)
{
    size_t ncap = m->ids_cap * 2;
    idslot *n = calloc(ncap, sizeof *n);
    if (!n)
        return -1;
    idslot *old = m->ids;
    size_t ocap = m->ids_cap;
    m->ids = n;
    m->ids_cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].id == 0)
            continue;
        size_t j = id_home(m, old[i].id);
        while (m->ids[j].id != 0)
            j = (j + 1) & (ncap - 1);
        m->ids[j] = old[i];
    }
    free(old);
    return 0;
}

/* Caller made room (ids_n + 1 <= ids_cap / 2). */
void tree_id_put(miner *m, tmpl *t)
{
    size_t i = id_home(m, t->id);
    while (m->ids[i].id != 0)
        i = (i + 1) & (m->ids_cap - 1);
    m->ids[i].id = t->id;
    m->ids[i].t = t;
    m->ids_n++;
}

void tree_id_del(miner *m, int64_t id)
{
    size_t mask = m->ids_cap - 1;
    size_t i = id_home(m, id);
    while (m->ids[i].id != id) {
        if (m->ids[i].id == 0)
            return;
        i = (i + 1) & mask;
    }
    /* backward-shift deletion keeps every probe sequence unbroken */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->ids[j].id == 0)
            break;
        size_t h = id_home(m, m->ids[j].id);
        /* move j to i when h is cyclically outside (i, j] */
        if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
            m->ids[i] = m->ids[j];
            i = j;
        }
    }
    m->ids[i].id = 0;
    m->ids[i].t = NULL;
    m->ids_n--;
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

/* ---- LRU ------------------------------------------------------------------ */

static void lru_unlink(miner *m, tmpl *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        m->lru_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        m->lru_tail = t->prev;
    t->prev = t->next = NULL;
}

void tree_lru_push(miner *m, tmpl *t)
{
    t->prev = NULL;
    t->next = m->lru_head;
    if (m->lru_head)
        m->lru_head->prev = t;
    m->lru_head = t;
    if (!m->lru_tail)
        m->lru_tail = t;
}

void tree_lru_touch(miner *m, tmpl *t)
{
    if (m->lru_head == t)
        return;
    lru_unlink(m, t);
    tree_lru_push(m, t);
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
    lru_unlink(m, t);
    tree_id_del(m, t->id);
    m->n_tmpl--;
    tree_node_prune(m, leaf);
    free(t->text);
    free(t);
}

void tree_evict_to(miner *m, size_t cap)
{
    while (m->n_tmpl > cap && m->lru_tail)
        tree_tmpl_remove(m, m->lru_tail);
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
