/* main.c -- tq-worker: the command line around the worker library.
 *
 * Reads flags (and a JSON config file, which flags override), builds a
 * tq_worker with exec tasks, limits and plugins, logs to stderr as text or
 * JSON lines, and maps signals to the library's two ways of stopping:
 * SIGTERM -> graceful; a second SIGTERM, or SIGINT -> give everything back now.
 * Any bad flag or value: one line on stderr and exit 2, before anything
 * reaches Redis. An unreachable Redis is not an error: the worker retries.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <jansson.h>

#include "tq/tq.h"
#include "tq/worker.h"
#include "proto/proto.h"
#include "proto/proto_private.h"
#include "broker/broker.h"
#include "cmd/common/help.h"     /* the usage: cmd/tq-worker/help.c */

#if __has_include("tq_commit.h")
#include "tq_commit.h"            /* TQ_COMMIT: build/gen, written by the Makefile */
#endif
#ifndef TQ_COMMIT
#define TQ_COMMIT "unknown"
#endif

#define PROG "tq-worker"

/* ================================================================ errors */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* One line whatever it quotes (a config key, a value): control characters
 * become spaces (tq_text_oneline). */
static void die(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tq_text_oneline(msg);
    fprintf(stderr, PROG ": %s\n", msg);
    exit(2);
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);

    if (!p)
        die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        die("out of memory");
    return p;
}

/* ================================================================ settings */

typedef struct task_def {
    char *name;
    char **argv;   /* NULL-terminated, owned */
} task_def;

/* A task server: names, argv; procs, inflight 0 and start < 0 = the
 * --server-* values. */
typedef struct server_def {
    char **tasks;  /* NULL-terminated, owned */
    char **argv;   /* NULL-terminated, owned */
    int procs, inflight;
    int64_t start;
} server_def;

typedef struct limit_def {
    char *name;
    int k;
} limit_def;

/* One source of settings (the command line or the config file); has_* say
 * what it gave. */
typedef struct settings {
    char *redis, *ns, *name, *metrics, *cgroup;
    char **env_deny;            /* NULL-terminated when set */
    size_t nenv_deny;
    char **queues;
    size_t nqueues;
    task_def *tasks;
    size_t ntasks;
    server_def *servers;
    size_t nservers;
    int server_procs, server_inflight;
    int64_t server_start;
    int has_server_procs, has_server_inflight, has_server_start;
    limit_def *limits;
    size_t nlimits;
    char **plugins;
    size_t nplugins;
    int concurrency, has_concurrency;
    int64_t lease, timeout, grace, kill_grace;
    int has_lease, has_timeout, has_grace, has_kill_grace;
    size_t max_result;
    int has_max_result;
    int log_level, has_log_level;
    int json_log, has_log_format;
    char *config;
    char *password_file;        /* --redis-password-file */
} settings;

static void settings_free(settings *s)
{
    size_t i, j;

    free(s->redis);
    free(s->ns);
    free(s->name);
    free(s->metrics);
    free(s->config);
    free(s->password_file);
    free(s->cgroup);
    for (i = 0; i < s->nenv_deny; i++)
        free(s->env_deny[i]);
    free(s->env_deny);
    for (i = 0; i < s->nqueues; i++)
        free(s->queues[i]);
    free(s->queues);
    for (i = 0; i < s->ntasks; i++) {
        free(s->tasks[i].name);
        for (j = 0; s->tasks[i].argv[j]; j++)
            free(s->tasks[i].argv[j]);
        free(s->tasks[i].argv);
    }
    free(s->tasks);
    for (i = 0; i < s->nservers; i++) {
        for (j = 0; s->servers[i].tasks[j]; j++)
            free(s->servers[i].tasks[j]);
        free(s->servers[i].tasks);
        for (j = 0; s->servers[i].argv[j]; j++)
            free(s->servers[i].argv[j]);
        free(s->servers[i].argv);
    }
    free(s->servers);
    for (i = 0; i < s->nlimits; i++)
        free(s->limits[i].name);
    free(s->limits);
    for (i = 0; i < s->nplugins; i++)
        free(s->plugins[i]);
    free(s->plugins);
    memset(s, 0, sizeof *s);
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = xstrdup(v);
}

static void add_queue(settings *s, const char *q, const char *where)
{
    tq_perr e;
    size_t i;

    if (tq_queue_check(q, &e) != 0)
        die("%s: %s", where, e.text);
    for (i = 0; i < s->nqueues; i++)
        if (strcmp(s->queues[i], q) == 0)
            die("%s: queue '%s' given twice", where, q);
    s->queues = xrealloc(s->queues, (s->nqueues + 1) * sizeof *s->queues);
    s->queues[s->nqueues++] = xstrdup(q);
}

/* Adds or replaces a task; takes argv. */
static void add_task(settings *s, const char *name, char **argv,
                     const char *where)
{
    tq_perr e;
    size_t i, j;

    if (tq_name_check("task", name, &e) != 0)
        die("%s: %s", where, e.text);
    if (!argv[0])
        die("%s: task '%s' has an empty command", where, name);
    for (i = 0; i < s->ntasks; i++)
        if (strcmp(s->tasks[i].name, name) == 0) {
            for (j = 0; s->tasks[i].argv[j]; j++)
                free(s->tasks[i].argv[j]);
            free(s->tasks[i].argv);
            s->tasks[i].argv = argv;
            return;
        }
    s->tasks = xrealloc(s->tasks, (s->ntasks + 1) * sizeof *s->tasks);
    s->tasks[s->ntasks].name = xstrdup(name);
    s->tasks[s->ntasks].argv = argv;
    s->ntasks++;
}

/* "prog  arg1 arg2" -> argv, split on spaces (and tabs), no shell. */
static char **split_command(const char *cmd)
{
    char **argv = NULL;
    size_t n = 0;
    const char *p = cmd;

    for (;;) {
        const char *st;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        st = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        argv = xrealloc(argv, (n + 2) * sizeof *argv);
        argv[n] = strndup(st, (size_t)(p - st));
        if (!argv[n])
            die("out of memory");
        n++;
    }
    argv = xrealloc(argv, (n + 1) * sizeof *argv);
    argv[n] = NULL;
    return argv;
}

/* Adds a task server; takes tasks and argv. */
static void add_server(settings *s, char **tasks, char **argv, int procs,
                       int inflight, int64_t start, const char *where)
{
    tq_perr e;
    size_t i, j, k;

    if (!tasks[0])
        die("%s: no task name", where);
    if (!argv[0])
        die("%s: task '%s' has an empty command", where, tasks[0]);
    for (i = 0; tasks[i]; i++) {
        if (tq_name_check("task", tasks[i], &e) != 0)
            die("%s: %s", where, e.text);
        for (j = 0; j < i; j++)
            if (strcmp(tasks[i], tasks[j]) == 0)
                die("%s: task '%s' named twice", where, tasks[i]);
        for (k = 0; k < s->nservers; k++)
            for (j = 0; s->servers[k].tasks[j]; j++)
                if (strcmp(tasks[i], s->servers[k].tasks[j]) == 0)
                    die("%s: task '%s' is served by two task servers", where,
                        tasks[i]);
    }
    s->servers = xrealloc(s->servers, (s->nservers + 1) * sizeof *s->servers);
    s->servers[s->nservers].tasks = tasks;
    s->servers[s->nservers].argv = argv;
    s->servers[s->nservers].procs = procs;
    s->servers[s->nservers].inflight = inflight;
    s->servers[s->nservers].start = start;
    s->nservers++;
}

/* "a,b" -> a NULL-terminated list (empty names kept: add_server refuses). */
static char **split_names(const char *v, size_t n)
{
    char **names = NULL;
    size_t k = 0;
    const char *p = v, *end = v + n;

    for (;;) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t l = c ? (size_t)(c - p) : (size_t)(end - p);
        names = xrealloc(names, (k + 2) * sizeof *names);
        if (!(names[k++] = strndup(p, l)))
            die("out of memory");
        if (!c)
            break;
        p = c + 1;
    }
    names[k] = NULL;
    return names;
}

/* A variable name for --env-deny: letters, digits, '_', optionally ending
 * in '*' (a prefix). */
static void add_env_deny(settings *s, const char *name, const char *where)
{
    size_t i, n = strlen(name);

    if (n == 0 || n > 255)
        die("%s: expected a variable name, got '%s'", where, name);
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || (c == '*' && i == n - 1)))
            die("%s: '%s' is not a variable name (letters, digits, _; a "
                "trailing * for a prefix)", where, name);
    }
    s->env_deny = xrealloc(s->env_deny, (s->nenv_deny + 2) * sizeof *s->env_deny);
    s->env_deny[s->nenv_deny++] = xstrdup(name);
    s->env_deny[s->nenv_deny] = NULL;
}

static void add_limit(settings *s, const char *name, long long k,
                      const char *where)
{
    tq_perr e;
    size_t i;

    if (tq_name_check("task", name, &e) != 0)
        die("%s: %s", where, e.text);
    if (k < 1 || k > 1000000)
        die("%s: limit of task '%s' must be 1..1000000", where, name);
    for (i = 0; i < s->nlimits; i++)
        if (strcmp(s->limits[i].name, name) == 0) {
            s->limits[i].k = (int)k;
            return;
        }
    s->limits = xrealloc(s->limits, (s->nlimits + 1) * sizeof *s->limits);
    s->limits[s->nlimits].name = xstrdup(name);
    s->limits[s->nlimits].k = (int)k;
    s->nlimits++;
}

static int parse_level(const char *v, int *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    int i;

    for (i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    if (strcmp(v, "warning") == 0) {
        *out = TQ_LOG_WARN;
        return 0;
    }
    return -1;
}

static void set_level(settings *s, const char *v, const char *where)
{
    if (parse_level(v, &s->log_level) != 0)
        die("%s: log level must be debug, info, warn or error, not '%s'",
            where, v);
    s->has_log_level = 1;
}

static void set_format(settings *s, const char *v, const char *where)
{
    if (strcmp(v, "text") == 0)
        s->json_log = 0;
    else if (strcmp(v, "json") == 0)
        s->json_log = 1;
    else
        die("%s: log format must be text or json, not '%s'", where, v);
    s->has_log_format = 1;
}

static void set_duration(int64_t *dst, int *has, const char *what,
                         const char *v)
{
    tq_perr e;

    if (tq_duration_check(what, v, dst, &e) != 0)
        die("%s", e.text);
    *has = 1;
}

static void set_max_result(settings *s, const char *v, const char *what)
{
    long long n;
    tq_perr e;

    if (tq_int_check(what, v, 1, 1LL << 32, &n, &e) != 0)
        die("%s", e.text);
    s->max_result = (size_t)n;
    s->has_max_result = 1;
}

/* ================================================================ the config file */

static void cfg_duration(json_t *v, int64_t *dst, int *has, const char *key)
{
    char what[64];

    snprintf(what, sizeof what, "config '%s'", key);
    if (json_is_string(v)) {
        set_duration(dst, has, what, json_string_value(v));
    } else if (json_is_number(v)) {
        double x = json_number_value(v);
        if (!isfinite(x) || x < 0 || x > 9e9)
            die("%s: must be a number of seconds >= 0", what);
        *dst = (int64_t)llround(x * 1000.0);
        *has = 1;
    } else {
        die("%s: must be a duration (\"30s\") or a number of seconds", what);
    }
}

static const char *cfg_string(json_t *v, const char *key)
{
    if (!json_is_string(v))
        die("config '%s': must be a string", key);
    return json_string_value(v);
}

static void load_config(settings *s, const char *path)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *v;
    const char *key;

    if (!root) {
        if (je.line < 1)
            die("--config %s: %s", path, je.text);
        die("--config %s: line %d column %d: %s", path, je.line, je.column,
            je.text);
    }
    if (!json_is_object(root))
        die("--config %s: must hold a JSON object", path);
    json_object_foreach(root, key, v) {
        if (strcmp(key, "redis") == 0) {
            set_str(&s->redis, cfg_string(v, key));
        } else if (strcmp(key, "namespace") == 0) {
            set_str(&s->ns, cfg_string(v, key));
        } else if (strcmp(key, "name") == 0) {
            set_str(&s->name, cfg_string(v, key));
        } else if (strcmp(key, "metrics") == 0) {
            set_str(&s->metrics, cfg_string(v, key));
        } else if (strcmp(key, "cgroup") == 0) {
            set_str(&s->cgroup, cfg_string(v, key));
        } else if (strcmp(key, "env_deny") == 0) {
            size_t i;
            json_t *q;
            if (json_is_string(v)) {
                add_env_deny(s, json_string_value(v), "config 'env_deny'");
            } else if (json_is_array(v)) {
                json_array_foreach(v, i, q)
                    add_env_deny(s, cfg_string(q, "env_deny"), "config 'env_deny'");
            } else {
                die("config 'env_deny': must be an array of variable names");
            }
        } else if (strcmp(key, "queues") == 0) {
            size_t i;
            json_t *q;
            if (json_is_string(v)) {
                add_queue(s, json_string_value(v), "config 'queues'");
            } else if (json_is_array(v)) {
                json_array_foreach(v, i, q)
                    add_queue(s, cfg_string(q, "queues"), "config 'queues'");
            } else {
                die("config 'queues': must be an array of queue names");
            }
        } else if (strcmp(key, "concurrency") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > 1000000)
                die("config 'concurrency': must be an integer 1..1000000");
            s->concurrency = (int)json_integer_value(v);
            s->has_concurrency = 1;
        } else if (strcmp(key, "tasks") == 0) {
            const char *tn;
            json_t *cmd;
            if (!json_is_object(v))
                die("config 'tasks': must be an object of name: command");
            json_object_foreach(v, tn, cmd) {
                char **argv;
                if (json_is_string(cmd)) {
                    argv = split_command(json_string_value(cmd));
                } else if (json_is_array(cmd) && json_array_size(cmd) > 0) {
                    size_t i, n = json_array_size(cmd);
                    argv = xrealloc(NULL, (n + 1) * sizeof *argv);
                    for (i = 0; i < n; i++) {
                        json_t *a = json_array_get(cmd, i);
                        if (!json_is_string(a))
                            die("config 'tasks': '%s': argv must hold strings", tn);
                        argv[i] = xstrdup(json_string_value(a));
                    }
                    argv[n] = NULL;
                } else {
                    die("config 'tasks': '%s': must be a command string or a "
                        "non-empty argv array", tn);
                }
                add_task(s, tn, argv, "config 'tasks'");
            }
        } else if (strcmp(key, "task_servers") == 0) {
            size_t i, n, j;
            json_t *d;
            if (!json_is_array(v))
                die("config 'task_servers': must be an array of objects");
            json_array_foreach(v, i, d) {
                json_t *tk = json_object_get(d, "tasks"),
                       *cmd = json_object_get(d, "command"),
                       *pr = json_object_get(d, "procs"),
                       *inf = json_object_get(d, "inflight"),
                       *st = json_object_get(d, "start_timeout");
                char **tasks, **argv;
                int64_t start = -1;
                int dummy;
                if (!json_is_object(d))
                    die("config 'task_servers': must be an array of objects");
                if (json_is_string(tk)) {
                    tasks = split_names(json_string_value(tk),
                                        strlen(json_string_value(tk)));
                } else if (json_is_array(tk) && json_array_size(tk) > 0) {
                    n = json_array_size(tk);
                    tasks = xrealloc(NULL, (n + 1) * sizeof *tasks);
                    for (j = 0; j < n; j++) {
                        json_t *a = json_array_get(tk, j);
                        if (!json_is_string(a))
                            die("config 'task_servers': 'tasks' must hold strings");
                        tasks[j] = xstrdup(json_string_value(a));
                    }
                    tasks[n] = NULL;
                } else {
                    die("config 'task_servers': each needs 'tasks' (a "
                        "non-empty array of names)");
                }
                if (json_is_string(cmd)) {
                    argv = split_command(json_string_value(cmd));
                } else if (json_is_array(cmd) && json_array_size(cmd) > 0) {
                    n = json_array_size(cmd);
                    argv = xrealloc(NULL, (n + 1) * sizeof *argv);
                    for (j = 0; j < n; j++) {
                        json_t *a = json_array_get(cmd, j);
                        if (!json_is_string(a))
                            die("config 'task_servers': 'command' argv must "
                                "hold strings");
                        argv[j] = xstrdup(json_string_value(a));
                    }
                    argv[n] = NULL;
                } else {
                    die("config 'task_servers': each needs 'command' (a "
                        "string or a non-empty argv array)");
                }
                if (pr && (!json_is_integer(pr) || json_integer_value(pr) < 1 ||
                           json_integer_value(pr) > 1000))
                    die("config 'task_servers': 'procs' must be 1..1000");
                if (inf && (!json_is_integer(inf) || json_integer_value(inf) < 1 ||
                            json_integer_value(inf) > 100000))
                    die("config 'task_servers': 'inflight' must be 1..100000");
                if (st)
                    cfg_duration(st, &start, &dummy, "task_servers' 'start_timeout");
                add_server(s, tasks, argv, pr ? (int)json_integer_value(pr) : 0,
                           inf ? (int)json_integer_value(inf) : 0, start,
                           "config 'task_servers'");
            }
        } else if (strcmp(key, "server_procs") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > 1000)
                die("config 'server_procs': must be 1..1000");
            s->server_procs = (int)json_integer_value(v);
            s->has_server_procs = 1;
        } else if (strcmp(key, "server_inflight") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > 100000)
                die("config 'server_inflight': must be 1..100000");
            s->server_inflight = (int)json_integer_value(v);
            s->has_server_inflight = 1;
        } else if (strcmp(key, "server_start_timeout") == 0) {
            cfg_duration(v, &s->server_start, &s->has_server_start, key);
        } else if (strcmp(key, "limits") == 0) {
            const char *tn;
            json_t *k;
            if (!json_is_object(v))
                die("config 'limits': must be an object of task: count");
            json_object_foreach(v, tn, k) {
                if (!json_is_integer(k))
                    die("config 'limits': '%s': must be an integer", tn);
                add_limit(s, tn, json_integer_value(k), "config 'limits'");
            }
        } else if (strcmp(key, "lease") == 0) {
            cfg_duration(v, &s->lease, &s->has_lease, key);
        } else if (strcmp(key, "default_timeout") == 0) {
            cfg_duration(v, &s->timeout, &s->has_timeout, key);
        } else if (strcmp(key, "shutdown_grace") == 0) {
            cfg_duration(v, &s->grace, &s->has_grace, key);
        } else if (strcmp(key, "kill_grace") == 0) {
            cfg_duration(v, &s->kill_grace, &s->has_kill_grace, key);
        } else if (strcmp(key, "max_result") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1)
                die("config 'max_result': must be a positive integer (bytes)");
            s->max_result = (size_t)json_integer_value(v);
            s->has_max_result = 1;
        } else if (strcmp(key, "log_level") == 0) {
            set_level(s, cfg_string(v, key), "config 'log_level'");
        } else if (strcmp(key, "log_format") == 0) {
            set_format(s, cfg_string(v, key), "config 'log_format'");
        } else {
            die("--config %s: unknown key '%s'", path, key);
        }
    }
    json_decref(root);
}

/* ================================================================ the command line */

/* "unknown flag '--concurency' (did you mean '--concurrency'?)", exit 2. */
static void unknown_flag(const char *arg) __attribute__((noreturn));
static void unknown_flag(const char *arg)
{
    const char *names[64], *near;
    char word[64];
    size_t n = 0;

    snprintf(word, sizeof word, "%.*s", (int)strcspn(arg, "="), arg);
    for (const struct help_flag *f = tq_help_worker.common; f->name && n < 62; f++) {
        const char *comma = strstr(f->name, ", ");
        names[n++] = comma ? comma + 2 : f->name; /* "-h, --help": --help */
    }
    near = help_nearest(word, names, n);
    if (near)
        die("unknown flag '%s' (did you mean '%s'?)", word, near);
    die("unknown flag '%s' (see --help)", word);
}

/* The hidden flags the build and the tests use, alone on the line:
 * --help-man [DATE], --help-completion bash|zsh, --help-flags (every flag
 * of the help table, one a line). Returns 1 when it printed one. */
static int hidden(int argc, char **argv)
{
    if (!strcmp(argv[1], "--help-man") && argc <= 3) {
        help_print_man(stdout, &tq_help_worker, TQ_VERSION,
                       argc == 3 ? argv[2] : "");
        return 1;
    }
    if (!strcmp(argv[1], "--help-completion") && argc == 3) {
        if (help_print_completion(stdout, &tq_help_worker, argv[2]))
            die("--help-completion: bash or zsh");
        return 1;
    }
    if (!strcmp(argv[1], "--help-flags") && argc == 2) {
        for (const struct help_flag *f = tq_help_worker.common; f->name; f++)
            printf("%s\n", f->name);
        return 1;
    }
    return 0;
}

static void parse_args(settings *s, int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL, *eq;
        char flag[64];
        tq_perr e;
        long long n;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help_print_overview(stdout, &tq_help_worker);
            exit(0);
        }
        if (strcmp(a, "--version") == 0) {
            printf("tq-worker %s (commit %s)\n", TQ_VERSION, TQ_COMMIT);
            exit(0);
        }
        if (i == 1 && hidden(argc, argv))
            exit(0);
        if (strncmp(a, "--", 2) != 0 || !a[2])
            die("unexpected argument '%s' (see --help)", a);
        eq = strchr(a, '=');
        if (eq) {
            if ((size_t)(eq - a) >= sizeof flag)
                unknown_flag(a);
            memcpy(flag, a, (size_t)(eq - a));
            flag[eq - a] = '\0';
            v = eq + 1;
        } else {
            if (strlen(a) >= sizeof flag)
                unknown_flag(a);
            strcpy(flag, a);
        }
#define VALUE()                                                     \
    do {                                                            \
        if (!v) {                                                   \
            if (i + 1 >= argc)                                      \
                die("%s needs a value", flag);                      \
            v = argv[++i];                                          \
        }                                                           \
    } while (0)
        if (strcmp(flag, "--redis") == 0) {
            VALUE();
            set_str(&s->redis, v);
        } else if (strcmp(flag, "--namespace") == 0) {
            VALUE();
            set_str(&s->ns, v);
        } else if (strcmp(flag, "--queue") == 0) {
            VALUE();
            add_queue(s, v, "--queue");
        } else if (strcmp(flag, "--concurrency") == 0) {
            VALUE();
            if (tq_int_check("--concurrency", v, 1, 1000000, &n, &e) != 0)
                die("%s", e.text);
            s->concurrency = (int)n;
            s->has_concurrency = 1;
        } else if (strcmp(flag, "--task") == 0) {
            const char *sep;
            char *name;
            VALUE();
            sep = strchr(v, '=');
            if (!sep || sep == v)
                die("--task: expected NAME=COMMAND, got '%s'", v);
            name = strndup(v, (size_t)(sep - v));
            if (!name)
                die("out of memory");
            add_task(s, name, split_command(sep + 1), "--task");
            free(name);
        } else if (strcmp(flag, "--task-server") == 0) {
            const char *sep;
            VALUE();
            sep = strchr(v, '=');
            if (!sep || sep == v)
                die("--task-server: expected NAME[,NAME...]=COMMAND, got '%s'", v);
            add_server(s, split_names(v, (size_t)(sep - v)),
                       split_command(sep + 1), 0, 0, -1, "--task-server");
        } else if (strcmp(flag, "--server-procs") == 0) {
            VALUE();
            if (tq_int_check("--server-procs", v, 1, 1000, &n, &e) != 0)
                die("%s", e.text);
            s->server_procs = (int)n;
            s->has_server_procs = 1;
        } else if (strcmp(flag, "--server-inflight") == 0) {
            VALUE();
            if (tq_int_check("--server-inflight", v, 1, 100000, &n, &e) != 0)
                die("%s", e.text);
            s->server_inflight = (int)n;
            s->has_server_inflight = 1;
        } else if (strcmp(flag, "--server-start-timeout") == 0) {
            VALUE();
            set_duration(&s->server_start, &s->has_server_start,
                         "--server-start-timeout", v);
        } else if (strcmp(flag, "--redis-password-file") == 0) {
            VALUE();
            set_str(&s->password_file, v);
        } else if (strcmp(flag, "--config") == 0) {
            VALUE();
            set_str(&s->config, v);
        } else if (strcmp(flag, "--plugin") == 0) {
            VALUE();
            if (!*v)
                die("--plugin: empty path");
            s->plugins = xrealloc(s->plugins,
                                  (s->nplugins + 1) * sizeof *s->plugins);
            s->plugins[s->nplugins++] = xstrdup(v);
        } else if (strcmp(flag, "--limit") == 0) {
            const char *sep;
            char *name;
            VALUE();
            sep = strrchr(v, '=');
            if (!sep || sep == v)
                die("--limit: expected TASK=K, got '%s'", v);
            if (tq_int_check("--limit", sep + 1, 1, 1000000, &n, &e) != 0)
                die("%s", e.text);
            name = strndup(v, (size_t)(sep - v));
            if (!name)
                die("out of memory");
            add_limit(s, name, n, "--limit");
            free(name);
        } else if (strcmp(flag, "--lease") == 0) {
            VALUE();
            set_duration(&s->lease, &s->has_lease, "--lease", v);
        } else if (strcmp(flag, "--default-timeout") == 0) {
            VALUE();
            set_duration(&s->timeout, &s->has_timeout, "--default-timeout", v);
        } else if (strcmp(flag, "--shutdown-grace") == 0) {
            VALUE();
            set_duration(&s->grace, &s->has_grace, "--shutdown-grace", v);
        } else if (strcmp(flag, "--kill-grace") == 0) {
            VALUE();
            set_duration(&s->kill_grace, &s->has_kill_grace, "--kill-grace", v);
        } else if (strcmp(flag, "--max-result") == 0) {
            VALUE();
            set_max_result(s, v, "--max-result");
        } else if (strcmp(flag, "--metrics") == 0) {
            VALUE();
            /* "off": none (what a unit's TQ_METRICS=off says) */
            if (strcmp(v, "off") == 0) {
                free(s->metrics);
                s->metrics = NULL;
            } else {
                set_str(&s->metrics, v); /* checked by tq_worker_new */
            }
        } else if (strcmp(flag, "--env-deny") == 0) {
            VALUE();
            add_env_deny(s, v, "--env-deny");
        } else if (strcmp(flag, "--cgroup") == 0) {
            VALUE();
            if (!*v)
                die("--cgroup: empty path");
            set_str(&s->cgroup, v);
        } else if (strcmp(flag, "--name") == 0) {
            VALUE();
            set_str(&s->name, v);
        } else if (strcmp(flag, "--log-level") == 0) {
            VALUE();
            set_level(s, v, "--log-level");
        } else if (strcmp(flag, "--log-format") == 0) {
            VALUE();
            set_format(s, v, "--log-format");
        } else {
            unknown_flag(flag);
        }
#undef VALUE
    }
}

/* Command line over environment over config file over defaults. */
static void merge(settings *out, settings *cli, settings *file)
{
    const char *env, *ns_from = "config 'namespace'";
    tq_perr e;
    size_t i;

    *out = *file;
    memset(file, 0, sizeof *file);
    if ((env = getenv("TQ_REDIS_URL")) && *env)
        set_str(&out->redis, env);
    if ((env = getenv("TQ_NAMESPACE")) && *env) {
        set_str(&out->ns, env);
        ns_from = "TQ_NAMESPACE";
    }
    if (cli->redis)
        set_str(&out->redis, cli->redis);
    /* The password: --redis-password-file over TQ_REDIS_PASSWORD over the
     * URL's, put into the URL the library gets (never logged: the worker's
     * lines show host:port, the card no URL). */
    env = getenv("TQ_REDIS_PASSWORD");
    if (cli->password_file || (env && *env)) {
        char pass[256], *url;
        if (cli->password_file &&
            tq_password_file_read(cli->password_file, pass, sizeof pass, &e) != 0)
            die("--redis-password-file: %s", e.text);
        if (tq_redis_url_with_password(out->redis, cli->password_file ? pass : env,
                                       &url, &e) != 0) {
            memset(pass, 0, sizeof pass);
            die("%s: %s", cli->password_file ? "--redis-password-file"
                : "TQ_REDIS_PASSWORD", e.text);
        }
        memset(pass, 0, sizeof pass);
        if (out->redis)
            memset(out->redis, 0, strlen(out->redis));
        free(out->redis);
        out->redis = url;
    }
    if (cli->ns) {
        set_str(&out->ns, cli->ns);
        ns_from = "--namespace";
    }
    /* the one rule of proto/names.c, named by where the value came from */
    if (out->ns && tq_ns_check(out->ns, &e) != 0)
        die("%s: %s", ns_from, e.text);
    if (cli->name)
        set_str(&out->name, cli->name);
    if (cli->metrics)
        set_str(&out->metrics, cli->metrics);
    if (cli->cgroup)
        set_str(&out->cgroup, cli->cgroup);
    for (i = 0; i < cli->nenv_deny; i++)
        add_env_deny(out, cli->env_deny[i], "--env-deny");
    if (cli->nqueues) {
        for (i = 0; i < out->nqueues; i++)
            free(out->queues[i]);
        free(out->queues);
        out->queues = cli->queues;
        out->nqueues = cli->nqueues;
        cli->queues = NULL;
        cli->nqueues = 0;
    }
    for (i = 0; i < cli->ntasks; i++) {
        add_task(out, cli->tasks[i].name, cli->tasks[i].argv, "--task");
        cli->tasks[i].argv = NULL;
        free(cli->tasks[i].name);
    }
    free(cli->tasks);
    cli->tasks = NULL;
    cli->ntasks = 0;
    for (i = 0; i < cli->nservers; i++)
        add_server(out, cli->servers[i].tasks, cli->servers[i].argv,
                   cli->servers[i].procs, cli->servers[i].inflight,
                   cli->servers[i].start, "--task-server");
    free(cli->servers);
    cli->servers = NULL;
    cli->nservers = 0;
    for (i = 0; i < cli->nlimits; i++)
        add_limit(out, cli->limits[i].name, cli->limits[i].k, "--limit");
    out->plugins = cli->plugins;
    out->nplugins = cli->nplugins;
    cli->plugins = NULL;
    cli->nplugins = 0;
#define TAKE(f, has)          \
    if (cli->has) {           \
        out->f = cli->f;      \
        out->has = 1;         \
    }
    TAKE(concurrency, has_concurrency)
    TAKE(lease, has_lease)
    TAKE(timeout, has_timeout)
    TAKE(grace, has_grace)
    TAKE(kill_grace, has_kill_grace)
    TAKE(server_procs, has_server_procs)
    TAKE(server_inflight, has_server_inflight)
    TAKE(server_start, has_server_start)
    TAKE(max_result, has_max_result)
    TAKE(log_level, has_log_level)
    TAKE(json_log, has_log_format)
#undef TAKE
}

/* ================================================================ task programs */

/* 0 when path is a regular file we may execute, else an errno value. */
static int runnable(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return errno;
    if (!S_ISREG(st.st_mode))
        return EACCES;
    return access(path, X_OK) == 0 ? 0 : errno;
}

/* Refuses, at start, a task whose program cannot run, looked up as execvp
 * does (a name with a '/' as it is, else each directory of PATH; PATH unset
 * = /bin:/usr/bin), so the mistake is not found one job at a time. */
static void check_program(const char *task, const char *prog)
{
    const char *path, *p;
    char buf[4096];
    int err = ENOENT, rc;

    if (strchr(prog, '/')) {
        if ((rc = runnable(prog)) != 0)
            die("task '%s': program '%s' %s", task, prog,
                rc == ENOENT ? "does not exist" : "is not an executable file");
        return;
    }
    path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    for (p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (snprintf(buf, sizeof buf, "%.*s%s%s", (int)n, n ? p : "",
                     n ? "/" : "", prog) < (int)sizeof buf) {
            if ((rc = runnable(buf)) == 0)
                return;
            if (rc == EACCES)
                err = EACCES;
        }
        if (!end)
            break;
        p = end;
    }
    die("task '%s': program '%s' %s", task, prog,
        err == EACCES ? "is not executable (found in PATH)"
                      : "not found in PATH");
}

/* ================================================================ logging */

typedef struct logger {
    int json;
} logger;

static void log_fn(tq_log_level lvl, const char *msg, const char *const *fields,
                   void *ud)
{
    static const char *const up[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    static const char *const low[] = {"debug", "info", "warn", "error"};
    logger *lg = ud;
    struct timespec ts;
    struct tm tm;
    char when[64];
    int li = lvl < TQ_LOG_DEBUG || lvl > TQ_LOG_ERROR ? 1 : (int)lvl;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + strlen(when), sizeof when - strlen(when), ".%03ldZ",
             ts.tv_nsec / 1000000);
    if (lg->json) {
        json_t *o = json_object();
        char *s;
        size_t i;
        if (!o)
            return;
        json_object_set_new(o, "ts", json_string(when));
        json_object_set_new(o, "level", json_string(low[li]));
        json_object_set_new(o, "msg", json_string(msg));
        for (i = 0; fields && fields[i] && fields[i + 1]; i += 2)
            json_object_set_new(o, fields[i], json_string(fields[i + 1]));
        s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (s) {
            size_t n = strlen(s);
            s[n] = '\n'; /* overwrite the NUL: one write per line */
            fwrite(s, 1, n + 1, stderr);
            free(s);
        }
    } else {
        fprintf(stderr, "%s %s %s\n", when, up[li], msg);
    }
}

/* ================================================================ signals, plugins */

typedef struct sigstate {
    tq_worker *w;
    int terms;
} sigstate;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    sigstate *ss = arg;

    if (sig == SIGTERM && ss->terms++ == 0)
        tq_worker_stop(ss->w, 0);
    else
        tq_worker_stop(ss->w, 1);
}

static void load_plugin(tq_worker *w, const char *path)
{
    char buf[4096];
    const char *p = path;
    void *h;
    tq_plugin_init_fn *init;
    int rc;

    if (access(path, F_OK) != 0)
        die("--plugin %s: %s", path, strerror(errno));
    if (!strchr(path, '/')) {
        snprintf(buf, sizeof buf, "./%s", path);
        p = buf;
    }
    h = dlopen(p, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        die("--plugin %s: %s", path, dlerror());
    *(void **)&init = dlsym(h, TQ_PLUGIN_INIT);
    if (!init)
        die("--plugin %s: no " TQ_PLUGIN_INIT " symbol (a plugin defines "
            "int " TQ_PLUGIN_INIT "(tq_worker *w), see <tq/worker.h>)", path);
    rc = init(w);
    if (rc != 0)
        die("--plugin %s: tq_plugin_init failed (%d)%s%s", path, rc,
            tq_worker_errstr(w)[0] ? ": " : "", tq_worker_errstr(w));
}

/* fds 0..2 open, so nothing else lands on them (and children get /dev/null). */
static void std_fds(void)
{
    int fd;

    for (fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0) {
            int n = open("/dev/null", O_RDWR);
            if (n >= 0 && n != fd) {
                dup2(n, fd);
                close(n);
            }
        }
}

/* ================================================================ main */

int main(int argc, char **argv)
{
    settings cli, file, s;
    tq_worker_opts o;
    tq_worker *w;
    logger lg;
    sigstate ss;
    struct event *ev_term, *ev_int;
    char err[512];
    size_t i;

    std_fds();
    memset(&cli, 0, sizeof cli);
    memset(&file, 0, sizeof file);
    parse_args(&cli, argc, argv);
    if (cli.config)
        load_config(&file, cli.config);
    merge(&s, &cli, &file);
    settings_free(&cli);
    settings_free(&file);

    for (i = 0; i < s.ntasks; i++)
        check_program(s.tasks[i].name, s.tasks[i].argv[0]);
    for (i = 0; i < s.nservers; i++) {
        size_t j, k;
        check_program(s.servers[i].tasks[0], s.servers[i].argv[0]);
        for (j = 0; s.servers[i].tasks[j]; j++)
            for (k = 0; k < s.ntasks; k++)
                if (strcmp(s.servers[i].tasks[j], s.tasks[k].name) == 0)
                    die("task '%s' is both a --task and a --task-server task",
                        s.tasks[k].name);
    }

    lg.json = s.json_log;
    tq_worker_opts_init(&o);
    o.redis_url = s.redis;
    o.ns = s.ns;
    o.queues = (const char *const *)s.queues;
    o.nqueues = s.nqueues;
    if (s.has_concurrency)
        o.concurrency = s.concurrency;
    if (s.has_lease)
        o.lease_ms = s.lease;
    if (s.has_timeout)
        o.default_timeout_ms = s.timeout;
    if (s.has_grace)
        o.shutdown_grace_ms = s.grace;
    if (s.has_kill_grace)
        o.kill_grace_ms = s.kill_grace;
    if (s.has_max_result)
        o.max_result = s.max_result;
    o.name = s.name;
    o.log = log_fn;
    o.log_ud = &lg;
    o.log_level = s.has_log_level ? (tq_log_level)s.log_level : TQ_LOG_INFO;
    o.metrics_addr = s.metrics;
    o.env_deny = (const char *const *)s.env_deny;
    o.cgroup_dir = s.cgroup;
    o.reap_orphans = 1; /* nothing else in this program waits for children */

    w = tq_worker_new(&o, err, sizeof err);
    if (!w)
        die("%s", err);
    for (i = 0; i < s.ntasks; i++) {
        int rc = tq_worker_register_exec(w, s.tasks[i].name,
                                         (const char *const *)s.tasks[i].argv);
        if (rc != 0)
            die("--task %s: %s", s.tasks[i].name,
                tq_worker_errstr(w)[0] ? tq_worker_errstr(w) : tq_strerror(rc));
    }
    for (i = 0; i < s.nservers; i++) {
        server_def *d = &s.servers[i];
        int rc = tq_worker_register_server(
            w, (const char *const *)d->tasks, (const char *const *)d->argv,
            d->procs ? d->procs : (s.has_server_procs ? s.server_procs : 1),
            d->inflight ? d->inflight
                        : (s.has_server_inflight ? s.server_inflight : 1),
            d->start >= 0 ? d->start : (s.has_server_start ? s.server_start : 0));
        if (rc != 0)
            die("--task-server %s: %s", d->tasks[0],
                tq_worker_errstr(w)[0] ? tq_worker_errstr(w) : tq_strerror(rc));
    }
    for (i = 0; i < s.nlimits; i++)
        if (tq_worker_limit(w, s.limits[i].name, s.limits[i].k) != 0)
            die("--limit %s: %s", s.limits[i].name, tq_worker_errstr(w));
    for (i = 0; i < s.nplugins; i++)
        load_plugin(w, s.plugins[i]);

    ss.w = w;
    ss.terms = 0;
    ev_term = evsignal_new(tq_worker_base(w), SIGTERM, on_signal, &ss);
    ev_int = evsignal_new(tq_worker_base(w), SIGINT, on_signal, &ss);
    if (!ev_term || !ev_int || evsignal_add(ev_term, NULL) != 0 ||
        evsignal_add(ev_int, NULL) != 0)
        die("cannot watch signals");
    /* a refused AUTH or SELECT, or an ACL that forbids what the worker
     * runs, is a mistake to fix, not an outage to wait out: exit 6 */
    if (tq_worker_check(w, 2000) != 0) {
        fprintf(stderr, PROG ": %s\n", tq_worker_errstr(w));
        event_free(ev_term);
        event_free(ev_int);
        tq_worker_free(w);
        settings_free(&s);
        return 6;
    }
    /* started here, not by tq_worker_run: a --metrics address that cannot
     * be listened on is a bad value (exit 2), found before Redis is reached */
    if (tq_worker_start(w) != 0)
        die("%s", tq_worker_errstr(w));

    if (tq_worker_run(w) != 0) {
        fprintf(stderr, PROG ": %s\n", tq_worker_errstr(w));
        return 1;
    }
    event_free(ev_term);
    event_free(ev_int);
    tq_worker_free(w);
    settings_free(&s);
    return 0;
}
