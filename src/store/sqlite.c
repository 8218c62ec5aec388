/*
 * sqlite.c — the SQLite backend of the store (see backend.h): the file, its
 * migrations, the write path, and read queries.
 *
 * Connections: one write connection (s->w), used only by the writer thread
 * through store_write_batches(); a background connection (s->bg, under
 * bg_mu) for the scheduler, the analysis workers, the notifier and
 * retention, each in short transactions; and a pool of read connections that
 * HTTP threads borrow for one query and give back. WAL mode lets readers run
 * while the writer commits.
 *
 * Statements: each connection prepares its statements on first use from the
 * SQL table below (indexed by an enum; a _Static_assert keeps the two the same
 * length) and keeps them until the connection closes.
 *
 * Write path: the writer hands over several batches at once (group commit);
 * they are written in one transaction. Service ids and window ids are cached
 * in memory (bounded hash tables, cleared when full or after a rollback), so
 * a steady stream costs one INSERT per entry plus one UPDATE per touched window
 * per commit. Late lines are counted by the UPDATE itself, inside the
 * transaction, from the window's status at that moment, so no cache can make
 * a late line look on time. A batch's Idempotency-Key (batch.idem) is
 * written in the same transaction as its lines, so the two are committed or
 * rolled back together.
 *
 * Checkpoints: the write connection does not checkpoint the WAL itself (its
 * auto-checkpoint is off): a checkpoint copies pages into the database file
 * and syncs it, work that would stall every request waiting on the writer.
 * Its WAL hook, called after each commit with the WAL's size, wakes the
 * checkpointer thread, which runs PASSIVE checkpoints on a connection of its
 * own (they never block the writer or readers), each time the WAL has grown
 * by CKPT_PAGES pages since it last woke it (a WAL a busy writer never lets
 * restart would otherwise have it checkpoint after every commit). Should it fall behind, the writer checkpoints itself once
 * the WAL passes CKPT_WRITER_PAGES, so the WAL stays bounded.
 *
 * Migrations: sql/NNN_name.sql, compiled in; each runs in its own transaction
 * with its row in schema_version, and each without its row is applied, even
 * one numbered below the database's highest (numbers are handed out ahead of
 * merging). A database newer than the binary is refused.
 */
#include "anomalog/store.h"

#include <assert.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anomalog/timeutil.h"
#include "store/backend.h"
#include "store/migrations.h"
#include "store/rows.h"

#define BUSY_TIMEOUT_MS 5000
#define READ_POOL_MAX 16
#define CACHE_SLOTS 4096 /* power of two; each of the two caches */
#define CKPT_PAGES 1000          /* the checkpointer runs from this WAL size (SQLite's auto-checkpoint default) */
#define CKPT_WRITER_PAGES 20000  /* the writer checkpoints itself past this (80 MB of 4 KiB pages) */

typedef struct sq sq;
static const store_ops sq_ops;
static void sq_close(store *base);

enum stmt_id {
    ST_SERVICE_INSERT,
    ST_SERVICE_SELECT,
    ST_SERVICE_TOUCH,
    ST_WINDOW_INSERT,
    ST_WINDOW_SELECT,
    ST_WINDOW_ADD,
    ST_LOG_INSERT,
    ST_WINDOW_GET,
    ST_WINDOWS_ALL,
    ST_WINDOWS_SERVICE,
    ST_WINDOWS_STATUS,
    ST_WINDOWS_HEALTH,
    ST_COUNT_LOGS,
    ST_PING,
    ST_CLOSE_DUE,
    ST_CLOSE_ALL,
    ST_CLOSE_SERVICE,
    ST_RECOVER,
    ST_CLAIM_CLOSED,
    ST_CLAIM_FAILED,
    ST_CLAIM_REANALYZE,
    ST_CLAIM_SET,
    ST_SERVICE_CONTEXT,
    ST_LINES,
    ST_ANOMALY_INSERT,
    ST_FINISH,
    ST_PROMPT_SAVE,
    ST_FAIL,
    ST_RELEASE,
    ST_COUNT_STATUS,
    ST_ANOMALIES_ALL,
    ST_ANOMALIES_SERVICE,
    ST_ANOMALIES_WINDOW,
    ST_PROMPT_GET,
    ST_SERVICES,
    ST_SERVICE_GET,
    ST_CONTEXT_SET,
    ST_TEMPLATES_LOAD,
    ST_TEMPLATES_KNOWN,
    ST_TEMPLATE_COUNTS,
    ST_WINDOW_HISTORY,
    ST_TEMPLATE_UPSERT,
    ST_TEMPLATE_COUNT_INSERT,
    ST_TEMPLATE_TOTAL,
    ST_WINDOW_ERRORS,
    ST_TEMPLATE_BENIGN,
    ST_FEEDBACK,
    ST_ANOMALY_GET,
    ST_WINDOW_SERVICE_ID,
    ST_WINDOW_REDACTIONS,
    ST_SUPPRESSION_GET,
    ST_SUPPRESSION_OPEN,
    ST_ANOMALY_SUPPRESS,
    ST_OUTBOX_INSERT,
    ST_OUTBOX_CLAIM,
    ST_OUTBOX_ATTEMPT,
    ST_OUTBOX_RESULT,
    ST_OUTBOX_RECOVER,
    ST_NOTIFICATIONS,
    ST_OUTBOX_COUNTS,
    ST_SUPPRESSIONS,
    ST_WINDOW_STATUS_COUNTS,
    ST_DB_SIZE,
    ST_EXPIRE_LINES_NEXT,
    ST_EXPIRE_WINDOW_LINES,
    ST_EXPIRE_LINES_DONE,
    ST_EXPIRE_WINDOW_NEXT,
    ST_EXPIRE_ATTEMPTS,
    ST_EXPIRE_OUTBOX,
    ST_EXPIRE_ANOMALIES,
    ST_EXPIRE_PROMPT,
    ST_EXPIRE_TEMPLATE_COUNTS,
    ST_EXPIRE_WINDOW,
    ST_EXPIRE_SUPPRESSIONS,
    ST_IDEM_PUT,
    ST_IDEM_GET,
    ST_IDEM_PRUNE,
    ST_JOURNAL_PUT,
    ST_JOURNAL_GET,
    ST__COUNT
};

#define WINDOW_COLS                                                                                     \
    "SELECT w.id, s.name, w.start_ms, w.end_ms, w.status, w.line_count, w.late_count, w.health, "        \
    "w.anomaly_count, w.analyzer, w.model, w.prompt_tokens, w.completion_tokens, w.latency_ms, w.error "

#define ANOMALY_COLS                                                                                    \
    "SELECT a.id, a.window_id, s.name, a.window_start, a.window_end, a.severity, a.type, a.summary, "    \
    "a.evidence, a.recommended_action, a.created_at, a.analyzer, a.feedback, a.feedback_note, a.suppressed, "  \
    "a.suppressed_by, a.evidence_verified "

/*
 * Listing windows and anomalies newest first reads an index in (start, id)
 * descending order between two bounds, so a page costs the rows it returns,
 * whatever the filters, the depth of the cursor or the size of the tables:
 *  - upper: ?4/?5 (windows) or ?5/?6 (anomalies), the smaller of the cursor and
 *    (until, 0) (ids are positive, so start < until), bound by the caller;
 *  - lower: "end > since" says nothing about start to the planner, so the
 *    start > since - (longest window) bound is added; the longest window is a
 *    max() over the windows_by_length index (migration 007), and an
 *    anomaly's span is its window's. Without since both are NULL and the
 *    bound is the smallest integer.
 * The status and health filters have statements of their own whose equality
 * leads an index in the same order (007); a service has its own (service_id,
 * start) index, and the other filters are checked on the rows read.
 */
#define SINCE_BOUND(start, end)                                                                         \
    start " > coalesce(?1 - (SELECT max(end_ms - start_ms) FROM windows), -9223372036854775807) "      \
          "AND (?1 IS NULL OR " end " > ?1) "
#define WINDOWS_WHERE                                                                                   \
    SINCE_BOUND("w.start_ms", "w.end_ms")                                                                \
    "AND (w.start_ms, w.id) < (?4, ?5) AND (?3 IS NULL OR w.status = ?3) AND (?8 IS NULL OR w.health = ?8) " \
    "ORDER BY w.start_ms DESC, w.id DESC LIMIT ?6"
#define ANOMALIES_WHERE                                                                                 \
    SINCE_BOUND("a.window_start", "a.window_end")                                                        \
    "AND (a.window_start, a.id) < (?5, ?6) AND a.severity_rank >= ?3 AND (?4 IS NULL OR a.type = ?4) "    \
    "ORDER BY a.window_start DESC, a.id DESC LIMIT ?7"

static const char *const stmt_sql[] = {
    [ST_SERVICE_INSERT] = "INSERT INTO services(name, last_seen, created_at) VALUES (?1, ?2, ?2) "
                          "ON CONFLICT(name) DO NOTHING",
    [ST_SERVICE_SELECT] = "SELECT id FROM services WHERE name = ?1",
    [ST_SERVICE_TOUCH] = "UPDATE services SET watermark = max(coalesce(watermark, ?2), ?2), "
                         "last_seen = max(last_seen, ?3) WHERE id = ?1",
    [ST_WINDOW_INSERT] = "INSERT INTO windows(service_id, start_ms, end_ms) VALUES (?1, ?2, ?3) "
                         "ON CONFLICT(service_id, start_ms) DO NOTHING",
    [ST_WINDOW_SELECT] = "SELECT id FROM windows WHERE service_id = ?1 AND start_ms = ?2",
    [ST_WINDOW_ADD] = "UPDATE windows SET line_count = line_count + ?2, "
                      "late_count = late_count + CASE WHEN status = 'open' THEN 0 ELSE ?2 END, "
                      "last_line_at = ?3, lines_expired = 0 WHERE id = ?1",
    [ST_LOG_INSERT] = "INSERT INTO logs(window_id, ts, level, message, attributes, received_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_WINDOW_GET] = WINDOW_COLS
                      "FROM windows w JOIN services s ON s.id = w.service_id WHERE w.id = ?1",
    [ST_WINDOWS_ALL] = WINDOW_COLS "FROM windows w JOIN services s ON s.id = w.service_id WHERE "
                       WINDOWS_WHERE,
    [ST_WINDOWS_STATUS] = WINDOW_COLS "FROM windows w JOIN services s ON s.id = w.service_id WHERE w.status = ?3 AND "
                          WINDOWS_WHERE,
    [ST_WINDOWS_HEALTH] = WINDOW_COLS "FROM windows w JOIN services s ON s.id = w.service_id WHERE w.health = ?8 AND "
                          WINDOWS_WHERE,
    [ST_WINDOWS_SERVICE] = WINDOW_COLS "FROM windows w JOIN services s ON s.id = w.service_id "
                           "WHERE s.name = ?7 AND w.service_id = (SELECT id FROM services WHERE name = ?7) AND "
                           WINDOWS_WHERE,
    [ST_COUNT_LOGS] = "SELECT count(*) FROM logs",
    [ST_PING] = "SELECT max(version) FROM schema_version",
    [ST_WINDOW_STATUS_COUNTS] = "SELECT status, count(*) FROM windows GROUP BY status",
    [ST_DB_SIZE] = "SELECT c.page_count * s.page_size FROM pragma_page_count() c, pragma_page_size() s",
    [ST_CLOSE_DUE] = "UPDATE windows SET status = 'closed', closed_at = ?1 WHERE status = 'open' AND "
                     "(end_ms + ?2 <= (SELECT watermark FROM services s WHERE s.id = windows.service_id) "
                     "OR max(end_ms, coalesce(last_line_at, 0)) + ?2 <= ?1)",
    [ST_CLOSE_ALL] = "UPDATE windows SET status = 'closed', closed_at = ?1 WHERE status = 'open'",
    [ST_CLOSE_SERVICE] = "UPDATE windows SET status = 'closed', closed_at = ?1 WHERE status = 'open' "
                         "AND service_id = (SELECT id FROM services WHERE name = ?2)",
    [ST_RECOVER] = "UPDATE windows SET status = 'closed' WHERE status = 'analyzing'",
    /* a service's windows are analysed in order: each one's history is the windows before it */
    [ST_CLAIM_CLOSED] = "SELECT id FROM windows w WHERE status = 'closed' AND NOT EXISTS (SELECT 1 FROM windows p "
                        "WHERE p.service_id = w.service_id AND p.start_ms < w.start_ms "
                        "AND p.status IN ('closed', 'analyzing')) ORDER BY end_ms, id LIMIT 1",
    [ST_CLAIM_FAILED] = "SELECT id FROM windows WHERE status = 'failed' AND next_attempt_at <= ?1 "
                        "ORDER BY next_attempt_at, id LIMIT 1",
    /* windows the baseline covered for a failed model, due to be read by the model again */
    [ST_CLAIM_REANALYZE] = "SELECT id FROM windows WHERE status = 'analyzed' AND next_attempt_at <= ?1 "
                           "ORDER BY next_attempt_at, id LIMIT 1",
    [ST_CLAIM_SET] = "UPDATE windows SET status = 'analyzing', attempts = attempts + 1 WHERE id = ?1 "
                     "RETURNING service_id, start_ms, end_ms, line_count, attempts, "
                     "(SELECT name FROM services s WHERE s.id = windows.service_id), health",
    [ST_SERVICE_CONTEXT] = "SELECT context FROM services WHERE id = ?1",
    [ST_LINES] = "SELECT ts, level, message FROM logs WHERE window_id = ?1 ORDER BY ts, id LIMIT ?2",
    [ST_ANOMALY_INSERT] = "INSERT INTO anomalies(window_id, service_id, window_start, window_end, severity, "
                          "severity_rank, type, summary, evidence, recommended_action, created_at, analyzer, "
                          "template_ids, evidence_verified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_FINISH] = "UPDATE windows SET status = 'analyzed', health = ?2, anomaly_count = anomaly_count + ?3, "
                  "analyzer = ?4, model = ?5, prompt_tokens = ?6, completion_tokens = ?7, latency_ms = ?8, "
                  "error = ?10, next_attempt_at = ?11, analyzed_at = ?9 WHERE id = ?1 AND status = 'analyzing'",
    [ST_PROMPT_SAVE] = "INSERT INTO window_prompts(window_id, system_prompt, user_prompt, digest) "
                       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(window_id) DO UPDATE SET "
                       "system_prompt = excluded.system_prompt, user_prompt = excluded.user_prompt, "
                       "digest = excluded.digest",
    [ST_FAIL] = "UPDATE windows SET status = 'failed', health = 'unknown', error = ?2, next_attempt_at = ?3, "
                "analyzer = ?4, model = ?5, prompt_tokens = ?6, completion_tokens = ?7, latency_ms = ?8 "
                "WHERE id = ?1 AND status = 'analyzing'",
    [ST_RELEASE] = "UPDATE windows SET status = 'closed', attempts = max(attempts - 1, 0) "
                   "WHERE id = ?1 AND status = 'analyzing'",
    [ST_COUNT_STATUS] = "SELECT count(*) FROM windows WHERE ?1 IS NULL OR status = ?1",
    [ST_ANOMALIES_ALL] = ANOMALY_COLS "FROM anomalies a JOIN services s ON s.id = a.service_id WHERE "
                         ANOMALIES_WHERE,
    [ST_ANOMALIES_SERVICE] = ANOMALY_COLS "FROM anomalies a JOIN services s ON s.id = a.service_id "
                             "WHERE a.service_id = (SELECT id FROM services WHERE name = ?8) AND " ANOMALIES_WHERE,
    [ST_ANOMALIES_WINDOW] = ANOMALY_COLS "FROM anomalies a JOIN services s ON s.id = a.service_id "
                            "WHERE a.window_id = ?1 ORDER BY a.severity_rank DESC, a.id",
    [ST_PROMPT_GET] = "SELECT p.system_prompt, p.user_prompt, p.digest, w.redactions FROM window_prompts p "
                      "JOIN windows w ON w.id = p.window_id WHERE p.window_id = ?1",
    [ST_SERVICES] = "SELECT name, context, context_source, watermark, last_seen, created_at FROM services "
                    "ORDER BY name",
    [ST_SERVICE_GET] = "SELECT name, context, context_source, watermark, last_seen, created_at FROM services "
                       "WHERE name = ?1",
    [ST_TEMPLATES_LOAD] = "SELECT id, text, total FROM templates WHERE service_id = ?1 ORDER BY id",
    [ST_TEMPLATES_KNOWN] = "SELECT id, first_seen < ?2, benign FROM templates WHERE service_id = ?1 ORDER BY id",
    [ST_TEMPLATE_COUNTS] = "SELECT template_id, sum(count), count(*) FROM template_counts WHERE service_id = ?1 "
                           "AND window_start >= ?2 AND window_start < ?3 GROUP BY template_id",
    [ST_WINDOW_HISTORY] = "SELECT count(*), avg(error_lines) FROM windows WHERE service_id = ?1 AND start_ms >= ?2 "
                          "AND start_ms < ?3 AND error_lines IS NOT NULL",
    [ST_TEMPLATE_UPSERT] = "INSERT INTO templates(service_id, id, text, max_level, first_seen, last_seen, total) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0) ON CONFLICT(service_id, id) DO UPDATE SET "
                           "text = excluded.text, max_level = max(max_level, excluded.max_level), "
                           "first_seen = min(first_seen, excluded.first_seen), "
                           "last_seen = max(last_seen, excluded.last_seen)",
    [ST_TEMPLATE_COUNT_INSERT] = "INSERT OR IGNORE INTO template_counts(service_id, window_start, template_id, count) "
                                 "VALUES (?1, ?2, ?3, ?4)",
    [ST_TEMPLATE_TOTAL] = "UPDATE templates SET total = total + ?3 WHERE service_id = ?1 AND id = ?2",
    [ST_WINDOW_ERRORS] = "UPDATE windows SET error_lines = ?2 WHERE id = ?1",
    [ST_TEMPLATE_BENIGN] = "UPDATE templates SET benign = 1 WHERE service_id = ?1 AND id = ?2",
    [ST_FEEDBACK] = "UPDATE anomalies SET feedback = ?2, feedback_note = ?3, feedback_at = ?4 WHERE id = ?1 "
                    "RETURNING service_id, template_ids",
    [ST_ANOMALY_GET] = ANOMALY_COLS "FROM anomalies a JOIN services s ON s.id = a.service_id WHERE a.id = ?1",
    [ST_WINDOW_SERVICE_ID] = "SELECT service_id FROM windows WHERE id = ?1",
    [ST_WINDOW_REDACTIONS] = "UPDATE windows SET redactions = ?2 WHERE id = ?1",
    [ST_SUPPRESSION_GET] = "SELECT opened_by, severity_rank, opened_at, until_ms FROM suppressions "
                           "WHERE service_id = ?1 AND type = ?2",
    [ST_SUPPRESSION_OPEN] = "INSERT INTO suppressions(service_id, type, opened_by, severity_rank, opened_at, until_ms) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(service_id, type) DO UPDATE SET "
                            "opened_by = excluded.opened_by, severity_rank = excluded.severity_rank, "
                            "opened_at = excluded.opened_at, until_ms = excluded.until_ms",
    [ST_ANOMALY_SUPPRESS] = "UPDATE anomalies SET suppressed = 1, suppressed_by = ?2 WHERE id = ?1",
    [ST_OUTBOX_INSERT] = "INSERT INTO outbox(anomaly_id, destination, kind, dedup_key, payload, status, "
                         "next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    [ST_OUTBOX_CLAIM] = "UPDATE outbox SET claimed_at = ?1, next_attempt_at = ?1 + ?2 WHERE id = (SELECT id FROM outbox "
                        "WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT 1) "
                        "RETURNING id, anomaly_id, destination, kind, dedup_key, payload, attempts, created_at",
    [ST_OUTBOX_ATTEMPT] = "INSERT INTO delivery_attempts(outbox_id, at, http_status, outcome, error) "
                          "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_OUTBOX_RESULT] = "UPDATE outbox SET attempts = attempts + 1, claimed_at = NULL, "
                         "status = CASE ?2 WHEN 'retry' THEN 'pending' ELSE ?2 END, "
                         "sent_at = CASE WHEN ?2 = 'sent' THEN ?3 END, "
                         "next_attempt_at = CASE WHEN ?2 = 'retry' THEN ?4 END, last_error = ?5 WHERE id = ?1",
    [ST_OUTBOX_RECOVER] = "UPDATE outbox SET claimed_at = NULL, next_attempt_at = ?1 "
                          "WHERE status = 'pending' AND claimed_at IS NOT NULL",
    [ST_NOTIFICATIONS] = "SELECT o.id, o.anomaly_id, o.destination, o.kind, o.dedup_key, o.status, o.attempts, "
                         "o.next_attempt_at, o.created_at, o.sent_at, o.last_error, o.payload, s.name, a.severity, "
                         "a.type, a.window_id FROM outbox o JOIN anomalies a ON a.id = o.anomaly_id "
                         "JOIN services s ON s.id = a.service_id WHERE (?1 IS NULL OR o.status = ?1) "
                         "AND (?2 IS NULL OR o.id < ?2) ORDER BY o.id DESC LIMIT ?3",
    [ST_OUTBOX_COUNTS] = "SELECT 'status', status, count(*) FROM outbox GROUP BY status UNION ALL "
                         "SELECT 'attempt', outcome, count(*) FROM delivery_attempts GROUP BY outcome",
    [ST_SUPPRESSIONS] = "SELECT s.name, p.type, p.opened_by, a.severity, p.opened_at, p.until_ms, "
                        "(SELECT count(*) FROM anomalies x WHERE x.suppressed_by = p.opened_by) "
                        "FROM suppressions p JOIN services s ON s.id = p.service_id "
                        "JOIN anomalies a ON a.id = p.opened_by WHERE p.until_ms > ?1 ORDER BY p.until_ms DESC",
    /* retention (store_expire_lines, store_expire_windows); each uses an index, see 008_retention.sql */
    /* "+status": the partial index windows_lines_kept, not windows_by_status (which holds every analysed window) */
    [ST_EXPIRE_LINES_NEXT] = "SELECT id FROM windows WHERE lines_expired = 0 AND end_ms <= ?1 "
                             "AND +status IN ('analyzed', 'failed') ORDER BY end_ms LIMIT 1",
    [ST_EXPIRE_WINDOW_LINES] = "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE window_id = ?1 LIMIT ?2)",
    [ST_EXPIRE_LINES_DONE] = "UPDATE windows SET lines_expired = 1 WHERE id = ?1",
    [ST_EXPIRE_WINDOW_NEXT] = "SELECT id, service_id, start_ms FROM windows WHERE start_ms < ?1 AND end_ms <= ?1 "
                              "AND +status <> 'analyzing' AND coalesce(analyzed_at, closed_at, end_ms) <= ?1 "
                              "ORDER BY start_ms LIMIT 1",
    [ST_EXPIRE_ATTEMPTS] = "DELETE FROM delivery_attempts WHERE outbox_id IN (SELECT o.id FROM anomalies a "
                           "JOIN outbox o ON o.anomaly_id = a.id WHERE a.window_id = ?1)",
    [ST_EXPIRE_OUTBOX] = "DELETE FROM outbox WHERE anomaly_id IN (SELECT id FROM anomalies WHERE window_id = ?1)",
    [ST_EXPIRE_ANOMALIES] = "DELETE FROM anomalies WHERE window_id = ?1",
    [ST_EXPIRE_PROMPT] = "DELETE FROM window_prompts WHERE window_id = ?1",
    [ST_EXPIRE_TEMPLATE_COUNTS] = "DELETE FROM template_counts WHERE service_id = ?1 AND window_start = ?2",
    [ST_EXPIRE_WINDOW] = "DELETE FROM windows WHERE id = ?1",
    /* one row per (service, type): a small table, read whole */
    [ST_EXPIRE_SUPPRESSIONS] = "DELETE FROM suppressions WHERE until_ms < ?1",
    [ST_CONTEXT_SET] = "INSERT INTO services(name, last_seen, created_at, context, context_source) "
                       "VALUES (?1, ?2, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE SET context = excluded.context, "
                       "context_source = excluded.context_source "
                       "WHERE excluded.context_source = 'api' OR coalesce(services.context_source, '') <> 'api'",
    /* an expired key not yet pruned is replaced, as if it had been */
    [ST_IDEM_PUT] = "INSERT INTO idempotency_keys(scope, key, endpoint, body_sha256, status, content_type, body, "
                    "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(scope, key) DO UPDATE SET "
                    "endpoint = excluded.endpoint, body_sha256 = excluded.body_sha256, status = excluded.status, "
                    "content_type = excluded.content_type, body = excluded.body, created_at = excluded.created_at",
    [ST_IDEM_GET] = "SELECT endpoint, body_sha256, status, content_type, body, created_at FROM idempotency_keys "
                    "WHERE scope = ?1 AND key = ?2 AND created_at > ?3",
    [ST_IDEM_PRUNE] = "DELETE FROM idempotency_keys WHERE id IN (SELECT id FROM idempotency_keys "
                      "WHERE created_at <= ?1 ORDER BY created_at LIMIT ?2)",
    [ST_JOURNAL_PUT] = "INSERT INTO journal_state(id, seq) VALUES (1, ?1) "
                       "ON CONFLICT(id) DO UPDATE SET seq = max(seq, excluded.seq)",
    [ST_JOURNAL_GET] = "SELECT seq FROM journal_state WHERE id = 1",
};
_Static_assert(sizeof stmt_sql / sizeof stmt_sql[0] == ST__COUNT, "one SQL text per statement id");

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
} conn;

/* Cache slot: services by name hash, windows by (service id, start). */
typedef struct svc_slot {
    char *name;
    int64_t id;
    int64_t max_ts;      /* pending watermark in the current transaction */
    int touched;
} svc_slot;

typedef struct win_slot {
    int64_t service_id, start_ms;  /* service_id 0: empty */
    int64_t id;
    int64_t pending;               /* lines added in the current transaction */
} win_slot;

struct sq {
    store base;             /* first: the dispatcher sees a store */
    char *path;
    conn w;
    conn bg;                 /* scheduler, analysis workers, service updates: short transactions */
    pthread_mutex_t bg_mu;
    pthread_mutex_t pool_mu;
    conn *pool[READ_POOL_MAX];
    int pool_n;
    int version;
    conn ck;                 /* the checkpointer's */
    pthread_t ck_thread;
    pthread_mutex_t ck_mu;
    pthread_cond_t ck_cv;
    int ck_started, ck_due, ck_stop;
    int ck_mark;             /* writer only: WAL size at which the checkpointer was last woken */
    svc_slot *svc;
    win_slot *win;
    size_t svc_used, win_used;
    /* slots touched in the current transaction, to flush and reset */
    size_t *svc_dirty, *win_dirty;
    size_t svc_ndirty, win_ndirty;
};

static void set_err(char *err, size_t errlen, const char *what, sqlite3 *db)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static store_rc rc_of(int src)
{
    switch (src & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return STORE_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_BUSY;
    default:
        return STORE_ERROR;
    }
}

/* Hands out the prepared statement id of c, reset and unbound. NULL on error. */
static sqlite3_stmt *stmt(conn *c, enum stmt_id id)
{
    if (!c->st[id]) {
        if (sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL) != SQLITE_OK)
            return NULL;
    } else {
        sqlite3_reset(c->st[id]);
        sqlite3_clear_bindings(c->st[id]);
    }
    return c->st[id];
}

static void conn_close(conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    memset(c, 0, sizeof *c);
}

static int conn_open(conn *c, const char *path, int readonly, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (readonly ? 0 : SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        set_err(err, errlen, path, c->db);
        conn_close(c);
        return -1;
    }
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    if (readonly && sqlite3_exec(c->db, "PRAGMA query_only = ON", NULL, NULL, NULL) != SQLITE_OK) {
        set_err(err, errlen, "query_only", c->db);
        conn_close(c);
        return -1;
    }
    return 0;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        if (err && errlen)
            snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int read_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &q, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int migrate(sq *s, char *err, size_t errlen)
{
    sqlite3 *db = s->w.db;
    if (exec(db,
             "CREATE TABLE IF NOT EXISTS schema_version ("
             " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
             err, errlen))
        return -1;
    if (read_version(db, &s->version)) {
        set_err(err, errlen, "reading schema_version", db);
        return -1;
    }
    if (s->version > store_schema_latest()) {
        snprintf(err, errlen, "database schema version %d is newer than this binary's %d: upgrade anomalog",
                 s->version, store_schema_latest());
        return -1;
    }
    /* Each migration not yet recorded is applied, in order: numbers are handed out
     * ahead of merging, so one may arrive below a database's highest version. */
    sqlite3_stmt *has;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM schema_version WHERE version = ?", -1, &has, NULL) != SQLITE_OK) {
        set_err(err, errlen, "reading schema_version", db);
        return -1;
    }
    for (int i = 0; i < migrations_count; i++) {
        const struct migration *m = &migrations[i];
        sqlite3_bind_int(has, 1, m->version);
        int applied = sqlite3_step(has) == SQLITE_ROW;
        sqlite3_reset(has);
        if (applied)
            continue;
        char what[512];
        if (exec(db, "BEGIN IMMEDIATE", err, errlen)) {
            sqlite3_finalize(has);
            return -1;
        }
        if (exec(db, m->sql, what, sizeof what)) {
            snprintf(err, errlen, "migration %s: %s", m->name, what);
            exec(db, "ROLLBACK", NULL, 0);
            sqlite3_finalize(has);
            return -1;
        }
        sqlite3_stmt *ins;
        int ok = sqlite3_prepare_v2(db, "INSERT INTO schema_version(version, name, applied_at) VALUES (?, ?, ?)",
                                    -1, &ins, NULL) == SQLITE_OK;
        if (ok) {
            sqlite3_bind_int(ins, 1, m->version);
            sqlite3_bind_text(ins, 2, m->name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 3, time_now_ms());
            ok = sqlite3_step(ins) == SQLITE_DONE;
            sqlite3_finalize(ins);
        }
        if (!ok || exec(db, "COMMIT", what, sizeof what)) {
            set_err(err, errlen, m->name, db);
            exec(db, "ROLLBACK", NULL, 0);
            sqlite3_finalize(has);
            return -1;
        }
        if (m->version > s->version)
            s->version = m->version;
    }
    sqlite3_finalize(has);
    return 0;
}

static void *checkpointer_main(void *arg)
{
    sq *s = arg;
    pthread_mutex_lock(&s->ck_mu);
    for (;;) {
        while (!s->ck_due && !s->ck_stop)
            pthread_cond_wait(&s->ck_cv, &s->ck_mu);
        if (s->ck_stop)
            break;
        s->ck_due = 0;
        pthread_mutex_unlock(&s->ck_mu);
        sqlite3_wal_checkpoint_v2(s->ck.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&s->ck_mu);
    }
    pthread_mutex_unlock(&s->ck_mu);
    return NULL;
}

/* After each commit of the write connection, on the writer's thread: pages is the WAL's size. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sq *s = arg;
    if (pages >= CKPT_WRITER_PAGES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else {
        if (pages < s->ck_mark)
            s->ck_mark = 0; /* the WAL was reset */
        if (pages < s->ck_mark + CKPT_PAGES)
            return SQLITE_OK;
        s->ck_mark = pages;
        pthread_mutex_lock(&s->ck_mu);
        s->ck_due = 1;
        pthread_cond_signal(&s->ck_cv);
        pthread_mutex_unlock(&s->ck_mu);
    }
    return SQLITE_OK;
}

/* SQLite's memory statistics take a global mutex on every allocation of every
 * connection; nothing here reads them. Must run before SQLite initialises:
 * the first store_open() comes first in every program (a later call, or one
 * after the program used SQLite itself, changes nothing). */
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

store_rc store_sqlite_open(const char *path, store_durability durability, store **out, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_setup);
    *out = NULL;
    sq *s = calloc(1, sizeof *s);
    if (s)
        s->base.ops = &sq_ops;
    if (!s || !(s->path = strdup(path)) || !(s->svc = calloc(CACHE_SLOTS, sizeof *s->svc)) ||
        !(s->win = calloc(CACHE_SLOTS, sizeof *s->win)) ||
        !(s->svc_dirty = calloc(CACHE_SLOTS, sizeof *s->svc_dirty)) ||
        !(s->win_dirty = calloc(CACHE_SLOTS, sizeof *s->win_dirty))) {
        snprintf(err, errlen, "out of memory");
        sq_close((store *)s);
        return STORE_ERROR;
    }
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_mutex_init(&s->bg_mu, NULL);
    pthread_mutex_init(&s->ck_mu, NULL);
    pthread_cond_init(&s->ck_cv, NULL);
    if (conn_open(&s->w, path, 0, err, errlen)) {
        sq_close((store *)s);
        return STORE_ERROR;
    }
    char mode[64] = "";
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->w.db, "PRAGMA journal_mode = WAL", -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW)
            snprintf(mode, sizeof mode, "%s", (const char *)sqlite3_column_text(q, 0));
        sqlite3_finalize(q);
    }
    if (strcmp(mode, "wal") != 0) {
        snprintf(err, errlen, "%s: cannot switch to WAL mode (%s)", path, sqlite3_errmsg(s->w.db));
        sq_close((store *)s);
        return STORE_ERROR;
    }
    const char *sync = durability == STORE_DURABLE_FULL ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
    if (exec(s->w.db, sync, err, errlen) || migrate(s, err, errlen) || conn_open(&s->bg, path, 0, err, errlen) ||
        exec(s->bg.db, sync, err, errlen) || conn_open(&s->ck, path, 0, err, errlen) ||
        exec(s->ck.db, sync, err, errlen)) {
        sq_close((store *)s);
        return STORE_ERROR;
    }
    if (pthread_create(&s->ck_thread, NULL, checkpointer_main, s) != 0) {
        snprintf(err, errlen, "cannot start the checkpointer thread");
        sq_close((store *)s);
        return STORE_ERROR;
    }
    s->ck_started = 1;
    sqlite3_wal_hook(s->w.db, wal_hook, s); /* replaces the auto-checkpoint: see Checkpoints */
    *out = &s->base;
    return STORE_OK;
}

static void sq_close(store *base)
{
    sq *s = (sq *)base;
    if (!s)
        return;
    if (s->ck_started) {
        pthread_mutex_lock(&s->ck_mu);
        s->ck_stop = 1;
        pthread_cond_signal(&s->ck_cv);
        pthread_mutex_unlock(&s->ck_mu);
        pthread_join(s->ck_thread, NULL);
    }
    if (s->ck.db)
        conn_close(&s->ck);
    for (int i = 0; i < s->pool_n; i++) {
        conn_close(s->pool[i]);
        free(s->pool[i]);
    }
    if (s->w.db)
        conn_close(&s->w);
    if (s->bg.db)
        conn_close(&s->bg);
    if (s->svc)
        for (size_t i = 0; i < CACHE_SLOTS; i++)
            free(s->svc[i].name);
    free(s->svc);
    free(s->win);
    free(s->svc_dirty);
    free(s->win_dirty);
    free(s->path);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->bg_mu);
    pthread_mutex_destroy(&s->ck_mu);
    pthread_cond_destroy(&s->ck_cv);
    free(s);
}

static int sq_schema_version(store *base)
{
    sq *s = (sq *)base;
    return s->version;
}

/* ---- write path ---------------------------------------------------------- */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t hash_win(int64_t service_id, int64_t start)
{
    uint64_t h = (uint64_t)service_id * 0x9E3779B97F4A7C15ULL ^ (uint64_t)start * 0xC2B2AE3D27D4EB4FULL;
    return h ^ (h >> 29);
}

static void caches_clear(sq *s)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        free(s->svc[i].name);
    memset(s->svc, 0, CACHE_SLOTS * sizeof *s->svc);
    memset(s->win, 0, CACHE_SLOTS * sizeof *s->win);
    s->svc_used = s->win_used = s->svc_ndirty = s->win_ndirty = 0;
}

/* Caches are cleared between transactions when 3/4 full, so a probe always ends. */
static void caches_trim(sq *s)
{
    if (s->svc_used > CACHE_SLOTS * 3 / 4 || s->win_used > CACHE_SLOTS * 3 / 4)
        caches_clear(s);
}

static int select_id(conn *c, enum stmt_id id, int64_t *out)
{
    sqlite3_stmt *q = c->st[id];
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(q, 0);
    /* A statement left on a row keeps its read snapshot open past COMMIT; the
     * next BEGIN IMMEDIATE would then fail with SQLITE_BUSY_SNAPSHOT as soon
     * as another connection has written. Reset before returning. */
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? SQLITE_OK : rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc;
}

static int service_slot(sq *s, const char *name, int64_t now, svc_slot **out)
{
    size_t len = strlen(name);
    size_t i = hash_bytes(name, len) & (CACHE_SLOTS - 1);
    while (s->svc[i].name) {
        if (strcmp(s->svc[i].name, name) == 0) {
            *out = &s->svc[i];
            return SQLITE_OK;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    sqlite3_stmt *q = stmt(&s->w, ST_SERVICE_INSERT);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_text(q, 1, name, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, now);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_DONE)
        return rc;
    q = stmt(&s->w, ST_SERVICE_SELECT);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_text(q, 1, name, (int)len, SQLITE_STATIC);
    int64_t id = 0;
    if ((rc = select_id(&s->w, ST_SERVICE_SELECT, &id)) != SQLITE_OK)
        return rc;
    if (!(s->svc[i].name = strdup(name)))
        return SQLITE_NOMEM;
    s->svc[i].id = id;
    s->svc_used++;
    *out = &s->svc[i];
    return SQLITE_OK;
}

static int window_slot(sq *s, int64_t service_id, int64_t start, int64_t window_ms, win_slot **out)
{
    size_t i = hash_win(service_id, start) & (CACHE_SLOTS - 1);
    while (s->win[i].service_id) {
        if (s->win[i].service_id == service_id && s->win[i].start_ms == start) {
            *out = &s->win[i];
            return SQLITE_OK;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    sqlite3_stmt *q = stmt(&s->w, ST_WINDOW_INSERT);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, service_id);
    sqlite3_bind_int64(q, 2, start);
    sqlite3_bind_int64(q, 3, start + window_ms);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_DONE)
        return rc;
    q = stmt(&s->w, ST_WINDOW_SELECT);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, service_id);
    sqlite3_bind_int64(q, 2, start);
    int64_t id = 0;
    if ((rc = select_id(&s->w, ST_WINDOW_SELECT, &id)) != SQLITE_OK)
        return rc;
    s->win[i] = (win_slot){.service_id = service_id, .start_ms = start, .id = id};
    s->win_used++;
    *out = &s->win[i];
    return SQLITE_OK;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int write_entry(sq *s, const log_entry *e, int64_t received, int64_t window_ms)
{
    svc_slot *sv = NULL;
    int rc = service_slot(s, e->service, received, &sv);
    if (rc != SQLITE_OK)
        return rc;
    if (!sv->touched) {
        sv->touched = 1;
        sv->max_ts = e->ts_ms;
        s->svc_dirty[s->svc_ndirty++] = (size_t)(sv - s->svc);
    } else if (e->ts_ms > sv->max_ts) {
        sv->max_ts = e->ts_ms;
    }
    win_slot *wn = NULL;
    int64_t start = floor_div(e->ts_ms, window_ms) * window_ms;
    if ((rc = window_slot(s, sv->id, start, window_ms, &wn)) != SQLITE_OK)
        return rc;
    if (wn->pending++ == 0)
        s->win_dirty[s->win_ndirty++] = (size_t)(wn - s->win);

    sqlite3_stmt *q = stmt(&s->w, ST_LOG_INSERT);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, wn->id);
    sqlite3_bind_int64(q, 2, e->ts_ms);
    if (e->level)
        sqlite3_bind_text(q, 3, e->level, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, e->message, (int)e->message_len, SQLITE_STATIC);
    if (e->attributes)
        sqlite3_bind_text(q, 5, e->attributes, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 6, received);
    rc = sqlite3_step(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Records a batch's Idempotency-Key in the transaction of its entries. */
static int write_idempotency(sq *s, const batch_idempotency *k)
{
    sqlite3_stmt *q = stmt(&s->w, ST_IDEM_PUT);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_text(q, 1, k->scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, k->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, k->endpoint, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 4, k->body_sha256, sizeof k->body_sha256, SQLITE_STATIC);
    sqlite3_bind_int(q, 5, k->status);
    if (k->content_type)
        sqlite3_bind_text(q, 6, k->content_type, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(q, 7, k->body ? k->body : "", k->body_len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 8, k->created_ms);
    int rc = sqlite3_step(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int write_journal_seq(sq *s, uint64_t seq)
{
    sqlite3_stmt *q = stmt(&s->w, ST_JOURNAL_PUT);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)seq);
    int rc = sqlite3_step(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static store_rc sq_journal_seq(store *base, uint64_t *seq, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    sqlite3_stmt *q = stmt(&s->w, ST_JOURNAL_GET);
    if (!q) {
        set_err(err, errlen, "journal", s->w.db);
        return STORE_ERROR;
    }
    int rc = sqlite3_step(q);
    *seq = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        set_err(err, errlen, "journal", s->w.db);
        return rc_of(rc);
    }
    return STORE_OK;
}

static int flush_counts(sq *s, int64_t now)
{
    for (size_t k = 0; k < s->win_ndirty; k++) {
        win_slot *wn = &s->win[s->win_dirty[k]];
        sqlite3_stmt *q = stmt(&s->w, ST_WINDOW_ADD);
        if (!q)
            return SQLITE_ERROR;
        sqlite3_bind_int64(q, 1, wn->id);
        sqlite3_bind_int64(q, 2, wn->pending);
        sqlite3_bind_int64(q, 3, now);
        int rc = sqlite3_step(q);
        if (rc != SQLITE_DONE)
            return rc;
        if (sqlite3_changes(s->w.db) == 0)
            return SQLITE_NOTFOUND; /* window retention deleted a cached window: see store_write_batches */
    }
    for (size_t k = 0; k < s->svc_ndirty; k++) {
        svc_slot *sv = &s->svc[s->svc_dirty[k]];
        sqlite3_stmt *q = stmt(&s->w, ST_SERVICE_TOUCH);
        if (!q)
            return SQLITE_ERROR;
        sqlite3_bind_int64(q, 1, sv->id);
        sqlite3_bind_int64(q, 2, sv->max_ts);
        sqlite3_bind_int64(q, 3, now);
        int rc = sqlite3_step(q);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

static void pending_reset(sq *s)
{
    for (size_t k = 0; k < s->win_ndirty; k++)
        s->win[s->win_dirty[k]].pending = 0;
    for (size_t k = 0; k < s->svc_ndirty; k++)
        s->svc[s->svc_dirty[k]].touched = 0;
    s->win_ndirty = s->svc_ndirty = 0;
}

static store_rc sq_write_batches(store *base, batch *const *batches, size_t n, int64_t window_ms, char *err,
                             size_t errlen)
{
    sq *s = (sq *)base;
    assert(window_ms > 0);
    caches_trim(s);
    int64_t now = time_now_ms();
    int rc = SQLITE_OK;
    uint64_t journal_seq = 0;
    /* A window cached by id may have been deleted by window retention since
     * (a line older than retention.windows): flush_counts notices, and the
     * transaction is written again once with empty caches, which recreate it. */
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = sqlite3_exec(s->w.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            set_err(err, errlen, "begin", s->w.db);
            return rc_of(rc);
        }
        for (size_t b = 0; b < n && rc == SQLITE_OK; b++) {
            const batch *bt = batches[b];
            for (size_t i = 0; i < bt->count && rc == SQLITE_OK; i++) {
                /* a cache that fills up inside one huge transaction is emptied and
                 * refilled from the database, whose rows this transaction can see */
                if (s->svc_used > CACHE_SLOTS * 3 / 4 || s->win_used > CACHE_SLOTS * 3 / 4) {
                    if ((rc = flush_counts(s, now)) != SQLITE_OK)
                        break;
                    pending_reset(s);
                    caches_clear(s);
                }
                rc = write_entry(s, &bt->entries[i], bt->received_ms, window_ms);
            }
            if (rc == SQLITE_OK && bt->idem)
                rc = write_idempotency(s, bt->idem);
            if (bt->journal_seq > journal_seq)
                journal_seq = bt->journal_seq;
        }
        if (rc == SQLITE_OK && journal_seq)
            rc = write_journal_seq(s, journal_seq);
        if (rc == SQLITE_OK)
            rc = flush_counts(s, now);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->w.db, "COMMIT", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            break;
        if (rc == SQLITE_NOTFOUND)
            snprintf(err, errlen, "write: a window was deleted by retention during the write");
        else
            set_err(err, errlen, "write", s->w.db);
        sqlite3_exec(s->w.db, "ROLLBACK", NULL, NULL, NULL);
        caches_clear(s); /* ids inserted by the rolled-back transaction are gone */
        if (rc != SQLITE_NOTFOUND)
            break;
    }
    if (rc != SQLITE_OK) {
        store_rc out = rc_of(rc);
        return out == STORE_OK ? STORE_ERROR : out;
    }
    pending_reset(s);
    return STORE_OK;
}

static store_rc sq_idempotency_prune(store *base, int64_t before_ms, int limit, int *deleted, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    *deleted = 0;
    sqlite3_stmt *q = stmt(&s->w, ST_IDEM_PRUNE);
    if (!q) {
        set_err(err, errlen, "prune idempotency keys", s->w.db);
        return STORE_ERROR;
    }
    sqlite3_bind_int64(q, 1, before_ms);
    sqlite3_bind_int(q, 2, limit);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        set_err(err, errlen, "prune idempotency keys", s->w.db);
        return rc_of(rc) == STORE_OK ? STORE_ERROR : rc_of(rc);
    }
    *deleted = sqlite3_changes(s->w.db);
    return STORE_OK;
}

/* ---- read path ----------------------------------------------------------- */

/* A row of a stepped statement, read through store_row (rows.h). */
static int sq_null(const store_row *r, int col)
{
    return sqlite3_column_type((sqlite3_stmt *)r->impl, col) == SQLITE_NULL;
}

static int64_t sq_i64(const store_row *r, int col)
{
    return sqlite3_column_int64((sqlite3_stmt *)r->impl, col);
}

static double sq_f64(const store_row *r, int col)
{
    return sqlite3_column_double((sqlite3_stmt *)r->impl, col);
}

static const char *sq_text(const store_row *r, int col)
{
    return (const char *)sqlite3_column_text((sqlite3_stmt *)r->impl, col);
}

static store_row sq_row(sqlite3_stmt *q)
{
    return (store_row){.impl = q, .null = sq_null, .i64 = sq_i64, .f64 = sq_f64, .text = sq_text};
}

static conn *reader_get(sq *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->pool_mu);
    conn *c = s->pool_n ? s->pool[--s->pool_n] : NULL;
    pthread_mutex_unlock(&s->pool_mu);
    if (c)
        return c;
    if (!(c = malloc(sizeof *c))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (conn_open(c, s->path, 1, err, errlen)) {
        free(c);
        return NULL;
    }
    return c;
}

static void reader_put(sq *s, conn *c)
{
    pthread_mutex_lock(&s->pool_mu);
    if (s->pool_n < READ_POOL_MAX) {
        s->pool[s->pool_n++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (c) {
        conn_close(c);
        free(c);
    }
}

static void column_text(sqlite3_stmt *q, int col, char *buf, size_t len)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    snprintf(buf, len, "%s", t ? (const char *)t : "");
}

/* Binds at col, col+1 the (start, id) every listed row is below: the smaller of
 * the cursor and (until, 0), or the largest pair when neither is given. */
static void bind_upper(sqlite3_stmt *q, int col, int has_until, int64_t until, int has_cursor, int64_t cur_start,
                       int64_t cur_id)
{
    int64_t start = INT64_MAX, id = INT64_MAX;
    if (has_cursor) {
        start = cur_start;
        id = cur_id;
    }
    if (has_until && (until < start || (until == start && id > 0))) {
        start = until;
        id = 0;
    }
    sqlite3_bind_int64(q, col, start);
    sqlite3_bind_int64(q, col + 1, id);
}

static store_rc sq_windows_list(store *base, const window_query *wq, window_info **rows, size_t *n, int *has_more,
                            char *err, size_t errlen)
{
    sq *s = (sq *)base;
    *rows = NULL;
    *n = 0;
    *has_more = 0;
    conn *c = reader_get(s, err, errlen);
    if (!c)
        return STORE_ERROR;
    enum stmt_id id = wq->service  ? ST_WINDOWS_SERVICE
                      : wq->status ? ST_WINDOWS_STATUS
                      : wq->health ? ST_WINDOWS_HEALTH
                                   : ST_WINDOWS_ALL;
    sqlite3_stmt *q = stmt(c, id);
    store_rc out = STORE_OK;
    window_info *res = NULL;
    if (!q) {
        set_err(err, errlen, "prepare", c->db);
        out = STORE_ERROR;
        goto done;
    }
    if (wq->has_since)
        sqlite3_bind_int64(q, 1, wq->since_ms);
    if (wq->status)
        sqlite3_bind_text(q, 3, wq->status, -1, SQLITE_STATIC);
    bind_upper(q, 4, wq->has_until, wq->until_ms, wq->has_cursor, wq->cursor_start, wq->cursor_id);
    sqlite3_bind_int(q, 6, wq->limit + 1);
    if (wq->service)
        sqlite3_bind_text(q, 7, wq->service, -1, SQLITE_STATIC);
    if (wq->health)
        sqlite3_bind_text(q, 8, wq->health, -1, SQLITE_STATIC);
    res = calloc((size_t)wq->limit + 1, sizeof *res);
    if (!res) {
        snprintf(err, errlen, "out of memory");
        out = STORE_ERROR;
        goto done;
    }
    int rc;
    size_t k = 0;
    store_row r = sq_row(q);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        window_from_row(&r, &res[k++]);
    if (rc != SQLITE_DONE) {
        set_err(err, errlen, "list windows", c->db);
        out = rc_of(rc) == STORE_OK ? STORE_ERROR : rc_of(rc);
        free(res);
        res = NULL;
        goto done;
    }
    if (k > (size_t)wq->limit) {
        *has_more = 1;
        k = (size_t)wq->limit;
    }
    *rows = res;
    *n = k;
done:
    if (q)
        sqlite3_reset(q);
    reader_put(s, c);
    return out;
}

static store_rc sq_window_get(store *base, int64_t id, window_info *out, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    conn *c = reader_get(s, err, errlen);
    if (!c)
        return STORE_ERROR;
    store_rc res;
    sqlite3_stmt *q = stmt(c, ST_WINDOW_GET);
    if (!q) {
        set_err(err, errlen, "prepare", c->db);
        res = STORE_ERROR;
    } else {
        sqlite3_bind_int64(q, 1, id);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            store_row r = sq_row(q);
            window_from_row(&r, out);
            res = STORE_OK;
        } else if (rc == SQLITE_DONE) {
            res = STORE_NOTFOUND;
        } else {
            set_err(err, errlen, "get window", c->db);
            res = rc_of(rc) == STORE_OK ? STORE_ERROR : rc_of(rc);
        }
        sqlite3_reset(q);
    }
    reader_put(s, c);
    return res;
}

static store_rc sq_count_logs(store *base, int64_t *count, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    conn *c = reader_get(s, err, errlen);
    if (!c)
        return STORE_ERROR;
    store_rc res = STORE_ERROR;
    sqlite3_stmt *q = stmt(c, ST_COUNT_LOGS);
    if (q && sqlite3_step(q) == SQLITE_ROW) {
        *count = sqlite3_column_int64(q, 0);
        res = STORE_OK;
    } else {
        set_err(err, errlen, "count", c->db);
    }
    if (q)
        sqlite3_reset(q);
    reader_put(s, c);
    return res;
}

static char *dup_column(sqlite3_stmt *q, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(q, col);
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    if (n)
        memcpy(out, p, n);
    out[n] = '\0';
    if (len)
        *len = n;
    return out;
}

static store_rc sq_idempotency_get(store *base, const char *scope, const char *key, int64_t after_ms,
                                   idempotency_record *out, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    memset(out, 0, sizeof *out);
    conn *c = reader_get(s, err, errlen);
    if (!c)
        return STORE_ERROR;
    store_rc res = STORE_ERROR;
    sqlite3_stmt *q = stmt(c, ST_IDEM_GET);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_text(q, 1, scope, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 3, after_ms);
        rc = sqlite3_step(q);
    }
    if (rc == SQLITE_DONE) {
        res = STORE_NOTFOUND;
    } else if (rc == SQLITE_ROW) {
        const void *sha = sqlite3_column_blob(q, 1);
        if (sha && sqlite3_column_bytes(q, 1) == (int)sizeof out->body_sha256)
            memcpy(out->body_sha256, sha, sizeof out->body_sha256);
        out->status = sqlite3_column_int(q, 2);
        const unsigned char *ct = sqlite3_column_text(q, 3);
        if (ct)
            snprintf(out->content_type, sizeof out->content_type, "%s", (const char *)ct);
        out->created_ms = sqlite3_column_int64(q, 5);
        out->endpoint = dup_column(q, 0, NULL);
        out->body = dup_column(q, 4, &out->body_len);
        if (out->endpoint && out->body) {
            res = STORE_OK;
        } else {
            idempotency_record_free(out);
            snprintf(err, errlen, "out of memory");
        }
    } else {
        set_err(err, errlen, "idempotency key", c->db);
        res = rc_of(rc) == STORE_BUSY ? STORE_BUSY : STORE_ERROR;
    }
    if (q)
        sqlite3_reset(q);
    reader_put(s, c);
    return res;
}

static store_rc sq_metrics(store *base, int64_t windows[5], int64_t *db_bytes, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    static const char *const statuses[5] = {"open", "closed", "analyzing", "analyzed", "failed"};
    conn *c = reader_get(s, err, errlen);
    if (!c)
        return STORE_ERROR;
    store_rc res = STORE_ERROR;
    for (int i = 0; i < 5; i++)
        windows[i] = 0;
    sqlite3_stmt *q = stmt(c, ST_WINDOW_STATUS_COUNTS);
    int step = SQLITE_DONE;
    while (q && (step = sqlite3_step(q)) == SQLITE_ROW) {
        const char *st = (const char *)sqlite3_column_text(q, 0);
        for (int i = 0; st && i < 5; i++)
            if (!strcmp(st, statuses[i]))
                windows[i] = sqlite3_column_int64(q, 1);
    }
    if (q)
        sqlite3_reset(q);
    sqlite3_stmt *z = q && step == SQLITE_DONE ? stmt(c, ST_DB_SIZE) : NULL;
    if (z && sqlite3_step(z) == SQLITE_ROW) {
        *db_bytes = sqlite3_column_int64(z, 0);
        res = STORE_OK;
    } else {
        set_err(err, errlen, "metrics", c->db);
    }
    if (z)
        sqlite3_reset(z);
    reader_put(s, c);
    return res;
}

static store_rc sq_ping(store *base, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    if (access(s->path, W_OK) != 0) {
        snprintf(err, errlen, "%s is not writable", s->path);
        return STORE_ERROR;
    }
    conn *c = reader_get(s, err, errlen);
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *q = stmt(c, ST_PING);
    store_rc res = q && sqlite3_step(q) == SQLITE_ROW ? STORE_OK : STORE_ERROR;
    if (res != STORE_OK)
        set_err(err, errlen, "ping", c->db);
    if (q)
        sqlite3_reset(q);
    reader_put(s, c);
    return res;
}

/* ---- analysis: background connection -------------------------------------- */

/*
 * Everything below that writes runs on s->bg under s->bg_mu, in short
 * transactions; SQLite serialises them with the writer's through the busy
 * timeout. Reads of lines, anomalies and services use the reader pool.
 */

static store_rc fail_bg(sq *s, char *err, size_t errlen, const char *what, int rc)
{
    set_err(err, errlen, what, s->bg.db);
    if (!sqlite3_get_autocommit(s->bg.db))
        sqlite3_exec(s->bg.db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->bg_mu);
    store_rc r = rc_of(rc);
    return r == STORE_OK ? STORE_ERROR : r;
}

static store_rc sq_windows_close(store *base, int64_t now_ms, int64_t grace_ms, int force, const char *service,
                             int *closed, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    pthread_mutex_lock(&s->bg_mu);
    enum stmt_id id = !force ? ST_CLOSE_DUE : service ? ST_CLOSE_SERVICE : ST_CLOSE_ALL;
    sqlite3_stmt *q = stmt(&s->bg, id);
    if (!q)
        return fail_bg(s, err, errlen, "prepare", SQLITE_ERROR);
    sqlite3_bind_int64(q, 1, now_ms);
    if (id == ST_CLOSE_DUE)
        sqlite3_bind_int64(q, 2, grace_ms);
    else if (id == ST_CLOSE_SERVICE)
        sqlite3_bind_text(q, 2, service, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_DONE)
        return fail_bg(s, err, errlen, "close windows", rc);
    *closed = sqlite3_changes(s->bg.db);
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

static store_rc sq_windows_recover(store *base, int *recovered, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    pthread_mutex_lock(&s->bg_mu);
    sqlite3_stmt *q = stmt(&s->bg, ST_RECOVER);
    int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
    if (rc != SQLITE_DONE)
        return fail_bg(s, err, errlen, "recover windows", rc);
    *recovered = sqlite3_changes(s->bg.db);
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

static store_rc sq_window_claim(store *base, int64_t now_ms, int64_t lease_ms, int retry_failed, window_work *w, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    (void)lease_ms; /* one process holds the file: no claim outlives it */
    memset(w, 0, sizeof *w);
    pthread_mutex_lock(&s->bg_mu);
    int rc = sqlite3_exec(s->bg.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_bg(s, err, errlen, "claim", rc);
    int64_t id = 0;
    sqlite3_stmt *q = stmt(&s->bg, ST_CLAIM_CLOSED);
    rc = q ? select_id(&s->bg, ST_CLAIM_CLOSED, &id) : SQLITE_ERROR;
    if (rc == SQLITE_NOTFOUND && retry_failed) {
        q = stmt(&s->bg, ST_CLAIM_FAILED);
        if (q)
            sqlite3_bind_int64(q, 1, now_ms);
        rc = q ? select_id(&s->bg, ST_CLAIM_FAILED, &id) : SQLITE_ERROR;
    }
    if (rc == SQLITE_NOTFOUND && retry_failed) {
        q = stmt(&s->bg, ST_CLAIM_REANALYZE);
        if (q)
            sqlite3_bind_int64(q, 1, now_ms);
        rc = q ? select_id(&s->bg, ST_CLAIM_REANALYZE, &id) : SQLITE_ERROR;
        w->reanalysis = rc == SQLITE_OK;
    }
    if (rc == SQLITE_NOTFOUND) {
        sqlite3_exec(s->bg.db, "COMMIT", NULL, NULL, NULL);
        pthread_mutex_unlock(&s->bg_mu);
        return STORE_NOTFOUND;
    }
    if (rc != SQLITE_OK)
        return fail_bg(s, err, errlen, "claim", rc);
    q = stmt(&s->bg, ST_CLAIM_SET);
    if (!q)
        return fail_bg(s, err, errlen, "claim", SQLITE_ERROR);
    sqlite3_bind_int64(q, 1, id);
    if ((rc = sqlite3_step(q)) != SQLITE_ROW)
        return fail_bg(s, err, errlen, "claim", rc);
    w->id = id;
    w->service_id = sqlite3_column_int64(q, 0);
    w->start_ms = sqlite3_column_int64(q, 1);
    w->end_ms = sqlite3_column_int64(q, 2);
    w->line_count = sqlite3_column_int64(q, 3);
    w->attempts = sqlite3_column_int(q, 4);
    column_text(q, 5, w->service, sizeof w->service);
    column_text(q, 6, w->health, sizeof w->health);
    sqlite3_reset(q);
    q = stmt(&s->bg, ST_SERVICE_CONTEXT);
    if (q) {
        sqlite3_bind_int64(q, 1, w->service_id);
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
            w->context = strdup((const char *)sqlite3_column_text(q, 0));
        sqlite3_reset(q);
    }
    if ((rc = sqlite3_exec(s->bg.db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        window_work_free(w);
        return fail_bg(s, err, errlen, "claim", rc);
    }
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

static void bind_text_or_null(sqlite3_stmt *q, int col, const char *v)
{
    if (v)
        sqlite3_bind_text(q, col, v, -1, SQLITE_STATIC);
}

static void bind_i64_or_null(sqlite3_stmt *q, int col, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(q, col, v);
}

static void bind_meta(sqlite3_stmt *q, int first, const analysis_meta *m)
{
    if (!m)
        return;
    bind_text_or_null(q, first, m->analyzer);
    bind_text_or_null(q, first + 1, m->model);
    bind_i64_or_null(q, first + 2, m->prompt_tokens);
    bind_i64_or_null(q, first + 3, m->completion_tokens);
    bind_i64_or_null(q, first + 4, m->latency_ms);
}

static int save_prompt(sq *s, const window_work *w, const analysis_meta *m)
{
    if (!m || ((!m->system_prompt || !m->user_prompt) && !m->digest))
        return SQLITE_OK;
    sqlite3_stmt *q = stmt(&s->bg, ST_PROMPT_SAVE);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, w->id);
    sqlite3_bind_text(q, 2, m->system_prompt ? m->system_prompt : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, m->user_prompt ? m->user_prompt : "", -1, SQLITE_STATIC);
    bind_text_or_null(q, 4, m->digest);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_DONE || !m->redactions)
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    char *red = json_dumps(m->redactions, JSON_COMPACT);
    sqlite3_stmt *u = stmt(&s->bg, ST_WINDOW_REDACTIONS);
    rc = SQLITE_ERROR;
    if (u) {
        sqlite3_bind_int64(u, 1, w->id);
        bind_text_or_null(u, 2, red);
        rc = sqlite3_step(u) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(u); /* red is bound static: unbind before freeing */
    }
    free(red);
    return rc;
}

typedef struct outbox_put_arg {
    sq *s;
    int64_t anomaly_id;
    const char *status;
    int64_t now;
} outbox_put_arg;

/* One outbox row (route_notifications' callback). */
static int outbox_put(void *arg, const route_dest *d, const char *dedup, const char *body)
{
    outbox_put_arg *pa = arg;
    sqlite3_stmt *q = stmt(&pa->s->bg, ST_OUTBOX_INSERT);
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, pa->anomaly_id);
    sqlite3_bind_text(q, 2, d->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, dest_kind_name(d->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, dedup, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, body, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, pa->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 7, pa->now);
    int r = sqlite3_step(q);
    sqlite3_reset(q); /* body is bound static: unbind before it is freed */
    return r == SQLITE_DONE ? 0 : -1;
}

/*
 * Suppression and the outbox for one anomaly just inserted, inside the
 * finish transaction: within an open interval of its (service, type) and not
 * more severe than the anomaly that opened it, the anomaly is marked
 * suppressed; otherwise it opens a new interval and one outbox row per
 * matching destination is written, its body built now.
 */
static int route_anomaly(sq *s, const window_work *w, const json_t *a, int64_t anomaly_id, int64_t now,
                         const route_config *rt)
{
    const char *type = json_string_value(json_object_get(a, "type"));
    const char *sev = json_string_value(json_object_get(a, "severity"));
    int rank = severity_rank_of(sev);
    if (!type || !sev)
        return SQLITE_OK;
    sqlite3_stmt *q = stmt(&s->bg, ST_SUPPRESSION_GET);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, w->service_id);
    sqlite3_bind_text(q, 2, type, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        int64_t opened_by = sqlite3_column_int64(q, 0), until = sqlite3_column_int64(q, 3);
        int open_rank = sqlite3_column_int(q, 1);
        sqlite3_reset(q);
        if (until > now && rank <= open_rank) {
            sqlite3_stmt *u = stmt(&s->bg, ST_ANOMALY_SUPPRESS);
            if (!u)
                return SQLITE_ERROR;
            sqlite3_bind_int64(u, 1, anomaly_id);
            sqlite3_bind_int64(u, 2, opened_by);
            rc = sqlite3_step(u);
            return rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
    } else if (rc != SQLITE_DONE) {
        return rc;
    }
    sqlite3_reset(q);
    int64_t until = now + route_suppress_ms(rt, w->service, type);
    q = stmt(&s->bg, ST_SUPPRESSION_OPEN);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, w->service_id);
    sqlite3_bind_text(q, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, anomaly_id);
    sqlite3_bind_int(q, 4, rank);
    sqlite3_bind_int64(q, 5, now);
    sqlite3_bind_int64(q, 6, until);
    if ((rc = sqlite3_step(q)) != SQLITE_DONE)
        return rc;

    outbox_put_arg pa = {s, anomaly_id, rt->dry_run ? "dry_run" : "pending", now};
    return route_notifications(w, a, anomaly_id, now, until, rt, outbox_put, &pa) ? SQLITE_NOMEM : SQLITE_OK;
}

static store_rc sq_window_finish(store *base, const window_work *w, const json_t *verdict, const analysis_meta *m,
                             char *err, size_t errlen)
{
    sq *s = (sq *)base;
    pthread_mutex_lock(&s->bg_mu);
    int rc = sqlite3_exec(s->bg.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_bg(s, err, errlen, "finish", rc);
    int64_t now = time_now_ms();
    const json_t *list = json_object_get(verdict, "anomalies");
    size_t i;
    const json_t *a;
    json_array_foreach(list, i, a)
    {
        sqlite3_stmt *q = stmt(&s->bg, ST_ANOMALY_INSERT);
        if (!q)
            return fail_bg(s, err, errlen, "finish", SQLITE_ERROR);
        const char *sev = json_string_value(json_object_get(a, "severity"));
        char *evidence = json_dumps(json_object_get(a, "evidence"), JSON_COMPACT);
        sqlite3_bind_int64(q, 1, w->id);
        sqlite3_bind_int64(q, 2, w->service_id);
        sqlite3_bind_int64(q, 3, w->start_ms);
        sqlite3_bind_int64(q, 4, w->end_ms);
        bind_text_or_null(q, 5, sev);
        sqlite3_bind_int(q, 6, severity_rank_of(sev));
        bind_text_or_null(q, 7, json_string_value(json_object_get(a, "type")));
        bind_text_or_null(q, 8, json_string_value(json_object_get(a, "summary")));
        bind_text_or_null(q, 9, evidence ? evidence : "[]");
        bind_text_or_null(q, 10, json_string_value(json_object_get(a, "recommended_action")));
        sqlite3_bind_int64(q, 11, now);
        const char *an = json_string_value(json_object_get(a, "analyzer"));
        bind_text_or_null(q, 12, an ? an : m && m->analyzer ? m->analyzer : "llm");
        json_t *tids = json_object_get(a, "template_ids");
        char *tids_text = json_array_size(tids) ? json_dumps(tids, JSON_COMPACT) : NULL;
        bind_text_or_null(q, 13, tids_text);
        /* a baseline finding is built from the window's lines; a model's is verified by the analyzer */
        int verified = !json_is_false(json_object_get(a, "evidence_verified"));
        sqlite3_bind_int(q, 14, verified);
        rc = sqlite3_step(q);
        sqlite3_reset(q); /* evidence is bound static: unbind before freeing */
        free(evidence);
        free(tids_text);
        if (rc != SQLITE_DONE)
            return fail_bg(s, err, errlen, "store anomaly", rc);
        if (verified && m && m->routing && (rc = route_anomaly(s, w, a, sqlite3_last_insert_rowid(s->bg.db), now, m->routing)) !=
                                   SQLITE_OK)
            return fail_bg(s, err, errlen, "route anomaly", rc);
    }
    sqlite3_stmt *q = stmt(&s->bg, ST_FINISH);
    if (!q)
        return fail_bg(s, err, errlen, "finish", SQLITE_ERROR);
    sqlite3_bind_int64(q, 1, w->id);
    bind_text_or_null(q, 2, json_string_value(json_object_get(verdict, "health")));
    sqlite3_bind_int64(q, 3, (int64_t)json_array_size(list));
    bind_meta(q, 4, m);
    sqlite3_bind_int64(q, 9, now);
    if (m)
        bind_text_or_null(q, 10, m->note);
    if (m && m->reanalyze_at > 0)
        sqlite3_bind_int64(q, 11, m->reanalyze_at);
    if ((rc = sqlite3_step(q)) != SQLITE_DONE)
        return fail_bg(s, err, errlen, "finish", rc);
    if (sqlite3_changes(s->bg.db) != 1) {
        sqlite3_exec(s->bg.db, "ROLLBACK", NULL, NULL, NULL);
        pthread_mutex_unlock(&s->bg_mu);
        snprintf(err, errlen, "window %lld is no longer being analysed", (long long)w->id);
        return STORE_NOTFOUND;
    }
    if ((rc = save_prompt(s, w, m)) != SQLITE_OK || (rc = sqlite3_exec(s->bg.db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        return fail_bg(s, err, errlen, "finish", rc);
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

static store_rc sq_window_fail(store *base, const window_work *w, const char *reason, int64_t next_attempt_ms,
                           const analysis_meta *m, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    pthread_mutex_lock(&s->bg_mu);
    int rc = sqlite3_exec(s->bg.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_bg(s, err, errlen, "fail", rc);
    sqlite3_stmt *q = stmt(&s->bg, ST_FAIL);
    if (!q)
        return fail_bg(s, err, errlen, "fail", SQLITE_ERROR);
    sqlite3_bind_int64(q, 1, w->id);
    sqlite3_bind_text(q, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, next_attempt_ms);
    bind_meta(q, 4, m);
    if ((rc = sqlite3_step(q)) != SQLITE_DONE || (rc = save_prompt(s, w, m)) != SQLITE_OK ||
        (rc = sqlite3_exec(s->bg.db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        return fail_bg(s, err, errlen, "fail", rc);
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

static store_rc sq_window_release(store *base, const window_work *w, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    pthread_mutex_lock(&s->bg_mu);
    sqlite3_stmt *q = stmt(&s->bg, ST_RELEASE);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_int64(q, 1, w->id);
        rc = sqlite3_step(q);
    }
    if (rc != SQLITE_DONE)
        return fail_bg(s, err, errlen, "release", rc);
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

/* ---- analysis: reads ------------------------------------------------------- */

/* Runs fn over the rows of a reader statement; fn returns 0 to go on. */
static store_rc read_rows(sq *s, enum stmt_id id, void (*bind)(sqlite3_stmt *, const void *), const void *barg,
                          row_fn fn, void *arg, char *err, size_t errlen)
{
    conn *c = reader_get(s, err, errlen);
    if (!c)
        return STORE_ERROR;
    store_rc out = STORE_OK;
    sqlite3_stmt *q = stmt(c, id);
    if (!q) {
        set_err(err, errlen, "prepare", c->db);
        out = STORE_ERROR;
    } else {
        if (bind)
            bind(q, barg);
        int rc;
        store_row r = sq_row(q);
        while ((rc = sqlite3_step(q)) == SQLITE_ROW)
            if (fn(&r, arg))
                break;
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            set_err(err, errlen, "read", c->db);
            out = rc_of(rc) == STORE_OK ? STORE_ERROR : rc_of(rc);
        }
        sqlite3_reset(q);
    }
    reader_put(s, c);
    return out;
}

static store_rc sq_windows_count(store *base, const char *status, int64_t *n, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    conn *c = reader_get(s, err, errlen);
    if (!c)
        return STORE_ERROR;
    store_rc res = STORE_ERROR;
    sqlite3_stmt *q = stmt(c, ST_COUNT_STATUS);
    if (q) {
        if (status)
            sqlite3_bind_text(q, 1, status, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            *n = sqlite3_column_int64(q, 0);
            res = STORE_OK;
        }
        sqlite3_reset(q);
    }
    if (res != STORE_OK)
        set_err(err, errlen, "count windows", c->db);
    reader_put(s, c);
    return res;
}

typedef struct lines_bind {
    int64_t window_id;
    size_t max;
} lines_bind;

static void bind_lines(sqlite3_stmt *q, const void *p)
{
    const lines_bind *b = p;
    sqlite3_bind_int64(q, 1, b->window_id);
    sqlite3_bind_int64(q, 2, (int64_t)b->max);
}

static store_rc sq_window_lines(store *base, int64_t window_id, size_t max, window_lines *out, char *err,
                                size_t errlen)
{
    sq *s = (sq *)base;
    lines_acc a = {.out = out};
    lines_bind b = {window_id, max};
    store_rc rc = read_rows(s, ST_LINES, bind_lines, &b, line_row, &a, err, errlen);
    if (rc == STORE_OK && a.oom) {
        snprintf(err, errlen, "out of memory reading window lines");
        rc = STORE_ERROR;
    }
    if (rc != STORE_OK)
        window_lines_free(out);
    return rc;
}

static void bind_anomaly_query(sqlite3_stmt *q, const void *p)
{
    const anomaly_query *aq = p;
    if (aq->has_since)
        sqlite3_bind_int64(q, 1, aq->since_ms);
    sqlite3_bind_int(q, 3, aq->min_severity);
    if (aq->type)
        sqlite3_bind_text(q, 4, aq->type, -1, SQLITE_STATIC);
    bind_upper(q, 5, aq->has_until, aq->until_ms, aq->has_cursor, aq->cursor_start, aq->cursor_id);
    sqlite3_bind_int(q, 7, aq->limit + 1);
    if (aq->service)
        sqlite3_bind_text(q, 8, aq->service, -1, SQLITE_STATIC);
}

static store_rc sq_anomalies_list(store *base, const anomaly_query *aq, json_t **out, char *next_cursor, size_t curlen,
                              char *err, size_t errlen)
{
    sq *s = (sq *)base;
    anomalies_acc a = {.arr = json_array(), .limit = aq->limit};
    next_cursor[0] = '\0';
    store_rc rc = read_rows(s, aq->service ? ST_ANOMALIES_SERVICE : ST_ANOMALIES_ALL, bind_anomaly_query, aq,
                            anomaly_row, &a, err, errlen);
    if (rc != STORE_OK) {
        json_decref(a.arr);
        return rc;
    }
    if (a.more)
        snprintf(next_cursor, curlen, "%lld:%lld", (long long)a.last_start, (long long)a.last_id);
    *out = a.arr;
    return STORE_OK;
}

static void bind_id(sqlite3_stmt *q, const void *p)
{
    sqlite3_bind_int64(q, 1, *(const int64_t *)p);
}

static store_rc sq_window_anomalies(store *base, int64_t window_id, json_t **out, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    anomalies_acc a = {.arr = json_array(), .limit = -1};
    store_rc rc = read_rows(s, ST_ANOMALIES_WINDOW, bind_id, &window_id, anomaly_row, &a, err, errlen);
    if (rc != STORE_OK) {
        json_decref(a.arr);
        return rc;
    }
    *out = a.arr;
    return STORE_OK;
}

static store_rc sq_window_prompt(store *base, int64_t window_id, json_t **out, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    *out = NULL;
    store_rc rc = read_rows(s, ST_PROMPT_GET, bind_id, &window_id, prompt_row, out, err, errlen);
    return rc == STORE_OK && !*out ? STORE_NOTFOUND : rc;
}

static store_rc sq_services_list(store *base, json_t **out, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    json_t *arr = json_array();
    store_rc rc = read_rows(s, ST_SERVICES, NULL, NULL, service_row, arr, err, errlen);
    if (rc != STORE_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return STORE_OK;
}

static void bind_name(sqlite3_stmt *q, const void *p)
{
    sqlite3_bind_text(q, 1, p, -1, SQLITE_STATIC);
}

static store_rc sq_service_set_context(store *base, const char *name, const char *context, const char *source,
                                   json_t **service, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    pthread_mutex_lock(&s->bg_mu);
    sqlite3_stmt *q = stmt(&s->bg, ST_CONTEXT_SET);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, time_now_ms());
        bind_text_or_null(q, 3, context);
        sqlite3_bind_text(q, 4, source, -1, SQLITE_STATIC);
        rc = sqlite3_step(q);
    }
    if (rc != SQLITE_DONE)
        return fail_bg(s, err, errlen, "set context", rc);
    pthread_mutex_unlock(&s->bg_mu);
    if (!service)
        return STORE_OK;
    json_t *arr = json_array();
    store_rc r = read_rows(s, ST_SERVICE_GET, bind_name, name, service_row, arr, err, errlen);
    *service = r == STORE_OK ? json_incref(json_array_get(arr, 0)) : NULL;
    json_decref(arr);
    return r;
}

/* ---- templates ------------------------------------------------------------- */

static store_rc sq_templates_load(store *base, int64_t service_id,
                              void (*fn)(void *arg, int64_t id, const char *text, uint64_t total), void *arg,
                              char *err, size_t errlen)
{
    sq *s = (sq *)base;
    load_arg a = {fn, arg};
    return read_rows(s, ST_TEMPLATES_LOAD, bind_id, &service_id, template_load_row, &a, err, errlen);
}

typedef struct span_bind {
    int64_t service_id, from, before;
} span_bind;

static void bind_span(sqlite3_stmt *q, const void *p)
{
    const span_bind *b = p;
    sqlite3_bind_int64(q, 1, b->service_id);
    sqlite3_bind_int64(q, 2, b->from);
    sqlite3_bind_int64(q, 3, b->before);
}

static void bind_known(sqlite3_stmt *q, const void *p)
{
    const span_bind *b = p;
    sqlite3_bind_int64(q, 1, b->service_id);
    sqlite3_bind_int64(q, 2, b->before);
}

static store_rc sq_template_history(store *base, int64_t service_id, int64_t from_ms, int64_t before_ms,
                                template_history **rows, size_t *n, int *depth, double *error_avg, char *err,
                                size_t errlen)
{
    sq *s = (sq *)base;
    hist_acc a = {0};
    span_bind b = {service_id, from_ms, before_ms};
    depth_out d = {0, -1};
    store_rc rc = read_rows(s, ST_TEMPLATES_KNOWN, bind_known, &b, hist_known_row, &a, err, errlen);
    if (rc == STORE_OK && a.oom) {
        snprintf(err, errlen, "out of memory");
        rc = STORE_ERROR;
    }
    if (rc == STORE_OK)
        rc = read_rows(s, ST_TEMPLATE_COUNTS, bind_span, &b, hist_count_row, &a, err, errlen);
    if (rc == STORE_OK)
        rc = read_rows(s, ST_WINDOW_HISTORY, bind_span, &b, depth_row, &d, err, errlen);
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

static store_rc sq_templates_record(store *base, int64_t service_id, int64_t window_id, int64_t window_start,
                                const store_template *t, size_t n, long error_lines, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    pthread_mutex_lock(&s->bg_mu);
    int rc = sqlite3_exec(s->bg.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_bg(s, err, errlen, "templates", rc);
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *q = stmt(&s->bg, ST_TEMPLATE_UPSERT);
        if (!q)
            return fail_bg(s, err, errlen, "templates", SQLITE_ERROR);
        sqlite3_bind_int64(q, 1, service_id);
        sqlite3_bind_int64(q, 2, t[i].id);
        sqlite3_bind_text(q, 3, t[i].text, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 4, t[i].max_level);
        sqlite3_bind_int64(q, 5, window_start);
        if ((rc = sqlite3_step(q)) != SQLITE_DONE)
            return fail_bg(s, err, errlen, "templates", rc);
        q = stmt(&s->bg, ST_TEMPLATE_COUNT_INSERT);
        if (!q)
            return fail_bg(s, err, errlen, "templates", SQLITE_ERROR);
        sqlite3_bind_int64(q, 1, service_id);
        sqlite3_bind_int64(q, 2, window_start);
        sqlite3_bind_int64(q, 3, t[i].id);
        sqlite3_bind_int64(q, 4, (int64_t)t[i].count);
        if ((rc = sqlite3_step(q)) != SQLITE_DONE)
            return fail_bg(s, err, errlen, "templates", rc);
        if (sqlite3_changes(s->bg.db) == 1) { /* first time this window is recorded */
            q = stmt(&s->bg, ST_TEMPLATE_TOTAL);
            if (!q)
                return fail_bg(s, err, errlen, "templates", SQLITE_ERROR);
            sqlite3_bind_int64(q, 1, service_id);
            sqlite3_bind_int64(q, 2, t[i].id);
            sqlite3_bind_int64(q, 3, (int64_t)t[i].count);
            if ((rc = sqlite3_step(q)) != SQLITE_DONE)
                return fail_bg(s, err, errlen, "templates", rc);
        }
    }
    sqlite3_stmt *q = stmt(&s->bg, ST_WINDOW_ERRORS);
    if (!q)
        return fail_bg(s, err, errlen, "templates", SQLITE_ERROR);
    sqlite3_bind_int64(q, 1, window_id);
    sqlite3_bind_int64(q, 2, error_lines);
    if ((rc = sqlite3_step(q)) != SQLITE_DONE || (rc = sqlite3_exec(s->bg.db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        return fail_bg(s, err, errlen, "templates", rc);
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

static int mark_benign(sq *s, int64_t service_id, const int64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *q = stmt(&s->bg, ST_TEMPLATE_BENIGN);
        if (!q)
            return SQLITE_ERROR;
        sqlite3_bind_int64(q, 1, service_id);
        sqlite3_bind_int64(q, 2, ids[i]);
        int rc = sqlite3_step(q);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

static store_rc sq_templates_benign(store *base, int64_t service_id, const int64_t *ids, size_t n, char *err,
                                size_t errlen)
{
    sq *s = (sq *)base;
    pthread_mutex_lock(&s->bg_mu);
    int rc = mark_benign(s, service_id, ids, n);
    if (rc != SQLITE_OK)
        return fail_bg(s, err, errlen, "benign", rc);
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

static store_rc sq_anomaly_feedback(store *base, int64_t anomaly_id, const char *verdict, const char *note, json_t **out,
                                char *err, size_t errlen)
{
    sq *s = (sq *)base;
    *out = NULL;
    pthread_mutex_lock(&s->bg_mu);
    int rc = sqlite3_exec(s->bg.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_bg(s, err, errlen, "feedback", rc);
    sqlite3_stmt *q = stmt(&s->bg, ST_FEEDBACK);
    if (!q)
        return fail_bg(s, err, errlen, "feedback", SQLITE_ERROR);
    sqlite3_bind_int64(q, 1, anomaly_id);
    sqlite3_bind_text(q, 2, verdict, -1, SQLITE_STATIC);
    bind_text_or_null(q, 3, note);
    sqlite3_bind_int64(q, 4, time_now_ms());
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        sqlite3_exec(s->bg.db, "ROLLBACK", NULL, NULL, NULL);
        pthread_mutex_unlock(&s->bg_mu);
        return STORE_NOTFOUND;
    }
    if (rc != SQLITE_ROW)
        return fail_bg(s, err, errlen, "feedback", rc);
    int64_t service_id = sqlite3_column_int64(q, 0);
    const unsigned char *tids = sqlite3_column_text(q, 1);
    json_t *ids = tids ? json_loads((const char *)tids, 0, NULL) : NULL;
    sqlite3_reset(q);
    if (strcmp(verdict, "false_positive") == 0 && json_array_size(ids)) {
        size_t k = json_array_size(ids), i;
        int64_t v[64];
        json_t *x;
        size_t m = 0;
        json_array_foreach(ids, i, x) if (m < 64 && json_is_integer(x)) v[m++] = json_integer_value(x);
        (void)k;
        rc = mark_benign(s, service_id, v, m);
    } else {
        rc = SQLITE_OK;
    }
    json_decref(ids);
    if (rc != SQLITE_OK || (rc = sqlite3_exec(s->bg.db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        return fail_bg(s, err, errlen, "feedback", rc);
    pthread_mutex_unlock(&s->bg_mu);
    anomalies_acc a = {.arr = json_array(), .limit = -1};
    store_rc r = read_rows(s, ST_ANOMALY_GET, bind_id, &anomaly_id, anomaly_row, &a, err, errlen);
    if (r == STORE_OK)
        *out = json_incref(json_array_get(a.arr, 0));
    json_decref(a.arr);
    return r;
}

static store_rc sq_window_service_id(store *base, int64_t window_id, int64_t *service_id, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    *service_id = 0;
    store_rc rc = read_rows(s, ST_WINDOW_SERVICE_ID, bind_id, &window_id, id_row, service_id, err, errlen);
    if (rc == STORE_OK && !*service_id) {
        snprintf(err, errlen, "no window %lld", (long long)window_id);
        return STORE_NOTFOUND;
    }
    return rc;
}

/* ---- notifications: the outbox ------------------------------------------------ */

static store_rc sq_outbox_claim(store *base, int64_t now_ms, int64_t lease_ms, outbox_item *it, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    memset(it, 0, sizeof *it);
    pthread_mutex_lock(&s->bg_mu);
    sqlite3_stmt *q = stmt(&s->bg, ST_OUTBOX_CLAIM);
    if (!q)
        return fail_bg(s, err, errlen, "outbox claim", SQLITE_ERROR);
    sqlite3_bind_int64(q, 1, now_ms);
    sqlite3_bind_int64(q, 2, lease_ms);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(q);
        pthread_mutex_unlock(&s->bg_mu);
        return STORE_NOTFOUND;
    }
    if (rc != SQLITE_ROW)
        return fail_bg(s, err, errlen, "outbox claim", rc);
    it->id = sqlite3_column_int64(q, 0);
    it->anomaly_id = sqlite3_column_int64(q, 1);
    column_text(q, 2, it->destination, sizeof it->destination);
    column_text(q, 3, it->kind, sizeof it->kind);
    column_text(q, 4, it->dedup_key, sizeof it->dedup_key);
    const unsigned char *p = sqlite3_column_text(q, 5);
    it->payload = strdup(p ? (const char *)p : "");
    it->attempts = sqlite3_column_int(q, 6);
    it->created_at = sqlite3_column_int64(q, 7);
    rc = sqlite3_step(q); /* RETURNING: finish the statement so the update is applied */
    sqlite3_reset(q);
    if (rc != SQLITE_DONE || !it->payload) {
        free(it->payload);
        it->payload = NULL;
        return fail_bg(s, err, errlen, "outbox claim", rc == SQLITE_DONE ? SQLITE_NOMEM : rc);
    }
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

static store_rc sq_outbox_record(store *base, int64_t id, int64_t now_ms, int http_status, const char *outcome,
                             const char *error, int64_t next_attempt_ms, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    pthread_mutex_lock(&s->bg_mu);
    int rc = sqlite3_exec(s->bg.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_bg(s, err, errlen, "outbox record", rc);
    sqlite3_stmt *q = stmt(&s->bg, ST_OUTBOX_ATTEMPT);
    if (!q)
        return fail_bg(s, err, errlen, "outbox record", SQLITE_ERROR);
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, now_ms);
    if (http_status >= 0)
        sqlite3_bind_int(q, 3, http_status);
    sqlite3_bind_text(q, 4, outcome, -1, SQLITE_STATIC);
    bind_text_or_null(q, 5, error);
    if ((rc = sqlite3_step(q)) != SQLITE_DONE)
        return fail_bg(s, err, errlen, "outbox record", rc);
    q = stmt(&s->bg, ST_OUTBOX_RESULT);
    if (!q)
        return fail_bg(s, err, errlen, "outbox record", SQLITE_ERROR);
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_text(q, 2, outcome, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now_ms);
    sqlite3_bind_int64(q, 4, next_attempt_ms);
    bind_text_or_null(q, 5, error);
    if ((rc = sqlite3_step(q)) != SQLITE_DONE || (rc = sqlite3_exec(s->bg.db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        return fail_bg(s, err, errlen, "outbox record", rc);
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

static store_rc sq_outbox_recover(store *base, int64_t now_ms, int *recovered, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    *recovered = 0;
    pthread_mutex_lock(&s->bg_mu);
    sqlite3_stmt *q = stmt(&s->bg, ST_OUTBOX_RECOVER);
    int rc = SQLITE_ERROR;
    if (q) {
        sqlite3_bind_int64(q, 1, now_ms);
        rc = sqlite3_step(q);
    }
    if (rc != SQLITE_DONE)
        return fail_bg(s, err, errlen, "outbox recover", rc);
    *recovered = sqlite3_changes(s->bg.db);
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

typedef struct notif_bind {
    const char *status;
    int64_t cursor;
    int limit;
} notif_bind;

static void bind_notifications(sqlite3_stmt *q, const void *p)
{
    const notif_bind *b = p;
    if (b->status)
        sqlite3_bind_text(q, 1, b->status, -1, SQLITE_STATIC);
    if (b->cursor > 0)
        sqlite3_bind_int64(q, 2, b->cursor);
    sqlite3_bind_int(q, 3, b->limit + 1);
}

static store_rc sq_notifications_list(store *base, const char *status, int64_t cursor, int limit, json_t **out,
                                  int64_t *next_cursor, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    notif_acc a = {.arr = json_array(), .limit = limit};
    notif_bind b = {status, cursor, limit};
    *next_cursor = 0;
    store_rc rc = read_rows(s, ST_NOTIFICATIONS, bind_notifications, &b, notification_row, &a, err, errlen);
    if (rc != STORE_OK) {
        json_decref(a.arr);
        return rc;
    }
    if (a.more)
        *next_cursor = a.last_id;
    *out = a.arr;
    return STORE_OK;
}

static store_rc sq_outbox_counts(store *base, json_t **out, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:{s:i, s:i, s:i}}", "pending", 0, "sent", 0, "failed", 0, "dry_run", 0,
                          "attempts", "sent", 0, "retry", 0, "failed", 0);
    store_rc rc = read_rows(s, ST_OUTBOX_COUNTS, NULL, NULL, count_row, o, err, errlen);
    if (rc != STORE_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return STORE_OK;
}

static void bind_now(sqlite3_stmt *q, const void *p)
{
    sqlite3_bind_int64(q, 1, *(const int64_t *)p);
}

static store_rc sq_suppressions_list(store *base, int64_t now_ms, json_t **out, char *err, size_t errlen)
{
    sq *s = (sq *)base;
    json_t *arr = json_array();
    store_rc rc = read_rows(s, ST_SUPPRESSIONS, bind_now, &now_ms, suppression_row, arr, err, errlen);
    if (rc != STORE_OK) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return STORE_OK;
}

/* ---- retention: background connection ------------------------------------- */

/*
 * Each call is one short transaction on s->bg under s->bg_mu: at most
 * max_rows rows deleted and EXPIRE_VISITS windows looked at, each found
 * through an index (windows_lines_kept, windows_by_start, logs_by_window,
 * anomalies_by_window, outbox_by_anomaly, delivery_attempts_by_outbox, the
 * primary key of template_counts). The writer waits for one such batch at
 * most; the caller pauses between batches so the writer gets the lock.
 */
#define EXPIRE_VISITS 256

static int64_t expired_total(const store_expired *e)
{
    return e->logs + e->windows + e->anomalies + e->outbox + e->delivery_attempts + e->window_prompts +
           e->template_counts + e->suppressions;
}

/* Runs statement id of s->bg with ?1 = a (and ?2 = b when nargs is 2); adds the rows it changed to *changes. */
static int bg_run(sq *s, enum stmt_id id, int nargs, int64_t a, int64_t b, int64_t *changes)
{
    sqlite3_stmt *q = stmt(&s->bg, id);
    if (!q)
        return SQLITE_ERROR;
    sqlite3_bind_int64(q, 1, a);
    if (nargs > 1)
        sqlite3_bind_int64(q, 2, b);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return rc;
    if (changes)
        *changes += sqlite3_changes(s->bg.db);
    return SQLITE_OK;
}

static store_rc expire_end(sq *s, int rc, store_expired *out, char *err, size_t errlen, const char *what)
{
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->bg.db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        memset(out, 0, sizeof *out);
        return fail_bg(s, err, errlen, what, rc);
    }
    pthread_mutex_unlock(&s->bg_mu);
    return STORE_OK;
}

static store_rc sq_expire_lines(store *base, int64_t before_ms, int64_t max_rows, store_expired *out, int *more, char *err,
                            size_t errlen)
{
    sq *s = (sq *)base;
    assert(max_rows > 0);
    memset(out, 0, sizeof *out);
    *more = 0;
    pthread_mutex_lock(&s->bg_mu);
    int rc = sqlite3_exec(s->bg.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_bg(s, err, errlen, "expire lines", rc);
    for (int visits = 0; rc == SQLITE_OK; visits++) {
        if (out->logs >= max_rows || visits == EXPIRE_VISITS) {
            *more = 1;
            break;
        }
        sqlite3_stmt *q = stmt(&s->bg, ST_EXPIRE_LINES_NEXT);
        if (!q) {
            rc = SQLITE_ERROR;
            break;
        }
        sqlite3_bind_int64(q, 1, before_ms);
        int64_t id = 0;
        if ((rc = select_id(&s->bg, ST_EXPIRE_LINES_NEXT, &id)) == SQLITE_NOTFOUND) {
            rc = SQLITE_OK;
            break;
        }
        int64_t want = max_rows - out->logs, got = 0;
        if (rc == SQLITE_OK)
            rc = bg_run(s, ST_EXPIRE_WINDOW_LINES, 2, id, want, &got);
        out->logs += got;
        if (rc == SQLITE_OK && got < want) /* none left: the window is done */
            rc = bg_run(s, ST_EXPIRE_LINES_DONE, 1, id, 0, NULL);
    }
    return expire_end(s, rc, out, err, errlen, "expire lines");
}

static store_rc sq_expire_windows(store *base, int64_t before_ms, int64_t max_rows, store_expired *out, int *more, char *err,
                              size_t errlen)
{
    sq *s = (sq *)base;
    assert(max_rows > 0);
    memset(out, 0, sizeof *out);
    *more = 0;
    pthread_mutex_lock(&s->bg_mu);
    int rc = sqlite3_exec(s->bg.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail_bg(s, err, errlen, "expire windows", rc);
    for (int visits = 0; rc == SQLITE_OK; visits++) {
        if (expired_total(out) >= max_rows || visits == EXPIRE_VISITS) {
            *more = 1;
            break;
        }
        sqlite3_stmt *q = stmt(&s->bg, ST_EXPIRE_WINDOW_NEXT);
        if (!q) {
            rc = SQLITE_ERROR;
            break;
        }
        sqlite3_bind_int64(q, 1, before_ms);
        if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
            sqlite3_reset(q);
            if (rc == SQLITE_DONE)
                rc = SQLITE_OK;
            break;
        }
        int64_t id = sqlite3_column_int64(q, 0), service_id = sqlite3_column_int64(q, 1),
                start = sqlite3_column_int64(q, 2);
        sqlite3_reset(q);
        /* its lines first, within the budget; the window goes once none is left */
        int64_t want = max_rows - expired_total(out), got = 0;
        rc = bg_run(s, ST_EXPIRE_WINDOW_LINES, 2, id, want, &got);
        out->logs += got;
        if (rc == SQLITE_OK && got == want) {
            *more = 1;
            break;
        }
        if (rc == SQLITE_OK)
            rc = bg_run(s, ST_EXPIRE_ATTEMPTS, 1, id, 0, &out->delivery_attempts);
        if (rc == SQLITE_OK)
            rc = bg_run(s, ST_EXPIRE_OUTBOX, 1, id, 0, &out->outbox);
        if (rc == SQLITE_OK)
            rc = bg_run(s, ST_EXPIRE_ANOMALIES, 1, id, 0, &out->anomalies);
        if (rc == SQLITE_OK)
            rc = bg_run(s, ST_EXPIRE_PROMPT, 1, id, 0, &out->window_prompts);
        if (rc == SQLITE_OK)
            rc = bg_run(s, ST_EXPIRE_TEMPLATE_COUNTS, 2, service_id, start, &out->template_counts);
        if (rc == SQLITE_OK)
            rc = bg_run(s, ST_EXPIRE_WINDOW, 1, id, 0, &out->windows);
    }
    /* suppression intervals that ended before the cutoff, once the windows are done */
    if (rc == SQLITE_OK && !*more)
        rc = bg_run(s, ST_EXPIRE_SUPPRESSIONS, 1, before_ms, 0, &out->suppressions);
    return expire_end(s, rc, out, err, errlen, "expire windows");
}

static const store_ops sq_ops = {
    .close = sq_close,
    .schema_version = sq_schema_version,
    .write_batches = sq_write_batches,
    .windows_list = sq_windows_list,
    .window_get = sq_window_get,
    .count_logs = sq_count_logs,
    .metrics = sq_metrics,
    .ping = sq_ping,
    .windows_close = sq_windows_close,
    .windows_recover = sq_windows_recover,
    .window_claim = sq_window_claim,
    .window_lines = sq_window_lines,
    .window_finish = sq_window_finish,
    .window_fail = sq_window_fail,
    .window_release = sq_window_release,
    .window_service_id = sq_window_service_id,
    .windows_count = sq_windows_count,
    .anomalies_list = sq_anomalies_list,
    .window_anomalies = sq_window_anomalies,
    .window_prompt = sq_window_prompt,
    .services_list = sq_services_list,
    .service_set_context = sq_service_set_context,
    .templates_load = sq_templates_load,
    .template_history = sq_template_history,
    .templates_record = sq_templates_record,
    .templates_benign = sq_templates_benign,
    .anomaly_feedback = sq_anomaly_feedback,
    .outbox_claim = sq_outbox_claim,
    .outbox_record = sq_outbox_record,
    .outbox_recover = sq_outbox_recover,
    .notifications_list = sq_notifications_list,
    .outbox_counts = sq_outbox_counts,
    .suppressions_list = sq_suppressions_list,
    .expire_lines = sq_expire_lines,
    .expire_windows = sq_expire_windows,
    .idempotency_get = sq_idempotency_get,
    .idempotency_prune = sq_idempotency_prune,
    .journal_seq = sq_journal_seq,
};
