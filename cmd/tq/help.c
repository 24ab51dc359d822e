/* help.c -- what `tq` says about itself: every command, subcommand and flag,
 * as data (cmd/common/help.h). --help, the man page tq(1) and the bash and
 * zsh completion are rendered from this table alone; main.c's --help-check
 * holds its flag table against it (tests/integration/t_help.sh).
 */
#include "cmd/common/help.h"

#define END {NULL, NULL, NULL, NULL, NULL}

/* The submit options, shared by submit, submit-many, group submit and
 * schedule add. */
#define SUBMIT_OPTS \
    {"--queue", "Q", "default", "the queue", "@queue"}, \
    {"--priority", "0..9", "0", "higher runs first within the queue", "0 1 2 3 4 5 6 7 8 9"}, \
    {"--delay", "DUR", NULL, "run no earlier than DUR from now", NULL}, \
    {"--at", "UNIX_TIME", NULL, "run no earlier than this Unix time (seconds)", NULL}, \
    {"--timeout", "DUR", "none", "a running attempt is stopped after DUR", NULL}, \
    {"--retries", "N", "3", "attempts after the first one fails", NULL}, \
    {"--backoff", "DUR", "1s", "wait before a retry, doubled each time", NULL}, \
    {"--semaphore", "NAME[:KEY]", NULL, "start only holding a slot of semaphore NAME " \
        "(NAME:KEY: a semaphore per KEY with NAME's capacity)", "@semaphore"}, \
    {"--unique", "KEY", NULL, "no second job with KEY while one is unfinished", NULL}, \
    {"--result-ttl", "DUR", "24h", "how long the finished record is kept", NULL}, \
    {"--max-lost", "N", "3", "times a job may be lost with its worker before it fails", NULL}, \
    {"--max-args", "SIZE", "512KiB", "largest ARGS accepted (bytes, or with K or M)", NULL}, \
    {"--rate-limit", "NAME[:KEY]", NULL, "start only with a token of NAME's bucket " \
        "(NAME:KEY: KEY's own bucket at NAME's rate)", "@ratelimit"}, \
    {"--fair-key", "KEY", NULL, "within a queue and priority, workers take jobs " \
        "round-robin across the keys with jobs pending", NULL}, \
    {"--durable", "N", "0 (TQ_DURABLE)", "return once N replicas have the jobs; " \
        "else print the ids and exit 7", NULL}, \
    {"--durable-timeout", "DUR", "1s", "how long --durable waits for the replicas", NULL}

static const struct help_flag f_submit[] = {
    SUBMIT_OPTS,
    {"--then", "TASK2", NULL, "repeatable: a chain; each job gets the result of the one "
        "before as its args; every id is printed, head first", NULL},
    {"--wait", NULL, NULL, "wait for the job (the chain's last) and print its result", NULL},
    END};
static const struct help_flag f_submit_opts[] = {SUBMIT_OPTS, END};
static const struct help_flag f_group_submit[] = {
    SUBMIT_OPTS,
    {"--then", "TASK2", NULL, "a fan-in job run with the array of the members' results; "
        "its id is printed after the group's", NULL},
    END};
static const struct help_flag f_schedule_add[] = {
    {"--queue", "Q", "default", "the queue", "@queue"},
    {"--priority", "0..9", "0", "higher runs first within the queue", "0 1 2 3 4 5 6 7 8 9"},
    {"--timeout", "DUR", "none", "a running attempt is stopped after DUR", NULL},
    {"--retries", "N", "3", "attempts after the first one fails", NULL},
    {"--backoff", "DUR", "1s", "wait before a retry, doubled each time", NULL},
    {"--semaphore", "NAME[:KEY]", NULL, "start only holding a slot of semaphore NAME",
        "@semaphore"},
    {"--result-ttl", "DUR", "24h", "how long the finished record is kept", NULL},
    {"--max-lost", "N", "3", "times a job may be lost with its worker before it fails", NULL},
    {"--max-args", "SIZE", "512KiB", "largest ARGS accepted (bytes, or with K or M)", NULL},
    {"--rate-limit", "NAME[:KEY]", NULL, "start only with a token of NAME's bucket",
        "@ratelimit"},
    {"--fair-key", "KEY", NULL, "round-robin key of the jobs", NULL},
    {"--durable", "N", "0", "each tick's job is confirmed by N replicas", NULL},
    {"--durable-timeout", "DUR", "1s", "how long --durable waits for the replicas", NULL},
    {"--tz", "ZONE", "UTC", "the time zone of SPEC (the system's tz database)", NULL},
    {"--overlap", "skip|allow", "skip", "skip: a tick whose previous job is not finished "
        "is skipped; allow: it runs anyway", "skip allow"},
    {"--catchup", "DUR", "0", "ticks missed while every worker was down and younger "
        "than DUR still run, once", NULL},
    END};
static const struct help_flag f_wait[] = {
    {"--timeout", "DUR", "none", "give up after DUR (exit 3)", NULL},
    {"--progress", NULL, NULL, "print each progress value on stderr as it comes: "
        "'progress ID JSON'", NULL},
    END};
static const struct help_flag f_group_wait[] = {
    {"--timeout", "DUR", "none", "give up after DUR (exit 3)", NULL},
    END};
static const struct help_flag f_logs[] = {
    {"-f, --follow", NULL, NULL, "follow the log live until the job ends", NULL},
    END};
static const struct help_flag f_jobs[] = {
    {"--queue", "Q", "default", "the queue", "@queue"},
    {"--state", "S", "every state", "pending scheduled active waiting dead succeeded "
        "failed cancelled",
        "pending scheduled active waiting dead succeeded failed cancelled"},
    {"--limit", "N", "20", "at most N jobs", NULL},
    END};
static const struct help_flag f_purge[] = {
    {"--yes", NULL, NULL, "required: the pending jobs are dropped for good", NULL},
    END};
static const struct help_flag f_queue_rm[] = {
    {"--yes", NULL, NULL, "required: the queue and its jobs are deleted for good", NULL},
    {"--force", NULL, NULL, "even while jobs of the queue are running", NULL},
    END};
static const struct help_flag f_dlq_list[] = {
    {"--queue", "Q", "every queue", "only the dead jobs of Q", "@queue"},
    END};
static const struct help_flag f_dlq_retry[] = {
    {"--queue", "Q", "every queue", "only the dead jobs of Q", "@queue"},
    {"--all", NULL, NULL, "every dead job (of Q), instead of IDs", NULL},
    END};
static const struct help_flag f_dlq_purge[] = {
    {"--queue", "Q", "every queue", "only the dead jobs of Q", "@queue"},
    {"--yes", NULL, NULL, "accepted, not required: the purge asks no question", NULL},
    END};
static const struct help_flag f_ratelimit_set[] = {
    {"--burst", "N", "1", "tokens the bucket holds: jobs that may start at once", NULL},
    END};
static const struct help_flag f_dashboard[] = {
    {"--listen", "HOST:PORT", "127.0.0.1:8470", "the address; another than loopback "
        "needs --token or --read-only", NULL},
    {"--read-only", NULL, NULL, "no actions (cancel, retry, pause...)", NULL},
    {"--token", "TOKEN", "TQ_DASHBOARD_TOKEN", "the bearer token actions and the API need",
        NULL},
    {"--no-schedules", NULL, NULL, "fire no schedule ticks (by default the dashboard fires "
        "them as every worker does)", NULL},
    END};
static const struct help_flag f_none[] = {END};

static const char *const groups[] = {
    "jobs", "groups", "queues", "schedules", "limits", "workers", "dead letters",
    "dashboard", "help", NULL};

static const struct help_cmd cmds[] = {
    {"submit", "jobs", "[opts] TASK [ARGS]",
     "enqueue one job (ARGS: JSON, '-' = stdin, none = null); prints its id",
     f_submit, "01234567", "tq submit resize '{\"w\": 200}' --queue images --retries 5",
     NULL},
    {"submit-many", "jobs", "[opts] TASK < FILE",
     "one job per line of JSON args on stdin; prints the ids", f_submit_opts, "0267",
     "printf '1\\n2\\n3\\n' | tq submit-many square", NULL},
    {"status", "jobs", "ID", "the job's state (--json: the whole record)", f_none, "0256",
     "tq status 01J9Z6Q8T4X2M5N7P3R1S0V8W6 --json", NULL},
    {"result", "jobs", "ID", "the result of a succeeded job; does not wait", f_none,
     "0123456", "tq result 01J9Z6Q8T4X2M5N7P3R1S0V8W6", NULL},
    {"wait", "jobs", "ID... [--timeout DUR] [--progress]",
     "wait until every job is finished; print each result", f_wait, "0123456",
     "tq wait $(tq submit sleep 2) --timeout 30s", NULL},
    {"logs", "jobs", "[-f] ID",
     "an exec job's stderr (its last 64 KiB, kept with the record)", f_logs, "0256",
     "tq logs -f 01J9Z6Q8T4X2M5N7P3R1S0V8W6", NULL},
    {"cancel", "jobs", "ID...",
     "cancel jobs (a running one is stopped by its worker)", f_none, "0256",
     "tq cancel 01J9Z6Q8T4X2M5N7P3R1S0V8W6", NULL},
    {"jobs", "jobs", "[--queue Q] [--state S] [--limit N]",
     "jobs of a queue, newest first", f_jobs, "026", "tq jobs --queue images --state failed",
     NULL},
    {"group submit", "groups", "[opts] TASK < FILE",
     "one job per line of JSON args on stdin, in one group; prints the group id",
     f_group_submit, "0267", "printf '1\\n2\\n' | tq group submit square --then sum", NULL},
    {"group wait", "groups", "GID [--timeout DUR]",
     "wait for every member; print their results", f_group_wait, "0123456",
     "tq group wait 01J9Z6Q8T4X2M5N7P3R1S0V8W6 --timeout 1m", NULL},
    {"group status", "groups", "GID", "counts per state (--json)", f_none, "0256",
     "tq group status 01J9Z6Q8T4X2M5N7P3R1S0V8W6", NULL},
    {"group cancel", "groups", "GID",
     "cancel every member not finished, and the fan-in", f_none, "0256",
     "tq group cancel 01J9Z6Q8T4X2M5N7P3R1S0V8W6", NULL},
    {"stats", "queues", "", "per queue: counts per state and totals", f_none, "026",
     "tq stats --json", NULL},
    {"purge", "queues", "QUEUE --yes", "drop a queue's pending jobs", f_purge, "026",
     "tq purge images --yes", "@queue"},
    {"queue pause", "queues", "Q",
     "no job of Q starts until resume (running ones finish, submits are accepted)",
     f_none, "026", "tq queue pause images", "@queue"},
    {"queue resume", "queues", "Q", "jobs of Q start again", f_none, "026",
     "tq queue resume images", "@queue"},
    {"queue rm", "queues", "Q --yes [--force]", "delete the queue and every job in it",
     f_queue_rm, "026", "tq queue rm images --yes", "@queue"},
    {"schedule add", "schedules", "NAME SPEC TASK [ARGS] [opts]",
     "a job per tick; SPEC: cron of 5 or 6 fields, @every DUR, @hourly @daily "
     "@weekly @monthly", f_schedule_add, "026",
     "tq schedule add nightly '0 3 * * *' backup --tz Europe/Berlin", NULL},
    {"schedule list", "schedules", "", "every schedule, its next run and last job",
     f_none, "026", "tq schedule list", NULL},
    {"schedule rm", "schedules", "NAME", "delete a schedule", f_none, "0256",
     "tq schedule rm nightly", "@schedule"},
    {"schedule pause", "schedules", "NAME", "no ticks until resume", f_none, "0256",
     "tq schedule pause nightly", "@schedule"},
    {"schedule resume", "schedules", "NAME", "ticks again", f_none, "0256",
     "tq schedule resume nightly", "@schedule"},
    {"schedule run", "schedules", "NAME", "submit the schedule's job now, once", f_none,
     "0256", "tq schedule run nightly", "@schedule"},
    {"semaphore set", "limits", "NAME N",
     "the capacity of a cluster-wide semaphore (unset: 1)", f_none, "026",
     "tq semaphore set gpu 2", "@semaphore"},
    {"semaphore show", "limits", "[NAME]", "capacity, holders and parked jobs", f_none,
     "026", "tq semaphore show gpu", "@semaphore"},
    {"ratelimit set", "limits", "NAME RATE [--burst N]",
     "a rate limit shared by every worker; RATE: 20/s, 100/m, 1000/h", f_ratelimit_set,
     "026", "tq ratelimit set api 20/s --burst 5", "@ratelimit"},
    {"ratelimit show", "limits", "[NAME]", "limits (NAME: and its live per-key buckets)",
     f_none, "026", "tq ratelimit show api", "@ratelimit"},
    {"ratelimit rm", "limits", "NAME", "delete a limit: jobs naming it then run unlimited",
     f_none, "0256", "tq ratelimit rm api", "@ratelimit"},
    {"workers", "workers", "", "the live workers", f_none, "026", "tq workers --json", NULL},
    {"dlq list", "dead letters", "[--queue Q]", "the dead-letter list", f_dlq_list, "026",
     "tq dlq list --queue images", NULL},
    {"dlq retry", "dead letters", "ID...|--all [--queue Q]",
     "dead jobs go back to their queue (ids, or --all: every one, of Q)", f_dlq_retry, "0256",
     "tq dlq retry --all --queue images", NULL},
    {"dlq purge", "dead letters", "[--queue Q]", "delete the dead jobs (of Q)",
     f_dlq_purge, "026", "tq dlq purge --queue images", NULL},
    {"dashboard", "dashboard", "[--listen HOST:PORT] [--read-only] [--token TOKEN] [--no-schedules]",
     "the web UI, its JSON API (/api/) and /metrics", f_dashboard, "026",
     "tq dashboard --listen 0.0.0.0:8470 --read-only", NULL},
    {"help", "help", "[COMMAND [SUBCOMMAND]]", "this text, or a command's", f_none, "02",
     "tq help group submit", "@command"},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};

static const struct help_flag common[] = {
    {"--redis", "URL", "redis://127.0.0.1:6379/0 (TQ_REDIS_URL)",
     "the broker: redis://[user:pass@]host[:port][/db], rediss://, unix:///path, "
     "redis+sentinel://", NULL},
    {"--namespace", "NS", "tq (TQ_NAMESPACE)", "the key prefix", NULL},
    {"--redis-password-file", "FILE", "TQ_REDIS_PASSWORD, else the URL's",
     "the password: the file's first line, so that it need not be in the URL", "@file"},
    {"--connect-timeout", "DUR", "10s (TQ_CONNECT_TIMEOUT)",
     "how long a redis+sentinel:// URL keeps trying through a failover", NULL},
    {"--json", NULL, NULL, "JSON output", NULL},
    {"-h, --help", NULL, NULL, "this text", NULL},
    {"--version", NULL, NULL, "the version and the commit", NULL},
    END};

static const char *const exit_codes[] = {
    "ok",
    "a job failed",
    "usage or invalid input",
    "timed out, or not finished",
    "cancelled",
    "no such job or group",
    "Redis unreachable or in error",
    "durable submit not confirmed by the replicas in time (the jobs exist: their ids "
    "are printed)",
    NULL};

const struct help_prog tq_help_tq = {
    .name = "tq",
    .section = "1",
    .title = "submit, watch and manage the jobs of a tq task queue",
    .synopsis = "[--redis URL] [--namespace NS] [--json] COMMAND [SUBCOMMAND] [ARGS] [FLAGS]",
    .description =
        "tq is the command line of the tq task queue: it submits jobs to queues kept in "
        "Redis, waits for them, and manages queues, groups, schedules, limits and dead "
        "letters. Workers (tq-worker(8)) run the jobs.\n"
        "\n"
        "Flags may come anywhere on the line; -- ends them. Every input is checked "
        "before anything reaches Redis: bad input is one line on stderr and exit 2. "
        "tq help COMMAND, or tq COMMAND --help, prints a command's usage.",
    .groups = groups,
    .cmds = cmds,
    .common = common,
    .exit_codes = exit_codes,
    .environment =
        "TQ_REDIS_URL\tthe broker, when --redis is not given\n"
        "TQ_REDIS_PASSWORD\tthe password, when --redis-password-file is not given\n"
        "TQ_NAMESPACE\tthe key prefix, when --namespace is not given\n"
        "TQ_CONNECT_TIMEOUT\tthe default of --connect-timeout\n"
        "TQ_DURABLE\tthe default of --durable\n"
        "TQ_DASHBOARD_TOKEN\tthe default of tq dashboard --token\n",
    .notes = "Durations: 0.5, 250ms, 30s, 5m, 1h (a bare number is seconds).",
    .example = "tq submit resize '{\"w\": 200}'\ntq wait ID --timeout 30s\ntq stats",
};
