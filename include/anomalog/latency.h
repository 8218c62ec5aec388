/**
 * @file latency.h
 * @brief Latency drift: the durations a template's lines carry, summarised
 *        per window, and judged against the same template's earlier windows.
 *
 * The digest feeds every variable value of a window's lines through
 * latency_value(); a value the line presents as a duration (`took 23 ms`,
 * `latency=0.4s`, `duration_ms=12`, `in 35ms`) is added to its template's
 * accumulator at its token position. At the end of the window each
 * accumulated position becomes a latency_summary (lines, mean, median, p95),
 * which the store keeps for the next windows, and which latency_drift()
 * compares with the summaries of the windows before: a median that has grown
 * to at least LATENCY_DRIFT_FACTOR times its lowest, past its highest and to
 * its usual p95 over that history is drift.
 *
 * Threads: pure functions over their arguments; any thread may call them.
 *
 * Bounds: LATENCY_POSITIONS duration positions per template, a sample of
 * LATENCY_SAMPLE values per position (the median and p95 are the sample's;
 * the mean and count are exact), LATENCY_MAX_SUMMARIES summaries per window.
 */
#ifndef ANOMALOG_LATENCY_H
#define ANOMALOG_LATENCY_H

#include <stddef.h>
#include <stdint.h>

#define LATENCY_POSITIONS 2       /**< duration positions followed per template */
#define LATENCY_SAMPLE 64         /**< values kept per position per window for the median and p95 */
#define LATENCY_MAX_SUMMARIES 64  /**< summaries a window keeps (its templates with the most lines) */
#define LATENCY_MIN_LINES 10      /**< lines a window needs at a position to be judged or to count as history */
#define LATENCY_MIN_HISTORY 3     /**< earlier windows with a summary needed before drift is judged */
#define LATENCY_DRIFT_FACTOR 2.0  /**< the median against its lowest over the history */
#define LATENCY_HISTORY_MAX 256   /**< earlier windows a judgement reads (the first ones given) */

/** One template position's durations over one window. Durations with a unit are in milliseconds. */
typedef struct latency_summary {
    int64_t template_id;
    int pos;                 /**< token index within the template */
    int64_t window_start;    /**< ms */
    uint64_t count;
    double mean, median, p95;
} latency_summary;

/** A template's durations in the window being digested (see latency_add). */
typedef struct latency_acc latency_acc;

/**
 * Whether the value v (vlen bytes, inside msg) is a duration the line states:
 * a number followed by a time unit (`23ms`, `23 ms`, `1.5s`, `80us`) or
 * after a key or word that names one (`took`, `latency`, `duration`,
 * `elapsed`, `time`, `rtt`). 1 and *out in milliseconds when the unit is
 * known (else as written), or 0.
 */
int latency_value(const char *msg, size_t msg_len, const char *v, size_t vlen, double *out);

/**
 * Adds a duration at token position pos to *acc (allocated on first use).
 * Past LATENCY_POSITIONS positions the value is not followed.
 * @return 0, or -1 when out of memory (*acc unchanged).
 */
int latency_add(latency_acc **acc, int pos, double v);

/** Frees an accumulator. Accepts NULL. */
void latency_acc_free(latency_acc *acc);

/**
 * The window's summaries of an accumulator, at most max, written to out.
 * @return how many were written (positions with at least one value).
 */
size_t latency_summarise(const latency_acc *acc, int64_t template_id, int64_t window_start, latency_summary *out,
                         size_t max);

/** What latency_drift() found. */
typedef struct latency_judgement {
    double lowest, highest;  /**< the lowest and highest median of the history */
    double usual_p95;        /**< the median of the history's p95s: how slow its slow lines usually are */
    int windows;             /**< history windows with enough lines */
    double factor;           /**< the window's median over the lowest */
} latency_judgement;

/**
 * Judges cur against hist (the same template and position, earlier windows,
 * any order; others are skipped). Drift: cur has LATENCY_MIN_LINES lines, at
 * least LATENCY_MIN_HISTORY earlier windows had as many, and cur's median is
 * at least LATENCY_DRIFT_FACTOR times their lowest median (above zero), above
 * their highest, and at least their usual p95 (the median of their p95s): a
 * typical line now is as slow as the slowest twentieth used to be, which the
 * noise of a few dozen lines of a wide spread does not reach.
 * @return 1 on drift (j filled), else 0.
 */
int latency_drift(const latency_summary *cur, const latency_summary *hist, size_t n_hist, latency_judgement *j);

/** Orders summaries by (template_id, pos, window_start), the order latency_drift's callers search in. */
int latency_summary_cmp(const void *a, const void *b);

#endif
