/* exec.c -- exec tasks: a job runs as a child process, watched from the loop.
 *
 * The child is started with posix_spawnp in a process group of its own
 * (POSIX_SPAWN_SETPGROUP), default signal dispositions and an empty signal
 * mask; its stdin, stdout and stderr are pipes whose parent ends are
 * non-blocking and close-on-exec. The args JSON is written to stdin as the
 * pipe accepts it, then stdin is closed (EOF). stdout is collected up to
 * --max-result; stderr goes into a 64 KiB ring, kept with the record at the
 * end (progress.c: wk_output_keep) and published to followers, whose last
 * 2 KiB are the error text. A fourth pipe is the child's descriptor 3,
 * named in TQ_PROGRESS_FD: each line is a JSON value for tq_task_progress.
 *
 * Exits are learnt from SIGCHLD (a libevent signal event, so the handler runs
 * on the loop) followed by waitpid(pid, WNOHANG) for each child we started:
 * never waitpid(-1), which would steal the children of an embedding program.
 * Only with reap_orphans (tq-worker: a child subreaper) are the other
 * children reaped too: orphans of jobs, reparented to the worker. They are
 * found with waitid(WNOWAIT) first, so a job's own child is never reaped
 * there and its status never lost.
 *
 * A task completes when its child has exited AND stdout reached EOF, or
 * WK_PIPE_GRACE_MS after the exit when a descendant still holds stdout (a
 * daemon started by the job): the job's result is what was read by then.
 * What is left of its process group then gets SIGKILL; with --cgroup, every
 * process the job started, wherever it went, is killed with its cgroup
 * (cgroup.c) when the child's record is let go.
 *
 * Stopping a task (timeout, cancel, lost lease, shutdown) sends SIGTERM to the
 * whole process group, so grandchildren go too, and SIGKILL after
 * --kill-grace if any of the group is left. The slot is free at once: the
 * child's record moves to the reaper (it stays in w->ex.children with t NULL)
 * until waitpid has reaped it.
 *
 * Why one file over 800 lines: it is one idea, a child's life from spawn
 * through its pipes to the reaping, and every section reads and writes the
 * same child record and its ordering rules (exit AND EOF, the pipe grace,
 * the reaper); split, that record and those rules would become a header of
 * their own for two files that cannot change apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "worker/worker_private.h"

#define ERR_TAIL 2048
#define WK_PIPE_GRACE_MS 300 /* the child exited: stdout gets this long to close */
#define LOG_KEEP 65536       /* the stderr kept with the record (a ring) */
#define PROG_FD 3            /* the child's TQ_PROGRESS_FD */

struct wk_exec_spec {
    char **argv;
    size_t argc;
};

struct wk_child {
    tq_worker *w;
    tq_task *t;                 /* NULL once stopped: in the reaper */
    wk_child *prev, *next;
    pid_t pid;                  /* also the process group id */
    int exited, status, reaped_elsewhere;
    int in_fd, out_fd, err_fd;
    struct event *in_ev, *out_ev, *err_ev, *kill_ev, *eof_ev;
    char *cg;                   /* its cgroup (--cgroup), owned; NULL = none */
    int grace_over;             /* exited WK_PIPE_GRACE_MS ago: stop waiting for EOF */
    size_t in_off;
    char *out;
    size_t out_len, out_cap;
    int out_eof;
    int sigkilled;
    /* stderr: the last LOG_KEEP bytes in a ring (allocated on the first
     * byte), log_total bytes read in all; kept with the record at the end
     * (wk_output_keep) and its tail is the error text of a failure */
    char *log;
    unsigned long long log_total;
    int followed;                   /* someone follows (wk_exec_follow) */
    unsigned long long sent;        /* published up to this offset */
    struct event *chunk_ev;         /* publishes a chunk while followed */
    /* TQ_PROGRESS_FD: one JSON value per line, through tq_task_progress */
    int prog_fd;
    struct event *prog_ev;
    char *pl;                       /* the line so far (WK_PROGRESS_MAX, made on the first byte) */
    size_t pl_len;
    int pl_skip;                    /* dropping a line over the limit */
    int bad_logged;                 /* a bad line was logged for this job */
};

/* ================================================================ specs */

void wk_exec_spec_free(wk_exec_spec *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->argc; i++)
        free(s->argv[i]);
    free(s->argv);
    free(s);
}

static void exec_run(tq_task *t, void *ud);
static void exec_stop(tq_task *t, tq_stop_reason why, void *ud);

int wk_exec_register(tq_worker *w, const char *task, const char *const *argv)
{
    wk_exec_spec *s;
    wk_handler *h;
    tq_perr e;
    size_t n = 0, i;

    if (tq_name_check("task", task, &e) != 0) {
        snprintf(w->err, sizeof w->err, "%s", e.text);
        return TQ_EINVAL;
    }
    while (argv[n])
        n++;
    s = calloc(1, sizeof *s);
    if (!s)
        return TQ_ENOMEM;
    s->argv = calloc(n + 1, sizeof *s->argv);
    if (!s->argv) {
        free(s);
        return TQ_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        s->argv[i] = strdup(argv[i]);
        if (!s->argv[i]) {
            s->argc = i;
            wk_exec_spec_free(s);
            return TQ_ENOMEM;
        }
    }
    s->argc = n;
    h = wk_handler_get(w, task);
    if (!h) {
        wk_exec_spec_free(s);
        return TQ_ENOMEM;
    }
    if (h->running > 0) {
        wk_exec_spec_free(s);
        snprintf(w->err, sizeof w->err, "task '%s' has jobs running", task);
        return TQ_EINVAL;
    }
    wk_exec_spec_free(h->exec);
    h->exec = s;
    h->fn = exec_run;
    h->cancel = exec_stop;
    h->ud = s;
    return 0;
}

/* ================================================================ children */

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGILL: return "SIGILL";
    case SIGTRAP: return "SIGTRAP";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGUSR1: return "SIGUSR1";
    case SIGSEGV: return "SIGSEGV";
    case SIGUSR2: return "SIGUSR2";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTERM: return "SIGTERM";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGSYS: return "SIGSYS";
    default: return "signal";
    }
}

static void close_ev(struct event **ev, int *fd)
{
    if (*ev) {
        event_free(*ev);
        *ev = NULL;
    }
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void child_free(wk_child *c)
{
    tq_worker *w = c->w;

    if (c->prev)
        c->prev->next = c->next;
    else
        w->ex.children = c->next;
    if (c->next)
        c->next->prev = c->prev;
    close_ev(&c->in_ev, &c->in_fd);
    close_ev(&c->out_ev, &c->out_fd);
    close_ev(&c->err_ev, &c->err_fd);
    close_ev(&c->prog_ev, &c->prog_fd);
    if (c->kill_ev)
        event_free(c->kill_ev);
    if (c->eof_ev)
        event_free(c->eof_ev);
    if (c->chunk_ev)
        event_free(c->chunk_ev);
    wk_cgroup_end(w, c->cg); /* takes it: whatever the job started goes now */
    free(c->out);
    free(c->log);
    free(c->pl);
    free(c);
    wk_kick(w); /* shutdown may wait for the reaper */
}

/* ---------------------------------------------------------------- the stderr ring */

static size_t ring_len(const wk_child *c)
{
    if (!c->log)
        return 0;
    return c->log_total < LOG_KEEP ? (size_t)c->log_total : LOG_KEEP;
}

/* Appends n bytes to the ring (only the last LOG_KEEP of them matter). */
static void ring_put(wk_child *c, const char *p, size_t n)
{
    size_t start, first;

    if (!c->log && !(c->log = malloc(LOG_KEEP))) {
        c->log_total += n; /* out of memory: counted, not kept */
        return;
    }
    if (n > LOG_KEEP) {
        c->log_total += n - LOG_KEEP;
        p += n - LOG_KEEP;
        n = LOG_KEEP;
    }
    start = (size_t)(c->log_total % LOG_KEEP);
    first = n < LOG_KEEP - start ? n : LOG_KEEP - start;
    memcpy(c->log + start, p, first);
    memcpy(c->log, p + first, n - first);
    c->log_total += n;
}

/* The bytes of the ring from offset from (at least log_total - ring_len)
 * to the end, as two spans. */
static void ring_get(const wk_child *c, unsigned long long from, const char **a,
                     size_t *alen, const char **b, size_t *blen)
{
    size_t len = (size_t)(c->log_total - from), start, first;

    *a = *b = "";
    *alen = *blen = 0;
    if (!c->log || len == 0)
        return;
    start = (size_t)(from % LOG_KEEP);
    first = len < LOG_KEEP - start ? len : LOG_KEEP - start;
    *a = c->log + start;
    *alen = first;
    *b = c->log;
    *blen = len - first;
}

/* The last n (at most) bytes of the ring copied into buf; their length. */
static size_t ring_tail(const wk_child *c, char *buf, size_t n)
{
    size_t have = ring_len(c), alen, blen;
    const char *a, *b;

    if (n > have)
        n = have;
    ring_get(c, c->log_total - n, &a, &alen, &b, &blen);
    memcpy(buf, a, alen);
    memcpy(buf + alen, b, blen);
    return alen + blen;
}

/* Publishes what was written since the last chunk (followed only). */
static void chunk_send(wk_child *c)
{
    unsigned long long from = c->sent, low = c->log_total - ring_len(c);
    const char *a, *b;
    size_t alen, blen;

    if (!c->t || !c->followed || c->sent >= c->log_total)
        return;
    if (from < low)
        from = low; /* more than the ring holds came since: the rest is lost */
    ring_get(c, from, &a, &alen, &b, &blen);
    if (wk_output_publish(c->t, 'c', from, a, alen, b, blen) == 0)
        c->sent = c->log_total;
}

static void chunk_cb(evutil_socket_t fd, short what, void *arg)
{
    chunk_send(arg);
}

void wk_exec_follow(tq_task *t)
{
    wk_child *c = tq_task_data(t);
    unsigned long long from;
    const char *a, *b;
    size_t alen, blen;

    if (!c || c->t != t)
        return;
    c->followed = 1;
    from = c->log_total - ring_len(c);
    ring_get(c, from, &a, &alen, &b, &blen);
    if (wk_output_publish(t, 's', from, a, alen, b, blen) == 0)
        c->sent = c->log_total;
}

void wk_exec_unfollow(tq_task *t)
{
    wk_child *c = tq_task_data(t);

    if (c && c->t == t)
        c->followed = 0;
}

/* Reads what stderr holds now into the ring. Returns 1 at EOF or error, 0
 * when it would block. */
static int err_read(wk_child *c)
{
    char tmp[16384];
    ssize_t n;

    for (;;) {
        n = read(c->err_fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return 1;
        ring_put(c, tmp, (size_t)n);
        if (c->followed && c->chunk_ev && !evtimer_pending(c->chunk_ev, NULL)) {
            struct timeval tv = {0, WK_CHUNK_MS * 1000};
            evtimer_add(c->chunk_ev, &tv);
        }
    }
}

/* Sends the kept stderr of the delivery (before its outcome). */
static void output_keep(wk_child *c, tq_task *t)
{
    char *buf;
    size_t n = ring_len(c);

    if (c->err_fd >= 0)
        err_read(c);
    n = ring_len(c);
    if (c->log_total == 0)
        return; /* nothing written: nothing kept (an older attempt's stays) */
    buf = malloc(n ? n : 1);
    if (!buf)
        return;
    n = ring_tail(c, buf, n);
    wk_output_keep(t, buf, n, c->log_total);
    free(buf);
}

/* ---------------------------------------------------------------- progress lines */

static void prog_line(wk_child *c, char *line, size_t len)
{
    json_error_t e;
    json_t *v;

    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
        len--;
    if (len == 0 || !c->t)
        return;
    v = json_loadb(line, len, JSON_DECODE_ANY, &e);
    if (!v) {
        if (!c->bad_logged) {
            char why[200];
            c->bad_logged = 1;
            tq_text_clean(why, sizeof why, e.text, strlen(e.text), 1);
            wk_log(c->w, TQ_LOG_WARN, NULL,
                   "job %s: a line on TQ_PROGRESS_FD is not JSON (%s); "
                   "ignored (logged once per job)", c->t->id, why);
        }
        return;
    }
    if (tq_task_progress(c->t, v) != 0 && !c->bad_logged) {
        c->bad_logged = 1;
        wk_log(c->w, TQ_LOG_WARN, NULL,
               "job %s: a progress value was refused; ignored", c->t->id);
    }
    json_decref(v);
}

/* Splits what came on the progress pipe into lines; a line longer than
 * WK_PROGRESS_MAX is dropped whole. */
static void prog_feed(wk_child *c, const char *p, size_t n)
{
    while (n > 0) {
        if (!c->pl && !(c->pl = malloc(WK_PROGRESS_MAX))) {
            c->pl_skip = 1; /* out of memory: this line is lost */
            c->pl_len = 0;
        }
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) : n;
        if (!c->pl_skip) {
            if (c->pl_len + seg > WK_PROGRESS_MAX) {
                c->pl_skip = 1;
                c->pl_len = 0;
                if (!c->bad_logged && c->t) {
                    c->bad_logged = 1;
                    wk_log(c->w, TQ_LOG_WARN, NULL,
                           "job %s: a line on TQ_PROGRESS_FD is over %d bytes; "
                           "dropped (logged once per job)", c->t->id,
                           WK_PROGRESS_MAX);
                }
            } else {
                memcpy(c->pl + c->pl_len, p, seg);
                c->pl_len += seg;
            }
        }
        if (!nl)
            return;
        if (!c->pl_skip)
            prog_line(c, c->pl, c->pl_len);
        c->pl_skip = 0;
        c->pl_len = 0;
        p += seg + 1;
        n -= seg + 1;
    }
}

/* Reads what the progress pipe holds now. At EOF a last line without its
 * newline counts too, and the pipe is closed. */
static void prog_read(wk_child *c)
{
    char tmp[16384];
    ssize_t n;

    while (c->prog_fd >= 0) {
        n = read(c->prog_fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (!c->pl_skip && c->pl_len)
                prog_line(c, c->pl, c->pl_len);
            c->pl_len = 0;
            close_ev(&c->prog_ev, &c->prog_fd);
            return;
        }
        prog_feed(c, tmp, (size_t)n);
    }
}

static void prog_cb(evutil_socket_t fd, short what, void *arg)
{
    prog_read(arg);
}

/* The child has exited and stdout is at EOF: report, then forget it. */
static void child_complete(wk_child *c)
{
    tq_task *t = c->t;
    char tail[ERR_TAIL * 3 + 8], msg[sizeof tail + 128];
    int st = c->status;

    char etail[ERR_TAIL];
    size_t elen;

    if (c->prog_fd >= 0)
        prog_read(c); /* the last values before the outcome */
    output_keep(c, t);
    elen = ring_tail(c, etail, sizeof etail);
    tq_text_clean(tail, sizeof tail, etail, elen, 1);
    c->t = NULL;
    /* the job is over: what it left running in its group goes too (its
     * main process is reaped, so the group id cannot have been reused
     * while a member is alive) */
    if (!c->reaped_elsewhere && wk_group_alive(c->pid))
        kill(-c->pid, SIGKILL);
    tq_task_set_data(t, NULL);

    if (c->reaped_elsewhere) {
        snprintf(msg, sizeof msg,
                 "exit status unknown (the child was reaped by someone else)%s%s",
                 tail[0] ? ": " : "", tail);
        child_free(c);
        tq_task_fail(t, msg);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        json_t *r = json_loadb(c->out ? c->out : "", c->out_len,
                               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!r) {
            size_t l = c->out_len;
            char *buf;
            if (l && c->out[l - 1] == '\n')
                l--;
            buf = malloc(l * 3 + 1);
            if (buf) {
                size_t n = tq_text_clean(buf, l * 3 + 1, c->out ? c->out : "",
                                         l, 0);
                r = json_stringn(buf, n);
                free(buf);
            }
        }
        child_free(c);
        if (r)
            tq_task_succeed(t, r);
        else
            tq_task_fail(t, "out of memory reading the result");
    } else {
        if (WIFSIGNALED(st))
            snprintf(msg, sizeof msg, "killed by signal %d (%s)%s%s",
                     WTERMSIG(st), sig_name(WTERMSIG(st)), tail[0] ? ": " : "",
                     tail);
        else
            snprintf(msg, sizeof msg, "exit status %d%s%s", WEXITSTATUS(st),
                     tail[0] ? ": " : "", tail);
        child_free(c);
        tq_task_fail(t, msg);
    }
}

/* Decides what a child's record waits for next. */
static void child_check(wk_child *c)
{
    if (c->t) {
        if (c->exited && c->out_eof)
            child_complete(c);
        return;
    }
    /* in the reaper: gone when reaped and nothing of its group is left (or
     * the group got SIGKILL, which nothing survives) */
    if (c->exited && (c->sigkilled || !wk_group_alive(c->pid)))
        child_free(c);
}

/* Cuts a child loose from its task: pipes closed, the group signalled. */
static void child_detach(wk_child *c, int sig)
{
    tq_worker *w = c->w;

    if (c->t)
        tq_task_set_data(c->t, NULL);
    c->t = NULL;
    close_ev(&c->in_ev, &c->in_fd);
    close_ev(&c->out_ev, &c->out_fd);
    close_ev(&c->err_ev, &c->err_fd);
    close_ev(&c->prog_ev, &c->prog_fd);
    if (c->chunk_ev)
        evtimer_del(c->chunk_ev);
    if (sig == SIGKILL || w->o.kill_grace_ms <= 0) {
        kill(-c->pid, SIGKILL);
        c->sigkilled = 1;
    } else {
        struct timeval tv = {(time_t)(w->o.kill_grace_ms / 1000),
                             (suseconds_t)(w->o.kill_grace_ms % 1000) * 1000};
        kill(-c->pid, sig);
        if (c->kill_ev)
            evtimer_add(c->kill_ev, &tv);
    }
}

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
    wk_child *c = arg;

    if (wk_group_alive(c->pid))
        kill(-c->pid, SIGKILL);
    c->sigkilled = 1;
    child_check(c);
}

/* reap_orphans: every child that has exited and is not one we started (the
 * loop above took those) is an orphan a job left, reparented to us as the
 * subreaper: reap it. waitid(WNOWAIT) looks without reaping, so a job's
 * child that exited just now is left to the next SIGCHLD pass. */
static void reap_orphans(tq_worker *w)
{
    int guard;

    for (guard = 0; guard < 10000; guard++) {
        siginfo_t si;
        wk_child *c;
        int st;

        memset(&si, 0, sizeof si);
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            si.si_pid == 0)
            return;
        if (wk_proc_watched(w, si.si_pid))
            return; /* a task server's: wk_proc_reap takes it */
        for (c = w->ex.children; c; c = c->next)
            if (c->pid == si.si_pid)
                break;
        if (c) {
            if (c->exited) /* cannot be: reaped already */
                return;
            /* ours, exited since the loop above: take it as that loop does */
            if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
                c->exited = 1;
                c->status = st;
                if (c->t && !c->out_eof && c->eof_ev) {
                    struct timeval tv = {0, WK_PIPE_GRACE_MS * 1000};
                    evtimer_add(c->eof_ev, &tv);
                }
                child_check(c);
            }
            continue;
        }
        if (waitpid(si.si_pid, &st, WNOHANG) <= 0)
            return;
        wk_log(w, TQ_LOG_DEBUG, NULL, "reaped orphan process %ld",
               (long)si.si_pid);
    }
}

static void sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;
    wk_child *c, *next;

    for (c = w->ex.children; c; c = next) {
        int st = 0;
        pid_t r;
        next = c->next;
        if (c->exited)
            continue;
        do
            r = waitpid(c->pid, &st, WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r == c->pid) {
            c->exited = 1;
            c->status = st;
        } else if (r < 0 && errno == ECHILD) {
            c->exited = 1;
            c->reaped_elsewhere = 1;
        } else {
            continue;
        }
        if (c->t && !c->out_eof && c->eof_ev) {
            struct timeval tv = {0, WK_PIPE_GRACE_MS * 1000};
            evtimer_add(c->eof_ev, &tv);
        }
        child_check(c); /* may free c (never another child) */
    }
    wk_proc_reap(w); /* task servers (proc.c) */
    if (w->o.reap_orphans)
        reap_orphans(w);
}

/* ================================================================ pipes */

static void in_cb(evutil_socket_t fd, short what, void *arg)
{
    wk_child *c = arg;
    tq_task *t = c->t;
    ssize_t n;

    if (!t) {
        close_ev(&c->in_ev, &c->in_fd);
        return;
    }
    while (c->in_off < t->args_len) {
        n = write(c->in_fd, t->args_text + c->in_off, t->args_len - c->in_off);
        if (n > 0) {
            c->in_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* EPIPE: the child does not read its stdin; fine */
    }
    close_ev(&c->in_ev, &c->in_fd); /* EOF */
}

/* Reads one chunk of stdout. Returns 0 when more may come, 1 when stdout
 * is done with (EOF, or over the limit; c may have been freed). After the
 * grace (grace_over), "nothing now" counts as EOF. */
static int out_read(wk_child *c)
{
    tq_worker *w = c->w;
    size_t max = w->o.max_result;
    ssize_t n;

    if (c->out_cap - c->out_len < 65536) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 65536;
        char *p;
        if (cap > max + 65536)
            cap = max + 65536;
        if (cap < c->out_len + 4096)
            cap = c->out_len + 4096;
        p = realloc(c->out, cap);
        if (!p) {
            tq_task *t = c->t;
            child_detach(c, SIGKILL);
            tq_task_fail(t, "out of memory reading the result");
            return 1;
        }
        c->out = p;
        c->out_cap = cap;
    }
    do
        n = read(c->out_fd, c->out + c->out_len, c->out_cap - c->out_len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !c->grace_over)
        return 0;
    if (n <= 0) {
        close_ev(&c->out_ev, &c->out_fd);
        c->out_eof = 1;
        child_check(c);
        return 1;
    }
    c->out_len += (size_t)n;
    if (c->out_len > max) {
        tq_task *t = c->t;
        char msg[96];
        child_detach(c, SIGKILL);
        snprintf(msg, sizeof msg, "result exceeds --max-result (%zu bytes)",
                 max);
        if (c->exited)
            child_free(c);
        tq_task_fail(t, msg);
        return 1;
    }
    return 0;
}

static void out_cb(evutil_socket_t fd, short what, void *arg)
{
    out_read(arg);
}

/* The child exited WK_PIPE_GRACE_MS ago and stdout is still open: a process
 * it started holds it. Take what is there and complete the task. */
static void eof_cb(evutil_socket_t fd, short what, void *arg)
{
    wk_child *c = arg;

    if (!c->t || c->out_eof)
        return;
    c->grace_over = 1;
    while (out_read(c) == 0)
        ;
}

static void err_cb(evutil_socket_t fd, short what, void *arg)
{
    wk_child *c = arg;

    if (err_read(c))
        close_ev(&c->err_ev, &c->err_fd);
}

/* ================================================================ start, stop */

int wk_exec_watch(tq_worker *w)
{
    if (w->ex.sigchld_ev)
        return 0;
    w->ex.sigchld_ev = evsignal_new(w->base, SIGCHLD, sigchld_cb, w);
    if (!w->ex.sigchld_ev)
        return -1;
    if (evsignal_add(w->ex.sigchld_ev, NULL) != 0) {
        event_free(w->ex.sigchld_ev);
        w->ex.sigchld_ev = NULL;
        return -1;
    }
    return 0;
}

/* Moves *fd off the number n (the child's TQ_PROGRESS_FD): a dup2 onto
 * the same number would leave close-on-exec set. */
static int fd_not(int *fd, int n)
{
    int nfd;

    if (*fd != n)
        return 0;
    nfd = fcntl(*fd, F_DUPFD_CLOEXEC, n + 1);
    if (nfd < 0)
        return -1;
    close(*fd);
    *fd = nfd;
    return 0;
}

/* The worker's environment (wk_proc_env) plus the TQ_* variables of this
 * job. One allocation (free it). */
static char **build_env(tq_task *t)
{
    char vars[6][TQ_NAME_MAX + 64], dl[40] = "";
    const char *extra[7];
    int i;

    if (tq_task_deadline(t) > 0)
        snprintf(dl, sizeof dl, "%.3f", tq_task_deadline(t));
    snprintf(vars[0], sizeof vars[0], "TQ_JOB_ID=%s", t->id);
    snprintf(vars[1], sizeof vars[1], "TQ_TASK=%s", t->name);
    snprintf(vars[2], sizeof vars[2], "TQ_QUEUE=%s", tq_task_queue(t));
    snprintf(vars[3], sizeof vars[3], "TQ_ATTEMPT=%d", tq_task_attempt(t));
    snprintf(vars[4], sizeof vars[4], "TQ_DEADLINE=%s", dl);
    snprintf(vars[5], sizeof vars[5], "TQ_PROGRESS_FD=%d", PROG_FD);
    for (i = 0; i < 6; i++)
        extra[i] = vars[i];
    extra[6] = NULL;
    return wk_proc_env(t->w, extra);
}

/* --cgroup: fork, and in the child enter the cgroup (cgfd: its
 * cgroup.procs) before anything else, so every process the job starts is in
 * it; then what posix_spawnp does for us otherwise: own process group,
 * default signals, empty mask, pipes on 0..2, exec through PATH. Only
 * async-signal-safe calls in the child. Returns 0 or an errno value. */
static int fork_in_cgroup(pid_t *pid, char **argv, char **env, int cgfd,
                          int in, int out, int err, int prog)
{
    sigset_t none, all, old;
    pid_t p;
    int sig;

    sigfillset(&all);
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* no handler runs in the child */
    p = fork();
    if (p < 0) {
        int e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return e;
    }
    if (p == 0) {
        static const char nocg[] = "tq-worker: cannot enter the job's cgroup\n";
        static const char noexec[] = "tq-worker: exec failed\n";
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        if (write(cgfd, "0", 1) != 1) {
            if (write(2, nocg, sizeof nocg - 1) < 0)
                _exit(127);
            _exit(127);
        }
        if (dup2(prog, PROG_FD) < 0) /* after the write: cgfd may be PROG_FD */
            _exit(127);
        setpgid(0, 0);
        for (sig = 1; sig < NSIG; sig++)
            signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvpe(argv[0], argv, env);
        if (write(2, noexec, sizeof noexec - 1) < 0)
            _exit(127);
        _exit(127);
    }
    setpgid(p, p); /* also here: no window where the group does not exist */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    *pid = p;
    return 0;
}

static void exec_run(tq_task *t, void *ud)
{
    wk_exec_spec *s = ud;
    tq_worker *w = tq_task_worker(t);
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1},
        prog[2] = {-1, -1}, rc, i;
    char **env = NULL, msg[512];
    wk_child *c = NULL;
    pid_t pid;

    if ((rc = wk_proc_find(s->argv[0])) != 0) {
        snprintf(msg, sizeof msg, "cannot run '%s': %s", s->argv[0],
                 strerror(rc));
        tq_task_fail(t, msg);
        return;
    }
    if (wk_exec_watch(w) != 0) {
        tq_task_fail(t, "cannot watch child processes (SIGCHLD)");
        return;
    }
    c = calloc(1, sizeof *c);
    env = build_env(t);
    if (!c || !env) {
        snprintf(msg, sizeof msg, "out of memory starting '%s'", s->argv[0]);
        goto fail;
    }
    c->in_fd = c->out_fd = c->err_fd = c->prog_fd = -1;
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(err, O_CLOEXEC) != 0 || pipe2(prog, O_CLOEXEC) != 0 ||
        wk_fd_high(&in[0]) || wk_fd_high(&in[1]) ||
        wk_fd_high(&out[0]) || wk_fd_high(&out[1]) || wk_fd_high(&err[0]) ||
        wk_fd_high(&err[1]) || wk_fd_high(&prog[0]) || wk_fd_high(&prog[1]) ||
        fd_not(&prog[1], PROG_FD) || wk_fd_nonblock(in[1]) || wk_fd_nonblock(out[0]) ||
        wk_fd_nonblock(err[0]) || wk_fd_nonblock(prog[0])) {
        snprintf(msg, sizeof msg, "cannot create pipes for '%s': %s",
                 s->argv[0], strerror(errno));
        goto fail;
    }

    if (w->cgroup_dir) {
        int cgfd = -1;
        rc = wk_cgroup_create(w, t->id, t->tok, &c->cg, &cgfd);
        if (rc != 0) {
            snprintf(msg, sizeof msg, "cannot make a cgroup under %s: %s",
                     w->cgroup_dir, strerror(-rc));
            goto fail;
        }
        rc = fork_in_cgroup(&pid, s->argv, env, cgfd, in[0], out[1], err[1],
                            prog[1]);
        close(cgfd);
        goto spawned;
    }
    {
        /* prog[1] is not PROG_FD (fd_not), so dup2 clears close-on-exec */
        int fds[4] = {in[0], out[1], err[1], prog[1]};
        rc = wk_proc_spawn(&pid, s->argv, env, fds, 4);
    }
spawned:
    free(env);
    env = NULL;
    close(in[0]);
    close(out[1]);
    close(err[1]);
    close(prog[1]);
    in[0] = out[1] = err[1] = prog[1] = -1;
    if (rc != 0) {
        snprintf(msg, sizeof msg, "cannot run '%s': %s", s->argv[0],
                 strerror(rc));
        goto fail;
    }

    c->w = w;
    c->t = t;
    c->pid = pid;
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = err[0];
    c->prog_fd = prog[0];
    c->next = w->ex.children;
    if (w->ex.children)
        w->ex.children->prev = c;
    w->ex.children = c;
    c->in_ev = event_new(w->base, c->in_fd, EV_WRITE | EV_PERSIST, in_cb, c);
    c->out_ev = event_new(w->base, c->out_fd, EV_READ | EV_PERSIST, out_cb, c);
    c->err_ev = event_new(w->base, c->err_fd, EV_READ | EV_PERSIST, err_cb, c);
    c->kill_ev = evtimer_new(w->base, kill_cb, c);
    c->eof_ev = evtimer_new(w->base, eof_cb, c);
    c->chunk_ev = evtimer_new(w->base, chunk_cb, c);
    c->prog_ev = event_new(w->base, c->prog_fd, EV_READ | EV_PERSIST, prog_cb, c);
    tq_task_set_data(t, c);
    if (!c->in_ev || !c->out_ev || !c->err_ev || !c->kill_ev || !c->eof_ev ||
        !c->chunk_ev || !c->prog_ev) {
        child_detach(c, SIGKILL);
        tq_task_fail(t, "out of memory watching the child");
        return;
    }
    event_add(c->in_ev, NULL);
    event_add(c->out_ev, NULL);
    event_add(c->err_ev, NULL);
    event_add(c->prog_ev, NULL);
    return;

fail:
    for (i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
        if (prog[i] >= 0)
            close(prog[i]);
    }
    free(env);
    if (c)
        wk_cgroup_end(w, c->cg);
    free(c);
    tq_task_fail(t, msg);
}

static void exec_stop(tq_task *t, tq_stop_reason why, void *ud)
{
    wk_child *c = tq_task_data(t);

    if (!c)
        return;
    if (why != TQ_STOP_LOST) /* its stderr is kept with the outcome too */
        output_keep(c, t);
    child_detach(c, SIGTERM);
    child_check(c);
}

/* ================================================================ shutdown */

size_t wk_exec_reaping(const tq_worker *w)
{
    size_t n = 0;
    const wk_child *c;

    for (c = w->ex.children; c; c = c->next)
        n++;
    return n;
}

void wk_exec_finish(tq_worker *w)
{
    while (w->ex.children) {
        wk_child *c = w->ex.children;
        if (c->t) {
            tq_task_set_data(c->t, NULL);
            c->t = NULL;
        }
        if (!c->sigkilled && (!c->exited || wk_group_alive(c->pid)))
            kill(-c->pid, SIGKILL);
        if (!c->exited) {
            int st;
            /* SIGKILL is usually reaped at once; if not, init will be */
            if (waitpid(c->pid, &st, WNOHANG) == 0) {
                usleep(1000);
                waitpid(c->pid, &st, WNOHANG);
            }
        }
        child_free(c);
    }
    wk_proc_unwatch_all(w);
    if (w->ex.sigchld_ev) {
        event_free(w->ex.sigchld_ev);
        w->ex.sigchld_ev = NULL;
    }
}
