/*
 * test_auth.c — which Authorization headers carry a token: Bearer, Basic
 * (token as password), ApiKey (raw or id:key), and what never does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "anomalog/http.h"

static void test_forms(void **state)
{
    (void)state;
    static config cfg;
    memset(&cfg, 0, sizeof cfg);
    const char *bound;
    int tok;
    strcpy(cfg.ingest_token, "s3cret");
    static const struct {
        const char *header;
        int ok;
    } cases[] = {
        {"Bearer s3cret", 1},
        {"bearer   s3cret", 1},
        {"Basic dXNlcjpzM2NyZXQ=", 1},   /* user:s3cret */
        {"Basic OnMzY3JldA==", 1},       /* :s3cret */
        {"ApiKey s3cret", 1},
        {"ApiKey aWQ6czNjcmV0", 1},      /* id:s3cret */
        {"Basic dXNlcjpzM2NyZXQ", 1},    /* user:s3cret, unpadded */
        {"Basic YT4-PzpzM2NyZXQ=", 1},   /* a>>?:s3cret, URL-safe alphabet */
        {"Basic -_86czNjcmV0", 1},       /* 0xfb 0xff:s3cret, URL-safe */
        {"Basic +/86czNjcmV0", 1},       /* the same, standard */
        {"Bearer s3cre", 0},
        {"Bearer s3cret2", 0},
        {"Bearer ", 0},
        {"s3cret", 0},
        {"Basic czNjcmV0", 0},           /* s3cret without a user: no colon */
        {"Basic dXNlcjpvdGhlcg==", 0},   /* user:other */
        {"Basic !!!!", 0},
        {"Basic dXNlcjpzM2NyZXQ=x", 0},  /* text after the padding */
        {"Basic dXNlc jpzM2NyZXQ=", 0},  /* a space inside */
        {"Digest s3cret", 0},
        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (http_authorized(&cfg, HTTP_ACCESS_INGEST, cases[i].header, &bound, &tok) != cases[i].ok)
            fail_msg("%s: expected %d", cases[i].header ? cases[i].header : "(none)", cases[i].ok);
    }
    /* a Basic value longer than the decoder's bound carries nothing */
    char longh[1100] = "Basic ";
    memset(longh + 6, 'A', 1000);
    longh[1006] = '\0';
    assert_false(http_authorized(&cfg, HTTP_ACCESS_INGEST, longh, &bound, &tok));
    /* the read token is not set: reading is open; health and probes always are */
    assert_true(http_authorized(&cfg, HTTP_ACCESS_READ, NULL, &bound, &tok));
    assert_true(http_authorized(&cfg, HTTP_ACCESS_OPEN, NULL, &bound, &tok));
    assert_int_equal(tok, -1);
    strcpy(cfg.read_token, "r");
    assert_false(http_authorized(&cfg, HTTP_ACCESS_READ, "Bearer s3cret", &bound, &tok));
    assert_true(http_authorized(&cfg, HTTP_ACCESS_READ, "Bearer r", &bound, &tok));
    assert_false(http_authorized(&cfg, HTTP_ACCESS_INGEST, "Bearer r", &bound, &tok));

    /* listed tokens, one bound to a service; the main token stays unbound */
    struct ingest_token list[2] = {{"team-a", "payments", CONFIG_SCOPE_INGEST}, {"any", NULL, CONFIG_SCOPE_INGEST}};
    cfg.tokens = list;
    cfg.n_tokens = 2;
    assert_true(http_authorized(&cfg, HTTP_ACCESS_INGEST, "Bearer team-a", &bound, &tok));
    assert_string_equal(bound, "payments");
    assert_int_equal(tok, 1); /* which token: it scopes Idempotency-Keys */
    assert_true(http_authorized(&cfg, HTTP_ACCESS_INGEST, "Bearer any", &bound, &tok));
    assert_null(bound);
    assert_int_equal(tok, 2);
    assert_true(http_authorized(&cfg, HTTP_ACCESS_INGEST, "Bearer s3cret", &bound, &tok));
    assert_null(bound);
    assert_int_equal(tok, 0);
    assert_false(http_authorized(&cfg, HTTP_ACCESS_INGEST, "Bearer team-b", &bound, &tok));
    cfg.ingest_token[0] = '\0'; /* a list alone closes ingestion too */
    assert_false(http_authorized(&cfg, HTTP_ACCESS_INGEST, NULL, &bound, &tok));
    assert_true(http_authorized(&cfg, HTTP_ACCESS_INGEST, "Basic eDp0ZWFtLWE=", &bound, &tok)); /* x:team-a */
    assert_string_equal(bound, "payments");
}

/* Scopes: which token opens which access, for each way of configuring tokens. */
static void test_scopes(void **state)
{
    (void)state;
    static config cfg;
    memset(&cfg, 0, sizeof cfg);
    struct ingest_token list[3] = {{"file-r", NULL, CONFIG_SCOPE_READ},
                                   {"file-w", NULL, CONFIG_SCOPE_WRITE},
                                   {"file-iw", "svc", CONFIG_SCOPE_INGEST | CONFIG_SCOPE_WRITE}};
    enum { I = HTTP_ACCESS_INGEST, R = HTTP_ACCESS_READ, W = HTTP_ACCESS_WRITE };
    static const struct {
        int setup;          /* 0: no tokens; 1: read only; 2: ingest + read + write; 3: write only; 4: the file's */
        const char *header; /* NULL: none */
        int access;
        int ok;
    } rows[] = {
        {0, NULL, I, 1}, {0, NULL, R, 1}, {0, NULL, W, 1}, /* nothing configured: all open */
        {1, NULL, R, 0}, {1, "Bearer r", R, 1}, {1, "Bearer r", W, 0}, {1, NULL, W, 0}, {1, NULL, I, 1},
        {2, "Bearer i", I, 1}, {2, "Bearer i", R, 0}, {2, "Bearer i", W, 0},
        {2, "Bearer r", I, 0}, {2, "Bearer r", R, 1}, {2, "Bearer r", W, 0},
        {2, "Bearer w", I, 0}, {2, "Bearer w", R, 1}, {2, "Bearer w", W, 1},
        {2, NULL, R, 0}, {2, NULL, W, 0}, {2, "Bearer x", W, 0},
        {3, NULL, R, 1}, {3, NULL, W, 0}, {3, "Bearer w", W, 1}, {3, "Bearer w", R, 1}, {3, NULL, I, 1},
        {4, NULL, I, 0}, {4, NULL, R, 0}, {4, NULL, W, 0},
        {4, "Bearer file-r", R, 1}, {4, "Bearer file-r", W, 0}, {4, "Bearer file-r", I, 0},
        {4, "Bearer file-w", R, 1}, {4, "Bearer file-w", W, 1}, {4, "Bearer file-w", I, 0},
        {4, "Bearer file-iw", I, 1}, {4, "Bearer file-iw", W, 1}, {4, "Bearer file-iw", R, 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        memset(&cfg, 0, sizeof cfg);
        if (rows[i].setup == 1)
            strcpy(cfg.read_token, "r");
        if (rows[i].setup == 2)
            strcpy(cfg.ingest_token, "i"), strcpy(cfg.read_token, "r"), strcpy(cfg.write_token, "w");
        if (rows[i].setup == 3)
            strcpy(cfg.write_token, "w");
        if (rows[i].setup == 4)
            cfg.tokens = list, cfg.n_tokens = 3;
        const char *bound;
        int tok;
        if (http_authorized(&cfg, (http_access)rows[i].access, rows[i].header, &bound, &tok) != rows[i].ok)
            fail_msg("row %zu (setup %d, %s, access %d): expected %d", i, rows[i].setup,
                     rows[i].header ? rows[i].header : "no token", rows[i].access, rows[i].ok);
        if (rows[i].ok && rows[i].access == I && rows[i].setup == 4)
            assert_string_equal(bound, "svc");
    }
    /* 401 or 403: the scopes of the token a header carries */
    memset(&cfg, 0, sizeof cfg);
    strcpy(cfg.read_token, "r");
    strcpy(cfg.write_token, "w");
    assert_int_equal(http_token_scopes(&cfg, "Bearer r"), CONFIG_SCOPE_READ);
    assert_int_equal(http_token_scopes(&cfg, "Bearer w"), CONFIG_SCOPE_READ | CONFIG_SCOPE_WRITE);
    assert_int_equal(http_token_scopes(&cfg, "Bearer x"), 0);
    assert_int_equal(http_token_scopes(&cfg, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forms), cmocka_unit_test(test_scopes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
