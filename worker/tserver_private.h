/* tserver_private.h -- what the two files of task servers share: the three
 * records (server, process, job) and the calls between the pool
 * (tserver.c: servers, their jobs, dispatch, registering, the worker's
 * hooks) and a process (tserver_proc.c: its life, its pipes, its lines).
 *
 * Who writes what: tserver.c owns a job's place (the server's FIFO or a
 * process's list, inflight, nstopped) and the server's fields;
 * tserver_proc.c owns a process's fields (state, pid, pipes, timers, the
 * line being read) and w->ts->up / restarts. Nothing outside these two
 * files sees them (worker_private.h has the worker's hooks).
 */
#ifndef TQ_WORKER_TSERVER_PRIVATE_H
#define TQ_WORKER_TSERVER_PRIVATE_H

#include <event2/buffer.h>

#include "worker/worker_private.h"

#define TS_PROTOCOL 1               /* the highest version this worker speaks */

typedef struct ts_server ts_server;
typedef struct ts_proc ts_proc;
typedef struct ts_job ts_job;

/* One job of a server: in its FIFO (p NULL) or sent to a process. */
struct ts_job {
    tq_task *t;                 /* NULL once stopped: waits for its answer */
    ts_server *s;
    ts_proc *p;                 /* NULL while in the FIFO */
    ts_job *prev, *next;        /* the FIFO, or p's list */
    struct event *grace_ev;     /* stopped: the process's time to answer */
    char id[TQ_ID_SIZE + 8];
};

enum ts_state {
    TS_DOWN = 0,    /* no process (never started, or waiting to restart) */
    TS_HELLO,       /* started; the hello was sent, its answer not yet in */
    TS_READY,       /* takes jobs */
    TS_DYING        /* going away: no jobs; waiting to reap it */
};

struct ts_proc {
    ts_server *s;
    enum ts_state st;
    pid_t pid;                  /* 0: none */
    int exited;
    int in_fd, out_fd;
    struct event *in_ev, *out_ev;
    struct event *timer;        /* the hello's timeout, or the restart */
    struct event *kill_ev;      /* SIGTERM / SIGKILL, or EOF's grace */
    int term_sent;
    int close_in;               /* stopping: close stdin once flushed */
    struct evbuffer *inb;       /* lines not written yet */
    char *line;                 /* the line being read */
    size_t llen, lcap;
    int skipping;               /* dropping a line over --max-result */
    ts_job *jobs;               /* sent, answered not yet (stopped ones too) */
    int inflight;
    int nstopped;               /* of them, stopped (task-less) */
    double ready_at;            /* monotonic ms it said hello; 0 = not yet */
    int64_t backoff_ms;
    double bad_at;              /* the bad-line log window's start */
    int bad_n;                  /* lines logged in it */
    unsigned long bad_quiet;    /* bad lines not logged since */
};

struct ts_server {
    ts_server *next;
    tq_worker *w;
    char **tasks;               /* NULL-terminated, owned */
    char *names;                /* "a,b" */
    char **argv;                /* NULL-terminated, owned */
    int nprocs, inflight;
    int64_t start_ms;
    ts_proc *procs;
    ts_job *fifo, *fifo_tail;
    char *hello;                /* the worker's hello line */
    int up_once;                /* a process said hello, or the first failed */
};

struct wk_tservers {
    ts_server *list;
    int started, stopping;
    int starting;               /* servers not up_once: claims wait (start-up
                                   never counts against a job's timeout) */
    unsigned long restarts;     /* processes started again */
    int up;                     /* processes READY */
};

/* ---------------------------------------------------------------- tserver.c */

/* Sends FIFO jobs to ready processes with room, while there are both. */
void wk_ts_dispatch(ts_server *s);
/* Takes j off its process's list (answered, or the process is gone). */
void wk_ts_job_unlink(ts_job *j);
void wk_ts_job_free(ts_job *j);
/* The job of p with this id (stopped ones first), or NULL. */
ts_job *wk_ts_job_find(ts_proc *p, const char *id);
/* s's first start is over (a process is ready, or the first try failed). */
void wk_ts_first_start_over(ts_server *s);
/* A process of s failed to start: with none ready, the FIFO's jobs fail. */
void wk_ts_fifo_fail_if_none_ready(ts_server *s, const char *why);

/* ---------------------------------------------------------------- tserver_proc.c */

/* p of s, before its first start: its timers and buffer. 0, or -1 (out of
 * memory; wk_ts_proc_free frees what was made). */
int wk_ts_proc_init(ts_proc *p, ts_server *s);
/* Frees p's jobs (their tasks forgotten), pipes, timers and buffers. */
void wk_ts_proc_free(ts_proc *p);
/* Starts p's process and sends the hello; a failure is retried later. */
void wk_ts_proc_start(ts_proc *p);
/* p goes away: its jobs fail with why, SIGTERM, SIGKILL after the grace. */
void wk_ts_proc_down(ts_proc *p, const char *why);
/* The worker has no job left: p's stdin closes once flushed. */
void wk_ts_proc_stop(ts_proc *p);
/* The worker is finishing: SIGKILL p's group, reap it if it goes at once. */
void wk_ts_proc_kill(ts_proc *p);
/* Writes j's line (already on p's list) to p; a failure takes p down. */
void wk_ts_proc_send_job(ts_proc *p, ts_job *j);
/* Writes a cancel line for j to p. 0, or -1 when memory ran out. */
int wk_ts_proc_send_cancel(ts_proc *p, ts_job *j, tq_stop_reason why);

#endif
