/* status.c -- finding jobs by id: locate, status, result, cancel.
 *
 * An id carries its queue's tag, so the locate script finds the queue of a
 * batch of ids in one call (a plain id of no tag is probed in every queue,
 * and costs more of a call's budget); the record is then read or the cancel
 * script run in that queue.
 */
#include <stdlib.h>
#include <string.h>

#include "client/client_private.h"
#include "proto/proto_private.h"

/* ---------------------------------------------------------------- locate */

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

int tq_client_job_of(tq_client *c, const char *id, tq_client_queue **q,
                     char jk[TQ_KEY_SIZE])
{
    tq_perr e;
    int rv;

    if ((rv = tq_client_begin(c)))
        return rv;
    if (tq_id_check(id, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if ((rv = tq_client_locate(c, TQ_LOCATE_JOB, &id, 1, q)))
        return rv;
    if (!*q)
        return tq_client_seterr(c, TQ_ENOTFOUND, "no such job '%s'", id);
    if (!tq_key_join(jk, TQ_KEY_SIZE, (*q)->keys->job_prefix, id))
        return tq_client_seterr(c, TQ_EINVAL, "job id '%s' is too long", id);
    return 0;
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
    if ((rv = tq_client_run(c, &cmd, "cancel", &r)))
        return rv;
    if ((rv = tq_cancel_req_reply(r, id, &st, &e)))
        rv = tq_client_seterr(c, rv, "%s", e.text);
    else if (before)
        *before = st;
    freeReplyObject(r);
    return rv;
}
