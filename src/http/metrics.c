/*
 * metrics.c — GET /metrics: the counters of src/core/metrics.c plus the
 * gauges read at scrape time (writer queue, windows by status, the
 * backlog: the oldest window without a result and the outbox's pending
 * notifications, incidents open and their findings, database size) and the connection table's (server.c), in
 * the Prometheus text format 0.0.4.
 *
 * Threads: the connection's thread; four short reads on a pooled reader
 * connection. A database that does not answer leaves its gauges out of the
 * scrape rather than failing it, so the counters stay visible when it breaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomalog/http.h"
#include "anomalog/log.h"
#include "anomalog/metrics.h"
#include "anomalog/timeutil.h"

void http_metrics_get(const app *a, const http_request *rq, http_response *rs)
{
    (void)rq;
    metrics_gauges g = {
        .database_bytes = -1, .windows = {-1, -1, -1, -1, -1}, .oldest_waiting_seconds = -1, .outbox_pending = -1,
        .incidents_open = -1, .incident_members_open = -1};
    writer_stats ws;
    writer_get_stats(a->wr, &ws);
    g.writer_queue_depth = (int64_t)ws.queued;
    g.writer_queue_bytes = (int64_t)ws.queued_bytes;
    g.writer_alive = ws.alive;
    char err[256];
    if (store_metrics(a->st, g.windows, &g.database_bytes, err, sizeof err) != STORE_OK) {
        for (int i = 0; i < 5; i++)
            g.windows[i] = -1;
        g.database_bytes = -1;
        log_msg(LOG_ERROR, "metrics", "%s", err);
    }
    store_backlog b;
    if (store_backlog_get(a->st, &b, err, sizeof err) == STORE_OK) {
        int64_t age = b.oldest_waiting_ms < 0 ? 0 : time_now_ms() - b.oldest_waiting_ms;
        g.oldest_waiting_seconds = age > 0 ? (double)age / 1000.0 : 0;
        g.outbox_pending = b.outbox_pending;
    } else {
        log_msg(LOG_ERROR, "metrics", "%s", err);
    }
    if (store_incidents_open(a->st, &g.incidents_open, &g.incident_members_open, err, sizeof err) != STORE_OK) {
        g.incidents_open = g.incident_members_open = -1;
        log_msg(LOG_ERROR, "metrics", "%s", err);
    }
    size_t len = 0, clen = 0;
    char *text = metrics_render(&g, &len);
    char *conns = text ? http_connections_metrics(&clen) : NULL;
    if (conns) { /* the connection table's lines (server.c) after the counters */
        char *both = realloc(text, len + clen + 1);
        if (both) {
            memcpy(both + len, conns, clen);
            len += clen;
            both[len] = '\0';
            text = both;
        }
        free(conns);
    }
    if (!text) {
        http_error(rs, 500, "internal", "out of memory rendering metrics");
        return;
    }
    rs->status = 200;
    rs->body = text;
    rs->body_len = len;
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
