/* proc.c -- what the worker's two kinds of child process share: exec jobs
 * (exec.c, one process per job) and task servers (tserver.c, long-lived).
 *
 * Both start a program found through PATH, in a process group of its own,
 * with default signal dispositions, an empty signal mask, pipes on chosen
 * descriptors and the worker's environment minus what must not leak (the
 * worker's Redis settings, --env-deny names). Both are reaped on the loop by
 * exec.c's SIGCHLD handler: exec.c reaps its own children and, under
 * reap_orphans, the orphans jobs leave behind; a task server's process is
 * "watched" here (wk_proc_watch), so that handler reaps it with waitpid and
 * tells its owner, and the orphan sweep leaves it alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "worker/worker_private.h"

extern char **environ;

/* A watched child: its owner's callback gets the wait status once. */
struct wk_pwatch {
    struct wk_pwatch *next;
    pid_t pid;
    void (*fn)(void *ud, pid_t pid, int status);
    void *ud;
};

/* ================================================================ descriptors */

int wk_fd_high(int *fd)
{
    int nfd;

    if (*fd > 2)
        return 0;
    nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (nfd < 0)
        return -1;
    close(*fd);
    *fd = nfd;
    return 0;
}

int wk_fd_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int wk_group_alive(pid_t pgid)
{
    return kill(-pgid, 0) == 0 || errno == EPERM;
}

/* ================================================================ programs */

int wk_proc_find(const char *name)
{
    const char *path, *p;
    char buf[4096];
    int err = ENOENT;

    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? 0 : errno;
    path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (snprintf(buf, sizeof buf, "%.*s%s%s", (int)n, p, n ? "/" : "",
                     name) < (int)sizeof buf) {
            if (access(buf, X_OK) == 0)
                return 0;
            if (errno == EACCES)
                err = EACCES;
        }
        if (!end)
            break;
        p = end;
    }
    return err;
}

/* ================================================================ environment */

/* The worker's own settings (TQ_REDIS_URL holds the password), and the
 * variables exec jobs and task servers are given afresh. */
static const char *const tq_own[] = {
    "TQ_REDIS_URL", "TQ_REDIS_PASSWORD", "TQ_NAMESPACE", "TQ_JOB_ID",
    "TQ_TASK", "TQ_QUEUE", "TQ_ATTEMPT", "TQ_DEADLINE", "TQ_PROGRESS_FD",
    "TQ_SERVER_PROTOCOL", "TQ_SERVER_TASKS", "TQ_SERVER_INFLIGHT", NULL};

static int name_is(const char *var, size_t n, const char *name)
{
    return strlen(name) == n && strncmp(var, name, n) == 0;
}

int wk_env_denied(const char *const *deny, const char *var)
{
    size_t n = strcspn(var, "="), i;

    for (i = 0; tq_own[i]; i++)
        if (name_is(var, n, tq_own[i]))
            return 1;
    for (i = 0; deny && deny[i]; i++) {
        size_t dl = strlen(deny[i]);
        if (dl > 0 && deny[i][dl - 1] == '*') {
            if (n >= dl - 1 && strncmp(var, deny[i], dl - 1) == 0)
                return 1;
        } else if (name_is(var, n, deny[i])) {
            return 1;
        }
    }
    return 0;
}

char **wk_proc_env(tq_worker *w, const char *const *extra)
{
    const char *const *deny = (const char *const *)w->env_deny;
    size_t n = 0, nx = 0, len = 0, i, k = 0;
    char **env, *p;

    while (environ && environ[n])
        n++;
    while (extra && extra[nx])
        len += strlen(extra[nx++]) + 1;
    env = malloc((n + nx + 1) * sizeof *env + len);
    if (!env)
        return NULL;
    for (i = 0; i < n; i++)
        if (!wk_env_denied(deny, environ[i]))
            env[k++] = environ[i];
    p = (char *)(env + n + nx + 1);
    for (i = 0; i < nx; i++) {
        size_t l = strlen(extra[i]) + 1;
        memcpy(p, extra[i], l);
        env[k++] = p;
        p += l;
    }
    env[k] = NULL;
    return env;
}

/* ================================================================ spawning */

int wk_proc_spawn(pid_t *pid, char *const *argv, char *const *env,
                  const int *fds, int nfds)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    int i, rc;

    posix_spawn_file_actions_init(&fa);
    for (i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            posix_spawn_file_actions_adddup2(&fa, fds[i], i);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&at, &all);
    rc = posix_spawnp(pid, argv[0], &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

/* ================================================================ watching */

int wk_proc_watch(tq_worker *w, pid_t pid,
                  void (*fn)(void *ud, pid_t pid, int status), void *ud)
{
    struct wk_pwatch *pw;

    if (wk_exec_watch(w) != 0)
        return TQ_EINVAL;
    pw = calloc(1, sizeof *pw);
    if (!pw)
        return TQ_ENOMEM;
    pw->pid = pid;
    pw->fn = fn;
    pw->ud = ud;
    pw->next = w->ex.watched;
    w->ex.watched = pw;
    return 0;
}

void wk_proc_unwatch(tq_worker *w, pid_t pid)
{
    struct wk_pwatch **pp = &w->ex.watched, *pw;

    while ((pw = *pp)) {
        if (pw->pid == pid) {
            *pp = pw->next;
            free(pw);
            return;
        }
        pp = &pw->next;
    }
}

int wk_proc_watched(const tq_worker *w, pid_t pid)
{
    const struct wk_pwatch *pw;

    for (pw = w->ex.watched; pw; pw = pw->next)
        if (pw->pid == pid)
            return 1;
    return 0;
}

/* Each watched child that has exited is reaped, forgotten, and its owner
 * told (which may watch a new one: the walk starts over after a call). */
void wk_proc_reap(tq_worker *w)
{
    struct wk_pwatch *pw;
    int again = 1;

    while (again) {
        again = 0;
        for (pw = w->ex.watched; pw; pw = pw->next) {
            int st = 0;
            pid_t r;
            do
                r = waitpid(pw->pid, &st, WNOHANG);
            while (r < 0 && errno == EINTR);
            if (r == pw->pid || (r < 0 && errno == ECHILD)) {
                void (*fn)(void *, pid_t, int) = pw->fn;
                void *ud = pw->ud;
                pid_t pid = pw->pid;
                if (r < 0)
                    st = -1; /* reaped by someone else: status unknown */
                wk_proc_unwatch(w, pid);
                fn(ud, pid, st);
                again = 1;
                break;
            }
        }
    }
}

void wk_proc_unwatch_all(tq_worker *w)
{
    while (w->ex.watched)
        wk_proc_unwatch(w, w->ex.watched->pid);
}
