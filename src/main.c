/*
 * main.c — the command line: serve, migrate, healthcheck, version.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
#include "anomalog/writer.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: anomalog COMMAND [FLAGS]\n\n"
            "commands:\n"
            "  serve        run the service (--dry-run: record notifications without sending them)\n"
            "  replay FILE  run parsing, windowing and analysis over a file, print each window's findings\n"
            "               (--service NAME for lines without one; a temporary database unless --db is given)\n"
            "  digest FILE  print the digest of each window of a file, as the model would be sent it\n"
            "  templates FILE [--summary]  mine templates: each line's template id, or the templates by count\n"
            "  model check [--json]  probe the model server: model, context, schema, reasoning, latency\n"
            "  eval LOG LABELS.json [--json]  replay LOG and score the findings against labelled incidents\n"
            "  migrate      apply database migrations and exit\n"
            "  healthcheck  exit 0 when the service on --listen is ready (for container health checks)\n"
            "  version      print the version\n\n"
            "flags (each overrides its environment variable, which overrides the config file):\n%s",
            config_flags_help());
}

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

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = cap < ((size_t)1 << 31) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                snprintf(err, errlen, "%s: too large to replay at once (2 GiB at most)", path);
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf && ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static const char *health_upper(const char *h)
{
    return !strcmp(h, "normal") ? "NORMAL" : !strcmp(h, "degraded") ? "DEGRADED" : !strcmp(h, "critical") ? "CRITICAL"
                                                                                                             : "UNKNOWN";
}

/*
 * replay: the calibration run. Parses FILE (NDJSON when its first non-blank
 * byte is '{', else text), stores it in a database of its own (temporary
 * unless --db/ANOMALOG_DB names one), closes every window, analyses them all
 * on this thread without notifying anyone, and prints each window's findings.
 */
static int cmd_replay(config *cfg, const char *file, const char *service, int digest_only)
{
    char err[1024], tmpdir[] = "/tmp/anomalog-replay-XXXXXX";
    int rc = 1;
    store *st = NULL;
    analyzer *an = NULL;
    batch *b = NULL;
    json_t *arr = NULL;
    size_t len = 0;
    char *body = read_file(file, &len, err, sizeof err);
    if (!body) {
        log_msg(LOG_ERROR, "replay", "%s", err);
        return 1;
    }
    if (!cfg->db_set) {
        if (!mkdtemp(tmpdir)) {
            log_msg(LOG_ERROR, "replay", "cannot create a temporary directory: %s", strerror(errno));
            free(body);
            return 1;
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
    if (!(b = batch_new(o.received_ms)) || ingest_parse(fmt, body, len, &o, b, &perr) != 0) {
        log_msg(LOG_ERROR, "replay", "%s: %s", file, b ? perr.message : "out of memory");
        goto out;
    }
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
    if (!(an = analyzer_start(st, cfg, 0, 0, err, sizeof err))) {
        log_msg(LOG_ERROR, digest_only ? "digest" : "replay", "%s", err);
        goto out;
    }
    if (!digest_only) {
        log_msg(LOG_INFO, "replay", "%zu entries in %d window(s); analysing with %s", b->count, closed,
                cfg->llm_url[0] && strcmp(cfg->llm_url, "none") ? cfg->llm_url : "the baseline only (no model)");
        while (analyzer_run_one(an, 0) != ANALYSIS_NONE)
            ;
    }

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
        printf("%s %s .. %s (%lld lines)\n", w.service, time_format_rfc3339(w.start_ms, s1, sizeof s1),
               time_format_rfc3339(w.end_ms, s2, sizeof s2), (long long)w.line_count);
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
    printf("summary: %zu window(s), %ld anomaly(ies), %ld critical, %ld window(s) not analysed\n",
           json_array_size(arr), total, critical, failed);
    rc = 0;
out:
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
    store *st;
    if (store_open(cfg->db, STORE_DURABLE_NORMAL, &st, err, sizeof err) != STORE_OK) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        return 1;
    }
    char where[sizeof cfg->db];
    printf("%s: schema version %d\n", store_location(cfg->db, where, sizeof where), store_schema_version(st));
    store_close(st);
    return 0;
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
    store *st;
    if (store_open(cfg->db, cfg->durability_full ? STORE_DURABLE_FULL : STORE_DURABLE_NORMAL, &st, err,
                   sizeof err) != STORE_OK) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        return 1;
    }
    if (apply_contexts(st, cfg)) {
        store_close(st);
        return 1;
    }
    writer_opts wo = {
        .queue_depth = cfg->queue_depth,
        .max_txn_entries = cfg->max_txn_entries,
        .window_ms = cfg->window_ms,
        .idempotency_ttl_ms = cfg->idempotency_ttl_ms,
        .journal = store_has_journal(st) ? cfg->db : NULL,
        .journal_sync = cfg->durability_full,
    };
    writer *wr = writer_start(st, &wo, err, sizeof err);
    if (!wr) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        store_close(st);
        return 1;
    }
    /* the sender first: the analyzer may queue notifications as soon as it starts */
    notifier *nt = NULL;
    if (!cfg->routing.dry_run && !(nt = notifier_start(st, cfg, err, sizeof err))) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        writer_stop(wr);
        store_close(st);
        return 1;
    }
    analyzer *an = analyzer_start(st, cfg, SCHEDULER_TICK_MS, cfg->workers, err, sizeof err);
    if (!an) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        notifier_stop(nt);
        writer_stop(wr);
        store_close(st);
        return 1;
    }
    retention_opts ro = {.lines_ms = cfg->retention_lines_ms, .windows_ms = cfg->retention_windows_ms,
                         .batch_rows = (int64_t)cfg->retention_batch};
    retention *rt = retention_start(st, &ro, err, sizeof err);
    if (!rt) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        analyzer_stop(an);
        notifier_stop(nt);
        writer_stop(wr);
        store_close(st);
        return 1;
    }
    app a = {.cfg = cfg, .st = st, .wr = wr, .an = an};
    int port;
    http_server *srv = http_start(&a, &port, err, sizeof err);
    if (!srv) {
        log_msg(LOG_ERROR | LOG_BARE, "main", "%s", err);
        retention_stop(rt);
        analyzer_stop(an);
        notifier_stop(nt);
        writer_stop(wr);
        store_close(st);
        return 1;
    }
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(strrchr(cfg->listen, ':') - cfg->listen), cfg->listen);
    if (cfg->routing.n_dests || cfg->routing.dry_run)
        log_msg(LOG_INFO | LOG_BARE, "notify", "%zu destination(s), %zu route(s)%s, suppressing repeats for %llds%s",
                cfg->routing.n_dests, cfg->routing.n_rules, cfg->routing.n_rules ? "" : " (the defaults)",
                (long long)cfg->routing.suppress_ms / 1000, cfg->routing.dry_run ? "; dry run: nothing is sent" : "");
    /* LOG_NOTICE: never filtered; the harness and supervisors read the port from this line */
    char where[sizeof cfg->db];
    log_msg(LOG_NOTICE | LOG_BARE | LOG_VERSIONED, "main", "listening on %s:%d (db %s, schema %d, window %llds, grace %llds)",
            host, port, store_location(cfg->db, where, sizeof where), store_schema_version(st), (long long)cfg->window_ms / 1000,
            (long long)cfg->grace_ms / 1000);

    int sig = 0;
    sigwait(&sigs, &sig);
    log_msg(LOG_NOTICE | LOG_BARE, "main", "%s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    http_stop(srv);
    retention_stop(rt);
    analyzer_stop(an);
    notifier_stop(nt);
    writer_stats ws;
    writer_get_stats(wr, &ws);
    writer_stop(wr);
    store_close(st);
    log_msg(LOG_NOTICE | LOG_BARE, "main", "stopped after %llu entries in %llu batches", (unsigned long long)ws.entries,
            (unsigned long long)ws.batches);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("anomalog %s\n", ANOMALOG_VERSION);
        return 0;
    }
    static config cfg;
    char err[1024];
    /* --dry-run (serve) takes no value, so it is taken out before the settings' flags are read */
    int dry_run = 0, k = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0 && strcmp(cmd, "serve") == 0)
            dry_run = 1;
        else
            argv[k++] = argv[i];
    }
    argc = k;
    argv[argc] = NULL;
    int n = argc - 1;
    if (config_load(&cfg, &n, argv + 1, err, sizeof err)) {
        fprintf(stderr, "anomalog: %s\n", err);
        return 2;
    }
    log_init(cfg.log_json, cfg.log_level);
    if (strcmp(cmd, "templates") == 0) /* config_load left the other arguments in argv[1..n] */
        return templates_main(n, argv + 1);
    if (strcmp(cmd, "model") == 0)
        return model_main(&cfg, n, argv + 1);
    if (strcmp(cmd, "eval") == 0)
        return eval_main(&cfg, n, argv + 1);
    if (strcmp(cmd, "replay") == 0 || strcmp(cmd, "digest") == 0) {
        /* replay FILE [--service NAME]; the other flags were taken by config_load */
        const char *file = NULL, *service = NULL;
        for (int i = 1; i < n; i++) {
            const char *arg = argv[1 + i];
            if (strcmp(arg, "--service") == 0 && i + 1 < n)
                service = argv[1 + ++i];
            else if (strncmp(arg, "--service=", 10) == 0)
                service = arg + 10;
            else if (!file && arg[0] != '-')
                file = arg;
            else {
                fprintf(stderr, "anomalog: %s: unknown argument \"%s\"\n", cmd, arg);
                return 2;
            }
        }
        if (!file) {
            fprintf(stderr, "anomalog: %s: which file? (anomalog %s FILE [--service NAME])\n", cmd, cmd);
            return 2;
        }
        llm_global_init();
        int rc = cmd_replay(&cfg, file, service, strcmp(cmd, "digest") == 0);
        config_free(&cfg);
        return rc;
    }
    if (n > 1) {
        fprintf(stderr, "anomalog: %s: unknown argument \"%s\"\n", cmd, argv[2]);
        return 2;
    }
    if (strcmp(cmd, "serve") == 0) {
        cfg.routing.enabled = 1; /* replay and digest never notify */
        cfg.routing.dry_run = dry_run;
        llm_global_init();
        int rc = cmd_serve(&cfg);
        config_free(&cfg);
        return rc;
    }
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(&cfg);
    if (strcmp(cmd, "healthcheck") == 0) {
        if (http_healthcheck(cfg.listen, err, sizeof err)) {
            fprintf(stderr, "anomalog: not ready: %s\n", err);
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "anomalog: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}
