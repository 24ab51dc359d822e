/* async.h -- the async client of libtq, on the caller's own libevent loop.
 *
 * The same operations as the blocking client of <tq/tq.h> (submit, submit
 * many, status, wait, cancel), for a program that already runs an
 * event_base (an HTTP service, a proxy) and must never block on Redis. A
 * tq_async holds two hiredis connections attached to that base: one for
 * commands, one subscribed to the done channels that wake waits. Each call
 * checks its input, sends its commands and returns at once; its callback
 * runs later, from the loop.
 *
 *   struct event_base *base = event_base_new();
 *   tq_async *a = tq_async_new(base, "redis://127.0.0.1:6379/0", NULL);
 *   if (tq_async_err(a) == TQ_EINVAL) ... bad URL or namespace
 *   tq_async_submit(a, "resize", "{\"w\": 640}", NULL, on_submitted, ctx);
 *   event_base_dispatch(base);
 *   ...
 *   tq_async_free(a);       (before event_base_free(base))
 *
 * Callbacks: the rules, once for every call here.
 *   - A call that returns an error (TQ_EINVAL for invalid input, refused
 *     before anything is sent; TQ_EREDIS while the client is between two
 *     connection attempts; TQ_ECANCELLED once tq_async_free has begun) never
 *     calls its callback. A call that returns 0 calls it exactly once.
 *   - Never before the call returns: always from the loop, in a callback of
 *     the client's own (never from inside hiredis), so a callback may call
 *     anything here, tq_async_free included.
 *   - err is 0 or a TQ_E* code; while the callback runs, tq_async_errstr(a)
 *     holds the text of that error. Everything the callback gets (ids, the
 *     job record) is borrowed for the call: copy what you keep.
 *   - Connection lost: a submit, status or cancel whose commands were sent
 *     gets TQ_EREDIS (a submit may or may not have been applied: its ids
 *     are fresh, so look them up if it matters). A wait is not affected: it
 *     resubscribes after the reconnect and goes on until its timeout.
 *   - tq_async_free with calls pending: each callback not yet called is
 *     called from inside tq_async_free (or, when tq_async_free was called
 *     from a callback, right after that callback returns), with the call's
 *     outcome if its answer had arrived, else TQ_ECANCELLED. Calls made from
 *     those callbacks fail with TQ_ECANCELLED.
 *
 * Connections: tq_async_new starts connecting and returns; commands issued
 * meanwhile are queued and go out once connected. A lost or failed
 * connection is retried with backoff (100 ms doubling to 5 s); a command
 * that gets no answer for 5 s, or a connect that does not finish in 5 s,
 * counts as a lost connection. While the client is between attempts,
 * submit, status and cancel fail at once with TQ_EREDIS (their callbacks
 * not called) and a wait is accepted and starts once connected.
 *
 * SIGPIPE: tq_async_new sets it to SIG_IGN when it is at its default (see
 * <tq/tq.h>), as tq_worker_start does.
 *
 * Threads: a tq_async belongs to the thread that runs its event_base.
 * Several may share a base, and live beside a tq_worker on the same base.
 */
#ifndef TQ_ASYNC_H
#define TQ_ASYNC_H

#include <stddef.h>
#include <stdint.h>

#include "tq/tq.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

typedef struct tq_async tq_async;

/* Creates an async client on base (the caller's; not owned) for the broker
 * at url (as tq_client_new; NULL = redis://127.0.0.1:6379/0) under
 * namespace ns (NULL = "tq"), and starts connecting. Returns NULL only when
 * memory runs out (or base is NULL). Check tq_async_err(): TQ_EINVAL for a
 * bad URL or namespace (every call then fails with it; free the client);
 * TQ_EREDIS when the first connection attempt failed at once (it is
 * retried). Free it with tq_async_free either way. */
TQ_API tq_async *tq_async_new(struct event_base *base, const char *url,
                              const char *ns);

/* Closes the connections and frees the client, calling every callback not
 * yet called (see above). Must run before the base is freed. NULL does
 * nothing; so does a second call from inside those callbacks. */
TQ_API void tq_async_free(tq_async *a);

/* The last error: its code (0 if none) and its text ("" if none). Inside a
 * callback, the error of that callback's call. */
TQ_API int tq_async_err(const tq_async *a);
TQ_API const char *tq_async_errstr(const tq_async *a);

/* 1 while both connections are up, else 0. */
TQ_API int tq_async_connected(const tq_async *a);

/* ---------------------------------------------------------------- submit */

/* id: the new job's id (with o->unique, the live job's id when the key
 * matched one); NULL when err != 0, except TQ_EDURABLE (o->durable: the
 * replicas did not confirm in time), where the job exists and id is given. */
typedef void (tq_async_submit_fn)(tq_async *a, int err, const char *id,
                                  void *ud);

/* Enqueues one job, as tq_submit: args is JSON text (NULL = null), o may be
 * NULL (defaults; see tq_submit_opts_init). Returns 0 (cb will be called),
 * TQ_EINVAL (bad task, args or options; errstr says which and where),
 * TQ_EREDIS (between connection attempts), TQ_ENOMEM or TQ_ECANCELLED. */
TQ_API int tq_async_submit(tq_async *a, const char *task, const char *args,
                           const tq_submit_opts *o, tq_async_submit_fn *cb,
                           void *ud);

/* ids: the n ids in the order of args; NULL when err != 0, except
 * TQ_EDURABLE (every job exists, the replicas lag): the ids are given. */
typedef void (tq_async_many_fn)(tq_async *a, int err,
                                const char (*ids)[TQ_ID_SIZE], size_t n,
                                void *ud);

/* Enqueues n jobs of one task, as tq_submit_many (in batches of a few
 * hundred per script call). Every args is validated first: if one is
 * invalid nothing is sent and TQ_EINVAL names it (0-based) in the errstr.
 * n == 0 is valid: cb gets no ids. */
TQ_API int tq_async_submit_many(tq_async *a, const char *task,
                                const char *const *args, size_t n,
                                const tq_submit_opts *o, tq_async_many_fn *cb,
                                void *ud);

/* ---------------------------------------------------------------- status, wait */

/* job: the record (borrowed: tq_job_json or copy what you keep); NULL when
 * err != 0. */
typedef void (tq_async_job_fn)(tq_async *a, int err, const tq_job *job,
                               void *ud);

/* Reads a job's record, as tq_status. cb gets TQ_ENOTFOUND when there is no
 * such job (or its record expired). Returns TQ_EINVAL for a bad id. */
TQ_API int tq_async_status(tq_async *a, const char *id, tq_async_job_fn *cb,
                           void *ud);

/* Waits until the job is terminal or timeout_ms passes (< 0 = no limit), as
 * tq_wait for one job: woken by the broker (it subscribes to the job's done
 * channel first, then marks the job watched), never by polling; a quiet 10 s
 * re-reads the job as a safety net. cb gets 0 and the terminal record
 * (whatever its state: check job->state), TQ_ETIMEDOUT (job NULL),
 * TQ_ENOTFOUND (no such job, or its record was deleted), TQ_EREDIS or
 * TQ_EPROTO (Redis answered an error or something undecodable), or
 * TQ_ECANCELLED (tq_async_free). A lost connection does not end a wait. */
TQ_API int tq_async_wait(tq_async *a, const char *id, int64_t timeout_ms,
                         tq_async_job_fn *cb, void *ud);

/* ---------------------------------------------------------------- cancel */

/* before: the state the job was in (see tq_cancel); TQ_STATE_UNKNOWN when
 * err != 0. */
typedef void (tq_async_cancel_fn)(tq_async *a, int err, tq_state before,
                                  void *ud);

/* Requests cancellation, as tq_cancel: a job not running never runs, a
 * running one is stopped by its worker, a terminal one is left as it is.
 * cb gets TQ_ENOTFOUND when there is no such job. */
TQ_API int tq_async_cancel(tq_async *a, const char *id, tq_async_cancel_fn *cb,
                           void *ud);

#ifdef __cplusplus
}
#endif

#endif
