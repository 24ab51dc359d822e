/* main.c -- `tq`, the command line of SPEC §4: flags, dispatch, help, exit codes.
 *
 * Three steps, always in this order: parse every flag and positional (flags
 * may come anywhere), validate everything the command was given (JSON args,
 * names, durations, ids), and only then connect to Redis. So bad input is
 * refused with exit 2 before anything reaches the broker, and each error is
 * one line on stderr, prefixed "tq: ", naming the flag or line at fault.
 * This file does the first two for every command, then hands the `cli` to
 * the command's cmd_* (submit.c, wait.c, group.c, admin.c); the work itself
 * is libtq's, the commands only turn outcomes into output and exit codes.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/tq/cli.h"
#include "cmd/common/help.h"

#if __has_include("tq_commit.h")
#include "tq_commit.h"       /* TQ_COMMIT: build/gen, written by the Makefile */
#endif
#ifndef TQ_COMMIT
#define TQ_COMMIT "unknown"
#endif

/* ---------------------------------------------------------------- output */

/* Prints "tq: <message>" on stderr; returns code. */
int fail(int code, const char *fmt, ...)
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
int fail_client(const tq_client *c)
{
    int err = tq_client_err(c);
    const char *s = tq_client_errstr(c);
    return fail(tq_exit_code(err), "%s", s && *s ? s : tq_strerror(err));
}

/* "FLAG: TEXT", composed once: a text that starts with the flag's own words
 * ("rate limit name is empty" for --rate-limit) reads "--rate-limit name is
 * empty", not "--rate-limit: rate limit name is empty". */
static int fail_flag(int code, const char *flag, const char *text)
{
    const char *w = flag + strspn(flag, "-");
    size_t n = strlen(w), i;

    for (i = 0; i < n && text[i]; i++)
        if (tolower((unsigned char)text[i]) != (w[i] == '-' ? ' ' : w[i]))
            break;
    if (i == n && (text[n] == ' ' || text[n] == ':'))
        return fail(code, "%s%s", flag, text + n);
    return fail(code, "%s: %s", flag, text);
}

/* Text from a job or Redis (an error may be an exec job's stderr tail) kept
 * on one line: control characters are escaped. */
void put_oneline(FILE *f, const char *s)
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

int worst_exit(size_t missing, size_t unfinished, size_t failed, size_t cancelled)
{
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

int put_result(const tq_job *j)
{
    int ok = j && j->state == TQ_STATE_SUCCEEDED;
    puts(ok && j->result ? j->result : "null");
    return ok;
}

/* The rest of an error text after its first word when that word is word
 * (then a space, a ':' or the end follows): what a sentence that already
 * says the word adds. NULL when the text starts otherwise. */
static const char *after_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(s, word, n) || (s[n] && s[n] != ' ' && s[n] != ':'))
        return NULL;
    return s + n;
}

/* The sentence is composed once: a job's error that starts with the word
 * the sentence says ("cancelled by user", "failed: ...") does not repeat
 * it ("was cancelled by user", not "was cancelled: cancelled by user"). */
void put_why(const tq_job *j)
{
    const char *e = j->error && *j->error ? j->error : NULL, *rest;

    if (j->state == TQ_STATE_FAILED) {
        fputs(" failed", stderr);
        if (!e) {
            fputs(" (no error text)", stderr);
            return;
        }
        rest = after_word(e, "failed");
        if (!rest)
            fputs(": ", stderr);
        put_oneline(stderr, rest ? rest : e);
    } else if (j->state == TQ_STATE_CANCELLED) {
        fputs(" was cancelled", stderr);
        if (!e)
            return;
        rest = after_word(e, "cancelled");
        if (!rest)
            fputs(": ", stderr);
        put_oneline(stderr, rest ? rest : e);
    }
}

json_t *job_brief(const char *id, const tq_job *j)
{
    json_t *full = j ? tq_job_to_json(j) : NULL, *o;
    json_t *r = full ? json_object_get(full, "result") : NULL;
    json_t *e = full ? json_object_get(full, "error") : NULL;

    if (j && !full)
        return NULL;
    if (j && j->id)
        id = j->id;
    o = json_pack("{s:o, s:s, s:O, s:O}", "id", id ? json_string(id) : json_null(),
                  "state", j ? tq_state_name(j->state) : "missing", "result",
                  r ? r : json_null(), "error", e ? e : json_null());
    json_decref(full);
    return o;
}

int print_brief(const char *id, const tq_job *j)
{
    json_t *o = job_brief(id, j);
    int code = print_json(o);
    json_decref(o);
    return code;
}

const char *args_hint(const char *text, size_t len, int shell, char *buf, size_t n)
{
    while (len && (*text == ' ' || *text == '\t'))
        text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' ||
                   text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (!len || strchr("\"{[-+.0123456789", *text))
        return "";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f || strchr("\"'{}[]\\", text[i]))
            return "";
    if (len > 40)
        snprintf(buf, n, " (strings need quotes: %s)", shell ? "'\"TEXT\"'" : "\"TEXT\"");
    else
        snprintf(buf, n, shell ? " (strings need quotes: '\"%.*s\"')"
                               : " (strings need quotes: \"%.*s\")", (int)len, text);
    return buf;
}

int print_json(json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(16)) : NULL;
    if (!s)
        return fail(EXIT_REDIS, "out of memory");
    puts(s);
    free(s);
    return EXIT_OK;
}

int print_json_new(json_t *v)
{
    int code = print_json(v);
    json_decref(v);
    return code;
}

/* ---------------------------------------------------------------- commands and flags */

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
    {"queue", CMD_QUEUE, 1},
    {"jobs", CMD_JOBS, 1},
    {"schedule", CMD_SCHEDULE, 1},
    {"help", CMD_HELP, 1},
    {"ratelimit", CMD_RATELIMIT, 1},
    {"dashboard", CMD_DASHBOARD, 1},
    {"logs", CMD_LOGS, 1},
};

/* Every flag of every command; cmds says where it applies. */
static const struct flag flags[] = {
    {"--redis", F_REDIS, 1, ANY},
    {"--namespace", F_NAMESPACE, 1, ANY},
    {"--connect-timeout", F_CONNECT_TIMEOUT, 1, ANY},
    {"--json", F_JSON, 0, ANY},
    {"--help", F_HELP, 0, ANY},
    {"-h", F_HELP, 0, ANY},
    {"--version", F_VERSION, 0, ANY},
    {"--queue", F_QUEUE, 1, SUBMITS | ON(CMD_DLQ) | ON(CMD_JOBS)},
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
    {"--yes", F_YES, 0, ON(CMD_PURGE) | ON(CMD_DLQ) | ON(CMD_QUEUE)},
    {"--durable", F_DURABLE, 1, SUBMITS},
    {"--durable-timeout", F_DURABLE_TIMEOUT, 1, SUBMITS},
    {"--redis-password-file", F_PASSWORD_FILE, 1, ANY},
    {"--state", F_STATE, 1, ON(CMD_JOBS)},
    {"--limit", F_LIMIT, 1, ON(CMD_JOBS)},
    {"--force", F_FORCE, 0, ON(CMD_QUEUE)},
    {"--tz", F_TZ, 1, ON(CMD_SCHEDULE)},
    {"--overlap", F_OVERLAP, 1, ON(CMD_SCHEDULE)},
    {"--catchup", F_CATCHUP, 1, ON(CMD_SCHEDULE)},
    {"--rate-limit", F_RATE_LIMIT, 1, SUBMITS},
    {"--burst", F_BURST, 1, ON(CMD_RATELIMIT)},
    {"--fair-key", F_FAIR_KEY, 1, SUBMITS},
    {"--listen", F_LISTEN, 1, ON(CMD_DASHBOARD)},
    {"--read-only", F_READ_ONLY, 0, ON(CMD_DASHBOARD)},
    {"--token", F_TOKEN, 1, ON(CMD_DASHBOARD)},
    {"--progress", F_PROGRESS, 0, ON(CMD_WAIT)},
    {"--follow", F_FOLLOW, 0, ON(CMD_LOGS)},
    {"-f", F_FOLLOW, 0, ON(CMD_LOGS)},
    {"--no-schedules", F_NO_SCHEDULES, 0, ON(CMD_DASHBOARD)},
};

static const struct flag *flag_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if (strlen(flags[i].name) == len && !strncmp(flags[i].name, name, len))
            return &flags[i];
    return NULL;
}

/* ---------------------------------------------------------------- help (cmd/tq/help.c) */

/* "unknown command 'sbumit' (did you mean 'submit'?)", exit 2. */
static int unknown_command(const char *word)
{
    const char *names[sizeof commands / sizeof *commands];
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        names[i] = commands[i].name;
    const char *near = help_nearest(word, names, sizeof commands / sizeof *commands);
    if (near)
        return fail(EXIT_USAGE, "unknown command '%s' (did you mean '%s'?)", word, near);
    return fail(EXIT_USAGE, "unknown command '%s' (try tq --help)", word);
}

/* "unknown flag --queu (did you mean --queue?)", exit 2. */
static int unknown_flag(const char *arg)
{
    const char *names[sizeof flags / sizeof *flags];
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)strcspn(arg, "="), arg);
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        names[i] = flags[i].name;
    const char *near = help_nearest(word, names, sizeof flags / sizeof *flags);
    if (near)
        return fail(EXIT_USAGE, "unknown flag %s (did you mean %s?)", word, near);
    return fail(EXIT_USAGE, "unknown flag %s (try tq --help)", arg);
}

static int unknown_subcommand(const char *const *w, size_t n);

/* tq help [CMD [SUB]], tq CMD [SUB] ... --help: the overview, a family's
 * subcommands or one command's usage on stdout, exit 0; an unknown command
 * or subcommand: exit 2. */
static int show_help(const char *const *w, size_t n)
{
    const struct help_prog *p = &tq_help_tq;
    const struct help_cmd *c;
    size_t used;

    if (n == 0) {
        help_print_overview(stdout, p);
        return EXIT_OK;
    }
    if ((c = help_find(p, w, n, &used))) {
        help_print_cmd(stdout, p, c);
        return EXIT_OK;
    }
    if (!help_is_family(p, w[0]))
        return unknown_command(w[0]);
    int code = unknown_subcommand(w, n);
    if (code != GO_ON)
        return code;
    help_print_family(stdout, p, w[0]);
    return EXIT_OK;
}

/* A family's subcommand that is none of its help's, but near one: "tq:
 * unknown subcommand 'tq group sbumit' (did you mean 'submit'?)", exit 2.
 * Else GO_ON: the command's own checks say the rest. */
static int unknown_subcommand(const char *const *w, size_t n)
{
    const struct help_prog *p = &tq_help_tq;
    const char *subs[64], *near;
    size_t k = 0, used, len = strlen(w[0]);

    if (n < 2 || !help_is_family(p, w[0]) || help_find(p, w, n, &used))
        return GO_ON;
    for (const struct help_cmd *c = p->cmds; c->name && k < 64; c++)
        if (!strncmp(c->name, w[0], len) && c->name[len] == ' ')
            subs[k++] = c->name + len + 1;
    if (!(near = help_nearest(w[1], subs, k)))
        return GO_ON;
    return fail(EXIT_USAGE, "unknown subcommand 'tq %s %s' (did you mean '%s'?)",
                w[0], w[1], near);
}

/* Whether names ("-f, --follow") holds flag. */
static int names_hold(const char *names, const char *flag)
{
    size_t len = strlen(flag);
    while (*names) {
        size_t k = strcspn(names, ",");
        if (k == len && !strncmp(names, flag, k))
            return 1;
        names += k;
        while (*names == ',' || *names == ' ')
            names++;
    }
    return 0;
}

/* Whether the help of command name (every subcommand of it), or with
 * common the common flags' help, names flag. */
static int help_has_flag(const char *name, const char *flag, int common)
{
    const struct help_prog *p = &tq_help_tq;
    size_t n = strlen(name);
    const struct help_flag *f;

    if (common) {
        for (f = p->common; f->name; f++)
            if (names_hold(f->name, flag))
                return 1;
        return 0;
    }
    for (const struct help_cmd *c = p->cmds; c->name; c++) {
        if (strncmp(c->name, name, n) || (c->name[n] && c->name[n] != ' '))
            continue;
        for (f = c->flags; f->name; f++)
            if (names_hold(f->name, flag))
                return 1;
    }
    return 0;
}

/* Flags the parser takes for a command that its help leaves out on
 * purpose: schedule.c refuses them with its own message. */
static int help_exempt(const char *cmd, const char *flag)
{
    return !strcmp(cmd, "schedule") &&
        (!strcmp(flag, "--delay") || !strcmp(flag, "--at") || !strcmp(flag, "--unique"));
}

/* tq --help-check (hidden; tests/integration/t_help.sh): the flag table
 * above against the help table, both ways. Prints each difference; exit 0
 * when there is none, else 1. */
static int help_check(void)
{
    const struct help_prog *p = &tq_help_tq;
    int bad = 0;

    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        const struct flag *f = &flags[i];
        if (f->cmds == ANY) {
            if (!help_has_flag("", f->name, 1)) {
                printf("%s: taken by every command, not in the common flags' help\n", f->name);
                bad = 1;
            }
            continue;
        }
        for (size_t j = 0; j < sizeof commands / sizeof *commands; j++)
            if ((f->cmds & ON(commands[j].cmd)) && !help_has_flag(commands[j].name, f->name, 0) &&
                !help_exempt(commands[j].name, f->name)) {
                printf("tq %s: takes %s, its help does not say so\n", commands[j].name, f->name);
                bad = 1;
            }
    }
    for (const struct help_flag *h = p->common; h->name; h++) {
        const char *s = h->name;
        while (*s) {
            size_t k = strcspn(s, ",");
            const struct flag *f = flag_find(s, k);
            if (!f || f->cmds != ANY || !f->has_value != !h->arg) {
                printf("%.*s: in the common flags' help, not a common flag of the parser "
                       "(or its value differs)\n", (int)k, s);
                bad = 1;
            }
            s += k;
            while (*s == ',' || *s == ' ')
                s++;
        }
    }
    for (const struct help_cmd *c = p->cmds; c->name; c++) {
        size_t n = strcspn(c->name, " ");
        command cmd = CMD_NONE;
        for (size_t j = 0; j < sizeof commands / sizeof *commands; j++)
            if (strlen(commands[j].name) == n && !strncmp(commands[j].name, c->name, n))
                cmd = commands[j].cmd;
        if (cmd == CMD_NONE) {
            printf("tq %s: in the help, not a command of the parser\n", c->name);
            bad = 1;
            continue;
        }
        for (const struct help_flag *h = c->flags; h->name; h++) {
            const char *s = h->name;
            while (*s) {
                size_t k = strcspn(s, ",");
                const struct flag *f = flag_find(s, k);
                if (!f || !(f->cmds & ON(cmd)) || !f->has_value != !h->arg) {
                    printf("tq %s: its help names %.*s, the parser does not take it "
                           "(or its value differs)\n", c->name, (int)k, s);
                    bad = 1;
                }
                s += k;
                while (*s == ',' || *s == ' ')
                    s++;
            }
        }
    }
    for (size_t j = 0; j < sizeof commands / sizeof *commands; j++) {
        const char *w = commands[j].name;
        size_t used;
        if (!help_find(p, &w, 1, &used) && !help_is_family(p, w)) {
            printf("tq %s: a command of the parser, not in the help\n", w);
            bad = 1;
        }
    }
    return bad ? EXIT_FAILED : EXIT_OK;
}

/* The hidden flags the build uses: --help-man [DATE], --help-completion
 * bash|zsh, --help-check. Returns GO_ON when argv is none of them. */
static int hidden(int argc, char **argv)
{
    if (argc < 2)
        return GO_ON;
    if (!strcmp(argv[1], "--help-man") && argc <= 3) {
        help_print_man(stdout, &tq_help_tq, TQ_VERSION,
                       argc == 3 ? argv[2] : "");
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--help-completion") && argc == 3) {
        if (help_print_completion(stdout, &tq_help_tq, argv[2]))
            return fail(EXIT_USAGE, "--help-completion: bash or zsh");
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--help-check") && argc == 2)
        return help_check();
    return GO_ON;
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
    if (help)
        return show_help(cl->pos, cl->npos);
    if (version) {
        printf("tq %s (commit %s)\n", TQ_VERSION, TQ_COMMIT);
        return EXIT_OK;
    }
    if (bad) {
        const char *eq = strchr(bad, '=');
        if (eq && flag_find(bad, (size_t)(eq - bad)))
            return fail(EXIT_USAGE, "%.*s takes no value", (int)(eq - bad), bad);
        return unknown_flag(bad);
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
    int have_delay = 0, have_at = 0, have_durable = 0;
    const char *password_file = NULL, *env;

    tq_submit_opts_init(&cl->so);
    cl->wait_timeout_ms = -1;
    for (size_t i = 0; i < cl->nflags; i++) {
        const struct flag *f = cl->flags[i].flag;
        const char *val = cl->flags[i].value;
        if (!(f->cmds & ON(cl->cmd)))
            return fail(EXIT_USAGE, "%s does not apply to 'tq %s'", f->name, cl->cmdname);
        if (cl->cmd == CMD_SCHEDULE && f->cmds != ANY && (f->cmds & SUBMITS))
            cl->so_given = 1;
        switch (f->id) {
        case F_REDIS:
            cl->url = val;
            cl->url_from = "--redis";
            break;
        case F_NAMESPACE:
            cl->ns = val;
            cl->ns_from = "--namespace";
            break;
        case F_CONNECT_TIMEOUT:
            if (tq_duration_check("--connect-timeout", val, &ms, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            if (ms <= 0)
                return fail(EXIT_USAGE, "--connect-timeout must be more than 0");
            cl->connect_timeout_ms = ms;
            break;
        case F_JSON: cl->json = 1; break;
        case F_HELP:
        case F_VERSION: break;
        case F_QUEUE:
            if (tq_queue_check(val, &e))
                return fail_flag(EXIT_USAGE, "--queue", e.text);
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
            if (tq_keyed_check("semaphore", val, &e))
                return fail_flag(EXIT_USAGE, "--semaphore", e.text);
            cl->so.semaphore = val;
            break;
        case F_UNIQUE:
            if (tq_name_check("unique key", val, &e))
                return fail_flag(EXIT_USAGE, "--unique", e.text);
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
                return fail_flag(EXIT_USAGE, "--then", e.text);
            cl->then[cl->nthen++] = val;
            break;
        case F_DURABLE:
            if (tq_int_check("--durable", val, 0, TQ_DURABLE_MAX, &v, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->so.durable = (int)v;
            have_durable = 1;
            break;
        case F_DURABLE_TIMEOUT:
            if (tq_duration_check("--durable-timeout", val, &ms, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            if (ms <= 0 || ms > TQ_DURABLE_TIMEOUT_MAX)
                return fail(EXIT_USAGE, "--durable-timeout: '%s' must be more than 0 "
                            "and at most 1h", val);
            cl->so.durable_timeout_ms = ms;
            break;
        case F_PASSWORD_FILE:
            password_file = val;
            break;
        case F_TZ:
            cl->sched_tz = val; /* checked against the tz database by schedule.c */
            cl->sched_opts = 1;
            break;
        case F_OVERLAP:
            if (strcmp(val, "skip") && strcmp(val, "allow"))
                return fail(EXIT_USAGE, "--overlap: '%s' is not skip or allow", val);
            cl->sched_overlap_allow = !strcmp(val, "allow");
            cl->sched_opts = 1;
            break;
        case F_CATCHUP:
            if (tq_duration_check("--catchup", val, &ms, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->sched_catchup_ms = ms;
            cl->sched_opts = 1;
            break;
        case F_RATE_LIMIT:
            if (tq_keyed_check("rate limit", val, &e))
                return fail_flag(EXIT_USAGE, "--rate-limit", e.text);
            cl->so.rate_limit = val;
            break;
        case F_BURST:
            if (tq_int_check("--burst", val, 1, 1000000, &v, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->burst = v;
            break;
        case F_WAIT: cl->wait = 1; break;
        case F_ALL: cl->all = 1; break;
        case F_YES: cl->yes = 1; break;
        case F_STATE:
            if (tq_admin_jobs_state_check(val, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->state = val;
            break;
        case F_LIMIT:
            if (tq_int_check("--limit", val, 1, TQ_JOBS_LIMIT_MAX, &v, &e))
                return fail(EXIT_USAGE, "%s", e.text);
            cl->limit = v;
            break;
        case F_FORCE: cl->force = 1; break;
        case F_FAIR_KEY:
            if (tq_name_check("fair key", val, &e))
                return fail_flag(EXIT_USAGE, "--fair-key", e.text);
            cl->so.fair_key = val;
            break;
        case F_LISTEN: cl->listen = val; break; /* checked by dashboard.c */
        case F_READ_ONLY: cl->read_only = 1; break;
        case F_TOKEN:
            if (!*val)
                return fail(EXIT_USAGE, "--token: empty");
            cl->token = val;
            break;
        case F_PROGRESS: cl->progress = 1; break;
        case F_FOLLOW: cl->follow = 1; break;
        case F_NO_SCHEDULES: cl->no_schedules = 1; break;
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
    if (!cl->connect_timeout_ms && getenv("TQ_CONNECT_TIMEOUT") &&
        *getenv("TQ_CONNECT_TIMEOUT")) {
        if (tq_duration_check("TQ_CONNECT_TIMEOUT", getenv("TQ_CONNECT_TIMEOUT"),
                              &ms, &e))
            return fail(EXIT_USAGE, "%s", e.text);
        if (ms <= 0)
            return fail(EXIT_USAGE, "TQ_CONNECT_TIMEOUT must be more than 0");
        cl->connect_timeout_ms = ms;
    }
    if (!have_durable && (cl->cmd == CMD_SUBMIT || cl->cmd == CMD_SUBMIT_MANY ||
                          cl->cmd == CMD_GROUP) &&
        (env = getenv("TQ_DURABLE")) && *env) {
        if (tq_int_check("TQ_DURABLE", env, 0, TQ_DURABLE_MAX, &v, &e))
            return fail(EXIT_USAGE, "%s", e.text);
        cl->so.durable = (int)v;
    }
    if (password_file || ((env = getenv("TQ_REDIS_PASSWORD")) && *env)) {
        char pass[256];
        if (password_file && tq_password_file_read(password_file, pass, sizeof pass, &e))
            return fail_flag(EXIT_USAGE, "--redis-password-file", e.text);
        if (tq_redis_url_with_password(cl->url, password_file ? pass : env,
                                       &cl->url_owned, &e)) {
            memset(pass, 0, sizeof pass);
            return fail(EXIT_USAGE, "%s: %s", password_file ? "--redis-password-file"
                        : "TQ_REDIS_PASSWORD", e.text);
        }
        memset(pass, 0, sizeof pass);
        cl->url = cl->url_owned;
    }
    if (!cl->ns) {
        cl->ns = getenv("TQ_NAMESPACE");
        cl->ns_from = "TQ_NAMESPACE";
    }
    if (cl->ns && tq_ns_check(cl->ns, &e))
        return fail(EXIT_USAGE, "%s: %s", cl->ns_from, e.text);
    return GO_ON;
}

int fail_submit(const tq_client *c)
{
    if (tq_client_err(c) == TQ_EDURABLE)
        return fail(EXIT_DURABLE, "%s: the jobs exist and may run, but a failover "
                    "could lose them", tq_client_errstr(c));
    return fail_client(c);
}

/* Connects, or prints why not. The namespace was checked already, so a
 * TQ_EINVAL is the URL's. */
tq_client *connect_or_fail(const cli *cl, int *code)
{
    tq_client *c = tq_client_new_timeout(cl->url, cl->ns, cl->connect_timeout_ms);
    if (!c) {
        *code = fail(EXIT_REDIS, "out of memory");
        return NULL;
    }
    if (tq_client_err(c) == TQ_EINVAL) {
        *code = fail_flag(EXIT_USAGE, cl->url_from ? cl->url_from : "--redis",
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
int want_args(const cli *cl, size_t lo, size_t hi, const char *shape)
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
int check_ids(const char *what, const char *const *ids, size_t n)
{
    tq_perr e;
    for (size_t i = 0; i < n; i++)
        if (tq_id_check(ids[i], &e))
            return fail(EXIT_USAGE, "%s %s", what, e.text);
    return GO_ON;
}

/* ---------------------------------------------------------------- main */

static int run(int argc, char **argv)
{
    const char **pos;
    cli cl;
    int code;

    memset(&cl, 0, sizeof cl);
    if ((code = hidden(argc, argv)) != GO_ON)
        return code;
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
        code = unknown_command(cl.cmdname);
        goto done;
    }
    if ((code = unknown_subcommand(cl.pos, cl.npos)) >= 0)
        goto done;
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
    case CMD_QUEUE: code = cmd_queue(&cl); break;
    case CMD_JOBS: code = cmd_jobs(&cl); break;
    case CMD_SCHEDULE: code = cmd_schedule(&cl); break;
    case CMD_HELP: code = show_help(cl.pos, cl.npos); break;
    case CMD_RATELIMIT: code = cmd_ratelimit(&cl); break;
    case CMD_DASHBOARD: code = cmd_dashboard(&cl); break;
    case CMD_LOGS: code = cmd_logs(&cl); break;
    default: code = fail(EXIT_USAGE, "'tq %s' is not supported yet", cl.cmdname);
    }
done:
    free(pos);
    free(cl.flags);
    free(cl.then);
    free(cl.url_owned);
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
