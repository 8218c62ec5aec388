/*
 * analysis.c — what an analysis records: a finished window's anomalies,
 * health and prompt (with the incident each anomaly joins and its routing
 * decision, in the same transaction), a failed analysis, and reading anomalies, prompts and
 * feedback back.
 *
 * Threads: finish, fail and feedback on the background connection, each one
 * transaction (db_tx); reads on a borrowed read connection.
 *
 * Claims: on PostgreSQL a finish or fail only takes effect for the claim that
 * is current (the window's attempt count, see windows.c), and a finish that
 * routes takes a transaction-scoped advisory lock on its service first, so
 * two replicas cannot both open a (service, type) interval.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/severity.h"
#include "anomalog/timeutil.h"
#include "store/db.h"
#include "store/queries.h"

/* ---- reads ------------------------------------------------------------------ */

store_rc store_anomalies_list(store *s, const anomaly_query *aq, json_t **out, char *next_cursor, size_t curlen,
                              char *err, size_t errlen)
{
    json_page a = {.arr = json_array(), .limit = aq->limit};
    int64_t up_start, up_id;
    list_upper(aq->has_until, aq->until_ms, aq->has_cursor, aq->cursor_start, aq->cursor_id, &up_start, &up_id);
    store_rc rc = db_read(s, aq->service ? &sql_ana_list_service : &sql_ana_list_all,
                          DB_ARGS(aq->has_since ? db_int(aq->since_ms) : db_null(), db_null(), db_int(aq->min_severity),
                                  db_text(aq->type), db_int(up_start), db_int(up_id), db_int(aq->limit + 1),
                                  db_text(aq->service)),
                          anomaly_row, &a, err, errlen);
    return json_page_end(&a, rc, "listing anomalies", out, next_cursor, curlen, err, errlen);
}

store_rc store_window_anomalies(store *s, int64_t window_id, json_t **out, char *err, size_t errlen)
{
    json_page a = {.arr = json_array(), .limit = -1};
    store_rc rc = db_read(s, &sql_ana_of_window, DB_ARGS(db_int(window_id)), anomaly_row, &a, err, errlen);
    return json_page_end(&a, rc, "reading anomalies", out, NULL, 0, err, errlen);
}

store_rc store_window_prompt(store *s, int64_t window_id, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    store_rc rc = db_read(s, &sql_ana_prompt_get, DB_ARGS(db_int(window_id)), prompt_row, out, err, errlen);
    return rc == STORE_OK && !*out ? STORE_NOTFOUND : rc;
}

/* ---- finishing and failing ---------------------------------------------------- */

static store_rc save_prompt(store *s, db_conn *c, const window_work *w, const analysis_meta *m, char *err,
                            size_t errlen)
{
    if (!m || ((!m->system_prompt || !m->user_prompt) && !m->digest))
        return STORE_OK;
    store_rc rc = db_run(s, c, &sql_ana_prompt_save,
                         DB_ARGS(db_int(w->id), db_text(m->system_prompt ? m->system_prompt : ""),
                                 db_text(m->user_prompt ? m->user_prompt : ""), db_text(m->digest)),
                         NULL, NULL, NULL, err, errlen);
    if (rc != STORE_OK || !m->redactions)
        return rc;
    char *red = json_dumps(m->redactions, JSON_COMPACT);
    rc = db_run(s, c, &sql_ana_redactions, DB_ARGS(db_int(w->id), db_text(red)), NULL, NULL, NULL, err, errlen);
    free(red);
    return rc;
}

/* a baseline finding is built from the window's lines; a model's is verified by the analyzer */
static int evidence_verified(const json_t *a)
{
    return !json_is_false(json_object_get(a, "evidence_verified"));
}

static store_rc insert_anomaly(store *s, db_conn *c, const window_work *w, const json_t *a, const analysis_meta *m,
                               int64_t now, int64_t *id, char *err, size_t errlen)
{
    const char *sev = json_string_value(json_object_get(a, "severity"));
    char *evidence = json_dumps(json_object_get(a, "evidence"), JSON_COMPACT);
    json_t *tids = json_object_get(a, "template_ids");
    char *tids_text = json_array_size(tids) ? json_dumps(tids, JSON_COMPACT) : NULL;
    const char *an = json_string_value(json_object_get(a, "analyzer"));
    store_rc rc = db_int_of(
        s, c, &sql_ana_insert,
        DB_ARGS(db_int(w->id), db_int(w->service_id), db_int(w->start_ms), db_int(w->end_ms), db_text(sev),
                db_int(severity_rank(sev)), db_text(json_string_value(json_object_get(a, "type"))),
                db_text(json_string_value(json_object_get(a, "summary"))), db_text(evidence ? evidence : "[]"),
                db_text(json_string_value(json_object_get(a, "recommended_action"))), db_int(now),
                db_text(an ? an : m && m->analyzer ? m->analyzer : "llm"), db_text(tids_text),
                db_int(evidence_verified(a))),
        id, NULL, err, errlen);
    free(evidence);
    free(tids_text);
    return rc;
}

typedef struct finish_arg {
    const window_work *w;
    const json_t *verdict;
    const analysis_meta *m;
    const char *reason;       /* fail only */
    int64_t next_attempt_ms;  /* fail only */
} finish_arg;

#define META_ARGS(m)                                                                                    \
    db_text(m ? m->analyzer : NULL), db_text(m ? m->model : NULL), db_int_or_null(m ? m->prompt_tokens : -1), \
        db_int_or_null(m ? m->completion_tokens : -1), db_int_or_null(m ? m->latency_ms : -1)

static store_rc finish_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    finish_arg *f = p;
    const window_work *w = f->w;
    const analysis_meta *m = f->m;
    const route_config *rt = m ? m->routing : NULL;
    const incident_config *ic = m && m->incidents && m->incidents->enabled ? m->incidents : NULL;
    /* one finish per service at a time: the suppression decisions below are made once */
    store_rc rc = rt ? db_run(s, c, &sql_ana_service_lock, DB_ARGS(db_int(w->service_id)), NULL, NULL, NULL, err, errlen)
                     : STORE_OK;
    int64_t now = time_now_ms();
    const json_t *list = json_object_get(f->verdict, "anomalies");
    size_t i;
    const json_t *a;
    json_array_foreach(list, i, a)
    {
        int64_t id = 0;
        incident_change ch = {0};
        if (rc == STORE_OK)
            rc = insert_anomaly(s, c, w, a, m, now, &id, err, errlen);
        if (rc == STORE_OK && ic && evidence_verified(a)) /* an unverified finding joins no incident either */
            rc = incident_join(s, c, w, a, id, now, ic, &ch, err, errlen);
        if (rc == STORE_OK && rt && evidence_verified(a))
            rc = ic ? incident_route(s, c, w, a, id, now, rt, ic, &ch, err, errlen)
                    : outbox_route_anomaly(s, c, w, a, id, now, rt, err, errlen);
    }
    if (rc == STORE_OK && ic && m->calls)
        rc = incident_calls_record(s, c, w, m->calls, err, errlen);
    int64_t changed = 0;
    if (rc == STORE_OK)
        rc = db_run(s, c, &sql_ana_finish,
                    DB_ARGS(db_int(w->id), db_text(json_string_value(json_object_get(f->verdict, "health"))),
                            db_int((int64_t)json_array_size(list)), META_ARGS(m), db_int(now),
                            db_text(m ? m->note : NULL), db_int_or_null(m && m->reanalyze_at > 0 ? m->reanalyze_at : -1),
                            db_int(w->attempts)),
                    NULL, NULL, &changed, err, errlen);
    if (rc == STORE_OK && changed != 1) {
        snprintf(err, errlen, "window %lld is no longer being analysed by this claim", (long long)w->id);
        return STORE_NOTFOUND;
    }
    if (rc != STORE_OK)
        return rc; /* the first error, not the aborted transaction's answer to the next statement */
    /* how far this analysis read, and the late lines it answers for (migration 010) */
    rc = db_run(s, c, &sql_late_done, DB_ARGS(db_int(w->id), db_int(w->read_line_id), db_int(w->late_seen)), NULL,
                NULL, NULL, err, errlen);
    if (rc != STORE_OK)
        return rc;
    return rc == STORE_OK ? save_prompt(s, c, w, m, err, errlen) : rc;
}

store_rc store_window_finish(store *s, const window_work *w, const json_t *verdict, const analysis_meta *m,
                             char *err, size_t errlen)
{
    finish_arg f = {.w = w, .verdict = verdict, .m = m};
    return db_tx(s, finish_tx, &f, err, errlen);
}

static store_rc fail_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    finish_arg *f = p;
    const analysis_meta *m = f->m;
    store_rc rc = db_run(s, c, &sql_ana_fail,
                         DB_ARGS(db_int(f->w->id), db_text(f->reason), db_int(f->next_attempt_ms), META_ARGS(m),
                                 db_int(f->w->attempts)),
                         NULL, NULL, NULL, err, errlen);
    return rc == STORE_OK ? save_prompt(s, c, f->w, m, err, errlen) : rc;
}

store_rc store_window_fail(store *s, const window_work *w, const char *reason, int64_t next_attempt_ms,
                           const analysis_meta *m, char *err, size_t errlen)
{
    finish_arg f = {.w = w, .m = m, .reason = reason, .next_attempt_ms = next_attempt_ms};
    return db_tx(s, fail_tx, &f, err, errlen);
}

/* ---- feedback ------------------------------------------------------------------- */

typedef struct feedback_arg {
    int64_t anomaly_id;
    const char *verdict, *note;
    int found;
    int64_t service_id;
    json_t *template_ids;
} feedback_arg;

static int feedback_row(const store_row *r, void *p)
{
    feedback_arg *f = p;
    f->found = 1;
    f->service_id = row_i64(r, 0);
    const char *t = row_text(r, 1);
    f->template_ids = t ? json_loads(t, 0, NULL) : NULL;
    return 1;
}

store_rc anomaly_feedback_apply(store *s, db_conn *c, int64_t anomaly_id, const char *verdict, const char *note,
                                char *err, size_t errlen)
{
    feedback_arg f = {.anomaly_id = anomaly_id, .verdict = verdict, .note = note};
    store_rc rc = db_run(s, c, &sql_ana_feedback,
                         DB_ARGS(db_int(f.anomaly_id), db_text(f.verdict), db_text(f.note), db_int(time_now_ms())),
                         feedback_row, &f, NULL, err, errlen);
    if (rc == STORE_OK && !f.found)
        rc = STORE_NOTFOUND;
    if (rc == STORE_OK && strcmp(f.verdict, "false_positive") == 0 && json_array_size(f.template_ids)) {
        int64_t v[64];
        size_t i, n = 0;
        json_t *x;
        json_array_foreach(f.template_ids, i, x) if (n < 64 && json_is_integer(x)) v[n++] = json_integer_value(x);
        rc = templates_mark_benign(s, c, f.service_id, v, n, err, errlen);
    }
    json_decref(f.template_ids);
    return rc;
}

static store_rc feedback_tx(store *s, db_conn *c, void *p, char *err, size_t errlen)
{
    feedback_arg *f = p;
    return anomaly_feedback_apply(s, c, f->anomaly_id, f->verdict, f->note, err, errlen);
}

store_rc store_anomaly_feedback(store *s, int64_t anomaly_id, const char *verdict, const char *note, json_t **out,
                                char *err, size_t errlen)
{
    *out = NULL;
    feedback_arg f = {.anomaly_id = anomaly_id, .verdict = verdict, .note = note};
    store_rc rc = db_tx(s, feedback_tx, &f, err, errlen);
    if (rc != STORE_OK)
        return rc;
    json_page a = {.arr = json_array(), .limit = -1};
    rc = db_read(s, &sql_ana_get, DB_ARGS(db_int(anomaly_id)), anomaly_row, &a, err, errlen);
    if (rc == STORE_OK)
        *out = json_incref(json_array_get(a.arr, 0));
    json_decref(a.arr);
    return rc;
}
