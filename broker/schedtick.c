/* schedtick.c -- a ticker's decision (schedtick.h): given schedpeek's
 * answer (Redis's clock and the schedule due first), fire now, skip what
 * was missed, arm a timer for the tick, or peek again later.
 *
 * Catch-up: a tick found more than TQ_SCHEDTICK_GRACE_MS late (every
 * ticker was down) is fired only if it is less than the schedule's catchup
 * old (mode catchup: one call per tick, oldest first, --overlap not
 * consulted); older ones are skipped in one schedfire call (mode skip,
 * counted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/schedtick.h"
#include "proto/proto_private.h"

#define SKIP_SCAN 1000000 /* missed ticks counted one by one at most */
#define NEVER_MS (10LL * 366 * 86400 * 1000) /* a spec that never matches: 10 years on */

int tq_schedtick_init(tq_schedtick *t, const char *ns)
{
    size_t n = strlen(ns) + 16;

    memset(t, 0, sizeof *t);
    t->zkey = malloc(n);
    t->hprefix = malloc(n);
    t->prefix = malloc(n);
    if (!t->zkey || !t->hprefix || !t->prefix) {
        tq_schedtick_clear(t);
        return TQ_ENOMEM;
    }
    snprintf(t->zkey, n, "%s:schedules", ns);
    snprintf(t->hprefix, n, "%s:schedule:", ns);
    snprintf(t->prefix, n, "%s:", ns);
    return 0;
}

void tq_schedtick_clear(tq_schedtick *t)
{
    free(t->zkey);
    free(t->hprefix);
    free(t->prefix);
    free(t->spec);
    free(t->tzname);
    tq_tz_free(t->tz);
    memset(t, 0, sizeof *t);
}

void tq_schedtick_peek_cmd(const tq_schedtick *t, tq_cmd *c)
{
    tq_cmd_init(c, TQ_SCRIPT_SCHEDPEEK);
    tq_cmd_key(c, t->zkey);
    tq_cmd_args(c, t->hprefix);
}

void tq_schedtick_fire_cmd(const tq_schedtick *t, const tq_schedtick_plan *p,
                           const char *mode, tq_cmd *c)
{
    tq_cmd_init(c, TQ_SCRIPT_SCHEDFIRE);
    tq_cmd_key(c, t->zkey);
    tq_cmd_key(c, p->hkey);
    tq_cmd_args(c, t->prefix);
    tq_cmd_args(c, p->name);
    tq_cmd_args(c, mode);
    tq_cmd_argi(c, (long long)p->tick);
    tq_cmd_argi(c, (long long)p->next);
    tq_cmd_argi(c, (long long)p->nskip);
}

/* The spec and zone parsed, from t's memory when they are the last ones. */
static int spec_of(tq_schedtick *t, const char *spec, const char *tz, tq_perr *e)
{
    tq_tz *z = NULL;
    tq_cron c;
    int rc;

    if (t->spec && t->tzname && !strcmp(t->spec, spec) && !strcmp(t->tzname, tz))
        return 0;
    if ((rc = tq_cron_parse(spec, &c, e)) != 0)
        return rc;
    if ((rc = tq_tz_load(tz, &z, e)) != 0)
        return rc;
    free(t->spec);
    free(t->tzname);
    tq_tz_free(t->tz);
    t->spec = strdup(spec);
    t->tzname = strdup(tz);
    t->tz = z;
    t->cron = c;
    if (!t->spec || !t->tzname) {
        free(t->spec);
        free(t->tzname);
        t->spec = t->tzname = NULL;
        tq_perr_set(e, "out of memory");
        return TQ_ENOMEM;
    }
    return 0;
}

static int64_t next_after(const tq_schedtick *t, int64_t tick)
{
    int64_t n = tq_cron_next(&t->cron, t->tz, tick);
    return n < 0 ? tick + NEVER_MS : n;
}

static void peek_later(tq_schedtick_plan *p, double ms)
{
    p->what = TQ_SCHEDTICK_PEEK;
    p->ms = ms;
}

static void fire_now(tq_schedtick_plan *p, const char *mode)
{
    p->what = TQ_SCHEDTICK_FIRE;
    p->mode = mode;
    p->ms = 0;
}

void tq_schedtick_plan_of(tq_schedtick *t, const redisReply *rep, tq_schedtick_plan *p)
{
    long long now, cu;
    const char *name, *score, *spec, *tz, *catchup, *next;
    char *end = NULL;
    double sc;
    int64_t tick, window, u, n = 0;
    size_t nl;
    tq_perr e;

    memset(p, 0, sizeof *p);
    p->mode = "fire";
    if (!rep || rep->type != REDIS_REPLY_ARRAY || tq_reply_int(rep, 0, &now) != 0) {
        snprintf(p->error, sizeof p->error, "schedpeek: unexpected reply; again in 1 s");
        peek_later(p, TQ_SCHEDTICK_PEEK_MS);
        return;
    }
    name = tq_reply_str(rep, 1, NULL);
    score = tq_reply_str(rep, 2, NULL);
    sc = score ? strtod(score, &end) : 0;
    if (!name || !*name || !score || end == score || *end || !(sc < 1e15) || sc < 0 ||
        (nl = strlen(name)) >= sizeof p->name) {
        peek_later(p, TQ_SCHEDTICK_PEEK_MS); /* none, or all paused (+inf) */
        return;
    }
    spec = tq_reply_str(rep, 3, NULL);
    tz = tq_reply_str(rep, 4, NULL);
    catchup = tq_reply_str(rep, 5, NULL);
    next = tq_reply_str(rep, 6, NULL);
    cu = catchup ? atoll(catchup) : 0;
    memcpy(p->name, name, nl + 1);
    snprintf(p->hkey, sizeof p->hkey, "%s%s", t->hprefix, name);
    tick = (int64_t)sc;
    p->tick = tick;
    if (!spec || !next || atoll(next) != tick) {
        /* gone or half-written: schedfire says which and cleans up */
        p->next = tick;
        fire_now(p, "fire");
        return;
    }
    if (spec_of(t, spec, tz ? tz : "UTC", &e) != 0) {
        if (!t->bad_logged)
            snprintf(p->error, sizeof p->error, "schedule %s: %s; its ticks are put off by %d s",
                     name, e.text, TQ_SCHEDTICK_BAD_MS / 1000);
        t->bad_logged = 1;
        p->next = now + TQ_SCHEDTICK_BAD_MS;
        fire_now(p, "skip");
        return;
    }
    t->bad_logged = 0;
    if (tick > now) {
        /* the timer fires the tick itself, no peek first: ~1 ms late */
        double left = (double)(tick - now);
        if (left > TQ_SCHEDTICK_PEEK_MS) {
            peek_later(p, TQ_SCHEDTICK_PEEK_MS);
            return;
        }
        p->next = next_after(t, tick);
        p->what = TQ_SCHEDTICK_ARM;
        p->ms = left + 0.5;
        return;
    }
    window = cu > TQ_SCHEDTICK_GRACE_MS ? cu : TQ_SCHEDTICK_GRACE_MS;
    if (now - tick > window) {
        /* missed while nobody ran: skip to the first tick within the window */
        for (u = tick; u >= 0 && now - u > window && n < SKIP_SCAN; n++) {
            if (t->cron.every_ms > 0) { /* arithmetic, not a loop */
                int64_t k = (now - window - u + t->cron.every_ms - 1) / t->cron.every_ms;
                u += k * t->cron.every_ms;
                n += k - 1;
                continue;
            }
            u = tq_cron_next(&t->cron, t->tz, u);
        }
        if (u >= 0 && now - u > window) /* scanned enough: jump */
            u = tq_cron_next(&t->cron, t->tz, now - window);
        p->next = u >= 0 ? u : tick + NEVER_MS;
        p->nskip = n;
        fire_now(p, "skip");
        return;
    }
    p->next = next_after(t, tick);
    /* a missed tick being caught up (--catchup set, the tick late: not
     * fired by the timer) runs whatever --overlap says */
    fire_now(p, cu > 0 && now - tick > TQ_SCHEDTICK_LATE_MS ? "catchup" : "fire");
}
