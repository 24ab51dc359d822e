/* async_submit.c -- tq_async_submit and tq_async_submit_many.
 *
 * A submit is a tq_submit_req (client/request.c: the same script calls the
 * blocking client pipelines), sent call by call on the command connection
 * once the link is up. The one idea: every call is a separate reply with
 * its own acall, and the op completes when the last reply is in; the first
 * error is the one reported, since the calls sent before it may have
 * created their jobs. The queue's two registering SADDs go before its first
 * submit on the same connection, so Redis runs them first. A durable
 * submit sends one WAIT once every call has answered.
 */
#include <stdlib.h>
#include <string.h>

#include "client/async_private.h"

static void sadd_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aqueue *q = priv;
    redisReply *rep = r;
    (void)ac;
    if (!rep || rep->type != REDIS_REPLY_INTEGER)
        q->sadd_failed = 1;
    if (q->sadd_inflight > 0 && --q->sadd_inflight == 0 && !q->sadd_failed)
        q->registered = 1;
}

/* Registers q (docs/design.md §2): its tag's set first, then P:queues. */
static void queue_register(tq_async *a, aqueue *q)
{
    const char *tagv[3] = {"SADD", q->keys->qtag, q->keys->queue};
    const char *argv[3] = {"SADD", a->nk.queues, q->keys->queue};

    if (q->registered || q->sadd_inflight)
        return;
    q->sadd_failed = 0;
    if (tq_as_send(a, sadd_cb, q, 3, tagv) != 0)
        return;
    q->sadd_inflight++;
    if (tq_as_send(a, sadd_cb, q, 3, argv) == 0)
        q->sadd_inflight++;
    else
        q->sadd_failed = 1;
}

static int submit_send_one(aop *op, acall *call);

/* The answer to a durable submit's WAIT: how many replicas confirmed. */
static void durable_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = tq_aop_replied(priv);
    redisReply *rep = r;
    char took[32];
    int64_t ms = op->o.durable_timeout_ms;

    (void)ac;
    if (ms % 1000 == 0)
        snprintf(took, sizeof took, "%llds", (long long)(ms / 1000));
    else
        snprintf(took, sizeof took, "%lldms", (long long)ms);
    if (!rep)
        tq_aop_fail(op, TQ_EREDIS, "lost the connection to Redis during WAIT "
                    "(the jobs were created)");
    else if (rep->type == REDIS_REPLY_ERROR)
        tq_aop_fail(op, TQ_EREDIS, "Redis answered WAIT with an error: %.300s",
                    rep->str ? rep->str : "?");
    else if (rep->type != REDIS_REPLY_INTEGER)
        tq_aop_fail(op, TQ_EPROTO, "Redis answered WAIT with something else");
    else if (rep->integer < op->o.durable)
        tq_aop_fail(op, TQ_EDURABLE, "accepted by the master, not yet on %d replica%s "
                    "(%lld confirmed within %s)", op->o.durable,
                    op->o.durable == 1 ? "" : "s", rep->integer, took);
    if (op->inflight == 0)
        tq_aop_complete(op);
    tq_aop_maybe_free(op);
}

/* Every call of a durable submit answered: WAIT on the same connection, so
 * it covers their writes. It blocks in Redis up to the timeout, so it is
 * sent as a blocking command (its reply is due that much later). 1 when
 * sent (the op completes from durable_cb). */
static int durable_send(aop *op)
{
    char n[16], t[24];
    const char *argv[] = {"WAIT", n, t};
    tq_async *a = op->a;
    int rv;

    if (!op->o.durable || op->durable_sent || op->err)
        return 0;
    op->durable_sent = 1;
    snprintf(n, sizeof n, "%d", op->o.durable);
    snprintf(t, sizeof t, "%lld", (long long)op->o.durable_timeout_ms);
    if (!a->link || a->closing)
        rv = TQ_EREDIS;
    else
        rv = tq_link_send_blocking(a->link, ASYNC_CMD, op->o.durable_timeout_ms,
                                   durable_cb, op, 3, argv, NULL);
    if (rv) {
        tq_aop_fail(op, rv == TQ_ENOMEM ? TQ_ENOMEM : TQ_EREDIS,
                    "cannot send WAIT (the jobs were created)");
        return 0;
    }
    op->inflight++;
    return 1;
}

static void submit_cb(redisAsyncContext *ac, void *r, void *priv)
{
    acall *call = priv;
    aop *op = tq_aop_replied(call->op);
    redisReply *rep = r;
    tq_perr e;
    int rv;

    (void)ac;
    if (!rep) {
        tq_aop_fail(op, TQ_EREDIS, "lost the connection to Redis during the submit "
                    "(its jobs may or may not have been created)");
    } else if (tq_reply_is_noscript(rep) && call->noscript < ASYNC_NOSCRIPT_RETRIES &&
               !op->err && !op->a->closing) {
        /* scripts flushed: this call did not run; send it again after the
         * SCRIPT LOADs on the same connection */
        if (tq_as_noscript_reload(op, &call->noscript, rep))
            submit_send_one(op, call);
        else
            tq_aop_fail(op, TQ_EREDIS, "lost the connection to Redis during the submit");
    } else if (rep->type == REDIS_REPLY_ERROR) {
        tq_aop_fail(op, TQ_EREDIS, "Redis answered %s with an error: %.300s",
                    tq_script_name(op->req.o->unique ? TQ_SCRIPT_SUBMIT : TQ_SCRIPT_SUBMITN),
                    rep->str ? rep->str : "?");
    } else if ((rv = tq_submit_req_reply(&op->req, call->i, rep, &e))) {
        tq_aop_fail(op, rv, "%s", e.text);
    }
    if (op->inflight == 0 && !durable_send(op))
        tq_aop_complete(op);
    tq_aop_maybe_free(op);
}

/* Builds and sends one call of the submit. 0, or the op has failed. */
static int submit_send_one(aop *op, acall *call)
{
    tq_cmd cmd;
    int rv;

    tq_cmd_init(&cmd, tq_submit_req_script(&op->req));
    if (tq_submit_req_build(&op->req, call->i, &cmd)) {
        tq_cmd_clear(&cmd);
        tq_aop_fail(op, TQ_ENOMEM, "out of memory");
        return -1;
    }
    if ((rv = tq_as_send_script(op->a, &cmd, submit_cb, call))) {
        if (rv == TQ_ENOMEM)
            tq_aop_fail(op, TQ_ENOMEM, "out of memory");
        else
            tq_aop_fail(op, TQ_EREDIS, "lost the connection to Redis during the submit");
        return -1;
    }
    op->inflight++;
    return 0;
}

/* The link is up: the queue's SADDs, then every call. A call that cannot be
 * sent fails the op (the calls sent before it may still succeed: the op
 * reports the error). */
void tq_as_submit_start(aop *op)
{
    aqueue *q = tq_as_queue_get(op->a, op->o.queue);

    if (q)
        queue_register(op->a, q);
    for (size_t i = 0; i < op->ncalls && !op->err; i++)
        if (submit_send_one(op, &op->calls[i]))
            break;
    if (op->inflight == 0)
        tq_aop_complete(op);
}

static char *dup_opt(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

static int submit_common(tq_async *a, const char *task, const char *const *args,
                         size_t n, const tq_submit_opts *o, int many, void *cb,
                         void *ud)
{
    tq_submit_opts defaults;
    char **norm = NULL;
    aop *op;
    tq_perr e;
    int rv, oom = 0;

    if ((rv = tq_as_begin(a)))
        return rv;
    if (!o) {
        tq_submit_opts_init(&defaults);
        o = &defaults;
    }
    if (tq_client_opts_check(task, o, &e))
        return tq_as_seterr(a, TQ_EINVAL, "%s", e.text);
    if (n && !args)
        return tq_as_seterr(a, TQ_EINVAL, "no args given");
    if ((rv = tq_args_normalize_many(args, n, o->max_args, &norm, &e)))
        return tq_as_seterr(a, rv, "%s", e.text);
    if ((rv = tq_as_can_send(a))) {
        tq_args_free_many(norm, n);
        return rv;
    }
    if (!(op = tq_aop_new(a, OP_SUBMIT, ud))) {
        tq_args_free_many(norm, n);
        return tq_as_seterr(a, TQ_ENOMEM, "out of memory");
    }
    op->many = many;
    if (many)
        op->cb.many = (tq_async_many_fn *)cb;
    else
        op->cb.submit = (tq_async_submit_fn *)cb;
    op->norm = norm;
    op->n = n;
    /* the options are the caller's for the call only: keep copies */
    op->o = *o;
    op->o.queue = op->o_queue = dup_opt(o->queue, &oom);
    op->o.semaphore = op->o_sem = dup_opt(o->semaphore, &oom);
    op->o.unique = op->o_unique = dup_opt(o->unique, &oom);
    op->o.rate_limit = op->o_rl = dup_opt(o->rate_limit, &oom);
    op->o.fair_key = op->o_fair = dup_opt(o->fair_key, &oom);
    op->task = dup_opt(task, &oom);
    op->ids = calloc(n ? n : 1, sizeof *op->ids);
    aqueue *q = oom || !op->ids ? NULL : tq_as_queue_get(a, op->o.queue);
    if (!q) {
        tq_aop_free(op);
        return tq_as_seterr(a, TQ_ENOMEM, "out of memory");
    }
    if ((rv = tq_ids_new(op->ids, n, op->o.queue, &e)) ||
        (rv = tq_submit_req_init(&op->req, op->task, (const char *const *)op->norm, n,
                                 &op->o, q->keys, &a->nk, op->ids, &e))) {
        tq_aop_free(op);
        return tq_as_seterr(a, rv, "%s", e.text);
    }
    op->ncalls = n ? tq_submit_req_calls(&op->req) : 0;
    op->calls = calloc(op->ncalls ? op->ncalls : 1, sizeof *op->calls);
    if (!op->calls) {
        tq_aop_free(op);
        return tq_as_seterr(a, TQ_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < op->ncalls; i++) {
        op->calls[i].op = op;
        op->calls[i].i = i;
    }
    if (n == 0) {
        tq_aop_complete(op);
        return 0;
    }
    op->req.due_ms = tq_due_ms(&op->o);
    tq_aop_go(op);
    return 0;
}

int tq_async_submit(tq_async *a, const char *task, const char *args,
                    const tq_submit_opts *o, tq_async_submit_fn *cb, void *ud)
{
    return submit_common(a, task, &args, 1, o, 0, (void *)cb, ud);
}

int tq_async_submit_many(tq_async *a, const char *task, const char *const *args,
                         size_t n, const tq_submit_opts *o, tq_async_many_fn *cb,
                         void *ud)
{
    return submit_common(a, task, args, n, o, 1, (void *)cb, ud);
}
