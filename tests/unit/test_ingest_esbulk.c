/*
 * test_ingest_esbulk.c — Elasticsearch bulk bodies: items in order, service
 * from index, per-item refusals, whole-body refusals and the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "anomalog/ingest.h"

static ingest_opts opts(void)
{
    ingest_opts o = {.default_service = "default", .received_ms = 1, .max_line = 8, .max_entries = 2};
    return o;
}

static int run(const char *body, const ingest_opts *o, const char *url_index, batch **b, ingest_error *err,
               json_t **items)
{
    *b = batch_new(1);
    *items = json_array();
    return ingest_parse_es_bulk(body, strlen(body), o, url_index, *b, err, *items);
}

static int status_of(json_t *items, size_t i)
{
    json_t *x = json_array_get(items, i);
    return (int)json_integer_value(json_object_get(json_object_iter_value(json_object_iter(x)), "status"));
}

static void test_items_and_services(void **state)
{
    (void)state;
    ingest_opts o = opts();
    batch *b;
    ingest_error err;
    json_t *items;
    const char *body = "{\"index\":{\"_index\":\"idx\"}}\n{\"message\":\"a very long message\"}\n\n"
                       "{\"update\":{\"_id\":\"1\"}}\n{\"doc\":{}}\n"
                       "{\"create\":{}}\n{\"message\":\"b\",\"@timestamp\":\"soon\"}\n"
                       "{\"create\":{}}\n{\"msg\":\"c\",\"app\":\"own\"}\n";
    assert_int_equal(run(body, &o, "url", &b, &err, &items), 0);
    assert_int_equal(json_array_size(items), 4);
    assert_int_equal(status_of(items, 0), 201);
    assert_int_equal(status_of(items, 1), 400);
    assert_int_equal(status_of(items, 2), 400); /* the timestamp is not one */
    assert_int_equal(status_of(items, 3), 201);
    assert_int_equal(b->count, 2);
    assert_string_equal(b->entries[0].service, "idx");
    assert_string_equal(b->entries[0].message, "a very l");
    assert_int_equal(b->stats.truncated, 1);
    assert_string_equal(b->entries[1].service, "own");
    batch_free(b);
    json_decref(items);

    /* ?service= wins over the index; the URL's index is used when the action names none */
    o.default_service = "given";
    assert_int_equal(run("{\"index\":{\"_index\":\"idx\"}}\n{\"message\":\"x\"}\n", &o, NULL, &b, &err, &items), 0);
    assert_string_equal(b->entries[0].service, "given");
    batch_free(b);
    json_decref(items);
    o = opts();
    assert_int_equal(run("{\"index\":{}}\n{\"message\":\"x\"}\n", &o, "url", &b, &err, &items), 0);
    assert_string_equal(b->entries[0].service, "url");
    batch_free(b);
    json_decref(items);
}

static void test_long_index_names(void **state)
{
    (void)state;
    /* 200 two-byte characters: over 255 bytes, cut between characters; over 128, not a service */
    char body[1024] = "{\"index\":{\"_index\":\"";
    for (int i = 0; i < 200; i++)
        strcat(body, "\xc3\xa9");
    strcat(body, "\"}}\n{\"message\":\"x\"}\n");
    ingest_opts o = opts();
    batch *b;
    ingest_error err;
    json_t *items;
    assert_int_equal(run(body, &o, NULL, &b, &err, &items), 0);
    assert_int_equal(status_of(items, 0), 201);
    const char *ix = json_string_value(json_object_get(json_object_get(json_array_get(items, 0), "index"), "_index"));
    assert_int_equal(strlen(ix), 254);
    assert_string_equal(b->entries[0].service, "default");
    batch_free(b);
    json_decref(items);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int status;
        const char *code;
    } cases[] = {
        {"{\"index\":{}}\n", 400, "invalid_bulk"},
        {"[1]\n{}\n", 400, "invalid_bulk"},
        {"{\"index\":{},\"create\":{}}\n{}\n", 400, "invalid_bulk"},
        {"{\"upsert\":{}}\n{}\n", 400, "invalid_bulk"},
        {"{\"index\":3}\n{}\n", 400, "invalid_bulk"},
        {"{oops\n", 400, "invalid_json"},
        {"{\"index\":{}}\n{\"message\":\"1\"}\n{\"index\":{}}\n{\"message\":\"2\"}\n{\"index\":{}}\n{\"message\":\"3\"}\n",
         413, "too_many_entries"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ingest_opts o = opts();
        batch *b;
        ingest_error err;
        json_t *items;
        assert_int_equal(run(cases[i].body, &o, NULL, &b, &err, &items), -1);
        assert_int_equal(err.status, cases[i].status);
        assert_string_equal(err.code, cases[i].code);
        batch_free(b);
        json_decref(items);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items_and_services),
        cmocka_unit_test(test_long_index_names),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
