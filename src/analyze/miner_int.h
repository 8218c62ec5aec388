/*
 * miner_int.h — what the files of the template miner share: the miner's
 * structures, the placeholders and character classes of the masking, the
 * scratch output buffer, and the functions one file gives another. Private
 * to src/analyze/miner*.c; the public surface is include/anomalog/miner.h.
 *
 *   miner_mask.c    the shape of one token: placeholders, units, masking
 *   miner_tokens.c  a message (or a template's text) into masked tokens, with
 *                   the rules over the token sequence (dates, fields, units,
 *                   restatements, lists, runs)
 *   miner_tree.c    where templates live: the id map, the prefix tree's
 *                   nodes, eviction from the recency list (core/lru.c), a
 *                   template's text
 *   miner.c         the walk, matching and generalising, event words,
 *                   aliases, and the public functions
 */
#ifndef ANOMALOG_ANALYZE_MINER_INT_H
#define ANOMALOG_ANALYZE_MINER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "anomalog/lru.h"
#include "anomalog/miner.h"

#define QUOTE_MAX 512
#define HEX_RUN_MIN 7
#define EVENT_WORDS_MAX 6 /* distinct plain words kept apart at one position; one more, and they merge */
#define SIBLINGS_MAX 64   /* templates merged at once when they do */
#define EVENT_FAMILY_MATURE 50 /* lines of such templates after which a word seen once is a value */

/* ---- placeholders --------------------------------------------------------- */

typedef enum ph_kind { PH_NONE = 0, PH_NUM, PH_HEX, PH_UUID, PH_IP, PH_TS, PH_ANY } ph_kind;

extern const struct ph_text {
    const char *s;
    size_t n;
} mask_ph_text[PH_ANY + 1];

/* ---- character classes ---------------------------------------------------- */

/* One table lookup per byte on the hot path. Bytes >= 0x80 (UTF-8 and
 * anything else) count as letters; controls, NUL and space separate tokens. */
enum { C_SPACE = 1, C_DIGIT = 2, C_ALPHA = 4, C_HEX = 8, C_TRAIL = 16 };
extern const unsigned char mask_ct[256];

static inline bool is_space(unsigned char c)
{
    return mask_ct[c] & C_SPACE;
}
static inline bool is_digit(unsigned char c)
{
    return mask_ct[c] & C_DIGIT;
}
static inline bool is_alpha(unsigned char c)
{
    return mask_ct[c] & C_ALPHA;
}
static inline bool is_alnum(unsigned char c)
{
    return mask_ct[c] & (C_DIGIT | C_ALPHA);
}
static inline bool is_hex(unsigned char c)
{
    return mask_ct[c] & C_HEX;
}
/* Trailing punctuation: ) ] } , ; : . ! ? > */
static inline bool is_trail_punct(unsigned char c)
{
    return mask_ct[c] & C_TRAIL;
}
static inline char lower(unsigned char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* ---- hashing -------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* Output of masking: bytes appended to the scratch buffer. A message cannot
 * fill it (it is sized for 5 bytes out per byte in); a template text given to
 * miner_restore() can, which then fails. */
typedef struct obuf {
    char *p;
    size_t len, cap;
    bool full; /* an append did not fit: the output is incomplete */
} obuf;

static inline void out_bytes(obuf *o, const char *s, size_t n)
{
    if (n > o->cap - o->len) {
        o->full = true;
        return;
    }
    if (n == 1)
        o->p[o->len] = s[0];
    else
        memcpy(o->p + o->len, s, n);
    o->len += n;
}
static inline void out_ph(obuf *o, ph_kind k)
{
    out_bytes(o, mask_ph_text[k].s, mask_ph_text[k].n);
}

/* What masking found out about a token. */
typedef struct tokinfo {
    bool var;      /* holds a placeholder */
    bool weight;   /* a letter or digit outside placeholders: counts toward similarity */
    bool field;    /* a digit anywhere, or the token is bracketed (`(alice)`,
                    * `[geo]`): a value or tag, not the event's word, so it
                    * routes to the tree's <*> branch */
    bool pure;     /* core is a single placeholder (no literal), e.g. `<NUM>`, `<IP>` */
    ph_kind kind;  /* that placeholder, when pure */
    bool kv;       /* key=value */
    bool lead;     /* leading punctuation was split off */
    bool trail;    /* trailing punctuation was split off */
} tokinfo;

/* Leading punctuation: opening brackets. ('<' stays in the core, where it is
 * a comparator before a number, `<1`, or a placeholder's start, or a
 * literal: reading it one way before masking and another after would make
 * the masking of a template differ from the message's.) */
static inline bool is_lead_punct(unsigned char c)
{
    return c == '(' || c == '[' || c == '{';
}

/* ---- the miner ------------------------------------------------------------ */

/* A token of the message being added (masked text in the scratch buffer). */
typedef struct mtok {
    uint64_t h;          /* hash of the masked text */
    uint64_t hs;         /* hash of its skeleton: every placeholder alike */
    uint32_t off, len;   /* masked text in m->scratch */
    uint32_t roff, rlen; /* raw bytes in the message */
    bool var, weight, field;
    bool value; /* the core is one value: a single placeholder, or <NUM> and a unit */
    bool kv;    /* key=value (no leading punctuation) */
    bool lead;  /* leading punctuation was split off */
    bool trail; /* trailing punctuation was split off */
} mtok;

/* A token of a template (text in the template's text). */
typedef struct ttok {
    uint64_t h, hs;
    uint32_t off, len;
    bool var, weight, field, wild;
} ttok;

struct node;

typedef struct tmpl {
    int64_t id;
    uint64_t count;
    lru_link lru; /* in m->lru, the most recently seen at its head */
    struct node *leaf;
    uint32_t leaf_idx;
    uint32_t n;
    char *text;
    size_t text_len;
    ttok t[];
} tmpl;

/* A tree node: children by token hash (open addressing, power-of-two
 * capacity, linear probing with backward-shift deletion), a `<*>` child, and,
 * at the leaves, the templates. */
typedef struct node {
    struct node *parent;
    uint64_t key;       /* hash of the token leading here (0 for <*> and the length level) */
    bool is_wild;       /* this is its parent's <*> child */
    int level;          /* 0: length node; k: after k tokens */
    uint32_t len_slot;  /* for level 0: the token count */
    struct node **kids;
    uint32_t kcap, nkids;
    struct node *wild;
    tmpl **tl;
    uint32_t ntl, tlcap;
} node;

/* A slot of an id map: a template's id, and its template (m->ids) or the id an absorbed template now counts
 * as (m->alias). */
typedef struct idslot {
    int64_t id; /* 0: empty */
    union {
        tmpl *t;
        int64_t to;
    };
} idslot;

/* An id map: open addressing with linear probing, kept at most half full by its user (miner_tree.c). */
typedef struct idmap {
    idslot *s;     /* [cap], cap a power of two; NULL while cap is 0 */
    size_t cap, n; /* slots, and ids held */
} idmap;

struct miner {
    miner_opts o;
    size_t path_len; /* depth - 2 */
    node **bylen;    /* [max_tokens + 1] */
    idmap ids;       /* every live template by id (and a provisional -1 while one is re-created) */
    lru_list lru; /* every template, the most recently seen first */
    size_t n_tmpl;
    int64_t next_id;
    /* scratch, sized at creation */
    char *scratch;
    size_t scratch_cap;
    mtok *tok;
    size_t ntok;
    ttok *ttmp;     /* [max_tokens]: tokens of a template being built */
    uint32_t *offs; /* [max_tokens]: token offsets of a text being rendered */
    uint64_t h_any;  /* hash of "<*>" */
    uint64_t hs_any; /* skeleton hash of "<*>" */
    char *tbuf;      /* [scratch_cap]: a template text being rebuilt */
    bool kv_tail;    /* the last tokens_read() ended in a run of trailing fields, made one token */
    uint64_t h_fields, hs_fields; /* hashes of FIELDS_TEXT */
    size_t fields_off; /* FIELDS_TEXT in the scratch buffer, at its end (never overwritten by a message) */
    idmap alias;     /* ids absorbed into another template, to the id that absorbed them */
    bool full;      /* the last tokens_read() ran out of scratch */
};

/* Does this token route to the <*> branch? */
static inline bool routes_wild(bool var, bool field, bool wild)
{
    return var || field || wild;
}

/* The text of a run of trailing key=value fields, whatever their keys. */
#define FIELDS_TEXT "<*>=<*>"
#define FIELDS_LEN 7

typedef enum tok_mode { TOK_MESSAGE, TOK_TEMPLATE } tok_mode;

/* ---- miner_mask.c ---------------------------------------------------------- */

/* If s (n bytes left) starts with a placeholder text, returns its kind. */
ph_kind mask_ph_at(const char *s, size_t n);
/* Hash of a masked token's skeleton: every placeholder read as the same one. */
uint64_t mask_skel_hash(const char *s, size_t n);
/* Whether two masked tokens have the same skeleton. */
bool mask_skel_equal(const char *a, size_t an, const char *b, size_t bn);
/* 64-bit hash of n bytes. */
uint64_t mask_hash_bytes(const char *s, size_t n);
/* Whether s (n bytes) is a measurement unit (`ms`, `KB`, `bytes`, `%`). */
bool mask_is_unit(const char *s, size_t n);
/* Masks one raw token s[0..n) into o; what it found goes to ti. */
void mask_token(const char *s, size_t n, obuf *o, tokinfo *ti);
/* The next raw token of s[*pos..n) (see miner_mask.c); false at the end. */
bool mask_next_raw(const char *s, size_t n, size_t *pos, size_t *ts, size_t *tl, bool quotes);

/* ---- miner_tokens.c -------------------------------------------------------- */

/* Tokenises s[0..n) into m->tok / m->scratch (m->full when the scratch ran out). */
void tokens_read(miner *m, const char *s, size_t n, tok_mode mode);
/* Appends a `<*>=<*>` token standing for no trailing fields; the caller checked there is room. */
void tokens_fields_append(miner *m, uint32_t msg_len);

/* ---- miner_tree.c ---------------------------------------------------------- */

/* The slot holding id, or NULL. */
idslot *idmap_find(const idmap *im, int64_t id);
/* Moves the ids into a table of cap slots (a power of two, at least twice n); -1 when out of memory (unchanged). */
int idmap_resize(idmap *im, size_t cap);
/* The slot of id (not 0), taken when id is new; the caller made room (n + 1 <= cap / 2). */
idslot *idmap_put(idmap *im, int64_t id);
/* Drops id, if held. */
void idmap_del(idmap *im, int64_t id);
/* Drops every id, keeping the table. */
void idmap_clear(idmap *im);
/* The live template of id, or NULL. */
tmpl *tree_id_get(const miner *m, int64_t id);
node *tree_kid_get(const node *p, uint64_t key);
int tree_kid_put(node *p, node *k);
void tree_node_free(node *nd);
void tree_node_prune(miner *m, node *nd);
void tree_tmpl_remove(miner *m, tmpl *t);
void tree_evict_to(miner *m, size_t cap);
char *tree_render(const ttok *tt, const char *src, uint32_t n, size_t *len_out, uint32_t *offs);

#endif
