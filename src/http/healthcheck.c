/*
 * healthcheck.c — `anomalog healthcheck`: asks the running service whether it
 * is ready, for container health checks (the image has no curl binary).
 *
 * One GET /readyz through libcurl on the calling thread, 5 s at most, the
 * body discarded: only the status counts. The address is the configured
 * listen address (config.c splits it), with 0.0.0.0 and :: meaning loopback.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "anomalog/http.h"

/* The body is read and dropped. */
static size_t healthcheck_discard(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    (void)arg;
    return size * nmemb;
}

int http_healthcheck(const config *cfg, char *err, size_t errlen)
{
    const char *host = cfg->listen_host;
    if (!*host || !strcmp(host, "0.0.0.0"))
        host = "127.0.0.1";
    else if (!strcmp(host, "::"))
        host = "::1";
    char url[300];
    int v6 = strchr(host, ':') != NULL;
    snprintf(url, sizeof url, "http://%s%s%s:%s/readyz", v6 ? "[" : "", host, v6 ? "]" : "", cfg->listen_port);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot start an HTTP client");
        return -1;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, healthcheck_discard);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    int rc = -1;
    if (cc != CURLE_OK)
        snprintf(err, errlen, "%s: %s", cfg->listen, curl_easy_strerror(cc));
    else if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200)
        snprintf(err, errlen, "/readyz answered %ld", status);
    else
        rc = 0;
    curl_easy_cleanup(c);
    return rc;
}
