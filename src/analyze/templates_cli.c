/*
 * templates_cli.c — `anomalog templates FILE [--summary]`: the template miner
 * on a file, from the command line.
 *
 * Purpose: shows how the miner groups a log, with no server, database or
 * model. Each input line is one message: no multi-line joining and no header
 * parsing (a timestamp or level at the start of a line is part of the
 * message; the miner masks what varies). The trailing "\n" and "\r\n" are
 * stripped. Without --summary, every input line gives one output line
 * `<id> <template>`, the template as it stands after that line (it may
 * generalise later; its id does not change). With --summary, nothing is
 * printed per line; at the end every template is printed once as
 * `<id>\t<count>\t<template>`, most frequent first, ties by id.
 *
 * Threads: the calling thread only.
 *
 * Invariants: without --summary, output line k belongs to input line k (an
 * empty line is a message too: its template is the empty one, `<id> `).
 *
 * Limits: a line is read into a fixed buffer of the miner's max_bytes + 1
 * bytes; the rest of a longer line is read and dropped (the miner considers
 * only its first max_bytes bytes anyway), so one endless line cannot exhaust
 * memory. Output lines are single lines: control bytes separate tokens, so
 * no template holds a line break. The
 * miner keeps up to CLI_MAX_TEMPLATES templates (the least recently seen is
 * evicted past that, and a later line like it gets a new id).
 *
 * Input: a file or "-" (stdin), gzip or not: zlib's gzread tells by the magic
 * bytes (and reads concatenated members); anything else passes through as is.
 *
 * Exit status: 0; 1 when FILE cannot be read, stdout cannot be written, or
 * memory runs out; 2 on a usage error.
 */
#include "anomalog/miner.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CLI_MAX_TEMPLATES 65536
#define READ_CHUNK 65536

static void templates_usage(FILE *f)
{
    fprintf(f, "usage: anomalog templates FILE [--summary]\n"
               "  Mines log templates from FILE (\"-\" for stdin), one message per line.\n"
               "  Prints \"<id> <template>\" for each line; with --summary, prints each\n"
               "  template once as \"<id>\\t<count>\\t<template>\", most frequent first.\n");
}

/* ---- bounded line reader ---------------------------------------------------- */

typedef struct line_reader {
    gzFile f;
    char buf[READ_CHUNK];
    size_t pos, len;
    int eof;
} line_reader;

/*
 * Reads the next line into line (cap bytes, at least 2); a longer line is cut
 * at cap - 1 bytes and the rest skipped. The newline is not stored; a
 * trailing '\r' is stripped. Returns 1 with a line, 0 at the end, -1 on a
 * read error.
 */
static int read_line(line_reader *r, char *line, size_t cap, size_t *len)
{
    size_t n = 0;
    int any = 0;
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof)
                break;
            int got = gzread(r->f, r->buf, sizeof r->buf);
            r->pos = 0;
            r->len = got > 0 ? (size_t)got : 0;
            if (got <= 0) {
                if (got < 0)
                    return -1;
                r->eof = 1;
                break;
            }
        }
        any = 1;
        const char *start = r->buf + r->pos;
        size_t avail = r->len - r->pos;
        const char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) : avail;
        if (n < cap - 1) {
            size_t room = cap - 1 - n;
            size_t k = take < room ? take : room;
            memcpy(line + n, start, k);
            n += k;
        }
        r->pos += take;
        if (nl) {
            r->pos++; /* the newline */
            break;
        }
    }
    if (!any)
        return 0;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    *len = n;
    return 1;
}

/* ---- summary ---------------------------------------------------------------- */

typedef struct summary_row {
    int64_t id;
    uint64_t count;
    const char *text;
} summary_row;

typedef struct summary {
    summary_row *rows;
    size_t n, cap;
} summary;

static void summary_collect(int64_t id, const char *text, uint64_t count, void *arg)
{
    summary *s = arg;
    if (s->n < s->cap)
        s->rows[s->n++] = (summary_row){id, count, text};
}

static int summary_cmp(const void *a, const void *b)
{
    const summary_row *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* ---- the command -------------------------------------------------------------- */

int templates_main(int argc, char **argv)
{
    const char *path = NULL;
    int summary_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--summary") == 0) {
            summary_only = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            templates_usage(stdout);
            return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "anomalog templates: unknown option \"%s\"\n", a);
            templates_usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "anomalog templates: one FILE only (got \"%s\" and \"%s\")\n", path, a);
            templates_usage(stderr);
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) {
        fprintf(stderr, "anomalog templates: FILE is missing\n");
        templates_usage(stderr);
        return 2;
    }

    int rc = 0;
    gzFile in = NULL;
    miner *m = NULL;
    line_reader *r = NULL;
    char *line = NULL;
    summary s = {0};

    miner_opts o = miner_opts_defaults();
    o.max_templates = CLI_MAX_TEMPLATES;
    size_t cap = o.max_bytes + 2; /* the miner looks one byte past max_bytes to cut at a character */

    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !(in = gzdopen(fd, "rb"))) {
        if (fd >= 0)
            close(fd);
        fprintf(stderr, "anomalog templates: %s: %s\n", path, strerror(errno));
        rc = 1;
        goto out;
    }
    m = miner_new(&o);
    r = calloc(1, sizeof *r);
    line = malloc(cap);
    if (!m || !r || !line) {
        fprintf(stderr, "anomalog templates: out of memory\n");
        rc = 1;
        goto out;
    }
    r->f = in;

    for (;;) {
        size_t len;
        int got = read_line(r, line, cap, &len);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(r->f, &zerr);
            fprintf(stderr, "anomalog templates: %s: read error: %s\n", path, zerr == Z_ERRNO ? strerror(errno) : msg);
            rc = 1;
            goto out;
        }
        if (got == 0)
            break;
        int64_t id = miner_add(m, line, len, NULL, NULL, 0, NULL);
        if (id < 0) {
            fprintf(stderr, "anomalog templates: out of memory\n");
            rc = 1;
            goto out;
        }
        if (!summary_only && printf("%" PRId64 " %s\n", id, miner_template_text(m, id)) < 0)
            break; /* reported below through ferror(stdout) */
    }

    if (summary_only) {
        s.cap = miner_size(m);
        s.rows = malloc((s.cap ? s.cap : 1) * sizeof *s.rows);
        if (!s.rows) {
            fprintf(stderr, "anomalog templates: out of memory\n");
            rc = 1;
            goto out;
        }
        miner_foreach(m, summary_collect, &s);
        qsort(s.rows, s.n, sizeof *s.rows, summary_cmp);
        for (size_t i = 0; i < s.n; i++)
            if (printf("%" PRId64 "\t%" PRIu64 "\t%s\n", s.rows[i].id, s.rows[i].count, s.rows[i].text) < 0)
                break;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "anomalog templates: writing the output: %s\n", strerror(errno));
        rc = 1;
    }

out:
    free(s.rows);
    free(line);
    free(r);
    miner_free(m);
    if (in && gzclose(in) == Z_BUF_ERROR && rc == 0) { /* the last gzip member ends before its end */
        fprintf(stderr, "anomalog templates: %s: the gzip stream is cut short\n", path);
        rc = 1;
    }
    return rc;
}
