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
        {"Bearer s3cre", 0},
        {"Bearer s3cret2", 0},
        {"Bearer ", 0},
        {"s3cret", 0},
        {"Basic czNjcmV0", 0},           /* s3cret without a user: no colon */
        {"Basic dXNlcjpvdGhlcg==", 0},   /* user:other */
        {"Basic !!!!", 0},
        {"Digest s3cret", 0},
        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (http_authorized(&cfg, HTTP_ACCESS_INGEST, cases[i].header, &bound, &tok) != cases[i].ok)
            fail_msg("%s: expected %d", cases[i].header ? cases[i].header : "(none)", cases[i].ok);
    }
    /* the read token is not set: reading is open; health and probes always are */
    assert_true(http_authorized(&cfg, HTTP_ACCESS_READ, NULL, &bound, &tok));
    assert_true(http_authorized(&cfg, HTTP_ACCESS_OPEN, NULL, &bound, &tok));
    assert_int_equal(tok, -1);
    strcpy(cfg.read_token, "r");
    assert_false(http_authorized(&cfg, HTTP_ACCESS_READ, "Bearer s3cret", &bound, &tok));
    assert_true(http_authorized(&cfg, HTTP_ACCESS_READ, "Bearer r", &bound, &tok));
    assert_false(http_authorized(&cfg, HTTP_ACCESS_INGEST, "Bearer r", &bound, &tok));

    /* listed tokens, one bound to a service; the main token stays unbound */
    struct ingest_token list[2] = {{"team-a", "payments"}, {"any", NULL}};
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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_forms)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
