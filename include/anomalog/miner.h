/**
 * @file miner.h
 * @brief Log template miner: groups messages into templates ("Failed password
 *        for <*> from <IP> port <NUM> ssh2") with stable ids, in bounded memory.
 *
 * In the spirit of Drain (He et al., ICWS 2017): each message is split into
 * tokens, variable parts are masked by their shape (numbers, hex, UUIDs, IPs,
 * timestamps, key=value values, quoted strings, ids inside paths and names),
 * and a fixed-depth prefix tree (token count, then the first depth-2 tokens)
 * leads to a short list of templates, compared by token similarity. A message
 * that is similar enough joins a template, which generalises (differing
 * positions become `<*>`) and keeps its id; otherwise it starts a new one.
 * No rule is specific to a dataset or a product: the masking is about token
 * shapes only, and one configuration serves every service.
 *
 * The first depth-2 tokens route (Drain's prior that they name the event):
 * a plain word that varies there splits a template by its values, while
 * numbers, masked values and bracketed tags (`(alice)`, `[geo]`) do not.
 *
 * A miner is one service's template store. It is not thread-safe: one thread
 * at a time (callers lock, or keep one miner per thread). Distinct miners are
 * independent.
 *
 * Bounds: a message is considered up to opts.max_bytes bytes (cut at a UTF-8
 * character boundary), into at most opts.max_tokens tokens (the excess is
 * merged into the last token, which becomes `<*>`); the store holds at most
 * opts.max_templates templates, evicting the least recently seen one. An
 * evicted id is never reused. A template's text is at most
 * 5 * max_bytes + max_tokens bytes.
 */
#ifndef ANOMALOG_MINER_H
#define ANOMALOG_MINER_H

#include <stddef.h>
#include <stdint.h>

typedef struct miner miner;

/** Tuning of a miner. Start from miner_opts_defaults(); the defaults are the
 *  one generic configuration measured in tests/unit/test_miner.c. */
typedef struct miner_opts {
    int depth;              /**< prefix tree depth, 3..64 (Drain's depth: the first depth-2 tokens route); default 4 */
    double similarity;      /**< a message joins its most similar template when more than this share of
                                 its tokens equal the template's constant tokens, 0..1 (0.5: a strict majority) */
    size_t max_templates;   /**< live templates kept; the least recently seen is evicted past it (>= 1) */
    size_t max_tokens;      /**< tokens per message, 2..65535; the rest joins the last token */
    size_t max_bytes;       /**< bytes of a message considered, 16..64 MiB; the rest is ignored */
    size_t max_children;    /**< children per tree node before new tokens share the `<*>` branch, 2..2^30 */
} miner_opts;

/** The generic configuration: depth 4, similarity 0.5, 4096 templates,
 *  128 tokens, 4096 bytes, 100 children. It is the one measured by
 *  tests/unit/test_miner.c on the loghub samples and on generated logs. */
miner_opts miner_opts_defaults(void);

/**
 * Creates a miner.
 * @param[in] o  options, or NULL for miner_opts_defaults()
 * @return the miner, or NULL when out of memory (errno ENOMEM) or when an
 *         option is out of range (errno EINVAL).
 */
miner *miner_new(const miner_opts *o);

/** Frees the miner and every template. Accepts NULL. */
void miner_free(miner *m);

/** One variable value of a message: the bytes of a token that the template
 *  masks or generalised, less the template token's literal prefix/suffix. */
typedef struct miner_param {
    const char *s;   /**< points into the msg given to miner_add() */
    size_t len;
    int pos;         /**< token index within the template */
} miner_param;

/**
 * Adds one message (a single line; newlines count as spaces).
 *
 * @param[in]  msg         message bytes, need not be NUL-terminated; NULL only with len 0
 * @param[in]  len         its length; only the first max_bytes count
 * @param[out] is_new      may be NULL; set to 1 when this message created the template, else 0
 * @param[out] params      may be NULL; receives up to max_params variable values, in token order,
 *                         pointing into msg (valid as long as msg is)
 * @param[in]  max_params  capacity of params
 * @param[out] n_params    may be NULL; number of params written (<= max_params)
 * @return the template id (> 0; stable for the miner's life, also when the
 *         template generalises), or -1 when out of memory (the miner stays
 *         usable and unchanged, *n_params is 0).
 */
int64_t miner_add(miner *m, const char *msg, size_t len, int *is_new, miner_param *params, size_t max_params,
                  size_t *n_params);

/**
 * The template an id counts as now. A position whose values are a few plain
 * words (`VM Started` / `VM Paused`) keeps one template per word; once it has
 * more distinct words than that, they are values: the templates merge into
 * one (the one the new message matched, whose id stays) and the others' ids
 * become aliases of it. Also after that, miner_add() may have returned an
 * absorbed id for earlier lines: this gives the id that now holds them.
 * @return the live id id now counts as; id itself when it is live, unknown,
 *         evicted, or its alias was forgotten (at most max_templates aliases
 *         are kept; past that the map starts again empty).
 */
int64_t miner_resolve(const miner *m, int64_t id);

/**
 * The text of a live template: tokens joined by single spaces, variable parts
 * as `<NUM>`, `<HEX>`, `<UUID>`, `<IP>`, `<TS>` or `<*>`.
 * @return a string owned by the miner, valid until the next miner_add(),
 *         miner_restore() or miner_free(); NULL when the id is unknown or evicted.
 */
const char *miner_template_text(const miner *m, int64_t id);

/** Messages counted for a live template (including a restored count); 0 when unknown or evicted. */
uint64_t miner_template_count(const miner *m, int64_t id);

/** Number of live templates (<= max_templates). */
size_t miner_size(const miner *m);

/** Callback of miner_foreach(); text is valid during the call only. */
typedef void (*miner_each_fn)(int64_t id, const char *text, uint64_t count, void *arg);

/** Calls fn for every live template, most recently seen first. fn must not
 *  modify the miner. */
void miner_foreach(const miner *m, miner_each_fn fn, void *arg);

/**
 * Re-inserts a known template (from the database) with its id and count, so
 * that ids stay stable across restarts. The text is one miner_template_text()
 * returned; it is tokenised again (split at spaces, placeholders read back),
 * which gives the same template, so later messages find it. A text from an
 * older version of the rules is accepted as it reads now. Restore before
 * adding messages, oldest id first: a template restored next to an equal
 * live one is found after it. The restored template counts as the most
 * recently seen; ids assigned afterwards continue above the largest id ever
 * restored or assigned. Restoring past max_templates evicts as miner_add()
 * does.
 *
 * @return 0, or -1 when out of memory (nothing changed), when id <= 0 or is
 *         live already, or when the text is NULL or longer than the miner
 *         tokenises (6 * max_bytes + 64 bytes).
 */
int miner_restore(miner *m, int64_t id, const char *template_text, uint64_t count);

/**
 * Ids assigned from now on are above id (nothing else changes): a miner
 * restored from a store that pruned templates never gives a pruned id to a
 * new template. Does nothing when id is below the next id already.
 */
void miner_reserve_ids(miner *m, int64_t id);

/**
 * `anomalog templates FILE [--summary]` (argv[0] is "templates"): mines FILE
 * (or stdin for "-"), one message per line (trailing CR/LF stripped, no joining,
 * no header parsing) and prints for each line `<id> <template>`; with
 * --summary, instead prints every template once as `<id>\t<count>\t<template>`,
 * most frequent first.
 * @return 0, 1 on an I/O or memory error, 2 on a usage error.
 */
int templates_main(int argc, char **argv);

#endif
