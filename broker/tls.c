/* tls.c -- rediss://: a TLS bridge in front of hiredis 0.14.
 *
 * The one idea: hiredis 0.14 cannot speak TLS, but it can speak to a local
 * socket. So every TLS connection is two bufferevents on one event_base:
 * a libevent OpenSSL bufferevent connected to Redis (OpenSSL verifies the
 * certificate, checks the name and does every byte of crypto), and a plain
 * one on our end of a local socket whose other end hiredis holds. Whatever
 * one reads, the other writes, with a high-water mark so a slow side holds
 * the fast one back. When the TLS side ends, the reason is kept (and told
 * to the owner first), what it still had for hiredis is flushed, and our
 * end is closed: hiredis sees an EOF, as it would from a plain Redis.
 *
 * hiredis 0.14's async API has no "connect to this fd", but it connects to
 * a Unix socket path at once (a local connect does not wait): so the async
 * way listens on a path in a fresh 0700 directory, lets hiredis connect,
 * accepts, and removes the path and the directory before returning. The
 * blocking way uses a socketpair and redisConnectFd, and runs the bridge
 * on a base of its own: in the caller's thread until the handshake is
 * done (so a refused certificate is the connect's error), then in a
 * detached thread that ends when hiredis closes its end (redisFree).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "broker/tls.h"

/* A side whose output holds this much stops the other side reading until
 * it drained to half of it. */
#define TLS_HIGH_WATER (256 * 1024)

struct tq_tls {
    pthread_mutex_t mu;       /* reason and refs: the pump thread and the owner */
    int refs;
    struct event_base *base;
    int own_base;             /* the blocking way: freed with the bridge */
    struct bufferevent *tls;  /* to Redis, OpenSSL */
    struct bufferevent *plain; /* to hiredis */
    struct event *timer;      /* the blocking handshake's deadline */
    int verify;
    int connected;            /* the handshake is done */
    int ended;                /* the TLS side ended: reason is set */
    int closing;              /* flushing to hiredis, then closing */
    int waiting;              /* the blocking handshake's loop is running */
    int timed_out;
    int rx;                   /* Redis sent something after the handshake */
    tq_tls_fail_fn *fn;
    void *ud;
    char reason[256];
};

/* ================================================================ OpenSSL set-up */

/* The first error OpenSSL queued (the rest cleared), or dflt. */
static const char *ssl_err(const char *dflt)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return r ? r : dflt;
}

static int readable(const char *what, const char *file, char *err, size_t n)
{
    if (access(file, R_OK) == 0)
        return 0;
    snprintf(err, n, "cannot read the TLS %s file '%s': %s", what, file,
             strerror(errno));
    return -1;
}

/* The context of one connection: verification on unless ?verify=0, the CA
 * of ?ca= or the system's store, the client certificate of ?cert=&key=.
 * Built per connection, so a renewed file is read at the next reconnect. */
static SSL_CTX *ctx_new(const tq_redis_addr *a, char *err, size_t n)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx) {
        snprintf(err, n, "cannot set up TLS: %s", ssl_err("out of memory"));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* a Redis killed (or restarted) sends no close_notify: OpenSSL 3 would
     * call that an error; it is an end of the connection, as over TCP */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    if (a->tls_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (a->tls_ca[0]) {
            if (readable("CA (?ca=)", a->tls_ca, err, n))
                goto fail;
            if (SSL_CTX_load_verify_locations(ctx, a->tls_ca, NULL) != 1) {
                snprintf(err, n, "cannot load the TLS CA file '%s': %s",
                         a->tls_ca, ssl_err("not a PEM certificate"));
                goto fail;
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            snprintf(err, n, "cannot load the system's CA store: %s",
                     ssl_err("unknown error"));
            goto fail;
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (a->tls_cert[0]) {
        if (readable("certificate (?cert=)", a->tls_cert, err, n) ||
            readable("key (?key=)", a->tls_key, err, n))
            goto fail;
        if (SSL_CTX_use_certificate_chain_file(ctx, a->tls_cert) != 1) {
            snprintf(err, n, "cannot load the TLS certificate '%s': %s",
                     a->tls_cert, ssl_err("not a PEM certificate"));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, a->tls_key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(err, n, "cannot use the TLS key '%s': %s", a->tls_key,
                     ssl_err("not the certificate's key"));
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static int is_ip(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* One connection's SSL: the name checked is ?sni= or the host (an IP
 * address is checked as one, and sent as no SNI, as RFC 6066 wants). */
static SSL *ssl_new(const tq_redis_addr *a, char *err, size_t n)
{
    const char *name = a->tls_sni[0] ? a->tls_sni : a->host;
    SSL_CTX *ctx = ctx_new(a, err, n);
    SSL *ssl;
    int ok = 1;

    if (!ctx)
        return NULL;
    ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds its own reference */
    if (!ssl) {
        snprintf(err, n, "cannot set up TLS: %s", ssl_err("out of memory"));
        return NULL;
    }
    if (a->tls_verify)
        ok = is_ip(name) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                         : SSL_set1_host(ssl, name);
    if (ok && !is_ip(name))
        ok = SSL_set_tlsext_host_name(ssl, name);
    if (ok != 1) {
        snprintf(err, n, "cannot set up TLS for the name '%s': %s", name,
                 ssl_err("refused"));
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

/* ================================================================ the bridge */

static void set_reason(tq_tls *t, const char *text)
{
    pthread_mutex_lock(&t->mu);
    if (!t->reason[0])
        snprintf(t->reason, sizeof t->reason, "%s", text);
    pthread_mutex_unlock(&t->mu);
}

/* Why the TLS side stopped, in OpenSSL's words when it has some. */
static void tls_why(tq_tls *t, short what, char *buf, size_t n)
{
    SSL *ssl = bufferevent_openssl_get_ssl(t->tls);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e, first = 0;
    int dns = bufferevent_socket_get_dns_error(t->tls);
    int syserr = EVUTIL_SOCKET_ERROR();

    while ((e = bufferevent_get_openssl_error(t->tls)))
        if (!first)
            first = e;
    if (!t->connected && t->verify && vr != X509_V_OK)
        snprintf(buf, n, "certificate verify failed: %s",
                 X509_verify_cert_error_string(vr));
    else if (first && ERR_reason_error_string(first))
        snprintf(buf, n, "TLS error: %s", ERR_reason_error_string(first));
    else if (t->connected && !t->rx)
        snprintf(buf, n, "the server closed the connection after the TLS "
                 "handshake (does it want a client certificate? ?cert=&key=)");
    else if (dns)
        snprintf(buf, n, "%s", evutil_gai_strerror(dns));
    else if (what & BEV_EVENT_EOF)
        snprintf(buf, n, "the server closed the connection%s",
                 t->connected ? "" : " during the TLS handshake");
    else if (syserr && syserr != EAGAIN)
        snprintf(buf, n, "%s", strerror(syserr));
    else if (!t->connected)
        snprintf(buf, n, "the server closed the connection during the TLS handshake");
    else
        snprintf(buf, n, "the TLS connection failed");
}

/* Closes both sides: hiredis sees its end close. */
static void finish(tq_tls *t)
{
    if (t->tls)
        bufferevent_free(t->tls);
    if (t->plain)
        bufferevent_free(t->plain);
    t->tls = t->plain = NULL;
    if (t->timer)
        evtimer_del(t->timer);
}

static void copy(tq_tls *t, struct bufferevent *from, struct bufferevent *to)
{
    struct evbuffer *out = bufferevent_get_output(to);

    evbuffer_add_buffer(out, bufferevent_get_input(from));
    if (evbuffer_get_length(out) >= TLS_HIGH_WATER) {
        /* to's write callback lets from read again */
        bufferevent_disable(from, EV_READ);
        bufferevent_setwatermark(to, EV_WRITE, TLS_HIGH_WATER / 2, 0);
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    tq_tls *t = arg;

    if (bev == t->tls)
        t->rx = 1;
    if (bev == t->tls && t->plain)
        copy(t, t->tls, t->plain);
    else if (bev == t->plain && t->tls && !t->ended)
        copy(t, t->plain, t->tls);
    else
        evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
}

/* bev's output drained below its watermark: the other side may read. */
static void write_cb(struct bufferevent *bev, void *arg)
{
    tq_tls *t = arg;
    struct bufferevent *other = bev == t->tls ? t->plain : t->tls;

    if (bev == t->plain && t->closing &&
        evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        finish(t);
        return;
    }
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    if (other)
        bufferevent_enable(other, EV_READ);
}

static void tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    tq_tls *t = arg;
    char why[256];

    if (what & BEV_EVENT_CONNECTED) {
        t->connected = 1;
        /* a Redis that stops (a restart) closes without a TLS close_notify:
         * from now on that is an EOF (before, an error whose errno tells
         * why: refused, reset) */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        if (t->waiting)
            event_base_loopbreak(t->base);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) || t->ended)
        return;
    tls_why(t, what, why, sizeof why);
    set_reason(t, why);
    t->ended = 1;
    if (t->fn)
        t->fn(t, why, t->ud);
    if (t->waiting)
        event_base_loopbreak(t->base);
    /* what Redis sent before it went goes to hiredis first */
    if (t->plain && evbuffer_get_length(bufferevent_get_output(t->plain))) {
        t->closing = 1;
        bufferevent_setwatermark(t->plain, EV_WRITE, 0, 0);
        bufferevent_disable(t->plain, EV_READ);
    } else {
        finish(t);
    }
}

/* hiredis closed its end (redisFree, redisAsyncFree): the bridge ends. */
static void plain_event_cb(struct bufferevent *bev, short what, void *arg)
{
    tq_tls *t = arg;

    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        set_reason(t, "closed");
        finish(t);
    }
}

/* A bridge on base between plain_fd (ours; taken) and a TLS connection to
 * a's host and port, under way when it returns. NULL with err. */
static tq_tls *bridge_new(struct event_base *base, const tq_redis_addr *a,
                          int plain_fd, char *err, size_t n)
{
    tq_tls *t = calloc(1, sizeof *t);
    evutil_socket_t fd;
    SSL *ssl;

    if (!t) {
        close(plain_fd);
        snprintf(err, n, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->refs = 1;
    t->base = base;
    t->verify = a->tls_verify;
    evutil_make_socket_nonblocking(plain_fd);
    t->plain = bufferevent_socket_new(base, plain_fd, BEV_OPT_CLOSE_ON_FREE);
    if (!t->plain) {
        close(plain_fd);
        snprintf(err, n, "out of memory");
        goto fail;
    }
    if (!(ssl = ssl_new(a, err, n)))
        goto fail;
    /* callbacks deferred: none runs inside the connect call below */
    t->tls = bufferevent_openssl_socket_new(base, -1, ssl,
                                            BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE |
                                                BEV_OPT_DEFER_CALLBACKS);
    if (!t->tls) {
        SSL_free(ssl);
        snprintf(err, n, "out of memory");
        goto fail;
    }
    bufferevent_setcb(t->tls, read_cb, write_cb, tls_event_cb, t);
    bufferevent_setcb(t->plain, read_cb, write_cb, plain_event_cb, t);
    bufferevent_enable(t->tls, EV_READ | EV_WRITE);
    bufferevent_enable(t->plain, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect_hostname(t->tls, NULL, AF_UNSPEC, a->host,
                                            a->port) != 0) {
        int dns = bufferevent_socket_get_dns_error(t->tls);
        snprintf(err, n, "%s", dns ? evutil_gai_strerror(dns) : strerror(errno));
        goto fail;
    }
    if ((fd = bufferevent_getfd(t->tls)) >= 0) {
        /* as hiredis does for a plain connection: no Nagle delay on small
         * commands (with it a drain over TLS ran 15 times slower), and a
         * dead peer is found out within a minute or so when idle */
        int on = 1, idle = 15;
        evutil_make_socket_closeonexec(fd);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    }
    return t;
fail:
    finish(t);
    pthread_mutex_destroy(&t->mu);
    free(t);
    return NULL;
}

static void bridge_free(tq_tls *t)
{
    finish(t);
    if (t->timer)
        event_free(t->timer);
    if (t->own_base)
        event_base_free(t->base);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void tq_tls_reason(tq_tls *t, char *buf, size_t n)
{
    pthread_mutex_lock(&t->mu);
    snprintf(buf, n, "%s", t->reason);
    pthread_mutex_unlock(&t->mu);
}

/* The reasons above that no retry will cure: a certificate refused
 * either way, a file that cannot be used, a TLS alert. */
int tq_tls_permanent(const char *reason)
{
    static const char *const words[] = {
        "certificate verify failed", "TLS error: ", "cannot read the TLS ",
        "cannot load the TLS ", "cannot use the TLS ", "want a client certificate",
        "cannot set up TLS for the name"};

    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(reason, words[i]))
            return 1;
    return 0;
}

/* ================================================================ the async way */

/* A hiredis async context connected to a fresh local socket whose other
 * end is returned in *fd: listen on a path in a new 0700 directory, let
 * hiredis connect (a local connect completes at once), accept, and remove
 * the path and the directory. */
static redisAsyncContext *async_pair(int *fd, char *err, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256], path[300];
    struct sockaddr_un sa;
    redisAsyncContext *ac = NULL;
    int lfd = -1;

    *fd = -1;
    snprintf(dir, sizeof dir, "%s/tq-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(err, n, "cannot make a directory for the TLS bridge: %s",
                 strerror(errno));
        return NULL;
    }
    snprintf(path, sizeof path, "%s/s", dir);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, n, "TMPDIR is too long for the TLS bridge's socket");
        goto out;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(lfd, 1) != 0) {
        snprintf(err, n, "cannot set up the TLS bridge: %s", strerror(errno));
        goto out;
    }
    ac = redisAsyncConnectUnix(path);
    if (!ac || ac->err) {
        snprintf(err, n, "cannot set up the TLS bridge: %s",
                 ac ? ac->errstr : "out of memory");
        goto out;
    }
    *fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (*fd < 0)
        snprintf(err, n, "cannot set up the TLS bridge: %s", strerror(errno));
out:
    if (lfd >= 0) {
        close(lfd);
        unlink(path);
    }
    rmdir(dir);
    if (*fd < 0 && ac) {
        redisAsyncFree(ac);
        ac = NULL;
    }
    return ac;
}

redisAsyncContext *tq_tls_async_connect(struct event_base *base,
                                        const tq_redis_addr *a,
                                        tq_tls_fail_fn *fn, void *ud,
                                        tq_tls **out, char *err,
                                        size_t errlen)
{
    redisAsyncContext *ac;
    tq_tls *t;
    int fd;

    *out = NULL;
    tq_sigpipe_ignore(); /* OpenSSL writes with write(2): EPIPE, not a kill */
    if (!(ac = async_pair(&fd, err, errlen)))
        return NULL;
    if (!(t = bridge_new(base, a, fd, err, errlen))) {
        redisAsyncFree(ac);
        return NULL;
    }
    t->fn = fn;
    t->ud = ud;
    *out = t;
    return ac;
}

void tq_tls_free(tq_tls *t)
{
    if (t)
        bridge_free(t);
}

/* ================================================================ the blocking way */

static void release(tq_tls *t)
{
    int last;

    pthread_mutex_lock(&t->mu);
    last = --t->refs == 0;
    pthread_mutex_unlock(&t->mu);
    if (last)
        bridge_free(t);
}

void tq_tls_release(tq_tls *t)
{
    if (t)
        release(t);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_tls *t = arg;

    t->timed_out = 1;
    event_base_loopbreak(t->base);
}

/* Pumps still running. A program that exits right after redisFree would
 * otherwise leave its pump half way through freeing the bridge (a leak
 * to LeakSanitizer, a TLS connection closed by the kernel rather than by
 * us): at exit we wait a moment for the pumps whose hiredis end closed. */
static pthread_mutex_t pumps_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pumps_cv = PTHREAD_COND_INITIALIZER;
static int pumps_live, pumps_atexit;

#define PUMPS_EXIT_WAIT_MS 100

static void pumps_wait(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += PUMPS_EXIT_WAIT_MS * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&pumps_mu);
    while (pumps_live > 0)
        if (pthread_cond_timedwait(&pumps_cv, &pumps_mu, &ts) != 0)
            break;
    pthread_mutex_unlock(&pumps_mu);
}

/* The pump: runs the bridge until both sides are closed (finish frees
 * the bufferevents; the loop then has nothing left). */
static void *pump(void *arg)
{
    tq_tls *t = arg;

    event_base_dispatch(t->base);
    release(t);
    /* OpenSSL's per-thread state (its error queue), now rather than from
     * a thread-exit destructor that an exiting process may not wait for */
    OPENSSL_thread_stop();
    pthread_mutex_lock(&pumps_mu);
    pumps_live--;
    pthread_cond_broadcast(&pumps_cv);
    pthread_mutex_unlock(&pumps_mu);
    return NULL;
}

redisContext *tq_tls_connect(const tq_redis_addr *a, int timeout_ms,
                             tq_tls **out, char *err, size_t errlen)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    struct event_base *base;
    redisContext *c = NULL;
    pthread_attr_t attr;
    pthread_t th;
    tq_tls *t;
    int sp[2];

    *out = NULL;
    tq_sigpipe_ignore(); /* OpenSSL writes with write(2): EPIPE, not a kill */
    if (!(base = event_base_new())) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
        snprintf(err, errlen, "cannot set up the TLS bridge: %s", strerror(errno));
        event_base_free(base);
        return NULL;
    }
    if (!(t = bridge_new(base, a, sp[1], err, errlen))) {
        close(sp[0]);
        event_base_free(base);
        return NULL;
    }
    t->own_base = 1;
    if (!(t->timer = evtimer_new(base, deadline_cb, t))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    evtimer_add(t->timer, &tv);
    t->waiting = 1;
    while (!t->connected && !t->ended && !t->timed_out && t->tls)
        if (event_base_loop(base, EVLOOP_ONCE) < 0)
            break;
    t->waiting = 0;
    evtimer_del(t->timer);
    if (!t->connected || t->ended) {
        if (t->ended)
            tq_tls_reason(t, err, errlen);
        else
            snprintf(err, errlen, "no TLS handshake within %d ms (is it a TLS port?)", timeout_ms);
        goto fail;
    }
    if (!(c = redisConnectFd(sp[0]))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    sp[0] = -1; /* c's now: redisFree closes it */
    t->refs = 2;
    pthread_mutex_lock(&pumps_mu);
    if (!pumps_atexit)
        pumps_atexit = atexit(pumps_wait) == 0;
    pumps_live++;
    pthread_mutex_unlock(&pumps_mu);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, pump, t) != 0) {
        pthread_attr_destroy(&attr);
        pthread_mutex_lock(&pumps_mu);
        pumps_live--;
        pthread_mutex_unlock(&pumps_mu);
        t->refs = 1;
        snprintf(err, errlen, "cannot start the TLS bridge's thread");
        redisFree(c);
        c = NULL;
        goto fail;
    }
    pthread_attr_destroy(&attr);
    *out = t;
    return c;
fail:
    if (sp[0] >= 0)
        close(sp[0]);
    bridge_free(t);
    return NULL;
}
