/* schedtick.h -- a ticker's decision: what to do with schedpeek's answer.
 *
 * Every process that fires schedules' ticks (each tq-worker: worker/sched.c,
 * and tq dashboard: cmd/tq/dashboard.c) runs the same loop: schedpeek gives
 * Redis's clock and the schedule due first; the decision below says whether
 * to peek again later, to arm a timer for the tick (on Redis's clock), or to
 * call schedfire now (a late tick: caught up or skipped), and with which
 * tick, next tick (computed in C by proto/cron.c) and mode. The callers only
 * send the calls, each on its own link, and keep their own timer. Pure
 * code: no I/O, no clock of its own (docs/design.md §11).
 */
#ifndef TQ_SCHEDTICK_H
#define TQ_SCHEDTICK_H

#include <stdint.h>

#include "broker/broker.h"
#include "proto/cron.h"

#define TQ_SCHEDTICK_PEEK_MS 1000  /* re-read the earliest schedule at least this often */
#define TQ_SCHEDTICK_GRACE_MS 1000 /* a tick this late is still fired on time */
#define TQ_SCHEDTICK_LATE_MS 100   /* a tick this late was missed, not just due */
#define TQ_SCHEDTICK_BAD_MS 60000  /* a schedule this ticker cannot read: try again after */

/* A ticker's memory: its namespace's keys, and the spec and zone of the
 * last schedule seen, parsed (most tickers see the same one again and
 * again: a zone file is read once per change). */
typedef struct tq_schedtick {
    char *zkey, *hprefix, *prefix; /* P:schedules, P:schedule:, P: */
    char *spec, *tzname;
    tq_tz *tz;
    tq_cron cron;
    int bad_logged;                /* the bad schedule's error was given once */
} tq_schedtick;

typedef enum tq_schedtick_do {
    TQ_SCHEDTICK_PEEK, /* nothing due within ms: peek again after ms */
    TQ_SCHEDTICK_ARM,  /* the tick is due in ms (Redis's clock): fire it then, mode "fire" */
    TQ_SCHEDTICK_FIRE  /* call schedfire now with mode */
} tq_schedtick_do;

/* What to do next; tick, next, nskip and name are schedfire's arguments. */
typedef struct tq_schedtick_plan {
    tq_schedtick_do what;
    double ms;                 /* PEEK and ARM: after this long */
    const char *mode;          /* "fire", "catchup" or "skip" (static) */
    char name[256];
    char hkey[512];            /* P:schedule:NAME */
    int64_t tick, next, nskip;
    char error[300];           /* non-empty: one line to log (once per bad schedule) */
} tq_schedtick_plan;

/* 0 or TQ_ENOMEM (ns: the namespace). */
int tq_schedtick_init(tq_schedtick *t, const char *ns);
void tq_schedtick_clear(tq_schedtick *t);

/* The schedpeek call (KEYS schedules, ARGV P:schedule:); c is the caller's
 * to send and clear. Borrows t's strings. */
void tq_schedtick_peek_cmd(const tq_schedtick *t, tq_cmd *c);

/* The decision for a schedpeek reply that is not an error reply (the
 * caller backs off on those as it does for any script): never fails; a
 * reply of another shape is PEEK after 1 s with error set. */
void tq_schedtick_plan_of(tq_schedtick *t, const redisReply *peek, tq_schedtick_plan *p);

/* The schedfire call for p (mode: p->mode, or "fire" for an ARM that came
 * due). Borrows t's and p's strings: p must outlive the send. */
void tq_schedtick_fire_cmd(const tq_schedtick *t, const tq_schedtick_plan *p,
                           const char *mode, tq_cmd *c);

#endif
