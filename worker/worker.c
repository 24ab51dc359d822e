/* worker.c -- the worker library's public face: options, new/free,
 * start/run/stop, the loop turn and shutdown; the wiring of the parts.
 *
 * worker.c is the only file that knows every part: it hands the link's
 * on_up/on_down to reporting and claiming (the link layer never calls up),
 * and the loop turn decides the order of acks and claims. Each part keeps
 * its own state (worker_private.h) and is driven through its functions.
 *
 * Shutdown is a small state machine driven from the loop turn: RUNNING ->
 * DRAINING (no claims; running jobs get --shutdown-grace) -> FINAL (no jobs;
 * the last acks are flushed and answered, the worker deregisters) -> STOPPED
 * (every event removed, so the loop can end).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/random.h>

#include "worker/worker_private.h"

/* ================================================================ helpers */

double wk_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: jitter and worker-id suffixes need spread, not secrecy. */
static uint64_t rng_next(tq_worker *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 2685821657736338717ULL;
}

double wk_rand01(tq_worker *w)
{
    return (double)(rng_next(w) >> 11) / 9007199254740992.0;
}

int wk_log_on(const tq_worker *w, tq_log_level lvl)
{
    return w->o.log != NULL && lvl >= w->o.log_level;
}

#define WK_LOG_FIELDS 8 /* key, value pairs a log line carries at most */

void wk_log(tq_worker *w, tq_log_level lvl, const char *const *fields,
            const char *fmt, ...)
{
    char buf[4096], line[4096], vals[4096];
    const char *f[2 * WK_LOG_FIELDS + 1];
    size_t i, used = 0;
    va_list ap;

    if (!wk_log_on(w, lvl))
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* One line whatever the arguments held (a Redis error text, a job's
     * name): a reply must not forge log lines or send terminal escapes.
     * The fields' values too (a job id from a claim reply): each is cleaned
     * into vals, the keys are the callers' literals. */
    tq_text_clean(line, sizeof line, buf, strlen(buf), 1);
    for (i = 0; fields && fields[i] && fields[i + 1] && i < 2 * WK_LOG_FIELDS; i += 2) {
        f[i] = fields[i];
        f[i + 1] = vals + used;
        used += tq_text_clean(vals + used, sizeof vals - used, fields[i + 1],
                              strlen(fields[i + 1]), 1) + 1;
        if (used >= sizeof vals)
            used = sizeof vals - 1; /* the rest get "" */
    }
    f[i] = NULL;
    w->o.log(lvl, line, fields ? f : NULL, w->o.log_ud);
}

/* ================================================================ options, new, free */

void tq_worker_opts_init(tq_worker_opts *o)
{
    memset(o, 0, sizeof *o);
    o->concurrency = 10;
    o->lease_ms = 30000;
    o->default_timeout_ms = 0;
    o->shutdown_grace_ms = 30000;
    o->kill_grace_ms = 5000;
    o->max_result = TQ_MAX_RESULT_DEFAULT;
    o->log_level = TQ_LOG_INFO;
    o->metrics_addr = NULL;
}

static void turn_cb(evutil_socket_t fd, short what, void *arg);
static void grace_cb(evutil_socket_t fd, short what, void *arg);
static void final_cb(evutil_socket_t fd, short what, void *arg);

static int make_id(tq_worker *w)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char sfx[5];
    int i;

    if (gethostname(w->host, sizeof w->host - 1) != 0 || !w->host[0])
        snprintf(w->host, sizeof w->host, "localhost");
    w->host[sizeof w->host - 1] = '\0';
    for (i = 0; i < 4; i++)
        sfx[i] = al[rng_next(w) % (sizeof al - 1)];
    sfx[4] = '\0';
    snprintf(w->id, sizeof w->id, "%s:%ld:%s", w->name ? w->name : w->host,
             (long)getpid(), sfx);
    return 0;
}

static void queues_json(tq_worker *w)
{
    json_t *a = json_array();
    char *s = NULL;
    size_t i;

    for (i = 0; a && i < w->nq; i++)
        json_array_append_new(a, json_string(w->qnames[i]));
    if (a)
        s = json_dumps(a, JSON_COMPACT);
    snprintf(w->queues_json, sizeof w->queues_json, "%s", s ? s : "[]");
    free(s);
    json_decref(a);
}

/* ================================================================ the link's hooks */

/* The set is up (scripts loaded, P:cancel subscribed): say so, report what
 * waited (outcomes, leases, the heartbeat), and claim from the first queue. */
static void link_up(tq_link *l, void *ud)
{
    tq_worker *w = ud;

    wk_link_went_up(w);
    wk_metrics_link(w, 1);
    wk_report_up(w);
    wk_claim_start(w);
    wk_sched_up(w);
    wk_kick(w);
}

/* The set went down: every reply callback in flight already ran with NULL
 * (a claim in flight is forgotten, a batch of outcomes is queued again, the
 * BLPOP is no longer armed). Running jobs go on. */
static void link_down(tq_link *l, const char *reason, int flags, void *ud)
{
    wk_link_went_down(ud, reason);
    wk_metrics_link(ud, 0);
}

tq_worker *tq_worker_new(const tq_worker_opts *o, char *err, size_t errlen)
{
    static const char *const defq[] = {"default"};
    tq_link_hooks hooks = {.on_up = link_up, .on_down = link_down};
    tq_worker_opts d;
    tq_worker *w;
    tq_perr e;
    const char *const *qs;
    size_t nq, i, j;

    if (!err || !errlen) {
        static char sink[8];
        err = sink;
        errlen = sizeof sink;
    }
    err[0] = '\0';
    if (!o) {
        tq_worker_opts_init(&d);
        o = &d;
    }
    qs = o->queues && o->nqueues ? o->queues : defq;
    nq = o->queues && o->nqueues ? o->nqueues : 1;
    if (o->concurrency < 1 || o->concurrency > 1000000) {
        snprintf(err, errlen, "concurrency must be 1..1000000, not %d",
                 o->concurrency);
        return NULL;
    }
    if (o->lease_ms < 300) {
        snprintf(err, errlen, "lease must be at least 300 ms");
        return NULL;
    }
    if (o->default_timeout_ms < 0 || o->shutdown_grace_ms < 0 ||
        o->kill_grace_ms < 0) {
        snprintf(err, errlen, "durations must not be negative");
        return NULL;
    }
    for (i = 0; i < nq; i++) {
        if (!qs[i] || tq_queue_check(qs[i], &e) != 0) {
            snprintf(err, errlen, "%s", qs[i] ? e.text : "queue is NULL");
            return NULL;
        }
        for (j = 0; j < i; j++)
            if (strcmp(qs[i], qs[j]) == 0) {
                snprintf(err, errlen, "queue '%s' given twice", qs[i]);
                return NULL;
            }
    }
    if (o->ns && tq_ns_check(o->ns, &e) != 0) {
        snprintf(err, errlen, "%s", e.text);
        return NULL;
    }
    if (o->name && (tq_name_check("name", o->name, &e) != 0)) {
        snprintf(err, errlen, "%s", e.text);
        return NULL;
    }

    w = calloc(1, sizeof *w);
    if (!w)
        goto oom;
    w->o = *o;
    if (!w->o.max_result)
        w->o.max_result = TQ_MAX_RESULT_DEFAULT;
    if (tq_redis_url_parse(o->redis_url, &w->addr, &e) != 0) {
        snprintf(err, errlen, "%s", e.text);
        free(w);
        return NULL;
    }
    w->url = strdup(o->redis_url ? o->redis_url : "redis://127.0.0.1:6379/0");
    w->ns = strdup(o->ns ? o->ns : "tq");
    w->name = o->name ? strdup(o->name) : NULL;
    w->qnames = calloc(nq, sizeof *w->qnames);
    w->queues = calloc(nq, sizeof *w->queues);
    if (!w->url || !w->ns || (o->name && !w->name) || !w->qnames || !w->queues)
        goto oom_free;
    if (o->env_deny) {
        size_t n = 0;
        while (o->env_deny[n])
            n++;
        w->env_deny = calloc(n + 1, sizeof *w->env_deny);
        if (!w->env_deny)
            goto oom_free;
        for (i = 0; i < n; i++)
            if (!(w->env_deny[i] = strdup(o->env_deny[i])))
                goto oom_free;
    }
    w->o.env_deny = NULL; /* w->env_deny from here on */
    if (o->cgroup_dir) {
        if (wk_cgroup_check(o->cgroup_dir, err, errlen) != 0) {
            tq_worker_free(w);
            return NULL;
        }
        if (!(w->cgroup_dir = strdup(o->cgroup_dir)))
            goto oom_free;
    }
    w->o.cgroup_dir = NULL; /* w->cgroup_dir from here on */
    w->o.redis_url = w->url;
    w->o.ns = w->ns;
    w->o.name = w->name;
    w->o.queues = NULL; /* only qnames from here on */
    w->nq = nq;
    w->o.nqueues = nq;
    if (tq_nskeys_init(&w->nk, w->ns) != 0)
        goto oom_free;
    for (i = 0; i < nq; i++) {
        wk_queue *q = &w->queues[i];
        w->qnames[i] = strdup(qs[i]);
        q->k = tq_qkeys_new(w->ns, qs[i]);
        if (!w->qnames[i] || !q->k)
            goto oom_free;
        q->idx = i;
        q->w = w;
        q->cl.due_in_ms = -1;
    }

    if (getrandom(&w->rng, sizeof w->rng, 0) != (ssize_t)sizeof w->rng)
        w->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    w->rng |= 1;
    make_id(w);
    queues_json(w);

    if (wk_tasks_init(w) != 0)
        goto oom_free;
    if (o->base) {
        w->base = o->base;
    } else {
        /* A precise timer: by default libevent reads CLOCK_MONOTONIC_COARSE,
         * one kernel tick (4 ms at HZ=250) behind, so job timeouts and
         * tq.sleep fired up to a tick early. CLOCK_MONOTONIC is a vDSO call
         * too, read once per loop turn. */
        struct event_config *cfg = event_config_new();
        if (cfg) {
            event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
            w->base = event_base_new_with_config(cfg);
            event_config_free(cfg);
        }
        if (!w->base)
            w->base = event_base_new();
        w->own_base = 1;
        if (!w->base)
            goto oom_free;
    }
    w->turn_ev = event_new(w->base, -1, 0, turn_cb, w);
    w->grace_ev = evtimer_new(w->base, grace_cb, w);
    w->final_ev = evtimer_new(w->base, final_cb, w);
    if (!w->turn_ev || !w->grace_ev || !w->final_ev)
        goto oom_free;
    hooks.ud = w;
    if (wk_link_init(w, &hooks) != 0 ||
        wk_link_subscribe_cancel(w, wk_on_cancel_message) != 0 ||
        wk_output_init(w) != 0 ||
        wk_claim_init(w) != 0 ||
        wk_report_init(w) != 0 || wk_sched_init(w) != 0 ||
        wk_builtins_register(w) != 0)
        goto oom_free;
    w->o.metrics_addr = NULL; /* w->mx keeps its own copy */
    if (o->metrics_addr && wk_metrics_new(w, o->metrics_addr, err, errlen) != 0) {
        tq_worker_free(w);
        return NULL;
    }
    return w;

oom_free:
    tq_worker_free(w);
oom:
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void tq_worker_free(tq_worker *w)
{
    size_t i;
    wk_handler *h, *hn;

    if (!w)
        return;
    if (w->run_loop) {
        /* inside tq_worker_run's loop (on_stop, a handler): stop now, and
         * let tq_worker_run free the worker once its loop has returned */
        w->free_pending = 1;
        tq_worker_stop(w, 1);
        return;
    }
    if (w->state != WK_NEW && w->state != WK_STOPPED && w->queues) {
        /* the loop was abandoned: stop what runs, report nothing */
        w->state = WK_STOPPED;
        wk_stop_all(w, TQ_STOP_SHUTDOWN);
    }
    w->state = WK_STOPPED;
    if (w->base) {
        wk_link_free(w);
        wk_tserver_free(w);
        wk_exec_finish(w);
        wk_cgroup_finish(w);
        wk_report_free(w);
    }
    if (w->turn_ev)
        event_free(w->turn_ev);
    if (w->grace_ev)
        event_free(w->grace_ev);
    if (w->final_ev)
        event_free(w->final_ev);
    wk_claim_free(w);
    wk_sched_free(w);
    for (i = 0; w->env_deny && w->env_deny[i]; i++)
        free(w->env_deny[i]);
    free(w->env_deny);
    free(w->cgroup_dir);
    for (h = w->handlers; h; h = hn) {
        hn = h->next;
        wk_exec_spec_free(h->exec);
        free(h->name);
        free(h);
    }
    for (i = 0; w->queues && i < w->nq; i++) {
        wk_queue *q = &w->queues[i];
        tq_qkeys_free(q->k);
    }
    for (i = 0; w->qnames && i < w->nq; i++)
        free(w->qnames[i]);
    free(w->qnames);
    free(w->queues);
    tq_nskeys_clear(&w->nk);
    wk_tasks_free(w);
    wk_metrics_free(w);
    if (w->own_base && w->base)
        event_base_free(w->base);
    free(w->url);
    free(w->ns);
    free(w->name);
    free(w);
}

const char *tq_worker_errstr(const tq_worker *w) { return w ? w->err : ""; }
const char *tq_worker_id(const tq_worker *w) { return w->id; }
struct event_base *tq_worker_base(const tq_worker *w) { return w->base; }

/* ================================================================ start, run, stop */

int tq_worker_start(tq_worker *w)
{
    int rc;

    if (!w)
        return TQ_EINVAL;
    if (w->state != WK_NEW) {
        snprintf(w->err, sizeof w->err, "the worker was already started");
        return TQ_EINVAL;
    }
    /* Writing to a pipe or socket whose reader went away must be an error
     * (EPIPE), not a signal that kills the process: hiredis writes with
     * write(2), and exec children may close their stdin early. The library
     * ignores SIGPIPE when it is at its default; children get it back. */
    tq_sigpipe_ignore();
    /* before anything else starts: a worker that cannot serve its metrics
     * stays unstarted (and may be started again) */
    if ((rc = wk_metrics_listen(w)) != 0)
        return rc;
    /* reap_orphans: what a job leaves behind when its parent dies comes to
     * us, not to init (which in a container may never reap), and is reaped
     * on the loop (exec.c) */
    if (w->o.reap_orphans &&
        (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0 || wk_exec_watch(w) != 0))
        wk_log(w, TQ_LOG_WARN, NULL,
               "cannot become a child subreaper (%s): orphans of jobs go to "
               "init", strerror(errno));
    w->started_unix = wk_unix();
    w->state = WK_RUNNING;
    wk_log(w, TQ_LOG_INFO, NULL,
           "worker %s starting: queues=%s concurrency=%d namespace=%s",
           w->id, w->queues_json, w->o.concurrency, w->ns);
    wk_report_start(w);
    wk_link_start(w);
    wk_tserver_start(w);
    return 0;
}

int tq_worker_run(tq_worker *w)
{
    int rc;

    if (!w)
        return TQ_EINVAL;
    if (w->state == WK_NEW && (rc = tq_worker_start(w)) != 0)
        return rc;
    w->run_loop = 1;
    if (w->state != WK_STOPPED)
        event_base_dispatch(w->base);
    w->run_loop = 0;
    if (w->free_pending)
        tq_worker_free(w);
    return 0;
}

void tq_worker_stop(tq_worker *w, int now)
{
    if (!w || w->state == WK_STOPPED)
        return;
    if (w->state == WK_NEW) {
        w->state = WK_STOPPED;
        return;
    }
    if (now)
        w->stop_now = 1;
    if (w->state == WK_RUNNING) {
        w->state = WK_DRAINING;
        if (now || wk_running(w) == 0)
            wk_log(w, TQ_LOG_INFO, NULL, "stopping: %zu job(s) running%s",
                   wk_running(w), wk_running(w) ? ", giving them back now" : "");
        else
            wk_log(w, TQ_LOG_INFO, NULL,
                   "stopping: waiting up to %.1f s for %zu running job(s)",
                   (double)w->o.shutdown_grace_ms / 1000.0, wk_running(w));
        wk_link_close_block(w);
        wk_sched_stop(w);
        if (!now) {
            struct timeval tv = {(time_t)(w->o.shutdown_grace_ms / 1000),
                                 (suseconds_t)(w->o.shutdown_grace_ms % 1000) * 1000};
            evtimer_add(w->grace_ev, &tv);
        }
    } else if (now && w->state == WK_DRAINING) {
        wk_log(w, TQ_LOG_INFO, NULL, "stopping now: giving back %zu job(s)",
               wk_running(w));
    }
    wk_kick(w);
}

/* ================================================================ the loop turn, shutdown */

void wk_kick(tq_worker *w)
{
    if (w->turn_pending || w->state == WK_STOPPED || w->state == WK_NEW)
        return;
    w->turn_pending = 1;
    event_active(w->turn_ev, EV_TIMEOUT, 1);
}

static void finish(tq_worker *w)
{
    if (w->state == WK_STOPPED)
        return;
    w->state = WK_STOPPED;
    evtimer_del(w->grace_ev);
    evtimer_del(w->final_ev);
    event_del(w->turn_ev);
    w->turn_pending = 0;
    wk_claim_stop(w);
    wk_sched_stop(w);
    wk_report_stop_timers(w);
    wk_link_stop(w);
    wk_tserver_finish(w);
    wk_exec_finish(w);
    wk_cgroup_finish(w);
    wk_metrics_stop(w);
    if (wk_outcomes_queued(w))
        wk_log(w, TQ_LOG_WARN, NULL,
               "stopped with %zu outcome(s) not reported: those jobs run again "
               "once their lease runs out", wk_outcomes_queued(w));
    wk_log(w, TQ_LOG_INFO, NULL, "worker %s stopped", w->id);
    if (w->own_base || w->run_loop)
        event_base_loopbreak(w->base);
    /* Last: on_stop may free the worker (finish's callers touch nothing
     * after it; inside tq_worker_run the free waits for the loop's end). */
    if (w->o.on_stop)
        w->o.on_stop(w, w->o.on_stop_ud);
}

/* Called from the loop turn only (never from a hiredis callback), so it may
 * close the links. */
void wk_shutdown_check(tq_worker *w)
{
    if (w->state == WK_DRAINING && w->stop_now && wk_running(w))
        wk_stop_all(w, TQ_STOP_SHUTDOWN);
    if (w->state == WK_DRAINING && wk_running(w) == 0) {
        /* ack replies, and children given SIGTERM getting their SIGKILL */
        int64_t ms = WK_FINAL_WAIT_MS;
        struct timeval tv;
        if (wk_exec_reaping(w) && w->o.kill_grace_ms + 1000 > ms)
            ms = w->o.kill_grace_ms + 1000;
        /* task servers: stdin closed, SIGTERM and SIGKILL a grace apart */
        wk_tserver_stop(w);
        if (wk_tserver_alive(w) && 2 * w->o.kill_grace_ms + 1000 > ms)
            ms = 2 * w->o.kill_grace_ms + 1000;
        tv.tv_sec = (time_t)(ms / 1000);
        tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
        w->state = WK_FINAL;
        evtimer_del(w->grace_ev);
        evtimer_add(w->final_ev, &tv);
        wk_acks_flush(w);
    }
    if (w->state != WK_FINAL)
        return;
    if (wk_outcomes_queued(w) == 0 && wk_acks_in_flight(w) == 0 &&
        !wk_claim_busy(w) && wk_exec_reaping(w) == 0 &&
        wk_tserver_alive(w) == 0) {
        if (wk_up(w) && wk_deregistered(w) == 0) {
            wk_deregister(w);
            if (wk_deregistered(w) == 1)
                return;
        }
        if (wk_deregistered(w) != 1 || !wk_up(w))
            finish(w);
    }
}

static void turn_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;

    w->turn_pending = 0;
    if (w->state == WK_DRAINING && w->stop_now && wk_running(w))
        wk_stop_all(w, TQ_STOP_SHUTDOWN);
    /* Redis writes its replies only once it has run all it read, so acks
     * sent along with a claim would hold back the jobs the claim brings
     * (by the ack script's time: ~1 ms per 100 jobs). So the claim goes
     * first and alone, and outcomes wait until its reply is in (claim_cb
     * sends them). Except when an outcome can make another job ready (a
     * semaphore permit given back, a chain's next link, a group's fan-in, a
     * job given back to the front of its queue): then the acks go first, so
     * the claim in the same pass sees that job, in its priority order. */
    if (wk_acks_first(w))
        wk_acks_flush(w);
    wk_claim_maybe(w);
    if (!wk_claim_busy(w))
        wk_acks_flush(w);
    wk_shutdown_check(w);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;

    if (w->state != WK_DRAINING)
        return;
    wk_log(w, TQ_LOG_INFO, NULL,
           "shutdown grace over: giving back %zu job(s)", wk_running(w));
    w->stop_now = 1;
    wk_kick(w);
}

static void final_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;

    if (w->state == WK_FINAL)
        finish(w);
}
