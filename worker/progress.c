/* progress.c -- what a running task says besides its outcome: progress
 * values (tq_task_progress) and, for exec tasks, its stderr.
 *
 * Progress is rate-limited per task: the first value is written at once,
 * later ones at most every WK_PROGRESS_MS; a value that comes sooner
 * replaces the one waiting, and a timer writes the latest when its time
 * comes. So a handler that reports 10,000 times a second costs Redis four
 * writes a second, and the value last written is always the last reported:
 * the one still waiting when the task ends is written before its outcome
 * (both go on the command connection, whose replies keep their order, and
 * the outcome is only sent at the next loop turn). The `progress` script
 * is fenced with the delivery's token: a stale delivery writes nothing.
 *
 * Output (exec.c keeps the last 64 KiB of a child's stderr in a ring):
 * wk_output_keep sends it with the outcome (`logput`, fenced the same way),
 * and live chunks are published on P:log:ID only while someone follows:
 * a follower (`tq logs -f`) subscribes to P:log:ID, then PUBLISHes the id
 * on P:logreq, which every worker hears; the one running that job
 * publishes a snapshot of its ring and from then on a chunk at most every
 * WK_CHUNK_MS while the job writes, until a PUBLISH reaches nobody. No one
 * following costs nothing: no command at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/worker_private.h"

#define WK_KEY_SIZE 512 /* ns (<=128) + queue (<=128) + id (<=40) + glue */

struct wk_tprog {
    char *val;              /* the latest value not written yet; NULL none */
    size_t len;
    double last;            /* monotonic ms of the last write; 0 never */
    struct event *ev;       /* writes val when its time comes */
};

/* ================================================================ progress */

static void prog_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;

    if (rep && rep->type == REDIS_REPLY_ERROR) {
        if (tq_reply_is_noscript(rep))
            wk_redis_noscript(w, "progress", rep->str);
        else
            wk_log(w, TQ_LOG_DEBUG, NULL, "progress not written: %s", rep->str);
    }
}

/* "NS:KIND:ID" in buf (channels P:prog:ID, P:log:ID). */
static const char *chan(const tq_task *t, const char *kind, char *buf, size_t n)
{
    snprintf(buf, n, "%s:%s:%s", t->w->ns, kind, t->id);
    return buf;
}

/* Writes the waiting value now. Returns 0, or -1 when it could not be sent
 * (the link is down): the value stays waiting. */
static int prog_write(tq_task *t)
{
    tq_worker *w = t->w;
    wk_tprog *p = t->pg;
    char jk[WK_KEY_SIZE], ch[WK_KEY_SIZE];
    tq_cmd c;

    if (!wk_up(w))
        return -1;
    snprintf(jk, sizeof jk, "%s%s", t->q->k->job_prefix, t->id);
    tq_cmd_init(&c, TQ_SCRIPT_PROGRESS);
    tq_cmd_key(&c, jk);
    tq_cmd_args(&c, t->tok);
    tq_cmd_arg(&c, p->val, p->len);
    tq_cmd_args(&c, chan(t, "prog", ch, sizeof ch));
    if (wk_send_script(w, &c, prog_cb, w) != 0) {
        tq_cmd_clear(&c);
        return -1;
    }
    tq_cmd_clear(&c);
    free(p->val);
    p->val = NULL;
    p->last = tq_mono_ms();
    return 0;
}

static void prog_arm(wk_tprog *p, double ms)
{
    struct timeval tv;

    if (ms < 1)
        ms = 1;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((long long)ms % 1000) * 1000;
    evtimer_add(p->ev, &tv);
}

static void prog_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_task *t = arg;

    if (t->pg->val && prog_write(t) != 0)
        prog_arm(t->pg, WK_PROGRESS_MS); /* the link is down: try again */
}

int tq_task_progress(tq_task *t, json_t *value)
{
    wk_tprog *p;
    char *s;
    double now;

    if (!t || !value || t->done)
        return TQ_EINVAL;
    s = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return TQ_EINVAL;
    if (strlen(s) > WK_PROGRESS_MAX) {
        free(s);
        return TQ_EINVAL;
    }
    if (!(p = t->pg)) {
        p = calloc(1, sizeof *p);
        if (!p || !(p->ev = evtimer_new(t->w->base, prog_timer_cb, t))) {
            free(p);
            free(s);
            return TQ_ENOMEM;
        }
        t->pg = p;
    }
    free(p->val);
    p->val = s;
    p->len = strlen(s);
    if (evtimer_pending(p->ev, NULL))
        return 0; /* written when the timer fires */
    now = tq_mono_ms();
    if (p->last > 0 && now - p->last < WK_PROGRESS_MS)
        prog_arm(p, p->last + WK_PROGRESS_MS - now);
    else if (prog_write(t) != 0)
        prog_arm(p, WK_PROGRESS_MS);
    return 0;
}

void wk_progress_end(tq_task *t, int write)
{
    wk_tprog *p = t->pg;

    if (!p)
        return;
    if (write && p->val && prog_write(t) != 0)
        wk_log(t->w, TQ_LOG_DEBUG, NULL,
               "job %s: last progress not written (redis is down)", t->id);
    event_free(p->ev);
    free(p->val);
    free(p);
    t->pg = NULL;
}

/* ================================================================ output */

static void keep_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;

    if (rep && rep->type == REDIS_REPLY_ERROR) {
        if (tq_reply_is_noscript(rep))
            wk_redis_noscript(w, "logput", rep->str);
        else
            wk_log(w, TQ_LOG_WARN, NULL, "job output not kept: %s", rep->str);
    }
}

void wk_output_keep(tq_task *t, const char *data, size_t len,
                    unsigned long long total)
{
    tq_worker *w = t->w;
    char jk[WK_KEY_SIZE], lk[WK_KEY_SIZE], ch[WK_KEY_SIZE];
    size_t plen = strlen(t->q->k->job_prefix);
    tq_cmd c;

    if (!wk_up(w)) {
        wk_log(w, TQ_LOG_DEBUG, NULL, "job %s: output not kept (redis is down)",
               t->id);
        return;
    }
    snprintf(jk, sizeof jk, "%s%s", t->q->k->job_prefix, t->id);
    /* P:{Q}:j: -> P:{Q}:log:ID */
    snprintf(lk, sizeof lk, "%.*slog:%s", (int)(plen - 2), t->q->k->job_prefix,
             t->id);
    tq_cmd_init(&c, TQ_SCRIPT_LOGPUT);
    tq_cmd_key(&c, jk);
    tq_cmd_key(&c, lk);
    tq_cmd_args(&c, t->tok);
    tq_cmd_arg(&c, data ? data : "", len);
    tq_cmd_argi(&c, (long long)total);
    tq_cmd_argi(&c, t->attempt);
    tq_cmd_args(&c, chan(t, "log", ch, sizeof ch));
    if (wk_send_script(w, &c, keep_cb, w) != 0)
        wk_log(w, TQ_LOG_DEBUG, NULL, "job %s: output not kept", t->id);
    tq_cmd_clear(&c);
}

typedef struct pub_req {
    tq_worker *w;
    char id[TQ_ID_MAX + 1];
    char tok[24];
} pub_req;

static void pub_cb(redisAsyncContext *ac, void *r, void *priv)
{
    pub_req *q = priv;
    redisReply *rep = r;
    tq_task *t;

    if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0 &&
        (t = wk_task_find(q->w, q->id, q->tok)) && !t->done)
        wk_exec_unfollow(t); /* nobody listens any more */
    free(q);
}

int wk_output_publish(tq_task *t, char kind, unsigned long long off,
                      const char *a, size_t alen, const char *b, size_t blen)
{
    tq_worker *w = t->w;
    char ch[WK_KEY_SIZE], head[64];
    const char *argv[3];
    size_t lens[3], hl;
    pub_req *q;
    char *msg;
    int rc;

    if (!wk_up(w))
        return -1;
    hl = (size_t)snprintf(head, sizeof head, "%c %d %llu ", kind, t->attempt, off);
    msg = malloc(hl + alen + blen);
    q = malloc(sizeof *q);
    if (!msg || !q) {
        free(msg);
        free(q);
        return -1;
    }
    memcpy(msg, head, hl);
    if (alen)
        memcpy(msg + hl, a, alen);
    if (blen)
        memcpy(msg + hl + alen, b, blen);
    q->w = w;
    snprintf(q->id, sizeof q->id, "%s", t->id);
    snprintf(q->tok, sizeof q->tok, "%s", t->tok);
    argv[0] = "PUBLISH";
    argv[1] = chan(t, "log", ch, sizeof ch);
    argv[2] = msg;
    lens[0] = 7;
    lens[1] = strlen(ch);
    lens[2] = hl + alen + blen;
    rc = tq_link_send(w->rd.link, WK_CONN_CMD, pub_cb, q, 3, argv, lens);
    free(msg);
    if (rc != 0) {
        free(q);
        return -1;
    }
    return 0;
}

/* A follower asks for a job's output: P:logreq carries its id. */
static void logreq_msg(tq_link *l, const char *channel, const char *msg,
                       size_t len, void *ud)
{
    tq_worker *w = ud;
    tq_task *t;

    if (!msg || len == 0 || len > TQ_ID_MAX || strlen(msg) != len)
        return;
    t = wk_task_find(w, msg, NULL);
    if (t && !t->done && t->h && t->h->exec)
        wk_exec_follow(t);
}

int wk_output_init(tq_worker *w)
{
    char ch[WK_KEY_SIZE];

    snprintf(ch, sizeof ch, "%s:logreq", w->ns);
    return tq_link_subscribe(w->rd.link, WK_CONN_SUB, ch, logreq_msg, w);
}
