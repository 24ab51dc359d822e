/* async_wait.c -- tq_async_wait, and the done channels waits share.
 *
 * A wait is the blocking tq_wait made of events (docs/design.md §7,
 * "subscribe first, then look"): SUBSCRIBE P:done:ID, and once Redis
 * confirmed it and the job's queue is known (locate, async_find.c),
 * waitprep, which marks the job watched and says where it stands; a finish
 * between the two steps is either seen by waitprep or published to a
 * channel already listened to. A terminal state, or a done message that
 * came meanwhile, then HGETALLs the record. A quiet wait re-runs waitprep
 * every 10 s.
 *
 * Channels: waits on one id share one subscription, an achan in a tq_map
 * counted here: the first wait on an id subscribes, the last one out
 * unsubscribes. The link (tq_link_subscribe_ready) keeps the subscription
 * across reconnects and handles hiredis 0.14's pitfalls (a channel
 * subscribed again while its UNSUBSCRIBE is unconfirmed, a count dropping
 * to 0), and says when Redis confirmed a SUBSCRIBE. When the link goes
 * down a wait parks, still on its channel, and starts over (waitprep on
 * the new connections) from on_up, when every channel is back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/async_private.h"

static void wait_fetch(aop *op);
static void wait_prep(aop *op);
static void wait_expire(aop *op);

/* ================================================================ channels */

static void chan_name(const tq_async *a, const achan *c, char ch[TQ_KEY_SIZE])
{
    if (!tq_key_join(ch, TQ_KEY_SIZE, a->nk.done_prefix, c->id))
        ch[0] = '\0';
}

/* No wait left on c: the subscription goes. */
static void chan_drop(tq_async *a, achan *c)
{
    char ch[TQ_KEY_SIZE];

    if (a->link && !a->closing) {
        chan_name(a, c, ch);
        if (ch[0])
            (void)tq_link_unsubscribe(a->link, ch);
    }
    tq_map_del(a->chans, c->id);
    free(c);
}

static void wait_message(aop *op, const char *payload);

/* Runs fn on every wait of c; c outlives the run even when the last wait
 * leaves it (it is dropped after). */
static void chan_each(tq_async *a, achan *c, void (*fn)(aop *op, const char *arg),
                      const char *arg)
{
    c->busy++;
    for (aop *op = c->waits, *next; op; op = next) {
        next = op->cnext;
        fn(op, arg);
    }
    if (--c->busy == 0 && !c->waits)
        chan_drop(a, c);
}

static void step_one(aop *op, const char *arg)
{
    (void)arg;
    tq_as_wait_step(op);
}

/* A done message for the channel's id: the terminal state, or "deleted". */
static void chan_msg(tq_link *l, const char *channel, const char *msg,
                     size_t len, void *ud)
{
    achan *c = ud;

    (void)l; (void)channel; (void)len;
    chan_each(c->a, c, wait_message, msg ? msg : "");
}

/* Redis confirmed the SUBSCRIBE: what is published from now on is heard. */
static void chan_ready(tq_link *l, const char *channel, void *ud)
{
    achan *c = ud;

    (void)l; (void)channel;
    c->ready = 1;
    chan_each(c->a, c, step_one, NULL);
}

/* Adds the wait to the channel of its id, subscribing when it is new. 0 or
 * TQ_ENOMEM. */
static int chan_attach(aop *op)
{
    tq_async *a = op->a;
    char ch[TQ_KEY_SIZE];
    achan *c = tq_map_get(a->chans, op->id);
    int rv;

    if (!c) {
        if (!(c = calloc(1, sizeof *c)))
            return TQ_ENOMEM;
        c->a = a;
        snprintf(c->id, sizeof c->id, "%s", op->id);
        chan_name(a, c, ch);
        if (!ch[0]) {
            free(c);
            return TQ_EINVAL;
        }
        if (tq_map_put(a->chans, c->id, c)) {
            free(c);
            return TQ_ENOMEM;
        }
        rv = tq_link_subscribe_ready(a->link, ASYNC_SUB, ch, chan_msg, chan_ready, c);
        if (rv) {
            tq_map_del(a->chans, c->id);
            free(c);
            return rv;
        }
    }
    op->chan = c;
    op->cnext = c->waits;
    c->waits = op;
    return 0;
}

/* Takes the wait off its channel; the last one out unsubscribes. */
static void chan_detach(aop *op)
{
    achan *c = op->chan;
    if (!c)
        return;
    aop **pp = &c->waits;
    while (*pp && *pp != op)
        pp = &(*pp)->cnext;
    if (*pp)
        *pp = op->cnext;
    op->chan = NULL;
    op->cnext = NULL;
    if (!c->waits && !c->busy)
        chan_drop(op->a, c);
}

void tq_as_chans_ready(tq_async *a, int ready)
{
    tq_map_iter it = {0};
    achan *c;

    while (tq_map_next(a->chans, &it, NULL, (void **)&c))
        c->ready = ready;
}

void tq_as_chans_free(tq_async *a)
{
    tq_map_iter it = {0};
    achan *c;

    if (!a->chans)
        return;
    while (tq_map_next(a->chans, &it, NULL, (void **)&c))
        free(c);
    tq_map_free(a->chans);
    a->chans = NULL;
}

/* ================================================================ a wait's steps */

/* Starts (or restarts, after a reconnect) a wait on the current link: on
 * its channel, and its queue found; tq_as_wait_step goes on when both are
 * there. */
void tq_as_wait_start(aop *op)
{
    int rv;

    if (op->completed)
        return;
    op->phase = W_STARTING;
    op->msg_seen = 0;
    if (!op->chan && (rv = chan_attach(op))) {
        tq_aop_fail(op, rv, "%s", rv == TQ_ENOMEM ? "out of memory"
                                                  : "job id too long for a channel");
        tq_aop_complete(op);
        return;
    }
    if (!op->q && tq_as_locate(op)) {
        op->phase = W_PARKED; /* the link is going down: on_up restarts it */
        return;
    }
    tq_as_wait_step(op);
}

void tq_as_wait_step(aop *op)
{
    if (op->completed || op->phase != W_STARTING || !op->chan || !op->chan->ready ||
        !op->q)
        return;
    wait_prep(op);
}

void tq_as_wait_park(aop *op)
{
    op->phase = W_PARKED;
    op->parked = 1;
    op->msg_seen = 0;
    if (op->recheck_ev)
        evtimer_del(op->recheck_ev);
}

void tq_as_wait_end(aop *op)
{
    chan_detach(op);
    if (op->timeout_ev)
        evtimer_del(op->timeout_ev);
    if (op->recheck_ev)
        evtimer_del(op->recheck_ev);
}

static void prep_cb(redisAsyncContext *ac, void *r, void *priv);

/* waitprep: KEYS job; reply {state, result, error} or nil. */
static void wait_prep(aop *op)
{
    char jk[TQ_KEY_SIZE];
    tq_cmd cmd;
    int rv;

    if (!tq_key_join(jk, sizeof jk, op->q->keys->job_prefix, op->id)) {
        tq_aop_fail(op, TQ_EINVAL, "job id '%s' is too long", op->id);
        tq_aop_complete(op);
        return;
    }
    tq_cmd_init(&cmd, TQ_SCRIPT_WAITPREP);
    tq_cmd_key(&cmd, jk);
    op->phase = W_PREP;
    op->msg_seen = 0;
    if ((rv = tq_as_send_script(op->a, &cmd, prep_cb, op))) {
        if (rv == TQ_ENOMEM) {
            tq_aop_fail(op, TQ_ENOMEM, "out of memory");
            tq_aop_complete(op);
        } else {
            op->phase = W_PARKED;
        }
        return;
    }
    op->inflight++;
}

static void wait_listen(aop *op)
{
    op->phase = W_LISTEN;
    if (op->recheck_ev)
        tq_timer_ms(op->recheck_ev, ASYNC_RECHECK_MS);
}

static void wait_fetch_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = tq_aop_replied(priv);
    redisReply *rep = r;
    tq_job *job = NULL;
    tq_perr e;
    int rv;

    (void)ac;
    if (!rep || op->completed || op->phase != W_FETCH) {
        tq_aop_maybe_free(op); /* a lost link parks the wait; on_up restarts it */
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        tq_aop_fail(op, TQ_EREDIS, "Redis answered HGETALL with an error: %.300s", rep->str);
    } else if ((rv = tq_record_decode(op->id, op->q->keys->queue, rep, &job, &e))) {
        tq_aop_fail(op, rv, "%s", e.text);
    } else if (!job) {
        if (tq_state_terminal(op->hint)) {
            /* finished, and its record expired before we could read it */
            if (!(op->job = tq_record_minimal(op->id, op->q->keys->queue, op->hint)))
                tq_aop_fail(op, TQ_ENOMEM, "out of memory");
        } else {
            tq_aop_fail(op, TQ_ENOTFOUND, "no such job '%s' (its record is gone)", op->id);
        }
    } else if (tq_state_terminal(job->state)) {
        op->job = job;
    } else {
        /* not terminal after all (retried from the dead-letter list since):
         * its next finish publishes again */
        tq_job_free(job);
        op->hint = TQ_STATE_UNKNOWN;
        if (op->expired)
            wait_expire(op);
        else if (op->msg_seen)
            wait_fetch(op);
        else
            wait_listen(op);
        tq_aop_maybe_free(op);
        return;
    }
    tq_aop_complete(op);
    tq_aop_maybe_free(op);
}

static void wait_fetch(aop *op)
{
    op->phase = W_FETCH;
    op->msg_seen = 0;
    if (op->recheck_ev)
        evtimer_del(op->recheck_ev);
    if (tq_as_fetch(op, wait_fetch_cb))
        op->phase = W_PARKED;
}

static void prep_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = tq_aop_replied(priv);
    redisReply *rep = r;

    (void)ac;
    if (!rep || op->completed || op->phase != W_PREP) {
        tq_aop_maybe_free(op);
        return;
    }
    if (tq_as_noscript_reload(op, &op->noscript, rep)) {
        wait_prep(op);
        tq_aop_maybe_free(op);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        tq_aop_fail(op, TQ_EREDIS, "Redis answered waitprep with an error: %.300s", rep->str);
    } else if (rep->type == REDIS_REPLY_NIL) {
        tq_aop_fail(op, TQ_ENOTFOUND, "no such job '%s'", op->id);
    } else {
        const char *st = tq_reply_str(rep, 0, NULL);
        tq_state state = st ? tq_state_parse(st) : TQ_STATE_UNKNOWN;
        if (state == TQ_STATE_UNKNOWN) {
            tq_aop_fail(op, TQ_EPROTO, "job '%s' has no valid state", op->id);
        } else {
            op->prepped = 1;
            if (tq_state_terminal(state))
                op->hint = state;
            if (tq_state_terminal(state) || op->msg_seen)
                wait_fetch(op);
            else if (op->expired)
                wait_expire(op);
            else
                wait_listen(op);
            tq_aop_maybe_free(op);
            return;
        }
    }
    tq_aop_complete(op);
    tq_aop_maybe_free(op);
}

static void wait_message(aop *op, const char *payload)
{
    if (op->completed)
        return;
    tq_state st = tq_state_parse(payload);
    if (tq_state_terminal(st))
        op->hint = st;
    if (op->phase != W_LISTEN) {
        op->msg_seen = 1; /* the step in flight looks again when it returns */
        return;
    }
    if (!strcmp(payload, "deleted")) {
        tq_aop_fail(op, TQ_ENOTFOUND, "job '%s' was deleted", op->id);
        tq_aop_complete(op);
        return;
    }
    wait_fetch(op);
}

static void wait_expire(aop *op)
{
    tq_aop_fail(op, TQ_ETIMEDOUT, "timed out waiting for job '%s'", op->id);
    tq_aop_complete(op);
}

/* ================================================================ timers */

/* The timeout never ends a wait before the job was looked at once (when
 * connected): a wait with a timeout of 0 answers whether it has finished. */
static void wait_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    aop *op = arg;
    (void)fd; (void)what;
    if (op->completed)
        return;
    if (!op->prepped && op->phase != W_PARKED) {
        op->expired = 1;
        return;
    }
    wait_expire(op);
}

/* A quiet wait re-reads its job: a safety net for a record deleted without
 * a word (purge) or a message lost with a link, not the way it sees jobs end. */
static void wait_recheck_cb(evutil_socket_t fd, short what, void *arg)
{
    aop *op = arg;
    (void)fd; (void)what;
    if (!op->completed && op->phase == W_LISTEN)
        wait_prep(op);
}

int tq_async_wait(tq_async *a, const char *id, int64_t timeout_ms,
                  tq_async_job_fn *cb, void *ud)
{
    int rv;
    aop *op = tq_as_id_op(a, OP_WAIT, id, ud, &rv);
    if (!op)
        return rv;
    op->cb.job = cb;
    op->recheck_ev = evtimer_new(a->base, wait_recheck_cb, op);
    if (timeout_ms >= 0)
        op->timeout_ev = evtimer_new(a->base, wait_timeout_cb, op);
    if (!op->recheck_ev || (timeout_ms >= 0 && !op->timeout_ev)) {
        tq_aop_free(op);
        return tq_as_seterr(a, TQ_ENOMEM, "out of memory");
    }
    if (op->timeout_ev)
        tq_timer_ms(op->timeout_ev, timeout_ms);
    op->phase = W_PARKED;
    tq_aop_go(op);
    return 0;
}
