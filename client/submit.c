/* submit.c -- every submit of the blocking client: one job, many, a chain,
 * a group.
 *
 * Jobs are created in batches of a few hundred per script call (submitn),
 * the options shared; only --unique goes one job per call (submit), since
 * its answer may be another job's id. A group is gnew, its members in
 * batches, gseal, all in one pipeline (following a group is in group.c).
 * request.c spells the calls; this file runs them and, after a failure
 * partway, leaves in ids exactly the jobs that were created. A durable
 * submit (o->durable) ends with one WAIT after all of its calls, on the
 * same connection (tq_client_durable): one round trip per submit or batch,
 * not per job.
 */
#include <stdlib.h>
#include <string.h>

#include "client/client_private.h"
#include "proto/proto_private.h"

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
    if ((rv = tq_client_connect(c)) ||
        (o->rate_limit && (rv = tq_client_ratelimit_check(c, o->rate_limit))) ||
        (rv = tq_client_register_queue(c, *q)))
        return rv;
    *due = tq_due_ms(o);
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
    if ((rv = submit_run(c, &req, NULL)))
        return rv;
    return tq_client_durable(c, o);
}

/* The start of a public submit that takes raw args: clears the last error,
 * checks there are args (and, with ids_out, room for the ids, which it
 * blanks: "" marks a job not submitted), and normalizes the args into
 * *norm (freed by tq_args_free_many). */
static int begin_args(tq_client *c, const char *const *args, size_t n,
                      const tq_submit_opts *o, char (*ids)[TQ_ID_SIZE],
                      int ids_out, char ***norm)
{
    size_t max = o && o->max_args ? o->max_args : TQ_MAX_ARGS_DEFAULT;
    tq_perr e;
    int rv;

    if ((rv = tq_client_begin(c)))
        return rv;
    if (n && !args)
        return tq_client_seterr(c, TQ_EINVAL, "no args given");
    if (ids_out && n && !ids)
        return tq_client_seterr(c, TQ_EINVAL, "no room for the ids");
    for (size_t i = 0; ids_out && i < n; i++)
        ids[i][0] = '\0';
    if ((rv = tq_args_normalize_many(args, n, max, norm, &e)))
        return tq_client_seterr(c, rv, "%s", e.text);
    return 0;
}

int tq_submit_many(tq_client *c, const char *task, const char *const *args,
                   size_t n, const tq_submit_opts *o, char (*ids)[TQ_ID_SIZE])
{
    char **norm;
    int rv;

    if ((rv = begin_args(c, args, n, o, ids, 1, &norm)))
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

/* chain: KEYS pending sched wake; ARGV PJ due_ms args opts n (id task)*n fair_key */
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
    tq_cmd_args(cmd, ch->o->fair_key ? ch->o->fair_key : "");
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
    return rv ? rv : tq_client_durable(c, o);
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
    if (!rv)
        rv = tq_client_durable(c, o);
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
    char **norm;
    int rv;

    if ((rv = begin_args(c, args, n, o, ids, 0, &norm)))
        return rv;
    rv = tq_client_group_submit_normalized(c, task, (const char *const *)norm, n, o,
                                           then, gid, fanin, ids);
    tq_args_free_many(norm, n);
    return rv;
}
