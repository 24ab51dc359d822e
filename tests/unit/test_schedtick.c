/* test_schedtick.c -- broker/schedtick.c: what a ticker (the worker's or
 * the dashboard's) does with schedpeek's answer. Replies are built by hand:
 * nothing here needs Redis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "broker/schedtick.h"

#define T 1800000000000LL /* a tick, Unix ms */

/* A schedpeek reply: now, then name score spec tz catchup next (NULL: nil);
 * n elements in all. */
typedef struct peek {
    redisReply top, el[7], *els[7];
    char buf[7][512];
} peek;

static redisReply *mk(peek *p, size_t n, const char *const v[7])
{
    memset(p, 0, sizeof *p);
    p->top.type = REDIS_REPLY_ARRAY;
    p->top.elements = n;
    p->top.element = p->els;
    for (size_t i = 0; i < n; i++) {
        p->els[i] = &p->el[i];
        if (!v[i]) {
            p->el[i].type = REDIS_REPLY_NIL;
            continue;
        }
        snprintf(p->buf[i], sizeof p->buf[i], "%s", v[i]);
        p->el[i].type = REDIS_REPLY_STRING;
        p->el[i].str = p->buf[i];
        p->el[i].len = strlen(p->buf[i]);
    }
    return &p->top;
}

/* The plan for a schedule `@every 1s` (or spec) due at tick, seen at now. */
static void plan(tq_schedtick *t, long long now, long long tick, const char *spec,
                 const char *catchup, tq_schedtick_plan *p)
{
    char n[24], s[24];
    peek pk;
    snprintf(n, sizeof n, "%lld", now);
    snprintf(s, sizeof s, "%lld", tick);
    const char *v[7] = {n, "every", s, spec, "UTC", catchup, s};
    tq_schedtick_plan_of(t, mk(&pk, 7, v), p);
}

static void test_nothing_due(void **state)
{
    tq_schedtick t;
    tq_schedtick_plan p;
    peek pk;

    assert_int_equal(tq_schedtick_init(&t, "tq"), 0);
    const char *none[7] = {"1800000000000"};
    tq_schedtick_plan_of(&t, mk(&pk, 1, none), &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_PEEK);
    assert_true(p.ms == TQ_SCHEDTICK_PEEK_MS);
    assert_string_equal(p.error, "");
    const char *paused[7] = {"1800000000000", "every", "inf", "@every 1s", "UTC", "0", "1"};
    tq_schedtick_plan_of(&t, mk(&pk, 7, paused), &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_PEEK);
    /* far off: peek again within the second, not a timer for the tick */
    plan(&t, T - 5000, T, "@every 1s", "0", &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_PEEK);
    /* not an array, or no clock: peek later, said once */
    redisReply bad = {.type = REDIS_REPLY_INTEGER, .integer = 3};
    tq_schedtick_plan_of(&t, &bad, &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_PEEK);
    assert_contains(p.error, "unexpected reply");
    tq_schedtick_clear(&t);
}

static void test_arm_and_fire(void **state)
{
    tq_schedtick t;
    tq_schedtick_plan p;
    tq_cmd c;

    assert_int_equal(tq_schedtick_init(&t, "ns"), 0);
    plan(&t, T - 300, T, "@every 1s", "0", &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_ARM);
    assert_true(p.ms > 299 && p.ms < 302);
    assert_int_equal(p.tick, T);
    assert_int_equal(p.next, T + 1000);
    assert_string_equal(p.name, "every");
    assert_string_equal(p.hkey, "ns:schedule:every");
    /* a little late (within the grace): fired now, mode fire */
    plan(&t, T + 200, T, "@every 1s", "0", &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_FIRE);
    assert_string_equal(p.mode, "fire");
    assert_int_equal(p.next, T + 1000);
    /* the schedfire call: KEYS schedules schedule, ARGV P name mode tick next nskip */
    tq_schedtick_fire_cmd(&t, &p, p.mode, &c);
    assert_int_equal(c.nkeys, 2);
    assert_string_equal(c.argv[3], "ns:schedules");
    assert_string_equal(c.argv[4], "ns:schedule:every");
    assert_string_equal(c.argv[5], "ns:");
    assert_string_equal(c.argv[6], "every");
    assert_string_equal(c.argv[7], "fire");
    assert_string_equal(c.argv[8], "1800000000000");
    assert_string_equal(c.argv[9], "1800000001000");
    assert_string_equal(c.argv[10], "0");
    tq_cmd_clear(&c);
    /* a cron spec: the next tick from proto/cron.c */
    plan(&t, T - 10, T, "0 * * * *", "0", &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_ARM);
    assert_int_equal(p.next, T + 3600000 - (T % 3600000));
    tq_schedtick_clear(&t);
}

static void test_missed_ticks(void **state)
{
    tq_schedtick t;
    tq_schedtick_plan p;

    assert_int_equal(tq_schedtick_init(&t, "tq"), 0);
    /* 10 s late, no catch-up: 9 skipped in one call, up to the first tick
     * within the 1 s grace */
    plan(&t, T + 10000, T, "@every 1s", "0", &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_FIRE);
    assert_string_equal(p.mode, "skip");
    assert_int_equal(p.nskip, 9);
    assert_int_equal(p.next, T + 9000);
    /* within --catchup: each fired, mode catchup */
    plan(&t, T + 10000, T, "@every 1s", "60000", &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_FIRE);
    assert_string_equal(p.mode, "catchup");
    assert_int_equal(p.next, T + 1000);
    /* older than --catchup: skipped up to the window */
    plan(&t, T + 10000, T, "@every 1s", "3000", &p);
    assert_string_equal(p.mode, "skip");
    assert_int_equal(p.next, T + 7000);
    assert_int_equal(p.nskip, 7);
    tq_schedtick_clear(&t);
}

static void test_bad_and_gone(void **state)
{
    tq_schedtick t;
    tq_schedtick_plan p;
    peek pk;

    assert_int_equal(tq_schedtick_init(&t, "tq"), 0);
    /* a spec it cannot read: put off 60 s, said once */
    plan(&t, T, T, "@every nope", "0", &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_FIRE);
    assert_string_equal(p.mode, "skip");
    assert_int_equal(p.next, T + TQ_SCHEDTICK_BAD_MS);
    assert_contains(p.error, "schedule every");
    plan(&t, T, T, "@every nope", "0", &p);
    assert_string_equal(p.error, "");
    /* gone or half-written (no spec, next not the score): schedfire cleans up */
    const char *gone[7] = {"1800000000000", "every", "1800000000000", NULL, NULL, NULL, NULL};
    tq_schedtick_plan_of(&t, mk(&pk, 7, gone), &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_FIRE);
    assert_string_equal(p.mode, "fire");
    assert_int_equal(p.next, T);
    /* a name too long for a key: peek later */
    char longname[400];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *big[7] = {"1800000000000", longname, "1800000000000", "@every 1s", "UTC", "0",
                          "1800000000000"};
    tq_schedtick_plan_of(&t, mk(&pk, 7, big), &p);
    assert_int_equal(p.what, TQ_SCHEDTICK_PEEK);
    tq_schedtick_clear(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_due),
        cmocka_unit_test(test_arm_and_fire),
        cmocka_unit_test(test_missed_ticks),
        cmocka_unit_test(test_bad_and_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
