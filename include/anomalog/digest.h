/**
 * @file digest.h
 * @brief The digest of a closed window: every line accounted for, within a
 *        token budget, with the service's history beside it; and the baseline
 *        detector that reads the same statistics without a model.
 *
 * The caller mines the window's lines with the service's miner (digest_build
 * does it, holding no lock of its own: the caller serialises per service),
 * gives the history of the templates it saw, and gets back the rendered text
 * the model is sent, the per-template statistics to persist, and the
 * baseline's findings in the anomaly schema.
 */
#ifndef ANOMALOG_DIGEST_H
#define ANOMALOG_DIGEST_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "anomalog/latency.h"
#include "anomalog/miner.h"
#include "anomalog/prompt.h"
#include "anomalog/redact.h"

/** Level ranks: 0 unknown, 1 trace, 2 debug, 3 info, 4 warn, 5 error, 6 fatal. */
int digest_level_rank(const char *level);
const char *digest_level_name(int rank);

/** What the store knows of a template from the windows before this one. */
typedef struct digest_history {
    int known;            /**< seen in an earlier window */
    double trailing_avg;  /**< mean lines per window over the last history_windows windows */
    int windows_seen;     /**< of those windows, how many had it */
    int benign;           /**< marked known-benign through feedback */
} digest_history;

/** Looks a template up; returns 0 and fills out, or -1 when the store has nothing on it. */
typedef int (*digest_history_fn)(void *arg, int64_t template_id, digest_history *out);

typedef struct digest_opts {
    size_t exemplars;        /**< distinct exemplar lines per notable template (K), default 3 */
    size_t token_budget;     /**< estimated prompt tokens of the rendered digest, default 3000 */
    int history_windows;     /**< N windows of history, default 12 */
    const redactor *redact;  /**< applied to every line and value shown; NULL for none */
    size_t max_window_templates; /**< distinct templates of a window with their own statistics; past it, the
                                      lines of one-line templates are counted as one "rare, unclustered" group
                                      (default DIGEST_MAX_WINDOW_TEMPLATES; 0: the default) */
} digest_opts;

#define DIGEST_MAX_WINDOW_TEMPLATES 2000

void digest_opts_defaults(digest_opts *o);

typedef struct digest_input {
    const char *service;
    int64_t start_ms, end_ms;
    const prompt_line *lines;    /**< the window's lines, by time */
    size_t n_lines;
    size_t total_lines;          /**< lines in the window (>= n_lines when the read was capped) */
    miner *m;                    /**< the service's miner; the caller holds its lock */
    digest_history_fn history;   /**< may be NULL: no history */
    void *history_arg;
    double trailing_error_avg;   /**< error lines per window over the last N windows; < 0 unknown */
    int history_depth;           /**< how many earlier windows that history covers (0: first window) */
    const char *const *attrs;    /**< may be NULL; else per line its attributes as a JSON object text, or NULL:
                                      the salient ones (error, exception, reason, status, alert, a stack trace,
                                      a long text) are shown, redacted, under the exemplars of notable templates.
                                      Templates are mined on the message alone. */
    const latency_summary *value_history; /**< may be NULL; the durations of templates in earlier windows (the
                                               ones digest.values gave), sorted by latency_summary_cmp */
    size_t n_value_history;
} digest_input;

/** One template of the window, as persisted. */
typedef struct digest_template {
    int64_t id;
    char *text;
    uint64_t count;
    int max_level;
    int64_t first_ts, last_ts;
} digest_template;

typedef struct digest {
    char *text;                  /**< rendered, redacted, within the budget (malloc'd) */
    size_t est_tokens;           /**< conservative estimate of text's tokens */
    json_t *findings;            /**< baseline findings: array of anomaly objects, each with "template_ids" */
    json_t *redactions;          /**< counts per kind of what redaction replaced */
    size_t n_lines;              /**< lines digested */
    int64_t *line_tids;          /**< template id of each line digested (8 bytes a line: the evidence check's) */
    digest_template *templates;  /**< every template of the window */
    size_t n_templates;          /**< at most max_window_templates */
    uint64_t rare_lines;         /**< lines counted in the "rare, unclustered" group (past the cap) */
    size_t rare_templates;       /**< distinct template ids among them */
    size_t n_new;                /**< templates never seen before this window */
    size_t n_changed;            /**< known templates whose rate is far from usual */
    long level_totals[7];
    long error_lines;            /**< error + fatal */
    int quiet;                   /**< nothing new, nothing unusual, no finding: the model may be skipped */
    latency_summary *values;     /**< this window's durations per template position, for the next windows */
    size_t n_values;             /**< at most LATENCY_MAX_SUMMARIES */
    /* private: the window's redaction, kept so that quotes are compared with what the digest showed */
    const redactor *red;
    redact_session *rs;
} digest;

/** Builds the digest of in->lines (digest_begin, digest_add of each, digest_end). @return 0, or -1 when
 *  out of memory (d is then empty). */
int digest_build(const digest_input *in, const digest_opts *o, digest *d);

/**
 * A digest built a line at a time, so that a window's lines can stream
 * through it from the store: it keeps the window's statistics and only the
 * lines it may show (exemplars, the lines of unusual values and attack
 * shapes, the first few error and fatal lines, the rare group's exemplars),
 * each copied with its attributes when first kept and freed when no longer
 * needed; per line, only its template id (digest.line_tids). in->lines,
 * in->n_lines and in->attrs are not read; the lines come through digest_add.
 */
typedef struct digest_builder digest_builder;

/** Starts a digest; in and o are copied (what they point to must outlive the build, the miner stays locked
 *  until digest_end). @return NULL when out of memory. */
digest_builder *digest_begin(const digest_input *in, const digest_opts *o);

/** The window's next line (by time), with its attributes (a JSON object text, or NULL), both copied if kept.
 *  @return 0, or -1 when out of memory (later calls fail too; digest_end then fails). */
int digest_add(digest_builder *b, const prompt_line *l, const char *attrs);

/** Finishes the digest into d and frees b (also on failure). @return 0, or -1 (d empty). */
int digest_end(digest_builder *b, digest *d);

/** Frees a builder without a digest. Accepts NULL. */
void digest_abort(digest_builder *b);

void digest_free(digest *d);

/**
 * Finds the window line an evidence line quotes (the model copies evidence
 * from the redacted digest). An evidence line quotes line k when it is that
 * line as the digest shows it, "timestamp LEVEL message", where:
 * - the timestamp may be left out; when given (first word, RFC 3339, any
 *   spelling of the same millisecond) it must be line k's;
 * - the level may be left out; when given it must be line k's, in any case
 *   ("-" for a line without one);
 * - the message must be one line of line k's message after redaction (the
 *   same <kind:N> placeholders the digest showed), exactly, surrounding space
 *   aside; a quote ending in "…" or "..." may stop there, after at least
 *   DIGEST_QUOTE_MIN_PREFIX bytes (the digest shortens long lines that way).
 * Costs one comparison of timestamps per window line, and a redaction per
 * candidate line.
 * @param[in] lines  the n lines the digest was built from
 * @param[out] index the first line quoted
 * @return 1 when a line is quoted, 0 when none is (or out of memory).
 */
int digest_find_quote(digest *d, const prompt_line *lines, size_t n, const char *evidence, size_t *index);

/** An evidence line read once (digest_quote_parse) and compared with lines as they stream by. */
typedef struct digest_quote {
    const char *text;   /**< points into the evidence */
    size_t len;
    int64_t ts;
    int has_ts, prefix;
} digest_quote;

/** Reads an evidence line (kept by reference). @return 1, or 0 when it quotes nothing (blank). */
int digest_quote_parse(const char *evidence, digest_quote *q);

/** Whether line l is the line q quotes (as digest_find_quote says). */
int digest_quote_matches(digest *d, const digest_quote *q, const prompt_line *l);

#define DIGEST_QUOTE_MIN_PREFIX 16

#endif
