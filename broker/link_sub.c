/* link_sub.c -- a set's subscriptions, restored after every reconnect.
 *
 * The one idea: a subscription is a record of the link's, not of hiredis's
 * or the owner's. hiredis 0.14 keeps the record as its callback's privdata
 * for as long as the channel is in its table, which outlives the owner's
 * interest (an UNSUBSCRIBE is in the table until Redis confirms it), so
 * the record leaves only on that confirmation or a teardown. A SUBSCRIBE
 * asked while the same channel is still leaving is kept as "again" and
 * sent once the leave is confirmed: otherwise the late confirmation would
 * delete the new callback. The keepalive channel of each subscriber
 * connection (link.c) keeps hiredis's count above 0.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/link_private.h"

static void sub_unlink_free(tq_link *l, lsub *s)
{
    if (tq_map_get(l->subs, s->channel) == s)
        tq_map_del(l->subs, s->channel);
    free(s->channel);
    free(s);
}

/* The one callback of every subscription: confirmations and messages.
 * NULL when the context is freed: the record is the link's, nothing to do. */
static void sub_cb(redisAsyncContext *ac, void *r, void *priv)
{
    lsub *s = priv;
    tq_link *l = s->conn->l;
    redisReply *rep = r;
    const char *kind, *payload;
    size_t len = 0;

    if (!rep || l->tearing)
        return;
    kind = tq_reply_str(rep, 0, NULL);
    if (!kind)
        return;
    l->in_cb++;
    if (!strcmp(kind, "subscribe")) {
        if (s->keepalive) {
            s->conn->ka_sent = 0;
            s->conn->ka_last = lk_mono_ms();
        }
        if (s->state == SUB_SENT) {
            s->state = SUB_ON;
            if (!s->setup && l->up && !s->gone && s->ready)
                s->ready(l, s->channel, s->ud);
        }
        if (s->setup) {
            s->setup = 0;
            if (l->phase == PH_SETUP && l->setup_left > 0)
                l->setup_left--;
            lk_maybe_up(l);
        }
    } else if (!strcmp(kind, "unsubscribe")) {
        /* hiredis has dropped the channel from its table */
        if (s->state == SUB_LEAVING) {
            if (s->again && l->up) {
                s->again = 0;
                s->gone = 0;
                s->state = lk_sub_send(l, s, "SUBSCRIBE") ? SUB_WANTED : SUB_SENT;
                if (s->state == SUB_WANTED)
                    lk_fail(l, 0, "cannot send SUBSCRIBE");
            } else if (s->again) {
                s->again = 0;
                s->gone = 0;
                s->state = SUB_WANTED;
            } else {
                sub_unlink_free(l, s);
            }
        }
    } else if (!strcmp(kind, "message") && !s->gone && s->fn &&
               (payload = tq_reply_str(rep, 2, &len))) {
        s->fn(l, s->channel, payload, len, s->ud);
    }
    lk_cb_leave(l);
}

int lk_sub_send(tq_link *l, lsub *s, const char *verb)
{
    const char *argv[2] = {verb, s->channel};
    lconn *c = s->conn;

    if (!c->ac || !c->connected || c->off)
        return TQ_EREDIS;
    return redisAsyncCommandArgv(c->ac, sub_cb, s, 2, argv, NULL) == REDIS_OK
               ? 0
               : TQ_EREDIS;
}

lsub *lk_sub_add(tq_link *l, lconn *c, const char *channel,
                     tq_link_msg_fn *fn, void *ud)
{
    lsub *s;

    if (!(s = calloc(1, sizeof *s)) || !(s->channel = strdup(channel)) ||
        tq_map_put(l->subs, channel, s)) {
        if (s)
            free(s->channel);
        free(s);
        return NULL;
    }
    s->fn = fn;
    s->ud = ud;
    s->conn = c;
    s->state = SUB_WANTED;
    return s;
}

int tq_link_subscribe(tq_link *l, int i, const char *channel,
                      tq_link_msg_fn *fn, void *ud)
{
    return tq_link_subscribe_ready(l, i, channel, fn, NULL, ud);
}

int tq_link_subscribe_ready(tq_link *l, int i, const char *channel,
                            tq_link_msg_fn *fn, tq_link_ready_fn *ready,
                            void *ud)
{
    lsub *s;

    if (i < 0 || i >= l->conf.nconns || l->conns[i].kind != TQ_LINK_SUB ||
        !channel || !*channel)
        return TQ_EINVAL;
    s = tq_map_get(l->subs, channel);
    if (s) {
        if (s->state != SUB_LEAVING || s->again)
            return TQ_EINVAL;
        /* still leaving: subscribe again once Redis confirmed the leave */
        s->again = 1;
        s->fn = fn;
        s->ready = ready;
        s->ud = ud;
        return 0;
    }
    if (!(s = lk_sub_add(l, &l->conns[i], channel, fn, ud)))
        return TQ_ENOMEM;
    s->ready = ready;
    if (l->up || (l->phase == PH_SETUP && !l->failing)) {
        /* while setting up, setup() has sent the others already: this one
         * goes now and on_up waits for it too */
        if (lk_sub_send(l, s, "SUBSCRIBE")) {
            lk_fail(l, 0, "cannot send SUBSCRIBE");
            return 0; /* kept: sent again when the set is back */
        }
        s->state = SUB_SENT;
        if (!l->up) {
            s->setup = 1;
            l->setup_left++;
        }
    }
    return 0;
}

int tq_link_unsubscribe(tq_link *l, const char *channel)
{
    lsub *s;

    if (!(s = tq_map_get(l->subs, channel)) || s->keepalive ||
        (s->state == SUB_LEAVING && !s->again))
        return TQ_EINVAL;
    if (s->state == SUB_LEAVING) { /* the subscribe-again is taken back */
        s->again = 0;
        return 0;
    }
    if (s->state == SUB_WANTED || !s->conn->ac) {
        /* not in hiredis's table: nothing to tell Redis */
        sub_unlink_free(l, s);
        return 0;
    }
    /* in hiredis's table until Redis confirms: the record stays till then
     * (or till a teardown), delivering nothing. A failed send means the
     * connection is going down, which frees it too. */
    s->gone = 1;
    s->fn = NULL;
    s->state = SUB_LEAVING;
    (void)lk_sub_send(l, s, "UNSUBSCRIBE");
    return 0;
}

size_t tq_link_nsubs(const tq_link *l)
{
    tq_map_iter it = {0};
    lsub *s;
    size_t n = 0;

    while (tq_map_next(l->subs, &it, NULL, (void **)&s))
        n += !s->keepalive;
    return n;
}


/* The set-up of a set: every wanted subscription is sent, and counted
 * among the replies on_up waits for. */
void lk_subs_send_all(tq_link *l)
{
    tq_map_iter it = {0};
    lsub *s;

    while (tq_map_next(l->subs, &it, NULL, (void **)&s)) {
        if (s->state != SUB_WANTED || s->conn->off)
            continue;
        if (lk_sub_send(l, s, "SUBSCRIBE")) {
            lk_fail(l, 0, "cannot send SUBSCRIBE");
            return;
        }
        s->state = SUB_SENT;
        s->setup = 1;
        l->setup_left++;
    }
}

/* After a teardown: subscriptions that were leaving are gone; the rest are
 * wanted again. */
void lk_subs_reset(tq_link *l)
{
    tq_map_iter it = {0};
    lsub *s;

    while (tq_map_next(l->subs, &it, NULL, (void **)&s)) {
        if (s->state == SUB_LEAVING && !s->again) {
            sub_unlink_free(l, s);
        } else {
            s->state = SUB_WANTED;
            s->again = 0;
            s->gone = 0;
            s->setup = 0;
        }
    }
}


/* Every record and the table (the set is stopped: hiredis holds none). */
void lk_subs_free(tq_link *l)
{
    tq_map_iter it = {0};
    lsub *s;

    if (!l->subs)
        return;
    while (tq_map_next(l->subs, &it, NULL, (void **)&s)) {
        free(s->channel);
        free(s);
    }
    tq_map_free(l->subs);
    l->subs = NULL;
}
