/* test_args.c -- proto/args.c: args are JSON, bounded, stored compact. */
#include <stdlib.h>

#include "unit.h"

#include "proto/proto.h"

/* Normalizes text (NUL-terminated) with the default limit; fails the test
 * unless it is accepted as want. */
static void assert_normal(const char *text, const char *want)
{
    char *out = NULL;
    tq_perr e;
    int rc = tq_args_normalize(text, text ? strlen(text) : 0,
                               TQ_MAX_ARGS_DEFAULT, &out, &e);

    if (rc != 0)
        fail_msg("'%s' refused: %s", text, e.text);
    assert_string_equal(out, want);
    free(out);
}

/* Fails the test unless text (len bytes) is refused with TQ_EINVAL and a
 * one-line message that contains says. */
static void assert_refused(const char *text, size_t len, const char *says)
{
    char *out = (char *)"untouched";
    tq_perr e;

    assert_int_equal(tq_args_normalize(text, len, TQ_MAX_ARGS_DEFAULT, &out, &e),
                     TQ_EINVAL);
    assert_null(out);
    assert_one_line(e.text);
    assert_contains(e.text, says);
}

/* ---------------------------------------------------------------- accepted */

static void test_args_any_json_value_is_stored_compact(void **state)
{
    assert_normal("{ \"a\" : [1, 2],\n  \"b\" : {\"c\" : null} }",
                  "{\"a\":[1,2],\"b\":{\"c\":null}}");
    assert_normal("  42\n", "42");
    assert_normal("\"hi\"", "\"hi\"");
    assert_normal("true", "true");
    assert_normal("[ ]", "[]");
    assert_normal("\r\n\t[1,\t2]\r\n", "[1,2]");
}

static void test_args_null_text_is_json_null(void **state)
{
    char *out = NULL;

    assert_int_equal(tq_args_normalize(NULL, 0, TQ_MAX_ARGS_DEFAULT, &out, NULL), 0);
    assert_string_equal(out, "null");
    free(out);
}

static void test_args_keep_whitespace_inside_strings(void **state)
{
    assert_normal("[\"a  b\", \"x\\\" y\", \"tab\\t \\\\\" , \"\\\\\"]",
                  "[\"a  b\",\"x\\\" y\",\"tab\\t \\\\\",\"\\\\\"]");
    assert_normal("{\"k e y\" : \" v \"}", "{\"k e y\":\" v \"}");
}

static void test_args_keep_numbers_as_written(void **state)
{
    assert_normal("[0.1, 1e2, -0.0, 3.14159, 1.5E-7]", "[0.1,1e2,-0.0,3.14159,1.5E-7]");
    assert_normal("18446744073709551615", "18446744073709551615");
    assert_normal("{\"id\": 12345678901234567890123}", "{\"id\":12345678901234567890123}");
}

static void test_args_keep_text_as_written(void **state)
{
    assert_normal("\"\\u00e9 \xc3\xa9 \\ud83d\\ude80 \\/\"",
                  "\"\\u00e9 \xc3\xa9 \\ud83d\\ude80 \\/\"");
    assert_normal("{\"a\": 1, \"a\": 2}", "{\"a\":1,\"a\":2}");
}

static void test_args_max_zero_means_the_default(void **state)
{
    size_t len = TQ_MAX_ARGS_DEFAULT + 1;
    char *big = malloc(len), *out = NULL;
    tq_perr e;

    assert_non_null(big);
    memset(big, ' ', len);
    big[0] = '1';
    assert_int_equal(tq_args_normalize(big, len, 0, &out, &e), TQ_EINVAL);
    assert_contains(e.text, "over the limit of 524288");
    assert_int_equal(tq_args_normalize(big, len - 1, 0, &out, &e), 0);
    assert_string_equal(out, "1");
    free(out);
    free(big);
}

/* ---------------------------------------------------------------- refused */

static void test_args_oversized_refused_before_parsing(void **state)
{
    size_t len = 600000;
    char *big = malloc(len), *out = NULL;
    tq_perr e;

    assert_non_null(big);
    memset(big, '{', len); /* not JSON either: the size is what is reported */
    assert_int_equal(tq_args_normalize(big, len, TQ_MAX_ARGS_DEFAULT, &out, &e),
                     TQ_EINVAL);
    assert_null(out);
    assert_string_equal(e.text, "args are 600000 bytes, over the limit of 524288 "
                                "(--max-args)");
    free(big);
}

static void test_args_at_the_limit_accepted(void **state)
{
    char text[] = "[1, 2, 3]", *out = NULL;
    tq_perr e;

    assert_int_equal(tq_args_normalize(text, 9, 9, &out, &e), 0);
    assert_string_equal(out, "[1,2,3]");
    free(out);
    assert_int_equal(tq_args_normalize(text, 9, 8, &out, &e), TQ_EINVAL);
    assert_string_equal(e.text, "args are 9 bytes, over the limit of 8 (--max-args)");
}

static void test_args_bad_json_says_line_and_column(void **state)
{
    const char *text = "{\"a\": 1,\n \"b\": x}";
    char *out = NULL;
    tq_perr e;

    assert_int_equal(tq_args_normalize(text, strlen(text), TQ_MAX_ARGS_DEFAULT,
                                       &out, &e), TQ_EINVAL);
    assert_null(out);
    assert_string_equal(e.text, "invalid JSON args at line 2, column 7: "
                                "invalid token near 'x'");

    assert_refused("{\"a\":}", 6, "invalid JSON args at line 1, column 6: ");
    assert_refused("[1, 2", 5, "at line 1, column 5");
}

static void test_args_malformed_refused(void **state)
{
    assert_refused("{a: 1}", 6, "invalid JSON args at line 1");
    assert_refused("[1, 2,]", 7, "invalid JSON args");
    assert_refused("'single'", 8, "invalid JSON args");
    assert_refused("1 2", 3, "end of file expected");
    assert_refused("nan", 3, "invalid JSON args");
    assert_refused("1e400", 5, "real number overflow");
    assert_refused("\"a\\u0000b\"", 10, "\\u0000 is not allowed");
    assert_refused("[1]\0[2]", 7, "invalid JSON args");
    assert_refused("\xef\xbb\xbf[]", 5, "invalid JSON args"); /* a BOM */
}

static void test_args_empty_refused(void **state)
{
    assert_refused("", 0, "args are empty: give a JSON value (null for none)");
    assert_refused(" \n\t", 3, "args are empty");
}

/* jansson quotes the input near the error; what it quotes is escaped. */
static void test_args_error_message_is_one_line(void **state)
{
    char *out = NULL;
    tq_perr e;

    assert_refused("\"a\nb\"", 5, "invalid JSON args at line");
    assert_refused("[\"\xff\"]", 4, "unable to decode byte 0xff");
    assert_refused("[\x1b[31m]", 7, "invalid JSON args");
    assert_int_equal(tq_args_normalize("[\x01]", 3, 100, &out, &e), TQ_EINVAL);
    assert_string_equal(e.text, "invalid JSON args at line 1, column 2: "
                                "invalid token near '\\x01'");
}

/* ---------------------------------------------------------------- memory */

/* Fails jansson's allocations after a budget, to walk every failure point.
 * tq_args_normalize must neither crash nor leak (valgrind checks the latter)
 * and must never accept args it could not check. */
static int alloc_budget;

static void *failing_malloc(size_t size)
{
    return alloc_budget-- > 0 ? malloc(size) : NULL;
}

static void test_args_out_of_memory_in_jansson(void **state)
{
    const char *text = "{\"a\": [1, 2, {\"b\": \"c\"}], \"d\": \"e\"}";
    int budget, nomem = 0;

    json_set_alloc_funcs(failing_malloc, free);
    for (budget = 0; budget < 100; budget++) {
        char *out = NULL;
        tq_perr e;
        int rc;

        alloc_budget = budget;
        rc = tq_args_normalize(text, strlen(text), 1000, &out, &e);
        if (rc == 0) {
            assert_string_equal(out, "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":\"e\"}");
            free(out);
            break;
        }
        /* jansson says "out of memory" as a syntax error at times */
        assert_true(rc == TQ_ENOMEM || rc == TQ_EINVAL);
        nomem += rc == TQ_ENOMEM;
        assert_null(out);
        assert_one_line(e.text);
    }
    json_set_alloc_funcs(malloc, free);
    assert_true(budget > 0 && budget < 100);
    assert_true(nomem > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_any_json_value_is_stored_compact),
        cmocka_unit_test(test_args_null_text_is_json_null),
        cmocka_unit_test(test_args_keep_whitespace_inside_strings),
        cmocka_unit_test(test_args_keep_numbers_as_written),
        cmocka_unit_test(test_args_keep_text_as_written),
        cmocka_unit_test(test_args_max_zero_means_the_default),
        cmocka_unit_test(test_args_oversized_refused_before_parsing),
        cmocka_unit_test(test_args_at_the_limit_accepted),
        cmocka_unit_test(test_args_bad_json_says_line_and_column),
        cmocka_unit_test(test_args_malformed_refused),
        cmocka_unit_test(test_args_empty_refused),
        cmocka_unit_test(test_args_error_message_is_one_line),
        cmocka_unit_test(test_args_out_of_memory_in_jansson),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
