/* link.c -- a set of Redis connections that live and die together.
 *
 * The one idea: a set is either up (every connection connected, checked,
 * its subscriptions confirmed) or on its way there, and every way of
 * failing funnels into lk_fail(), which schedules one teardown from an
 * event of our own. The teardown frees every hiredis context (hiredis then
 * runs each pending callback with a NULL reply), tells the owner once, and
 * arms the reconnect timer with the backoff. Nothing is ever freed inside a
 * hiredis callback, and nothing the owner sees comes from inside one but
 * the replies and messages themselves.
 *
 * hiredis 0.14.1 has no command timeout, so every command goes through a
 * small node kept in a FIFO per connection (replies come in order): the
 * head's deadline is checked by a 1 s watchdog. A subscriber connection is
 * checked by re-SUBSCRIBing a keepalive channel, whose confirmation is its
 * heartbeat and whose presence keeps the subscription count above 0
 * (hiredis 0.14 leaves subscribed mode at 0 and would abort on the next
 * confirmation).
 *
 * Life of a connection: opened with AUTH and SELECT queued first (their
 * replies are checked: a refusal is TQ_LINK_REFUSED); once every connection
 * passed them, the scripts are loaded on the first command connection and
 * every subscription is sent; when the last of those replies is in, on_up
 * fires from an event.
 *
 * Subscriptions (their records, hiredis 0.14's pitfalls) are link_sub.c's;
 * what both files share is link_private.h.
 *
 * Why one file over 800 lines: what is left is one state machine. Setting
 * up, the commands in flight, hiredis's events, the watchdog and the
 * teardown all read and write the same connection records and all end in
 * lk_fail(), whose ordering (marked once, every connection freed from an
 * event, the backoff armed, then on_down) is the guarantee the file exists
 * for; split further, that ordering would be spread over files that cannot
 * change apart. TLS and Sentinel already live in tls.c and sentinel.c,
 * behind conn_open and the resolve hook.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>

#include "broker/link_private.h"
#include "broker/sentinel.h"
#include "broker/tls.h"

static void free_cb(evutil_socket_t fd, short what, void *arg);

/* ================================================================ helpers */

int64_t lk_mono_ms(void)
{
    return (int64_t)tq_mono_ms();
}

void tq_timer_ms(struct event *ev, double ms)
{
    struct timeval tv;

    if (!(ms > 0))
        ms = 0;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms - (double)tv.tv_sec * 1000) * 1000);
    evtimer_add(ev, &tv);
}

void tq_link_addr_text(const tq_link *l, char *buf, size_t n)
{
    tq_redis_addr_text(l->cur.host[0] || l->cur.path[0] ? &l->cur : &l->addr,
                       buf, n);
}

/* Redis's refusals, as opposed to faults of the network or of a moment. */
static int is_refusal(const char *err)
{
    static const char *const words[] = {"NOAUTH", "WRONGPASS", "NOPERM",
                                        "ERR DB index", "ERR invalid password",
                                        "ERR AUTH", "ERR Client sent AUTH"};

    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strncmp(err, words[i], strlen(words[i])))
            return 1;
    return 0;
}

/* Leaves one of our hiredis callbacks: a free asked inside it runs now,
 * from an event. */
void lk_cb_leave(tq_link *l)
{
    if (--l->in_cb == 0 && l->free_wanted)
        event_active(l->free_ev, EV_TIMEOUT, 1);
}

/* ================================================================ commands in flight */

static cmd_node *node_get(tq_link *l)
{
    cmd_node *n = l->spare;

    if (n) {
        l->spare = n->next;
        memset(n, 0, sizeof *n);
        return n;
    }
    return calloc(1, sizeof *n);
}

static void node_put(tq_link *l, cmd_node *n)
{
    n->next = l->spare;
    l->spare = n;
}

/* The head of c's FIFO leaves; the next one's reply is due reply_timeout
 * from now at the earliest (it waited behind this one). */
static void fifo_pop(lconn *c, cmd_node *n)
{
    int64_t now = lk_mono_ms();
    cmd_node **pp = &c->head, *prev = NULL;

    while (*pp && *pp != n) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = n->next;
    if (c->tail == n)
        c->tail = prev;
    if (c->head) {
        int64_t due = now + c->l->conf.reply_timeout_ms + c->head->block_ms;
        if (c->head->due < due)
            c->head->due = due;
    }
}

static void node_cb(redisAsyncContext *ac, void *r, void *priv)
{
    cmd_node *n = priv;
    lconn *c = n->conn;
    tq_link *l = c->l;
    redisCallbackFn *fn = n->fn;
    void *up = n->priv;

    fifo_pop(c, n);
    node_put(l, n);
    /* A master demoted to a replica answers writes with READONLY: the set
     * goes down and the next attempt asks the sentinels again. The owner
     * still sees the reply (its outcome stays queued, and is resent from
     * on_up). */
    if (l->addr.nsentinels && r && ((redisReply *)r)->type == REDIS_REPLY_ERROR &&
        tq_sentinel_is_readonly(((redisReply *)r)->str))
        lk_fail(l, 0, "Redis at the master's address is a replica now: %.200s",
                ((redisReply *)r)->str);
    l->in_cb++;
    if (fn)
        fn(ac, r, up);
    lk_cb_leave(l);
}

static int send_node(tq_link *l, lconn *c, int64_t block_ms, redisCallbackFn *fn,
                     void *priv, int argc, const char **argv,
                     const size_t *argvlen)
{
    cmd_node *n;

    if (!c->ac || c->off)
        return TQ_EREDIS;
    if (!(n = node_get(l)))
        return TQ_ENOMEM;
    n->conn = c;
    n->fn = fn;
    n->priv = priv;
    n->block_ms = block_ms;
    n->due = lk_mono_ms() + l->conf.reply_timeout_ms + block_ms;
    if (redisAsyncCommandArgv(c->ac, node_cb, n, argc, argv, argvlen) !=
        REDIS_OK) {
        node_put(l, n);
        return TQ_EREDIS;
    }
    if (c->tail)
        c->tail->next = n;
    else
        c->head = n;
    c->tail = n;
    return 0;
}

static lconn *cmd_conn(tq_link *l, int i)
{
    if (i < 0 || i >= l->conf.nconns || l->conns[i].kind != TQ_LINK_CMD)
        return NULL;
    return &l->conns[i];
}

int tq_link_send_blocking(tq_link *l, int i, int64_t block_ms,
                          redisCallbackFn *fn, void *priv, int argc,
                          const char **argv, const size_t *argvlen)
{
    lconn *c = cmd_conn(l, i);

    if (!c || !l->up || l->failing)
        return TQ_EREDIS;
    return send_node(l, c, block_ms < 0 ? 0 : block_ms, fn, priv, argc, argv,
                     argvlen);
}

int tq_link_send(tq_link *l, int i, redisCallbackFn *fn, void *priv, int argc,
                 const char **argv, const size_t *argvlen)
{
    return tq_link_send_blocking(l, i, 0, fn, priv, argc, argv, argvlen);
}

int tq_link_send_script(tq_link *l, int i, tq_cmd *cmd, redisCallbackFn *fn,
                        void *priv)
{
    if (cmd->oom)
        return TQ_ENOMEM;
    tq_cmd_head(cmd);
    return tq_link_send(l, i, fn, priv, cmd->argc, cmd->argv, cmd->argvlen);
}

/* ================================================================ setting up */

/* A reply of the set-up (AUTH, SELECT, SCRIPT LOAD): an error refuses. */
static void setup_cb(redisAsyncContext *ac, void *r, void *priv)
{
    lconn *c = priv;
    tq_link *l = c->l;
    redisReply *rep = r;

    if (!rep)
        return; /* going down already */
    if (rep->type == REDIS_REPLY_ERROR) {
        lk_fail(l, is_refusal(rep->str) ? TQ_LINK_REFUSED : 0,
                  "Redis refused the set-up of '%s': %s", c->name, rep->str);
        return;
    }
    if (l->setup_left > 0)
        l->setup_left--;
    lk_maybe_up(l);
}

/* The reply of set-up command setup.n - handshake_left (they come in
 * order). */
static void handshake_cb(redisAsyncContext *ac, void *r, void *priv)
{
    lconn *c = priv;
    tq_link *l = c->l;
    redisReply *rep = r;
    char msg[600];

    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        tq_redis_refused(msg, sizeof msg,
                         c->setup.cmd[c->setup.n - c->handshake_left].what, rep->str);
        lk_fail(l, is_refusal(rep->str) ? TQ_LINK_REFUSED : 0, "%s", msg);
        return;
    }
    if (--c->handshake_left == 0) {
        c->ready = 1;
        lk_maybe_up(l);
    }
}

/* The PING after AUTH and SELECT on a TLS connection: its reply came
 * through the bridge, so the handshake was done and the server kept the
 * connection (one that wants a client certificate says no only after the
 * handshake, TLS 1.3). Until then the connection is not ready. */
static void tls_ping_cb(redisAsyncContext *ac, void *r, void *priv)
{
    lconn *c = priv;
    tq_link *l = c->l;
    redisReply *rep = r;

    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        lk_fail(l, is_refusal(rep->str) ? TQ_LINK_REFUSED : 0,
                "Redis refused PING on '%s': %s", c->name, rep->str);
        return;
    }
    c->tls_ok = 1;
    lk_maybe_up(l);
}

/* AUTH and SELECT (tq_redis_setup_init, the same as a blocking connection
 * sends), queued before anything of the owner's, and a PING after them on
 * a TLS connection. Their replies arrive before the connection is
 * subscribed, so they are ordinary. */
static int handshake(tq_link *l, lconn *c)
{
    static const char *ping[] = {"PING"};

    c->handshake_left = tq_redis_setup_init(&c->setup, &l->cur);
    for (int i = 0; i < c->setup.n; i++)
        if (send_node(l, c, 0, handshake_cb, c, c->setup.cmd[i].argc,
                      c->setup.cmd[i].argv, NULL))
            return -1;
    if (c->handshake_left == 0)
        c->ready = 1;
    c->tls_ok = !l->cur.tls;
    if (l->cur.tls && send_node(l, c, 0, tls_ping_cb, c, 1, ping, NULL))
        return -1;
    return 0;
}

static int load_scripts(tq_link *l, lconn *c, int count_setup)
{
    for (int s = 0; s < TQ_SCRIPT__COUNT; s++) {
        const char *argv[3] = {"SCRIPT", "LOAD", tq_script_source((tq_script)s)};
        if (send_node(l, c, 0, setup_cb, c, 3, argv, NULL))
            return -1;
        if (count_setup)
            l->setup_left++;
    }
    return 0;
}

int tq_link_reload_scripts(tq_link *l, int i)
{
    lconn *c = cmd_conn(l, i);

    if (!c || !l->up)
        return TQ_EREDIS;
    return load_scripts(l, c, 0) ? TQ_EREDIS : 0;
}

/* Every connection passed its handshake: load the scripts, send every
 * subscription; when their replies are in, the set is up. */
static void setup(tq_link *l)
{
    lconn *first = NULL;

    for (int i = 0; i < l->conf.nconns; i++)
        if (l->conns[i].kind == TQ_LINK_CMD && !l->conns[i].off) {
            first = &l->conns[i];
            break;
        }
    l->setup_left = 0;
    if (l->conf.load_scripts && first && load_scripts(l, first, 1)) {
        lk_fail(l, 0, "cannot send SCRIPT LOAD");
        return;
    }
    lk_subs_send_all(l);
}

/* Called whenever a step of coming up completed: moves the set from
 * connecting to setting up once every connection is ready, and on_up is
 * scheduled once the set-up's last reply is in. */
void lk_maybe_up(tq_link *l)
{
    if (l->failing || l->stopped)
        return;
    if (l->phase == PH_CONNECTING) {
        for (int i = 0; i < l->conf.nconns; i++) {
            lconn *c = &l->conns[i];
            if (!c->off && (!c->connected || !c->ready || !c->tls_ok))
                return;
        }
        l->phase = PH_SETUP;
        setup(l);
        if (l->failing)
            return;
    }
    if (l->phase == PH_SETUP && l->setup_left == 0)
        event_active(l->up_ev, EV_TIMEOUT, 1);
}

static void up_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_link *l = arg;

    if (l->phase != PH_SETUP || l->failing || l->stopped || l->setup_left)
        return;
    l->phase = PH_UP;
    l->up = 1;
    l->up_since = lk_mono_ms();
    l->reason[0] = '\0';
    for (int i = 0; i < l->conf.nconns; i++)
        l->conns[i].ka_last = l->up_since;
    if (l->hooks.on_up)
        l->hooks.on_up(l, l->hooks.ud);
}

/* ================================================================ going down */

static void conn_free(tq_link *l, lconn *c)
{
    redisAsyncContext *ac = c->ac;

    c->ac = NULL;
    c->connected = 0;
    c->ready = 0;
    c->tls_ok = 0;
    c->ka_sent = 0;
    if (ac) {
        l->tearing = 1;
        redisAsyncFree(ac); /* pending callbacks run with NULL: node_cb frees */
        l->tearing = 0;
    }
    tq_tls_free(c->tls); /* after hiredis: its end is closed by now */
    c->tls = NULL;
    /* hiredis ran every pending callback with NULL (node_cb freed the
     * nodes), or will as soon as the callback we are in returns */
}

static void close_all(tq_link *l)
{
    l->up = 0;
    for (int i = 0; i < l->conf.nconns; i++)
        conn_free(l, &l->conns[i]);
    lk_subs_reset(l);
    l->phase = PH_CONNECTING;
    l->setup_left = 0;
}

void lk_fail(tq_link *l, int flags, const char *fmt, ...)
{
    va_list ap;

    if (l->failing || l->stopped)
        return;
    l->failing = 1;
    l->fail_flags = flags;
    va_start(ap, fmt);
    vsnprintf(l->reason, sizeof l->reason, fmt, ap);
    va_end(ap);
    event_active(l->teardown_ev, EV_TIMEOUT, 1);
}

void tq_link_fail(tq_link *l, const char *reason, int flags)
{
    lk_fail(l, flags, "%s", reason && *reason ? reason : "error");
}

static void teardown_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_link *l = arg;
    char reason[sizeof l->reason];

    close_all(l);
    event_del(l->up_ev);
    l->failing = 0;
    if (l->stopped)
        return;
    /* A set that stayed up a while starts again from the shortest wait; one
     * that fails as soon as it is up (a refused command) keeps doubling. */
    if (l->up_since && lk_mono_ms() - l->up_since >= l->conf.backoff_max_ms)
        l->backoff_ms = l->conf.backoff_min_ms;
    l->up_since = 0;
    l->wait_ms = l->backoff_ms;
    l->backoff_ms = l->backoff_ms * 2 > l->conf.backoff_max_ms
                        ? l->conf.backoff_max_ms
                        : l->backoff_ms * 2;
    tq_timer_ms(l->reconnect_ev, l->wait_ms);
    snprintf(reason, sizeof reason, "%s", l->reason);
    if (l->hooks.on_down)
        l->hooks.on_down(l, reason, l->fail_flags, l->hooks.ud);
}

/* ================================================================ hiredis events */

static void on_connect(const redisAsyncContext *cac, int status)
{
    lconn *c = cac->data;
    tq_link *l = c->l;

    if (status != REDIS_OK) {
        char where[300];
        c->ac = NULL; /* hiredis frees it when we return */
        tq_link_addr_text(l, where, sizeof where);
        lk_fail(l, 0, "cannot reach Redis at %s: %s", where,
                  cac->c.errstr[0] ? cac->c.errstr : "connect failed");
        return;
    }
    c->connected = 1;
    lk_maybe_up(l);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    lconn *c = cac->data;
    tq_link *l = c->l;

    c->ac = NULL; /* hiredis frees it when we return */
    c->connected = 0;
    if (l->tearing || c->off)
        return;
    if (status == REDIS_OK)
        lk_fail(l, 0, "Redis closed the connection '%s'", c->name);
    else
        lk_fail(l, is_refusal(cac->c.errstr) ? TQ_LINK_REFUSED : 0,
                  "lost the connection '%s': %s", c->name,
                  cac->c.errstr[0] ? cac->c.errstr : "error");
}

/* The TLS side of connection c failed (a certificate refused, the server
 * gone): the set goes down with OpenSSL's reason, before hiredis sees its
 * end close (which would only say "closed"). From an event of the
 * bridge's, never inside a hiredis callback. */
static void tls_fail(tq_tls *t, const char *reason, void *ud)
{
    lconn *c = ud;
    tq_link *l = c->l;
    char where[300];

    if (c->tls != t || l->tearing || c->off)
        return;
    tq_link_addr_text(l, where, sizeof where);
    lk_fail(l, 0, "%s Redis at %s over TLS ('%s'): %s",
            c->tls_ok ? "lost" : "cannot reach", where, c->name,
            reason);
}

/* Opens connection c to the attempt's address: plain TCP or a Unix
 * socket by hiredis itself, or rediss:// through a TLS bridge on the same
 * base (broker/tls.c): hiredis then talks to the bridge's local socket. */
static int conn_open(tq_link *l, lconn *c)
{
    const tq_redis_addr *a = &l->cur;
    char where[300], err[300];
    redisAsyncContext *ac;

    tq_link_addr_text(l, where, sizeof where);
    if (a->tls) {
        ac = tq_tls_async_connect(l->base, a, tls_fail, c, &c->tls, err, sizeof err);
        if (!ac) {
            lk_fail(l, 0, "cannot reach Redis at %s over TLS: %s", where, err);
            return -1;
        }
    } else {
        ac = a->path[0] ? redisAsyncConnectUnix(a->path)
                        : redisAsyncConnect(a->host, a->port);
    }
    if (!ac) {
        lk_fail(l, 0, "cannot reach Redis at %s: out of memory", where);
        return -1;
    }
    if (ac->err) {
        lk_fail(l, 0, "cannot reach Redis at %s: %s", where, ac->errstr);
        redisAsyncFree(ac);
        return -1;
    }
    if (!a->path[0] && !a->tls)
        redisEnableKeepAlive(&ac->c);
    ac->data = c;
    if (redisLibeventAttach(ac, l->base) != REDIS_OK) {
        redisAsyncFree(ac);
        lk_fail(l, 0, "cannot attach to the event loop");
        return -1;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    c->connected = 0;
    c->ready = 0;
    /* AUTH and SELECT are queued now: hiredis sends them once connected,
     * before anything else */
    if (handshake(l, c)) {
        lk_fail(l, 0, "cannot queue AUTH/SELECT");
        return -1;
    }
    return 0;
}

static void attempt(tq_link *l)
{
    char err[256] = "";

    if (l->stopped || l->failing)
        return;
    l->attempt_started = lk_mono_ms();
    l->phase = PH_CONNECTING;
    l->setup_left = 0;
    l->cur = l->addr;
    if (l->hooks.resolve &&
        l->hooks.resolve(l, &l->cur, err, sizeof err, l->hooks.ud)) {
        lk_fail(l, 0, "%s", err[0] ? err : "cannot resolve the Redis address");
        return;
    }
    for (int i = 0; i < l->conf.nconns; i++) {
        lconn *c = &l->conns[i];
        if (c->off)
            continue;
        if (conn_open(l, c))
            return;
    }
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    attempt(arg);
}

/* ================================================================ watchdog */

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_link *l = arg;
    int64_t now = lk_mono_ms();

    if (l->stopped || l->failing)
        return;
    if (!l->up) {
        if (l->attempt_started && !evtimer_pending(l->reconnect_ev, NULL) &&
            now - l->attempt_started > l->conf.connect_timeout_ms) {
            char where[300];
            tq_link_addr_text(l, where, sizeof where);
            lk_fail(l, 0, "Redis at %s did not answer within %d ms", where,
                      l->conf.connect_timeout_ms);
        }
        return;
    }
    for (int i = 0; i < l->conf.nconns; i++) {
        lconn *c = &l->conns[i];
        if (c->off || !c->ac)
            continue;
        if (c->head && now > c->head->due) {
            lk_fail(l, 0, "no reply from Redis on '%s' for %d ms", c->name,
                      l->conf.reply_timeout_ms);
            return;
        }
        if (c->kind != TQ_LINK_SUB || !c->ka)
            continue;
        if (c->ka_sent && now - c->ka_sent > l->conf.reply_timeout_ms) {
            lk_fail(l, 0, "no reply from Redis on '%s' for %d ms", c->name,
                      l->conf.reply_timeout_ms);
            return;
        }
        if (!c->ka_sent && now - c->ka_last >= l->conf.reply_timeout_ms / 2) {
            if (lk_sub_send(l, c->ka, "SUBSCRIBE")) {
                lk_fail(l, 0, "cannot send SUBSCRIBE");
                return;
            }
            c->ka_sent = now;
        }
    }
}

/* ================================================================ closing one */

static void close_conn_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_link *l = arg;

    for (int i = 0; i < l->conf.nconns; i++)
        if (l->conns[i].off && l->conns[i].ac)
            conn_free(l, &l->conns[i]);
}

void tq_link_close_conn(tq_link *l, int i)
{
    if (i < 0 || i >= l->conf.nconns || l->conns[i].off)
        return;
    l->conns[i].off = 1;
    event_active(l->close_ev, EV_TIMEOUT, 1);
}

/* ================================================================ fuzzing */

int tq_link_adopt(tq_link *l, int i, redisAsyncContext *ac)
{
    lconn *c = cmd_conn(l, i);

    if (!c || !ac || l->started || c->ac)
        return TQ_EINVAL;
    ac->data = c;
    c->ac = ac;
    c->connected = 1;
    c->ready = 1;
    c->tls_ok = 1;
    l->phase = PH_UP;
    l->up = 1;
    l->up_since = lk_mono_ms();
    return 0;
}

/* ================================================================ new, free */

/* The resolve hook of a sentinel address, unless the owner set its own:
 * asks the sentinels (blocking, bounded: see broker/sentinel.c). */
static int sentinel_resolve(tq_link *l, tq_redis_addr *out, char *err,
                            size_t errlen, void *ud)
{
    (void)ud;
    return tq_sentinel_resolve(&l->addr, TQ_SENTINEL_STEP_MS, out, err, errlen);
}

tq_link *tq_link_new(struct event_base *base, const tq_redis_addr *addr,
                     const tq_link_conf *conf, const tq_link_hooks *hooks)
{
    tq_link *l;
    int nsub = 0;

    if (!base || !addr || !conf || conf->nconns < 1 ||
        conf->nconns > TQ_LINK_MAX)
        return NULL;
    for (int i = 0; i < conf->nconns; i++)
        nsub += conf->kinds[i] == TQ_LINK_SUB;
    if (nsub && (!conf->keepalive_channel || !*conf->keepalive_channel))
        return NULL;
    if (!(l = calloc(1, sizeof *l)))
        return NULL;
    l->base = base;
    l->addr = *addr;
    l->conf = *conf;
    if (hooks)
        l->hooks = *hooks;
    if (l->conf.connect_timeout_ms <= 0)
        l->conf.connect_timeout_ms = 5000;
    if (l->conf.reply_timeout_ms <= 0)
        l->conf.reply_timeout_ms = 5000;
    if (l->conf.backoff_min_ms <= 0)
        l->conf.backoff_min_ms = 100;
    if (l->conf.backoff_max_ms < l->conf.backoff_min_ms)
        l->conf.backoff_max_ms = l->conf.backoff_min_ms > 5000
                                     ? l->conf.backoff_min_ms
                                     : 5000;
    l->backoff_ms = l->conf.backoff_min_ms;
    if (!(l->subs = tq_map_new()))
        goto fail;
    if (addr->nsentinels && !l->hooks.resolve) {
        l->hooks.resolve = sentinel_resolve;
        if (!(l->watch = tq_sentinel_watch_new(base, addr, l)))
            goto fail;
    }
    for (int i = 0; i < conf->nconns; i++) {
        lconn *c = &l->conns[i];
        c->l = l;
        c->index = i;
        c->kind = conf->kinds[i];
        c->name = conf->names[i] ? conf->names[i] : "redis";
        if (c->kind == TQ_LINK_SUB) {
            /* one keepalive per subscriber connection: a channel each */
            char ch[512];
            snprintf(ch, sizeof ch, "%s:%d", conf->keepalive_channel, i);
            if (!(c->ka = lk_sub_add(l, c, ch, NULL, NULL)))
                goto fail;
            c->ka->keepalive = 1;
        }
    }
    l->teardown_ev = event_new(base, -1, 0, teardown_cb, l);
    l->reconnect_ev = evtimer_new(base, reconnect_cb, l);
    l->watchdog_ev = event_new(base, -1, EV_PERSIST, watchdog_cb, l);
    l->up_ev = event_new(base, -1, 0, up_cb, l);
    l->free_ev = event_new(base, -1, 0, free_cb, l);
    l->close_ev = event_new(base, -1, 0, close_conn_cb, l);
    if (!l->teardown_ev || !l->reconnect_ev || !l->watchdog_ev || !l->up_ev ||
        !l->free_ev || !l->close_ev)
        goto fail;
    return l;
fail:
    tq_link_free(l);
    return NULL;
}

int tq_link_start(tq_link *l)
{
    int ms = WATCHDOG_TICK_MS;
    struct timeval tick;

    if (l->conf.connect_timeout_ms / 4 < ms)
        ms = l->conf.connect_timeout_ms / 4;
    if (l->conf.reply_timeout_ms / 4 < ms)
        ms = l->conf.reply_timeout_ms / 4;
    if (ms < 10)
        ms = 10;
    tick.tv_sec = ms / 1000;
    tick.tv_usec = (ms % 1000) * 1000;
    if (l->stopped)
        return TQ_EINVAL;
    if (l->started)
        return 0;
    l->started = 1;
    evtimer_add(l->watchdog_ev, &tick);
    tq_sentinel_watch_start(l->watch);
    attempt(l);
    return 0;
}

int tq_link_is_up(const tq_link *l)
{
    return l && l->up && !l->failing;
}

int tq_link_is_connecting(const tq_link *l)
{
    return l && l->started && !l->stopped && !l->failing && !l->up &&
           !evtimer_pending(l->reconnect_ev, NULL);
}

const char *tq_link_reason(const tq_link *l)
{
    return l->reason;
}

int64_t tq_link_backoff_ms(const tq_link *l)
{
    return l->wait_ms;
}

void tq_link_stop(tq_link *l)
{
    if (!l || l->stopped)
        return;
    l->stopped = 1;
    tq_sentinel_watch_stop(l->watch);
    if (l->reconnect_ev)
        evtimer_del(l->reconnect_ev);
    if (l->watchdog_ev)
        evtimer_del(l->watchdog_ev);
    if (l->teardown_ev)
        event_del(l->teardown_ev);
    if (l->up_ev)
        event_del(l->up_ev);
    close_all(l);
}

static void free_now(tq_link *l)
{
    struct event **evs[] = {&l->teardown_ev, &l->reconnect_ev, &l->watchdog_ev,
                            &l->up_ev, &l->free_ev, &l->close_ev};

    tq_link_stop(l);
    tq_sentinel_watch_free(l->watch);
    l->watch = NULL;
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (*evs[i])
            event_free(*evs[i]);
    lk_subs_free(l);
    while (l->spare) {
        cmd_node *n = l->spare;
        l->spare = n->next;
        free(n);
    }
    free(l);
}

static void free_cb(evutil_socket_t fd, short what, void *arg)
{
    free_now(arg);
}

void tq_link_free(tq_link *l)
{
    if (!l)
        return;
    if (l->in_cb && l->free_ev) {
        /* inside one of our hiredis callbacks: finish it first */
        l->free_wanted = 1;
        tq_link_stop(l);
        return;
    }
    free_now(l);
}
