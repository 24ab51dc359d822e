/* sched.c -- the worker's ticker: every worker fires schedules' ticks, none
 * leads.
 *
 * The one idea: the next tick is computed in C (proto/cron.c: Lua in Redis
 * has no tz database), the tick is fired in Lua (schedfire) as a
 * compare-and-set on the schedule's `next`. Every worker asks schedpeek for
 * Redis's clock and the schedule due first, arms a timer of its own for that
 * moment on Redis's clock (as claim.c does for delayed jobs: Redis's own
 * timeouts end on its 100 ms cron tick), and then calls schedfire with the
 * tick and the next tick after it. Workers racing for a tick all propose the
 * same next; the first one creates the job (its id names the schedule and
 * the tick, so it can never be created twice) and moves `next`, the others
 * find `next` moved and do nothing. A crash between peek and fire loses
 * nothing: `next` has not moved, and the next peek of any worker fires it.
 *
 * What to do with a peek's answer (fire, catch up, skip, arm, peek later)
 * is decided by broker/schedtick.c, shared with `tq dashboard`'s ticker;
 * this file sends the calls on the worker's async link and keeps the timer.
 *
 * Quiet cost: one schedpeek per second per worker while nothing is due
 * within the second (so a schedule added or resumed is seen within 1 s),
 * and a peek + a fire per tick. Nothing here touches claim or ack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/worker_private.h"

static void sched_peek(tq_worker *w);

static void fire_cb(redisAsyncContext *ac, void *r, void *priv);

/* schedfire for the pending tick (w->sc.plan) in mode. */
static void sched_fire(tq_worker *w, const char *mode)
{
    tq_cmd c;

    if (!wk_up(w) || w->state != WK_RUNNING || w->sc.in_flight)
        return;
    tq_schedtick_fire_cmd(&w->sc.st, &w->sc.plan, mode, &c);
    if (wk_send_script(w, &c, fire_cb, w) != 0) {
        tq_cmd_clear(&c);
        wk_link_fail(w, "cannot send schedfire");
        return;
    }
    tq_cmd_clear(&c);
    w->sc.in_flight = 1;
    w->sc.armed = 0;
}

static void fire_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;
    const char *what, *detail;
    const char *name = w->sc.plan.name;
    long long tick = (long long)w->sc.plan.tick;

    w->sc.in_flight = 0;
    if (!rep)
        return; /* the link went down: on_up peeks again */
    if (rep->type == REDIS_REPLY_ERROR) {
        int64_t ms = tq_reply_is_noscript(rep)
                         ? wk_redis_noscript(w, "schedfire", rep->str)
                         : wk_redis_error(w, "schedfire", rep->str);
        tq_timer_ms(w->sc.ev, ms);
        return;
    }
    what = tq_reply_str(rep, 0, NULL);
    detail = tq_reply_str(rep, 1, NULL);
    if (what && !strcmp(what, "fired")) {
        const char *fields[] = {"schedule", name, "job", detail ? detail : "", NULL};
        wk_log(w, TQ_LOG_INFO, fields, "schedule %s: tick %lld fired job %s",
               name, tick, detail ? detail : "?");
    } else if (what && !strcmp(what, "overlap")) {
        wk_log(w, TQ_LOG_INFO, NULL, "schedule %s: tick %lld skipped: job %s "
               "still running (--overlap skip)", name, tick, detail ? detail : "?");
    } else if (what && !strcmp(what, "skipped")) {
        wk_log(w, TQ_LOG_WARN, NULL, "schedule %s: %s missed tick(s) skipped "
               "(older than its --catchup)", name, detail ? detail : "?");
    }
    /* whatever it said (moved, early, exists, gone...): look again now */
    sched_peek(w);
}

static void peek_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;
    tq_schedtick_plan *p = &w->sc.plan;

    w->sc.in_flight = 0;
    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        int64_t ms = tq_reply_is_noscript(rep)
                         ? wk_redis_noscript(w, "schedpeek", rep->str)
                         : wk_redis_error(w, "schedpeek", rep->str);
        tq_timer_ms(w->sc.ev, ms);
        return;
    }
    tq_schedtick_plan_of(&w->sc.st, rep, p);
    if (p->error[0])
        wk_log(w, TQ_LOG_ERROR, NULL, "%s", p->error);
    switch (p->what) {
    case TQ_SCHEDTICK_PEEK:
        tq_timer_ms(w->sc.ev, p->ms);
        break;
    case TQ_SCHEDTICK_ARM: /* the timer fires the tick itself, no peek first */
        w->sc.armed = 1;
        tq_timer_ms(w->sc.ev, p->ms);
        break;
    case TQ_SCHEDTICK_FIRE:
        sched_fire(w, p->mode);
        break;
    }
}

static void sched_peek(tq_worker *w)
{
    tq_cmd c;

    if (!wk_up(w) || w->state != WK_RUNNING || w->sc.in_flight)
        return;
    evtimer_del(w->sc.ev);
    w->sc.armed = 0;
    tq_schedtick_peek_cmd(&w->sc.st, &c);
    if (wk_send_script(w, &c, peek_cb, w) != 0) {
        tq_cmd_clear(&c);
        wk_link_fail(w, "cannot send schedpeek");
        return;
    }
    tq_cmd_clear(&c);
    w->sc.in_flight = 1;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;

    if (w->sc.armed)
        sched_fire(w, "fire");
    else
        sched_peek(w);
}

/* ================================================================ entry points */

int wk_sched_init(tq_worker *w)
{
    w->sc.ev = evtimer_new(w->base, timer_cb, w);
    if (!w->sc.ev || tq_schedtick_init(&w->sc.st, w->ns) != 0)
        return TQ_ENOMEM;
    return 0;
}

void wk_sched_up(tq_worker *w)
{
    w->sc.in_flight = 0; /* every reply callback ran with NULL */
    sched_peek(w);
}

void wk_sched_stop(tq_worker *w)
{
    if (w->sc.ev)
        evtimer_del(w->sc.ev);
    w->sc.armed = 0;
}

void wk_sched_free(tq_worker *w)
{
    if (w->sc.ev)
        event_free(w->sc.ev);
    w->sc.ev = NULL;
    tq_schedtick_clear(&w->sc.st);
    memset(&w->sc, 0, sizeof w->sc);
}
