/* tq.h -- the public API of libtq: a distributed task queue on Redis.
 *
 * One header for the common vocabulary (error codes, job states, the job
 * record, durations) and the blocking client. The worker side lives in
 * <tq/worker.h>. Nothing in the library prints or exits: every call returns
 * 0 or a negative TQ_E* code, and the client carries the text of its last
 * error (tq_client_errstr), as hiredis's context does.
 */
#ifndef TQ_TQ_H
#define TQ_TQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TQ_VERSION "0.1.0"

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
    TQ_EPROTO = -8      /* Redis answered something tq cannot decode (exit 6) */
};

const char *tq_strerror(int err);
int tq_exit_code(int err);

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

const char *tq_state_name(tq_state s);   /* "pending", ...; "unknown" for others */
tq_state tq_state_parse(const char *name); /* TQ_STATE_UNKNOWN when not a state */
int tq_state_terminal(tq_state s);

/* ---------------------------------------------------------------- limits */

#define TQ_ID_MAX 40                        /* longest id accepted */
#define TQ_ID_SIZE (TQ_ID_MAX + 1)          /* buffer for an id and its NUL */
#define TQ_NAME_MAX 128                     /* longest task, queue, semaphore name */
#define TQ_MAX_ARGS_DEFAULT (512 * 1024)    /* --max-args */
#define TQ_MAX_RESULT_DEFAULT (1024 * 1024) /* --max-result */
#define TQ_PRIORITY_MAX 9

/* ---------------------------------------------------------------- durations */

/* Parses "0.5", "250ms", "30s", "5m", "1h" (a bare number is seconds) into
 * milliseconds, rounded to the nearest. Refuses empty text, negative values,
 * trailing junk, NaN and values beyond ~290 years. Returns 0 or TQ_EINVAL. */
int tq_duration_parse(const char *text, int64_t *ms);

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
} tq_job;

void tq_job_free(tq_job *job); /* frees the record; NULL does nothing */

/* ---------------------------------------------------------------- client */

typedef struct tq_client tq_client;

/* Connects to the broker at url ("redis://[user:pass@]host[:port][/db]" or
 * "unix:///path"; NULL = "redis://127.0.0.1:6379/0") under namespace ns (NULL
 * = "tq"). Always returns a client unless memory runs out; check
 * tq_client_err(): TQ_EINVAL for a bad URL or namespace, TQ_EREDIS when Redis
 * is unreachable. Free it with tq_client_free either way. */
tq_client *tq_client_new(const char *url, const char *ns);
void tq_client_free(tq_client *c);
int tq_client_err(const tq_client *c);             /* last error code, 0 if none */
const char *tq_client_errstr(const tq_client *c);  /* its text, "" if none */

/* Options of a submit; tq_submit_opts_init fills the defaults of SPEC §4. */
typedef struct tq_submit_opts {
    const char *queue;      /* "default" */
    int priority;           /* 0..9, higher first; 0 */
    int64_t delay_ms;       /* run no earlier than now + delay; 0 */
    double at;              /* Unix time to run at; 0 = not set (wins over delay) */
    int64_t timeout_ms;     /* 0 = the worker's --default-timeout */
    int max_retries;        /* 3 */
    int64_t backoff_ms;     /* first retry delay, doubling; 1000 */
    int64_t result_ttl_ms;  /* 24 h */
    int max_lost;           /* 3 */
    const char *semaphore;  /* NULL */
    const char *unique;     /* NULL */
    size_t max_args;        /* TQ_MAX_ARGS_DEFAULT */
} tq_submit_opts;

void tq_submit_opts_init(tq_submit_opts *o);

/* Enqueues one job. args is JSON text (NULL = null). On success the id is
 * written to id (TQ_ID_SIZE bytes). Invalid input is refused with TQ_EINVAL
 * before anything reaches Redis. */
int tq_submit(tq_client *c, const char *task, const char *args,
              const tq_submit_opts *o, char id[TQ_ID_SIZE]);

/* Enqueues n jobs in one pipeline. Every args is validated first; if any is
 * invalid nothing is sent and TQ_EINVAL says which (0-based) in the errstr.
 * ids must hold n ids. */
int tq_submit_many(tq_client *c, const char *task, const char *const *args,
                   size_t n, const tq_submit_opts *o, char (*ids)[TQ_ID_SIZE]);

/* Reads a job's record. *out is the caller's, freed with tq_job_free.
 * TQ_ENOTFOUND when there is no such job (or its record expired). */
int tq_status(tq_client *c, const char *id, tq_job **out);

/* Blocks until every job in ids is terminal or timeout_ms passes (< 0 = no
 * limit); woken by the broker, never by polling. out[i] receives each record
 * (NULL when missing). Returns 0 when all are terminal (whatever their state),
 * TQ_ETIMEDOUT, TQ_ENOTFOUND if some id does not exist, or TQ_EREDIS. */
int tq_wait(tq_client *c, const char *const *ids, size_t n, int64_t timeout_ms,
            tq_job **out);

/* Requests cancellation. *before (may be NULL) receives the state the job was
 * in: a non-terminal job not running is cancelled now; an active one is
 * stopped by its worker; a terminal one is left as it is. */
int tq_cancel(tq_client *c, const char *id, tq_state *before);

#ifdef __cplusplus
}
#endif

#endif
