/* worker_private.h -- the internals shared by the files of worker/.
 *
 * A worker is one event_base, one set of three Redis connections and a table
 * of running tasks.
 *
 *   worker.c   the public API (options, new/free, start/run/stop), the loop
 *              turn, shutdown; wires the link's on_up/on_down to the parts
 *   link.c     the tq_link of three connections (cmd, block, sub; the link
 *              layer itself is broker/link.c), the log lines about it, the
 *              answer to Redis's error replies, the pre-flight check
 *   claim.c    the claim cycle (one claim in flight, sized to the free slots,
 *              queues in strict priority) and the BLPOP on the wake keys
 *   report.c   what the worker tells the broker: outcomes (acks, batched per
 *              queue per loop turn), lease renewal, the worker heartbeat and
 *              burial of dead workers, reclaim, cancel messages
 *   task.c     the running table and the life of a task (start, stop,
 *              outcome: logged, counted, queued)
 *   handler.c  handlers and limits by task name; the task API (tq_task_*)
 *   builtin.c  tq.noop, tq.sleep, tq.fail
 *   exec.c     exec tasks: child processes in their own process group, pipes
 *              on the loop, SIGCHLD, and the reaper of stopped children
 *   cgroup.c   --cgroup: a cgroup v2 directory per exec job
 *   metrics.c  --metrics: outcome counters and histograms, served as
 *              Prometheus text by evhttp on the worker's loop
 *   sched.c    the schedules' ticker: fires due ticks (schedfire), no leader
 *
 * Each part's state is a struct of its own inside struct tq_worker (tk, rd,
 * cl, rp, sc, ex, cg, mx), written by that part's file alone.
 *
 * The one rule of the loop: a slot is freed the moment its task completes or
 * is stopped; what the broker must be told about it is queued (report.c's
 * outcome queue of its queue) and sent by the next loop turn. So a job's
 * handler never waits on Redis, and Redis being away only delays the reports.
 */
#ifndef TQ_WORKER_PRIVATE_H
#define TQ_WORKER_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "tq/worker.h"
#include "broker/broker.h"
#include "broker/link.h"
#include "proto/proto_private.h"
#include "proto/cron.h"
#include "broker/schedtick.h"

/* ---------------------------------------------------------------- tuning */

#define WK_CLAIM_MAX 500           /* jobs per claim call */
#define WK_ACK_MAX 500             /* outcomes per ack call */
#define WK_ACK_BYTES (8 << 20)     /* ... and payload bytes per ack call */
#define WK_HB_MAX 1000             /* leases per heartbeat call */
#define WK_RECLAIM_LIMIT 100       /* expired leases per reclaim call */
#define WK_PROMOTE_LIMIT 100       /* scheduled jobs promoted per claim */
#define WK_CONNECT_TIMEOUT_MS 5000 /* all three links up within this */
#define WK_WATCHDOG_MS 5000        /* a reply later than this = dead link */
#define WK_BACKOFF_MIN_MS 100      /* reconnect: 100 ms doubling to 5 s */
#define WK_BACKOFF_MAX_MS 5000
#define WK_BEAT_MS 1000            /* worker heartbeat */
#define WK_DEAD_AFTER_MS 10000     /* a worker silent this long is buried */
#define WK_CARD_TTL_MS 60000
#define WK_RECLAIM_MS 1000         /* +- 20% */
#define WK_BLOCK_MIN_MS 10
#define WK_BLOCK_MAX_MS 2000
#define WK_FINAL_WAIT_MS 3000      /* shutdown: wait this long for ack replies */
#define WK_ERROR_RETRY_MS 1000     /* after an error reply, try again in */
#define WK_ACK_TRIES 5             /* non-transient error replies before an
                                      outcome is dropped (wk_error_is_transient) */
#define WK_ERR_BACKOFF_MIN_MS 1000 /* error replies: claim again after 1 s ... */
#define WK_ERR_BACKOFF_MAX_MS 30000 /* ... doubling to 30 s; one log line each */
#define WK_ACK_RETRY_MAX_MS 5000   /* outcomes refused: sent again within this */
#define WK_LIMIT_PAUSE_MS 1000     /* --limit: claim again at the latest after */

/* ---------------------------------------------------------------- handlers */

typedef struct wk_exec_spec wk_exec_spec;

/* A task name's entry: its handler (fn NULL when only a limit was set) and its
 * --limit with the count of its running tasks. */
typedef struct wk_handler {
    struct wk_handler *next;
    char *name;
    tq_handler_fn *fn;
    tq_cancel_fn *cancel;
    void *ud;
    wk_exec_spec *exec;   /* owned when the handler is an exec task */
    int limit;            /* 0 = none */
    int running;
} wk_handler;

/* ---------------------------------------------------------------- outcomes */

/* How a delivery ended. The order is the metrics' (tq_worker_outcomes_total
 * outcome label). */
typedef enum wk_out {
    WK_OUT_OK = 0,     /* the handler succeeded */
    WK_OUT_FAILED,     /* the handler failed (retried per the job's policy) */
    WK_OUT_TIMEOUT,    /* the job's timeout ran out: a failure */
    WK_OUT_CANCELLED,  /* cancelled while running */
    WK_OUT_LOST,       /* the lease was lost: nothing to report */
    WK_OUT_RELEASED,   /* given back (shutdown, --limit): not an attempt */
    WK_OUT_DEAD,       /* a corrupt record: straight to the dead letters */
    WK_OUT_NOTASK,     /* no handler here: rescheduled without a retry */
    WK_OUT__COUNT
} wk_out;

typedef struct wk_out_info {
    const char *wire;     /* ack.lua's kind; NULL: not reported */
    const char *word;     /* the log's outcome= and the metric label */
    tq_log_level level;   /* of its log line */
} wk_out_info;

extern const wk_out_info wk_outs[WK_OUT__COUNT];   /* report.c */

/* ---------------------------------------------------------------- queues */

/* An outcome waiting to be acked. The strings are owned. */
typedef struct wk_outcome {
    char *id;
    char *payload;
    size_t plen;
    wk_out out;           /* how it ended (its wire word: wk_outs) */
    char tok[24];
    int attempt;
    int tries;            /* error replies so far */
    int resent;           /* was in flight on a link that dropped */
    int ack_first;        /* can make another job ready (turn_cb) */
    double jitter;
} wk_outcome;

typedef struct wk_queue {
    size_t idx;
    tq_qkeys *k;
    struct tq_worker *w;
    struct {                    /* the running table's (task.c) */
        tq_task *head;          /* running tasks of this queue */
        size_t nrunning;
    } tk;
    struct {                    /* claiming's (claim.c) */
        double due_in_ms;       /* next scheduled job, from the last claim; <0 none */
        double due_at_mono;     /* when due_in_ms was measured (monotonic ms) */
    } cl;
    struct {                    /* reporting's (report.c) */
        wk_outcome *out;        /* queued outcomes */
        size_t nout, capout;
        struct event *reclaim_ev;
        int reclaim_in_flight;
    } rp;
} wk_queue;

/* ---------------------------------------------------------------- tasks */

/* One delivery of one job, from claim to completion or stop. Allocated on
 * claim (with its strings in the same block), freed when it completes. */
struct tq_task {
    struct tq_worker *w;
    wk_queue *q;
    wk_handler *h;
    tq_task *qprev, *qnext;    /* the queue's running list */
    tq_task *hnext;            /* hash chain (by id) */
    char *id, *name, *args_text;
    size_t args_len;
    json_t *args;
    char tok[24];
    int attempt;
    int ack_first;             /* its outcome can make another job ready */
    int done;                  /* completed or being stopped */
    int64_t timeout_ms;        /* 0 = none */
    double deadline;           /* Unix seconds; 0 = none */
    double t0;                 /* monotonic ms at dispatch */
    double wait_s;             /* created_at to claim, Redis's clock; <0 unknown */
    struct event *timer;       /* its timeout */
    void *data;
    struct wk_tprog *pg;       /* progress.c: NULL until it reports progress */
};

/* ---------------------------------------------------------------- links */

/* The worker's connections in its tq_link (broker/link.h). */
enum {
    WK_CONN_CMD = 0,   /* scripts (claim, ack, heartbeat, reclaim, bury, beat), pipelined */
    WK_CONN_BLOCK,     /* BLPOP on the wake keys while idle */
    WK_CONN_SUB,       /* SUBSCRIBE P:cancel */
    WK_NCONN
};

/* link.c's state: the set of connections, and how Redis's error replies
 * are being answered (one backoff period at a time). */
typedef struct wk_redis {
    tq_link *link;
    int was_up;                 /* on_up ran since the last on_down */
    int ever_up;
    int block_off;              /* stopping: the block connection is closed */
    int warned_policy;
    int64_t err_backoff_ms;     /* error replies: the current period; 0 = none */
    double err_next;            /* monotonic ms the period ends */
    double noscript_at;         /* monotonic ms of the last NOSCRIPT reload */
    void (*on_cancel)(struct tq_worker *w, const char *id);
    char keepalive[420];        /* the link's keepalive channel */
} wk_redis;

enum wk_state {
    WK_NEW = 0,     /* not started */
    WK_RUNNING,     /* claiming and running */
    WK_DRAINING,    /* stopping: no claims; waiting for running jobs */
    WK_FINAL,       /* no jobs left; waiting for ack replies, deregistering */
    WK_STOPPED      /* done: every event removed */
};

typedef struct wk_child wk_child;
typedef struct wk_metrics wk_metrics;
typedef struct wk_tprog wk_tprog;

/* Each subsystem's state, touched only by its own file; the others call
 * its functions. */

typedef struct wk_tasks {        /* task.c */
    tq_task **tab;              /* hash by id (chains through tq_task.hnext) */
    size_t tabsize;
    size_t running;             /* tasks in the table = slots in use */
} wk_tasks;

typedef struct wk_claim {        /* claim.c */
    int in_flight;              /* one claim at a time */
    size_t qi, asked;           /* the claim in flight: queue, jobs asked */
    int paused;                 /* --limit: released jobs; wait */
    int block_armed;            /* the BLPOP waits */
    struct event *retry_ev, *limit_pause_ev;
    struct event *due_ev;       /* the next scheduled job is due: claim */
} wk_claim;

typedef struct wk_report {       /* report.c */
    size_t nout;                /* outcomes queued over all queues */
    int ack_first;              /* one of them can make another job ready */
    int acks_in_flight;
    int hb_in_flight;
    int beat_in_flight;
    int dereg_sent, dereg_done;
    struct event *beat_ev, *hb_ev, *ack_retry_ev;
} wk_report;

typedef struct wk_sched {        /* sched.c: the schedules' ticker */
    struct event *ev;           /* peek again, or fire the armed tick */
    int in_flight;              /* a schedpeek or schedfire is out */
    int armed;                  /* ev fires the tick of plan (else it peeks) */
    tq_schedtick st;            /* keys and the last spec parsed (broker/schedtick.h) */
    tq_schedtick_plan plan;     /* the tick being fired or armed */
} wk_sched;

typedef struct wk_exec {         /* exec.c */
    struct event *sigchld_ev;
    wk_child *children;         /* running and reaping */
    struct wk_pwatch *watched;  /* proc.c: other children it reaps (task servers) */
} wk_exec;

typedef struct wk_cgroups {      /* cgroup.c: emptied, waiting to be removed */
    struct wk_cgroup_gone *gone;
    struct event *ev;
} wk_cgroups;

struct tq_worker {
    tq_worker_opts o;           /* strings below are our copies */
    char *url, *ns, *name;
    char **env_deny;            /* copies of o.env_deny, NULL-terminated */
    char *cgroup_dir;           /* copy of o.cgroup_dir; NULL = off */
    char **qnames;
    tq_redis_addr addr;
    tq_nskeys nk;
    wk_queue *queues;
    size_t nq;
    char id[320];
    char host[256];
    char queues_json[4096];
    char err[256];
    struct event_base *base;
    int own_base, run_loop;
    int free_pending;     /* tq_worker_free ran inside tq_worker_run: free on return */
    enum wk_state state;
    double started_unix;
    uint64_t rng;

    wk_handler *handlers;
    int nlimits;                /* handlers with a limit */

    wk_tasks tk;                /* the running table (task.c) */
    wk_redis rd;                /* Redis (link.c) */
    wk_claim cl;                /* claiming (claim.c) */
    wk_report rp;               /* reporting (report.c) */
    wk_sched sc;                /* schedules (sched.c) */

    /* the loop turn: flush outcomes, claim, check shutdown */
    struct event *turn_ev;
    int turn_pending;

    /* shutdown */
    int stop_now;               /* give everything back now */
    struct event *grace_ev, *final_ev;

    wk_exec ex;                 /* exec (exec.c) */
    struct wk_tservers *ts;     /* task servers (tserver.c); NULL = none */
    wk_cgroups cg;              /* cgroups (cgroup.c) */

    /* metrics (metrics.c); NULL when off */
    wk_metrics *mx;
};

/* ---------------------------------------------------------------- worker.c */

double wk_unix(void);
double wk_rand01(tq_worker *w);
void wk_log(tq_worker *w, tq_log_level lvl, const char *const *fields,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int wk_log_on(const tq_worker *w, tq_log_level lvl);
void wk_kick(tq_worker *w);
wk_handler *wk_handler_find(tq_worker *w, const char *name);
wk_handler *wk_handler_get(tq_worker *w, const char *name); /* creates */
tq_task *wk_task_find(tq_worker *w, const char *id, const char *tok);
/* Takes ownership of t (allocated by the claim): runs it, or reports it as
 * it is when it cannot run (corrupt, unknown task, worker stopping). */
void wk_task_start(tq_worker *w, tq_task *t, const char *corrupt);
void wk_task_stop(tq_task *t, tq_stop_reason why);
void wk_stop_all(tq_worker *w, tq_stop_reason why);
void wk_shutdown_check(tq_worker *w);

/* ---------------------------------------------------------------- link.c */

/* The set of three connections on w->base; hooks are worker.c's reactions
 * (on_up: report and claim; on_down: nothing to undo, every reply callback
 * in flight has run with NULL). 0 or TQ_ENOMEM. */
int wk_link_init(tq_worker *w, const tq_link_hooks *hooks);
void wk_link_free(tq_worker *w);
void wk_link_start(tq_worker *w);
void wk_link_stop(tq_worker *w);        /* final: no reconnect */
void wk_link_close_block(tq_worker *w); /* stop claiming: from an event */
/* Cancel messages: fn gets each message's text, checked to be an id. */
int wk_link_subscribe_cancel(tq_worker *w, void (*fn)(tq_worker *, const char *));
int wk_up(const tq_worker *w);
/* The set went up / down: the worker's log lines ("connected to redis at",
 * "lost redis at ..."), the maxmemory-policy check. */
void wk_link_went_up(tq_worker *w);
void wk_link_went_down(tq_worker *w, const char *reason);
/* Gives up on the set (a send that failed): down, then reconnect. */
void wk_link_fail(tq_worker *w, const char *why);
/* Sends on the command connection; the callback comes exactly once (NULL
 * reply: the set went down) unless this returns non-zero. */
int wk_send_script(tq_worker *w, tq_cmd *c, redisCallbackFn *fn, void *priv);
int wk_send_argv(tq_worker *w, int argc, const char **argv,
                 redisCallbackFn *fn, void *priv);
/* BLPOP on the block connection, its reply due block_ms later than others. */
int wk_send_block(tq_worker *w, int64_t block_ms, int argc, const char **argv,
                  redisCallbackFn *fn, void *priv);
/* Error replies as a class (design.md §5): err is the reply's text. Returns
 * how long to wait before sending that call again (ms). Writes at most one
 * line per backoff period (1 s doubling to 30 s), saying when Redis is out
 * of memory. */
int64_t wk_redis_error(tq_worker *w, const char *what, const char *err);
/* A reply that is not an error; claimed (a claim went through) ends the
 * error backoff. */
void wk_redis_ok(tq_worker *w, int claimed);
/* A NOSCRIPT reply: reloads the scripts; returns the delay before the call
 * is sent again (short the first time, then as wk_redis_error). */
int64_t wk_redis_noscript(tq_worker *w, const char *what, const char *err);
int wk_error_is_oom(const char *err);
/* 1 for errors that say something about Redis's state, not the command (OOM
 * NOPERM READONLY LOADING BUSY MASTERDOWN NOSCRIPT NOAUTH ...). */
int wk_error_is_transient(const char *err);

/* ---------------------------------------------------------------- task.c */

int wk_tasks_init(tq_worker *w);
void wk_tasks_free(tq_worker *w);
static inline size_t wk_running(const tq_worker *w) { return w->tk.running; }
/* Ends t (a handler's succeed / fail): TQ_EINVAL if it already ended. */
int wk_task_complete(tq_task *t, wk_out out, const char *payload, size_t plen,
                     const char *error);

/* ---------------------------------------------------------------- claim.c */

void wk_claim_maybe(tq_worker *w);
void wk_claim_start(tq_worker *w);      /* a new cycle from the first queue */
void wk_claim_resume(tq_worker *w);     /* --limit pause over */
void wk_claim_pause(tq_worker *w);      /* --limit: a job was given back */
/* A task of a limited handler ended: a --limit pause is over. */
void wk_claim_limit_freed(tq_worker *w);
int wk_claim_busy(const tq_worker *w);  /* a claim is in flight */
int wk_claim_init(tq_worker *w);
void wk_claim_stop(tq_worker *w);       /* timers off */
void wk_claim_free(tq_worker *w);

/* ---------------------------------------------------------------- report.c */

int wk_report_init(tq_worker *w);
void wk_report_free(tq_worker *w);
/* Queues an outcome; payload copied. Returns 0 or TQ_ENOMEM. */
/* Queues the outcome of task t's delivery for the next ack. */
int wk_outcome_add(tq_worker *w, const tq_task *t, wk_out out,
                   const char *payload, size_t plen);
void wk_acks_flush(tq_worker *w);
void wk_report_up(tq_worker *w);        /* the links came (back) up */
void wk_report_start(tq_worker *w);
void wk_report_stop_timers(tq_worker *w);
void wk_deregister(tq_worker *w);
/* 0: not sent; 1: sent, waiting; 2: answered (or it cannot be sent). */
int wk_deregistered(const tq_worker *w);
size_t wk_outcomes_queued(const tq_worker *w);
int wk_acks_in_flight(const tq_worker *w);
int wk_acks_first(const tq_worker *w);  /* an outcome may make a job ready */
void wk_on_cancel_message(tq_worker *w, const char *id);

/* ---------------------------------------------------------------- sched.c */

int wk_sched_init(tq_worker *w);        /* 0 or TQ_ENOMEM */
void wk_sched_up(tq_worker *w);         /* the link came (back) up: peek */
void wk_sched_stop(tq_worker *w);       /* stopping: the timer off */
void wk_sched_free(tq_worker *w);

/* ---------------------------------------------------------------- builtin.c */

int wk_builtins_register(tq_worker *w);

/* ---------------------------------------------------------------- exec.c */

int wk_exec_register(tq_worker *w, const char *task, const char *const *argv);
/* Watches SIGCHLD on the loop (once). 0 or -1. */
int wk_exec_watch(tq_worker *w);
/* 1 when "NAME=value" must not reach an exec job (TQ_REDIS_URL,
 * TQ_REDIS_PASSWORD, TQ_NAMESPACE, the job variables, and the names or
 * "PREFIX*" patterns of deny, a NULL-terminated list or NULL). */
int wk_env_denied(const char *const *deny, const char *var);
void wk_exec_spec_free(wk_exec_spec *s);
/* Shutdown / free: SIGKILL whatever is left, reap without blocking, forget. */
void wk_exec_finish(tq_worker *w);
size_t wk_exec_reaping(const tq_worker *w);
/* Someone follows t's output: publish a snapshot now and chunks from then
 * on / nobody does any more: stop. t is an exec task. */
void wk_exec_follow(tq_task *t);
void wk_exec_unfollow(tq_task *t);

/* ---------------------------------------------------------------- proc.c */

/* Keeps a pipe fd away from 0..2 (close-on-exec kept), so that dup2 onto
 * them always clears close-on-exec. 0 or -1. */
int wk_fd_high(int *fd);
int wk_fd_nonblock(int fd);                 /* 0 or -1 */
int wk_group_alive(pid_t pgid);             /* 1 while a member of the group lives */
/* Finds what posix_spawnp would run (PATH as execvp), so a missing or
 * non-executable program is reported the same way whatever the spawn
 * implementation. 0 or an errno value. */
int wk_proc_find(const char *name);
/* environ minus what wk_env_denied drops (the worker's settings, the
 * variables given afresh, --env-deny), plus extra ("NAME=value" strings,
 * NULL-terminated, copied). One allocation (free it); the inherited strings
 * are borrowed from environ. NULL when memory runs out. */
char **wk_proc_env(tq_worker *w, const char *const *extra);
/* posix_spawnp argv[0] in a new process group, default signals, an empty
 * mask; fds[i] (for i < nfds; -1 = inherited) becomes descriptor i (each
 * must be > 2 or equal to i... see wk_fd_high). 0 or an errno value. */
int wk_proc_spawn(pid_t *pid, char *const *argv, char *const *env,
                  const int *fds, int nfds);
/* Watches a child the caller started: exec.c's SIGCHLD handler reaps it
 * (waitpid) and calls fn once with its status (-1: reaped by someone else),
 * after which it is forgotten; the orphan sweep leaves it alone. 0 or TQ_E*. */
int wk_proc_watch(tq_worker *w, pid_t pid,
                  void (*fn)(void *ud, pid_t pid, int status), void *ud);
void wk_proc_unwatch(tq_worker *w, pid_t pid);
int wk_proc_watched(const tq_worker *w, pid_t pid);
void wk_proc_reap(tq_worker *w);            /* from the SIGCHLD handler */
void wk_proc_unwatch_all(tq_worker *w);

/* ---------------------------------------------------------------- tserver.c, tserver_proc.c */

void wk_tserver_start(tq_worker *w);    /* tq_worker_start: the processes start */
/* No job left (shutdown's FINAL): no restarts; stdin closed once flushed;
 * SIGTERM after --kill-grace, SIGKILL after another. */
void wk_tserver_stop(tq_worker *w);
size_t wk_tserver_alive(const tq_worker *w); /* processes not reaped yet */
/* 1 while a task server's first start is not over (no process has said
 * hello, and none has failed yet): the worker does not claim meanwhile, so
 * start-up never counts against a job's timeout. */
int wk_tserver_holding(const tq_worker *w);
void wk_tserver_finish(tq_worker *w);   /* SIGKILL what is left; forget it */
void wk_tserver_free(tq_worker *w);
/* For /metrics: processes ready, restarts so far, processes configured. */
void wk_tserver_counts(const tq_worker *w, int *up, unsigned long *restarts,
                       int *procs);
/* (tserver_proc.c) The id of a line that starts {"id": "ID" (a line cut
 * at --max-result): copied into id (size n); 0, or -1 when it cannot be
 * read. Pure. */
int wk_tserver_line_id(const char *p, size_t len, char *id, size_t n);

/* ---------------------------------------------------------------- progress.c */

#define WK_PROGRESS_MS 250          /* at most one progress write per task per this */
#define WK_PROGRESS_MAX 65536       /* longest progress value (JSON text) */
#define WK_CHUNK_MS 200             /* followed output: a chunk at most this often */

/* The task ends: its waiting progress value is written first when write
 * (not for a lost lease), then the state is freed. Before the outcome. */
void wk_progress_end(tq_task *t, int write);
/* Sends the kept stderr of t's delivery (data: its last len bytes of total
 * written) with `logput`; before the outcome. */
void wk_output_keep(tq_task *t, const char *data, size_t len,
                    unsigned long long total);
/* PUBLISH "KIND ATTEMPT OFF a+b" on P:log:ID (kind c: a chunk, s: a
 * snapshot of the ring); off is the byte offset of a's first byte. A reply
 * of 0 receivers calls wk_exec_unfollow. 0, or -1 when it was not sent. */
int wk_output_publish(tq_task *t, char kind, unsigned long long off,
                      const char *a, size_t alen, const char *b, size_t blen);
/* Subscribes P:logreq (a follower asks for a job's output). 0 or TQ_E*. */
int wk_output_init(tq_worker *w);

/* ---------------------------------------------------------------- cgroup.c */

/* dir is a cgroup v2 directory this process may write. 0 or TQ_EINVAL with
 * a one-line reason in err. */
int wk_cgroup_check(const char *dir, char *err, size_t n);
/* Makes w->cgroup_dir/job-ID-TOK; *path (owned) and *procs_fd (its
 * cgroup.procs, open for writing, close-on-exec) for the child to enter it.
 * Returns 0 or -errno. */
int wk_cgroup_create(tq_worker *w, const char *id, const char *tok,
                     char **path, int *procs_fd);
/* Takes path: kills every process in it and removes it (retried on a timer
 * while the killed processes exit). */
void wk_cgroup_end(tq_worker *w, char *path);
void wk_cgroup_finish(tq_worker *w);    /* freeing: last tries, then forget */

/* ---------------------------------------------------------------- metrics.c */

#define MX_NOUT WK_OUT__COUNT   /* outcomes counted */

/* Sets up w->mx for the address HOST:PORT (checked here, bound later).
 * Returns 0, TQ_EINVAL (bad syntax) or TQ_ENOMEM, with the message in err;
 * on error w->mx may be set and is freed by wk_metrics_free. */
int wk_metrics_new(tq_worker *w, const char *addr, char *err, size_t errlen);
/* tq_worker_start: resolve, bind and listen, serve on w->base. Returns 0, or
 * TQ_EINVAL / TQ_ENOMEM with w->err ("--metrics ADDR: cannot listen: ..."). */
int wk_metrics_listen(tq_worker *w);
void wk_metrics_stop(tq_worker *w);     /* close the server and its connections */
void wk_metrics_free(tq_worker *w);     /* stop + the tables; NULL mx is fine */
/* Counts an outcome and, when the task ran (t0 > 0), its duration of ms
 * milliseconds (a slot is free again: /healthz's clock restarts). */
void wk_metrics_outcome(tq_worker *w, const tq_task *t, wk_out out, double ms);
/* t started (its handler is about to run): its queue wait (t->wait_s, when
 * known) is counted, and /healthz knows the worker is working. */
void wk_metrics_started(tq_worker *w, const tq_task *t);
/* /healthz's hooks. idle: a claim cycle found nothing it may start (every
 * queue came back short, or a --limit held a job back). link: the link set
 * went up (1) or down (0). */
void wk_metrics_idle(tq_worker *w);
void wk_metrics_link(tq_worker *w, int up);

#endif
