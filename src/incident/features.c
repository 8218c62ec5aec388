/*
 * features.c — what ties a finding to others, read from the lines behind it
 * (incident.h: incident_annotate, incident_names).
 *
 * The lines behind a finding are the window's lines of its templates (its
 * "template_ids"); a finding with no template (an error burst) stands on the
 * window's error lines, and, with none of those, on all of them. From those
 * lines come the event time of the first and last one, the services they
 * name and the trace / request ids they carry. Over all the window's lines,
 * the services named are the window's calls: the call graph is learned from
 * them (the store counts the windows).
 *
 * Naming: a line is cut into words of letters, digits, '_', '-' and '.';
 * a word names a service when it is the service's name, or starts with it
 * followed by '-', '.' or '_' and more, or by digits alone (a host named
 * after it: db-1, payments.internal, cache2; not the hex id db12f3). Names are compared without case, through a
 * sorted copy, so a line costs one binary search per candidate prefix,
 * whatever the number of services.
 *
 * Threads: any; pure functions of their arguments. Limits: INCIDENT_MAX_LINES
 * lines read per finding, INCIDENT_MAX_MENTIONS names and
 * INCIDENT_MAX_TRACE_IDS ids of at most INCIDENT_MAX_ID_LEN bytes kept per
 * finding, words of up to 127 bytes looked up (longer ones are not names).
 */
#include "anomalog/incident.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WORD_MAX 128

static int word_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.';
}

static int cmp_name(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted names (pointers into the caller's strings). */
typedef struct name_set {
    const char **v;
    size_t n;
} name_set;

static const char *find_name(const name_set *ns, const char *word)
{
    const char **hit = bsearch(&word, ns->v, ns->n, sizeof *ns->v, cmp_name);
    return hit ? *hit : NULL;
}

/*
 * Calls fn for every name of ns that text names (a name may come more than
 * once). Returns what fn returned when non-zero (stop), else 0.
 */
static int each_named(const char *text, size_t len, const name_set *ns, int (*fn)(void *, const char *), void *arg)
{
    size_t i = 0;
    char word[WORD_MAX];
    while (i < len) {
        while (i < len && !word_char((unsigned char)text[i]))
            i++;
        size_t s = i;
        while (i < len && word_char((unsigned char)text[i]))
            i++;
        size_t wl = i - s;
        if (wl == 0 || wl >= WORD_MAX)
            continue;
        memcpy(word, text + s, wl);
        /* the whole word, then each prefix ending before a separator or a digit that follows a letter */
        for (size_t k = wl; k > 0; k--) {
            if (k < wl) {
                unsigned char next = (unsigned char)text[s + k], prev = (unsigned char)text[s + k - 1];
                int boundary = next == '-' || next == '.' || next == '_';
                if (!boundary && isdigit(next) && isalpha(prev)) { /* cache2, db01; not the hex id db12f3 */
                    boundary = 1;
                    for (size_t j = k; j < wl; j++)
                        boundary &= isdigit((unsigned char)text[s + j]) != 0;
                }
                if (!boundary)
                    continue;
            }
            char keep = word[k];
            word[k] = '\0';
            const char *hit = find_name(ns, word);
            word[k] = keep;
            int rc = hit ? fn(arg, hit) : 0;
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int found_one(void *arg, const char *name)
{
    (void)name;
    (void)arg;
    return 1;
}

int incident_names(const char *text, size_t len, const char *service)
{
    name_set ns = {.v = &service, .n = 1};
    return text && service && *service ? each_named(text, len, &ns, found_one, NULL) : 0;
}

/* ---- trace and request ids ---------------------------------------------------- */

static int id_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == ':';
}

/*
 * Calls add for each id value in text: a key (trace id, request id,
 * correlation id in their usual spellings: trace_id, traceId, trace-id,
 * x-request-id, req_id, ...) at the start of a word, then '=' or ':' (quotes
 * and spaces around allowed), then 6 to INCIDENT_MAX_ID_LEN id characters.
 */
static void each_id(const char *text, size_t len, void (*add)(void *, const char *, size_t), void *arg)
{
    static const char *const keys[] = {"trace_id", "traceid", "trace-id", "trace", "request_id", "requestid",
                                       "request-id", "req_id", "req-id", "correlation_id", "correlationid",
                                       "correlation-id"};
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && isalnum((unsigned char)text[i - 1]))
            continue;
        char c = (char)tolower((unsigned char)text[i]);
        if (c != 't' && c != 'r' && c != 'c')
            continue;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            size_t kl = strlen(keys[k]);
            if (kl > len - i || strncasecmp(text + i, keys[k], kl) != 0)
                continue;
            size_t j = i + kl;
            if (j < len && (isalnum((unsigned char)text[j]) || text[j] == '_' || text[j] == '-'))
                continue; /* a longer word: "trace" of "traceback", "trace_id" of "trace_ids" is fine below */
            while (j < len && (text[j] == '"' || text[j] == '\'' || text[j] == ' '))
                j++;
            if (j >= len || (text[j] != '=' && text[j] != ':'))
                continue;
            j++;
            while (j < len && (text[j] == '"' || text[j] == '\'' || text[j] == ' '))
                j++;
            size_t s = j;
            while (j < len && id_char((unsigned char)text[j]) && j - s <= INCIDENT_MAX_ID_LEN)
                j++;
            if (j - s >= 6 && j - s <= INCIDENT_MAX_ID_LEN)
                add(arg, text + s, j - s);
            i = j > i ? j - 1 : i;
            break;
        }
    }
}

/* ---- one finding ------------------------------------------------------------------ */

typedef struct acc {
    json_t *mentions, *ids;
    const char *self;
    int oom;
} acc;

static int str_in(const json_t *arr, const char *s, size_t n)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) if (json_string_length(x) == n && !memcmp(json_string_value(x), s, n)) return 1;
    return 0;
}

static int add_mention(void *p, const char *name)
{
    acc *a = p;
    if (strcasecmp(name, a->self) == 0 || json_array_size(a->mentions) >= INCIDENT_MAX_MENTIONS ||
        str_in(a->mentions, name, strlen(name)))
        return 0;
    if (json_array_append_new(a->mentions, json_string(name)) != 0)
        a->oom = 1;
    return 0;
}

static void add_id(void *p, const char *s, size_t n)
{
    acc *a = p;
    if (json_array_size(a->ids) >= INCIDENT_MAX_TRACE_IDS || str_in(a->ids, s, n))
        return;
    if (json_array_append_new(a->ids, json_stringn(s, n)) != 0)
        a->oom = 1;
}

static int has_id(const json_t *ids, int64_t id)
{
    size_t i;
    json_t *x;
    json_array_foreach(ids, i, x) if (json_integer_value(x) == id) return 1;
    return 0;
}

/* What the lines of one basis of a finding gave (basis: 0 its templates, 1 the error lines, 2 all lines). */
typedef struct basis_acc {
    acc a;
    int64_t first, last;
    size_t read;
} basis_acc;

/* Line l into a finding's accumulator of one basis: 0, or -1 when out of memory. */
static int basis_add(basis_acc *b, const incident_line *l, const name_set *ns)
{
    if (b->read >= INCIDENT_MAX_LINES)
        return 0;
    b->read++;
    if (b->first < 0 || l->ts_ms < b->first)
        b->first = l->ts_ms;
    if (l->ts_ms > b->last)
        b->last = l->ts_ms;
    size_t len = l->message ? strlen(l->message) : 0;
    each_named(l->message, len, ns, add_mention, &b->a);
    each_id(l->message, len, add_id, &b->a);
    return b->a.oom ? -1 : 0;
}

/* ---- the window's calls -------------------------------------------------------------- */

typedef struct calls_acc {
    json_t *calls;
    const char *self;
    const char *seen[INCIDENT_MAX_MENTIONS * 4]; /* names counted for the current line */
    size_t n_seen;
    int oom;
} calls_acc;

static int add_call(void *p, const char *name)
{
    calls_acc *c = p;
    if (strcasecmp(name, c->self) == 0)
        return 0;
    for (size_t i = 0; i < c->n_seen; i++)
        if (c->seen[i] == name)
            return 0; /* a line counts once per name */
    if (c->n_seen < sizeof c->seen / sizeof c->seen[0])
        c->seen[c->n_seen++] = name;
    json_t *v = json_object_get(c->calls, name);
    if (json_object_set_new(c->calls, name, json_integer(json_integer_value(v) + 1)) != 0)
        c->oom = 1;
    return 0;
}

/* A finding's three accumulators, one per basis; the first basis that read a line stands. */
typedef struct finding_acc {
    json_t *f;
    basis_acc b[3];
} finding_acc;

struct incident_annotator {
    name_set ns;
    finding_acc *f;
    size_t n_f;
    calls_acc c;
    int want_calls, oom;
};

void incident_annotator_free(incident_annotator *an)
{
    if (!an)
        return;
    for (size_t i = 0; i < an->n_f; i++)
        for (int k = 0; k < 3; k++) {
            json_decref(an->f[i].b[k].a.mentions);
            json_decref(an->f[i].b[k].a.ids);
        }
    free(an->f);
    free(an->ns.v);
    json_decref(an->c.calls);
    free(an);
}

incident_annotator *incident_annotator_new(json_t *anomalies, const char *service, const char *const *names,
                                           size_t n_names, int want_calls)
{
    incident_annotator *an = calloc(1, sizeof *an);
    size_t nf = json_array_size(anomalies);
    if (!an || !(an->ns.v = malloc((n_names ? n_names : 1) * sizeof *an->ns.v)) ||
        !(an->f = calloc(nf ? nf : 1, sizeof *an->f)) || (want_calls && !(an->c.calls = json_object()))) {
        incident_annotator_free(an);
        return NULL;
    }
    for (size_t i = 0; i < n_names; i++)
        if (names[i] && *names[i])
            an->ns.v[an->ns.n++] = names[i];
    qsort(an->ns.v, an->ns.n, sizeof *an->ns.v, cmp_name);
    an->c.self = service;
    an->want_calls = want_calls;
    for (; an->n_f < nf; an->n_f++) {
        finding_acc *fa = &an->f[an->n_f];
        fa->f = json_array_get(anomalies, an->n_f);
        for (int k = 0; k < 3; k++) {
            fa->b[k] = (basis_acc){.a = {.mentions = json_array(), .ids = json_array(), .self = service}, .first = -1,
                                   .last = -1};
            if (!fa->b[k].a.mentions || !fa->b[k].a.ids) {
                an->n_f++;
                incident_annotator_free(an);
                return NULL;
            }
        }
    }
    return an;
}

int incident_annotator_add(incident_annotator *an, const incident_line *l)
{
    for (size_t i = 0; i < an->n_f && !an->oom; i++) {
        finding_acc *fa = &an->f[i];
        const json_t *tids = json_object_get(fa->f, "template_ids");
        if ((json_array_size(tids) && has_id(tids, l->template_id) && basis_add(&fa->b[0], l, &an->ns)) ||
            (l->level >= 5 && basis_add(&fa->b[1], l, &an->ns)) || basis_add(&fa->b[2], l, &an->ns))
            an->oom = 1;
    }
    if (an->want_calls && !an->oom) {
        an->c.n_seen = 0;
        each_named(l->message, l->message ? strlen(l->message) : 0, &an->ns, add_call, &an->c);
        an->oom = an->c.oom;
    }
    return an->oom ? -1 : 0;
}

int incident_annotator_end(incident_annotator *an, json_t **calls)
{
    if (calls)
        *calls = NULL;
    int rc = an->oom ? -1 : 0;
    for (size_t i = 0; i < an->n_f && rc == 0; i++) {
        finding_acc *fa = &an->f[i];
        basis_acc *b = fa->b[0].read ? &fa->b[0] : fa->b[1].read ? &fa->b[1] : &fa->b[2];
        if (b->first >= 0) {
            rc |= json_object_set_new(fa->f, "first_ts", json_integer(b->first));
            rc |= json_object_set_new(fa->f, "last_ts", json_integer(b->last));
        }
        rc |= json_object_set(fa->f, "mentions", b->a.mentions);
        rc |= json_object_set(fa->f, "trace_ids", b->a.ids);
    }
    if (rc == 0 && calls && an->want_calls) {
        *calls = an->c.calls;
        an->c.calls = NULL;
    }
    incident_annotator_free(an);
    return rc ? -1 : 0;
}

int incident_annotate(json_t *anomalies, const char *service, const incident_line *lines, size_t n,
                      const char *const *names, size_t n_names, json_t **calls)
{
    if (calls)
        *calls = NULL;
    incident_annotator *an = incident_annotator_new(anomalies, service, names, n_names, calls != NULL);
    if (!an)
        return -1;
    for (size_t k = 0; k < n; k++)
        if (incident_annotator_add(an, &lines[k]) != 0)
            break;
    return incident_annotator_end(an, calls);
}
