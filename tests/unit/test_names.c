/* test_names.c -- proto/names.c: task, queue and other names. */
#include "unit.h"

#include "proto/proto.h"

static void test_name_accepts_printable_utf8(void **state)
{
    static const char *const good[] = {"default", "emails.send", "a", "a b",
                                       ("t\xc3\xa2" "che"), "\xe6\x97\xa5\xe6\x9c\xac",
                                       "\xf0\x9f\x9a\x80", "a:b/c", "{x}"};
    size_t i;
    tq_perr e;

    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        if (tq_name_check("task", good[i], &e) != 0)
            fail_msg("'%s' refused: %s", good[i], e.text);
}

static void test_name_accepts_exactly_the_limit(void **state)
{
    char name[TQ_NAME_MAX + 2];
    tq_perr e;

    memset(name, 'n', TQ_NAME_MAX);
    name[TQ_NAME_MAX] = '\0';
    assert_int_equal(tq_name_check("task", name, &e), 0);
    name[TQ_NAME_MAX] = 'n';
    name[TQ_NAME_MAX + 1] = '\0';
    assert_int_equal(tq_name_check("task", name, &e), TQ_EINVAL);
    assert_one_line(e.text);
    assert_contains(e.text, "task name 'nnnn");
    assert_contains(e.text, "...' is 129 bytes, over the limit of 128");
}

static void test_name_refuses_empty(void **state)
{
    tq_perr e;

    assert_int_equal(tq_name_check("task", "", &e), TQ_EINVAL);
    assert_string_equal(e.text, "task name is empty");
    assert_int_equal(tq_name_check("semaphore", NULL, &e), TQ_EINVAL);
    assert_string_equal(e.text, "semaphore name is empty");
    assert_int_equal(tq_name_check(NULL, "", &e), TQ_EINVAL);
    assert_string_equal(e.text, "name is empty");
}

static void test_name_refuses_control_characters(void **state)
{
    static const struct {
        const char *name;
        const char *says;
    } bad[] = {
        {"a\nb", "has a control character (U+000A) at offset 1"},
        {"\tx", "has a control character (U+0009) at offset 0"},
        {"x\x01", "has a control character (U+0001) at offset 1"},
        {"x\x1b[2J", "has a control character (U+001B) at offset 1"},
        {"del\x7f", "has a control character (U+007F) at offset 3"},
        {"c1\xc2\x85", "has a control character (U+0085) at offset 2"},
        {"\r", "has a control character (U+000D) at offset 0"},
    };
    size_t i;
    tq_perr e;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tq_name_check("task", bad[i].name, &e), TQ_EINVAL);
        assert_one_line(e.text);
        assert_contains(e.text, bad[i].says);
    }
    tq_name_check("task", "a\nb", &e);
    assert_string_equal(e.text, "task name 'a\\x0ab' has a control character "
                                "(U+000A) at offset 1");
}

static void test_name_refuses_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "\xff", "a\x80", "\xc0\xaf",  /* stray byte, lone continuation, overlong */
        "\xed\xa0\x80",               /* a UTF-16 surrogate */
        "\xf4\x90\x80\x80",           /* past U+10FFFF */
        "\xe2\x82",                   /* cut short */
        "\xe0\x80\x80",               /* overlong 3-byte */
    };
    size_t i;
    tq_perr e;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tq_name_check("queue", bad[i], &e), TQ_EINVAL);
        assert_one_line(e.text);
        assert_contains(e.text, "is not valid UTF-8 at offset");
    }
    tq_name_check("task", "ab\xff", &e);
    assert_string_equal(e.text, "task name 'ab\\xff' is not valid UTF-8 at offset 2");
}

static void test_queue_refuses_braces(void **state)
{
    tq_perr e;

    assert_int_equal(tq_queue_check("{q}", &e), TQ_EINVAL);
    assert_string_equal(e.text, "queue name '{q}' has '{' at offset 0 (braces "
                                "are reserved for the Redis Cluster hash tag)");
    assert_int_equal(tq_queue_check("a}", &e), TQ_EINVAL);
    assert_contains(e.text, "has '}' at offset 1");
}

static void test_queue_is_a_name(void **state)
{
    tq_perr e;

    assert_int_equal(tq_queue_check("default", &e), 0);
    assert_int_equal(tq_queue_check("emails:high", &e), 0);
    assert_int_equal(tq_queue_check("", &e), TQ_EINVAL);
    assert_string_equal(e.text, "queue name is empty");
    assert_int_equal(tq_queue_check(NULL, &e), TQ_EINVAL);
    assert_int_equal(tq_queue_check("q\n", &e), TQ_EINVAL);
    assert_contains(e.text, "queue name 'q\\x0a' has a control character");
}

static void test_namespace_refuses_braces(void **state)
{
    static const char *const bad[] = {"a{b", "a}b", "{", "}", "{tq}", "x{"};
    size_t i;
    tq_perr e;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tq_ns_check(bad[i], &e), TQ_EINVAL);
        assert_one_line(e.text);
        assert_contains(e.text, "namespace name '");
        assert_contains(e.text, "(braces are reserved for the Redis Cluster hash tag)");
    }
    tq_ns_check("a{b", &e);
    assert_string_equal(e.text, "namespace name 'a{b' has '{' at offset 1 (braces "
                                "are reserved for the Redis Cluster hash tag)");
}

/* A namespace is a name first: the same words as any other name. */
static void test_namespace_is_a_name(void **state)
{
    char longer[TQ_NAME_MAX + 2];
    tq_perr e;

    assert_int_equal(tq_ns_check("tq", &e), 0);
    assert_int_equal(tq_ns_check("app:prod", &e), 0);
    assert_int_equal(tq_ns_check("", &e), TQ_EINVAL);
    assert_string_equal(e.text, "namespace name is empty");
    assert_int_equal(tq_ns_check(NULL, &e), TQ_EINVAL);
    assert_int_equal(tq_ns_check("ns\n", &e), TQ_EINVAL);
    assert_string_equal(e.text, "namespace name 'ns\\x0a' has a control "
                                "character (U+000A) at offset 2");
    assert_int_equal(tq_ns_check("ns\xff", &e), TQ_EINVAL);
    assert_contains(e.text, "is not valid UTF-8 at offset 2");
    memset(longer, 'n', TQ_NAME_MAX + 1);
    longer[TQ_NAME_MAX + 1] = '\0';
    assert_int_equal(tq_ns_check(longer, &e), TQ_EINVAL);
    assert_contains(e.text, "over the limit of 128");
}

static void test_name_check_accepts_null_error(void **state)
{
    assert_int_equal(tq_name_check("task", "", NULL), TQ_EINVAL);
    assert_int_equal(tq_queue_check("{", NULL), TQ_EINVAL);
}

static void test_keyed_accepts_name_or_name_and_key(void **state)
{
    static const char *const good[] = {"api", "api:cust-1", "api:a:b", "gpu:\xc3\xa2"};
    tq_perr e;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (tq_keyed_check("rate limit", good[i], &e) != 0)
            fail_msg("'%s' refused: %s", good[i], e.text);
}

static void test_keyed_refuses_empty_parts_and_control_characters(void **state)
{
    tq_perr e;
    assert_int_equal(tq_keyed_check("rate limit", ":k", &e), TQ_EINVAL);
    assert_contains(e.text, "NAME:KEY needs a NAME and a KEY");
    assert_int_equal(tq_keyed_check("rate limit", "api:", &e), TQ_EINVAL);
    assert_int_equal(tq_keyed_check("rate limit", "api:k\x01", &e), TQ_EINVAL);
    assert_contains(e.text, "control character");
    assert_int_equal(tq_keyed_check("rate limit", "", &e), TQ_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_accepts_printable_utf8),
        cmocka_unit_test(test_name_accepts_exactly_the_limit),
        cmocka_unit_test(test_name_refuses_empty),
        cmocka_unit_test(test_name_refuses_control_characters),
        cmocka_unit_test(test_name_refuses_invalid_utf8),
        cmocka_unit_test(test_queue_refuses_braces),
        cmocka_unit_test(test_queue_is_a_name),
        cmocka_unit_test(test_namespace_refuses_braces),
        cmocka_unit_test(test_namespace_is_a_name),
        cmocka_unit_test(test_name_check_accepts_null_error),
        cmocka_unit_test(test_keyed_accepts_name_or_name_and_key),
        cmocka_unit_test(test_keyed_refuses_empty_parts_and_control_characters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
