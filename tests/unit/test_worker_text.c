/* test_worker_text.c -- the worker's text helpers: tq_text_clean (proto/text.c,
 * the one cleaner of log lines and results), wk_log's cleaning of the
 * message and of its structured fields, and the outcome table
 * (worker/report.c's wk_outs). */
#include "unit.h"

#include "worker/worker_private.h"

static const char *clean(const char *s, size_t len, size_t n, int fold)
{
    static char buf[256];
    size_t got;

    assert_true(n <= sizeof buf);
    got = tq_text_clean(buf, n, s, len, fold);
    assert_true(got < n);
    assert_int_equal(buf[got], '\0');
    return buf;
}

static void test_text_clean_folds_line_breaks(void **state)
{
    assert_string_equal(clean("a\nb\r\n\nc", 7, 64, 1), "a | b | c");
    assert_string_equal(clean("\nabc\n", 5, 64, 1), "abc");
    assert_string_equal(clean("a\nb", 3, 64, 0), "a\nb");
}

static void test_text_clean_replaces_controls_when_folding(void **state)
{
    assert_string_equal(clean("a\x1b[31m\tz", 8, 64, 1), "a?[31m\tz");
    assert_string_equal(clean("a\x7f", 2, 64, 1), "a?");
    assert_string_equal(clean("a\x1b", 2, 64, 0), "a\x1b");
}

static void test_text_clean_makes_valid_utf8(void **state)
{
    assert_string_equal(clean("a\xff" "b", 3, 64, 0), "a\xEF\xBF\xBD" "b");
    /* overlong '/', a surrogate, past U+10FFFF: a U+FFFD per byte */
    assert_string_equal(clean("\xC0\xAF", 2, 64, 0),
                        "\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(clean("\xED\xA0\x80", 3, 64, 0),
                        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(clean("\xF4\x90\x80\x80", 4, 64, 0),
                        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(clean("h\xC3\xA9llo \xE2\x82\xAC", 10, 64, 0),
                        "h\xC3\xA9llo \xE2\x82\xAC");
    /* a NUL inside the text is kept as a byte; the C string ends there */
    assert_string_equal(clean("a\0b", 3, 64, 0), "a");
}

static void test_text_clean_cuts_at_a_character(void **state)
{
    /* "a" "é" "€" in 4 bytes with the NUL: the euro sign does not fit */
    assert_string_equal(clean("a\xC3\xA9\xE2\x82\xAC", 6, 4, 0), "a\xC3\xA9");
    assert_string_equal(clean("abc", 3, 1, 0), "");
    assert_int_equal(tq_text_clean(NULL, 0, "abc", 3, 0), 0);
}

static void test_outcomes_table(void **state)
{
    static const char *const wires[] = {"ok", "fail", "cancel", "release",
                                        "dead", "notask"};
    size_t i, j;

    for (i = 0; i < WK_OUT__COUNT; i++) {
        assert_non_null(wk_outs[i].word);
        for (j = 0; j < i; j++)
            assert_string_not_equal(wk_outs[i].word, wk_outs[j].word);
        if (i == WK_OUT_LOST) {
            assert_null(wk_outs[i].wire); /* nothing to report */
            continue;
        }
        assert_non_null(wk_outs[i].wire);
        for (j = 0; j < sizeof wires / sizeof wires[0]; j++)
            if (!strcmp(wk_outs[i].wire, wires[j]))
                break;
        if (j == sizeof wires / sizeof wires[0])
            fail_msg("outcome %zu: ack.lua has no kind '%s'", i, wk_outs[i].wire);
    }
    /* the words the log and the metrics have always used */
    assert_string_equal(wk_outs[WK_OUT_OK].word, "succeeded");
    assert_string_equal(wk_outs[WK_OUT_TIMEOUT].wire, "fail");
    assert_string_equal(wk_outs[WK_OUT_TIMEOUT].word, "timeout");
    assert_string_equal(wk_outs[WK_OUT_RELEASED].word, "released");
    assert_int_equal(wk_outs[WK_OUT_OK].level, TQ_LOG_INFO);
    assert_int_equal(wk_outs[WK_OUT_FAILED].level, TQ_LOG_WARN);
}

static char got_msg[512], got_fields[8][256];
static int got_n;

static void capture(tq_log_level lvl, const char *msg, const char *const *fields,
                    void *ud)
{
    (void)lvl; (void)ud;
    snprintf(got_msg, sizeof got_msg, "%s", msg);
    for (got_n = 0; fields && fields[got_n] && got_n < 8; got_n++)
        snprintf(got_fields[got_n], sizeof got_fields[0], "%s", fields[got_n]);
}

/* fuzz_worker found a job id from a claim reply reaching the log fields
 * raw (the message was cleaned, the fields were not): every value is now
 * one clean line too. */
static void test_wk_log_cleans_fields(void **state)
{
    tq_worker_opts o;
    tq_worker *w;
    char err[256];
    const char *id = "01jb\x04" "ERR\nforged line\x1b[31m";
    const char *f[] = {"job", id, "attempt", "1", "event", "refused", NULL};

    tq_worker_opts_init(&o);
    o.log = capture;
    o.log_level = TQ_LOG_DEBUG;
    w = tq_worker_new(&o, err, sizeof err);
    assert_non_null(w);
    wk_log(w, TQ_LOG_WARN, f, "job %s: lost the lease", id);
    assert_string_equal(got_msg, "job 01jb?ERR | forged line?[31m: lost the lease");
    assert_int_equal(got_n, 6);
    assert_string_equal(got_fields[0], "job");
    assert_string_equal(got_fields[1], "01jb?ERR | forged line?[31m");
    assert_string_equal(got_fields[3], "1");
    assert_string_equal(got_fields[5], "refused");
    wk_log(w, TQ_LOG_WARN, NULL, "no fields");
    assert_string_equal(got_msg, "no fields");
    assert_int_equal(got_n, 0);
    tq_worker_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_clean_folds_line_breaks),
        cmocka_unit_test(test_text_clean_replaces_controls_when_folding),
        cmocka_unit_test(test_text_clean_makes_valid_utf8),
        cmocka_unit_test(test_text_clean_cuts_at_a_character),
        cmocka_unit_test(test_outcomes_table),
        cmocka_unit_test(test_wk_log_cleans_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
