/* help.c -- what `tq-worker` says about itself: its flags, as data
 * (cmd/common/help.h). --help, the man page tq-worker(8), the completion
 * and the "did you mean" of an unknown flag are rendered from this table.
 * tests/integration/t_help.sh holds main.c's parser against it.
 */
#include "cmd/common/help.h"

#define END {NULL, NULL, NULL, NULL, NULL}

static const struct help_flag flags[] = {
    {"--redis", "URL", "redis://127.0.0.1:6379/0 (TQ_REDIS_URL)",
     "redis://[user:pass@]host[:port][/db], rediss://, unix:///path or redis+sentinel://",
     NULL},
    {"--redis-password-file", "FILE", "TQ_REDIS_PASSWORD, else the URL's",
     "the password: the file's first line, kept out of the URL", "@file"},
    {"--namespace", "NS", "tq (TQ_NAMESPACE)", "the key prefix", NULL},
    {"--queue", "Q", "default", "a queue to serve; repeat: earlier ones first", "@queue"},
    {"--concurrency", "N", "10", "jobs at once", NULL},
    {"--task", "NAME=COMMAND", NULL,
     "run COMMAND for task NAME: args JSON on stdin, result on stdout. COMMAND is split "
     "on spaces, without a shell (no quotes, $VARS or pipes: put those in a script, or "
     "give an argv array in --config); its program must exist and be executable "
     "(looked up in PATH) at start; repeat", NULL},
    {"--config", "FILE", NULL,
     "JSON: redis namespace queues concurrency tasks limits lease default_timeout "
     "shutdown_grace kill_grace max_result name log_level log_format metrics env_deny "
     "cgroup task_servers server_procs server_inflight server_start_timeout; flags win "
     "over the file (env_deny and task servers: both lists apply)", "@file"},
    {"--task-server", "NAME[,NAME...]=COMMAND", NULL,
     "serve tasks NAME... by long-lived processes of COMMAND (split as --task), each "
     "sent jobs as JSON lines on stdin, answering on stdout (docs/task-servers.md); "
     "repeat", NULL},
    {"--server-procs", "K", "1", "processes per task server", NULL},
    {"--server-inflight", "M", "1", "jobs at once per process; jobs beyond K*M wait in "
     "the worker, holding their slot", NULL},
    {"--server-start-timeout", "DUR", "30s", "a process that has not said hello by then "
     "is killed and restarted", NULL},
    {"--plugin", "FILE.so", NULL, "load C handlers: calls int tq_plugin_init(tq_worker *); "
     "repeat", "@file"},
    {"--limit", "TASK=K", NULL, "at most K jobs of TASK at once in this worker; repeat",
     NULL},
    {"--lease", "DUR", "30s", "lease of a claimed job, renewed every third", NULL},
    {"--default-timeout", "DUR", "none", "timeout of jobs submitted without one", NULL},
    {"--shutdown-grace", "DUR", "30s", "SIGTERM: time running jobs get to finish", NULL},
    {"--kill-grace", "DUR", "5s", "exec jobs: SIGTERM to SIGKILL; task servers: the time "
     "to answer a cancel", NULL},
    {"--max-result", "BYTES", "1048576", "exec stdout limit; task servers: longest line",
     NULL},
    {"--metrics", "HOST:PORT", "off", "serve Prometheus metrics at "
     "http://HOST:PORT/metrics (job outcomes, busy slots, duration and queue-wait "
     "histograms, build info) and /healthz (503 when Redis is unreachable past --lease, "
     "or when jobs are pending and none started for 30 s); [V6]:PORT for IPv6, :PORT "
     "for every interface", NULL},
    {"--name", "NAME", "the host name", "worker id prefix", NULL},
    {"--log-level", "LEVEL", "info", "debug, info, warn or error", "debug info warn error"},
    {"--log-format", "FORMAT", "text", "text or json", "text json"},
    {"--env-deny", "NAME", NULL, "exec jobs do not see variable NAME (or NAME* prefix); "
     "repeat. Jobs never see TQ_REDIS_URL, TQ_REDIS_PASSWORD or TQ_NAMESPACE; they get "
     "TQ_JOB_ID, TQ_TASK, TQ_QUEUE, TQ_ATTEMPT and TQ_DEADLINE (Unix time, empty "
     "without a timeout)", NULL},
    {"--cgroup", "DIR", NULL, "run each exec job in cgroup v2 DIR/job-ID (DIR must be a "
     "writable, delegated cgroup2 directory); at the job's end every process left in "
     "it is killed", "@dir"},
    {"-h, --help", NULL, NULL, "this text", NULL},
    {"--version", NULL, NULL, "the version and the commit", NULL},
    END};

static const char *const exit_codes[] = {
    "stopped cleanly (SIGTERM, SIGINT)",
    "a fatal error after start (a plugin failed, the event loop broke)",
    "usage or invalid input: a bad flag, value or config file",
    NULL};

const struct help_prog tq_help_worker = {
    .name = "tq-worker",
    .section = "8",
    .title = "run the jobs of a tq task queue",
    .synopsis = "[--redis URL] [--queue Q]... [--concurrency N] [--task NAME=COMMAND]... "
                "[--config FILE] [FLAGS]",
    .description =
        "Runs jobs from the tq queues in Redis: exec tasks (a program per job), task "
        "servers (long-lived processes answering JSON lines) and C handlers of "
        "plugins. Flags win over the environment, which wins over the --config file.\n"
        "\n"
        "An unreachable Redis is not an error: the worker retries. SIGTERM stops "
        "gracefully; a second SIGTERM, or SIGINT, gives every job back now.",
    .groups = NULL,
    .cmds = NULL,
    .common = flags,
    .exit_codes = exit_codes,
    .environment =
        "TQ_REDIS_URL\tthe broker, when --redis is not given\n"
        "TQ_REDIS_PASSWORD\tthe password, when --redis-password-file is not given\n"
        "TQ_NAMESPACE\tthe key prefix, when --namespace is not given\n",
    .notes = "Durations: a number of seconds (0.5) or a number with ms, s, m, h.",
    .example = "tq-worker --queue default --concurrency 4 --task resize='convert-job "
               "--fast'",
};
