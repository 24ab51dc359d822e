/* cli.h -- what the files of `tq` (the command line of SPEC §4) share.
 *
 * main.c parses the command line into a `cli` (every flag checked against
 * the command, every value validated) and dispatches to one cmd_* per
 * command; submit.c, wait.c, group.c and admin.c hold the command families.
 * Every command follows the same three steps: check its positionals, only
 * then connect (connect_or_fail), then turn libtq's outcome into output and
 * one of the exit codes below. Errors are one line on stderr, "tq: ...".
 *
 * The program links libtq.a and may use its internals (client_private.h):
 * submit-many and group submit hand the library args already normalized.
 */
#ifndef TQ_CMD_CLI_H
#define TQ_CMD_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "client/admin.h"
#include "client/client_private.h"

/* ---------------------------------------------------------------- exit codes */

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_TIMEOUT = 3,
    EXIT_CANCELLED = 4,
    EXIT_NOTFOUND = 5,
    EXIT_REDIS = 6,
    EXIT_DURABLE = 7,  /* durable submit: accepted, not confirmed by the replicas */
    EXIT_RESERVED = 7, /* the highest code tq may use */
    /* Not an exit code: what the checking helpers (want_args, check_ids,
     * read_stdin, read_lines, split_args, apply_flags) return to say "go
     * on". A command must never return it; main() turns a code outside
     * 0..EXIT_RESERVED into an internal error (exit 6) rather than 255. */
    GO_ON = -1
};

/* ---------------------------------------------------------------- commands and flags */

typedef enum command {
    CMD_NONE = 0,
    CMD_SUBMIT,
    CMD_SUBMIT_MANY,
    CMD_STATUS,
    CMD_RESULT,
    CMD_WAIT,
    CMD_CANCEL,
    CMD_STATS,
    CMD_WORKERS,
    CMD_DLQ,
    CMD_PURGE,
    CMD_GROUP,      /* issue 4 */
    CMD_SEMAPHORE,  /* issue 3 */
    CMD_QUEUE,      /* issue 14: pause, resume, rm */
    CMD_JOBS,       /* issue 14: listing by state */
    CMD_SCHEDULE,   /* issue 14: schedule.c */
    CMD_RATELIMIT,  /* issue 14: ratelimit.c */
    CMD_DASHBOARD,  /* issue 15: dashboard.c */
    CMD_LOGS,       /* issue 15: tq logs [-f] ID (wait.c) */
    CMD_HELP
} command;

typedef enum flag_id {
    F_REDIS, F_NAMESPACE, F_JSON, F_HELP, F_VERSION,
    F_QUEUE, F_PRIORITY, F_DELAY, F_AT, F_TIMEOUT, F_RETRIES, F_BACKOFF,
    F_SEMAPHORE, F_UNIQUE, F_RESULT_TTL, F_MAX_LOST, F_MAX_ARGS, F_THEN,
    F_WAIT, F_ALL, F_YES, F_CONNECT_TIMEOUT, F_DURABLE, F_DURABLE_TIMEOUT,
    F_PASSWORD_FILE,
    F_STATE, F_LIMIT, F_FORCE, /* tq jobs, tq queue rm */
    F_TZ, F_OVERLAP, F_CATCHUP,  /* schedule add */
    F_RATE_LIMIT, F_BURST,       /* issue 14 */
    F_FAIR_KEY,                  /* submits: --fair-key */
    F_LISTEN, F_READ_ONLY, F_TOKEN, /* issue 15: tq dashboard */
    F_PROGRESS, F_FOLLOW,        /* issue 15: wait --progress, logs -f */
    F_NO_SCHEDULES               /* issue 15: dashboard --no-schedules */
} flag_id;

#define ON(c) (1u << (c))
#define ANY 0xffffffffu
#define SUBMITS (ON(CMD_SUBMIT) | ON(CMD_SUBMIT_MANY) | ON(CMD_GROUP) | ON(CMD_SCHEDULE))

/* A flag of the table in main.c; cmds says which commands take it. */
struct flag {
    const char *name;
    flag_id id;
    int has_value;
    unsigned cmds;
};

/* One flag as given on the command line. */
typedef struct given {
    const struct flag *flag;
    const char *value;
} given;

/* Everything the command line said, parsed and validated. */
typedef struct cli {
    command cmd;
    const char *cmdname;
    const char **pos;          /* positionals after the command word */
    size_t npos;
    given *flags;
    size_t nflags;
    const char *url, *url_from;
    char *url_owned;           /* the URL with the password of --redis-password-file
                                  or TQ_REDIS_PASSWORD put in (cl->url points here) */
    const char *ns, *ns_from;
    int64_t connect_timeout_ms; /* --connect-timeout, TQ_CONNECT_TIMEOUT; 0 = 10 s */
    int json, wait, all, yes;
    tq_submit_opts so;
    int64_t wait_timeout_ms;   /* wait --timeout; -1 = none */
    const char *timeout_text;
    const char *dlq_queue;     /* dlq --queue */
    const char **then;         /* --then TASK, in order */
    size_t nthen;
    const char *state;         /* jobs --state */
    long long limit;           /* jobs --limit; 0 = the default */
    int force;                 /* queue rm --force */
    /* schedule add (schedule.c) */
    const char *sched_tz;      /* --tz; NULL = UTC */
    int sched_overlap_allow;   /* --overlap allow */
    int64_t sched_catchup_ms;  /* --catchup */
    int sched_opts;            /* one of the three was given */
    int so_given;              /* a submit option was given */
    long long burst;           /* ratelimit set --burst; 0 = not given */
    const char *listen;        /* dashboard --listen; NULL = 127.0.0.1:8470 */
    int read_only;             /* dashboard --read-only */
    const char *token;         /* dashboard --token (or TQ_DASHBOARD_TOKEN) */
    int progress;              /* wait --progress */
    int follow;                /* logs -f */
    int no_schedules;          /* dashboard --no-schedules: fire no ticks */
} cli;

/* ---------------------------------------------------------------- main.c: output and checks */

/* Prints "tq: <message>" on stderr; returns code. */
int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A library error: its text and the exit code of its kind. */
int fail_client(const tq_client *c);
/* Text from a job or Redis (an error may be an exec job's stderr tail) kept
 * on one line: control characters are escaped. */
void put_oneline(FILE *f, const char *s);
/* The exit code of jobs waited for, by the precedence of docs/design.md
 * §6 (6 is the caller's, before): any missing 5, unfinished 3, failed 1,
 * cancelled 4, else 0. */
int worst_exit(size_t missing, size_t unfinished, size_t failed, size_t cancelled);
/* One line on stdout per job waited for: its result when it succeeded (1
 * returned), else "null" (0; j NULL included). */
int put_result(const tq_job *j);
/* Why job j ended without success, on stderr after the caller's "job ID":
 * " failed: ERROR" or " was cancelled[: REASON]", composed once (an error
 * that starts with "failed" or "cancelled" does not repeat the word);
 * nothing for any other state. No newline. */
void put_why(const tq_job *j);
/* --json's object for a job waited for: {"id","state","result","error"}
 * (result and error null when the job has none; state "missing" when j is
 * NULL: no record). NULL when memory ran out. */
json_t *job_brief(const char *id, const tq_job *j);
/* Prints job_brief(id, j) as one line; print_json's code. */
int print_brief(const char *id, const tq_job *j);
/* What to add to the error of JSON args that did not parse when they are a
 * bare word (hello): " (strings need quotes: '\"hello\"')" (shell: quoted
 * for a command line; else as a line of stdin holds it), built in buf;
 * else "". */
const char *args_hint(const char *text, size_t len, int shell, char *buf, size_t n);
/* Prints v as one line of JSON; EXIT_OK, or EXIT_REDIS when memory ran out
 * (v NULL included). Does not release v. */
int print_json(json_t *v);
/* print_json(v), then releases v: for json_pack(...) made on the spot, so
 * that names from the user (a queue may be named 'a"b') are escaped. */
int print_json_new(json_t *v);
/* A durable submit that was not confirmed (TQ_EDURABLE): the message and
 * exit 7, after the caller printed the ids; any other error as fail_client. */
int fail_submit(const tq_client *c);
/* Connects, or prints why not and sets *code (NULL returned). */
tq_client *connect_or_fail(const cli *cl, int *code);
/* Checks the positionals count: at least lo, at most hi. GO_ON or the exit
 * code. */
int want_args(const cli *cl, size_t lo, size_t hi, const char *shape);
/* Checks ids; what ("job" or "group") starts the message. GO_ON or 2. */
int check_ids(const char *what, const char *const *ids, size_t n);

/* ---------------------------------------------------------------- the commands */

/* submit.c */
int cmd_submit(cli *cl);
int cmd_submit_many(cli *cl);
/* Reads stdin: one job's JSON args per line, each normalized (a bad line is
 * refused naming its number). *args (n strings) is the caller's, freed with
 * free_lines. GO_ON, or the exit code. */
int read_lines(const cli *cl, char ***args_out, size_t *n_out);
void free_lines(char **args, size_t n);

/* wait.c */
int cmd_status(cli *cl, int result);
int cmd_wait(cli *cl);
int cmd_cancel(cli *cl);
int cmd_logs(cli *cl);
/* Waits for n jobs (timeout_ms < 0: no limit), prints one line per id and
 * returns the exit code by the precedence of docs/design.md §6. */
int wait_and_report(const cli *cl, tq_client *c, const char *const *ids,
                    size_t n, int64_t timeout_ms);

/* group.c */
int cmd_group(cli *cl);

/* schedule.c */
int cmd_schedule(cli *cl);

/* admin.c */
int cmd_stats(cli *cl);
int cmd_workers(cli *cl);
int cmd_dlq(cli *cl);
int cmd_purge(cli *cl);
int cmd_semaphore(cli *cl);
int cmd_ratelimit(cli *cl); /* ratelimit.c */
/* A Unix time (JSON number) as local "YYYY-MM-DD HH:MM:SS" in buf, or "-". */
const char *when(json_t *v, char buf[32]);

/* queue.c */
int cmd_queue(cli *cl);
int cmd_jobs(cli *cl);

/* dashboard.c */
int cmd_dashboard(cli *cl);

#endif
