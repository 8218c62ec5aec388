/*
 * auth.c — bearer tokens for writers and readers.
 *
 * Three scopes, each token optional (config auth.ingest_token /
 * ANOMALOG_INGEST_TOKEN, auth.read_token / ANOMALOG_READ_TOKEN,
 * auth.write_token / ANOMALOG_WRITE_TOKEN):
 *   ingest  /ingest, Loki, OTLP, bulk: closed once an ingest token is set;
 *           only an ingest-scoped token opens it.
 *   read    the read endpoints (everything but ingest, write, /healthz,
 *           /readyz, the page and the Elasticsearch probes): closed once a
 *           read token is set; a read or a write token opens it.
 *   write   what changes state (PUT /services/{name}, POST
 *           /anomalies/{id}/feedback, POST /incidents/{id}/feedback,
 *           POST /windows/flush): closed once a
 *           read or a write token is set (a read token must never change
 *           state); only a write token opens it.
 * With no token configured everything is open, as before scopes existed. The forms shippers
 * can send all map onto the same token:
 *   Authorization: Bearer <token>
 *   Authorization: Basic base64(<any user>:<token>)   (Loki and ES clients' basic auth)
 *   Authorization: ApiKey <token> or ApiKey base64(<id>:<token>)   (Elasticsearch API keys)
 * auth.tokens in the file adds tokens, ingest-only unless `scopes` says
 * otherwise, each optionally bound to a service: every entry sent with a
 * bound token lands in that service, whatever the body says (a team's token
 * writes only its own service).
 * Comparisons take time independent of where the strings differ.
 *
 * Threads: pure functions over the read-only config.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "anomalog/http.h"

/* 1 when a[0..an) equals b (NUL-terminated), in time that depends only on the lengths. */
static int same(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    unsigned char diff = an != bn;
    for (size_t i = 0; i < bn; i++)
        diff |= (unsigned char)(i < an ? a[i] : 0) ^ (unsigned char)b[i];
    return diff == 0;
}

/* Decodes base64 (standard or URL-safe alphabet, padding optional) into out with libcrypto.
 * Its length, or -1 when malformed or longer than outlen. */
static long b64_decode(const char *s, size_t n, char *out, size_t outlen)
{
    char in[700];
    while (n && s[n - 1] == '=')
        n--;
    size_t padded = (n + 3) / 4 * 4;
    if (n % 4 == 1 || padded >= sizeof in || padded / 4 * 3 > outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        in[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    memset(in + n, '=', padded - n);
    /* EVP_DecodeBlock decodes whole quads, the padding as zero bytes: they are not counted */
    int got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)padded);
    return got < 0 ? -1 : got - (long)(padded - n);
}

/* Does the header carry token? */
static int carries(const char *h, const char *token)
{
    char dec[512];
    long n;
    const char *colon;
    if (!h)
        return 0;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ')
            h++;
        return same(h, strlen(h), token);
    }
    int basic = strncasecmp(h, "Basic ", 6) == 0;
    if (!basic && strncasecmp(h, "ApiKey ", 7) != 0)
        return 0;
    h += basic ? 6 : 7;
    while (*h == ' ')
        h++;
    if (!basic && same(h, strlen(h), token))
        return 1;
    if ((n = b64_decode(h, strlen(h), dec, sizeof dec)) < 0)
        return 0;
    if (!(colon = memchr(dec, ':', (size_t)n)))
        return 0;
    return same(colon + 1, (size_t)(dec + n - colon - 1), token);
}

/* Is any configured token of one of these scopes? Then the access they give is closed. */
static int auth_closed(const config *cfg, unsigned scopes)
{
    if (((scopes & CONFIG_SCOPE_INGEST) && cfg->ingest_token[0]) || ((scopes & CONFIG_SCOPE_READ) && cfg->read_token[0]) ||
        ((scopes & CONFIG_SCOPE_WRITE) && cfg->write_token[0]))
        return 1;
    for (size_t i = 0; i < cfg->n_tokens; i++)
        if (cfg->tokens[i].scopes & scopes)
            return 1;
    return 0;
}

unsigned http_token_scopes(const config *cfg, const char *authorization)
{
    unsigned have = 0;
    /* every token is compared, whichever matches, so the time taken does not say which one did */
    if (cfg->ingest_token[0] && carries(authorization, cfg->ingest_token))
        have |= CONFIG_SCOPE_INGEST;
    if (cfg->read_token[0] && carries(authorization, cfg->read_token))
        have |= CONFIG_SCOPE_READ;
    if (cfg->write_token[0] && carries(authorization, cfg->write_token))
        have |= CONFIG_SCOPE_WRITE | CONFIG_SCOPE_READ;
    for (size_t i = 0; i < cfg->n_tokens; i++)
        if (carries(authorization, cfg->tokens[i].token))
            have |= cfg->tokens[i].scopes | (cfg->tokens[i].scopes & CONFIG_SCOPE_WRITE ? CONFIG_SCOPE_READ : 0);
    return have;
}

int http_authorized(const config *cfg, http_access access, const char *authorization, const char **bound_service,
                    int *token)
{
    *bound_service = NULL;
    *token = -1;
    if (access == HTTP_ACCESS_OPEN)
        return 1;
    if (access == HTTP_ACCESS_READ || access == HTTP_ACCESS_WRITE) {
        /* reading closes with a read token; changing state with a read or a write token */
        unsigned closing = access == HTTP_ACCESS_READ ? CONFIG_SCOPE_READ : CONFIG_SCOPE_READ | CONFIG_SCOPE_WRITE;
        if (!auth_closed(cfg, closing))
            return 1;
        *token = 0;
        unsigned need = access == HTTP_ACCESS_READ ? CONFIG_SCOPE_READ : CONFIG_SCOPE_WRITE;
        return (http_token_scopes(cfg, authorization) & need) != 0;
    }
    if (!auth_closed(cfg, CONFIG_SCOPE_INGEST))
        return 1;
    int ok = cfg->ingest_token[0] && carries(authorization, cfg->ingest_token);
    if (ok)
        *token = 0;
    for (size_t i = 0; i < cfg->n_tokens; i++) { /* all of them, whichever matches */
        if (carries(authorization, cfg->tokens[i].token) && !ok && (cfg->tokens[i].scopes & CONFIG_SCOPE_INGEST)) {
            ok = 1;
            *bound_service = cfg->tokens[i].service;
            *token = (int)i + 1;
        }
    }
    return ok;
}
