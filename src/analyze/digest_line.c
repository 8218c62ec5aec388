/*
 * digest_line.c — a line as the digest shows it: the rank and the name of
 * its level, and the redacted text of a line the digest keeps. digest.c
 * (which builds the digest and keeps the lines), digest_baseline.c and
 * digest_render.c all read lines through here, so the arrows between the
 * digest's files run one way: digest.c to the baseline and the rendering,
 * and all three to this file.
 *
 * Threads: the analysis worker building the digest; a kept line's redacted
 * text is made on demand and cached in it (the builder is one thread's).
 *
 * Invariants: a level rank is 0 (unknown) to 6 (fatal), as digest.h says,
 * of the level word's canonical name as ingestion reads it, so the digest
 * and ingestion know the same level words;
 * with a redactor set, a kept line's text is its redacted message (or
 * "<redaction failed>"), never the raw one. Limits: none of its own.
 */
#include "digest_int.h"

#include "anomalog/ingest.h"

#include <stdlib.h>
#include <string.h>

static const char *const level_names[] = {"", "trace", "debug", "info", "warn", "error", "fatal"};

/* A level word's rank: its canonical name as ingestion reads level words (ingest_level_canonical). */
int digest_level_rank(const char *level)
{
    const char *canon = level ? ingest_level_canonical(level, strlen(level)) : NULL;
    for (int i = 1; canon && i < 7; i++)
        if (strcmp(canon, level_names[i]) == 0)
            return i;
    return 0;
}

const char *digest_level_name(int rank)
{
    return rank > 0 && rank < 7 ? level_names[rank] : "-";
}

const char *digest_line_text(ctx *c, size_t k)
{
    kline *l = &c->kl[k];
    if (!c->o->redact)
        return l->l.message;
    if (!l->red)
        l->red = redact_text(c->o->redact, c->rs, l->l.message, strlen(l->l.message), NULL);
    return l->red ? l->red : "<redaction failed>";
}
