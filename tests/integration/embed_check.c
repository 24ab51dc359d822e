/* embed_check.c -- a program embedding libtq, built by t_embed.sh against
 * the *installed* library with nothing but `pkg-config tq`.
 *
 *   embed_check REDIS_URL NAMESPACE
 *
 * One process, one event_base: the blocking client first, then an async
 * client and a worker with C handlers side by side on the caller's base,
 * several flows at once (submit -> wait, submit many, a delayed submit, a
 * unique key, cancelling a running job, status of a missing job, wait with
 * a timeout), then the worker is stopped and freed from its on_stop, the
 * async client freed from there too, and the loop ends by itself. Prints a
 * line per check; exits 0 when every check passed. t_embed.sh runs it
 * under valgrind when it is installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <tq/async.h>
#include <tq/worker.h>

static int failures, flows;
static struct event_base *base;
static tq_async *aq;
static tq_worker *wk;
static int hang_cancels;
static struct event *guard;

#define CHECK(cond, ...)                                         \
    do {                                                         \
        if (cond) {                                              \
            printf("ok: ");                                      \
        } else {                                                 \
            printf("FAIL (%s:%d): ", __FILE__, __LINE__);        \
            failures++;                                          \
        }                                                        \
        printf(__VA_ARGS__);                                     \
        putchar('\n');                                           \
        fflush(stdout);                                          \
    } while (0)

/* ================================================================ handlers */

/* embed.double: N -> 2N, completed later from a timer of its own. */
static void double_later(evutil_socket_t fd, short what, void *arg)
{
    tq_task *t = arg;
    struct event *ev = tq_task_data(t);
    (void)fd; (void)what;
    event_free(ev);
    tq_task_set_data(t, NULL);
    tq_task_succeed(t, json_integer(2 * json_integer_value(tq_task_args(t))));
}

static void on_double(tq_task *t, void *ud)
{
    struct timeval tv = {0, 1000};
    struct event *ev;
    (void)ud;
    if (!json_is_integer(tq_task_args(t))) {
        tq_task_fail(t, "embed.double wants an integer");
        return;
    }
    ev = evtimer_new(tq_task_base(t), double_later, t);
    tq_task_set_data(t, ev);
    evtimer_add(ev, &tv);
}

static void on_double_cancel(tq_task *t, tq_stop_reason why, void *ud)
{
    (void)why; (void)ud;
    event_free(tq_task_data(t));
}

/* embed.hang: never completes by itself; its cancel callback frees it. */
static void on_hang(tq_task *t, void *ud)
{
    (void)ud;
    tq_task_set_data(t, malloc(64));
}

static void on_hang_cancel(tq_task *t, tq_stop_reason why, void *ud)
{
    (void)ud;
    free(tq_task_data(t));
    if (why == TQ_STOP_CANCELLED)
        hang_cancels++;
}

/* ================================================================ flows */

static void flow_done(void)
{
    if (--flows == 0)
        tq_worker_stop(wk, 0); /* on_stop ends the rest */
}

/* Waits on id; checks the job succeeded with result want (JSON text). */
typedef struct expect {
    char id[TQ_ID_SIZE];
    const char *want;
    double min_delay;  /* started_at - created_at at least this */
} expect;

static void waited(tq_async *a, int err, const tq_job *job, void *ud)
{
    expect *e = ud;
    CHECK(err == 0 && job && job->state == TQ_STATE_SUCCEEDED && job->result &&
              !strcmp(job->result, e->want),
          "async wait %s: %s (result %s, want %s)", e->id,
          err ? tq_async_errstr(a) : tq_state_name(job->state),
          job && job->result ? job->result : "-", e->want);
    if (!err && e->min_delay > 0)
        CHECK(job->started_at - job->created_at >= e->min_delay,
              "delayed job started %.3f s after its submit (>= %.3f)",
              job->started_at - job->created_at, e->min_delay);
    free(e);
    flow_done();
}

static void wait_for(const char *id, const char *want, double min_delay)
{
    expect *e = calloc(1, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", id);
    e->want = want;
    e->min_delay = min_delay;
    int rv = tq_async_wait(aq, id, 10000, waited, e);
    CHECK(rv == 0, "tq_async_wait(%s) accepted", id);
}

static void submitted_double(tq_async *a, int err, const char *id, void *ud)
{
    CHECK(err == 0 && id, "async submit: %s", err ? tq_async_errstr(a) : id);
    if (!err)
        wait_for(id, ud, 0);
    else
        flow_done();
}

static void submitted_delayed(tq_async *a, int err, const char *id, void *ud)
{
    CHECK(err == 0, "async submit with a delay: %s", err ? tq_async_errstr(a) : id);
    if (!err)
        wait_for(id, "2", 0.2);
    else
        flow_done();
}

static void submitted_many(tq_async *a, int err, const char (*ids)[TQ_ID_SIZE],
                           size_t n, void *ud)
{
    static const char *want[3] = {"2", "4", "6"};
    (void)ud;
    CHECK(err == 0 && n == 3, "async submit many: %zu ids", n);
    if (err) {
        flow_done();
        return;
    }
    flows += 2; /* three waits end this flow */
    for (size_t i = 0; i < n; i++)
        wait_for(ids[i], want[i], 0);
}

/* ---------------------------------------------------------------- unique */

static char unique_first[TQ_ID_SIZE];

static void unique_cancelled(tq_async *a, int err, tq_state before, void *ud)
{
    (void)ud;
    CHECK(err == 0 && before == TQ_STATE_PENDING,
          "cancel of a pending job: was %s", err ? tq_async_errstr(a) : tq_state_name(before));
    flow_done();
}

static void unique_second(tq_async *a, int err, const char *id, void *ud)
{
    (void)ud;
    CHECK(err == 0 && !strcmp(id, unique_first),
          "a second submit with the same unique key answers the live job's id");
    if (err || tq_async_cancel(a, unique_first, unique_cancelled, NULL) != 0)
        flow_done();
}

static void unique_first_cb(tq_async *a, int err, const char *id, void *ud)
{
    tq_submit_opts *o = ud;
    CHECK(err == 0, "submit with a unique key: %s", err ? tq_async_errstr(a) : id);
    if (err) {
        flow_done();
        return;
    }
    snprintf(unique_first, sizeof unique_first, "%s", id);
    tq_async_submit(a, "embed.double", "7", o, unique_second, NULL);
}

/* ---------------------------------------------------------------- cancel a running job */

static char hang_id[TQ_ID_SIZE];
static struct event *poll_ev;

static void hang_waited(tq_async *a, int err, const tq_job *job, void *ud)
{
    (void)ud;
    CHECK(err == 0 && job->state == TQ_STATE_CANCELLED,
          "the cancelled running job ends %s", err ? tq_async_errstr(a) : tq_state_name(job->state));
    CHECK(hang_cancels == 1, "the handler's cancel callback ran once (TQ_STOP_CANCELLED): %d",
          hang_cancels);
    flow_done();
}

static void hang_cancelled(tq_async *a, int err, tq_state before, void *ud)
{
    (void)ud;
    CHECK(err == 0 && before == TQ_STATE_ACTIVE, "cancel of a running job: was %s",
          err ? tq_async_errstr(a) : tq_state_name(before));
    tq_async_wait(a, hang_id, 10000, hang_waited, NULL);
}

static void hang_status(tq_async *a, int err, const tq_job *job, void *ud)
{
    (void)ud;
    if (err) {
        CHECK(0, "status of the running job: %s", tq_async_errstr(a));
        flow_done();
        return;
    }
    if (job->state != TQ_STATE_ACTIVE) {
        struct timeval tv = {0, 20000};
        evtimer_add(poll_ev, &tv); /* look again in 20 ms */
        return;
    }
    tq_async_cancel(a, hang_id, hang_cancelled, NULL);
}

static void poll_hang(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    tq_async_status(aq, hang_id, hang_status, NULL);
}

static void hang_submitted(tq_async *a, int err, const char *id, void *ud)
{
    (void)ud;
    CHECK(err == 0, "submit embed.hang: %s", err ? tq_async_errstr(a) : id);
    if (err) {
        flow_done();
        return;
    }
    snprintf(hang_id, sizeof hang_id, "%s", id);
    poll_hang(-1, 0, NULL);
}

/* ---------------------------------------------------------------- missing, timeout */

static void missing_status(tq_async *a, int err, const tq_job *job, void *ud)
{
    (void)ud;
    CHECK(err == TQ_ENOTFOUND && !job, "status of a missing job: TQ_ENOTFOUND (%s)",
          tq_async_errstr(a));
    flow_done();
}

static void missing_wait(tq_async *a, int err, const tq_job *job, void *ud)
{
    (void)ud;
    CHECK(err == TQ_ENOTFOUND && !job, "wait on a missing job: TQ_ENOTFOUND (%s)",
          tq_async_errstr(a));
    flow_done();
}

static void timed_out(tq_async *a, int err, const tq_job *job, void *ud)
{
    (void)ud;
    CHECK(err == TQ_ETIMEDOUT && !job, "wait on a job nobody runs: TQ_ETIMEDOUT (%s)",
          tq_async_errstr(a));
    flow_done();
}

static void other_submitted(tq_async *a, int err, const char *id, void *ud)
{
    (void)ud;
    CHECK(err == 0, "submit to a queue nobody serves");
    if (err || tq_async_wait(a, id, 200, timed_out, NULL) != 0)
        flow_done();
}

static void done_at_once(tq_async *a, int err, const tq_job *job, void *ud)
{
    (void)ud;
    CHECK(err == 0 && job && job->state == TQ_STATE_SUCCEEDED,
          "wait with timeout 0 on a finished job returns its record (%s)",
          err ? tq_async_errstr(a) : tq_state_name(job->state));
    flow_done();
}

static void first_waited(tq_async *a, int err, const tq_job *job, void *ud)
{
    const char *id = ud;
    CHECK(err == 0 && job->result && !strcmp(job->result, "42"),
          "async wait on the job the blocking client submitted: %s",
          job && job->result ? job->result : tq_async_errstr(a));
    if (err || tq_async_wait(a, id, 0, done_at_once, NULL) != 0)
        flow_done();
}

/* ---------------------------------------------------------------- the end */

static void on_stop(tq_worker *w, void *ud)
{
    (void)ud;
    CHECK(1, "worker stopped; freeing it and the async client from on_stop");
    tq_worker_free(w);
    tq_async_free(aq);
    event_free(poll_ev);
    event_del(guard);
    wk = NULL;
}

static void too_long(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
    CHECK(0, "everything done within 30 s (%d flows left)", flows);
    event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
    const char *url, *ns;
    char id[TQ_ID_SIZE], ids[2][TQ_ID_SIZE], err[256], *res = NULL;
    tq_client *c;
    int rv;

    if (argc != 3) {
        fprintf(stderr, "usage: embed_check REDIS_URL NAMESPACE\n");
        return 2;
    }
    url = argv[1];
    ns = argv[2];
    printf("libtq %s\n", TQ_VERSION);

    /* ---- the blocking client */
    c = tq_client_new(url, ns);
    CHECK(tq_client_err(c) == 0, "tq_client_new: %s", tq_client_errstr(c));
    rv = tq_submit(c, "embed.double", "21", NULL, id);
    CHECK(rv == 0, "tq_submit: %s", rv ? tq_client_errstr(c) : id);
    rv = tq_result(c, id, &res);
    CHECK(rv == TQ_ETIMEDOUT && !res, "tq_result before any worker: TQ_ETIMEDOUT (%s)",
          tq_client_errstr(c));
    const char *two[2] = {"1", "{\"k\": [1, 2]}"};
    tq_submit_opts idle;
    tq_submit_opts_init(&idle);
    idle.queue = "embed-idle"; /* no worker serves it */
    rv = tq_submit_many(c, "embed.other", two, 2, &idle, ids);
    CHECK(rv == 0, "tq_submit_many: %s", rv ? tq_client_errstr(c) : ids[1]);
    rv = tq_submit(c, "embed.double", "{oops", NULL, ids[0]);
    CHECK(rv == TQ_EINVAL, "tq_submit of invalid JSON: TQ_EINVAL (%s)", tq_client_errstr(c));

    /* ---- an async client and a worker on the caller's base */
    base = event_base_new();
    tq_worker_opts o;
    tq_worker_opts_init(&o);
    o.redis_url = url;
    o.ns = ns;
    o.base = base;
    o.concurrency = 8;
    o.name = "embed";
    o.shutdown_grace_ms = 2000;
    o.on_stop = on_stop;
    wk = tq_worker_new(&o, err, sizeof err);
    CHECK(wk != NULL, "tq_worker_new: %s", wk ? "ok" : err);
    if (!wk)
        return 1;
    CHECK(tq_worker_register(wk, "embed.double", on_double, on_double_cancel, NULL) == 0,
          "register embed.double");
    CHECK(tq_worker_register(wk, "embed.hang", on_hang, on_hang_cancel, NULL) == 0,
          "register embed.hang");
    CHECK(tq_worker_start(wk) == 0, "tq_worker_start on the caller's base");

    aq = tq_async_new(base, url, ns);
    CHECK(aq && tq_async_err(aq) == 0, "tq_async_new: %s", tq_async_errstr(aq));
    poll_ev = evtimer_new(base, poll_hang, NULL);

    tq_submit_opts so;
    static tq_submit_opts uo, other;
    const char *many[3] = {"1", "2", "3"};

    flows = 9;
    CHECK(tq_async_wait(aq, id, 10000, first_waited, id) == 0, "wait accepted");
    CHECK(tq_async_submit(aq, "embed.double", "5", NULL, submitted_double, "10") == 0,
          "submit accepted");
    CHECK(tq_async_submit_many(aq, "embed.double", many, 3, NULL, submitted_many, NULL) == 0,
          "submit many accepted");
    tq_submit_opts_init(&so);
    so.delay_ms = 400; /* from Redis's TIME: created_at comes a round trip later */
    CHECK(tq_async_submit(aq, "embed.double", "1", &so, submitted_delayed, NULL) == 0,
          "delayed submit accepted");
    tq_submit_opts_init(&uo);
    uo.queue = "embed-idle";
    uo.unique = "only-one";
    CHECK(tq_async_submit(aq, "embed.double", "7", &uo, unique_first_cb, &uo) == 0,
          "unique submit accepted");
    CHECK(tq_async_submit(aq, "embed.hang", NULL, NULL, hang_submitted, NULL) == 0,
          "submit embed.hang accepted");
    CHECK(tq_async_status(aq, "nosuchjob", missing_status, NULL) == 0, "status accepted");
    CHECK(tq_async_wait(aq, "nosuchjob", 5000, missing_wait, NULL) == 0, "wait accepted");
    tq_submit_opts_init(&other);
    other.queue = "embed-idle";
    CHECK(tq_async_submit(aq, "embed.double", "3", &other, other_submitted, NULL) == 0,
          "submit to an idle queue accepted");
    CHECK(tq_async_submit(aq, "", "1", NULL, submitted_double, NULL) == TQ_EINVAL,
          "async submit without a task: TQ_EINVAL (%s)", tq_async_errstr(aq));

    guard = evtimer_new(base, too_long, NULL);
    struct timeval limit = {30, 0};
    evtimer_add(guard, &limit);
    /* No loopexit: the loop ends by itself once the worker and the client
     * are gone and the guard is deleted, which proves they leave nothing
     * behind on the caller's base. */
    event_base_dispatch(base);
    event_free(guard);
    if (wk) {
        tq_worker_free(wk);
        tq_async_free(aq);
        event_free(poll_ev);
    }
    event_base_free(base);

    /* ---- the blocking client again, after the worker ran the job */
    rv = tq_result(c, id, &res);
    CHECK(rv == 0 && res && !strcmp(res, "42"), "tq_result: %s", res ? res : tq_client_errstr(c));
    free(res);
    tq_job *j = NULL;
    rv = tq_status(c, ids[1], &j);
    CHECK(rv == 0 && j->state == TQ_STATE_PENDING && !strcmp(j->args, "{\"k\":[1,2]}"),
          "tq_status: %s args %s", j ? tq_state_name(j->state) : tq_client_errstr(c),
          j ? j->args : "-");
    char *js = tq_job_json(j);
    CHECK(js && strstr(js, "\"state\":\"pending\""), "tq_job_json: %s", js ? js : "NULL");
    free(js);
    tq_job_free(j);
    tq_state before;
    rv = tq_cancel(c, ids[1], &before);
    CHECK(rv == 0 && before == TQ_STATE_PENDING, "tq_cancel: was %s", tq_state_name(before));
    tq_client_free(c);

    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
