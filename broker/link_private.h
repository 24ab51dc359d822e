/* link_private.h -- what link.c and link_sub.c share: the set's structs.
 *
 * A tq_link is connections (lconn) that live and die together, commands in
 * flight per connection (cmd_node, in reply order), and subscriptions
 * (lsub) kept in a tq_map by channel. link.c owns the life of the set;
 * link_sub.c the subscriptions. Nothing outside broker/link*.c includes it.
 */
#ifndef TQ_LINK_PRIVATE_H
#define TQ_LINK_PRIVATE_H

#include <event2/event.h>

#include "broker/link.h"
#include "proto/proto_private.h"

/* The watchdog looks at every set once a second, or four times per
 * timeout when the timeouts are short (tests). */
#define WATCHDOG_TICK_MS 1000

/* ================================================================ structures */

/* One command in flight: what to call back, and by when the reply is due. */
typedef struct cmd_node {
    struct cmd_node *next;
    struct lconn *conn;
    redisCallbackFn *fn;
    void *priv;
    int64_t due;          /* monotonic ms */
    int64_t block_ms;     /* a blocking command may take this much longer */
} cmd_node;

typedef enum sub_state {
    SUB_WANTED,       /* to be sent when the set is up */
    SUB_SENT,         /* SUBSCRIBE sent, not yet confirmed */
    SUB_ON,           /* confirmed */
    SUB_LEAVING       /* UNSUBSCRIBE sent; the record waits for its confirmation */
} sub_state;

/* One subscription. Allocated on its own and owned by the link: hiredis
 * keeps a pointer to it (the callback's privdata) as long as the channel
 * is in its table, which may outlive the owner's interest. */
typedef struct lsub {
    char *channel;
    tq_link_msg_fn *fn;
    tq_link_ready_fn *ready;  /* told of a confirmation while up */
    void *ud;
    struct lconn *conn;
    sub_state state;
    int again;                /* subscribed again while leaving */
    int setup;                /* its confirmation is awaited before on_up */
    int gone;                 /* the owner no longer wants it */
    int keepalive;
} lsub;

typedef struct lconn {
    tq_link *l;
    int index;
    tq_link_kind kind;
    const char *name;
    redisAsyncContext *ac;
    struct tq_tls *tls;       /* rediss://: the bridge hiredis talks through */
    int tls_ok;               /* rediss://: a PING came back through it */
    int connected;
    int ready;                /* AUTH and SELECT answered OK */
    int handshake_left;
    tq_redis_setup setup;     /* AUTH and SELECT, as sent (broker/redis.c) */
    int off;                  /* closed for good (tq_link_close_conn) */
    cmd_node *head, *tail;    /* commands in flight, in order */
    lsub *ka;                 /* the keepalive subscription (SUB) */
    int64_t ka_sent;          /* when the keepalive SUBSCRIBE went; 0 = none pending */
    int64_t ka_last;          /* when it was last confirmed */
} lconn;

struct tq_link {
    struct event_base *base;
    tq_redis_addr addr;       /* as given */
    tq_redis_addr cur;        /* this attempt's (the resolver's) */
    tq_link_conf conf;
    tq_link_hooks hooks;
    lconn conns[TQ_LINK_MAX];

    int started, stopped;
    enum { PH_CONNECTING, PH_SETUP, PH_UP } phase;
    int up;
    int failing;              /* a teardown is scheduled */
    int fail_flags;
    int tearing;              /* inside our own redisAsyncFree */
    int setup_left;           /* replies to wait for before on_up */
    int in_cb;                /* depth of hiredis callbacks of ours */
    int free_wanted;
    int64_t backoff_ms;       /* the wait after the next failure */
    int64_t wait_ms;          /* the wait before the attempt now due */
    int64_t attempt_started;
    int64_t up_since;
    char reason[256];

    tq_map *subs;             /* channel -> lsub */
    struct tq_sentinel_watch *watch; /* +switch-master, for a sentinel address */
    cmd_node *spare;          /* free list of nodes */

    struct event *teardown_ev, *reconnect_ev, *watchdog_ev, *up_ev, *free_ev,
        *close_ev;
};

/* link.c */
int64_t lk_mono_ms(void);
/* The set goes down: one teardown from an event, with this reason. */
void lk_fail(tq_link *l, int flags, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A step of coming up is done: on_up is scheduled when the last one is. */
void lk_maybe_up(tq_link *l);
/* Leaving one of our hiredis callbacks (in_cb was raised on entry). */
void lk_cb_leave(tq_link *l);

/* link_sub.c */
int lk_sub_send(tq_link *l, lsub *s, const char *verb);
lsub *lk_sub_add(tq_link *l, lconn *c, const char *channel,
                 tq_link_msg_fn *fn, void *ud);
void lk_subs_send_all(tq_link *l);
void lk_subs_reset(tq_link *l);
void lk_subs_free(tq_link *l);

#endif
