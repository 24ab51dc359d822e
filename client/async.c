/* async.c -- the async client of libtq: the client, its link and its ops
 * (include/tq/async.h; the other files are listed in async_private.h).
 *
 * The client owns a tq_link of two connections on the caller's base: `cmd`
 * for every command (the link loads the scripts on it), `sub` for the done
 * channels. Connecting, AUTH/SELECT, the watchdog on replies, the backoff
 * and tearing down from an event are the link's; this file turns its two
 * hooks into the client's semantics:
 *  - on_up starts every parked op, oldest first (a call made while the link
 *    was coming up waits for it, as hiredis used to queue it);
 *  - on_down comes after the link ran every pending reply callback with
 *    NULL (a submit, status or cancel in flight ends with TQ_EREDIS there):
 *    ops still parked end with TQ_EREDIS, waits park and start over on the
 *    next connections.
 *
 * The one idea that makes callbacks safe: user callbacks never run inside
 * hiredis. Outcomes are delivered from an event of our own (deliver_ev), so
 * a callback may submit, wait, or free the client; tq_async_free from inside
 * a callback only sets a flag, and the delivery loop frees the client once
 * the callback has returned.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/async_private.h"

/* ================================================================ helpers */

int tq_as_seterr(tq_async *a, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->errstr, sizeof a->errstr, fmt, ap);
    va_end(ap);
    tq_text_oneline(a->errstr);
    a->err = err;
    return err;
}

int tq_as_begin(tq_async *a)
{
    if (!a)
        return TQ_EINVAL;
    if (a->closing || a->free_requested)
        return tq_as_seterr(a, TQ_ECANCELLED, "the client is being freed");
    if (a->bad)
        return a->err;
    a->err = 0;
    a->errstr[0] = '\0';
    return 0;
}

int tq_as_can_send(tq_async *a)
{
    const char *why = a->link ? tq_link_reason(a->link) : "";

    if (a->link && (tq_link_is_up(a->link) || tq_link_is_connecting(a->link)))
        return 0;
    return tq_as_seterr(a, TQ_EREDIS, "not connected to Redis (reconnecting): %s",
                        why[0] ? why : "connection lost");
}

/* ================================================================ queues */

aqueue *tq_as_queue_get(tq_async *a, const char *name)
{
    for (size_t i = 0; i < a->nqueues; i++)
        if (!strcmp(a->queues[i]->keys->queue, name))
            return a->queues[i];
    aqueue **qs = realloc(a->queues, (a->nqueues + 1) * sizeof *qs);
    if (!qs)
        return NULL;
    a->queues = qs;
    aqueue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->a = a;
    q->keys = tq_qkeys_new(a->nk.ns, name);
    if (!q->keys) {
        free(q);
        return NULL;
    }
    a->queues[a->nqueues++] = q;
    return q;
}

/* ================================================================ sending */

/* A send that hiredis refused while the link is up: the connection is
 * going away; take the set down now rather than at the next reply. */
static int sent(tq_async *a, int rv)
{
    if (rv == TQ_EREDIS && a->link && tq_link_is_up(a->link))
        tq_link_fail(a->link, "cannot send a command", 0);
    return rv;
}

int tq_as_send(tq_async *a, redisCallbackFn *fn, void *priv, int argc,
               const char **argv)
{
    if (!a->link || a->closing)
        return TQ_EREDIS;
    return sent(a, tq_link_send(a->link, ASYNC_CMD, fn, priv, argc, argv, NULL));
}

int tq_as_send_script(tq_async *a, tq_cmd *cmd, redisCallbackFn *fn, void *priv)
{
    int rv;

    if (cmd->oom)
        rv = TQ_ENOMEM;
    else if (!a->link || a->closing)
        rv = TQ_EREDIS;
    else
        rv = sent(a, tq_link_send_script(a->link, ASYNC_CMD, cmd, fn, priv));
    tq_cmd_clear(cmd);
    return rv;
}

int tq_as_noscript_reload(aop *op, int *tries, const redisReply *rep)
{
    tq_async *a = op->a;

    if (!tq_reply_is_noscript(rep) || *tries >= ASYNC_NOSCRIPT_RETRIES ||
        !a->link || a->closing)
        return 0;
    ++*tries;
    /* the SCRIPT LOADs go first on the same connection: the call sent
     * again after them finds its script */
    return tq_link_reload_scripts(a->link, ASYNC_CMD) == 0;
}

/* ================================================================ ops */

aop *tq_aop_new(tq_async *a, op_kind kind, void *ud)
{
    aop *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->a = a;
    op->kind = kind;
    op->ud = ud;
    op->prev = a->ops_tail;
    if (a->ops_tail)
        a->ops_tail->next = op;
    else
        a->ops = op;
    a->ops_tail = op;
    return op;
}

void tq_aop_free(aop *op)
{
    tq_async *a = op->a;
    if (op->prev)
        op->prev->next = op->next;
    else
        a->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    else
        a->ops_tail = op->prev;
    if (op->timeout_ev)
        event_free(op->timeout_ev);
    if (op->recheck_ev)
        event_free(op->recheck_ev);
    tq_args_free_many(op->norm, op->n);
    free(op->ids);
    free(op->calls);
    free(op->task);
    free(op->o_queue);
    free(op->o_sem);
    free(op->o_rl);
    free(op->o_fair);
    free(op->o_unique);
    tq_job_free(op->job);
    free(op);
}

void tq_aop_fail(aop *op, int err, const char *fmt, ...)
{
    va_list ap;
    if (op->err)
        return;
    va_start(ap, fmt);
    vsnprintf(op->errstr, sizeof op->errstr, fmt, ap);
    va_end(ap);
    tq_text_oneline(op->errstr);
    op->err = err;
}

void tq_aop_maybe_free(aop *op)
{
    if (op->delivered && op->inflight == 0)
        tq_aop_free(op);
}

aop *tq_aop_replied(void *priv)
{
    aop *op = priv;
    op->inflight--;
    return op;
}

void tq_aop_complete(aop *op)
{
    tq_async *a = op->a;
    if (op->completed)
        return;
    op->completed = 1;
    op->parked = 0;
    if (op->kind == OP_WAIT)
        tq_as_wait_end(op);
    op->dnext = NULL;
    if (a->done_tail)
        a->done_tail->dnext = op;
    else
        a->done_head = op;
    a->done_tail = op;
    if (!a->closing)
        event_active(a->deliver_ev, EV_TIMEOUT, 1);
}

static void aop_start(aop *op)
{
    op->parked = 0;
    switch (op->kind) {
    case OP_SUBMIT:
        tq_as_submit_start(op);
        break;
    case OP_STATUS:
    case OP_CANCEL:
        tq_as_find_start(op);
        break;
    case OP_WAIT:
        tq_as_wait_start(op);
        break;
    }
}

void tq_aop_go(aop *op)
{
    if (op->a->up)
        aop_start(op);
    else
        op->parked = 1;
}

/* ================================================================ delivery */

/* Calls the op's callback, with the op's error as the client's. */
static void aop_deliver(aop *op)
{
    tq_async *a = op->a;
    op->delivered = 1;
    a->err = op->err;
    snprintf(a->errstr, sizeof a->errstr, "%s", op->err ? op->errstr : "");
    switch (op->kind) {
    case OP_SUBMIT:
        if (op->many) {
            /* TQ_EDURABLE: the jobs exist, their ids are given */
            int ok = !op->err || op->err == TQ_EDURABLE;
            if (op->cb.many)
                op->cb.many(a, op->err, ok ? (const char (*)[TQ_ID_SIZE])op->ids : NULL,
                            ok ? op->n : 0, op->ud);
        } else if (op->cb.submit) {
            int ok = !op->err || op->err == TQ_EDURABLE;
            op->cb.submit(a, op->err, ok ? op->ids[0] : NULL, op->ud);
        }
        break;
    case OP_STATUS:
    case OP_WAIT:
        if (op->cb.job)
            op->cb.job(a, op->err, op->err ? NULL : op->job, op->ud);
        break;
    case OP_CANCEL:
        if (op->cb.cancel)
            op->cb.cancel(a, op->err, op->err ? TQ_STATE_UNKNOWN : op->before, op->ud);
        break;
    }
    tq_job_free(op->job);
    op->job = NULL;
}

static void do_free(tq_async *a);

/* Delivers the outcomes queued so far, in order. A callback that frees
 * the client ends the run; the client is freed once it returned. */
static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_async *a = arg;
    aop *op;

    (void)fd; (void)what;
    a->delivering = 1;
    while (!a->free_requested && (op = a->done_head)) {
        a->done_head = op->dnext;
        if (!a->done_head)
            a->done_tail = NULL;
        aop_deliver(op);
        tq_aop_maybe_free(op);
    }
    a->delivering = 0;
    if (a->free_requested)
        do_free(a);
}

/* ================================================================ the link's hooks */

/* Every subscription is back in place: parked ops start, oldest first. */
static void on_up(tq_link *l, void *ud)
{
    tq_async *a = ud;
    aop *op, *next;

    (void)l;
    a->up = 1;
    tq_as_chans_ready(a, 1);
    /* an op started here may complete (and be delivered later) but is not
     * freed before deliver_cb, so next stays valid */
    for (op = a->ops; op; op = next) {
        next = op->next;
        if (op->parked && !op->completed)
            aop_start(op);
    }
}

/* Every reply callback has run with NULL already: what is left parked ends
 * now, waits included in nothing but their own restart. */
static void on_down(tq_link *l, const char *reason, int flags, void *ud)
{
    tq_async *a = ud;

    (void)l; (void)flags;
    a->up = 0;
    tq_as_chans_ready(a, 0);
    for (aop *op = a->ops; op; op = op->next) {
        if (op->completed)
            continue;
        if (op->kind == OP_WAIT) {
            tq_as_wait_park(op);
        } else if (op->parked) {
            tq_aop_fail(op, TQ_EREDIS, "cannot reach Redis (nothing was sent): %s",
                        reason);
            tq_aop_complete(op);
        }
    }
}

/* ================================================================ new, free */

tq_async *tq_async_new(struct event_base *base, const char *url, const char *ns)
{
    tq_link_hooks hooks = {.on_up = on_up, .on_down = on_down};
    tq_link_conf conf = {
        .nconns = 2,
        .kinds = {TQ_LINK_CMD, TQ_LINK_SUB},
        .names = {"cmd", "sub"},
        .load_scripts = 1,
    };
    tq_async *a;
    tq_perr e;

    if (!base)
        return NULL;
    if (!(a = calloc(1, sizeof *a)))
        return NULL;
    a->base = base;
    a->deliver_ev = event_new(base, -1, 0, deliver_cb, a);
    if (!a->deliver_ev) {
        tq_async_free(a);
        return NULL;
    }
    if (!ns)
        ns = "tq";
    if (tq_ns_check(ns, &e) || tq_redis_url_parse(url, &a->addr, &e)) {
        a->bad = 1;
        tq_as_seterr(a, TQ_EINVAL, "%s", e.text);
        return a;
    }
    if (tq_nskeys_init(&a->nk, ns) || !(a->chans = tq_map_new())) {
        tq_async_free(a);
        return NULL;
    }
    /* the keepalive is a channel next to the done channels (P:done::1),
     * which no job id names: an ACL that allows P:done:* allows it */
    conf.keepalive_channel = a->nk.done_prefix;
    hooks.ud = a;
    if (!(a->link = tq_link_new(base, &a->addr, &conf, &hooks))) {
        tq_async_free(a);
        return NULL;
    }
    tq_sigpipe_ignore();
    tq_link_start(a->link);
    if (tq_as_can_send(a))
        tq_as_seterr(a, TQ_EREDIS, "cannot reach Redis: %s", tq_link_reason(a->link));
    return a;
}

/* Closes everything, calls every callback not yet called, frees. */
static void do_free(tq_async *a)
{
    aop *op;

    a->closing = 1;
    a->delivering = 1;
    if (a->deliver_ev)
        event_del(a->deliver_ev);
    /* Every call still waiting for its answer ends TQ_ECANCELLED (the
     * first error an op records is the one it reports, so the NULL replies
     * of closing the link do not turn it into TQ_EREDIS). */
    for (op = a->ops; op; op = op->next)
        if (!op->completed)
            tq_aop_fail(op, TQ_ECANCELLED, "the client was freed before the call finished");
    tq_link_free(a->link); /* pending reply callbacks run with NULL, now */
    a->link = NULL;
    for (op = a->ops; op; op = op->next)
        tq_aop_complete(op);
    while ((op = a->done_head)) {
        a->done_head = op->dnext;
        if (!a->done_head)
            a->done_tail = NULL;
        aop_deliver(op);
    }
    while (a->ops)
        tq_aop_free(a->ops);
    for (size_t i = 0; i < a->nqueues; i++) {
        tq_qkeys_free(a->queues[i]->keys);
        free(a->queues[i]);
    }
    free(a->queues);
    tq_as_chans_free(a);
    tq_nskeys_clear(&a->nk);
    if (a->deliver_ev)
        event_free(a->deliver_ev);
    free(a);
}

void tq_async_free(tq_async *a)
{
    if (!a || a->closing || a->free_requested)
        return;
    if (a->delivering) {
        a->free_requested = 1; /* deliver_cb frees it when the callback returns */
        return;
    }
    do_free(a);
}

int tq_async_err(const tq_async *a)
{
    return a ? a->err : TQ_ENOMEM;
}

const char *tq_async_errstr(const tq_async *a)
{
    return a ? a->errstr : "out of memory";
}

int tq_async_connected(const tq_async *a)
{
    return a && a->up && a->link && tq_link_is_up(a->link);
}
