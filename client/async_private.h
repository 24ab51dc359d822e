/* async_private.h -- what the files of the async client share.
 *
 * The async client (include/tq/async.h) is one tq_async that owns a
 * tq_link (broker/link.h) of two connections, ASYNC_CMD and ASYNC_SUB, and
 * a list of ops: one per public call in progress. The files:
 *
 *   async.c         the client: the link's hooks, ops, delivery, new/free
 *   async_submit.c  submit and submit-many (the calls of a tq_submit_req)
 *   async_find.c    locate, then status or cancel
 *   async_wait.c    waits and the done channels they share
 *
 * An op's life: made by a public call; "parked" while the link is not up
 * (started from on_up, in the order the calls were made); then its replies
 * drive it from step to step; when its outcome is known it is completed
 * (queued for delivery) and its callback runs from the client's own event.
 * It is freed once delivered and no reply callback still points at it
 * (inflight == 0).
 */
#ifndef TQ_ASYNC_PRIVATE_H
#define TQ_ASYNC_PRIVATE_H

#include <event2/event.h>

#include "broker/link.h"
#include "client/client_private.h"
#include "proto/proto_private.h"
#include "tq/async.h"

#pragma GCC visibility push(hidden)

enum { ASYNC_CMD = 0, ASYNC_SUB = 1 };   /* the link's connections */

#define ASYNC_RECHECK_MS 10000   /* a quiet wait re-reads its job */
#define ASYNC_NOSCRIPT_RETRIES 1

typedef struct aop aop;
typedef struct achan achan;
typedef struct aqueue aqueue;

/* One queue this client has touched: its keys, and whether it is in
 * P:queues and its tag's set P:qt:TAG yet (two SADDs once, sent before its
 * first submit on the same connection, so Redis runs them first). */
struct aqueue {
    tq_async *a;
    tq_qkeys *keys;
    int registered;
    int sadd_inflight;          /* SADDs not answered yet */
    int sadd_failed;            /* one of them failed: try again next submit */
};

/* A done channel P:done:ID and the waits that listen to it: one link
 * subscription per id, however many waits (the link allows one). */
struct achan {
    tq_async *a;
    char id[TQ_ID_SIZE];
    int ready;                  /* Redis confirmed it on the current connections */
    int busy;                   /* its waits are being run: dropped after */
    aop *waits;                 /* waits on this id (aop.cnext) */
};

typedef enum { OP_SUBMIT, OP_STATUS, OP_WAIT, OP_CANCEL } op_kind;

/* A wait's progress on the current connections. */
typedef enum {
    W_PARKED,    /* not started: the link is not up, or was lost */
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

/* A public call in progress. */
struct aop {
    aop *prev, *next;           /* a->ops: every op not freed, oldest first */
    aop *dnext;                 /* a->done_head: delivery queue */
    tq_async *a;
    op_kind kind;
    int parked;                 /* not started: waits for the link to come up */
    int inflight;               /* reply callbacks that will still run */
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
    char *o_queue, *o_sem, *o_unique, *o_rl, *o_fair;
    tq_submit_req req;
    acall *calls;
    size_t ncalls;
    char *task;
    int durable_sent;           /* the WAIT of a durable submit is sent */

    /* wait */
    achan *chan;
    aop *cnext;                 /* in chan->waits */
    wait_phase phase;
    int msg_seen;               /* a done message came while a step was in flight */
    int prepped;                /* waitprep has answered once */
    int expired;                /* the timeout passed before that: end after it */
    tq_state hint;              /* terminal state a message or waitprep told */
    struct event *timeout_ev, *recheck_ev;
};

struct tq_async {
    struct event_base *base;
    tq_redis_addr addr;
    tq_nskeys nk;
    tq_link *link;              /* NULL when set-up failed */
    int bad;                    /* set-up failed: every call answers err */
    int up;                     /* between on_up and on_down */
    int err;
    char errstr[512];

    struct event *deliver_ev;
    aop *ops, *ops_tail;        /* every op not freed */
    aop *done_head, *done_tail; /* outcomes waiting to be delivered */
    int delivering, free_requested, closing;

    aqueue **queues;
    size_t nqueues;
    tq_map *chans;              /* id -> achan */
};

/* ---------------------------------------------------------------- async.c */

int tq_as_seterr(tq_async *a, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The start of every public call: 0, or the error that refuses it. */
int tq_as_begin(tq_async *a);
/* The link is up or on its way (a call is accepted, parked until up); else
 * TQ_EREDIS with the link's reason. */
int tq_as_can_send(tq_async *a);

/* The client's entry for queue name (made on first use); NULL on OOM. */
aqueue *tq_as_queue_get(tq_async *a, const char *name);

/* Sends on the command connection. 0, TQ_ENOMEM, or TQ_EREDIS (not up, or
 * going down) -- and then fn is never called. tq_as_send_script clears cmd. */
int tq_as_send(tq_async *a, redisCallbackFn *fn, void *priv, int argc,
               const char **argv);
int tq_as_send_script(tq_async *a, tq_cmd *cmd, redisCallbackFn *fn, void *priv);
/* A NOSCRIPT answer to one of op's calls (Redis lost its scripts): loads
 * them again, once per op. 1 when the caller should send its call again. */
int tq_as_noscript_reload(aop *op, int *tries, const redisReply *rep);

aop *tq_aop_new(tq_async *a, op_kind kind, void *ud);
void tq_aop_free(aop *op);
/* Records the op's error (the first one wins). */
void tq_aop_fail(aop *op, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The outcome is known (op->err, op->job, ...): queue the delivery. */
void tq_aop_complete(aop *op);
void tq_aop_maybe_free(aop *op);
/* The start of every op's reply callback: one reply less in flight. */
aop *tq_aop_replied(void *priv);
/* Starts op now if the link is up, else parks it until on_up. */
void tq_aop_go(aop *op);

/* ---------------------------------------------------------------- async_submit.c */

void tq_as_submit_start(aop *op);

/* ---------------------------------------------------------------- async_find.c */

/* Sends locate for op (status, cancel, wait); located() dispatches on its
 * kind. 0 or the send's error. */
int tq_as_locate(aop *op);
/* HGETALL of the job's record (op->q known). 0 or the send's error. */
int tq_as_fetch(aop *op, redisCallbackFn *fn);
/* The op of a call on job id (the id checked; refused between connection
 * attempts unless a wait). NULL with *rv the error, set on the client. */
aop *tq_as_id_op(tq_async *a, op_kind kind, const char *id, void *ud, int *rv);
void tq_as_find_start(aop *op);

/* ---------------------------------------------------------------- async_wait.c */

void tq_as_wait_start(aop *op);
/* The job's queue is known (locate answered). */
void tq_as_wait_step(aop *op);
/* The link is down: the wait waits for it to come back. */
void tq_as_wait_park(aop *op);
/* The wait is complete: off its channel, timers stopped. */
void tq_as_wait_end(aop *op);
/* The link came up: every channel is subscribed again. */
void tq_as_chans_ready(tq_async *a, int ready);
void tq_as_chans_free(tq_async *a);

#pragma GCC visibility pop

#endif
