/* dashboard.c -- `tq dashboard`: the web UI and its JSON API (SPEC §12).
 *
 * One process, one libevent loop: evhttp serves the page (web/index.html,
 * app.js, app.css, compiled in by web/gen-assets.sh), the JSON API under
 * /api/ and Prometheus text at /metrics. The page renders everything from
 * the API, so the server never formats HTML from data: escaping is the
 * page's job (it builds DOM text nodes), and the Content-Security-Policy
 * forbids inline script as a second wall.
 *
 * Redis is reached through the same blocking client calls `tq stats`, `tq
 * jobs`, `tq dlq` ... make (client/admin.h), from inside the loop. Each is
 * one round trip or a short pipeline, bounded by the client's connect (2 s)
 * and reply (5 s) timeouts, so a stalled Redis stalls the page for at most
 * that long and never the broker. What the browsers poll is shared: the
 * queues overview is computed at most once a second whatever the number of
 * pages open, and the chart's jobs-per-second come from a ring of samples
 * of each queue's processed total kept here (one stats call every 5 s), so
 * the chart needs no key in Redis.
 *
 * Safety: 127.0.0.1:8470 by default; any other address needs --token or
 * --read-only. Actions are POSTs that must carry X-TQ-CSRF (a random token
 * of this process, given to the page in a <meta>; a cross-site form cannot
 * set a header) and, with --token, "Authorization: Bearer TOKEN", which
 * the API's GETs and /metrics need too. --read-only answers every POST
 * 403. On a loopback address the Host header must name a loopback host, so
 * that a DNS-rebinding page cannot reach the API. The Redis URL is never
 * sent to the page.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "broker/link.h"
#include "broker/schedtick.h"
#include "cmd/tq/cli.h"
#include "proto/proto_private.h"
#include "tq_assets.h"

#define DASH_DEFAULT_LISTEN "127.0.0.1:8470"
#define SAMPLE_S 5                     /* the rates ring's step */
#define RING (3600 / SAMPLE_S + 1)     /* an hour of steps */
#define MAX_RINGS 256                  /* queues charted; more are not */
#define QUEUES_CACHE_MS 1000           /* /api/queues is shared for this long */
#define PAGE_MAX 200                   /* ?limit= of a job listing */
#define SCHED_BURST 16                 /* schedfire calls per turn of the loop */

/* ---------------------------------------------------------------- state */

typedef struct asset {
    const char *path, *type, *text;
    size_t len;
} asset;

static const asset assets[] = {TQ_ASSET_TABLE};

/* One queue's jobs per second, a sample per SAMPLE_S, in the slots of the
 * dashboard's ring (dash.head is the next slot written). */
typedef struct ring {
    char *queue;
    double rate[RING];
    long long last;       /* processed total at the last sample */
    int have_last;
} ring;

typedef struct dash {
    struct event_base *base;
    struct evhttp *http;
    struct event *tick, *sigint, *sigterm;
    tq_client *c;
    int read_only;
    int loopback;             /* bound to a loopback address: check Host */
    const char *token;        /* --token; NULL: none */
    char csrf[65];            /* hex of 32 random bytes */
    char *page;               /* index.html with the <meta>s filled in */
    size_t page_len;
    json_t *queues;           /* /api/queues' last answer, or NULL */
    double queues_ms;         /* when it was made (tq_mono_ms) */
    ring *rings[MAX_RINGS];
    size_t nrings;
    size_t head, count;       /* the ring: next slot, samples kept */
    double last_sample_ms;
    /* the schedules' ticker (NULL sched_ev: --no-schedules) */
    struct event *sched_ev;
    tq_schedtick st;
    tq_schedtick_plan plan;   /* the tick armed, when armed */
    int armed;
    char sched_err[256];      /* the last failure reported (once until another) */
    int sched_fails;          /* failures in a row: the retry backs off */
} dash;

/* ---------------------------------------------------------------- small helpers */

/* Equal strings, in a time that depends on the lengths alone. */
static int same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char d = alen != blen;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)a[i] ^ (unsigned char)b[i];
    return d == 0;
}

static int random_hex(char *out, size_t bytes)
{
    unsigned char b[64];
    if (bytes > sizeof b || getrandom(b, bytes, 0) != (ssize_t)bytes)
        return -1;
    for (size_t i = 0; i < bytes; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    return 0;
}

/* The host of HOST:PORT or [V6]:PORT is a loopback address (127.0.0.0/8,
 * ::1 or the name localhost). */
static int is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (!strcmp(host, "localhost"))
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

/* Splits --listen into host (caller's buffer) and port. 0 or -1 (bad). */
static int parse_listen(const char *s, char *host, size_t hostsz, int *port)
{
    const char *colon;
    char *end;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        hl = (size_t)(close - s - 1);
        s++;
        colon = close + 1;
    } else {
        if (!(colon = strrchr(s, ':')))
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostsz)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

/* ---------------------------------------------------------------- replies */

static void security_headers(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; script-src 'self'; style-src 'self'; "
                      "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                      "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
}

static void send_text(struct evhttp_request *req, int code, const char *type,
                      const char *text, size_t len, int cache)
{
    struct evbuffer *b = evbuffer_new();
    security_headers(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
                      cache ? "max-age=300" : "no-store");
    if (b && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
        evbuffer_add(b, text, len);
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
    if (b)
        evbuffer_free(b);
}

/* Sends v (borrowed) as JSON. */
static void send_json(struct evhttp_request *req, int code, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        send_text(req, 500, "application/json", oom, sizeof oom - 1, 0);
        return;
    }
    send_text(req, code, "application/json", s, strlen(s), 0);
    free(s);
}

static void send_error(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void send_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s}", "error", msg);
    send_json(req, code, o);
    json_decref(o);
}

/* A library error as an HTTP answer: 404 no such thing, 400 bad input,
 * 409 (conflict) for what the caller names, 503 Redis. */
static void send_client_error(struct evhttp_request *req, tq_client *c, int conflict)
{
    int e = tq_client_err(c), code;
    switch (e) {
    case TQ_ENOTFOUND: code = 404; break;
    case TQ_EINVAL: code = conflict ? 409 : 400; break;
    case TQ_ENOMEM: code = 500; break;
    default: code = 503; break;
    }
    send_error(req, code, "%s", *tq_client_errstr(c) ? tq_client_errstr(c) : tq_strerror(e));
}

/* Sends v and releases it; a failed call (rv) as its error instead. */
static void send_result(struct evhttp_request *req, dash *d, int rv, json_t *v)
{
    if (rv)
        send_client_error(req, d->c, 0);
    else
        send_json(req, 200, v);
    json_decref(v);
}

/* ---------------------------------------------------------------- rates */

static ring *ring_of(dash *d, const char *queue)
{
    for (size_t i = 0; i < d->nrings; i++)
        if (!strcmp(d->rings[i]->queue, queue))
            return d->rings[i];
    if (d->nrings == MAX_RINGS)
        return NULL;
    ring *r = calloc(1, sizeof *r);
    if (!r || !(r->queue = strdup(queue))) {
        free(r);
        return NULL;
    }
    return d->rings[d->nrings++] = r;
}

/* One sample: each queue's processed total from the stats call, turned
 * into jobs per second since the last sample. A queue that vanished (or a
 * total that went down: tq queue rm) counts 0. */
static void sample(dash *d)
{
    json_t *st = NULL, *q;
    size_t i;
    double now = tq_mono_ms();
    double dt = d->last_sample_ms > 0 ? (now - d->last_sample_ms) / 1000 : 0;

    if (tq_admin_stats(d->c, &st))
        return; /* Redis away: no sample; the chart shows the gap as 0 */
    d->last_sample_ms = now;
    for (size_t k = 0; k < d->nrings; k++)
        d->rings[k]->rate[d->head] = 0;
    json_array_foreach(st, i, q) {
        const char *name = json_string_value(json_object_get(q, "queue"));
        json_t *tot = json_object_get(json_object_get(q, "totals"), "processed");
        ring *r;
        if (!name || !(r = ring_of(d, name)))
            continue;
        long long n = json_is_integer(tot) ? json_integer_value(tot) : 0;
        r->rate[d->head] = r->have_last && n >= r->last && dt > 0 ? (double)(n - r->last) / dt : 0;
        r->last = n;
        r->have_last = 1;
    }
    json_decref(st);
    d->head = (d->head + 1) % RING;
    if (d->count < RING)
        d->count++;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    sample(arg);
}

/* {"interval": 5, "queues": {Q: [jobs/s, oldest sample first]}}: the
 * first sample only sets the baseline, so it is left out. */
static json_t *rates_json(dash *d)
{
    json_t *o = json_object(), *qs = json_object();
    size_t n = d->count > 1 ? d->count - 1 : 0;
    if (!o || !qs) {
        json_decref(o);
        json_decref(qs);
        return NULL;
    }
    json_object_set_new(o, "interval", json_integer(SAMPLE_S));
    for (size_t k = 0; k < d->nrings; k++) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++) {
            size_t slot = (d->head + RING - n + i) % RING;
            json_array_append_new(a, json_real(round(d->rings[k]->rate[slot] * 100) / 100));
        }
        if (a)
            json_object_set_new(qs, d->rings[k]->queue, a);
    }
    json_object_set_new(o, "queues", qs);
    return o;
}

/* ---------------------------------------------------------------- schedules' ticker */

/* The dashboard fires schedules' ticks as every worker does (SPEC §10: no
 * leader; docs/design.md §11): the decision is broker/schedtick.c's, the
 * calls are the blocking client's from this loop (each one round trip), and
 * a timer of this loop stands for the worker's. A read-only dashboard ticks
 * too: firing a tick is not a user's action. */

static void sched_arm(dash *d, double ms)
{
    tq_timer_ms(d->sched_ev, ms);
}

/* A call failed (Redis away, a refusal such as a read-only ACL user's):
 * said once until another failure or a success, and tried again after 1 s,
 * doubling up to SCHED_RETRY_MAX_MS (a Redis away costs this loop a connect
 * timeout per try: the pages must not wait on it every second). */
#define SCHED_RETRY_MAX_MS 30000
static void sched_failed(dash *d, const char *call)
{
    const char *msg = tq_client_errstr(d->c);
    double ms = TQ_SCHEDTICK_PEEK_MS;
    if (strcmp(msg, d->sched_err)) {
        fprintf(stderr, "tq dashboard: schedules: %s: %s (trying again, backing off "
                "up to %d s)\n", call, msg, SCHED_RETRY_MAX_MS / 1000);
        snprintf(d->sched_err, sizeof d->sched_err, "%s", msg);
    }
    for (int i = 0; i < d->sched_fails && ms < SCHED_RETRY_MAX_MS; i++)
        ms *= 2;
    d->sched_fails++;
    d->armed = 0;
    sched_arm(d, ms < SCHED_RETRY_MAX_MS ? ms : SCHED_RETRY_MAX_MS);
}

/* Fires the armed tick (fire_armed), then peeks and fires what is due
 * (late ticks being caught up: one call each, at most SCHED_BURST per turn
 * of the loop, so the pages get theirs), and arms the timer for what
 * comes next. */
static void sched_run(dash *d, int fire_armed)
{
    tq_schedtick_plan *p = &d->plan;
    char what[16];

    d->armed = 0;
    if (fire_armed && tq_admin_sched_fire(d->c, &d->st, p, "fire", what)) {
        sched_failed(d, "schedfire");
        return;
    }
    for (int i = 0; i < SCHED_BURST; i++) {
        if (tq_admin_sched_peek(d->c, &d->st, p)) {
            sched_failed(d, "schedpeek");
            return;
        }
        d->sched_err[0] = '\0';
        d->sched_fails = 0;
        if (p->error[0])
            fprintf(stderr, "tq dashboard: %s\n", p->error);
        if (p->what != TQ_SCHEDTICK_FIRE) {
            d->armed = p->what == TQ_SCHEDTICK_ARM;
            sched_arm(d, p->ms);
            return;
        }
        if (tq_admin_sched_fire(d->c, &d->st, p, p->mode, what)) {
            sched_failed(d, "schedfire");
            return;
        }
    }
    sched_arm(d, 0); /* more to do: after the pages' turn */
}

static void on_sched(evutil_socket_t fd, short what, void *arg)
{
    dash *d = arg;
    sched_run(d, d->armed);
}

/* ---------------------------------------------------------------- queues */

/* The stats of every queue, each with "oldest_pending_age" (seconds, or
 * null), shared for QUEUES_CACHE_MS. Returns a borrowed value or NULL
 * (the client's error set). */
static json_t *queues_json(dash *d)
{
    json_t *st = NULL, *q, *o;
    double now = tq_mono_ms();
    size_t i;

    if (d->queues && now - d->queues_ms < QUEUES_CACHE_MS)
        return d->queues;
    if (tq_admin_stats(d->c, &st))
        return NULL;
    json_array_foreach(st, i, q) {
        const char *name = json_string_value(json_object_get(q, "queue"));
        double at = 0;
        json_t *age = json_null();
        if (name && !tq_admin_queue_oldest(d->c, name, &at) && at > 0) {
            double s = (double)time(NULL) - at;
            age = json_real(s > 0 ? round(s * 10) / 10 : 0);
        } else if (name && tq_client_err(d->c)) {
            json_decref(st);
            return NULL;
        }
        json_object_set_new(q, "oldest_pending_age", age);
    }
    if (!(o = json_pack("{s:o}", "queues", st)))
        return NULL;
    json_decref(d->queues);
    d->queues = o;
    d->queues_ms = now;
    return o;
}

/* ---------------------------------------------------------------- /metrics */

static void prom_label(struct evbuffer *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            evbuffer_add_printf(b, "\\%c", *s);
        else if (*s == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, s, 1);
    }
}

static int prom_name_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* Per queue: tq_queue_jobs{queue,state}, tq_queue_oldest_pending_age_seconds,
 * tq_queue_paused (gauges) and every total of tq stats as a counter
 * tq_queue_<field>_total (processed, succeeded, failed, ...). */
static void serve_metrics(struct evhttp_request *req, dash *d)
{
    static const char *const states[] = {"pending", "scheduled", "active", "dead"};
    json_t *all = queues_json(d), *qs, *q, *names;
    struct evbuffer *b;
    size_t i;
    if (!all) {
        send_client_error(req, d->c, 0);
        return;
    }
    qs = json_object_get(all, "queues");
    if (!(b = evbuffer_new()) || !(names = json_object())) {
        if (b)
            evbuffer_free(b);
        send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add_printf(b, "# HELP tq_queue_jobs Jobs of a queue in each state.\n"
                           "# TYPE tq_queue_jobs gauge\n");
    json_array_foreach(qs, i, q) {
        for (size_t s = 0; s < 4; s++) {
            evbuffer_add_printf(b, "tq_queue_jobs{queue=\"");
            prom_label(b, json_string_value(json_object_get(q, "queue")));
            evbuffer_add_printf(b, "\",state=\"%s\"} %lld\n", states[s],
                                (long long)json_integer_value(json_object_get(q, states[s])));
        }
    }
    evbuffer_add_printf(b, "# HELP tq_queue_oldest_pending_age_seconds Age of the queue's "
                           "oldest pending job (0: none).\n"
                           "# TYPE tq_queue_oldest_pending_age_seconds gauge\n");
    json_array_foreach(qs, i, q) {
        evbuffer_add_printf(b, "tq_queue_oldest_pending_age_seconds{queue=\"");
        prom_label(b, json_string_value(json_object_get(q, "queue")));
        evbuffer_add_printf(b, "\"} %.1f\n",
                            json_number_value(json_object_get(q, "oldest_pending_age")));
    }
    evbuffer_add_printf(b, "# HELP tq_queue_paused 1 while the queue is paused.\n"
                           "# TYPE tq_queue_paused gauge\n");
    json_array_foreach(qs, i, q) {
        evbuffer_add_printf(b, "tq_queue_paused{queue=\"");
        prom_label(b, json_string_value(json_object_get(q, "queue")));
        evbuffer_add_printf(b, "\"} %d\n", json_is_true(json_object_get(q, "paused")));
    }
    /* the totals: one family per field any queue has */
    json_array_foreach(qs, i, q) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(q, "totals"), k, v)
            if (json_is_integer(v) && prom_name_ok(k))
                json_object_set_new(names, k, json_true());
    }
    const char *k;
    json_t *unused;
    json_object_foreach(names, k, unused) {
        evbuffer_add_printf(b, "# HELP tq_queue_%s_total Jobs %s in the queue (tq stats).\n"
                               "# TYPE tq_queue_%s_total counter\n", k, k, k);
        json_array_foreach(qs, i, q) {
            json_t *v = json_object_get(json_object_get(q, "totals"), k);
            evbuffer_add_printf(b, "tq_queue_%s_total{queue=\"", k);
            prom_label(b, json_string_value(json_object_get(q, "queue")));
            evbuffer_add_printf(b, "\"} %lld\n", json_is_integer(v) ? (long long)json_integer_value(v) : 0);
        }
    }
    json_decref(names);
    security_headers(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* ---------------------------------------------------------------- the API: reads */

/* The value of query parameter name as a number in lo..hi; dflt when it
 * is absent; -1 when it is not a number in range. */
static long long query_num(struct evkeyvalq *qs, const char *name, long long dflt,
                           long long lo, long long hi)
{
    const char *v = evhttp_find_header(qs, name);
    char *end;
    if (!v)
        return dflt;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno || n < lo || n > hi)
        return -1;
    return n;
}

/* GET /api/queue/Q/jobs?state=S&limit=N&offset=M: newest first, through
 * tq jobs' listing (at most 10,000 deep). */
static void api_jobs(struct evhttp_request *req, dash *d, const char *queue,
                     struct evkeyvalq *qs)
{
    const char *state = evhttp_find_header(qs, "state");
    long long limit = query_num(qs, "limit", 25, 1, PAGE_MAX);
    long long offset = query_num(qs, "offset", 0, 0, TQ_JOBS_LIMIT_MAX - PAGE_MAX - 1);
    json_t *all = NULL, *page, *o;
    tq_perr e;
    if (limit < 0 || offset < 0) {
        send_error(req, 400, "limit is 1 to %d and offset 0 to %d", PAGE_MAX,
                   TQ_JOBS_LIMIT_MAX - PAGE_MAX - 1);
        return;
    }
    if (state && tq_admin_jobs_state_check(state, &e)) {
        send_error(req, 400, "%s", e.text);
        return;
    }
    if (tq_admin_jobs(d->c, queue, state, offset + limit + 1, &all)) {
        send_client_error(req, d->c, 0);
        return;
    }
    page = json_array();
    for (size_t i = (size_t)offset; page && i < json_array_size(all) && i < (size_t)(offset + limit); i++)
        json_array_append(page, json_array_get(all, i));
    o = json_pack("{s:o?,s:b,s:I}", "jobs", page,
                  "more", json_array_size(all) > (size_t)(offset + limit), "offset", offset);
    send_json(req, 200, o);
    json_decref(o);
    json_decref(all);
}

/* tq_logs' output gathered (at most the 64 KiB the worker keeps). */
static void output_add(const char *data, size_t len, void *ud)
{
    evbuffer_add(ud, data, len);
}

/* A finished job's kept stderr as valid UTF-8 text in o's "output" (one
 * GET of its key; a running job's output would mean asking its worker and
 * waiting up to a second on this loop: the page says `tq logs -f` then). */
static void job_output(dash *d, const tq_job *j, json_t *o)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;
    char *text;

    if (!b)
        return;
    if (tq_logs(d->c, j->id, 0, output_add, b) == 0 &&
        (n = evbuffer_get_length(b)) > 0 && (text = malloc(3 * n + 1))) {
        size_t m = tq_text_clean(text, 3 * n + 1, (const char *)evbuffer_pullup(b, -1), n, 0);
        json_object_set_new(o, "output", json_stringn(text, m));
        free(text);
    }
    evbuffer_free(b);
}

static void api_job(struct evhttp_request *req, dash *d, const char *id)
{
    tq_job *j = NULL;
    json_t *o;
    if (tq_status(d->c, id, &j)) {
        send_client_error(req, d->c, 0);
        return;
    }
    o = tq_job_to_json(j);
    if (o && j->log_bytes > 0 && tq_state_terminal(j->state))
        job_output(d, j, o);
    tq_job_free(j);
    send_json(req, 200, o);
    json_decref(o);
}

/* ---------------------------------------------------------------- the API: actions */

static void ok_json(struct evhttp_request *req, int code, json_t *o)
{
    send_json(req, code, o);
    json_decref(o);
}

/* A job's delete: a job not finished is cancelled first (a pending one is
 * then cancelled at once and deleted; a running one only once its worker
 * has stopped it: 202 says so, and a second delete finishes the work). */
static void act_delete(struct evhttp_request *req, dash *d, const char *id)
{
    tq_job *j = NULL;
    int cancelled = 0, deleted = 0;
    if (tq_status(d->c, id, &j)) {
        send_client_error(req, d->c, 0);
        return;
    }
    if (!tq_state_terminal(j->state)) {
        if (tq_cancel(d->c, id, NULL)) {
            tq_job_free(j);
            send_client_error(req, d->c, 0);
            return;
        }
        cancelled = 1;
    }
    tq_job_free(j);
    if (tq_admin_job_delete(d->c, id, &deleted)) {
        send_client_error(req, d->c, 0);
        return;
    }
    if (deleted)
        ok_json(req, 200, json_pack("{s:b,s:b}", "cancelled", cancelled, "deleted", 1));
    else
        ok_json(req, 202, json_pack("{s:b,s:b,s:s}", "cancelled", cancelled, "deleted", 0,
                                    "note", "the job is running: its worker is stopping it; "
                                            "delete it again once it is cancelled"));
}

/* POST /api/... : seg[] is the path after /api/, n segments. */
static void api_post(struct evhttp_request *req, dash *d, char **seg, size_t n,
                     struct evkeyvalq *qs)
{
    const char *queue = evhttp_find_header(qs, "queue");
    long long k = 0;
    int changed = 0;
    tq_perr e;

    if (queue && tq_queue_check(queue, &e)) {
        send_error(req, 400, "queue: %s", e.text);
        return;
    }
    if (n == 3 && !strcmp(seg[0], "job")) {
        const char *id = seg[1];
        if (!strcmp(seg[2], "cancel")) {
            tq_state before;
            if (tq_cancel(d->c, id, &before))
                send_client_error(req, d->c, 0);
            else
                ok_json(req, 200, json_pack("{s:s}", "was", tq_state_name(before)));
            return;
        }
        if (!strcmp(seg[2], "retry")) {
            if (tq_admin_dlq_retry(d->c, id))
                send_client_error(req, d->c, 1);
            else
                ok_json(req, 200, json_pack("{s:i}", "retried", 1));
            return;
        }
        if (!strcmp(seg[2], "delete")) {
            act_delete(req, d, id);
            return;
        }
    } else if (n == 2 && !strcmp(seg[0], "dlq")) {
        if (!strcmp(seg[1], "retry-all")) {
            if (tq_admin_dlq_retry_all(d->c, queue, &k))
                send_client_error(req, d->c, 0);
            else
                ok_json(req, 200, json_pack("{s:I}", "retried", k));
            return;
        }
        if (!strcmp(seg[1], "purge")) {
            if (tq_admin_dlq_purge(d->c, queue, &k))
                send_client_error(req, d->c, 0);
            else
                ok_json(req, 200, json_pack("{s:I}", "purged", k));
            return;
        }
    } else if (n == 3 && !strcmp(seg[0], "queue") &&
               (!strcmp(seg[2], "pause") || !strcmp(seg[2], "resume"))) {
        if (tq_admin_queue_pause(d->c, seg[1], !strcmp(seg[2], "pause"), &changed)) {
            send_client_error(req, d->c, 0);
        } else {
            json_decref(d->queues); /* the next overview shows it */
            d->queues = NULL;
            ok_json(req, 200, json_pack("{s:b}", "changed", changed));
        }
        return;
    } else if (n == 3 && !strcmp(seg[0], "schedule")) {
        if (!strcmp(seg[2], "pause") || !strcmp(seg[2], "resume")) {
            if (tq_admin_schedule_ctl(d->c, seg[1], seg[2]))
                send_client_error(req, d->c, 0);
            else
                ok_json(req, 200, json_pack("{s:s}", "schedule", seg[2]));
            return;
        }
        if (!strcmp(seg[2], "run")) {
            char id[TQ_ID_SIZE];
            if (tq_admin_schedule_run(d->c, seg[1], id))
                send_client_error(req, d->c, 0);
            else
                ok_json(req, 200, json_pack("{s:s}", "job", id));
            return;
        }
    }
    send_error(req, 404, "no such action");
}

/* GET /api/... */
static void api_get(struct evhttp_request *req, dash *d, char **seg, size_t n,
                    struct evkeyvalq *qs)
{
    json_t *v = NULL;
    int rv;
    if (n == 1 && !strcmp(seg[0], "queues")) {
        json_t *q = queues_json(d);
        if (q)
            send_json(req, 200, q);
        else
            send_client_error(req, d->c, 0);
    } else if (n == 2 && !strcmp(seg[0], "queue")) {
        rv = tq_admin_queue_counts(d->c, seg[1], &v);
        send_result(req, d, rv, v);
    } else if (n == 3 && !strcmp(seg[0], "queue") && !strcmp(seg[2], "jobs")) {
        api_jobs(req, d, seg[1], qs);
    } else if (n == 2 && !strcmp(seg[0], "job")) {
        api_job(req, d, seg[1]);
    } else if (n == 1 && !strcmp(seg[0], "workers")) {
        rv = tq_admin_workers(d->c, &v);
        send_result(req, d, rv, v);
    } else if (n == 1 && !strcmp(seg[0], "dlq")) {
        const char *queue = evhttp_find_header(qs, "queue");
        tq_perr e;
        if (queue && tq_queue_check(queue, &e)) {
            send_error(req, 400, "queue: %s", e.text);
            return;
        }
        rv = tq_admin_dlq_list(d->c, queue, &v);
        send_result(req, d, rv, v);
    } else if (n == 1 && !strcmp(seg[0], "schedules")) {
        rv = tq_admin_schedule_list(d->c, &v);
        send_result(req, d, rv, v);
    } else if (n == 1 && !strcmp(seg[0], "semaphores")) {
        rv = tq_admin_semaphore_show(d->c, NULL, &v);
        send_result(req, d, rv, v);
    } else if (n == 1 && !strcmp(seg[0], "ratelimits")) {
        rv = tq_admin_ratelimit_show(d->c, NULL, &v);
        send_result(req, d, rv, v);
    } else if (n == 1 && !strcmp(seg[0], "rates")) {
        v = rates_json(d);
        send_json(req, v ? 200 : 500, v);
        json_decref(v);
    } else if (n == 1 && !strcmp(seg[0], "info")) {
        v = json_pack("{s:s,s:b,s:b}", "version", TQ_VERSION, "read_only", d->read_only,
                      "token", d->token != NULL);
        send_json(req, 200, v);
        json_decref(v);
    } else {
        send_error(req, 404, "no such API path");
    }
}

/* ---------------------------------------------------------------- dispatch */

/* With --token: the request carries "Authorization: Bearer TOKEN". */
static int authorized(struct evhttp_request *req, dash *d)
{
    const char *a;
    if (!d->token)
        return 1;
    a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!a || strncmp(a, "Bearer ", 7))
        return 0;
    return same_secret(a + 7, strlen(a + 7), d->token, strlen(d->token));
}

/* On a loopback address the Host header names a loopback host: a page of
 * another site that rebinds its name to 127.0.0.1 sends its own. */
static int host_ok(struct evhttp_request *req, dash *d)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    char host[256];
    size_t n;
    if (!d->loopback)
        return 1;
    if (!h)
        return 0;
    if (h[0] == '[') {
        const char *close = strchr(h, ']');
        if (!close || (n = (size_t)(close - h - 1)) >= sizeof host)
            return 0;
        memcpy(host, h + 1, n);
    } else {
        n = strcspn(h, ":");
        if (n >= sizeof host)
            return 0;
        memcpy(host, h, n);
    }
    host[n] = '\0';
    return is_loopback(host);
}

#define MAX_SEG 4

static void on_request(struct evhttp_request *req, void *arg)
{
    dash *d = arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    const char *query = u ? evhttp_uri_get_query(u) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evkeyvalq qs = {0};
    char *seg[MAX_SEG] = {0}, *copy = NULL;
    size_t n = 0;

    if (!path || !*path)
        path = "/";
    if (!host_ok(req, d)) {
        send_error(req, 403, "Host is not a loopback name");
        return;
    }
    if (strcmp(path, "/") && strncmp(path, "/api/", 5) && strcmp(path, "/metrics")) {
        for (size_t i = 0; i < sizeof assets / sizeof *assets; i++)
            if (!strcmp(path, assets[i].path) && strcmp(path, "/index.html")) {
                if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
                    send_error(req, 405, "GET only");
                else
                    send_text(req, 200, assets[i].type, assets[i].text, assets[i].len, 1);
                return;
            }
        send_error(req, 404, "not found");
        return;
    }
    if (!strcmp(path, "/")) {
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
            send_error(req, 405, "GET only");
        else
            send_text(req, 200, "text/html; charset=utf-8", d->page, d->page_len, 0);
        return;
    }
    if (!strcmp(path, "/metrics")) {
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
            send_error(req, 405, "GET only");
        else if (!authorized(req, d))
            send_error(req, 401, "this dashboard needs its token (Authorization: Bearer)");
        else
            serve_metrics(req, d);
        return;
    }
    /* /api/: split the rest into decoded segments */
    if (query && evhttp_parse_query_str(query, &qs)) {
        send_error(req, 400, "bad query string");
        return;
    }
    if (!(copy = strdup(path + 5))) {
        send_error(req, 500, "out of memory");
        goto done;
    }
    for (char *save = NULL, *s = strtok_r(copy, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        size_t len = 0;
        if (n == MAX_SEG) {
            send_error(req, 404, "no such API path");
            goto done;
        }
        if (!(seg[n] = evhttp_uridecode(s, 0, &len)) || strlen(seg[n]) != len || !len) {
            n += seg[n] != NULL;
            send_error(req, 400, "bad path");
            goto done;
        }
        n++;
    }
    if (n == 0) {
        send_error(req, 404, "no such API path");
    } else if (cmd == EVHTTP_REQ_POST) {
        const char *t = evhttp_find_header(evhttp_request_get_input_headers(req), "X-TQ-CSRF");
        if (d->read_only)
            send_error(req, 403, "this dashboard is read-only");
        else if (!t || !same_secret(t, strlen(t), d->csrf, strlen(d->csrf)))
            send_error(req, 403, "missing or wrong X-TQ-CSRF header (reload the page)");
        else if (!authorized(req, d))
            send_error(req, 401, "this dashboard needs its token (Authorization: Bearer)");
        else
            api_post(req, d, seg, n, &qs);
    } else if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) {
        if (!authorized(req, d))
            send_error(req, 401, "this dashboard needs its token (Authorization: Bearer)");
        else
            api_get(req, d, seg, n, &qs);
    } else {
        send_error(req, 405, "GET or POST only");
    }
done:
    for (size_t i = 0; i < n; i++)
        free(seg[i]);
    free(copy);
    evhttp_clear_headers(&qs);
}

/* ---------------------------------------------------------------- the command */

/* index.html with its two <meta>s filled in: the CSRF token and whether
 * the page shows actions. */
static char *make_page(const dash *d, size_t *len)
{
    const asset *a = NULL;
    for (size_t i = 0; i < sizeof assets / sizeof *assets; i++)
        if (!strcmp(assets[i].path, "/index.html"))
            a = &assets[i];
    if (!a)
        return NULL;
    const char *c = strstr(a->text, "__TQ_CSRF__"), *r = strstr(a->text, "__TQ_RO__");
    if (!c || !r || r < c)
        return NULL;
    char *p = malloc(a->len + sizeof d->csrf + 8);
    if (!p)
        return NULL;
    int n = snprintf(p, a->len + sizeof d->csrf + 8, "%.*s%s%.*s%s%s",
                     (int)(c - a->text), a->text, d->csrf,
                     (int)(r - c - 11), c + 11, d->read_only ? "1" : "0", r + 9);
    *len = (size_t)n;
    return p;
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

int cmd_dashboard(cli *cl)
{
    const char *listen = cl->listen ? cl->listen : DASH_DEFAULT_LISTEN;
    struct evhttp_bound_socket *sock;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[256];
    int port, code = EXIT_OK;
    dash d = {0};
    int rc;

    if ((rc = want_args(cl, 0, 0, "[--listen HOST:PORT] [--read-only] [--token TOKEN] "
                        "[--no-schedules]")) != GO_ON)
        return rc;
    if (cl->json)
        return fail(EXIT_USAGE, "--json does not apply to 'tq dashboard' (its JSON is "
                    "the API it serves under /api/)");
    if (parse_listen(listen, host, sizeof host, &port))
        return fail(EXIT_USAGE, "--listen: '%s' is not HOST:PORT", listen);
    d.loopback = is_loopback(host);
    d.read_only = cl->read_only;
    d.token = cl->token ? cl->token : getenv("TQ_DASHBOARD_TOKEN");
    if (d.token && !*d.token)
        d.token = NULL;
    if (!d.loopback && !d.token && !d.read_only)
        return fail(EXIT_USAGE, "--listen %s is not a loopback address: give --token "
                    "(actions need it) or --read-only", listen);
    if (random_hex(d.csrf, 32))
        return fail(EXIT_REDIS, "no random bytes for the CSRF token: %s", strerror(errno));
    if (!(d.page = make_page(&d, &d.page_len)))
        return fail(EXIT_REDIS, "the built-in page is broken (web/index.html)");
    if (!(d.c = connect_or_fail(cl, &code))) {
        free(d.page);
        return code;
    }
    if (!(d.base = event_base_new()) || !(d.http = evhttp_new(d.base))) {
        code = fail(EXIT_REDIS, "cannot start the event loop");
        goto out;
    }
    evhttp_set_allowed_methods(d.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_max_body_size(d.http, 4096);
    evhttp_set_max_headers_size(d.http, 16384);
    evhttp_set_timeout(d.http, 30);
    evhttp_set_gencb(d.http, on_request, &d);
    if (!(sock = evhttp_bind_socket_with_handle(d.http, host, (ev_uint16_t)port))) {
        code = fail(EXIT_USAGE, "--listen %s: cannot listen there: %s", listen, strerror(errno));
        goto out;
    }
    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) == 0)
        port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    d.tick = event_new(d.base, -1, EV_PERSIST, on_tick, &d);
    d.sigint = evsignal_new(d.base, SIGINT, on_signal, d.base);
    d.sigterm = evsignal_new(d.base, SIGTERM, on_signal, d.base);
    if (!cl->no_schedules &&
        (tq_schedtick_init(&d.st, d.c->nk.ns) || !(d.sched_ev = evtimer_new(d.base, on_sched, &d)))) {
        code = fail(EXIT_REDIS, "out of memory");
        goto out;
    }
    if (!d.tick || !d.sigint || !d.sigterm) {
        code = fail(EXIT_REDIS, "out of memory");
        goto out;
    }
    event_add(d.tick, &(struct timeval){SAMPLE_S, 0});
    event_add(d.sigint, NULL);
    event_add(d.sigterm, NULL);
    sample(&d); /* the baseline of the rates */
    if (d.sched_ev)
        sched_arm(&d, 0);
    printf("tq dashboard: http://%s%s%s:%d/%s%s\n", strchr(host, ':') ? "[" : "", host,
           strchr(host, ':') ? "]" : "", port, d.read_only ? " (read-only)" : "",
           d.token ? " (token required)" : "");
    fflush(stdout);
    event_base_dispatch(d.base);
out:
    for (size_t i = 0; i < d.nrings; i++) {
        free(d.rings[i]->queue);
        free(d.rings[i]);
    }
    json_decref(d.queues);
    if (d.tick)
        event_free(d.tick);
    if (d.sigint)
        event_free(d.sigint);
    if (d.sigterm)
        event_free(d.sigterm);
    if (d.sched_ev)
        event_free(d.sched_ev);
    tq_schedtick_clear(&d.st);
    if (d.http)
        evhttp_free(d.http);
    if (d.base)
        event_base_free(d.base);
    tq_client_free(d.c);
    free(d.page);
    return code;
}
