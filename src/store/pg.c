/*
 * pg.c — the PostgreSQL backend of the store (see backend.h), through libpq.
 *
 * Selected by a database setting that starts with postgres:// or
 * postgresql://. Several anomalog replicas may share one database; everything
 * here is written so that they can:
 *
 * - Connections: one for the writer thread (s->w), one for the scheduler,
 *   analysis workers and senders (s->bg, under s->bg_mu, short transactions),
 *   and a pool of read-only ones that HTTP threads borrow for one query.
 *   Each connection prepares its statements on first use (PQprepare) from the
 *   table below; every value is sent as a text parameter, never spliced in.
 * - Write path: one transaction per group commit. Services and windows are
 *   upserted (ON CONFLICT), one statement per distinct service and window of
 *   the commit, in (service name, window start) order so that replicas
 *   writing the same windows cannot deadlock; the lines go in with one COPY.
 *   Late lines are counted by the window upsert from the window's status at
 *   that moment, as in the SQLite backend.
 * - Work sharing: closing windows, claiming a window for analysis and
 *   claiming a notification lock their rows with FOR UPDATE SKIP LOCKED, so
 *   replicas never wait on, or take, each other's rows. A claimed window holds
 *   a lease (windows.lease_until); a replica that dies loses it when the lease
 *   expires and any replica claims the window again. The window's attempt
 *   count is the claim's token: finishing, failing or releasing a window
 *   takes effect only for the claim that is current, so a replica that comes
 *   back after losing its lease cannot record a second analysis. A finish
 *   takes a transaction-scoped advisory lock on its service before deciding
 *   suppression, so two replicas cannot both open a (service, type) interval.
 * - Start-up recovery takes over only expired leases: another replica's live
 *   claim is never stolen.
 * - Migrations: sql/pg/NNN_name.sql (the same versions as sql/), applied under
 *   a session advisory lock so replicas starting together apply each once.
 */
#include "anomalog/store.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/timeutil.h"
#include "store/backend.h"
#include "store/migrations.h"
#include "store/rows.h"

#define READ_POOL_MAX 16
#define MAX_PARAMS 16
#define MIGRATION_LOCK -7263 /* advisory lock key; service locks use service ids (> 0) */

enum pg_stmt {
    PS_SERVICE_UPSERT,
    PS_WINDOW_UPSERT,
    PS_WINDOW_GET,
    PS_WINDOWS_ALL,
    PS_WINDOWS_SERVICE,
    PS_COUNT_LOGS,
    PS_PING,
    PS_WINDOW_STATUS_COUNTS,
    PS_DB_SIZE,
    PS_CLOSE_DUE,
    PS_CLOSE_ALL,
    PS_CLOSE_SERVICE,
    PS_RECOVER,
    PS_CLAIM_CLOSED,
    PS_CLAIM_FAILED,
    PS_CLAIM_REANALYZE,
    PS_CLAIM_SET,
    PS_SERVICE_CONTEXT,
    PS_LINES,
    PS_ANOMALY_INSERT,
    PS_FINISH,
    PS_PROMPT_SAVE,
    PS_FAIL,
    PS_RELEASE,
    PS_COUNT_STATUS,
    PS_ANOMALIES_ALL,
    PS_ANOMALIES_SERVICE,
    PS_ANOMALIES_WINDOW,
    PS_PROMPT_GET,
    PS_SERVICES,
    PS_SERVICE_GET,
    PS_CONTEXT_SET,
    PS_TEMPLATES_LOAD,
    PS_TEMPLATES_KNOWN,
    PS_TEMPLATE_COUNTS,
    PS_WINDOW_HISTORY,
    PS_TEMPLATE_UPSERT,
    PS_TEMPLATE_COUNT_INSERT,
    PS_TEMPLATE_TOTAL,
    PS_WINDOW_ERRORS,
    PS_TEMPLATE_BENIGN,
    PS_FEEDBACK,
    PS_ANOMALY_GET,
    PS_WINDOW_SERVICE_ID,
    PS_WINDOW_REDACTIONS,
    PS_SERVICE_LOCK,
    PS_SUPPRESSION_GET,
    PS_SUPPRESSION_OPEN,
    PS_ANOMALY_SUPPRESS,
    PS_OUTBOX_INSERT,
    PS_OUTBOX_CLAIM,
    PS_OUTBOX_ATTEMPT,
    PS_OUTBOX_RESULT,
    PS_OUTBOX_RECOVER,
    PS_NOTIFICATIONS,
    PS_OUTBOX_COUNTS,
    PS_SUPPRESSIONS,
    PS_EXPIRE_LINES_NEXT,
    PS_EXPIRE_WINDOW_LINES,
    PS_EXPIRE_LINES_DONE,
    PS_EXPIRE_WINDOW_NEXT,
    PS_EXPIRE_ATTEMPTS,
    PS_EXPIRE_OUTBOX,
    PS_EXPIRE_ANOMALIES,
    PS_EXPIRE_PROMPT,
    PS_EXPIRE_TEMPLATE_COUNTS,
    PS_EXPIRE_WINDOW,
    PS_EXPIRE_SUPPRESSIONS,
    PS_IDEM_PUT,
    PS_IDEM_GET,
    PS_IDEM_PRUNE,
    PS__COUNT
};

#define WINDOW_COLS                                                                                     \
    "SELECT w.id, s.name, w.start_ms, w.end_ms, w.status, w.line_count, w.late_count, w.health, "        \
    "w.anomaly_count, w.analyzer, w.model, w.prompt_tokens, w.completion_tokens, w.latency_ms, w.error "

#define WINDOW_FILTERS                                                                                  \
    "AND ($1::bigint IS NULL OR w.end_ms > $1::bigint) AND ($2::bigint IS NULL OR w.start_ms < $2::bigint) " \
    "AND ($3::text IS NULL OR w.status = $3::text) AND ($8::text IS NULL OR w.health = $8::text) "          \
    "AND ($4::bigint IS NULL OR (w.start_ms, w.id) < ($4::bigint, $5::bigint)) "                             \
    "ORDER BY w.start_ms DESC, w.id DESC LIMIT $6::bigint"

#define ANOMALY_COLS                                                                                    \
    "SELECT a.id, a.window_id, s.name, a.window_start, a.window_end, a.severity, a.type, a.summary, "    \
    "a.evidence, a.recommended_action, a.created_at, a.analyzer, a.feedback, a.feedback_note, a.suppressed, "  \
    "a.suppressed_by, a.evidence_verified "

#define ANOMALY_FILTERS                                                                                 \
    "AND ($1::bigint IS NULL OR a.window_end > $1::bigint) AND ($2::bigint IS NULL OR a.window_start < $2::bigint) " \
    "AND a.severity_rank >= $3::int AND ($4::text IS NULL OR a.type = $4::text) "                        \
    "AND ($5::bigint IS NULL OR (a.window_start, a.id) < ($5::bigint, $6::bigint)) "                      \
    "ORDER BY a.window_start DESC, a.id DESC LIMIT $7::bigint"

/* a service's windows are analysed in order: each one's history is the windows before it */
#define NO_EARLIER_PENDING                                                                              \
    "NOT EXISTS (SELECT 1 FROM windows p WHERE p.service_id = w.service_id AND p.start_ms < w.start_ms "  \
    "AND p.status IN ('closed', 'analyzing')) "

static const char *const pg_sql[] = {
    [PS_SERVICE_UPSERT] = "INSERT INTO services(name, watermark, last_seen, created_at) VALUES ($1, $2, $3, $3) "
                          "ON CONFLICT (name) DO UPDATE SET "
                          "watermark = greatest(coalesce(services.watermark, excluded.watermark), excluded.watermark), "
                          "last_seen = greatest(services.last_seen, excluded.last_seen) RETURNING id",
    [PS_WINDOW_UPSERT] = "INSERT INTO windows(service_id, start_ms, end_ms, line_count, last_line_at) "
                         "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (service_id, start_ms) DO UPDATE SET "
                         "line_count = windows.line_count + excluded.line_count, "
                         "late_count = windows.late_count + CASE WHEN windows.status = 'open' THEN 0 "
                         "ELSE excluded.line_count END, last_line_at = excluded.last_line_at, lines_expired = 0 "
                         "RETURNING id",
    [PS_WINDOW_GET] = WINDOW_COLS "FROM windows w JOIN services s ON s.id = w.service_id WHERE w.id = $1",
    [PS_WINDOWS_ALL] = WINDOW_COLS "FROM windows w JOIN services s ON s.id = w.service_id "
                                   "WHERE ($7::text IS NULL OR s.name = $7::text) " WINDOW_FILTERS,
    [PS_WINDOWS_SERVICE] = WINDOW_COLS "FROM windows w JOIN services s ON s.id = w.service_id "
                                       "WHERE w.service_id = (SELECT id FROM services WHERE name = $7::text) "
                                       WINDOW_FILTERS,
    [PS_COUNT_LOGS] = "SELECT count(*) FROM logs",
    [PS_PING] = "SELECT max(version) FROM schema_version",
    [PS_WINDOW_STATUS_COUNTS] = "SELECT status, count(*) FROM windows GROUP BY status",
    [PS_DB_SIZE] = "SELECT pg_database_size(current_database())",
    [PS_CLOSE_DUE] = "UPDATE windows SET status = 'closed', closed_at = $1::bigint WHERE id IN (SELECT w.id FROM "
                     "windows w JOIN services s ON s.id = w.service_id WHERE w.status = 'open' AND "
                     "(w.end_ms + $2::bigint <= s.watermark "
                     "OR greatest(w.end_ms, coalesce(w.last_line_at, 0)) + $2::bigint <= $1::bigint) "
                     "FOR UPDATE OF w SKIP LOCKED)",
    [PS_CLOSE_ALL] = "UPDATE windows SET status = 'closed', closed_at = $1::bigint WHERE id IN (SELECT id FROM "
                     "windows WHERE status = 'open' FOR UPDATE SKIP LOCKED)",
    [PS_CLOSE_SERVICE] = "UPDATE windows SET status = 'closed', closed_at = $1::bigint WHERE id IN (SELECT id FROM "
                         "windows WHERE status = 'open' AND service_id = (SELECT id FROM services WHERE name = $2) "
                         "FOR UPDATE SKIP LOCKED)",
    /* only leases that ran out: a live replica's claim is its own */
    [PS_RECOVER] = "UPDATE windows SET status = 'closed', lease_until = NULL WHERE id IN (SELECT id FROM windows "
                   "WHERE status = 'analyzing' AND coalesce(lease_until, 0) <= $1::bigint FOR UPDATE SKIP LOCKED)",
    [PS_CLAIM_CLOSED] = "SELECT id FROM windows w WHERE (status = 'closed' OR (status = 'analyzing' AND "
                        "coalesce(lease_until, 0) <= $1::bigint)) AND " NO_EARLIER_PENDING
                        "ORDER BY end_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED",
    [PS_CLAIM_FAILED] = "SELECT id FROM windows WHERE status = 'failed' AND next_attempt_at <= $1::bigint "
                        "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
    [PS_CLAIM_REANALYZE] = "SELECT id FROM windows WHERE status = 'analyzed' AND next_attempt_at <= $1::bigint "
                           "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
    [PS_CLAIM_SET] = "UPDATE windows SET status = 'analyzing', attempts = attempts + 1, lease_until = $2::bigint "
                     "WHERE id = $1 RETURNING service_id, start_ms, end_ms, line_count, attempts, "
                     "(SELECT name FROM services s WHERE s.id = windows.service_id), health",
    [PS_SERVICE_CONTEXT] = "SELECT context FROM services WHERE id = $1",
    [PS_LINES] = "SELECT ts, level, message FROM logs WHERE window_id = $1 ORDER BY ts, id LIMIT $2",
    [PS_ANOMALY_INSERT] = "INSERT INTO anomalies(window_id, service_id, window_start, window_end, severity, "
                          "severity_rank, type, summary, evidence, recommended_action, created_at, analyzer, "
                          "template_ids, evidence_verified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
                          "$13, $14) RETURNING id",
    [PS_FINISH] = "UPDATE windows SET status = 'analyzed', health = $2, anomaly_count = anomaly_count + $3, "
                  "analyzer = $4, model = $5, prompt_tokens = $6, completion_tokens = $7, latency_ms = $8, "
                  "error = $10, next_attempt_at = $11, analyzed_at = $9, lease_until = NULL "
                  "WHERE id = $1 AND status = 'analyzing' AND attempts = $12",
    [PS_PROMPT_SAVE] = "INSERT INTO window_prompts(window_id, system_prompt, user_prompt, digest) "
                       "VALUES ($1, $2, $3, $4) ON CONFLICT (window_id) DO UPDATE SET "
                       "system_prompt = excluded.system_prompt, user_prompt = excluded.user_prompt, "
                       "digest = excluded.digest",
    [PS_FAIL] = "UPDATE windows SET status = 'failed', health = 'unknown', error = $2, next_attempt_at = $3, "
                "analyzer = $4, model = $5, prompt_tokens = $6, completion_tokens = $7, latency_ms = $8, "
                "lease_until = NULL WHERE id = $1 AND status = 'analyzing' AND attempts = $9",
    [PS_RELEASE] = "UPDATE windows SET status = 'closed', attempts = greatest(attempts - 1, 0), lease_until = NULL "
                   "WHERE id = $1 AND status = 'analyzing' AND attempts = $2",
    [PS_COUNT_STATUS] = "SELECT count(*) FROM windows WHERE $1::text IS NULL OR status = $1::text",
    [PS_ANOMALIES_ALL] = ANOMALY_COLS "FROM anomalies a JOIN services s ON s.id = a.service_id "
                                      "WHERE ($8::text IS NULL OR s.name = $8::text) " ANOMALY_FILTERS,
    [PS_ANOMALIES_SERVICE] = ANOMALY_COLS "FROM anomalies a JOIN services s ON s.id = a.service_id "
                                          "WHERE a.service_id = (SELECT id FROM services WHERE name = $8::text) "
                                          ANOMALY_FILTERS,
    [PS_ANOMALIES_WINDOW] = ANOMALY_COLS "FROM anomalies a JOIN services s ON s.id = a.service_id "
                                         "WHERE a.window_id = $1 ORDER BY a.severity_rank DESC, a.id",
    [PS_PROMPT_GET] = "SELECT p.system_prompt, p.user_prompt, p.digest, w.redactions FROM window_prompts p "
                      "JOIN windows w ON w.id = p.window_id WHERE p.window_id = $1",
    [PS_SERVICES] = "SELECT name, context, context_source, watermark, last_seen, created_at FROM services "
                    "ORDER BY name COLLATE \"C\"",
    [PS_SERVICE_GET] = "SELECT name, context, context_source, watermark, last_seen, created_at FROM services "
                       "WHERE name = $1",
    [PS_CONTEXT_SET] = "INSERT INTO services(name, last_seen, created_at, context, context_source) "
                       "VALUES ($1, $2, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET context = excluded.context, "
                       "context_source = excluded.context_source "
                       "WHERE excluded.context_source = 'api' OR coalesce(services.context_source, '') <> 'api'",
    [PS_TEMPLATES_LOAD] = "SELECT id, text, total FROM templates WHERE service_id = $1 ORDER BY id",
    [PS_TEMPLATES_KNOWN] = "SELECT id, (first_seen < $2::bigint)::int, benign FROM templates WHERE service_id = $1 "
                           "ORDER BY id",
    [PS_TEMPLATE_COUNTS] = "SELECT template_id, sum(count), count(*) FROM template_counts WHERE service_id = $1 "
                           "AND window_start >= $2 AND window_start < $3 GROUP BY template_id",
    [PS_WINDOW_HISTORY] = "SELECT count(*), avg(error_lines) FROM windows WHERE service_id = $1 AND start_ms >= $2 "
                          "AND start_ms < $3 AND error_lines IS NOT NULL",
    [PS_TEMPLATE_UPSERT] = "INSERT INTO templates(service_id, id, text, max_level, first_seen, last_seen, total) "
                           "VALUES ($1, $2, $3, $4, $5, $5, 0) ON CONFLICT (service_id, id) DO UPDATE SET "
                           "text = excluded.text, max_level = greatest(templates.max_level, excluded.max_level), "
                           "first_seen = least(templates.first_seen, excluded.first_seen), "
                           "last_seen = greatest(templates.last_seen, excluded.last_seen)",
    [PS_TEMPLATE_COUNT_INSERT] = "INSERT INTO template_counts(service_id, window_start, template_id, count) "
                                 "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    [PS_TEMPLATE_TOTAL] = "UPDATE templates SET total = total + $3 WHERE service_id = $1 AND id = $2",
    [PS_WINDOW_ERRORS] = "UPDATE windows SET error_lines = $2 WHERE id = $1",
    [PS_TEMPLATE_BENIGN] = "UPDATE templates SET benign = 1 WHERE service_id = $1 AND id = $2",
    [PS_FEEDBACK] = "UPDATE anomalies SET feedback = $2, feedback_note = $3, feedback_at = $4 WHERE id = $1 "
                    "RETURNING service_id, template_ids",
    [PS_ANOMALY_GET] = ANOMALY_COLS "FROM anomalies a JOIN services s ON s.id = a.service_id WHERE a.id = $1",
    [PS_WINDOW_SERVICE_ID] = "SELECT service_id FROM windows WHERE id = $1",
    [PS_WINDOW_REDACTIONS] = "UPDATE windows SET redactions = $2 WHERE id = $1",
    [PS_SERVICE_LOCK] = "SELECT pg_advisory_xact_lock($1::bigint)",
    [PS_SUPPRESSION_GET] = "SELECT opened_by, severity_rank, opened_at, until_ms FROM suppressions "
                           "WHERE service_id = $1 AND type = $2",
    [PS_SUPPRESSION_OPEN] = "INSERT INTO suppressions(service_id, type, opened_by, severity_rank, opened_at, until_ms) "
                            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (service_id, type) DO UPDATE SET "
                            "opened_by = excluded.opened_by, severity_rank = excluded.severity_rank, "
                            "opened_at = excluded.opened_at, until_ms = excluded.until_ms",
    [PS_ANOMALY_SUPPRESS] = "UPDATE anomalies SET suppressed = 1, suppressed_by = $2 WHERE id = $1",
    [PS_OUTBOX_INSERT] = "INSERT INTO outbox(anomaly_id, destination, kind, dedup_key, payload, status, "
                         "next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    [PS_OUTBOX_CLAIM] = "UPDATE outbox SET claimed_at = $1::bigint, next_attempt_at = $1::bigint + $2::bigint "
                        "WHERE id = (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1::bigint "
                        "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                        "RETURNING id, anomaly_id, destination, kind, dedup_key, payload, attempts, created_at",
    [PS_OUTBOX_ATTEMPT] = "INSERT INTO delivery_attempts(outbox_id, at, http_status, outcome, error) "
                          "VALUES ($1, $2, $3, $4, $5)",
    [PS_OUTBOX_RESULT] = "UPDATE outbox SET attempts = attempts + 1, claimed_at = NULL, "
                         "status = CASE $2::text WHEN 'retry' THEN 'pending' ELSE $2::text END, "
                         "sent_at = CASE WHEN $2::text = 'sent' THEN $3::bigint END, "
                         "next_attempt_at = CASE WHEN $2::text = 'retry' THEN $4::bigint END, last_error = $5 "
                         "WHERE id = $1",
    /* a claimed row's lease is its next_attempt_at: only rows whose lease ran out are released */
    [PS_OUTBOX_RECOVER] = "UPDATE outbox SET claimed_at = NULL WHERE id IN (SELECT id FROM outbox "
                          "WHERE status = 'pending' AND claimed_at IS NOT NULL AND next_attempt_at <= $1::bigint "
                          "FOR UPDATE SKIP LOCKED)",
    [PS_NOTIFICATIONS] = "SELECT o.id, o.anomaly_id, o.destination, o.kind, o.dedup_key, o.status, o.attempts, "
                         "o.next_attempt_at, o.created_at, o.sent_at, o.last_error, o.payload, s.name, a.severity, "
                         "a.type, a.window_id FROM outbox o JOIN anomalies a ON a.id = o.anomaly_id "
                         "JOIN services s ON s.id = a.service_id WHERE ($1::text IS NULL OR o.status = $1::text) "
                         "AND ($2::bigint IS NULL OR o.id < $2::bigint) ORDER BY o.id DESC LIMIT $3::bigint",
    [PS_OUTBOX_COUNTS] = "SELECT 'status', status, count(*) FROM outbox GROUP BY status UNION ALL "
                         "SELECT 'attempt', outcome, count(*) FROM delivery_attempts GROUP BY outcome",
    [PS_SUPPRESSIONS] = "SELECT s.name, p.type, p.opened_by, a.severity, p.opened_at, p.until_ms, "
                        "(SELECT count(*) FROM anomalies x WHERE x.suppressed_by = p.opened_by) "
                        "FROM suppressions p JOIN services s ON s.id = p.service_id "
                        "JOIN anomalies a ON a.id = p.opened_by WHERE p.until_ms > $1::bigint "
                        "ORDER BY p.until_ms DESC",
    /* retention (see 008_retention.sql); replicas skip the windows another one is expiring */
    [PS_EXPIRE_LINES_NEXT] = "SELECT id FROM windows WHERE lines_expired = 0 AND end_ms <= $1::bigint "
                             "AND status IN ('analyzed', 'failed') ORDER BY end_ms LIMIT 1 FOR UPDATE SKIP LOCKED",
    [PS_EXPIRE_WINDOW_LINES] = "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE window_id = $1 LIMIT $2)",
    [PS_EXPIRE_LINES_DONE] = "UPDATE windows SET lines_expired = 1 WHERE id = $1",
    [PS_EXPIRE_WINDOW_NEXT] = "SELECT id, service_id, start_ms FROM windows WHERE start_ms < $1::bigint "
                              "AND end_ms <= $1::bigint AND status <> 'analyzing' "
                              "AND coalesce(analyzed_at, closed_at, end_ms) <= $1::bigint "
                              "ORDER BY start_ms LIMIT 1 FOR UPDATE SKIP LOCKED",
    [PS_EXPIRE_ATTEMPTS] = "DELETE FROM delivery_attempts WHERE outbox_id IN (SELECT o.id FROM anomalies a "
                           "JOIN outbox o ON o.anomaly_id = a.id WHERE a.window_id = $1)",
    [PS_EXPIRE_OUTBOX] = "DELETE FROM outbox WHERE anomaly_id IN (SELECT id FROM anomalies WHERE window_id = $1)",
    [PS_EXPIRE_ANOMALIES] = "DELETE FROM anomalies WHERE window_id = $1",
    [PS_EXPIRE_PROMPT] = "DELETE FROM window_prompts WHERE window_id = $1",
    [PS_EXPIRE_TEMPLATE_COUNTS] = "DELETE FROM template_counts WHERE service_id = $1 AND window_start = $2",
    [PS_EXPIRE_WINDOW] = "DELETE FROM windows WHERE id = $1",
    [PS_EXPIRE_SUPPRESSIONS] = "DELETE FROM suppressions WHERE until_ms < $1",
    /* byte strings travel as bytea's hex text (\x...), both ways */
    [PS_IDEM_PUT] = "INSERT INTO idempotency_keys(scope, key, endpoint, body_sha256, status, content_type, body, "
                    "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (scope, key) DO UPDATE SET "
                    "endpoint = excluded.endpoint, body_sha256 = excluded.body_sha256, status = excluded.status, "
                    "content_type = excluded.content_type, body = excluded.body, created_at = excluded.created_at",
    [PS_IDEM_GET] = "SELECT endpoint, body_sha256, status, content_type, body, created_at FROM idempotency_keys "
                    "WHERE scope = $1 AND key = $2 AND created_at > $3",
    [PS_IDEM_PRUNE] = "DELETE FROM idempotency_keys WHERE id IN (SELECT id FROM idempotency_keys "
                      "WHERE created_at <= $1 ORDER BY created_at LIMIT $2)",
};
_Static_assert(sizeof pg_sql / sizeof pg_sql[0] == PS__COUNT, "one SQL text per statement id");

typedef struct pconn {
    PGconn *c;
    unsigned char prepared[PS__COUNT];
} pconn;

typedef struct pg {
    store base; /* first: the dispatcher sees a store */
    char *url;
    pconn w;
    pconn bg;
    pthread_mutex_t bg_mu;
    pthread_mutex_t pool_mu;
    pconn *pool[READ_POOL_MAX];
    int pool_n;
    int version;
} pg;

static const store_ops pg_ops;

/* ---- parameters, statements, results ------------------------------------- */

/* Text parameters of one statement; a NULL value is SQL NULL. */
typedef struct params {
    const char *v[MAX_PARAMS];
    char num[MAX_PARAMS][24];
    int n;
} params;

static void p_text(params *p, const char *v)
{
    p->v[p->n++] = v;
}

static void p_i64(params *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof p->num[p->n], "%lld", (long long)v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

/* v, or NULL when negative (unknown) */
static void p_i64_or_null(params *p, int64_t v)
{
    if (v >= 0)
        p_i64(p, v);
    else
        p_text(p, NULL);
}

/* How a failed call is reported: STORE_BUSY for what a retry may fix. */
static store_rc fail_res(pconn *c, PGresult *r, const char *what, char *err, size_t errlen)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(c->c);
    if (err && errlen) {
        snprintf(err, errlen, "%s: %s", what, msg);
        size_t n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
    }
    store_rc rc = STORE_ERROR;
    if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03")))
        rc = STORE_BUSY;
    if (PQstatus(c->c) == CONNECTION_BAD) {
        /* the server went away: reconnect for the next call (prepared statements are gone) */
        PQreset(c->c);
        memset(c->prepared, 0, sizeof c->prepared);
        rc = STORE_BUSY;
    }
    PQclear(r);
    return rc;
}

/*
 * Runs statement id with p on c. Returns the result (PQclear it) or NULL with
 * *rc and err set.
 */
static PGresult *run(pconn *c, enum pg_stmt id, const params *p, store_rc *rc, char *err, size_t errlen)
{
    char name[16];
    snprintf(name, sizeof name, "s%d", (int)id);
    if (!c->prepared[id]) {
        PGresult *r = PQprepare(c->c, name, pg_sql[id], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            *rc = fail_res(c, r, "prepare", err, errlen);
            return NULL;
        }
        PQclear(r);
        c->prepared[id] = 1;
    }
    PGresult *r = PQexecPrepared(c->c, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        *rc = fail_res(c, r, "query", err, errlen);
        return NULL;
    }
    *rc = STORE_OK;
    return r;
}

/* Runs a statement whose rows are not wanted; *changed gets the rows it touched (may be NULL). */
static store_rc run0(pconn *c, enum pg_stmt id, const params *p, long *changed, char *err, size_t errlen)
{
    store_rc rc;
    PGresult *r = run(c, id, p, &rc, err, errlen);
    if (!r)
        return rc;
    if (changed)
        *changed = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return STORE_OK;
}

static store_rc exec_sql(pconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c->c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return fail_res(c, r, sql, err, errlen);
    PQclear(r);
    return STORE_OK;
}

static int pg_null(const store_row *r, int col)
{
    return PQgetisnull(r->impl, r->index, col);
}

static int64_t pg_i64(const store_row *r, int col)
{
    return strtoll(PQgetvalue(r->impl, r->index, col), NULL, 10);
}

static double pg_f64(const store_row *r, int col)
{
    return strtod(PQgetvalue(r->impl, r->index, col), NULL);
}

static const char *pg_text(const store_row *r, int col)
{
    return PQgetisnull(r->impl, r->index, col) ? NULL : PQgetvalue(r->impl, r->index, col);
}

static store_row pg_row(const PGresult *res, int i)
{
    return (store_row){.impl = res, .index = i, .null = pg_null, .i64 = pg_i64, .f64 = pg_f64, .text = pg_text};
}

/* ---- connections ----------------------------------------------------------- */

static int conn_open(pconn *c, const char *url, int readonly, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    const char *keys[] = {"dbname", "application_name", "options", NULL};
    const char *vals[] = {url, "anomalog", readonly ? "-c default_transaction_read_only=on" : NULL, NULL};
    if (!readonly)
        keys[2] = NULL;
    c->c = PQconnectdbParams(keys, vals, 1);
    if (!c->c || PQstatus(c->c) != CONNECTION_OK) {
        /* libpq's message names host and port, never the password */
        snprintf(err, errlen, "postgresql: %s", c->c ? PQerrorMessage(c->c) : "out of memory");
        size_t n = strlen(err);
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
        PQfinish(c->c);
        c->c = NULL;
        return -1;
    }
    PGresult *r = PQexec(c->c, "SET client_min_messages = warning");
    PQclear(r);
    return 0;
}

static void conn_close(pconn *c)
{
    if (c && c->c) {
        PQfinish(c->c);
        c->c = NULL;
    }
}

static pconn *reader_get(pg *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->pool_mu);
    pconn *c = s->pool_n ? s->pool[--s->pool_n] : NULL;
    pthread_mutex_unlock(&s->pool_mu);
    if (c)
        return c;
    if (!(c = malloc(sizeof *c))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (conn_open(c, s->url, 1, err, errlen)) {
        free(c);
        return NULL;
    }
    return c;
}

static void reader_put(pg *s, pconn *c)
{
    pthread_mutex_lock(&s->pool_mu);
    if (s->pool_n < READ_POOL_MAX && PQstatus(c->c) == CONNECTION_OK) {
        s->pool[s->pool_n++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (c) {
        conn_close(c);
        free(c);
    }
}

/* Runs fn over the rows of statement id on a reader connection; fn returns 0 to go on. */
static store_rc read_rows(pg *s, enum pg_stmt id, const params *p, row_fn fn, void *arg, char *err, size_t errlen)
{
    pconn *c = reader_get(s, err, errlen);
    if (!c)
        return STORE_ERROR;
    store_rc rc;
    PGresult *r = run(c, id, p, &rc, err, errlen);
    if (r) {
        for (int i = 0, n = PQntuples(r); i < n; i++) {
            store_row row = pg_row(r, i);
            if (fn(&row, arg))
                break;
        }
        PQclear(r);
    }
    reader_put(s, c);
    return rc;
}

/* ---- migrations, open, close ----------------------------------------------- */

static int migrate(pg *s, char *err, size_t errlen)
{
    pconn *c = &s->w;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%d)", MIGRATION_LOCK);
    if (exec_sql(c, sql, err, errlen))
        return -1;
    int ok = 0;
    PGresult *applied = NULL;
    if (exec_sql(c,
                 "CREATE TABLE IF NOT EXISTS schema_version ("
                 " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                 err, errlen))
        goto out;
    /* every version the database has recorded: a migration numbered below the highest may land later */
    applied = PQexec(c->c, "SELECT version FROM schema_version ORDER BY version");
    if (PQresultStatus(applied) != PGRES_TUPLES_OK) {
        fail_res(c, applied, "reading schema_version", err, errlen);
        applied = NULL;
        goto out;
    }
    int napplied = PQntuples(applied);
    s->version = napplied ? atoi(PQgetvalue(applied, napplied - 1, 0)) : 0;
    if (s->version > store_schema_latest()) {
        snprintf(err, errlen, "database schema version %d is newer than this binary's %d: upgrade anomalog",
                 s->version, store_schema_latest());
        goto out;
    }
    for (int i = 0; i < pg_migrations_count; i++) {
        const struct migration *m = &pg_migrations[i];
        int done = 0;
        for (int k = 0; k < napplied && !done; k++)
            done = atoi(PQgetvalue(applied, k, 0)) == m->version;
        if (done)
            continue;
        char what[512], num[2][24];
        if (exec_sql(c, "BEGIN", err, errlen))
            goto out;
        if (exec_sql(c, m->sql, what, sizeof what)) {
            snprintf(err, errlen, "migration pg/%s: %s", m->name, what);
            exec_sql(c, "ROLLBACK", NULL, 0);
            goto out;
        }
        snprintf(num[0], sizeof num[0], "%d", m->version);
        snprintf(num[1], sizeof num[1], "%lld", (long long)time_now_ms());
        const char *v[3] = {num[0], m->name, num[1]};
        PGresult *r = PQexecParams(c->c, "INSERT INTO schema_version(version, name, applied_at) VALUES ($1, $2, $3)", 3, NULL,
                         v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fail_res(c, r, m->name, err, errlen);
            exec_sql(c, "ROLLBACK", NULL, 0);
            goto out;
        }
        PQclear(r);
        if (exec_sql(c, "COMMIT", err, errlen))
            goto out;
        if (m->version > s->version)
            s->version = m->version;
    }
    ok = 1;
out:
    PQclear(applied);
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%d)", MIGRATION_LOCK);
    exec_sql(c, sql, NULL, 0);
    return ok ? 0 : -1;
}

static void pg_close(store *base)
{
    pg *s = (pg *)base;
    if (!s)
        return;
    for (int i = 0; i < s->pool_n; i++) {
        conn_close(s->pool[i]);
        free(s->pool[i]);
    }
    conn_close(&s->w);
    conn_close(&s->bg);
    free(s->url);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->bg_mu);
    free(s);
}

store_rc store_pg_open(const char *url, store_durability durability, store **out, char *err, size_t errlen)
{
    *out = NULL;
    int latest = pg_migrations_count ? pg_migrations[pg_migrations_count - 1].version : 0;
    if (latest != store_schema_latest()) {
        snprintf(err, errlen, "this binary's PostgreSQL migrations stop at %d, its SQLite ones at %d", latest,
                 store_schema_latest());
        return STORE_ERROR;
    }
    pg *s = calloc(1, sizeof *s);
    if (!s || !(s->url = strdup(url))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    s->base.ops = &pg_ops;
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_mutex_init(&s->bg_mu, NULL);
    /* full: every commit waits for its WAL flush; normal lets the writer's commits return before it */
    const char *sync = durability == STORE_DURABLE_FULL ? "SET synchronous_commit = on" : "SET synchronous_commit = off";
    if (conn_open(&s->w, url, 0, err, errlen) || migrate(s, err, errlen) || exec_sql(&s->w, sync, err, errlen) ||
        conn_open(&s->bg, url, 0, err, errlen)) {
        pg_close(&s->base);
        return STORE_ERROR;
    }
    *out = &s->base;
    return STORE_OK;
}

static int pg_schema_version(store *base)
{
    return ((pg *)base)->version;
}

/* ---- write path ------------------------------------------------------------ */

/* One entry of the commit, with where it goes. */
typedef struct ent {
    const log_entry *e;
    int64_t received, start;
    int64_t window_id;
} ent;

static int ent_cmp(const void *x, const void *y)
{
    const ent *a = *(const ent *const *)x, *b = *(const ent *const *)y;
    int c = strcmp(a->e->service, b->e->service);
    return c ? c : (a->start > b->start) - (a->start < b->start);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Growable buffer of COPY text. */
typedef struct cbuf {
    char *p;
    size_t n, cap;
} cbuf;

static int cb_put(cbuf *b, const char *s, size_t n)
{
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : 1 << 16;
        while (nc < b->n + n)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np)
            return -1;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

/* A COPY text field: \N for NULL, else the bytes with backslash, tab, newline and CR escaped. */
static int cb_field(cbuf *b, const char *s, size_t n, char sep)
{
    int rc = 0;
    if (!s) {
        rc = cb_put(b, "\\N", 2);
    } else {
        size_t from = 0;
        for (size_t i = 0; i < n && !rc; i++) {
            const char *esc = s[i] == '\\' ? "\\\\" : s[i] == '\t' ? "\\t" : s[i] == '\n' ? "\\n" : s[i] == '\r' ? "\\r" : NULL;
            if (esc) {
                rc = cb_put(b, s + from, i - from) || cb_put(b, esc, 2);
                from = i + 1;
            }
        }
        if (!rc)
            rc = cb_put(b, s + from, n - from);
    }
    return rc ? rc : cb_put(b, &sep, 1);
}

static int cb_num(cbuf *b, int64_t v, char sep)
{
    char t[24];
    int k = snprintf(t, sizeof t, "%lld", (long long)v);
    return cb_field(b, t, (size_t)k, sep);
}

static store_rc copy_logs(pg *s, ent *v, size_t n, char *err, size_t errlen)
{
    PGresult *r = PQexec(s->w.c,
                         "COPY logs(window_id, ts, level, message, attributes, received_at) FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN)
        return fail_res(&s->w, r, "copy", err, errlen);
    PQclear(r);
    cbuf b = {0};
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        const log_entry *e = v[i].e;
        bad = cb_num(&b, v[i].window_id, '\t') || cb_num(&b, e->ts_ms, '\t') ||
              cb_field(&b, e->level, e->level ? strlen(e->level) : 0, '\t') ||
              cb_field(&b, e->message, e->message_len, '\t') ||
              cb_field(&b, e->attributes, e->attributes ? strlen(e->attributes) : 0, '\t') ||
              cb_num(&b, v[i].received, '\n');
        if (!bad && (b.n >= (1 << 20) || i + 1 == n)) {
            bad = PQputCopyData(s->w.c, b.p, (int)b.n) != 1;
            b.n = 0;
        }
    }
    free(b.p);
    if (PQputCopyEnd(s->w.c, bad ? "out of memory" : NULL) != 1)
        bad = 1;
    store_rc rc = STORE_OK;
    while ((r = PQgetResult(s->w.c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == STORE_OK)
            rc = fail_res(&s->w, r, "copy", err, errlen);
        else
            PQclear(r);
    }
    if (bad && rc == STORE_OK) {
        snprintf(err, errlen, "copy: %s", PQerrorMessage(s->w.c));
        rc = STORE_ERROR;
    }
    return rc;
}

/* Upserts the services and windows of the sorted entries and fills in their window ids. */
static store_rc upsert_windows(pg *s, ent **sorted, size_t n, int64_t window_ms, int64_t now, char *err,
                               size_t errlen)
{
    store_rc rc = STORE_OK;
    size_t i = 0;
    while (i < n && rc == STORE_OK) {
        const char *name = sorted[i]->e->service;
        size_t j = i;
        int64_t max_ts = sorted[i]->e->ts_ms;
        while (j < n && !strcmp(sorted[j]->e->service, name)) {
            if (sorted[j]->e->ts_ms > max_ts)
                max_ts = sorted[j]->e->ts_ms;
            j++;
        }
        params p = {.n = 0};
        p_text(&p, name);
        p_i64(&p, max_ts);
        p_i64(&p, now);
        PGresult *r = run(&s->w, PS_SERVICE_UPSERT, &p, &rc, err, errlen);
        if (!r)
            break;
        int64_t sid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        for (size_t k = i; k < j && rc == STORE_OK;) {
            size_t m = k;
            while (m < j && sorted[m]->start == sorted[k]->start)
                m++;
            params q = {.n = 0};
            p_i64(&q, sid);
            p_i64(&q, sorted[k]->start);
            p_i64(&q, sorted[k]->start + window_ms);
            p_i64(&q, (int64_t)(m - k));
            p_i64(&q, now);
            if (!(r = run(&s->w, PS_WINDOW_UPSERT, &q, &rc, err, errlen)))
                break;
            int64_t wid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            PQclear(r);
            for (; k < m; k++)
                sorted[k]->window_id = wid;
        }
        i = j;
    }
    return rc;
}

/* bytea's hex text of n bytes (malloc'd), or NULL */
static char *hex_of(const void *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *out = malloc(2 * n + 3);
    if (!out)
        return NULL;
    out[0] = '\\';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = digits[((const unsigned char *)p)[i] >> 4];
        out[3 + 2 * i] = digits[((const unsigned char *)p)[i] & 15];
    }
    out[2 * n + 2] = '\0';
    return out;
}

/* The bytes of bytea hex text t (\x...) into a malloc'd buffer, NUL-terminated after *len bytes; NULL on error. */
static char *bytes_of(const char *t, size_t *len)
{
    size_t n = strlen(t);
    if (n < 2 || t[0] != '\\' || t[1] != 'x' || n % 2)
        return NULL;
    n = (n - 2) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; out && i < n; i++) {
        char h[3] = {t[2 + 2 * i], t[3 + 2 * i], 0};
        out[i] = (char)strtol(h, NULL, 16);
    }
    if (out)
        out[n] = '\0';
    if (len)
        *len = n;
    return out;
}

/* Records a batch's Idempotency-Key in the transaction of its entries. */
static store_rc write_idempotency(pg *s, const batch_idempotency *k, char *err, size_t errlen)
{
    char *sha = hex_of(k->body_sha256, sizeof k->body_sha256), *body = hex_of(k->body ? k->body : "", k->body_len);
    store_rc rc = STORE_ERROR;
    if (sha && body) {
        params p = {.n = 0};
        p_text(&p, k->scope);
        p_text(&p, k->key);
        p_text(&p, k->endpoint);
        p_text(&p, sha);
        p_i64(&p, k->status);
        p_text(&p, k->content_type);
        p_text(&p, body);
        p_i64(&p, k->created_ms);
        rc = run0(&s->w, PS_IDEM_PUT, &p, NULL, err, errlen);
    } else {
        snprintf(err, errlen, "out of memory");
    }
    free(sha);
    free(body);
    return rc;
}

static store_rc pg_idempotency_prune(store *base, int64_t before_ms, int limit, int *deleted, char *err,
                                     size_t errlen)
{
    params p = {.n = 0};
    p_i64(&p, before_ms);
    p_i64(&p, limit);
    long n = 0;
    store_rc rc = run0(&((pg *)base)->w, PS_IDEM_PRUNE, &p, &n, err, errlen);
    *deleted = (int)n;
    return rc;
}

static int idem_row(const store_row *r, void *arg)
{
    idempotency_record *out = arg;
    size_t n = 0;
    char *sha = bytes_of(row_text(r, 1), &n);
    if (sha && n == sizeof out->body_sha256)
        memcpy(out->body_sha256, sha, sizeof out->body_sha256);
    free(sha);
    out->status = (int)row_i64(r, 2);
    row_copy(r, 3, out->content_type, sizeof out->content_type);
    out->created_ms = row_i64(r, 5);
    out->endpoint = strdup(row_text(r, 0));
    out->body = bytes_of(row_text(r, 4), &out->body_len);
    return 1;
}

static store_rc pg_idempotency_get(store *base, const char *scope, const char *key, int64_t after_ms,
                                   idempotency_record *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    params p = {.n = 0};
    p_text(&p, scope);
    p_text(&p, key);
    p_i64(&p, after_ms);
    out->status = -1;
    store_rc rc = read_rows((pg *)base, PS_IDEM_GET, &p, idem_row, out, err, errlen);
    if (rc == STORE_OK && out->status < 0)
        rc = STORE_NOTFOUND;
    else if (rc == STORE_OK && (!out->endpoint || !out->body)) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc != STORE_OK)
        idempotency_record_free(out);
    return rc;
}

static store_rc pg_write_batches(store *base, batch *const *batches, size_t nb, int64_t window_ms, char *err,
                                 size_t errlen)
{
    pg *s = (pg *)base;
    size_t n = 0;
    for (size_t b = 0; b < nb; b++)
        n += batches[b]->count;
    ent *v = malloc((n ? n : 1) * sizeof *v);
    ent **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!v || !sorted) {
        free(v);
        free(sorted);
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    size_t k = 0;
    for (size_t b = 0; b < nb; b++)
        for (size_t i = 0; i < batches[b]->count; i++, k++) {
            const log_entry *e = &batches[b]->entries[i];
            v[k] = (ent){.e = e, .received = batches[b]->received_ms,
                         .start = floor_div(e->ts_ms, window_ms) * window_ms};
            sorted[k] = &v[k];
        }
    /* services and windows in one order in every replica: no deadlock between writers */
    qsort(sorted, n, sizeof *sorted, ent_cmp);
    int64_t now = time_now_ms();
    store_rc rc = exec_sql(&s->w, "BEGIN", err, errlen);
    if (rc == STORE_OK)
        rc = upsert_windows(s, sorted, n, window_ms, now, err, errlen);
    if (rc == STORE_OK && n) /* a batch may be empty and carry only its Idempotency-Key */
        rc = copy_logs(s, v, n, err, errlen);
    for (size_t b = 0; b < nb && rc == STORE_OK; b++)
        if (batches[b]->idem)
            rc = write_idempotency(s, batches[b]->idem, err, errlen);
    if (rc == STORE_OK)
        rc = exec_sql(&s->w, "COMMIT", err, errlen);
    if (rc != STORE_OK && PQtransactionStatus(s->w.c) != PQTRANS_IDLE)
        exec_sql(&s->w, "ROLLBACK", NULL, 0);
    free(v);
    free(sorted);
    return rc;
}

/* ---- reads ------------------------------------------------------------------ */

typedef struct windows_acc {
    window_info *v;
    size_t n;
} windows_acc;

static int window_into(const store_row *r, void *arg)
{
    windows_acc *a = arg;
    window_from_row(r, &a->v[a->n++]);
    return 0;
}

static store_rc pg_windows_list(store *base, const window_query *wq, window_info **rows, size_t *n, int *has_more,
                                char *err, size_t errlen)
{
    pg *s = (pg *)base;
    *rows = NULL;
    *n = 0;
    *has_more = 0;
    params p = {.n = 0};
    if (wq->has_since)
        p_i64(&p, wq->since_ms);
    else
        p_text(&p, NULL);
    if (wq->has_until)
        p_i64(&p, wq->until_ms);
    else
        p_text(&p, NULL);
    p_text(&p, wq->status);
    if (wq->has_cursor) {
        p_i64(&p, wq->cursor_start);
        p_i64(&p, wq->cursor_id);
    } else {
        p_text(&p, NULL);
        p_text(&p, NULL);
    }
    p_i64(&p, wq->limit + 1);
    p_text(&p, wq->service);
    p_text(&p, wq->health);
    windows_acc a = {calloc((size_t)wq->limit + 1, sizeof *a.v), 0};
    if (!a.v) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    store_rc rc = read_rows(s, wq->service ? PS_WINDOWS_SERVICE : PS_WINDOWS_ALL, &p, window_into, &a, err, errlen);
    if (rc != STORE_OK) {
        free(a.v);
        return rc;
    }
    if (a.n > (size_t)wq->limit) {
        *has_more = 1;
        a.n = (size_t)wq->limit;
    }
    *rows = a.v;
    *n = a.n;
    return STORE_OK;
}

static int window_one(const store_row *r, void *arg)
{
    window_from_row(r, arg);
    return 1;
}

static store_rc pg_window_get(store *base, int64_t id, window_info *out, char *err, size_t errlen)
{
    params p = {.n = 0};
    p_i64(&p, id);
    out->id = 0;
    store_rc rc = read_rows((pg *)base, PS_WINDOW_GET, &p, window_one, out, err, errlen);
    return rc == STORE_OK && !out->id ? STORE_NOTFOUND : rc;
}

static int i64_row(const store_row *r, void *arg)
{
    *(int64_t *)arg = row_i64(r, 0);
    return 1;
}

static store_rc pg_count_logs(store *base, int64_t *count, char *err, size_t errlen)
{
    *count = 0;
    return read_rows((pg *)base, PS_COUNT_LOGS, NULL, i64_row, count, err, errlen);
}

static int status_row(const store_row *r, void *arg)
{
    static const char *const statuses[5] = {"open", "closed", "analyzing", "analyzed", "failed"};
    const char *st = row_text(r, 0);
    for (int i = 0; st && i < 5; i++)
        if (!strcmp(st, statuses[i]))
            ((int64_t *)arg)[i] = row_i64(r, 1);
    return 0;
}

static store_rc pg_metrics(store *base, int64_t windows[5], int64_t *db_bytes, char *err, size_t errlen)
{
    for (int i = 0; i < 5; i++)
        windows[i] = 0;
    store_rc rc = read_rows((pg *)base, PS_WINDOW_STATUS_COUNTS, NULL, status_row, windows, err, errlen);
    return rc == STORE_OK ? read_rows((pg *)base, PS_DB_SIZE, NULL, i64_row, db_bytes, err, errlen) : rc;
}

static store_rc pg_ping(store *base, char *err, size_t errlen)
{
    int64_t v = 0;
    return read_rows((pg *)base, PS_PING, NULL, i64_row, &v, err, errlen);
}

static store_rc pg_windows_count(store *base, const char *status, int64_t *n, char *err, size_t errlen)
{
    params p = {.n = 0};
    p_text(&p, status);
    *n = 0;
    return read_rows((pg *)base, PS_COUNT_STATUS, &p, i64_row, n, err, errlen);
}

static store_rc pg_window_lines(store *base, int64_t window_id, size_t max, window_lines *out, char *err,
                                size_t errlen)
{
    lines_acc a = {.out = out};
    params p = {.n = 0};
    p_i64(&p, window_id);
    p_i64(&p, (int64_t)max);
    store_rc rc = read_rows((pg *)base, PS_LINES, &p, line_row, &a, err, errlen);
    if (rc == STORE_OK && a.oom) {
        snprintf(err, errlen, "out of memory reading window lines");
        rc = STORE_ERROR;
    }
    if (rc != STORE_OK)
        window_lines_free(out);
    return rc;
}

static store_rc pg_anomalies_list(store *base, const anomaly_query *aq, json_t **out, char *next_cursor,
                                  size_t curlen, char *err, size_t errlen)
{
    anomalies_acc a = {.arr = json_array(), .limit = aq->limit};
    next_cursor[0] = '\0';
    params p = {.n = 0};
    if (aq->has_since)
        p_i64(&p, aq->since_ms);
    else
        p_text(&p, NULL);
    if (aq->has_until)
        p_i64(&p, aq->until_ms);
    else
        p_text(&p, NULL);
    p_i64(&p, aq->min_severity);
    p_text(&p, aq->type);
    if (aq->has_cursor) {
        p_i64(&p, aq->cursor_start);
        p_i64(&p, aq->cursor_id);
    } else {
        p_text(&p, NULL);
        p_text(&p, NULL);
    }
    p_i64(&p, aq->limit + 1);
    p_text(&p, aq->service);
    store_rc rc = read_rows((pg *)base, aq->service ? PS_ANOMALIES_SERVICE : PS_ANOMALIES_ALL, &p, anomaly_row, &a,
                            err, errlen);
    if (rc != STORE_OK) {
        json_decref(a.arr);
        return rc;
    }
    if (a.more)
        snprintf(next_cursor, curlen, "%lld:%lld", (long long)a.last_start, (long long)a.last_id);
    *out = a.arr;
    return STORE_OK;
}

static store_rc pg_window_anomalies(store *base, int64_t window_id, json_t **out, char *err, size_t errlen)
{
    anomalies_acc a = {.arr = json_array(), .limit = -1};
    params p = {.n = 0};
    p_i64(&p, window_id);
    store_rc rc = read_rows((pg *)base, PS_ANOMALIES_WINDOW, &p, anomaly_row, &a, err, errlen);
    if (rc != STORE_OK) {
        json_decref(a.arr);
        return rc;
    }
    *out = a.arr;
    return STORE_OK;
}

static store_rc pg_window_prompt(store *base, int64_t window_id, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    params p = {.n = 0};
    p_i64(&p, window_id);
    store_rc rc = read_rows((pg *)base, PS_PROMPT_GET, &p, prompt_row, out, err, errlen);
    return rc == STORE_OK && !*out ? STORE_NOTFOUND : rc;
}

static store_rc pg_services_list(store *base, json_t **out, char *err, size_t errlen)
{
    json_t *arr = json_array();
    store_rc rc = read_rows((pg *)base, PS_SERVICES, NULL, service_row, arr, err, errlen);
    if (rc != STORE_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return STORE_OK;
}

static store_rc pg_window_service_id(store *base, int64_t window_id, int64_t *service_id, char *err, size_t errlen)
{
    *service_id = 0;
    params p = {.n = 0};
    p_i64(&p, window_id);
    store_rc rc = read_rows((pg *)base, PS_WINDOW_SERVICE_ID, &p, id_row, service_id, err, errlen);
    if (rc == STORE_OK && !*service_id) {
        snprintf(err, errlen, "no window %lld", (long long)window_id);
        return STORE_NOTFOUND;
    }
    return rc;
}

static store_rc pg_templates_load(store *base, int64_t service_id,
                                  void (*fn)(void *arg, int64_t id, const char *text, uint64_t total), void *arg,
                                  char *err, size_t errlen)
{
    load_arg a = {fn, arg};
    params p = {.n = 0};
    p_i64(&p, service_id);
    return read_rows((pg *)base, PS_TEMPLATES_LOAD, &p, template_load_row, &a, err, errlen);
}

static store_rc pg_template_history(store *base, int64_t service_id, int64_t from_ms, int64_t before_ms,
                                    template_history **rows, size_t *n, int *depth, double *error_avg, char *err,
                                    size_t errlen)
{
    pg *s = (pg *)base;
    hist_acc a = {0};
    depth_out d = {0, -1};
    params known = {.n = 0}, span = {.n = 0};
    p_i64(&known, service_id);
    p_i64(&known, before_ms);
    p_i64(&span, service_id);
    p_i64(&span, from_ms);
    p_i64(&span, before_ms);
    store_rc rc = read_rows(s, PS_TEMPLATES_KNOWN, &known, hist_known_row, &a, err, errlen);
    if (rc == STORE_OK && a.oom) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc == STORE_OK)
        rc = read_rows(s, PS_TEMPLATE_COUNTS, &span, hist_count_row, &a, err, errlen);
    if (rc == STORE_OK)
        rc = read_rows(s, PS_WINDOW_HISTORY, &span, depth_row, &d, err, errlen);
    if (rc != STORE_OK) {
        free(a.v);
        return rc;
    }
    *rows = a.v;
    *n = a.n;
    *depth = d.depth;
    *error_avg = d.avg;
    return STORE_OK;
}

static store_rc pg_notifications_list(store *base, const char *status, int64_t cursor, int limit, json_t **out,
                                      int64_t *next_cursor, char *err, size_t errlen)
{
    notif_acc a = {.arr = json_array(), .limit = limit};
    params p = {.n = 0};
    p_text(&p, status);
    p_i64_or_null(&p, cursor > 0 ? cursor : -1);
    p_i64(&p, limit + 1);
    *next_cursor = 0;
    store_rc rc = read_rows((pg *)base, PS_NOTIFICATIONS, &p, notification_row, &a, err, errlen);
    if (rc != STORE_OK) {
        json_decref(a.arr);
        return rc;
    }
    if (a.more)
        *next_cursor = a.last_id;
    *out = a.arr;
    return STORE_OK;
}

static store_rc pg_outbox_counts(store *base, json_t **out, char *err, size_t errlen)
{
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:{s:i, s:i, s:i}}", "pending", 0, "sent", 0, "failed", 0, "dry_run", 0,
                          "attempts", "sent", 0, "retry", 0, "failed", 0);
    store_rc rc = read_rows((pg *)base, PS_OUTBOX_COUNTS, NULL, count_row, o, err, errlen);
    if (rc != STORE_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return STORE_OK;
}

static store_rc pg_suppressions_list(store *base, int64_t now_ms, json_t **out, char *err, size_t errlen)
{
    json_t *arr = json_array();
    params p = {.n = 0};
    p_i64(&p, now_ms);
    store_rc rc = read_rows((pg *)base, PS_SUPPRESSIONS, &p, suppression_row, arr, err, errlen);
    if (rc != STORE_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return STORE_OK;
}

/* ---- the background connection: analysis, templates, the outbox ------------ */

/* Ends a failed bg call: rolls back what is open, unlocks, passes rc on. */
static store_rc bg_fail(pg *s, store_rc rc)
{
    if (PQtransactionStatus(s->bg.c) != PQTRANS_IDLE)
        exec_sql(&s->bg, "ROLLBACK", NULL, 0);
    pthread_mutex_unlock(&s->bg_mu);
    return rc == STORE_OK ? STORE_ERROR : rc;
}

static store_rc bg_commit(pg *s, char *err, size_t errlen)
{
    store_rc rc = exec_sql(&s->bg, "COMMIT", err, errlen);
    if (rc != STORE_OK)
        return bg_fail(s, rc);
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

/* One statement in its own transaction on bg; *changed gets the rows it touched. */
static store_rc bg_run0(pg *s, enum pg_stmt id, const params *p, long *changed, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = run0(&s->bg, id, p, changed, err, errlen);
    pthread_mutex_unlock(&s->bg_mu);
    return rc;
}

static store_rc pg_windows_close(store *base, int64_t now_ms, int64_t grace_ms, int force, const char *service,
                                 int *closed, char *err, size_t errlen)
{
    enum pg_stmt id = !force ? PS_CLOSE_DUE : service ? PS_CLOSE_SERVICE : PS_CLOSE_ALL;
    params p = {.n = 0};
    p_i64(&p, now_ms);
    if (id == PS_CLOSE_DUE)
        p_i64(&p, grace_ms);
    else if (id == PS_CLOSE_SERVICE)
        p_text(&p, service);
    long n = 0;
    store_rc rc = bg_run0((pg *)base, id, &p, &n, err, errlen);
    *closed = (int)n;
    return rc;
}

static store_rc pg_windows_recover(store *base, int *recovered, char *err, size_t errlen)
{
    params p = {.n = 0};
    p_i64(&p, time_now_ms());
    long n = 0;
    store_rc rc = bg_run0((pg *)base, PS_RECOVER, &p, &n, err, errlen);
    *recovered = (int)n;
    return rc;
}

/* The id of the first row of statement id with p, 0 when none. */
static store_rc bg_pick(pg *s, enum pg_stmt id, const params *p, int64_t *out, char *err, size_t errlen)
{
    store_rc rc;
    PGresult *r = run(&s->bg, id, p, &rc, err, errlen);
    if (!r)
        return rc;
    *out = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return STORE_OK;
}

static store_rc pg_window_claim(store *base, int64_t now_ms, int64_t lease_ms, int retry_failed, window_work *w,
                                char *err, size_t errlen)
{
    pg *s = (pg *)base;
    memset(w, 0, sizeof *w);
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = exec_sql(&s->bg, "BEGIN", err, errlen);
    if (rc != STORE_OK)
        return bg_fail(s, rc);
    params now = {.n = 0};
    p_i64(&now, now_ms);
    int64_t id = 0;
    rc = bg_pick(s, PS_CLAIM_CLOSED, &now, &id, err, errlen);
    if (rc == STORE_OK && !id && retry_failed)
        rc = bg_pick(s, PS_CLAIM_FAILED, &now, &id, err, errlen);
    if (rc == STORE_OK && !id && retry_failed) {
        rc = bg_pick(s, PS_CLAIM_REANALYZE, &now, &id, err, errlen);
        w->reanalysis = id != 0;
    }
    if (rc != STORE_OK)
        return bg_fail(s, rc);
    if (!id) {
        exec_sql(&s->bg, "COMMIT", NULL, 0);
        pthread_mutex_unlock(&s->bg_mu);
        return STORE_NOTFOUND;
    }
    params p = {.n = 0};
    p_i64(&p, id);
    p_i64(&p, now_ms + lease_ms);
    PGresult *r = run(&s->bg, PS_CLAIM_SET, &p, &rc, err, errlen);
    if (!r)
        return bg_fail(s, rc);
    store_row row = pg_row(r, 0);
    w->id = id;
    w->service_id = row_i64(&row, 0);
    w->start_ms = row_i64(&row, 1);
    w->end_ms = row_i64(&row, 2);
    w->line_count = row_i64(&row, 3);
    w->attempts = (int)row_i64(&row, 4);
    row_copy(&row, 5, w->service, sizeof w->service);
    row_copy(&row, 6, w->health, sizeof w->health);
    PQclear(r);
    params q = {.n = 0};
    p_i64(&q, w->service_id);
    if ((r = run(&s->bg, PS_SERVICE_CONTEXT, &q, &rc, err, errlen))) {
        if (PQntuples(r) && !PQgetisnull(r, 0, 0))
            w->context = strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    if (rc != STORE_OK) {
        window_work_free(w);
        return bg_fail(s, rc);
    }
    rc = bg_commit(s, err, errlen);
    if (rc != STORE_OK)
        window_work_free(w);
    return rc;
}

static void p_meta(params *p, const analysis_meta *m)
{
    p_text(p, m ? m->analyzer : NULL);
    p_text(p, m ? m->model : NULL);
    p_i64_or_null(p, m ? m->prompt_tokens : -1);
    p_i64_or_null(p, m ? m->completion_tokens : -1);
    p_i64_or_null(p, m ? m->latency_ms : -1);
}

static store_rc save_prompt(pg *s, const window_work *w, const analysis_meta *m, char *err, size_t errlen)
{
    if (!m || ((!m->system_prompt || !m->user_prompt) && !m->digest))
        return STORE_OK;
    params p = {.n = 0};
    p_i64(&p, w->id);
    p_text(&p, m->system_prompt ? m->system_prompt : "");
    p_text(&p, m->user_prompt ? m->user_prompt : "");
    p_text(&p, m->digest);
    store_rc rc = run0(&s->bg, PS_PROMPT_SAVE, &p, NULL, err, errlen);
    if (rc != STORE_OK || !m->redactions)
        return rc;
    char *red = json_dumps(m->redactions, JSON_COMPACT);
    params q = {.n = 0};
    p_i64(&q, w->id);
    p_text(&q, red);
    rc = run0(&s->bg, PS_WINDOW_REDACTIONS, &q, NULL, err, errlen);
    free(red);
    return rc;
}

typedef struct outbox_put_arg {
    pg *s;
    int64_t anomaly_id;
    const char *status;
    int64_t now;
    char *err;
    size_t errlen;
} outbox_put_arg;

/* One outbox row (route_notifications' callback). */
static int outbox_put(void *arg, const route_dest *d, const char *dedup, const char *body)
{
    outbox_put_arg *pa = arg;
    params p = {.n = 0};
    p_i64(&p, pa->anomaly_id);
    p_text(&p, d->name);
    p_text(&p, dest_kind_name(d->kind));
    p_text(&p, dedup);
    p_text(&p, body);
    p_text(&p, pa->status);
    p_i64(&p, pa->now);
    return run0(&pa->s->bg, PS_OUTBOX_INSERT, &p, NULL, pa->err, pa->errlen) == STORE_OK ? 0 : -1;
}

/*
 * Suppression and the outbox for one anomaly just inserted, inside the finish
 * transaction, which holds its service's advisory lock: within an open
 * interval of its (service, type) and not more severe than the anomaly that
 * opened it, the anomaly is suppressed; otherwise it opens a new interval and
 * its notifications are queued.
 */
static store_rc route_anomaly(pg *s, const window_work *w, const json_t *a, int64_t anomaly_id, int64_t now,
                              const route_config *rt, char *err, size_t errlen)
{
    const char *type = json_string_value(json_object_get(a, "type"));
    const char *sev = json_string_value(json_object_get(a, "severity"));
    int rank = severity_rank_of(sev);
    if (!type || !sev)
        return STORE_OK;
    params p = {.n = 0};
    p_i64(&p, w->service_id);
    p_text(&p, type);
    store_rc rc;
    PGresult *r = run(&s->bg, PS_SUPPRESSION_GET, &p, &rc, err, errlen);
    if (!r)
        return rc;
    if (PQntuples(r)) {
        store_row row = pg_row(r, 0);
        int64_t opened_by = row_i64(&row, 0), until = row_i64(&row, 3);
        int open_rank = (int)row_i64(&row, 1);
        PQclear(r);
        if (until > now && rank <= open_rank) {
            params q = {.n = 0};
            p_i64(&q, anomaly_id);
            p_i64(&q, opened_by);
            return run0(&s->bg, PS_ANOMALY_SUPPRESS, &q, NULL, err, errlen);
        }
    } else {
        PQclear(r);
    }
    int64_t until = now + route_suppress_ms(rt, w->service, type);
    params q = {.n = 0};
    p_i64(&q, w->service_id);
    p_text(&q, type);
    p_i64(&q, anomaly_id);
    p_i64(&q, rank);
    p_i64(&q, now);
    p_i64(&q, until);
    if ((rc = run0(&s->bg, PS_SUPPRESSION_OPEN, &q, NULL, err, errlen)) != STORE_OK)
        return rc;
    outbox_put_arg pa = {s, anomaly_id, rt->dry_run ? "dry_run" : "pending", now, err, errlen};
    if (route_notifications(w, a, anomaly_id, now, until, rt, outbox_put, &pa)) {
        if (!*err)
            snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* a baseline finding is built from the window's lines; a model's is verified by the analyzer */
static int evidence_verified(const json_t *a)
{
    return !json_is_false(json_object_get(a, "evidence_verified"));
}

static store_rc insert_anomaly(pg *s, const window_work *w, const json_t *a, const analysis_meta *m, int64_t now,
                               int64_t *id, char *err, size_t errlen)
{
    const char *sev = json_string_value(json_object_get(a, "severity"));
    char *evidence = json_dumps(json_object_get(a, "evidence"), JSON_COMPACT);
    json_t *tids = json_object_get(a, "template_ids");
    char *tids_text = json_array_size(tids) ? json_dumps(tids, JSON_COMPACT) : NULL;
    const char *an = json_string_value(json_object_get(a, "analyzer"));
    params p = {.n = 0};
    p_i64(&p, w->id);
    p_i64(&p, w->service_id);
    p_i64(&p, w->start_ms);
    p_i64(&p, w->end_ms);
    p_text(&p, sev);
    p_i64(&p, severity_rank_of(sev));
    p_text(&p, json_string_value(json_object_get(a, "type")));
    p_text(&p, json_string_value(json_object_get(a, "summary")));
    p_text(&p, evidence ? evidence : "[]");
    p_text(&p, json_string_value(json_object_get(a, "recommended_action")));
    p_i64(&p, now);
    p_text(&p, an ? an : m && m->analyzer ? m->analyzer : "llm");
    p_text(&p, tids_text);
    p_i64(&p, evidence_verified(a));
    store_rc rc;
    PGresult *r = run(&s->bg, PS_ANOMALY_INSERT, &p, &rc, err, errlen);
    free(evidence);
    free(tids_text);
    if (!r)
        return rc;
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return STORE_OK;
}

static store_rc pg_window_finish(store *base, const window_work *w, const json_t *verdict, const analysis_meta *m,
                                 char *err, size_t errlen)
{
    pg *s = (pg *)base;
    if (err && errlen)
        err[0] = '\0';
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = exec_sql(&s->bg, "BEGIN", err, errlen);
    params lock = {.n = 0};
    p_i64(&lock, w->service_id);
    /* one finish per service at a time: the suppression decision below is made once */
    if (rc == STORE_OK && m && m->routing)
        rc = run0(&s->bg, PS_SERVICE_LOCK, &lock, NULL, err, errlen);
    if (rc != STORE_OK)
        return bg_fail(s, rc);
    int64_t now = time_now_ms();
    const json_t *list = json_object_get(verdict, "anomalies");
    size_t i;
    const json_t *a;
    json_array_foreach(list, i, a)
    {
        int64_t id = 0;
        if ((rc = insert_anomaly(s, w, a, m, now, &id, err, errlen)) != STORE_OK ||
            (evidence_verified(a) && m && m->routing &&
             (rc = route_anomaly(s, w, a, id, now, m->routing, err, errlen)) != STORE_OK))
            return bg_fail(s, rc);
    }
    params p = {.n = 0};
    p_i64(&p, w->id);
    p_text(&p, json_string_value(json_object_get(verdict, "health")));
    p_i64(&p, (int64_t)json_array_size(list));
    p_meta(&p, m);
    p_i64(&p, now);
    p_text(&p, m ? m->note : NULL);
    p_i64_or_null(&p, m && m->reanalyze_at > 0 ? m->reanalyze_at : -1);
    p_i64(&p, w->attempts);
    long changed = 0;
    if ((rc = run0(&s->bg, PS_FINISH, &p, &changed, err, errlen)) != STORE_OK)
        return bg_fail(s, rc);
    if (changed != 1) {
        bg_fail(s, STORE_OK);
        snprintf(err, errlen, "window %lld is no longer being analysed by this claim", (long long)w->id);
        return STORE_NOTFOUND;
    }
    if ((rc = save_prompt(s, w, m, err, errlen)) != STORE_OK)
        return bg_fail(s, rc);
    return bg_commit(s, err, errlen);
}

static store_rc pg_window_fail(store *base, const window_work *w, const char *reason, int64_t next_attempt_ms,
                               const analysis_meta *m, char *err, size_t errlen)
{
    pg *s = (pg *)base;
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = exec_sql(&s->bg, "BEGIN", err, errlen);
    params p = {.n = 0};
    p_i64(&p, w->id);
    p_text(&p, reason);
    p_i64(&p, next_attempt_ms);
    p_meta(&p, m);
    p_i64(&p, w->attempts);
    if (rc == STORE_OK)
        rc = run0(&s->bg, PS_FAIL, &p, NULL, err, errlen);
    if (rc == STORE_OK)
        rc = save_prompt(s, w, m, err, errlen);
    if (rc != STORE_OK)
        return bg_fail(s, rc);
    return bg_commit(s, err, errlen);
}

static store_rc pg_window_release(store *base, const window_work *w, char *err, size_t errlen)
{
    params p = {.n = 0};
    p_i64(&p, w->id);
    p_i64(&p, w->attempts);
    return bg_run0((pg *)base, PS_RELEASE, &p, NULL, err, errlen);
}

static store_rc pg_service_set_context(store *base, const char *name, const char *context, const char *source,
                                       json_t **service, char *err, size_t errlen)
{
    pg *s = (pg *)base;
    params p = {.n = 0};
    p_text(&p, name);
    p_i64(&p, time_now_ms());
    p_text(&p, context);
    p_text(&p, source);
    store_rc rc = bg_run0(s, PS_CONTEXT_SET, &p, NULL, err, errlen);
    if (rc != STORE_OK || !service)
        return rc;
    json_t *arr = json_array();
    params q = {.n = 0};
    p_text(&q, name);
    rc = read_rows(s, PS_SERVICE_GET, &q, service_row, arr, err, errlen);
    *service = rc == STORE_OK ? json_incref(json_array_get(arr, 0)) : NULL;
    json_decref(arr);
    return rc;
}

static store_rc pg_templates_record(store *base, int64_t service_id, int64_t window_id, int64_t window_start,
                                    const store_template *t, size_t n, long error_lines, char *err, size_t errlen)
{
    pg *s = (pg *)base;
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = exec_sql(&s->bg, "BEGIN", err, errlen);
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        params p = {.n = 0};
        p_i64(&p, service_id);
        p_i64(&p, t[i].id);
        p_text(&p, t[i].text);
        p_i64(&p, t[i].max_level);
        p_i64(&p, window_start);
        if ((rc = run0(&s->bg, PS_TEMPLATE_UPSERT, &p, NULL, err, errlen)) != STORE_OK)
            break;
        params q = {.n = 0};
        p_i64(&q, service_id);
        p_i64(&q, window_start);
        p_i64(&q, t[i].id);
        p_i64(&q, (int64_t)t[i].count);
        long added = 0;
        if ((rc = run0(&s->bg, PS_TEMPLATE_COUNT_INSERT, &q, &added, err, errlen)) != STORE_OK)
            break;
        if (added == 1) { /* first time this window is recorded */
            params u = {.n = 0};
            p_i64(&u, service_id);
            p_i64(&u, t[i].id);
            p_i64(&u, (int64_t)t[i].count);
            rc = run0(&s->bg, PS_TEMPLATE_TOTAL, &u, NULL, err, errlen);
        }
    }
    params e = {.n = 0};
    p_i64(&e, window_id);
    p_i64(&e, error_lines);
    if (rc == STORE_OK)
        rc = run0(&s->bg, PS_WINDOW_ERRORS, &e, NULL, err, errlen);
    if (rc != STORE_OK)
        return bg_fail(s, rc);
    return bg_commit(s, err, errlen);
}

static store_rc mark_benign(pg *s, int64_t service_id, const int64_t *ids, size_t n, char *err, size_t errlen)
{
    store_rc rc = STORE_OK;
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        params p = {.n = 0};
        p_i64(&p, service_id);
        p_i64(&p, ids[i]);
        rc = run0(&s->bg, PS_TEMPLATE_BENIGN, &p, NULL, err, errlen);
    }
    return rc;
}

static store_rc pg_templates_benign(store *base, int64_t service_id, const int64_t *ids, size_t n, char *err,
                                    size_t errlen)
{
    pg *s = (pg *)base;
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = exec_sql(&s->bg, "BEGIN", err, errlen);
    if (rc == STORE_OK)
        rc = mark_benign(s, service_id, ids, n, err, errlen);
    if (rc != STORE_OK)
        return bg_fail(s, rc);
    return bg_commit(s, err, errlen);
}

static store_rc pg_anomaly_feedback(store *base, int64_t anomaly_id, const char *verdict, const char *note,
                                    json_t **out, char *err, size_t errlen)
{
    pg *s = (pg *)base;
    *out = NULL;
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = exec_sql(&s->bg, "BEGIN", err, errlen);
    if (rc != STORE_OK)
        return bg_fail(s, rc);
    params p = {.n = 0};
    p_i64(&p, anomaly_id);
    p_text(&p, verdict);
    p_text(&p, note);
    p_i64(&p, time_now_ms());
    PGresult *r = run(&s->bg, PS_FEEDBACK, &p, &rc, err, errlen);
    if (!r)
        return bg_fail(s, rc);
    if (!PQntuples(r)) {
        PQclear(r);
        bg_fail(s, STORE_OK);
        return STORE_NOTFOUND;
    }
    int64_t service_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    json_t *ids = PQgetisnull(r, 0, 1) ? NULL : json_loads(PQgetvalue(r, 0, 1), 0, NULL);
    PQclear(r);
    if (strcmp(verdict, "false_positive") == 0 && json_array_size(ids)) {
        int64_t v[64];
        size_t i, m = 0;
        json_t *x;
        json_array_foreach(ids, i, x) if (m < 64 && json_is_integer(x)) v[m++] = json_integer_value(x);
        rc = mark_benign(s, service_id, v, m, err, errlen);
    }
    json_decref(ids);
    if (rc != STORE_OK)
        return bg_fail(s, rc);
    if ((rc = bg_commit(s, err, errlen)) != STORE_OK)
        return rc;
    anomalies_acc a = {.arr = json_array(), .limit = -1};
    params q = {.n = 0};
    p_i64(&q, anomaly_id);
    rc = read_rows(s, PS_ANOMALY_GET, &q, anomaly_row, &a, err, errlen);
    if (rc == STORE_OK)
        *out = json_incref(json_array_get(a.arr, 0));
    json_decref(a.arr);
    return rc;
}

static store_rc pg_outbox_claim(store *base, int64_t now_ms, int64_t lease_ms, outbox_item *it, char *err,
                                size_t errlen)
{
    pg *s = (pg *)base;
    memset(it, 0, sizeof *it);
    params p = {.n = 0};
    p_i64(&p, now_ms);
    p_i64(&p, lease_ms);
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc;
    PGresult *r = run(&s->bg, PS_OUTBOX_CLAIM, &p, &rc, err, errlen);
    pthread_mutex_unlock(&s->bg_mu);
    if (!r)
        return rc;
    if (!PQntuples(r)) {
        PQclear(r);
        return STORE_NOTFOUND;
    }
    store_row row = pg_row(r, 0);
    it->id = row_i64(&row, 0);
    it->anomaly_id = row_i64(&row, 1);
    row_copy(&row, 2, it->destination, sizeof it->destination);
    row_copy(&row, 3, it->kind, sizeof it->kind);
    row_copy(&row, 4, it->dedup_key, sizeof it->dedup_key);
    it->payload = strdup(PQgetvalue(r, 0, 5));
    it->attempts = (int)row_i64(&row, 6);
    it->created_at = row_i64(&row, 7);
    PQclear(r);
    if (!it->payload) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERROR;
    }
    return STORE_OK;
}

static store_rc pg_outbox_record(store *base, int64_t id, int64_t now_ms, int http_status, const char *outcome,
                                 const char *error, int64_t next_attempt_ms, char *err, size_t errlen)
{
    pg *s = (pg *)base;
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = exec_sql(&s->bg, "BEGIN", err, errlen);
    params p = {.n = 0};
    p_i64(&p, id);
    p_i64(&p, now_ms);
    p_i64_or_null(&p, http_status);
    p_text(&p, outcome);
    p_text(&p, error);
    if (rc == STORE_OK)
        rc = run0(&s->bg, PS_OUTBOX_ATTEMPT, &p, NULL, err, errlen);
    params q = {.n = 0};
    p_i64(&q, id);
    p_text(&q, outcome);
    p_i64(&q, now_ms);
    p_i64(&q, next_attempt_ms);
    p_text(&q, error);
    if (rc == STORE_OK)
        rc = run0(&s->bg, PS_OUTBOX_RESULT, &q, NULL, err, errlen);
    if (rc != STORE_OK)
        return bg_fail(s, rc);
    return bg_commit(s, err, errlen);
}

static store_rc pg_outbox_recover(store *base, int64_t now_ms, int *recovered, char *err, size_t errlen)
{
    params p = {.n = 0};
    p_i64(&p, now_ms);
    long n = 0;
    store_rc rc = bg_run0((pg *)base, PS_OUTBOX_RECOVER, &p, &n, err, errlen);
    *recovered = (int)n;
    return rc;
}

/* ---- retention ------------------------------------------------------------ */

/* Same bounds as the SQLite backend: max_rows rows and EXPIRE_VISITS windows per transaction. */
#define EXPIRE_VISITS 256

static int64_t expired_total(const store_expired *e)
{
    return e->logs + e->windows + e->anomalies + e->outbox + e->delivery_attempts + e->window_prompts +
           e->template_counts + e->suppressions;
}

/* Statement id with $1 = a (and $2 = b when nargs is 2); adds the rows it changed to *changes. */
static store_rc bg_del(pg *s, enum pg_stmt id, int nargs, int64_t a, int64_t b, int64_t *changes, char *err,
                       size_t errlen)
{
    params p = {.n = 0};
    p_i64(&p, a);
    if (nargs > 1)
        p_i64(&p, b);
    long n = 0;
    store_rc rc = run0(&s->bg, id, &p, &n, err, errlen);
    if (changes)
        *changes += n;
    return rc;
}

static store_rc expire_end(pg *s, store_rc rc, store_expired *out, char *err, size_t errlen)
{
    if (rc == STORE_OK)
        rc = bg_commit(s, err, errlen);
    else
        rc = bg_fail(s, rc);
    if (rc != STORE_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

static store_rc pg_expire_lines(store *base, int64_t before_ms, int64_t max_rows, store_expired *out, int *more,
                                char *err, size_t errlen)
{
    pg *s = (pg *)base;
    memset(out, 0, sizeof *out);
    *more = 0;
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = exec_sql(&s->bg, "BEGIN", err, errlen);
    params cut = {.n = 0};
    p_i64(&cut, before_ms);
    for (int visits = 0; rc == STORE_OK; visits++) {
        if (out->logs >= max_rows || visits == EXPIRE_VISITS) {
            *more = 1;
            break;
        }
        int64_t id = 0;
        if ((rc = bg_pick(s, PS_EXPIRE_LINES_NEXT, &cut, &id, err, errlen)) != STORE_OK || !id)
            break;
        int64_t want = max_rows - out->logs, got = 0;
        rc = bg_del(s, PS_EXPIRE_WINDOW_LINES, 2, id, want, &got, err, errlen);
        out->logs += got;
        if (rc == STORE_OK && got < want) /* none left: the window is done */
            rc = bg_del(s, PS_EXPIRE_LINES_DONE, 1, id, 0, NULL, err, errlen);
    }
    return expire_end(s, rc, out, err, errlen);
}

static store_rc pg_expire_windows(store *base, int64_t before_ms, int64_t max_rows, store_expired *out, int *more,
                                  char *err, size_t errlen)
{
    pg *s = (pg *)base;
    memset(out, 0, sizeof *out);
    *more = 0;
    pthread_mutex_lock(&s->bg_mu);
    store_rc rc = exec_sql(&s->bg, "BEGIN", err, errlen);
    params cut = {.n = 0};
    p_i64(&cut, before_ms);
    for (int visits = 0; rc == STORE_OK; visits++) {
        if (expired_total(out) >= max_rows || visits == EXPIRE_VISITS) {
            *more = 1;
            break;
        }
        PGresult *r = run(&s->bg, PS_EXPIRE_WINDOW_NEXT, &cut, &rc, err, errlen);
        if (!r)
            break;
        if (!PQntuples(r)) {
            PQclear(r);
            break;
        }
        store_row row = pg_row(r, 0);
        int64_t id = row_i64(&row, 0), service_id = row_i64(&row, 1), start = row_i64(&row, 2);
        PQclear(r);
        /* its lines first, within the budget; the window goes once none is left */
        int64_t want = max_rows - expired_total(out), got = 0;
        rc = bg_del(s, PS_EXPIRE_WINDOW_LINES, 2, id, want, &got, err, errlen);
        out->logs += got;
        if (rc == STORE_OK && got == want) {
            *more = 1;
            break;
        }
        if (rc == STORE_OK)
            rc = bg_del(s, PS_EXPIRE_ATTEMPTS, 1, id, 0, &out->delivery_attempts, err, errlen);
        if (rc == STORE_OK)
            rc = bg_del(s, PS_EXPIRE_OUTBOX, 1, id, 0, &out->outbox, err, errlen);
        if (rc == STORE_OK)
            rc = bg_del(s, PS_EXPIRE_ANOMALIES, 1, id, 0, &out->anomalies, err, errlen);
        if (rc == STORE_OK)
            rc = bg_del(s, PS_EXPIRE_PROMPT, 1, id, 0, &out->window_prompts, err, errlen);
        if (rc == STORE_OK)
            rc = bg_del(s, PS_EXPIRE_TEMPLATE_COUNTS, 2, service_id, start, &out->template_counts, err, errlen);
        if (rc == STORE_OK)
            rc = bg_del(s, PS_EXPIRE_WINDOW, 1, id, 0, &out->windows, err, errlen);
    }
    /* suppression intervals that ended before the cutoff, once the windows are done */
    if (rc == STORE_OK && !*more)
        rc = bg_del(s, PS_EXPIRE_SUPPRESSIONS, 1, before_ms, 0, &out->suppressions, err, errlen);
    return expire_end(s, rc, out, err, errlen);
}

static const store_ops pg_ops = {
    .close = pg_close,
    .schema_version = pg_schema_version,
    .write_batches = pg_write_batches,
    .windows_list = pg_windows_list,
    .window_get = pg_window_get,
    .count_logs = pg_count_logs,
    .metrics = pg_metrics,
    .ping = pg_ping,
    .windows_close = pg_windows_close,
    .windows_recover = pg_windows_recover,
    .window_claim = pg_window_claim,
    .window_lines = pg_window_lines,
    .window_finish = pg_window_finish,
    .window_fail = pg_window_fail,
    .window_release = pg_window_release,
    .window_service_id = pg_window_service_id,
    .windows_count = pg_windows_count,
    .anomalies_list = pg_anomalies_list,
    .window_anomalies = pg_window_anomalies,
    .window_prompt = pg_window_prompt,
    .services_list = pg_services_list,
    .service_set_context = pg_service_set_context,
    .templates_load = pg_templates_load,
    .template_history = pg_template_history,
    .templates_record = pg_templates_record,
    .templates_benign = pg_templates_benign,
    .anomaly_feedback = pg_anomaly_feedback,
    .outbox_claim = pg_outbox_claim,
    .outbox_record = pg_outbox_record,
    .outbox_recover = pg_outbox_recover,
    .notifications_list = pg_notifications_list,
    .outbox_counts = pg_outbox_counts,
    .suppressions_list = pg_suppressions_list,
    .expire_lines = pg_expire_lines,
    .expire_windows = pg_expire_windows,
    .idempotency_get = pg_idempotency_get,
    .idempotency_prune = pg_idempotency_prune,
};
