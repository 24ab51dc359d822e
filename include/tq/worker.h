/* worker.h -- the worker side of libtq: run jobs from Redis in a C program.
 *
 * A tq_worker owns N slots on one libevent loop. It claims as many jobs as it
 * has free slots, runs each through the handler registered for its task, and
 * reports outcomes to the broker under the delivery's fencing token while it
 * renews the lease by heartbeat. Handlers run on the loop and must never block:
 * they start asynchronous work (timers, child processes, sockets on the same
 * event_base) and complete the task later from any callback on that loop.
 *
 * The lifecycle of a tq_task (one delivery of one job), from a handler's view:
 *
 *   handler(t)  ->  ... async work ...  ->  tq_task_succeed(t, result)
 *                                       or  tq_task_fail(t, error)
 *
 * exactly once; or, if the job times out, is cancelled, or the worker loses
 * its lease or stops, the cancel callback runs instead and the task is gone
 * when it returns (the handler must drop its timers and state there and must
 * not complete it). The built-in tasks tq.noop, tq.sleep and tq.fail and the
 * exec tasks of tq-worker --task are handlers of exactly this kind.
 */
#ifndef TQ_WORKER_H
#define TQ_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "tq/tq.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

typedef struct tq_worker tq_worker;
typedef struct tq_task tq_task;

/* Why a task is being stopped. */
typedef enum tq_stop_reason {
    TQ_STOP_TIMEOUT = 1,   /* its deadline passed */
    TQ_STOP_CANCELLED,     /* tq cancel */
    TQ_STOP_LOST,          /* the lease was lost: the job went to another worker */
    TQ_STOP_SHUTDOWN       /* the worker is stopping; the job goes back to its queue */
} tq_stop_reason;

typedef void (tq_handler_fn)(tq_task *t, void *ud);
typedef void (tq_cancel_fn)(tq_task *t, tq_stop_reason why, void *ud);

typedef enum tq_log_level {
    TQ_LOG_DEBUG = 0, TQ_LOG_INFO, TQ_LOG_WARN, TQ_LOG_ERROR
} tq_log_level;

/* A log line (no trailing newline). fields is a flat NULL-terminated list of
 * key, value pairs for structured output (may be NULL). */
typedef void (tq_log_fn)(tq_log_level level, const char *msg,
                         const char *const *fields, void *ud);

typedef struct tq_worker_opts {
    const char *redis_url;         /* NULL = redis://127.0.0.1:6379/0 */
    const char *ns;                /* NULL = "tq" */
    const char *const *queues;     /* in strict priority order; NULL = {"default"} */
    size_t nqueues;
    int concurrency;               /* slots; 10 */
    int64_t lease_ms;              /* 30 s */
    int64_t default_timeout_ms;    /* 0 = none: a job without --timeout runs until done */
    int64_t shutdown_grace_ms;     /* 30 s */
    int64_t kill_grace_ms;         /* exec: SIGTERM to SIGKILL; 5 s */
    size_t max_result;             /* exec stdout limit; TQ_MAX_RESULT_DEFAULT */
    const char *name;              /* worker id prefix; NULL = hostname */
    struct event_base *base;       /* NULL = the worker makes and owns one */
    tq_log_fn *log;                /* NULL = silent */
    void *log_ud;
    tq_log_level log_level;        /* lines below it are not formatted; INFO */
} tq_worker_opts;

void tq_worker_opts_init(tq_worker_opts *o);

/* Creates a worker (nothing connects yet). Returns NULL with a message in err
 * for invalid options or when memory runs out. */
tq_worker *tq_worker_new(const tq_worker_opts *o, char *err, size_t errlen);

/* Frees the worker; it must not be running. NULL does nothing. */
void tq_worker_free(tq_worker *w);

/* Registers the handler of a task name (replacing one of the same name).
 * cancel may be NULL when the handler keeps no state between calls (the task
 * simply vanishes). Returns 0, TQ_EINVAL for a bad name, TQ_ENOMEM. */
int tq_worker_register(tq_worker *w, const char *task, tq_handler_fn *fn,
                       tq_cancel_fn *cancel, void *ud);

/* Registers an exec task: COMMAND is argv (argv[0] looked up in PATH). */
int tq_worker_register_exec(tq_worker *w, const char *task,
                            const char *const *argv);

/* At most k jobs of task at once in this worker (--limit). */
int tq_worker_limit(tq_worker *w, const char *task, int k);

/* Starts the worker on its event_base: connects, registers, claims. Returns
 * 0, or a negative code with tq_worker_errstr. With a base of its own the
 * caller then runs tq_worker_run; with the caller's base, the caller runs it. */
int tq_worker_start(tq_worker *w);

/* start + event_base_dispatch until the worker has stopped. */
int tq_worker_run(tq_worker *w);

/* Graceful stop (SIGTERM): stop claiming, let running jobs finish within the
 * shutdown grace, give the rest back, then leave the loop. now != 0: give
 * everything back at once (second SIGTERM, SIGINT). Safe from any callback. */
void tq_worker_stop(tq_worker *w, int now);

const char *tq_worker_errstr(const tq_worker *w);
const char *tq_worker_id(const tq_worker *w);
struct event_base *tq_worker_base(const tq_worker *w);

/* ---------------------------------------------------------------- tasks */

const char *tq_task_id(const tq_task *t);
const char *tq_task_name(const tq_task *t);
const char *tq_task_queue(const tq_task *t);
json_t *tq_task_args(const tq_task *t);        /* borrowed; valid until completion */
const char *tq_task_args_text(const tq_task *t); /* compact JSON text */
int tq_task_attempt(const tq_task *t);
double tq_task_deadline(const tq_task *t);     /* Unix time; 0 = none */
struct event_base *tq_task_base(const tq_task *t);
tq_worker *tq_task_worker(const tq_task *t);
void tq_task_set_data(tq_task *t, void *data); /* the handler's own per-task state */
void *tq_task_data(const tq_task *t);

/* Completes the task. succeed steals the reference to result (NULL = null).
 * Each returns 0, or TQ_EINVAL when the task was already completed. After it
 * returns the task is gone. */
int tq_task_succeed(tq_task *t, json_t *result);
int tq_task_fail(tq_task *t, const char *error);

#ifdef __cplusplus
}
#endif

#endif
