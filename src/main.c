/*
 * main.c — the command line: serve, replay, digest, templates, migrate,
 * healthcheck, version, help.
 *
 * One table, commands[], lists every command with its arguments, its own
 * flags, the groups of settings whose flags it takes (config_load_for) and
 * the function that runs it; `anomalog help CMD`, `anomalog CMD --help` and
 * the usage all print from it. A new command is one row and one function.
 *
 * Exit status: 0 success (replay: every window analysed, nothing found);
 * 1 replay found at least one anomaly (also serve/migrate/healthcheck
 * failing at run time, as before); 2 a usage error, or replay/digest that
 * could not read or analyse their input.
 *
 * Threads: main parses the configuration, starts the store, the writer and
 * the HTTP server, then waits for SIGTERM or SIGINT with sigwait(). Those
 * signals are blocked in every thread (the mask is set before any thread
 * starts), so main is the only one that sees them.
 *
 * Shutdown order is what makes SIGTERM lose nothing acknowledged: HTTP stops
 * accepting and lets requests in progress finish (their batches still reach
 * the writer), then the writer commits what is queued, then the database
 * closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "anomalog/analyzer.h"
#include "anomalog/config.h"
#include "anomalog/http.h"
#include "anomalog/ingest.h"
#include "anomalog/llm.h"
#include "anomalog/lockfile.h"
#include "anomalog/log.h"
#include "anomalog/miner.h"
#include "anomalog/notifier.h"
#include "anomalog/eval.h"
#include "anomalog/model_check.h"
#include "anomalog/retention.h"
#include "anomalog/timeutil.h"
#include "anomalog/store.h"
#include "anomalog/window.h"
#include "anomalog/writer.h"

#define SCHEDULER_TICK_MS 1000

/* Service contexts of the config file go into the database; one set through the API is kept. */
static int apply_contexts(store *st, const config *cfg)
{
    char err[256];
    for (size_t i = 0; i < cfg->n_contexts; i++) {
        if (store_service_set_context(st, cfg->contexts[i].name, cfg->contexts[i].context, "config", NULL, err,
                                      sizeof err) != STORE_OK) {
            log_msg(LOG_ERROR | LOG_BARE, "config", "service %s: %s", cfg->contexts[i].name, err);
            return -1;
        }
    }
    return 0;
}

/*
 * Reads a whole input for replay or digest: a path or "-" (stdin), gzip or
 * not (zlib tells by the magic bytes, and reads concatenated members), at most
 * REPLAY_MAX_INPUT bytes once inflated.
 */
#define REPLAY_MAX_INPUT ((size_t)1 << 31)
static char *read_input(const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
    gzFile gz = fd >= 0 ? gzdopen(fd, "rb") : NULL;
    if (!gz) {
        snprintf(err, errlen, "%s: %s", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    gzbuffer(gz, 1 << 17);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            snprintf(err, errlen, "%s: out of memory", name);
            break;
        }
        if (n == cap) {
            char *nb = cap < REPLAY_MAX_INPUT ? realloc(buf, cap * 2 + 1) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                snprintf(err, errlen, "%s: too large to replay at once (%zu MiB at most)", name, REPLAY_MAX_INPUT >> 20);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
        int got = gzread(gz, buf + n, (unsigned)want);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            snprintf(err, errlen, "%s: %s", name, zerr == Z_ERRNO ? strerror(errno) : msg);
            free(buf);
            buf = NULL;
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (gzclose(gz) == Z_BUF_ERROR && buf) { /* the last gzip member ends before its end */
        snprintf(err, errlen, "%s: the gzip stream is cut short", name);
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* Progress of a long replay on stderr: on a terminal, or when asked for with --progress. */
typedef struct replay_progress {
    int on, tty;
    int64_t last_ms;
} replay_progress;

static void progress_say(replay_progress *p, int force, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void progress_say(replay_progress *p, int force, const char *fmt, ...)
{
    if (!p->on)
        return;
    int64_t now = time_mono_ms();
    if (!force && now - p->last_ms < (p->tty ? 200 : 2000))
        return;
    p->last_ms = now;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (p->tty)
        fprintf(stderr, "\r\033[K%s", line); /* one line, rewritten */
    else
        fprintf(stderr, "anomalog: %s\n", line);
}

static void progress_done(replay_progress *p)
{
    if (p->on && p->tty)
        fprintf(stderr, "\r\033[K");
}

static const char *health_upper(const char *h)
{
    return !strcmp(h, "normal") ? "NORMAL" : !strcmp(h, "degraded") ? "DEGRADED" : !strcmp(h, "critical") ? "CRITICAL"
                                                                                                             : "UNKNOWN";
}

/*
 * replay: the calibration run. Parses FILE (NDJSON when its first non-blank
 * byte is '{', else text; gzip or not; "-" is stdin), stores it in a database
 * of its own (temporary unless --db/ANOMALOG_DB names one), closes every
 * window, analyses them all on this thread without notifying anyone, and
 * prints each window's findings, as text or (--json) one JSON document.
 * Returns 0 (nothing found), 1 (an anomaly found) or 2 (an error, or a window
 * left unanalysed with nothing found).
 */
static int cmd_replay(config *cfg, const char *file, const char *service, int digest_only, int as_json,
                      replay_progress *pg)
{
    char err[1024], tmpdir[] = "/tmp/anomalog-replay-XXXXXX";
    int rc = 2;
    json_t *out_windows = as_json ? json_array() : NULL;
    store *st = NULL;
    analyzer *an = NULL;
    batch *b = NULL;
    json_t *arr = NULL;
    size_t len = 0;
    progress_say(pg, 1, "reading %s", strcmp(file, "-") ? file : "stdin");
    char *body = read_input(file, &len, err, sizeof err);
    if (!body) {
        progress_done(pg);
        log_msg(LOG_ERROR, "replay", "%s", err);
        json_decref(out_windows);
        return 2;
    }
    if (!cfg->db_set) {
        if (!mkdtemp(tmpdir)) {
            log_msg(LOG_ERROR, "replay", "cannot create a temporary directory: %s", strerror(errno));
            free(body);
            json_decref(out_windows);
            return 2;
        }
        snprintf(cfg->db, sizeof cfg->db, "%s/replay.db", tmpdir);
    }
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    ingest_format fmt = i < len && body[i] == '{' ? INGEST_NDJSON : INGEST_TEXT;
    ingest_opts o = {.default_service = service ? service : "default",
                     .received_ms = time_now_ms(),
                     .tz_offset_s = cfg->tz_offset_s,
                     .max_line = cfg->max_line,
                     .max_entries = 0};
    ingest_error perr = {.index = -1};
    progress_say(pg, 1, "parsing %zu MiB", len >> 20);
    if (!(b = batch_new(o.received_ms)) || ingest_parse(fmt, body, len, &o, b, &perr) != 0) {
        log_msg(LOG_ERROR, "replay", "%s: %s", file, b ? perr.message : "out of memory");
        goto out;
    }
    progress_say(pg, 1, "storing %zu entries", b->count);
    if (store_open(cfg->db, STORE_DURABLE_NORMAL, &st, err, sizeof err) != STORE_OK || apply_contexts(st, cfg) ||
        store_write_batches(st, &b, 1, cfg->window_ms, err, sizeof err) != STORE_OK) {
        log_msg(LOG_ERROR, "replay", "%s", err);
        goto out;
    }
    int closed = 0;
    if (store_windows_close(st, time_now_ms(), cfg->grace_ms, 1, NULL, &closed, err, sizeof err) != STORE_OK) {
        log_msg(LOG_ERROR, "replay", "%s", err);
        goto out;
    }
    if (!(an = analyzer_start(st, cfg, 0, err, sizeof err))) {
        log_msg(LOG_ERROR, digest_only ? "digest" : "replay", "%s", err);
        goto out;
    }
    if (!digest_only) {
        log_msg(LOG_INFO, "replay", "%zu entries in %d window(s); analysing with %s", b->count, closed,
                cfg->llm_url[0] && strcmp(cfg->llm_url, "none") ? cfg->llm_url : "the baseline only (no model)");
        int done = 0;
        while (analyzer_run_one(an, 0) != ANALYSIS_NONE)
            progress_say(pg, 0, "analysed %d of %d window(s)", ++done, closed);
    }
    progress_done(pg);

    /* print oldest first: page through the newest-first listing and reverse */
    window_query q = {.limit = 1000};
    arr = json_array();
    int more = 1;
    while (more) {
        window_info *rows;
        size_t n;
        if (store_windows_list(st, &q, &rows, &n, &more, err, sizeof err) != STORE_OK) {
            log_msg(LOG_ERROR, "replay", "%s", err);
            goto out;
        }
        for (size_t k = 0; k < n; k++)
            json_array_append_new(arr, json_pack("{s:I}", "id", (json_int_t)rows[k].id));
        if (n) {
            q.has_cursor = 1;
            q.cursor_start = rows[n - 1].start_ms;
            q.cursor_id = rows[n - 1].id;
        }
        free(rows);
    }
    long total = 0, critical = 0, failed = 0;
    for (size_t k = json_array_size(arr); k-- > 0;) {
        window_info w;
        json_t *an_list = NULL;
        int64_t id = json_integer_value(json_object_get(json_array_get(arr, k), "id"));
        if (store_window_get(st, id, &w, err, sizeof err) != STORE_OK ||
            store_window_anomalies(st, id, &an_list, err, sizeof err) != STORE_OK) {
            log_msg(LOG_ERROR, "replay", "%s", err);
            goto out;
        }
        char s1[40], s2[40];
        time_format_rfc3339(w.start_ms, s1, sizeof s1);
        time_format_rfc3339(w.end_ms, s2, sizeof s2);
        if (as_json && !digest_only) {
            size_t j;
            json_t *x;
            json_array_foreach(an_list, j, x)
            {
                const char *sev = json_string_value(json_object_get(x, "severity"));
                total++;
                critical += sev && !strcmp(sev, "critical");
            }
            failed += !strcmp(w.status, "failed");
            json_array_append_new(out_windows,
                                  json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:s, s:s?, s:o}", "id", (json_int_t)id,
                                            "service", w.service, "start", s1, "end", s2, "lines",
                                            (json_int_t)w.line_count, "health", w.health, "status", w.status, "error",
                                            strcmp(w.status, "failed") ? NULL : w.error, "anomalies", an_list));
            continue;
        }
        printf("%s %s .. %s (%lld lines)\n", w.service, s1, s2, (long long)w.line_count);
        if (digest_only) {
            char *text = analyzer_digest_text(an, id, err, sizeof err);
            json_decref(an_list);
            if (!text) {
                log_msg(LOG_ERROR, "digest", "%s", err);
                goto out;
            }
            printf("%s\n", text);
            free(text);
            continue;
        }
        printf("[%s] %zu anomaly(ies) detected\n", health_upper(w.health), json_array_size(an_list));
        if (!strcmp(w.status, "failed")) {
            printf("  analysis failed: %s\n", w.error);
            failed++;
        }
        size_t j;
        json_t *x;
        json_array_foreach(an_list, j, x)
        {
            const char *sev = json_string_value(json_object_get(x, "severity"));
            printf("  [%s] %s: %s%s\n", sev, json_string_value(json_object_get(x, "type")),
                   json_string_value(json_object_get(x, "summary")),
                   json_is_true(json_object_get(x, "evidence_verified")) ? "" : " (evidence not found in the window)");
            total++;
            critical += !strcmp(sev, "critical");
        }
        json_decref(an_list);
    }
    if (digest_only) {
        rc = 0;
        goto out;
    }
    if (as_json) {
        json_t *doc = json_pack("{s:o, s:{s:I, s:I, s:I, s:I}}", "windows", out_windows, "summary", "windows",
                                (json_int_t)json_array_size(arr), "anomalies", (json_int_t)total, "critical",
                                (json_int_t)critical, "not_analysed", (json_int_t)failed);
        out_windows = NULL;
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!text) {
            log_msg(LOG_ERROR, "replay", "out of memory");
            goto out;
        }
        printf("%s\n", text);
        free(text);
    } else {
        printf("summary: %zu window(s), %ld anomaly(ies), %ld critical, %ld window(s) not analysed\n",
               json_array_size(arr), total, critical, failed);
    }
    rc = total ? 1 : failed ? 2 : 0;
out:
    json_decref(out_windows);
    json_decref(arr);
    analyzer_stop(an);
    store_close(st);
    batch_free(b);
    free(body);
    if (!cfg->db_set) {
        char p[4200];
        const char *sfx[] = {"", "-wal", "-shm"};
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "%s/replay.db%s", tmpdir, sfx[k]);
            unlink(p);
        }
        rmdir(tmpdir);
    }
    return rc;
}

static int cmd_migrate(const config *cfg)
{
    char err[512];
    store *st = NULL;
    lockfile *lk = NULL; /* a served database is migrated by its serve when it starts, not beside it */
    int rc = 1;
    if (lockfile_take(cfg->db, &lk, err, sizeof err) != 0 ||
        store_open(cfg->db, STORE_DURABLE_NORMAL, &st, err, sizeof err) != STORE_OK) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        goto out;
    }
    char where[sizeof cfg->db];
    printf("%s: schema version %d\n", store_location(cfg->db, where, sizeof where), store_schema_version(st));
    rc = 0;
out:
    store_close(st);
    lockfile_release(lk);
    return rc;
}

/* The window scheduler's wake function: closed windows wake the analysis workers. */
static void wake_analyzer(void *an)
{
    analyzer_wake(an);
}

static int cmd_serve(const config *cfg)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    lockfile *lk; /* before the database or its journal is touched; held until exit */
    if (lockfile_take(cfg->db, &lk, err, sizeof err) != 0) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        return 1;
    }
    /* started in this order, stopped in the reverse one (every stop accepts NULL) */
    int rc = 1;
    store *st = NULL;
    writer *wr = NULL;
    notifier *nt = NULL;
    analyzer *an = NULL;
    window_scheduler *ws = NULL;
    retention *rt = NULL;
    http_server *srv = NULL;
    if (store_open(cfg->db, cfg->durability_full ? STORE_DURABLE_FULL : STORE_DURABLE_NORMAL, &st, err,
                   sizeof err) != STORE_OK) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        return 1;
    }
    if (apply_contexts(st, cfg))
        goto out;
    writer_opts wo = {
        .queue_depth = cfg->queue_depth,
        .max_txn_entries = cfg->max_txn_entries,
        .window_ms = cfg->window_ms,
        .idempotency_ttl_ms = cfg->idempotency_ttl_ms,
        .journal = store_has_journal(st) ? cfg->db : NULL,
        .journal_sync = cfg->durability_full,
    };
    retention_opts ro = {.lines_ms = cfg->retention_lines_ms, .windows_ms = cfg->retention_windows_ms,
                         .batch_rows = (int64_t)cfg->retention_batch};
    app a = {.cfg = cfg, .st = st};
    int port;
    /* the sender before the analyzer: it may queue notifications as soon as it starts; the
       scheduler after it: closed windows wake it */
    if (!(a.wr = wr = writer_start(st, &wo, err, sizeof err)) ||
        (!cfg->routing.dry_run && !(nt = notifier_start(st, cfg, err, sizeof err))) ||
        !(a.an = an = analyzer_start(st, cfg, cfg->workers, err, sizeof err)) ||
        !(ws = window_scheduler_start(st, cfg->grace_ms, SCHEDULER_TICK_MS, wake_analyzer, an, err, sizeof err)) ||
        !(rt = retention_start(st, &ro, err, sizeof err)) ||
        !(srv = http_start(&a, &port, err, sizeof err))) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        goto out;
    }
    int v6 = strchr(cfg->listen_host, ':') != NULL; /* an IPv6 host is written in brackets */
    if (cfg->routing.n_dests || cfg->routing.dry_run)
        log_msg(LOG_INFO | LOG_BARE, "notify", "%zu destination(s), %zu route(s)%s, suppressing repeats for %llds%s",
                cfg->routing.n_dests, cfg->routing.n_rules, cfg->routing.n_rules ? "" : " (the defaults)",
                (long long)cfg->routing.suppress_ms / 1000, cfg->routing.dry_run ? "; dry run: nothing is sent" : "");
    /* LOG_NOTICE: never filtered; the harness and supervisors read the port from this line */
    char where[sizeof cfg->db];
    log_msg(LOG_NOTICE | LOG_BARE | LOG_VERSIONED, "main", "listening on %s%s%s:%d (db %s, schema %d, window %llds, grace %llds)",
            v6 ? "[" : "", cfg->listen_host, v6 ? "]" : "", port, store_location(cfg->db, where, sizeof where), store_schema_version(st), (long long)cfg->window_ms / 1000,
            (long long)cfg->grace_ms / 1000);

    int sig = 0;
    sigwait(&sigs, &sig);
    log_msg(LOG_NOTICE | LOG_BARE, "main", "%s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rc = 0;
out:
    http_stop(srv);
    retention_stop(rt);
    window_scheduler_stop(ws);
    analyzer_stop(an);
    notifier_stop(nt);
    writer_stats stats = {0};
    if (wr)
        writer_get_stats(wr, &stats);
    writer_stop(wr);
    store_close(st);
    if (rc == 0)
        log_msg(LOG_NOTICE | LOG_BARE, "main", "stopped after %llu entries in %llu batches",
                (unsigned long long)stats.entries, (unsigned long long)stats.batches);
    return rc;
}

/* ---- the commands ------------------------------------------------------------ */

typedef struct command command;
typedef int (*command_fn)(const command *c, config *cfg, int argc, char **argv);

struct command {
    const char *name;
    const char *args;               /* after the name in the usage line */
    const char *summary;            /* one line, for the list of commands */
    const char *about;              /* more, for `anomalog help CMD` (may be NULL) */
    const char *own_flags;          /* help text of the command's own flags (may be NULL) */
    const char *const *groups;      /* settings whose flags it takes (config_load_for); NULL: none */
    command_fn run;                 /* argv: the command name, then what the settings' flags left */
};

static const char *const all_settings[] = {"*", NULL};
/* replay and digest build and analyse windows like serve, without HTTP, notifications or retention */
static const char *const replay_settings[] = {"db", "window", "grace", "timezone", "limits.max_line", "ingest.text_format",
                                              "llm.", "analysis.", "digest.", "redaction.", "log.", NULL};
static const char *const migrate_settings[] = {"db", "log.", NULL};
static const char *const healthcheck_settings[] = {"listen", NULL};
static const char *const model_settings[] = {"llm.", "analysis.max_prompt_bytes", "digest.token_budget", "log.", NULL};

static int run_serve(const command *c, config *cfg, int argc, char **argv);
static int run_replay(const command *c, config *cfg, int argc, char **argv);
static int run_templates(const command *c, config *cfg, int argc, char **argv);
static int run_migrate(const command *c, config *cfg, int argc, char **argv);
static int run_model(const command *c, config *cfg, int argc, char **argv);
static int run_eval(const command *c, config *cfg, int argc, char **argv);
static int run_healthcheck(const command *c, config *cfg, int argc, char **argv);
static int run_version(const command *c, config *cfg, int argc, char **argv);
static int run_help(const command *c, config *cfg, int argc, char **argv);

static const command commands[] = {
    {"serve", "[FLAGS]", "run the service",
     "Receives logs over HTTP, cuts them into windows per service, analyses each closed window and notifies.\n",
     "  --dry-run\n      record notifications without sending them\n", all_settings, run_serve},
    {"replay", "FILE|- [FLAGS]", "analyse a log file offline and print each window's findings",
     "Parses FILE (NDJSON or text; gzip read by its magic bytes; - for stdin) into windows, analyses each\n"
     "on this thread (the model of --llm-url, or the baseline with --llm-url none) and prints the findings.\n"
     "Nothing is notified. A temporary database unless --db is given.\n"
     "Exit status: 0 every window analysed and nothing found; 1 at least one anomaly found;\n"
     "2 a usage error, an unreadable input, or a window that could not be analysed (and nothing found).\n",
     "  --service NAME\n      service of lines that name none (default \"default\")\n"
     "  --json\n      one JSON document on stdout: {\"windows\": [...], \"summary\": {...}}\n"
     "  --progress\n      progress on stderr even when it is not a terminal (on a terminal it is always shown)\n",
     replay_settings, run_replay},
    {"digest", "FILE|- [FLAGS]", "print the digest the model would be sent for each window of a file",
     "Like replay (gzip and - read the same way) but analyses nothing: prints each window's digest.\n"
     "Exit status: 0, or 2 on a usage error or an unreadable input.\n",
     "  --service NAME\n      service of lines that name none (default \"default\")\n", replay_settings, run_replay},
    {"templates", "FILE|- [--summary]", "mine log templates from a file, one message per line",
     "Prints \"<id> <template>\" for each line; with --summary each template once as\n"
     "\"<id>\\t<count>\\t<template>\", most frequent first. gzip is read by its magic bytes; - is stdin.\n",
     "  --summary\n      the templates by count instead of one line per input line\n", NULL, run_templates},
    {"model", "check [--json] [FLAGS]", "probe the model server: model, context, schema, reasoning, latency",
     "Asks the server of --llm-url what analysis will do with it, and says whether it is usable.\n"
     "Exit status: 0 usable, 1 not usable, 2 a usage error or no model configured.\n",
     "  --json\n      the findings as one JSON document\n", model_settings, run_model},
    {"eval", "LOG LABELS.json [--json] [FLAGS]", "replay LOG and score the findings against labelled incidents",
     "Replays LOG through the whole pipeline (notifications off, a temporary database unless --db is given)\n"
     "and scores every finding against the incidents of LABELS.json: found or missed, by which analyzer,\n"
     "how soon; findings matching no incident are listed as outside.\n",
     "  --json\n      the scorecard as one JSON object\n", replay_settings, run_eval},
    {"migrate", "[FLAGS]", "apply database migrations and exit", NULL, NULL, migrate_settings, run_migrate},
    {"healthcheck", "[FLAGS]", "exit 0 when the service on --listen is ready (for container health checks)", NULL,
     NULL, healthcheck_settings, run_healthcheck},
    {"version", "", "print the version", NULL, NULL, NULL, run_version},
    {"help", "[COMMAND]", "this list, or a command's flags", NULL, NULL, NULL, run_help},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: anomalog COMMAND [ARGS] [FLAGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`anomalog COMMAND --help` (or `anomalog help COMMAND`) lists a command's flags.\n"
               "Every setting is a key of the config file, a variable and a flag, by one rule:\n"
               "key a.b_c = ANOMALOG_A_B_C = --a-b-c. A flag overrides its variable, which overrides the file.\n");
}

static void command_help(const command *c, FILE *f)
{
    fprintf(f, "usage: anomalog %s %s\n\n%s\n", c->name, c->args, c->summary);
    if (c->about)
        fprintf(f, "\n%s", c->about);
    if (c->own_flags || c->groups)
        fprintf(f, "\nflags:\n%s", c->own_flags ? c->own_flags : "");
    if (c->groups) {
        if (c->groups != all_settings)
            fprintf(f, "\nsettings (flag, then variable and config file key):\n");
        else
            fprintf(f, "\nsettings (flag, then variable and config file key; secrets have no flag):\n");
        config_print_flags(f, c->groups);
    }
    if (c->groups == all_settings)
        fprintf(f, "\nnotification destinations by environment alone: ANOMALOG_PAGERDUTY_ROUTING_KEY\n"
                   "(+ANOMALOG_PAGERDUTY_URL), ANOMALOG_SLACK_WEBHOOK_URL, ANOMALOG_ALERTMANAGER_URL,\n"
                   "ANOMALOG_WEBHOOK_URL (+ANOMALOG_WEBHOOK_SECRET), ANOMALOG_ALERT_FILE\n");
}

static int usage_error(const command *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const command *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "anomalog %s: ", c->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see `anomalog %s --help`)\n", c->name);
    return 2;
}

static int run_serve(const command *c, config *cfg, int argc, char **argv)
{
    int dry_run = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dry-run"))
            dry_run = 1;
        else
            return usage_error(c, "unknown argument \"%s\"", argv[i]);
    }
    cfg->routing.enabled = 1; /* replay and digest never notify */
    cfg->routing.dry_run = dry_run;
    llm_global_init();
    return cmd_serve(cfg);
}

static int run_replay(const command *c, config *cfg, int argc, char **argv)
{
    const char *file = NULL, *service = NULL;
    int digest_only = !strcmp(c->name, "digest"), as_json = 0;
    replay_progress pg = {.tty = isatty(STDERR_FILENO)};
    pg.on = pg.tty;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--service") && i + 1 < argc)
            service = argv[++i];
        else if (!strncmp(arg, "--service=", 10))
            service = arg + 10;
        else if (!digest_only && !strcmp(arg, "--json"))
            as_json = 1;
        else if (!digest_only && !strcmp(arg, "--progress"))
            pg.on = 1;
        else if (!file && (arg[0] != '-' || !strcmp(arg, "-")))
            file = arg;
        else
            return file && arg[0] != '-' ? usage_error(c, "one FILE only, not also \"%s\"", arg)
                                         : usage_error(c, "unknown argument \"%s\"", arg);
    }
    if (!file)
        return usage_error(c, "which file?%s", " (a path, or - for stdin)");
    if (digest_only)
        pg.on = 0;
    llm_global_init();
    return cmd_replay(cfg, file, service, digest_only, as_json, &pg);
}

static int run_templates(const command *c, config *cfg, int argc, char **argv)
{
    (void)c;
    (void)cfg;
    return templates_main(argc, argv);
}

static int run_model(const command *c, config *cfg, int argc, char **argv)
{
    (void)c;
    return model_main(cfg, argc, argv);
}

static int run_eval(const command *c, config *cfg, int argc, char **argv)
{
    (void)c;
    return eval_main(cfg, argc, argv);
}

static int run_migrate(const command *c, config *cfg, int argc, char **argv)
{
    if (argc > 1)
        return usage_error(c, "unknown argument \"%s\"", argv[1]);
    return cmd_migrate(cfg);
}

static int run_healthcheck(const command *c, config *cfg, int argc, char **argv)
{
    char err[512];
    if (argc > 1)
        return usage_error(c, "unknown argument \"%s\"", argv[1]);
    if (http_healthcheck(cfg, err, sizeof err)) {
        fprintf(stderr, "anomalog: not ready: %s\n", err);
        return 1;
    }
    return 0;
}

static int run_version(const command *c, config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (argc > 1)
        return usage_error(c, "unknown argument \"%s\"", argv[1]);
    printf("anomalog %s\n", ANOMALOG_VERSION);
    return 0;
}

static int run_help(const command *c, config *cfg, int argc, char **argv)
{
    (void)cfg;
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    const command *which = find_command(argv[1]);
    if (!which || argc > 2)
        return usage_error(c, "no command \"%s\"", argv[1]);
    command_help(which, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        name = "help";
    else if (!strcmp(name, "--version"))
        name = "version";
    const command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "anomalog: unknown command \"%s\"\n\n", name);
        usage(stderr);
        return 2;
    }
    /* --help anywhere after the command: that command's help, whatever else is there */
    for (int i = 2; i < argc && c->run != run_help; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            command_help(c, stdout);
            return 0;
        }
    static config cfg;
    char err[1024];
    int n = argc - 1; /* argv[1..]: the command, then its arguments */
    if (config_load_for(&cfg, &n, argv + 1, c->groups, c->name, err, sizeof err)) {
        fprintf(stderr, "anomalog: %s\n", err);
        return 2;
    }
    log_init(cfg.log_json, cfg.log_level);
    for (char *w = cfg.warnings, *nl; *w; w = nl + 1) { /* old names used: said once logging is set up */
        nl = strchr(w, '\n');
        if (!nl)
            break;
        *nl = '\0';
        log_msg(LOG_WARN | LOG_BARE, "config", "%s", w);
    }
    int rc = c->run(c, &cfg, n, argv + 1);
    config_free(&cfg);
    return rc;
}
