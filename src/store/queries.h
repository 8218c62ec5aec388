/*
 * queries.h — every SQL statement of the store, by domain (the texts are in
 * queries.c). Private to src/store/.
 */
#ifndef ANOMALOG_STORE_QUERIES_H
#define ANOMALOG_STORE_QUERIES_H

#include "store/db.h"

/* windows: listing, reading, closing, claiming (windows.c) */
extern db_stmt sql_win_get,
    sql_win_list_all,
    sql_win_list_status,
    sql_win_list_health,
    sql_win_list_service,
    sql_win_count_status,
    sql_win_service_id,
    sql_win_read_page,
    sql_win_read_top,
    sql_win_lines_page,
    sql_win_close_due,
    sql_win_close_all,
    sql_win_close_service,
    sql_win_recover,
    sql_win_claim_closed,
    sql_win_claim_failed,
    sql_win_claim_reanalyze,
    sql_win_claim_set,
    sql_win_service_context,
    sql_win_release;

/* analysis: anomalies, finish and fail, prompts, feedback (analysis.c) */
extern db_stmt sql_ana_list_all,
    sql_ana_list_service,
    sql_ana_of_window,
    sql_ana_get,
    sql_ana_prompt_get,
    sql_ana_service_lock,
    sql_ana_insert,
    sql_ana_finish,
    sql_ana_fail,
    sql_ana_prompt_save,
    sql_ana_redactions,
    sql_ana_feedback;

/* templates: history and recording (templates.c) */
extern db_stmt sql_tpl_load,
    sql_tpl_known,
    sql_tpl_counts,
    sql_tpl_depth,
    sql_tpl_upsert,
    sql_tpl_count_insert,
    sql_tpl_total,
    sql_tpl_window_errors,
    sql_tpl_window_errors_add,
    sql_tpl_count_add,
    sql_tpl_benign,
    sql_tpl_id_max_get,
    sql_tpl_id_max_set,
    sql_tpl_count,
    sql_tpl_evict;

/* templates' duration summaries (values.c) */
extern db_stmt sql_val_insert,
    sql_val_prune,
    sql_val_history;

/* suppression and the outbox (outbox.c) */
extern db_stmt sql_out_suppression_get,
    sql_out_suppression_open,
    sql_out_suppress,
    sql_out_insert,
    sql_out_claim,
    sql_out_attempt,
    sql_out_result,
    sql_out_recover,
    sql_out_list,
    sql_out_counts,
    sql_out_suppressions;

/* Idempotency-Keys (idempotency.c) */
extern db_stmt sql_idem_put,
    sql_idem_get,
    sql_idem_prune;

/* services and gauges (services.c) */
extern db_stmt sql_svc_services,
    sql_svc_service_get,
    sql_svc_context_set,
    sql_svc_count_logs,
    sql_svc_ping,
    sql_svc_status_counts,
    sql_svc_backlog,
    sql_svc_db_size;

/* retention's deletes (expire.c) */
extern db_stmt sql_exp_lines_next,
    sql_exp_window_lines,
    sql_exp_lines_done,
    sql_exp_window_next,
    sql_exp_attempts,
    sql_exp_outbox,
    sql_exp_anomalies,
    sql_exp_prompt,
    sql_exp_template_counts,
    sql_exp_template_values,
    sql_exp_window,
    sql_exp_suppressions,
    sql_exp_templates,
    sql_exp_incident_next,
    sql_exp_incident;

/* schema_version (migrate.c) */
extern db_stmt sql_mig_create,
    sql_mig_version,
    sql_mig_has,
    sql_mig_record;

/* the SQLite write path (sqlite_ingest.c): SQLite only */
extern db_stmt sql_sqw_service_id,
    sql_sqw_service_touch,
    sql_sqw_window_id,
    sql_sqw_window_add,
    sql_sqw_log_insert,
    sql_sqw_journal_put,
    sql_sqw_journal_get;

/* the PostgreSQL write path (pg_ingest.c): PostgreSQL only */
extern db_stmt sql_pgw_upsert;

/* late lines: claiming a window that has some, reading them, recording how far an analysis read
 * (windows.c, analysis.c; migration 010) */
extern db_stmt sql_late_claim,
    sql_late_marks,
    sql_late_done,
    sql_late_window_closed;

/* incidents: joining, describing, resolving, reading; the call graph (incidents.c; migration 013) */
extern db_stmt sql_inc_lock,
    sql_inc_features,
    sql_inc_near,
    sql_inc_members,
    sql_inc_edges,
    sql_inc_insert,
    sql_inc_assign,
    sql_inc_move,
    sql_inc_merged,
    sql_inc_update,
    sql_inc_call,
    sql_inc_names,
    sql_inc_quiet,
    sql_inc_resolve,
    sql_inc_list,
    sql_inc_get,
    sql_inc_open_count,
    sql_inc_state,
    sql_inc_notified,
    sql_inc_dests,
    sql_inc_rows,
    sql_inc_held_move,
    sql_inc_held_take,
    sql_inc_held_drop,
    sql_inc_held_set,
    sql_inc_held_member,
    sql_inc_summary_claim,
    sql_inc_summary_set,
    sql_inc_feedback,
    sql_inc_member_ids;

/* evidence: the lines a quote names (evidence.c) */
extern db_stmt sql_ev_before,
    sql_ev_at;

#endif
