/* redis.c -- where the broker is and how to reach it.
 *
 * Parses the broker URL of SPEC §4 and opens connections, blocking or async,
 * that are authenticated and on the right database before the caller's first
 * command: AUTH and SELECT go first on the wire, so nothing of the caller's
 * can run against the wrong database.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "broker/sentinel.h"
#include "broker/tls.h"
#include "proto/proto_private.h"

/* ---------------------------------------------------------------- URLs */

static int copy_part(char *dst, size_t cap, const char *s, size_t n,
                     const char *what, tq_perr *e)
{
    if (n >= cap) {
        snprintf(e->text, sizeof e->text, "redis URL: %s is too long", what);
        return TQ_EINVAL;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* The URL as a message may quote it: the user:password part (up to the
 * last '@') becomes "***", so a secret never reaches a terminal or a log,
 * and control characters are escaped (tq_quote). Returns buf. */
static const char *url_quote(char *buf, size_t size, const char *url)
{
    char tmp[512];
    const char *at = strrchr(url, '@'), *start = strstr(url, "://");

    start = start && (!at || start < at) ? start + 3 : url;
    if (at)
        snprintf(tmp, sizeof tmp, "%.*s***%s", (int)(start - url), url, at);
    else
        snprintf(tmp, sizeof tmp, "%s", url);
    return tq_quote(buf, size, tmp, strlen(tmp));
}

static int parse_num(const char *s, size_t n, long lo, long hi, long *out)
{
    char buf[16];
    char *end;
    if (n == 0 || n >= sizeof buf || s[0] < '0' || s[0] > '9')
        return -1; /* strtol would skip spaces and newlines, and take a sign */
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A host name or an IP address: letters, digits, '.', '-', '_' (and ':' '['
 * ']' of IPv6); anything else is a typo or worse. */
static int host_ok(const char *h)
{
    if (!*h)
        return 0;
    for (; *h; h++)
        if (!(isalnum((unsigned char)*h) || strchr(".-_:[]", *h)))
            return 0;
    return 1;
}

/* HOST[:PORT] of n bytes at s into host/port (port left as it is when not
 * given). 0, or -1 with e filled. */
static int parse_hostport(const char *s, size_t n, char *host, size_t hcap,
                          int *port, const char *url, tq_perr *e)
{
    char uq[72];
    const char *colon = memchr(s, ':', n);
    size_t hostlen = colon ? (size_t)(colon - s) : n;

    if (hostlen == 0) {
        snprintf(e->text, sizeof e->text, "redis URL '%s' has no host",
                 url_quote(uq, sizeof uq, url));
        return -1;
    }
    if (copy_part(host, hcap, s, hostlen, "host", e))
        return -1;
    if (!host_ok(host)) {
        snprintf(e->text, sizeof e->text,
                 "redis URL '%s': the host has a character a host name cannot have",
                 url_quote(uq, sizeof uq, url));
        return -1;
    }
    if (colon) {
        long v;
        if (parse_num(colon + 1, n - hostlen - 1, 1, 65535, &v)) {
            snprintf(e->text, sizeof e->text,
                     "redis URL '%s': the port is not a number from 1 to 65535",
                     url_quote(uq, sizeof uq, url));
            return -1;
        }
        *port = (int)v;
    }
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A query value, percent-decoded into dst. 0, or -1 (too long, a bad
 * escape, or a NUL). */
static int decode_value(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return -1; /* not an escape, or a NUL */
            c = hi * 16 + lo;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return 0;
}

/* The query string q (after '?'): key=value pairs joined by '&', each key
 * known and allowed by the URL's scheme. */
static int parse_query(const char *q, tq_redis_addr *a, int is_unix,
                       const char *url, tq_perr *e)
{
    static const struct {
        const char *key;
        int kind;            /* 0 unix, 1 tls, 2 sentinel */
        size_t off, cap;
    } keys[] = {
        {"ca", 1, offsetof(tq_redis_addr, tls_ca), sizeof ((tq_redis_addr *)0)->tls_ca},
        {"cert", 1, offsetof(tq_redis_addr, tls_cert), sizeof ((tq_redis_addr *)0)->tls_cert},
        {"key", 1, offsetof(tq_redis_addr, tls_key), sizeof ((tq_redis_addr *)0)->tls_key},
        {"sni", 1, offsetof(tq_redis_addr, tls_sni), sizeof ((tq_redis_addr *)0)->tls_sni},
        {"sentinel_user", 2, offsetof(tq_redis_addr, sentinel_user),
         sizeof ((tq_redis_addr *)0)->sentinel_user},
        {"sentinel_pass", 2, offsetof(tq_redis_addr, sentinel_pass),
         sizeof ((tq_redis_addr *)0)->sentinel_pass},
    };
    char uq[72], kq[40];

    while (*q) {
        const char *amp = strchr(q, '&'), *eq;
        size_t n = amp ? (size_t)(amp - q) : strlen(q), klen;
        int found = 0;

        eq = memchr(q, '=', n);
        klen = eq ? (size_t)(eq - q) : n;
        tq_quote(kq, sizeof kq, q, klen);
        if (!eq) {
            snprintf(e->text, sizeof e->text,
                     "redis URL '%s': '%s' in the query has no '=value'",
                     url_quote(uq, sizeof uq, url), kq);
            return -1;
        }
        if ((klen == 2 && !memcmp(q, "db", 2)) ||
            (klen == 6 && !memcmp(q, "verify", 6))) {
            long v;
            int is_db = q[0] == 'd';
            if ((is_db && !is_unix) || (!is_db && !a->tls)) {
                snprintf(e->text, sizeof e->text,
                         "redis URL '%s': ?%s= is for %s URLs",
                         url_quote(uq, sizeof uq, url), kq,
                         is_db ? "unix://" : "rediss://");
                return -1;
            }
            if (parse_num(eq + 1, n - klen - 1, 0, is_db ? 1 << 20 : 1, &v)) {
                snprintf(e->text, sizeof e->text,
                         "redis URL '%s': ?%s= wants %s",
                         url_quote(uq, sizeof uq, url), kq,
                         is_db ? "a database number" : "0 or 1");
                return -1;
            }
            if (is_db)
                a->db = (int)v;
            else
                a->tls_verify = (int)v;
            found = 1;
        }
        for (size_t i = 0; !found && i < sizeof keys / sizeof keys[0]; i++) {
            if (strlen(keys[i].key) != klen || memcmp(keys[i].key, q, klen))
                continue;
            found = 1;
            if ((keys[i].kind == 1 && !a->tls) ||
                (keys[i].kind == 2 && !a->nsentinels)) {
                snprintf(e->text, sizeof e->text,
                         "redis URL '%s': ?%s= is for %s URLs",
                         url_quote(uq, sizeof uq, url), kq,
                         keys[i].kind == 1 ? "rediss:// (TLS)" : "sentinel");
                return -1;
            }
            if (decode_value((char *)a + keys[i].off, keys[i].cap, eq + 1,
                             n - klen - 1)) {
                snprintf(e->text, sizeof e->text,
                         "redis URL '%s': the value of ?%s= is too long or badly escaped",
                         url_quote(uq, sizeof uq, url), kq);
                return -1;
            }
        }
        if (!found) {
            snprintf(e->text, sizeof e->text,
                     "redis URL '%s': '%s' is not a parameter tq knows "
                     "(ca cert key sni verify sentinel_user sentinel_pass db)",
                     url_quote(uq, sizeof uq, url), kq);
            return -1;
        }
        q += n + (amp ? 1 : 0);
    }
    return 0;
}

static int parse_unix(const char *rest, tq_redis_addr *a, const char *url,
                      tq_perr *e)
{
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n == 0 || rest[0] != '/') {
        snprintf(e->text, sizeof e->text,
                 "redis URL: unix:// needs an absolute socket path (unix:///path/to.sock)");
        return TQ_EINVAL;
    }
    if (copy_part(a->path, sizeof a->path, rest, n, "socket path", e))
        return TQ_EINVAL;
    if (q && parse_query(q + 1, a, 1, url, e))
        return TQ_EINVAL;
    return 0;
}

/* H:P[,H:P...] of a sentinel URL. */
static int parse_sentinels(const char *s, size_t n, tq_redis_addr *a,
                           const char *url, tq_perr *e)
{
    char uq[72];

    while (n > 0) {
        const char *comma = memchr(s, ',', n);
        size_t len = comma ? (size_t)(comma - s) : n;
        if (a->nsentinels == TQ_SENTINELS_MAX) {
            snprintf(e->text, sizeof e->text,
                     "redis URL '%s': more than %d sentinels",
                     url_quote(uq, sizeof uq, url), TQ_SENTINELS_MAX);
            return -1;
        }
        a->sentinels[a->nsentinels].port = 26379;
        if (parse_hostport(s, len, a->sentinels[a->nsentinels].host,
                           sizeof a->sentinels[0].host,
                           &a->sentinels[a->nsentinels].port, url, e))
            return -1;
        a->nsentinels++;
        if (!comma)
            break;
        s = comma + 1;
        n -= len + 1;
        if (n == 0) {
            snprintf(e->text, sizeof e->text,
                     "redis URL '%s' ends its sentinel list with a ','",
                     url_quote(uq, sizeof uq, url));
            return -1;
        }
    }
    return 0;
}

int tq_redis_url_parse_any(const char *url, tq_redis_addr *a, tq_perr *e)
{
    static const struct {
        const char *scheme;
        int tls, sentinel;
    } schemes[] = {{"redis://", 0, 0},
                   {"rediss://", 1, 0},
                   {"redis+sentinel://", 0, 1},
                   {"rediss+sentinel://", 1, 1}};
    char uq[72];
    const char *p = NULL, *at, *q, *slash, *end;
    int sentinel = 0;

    memset(a, 0, sizeof *a);
    a->port = 6379;
    a->tls_verify = 1;
    if (!url || !*url)
        url = "redis://127.0.0.1:6379/0";
    if (!strncmp(url, "unix://", 7))
        return parse_unix(url + 7, a, url, e);
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (!strncmp(url, schemes[i].scheme, strlen(schemes[i].scheme))) {
            p = url + strlen(schemes[i].scheme);
            a->tls = schemes[i].tls;
            sentinel = schemes[i].sentinel;
        }
    if (!p) {
        snprintf(e->text, sizeof e->text,
                 "redis URL '%s' must start with redis://, rediss://, "
                 "redis+sentinel://, rediss+sentinel:// or unix://",
                 url_quote(uq, sizeof uq, url));
        return TQ_EINVAL;
    }
    if ((at = strrchr(p, '@'))) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (copy_part(a->user, sizeof a->user, p, (size_t)(colon - p), "user", e) ||
                copy_part(a->pass, sizeof a->pass, colon + 1, (size_t)(at - colon - 1),
                          "password", e))
                return TQ_EINVAL;
        } else if (copy_part(a->pass, sizeof a->pass, p, (size_t)(at - p), "password", e)) {
            return TQ_EINVAL;
        }
        p = at + 1;
    }
    q = strchr(p, '?');
    end = q ? q : p + strlen(p);
    slash = memchr(p, '/', (size_t)(end - p));
    if (sentinel) {
        const char *m, *mend;
        if (parse_sentinels(p, (size_t)((slash ? slash : end) - p), a, url, e))
            return TQ_EINVAL;
        m = slash ? slash + 1 : end;
        mend = memchr(m, '/', (size_t)(end - m));
        if (!mend)
            mend = end;
        if (mend == m) {
            snprintf(e->text, sizeof e->text,
                     "redis URL '%s' names no master (.../MASTER[/DB])",
                     url_quote(uq, sizeof uq, url));
            return TQ_EINVAL;
        }
        if (copy_part(a->master, sizeof a->master, m, (size_t)(mend - m),
                      "master name", e))
            return TQ_EINVAL;
        slash = mend < end ? mend : NULL;
        a->host[0] = '\0';
        a->port = 0;
    } else if (parse_hostport(p, (size_t)((slash ? slash : end) - p), a->host,
                              sizeof a->host, &a->port, url, e)) {
        return TQ_EINVAL;
    }
    if (slash && slash + 1 < end) {
        long db;
        if (parse_num(slash + 1, (size_t)(end - slash - 1), 0, 1 << 20, &db)) {
            snprintf(e->text, sizeof e->text,
                     "redis URL '%s': the database is not a number",
                     url_quote(uq, sizeof uq, url));
            return TQ_EINVAL;
        }
        a->db = (int)db;
    }
    if (q && parse_query(q + 1, a, 0, url, e))
        return TQ_EINVAL;
    if ((a->tls_cert[0] != 0) != (a->tls_key[0] != 0)) {
        snprintf(e->text, sizeof e->text,
                 "redis URL '%s': ?cert= and ?key= go together",
                 url_quote(uq, sizeof uq, url));
        return TQ_EINVAL;
    }
    return 0;
}

int tq_redis_url_parse(const char *url, tq_redis_addr *a, tq_perr *e)
{
    return tq_redis_url_parse_any(url, a, e);
}

void tq_redis_addr_text(const tq_redis_addr *a, char *buf, size_t n)
{
    if (a->path[0])
        snprintf(buf, n, "unix:%s", a->path);
    else if (!a->host[0] && a->nsentinels) /* not resolved yet */
        snprintf(buf, n, "master '%s' of %d sentinel%s", a->master, a->nsentinels,
                 a->nsentinels == 1 ? "" : "s");
    else
        snprintf(buf, n, "%s:%d", a->host, a->port);
}

/* ---------------------------------------------------------------- the set-up */

int tq_redis_setup_init(tq_redis_setup *s, const tq_redis_addr *a)
{
    memset(s, 0, sizeof *s);
    if (a->pass[0]) {
        tq_redis_setup_cmd *c = &s->cmd[s->n++];
        c->argv[c->argc++] = "AUTH";
        if (a->user[0])
            c->argv[c->argc++] = a->user;
        c->argv[c->argc++] = a->pass;
        snprintf(c->what, sizeof c->what, "AUTH");
    }
    if (a->db) {
        tq_redis_setup_cmd *c = &s->cmd[s->n++];
        snprintf(s->db, sizeof s->db, "%d", a->db);
        c->argv[c->argc++] = "SELECT";
        c->argv[c->argc++] = s->db;
        snprintf(c->what, sizeof c->what, "SELECT %d", a->db);
    }
    return s->n;
}

void tq_redis_refused(char *buf, size_t n, const char *what, const char *text)
{
    snprintf(buf, n, "Redis refused %s: %s", what, text);
}

/* ---------------------------------------------------------------- blocking */

/* The set-up commands, each reply checked before the next goes. Returns 0
 * or fills err. */
static int handshake(redisContext *c, const tq_redis_addr *a, char *err, size_t errlen)
{
    tq_redis_setup s;

    tq_redis_setup_init(&s, a);
    for (int i = 0; i < s.n; i++) {
        redisReply *r = redisCommandArgv(c, s.cmd[i].argc, s.cmd[i].argv, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            tq_redis_refused(err, errlen, s.cmd[i].what, r ? r->str : c->errstr);
            if (r)
                freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}

/* rediss://: the handshake, then AUTH and SELECT, then a PING: a server
 * that wants a client certificate says so only after the handshake (TLS
 * 1.3), so the connect is not done before Redis answered through it. A
 * failure names the TLS side's reason when it has one. */
static redisContext *connect_tls(const tq_redis_addr *a, int timeout_ms,
                                 const char *name, char *err, size_t errlen)
{
    char why[256], setup_err[300] = "";
    redisReply *r = NULL;
    redisContext *c;
    tq_tls *t;

    c = tq_tls_connect(a, timeout_ms, &t, why, sizeof why);
    if (!c) {
        snprintf(err, errlen, "cannot reach Redis at %s over TLS: %s", name, why);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){5, 0});
    if (handshake(c, a, setup_err, sizeof setup_err) == 0) {
        r = redisCommand(c, "PING");
        if (r && r->type != REDIS_REPLY_ERROR) {
            freeReplyObject(r);
            tq_tls_release(t);
            return c;
        }
        if (r)
            tq_redis_refused(setup_err, sizeof setup_err, "PING", r->str);
        else
            snprintf(setup_err, sizeof setup_err, "%s", c->errstr);
        freeReplyObject(r);
    }
    tq_tls_reason(t, why, sizeof why);
    if (!c->err || !why[0] || !strcmp(why, "closed"))
        snprintf(err, errlen, "%s", setup_err); /* Redis said no */
    else
        snprintf(err, errlen, "cannot reach Redis at %s over TLS: %s", name, why);
    redisFree(c);
    tq_tls_release(t);
    return NULL;
}

redisContext *tq_redis_connect(const tq_redis_addr *a, int timeout_ms,
                               char *err, size_t errlen)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    char name[300];
    redisContext *c;

    if (a->nsentinels) /* the sentinels say where; each step is bounded */
        return tq_sentinel_connect(a, timeout_ms, NULL, err, errlen);
    tq_redis_addr_text(a, name, sizeof name);
    if (a->tls)
        return connect_tls(a, timeout_ms, name, err, errlen);
    if (a->path[0])
        c = redisConnectUnixWithTimeout(a->path, tv);
    else
        c = redisConnectWithTimeout(a->host, a->port, tv);
    if (!c) {
        snprintf(err, errlen, "cannot reach Redis at %s: out of memory", name);
        return NULL;
    }
    if (c->err) {
        snprintf(err, errlen, "cannot reach Redis at %s: %s", name, c->errstr);
        redisFree(c);
        return NULL;
    }
    /* Replies must not hang forever on a dead peer. */
    redisSetTimeout(c, (struct timeval){5, 0});
    if (!a->path[0])
        redisEnableKeepAlive(c);
    if (handshake(c, a, err, errlen)) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* ---------------------------------------------------------------- signals */

void tq_sigpipe_ignore(void)
{
    struct sigaction sa;

    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
        !(sa.sa_flags & SA_SIGINFO))
        signal(SIGPIPE, SIG_IGN);
}
