/* test_async.c -- the async client (client/async*.c) against a real Redis.
 *
 * test_api.c covers the client's error paths with no Redis; here a
 * redis-server of the test's own (redis_srv.h) shows what the link layer
 * gives the client: waits that survive connections Redis closes, waits on
 * one id sharing one subscription (and subscribing again after the last
 * one left), and a status that finds its script again after SCRIPT FLUSH.
 * Tests count callbacks and assert after the loop ran (libuv's style).
 */
#include "unit.h"
#include "redis_srv.h"

#include <event2/event.h>

#include "tq/async.h"
#include "tq/tq.h"

#define NS "ut"

typedef struct got {
    int calls;
    int err;
    tq_state state;
    char id[TQ_ID_SIZE];
} got;

static void on_submit(tq_async *a, int err, const char *id, void *ud)
{
    got *g = ud;
    g->calls++;
    g->err = err;
    if (id)
        snprintf(g->id, sizeof g->id, "%s", id);
}

static void on_job(tq_async *a, int err, const tq_job *job, void *ud)
{
    got *g = ud;
    g->calls++;
    g->err = err;
    g->state = job ? job->state : TQ_STATE_UNKNOWN;
}

/* Runs the loop until cond(ud) or ms pass. */
static void run_while(struct event_base *base, int (*cond)(void *), void *ud, int ms)
{
    for (int i = 0; i < ms / 10 && cond(ud); i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

static int no_calls(void *ud) { return ((got *)ud)->calls == 0; }
static int not_connected(void *ud) { return !tq_async_connected(ud); }
static int connected(void *ud) { return tq_async_connected(ud); }

/* A command of the test's own, on a connection of its own. */
static void srv_do(const srv *v, const char *cmd)
{
    redisContext *rc = srv_ctx(v);
    redisReply *r = redisCommand(rc, cmd);

    assert_non_null(r);
    freeReplyObject(r);
    redisFree(rc);
}

static tq_async *client_up(struct event_base *base, const srv *v)
{
    char url[64];
    tq_async *a;

    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", v->port);
    a = tq_async_new(base, url, NS);
    assert_non_null(a);
    assert_int_equal(tq_async_err(a), 0);
    run_while(base, not_connected, a, 5000);
    assert_true(tq_async_connected(a));
    return a;
}

static void submit_one(struct event_base *base, tq_async *a, got *s)
{
    assert_int_equal(tq_async_submit(a, "t", "1", NULL, on_submit, s), 0);
    run_while(base, no_calls, s, 5000);
    assert_int_equal(s->calls, 1);
    assert_int_equal(s->err, 0);
}

static void cancel_blocking(const srv *v, const char *id)
{
    char url[64];
    tq_state before;
    tq_client *c;

    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", v->port);
    c = tq_client_new(url, NS);
    assert_int_equal(tq_client_err(c), 0);
    assert_int_equal(tq_cancel(c, id, &before), 0);
    assert_int_equal(before, TQ_STATE_PENDING);
    tq_client_free(c);
}

/* Redis closes both connections under two waits on one id: the waits are
 * not ended, the client reconnects, and one cancel later both see it. A
 * third wait on the id, after the first two left the channel, subscribes
 * again and answers at once. */
static void test_async_waits_survive_closed_connections(void **state)
{
    struct event_base *base = event_base_new();
    got s = {0}, w1 = {0}, w2 = {0}, w3 = {0};
    srv v;
    tq_async *a;

    srv_start(&v, NULL);
    a = client_up(base, &v);
    submit_one(base, a, &s);
    assert_int_equal(tq_async_wait(a, s.id, 30000, on_job, &w1), 0);
    assert_int_equal(tq_async_wait(a, s.id, 30000, on_job, &w2), 0);
    run_while(base, no_calls, &w1, 300);
    assert_int_equal(w1.calls + w2.calls, 0);

    srv_do(&v, "CLIENT KILL TYPE pubsub");
    srv_do(&v, "CLIENT KILL TYPE normal");
    run_while(base, connected, a, 3000);
    assert_int_equal(tq_async_connected(a), 0); /* the link saw it */
    run_while(base, not_connected, a, 5000);
    assert_true(tq_async_connected(a));
    assert_int_equal(w1.calls + w2.calls, 0);

    cancel_blocking(&v, s.id);
    run_while(base, no_calls, &w2, 5000);
    run_while(base, no_calls, &w1, 1000);
    assert_int_equal(w1.calls, 1);
    assert_int_equal(w1.err, 0);
    assert_int_equal(w1.state, TQ_STATE_CANCELLED);
    assert_int_equal(w2.calls, 1);
    assert_int_equal(w2.state, TQ_STATE_CANCELLED);

    assert_int_equal(tq_async_wait(a, s.id, 30000, on_job, &w3), 0);
    run_while(base, no_calls, &w3, 5000);
    assert_int_equal(w3.calls, 1);
    assert_int_equal(w3.err, 0);
    assert_int_equal(w3.state, TQ_STATE_CANCELLED);

    tq_async_free(a);
    assert_int_equal(w1.calls + w2.calls + w3.calls, 3);
    event_base_free(base);
    srv_stop(&v);
}

/* SCRIPT FLUSH behind the client's back: a status gets NOSCRIPT, the
 * scripts are loaded again and the call resent, once. */
static void test_async_status_after_script_flush(void **state)
{
    struct event_base *base = event_base_new();
    got s = {0}, st = {0};
    srv v;
    tq_async *a;

    srv_start(&v, NULL);
    a = client_up(base, &v);
    submit_one(base, a, &s);
    srv_do(&v, "SCRIPT FLUSH");
    assert_int_equal(tq_async_status(a, s.id, on_job, &st), 0);
    run_while(base, no_calls, &st, 5000);
    assert_int_equal(st.calls, 1);
    assert_int_equal(st.err, 0);
    assert_int_equal(st.state, TQ_STATE_PENDING);
    tq_async_free(a);
    event_base_free(base);
    srv_stop(&v);
}

/* A call made while the client is still connecting waits for the link and
 * then goes out: the submit made right after tq_async_new succeeds. */
static void test_async_call_before_connected_goes_out_once_up(void **state)
{
    struct event_base *base = event_base_new();
    char url[64];
    got s = {0};
    srv v;
    tq_async *a;

    srv_start(&v, NULL);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", v.port);
    a = tq_async_new(base, url, NS);
    assert_int_equal(tq_async_connected(a), 0);
    assert_int_equal(tq_async_submit(a, "t", "1", NULL, on_submit, &s), 0);
    run_while(base, no_calls, &s, 5000);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.err, 0);
    assert_true(s.id[0] != '\0');
    tq_async_free(a);
    event_base_free(base);
    srv_stop(&v);
}

typedef struct got_many {
    int calls, err;
    size_t n;
    char first[TQ_ID_SIZE];
} got_many;

static void on_many(tq_async *a, int err, const char (*ids)[TQ_ID_SIZE], size_t n,
                    void *ud)
{
    got_many *g = ud;
    g->calls++;
    g->err = err;
    g->n = ids ? n : 0;
    if (ids && n)
        snprintf(g->first, sizeof g->first, "%s", ids[0]);
}

static int no_many_calls(void *ud) { return ((got_many *)ud)->calls == 0; }

/* A durable submit on a master with no replica: WAIT answers 0 after the
 * timeout, the callback gets TQ_EDURABLE and the ids all the same (the
 * jobs exist), and the client carries on (the WAIT did not take the link
 * down though it blocked past nothing it should not). */
static void test_async_durable_without_replica_gives_ids(void **state)
{
    struct event_base *base = event_base_new();
    const char *many[] = {"1", "2", "3"};
    got s = {0}, st = {0}, s2 = {0};
    got_many m = {0};
    tq_submit_opts o;
    srv v;
    tq_async *a;

    srv_start(&v, NULL);
    a = client_up(base, &v);
    tq_submit_opts_init(&o);
    assert_int_equal(o.durable, 0);
    assert_int_equal(o.durable_timeout_ms, 1000);
    o.durable = 1;
    o.durable_timeout_ms = 100;
    assert_int_equal(tq_async_submit(a, "t", "1", &o, on_submit, &s), 0);
    run_while(base, no_calls, &s, 5000);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.err, TQ_EDURABLE);
    assert_true(s.id[0] != '\0');
    assert_int_equal(tq_async_status(a, s.id, on_job, &st), 0);
    run_while(base, no_calls, &st, 5000);
    assert_int_equal(st.err, 0);
    assert_int_equal(st.state, TQ_STATE_PENDING);
    assert_int_equal(tq_async_submit_many(a, "t", many, 3, &o, on_many, &m), 0);
    run_while(base, no_many_calls, &m, 5000);
    assert_int_equal(m.calls, 1);
    assert_int_equal(m.err, TQ_EDURABLE);
    assert_int_equal(m.n, 3);
    o.durable = -1;
    assert_int_equal(tq_async_submit(a, "t", "1", &o, on_submit, &s2), TQ_EINVAL);
    submit_one(base, a, &s2);
    tq_async_free(a);
    event_base_free(base);
    srv_stop(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_async_call_before_connected_goes_out_once_up,
                                  srv_teardown),
        cmocka_unit_test_teardown(test_async_waits_survive_closed_connections,
                                  srv_teardown),
        cmocka_unit_test_teardown(test_async_status_after_script_flush, srv_teardown),
        cmocka_unit_test_teardown(test_async_durable_without_replica_gives_ids,
                                  srv_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
