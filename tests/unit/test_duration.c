/* test_duration.c -- proto/duration.c: durations and whole numbers. */
#include <limits.h>
#include <stdio.h>

#include "unit.h"

#include "proto/proto.h"

#define MAX_MS INT64_C(9223372036854) /* INT64_MAX / 10^6 */

/* ---------------------------------------------------------------- durations */

static const struct {
    const char *text;
    int64_t ms;
} good[] = {
    {"0", 0},           {"0s", 0},            {"0.5", 500},
    {"1", 1000},        {"250ms", 250},       {"30s", 30000},
    {"5m", 300000},     {"1h", 3600000},      {"2.5s", 2500},
    {"1.25h", 4500000}, {".5", 500},          {"5.", 5000},
    {"007s", 7000},     {"1.5ms", 2},         {"0.5ms", 1},
    {"0.4ms", 0},       {"0.0005", 1},        {"0.0004999", 0},
    {"0.001s", 1},      {"0.000000000001h", 0}, {"1.0000000000000000001", 1000},
    {"9223372036854ms", MAX_MS}, {"2562047h", INT64_C(2562047) * 3600000},
};

static void test_duration_parses_every_form(void **state)
{
    size_t i;

    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -1;

        if (tq_duration_parse(good[i].text, &ms) != 0 || ms != good[i].ms)
            fail_msg("'%s': got %lld, want %lld", good[i].text, (long long)ms,
                     (long long)good[i].ms);
    }
}

static const char *const bad[] = {
    "", "-1", "-1s", "-0", " 5", "5 ", "5 s", "\t5", "nan", "NaN", "inf",
    "infinity", "1e400", "1e3", "5x", "s", "ms", "m", "h", ".", ".s", "+5",
    "5sec", "5S", "5MS", "1h30m", "0x10", "1,5", "5\n", "9223372036855ms",
    "2562048h", "99999999999999999999999", "184467440737095516160",
};

static void test_duration_refuses_what_is_not_one(void **state)
{
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;

        if (tq_duration_parse(bad[i], &ms) != TQ_EINVAL)
            fail_msg("'%s' was accepted as %lld ms", bad[i], (long long)ms);
        assert_int_equal(ms, 42); /* untouched on failure */
    }
    assert_int_equal(tq_duration_parse(NULL, &(int64_t){0}), TQ_EINVAL);
}

static void test_duration_check_names_flag_and_input(void **state)
{
    tq_perr e;
    int64_t ms;

    assert_int_equal(tq_duration_check("--timeout", "5x", &ms, &e), TQ_EINVAL);
    assert_string_equal(e.text, "--timeout: '5x' is not a duration (use 500ms, "
                                "2.5s, 1m, 1h or a number of seconds)");

    assert_int_equal(tq_duration_check("--delay", "-2s", &ms, &e), TQ_EINVAL);
    assert_string_equal(e.text, "--delay: '-2s' is negative");

    assert_int_equal(tq_duration_check("--lease", "2562048h", &ms, &e), TQ_EINVAL);
    assert_string_equal(e.text, "--lease: '2562048h' is too long (at most 292 years)");

    assert_int_equal(tq_duration_check("--backoff", "", &ms, &e), TQ_EINVAL);
    assert_contains(e.text, "--backoff: empty duration");

    assert_int_equal(tq_duration_check(NULL, "x", &ms, &e), TQ_EINVAL);
    assert_contains(e.text, "duration: 'x' is not a duration");

    assert_int_equal(tq_duration_check("--timeout", "1.5ms", &ms, &e), 0);
    assert_int_equal(ms, 2);
}

static void test_duration_check_escapes_control_characters(void **state)
{
    tq_perr e;
    int64_t ms;

    assert_int_equal(tq_duration_check("--timeout", "5\n\x1b[31m", &ms, &e),
                     TQ_EINVAL);
    assert_one_line(e.text);
    assert_contains(e.text, "'5\\x0a\\x1b[31m'");
}

static void test_duration_check_cuts_long_input(void **state)
{
    char text[1000];
    tq_perr e;
    int64_t ms;

    memset(text, '7', sizeof text - 2);
    text[sizeof text - 2] = 'x';
    text[sizeof text - 1] = '\0';
    assert_int_equal(tq_duration_check("--timeout", text, &ms, &e), TQ_EINVAL);
    assert_one_line(e.text);
    assert_contains(e.text, "...' is not a duration");
    assert_true(strlen(e.text) < 200);
}

static void test_duration_check_accepts_null_error(void **state)
{
    int64_t ms;

    assert_int_equal(tq_duration_check("--timeout", "x", &ms, NULL), TQ_EINVAL);
}

/* ---------------------------------------------------------------- integers */

static void test_int_check_parses_whole_numbers(void **state)
{
    long long v;
    tq_perr e;

    assert_int_equal(tq_int_check("--priority", "0", 0, 9, &v, &e), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tq_int_check("--priority", "9", 0, 9, &v, &e), 0);
    assert_int_equal(v, 9);
    assert_int_equal(tq_int_check("n", "-3", -5, 5, &v, &e), 0);
    assert_int_equal(v, -3);
    assert_int_equal(tq_int_check("n", "007", 0, 10, &v, &e), 0);
    assert_int_equal(v, 7);
    assert_int_equal(tq_int_check("n", "9223372036854775807", 0, LLONG_MAX, &v, &e), 0);
    assert_true(v == LLONG_MAX);
    assert_int_equal(tq_int_check("n", "-9223372036854775808", LLONG_MIN, 0, &v, &e), 0);
    assert_true(v == LLONG_MIN);
}

static void test_int_check_refuses_what_is_not_whole(void **state)
{
    static const char *const bad_ints[] = {"", " 1", "1 ", "+1", "1.0", "abc",
                                           "12abc", "-", "--1", "0x10", "1e3",
                                           "\n1"};
    size_t i;

    for (i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++) {
        long long v = 42;
        tq_perr e;

        if (tq_int_check("--retries", bad_ints[i], 0, 100, &v, &e) != TQ_EINVAL)
            fail_msg("'%s' was accepted as %lld", bad_ints[i], v);
        assert_int_equal(v, 42);
        assert_one_line(e.text);
        assert_contains(e.text, "--retries: ");
    }
    assert_int_equal(tq_int_check("--retries", NULL, 0, 1, &(long long){0}, NULL),
                     TQ_EINVAL);
}

static void test_int_check_refuses_out_of_range(void **state)
{
    long long v = 42;
    tq_perr e;

    assert_int_equal(tq_int_check("--priority", "10", 0, 9, &v, &e), TQ_EINVAL);
    assert_string_equal(e.text, "--priority: '10' is out of range (0 to 9)");
    assert_int_equal(tq_int_check("--priority", "-1", 0, 9, &v, &e), TQ_EINVAL);
    assert_int_equal(tq_int_check("n", "99999999999999999999", 0, LLONG_MAX, &v, &e),
                     TQ_EINVAL);
    assert_contains(e.text, "out of range");
    assert_int_equal(v, 42);
}

static void test_int_check_messages(void **state)
{
    long long v;
    tq_perr e;

    assert_int_equal(tq_int_check("--retries", "three", 0, 100, &v, &e), TQ_EINVAL);
    assert_string_equal(e.text, "--retries: 'three' is not a whole number");
    assert_int_equal(tq_int_check("--retries", "", 0, 100, &v, &e), TQ_EINVAL);
    assert_string_equal(e.text, "--retries: empty, expected a whole number");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parses_every_form),
        cmocka_unit_test(test_duration_refuses_what_is_not_one),
        cmocka_unit_test(test_duration_check_names_flag_and_input),
        cmocka_unit_test(test_duration_check_escapes_control_characters),
        cmocka_unit_test(test_duration_check_cuts_long_input),
        cmocka_unit_test(test_duration_check_accepts_null_error),
        cmocka_unit_test(test_int_check_parses_whole_numbers),
        cmocka_unit_test(test_int_check_refuses_what_is_not_whole),
        cmocka_unit_test(test_int_check_refuses_out_of_range),
        cmocka_unit_test(test_int_check_messages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
