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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/config.h"
#include "anomalog/http.h"
#include "anomalog/store.h"
#include "anomalog/writer.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: anomalog COMMAND [FLAGS]\n\n"
            "commands:\n"
            "  serve        run the service\n"
            "  migrate      apply database migrations and exit\n"
            "  healthcheck  exit 0 when the service on --listen is ready (for container health checks)\n"
            "  version      print the version\n\n"
            "flags (each overrides its environment variable, which overrides the config file):\n%s",
            config_flags_help());
}

static int cmd_migrate(const config *cfg)
{
    char err[512];
    store *st;
    if (store_open(cfg->db, STORE_DURABLE_NORMAL, &st, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "anomalog: %s\n", err);
        return 1;
    }
    printf("%s: schema version %d\n", cfg->db, store_schema_version(st));
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
    store *st;
    if (store_open(cfg->db, cfg->durability_full ? STORE_DURABLE_FULL : STORE_DURABLE_NORMAL, &st, err,
                   sizeof err) != STORE_OK) {
        fprintf(stderr, "anomalog: %s\n", err);
        return 1;
    }
    writer_opts wo = {
        .queue_depth = cfg->queue_depth,
        .max_txn_entries = cfg->max_txn_entries,
        .window_ms = cfg->window_ms,
    };
    writer *wr = writer_start(st, &wo, err, sizeof err);
    if (!wr) {
        fprintf(stderr, "anomalog: %s\n", err);
        store_close(st);
        return 1;
    }
    app a = {.cfg = cfg, .st = st, .wr = wr};
    int port;
    http_server *srv = http_start(&a, &port, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "anomalog: %s\n", err);
        writer_stop(wr);
        store_close(st);
        return 1;
    }
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(strrchr(cfg->listen, ':') - cfg->listen), cfg->listen);
    fprintf(stderr, "anomalog %s: listening on %s:%d (db %s, schema %d, window %llds, grace %llds)\n",
            ANOMALOG_VERSION, host, port, cfg->db, store_schema_version(st), (long long)cfg->window_ms / 1000,
            (long long)cfg->grace_ms / 1000);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "anomalog: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    http_stop(srv);
    writer_stats ws;
    writer_get_stats(wr, &ws);
    writer_stop(wr);
    store_close(st);
    fprintf(stderr, "anomalog: stopped after %llu entries in %llu batches\n", (unsigned long long)ws.entries,
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
    int n = argc - 1;
    if (config_load(&cfg, &n, argv + 1, err, sizeof err)) {
        fprintf(stderr, "anomalog: %s\n", err);
        return 2;
    }
    if (n > 1) {
        fprintf(stderr, "anomalog: %s: unknown argument \"%s\"\n", cmd, argv[2]);
        return 2;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&cfg);
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
