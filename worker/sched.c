/* sched.c -- the ticker: every worker fires schedules' ticks, none leads.
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
 * Quiet cost: one schedpeek per second per worker while nothing is due
 * within the second (so a schedule added or resumed is seen within 1 s),
 * and a peek + a fire per tick. Nothing here touches claim or ack.
 *
 * Catch-up: a tick found more than WK_SCHED_GRACE_MS late (every process
 * was down) is fired only if it is less than the schedule's catchup old
 * (mode catchup: one call per tick, oldest first, --overlap not consulted);
 * older ones are skipped in one schedfire call (mode skip, counted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cron.h"
#include "worker/worker_private.h"

#define WK_SCHED_PEEK_MS 1000      /* re-read the earliest schedule at least this often */
#define WK_SCHED_GRACE_MS 1000     /* a tick this late is still fired on time */
#define WK_SCHED_LATE_MS 100      /* a tick this late was missed, not just due */
#define WK_SCHED_BAD_MS 60000      /* a schedule this worker cannot read: try again after */
#define WK_SCHED_SKIP_SCAN 1000000 /* missed ticks counted one by one at most */

static void sched_peek(tq_worker *w);

static void arm(tq_worker *w, double ms)
{
    struct timeval tv;

    if (ms < 0)
        ms = 0;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((long long)ms % 1000) * 1000 +
                 (suseconds_t)((ms - (double)(long long)ms) * 1000);
    evtimer_add(w->sc.ev, &tv);
}

/* The parsed spec and zone of the last schedule seen (most workers see the
 * same one again and again: a zone file is read once per change). */
static int sched_spec(tq_worker *w, const char *spec, const char *tz, tq_perr *e)
{
    tq_tz *z = NULL;
    tq_cron c;
    int rc;

    if (w->sc.spec && w->sc.tzname && !strcmp(w->sc.spec, spec) &&
        !strcmp(w->sc.tzname, tz))
        return 0;
    if ((rc = tq_cron_parse(spec, &c, e)) != 0)
        return rc;
    if ((rc = tq_tz_load(tz, &z, e)) != 0)
        return rc;
    free(w->sc.spec);
    free(w->sc.tzname);
    tq_tz_free(w->sc.tz);
    w->sc.spec = strdup(spec);
    w->sc.tzname = strdup(tz);
    w->sc.tz = z;
    w->sc.cron = c;
    if (!w->sc.spec || !w->sc.tzname) {
        free(w->sc.spec);
        free(w->sc.tzname);
        w->sc.spec = w->sc.tzname = NULL;
        tq_perr_set(e, "out of memory");
        return TQ_ENOMEM;
    }
    return 0;
}

static void fire_cb(redisAsyncContext *ac, void *r, void *priv);

/* schedfire for the pending tick (w->sc.name, tick, next, nskip). */
static void sched_fire(tq_worker *w, const char *mode)
{
    char hk[512], tick[24], next[24], nskip[24];
    tq_cmd c;

    if (!wk_up(w) || w->state != WK_RUNNING || w->sc.in_flight)
        return;
    snprintf(hk, sizeof hk, "%s:schedule:%s", w->ns, w->sc.name);
    snprintf(tick, sizeof tick, "%lld", (long long)w->sc.tick);
    snprintf(next, sizeof next, "%lld", (long long)w->sc.next);
    snprintf(nskip, sizeof nskip, "%lld", (long long)w->sc.nskip);
    tq_cmd_init(&c, TQ_SCRIPT_SCHEDFIRE);
    tq_cmd_key(&c, w->sc.zkey);
    tq_cmd_key(&c, hk);
    tq_cmd_args(&c, w->sc.prefix);
    tq_cmd_args(&c, w->sc.name);
    tq_cmd_args(&c, mode);
    tq_cmd_args(&c, tick);
    tq_cmd_args(&c, next);
    tq_cmd_args(&c, nskip);
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

    w->sc.in_flight = 0;
    if (!rep)
        return; /* the link went down: on_up peeks again */
    if (rep->type == REDIS_REPLY_ERROR) {
        int64_t ms = tq_reply_is_noscript(rep)
                         ? wk_redis_noscript(w, "schedfire", rep->str)
                         : wk_redis_error(w, "schedfire", rep->str);
        arm(w, (double)ms);
        return;
    }
    what = tq_reply_str(rep, 0, NULL);
    detail = tq_reply_str(rep, 1, NULL);
    if (what && !strcmp(what, "fired")) {
        const char *fields[] = {"schedule", w->sc.name, "job", detail ? detail : "", NULL};
        wk_log(w, TQ_LOG_INFO, fields, "schedule %s: tick %lld fired job %s",
               w->sc.name, (long long)w->sc.tick, detail ? detail : "?");
    } else if (what && !strcmp(what, "overlap")) {
        wk_log(w, TQ_LOG_INFO, NULL, "schedule %s: tick %lld skipped: job %s "
               "still running (--overlap skip)", w->sc.name, (long long)w->sc.tick,
               detail ? detail : "?");
    } else if (what && !strcmp(what, "skipped")) {
        wk_log(w, TQ_LOG_WARN, NULL, "schedule %s: %s missed tick(s) skipped "
               "(older than its --catchup)", w->sc.name, detail ? detail : "?");
    }
    /* whatever it said (moved, early, exists, gone...): look again now */
    sched_peek(w);
}

/* Decides what to do with the schedule due first: fire it now, skip what
 * was missed, or wait for it. now is Redis's clock (ms). */
static void sched_due(tq_worker *w, long long now, const char *name,
                      double score, const char *spec, const char *tz,
                      const char *catchup, const char *next)
{
    tq_perr e;
    long long tick, window, cu = catchup ? atoll(catchup) : 0;
    int64_t t, n = 0;
    size_t nl = strlen(name);

    if (nl >= sizeof w->sc.name) {
        arm(w, WK_SCHED_PEEK_MS);
        return;
    }
    memcpy(w->sc.name, name, nl + 1);
    tick = (long long)score;
    if (!spec || !next || atoll(next) != tick) {
        /* gone or half-written: schedfire says which and cleans up */
        w->sc.tick = tick;
        w->sc.next = tick;
        w->sc.nskip = 0;
        sched_fire(w, "fire");
        return;
    }
    if (sched_spec(w, spec, tz ? tz : "UTC", &e) != 0) {
        if (!w->sc.bad_logged)
            wk_log(w, TQ_LOG_ERROR, NULL, "schedule %s: %s; its ticks are put off "
                   "by %d s", name, e.text, WK_SCHED_BAD_MS / 1000);
        w->sc.bad_logged = 1;
        w->sc.tick = tick;
        w->sc.next = now + WK_SCHED_BAD_MS;
        w->sc.nskip = 0;
        sched_fire(w, "skip");
        return;
    }
    w->sc.bad_logged = 0;
    w->sc.tick = tick;
    w->sc.nskip = 0;
    if (tick > now) {
        /* the timer fires the tick itself, no peek first: ~1 ms late */
        double left = (double)(tick - now);
        if (left > WK_SCHED_PEEK_MS) {
            arm(w, WK_SCHED_PEEK_MS);
            return;
        }
        w->sc.next = tq_cron_next(&w->sc.cron, w->sc.tz, tick);
        if (w->sc.next < 0)
            w->sc.next = tick + 10LL * 366 * 86400 * 1000; /* never: 10 years on */
        w->sc.armed = 1;
        arm(w, left + 0.5);
        return;
    }
    window = cu > WK_SCHED_GRACE_MS ? cu : WK_SCHED_GRACE_MS;
    if (now - tick > window) {
        /* missed while nobody ran: skip to the first tick within the window */
        for (t = tick; t >= 0 && now - t > window && n < WK_SCHED_SKIP_SCAN; n++) {
            if (w->sc.cron.every_ms > 0) { /* arithmetic, not a loop */
                int64_t k = (now - window - t + w->sc.cron.every_ms - 1) /
                            w->sc.cron.every_ms;
                t += k * w->sc.cron.every_ms;
                n += k - 1;
                continue;
            }
            t = tq_cron_next(&w->sc.cron, w->sc.tz, t);
        }
        if (t >= 0 && now - t > window) /* scanned enough: jump */
            t = tq_cron_next(&w->sc.cron, w->sc.tz, now - window);
        w->sc.next = t >= 0 ? t : tick + 10LL * 366 * 86400 * 1000;
        w->sc.nskip = n;
        sched_fire(w, "skip");
        return;
    }
    w->sc.next = tq_cron_next(&w->sc.cron, w->sc.tz, tick);
    if (w->sc.next < 0)
        w->sc.next = tick + 10LL * 366 * 86400 * 1000;
    /* a missed tick being caught up (--catchup set, the tick late: not
     * fired by the timer) runs whatever --overlap says */
    sched_fire(w, cu > 0 && now - tick > WK_SCHED_LATE_MS ? "catchup" : "fire");
}

static void peek_cb(redisAsyncContext *ac, void *r, void *priv)
{
    tq_worker *w = priv;
    redisReply *rep = r;
    long long now;
    const char *name, *score;
    char *end;
    double sc;

    w->sc.in_flight = 0;
    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        int64_t ms = tq_reply_is_noscript(rep)
                         ? wk_redis_noscript(w, "schedpeek", rep->str)
                         : wk_redis_error(w, "schedpeek", rep->str);
        arm(w, (double)ms);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || tq_reply_int(rep, 0, &now) != 0) {
        wk_log(w, TQ_LOG_ERROR, NULL, "schedpeek: unexpected reply; again in 1 s");
        arm(w, WK_SCHED_PEEK_MS);
        return;
    }
    name = tq_reply_str(rep, 1, NULL);
    score = tq_reply_str(rep, 2, NULL);
    sc = score ? strtod(score, &end) : 0;
    if (!name || !*name || !score || end == score || *end || !(sc < 1e15) || sc < 0) {
        arm(w, WK_SCHED_PEEK_MS); /* none, or all paused (+inf) */
        return;
    }
    sched_due(w, now, name, sc, tq_reply_str(rep, 3, NULL),
              tq_reply_str(rep, 4, NULL), tq_reply_str(rep, 5, NULL),
              tq_reply_str(rep, 6, NULL));
}

static void sched_peek(tq_worker *w)
{
    tq_cmd c;

    if (!wk_up(w) || w->state != WK_RUNNING || w->sc.in_flight)
        return;
    evtimer_del(w->sc.ev);
    w->sc.armed = 0;
    tq_cmd_init(&c, TQ_SCRIPT_SCHEDPEEK);
    tq_cmd_key(&c, w->sc.zkey);
    tq_cmd_args(&c, w->sc.hprefix);
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
    size_t n = strlen(w->ns) + 16;

    w->sc.ev = evtimer_new(w->base, timer_cb, w);
    w->sc.zkey = malloc(n);
    w->sc.hprefix = malloc(n);
    w->sc.prefix = malloc(n);
    if (!w->sc.ev || !w->sc.zkey || !w->sc.hprefix || !w->sc.prefix)
        return TQ_ENOMEM;
    snprintf(w->sc.zkey, n, "%s:schedules", w->ns);
    snprintf(w->sc.hprefix, n, "%s:schedule:", w->ns);
    snprintf(w->sc.prefix, n, "%s:", w->ns);
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
    free(w->sc.zkey);
    free(w->sc.hprefix);
    free(w->sc.prefix);
    free(w->sc.spec);
    free(w->sc.tzname);
    tq_tz_free(w->sc.tz);
    memset(&w->sc, 0, sizeof w->sc);
}
