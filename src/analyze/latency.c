/*
 * latency.c — durations in a template's values, summarised per window and
 * judged against the template's own history (see latency.h).
 *
 * Purpose: the baseline's `latency` finding. A duration is recognised by the
 * line's shape alone: a number with a time unit on it or right after it, or
 * a number after a key or word that names a duration (parts of `took`,
 * `latency`, `duration`, `elapsed`, `time`, `rtt`, `ms`: `response_time_ms=`,
 * `responseTime:`). Ids, counts, ports and sizes have neither, so a growing
 * request id is never taken for a slowing service; `uptime` and `timestamp`
 * are words of their own, not `time`.
 *
 * Threads: none of its own; pure functions over their arguments.
 *
 * Invariants: a summary's median and p95 are those of a sample of at most
 * LATENCY_SAMPLE values (every value while there are that few; then a
 * deterministic reservoir, so the same window gives the same summary); its
 * count and mean are over every value. Durations with a known unit are in
 * milliseconds.
 *
 * Limits: a number of more than 12 integer digits is not a duration (an id or
 * an epoch); LATENCY_POSITIONS positions per template, the rest ignored;
 * LATENCY_HISTORY_MAX earlier windows read per judgement.
 */
#include "anomalog/latency.h"

#include <stdlib.h>
#include <string.h>

struct latency_acc {
    int n;
    struct latency_slot {
        int pos;
        uint64_t count;
        double sum;
        double sample[LATENCY_SAMPLE];
    } slot[LATENCY_POSITIONS];
};

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Milliseconds per unit u (ul bytes, any case), or 0 when u is not a time unit. */
static double unit_ms(const char *u, size_t ul)
{
    static const struct {
        const char *w;
        double ms;
    } units[] = {{"ns", 1e-6},     {"us", 1e-3},          {"\xc2\xb5s", 1e-3}, {"ms", 1},       {"msec", 1},
                 {"msecs", 1},     {"millis", 1},         {"milliseconds", 1}, {"s", 1000},     {"sec", 1000},
                 {"secs", 1000},   {"second", 1000},      {"seconds", 1000}};
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
        size_t wl = strlen(units[k].w);
        if (wl != ul)
            continue;
        size_t i = 0;
        while (i < ul && lower((unsigned char)u[i]) == (unsigned char)units[k].w[i])
            i++;
        if (i == ul)
            return units[k].ms;
    }
    return 0;
}

/* Whether one part of a key (lower-cased, n bytes) names a duration. */
static int duration_part(const char *p, size_t n)
{
    static const char *const words[] = {"took", "latency", "duration", "elapsed", "time", "rtt", "ms"};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (strlen(words[k]) == n && memcmp(words[k], p, n) == 0)
            return 1;
    return 0;
}

/* Whether the word w (n bytes) has a part that names a duration: parts split at `_`, `-`, `.` and lower→Upper. */
static int duration_key(const char *w, size_t n)
{
    char part[24];
    size_t pl = 0;
    for (size_t i = 0; i <= n; i++) {
        int c = i < n ? (unsigned char)w[i] : 0;
        int boundary = i == n || c == '_' || c == '-' || c == '.' ||
                       (c >= 'A' && c <= 'Z' && i > 0 && w[i - 1] >= 'a' && w[i - 1] <= 'z');
        if (boundary && pl) {
            if (pl < sizeof part && duration_part(part, pl))
                return 1;
            pl = 0;
        }
        if (i < n && is_alpha(c) && pl < sizeof part)
            part[pl++] = (char)lower(c);
    }
    return 0;
}

int latency_value(const char *msg, size_t msg_len, const char *v, size_t vlen, double *out)
{
    if (!vlen || v[0] < '0' || v[0] > '9' || v < msg || v + vlen > msg + msg_len)
        return 0;
    size_t i = 0, digits = 0;
    double x = 0;
    for (; i < vlen && v[i] >= '0' && v[i] <= '9'; i++, digits++)
        x = x * 10 + (v[i] - '0');
    if (digits > 12)
        return 0;
    if (i + 1 < vlen && v[i] == '.' && v[i + 1] >= '0' && v[i + 1] <= '9') {
        double f = 0.1;
        for (i++; i < vlen && v[i] >= '0' && v[i] <= '9'; i++, f /= 10)
            x += (v[i] - '0') * f;
    }
    double ms;
    if (i < vlen) { /* a suffix inside the value: a unit, or not a duration at all */
        if (!(ms = unit_ms(v + i, vlen - i)))
            return 0;
        *out = x * ms;
        return 1;
    }
    /* a unit right after it: "23ms" (the template kept "ms") or "23 ms" */
    const char *p = v + vlen, *end = msg + msg_len;
    int spaced = p < end && *p == ' ';
    p += spaced;
    size_t ul = 0;
    while (p + ul < end && (is_alpha((unsigned char)p[ul]) || (unsigned char)p[ul] >= 0x80))
        ul++;
    if (ul && (ms = unit_ms(p, ul))) {
        *out = x * ms;
        return 1;
    }
    if (ul && !spaced) /* "12KB": some other unit */
        return 0;
    /* a key or word before it that names a duration: "latency=23", "took 23", "duration_ms: 23" */
    const char *q = v;
    for (int skip = 0; q > msg && skip < 3 && strchr(" =:\"'\t", q[-1]); skip++)
        q--;
    const char *w = q;
    while (w > msg && (is_alpha((unsigned char)w[-1]) || w[-1] == '_' || w[-1] == '-' || w[-1] == '.'))
        w--;
    if (w == q || q == v || !duration_key(w, (size_t)(q - w)))
        return 0;
    *out = x;
    return 1;
}

/* A well-mixed 64-bit hash (splitmix64's finaliser): the reservoir's dice, the same every run. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int latency_add(latency_acc **acc, int pos, double v)
{
    latency_acc *a = *acc;
    if (!a) {
        if (!(a = calloc(1, sizeof *a)))
            return -1;
        *acc = a;
    }
    int k = 0;
    while (k < a->n && a->slot[k].pos != pos)
        k++;
    if (k == a->n) {
        if (a->n == LATENCY_POSITIONS)
            return 0;
        a->slot[a->n++] = (struct latency_slot){.pos = pos};
    }
    struct latency_slot *s = &a->slot[k];
    if (s->count < LATENCY_SAMPLE) {
        s->sample[s->count] = v;
    } else {
        uint64_t j = mix(s->count * 0x9E3779B97F4A7C15ULL + (uint64_t)pos) % (s->count + 1);
        if (j < LATENCY_SAMPLE)
            s->sample[j] = v;
    }
    s->count++;
    s->sum += v;
    return 0;
}

void latency_acc_free(latency_acc *acc)
{
    free(acc);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

size_t latency_summarise(const latency_acc *acc, int64_t template_id, int64_t window_start, latency_summary *out,
                         size_t max)
{
    size_t n = 0;
    for (int k = 0; acc && k < acc->n && n < max; k++) {
        const struct latency_slot *s = &acc->slot[k];
        if (!s->count)
            continue;
        double v[LATENCY_SAMPLE];
        size_t m = s->count < LATENCY_SAMPLE ? (size_t)s->count : LATENCY_SAMPLE;
        memcpy(v, s->sample, m * sizeof *v);
        qsort(v, m, sizeof *v, dbl_cmp);
        size_t p95 = (m * 95 + 99) / 100; /* the nearest rank, 1-based */
        out[n++] = (latency_summary){.template_id = template_id,
                                     .pos = s->pos,
                                     .window_start = window_start,
                                     .count = s->count,
                                     .mean = s->sum / (double)s->count,
                                     .median = m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2,
                                     .p95 = v[p95 ? p95 - 1 : 0]};
    }
    return n;
}

int latency_drift(const latency_summary *cur, const latency_summary *hist, size_t n_hist, latency_judgement *j)
{
    latency_judgement r = {0};
    double p95[LATENCY_HISTORY_MAX];
    if (cur->count < LATENCY_MIN_LINES)
        return 0;
    for (size_t i = 0; i < n_hist && r.windows < LATENCY_HISTORY_MAX; i++) {
        const latency_summary *h = &hist[i];
        if (h->template_id != cur->template_id || h->pos != cur->pos || h->window_start >= cur->window_start ||
            h->count < LATENCY_MIN_LINES)
            continue;
        if (!r.windows || h->median < r.lowest)
            r.lowest = h->median;
        if (!r.windows || h->median > r.highest)
            r.highest = h->median;
        p95[r.windows++] = h->p95;
    }
    if (r.windows < LATENCY_MIN_HISTORY)
        return 0;
    qsort(p95, (size_t)r.windows, sizeof *p95, dbl_cmp);
    r.usual_p95 = p95[(r.windows - 1) / 2];
    if (r.lowest <= 0 || cur->median < LATENCY_DRIFT_FACTOR * r.lowest || cur->median <= r.highest ||
        cur->median < r.usual_p95)
        return 0;
    r.factor = cur->median / r.lowest;
    *j = r;
    return 1;
}

int latency_summary_cmp(const void *a, const void *b)
{
    const latency_summary *x = a, *y = b;
    if (x->template_id != y->template_id)
        return (x->template_id > y->template_id) - (x->template_id < y->template_id);
    if (x->pos != y->pos)
        return (x->pos > y->pos) - (x->pos < y->pos);
    return (x->window_start > y->window_start) - (x->window_start < y->window_start);
}
