/* test_ratelimit.c -- client/ratelimit.c: parsing a rate into the time
 * between two tokens. */
#include <string.h>

#include "unit.h"

#include "client/admin.h"

static void test_rate_parses_each_unit(void **state)
{
    static const struct {
        const char *text;
        int64_t us;
    } good[] = {
        {"20/s", 50000},      {"1/s", 1000000},    {"100/m", 600000},
        {"1000/h", 3600000},  {"3/s", 333334},     {"1000000/s", 1},
        {"100000/s", 10},     {"7/m", 8571429},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t us = 0;
        tq_perr e;
        if (tq_ratelimit_parse(good[i].text, &us, &e) != 0)
            fail_msg("'%s' refused: %s", good[i].text, e.text);
        assert_int_equal(us, good[i].us);
    }
}

static void test_rate_refuses_bad_text(void **state)
{
    static const char *const bad[] = {"20", "", "/s", "0/s", "-1/s", "20/d", "20/",
                                      "20/ss", "2x/s", " 20/s", "1000001/s",
                                      "99999999999/s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = 0;
        tq_perr e;
        if (tq_ratelimit_parse(bad[i], &us, &e) != TQ_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_non_null(strstr(e.text, "rate"));
    }
}

static void test_rate_without_unit_says_so(void **state)
{
    int64_t us;
    tq_perr e;
    assert_int_equal(tq_ratelimit_parse("20", &us, &e), TQ_EINVAL);
    assert_non_null(strstr(e.text, "rate needs a unit: 20/s"));
}

/* Found by fuzz_cron: the refused text was quoted as it came, control
 * characters and all, into a message meant for one terminal line. */
static void test_rate_error_is_one_printable_line(void **state)
{
    static const char *const bad[] = {"1\x7f\x05", "2\n/s", "3/s\x1b[2J", "\xff\xfe/m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us;
        tq_perr e;
        assert_int_not_equal(tq_ratelimit_parse(bad[i], &us, &e), 0);
        for (const unsigned char *p = (const unsigned char *)e.text; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                fail_msg("control character 0x%02x in '%s'", *p, e.text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_parses_each_unit),
        cmocka_unit_test(test_rate_refuses_bad_text),
        cmocka_unit_test(test_rate_without_unit_says_so),
        cmocka_unit_test(test_rate_error_is_one_printable_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
