/* plugin.c -- the chaos suite's tq-worker plugin: task chaos.rec, a handler
 * that records every execution it makes.
 *
 *   cc -shared -fPIC -std=c11 -Iinclude $(pkg-config --cflags jansson libevent) \
 *      -o build/chaos/chaos.so chaos/plugin.c
 *   CHAOS_HOST=w1 CHAOS_EXEC_DIR=OUT/exec tq-worker --plugin build/chaos/chaos.so ...
 *
 * The one idea: the checker can only account for what it can see, so every
 * delivery a handler receives leaves a line in CHAOS_EXEC_DIR/<host>-<pid>.jsonl
 * (a "start" with the delivery's id, attempt and fencing token), and every way
 * the delivery ends, but one, leaves a second ("end": ok or fail when the
 * plugin completes it, stop with the reason when the worker calls the cancel
 * callback). The exception is SIGKILL: a start without an end. Each line is
 * one write(2) on an O_APPEND file, so lines never interleave or tear, and a
 * line written is in the file even if the process dies the next instant.
 *
 * What a job does is in its args ("k", the kind; see docs/chaos.md): wait
 * "ms" milliseconds on an evtimer of the worker's loop (never blocking it),
 * then succeed or fail as the kind says. A fan-in's args are the array of its
 * group members' results. Anything else fails at once with a clear error and
 * is recorded with kind "bad".
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <tq/worker.h>

#define MS_MAX 600000 /* a job never waits more than 10 min, whatever its args */

/* ---------------------------------------------------------------- the record file */

static int rec_fd = -1;
static char rec_host[256];
static long rec_pid;
static int rec_warned;

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends obj (stolen) as one compact line with one write(2). A failed write
 * is reported on stderr once (the worker goes on: the checker will then see
 * the hole and fail the run, which is the point). */
static void rec_write(json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    size_t len;
    ssize_t n;

    json_decref(obj);
    if (!s) {
        if (!rec_warned++)
            fprintf(stderr, "chaos.rec: cannot format a record (out of memory)\n");
        return;
    }
    len = strlen(s);
    s[len] = '\n'; /* the NUL's byte becomes the newline: len + 1 bytes */
    do
        n = write(rec_fd, s, len + 1);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)(len + 1) && !rec_warned++)
        fprintf(stderr, "chaos.rec: writing an execution record: %s\n",
                n < 0 ? strerror(errno) : "short write");
    free(s);
}

/* The fields every record of a delivery carries: ev, id, att, tok. */
static json_t *rec_new(const char *ev, tq_task *t)
{
    const char *tok = tq_task_token(t);
    return json_pack("{s:s, s:s, s:i, s:o}", "ev", ev, "id", tq_task_id(t),
                     "att", tq_task_attempt(t),
                     "tok", tok ? json_string(tok) : json_null());
}

static void rec_start(tq_task *t, const char *kind, json_t *n)
{
    json_t *o = rec_new("start", t);
    json_t *args = tq_task_args(t);

    if (o) {
        json_object_set_new(o, "host", json_string(rec_host));
        json_object_set_new(o, "pid", json_integer(rec_pid));
        json_object_set_new(o, "t", json_real(now_real()));
        json_object_set_new(o, "k", json_string(kind));
        json_object_set_new(o, "n", n && json_is_integer(n) ? json_incref(n) : json_null());
        json_object_set_new(o, "args", args ? json_incref(args) : json_null());
    }
    rec_write(o);
}

/* out: "ok", "fail" or "stop" (why is then the reason, else NULL). */
static void rec_end(tq_task *t, const char *out, const char *why)
{
    json_t *o = rec_new("end", t);

    if (o) {
        json_object_set_new(o, "t", json_real(now_real()));
        json_object_set_new(o, "out", json_string(out));
        if (why)
            json_object_set_new(o, "why", json_string(why));
    }
    rec_write(o);
}

/* ---------------------------------------------------------------- one run */

/* What a waiting delivery holds until its timer fires or it is stopped: the
 * timer, and the outcome decided when it started (result to succeed with, or
 * the error to fail with). */
typedef struct run {
    struct event *timer;
    tq_task *task;
    json_t *result;     /* owned; NULL with error set = fail */
    const char *error;  /* static text */
} run;

static void run_free(run *r)
{
    if (!r)
        return;
    if (r->timer)
        event_free(r->timer); /* deletes it too */
    json_decref(r->result);
    free(r);
}

static void finish(tq_task *t, json_t *result, const char *error)
{
    if (error) {
        json_decref(result);
        rec_end(t, "fail", NULL);
        tq_task_fail(t, error);
    } else {
        rec_end(t, "ok", NULL);
        tq_task_succeed(t, result); /* steals result */
    }
}

static void woke(evutil_socket_t fd, short what, void *arg)
{
    run *r = arg;
    tq_task *t = r->task;
    json_t *result = r->result;
    const char *error = r->error;

    (void)fd; (void)what;
    r->result = NULL;
    tq_task_set_data(t, NULL);
    run_free(r);
    finish(t, result, error);
}

/* ---------------------------------------------------------------- the handler */

static const char *const kinds[] = {
    "plain", "retry", "timeout", "cancel", "chain", "member", "sem", "delay", NULL
};

static json_int_t int_field(json_t *o, const char *key, json_int_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* Decides what the delivery will do: *kind, *ms, and the outcome (a result,
 * stolen by the caller, or *error). Returns 0, or -1 for args it does not
 * know (*error says why). */
static int plan(tq_task *t, const char **kind, json_int_t *ms, json_t **result,
                const char **error)
{
    json_t *args = tq_task_args(t);
    json_t *k, *n;
    size_t i;

    *kind = "bad";
    *ms = 0;
    *result = NULL;
    *error = NULL;
    if (json_is_array(args)) {
        *kind = "fanin";
        *result = json_pack("{s:I}", "fanin", (json_int_t)json_array_size(args));
        return 0;
    }
    k = json_is_object(args) ? json_object_get(args, "k") : NULL;
    for (i = 0; json_is_string(k) && kinds[i]; i++)
        if (!strcmp(json_string_value(k), kinds[i]))
            break;
    if (!json_is_string(k) || !kinds[i]) {
        *error = "chaos: args are neither an object with a known \"k\" nor an array";
        return -1;
    }
    *kind = kinds[i];
    *ms = int_field(args, "ms", 0);
    if (*ms < 0)
        *ms = 0;
    if (*ms > MS_MAX)
        *ms = MS_MAX;
    n = json_object_get(args, "n");
    if (!strcmp(*kind, "retry") && tq_task_attempt(t) <= int_field(args, "f", 0)) {
        *error = "chaos: planned failure";
    } else if (!strcmp(*kind, "chain")) {
        *result = json_deep_copy(args);
        if (*result)
            json_object_set_new(*result, "step",
                                json_integer(int_field(args, "step", 0) + 1));
    } else if (!strcmp(*kind, "member")) {
        *result = json_pack("{s:O, s:O}", "n", n ? n : json_null(),
                            "i", json_object_get(args, "i") ? json_object_get(args, "i")
                                                            : json_null());
    } else {
        *result = json_pack("{s:O}", "n", n ? n : json_null());
    }
    if (!*error && !*result) {
        *error = "chaos: out of memory";
        return -1;
    }
    return 0;
}

static void on_rec(tq_task *t, void *ud)
{
    json_t *args = tq_task_args(t);
    const char *kind, *error;
    json_int_t ms;
    json_t *result;
    run *r;

    (void)ud;
    int bad = plan(t, &kind, &ms, &result, &error) < 0;
    rec_start(t, kind, json_is_object(args) ? json_object_get(args, "n") : NULL);
    if (bad) {
        finish(t, result, error);
        return;
    }
    if (!(r = calloc(1, sizeof *r)) ||
        !(r->timer = evtimer_new(tq_task_base(t), woke, r))) {
        free(r);
        json_decref(result);
        finish(t, NULL, "chaos: out of memory");
        return;
    }
    r->task = t;
    r->result = result;
    r->error = error;
    tq_task_set_data(t, r);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(r->timer, &tv);
}

/* Timed out, cancelled, lease lost or worker stopping: drop the run, record
 * why. The task is gone when this returns. */
static void on_rec_cancel(tq_task *t, tq_stop_reason why, void *ud)
{
    static const char *const names[] = {
        [TQ_STOP_TIMEOUT] = "timeout", [TQ_STOP_CANCELLED] = "cancelled",
        [TQ_STOP_LOST] = "lost", [TQ_STOP_SHUTDOWN] = "shutdown",
    };
    const char *w = why >= TQ_STOP_TIMEOUT && why <= TQ_STOP_SHUTDOWN ? names[why] : "unknown";

    (void)ud;
    run_free(tq_task_data(t));
    tq_task_set_data(t, NULL);
    rec_end(t, "stop", w);
}

/* ---------------------------------------------------------------- init */

int tq_plugin_init(tq_worker *w)
{
    const char *dir = getenv("CHAOS_EXEC_DIR");
    const char *host = getenv("CHAOS_HOST");
    char path[4096];
    int n;

    if (!dir || !*dir) {
        fprintf(stderr, "chaos.rec: CHAOS_EXEC_DIR is not set (the directory for "
                        "the execution records)\n");
        return TQ_EINVAL;
    }
    if (host && *host)
        snprintf(rec_host, sizeof rec_host, "%s", host);
    else if (gethostname(rec_host, sizeof rec_host - 1) != 0)
        snprintf(rec_host, sizeof rec_host, "unknown");
    rec_pid = (long)getpid();
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "chaos.rec: mkdir %s: %s\n", dir, strerror(errno));
        return TQ_EINVAL;
    }
    n = snprintf(path, sizeof path, "%s/%s-%ld.jsonl", dir, rec_host, rec_pid);
    if (n < 0 || (size_t)n >= sizeof path) {
        fprintf(stderr, "chaos.rec: CHAOS_EXEC_DIR is too long\n");
        return TQ_EINVAL;
    }
    if (rec_fd < 0)
        rec_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (rec_fd < 0) {
        fprintf(stderr, "chaos.rec: open %s: %s\n", path, strerror(errno));
        return TQ_EINVAL;
    }
    return tq_worker_register(w, "chaos.rec", on_rec, on_rec_cancel, NULL);
}
