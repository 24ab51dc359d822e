/* test_cron.c -- proto/cron.c and proto/tz.c: cron expressions, the next
 * tick, and daylight-saving transitions computed (never waited for) in
 * zones of the system's tz database. */
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"

#include "proto/cron.h"

/* The next tick (Unix seconds) of spec in zone after Unix second after. */
static int64_t next_s(const char *spec, const char *zone, int64_t after)
{
    tq_cron c;
    tq_tz *tz = NULL;
    tq_perr e;
    int64_t t;

    if (tq_cron_parse(spec, &c, &e) != 0)
        fail_msg("'%s': %s", spec, e.text);
    if (tq_tz_load(zone, &tz, &e) != 0)
        fail_msg("zone %s: %s", zone, e.text);
    t = tq_cron_next(&c, tz, after * 1000);
    tq_tz_free(tz);
    return t < 0 ? t : t / 1000;
}

static void bad(const char *spec, const char *want)
{
    tq_cron c;
    tq_perr e;

    if (tq_cron_parse(spec, &c, &e) == 0)
        fail_msg("'%s' was accepted", spec);
    assert_one_line(e.text);
    assert_contains(e.text, want);
}

/* ---------------------------------------------------------------- parsing */

static void test_cron_rejects_with_the_position(void **state)
{
    bad("0 0 32 * *", "cron field 3 (day of month): 32 is out of range 1-31");
    bad("60 * * * *", "cron field 1 (minute): 60 is out of range 0-59");
    bad("0 60 * * * *", "cron field 2 (minute): 60 is out of range 0-59");
    bad("* 24 * * *", "cron field 2 (hour): 24 is out of range 0-23");
    bad("* * * 13 *", "cron field 4 (month): 13 is out of range 1-12");
    bad("* * * * 8", "cron field 5 (day of week): 8 is out of range 0-7");
    bad("* * * FOO *", "cron field 4 (month): cannot read 'FOO'");
    bad("*/0 * * * *", "cron field 1 (minute): the step");
    bad("5-2 * * * *", "cron field 1 (minute): range 5-2 goes backwards");
    bad("1, * * * *", "cron field 1 (minute)");
    bad("* * * *", "has 4 fields");
    bad("* * * * * * *", "more than 6 fields");
    bad("", "empty");
    bad("@sometimes", "unknown schedule");
    bad("@every", "@every");
    bad("@every 0.5s", "less than 1s");
    bad("@every soon", "@every");
}

static void test_cron_every_parses(void **state)
{
    tq_cron c;
    tq_perr e;

    assert_int_equal(tq_cron_parse("@every 10", &c, &e), 0);
    assert_int_equal(c.every_ms, 10000);
}

static void test_cron_accepts_every_form(void **state)
{
    static const char *const good[] = {
        "* * * * *", "*/15 * * * *", "0 9-17/2 * * MON-FRI", "0 0 1,15 * *",
        "0 0 * JAN,jul *", "0 0 * * 7", "*/5 * * * * *", "0 0 12 * * sun",
        "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@every 1s",
        "@every 90m", "5/15 * * * *",
    };
    tq_cron c;
    tq_perr e;

    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (tq_cron_parse(good[i], &c, &e) != 0)
            fail_msg("'%s': %s", good[i], e.text);
}

/* ---------------------------------------------------------------- next tick, UTC */

static void test_cron_next_utc(void **state)
{
    int64_t t0 = 1748736000; /* 2025-06-01 00:00:00 UTC, a Sunday */

    assert_int_equal(next_s("*/15 * * * *", "UTC", t0 + 7 * 60), t0 + 15 * 60);
    assert_int_equal(next_s("*/15 * * * *", "UTC", t0), t0 + 15 * 60); /* strictly after */
    assert_int_equal(next_s("0 9 * * *", "UTC", t0), t0 + 9 * 3600);
    assert_int_equal(next_s("*/5 * * * * *", "UTC", t0 + 1), t0 + 5);
    assert_int_equal(next_s("5/15 * * * *", "UTC", t0), t0 + 5 * 60);
    /* Monday 2025-06-02 */
    assert_int_equal(next_s("0 0 * * MON", "UTC", t0), t0 + 86400);
    assert_int_equal(next_s("@weekly", "UTC", t0), t0 + 7 * 86400);
    /* day of month and day of week both restricted: either (cron's rule):
     * the 15th or a Tuesday (2025-06-03) */
    assert_int_equal(next_s("0 0 15 * TUE", "UTC", t0), t0 + 2 * 86400);
    /* 29 February: 2028 */
    assert_int_equal(next_s("0 0 29 2 *", "UTC", t0), 1835395200);
    /* 30 February never comes */
    assert_int_equal(next_s("0 0 30 2 *", "UTC", t0), -1);
}

static void test_cron_every_is_fixed(void **state)
{
    tq_cron c;
    tq_perr e;
    tq_tz *tz;

    assert_int_equal(tq_cron_parse("@every 1500ms", &c, &e), 0);
    assert_int_equal(tq_tz_load("Europe/Berlin", &tz, &e), 0);
    assert_int_equal(tq_cron_next(&c, tz, 1711846799500), 1711846801000);
    tq_tz_free(tz);
}

/* ---------------------------------------------------------------- DST */

/* Europe/Berlin: 2024-03-31 02:00 CET -> 03:00 CEST (01:00 UTC);
 * 2024-10-27 03:00 CEST -> 02:00 CET (01:00 UTC). */
static void test_cron_dst_berlin(void **state)
{
    /* 02:30 does not exist on 31 March: fires once, at the jump */
    assert_int_equal(next_s("30 2 * * *", "Europe/Berlin", 1711800000), 1711846800);
    /* asked from the last second before the jump, or its last millisecond
     * (fuzz_cron found the walk skipping the gap from there) */
    assert_int_equal(next_s("30 2 * * *", "Europe/Berlin", 1711846799), 1711846800);
    assert_int_equal(next_s("59 59 1,2 * * *", "Europe/Berlin", 1711846799), 1711846800);
    {
        tq_cron c;
        tq_tz *tz = NULL;
        tq_perr e;
        assert_int_equal(tq_cron_parse("30 2 * * *", &c, &e), 0);
        assert_int_equal(tq_tz_load("Europe/Berlin", &tz, &e), 0);
        assert_int_equal(tq_cron_next(&c, tz, 1711846800000 - 1), 1711846800000);
        tq_tz_free(tz);
    }
    /* then the next day's 02:30 CEST (00:30 UTC) */
    assert_int_equal(next_s("30 2 * * *", "Europe/Berlin", 1711846800), 1711931400);
    /* four ticks in the gap still fire once */
    assert_int_equal(next_s("*/15 2 * * *", "Europe/Berlin", 1711800000), 1711846800);
    assert_int_equal(next_s("*/15 2 * * *", "Europe/Berlin", 1711846800),
                     1711931400 - 30 * 60);
    /* 02:30 happens twice on 27 October: the first (00:30 UTC) only */
    assert_int_equal(next_s("30 2 * * *", "Europe/Berlin", 1729989000 - 3600), 1729989000);
    assert_int_equal(next_s("30 2 * * *", "Europe/Berlin", 1729989000), 1730079000);
    /* hour '*': real time, both occurrences, none in the gap */
    assert_int_equal(next_s("30 * * * *", "Europe/Berlin", 1729989000), 1729992600);
    assert_int_equal(next_s("30 * * * *", "Europe/Berlin", 1711845000),
                     1711848600);
    assert_int_equal(next_s("@hourly", "Europe/Berlin", 1729989000), 1729990800);
    /* past the table: the footer's rule (2050: last Sundays, the 27th and 30th) */
    assert_int_equal(next_s("30 2 * * *", "Europe/Berlin", 2531955600 - 12 * 3600),
                     2531955600);
    assert_int_equal(next_s("30 2 * * *", "Europe/Berlin", 2550702600 - 3600),
                     2550702600);
    assert_int_equal(next_s("30 2 * * *", "Europe/Berlin", 2550702600),
                     2550702600 + 86400 + 3600);
}

/* America/New_York: 2024-03-10 02:00 EST -> 03:00 EDT (07:00 UTC);
 * 2024-11-03 02:00 EDT -> 01:00 EST (06:00 UTC). */
static void test_cron_dst_new_york(void **state)
{
    assert_int_equal(next_s("30 2 * * *", "America/New_York", 1710054000 - 86400 / 2),
                     1710054000);
    /* 01:30 twice on 3 November: 05:30 UTC (EDT) only, then 06:30 UTC next day */
    assert_int_equal(next_s("30 1 * * *", "America/New_York", 1730611800 - 600), 1730611800);
    assert_int_equal(next_s("30 1 * * *", "America/New_York", 1730611800), 1730701800);
    /* every minute follows real time through the repeated hour */
    assert_int_equal(next_s("* * * * *", "America/New_York", 1730613600 - 30),
                     1730613600);
}

static void test_cron_zone_without_dst(void **state)
{
    int64_t t0 = 1748736000;

    assert_int_equal(next_s("0 9 * * *", "Asia/Tokyo", t0), t0 + 86400); /* 00:00 UTC */
    assert_int_equal(next_s("0 9 * * *", "Asia/Kolkata", t0), t0 + 3 * 3600 + 1800);
}

static void test_tz_unknown_zone(void **state)
{
    tq_tz *tz = NULL;
    tq_perr e;

    assert_int_equal(tq_tz_load("Mars/Olympus", &tz, &e), TQ_EINVAL);
    assert_contains(e.text, "unknown time zone 'Mars/Olympus'");
    assert_null(tz);
    assert_int_equal(tq_tz_load("../../etc/passwd", &tz, &e), TQ_EINVAL);
    assert_int_equal(tq_tz_load("Europe", &tz, &e), TQ_EINVAL); /* a directory */
    assert_int_equal(tq_tz_load("UTC", &tz, &e), 0);
    tq_tz_free(tz);
    tq_tz_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_rejects_with_the_position),
        cmocka_unit_test(test_cron_every_parses),
        cmocka_unit_test(test_cron_accepts_every_form),
        cmocka_unit_test(test_cron_next_utc),
        cmocka_unit_test(test_cron_every_is_fixed),
        cmocka_unit_test(test_cron_dst_berlin),
        cmocka_unit_test(test_cron_dst_new_york),
        cmocka_unit_test(test_cron_zone_without_dst),
        cmocka_unit_test(test_tz_unknown_zone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
