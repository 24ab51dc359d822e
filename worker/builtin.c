/* builtin.c -- the tasks every worker has: tq.noop, tq.sleep, tq.fail.
 *
 * They are registered through the public handler API, like any plugin's, and
 * serve as its smallest examples: a handler that completes at once, one that
 * waits on a timer of the loop (and drops it in its cancel callback), and one
 * that fails.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "worker/worker_private.h"

#define SLEEP_MAX_MS 1e10 /* ~115 days */

/* tq.noop: result = args. */
static void noop_run(tq_task *t, void *ud)
{
    tq_task_succeed(t, json_incref(tq_task_args(t)));
}

/* tq.sleep: args = N or {"ms": N}; waits N ms on the loop; result = args. */
static void sleep_fire(evutil_socket_t fd, short what, void *arg)
{
    tq_task *t = arg;
    struct event *ev = tq_task_data(t);

    tq_task_set_data(t, NULL);
    event_free(ev);
    tq_task_succeed(t, json_incref(tq_task_args(t)));
}

static void sleep_run(tq_task *t, void *ud)
{
    json_t *a = tq_task_args(t), *v = a;
    struct event *ev;
    struct timeval tv;
    double ms;

    if (json_is_object(a))
        v = json_object_get(a, "ms");
    if (!json_is_number(v)) {
        tq_task_fail(t, "tq.sleep: args must be a number of milliseconds "
                        "or {\"ms\": N}");
        return;
    }
    ms = json_number_value(v);
    if (!isfinite(ms) || ms < 0 || ms > SLEEP_MAX_MS) {
        tq_task_fail(t, "tq.sleep: milliseconds must be between 0 and 1e10");
        return;
    }
    ev = evtimer_new(tq_task_base(t), sleep_fire, t);
    if (!ev) {
        tq_task_fail(t, "tq.sleep: out of memory");
        return;
    }
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms - (double)tv.tv_sec * 1000) * 1000);
    tq_task_set_data(t, ev);
    evtimer_add(ev, &tv);
}

static void sleep_cancel(tq_task *t, tq_stop_reason why, void *ud)
{
    struct event *ev = tq_task_data(t);

    if (ev)
        event_free(ev);
    tq_task_set_data(t, NULL);
}

/* tq.fail: fails with args as the error (a string's contents, else JSON). */
static void fail_run(tq_task *t, void *ud)
{
    json_t *a = tq_task_args(t);
    char *s;

    if (json_is_string(a)) {
        tq_task_fail(t, json_string_value(a));
        return;
    }
    s = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
    tq_task_fail(t, s ? s : "failed");
    free(s);
}

int wk_builtins_register(tq_worker *w)
{
    int rc;

    if ((rc = tq_worker_register(w, "tq.noop", noop_run, NULL, NULL)) != 0 ||
        (rc = tq_worker_register(w, "tq.sleep", sleep_run, sleep_cancel,
                                 NULL)) != 0 ||
        (rc = tq_worker_register(w, "tq.fail", fail_run, NULL, NULL)) != 0)
        return rc;
    return 0;
}
