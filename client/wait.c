/* wait.c -- tq_wait: blocks until jobs are finished, woken by the broker.
 *
 * Never a sleep loop: tq_wait subscribes to each job's done channel on a
 * second connection *first*, then runs waitprep, which marks each job
 * watched (so finishing it publishes) and reports where it stands. A job
 * that finishes between the two steps is therefore either reported terminal
 * by waitprep or published to a channel already listened to: it cannot be
 * missed. Messages only say which records to read (HGETALL, pipelined);
 * after WAIT_RECHECK_MS of silence waitprep runs again, a safety net.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_private.h"
#include "proto/proto_private.h"

#define WAIT_RECHECK_MS 10000 /* silence after which tq_wait re-reads its jobs */

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
    tq_progress_fn *pfn; /* tq_wait_progress: each progress value */
    void *pud;
    char pprefix[TQ_KEY_SIZE]; /* P:prog: */
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
    if (!kind || strcmp(kind, "message") || !chan)
        return;
    if (w->pfn && !strncmp(chan, w->pprefix, strlen(w->pprefix))) {
        size_t vlen = 0;
        const char *v = tq_reply_str(r, 2, &vlen);
        if (v)
            w->pfn(chan + strlen(w->pprefix), v, vlen, w->pud);
        return;
    }
    if (clen <= plen)
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
    size_t m = 0, plen = strlen(c->nk.done_prefix), pplen = strlen(w->pprefix);
    size_t per = 2 * (plen > pplen ? plen : pplen) + 2 * TQ_ID_SIZE;
    const char **argv = malloc((2 * w->n + 1) * sizeof *argv);
    char *chans = malloc(w->n * per);
    int rv = 0;

    if (!argv || !chans) {
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        goto done;
    }
    argv[m++] = "SUBSCRIBE";
    for (size_t i = 0; i < w->n; i++) {
        if (w->slots[i].st != W_WAITING)
            continue;
        char *ch = chans + i * per;
        snprintf(ch, per / 2, "%s%s", c->nk.done_prefix, w->slots[i].id);
        argv[m++] = ch;
        if (w->pfn) { /* tq_wait_progress: the progress channel too */
            ch += per / 2;
            snprintf(ch, per / 2, "%s%s", w->pprefix, w->slots[i].id);
            argv[m++] = ch;
        }
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
            int64_t now = (int64_t)tq_mono_ms();
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
            return deadline >= 0 && (int64_t)tq_mono_ms() >= deadline ? TQ_ETIMEDOUT : 0;
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

/* ---------------------------------------------------------------- the call */

/* Sets w up for ids: a slot per id, its queue found by locate (no queue:
 * W_MISSING at once), and the slots sorted by id for wait_message. */
static int waiter_open(waiter *w, tq_client *c, const char *const *ids, size_t n,
                       tq_job **out)
{
    tq_client_queue **queues = malloc(n * sizeof *queues);
    int rv;

    w->c = c;
    w->n = n;
    w->out = out;
    w->slots = calloc(n, sizeof *w->slots);
    w->todo = malloc(n * sizeof *w->todo);
    w->byid = malloc(n * sizeof *w->byid);
    if (!w->slots || !w->todo || !w->byid || !queues) {
        free(queues);
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    }
    if ((rv = tq_client_locate(c, TQ_LOCATE_JOB, ids, n, queues))) {
        free(queues);
        return rv;
    }
    for (size_t i = 0; i < n; i++) {
        w->slots[i].id = ids[i];
        w->slots[i].q = queues[i];
        w->slots[i].st = queues[i] ? W_WAITING : W_MISSING;
        w->byid[i] = i;
    }
    free(queues);
    qsort_r(w->byid, n, sizeof *w->byid, cmp_byid, w->slots);
    return 0;
}

static void waiter_close(waiter *w)
{
    free(w->slots);
    free(w->todo);
    free(w->byid);
}

/* The progress each job has now, before the first message: HGET progress
 * (a value published meanwhile may come twice: documented). */
static int prog_argv(const char **argv, size_t *lens, size_t i, void *ud)
{
    waiter *w = ud;
    if (waiter_key(w, i))
        return -1;
    argv[0] = "HGET";
    argv[1] = w->key;
    argv[2] = "progress";
    return 3;
}

static int prog_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    waiter *w = ud;
    if (r->type == REDIS_REPLY_STRING)
        w->pfn(w->slots[w->todo[i]].id, r->str, r->len, w->pud);
    return 0;
}

/* The two steps that make a wait miss nothing (the file's opening comment),
 * then the loop, on a connection of its own. */
static int wait_subscribed(waiter *w, int64_t deadline)
{
    char err[300];
    int rv;
    redisContext *sub = tq_redis_connect(&w->c->addr, TQ_CLIENT_CONNECT_MS, err,
                                         sizeof err);
    if (!sub)
        return tq_client_seterr(w->c, TQ_EREDIS, "%s", err);
    if (!(rv = wait_subscribe(w, sub)) && !(rv = wait_prepare(w))) {
        if (w->pfn) { /* where each job's progress stands now */
            w->ntodo = 0;
            for (size_t i = 0; i < w->n; i++)
                if (w->slots[i].st == W_WAITING)
                    w->todo[w->ntodo++] = i;
            rv = tq_client_pipeline_argv(w->c, w->ntodo, prog_argv, prog_reply, w);
        }
        if (!rv)
            rv = wait_loop(w, sub, deadline);
    }
    redisFree(sub);
    return rv;
}

/* After a timeout: reads where the unfinished jobs stand, so out[] says it
 * too. Returns how many are still unfinished, or an error. */
static int wait_timed_out(waiter *w, size_t *unfinished)
{
    int rv;
    w->ntodo = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->slots[i].st == W_WAITING)
            w->todo[w->ntodo++] = i;
    w->final = 1;
    rv = tq_client_pipeline_argv(w->c, w->ntodo, fetch_argv, fetch_reply, w);
    *unfinished = count_waiting(w);
    return rv;
}

static int wait_any(tq_client *c, const char *const *ids, size_t n,
                    int64_t timeout_ms, tq_job **out, tq_progress_fn *pfn,
                    void *pud);

int tq_wait(tq_client *c, const char *const *ids, size_t n, int64_t timeout_ms,
            tq_job **out)
{
    return wait_any(c, ids, n, timeout_ms, out, NULL, NULL);
}

int tq_wait_progress(tq_client *c, const char *const *ids, size_t n,
                     int64_t timeout_ms, tq_job **out, tq_progress_fn *fn,
                     void *ud)
{
    return wait_any(c, ids, n, timeout_ms, out, fn, ud);
}

static int wait_any(tq_client *c, const char *const *ids, size_t n,
                    int64_t timeout_ms, tq_job **out, tq_progress_fn *pfn,
                    void *pud)
{
    int64_t deadline = timeout_ms < 0 ? -1 : (int64_t)tq_mono_ms() + timeout_ms;
    size_t unfinished = 0;
    waiter w;
    int rv;

    memset(&w, 0, sizeof w);
    w.pfn = pfn;
    w.pud = pud;
    snprintf(w.pprefix, sizeof w.pprefix, "%s:prog:", c->nk.ns ? c->nk.ns : "");
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if ((rv = tq_client_begin(c)))
        return rv;
    for (size_t i = 0; i < n; i++)
        if ((rv = tq_client_check_id(c, ids[i])))
            return rv;
    if (n == 0)
        return 0;
    if (!(rv = waiter_open(&w, c, ids, n, out)) && count_waiting(&w))
        rv = wait_subscribed(&w, deadline);
    if (rv == TQ_ETIMEDOUT)
        rv = wait_timed_out(&w, &unfinished);
    /* a missing job beats a timeout (docs/design.md §6) */
    for (size_t i = 0; i < n && !rv; i++)
        if (w.slots[i].st == W_MISSING)
            rv = tq_client_seterr(c, TQ_ENOTFOUND, "no such job '%s'", ids[i]);
    if (!rv && unfinished)
        rv = tq_client_seterr(c, TQ_ETIMEDOUT, "timed out waiting for %zu of %zu job%s",
                              unfinished, n, n == 1 ? "" : "s");
    if (rv && rv != TQ_ETIMEDOUT && rv != TQ_ENOTFOUND) {
        for (size_t i = 0; i < n; i++) {
            tq_job_free(out[i]);
            out[i] = NULL;
        }
    }
    waiter_close(&w);
    return rv;
}
