/* test_worker_link.c -- worker/link.c: error replies, sorted into Redis's state
 * (retried with backoff, outcomes kept) and the command's own fault. */
#include "unit.h"

#include "worker/worker_private.h"

static void test_link_oom_is_recognised(void **state)
{
    assert_true(wk_error_is_oom("OOM command not allowed when used memory > 'maxmemory'."));
    assert_true(wk_error_is_oom("ERR Error running script: OOM command not allowed when used memory > 'maxmemory'"));
    assert_false(wk_error_is_oom("NOPERM no permissions"));
    assert_false(wk_error_is_oom("ERR ROOM"));
    assert_false(wk_error_is_oom(NULL));
}

static void test_link_state_errors_are_transient(void **state)
{
    static const char *const yes[] = {
        "OOM command not allowed", "NOPERM this user has no permissions",
        "READONLY You can't write against a read only replica.",
        "LOADING Redis is loading the dataset in memory",
        "BUSY Redis is busy running a script.",
        "MASTERDOWN Link with MASTER is down",
        "NOSCRIPT No matching script.", "NOAUTH Authentication required.",
        "WRONGPASS invalid username-password pair",
        "MISCONF Redis is configured to save RDB snapshots",
        "CLUSTERDOWN The cluster is down", "TRYAGAIN Multiple keys",
        "NOREPLICAS Not enough good replicas to write."};
    size_t i;

    for (i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!wk_error_is_transient(yes[i]))
            fail_msg("not transient: %s", yes[i]);
}

static void test_link_command_errors_are_not_transient(void **state)
{
    assert_false(wk_error_is_transient("ERR Error running script (call to f_x): bad"));
    assert_false(wk_error_is_transient("WRONGTYPE Operation against a key"));
    assert_false(wk_error_is_transient("BUSYKEY Target key name already exists."));
    assert_false(wk_error_is_transient("OOMX"));
    assert_false(wk_error_is_transient(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_oom_is_recognised),
        cmocka_unit_test(test_link_state_errors_are_transient),
        cmocka_unit_test(test_link_command_errors_are_not_transient),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
