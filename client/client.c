/* client.c -- the blocking client of libtq: submit (one job, many, a chain,
 * a group), status, wait, cancel.
 *
 * Every call is a short pipeline on one blocking hiredis connection: the
 * commands of a call are appended, then their replies read back in order, so
 * a call costs one round trip however many jobs it touches (submit-many is
 * the fast path of SPEC §8). Jobs move only through the broker's scripts; the
 * client builds their KEYS and ARGV and reads their replies. Jobs are created
 * in batches of a few hundred per script call (submitn), the options shared;
 * only --unique goes one job per call (submit), since its answer may be
 * another job's id. A group is gnew, its members in batches, gseal, all in one
 * pipeline; following a group (wait, status, cancel) is in group.c.
 *
 * tq_wait is woken by the broker, never by a sleep loop: it subscribes to
 * each job's done channel on a second connection *first*, then runs waitprep,
 * which marks each job watched (so finishing it publishes) and reports where
 * it stands. A job that finishes between the two steps is therefore either
 * reported terminal by waitprep or published to a channel already listened
 * to: it cannot be missed.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_private.h"
#include "proto/proto_private.h"

#define PIPELINE_CHUNK 512    /* commands in flight per round trip */
#define WAIT_RECHECK_MS 10000 /* silence after which tq_wait re-reads its jobs */

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
    if (r->type == REDIS_REPLY_ERROR)
        return tq_client_seterr(c, TQ_EREDIS, "Redis answered %s with an error: %s",
                                what, r->str ? r->str : "?");
    return 0;
}

/* ---------------------------------------------------------------- the connection */

int tq_client_connect(tq_client *c)
{
    char err[300];
    if (c->rc && !c->rc->err)
        return 0;
    drop_connection(c);
    c->rc = tq_redis_connect(&c->addr, TQ_CLIENT_CONNECT_MS, err, sizeof err);
    if (!c->rc)
        return tq_client_seterr(c, TQ_EREDIS, "%s", err);
    return 0;
}

tq_client *tq_client_new(const char *url, const char *ns)
{
    tq_client *c = calloc(1, sizeof *c);
    tq_perr e;

    if (!c)
        return NULL;
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

static int run_pipeline(tq_client *c, size_t n, const pipeline *p)
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
    *out = NULL;
    int rv = tq_client_connect(c);
    if (rv)
        return rv;
    redisReply *r = redisCommandArgv(c->rc, argc, argv, NULL);
    rv = tq_client_check(c, r, what);
    if (rv) {
        if (r)
            freeReplyObject(r);
        return rv;
    }
    *out = r;
    return 0;
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

/* ---------------------------------------------------------------- records */

int tq_client_record(tq_client *c, const char *id, const char *queue,
                     const redisReply *r, tq_job **out)
{
    tq_perr e;
    int rv = tq_record_decode(id, queue, r, out, &e);
    return rv ? tq_client_seterr(c, rv, "%s", e.text) : 0;
}

/* Finds the queue of each id with the locate script (docs/design.md §4). */
typedef struct locate {
    tq_client *c;
    const char *kind;
    const char *const *ids;
    size_t n;
    tq_client_queue **queues; /* out: NULL when the job does not exist */
    size_t *starts;           /* call i asks for ids[starts[i] .. starts[i+1]) */
} locate;

/* Splits ids into calls worth at most TQ_LOCATE_BATCH each (a plain id
 * costs TQ_LOCATE_PLAIN_COST: it is probed in every queue). Fills l->starts
 * (n + 1 entries at most) and returns the number of calls. */
static size_t locate_split(locate *l)
{
    size_t calls = 0, cost = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t k = tq_id_parse(l->ids[i], NULL) == TQ_ID_PLAIN ? TQ_LOCATE_PLAIN_COST : 1;
        if (i == 0 || cost + k > TQ_LOCATE_BATCH) {
            l->starts[calls++] = i;
            cost = 0;
        }
        cost += k;
    }
    l->starts[calls] = l->n;
    return calls;
}

static int locate_build(tq_cmd *cmd, size_t i, void *ud)
{
    locate *l = ud;
    size_t lo = l->starts[i];
    tq_locate_cmd(cmd, &l->c->nk, l->kind, l->ids + lo, l->starts[i + 1] - lo);
    return 0;
}

static int locate_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    locate *l = ud;
    size_t lo = l->starts[i], k = l->starts[i + 1] - lo;
    tq_client_queue *last = NULL; /* ids of one queue often come in a row */
    tq_perr e;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != k)
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered locate with something else");
    for (size_t j = 0; j < k; j++) {
        const redisReply *q = r->element[j];
        l->queues[lo + j] = NULL;
        if (q->type == REDIS_REPLY_NIL)
            continue;
        if (q->type != REDIS_REPLY_STRING || tq_queue_check(q->str, &e))
            return tq_client_seterr(c, TQ_EPROTO, "Redis answered locate with something else");
        if (!last || strcmp(last->keys->queue, q->str))
            last = tq_client_queue_get(c, q->str);
        if (!(l->queues[lo + j] = last))
            return TQ_ENOMEM;
    }
    return 0;
}

int tq_client_locate(tq_client *c, const char *kind, const char *const *ids,
                     size_t n, tq_client_queue **queues)
{
    locate l = {c, kind, ids, n, queues, NULL};
    int rv;
    for (size_t i = 0; i < n; i++)
        queues[i] = NULL;
    if (n == 0)
        return 0;
    if (!(l.starts = malloc((n + 1) * sizeof *l.starts)))
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    rv = tq_client_pipeline(c, TQ_SCRIPT_LOCATE, locate_split(&l), locate_build,
                            locate_reply, &l);
    free(l.starts);
    return rv;
}

/* ---------------------------------------------------------------- submit */

/* Registration (docs/design.md §2): SADD P:qt:TAG Q, then SADD P:queues Q,
 * in one round trip. */
typedef struct reg_ctx {
    const tq_client_queue *q;
    const char *queues;      /* P:queues */
} reg_ctx;

static int register_argv(const char **argv, size_t *lens, size_t i, void *ud)
{
    const reg_ctx *r = ud;
    (void)lens;
    argv[0] = "SADD";
    argv[1] = i == 0 ? r->q->keys->qtag : r->queues;
    argv[2] = r->q->keys->queue;
    return 3;
}

static int register_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    (void)i; (void)ud;
    if (r->type != REDIS_REPLY_INTEGER)
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered SADD with something else");
    return 0;
}

int tq_client_register_queue(tq_client *c, tq_client_queue *q)
{
    reg_ctx r = {q, c->nk.queues};
    int rv;
    if (q->registered)
        return 0;
    if ((rv = tq_client_pipeline_argv(c, 2, register_argv, register_reply, &r)))
        return rv;
    q->registered = 1;
    return 0;
}

int tq_client_due_time(tq_client *c, const tq_submit_opts *o, long long *due)
{
    (void)c;
    *due = tq_due_ms(o);
    return 0;
}

/* ---------------------------------------------------------------- submitting */

/* The calls of a submit (request.c) through the pipeline. */
static int req_build(tq_cmd *cmd, size_t i, void *ud)
{
    return tq_submit_req_build(ud, i, cmd);
}

static int req_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    tq_perr e;
    int rv = tq_submit_req_reply(ud, i, r, &e);
    return rv ? tq_client_seterr(c, rv, "%s", e.text) : 0;
}

/* A call answered after an earlier one failed: its jobs exist all the same. */
static int req_late(tq_client *c, redisReply *r, size_t i, void *ud)
{
    tq_perr e;
    (void)c;
    return tq_submit_req_reply(ud, i, r, &e);
}

/* Runs the calls of req, keeping which were answered, so that on failure
 * ids holds exactly the jobs created (tq_submit_req_settle). */
static int submit_run(tq_client *c, tq_submit_req *req, int *first_ok)
{
    size_t calls = tq_submit_req_calls(req);
    int rv;

    if (!(req->answered = calloc(calls ? calls : 1, 1))) {
        tq_submit_req_settle(req);
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    }
    rv = tq_client_pipeline_noting(c, tq_submit_req_script(req), calls, req_build,
                                   req_reply, req_late, req);
    if (rv)
        tq_submit_req_settle(req);
    if (first_ok)
        *first_ok = req->answered[0];
    free(req->answered);
    req->answered = NULL;
    return rv;
}

/* Accepts any integer reply (chain). */
static int int_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    (void)i; (void)ud;
    if (r->type != REDIS_REPLY_INTEGER)
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered a submit with something else");
    return 0;
}

/* Makes n new ids of queue (checked); 0 or TQ_EFAILED. */
static int new_ids(tq_client *c, char (*ids)[TQ_ID_SIZE], size_t n, const char *queue)
{
    tq_perr e;
    int rv = tq_ids_new(ids, n, queue, &e);
    return rv ? tq_client_seterr(c, rv, "%s", e.text) : 0;
}

/* Everything every submit does first: options checked, the queue's keys,
 * the connection, the queue registered, the due time. */
static int submit_begin(tq_client *c, const char *task, const tq_submit_opts *o,
                        tq_client_queue **q, long long *due)
{
    tq_perr e;
    int rv;
    if (tq_client_opts_check(task, o, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if (!(*q = tq_client_queue_get(c, o->queue)))
        return c->err;
    if ((rv = tq_client_connect(c)) || (rv = tq_client_register_queue(c, *q)) ||
        (rv = tq_client_due_time(c, o, due)))
        return rv;
    return 0;
}

/* The start of a submit: clears the last error, points *o at the defaults
 * (kept in *defaults) when it is NULL, and checks the task and options. */
static int submit_prologue(tq_client *c, const char *task,
                           const tq_submit_opts **o, tq_submit_opts *defaults)
{
    tq_perr e;
    int rv;

    if ((rv = tq_client_begin(c)))
        return rv;
    if (!*o) {
        tq_submit_opts_init(defaults);
        *o = defaults;
    }
    if (tq_client_opts_check(task, *o, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    return 0;
}

int tq_client_submit_normalized(tq_client *c, const char *task,
                                const char *const *args, size_t n,
                                const tq_submit_opts *o,
                                char (*ids)[TQ_ID_SIZE])
{
    tq_submit_opts defaults;
    tq_client_queue *q;
    tq_submit_req req;
    long long due;
    tq_perr e;
    int rv;

    for (size_t i = 0; ids && i < n; i++)
        ids[i][0] = '\0'; /* on failure: nothing was submitted */
    if ((rv = submit_prologue(c, task, &o, &defaults)))
        return rv;
    if (n == 0)
        return 0;
    if ((rv = new_ids(c, ids, n, o->queue)) || (rv = submit_begin(c, task, o, &q, &due))) {
        for (size_t i = 0; i < n; i++)
            ids[i][0] = '\0';
        return rv;
    }
    if ((rv = tq_submit_req_init(&req, task, args, n, o, q->keys, &c->nk, ids, &e))) {
        tq_submit_req_settle(&req);
        return tq_client_seterr(c, rv, "%s", e.text);
    }
    req.due_ms = due;
    return submit_run(c, &req, NULL);
}

/* Normalizes n args into *out (freed by tq_args_free_many). */
static int normalize_args(tq_client *c, const char *const *args, size_t n,
                          size_t max, char ***out)
{
    tq_perr e;
    int rv = tq_args_normalize_many(args, n, max, out, &e);
    return rv ? tq_client_seterr(c, rv, "%s", e.text) : 0;
}

int tq_submit_many(tq_client *c, const char *task, const char *const *args,
                   size_t n, const tq_submit_opts *o, char (*ids)[TQ_ID_SIZE])
{
    size_t max = o && o->max_args ? o->max_args : TQ_MAX_ARGS_DEFAULT;
    char **norm;
    int rv;

    if ((rv = tq_client_begin(c)))
        return rv;
    if (n && !args)
        return tq_client_seterr(c, TQ_EINVAL, "no args given");
    if (n && !ids)
        return tq_client_seterr(c, TQ_EINVAL, "no room for the ids");
    for (size_t i = 0; i < n; i++)
        ids[i][0] = '\0'; /* on failure, "" marks a job not submitted */
    if ((rv = normalize_args(c, args, n, max, &norm)))
        return rv;
    rv = tq_client_submit_normalized(c, task, (const char *const *)norm, n, o, ids);
    tq_args_free_many(norm, n);
    return rv;
}

int tq_submit(tq_client *c, const char *task, const char *args,
              const tq_submit_opts *o, char id[TQ_ID_SIZE])
{
    return tq_submit_many(c, task, &args, 1, o, (char (*)[TQ_ID_SIZE])id);
}

/* ---------------------------------------------------------------- chains */

typedef struct chain_ctx {
    const char *const *tasks;
    size_t n;
    const char *args;
    const tq_submit_opts *o;
    tq_qkeys *k;
    const tq_nskeys *nk;
    char (*ids)[TQ_ID_SIZE];
    long long due_ms;
} chain_ctx;

/* chain: KEYS pending sched wake; ARGV PJ due_ms args opts n (id task)*n */
static int chain_build(tq_cmd *cmd, size_t i, void *ud)
{
    chain_ctx *ch = ud;
    (void)i;
    tq_cmd_key(cmd, ch->k->pending[ch->o->priority]);
    tq_cmd_key(cmd, ch->k->sched);
    tq_cmd_key(cmd, ch->k->wake);
    tq_cmd_args(cmd, ch->k->job_prefix);
    tq_cmd_due(cmd, ch->due_ms);
    tq_cmd_args(cmd, ch->args);
    tq_submit_push_opts(cmd, ch->o);
    tq_cmd_argi(cmd, (long long)ch->n);
    for (size_t j = 0; j < ch->n; j++) {
        tq_cmd_args(cmd, ch->ids[j]);
        tq_cmd_args(cmd, ch->tasks[j]);
    }
    return 0;
}

int tq_submit_chain(tq_client *c, const char *const *tasks, size_t n,
                    const char *args, const tq_submit_opts *o,
                    char (*ids)[TQ_ID_SIZE])
{
    tq_submit_opts defaults;
    tq_client_queue *q;
    chain_ctx ch;
    char *norm = NULL;
    tq_perr e;
    int rv;

    if ((rv = tq_client_begin(c)))
        return rv;
    if (!o) {
        tq_submit_opts_init(&defaults);
        o = &defaults;
    }
    if (!tasks || n == 0)
        return tq_client_seterr(c, TQ_EINVAL, "a chain needs at least one task");
    if (n > TQ_CHAIN_MAX)
        return tq_client_seterr(c, TQ_EINVAL, "a chain has at most %d jobs (got %zu)",
                                TQ_CHAIN_MAX, n);
    for (size_t i = 1; i < n; i++)
        if (!tasks[i] || tq_name_check("--then", tasks[i], &e))
            return tq_client_seterr(c, TQ_EINVAL, "%s",
                                    tasks[i] ? e.text : "--then: a task name is required");
    if (n > 1 && o->unique)
        return tq_client_seterr(c, TQ_EINVAL, "--unique does not combine with --then");
    if (tq_client_opts_check(tasks[0], o, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    rv = tq_args_normalize(args, args ? strlen(args) : 0,
                           o->max_args ? o->max_args : TQ_MAX_ARGS_DEFAULT, &norm, &e);
    if (rv)
        return rv == TQ_ENOMEM ? tq_client_seterr(c, rv, "out of memory")
                               : tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if (n == 1) {
        const char *one = norm;
        rv = tq_client_submit_normalized(c, tasks[0], &one, 1, o, ids);
        free(norm);
        return rv;
    }
    if ((rv = new_ids(c, ids, n, o->queue)) || (rv = submit_begin(c, tasks[0], o, &q, &ch.due_ms))) {
        free(norm);
        return rv;
    }
    ch.tasks = tasks;
    ch.n = n;
    ch.args = norm;
    ch.o = o;
    ch.k = q->keys;
    ch.nk = &c->nk;
    ch.ids = ids;
    rv = tq_client_pipeline(c, TQ_SCRIPT_CHAIN, 1, chain_build, int_reply, &ch);
    free(norm);
    return rv;
}

/* ---------------------------------------------------------------- groups */

int tq_client_group_submit_normalized(tq_client *c, const char *task,
                                      const char *const *args, size_t n,
                                      const tq_submit_opts *o, const char *then,
                                      char gid[TQ_ID_SIZE], char fanin[TQ_ID_SIZE],
                                      char (*ids)[TQ_ID_SIZE])
{
    tq_submit_opts defaults;
    tq_client_queue *q;
    char (*own)[TQ_ID_SIZE] = NULL;
    tq_submit_req req;
    long long due;
    tq_perr e;
    int rv, made = 0; /* made: gnew was answered, the group exists */

    if ((rv = submit_prologue(c, task, &o, &defaults)))
        return rv;
    if (then && tq_name_check("--then", then, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if (then && !fanin)
        return tq_client_seterr(c, TQ_EINVAL, "a fan-in task needs room for its id");
    if (o->unique)
        return tq_client_seterr(c, TQ_EINVAL, "--unique does not apply to groups");
    if (n && !args)
        return tq_client_seterr(c, TQ_EINVAL, "no args given");
    if (!ids && n && !(ids = own = malloc(n * sizeof *own)))
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    if ((rv = new_ids(c, (char (*)[TQ_ID_SIZE])gid, 1, o->queue)) ||
        (then && (rv = new_ids(c, (char (*)[TQ_ID_SIZE])fanin, 1, o->queue))) ||
        (rv = new_ids(c, ids, n, o->queue)) || (rv = submit_begin(c, task, o, &q, &due)))
        goto done;
    if ((rv = tq_submit_req_init(&req, task, args, n, o, q->keys, &c->nk, ids, &e)) ||
        (rv = tq_submit_req_group(&req, gid, then, fanin, &e))) {
        rv = tq_client_seterr(c, rv, "%s", e.text);
        goto done;
    }
    req.due_ms = due;
    rv = submit_run(c, &req, &made);
    if (rv && !made) {
        gid[0] = '\0';
        if (then)
            fanin[0] = '\0';
    }
    free(own);
    return rv;
done:
    gid[0] = '\0';
    if (then && fanin)
        fanin[0] = '\0';
    for (size_t i = 0; ids && i < n; i++)
        ids[i][0] = '\0';
    free(own);
    return rv;
}

int tq_group_submit(tq_client *c, const char *task, const char *const *args,
                    size_t n, const tq_submit_opts *o, const char *then,
                    char gid[TQ_ID_SIZE], char fanin[TQ_ID_SIZE],
                    char (*ids)[TQ_ID_SIZE])
{
    size_t max = o && o->max_args ? o->max_args : TQ_MAX_ARGS_DEFAULT;
    char **norm;
    int rv;

    if ((rv = tq_client_begin(c)))
        return rv;
    if (n && !args)
        return tq_client_seterr(c, TQ_EINVAL, "no args given");
    if ((rv = normalize_args(c, args, n, max, &norm)))
        return rv;
    rv = tq_client_group_submit_normalized(c, task, (const char *const *)norm, n, o,
                                           then, gid, fanin, ids);
    tq_args_free_many(norm, n);
    return rv;
}

/* ---------------------------------------------------------------- status */

/* Reads the record of a job in a known queue; *out NULL when it is gone. */
static int read_record(tq_client *c, tq_client_queue *q, const char *id,
                       tq_job **out)
{
    char jk[TQ_KEY_SIZE];
    redisReply *r;
    *out = NULL;
    if (!tq_key_join(jk, sizeof jk, q->keys->job_prefix, id))
        return tq_client_seterr(c, TQ_EINVAL, "job id '%s' is too long", id);
    const char *argv[] = {"HGETALL", jk};
    int rv = tq_client_command(c, 2, argv, "HGETALL", &r);
    if (rv)
        return rv;
    rv = tq_client_record(c, id, q->keys->queue, r, out);
    freeReplyObject(r);
    return rv;
}

int tq_client_check_id(tq_client *c, const char *id)
{
    tq_perr e;
    if (!id || tq_id_check(id, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", id ? e.text : "no job id");
    return 0;
}

int tq_status(tq_client *c, const char *id, tq_job **out)
{
    tq_client_queue *q = NULL;
    int rv;

    *out = NULL;
    if ((rv = tq_client_begin(c)) || (rv = tq_client_check_id(c, id)) ||
        (rv = tq_client_locate(c, TQ_LOCATE_JOB, &id, 1, &q)))
        return rv;
    if (q && (rv = read_record(c, q, id, out)))
        return rv;
    if (!*out)
        return tq_client_seterr(c, TQ_ENOTFOUND, "no such job '%s'", id);
    return 0;
}

/* What `tq result` tells: the result of a succeeded job, else why not. */
int tq_result(tq_client *c, const char *id, char **result)
{
    tq_job *job = NULL;
    int rv;

    if (result)
        *result = NULL;
    if ((rv = tq_client_begin(c)))
        return rv;
    if (!result)
        return tq_client_seterr(c, TQ_EINVAL, "no room for the result");
    if ((rv = tq_status(c, id, &job)))
        return rv;
    switch (job->state) {
    case TQ_STATE_SUCCEEDED:
        *result = strdup(job->result ? job->result : "null");
        rv = *result ? 0 : tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        break;
    case TQ_STATE_FAILED:
        rv = tq_client_seterr(c, TQ_EFAILED, "job %s failed: %s", id,
                              job->error ? job->error : "(no error text)");
        break;
    case TQ_STATE_CANCELLED:
        rv = tq_client_seterr(c, TQ_ECANCELLED, "job %s was cancelled%s%s", id,
                              job->error ? ": " : "", job->error ? job->error : "");
        break;
    default:
        rv = tq_client_seterr(c, TQ_ETIMEDOUT, "job %s has not finished (it is %s)", id,
                              tq_state_name(job->state));
        break;
    }
    tq_job_free(job);
    return rv;
}

/* ---------------------------------------------------------------- wait */

enum { W_WAITING, W_DONE, W_MISSING };

typedef struct wslot {
    const char *id;
    tq_client_queue *q;
    int st;
    tq_state hint;     /* terminal state seen in a message or waitprep */
    int queued;        /* in todo already */
} wslot;

typedef struct waiter {
    tq_client *c;
    wslot *slots;
    size_t n;
    tq_job **out;
    size_t *todo;      /* indices a pipeline works on */
    size_t ntodo;
    size_t *byid;      /* slot indices sorted by id, to map messages to slots */
    int final;         /* fetch: keep non-terminal records too (timed out) */
    char key[TQ_KEY_SIZE];
} waiter;

static int waiter_key(waiter *w, size_t i)
{
    wslot *s = &w->slots[w->todo[i]];
    return tq_key_join(w->key, sizeof w->key, s->q->keys->job_prefix, s->id) ? 0 : -1;
}

/* waitprep: KEYS job. Reply {state, result, error} or nil. */
static int prep_build(tq_cmd *cmd, size_t i, void *ud)
{
    waiter *w = ud;
    if (waiter_key(w, i))
        return TQ_ENOMEM;
    tq_cmd_key(cmd, w->key);
    return 0;
}

static int prep_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    waiter *w = ud;
    wslot *s = &w->slots[w->todo[i]];
    if (r->type == REDIS_REPLY_NIL) {
        s->st = W_MISSING;
        return 0;
    }
    const char *st = tq_reply_str(r, 0, NULL);
    tq_state state = st ? tq_state_parse(st) : TQ_STATE_UNKNOWN;
    if (state == TQ_STATE_UNKNOWN)
        return tq_client_seterr(c, TQ_EPROTO, "job '%s' has no valid state", s->id);
    if (tq_state_terminal(state))
        s->hint = state;
    return 0;
}

static int fetch_argv(const char **argv, size_t *lens, size_t i, void *ud)
{
    waiter *w = ud;
    if (waiter_key(w, i))
        return -1;
    argv[0] = "HGETALL";
    argv[1] = w->key;
    return 2;
}

static int fetch_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    waiter *w = ud;
    size_t k = w->todo[i];
    wslot *s = &w->slots[k];
    tq_job *job;
    int rv = tq_client_record(c, s->id, s->q->keys->queue, r, &job);
    if (rv)
        return rv;
    if (!job) {
        if (!s->hint) {
            s->st = W_MISSING;
            return 0;
        }
        job = tq_record_minimal(s->id, s->q->keys->queue, s->hint);
        if (!job)
            return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    }
    if (tq_state_terminal(job->state) || w->final) {
        tq_job_free(w->out[k]);
        w->out[k] = job;
        if (tq_state_terminal(job->state))
            s->st = W_DONE;
    } else {
        /* Not terminal after all (retried from the dead-letter list since):
         * its finish will publish again. */
        tq_job_free(job);
        s->hint = TQ_STATE_UNKNOWN;
    }
    return 0;
}

/* Runs waitprep on every waiting slot, then reads the records of those
 * it found terminal. */
static int wait_prepare(waiter *w)
{
    int rv;
    w->ntodo = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->slots[i].st == W_WAITING)
            w->todo[w->ntodo++] = i;
    rv = tq_client_pipeline(w->c, TQ_SCRIPT_WAITPREP, w->ntodo, prep_build,
                            prep_reply, w);
    if (rv)
        return rv;
    size_t m = 0;
    for (size_t i = 0; i < w->ntodo; i++) {
        wslot *s = &w->slots[w->todo[i]];
        if (s->st == W_WAITING && s->hint)
            w->todo[m++] = w->todo[i];
    }
    w->ntodo = m;
    return tq_client_pipeline_argv(w->c, m, fetch_argv, fetch_reply, w);
}

static int cmp_byid(const void *a, const void *b, void *base)
{
    const wslot *s = base;
    return strcmp(s[*(const size_t *)a].id, s[*(const size_t *)b].id);
}

/* Marks for fetching every waiting slot of the job a done message names. */
static void wait_message(waiter *w, const redisReply *r)
{
    const char *kind = tq_reply_str(r, 0, NULL);
    size_t clen = 0, plen = strlen(w->c->nk.done_prefix);
    const char *chan = tq_reply_str(r, 1, &clen);
    const char *payload = tq_reply_str(r, 2, NULL);
    if (!kind || strcmp(kind, "message") || !chan || clen <= plen)
        return;
    const char *id = chan + plen;
    size_t lo = 0, hi = w->n;
    while (lo < hi) { /* first slot whose id is >= id */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(w->slots[w->byid[mid]].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    tq_state st = payload ? tq_state_parse(payload) : TQ_STATE_UNKNOWN;
    for (; lo < w->n && !strcmp(w->slots[w->byid[lo]].id, id); lo++) {
        wslot *s = &w->slots[w->byid[lo]];
        if (s->st != W_WAITING || s->queued)
            continue;
        if (tq_state_terminal(st))
            s->hint = st;
        s->queued = 1;
        w->todo[w->ntodo++] = w->byid[lo];
    }
}

/* SUBSCRIBE to the done channel of every job still waited on, and reads the
 * confirmations: only then is a publish sure to reach us. */
static int wait_subscribe(waiter *w, redisContext *sub)
{
    tq_client *c = w->c;
    size_t m = 0, plen = strlen(c->nk.done_prefix);
    const char **argv = malloc((w->n + 1) * sizeof *argv);
    char *chans = malloc(w->n * (plen + TQ_ID_SIZE));
    int rv = 0;

    if (!argv || !chans) {
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        goto done;
    }
    argv[m++] = "SUBSCRIBE";
    for (size_t i = 0; i < w->n; i++) {
        if (w->slots[i].st != W_WAITING)
            continue;
        char *ch = chans + i * (plen + TQ_ID_SIZE);
        snprintf(ch, plen + TQ_ID_SIZE, "%s%s", c->nk.done_prefix, w->slots[i].id);
        argv[m++] = ch;
    }
    if (m == 1)
        goto done;
    if (redisAppendCommandArgv(sub, (int)m, argv, NULL) != REDIS_OK) {
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 1; i < m; i++) {
        redisReply *r = NULL;
        if (redisGetReply(sub, (void **)&r) != REDIS_OK || !r) {
            rv = tq_client_seterr(c, TQ_EREDIS, "Redis connection failed during SUBSCRIBE: %s",
                                  sub->errstr);
            goto done;
        }
        const char *kind = tq_reply_str(r, 0, NULL);
        if (r->type == REDIS_REPLY_ERROR)
            rv = tq_client_seterr(c, TQ_EREDIS, "Redis answered SUBSCRIBE with an error: %s",
                                  r->str);
        else if (!kind || strcmp(kind, "subscribe"))
            rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered SUBSCRIBE with something else");
        freeReplyObject(r);
        if (rv)
            goto done;
    }
done:
    free(argv);
    free(chans);
    return rv;
}

int64_t tq_client_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tq_client_sub_next(tq_client *c, redisContext *sub, int64_t deadline,
                       int64_t recheck_ms, redisReply **r)
{
    *r = NULL;
    for (;;) {
        if (redisGetReplyFromReader(sub, (void **)r) != REDIS_OK)
            return tq_client_seterr(c, TQ_EPROTO, "Redis sent garbage on the wait connection");
        if (*r)
            return 1;
        int64_t left = recheck_ms;
        if (deadline >= 0) {
            int64_t now = tq_client_mono_ms();
            if (now >= deadline)
                return TQ_ETIMEDOUT;
            if (deadline - now < left)
                left = deadline - now;
        }
        struct pollfd pfd = {.fd = sub->fd, .events = POLLIN};
        int k = poll(&pfd, 1, (int)left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return tq_client_seterr(c, TQ_EREDIS, "waiting on Redis: %s", strerror(errno));
        if (k == 0)
            return deadline >= 0 && tq_client_mono_ms() >= deadline ? TQ_ETIMEDOUT : 0;
        if (redisGetReply(sub, (void **)r) != REDIS_OK || !*r)
            return tq_client_seterr(c, TQ_EREDIS,
                                    "Redis connection failed while waiting: %s",
                                    sub->errstr[0] ? sub->errstr : "closed");
        return 1;
    }
}

static size_t count_waiting(const waiter *w)
{
    size_t k = 0;
    for (size_t i = 0; i < w->n; i++)
        k += w->slots[i].st == W_WAITING;
    return k;
}

/* Reads done messages until every slot is settled or the deadline passes.
 * Messages already buffered are drained without blocking, so a burst of
 * finishes costs one pipeline of HGETALLs. After WAIT_RECHECK_MS of silence
 * it re-runs waitprep: a safety net for a record deleted without a publish
 * (purge) or a link that died without a word, not the way jobs are seen
 * to finish. Returns 0, TQ_ETIMEDOUT or an error. */
static int wait_loop(waiter *w, redisContext *sub, int64_t deadline)
{
    tq_client *c = w->c;
    int rv = 0;

    w->ntodo = 0;
    while (count_waiting(w)) {
        redisReply *r = NULL;
        for (;;) {
            if (redisGetReplyFromReader(sub, (void **)&r) != REDIS_OK)
                return tq_client_seterr(c, TQ_EPROTO, "Redis sent garbage on the wait connection");
            if (!r)
                break;
            wait_message(w, r);
            freeReplyObject(r);
        }
        if (w->ntodo == 0) {
            int k = tq_client_sub_next(c, sub, deadline, WAIT_RECHECK_MS, &r);
            if (k < 0)
                return k;
            if (k == 0) {
                if ((rv = wait_prepare(w)))
                    return rv;
                w->ntodo = 0;
                continue;
            }
            wait_message(w, r);
            freeReplyObject(r);
            continue; /* drain what else arrived before fetching */
        }
        rv = tq_client_pipeline_argv(c, w->ntodo, fetch_argv, fetch_reply, w);
        for (size_t i = 0; i < w->ntodo; i++)
            w->slots[w->todo[i]].queued = 0;
        w->ntodo = 0;
        if (rv)
            return rv;
    }
    return 0;
}

int tq_wait(tq_client *c, const char *const *ids, size_t n, int64_t timeout_ms,
            tq_job **out)
{
    int64_t deadline = timeout_ms < 0 ? -1 : tq_client_mono_ms() + timeout_ms;
    tq_client_queue **queues = NULL;
    redisContext *sub = NULL;
    size_t timedout = 0;
    waiter w;
    char err[300];
    int rv;

    memset(&w, 0, sizeof w);
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if ((rv = tq_client_begin(c)))
        return rv;
    for (size_t i = 0; i < n; i++)
        if ((rv = tq_client_check_id(c, ids[i])))
            return rv;
    if (n == 0)
        return 0;
    w.c = c;
    w.n = n;
    w.out = out;
    w.slots = calloc(n, sizeof *w.slots);
    w.todo = malloc(n * sizeof *w.todo);
    w.byid = malloc(n * sizeof *w.byid);
    queues = malloc(n * sizeof *queues);
    if (!w.slots || !w.todo || !w.byid || !queues) {
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        goto done;
    }
    if ((rv = tq_client_locate(c, TQ_LOCATE_JOB, ids, n, queues)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        w.slots[i].id = ids[i];
        w.slots[i].q = queues[i];
        w.slots[i].st = queues[i] ? W_WAITING : W_MISSING;
        w.byid[i] = i;
    }
    qsort_r(w.byid, n, sizeof *w.byid, cmp_byid, w.slots);

    if (count_waiting(&w)) {
        sub = tq_redis_connect(&c->addr, TQ_CLIENT_CONNECT_MS, err, sizeof err);
        if (!sub) {
            rv = tq_client_seterr(c, TQ_EREDIS, "%s", err);
            goto done;
        }
        if ((rv = wait_subscribe(&w, sub)) || (rv = wait_prepare(&w)))
            goto done;
        rv = wait_loop(&w, sub, deadline);
    }
    if (rv == TQ_ETIMEDOUT) {
        /* Report where the unfinished jobs stand. */
        w.ntodo = 0;
        for (size_t i = 0; i < n; i++)
            if (w.slots[i].st == W_WAITING)
                w.todo[w.ntodo++] = i;
        w.final = 1;
        rv = tq_client_pipeline_argv(c, w.ntodo, fetch_argv, fetch_reply, &w);
        timedout = count_waiting(&w);
    }
    if (rv)
        goto done;
    /* a missing job beats a timeout (docs/design.md §6) */
    for (size_t i = 0; i < n && !rv; i++)
        if (w.slots[i].st == W_MISSING)
            rv = tq_client_seterr(c, TQ_ENOTFOUND, "no such job '%s'", ids[i]);
    if (!rv && timedout)
        rv = tq_client_seterr(c, TQ_ETIMEDOUT, "timed out waiting for %zu of %zu job%s",
                              timedout, n, n == 1 ? "" : "s");
done:
    if (rv && rv != TQ_ETIMEDOUT && rv != TQ_ENOTFOUND) {
        for (size_t i = 0; i < n; i++) {
            tq_job_free(out[i]);
            out[i] = NULL;
        }
    }
    if (sub)
        redisFree(sub);
    free(queues);
    free(w.slots);
    free(w.todo);
    free(w.byid);
    return rv;
}

/* ---------------------------------------------------------------- cancel */

int tq_cancel(tq_client *c, const char *id, tq_state *before)
{
    tq_client_queue *q = NULL;
    char jk[TQ_KEY_SIZE];
    tq_state st = TQ_STATE_UNKNOWN;
    tq_cmd cmd;
    tq_perr e;
    redisReply *r;
    int rv;

    if (before)
        *before = TQ_STATE_UNKNOWN;
    if ((rv = tq_client_begin(c)) || (rv = tq_client_check_id(c, id)) ||
        (rv = tq_client_locate(c, TQ_LOCATE_JOB, &id, 1, &q)))
        return rv;
    if (!q)
        return tq_client_seterr(c, TQ_ENOTFOUND, "no such job '%s'", id);
    tq_cmd_init(&cmd, TQ_SCRIPT_CANCEL);
    if ((rv = tq_cancel_req_build(&cmd, q->keys, &c->nk, id, jk, &e))) {
        tq_cmd_clear(&cmd);
        return tq_client_seterr(c, rv, "%s", e.text);
    }
    if (cmd.oom) {
        tq_cmd_clear(&cmd);
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    }
    r = tq_cmd_run(c->rc, &cmd);
    tq_cmd_clear(&cmd);
    if ((rv = tq_client_check(c, r, "cancel")))
        goto done;
    if ((rv = tq_cancel_req_reply(r, id, &st, &e)))
        rv = tq_client_seterr(c, rv, "%s", e.text);
    else if (before)
        *before = st;
done:
    if (r)
        freeReplyObject(r);
    return rv;
}
