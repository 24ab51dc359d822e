/* report.c -- everything the worker tells the broker, and what it hears back.
 *
 * Outcomes are queued per queue the moment a task ends and sent once per loop
 * turn as one `ack` per queue (at most WK_ACK_MAX each), so a burst of short
 * jobs costs one round trip. A batch in flight owns its outcomes; if the link
 * drops before the reply (callback with NULL) they go back to the queue and
 * are sent again after reconnect: the token makes a repeat harmless (the
 * script refuses what it already applied, or what a later delivery owns).
 *
 * Timers: the worker heartbeat (`beat`, 1 s) keeps this worker in P:workers
 * and hands back workers that went silent, whose leases are then ended by
 * `bury` in each of their queues; lease renewal (`heartbeat`, lease/3) also
 * brings news of lost leases and of cancellations; `reclaim` (1 s +- 20% per
 * queue) puts expired leases back in their queues.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/worker_private.h"

/* ================================================================ outcomes */

const wk_out_info wk_outs[WK_OUT__COUNT] = {
    [WK_OUT_OK] = {"ok", "succeeded", TQ_LOG_INFO},
    [WK_OUT_FAILED] = {"fail", "failed", TQ_LOG_WARN},
    [WK_OUT_TIMEOUT] = {"fail", "timeout", TQ_LOG_WARN},
    [WK_OUT_CANCELLED] = {"cancel", "cancelled", TQ_LOG_INFO},
    [WK_OUT_LOST] = {NULL, "lost", TQ_LOG_WARN},
    [WK_OUT_RELEASED] = {"release", "released", TQ_LOG_INFO},
    [WK_OUT_DEAD] = {"dead", "dead", TQ_LOG_WARN},
    [WK_OUT_NOTASK] = {"notask", "notask", TQ_LOG_WARN},
};

static int out_reserve(wk_queue *q, size_t more)
{
    size_t cap;
    wk_outcome *n;

    if (q->rp.nout + more <= q->rp.capout)
        return 0;
    cap = q->rp.capout ? q->rp.capout : 16;
    while (cap < q->rp.nout + more)
        cap *= 2;
    n = realloc(q->rp.out, cap * sizeof *n);
    if (!n)
        return TQ_ENOMEM;
    q->rp.out = n;
    q->rp.capout = cap;
    return 0;
}

static void outcome_clear(wk_outcome *o)
{
    free(o->id);
    free(o->payload);
}

int wk_outcome_add(tq_worker *w, const tq_task *t, wk_out out,
                   const char *payload, size_t plen)
{
    wk_queue *q = t->q;
    wk_outcome *o;

    if (!wk_outs[out].wire)
        return TQ_EINVAL;
    if (out_reserve(q, 1) != 0)
        return TQ_ENOMEM;
    o = &q->rp.out[q->rp.nout];
    memset(o, 0, sizeof *o);
    o->id = strdup(t->id);
    o->payload = malloc(plen + 1);
    if (!o->id || !o->payload) {
        outcome_clear(o);
        return TQ_ENOMEM;
    }
    memcpy(o->payload, payload, plen);
    o->payload[plen] = '\0';
    o->plen = plen;
    snprintf(o->tok, sizeof o->tok, "%s", t->tok);
    o->out = out;
    o->attempt = t->attempt;
    o->ack_first = t->ack_first || out == WK_OUT_RELEASED;
    w->rp.ack_first |= o->ack_first;
    o->jitter = 0.75 + 0.5 * wk_rand01(w);
    q->rp.nout++;
    w->rp.nout++;
    return 0;
}

typedef struct ack_batch {
    tq_worker *w;
    wk_queue *q;
    size_t n;
    wk_outcome items[];
} ack_batch;

/* Gives a batch's outcomes back to its queue (to be sent again). count_try:
 * the reply was an error about the command itself (not Redis's state, see
 * wk_error_is_transient): after WK_ACK_TRIES of those an outcome is dropped,
 * so one that a script cannot take does not block its queue forever. */
static void batch_requeue(ack_batch *b, int count_try, int dropped)
{
    tq_worker *w = b->w;
    wk_queue *q = b->q;
    size_t i;

    for (i = 0; i < b->n; i++) {
        wk_outcome *o = &b->items[i];
        if (count_try && ++o->tries >= WK_ACK_TRIES) {
            wk_log(w, TQ_LOG_ERROR, NULL,
                   "job %s: outcome '%s' dropped after %d failed reports; the "
                   "job runs again when its lease runs out", o->id, wk_outs[o->out].wire,
                   o->tries);
            outcome_clear(o);
            continue;
        }
        if (out_reserve(q, 1) != 0) {
            wk_log(w, TQ_LOG_ERROR, NULL, "job %s: out of memory; outcome dropped",
                   o->id);
            outcome_clear(o);
            continue;
        }
        if (dropped)
            o->resent = 1;
        q->rp.out[q->rp.nout++] = *o;
        w->rp.nout++;
        w->rp.ack_first |= o->ack_first;
    }
    b->n = 0;
}

static void ack_retry_later(tq_worker *w, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    evtimer_add(w->rp.ack_retry_ev, &tv);
}

static void ack_cb(redisAsyncContext *ac, void *r, void *priv)
{
    ack_batch *b = priv;
    tq_worker *w = b->w;
    redisReply *rep = r;
    size_t i;

    w->rp.acks_in_flight--;
    if (!rep) {
        batch_requeue(b, 0, 1); /* sent again after reconnect */
        free(b);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        /* the outcomes stay queued: an OOM, NOPERM, READONLY... never drops
         * one; they are sent again after the backoff (at most 5 s, so they
         * land within the lease when Redis takes them again) */
        int64_t ms = tq_reply_is_noscript(rep)
                         ? wk_redis_noscript(w, "ack", rep->str)
                         : wk_redis_error(w, "ack", rep->str);
        batch_requeue(b, !wk_error_is_transient(rep->str), 0);
        ack_retry_later(w, (int)(ms > WK_ACK_RETRY_MAX_MS ? WK_ACK_RETRY_MAX_MS
                                                         : ms));
        free(b);
        return;
    }
    wk_redis_ok(w, 0);
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != b->n)
        wk_log(w, TQ_LOG_ERROR, NULL,
               "ack on queue %s: unexpected reply for %zu outcomes",
               b->q->k->queue, b->n);
    for (i = 0; i < b->n; i++) {
        wk_outcome *o = &b->items[i];
        long long v;
        if (rep->type == REDIS_REPLY_ARRAY && tq_reply_int(rep, i, &v) == 0 &&
            v == 0) {
            char att[16];
            const char *f[] = {"job", o->id, "attempt", att, "event",
                               o->resent ? "refused-resend" : "refused", NULL};
            snprintf(att, sizeof att, "%d", o->attempt);
            if (o->resent) /* most likely the first send was applied */
                wk_log(w, TQ_LOG_INFO, f,
                       "job %s: outcome refused on resend (attempt %d): "
                       "recorded before the link dropped, or the lease was lost",
                       o->id, o->attempt);
            else
                wk_log(w, TQ_LOG_WARN, f,
                       "job %s: lost the lease (attempt %d); outcome refused",
                       o->id, o->attempt);
        }
        outcome_clear(o);
    }
    free(b);
    wk_kick(w); /* shutdown may be waiting for this */
}

static int ack_send(tq_worker *w, wk_queue *q)
{
    size_t n = 0, bytes = 0, i;
    ack_batch *b;
    tq_cmd c;

    /* from the tail, at most WK_ACK_MAX outcomes and WK_ACK_BYTES of
     * payload (at least one): a huge command would stall the pipeline */
    while (n < q->rp.nout && n < WK_ACK_MAX) {
        size_t pl = q->rp.out[q->rp.nout - 1 - n].plen;
        if (n > 0 && bytes + pl > WK_ACK_BYTES)
            break;
        bytes += pl;
        n++;
    }
    b = malloc(sizeof *b + n * sizeof(wk_outcome));
    if (!b)
        return TQ_ENOMEM;
    b->w = w;
    b->q = q;
    b->n = n;
    /* take from the tail: no shifting */
    memcpy(b->items, q->rp.out + (q->rp.nout - n), n * sizeof(wk_outcome));
    tq_cmd_init(&c, TQ_SCRIPT_ACK);
    tq_cmd_key(&c, q->k->active);
    tq_cmd_key(&c, q->k->sched);
    tq_cmd_key(&c, q->k->dead);
    tq_cmd_key(&c, q->k->stats);
    tq_cmd_key(&c, q->k->wake);
    for (i = 0; i < TQ_NPRIO; i++)
        tq_cmd_key(&c, q->k->pending[i]);
    tq_cmd_args(&c, q->k->job_prefix);
    tq_cmd_args(&c, w->nk.done_prefix);
    tq_cmd_args(&c, w->nk.sem_prefix);
    tq_cmd_argi(&c, (long long)n);
    for (i = 0; i < n; i++) {
        wk_outcome *o = &b->items[i];
        tq_cmd_args(&c, o->id);
        tq_cmd_args(&c, o->tok);
        tq_cmd_args(&c, wk_outs[o->out].wire);
        tq_cmd_arg(&c, o->payload, o->plen);
        tq_cmd_argd(&c, o->jitter);
    }
    if (wk_send_script(w, &c, ack_cb, b) != 0) {
        tq_cmd_clear(&c);
        free(b);
        return TQ_EREDIS;
    }
    tq_cmd_clear(&c);
    q->rp.nout -= n;
    w->rp.nout -= n;
    if (w->rp.nout == 0)
        w->rp.ack_first = 0;
    w->rp.acks_in_flight++;
    return 0;
}

void wk_acks_flush(tq_worker *w)
{
    size_t i;

    if (!wk_up(w) || !w->rp.nout || evtimer_pending(w->rp.ack_retry_ev, NULL))
        return;
    for (i = 0; i < w->nq; i++) {
        wk_queue *q = &w->queues[i];
        while (q->rp.nout > 0) {
            int rc = ack_send(w, q);
            if (rc == TQ_EREDIS) {
                wk_link_fail(w, "cannot send ack");
                return;
            }
            if (rc != 0) {
                ack_retry_later(w, WK_ERROR_RETRY_MS);
                return;
            }
        }
    }
}

static void ack_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    wk_kick(arg);
}

/* ================================================================ lease renewal */

typedef struct hb_pair {
    char *id;
    char tok[24];
} hb_pair;

typedef struct hb_batch {
    tq_worker *w;
    wk_queue *q;
    size_t n;
    hb_pair items[];
} hb_batch;

static void hb_cb(redisAsyncContext *ac, void *r, void *priv)
{
    hb_batch *b = priv;
    tq_worker *w = b->w;
    redisReply *rep = r;
    size_t i, j;

    w->rp.hb_in_flight--;
    if (!rep)
        goto done;
    if (rep->type == REDIS_REPLY_ERROR) {
        /* renewed again at the next tick (lease/3) */
        if (tq_reply_is_noscript(rep))
            wk_redis_noscript(w, "heartbeat", rep->str);
        else
            wk_redis_error(w, "heartbeat", rep->str);
        goto done;
    }
    wk_redis_ok(w, 0);
    if (rep->type != REDIS_REPLY_ARRAY)
        goto done;
    for (i = 0; i + 1 < rep->elements; i += 2) {
        const char *id = tq_reply_str(rep, i, NULL);
        const char *code = tq_reply_str(rep, i + 1, NULL);
        const char *tok = NULL;
        tq_task *t;
        if (!id || !code)
            continue;
        for (j = 0; j < b->n; j++)
            if (strcmp(b->items[j].id, id) == 0) {
                tok = b->items[j].tok;
                break;
            }
        if (!tok || !(t = wk_task_find(w, id, tok)) || t->q != b->q)
            continue; /* ended meanwhile */
        if (strcmp(code, "lost") == 0)
            wk_task_stop(t, TQ_STOP_LOST);
        else if (strcmp(code, "cancel") == 0)
            wk_task_stop(t, TQ_STOP_CANCELLED);
    }
done:
    for (i = 0; i < b->n; i++)
        free(b->items[i].id);
    free(b);
}

static void hb_send(tq_worker *w, wk_queue *q)
{
    tq_task *t = q->tk.head;

    while (t) {
        size_t n = 0, cnt = 0, i;
        tq_task *u;
        hb_batch *b;
        tq_cmd c;

        for (u = t; u && cnt < WK_HB_MAX; u = u->qnext)
            cnt++;
        b = calloc(1, sizeof *b + cnt * sizeof(hb_pair));
        if (!b)
            return;
        b->w = w;
        b->q = q;
        tq_cmd_init(&c, TQ_SCRIPT_RENEW);
        tq_cmd_key(&c, q->k->active);
        tq_cmd_args(&c, q->k->job_prefix);
        tq_cmd_argi(&c, (long long)w->o.lease_ms);
        tq_cmd_args(&c, w->nk.sem_prefix);
        for (; t && n < cnt; t = t->qnext) {
            b->items[n].id = strdup(t->id);
            if (!b->items[n].id)
                break;
            memcpy(b->items[n].tok, t->tok, sizeof t->tok);
            tq_cmd_args(&c, t->id);
            tq_cmd_args(&c, t->tok);
            n++;
        }
        b->n = n;
        if (n == 0 || wk_send_script(w, &c, hb_cb, b) != 0) {
            tq_cmd_clear(&c);
            for (i = 0; i < n; i++)
                free(b->items[i].id);
            free(b);
            return;
        }
        tq_cmd_clear(&c);
        w->rp.hb_in_flight++;
        }
}

static void hb_tick(tq_worker *w)
{
    size_t i;

    if (!wk_up(w) || wk_running(w) == 0)
        return;
    for (i = 0; i < w->nq; i++)
        if (w->queues[i].tk.head)
            hb_send(w, &w->queues[i]);
}

static void hb_cb_timer(evutil_socket_t fd, short what, void *arg)
{
    hb_tick(arg);
}

/* ================================================================ worker heartbeat, burial */

static void bury_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;

    if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
        wk_log(w, TQ_LOG_INFO, NULL,
               "ended %lld lease(s) of a dead worker", rep->integer);
    else if (rep && rep->type == REDIS_REPLY_ERROR)
        wk_redis_error(w, "bury", rep->str);
}

static void reclaim_send(wk_queue *q);

/* Our own queue: reclaim at once what the burial freed. */
static void bury_own_cb(redisAsyncContext *ac, void *r, void *priv)
{
    wk_queue *q = priv;
    redisReply *rep = r;

    bury_cb(ac, r, q->w);
    if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
        reclaim_send(q);
}

static void bury_in(tq_worker *w, const char *queue, const char *dead)
{
    tq_qkeys *own = NULL, *k;
    wk_queue *oq = NULL;
    size_t i;
    tq_cmd c;

    for (i = 0; i < w->nq; i++)
        if (strcmp(w->queues[i].k->queue, queue) == 0) {
            oq = &w->queues[i];
            own = oq->k;
        }
    k = own ? own : tq_qkeys_new(w->ns, queue);
    if (!k)
        return;
    tq_cmd_init(&c, TQ_SCRIPT_BURY);
    tq_cmd_key(&c, k->active);
    tq_cmd_key(&c, k->dead);
    tq_cmd_key(&c, k->stats);
    tq_cmd_key(&c, k->wake);
    tq_cmd_args(&c, k->job_prefix);
    tq_cmd_args(&c, dead);
    tq_cmd_args(&c, w->nk.done_prefix);
    tq_cmd_args(&c, w->nk.sem_prefix);
    if (wk_send_script(w, &c, oq ? bury_own_cb : bury_cb,
                    oq ? (void *)oq : (void *)w) == 0)
        tq_cmd_clear(&c);
    if (!own)
        tq_qkeys_free(k);
}

/* A worker whose heartbeat stopped: end its leases in the queues its card
 * listed (or ours, when the card was gone), so reclaim hands its jobs out
 * now instead of when the leases run out. */
static void bury_worker(tq_worker *w, const char *dead, const char *qjson,
                        size_t qlen)
{
    json_t *a = qjson ? json_loadb(qjson, qlen, 0, NULL) : NULL;
    size_t i, nb = 0;
    tq_perr e;

    wk_log(w, TQ_LOG_WARN, NULL,
           "worker %s stopped beating: its jobs go back to their queues", dead);
    if (json_is_array(a)) {
        for (i = 0; i < json_array_size(a) && i < 1000; i++) {
            const char *q = json_string_value(json_array_get(a, i));
            if (q && tq_queue_check(q, &e) == 0) {
                bury_in(w, q, dead);
                nb++;
            }
        }
    }
    json_decref(a);
    if (nb == 0)
        for (i = 0; i < w->nq; i++)
            bury_in(w, w->queues[i].k->queue, dead);
}

static void beat_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;
    size_t i;

    w->rp.beat_in_flight = 0;
    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        if (tq_reply_is_noscript(rep))
            wk_redis_noscript(w, "beat", rep->str);
        else
            wk_redis_error(w, "beat", rep->str);
        return;
    }
    wk_redis_ok(w, 0);
    if (rep->type != REDIS_REPLY_ARRAY || !wk_up(w))
        return;
    for (i = 1; i + 1 < rep->elements; i += 2) {
        size_t dlen = 0, qlen = 0;
        const char *dead = tq_reply_str(rep, i, &dlen);
        const char *qj = tq_reply_str(rep, i + 1, &qlen);
        if (!dead || !dlen || strlen(dead) != dlen || strcmp(dead, w->id) == 0)
            continue;
        bury_worker(w, dead, qj, qlen);
    }
}

static void beat_tick(tq_worker *w)
{
    char card[512], pid[24];
    tq_cmd c;

    if (!wk_up(w) || w->rp.beat_in_flight ||
        (w->state != WK_RUNNING && w->state != WK_DRAINING))
        return;
    if (!tq_key_join(card, sizeof card, w->nk.worker_prefix, w->id))
        return;
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    tq_cmd_init(&c, TQ_SCRIPT_BEAT);
    tq_cmd_key(&c, w->nk.workers);
    tq_cmd_key(&c, card);
    tq_cmd_args(&c, w->id);
    tq_cmd_argi(&c, WK_DEAD_AFTER_MS);
    tq_cmd_argi(&c, WK_CARD_TTL_MS);
    tq_cmd_args(&c, w->nk.worker_prefix);
    tq_cmd_args(&c, "host");
    tq_cmd_args(&c, w->host);
    tq_cmd_args(&c, "pid");
    tq_cmd_args(&c, pid);
    tq_cmd_args(&c, "queues");
    tq_cmd_args(&c, w->queues_json);
    tq_cmd_args(&c, "concurrency");
    tq_cmd_argi(&c, w->o.concurrency);
    tq_cmd_args(&c, "busy");
    tq_cmd_argi(&c, (long long)wk_running(w));
    tq_cmd_args(&c, "started");
    tq_cmd_argi(&c, (long long)w->started_unix);
    tq_cmd_args(&c, "version");
    tq_cmd_args(&c, TQ_VERSION);
    if (wk_send_script(w, &c, beat_cb, w) == 0) {
        w->rp.beat_in_flight = 1;
        }
    tq_cmd_clear(&c);
}

static void beat_cb_timer(evutil_socket_t fd, short what, void *arg)
{
    beat_tick(arg);
}

/* ================================================================ reclaim */

static void reclaim_arm(wk_queue *q)
{
    tq_worker *w = q->w;
    double ms = WK_RECLAIM_MS * (0.8 + 0.4 * wk_rand01(w));
    struct timeval tv = {(time_t)(ms / 1000),
                         (suseconds_t)((long)ms % 1000) * 1000};

    evtimer_add(q->rp.reclaim_ev, &tv);
}

static void reclaim_cb(redisAsyncContext *ac, void *r, void *priv)
{
    wk_queue *q = priv;
    tq_worker *w = q->w;
    redisReply *rep = r;
    long long n;

    q->rp.reclaim_in_flight = 0;
    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        if (tq_reply_is_noscript(rep))
            wk_redis_noscript(w, "reclaim", rep->str);
        else
            wk_redis_error(w, "reclaim", rep->str);
        return;
    }
    if (tq_reply_int(rep, 0, &n) != 0)
        return;
    if (n > 0)
        wk_log(w, TQ_LOG_DEBUG, NULL, "reclaimed %lld expired lease(s) in %s",
               n, q->k->queue);
    if (n >= WK_RECLAIM_LIMIT)
        reclaim_send(q); /* more are waiting */
}

static void reclaim_send(wk_queue *q)
{
    tq_worker *w = q->w;
    size_t i;
    tq_cmd c;

    if (!wk_up(w) || q->rp.reclaim_in_flight || w->state == WK_STOPPED)
        return;
    tq_cmd_init(&c, TQ_SCRIPT_RECLAIM);
    tq_cmd_key(&c, q->k->active);
    tq_cmd_key(&c, q->k->dead);
    tq_cmd_key(&c, q->k->stats);
    tq_cmd_key(&c, q->k->wake);
    for (i = 0; i < TQ_NPRIO; i++)
        tq_cmd_key(&c, q->k->pending[i]);
    tq_cmd_args(&c, q->k->job_prefix);
    tq_cmd_args(&c, w->nk.done_prefix);
    tq_cmd_argi(&c, WK_RECLAIM_LIMIT);
    tq_cmd_args(&c, w->nk.sem_prefix);
    if (wk_send_script(w, &c, reclaim_cb, q) == 0) {
        q->rp.reclaim_in_flight = 1;
        }
    tq_cmd_clear(&c);
}

static void reclaim_cb_timer(evutil_socket_t fd, short what, void *arg)
{
    wk_queue *q = arg;

    reclaim_send(q);
    reclaim_arm(q);
}

/* ================================================================ cancel, deregistration */

void wk_on_cancel_message(tq_worker *w, const char *id)
{
    tq_task *t;

    while ((t = wk_task_find(w, id, NULL)) != NULL)
        wk_task_stop(t, TQ_STOP_CANCELLED);
}

static void dereg_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;

    w->rp.dereg_done = 1;
    wk_kick(w);
}

void wk_deregister(tq_worker *w)
{
    char card[512];

    if (!wk_up(w) || w->rp.dereg_sent ||
        !tq_key_join(card, sizeof card, w->nk.worker_prefix, w->id))
        return;
    const char *zrem[] = {"ZREM", w->nk.workers, w->id};
    const char *del[] = {"DEL", card};
    if (wk_send_argv(w, 3, zrem, NULL, NULL) != 0 ||
        wk_send_argv(w, 2, del, dereg_cb, w) != 0)
        return;
    w->rp.dereg_sent = 1;
}

int wk_deregistered(const tq_worker *w)
{
    return w->rp.dereg_done ? 2 : w->rp.dereg_sent ? 1 : 0;
}

/* ================================================================ life */

size_t wk_outcomes_queued(const tq_worker *w)
{
    return w->rp.nout;
}

int wk_acks_in_flight(const tq_worker *w)
{
    return w->rp.acks_in_flight;
}

int wk_acks_first(const tq_worker *w)
{
    return w->rp.ack_first;
}

void wk_report_up(tq_worker *w)
{
    beat_tick(w);
    hb_tick(w);
    wk_kick(w);
}

void wk_report_start(tq_worker *w)
{
    int64_t hb = w->o.lease_ms / 3;
    struct timeval one = {WK_BEAT_MS / 1000, (WK_BEAT_MS % 1000) * 1000};
    struct timeval tv = {(time_t)(hb / 1000), (suseconds_t)(hb % 1000) * 1000};
    size_t i;

    evtimer_add(w->rp.beat_ev, &one);
    evtimer_add(w->rp.hb_ev, &tv);
    for (i = 0; i < w->nq; i++)
        reclaim_arm(&w->queues[i]);
}

void wk_report_stop_timers(tq_worker *w)
{
    size_t i;

    if (w->rp.beat_ev)
        evtimer_del(w->rp.beat_ev);
    if (w->rp.hb_ev)
        evtimer_del(w->rp.hb_ev);
    if (w->rp.ack_retry_ev)
        evtimer_del(w->rp.ack_retry_ev);
    for (i = 0; i < w->nq; i++)
        if (w->queues[i].rp.reclaim_ev)
            evtimer_del(w->queues[i].rp.reclaim_ev);
}

int wk_report_init(tq_worker *w)
{
    size_t i;

    w->rp.beat_ev = event_new(w->base, -1, EV_PERSIST, beat_cb_timer, w);
    w->rp.hb_ev = event_new(w->base, -1, EV_PERSIST, hb_cb_timer, w);
    w->rp.ack_retry_ev = evtimer_new(w->base, ack_retry_cb, w);
    if (!w->rp.beat_ev || !w->rp.hb_ev || !w->rp.ack_retry_ev)
        return TQ_ENOMEM;
    for (i = 0; i < w->nq; i++) {
        w->queues[i].rp.reclaim_ev =
            evtimer_new(w->base, reclaim_cb_timer, &w->queues[i]);
        if (!w->queues[i].rp.reclaim_ev)
            return TQ_ENOMEM;
    }
    return 0;
}

void wk_report_free(tq_worker *w)
{
    size_t i, j;

    wk_report_stop_timers(w);
    if (w->rp.beat_ev)
        event_free(w->rp.beat_ev);
    if (w->rp.hb_ev)
        event_free(w->rp.hb_ev);
    if (w->rp.ack_retry_ev)
        event_free(w->rp.ack_retry_ev);
    w->rp.beat_ev = w->rp.hb_ev = w->rp.ack_retry_ev = NULL;
    for (i = 0; i < w->nq; i++) {
        wk_queue *q = &w->queues[i];
        if (q->rp.reclaim_ev)
            event_free(q->rp.reclaim_ev);
        q->rp.reclaim_ev = NULL;
        for (j = 0; j < q->rp.nout; j++)
            outcome_clear(&q->rp.out[j]);
        free(q->rp.out);
        q->rp.out = NULL;
        q->rp.nout = q->rp.capout = 0;
    }
    w->rp.nout = 0;
}
