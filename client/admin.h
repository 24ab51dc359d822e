/* admin.h -- the operator's calls behind `tq stats`, `workers`, `dlq`,
 * `purge` (admin.c), `semaphore` (semaphore.c), `ratelimit` (ratelimit.c),
 * `queue` and `jobs` (queue.c).
 *
 * Internal to libtq and the CLI. Listings come back as jansson values, so the
 * CLI prints either an aligned table or --json from the same data and the
 * library never formats for a terminal. Every call returns 0 or a negative
 * TQ_E* code with the client's errstr set, like the rest of the client.
 */
#ifndef TQ_CLIENT_ADMIN_H
#define TQ_CLIENT_ADMIN_H

#include <jansson.h>

#include "tq/tq.h"
#include "proto/proto.h"

/* Internal to libtq: not exported from libtq.so (the CLI links libtq.a). */
#pragma GCC visibility push(hidden)

/* Per queue of P:queues, sorted by name, an object:
 *   {"queue", "pending", "scheduled", "active", "dead", "paused" (tq queue pause),
 *    "totals": {"processed", "succeeded", "failed", "dead", "retried",
 *               "lost", "cancelled", ...every field of the stats hash}}
 * pending sums the ten priority lists, so it may count a few cancelled ids
 * that claim will skip (docs/design.md §2). *out is a new reference. */
int tq_admin_stats(tq_client *c, json_t **out);

/* The live workers of P:workers, oldest heartbeat first, each an object:
 *   {"id", "host", "pid", "queues": [...], "concurrency", "busy",
 *    "started", "heartbeat", "uptime", "heartbeat_age", "state", "stale",
 *    "version"}
 * times in Unix seconds, uptime and heartbeat_age in seconds by Redis's
 * clock; a field the worker's card lacks is null. state is "ok", or "stale"
 * (and stale true) when the last heartbeat is over 3 s old: the worker beats
 * every second, so it is dead or cut off (buried ~10 s after its last beat). */
int tq_admin_workers(tq_client *c, json_t **out);

/* The dead-letter list of queue (NULL = every queue), oldest first:
 *   {"id", "queue", "task", "error", "attempt", "finished_at"}
 * An id whose record has expired shows with task and error null. */
int tq_admin_dlq_list(tq_client *c, const char *queue, json_t **out);

/* Puts a failed job back in its queue with fresh retries. TQ_ENOTFOUND when
 * there is no such job; TQ_EINVAL when it is not failed (errstr says what it
 * is). */
int tq_admin_dlq_retry(tq_client *c, const char *id);

/* Retries every job of the dead-letter list of queue (NULL = every queue);
 * *n receives how many went back. */
int tq_admin_dlq_retry_all(tq_client *c, const char *queue, long long *n);

/* Empties the dead-letter list of queue (NULL = every queue), records and
 * all; *n receives how many ids were dropped. */
int tq_admin_dlq_purge(tq_client *c, const char *queue, long long *n);

/* Drops the pending jobs of queue, records and all; *n: how many. */
int tq_admin_purge(tq_client *c, const char *queue, long long *n);

/* Sets the capacity of a cluster-wide semaphore (0 = nothing may run);
 * jobs parked on it that now fit are woken. */
int tq_admin_semaphore_set(tq_client *c, const char *name, long long cap);

/* An array of {name, capacity, capacity_set, holders: [{job, lease_until}],
 * waiting}: one semaphore, or (name NULL) every one in use or set. */
int tq_admin_semaphore_show(tq_client *c, const char *name, json_t **out);

/* ---------------------------------------------------------------- queues (queue.c) */

/* Pauses (pause 1) or resumes (0) a queue, cluster-wide: once it returns no
 * claim hands out a job of queue until it is resumed (running jobs finish;
 * submits are accepted; due jobs stay scheduled). Resume leaves a wake token
 * so idle workers start at once. Pausing registers the queue (tq stats).
 * *changed: 0 when it was already in that state. */
int tq_admin_queue_pause(tq_client *c, const char *queue, int pause, int *changed);

/* What a queue holds, without changing it: {"queue", "pending",
 * "scheduled", "active", "dead", "succeeded", "failed", "cancelled" (the
 * terminal index: at most 10,000 each), "paused"}. */
int tq_admin_queue_counts(tq_client *c, const char *queue, json_t **out);

/* Deletes every key of queue (SCAN of P:{Q}:*, deleted in batches by the qrm
 * script, waiters on a deleted record told 'deleted') and removes it from
 * P:queues. *n: job records deleted. The caller decides whether active jobs
 * may be dropped (tq queue rm refuses without --force). A submit racing the
 * rm may leave its job behind. */
int tq_admin_queue_rm(tq_client *c, const char *queue, long long *n);

/* The most a listing returns. */
#define TQ_JOBS_LIMIT_MAX 10000

/* 0 when state can be listed (pending scheduled active dead succeeded
 * failed cancelled), else TQ_EINVAL with e saying why (waiting included). */
int tq_admin_jobs_state_check(const char *state, tq_perr *e);

/* Up to limit jobs of queue in state (NULL: every state but dead, merged
 * newest created first), newest first, each an object {"id", "queue",
 * "task", "state", "attempt", "created_at", "started_at", "finished_at",
 * "error"} (times Unix seconds or null). Ids whose record is gone are
 * skipped. *out is a new reference. */
int tq_admin_jobs(tq_client *c, const char *queue, const char *state,
                  long long limit, json_t **out);
/* ---------------------------------------------------------------- schedules (schedule.c) */

/* A schedule as `tq schedule add` gives it (SPEC §10). */
typedef struct tq_schedule_def {
    const char *name;           /* a name (tq_name_check) */
    const char *spec;           /* cron, @every DUR, @hourly ... (tq_cron_parse) */
    const char *tz;             /* a zone of the tz database; NULL = UTC */
    const char *task;
    const char *args;           /* normalized JSON text; NULL = null */
    const tq_submit_opts *o;    /* the jobs' options; NULL = defaults */
    int overlap_allow;          /* 0: skip a tick while the last job runs */
    int64_t catchup_ms;         /* missed ticks younger than this fire */
} tq_schedule_def;

/* Creates or replaces a schedule; *next_ms (if not NULL) gets its first
 * tick (Unix ms, Redis's clock). TQ_EINVAL (bad spec, zone, name, option:
 * the errstr names it) before anything is sent. */
int tq_admin_schedule_add(tq_client *c, const tq_schedule_def *d, int64_t *next_ms);
/* op "pause", "resume" (next tick from now) or "rm". TQ_ENOTFOUND when
 * there is no such schedule. */
int tq_admin_schedule_ctl(tq_client *c, const char *name, const char *op);
/* One job of the schedule now, with a fresh id; the schedule is unchanged. */
int tq_admin_schedule_run(tq_client *c, const char *name, char id[TQ_ID_SIZE]);
/* Every schedule, next tick first (paused ones last), each an object:
 *   {"name", "spec", "tz", "task", "queue", "next_run", "last_run",
 *    "last_tick", "last_job", "last_state", "paused", "overlap", "catchup",
 *    "fired", "skipped"}
 * times in Unix seconds (null: none); last_state is the last job's state,
 * "expired" when its record is gone. *out is a new reference. */
int tq_admin_schedule_list(tq_client *c, json_t **out);
/* A rate as `tq ratelimit set` takes it: "N/s", "N/m" or "N/h" (N from 1,
 * at most 1000000/s) into the time between two tokens in microseconds,
 * rounded up. TQ_EINVAL with e->text ("rate needs a unit: 20/s") else. */
int tq_ratelimit_parse(const char *text, int64_t *interval_us, tq_perr *e);

/* Sets rate limit name (no ':') to rate (tq_ratelimit_parse) with burst
 * tokens at once (1..1000000). Its buckets are kept. */
int tq_admin_ratelimit_set(tq_client *c, const char *name, const char *rate, long long burst);

/* Removes rate limit name; *existed says whether it was set. Jobs that name
 * it (parked ones too) run unlimited from then on. */
int tq_admin_ratelimit_rm(tq_client *c, const char *name, int *existed);

/* An array of {name, rate, burst, interval_us}, sorted by name: every limit
 * (name NULL), or name's alone with "keys", its live per-key buckets
 * (SCAN); TQ_ENOTFOUND when name is not set. */
int tq_admin_ratelimit_show(tq_client *c, const char *name, json_t **out);

/* ---------------------------------------------------------------- the dashboard (dash.c) */

/* The created_at (Unix seconds) of queue's oldest pending job, the next
 * one claim would take (qoldest script); 0 when nothing is pending. */
int tq_admin_queue_oldest(tq_client *c, const char *queue, double *created_at);

/* Deletes a finished job's record (jobdel script): *deleted 1; 0 when the
 * job is not succeeded, failed or cancelled (nothing changed: the caller
 * cancels it first). TQ_ENOTFOUND when there is no such job. */
int tq_admin_job_delete(tq_client *c, const char *id, int *deleted);

/* The dashboard's ticker (docs/design.md §11): schedpeek, and the decision
 * for its answer in *p (broker/schedtick.h); then, for a FIRE (or an ARM
 * come due, mode "fire"), schedfire: *what is its first word ("fired",
 * "moved", "skipped", ...; empty for another reply). 0 or the client's
 * error (an error reply included). */
struct tq_schedtick;
struct tq_schedtick_plan;
int tq_admin_sched_peek(tq_client *c, struct tq_schedtick *t, struct tq_schedtick_plan *p);
int tq_admin_sched_fire(tq_client *c, const struct tq_schedtick *t,
                        const struct tq_schedtick_plan *p, const char *mode,
                        char what[16]);

#pragma GCC visibility pop

#endif
