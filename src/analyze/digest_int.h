/*
 * digest_int.h — what the digest's four files share; private to
 * src/analyze/. digest.c builds a window's statistics a line at a time and
 * finishes the digest (the public surface, digest.h); digest_baseline.c
 * judges those statistics without a model (the baseline's findings);
 * digest_render.c writes the text the model reads; digest_line.c is how all
 * three read a line (its level, its redacted text). A "line" here is an index
 * into ctx.kl, the lines the digest keeps (see digest.c).
 */
#ifndef ANOMALOG_DIGEST_INT_H
#define ANOMALOG_DIGEST_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "anomalog/digest.h"
#include "anomalog/latency.h"
#include "anomalog/strbuf.h"

#define MAX_PARAMS 16
#define PARAM_POSITIONS 4
#define SHAPES_MAX 8
#define SHAPE_LEN 24
#define EXEMPLAR_MAX 1500
#define UNUSUAL_MIN_COUNT 20
#define RATE_MIN_COUNT 10
#define RATE_FACTOR 5.0
#define TOKENS_PER_BYTE_DIV 3 /* logs tokenise worse than prose: ~3 bytes a token */

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
    uint32_t attack_lines; /* lines whose message carries an attack shape (digest_attack_shape()) */
    size_t attack_ex[3];   /* the first of them */
    const char *attack_what[3];
    latency_acc *lat;      /* durations among its values (latency.h), NULL when none */
    /* derived */
    int is_new, rare, changed, unusual, notable, benign;
    double ratio;
    char *text;          /* redacted template text */
} tstat;

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

typedef struct render_plan {
    size_t common_ex;     /* exemplars per common template */
    size_t notable_ex;    /* exemplars per notable template (>= 1) */
    size_t level_ex;      /* of those, per template notable only for its level, at its usual rate */
    size_t common_shown;  /* common templates listed; the rest folded */
    size_t line_max;      /* bytes of an exemplar */
} render_plan;

/* Bytes of msg's first line. */
static inline size_t digest_first_line_len(const char *msg)
{
    const char *nl = strchr(msg, '\n');
    return nl ? (size_t)(nl - msg) : strlen(msg);
}

/* Kept line k's message as the digest shows it (redacted, on demand; digest_line.c). */
const char *digest_line_text(ctx *c, size_t k);

/* The attack shape a message carries (traversal, SQL, script, JNDI, shell), or NULL (digest_baseline.c). */
const char *digest_attack_shape(const char *s, size_t n);

/* The baseline's findings from the window's statistics, into d->findings (and d->values) (digest_baseline.c). */
void digest_baseline(ctx *c, digest *d);

/* The digest's text for one plan of what to show (digest_render.c). */
void digest_render(ctx *c, const digest *d, const render_plan *p, strbuf *b);

#endif
