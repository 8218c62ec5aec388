/*
 * config.c — settings from defaults, a YAML file, the environment and flags.
 *
 * Threads: called once by main before any thread starts; the config struct
 * is read-only afterwards.
 *
 * One table lists every setting with its name in each source, its kind and
 * its bounds; the file reader, the environment reader and the flag parser all
 * go through set_value(), so a setting parses the same way wherever it comes
 * from and every error names where the bad value was found.
 *
 * The file is YAML, read with libyaml into a document; nested mappings
 * flatten to dotted keys (`limits.max_body`). An unknown key is an error, so
 * a typo is never a silently ignored setting. The sections that are lists or
 * maps of their own are read beside this file: routing (routes.c), auth.tokens
 * (tokens.c), services (services.c).
 *
 * Room: src/config/ sits beside main.c, above every module whose settings it
 * fills: the modules below read the finished struct and never parse.
 */
#include "config/config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "anomalog/timeutil.h"
#include "anomalog/tzone.h"

typedef enum kind {
    K_LISTEN, K_PATH, K_DURATION, K_SIZE, K_COUNT, K_TZ, K_TEXT,
    /* one of a few words (choices[] below) */
    K_TEXTFMT, K_DURABILITY, K_FORMAT, K_BOOL, K_FALLBACK, K_ROUTE_MODE, K_LOGFMT, K_LOGLEVEL
} kind;

/* The words of a kind whose value is one of a few, each standing for a number in an int field. */
typedef struct choice {
    const char *what;     /* in the error: invalid <what> "<value>" (expected <expected>) */
    const char *expected;
    struct {
        const char *word;
        int value;
    } words[9];           /* the rest zero: a NULL word ends the list */
} choice;

static const choice choices[] = {
    [K_BOOL] = {"switch", "true or false",
                {{"true", 1}, {"on", 1}, {"yes", 1}, {"1", 1}, {"false", 0}, {"off", 0}, {"no", 0}, {"0", 0}}},
    [K_DURABILITY] = {"durability", "normal or full", {{"normal", 0}, {"full", 1}}},
    [K_FORMAT] = {"response format", "json_schema, json_object or none",
                  {{"json_schema", 0}, {"json_object", 1}, {"none", 2}}},
    [K_TEXTFMT] = {"text format", "plain or syslog", {{"plain", 0}, {"syslog", 1}}},
    [K_LOGFMT] = {"log format", "text or json", {{"text", 0}, {"json", 1}}},
    [K_LOGLEVEL] = {"log level", "debug, info, warn or error", /* LOG_DEBUG … LOG_ERROR */
                    {{"debug", 0}, {"info", 1}, {"warn", 2}, {"error", 3}}},
    [K_FALLBACK] = {"choice", "baseline or retry", {{"baseline", 1}, {"retry", 0}}},
    [K_ROUTE_MODE] = {"route mode", "first or all", {{"all", 1}, {"first", 0}}},
};

typedef struct setting {
    const char *key;   /* in the file */
    const char *env;
    const char *flag;
    kind kind;
    size_t off;
    uint64_t min, max; /* K_SIZE, K_COUNT, K_DURATION (ms) */
} setting;

#define OFF(f) offsetof(config, f)
static const setting settings[] = {
    {"listen", "ANOMALOG_LISTEN", "--listen", K_LISTEN, OFF(listen), 0, 0},
    {"db", "ANOMALOG_DB", "--db", K_PATH, OFF(db), 0, 0},
    {"window", "ANOMALOG_WINDOW", "--window", K_DURATION, OFF(window_ms), 1000, 7ULL * 86400 * 1000},
    {"grace", "ANOMALOG_GRACE", "--grace", K_DURATION, OFF(grace_ms), 1, 86400ULL * 1000},
    {"timezone", "ANOMALOG_TIMEZONE", "--timezone", K_TZ, OFF(tz_offset_s), 0, 0},
    {"durability", "ANOMALOG_DURABILITY", "--durability", K_DURABILITY, OFF(durability_full), 0, 0},
    {"limits.max_body", "ANOMALOG_LIMITS_MAX_BODY", "--limits-max-body", K_SIZE, OFF(max_body), 64, 1ULL << 30},
    {"limits.max_line", "ANOMALOG_LIMITS_MAX_LINE", "--limits-max-line", K_SIZE, OFF(max_line), 16, 16ULL << 20},
    {"limits.max_entries", "ANOMALOG_LIMITS_MAX_ENTRIES", "--limits-max-entries", K_COUNT, OFF(max_entries), 1, 10000000},
    {"limits.queue_depth", "ANOMALOG_LIMITS_QUEUE_DEPTH", "--limits-queue-depth", K_COUNT, OFF(queue_depth), 1, 65536},
    {"limits.max_txn_entries", "ANOMALOG_LIMITS_MAX_TXN_ENTRIES", "--limits-max-txn-entries", K_COUNT, OFF(max_txn_entries), 1,
     10000000},
    {"limits.max_connections", "ANOMALOG_LIMITS_MAX_CONNECTIONS", "--limits-max-connections", K_COUNT, OFF(max_connections), 1,
     65536},
    {"limits.max_connections_per_ip", "ANOMALOG_LIMITS_MAX_CONNECTIONS_PER_IP", "--limits-max-connections-per-ip", K_COUNT,
     OFF(max_connections_per_ip), 0, 65536},
    {"limits.connection_timeout", "ANOMALOG_LIMITS_CONNECTION_TIMEOUT", "--limits-connection-timeout", K_DURATION,
     OFF(connection_timeout_ms), 1000, 3600ULL * 1000},
    {"limits.header_timeout", "ANOMALOG_LIMITS_HEADER_TIMEOUT", "--limits-header-timeout", K_DURATION, OFF(header_timeout_ms),
     1000, 3600ULL * 1000},
    {"limits.request_timeout", "ANOMALOG_LIMITS_REQUEST_TIMEOUT", "--limits-request-timeout", K_DURATION, OFF(request_timeout_ms),
     1000, 3600ULL * 1000},
    {"llm.url", "ANOMALOG_LLM_URL", "--llm-url", K_TEXT, OFF(llm_url), 0, sizeof(((config *)0)->llm_url)},
    {"llm.model", "ANOMALOG_LLM_MODEL", "--llm-model", K_TEXT, OFF(llm_model), 1, sizeof(((config *)0)->llm_model)},
    {"loki.service_labels", "ANOMALOG_LOKI_SERVICE_LABELS", "--loki-service-labels", K_TEXT, OFF(loki_service_labels),
     1, sizeof(((config *)0)->loki_service_labels)},
    {"auth.ingest_token", "ANOMALOG_AUTH_INGEST_TOKEN", NULL, K_TEXT, OFF(ingest_token), 0,
     sizeof(((config *)0)->ingest_token)},
    {"auth.read_token", "ANOMALOG_AUTH_READ_TOKEN", NULL, K_TEXT, OFF(read_token), 0, sizeof(((config *)0)->read_token)},
    {"auth.write_token", "ANOMALOG_AUTH_WRITE_TOKEN", NULL, K_TEXT, OFF(write_token), 0,
     sizeof(((config *)0)->write_token)},
    {"llm.api_key", "ANOMALOG_LLM_API_KEY", NULL, K_TEXT, OFF(llm_api_key), 0, sizeof(((config *)0)->llm_api_key)},
    {"llm.timeout", "ANOMALOG_LLM_TIMEOUT", "--llm-timeout", K_DURATION, OFF(llm_timeout_ms), 100, 3600ULL * 1000},
    {"llm.retries", "ANOMALOG_LLM_RETRIES", "--llm-retries", K_COUNT, OFF(llm_retries), 0, 20},
    {"llm.response_format", "ANOMALOG_LLM_RESPONSE_FORMAT", "--llm-response-format", K_FORMAT, OFF(llm_format), 0, 0},
    {"llm.context_tokens", "ANOMALOG_LLM_CONTEXT_TOKENS", "--llm-context-tokens", K_COUNT, OFF(llm_context_tokens), 0,
     10000000},
    {"llm.max_tokens", "ANOMALOG_LLM_MAX_TOKENS", "--llm-max-tokens", K_COUNT, OFF(llm_max_tokens), 64, 1000000},
    {"analysis.workers", "ANOMALOG_ANALYSIS_WORKERS", "--analysis-workers", K_COUNT, OFF(workers), 1, 64},
    {"llm.breaker_failures", "ANOMALOG_LLM_BREAKER_FAILURES", "--llm-breaker-failures", K_COUNT, OFF(breaker_failures),
     1, 1000},
    {"llm.breaker_cooldown", "ANOMALOG_LLM_BREAKER_COOLDOWN", "--llm-breaker-cooldown", K_DURATION,
     OFF(breaker_cooldown_ms), 1000, 86400ULL * 1000},
    {"analysis.max_lines", "ANOMALOG_ANALYSIS_MAX_LINES", "--analysis-max-lines", K_COUNT, OFF(max_lines), 1, 100000000},
    {"analysis.max_services_in_memory", "ANOMALOG_ANALYSIS_MAX_SERVICES_IN_MEMORY", "--analysis-max-services-in-memory", K_COUNT,
     OFF(max_services_in_memory), 1, 100000000},
    {"analysis.max_prompt_bytes", "ANOMALOG_ANALYSIS_MAX_PROMPT_BYTES", "--analysis-max-prompt-bytes", K_SIZE, OFF(max_prompt_bytes),
     1024, 64ULL << 20},
    {"analysis.schema_retries", "ANOMALOG_ANALYSIS_SCHEMA_RETRIES", "--analysis-schema-retries", K_COUNT, OFF(schema_retries), 0, 10},
    {"analysis.retry_base", "ANOMALOG_ANALYSIS_RETRY_BASE", "--analysis-retry-base", K_DURATION, OFF(retry_base_ms), 100,
     86400ULL * 1000},
    {"analysis.retry_max", "ANOMALOG_ANALYSIS_RETRY_MAX", "--analysis-retry-max", K_DURATION, OFF(retry_max_ms), 100, 7ULL * 86400 * 1000},
    {"analysis.lease", "ANOMALOG_ANALYSIS_LEASE", "--analysis-lease", K_DURATION, OFF(lease_ms), 1000, 86400ULL * 1000},
    {"analysis.skip_quiet_windows", "ANOMALOG_ANALYSIS_SKIP_QUIET_WINDOWS", "--analysis-skip-quiet-windows", K_BOOL, OFF(skip_quiet), 0, 0},
    {"ingest.idempotency_ttl", "ANOMALOG_INGEST_IDEMPOTENCY_TTL", "--ingest-idempotency-ttl", K_DURATION, OFF(idempotency_ttl_ms),
     1000, 30ULL * 86400 * 1000},
    {"ingest.max_future", "ANOMALOG_INGEST_MAX_FUTURE", "--ingest-max-future", K_DURATION, OFF(max_future_ms), 1000,
     30ULL * 86400 * 1000},
    {"ingest.text_format", "ANOMALOG_INGEST_TEXT_FORMAT", "--ingest-text-format", K_TEXTFMT, OFF(text_syslog), 0, 0},
    {"log.format", "ANOMALOG_LOG_FORMAT", "--log-format", K_LOGFMT, OFF(log_json), 0, 0},
    {"log.level", "ANOMALOG_LOG_LEVEL", "--log-level", K_LOGLEVEL, OFF(log_level), 0, 0},
    {"analysis.reanalyze", "ANOMALOG_ANALYSIS_REANALYZE", "--analysis-reanalyze", K_BOOL, OFF(reanalyze), 0, 0},
    {"analysis.on_model_failure", "ANOMALOG_ANALYSIS_ON_MODEL_FAILURE", "--analysis-on-model-failure", K_FALLBACK, OFF(fallback_baseline),
     0, 0},
    {"digest.exemplars", "ANOMALOG_DIGEST_EXEMPLARS", "--digest-exemplars", K_COUNT, OFF(exemplars), 1, 8},
    {"digest.token_budget", "ANOMALOG_DIGEST_TOKEN_BUDGET", "--digest-token-budget", K_COUNT, OFF(token_budget), 200, 1000000},
    {"digest.history_windows", "ANOMALOG_DIGEST_HISTORY_WINDOWS", "--digest-history-windows", K_COUNT, OFF(history_windows), 1, 10000},
    {"digest.max_window_templates", "ANOMALOG_DIGEST_MAX_WINDOW_TEMPLATES", "--digest-max-window-templates", K_COUNT,
     OFF(max_window_templates), 10, 10000000},
    {"digest.max_templates", "ANOMALOG_DIGEST_MAX_TEMPLATES", "--digest-max-templates", K_COUNT, OFF(max_templates), 10, 10000000},
    {"redaction.ip_addresses", "ANOMALOG_REDACTION_IP_ADDRESSES", "--redaction-ip-addresses", K_BOOL, OFF(redact_ips), 0, 0},
    {"suppress", "ANOMALOG_SUPPRESS", "--suppress", K_DURATION, OFF(routing.suppress_ms), 0, 7ULL * 86400 * 1000},
    {"route_mode", "ANOMALOG_ROUTE_MODE", NULL, K_ROUTE_MODE, OFF(routing.match_all), 0, 0},
    {"public_url", "ANOMALOG_PUBLIC_URL", "--public-url", K_TEXT, OFF(routing.public_url), 1,
     sizeof(((config *)0)->routing.public_url)},
    {"notify.retry_base", "ANOMALOG_NOTIFY_RETRY_BASE", "--notify-retry-base", K_DURATION, OFF(notify_retry_base_ms),
     10, 3600ULL * 1000},
    {"notify.retry_max", "ANOMALOG_NOTIFY_RETRY_MAX", "--notify-retry-max", K_DURATION, OFF(notify_retry_max_ms), 10,
     86400ULL * 1000},
    {"notify.give_up", "ANOMALOG_NOTIFY_GIVE_UP", "--notify-give-up", K_DURATION, OFF(notify_give_up_ms), 1000,
     30ULL * 86400 * 1000},
    {"retention.lines", "ANOMALOG_RETENTION_LINES", "--retention-lines", K_DURATION, OFF(retention_lines_ms), 0,
     36500ULL * 86400 * 1000},
    {"retention.windows", "ANOMALOG_RETENTION_WINDOWS", "--retention-windows", K_DURATION, OFF(retention_windows_ms), 0,
     36500ULL * 86400 * 1000},
    {"retention.batch", "ANOMALOG_RETENTION_BATCH", "--retention-batch", K_COUNT, OFF(retention_batch), 100, 100000},
    {"notify.timeout", "ANOMALOG_NOTIFY_TIMEOUT", "--notify-timeout", K_DURATION, OFF(notify_timeout_ms), 100,
     600ULL * 1000},
    {"notify.senders", "ANOMALOG_NOTIFY_SENDERS", "--notify-senders", K_COUNT, OFF(notify_senders), 1, NOTIFY_MAX_SENDERS},
    {"incident.enabled", "ANOMALOG_INCIDENT_ENABLED", "--incident-enabled", K_BOOL, OFF(incidents.enabled), 0, 0},
    {"incident.gap", "ANOMALOG_INCIDENT_GAP", "--incident-gap", K_DURATION, OFF(incidents.gap_ms), 0, 86400ULL * 1000},
    {"incident.quiet", "ANOMALOG_INCIDENT_QUIET", "--incident-quiet", K_DURATION, OFF(incidents.quiet_ms), 1000,
     7ULL * 86400 * 1000},
    {"incident.group_wait", "ANOMALOG_INCIDENT_GROUP_WAIT", "--incident-group-wait", K_DURATION,
     OFF(incidents.group_wait_ms), 0, 3600ULL * 1000},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

/*
 * The naming rule: file key `a.b_c` is variable ANOMALOG_A_B_C and flag
 * --a-b-c (secrets have no flag: a flag shows in `ps`). Names from before the
 * rule still work, each with a warning naming its new name.
 */
static const struct config_alias {
    const char *env;  /* the old variable */
    const char *flag; /* the old flag, or NULL */
    const char *key;
} aliases[] = {
    {"ANOMALOG_MAX_BODY", "--max-body", "limits.max_body"},
    {"ANOMALOG_MAX_LINE", "--max-line", "limits.max_line"},
    {"ANOMALOG_MAX_ENTRIES", "--max-entries", "limits.max_entries"},
    {"ANOMALOG_QUEUE_DEPTH", "--queue-depth", "limits.queue_depth"},
    {"ANOMALOG_MAX_TXN_ENTRIES", "--max-txn-entries", "limits.max_txn_entries"},
    {"ANOMALOG_MAX_CONNECTIONS", "--max-connections", "limits.max_connections"},
    {"ANOMALOG_MAX_CONNECTIONS_PER_IP", "--max-connections-per-ip", "limits.max_connections_per_ip"},
    {"ANOMALOG_CONNECTION_TIMEOUT", "--connection-timeout", "limits.connection_timeout"},
    {"ANOMALOG_REQUEST_TIMEOUT", "--request-timeout", "limits.request_timeout"},
    {"ANOMALOG_HEADER_TIMEOUT", "--header-timeout", "limits.header_timeout"},
    {"ANOMALOG_INGEST_TOKEN", NULL, "auth.ingest_token"},
    {"ANOMALOG_READ_TOKEN", NULL, "auth.read_token"},
    {"ANOMALOG_WORKERS", "--workers", "analysis.workers"},
    {"ANOMALOG_MAX_LINES", "--max-lines", "analysis.max_lines"},
    {"ANOMALOG_MAX_PROMPT_BYTES", "--max-prompt-bytes", "analysis.max_prompt_bytes"},
    {"ANOMALOG_SCHEMA_RETRIES", "--schema-retries", "analysis.schema_retries"},
    {"ANOMALOG_RETRY_BASE", "--retry-base", "analysis.retry_base"},
    {"ANOMALOG_RETRY_MAX", "--retry-max", "analysis.retry_max"},
    {"ANOMALOG_LEASE", "--lease", "analysis.lease"},
    {"ANOMALOG_SKIP_QUIET_WINDOWS", "--skip-quiet-windows", "analysis.skip_quiet_windows"},
    {"ANOMALOG_IDEMPOTENCY_TTL", "--idempotency-ttl", "ingest.idempotency_ttl"},
    {"ANOMALOG_TEXT_FORMAT", "--text-format", "ingest.text_format"},
    {"ANOMALOG_REANALYZE", "--reanalyze", "analysis.reanalyze"},
    {"ANOMALOG_ON_MODEL_FAILURE", "--on-model-failure", "analysis.on_model_failure"},
    {"ANOMALOG_EXEMPLARS", "--exemplars", "digest.exemplars"},
    {"ANOMALOG_TOKEN_BUDGET", "--token-budget", "digest.token_budget"},
    {"ANOMALOG_HISTORY_WINDOWS", "--history-windows", "digest.history_windows"},
    {"ANOMALOG_MAX_TEMPLATES", "--max-templates", "digest.max_templates"},
    {"ANOMALOG_REDACT_IPS", "--redact-ips", "redaction.ip_addresses"},
    {"ANOMALOG_MAX_FUTURE", "--max-future", "ingest.max_future"},
    {"ANOMALOG_WRITE_TOKEN", NULL, "auth.write_token"},
    {"ANOMALOG_MAX_SERVICES_IN_MEMORY", "--max-services-in-memory", "analysis.max_services_in_memory"},
    {"ANOMALOG_MAX_WINDOW_TEMPLATES", "--max-window-templates", "digest.max_window_templates"},
};
#define NALIASES (sizeof aliases / sizeof aliases[0])

/* What --help says of each setting: the value's form, what it does, its default. */
static const struct config_help {
    const char *key, *arg, *text, *dflt;
} helps[] = {
    {"listen", "HOST:PORT", "address to serve", "127.0.0.1:8080"},
    {"db", "FILE|URI", "SQLite file, or postgresql://…", "./anomalog.db"},
    {"window", "DURATION", "window length", "5m"},
    {"grace", "DURATION", "lateness allowed", "30s"},
    {"timezone", "ZONE", "zone of timestamps without one", "UTC"},
    {"durability", "normal|full", "full fsyncs every commit", "normal"},
    {"limits.max_body", "SIZE", "request body limit, also after gunzip", "16MiB"},
    {"limits.max_line", "SIZE", "longest message kept", "64KiB"},
    {"limits.max_entries", "N", "entries per batch", "100000"},
    {"limits.queue_depth", "N", "batches waiting for the writer", "4096"},
    {"limits.max_txn_entries", "N", "entries per group commit", "50000"},
    {"limits.max_connections", "N", "concurrent connections", "512"},
    {"limits.max_connections_per_ip", "N", "concurrent connections from one address, 0: no limit", "64"},
    {"limits.connection_timeout", "DUR", "idle/slow connection timeout", "30s"},
    {"limits.header_timeout", "DUR", "time to receive a request's headers, however they trickle", "10s"},
    {"limits.request_timeout", "DUR", "time to receive a request body, however it trickles", "120s"},
    {"llm.url", "URL", "OpenAI-compatible base URL, or none", "http://localhost:11434/v1"},
    {"llm.model", "NAME", "model name", "llama3.2"},
    {"loki.service_labels", "L", "Loki labels naming the service, first wins", "service_name,service,app,job"},
    {"auth.ingest_token", "TOKEN", "bearer token for the ingest endpoints (environment or file only)", "none: open"},
    {"auth.read_token", "TOKEN", "bearer token for the read endpoints (environment or file only)", "none: open"},
    {"auth.write_token", "TOKEN", "bearer token for what changes state, reads too (environment or file only)",
     "none: open"},
    {"llm.api_key", "KEY", "bearer token for the model API (environment or file only)", "none"},
    {"llm.context_tokens", "N", "the model's context in tokens; 0: ask the server", "0"},
    {"llm.max_tokens", "N", "tokens kept for the answer", "1024"},
    {"llm.timeout", "DURATION", "one model call", "120s"},
    {"llm.retries", "N", "retries on timeout, 429, 5xx", "3"},
    {"llm.response_format", "F", "json_schema, json_object or none", "json_schema"},
    {"analysis.workers", "N", "analysis threads", "2"},
    {"analysis.max_lines", "N", "window lines read for its digest", "1000000"},
    {"analysis.max_prompt_bytes", "SIZE", "prompt size cap", "256KiB"},
    {"analysis.schema_retries", "N", "model calls again on an invalid answer", "2"},
    {"analysis.retry_base", "DURATION", "first wait before a failed window is retried", "30s"},
    {"analysis.retry_max", "DURATION", "longest such wait", "1h"},
    {"analysis.lease", "DURATION", "PostgreSQL: a replica's hold on a window it analyses", "15m"},
    {"analysis.skip_quiet_windows", "B", "no model call for windows with nothing new", "true"},
    {"ingest.idempotency_ttl", "DUR", "how long an ingest Idempotency-Key is kept", "24h"},
    {"ingest.text_format", "F", "plain or syslog: how text/plain bodies on /ingest are read", "plain"},
    {"log.format", "F", "text or json, one object per stderr line", "text"},
    {"log.level", "L", "debug, info, warn or error", "info"},
    {"analysis.reanalyze", "B", "model reads baseline-covered windows once it answers", "false"},
    {"analysis.on_model_failure", "M", "baseline (its findings stand) or retry", "baseline"},
    {"digest.exemplars", "N", "exemplar lines per notable template", "3"},
    {"digest.token_budget", "N", "estimated tokens of a digest", "3000"},
    {"digest.history_windows", "N", "windows of history in a digest", "12"},
    {"digest.max_templates", "N", "templates kept per service", "5000"},
    {"redaction.ip_addresses", "B", "also redact IP addresses", "false"},
    {"suppress", "DURATION", "no repeat of a (service, type) notification within", "20m"},
    {"route_mode", "first|all", "notify the first matching route or all of them (environment or file only)", "all"},
    {"public_url", "URL", "base of links in notifications", "http://LISTEN"},
    {"notify.retry_base", "DUR", "first wait before a delivery is retried", "5s"},
    {"notify.retry_max", "DUR", "longest such wait", "5m"},
    {"notify.give_up", "DUR", "undelivered after this long: failed", "24h"},
    {"retention.lines", "DUR", "raw lines kept after their window ends; 0 forever", "7d"},
    {"retention.windows", "DUR", "windows, anomalies, notifications kept; 0 forever", "90d"},
    {"retention.batch", "N", "rows deleted per retention transaction", "2000"},
    {"notify.timeout", "DUR", "one delivery attempt", "10s"},
    {"notify.senders", "N", "notifications delivered at once", "4"},
    {"incident.enabled", "B", "join findings of several services into incidents", "true"},
    {"incident.gap", "DUR", "findings whose anomalous lines are further apart never join one incident", "5m"},
    {"incident.quiet", "DUR", "an incident with no new member this long (event or wall-clock time) is resolved", "15m"},
    {"incident.group_wait", "DUR", "an incident's first notification to a destination is held this long after it opened, so a cascade analysed out of order pages once; 0 sends at once", "30s"},
    {"ingest.max_future", "DUR", "an event time further ahead than this of its receive time is stored at the receive time, as one before 2000 is", "10m"},
    {"analysis.max_services_in_memory", "N", "services whose template miner stays in memory, least recently used evicted and reloaded", "1000"},
    {"llm.breaker_failures", "N", "consecutive failed model calls after which windows go to the baseline", "3"},
    {"llm.breaker_cooldown", "DUR", "how long before one probe call asks the model again", "60s"},
    {"digest.max_window_templates", "N", "distinct templates of a window listed one by one; the rest are one \"rare, unclustered\" group", "2000"},
};

static int listen_parse(config *c, const char *v);

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    listen_parse(c, "127.0.0.1:8080");
    snprintf(c->db, sizeof c->db, "./anomalog.db");
    snprintf(c->loki_service_labels, sizeof c->loki_service_labels, "service_name,service,app,job");
    c->window_ms = 5 * 60 * 1000;
    c->grace_ms = 30 * 1000;
    c->max_body = 16u << 20;
    c->max_line = 64u << 10;
    c->max_entries = 100000;
    c->queue_depth = 4096;
    c->max_txn_entries = 50000;
    c->max_connections = 512;
    c->max_connections_per_ip = 64;
    c->connection_timeout_ms = 30 * 1000;
    c->header_timeout_ms = 10 * 1000;
    c->request_timeout_ms = 120 * 1000;
    c->idempotency_ttl_ms = 24LL * 3600 * 1000;
    c->max_future_ms = 10LL * 60 * 1000;
    snprintf(c->llm_url, sizeof c->llm_url, "http://localhost:11434/v1");
    snprintf(c->llm_model, sizeof c->llm_model, "llama3.2");
    c->llm_timeout_ms = 120 * 1000;
    c->llm_retries = 3;
    c->llm_format = 0; /* json_schema */
    c->llm_max_tokens = 1024;
    c->workers = 2;
    c->breaker_failures = 3;
    c->breaker_cooldown_ms = 60 * 1000;
    c->max_lines = 1000000;
    c->max_prompt_bytes = 256u << 10;
    c->schema_retries = 2;
    c->retry_base_ms = 30 * 1000;
    c->retry_max_ms = 3600 * 1000;
    c->lease_ms = 15 * 60 * 1000;
    c->skip_quiet = 1;
    c->fallback_baseline = 1;
    c->log_json = 0;
    c->log_level = 1; /* LOG_INFO */
    c->exemplars = 3;
    c->token_budget = 3000;
    c->history_windows = 12;
    c->max_templates = 5000;
    c->max_services_in_memory = 1000;
    c->max_window_templates = 2000;
    c->routing.suppress_ms = 20 * 60 * 1000;
    c->incidents = (incident_config){.enabled = 1, .gap_ms = INCIDENT_GAP_DEFAULT_MS,
                                     .quiet_ms = INCIDENT_QUIET_DEFAULT_MS,
                                     .group_wait_ms = INCIDENT_GROUP_WAIT_DEFAULT_MS};
    c->routing.match_all = 1;
    c->notify_retry_base_ms = 5 * 1000;
    c->notify_retry_max_ms = 5 * 60 * 1000;
    c->notify_give_up_ms = 24LL * 3600 * 1000;
    c->notify_timeout_ms = 10 * 1000;
    c->notify_senders = 4;
    c->retention_lines_ms = 7LL * 86400 * 1000;
    c->retention_windows_ms = 90LL * 86400 * 1000;
    c->retention_batch = 2000;
}

void config_free(config *c)
{
    for (size_t i = 0; i < c->n_contexts; i++) {
        free(c->contexts[i].name);
        free(c->contexts[i].context);
    }
    for (size_t i = 0; i < c->n_tokens; i++) {
        free(c->tokens[i].token);
        free(c->tokens[i].service);
    }
    for (size_t i = 0; i < c->n_redact_patterns; i++)
        free(c->redact_patterns[i]);
    free(c->contexts);
    free(c->tokens);
    free(c->redact_patterns);
    route_config_free(&c->routing);
    /* forgotten, so that a second config_free does nothing */
    c->contexts = NULL;
    c->tokens = NULL;
    c->redact_patterns = NULL;
    c->n_contexts = c->n_tokens = c->n_redact_patterns = 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Splits host:port or [v6]:port into c's listen fields: the one place the address is parsed. */
static int listen_parse(config *c, const char *v)
{
    const char *colon = strrchr(v, ':');
    uint64_t port;
    if (!colon || colon == v || strlen(v) >= sizeof c->listen || parse_u64(colon + 1, &port) || port > 65535)
        return -1;
    const char *host = v;
    size_t hl = (size_t)(colon - v);
    if (v[0] == '[') { /* [::1]:8080 */
        if (colon[-1] != ']')
            return -1;
        host++;
        hl -= 2;
    } else if (memchr(v, ':', hl)) {
        return -1;
    }
    snprintf(c->listen, sizeof c->listen, "%s", v);
    snprintf(c->listen_host, sizeof c->listen_host, "%.*s", (int)hl, host);
    snprintf(c->listen_port, sizeof c->listen_port, "%u", (unsigned)port);
    return 0;
}

/* Sets one setting from text; `where` names the source for the error. */
static int set_value(config *c, const setting *st, const char *v, const char *where, char *err, size_t errlen)
{
    char *field = (char *)c + st->off;
    switch (st->kind) {
    case K_LISTEN:
        if (listen_parse(c, v)) {
            snprintf(err, errlen, "%s: invalid address \"%s\" (expected host:port, e.g. 127.0.0.1:8080)", where, v);
            return -1;
        }
        return 0;
    case K_PATH:
        if (!*v || strlen(v) >= sizeof c->db) {
            snprintf(err, errlen, "%s: invalid path \"%s\"", where, v);
            return -1;
        }
        snprintf(field, sizeof c->db, "%s", v);
        c->db_set = 1;
        return 0;
    case K_DURATION: {
        int64_t ms;
        if (*v && strspn(v, "0123456789") == strlen(v) && strspn(v, "0") != strlen(v)) {
            snprintf(err, errlen, "%s: duration \"%s\" has no unit (write %ss, %sm, %sh or %sms)", where, v, v, v, v, v);
            return -1;
        }
        if (config_duration0(v, &ms) || (uint64_t)ms < st->min || (uint64_t)ms > st->max) {
            snprintf(err, errlen,
                     "%s: invalid duration \"%s\" (expected e.g. 5m, 300s, 1h; between %llu ms and %llu ms)", where,
                     v, (unsigned long long)st->min, (unsigned long long)st->max);
            return -1;
        }
        *(int64_t *)field = ms;
        return 0;
    }
    case K_SIZE:
    case K_COUNT: {
        uint64_t n;
        int bad = st->kind == K_SIZE ? size_parse(v, &n) : parse_u64(v, &n);
        if (bad || n < st->min || n > st->max) {
            snprintf(err, errlen, "%s: invalid %s \"%s\" (expected %s between %llu and %llu)", where,
                     st->kind == K_SIZE ? "size" : "number", v,
                     st->kind == K_SIZE ? "a byte size such as 16MiB," : "an integer", (unsigned long long)st->min,
                     (unsigned long long)st->max);
            return -1;
        }
        *(uint64_t *)field = n;
        return 0;
    }
    case K_TZ:
        if (tz_offset_parse(v, (int *)field) == 0)
            return 0;
        if (strchr(v, '/')) { /* an IANA name: Europe/Berlin; offsets that follow its daylight saving time */
            char why[700];
            if (tzone_load(v, why, sizeof why)) {
                snprintf(err, errlen, "%s: %s", where, why);
                return -1;
            }
            *(int *)field = TZONE_NAMED;
            return 0;
        }
        snprintf(err, errlen,
                 "%s: invalid zone \"%s\" (expected UTC, an offset such as +02:00, or a tz database name such as "
                 "Europe/Berlin)", where, v);
        return -1;
    case K_TEXT:
        if (strlen(v) < st->min || strlen(v) >= st->max) {
            snprintf(err, errlen, "%s: %s (at most %llu bytes)", where, strlen(v) < st->min ? "must not be empty" : "too long",
                     (unsigned long long)st->max - 1);
            return -1;
        }
        snprintf(field, st->max, "%s", v);
        return 0;
    case K_TEXTFMT:
    case K_DURABILITY:
    case K_FORMAT:
    case K_BOOL:
    case K_FALLBACK:
    case K_ROUTE_MODE:
    case K_LOGFMT:
    case K_LOGLEVEL: {
        const choice *ch = &choices[st->kind];
        for (size_t i = 0; ch->words[i].word; i++)
            if (strcmp(v, ch->words[i].word) == 0) {
                *(int *)field = ch->words[i].value;
                return 0;
            }
        snprintf(err, errlen, "%s: invalid %s \"%s\" (expected %s)", where, ch->what, v, ch->expected);
        return -1;
    }
    }
    return -1;
}

/* ---- YAML file ------------------------------------------------------------ */

/* services: {name: {context: "..."}} */
static int walk(config *c, yaml_document_t *doc, yaml_node_t *node, const char *prefix, const char *file,
                char *err, size_t errlen)
{
    if (node->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "%s: %s%sexpected a mapping (line %lu)", file, prefix, *prefix ? ": " : "",
                 (unsigned long)node->start_mark.line + 1);
        return -1;
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) {
            snprintf(err, errlen, "%s: keys must be plain words", file);
            return -1;
        }
        char key[256];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", (const char *)k->data.scalar.value);
        unsigned long line = (unsigned long)k->start_mark.line + 1;
        if (strcmp(key, "redaction.patterns") == 0) {
            if (config_expect(v, YAML_SEQUENCE_NODE, file, key, "a list of regular expressions", err, errlen))
                return -1;
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                yaml_node_t *pn = yaml_document_get_node(doc, *it);
                char **np = realloc(c->redact_patterns, (c->n_redact_patterns + 1) * sizeof *np);
                if (!pn || pn->type != YAML_SCALAR_NODE || !np) {
                    if (np)
                        c->redact_patterns = np;
                    snprintf(err, errlen, "%s:%lu: redaction.patterns: each item is one regular expression", file,
                             line);
                    return -1;
                }
                c->redact_patterns = np;
                np[c->n_redact_patterns++] = strdup((const char *)pn->data.scalar.value);
            }
            continue;
        }
        if (strcmp(key, "destinations") == 0 || strcmp(key, "routes") == 0 ||
            strcmp(key, "suppress_per_service") == 0 || strcmp(key, "suppress_per_type") == 0) {
            if (config_load_routing(c, doc, key, v, file, err, errlen))
                return -1;
            continue;
        }
        if (strcmp(key, "auth.tokens") == 0) {
            if (config_load_tokens(c, doc, v, file, err, errlen))
                return -1;
            continue;
        }
        if (strcmp(key, "services") == 0) {
            if (config_load_services(c, doc, v, file, err, errlen))
                return -1;
            continue;
        }
        if (v->type == YAML_MAPPING_NODE) {
            if (walk(c, doc, v, key, file, err, errlen))
                return -1;
            continue;
        }
        const setting *st = NULL;
        for (size_t i = 0; i < NSETTINGS && !st; i++)
            if (strcmp(settings[i].key, key) == 0)
                st = &settings[i];
        char where[600];
        snprintf(where, sizeof where, "%s:%lu: %s", file, line, key);
        if (!st) {
            snprintf(err, errlen, "%s: unknown setting", where);
            return -1;
        }
        if (v->type != YAML_SCALAR_NODE) {
            snprintf(err, errlen, "%s: expected a single value", where);
            return -1;
        }
        if (set_value(c, st, (const char *)v->data.scalar.value, where, err, errlen))
            return -1;
    }
    return 0;
}

static int load_file(config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "config file %s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%lu: %s", path, (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "invalid YAML");
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        rc = root ? walk(c, &doc, root, "", path, err, errlen) : 0; /* an empty file sets nothing */
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    if (rc == 0)
        snprintf(c->config_file, sizeof c->config_file, "%s", path);
    return rc;
}

/* ---- all sources ---------------------------------------------------------- */

/* Finds "--flag value" or "--flag=value" at argv[i]; returns the value or NULL. */
static const char *flag_value(char **argv, int argc, int *i, const char *flag, int *missing)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

/* Appends one line to the warnings main logs once logging is set up. */
static void config_warn(config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void config_warn(config *c, const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(c->warnings);
    if (n + 1 < sizeof c->warnings) {
        va_start(ap, fmt);
        vsnprintf(c->warnings + n, sizeof c->warnings - n, fmt, ap);
        va_end(ap);
        n = strlen(c->warnings);
        if (n + 1 < sizeof c->warnings)
            c->warnings[n++] = '\n', c->warnings[n] = '\0';
    }
}

/* Does setting st belong to one of groups (key prefixes; "*" is every setting; NULL none)? */
static int config_in_groups(const setting *st, const char *const *groups)
{
    for (size_t g = 0; groups && groups[g]; g++) {
        size_t n = strlen(groups[g]);
        if (!strcmp(groups[g], "*") || !strcmp(st->key, groups[g]) ||
            (n && groups[g][n - 1] == '.' && !strncmp(st->key, groups[g], n)))
            return 1;
    }
    return 0;
}

static const setting *config_setting(const char *key)
{
    for (size_t k = 0; k < NSETTINGS; k++)
        if (!strcmp(settings[k].key, key))
            return &settings[k];
    return NULL;
}

int config_load(config *c, int *argc, char **argv, char *err, size_t errlen)
{
    static const char *const every[] = {"*", NULL};
    return config_load_for(c, argc, argv, every, "anomalog", err, errlen);
}

int config_load_for(config *c, int *argc, char **argv, const char *const *groups, const char *command, char *err,
                    size_t errlen)
{
    config_defaults(c);
    /* The file comes first, whatever the order of the flags. */
    const char *file = getenv("ANOMALOG_CONFIG");
    for (int i = 1; groups && i < *argc; i++) {
        int missing = 0;
        const char *v = flag_value(argv, *argc, &i, "--config", &missing);
        if (missing) {
            snprintf(err, errlen, "--config: missing value");
            return -1;
        }
        if (v)
            file = v;
    }
    if (file && *file && load_file(c, file, err, errlen))
        return -1;
    for (size_t a = 0; a < NALIASES; a++) { /* old names first: the new name wins when both are set */
        const char *v = getenv(aliases[a].env);
        const setting *st = config_setting(aliases[a].key);
        if (!v || !st)
            continue;
        if (getenv(st->env)) {
            config_warn(c, "%s is ignored: %s is set (the new name of the same setting, %s)", aliases[a].env, st->env,
                        st->key);
            continue;
        }
        config_warn(c, "%s is the old name of %s (%s); it still works, but rename it", aliases[a].env, st->env,
                    st->key);
        if (set_value(c, st, v, aliases[a].env, err, errlen))
            return -1;
    }
    for (size_t k = 0; k < NSETTINGS; k++) {
        const char *v = getenv(settings[k].env);
        if (v && set_value(c, &settings[k], v, settings[k].env, err, errlen))
            return -1;
    }
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        int missing = 0, matched = 0;
        if (groups && flag_value(argv, *argc, &i, "--config", &missing))
            continue;
        for (size_t k = 0; k < NSETTINGS + NALIASES && !matched; k++) {
            const setting *st = k < NSETTINGS ? &settings[k] : config_setting(aliases[k - NSETTINGS].key);
            const char *flag = k < NSETTINGS ? settings[k].flag : aliases[k - NSETTINGS].flag;
            if (!flag || !st)
                continue;
            const char *v = flag_value(argv, *argc, &i, flag, &missing);
            if (missing) {
                snprintf(err, errlen, "%s: missing value", flag);
                return -1;
            }
            if (!v)
                continue;
            matched = 1;
            if (!config_in_groups(st, groups)) {
                snprintf(err, errlen, "%s: not a flag of `anomalog %s` (see `anomalog %s --help`)", flag, command, command);
                return -1;
            }
            if (k >= NSETTINGS)
                config_warn(c, "%s is the old name of %s (%s); it still works, but rename it", flag, st->flag,
                            st->key);
            if (set_value(c, st, v, flag, err, errlen))
                return -1;
        }
        if (!matched)
            argv[out++] = argv[i];
    }
    *argc = out;
    argv[out] = NULL;
    if (config_env_destinations(c, err, errlen) || route_config_check(&c->routing, err, errlen))
        return -1;
    if (!c->routing.public_url[0])
        snprintf(c->routing.public_url, sizeof c->routing.public_url, "http://%s", c->listen);
    return 0;
}

void config_print_flags(FILE *f, const char *const *groups)
{
    if (groups)
        fprintf(f, "  --config FILE\n      YAML config file (ANOMALOG_CONFIG); its keys are the settings' keys below\n");
    for (size_t k = 0; k < NSETTINGS; k++) {
        const setting *st = &settings[k];
        if (!config_in_groups(st, groups))
            continue;
        const struct config_help *h = NULL;
        for (size_t i = 0; i < sizeof helps / sizeof helps[0] && !h; i++)
            if (!strcmp(helps[i].key, st->key))
                h = &helps[i];
        char name[128];
        snprintf(name, sizeof name, "%s %s", st->flag ? st->flag : st->env, h ? h->arg : "VALUE");
        fprintf(f, "  %s\n      %s (%s%skey %s; default %s)\n", name, h ? h->text : "(no description)",
                st->flag ? st->env : "no flag", "; ", st->key, h && *h->dflt ? h->dflt : "none");
    }
}

const char *config_flags_help(void)
{
    return "flags and variables: every setting of the file has both; `anomalog serve --help` lists them\n";
}
