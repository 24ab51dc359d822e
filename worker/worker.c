/* worker.c -- the worker library's public face and the life of a task.
 *
 * A task (one delivery of one job) is allocated when a claim hands it over,
 * put in the running table (the slots in use), and handed to its handler. It
 * leaves the table exactly once: completed by its handler (succeed / fail), or
 * stopped by the worker (timeout, cancel, lost lease, shutdown), in which case
 * the handler's cancel callback runs instead. Either way the slot is free at
 * once and the outcome is queued for the next loop turn, which acks it.
 *
 * Shutdown is a small state machine driven from the loop turn: RUNNING ->
 * DRAINING (no claims; running jobs get --shutdown-grace) -> FINAL (no jobs;
 * the last acks are flushed and answered, the worker deregisters) -> STOPPED
 * (every event removed, so the loop can end).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/random.h>

#include "worker/worker_private.h"

/* ================================================================ helpers */

double wk_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: jitter and worker-id suffixes need spread, not secrecy. */
static uint64_t rng_next(tq_worker *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 2685821657736338717ULL;
}

double wk_rand01(tq_worker *w)
{
    return (double)(rng_next(w) >> 11) / 9007199254740992.0;
}

int wk_log_on(const tq_worker *w, tq_log_level lvl)
{
    return w->o.log != NULL && lvl >= w->o.log_level;
}

void wk_log(tq_worker *w, tq_log_level lvl, const char *const *fields,
            const char *fmt, ...)
{
    char buf[4096], line[4096];
    va_list ap;

    if (!wk_log_on(w, lvl))
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* One line whatever the arguments held (a Redis error text, a job's
     * name): a reply must not forge log lines or send terminal escapes. */
    wk_utf8_clean(line, sizeof line, buf, strlen(buf), 1);
    w->o.log(lvl, line, fields, w->o.log_ud);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        k = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        k = 4;
    else
        return 0;
    if (n < k)
        return 0;
    for (i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (c == 0xE0 && s[1] < 0xA0)
        return 0;
    if (c == 0xED && s[1] >= 0xA0)
        return 0;
    if (c == 0xF0 && s[1] < 0x90)
        return 0;
    if (c == 0xF4 && s[1] >= 0x90)
        return 0;
    return k;
}

size_t wk_utf8_clean(char *dst, size_t n, const char *src, size_t len,
                     int fold)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, o = 0;

    if (n == 0)
        return 0;
    while (i < len) {
        if (fold && (s[i] == '\n' || s[i] == '\r')) {
            while (i < len && (s[i] == '\n' || s[i] == '\r'))
                i++;
            if (o > 0 && i < len) {
                if (o + 3 >= n)
                    break;
                memcpy(dst + o, " | ", 3);
                o += 3;
            }
            continue;
        }
        size_t k = utf8_seq(s + i, len - i);
        if (k == 0) {
            if (o + 3 >= n)
                break;
            memcpy(dst + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        if (o + k >= n)
            break;
        if (k == 1 && fold && (s[i] < 0x20 || s[i] == 0x7F) && s[i] != '\t')
            dst[o] = '?';
        else
            memcpy(dst + o, s + i, k);
        o += k;
        i += k;
    }
    dst[o] = '\0';
    return o;
}

/* ================================================================ handlers */

wk_handler *wk_handler_find(tq_worker *w, const char *name)
{
    wk_handler *h;

    for (h = w->handlers; h; h = h->next)
        if (strcmp(h->name, name) == 0)
            return h;
    return NULL;
}

wk_handler *wk_handler_get(tq_worker *w, const char *name)
{
    wk_handler *h = wk_handler_find(w, name);

    if (h)
        return h;
    h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->name = strdup(name);
    if (!h->name) {
        free(h);
        return NULL;
    }
    h->next = w->handlers;
    w->handlers = h;
    return h;
}

int tq_worker_register(tq_worker *w, const char *task, tq_handler_fn *fn,
                       tq_cancel_fn *cancel, void *ud)
{
    tq_perr e;
    wk_handler *h;

    if (!w || !task || !fn)
        return TQ_EINVAL;
    if (tq_name_check("task", task, &e) != 0) {
        snprintf(w->err, sizeof w->err, "%s", e.text);
        return TQ_EINVAL;
    }
    h = wk_handler_get(w, task);
    if (!h)
        return TQ_ENOMEM;
    if (h->running > 0) {
        snprintf(w->err, sizeof w->err, "task '%s' has jobs running", task);
        return TQ_EINVAL;
    }
    wk_exec_spec_free(h->exec);
    h->exec = NULL;
    h->fn = fn;
    h->cancel = cancel;
    h->ud = ud;
    return 0;
}

int tq_worker_register_exec(tq_worker *w, const char *task,
                            const char *const *argv)
{
    if (!w || !task || !argv || !argv[0] || !argv[0][0])
        return TQ_EINVAL;
    return wk_exec_register(w, task, argv);
}

int tq_worker_limit(tq_worker *w, const char *task, int k)
{
    tq_perr e;
    wk_handler *h;

    if (!w || !task || k < 0)
        return TQ_EINVAL;
    if (tq_name_check("task", task, &e) != 0) {
        snprintf(w->err, sizeof w->err, "%s", e.text);
        return TQ_EINVAL;
    }
    h = wk_handler_get(w, task);
    if (!h)
        return TQ_ENOMEM;
    if (h->limit == 0 && k > 0)
        w->nlimits++;
    else if (h->limit > 0 && k == 0)
        w->nlimits--;
    h->limit = k;
    return 0;
}

/* ================================================================ the running table */

static size_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

static void tab_grow(tq_worker *w)
{
    size_t n = w->tabsize * 2, i;
    tq_task **nt = calloc(n, sizeof *nt);

    if (!nt)
        return; /* longer chains; still correct */
    for (i = 0; i < w->tabsize; i++) {
        tq_task *t = w->tab[i], *next;
        for (; t; t = next) {
            size_t b = hash_id(t->id) & (n - 1);
            next = t->hnext;
            t->hnext = nt[b];
            nt[b] = t;
        }
    }
    free(w->tab);
    w->tab = nt;
    w->tabsize = n;
}

tq_task *wk_task_find(tq_worker *w, const char *id, const char *tok)
{
    tq_task *t;

    if (!w->tab)
        return NULL;
    for (t = w->tab[hash_id(id) & (w->tabsize - 1)]; t; t = t->hnext)
        if (strcmp(t->id, id) == 0 && (!tok || strcmp(t->tok, tok) == 0))
            return t;
    return NULL;
}

static void task_link(tq_worker *w, tq_task *t)
{
    size_t b;

    if (w->running >= w->tabsize)
        tab_grow(w);
    b = hash_id(t->id) & (w->tabsize - 1);
    t->hnext = w->tab[b];
    w->tab[b] = t;
    t->qprev = NULL;
    t->qnext = t->q->head;
    if (t->q->head)
        t->q->head->qprev = t;
    t->q->head = t;
    t->q->nrunning++;
    w->running++;
    t->h->running++;
}

static void task_unlink(tq_worker *w, tq_task *t)
{
    tq_task **pp = &w->tab[hash_id(t->id) & (w->tabsize - 1)];

    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = t->hnext;
    if (t->qprev)
        t->qprev->qnext = t->qnext;
    else
        t->q->head = t->qnext;
    if (t->qnext)
        t->qnext->qprev = t->qprev;
    t->q->nrunning--;
    w->running--;
    t->h->running--;
    if (t->h->limit > 0 && w->claim_paused)
        wk_claim_resume(w);
}

static void task_free(tq_task *t)
{
    if (t->timer)
        event_free(t->timer);
    json_decref(t->args);
    free(t);
}

/* ================================================================ outcomes */

/* One line per outcome, with the same facts as fields for JSON logs. */
static void log_outcome(tq_worker *w, const tq_task *t, const char *word,
                        const char *error, double ms)
{
    tq_log_level lvl = TQ_LOG_INFO;
    char id[128], name[256], err[2560], att[16], dur[32];
    const char *fields[13];
    int n = 0;

    if (strcmp(word, "succeeded") && strcmp(word, "cancelled") &&
        strcmp(word, "released"))
        lvl = TQ_LOG_WARN;
    if (!wk_log_on(w, lvl))
        return;
    wk_utf8_clean(id, sizeof id, t->id, strlen(t->id), 1);
    wk_utf8_clean(name, sizeof name, t->name ? t->name : "?",
                  t->name ? strlen(t->name) : 1, 1);
    snprintf(att, sizeof att, "%d", t->attempt);
    snprintf(dur, sizeof dur, "%.1f", ms < 0 ? 0.0 : ms);
    fields[n++] = "job";
    fields[n++] = id;
    fields[n++] = "task";
    fields[n++] = name;
    fields[n++] = "attempt";
    fields[n++] = att;
    fields[n++] = "outcome";
    fields[n++] = word;
    fields[n++] = "ms";
    fields[n++] = dur;
    if (error) {
        wk_utf8_clean(err, sizeof err, error, strlen(error), 1);
        fields[n++] = "error";
        fields[n++] = err;
        fields[n] = NULL;
        wk_log(w, lvl, fields, "job %s task=%s attempt=%s outcome=%s ms=%s error=\"%s\"",
               id, name, att, word, dur, err);
    } else {
        fields[n] = NULL;
        wk_log(w, lvl, fields, "job %s task=%s attempt=%s outcome=%s ms=%s",
               id, name, att, word, dur);
    }
}

/* Reports a task that never ran or has ended, then frees it. kind NULL: no
 * report (a lost lease). */
static void task_report(tq_worker *w, tq_task *t, const char *kind,
                        const char *payload, size_t plen, const char *word,
                        const char *error)
{
    double ms = t->t0 > 0 ? tq_mono_ms() - t->t0 : 0;

    if (kind && wk_outcome_add(w, t, kind, payload, plen) != 0)
        wk_log(w, TQ_LOG_ERROR, NULL,
               "job %s: out of memory queueing its outcome", t->id);
    log_outcome(w, t, word, error, ms);
    wk_metrics_outcome(w, t, word, ms);
    task_free(t);
    wk_kick(w);
}

static int task_complete(tq_task *t, const char *kind, const char *payload,
                         size_t plen, const char *word, const char *error)
{
    tq_worker *w = t->w;

    if (t->done)
        return TQ_EINVAL;
    t->done = 1;
    task_unlink(w, t);
    task_report(w, t, kind, payload, plen, word, error);
    return 0;
}

void wk_task_stop(tq_task *t, tq_stop_reason why)
{
    tq_worker *w = t->w;

    if (t->done)
        return;
    t->done = 1;
    task_unlink(w, t);
    if (t->timer)
        evtimer_del(t->timer);
    if (t->h->cancel)
        t->h->cancel(t, why, t->h->ud);
    switch (why) {
    case TQ_STOP_TIMEOUT:
        task_report(w, t, "fail", "timeout", 7, "timeout", "timeout");
        break;
    case TQ_STOP_CANCELLED:
        task_report(w, t, "cancel", "cancelled", 9, "cancelled", NULL);
        break;
    case TQ_STOP_LOST:
        task_report(w, t, NULL, NULL, 0, "lost", "lost the lease");
        break;
    case TQ_STOP_SHUTDOWN:
    default:
        task_report(w, t, "release", "", 0, "released", NULL);
        break;
    }
}

void wk_stop_all(tq_worker *w, tq_stop_reason why)
{
    size_t i;

    for (i = 0; i < w->nq; i++)
        while (w->queues[i].head)
            wk_task_stop(w->queues[i].head, why);
}

static void task_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    wk_task_stop(arg, TQ_STOP_TIMEOUT);
}

void wk_task_start(tq_worker *w, tq_task *t, const char *corrupt)
{
    wk_handler *h;
    char err[TQ_NAME_MAX + 64];

    if (corrupt) {
        task_report(w, t, "dead", corrupt, strlen(corrupt), "dead", corrupt);
        return;
    }
    if (w->state != WK_RUNNING) {
        /* claimed while stopping: give it straight back */
        task_report(w, t, "release", "", 0, "released", NULL);
        return;
    }
    h = wk_handler_find(w, t->name);
    if (!h || !h->fn) {
        char name[TQ_NAME_MAX + 8];
        wk_utf8_clean(name, sizeof name, t->name, strlen(t->name), 1);
        snprintf(err, sizeof err, "unknown task '%s'", name);
        /* notask: another worker may have it (a rolling deploy): the job is
         * scheduled again without using up a retry (ack.lua) */
        task_report(w, t, "notask", err, strlen(err), "notask", err);
        return;
    }
    if (h->limit > 0 && h->running >= h->limit) {
        /* --limit: back to the front of its queue, not counted as an attempt;
         * claim.c pauses claiming until a job of a limited task ends. */
        w->claim_paused = 1;
        if (wk_outcome_add(w, t, "release", "", 0) != 0)
            wk_log(w, TQ_LOG_ERROR, NULL, "job %s: out of memory", t->id);
        wk_log(w, TQ_LOG_DEBUG, NULL, "job %s task=%s: at --limit %d, given back",
               t->id, h->name, h->limit);
        task_free(t);
        wk_kick(w);
        return;
    }
    t->h = h;
    t->t0 = tq_mono_ms();
    if (t->timeout_ms <= 0)
        t->timeout_ms = w->o.default_timeout_ms;
    if (t->timeout_ms > 0) {
        struct timeval tv;
        t->deadline = wk_unix() + (double)t->timeout_ms / 1000.0;
        t->timer = evtimer_new(w->base, task_timeout_cb, t);
        if (!t->timer) {
            task_report(w, t, "fail", "worker out of memory", 20, "failed",
                        "worker out of memory");
            return;
        }
        tv.tv_sec = t->timeout_ms / 1000;
        tv.tv_usec = (t->timeout_ms % 1000) * 1000;
        evtimer_add(t->timer, &tv);
    }
    wk_metrics_wait(w, t->wait_s);
    task_link(w, t);
    h->fn(t, h->ud); /* may complete t before it returns */
}

/* ================================================================ task API */

const char *tq_task_id(const tq_task *t) { return t->id; }
const char *tq_task_name(const tq_task *t) { return t->name; }
const char *tq_task_queue(const tq_task *t) { return t->q->k->queue; }
json_t *tq_task_args(const tq_task *t) { return t->args; }
const char *tq_task_args_text(const tq_task *t) { return t->args_text; }
int tq_task_attempt(const tq_task *t) { return t->attempt; }
double tq_task_deadline(const tq_task *t) { return t->deadline; }
struct event_base *tq_task_base(const tq_task *t) { return t->w->base; }
tq_worker *tq_task_worker(const tq_task *t) { return t->w; }
void tq_task_set_data(tq_task *t, void *data) { t->data = data; }
void *tq_task_data(const tq_task *t) { return t->data; }

int tq_task_succeed(tq_task *t, json_t *result)
{
    char *s, err[96];
    size_t len;
    int rc;

    if (!t || t->done) {
        json_decref(result);
        return TQ_EINVAL;
    }
    s = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY)
               : strdup("null");
    json_decref(result);
    if (!s)
        return tq_task_fail(t, "the result could not be encoded as JSON");
    len = strlen(s);
    if (len > t->w->o.max_result) {
        free(s);
        snprintf(err, sizeof err, "result exceeds --max-result (%zu bytes)",
                 t->w->o.max_result);
        return tq_task_fail(t, err);
    }
    rc = task_complete(t, "ok", s, len, "succeeded", NULL);
    free(s);
    return rc;
}

int tq_task_fail(tq_task *t, const char *error)
{
    char buf[8192];
    size_t n;

    if (!t || t->done)
        return TQ_EINVAL;
    if (!error || !*error)
        error = "failed";
    n = wk_utf8_clean(buf, sizeof buf, error, strlen(error), 0);
    return task_complete(t, "fail", buf, n, "failed", buf);
}

/* ================================================================ options, new, free */

void tq_worker_opts_init(tq_worker_opts *o)
{
    memset(o, 0, sizeof *o);
    o->concurrency = 10;
    o->lease_ms = 30000;
    o->default_timeout_ms = 0;
    o->shutdown_grace_ms = 30000;
    o->kill_grace_ms = 5000;
    o->max_result = TQ_MAX_RESULT_DEFAULT;
    o->log_level = TQ_LOG_INFO;
    o->metrics_addr = NULL;
}

static void turn_cb(evutil_socket_t fd, short what, void *arg);
static void grace_cb(evutil_socket_t fd, short what, void *arg);
static void final_cb(evutil_socket_t fd, short what, void *arg);

static int make_id(tq_worker *w)
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char sfx[5];
    int i;

    if (gethostname(w->host, sizeof w->host - 1) != 0 || !w->host[0])
        snprintf(w->host, sizeof w->host, "localhost");
    w->host[sizeof w->host - 1] = '\0';
    for (i = 0; i < 4; i++)
        sfx[i] = al[rng_next(w) % (sizeof al - 1)];
    sfx[4] = '\0';
    snprintf(w->id, sizeof w->id, "%s:%ld:%s", w->name ? w->name : w->host,
             (long)getpid(), sfx);
    return 0;
}

static void queues_json(tq_worker *w)
{
    json_t *a = json_array();
    char *s = NULL;
    size_t i;

    for (i = 0; a && i < w->nq; i++)
        json_array_append_new(a, json_string(w->qnames[i]));
    if (a)
        s = json_dumps(a, JSON_COMPACT);
    snprintf(w->queues_json, sizeof w->queues_json, "%s", s ? s : "[]");
    free(s);
    json_decref(a);
}

/* ================================================================ the link's hooks */

/* The set is up (scripts loaded, P:cancel subscribed): say so, report what
 * waited (outcomes, leases, the heartbeat), and claim from the first queue. */
static void link_up(tq_link *l, void *ud)
{
    tq_worker *w = ud;

    wk_link_went_up(w);
    wk_report_up(w);
    wk_claim_start(w);
    wk_kick(w);
}

/* The set went down: every reply callback in flight already ran with NULL
 * (a claim in flight is forgotten, a batch of outcomes is queued again, the
 * BLPOP is no longer armed). Running jobs go on. */
static void link_down(tq_link *l, const char *reason, int flags, void *ud)
{
    wk_link_went_down(ud, reason);
}

tq_worker *tq_worker_new(const tq_worker_opts *o, char *err, size_t errlen)
{
    static const char *const defq[] = {"default"};
    tq_link_hooks hooks = {.on_up = link_up, .on_down = link_down};
    tq_worker_opts d;
    tq_worker *w;
    tq_perr e;
    const char *const *qs;
    size_t nq, i, j;

    if (!err || !errlen) {
        static char sink[8];
        err = sink;
        errlen = sizeof sink;
    }
    err[0] = '\0';
    if (!o) {
        tq_worker_opts_init(&d);
        o = &d;
    }
    qs = o->queues && o->nqueues ? o->queues : defq;
    nq = o->queues && o->nqueues ? o->nqueues : 1;
    if (o->concurrency < 1 || o->concurrency > 1000000) {
        snprintf(err, errlen, "concurrency must be 1..1000000, not %d",
                 o->concurrency);
        return NULL;
    }
    if (o->lease_ms < 300) {
        snprintf(err, errlen, "lease must be at least 300 ms");
        return NULL;
    }
    if (o->default_timeout_ms < 0 || o->shutdown_grace_ms < 0 ||
        o->kill_grace_ms < 0) {
        snprintf(err, errlen, "durations must not be negative");
        return NULL;
    }
    for (i = 0; i < nq; i++) {
        if (!qs[i] || tq_queue_check(qs[i], &e) != 0) {
            snprintf(err, errlen, "%s", qs[i] ? e.text : "queue is NULL");
            return NULL;
        }
        for (j = 0; j < i; j++)
            if (strcmp(qs[i], qs[j]) == 0) {
                snprintf(err, errlen, "queue '%s' given twice", qs[i]);
                return NULL;
            }
    }
    if (o->ns && tq_ns_check(o->ns, &e) != 0) {
        snprintf(err, errlen, "%s", e.text);
        return NULL;
    }
    if (o->name && (tq_name_check("name", o->name, &e) != 0)) {
        snprintf(err, errlen, "%s", e.text);
        return NULL;
    }

    w = calloc(1, sizeof *w);
    if (!w)
        goto oom;
    w->o = *o;
    if (!w->o.max_result)
        w->o.max_result = TQ_MAX_RESULT_DEFAULT;
    if (tq_redis_url_parse(o->redis_url, &w->addr, &e) != 0) {
        snprintf(err, errlen, "%s", e.text);
        free(w);
        return NULL;
    }
    w->url = strdup(o->redis_url ? o->redis_url : "redis://127.0.0.1:6379/0");
    w->ns = strdup(o->ns ? o->ns : "tq");
    w->name = o->name ? strdup(o->name) : NULL;
    w->qnames = calloc(nq, sizeof *w->qnames);
    w->queues = calloc(nq, sizeof *w->queues);
    if (!w->url || !w->ns || (o->name && !w->name) || !w->qnames || !w->queues)
        goto oom_free;
    if (o->env_deny) {
        size_t n = 0;
        while (o->env_deny[n])
            n++;
        w->env_deny = calloc(n + 1, sizeof *w->env_deny);
        if (!w->env_deny)
            goto oom_free;
        for (i = 0; i < n; i++)
            if (!(w->env_deny[i] = strdup(o->env_deny[i])))
                goto oom_free;
    }
    w->o.env_deny = NULL; /* w->env_deny from here on */
    if (o->cgroup_dir) {
        if (wk_cgroup_check(o->cgroup_dir, err, errlen) != 0) {
            tq_worker_free(w);
            return NULL;
        }
        if (!(w->cgroup_dir = strdup(o->cgroup_dir)))
            goto oom_free;
    }
    w->o.cgroup_dir = NULL; /* w->cgroup_dir from here on */
    w->o.redis_url = w->url;
    w->o.ns = w->ns;
    w->o.name = w->name;
    w->o.queues = NULL; /* only qnames from here on */
    w->nq = nq;
    w->o.nqueues = nq;
    if (tq_nskeys_init(&w->nk, w->ns) != 0)
        goto oom_free;
    for (i = 0; i < nq; i++) {
        wk_queue *q = &w->queues[i];
        w->qnames[i] = strdup(qs[i]);
        q->k = tq_qkeys_new(w->ns, qs[i]);
        if (!w->qnames[i] || !q->k)
            goto oom_free;
        q->idx = i;
        q->w = w;
        q->due_in_ms = -1;
    }

    if (getrandom(&w->rng, sizeof w->rng, 0) != (ssize_t)sizeof w->rng)
        w->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    w->rng |= 1;
    make_id(w);
    queues_json(w);

    w->tabsize = 64;
    w->tab = calloc(w->tabsize, sizeof *w->tab);
    if (!w->tab)
        goto oom_free;
    if (o->base) {
        w->base = o->base;
    } else {
        /* A precise timer: by default libevent reads CLOCK_MONOTONIC_COARSE,
         * one kernel tick (4 ms at HZ=250) behind, so job timeouts and
         * tq.sleep fired up to a tick early. CLOCK_MONOTONIC is a vDSO call
         * too, read once per loop turn. */
        struct event_config *cfg = event_config_new();
        if (cfg) {
            event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
            w->base = event_base_new_with_config(cfg);
            event_config_free(cfg);
        }
        if (!w->base)
            w->base = event_base_new();
        w->own_base = 1;
        if (!w->base)
            goto oom_free;
    }
    w->turn_ev = event_new(w->base, -1, 0, turn_cb, w);
    w->grace_ev = evtimer_new(w->base, grace_cb, w);
    w->final_ev = evtimer_new(w->base, final_cb, w);
    if (!w->turn_ev || !w->grace_ev || !w->final_ev)
        goto oom_free;
    hooks.ud = w;
    if (wk_link_init(w, &hooks) != 0 ||
        wk_link_subscribe_cancel(w, wk_on_cancel_message) != 0 ||
        wk_claim_init(w) != 0 ||
        wk_report_init(w) != 0 || wk_builtins_register(w) != 0)
        goto oom_free;
    w->o.metrics_addr = NULL; /* w->mx keeps its own copy */
    if (o->metrics_addr && wk_metrics_new(w, o->metrics_addr, err, errlen) != 0) {
        tq_worker_free(w);
        return NULL;
    }
    return w;

oom_free:
    tq_worker_free(w);
oom:
    snprintf(err, errlen, "out of memory");
    return NULL;
}

void tq_worker_free(tq_worker *w)
{
    size_t i;
    wk_handler *h, *hn;

    if (!w)
        return;
    if (w->run_loop) {
        /* inside tq_worker_run's loop (on_stop, a handler): stop now, and
         * let tq_worker_run free the worker once its loop has returned */
        w->free_pending = 1;
        tq_worker_stop(w, 1);
        return;
    }
    if (w->state != WK_NEW && w->state != WK_STOPPED && w->queues) {
        /* the loop was abandoned: stop what runs, report nothing */
        w->state = WK_STOPPED;
        wk_stop_all(w, TQ_STOP_SHUTDOWN);
    }
    w->state = WK_STOPPED;
    if (w->base) {
        wk_link_free(w);
        wk_exec_finish(w);
        wk_cgroup_finish(w);
        wk_report_free(w);
    }
    if (w->turn_ev)
        event_free(w->turn_ev);
    if (w->grace_ev)
        event_free(w->grace_ev);
    if (w->final_ev)
        event_free(w->final_ev);
    if (w->claim_retry_ev)
        event_free(w->claim_retry_ev);
    if (w->limit_pause_ev)
        event_free(w->limit_pause_ev);
    if (w->due_ev)
        event_free(w->due_ev);
    for (i = 0; w->env_deny && w->env_deny[i]; i++)
        free(w->env_deny[i]);
    free(w->env_deny);
    free(w->cgroup_dir);
    for (h = w->handlers; h; h = hn) {
        hn = h->next;
        wk_exec_spec_free(h->exec);
        free(h->name);
        free(h);
    }
    for (i = 0; w->queues && i < w->nq; i++) {
        wk_queue *q = &w->queues[i];
        tq_qkeys_free(q->k);
    }
    for (i = 0; w->qnames && i < w->nq; i++)
        free(w->qnames[i]);
    free(w->qnames);
    free(w->queues);
    tq_nskeys_clear(&w->nk);
    free(w->tab);
    wk_metrics_free(w);
    if (w->own_base && w->base)
        event_base_free(w->base);
    free(w->url);
    free(w->ns);
    free(w->name);
    free(w);
}

const char *tq_worker_errstr(const tq_worker *w) { return w ? w->err : ""; }
const char *tq_worker_id(const tq_worker *w) { return w->id; }
struct event_base *tq_worker_base(const tq_worker *w) { return w->base; }

/* ================================================================ start, run, stop */

int tq_worker_start(tq_worker *w)
{
    int rc;

    if (!w)
        return TQ_EINVAL;
    if (w->state != WK_NEW) {
        snprintf(w->err, sizeof w->err, "the worker was already started");
        return TQ_EINVAL;
    }
    /* Writing to a pipe or socket whose reader went away must be an error
     * (EPIPE), not a signal that kills the process: hiredis writes with
     * write(2), and exec children may close their stdin early. The library
     * ignores SIGPIPE when it is at its default; children get it back. */
    tq_sigpipe_ignore();
    /* before anything else starts: a worker that cannot serve its metrics
     * stays unstarted (and may be started again) */
    if ((rc = wk_metrics_listen(w)) != 0)
        return rc;
    /* reap_orphans: what a job leaves behind when its parent dies comes to
     * us, not to init (which in a container may never reap), and is reaped
     * on the loop (exec.c) */
    if (w->o.reap_orphans &&
        (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0 || wk_exec_watch(w) != 0))
        wk_log(w, TQ_LOG_WARN, NULL,
               "cannot become a child subreaper (%s): orphans of jobs go to "
               "init", strerror(errno));
    w->started_unix = wk_unix();
    w->state = WK_RUNNING;
    wk_log(w, TQ_LOG_INFO, NULL,
           "worker %s starting: queues=%s concurrency=%d namespace=%s",
           w->id, w->queues_json, w->o.concurrency, w->ns);
    wk_report_start(w);
    wk_link_start(w);
    return 0;
}

int tq_worker_run(tq_worker *w)
{
    int rc;

    if (!w)
        return TQ_EINVAL;
    if (w->state == WK_NEW && (rc = tq_worker_start(w)) != 0)
        return rc;
    w->run_loop = 1;
    if (w->state != WK_STOPPED)
        event_base_dispatch(w->base);
    w->run_loop = 0;
    if (w->free_pending)
        tq_worker_free(w);
    return 0;
}

void tq_worker_stop(tq_worker *w, int now)
{
    if (!w || w->state == WK_STOPPED)
        return;
    if (w->state == WK_NEW) {
        w->state = WK_STOPPED;
        return;
    }
    if (now)
        w->stop_now = 1;
    if (w->state == WK_RUNNING) {
        w->state = WK_DRAINING;
        if (now || w->running == 0)
            wk_log(w, TQ_LOG_INFO, NULL, "stopping: %zu job(s) running%s",
                   w->running, w->running ? ", giving them back now" : "");
        else
            wk_log(w, TQ_LOG_INFO, NULL,
                   "stopping: waiting up to %.1f s for %zu running job(s)",
                   (double)w->o.shutdown_grace_ms / 1000.0, w->running);
        wk_link_close_block(w);
        if (!now) {
            struct timeval tv = {(time_t)(w->o.shutdown_grace_ms / 1000),
                                 (suseconds_t)(w->o.shutdown_grace_ms % 1000) * 1000};
            evtimer_add(w->grace_ev, &tv);
        }
    } else if (now && w->state == WK_DRAINING) {
        wk_log(w, TQ_LOG_INFO, NULL, "stopping now: giving back %zu job(s)",
               w->running);
    }
    wk_kick(w);
}

/* ================================================================ the loop turn, shutdown */

void wk_kick(tq_worker *w)
{
    if (w->turn_pending || w->state == WK_STOPPED || w->state == WK_NEW)
        return;
    w->turn_pending = 1;
    event_active(w->turn_ev, EV_TIMEOUT, 1);
}

static void finish(tq_worker *w)
{
    if (w->state == WK_STOPPED)
        return;
    w->state = WK_STOPPED;
    evtimer_del(w->grace_ev);
    evtimer_del(w->final_ev);
    event_del(w->turn_ev);
    w->turn_pending = 0;
    if (w->claim_retry_ev)
        evtimer_del(w->claim_retry_ev);
    if (w->limit_pause_ev)
        evtimer_del(w->limit_pause_ev);
    if (w->due_ev)
        evtimer_del(w->due_ev);
    wk_report_stop_timers(w);
    wk_link_stop(w);
    wk_exec_finish(w);
    wk_cgroup_finish(w);
    wk_metrics_stop(w);
    if (w->nout)
        wk_log(w, TQ_LOG_WARN, NULL,
               "stopped with %zu outcome(s) not reported: those jobs run again "
               "once their lease runs out", w->nout);
    wk_log(w, TQ_LOG_INFO, NULL, "worker %s stopped", w->id);
    if (w->own_base || w->run_loop)
        event_base_loopbreak(w->base);
    /* Last: on_stop may free the worker (finish's callers touch nothing
     * after it; inside tq_worker_run the free waits for the loop's end). */
    if (w->o.on_stop)
        w->o.on_stop(w, w->o.on_stop_ud);
}

/* Called from the loop turn only (never from a hiredis callback), so it may
 * close the links. */
void wk_shutdown_check(tq_worker *w)
{
    if (w->state == WK_DRAINING && w->stop_now && w->running)
        wk_stop_all(w, TQ_STOP_SHUTDOWN);
    if (w->state == WK_DRAINING && w->running == 0) {
        /* ack replies, and children given SIGTERM getting their SIGKILL */
        int64_t ms = WK_FINAL_WAIT_MS;
        struct timeval tv;
        if (wk_exec_reaping(w) && w->o.kill_grace_ms + 1000 > ms)
            ms = w->o.kill_grace_ms + 1000;
        tv.tv_sec = (time_t)(ms / 1000);
        tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
        w->state = WK_FINAL;
        evtimer_del(w->grace_ev);
        evtimer_add(w->final_ev, &tv);
        wk_acks_flush(w);
    }
    if (w->state != WK_FINAL)
        return;
    if (w->nout == 0 && w->acks_in_flight == 0 && !w->claim_in_flight &&
        wk_exec_reaping(w) == 0) {
        if (wk_up(w) && !w->dereg_sent) {
            wk_deregister(w);
            if (w->dereg_sent)
                return;
        }
        if (w->dereg_done || !wk_up(w) || !w->dereg_sent)
            finish(w);
    }
}

static void turn_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;

    w->turn_pending = 0;
    if (w->state == WK_DRAINING && w->stop_now && w->running)
        wk_stop_all(w, TQ_STOP_SHUTDOWN);
    /* Redis writes its replies only once it has run all it read, so acks
     * sent along with a claim would hold back the jobs the claim brings
     * (by the ack script's time: ~1 ms per 100 jobs). So the claim goes
     * first and alone, and outcomes wait until its reply is in (claim_cb
     * sends them). Except when an outcome can make another job ready (a
     * semaphore permit given back, a chain's next link, a group's fan-in, a
     * job given back to the front of its queue): then the acks go first, so
     * the claim in the same pass sees that job, in its priority order. */
    if (w->ack_first)
        wk_acks_flush(w);
    wk_claim_maybe(w);
    if (!w->claim_in_flight)
        wk_acks_flush(w);
    wk_shutdown_check(w);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;

    if (w->state != WK_DRAINING)
        return;
    wk_log(w, TQ_LOG_INFO, NULL,
           "shutdown grace over: giving back %zu job(s)", w->running);
    w->stop_now = 1;
    wk_kick(w);
}

static void final_cb(evutil_socket_t fd, short what, void *arg)
{
    tq_worker *w = arg;

    if (w->state == WK_FINAL)
        finish(w);
}
