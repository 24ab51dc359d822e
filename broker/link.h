/* link.h -- one set of Redis connections that live and die together.
 *
 * Every part of tq that talks to Redis on an event loop (the worker, the
 * async client, later the dashboard) owns one tq_link: N hiredis async
 * connections on the owner's event_base, each either a command connection
 * (replies come in order) or a subscriber (pub/sub). The set is "up" when
 * every connection is connected, has passed AUTH and SELECT (their replies
 * checked), the scripts are loaded (if asked) and every subscription is
 * confirmed. Any failure on any connection (an error, EOF, a connect or a
 * reply that does not come in time, a refused AUTH) tears the whole set
 * down and builds it again after a backoff of 100 ms doubling to 5 s.
 *
 * Contract with the owner:
 *  - on_up fires once per time the set comes up, from an event of the
 *    link's own (never inside a hiredis callback). Subscriptions made with
 *    tq_link_subscribe are already back in place: only commands need
 *    resending.
 *  - on_down(reason, flags) fires once per failed attempt or lost set,
 *    after every connection was freed and every pending reply callback ran
 *    with a NULL reply; the next attempt is tq_link_backoff_ms() away. So
 *    a refused password is reported once per backoff period, never as a
 *    storm. TQ_LINK_REFUSED in flags: Redis said no (AUTH, SELECT, NOPERM,
 *    SCRIPT LOAD refused), as opposed to a network fault.
 *  - A command sent with tq_link_send* gets its callback exactly once:
 *    with the reply, or with NULL when the set went down first. A send
 *    that returns non-zero never calls it.
 *  - Subscriptions survive reconnects; message callbacks get each message
 *    published on their channel while the set is up.
 *  - tq_link_free may be called from anywhere, callbacks included.
 *
 * This is the one place that includes hiredis's libevent adapter; the
 * resolver hook is where Sentinel plugs in (ask for the master's address
 * before each attempt), and the transport (TLS) will join the address.
 */
#ifndef TQ_LINK_H
#define TQ_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/async.h>

#include "broker/broker.h"

struct event_base;
struct event;

#define TQ_LINK_MAX 4           /* connections in one set */

typedef struct tq_link tq_link;

typedef enum tq_link_kind {
    TQ_LINK_CMD,   /* commands, replies in order; a watchdog per reply */
    TQ_LINK_SUB    /* SUBSCRIBE only; kept alive by a re-SUBSCRIBE */
} tq_link_kind;

enum { TQ_LINK_REFUSED = 1 };   /* on_down flags */

typedef struct tq_link_hooks {
    void (*on_up)(tq_link *l, void *ud);
    void (*on_down)(tq_link *l, const char *reason, int flags, void *ud);
    /* Where to connect for the next attempt (default: the address given to
     * tq_link_new). Sentinel will answer here. 0, or non-zero with a reason
     * in err, which counts as a failed attempt. */
    int (*resolve)(tq_link *l, tq_redis_addr *out, char *err, size_t errlen,
                   void *ud);
    void *ud;
} tq_link_hooks;

typedef struct tq_link_conf {
    int nconns;                      /* 1 .. TQ_LINK_MAX */
    tq_link_kind kinds[TQ_LINK_MAX];
    const char *names[TQ_LINK_MAX];  /* for reasons: "cmd", "sub", ... */
    int load_scripts;                /* SCRIPT LOAD every script on the first CMD connection */
    const char *keepalive_channel;   /* subscribed on every SUB connection
                                        (nothing publishes to it); required
                                        when there is one */
    int connect_timeout_ms;          /* to come up: default 5000 */
    int reply_timeout_ms;            /* a reply this late: down; default 5000 */
    int backoff_min_ms, backoff_max_ms; /* default 100 .. 5000 */
} tq_link_conf;

typedef void tq_link_msg_fn(tq_link *l, const char *channel, const char *msg,
                            size_t len, void *ud);
/* Redis confirmed a SUBSCRIBE made while the set was up: messages published
 * from now on reach the channel's callback. */
typedef void tq_link_ready_fn(tq_link *l, const char *channel, void *ud);

/* A new set; nothing is connected until tq_link_start. addr is copied.
 * NULL on allocation failure or a conf that does not hold together. */
tq_link *tq_link_new(struct event_base *base, const tq_redis_addr *addr,
                     const tq_link_conf *conf, const tq_link_hooks *hooks);
/* Starts connecting (the first attempt now). 0, or TQ_ESTATE when stopped. */
int tq_link_start(tq_link *l);
/* Closes every connection (pending callbacks run with NULL, no on_down) and
 * connects no more. */
void tq_link_stop(tq_link *l);
void tq_link_free(tq_link *l);

int tq_link_is_up(const tq_link *l);
/* An attempt is under way: connections opened, not up yet, no failure seen.
 * Neither this nor up: the set waits out its backoff, or is stopped. An
 * owner that accepts work while the set comes up (the async client) asks
 * this to refuse work between attempts. */
int tq_link_is_connecting(const tq_link *l);
/* The reason of the last failure ("" if none), and the wait before the
 * next attempt. */
const char *tq_link_reason(const tq_link *l);
int64_t tq_link_backoff_ms(const tq_link *l);
/* The address as a log may show it: host:port or the socket path, never a
 * password. */
void tq_link_addr_text(const tq_link *l, char *buf, size_t n);

/* Arms the timer ev to fire in ms milliseconds, fractions kept to the
 * microsecond (0 or below: at once): the one timer helper of every part on
 * an event loop (link, async client, worker). */
void tq_timer_ms(struct event *ev, double ms);

/* The owner gives up on the set (a reply it cannot live with): the set
 * goes down with this reason and reconnects after the backoff. */
void tq_link_fail(tq_link *l, const char *reason, int flags);
/* Closes connection i for good (a blocking connection at shutdown): its
 * pending callbacks run with NULL, from an event; the set stays up. */
void tq_link_close_conn(tq_link *l, int i);

/* ---------------------------------------------------------------- commands */

/* Sends on command connection i. 0, or TQ_EREDIS (not up, closed, refused
 * by hiredis) / TQ_ENOMEM, and then fn is never called. The reply must come
 * within reply_timeout_ms of the one before it on the same connection. */
int tq_link_send(tq_link *l, int i, redisCallbackFn *fn, void *priv, int argc,
                 const char **argv, const size_t *argvlen);
/* The same for a command that blocks in Redis up to block_ms (BLPOP): its
 * reply is due block_ms + reply_timeout_ms after it was sent. */
int tq_link_send_blocking(tq_link *l, int i, int64_t block_ms,
                          redisCallbackFn *fn, void *priv, int argc,
                          const char **argv, const size_t *argvlen);
/* A script call (EVALSHA) built with tq_cmd. */
int tq_link_send_script(tq_link *l, int i, tq_cmd *cmd, redisCallbackFn *fn,
                        void *priv);
/* SCRIPT LOAD every script again on connection i (after a NOSCRIPT: Redis
 * lost its scripts). Replies are checked: a refusal takes the set down. */
int tq_link_reload_scripts(tq_link *l, int i);

/* ---------------------------------------------------------------- pub/sub */

/* Subscribes channel on subscriber connection i, now if up and again after
 * every reconnect, until tq_link_unsubscribe. One subscription per channel:
 * TQ_EINVAL if the channel is already subscribed. Handles hiredis 0.14's
 * pitfalls (an UNSUBSCRIBE confirmed after a new SUBSCRIBE of the same
 * channel, a count that drops to 0) so the owner need not. */
int tq_link_subscribe(tq_link *l, int i, const char *channel,
                      tq_link_msg_fn *fn, void *ud);
/* The same, and ready(l, channel, ud) once Redis confirmed the SUBSCRIBE
 * sent while the set is up (called inside a hiredis callback: send
 * commands from there, call no user code). A subscription restored while
 * coming up does not call it: on_up says the same for every channel. For
 * an owner that must know when nothing published can be missed any more
 * (a wait: subscribe first, then read the state). */
int tq_link_subscribe_ready(tq_link *l, int i, const char *channel,
                            tq_link_msg_fn *fn, tq_link_ready_fn *ready,
                            void *ud);
/* Stops delivering channel's messages at once; the UNSUBSCRIBE follows.
 * 0, or TQ_EINVAL when not subscribed. */
int tq_link_unsubscribe(tq_link *l, const char *channel);

/* For tests and logs: how many subscriptions the set holds. */
size_t tq_link_nsubs(const tq_link *l);

/* For fuzzing only (fuzz/fuzz_worker.c): makes ac, connected by the caller
 * and attached to no loop, command connection i of a set never started,
 * and marks the set up without calling on_up. Commands sent on i then
 * queue in ac; the caller may hand ac's pending callbacks their replies.
 * The set owns ac: tq_link_free frees it (pending callbacks get NULL).
 * 0, or TQ_EINVAL (started, or i is not a command connection). */
int tq_link_adopt(tq_link *l, int i, redisAsyncContext *ac);

#endif
