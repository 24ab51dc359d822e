/* sentinel.c -- the master of a redis+sentinel:// address, and following it.
 *
 * The one idea: a sentinel address is resolved again before every
 * connection attempt, so following a failover is nothing but failing: the
 * owner's connections go down (the master died, answered READONLY, or a
 * sentinel published +switch-master), and the next attempt asks the
 * sentinels where the master is now and checks with ROLE that it is one.
 *
 * The resolution is blocking, each step (a connect, a reply) bounded by a
 * short timeout. In the link's resolve hook that blocks the owner's loop
 * for a moment, which is acceptable: it runs only while the link is down
 * (nothing can be sent or reported then anyway; running jobs are child
 * processes or keep their own time), and it is bounded by (sentinels + 1)
 * x 2 steps of TQ_SENTINEL_STEP_MS, a fraction of a second on a healthy
 * network, with the link's backoff between attempts.
 *
 * The watch is a tq_link of its own (one subscriber connection, the
 * keepalive and the watchdog for free), pointed in turn at each sentinel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/link.h"
#include "broker/sentinel.h"

/* ================================================================ resolving */

/* The address of sentinel i as a connection reaches it: its host and port,
 * the sentinel credentials, database 0, the transport of a. */
static void sentinel_addr(const tq_redis_addr *a, int i, tq_redis_addr *s)
{
    *s = *a;
    s->nsentinels = 0;
    s->master[0] = '\0';
    snprintf(s->host, sizeof s->host, "%s", a->sentinels[i].host);
    s->port = a->sentinels[i].port;
    snprintf(s->user, sizeof s->user, "%s", a->sentinel_user);
    snprintf(s->pass, sizeof s->pass, "%s", a->sentinel_pass);
    s->db = 0;
}

static void set_timeout(redisContext *c, int ms)
{
    redisSetTimeout(c, (struct timeval){ms / 1000, (ms % 1000) * 1000});
}

/* SENTINEL MASTER's flags hold failover_in_progress while this sentinel
 * leads a failover: the replica may be promoted already while the old
 * master still takes writes (it is turned into a replica only after the
 * switch), so nothing is written until the switch is announced. */
static int failing_over(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            !strcmp(r->element[i]->str, "flags") &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return strstr(r->element[i + 1]->str, "failover_in_progress") != NULL;
    return 0;
}

/* Asks sentinel i for the master: 0 with host/port in d, -1 with err, or
 * -2 with err when a failover is under way (no other sentinel is asked). */
static int ask_sentinel(const tq_redis_addr *a, int i, int step_ms,
                        tq_redis_addr *d, char *err, size_t errlen)
{
    tq_redis_addr s;
    redisContext *c;
    redisReply *r;
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", a->master};
    char e[300];
    int rv = -1;

    sentinel_addr(a, i, &s);
    if (!(c = tq_redis_connect(&s, step_ms, e, sizeof e))) {
        snprintf(err, errlen, "sentinel %.100s:%d: %.250s", s.host, s.port, e);
        return -1;
    }
    set_timeout(c, step_ms);
    r = redisCommandArgv(c, 3, argv, NULL);
    if (r && r->type == REDIS_REPLY_ARRAY) {
        const char *mv[3] = {"SENTINEL", "MASTER", a->master};
        redisReply *m = redisCommandArgv(c, 3, mv, NULL);
        if (failing_over(m)) {
            snprintf(err, errlen, "sentinel %.100s:%d leads a failover of '%.128s'",
                     s.host, s.port, a->master);
            rv = -2;
        }
        if (m)
            freeReplyObject(m);
        if (rv == -2) {
            freeReplyObject(r);
            redisFree(c);
            return rv;
        }
    }
    if (!r)
        snprintf(err, errlen, "sentinel %.100s:%d: %s", s.host, s.port,
                 c->errstr[0] ? c->errstr : "no reply");
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(err, errlen, "sentinel %.100s:%d refused SENTINEL: %.200s", s.host,
                 s.port, r->str);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
             r->element[0]->type != REDIS_REPLY_STRING ||
             r->element[1]->type != REDIS_REPLY_STRING)
        snprintf(err, errlen, "sentinel %.100s:%d does not know a master named '%.128s'",
                 s.host, s.port, a->master);
    else {
        long port = strtol(r->element[1]->str, NULL, 10);
        if (port < 1 || port > 65535 ||
            strlen(r->element[0]->str) >= sizeof d->host) {
            snprintf(err, errlen, "sentinel %.100s:%d named a master that is no address",
                     s.host, s.port);
        } else {
            snprintf(d->host, sizeof d->host, "%s", r->element[0]->str);
            d->port = (int)port;
            rv = 0;
        }
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return rv;
}

/* ROLE's first element is "master": 0, else -1 with err. */
static int check_role(redisContext *c, const tq_redis_addr *d, char *err,
                      size_t errlen)
{
    redisReply *r = redisCommand(c, "ROLE");
    int rv = -1;

    if (!r)
        snprintf(err, errlen, "the master at %.100s:%d: %.100s", d->host, d->port,
                 c->errstr[0] ? c->errstr : "no reply to ROLE");
    else if (r->type == REDIS_REPLY_ERROR)
        tq_redis_refused(err, errlen, "ROLE", r->str);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
             r->element[0]->type != REDIS_REPLY_STRING)
        snprintf(err, errlen, "%.100s:%d answered ROLE with something else than a role",
                 d->host, d->port);
    else if (strcmp(r->element[0]->str, "master"))
        snprintf(err, errlen,
                 "the sentinels name %.100s:%d as master '%.128s' but it is a %.20s "
                 "(a failover under way?)", d->host, d->port, d->master,
                 r->element[0]->str);
    else
        rv = 0;
    if (r)
        freeReplyObject(r);
    return rv;
}

redisContext *tq_sentinel_connect(const tq_redis_addr *a, int step_ms,
                                  tq_redis_addr *out, char *err, size_t errlen)
{
    tq_redis_addr d = *a;
    char last[1024] = "";
    redisContext *c;

    if (!a->nsentinels) {
        snprintf(err, errlen, "not a sentinel address");
        return NULL;
    }
    d.nsentinels = 0;
    for (int i = 0; i < a->nsentinels; i++) {
        int rv = ask_sentinel(a, i, step_ms, &d, last, sizeof last);
        if (rv == -2)
            break;
        if (rv)
            continue;
        /* a sentinel cut off from the others may name an old master:
         * the next one is asked too */
        if (!(c = tq_redis_connect(&d, step_ms, last, sizeof last)))
            continue;
        set_timeout(c, step_ms);
        if (check_role(c, &d, last, sizeof last)) {
            redisFree(c);
            continue;
        }
        set_timeout(c, 5000); /* as tq_redis_connect leaves it */
        if (out)
            *out = d;
        return c;
    }
    snprintf(err, errlen, "cannot find master '%.128s' through %d sentinel%s: %.300s",
             a->master, a->nsentinels, a->nsentinels == 1 ? "" : "s", last);
    return NULL;
}

int tq_sentinel_resolve(const tq_redis_addr *a, int step_ms,
                        tq_redis_addr *out, char *err, size_t errlen)
{
    redisContext *c = tq_sentinel_connect(a, step_ms, out, err, errlen);

    if (!c)
        return -1;
    redisFree(c);
    return 0;
}

int tq_sentinel_is_readonly(const char *err)
{
    return err && !strncmp(err, "READONLY", 8);
}

/* ================================================================ watching */

struct tq_sentinel_watch {
    tq_redis_addr addr;       /* the sentinel URL's */
    tq_link *link;            /* one subscriber, on a sentinel */
    tq_link *target;          /* the owner's set, failed on a switch */
    int next;                 /* the sentinel of the next attempt */
};

static int watch_resolve(tq_link *l, tq_redis_addr *out, char *err,
                         size_t errlen, void *ud)
{
    tq_sentinel_watch *w = ud;

    (void)l; (void)err; (void)errlen;
    sentinel_addr(&w->addr, w->next, out);
    w->next = (w->next + 1) % w->addr.nsentinels;
    return 0;
}

/* "+switch-master NAME OLDIP OLDPORT NEWIP NEWPORT": the target fails when
 * it is connected elsewhere than the new master. */
static void switch_msg(tq_link *l, const char *channel, const char *msg,
                       size_t len, void *ud)
{
    tq_sentinel_watch *w = ud;
    char name[128], oh[256], nh[256], now[300], cur[300], why[512];
    int op, np;

    (void)l; (void)channel; (void)len;
    if (!msg || sscanf(msg, "%127s %255s %d %255s %d", name, oh, &op, nh, &np) != 5 ||
        strcmp(name, w->addr.master))
        return;
    snprintf(now, sizeof now, "%s:%d", nh, np);
    tq_link_addr_text(w->target, cur, sizeof cur);
    if (!strcmp(now, cur) || !tq_link_is_up(w->target))
        return; /* already there, or resolving anyway */
    snprintf(why, sizeof why,
             "a sentinel announced the master '%.100s' moved to %.280s (+switch-master)",
             name, now);
    tq_link_fail(w->target, why, 0);
}

tq_sentinel_watch *tq_sentinel_watch_new(struct event_base *base,
                                         const tq_redis_addr *a,
                                         tq_link *target)
{
    tq_link_conf conf = {
        .nconns = 1,
        .kinds = {TQ_LINK_SUB},
        .names = {"sentinel"},
        .keepalive_channel = "tq:sentinel-watch",
    };
    tq_link_hooks hooks = {.resolve = watch_resolve};
    tq_redis_addr s;
    tq_sentinel_watch *w = calloc(1, sizeof *w);

    if (!w || !a->nsentinels)
        goto fail;
    w->addr = *a;
    w->target = target;
    hooks.ud = w;
    sentinel_addr(a, 0, &s);
    if (!(w->link = tq_link_new(base, &s, &conf, &hooks)) ||
        tq_link_subscribe(w->link, 0, "+switch-master", switch_msg, w))
        goto fail;
    return w;
fail:
    tq_sentinel_watch_free(w);
    return NULL;
}

void tq_sentinel_watch_start(tq_sentinel_watch *w)
{
    if (w)
        tq_link_start(w->link);
}

void tq_sentinel_watch_stop(tq_sentinel_watch *w)
{
    if (w)
        tq_link_stop(w->link);
}

void tq_sentinel_watch_free(tq_sentinel_watch *w)
{
    if (!w)
        return;
    tq_link_free(w->link);
    free(w);
}
