/* tserver.c -- task servers: long-lived processes that run many jobs each,
 * spoken to in JSON lines over their stdin and stdout (SPEC §13; the
 * protocol is docs/task-servers.md). This file is the pool: the servers,
 * their jobs, dispatch, registering and the worker's hooks; a process's
 * life and its lines are tserver_proc.c's (records in tserver_private.h).
 *
 * A task server is K processes of one COMMAND serving a set of task names.
 * Each name is an ordinary handler of the worker (handler + cancel
 * callback), so a job of it holds a slot, obeys --limit, semaphores, rate
 * limits, its lease, its timeout and cancellation exactly as any other job:
 * the worker decides when a job starts and stops, these files only carry
 * it to a process and the answer back.
 *
 * A job's life here: the server's FIFO -> sent to the ready process with
 * the fewest in flight and room (at most M each) -> answered
 * ({"id","result"} / {"id","error"}: the task completes) or stopped by the
 * worker (cancel callback: a {"cancel"} line is sent and the job stays on
 * the process's list, task-less, until the process answers; no answer
 * within --kill-grace and the process is killed). A job the processes have
 * no room for (K*M in flight) waits in the FIFO, holding its slot; its
 * timeout runs from the start, as for any job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/tserver_private.h"

static void ts_run(tq_task *t, void *ud);

/* ================================================================ jobs */

static void list_add(ts_job **head, ts_job *j)
{
    j->prev = NULL;
    j->next = *head;
    if (*head)
        (*head)->prev = j;
    *head = j;
}

static void list_del(ts_job **head, ts_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        *head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
}

static void fifo_push(ts_server *s, ts_job *j)
{
    j->next = NULL;
    j->prev = s->fifo_tail;
    if (s->fifo_tail)
        s->fifo_tail->next = j;
    else
        s->fifo = j;
    s->fifo_tail = j;
}

static void fifo_del(ts_server *s, ts_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        s->fifo = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        s->fifo_tail = j->prev;
    j->prev = j->next = NULL;
}

void wk_ts_job_free(ts_job *j)
{
    if (j->grace_ev)
        event_free(j->grace_ev);
    free(j);
}

/* Takes j off its process (it was answered, or the process is gone). */
void wk_ts_job_unlink(ts_job *j)
{
    ts_proc *p = j->p;

    list_del(&p->jobs, j);
    p->inflight--;
    if (!j->t)
        p->nstopped--;
    j->p = NULL;
}

/* ================================================================ dispatch */

/* The ready process with the fewest jobs in flight and room for one more. */
static ts_proc *pick(ts_server *s)
{
    ts_proc *best = NULL;
    int i;

    for (i = 0; i < s->nprocs; i++) {
        ts_proc *p = &s->procs[i];
        if (p->st != TS_READY || p->inflight >= s->inflight)
            continue;
        if (!best || p->inflight < best->inflight)
            best = p;
    }
    return best;
}

void wk_ts_dispatch(ts_server *s)
{
    ts_proc *p;

    while (s->fifo && (p = pick(s))) {
        ts_job *j = s->fifo;
        fifo_del(s, j);
        j->p = p;
        list_add(&p->jobs, j);
        p->inflight++;
        wk_ts_proc_send_job(p, j);
    }
}

/* The handler of every task a server serves: the job waits in the FIFO
 * for room on a ready process (now, usually). */
static void ts_run(tq_task *t, void *ud)
{
    ts_server *s = ud;
    ts_job *j = calloc(1, sizeof *j);

    if (!j) {
        tq_task_fail(t, "worker out of memory");
        return;
    }
    j->t = t;
    j->s = s;
    snprintf(j->id, sizeof j->id, "%s", t->id);
    tq_task_set_data(t, j);
    fifo_push(s, j);
    wk_ts_dispatch(s);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    ts_job *j = arg;
    ts_proc *p = j->p;
    char why[160];

    if (!p)
        return;
    wk_log(p->s->w, TQ_LOG_WARN, NULL,
           "task server %s (pid %ld): job %s not answered within --kill-grace "
           "of its cancel: killing the process", p->s->names, (long)p->pid,
           j->id);
    snprintf(why, sizeof why, "task server died (killed: it did not answer "
             "a cancel within --kill-grace)");
    wk_ts_proc_down(p, why); /* frees j */
}

/* The cancel callback: the task is gone when this returns. A job still in
 * the FIFO just goes; one a process has is told to stop and kept, task-less,
 * until the process answers it (or is killed after --kill-grace). */
static void ts_stop(tq_task *t, tq_stop_reason why, void *ud)
{
    ts_server *s = ud;
    ts_job *j = tq_task_data(t);
    ts_proc *p;

    if (!j)
        return;
    tq_task_set_data(t, NULL);
    j->t = NULL;
    if (!(p = j->p)) {
        fifo_del(s, j);
        wk_ts_job_free(j);
        return;
    }
    p->nstopped++;
    j->grace_ev = evtimer_new(s->w->base, grace_cb, j);
    if (!j->grace_ev || wk_ts_proc_send_cancel(p, j, why) != 0) {
        /* cannot even say it: the process must go */
        wk_ts_proc_down(p, "task server died (worker out of memory)");
        return;
    }
    tq_timer_ms(j->grace_ev, s->w->o.kill_grace_ms);
}

/* ================================================================ answers and start-up */

/* The job of p with this id: a stopped one waiting for its answer first
 * (that answer is due first, if the job came back to this process), else
 * the running one, found through the worker's table of running tasks (so
 * an answer costs the same whatever M is). NULL when p has none. */
ts_job *wk_ts_job_find(ts_proc *p, const char *id)
{
    ts_job *j;
    tq_task *t;

    if (p->nstopped > 0)
        for (j = p->jobs; j; j = j->next)
            if (!j->t && strcmp(j->id, id) == 0)
                return j;
    t = wk_task_find(p->s->w, id, NULL);
    if (!t || !t->h || t->h->fn != ts_run || !(j = tq_task_data(t)) ||
        j->p != p)
        return NULL;
    return j;
}

/* s's first start is over (a process is ready, or the first try failed):
 * when it was the last one, the worker may claim. */
void wk_ts_first_start_over(ts_server *s)
{
    if (s->up_once)
        return;
    s->up_once = 1;
    if (--s->w->ts->starting == 0)
        wk_kick(s->w);
}

/* A process of s failed to start (no hello, an exit before it, a spawn
 * that failed): if none of s's processes is ready, the jobs waiting in the
 * FIFO fail (and are retried as any failure) rather than wait, holding
 * their slots, for a server that may never come up. */
void wk_ts_fifo_fail_if_none_ready(ts_server *s, const char *why)
{
    char msg[256];
    int i;

    wk_ts_first_start_over(s);
    for (i = 0; i < s->nprocs; i++)
        if (s->procs[i].st == TS_READY)
            return;
    snprintf(msg, sizeof msg, "task server not running (%s)", why);
    while (s->fifo) {
        ts_job *j = s->fifo;
        tq_task *t = j->t;
        fifo_del(s, j);
        wk_ts_job_free(j);
        tq_task_set_data(t, NULL);
        tq_task_fail(t, msg);
    }
}

/* ================================================================ registering */

static char **strv_dup(const char *const *v)
{
    size_t n = 0, i;
    char **c;

    while (v[n])
        n++;
    if (!(c = calloc(n + 1, sizeof *c)))
        return NULL;
    for (i = 0; i < n; i++)
        if (!(c[i] = strdup(v[i]))) {
            while (i > 0)
                free(c[--i]);
            free(c);
            return NULL;
        }
    return c;
}

static void strv_free(char **v)
{
    size_t i;

    for (i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void server_free(ts_server *s)
{
    int i;

    if (!s)
        return;
    for (i = 0; s->procs && i < s->nprocs; i++)
        wk_ts_proc_free(&s->procs[i]);
    while (s->fifo) {
        ts_job *j = s->fifo;
        fifo_del(s, j);
        if (j->t)
            tq_task_set_data(j->t, NULL);
        wk_ts_job_free(j);
    }
    free(s->procs);
    strv_free(s->tasks);
    strv_free(s->argv);
    free(s->names);
    free(s->hello);
    free(s);
}

/* The hello line: {"hello":1,"tasks":[...],"inflight":M}. */
static char *make_hello(ts_server *s)
{
    json_t *o = json_object(), *a = json_array();
    char *txt = NULL, *line = NULL;
    size_t i;

    if (o && a) {
        for (i = 0; s->tasks[i]; i++)
            json_array_append_new(a, json_string(s->tasks[i]));
        json_object_set_new(o, "hello", json_integer(TS_PROTOCOL));
        json_object_set(o, "tasks", a);
        json_object_set_new(o, "inflight", json_integer(s->inflight));
        txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    json_decref(a);
    json_decref(o);
    if (txt && (line = malloc(strlen(txt) + 2)))
        sprintf(line, "%s\n", txt);
    free(txt);
    return line;
}

int tq_worker_register_server(tq_worker *w, const char *const *tasks,
                              const char *const *argv, int procs, int inflight,
                              int64_t start_timeout_ms)
{
    ts_server *s;
    tq_perr e;
    size_t i, len = 0;
    int k;

    if (!w || !tasks || !tasks[0] || !argv || !argv[0] || !argv[0][0])
        return TQ_EINVAL;
    if (procs < 1 || procs > 1000 || inflight < 1 || inflight > 100000 ||
        start_timeout_ms < 0) {
        snprintf(w->err, sizeof w->err,
                 "task server: procs must be 1..1000, inflight 1..100000");
        return TQ_EINVAL;
    }
    for (i = 0; tasks[i]; i++) {
        wk_handler *h;
        if (tq_name_check("task", tasks[i], &e) != 0) {
            snprintf(w->err, sizeof w->err, "%s", e.text);
            return TQ_EINVAL;
        }
        if ((h = wk_handler_find(w, tasks[i])) && h->running > 0) {
            snprintf(w->err, sizeof w->err, "task '%s' has jobs running",
                     tasks[i]);
            return TQ_EINVAL;
        }
        len += strlen(tasks[i]) + 1;
    }
    if (!w->ts && !(w->ts = calloc(1, sizeof *w->ts)))
        return TQ_ENOMEM;
    if (!(s = calloc(1, sizeof *s)))
        return TQ_ENOMEM;
    s->w = w;
    s->nprocs = procs;
    s->inflight = inflight;
    s->start_ms = start_timeout_ms > 0 ? start_timeout_ms : 30000;
    s->tasks = strv_dup(tasks);
    s->argv = strv_dup(argv);
    s->names = calloc(1, len + 1);
    s->procs = calloc((size_t)procs, sizeof *s->procs);
    if (!s->tasks || !s->argv || !s->names || !s->procs)
        goto oom;
    for (i = 0; tasks[i]; i++) {
        if (i)
            strcat(s->names, ",");
        strcat(s->names, tasks[i]);
    }
    if (!(s->hello = make_hello(s)))
        goto oom;
    for (k = 0; k < procs; k++)
        if (wk_ts_proc_init(&s->procs[k], s) != 0)
            goto oom;
    for (i = 0; tasks[i]; i++) {
        int rc = tq_worker_register(w, tasks[i], ts_run, ts_stop, s);
        if (rc != 0) {
            while (i > 0) { /* the names registered before: no handler */
                wk_handler *h = wk_handler_find(w, tasks[--i]);
                h->fn = NULL;
                h->cancel = NULL;
                h->ud = NULL;
            }
            server_free(s);
            return rc;
        }
    }
    s->next = w->ts->list;
    w->ts->list = s;
    if (w->ts->started) {
        w->ts->starting++;
        for (k = 0; k < procs; k++)
            wk_ts_proc_start(&s->procs[k]);
    }
    return 0;

oom:
    server_free(s);
    return TQ_ENOMEM;
}

/* ================================================================ the worker's hooks */

/* fn on every process of every server. */
static void each_proc(tq_worker *w, void (*fn)(ts_proc *p))
{
    ts_server *s;
    int k;

    for (s = w->ts->list; s; s = s->next)
        for (k = 0; k < s->nprocs; k++)
            fn(&s->procs[k]);
}

void wk_tserver_start(tq_worker *w)
{
    ts_server *s;

    if (!w->ts || w->ts->started)
        return;
    w->ts->started = 1;
    for (s = w->ts->list; s; s = s->next)
        w->ts->starting++;
    each_proc(w, wk_ts_proc_start);
}

int wk_tserver_holding(const tq_worker *w)
{
    return w->ts && w->ts->starting > 0 && !w->ts->stopping;
}

/* The worker has no job left (shutdown, FINAL): no more restarts; each
 * process's stdin is closed once what waits for it (cancel lines) is
 * written, so a well-behaved server exits; SIGTERM after --kill-grace,
 * SIGKILL after another. */
void wk_tserver_stop(tq_worker *w)
{
    if (!w->ts || w->ts->stopping)
        return;
    w->ts->stopping = 1;
    each_proc(w, wk_ts_proc_stop);
}

size_t wk_tserver_alive(const tq_worker *w)
{
    const ts_server *s;
    size_t n = 0;
    int k;

    if (!w->ts)
        return 0;
    for (s = w->ts->list; s; s = s->next)
        for (k = 0; k < s->nprocs; k++)
            if (s->procs[k].pid > 0)
                n++;
    return n;
}

/* The worker stops (finish) or is freed: SIGKILL what is left, reap it if
 * it goes at once, forget the rest (init reaps it). */
void wk_tserver_finish(tq_worker *w)
{
    if (!w->ts)
        return;
    w->ts->stopping = 1;
    each_proc(w, wk_ts_proc_kill);
}

void wk_tserver_free(tq_worker *w)
{
    ts_server *s, *n;

    if (!w->ts)
        return;
    wk_tserver_finish(w);
    for (s = w->ts->list; s; s = n) {
        n = s->next;
        server_free(s);
    }
    free(w->ts);
    w->ts = NULL;
}

void wk_tserver_counts(const tq_worker *w, int *up, unsigned long *restarts,
                       int *procs)
{
    const ts_server *s;

    *up = 0;
    *restarts = 0;
    *procs = 0;
    if (!w->ts)
        return;
    *up = w->ts->up;
    *restarts = w->ts->restarts;
    for (s = w->ts->list; s; s = s->next)
        *procs += s->nprocs;
}
