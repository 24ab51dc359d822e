/* admin.h -- the operator's calls behind `tq stats`, `workers`, `dlq`,
 * `purge` (admin.c), `semaphore` (semaphore.c) and `ratelimit` (ratelimit.c).
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
 *   {"queue", "pending", "scheduled", "active", "dead",
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

#pragma GCC visibility pop

#endif
