/* client.c -- the blocking client's connection: new/free, errors, and the
 * pipelines every call of libtq's blocking API is made of.
 *
 * A tq_client is one blocking hiredis connection, opened by tq_client_new
 * and again by the next call after it broke, plus the namespace's key names
 * and a cache of per-queue keys. Every call is a short pipeline on it: the
 * commands of a call are appended, then their replies read back in order,
 * so a call costs one round trip however many jobs it touches (submit-many
 * is the fast path of SPEC §8). Jobs move only through the broker's
 * scripts: the other files of the client (submit.c, status.c, wait.c,
 * group.c, admin.c, semaphore.c) build their KEYS and ARGV (request.c) and
 * read their replies through the pipelines here, so every call reports
 * errors the same way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "client/client_private.h"
#include "proto/proto_private.h"

#define PIPELINE_CHUNK 512    /* commands in flight per round trip */

/* ---------------------------------------------------------------- errors */

int tq_client_seterr(tq_client *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
    va_end(ap);
    tq_text_oneline(c->errstr); /* a Redis error text or a record's error: one line */
    c->err = err;
    return err;
}

void tq_client_clearerr(tq_client *c)
{
    c->err = 0;
    c->errstr[0] = '\0';
}

static void drop_connection(tq_client *c)
{
    if (c->rc)
        redisFree(c->rc);
    c->rc = NULL;
    c->scripts_loaded = 0;
}

int tq_client_connfail(tq_client *c, const char *what)
{
    char why[160];
    snprintf(why, sizeof why, "%s",
             c->rc && c->rc->errstr[0] ? c->rc->errstr : "connection lost");
    if (c->rc && c->rc->err == REDIS_ERR_OOM) {
        drop_connection(c);
        return tq_client_seterr(c, TQ_ENOMEM, "%s: out of memory", what);
    }
    drop_connection(c);
    return tq_client_seterr(c, TQ_EREDIS, "Redis connection failed during %s: %s",
                            what, why);
}

int tq_client_check(tq_client *c, const redisReply *r, const char *what)
{
    if (!r)
        return tq_client_connfail(c, what);
    if (r->type == REDIS_REPLY_ERROR) {
        /* a master demoted by a failover: the next call asks the sentinels */
        if (c->addr.nsentinels && r->str && !strncmp(r->str, "READONLY", 8)) {
            c->readonly = 1; /* dropped by the next connect */
        }
        return tq_client_seterr(c, TQ_EREDIS, "Redis answered %s with an error: %s",
                                what, r->str ? r->str : "?");
    }
    return 0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1)
        ;
}

/* The deadline of retries within a call: a Sentinel URL keeps trying until
 * connect_timeout_ms after the call began; others do not retry. */
static int64_t retry_deadline(const tq_client *c)
{
    return c->addr.nsentinels ? (int64_t)tq_mono_ms() + c->connect_timeout_ms : 0;
}

/* A call refused with READONLY as its first reply (nothing of it done)
 * may be made again while the deadline allows: the connection is dropped
 * and the next attempt asks the sentinels for the new master. */
static int retry_readonly(tq_client *c, int rv, int64_t deadline)
{
    if (!rv || !c->readonly || (int64_t)tq_mono_ms() >= deadline)
        return 0;
    drop_connection(c);
    return 1;
}

/* ---------------------------------------------------------------- the connection */

/* A Sentinel URL is tried again (the sentinels asked each time) with a
 * backoff of 100 ms doubling to 1 s until connect_timeout_ms ran out: a
 * failover takes a few seconds. A refusal (AUTH, ROLE) is final. */
int tq_client_connect(tq_client *c)
{
    char err[600];
    int64_t deadline, wait = 100;

    if (c->rc && !c->rc->err && !c->readonly)
        return 0;
    c->readonly = 0;
    drop_connection(c);
    deadline = retry_deadline(c);
    for (;;) {
        c->rc = tq_redis_connect(&c->addr, TQ_CLIENT_CONNECT_MS, err, sizeof err);
        if (c->rc)
            return 0;
        if (!c->addr.nsentinels || strstr(err, "Redis refused") ||
            (int64_t)tq_mono_ms() + wait >= deadline)
            break;
        sleep_ms(wait);
        wait = wait * 2 > 1000 ? 1000 : wait * 2;
    }
    if (c->addr.nsentinels && !strstr(err, "Redis refused"))
        return tq_client_seterr(c, TQ_EREDIS, "%s (tried for %lld ms)", err,
                                (long long)c->connect_timeout_ms);
    return tq_client_seterr(c, TQ_EREDIS, "%s", err);
}

tq_client *tq_client_new(const char *url, const char *ns)
{
    return tq_client_new_timeout(url, ns, 0);
}

tq_client *tq_client_new_timeout(const char *url, const char *ns,
                                 int64_t connect_timeout_ms)
{
    tq_client *c = calloc(1, sizeof *c);
    tq_perr e;

    if (!c)
        return NULL;
    c->connect_timeout_ms =
        connect_timeout_ms > 0 ? connect_timeout_ms : TQ_CLIENT_FAILOVER_MS;
    if (!ns)
        ns = "tq";
    if (tq_ns_check(ns, &e) || tq_redis_url_parse(url, &c->addr, &e)) {
        tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
        return c;
    }
    if (tq_nskeys_init(&c->nk, ns)) {
        tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        return c;
    }
    tq_client_connect(c);
    return c;
}

void tq_client_free(tq_client *c)
{
    if (!c)
        return;
    drop_connection(c);
    for (size_t i = 0; i < c->nqueues; i++) {
        tq_qkeys_free(c->queues[i]->keys);
        free(c->queues[i]);
    }
    free(c->queues);
    tq_nskeys_clear(&c->nk);
    free(c);
}

/* A NULL client is what tq_client_new returns when memory ran out. */
int tq_client_err(const tq_client *c)
{
    return c ? c->err : TQ_ENOMEM;
}

const char *tq_client_errstr(const tq_client *c)
{
    return c ? c->errstr : "out of memory";
}

int tq_client_begin(tq_client *c)
{
    if (!c->nk.ns)
        return c->err ? c->err : TQ_EINVAL;
    tq_client_clearerr(c);
    return 0;
}

tq_client_queue *tq_client_queue_of(tq_client *c, const char *queue)
{
    tq_perr e;
    if (tq_queue_check(queue, &e)) {
        tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
        return NULL;
    }
    return tq_client_queue_get(c, queue);
}

tq_client_queue *tq_client_queue_get(tq_client *c, const char *queue)
{
    tq_client_queue *q;

    for (size_t i = 0; i < c->nqueues; i++)
        if (!strcmp(c->queues[i]->keys->queue, queue))
            return c->queues[i];
    if (c->nqueues == c->capqueues) {
        size_t cap = c->capqueues ? c->capqueues * 2 : 4;
        tq_client_queue **qs = realloc(c->queues, cap * sizeof *qs);
        if (!qs) {
            tq_client_seterr(c, TQ_ENOMEM, "out of memory");
            return NULL;
        }
        c->queues = qs;
        c->capqueues = cap;
    }
    if (!(q = calloc(1, sizeof *q)) || !(q->keys = tq_qkeys_new(c->nk.ns, queue))) {
        free(q);
        tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        return NULL;
    }
    c->queues[c->nqueues++] = q;
    return q;
}

/* ---------------------------------------------------------------- pipelines */

/* One pipeline, of script calls (argv_of NULL) or of plain commands. */
typedef struct pipeline {
    tq_script script;
    tq_client_build_fn *build;
    tq_client_argv_fn *argv_of;
    tq_client_reply_fn *reply;
    tq_client_reply_fn *late;   /* sees the good replies after an error, or NULL */
    void *ud;
    const char *what;
} pipeline;

static int append_one(tq_client *c, const pipeline *p, size_t i)
{
    int rv;
    if (p->argv_of) {
        const char *argv[16];
        size_t lens[16];
        memset(lens, 0, sizeof lens);
        int argc = p->argv_of(argv, lens, i, p->ud);
        if (argc <= 0 || argc > 16)
            return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        for (int k = 0; k < argc; k++)
            if (!lens[k])
                lens[k] = strlen(argv[k]);
        if (redisAppendCommandArgv(c->rc, argc, argv, lens) != REDIS_OK)
            return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        return 0;
    }
    tq_cmd cmd;
    tq_cmd_init(&cmd, p->script);
    rv = p->build(&cmd, i, p->ud);
    if (!rv && cmd.oom)
        rv = TQ_ENOMEM;
    if (!rv)
        rv = tq_cmd_append(c->rc, &cmd);
    tq_cmd_clear(&cmd);
    if (rv == TQ_ENOMEM)
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    if (rv)
        return c->err ? rv : tq_client_seterr(c, rv, "cannot build %s", p->what);
    return 0;
}

/* Runs call i alone with EVALSHA, then EVAL on NOSCRIPT. */
static int rerun_one(tq_client *c, const pipeline *p, size_t i)
{
    tq_cmd cmd;
    tq_cmd_init(&cmd, p->script);
    int rv = p->build(&cmd, i, p->ud);
    if (!rv && cmd.oom)
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    if (rv) {
        tq_cmd_clear(&cmd);
        return rv;
    }
    redisReply *r = tq_cmd_run(c->rc, &cmd);
    tq_cmd_clear(&cmd);
    rv = tq_client_check(c, r, p->what);
    if (!rv)
        rv = p->reply(c, r, i, p->ud);
    if (r)
        freeReplyObject(r);
    return rv;
}

static int run_pipeline_once(tq_client *c, size_t n, const pipeline *p,
                             size_t *nok);

/* A pipeline refused with READONLY before any of its replies was good
 * (Sentinel only) runs again on the new master. */
static int run_pipeline(tq_client *c, size_t n, const pipeline *p)
{
    int64_t deadline = retry_deadline(c);
    size_t nok;
    int rv;

    do {
        nok = 0;
        rv = run_pipeline_once(c, n, p, &nok);
    } while (nok == 0 && retry_readonly(c, rv, deadline));
    return rv;
}

static int run_pipeline_once(tq_client *c, size_t n, const pipeline *p,
                             size_t *nok)
{
    char noscript[PIPELINE_CHUNK];
    int rv = tq_client_connect(c);
    if (rv)
        return rv;
    if (!p->argv_of && n > 1 && !c->scripts_loaded) {
        char err[300];
        if (tq_scripts_load(c->rc, err, sizeof err)) {
            if (c->rc->err)
                drop_connection(c);
            return tq_client_seterr(c, TQ_EREDIS, "%s", err);
        }
        c->scripts_loaded = 1;
    }
    for (size_t base = 0; base < n && !rv; base += PIPELINE_CHUNK) {
        size_t m = n - base < PIPELINE_CHUNK ? n - base : PIPELINE_CHUNK;
        size_t sent = 0, nnoscript = 0;
        while (sent < m && !rv) {
            rv = append_one(c, p, base + sent);
            if (!rv)
                sent++;
        }
        /* Read every reply that was asked for, even after an error, so the
         * connection stays in step with its pipeline. */
        for (size_t j = 0; j < sent; j++) {
            redisReply *r = NULL;
            if (redisGetReply(c->rc, (void **)&r) != REDIS_OK || !r)
                return tq_client_connfail(c, p->what);
            noscript[j] = 0;
            if (!p->argv_of && tq_reply_is_noscript(r)) {
                noscript[j] = 1;
                nnoscript++;
            } else if (!rv) {
                rv = tq_client_check(c, r, p->what);
                if (!rv)
                    (*nok)++;
                if (!rv)
                    rv = p->reply(c, r, base + j, p->ud);
            } else if (p->late && r->type != REDIS_REPLY_ERROR) {
                p->late(c, r, base + j, p->ud);
            }
            freeReplyObject(r);
        }
        for (size_t j = 0; j < sent && nnoscript && !rv; j++)
            if (noscript[j])
                rv = rerun_one(c, p, base + j);
    }
    return rv;
}

int tq_client_pipeline(tq_client *c, tq_script s, size_t n,
                       tq_client_build_fn *build, tq_client_reply_fn *reply,
                       void *ud)
{
    pipeline p = {s, build, NULL, reply, NULL, ud, tq_script_name(s)};
    return run_pipeline(c, n, &p);
}

int tq_client_pipeline_noting(tq_client *c, tq_script s, size_t n,
                              tq_client_build_fn *build, tq_client_reply_fn *reply,
                              tq_client_reply_fn *late, void *ud)
{
    pipeline p = {s, build, NULL, reply, late, ud, tq_script_name(s)};
    return run_pipeline(c, n, &p);
}

int tq_client_pipeline_argv(tq_client *c, size_t n, tq_client_argv_fn *argv_of,
                            tq_client_reply_fn *reply, void *ud)
{
    pipeline p = {TQ_SCRIPT__COUNT, NULL, argv_of, reply, NULL, ud, "a query"};
    return run_pipeline(c, n, &p);
}

int tq_client_command(tq_client *c, int argc, const char **argv,
                      const char *what, redisReply **out)
{
    int64_t deadline = retry_deadline(c);
    redisReply *r;
    int rv;

    *out = NULL;
again:
    if ((rv = tq_client_connect(c)))
        return rv;
    r = redisCommandArgv(c->rc, argc, argv, NULL);
    rv = tq_client_check(c, r, what);
    if (rv && r && retry_readonly(c, rv, deadline)) {
        freeReplyObject(r);
        goto again;
    }
    if (rv) {
        if (r)
            freeReplyObject(r);
        return rv;
    }
    *out = r;
    return 0;
}

int tq_client_durable(tq_client *c, const tq_submit_opts *o)
{
    char n[16], t[24], took[32];
    const char *argv[] = {"WAIT", n, t};
    int64_t ms = o->durable_timeout_ms;
    redisReply *r;
    int rv;

    if (!o->durable)
        return 0;
    if (!c->rc || c->rc->err)
        return tq_client_seterr(c, TQ_EREDIS, "Redis connection lost before WAIT");
    snprintf(n, sizeof n, "%d", o->durable);
    snprintf(t, sizeof t, "%lld", (long long)ms);
    /* WAIT blocks in Redis up to ms: the read may take that long on top of
     * the usual reply time, then the usual timeout comes back. */
    redisSetTimeout(c->rc, (struct timeval){(ms + TQ_CLIENT_REPLY_MS) / 1000,
                                            ((ms + TQ_CLIENT_REPLY_MS) % 1000) * 1000});
    r = redisCommandArgv(c->rc, 3, argv, NULL);
    if (c->rc && !c->rc->err)
        redisSetTimeout(c->rc, (struct timeval){TQ_CLIENT_REPLY_MS / 1000, 0});
    if ((rv = tq_client_check(c, r, "WAIT"))) {
        if (r)
            freeReplyObject(r);
        return rv;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered WAIT with something else");
    }
    long long got = r->integer;
    freeReplyObject(r);
    if (got >= o->durable)
        return 0;
    if (ms % 1000 == 0)
        snprintf(took, sizeof took, "%llds", (long long)(ms / 1000));
    else
        snprintf(took, sizeof took, "%lldms", (long long)ms);
    return tq_client_seterr(c, TQ_EDURABLE, "accepted by the master, not yet on %d "
                            "replica%s (%lld confirmed within %s)", o->durable,
                            o->durable == 1 ? "" : "s", got, took);
}

int tq_client_redis_time(tq_client *c, int64_t *ms)
{
    const char *argv[] = {"TIME"};
    redisReply *r;
    long long s, us;
    int rv = tq_client_command(c, 1, argv, "TIME", &r);
    if (rv)
        return rv;
    if (tq_reply_int(r, 0, &s) || tq_reply_int(r, 1, &us))
        rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered TIME with something else than a time");
    else
        *ms = (int64_t)s * 1000 + us / 1000;
    freeReplyObject(r);
    return rv;
}

int tq_client_run(tq_client *c, tq_cmd *cmd, const char *what, redisReply **out)
{
    int64_t deadline = retry_deadline(c);
    int rv;

    *out = NULL;
again:
    rv = tq_client_connect(c);
    if (!rv && cmd->oom)
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    if (!rv) {
        redisReply *r = tq_cmd_run(c->rc, cmd);
        rv = tq_client_check(c, r, what);
        if (rv && r)
            freeReplyObject(r);
        else
            *out = r;
        if (rv && r && retry_readonly(c, rv, deadline))
            goto again;
    }
    tq_cmd_clear(cmd);
    return rv;
}

int tq_client_run_job(tq_client *c, tq_cmd *cmd, const char *what, const char *id,
                      long long *n)
{
    redisReply *r;
    int rv;

    *n = 0;
    if ((rv = tq_client_run(c, cmd, what, &r)))
        return rv;
    if (r->type != REDIS_REPLY_INTEGER)
        rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered %s with something else", what);
    else if (r->integer < 0)
        rv = tq_client_seterr(c, TQ_ENOTFOUND, "no such job '%s'", id);
    else
        *n = r->integer;
    freeReplyObject(r);
    return rv;
}

/* ---------------------------------------------------------------- records */

int tq_client_record(tq_client *c, const char *id, const char *queue,
                     const redisReply *r, tq_job **out)
{
    tq_perr e;
    int rv = tq_record_decode(id, queue, r, out, &e);
    return rv ? tq_client_seterr(c, rv, "%s", e.text) : 0;
}
