/* metrics.c -- the Prometheus endpoint of a worker (tq-worker --metrics).
 *
 * Two halves that never wait on each other. Counting happens where a job's
 * outcome is logged and where it is handed to its handler, into tables sized
 * once (a counter per queue, task and outcome; two histograms): an addition,
 * no allocation after a task name's first outcome. Serving is an evhttp
 * server on the worker's own event_base: a scrape is one loop callback that
 * formats the tables into an evbuffer and hands it to evhttp, which writes it
 * whenever the client reads. A slow, silent or hostile client holds one
 * connection until MX_TIMEOUT_S runs out, never the loop.
 *
 * Task names come from job records, so anyone who can submit picks them.
 * The tasks this worker has handlers for (the operator's list) always get
 * series of their own; of the other names (unknown tasks, corrupt records)
 * the first MX_TASKS_MAX do, and the rest are counted under task="other".
 * That bounds memory and the scrape, and junk names never push out the
 * real tasks. The two histograms are per queue and task too, for the first
 * MX_HIST_TASKS task names that ran here (only tasks with a handler run);
 * later names share task="other".
 *
 * /healthz (SPEC §12) answers from state the loop keeps anyway, with no
 * Redis call of its own in the normal case:
 *   - Redis unreachable: the link's on_down / on_up (wk_metrics_link) give
 *     "down since"; 503 once that is older than --lease. A Redis that stops
 *     answering is noticed by the link's reply watchdog (WK_WATCHDOG_MS).
 *   - Stuck: "calm" is the last time the worker showed it was working or
 *     had nothing to do: a job started, a slot freed, the link came up, a
 *     claim cycle came back short from every queue (claim.lua returns fewer
 *     than asked only when the pending lists are empty or the queue is
 *     paused: parked jobs, semaphore or rate limit, leave the lists), or a
 *     --limit held a job back. An idle worker's cycle ends every <= 2 s (the
 *     BLPOP's timeout), so calm stays fresh. Only when it has free slots,
 *     is connected and running, and calm is older than MX_STALL_MS (claims
 *     refused, or never sent) does a tick ask Redis whether its queues have
 *     jobs: LLEN of each pending list and its fairness ring, and EXISTS of
 *     the queue's paused key, at most once per tick. Jobs found on a queue
 *     that is not paused: 503.
 *
 * Why one file over 800 lines: /metrics and /healthz are one HTTP server on
 * the worker's loop, made, bound and stopped once, and /healthz answers
 * from the same state the counting keeps (calm, the link's down time), so
 * both halves share this file's private struct. If the file grows again,
 * /healthz (the "health" section) is the part that moves out, with that
 * struct in a header.
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "worker/worker_private.h"

#define MX_TASKS_MAX 200     /* label values of tasks without a handler; then "other" */
#define MX_LABEL_MAX 256     /* bytes of a task name kept in its label */
#define MX_TIMEOUT_S 5       /* an HTTP connection idle this long is closed */
#define MX_HEADERS_MAX 8192
#define MX_BODY_MAX 1024
#define MX_NB 11             /* finite histogram buckets */
#define MX_HIST_TASKS 64     /* task label values of the histograms; then "other" */
/* /healthz: a worker with free slots and jobs pending that has shown no sign
 * of work for this long is stuck (SPEC §12: 30 s). TQ_HEALTH_STALL_MS, an
 * environment variable for the tests alone, shortens it. */
#define MX_STALL_MS 30000
#define MX_TICK_MS 5000      /* the stuck check's period (at most stall / 4) */
#define MX_PROBE_PER_Q (1 + 2 * TQ_NPRIO) /* EXISTS paused, LLEN p, LLEN p:ring */

#if defined(__has_include)
#if __has_include("tq_commit.h")
#include "tq_commit.h"       /* TQ_COMMIT: build/gen, written by the Makefile */
#endif
#endif
#ifndef TQ_COMMIT
#define TQ_COMMIT "unknown"
#endif

static const double bounds[MX_NB] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                     1, 5, 10, 60, 300};
static const char *const bound_text[MX_NB] = {
    "0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "60", "300"};

typedef struct mx_hist {
    uint64_t n[MX_NB + 1];   /* per bucket, not cumulative; [MX_NB] = +Inf */
    uint64_t count;
    double sum;
} mx_hist;

/* A task label value and its counters: n[queue index * MX_NOUT + outcome];
 * its histograms h[queue index] (duration) and h[nq + queue index] (queue
 * wait), NULL until a job of it starts (and for names past MX_HIST_TASKS). */
typedef struct mx_task {
    char *name;              /* as the jobs name it (the lookup key) */
    char *label;             /* escaped for the text format */
    uint64_t *n;
    mx_hist *h;
} mx_task;

/* One reply of the stuck probe: which queue and which question. */
typedef struct mx_ask {
    tq_worker *w;
    size_t q;
    int kind;                /* MX_ASK_* */
} mx_ask;

enum {
    MX_ASK_PAUSED = 0,       /* EXISTS P:{Q}:paused */
    MX_ASK_LIST,             /* LLEN P:{Q}:pN: jobs */
    MX_ASK_RING              /* LLEN P:{Q}:pN:ring: fair keys with jobs */
};

/* /healthz's state (see the file comment). Times are monotonic ms. */
typedef struct mx_health {
    double down_since;       /* the link is down since; 0 = up */
    double calm;             /* the last sign of work or of nothing to do */
    double stall_ms, tick_ms;
    struct event *tick;
    mx_ask *asks;            /* nq * MX_PROBE_PER_Q, made once */
    char **paused_key;       /* P:{Q}:paused per queue */
    int probing;             /* replies still to come */
    int probe_bad;           /* one of them was an error or never came */
    double probe_sent;       /* when the last probe was sent */
    double probe_at;         /* when the last complete probe was sent; 0 none */
    long long *qjobs;        /* the probe's jobs in plain lists per queue, */
    long long *qfair;        /* its ring entries (fair keys with jobs), */
    int *qpaused;            /* and whether the queue is paused */
    long long found;         /* the last complete probe: jobs in the plain lists
                                of the first queue not paused that has any, */
    int found_fair;          /* and whether it has fair lists with jobs; */
    size_t found_q;          /* that queue; */
    int stuck;               /* whether there is such a queue */
} mx_health;

struct wk_metrics {
    char *addr;              /* HOST:PORT as given */
    char *host;              /* "" = every interface */
    char port[8];
    struct evhttp *http;     /* NULL when not serving */
    size_t nq;
    char **qlabel;           /* escaped queue names */
    mx_task *tasks;          /* in order of first outcome */
    size_t ntasks, cap;
    size_t nunknown;         /* entries of names without a handler */
    tq_map *index;           /* name -> index + 1 into tasks (as a pointer) */
    size_t nhist;            /* entries with histograms */
    char *build_labels;      /* tq_build_info's, escaped */
    mx_health hz;
};

/* ================================================================ labels */

/* A label value in the text format: valid UTF-8 with backslash, double quote
 * and newline escaped. Returns a malloc'd string (NULL: out of memory). */
static char *label_escape(const char *s, size_t len)
{
    char clean[MX_LABEL_MAX * 3 + 1];
    char *out, *o;
    size_t n, i;

    if (len > MX_LABEL_MAX)
        len = MX_LABEL_MAX;
    n = tq_text_clean(clean, sizeof clean, s, len, 0);
    out = malloc(2 * n + 1);
    if (!out)
        return NULL;
    for (o = out, i = 0; i < n; i++) {
        char c = clean[i];
        if (c == '\\' || c == '"') {
            *o++ = '\\';
            *o++ = c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else {
            *o++ = c;
        }
    }
    *o = '\0';
    return out;
}

/* Room for one more entry. Returns 0 or TQ_ENOMEM (nothing changed). */
static int tasks_reserve(wk_metrics *m)
{
    if (m->ntasks == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        mx_task *t = realloc(m->tasks, cap * sizeof *t);
        if (!t)
            return TQ_ENOMEM;
        m->tasks = t;
        m->cap = cap;
    }
    if (!m->index && !(m->index = tq_map_new()))
        return TQ_ENOMEM;
    return 0;
}

/* The entry of a task name, made on its first outcome. A name without a
 * handler (known 0) beyond the first MX_TASKS_MAX of them gets the entry
 * "other". NULL only when memory ran out. */
static mx_task *task_entry(wk_metrics *m, const char *name, int known)
{
    uintptr_t at = m->index ? (uintptr_t)tq_map_get(m->index, name) : 0;
    mx_task *e;

    if (at)
        return &m->tasks[at - 1];
    if (!known && m->nunknown >= MX_TASKS_MAX && strcmp(name, "other") != 0)
        return task_entry(m, "other", 1);
    if (tasks_reserve(m) != 0)
        return NULL;
    e = &m->tasks[m->ntasks];
    e->h = NULL;
    e->name = strdup(name);
    e->label = label_escape(name, strlen(name));
    e->n = calloc(m->nq * MX_NOUT, sizeof *e->n);
    if (!e->name || !e->label || !e->n ||
        tq_map_put(m->index, name, (void *)(uintptr_t)(m->ntasks + 1))) {
        free(e->name);
        free(e->label);
        free(e->n);
        return NULL;
    }
    m->ntasks++;
    if (!known)
        m->nunknown++;
    return e;
}

/* ================================================================ counting */

static void hist_add(mx_hist *h, double v)
{
    size_t i;

    if (!isfinite(v))
        return;
    if (v < 0)
        v = 0;
    for (i = 0; i < MX_NB && v > bounds[i]; i++)
        ;
    h->n[i]++;
    h->count++;
    h->sum += v;
}

/* The histograms of entry e, made on its first use; past MX_HIST_TASKS
 * entries with histograms, those of "other". NULL when memory ran out.
 * May move m->tasks (a new "other" entry): e is not valid afterwards. */
static mx_hist *task_hists(wk_metrics *m, mx_task *e)
{
    if (e->h)
        return e->h;
    if (m->nhist >= MX_HIST_TASKS && strcmp(e->name, "other") != 0) {
        if (!(e = task_entry(m, "other", 1)))
            return NULL;
        if (e->h)
            return e->h;
    }
    e->h = calloc(2 * m->nq, sizeof *e->h);
    if (e->h)
        m->nhist++;
    return e->h;
}

void wk_metrics_outcome(tq_worker *w, const tq_task *t, wk_out out, double ms)
{
    wk_metrics *m = w->mx;
    const char *name = t->name ? t->name : "?";
    wk_handler *h = t->h;
    mx_task *e;
    mx_hist *hs;
    size_t k = (size_t)out;

    if (!m || k >= MX_NOUT || t->q->idx >= m->nq)
        return;
    if (t->t0 > 0)
        m->hz.calm = tq_mono_ms(); /* a slot is free from now on */
    if (!h) /* it never ran: released while stopping, unknown, corrupt */
        h = wk_handler_find(w, name);
    e = task_entry(m, name, h && h->fn);
    if (!e)
        return;
    e->n[t->q->idx * MX_NOUT + k]++;
    if (t->t0 > 0 && (hs = task_hists(m, e)))
        hist_add(&hs[t->q->idx], ms / 1000.0);
}

void wk_metrics_started(tq_worker *w, const tq_task *t)
{
    wk_metrics *m = w->mx;
    mx_task *e;
    mx_hist *hs;

    if (!m || t->q->idx >= m->nq)
        return;
    m->hz.calm = t->t0 > 0 ? t->t0 : tq_mono_ms();
    if (t->wait_s < 0 || !(e = task_entry(m, t->name, 1)))
        return;
    if ((hs = task_hists(m, e)))
        hist_add(&hs[m->nq + t->q->idx], t->wait_s);
}

void wk_metrics_idle(tq_worker *w)
{
    if (w->mx)
        w->mx->hz.calm = tq_mono_ms();
}

void wk_metrics_link(tq_worker *w, int up)
{
    wk_metrics *m = w->mx;
    double now = tq_mono_ms();

    if (!m)
        return;
    if (up) {
        m->hz.down_since = 0;
        m->hz.calm = now;
    } else if (m->hz.down_since == 0) {
        m->hz.down_since = now;
    }
}

/* ================================================================ health */

/* Connected, running, with a free slot, and no sign of work for stall_ms. */
static int stalled(tq_worker *w, double now)
{
    wk_metrics *m = w->mx;

    return wk_up(w) && w->state == WK_RUNNING &&
           wk_running(w) < (size_t)w->o.concurrency &&
           now - m->hz.calm > m->hz.stall_ms;
}

static void probe_cb(redisAsyncContext *ac, void *r, void *priv)
{
    mx_ask *a = priv;
    tq_worker *w = a->w;
    wk_metrics *m = w->mx;
    redisReply *rep = r;
    size_t i;

    if (!m)
        return;
    if (!rep || rep->type != REDIS_REPLY_INTEGER)
        m->hz.probe_bad = 1;
    else if (a->kind == MX_ASK_PAUSED)
        m->hz.qpaused[a->q] = rep->integer != 0;
    else if (rep->integer > 0)
        (a->kind == MX_ASK_LIST ? m->hz.qjobs : m->hz.qfair)[a->q] += rep->integer;
    if (--m->hz.probing > 0 || m->hz.probe_bad)
        return;
    m->hz.stuck = 0;
    for (i = 0; i < m->nq; i++)
        if (!m->hz.qpaused[i] && (m->hz.qjobs[i] > 0 || m->hz.qfair[i] > 0)) {
            m->hz.stuck = 1;
            m->hz.found_q = i;
            m->hz.found = m->hz.qjobs[i];
            m->hz.found_fair = m->hz.qfair[i] > 0;
            break;
        }
    m->hz.probe_at = m->hz.probe_sent;
}

/* Asks Redis whether the queues have jobs pending (see the file comment):
 * plain reads, allowed when scripts are refused (OOM, an ACL). A send that
 * fails leaves the probe incomplete; the next tick asks again. */
static void probe_send(tq_worker *w)
{
    wk_metrics *m = w->mx;
    const char *argv[2];
    char ring[512];
    size_t q, p, k = 0;

    m->hz.probe_sent = tq_mono_ms();
    m->hz.probe_bad = 0;
    m->hz.probing = 0;
    for (q = 0; q < m->nq; q++) {
        m->hz.qjobs[q] = m->hz.qfair[q] = 0;
        m->hz.qpaused[q] = 0;
    }
    for (q = 0; q < m->nq; q++) {
        const tq_qkeys *qk = w->queues[q].k;
        argv[0] = "EXISTS";
        argv[1] = m->hz.paused_key[q];
        if (wk_send_argv(w, 2, argv, probe_cb, &m->hz.asks[k++]) != 0)
            goto bad;
        m->hz.probing++;
        for (p = 0; p < TQ_NPRIO; p++) {
            argv[0] = "LLEN";
            argv[1] = qk->pending[p];
            if (wk_send_argv(w, 2, argv, probe_cb, &m->hz.asks[k++]) != 0)
                goto bad;
            m->hz.probing++;
            /* a fair list's jobs are in P:{Q}:pN:f:KEY, each key with jobs
             * once in the ring (lib.lua push_ids) */
            snprintf(ring, sizeof ring, "%s:ring", qk->pending[p]);
            argv[1] = ring;
            if (wk_send_argv(w, 2, argv, probe_cb, &m->hz.asks[k++]) != 0)
                goto bad;
            m->hz.probing++;
        }
    }
    return;
bad:
    m->hz.probe_bad = 1;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;
    wk_metrics *m = w->mx;
    double now = tq_mono_ms();

    if (!m->hz.probing && stalled(w, now) &&
        now - m->hz.probe_sent >= m->hz.tick_ms - 1)
        probe_send(w);
}

/* The verdict: 0 (healthy) or 1 with a one-line reason in buf. */
static int unhealthy(tq_worker *w, char *buf, size_t n)
{
    wk_metrics *m = w->mx;
    double now = tq_mono_ms();

    if (w->state == WK_NEW || w->state == WK_STOPPED)
        return 0;
    if (!wk_up(w) && m->hz.down_since > 0 &&
        now - m->hz.down_since > (double)w->o.lease_ms) {
        char why[160];
        const char *r = tq_link_reason(w->rd.link);
        tq_text_clean(why, sizeof why, r && *r ? r : "no answer",
                      r && *r ? strlen(r) : 9, 1);
        snprintf(buf, n, "redis unreachable for %.0f s (more than --lease "
                 "%.0f s): %s", (now - m->hz.down_since) / 1000.0,
                 (double)w->o.lease_ms / 1000.0, why);
        return 1;
    }
    if (stalled(w, now) && m->hz.probe_at > m->hz.calm && m->hz.stuck) {
        char q[MX_LABEL_MAX * 3 + 1], jobs[64];
        const char *qn = w->qnames[m->hz.found_q];
        tq_text_clean(q, sizeof q, qn, strlen(qn), 1);
        if (m->hz.found_fair)
            snprintf(jobs, sizeof jobs, "jobs pending in fair lists");
        else
            snprintf(jobs, sizeof jobs, "%lld job(s) pending", m->hz.found);
        snprintf(buf, n, "stuck: %zu free slot(s) and %s (queue %s) but no "
                 "job started for %.0f s",
                 (size_t)w->o.concurrency - wk_running(w), jobs, q,
                 (now - m->hz.calm) / 1000.0);
        return 1;
    }
    return 0;
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
    tq_worker *w = arg;
    struct evbuffer *b = evbuffer_new();
    char why[1024];
    int bad = unhealthy(w, why, sizeof why);

    if (!b || evbuffer_add_printf(b, "%s\n", bad ? why : "ok") < 0) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/plain; charset=utf-8");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
                          "no-store");
        evhttp_send_reply(req, bad ? 503 : HTTP_OK,
                          bad ? "Service Unavailable" : "OK", b);
    }
    if (b)
        evbuffer_free(b);
}

/* ================================================================ the scrape */

/* One histogram series (queue and task labels). */
static int put_hist(struct evbuffer *b, const char *name, const char *labels,
                    const mx_hist *h)
{
    uint64_t cum = 0;
    int err = 0;
    size_t i;

    for (i = 0; i < MX_NB; i++) {
        cum += h->n[i];
        err |= evbuffer_add_printf(b, "%s_bucket{%s,le=\"%s\"} %llu\n", name,
                                   labels, bound_text[i],
                                   (unsigned long long)cum) < 0;
    }
    cum += h->n[MX_NB];
    err |= evbuffer_add_printf(b, "%s_bucket{%s,le=\"+Inf\"} %llu\n"
                               "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name,
                               labels, (unsigned long long)cum, name, labels,
                               h->sum, name, labels,
                               (unsigned long long)h->count) < 0;
    return err;
}

/* A histogram family: the series of every queue and task that has one
 * (off: 0 for durations, nq for queue waits). */
static int put_hists(struct evbuffer *b, wk_metrics *m, const char *name,
                     const char *help, size_t off)
{
    char *labels = NULL;
    size_t i, q, cap = 0;
    int err = 0;

    err |= evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name,
                               help, name) < 0;
    for (i = 0; i < m->ntasks; i++) {
        const mx_task *e = &m->tasks[i];
        for (q = 0; e->h && q < m->nq; q++) {
            size_t need;
            if (!e->h[off + q].count)
                continue;
            need = strlen(m->qlabel[q]) + strlen(e->label) + 32;
            if (need > cap) {
                char *nl = realloc(labels, need);
                if (!nl) {
                    free(labels);
                    return 1;
                }
                labels = nl;
                cap = need;
            }
            snprintf(labels, cap, "queue=\"%s\",task=\"%s\"", m->qlabel[q],
                     e->label);
            err |= put_hist(b, name, labels, &e->h[off + q]);
        }
    }
    free(labels);
    return err;
}

/* The whole page, in the text format 0.0.4. Returns non-zero when memory ran out. */
static int render(tq_worker *w, struct evbuffer *b)
{
    wk_metrics *m = w->mx;
    size_t i, q, k;
    int err = 0;

    err |= evbuffer_add_printf(b,
        "# HELP tq_jobs_total Job outcomes in this worker, per queue, task and outcome.\n"
        "# TYPE tq_jobs_total counter\n") < 0;
    for (i = 0; i < m->ntasks; i++) {
        const mx_task *e = &m->tasks[i];
        for (q = 0; q < m->nq; q++)
            for (k = 0; k < MX_NOUT; k++) {
                uint64_t n = e->n[q * MX_NOUT + k];
                if (n)
                    err |= evbuffer_add_printf(b,
                        "tq_jobs_total{queue=\"%s\",task=\"%s\",outcome=\"%s\"} %llu\n",
                        m->qlabel[q], e->label, wk_outs[k].word,
                        (unsigned long long)n) < 0;
            }
    }
    err |= evbuffer_add_printf(b,
        "# HELP tq_busy_slots Slots running a job now.\n"
        "# TYPE tq_busy_slots gauge\ntq_busy_slots %zu\n"
        "# HELP tq_slots Slots of this worker (--concurrency).\n"
        "# TYPE tq_slots gauge\ntq_slots %d\n"
        "# HELP tq_up 1 when the worker's Redis links are up.\n"
        "# TYPE tq_up gauge\ntq_up %d\n",
        wk_running(w), w->o.concurrency, wk_up(w) ? 1 : 0) < 0;
    {
        int up, procs;
        unsigned long restarts;
        wk_tserver_counts(w, &up, &restarts, &procs);
        if (procs > 0)
            err |= evbuffer_add_printf(b,
                "# HELP tq_task_server_procs Task-server processes configured (--server-procs, summed).\n"
                "# TYPE tq_task_server_procs gauge\ntq_task_server_procs %d\n"
                "# HELP tq_task_server_procs_up Task-server processes ready (they said hello).\n"
                "# TYPE tq_task_server_procs_up gauge\ntq_task_server_procs_up %d\n"
                "# HELP tq_task_server_restarts_total Task-server processes started again (after an exit, a kill, no hello).\n"
                "# TYPE tq_task_server_restarts_total counter\ntq_task_server_restarts_total %lu\n",
                procs, up, restarts) < 0;
    }
    err |= put_hists(b, m, "tq_job_duration_seconds",
                     "Run time of jobs that ran here, from start to outcome, "
                     "per queue and task.", 0);
    err |= put_hists(b, m, "tq_queue_wait_seconds",
                     "From a job's creation to its start here, on Redis's "
                     "clock, per queue and task.", m->nq);
    err |= evbuffer_add_printf(b,
        "# HELP tq_build_info The version and commit this worker was built from.\n"
        "# TYPE tq_build_info gauge\ntq_build_info{%s} 1\n", m->build_labels) < 0;
    return err;
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    tq_worker *w = arg;
    struct evbuffer *b = evbuffer_new();

    if (!b || render(w, b) != 0) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/plain; version=0.0.4; charset=utf-8");
        evhttp_send_reply(req, HTTP_OK, "OK", b);
    }
    if (b)
        evbuffer_free(b);
}

static void on_other(struct evhttp_request *req, void *arg)
{
    evhttp_send_error(req, HTTP_NOTFOUND, NULL);
}

/* ================================================================ life */

/* Splits HOST:PORT ([V6]:PORT; an empty HOST = every interface). */
static int parse_addr(wk_metrics *m, const char *a)
{
    const char *hs = a, *he, *p;
    size_t i, n;
    long port = 0;

    if (a[0] == '[') {
        hs = a + 1;
        he = strchr(hs, ']');
        if (!he || he[1] != ':')
            return -1;
        p = he + 2;
    } else {
        he = strrchr(a, ':');
        if (!he || memchr(a, ':', (size_t)(he - a)))
            return -1;
        p = he + 1;
    }
    n = strlen(p);
    if (n < 1 || n > 5)
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        port = port * 10 + (p[i] - '0');
    }
    if (port < 1 || port > 65535 || (size_t)(he - hs) > 253)
        return -1;
    for (i = 0; hs + i < he; i++)
        if ((unsigned char)hs[i] <= ' ' || hs[i] == 0x7F || hs[i] == '/')
            return -1;
    snprintf(m->port, sizeof m->port, "%ld", port);
    m->host = strndup(hs, (size_t)(he - hs));
    return m->host ? 0 : TQ_ENOMEM;
}

/* tq_build_info's labels: version="...",commit="..." (escaped). */
static int build_labels(wk_metrics *m)
{
    char *v = label_escape(TQ_VERSION, strlen(TQ_VERSION));
    char *c = label_escape(TQ_COMMIT, strlen(TQ_COMMIT));
    size_t n = (v ? strlen(v) : 0) + (c ? strlen(c) : 0) + 32;

    if (v && c && (m->build_labels = malloc(n)))
        snprintf(m->build_labels, n, "version=\"%s\",commit=\"%s\"", v, c);
    free(v);
    free(c);
    return m->build_labels ? 0 : TQ_ENOMEM;
}

/* /healthz's tables, made once; the stall from MX_STALL_MS or, for the
 * tests, TQ_HEALTH_STALL_MS (100 ms .. 1 h). */
static int health_new(tq_worker *w, wk_metrics *m)
{
    mx_health *hz = &m->hz;
    const char *env = getenv("TQ_HEALTH_STALL_MS");
    size_t q, p, k = 0;

    hz->stall_ms = MX_STALL_MS;
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v >= 100 && v <= 3600000)
            hz->stall_ms = (double)v;
    }
    hz->tick_ms = hz->stall_ms / 4 < MX_TICK_MS ? hz->stall_ms / 4 : MX_TICK_MS;
    hz->asks = calloc(m->nq * MX_PROBE_PER_Q, sizeof *hz->asks);
    hz->paused_key = calloc(m->nq, sizeof *hz->paused_key);
    hz->qjobs = calloc(m->nq, sizeof *hz->qjobs);
    hz->qfair = calloc(m->nq, sizeof *hz->qfair);
    hz->qpaused = calloc(m->nq, sizeof *hz->qpaused);
    if (!hz->asks || !hz->paused_key || !hz->qjobs || !hz->qfair || !hz->qpaused)
        return TQ_ENOMEM;
    for (q = 0; q < m->nq; q++) {
        /* P:{Q}:paused, next to the job prefix P:{Q}:j: (claim.lua) */
        const char *jp = w->queues[q].k->job_prefix;
        size_t n = strlen(jp);
        if (n < 2 || !(hz->paused_key[q] = malloc(n - 2 + sizeof "paused")))
            return TQ_ENOMEM;
        memcpy(hz->paused_key[q], jp, n - 2);
        memcpy(hz->paused_key[q] + n - 2, "paused", sizeof "paused");
        for (p = 0; p < MX_PROBE_PER_Q; p++, k++) {
            hz->asks[k].w = w;
            hz->asks[k].q = q;
            hz->asks[k].kind = p == 0 ? MX_ASK_PAUSED
                             : p % 2 ? MX_ASK_LIST : MX_ASK_RING;
        }
    }
    return 0;
}

int wk_metrics_new(tq_worker *w, const char *addr, char *err, size_t errlen)
{
    wk_metrics *m;
    size_t i;
    int rc;

    m = calloc(1, sizeof *m);
    if (!m)
        goto oom;
    w->mx = m;
    m->nq = w->nq;
    m->addr = strdup(addr);
    m->qlabel = calloc(w->nq, sizeof *m->qlabel);
    if (!m->addr || !m->qlabel)
        goto oom;
    for (i = 0; i < w->nq; i++)
        if (!(m->qlabel[i] = label_escape(w->qnames[i], strlen(w->qnames[i]))))
            goto oom;
    if (build_labels(m) != 0 || health_new(w, m) != 0)
        goto oom;
    rc = parse_addr(m, addr);
    if (rc == TQ_ENOMEM)
        goto oom;
    if (rc != 0) {
        snprintf(err, errlen, "--metrics %.300s: expected HOST:PORT "
                 "(or [IPV6]:PORT) with a port 1..65535", addr);
        return TQ_EINVAL;
    }
    return 0;

oom:
    snprintf(err, errlen, "out of memory");
    return TQ_ENOMEM;
}

/* Binds with our own socket (not evhttp_bind_socket) so that the error says
 * why: the errno of bind or listen, or the resolver's message. The host is
 * resolved here, once, before the loop runs. */
int wk_metrics_listen(tq_worker *w)
{
    wk_metrics *m = w->mx;
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, e = 0, one = 1, rc;

    if (!m || m->http)
        return 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(m->host[0] ? m->host : NULL, m->port, &hints, &res);
    if (rc != 0) {
        snprintf(w->err, sizeof w->err, "--metrics %.200s: cannot resolve: %s",
                 m->addr, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return TQ_EINVAL;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(w->err, sizeof w->err, "--metrics %.200s: cannot listen: %s",
                 m->addr, strerror(e ? e : EADDRNOTAVAIL));
        return TQ_EINVAL;
    }
    m->http = evhttp_new(w->base);
    if (!m->http) {
        close(fd);
        snprintf(w->err, sizeof w->err, "--metrics: out of memory");
        return TQ_ENOMEM;
    }
    evhttp_set_timeout(m->http, MX_TIMEOUT_S);
    evhttp_set_max_headers_size(m->http, MX_HEADERS_MAX);
    evhttp_set_max_body_size(m->http, MX_BODY_MAX);
    /* GET only: evhttp 2.1 would send the body in reply to a HEAD */
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
    if (evhttp_set_cb(m->http, "/metrics", on_metrics, w) != 0 ||
        evhttp_set_cb(m->http, "/healthz", on_healthz, w) != 0 ||
        !evhttp_accept_socket_with_handle(m->http, fd)) {
        close(fd); /* not handed over: still ours to close */
        evhttp_free(m->http);
        m->http = NULL;
        snprintf(w->err, sizeof w->err, "--metrics: out of memory");
        return TQ_ENOMEM;
    }
    evhttp_set_gencb(m->http, on_other, w);
    /* not connected yet: "unreachable" counts from the start */
    m->hz.down_since = m->hz.calm = tq_mono_ms();
    if (!m->hz.tick) {
        struct timeval tv = {(time_t)(m->hz.tick_ms / 1000),
                             (suseconds_t)((long)m->hz.tick_ms % 1000) * 1000};
        m->hz.tick = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
        if (m->hz.tick)
            event_add(m->hz.tick, &tv);
    }
    wk_log(w, TQ_LOG_INFO, NULL, "metrics at http://%s/metrics (and /healthz)",
           m->addr);
    return 0;
}

void wk_metrics_stop(tq_worker *w)
{
    if (w->mx && w->mx->hz.tick) {
        event_free(w->mx->hz.tick);
        w->mx->hz.tick = NULL;
    }
    if (w->mx && w->mx->http) {
        evhttp_free(w->mx->http);
        w->mx->http = NULL;
    }
}

void wk_metrics_free(tq_worker *w)
{
    wk_metrics *m = w->mx;
    size_t i;

    if (!m)
        return;
    wk_metrics_stop(w);
    for (i = 0; i < m->ntasks; i++) {
        free(m->tasks[i].name);
        free(m->tasks[i].label);
        free(m->tasks[i].n);
        free(m->tasks[i].h);
    }
    free(m->tasks);
    for (i = 0; m->hz.paused_key && i < m->nq; i++)
        free(m->hz.paused_key[i]);
    free(m->hz.paused_key);
    free(m->hz.asks);
    free(m->hz.qjobs);
    free(m->hz.qfair);
    free(m->hz.qpaused);
    free(m->build_labels);
    tq_map_free(m->index);
    for (i = 0; m->qlabel && i < m->nq; i++)
        free(m->qlabel[i]);
    free(m->qlabel);
    free(m->host);
    free(m->addr);
    free(m);
    w->mx = NULL;
}
