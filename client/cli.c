/* cli.c -- `tq`, the command line of SPEC §4.
 *
 * Three steps, always in this order: parse every flag and positional (flags
 * may come anywhere), validate everything the command was given (JSON args,
 * names, durations, ids), and only then connect to Redis. So bad input is
 * refused with exit 2 before anything reaches the broker, and each error is
 * one line on stderr, prefixed "tq: ", naming the flag or line at fault.
 * The work itself is libtq's (client.c, admin.c); this file only turns
 * outcomes into output and the exit codes of SPEC §4.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <unistd.h>

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
    EXIT_RESERVED = 7, /* durable submit, later: the highest code tq may use */
    /* Not an exit code: what the checking helpers (want_args, check_ids,
     * read_stdin, read_lines, split_args, apply_flags) return to say "go
     * on". A command must never return it; main() turns a code outside
     * 0..EXIT_RESERVED into an internal error (exit 6) rather than 255. */
    GO_ON = -1
};

/* Prints "tq: <message>" on stderr; returns code. */
static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("tq: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* A library error: its text and the exit code of its kind. */
static int fail_client(const tq_client *c)
{
    int err = tq_client_err(c);
    const char *s = tq_client_errstr(c);
    return fail(tq_exit_code(err), "%s", s && *s ? s : tq_strerror(err));
}

/* Text from a job or Redis (an error may be an exec job's stderr tail) kept
 * on one line: control characters are escaped. */
static void put_oneline(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\r')
            fputs("\\r", f);
        else if (ch == '\t')
            fputc(' ', f);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
}

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
    CMD_HELP
} command;

static const struct {
    const char *name;
    command cmd;
    int ready;      /* 0: parsed, refused with "not supported yet" */
} commands[] = {
    {"submit", CMD_SUBMIT, 1},
    {"submit-many", CMD_SUBMIT_MANY, 1},
    {"status", CMD_STATUS, 1},
    {"result", CMD_RESULT, 1},
    {"wait", CMD_WAIT, 1},
    {"cancel", CMD_CANCEL, 1},
    {"stats", CMD_STATS, 1},
    {"workers", CMD_WORKERS, 1},
    {"dlq", CMD_DLQ, 1},
    {"purge", CMD_PURGE, 1},
    {"group", CMD_GROUP, 1},
    {"semaphore", CMD_SEMAPHORE, 1},
    {"help", CMD_HELP, 1},
};

typedef enum flag_id {
    F_REDIS, F_NAMESPACE, F_JSON, F_HELP, F_VERSION,
    F_QUEUE, F_PRIORITY, F_DELAY, F_AT, F_TIMEOUT, F_RETRIES, F_BACKOFF,
    F_SEMAPHORE, F_UNIQUE, F_RESULT_TTL, F_MAX_LOST, F_MAX_ARGS, F_THEN,
    F_WAIT, F_ALL, F_YES
} flag_id;

#define ON(c) (1u << (c))
#define ANY 0xffffffffu
#define SUBMITS (ON(CMD_SUBMIT) | ON(CMD_SUBMIT_MANY) | ON(CMD_GROUP))

/* Every flag of every command; cmds says where it applies. */
static const struct flag {
    const char *name;
    flag_id id;
    int has_value;
    unsigned cmds;
} flags[] = {
    {"--redis", F_REDIS, 1, ANY},
    {"--namespace", F_NAMESPACE, 1, ANY},
    {"--json", F_JSON, 0, ANY},
    {"--help", F_HELP, 0, ANY},
    {"-h", F_HELP, 0, ANY},
    {"--version", F_VERSION, 0, ANY},
    {"--queue", F_QUEUE, 1, SUBMITS | ON(CMD_DLQ)},
    {"--priority", F_PRIORITY, 1, SUBMITS},
    {"--delay", F_DELAY, 1, SUBMITS},
    {"--at", F_AT, 1, SUBMITS},
    {"--timeout", F_TIMEOUT, 1, SUBMITS | ON(CMD_WAIT)},
    {"--retries", F_RETRIES, 1, SUBMITS},
    {"--backoff", F_BACKOFF, 1, SUBMITS},
    {"--semaphore", F_SEMAPHORE, 1, SUBMITS},
    {"--unique", F_UNIQUE, 1, SUBMITS},
    {"--result-ttl", F_RESULT_TTL, 1, SUBMITS},
    {"--max-lost", F_MAX_LOST, 1, SUBMITS},
    {"--max-args", F_MAX_ARGS, 1, SUBMITS},
    {"--then", F_THEN, 1, ON(CMD_SUBMIT) | ON(CMD_GROUP)},
    {"--wait", F_WAIT, 0, ON(CMD_SUBMIT)},
    {"--all", F_ALL, 0, ON(CMD_DLQ)},
    {"--yes", F_YES, 0, ON(CMD_PURGE) | ON(CMD_DLQ)},
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
    const char *ns, *ns_from;
    int json, wait, all, yes;
    tq_submit_opts so;
    int64_t wait_timeout_ms;   /* wait --timeout; -1 = none */
    const char *timeout_text;
    const char *dlq_queue;     /* dlq --queue */
    const char **then;         /* --then TASK, in order */
    size_t nthen;
} cli;

static const char usage_text[] =
    "usage: tq [--redis URL] [--namespace NS] [--json] COMMAND ...\n"
    "\n"
    "commands:\n"
    "  submit [opts] TASK [ARGS]     enqueue one job (ARGS: JSON, '-' = stdin, none = null);\n"
    "                                prints its id (--wait: waits and prints the result)\n"
    "  submit-many [opts] TASK       one job per line of JSON args on stdin; prints the ids\n"
    "  status ID                     the job's state (--json: the whole record)\n"
    "  result ID                     the result of a succeeded job; does not wait\n"
    "  wait ID... [--timeout DUR]    waits until every job is finished; prints each result\n"
    "  cancel ID...                  cancels jobs (a running one is stopped by its worker)\n"
    "  stats                         per queue: counts per state and totals\n"
    "  workers                       the live workers\n"
    "  dlq list [--queue Q]          the dead-letter list\n"
    "  dlq retry ID...|--all [--queue Q]\n"
    "  dlq purge [--queue Q]\n"
    "  purge QUEUE --yes             drops a queue's pending jobs\n"
    "  semaphore set NAME N          capacity of a cluster-wide semaphore (unset: 1)\n"
    "  semaphore show [NAME]         capacity, holders and parked jobs\n"
    "  group submit [opts] TASK      one job per line of JSON args on stdin, in one\n"
    "                                group; prints the group id (--then TASK2: and the\n"
    "                                id of the fan-in job, run with the array of results)\n"
    "  group wait GID [--timeout DUR]  waits for every member; prints their results\n"
    "  group status GID              counts per state (--json)\n"
    "  group cancel GID              cancels every member not finished, and the fan-in\n"
    "\n"
    "submit options: --queue Q (default) --priority 0..9 --delay DUR --at UNIX_TIME\n"
    "  --timeout DUR --retries N (3) --backoff DUR (1s) --semaphore NAME --unique KEY\n"
    "  --result-ttl DUR (24h) --max-lost N (3) --max-args SIZE (512KiB)\n"
    "  --then TASK2 (submit: repeatable, a chain: each job gets the result of the one\n"
    "  before as its args; prints every id, head first; --wait waits for the last)\n"
    "\n"
    "common: --redis URL (TQ_REDIS_URL; redis://127.0.0.1:6379/0, unix:///path)\n"
    "        --namespace NS (TQ_NAMESPACE; tq)  --json  --help  --version\n"
    "durations: 0.5, 250ms, 30s, 5m, 1h (a bare number is seconds)\n"
    "exit: 0 ok, 1 a job failed, 2 usage or invalid input, 3 timed out or not\n"
    "      finished, 4 cancelled, 5 no such job or group,\n"
    "      6 Redis unreachable or in error\n";

static const struct flag *flag_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if (strlen(flags[i].name) == len && !strncmp(flags[i].name, name, len))
            return &flags[i];
    return NULL;
}

/* A token that is a flag: "--x", "-h"; "-" (stdin) and "-5" (a negative
 * number as JSON args) are positionals. */
static int is_flag(const char *a)
{
    if (a[0] != '-' || !a[1])
        return 0;
    if (a[1] == '-')
        return 1;
    return !(a[1] >= '0' && a[1] <= '9');
}

/* Splits argv into flags and positionals; --help and --version win over
 * every other complaint. Returns GO_ON to go on, else the exit code. */
static int split_args(cli *cl, int argc, char **argv)
{
    int help = 0, version = 0, rv = GO_ON;
    const char *bad = NULL, *novalue = NULL;
    int rest = 0;

    cl->pos = calloc((size_t)argc + 1, sizeof *cl->pos);
    cl->flags = calloc((size_t)argc + 1, sizeof *cl->flags);
    cl->then = calloc((size_t)argc + 1, sizeof *cl->then);
    if (!cl->pos || !cl->flags || !cl->then)
        return fail(EXIT_REDIS, "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (rest || !is_flag(a)) {
            cl->pos[cl->npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            rest = 1;
            continue;
        }
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const struct flag *f = flag_find(a, len);
        if (!f) {
            if (!bad)
                bad = a;
            continue;
        }
        if (f->id == F_HELP)
            help = 1;
        if (f->id == F_VERSION)
            version = 1;
        const char *value = NULL;
        if (f->has_value) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else if (!novalue)
                novalue = f->name;
        } else if (eq && !bad) {
            bad = a; /* --json=1 */
        }
        cl->flags[cl->nflags].flag = f;
        cl->flags[cl->nflags].value = value;
        cl->nflags++;
    }
    if (help) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (version) {
        printf("tq %s\n", TQ_VERSION);
        return EXIT_OK;
    }
    if (bad) {
        const char *eq = strchr(bad, '=');
        if (eq && flag_find(bad, (size_t)(eq - bad)))
            return fail(EXIT_USAGE, "%.*s takes no value", (int)(eq - bad), bad);
        return fail(EXIT_USAGE, "unknown flag %s (try tq --help)", bad);
    }
    if (novalue)
        return fail(EXIT_USAGE, "%s needs a value", novalue);
    return rv;
}

/* --max-args: bytes, or with k/K/KiB or m/M/MiB (1024-based). */
static int parse_size(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    if (!text || !(*text >= '0' && *text <= '9'))
        return -1;
    unsigned long long v = strtoull(text, &end, 10);
    unsigned long long mul = 1;
    if (errno)
        return -1;
    if (!strcmp(end, "k") || !strcmp(end, "K") || !strcmp(end, "KB") ||
        !strcmp(end, "KiB") || !strcmp(end, "kB"))
        mul = 1024;
    else if (!strcmp(end, "m") || !strcmp(end, "M") || !strcmp(end, "MB") ||
             !strcmp(end, "MiB"))
        mul = 1024 * 1024;
    else if (*end)
        return -1;
    if (v == 0 || v > (512ULL << 20) / mul)
        return -1;
    *out = (size_t)(v * mul);
    return 0;
}

/* Checks every flag against the command and parses its value. Returns -1
 * to go on, else the exit code. */
static int apply_flags(cli *cl)
{
    tq_perr e;
    long long v;
    int64_t ms;
    int have_delay = 0, have_at = 0;

    tq_submit_opts_init(&cl->so);
    cl->wait_timeout_ms = -1;
    for (size_t i = 0; i < cl->nflags; i++) {
        const struct flag *f = cl->flags[i].flag;
        const char *val = cl->flags[i].value;
        if (!(f->cmds & ON(cl->cmd)))
            return fail(EXIT_USAGE, "%s does not apply to 'tq %s'", f->name, cl->cmdname);
        switch (f->id) {
        case F_REDIS:
            cl->url = val;
            cl->url_from = "--redis";
            break;
        case F_NAMESPACE:
            cl->ns = val;
            cl->ns_from = "--namespace";
            break;
        case F_JSON: cl->json = 1; break;
        case F_HELP:
        case F_VERSION: break;
        case F_QUEUE:
            if (tq_queue_check(val, &e))
                return fail(EXIT_USAGE, "--queue: %s", e.text);
            cl->so.queue = val;
            cl->dlq_queue = val;
            break;
        case F_PRIORITY:
            if (tq_int_check("--priority", val, 0, TQ_PRIORITY_MAX, &v, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->so.priority = (int)v;
            break;
        case F_DELAY:
            if (tq_duration_check("--delay", val, &ms, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->so.delay_ms = ms;
            have_delay = 1;
            break;
        case F_AT: {
            char *end;
            errno = 0;
            double t = strtod(val, &end);
            if (!*val || *end || errno || !isfinite(t) || t <= 0 || t >= 1e11)
                return fail(EXIT_USAGE, "--at: '%s' is not a Unix time in seconds", val);
            cl->so.at = t;
            have_at = 1;
            break;
        }
        case F_TIMEOUT:
            if (tq_duration_check("--timeout", val, &ms, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->so.timeout_ms = ms;
            cl->wait_timeout_ms = ms;
            cl->timeout_text = val;
            break;
        case F_RETRIES:
            if (tq_int_check("--retries", val, 0, 1000000, &v, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->so.max_retries = (int)v;
            break;
        case F_BACKOFF:
            if (tq_duration_check("--backoff", val, &ms, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->so.backoff_ms = ms;
            break;
        case F_SEMAPHORE:
            if (tq_name_check("semaphore", val, &e))
                return fail(EXIT_USAGE, "--semaphore: %s", e.text);
            cl->so.semaphore = val;
            break;
        case F_UNIQUE:
            if (tq_name_check("unique key", val, &e))
                return fail(EXIT_USAGE, "--unique: %s", e.text);
            cl->so.unique = val;
            break;
        case F_RESULT_TTL:
            if (tq_duration_check("--result-ttl", val, &ms, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            if (ms <= 0)
                return fail(EXIT_USAGE, "--result-ttl: '%s' must be more than 0", val);
            cl->so.result_ttl_ms = ms;
            break;
        case F_MAX_LOST:
            if (tq_int_check("--max-lost", val, 0, 1000000, &v, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->so.max_lost = (int)v;
            break;
        case F_MAX_ARGS:
            if (parse_size(val, &cl->so.max_args))
                return fail(EXIT_USAGE, "--max-args: '%s' is not a size from 1 byte to "
                            "512MiB (bytes, or with K or M)", val);
            break;
        case F_THEN:
            if (tq_name_check("task", val, &e))
                return fail(EXIT_USAGE, "--then: %s", e.text);
            cl->then[cl->nthen++] = val;
            break;
        case F_WAIT: cl->wait = 1; break;
        case F_ALL: cl->all = 1; break;
        case F_YES: cl->yes = 1; break;
        }
    }
    if (have_delay && have_at)
        return fail(EXIT_USAGE, "--delay and --at both say when to run: give one");
    if (cl->nthen > 1 && cl->cmd == CMD_GROUP)
        return fail(EXIT_USAGE, "tq group submit takes one --then (the fan-in task)");
    if (cl->nthen && cl->so.unique)
        return fail(EXIT_USAGE, "--unique does not combine with --then");
    if (cl->nthen + 1 > TQ_CHAIN_MAX)
        return fail(EXIT_USAGE, "a chain has at most %d jobs", TQ_CHAIN_MAX);
    if (!cl->url) {
        cl->url = getenv("TQ_REDIS_URL");
        cl->url_from = "TQ_REDIS_URL";
    }
    if (!cl->ns) {
        cl->ns = getenv("TQ_NAMESPACE");
        cl->ns_from = "TQ_NAMESPACE";
    }
    if (cl->ns && tq_ns_check(cl->ns, &e))
        return fail(EXIT_USAGE, "%s: %s", cl->ns_from, e.text);
    return GO_ON;
}

/* Connects, or prints why not. The namespace was checked already, so a
 * TQ_EINVAL is the URL's. */
static tq_client *connect_or_fail(const cli *cl, int *code)
{
    tq_client *c = tq_client_new(cl->url, cl->ns);
    if (!c) {
        *code = fail(EXIT_REDIS, "out of memory");
        return NULL;
    }
    if (tq_client_err(c) == TQ_EINVAL) {
        *code = fail(EXIT_USAGE, "%s: %s", cl->url_from ? cl->url_from : "--redis",
                     tq_client_errstr(c));
        tq_client_free(c);
        return NULL;
    }
    if (tq_client_err(c)) {
        *code = fail_client(c);
        tq_client_free(c);
        return NULL;
    }
    *code = EXIT_OK; /* a command that goes on to print has succeeded so far */
    return c;
}

/* Checks the positionals count: at least lo, at most hi. */
static int want_args(const cli *cl, size_t lo, size_t hi, const char *shape)
{
    if (cl->npos < lo)
        return fail(EXIT_USAGE, "usage: tq %s %s", cl->cmdname, shape);
    if (cl->npos > hi && hi == 0)
        return fail(EXIT_USAGE, "tq %s: unexpected argument '%s' (it takes none)",
                    cl->cmdname, cl->pos[hi]);
    if (cl->npos > hi)
        return fail(EXIT_USAGE, "tq %s: unexpected argument '%s' (usage: tq %s %s)",
                    cl->cmdname, cl->pos[hi], cl->cmdname, shape);
    return GO_ON;
}

/* what: "job" or "group", the word the message starts with. */
static int check_ids(const char *what, const char *const *ids, size_t n)
{
    tq_perr e;
    for (size_t i = 0; i < n; i++)
        if (tq_id_check(ids[i], &e))
            return fail(EXIT_USAGE, "%s %s", what, e.text);
    return GO_ON;
}

/* ---------------------------------------------------------------- waiting */

/* Prints what tq_wait found, one line per id in order, and returns the exit
 * code by the precedence of docs/design.md §6: 6, 5, 3, 1, 4, 0. */
static int report_waited(const cli *cl, tq_client *c, const char *const *ids,
                         size_t n, tq_job **out, int rv)
{
    int missing = 0, unfinished = 0, failed = 0, cancelled = 0;

    if (rv && rv != TQ_ETIMEDOUT && rv != TQ_ENOTFOUND)
        return fail_client(c);
    for (size_t i = 0; i < n; i++) {
        tq_job *j = out[i];
        if (j && j->state == TQ_STATE_SUCCEEDED) {
            puts(j->result ? j->result : "null");
            continue;
        }
        puts("null");
        fputs("tq: ", stderr);
        if (!j) {
            fprintf(stderr, "no such job '%s'", ids[i]);
            missing = 1;
        } else if (j->state == TQ_STATE_FAILED) {
            fprintf(stderr, "job %s failed: ", ids[i]);
            put_oneline(stderr, j->error ? j->error : "(no error text)");
            failed = 1;
        } else if (j->state == TQ_STATE_CANCELLED) {
            fprintf(stderr, "job %s was cancelled", ids[i]);
            if (j->error) {
                fputs(": ", stderr);
                put_oneline(stderr, j->error);
            }
            cancelled = 1;
        } else {
            fprintf(stderr, "job %s is not finished (%s) after --timeout %s", ids[i],
                    tq_state_name(j->state), cl->timeout_text ? cl->timeout_text : "");
            unfinished = 1;
        }
        fputc('\n', stderr);
    }
    if (missing)
        return EXIT_NOTFOUND;
    if (unfinished)
        return EXIT_TIMEOUT;
    if (failed)
        return EXIT_FAILED;
    if (cancelled)
        return EXIT_CANCELLED;
    return EXIT_OK;
}

static int wait_and_report(const cli *cl, tq_client *c, const char *const *ids,
                           size_t n, int64_t timeout_ms)
{
    tq_job **out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        return fail(EXIT_REDIS, "out of memory");
    int rv = tq_wait(c, ids, n, timeout_ms, out);
    int code = report_waited(cl, c, ids, n, out, rv);
    for (size_t i = 0; i < n; i++)
        tq_job_free(out[i]);
    free(out);
    return code;
}

/* ---------------------------------------------------------------- submit */

/* Reads all of stdin, refusing more than max bytes. */
static int read_stdin(size_t max, char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return fail(EXIT_REDIS, "out of memory");
    for (;;) {
        if (n == cap) {
            char *b = cap > max ? NULL : realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                if (cap > max)
                    return fail(EXIT_USAGE, "stdin: args are over the limit of %zu "
                                "bytes (--max-args)", max);
                return fail(EXIT_REDIS, "out of memory");
            }
            buf = b;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, stdin);
        n += k;
        if (k == 0)
            break;
    }
    if (ferror(stdin)) {
        free(buf);
        return fail(EXIT_USAGE, "stdin: %s", strerror(errno));
    }
    *out = buf;
    *len = n;
    return GO_ON;
}

/* submit --then B --then C A ARGS: every job of the chain at once; prints
 * the ids head first, or with --wait the result of the last link. */
static int submit_chain(const cli *cl, tq_client *c, const char *args)
{
    size_t n = cl->nthen + 1;
    const char **tasks = malloc(n * sizeof *tasks);
    char (*ids)[TQ_ID_SIZE] = malloc(n * sizeof *ids);
    int code = EXIT_OK;

    if (!tasks || !ids) {
        code = fail(EXIT_REDIS, "out of memory");
        goto done;
    }
    tasks[0] = cl->pos[0];
    for (size_t i = 0; i < cl->nthen; i++)
        tasks[i + 1] = cl->then[i];
    if (tq_submit_chain(c, tasks, n, args, &cl->so, ids)) {
        code = fail_client(c);
        goto done;
    }
    if (cl->wait) {
        const char *last[] = {ids[n - 1]};
        code = wait_and_report(cl, c, last, 1, -1);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        puts(ids[i]);
done:
    free(tasks);
    free(ids);
    return code;
}

static int cmd_submit(cli *cl)
{
    int code;
    char *text = NULL, *norm = NULL;
    size_t len = 0;
    const char *where = "ARGS";
    tq_client *c = NULL;
    tq_perr e;
    char id[TQ_ID_SIZE];

    if ((code = want_args(cl, 1, 2, "[opts] TASK [ARGS]")) >= 0)
        return code;
    if (tq_client_opts_check(cl->pos[0], &cl->so, &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if (cl->npos == 2 && !strcmp(cl->pos[1], "-")) {
        if ((code = read_stdin(cl->so.max_args, &text, &len)) >= 0)
            return code;
        where = "stdin";
    } else if (cl->npos == 2) {
        len = strlen(cl->pos[1]);
    }
    code = tq_args_normalize(text ? text : cl->npos == 2 ? cl->pos[1] : NULL, len,
                             cl->so.max_args, &norm, &e);
    free(text);
    if (code == TQ_ENOMEM)
        return fail(EXIT_REDIS, "out of memory");
    if (code)
        return fail(EXIT_USAGE, "%s: %s", where, e.text);
    if (!(c = connect_or_fail(cl, &code)))
        goto done;
    if (cl->nthen) {
        code = submit_chain(cl, c, norm);
        goto done;
    }
    const char *one = norm;
    if (tq_client_submit_normalized(c, cl->pos[0], &one, 1, &cl->so,
                                    (char (*)[TQ_ID_SIZE])id)) {
        code = fail_client(c);
        goto done;
    }
    if (!cl->wait) {
        puts(id);
        code = EXIT_OK;
        goto done;
    }
    const char *ids[] = {id};
    code = wait_and_report(cl, c, ids, 1, -1);
done:
    free(norm);
    tq_client_free(c);
    return code;
}

/* "invalid JSON args at line 1, column 3: x" -> "... at column 3: x": the
 * line of the file is the one that counts. */
static const char *drop_line_one(const char *text)
{
    static char buf[sizeof ((tq_perr *)0)->text];
    const char *at = strstr(text, "at line 1, column ");
    if (!at)
        return text;
    snprintf(buf, sizeof buf, "%.*sat %s", (int)(at - text), text,
             at + strlen("at line 1, "));
    return buf;
}

/* Reads stdin: one job's JSON args per line (blank lines skipped), each
 * normalized; a bad line is refused naming its number. *args (n strings)
 * is the caller's, freed with free_lines. Returns GO_ON to go on, else the
 * exit code. */
static int read_lines(const cli *cl, char ***args_out, size_t *n_out)
{
    char **args = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    tq_perr e;
    int code = GO_ON;

    while ((got = getline(&line, &linecap, stdin)) >= 0) {
        size_t len = (size_t)got;
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (strspn(line, " \t") >= len)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            char **a = realloc(args, nc * sizeof *a);
            if (!a) {
                code = fail(EXIT_REDIS, "out of memory");
                goto done;
            }
            args = a;
            cap = nc;
        }
        int rv = tq_args_normalize(line, len, cl->so.max_args, &args[n], &e);
        if (rv == TQ_ENOMEM) {
            code = fail(EXIT_REDIS, "out of memory");
            goto done;
        }
        if (rv) {
            code = fail(EXIT_USAGE, "line %zu: %s", lineno, drop_line_one(e.text));
            goto done;
        }
        n++;
    }
    if (ferror(stdin))
        code = fail(EXIT_USAGE, "stdin: %s", strerror(errno));
done:
    free(line);
    if (code >= 0) {
        for (size_t i = 0; i < n; i++)
            free(args[i]);
        free(args);
        return code;
    }
    *args_out = args;
    *n_out = n;
    return GO_ON;
}

static void free_lines(char **args, size_t n)
{
    for (size_t i = 0; args && i < n; i++)
        free(args[i]);
    free(args);
}

static int cmd_submit_many(cli *cl)
{
    char **args = NULL;
    char (*ids)[TQ_ID_SIZE] = NULL;
    size_t n = 0;
    tq_client *c = NULL;
    tq_perr e;
    int code;

    if ((code = want_args(cl, 1, 1, "[opts] TASK < FILE")) >= 0)
        return code;
    if (tq_client_opts_check(cl->pos[0], &cl->so, &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if ((code = read_lines(cl, &args, &n)) >= 0)
        return code;
    if (n == 0) {
        code = EXIT_OK;
        goto done;
    }
    if (!(ids = malloc(n * sizeof *ids))) {
        code = fail(EXIT_REDIS, "out of memory");
        goto done;
    }
    if (!(c = connect_or_fail(cl, &code)))
        goto done;
    int rv = tq_client_submit_normalized(c, cl->pos[0], (const char *const *)args, n,
                                         &cl->so, ids);
    /* On a failure partway, the jobs accepted so far exist and will run:
     * their ids are printed (the library blanks the others), so a retry
     * can leave them out. */
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ids[i][0])
            continue;
        fputs(ids[i], stdout);
        putchar('\n');
        accepted++;
    }
    if (rv) {
        fflush(stdout);
        code = fail(tq_exit_code(tq_client_err(c)), "%s (%zu of %zu jobs submitted: "
                    "their ids are printed; the rest were not)", tq_client_errstr(c),
                    accepted, n);
        goto done;
    }
    code = EXIT_OK;
done:
    free_lines(args, n);
    free(ids);
    tq_client_free(c);
    return code;
}

/* ---------------------------------------------------------------- status, result, wait, cancel */

static int print_json(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(16)) : NULL;
    if (!s)
        return fail(EXIT_REDIS, "out of memory");
    puts(s);
    free(s);
    return EXIT_OK;
}

static int cmd_status(cli *cl, int result)
{
    tq_client *c;
    tq_job *job = NULL;
    int code;

    if ((code = want_args(cl, 1, 1, "ID")) >= 0 || (code = check_ids("job", cl->pos, 1)) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (tq_status(c, cl->pos[0], &job)) {
        code = fail_client(c);
        goto done;
    }
    if (!result) {
        if (cl->json) {
            json_t *o = tq_job_to_json(job);
            code = print_json(o);
            json_decref(o);
        } else {
            puts(tq_state_name(job->state));
            code = EXIT_OK;
        }
        goto done;
    }
    switch (job->state) {
    case TQ_STATE_SUCCEEDED:
        puts(job->result ? job->result : "null");
        code = EXIT_OK;
        break;
    case TQ_STATE_FAILED:
        fprintf(stderr, "tq: job %s failed: ", job->id);
        put_oneline(stderr, job->error ? job->error : "(no error text)");
        fputc('\n', stderr);
        code = EXIT_FAILED;
        break;
    case TQ_STATE_CANCELLED:
        fprintf(stderr, "tq: job %s was cancelled", job->id);
        if (job->error) {
            fputs(": ", stderr);
            put_oneline(stderr, job->error);
        }
        fputc('\n', stderr);
        code = EXIT_CANCELLED;
        break;
    default:
        code = fail(EXIT_TIMEOUT, "job %s is not finished (%s)", job->id,
                    tq_state_name(job->state));
    }
done:
    tq_job_free(job);
    tq_client_free(c);
    return code;
}

static int cmd_wait(cli *cl)
{
    tq_client *c;
    int code;

    if ((code = want_args(cl, 1, (size_t)-1, "ID... [--timeout DUR]")) >= 0 ||
        (code = check_ids("job", cl->pos, cl->npos)) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    code = wait_and_report(cl, c, cl->pos, cl->npos, cl->wait_timeout_ms);
    tq_client_free(c);
    return code;
}

static int cmd_cancel(cli *cl)
{
    tq_client *c;
    int code, missing = 0;

    if ((code = want_args(cl, 1, (size_t)-1, "ID...")) >= 0 ||
        (code = check_ids("job", cl->pos, cl->npos)) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    code = EXIT_OK;
    for (size_t i = 0; i < cl->npos; i++) {
        const char *id = cl->pos[i];
        tq_state before;
        int rv = tq_cancel(c, id, &before);
        if (rv == TQ_ENOTFOUND) {
            fail(EXIT_NOTFOUND, "no such job '%s'", id);
            missing = 1;
            continue;
        }
        if (rv) {
            code = fail_client(c);
            break;
        }
        if (cl->json) {
            printf("{\"id\":\"%s\",\"before\":\"%s\"}\n", id, tq_state_name(before));
        } else if (before == TQ_STATE_ACTIVE) {
            printf("%s cancelling: it is running, its worker stops it\n", id);
        } else if (tq_state_terminal(before)) {
            printf("%s already %s: left as it is\n", id, tq_state_name(before));
        } else {
            printf("%s cancelled\n", id);
        }
    }
    tq_client_free(c);
    if (code == EXIT_OK && missing)
        code = EXIT_NOTFOUND;
    return code;
}

/* ---------------------------------------------------------------- tables */

/* An aligned table for humans: columns as wide as their widest cell, numbers
 * right-aligned (align[i] == 'r'). Cells are owned copies. */
typedef struct table {
    size_t ncols, nrows, cap;
    const char *align;
    char **cells;
} table;

static int table_add(table *t, ...)
{
    va_list ap;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c)
            return -1;
        t->cells = c;
        t->cap = cap;
    }
    va_start(ap, t);
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        t->cells[t->nrows * t->ncols + i] = strdup(s ? s : "-");
    }
    va_end(ap);
    t->nrows++;
    return 0;
}

static void table_print(table *t)
{
    size_t w[16] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            size_t len = s ? strlen(s) : 0;
            if (len > w[i])
                w[i] = len;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            int last = i + 1 == t->ncols;
            if (!s)
                s = "?";
            if (t->align[i] == 'r')
                printf("%*s", (int)w[i], s);
            else if (last)
                fputs(s, stdout);
            else
                printf("%-*s", (int)w[i], s);
            if (!last)
                fputs("  ", stdout);
        }
        putchar('\n');
    }
}

static void table_clear(table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

static const char *num(json_t *v, char buf[32])
{
    if (json_is_integer(v))
        snprintf(buf, 32, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, 32, "%g", json_real_value(v));
    else if (json_is_string(v))
        snprintf(buf, 32, "%s", json_string_value(v));
    else
        return "-";
    return buf;
}

/* 42s, 3m07s, 2h05m, 4d03h */
static const char *span(json_t *v, char buf[32])
{
    if (!json_is_number(v))
        return "-";
    double s = json_number_value(v);
    long long t = s < 0 ? 0 : (long long)s;
    if (t < 60)
        snprintf(buf, 32, "%llds", t);
    else if (t < 3600)
        snprintf(buf, 32, "%lldm%02llds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, 32, "%lldh%02lldm", t / 3600, t % 3600 / 60);
    else
        snprintf(buf, 32, "%lldd%02lldh", t / 86400, t % 86400 / 3600);
    return buf;
}

static const char *when(json_t *v, char buf[32])
{
    if (!json_is_number(v))
        return "-";
    time_t t = (time_t)json_number_value(v);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm))
        return "-";
    return buf;
}

/* ---------------------------------------------------------------- stats, workers, dlq, purge */

/* Fills a table from an admin call's answer: the header row, then a row per
 * element. Nonzero when memory ran out. */
typedef int (listing_fill)(table *t, json_t *out);

/* Prints an admin call's answer: JSON with --json, else the table fill()
 * makes of it (align: 'l' or 'r' per column). Releases out; returns the
 * exit code. */
static int print_listing(const cli *cl, json_t *out, const char *align,
                         listing_fill *fill)
{
    int code = EXIT_OK;

    if (cl->json) {
        code = print_json(out);
    } else {
        table t = {strlen(align), 0, 0, align, NULL};
        if (fill(&t, out))
            code = fail(EXIT_REDIS, "out of memory");
        else
            table_print(&t);
        table_clear(&t);
    }
    json_decref(out);
    return code;
}

static int stats_rows(table *t, json_t *out)
{
    static const char *const totals[] = {"processed", "succeeded", "failed", "retried",
                                         "lost", "cancelled"};
    size_t i;
    json_t *q;
    int err = table_add(t, "QUEUE", "PENDING", "SCHEDULED", "ACTIVE", "DEAD",
                        "PROCESSED", "SUCCEEDED", "FAILED", "RETRIED", "LOST",
                        "CANCELLED");
    json_array_foreach(out, i, q) {
        char b[10][32];
        json_t *tot = json_object_get(q, "totals");
        err |= table_add(t, json_string_value(json_object_get(q, "queue")),
                         num(json_object_get(q, "pending"), b[0]),
                         num(json_object_get(q, "scheduled"), b[1]),
                         num(json_object_get(q, "active"), b[2]),
                         num(json_object_get(q, "dead"), b[3]),
                         num(json_object_get(tot, totals[0]), b[4]),
                         num(json_object_get(tot, totals[1]), b[5]),
                         num(json_object_get(tot, totals[2]), b[6]),
                         num(json_object_get(tot, totals[3]), b[7]),
                         num(json_object_get(tot, totals[4]), b[8]),
                         num(json_object_get(tot, totals[5]), b[9]));
    }
    return err;
}

/* A command without arguments that prints what one admin call answers. */
static int cmd_listing(cli *cl, int (*fetch)(tq_client *, json_t **),
                       const char *align, listing_fill *fill)
{
    tq_client *c;
    json_t *out = NULL;
    int code;

    if ((code = want_args(cl, 0, 0, "")) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    code = fetch(c, &out) ? fail_client(c) : print_listing(cl, out, align, fill);
    tq_client_free(c);
    return code;
}

static int cmd_stats(cli *cl)
{
    return cmd_listing(cl, tq_admin_stats, "lrrrrrrrrrr", stats_rows);
}

/* The queues of a worker's card (a JSON array) as "a,b". */
static const char *joined(json_t *v, char *buf, size_t n)
{
    size_t i, at = 0;
    json_t *q;
    if (json_is_string(v))
        return json_string_value(v);
    if (!json_is_array(v))
        return "-";
    buf[0] = '\0';
    json_array_foreach(v, i, q) {
        const char *s = json_string_value(q);
        int k = snprintf(buf + at, n - at, "%s%s", i ? "," : "", s ? s : "?");
        if (k < 0 || (size_t)k >= n - at)
            break;
        at += (size_t)k;
    }
    return buf;
}

static int workers_rows(table *t, json_t *out)
{
    size_t i;
    json_t *w;
    int err = table_add(t, "ID", "STATE", "HOST", "PID", "QUEUES", "CONCURRENCY", "BUSY",
                        "UPTIME", "LAST HEARTBEAT");
    json_array_foreach(out, i, w) {
        char b[5][32], qs[256], ago[48];
        snprintf(ago, sizeof ago, "%s ago", span(json_object_get(w, "heartbeat_age"), b[4]));
        const char *st = json_string_value(json_object_get(w, "state"));
        err |= table_add(t, json_string_value(json_object_get(w, "id")), st ? st : "-",
                         json_string_value(json_object_get(w, "host")),
                         num(json_object_get(w, "pid"), b[0]),
                         joined(json_object_get(w, "queues"), qs, sizeof qs),
                         num(json_object_get(w, "concurrency"), b[1]),
                         num(json_object_get(w, "busy"), b[2]),
                         span(json_object_get(w, "uptime"), b[3]), ago);
    }
    return err;
}

static int cmd_workers(cli *cl)
{
    return cmd_listing(cl, tq_admin_workers, "lllrlrrrl", workers_rows);
}

/* The first line of an error, escaped, at most 72 characters. */
static const char *short_error(const char *s, char *buf, size_t n)
{
    size_t at = 0;
    if (!s)
        return "-";
    for (; *s && *s != '\n' && at + 4 < n && at < 72; s++)
        buf[at++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s;
    if (*s) {
        /* cut short: say so */
        if (at > 3 && *s != '\n')
            at -= 3;
        memcpy(buf + at, "...", 3);
        at += 3;
    }
    buf[at] = '\0';
    return buf;
}

static int dlq_rows(table *t, json_t *out)
{
    size_t i;
    json_t *d;
    int err = table_add(t, "ID", "QUEUE", "TASK", "ATTEMPT", "FINISHED", "ERROR");
    json_array_foreach(out, i, d) {
        char b[2][32], e[96];
        json_t *task = json_object_get(d, "task");
        err |= table_add(t, json_string_value(json_object_get(d, "id")),
                         json_string_value(json_object_get(d, "queue")),
                         task ? json_string_value(task) : "(expired)",
                         num(json_object_get(d, "attempt"), b[0]),
                         when(json_object_get(d, "finished_at"), b[1]),
                         short_error(json_string_value(json_object_get(d, "error")),
                                     e, sizeof e));
    }
    return err;
}

static int cmd_dlq_list(cli *cl, tq_client *c)
{
    json_t *out = NULL;
    if (tq_admin_dlq_list(c, cl->dlq_queue, &out))
        return fail_client(c);
    return print_listing(cl, out, "lllrll", dlq_rows);
}

static int cmd_dlq(cli *cl)
{
    const char *sub = cl->npos ? cl->pos[0] : NULL;
    tq_client *c;
    long long n = 0;
    int code;

    if (!sub)
        return fail(EXIT_USAGE, "usage: tq dlq list|retry|purge (no subcommand given)");
    if (strcmp(sub, "list") && strcmp(sub, "retry") && strcmp(sub, "purge"))
        return fail(EXIT_USAGE, "unknown subcommand 'tq dlq %s' (list, retry or purge)", sub);
    int retry = !strcmp(sub, "retry");
    if (cl->all && !retry)
        return fail(EXIT_USAGE, "--all applies to 'tq dlq retry' only");
    if (cl->yes && strcmp(sub, "purge"))
        return fail(EXIT_USAGE, "--yes does not apply to 'tq dlq %s'", sub);
    if (retry) {
        if (cl->all && cl->npos > 1)
            return fail(EXIT_USAGE, "tq dlq retry: give ids or --all, not both");
        if (!cl->all && cl->npos < 2)
            return fail(EXIT_USAGE, "usage: tq dlq retry ID...|--all [--queue Q]");
        if (!cl->all && cl->dlq_queue)
            return fail(EXIT_USAGE, "--queue applies to 'tq dlq retry --all' only");
        if ((code = check_ids("job", cl->pos + 1, cl->npos - 1)) >= 0)
            return code;
    } else if (cl->npos > 1) {
        return fail(EXIT_USAGE, "tq dlq %s: unexpected argument '%s'", sub, cl->pos[1]);
    }
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    code = EXIT_OK;
    if (!strcmp(sub, "list")) {
        code = cmd_dlq_list(cl, c);
    } else if (!strcmp(sub, "purge")) {
        if (tq_admin_dlq_purge(c, cl->dlq_queue, &n))
            code = fail_client(c);
        else if (cl->json)
            printf("{\"purged\":%lld}\n", n);
        else
            printf("purged %lld job%s from the dead-letter list\n", n, n == 1 ? "" : "s");
    } else if (cl->all) {
        if (tq_admin_dlq_retry_all(c, cl->dlq_queue, &n))
            code = fail_client(c);
        else if (cl->json)
            printf("{\"retried\":%lld}\n", n);
        else
            printf("retried %lld job%s\n", n, n == 1 ? "" : "s");
    } else {
        int worst = EXIT_OK;
        for (size_t i = 1; i < cl->npos; i++) {
            int rv = tq_admin_dlq_retry(c, cl->pos[i]);
            if (rv == TQ_EREDIS || rv == TQ_ENOMEM || rv == TQ_EPROTO) {
                worst = fail_client(c);
                break;
            }
            if (rv) {
                int k = fail_client(c);
                /* 5 (no such job) before 2 (not dead-lettered) */
                if (worst == EXIT_OK || k == EXIT_NOTFOUND)
                    worst = k;
                continue;
            }
            if (cl->json)
                printf("{\"id\":\"%s\",\"retried\":true}\n", cl->pos[i]);
            else
                printf("%s retried\n", cl->pos[i]);
        }
        code = worst;
    }
    tq_client_free(c);
    return code;
}

/* tq semaphore set NAME N | tq semaphore show [NAME] */
static int semaphore_rows(table *t, json_t *out)
{
    size_t i;
    json_t *sem;
    int err = table_add(t, "NAME", "CAPACITY", "WAITING", "HOLDERS");
    json_array_foreach(out, i, sem) {
        char cap[48], waiting[24], holders[200] = "";
        json_t *h;
        size_t k, len = 0;
        snprintf(cap, sizeof cap, "%lld%s",
                 (long long)json_integer_value(json_object_get(sem, "capacity")),
                 json_is_true(json_object_get(sem, "capacity_set")) ? "" : " (default)");
        snprintf(waiting, sizeof waiting, "%lld",
                 (long long)json_integer_value(json_object_get(sem, "waiting")));
        json_array_foreach(json_object_get(sem, "holders"), k, h) {
            const char *id = json_string_value(json_object_get(h, "job"));
            int n = snprintf(holders + len, sizeof holders - len, "%s%s",
                             k ? " " : "", id ? id : "?");
            if (n < 0 || (size_t)n >= sizeof holders - len) {
                snprintf(holders + sizeof holders - 5, 5, " ...");
                break;
            }
            len += (size_t)n;
        }
        err |= table_add(t, json_string_value(json_object_get(sem, "name")), cap,
                         waiting, len ? holders : "-");
    }
    return err;
}

static int cmd_semaphore_show(cli *cl, tq_client *c, const char *name)
{
    json_t *out = NULL;
    if (tq_admin_semaphore_show(c, name, &out))
        return fail_client(c);
    return print_listing(cl, out, "lrrl", semaphore_rows);
}

static int cmd_semaphore(cli *cl)
{
    const char *sub = cl->npos ? cl->pos[0] : NULL;
    long long cap = 0;
    tq_client *c;
    tq_perr e;
    int code;

    if (!sub || (strcmp(sub, "set") && strcmp(sub, "show")))
        return fail(EXIT_USAGE, "usage: tq semaphore set NAME N | tq semaphore show [NAME]");
    if (!strcmp(sub, "set")) {
        if (cl->npos != 3)
            return fail(EXIT_USAGE, "usage: tq semaphore set NAME N");
        if (tq_name_check("semaphore", cl->pos[1], &e))
            return fail(EXIT_USAGE, "%s", e.text);
        if (tq_int_check("semaphore capacity", cl->pos[2], 0, 1000000000, &cap, &e))
            return fail(EXIT_USAGE, "%s", e.text);
    } else {
        if (cl->npos > 2)
            return fail(EXIT_USAGE, "usage: tq semaphore show [NAME]");
        if (cl->npos == 2 && tq_name_check("semaphore", cl->pos[1], &e))
            return fail(EXIT_USAGE, "%s", e.text);
    }
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (!strcmp(sub, "show")) {
        code = cmd_semaphore_show(cl, c, cl->npos == 2 ? cl->pos[1] : NULL);
    } else if (tq_admin_semaphore_set(c, cl->pos[1], cap)) {
        code = fail_client(c);
    } else {
        code = EXIT_OK;
        if (cl->json) {
            json_t *o = json_pack("{s:s, s:I}", "name", cl->pos[1],
                                  "capacity", (json_int_t)cap);
            code = print_json(o);
            json_decref(o);
        } else
            printf("semaphore %s: capacity %lld\n", cl->pos[1], cap);
    }
    tq_client_free(c);
    return code;
}

static int cmd_purge(cli *cl)
{
    tq_client *c;
    tq_perr e;
    long long n = 0;
    int code;

    if ((code = want_args(cl, 1, 1, "QUEUE --yes")) >= 0)
        return code;
    if (tq_queue_check(cl->pos[0], &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if (!cl->yes)
        return fail(EXIT_USAGE, "purge drops every pending job of queue '%s': add --yes "
                    "to confirm", cl->pos[0]);
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (tq_admin_purge(c, cl->pos[0], &n))
        code = fail_client(c);
    else if (cl->json)
        printf("{\"purged\":%lld}\n", n);
    else
        printf("purged %lld pending job%s from '%s'\n", n, n == 1 ? "" : "s", cl->pos[0]);
    tq_client_free(c);
    return code;
}

/* ---------------------------------------------------------------- groups */

static int64_t mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The progress bar of `tq group wait` on a terminal: redrawn in place at
 * most ten times a second, and once more when the group is done. */
typedef struct bar {
    int64_t last;
    size_t done, total;   /* as last drawn */
    int drawn;
} bar;

static void bar_draw(size_t done, size_t total, void *ud)
{
    static const char full[] = "##############################";
    static const char empty[] = "..............................";
    const int width = (int)sizeof full - 1;
    bar *b = ud;
    int64_t now = mono_now_ms();
    if (b->drawn && ((done == b->done && total == b->total) ||
                     (done < total && now - b->last < 100)))
        return;
    b->last = now;
    b->done = done;
    b->total = total;
    int fill = total ? (int)((double)done * width / (double)total) : 0;
    if (fill > width)
        fill = width;
    fprintf(stderr, "\r[%.*s%.*s] %zu/%zu members done", fill, full, width - fill, empty,
            done, total);
    fflush(stderr);
    b->drawn = 1;
}

static int group_submit(cli *cl)
{
    char **args = NULL;
    char (*ids)[TQ_ID_SIZE] = NULL;
    char gid[TQ_ID_SIZE], fanin[TQ_ID_SIZE];
    const char *task = cl->npos == 2 ? cl->pos[1] : NULL;
    const char *then = cl->nthen ? cl->then[0] : NULL;
    size_t n = 0;
    tq_client *c = NULL;
    tq_perr e;
    int code;

    if (!task)
        return fail(EXIT_USAGE, "usage: tq group submit [opts] TASK [--then TASK2] < FILE");
    if (tq_client_opts_check(task, &cl->so, &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if (cl->so.unique)
        return fail(EXIT_USAGE, "--unique does not apply to 'tq group submit'");
    if ((code = read_lines(cl, &args, &n)) >= 0)
        return code;
    if (!(ids = malloc((n ? n : 1) * sizeof *ids))) {
        code = fail(EXIT_REDIS, "out of memory");
        goto done;
    }
    if (!(c = connect_or_fail(cl, &code)))
        goto done;
    if (tq_client_group_submit_normalized(c, task, (const char *const *)args, n, &cl->so,
                                          then, gid, fanin, ids)) {
        size_t made = 0;
        for (size_t i = 0; i < n; i++)
            made += ids[i][0] != '\0';
        if (!gid[0]) {
            code = fail_client(c);
            goto done;
        }
        /* The group exists, unsealed, with the members made so far (they
         * run): say which group, so it can be cancelled. */
        puts(gid);
        if (then)
            puts(fanin);
        fflush(stdout);
        code = fail(tq_exit_code(tq_client_err(c)), "%s (group %s was created with %zu "
                    "of %zu members, which will run; 'tq group cancel %s' cancels them)",
                    tq_client_errstr(c), gid, made, n, gid);
        goto done;
    }
    code = EXIT_OK;
    if (cl->json) {
        json_t *o = json_object(), *m = json_array();
        int err = !o || !m;
        for (size_t i = 0; !err && i < n; i++)
            err = json_array_append_new(m, json_string(ids[i]));
        if (!err)
            err = json_object_set_new(o, "group", json_string(gid)) ||
                  json_object_set_new(o, "fanin", then ? json_string(fanin) : json_null()) ||
                  json_object_set(o, "members", m);
        code = err ? fail(EXIT_REDIS, "out of memory") : print_json(o);
        json_decref(o);
        json_decref(m);
    } else {
        puts(gid);
        if (then)
            puts(fanin);
    }
done:
    free_lines(args, n);
    free(ids);
    tq_client_free(c);
    return code;
}

/* Prints each member's result on its own line (null for the others, with a
 * note on stderr for the first few), and returns the exit code by the
 * precedence of docs/design.md §6: 5, 3, 1, 4, 0. */
static int report_group(const char *gid, tq_job **out, size_t n, int timedout)
{
    size_t missing = 0, unfinished = 0, failed = 0, cancelled = 0, notes = 0;
    const size_t max_notes = 10;

    for (size_t i = 0; i < n; i++) {
        tq_job *j = out[i];
        if (j && j->state == TQ_STATE_SUCCEEDED) {
            puts(j->result ? j->result : "null");
            continue;
        }
        puts("null");
        int note = notes++ < max_notes;
        if (note)
            fputs("tq: ", stderr);
        if (!j) {
            missing++;
            if (note)
                fprintf(stderr, "member %zu: its record is gone (expired?)", i + 1);
        } else if (j->state == TQ_STATE_FAILED) {
            failed++;
            if (note) {
                fprintf(stderr, "member %zu (%s) failed: ", i + 1, j->id);
                put_oneline(stderr, j->error ? j->error : "(no error text)");
            }
        } else if (j->state == TQ_STATE_CANCELLED) {
            cancelled++;
            if (note) {
                fprintf(stderr, "member %zu (%s) was cancelled", i + 1, j->id);
                if (j->error) {
                    fputs(": ", stderr);
                    put_oneline(stderr, j->error);
                }
            }
        } else {
            unfinished++;
            if (note)
                fprintf(stderr, "member %zu (%s) is not finished (%s)", i + 1, j->id,
                        tq_state_name(j->state));
        }
        if (note)
            fputc('\n', stderr);
    }
    if (notes > max_notes)
        fprintf(stderr, "tq: ... and %zu more members that did not succeed\n",
                notes - max_notes);
    if (notes)
        fprintf(stderr, "tq: group %s: %zu of %zu members did not succeed (%zu failed, "
                "%zu cancelled, %zu not finished, %zu gone)\n", gid, notes, n, failed,
                cancelled, unfinished, missing);
    if (missing)
        return EXIT_NOTFOUND;
    if (timedout || unfinished)
        return EXIT_TIMEOUT;
    if (failed)
        return EXIT_FAILED;
    if (cancelled)
        return EXIT_CANCELLED;
    return EXIT_OK;
}

static int group_wait(cli *cl, tq_client *c, const char *gid)
{
    tq_job **out = NULL;
    size_t n = 0;
    bar b = {0, 0, 0, 0};
    int rv = tq_group_wait(c, gid, cl->wait_timeout_ms,
                           isatty(STDERR_FILENO) ? bar_draw : NULL, &b, &out, &n);
    if (b.drawn)
        fputc('\n', stderr);
    if (rv && rv != TQ_ETIMEDOUT)
        return fail_client(c);
    int code = report_group(gid, out, n, rv == TQ_ETIMEDOUT);
    if (rv == TQ_ETIMEDOUT)
        fail(EXIT_TIMEOUT, "%s", tq_client_errstr(c));
    tq_jobs_free(out, n);
    return code;
}

static int group_status(cli *cl, tq_client *c, const char *gid)
{
    static const tq_state order[] = {TQ_STATE_WAITING, TQ_STATE_SCHEDULED,
                                     TQ_STATE_PENDING, TQ_STATE_ACTIVE,
                                     TQ_STATE_SUCCEEDED, TQ_STATE_FAILED,
                                     TQ_STATE_CANCELLED};
    tq_group_info g;
    char buf[32];

    if (tq_group_status(c, gid, &g))
        return fail_client(c);
    if (cl->json) {
        json_t *o = json_object(), *st = json_object();
        int err = !o || !st;
        for (size_t i = 0; !err && i < sizeof order / sizeof *order; i++)
            err = json_object_set_new(st, tq_state_name(order[i]),
                                      json_integer((json_int_t)g.count[order[i]]));
        if (!err)
            err = json_object_set_new(st, "expired",
                                      json_integer((json_int_t)g.count[TQ_STATE_UNKNOWN])) ||
                  json_object_set_new(o, "id", json_string(g.id)) ||
                  json_object_set_new(o, "queue", json_string(g.queue)) ||
                  json_object_set_new(o, "total", json_integer((json_int_t)g.total)) ||
                  json_object_set_new(o, "done", json_integer((json_int_t)g.done)) ||
                  json_object_set_new(o, "succeeded", json_integer((json_int_t)g.ok)) ||
                  json_object_set_new(o, "sealed", json_boolean(g.sealed)) ||
                  json_object_set_new(o, "finished", json_boolean(g.finished)) ||
                  json_object_set_new(o, "created_at", json_real(g.created_at)) ||
                  json_object_set_new(o, "finished_at",
                                      g.finished ? json_real(g.finished_at) : json_null()) ||
                  json_object_set(o, "states", st) ||
                  json_object_set_new(o, "fanin", g.fanin[0] ? json_string(g.fanin)
                                                             : json_null()) ||
                  json_object_set_new(o, "fanin_state",
                                      g.fanin[0] && g.fanin_state
                                          ? json_string(tq_state_name(g.fanin_state))
                                          : json_null());
        int code = err ? fail(EXIT_REDIS, "out of memory") : print_json(o);
        json_decref(o);
        json_decref(st);
        return code;
    }
    printf("group     %s (queue %s)\n", g.id, g.queue);
    printf("members   %zu%s\n", g.total, g.sealed ? "" : " so far (still being created)");
    if (g.finished) {
        json_t *t = json_real(g.finished_at);
        printf("finished  all, at %s (%zu succeeded)\n", when(t, buf), g.ok);
        json_decref(t);
    }
    else
        printf("finished  %zu of %zu (%zu succeeded)\n", g.done, g.total, g.ok);
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        if (g.count[order[i]])
            printf("%-9s %zu\n", tq_state_name(order[i]), g.count[order[i]]);
    if (g.count[TQ_STATE_UNKNOWN])
        printf("%-9s %zu\n", "expired", g.count[TQ_STATE_UNKNOWN]);
    if (g.fanin[0])
        printf("fan-in    %s %s\n", g.fanin,
               g.fanin_state ? tq_state_name(g.fanin_state) : "expired");
    return EXIT_OK;
}

static int group_cancel(cli *cl, tq_client *c, const char *gid)
{
    size_t now = 0, stopping = 0;
    if (tq_group_cancel(c, gid, &now, &stopping))
        return fail_client(c);
    if (cl->json)
        printf("{\"group\":\"%s\",\"cancelled\":%zu,\"stopping\":%zu}\n", gid, now, stopping);
    else
        printf("group %s: %zu cancelled, %zu running being stopped by their workers\n", gid,
               now, stopping);
    return EXIT_OK;
}

static int cmd_group(cli *cl)
{
    const char *sub = cl->npos ? cl->pos[0] : NULL;
    tq_client *c;
    int code;

    if (!sub)
        return fail(EXIT_USAGE, "usage: tq group submit|wait|status|cancel ...");
    int submit = !strcmp(sub, "submit");
    if (!submit && strcmp(sub, "wait") && strcmp(sub, "status") && strcmp(sub, "cancel"))
        return fail(EXIT_USAGE, "unknown subcommand 'tq group %s' (submit, wait, status "
                    "or cancel)", sub);
    /* submit options belong to submit; wait takes --timeout */
    for (size_t i = 0; i < cl->nflags && !submit; i++) {
        const struct flag *f = cl->flags[i].flag;
        if (f->cmds == ANY || (f->id == F_TIMEOUT && !strcmp(sub, "wait")))
            continue;
        return fail(EXIT_USAGE, "%s does not apply to 'tq group %s'", f->name, sub);
    }
    if (submit)
        return group_submit(cl);
    if (cl->npos != 2)
        return fail(EXIT_USAGE, cl->npos < 2 ? "usage: tq group %s GID" :
                    "tq group %s takes one group id", sub);
    if ((code = check_ids("group", cl->pos + 1, 1)) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (!strcmp(sub, "wait"))
        code = group_wait(cl, c, cl->pos[1]);
    else if (!strcmp(sub, "status"))
        code = group_status(cl, c, cl->pos[1]);
    else
        code = group_cancel(cl, c, cl->pos[1]);
    tq_client_free(c);
    return code;
}

/* ---------------------------------------------------------------- main */

static int run(int argc, char **argv)
{
    const char **pos;
    cli cl;
    int code;

    memset(&cl, 0, sizeof cl);
    code = split_args(&cl, argc, argv);
    pos = cl.pos;
    if (code >= 0)
        goto done;
    if (cl.npos == 0) {
        code = fail(EXIT_USAGE, "no command given (try tq --help)");
        goto done;
    }
    cl.cmdname = cl.pos[0];
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(commands[i].name, cl.cmdname))
            continue;
        if (!commands[i].ready) {
            code = fail(EXIT_USAGE, "'tq %s' is not supported yet", cl.cmdname);
            goto done;
        }
        cl.cmd = commands[i].cmd;
    }
    if (cl.cmd == CMD_NONE) {
        code = fail(EXIT_USAGE, "unknown command '%s' (try tq --help)", cl.cmdname);
        goto done;
    }
    cl.pos++;
    cl.npos--;
    if ((code = apply_flags(&cl)) >= 0)
        goto done;
    switch (cl.cmd) {
    case CMD_SUBMIT: code = cmd_submit(&cl); break;
    case CMD_SUBMIT_MANY: code = cmd_submit_many(&cl); break;
    case CMD_STATUS: code = cmd_status(&cl, 0); break;
    case CMD_RESULT: code = cmd_status(&cl, 1); break;
    case CMD_WAIT: code = cmd_wait(&cl); break;
    case CMD_CANCEL: code = cmd_cancel(&cl); break;
    case CMD_STATS: code = cmd_stats(&cl); break;
    case CMD_WORKERS: code = cmd_workers(&cl); break;
    case CMD_DLQ: code = cmd_dlq(&cl); break;
    case CMD_PURGE: code = cmd_purge(&cl); break;
    case CMD_GROUP: code = cmd_group(&cl); break;
    case CMD_SEMAPHORE: code = cmd_semaphore(&cl); break;
    case CMD_HELP: fputs(usage_text, stdout); code = EXIT_OK; break;
    default: code = fail(EXIT_USAGE, "'tq %s' is not supported yet", cl.cmdname);
    }
done:
    free(pos);
    free(cl.flags);
    free(cl.then);
    return code;
}

int main(int argc, char **argv)
{
    int code = run(argc, argv);
    if (code < EXIT_OK || code > EXIT_RESERVED)
        code = fail(EXIT_REDIS, "internal error: exit code %d is not one of tq's", code);
    if (fflush(stdout) != 0 && code == EXIT_OK)
        code = fail(EXIT_REDIS, "cannot write the output: %s", strerror(errno));
    return code;
}
