/* test_errors.c -- proto/errors.c: error texts and SPEC §4's exit codes. */
#include "unit.h"

#include "tq/tq.h"

static const int codes[] = {TQ_OK,         TQ_EFAILED,   TQ_EINVAL,
                            TQ_ETIMEDOUT,  TQ_ECANCELLED, TQ_ENOTFOUND,
                            TQ_EREDIS,     TQ_ENOMEM,    TQ_EPROTO};
#define NCODES (sizeof codes / sizeof codes[0])

static void test_exit_codes_follow_spec(void **state)
{
    assert_int_equal(tq_exit_code(TQ_OK), 0);
    assert_int_equal(tq_exit_code(TQ_EFAILED), 1);
    assert_int_equal(tq_exit_code(TQ_EINVAL), 2);
    assert_int_equal(tq_exit_code(TQ_ETIMEDOUT), 3);
    assert_int_equal(tq_exit_code(TQ_ECANCELLED), 4);
    assert_int_equal(tq_exit_code(TQ_ENOTFOUND), 5);
    assert_int_equal(tq_exit_code(TQ_EREDIS), 6);
    assert_int_equal(tq_exit_code(TQ_ENOMEM), 6);
    assert_int_equal(tq_exit_code(TQ_EPROTO), 6);
    assert_int_equal(tq_exit_code(TQ_EDURABLE), 7);
}

static void test_exit_code_of_unknown_codes(void **state)
{
    assert_int_equal(tq_exit_code(-100), 6);
    assert_int_equal(tq_exit_code(7), 0); /* a count is not an error */
}

static void test_strerror_has_distinct_text_for_every_code(void **state)
{
    size_t i, j;

    for (i = 0; i < NCODES; i++) {
        const char *s = tq_strerror(codes[i]);

        assert_non_null(s);
        assert_one_line(s);
        for (j = 0; j < i; j++)
            assert_string_not_equal(s, tq_strerror(codes[j]));
    }
}

static void test_strerror_of_unknown_code(void **state)
{
    assert_string_equal(tq_strerror(-100), "unknown error");
    assert_string_equal(tq_strerror(TQ_EINVAL), "invalid input");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes_follow_spec),
        cmocka_unit_test(test_exit_code_of_unknown_codes),
        cmocka_unit_test(test_strerror_has_distinct_text_for_every_code),
        cmocka_unit_test(test_strerror_of_unknown_code),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
