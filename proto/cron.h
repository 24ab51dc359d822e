/* cron.h -- schedules' time: cron expressions, @every, and time zones read
 * from the system's tz database (SPEC §10).
 *
 * Pure code, no Redis: the worker's ticker (worker/sched.c) and `tq schedule
 * add` (client/schedule.c) both compute a schedule's next tick here, so they
 * agree to the millisecond and every worker racing to fire a tick proposes
 * the same next one. Time zones are read by a small reentrant TZif reader
 * (proto/tz.c), never through setenv("TZ")/tzset(), which would change the
 * host process's state.
 */
#ifndef TQ_CRON_H
#define TQ_CRON_H

#include <stdint.h>

#include "proto/proto.h"

/* ---------------------------------------------------------------- time zones */

/* A zone: the transitions of its TZif file (64-bit section) and the POSIX
 * rule of its footer for instants past the table. Opaque; tq_tz_free. */
typedef struct tq_tz tq_tz;

/* Loads zone name ("UTC", "Europe/Berlin") from $TZDIR or
 * /usr/share/zoneinfo. NULL or "" or "UTC" is UTC without a file. Returns 0,
 * TQ_EINVAL (no such zone, a name that is not a zone's, a file that is not
 * TZif: e says which), or TQ_ENOMEM. *out is the caller's. */
int tq_tz_load(const char *name, tq_tz **out, tq_perr *e);
void tq_tz_free(tq_tz *tz);
/* The zone's offset from UTC (seconds east) at Unix time t, and the bounds
 * of the span around t that has that offset: [*from, *to) (INT64_MIN /
 * INT64_MAX when unbounded). */
int32_t tq_tz_offset(const tq_tz *tz, int64_t t, int64_t *from, int64_t *to);

/* Days since 1970-01-01 of y-m-d (proleptic Gregorian; Hinnant's
 * algorithm); m 1..12. Shared by the zone rules and the cron walk. */
int64_t tq_days_from_civil(int64_t y, int m, int d);

/* ---------------------------------------------------------------- cron */

typedef struct tq_cron {
    uint64_t sec, min;          /* bit n: second / minute n matches */
    uint32_t hour, dom, mon;    /* hours 0-23, days 1-31, months 1-12 */
    uint8_t dow;                /* days of week 0-6, Sunday = 0 */
    int dom_star, dow_star;     /* the field began with '*' (cron's day rule) */
    int hour_star;              /* hours follow real time across DST (DST rule) */
    int64_t every_ms;           /* @every: the period; 0 = a cron expression */
} tq_cron;

/* Parses a schedule's SPEC: 5 fields (minute hour day-of-month month
 * day-of-week) or 6 (seconds first); each '*', N, A-B, lists, '/STEP', names
 * JAN-DEC and SUN-SAT, 7 = Sunday; or @every DUR, @hourly, @daily, @weekly,
 * @monthly, @yearly (@annually). Returns 0 or TQ_EINVAL with e naming the
 * field: "cron field 3 (day of month): 32 is out of range 1-31". */
int tq_cron_parse(const char *text, tq_cron *c, tq_perr *e);

/* The first tick strictly after after_ms (Unix ms) in zone tz (NULL: UTC),
 * in Unix ms, or -1 when the expression never matches within ten years
 * (30 February). @every: after_ms + the period (the zone plays no part).
 *
 * Daylight-saving changes, as Vixie cron: a tick whose local time does not
 * exist (the clock jumps forward) fires once, at the instant of the jump;
 * a local time that happens twice (the clock goes back) fires once, at its
 * first occurrence. An expression whose hour field is '*'
 * follows real time instead (a step too, '*' then '/N'): it fires at every instant whose local time
 * matches, so in both occurrences of a repeated hour and never in a
 * skipped one. */
int64_t tq_cron_next(const tq_cron *c, const tq_tz *tz, int64_t after_ms);

#endif
