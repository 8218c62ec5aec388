/*
 * queries.c — the text of every SQL statement of the store, one section per
 * domain file (see queries.h), each with the declared types of its
 * parameters (db.h). One text serves both dialects; .sqlite / .pg appear
 * only where they really differ: row locks and leases for replicas sharing a
 * PostgreSQL database (FOR UPDATE SKIP LOCKED, lease_until, the claim's
 * attempt token, advisory locks), scalar max/min against greatest/least,
 * collation, the database's size, and each backend's own write path.
 *
 * Threads: none of its own; the statements are shared, read-only apart from
 * the slot each gets on first use (db_slot).
 */
#include "store/queries.h"

/* ---- windows: listing, reading, closing, claiming (windows.c) ---------------------------------- */

#define WINDOW_COLS                                                                                     \
    "SELECT w.id, s.name, w.start_ms, w.end_ms, w.status, w.line_count, w.late_count, w.health, "        \
    "w.anomaly_count, w.analyzer, w.model, w.prompt_tokens, w.completion_tokens, w.latency_ms, w.error "  \
    "FROM windows w JOIN services s ON s.id = w.service_id "

/* the lower bound of a newest-first list of windows or anomalies: rows that end after ?1 (since), with
 * start > since - (the longest window) so that an index on start bounds the read (see windows.c) */
#define SINCE_BOUND(start, end)                                                                         \
    start " > coalesce(?1 - (SELECT max(end_ms - start_ms) FROM windows), -9223372036854775807) "      \
          "AND (?1 IS NULL OR " end " > ?1) "
/* the end of every newest-first list (windows, anomalies, incidents): the rows below the (start, id) pair
 * the caller bound (list_upper, windows.c), down an index in (start, id) order, limit rows (one more than
 * a page, to tell that more follow) */
#define NEWEST_BELOW(start, id, up_start, up_id, limit)                                                 \
    "AND (" start ", " id ") < (" up_start ", " up_id ") ORDER BY " start " DESC, " id " DESC LIMIT " limit
#define WINDOWS_WHERE                                                                                   \
    SINCE_BOUND("w.start_ms", "w.end_ms")                                                                \
    "AND (?3 IS NULL OR w.status = ?3) AND (?8 IS NULL OR w.health = ?8) "                               \
    NEWEST_BELOW("w.start_ms", "w.id", "?4", "?5", "?6")
/* since, (unused), status, upper start, upper id, limit, service, health */
#define LIST_PARAMS "iitiiitt"

db_stmt sql_win_get = {.sql = WINDOW_COLS "WHERE w.id = ?1", .params = "i"};
db_stmt sql_win_list_all = {.sql = WINDOW_COLS "WHERE " WINDOWS_WHERE, .params = LIST_PARAMS};
db_stmt sql_win_list_status = {.sql = WINDOW_COLS "WHERE w.status = ?3 AND " WINDOWS_WHERE, .params = LIST_PARAMS};
db_stmt sql_win_list_health = {.sql = WINDOW_COLS "WHERE w.health = ?8 AND " WINDOWS_WHERE, .params = LIST_PARAMS};
db_stmt sql_win_list_service = {.sql = WINDOW_COLS "WHERE s.name = ?7 AND w.service_id = "
                                       "(SELECT id FROM services WHERE name = ?7) AND " WINDOWS_WHERE,
                                .params = LIST_PARAMS};
db_stmt sql_win_count_status = {.sql = "SELECT count(*) FROM windows WHERE ?1 IS NULL OR status = ?1",
                                .params = "t"};
db_stmt sql_win_service_id = {.sql = "SELECT service_id FROM windows WHERE id = ?1", .params = "i"};
/* a page of a window's lines (store_window_read): ids in (?2, ?3], after (?4, ?5) by (ts, id), at most ?6 */
db_stmt sql_win_read_page = {.sql = "SELECT ts, level, message, id, attributes FROM logs WHERE window_id = ?1 "
                                     "AND id > ?2 AND id <= ?3 AND (ts, id) > (?4, ?5) ORDER BY ts, id LIMIT ?6",
                              .params = "iiiiii"};
/* where a read stops: the highest line id stored when it starts */
db_stmt sql_win_read_top = {.sql = "SELECT coalesce(max(id), 0) FROM logs"};
/* one page of GET /windows/{id}/lines: after the cursor's (ts, id), by logs_by_window (migration 012) */
db_stmt sql_win_lines_page = {.sql = "SELECT id, ts, level, message, attributes FROM logs WHERE window_id = ?1 "
                                     "AND (ts, id) > (?2, ?3) ORDER BY ts, id LIMIT ?4",
                              .params = "iiii"};

db_stmt sql_win_close_due = {
    .sqlite = "UPDATE windows SET status = 'closed', closed_at = ?1 WHERE status = 'open' AND "
              "(end_ms + ?2 <= (SELECT watermark FROM services s WHERE s.id = windows.service_id) "
              "OR max(end_ms, coalesce(last_line_at, 0)) + ?2 <= ?1)",
    .pg = "UPDATE windows SET status = 'closed', closed_at = ?1 WHERE id IN (SELECT w.id FROM "
          "windows w JOIN services s ON s.id = w.service_id WHERE w.status = 'open' AND "
          "(w.end_ms + ?2 <= s.watermark OR greatest(w.end_ms, coalesce(w.last_line_at, 0)) + ?2 <= ?1) "
          "FOR UPDATE OF w SKIP LOCKED)",
    .params = "ii"};
db_stmt sql_win_close_all = {
    .sqlite = "UPDATE windows SET status = 'closed', closed_at = ?1 WHERE status = 'open'",
    .pg = "UPDATE windows SET status = 'closed', closed_at = ?1 WHERE id IN (SELECT id FROM "
          "windows WHERE status = 'open' FOR UPDATE SKIP LOCKED)",
    .params = "i"};
db_stmt sql_win_close_service = {
    .sqlite = "UPDATE windows SET status = 'closed', closed_at = ?1 WHERE status = 'open' "
              "AND service_id = (SELECT id FROM services WHERE name = ?2)",
    .pg = "UPDATE windows SET status = 'closed', closed_at = ?1 WHERE id IN (SELECT id FROM "
          "windows WHERE status = 'open' AND service_id = (SELECT id FROM services WHERE name = ?2) "
          "FOR UPDATE SKIP LOCKED)",
    .params = "it"};
/* PostgreSQL: only leases that ran out, a live replica's claim is its own */
db_stmt sql_win_recover = {
    .sqlite = "UPDATE windows SET status = 'closed' WHERE status = 'analyzing'",
    .pg = "UPDATE windows SET status = 'closed', lease_until = NULL WHERE id IN (SELECT id FROM windows "
          "WHERE status = 'analyzing' AND coalesce(lease_until, 0) <= ?1 FOR UPDATE SKIP LOCKED)",
    .params = "i"};

#define NO_EARLIER_PENDING                                                                              \
    "NOT EXISTS (SELECT 1 FROM windows p WHERE p.service_id = w.service_id AND p.start_ms < w.start_ms "  \
    "AND p.status IN ('closed', 'analyzing')) "
db_stmt sql_win_claim_closed = {
    .sqlite = "SELECT id FROM windows w WHERE status = 'closed' AND " NO_EARLIER_PENDING "ORDER BY end_ms, id LIMIT 1",
    .pg = "SELECT id FROM windows w WHERE (status = 'closed' OR (status = 'analyzing' AND "
          "coalesce(lease_until, 0) <= ?1)) AND " NO_EARLIER_PENDING
          "ORDER BY end_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED",
    .params = "i"};
#define CLAIM_DUE(status)                                                                               \
    "SELECT id FROM windows WHERE status = '" status "' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT 1"
db_stmt sql_win_claim_failed = {.sqlite = CLAIM_DUE("failed"), .pg = CLAIM_DUE("failed") " FOR UPDATE SKIP LOCKED",
                                  .params = "i"};
/* windows the baseline covered for a failed model, due to be read by the model again */
db_stmt sql_win_claim_reanalyze = {.sqlite = CLAIM_DUE("analyzed"),
                                     .pg = CLAIM_DUE("analyzed") " FOR UPDATE SKIP LOCKED", .params = "i"};
#define CLAIM_RETURNING                                                                                 \
    "WHERE id = ?1 RETURNING service_id, start_ms, end_ms, line_count, attempts, "                      \
    "(SELECT name FROM services s WHERE s.id = windows.service_id), health"
db_stmt sql_win_claim_set = {
    .sqlite = "UPDATE windows SET status = 'analyzing', attempts = attempts + 1 " CLAIM_RETURNING,
    .pg = "UPDATE windows SET status = 'analyzing', attempts = attempts + 1, lease_until = ?2 " CLAIM_RETURNING,
    .params = "ii"};
db_stmt sql_win_service_context = {.sql = "SELECT context FROM services WHERE id = ?1", .params = "i"};
db_stmt sql_win_release = {
    .sqlite = "UPDATE windows SET status = 'closed', attempts = max(attempts - 1, 0) "
              "WHERE id = ?1 AND status = 'analyzing'",
    .pg = "UPDATE windows SET status = 'closed', attempts = greatest(attempts - 1, 0), lease_until = NULL "
          "WHERE id = ?1 AND status = 'analyzing' AND attempts = ?2",
    .params = "ii"};
#undef WINDOW_COLS
#undef WINDOWS_WHERE
#undef LIST_PARAMS
#undef NO_EARLIER_PENDING
#undef CLAIM_DUE
#undef CLAIM_RETURNING

/* ---- analysis: anomalies, finish and fail, prompts, feedback (analysis.c) ---------------------- */

#define ANOMALY_COLS                                                                                    \
    "SELECT a.id, a.window_id, s.name, a.window_start, a.window_end, a.severity, a.type, a.summary, "    \
    "a.evidence, a.recommended_action, a.created_at, a.analyzer, a.feedback, a.feedback_note, a.suppressed, "  \
    "a.suppressed_by, a.evidence_verified, a.incident_id FROM anomalies a JOIN services s ON s.id = a.service_id "
/* newest first between two bounds, as windows are listed (see windows.c) */
#define ANOMALIES_WHERE                                                                                 \
    SINCE_BOUND("a.window_start", "a.window_end")                                                       \
    "AND a.severity_rank >= ?3 AND (?4 IS NULL OR a.type = ?4) "                                          \
    NEWEST_BELOW("a.window_start", "a.id", "?5", "?6", "?7")
/* since, (unused), min severity, type, upper start, upper id, limit, service */
#define LIST_PARAMS "iiitiiit"

db_stmt sql_ana_list_all = {.sql = ANOMALY_COLS "WHERE " ANOMALIES_WHERE, .params = LIST_PARAMS};
db_stmt sql_ana_list_service = {.sql = ANOMALY_COLS "WHERE a.service_id = (SELECT id FROM services WHERE name = ?8) "
                                                      "AND " ANOMALIES_WHERE,
                                  .params = LIST_PARAMS};
db_stmt sql_ana_of_window = {.sql = ANOMALY_COLS "WHERE a.window_id = ?1 ORDER BY a.severity_rank DESC, a.id",
                               .params = "i"};
db_stmt sql_ana_get = {.sql = ANOMALY_COLS "WHERE a.id = ?1", .params = "i"};
db_stmt sql_ana_prompt_get = {.sql = "SELECT p.system_prompt, p.user_prompt, p.digest, w.redactions "
                                     "FROM window_prompts p JOIN windows w ON w.id = p.window_id "
                                     "WHERE p.window_id = ?1",
                              .params = "i"};

db_stmt sql_ana_service_lock = {.pg = "SELECT pg_advisory_xact_lock(?1)", .params = "i"};
db_stmt sql_ana_insert = {
    .sql = "INSERT INTO anomalies(window_id, service_id, window_start, window_end, severity, severity_rank, type, "
           "summary, evidence, recommended_action, created_at, analyzer, template_ids, evidence_verified) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id",
    .params = "iiiitittttitti"};
#define META_SET "analyzer = ?4, model = ?5, prompt_tokens = ?6, completion_tokens = ?7, latency_ms = ?8"
db_stmt sql_ana_finish = {
    .sqlite = "UPDATE windows SET status = 'analyzed', health = ?2, anomaly_count = anomaly_count + ?3, " META_SET
              ", error = ?10, next_attempt_at = ?11, analyzed_at = ?9 WHERE id = ?1 AND status = 'analyzing'",
    .pg = "UPDATE windows SET status = 'analyzed', health = ?2, anomaly_count = anomaly_count + ?3, " META_SET
          ", error = ?10, next_attempt_at = ?11, analyzed_at = ?9, lease_until = NULL "
          "WHERE id = ?1 AND status = 'analyzing' AND attempts = ?12",
    .params = "itittiiiitii"};
db_stmt sql_ana_fail = {
    .sqlite = "UPDATE windows SET status = 'failed', health = 'unknown', error = ?2, next_attempt_at = ?3, " META_SET
              " WHERE id = ?1 AND status = 'analyzing'",
    .pg = "UPDATE windows SET status = 'failed', health = 'unknown', error = ?2, next_attempt_at = ?3, " META_SET
          ", lease_until = NULL WHERE id = ?1 AND status = 'analyzing' AND attempts = ?9",
    .params = "itittiiii"};
db_stmt sql_ana_prompt_save = {.sql = "INSERT INTO window_prompts(window_id, system_prompt, user_prompt, digest) "
                                      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(window_id) DO UPDATE SET "
                                      "system_prompt = excluded.system_prompt, user_prompt = excluded.user_prompt, "
                                      "digest = excluded.digest",
                               .params = "ittt"};
db_stmt sql_ana_redactions = {.sql = "UPDATE windows SET redactions = ?2 WHERE id = ?1", .params = "it"};
db_stmt sql_ana_feedback = {.sql = "UPDATE anomalies SET feedback = ?2, feedback_note = ?3, feedback_at = ?4 "
                                   "WHERE id = ?1 RETURNING service_id, template_ids",
                            .params = "itti"};
#undef ANOMALY_COLS
#undef SINCE_BOUND
#undef ANOMALIES_WHERE
#undef LIST_PARAMS
#undef META_SET

/* ---- templates: history and recording (templates.c) -------------------------------------------- */

db_stmt sql_tpl_load = {.sql = "SELECT id, text, total FROM templates WHERE service_id = ?1 ORDER BY id",
                        .params = "i"};
db_stmt sql_tpl_known = {.sql = "SELECT id, CASE WHEN first_seen < ?2 THEN 1 ELSE 0 END, benign FROM templates "
                                "WHERE service_id = ?1 ORDER BY id",
                         .params = "ii"};
db_stmt sql_tpl_counts = {.sql = "SELECT template_id, sum(count), count(*) FROM template_counts WHERE service_id = ?1 "
                                 "AND window_start >= ?2 AND window_start < ?3 GROUP BY template_id",
                          .params = "iii"};
db_stmt sql_tpl_depth = {.sql = "SELECT count(*), avg(error_lines) FROM windows WHERE service_id = ?1 "
                                "AND start_ms >= ?2 AND start_ms < ?3 AND error_lines IS NOT NULL",
                         .params = "iii"};
#define UPSERT_HEAD                                                                                     \
    "INSERT INTO templates(service_id, id, text, max_level, first_seen, last_seen, total, recorded_at) " \
    "VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0, ?6) ON CONFLICT(service_id, id) DO UPDATE SET text = excluded.text, " \
    "recorded_at = excluded.recorded_at, "
db_stmt sql_tpl_upsert = {
    .sqlite = UPSERT_HEAD "max_level = max(max_level, excluded.max_level), "
                          "first_seen = min(first_seen, excluded.first_seen), "
                          "last_seen = max(last_seen, excluded.last_seen)",
    .pg = UPSERT_HEAD "max_level = greatest(templates.max_level, excluded.max_level), "
                      "first_seen = least(templates.first_seen, excluded.first_seen), "
                      "last_seen = greatest(templates.last_seen, excluded.last_seen)",
    .params = "iitiii"};
/* the bound and the id high-water mark (migration 014) */
db_stmt sql_tpl_id_max_get = {.sql = "SELECT template_id_max FROM services WHERE id = ?1", .params = "i"};
db_stmt sql_tpl_id_max_set = {.sql = "UPDATE services SET template_id_max = CASE WHEN ?2 > template_id_max THEN ?2 "
                                     "ELSE template_id_max END WHERE id = ?1",
                              .params = "ii"};
db_stmt sql_tpl_count = {.sql = "SELECT count(*) FROM templates WHERE service_id = ?1", .params = "i"};
db_stmt sql_tpl_evict = {.sql = "DELETE FROM templates WHERE service_id = ?1 AND id IN (SELECT id FROM templates "
                                "WHERE service_id = ?1 ORDER BY last_seen, id LIMIT ?2)",
                         .params = "ii"};

db_stmt sql_tpl_count_insert = {.sql = "INSERT INTO template_counts(service_id, window_start, template_id, count) "
                                       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                                .params = "iiii"};
db_stmt sql_tpl_total = {.sql = "UPDATE templates SET total = total + ?3 WHERE service_id = ?1 AND id = ?2",
                         .params = "iii"};
/* a late pass reads only the lines above the last analysis: its counts add to the window's (a late pass
 * redone after a crash before its finish adds them twice) */
db_stmt sql_tpl_count_add = {.sql = "INSERT INTO template_counts(service_id, window_start, template_id, count) "
                                    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (service_id, window_start, template_id) "
                                    "DO UPDATE SET count = template_counts.count + excluded.count",
                             .params = "iiii"};
db_stmt sql_tpl_window_errors = {.sql = "UPDATE windows SET error_lines = ?2 WHERE id = ?1", .params = "ii"};
db_stmt sql_tpl_window_errors_add = {.sql = "UPDATE windows SET error_lines = coalesce(error_lines, 0) + ?2 WHERE id = ?1",
                                     .params = "ii"};
db_stmt sql_tpl_benign = {.sql = "UPDATE templates SET benign = 1 WHERE service_id = ?1 AND id = ?2",
                          .params = "ii"};
#undef UPSERT_HEAD

/* ---- templates' duration summaries (values.c) -------------------------------------------------- */

db_stmt sql_val_insert = {.sql = "INSERT INTO template_values(service_id, window_start, template_id, pos, count, "
                                 "mean_milli, median_milli, p95_milli) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                                 "ON CONFLICT DO NOTHING",
                          .params = "iiiiiiii"};
db_stmt sql_val_prune = {.sql = "DELETE FROM template_values WHERE service_id = ?1 AND window_start < ?2",
                         .params = "ii"};
db_stmt sql_val_history = {.sql = "SELECT template_id, pos, window_start, count, mean_milli, median_milli, p95_milli "
                                  "FROM template_values WHERE service_id = ?1 AND window_start >= ?2 "
                                  "AND window_start < ?3 ORDER BY template_id, pos, window_start",
                           .params = "iii"};

/* ---- suppression and the outbox (outbox.c) ----------------------------------------------------- */

db_stmt sql_out_suppression_get = {.sql = "SELECT opened_by, severity_rank, opened_at, until_ms FROM suppressions "
                                          "WHERE service_id = ?1 AND type = ?2",
                                   .params = "it"};
db_stmt sql_out_suppression_open = {
    .sql = "INSERT INTO suppressions(service_id, type, opened_by, severity_rank, opened_at, until_ms) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(service_id, type) DO UPDATE SET "
           "opened_by = excluded.opened_by, severity_rank = excluded.severity_rank, "
           "opened_at = excluded.opened_at, until_ms = excluded.until_ms",
    .params = "itiiii"};
db_stmt sql_out_suppress = {.sql = "UPDATE anomalies SET suppressed = 1, suppressed_by = ?2 WHERE id = ?1",
                            .params = "ii"};
/* due at ?7 (now), or at ?8 when later: an incident's open held for incident.group_wait (incidents.c) */
db_stmt sql_out_insert = {.sql = "INSERT INTO outbox(anomaly_id, destination, kind, dedup_key, payload, status, "
                                 "next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                                 "CASE WHEN ?8 > ?7 THEN ?8 ELSE ?7 END, ?7)",
                          .params = "itttttii"};
/* the next due row, in order per (dedup key, destination): none while an earlier one of the same pair is
 * pending, so an update or a resolve never overtakes the open it follows (outbox_by_dedup_key, migration 020) */
#define CLAIM_NEXT                                                                                      \
    "SELECT id FROM outbox o WHERE status = 'pending' AND next_attempt_at <= ?1 AND NOT EXISTS ("        \
    "SELECT 1 FROM outbox p WHERE p.dedup_key = o.dedup_key AND p.destination = o.destination "          \
    "AND p.status = 'pending' AND p.id < o.id) ORDER BY next_attempt_at, id LIMIT 1"
db_stmt sql_out_claim = {
    .sqlite = "UPDATE outbox SET claimed_at = ?1, next_attempt_at = ?1 + ?2 WHERE id = (" CLAIM_NEXT ") "
              "RETURNING id, anomaly_id, destination, kind, dedup_key, payload, attempts, created_at",
    .pg = "UPDATE outbox SET claimed_at = ?1, next_attempt_at = ?1 + ?2 "
          "WHERE id = (" CLAIM_NEXT " FOR UPDATE SKIP LOCKED) "
          "RETURNING id, anomaly_id, destination, kind, dedup_key, payload, attempts, created_at",
    .params = "ii"};
db_stmt sql_out_attempt = {.sql = "INSERT INTO delivery_attempts(outbox_id, at, http_status, outcome, error) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5)",
                           .params = "iiitt"};
db_stmt sql_out_result = {.sql = "UPDATE outbox SET attempts = attempts + 1, claimed_at = NULL, "
                                 "status = CASE ?2 WHEN 'retry' THEN 'pending' ELSE ?2 END, "
                                 "sent_at = CASE WHEN ?2 = 'sent' THEN ?3 END, "
                                 "next_attempt_at = CASE WHEN ?2 = 'retry' THEN ?4 END, last_error = ?5 WHERE id = ?1",
                          .params = "itiit"};
/* a claimed row's lease is its next_attempt_at: on PostgreSQL only rows whose lease ran out are released */
db_stmt sql_out_recover = {
    .sqlite = "UPDATE outbox SET claimed_at = NULL, next_attempt_at = ?1 "
              "WHERE status = 'pending' AND claimed_at IS NOT NULL",
    .pg = "UPDATE outbox SET claimed_at = NULL WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' "
          "AND claimed_at IS NOT NULL AND next_attempt_at <= ?1 FOR UPDATE SKIP LOCKED)",
    .params = "i"};
db_stmt sql_out_list = {
    .sql = "SELECT o.id, o.anomaly_id, o.destination, o.kind, o.dedup_key, o.status, o.attempts, "
           "o.next_attempt_at, o.created_at, o.sent_at, o.last_error, o.payload, s.name, a.severity, "
           "a.type, a.window_id FROM outbox o JOIN anomalies a ON a.id = o.anomaly_id "
           "JOIN services s ON s.id = a.service_id WHERE (?1 IS NULL OR o.status = ?1) "
           "AND (?2 IS NULL OR o.id < ?2) ORDER BY o.id DESC LIMIT ?3",
    .params = "tii"};
db_stmt sql_out_counts = {.sql = "SELECT 'status', status, count(*) FROM outbox GROUP BY status UNION ALL "
                                 "SELECT 'attempt', outcome, count(*) FROM delivery_attempts GROUP BY outcome"};
db_stmt sql_out_suppressions = {.sql = "SELECT s.name, p.type, p.opened_by, a.severity, p.opened_at, p.until_ms, "
                                       "(SELECT count(*) FROM anomalies x WHERE x.suppressed_by = p.opened_by) "
                                       "FROM suppressions p JOIN services s ON s.id = p.service_id "
                                       "JOIN anomalies a ON a.id = p.opened_by WHERE p.until_ms > ?1 "
                                       "ORDER BY p.until_ms DESC",
                                .params = "i"};
#undef CLAIM_NEXT

/* ---- Idempotency-Keys (idempotency.c) ---------------------------------------------------------- */

/* an expired key not yet pruned is replaced, as if it had been */
db_stmt sql_idem_put = {
    .sql = "INSERT INTO idempotency_keys(scope, key, endpoint, body_sha256, status, content_type, body, "
           "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(scope, key) DO UPDATE SET "
           "endpoint = excluded.endpoint, body_sha256 = excluded.body_sha256, status = excluded.status, "
           "content_type = excluded.content_type, body = excluded.body, created_at = excluded.created_at",
    .params = "tttbitbi"};
db_stmt sql_idem_get = {.sql = "SELECT endpoint, body_sha256, status, content_type, body, created_at "
                               "FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND created_at > ?3",
                        .params = "tti"};
db_stmt sql_idem_prune = {.sql = "DELETE FROM idempotency_keys WHERE id IN (SELECT id FROM idempotency_keys "
                                 "WHERE created_at <= ?1 ORDER BY created_at LIMIT ?2)",
                          .params = "ii"};

/* ---- services and gauges (services.c) ---------------------------------------------------------- */

#define SERVICE_COLS "SELECT name, context, context_source, watermark, last_seen, created_at FROM services "

/* a page above a name ('' for the first), in byte order: SQLite's unique index on name is BINARY, PostgreSQL
 * reads services_by_name_c (migration 011) whatever the database's collation */
db_stmt sql_svc_services = {.sqlite = SERVICE_COLS "WHERE name > ?1 ORDER BY name LIMIT ?2",
                            .pg = SERVICE_COLS "WHERE name COLLATE \"C\" > ?1 ORDER BY name COLLATE \"C\" LIMIT ?2",
                            .params = "ti"};
db_stmt sql_svc_service_get = {.sql = SERVICE_COLS "WHERE name = ?1", .params = "t"};
db_stmt sql_svc_context_set = {
    .sql = "INSERT INTO services(name, last_seen, created_at, context, context_source) "
           "VALUES (?1, ?2, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE SET context = excluded.context, "
           "context_source = excluded.context_source "
           "WHERE excluded.context_source = 'api' OR coalesce(services.context_source, '') <> 'api'",
    .params = "titt"};
db_stmt sql_svc_count_logs = {.sql = "SELECT count(*) FROM logs"};
db_stmt sql_svc_ping = {.sql = "SELECT max(version) FROM schema_version"};
db_stmt sql_svc_status_counts = {.sql = "SELECT status, count(*) FROM windows GROUP BY status"};
/* the backlog: when the oldest window without a result closed (windows_by_status), and the notifications not
 * delivered yet (outbox_due) */
db_stmt sql_svc_backlog = {.sql = "SELECT (SELECT min(coalesce(closed_at, end_ms)) FROM windows "
                                  "WHERE status IN ('closed', 'analyzing', 'failed')), "
                                  "(SELECT count(*) FROM outbox WHERE status = 'pending')"};
db_stmt sql_svc_db_size = {.sqlite = "SELECT c.page_count * s.page_size FROM pragma_page_count() c, "
                                     "pragma_page_size() s",
                           .pg = "SELECT pg_database_size(current_database())"};
#undef SERVICE_COLS

/* ---- retention's deletes (expire.c) ------------------------------------------------------------ */

/* "+status" (SQLite): the partial index windows_lines_kept, not windows_by_status (every analysed window) */
#define LINES_NEXT "SELECT id FROM windows WHERE lines_expired = 0 AND end_ms <= ?1 "
db_stmt sql_exp_lines_next = {
    .sqlite = LINES_NEXT "AND +status IN ('analyzed', 'failed') ORDER BY end_ms LIMIT 1",
    .pg = LINES_NEXT "AND status IN ('analyzed', 'failed') ORDER BY end_ms LIMIT 1 FOR UPDATE SKIP LOCKED",
    .params = "i"};
db_stmt sql_exp_window_lines = {.sql = "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE window_id = ?1 "
                                       "LIMIT ?2)",
                                .params = "ii"};
db_stmt sql_exp_lines_done = {.sql = "UPDATE windows SET lines_expired = 1 WHERE id = ?1", .params = "i"};
#define WINDOW_NEXT(status)                                                                             \
    "SELECT id, service_id, start_ms FROM windows WHERE start_ms < ?1 AND end_ms <= ?1 "               \
    "AND " status " <> 'analyzing' AND coalesce(analyzed_at, closed_at, end_ms) <= ?1 ORDER BY start_ms LIMIT 1"
db_stmt sql_exp_window_next = {.sqlite = WINDOW_NEXT("+status"),
                                 .pg = WINDOW_NEXT("status") " FOR UPDATE SKIP LOCKED", .params = "i"};
db_stmt sql_exp_attempts = {.sql = "DELETE FROM delivery_attempts WHERE outbox_id IN (SELECT o.id FROM anomalies a "
                                   "JOIN outbox o ON o.anomaly_id = a.id WHERE a.window_id = ?1)",
                            .params = "i"};
db_stmt sql_exp_outbox = {.sql = "DELETE FROM outbox WHERE anomaly_id IN (SELECT id FROM anomalies "
                                 "WHERE window_id = ?1)",
                          .params = "i"};
db_stmt sql_exp_anomalies = {.sql = "DELETE FROM anomalies WHERE window_id = ?1", .params = "i"};
db_stmt sql_exp_prompt = {.sql = "DELETE FROM window_prompts WHERE window_id = ?1", .params = "i"};
db_stmt sql_exp_template_counts = {.sql = "DELETE FROM template_counts WHERE service_id = ?1 AND window_start = ?2",
                                   .params = "ii"};
db_stmt sql_exp_template_values = {.sql = "DELETE FROM template_values WHERE service_id = ?1 AND window_start = ?2",
                                   .params = "ii"};
db_stmt sql_exp_window = {.sql = "DELETE FROM windows WHERE id = ?1", .params = "i"};
/* templates last recorded before the cutoff, oldest first, by templates_by_recorded (migration 014) */
db_stmt sql_exp_templates = {.sql = "DELETE FROM templates WHERE (service_id, id) IN (SELECT service_id, id FROM "
                                    "templates WHERE recorded_at <= ?1 ORDER BY recorded_at LIMIT ?2)",
                             .params = "ii"};
/* one row per (service, type): a small table, read whole */
db_stmt sql_exp_suppressions = {.sql = "DELETE FROM suppressions WHERE until_ms < ?1", .params = "i"};
/* a resolved incident that ended and was resolved by the cutoff and has no member left (window retention
 * took them), by incidents_open (status, end_ms); merged pointers go with the incident they point at */
#define INCIDENT_NEXT                                                                                   \
    "SELECT i.id FROM incidents i WHERE i.status = 'resolved' AND i.end_ms <= ?1 AND i.resolved_at <= ?1 " \
    "AND i.merged_into IS NULL AND NOT EXISTS (SELECT 1 FROM anomalies a WHERE a.incident_id = i.id) "      \
    "ORDER BY i.end_ms LIMIT 1"
db_stmt sql_exp_incident_next = {.sqlite = INCIDENT_NEXT, .pg = INCIDENT_NEXT " FOR UPDATE OF i SKIP LOCKED",
                                 .params = "i"};
#undef INCIDENT_NEXT
/* incident ?1 and every incident merged into it, at any depth (by incidents_by_merged, migration 019) */
db_stmt sql_exp_incident = {.sql = "WITH RECURSIVE gone(id) AS (SELECT id FROM incidents WHERE id = ?1 UNION "
                                   "SELECT i.id FROM incidents i JOIN gone g ON i.merged_into = g.id) "
                                   "DELETE FROM incidents WHERE id IN (SELECT id FROM gone)",
                            .params = "i"};
#undef LINES_NEXT
#undef WINDOW_NEXT

/* ---- schema_version (migrate.c) ---------------------------------------------------------------- */

db_stmt sql_mig_create = {.sql = "CREATE TABLE IF NOT EXISTS schema_version ("
                                 " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"};
db_stmt sql_mig_version = {.sql = "SELECT coalesce(max(version), 0) FROM schema_version"};
db_stmt sql_mig_has = {.sql = "SELECT 1 FROM schema_version WHERE version = ?1", .params = "i"};
db_stmt sql_mig_record = {.sql = "INSERT INTO schema_version(version, name, applied_at) VALUES (?1, ?2, ?3)",
                          .params = "iti"};

/* ---- the SQLite write path (sqlite_ingest.c): SQLite only -------------------------------------- */

/* a service's or window's id, the row inserted first when missing (the no-op update lets RETURNING answer) */
db_stmt sql_sqw_service_id = {.sqlite = "INSERT INTO services(name, last_seen, created_at) VALUES (?1, ?2, ?2) "
                                        "ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id"};
db_stmt sql_sqw_service_touch = {.sqlite = "UPDATE services SET watermark = max(coalesce(watermark, ?2), ?2), "
                                           "last_seen = max(last_seen, ?3) WHERE id = ?1"};
db_stmt sql_sqw_window_id = {.sqlite = "INSERT INTO windows(service_id, start_ms, end_ms) VALUES (?1, ?2, ?3) "
                                       "ON CONFLICT(service_id, start_ms) DO UPDATE SET end_ms = windows.end_ms "
                                       "RETURNING id"};
db_stmt sql_sqw_window_add = {.sqlite = "UPDATE windows SET line_count = line_count + ?2, "
                                        "late_count = late_count + CASE WHEN status = 'open' THEN 0 ELSE ?2 END, "
                                        "last_line_at = ?3, lines_expired = 0 WHERE id = ?1"};
db_stmt sql_sqw_log_insert = {.sqlite = "INSERT INTO logs(window_id, ts, level, message, attributes, received_at) "
                                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"};
db_stmt sql_sqw_journal_put = {.sqlite = "INSERT INTO journal_state(id, seq) VALUES (1, ?1) "
                                         "ON CONFLICT(id) DO UPDATE SET seq = max(seq, excluded.seq)"};
db_stmt sql_sqw_journal_get = {.sqlite = "SELECT seq FROM journal_state WHERE id = 1"};

/* ---- the PostgreSQL write path (pg_ingest.c): PostgreSQL only ---------------------------------- */

/* services and windows of a group commit in one statement (sent in a pipeline by pg_ingest.c, so its
 * parameters are $N and typed by casts): $1 service names, $2 their largest event times, $3 now, $4 each
 * window's service name, $5 its start, $6 its lines, $7 the window length; rows are locked in the arrays'
 * order, (name, start), the same in every replica */
db_stmt sql_pgw_upsert = {
    .pg = "WITH sv AS (INSERT INTO services AS s (name, watermark, last_seen, created_at) "
          "SELECT t.n, t.w, $3::bigint, $3::bigint FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS t(n, w, i) "
          "ORDER BY t.i ON CONFLICT (name) DO UPDATE SET "
          "watermark = greatest(coalesce(s.watermark, excluded.watermark), excluded.watermark), "
          "last_seen = greatest(s.last_seen, excluded.last_seen) RETURNING s.id, s.name) "
          "INSERT INTO windows AS w (service_id, start_ms, end_ms, line_count, last_line_at) "
          "SELECT sv.id, t.st, t.st + $7::bigint, t.c, $3::bigint "
          "FROM unnest($4::text[], $5::bigint[], $6::bigint[]) WITH ORDINALITY AS t(n, st, c, i) "
          "JOIN sv ON sv.name = t.n ORDER BY t.i ON CONFLICT (service_id, start_ms) DO UPDATE SET "
          "line_count = w.line_count + excluded.line_count, "
          "late_count = w.late_count + CASE WHEN w.status = 'open' THEN 0 ELSE excluded.line_count END, "
          "last_line_at = excluded.last_line_at, lines_expired = 0 "
          "RETURNING w.id, (SELECT sv.name FROM sv WHERE sv.id = w.service_id), w.start_ms"};

/* ---- late lines (windows.c, analysis.c; migration 010) ----------------------------------------- */

/* an analysed window whose late_count grew past what its last analysis saw, once grace (?2) has passed
 * since that analysis: one re-analysis per window per grace, however the late lines trickle in */
#define LATE_NEXT                                                                                       \
    "SELECT id FROM windows WHERE status = 'analyzed' AND late_count > late_seen "                      \
    "AND coalesce(analyzed_at, 0) <= ?1 - ?2 ORDER BY analyzed_at, id LIMIT 1"
db_stmt sql_late_claim = {.sqlite = LATE_NEXT, .pg = LATE_NEXT " FOR UPDATE SKIP LOCKED", .params = "ii"};
/* read in the claim's transaction: where the analysis starts and the late lines it answers for */
db_stmt sql_late_marks = {.sql = "SELECT analyzed_line_id, late_count, coalesce(next_attempt_at, 0) FROM windows "
                                  "WHERE id = ?1", .params = "i"};
/* a finished analysis: read through ?2, answered for ?3 late lines (never moved back) */
db_stmt sql_late_done = {.sql = "UPDATE windows SET "
                                "analyzed_line_id = CASE WHEN ?2 > analyzed_line_id THEN ?2 ELSE analyzed_line_id END, "
                                "late_seen = CASE WHEN ?3 > late_seen THEN ?3 ELSE late_seen END WHERE id = ?1",
                         .params = "iii"};
/* a line for this window now is late (ingest's answer); the (service_id, start_ms) key */
db_stmt sql_late_window_closed = {.sql = "SELECT count(*) FROM windows WHERE service_id = "
                                         "(SELECT id FROM services WHERE name = ?1) AND start_ms = ?2 "
                                         "AND status <> 'open'",
                                  .params = "ti"};
#undef LATE_NEXT

/* ---- incidents (incidents.c; migration 013) ---------------------------------------------------- */

/* one incident join at a time across replicas (the key is no service id: those are positive) */
db_stmt sql_inc_lock = {.pg = "SELECT pg_advisory_xact_lock(-17)"};
db_stmt sql_inc_features = {.sql = "UPDATE anomalies SET first_ts = ?2, last_ts = ?3, mentions = ?4, trace_ids = ?5 "
                                   "WHERE id = ?1",
                            .params = "iiitt"};
#define MEMBER_COLS                                                                                     \
    "SELECT a.id, a.incident_id, s.name, a.type, a.severity, a.summary, a.severity_rank, "                \
    "coalesce(a.first_ts, a.window_start), coalesce(a.last_ts, a.window_end), a.mentions, a.trace_ids, "  \
    "a.window_id, a.evidence FROM anomalies a JOIN services s ON s.id = a.service_id "
/* members of open incidents whose span comes within the gap (?3) of [?1, ?2] */
db_stmt sql_inc_near = {.sql = MEMBER_COLS "JOIN incidents i ON i.id = a.incident_id WHERE i.status = 'open' "
                                           "AND i.start_ms <= ?2 + ?3 AND i.end_ms >= ?1 - ?3 ORDER BY a.id LIMIT 500",
                        .params = "iii"};
db_stmt sql_inc_members = {.sql = MEMBER_COLS "WHERE a.incident_id = ?1 ORDER BY coalesce(a.first_ts, a.window_start), a.id",
                           .params = "i"};
#undef MEMBER_COLS
db_stmt sql_inc_edges = {.sql = "SELECT c.name, e.name FROM service_calls sc JOIN services c ON c.id = sc.caller_id "
                                "JOIN services e ON e.id = sc.callee_id WHERE sc.windows >= ?1 "
                                "ORDER BY sc.windows DESC LIMIT 2000",
                         .params = "i"};
db_stmt sql_inc_insert = {.sql = "INSERT INTO incidents(start_ms, end_ms, severity, severity_rank, services, members, "
                                 "root_service, root_reason, summary, created_at, updated_at) "
                                 "VALUES (?1, ?2, ?3, ?4, '[]', 0, '', '', '', ?5, ?5) RETURNING id",
                          .params = "iitii"};
db_stmt sql_inc_assign = {.sql = "UPDATE anomalies SET incident_id = ?2 WHERE id = ?1", .params = "ii"};
/* incident ?1 merged into ?2 (a finding tied both): its members move, it stays as a pointer to ?2 */
db_stmt sql_inc_move = {.sql = "UPDATE anomalies SET incident_id = ?2 WHERE incident_id = ?1", .params = "ii"};
db_stmt sql_inc_merged = {.sql = "UPDATE incidents SET status = 'resolved', merged_into = ?2, members = 0, "
                                 "resolved_at = ?3, updated_at = ?3 WHERE id = ?1",
                          .params = "iii"};
/* the incident as its members make it; the previous severity and member count come back */
db_stmt sql_inc_update = {.sql = "UPDATE incidents SET start_ms = ?2, end_ms = ?3, severity = ?4, severity_rank = ?5, "
                                 "services = ?6, members = ?7, root_service = ?8, root_reason = ?9, "
                                 "summary = CASE WHEN summary_by = 'correlation' THEN ?10 ELSE summary END, "
                                 "updated_at = ?11 WHERE id = ?1",
                          .params = "iiititittti"};
db_stmt sql_inc_call = {.sql = "INSERT INTO service_calls(caller_id, callee_id, windows, lines, last_seen) "
                               "SELECT ?1, id, 1, ?3, ?4 FROM services WHERE name = ?2 AND id <> ?1 "
                               "ON CONFLICT(caller_id, callee_id) DO UPDATE SET windows = service_calls.windows + 1, "
                               "lines = service_calls.lines + excluded.lines, last_seen = excluded.last_seen",
                        .params = "itii"};
db_stmt sql_inc_names = {.sql = "SELECT name FROM services ORDER BY id LIMIT ?1", .params = "i"};
/* open incidents quiet for ?2: no member joined for ?2 of wall-clock time (?1 now), or, in event time,
 * every member service's watermark is ?2 past the incident's end and no window of any service within ?2
 * of the incident waits for analysis: a service not yet a member may still join (the edge of a cascade
 * analysed after its middle was found), so its windows count too */
#define QUIET_NEXT                                                                                      \
    "SELECT i.id FROM incidents i WHERE i.status = 'open' AND (i.updated_at + ?2 <= ?1 OR ("            \
    "NOT EXISTS (SELECT 1 FROM anomalies a JOIN services s ON s.id = a.service_id WHERE a.incident_id = i.id " \
    "AND coalesce(s.watermark, 0) < i.end_ms + ?2) AND NOT EXISTS (SELECT 1 FROM windows w WHERE "        \
    "w.status IN ('open', 'closed', 'analyzing') AND w.start_ms < i.end_ms + ?2 "                        \
    "AND w.end_ms + ?2 > i.start_ms))) ORDER BY i.id LIMIT 50"
db_stmt sql_inc_quiet = {.sqlite = QUIET_NEXT, .pg = QUIET_NEXT " FOR UPDATE OF i SKIP LOCKED", .params = "ii"};
#undef QUIET_NEXT
db_stmt sql_inc_resolve = {.sql = "UPDATE incidents SET status = 'resolved', resolved_at = ?2 "
                                  "WHERE id = ?1 AND status = 'open'",
                           .params = "ii"};
#define INCIDENT_COLS(ids)                                                                              \
    "SELECT i.id, i.status, i.start_ms, i.end_ms, i.severity, i.services, i.members, i.root_service, "   \
    "i.root_reason, i.summary, i.root_cause, i.first_action, i.summary_by, i.created_at, i.updated_at, "  \
    "i.resolved_at, " ids ", i.merged_into, i.summary_note, i.feedback, i.feedback_note FROM incidents i "
#define IDS_SQLITE "(SELECT group_concat(a.id) FROM anomalies a WHERE a.incident_id = i.id)"
#define IDS_PG "(SELECT string_agg(a.id::text, ',' ORDER BY a.id) FROM anomalies a WHERE a.incident_id = i.id)"
/* overlapping [since, until), at least a severity, a status, a member service; newest first by start */
#define INCIDENTS_WHERE                                                                                 \
    "WHERE i.merged_into IS NULL AND (?1 IS NULL OR i.end_ms >= ?1) AND (?2 IS NULL OR i.start_ms < ?2) AND i.severity_rank >= ?3 " \
    "AND (?4 IS NULL OR i.status = ?4) AND (?5 IS NULL OR EXISTS (SELECT 1 FROM anomalies a JOIN services s " \
    "ON s.id = a.service_id WHERE a.incident_id = i.id AND s.name = ?5)) "                               \
    NEWEST_BELOW("i.start_ms", "i.id", "?6", "?7", "?8")
db_stmt sql_inc_list = {.sqlite = INCIDENT_COLS(IDS_SQLITE) INCIDENTS_WHERE,
                        .pg = INCIDENT_COLS(IDS_PG) INCIDENTS_WHERE, .params = "iiittiii"};
db_stmt sql_inc_get = {.sqlite = INCIDENT_COLS(IDS_SQLITE) "WHERE i.id = ?1",
                       .pg = INCIDENT_COLS(IDS_PG) "WHERE i.id = ?1", .params = "i"};
/* feedback on an incident (migration 018): recorded on it, then its members a page at a time (after id ?2) */
db_stmt sql_inc_feedback = {.sql = "UPDATE incidents SET feedback = ?2, feedback_note = ?3, feedback_at = ?4 "
                                   "WHERE id = ?1 RETURNING id",
                            .params = "itti"};
db_stmt sql_inc_member_ids = {.sql = "SELECT id FROM anomalies WHERE incident_id = ?1 AND id > ?2 ORDER BY id LIMIT 500",
                              .params = "ii"};
/* routing by incident (migration 015) */
db_stmt sql_inc_state = {.sql = "SELECT id, severity, services, root_service, root_reason, summary, start_ms, end_ms, "
                                "members, notified_by, merged_into, created_at FROM incidents WHERE id = ?1",
                         .params = "i"};
/* an open held for incident.group_wait (migration 020): queued, never claimed, not due yet at ?now */
#define HELD(now)                                                                                       \
    "(status IN ('pending', 'dry_run') AND attempts = 0 AND claimed_at IS NULL "                          \
    "AND coalesce(next_attempt_at, 0) > " now ")"
/* where an incident's notifications went: one row per destination that has had some released (sent or
 * due), then its held opens, the earliest due first; at most 512 (one held open per destination is kept) */
db_stmt sql_inc_rows = {.sql = "SELECT min(id), destination, min(kind), 0, 0, 0 FROM outbox WHERE dedup_key = ?1 "
                               "AND NOT " HELD("?2") " GROUP BY destination UNION ALL "
                               "SELECT id, destination, kind, anomaly_id, 1, next_attempt_at FROM outbox "
                               "WHERE dedup_key = ?1 AND " HELD("?2") " ORDER BY 2, 5, 6, 1 LIMIT 512",
                        .params = "ti"};
/* a merged incident's held opens go to the incident that took its members (key ?2) */
db_stmt sql_inc_held_move = {.sql = "UPDATE outbox SET dedup_key = ?2 WHERE dedup_key = ?1 AND " HELD("?3"),
                             .params = "tti"};
/* a member with news for a destination whose open is held: the open is made from it */
db_stmt sql_inc_held_take = {.sql = "UPDATE outbox SET anomaly_id = ?3 WHERE dedup_key = ?1 AND destination = ?2 AND "
                                    HELD("?4"),
                             .params = "ttii"};
db_stmt sql_inc_held_drop = {.sql = "DELETE FROM outbox WHERE id = ?1 AND " HELD("?2"), .params = "ii"};
/* a held open made again from its member and the incident as it is now */
db_stmt sql_inc_held_set = {.sql = "UPDATE outbox SET payload = ?2 WHERE id = ?1 AND " HELD("?3"), .params = "iti"};
/* the member a held open is made from, as routing reads it, with its pair's suppression interval */
db_stmt sql_inc_held_member = {.sql = "SELECT a.window_id, s.name, a.window_start, a.window_end, a.type, a.severity, "
                                      "a.summary, a.evidence, a.recommended_action, a.analyzer, "
                                      "coalesce(p.until_ms, 0) FROM anomalies a JOIN services s ON s.id = a.service_id "
                                      "LEFT JOIN suppressions p ON p.service_id = a.service_id AND p.type = a.type "
                                      "WHERE a.id = ?1",
                               .params = "i"};
#undef HELD
db_stmt sql_inc_notified = {.sql = "UPDATE incidents SET notified_by = ?2 WHERE id = ?1 AND notified_by IS NULL",
                            .params = "ii"};
/* where an incident's notifications went: its resolve goes there too */
/* where an incident's notifications went, each with the newest member anomaly still behind one of them there
 * (the anomaly that opened it may have gone with retention while the incident stayed open) */
db_stmt sql_inc_dests = {.sql = "SELECT destination, kind, max(anomaly_id) FROM outbox WHERE dedup_key = ?1 "
                                "GROUP BY destination, kind ORDER BY destination",
                         .params = "t"};
/* the model's one call per incident (migration 017): an unmerged incident of more than one member, resolved
 * or without a new member for ?2, taken once (summarized_at set in the same statement) */
#define SUMMARY_NEXT                                                                                    \
    "SELECT id FROM incidents WHERE summarized_at IS NULL AND merged_into IS NULL AND members > 1 "      \
    "AND (status = 'resolved' OR updated_at <= ?1 - ?2) ORDER BY id LIMIT 1"
db_stmt sql_inc_summary_claim = {
    .sqlite = "UPDATE incidents SET summarized_at = ?1 WHERE id = (" SUMMARY_NEXT ") RETURNING id",
    .pg = "UPDATE incidents SET summarized_at = ?1 WHERE id = (" SUMMARY_NEXT " FOR UPDATE SKIP LOCKED) RETURNING id",
    .params = "ii"};
#undef SUMMARY_NEXT
db_stmt sql_inc_summary_set = {.sql = "UPDATE incidents SET summary = coalesce(?2, summary), root_cause = ?3, "
                                      "first_action = ?4, summary_by = CASE WHEN ?2 IS NULL THEN summary_by "
                                      "ELSE 'llm' END, summary_note = ?5 WHERE id = ?1",
                               .params = "itttt"};
db_stmt sql_inc_open_count = {.sql = "SELECT count(*), coalesce(sum(members), 0) FROM incidents WHERE status = 'open'"};
#undef INCIDENT_COLS
#undef IDS_SQLITE
#undef IDS_PG
#undef INCIDENTS_WHERE
#undef NEWEST_BELOW

/* ---- evidence: the lines a quote names (evidence.c) -------------------------------------------- */

/* a read's lines (ids in (?2, ?3]) stamped before ?4: an index-only count of logs_by_window (migration 012) */
db_stmt sql_ev_before = {.sql = "SELECT count(*) FROM logs WHERE window_id = ?1 AND ts < ?4 AND id > ?2 AND id <= ?3",
                         .params = "iiii"};
/* those stamped ?4, in the read's order, at most ?5 */
db_stmt sql_ev_at = {.sql = "SELECT ts, level, message FROM logs WHERE window_id = ?1 AND ts = ?4 AND id > ?2 "
                            "AND id <= ?3 ORDER BY id LIMIT ?5",
                     .params = "iiiii"};
