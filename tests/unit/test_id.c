/* test_id.c -- proto/id.c: new ids, their queue tag, their forms, and the
 * check of ids given by users. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#include "proto/proto.h"

#define ID_LEN 26
#define RAND_LEN 16 /* the last 16 characters are the 80 random bits */
#define CROCKFORD "0123456789abcdefghjkmnpqrstvwxyz"

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Fails unless the n ids (TQ_ID_SIZE apart) are all different. Sorts them. */
static void assert_all_distinct(char (*ids)[TQ_ID_SIZE], size_t n)
{
    size_t i;

    qsort(ids, n, TQ_ID_SIZE, cmp_id);
    for (i = 1; i < n; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("duplicate id %s", ids[i]);
}

/* ---------------------------------------------------------------- tq_id_new */

static void test_id_is_26_chars_of_lowercase_crockford(void **state)
{
    char id[TQ_ID_SIZE];
    int i;

    for (i = 0; i < 1000; i++) {
        assert_int_equal(tq_id_new(id, NULL), 0);
        assert_int_equal(strlen(id), ID_LEN);
        assert_int_equal(strspn(id, CROCKFORD), ID_LEN);
        assert_true(id[0] <= '7'); /* 130 bits of text for 128 of data */
        assert_int_equal(tq_id_check(id, NULL), 0);
    }
}

static void test_id_starts_with_the_time(void **state)
{
    char id[TQ_ID_SIZE];
    struct timespec ts;
    uint64_t ms = 0, now;
    int i;

    assert_int_equal(tq_id_new(id, NULL), 0);
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    for (i = 0; i < 10; i++)
        ms = ms << 5 | (uint64_t)(strchr(CROCKFORD, id[i]) - CROCKFORD);
    assert_in_range(ms, now - 5000, now + 5000);
}

static void test_ids_are_unique_over_100k(void **state)
{
    enum { N = 100000 };
    char(*ids)[TQ_ID_SIZE] = malloc(N * sizeof *ids);
    size_t i;

    assert_non_null(ids);
    for (i = 0; i < N; i++)
        assert_int_equal(tq_id_new(ids[i], NULL), 0);
    assert_all_distinct(ids, N);
    free(ids);
}

static void test_ids_of_one_thread_increase(void **state)
{
    char prev[TQ_ID_SIZE], id[TQ_ID_SIZE];
    int i;

    assert_int_equal(tq_id_new(prev, NULL), 0);
    for (i = 0; i < 100000; i++) {
        assert_int_equal(tq_id_new(id, NULL), 0);
        if (strcmp(prev, id) >= 0)
            fail_msg("%s came after %s", id, prev);
        memcpy(prev, id, sizeof id);
    }
}

/* A child that kept its parent's generator would draw the same random bits:
 * compare the random parts, which differ even when the milliseconds do. */
static void test_ids_differ_after_fork(void **state)
{
    enum { N = 2000 };
    char(*ids)[TQ_ID_SIZE] = malloc(2 * N * sizeof *ids);
    char first[TQ_ID_SIZE];
    int fd[2], status;
    size_t i, got = 0;
    pid_t pid;

    assert_non_null(ids);
    assert_int_equal(tq_id_new(first, NULL), 0); /* the parent is seeded now */
    assert_int_equal(pipe(fd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[TQ_ID_SIZE] = "";

        close(fd[0]);
        free(ids);
        for (i = 0; i < N; i++)
            if (tq_id_new(id, NULL) != 0 || write(fd[1], id, TQ_ID_SIZE) != TQ_ID_SIZE)
                _exit(1);
        _exit(0);
    }
    close(fd[1]);
    for (i = 0; i < N; i++)
        assert_int_equal(tq_id_new(ids[i], NULL), 0);
    while (got < N * TQ_ID_SIZE) {
        ssize_t n = read(fd[0], (char *)ids[N] + got, N * TQ_ID_SIZE - got);

        assert_true(n > 0);
        got += (size_t)n;
    }
    close(fd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    for (i = 0; i < 2 * N; i++) /* keep only the random parts */
        memmove(ids[i], ids[i] + ID_LEN - RAND_LEN, RAND_LEN + 1);
    assert_all_distinct(ids, 2 * N);
    free(ids);
}

enum { THREADS = 4, PER_THREAD = 25000 };

static void *make_ids(void *arg)
{
    char(*ids)[TQ_ID_SIZE] = arg;
    size_t i;

    for (i = 0; i < PER_THREAD; i++)
        if (tq_id_new(ids[i], NULL) != 0)
            return arg;
    return NULL;
}

static void test_ids_are_unique_across_threads(void **state)
{
    char(*ids)[TQ_ID_SIZE] = malloc(THREADS * PER_THREAD * sizeof *ids);
    pthread_t t[THREADS];
    void *failed;
    int i;

    assert_non_null(ids);
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, make_ids, ids[i * PER_THREAD]), 0);
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], &failed), 0);
        assert_null(failed);
    }
    assert_all_distinct(ids, THREADS * PER_THREAD);
    free(ids);
}

/* ---------------------------------------------------------------- tags and forms */

/* The tag is the top 40 bits of FNV-1a 64 of the name, in the id alphabet:
 * values any other client (docs/design.md §2) must reproduce. */
static void test_id_tag_is_fnv1a_top_40_bits(void **state)
{
    char tag[TQ_ID_TAG_LEN + 1], other[TQ_ID_TAG_LEN + 1];

    tq_id_tag("default", tag);
    assert_string_equal(tag, "xepta5m6");
    tq_id_tag("mq0", tag);
    assert_string_equal(tag, "0zchj68q");
    tq_id_tag("", tag);
    assert_int_equal(strlen(tag), TQ_ID_TAG_LEN);
    assert_int_equal(strspn(tag, CROCKFORD), TQ_ID_TAG_LEN);
    /* two names whose tags collide (found by search): the broker keeps a set
     * of queues per tag for them (t_locate) */
    tq_id_tag("q8696470", tag);
    tq_id_tag("q12106645", other);
    assert_string_equal(tag, "8xejfvd1");
    assert_string_equal(other, tag);
}

static void test_id_of_a_queue_ends_with_its_tag(void **state)
{
    char tag[TQ_ID_TAG_LEN + 1], got[TQ_ID_TAG_LEN + 1], prev[TQ_ID_SIZE] = "";
    char id[TQ_ID_SIZE];
    int i;

    tq_id_tag("emails", tag);
    for (i = 0; i < 1000; i++) {
        assert_int_equal(tq_id_new(id, tag), 0);
        assert_int_equal(strlen(id), TQ_ID_ULID_LEN + TQ_ID_TAG_LEN);
        assert_true(strlen(id) <= TQ_ID_MAX);
        assert_int_equal(strspn(id, CROCKFORD), strlen(id));
        assert_string_equal(id + TQ_ID_ULID_LEN, tag);
        assert_int_equal(tq_id_parse(id, got), TQ_ID_TAGGED);
        assert_string_equal(got, tag);
        assert_int_equal(tq_id_check(id, NULL), 0);
        if (strcmp(prev, id) >= 0) /* still time-ordered within a queue */
            fail_msg("%s came after %s", id, prev);
        memcpy(prev, id, sizeof id);
    }
}

static void test_id_parse_tells_the_forms_apart(void **state)
{
    char tag[TQ_ID_TAG_LEN + 1];
    char id[TQ_ID_SIZE];

    assert_int_equal(tq_id_new(id, NULL), 0);
    assert_int_equal(tq_id_parse(id, tag), TQ_ID_PLAIN);
    assert_string_equal(tag, "");
    assert_int_equal(tq_id_parse("01m8kcde0zbfk24ttyegqw5h8s", NULL), TQ_ID_PLAIN);
    assert_int_equal(tq_id_parse("01m8kcde0zbfk24ttyegqw5h8sxepta5m6", tag), TQ_ID_TAGGED);
    assert_string_equal(tag, "xepta5m6");
    assert_int_equal(tq_id_parse("7zzzzzzzzzzzzzzzzzzzzzzzzz", NULL), TQ_ID_PLAIN);
}

static void test_id_parse_refuses_what_tq_never_made(void **state)
{
    static const char *const other[] = {
        "",
        "a",
        "nosuchjob",
        "01JZZZZZZZZZZZZZZZZZZZZZZZ",          /* capitals */
        "81m8kcde0zbfk24ttyegqw5h8s",          /* over 128 bits */
        "01m8kcde0zbfk24ttyegqw5h8",           /* 25 */
        "01m8kcde0zbfk24ttyegqw5h8s0",         /* 27 */
        "01m8kcde0zbfk24ttyegqw5h8sxepta5m",   /* 33 */
        "01m8kcde0zbfk24ttyegqw5h8sxepta5m66", /* 35 */
        "01m8kcde0zbfk24ttyegqw5h8u",          /* u: not in the alphabet */
        "01m8kcde0zbfk24ttyegqw5h8sxeptaim6",  /* i in the tag */
        "01m8kcde0zbfk24ttyegqw5h8sxepta-m6",
        "01m8kcde0zbfk24ttyegqw5h8sXEPTA5M6",
    };
    char tag[TQ_ID_TAG_LEN + 1] = "junk";
    size_t i;

    for (i = 0; i < sizeof other / sizeof other[0]; i++) {
        if (tq_id_parse(other[i], tag) != TQ_ID_OTHER)
            fail_msg("'%s' taken for a tq id", other[i]);
        assert_string_equal(tag, "");
    }
    assert_int_equal(tq_id_parse(NULL, tag), TQ_ID_OTHER);
}

/* ---------------------------------------------------------------- tq_id_check */

static void test_id_check_accepts_url_safe_ids(void **state)
{
    char longest[TQ_ID_MAX + 1];
    tq_perr e;

    memset(longest, 'Z', TQ_ID_MAX);
    longest[TQ_ID_MAX] = '\0';
    assert_int_equal(tq_id_check("a", &e), 0);
    assert_int_equal(tq_id_check("Order-2024_07-x", &e), 0);
    assert_int_equal(tq_id_check(longest, &e), 0);
    /* both forms tq makes */
    assert_int_equal(tq_id_check("01m8kcde0zbfk24ttyegqw5h8s", &e), 0);
    assert_int_equal(tq_id_check("01m8kcde0zbfk24ttyegqw5h8sxepta5m6", &e), 0);
}

static void test_id_check_refuses_empty_and_long(void **state)
{
    char toolong[TQ_ID_MAX + 2];
    tq_perr e;

    assert_int_equal(tq_id_check("", &e), TQ_EINVAL);
    assert_string_equal(e.text, "id is empty");
    assert_int_equal(tq_id_check(NULL, &e), TQ_EINVAL);
    assert_string_equal(e.text, "id is empty");

    memset(toolong, 'a', TQ_ID_MAX + 1);
    toolong[TQ_ID_MAX + 1] = '\0';
    assert_int_equal(tq_id_check(toolong, &e), TQ_EINVAL);
    assert_one_line(e.text);
    assert_contains(e.text, "is 41 characters, over the limit of 40");
}

static void test_id_check_refuses_other_characters(void **state)
{
    static const char *const bad[] = {"a b", "a/b", "a.b", "a:b", "{a}", "a\n",
                                      "caf\xc3\xa9", "a\xff", "a+b", "%41"};
    size_t i;
    tq_perr e;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tq_id_check(bad[i], &e), TQ_EINVAL);
        assert_one_line(e.text);
    }
    tq_id_check("a/b", &e);
    assert_string_equal(e.text, "id 'a/b' has '/' at offset 1 (ids are 1 to 40 "
                                "of A-Z a-z 0-9 _ -)");
    tq_id_check("x\n", &e);
    assert_contains(e.text, "id 'x\\x0a' has '\\x0a' at offset 1");
    tq_id_check("caf\xc3\xa9", &e);
    assert_contains(e.text, "has '\xc3\xa9' at offset 3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_is_26_chars_of_lowercase_crockford),
        cmocka_unit_test(test_id_starts_with_the_time),
        cmocka_unit_test(test_ids_are_unique_over_100k),
        cmocka_unit_test(test_ids_of_one_thread_increase),
        cmocka_unit_test(test_ids_differ_after_fork),
        cmocka_unit_test(test_ids_are_unique_across_threads),
        cmocka_unit_test(test_id_tag_is_fnv1a_top_40_bits),
        cmocka_unit_test(test_id_of_a_queue_ends_with_its_tag),
        cmocka_unit_test(test_id_parse_tells_the_forms_apart),
        cmocka_unit_test(test_id_parse_refuses_what_tq_never_made),
        cmocka_unit_test(test_id_check_accepts_url_safe_ids),
        cmocka_unit_test(test_id_check_refuses_empty_and_long),
        cmocka_unit_test(test_id_check_refuses_other_characters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
