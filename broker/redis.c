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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
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

static int parse_unix(const char *rest, tq_redis_addr *a, tq_perr *e)
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
    if (q) {
        long db;
        if (strncmp(q, "?db=", 4) || parse_num(q + 4, strlen(q + 4), 0, 1 << 20, &db)) {
            char qq[72];
            snprintf(e->text, sizeof e->text,
                     "redis URL: '%s' is not understood (only ?db=N)",
                     tq_quote(qq, sizeof qq, q, strlen(q)));
            return TQ_EINVAL;
        }
        a->db = (int)db;
    }
    return 0;
}

int tq_redis_url_parse(const char *url, tq_redis_addr *a, tq_perr *e)
{
    char uq[72];

    memset(a, 0, sizeof *a);
    a->port = 6379;
    if (!url || !*url)
        url = "redis://127.0.0.1:6379/0";
    if (!strncmp(url, "unix://", 7))
        return parse_unix(url + 7, a, e);
    if (strncmp(url, "redis://", 8)) {
        snprintf(e->text, sizeof e->text,
                 "redis URL '%s' must start with redis:// or unix://",
                 url_quote(uq, sizeof uq, url));
        return TQ_EINVAL;
    }
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    const char *slash;
    if (at) {
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
    slash = strchr(p, '/');
    size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hostport);
    size_t hostlen = colon ? (size_t)(colon - p) : hostport;
    if (hostlen == 0) {
        snprintf(e->text, sizeof e->text, "redis URL '%s' has no host",
                 url_quote(uq, sizeof uq, url));
        return TQ_EINVAL;
    }
    if (copy_part(a->host, sizeof a->host, p, hostlen, "host", e))
        return TQ_EINVAL;
    /* a host name or an IP address: letters, digits, '.', '-', '_' (and
     * ':' '[' ']' of IPv6); anything else is a typo or worse */
    for (const char *h = a->host; *h; h++)
        if (!(isalnum((unsigned char)*h) || strchr(".-_:[]", *h))) {
            snprintf(e->text, sizeof e->text,
                     "redis URL '%s': the host has a character a host name cannot have",
                     url_quote(uq, sizeof uq, url));
            return TQ_EINVAL;
        }
    if (colon) {
        long port;
        if (parse_num(colon + 1, hostport - hostlen - 1, 1, 65535, &port)) {
            snprintf(e->text, sizeof e->text,
                     "redis URL '%s': the port is not a number from 1 to 65535",
                     url_quote(uq, sizeof uq, url));
            return TQ_EINVAL;
        }
        a->port = (int)port;
    }
    if (slash && slash[1]) {
        long db;
        if (parse_num(slash + 1, strlen(slash + 1), 0, 1 << 20, &db)) {
            snprintf(e->text, sizeof e->text,
                     "redis URL '%s': the database is not a number",
                     url_quote(uq, sizeof uq, url));
            return TQ_EINVAL;
        }
        a->db = (int)db;
    }
    return 0;
}

void tq_redis_addr_text(const tq_redis_addr *a, char *buf, size_t n)
{
    if (a->path[0])
        snprintf(buf, n, "unix:%s", a->path);
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

redisContext *tq_redis_connect(const tq_redis_addr *a, int timeout_ms,
                               char *err, size_t errlen)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    char name[300];
    redisContext *c;

    tq_redis_addr_text(a, name, sizeof name);
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
