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
static void handshake_cb(void *priv, const char *err);

static void addr_text(const tq_worker *w, char *buf, size_t n)
{
    if (w->addr.path[0])
        snprintf(buf, n, "unix:%s", w->addr.path);
    else
        snprintf(buf, n, "%s:%d", w->addr.host, w->addr.port);
}

/* connected and, when the URL has a password or a database, AUTH and
 * SELECT accepted (handshake_cb) */
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
    l->tcp_up = 0;
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
    redisAsyncContext *ac =
        tq_redis_connect_async_cb(&w->addr, handshake_cb, l, err, sizeof err);

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
    l->shaken = !tq_redis_handshake_needed(&w->addr);
    l->tcp_up = 0;
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
    l->tcp_up = 1;
    l->connected = l->shaken; /* else when AUTH and SELECT are answered */
    if (all_connected(w))
        event_active(w->up_ev, EV_TIMEOUT, 1);
}

/* AUTH and SELECT answered (tq_redis_connect_async_cb). A refusal is a
 * reason to reconnect later, with the backoff growing as for an unreachable
 * Redis: never "connected" then "lost" in a loop. The reason (never the
 * password) is in the one line wk_link_down writes per attempt. */
static void handshake_cb(void *priv, const char *err)
{
    wk_link *l = priv;
    tq_worker *w = l->w;

    if (err) {
        wk_link_down(w, err);
        return;
    }
    l->shaken = 1;
    l->connected = l->tcp_up;
    if (all_connected(w))
        event_active(w->up_ev, EV_TIMEOUT, 1);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    wk_link *l = cac->data;
    tq_worker *w = l->w;

    l->ac = NULL; /* hiredis frees it when we return */
    l->connected = 0;
    l->tcp_up = 0;
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
        /* (NOPERM on the channel): cancellations still arrive through the
         * lease renewal's reply, within lease/3 */
        wk_redis_error(w, "SUBSCRIBE", rep->str);
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
    /* the backoff is reset by the first reply that is not an error
     * (wk_redis_ok), not here: a Redis that accepts connections but refuses
     * every command must not be retried 10 times a second */
    evtimer_del(w->conn_timeout_ev);
    w->cmd_progress = tq_mono_ms();
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
        w->cmd_progress = tq_mono_ms();
}

void wk_cmd_done(tq_worker *w)
{
    if (w->cmd_pending > 0)
        w->cmd_pending--;
    w->cmd_progress = tq_mono_ms();
}

/* hiredis 0.14 has no command timeout: a link that went silent (a cut cable
 * sends no RST) is noticed here, well before TCP keepalive would. */
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;
    double now = tq_mono_ms();

    if (!w->up)
        return;
    if (w->cmd_pending > 0 && now - w->cmd_progress > WK_WATCHDOG_MS)
        wk_link_down(w, "no reply for 5 s");
    else if (w->block_armed &&
             now - w->block_sent > w->block_timeout_ms + WK_WATCHDOG_MS)
        wk_link_down(w, "BLPOP overdue by 5 s");
}

/* ================================================================ error replies */

int wk_error_is_oom(const char *err)
{
    return err && (strncmp(err, "OOM ", 4) == 0 ||
                   strstr(err, "OOM command not allowed") != NULL);
}

/* The first word of an error reply names its class; these say something about
 * Redis's state (memory, permissions, role, loading, a busy script, auth),
 * not about the command: the same command may succeed later. */
int wk_error_is_transient(const char *err)
{
    static const char *const words[] = {
        "OOM", "NOPERM", "READONLY", "LOADING", "BUSY", "MASTERDOWN",
        "NOSCRIPT", "NOAUTH", "WRONGPASS", "MISCONF", "CLUSTERDOWN",
        "TRYAGAIN", "NOREPLICAS", "UNBLOCKED"};
    size_t i, n;

    if (!err)
        return 1;
    if (wk_error_is_oom(err))
        return 1;
    n = strcspn(err, " ");
    for (i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == n && strncmp(err, words[i], n) == 0)
            return 1;
    return 0;
}

int64_t wk_redis_error(tq_worker *w, const char *what, const char *err)
{
    double now = tq_mono_ms();
    int64_t left;
    char line[300];

    if (now >= w->err_next) {
        /* a new backoff period: longer than the last, one line */
        w->err_backoff_ms = w->err_backoff_ms ? w->err_backoff_ms * 2
                                              : WK_ERR_BACKOFF_MIN_MS;
        if (w->err_backoff_ms > WK_ERR_BACKOFF_MAX_MS)
            w->err_backoff_ms = WK_ERR_BACKOFF_MAX_MS;
        w->err_next = now + (double)w->err_backoff_ms;
        wk_utf8_clean(line, sizeof line, err ? err : "?",
                      err ? strlen(err) : 1, 1);
        if (wk_error_is_oom(err))
            wk_log(w, TQ_LOG_WARN, NULL,
                   "redis is out of memory (maxmemory reached; %s refused: %s): "
                   "not claiming for %.0f s; leases, heartbeats and outcomes "
                   "go on", what, line, (double)w->err_backoff_ms / 1000.0);
        else
            wk_log(w, TQ_LOG_WARN, NULL,
                   "redis refused %s: %s; trying again in %.0f s (outcomes "
                   "are kept)", what, line, (double)w->err_backoff_ms / 1000.0);
    }
    left = (int64_t)(w->err_next - now);
    return left < 50 ? 50 : left;
}

int64_t wk_redis_noscript(tq_worker *w, redisAsyncContext *ac,
                          const char *what, const char *err)
{
    double now = tq_mono_ms();

    /* Redis restarted or flushed its scripts: load them again, quietly. A
     * NOSCRIPT again soon after means loading does not help (SCRIPT LOAD
     * refused): an error reply like any other. */
    if (now - w->noscript_at > 2000) {
        w->noscript_at = now;
        tq_scripts_load_async(ac);
        return 50;
    }
    tq_scripts_load_async(ac);
    return wk_redis_error(w, what, err);
}

void wk_redis_ok(tq_worker *w, int claimed)
{
    w->backoff_ms = WK_BACKOFF_MIN_MS;
    if (claimed && w->err_backoff_ms) {
        wk_log(w, TQ_LOG_INFO, NULL, "redis accepts claims again");
        w->err_backoff_ms = 0;
        w->err_next = 0;
    }
}

/* ================================================================ pre-flight */

/* A refusal that will not go away by itself: bad credentials, a database
 * that does not exist, an ACL without the commands or keys the worker needs. */
static int permanent(const char *err)
{
    return strstr(err, "Redis refused AUTH") || strstr(err, "Redis refused SELECT") ||
           strstr(err, "NOPERM") || strstr(err, "NOAUTH") ||
           strstr(err, "WRONGPASS");
}

int tq_worker_check(tq_worker *w, int timeout_ms)
{
    char err[512] = "";
    redisContext *c;
    redisReply *r;
    tq_cmd cmd;
    int rc = 0;

    if (!w)
        return TQ_EINVAL;
    c = tq_redis_connect(&w->addr, timeout_ms > 0 ? timeout_ms : 2000, err,
                         sizeof err);
    if (!c)
        goto out; /* err set: unreachable (retried later) or refused */
    /* first a small command: Redis drops a client that sends a big one
     * (SCRIPT LOAD) before authenticating, and NOAUTH would be lost */
    r = redisCommand(c, "PING");
    if (r && r->type == REDIS_REPLY_ERROR)
        snprintf(err, sizeof err, "Redis refused PING: %s", r->str);
    freeReplyObject(r);
    if (err[0])
        goto out;
    if (tq_scripts_load(c, err, sizeof err) != 0)
        goto out;
    /* a lease renewal of nothing: runs EVALSHA on the first queue's keys,
     * changes nothing */
    tq_cmd_init(&cmd, TQ_SCRIPT_HEARTBEAT);
    tq_cmd_key(&cmd, w->queues[0].k->active);
    tq_cmd_args(&cmd, w->queues[0].k->job_prefix);
    tq_cmd_argi(&cmd, (long long)w->o.lease_ms);
    tq_cmd_args(&cmd, w->nk.sem_prefix);
    r = tq_cmd_run(c, &cmd);
    tq_cmd_clear(&cmd);
    if (!r)
        snprintf(err, sizeof err, "Redis connection failed: %s",
                 c->errstr[0] ? c->errstr : "no reply");
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(err, sizeof err, "Redis refused EVALSHA: %s", r->str);
    freeReplyObject(r);
out:
    if (c)
        redisFree(c);
    if (err[0] && permanent(err)) {
        char clean[sizeof err];
        wk_utf8_clean(clean, sizeof clean, err, strlen(err), 1);
        snprintf(w->err, sizeof w->err, "%.200s", clean);
        rc = TQ_EREDIS;
    } else if (err[0]) {
        wk_log(w, TQ_LOG_DEBUG, NULL, "pre-flight: %s (retried when running)",
               err);
    }
    return rc;
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
