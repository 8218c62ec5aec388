/**
 * @file config.h
 * @brief Settings: embedded defaults, then the config file, then the
 *        environment, then command-line flags, each overriding the one before.
 *
 * Every setting has one name in each source, by one rule: `limits.max_body`
 * in the YAML file, `ANOMALOG_LIMITS_MAX_BODY` in the environment,
 * `--limits-max-body` on the command line (dots and underscores become
 * underscores in the variable, dashes in the flag; secrets have no flag).
 * Names from before the rule (`ANOMALOG_MAX_BODY`, `--max-body`) still work
 * and leave a warning in config.warnings. A value that does not parse stops
 * start-up with a message naming the source and the key; nothing falls back
 * silently to a default. A duration needs its unit (`5m`; a bare `5` is an
 * error), except 0.
 */
#ifndef ANOMALOG_CONFIG_H
#define ANOMALOG_CONFIG_H

/** Most notification sender threads (notify.senders). */
#define NOTIFY_MAX_SENDERS 32

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "anomalog/incident.h"
#include "anomalog/route.h"

/** What a token may do (auth.tokens[].scopes): ingest lines, read, change state (write also reads). */
#define CONFIG_SCOPE_INGEST 1u
#define CONFIG_SCOPE_READ 2u
#define CONFIG_SCOPE_WRITE 4u

typedef struct config {
    char listen[256];            /**< host:port or [v6]:port, as given */
    char listen_host[256];       /**< its host, without brackets; empty: every address */
    char listen_port[6];         /**< its port, digits */
    char db[4096];               /**< SQLite file, or postgres:// / postgresql:// URI */
    int64_t window_ms;           /**< window length */
    int64_t grace_ms;            /**< lateness allowed before a window closes */
    int tz_offset_s;             /**< zone of timestamps written without one: an offset, or TZONE_NAMED (tzone.h) */
    int durability_full;         /**< 1: fsync every commit (synchronous=FULL) */
    uint64_t max_body;           /**< request body bytes, before and after gunzip */
    uint64_t max_line;           /**< message bytes; longer ones are truncated */
    uint64_t max_entries;        /**< entries per batch */
    uint64_t queue_depth;        /**< batches waiting for the writer */
    uint64_t max_txn_entries;    /**< entries per group commit */
    uint64_t max_connections;    /**< concurrent HTTP connections */
    uint64_t max_connections_per_ip; /**< concurrent HTTP connections from one address; 0: no limit */
    int64_t connection_timeout_ms; /**< idle or slow connection timeout */
    int64_t header_timeout_ms;   /**< longest time to receive one request's headers, however they trickle */
    int64_t request_timeout_ms;  /**< longest time to receive one request's body, however it trickles */
    int64_t max_future_ms;       /**< an event time further ahead of its receive time becomes the receive time */
    int64_t idempotency_ttl_ms;  /**< how long an ingest Idempotency-Key is remembered */
    /* the model */
    char llm_url[1024];          /**< base URL of an OpenAI-compatible API; empty or "none": no model */
    char llm_model[256];
    char llm_api_key[1024];      /**< bearer token, or empty */
    int64_t llm_timeout_ms;      /**< one model call */
    uint64_t llm_retries;        /**< further attempts on timeouts, 429, 5xx */
    int llm_format;              /**< llm_format of llm.h: json_schema, json_object or none */
    uint64_t llm_context_tokens; /**< the server's context in tokens; 0: probe the server (llm_fit.h) */
    uint64_t llm_max_tokens;     /**< tokens kept for the answer (max_tokens / num_predict) */
    /* analysis */
    uint64_t workers;            /**< analysis threads */
    uint64_t breaker_failures;   /**< consecutive failed model calls that open the circuit breaker */
    int64_t breaker_cooldown_ms; /**< how long the breaker stays open before one probe call */
    uint64_t max_lines;          /**< lines of a window read for its digest (the rest are counted) */
    uint64_t max_services_in_memory; /**< services whose miner is kept in memory (least recently used evicted) */
    uint64_t max_prompt_bytes;   /**< bytes of the user message */
    uint64_t schema_retries;     /**< model calls again when an answer fails the schema */
    int64_t retry_base_ms;       /**< first wait before a failed window is analysed again; doubles */
    int64_t retry_max_ms;        /**< longest such wait */
    int64_t lease_ms;            /**< PostgreSQL: how long a replica holds a window it analyses before another may take it */
    /* digest and baseline */
    uint64_t exemplars;          /**< exemplar lines per notable template */
    uint64_t token_budget;       /**< estimated tokens of a digest */
    uint64_t history_windows;    /**< windows of history beside a digest */
    uint64_t max_templates;      /**< templates kept per service (least recently seen evicted) */
    uint64_t max_window_templates; /**< distinct templates of one window with their own statistics */
    int skip_quiet;              /**< skip the model for windows with nothing new or unusual */
    int log_json;                /**< log.format: 1 json (one object per line on stderr), 0 text */
    int log_level;               /**< log.level: LOG_DEBUG … LOG_ERROR of anomalog/log.h */
    int text_syslog;             /**< text/plain bodies on /ingest are syslog lines (ingest.text_format: syslog) */
    int reanalyze;               /**< have the model read windows the baseline covered for it, once it answers */
    int fallback_baseline;       /**< 1: a model failure leaves the baseline's findings (analyzed by baseline);
                                      0: the window fails and is retried */
    /* redaction */
    int redact_ips;
    char **redact_patterns;      /**< PCRE2 patterns ("name=regex" names the kind) */
    size_t n_redact_patterns;
    /* services: what normal looks like for each, from the file */
    struct service_context {
        char *name;
        char *context;
    } *contexts;
    size_t n_contexts;
    /* routing: destinations, routes, suppression (see route.h) */
    route_config routing;
    incident_config incidents;     /**< incident.*: correlation of findings into incidents (incident.h) */
    int64_t notify_retry_base_ms;  /**< first wait before a failed delivery is tried again; doubles, with jitter */
    int64_t notify_retry_max_ms;   /**< longest such wait (a longer Retry-After is honoured) */
    int64_t notify_give_up_ms;     /**< a notification not delivered after this long is marked failed */
    int64_t notify_timeout_ms;     /**< one delivery attempt */
    uint64_t notify_senders;       /**< sender threads: a hung receiver holds up one of them, not the others */
    /* retention (see src/store/retention.c); 0 keeps forever */
    int64_t retention_lines_ms;    /**< raw lines of windows that ended longer ago than this are deleted */
    int64_t retention_windows_ms;  /**< windows, anomalies, notifications older than this are deleted */
    uint64_t retention_batch;      /**< rows deleted per retention transaction */
    char loki_service_labels[512]; /**< Loki stream labels naming the service, comma-separated, first wins */
    /* authentication (see src/http/auth.c): empty means open */
    char ingest_token[256];      /**< bearer token for the ingest endpoints */
    char read_token[256];        /**< bearer token for the read endpoints */
    char write_token[256];       /**< bearer token for what changes state (context, feedback, flush); also reads */
    struct ingest_token {        /**< more tokens (auth.tokens in the file); ingest-only unless scoped */
        char *token;
        char *service;           /**< every entry sent with the token lands in this service; NULL: unbound */
        unsigned scopes;         /**< CONFIG_SCOPE_* bits */
    } *tokens;
    size_t n_tokens;
    int db_set;                  /**< db was given (file, env or flag), not the default */
    char config_file[4096];      /**< the file read, or empty */
    char warnings[2048];         /**< lines for the log once it is set up (old names used), or empty */
} config;

/** Frees what config_load allocated (service contexts). */
void config_free(config *c);

/** Fills c with the embedded defaults. */
void config_defaults(config *c);

/**
 * Loads the configuration: defaults, then the file named by --config or
 * ANOMALOG_CONFIG, then ANOMALOG_* variables, then flags in argv.
 * @param[in,out] argc, argv  recognised flags are removed; the rest stay in order
 * @param[out] err  "ANOMALOG_WINDOW: invalid duration \"x\" (expected e.g. 5m, 300s)"
 * @return 0, or -1 with err filled.
 */
int config_load(config *c, int *argc, char **argv, char *err, size_t errlen);

/**
 * config_load for one command: only the settings in groups take flags (a
 * group is a key, a key prefix ending in ".", or "*" for all; NULL: no
 * settings flag and no --config). Another setting's flag is an error naming
 * the command; the environment and the file still set everything.
 */
int config_load_for(config *c, int *argc, char **argv, const char *const *groups, const char *command, char *err,
                    size_t errlen);

/** Prints the flags of the settings in groups, each with its variable, file key, default and description. */
void config_print_flags(FILE *f, const char *const *groups);

/** One line pointing at `serve --help`, for summaries. */
const char *config_flags_help(void);

#endif
