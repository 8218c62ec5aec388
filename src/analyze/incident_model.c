/*
 * incident_model.c — the model, once per incident (incident_model.h): in the
 * analysis room, beside the model client, the prompt and the redactor it uses.
 *
 * Purpose: an incident of more than one member gets one model call once it
 * has settled (resolved, or no member joined for settle_ms): its members'
 * findings and their key lines (evidence), each redacted again here, go into
 * prompt_build_incident's data block (nonce-delimited, log text indented as
 * data) under the byte cap; the answer is checked by incident_answer_parse,
 * asked again up to schema_retries times when it fails, redacted, and stored
 * as the incident's summary, root cause and first action. Without an answer
 * the correlation's own summary stands and the reason is kept
 * (summary_note).
 *
 * Threads: called by idle analysis workers; the store's claim takes each
 * incident once, so two workers never read the same one. The model's circuit
 * breaker is shared with the window analyses.
 *
 * Limits: at most 64 findings and 5 key lines each are offered (the byte cap
 * decides how many fit); one incident per call.
 */
#include "anomalog/incident_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/incident.h"
#include "anomalog/log.h"
#include "anomalog/prompt.h"
#include "anomalog/timeutil.h"

#define FINDINGS_MAX 64
#define EVIDENCE_MAX 5

/* A redacted copy of s into the session's list of owned strings. */
static const char *redacted(const redactor *red, redact_session *rs, json_t *owned, const char *s)
{
    if (!s)
        return NULL;
    if (!red)
        return s;
    char *t = redact_text(red, rs, s, strlen(s), NULL);
    if (!t)
        return "<redaction failed>";
    json_array_append_new(owned, json_string(t));
    free(t);
    return json_string_value(json_array_get(owned, json_array_size(owned) - 1));
}

static int64_t time_of(const json_t *v)
{
    int64_t ms = 0;
    return json_is_string(v) && time_parse_rfc3339(json_string_value(v), json_string_length(v), 0, &ms, NULL) == 0
               ? ms
               : 0;
}

/* Redacts the answer's three fields in place. @return 0, or -1 when out of memory. */
static int redact_answer(const redactor *red, json_t *answer)
{
    if (!red)
        return 0;
    redact_session *rs = redact_session_new();
    int rc = rs ? 0 : -1;
    const char *k;
    json_t *v;
    json_object_foreach(answer, k, v)
    {
        char *t = rc == 0 ? redact_text(red, rs, json_string_value(v), json_string_length(v), NULL) : NULL;
        rc = t && json_string_set(v, t) == 0 ? 0 : -1;
        free(t);
    }
    redact_session_free(rs);
    return rc;
}

/* Asks the model; *answer set, or NULL with note. */
static void ask(const incident_model_opts *o, const prompt *p, json_t **answer, char *note, size_t notelen)
{
    json_t *schema = incident_answer_schema();
    *answer = NULL;
    for (unsigned attempt = 0; attempt <= o->schema_retries && !*answer; attempt++) {
        int quick = 0;
        if (o->brk && !breaker_allow(o->brk, time_now_ms(), &quick)) {
            snprintf(note, notelen, "model: down (circuit open)");
            break;
        }
        llm_opts lo = *o->llm;
        if (quick)
            lo.retries = 0;
        llm_result r;
        llm_rc lrc = llm_chat(&lo, p->system, p->user, schema, &r);
        if (o->brk)
            breaker_record(o->brk, lrc == LLM_CANCELLED ? -1 : lrc == LLM_OK, time_now_ms());
        if (lrc != LLM_OK) {
            snprintf(note, notelen, "model: %s", r.error[0] ? r.error : "no answer");
            llm_result_free(&r);
            break;
        }
        char err[256];
        *answer = incident_answer_parse(r.content, strlen(r.content), err, sizeof err);
        if (!*answer)
            snprintf(note, notelen, "answer failed the check after %u call(s): %s", attempt + 1, err);
        llm_result_free(&r);
    }
    json_decref(schema);
}

int incident_model_next(store *st, const incident_model_opts *o)
{
    char err[512], note[600] = "";
    json_t *inc = NULL;
    store_rc rc = store_incident_to_summarize(st, time_now_ms(), o->settle_ms, &inc, err, sizeof err);
    if (rc == STORE_NOTFOUND)
        return 0;
    if (rc != STORE_OK) {
        log_msg(LOG_ERROR, "incident", "taking an incident for the model: %s", err);
        return -1;
    }
    int64_t id = json_integer_value(json_object_get(inc, "id"));
    json_t *tl = json_object_get(inc, "timeline"), *owned = json_array(), *answer = NULL;
    redact_session *rs = o->red ? redact_session_new() : NULL;
    size_t n = json_array_size(tl) < FINDINGS_MAX ? json_array_size(tl) : FINDINGS_MAX;
    prompt_finding *f = calloc(n ? n : 1, sizeof *f);
    const char **ev = calloc((n ? n : 1) * EVIDENCE_MAX, sizeof *ev);
    prompt p = {0};
    if (!owned || !f || !ev || (o->red && !rs)) {
        snprintf(note, sizeof note, "out of memory");
        goto record;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(tl, i), *e = json_object_get(m, "evidence");
        size_t k;
        for (k = 0; k < EVIDENCE_MAX && k < json_array_size(e); k++)
            ev[i * EVIDENCE_MAX + k] = redacted(o->red, rs, owned, json_string_value(json_array_get(e, k)));
        f[i] = (prompt_finding){.service = redacted(o->red, rs, owned, json_string_value(json_object_get(m, "service"))),
                                .severity = json_string_value(json_object_get(m, "severity")),
                                .type = json_string_value(json_object_get(m, "type")),
                                .summary = redacted(o->red, rs, owned, json_string_value(json_object_get(m, "summary"))),
                                .first_ms = time_of(json_object_get(m, "first")),
                                .last_ms = time_of(json_object_get(m, "last")),
                                .evidence = &ev[i * EVIDENCE_MAX], .n_evidence = k};
    }
    prompt_incident pi = {.findings = f, .n_findings = n,
                          .root_service = json_string_value(json_object_get(inc, "root_service")),
                          .root_reason = redacted(o->red, rs, owned, json_string_value(json_object_get(inc, "root_reason"))),
                          .max_bytes = o->max_bytes};
    if (prompt_build_incident(&pi, &p) != 0) {
        snprintf(note, sizeof note, "out of memory building the prompt");
        goto record;
    }
    ask(o, &p, &answer, note, sizeof note);
    if (answer && redact_answer(o->red, answer) != 0) {
        json_decref(answer);
        answer = NULL;
        snprintf(note, sizeof note, "out of memory redacting the answer");
    }
record:
    if (store_incident_summary_set(st, id, answer, answer ? NULL : note, err, sizeof err) != STORE_OK)
        log_msg(LOG_ERROR, "incident", "incident %lld: storing the model's answer: %s", (long long)id, err);
    else if (!answer)
        log_msg(LOG_WARN, "incident", "incident %lld: the correlation's summary stands: %s", (long long)id, note);
    prompt_free(&p);
    json_decref(answer);
    json_decref(owned);
    json_decref(inc);
    redact_session_free(rs);
    free(f);
    free(ev);
    return 1;
}
