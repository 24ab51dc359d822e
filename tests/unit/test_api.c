/* test_api.c -- the public API's error paths (include/tq/): what a program
 * gets back when the URL is bad, Redis is unreachable or the input is
 * invalid, for the blocking client, the async client and the worker. No
 * Redis is needed: "unreachable" is a port nothing listens on, and "a Redis
 * that never answers" is a listening socket of the test's own. Async tests
 * count callbacks and assert after the loop ran (libuv's style).
 */
#include "unit.h"
#include "redis_srv.h" /* free_port: no server is started here */

#include <event2/event.h>

#include "tq/tq.h"
#include "tq/async.h"
#include "tq/worker.h"

/* A port on 127.0.0.1 that refuses connections: bind one, close it. */
static int refused_port(void)
{
    return free_port(0, NULL);
}

/* A listening socket that accepts (in the kernel's backlog) and never
 * answers: a Redis that hangs. Returns the fd; *port its port. */
static int silent_server(int *port)
{
    int fd;

    *port = free_port(1, &fd);
    return fd;
}

static void url_of(char *buf, size_t n, int port)
{
    snprintf(buf, n, "redis://127.0.0.1:%d/0", port);
}

/* ================================================================ blocking client */

static void test_client_bad_url_is_einval_with_message(void **state)
{
    tq_client *c = tq_client_new("http://example.com", NULL);
    char id[TQ_ID_SIZE];

    assert_non_null(c);
    assert_int_equal(tq_client_err(c), TQ_EINVAL);
    assert_one_line(tq_client_errstr(c));
    assert_contains(tq_client_errstr(c), "redis URL");
    /* every call answers with the set-up error */
    assert_int_equal(tq_submit(c, "t", NULL, NULL, id), TQ_EINVAL);
    assert_int_equal(tq_client_err(c), TQ_EINVAL);
    tq_client_free(c);
}

static void test_client_bad_namespace_is_einval(void **state)
{
    tq_client *c = tq_client_new(NULL, "a{b}");

    assert_non_null(c);
    assert_int_equal(tq_client_err(c), TQ_EINVAL);
    assert_contains(tq_client_errstr(c), "namespace");
    tq_client_free(c);
}

static void test_client_unreachable_is_eredis(void **state)
{
    char url[64];
    tq_client *c;
    tq_job *job = (tq_job *)1;

    url_of(url, sizeof url, refused_port());
    c = tq_client_new(url, "t");
    assert_non_null(c);
    assert_int_equal(tq_client_err(c), TQ_EREDIS);
    assert_one_line(tq_client_errstr(c));
    assert_contains(tq_client_errstr(c), "127.0.0.1");
    /* a valid call tries again, and says so again */
    assert_int_equal(tq_status(c, "abc", &job), TQ_EREDIS);
    assert_null(job);
    assert_int_equal(tq_exit_code(tq_client_err(c)), 6);
    tq_client_free(c);

    c = tq_client_new("unix:///nonexistent/tq.sock", NULL);
    assert_int_equal(tq_client_err(c), TQ_EREDIS);
    assert_contains(tq_client_errstr(c), "/nonexistent/tq.sock");
    tq_client_free(c);
}

/* Invalid input is refused before anything is sent: on a client whose Redis
 * is unreachable, a call that got as far as Redis would say TQ_EREDIS. */
static void test_client_invalid_input_refused_before_sending(void **state)
{
    char url[64], id[TQ_ID_SIZE], ids[3][TQ_ID_SIZE], gid[TQ_ID_SIZE];
    tq_submit_opts o;
    tq_client *c;
    tq_job *out[1];
    char *res = (char *)1;

    url_of(url, sizeof url, refused_port());
    c = tq_client_new(url, NULL);
    assert_int_equal(tq_client_err(c), TQ_EREDIS);

    assert_int_equal(tq_submit(c, "t", "{\"a\":", NULL, id), TQ_EINVAL);
    assert_contains(tq_client_errstr(c), "line");
    assert_int_equal(tq_submit(c, "", "1", NULL, id), TQ_EINVAL);
    assert_int_equal(tq_submit(c, NULL, "1", NULL, id), TQ_EINVAL);
    assert_int_equal(tq_submit(c, "bad\ntask", "1", NULL, id), TQ_EINVAL);

    tq_submit_opts_init(&o);
    o.priority = 10;
    assert_int_equal(tq_submit(c, "t", "1", &o, id), TQ_EINVAL);
    assert_contains(tq_client_errstr(c), "--priority");
    tq_submit_opts_init(&o);
    o.queue = "q{x}";
    assert_int_equal(tq_submit(c, "t", "1", &o, id), TQ_EINVAL);
    tq_submit_opts_init(&o);
    o.max_args = 8;
    assert_int_equal(tq_submit(c, "t", "\"0123456789\"", &o, id), TQ_EINVAL);

    const char *many[3] = {"1", "[", "3"};
    assert_int_equal(tq_submit_many(c, "t", many, 3, NULL, ids), TQ_EINVAL);
    assert_contains(tq_client_errstr(c), "args 1");
    assert_int_equal(tq_submit_many(c, "t", NULL, 3, NULL, ids), TQ_EINVAL);

    assert_int_equal(tq_submit_chain(c, NULL, 0, "1", NULL, ids), TQ_EINVAL);
    const char *tasks[2] = {"a", ""};
    assert_int_equal(tq_submit_chain(c, tasks, 2, "1", NULL, ids), TQ_EINVAL);
    tq_submit_opts_init(&o);
    o.unique = "k";
    assert_int_equal(tq_group_submit(c, "t", many, 1, &o, NULL, gid, NULL, NULL),
                     TQ_EINVAL);

    const char *bad[1] = {"no spaces allowed"};
    assert_int_equal(tq_wait(c, bad, 1, 0, out), TQ_EINVAL);
    assert_int_equal(tq_cancel(c, "", NULL), TQ_EINVAL);
    assert_int_equal(tq_result(c, "x y", &res), TQ_EINVAL);
    assert_null(res);
    assert_int_equal(tq_result(c, "abc", NULL), TQ_EINVAL);
    tq_client_free(c);
}

static void test_free_of_null_does_nothing(void **state)
{
    tq_client_free(NULL);
    tq_async_free(NULL);
    tq_worker_free(NULL);
    tq_job_free(NULL);
    tq_jobs_free(NULL, 3);
    assert_int_equal(tq_client_err(NULL), TQ_ENOMEM);
    assert_int_equal(tq_async_err(NULL), TQ_ENOMEM);
    assert_null(tq_job_json(NULL));
}

static void test_job_json_is_one_line_of_the_record(void **state)
{
    tq_job j;
    char *s;

    memset(&j, 0, sizeof j);
    j.id = "abc";
    j.queue = "default";
    j.task = "t";
    j.args = "[1,2]";
    j.state = TQ_STATE_PENDING;
    s = tq_job_json(&j);
    assert_non_null(s);
    assert_one_line(s);
    assert_contains(s, "\"id\":\"abc\"");
    assert_contains(s, "\"args\":[1,2]");
    assert_contains(s, "\"state\":\"pending\"");
    free(s);
}

/* ================================================================ async client */

typedef struct counts {
    int calls;
    int err;
    char id[TQ_ID_SIZE];
    int free_inside;     /* tq_async_free from inside the callback */
    tq_async *a;
} counts;

static void on_submit(tq_async *a, int err, const char *id, void *ud)
{
    counts *k = ud;
    k->calls++;
    k->err = err;
    if (id)
        snprintf(k->id, sizeof k->id, "%s", id);
    if (err)
        assert_one_line(tq_async_errstr(a));
    if (k->free_inside)
        tq_async_free(a);
}

static void on_many(tq_async *a, int err, const char (*ids)[TQ_ID_SIZE], size_t n,
                    void *ud)
{
    counts *k = ud;
    k->calls++;
    k->err = err;
    assert_int_equal(n, 0);
    if (k->free_inside)
        tq_async_free(a);
}

static void on_job(tq_async *a, int err, const tq_job *job, void *ud)
{
    counts *k = ud;
    k->calls++;
    k->err = err;
    if (err)
        assert_null(job);
}

static void on_cancel(tq_async *a, int err, tq_state before, void *ud)
{
    counts *k = ud;
    k->calls++;
    k->err = err;
}

/* Runs the loop until *flag is set or ms pass. */
static void run_until(struct event_base *base, const int *flag, int ms)
{
    for (int i = 0; i < ms / 10 && !*flag; i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

static void test_async_needs_a_base(void **state)
{
    assert_null(tq_async_new(NULL, NULL, NULL));
}

static void test_async_bad_url_is_einval_and_no_callback(void **state)
{
    struct event_base *base = event_base_new();
    counts k = {0};
    tq_async *a = tq_async_new(base, "redis://host:99999/0", NULL);

    assert_non_null(a);
    assert_int_equal(tq_async_err(a), TQ_EINVAL);
    assert_one_line(tq_async_errstr(a));
    assert_contains(tq_async_errstr(a), "port");
    assert_int_equal(tq_async_submit(a, "t", "1", NULL, on_submit, &k), TQ_EINVAL);
    assert_int_equal(tq_async_status(a, "abc", on_job, &k), TQ_EINVAL);
    assert_int_equal(tq_async_wait(a, "abc", 10, on_job, &k), TQ_EINVAL);
    assert_int_equal(tq_async_cancel(a, "abc", on_cancel, &k), TQ_EINVAL);
    assert_int_equal(tq_async_connected(a), 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    tq_async_free(a);
    assert_int_equal(k.calls, 0);
    event_base_free(base);

    base = event_base_new();
    a = tq_async_new(base, NULL, "");
    assert_int_equal(tq_async_err(a), TQ_EINVAL);
    assert_contains(tq_async_errstr(a), "namespace");
    tq_async_free(a);
    event_base_free(base);
}

/* Invalid input comes back from the call; its callback is never called. */
static void test_async_invalid_input_returns_error_and_no_callback(void **state)
{
    struct event_base *base = event_base_new();
    int port, fd = silent_server(&port);
    char url[64];
    counts k = {0};
    tq_submit_opts o;
    tq_async *a;

    url_of(url, sizeof url, port);
    a = tq_async_new(base, url, "t");
    assert_int_equal(tq_async_err(a), 0);

    assert_int_equal(tq_async_submit(a, "t", "{oops", NULL, on_submit, &k), TQ_EINVAL);
    assert_contains(tq_async_errstr(a), "line");
    assert_int_equal(tq_async_submit(a, "", "1", NULL, on_submit, &k), TQ_EINVAL);
    tq_submit_opts_init(&o);
    o.max_retries = -1;
    assert_int_equal(tq_async_submit(a, "t", "1", &o, on_submit, &k), TQ_EINVAL);
    assert_contains(tq_async_errstr(a), "--retries");
    const char *many[2] = {"1", "nope"};
    assert_int_equal(tq_async_submit_many(a, "t", many, 2, NULL, on_many, &k),
                     TQ_EINVAL);
    assert_contains(tq_async_errstr(a), "args 1");
    assert_int_equal(tq_async_status(a, "", on_job, &k), TQ_EINVAL);
    assert_int_equal(tq_async_status(a, NULL, on_job, &k), TQ_EINVAL);
    assert_int_equal(tq_async_wait(a, "bad id", 100, on_job, &k), TQ_EINVAL);
    assert_int_equal(tq_async_cancel(a, "x/y", on_cancel, &k), TQ_EINVAL);

    run_until(base, &k.calls, 100);
    assert_int_equal(k.calls, 0);
    tq_async_free(a);
    assert_int_equal(k.calls, 0);
    event_base_free(base);
    close(fd);
}

/* An unreachable Redis: a call either fails at once with TQ_EREDIS (no
 * callback) or its callback gets TQ_EREDIS, exactly once. A wait is kept
 * until its timeout. */
static void test_async_unreachable_is_eredis_once(void **state)
{
    struct event_base *base = event_base_new();
    char url[64];
    counts k = {0}, w = {0};
    tq_async *a;
    int rv;

    url_of(url, sizeof url, refused_port());
    a = tq_async_new(base, url, NULL);
    assert_non_null(a);
    assert_true(tq_async_err(a) == 0 || tq_async_err(a) == TQ_EREDIS);
    rv = tq_async_submit(a, "t", "1", NULL, on_submit, &k);
    assert_true(rv == 0 || rv == TQ_EREDIS);
    assert_int_equal(k.calls, 0); /* never before the call returns */
    assert_int_equal(tq_async_wait(a, "abc", 300, on_job, &w), 0);
    if (rv == 0) {
        run_until(base, &k.calls, 3000);
        assert_int_equal(k.calls, 1);
        assert_int_equal(k.err, TQ_EREDIS);
    } else {
        assert_contains(tq_async_errstr(a), "not connected");
    }
    run_until(base, &w.calls, 3000);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.err, TQ_ETIMEDOUT);
    assert_int_equal(tq_async_connected(a), 0);
    /* later calls between attempts fail at once, callbacks untouched */
    rv = tq_async_status(a, "abc", on_job, &w);
    assert_true(rv == 0 || rv == TQ_EREDIS);
    tq_async_free(a);
    assert_true(w.calls == 1 || (rv == 0 && w.calls == 2));
    event_base_free(base);
}

/* Freeing with calls pending calls each callback once, with TQ_ECANCELLED;
 * calls made from those callbacks are refused. */
static void free_again(tq_async *a, int err, const tq_job *job, void *ud)
{
    counts *k = ud;
    k->calls++;
    k->err = err;
    assert_int_equal(tq_async_submit(a, "t", "1", NULL, on_submit, k), TQ_ECANCELLED);
    tq_async_free(a); /* a second free from inside: nothing */
}

static void test_async_free_with_pending_calls_cancels_them(void **state)
{
    struct event_base *base = event_base_new();
    int port, fd = silent_server(&port);
    char url[64];
    counts s = {0}, st = {0}, w = {0}, c = {0};
    tq_async *a;

    url_of(url, sizeof url, port);
    a = tq_async_new(base, url, NULL);
    assert_int_equal(tq_async_submit(a, "t", "{\"x\":1}", NULL, on_submit, &s), 0);
    assert_int_equal(tq_async_status(a, "abc", free_again, &st), 0);
    assert_int_equal(tq_async_wait(a, "abc", -1, on_job, &w), 0);
    assert_int_equal(tq_async_cancel(a, "abc", on_cancel, &c), 0);
    /* the connection is made, the commands are written, nothing answers */
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(s.calls + st.calls + w.calls + c.calls, 0);
    tq_async_free(a);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.err, TQ_ECANCELLED);
    assert_int_equal(st.calls, 1);
    assert_int_equal(st.err, TQ_ECANCELLED);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.err, TQ_ECANCELLED);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.err, TQ_ECANCELLED);
    event_base_free(base);
    close(fd);
}

/* Calls on many queues: the client's table of queues grows while ops point
 * at its entries (a submit's op keeps its queue for its SADDs and calls);
 * every callback still comes once, and nothing is touched after the free
 * (run under make asan to see a use after free). */
static void test_async_calls_over_many_queues_end_once(void **state)
{
    enum { NQ = 12 };
    struct event_base *base = event_base_new();
    int port, fd = silent_server(&port);
    char url[64], qname[NQ][16];
    counts k[NQ];
    tq_submit_opts o;
    tq_async *a;

    memset(k, 0, sizeof k);
    url_of(url, sizeof url, port);
    a = tq_async_new(base, url, NULL);
    for (int i = 0; i < NQ; i++) {
        tq_submit_opts_init(&o);
        snprintf(qname[i], sizeof qname[i], "q%d", i);
        o.queue = qname[i];
        assert_int_equal(tq_async_submit(a, "t", "1", &o, on_submit, &k[i]), 0);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    for (int i = 0; i < NQ; i++)
        assert_int_equal(k[i].calls, 0);
    tq_async_free(a);
    for (int i = 0; i < NQ; i++) {
        assert_int_equal(k[i].calls, 1);
        assert_int_equal(k[i].err, TQ_ECANCELLED);
    }
    event_base_free(base);
    close(fd);
}

/* A callback may free the client; the other outcomes already known are
 * still delivered, once each, and nothing runs after the free. */
static void test_async_free_from_inside_a_callback(void **state)
{
    struct event_base *base = event_base_new();
    int port, fd = silent_server(&port);
    char url[64];
    counts one = {0}, two = {0}, pend = {0};
    tq_async *a;

    url_of(url, sizeof url, port);
    a = tq_async_new(base, url, NULL);
    one.free_inside = 1;
    /* n == 0: known at once, delivered from the loop */
    assert_int_equal(tq_async_submit_many(a, "t", NULL, 0, NULL, on_many, &one), 0);
    assert_int_equal(tq_async_submit_many(a, "t", NULL, 0, NULL, on_many, &two), 0);
    assert_int_equal(tq_async_submit(a, "t", "1", NULL, on_submit, &pend), 0);
    assert_int_equal(one.calls, 0);
    run_until(base, &one.calls, 1000);
    assert_int_equal(one.calls, 1);
    assert_int_equal(one.err, 0);
    assert_int_equal(two.calls, 1);
    assert_int_equal(two.err, 0);
    assert_int_equal(pend.calls, 1);
    assert_int_equal(pend.err, TQ_ECANCELLED);
    /* the client is gone: the base has nothing of it left */
    assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
    event_base_free(base);
    close(fd);
}

/* A Redis that accepts connections and never answers: no call hangs. The
 * link is declared lost after 5 s without an answer, and the submit's
 * callback gets TQ_EREDIS, once. */
static void test_async_silent_redis_ends_calls_with_eredis(void **state)
{
    struct event_base *base = event_base_new();
    int port, fd = silent_server(&port);
    char url[64];
    counts k = {0};
    tq_async *a;

    url_of(url, sizeof url, port);
    a = tq_async_new(base, url, NULL);
    assert_int_equal(tq_async_submit(a, "t", "1", NULL, on_submit, &k), 0);
    run_until(base, &k.calls, 9000);
    assert_int_equal(k.calls, 1);
    assert_int_equal(k.err, TQ_EREDIS);
    assert_int_equal(tq_async_connected(a), 0);
    tq_async_free(a);
    assert_int_equal(k.calls, 1);
    event_base_free(base);
    close(fd);
}

/* ================================================================ worker */

static void noop_handler(tq_task *t, void *ud)
{
    tq_task_succeed(t, NULL);
}

static void test_worker_bad_options_say_why(void **state)
{
    tq_worker_opts o;
    char err[256];

    tq_worker_opts_init(&o);
    o.concurrency = 0;
    assert_null(tq_worker_new(&o, err, sizeof err));
    assert_contains(err, "concurrency");

    tq_worker_opts_init(&o);
    o.redis_url = "mysql://x";
    assert_null(tq_worker_new(&o, err, sizeof err));
    assert_contains(err, "redis URL");

    const char *qs[2] = {"a", "a"};
    tq_worker_opts_init(&o);
    o.queues = qs;
    o.nqueues = 2;
    assert_null(tq_worker_new(&o, err, sizeof err));
    assert_contains(err, "twice");
    assert_null(tq_worker_new(&o, NULL, 0)); /* no room for the message: fine */
}

static void test_worker_register_and_start_errors(void **state)
{
    struct event_base *base = event_base_new();
    tq_worker_opts o;
    char err[256];
    tq_worker *w;

    tq_worker_opts_init(&o);
    o.base = base;
    w = tq_worker_new(&o, err, sizeof err);
    assert_non_null(w);
    assert_ptr_equal(tq_worker_base(w), base);
    assert_int_equal(tq_worker_register(w, "", noop_handler, NULL, NULL), TQ_EINVAL);
    assert_int_equal(tq_worker_register(w, "ok", NULL, NULL, NULL), TQ_EINVAL);
    assert_int_equal(tq_worker_register(w, "bad\x01", noop_handler, NULL, NULL), TQ_EINVAL);
    assert_one_line(tq_worker_errstr(w));
    assert_int_equal(tq_worker_register(w, "ok", noop_handler, NULL, NULL), 0);
    assert_int_equal(tq_worker_limit(w, "ok", -1), TQ_EINVAL);
    const char *argv[1] = {NULL};
    assert_int_equal(tq_worker_register_exec(w, "x", argv), TQ_EINVAL);
    assert_int_equal(tq_worker_register(NULL, "ok", noop_handler, NULL, NULL), TQ_EINVAL);
    assert_int_equal(tq_worker_start(NULL), TQ_EINVAL);
    tq_worker_stop(NULL, 1);
    /* stopping one never started: nothing to run, nothing leaks */
    tq_worker_stop(w, 0);
    tq_worker_free(w);
    event_base_free(base);
}

/* A worker that cannot reach Redis still starts, stops when told, calls
 * on_stop once, and may be freed from there: on the caller's base (the loop
 * then ends by itself) and under tq_worker_run (the free waits for it). */
typedef struct stopper {
    tq_worker *w;
    int stops;
    int free_in_on_stop;
} stopper;

static void on_stopped(tq_worker *w, void *ud)
{
    stopper *s = ud;
    s->stops++;
    assert_ptr_equal(w, s->w);
    if (s->free_in_on_stop) {
        tq_worker_free(w);
        s->w = NULL;
    }
}

static void stop_soon(evutil_socket_t fd, short what, void *arg)
{
    stopper *s = arg;
    tq_worker_stop(s->w, 0);
    tq_worker_stop(s->w, 0); /* twice: nothing more */
}

static void test_worker_stops_and_frees_from_on_stop(void **state)
{
    struct event_base *base = event_base_new();
    struct timeval tv = {0, 50000};
    char url[64], err[256];
    tq_worker_opts o;
    stopper s = {0};

    url_of(url, sizeof url, refused_port());
    tq_worker_opts_init(&o);
    o.redis_url = url;
    o.base = base;
    o.on_stop = on_stopped;
    o.on_stop_ud = &s;
    s.free_in_on_stop = 1;
    s.w = tq_worker_new(&o, err, sizeof err);
    assert_non_null(s.w);
    assert_int_equal(tq_worker_start(s.w), 0);
    assert_int_equal(tq_worker_start(s.w), TQ_EINVAL); /* already started */
    event_base_once(base, -1, EV_TIMEOUT, stop_soon, &s, &tv);
    /* no loopexit: once stopped and freed, nothing of the worker is left */
    assert_int_equal(event_base_dispatch(base), 1);
    assert_int_equal(s.stops, 1);
    assert_null(s.w);
    event_base_free(base);

    /* its own base, tq_worker_run: freed when run returns */
    stopper r = {0};
    o.base = NULL;
    o.on_stop_ud = &r;
    r.free_in_on_stop = 1;
    r.w = tq_worker_new(&o, err, sizeof err);
    assert_non_null(r.w);
    event_base_once(tq_worker_base(r.w), -1, EV_TIMEOUT, stop_soon, &r, &tv);
    assert_int_equal(tq_worker_run(r.w), 0);
    assert_int_equal(r.stops, 1);
    assert_null(r.w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_bad_url_is_einval_with_message),
        cmocka_unit_test(test_client_bad_namespace_is_einval),
        cmocka_unit_test(test_client_unreachable_is_eredis),
        cmocka_unit_test(test_client_invalid_input_refused_before_sending),
        cmocka_unit_test(test_free_of_null_does_nothing),
        cmocka_unit_test(test_job_json_is_one_line_of_the_record),
        cmocka_unit_test(test_async_needs_a_base),
        cmocka_unit_test(test_async_bad_url_is_einval_and_no_callback),
        cmocka_unit_test(test_async_invalid_input_returns_error_and_no_callback),
        cmocka_unit_test(test_async_unreachable_is_eredis_once),
        cmocka_unit_test(test_async_free_with_pending_calls_cancels_them),
        cmocka_unit_test(test_async_calls_over_many_queues_end_once),
        cmocka_unit_test(test_async_free_from_inside_a_callback),
        cmocka_unit_test(test_async_silent_redis_ends_calls_with_eredis),
        cmocka_unit_test(test_worker_bad_options_say_why),
        cmocka_unit_test(test_worker_register_and_start_errors),
        cmocka_unit_test(test_worker_stops_and_frees_from_on_stop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
