/* test_tserver.c -- the pure part of task servers (worker/tserver_proc.c):
 * reading the id at the start of a line cut at --max-result. */
#include "unit.h"

#include "worker/worker_private.h"

static int id_of(const char *line, char *id, size_t n)
{
    return wk_tserver_line_id(line, strlen(line), id, n);
}

static void test_line_id_reads_the_first_key(void **state)
{
    char id[48];

    assert_int_equal(id_of("{\"id\":\"abc-1\",\"result\":\"xxxx", id, sizeof id), 0);
    assert_string_equal(id, "abc-1");
    assert_int_equal(id_of("  { \"id\" :  \"01m8\" , \"res", id, sizeof id), 0);
    assert_string_equal(id, "01m8");
}

static void test_line_id_refuses_what_it_cannot_read(void **state)
{
    char id[8];

    assert_int_equal(id_of("{\"result\":1,\"id\":\"a\"}", id, sizeof id), -1);
    assert_int_equal(id_of("{\"id\":12}", id, sizeof id), -1);
    assert_int_equal(id_of("{\"id\":\"\"}", id, sizeof id), -1);
    assert_int_equal(id_of("{\"id\":\"a\\\"b\"}", id, sizeof id), -1);
    assert_int_equal(id_of("{\"id\":\"unterminated", id, sizeof id), -1);
    assert_int_equal(id_of("{\"id\":\"much-too-long\"}", id, sizeof id), -1);
    assert_int_equal(id_of("[\"id\"]", id, sizeof id), -1);
    assert_int_equal(id_of("", id, sizeof id), -1);
    assert_int_equal(id_of("{\"i", id, sizeof id), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_id_reads_the_first_key),
        cmocka_unit_test(test_line_id_refuses_what_it_cannot_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
