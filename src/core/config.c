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
 * a typo is never a silently ignored setting.
 */
#include "anomalog/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "anomalog/timeutil.h"

typedef enum kind { K_TEXTFMT, K_LISTEN, K_PATH, K_DURATION, K_SIZE, K_COUNT, K_TZ, K_DURABILITY, K_TEXT, K_FORMAT, K_BOOL, K_FALLBACK, K_ROUTE_MODE, K_LOGFMT, K_LOGLEVEL } kind;

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
    {"limits.max_body", "ANOMALOG_MAX_BODY", "--max-body", K_SIZE, OFF(max_body), 64, 1ULL << 30},
    {"limits.max_line", "ANOMALOG_MAX_LINE", "--max-line", K_SIZE, OFF(max_line), 16, 16ULL << 20},
    {"limits.max_entries", "ANOMALOG_MAX_ENTRIES", "--max-entries", K_COUNT, OFF(max_entries), 1, 10000000},
    {"limits.queue_depth", "ANOMALOG_QUEUE_DEPTH", "--queue-depth", K_COUNT, OFF(queue_depth), 1, 65536},
    {"limits.max_txn_entries", "ANOMALOG_MAX_TXN_ENTRIES", "--max-txn-entries", K_COUNT, OFF(max_txn_entries), 1,
     10000000},
    {"limits.max_connections", "ANOMALOG_MAX_CONNECTIONS", "--max-connections", K_COUNT, OFF(max_connections), 1,
     65536},
    {"limits.max_connections_per_ip", "ANOMALOG_MAX_CONNECTIONS_PER_IP", "--max-connections-per-ip", K_COUNT,
     OFF(max_connections_per_ip), 0, 65536},
    {"limits.connection_timeout", "ANOMALOG_CONNECTION_TIMEOUT", "--connection-timeout", K_DURATION,
     OFF(connection_timeout_ms), 1000, 3600ULL * 1000},
    {"limits.header_timeout", "ANOMALOG_HEADER_TIMEOUT", "--header-timeout", K_DURATION, OFF(header_timeout_ms),
     1000, 3600ULL * 1000},
    {"limits.request_timeout", "ANOMALOG_REQUEST_TIMEOUT", "--request-timeout", K_DURATION, OFF(request_timeout_ms),
     1000, 3600ULL * 1000},
    {"llm.url", "ANOMALOG_LLM_URL", "--llm-url", K_TEXT, OFF(llm_url), 0, sizeof(((config *)0)->llm_url)},
    {"llm.model", "ANOMALOG_LLM_MODEL", "--llm-model", K_TEXT, OFF(llm_model), 1, sizeof(((config *)0)->llm_model)},
    {"loki.service_labels", "ANOMALOG_LOKI_SERVICE_LABELS", "--loki-service-labels", K_TEXT, OFF(loki_service_labels),
     1, sizeof(((config *)0)->loki_service_labels)},
    {"auth.ingest_token", "ANOMALOG_INGEST_TOKEN", NULL, K_TEXT, OFF(ingest_token), 0,
     sizeof(((config *)0)->ingest_token)},
    {"auth.read_token", "ANOMALOG_READ_TOKEN", NULL, K_TEXT, OFF(read_token), 0, sizeof(((config *)0)->read_token)},
    {"auth.write_token", "ANOMALOG_WRITE_TOKEN", NULL, K_TEXT, OFF(write_token), 0,
     sizeof(((config *)0)->write_token)},
    {"llm.api_key", "ANOMALOG_LLM_API_KEY", NULL, K_TEXT, OFF(llm_api_key), 0, sizeof(((config *)0)->llm_api_key)},
    {"llm.timeout", "ANOMALOG_LLM_TIMEOUT", "--llm-timeout", K_DURATION, OFF(llm_timeout_ms), 100, 3600ULL * 1000},
    {"llm.retries", "ANOMALOG_LLM_RETRIES", "--llm-retries", K_COUNT, OFF(llm_retries), 0, 20},
    {"llm.response_format", "ANOMALOG_LLM_RESPONSE_FORMAT", "--llm-response-format", K_FORMAT, OFF(llm_format), 0, 0},
    {"llm.context_tokens", "ANOMALOG_LLM_CONTEXT_TOKENS", "--llm-context-tokens", K_COUNT, OFF(llm_context_tokens), 0,
     10000000},
    {"llm.max_tokens", "ANOMALOG_LLM_MAX_TOKENS", "--llm-max-tokens", K_COUNT, OFF(llm_max_tokens), 64, 1000000},
    {"analysis.workers", "ANOMALOG_WORKERS", "--workers", K_COUNT, OFF(workers), 1, 64},
    {"llm.breaker_failures", "ANOMALOG_LLM_BREAKER_FAILURES", "--llm-breaker-failures", K_COUNT, OFF(breaker_failures),
     1, 1000},
    {"llm.breaker_cooldown", "ANOMALOG_LLM_BREAKER_COOLDOWN", "--llm-breaker-cooldown", K_DURATION,
     OFF(breaker_cooldown_ms), 1000, 86400ULL * 1000},
    {"analysis.max_lines", "ANOMALOG_MAX_LINES", "--max-lines", K_COUNT, OFF(max_lines), 1, 100000000},
    {"analysis.max_services_in_memory", "ANOMALOG_MAX_SERVICES_IN_MEMORY", "--max-services-in-memory", K_COUNT,
     OFF(max_services_in_memory), 1, 100000000},
    {"analysis.max_prompt_bytes", "ANOMALOG_MAX_PROMPT_BYTES", "--max-prompt-bytes", K_SIZE, OFF(max_prompt_bytes),
     1024, 64ULL << 20},
    {"analysis.schema_retries", "ANOMALOG_SCHEMA_RETRIES", "--schema-retries", K_COUNT, OFF(schema_retries), 0, 10},
    {"analysis.retry_base", "ANOMALOG_RETRY_BASE", "--retry-base", K_DURATION, OFF(retry_base_ms), 100,
     86400ULL * 1000},
    {"analysis.retry_max", "ANOMALOG_RETRY_MAX", "--retry-max", K_DURATION, OFF(retry_max_ms), 100, 7ULL * 86400 * 1000},
    {"analysis.lease", "ANOMALOG_LEASE", "--lease", K_DURATION, OFF(lease_ms), 1000, 86400ULL * 1000},
    {"analysis.skip_quiet_windows", "ANOMALOG_SKIP_QUIET_WINDOWS", "--skip-quiet-windows", K_BOOL, OFF(skip_quiet), 0, 0},
    {"ingest.idempotency_ttl", "ANOMALOG_IDEMPOTENCY_TTL", "--idempotency-ttl", K_DURATION, OFF(idempotency_ttl_ms),
     1000, 30ULL * 86400 * 1000},
    {"ingest.max_future", "ANOMALOG_MAX_FUTURE", "--max-future", K_DURATION, OFF(max_future_ms), 1000,
     30ULL * 86400 * 1000},
    {"ingest.text_format", "ANOMALOG_TEXT_FORMAT", "--text-format", K_TEXTFMT, OFF(text_syslog), 0, 0},
    {"log.format", "ANOMALOG_LOG_FORMAT", "--log-format", K_LOGFMT, OFF(log_json), 0, 0},
    {"log.level", "ANOMALOG_LOG_LEVEL", "--log-level", K_LOGLEVEL, OFF(log_level), 0, 0},
    {"analysis.reanalyze", "ANOMALOG_REANALYZE", "--reanalyze", K_BOOL, OFF(reanalyze), 0, 0},
    {"analysis.on_model_failure", "ANOMALOG_ON_MODEL_FAILURE", "--on-model-failure", K_FALLBACK, OFF(fallback_baseline),
     0, 0},
    {"digest.exemplars", "ANOMALOG_EXEMPLARS", "--exemplars", K_COUNT, OFF(exemplars), 1, 8},
    {"digest.token_budget", "ANOMALOG_TOKEN_BUDGET", "--token-budget", K_COUNT, OFF(token_budget), 200, 1000000},
    {"digest.history_windows", "ANOMALOG_HISTORY_WINDOWS", "--history-windows", K_COUNT, OFF(history_windows), 1, 10000},
    {"digest.max_window_templates", "ANOMALOG_MAX_WINDOW_TEMPLATES", "--max-window-templates", K_COUNT,
     OFF(max_window_templates), 10, 10000000},
    {"digest.max_templates", "ANOMALOG_MAX_TEMPLATES", "--max-templates", K_COUNT, OFF(max_templates), 10, 10000000},
    {"redaction.ip_addresses", "ANOMALOG_REDACT_IPS", "--redact-ips", K_BOOL, OFF(redact_ips), 0, 0},
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
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
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
    free(c->contexts);
    c->contexts = NULL;
    c->n_contexts = 0;
    for (size_t i = 0; i < c->n_redact_patterns; i++)
        free(c->redact_patterns[i]);
    free(c->redact_patterns);
    c->redact_patterns = NULL;
    c->n_redact_patterns = 0;
    route_config_free(&c->routing);
    for (size_t i = 0; i < c->n_tokens; i++) {
        free(c->tokens[i].token);
        free(c->tokens[i].service);
    }
    free(c->tokens);
    c->tokens = NULL;
    c->n_tokens = 0;
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

static int valid_listen(const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v)
        return 0;
    uint64_t port;
    if (parse_u64(colon + 1, &port) || port > 65535)
        return 0;
    if (v[0] == '[') /* [::1]:8080 */
        return colon[-1] == ']';
    return memchr(v, ':', (size_t)(colon - v)) == NULL;
}

/* A duration, where zero ("0", "0s", "0m") is allowed: a suppression interval of none. */
static int parse_duration0(const char *v, int64_t *ms)
{
    size_t z = strspn(v, "0");
    if (z > 0 && (!v[z] || !strcmp(v + z, "s") || !strcmp(v + z, "ms") || !strcmp(v + z, "m") || !strcmp(v + z, "h"))) {
        *ms = 0;
        return 0;
    }
    return duration_parse_ms(v, ms);
}

/* Sets one setting from text; `where` names the source for the error. */
static int set_value(config *c, const setting *st, const char *v, const char *where, char *err, size_t errlen)
{
    char *field = (char *)c + st->off;
    switch (st->kind) {
    case K_LISTEN:
        if (!valid_listen(v) || strlen(v) >= sizeof c->listen) {
            snprintf(err, errlen, "%s: invalid address \"%s\" (expected host:port, e.g. 127.0.0.1:8080)", where, v);
            return -1;
        }
        snprintf(c->listen, sizeof c->listen, "%s", v);
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
        if (parse_duration0(v, &ms) || (uint64_t)ms < st->min || (uint64_t)ms > st->max) {
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
        if (tz_offset_parse(v, (int *)field)) {
            snprintf(err, errlen, "%s: invalid zone \"%s\" (expected UTC or an offset such as +02:00)", where, v);
            return -1;
        }
        return 0;
    case K_TEXT:
        if (strlen(v) < st->min || strlen(v) >= st->max) {
            snprintf(err, errlen, "%s: %s (at most %llu bytes)", where, strlen(v) < st->min ? "must not be empty" : "too long",
                     (unsigned long long)st->max - 1);
            return -1;
        }
        snprintf(field, st->max, "%s", v);
        return 0;
    case K_FORMAT:
        if (strcmp(v, "json_schema") == 0)
            *(int *)field = 0;
        else if (strcmp(v, "json_object") == 0)
            *(int *)field = 1;
        else if (strcmp(v, "none") == 0)
            *(int *)field = 2;
        else {
            snprintf(err, errlen, "%s: invalid response format \"%s\" (expected json_schema, json_object or none)",
                     where, v);
            return -1;
        }
        return 0;
    case K_TEXTFMT:
        if (!strcmp(v, "plain") || !strcmp(v, "syslog")) {
            *(int *)field = v[0] == 's';
            return 0;
        }
        snprintf(err, errlen, "%s: invalid text format \"%s\" (expected plain or syslog)", where, v);
        return -1;
    case K_LOGFMT:
        if (!strcmp(v, "text") || !strcmp(v, "json")) {
            *(int *)field = v[0] == 'j';
            return 0;
        }
        snprintf(err, errlen, "%s: invalid log format \"%s\" (expected text or json)", where, v);
        return -1;
    case K_LOGLEVEL: {
        static const char *const names[] = {"debug", "info", "warn", "error"}; /* LOG_DEBUG … LOG_ERROR */
        for (int i = 0; i < 4; i++)
            if (!strcmp(v, names[i])) {
                *(int *)field = i;
                return 0;
            }
        snprintf(err, errlen, "%s: invalid log level \"%s\" (expected debug, info, warn or error)", where, v);
        return -1;
    }
    case K_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "1"))
            *(int *)field = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "0"))
            *(int *)field = 0;
        else {
            snprintf(err, errlen, "%s: invalid switch \"%s\" (expected true or false)", where, v);
            return -1;
        }
        return 0;
    case K_FALLBACK:
        if (!strcmp(v, "baseline"))
            *(int *)field = 1;
        else if (!strcmp(v, "retry"))
            *(int *)field = 0;
        else {
            snprintf(err, errlen, "%s: invalid choice \"%s\" (expected baseline or retry)", where, v);
            return -1;
        }
        return 0;
    case K_ROUTE_MODE:
        if (!strcmp(v, "all"))
            *(int *)field = 1;
        else if (!strcmp(v, "first"))
            *(int *)field = 0;
        else {
            snprintf(err, errlen, "%s: invalid route mode \"%s\" (expected first or all)", where, v);
            return -1;
        }
        return 0;
    case K_DURABILITY:
        if (strcmp(v, "normal") == 0)
            *(int *)field = 0;
        else if (strcmp(v, "full") == 0)
            *(int *)field = 1;
        else {
            snprintf(err, errlen, "%s: invalid durability \"%s\" (expected normal or full)", where, v);
            return -1;
        }
        return 0;
    }
    return -1;
}

/* ---- YAML file ------------------------------------------------------------ */

/* services: {name: {context: "..."}} */
static int load_services(config *c, yaml_document_t *doc, yaml_node_t *node, const char *file, char *err,
                         size_t errlen)
{
    unsigned long line = (unsigned long)node->start_mark.line + 1;
    if (node->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "%s:%lu: services: expected a mapping of service names", file, line);
        return -1;
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        line = (unsigned long)k->start_mark.line + 1;
        const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
        if (!*name || strlen(name) > 128 || !v || v->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%lu: services: each entry is a service name (1-128 bytes) with a mapping",
                     file, line);
            return -1;
        }
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
            yaml_node_t *kk = yaml_document_get_node(doc, q->key);
            yaml_node_t *vv = yaml_document_get_node(doc, q->value);
            line = (unsigned long)kk->start_mark.line + 1;
            if (kk->type != YAML_SCALAR_NODE || strcmp((const char *)kk->data.scalar.value, "context") != 0) {
                snprintf(err, errlen, "%s:%lu: services.%s: unknown setting (a service takes: context)", file, line,
                         name);
                return -1;
            }
            if (vv->type != YAML_SCALAR_NODE || vv->data.scalar.length > 16384) {
                snprintf(err, errlen, "%s:%lu: services.%s.context: expected text of at most 16384 bytes", file,
                         line, name);
                return -1;
            }
            struct service_context *n = realloc(c->contexts, (c->n_contexts + 1) * sizeof *n);
            if (!n) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            c->contexts = n;
            n[c->n_contexts].name = strdup(name);
            n[c->n_contexts].context = strdup((const char *)vv->data.scalar.value);
            c->n_contexts++;
        }
    }
    return 0;
}

/* One scope word, or -1. */
static int scope_bit(const char *w)
{
    return !strcmp(w, "ingest") ? (int)CONFIG_SCOPE_INGEST : !strcmp(w, "read") ? (int)CONFIG_SCOPE_READ
         : !strcmp(w, "write") ? (int)CONFIG_SCOPE_WRITE : -1;
}

/* scopes: [ingest, read, write] (a list, or one word). 0 and *out set, or -1. */
static int load_scopes(yaml_document_t *doc, yaml_node_t *v, unsigned *out)
{
    *out = 0;
    if (v->type == YAML_SCALAR_NODE) {
        int b = scope_bit((const char *)v->data.scalar.value);
        return b < 0 ? -1 : (*out = (unsigned)b, 0);
    }
    if (v->type != YAML_SEQUENCE_NODE)
        return -1;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *w = yaml_document_get_node(doc, *it);
        int b = w && w->type == YAML_SCALAR_NODE ? scope_bit((const char *)w->data.scalar.value) : -1;
        if (b < 0)
            return -1;
        *out |= (unsigned)b;
    }
    return *out ? 0 : -1;
}

/* auth.tokens: [{token: "...", service: "...", scopes: [...]}]: more tokens, ingest-only unless scoped,
 * each optionally bound to a service (which only ingestion uses) */
static int load_tokens(config *c, yaml_document_t *doc, yaml_node_t *node, const char *file, char *err,
                       size_t errlen)
{
    unsigned long line = (unsigned long)node->start_mark.line + 1;
    if (node->type != YAML_SEQUENCE_NODE) {
        snprintf(err, errlen, "%s:%lu: auth.tokens: expected a list of {token, service}", file, line);
        return -1;
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
        yaml_node_t *m = yaml_document_get_node(doc, *it);
        const char *token = NULL, *service = NULL;
        unsigned scopes = CONFIG_SCOPE_INGEST;
        line = m ? (unsigned long)m->start_mark.line + 1 : line;
        if (!m || m->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%lu: auth.tokens: each item is a mapping with token and optional service",
                     file, line);
            return -1;
        }
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < m->data.mapping.pairs.top; q++) {
            yaml_node_t *kk = yaml_document_get_node(doc, q->key), *vv = yaml_document_get_node(doc, q->value);
            const char *k = kk->type == YAML_SCALAR_NODE ? (const char *)kk->data.scalar.value : "";
            const char *v = vv->type == YAML_SCALAR_NODE ? (const char *)vv->data.scalar.value : NULL;
            line = (unsigned long)kk->start_mark.line + 1;
            if (strcmp(k, "token") == 0 && v && *v && strlen(v) < 256) {
                token = v;
            } else if (strcmp(k, "service") == 0 && v && *v && strlen(v) <= 128) {
                service = v;
            } else if (strcmp(k, "scopes") == 0) {
                if (load_scopes(doc, vv, &scopes) != 0) {
                    snprintf(err, errlen, "%s:%lu: auth.tokens.scopes: a list of ingest, read, write", file, line);
                    return -1;
                }
            } else {
                snprintf(err, errlen,
                         "%s:%lu: auth.tokens.%s: a token is 1-255 bytes, a service 1-128, scopes a list "
                         "(and nothing else)", file,
                         line, k);
                return -1;
            }
        }
        if (!token) {
            snprintf(err, errlen, "%s:%lu: auth.tokens: an item has no token", file, line);
            return -1;
        }
        struct ingest_token *n = realloc(c->tokens, (c->n_tokens + 1) * sizeof *n);
        if (!n) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        c->tokens = n;
        n[c->n_tokens].token = strdup(token);
        n[c->n_tokens].service = service ? strdup(service) : NULL;
        n[c->n_tokens].scopes = scopes;
        c->n_tokens++;
    }
    return 0;
}

/* ---- routing: destinations, routes, suppression intervals ------------------- */

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int severity_rank(const char *s)
{
    return !s ? -1 : !strcmp(s, "low") ? 1 : !strcmp(s, "medium") ? 2 : !strcmp(s, "high") ? 3
                                                                  : !strcmp(s, "critical") ? 4 : -1;
}

/* destinations: {name: {type, url, routing_key, secret, path}} */
static int load_destinations(config *c, yaml_document_t *doc, yaml_node_t *node, const char *file, char *err,
                             size_t errlen)
{
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        unsigned long line = (unsigned long)k->start_mark.line + 1;
        const char *name = scalar(k);
        if (!name || !*name || strlen(name) > 128 || !v || v->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%lu: destinations: each entry is a name (1-128 bytes) with a mapping", file, line);
            return -1;
        }
        const char *fields[5] = {0}; /* type url routing_key secret path */
        static const char *const names[5] = {"type", "url", "routing_key", "secret", "path"};
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
            const char *fk = scalar(yaml_document_get_node(doc, q->key));
            const char *fv = scalar(yaml_document_get_node(doc, q->value));
            int found = -1;
            for (int i = 0; i < 5 && fk; i++)
                if (!strcmp(fk, names[i]))
                    found = i;
            if (found < 0 || !fv) {
                snprintf(err, errlen, "%s:%lu: destinations.%s: unknown or empty setting \"%s\" (a destination "
                         "takes: type, url, routing_key, secret, path)", file, line, name, fk ? fk : "");
                return -1;
            }
            fields[found] = fv;
        }
        int dk = dest_kind_parse(fields[0]);
        if (dk < 0) {
            snprintf(err, errlen, "%s:%lu: destinations.%s.type: expected pagerduty, slack, alertmanager, webhook or "
                     "file", file, line, name);
            return -1;
        }
        route_dest *d = route_dest_add(&c->routing, name, (dest_kind)dk);
        if (!d || (fields[1] && !(d->url = strdup(fields[1]))) || (fields[2] && !(d->routing_key = strdup(fields[2]))) ||
            (fields[3] && !(d->secret = strdup(fields[3]))) || (fields[4] && !(d->path = strdup(fields[4])))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (dk == DEST_PAGERDUTY && !d->url && !(d->url = strdup("https://events.pagerduty.com/v2/enqueue"))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* routes: [{match: {severity, severity_at_least, service, type}, to: [names] or name}] */
static int load_routes(config *c, yaml_document_t *doc, yaml_node_t *node, const char *file, char *err, size_t errlen)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        snprintf(err, errlen, "%s:%lu: routes: expected a list of {match: ..., to: [...]}", file,
                 (unsigned long)node->start_mark.line + 1);
        return -1;
    }
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
        yaml_node_t *r = yaml_document_get_node(doc, *it);
        unsigned long line = (unsigned long)r->start_mark.line + 1;
        route_rule *nr = realloc(c->routing.rules, (c->routing.n_rules + 1) * sizeof *nr);
        if (!nr) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        c->routing.rules = nr;
        route_rule *rule = &nr[c->routing.n_rules++];
        memset(rule, 0, sizeof *rule);
        if (r->type != YAML_MAPPING_NODE) {
            snprintf(err, errlen, "%s:%lu: routes: each route is a mapping {match: ..., to: [...]}", file, line);
            return -1;
        }
        for (yaml_node_pair_t *p = r->data.mapping.pairs.start; p < r->data.mapping.pairs.top; p++) {
            const char *k = scalar(yaml_document_get_node(doc, p->key));
            yaml_node_t *v = yaml_document_get_node(doc, p->value);
            if (k && !strcmp(k, "match") && v->type == YAML_MAPPING_NODE) {
                for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
                    const char *mk = scalar(yaml_document_get_node(doc, q->key));
                    const char *mv = scalar(yaml_document_get_node(doc, q->value));
                    int bad = !mk || !mv;
                    for (yaml_node_pair_t *e = v->data.mapping.pairs.start; !bad && e < q; e++) {
                        const char *ek = scalar(yaml_document_get_node(doc, e->key));
                        if (ek && !strcmp(ek, mk)) {
                            snprintf(err, errlen, "%s:%lu: routes: match.%s is given twice", file, line, mk);
                            return -1;
                        }
                    }
                    if (!bad && !strcmp(mk, "severity"))
                        bad = (rule->severity = severity_rank(mv)) < 0;
                    else if (!bad && !strcmp(mk, "severity_at_least"))
                        bad = (rule->severity_min = severity_rank(mv)) < 0;
                    else if (!bad && !strcmp(mk, "service"))
                        bad = !(rule->service = strdup(mv));
                    else if (!bad && !strcmp(mk, "type"))
                        bad = !(rule->type = strdup(mv));
                    else
                        bad = 1;
                    if (bad) {
                        snprintf(err, errlen, "%s:%lu: routes: match takes severity or severity_at_least "
                                 "(low, medium, high, critical), service and type; got \"%s\"", file, line,
                                 mk ? mk : "");
                        return -1;
                    }
                }
            } else if (k && !strcmp(k, "to")) {
                yaml_node_item_t *a = NULL, *b = NULL;
                yaml_node_item_t one = p->value;
                if (v->type == YAML_SEQUENCE_NODE) {
                    a = v->data.sequence.items.start;
                    b = v->data.sequence.items.top;
                } else {
                    a = &one;
                    b = &one + 1;
                }
                for (; a < b; a++) {
                    const char *name = scalar(yaml_document_get_node(doc, *a));
                    char **nt = realloc(rule->to, (rule->n_to + 1) * sizeof *nt);
                    if (nt)
                        rule->to = nt;
                    if (!name || !nt || !(nt[rule->n_to] = strdup(name))) {
                        snprintf(err, errlen, "%s:%lu: routes: to is a destination name or a list of them", file, line);
                        return -1;
                    }
                    rule->n_to++;
                }
            } else {
                snprintf(err, errlen, "%s:%lu: routes: a route takes match (a mapping) and to", file, line);
                return -1;
            }
        }
        if (!rule->n_to) {
            snprintf(err, errlen, "%s:%lu: routes: a route needs to: [destination, ...]", file, line);
            return -1;
        }
    }
    return 0;
}

static int load_intervals(route_interval **v, size_t *n, yaml_document_t *doc, yaml_node_t *node, const char *key,
                          const char *file, char *err, size_t errlen)
{
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        const char *name = scalar(k), *val = scalar(yaml_document_get_node(doc, p->value));
        int64_t ms;
        if (!name || !val || parse_duration0(val, &ms) || ms < 0 || ms > 7LL * 86400 * 1000) {
            snprintf(err, errlen, "%s:%lu: %s: expected name: duration (e.g. 30m, at most 7d)", file,
                     (unsigned long)k->start_mark.line + 1, key);
            return -1;
        }
        route_interval *nv = realloc(*v, (*n + 1) * sizeof *nv);
        if (!nv || !(nv[*n].name = strdup(name))) {
            if (nv)
                *v = nv;
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        *v = nv;
        nv[(*n)++].ms = ms;
    }
    return 0;
}

static int load_routing(config *c, yaml_document_t *doc, const char *key, yaml_node_t *v, const char *file,
                        char *err, size_t errlen)
{
    if (!strcmp(key, "routes"))
        return load_routes(c, doc, v, file, err, errlen);
    if (v->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "%s:%lu: %s: expected a mapping", file, (unsigned long)v->start_mark.line + 1, key);
        return -1;
    }
    if (!strcmp(key, "destinations"))
        return load_destinations(c, doc, v, file, err, errlen);
    if (!strcmp(key, "suppress_per_service"))
        return load_intervals(&c->routing.per_service, &c->routing.n_per_service, doc, v, key, file, err, errlen);
    return load_intervals(&c->routing.per_type, &c->routing.n_per_type, doc, v, key, file, err, errlen);
}

/* Destinations enabled by the environment alone (named after their kind). */
static int env_destinations(config *c, char *err, size_t errlen)
{
    static const struct {
        const char *env;
        dest_kind kind;
    } envs[] = {{"ANOMALOG_PAGERDUTY_ROUTING_KEY", DEST_PAGERDUTY}, {"ANOMALOG_SLACK_WEBHOOK_URL", DEST_SLACK},
                {"ANOMALOG_ALERTMANAGER_URL", DEST_ALERTMANAGER},   {"ANOMALOG_WEBHOOK_URL", DEST_WEBHOOK},
                {"ANOMALOG_ALERT_FILE", DEST_FILE}};
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        const char *v = getenv(envs[i].env);
        if (!v || !*v)
            continue;
        route_dest *d = route_dest_add(&c->routing, dest_kind_name(envs[i].kind), envs[i].kind);
        int oom = !d;
        if (d && envs[i].kind == DEST_PAGERDUTY) {
            const char *u = getenv("ANOMALOG_PAGERDUTY_URL");
            oom = !(d->routing_key = strdup(v)) ||
                  !(d->url = strdup(u && *u ? u : "https://events.pagerduty.com/v2/enqueue"));
        } else if (d && envs[i].kind == DEST_FILE) {
            oom = !(d->path = strdup(v));
        } else if (d) {
            const char *sec = envs[i].kind == DEST_WEBHOOK ? getenv("ANOMALOG_WEBHOOK_SECRET") : NULL;
            oom = !(d->url = strdup(v)) || (sec && *sec && !(d->secret = strdup(sec)));
        }
        if (oom) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

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
            if (v->type != YAML_SEQUENCE_NODE) {
                snprintf(err, errlen, "%s:%lu: redaction.patterns: expected a list of regular expressions", file, line);
                return -1;
            }
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
            if (load_routing(c, doc, key, v, file, err, errlen))
                return -1;
            continue;
        }
        if (strcmp(key, "auth.tokens") == 0) {
            if (load_tokens(c, doc, v, file, err, errlen))
                return -1;
            continue;
        }
        if (strcmp(key, "services") == 0) {
            if (load_services(c, doc, v, file, err, errlen))
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

int config_load(config *c, int *argc, char **argv, char *err, size_t errlen)
{
    config_defaults(c);
    /* The file comes first, whatever the order of the flags. */
    const char *file = getenv("ANOMALOG_CONFIG");
    for (int i = 1; i < *argc; i++) {
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
    for (size_t k = 0; k < NSETTINGS; k++) {
        const char *v = getenv(settings[k].env);
        if (v && set_value(c, &settings[k], v, settings[k].env, err, errlen))
            return -1;
    }
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        int missing = 0, matched = 0;
        if (flag_value(argv, *argc, &i, "--config", &missing))
            continue;
        for (size_t k = 0; k < NSETTINGS && !matched; k++) {
            if (!settings[k].flag)
                continue;
            const char *v = flag_value(argv, *argc, &i, settings[k].flag, &missing);
            if (missing) {
                snprintf(err, errlen, "%s: missing value", settings[k].flag);
                return -1;
            }
            if (v) {
                matched = 1;
                if (set_value(c, &settings[k], v, settings[k].flag, err, errlen))
                    return -1;
            }
        }
        if (!matched)
            argv[out++] = argv[i];
    }
    *argc = out;
    argv[out] = NULL;
    if (env_destinations(c, err, errlen) || route_config_check(&c->routing, err, errlen))
        return -1;
    if (!c->routing.public_url[0])
        snprintf(c->routing.public_url, sizeof c->routing.public_url, "http://%s", c->listen);
    return 0;
}

const char *config_flags_help(void)
{
    return "  --config FILE              YAML config file (ANOMALOG_CONFIG)\n"
           "  --listen HOST:PORT         address to serve (ANOMALOG_LISTEN, default 127.0.0.1:8080)\n"
           "  --db FILE|URI              SQLite file, or postgresql://… (ANOMALOG_DB, default ./anomalog.db)\n"
           "  --window DURATION          window length (ANOMALOG_WINDOW, default 5m)\n"
           "  --grace DURATION           lateness allowed (ANOMALOG_GRACE, default 30s)\n"
           "  --timezone ZONE            zone of timestamps without one (ANOMALOG_TIMEZONE, default UTC)\n"
           "  --durability normal|full   full fsyncs every commit (ANOMALOG_DURABILITY, default normal)\n"
           "  --max-body SIZE            request body limit, also after gunzip (ANOMALOG_MAX_BODY, 16MiB)\n"
           "  --max-line SIZE            longest message kept (ANOMALOG_MAX_LINE, 64KiB)\n"
           "  --max-entries N            entries per batch (ANOMALOG_MAX_ENTRIES, 100000)\n"
           "  --queue-depth N            batches waiting for the writer (ANOMALOG_QUEUE_DEPTH, 4096)\n"
           "  --max-txn-entries N        entries per group commit (ANOMALOG_MAX_TXN_ENTRIES, 50000)\n"
           "  --max-connections N        concurrent connections (ANOMALOG_MAX_CONNECTIONS, 512)\n"
           "  --max-connections-per-ip N  concurrent connections from one address, 0: no limit\n"
           "                             (ANOMALOG_MAX_CONNECTIONS_PER_IP, 64)\n"
           "  --connection-timeout DUR   idle/slow connection timeout (ANOMALOG_CONNECTION_TIMEOUT, 30s)\n"
           "  --header-timeout DUR       time to receive a request's headers, however they trickle\n"
           "                             (ANOMALOG_HEADER_TIMEOUT, 10s)\n"
           "  --request-timeout DUR      time to receive a request body, however it trickles (ANOMALOG_REQUEST_TIMEOUT, 120s)\n"
           "  --idempotency-ttl DUR      how long an ingest Idempotency-Key is kept (ANOMALOG_IDEMPOTENCY_TTL, 24h)\n"
           "  --max-future DUR           an event time further ahead than this of its receive time is stored at\n"
           "                             the receive time, as one before 2000 is (ANOMALOG_MAX_FUTURE, 10m)\n"
           "  --loki-service-labels L    Loki labels naming the service, first wins (ANOMALOG_LOKI_SERVICE_LABELS,\n"
           "                             service_name,service,app,job)\n"
           "  --llm-url URL              OpenAI-compatible base URL, or none (ANOMALOG_LLM_URL, http://localhost:11434/v1)\n"
           "  --llm-model NAME           model (ANOMALOG_LLM_MODEL, llama3.2); key: ANOMALOG_LLM_API_KEY\n"
           "  --llm-timeout DURATION     one model call (ANOMALOG_LLM_TIMEOUT, 120s)\n"
           "  --llm-retries N            retries on timeout, 429, 5xx (ANOMALOG_LLM_RETRIES, 3)\n"
           "  --llm-response-format F    json_schema, json_object or none (ANOMALOG_LLM_RESPONSE_FORMAT, json_schema)\n"
           "  --llm-context-tokens N     the model server's context in tokens (ANOMALOG_LLM_CONTEXT_TOKENS; 0: ask it)\n"
           "  --llm-max-tokens N         room kept for the answer (ANOMALOG_LLM_MAX_TOKENS, 1024)\n"
           "  --workers N                analysis threads (ANOMALOG_WORKERS, 2)\n"
           "  --llm-breaker-failures N   consecutive failed model calls after which windows go to the baseline\n"
           "                             (ANOMALOG_LLM_BREAKER_FAILURES, 3)\n"
           "  --llm-breaker-cooldown DUR how long before one probe call asks the model again\n"
           "                             (ANOMALOG_LLM_BREAKER_COOLDOWN, 60s)\n"
           "  --max-lines N              window lines read for its digest (ANOMALOG_MAX_LINES, 1000000)\n"
           "  --max-services-in-memory N  services whose template miner stays in memory, least recently\n"
           "                             used evicted and reloaded (ANOMALOG_MAX_SERVICES_IN_MEMORY, 1000)\n"
           "  --max-prompt-bytes SIZE    prompt size cap (ANOMALOG_MAX_PROMPT_BYTES, 256KiB)\n"
           "  --schema-retries N         model calls again on an invalid answer (ANOMALOG_SCHEMA_RETRIES, 2)\n"
           "  --retry-base DURATION      first wait before a failed window is retried (ANOMALOG_RETRY_BASE, 30s)\n"
           "  --retry-max DURATION       longest such wait (ANOMALOG_RETRY_MAX, 1h)\n"
           "  --lease DURATION           PostgreSQL: a replica's hold on a window it analyses (ANOMALOG_LEASE, 15m)\n"
           "  --skip-quiet-windows B     no model call for windows with nothing new (ANOMALOG_SKIP_QUIET_WINDOWS, true)\n"
           "  --on-model-failure M       baseline (its findings stand) or retry (ANOMALOG_ON_MODEL_FAILURE, baseline)\n"
           "  --log-format F             text or json, one object per stderr line (ANOMALOG_LOG_FORMAT, text)\n"
           "  --log-level L              debug, info, warn or error (ANOMALOG_LOG_LEVEL, info)\n"
           "  --text-format F            plain or syslog: how text/plain bodies on /ingest are read (ANOMALOG_TEXT_FORMAT, plain)\n"
           "  --reanalyze B              model reads baseline-covered windows once it answers (ANOMALOG_REANALYZE, false)\n"
           "  --exemplars N              exemplar lines per notable template (ANOMALOG_EXEMPLARS, 3)\n"
           "  --token-budget N           estimated tokens of a digest (ANOMALOG_TOKEN_BUDGET, 3000)\n"
           "  --history-windows N        windows of history in a digest (ANOMALOG_HISTORY_WINDOWS, 12)\n"
           "  --max-window-templates N  distinct templates of a window listed one by one; the rest are one\n"
           "                             \"rare, unclustered\" group (ANOMALOG_MAX_WINDOW_TEMPLATES, 2000)\n"
           "  --max-templates N          templates kept per service (ANOMALOG_MAX_TEMPLATES, 5000)\n"
           "  --redact-ips B             also redact IP addresses (ANOMALOG_REDACT_IPS, false)\n"
           "  --suppress DURATION        no repeat of a (service, type) notification within (ANOMALOG_SUPPRESS, 20m)\n"
           "  --public-url URL           base of links in notifications (ANOMALOG_PUBLIC_URL, http://LISTEN)\n"
           "  --notify-retry-base DUR    first wait before a delivery is retried (ANOMALOG_NOTIFY_RETRY_BASE, 5s)\n"
           "  --notify-retry-max DUR     longest such wait (ANOMALOG_NOTIFY_RETRY_MAX, 5m)\n"
           "  --notify-give-up DUR       undelivered after this long: failed (ANOMALOG_NOTIFY_GIVE_UP, 24h)\n"
           "  --notify-timeout DUR       one delivery attempt (ANOMALOG_NOTIFY_TIMEOUT, 10s)\n"
           "  --notify-senders N         notifications delivered at once (ANOMALOG_NOTIFY_SENDERS, 4)\n"
           "  --retention-lines DUR      raw lines kept after their window ends; 0 forever (ANOMALOG_RETENTION_LINES, 7d)\n"
           "  --retention-windows DUR    windows, anomalies, notifications kept; 0 forever (ANOMALOG_RETENTION_WINDOWS, 90d)\n"
           "  --retention-batch N        rows deleted per retention transaction (ANOMALOG_RETENTION_BATCH, 2000)\n"
           "  --dry-run                  (serve) record notifications without sending them\n"
           "  destinations by environment: ANOMALOG_PAGERDUTY_ROUTING_KEY (+ANOMALOG_PAGERDUTY_URL),\n"
           "  ANOMALOG_SLACK_WEBHOOK_URL, ANOMALOG_ALERTMANAGER_URL, ANOMALOG_WEBHOOK_URL (+ANOMALOG_WEBHOOK_SECRET),\n"
           "  ANOMALOG_ALERT_FILE\n";
}
