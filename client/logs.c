/* logs.c -- tq_logs: an exec job's stderr, kept or live.
 *
 * What is kept: P:{Q}:log:ID holds the last 64 KiB of the stderr of the
 * job's latest delivery that wrote any, written by its worker with the
 * outcome; the record's `log` field is the number of bytes that delivery
 * wrote in all, so the kept text starts at byte log - len.
 *
 * What is live: a worker publishes a running job's output on P:log:ID only
 * while someone listens. A follower subscribes to P:log:ID first, then
 * PUBLISHes the id on P:logreq; the worker running the job answers with a
 * snapshot of what it holds ("s ATTEMPT OFFSET DATA"), then sends chunks
 * ("c ATTEMPT OFFSET DATA") at most every 200 ms while the job writes, and
 * "e ATTEMPT TOTAL" once the attempt's output is kept (logput). Every
 * message carries the byte offset of its data, so the follower prints each
 * byte once, in order, whatever it gets twice (a snapshot after chunks, the
 * kept text after the live one). A chunk that leaves a gap before the
 * snapshot came is skipped (the snapshot covers it); one that leaves a gap
 * after (more than 64 KiB came between two chunks) is printed from where it
 * starts: those bytes are lost to the follower.
 *
 * The record is read again after each "e" and after every second without
 * a message: that is how a follow ends (the job is terminal) and how it
 * survives what says nothing (a worker that died, a record deleted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_private.h"
#include "proto/proto_private.h"

#define LOGS_RECHECK_MS 1000   /* silence after which the record is read again */
#define LOGS_SNAPSHOT_MS 1000  /* tq logs of a running job: wait this for it */

typedef struct follow {
    tq_client *c;
    tq_output_fn *fn;
    void *ud;
    char jk[TQ_KEY_SIZE], lk[TQ_KEY_SIZE], chan[TQ_KEY_SIZE], req[TQ_KEY_SIZE];
    const char *id;
    long long att;              /* the attempt being printed; -1 none yet */
    unsigned long long printed; /* bytes of it printed */
    int synced;                 /* a snapshot of this attempt came */
} follow;

/* Emits the part of data (which starts at byte off) not printed yet. */
static void emit(follow *f, unsigned long long off, const char *data, size_t len)
{
    unsigned long long end = off + len;

    if (end <= f->printed)
        return;
    if (off < f->printed) {
        data += f->printed - off;
        len -= (size_t)(f->printed - off);
    }
    if (len)
        f->fn(data, len, f->ud);
    f->printed = end;
}

/* The record's state, attempt and `log`; *state "" when there is none. */
static int read_record(follow *f, char *state, size_t n, long long *att,
                       unsigned long long *total)
{
    const char *argv[] = {"HMGET", f->jk, "state", "attempt", "log"};
    redisReply *r = NULL;
    const char *s;
    int rv = tq_client_command(f->c, 5, argv, "reading the job", &r);

    if (rv)
        return rv;
    state[0] = '\0';
    *att = 0;
    *total = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
        if ((s = tq_reply_str(r, 0, NULL)))
            snprintf(state, n, "%s", s);
        if ((s = tq_reply_str(r, 1, NULL)))
            *att = strtoll(s, NULL, 10);
        if ((s = tq_reply_str(r, 2, NULL)))
            *total = strtoull(s, NULL, 10);
    }
    freeReplyObject(r);
    return 0;
}

/* Emits the kept text (of the attempt the record names) from where the
 * follower is. */
static int emit_kept(follow *f, long long att, unsigned long long total)
{
    const char *argv[] = {"GET", f->lk};
    redisReply *r = NULL;
    int rv = tq_client_command(f->c, 2, argv, "reading the job's output", &r);

    if (rv)
        return rv;
    if (att != f->att) {
        f->att = att;
        f->printed = 0;
    }
    if (r->type == REDIS_REPLY_STRING && (unsigned long long)r->len <= total)
        emit(f, total - (unsigned long long)r->len, r->str, r->len);
    freeReplyObject(r);
    return 0;
}

/* Asks the worker running the job for a snapshot. */
static int ask(follow *f)
{
    const char *argv[] = {"PUBLISH", f->req, f->id};
    redisReply *r = NULL;
    int rv = tq_client_command(f->c, 3, argv, "asking for the job's output", &r);

    freeReplyObject(r);
    return rv;
}

/* One message of P:log:ID. Returns 1 for "e" (read the record now), else 0. */
static int on_message(follow *f, const redisReply *r)
{
    const char *kind = tq_reply_str(r, 0, NULL);
    size_t len = 0, i = 0;
    const char *m = tq_reply_str(r, 2, &len);
    char head[64], *end;
    long long att;
    unsigned long long off;

    if (!kind || strcmp(kind, "message") || !m || len < 5)
        return 0;
    /* "K ATTEMPT OFFSET DATA" / "e ATTEMPT TOTAL" */
    memcpy(head, m, len < sizeof head - 1 ? len : sizeof head - 1);
    head[len < sizeof head - 1 ? len : sizeof head - 1] = '\0';
    if (head[1] != ' ')
        return 0;
    att = strtoll(head + 2, &end, 10);
    if (*end != ' ')
        return 0;
    off = strtoull(end + 1, &end, 10);
    if (head[0] == 'e')
        return 1;
    if ((head[0] != 'c' && head[0] != 's') || *end != ' ')
        return 0;
    i = (size_t)(end - head) + 1;
    if (att < f->att)
        return 0; /* an older attempt's */
    if (att > f->att) {
        f->att = att;
        f->printed = 0;
        f->synced = 0;
    }
    if (head[0] == 's')
        f->synced = 1;
    else if (off > f->printed && !f->synced)
        return 0; /* a gap the snapshot will fill */
    if (off > f->printed)
        f->printed = off; /* lost: more than the worker keeps came between */
    emit(f, off, m + i, len - i);
    return 0;
}

static redisContext *subscribe(follow *f)
{
    char err[300];
    redisContext *sub = tq_redis_connect(&f->c->addr, TQ_CLIENT_CONNECT_MS, err,
                                         sizeof err);
    redisReply *r;

    if (!sub) {
        tq_client_seterr(f->c, TQ_EREDIS, "%s", err);
        return NULL;
    }
    r = redisCommand(sub, "SUBSCRIBE %s", f->chan);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        tq_client_seterr(f->c, TQ_EREDIS, "Redis refused SUBSCRIBE %s: %s",
                         f->chan, r ? r->str : sub->errstr);
        if (r)
            freeReplyObject(r);
        redisFree(sub);
        return NULL;
    }
    freeReplyObject(r);
    return sub;
}

static int logs_follow(follow *f, redisContext *sub)
{
    char state[32];
    long long att;
    unsigned long long total;
    int first = 1, rv;

    for (;;) {
        if ((rv = read_record(f, state, sizeof state, &att, &total)))
            return rv;
        if (!state[0])
            return first ? tq_client_seterr(f->c, TQ_ENOTFOUND, "no such job '%s'",
                                            f->id)
                         : 0; /* deleted meanwhile */
        first = 0;
        if (strcmp(state, "active") != 0) {
            if (total > 0 && (rv = emit_kept(f, att, total)))
                return rv;
            if (tq_state_terminal(tq_state_parse(state)))
                return 0;
            f->synced = 0; /* a retry is coming: its worker must be asked */
        } else {
            if (att != f->att) {
                f->att = att;
                f->printed = 0;
                f->synced = 0;
            }
            if (!f->synced && (rv = ask(f)))
                return rv;
        }
        for (;;) { /* messages until an "e" or a second of silence */
            redisReply *r = NULL;
            int k = tq_client_sub_next(f->c, sub, -1, LOGS_RECHECK_MS, &r);
            if (k < 0)
                return k;
            if (k == 0)
                break;
            k = on_message(f, r);
            freeReplyObject(r);
            if (k)
                break;
        }
    }
}

/* tq logs of a running job: the snapshot its worker sends, if it comes. */
static int logs_running(follow *f, redisContext *sub, long long att)
{
    int64_t deadline = (int64_t)tq_mono_ms() + LOGS_SNAPSHOT_MS;
    int rv;

    f->att = att;
    if ((rv = ask(f)))
        return rv;
    while (!f->synced) {
        redisReply *r = NULL;
        int k = tq_client_sub_next(f->c, sub, deadline, LOGS_SNAPSHOT_MS, &r);
        if (k == TQ_ETIMEDOUT || k == 0)
            return 0; /* no worker answered: nothing to show */
        if (k < 0)
            return k;
        on_message(f, r);
        freeReplyObject(r);
    }
    return 0;
}

int tq_logs(tq_client *c, const char *id, int follow_on, tq_output_fn *fn,
            void *ud)
{
    tq_client_queue *q = NULL;
    redisContext *sub = NULL;
    follow *f;
    char state[32];
    long long att;
    unsigned long long total;
    size_t plen;
    int rv;

    if ((rv = tq_client_begin(c)) || (rv = tq_client_check_id(c, id)))
        return rv;
    if (!fn)
        return tq_client_seterr(c, TQ_EINVAL, "tq_logs: no output function");
    if ((rv = tq_client_locate(c, TQ_LOCATE_JOB, &id, 1, &q)))
        return rv;
    if (!q)
        return tq_client_seterr(c, TQ_ENOTFOUND, "no such job '%s'", id);
    if (!(f = calloc(1, sizeof *f)))
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    f->c = c;
    f->fn = fn;
    f->ud = ud;
    f->id = id;
    f->att = -1;
    plen = strlen(q->keys->job_prefix); /* P:{Q}:j: */
    snprintf(f->jk, sizeof f->jk, "%s%s", q->keys->job_prefix, id);
    snprintf(f->lk, sizeof f->lk, "%.*slog:%s", (int)(plen - 2),
             q->keys->job_prefix, id);
    snprintf(f->chan, sizeof f->chan, "%s:log:%s", c->nk.ns, id);
    snprintf(f->req, sizeof f->req, "%s:logreq", c->nk.ns);

    if (follow_on) {
        /* subscribe first, then read: nothing published is missed */
        if (!(sub = subscribe(f)))
            rv = c->err;
        else
            rv = logs_follow(f, sub);
        goto done;
    }
    if ((rv = read_record(f, state, sizeof state, &att, &total)))
        goto done;
    if (!state[0]) {
        rv = tq_client_seterr(c, TQ_ENOTFOUND, "no such job '%s'", id);
    } else if (strcmp(state, "active") == 0) {
        if (!(sub = subscribe(f)))
            rv = c->err;
        else
            rv = logs_running(f, sub, att);
    } else if (total > 0) {
        rv = emit_kept(f, att, total);
    }
done:
    if (sub)
        redisFree(sub);
    free(f);
    return rv;
}
