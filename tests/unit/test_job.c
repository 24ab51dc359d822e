/* test_job.c -- proto/job.c: records from Redis hashes, records as JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"

#include "proto/proto.h"

/* A record as HGETALL returns it, with the fields tq_job does not hold. */
static const char *const full[][2] = {
    {"id", "01j0000000000000000000000a"},
    {"queue", "emails"},
    {"task", "send"},
    {"args", "{\"to\":\"a@b.c\",\"n\":0.1}"},
    {"state", "succeeded"},
    {"attempt", "2"},
    {"tok", "7"},
    {"fails", "1"},
    {"lost", "0"},
    {"max_retries", "3"},
    {"max_lost", "4"},
    {"priority", "9"},
    {"timeout", "1500"},
    {"backoff", "1000"},
    {"result_ttl", "86400000"},
    {"created_at", "1700000000.123456"},
    {"started_at", "1700000001.000001"},
    {"finished_at", "1700000002.500000"},
    {"worker", "host-1:123"},
    {"result", "[1,2]"},
    {"error", "boom"},
    {"cancel", "1"},
    {"w", "1"},
    {"group", "g1"},
    {"parent", "p1"},
    {"next", "n1"},
    {"semaphore", "smtp"},
    {"unique", "u1"},
    {"from_the_future", "x"},
};
#define NFULL (sizeof full / sizeof full[0])

/* Decodes the pairs of a table like full[], leaving out the field skip
 * (NULL: none) and replacing the value of field over (NULL: none) by with. */
static int decode(tq_job **out, const char *const (*pairs)[2], size_t n,
                  const char *skip, const char *over, const char *with,
                  tq_perr *e)
{
    const char *names[64], *values[64];
    size_t i, k = 0;

    assert_true(n <= 64);
    for (i = 0; i < n; i++) {
        if (skip && strcmp(pairs[i][0], skip) == 0)
            continue;
        names[k] = pairs[i][0];
        values[k] = over && strcmp(pairs[i][0], over) == 0 ? with : pairs[i][1];
        k++;
    }
    return tq_job_from_pairs(out, NULL, NULL, names, values, k, e);
}

static int setup_full(void **state)
{
    tq_job *job = NULL;
    tq_perr e;

    if (decode(&job, full, NFULL, NULL, NULL, NULL, &e) != 0)
        return -1;
    *state = job;
    return 0;
}

static int teardown_job(void **state)
{
    tq_job_free(*state);
    return 0;
}

/* ---------------------------------------------------------------- decoding */

static void test_job_from_pairs_reads_every_field(void **state)
{
    const tq_job *job = *state;

    assert_string_equal(job->id, "01j0000000000000000000000a");
    assert_string_equal(job->queue, "emails");
    assert_string_equal(job->task, "send");
    assert_string_equal(job->args, "{\"to\":\"a@b.c\",\"n\":0.1}");
    assert_int_equal(job->state, TQ_STATE_SUCCEEDED);
    assert_int_equal(job->attempt, 2);
    assert_int_equal(job->max_retries, 3);
    assert_int_equal(job->max_lost, 4);
    assert_int_equal(job->priority, 9);
    assert_int_equal(job->timeout_ms, 1500);
    assert_int_equal(job->backoff_ms, 1000);
    assert_int_equal(job->result_ttl_ms, 86400000);
    assert_true(job->created_at == 1700000000.123456);
    assert_true(job->started_at == 1700000001.000001);
    assert_true(job->finished_at == 1700000002.5);
    assert_string_equal(job->worker, "host-1:123");
    assert_string_equal(job->result, "[1,2]");
    assert_string_equal(job->error, "boom");
    assert_string_equal(job->group, "g1");
    assert_string_equal(job->parent, "p1");
    assert_string_equal(job->next, "n1");
    assert_string_equal(job->semaphore, "smtp");
    assert_string_equal(job->unique, "u1");
}

static void test_job_from_pairs_leaves_absent_fields_unset(void **state)
{
    static const char *const names[] = {"id", "queue", "task", "state"};
    static const char *const values[] = {"j1", "q", "t", "pending"};
    tq_job *job = NULL;
    tq_perr e;

    assert_int_equal(tq_job_from_pairs(&job, NULL, NULL, names, values, 4, &e), 0);
    assert_int_equal(job->state, TQ_STATE_PENDING);
    assert_null(job->args);
    assert_null(job->worker);
    assert_null(job->result);
    assert_null(job->unique);
    assert_int_equal(job->attempt, 0);
    assert_true(job->created_at == 0);
    tq_job_free(job);
}

/* What submit writes for a job with default options: the id and queue come
 * from the key, the options from the defaults. */
static void test_job_from_pairs_fills_key_parts_and_defaults(void **state)
{
    static const char *const names[] = {"state", "task", "args", "created_at"};
    static const char *const values[] = {"pending", "t", "[1]", "1700000000.5"};
    tq_job *job = NULL;
    tq_perr e;

    (void)state;
    assert_int_equal(tq_job_from_pairs(&job, "j1", "q", names, values, 4, &e), 0);
    assert_string_equal(job->id, "j1");
    assert_string_equal(job->queue, "q");
    assert_int_equal(job->max_retries, 3);
    assert_int_equal(job->max_lost, 3);
    assert_int_equal(job->backoff_ms, 1000);
    assert_int_equal(job->result_ttl_ms, 86400000);
    assert_int_equal(job->priority, 0);
    assert_int_equal(job->timeout_ms, 0);
    tq_job_free(job);
}

/* An older record that stores them wins over the key's. */
static void test_job_from_pairs_prefers_stored_id_and_options(void **state)
{
    static const char *const names[] = {"id", "queue", "state", "max_retries"};
    static const char *const values[] = {"j2", "q2", "active", "0"};
    tq_job *job = NULL;
    tq_perr e;

    (void)state;
    assert_int_equal(tq_job_from_pairs(&job, "j1", "q", names, values, 4, &e), 0);
    assert_string_equal(job->id, "j2");
    assert_string_equal(job->queue, "q2");
    assert_int_equal(job->max_retries, 0);
    tq_job_free(job);
}

static void test_job_from_pairs_refuses_missing_required_fields(void **state)
{
    static const char *const required[] = {"id", "queue", "state"};
    size_t i;

    for (i = 0; i < 3; i++) {
        tq_job *job = (tq_job *)&job; /* must come back NULL */
        char want[64];
        tq_perr e;

        assert_int_equal(decode(&job, full, NFULL, required[i], NULL, NULL, &e),
                         TQ_EPROTO);
        assert_null(job);
        assert_one_line(e.text);
        snprintf(want, sizeof want, "has no '%s' field", required[i]);
        assert_contains(e.text, want);
    }
}

static void test_job_from_pairs_names_the_record_it_refuses(void **state)
{
    tq_job *job;
    tq_perr e;

    assert_int_equal(decode(&job, full, NFULL, "state", NULL, NULL, &e), TQ_EPROTO);
    assert_string_equal(e.text, "job record '01j0000000000000000000000a' has no "
                                "'state' field");
    /* a record without a task (dead-lettered as corrupt) still reads */
    assert_int_equal(decode(&job, full, NFULL, "task", NULL, NULL, &e), 0);
    assert_string_equal(job->task, "");
    tq_job_free(job);
    assert_int_equal(decode(&job, full, NFULL, "id", NULL, NULL, &e), TQ_EPROTO);
    assert_string_equal(e.text, "job record has no 'id' field");
    assert_int_equal(tq_job_from_pairs(&job, NULL, NULL, NULL, NULL, 0, &e), TQ_EPROTO);
    assert_null(job);
}

static void test_job_from_pairs_refuses_unknown_state(void **state)
{
    tq_job *job;
    tq_perr e;

    assert_int_equal(decode(&job, full, NFULL, NULL, "state", "done", &e), TQ_EPROTO);
    assert_null(job);
    assert_string_equal(e.text, "job record: field 'state' is 'done', not a state");
    assert_int_equal(decode(&job, full, NFULL, NULL, "state", "", &e), TQ_EPROTO);
    assert_int_equal(decode(&job, full, NFULL, NULL, "state", "unknown", &e),
                     TQ_EPROTO);
}

/* The value each numeric field of a tq_job takes when its text does not
 * parse: the option's default, else 0 (not set). */
static const struct {
    const char *name;
    double def;
} numeric[] = {
    {"attempt", 0},       {"max_retries", TQ_DEFAULT_RETRIES},
    {"max_lost", TQ_DEFAULT_MAX_LOST}, {"priority", 0},
    {"timeout", 0},       {"backoff", TQ_DEFAULT_BACKOFF_MS},
    {"result_ttl", (double)TQ_DEFAULT_RESULT_TTL_MS},
    {"created_at", 0},    {"started_at", 0}, {"finished_at", 0},
};

static double numeric_value(const tq_job *j, const char *name)
{
    if (!strcmp(name, "attempt")) return j->attempt;
    if (!strcmp(name, "max_retries")) return j->max_retries;
    if (!strcmp(name, "max_lost")) return j->max_lost;
    if (!strcmp(name, "priority")) return j->priority;
    if (!strcmp(name, "timeout")) return (double)j->timeout_ms;
    if (!strcmp(name, "backoff")) return (double)j->backoff_ms;
    if (!strcmp(name, "result_ttl")) return (double)j->result_ttl_ms;
    if (!strcmp(name, "created_at")) return j->created_at;
    if (!strcmp(name, "started_at")) return j->started_at;
    if (!strcmp(name, "finished_at")) return j->finished_at;
    fail_msg("no numeric field %s", name);
    return 0;
}

/* A number that does not parse never fails the read: a command that can
 * show the record must (tq status of a record with result_ttl 'x' exited 6). */
static void test_job_from_pairs_reads_bad_numbers_as_defaults(void **state)
{
    static const char *const junk[] = {
        "abc", "", "3.5x", "1 ", " 3", "+3", "0x10", "nan", "inf", "infinity",
        "-", "1.5.6", "0x1p3", "1e400", "99999999999999999999999",
        "-99999999999999999999999", "1e19", "\xff\x01",
    };
    size_t i, k;

    for (i = 0; i < sizeof numeric / sizeof numeric[0]; i++) {
        for (k = 0; k < sizeof junk / sizeof junk[0]; k++) {
            const char *name = numeric[i].name;
            int is_time = strstr(name, "_at") != NULL;
            tq_job *job = NULL;
            char want[64];
            tq_perr e;

            /* times are reals: a huge one is a time (shown, not junk) */
            if (is_time && (!strcmp(junk[k], "1e19") || strlen(junk[k]) > 20))
                continue;
            if (decode(&job, full, NFULL, NULL, name, junk[k], &e) != 0)
                fail_msg("%s = '%s' failed the read: %s", name, junk[k], e.text);
            assert_non_null(job);
            if (numeric_value(job, name) != numeric[i].def)
                fail_msg("%s = '%s' read as %g, not the default %g", name, junk[k],
                         numeric_value(job, name), numeric[i].def);
            assert_one_line(e.text);
            snprintf(want, sizeof want, "field '%s' is '", name);
            assert_contains(e.text, want);
            assert_contains(e.text, "not a number (read as its default)");
            assert_string_equal(job->task, "send"); /* the rest is read */
            tq_job_free(job);
        }
    }
}

/* Negative and huge numbers that do parse are shown as they are. */
static void test_job_from_pairs_keeps_negative_and_huge_numbers(void **state)
{
    tq_job *job;
    tq_perr e;
    size_t i;

    for (i = 0; i < sizeof numeric / sizeof numeric[0]; i++) {
        assert_int_equal(decode(&job, full, NFULL, NULL, numeric[i].name, "-5", &e), 0);
        assert_true(numeric_value(job, numeric[i].name) == -5);
        assert_string_equal(e.text, "");
        tq_job_free(job);
    }
    assert_int_equal(decode(&job, full, NFULL, NULL, "attempt", "2147483647", &e), 0);
    assert_int_equal(job->attempt, 2147483647);
    tq_job_free(job);
    assert_int_equal(decode(&job, full, NFULL, NULL, "attempt", "2147483648", &e), 0);
    assert_int_equal(job->attempt, 0); /* past an int: the default */
    tq_job_free(job);
    assert_int_equal(decode(&job, full, NFULL, NULL, "result_ttl",
                            "9223372036854775807", &e), 0);
    assert_true(job->result_ttl_ms == INT64_MAX);
    tq_job_free(job);
    assert_int_equal(decode(&job, full, NFULL, NULL, "created_at", "1e300", &e), 0);
    assert_true(job->created_at == 1e300);
    tq_job_free(job);
}

static void test_job_from_pairs_message_escapes_the_value(void **state)
{
    tq_job *job;
    tq_perr e;

    assert_int_equal(decode(&job, full, NFULL, NULL, "attempt", "1\n\x1b[2J", &e), 0);
    assert_string_equal(e.text, "job record: field 'attempt' is '1\\x0a\\x1b[2J', "
                                "not a number (read as its default)");
    tq_job_free(job);
}

/* What Lua's tostring() and other writers make of whole numbers. */
static void test_job_from_pairs_accepts_integral_reals(void **state)
{
    tq_job *job;
    tq_perr e;

    assert_int_equal(decode(&job, full, NFULL, NULL, "timeout", "1e+15", &e), 0);
    assert_true(job->timeout_ms == INT64_C(1000000000000000));
    tq_job_free(job);
    assert_int_equal(decode(&job, full, NFULL, NULL, "attempt", "3.0", &e), 0);
    assert_int_equal(job->attempt, 3);
    tq_job_free(job);
    assert_int_equal(decode(&job, full, NFULL, NULL, "priority", "-1", &e), 0);
    assert_int_equal(job->priority, -1);
    tq_job_free(job);
}

static void test_job_from_pairs_last_duplicate_wins(void **state)
{
    static const char *const names[] = {"id", "queue", "task", "state", "task",
                                        "state", "error", "error"};
    static const char *const values[] = {"j1", "q", "t1", "pending", "t2",
                                         "active", "e1", "e2"};
    tq_job *job;
    tq_perr e;

    assert_int_equal(tq_job_from_pairs(&job, NULL, NULL, names, values, 8, &e), 0);
    assert_string_equal(job->task, "t2");
    assert_string_equal(job->error, "e2");
    assert_int_equal(job->state, TQ_STATE_ACTIVE);
    tq_job_free(job);
}

static void test_job_from_pairs_skips_null_entries(void **state)
{
    static const char *const names[] = {"id", NULL, "queue", "task", "state", "error"};
    static const char *const values[] = {"j1", "x", "q", "t", "pending", NULL};
    tq_job *job;
    tq_perr e;

    assert_int_equal(tq_job_from_pairs(&job, NULL, NULL, names, values, 6, &e), 0);
    assert_null(job->error);
    tq_job_free(job);
}

static void test_job_free_null_does_nothing(void **state)
{
    tq_job_free(NULL);
}

/* ---------------------------------------------------------------- encoding */

static void test_job_to_json_has_every_set_field(void **state)
{
    json_t *o = tq_job_to_json(*state);
    char *text;

    assert_non_null(o);
    text = json_dumps(o, JSON_COMPACT);
    assert_string_equal(text,
        "{\"id\":\"01j0000000000000000000000a\",\"queue\":\"emails\","
        "\"task\":\"send\",\"args\":{\"to\":\"a@b.c\",\"n\":0.10000000000000001},"
        "\"state\":\"succeeded\",\"attempt\":2,\"max_retries\":3,\"max_lost\":4,"
        "\"priority\":9,\"timeout\":1.5,\"backoff\":1.0,\"result_ttl\":86400.0,"
        "\"created_at\":1700000000.123456,\"started_at\":1700000001.000001,"
        "\"finished_at\":1700000002.5,\"worker\":\"host-1:123\",\"result\":[1,2],"
        "\"error\":\"boom\",\"group\":\"g1\",\"parent\":\"p1\",\"next\":\"n1\","
        "\"semaphore\":\"smtp\",\"unique\":\"u1\"}");
    free(text);
    json_decref(o);
}

static void test_job_to_json_omits_what_is_not_set(void **state)
{
    static const char *const names[] = {"id", "queue", "task", "state"};
    static const char *const values[] = {"j1", "q", "t", "pending"};
    tq_job *job;
    json_t *o;
    tq_perr e;

    assert_int_equal(tq_job_from_pairs(&job, NULL, NULL, names, values, 4, &e), 0);
    o = tq_job_to_json(job);
    assert_non_null(o);
    assert_true(json_is_null(json_object_get(o, "args")));
    assert_null(json_object_get(o, "created_at"));
    assert_null(json_object_get(o, "started_at"));
    assert_null(json_object_get(o, "finished_at"));
    assert_null(json_object_get(o, "result"));
    assert_null(json_object_get(o, "error"));
    assert_null(json_object_get(o, "worker"));
    assert_null(json_object_get(o, "unique"));
    assert_true(json_real_value(json_object_get(o, "timeout")) == 0);
    assert_int_equal(json_object_size(o), 12);
    json_decref(o);
    tq_job_free(job);
}

static void test_job_to_json_embeds_bad_json_as_strings(void **state)
{
    tq_job job = {0};
    json_t *o;

    job.id = "j1", job.queue = "q", job.task = "t";
    job.state = TQ_STATE_FAILED;
    job.args = "{not json";
    job.result = "";
    job.error = "exit 1: \xff\xfe bad bytes \xe2\x82";
    o = tq_job_to_json(&job);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "args")), "{not json");
    assert_string_equal(json_string_value(json_object_get(o, "result")), "");
    assert_string_equal(json_string_value(json_object_get(o, "error")),
                        "exit 1: \xef\xbf\xbd\xef\xbf\xbd bad bytes "
                        "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "failed");
    json_decref(o);
}

static void test_job_to_json_embeds_args_of_any_type(void **state)
{
    tq_job job = {0};
    json_t *o;

    job.id = "j1", job.queue = "q", job.task = "t";
    job.args = "\"text\"";
    job.result = "42";
    o = tq_job_to_json(&job);
    assert_string_equal(json_string_value(json_object_get(o, "args")), "text");
    assert_int_equal(json_integer_value(json_object_get(o, "result")), 42);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "unknown");
    json_decref(o);
}

static void test_job_to_json_keeps_the_shape_of_huge_integers(void **state)
{
    tq_job job = {0};
    json_t *o, *args;

    job.id = "j1", job.queue = "q", job.task = "t";
    job.args = "{\"id\":18446744073709551615,\"n\":[1]}";
    o = tq_job_to_json(&job);
    args = json_object_get(o, "args");
    assert_true(json_is_object(args));
    assert_true(json_real_value(json_object_get(args, "id")) == 18446744073709551615.0);
    json_decref(o);
    assert_null(tq_job_to_json(NULL));
}

static int alloc_budget; /* allocations left before jansson's malloc fails */

static void *failing_malloc(size_t size)
{
    return alloc_budget-- > 0 ? malloc(size) : NULL;
}

/* Every allocation jansson makes may fail: NULL back, nothing leaked. */
static void test_job_to_json_out_of_memory(void **state)
{
    int budget;
    json_t *o = NULL;

    json_set_alloc_funcs(failing_malloc, free);
    for (budget = 0; budget < 1000 && !o; budget++) {
        alloc_budget = budget;
        o = tq_job_to_json(*state);
    }
    json_set_alloc_funcs(malloc, free);
    assert_non_null(o);
    assert_true(budget > 10);
    assert_int_equal(json_object_size(o), 23);
    json_decref(o);
}

/* ---------------------------------------------------------------- times */

static void test_time_format_has_microseconds(void **state)
{
    char buf[32];

    tq_time_format(1700000000.123456, buf);
    assert_string_equal(buf, "1700000000.123456");
    tq_time_format(0, buf);
    assert_string_equal(buf, "0.000000");
    tq_time_format(1.5, buf);
    assert_string_equal(buf, "1.500000");
}

static void test_time_format_of_nonsense_is_zero(void **state)
{
    char buf[32];

    tq_time_format(NAN, buf);
    assert_string_equal(buf, "0.000000");
    tq_time_format(INFINITY, buf);
    assert_string_equal(buf, "0.000000");
    tq_time_format(-1e300, buf);
    assert_string_equal(buf, "0.000000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_job_from_pairs_reads_every_field,
                                        setup_full, teardown_job),
        cmocka_unit_test(test_job_from_pairs_leaves_absent_fields_unset),
        cmocka_unit_test(test_job_from_pairs_fills_key_parts_and_defaults),
        cmocka_unit_test(test_job_from_pairs_prefers_stored_id_and_options),
        cmocka_unit_test(test_job_from_pairs_refuses_missing_required_fields),
        cmocka_unit_test(test_job_from_pairs_names_the_record_it_refuses),
        cmocka_unit_test(test_job_from_pairs_refuses_unknown_state),
        cmocka_unit_test(test_job_from_pairs_reads_bad_numbers_as_defaults),
        cmocka_unit_test(test_job_from_pairs_keeps_negative_and_huge_numbers),
        cmocka_unit_test(test_job_from_pairs_message_escapes_the_value),
        cmocka_unit_test(test_job_from_pairs_accepts_integral_reals),
        cmocka_unit_test(test_job_from_pairs_last_duplicate_wins),
        cmocka_unit_test(test_job_from_pairs_skips_null_entries),
        cmocka_unit_test(test_job_free_null_does_nothing),
        cmocka_unit_test_setup_teardown(test_job_to_json_has_every_set_field,
                                        setup_full, teardown_job),
        cmocka_unit_test(test_job_to_json_omits_what_is_not_set),
        cmocka_unit_test(test_job_to_json_embeds_bad_json_as_strings),
        cmocka_unit_test(test_job_to_json_embeds_args_of_any_type),
        cmocka_unit_test(test_job_to_json_keeps_the_shape_of_huge_integers),
        cmocka_unit_test_setup_teardown(test_job_to_json_out_of_memory,
                                        setup_full, teardown_job),
        cmocka_unit_test(test_time_format_has_microseconds),
        cmocka_unit_test(test_time_format_of_nonsense_is_zero),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
