/* link.c -- the worker's three Redis connections, and its answer to Redis's
 * error replies.
 *
 *   cmd    scripts (claim, ack, heartbeat, reclaim, bury, beat), pipelined
 *   block  BLPOP on the wake keys while idle
 *   sub    SUBSCRIBE P:cancel
 *
 * The three are one tq_link (broker/link.h): they live and die together,
 * with a connect timeout, a watchdog on every reply (the BLPOP's is due its
 * own timeout later), teardown from an event and a reconnect backoff of
 * 100 ms doubling to 5 s. Running jobs never notice. This file only
 * configures the set, writes the worker's log lines about it, and sorts
 * error replies: what the worker does when the set comes up or goes down
 * is worker.c's (on_up/on_down), so nothing here calls into claiming or
 * reporting.
 *
 * Error replies (OOM, NOPERM, READONLY, ...) do not take the set down:
 * they say something about Redis's state, so the call is made again after a
 * backoff of its own (1 s doubling to 30 s), with one log line per period.
 */
#include <stdio.h>
#include <string.h>

#include "worker/worker_private.h"
#include "broker/tls.h"

/* ================================================================ the set */

static void cancel_msg(tq_link *l, const char *channel, const char *msg,
                       size_t len, void *ud);

int wk_link_init(tq_worker *w, const tq_link_hooks *hooks)
{
    tq_link_conf conf = {0};

    conf.nconns = WK_NCONN;
    conf.kinds[WK_CONN_CMD] = TQ_LINK_CMD;
    conf.kinds[WK_CONN_BLOCK] = TQ_LINK_CMD;
    conf.kinds[WK_CONN_SUB] = TQ_LINK_SUB;
    conf.names[WK_CONN_CMD] = "cmd";
    conf.names[WK_CONN_BLOCK] = "block";
    conf.names[WK_CONN_SUB] = "sub";
    conf.load_scripts = 1;
    /* nothing publishes there; the worker id keeps workers apart in
     * PUBSUB CHANNELS */
    snprintf(w->rd.keepalive, sizeof w->rd.keepalive, "%.100s:link:%.300s", w->ns,
             w->id);
    conf.keepalive_channel = w->rd.keepalive;
    conf.connect_timeout_ms = WK_CONNECT_TIMEOUT_MS;
    conf.reply_timeout_ms = WK_WATCHDOG_MS;
    conf.backoff_min_ms = WK_BACKOFF_MIN_MS;
    conf.backoff_max_ms = WK_BACKOFF_MAX_MS;
    w->rd.link = tq_link_new(w->base, &w->addr, &conf, hooks);
    return w->rd.link ? 0 : TQ_ENOMEM;
}

void wk_link_free(tq_worker *w)
{
    tq_link_free(w->rd.link);
    w->rd.link = NULL;
}

void wk_link_start(tq_worker *w)
{
    tq_link_start(w->rd.link);
}

void wk_link_stop(tq_worker *w)
{
    if (w->rd.link)
        tq_link_stop(w->rd.link);
    w->rd.was_up = 0;
}

void wk_link_close_block(tq_worker *w)
{
    if (w->rd.block_off)
        return;
    w->rd.block_off = 1;
    tq_link_close_conn(w->rd.link, WK_CONN_BLOCK);
}

int wk_up(const tq_worker *w)
{
    return tq_link_is_up(w->rd.link);
}

void wk_link_fail(tq_worker *w, const char *why)
{
    if (w->state == WK_NEW || w->state == WK_STOPPED)
        return;
    tq_link_fail(w->rd.link, why, 0);
}

/* ================================================================ sending */

int wk_send_script(tq_worker *w, tq_cmd *c, redisCallbackFn *fn, void *priv)
{
    return tq_link_send_script(w->rd.link, WK_CONN_CMD, c, fn, priv);
}

int wk_send_argv(tq_worker *w, int argc, const char **argv,
                 redisCallbackFn *fn, void *priv)
{
    return tq_link_send(w->rd.link, WK_CONN_CMD, fn, priv, argc, argv, NULL);
}

int wk_send_block(tq_worker *w, int64_t block_ms, int argc, const char **argv,
                  redisCallbackFn *fn, void *priv)
{
    if (w->rd.block_off)
        return TQ_EREDIS;
    return tq_link_send_blocking(w->rd.link, WK_CONN_BLOCK, block_ms, fn, priv,
                                 argc, argv, NULL);
}

/* ================================================================ cancel messages */

static void cancel_msg(tq_link *l, const char *channel, const char *msg,
                       size_t len, void *ud)
{
    tq_worker *w = ud;

    if (msg && len > 0 && len <= TQ_ID_MAX && strlen(msg) == len &&
        w->rd.on_cancel)
        w->rd.on_cancel(w, msg);
}

int wk_link_subscribe_cancel(tq_worker *w, void (*fn)(tq_worker *, const char *))
{
    w->rd.on_cancel = fn;
    return tq_link_subscribe(w->rd.link, WK_CONN_SUB, w->nk.cancel_chan,
                             cancel_msg, w);
}

/* ================================================================ up, down */

static void policy_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;
    const char *pol;

    if (!rep || rep->type != REDIS_REPLY_ARRAY)
        return; /* disconnected, or CONFIG refused (managed Redis): say nothing */
    w->rd.warned_policy = 1;
    pol = tq_reply_str(rep, 1, NULL);
    if (pol && strcmp(pol, "noeviction") != 0)
        wk_log(w, TQ_LOG_WARN, NULL,
               "redis maxmemory-policy is '%s', not 'noeviction': under memory "
               "pressure Redis may evict jobs", pol);
}

void wk_link_went_up(tq_worker *w)
{
    static const char *const argv[] = {"CONFIG", "GET", "maxmemory-policy"};
    char where[300];

    w->rd.was_up = 1;
    tq_link_addr_text(w->rd.link, where, sizeof where);
    wk_log(w, TQ_LOG_INFO, NULL, "%s redis at %s",
           w->rd.ever_up ? "reconnected to" : "connected to", where);
    w->rd.ever_up = 1;
    if (!w->rd.warned_policy)
        (void)wk_send_argv(w, 3, (const char **)argv, policy_cb, w);
}

void wk_link_went_down(tq_worker *w, const char *reason)
{
    char where[300];
    const char *why = reason && *reason ? reason : "error";

    tq_link_addr_text(w->rd.link, where, sizeof where);
    if (w->rd.was_up)
        wk_log(w, TQ_LOG_WARN, NULL,
               "lost redis at %s (%s); reconnecting, running jobs go on",
               where, why);
    else
        wk_log(w, TQ_LOG_WARN, NULL,
               "cannot reach redis at %s (%s); retrying in %lld ms", where,
               why, (long long)tq_link_backoff_ms(w->rd.link));
    w->rd.was_up = 0;
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

    if (now >= w->rd.err_next) {
        /* a new backoff period: longer than the last, one line */
        w->rd.err_backoff_ms = w->rd.err_backoff_ms ? w->rd.err_backoff_ms * 2
                                              : WK_ERR_BACKOFF_MIN_MS;
        if (w->rd.err_backoff_ms > WK_ERR_BACKOFF_MAX_MS)
            w->rd.err_backoff_ms = WK_ERR_BACKOFF_MAX_MS;
        w->rd.err_next = now + (double)w->rd.err_backoff_ms;
        tq_text_clean(line, sizeof line, err ? err : "?",
                      err ? strlen(err) : 1, 1);
        if (wk_error_is_oom(err))
            wk_log(w, TQ_LOG_WARN, NULL,
                   "redis is out of memory (maxmemory reached; %s refused: %s): "
                   "not claiming for %.0f s; leases, heartbeats and outcomes "
                   "go on", what, line, (double)w->rd.err_backoff_ms / 1000.0);
        else
            wk_log(w, TQ_LOG_WARN, NULL,
                   "redis refused %s: %s; trying again in %.0f s (outcomes "
                   "are kept)", what, line, (double)w->rd.err_backoff_ms / 1000.0);
    }
    left = (int64_t)(w->rd.err_next - now);
    return left < 50 ? 50 : left;
}

int64_t wk_redis_noscript(tq_worker *w, const char *what, const char *err)
{
    double now = tq_mono_ms();

    /* Redis restarted or flushed its scripts: load them again, quietly. A
     * NOSCRIPT again soon after means loading does not help (SCRIPT LOAD
     * refused): an error reply like any other. */
    if (now - w->rd.noscript_at > 2000) {
        w->rd.noscript_at = now;
        tq_link_reload_scripts(w->rd.link, WK_CONN_CMD);
        return 50;
    }
    tq_link_reload_scripts(w->rd.link, WK_CONN_CMD);
    return wk_redis_error(w, what, err);
}

void wk_redis_ok(tq_worker *w, int claimed)
{
    if (claimed && w->rd.err_backoff_ms) {
        wk_log(w, TQ_LOG_INFO, NULL, "redis accepts claims again");
        w->rd.err_backoff_ms = 0;
        w->rd.err_next = 0;
    }
}

/* ================================================================ pre-flight */

/* A refusal that will not go away by itself: bad credentials, a database
 * that does not exist, an ACL without the commands or keys the worker needs. */
static int permanent(const char *err)
{
    return strstr(err, "Redis refused AUTH") || strstr(err, "Redis refused SELECT") ||
           strstr(err, "NOPERM") || strstr(err, "NOAUTH") ||
           strstr(err, "WRONGPASS") || tq_tls_permanent(err);
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
    tq_cmd_init(&cmd, TQ_SCRIPT_RENEW);
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
    if (err[0])
        goto out;
    /* cancellations come on P:cancel: a user whose ACL lacks that channel
     * is refused here, not left with a link that never comes up */
    r = redisCommand(c, "SUBSCRIBE %s", w->nk.cancel_chan);
    if (!r)
        snprintf(err, sizeof err, "Redis connection failed: %s",
                 c->errstr[0] ? c->errstr : "no reply");
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(err, sizeof err, "Redis refused SUBSCRIBE: %s", r->str);
    freeReplyObject(r);
out:
    if (c)
        redisFree(c);
    if (err[0] && permanent(err)) {
        char clean[sizeof err];
        tq_text_clean(clean, sizeof clean, err, strlen(err), 1);
        snprintf(w->err, sizeof w->err, "%.200s", clean);
        rc = TQ_EREDIS;
    } else if (err[0]) {
        wk_log(w, TQ_LOG_DEBUG, NULL, "pre-flight: %s (retried when running)",
               err);
    }
    return rc;
}

