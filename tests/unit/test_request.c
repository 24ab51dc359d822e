/* test_request.c -- client/request.c: the script calls a submit, a locate and
 * a cancel are made of, their KEYS and ARGV, and how their replies are read.
 *
 * Pure: commands are built into a tq_cmd and read back word by word, replies
 * are made by hand. What the scripts do with the words is the integration
 * tests' business; here, that each call carries the words lib.lua expects,
 * in its order, and that a submit that failed partway leaves exactly the ids
 * of the jobs that exist.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

#include "client/client_private.h"

/* ---------------------------------------------------------------- fixture */

typedef struct fx {
    tq_nskeys nk;
    tq_qkeys *k;
    tq_submit_opts o;
    const char **args;          /* n normalized args: "[i]" */
    char (*ids)[TQ_ID_SIZE];    /* "id-i" */
    char (*argbuf)[24];
    size_t n;
    tq_submit_req req;
    tq_cmd cmd;
    int have_cmd;
} fx;

static fx *fx_new(size_t n)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(tq_nskeys_init(&f->nk, "tq"), 0);
    assert_non_null(f->k = tq_qkeys_new("tq", "q"));
    tq_submit_opts_init(&f->o);
    f->o.queue = "q";
    f->n = n;
    f->args = calloc(n + 1, sizeof *f->args);
    f->ids = calloc(n + 1, sizeof *f->ids);
    f->argbuf = calloc(n + 1, sizeof *f->argbuf);
    assert_true(f->args && f->ids && f->argbuf);
    for (size_t i = 0; i < n; i++) {
        snprintf(f->argbuf[i], sizeof f->argbuf[i], "[%zu]", i);
        snprintf(f->ids[i], sizeof f->ids[i], "id-%zu", i);
        f->args[i] = f->argbuf[i];
    }
    return f;
}

static int setup(void **state)
{
    *state = NULL;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (!f)
        return 0;
    if (f->have_cmd)
        tq_cmd_clear(&f->cmd);
    free(f->req.answered);
    tq_qkeys_free(f->k);
    tq_nskeys_clear(&f->nk);
    free(f->args);
    free(f->ids);
    free(f->argbuf);
    free(f);
    return 0;
}

static void req_init(fx *f)
{
    tq_perr e;
    assert_int_equal(tq_submit_req_init(&f->req, "t", f->args, f->n, &f->o, f->k,
                                        &f->nk, f->ids, &e), 0);
}

/* Builds call i into f->cmd (the previous one cleared). */
static void build(fx *f, size_t i)
{
    if (f->have_cmd)
        tq_cmd_clear(&f->cmd);
    tq_cmd_init(&f->cmd, tq_submit_req_script(&f->req));
    f->have_cmd = 1;
    assert_int_equal(tq_submit_req_build(&f->req, i, &f->cmd), 0);
    assert_false(f->cmd.oom);
}

/* The words of a built command: its keys, then its args (after EVALSHA sha
 * nkeys). */
static const char *key(const tq_cmd *c, int i)
{
    assert_true(i < c->nkeys);
    return c->argv[3 + i];
}

static int nargs(const tq_cmd *c)
{
    return c->argc - 3 - c->nkeys;
}

/* Arg i as a string (args are not NUL-terminated in general). */
static const char *arg(const tq_cmd *c, int i)
{
    static char buf[8][256];
    static int next;
    char *b = buf[next++ % 8];
    assert_true(i < nargs(c));
    size_t len = c->argvlen[3 + c->nkeys + i];
    assert_true(len < sizeof buf[0]);
    memcpy(b, c->argv[3 + c->nkeys + i], len);
    b[len] = '\0';
    return b;
}

static redisReply *reply_int(long long v)
{
    redisReply *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

static redisReply *reply_str(int type, const char *s)
{
    redisReply *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->type = type;
    r->str = strdup(s);
    r->len = strlen(s);
    return r;
}

/* {id, isnew}: what submit answers. */
static redisReply *reply_unique(const char *id)
{
    redisReply *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->type = REDIS_REPLY_ARRAY;
    r->elements = 2;
    r->element = calloc(2, sizeof *r->element);
    assert_non_null(r->element);
    r->element[0] = reply_str(REDIS_REPLY_STRING, id);
    r->element[1] = reply_int(0);
    return r;
}

/* The eight options of lib.lua's new_record, from arg `at` on. */
static void assert_opts(const tq_cmd *c, int at, const tq_submit_opts *o)
{
    char buf[32];
    assert_string_equal(arg(c, at), o->queue);
    snprintf(buf, sizeof buf, "%d", o->priority);
    assert_string_equal(arg(c, at + 1), buf);
    snprintf(buf, sizeof buf, "%d", o->max_retries);
    assert_string_equal(arg(c, at + 2), buf);
    snprintf(buf, sizeof buf, "%lld", (long long)o->timeout_ms);
    assert_string_equal(arg(c, at + 3), buf);
    snprintf(buf, sizeof buf, "%lld", (long long)o->backoff_ms);
    assert_string_equal(arg(c, at + 4), buf);
    snprintf(buf, sizeof buf, "%lld", (long long)o->result_ttl_ms);
    assert_string_equal(arg(c, at + 5), buf);
    snprintf(buf, sizeof buf, "%d", o->max_lost);
    assert_string_equal(arg(c, at + 6), buf);
    assert_string_equal(arg(c, at + 7), o->semaphore ? o->semaphore : "");
    assert_string_equal(arg(c, at + 8), o->rate_limit ? o->rate_limit : "");
}

/* ---------------------------------------------------------------- submitn */

static void test_request_one_job_is_one_submitn_call(void **state)
{
    fx *f = *state = fx_new(1);
    f->o.priority = 7;
    f->o.semaphore = "gpu";
    f->o.rate_limit = "api:cust-1";
    req_init(f);
    assert_int_equal(tq_submit_req_calls(&f->req), 1);
    assert_int_equal(tq_submit_req_script(&f->req), TQ_SCRIPT_SUBMITN);
    build(f, 0);
    assert_int_equal(f->cmd.script, TQ_SCRIPT_SUBMITN);
    /* KEYS pending sched wake; ARGV PJ due_ms gid opts task n (id args)*n
     * fair_key */
    assert_int_equal(f->cmd.nkeys, 3);
    assert_string_equal(key(&f->cmd, 0), f->k->pending[7]);
    assert_string_equal(key(&f->cmd, 1), f->k->sched);
    assert_string_equal(key(&f->cmd, 2), f->k->wake);
    assert_int_equal(nargs(&f->cmd), 3 + 9 + 2 + 2 + 1);
    assert_string_equal(arg(&f->cmd, 0), f->k->job_prefix);
    assert_string_equal(arg(&f->cmd, 1), "-1");
    assert_string_equal(arg(&f->cmd, 2), "");
    assert_opts(&f->cmd, 3, &f->o);
    assert_string_equal(arg(&f->cmd, 12), "t");
    assert_string_equal(arg(&f->cmd, 13), "1");
    assert_string_equal(arg(&f->cmd, 14), "id-0");
    assert_string_equal(arg(&f->cmd, 15), "[0]");
    assert_string_equal(arg(&f->cmd, 16), "");
}

static void test_request_fair_key_is_the_last_arg(void **state)
{
    fx *f = *state = fx_new(2);
    f->o.fair_key = "acme";
    req_init(f);
    build(f, 0);
    assert_int_equal(nargs(&f->cmd), 14 + 2 * 2 + 1);
    assert_string_equal(arg(&f->cmd, 18), "acme");
    f->o.unique = "u";
    req_init(f);
    build(f, 1);
    assert_int_equal(f->cmd.script, TQ_SCRIPT_SUBMIT);
    assert_int_equal(nargs(&f->cmd), 15);
    assert_string_equal(arg(&f->cmd, 14), "acme");
}

static void test_request_batches_at_500(void **state)
{
    fx *f = *state = fx_new(2 * TQ_SUBMIT_BATCH + 1);
    req_init(f);
    assert_int_equal(tq_submit_req_calls(&f->req), 3);
    build(f, 1);
    assert_string_equal(arg(&f->cmd, 13), "500");
    assert_string_equal(arg(&f->cmd, 14), "id-500");
    assert_string_equal(arg(&f->cmd, 15), "[500]");
    assert_int_equal(nargs(&f->cmd), 14 + 2 * TQ_SUBMIT_BATCH + 1);
    build(f, 2);
    assert_string_equal(arg(&f->cmd, 13), "1");
    assert_string_equal(arg(&f->cmd, 14), "id-1000");
    assert_int_equal(nargs(&f->cmd), 14 + 2 + 1);
}

static void test_request_exact_batch_is_one_call(void **state)
{
    fx *f = *state = fx_new(TQ_SUBMIT_BATCH);
    req_init(f);
    assert_int_equal(tq_submit_req_calls(&f->req), 1);
    teardown(state);
    f = *state = fx_new(0);
    req_init(f);
    assert_int_equal(tq_submit_req_calls(&f->req), 0);
}

static void test_request_due_times(void **state)
{
    tq_submit_opts o;
    tq_cmd c;
    tq_submit_opts_init(&o);
    assert_int_equal(tq_due_ms(&o), -1);
    o.delay_ms = 1500;
    assert_int_equal(tq_due_ms(&o), -2 - 1500);
    tq_cmd_init(&c, TQ_SCRIPT_SUBMITN);
    tq_cmd_due(&c, tq_due_ms(&o));
    tq_cmd_due(&c, -1);
    tq_cmd_due(&c, 1700000000123LL);
    assert_string_equal(arg(&c, 0), "+1500"); /* a delay runs on Redis's clock */
    assert_string_equal(arg(&c, 1), "-1");
    assert_string_equal(arg(&c, 2), "1700000000123");
    tq_cmd_clear(&c);
    o.at = 1700000000.5; /* --at wins over a delay */
    assert_int_equal(tq_due_ms(&o), 1700000000500LL);
}

static void test_request_submitn_reply_is_an_integer(void **state)
{
    fx *f = *state = fx_new(2);
    redisReply *ok = reply_int(2), *bad = reply_str(REDIS_REPLY_STRING, "x");
    tq_perr e;
    req_init(f);
    assert_int_equal(tq_submit_req_reply(&f->req, 0, ok, &e), 0);
    assert_int_equal(tq_submit_req_reply(&f->req, 0, bad, &e), TQ_EPROTO);
    assert_one_line(e.text);
    freeReplyObject(ok);
    freeReplyObject(bad);
}

/* ---------------------------------------------------------------- --unique */

static void test_request_unique_is_one_call_per_job(void **state)
{
    fx *f = *state = fx_new(3);
    char uk[TQ_KEY_SIZE], jk[TQ_KEY_SIZE];
    f->o.unique = "k1";
    req_init(f);
    assert_int_equal(tq_submit_req_calls(&f->req), 3);
    assert_int_equal(tq_submit_req_script(&f->req), TQ_SCRIPT_SUBMIT);
    build(f, 2);
    assert_int_equal(f->cmd.script, TQ_SCRIPT_SUBMIT);
    /* KEYS job pending sched wake unique; ARGV id queue task args prio
     * retries timeout backoff ttl max_lost due semaphore unique rate_limit
     * fair_key */
    assert_non_null(tq_key_join(jk, sizeof jk, f->k->job_prefix, "id-2"));
    assert_non_null(tq_key_join(uk, sizeof uk, f->k->unique_prefix, "k1"));
    assert_int_equal(f->cmd.nkeys, 5);
    assert_string_equal(key(&f->cmd, 0), jk);
    assert_string_equal(key(&f->cmd, 1), f->k->pending[0]);
    assert_string_equal(key(&f->cmd, 4), uk);
    assert_int_equal(nargs(&f->cmd), 15);
    assert_string_equal(arg(&f->cmd, 0), "id-2");
    assert_string_equal(arg(&f->cmd, 1), "q");
    assert_string_equal(arg(&f->cmd, 2), "t");
    assert_string_equal(arg(&f->cmd, 3), "[2]");
    assert_string_equal(arg(&f->cmd, 10), "-1");
    assert_string_equal(arg(&f->cmd, 12), "k1");
    assert_string_equal(arg(&f->cmd, 13), "");
    assert_string_equal(arg(&f->cmd, 14), "");
}

static void test_request_unique_reply_names_the_live_job(void **state)
{
    fx *f = *state = fx_new(2);
    redisReply *r = reply_unique("other-job"), *bad = reply_int(1);
    tq_perr e;
    f->o.unique = "k1";
    req_init(f);
    assert_int_equal(tq_submit_req_reply(&f->req, 1, r, &e), 0);
    assert_string_equal(f->ids[1], "other-job");
    assert_string_equal(f->ids[0], "id-0");
    assert_int_equal(tq_submit_req_reply(&f->req, 0, bad, &e), TQ_EPROTO);
    assert_one_line(e.text);
    freeReplyObject(r);
    freeReplyObject(bad);
}

static void test_request_unique_key_too_long(void **state)
{
    fx *f = *state = fx_new(1);
    char big[TQ_KEY_SIZE + 8];
    tq_perr e;
    memset(big, 'u', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    f->o.unique = big;
    assert_int_equal(tq_submit_req_init(&f->req, "t", f->args, 1, &f->o, f->k, &f->nk,
                                        f->ids, &e), TQ_EINVAL);
    assert_contains(e.text, "--unique");
}

/* ---------------------------------------------------------------- groups */

static void test_request_group_is_gnew_batches_gseal(void **state)
{
    fx *f = *state = fx_new(TQ_SUBMIT_BATCH + 100);
    char gk[TQ_KEY_SIZE], gmk[TQ_KEY_SIZE];
    tq_perr e;
    req_init(f);
    assert_int_equal(tq_submit_req_group(&f->req, "gid", "sum", "fan", &e), 0);
    assert_int_equal(tq_submit_req_calls(&f->req), 4);
    assert_int_equal(tq_submit_req_script(&f->req), TQ_SCRIPT_GNEW);
    assert_non_null(tq_key_join(gk, sizeof gk, f->k->group_prefix, "gid"));
    assert_non_null(tq_key_join(gmk, sizeof gmk, f->k->members_prefix, "gid"));

    /* gnew: KEYS group; ARGV PJ gid opts fanin_id fanin_task fair_key */
    build(f, 0);
    assert_int_equal(f->cmd.script, TQ_SCRIPT_GNEW);
    assert_int_equal(f->cmd.nkeys, 1);
    assert_string_equal(key(&f->cmd, 0), gk);
    assert_int_equal(nargs(&f->cmd), 2 + 9 + 2 + 1);
    assert_string_equal(arg(&f->cmd, 0), f->k->job_prefix);
    assert_string_equal(arg(&f->cmd, 1), "gid");
    assert_opts(&f->cmd, 2, &f->o);
    assert_string_equal(arg(&f->cmd, 11), "fan");
    assert_string_equal(arg(&f->cmd, 12), "sum");

    /* members: submitn with the group's two keys and its id */
    build(f, 1);
    assert_int_equal(f->cmd.script, TQ_SCRIPT_SUBMITN);
    assert_int_equal(f->cmd.nkeys, 5);
    assert_string_equal(key(&f->cmd, 3), gk);
    assert_string_equal(key(&f->cmd, 4), gmk);
    assert_string_equal(arg(&f->cmd, 2), "gid");
    assert_string_equal(arg(&f->cmd, 13), "500");
    assert_string_equal(arg(&f->cmd, 14), "id-0");
    build(f, 2);
    assert_string_equal(arg(&f->cmd, 13), "100");
    assert_string_equal(arg(&f->cmd, 14), "id-500");

    /* gseal: KEYS group; ARGV PJ PD gid */
    build(f, 3);
    assert_int_equal(f->cmd.script, TQ_SCRIPT_GSEAL);
    assert_int_equal(f->cmd.nkeys, 1);
    assert_string_equal(key(&f->cmd, 0), gk);
    assert_int_equal(nargs(&f->cmd), 3);
    assert_string_equal(arg(&f->cmd, 1), f->nk.done_prefix);
    assert_string_equal(arg(&f->cmd, 2), "gid");
}

static void test_request_group_without_fanin(void **state)
{
    fx *f = *state = fx_new(0);
    tq_perr e;
    req_init(f);
    assert_int_equal(tq_submit_req_group(&f->req, "gid", NULL, "ignored", &e), 0);
    assert_int_equal(tq_submit_req_calls(&f->req), 2); /* an empty group: gnew, gseal */
    build(f, 0);
    assert_string_equal(arg(&f->cmd, 11), "");
    assert_string_equal(arg(&f->cmd, 12), "");
    build(f, 1);
    assert_int_equal(f->cmd.script, TQ_SCRIPT_GSEAL);
}

/* ---------------------------------------------------------------- settling */

static void test_request_settle_keeps_answered_calls(void **state)
{
    fx *f = *state = fx_new(2 * TQ_SUBMIT_BATCH + 200);
    redisReply *ok = reply_int(1);
    tq_perr e;
    req_init(f);
    assert_non_null(f->req.answered = calloc(3, 1));
    assert_int_equal(tq_submit_req_reply(&f->req, 0, ok, &e), 0);
    assert_int_equal(tq_submit_req_reply(&f->req, 2, ok, &e), 0); /* late: call 1 failed */
    assert_int_equal(tq_submit_req_settle(&f->req), TQ_SUBMIT_BATCH + 200);
    assert_string_equal(f->ids[499], "id-499");
    assert_string_equal(f->ids[500], "");
    assert_string_equal(f->ids[999], "");
    assert_string_equal(f->ids[1000], "id-1000");
    freeReplyObject(ok);
}

static void test_request_settle_without_answers_blanks_all(void **state)
{
    fx *f = *state = fx_new(3);
    req_init(f);
    assert_null(f->req.answered);
    assert_int_equal(tq_submit_req_settle(&f->req), 0);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(f->ids[i], "");
}

static void test_request_settle_group_after_gnew(void **state)
{
    fx *f = *state = fx_new(TQ_SUBMIT_BATCH + 1);
    tq_perr e;
    req_init(f);
    assert_int_equal(tq_submit_req_group(&f->req, "gid", NULL, NULL, &e), 0);
    assert_non_null(f->req.answered = calloc(4, 1));
    f->req.answered[0] = 1; /* gnew */
    f->req.answered[1] = 1; /* the first 500 */
    assert_int_equal(tq_submit_req_settle(&f->req), TQ_SUBMIT_BATCH);
    assert_string_equal(f->ids[0], "id-0");
    assert_string_equal(f->ids[500], "");
}

/* ---------------------------------------------------------------- locate, cancel */

static void test_request_locate_cmd(void **state)
{
    fx *f = *state = fx_new(0);
    const char *ids[] = {"a", "b"};
    f->have_cmd = 1;
    tq_cmd_init(&f->cmd, TQ_SCRIPT_LOCATE);
    tq_locate_cmd(&f->cmd, &f->nk, TQ_LOCATE_GROUP, ids, 2);
    assert_int_equal(f->cmd.script, TQ_SCRIPT_LOCATE);
    assert_int_equal(f->cmd.nkeys, 1);
    assert_string_equal(key(&f->cmd, 0), f->nk.queues);
    assert_int_equal(nargs(&f->cmd), 4);
    assert_string_equal(arg(&f->cmd, 0), "tq");
    assert_string_equal(arg(&f->cmd, 1), "g");
    assert_string_equal(arg(&f->cmd, 3), "b");
}

static void test_request_cancel_build_and_reply(void **state)
{
    fx *f = *state = fx_new(0);
    char jk[TQ_KEY_SIZE], big[TQ_KEY_SIZE + 8];
    redisReply *missing = reply_str(REDIS_REPLY_STRING, "missing");
    redisReply *active = reply_str(REDIS_REPLY_STRING, "active");
    redisReply *bad = reply_int(3);
    tq_state before = TQ_STATE_UNKNOWN;
    tq_perr e;

    f->have_cmd = 1;
    tq_cmd_init(&f->cmd, TQ_SCRIPT_CANCEL);
    assert_int_equal(tq_cancel_req_build(&f->cmd, f->k, &f->nk, "j1", jk, &e), 0);
    assert_int_equal(f->cmd.nkeys, 3);
    assert_string_equal(key(&f->cmd, 0), jk);
    assert_string_equal(key(&f->cmd, 1), f->k->sched);
    assert_string_equal(key(&f->cmd, 2), f->k->stats);
    assert_string_equal(arg(&f->cmd, 0), f->nk.done_prefix);
    assert_string_equal(arg(&f->cmd, 1), f->nk.cancel_chan);
    assert_string_equal(arg(&f->cmd, 3), "j1");

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    /* ids are checked (at most 40 characters) before; a key that does not
     * fit is refused all the same */
    assert_int_equal(tq_cancel_req_build(&f->cmd, f->k, &f->nk, big, jk, &e), TQ_EINVAL);
    assert_contains(e.text, "job id");

    assert_int_equal(tq_cancel_req_reply(missing, "j1", &before, &e), TQ_ENOTFOUND);
    assert_contains(e.text, "j1");
    assert_int_equal(tq_cancel_req_reply(active, "j1", &before, &e), 0);
    assert_int_equal(before, TQ_STATE_ACTIVE);
    assert_int_equal(tq_cancel_req_reply(bad, "j1", &before, &e), TQ_EPROTO);
    freeReplyObject(missing);
    freeReplyObject(active);
    freeReplyObject(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_one_job_is_one_submitn_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_batches_at_500, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_fair_key_is_the_last_arg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_exact_batch_is_one_call, setup, teardown),
        cmocka_unit_test(test_request_due_times),
        cmocka_unit_test_setup_teardown(test_request_submitn_reply_is_an_integer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_unique_is_one_call_per_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_unique_reply_names_the_live_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_unique_key_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_group_is_gnew_batches_gseal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_group_without_fanin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_settle_keeps_answered_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_settle_without_answers_blanks_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_settle_group_after_gnew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_locate_cmd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_cancel_build_and_reply, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
