/* link.c -- the worker's three Redis connections and their recovery.
 *
 *   cmd    scripts (claim, ack, heartbeat, reclaim, bury, beat), pipelined
 *   block  BLPOP on the wake keys while idle
 *   sub    SUBSCRIBE P:cancel
 *
 * The three live and die together: when any of them fails (error, EOF, a
 * connect that does not finish within 5 s, a cmd reply outstanding for 5 s,
 * a BLPOP 5 s past its own timeout) all are torn down and rebuilt after a
 * backoff of 100 ms doubling to 5 s. Only when all three are connected is
 * the worker "up": it then reloads the scripts, resubscribes, reports what
 * it queued meanwhile and claims again. Running jobs never notice.
 *
 * hiredis 0.14.1 frees a context itself after a failed connect (after
 * onConnect(REDIS_ERR)) and after an error (after onDisconnect); everything
 * else is freed here with redisAsyncFree, always from an event of our own
 * (teardown_ev, block_close_ev), never from inside a hiredis callback.
 * Freeing runs every pending callback with a NULL reply: each callback
 * treats NULL as "not done" (an ack puts its outcomes back in the queue).
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>

#include "worker/worker_private.h"

static void on_connect(const redisAsyncContext *cac, int status);
static void on_disconnect(const redisAsyncContext *cac, int status);

static void addr_text(const tq_worker *w, char *buf, size_t n)
{
    if (w->addr.path[0])
        snprintf(buf, n, "unix:%s", w->addr.path);
    else
        snprintf(buf, n, "%s:%d", w->addr.host, w->addr.port);
}

static int all_connected(const tq_worker *w)
{
    return w->cmd.connected && w->sub.connected &&
           (w->block_off || w->block.connected);
}

/* ================================================================ closing */

static void link_free(tq_worker *w, wk_link *l)
{
    redisAsyncContext *ac = l->ac;

    if (!ac)
        return;
    l->ac = NULL;
    l->connected = 0;
    w->tearing = 1;
    redisAsyncFree(ac); /* pending callbacks run with NULL */
    w->tearing = 0;
}

static void close_all(tq_worker *w)
{
    w->up = 0;
    link_free(w, &w->cmd);
    link_free(w, &w->block);
    link_free(w, &w->sub);
    w->cmd_pending = 0;
    w->block_armed = 0;
}

static void teardown_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;
    int64_t delay = w->backoff_ms;
    struct timeval tv;

    close_all(w);
    w->down_pending = 0;
    evtimer_del(w->conn_timeout_ev);
    if (w->state == WK_STOPPED)
        return;
    w->backoff_ms = w->backoff_ms * 2 > WK_BACKOFF_MAX_MS ? WK_BACKOFF_MAX_MS
                                                           : w->backoff_ms * 2;
    wk_log(w, TQ_LOG_DEBUG, NULL, "reconnecting to redis in %lld ms",
           (long long)delay);
    tv.tv_sec = (time_t)(delay / 1000);
    tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
    evtimer_add(w->reconnect_ev, &tv);
}

void wk_link_down(tq_worker *w, const char *why)
{
    char where[300];

    if (w->down_pending || w->state == WK_STOPPED || w->state == WK_NEW)
        return;
    w->down_pending = 1;
    addr_text(w, where, sizeof where);
    if (w->up)
        wk_log(w, TQ_LOG_WARN, NULL,
               "lost redis at %s (%s); reconnecting, running jobs go on",
               where, why ? why : "error");
    else
        wk_log(w, TQ_LOG_WARN, NULL,
               "cannot reach redis at %s (%s); retrying in %lld ms", where,
               why ? why : "error", (long long)w->backoff_ms);
    w->up = 0;
    event_active(w->teardown_ev, EV_TIMEOUT, 1);
}

static void block_close_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;

    link_free(w, &w->block);
    w->block_armed = 0;
}

void wk_block_close(tq_worker *w)
{
    if (w->block_off)
        return;
    w->block_off = 1;
    event_active(w->block_close_ev, EV_TIMEOUT, 1);
}

void wk_links_close(tq_worker *w)
{
    if (w->reconnect_ev)
        evtimer_del(w->reconnect_ev);
    if (w->conn_timeout_ev)
        evtimer_del(w->conn_timeout_ev);
    if (w->watchdog_ev)
        evtimer_del(w->watchdog_ev);
    if (w->teardown_ev)
        event_del(w->teardown_ev);
    if (w->up_ev)
        event_del(w->up_ev);
    if (w->block_close_ev)
        event_del(w->block_close_ev);
    close_all(w);
    w->down_pending = 0;
}

/* ================================================================ opening */

static int link_open(tq_worker *w, wk_link *l)
{
    char err[256] = "";
    redisAsyncContext *ac = tq_redis_connect_async(&w->addr, err, sizeof err);

    if (!ac) {
        wk_link_down(w, err[0] ? err : "cannot create a connection");
        return -1;
    }
    if (ac->err) {
        snprintf(err, sizeof err, "%s", ac->errstr ? ac->errstr : ac->c.errstr);
        redisAsyncFree(ac);
        wk_link_down(w, err);
        return -1;
    }
    ac->data = l;
    if (redisLibeventAttach(ac, w->base) != REDIS_OK) {
        redisAsyncFree(ac);
        wk_link_down(w, "cannot attach to the event loop");
        return -1;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* tq_redis_connect_async has enabled TCP keepalive */
    l->ac = ac;
    l->connected = 0;
    return 0;
}

void wk_connect(tq_worker *w)
{
    struct timeval tv = {WK_CONNECT_TIMEOUT_MS / 1000,
                         (WK_CONNECT_TIMEOUT_MS % 1000) * 1000};
    struct timeval sec = {1, 0};

    if (w->state == WK_STOPPED || w->down_pending)
        return;
    if (!evtimer_pending(w->watchdog_ev, NULL))
        evtimer_add(w->watchdog_ev, &sec);
    if (!w->cmd.ac && link_open(w, &w->cmd) != 0)
        return;
    if (!w->block_off && !w->block.ac && link_open(w, &w->block) != 0)
        return;
    if (!w->sub.ac && link_open(w, &w->sub) != 0)
        return;
    evtimer_add(w->conn_timeout_ev, &tv);
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    wk_connect(arg);
}

static void conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;

    if (!w->up)
        wk_link_down(w, "connect timed out");
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    wk_link *l = cac->data;
    tq_worker *w = l->w;

    if (status != REDIS_OK) {
        l->ac = NULL; /* hiredis frees it when we return */
        l->connected = 0;
        wk_link_down(w, cac->c.errstr[0] ? cac->c.errstr : "connect failed");
        return;
    }
    l->connected = 1;
    if (all_connected(w))
        event_active(w->up_ev, EV_TIMEOUT, 1);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    wk_link *l = cac->data;
    tq_worker *w = l->w;

    l->ac = NULL; /* hiredis frees it when we return */
    l->connected = 0;
    if (w->tearing)
        return;
    if (l == &w->block)
        w->block_armed = 0;
    wk_link_down(w, status == REDIS_OK ? "connection closed"
                    : (cac->c.errstr[0] ? cac->c.errstr : "connection error"));
}

/* ================================================================ up */

static void sub_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;
    const char *kind, *id;
    size_t len;

    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        wk_log(w, TQ_LOG_WARN, NULL, "SUBSCRIBE refused: %s", rep->str);
        return;
    }
    kind = tq_reply_str(rep, 0, NULL);
    if (!kind || strcmp(kind, "message") != 0)
        return;
    id = tq_reply_str(rep, 2, &len);
    if (id && len > 0 && len <= TQ_ID_MAX && strlen(id) == len)
        wk_on_cancel_message(w, id);
}

static void policy_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;
    const char *pol;

    wk_cmd_done(w);
    if (!rep || rep->type != REDIS_REPLY_ARRAY)
        return; /* disconnected, or CONFIG refused (managed Redis): say nothing */
    w->warned_policy = 1;
    pol = tq_reply_str(rep, 1, NULL);
    if (pol && strcmp(pol, "noeviction") != 0)
        wk_log(w, TQ_LOG_WARN, NULL,
               "redis maxmemory-policy is '%s', not 'noeviction': under memory "
               "pressure Redis may evict jobs", pol);
}

static void up_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;
    char where[300];

    if (!all_connected(w) || w->down_pending || w->up ||
        w->state == WK_STOPPED)
        return;
    w->up = 1;
    w->backoff_ms = WK_BACKOFF_MIN_MS;
    evtimer_del(w->conn_timeout_ev);
    w->cmd_progress = wk_mono_ms();
    addr_text(w, where, sizeof where);
    wk_log(w, TQ_LOG_INFO, NULL, "%s redis at %s",
           w->ever_up ? "reconnected to" : "connected to", where);
    w->ever_up = 1;
    if (tq_scripts_load_async(w->cmd.ac) != 0) {
        wk_link_down(w, "cannot send SCRIPT LOAD");
        return;
    }
    if (!w->warned_policy &&
        redisAsyncCommand(w->cmd.ac, policy_cb, w,
                          "CONFIG GET maxmemory-policy") == REDIS_OK)
        wk_cmd_sent(w);
    if (redisAsyncCommand(w->sub.ac, sub_cb, w, "SUBSCRIBE %s",
                          w->nk.cancel_chan) != REDIS_OK) {
        wk_link_down(w, "cannot send SUBSCRIBE");
        return;
    }
    wk_report_up(w);
    wk_claim_start(w);
    wk_kick(w);
}

/* ================================================================ watchdog */

void wk_cmd_sent(tq_worker *w)
{
    if (w->cmd_pending++ == 0)
        w->cmd_progress = wk_mono_ms();
}

void wk_cmd_done(tq_worker *w)
{
    if (w->cmd_pending > 0)
        w->cmd_pending--;
    w->cmd_progress = wk_mono_ms();
}

/* hiredis 0.14 has no command timeout: a link that went silent (a cut cable
 * sends no RST) is noticed here, well before TCP keepalive would. */
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;
    double now = wk_mono_ms();

    if (!w->up)
        return;
    if (w->cmd_pending > 0 && now - w->cmd_progress > WK_WATCHDOG_MS)
        wk_link_down(w, "no reply for 5 s");
    else if (w->block_armed &&
             now - w->block_sent > w->block_timeout_ms + WK_WATCHDOG_MS)
        wk_link_down(w, "BLPOP overdue by 5 s");
}

/* ================================================================ init, free */

int wk_links_init(tq_worker *w)
{
    w->cmd.w = w->block.w = w->sub.w = w;
    w->cmd.name = "cmd";
    w->block.name = "block";
    w->sub.name = "sub";
    w->backoff_ms = WK_BACKOFF_MIN_MS;
    w->teardown_ev = event_new(w->base, -1, 0, teardown_cb, w);
    w->reconnect_ev = evtimer_new(w->base, reconnect_cb, w);
    w->conn_timeout_ev = evtimer_new(w->base, conn_timeout_cb, w);
    w->watchdog_ev = event_new(w->base, -1, EV_PERSIST, watchdog_cb, w);
    w->up_ev = event_new(w->base, -1, 0, up_cb, w);
    w->block_close_ev = event_new(w->base, -1, 0, block_close_cb, w);
    if (!w->teardown_ev || !w->reconnect_ev || !w->conn_timeout_ev ||
        !w->watchdog_ev || !w->up_ev || !w->block_close_ev)
        return TQ_ENOMEM;
    return 0;
}

void wk_links_free(tq_worker *w)
{
    struct event **evs[] = {&w->teardown_ev, &w->reconnect_ev,
                            &w->conn_timeout_ev, &w->watchdog_ev, &w->up_ev,
                            &w->block_close_ev};
    size_t i;

    wk_links_close(w);
    for (i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
}
