/* metrics.c -- the Prometheus endpoint of a worker (tq-worker --metrics).
 *
 * Two halves that never wait on each other. Counting happens where a job's
 * outcome is logged and where it is handed to its handler, into tables sized
 * once (a counter per queue, task and outcome; two histograms): an addition,
 * no allocation after a task name's first outcome. Serving is an evhttp
 * server on the worker's own event_base: a scrape is one loop callback that
 * formats the tables into an evbuffer and hands it to evhttp, which writes it
 * whenever the client reads. A slow, silent or hostile client holds one
 * connection until MX_TIMEOUT_S runs out, never the loop.
 *
 * Task names come from job records, so anyone who can submit picks them.
 * The tasks this worker has handlers for (the operator's list) always get
 * series of their own; of the other names (unknown tasks, corrupt records)
 * the first MX_TASKS_MAX do, and the rest are counted under task="other".
 * That bounds memory and the scrape, and junk names never push out the
 * real tasks.
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "worker/worker_private.h"

#define MX_TASKS_MAX 200     /* label values of tasks without a handler; then "other" */
#define MX_LABEL_MAX 256     /* bytes of a task name kept in its label */
#define MX_TIMEOUT_S 5       /* an HTTP connection idle this long is closed */
#define MX_HEADERS_MAX 8192
#define MX_BODY_MAX 1024
#define MX_NB 11             /* finite histogram buckets */

static const double bounds[MX_NB] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                     1, 5, 10, 60, 300};
static const char *const bound_text[MX_NB] = {
    "0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "60", "300"};

typedef struct mx_hist {
    uint64_t n[MX_NB + 1];   /* per bucket, not cumulative; [MX_NB] = +Inf */
    uint64_t count;
    double sum;
} mx_hist;

/* A task label value and its counters: n[queue index * MX_NOUT + outcome]. */
typedef struct mx_task {
    char *name;              /* as the jobs name it (the lookup key) */
    char *label;             /* escaped for the text format */
    uint64_t *n;
} mx_task;

struct wk_metrics {
    char *addr;              /* HOST:PORT as given */
    char *host;              /* "" = every interface */
    char port[8];
    struct evhttp *http;     /* NULL when not serving */
    size_t nq;
    char **qlabel;           /* escaped queue names */
    mx_task *tasks;          /* in order of first outcome */
    size_t ntasks, cap;
    size_t nunknown;         /* entries of names without a handler */
    tq_map *index;           /* name -> index + 1 into tasks (as a pointer) */
    mx_hist dur, wait;
};

/* ================================================================ labels */

/* A label value in the text format: valid UTF-8 with backslash, double quote
 * and newline escaped. Returns a malloc'd string (NULL: out of memory). */
static char *label_escape(const char *s, size_t len)
{
    char clean[MX_LABEL_MAX * 3 + 1];
    char *out, *o;
    size_t n, i;

    if (len > MX_LABEL_MAX)
        len = MX_LABEL_MAX;
    n = tq_text_clean(clean, sizeof clean, s, len, 0);
    out = malloc(2 * n + 1);
    if (!out)
        return NULL;
    for (o = out, i = 0; i < n; i++) {
        char c = clean[i];
        if (c == '\\' || c == '"') {
            *o++ = '\\';
            *o++ = c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else {
            *o++ = c;
        }
    }
    *o = '\0';
    return out;
}

/* Room for one more entry. Returns 0 or TQ_ENOMEM (nothing changed). */
static int tasks_reserve(wk_metrics *m)
{
    if (m->ntasks == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        mx_task *t = realloc(m->tasks, cap * sizeof *t);
        if (!t)
            return TQ_ENOMEM;
        m->tasks = t;
        m->cap = cap;
    }
    if (!m->index && !(m->index = tq_map_new()))
        return TQ_ENOMEM;
    return 0;
}

/* The entry of a task name, made on its first outcome. A name without a
 * handler (known 0) beyond the first MX_TASKS_MAX of them gets the entry
 * "other". NULL only when memory ran out. */
static mx_task *task_entry(wk_metrics *m, const char *name, int known)
{
    uintptr_t at = m->index ? (uintptr_t)tq_map_get(m->index, name) : 0;
    mx_task *e;

    if (at)
        return &m->tasks[at - 1];
    if (!known && m->nunknown >= MX_TASKS_MAX && strcmp(name, "other") != 0)
        return task_entry(m, "other", 1);
    if (tasks_reserve(m) != 0)
        return NULL;
    e = &m->tasks[m->ntasks];
    e->name = strdup(name);
    e->label = label_escape(name, strlen(name));
    e->n = calloc(m->nq * MX_NOUT, sizeof *e->n);
    if (!e->name || !e->label || !e->n ||
        tq_map_put(m->index, name, (void *)(uintptr_t)(m->ntasks + 1))) {
        free(e->name);
        free(e->label);
        free(e->n);
        return NULL;
    }
    m->ntasks++;
    if (!known)
        m->nunknown++;
    return e;
}

/* ================================================================ counting */

static void hist_add(mx_hist *h, double v)
{
    size_t i;

    if (!isfinite(v))
        return;
    if (v < 0)
        v = 0;
    for (i = 0; i < MX_NB && v > bounds[i]; i++)
        ;
    h->n[i]++;
    h->count++;
    h->sum += v;
}

void wk_metrics_outcome(tq_worker *w, const tq_task *t, wk_out out, double ms)
{
    wk_metrics *m = w->mx;
    const char *name = t->name ? t->name : "?";
    wk_handler *h = t->h;
    mx_task *e;
    size_t k = (size_t)out;

    if (!m || k >= MX_NOUT || t->q->idx >= m->nq)
        return;
    if (!h) /* it never ran: released while stopping, unknown, corrupt */
        h = wk_handler_find(w, name);
    e = task_entry(m, name, h && h->fn);
    if (e)
        e->n[t->q->idx * MX_NOUT + k]++;
    if (t->t0 > 0)
        hist_add(&m->dur, ms / 1000.0);
}

void wk_metrics_wait(tq_worker *w, double seconds)
{
    if (w->mx && seconds >= 0)
        hist_add(&w->mx->wait, seconds);
}

/* ================================================================ the scrape */

static int put_hist(struct evbuffer *b, const char *name, const char *help,
                    const mx_hist *h)
{
    uint64_t cum = 0;
    int err = 0;
    size_t i;

    err |= evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name,
                               help, name) < 0;
    for (i = 0; i < MX_NB; i++) {
        cum += h->n[i];
        err |= evbuffer_add_printf(b, "%s_bucket{le=\"%s\"} %llu\n", name,
                                   bound_text[i], (unsigned long long)cum) < 0;
    }
    cum += h->n[MX_NB];
    err |= evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n"
                               "%s_count %llu\n", name, (unsigned long long)cum,
                               name, h->sum, name,
                               (unsigned long long)h->count) < 0;
    return err;
}

/* The whole page, in the text format 0.0.4. Returns non-zero when memory ran out. */
static int render(tq_worker *w, struct evbuffer *b)
{
    wk_metrics *m = w->mx;
    size_t i, q, k;
    int err = 0;

    err |= evbuffer_add_printf(b,
        "# HELP tq_jobs_total Job outcomes in this worker, per queue, task and outcome.\n"
        "# TYPE tq_jobs_total counter\n") < 0;
    for (i = 0; i < m->ntasks; i++) {
        const mx_task *e = &m->tasks[i];
        for (q = 0; q < m->nq; q++)
            for (k = 0; k < MX_NOUT; k++) {
                uint64_t n = e->n[q * MX_NOUT + k];
                if (n)
                    err |= evbuffer_add_printf(b,
                        "tq_jobs_total{queue=\"%s\",task=\"%s\",outcome=\"%s\"} %llu\n",
                        m->qlabel[q], e->label, wk_outs[k].word,
                        (unsigned long long)n) < 0;
            }
    }
    err |= evbuffer_add_printf(b,
        "# HELP tq_busy_slots Slots running a job now.\n"
        "# TYPE tq_busy_slots gauge\ntq_busy_slots %zu\n"
        "# HELP tq_slots Slots of this worker (--concurrency).\n"
        "# TYPE tq_slots gauge\ntq_slots %d\n"
        "# HELP tq_up 1 when the worker's Redis links are up.\n"
        "# TYPE tq_up gauge\ntq_up %d\n",
        wk_running(w), w->o.concurrency, wk_up(w) ? 1 : 0) < 0;
    err |= put_hist(b, "tq_job_duration_seconds",
                    "Run time of jobs that ran here, from start to outcome.",
                    &m->dur);
    err |= put_hist(b, "tq_queue_wait_seconds",
                    "From a job's creation to its start here, on Redis's clock.",
                    &m->wait);
    return err;
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    tq_worker *w = arg;
    struct evbuffer *b = evbuffer_new();

    if (!b || render(w, b) != 0) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/plain; version=0.0.4; charset=utf-8");
        evhttp_send_reply(req, HTTP_OK, "OK", b);
    }
    if (b)
        evbuffer_free(b);
}

static void on_other(struct evhttp_request *req, void *arg)
{
    evhttp_send_error(req, HTTP_NOTFOUND, NULL);
}

/* ================================================================ life */

/* Splits HOST:PORT ([V6]:PORT; an empty HOST = every interface). */
static int parse_addr(wk_metrics *m, const char *a)
{
    const char *hs = a, *he, *p;
    size_t i, n;
    long port = 0;

    if (a[0] == '[') {
        hs = a + 1;
        he = strchr(hs, ']');
        if (!he || he[1] != ':')
            return -1;
        p = he + 2;
    } else {
        he = strrchr(a, ':');
        if (!he || memchr(a, ':', (size_t)(he - a)))
            return -1;
        p = he + 1;
    }
    n = strlen(p);
    if (n < 1 || n > 5)
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        port = port * 10 + (p[i] - '0');
    }
    if (port < 1 || port > 65535 || (size_t)(he - hs) > 253)
        return -1;
    for (i = 0; hs + i < he; i++)
        if ((unsigned char)hs[i] <= ' ' || hs[i] == 0x7F || hs[i] == '/')
            return -1;
    snprintf(m->port, sizeof m->port, "%ld", port);
    m->host = strndup(hs, (size_t)(he - hs));
    return m->host ? 0 : TQ_ENOMEM;
}

int wk_metrics_new(tq_worker *w, const char *addr, char *err, size_t errlen)
{
    wk_metrics *m;
    size_t i;
    int rc;

    m = calloc(1, sizeof *m);
    if (!m)
        goto oom;
    w->mx = m;
    m->nq = w->nq;
    m->addr = strdup(addr);
    m->qlabel = calloc(w->nq, sizeof *m->qlabel);
    if (!m->addr || !m->qlabel)
        goto oom;
    for (i = 0; i < w->nq; i++)
        if (!(m->qlabel[i] = label_escape(w->qnames[i], strlen(w->qnames[i]))))
            goto oom;
    rc = parse_addr(m, addr);
    if (rc == TQ_ENOMEM)
        goto oom;
    if (rc != 0) {
        snprintf(err, errlen, "--metrics %.300s: expected HOST:PORT "
                 "(or [IPV6]:PORT) with a port 1..65535", addr);
        return TQ_EINVAL;
    }
    return 0;

oom:
    snprintf(err, errlen, "out of memory");
    return TQ_ENOMEM;
}

/* Binds with our own socket (not evhttp_bind_socket) so that the error says
 * why: the errno of bind or listen, or the resolver's message. The host is
 * resolved here, once, before the loop runs. */
int wk_metrics_listen(tq_worker *w)
{
    wk_metrics *m = w->mx;
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, e = 0, one = 1, rc;

    if (!m || m->http)
        return 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(m->host[0] ? m->host : NULL, m->port, &hints, &res);
    if (rc != 0) {
        snprintf(w->err, sizeof w->err, "--metrics %.200s: cannot resolve: %s",
                 m->addr, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return TQ_EINVAL;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(w->err, sizeof w->err, "--metrics %.200s: cannot listen: %s",
                 m->addr, strerror(e ? e : EADDRNOTAVAIL));
        return TQ_EINVAL;
    }
    m->http = evhttp_new(w->base);
    if (!m->http) {
        close(fd);
        snprintf(w->err, sizeof w->err, "--metrics: out of memory");
        return TQ_ENOMEM;
    }
    evhttp_set_timeout(m->http, MX_TIMEOUT_S);
    evhttp_set_max_headers_size(m->http, MX_HEADERS_MAX);
    evhttp_set_max_body_size(m->http, MX_BODY_MAX);
    /* GET only: evhttp 2.1 would send the body in reply to a HEAD */
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
    if (evhttp_set_cb(m->http, "/metrics", on_metrics, w) != 0 ||
        !evhttp_accept_socket_with_handle(m->http, fd)) {
        close(fd); /* not handed over: still ours to close */
        evhttp_free(m->http);
        m->http = NULL;
        snprintf(w->err, sizeof w->err, "--metrics: out of memory");
        return TQ_ENOMEM;
    }
    evhttp_set_gencb(m->http, on_other, w);
    wk_log(w, TQ_LOG_INFO, NULL, "metrics at http://%s/metrics", m->addr);
    return 0;
}

void wk_metrics_stop(tq_worker *w)
{
    if (w->mx && w->mx->http) {
        evhttp_free(w->mx->http);
        w->mx->http = NULL;
    }
}

void wk_metrics_free(tq_worker *w)
{
    wk_metrics *m = w->mx;
    size_t i;

    if (!m)
        return;
    wk_metrics_stop(w);
    for (i = 0; i < m->ntasks; i++) {
        free(m->tasks[i].name);
        free(m->tasks[i].label);
        free(m->tasks[i].n);
    }
    free(m->tasks);
    tq_map_free(m->index);
    for (i = 0; m->qlabel && i < m->nq; i++)
        free(m->qlabel[i]);
    free(m->qlabel);
    free(m->host);
    free(m->addr);
    free(m);
    w->mx = NULL;
}
