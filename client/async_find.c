/* async_find.c -- the calls on one job id: tq_async_status and
 * tq_async_cancel, and the locate step that a wait shares with them.
 *
 * The one idea: an id names its job, not its queue, so every call on an id
 * first asks the locate script for the queue (the id's tag says where to
 * look, docs/design.md §4), then goes on by kind from located(): status
 * HGETALLs the record, cancel runs the cancel script, a wait moves a step
 * (async_wait.c). A NOSCRIPT answer loads the scripts again and resends,
 * once per op.
 */
#include <stdio.h>

#include "client/async_private.h"

/* ================================================================ locate */

static void located(aop *op);

/* The locate script's reply: the job's queue, or nil. */
static void locate_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = tq_aop_replied(priv);
    redisReply *rep = r;
    tq_perr e;

    (void)ac;
    if (op->completed) {
        tq_aop_maybe_free(op);
        return;
    }
    if (!rep) {
        if (op->kind != OP_WAIT)
            tq_aop_fail(op, TQ_EREDIS, "lost the connection to Redis");
    } else if (tq_as_noscript_reload(op, &op->noscript, rep) && tq_as_locate(op) == 0) {
        tq_aop_maybe_free(op);
        return;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        tq_aop_fail(op, TQ_EREDIS, "Redis answered locate with an error: %.300s", rep->str);
    } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1) {
        tq_aop_fail(op, TQ_EPROTO, "Redis answered locate with something else");
    } else if (rep->element[0]->type == REDIS_REPLY_NIL) {
        tq_aop_fail(op, TQ_ENOTFOUND, "no such job '%s'", op->id);
    } else if (rep->element[0]->type != REDIS_REPLY_STRING ||
               tq_queue_check(rep->element[0]->str, &e)) {
        tq_aop_fail(op, TQ_EPROTO, "Redis answered locate with something else");
    } else if (!(op->q = tq_as_queue_get(op->a, rep->element[0]->str))) {
        tq_aop_fail(op, TQ_ENOMEM, "out of memory");
    } else {
        located(op);
    }
    if (op->err || (!rep && op->kind != OP_WAIT))
        tq_aop_complete(op);
    tq_aop_maybe_free(op);
}

int tq_as_locate(aop *op)
{
    tq_cmd cmd;
    int rv;

    tq_cmd_init(&cmd, TQ_SCRIPT_LOCATE);
    const char *id = op->id;
    tq_locate_cmd(&cmd, &op->a->nk, TQ_LOCATE_JOB, &id, 1);
    if ((rv = tq_as_send_script(op->a, &cmd, locate_cb, op)))
        return rv;
    op->inflight++;
    return 0;
}

int tq_as_fetch(aop *op, redisCallbackFn *fn)
{
    char jk[TQ_KEY_SIZE];
    int rv;

    if (!tq_key_join(jk, sizeof jk, op->q->keys->job_prefix, op->id))
        return TQ_EINVAL;
    const char *argv[2] = {"HGETALL", jk};
    if ((rv = tq_as_send(op->a, fn, op, 2, argv)))
        return rv;
    op->inflight++;
    return 0;
}

/* Every call on one job id starts here: checks the id, makes the op. A
 * wait is accepted between two connection attempts (it parks); the
 * others are refused then. */
aop *tq_as_id_op(tq_async *a, op_kind kind, const char *id, void *ud, int *rv)
{
    tq_perr e;
    aop *op;
    if ((*rv = tq_as_begin(a)))
        return NULL;
    if (!id || tq_id_check(id, &e)) {
        *rv = tq_as_seterr(a, TQ_EINVAL, "%s", id ? e.text : "no job id");
        return NULL;
    }
    if (kind != OP_WAIT && (*rv = tq_as_can_send(a)))
        return NULL;
    if (!(op = tq_aop_new(a, kind, ud))) {
        *rv = tq_as_seterr(a, TQ_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(op->id, sizeof op->id, "%s", id);
    return op;
}

/* Status and cancel, once the link is up: locate first. */
void tq_as_find_start(aop *op)
{
    if (tq_as_locate(op)) {
        tq_aop_fail(op, TQ_EREDIS, "lost the connection to Redis (nothing was sent)");
        tq_aop_complete(op);
    }
}

/* ================================================================ status */

static void status_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = tq_aop_replied(priv);
    redisReply *rep = r;
    tq_perr e;
    int rv;

    (void)ac;
    if (!rep)
        tq_aop_fail(op, TQ_EREDIS, "lost the connection to Redis");
    else if (rep->type == REDIS_REPLY_ERROR)
        tq_aop_fail(op, TQ_EREDIS, "Redis answered HGETALL with an error: %.300s", rep->str);
    else if ((rv = tq_record_decode(op->id, op->q->keys->queue, rep, &op->job, &e)))
        tq_aop_fail(op, rv, "%s", e.text);
    else if (!op->job)
        tq_aop_fail(op, TQ_ENOTFOUND, "no such job '%s'", op->id);
    tq_aop_complete(op);
    tq_aop_maybe_free(op);
}

int tq_async_status(tq_async *a, const char *id, tq_async_job_fn *cb, void *ud)
{
    int rv;
    aop *op = tq_as_id_op(a, OP_STATUS, id, ud, &rv);
    if (!op)
        return rv;
    op->cb.job = cb;
    tq_aop_go(op);
    return 0;
}

/* ================================================================ cancel */

static void cancel_send(aop *op);

static void cancel_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = tq_aop_replied(priv);
    redisReply *rep = r;
    tq_perr e;
    int rv;

    (void)ac;
    if (!rep) {
        tq_aop_fail(op, TQ_EREDIS, "lost the connection to Redis during the cancel "
                    "(it may or may not have been applied)");
    } else if (tq_as_noscript_reload(op, &op->noscript, rep)) {
        cancel_send(op);
        tq_aop_maybe_free(op);
        return;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        tq_aop_fail(op, TQ_EREDIS, "Redis answered cancel with an error: %.300s", rep->str);
    } else if ((rv = tq_cancel_req_reply(rep, op->id, &op->before, &e))) {
        tq_aop_fail(op, rv, "%s", e.text);
    }
    tq_aop_complete(op);
    tq_aop_maybe_free(op);
}

static void cancel_send(aop *op)
{
    char jk[TQ_KEY_SIZE];
    tq_cmd cmd;
    tq_perr e;
    int rv;

    tq_cmd_init(&cmd, TQ_SCRIPT_CANCEL);
    if ((rv = tq_cancel_req_build(&cmd, op->q->keys, &op->a->nk, op->id, jk, &e))) {
        tq_cmd_clear(&cmd);
        tq_aop_fail(op, rv, "%s", e.text);
        tq_aop_complete(op);
        return;
    }
    if ((rv = tq_as_send_script(op->a, &cmd, cancel_cb, op))) {
        tq_aop_fail(op, rv == TQ_ENOMEM ? TQ_ENOMEM : TQ_EREDIS, "%s",
                    rv == TQ_ENOMEM ? "out of memory"
                                    : "lost the connection to Redis (nothing was sent)");
        tq_aop_complete(op);
        return;
    }
    op->inflight++;
}

int tq_async_cancel(tq_async *a, const char *id, tq_async_cancel_fn *cb, void *ud)
{
    int rv;
    aop *op = tq_as_id_op(a, OP_CANCEL, id, ud, &rv);
    if (!op)
        return rv;
    op->cb.cancel = cb;
    op->before = TQ_STATE_UNKNOWN;
    tq_aop_go(op);
    return 0;
}

/* Where each kind goes once the job's queue is known. */
static void located(aop *op)
{
    switch (op->kind) {
    case OP_STATUS:
        if (tq_as_fetch(op, status_cb))
            tq_aop_fail(op, TQ_EREDIS, "lost the connection to Redis");
        break;
    case OP_CANCEL:
        cancel_send(op);
        break;
    case OP_WAIT:
        tq_as_wait_step(op);
        break;
    case OP_SUBMIT:
        break;
    }
}
