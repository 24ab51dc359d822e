/* dash.c -- the calls of libtq's own that `tq dashboard` needs beyond
 * the operator's commands: the age of a queue's oldest pending job (the
 * qoldest script), deleting a finished job (the jobdel script), and its
 * schedules' ticker's two calls (schedpeek, schedfire: what to do with
 * them is broker/schedtick.c's, shared with the worker).
 *
 * Everything else the dashboard shows or does goes through the calls `tq
 * stats`, `tq jobs`, `tq dlq` ... already make (admin.h), so the page and
 * the command line never disagree.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/schedtick.h"
#include "client/admin.h"
#include "client/client_private.h"

int tq_admin_queue_oldest(tq_client *c, const char *queue, double *created_at)
{
    redisReply *r = NULL;
    tq_client_queue *q;
    tq_cmd cmd;
    int rv;

    *created_at = 0;
    if ((rv = tq_client_begin(c)))
        return rv;
    if (!(q = tq_client_queue_of(c, queue)))
        return c->err;
    tq_cmd_init(&cmd, TQ_SCRIPT_QOLDEST);
    for (int p = 0; p < TQ_NPRIO; p++)
        tq_cmd_key(&cmd, q->keys->pending[p]);
    tq_cmd_args(&cmd, q->keys->job_prefix);
    if ((rv = tq_client_run(c, &cmd, "qoldest", &r)))
        return rv;
    if (r->type == REDIS_REPLY_STRING)
        *created_at = strtod(r->str, NULL);
    else if (r->type != REDIS_REPLY_NIL)
        rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered qoldest with something else");
    freeReplyObject(r);
    return rv;
}

int tq_admin_job_delete(tq_client *c, const char *id, int *deleted)
{
    char jk[TQ_KEY_SIZE];
    tq_client_queue *q;
    long long n;
    tq_cmd cmd;
    int rv;

    *deleted = 0;
    if ((rv = tq_client_job_of(c, id, &q, jk)))
        return rv;
    tq_cmd_init(&cmd, TQ_SCRIPT_JOBDEL);
    tq_cmd_key(&cmd, jk);
    tq_cmd_key(&cmd, q->keys->dead);
    tq_cmd_args(&cmd, id);
    if (!(rv = tq_client_run_job(c, &cmd, "jobdel", id, &n)))
        *deleted = (int)n;
    return rv;
}

int tq_admin_sched_peek(tq_client *c, tq_schedtick *t, tq_schedtick_plan *p)
{
    redisReply *r = NULL;
    tq_cmd cmd;
    int rv;

    if ((rv = tq_client_begin(c)))
        return rv;
    tq_schedtick_peek_cmd(t, &cmd);
    if ((rv = tq_client_run(c, &cmd, "schedpeek", &r)))
        return rv;
    tq_schedtick_plan_of(t, r, p);
    freeReplyObject(r);
    return 0;
}

int tq_admin_sched_fire(tq_client *c, const tq_schedtick *t, const tq_schedtick_plan *p,
                        const char *mode, char what[16])
{
    redisReply *r = NULL;
    const char *w;
    tq_cmd cmd;
    int rv;

    what[0] = '\0';
    if ((rv = tq_client_begin(c)))
        return rv;
    tq_schedtick_fire_cmd(t, p, mode, &cmd);
    if ((rv = tq_client_run(c, &cmd, "schedfire", &r)))
        return rv;
    if ((w = tq_reply_str(r, 0, NULL)) && strlen(w) < 16)
        strcpy(what, w);
    freeReplyObject(r);
    return 0;
}
