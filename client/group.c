/* group.c -- following a group: wait, status, cancel.
 *
 * A group is a hash P:{Q}:g:GID (total, done, ok, sealed, fanin, ...) and
 * the list of its members' ids P:{Q}:gm:GID, in submission order. Its id
 * ends with the queue's tag, as a job's does, so the locate script finds its
 * queue (docs/design.md §4). The broker keeps the counts: finish() in
 * lib.lua counts each member once and completes the group when the last
 * one ends. So waiting on a group is waiting on one event: tq_group_wait
 * subscribes to P:done:GID *first*, then runs gprep, which marks the group
 * watched and says where it stands; a completion between the two steps is
 * either seen by gprep or published to a channel already listened to. With
 * a progress callback, gprep asks for one message per finished member too.
 * Creating groups is in submit.c, with the other submits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_private.h"
#include "proto/proto_private.h"

#define GROUP_RECHECK_MS 10000 /* silence after which a wait re-reads its group */
#define CANCEL_CHUNK 1000      /* members per gcancel call */
#define CANCEL_REASON "cancelled by user (group cancel)"

void tq_jobs_free(tq_job **jobs, size_t n)
{
    if (!jobs)
        return;
    for (size_t i = 0; i < n; i++)
        tq_job_free(jobs[i]);
    free(jobs);
}

/* ---------------------------------------------------------------- finding a group */

/* A group's keys, once its queue is known. */
typedef struct gref {
    const char *gid;
    tq_client_queue *q;
    char gk[TQ_KEY_SIZE], gmk[TQ_KEY_SIZE], chan[TQ_KEY_SIZE];
} gref;

/* Finds the group's queue (the locate script). TQ_ENOTFOUND when there is none. */
static int group_find(tq_client *c, const char *gid, gref *g)
{
    int rv;
    memset(g, 0, sizeof *g);
    g->gid = gid;
    if ((rv = tq_client_begin(c)))
        return rv;
    if (!gid || tq_client_check_id(c, gid)) {
        if (!gid)
            tq_client_seterr(c, TQ_EINVAL, "no group id");
        return TQ_EINVAL;
    }
    if ((rv = tq_client_locate(c, TQ_LOCATE_GROUP, &gid, 1, &g->q)))
        return rv;
    if (!g->q)
        return tq_client_seterr(c, TQ_ENOTFOUND, "no such group '%s'", gid);
    if (!tq_key_join(g->gk, sizeof g->gk, g->q->keys->group_prefix, gid) ||
        !tq_key_join(g->gmk, sizeof g->gmk, g->q->keys->members_prefix, gid) ||
        !tq_key_join(g->chan, sizeof g->chan, c->nk.done_prefix, gid))
        return tq_client_seterr(c, TQ_EINVAL, "group id '%s' is too long", gid);
    return 0;
}

static int no_group(tq_client *c, const char *gid)
{
    return tq_client_seterr(c, TQ_ENOTFOUND, "no such group '%s'", gid);
}

/* The member ids, in order (LRANGE gm 0 -1); *r is the caller's to free. */
static int group_members(tq_client *c, gref *g, redisReply **r)
{
    const char *argv[] = {"LRANGE", g->gmk, "0", "-1"};
    int rv = tq_client_command(c, 4, argv, "LRANGE members", r);
    if (!rv && (*r)->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(*r);
        *r = NULL;
        rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered LRANGE with something else");
    }
    for (size_t i = 0; !rv && i < (*r)->elements; i++) {
        const char *id = tq_reply_str(*r, i, NULL);
        tq_perr e;
        if (!id || tq_id_check(id, &e)) {
            freeReplyObject(*r);
            *r = NULL;
            rv = tq_client_seterr(c, TQ_EPROTO, "group '%s' lists a member that is no id",
                                  g->gid);
        }
    }
    return rv;
}

/* ---------------------------------------------------------------- reading members */

typedef struct mread {
    gref *g;
    const redisReply *ids;
    tq_job **out;
    char key[TQ_KEY_SIZE];
} mread;

static int mread_argv(const char **argv, size_t *lens, size_t i, void *ud)
{
    mread *m = ud;
    if (!tq_key_join(m->key, sizeof m->key, m->g->q->keys->job_prefix,
                     m->ids->element[i]->str))
        return -1;
    argv[0] = "HGETALL";
    argv[1] = m->key;
    return 2;
}

static int mread_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    mread *m = ud;
    return tq_client_record(c, m->ids->element[i]->str, m->g->q->keys->queue, r,
                            &m->out[i]);
}

/* Every member's record, in submission order. */
static int read_members(tq_client *c, gref *g, tq_job ***out, size_t *n)
{
    redisReply *ids = NULL;
    mread m;
    int rv;

    if ((rv = group_members(c, g, &ids)))
        return rv;
    m.g = g;
    m.ids = ids;
    m.out = calloc(ids->elements ? ids->elements : 1, sizeof *m.out);
    if (!m.out) {
        freeReplyObject(ids);
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    }
    rv = tq_client_pipeline_argv(c, ids->elements, mread_argv, mread_reply, &m);
    if (rv) {
        tq_jobs_free(m.out, ids->elements);
    } else {
        *out = m.out;
        *n = ids->elements;
    }
    freeReplyObject(ids);
    return rv;
}

/* ---------------------------------------------------------------- wait */

/* What gprep said: {total, done, ok, sealed, finished_at|nil, fanin|nil}. */
typedef struct gstate {
    long long total, done;
    int finished;
} gstate;

static int group_prep(tq_client *c, gref *g, int progress, gstate *st)
{
    tq_cmd cmd;
    int rv;

    tq_cmd_init(&cmd, TQ_SCRIPT_GPREP);
    tq_cmd_key(&cmd, g->gk);
    tq_cmd_args(&cmd, progress ? "p" : "1");
    if (cmd.oom) {
        tq_cmd_clear(&cmd);
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    }
    if ((rv = tq_client_connect(c))) {
        tq_cmd_clear(&cmd);
        return rv;
    }
    redisReply *r = tq_cmd_run(c->rc, &cmd);
    tq_cmd_clear(&cmd);
    if ((rv = tq_client_check(c, r, "gprep")))
        goto done;
    if (r->type == REDIS_REPLY_NIL) {
        rv = no_group(c, g->gid);
        goto done;
    }
    if (tq_reply_int(r, 0, &st->total) || tq_reply_int(r, 1, &st->done)) {
        rv = tq_client_seterr(c, TQ_EPROTO, "group '%s' has no valid counts", g->gid);
        goto done;
    }
    st->finished = tq_reply_str(r, 4, NULL) != NULL;
done:
    if (r)
        freeReplyObject(r);
    return rv;
}

/* A message on the group's channel: "done", or "progress DONE TOTAL". */
static void group_message(const redisReply *r, gstate *st, tq_group_progress_fn *progress,
                          void *ud)
{
    const char *kind = tq_reply_str(r, 0, NULL);
    const char *payload = tq_reply_str(r, 2, NULL);
    long long d, t;
    if (!kind || strcmp(kind, "message") || !payload)
        return;
    if (!strcmp(payload, "done")) {
        st->finished = 1;
    } else if (sscanf(payload, "progress %lld %lld", &d, &t) == 2) {
        if (d > st->done)
            st->done = d;
        if (t > st->total)
            st->total = t;
        if (progress)
            progress((size_t)st->done, (size_t)st->total, ud);
    }
}

static int subscribe(tq_client *c, redisContext *sub, const char *chan)
{
    const char *argv[] = {"SUBSCRIBE", chan};
    redisReply *r = redisCommandArgv(sub, 2, argv, NULL);
    int rv = 0;
    if (!r)
        return tq_client_seterr(c, TQ_EREDIS, "Redis connection failed during SUBSCRIBE: %s",
                                sub->errstr);
    if (r->type == REDIS_REPLY_ERROR)
        rv = tq_client_seterr(c, TQ_EREDIS, "Redis answered SUBSCRIBE with an error: %s",
                              r->str);
    freeReplyObject(r);
    return rv;
}

/* Reads the group's channel until it says done or the deadline passes.
 * After GROUP_RECHECK_MS of silence it re-runs gprep: a safety net for a
 * link that died without a word, not the way completion is seen. */
static int group_loop(tq_client *c, gref *g, redisContext *sub, int64_t deadline,
                      tq_group_progress_fn *progress, void *ud, gstate *st)
{
    int rv;
    while (!st->finished) {
        redisReply *r = NULL;
        int k = tq_client_sub_next(c, sub, deadline, GROUP_RECHECK_MS, &r);
        if (k < 0)
            return k;
        if (k == 0) {
            if ((rv = group_prep(c, g, progress != NULL, st)))
                return rv;
            continue;
        }
        group_message(r, st, progress, ud);
        freeReplyObject(r);
    }
    return 0;
}

int tq_group_wait(tq_client *c, const char *gid, int64_t timeout_ms,
                  tq_group_progress_fn *progress, void *ud, tq_job ***out,
                  size_t *n)
{
    int64_t deadline = timeout_ms < 0 ? -1 : (int64_t)tq_mono_ms() + timeout_ms;
    redisContext *sub = NULL;
    gstate st = {0, 0, 0};
    char err[300];
    gref g;
    int rv;

    *out = NULL;
    *n = 0;
    if ((rv = group_find(c, gid, &g)))
        return rv;
    sub = tq_redis_connect(&c->addr, TQ_CLIENT_CONNECT_MS, err, sizeof err);
    if (!sub)
        return tq_client_seterr(c, TQ_EREDIS, "%s", err);
    if ((rv = subscribe(c, sub, g.chan)) || (rv = group_prep(c, &g, progress != NULL, &st)))
        goto done;
    if (progress)
        progress((size_t)st.done, (size_t)st.total, ud);
    rv = group_loop(c, &g, sub, deadline, progress, ud, &st);
    if (rv && rv != TQ_ETIMEDOUT)
        goto done;
    int timedout = rv == TQ_ETIMEDOUT;
    if ((rv = read_members(c, &g, out, n)))
        goto done;
    if (timedout)
        rv = tq_client_seterr(c, TQ_ETIMEDOUT, "timed out waiting for group '%s': %lld of "
                              "%lld members finished", gid, st.done, st.total);
    else if (progress)
        progress((size_t)st.total, (size_t)st.total, ud);
done:
    redisFree(sub);
    return rv;
}

/* ---------------------------------------------------------------- status */

typedef struct sread {
    gref *g;
    const redisReply *ids;
    tq_group_info *info;
    char key[TQ_KEY_SIZE];
} sread;

static int sread_argv(const char **argv, size_t *lens, size_t i, void *ud)
{
    sread *s = ud;
    if (!tq_key_join(s->key, sizeof s->key, s->g->q->keys->job_prefix,
                     s->ids->element[i]->str))
        return -1;
    argv[0] = "HGET";
    argv[1] = s->key;
    argv[2] = "state";
    return 3;
}

static int sread_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    sread *s = ud;
    tq_state st = TQ_STATE_UNKNOWN;
    if (r->type == REDIS_REPLY_STRING)
        st = tq_state_parse(r->str);
    else if (r->type != REDIS_REPLY_NIL)
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered HGET with something else");
    s->info->count[st]++;
    return 0;
}

/* The value of field f in an HGETALL reply, or NULL. */
static const char *hfield(const redisReply *r, const char *f)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = tq_reply_str(r, i, NULL);
        if (k && !strcmp(k, f))
            return tq_reply_str(r, i + 1, NULL);
    }
    return NULL;
}

static size_t hnum(const redisReply *r, const char *f)
{
    const char *v = hfield(r, f);
    long long x = v ? strtoll(v, NULL, 10) : 0;
    return x > 0 ? (size_t)x : 0;
}

int tq_group_status(tq_client *c, const char *gid, tq_group_info *out)
{
    redisReply *h = NULL, *ids = NULL;
    gref g;
    int rv;

    memset(out, 0, sizeof *out);
    if ((rv = group_find(c, gid, &g)))
        return rv;
    const char *argv[] = {"HGETALL", g.gk};
    if ((rv = tq_client_command(c, 2, argv, "HGETALL group", &h)))
        return rv;
    if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
        rv = no_group(c, gid);
        goto done;
    }
    snprintf(out->id, sizeof out->id, "%s", gid);
    snprintf(out->queue, sizeof out->queue, "%s", g.q->keys->queue);
    out->total = hnum(h, "total");
    out->done = hnum(h, "done");
    out->ok = hnum(h, "ok");
    const char *s = hfield(h, "sealed");
    out->sealed = s && !strcmp(s, "1");
    s = hfield(h, "created_at");
    out->created_at = s ? strtod(s, NULL) : 0;
    s = hfield(h, "finished_at");
    out->finished = s != NULL;
    out->finished_at = s ? strtod(s, NULL) : 0;
    s = hfield(h, "fanin");
    tq_perr e;
    if (s && !tq_id_check(s, &e))
        snprintf(out->fanin, sizeof out->fanin, "%s", s);
    if ((rv = group_members(c, &g, &ids)))
        goto done;
    sread sr = {&g, ids, out, {0}};
    if ((rv = tq_client_pipeline_argv(c, ids->elements, sread_argv, sread_reply, &sr)))
        goto done;
    if (out->fanin[0]) {
        redisReply *f = NULL;
        char fk[TQ_KEY_SIZE];
        if (!tq_key_join(fk, sizeof fk, g.q->keys->job_prefix, out->fanin)) {
            rv = tq_client_seterr(c, TQ_EINVAL, "fan-in id too long");
            goto done;
        }
        const char *fargv[] = {"HGET", fk, "state"};
        if ((rv = tq_client_command(c, 3, fargv, "HGET fan-in", &f)))
            goto done;
        if (f->type == REDIS_REPLY_STRING)
            out->fanin_state = tq_state_parse(f->str);
        freeReplyObject(f);
    }
done:
    if (h)
        freeReplyObject(h);
    if (ids)
        freeReplyObject(ids);
    return rv;
}

/* ---------------------------------------------------------------- cancel */

int tq_group_cancel(tq_client *c, const char *gid, size_t *cancelled,
                    size_t *stopping)
{
    long long start = 0, now = 0, flagged = 0;
    gref g;
    int rv;

    if (cancelled)
        *cancelled = 0;
    if (stopping)
        *stopping = 0;
    if ((rv = group_find(c, gid, &g)))
        return rv;
    while (start >= 0) {
        /* gcancel: KEYS group members sched stats; ARGV PJ PD chan reason
         * gid start count */
        tq_cmd cmd;
        tq_cmd_init(&cmd, TQ_SCRIPT_GCANCEL);
        tq_cmd_key(&cmd, g.gk);
        tq_cmd_key(&cmd, g.gmk);
        tq_cmd_key(&cmd, g.q->keys->sched);
        tq_cmd_key(&cmd, g.q->keys->stats);
        tq_cmd_args(&cmd, g.q->keys->job_prefix);
        tq_cmd_args(&cmd, c->nk.done_prefix);
        tq_cmd_args(&cmd, c->nk.cancel_chan);
        tq_cmd_args(&cmd, CANCEL_REASON);
        tq_cmd_args(&cmd, gid);
        tq_cmd_argi(&cmd, start);
        tq_cmd_argi(&cmd, CANCEL_CHUNK);
        if (cmd.oom) {
            tq_cmd_clear(&cmd);
            return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        }
        if ((rv = tq_client_connect(c))) {
            tq_cmd_clear(&cmd);
            return rv;
        }
        redisReply *r = tq_cmd_run(c->rc, &cmd);
        tq_cmd_clear(&cmd);
        if ((rv = tq_client_check(c, r, "gcancel"))) {
            if (r)
                freeReplyObject(r);
            return rv;
        }
        long long a, b, nxt;
        if (r->type == REDIS_REPLY_NIL) {
            rv = start ? 0 : no_group(c, gid);
            freeReplyObject(r);
            if (rv)
                return rv;
            break;
        }
        if (tq_reply_int(r, 0, &a) || tq_reply_int(r, 1, &b) || tq_reply_int(r, 2, &nxt)) {
            freeReplyObject(r);
            return tq_client_seterr(c, TQ_EPROTO, "Redis answered gcancel with something else");
        }
        freeReplyObject(r);
        now += a;
        flagged += b;
        start = nxt;
    }
    if (cancelled)
        *cancelled = (size_t)now;
    if (stopping)
        *stopping = (size_t)flagged;
    return 0;
}
