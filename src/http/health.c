/*
 * health.c — GET /healthz (the process answers) and GET /readyz (it can take
 * logs: the database answers and is writable, the writer runs and its last
 * commit succeeded, its queue is not full). /readyz also says how the model
 * is ("model": ok, down while its circuit breaker is open, or none), which
 * never makes it 503: ingestion goes on without the model.
 */
#include "anomalog/analyzer.h"
#include "anomalog/http.h"

void http_healthz(const app *a, const http_request *rq, http_response *rs)
{
    (void)a;
    (void)rq;
    rs->status = 200;
    rs->json = json_pack("{s:s, s:s}", "status", "ok", "version", ANOMALOG_VERSION);
}

void http_readyz(const app *a, const http_request *rq, http_response *rs)
{
    (void)rq;
    char err[256] = "";
    int db_ok = store_ping(a->st, err, sizeof err) == STORE_OK;
    json_t *checks = json_object();
    json_object_set_new(checks, "database", json_string(db_ok ? "ok" : err));

    writer_stats ws;
    writer_get_stats(a->wr, &ws);
    int wr_ok = ws.alive && ws.queued < a->cfg->queue_depth;
    if (wr_ok)
        json_object_set_new(checks, "writer", json_string("ok"));
    else if (!ws.alive)
        json_object_set_new(checks, "writer", json_sprintf("not running: %s", ws.last_error[0] ? ws.last_error : "stopped"));
    else
        json_object_set_new(checks, "writer", json_string("queue full"));

    rs->status = db_ok && wr_ok ? 200 : 503;
    /* the model's state is told, never a reason for 503: ingestion must go on while the model is down */
    rs->json = json_pack("{s:s, s:o, s:s}", "status", rs->status == 200 ? "ready" : "not_ready", "checks", checks,
                         "model", analyzer_model_state(a->an));
}
