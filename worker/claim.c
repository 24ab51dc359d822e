/* claim.c -- taking jobs: the claim cycle and the idle wait.
 *
 * A claim asks one queue for exactly as many jobs as there are free slots
 * (at most WK_CLAIM_MAX), so the worker never holds a job it cannot start.
 * At most one claim is in flight. A cycle walks the queues in --queue order
 * (strict priority): a queue that gave fewer jobs than asked is empty, so the
 * next one is asked for the rest; a queue that gave all that was asked may
 * hold more, so the cycle starts again from the first queue if slots are still
 * free. When every queue came back short and slots are free, the worker parks
 * a BLPOP on the wake keys of its queues (block link), with a timeout of the
 * time to the next scheduled job (clamped to 10 ms .. 2 s); whatever it
 * returns (a token or nothing) starts a new cycle. A slot freeing while a
 * claim is in flight needs no flag: the reply handler looks at the free slots
 * when it arrives. A slot freeing while the BLPOP waits needs nothing either:
 * the queues were empty, and a submit leaves a wake token.
 *
 * Redis ends a blocked BLPOP only on its internal tick (10 per second by
 * default), so the BLPOP's timeout alone would start a delayed job up to
 * 100 ms late. The worker also arms a timer of its own for the next due job
 * and claims when it fires, BLPOP or not: the claim script promotes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/worker_private.h"

static void claim_cb(redisAsyncContext *ac, void *r, void *priv);

static void claim_retry(tq_worker *w, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(w->cl.retry_ev, &tv);
}

/* Sends a claim to queue qi if the worker may claim now; force claims while
 * the BLPOP waits (a scheduled job is due). */
static void claim_send_if(tq_worker *w, size_t qi, int force)
{
    wk_queue *q = &w->queues[qi];
    size_t freeslots, count, i;
    tq_cmd c;

    if (!wk_up(w) || w->state != WK_RUNNING || w->cl.in_flight ||
        w->cl.paused || (w->cl.block_armed && !force) ||
        evtimer_pending(w->cl.retry_ev, NULL))
        return; /* a retry timer pending: Redis refused the last claim */
    if (w->ts && wk_tserver_holding(w))
        return; /* task servers starting: tserver.c kicks when they are up */
    if (wk_running(w) >= (size_t)w->o.concurrency)
        return;
    freeslots = (size_t)w->o.concurrency - wk_running(w);
    count = freeslots < WK_CLAIM_MAX ? freeslots : WK_CLAIM_MAX;

    tq_cmd_init(&c, TQ_SCRIPT_CLAIM);
    tq_cmd_key(&c, q->k->active);
    tq_cmd_key(&c, q->k->sched);
    tq_cmd_key(&c, q->k->wake);
    for (i = 0; i < TQ_NPRIO; i++)
        tq_cmd_key(&c, q->k->pending[i]);
    tq_cmd_argi(&c, (long long)count);
    tq_cmd_args(&c, w->id);
    tq_cmd_argi(&c, (long long)w->o.lease_ms);
    tq_cmd_args(&c, q->k->job_prefix);
    tq_cmd_argi(&c, WK_PROMOTE_LIMIT);
    tq_cmd_args(&c, w->nk.sem_prefix);
    if (wk_send_script(w, &c, claim_cb, w) != 0) {
        tq_cmd_clear(&c);
        wk_link_fail(w, "cannot send claim");
        return;
    }
    tq_cmd_clear(&c);
    w->cl.in_flight = 1;
    w->cl.qi = qi;
    w->cl.asked = count;
}

static void claim_send(tq_worker *w, size_t qi)
{
    claim_send_if(w, qi, 0);
}

/* ================================================================ jobs from a claim reply */

/* Elements per job in a claim reply: id tok attempt task args timeout_ms
 * created_at ack_first (broker/lua/claim.lua). */
#define CLAIM_STRIDE 8

/* Builds the task of the CLAIM_STRIDE elements at rep[b] and hands it to
 * worker.c. A record that cannot run is still turned into a task so that it
 * is reported (dead: corrupt; fail: unknown task). Only a delivery without
 * id or token cannot be reported: its lease runs out and reclaim deals with
 * it. now_ms is Redis's clock at the claim, for the job's time in the queue. */
static void job_from_reply(tq_worker *w, wk_queue *q, const redisReply *rep,
                           size_t b, long long now_ms)
{
    const char *id, *tok, *task, *args, *created, *corrupt = NULL;
    size_t idlen = 0, toklen = 0, tlen = 0, alen = 0, clen = 0, slen = 0;
    long long att = 0, tmo = 0;
    tq_task *t;
    char *p;
    json_error_t je;

    id = tq_reply_str(rep, b, &idlen);
    tok = tq_reply_str(rep, b + 1, &toklen);
    if (!id || !idlen || idlen > 256 || strlen(id) != idlen || !tok ||
        !toklen || toklen >= sizeof t->tok || strlen(tok) != toklen) {
        wk_log(w, TQ_LOG_ERROR, NULL,
               "claim on queue %s: a delivery without a usable id or token; "
               "skipped (its lease will run out)", q->k->queue);
        return;
    }
    if (tq_reply_int(rep, b + 2, &att) != 0 || att < 0 || att > 1000000000)
        att = 0;
    if (tq_reply_int(rep, b + 5, &tmo) != 0 || tmo < 0)
        tmo = 0;
    task = tq_reply_str(rep, b + 3, &tlen);
    args = tq_reply_str(rep, b + 4, &alen);
    if (!task || !tlen || strlen(task) != tlen) {
        corrupt = "corrupt job record: task missing";
        task = "?";
        tlen = 1;
    }
    if (!args) {
        if (!corrupt)
            corrupt = "corrupt job record: args missing";
        args = "null";
        alen = 4;
    }

    t = calloc(1, sizeof *t + idlen + 1 + tlen + 1 + alen + 1);
    if (!t) {
        wk_log(w, TQ_LOG_ERROR, NULL,
               "job %s: out of memory; left to run again", id);
        return;
    }
    p = (char *)(t + 1);
    t->id = p;
    memcpy(p, id, idlen);
    p += idlen + 1;
    t->name = p;
    memcpy(p, task, tlen);
    p += tlen + 1;
    t->args_text = p;
    memcpy(p, args, alen);
    t->args_len = alen;
    memcpy(t->tok, tok, toklen);
    t->w = w;
    t->q = q;
    t->attempt = (int)att;
    t->ack_first = tq_reply_str(rep, b + 7, &slen) && slen > 0;
    t->timeout_ms = tmo;
    t->wait_s = -1;
    created = tq_reply_str(rep, b + 6, &clen);
    if (created && clen > 0 && clen < 32 && now_ms > 0) {
        char buf[32], *end;
        double c, wait;
        memcpy(buf, created, clen);
        buf[clen] = '\0';
        c = strtod(buf, &end); /* "s.us"; now_ms is whole ms: may dip below 0 */
        wait = (double)now_ms / 1000.0 - c;
        if (end != buf && !*end && c > 0)
            t->wait_s = wait < 0 ? 0 : wait;
    }
    if (!corrupt) {
        t->args = json_loadb(args, alen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!t->args)
            corrupt = "corrupt job record: args are not JSON";
    }
    wk_task_start(w, t, corrupt);
}

/* ================================================================ the idle wait */

/* Milliseconds to the next scheduled job of any queue, from the last claim
 * replies; WK_BLOCK_MAX_MS when none is due sooner. */
static double next_due_ms(tq_worker *w)
{
    double now = tq_mono_ms(), ms = WK_BLOCK_MAX_MS;
    size_t i;

    for (i = 0; i < w->nq; i++) {
        wk_queue *q = &w->queues[i];
        if (q->cl.due_in_ms >= 0) {
            double left = q->cl.due_in_ms - (now - q->cl.due_at_mono);
            if (left < ms)
                ms = left;
        }
    }
    return ms < 0 ? 0 : ms;
}

/* Arms the local timer for the next due job (see the file comment). */
static void arm_due(tq_worker *w)
{
    double ms = next_due_ms(w);

    if (ms >= WK_BLOCK_MAX_MS || w->state != WK_RUNNING)
        return;
    ms += 1; /* the script compares with <=: be there just after */
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((long)ms % 1000) * 1000};
    evtimer_add(w->cl.due_ev, &tv);
}

static void due_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;

    if (wk_running(w) < (size_t)w->o.concurrency)
        claim_send_if(w, 0, 1);
}

static void block_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;

    w->cl.block_armed = 0;
    if (!rep)
        return; /* link gone: the reconnect claims */
    if (rep->type == REDIS_REPLY_ERROR) {
        claim_retry(w, (int)wk_redis_error(w, "BLPOP", rep->str));
        return;
    }
    claim_send(w, 0);
}

static void arm_block(tq_worker *w)
{
    const char **argv;
    char tmo[32];
    double ms;
    size_t i;
    int rc;

    if (!wk_up(w) || w->cl.block_armed || w->state != WK_RUNNING)
        return;
    ms = next_due_ms(w);
    if (ms < WK_BLOCK_MIN_MS)
        ms = WK_BLOCK_MIN_MS;
    snprintf(tmo, sizeof tmo, "%.3f", ms / 1000.0);
    argv = malloc((w->nq + 2) * sizeof *argv);
    if (!argv) {
        claim_retry(w, WK_ERROR_RETRY_MS);
        return;
    }
    argv[0] = "BLPOP";
    for (i = 0; i < w->nq; i++)
        argv[i + 1] = w->queues[i].k->wake;
    argv[w->nq + 1] = tmo;
    rc = wk_send_block(w, (int64_t)ms, (int)w->nq + 2, argv, block_cb, w);
    free(argv);
    if (rc == TQ_ENOMEM) {
        claim_retry(w, WK_ERROR_RETRY_MS);
        return;
    }
    if (rc != 0)
        return; /* the block connection is closed: stopping */
    w->cl.block_armed = 1;
}

/* ================================================================ the claim reply */

static void claim_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;
    size_t qi = w->cl.qi, asked = w->cl.asked, i, max;
    wk_queue *q = &w->queues[qi];
    long long now = 0, due = -1, n = 0;

    w->cl.in_flight = 0;
    wk_acks_flush(w); /* held while the claim was out: see turn_cb */
    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        /* OOM (claim.lua may not run past maxmemory), NOPERM, READONLY...:
         * claim again after the backoff; running jobs, leases and acks go on */
        if (tq_reply_is_noscript(rep))
            claim_retry(w, (int)wk_redis_noscript(w, "claim", rep->str));
        else
            claim_retry(w, (int)wk_redis_error(w, "claim", rep->str));
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || tq_reply_int(rep, 0, &now) != 0 ||
        tq_reply_int(rep, 1, &due) != 0 || tq_reply_int(rep, 2, &n) != 0 ||
        n < 0) {
        wk_log(w, TQ_LOG_ERROR, NULL,
               "claim on queue %s: unexpected reply; trying again in 1 s",
               q->k->queue);
        claim_retry(w, WK_ERROR_RETRY_MS);
        return;
    }
    max = (rep->elements - 3) / CLAIM_STRIDE;
    if ((size_t)n > max) {
        wk_log(w, TQ_LOG_ERROR, NULL,
               "claim on queue %s: reply announces %lld jobs but holds %zu",
               q->k->queue, n, max);
        n = (long long)max;
    }
    wk_redis_ok(w, 1);
    q->cl.due_in_ms = due >= 0 ? (double)(due - now) : -1;
    q->cl.due_at_mono = tq_mono_ms();
    arm_due(w);
    for (i = 0; i < (size_t)n; i++)
        job_from_reply(w, q, rep, 3 + CLAIM_STRIDE * i, now);

    if (w->cl.paused) {
        if (!evtimer_pending(w->cl.limit_pause_ev, NULL)) {
            struct timeval tv = {WK_LIMIT_PAUSE_MS / 1000,
                                 (WK_LIMIT_PAUSE_MS % 1000) * 1000};
            evtimer_add(w->cl.limit_pause_ev, &tv);
        }
        return;
    }
    if (w->state != WK_RUNNING || wk_running(w) >= (size_t)w->o.concurrency)
        return; /* full: a slot freeing starts the next cycle */
    if ((size_t)n >= asked)
        claim_send(w, 0);
    else if (qi + 1 < w->nq)
        claim_send(w, qi + 1);
    else {
        wk_metrics_idle(w); /* every queue came back short: nothing to start */
        arm_block(w);
    }
}

/* ================================================================ entry points */

void wk_claim_maybe(tq_worker *w)
{
    if (evtimer_pending(w->cl.retry_ev, NULL))
        return;
    claim_send(w, 0);
}

void wk_claim_start(tq_worker *w)
{
    evtimer_del(w->cl.retry_ev);
    claim_send(w, 0);
}

void wk_claim_resume(tq_worker *w)
{
    w->cl.paused = 0;
    evtimer_del(w->cl.limit_pause_ev);
    wk_kick(w);
}

void wk_claim_pause(tq_worker *w)
{
    w->cl.paused = 1;
    wk_metrics_idle(w); /* free slots, but held back on purpose */
}

void wk_claim_limit_freed(tq_worker *w)
{
    if (w->cl.paused)
        wk_claim_resume(w);
}

int wk_claim_busy(const tq_worker *w)
{
    return w->cl.in_flight;
}

static void claim_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    claim_send(arg, 0);
}

static void limit_pause_cb(evutil_socket_t fd, short what, void *arg)
{
    wk_claim_resume(arg);
}

int wk_claim_init(tq_worker *w)
{
    w->cl.retry_ev = evtimer_new(w->base, claim_retry_cb, w);
    w->cl.limit_pause_ev = evtimer_new(w->base, limit_pause_cb, w);
    w->cl.due_ev = evtimer_new(w->base, due_cb, w);
    return w->cl.retry_ev && w->cl.limit_pause_ev && w->cl.due_ev ? 0 : TQ_ENOMEM;
}

void wk_claim_stop(tq_worker *w)
{
    struct event *evs[] = {w->cl.retry_ev, w->cl.limit_pause_ev, w->cl.due_ev};

    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            evtimer_del(evs[i]);
}

void wk_claim_free(tq_worker *w)
{
    struct event **evs[] = {&w->cl.retry_ev, &w->cl.limit_pause_ev,
                            &w->cl.due_ev};

    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
}
