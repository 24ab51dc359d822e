/* test_map.c -- proto/map.c: the one hash table and the one clock. */
#include "unit.h"

#include <stdio.h>

#include "proto/proto_private.h"

static void test_map_put_get_replace_del(void **state)
{
    tq_map *m = tq_map_new();
    int a = 1, b = 2;

    assert_non_null(m);
    assert_null(tq_map_get(m, "x"));
    assert_int_equal(tq_map_put(m, "x", &a), 0);
    assert_ptr_equal(tq_map_get(m, "x"), &a);
    assert_int_equal(tq_map_put(m, "x", &b), 0); /* replaces */
    assert_ptr_equal(tq_map_get(m, "x"), &b);
    assert_int_equal(tq_map_count(m), 1);
    assert_ptr_equal(tq_map_del(m, "x"), &b);
    assert_null(tq_map_del(m, "x"));
    assert_int_equal(tq_map_count(m), 0);
    tq_map_free(m);
    tq_map_free(NULL);
}

/* Entries never move: a value found before the table grew is still the
 * one found after, and every key survives many doublings. */
static void test_map_grows_without_losing_entries(void **state)
{
    enum { N = 5000 };
    static int vals[N];
    char key[32];
    tq_map *m = tq_map_new();

    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "id-%d", i);
        assert_int_equal(tq_map_put(m, key, &vals[i]), 0);
    }
    assert_int_equal(tq_map_count(m), N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "id-%d", i);
        assert_ptr_equal(tq_map_get(m, key), &vals[i]);
    }
    tq_map_free(m);
}

static void test_map_iterates_and_deletes_while_iterating(void **state)
{
    static int vals[100];
    char key[32];
    tq_map *m = tq_map_new();
    tq_map_iter it = {0};
    const char *k;
    void *v;
    int seen = 0;

    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "%d", i);
        tq_map_put(m, key, &vals[i]);
    }
    while (tq_map_next(m, &it, &k, &v)) {
        assert_ptr_equal(tq_map_get(m, k), v);
        assert_ptr_equal(tq_map_del(m, k), v);
        seen++;
    }
    assert_int_equal(seen, 100);
    assert_int_equal(tq_map_count(m), 0);
    tq_map_free(m);
}

static void test_hash64_is_fnv1a(void **state)
{
    /* published FNV-1a 64 values */
    assert_true(tq_hash64("", 0) == UINT64_C(0xcbf29ce484222325));
    assert_true(tq_hash64("a", 1) == UINT64_C(0xaf63dc4c8601ec8c));
    assert_true(tq_hash64("foobar", 6) == UINT64_C(0x85944171f73967e8));
}

static void test_mono_ms_moves_forward(void **state)
{
    double a = tq_mono_ms(), b = tq_mono_ms();

    assert_true(a > 0);
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_put_get_replace_del),
        cmocka_unit_test(test_map_grows_without_losing_entries),
        cmocka_unit_test(test_map_iterates_and_deletes_while_iterating),
        cmocka_unit_test(test_hash64_is_fnv1a),
        cmocka_unit_test(test_mono_ms_moves_forward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
