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
 *
 * Embedding a worker in a program:
 *
 *   tq_worker_opts o;
 *   tq_worker_opts_init(&o);
 *   o.redis_url = "redis://127.0.0.1:6379/0";
 *   o.base = base;                    (or NULL: the worker makes its own)
 *   tq_worker *w = tq_worker_new(&o, err, sizeof err);
 *   tq_worker_register(w, "resize", on_resize, on_resize_cancel, ctx);
 *   tq_worker_start(w);               (then run the base yourself)
 *   ... tq_worker_stop(w, 0) ...      (e.g. on SIGTERM; on_stop tells when done)
 *   tq_worker_free(w);
 *
 * or tq_worker_run(w), which starts it and runs its base until it stopped.
 * The worker installs no signal handlers (tq-worker does, in its main): the
 * program decides what SIGTERM means and calls tq_worker_stop. Everything
 * runs on the loop's thread; a handler that has work for other threads hands
 * its result back to the loop (e.g. event_active on an event of its own)
 * and completes the task from there.
 *
 * Plugins: `tq-worker --plugin FILE.so` dlopens FILE.so and calls its
 * tq_plugin_init (see TQ_PLUGIN_INIT below), which registers handlers on the
 * worker it is given. A plugin is built with `cc -shared -fPIC
 * $(pkg-config --cflags tq)`, without -ltq: tq-worker exports the API.
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

/* A handler starts the work of a task and returns at once; it (or any later
 * callback on the loop) completes the task with tq_task_succeed or
 * tq_task_fail, exactly once. ud is the pointer given at registration. */
typedef void (tq_handler_fn)(tq_task *t, void *ud);

/* Called instead of completion when the task is stopped (why): the handler
 * frees what it keeps for the task (timers, requests, tq_task_data) and must
 * not complete it; the task is gone when this returns. The outcome is the
 * worker's: TIMEOUT fails the attempt with error "timeout" (retried while
 * attempts remain), CANCELLED ends the job cancelled, LOST reports nothing
 * (another worker has it), SHUTDOWN gives the job back to its queue. */
typedef void (tq_cancel_fn)(tq_task *t, tq_stop_reason why, void *ud);

/* Called once when a started worker has stopped (tq_worker_stop finished:
 * every job completed or given back, the links closed). The worker may be
 * freed from inside; with tq_worker_run the free waits until it returns. */
typedef void (tq_worker_stopped_fn)(tq_worker *w, void *ud);

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
    tq_worker_stopped_fn *on_stop; /* NULL = none */
    void *on_stop_ud;
    /* "HOST:PORT" ("[V6]:PORT"; ":PORT" = every interface): serve Prometheus
     * text at http://HOST:PORT/metrics from the worker's loop (job outcome
     * counters, busy slots, duration and queue-wait histograms). Checked by
     * tq_worker_new, bound by tq_worker_start (which fails if it cannot
     * listen), closed when the worker stops. NULL = off. */
    const char *metrics_addr;
    /* Exec jobs: names of variables of the worker's environment a job must
     * not see (NULL-terminated; "NAME", or "PREFIX*"). TQ_REDIS_URL (it
     * holds the password), TQ_REDIS_PASSWORD and TQ_NAMESPACE are dropped in
     * any case: a job sees the worker's environment minus those, plus its
     * own TQ_JOB_ID TQ_TASK TQ_QUEUE TQ_ATTEMPT TQ_DEADLINE. NULL = none.
     * Copied. */
    const char *const *env_deny;
    /* Exec jobs: a cgroup v2 directory the worker may write (delegated).
     * Each job runs in DIR/job-ID, created before the child starts; at its
     * end every process left in it is killed (cgroup.kill) and the cgroup
     * removed, so nothing a job started (a setsid daemon) outlives it. NULL
     * = off: a job's process group is signalled, which a process that left
     * the group escapes. Checked by tq_worker_new. */
    const char *cgroup_dir;
    /* 1 = the process is a child subreaper (prctl PR_SET_CHILD_SUBREAPER),
     * and the worker reaps every child it did not start: orphans of jobs
     * (killed with their group, or daemons) are reparented to this process
     * instead of init. Only for a program that has no children of its own
     * to wait for (tq-worker sets it); 0 = off. */
    int reap_orphans;
} tq_worker_opts;

TQ_API void tq_worker_opts_init(tq_worker_opts *o);

/* Creates a worker (nothing connects yet). Returns NULL with a message in err
 * for invalid options or when memory runs out. */
TQ_API tq_worker *tq_worker_new(const tq_worker_opts *o, char *err, size_t errlen);

/* Frees the worker and everything it holds (not a base given in the
 * options). NULL does nothing. Free a stopped worker (on_stop, or after
 * tq_worker_run returned): freeing a running one abandons its jobs without
 * a word to the broker (their leases run out and they run again). Not from
 * inside a handler or cancel callback, except under tq_worker_run, where it
 * stops the worker at once and the free happens when tq_worker_run returns. */
TQ_API void tq_worker_free(tq_worker *w);

/* Registers the handler of a task name (replacing one of the same name).
 * cancel may be NULL when the handler keeps no state between calls (the task
 * simply vanishes). Returns 0, TQ_EINVAL for a bad name, TQ_ENOMEM. */
TQ_API int tq_worker_register(tq_worker *w, const char *task, tq_handler_fn *fn,
                              tq_cancel_fn *cancel, void *ud);

/* Registers an exec task: COMMAND is argv (argv[0] looked up in PATH). */
TQ_API int tq_worker_register_exec(tq_worker *w, const char *task,
                                   const char *const *argv);

/* Registers a task server (tq-worker --task-server; the protocol is the
 * project's docs/task-servers.md): procs long-lived processes of argv
 * (argv[0] looked up in PATH), each sent up to inflight jobs at once as JSON
 * lines on its stdin and answering on its stdout. Every name of tasks
 * (NULL-terminated) becomes a handler of this worker, so slots, limits,
 * leases, timeouts and cancels apply as to any task. The processes start
 * with the worker (tq_worker_start) and must answer its hello within
 * start_timeout_ms (0 = 30 s); they are restarted with backoff when they
 * die. Returns 0, TQ_EINVAL (a bad name, an empty argv, procs not in
 * 1..1000 or inflight not in 1..100000; tq_worker_errstr says why),
 * TQ_ENOMEM. */
TQ_API int tq_worker_register_server(tq_worker *w, const char *const *tasks,
                                     const char *const *argv, int procs,
                                     int inflight, int64_t start_timeout_ms);

/* At most k jobs of task at once in this worker (--limit). */
TQ_API int tq_worker_limit(tq_worker *w, const char *task, int k);

/* Starts the worker on its event_base: connects, registers, claims (all of
 * it asynchronous: an unreachable Redis is retried with backoff, and logged,
 * never an error here). Returns 0, or TQ_EINVAL (already started, or the
 * metrics_addr cannot be listened on: "--metrics ADDR: cannot listen: ...";
 * the worker is then still unstarted) with tq_worker_errstr. With a base of its own the caller then runs
 * tq_worker_run; with the caller's base, the caller runs that base.
 *
 * SIGPIPE: writing to a socket or pipe whose reader went away must be an
 * error (EPIPE), not a signal that kills the process, so tq_worker_start
 * sets SIGPIPE to SIG_IGN when it is at its default (SIG_DFL). A handler
 * the program installed is left alone; exec children get the default back.
 * This is the one process-wide thing the library touches. */
TQ_API int tq_worker_start(tq_worker *w);

/* A blocking pre-flight, before tq_worker_start: connects once (within
 * timeout_ms; 0 = 2 s), loads the scripts and runs a lease renewal of
 * nothing. Returns TQ_EREDIS with tq_worker_errstr naming the cause when
 * Redis refuses what will not get better by waiting: AUTH (wrong password),
 * SELECT (no such database), NOPERM (an ACL user without EVALSHA, SCRIPT
 * LOAD or the keys), NOAUTH (a password is needed). Returns 0 otherwise,
 * also when Redis cannot be reached or is busy: the worker retries those. */
TQ_API int tq_worker_check(tq_worker *w, int timeout_ms);

/* start (if not started) + event_base_dispatch until the worker has
 * stopped; then returns 0 (the loop ends even if the base has other events). */
TQ_API int tq_worker_run(tq_worker *w);

/* Graceful stop (SIGTERM): stop claiming, let running jobs finish within the
 * shutdown grace, give the rest back (their cancel callbacks run with
 * TQ_STOP_SHUTDOWN), deregister, then remove every event of the worker from
 * the base: tq_worker_run returns, a caller's loop with nothing else to do
 * ends, and on_stop is called. now != 0: give everything back at once
 * (second SIGTERM, SIGINT). Safe from any callback, handlers included; a
 * worker never started is just marked stopped (no on_stop). */
TQ_API void tq_worker_stop(tq_worker *w, int now);

TQ_API const char *tq_worker_errstr(const tq_worker *w); /* last error, "" if none */
TQ_API const char *tq_worker_id(const tq_worker *w);     /* "NAME-xxxx", as tq workers lists it */
TQ_API struct event_base *tq_worker_base(const tq_worker *w); /* its own or the caller's */

/* ---------------------------------------------------------------- tasks */

/* What a handler reads of its task. Everything returned is borrowed and
 * valid until the task is completed or its cancel callback returns. */

TQ_API const char *tq_task_id(const tq_task *t);
TQ_API const char *tq_task_name(const tq_task *t);
TQ_API const char *tq_task_queue(const tq_task *t);
TQ_API json_t *tq_task_args(const tq_task *t);        /* borrowed; valid until completion */
TQ_API const char *tq_task_args_text(const tq_task *t); /* compact JSON text */
TQ_API int tq_task_attempt(const tq_task *t);
/* The delivery's fencing token (decimal text): a handler that writes to a
 * system of its own can store it beside the write and refuse a write carrying
 * a smaller one, so a worker that lost its lease cannot overwrite the work of
 * the delivery that replaced it. */
TQ_API const char *tq_task_token(const tq_task *t);
TQ_API double tq_task_deadline(const tq_task *t);     /* Unix time; 0 = none */
TQ_API struct event_base *tq_task_base(const tq_task *t);
TQ_API tq_worker *tq_task_worker(const tq_task *t);
TQ_API void tq_task_set_data(tq_task *t, void *data); /* the handler's own per-task state */
TQ_API void *tq_task_data(const tq_task *t);

/* Completes the task. succeed steals the reference to result (NULL = null).
 * Each returns 0, or TQ_EINVAL when the task was already completed. After it
 * returns the task is gone. */
TQ_API int tq_task_succeed(tq_task *t, json_t *result);
TQ_API int tq_task_fail(tq_task *t, const char *error);

/* Reports progress: value (borrowed: the caller keeps its reference) is
 * the task's latest progress, any JSON value of at most 64 KiB as compact
 * text. It is written to the job record's `progress` field (with
 * `progress_at`, Redis's clock) and published to `tq wait --progress`
 * followers, at most once per 250 ms per task: a value reported sooner
 * waits, replacing the one waiting before it, and the latest is written
 * when its time comes, and in any case before the task's outcome. So call
 * it as often as you like. The write is fenced with the delivery's token
 * (a delivery that lost its lease writes nothing). Returns 0, or TQ_EINVAL
 * (task completed, NULL or oversized value), TQ_ENOMEM. */
TQ_API int tq_task_progress(tq_task *t, json_t *value);

/* ---------------------------------------------------------------- plugins */

/* The entry point of a plugin: tq-worker --plugin FILE.so looks up the
 * symbol named TQ_PLUGIN_INIT and calls it once, before the worker starts,
 * with the worker to register handlers on (tq_worker_register, _limit).
 * It returns 0, or non-zero to refuse (tq-worker then exits, naming the
 * code and tq_worker_errstr). A plugin stays loaded for the life of the process.
 * tq-worker refuses, with a clear message, a FILE that does not exist or
 * does not load, and one without this symbol.
 *
 *   #include <tq/worker.h>
 *   int tq_plugin_init(tq_worker *w)
 *   {
 *       return tq_worker_register(w, "example.sleep", on_sleep, on_cancel, NULL);
 *   }
 *
 * Declared here (with default visibility), so a plugin built with
 * -fvisibility=hidden still exports it, and its definition is type-checked. */
typedef int (tq_plugin_init_fn)(tq_worker *w);
#define TQ_PLUGIN_INIT "tq_plugin_init"
TQ_API tq_plugin_init_fn tq_plugin_init;

#ifdef __cplusplus
}
#endif

#endif
