/* test_state.c -- proto/state.c: state names, parsing, terminal states. */
#include "unit.h"

#include "tq/tq.h"

static const struct {
    tq_state s;
    const char *name;
    int terminal;
} states[] = {
    {TQ_STATE_WAITING, "waiting", 0},     {TQ_STATE_SCHEDULED, "scheduled", 0},
    {TQ_STATE_PENDING, "pending", 0},     {TQ_STATE_ACTIVE, "active", 0},
    {TQ_STATE_SUCCEEDED, "succeeded", 1}, {TQ_STATE_FAILED, "failed", 1},
    {TQ_STATE_CANCELLED, "cancelled", 1},
};
#define NSTATES (sizeof states / sizeof states[0])

static void test_state_names_round_trip(void **state)
{
    size_t i;

    for (i = 0; i < NSTATES; i++) {
        assert_string_equal(tq_state_name(states[i].s), states[i].name);
        assert_int_equal(tq_state_parse(states[i].name), states[i].s);
    }
}

static void test_state_terminal_is_the_last_three(void **state)
{
    size_t i;

    for (i = 0; i < NSTATES; i++)
        assert_int_equal(!!tq_state_terminal(states[i].s), states[i].terminal);
    assert_false(tq_state_terminal(TQ_STATE_UNKNOWN));
}

static void test_state_parse_refuses_what_is_not_a_state(void **state)
{
    static const char *const bad[] = {"", "unknown", "Pending", "pending ",
                                      " pending", "pend", "pendingx", "done"};
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tq_state_parse(bad[i]), TQ_STATE_UNKNOWN);
    assert_int_equal(tq_state_parse(NULL), TQ_STATE_UNKNOWN);
}

static void test_state_name_of_out_of_range_value(void **state)
{
    assert_string_equal(tq_state_name(TQ_STATE_UNKNOWN), "unknown");
    assert_string_equal(tq_state_name((tq_state)99), "unknown");
    assert_string_equal(tq_state_name((tq_state)-1), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_names_round_trip),
        cmocka_unit_test(test_state_terminal_is_the_last_three),
        cmocka_unit_test(test_state_parse_refuses_what_is_not_a_state),
        cmocka_unit_test(test_state_name_of_out_of_range_value),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
