/* test_fuzzfound.c -- the faults `make fuzz` found (fuzz/README.md), one
 * test each, so they stay fixed without clang. Each input is also kept in
 * the target's seed corpus (fuzz/corpus/TARGET/regress-*).
 */
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"

#include "proto/proto.h"
#include "broker/broker.h"
#include "worker/worker_private.h"
#include "client/client_private.h"

/* fuzz_args: jansson accepts a NUL right after a number ("[0\0, 2.5]"),
 * and the record stores args as a C string: the job was stored as "[0",
 * which no worker can read (it went dead as "args are not JSON"). */
static void test_args_with_a_nul_byte_refused(void **state)
{
    static const char text[] = "{\"list\": [0\0, 2.5]}";
    char *out = NULL;
    tq_perr e;

    assert_int_equal(tq_args_normalize(text, sizeof text - 1, 1 << 20, &out, &e),
                     TQ_EINVAL);
    assert_null(out);
    assert_one_line(e.text);
    assert_contains(e.text, "NUL");
}

/* fuzz_scalar: a refused URL was quoted whole, password included, into a
 * message that reaches the terminal and the worker's log. */
static void test_url_refused_never_quotes_the_password(void **state)
{
    static const char *const bad[] = {
        "redis://:p4ssword@/",             /* no host */
        "redis://user:p4ssword@host:99999", /* bad port */
        "redis://user:p4ssword@host/x",    /* bad db */
        "rediz://:p4ssword@host",          /* bad scheme */
    };
    tq_redis_addr a;
    tq_perr e;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(tq_redis_url_parse(bad[i], &a, &e), TQ_EINVAL);
        assert_one_line(e.text);
        if (strstr(e.text, "p4ssword"))
            fail_msg("'%s' gave '%s'", bad[i], e.text);
        assert_contains(e.text, "***");
    }
}

/* fuzz_scalar: a control character of a refused URL went raw into the
 * message (a terminal escape, a second log line). */
static void test_url_refused_is_one_line(void **state)
{
    tq_redis_addr a;
    tq_perr e;

    assert_int_equal(tq_redis_url_parse("redis://h\n\x1b[2J:99999", &a, &e), TQ_EINVAL);
    assert_one_line(e.text);
    assert_int_equal(tq_redis_url_parse("unix:///s?db=\n1", &a, &e), TQ_EINVAL);
    assert_one_line(e.text);
}

static char last_line[4096];

static void keep_line(tq_log_level lvl, const char *msg,
                      const char *const *fields, void *ud)
{
    snprintf(last_line, sizeof last_line, "%s", msg);
}

/* fuzz_worker: an error reply's text ("-ERR a\r\nforged line") went raw
 * into the worker's log through wk_log: a second, forged log line, or
 * terminal escapes. */
static void test_worker_log_line_is_one_line(void **state)
{
    tq_worker_opts o;
    tq_worker *w;
    char err[256];

    tq_worker_opts_init(&o);
    o.log = keep_line;
    w = tq_worker_new(&o, err, sizeof err);
    assert_non_null(w);
    wk_log(w, TQ_LOG_WARN, NULL, "claim on queue %s failed: %s", "default",
           "ERR x\r\n2026-01-01 forged line\x1b[2J");
    assert_one_line(last_line);
    assert_contains(last_line, "forged line");
    tq_worker_free(w);
}

/* fuzz_client: an error reply ("-ERR a\r...") or a record's error text
 * went raw into the client's error string, which the CLI prints as its one
 * line on stderr. */
static void test_client_error_text_is_one_line(void **state)
{
    tq_client *c = tq_client_new("redis://127.0.0.1:1", "t");

    assert_non_null(c);
    tq_client_seterr(c, TQ_EREDIS, "Redis answered %s with an error: %s",
                     "HGETALL", "ERR x\r\nforged\x1b[2J\xff");
    assert_one_line(tq_client_errstr(c));
    assert_contains(tq_client_errstr(c), "forged");
    tq_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_with_a_nul_byte_refused),
        cmocka_unit_test(test_url_refused_never_quotes_the_password),
        cmocka_unit_test(test_url_refused_is_one_line),
        cmocka_unit_test(test_worker_log_line_is_one_line),
        cmocka_unit_test(test_client_error_text_is_one_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
