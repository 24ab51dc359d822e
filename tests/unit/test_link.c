/* test_link.c -- the link layer's state machine (broker/link.c).
 *
 * Against what a network and a Redis really do: a port that refuses, a
 * socket that accepts and never answers, and a real redis-server started
 * here on a free port in a temp dir (with a password, 16 databases, an ACL
 * user that may not load scripts), paused with SIGSTOP and resumed. Tests
 * count callbacks and assert after the loop ran (libuv's style). Every
 * redis-server started is killed by pid in the teardown.
 */
#include "unit.h"

#include "redis_srv.h"

#include <time.h>

#include <event2/event.h>

#include "broker/link.h"

/* What the hooks saw. */
typedef struct seen {
    struct event_base *base;
    tq_link *l;
    int ups, downs, refused, replies, nulls, msgs;
    char reason[256];
    char msg[64];
    int stop_on_up, stop_on_down, stop_on_msg, free_in_reply;
} seen;

static void on_up(tq_link *l, void *ud)
{
    seen *s = ud;

    s->ups++;
    if (s->stop_on_up && s->ups >= s->stop_on_up)
        event_base_loopbreak(s->base);
}

static void on_down(tq_link *l, const char *reason, int flags, void *ud)
{
    seen *s = ud;

    s->downs++;
    s->refused += !!(flags & TQ_LINK_REFUSED);
    snprintf(s->reason, sizeof s->reason, "%s", reason);
    if (s->stop_on_down && s->downs >= s->stop_on_down)
        event_base_loopbreak(s->base);
}

static void reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
    seen *s = priv;

    if (r)
        s->replies++;
    else
        s->nulls++;
    if (s->free_in_reply && s->l) {
        tq_link_free(s->l); /* from inside a callback: deferred */
        s->l = NULL;
        event_base_loopbreak(s->base);
    }
}

static void msg_cb(tq_link *l, const char *ch, const char *msg, size_t len,
                   void *ud)
{
    seen *s = ud;

    s->msgs++;
    snprintf(s->msg, sizeof s->msg, "%.*s", (int)len, msg);
    if (s->stop_on_msg && s->msgs >= s->stop_on_msg)
        event_base_loopbreak(s->base);
}

static tq_link *link_for(seen *s, int port, const char *pass, int db,
                         int nconns)
{
    tq_redis_addr a;
    tq_link_conf conf;
    tq_link_hooks h = {on_up, on_down, NULL, s};

    memset(&a, 0, sizeof a);
    snprintf(a.host, sizeof a.host, "127.0.0.1");
    a.port = port;
    if (pass)
        snprintf(a.pass, sizeof a.pass, "%s", pass);
    a.db = db;
    memset(&conf, 0, sizeof conf);
    conf.nconns = nconns;
    conf.kinds[0] = TQ_LINK_CMD;
    conf.names[0] = "cmd";
    if (nconns > 1) {
        conf.kinds[1] = TQ_LINK_SUB;
        conf.names[1] = "sub";
    }
    if (nconns > 2) {
        conf.kinds[2] = TQ_LINK_CMD;
        conf.names[2] = "block";
    }
    conf.keepalive_channel = "tqtest:link";
    conf.load_scripts = 1;
    conf.connect_timeout_ms = 400;
    conf.reply_timeout_ms = 400;
    conf.backoff_min_ms = 50;
    conf.backoff_max_ms = 400;
    s->base = event_base_new();
    assert_non_null(s->base);
    s->l = tq_link_new(s->base, &a, &conf, &h);
    assert_non_null(s->l);
    return s->l;
}

/* Runs the loop for at most ms (or until a hook breaks it). */
static void run_for(seen *s, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(s->base, &tv);
    event_base_dispatch(s->base);
}

static void done(seen *s)
{
    tq_link_free(s->l);
    s->l = NULL;
    event_base_free(s->base);
}

static void ping(seen *s, int conn)
{
    const char *argv[1] = {"PING"};

    assert_int_equal(tq_link_send(s->l, conn, reply_cb, s, 1, argv, NULL), 0);
}

static void publish(const srv *v, const char *ch, const char *msg)
{
    redisContext *c = srv_ctx(v);
    redisReply *r = redisCommand(c, "PUBLISH %s %s", ch, msg);

    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);
}

/* ================================================================ faults */

static void test_link_refused_port_goes_down_with_backoff(void **state)
{
    seen s = {0};

    link_for(&s, free_port(0, NULL), NULL, 0, 2);
    assert_int_equal(tq_link_start(s.l), 0);
    run_for(&s, 1000);
    assert_int_equal(s.ups, 0);
    assert_true(s.downs >= 2);
    /* 50, 100, 200, 400, 400 ...: a handful in a second, not a storm */
    assert_true(s.downs <= 6);
    assert_int_equal(s.refused, 0);
    assert_contains(s.reason, "cannot reach Redis at 127.0.0.1:");
    assert_one_line(s.reason);
    assert_false(tq_link_is_up(s.l));
    /* nothing is sent while down, and the callback is never called */
    assert_int_equal(tq_link_send(s.l, 0, reply_cb, &s, 0, NULL, NULL),
                     TQ_EREDIS);
    done(&s);
    assert_int_equal(s.replies + s.nulls, 0);
}

static void test_link_silent_server_times_out(void **state)
{
    seen s = {0};
    int fd, port = free_port(1, &fd);

    link_for(&s, port, NULL, 0, 2);
    s.stop_on_down = 1;
    tq_link_start(s.l);
    run_for(&s, 3000);
    assert_int_equal(s.ups, 0);
    assert_int_equal(s.downs, 1);
    assert_contains(s.reason, "did not answer within 400 ms");
    done(&s);
    close(fd);
}

/* ================================================================ a real Redis */

static void test_link_up_commands_and_messages(void **state)
{
    srv v = {0};
    seen s = {0};

    srv_start(&v, NULL);
    link_for(&s, v.port, NULL, 0, 2);
    assert_int_equal(tq_link_subscribe(s.l, 1, "tqtest:ch", msg_cb, &s), 0);
    /* one subscription per channel */
    assert_int_equal(tq_link_subscribe(s.l, 1, "tqtest:ch", msg_cb, &s),
                     TQ_EINVAL);
    /* not a subscriber connection */
    assert_int_equal(tq_link_subscribe(s.l, 0, "tqtest:x", msg_cb, &s),
                     TQ_EINVAL);
    s.stop_on_up = 1;
    tq_link_start(s.l);
    run_for(&s, 5000);
    assert_int_equal(s.ups, 1);
    assert_true(tq_link_is_up(s.l));
    /* subscribed before on_up: a message published now arrives */
    publish(&v, "tqtest:ch", "hello");
    ping(&s, 0);
    run_for(&s, 300);
    assert_int_equal(s.msgs, 1);
    assert_string_equal(s.msg, "hello");
    assert_int_equal(s.replies, 1);
    /* the keepalive keeps an idle subscriber up past the reply timeout */
    run_for(&s, 1200);
    assert_int_equal(s.downs, 0);
    /* the scripts were loaded */
    {
        redisContext *c = srv_ctx(&v);
        redisReply *r = redisCommand(c, "SCRIPT EXISTS %s",
                                     tq_script_sha(TQ_SCRIPT_CLAIM));
        assert_int_equal(r->element[0]->integer, 1);
        freeReplyObject(r);
        redisFree(c);
    }
    done(&s);
    srv_stop(&v);
}

static void test_link_pause_and_resume_restores_subscriptions(void **state)
{
    srv v = {0};
    seen s = {0};

    srv_start(&v, NULL);
    link_for(&s, v.port, NULL, 0, 3);
    tq_link_subscribe(s.l, 1, "tqtest:ch", msg_cb, &s);
    s.stop_on_up = 1;
    tq_link_start(s.l);
    run_for(&s, 5000);
    assert_int_equal(s.ups, 1);
    /* a reply that never comes: the set goes down, the pending callback
     * runs with NULL */
    kill(v.pid, SIGSTOP);
    ping(&s, 0);
    s.stop_on_down = 1;
    run_for(&s, 3000);
    assert_int_equal(s.downs, 1);
    assert_int_equal(s.nulls, 1);
    assert_contains(s.reason, "no reply from Redis");
    kill(v.pid, SIGCONT);
    s.stop_on_up = 2;
    run_for(&s, 5000);
    assert_int_equal(s.ups, 2);
    publish(&v, "tqtest:ch", "again");
    s.stop_on_msg = 1;
    run_for(&s, 2000);
    assert_int_equal(s.msgs, 1);
    assert_string_equal(s.msg, "again");
    done(&s);
    srv_stop(&v);
}

static void test_link_blocking_command_and_closing_one_connection(void **state)
{
    srv v = {0};
    seen s = {0};
    const char *blpop[3] = {"BLPOP", "tqtest:none", "1"};

    srv_start(&v, NULL);
    link_for(&s, v.port, NULL, 0, 3);
    s.stop_on_up = 1;
    tq_link_start(s.l);
    run_for(&s, 5000);
    /* a BLPOP of 1 s outlives the 400 ms reply timeout without harm */
    assert_int_equal(tq_link_send_blocking(s.l, 2, 1000, reply_cb, &s, 3,
                                           blpop, NULL), 0);
    run_for(&s, 1500);
    assert_int_equal(s.replies, 1);
    assert_int_equal(s.downs, 0);
    /* closing the blocking connection ends its pending call with NULL and
     * leaves the set up */
    blpop[2] = "10";
    assert_int_equal(tq_link_send_blocking(s.l, 2, 10000, reply_cb, &s, 3,
                                           blpop, NULL), 0);
    tq_link_close_conn(s.l, 2);
    run_for(&s, 300);
    assert_int_equal(s.nulls, 1);
    assert_true(tq_link_is_up(s.l));
    assert_int_equal(tq_link_send(s.l, 2, reply_cb, &s, 3, blpop, NULL),
                     TQ_EREDIS);
    ping(&s, 0);
    run_for(&s, 300);
    assert_int_equal(s.replies, 2);
    done(&s);
    srv_stop(&v);
}

static void test_link_unsubscribe_then_subscribe_again(void **state)
{
    srv v = {0};
    seen s = {0};

    srv_start(&v, NULL);
    link_for(&s, v.port, NULL, 0, 2);
    s.stop_on_up = 1;
    tq_link_subscribe(s.l, 1, "tqtest:ch", msg_cb, &s);
    tq_link_start(s.l);
    run_for(&s, 5000);
    /* leave and come back before Redis confirmed the leave: hiredis 0.14
     * would drop the new callback on the late confirmation */
    assert_int_equal(tq_link_unsubscribe(s.l, "tqtest:ch"), 0);
    assert_int_equal(tq_link_subscribe(s.l, 1, "tqtest:ch", msg_cb, &s), 0);
    run_for(&s, 300);
    publish(&v, "tqtest:ch", "still");
    s.stop_on_msg = 1;
    run_for(&s, 2000);
    assert_int_equal(s.msgs, 1);
    /* and a leave that stays a leave */
    assert_int_equal(tq_link_unsubscribe(s.l, "tqtest:ch"), 0);
    assert_int_equal(tq_link_unsubscribe(s.l, "tqtest:ch"), TQ_EINVAL);
    run_for(&s, 300);
    assert_int_equal(tq_link_nsubs(s.l), 0);
    publish(&v, "tqtest:ch", "gone");
    run_for(&s, 300);
    assert_int_equal(s.msgs, 1);
    assert_int_equal(s.downs, 0);
    done(&s);
    srv_stop(&v);
}

static void test_link_free_inside_a_reply_callback(void **state)
{
    srv v = {0};
    seen s = {0};

    srv_start(&v, NULL);
    link_for(&s, v.port, NULL, 0, 2);
    s.stop_on_up = 1;
    tq_link_start(s.l);
    run_for(&s, 5000);
    s.free_in_reply = 1;
    ping(&s, 0);
    ping(&s, 0); /* its callback runs with NULL, after the free was asked */
    run_for(&s, 2000);
    run_for(&s, 100); /* the deferred free runs */
    assert_null(s.l);
    assert_int_equal(s.replies, 1);
    assert_int_equal(s.nulls, 1);
    event_base_free(s.base);
    srv_stop(&v);
}

/* ================================================================ refusals */

static void test_link_wrong_password_is_refused_without_a_storm(void **state)
{
    srv v = {0};
    seen s = {0};

    srv_start(&v, "requirepass right");
    link_for(&s, v.port, "wrong", 0, 2);
    tq_link_start(s.l);
    run_for(&s, 1500);
    assert_int_equal(s.ups, 0);
    assert_true(s.downs >= 1 && s.downs <= 6);
    assert_int_equal(s.refused, s.downs);
    assert_contains(s.reason, "AUTH");
    assert_one_line(s.reason);
    done(&s);

    /* the right one comes up */
    memset(&s, 0, sizeof s);
    link_for(&s, v.port, "right", 3, 2);
    s.stop_on_up = 1;
    tq_link_start(s.l);
    run_for(&s, 5000);
    assert_int_equal(s.ups, 1);
    done(&s);
    srv_stop(&v);
}

static void test_link_database_out_of_range_is_refused(void **state)
{
    srv v = {0};
    seen s = {0};

    srv_start(&v, NULL);
    link_for(&s, v.port, NULL, 16, 1);
    s.stop_on_down = 1;
    tq_link_start(s.l);
    run_for(&s, 3000);
    assert_int_equal(s.ups, 0);
    assert_int_equal(s.refused, 1);
    assert_contains(s.reason, "SELECT 16");
    done(&s);
    srv_stop(&v);
}

static void test_link_acl_user_without_scripts_is_refused(void **state)
{
    srv v = {0};
    seen s = {0};
    tq_link *l;

    srv_start(&v, "user noscripts on >pw ~* &* +@all -script");
    l = link_for(&s, v.port, "pw", 0, 2);
    (void)l;
    /* AUTH user pass */
    {
        tq_redis_addr a;
        tq_link_conf conf = {.nconns = 1, .kinds = {TQ_LINK_CMD},
                             .load_scripts = 1, .connect_timeout_ms = 400,
                             .reply_timeout_ms = 400, .backoff_min_ms = 50,
                             .backoff_max_ms = 400};
        tq_link_hooks h = {on_up, on_down, NULL, &s};
        tq_link_free(s.l);
        memset(&a, 0, sizeof a);
        snprintf(a.host, sizeof a.host, "127.0.0.1");
        a.port = v.port;
        snprintf(a.user, sizeof a.user, "noscripts");
        snprintf(a.pass, sizeof a.pass, "pw");
        s.l = tq_link_new(s.base, &a, &conf, &h);
    }
    s.stop_on_down = 1;
    tq_link_start(s.l);
    run_for(&s, 3000);
    assert_int_equal(s.ups, 0);
    assert_int_equal(s.refused, 1);
    assert_contains(s.reason, "NOPERM");
    done(&s);
    srv_stop(&v);
}

static void test_link_new_refuses_bad_conf(void **state)
{
    struct event_base *b = event_base_new();
    tq_redis_addr a = {.port = 1};
    tq_link_conf c = {.nconns = 0};

    assert_null(tq_link_new(b, &a, &c, NULL));
    c.nconns = TQ_LINK_MAX + 1;
    assert_null(tq_link_new(b, &a, &c, NULL));
    c.nconns = 1;
    c.kinds[0] = TQ_LINK_SUB; /* a subscriber needs a keepalive channel */
    assert_null(tq_link_new(b, &a, &c, NULL));
    tq_link_free(NULL);
    event_base_free(b);
}

/* tq_link_subscribe_ready: the ready callback comes once Redis confirmed a
 * SUBSCRIBE made while up (a message published after it is delivered), and
 * not for one restored while coming up. tq_link_is_connecting says when an
 * attempt is under way; a script call goes out as EVALSHA. */
static void ready_cb(tq_link *l, const char *ch, void *ud)
{
    seen *s = ud;

    s->replies += 100;
    snprintf(s->msg, sizeof s->msg, "ready %s", ch);
    event_base_loopbreak(s->base);
}

static void script_cb(redisAsyncContext *ac, void *r, void *priv)
{
    seen *s = priv;
    redisReply *rep = r;

    /* waitprep of an unknown job: nil, not an error about the command */
    if (rep && rep->type == REDIS_REPLY_NIL)
        s->replies++;
    else
        s->nulls++;
    event_base_loopbreak(s->base);
}

static void test_link_subscribe_ready_and_connecting(void **state)
{
    srv v = {0};
    seen s = {0};
    tq_cmd cmd;

    srv_start(&v, NULL);
    link_for(&s, v.port, NULL, 0, 2);
    assert_false(tq_link_is_connecting(s.l)); /* not started */
    assert_int_equal(tq_link_subscribe_ready(s.l, 1, "tqtest:early", msg_cb,
                                             ready_cb, &s), 0);
    tq_link_start(s.l);
    assert_true(tq_link_is_connecting(s.l));
    s.stop_on_up = 1;
    run_for(&s, 3000);
    assert_int_equal(s.ups, 1);
    assert_false(tq_link_is_connecting(s.l));
    assert_int_equal(s.replies, 0); /* restored while coming up: on_up says it */

    assert_int_equal(tq_link_subscribe_ready(s.l, 1, "tqtest:late", msg_cb,
                                             ready_cb, &s), 0);
    run_for(&s, 2000);
    assert_int_equal(s.replies, 100);
    assert_string_equal(s.msg, "ready tqtest:late");
    s.stop_on_msg = 1;
    publish(&v, "tqtest:late", "hello");
    run_for(&s, 2000);
    assert_int_equal(s.msgs, 1);
    assert_string_equal(s.msg, "hello");

    tq_cmd_init(&cmd, TQ_SCRIPT_WAITPREP);
    tq_cmd_key(&cmd, "tqtest:j:nosuch");
    assert_int_equal(tq_link_send_script(s.l, 0, &cmd, script_cb, &s), 0);
    tq_cmd_clear(&cmd);
    s.replies = 0;
    run_for(&s, 2000);
    assert_int_equal(s.replies, 1);
    assert_int_equal(s.nulls, 0);
    done(&s);
    srv_stop(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_link_new_refuses_bad_conf, srv_teardown),
        cmocka_unit_test_teardown(test_link_refused_port_goes_down_with_backoff, srv_teardown),
        cmocka_unit_test_teardown(test_link_silent_server_times_out, srv_teardown),
        cmocka_unit_test_teardown(test_link_up_commands_and_messages, srv_teardown),
        cmocka_unit_test_teardown(test_link_pause_and_resume_restores_subscriptions, srv_teardown),
        cmocka_unit_test_teardown(test_link_blocking_command_and_closing_one_connection, srv_teardown),
        cmocka_unit_test_teardown(test_link_unsubscribe_then_subscribe_again, srv_teardown),
        cmocka_unit_test_teardown(test_link_free_inside_a_reply_callback, srv_teardown),
        cmocka_unit_test_teardown(test_link_wrong_password_is_refused_without_a_storm, srv_teardown),
        cmocka_unit_test_teardown(test_link_database_out_of_range_is_refused, srv_teardown),
        cmocka_unit_test_teardown(test_link_acl_user_without_scripts_is_refused, srv_teardown),
        cmocka_unit_test_teardown(test_link_subscribe_ready_and_connecting, srv_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
