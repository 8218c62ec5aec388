/*
 * miner_tokens.c — a message (or a template's text) read into the miner's
 * masked tokens, and the rules over the token sequence.
 *
 * Purpose: tokens_read() splits the message into raw tokens (miner_mask.c
 * masks each) into the miner's scratch buffer, without allocating. Then six
 * rules over the token sequence, again about shapes only:
 *   - a date written out in words (`Mon Dec 05 19:14:11 2026`, `Tue, 06 Dec
 *     2026 10:00:00 GMT`, `5 December 2026 10:00`): a run of capitalised day
 *     or month names, numbers, times and a zone -> one `<TS>` token;
 *   - a run of key=value tokens that ends a message after two or more other
 *     tokens is one token `<*>=<*>` (optional trailing fields), and a message
 *     without one joins a template that has one (or gives one to the template
 *     of its words, which keeps its id); not after a key printed with no
 *     value (`ruser= rhost=…`), a fixed record layout;
 *   - a number followed by a measurement unit (`5 ms`, `1.2 KB`, `2717
 *     bytes`) is one token, `<NUM> KB`;
 *   - a parenthesised value right after a value restates it (`2717 bytes
 *     (2.65 KB)`) and joins it, so an optional restatement does not change
 *     the token count;
 *   - a list of values (`[1,` `2,` `3]`) is one value (`[<NUM>]`);
 *   - a run of identical masked tokens (`blk_1 blk_2 …`) is one token.
 * Placeholder texts in the input (`<NUM>`, `<*>`, …) are read as
 * placeholders, so the masking is idempotent: a template's text, tokenised
 * again in template mode (split at spaces only; no restatement, list or run
 * rules), gives the template's own tokens back. miner_restore() relies on
 * that, and fuzz_miner checks it.
 *
 * Threads: the caller's, holding the miner (one thread at a time).
 *
 * Invariants: m->tok[0..m->ntok) point into m->scratch; the `<*>=<*>` text at
 * m->fields_off, at the scratch's end, is never overwritten by a message.
 *
 * Limits: max_tokens tokens (the rest joins the last, which becomes `<*>`);
 * the scratch buffer is 6 * max_bytes + 64 bytes, so a message never fills
 * it, while a template text given to miner_restore() may (m->full).
 */
#include "analyze/miner_int.h"

/* ---- tokenising a message ------------------------------------------------- */

static void collapse_dates(miner *m, obuf *o);
static void collapse_fields(miner *m, obuf *o);

/* Tokenises s[0..n) into m->tok / m->scratch. */
void tokens_read(miner *m, const char *s, size_t n, tok_mode mode)
{
    obuf o = {m->scratch, 0, m->scratch_cap, false};
    size_t ntok = 0, maxt = m->o.max_tokens;
    /* a template's tokens hold no whitespace (a quoted string is `"<*>"`), and
     * generalising can leave quotes that would pair up differently: template
     * text is split at spaces only */
    bool quotes = mode == TOK_MESSAGE;
    size_t pos = 0, ts = 0, tl = 0;
    bool have = mask_next_raw(s, n, &pos, &ts, &tl, quotes);
    while (have) {
        size_t nts = 0, ntl = 0, npos = pos;
        bool have_next;
        mtok *t = &m->tok[ntok];
        if (ntok == maxt) {
            /* too many tokens: the last one takes the rest and becomes <*> */
            t = &m->tok[ntok - 1];
            o.len = t->off;
            out_ph(&o, PH_ANY);
            t->len = (uint32_t)(o.len - t->off);
            size_t end = n;
            while (end > t->roff && is_space((unsigned char)s[end - 1]))
                end--;
            t->rlen = (uint32_t)(end - t->roff);
            t->var = true;
            t->weight = false;
            t->field = false;
            t->value = true;
            t->h = m->h_any;
            t->hs = m->hs_any;
            break;
        }
        tokinfo ti;
        size_t off = o.len;
        mask_token(s + ts, tl, &o, &ti);
        size_t rend = ts + tl;
        have_next = mask_next_raw(s, n, &npos, &nts, &ntl, quotes);

        /* a number followed by a unit word: one token */
        if (have_next && ti.pure && ti.kind == PH_NUM && !ti.trail) {
            size_t ub = ntl;
            while (ub > 0 && is_trail_punct((unsigned char)s[nts + ub - 1]))
                ub--;
            if (mask_is_unit(s + nts, ub)) {
                out_bytes(&o, " ", 1);
                out_bytes(&o, s + nts, ntl);
                ti.trail = ub < ntl;
                ti.weight = true; /* the unit is a constant word */
                rend = nts + ntl;
                have_next = mask_next_raw(s, n, &npos, &nts, &ntl, quotes);
            }
        }
        t->off = (uint32_t)off;
        t->len = (uint32_t)(o.len - off);
        t->roff = (uint32_t)ts;
        t->rlen = (uint32_t)(rend - ts);
        t->var = ti.var;
        t->weight = ti.weight;
        t->field = ti.field;
        t->value = ti.pure;
        t->lead = ti.lead;
        t->trail = ti.trail;
        t->kv = ti.kv;

        bool merged = false;
        if (mode == TOK_MESSAGE && ntok > 0) {
            mtok *p = &m->tok[ntok - 1];
            const char *pt = m->scratch + p->off;
            const char *ct = m->scratch + t->off;
            /* a parenthesised value right after a value restates it */
            if (p->var && !p->trail && t->value && t->lead && t->trail && ct[0] == '(' && t->len >= 2) {
                size_t close = 1;
                while (close < t->len && ct[close] != ')')
                    close++;
                if (close < t->len) {
                    /* the restatement's punctuation after ')' stays */
                    size_t extra = t->len - close - 1;
                    memmove(m->scratch + p->off + p->len, ct + close + 1, extra);
                    p->len += (uint32_t)extra;
                    p->trail = extra > 0;
                    o.len = p->off + p->len;
                    merged = true;
                }
            }
            /* a list of values, `[1,` `2,` `3]`, is one value `[<NUM>]` */
            if (!merged && p->value && t->value && !t->lead && p->len >= 2 && pt[p->len - 1] == ',' &&
                pt[p->len - 2] == '>') {
                ph_kind k = mask_ph_at(ct, t->len);
                size_t kn = mask_ph_text[k].n;
                if (k != PH_NONE && p->len >= kn + 1 && memcmp(pt + p->len - 1 - kn, ct, kn) == 0) {
                    size_t extra = t->len - kn; /* the last item's punctuation */
                    memmove(m->scratch + p->off + p->len - 1, ct + kn, extra);
                    p->len = (uint32_t)(p->len - 1 + extra);
                    p->trail = extra > 0;
                    o.len = p->off + p->len;
                    merged = true;
                }
            }
            /* a run of identical variable tokens is one token */
            if (!merged && t->var && p->var && p->len == t->len && memcmp(pt, ct, t->len) == 0) {
                o.len = off;
                merged = true;
            }
            if (merged) {
                p->rlen = (uint32_t)(rend - p->roff);
                p->h = mask_hash_bytes(m->scratch + p->off, p->len);
                p->hs = p->var ? mask_skel_hash(m->scratch + p->off, p->len) : p->h;
            }
        }
        if (!merged) {
            t->h = mask_hash_bytes(m->scratch + t->off, t->len);
            t->hs = t->var ? mask_skel_hash(m->scratch + t->off, t->len) : t->h;
            ntok++;
        }
        have = have_next;
        ts = nts;
        tl = ntl;
        pos = npos;
    }
    m->ntok = ntok;
    if (mode == TOK_MESSAGE) {
        collapse_dates(m, &o);
        collapse_fields(m, &o);
    }
    m->full = o.full;
}

/* ---- dates written out in words ------------------------------------------ */

/* Day and month names (English, as logs write them): the words of a date. */
static const char *const DATE_WORDS[] = {
    "mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "january", "february", "march", "april", "june", "july", "august", "september", "october",
    "november", "december",
};

/* 1: a day or month name; 2: a number, time or zone that a date holds; 0: neither.
 * t's text is its masked text, with its leading and trailing punctuation. */
static int date_part(const miner *m, const mtok *t)
{
    const char *s = m->scratch + t->off;
    size_t a = 0, b = t->len;
    while (a < b && is_lead_punct((unsigned char)s[a]))
        a++;
    while (b > a && (s[b - 1] == ',' || s[b - 1] == '.' || s[b - 1] == ']' || s[b - 1] == ')'))
        b--;
    size_t n = b - a;
    if (n == 0)
        return 0;
    if (t->value) {
        ph_kind k = mask_ph_at(s + a, n);
        return (k == PH_NUM || k == PH_TS) && mask_ph_text[k].n == n ? 2 : 0;
    }
    if (t->var || n < 3 || n > 9 || !(s[a] >= 'A' && s[a] <= 'Z'))
        return 0; /* logs write the names capitalised: `may`, `sun`, `sat` are words */
    /* the first three letters, lower-cased, against the names' (one switch; most words leave here) */
    uint32_t k3 = (uint32_t)(unsigned char)lower((unsigned char)s[a]) |
                  (uint32_t)(unsigned char)lower((unsigned char)s[a + 1]) << 8 |
                  (uint32_t)(unsigned char)lower((unsigned char)s[a + 2]) << 16;
#define K3(x, y, z) ((uint32_t)(x) | (uint32_t)(y) << 8 | (uint32_t)(z) << 16)
    switch (k3) {
    case K3('m', 'o', 'n'): case K3('t', 'u', 'e'): case K3('w', 'e', 'd'): case K3('t', 'h', 'u'):
    case K3('f', 'r', 'i'): case K3('s', 'a', 't'): case K3('s', 'u', 'n'): case K3('j', 'a', 'n'):
    case K3('f', 'e', 'b'): case K3('m', 'a', 'r'): case K3('a', 'p', 'r'): case K3('m', 'a', 'y'):
    case K3('j', 'u', 'n'): case K3('j', 'u', 'l'): case K3('a', 'u', 'g'): case K3('s', 'e', 'p'):
    case K3('o', 'c', 't'): case K3('n', 'o', 'v'): case K3('d', 'e', 'c'): case K3('g', 'm', 't'):
    case K3('u', 't', 'c'):
        break;
    default:
        return 0;
    }
#undef K3
    if (n == 3 && (lower((unsigned char)s[a]) == 'g' || lower((unsigned char)s[a]) == 'u') &&
        (!memcmp(s + a, "GMT", 3) || !memcmp(s + a, "UTC", 3)))
        return 2;
    for (size_t i = 0; i < sizeof DATE_WORDS / sizeof DATE_WORDS[0]; i++) {
        const char *w = DATE_WORDS[i];
        size_t j = 0;
        while (j < n && w[j] && lower((unsigned char)s[a + j]) == w[j])
            j++;
        if (j == n && w[j] == '\0')
            return 1;
    }
    return 0;
}

/*
 * A date written out in words (`Mon Dec 05 19:14:11 2026`, `Tue, 06 Dec 2026
 * 10:00:00 GMT`, `Dec  5 19:14:11`) is one value: a run of two or more
 * tokens of day or month names, numbers, times and a zone, with at least one
 * name and one number or time, becomes one `<TS>` token (keeping the run's
 * outer brackets and trailing punctuation). Inside the run only commas may
 * follow a token, and only the first may open a bracket.
 */
static void collapse_dates(miner *m, obuf *o)
{
    size_t w = 0, names = 0;
    for (size_t i = 0; i < m->ntok && !names; i++)
        names = !m->tok[i].var && date_part(m, &m->tok[i]) == 1;
    if (!names)
        return; /* the common case: no day or month name */
    for (size_t i = 0; i < m->ntok;) {
        int k0 = date_part(m, &m->tok[i]);
        if (k0 == 0) {
            m->tok[w++] = m->tok[i++];
            continue;
        }
        size_t j = i, nnames = 0, values = 0;
        for (;;) {
            int k = date_part(m, &m->tok[j]);
            if (k == 0 || (j > i && m->tok[j].lead))
                break;
            nnames += k == 1;
            values += k == 2;
            j++;
            const char *pt = m->scratch + m->tok[j - 1].off;
            char last = pt[m->tok[j - 1].len - 1];
            if (j >= m->ntok || (m->tok[j - 1].trail && last != ','))
                break;
        }
        if (j - i < 2 || nnames == 0 || values == 0) {
            m->tok[w++] = m->tok[i++];
            continue;
        }
        const mtok *f = &m->tok[i], *l = &m->tok[j - 1];
        const char *ft = m->scratch + f->off, *lt = m->scratch + l->off;
        size_t lead = 0, trail = 0;
        while (lead < f->len && is_lead_punct((unsigned char)ft[lead]))
            lead++;
        while (trail < l->len && is_trail_punct((unsigned char)lt[l->len - 1 - trail]) && lt[l->len - 1 - trail] != '>')
            trail++;
        if (trail && lt[l->len - trail] == ',')
            trail = 0; /* a comma inside the date is not its end's */
        mtok nt = *f;
        nt.off = (uint32_t)o->len;
        out_bytes(o, ft, lead);
        out_ph(o, PH_TS);
        out_bytes(o, lt + l->len - trail, trail);
        if (o->full)
            return; /* not reached: the scratch buffer has room for a date's text */
        nt.len = (uint32_t)(o->len - nt.off);
        nt.rlen = l->roff + l->rlen - f->roff;
        nt.var = nt.field = nt.value = true;
        nt.weight = false;
        nt.lead = lead > 0;
        nt.trail = trail > 0;
        nt.h = mask_hash_bytes(m->scratch + nt.off, nt.len);
        nt.hs = mask_skel_hash(m->scratch + nt.off, nt.len);
        m->tok[w++] = nt;
        i = j;
    }
    m->ntok = w;
}

/* ---- optional trailing fields --------------------------------------------- */

/*
 * Trailing key=value fields after a message's words are often optional
 * (`order 42 shipped`, `order 42 shipped trace_id=… retry=1`): the run of
 * key=value tokens that ends a message, after two or more other tokens,
 * becomes one token `<*>=<*>`, whatever its keys; and a message without
 * such a run may join a template that has one (see miner_add()). A message
 * made of key=value fields only (logfmt) keeps them all as they are, and so
 * does one that prints a key with no value before the run (`ruser=
 * rhost=… user=…`): a fixed record layout, whose fields are not optional
 * additions, and whose key set tells its events apart.
 */
static void collapse_fields(miner *m, obuf *o)
{
    size_t a = m->ntok;
    while (a > 0 && m->tok[a - 1].kv)
        a--;
    m->kv_tail = false;
    if (a == m->ntok || a < 2)
        return;
    for (size_t i = 0; i < a; i++) { /* a key printed without a value (`ruser= rhost=…`): a fixed record layout */
        const char *k = m->scratch + m->tok[i].off;
        uint32_t kl = m->tok[i].len;
        if (kl >= 2 && k[kl - 1] == '=' && is_alpha((unsigned char)k[kl - 2]))
            return;
    }
    mtok *f = &m->tok[a];
    const mtok *l = &m->tok[m->ntok - 1];
    uint32_t rend = l->roff + l->rlen;
    f->off = (uint32_t)o->len;
    out_bytes(o, FIELDS_TEXT, FIELDS_LEN);
    if (o->full)
        return; /* not reached: the scratch buffer has room */
    f->len = FIELDS_LEN;
    f->rlen = rend - f->roff;
    f->var = true;
    f->weight = f->field = f->value = f->lead = f->trail = false;
    f->kv = true;
    f->h = m->h_fields;
    f->hs = m->hs_fields;
    m->ntok = a + 1;
    m->kv_tail = true;
}

/* Appends a `<*>=<*>` token standing for no trailing fields (raw length 0 at
 * the message's end). The caller checked there is room for one more token. */
void tokens_fields_append(miner *m, uint32_t msg_len)
{
    mtok *f = &m->tok[m->ntok++];
    memset(f, 0, sizeof *f);
    f->off = (uint32_t)m->fields_off;
    f->len = FIELDS_LEN;
    f->roff = msg_len;
    f->rlen = 0;
    f->var = f->kv = true;
    f->h = m->h_fields;
    f->hs = m->hs_fields;
}
