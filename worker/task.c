/* task.c -- the running table and the life of a task.
 *
 * A task (one delivery of one job) is allocated when a claim hands it over,
 * put in the running table (the slots in use), and handed to its handler. It
 * leaves the table exactly once: completed by its handler (succeed / fail), or
 * stopped by the worker (timeout, cancel, lost lease, shutdown), in which case
 * the handler's cancel callback runs instead. Either way the slot is free at
 * once and the outcome is queued for the next loop turn, which acks it.
 *
 * The table is intrusive (each task carries its hash chain link), not a
 * tq_map: a tq_map allocates an entry per key, and the claim/ack path must
 * not allocate more than the task itself. It hashes with tq_hash64.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/worker_private.h"

/* ================================================================ the running table */

static size_t hash_id(const char *id)
{
    return (size_t)tq_hash64(id, strlen(id));
}

static void tab_grow(tq_worker *w)
{
    size_t n = w->tk.tabsize * 2, i;
    tq_task **nt = calloc(n, sizeof *nt);

    if (!nt)
        return; /* longer chains; still correct */
    for (i = 0; i < w->tk.tabsize; i++) {
        tq_task *t = w->tk.tab[i], *next;
        for (; t; t = next) {
            size_t b = hash_id(t->id) & (n - 1);
            next = t->hnext;
            t->hnext = nt[b];
            nt[b] = t;
        }
    }
    free(w->tk.tab);
    w->tk.tab = nt;
    w->tk.tabsize = n;
}

tq_task *wk_task_find(tq_worker *w, const char *id, const char *tok)
{
    tq_task *t;

    if (!w->tk.tab)
        return NULL;
    for (t = w->tk.tab[hash_id(id) & (w->tk.tabsize - 1)]; t; t = t->hnext)
        if (strcmp(t->id, id) == 0 && (!tok || strcmp(t->tok, tok) == 0))
            return t;
    return NULL;
}

static void task_link(tq_worker *w, tq_task *t)
{
    size_t b;

    if (w->tk.running >= w->tk.tabsize)
        tab_grow(w);
    b = hash_id(t->id) & (w->tk.tabsize - 1);
    t->hnext = w->tk.tab[b];
    w->tk.tab[b] = t;
    t->qprev = NULL;
    t->qnext = t->q->tk.head;
    if (t->q->tk.head)
        t->q->tk.head->qprev = t;
    t->q->tk.head = t;
    t->q->tk.nrunning++;
    w->tk.running++;
    t->h->running++;
}

static void task_unlink(tq_worker *w, tq_task *t)
{
    tq_task **pp = &w->tk.tab[hash_id(t->id) & (w->tk.tabsize - 1)];

    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = t->hnext;
    if (t->qprev)
        t->qprev->qnext = t->qnext;
    else
        t->q->tk.head = t->qnext;
    if (t->qnext)
        t->qnext->qprev = t->qprev;
    t->q->tk.nrunning--;
    w->tk.running--;
    t->h->running--;
    if (t->h->limit > 0)
        wk_claim_limit_freed(w);
}

static void task_free(tq_task *t)
{
    if (t->timer)
        event_free(t->timer);
    json_decref(t->args);
    free(t);
}

/* ================================================================ outcomes */

/* One line per outcome, with the same facts as fields for JSON logs. */
static void log_outcome(tq_worker *w, const tq_task *t, wk_out out,
                        const char *error, double ms)
{
    tq_log_level lvl = wk_outs[out].level;
    const char *word = wk_outs[out].word;
    char id[128], name[256], err[2560], att[16], dur[32];
    const char *fields[13];
    int n = 0;

    if (!wk_log_on(w, lvl))
        return;
    tq_text_clean(id, sizeof id, t->id, strlen(t->id), 1);
    tq_text_clean(name, sizeof name, t->name ? t->name : "?",
                  t->name ? strlen(t->name) : 1, 1);
    snprintf(att, sizeof att, "%d", t->attempt);
    snprintf(dur, sizeof dur, "%.1f", ms < 0 ? 0.0 : ms);
    fields[n++] = "job";
    fields[n++] = id;
    fields[n++] = "task";
    fields[n++] = name;
    fields[n++] = "attempt";
    fields[n++] = att;
    fields[n++] = "outcome";
    fields[n++] = word;
    fields[n++] = "ms";
    fields[n++] = dur;
    /* an error that only repeats the outcome's word (a timeout's "timeout")
     * is not said twice */
    if (error && strcmp(error, word) != 0) {
        tq_text_clean(err, sizeof err, error, strlen(error), 1);
        fields[n++] = "error";
        fields[n++] = err;
        fields[n] = NULL;
        wk_log(w, lvl, fields, "job %s task=%s attempt=%s outcome=%s ms=%s error=\"%s\"",
               id, name, att, word, dur, err);
    } else {
        fields[n] = NULL;
        wk_log(w, lvl, fields, "job %s task=%s attempt=%s outcome=%s ms=%s",
               id, name, att, word, dur);
    }
}

/* Reports a task that never ran or has ended (payload: plen bytes for the
 * ack, unless the outcome is not reported: a lost lease), logs and counts
 * it, then frees it. */
static void task_report_n(tq_worker *w, tq_task *t, wk_out out,
                          const char *payload, size_t plen, const char *error)
{
    double ms = t->t0 > 0 ? tq_mono_ms() - t->t0 : 0;

    /* the latest progress goes before the outcome (same connection) */
    wk_progress_end(t, out != WK_OUT_LOST);
    if (wk_outs[out].wire && wk_outcome_add(w, t, out, payload, plen) != 0)
        wk_log(w, TQ_LOG_ERROR, NULL,
               "job %s: out of memory queueing its outcome", t->id);
    log_outcome(w, t, out, error, ms);
    wk_metrics_outcome(w, t, out, ms);
    task_free(t);
    wk_kick(w);
}

/* The same with a payload that is a C string. */
static void task_report(tq_worker *w, tq_task *t, wk_out out,
                        const char *payload, const char *error)
{
    task_report_n(w, t, out, payload, payload ? strlen(payload) : 0, error);
}

int wk_task_complete(tq_task *t, wk_out out, const char *payload,
                     size_t plen, const char *error)
{
    tq_worker *w = t->w;

    if (t->done)
        return TQ_EINVAL;
    t->done = 1;
    task_unlink(w, t);
    task_report_n(w, t, out, payload, plen, error);
    return 0;
}

void wk_task_stop(tq_task *t, tq_stop_reason why)
{
    tq_worker *w = t->w;

    if (t->done)
        return;
    t->done = 1;
    task_unlink(w, t);
    if (t->timer)
        evtimer_del(t->timer);
    if (t->h->cancel)
        t->h->cancel(t, why, t->h->ud);
    switch (why) {
    case TQ_STOP_TIMEOUT:
        task_report(w, t, WK_OUT_TIMEOUT, "timeout", "timeout");
        break;
    case TQ_STOP_CANCELLED:
        task_report(w, t, WK_OUT_CANCELLED, "cancelled", NULL);
        break;
    case TQ_STOP_LOST:
        task_report(w, t, WK_OUT_LOST, NULL, "lost the lease");
        break;
    case TQ_STOP_SHUTDOWN:
    default:
        task_report(w, t, WK_OUT_RELEASED, "", NULL);
        break;
    }
}

void wk_stop_all(tq_worker *w, tq_stop_reason why)
{
    size_t i;

    for (i = 0; i < w->nq; i++)
        while (w->queues[i].tk.head)
            wk_task_stop(w->queues[i].tk.head, why);
}

static void task_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    wk_task_stop(arg, TQ_STOP_TIMEOUT);
}

void wk_task_start(tq_worker *w, tq_task *t, const char *corrupt)
{
    wk_handler *h;
    char err[TQ_NAME_MAX + 64];

    if (corrupt) {
        task_report(w, t, WK_OUT_DEAD, corrupt, corrupt);
        return;
    }
    if (w->state != WK_RUNNING) {
        /* claimed while stopping: give it straight back */
        task_report(w, t, WK_OUT_RELEASED, "", NULL);
        return;
    }
    h = wk_handler_find(w, t->name);
    if (!h || !h->fn) {
        char name[TQ_NAME_MAX + 8];
        tq_text_clean(name, sizeof name, t->name, strlen(t->name), 1);
        snprintf(err, sizeof err, "unknown task '%s'", name);
        /* notask: another worker may have it (a rolling deploy): the job is
         * scheduled again without using up a retry (ack.lua) */
        task_report(w, t, WK_OUT_NOTASK, err, err);
        return;
    }
    if (h->limit > 0 && h->running >= h->limit) {
        /* --limit: back to the front of its queue, not counted as an attempt;
         * claim.c pauses claiming until a job of a limited task ends. */
        wk_claim_pause(w);
        if (wk_outcome_add(w, t, WK_OUT_RELEASED, "", 0) != 0)
            wk_log(w, TQ_LOG_ERROR, NULL, "job %s: out of memory", t->id);
        wk_log(w, TQ_LOG_DEBUG, NULL, "job %s task=%s: at --limit %d, given back",
               t->id, h->name, h->limit);
        task_free(t);
        wk_kick(w);
        return;
    }
    t->h = h;
    t->t0 = tq_mono_ms();
    if (t->timeout_ms <= 0)
        t->timeout_ms = w->o.default_timeout_ms;
    if (t->timeout_ms > 0) {
        struct timeval tv;
        t->deadline = wk_unix() + (double)t->timeout_ms / 1000.0;
        t->timer = evtimer_new(w->base, task_timeout_cb, t);
        if (!t->timer) {
            task_report(w, t, WK_OUT_FAILED, "worker out of memory",
                        "worker out of memory");
            return;
        }
        tv.tv_sec = t->timeout_ms / 1000;
        tv.tv_usec = (t->timeout_ms % 1000) * 1000;
        evtimer_add(t->timer, &tv);
    }
    wk_metrics_started(w, t);
    task_link(w, t);
    h->fn(t, h->ud); /* may complete t before it returns */
}

/* ================================================================ init, free */

int wk_tasks_init(tq_worker *w)
{
    w->tk.tabsize = 64;
    w->tk.tab = calloc(w->tk.tabsize, sizeof *w->tk.tab);
    return w->tk.tab ? 0 : TQ_ENOMEM;
}

void wk_tasks_free(tq_worker *w)
{
    free(w->tk.tab);
    w->tk.tab = NULL;
}
