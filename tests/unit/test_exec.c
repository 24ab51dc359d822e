/* test_exec.c -- worker/exec.c: what of the worker's environment reaches a job. */
#include "unit.h"

#include "worker/worker_private.h"

static void test_exec_env_drops_the_workers_own_settings(void **state)
{
    assert_true(wk_env_denied(NULL, "TQ_REDIS_URL=redis://:pw@h:1/0"));
    assert_true(wk_env_denied(NULL, "TQ_REDIS_PASSWORD=pw"));
    assert_true(wk_env_denied(NULL, "TQ_NAMESPACE=tq"));
    assert_true(wk_env_denied(NULL, "TQ_JOB_ID=inherited"));
    assert_true(wk_env_denied(NULL, "TQ_DEADLINE="));
    assert_false(wk_env_denied(NULL, "TQ_REDIS_URLX=x"));
    assert_false(wk_env_denied(NULL, "TQ_RUNS=/tmp/runs"));
    assert_false(wk_env_denied(NULL, "PATH=/bin"));
    assert_false(wk_env_denied(NULL, "XTQ_REDIS_URL=x"));
    assert_false(wk_env_denied(NULL, "tq_redis_url=x"));
}

static void test_exec_env_deny_names_exactly(void **state)
{
    const char *const deny[] = {"SECRET", "AWS_*", NULL};

    assert_true(wk_env_denied(deny, "SECRET=x"));
    assert_true(wk_env_denied(deny, "SECRET="));
    assert_false(wk_env_denied(deny, "SECRET2=x"));
    assert_false(wk_env_denied(deny, "SECRE=x"));
    assert_true(wk_env_denied(deny, "AWS_KEY=k"));
    assert_true(wk_env_denied(deny, "AWS_=k"));
    assert_false(wk_env_denied(deny, "AWS=k"));
    assert_false(wk_env_denied(deny, "HOME=/root"));
}

static void test_exec_env_deny_star_alone_denies_all(void **state)
{
    const char *const deny[] = {"*", NULL};

    assert_true(wk_env_denied(deny, "HOME=/root"));
    assert_true(wk_env_denied(deny, "=odd"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_env_drops_the_workers_own_settings),
        cmocka_unit_test(test_exec_env_deny_names_exactly),
        cmocka_unit_test(test_exec_env_deny_star_alone_denies_all),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
