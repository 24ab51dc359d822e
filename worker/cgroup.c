/* cgroup.c -- --cgroup DIR: every exec job in a cgroup v2 of its own.
 *
 * A process group holds what a job starts only until one of them calls
 * setsid() or setpgid(): a daemon started by a job then outlives it. A
 * cgroup holds every descendant whatever it does, so the worker makes one
 * per delivery (DIR/job-ID-TOK, under a cgroup2 directory delegated to it),
 * the child enters it between fork and exec (exec.c), and when the job's
 * record is let go the cgroup is emptied with cgroup.kill (Linux >= 5.14;
 * else SIGKILL to every pid in cgroup.procs) and removed. Killed processes
 * take a moment to go: an rmdir that finds the cgroup busy is retried on a
 * timer (every 50 ms, for up to 10 s, then left with a log line).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include "worker/worker_private.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CG_RETRY_MS 50
#define CG_TRIES 200

struct wk_cgroup_gone {
    struct wk_cgroup_gone *next;
    int tries;
    char path[];
};

int wk_cgroup_check(const char *dir, char *err, size_t n)
{
    struct statfs sf;
    char p[4096];

    if (!dir || !*dir) {
        snprintf(err, n, "--cgroup: empty path");
        return TQ_EINVAL;
    }
    if (statfs(dir, &sf) != 0) {
        snprintf(err, n, "--cgroup %s: %s", dir, strerror(errno));
        return TQ_EINVAL;
    }
    if ((unsigned long)sf.f_type != (unsigned long)CGROUP2_SUPER_MAGIC) {
        snprintf(err, n, "--cgroup %s: not a cgroup v2 directory (mount -t "
                 "cgroup2; see /proc/mounts)", dir);
        return TQ_EINVAL;
    }
    snprintf(p, sizeof p, "%s/cgroup.procs", dir);
    if (access(dir, W_OK) != 0 || access(p, W_OK) != 0) {
        snprintf(err, n, "--cgroup %s: not writable by this user (delegate "
                 "it: chown the directory and its cgroup.procs)", dir);
        return TQ_EINVAL;
    }
    return 0;
}

int wk_cgroup_create(tq_worker *w, const char *id, const char *tok,
                     char **path, int *procs_fd)
{
    char name[160], p[4200];
    size_t i, k = 0;
    int fd;

    /* ids are tq's own (letters and digits), but a record is Redis's */
    for (i = 0; id[i] && k < 100; i++)
        name[k++] = (char)(((id[i] >= 'a' && id[i] <= 'z') ||
                            (id[i] >= 'A' && id[i] <= 'Z') ||
                            (id[i] >= '0' && id[i] <= '9')) ? id[i] : '_');
    name[k] = '\0';
    snprintf(p, sizeof p, "%s/job-%s-%.20s", w->cgroup_dir, name, tok);
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return -errno;
    *path = strdup(p);
    snprintf(p + strlen(p), sizeof p - strlen(p), "/cgroup.procs");
    fd = open(p, O_WRONLY | O_CLOEXEC);
    if (!*path || fd < 0) {
        int e = *path ? errno : ENOMEM;
        if (fd >= 0)
            close(fd);
        if (*path)
            rmdir(*path);
        free(*path);
        *path = NULL;
        return -e;
    }
    *procs_fd = fd;
    return 0;
}

/* Kills every process in the cgroup at path: cgroup.kill, or one by one. */
static void cg_kill(const char *path)
{
    char p[4200], buf[64];
    FILE *f;
    int fd;

    snprintf(p, sizeof p, "%s/cgroup.kill", path);
    fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = write(fd, "1", 1);
        close(fd);
        if (r == 1)
            return;
    }
    snprintf(p, sizeof p, "%s/cgroup.procs", path);
    f = fopen(p, "re");
    if (!f)
        return;
    while (fgets(buf, sizeof buf, f)) {
        long pid = strtol(buf, NULL, 10);
        if (pid > 1 && pid != (long)getpid())
            kill((pid_t)pid, SIGKILL);
    }
    fclose(f);
}

static void cg_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;
    struct wk_cgroup_gone **pp = &w->cg.gone, *g;
    struct timeval tv = {0, CG_RETRY_MS * 1000};

    while ((g = *pp) != NULL) {
        if (rmdir(g->path) == 0 || errno == ENOENT) {
            *pp = g->next;
            free(g);
            continue;
        }
        if (++g->tries >= CG_TRIES) {
            wk_log(w, TQ_LOG_WARN, NULL,
                   "cgroup %s: cannot remove it (%s); left behind", g->path,
                   strerror(errno));
            *pp = g->next;
            free(g);
            continue;
        }
        cg_kill(g->path); /* a process may have raced into it */
        pp = &g->next;
    }
    if (w->cg.gone && w->cg.ev)
        evtimer_add(w->cg.ev, &tv);
}

void wk_cgroup_end(tq_worker *w, char *path)
{
    struct wk_cgroup_gone *g;
    struct timeval tv = {0, CG_RETRY_MS * 1000};
    size_t n;

    if (!path)
        return;
    cg_kill(path);
    if (rmdir(path) == 0 || errno == ENOENT) {
        free(path);
        return;
    }
    n = strlen(path);
    g = malloc(sizeof *g + n + 1);
    if (!w->cg.ev && w->base)
        w->cg.ev = evtimer_new(w->base, cg_retry_cb, w);
    if (!g || !w->cg.ev) {
        wk_log(w, TQ_LOG_WARN, NULL, "cgroup %s: left behind (out of memory)",
               path);
        free(g);
        free(path);
        return;
    }
    g->tries = 0;
    memcpy(g->path, path, n + 1);
    free(path);
    g->next = w->cg.gone;
    w->cg.gone = g;
    evtimer_add(w->cg.ev, &tv);
}

void wk_cgroup_finish(tq_worker *w)
{
    struct wk_cgroup_gone *g;
    int i;

    /* freeing: a few short waits for the last ones, then let go */
    for (i = 0; w->cg.gone && i < 20; i++) {
        struct wk_cgroup_gone **pp = &w->cg.gone;
        while ((g = *pp) != NULL) {
            cg_kill(g->path);
            if (rmdir(g->path) == 0 || errno == ENOENT) {
                *pp = g->next;
                free(g);
            } else {
                pp = &g->next;
            }
        }
        if (w->cg.gone)
            usleep(10000);
    }
    while ((g = w->cg.gone) != NULL) {
        w->cg.gone = g->next;
        free(g);
    }
    if (w->cg.ev) {
        event_free(w->cg.ev);
        w->cg.ev = NULL;
    }
}
