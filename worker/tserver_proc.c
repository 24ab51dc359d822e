/* tserver_proc.c -- a task server's process: its life, and the JSON lines
 * it is sent and answers (SPEC §13; the protocol is docs/task-servers.md;
 * the pool, its jobs and their dispatch are tserver.c's).
 *
 * The one idea: nothing here ever waits. Both pipes are non-blocking and
 * watched by events on the worker's loop; what a process does not read yet
 * waits in an evbuffer (bounded: at most M jobs and their cancels per
 * process), what it writes is cut into lines as it comes (at most
 * --max-result bytes a line) and each answer goes to its job.
 *
 * A process's life: started (own process group, the worker's environment
 * minus its secrets, stderr inherited) -> hello sent -> READY once it
 * answers {"hello":1} within --server-start-timeout -> ... -> DYING (it
 * exited, closed stdout, broke the protocol or ignored a cancel: its jobs
 * fail, SIGTERM then SIGKILL after --kill-grace) -> reaped by exec.c's
 * SIGCHLD handler (proc.c's watch) -> restarted after a backoff of 100 ms
 * doubling to 30 s, reset once it ran 60 s.
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

#include "worker/tserver_private.h"

#define TS_BACKOFF_MIN_MS 100
#define TS_BACKOFF_MAX_MS 30000
#define TS_BACKOFF_RESET_MS 60000   /* ran this long: the next restart is quick */
#define TS_EOF_GRACE_MS 300         /* stdout closed: the exit status may follow */
#define TS_READ_CHUNK 65536
#define TS_READS_PER_TURN 16        /* then back to the loop (fairness) */
#define TS_BAD_LOG_MS 1000          /* bad lines: at most TS_BAD_BURST log */
#define TS_BAD_BURST 10             /* lines per process per TS_BAD_LOG_MS */

static void eof_seen(ts_proc *p);
static void out_cb(evutil_socket_t fd, short what, void *arg);
static void set_state(ts_proc *p, enum ts_state st);

/* ================================================================ small things */


/* Appends s as a JSON string (quoted, escaped). */
static int add_jstr(struct evbuffer *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;

    if (evbuffer_add(b, "\"", 1) != 0)
        return -1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (s > run && evbuffer_add(b, run, (size_t)(s - run)) != 0)
            return -1;
        esc[0] = '\\';
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            if (evbuffer_add(b, esc, 2) != 0)
                return -1;
        } else {
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            if (evbuffer_add(b, esc, 6) != 0)
                return -1;
        }
        run = s + 1;
    }
    if (s > run && evbuffer_add(b, run, (size_t)(s - run)) != 0)
        return -1;
    return evbuffer_add(b, "\"", 1);
}

/* A bad line from p: logged (at most TS_BAD_BURST lines per process per
 * TS_BAD_LOG_MS, the next one saying how many were kept quiet), then
 * dropped. */
static void bad_line(ts_proc *p, const char *what)
{
    double now = tq_mono_ms();

    if (now - p->bad_at >= TS_BAD_LOG_MS) {
        p->bad_at = now;
        p->bad_n = 0;
    }
    if (p->bad_n >= TS_BAD_BURST) {
        p->bad_quiet++;
        return;
    }
    p->bad_n++;
    if (p->bad_quiet)
        wk_log(p->s->w, TQ_LOG_WARN, NULL,
               "task server %s (pid %ld): bad line dropped: %s (and %lu "
               "earlier bad lines not logged)", p->s->names, (long)p->pid,
               what, p->bad_quiet);
    else
        wk_log(p->s->w, TQ_LOG_WARN, NULL,
               "task server %s (pid %ld): bad line dropped: %s", p->s->names,
               (long)p->pid, what);
    p->bad_quiet = 0;
}

/* ================================================================ writing */

static void in_flush(ts_proc *p)
{
    while (p->in_fd >= 0 && evbuffer_get_length(p->inb) > 0) {
        int n = evbuffer_write(p->inb, p->in_fd);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(p->in_ev, NULL);
            return;
        }
        /* EPIPE: it closed its stdin; what it says on stdout decides */
        evbuffer_drain(p->inb, evbuffer_get_length(p->inb));
        break;
    }
    if (p->in_ev)
        event_del(p->in_ev);
    if (p->close_in && p->in_fd >= 0) {
        event_free(p->in_ev);
        p->in_ev = NULL;
        close(p->in_fd);
        p->in_fd = -1;
    }
}

static void in_cb(evutil_socket_t fd, short what, void *arg)
{
    in_flush(arg);
}

/* The lines appended to p->inb go out when the pipe is writable: on the
 * next loop turn, so the jobs of one claim (and their cancels) leave in one
 * write, not one each. */
static void out_later(ts_proc *p)
{
    if (p->in_fd >= 0 && p->in_ev && !event_pending(p->in_ev, EV_WRITE, NULL))
        event_add(p->in_ev, NULL);
}

/* Appends j's line to p->inb. Memory running out mid-line leaves a broken
 * line there: the process is taken down (its jobs are retried). */
void wk_ts_proc_send_job(ts_proc *p, ts_job *j)
{
    tq_task *t = j->t;
    struct evbuffer *b = p->inb;
    int ok;

    if (p->in_fd < 0)
        return; /* its stdin is closed: the process is going */
    ok = evbuffer_add(b, "{\"id\":", 6) == 0 && add_jstr(b, t->id) == 0 &&
         evbuffer_add(b, ",\"task\":", 8) == 0 && add_jstr(b, t->name) == 0 &&
         evbuffer_add(b, ",\"args\":", 8) == 0 &&
         evbuffer_add(b, t->args_text, t->args_len) == 0 &&
         evbuffer_add_printf(b, ",\"attempt\":%d,\"deadline\":", t->attempt) > 0 &&
         (t->deadline > 0 ? evbuffer_add_printf(b, "%.3f", t->deadline) > 0
                          : evbuffer_add(b, "null", 4) == 0) &&
         evbuffer_add(b, ",\"queue\":", 9) == 0 &&
         add_jstr(b, tq_task_queue(t)) == 0 && evbuffer_add(b, "}\n", 2) == 0;
    if (!ok) {
        wk_ts_proc_down(p, "task server died (worker out of memory)");
        return;
    }
    out_later(p);
}

static const char *reason_word(tq_stop_reason why)
{
    switch (why) {
    case TQ_STOP_TIMEOUT: return "timeout";
    case TQ_STOP_CANCELLED: return "cancelled";
    case TQ_STOP_LOST: return "lost";
    case TQ_STOP_SHUTDOWN:
    default: return "shutdown";
    }
}

int wk_ts_proc_send_cancel(ts_proc *p, ts_job *j, tq_stop_reason why)
{
    struct evbuffer *b = p->inb;

    if (p->in_fd < 0)
        return 0; /* its stdin is closed: the process is going */
    if (evbuffer_add(b, "{\"cancel\":", 10) != 0 || add_jstr(b, j->id) != 0 ||
        evbuffer_add_printf(b, ",\"reason\":\"%s\"}\n", reason_word(why)) < 0)
        return -1;
    out_later(p);
    return 0;
}

/* ================================================================ reading */

/* The id at the start of a line over the limit, when it is the first key:
 * {"id": "ID". Copies it into id (size n); 0, or -1 when it is not there. */
int wk_tserver_line_id(const char *p, size_t len, char *id, size_t n)
{
    const char *e = p + len, *st;

#define SKIPWS() while (p < e && (*p == ' ' || *p == '\t' || *p == '\r')) p++
    SKIPWS();
    if (p >= e || *p++ != '{')
        return -1;
    SKIPWS();
    if (e - p < 4 || memcmp(p, "\"id\"", 4) != 0)
        return -1;
    p += 4;
    SKIPWS();
    if (p >= e || *p++ != ':')
        return -1;
    SKIPWS();
    if (p >= e || *p++ != '"')
        return -1;
    st = p;
    while (p < e && *p != '"' && *p != '\\')
        p++;
    if (p >= e || *p != '"' || p == st || (size_t)(p - st) >= n)
        return -1;
#undef SKIPWS
    memcpy(id, st, (size_t)(p - st));
    id[p - st] = '\0';
    return 0;
}

/* A line that went over --max-result: if its id can be read from its start,
 * that job fails. */
static void long_line(ts_proc *p, const char *start, size_t len)
{
    char id[TQ_ID_SIZE + 8], msg[96];
    ts_job *j;

    bad_line(p, "a line over --max-result");
    if (wk_tserver_line_id(start, len, id, sizeof id) != 0 ||
        !(j = wk_ts_job_find(p, id)))
        return;
    wk_ts_job_unlink(j);
    if (j->t) {
        tq_task *t = j->t;
        tq_task_set_data(t, NULL);
        wk_ts_job_free(j);
        snprintf(msg, sizeof msg, "result over --max-result (%zu bytes)",
                 p->s->w->o.max_result);
        tq_task_fail(t, msg);
    } else {
        wk_ts_job_free(j);
    }
    wk_ts_dispatch(p->s);
}

static void hello_line(ts_proc *p, json_t *o)
{
    json_t *v = json_object_get(o, "hello");
    ts_server *s = p->s;

    if (!json_is_integer(v)) {
        bad_line(p, "expected {\"hello\": VERSION} first");
        return;
    }
    if (json_integer_value(v) < 1 || json_integer_value(v) > TS_PROTOCOL) {
        char why[160];
        wk_log(s->w, TQ_LOG_ERROR, NULL,
               "task server %s (pid %ld): speaks protocol version %lld; this "
               "worker speaks 1..%d", s->names, (long)p->pid,
               (long long)json_integer_value(v), TS_PROTOCOL);
        snprintf(why, sizeof why, "task server speaks an unknown protocol");
        wk_ts_proc_down(p, why);
        return;
    }
    evtimer_del(p->timer);
    p->st = TS_READY;
    p->ready_at = tq_mono_ms();
    s->w->ts->up++;
    wk_log(s->w, TQ_LOG_INFO, NULL, "task server %s (pid %ld): ready",
           s->names, (long)p->pid);
    wk_ts_first_start_over(s);
    wk_ts_dispatch(s);
}

/* One whole line from p (without its newline). */
static void line_in(ts_proc *p, const char *line, size_t len)
{
    json_error_t e;
    json_t *o, *v, *idv;
    ts_job *j;
    tq_task *t;

    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return; /* an empty line says nothing */
    o = json_loadb(line, len, 0, &e);
    if (!o || !json_is_object(o)) {
        bad_line(p, o ? "not an object" : "not JSON");
        json_decref(o);
        return;
    }
    if (p->st == TS_HELLO) {
        hello_line(p, o);
        json_decref(o);
        return;
    }
    idv = json_object_get(o, "id");
    if (!json_is_string(idv)) {
        bad_line(p, json_object_get(o, "hello") ? "a second hello"
                                                 : "no \"id\" string");
        json_decref(o);
        return;
    }
    if (!(j = wk_ts_job_find(p, json_string_value(idv)))) {
        bad_line(p, "unknown id (or a job answered already)");
        json_decref(o);
        return;
    }
    t = j->t;
    if ((v = json_object_get(o, "result")) || json_object_get(o, "error")) {
        wk_ts_job_unlink(j);
        if (!t) {               /* the answer to a cancel: expected, ignored */
            wk_ts_job_free(j);
        } else {
            tq_task_set_data(t, NULL);
            wk_ts_job_free(j);
            if (v) {
                tq_task_succeed(t, json_incref(v));
            } else {
                json_t *err = json_object_get(o, "error");
                if (json_is_string(err)) {
                    tq_task_fail(t, json_string_value(err));
                } else {
                    char *s = json_dumps(err, JSON_COMPACT | JSON_ENCODE_ANY);
                    tq_task_fail(t, s ? s : "failed");
                    free(s);
                }
            }
        }
        wk_ts_dispatch(p->s);
    } else if ((v = json_object_get(o, "progress"))) {
        if (t && tq_task_progress(t, v) != 0)
            bad_line(p, "a progress value refused (over 64 KiB?)");
    } else {
        bad_line(p, "an answer with neither result, error nor progress");
    }
    json_decref(o);
}

/* Cuts n bytes read from p into lines. Stops when p's stdout was closed
 * by a line (a bad hello). */
static void feed(ts_proc *p, const char *buf, size_t n)
{
    size_t max = p->s->w->o.max_result;

    while (n > 0 && p->out_fd >= 0) {
        const char *nl = memchr(buf, '\n', n);
        size_t seg = nl ? (size_t)(nl - buf) : n;
        if (p->skipping) {
            /* dropping the rest of a long line */
        } else if (p->llen + seg > max) {
            long_line(p, p->llen ? p->line : buf, p->llen ? p->llen : seg);
            p->skipping = 1;
            p->llen = 0;
        } else if (p->llen == 0 && nl) {
            line_in(p, buf, seg); /* the whole line is here: no copy */
        } else {
            if (p->llen + seg > p->lcap) {
                size_t cap = p->lcap ? p->lcap : 4096;
                char *np;
                while (cap < p->llen + seg)
                    cap *= 2;
                if (cap > max)
                    cap = max;
                np = realloc(p->line, cap);
                if (!np) {
                    bad_line(p, "worker out of memory reading a line");
                    p->skipping = 1;
                    p->llen = 0;
                    goto next;
                }
                p->line = np;
                p->lcap = cap;
            }
            memcpy(p->line + p->llen, buf, seg);
            p->llen += seg;
            if (nl) {
                size_t l = p->llen;
                p->llen = 0;
                line_in(p, p->line, l);
            }
        }
    next:
        if (!nl)
            return;
        p->skipping = 0;
        p->llen = 0;
        buf += seg + 1;
        n -= seg + 1;
    }
}

/* Reads what p's stdout holds now (a bounded amount per turn). */
static void out_read(ts_proc *p)
{
    char buf[TS_READ_CHUNK];
    int i;

    for (i = 0; i < TS_READS_PER_TURN && p->out_fd >= 0; i++) {
        ssize_t n = read(p->out_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            eof_seen(p);
            return;
        }
        feed(p, buf, (size_t)n);
    }
}

static void out_cb(evutil_socket_t fd, short what, void *arg)
{
    out_read(arg);
}

/* ================================================================ a process's life */

static void close_pipes(ts_proc *p)
{
    if (p->in_ev) {
        event_free(p->in_ev);
        p->in_ev = NULL;
    }
    if (p->out_ev) {
        event_free(p->out_ev);
        p->out_ev = NULL;
    }
    if (p->in_fd >= 0)
        close(p->in_fd);
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->in_fd = p->out_fd = -1;
    if (p->inb)
        evbuffer_drain(p->inb, evbuffer_get_length(p->inb));
    p->llen = 0;
    p->skipping = 0;
}

/* Every job p has fails with why (stopped ones are just forgotten). */
static void fail_jobs(ts_proc *p, const char *why)
{
    while (p->jobs) {
        ts_job *j = p->jobs;
        tq_task *t = j->t;
        wk_ts_job_unlink(j);
        wk_ts_job_free(j);
        if (t) {
            tq_task_set_data(t, NULL);
            tq_task_fail(t, why);
        }
    }
}

static void set_state(ts_proc *p, enum ts_state st)
{
    if (p->st == TS_READY && st != TS_READY)
        p->s->w->ts->up--;
    p->st = st;
}

/* p goes away: its jobs fail with why, its pipes close, its group gets
 * SIGTERM (SIGKILL after --kill-grace); it restarts once reaped. */
void wk_ts_proc_down(ts_proc *p, const char *why)
{
    tq_worker *w = p->s->w;
    int starting = p->st == TS_HELLO;

    set_state(p, TS_DYING);
    evtimer_del(p->timer);
    close_pipes(p);
    fail_jobs(p, why);
    if (starting)
        wk_ts_fifo_fail_if_none_ready(p->s, why);
    if (p->pid > 0 && !p->exited && !p->term_sent) {
        kill(-p->pid, SIGTERM);
        p->term_sent = 1;
        tq_timer_ms(p->kill_ev, w->o.kill_grace_ms);
    }
    wk_ts_dispatch(p->s); /* other processes may take the FIFO */
}

/* EOF on stdout: the exit (and its status) usually follows at once; if it
 * does not within TS_EOF_GRACE_MS, the process is taken down. */
static void eof_seen(ts_proc *p)
{
    if (p->out_ev) {
        event_free(p->out_ev);
        p->out_ev = NULL;
    }
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->out_fd = -1;
    if (p->st != TS_DYING)
        tq_timer_ms(p->kill_ev, TS_EOF_GRACE_MS);
}

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
    ts_proc *p = arg;

    if (p->pid <= 0 || p->exited)
        return;
    if (p->st != TS_DYING) { /* EOF's grace is over */
        wk_ts_proc_down(p, "task server died (it closed its stdout)");
        return;
    }
    if (!p->term_sent) {
        kill(-p->pid, SIGTERM);
        p->term_sent = 1;
        tq_timer_ms(p->kill_ev, p->s->w->o.kill_grace_ms);
        return;
    }
    kill(-p->pid, SIGKILL);
}

static void restart_cb(evutil_socket_t fd, short what, void *arg)
{
    ts_proc *p = arg;

    if (p->st == TS_HELLO) {
        char why[200];
        wk_log(p->s->w, TQ_LOG_ERROR, NULL,
               "task server %s (pid %ld): no hello within "
               "--server-start-timeout (%.1f s): killing it", p->s->names,
               (long)p->pid, (double)p->s->start_ms / 1000.0);
        snprintf(why, sizeof why, "task server did not start");
        wk_ts_proc_down(p, why);
        return;
    }
    if (p->st == TS_DOWN && !p->s->w->ts->stopping) {
        p->s->w->ts->restarts++;
        wk_ts_proc_start(p);
    }
}

static void status_text(char *buf, size_t n, int st)
{
    if (st < 0)
        snprintf(buf, n, "status unknown");
    else if (WIFEXITED(st))
        snprintf(buf, n, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, n, "status %d", st);
}

/* proc.c's watch: p's process was reaped. */
static void exited_cb(void *ud, pid_t pid, int status)
{
    ts_proc *p = ud;
    ts_server *s = p->s;
    tq_worker *w = s->w;
    char st[64], why[128];
    double ran;

    status_text(st, sizeof st, status);
    p->exited = 1;
    if (p->st != TS_DYING) {
        /* answers written before it died still count */
        if (p->out_fd >= 0)
            out_read(p);
        snprintf(why, sizeof why, "task server exited (%s)", st);
        if (p->st != TS_DYING)
            wk_ts_proc_down(p, why);
    }
    fail_jobs(p, "task server exited"); /* stopped ones waiting: forgotten */
    close_pipes(p);
    evtimer_del(p->kill_ev);
    if (status >= 0 && wk_group_alive(pid))
        kill(-pid, SIGKILL); /* what it left in its group goes too */
    ran = p->ready_at > 0 ? tq_mono_ms() - p->ready_at : 0;
    set_state(p, TS_DOWN);
    p->pid = 0;
    if (w->ts->stopping) {
        wk_log(w, TQ_LOG_DEBUG, NULL, "task server %s (pid %ld): %s",
               s->names, (long)pid, st);
        wk_kick(w); /* the shutdown may wait for it */
        return;
    }
    if (ran >= TS_BACKOFF_RESET_MS || p->backoff_ms <= 0)
        p->backoff_ms = TS_BACKOFF_MIN_MS;
    else if ((p->backoff_ms *= 2) > TS_BACKOFF_MAX_MS)
        p->backoff_ms = TS_BACKOFF_MAX_MS;
    wk_log(w, TQ_LOG_WARN, NULL,
           "task server %s (pid %ld): %s; restarting in %.1f s", s->names,
           (long)pid, st, (double)p->backoff_ms / 1000.0);
    tq_timer_ms(p->timer, p->backoff_ms);
}

/* Starts p's process and sends the hello. A failure is logged and retried
 * with the backoff. */
void wk_ts_proc_start(ts_proc *p)
{
    ts_server *s = p->s;
    tq_worker *w = s->w;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, rc, fds[2];
    char v_proto[40], v_tasks[64 + 4096], v_infl[48], **env = NULL;
    const char *extra[4];
    pid_t pid;

    p->exited = 0;
    p->term_sent = 0;
    p->close_in = 0;
    p->ready_at = 0;
    snprintf(v_proto, sizeof v_proto, "TQ_SERVER_PROTOCOL=%d", TS_PROTOCOL);
    snprintf(v_tasks, sizeof v_tasks, "TQ_SERVER_TASKS=%s", s->names);
    snprintf(v_infl, sizeof v_infl, "TQ_SERVER_INFLIGHT=%d", s->inflight);
    extra[0] = v_proto;
    extra[1] = v_tasks;
    extra[2] = v_infl;
    extra[3] = NULL;
    if ((rc = wk_proc_find(s->argv[0])) != 0)
        goto fail;
    if (wk_exec_watch(w) != 0) {
        rc = EAGAIN;
        goto fail;
    }
    env = wk_proc_env(w, extra);
    if (!env) {
        rc = ENOMEM;
        goto fail;
    }
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
        wk_fd_high(&in[0]) || wk_fd_high(&in[1]) || wk_fd_high(&out[0]) ||
        wk_fd_high(&out[1]) || wk_fd_nonblock(in[1]) ||
        wk_fd_nonblock(out[0])) {
        rc = errno;
        goto fail;
    }
    fds[0] = in[0];
    fds[1] = out[1];
    rc = wk_proc_spawn(&pid, s->argv, env, fds, 2);
    free(env);
    env = NULL;
    close(in[0]);
    close(out[1]);
    in[0] = out[1] = -1;
    if (rc != 0)
        goto fail;
    if (wk_proc_watch(w, pid, exited_cb, p) != 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        rc = ENOMEM;
        goto fail;
    }
    p->pid = pid;
    p->in_fd = in[1];
    p->out_fd = out[0];
    p->in_ev = event_new(w->base, p->in_fd, EV_WRITE | EV_PERSIST, in_cb, p);
    p->out_ev = event_new(w->base, p->out_fd, EV_READ | EV_PERSIST, out_cb, p);
    set_state(p, TS_HELLO);
    if (!p->in_ev || !p->out_ev) {
        wk_ts_proc_down(p, "worker out of memory");
        return;
    }
    event_add(p->out_ev, NULL);
    evbuffer_add(p->inb, s->hello, strlen(s->hello));
    in_flush(p);
    tq_timer_ms(p->timer, s->start_ms);
    wk_log(w, TQ_LOG_INFO, NULL, "task server %s: process %ld started (%s)",
           s->names, (long)pid, s->argv[0]);
    return;

fail:
    if (in[0] >= 0)
        close(in[0]);
    if (in[1] >= 0)
        close(in[1]);
    if (out[0] >= 0)
        close(out[0]);
    if (out[1] >= 0)
        close(out[1]);
    free(env);
    if (p->backoff_ms <= 0)
        p->backoff_ms = TS_BACKOFF_MIN_MS;
    else if ((p->backoff_ms *= 2) > TS_BACKOFF_MAX_MS)
        p->backoff_ms = TS_BACKOFF_MAX_MS;
    wk_log(w, TQ_LOG_ERROR, NULL,
           "task server %s: cannot start '%s': %s; retrying in %.1f s",
           s->names, s->argv[0], strerror(rc), (double)p->backoff_ms / 1000.0);
    set_state(p, TS_DOWN);
    tq_timer_ms(p->timer, p->backoff_ms);
    wk_ts_fifo_fail_if_none_ready(s, "it cannot be started");
}


/* ================================================================ the pool's calls */

int wk_ts_proc_init(ts_proc *p, ts_server *s)
{
    p->s = s;
    p->in_fd = p->out_fd = -1;
    p->timer = evtimer_new(s->w->base, restart_cb, p);
    p->kill_ev = evtimer_new(s->w->base, kill_cb, p);
    p->inb = evbuffer_new();
    return p->timer && p->kill_ev && p->inb ? 0 : -1;
}

void wk_ts_proc_free(ts_proc *p)
{
    if (!p->s)
        return; /* never initialised */
    while (p->jobs) {
        ts_job *j = p->jobs;
        wk_ts_job_unlink(j);
        if (j->t)
            tq_task_set_data(j->t, NULL);
        wk_ts_job_free(j);
    }
    close_pipes(p);
    if (p->timer)
        event_free(p->timer);
    if (p->kill_ev)
        event_free(p->kill_ev);
    if (p->inb)
        evbuffer_free(p->inb);
    free(p->line);
}

/* No more restarts; stdin is closed once what waits for it (cancel lines)
 * is written, so a well-behaved server exits; SIGTERM after --kill-grace,
 * SIGKILL after another. */
void wk_ts_proc_stop(ts_proc *p)
{
    evtimer_del(p->timer);
    if (p->pid <= 0) {
        set_state(p, TS_DOWN);
        return;
    }
    if (p->st != TS_DYING) {
        set_state(p, TS_DYING);
        p->close_in = 1;
        in_flush(p);
        tq_timer_ms(p->kill_ev, p->s->w->o.kill_grace_ms);
    }
}

void wk_ts_proc_kill(ts_proc *p)
{
    evtimer_del(p->timer);
    evtimer_del(p->kill_ev);
    close_pipes(p);
    if (p->pid > 0) {
        int st;
        kill(-p->pid, SIGKILL);
        if (waitpid(p->pid, &st, WNOHANG) == 0) {
            usleep(1000);
            waitpid(p->pid, &st, WNOHANG);
        }
        wk_proc_unwatch(p->s->w, p->pid);
        p->pid = 0;
    }
    set_state(p, TS_DOWN);
}
