/*
 * web.c — GET / (the dashboard page for browsers, the Elasticsearch version
 * probe for API clients: elastic.c) and GET /ui/{file} (its script and
 * styles), served from arrays compiled into the binary (src/web/, embedded
 * by cmake/embed_web.cmake): no file beside the executable, no CDN.
 *
 * Deep links: a route listed in server.c's page_routes (GET /windows/{id},
 * GET /incidents/{id})
 * answers a browser's navigation (http_page_wanted: Accept names text/html
 * ahead of JSON) with the page, without a token; the page reads the path and
 * opens what it names through the API, which needs the token as always.
 * API clients (Accept: application/json, or no text/html) get the JSON.
 *
 * The page reads the public API like any client; these handlers only hand
 * out static bytes, so they never touch the database.
 */
#include <string.h>

#include "anomalog/http.h"
#include "http/web_assets.h"

static const char *content_type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot && !strcmp(dot, ".html"))
        return "text/html; charset=utf-8";
    if (dot && !strcmp(dot, ".js"))
        return "text/javascript; charset=utf-8";
    if (dot && !strcmp(dot, ".css"))
        return "text/css; charset=utf-8";
    return "application/octet-stream";
}

static int serve_asset(const char *name, http_response *rs)
{
    for (int i = 0; i < web_assets_count; i++) {
        if (strcmp(web_assets[i].name, name) != 0)
            continue;
        rs->status = 200;
        rs->body = web_assets[i].data;
        rs->body_len = web_assets[i].len;
        rs->body_static = 1;
        rs->content_type = content_type_of(name);
        return 0;
    }
    return -1;
}

int http_page_wanted(const http_request *rq)
{
    const char *accept = rq->header(rq, "Accept");
    const char *html = accept ? strstr(accept, "text/html") : NULL;
    const char *json = accept ? strstr(accept, "application/json") : NULL;
    return html && (!json || html < json);
}

void http_ui_index(const app *a, const http_request *rq, http_response *rs)
{
    (void)a;
    (void)rq;
    if (serve_asset("index.html", rs) != 0)
        http_error(rs, 404, "not_found", "the dashboard was not built into this binary");
}

void http_root_get(const app *a, const http_request *rq, http_response *rs)
{
    if (http_es_probe_wanted(rq)) /* an API client (Vector, Filebeat) asking which Elasticsearch this is */
        http_es_root(a, rq, rs);
    else
        http_ui_index(a, rq, rs);
}

void http_ui_asset(const app *a, const http_request *rq, http_response *rs)
{
    (void)a;
    const char *name = rq->params[0];
    if (!strcmp(name, "index.html") || serve_asset(name, rs) != 0)
        http_error(rs, 404, "not_found", "no dashboard file %s", rq->path);
}
