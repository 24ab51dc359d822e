/* tq.h -- the public API of libtq: a distributed task queue on Redis.
 *
 * One header for the common vocabulary (error codes, job states, the job
 * record, durations) and the blocking client. The async client, on the
 * caller's own libevent loop, is <tq/async.h>; the worker side (handlers,
 * plugins) is <tq/worker.h>. Build flags: `pkg-config --cflags --libs tq`.
 *
 * Conventions of every header here:
 *   - Handles are opaque and come in pairs: tq_client_new / tq_client_free,
 *     tq_async_new / tq_async_free, tq_worker_new / tq_worker_free. A *_free
 *     of NULL does nothing.
 *   - Calls return 0 or a negative TQ_E* code; the handle keeps the text of
 *     its last error (tq_client_errstr, tq_async_errstr, tq_worker_errstr),
 *     as hiredis's context does. tq_strerror gives a fallback text.
 *   - Arguments are borrowed for the call; a function that keeps or frees
 *     something of the caller's says so ("steals").
 *   - Nothing in the library prints, exits or installs signal handlers. One
 *     process-wide setting is touched, by tq_async_new and tq_worker_start
 *     (long-lived connections): SIGPIPE is set to SIG_IGN when it is at its
 *     default, so a write to a connection Redis closed is an error, not a
 *     kill. The blocking client leaves it alone (the tq command line wants
 *     `tq ... | head` to end quietly); a long-lived program using only the
 *     blocking client should ignore SIGPIPE itself.
 *   - There is no global state: handles share nothing, so two clients, or a
 *     client and a worker, live side by side in one process. A handle
 *     belongs to one thread at a time.
 */
#ifndef TQ_TQ_H
#define TQ_TQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one place the version is written: the Makefile reads it from this
 * line (libtq.so.VERSION, tq.pc), the programs print it (--version). */
#define TQ_VERSION "0.1.0"

/* Marks the library's public functions: libtq.so is built with
 * -fvisibility=hidden and exports these alone (nm -D lists only tq_*). */
#ifndef TQ_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define TQ_API __attribute__((visibility("default")))
#else
#define TQ_API
#endif
#endif

/* ---------------------------------------------------------------- errors */

/* Negative codes; tq_exit_code() maps each to the exit status of SPEC §4. */
enum {
    TQ_OK = 0,
    TQ_EFAILED = -1,    /* a job failed (exit 1) */
    TQ_EINVAL = -2,     /* usage or invalid input (exit 2) */
    TQ_ETIMEDOUT = -3,  /* timed out waiting, or result of an unfinished job (exit 3) */
    TQ_ECANCELLED = -4, /* a job was cancelled (exit 4) */
    TQ_ENOTFOUND = -5,  /* no such job or group (exit 5) */
    TQ_EREDIS = -6,     /* Redis unreachable, or it answered an error (exit 6) */
    TQ_ENOMEM = -7,     /* out of memory (exit 6: the run could not be done) */
    TQ_EPROTO = -8,     /* Redis answered something tq cannot decode (exit 6) */
    TQ_EDURABLE = -9    /* a durable submit (o->durable) was accepted by the master
                           but fewer replicas confirmed it in time; the jobs exist
                           and their ids are given (exit 7, SPEC §9) */
};

TQ_API const char *tq_strerror(int err);
TQ_API int tq_exit_code(int err);

/* ---------------------------------------------------------------- states */

typedef enum tq_state {
    TQ_STATE_UNKNOWN = 0,
    TQ_STATE_WAITING,   /* created by a chain or chord; runs when its inputs succeeded */
    TQ_STATE_SCHEDULED, /* due later: --delay/--at, or a retry in backoff */
    TQ_STATE_PENDING,   /* in its queue, ready to run */
    TQ_STATE_ACTIVE,    /* claimed by a worker, running under a lease */
    TQ_STATE_SUCCEEDED, /* finished; result holds its value (terminal) */
    TQ_STATE_FAILED,    /* every attempt failed; in the dead-letter list (terminal) */
    TQ_STATE_CANCELLED  /* cancelled, or an input did not succeed (terminal) */
} tq_state;

TQ_API const char *tq_state_name(tq_state s);   /* "pending", ...; "unknown" for others */
TQ_API tq_state tq_state_parse(const char *name); /* TQ_STATE_UNKNOWN when not a state */
TQ_API int tq_state_terminal(tq_state s);

/* ---------------------------------------------------------------- limits */

#define TQ_ID_MAX 40                        /* longest id accepted */
#define TQ_ID_SIZE (TQ_ID_MAX + 1)          /* buffer for an id and its NUL */
#define TQ_NAME_MAX 128                     /* longest task, queue, semaphore name */
#define TQ_MAX_ARGS_DEFAULT (512 * 1024)    /* --max-args */
#define TQ_MAX_RESULT_DEFAULT (1024 * 1024) /* --max-result */
#define TQ_PRIORITY_MAX 9
#define TQ_CHAIN_MAX 1000                   /* most jobs in one chain */

/* ---------------------------------------------------------------- durations */

/* Parses "0.5", "250ms", "30s", "5m", "1h" (a bare number is seconds) into
 * milliseconds, rounded to the nearest. Refuses empty text, negative values,
 * trailing junk, NaN and values beyond ~290 years. Returns 0 or TQ_EINVAL. */
TQ_API int tq_duration_parse(const char *text, int64_t *ms);

/* ---------------------------------------------------------------- the job record */

/* A job as read back from the broker. Strings are owned by the record and
 * freed by tq_job_free; absent optional fields are NULL. args and result are
 * compact JSON text. Times are Unix seconds (0 when not yet set). */
typedef struct tq_job {
    char *id, *queue, *task;
    char *args;
    tq_state state;
    int attempt;
    int max_retries, max_lost, priority;
    int64_t timeout_ms, backoff_ms, result_ttl_ms;
    double created_at, started_at, finished_at;
    char *worker, *result, *error;
    char *group, *parent, *next, *semaphore, *unique;
    char *rate_limit;       /* --rate-limit NAME or NAME:KEY (field `rl`) */
    char *fair_key;      /* --fair-key (the record's `fk`) */
    char *progress;         /* the latest progress value (JSON text); NULL none */
    double progress_at;     /* when it was written (Unix seconds); 0 none */
    int64_t log_bytes;      /* field `log`: bytes its delivery wrote to stderr
                               (the last 64 KiB kept: `tq logs`); 0 none */
    char *attempts_log;     /* field `alog`: JSON array of the attempts that did
                               not end the job (failed and retried, lost, ...),
                               oldest first; NULL none (docs/design.md §3) */
} tq_job;

TQ_API void tq_job_free(tq_job *job); /* frees the record; NULL does nothing */
/* The record as one line of JSON, as `tq status --json` prints it: every
 * field that is set, args and result as JSON values, times in Unix seconds,
 * durations in seconds. malloc'd (free() it); NULL for NULL or out of memory. */
TQ_API char *tq_job_json(const tq_job *job);
/* Frees n records and the array that holds them; NULL does nothing. */
TQ_API void tq_jobs_free(tq_job **jobs, size_t n);

/* ---------------------------------------------------------------- client */

typedef struct tq_client tq_client;

/* Connects to the broker at url ("redis://[user:pass@]host[:port][/db]" or
 * "unix:///path"; NULL = "redis://127.0.0.1:6379/0") under namespace ns (NULL
 * = "tq"). Always returns a client unless memory runs out; check
 * tq_client_err(): TQ_EINVAL for a bad URL or namespace, TQ_EREDIS when Redis
 * is unreachable or refuses AUTH or SELECT. Free it with tq_client_free
 * either way. A call that finds the connection lost connects again once. */
TQ_API tq_client *tq_client_new(const char *url, const char *ns);
/* The same with a Sentinel URL's patience: a connection is tried again
 * (the sentinels asked each time, with a backoff) until connect_timeout_ms
 * ran out (<= 0: 10 s), and a call refused with READONLY before anything of
 * it was done (a failover under way) is made again on the new master
 * within the same time. Other URLs connect once, as tq_client_new. */
TQ_API tq_client *tq_client_new_timeout(const char *url, const char *ns,
                                        int64_t connect_timeout_ms);
TQ_API void tq_client_free(tq_client *c);
TQ_API int tq_client_err(const tq_client *c);             /* last error code, 0 if none */
TQ_API const char *tq_client_errstr(const tq_client *c);  /* its text, "" if none */

/* Options of a submit; tq_submit_opts_init fills the defaults of SPEC §4. */
typedef struct tq_submit_opts {
    const char *queue;      /* "default" */
    int priority;           /* 0..9, higher first; 0 */
    int64_t delay_ms;       /* run no earlier than delay after the job is
                               created, on Redis's clock; 0 */
    double at;              /* Unix time to run at; 0 = not set (wins over delay) */
    int64_t timeout_ms;     /* 0 = the worker's --default-timeout */
    int max_retries;        /* 3 */
    int64_t backoff_ms;     /* first retry delay, doubling; 1000 */
    int64_t result_ttl_ms;  /* 24 h */
    int max_lost;           /* 3 */
    const char *semaphore;  /* NULL */
    const char *unique;     /* NULL */
    size_t max_args;        /* TQ_MAX_ARGS_DEFAULT */
    /* Durable submit (SPEC §9), added after the fields above so that code
     * filling them by name keeps compiling; always start from
     * tq_submit_opts_init. With durable N > 0 a submit returns only once N
     * replicas confirmed its writes (Redis's WAIT N durable_timeout_ms on
     * the same connection, after the submit's calls): fewer within the
     * timeout is TQ_EDURABLE, the ids set all the same. */
    int durable;            /* replicas to wait for, 0..TQ_DURABLE_MAX; 0 = don't wait */
    int64_t durable_timeout_ms; /* > 0; 1000 */
    /* Rate limit (SPEC §11): NAME, or NAME:KEY for a bucket of its own per
     * KEY at NAME's rate (tq ratelimit set). The job starts only when a
     * token is free, taken at claim time across all workers. The blocking
     * client refuses a NAME that was never set (TQ_EINVAL); a limit
     * removed later lets its jobs run unlimited. */
    const char *rate_limit; /* NULL */
    /* Fairness (SPEC §11): within a queue and a priority, workers take jobs
     * round-robin across the fair keys that have jobs pending; jobs without
     * one (NULL) take turns as one key. A name (tq_name_check). */
    const char *fair_key;   /* NULL */
} tq_submit_opts;

#define TQ_DURABLE_MAX 1000                 /* most replicas a submit waits for */
#define TQ_DURABLE_TIMEOUT_DEFAULT 1000     /* ms, --durable-timeout */

TQ_API void tq_submit_opts_init(tq_submit_opts *o);

/* Enqueues one job. args is JSON text (NULL = null). On success the id is
 * written to id (TQ_ID_SIZE bytes). Invalid input is refused with TQ_EINVAL
 * before anything reaches Redis. */
TQ_API int tq_submit(tq_client *c, const char *task, const char *args,
                     const tq_submit_opts *o, char id[TQ_ID_SIZE]);

/* Enqueues n jobs in one pipeline. Every args is validated first; if any is
 * invalid nothing is sent and TQ_EINVAL says which (0-based) in the errstr.
 * ids must hold n ids. On success every ids[i] is set. On failure (Redis
 * out of memory or gone partway) ids[i] is the id of each job that was
 * submitted, and will run, and "" for each that was not: submit again only
 * the args whose id is "". (Jobs go in script calls of a few hundred, each
 * all or nothing; after a lost connection, a call that got no answer is
 * counted as not submitted, though Redis may have run it.) */
TQ_API int tq_submit_many(tq_client *c, const char *task, const char *const *args,
                          size_t n, const tq_submit_opts *o, char (*ids)[TQ_ID_SIZE]);

/* Reads a job's record. *out is the caller's, freed with tq_job_free.
 * TQ_ENOTFOUND when there is no such job (or its record expired). */
TQ_API int tq_status(tq_client *c, const char *id, tq_job **out);

/* The result of a finished job, without waiting (`tq result`): on success
 * *result receives its JSON text (malloc'd; free() it). Otherwise *result is
 * NULL and the code says why, with the job's error in the errstr:
 * TQ_EFAILED (it failed), TQ_ECANCELLED (it was cancelled), TQ_ETIMEDOUT (it
 * has not finished yet), TQ_ENOTFOUND, TQ_EINVAL (bad id), TQ_EREDIS. */
TQ_API int tq_result(tq_client *c, const char *id, char **result);

/* Blocks until every job in ids is terminal or timeout_ms passes (< 0 = no
 * limit); woken by the broker, never by polling. out[i] receives each record
 * (NULL when missing). Returns 0 when all are terminal (whatever their state),
 * TQ_ETIMEDOUT, TQ_ENOTFOUND if some id does not exist, or TQ_EREDIS. */
TQ_API int tq_wait(tq_client *c, const char *const *ids, size_t n, int64_t timeout_ms,
                   tq_job **out);

/* A job's progress value as it arrives: id, and the value as JSON text of
 * len bytes (borrowed for the call). */
typedef void (tq_progress_fn)(const char *id, const char *json, size_t len,
                              void *ud);
/* tq_wait, calling fn with each job's progress (tq_task_progress, an exec
 * task's TQ_PROGRESS_FD) while it waits: first the value each job has when
 * the wait starts (if any), then each value written after, in order. A
 * value written just as the wait starts may come twice; a value replaced
 * within the worker's rate limit (250 ms) never comes. */
TQ_API int tq_wait_progress(tq_client *c, const char *const *ids, size_t n,
                            int64_t timeout_ms, tq_job **out,
                            tq_progress_fn *fn, void *ud);

/* Output of a job: len bytes (borrowed for the call; any bytes). */
typedef void (tq_output_fn)(const char *data, size_t len, void *ud);
/* An exec job's stderr (`tq logs`): the last 64 KiB of its latest delivery
 * that wrote any, kept with the record (expiring with it), through fn. For
 * a running job, what its worker holds now (asked for on P:logreq; nothing
 * if no worker answers within 1 s). follow != 0 (`tq logs -f`): what is
 * kept or held, then the live output as it comes, until the job is
 * terminal; each byte once and in order (a follower more than 64 KiB
 * behind its worker misses the bytes in between). Returns 0, TQ_ENOTFOUND
 * (no such job), TQ_EINVAL (a bad id), TQ_EREDIS. */
TQ_API int tq_logs(tq_client *c, const char *id, int follow, tq_output_fn *fn,
                   void *ud);

/* Requests cancellation. *before (may be NULL) receives the state the job was
 * in: a non-terminal job not running is cancelled now; an active one is
 * stopped by its worker; a terminal one is left as it is. TQ_ENOTFOUND
 * when there is no such job. */
TQ_API int tq_cancel(tq_client *c, const char *id, tq_state *before);

/* ---------------------------------------------------------------- composition */

/* A chain: tasks[0] runs with args; each later task runs with the result of
 * the one before as its args, once that one has succeeded. Every job is
 * created at once, in one atomic step: the head pending (or scheduled, with
 * a delay), the others `waiting`. A job of the chain that does not succeed
 * cancels every later one (error "cancelled: <id> <state>"). All jobs get
 * the same options; o->unique is refused when n > 1. ids receives the n ids,
 * head first. At most TQ_CHAIN_MAX jobs. */
TQ_API int tq_submit_chain(tq_client *c, const char *const *tasks, size_t n,
                           const char *args, const tq_submit_opts *o,
                           char (*ids)[TQ_ID_SIZE]);

/* A group: one job of task per args, created in chunks of a few hundred
 * per script call, all in one pipeline. gid receives the group's id. With
 * then (a task name, else NULL), a fan-in job is created at once in state
 * `waiting` (its id in fanin): once every member has finished, it runs with
 * the JSON array of the members' results in submission order if they all
 * succeeded, else it ends `cancelled` with an error naming the members that
 * did not. The broker counts finished members itself, once per member, so a
 * member delivered twice (a worker crash) is counted once. ids (may be NULL)
 * receives the members' ids. o->unique is refused. Each member's record
 * expires o->result_ttl_ms after it finished, as any job's; the group's own
 * records (and the results kept for the fan-in) o->result_ttl_ms after its
 * last member finished. On failure partway, ids (when given) marks the
 * members created as tq_submit_many does, and gid is "" unless the group
 * was created: then it is left unsealed with the members it has, which
 * run; tq_group_cancel seals it and cancels them. */
TQ_API int tq_group_submit(tq_client *c, const char *task, const char *const *args,
                           size_t n, const tq_submit_opts *o, const char *then,
                           char gid[TQ_ID_SIZE], char fanin[TQ_ID_SIZE],
                           char (*ids)[TQ_ID_SIZE]);

/* Where a group stands. count[] is indexed by tq_state; count[TQ_STATE_UNKNOWN]
 * counts members whose record is gone. */
typedef struct tq_group_info {
    char id[TQ_ID_SIZE];
    char queue[TQ_NAME_MAX + 1];
    char fanin[TQ_ID_SIZE];      /* "" when the group has no fan-in job */
    tq_state fanin_state;        /* TQ_STATE_UNKNOWN when none or gone */
    size_t total, done, ok;      /* members; finished; succeeded */
    int sealed;                  /* every member has been added */
    int finished;                /* sealed and every member finished */
    double created_at, finished_at;
    size_t count[TQ_STATE_CANCELLED + 1];
} tq_group_info;

/* Reads a group and the state of each member. TQ_ENOTFOUND when there is
 * no such group (or it expired). */
TQ_API int tq_group_status(tq_client *c, const char *gid, tq_group_info *out);

/* Called by tq_group_wait as members finish: done of total so far. */
typedef void tq_group_progress_fn(size_t done, size_t total, void *ud);

/* Blocks until every member of the group has finished or timeout_ms passes
 * (< 0 = no limit); woken by the broker, never by polling. progress (may be
 * NULL) is called at the start and after each member that finishes (the
 * broker then publishes one message per member). *out receives an array of
 * *n records in submission order (NULL for a record that is gone), also on
 * TQ_ETIMEDOUT (where the members stand); free it with tq_jobs_free.
 * Returns 0 when the group has finished (whatever its members' states),
 * TQ_ETIMEDOUT, TQ_ENOTFOUND (no such group) or TQ_EREDIS. */
TQ_API int tq_group_wait(tq_client *c, const char *gid, int64_t timeout_ms,
                         tq_group_progress_fn *progress, void *ud, tq_job ***out,
                         size_t *n);

/* Cancels every member not yet finished (as tq_cancel does: one not
 * running now, a running one by its worker) and the fan-in job. A group
 * whose creation never ended (its client died) is sealed with the members
 * it has. *cancelled and *stopping (may be NULL) receive how many were
 * cancelled now and how many running ones were asked to stop. */
TQ_API int tq_group_cancel(tq_client *c, const char *gid, size_t *cancelled,
                           size_t *stopping);

#ifdef __cplusplus
}
#endif

#endif
