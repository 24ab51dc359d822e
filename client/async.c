/* async.c -- the async client of libtq: submit, status, wait and cancel on
 * the caller's own event_base (include/tq/async.h).
 *
 * Two hiredis async connections attached to the caller's base: `cmd` for
 * every command, `sub` for the done channels. Every public call becomes an
 * "op" that sends its first command and returns; the replies drive it from
 * step to step (a status is GET P:i:ID, then HGETALL), and when its outcome
 * is known the op is queued for delivery. The one idea that makes callbacks
 * safe: user callbacks never run inside hiredis. Outcomes are delivered from
 * an event of our own (deliver_ev), so a callback may submit, wait, or free
 * the client; tq_async_free from inside a callback only sets a flag, and the
 * delivery loop frees the client once the callback has returned.
 *
 * A wait is the blocking tq_wait made of events: SUBSCRIBE P:done:ID first,
 * then (once Redis confirmed it, and the job's queue is known) waitprep,
 * which marks the job watched and says where it stands; a finish between
 * the two steps is either seen by waitprep or published to a channel already
 * listened to. Waits on one id share one subscription (a channel), counted
 * here, so hiredis 0.14's one-callback-per-channel table is never raced: a
 * channel is unsubscribed only when its last wait ends, and subscribed again
 * only after Redis confirmed the unsubscribe. One subscription is never
 * dropped (the bare prefix P:done:, which nothing publishes to), so the
 * connection never leaves subscribed mode while a SUBSCRIBE is in flight.
 *
 * The two connections live and die together, as the worker's do: any
 * failure tears both down (from an event of ours, never inside hiredis),
 * and they are rebuilt after a backoff. hiredis then runs every pending
 * reply callback with NULL: a submit, status or cancel ends with TQ_EREDIS;
 * a wait goes back to "parked" and starts over on the new connections.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>

#include "client/client_private.h"
#include "proto/proto_private.h"
#include "tq/async.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STALL_MS 5000          /* a connect or a reply this late: link lost */
#define WATCHDOG_MS 1000
#define RECHECK_MS 10000       /* a quiet wait re-reads its job */
#define NOSCRIPT_RETRIES 1

typedef struct aop aop;
typedef struct achan achan;
typedef struct aqueue aqueue;

/* ================================================================ structures */

/* One queue this client has touched: its keys, and whether it is in
 * P:queues and its tag's set P:qt:TAG yet (two SADDs once, sent before its
 * first submit on the same link, so Redis runs them first). */
struct aqueue {
    tq_async *a;
    tq_qkeys *keys;
    int registered;
    int sadd_inflight;          /* SADDs not answered yet */
    int sadd_failed;            /* one of them failed: try again next submit */
};

/* A done channel and the waits that listen to it. */
typedef enum {
    CH_NONE,          /* not subscribed (being created) */
    CH_SUBSCRIBING,   /* SUBSCRIBE sent, not confirmed */
    CH_SUBSCRIBED,
    CH_UNSUBSCRIBING  /* UNSUBSCRIBE sent: subscribe again once confirmed */
} chan_state;

struct achan {
    achan *next;                /* in its hash bucket */
    char id[TQ_ID_SIZE];
    chan_state state;
    aop *waits;                 /* waits on this id (aop.cnext) */
};

typedef enum { OP_SUBMIT, OP_STATUS, OP_WAIT, OP_CANCEL } op_kind;

/* A wait's progress on the current connections. */
typedef enum {
    W_PARKED,    /* not started: no connection, or it was lost */
    W_STARTING,  /* channel and/or queue still to come */
    W_PREP,      /* waitprep in flight */
    W_LISTEN,    /* waiting for a done message (or the recheck) */
    W_FETCH      /* HGETALL in flight */
} wait_phase;

/* One call of a submit: which op, which call (its privdata for hiredis). */
typedef struct acall {
    aop *op;
    size_t i;
    int noscript;
} acall;

/* A public call in progress. It is freed once its callback has been called
 * and no hiredis callback still points at it (inflight == 0). */
struct aop {
    aop *prev, *next;           /* a->ops: every op not freed */
    aop *dnext;                 /* a->done_head: delivery queue */
    tq_async *a;
    op_kind kind;
    int inflight;               /* hiredis callbacks that will still run */
    int completed, delivered;
    int err;
    char errstr[512];
    union {
        tq_async_submit_fn *submit;
        tq_async_many_fn *many;
        tq_async_job_fn *job;
        tq_async_cancel_fn *cancel;
    } cb;
    int many;                   /* OP_SUBMIT through tq_async_submit_many */
    void *ud;

    /* status, wait, cancel */
    char id[TQ_ID_SIZE];
    aqueue *q;                  /* the job's queue once known */
    tq_job *job;                /* the outcome of status and wait */
    tq_state before;            /* of cancel */
    int noscript;

    /* submit */
    char **norm;
    size_t n;
    char (*ids)[TQ_ID_SIZE];
    tq_submit_opts o;
    char *o_queue, *o_sem, *o_unique;
    tq_submit_req req;
    acall *calls;
    size_t ncalls;
    char *task;

    /* wait */
    achan *chan;
    aop *cnext;                 /* in chan->waits */
    wait_phase phase;
    int subbed;                 /* chan confirmed for this connection */
    int msg_seen;               /* a done message came while a step was in flight */
    int prepped;                /* waitprep has answered once */
    int expired;                /* the timeout passed before that: end after it */
    tq_state hint;              /* terminal state a message or waitprep told */
    struct event *timeout_ev, *recheck_ev;
};

typedef struct alink {
    tq_async *a;
    redisAsyncContext *ac;      /* NULL when closed */
    int connected;
} alink;

struct tq_async {
    struct event_base *base;
    tq_redis_addr addr;
    tq_nskeys nk;
    int bad;                    /* set-up failed: every call answers err */
    int err;
    char errstr[512];
    char linkerr[600];          /* why the connection went down last */

    alink cmd, sub;
    int up;                     /* both connected, subscriptions restored */
    int down_pending, tearing;
    int64_t backoff_ms;
    double connect_t0, cmd_progress, sub_progress;
    int cmd_pending, sub_pending;
    struct event *teardown_ev, *reconnect_ev, *watchdog_ev, *up_ev, *deliver_ev;

    aop *ops;                   /* every op not freed */
    aop *done_head, *done_tail; /* outcomes waiting to be delivered */
    int delivering, free_requested, closing;

    aqueue **queues;
    size_t nqueues;

    achan **chans;              /* hash of channels by id */
    size_t nbuckets, nchans;
};

static void link_down(tq_async *a, const char *why);
static void op_complete(aop *op);
static void wait_start(aop *op);
static void wait_step(aop *op);
static void wait_fetch(aop *op);
static void wait_prep(aop *op);
static void wait_expire(aop *op);
static void sub_cb(redisAsyncContext *ac, void *r, void *priv);

/* ================================================================ helpers */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int seterr(tq_async *a, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int seterr(tq_async *a, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->errstr, sizeof a->errstr, fmt, ap);
    va_end(ap);
    tq_text_oneline(a->errstr);
    a->err = err;
    return err;
}

/* Records the op's error (the first one wins). */
static void op_fail(aop *op, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void op_fail(aop *op, int err, const char *fmt, ...)
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

static void addr_text(const tq_async *a, char *buf, size_t n)
{
    if (a->addr.path[0])
        snprintf(buf, n, "unix:%s", a->addr.path);
    else
        snprintf(buf, n, "%s:%d", a->addr.host, a->addr.port);
}

static void timer_add_ms(struct event *ev, int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

/* The start of every public call: 0, or the error that refuses it. */
static int begin(tq_async *a)
{
    if (!a)
        return TQ_EINVAL;
    if (a->closing || a->free_requested)
        return seterr(a, TQ_ECANCELLED, "the client is being freed");
    if (a->bad)
        return a->err;
    a->err = 0;
    a->errstr[0] = '\0';
    return 0;
}

/* Commands can be sent (queued in hiredis while it connects). */
static int can_send(tq_async *a)
{
    if (a->cmd.ac && a->sub.ac && !a->down_pending)
        return 0;
    return seterr(a, TQ_EREDIS, "not connected to Redis (reconnecting): %s",
                  a->linkerr[0] ? a->linkerr : "connection lost");
}

/* ================================================================ queues */

static aqueue *queue_get(tq_async *a, const char *name)
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

static void watchdog_arm(tq_async *a)
{
    if (!a->closing && !evtimer_pending(a->watchdog_ev, NULL))
        timer_add_ms(a->watchdog_ev, WATCHDOG_MS);
}

static void cmd_sent(tq_async *a)
{
    if (a->cmd_pending++ == 0)
        a->cmd_progress = mono_ms();
    watchdog_arm(a);
}

/* Every reply callback on cmd starts with this (NULL replies too). */
static void cmd_replied(tq_async *a)
{
    if (a->cmd_pending > 0)
        a->cmd_pending--;
    a->cmd_progress = mono_ms();
}

/* A command on cmd; on failure the link is declared down. 0 or -1. */
static int send_argv(tq_async *a, redisCallbackFn *fn, void *priv, int argc,
                     const char **argv)
{
    if (!a->cmd.ac || a->down_pending)
        return -1;
    if (redisAsyncCommandArgv(a->cmd.ac, fn, priv, argc, argv, NULL) != REDIS_OK) {
        link_down(a, "cannot send a command");
        return -1;
    }
    cmd_sent(a);
    return 0;
}

/* A script call built in cmd (cleared here). 0, -1 (link down) or TQ_ENOMEM. */
static int send_script(tq_async *a, tq_cmd *cmd, redisCallbackFn *fn, void *priv)
{
    int rv = 0;
    if (cmd->oom)
        rv = TQ_ENOMEM;
    else if (!a->cmd.ac || a->down_pending)
        rv = -1;
    else if (tq_cmd_send(a->cmd.ac, cmd, fn, priv) != 0) {
        link_down(a, "cannot send a command");
        rv = -1;
    } else
        cmd_sent(a);
    tq_cmd_clear(cmd);
    return rv;
}

/* ================================================================ channels */

static size_t hash_id(const char *s)
{
    size_t h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

static achan *chan_find(tq_async *a, const char *id)
{
    if (!a->nbuckets)
        return NULL;
    achan *c = a->chans[hash_id(id) % a->nbuckets];
    while (c && strcmp(c->id, id))
        c = c->next;
    return c;
}

static int chans_grow(tq_async *a)
{
    size_t n = a->nbuckets ? a->nbuckets * 2 : 64;
    achan **b = calloc(n, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < a->nbuckets; i++) {
        achan *c = a->chans[i], *next;
        for (; c; c = next) {
            next = c->next;
            size_t k = hash_id(c->id) % n;
            c->next = b[k];
            b[k] = c;
        }
    }
    free(a->chans);
    a->chans = b;
    a->nbuckets = n;
    return 0;
}

static achan *chan_new(tq_async *a, const char *id)
{
    if (a->nchans >= a->nbuckets && chans_grow(a))
        return NULL;
    achan *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->id, sizeof c->id, "%s", id);
    size_t k = hash_id(id) % a->nbuckets;
    c->next = a->chans[k];
    a->chans[k] = c;
    a->nchans++;
    return c;
}

static void chan_remove(tq_async *a, achan *c)
{
    achan **pp = &a->chans[hash_id(c->id) % a->nbuckets];
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
    a->nchans--;
    free(c);
}

/* (UN)SUBSCRIBE P:done:ID on sub. 0 or -1 (the link is going down). */
static int chan_send(tq_async *a, achan *c, const char *verb)
{
    char ch[TQ_KEY_SIZE];
    if (!a->sub.ac || a->down_pending ||
        !tq_key_join(ch, sizeof ch, a->nk.done_prefix, c->id))
        return -1;
    const char *argv[2] = {verb, ch};
    if (redisAsyncCommandArgv(a->sub.ac, sub_cb, a, 2, argv, NULL) != REDIS_OK) {
        link_down(a, "cannot send a command");
        return -1;
    }
    if (a->sub_pending++ == 0)
        a->sub_progress = mono_ms();
    watchdog_arm(a);
    return 0;
}

/* Adds the wait to the channel of its id, subscribing when needed. */
static int chan_attach(aop *op)
{
    tq_async *a = op->a;
    achan *c = chan_find(a, op->id);
    if (!c) {
        if (!(c = chan_new(a, op->id)))
            return TQ_ENOMEM;
    }
    op->chan = c;
    op->cnext = c->waits;
    c->waits = op;
    op->subbed = c->state == CH_SUBSCRIBED;
    if (c->state == CH_NONE) {
        c->state = CH_SUBSCRIBING;
        if (chan_send(a, c, "SUBSCRIBE"))
            return -1;
    }
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
    op->subbed = 0;
    if (c->waits)
        return;
    if (c->state == CH_SUBSCRIBED) {
        c->state = CH_UNSUBSCRIBING;
        if (chan_send(op->a, c, "UNSUBSCRIBE"))
            return; /* the teardown frees it */
    } else if (c->state == CH_NONE) {
        chan_remove(op->a, c);
    }
    /* SUBSCRIBING: unsubscribed once confirmed; UNSUBSCRIBING: freed then */
}

/* Every channel goes (the connection that held them is gone). */
static void chans_clear(tq_async *a)
{
    for (size_t i = 0; i < a->nbuckets; i++) {
        achan *c = a->chans[i], *next;
        for (; c; c = next) {
            next = c->next;
            for (aop *op = c->waits; op; op = op->cnext) {
                op->chan = NULL;
                op->subbed = 0;
            }
            free(c);
        }
        a->chans[i] = NULL;
    }
    a->nchans = 0;
}

static void wait_message(aop *op, const char *payload);

/* Everything the sub connection hears: (un)subscribe confirmations and
 * done messages. privdata is the client. */
static void sub_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_async *a = priv;
    redisReply *rep = r;
    size_t clen = 0, plen = strlen(a->nk.done_prefix);

    (void)ac;
    if (!rep || a->closing)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        link_down(a, rep->str ? rep->str : "SUBSCRIBE refused");
        return;
    }
    const char *kind = tq_reply_str(rep, 0, NULL);
    const char *name = tq_reply_str(rep, 1, &clen);
    if (!kind || !name || clen < plen || strncmp(name, a->nk.done_prefix, plen))
        return;
    int confirm = !strcmp(kind, "subscribe") || !strcmp(kind, "unsubscribe");
    if (confirm && a->sub_pending > 0)
        a->sub_pending--;
    a->sub_progress = mono_ms();
    if (clen == plen || clen - plen > TQ_ID_MAX)
        return; /* the anchor subscription */
    char id[TQ_ID_SIZE];
    memcpy(id, name + plen, clen - plen);
    id[clen - plen] = '\0';
    achan *c = chan_find(a, id);
    if (!c)
        return;
    if (!strcmp(kind, "subscribe")) {
        if (c->state != CH_SUBSCRIBING)
            return;
        c->state = CH_SUBSCRIBED;
        if (!c->waits) {
            c->state = CH_UNSUBSCRIBING;
            chan_send(a, c, "UNSUBSCRIBE");
            return;
        }
        for (aop *op = c->waits, *next; op; op = next) {
            next = op->cnext;
            op->subbed = 1;
            wait_step(op);
        }
    } else if (!strcmp(kind, "unsubscribe")) {
        if (c->state != CH_UNSUBSCRIBING)
            return;
        if (!c->waits) {
            chan_remove(a, c);
            return;
        }
        c->state = CH_SUBSCRIBING;
        chan_send(a, c, "SUBSCRIBE");
    } else if (!strcmp(kind, "message")) {
        const char *payload = tq_reply_str(rep, 2, NULL);
        for (aop *op = c->waits, *next; op; op = next) {
            next = op->cnext;
            wait_message(op, payload ? payload : "");
        }
    }
}

/* ================================================================ ops */

static aop *op_new(tq_async *a, op_kind kind, void *ud)
{
    aop *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->a = a;
    op->kind = kind;
    op->ud = ud;
    op->next = a->ops;
    if (a->ops)
        a->ops->prev = op;
    a->ops = op;
    return op;
}

static void op_free(aop *op)
{
    tq_async *a = op->a;
    if (op->prev)
        op->prev->next = op->next;
    else
        a->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
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
    free(op->o_unique);
    tq_job_free(op->job);
    free(op);
}

/* The op's hiredis callbacks have all run and its own has been called. */
static void op_maybe_free(aop *op)
{
    if (op->delivered && op->inflight == 0)
        op_free(op);
}

/* The outcome is known (op->err, op->job, ...): queue the delivery. */
static void op_complete(aop *op)
{
    tq_async *a = op->a;
    if (op->completed)
        return;
    op->completed = 1;
    if (op->kind == OP_WAIT) {
        chan_detach(op);
        if (op->timeout_ev)
            evtimer_del(op->timeout_ev);
        if (op->recheck_ev)
            evtimer_del(op->recheck_ev);
    }
    op->dnext = NULL;
    if (a->done_tail)
        a->done_tail->dnext = op;
    else
        a->done_head = op;
    a->done_tail = op;
    if (!a->closing)
        event_active(a->deliver_ev, EV_TIMEOUT, 1);
}

/* Calls the op's callback, with the op's error as the client's. */
static void op_deliver(aop *op)
{
    tq_async *a = op->a;
    op->delivered = 1;
    a->err = op->err;
    snprintf(a->errstr, sizeof a->errstr, "%s", op->err ? op->errstr : "");
    switch (op->kind) {
    case OP_SUBMIT:
        if (op->many) {
            if (op->cb.many)
                op->cb.many(a, op->err, op->err ? NULL : (const char (*)[TQ_ID_SIZE])op->ids,
                            op->err ? 0 : op->n, op->ud);
        } else if (op->cb.submit) {
            op->cb.submit(a, op->err, op->err ? NULL : op->ids[0], op->ud);
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
        op_deliver(op);
        op_maybe_free(op);
    }
    a->delivering = 0;
    if (a->free_requested)
        do_free(a);
}

/* ================================================================ links */

static void close_links(tq_async *a)
{
    alink *links[2] = {&a->cmd, &a->sub};
    for (int i = 0; i < 2; i++) {
        redisAsyncContext *ac = links[i]->ac;
        links[i]->ac = NULL;
        links[i]->connected = 0;
        if (ac) {
            a->tearing = 1;
            redisAsyncFree(ac); /* pending callbacks run with NULL */
            a->tearing = 0;
        }
    }
    a->up = 0;
    a->cmd_pending = a->sub_pending = 0;
    for (size_t i = 0; i < a->nqueues; i++)
        a->queues[i]->sadd_inflight = 0;
}

/* After the links are gone: waits start over on the next connection. */
static void park_waits(tq_async *a)
{
    chans_clear(a);
    for (aop *op = a->ops; op; op = op->next) {
        if (op->kind != OP_WAIT || op->completed)
            continue;
        op->phase = W_PARKED;
        op->msg_seen = 0;
        if (op->recheck_ev)
            evtimer_del(op->recheck_ev);
    }
}

static void teardown_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_async *a = arg;
    (void)fd; (void)what;
    close_links(a);
    park_waits(a);
    a->down_pending = 0;
    if (a->closing)
        return;
    timer_add_ms(a->reconnect_ev, a->backoff_ms);
    a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
}

static void link_down(tq_async *a, const char *why)
{
    char where[300];
    if (a->down_pending || a->closing)
        return;
    a->down_pending = 1;
    a->up = 0;
    addr_text(a, where, sizeof where);
    snprintf(a->linkerr, sizeof a->linkerr, "Redis at %s: %.200s", where,
             why ? why : "error");
    event_active(a->teardown_ev, EV_TIMEOUT, 1);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    alink *l = cac->data;
    if (!l)
        return;
    if (status != REDIS_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", cac->c.errstr[0] ? cac->c.errstr : "connect failed");
        l->ac = NULL; /* hiredis frees it when we return */
        l->connected = 0;
        link_down(l->a, why);
        return;
    }
    l->connected = 1;
    if (l->a->cmd.connected && l->a->sub.connected)
        event_active(l->a->up_ev, EV_TIMEOUT, 1);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    alink *l = cac->data;
    if (!l)
        return;
    l->ac = NULL; /* hiredis frees it when we return */
    l->connected = 0;
    if (l->a->tearing)
        return;
    link_down(l->a, status == REDIS_OK ? "connection closed"
                    : (cac->c.errstr[0] ? cac->c.errstr : "connection error"));
}

static int link_open(tq_async *a, alink *l)
{
    char err[300] = "";
    redisAsyncContext *ac = tq_redis_connect_async(&a->addr, err, sizeof err);
    if (!ac) {
        link_down(a, err[0] ? err : "cannot create a connection");
        return -1;
    }
    ac->data = l;
    if (redisLibeventAttach(ac, a->base) != REDIS_OK) {
        redisAsyncFree(ac);
        link_down(a, "cannot attach to the event loop");
        return -1;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->ac = ac;
    l->connected = 0;
    return 0;
}

/* Opens both links and queues what must go first on each: the scripts on
 * cmd, the anchor subscription on sub. */
static void links_open(tq_async *a)
{
    if (a->closing || a->down_pending)
        return;
    a->connect_t0 = mono_ms();
    if (link_open(a, &a->cmd) || link_open(a, &a->sub))
        return;
    const char *argv[2] = {"SUBSCRIBE", a->nk.done_prefix};
    if (tq_scripts_load_async(a->cmd.ac) != 0 ||
        redisAsyncCommandArgv(a->sub.ac, sub_cb, a, 2, argv, NULL) != REDIS_OK) {
        link_down(a, "cannot send a command");
        return;
    }
    a->sub_pending = 1;
    a->sub_progress = mono_ms();
    watchdog_arm(a);
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    links_open(arg);
}

/* Both links are connected: parked waits start. */
static void up_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_async *a = arg;
    (void)fd; (void)what;
    if (a->up || a->down_pending || a->closing || !a->cmd.connected ||
        !a->sub.connected)
        return;
    a->up = 1;
    a->backoff_ms = BACKOFF_MIN_MS;
    for (aop *op = a->ops, *next; op; op = next) {
        next = op->next;
        if (op->kind == OP_WAIT && !op->completed && op->phase == W_PARKED)
            wait_start(op);
    }
}

/* hiredis 0.14 has no command timeout: a silent peer (a cut cable) is
 * noticed here, well before TCP keepalive would. */
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_async *a = arg;
    double now = mono_ms();
    (void)fd; (void)what;
    if (a->closing || a->down_pending || !a->cmd.ac)
        return;
    if (!(a->cmd.connected && a->sub.connected)) {
        if (now - a->connect_t0 > STALL_MS) {
            link_down(a, "connect timed out");
            return;
        }
    } else if (a->cmd_pending > 0 && now - a->cmd_progress > STALL_MS) {
        link_down(a, "no reply for 5 s");
        return;
    } else if (a->sub_pending > 0 && now - a->sub_progress > STALL_MS) {
        link_down(a, "no confirmation of SUBSCRIBE for 5 s");
        return;
    }
    if (!(a->cmd.connected && a->sub.connected) || a->cmd_pending || a->sub_pending)
        timer_add_ms(a->watchdog_ev, WATCHDOG_MS);
}

/* ================================================================ new, free */

tq_async *tq_async_new(struct event_base *base, const char *url, const char *ns)
{
    tq_async *a;
    tq_perr e;

    if (!base)
        return NULL;
    if (!(a = calloc(1, sizeof *a)))
        return NULL;
    a->base = base;
    a->cmd.a = a->sub.a = a;
    a->backoff_ms = BACKOFF_MIN_MS;
    a->teardown_ev = event_new(base, -1, 0, teardown_cb, a);
    a->reconnect_ev = evtimer_new(base, reconnect_cb, a);
    a->watchdog_ev = evtimer_new(base, watchdog_cb, a);
    a->up_ev = event_new(base, -1, 0, up_cb, a);
    a->deliver_ev = event_new(base, -1, 0, deliver_cb, a);
    if (!a->teardown_ev || !a->reconnect_ev || !a->watchdog_ev || !a->up_ev ||
        !a->deliver_ev) {
        tq_async_free(a);
        return NULL;
    }
    if (!ns)
        ns = "tq";
    if (tq_ns_check(ns, &e) || tq_redis_url_parse(url, &a->addr, &e)) {
        a->bad = 1;
        seterr(a, TQ_EINVAL, "%s", e.text);
        return a;
    }
    if (tq_nskeys_init(&a->nk, ns)) {
        tq_async_free(a);
        return NULL;
    }
    tq_sigpipe_ignore();
    links_open(a);
    if (a->down_pending)
        seterr(a, TQ_EREDIS, "cannot reach %s", a->linkerr);
    return a;
}

/* Closes everything, calls every callback not yet called, frees. */
static void do_free(tq_async *a)
{
    a->closing = 1;
    a->delivering = 1;
    struct event *evs[] = {a->teardown_ev, a->reconnect_ev, a->watchdog_ev,
                           a->up_ev, a->deliver_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_del(evs[i]);
    /* Every call still waiting for its answer ends TQ_ECANCELLED (the
     * first error an op records is the one it reports, so the NULL replies
     * of closing the links do not turn it into TQ_EREDIS). */
    for (aop *op = a->ops; op; op = op->next)
        if (!op->completed)
            op_fail(op, TQ_ECANCELLED, "the client was freed before the call finished");
    close_links(a);
    chans_clear(a);
    for (aop *op = a->ops; op; op = op->next)
        op_complete(op);
    aop *op;
    while ((op = a->done_head)) {
        a->done_head = op->dnext;
        if (!a->done_head)
            a->done_tail = NULL;
        op_deliver(op);
    }
    while (a->ops)
        op_free(a->ops);
    for (size_t i = 0; i < a->nqueues; i++) {
        tq_qkeys_free(a->queues[i]->keys);
        free(a->queues[i]);
    }
    free(a->queues);
    free(a->chans);
    tq_nskeys_clear(&a->nk);
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
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
    return a && a->up && !a->down_pending;
}

/* ================================================================ submit */

static void submit_send_calls(aop *op);
static int submit_send_one(aop *op, acall *call);
static void submit_cb(redisAsyncContext *ac, void *r, void *priv);

static void sadd_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aqueue *q = priv;
    redisReply *rep = r;
    (void)ac;
    cmd_replied(q->a);
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
    if (send_argv(a, sadd_cb, q, 3, tagv) != 0)
        return;
    q->sadd_inflight++;
    if (send_argv(a, sadd_cb, q, 3, argv) == 0)
        q->sadd_inflight++;
    else
        q->sadd_failed = 1;
}

static void submit_cb(redisAsyncContext *ac, void *r, void *priv)
{
    acall *call = priv;
    aop *op = call->op;
    tq_async *a = op->a;
    redisReply *rep = r;
    tq_perr e;
    int rv;

    (void)ac;
    cmd_replied(a);
    op->inflight--;
    if (!rep) {
        op_fail(op, TQ_EREDIS, "lost the connection to Redis during the submit "
                "(its jobs may or may not have been created)");
    } else if (tq_reply_is_noscript(rep) && call->noscript < NOSCRIPT_RETRIES &&
               !op->err && !a->closing) {
        /* scripts flushed: load them again and resend this call (it did
         * not run), after the SCRIPT LOADs on the same connection */
        call->noscript++;
        if (!a->cmd.ac || tq_scripts_load_async(a->cmd.ac) != 0)
            op_fail(op, TQ_EREDIS, "lost the connection to Redis during the submit");
        else
            submit_send_one(op, call);
    } else if (rep->type == REDIS_REPLY_ERROR) {
        op_fail(op, TQ_EREDIS, "Redis answered %s with an error: %.300s",
                tq_script_name(op->req.o->unique ? TQ_SCRIPT_SUBMIT : TQ_SCRIPT_SUBMITN),
                rep->str ? rep->str : "?");
    } else if ((rv = tq_submit_req_reply(&op->req, call->i, rep, &e))) {
        op_fail(op, rv, "%s", e.text);
    }
    if (op->inflight == 0)
        op_complete(op);
    op_maybe_free(op);
}

/* Builds and sends one call of the submit. 0, or the op has failed. */
static int submit_send_one(aop *op, acall *call)
{
    tq_cmd cmd;
    int rv;

    tq_cmd_init(&cmd, tq_submit_req_script(&op->req));
    if (tq_submit_req_build(&op->req, call->i, &cmd)) {
        tq_cmd_clear(&cmd);
        op_fail(op, TQ_ENOMEM, "out of memory");
        return -1;
    }
    if ((rv = send_script(op->a, &cmd, submit_cb, call))) {
        if (rv == TQ_ENOMEM)
            op_fail(op, TQ_ENOMEM, "out of memory");
        else
            op_fail(op, TQ_EREDIS, "lost the connection to Redis during the submit");
        return -1;
    }
    op->inflight++;
    return 0;
}

/* Sends every call of the submit. A call that cannot be sent fails the op
 * (the calls sent before it may still succeed: the op reports the error). */
static void submit_send_calls(aop *op)
{
    for (size_t i = 0; i < op->ncalls && !op->err; i++)
        if (submit_send_one(op, &op->calls[i]))
            break;
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

    if ((rv = begin(a)))
        return rv;
    if (!o) {
        tq_submit_opts_init(&defaults);
        o = &defaults;
    }
    if (tq_client_opts_check(task, o, &e))
        return seterr(a, TQ_EINVAL, "%s", e.text);
    if (n && !args)
        return seterr(a, TQ_EINVAL, "no args given");
    if ((rv = tq_args_normalize_many(args, n, o->max_args, &norm, &e)))
        return seterr(a, rv, "%s", e.text);
    if ((rv = can_send(a))) {
        tq_args_free_many(norm, n);
        return rv;
    }
    if (!(op = op_new(a, OP_SUBMIT, ud))) {
        tq_args_free_many(norm, n);
        return seterr(a, TQ_ENOMEM, "out of memory");
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
    op->task = dup_opt(task, &oom);
    op->ids = calloc(n ? n : 1, sizeof *op->ids);
    aqueue *q = oom || !op->ids ? NULL : queue_get(a, op->o.queue);
    if (!q) {
        op_free(op);
        return seterr(a, TQ_ENOMEM, "out of memory");
    }
    if ((rv = tq_ids_new(op->ids, n, op->o.queue, &e)) ||
        (rv = tq_submit_req_init(&op->req, op->task, (const char *const *)op->norm, n,
                                 &op->o, q->keys, &a->nk, op->ids, &e))) {
        op_free(op);
        return seterr(a, rv, "%s", e.text);
    }
    op->ncalls = n ? tq_submit_req_calls(&op->req) : 0;
    op->calls = calloc(op->ncalls ? op->ncalls : 1, sizeof *op->calls);
    if (!op->calls) {
        op_free(op);
        return seterr(a, TQ_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < op->ncalls; i++) {
        op->calls[i].op = op;
        op->calls[i].i = i;
    }
    if (n == 0) {
        op_complete(op);
        return 0;
    }
    queue_register(a, q);
    op->req.due_ms = tq_due_ms(&op->o);
    submit_send_calls(op);
    if (op->inflight == 0)
        op_complete(op);
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

/* ================================================================ finding a job */

/* A NOSCRIPT answer to one of op's calls (the scripts were flushed, or Redis
 * restarted behind the link): loads them on the link, once per op. 1 when
 * the caller should send its call again. */
static int noscript_reload(aop *op, const redisReply *rep)
{
    if (!tq_reply_is_noscript(rep) || op->noscript >= NOSCRIPT_RETRIES || !op->a->cmd.ac)
        return 0;
    op->noscript++;
    return tq_scripts_load_async(op->a->cmd.ac) == 0;
}

/* The start of every op's reply callback: one command less in flight. */
static aop *op_replied(void *priv)
{
    aop *op = priv;
    cmd_replied(op->a);
    op->inflight--;
    return op;
}

static void located(aop *op);
static int locate(aop *op);

/* The locate script's reply: the job's queue, or nil. */
static void locate_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = op_replied(priv);
    redisReply *rep = r;
    tq_perr e;

    (void)ac;
    if (op->completed) {
        op_maybe_free(op);
        return;
    }
    if (!rep) {
        if (op->kind != OP_WAIT)
            op_fail(op, TQ_EREDIS, "lost the connection to Redis");
    } else if (noscript_reload(op, rep) && locate(op) == 0) {
        op_maybe_free(op);
        return;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        op_fail(op, TQ_EREDIS, "Redis answered locate with an error: %.300s", rep->str);
    } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1) {
        op_fail(op, TQ_EPROTO, "Redis answered locate with something else");
    } else if (rep->element[0]->type == REDIS_REPLY_NIL) {
        op_fail(op, TQ_ENOTFOUND, "no such job '%s'", op->id);
    } else if (rep->element[0]->type != REDIS_REPLY_STRING ||
               tq_queue_check(rep->element[0]->str, &e)) {
        op_fail(op, TQ_EPROTO, "Redis answered locate with something else");
    } else if (!(op->q = queue_get(op->a, rep->element[0]->str))) {
        op_fail(op, TQ_ENOMEM, "out of memory");
    } else {
        located(op);
    }
    if (op->err || (!rep && op->kind != OP_WAIT))
        op_complete(op);
    op_maybe_free(op);
}

/* Sends the locate script for op. 0 or -1 (the link is going down). */
static int locate(aop *op)
{
    tq_cmd cmd;
    tq_cmd_init(&cmd, TQ_SCRIPT_LOCATE);
    const char *id = op->id;
    tq_locate_cmd(&cmd, &op->a->nk, TQ_LOCATE_JOB, &id, 1);
    if (send_script(op->a, &cmd, locate_cb, op))
        return -1;
    op->inflight++;
    return 0;
}

/* Every call on one job id starts here: checks the id, makes the op. */
static aop *id_op(tq_async *a, op_kind kind, const char *id, void *ud, int *rv)
{
    tq_perr e;
    aop *op;
    if ((*rv = begin(a)))
        return NULL;
    if (!id || tq_id_check(id, &e)) {
        *rv = seterr(a, TQ_EINVAL, "%s", id ? e.text : "no job id");
        return NULL;
    }
    if (kind != OP_WAIT && (*rv = can_send(a)))
        return NULL;
    if (!(op = op_new(a, kind, ud))) {
        *rv = seterr(a, TQ_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(op->id, sizeof op->id, "%s", id);
    return op;
}

/* ================================================================ status */

static void status_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = op_replied(priv);
    redisReply *rep = r;
    tq_perr e;
    int rv;

    (void)ac;
    if (!rep)
        op_fail(op, TQ_EREDIS, "lost the connection to Redis");
    else if (rep->type == REDIS_REPLY_ERROR)
        op_fail(op, TQ_EREDIS, "Redis answered HGETALL with an error: %.300s", rep->str);
    else if ((rv = tq_record_decode(op->id, op->q->keys->queue, rep, &op->job, &e)))
        op_fail(op, rv, "%s", e.text);
    else if (!op->job)
        op_fail(op, TQ_ENOTFOUND, "no such job '%s'", op->id);
    op_complete(op);
    op_maybe_free(op);
}

/* HGETALL of the job's record, for status and wait. */
static int fetch(aop *op, redisCallbackFn *fn)
{
    char jk[TQ_KEY_SIZE];
    if (!tq_key_join(jk, sizeof jk, op->q->keys->job_prefix, op->id))
        return -1;
    const char *argv[2] = {"HGETALL", jk};
    if (send_argv(op->a, fn, op, 2, argv))
        return -1;
    op->inflight++;
    return 0;
}

int tq_async_status(tq_async *a, const char *id, tq_async_job_fn *cb, void *ud)
{
    int rv;
    aop *op = id_op(a, OP_STATUS, id, ud, &rv);
    if (!op)
        return rv;
    op->cb.job = cb;
    if (locate(op)) {
        op_fail(op, TQ_EREDIS, "lost the connection to Redis (nothing was sent)");
        op_complete(op);
    }
    return 0;
}

/* ================================================================ cancel */

static void cancel_send(aop *op);

static void cancel_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = op_replied(priv);
    redisReply *rep = r;
    tq_perr e;
    int rv;

    (void)ac;
    if (!rep) {
        op_fail(op, TQ_EREDIS, "lost the connection to Redis during the cancel "
                "(it may or may not have been applied)");
    } else if (noscript_reload(op, rep)) {
        cancel_send(op);
        op_maybe_free(op);
        return;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        op_fail(op, TQ_EREDIS, "Redis answered cancel with an error: %.300s", rep->str);
    } else if ((rv = tq_cancel_req_reply(rep, op->id, &op->before, &e))) {
        op_fail(op, rv, "%s", e.text);
    }
    op_complete(op);
    op_maybe_free(op);
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
        op_fail(op, rv, "%s", e.text);
        op_complete(op);
        return;
    }
    if ((rv = send_script(op->a, &cmd, cancel_cb, op))) {
        op_fail(op, rv == TQ_ENOMEM ? TQ_ENOMEM : TQ_EREDIS, "%s",
                rv == TQ_ENOMEM ? "out of memory" : "lost the connection to Redis (nothing was sent)");
        op_complete(op);
        return;
    }
    op->inflight++;
}

int tq_async_cancel(tq_async *a, const char *id, tq_async_cancel_fn *cb, void *ud)
{
    int rv;
    aop *op = id_op(a, OP_CANCEL, id, ud, &rv);
    if (!op)
        return rv;
    op->cb.cancel = cb;
    op->before = TQ_STATE_UNKNOWN;
    if (locate(op)) {
        op_fail(op, TQ_EREDIS, "lost the connection to Redis (nothing was sent)");
        op_complete(op);
    }
    return 0;
}

/* Where each kind goes once the job's queue is known. */
static void located(aop *op)
{
    switch (op->kind) {
    case OP_STATUS:
        if (fetch(op, status_cb))
            op_fail(op, TQ_EREDIS, "lost the connection to Redis");
        break;
    case OP_CANCEL:
        cancel_send(op);
        break;
    case OP_WAIT:
        wait_step(op);
        break;
    case OP_SUBMIT:
        break;
    }
}

/* ================================================================ wait */

/* Starts (or restarts, after a reconnect) a wait on the current links:
 * subscribe to its channel and find its queue; wait_step goes on when both
 * are there. With no links it stays parked until up_cb. */
static void wait_start(aop *op)
{
    tq_async *a = op->a;
    if (op->completed || !a->cmd.ac || !a->sub.ac || a->down_pending) {
        op->phase = W_PARKED;
        return;
    }
    op->phase = W_STARTING;
    op->msg_seen = 0;
    int rv = chan_attach(op);
    if (rv == TQ_ENOMEM) {
        op_fail(op, TQ_ENOMEM, "out of memory");
        op_complete(op);
        return;
    }
    if (rv || (!op->q && locate(op))) {
        op->phase = W_PARKED; /* the link is going down: up_cb restarts it */
        return;
    }
    wait_step(op);
}

static void prep_cb(redisAsyncContext *ac, void *r, void *priv);

/* waitprep: KEYS job; reply {state, result, error} or nil. */
static void wait_prep(aop *op)
{
    char jk[TQ_KEY_SIZE];
    tq_cmd cmd;
    int rv;

    if (!tq_key_join(jk, sizeof jk, op->q->keys->job_prefix, op->id)) {
        op_fail(op, TQ_EINVAL, "job id '%s' is too long", op->id);
        op_complete(op);
        return;
    }
    tq_cmd_init(&cmd, TQ_SCRIPT_WAITPREP);
    tq_cmd_key(&cmd, jk);
    op->phase = W_PREP;
    op->msg_seen = 0;
    if ((rv = send_script(op->a, &cmd, prep_cb, op))) {
        if (rv == TQ_ENOMEM) {
            op_fail(op, TQ_ENOMEM, "out of memory");
            op_complete(op);
        } else {
            op->phase = W_PARKED;
        }
        return;
    }
    op->inflight++;
}

/* Called whenever the channel or the queue arrives. */
static void wait_step(aop *op)
{
    if (op->completed || op->phase != W_STARTING || !op->subbed || !op->q)
        return;
    wait_prep(op);
}

static void wait_listen(aop *op)
{
    op->phase = W_LISTEN;
    if (op->recheck_ev)
        timer_add_ms(op->recheck_ev, RECHECK_MS);
}

static void wait_fetch_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = op_replied(priv);
    redisReply *rep = r;
    tq_job *job = NULL;
    tq_perr e;
    int rv;

    (void)ac;
    if (!rep || op->completed || op->phase != W_FETCH) {
        op_maybe_free(op); /* a lost link parks the wait; up_cb restarts it */
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        op_fail(op, TQ_EREDIS, "Redis answered HGETALL with an error: %.300s", rep->str);
    } else if ((rv = tq_record_decode(op->id, op->q->keys->queue, rep, &job, &e))) {
        op_fail(op, rv, "%s", e.text);
    } else if (!job) {
        if (tq_state_terminal(op->hint)) {
            /* finished, and its record expired before we could read it */
            if (!(op->job = tq_record_minimal(op->id, op->q->keys->queue, op->hint)))
                op_fail(op, TQ_ENOMEM, "out of memory");
        } else {
            op_fail(op, TQ_ENOTFOUND, "no such job '%s' (its record is gone)", op->id);
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
        op_maybe_free(op);
        return;
    }
    op_complete(op);
    op_maybe_free(op);
}

static void wait_fetch(aop *op)
{
    op->phase = W_FETCH;
    op->msg_seen = 0;
    if (op->recheck_ev)
        evtimer_del(op->recheck_ev);
    if (fetch(op, wait_fetch_cb))
        op->phase = W_PARKED;
}

static void prep_cb(redisAsyncContext *ac, void *r, void *priv)
{
    aop *op = op_replied(priv);
    redisReply *rep = r;

    (void)ac;
    if (!rep || op->completed || op->phase != W_PREP) {
        op_maybe_free(op);
        return;
    }
    if (noscript_reload(op, rep)) {
        wait_prep(op);
        op_maybe_free(op);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        op_fail(op, TQ_EREDIS, "Redis answered waitprep with an error: %.300s", rep->str);
    } else if (rep->type == REDIS_REPLY_NIL) {
        op_fail(op, TQ_ENOTFOUND, "no such job '%s'", op->id);
    } else {
        const char *st = tq_reply_str(rep, 0, NULL);
        tq_state state = st ? tq_state_parse(st) : TQ_STATE_UNKNOWN;
        if (state == TQ_STATE_UNKNOWN) {
            op_fail(op, TQ_EPROTO, "job '%s' has no valid state", op->id);
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
            op_maybe_free(op);
            return;
        }
    }
    op_complete(op);
    op_maybe_free(op);
}

/* A done message for the wait's job: the terminal state, or "deleted". */
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
        op_fail(op, TQ_ENOTFOUND, "job '%s' was deleted", op->id);
        op_complete(op);
        return;
    }
    wait_fetch(op);
}

static void wait_expire(aop *op)
{
    op_fail(op, TQ_ETIMEDOUT, "timed out waiting for job '%s'", op->id);
    op_complete(op);
}

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
    aop *op = id_op(a, OP_WAIT, id, ud, &rv);
    if (!op)
        return rv;
    op->cb.job = cb;
    op->recheck_ev = evtimer_new(a->base, wait_recheck_cb, op);
    if (timeout_ms >= 0)
        op->timeout_ev = evtimer_new(a->base, wait_timeout_cb, op);
    if (!op->recheck_ev || (timeout_ms >= 0 && !op->timeout_ev)) {
        op_free(op);
        return seterr(a, TQ_ENOMEM, "out of memory");
    }
    if (op->timeout_ev)
        timer_add_ms(op->timeout_ev, timeout_ms);
    op->phase = W_PARKED;
    wait_start(op);
    return 0;
}
