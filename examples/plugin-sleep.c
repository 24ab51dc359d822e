/* plugin-sleep.c -- a tq-worker plugin whose handler works asynchronously
 * on the worker's loop and honours cancellation.
 *
 *   cc -fPIC -shared $(pkg-config --cflags tq) -o plugin-sleep.so plugin-sleep.c
 *   tq-worker --plugin ./plugin-sleep.so
 *   tq submit --wait example.sleep '{"ms": 250}'     -> {"slept_ms":250}
 *   tq submit example.sleep 60000; tq cancel ID       -> the job ends cancelled
 *   tq submit --wait example.naps                    -> {"started":2,...}
 *
 * example.sleep arms an evtimer on the worker's event_base and returns at
 * once: the slot is taken, the loop is free (leases are renewed, other jobs
 * run). When the timer fires the task succeeds. If the job is cancelled, times
 * out, or the worker stops first, the worker calls on_cancel instead: the
 * handler frees its timer there and must not complete the task.
 *
 * example.naps reports the plugin's counters (a plugin lives as long as the
 * process, so plain static state is fine here).
 */
#include <stdlib.h>

#include <event2/event.h>
#include <tq/worker.h>

/* What one sleeping task holds: its timer, and how long it sleeps. */
typedef struct nap {
    struct event *timer;
    tq_task *task;
    json_int_t ms;
} nap;

static struct {
    json_int_t started, finished, cancelled, timed_out, given_back;
} counts;

static void woke(evutil_socket_t fd, short what, void *arg)
{
    nap *n = arg;
    tq_task *t = n->task;
    json_int_t ms = n->ms;

    (void)fd; (void)what;
    event_free(n->timer);
    free(n);
    tq_task_set_data(t, NULL);
    counts.finished++;
    tq_task_succeed(t, json_pack("{s:I}", "slept_ms", ms)); /* steals the value */
}

/* args: a number of milliseconds, or {"ms": N}. */
static void on_sleep(tq_task *t, void *ud)
{
    json_t *args = tq_task_args(t);
    json_t *v = json_is_object(args) ? json_object_get(args, "ms") : args;
    nap *n;

    (void)ud;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        tq_task_fail(t, "example.sleep: args must be a number of ms or {\"ms\": N}");
        return;
    }
    if (!(n = calloc(1, sizeof *n)) ||
        !(n->timer = evtimer_new(tq_task_base(t), woke, n))) {
        free(n);
        tq_task_fail(t, "example.sleep: out of memory");
        return;
    }
    n->task = t;
    n->ms = json_integer_value(v);
    struct timeval tv = {(time_t)(n->ms / 1000), (suseconds_t)(n->ms % 1000) * 1000};
    evtimer_add(n->timer, &tv);
    tq_task_set_data(t, n);
    counts.started++;
}

/* The job was cancelled, timed out, or the worker is stopping: drop the
 * timer. The task is gone when this returns. */
static void on_cancel(tq_task *t, tq_stop_reason why, void *ud)
{
    nap *n = tq_task_data(t);

    (void)ud;
    if (n) {
        event_free(n->timer); /* deletes it too: woke() never runs */
        free(n);
        tq_task_set_data(t, NULL);
    }
    switch (why) {
    case TQ_STOP_CANCELLED: counts.cancelled++; break;
    case TQ_STOP_TIMEOUT:   counts.timed_out++; break;
    default:                counts.given_back++; break;
    }
}

static void on_naps(tq_task *t, void *ud)
{
    (void)ud;
    tq_task_succeed(t, json_pack("{s:I, s:I, s:I, s:I, s:I}",
                                 "started", counts.started,
                                 "finished", counts.finished,
                                 "cancelled", counts.cancelled,
                                 "timed_out", counts.timed_out,
                                 "given_back", counts.given_back));
}

int tq_plugin_init(tq_worker *w)
{
    int rc = tq_worker_register(w, "example.sleep", on_sleep, on_cancel, NULL);
    if (rc == 0)
        rc = tq_worker_register(w, "example.naps", on_naps, NULL, NULL);
    return rc;
}
