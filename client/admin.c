/* admin.c -- stats, workers, the dead-letter list and purge, for operators
 * (semaphores are semaphore.c).
 *
 * Read-only listings are plain pipelined reads (a queue's counts are 14
 * commands, all queues' go out in one round trip); everything that moves or
 * deletes jobs goes through the broker's scripts (retry, dlqpurge, purge), so
 * an operator can never leave a job in two places. Results are built as JSON
 * values and formatted by the CLI (cmd/tq/admin.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/admin.h"
#include "client/client_private.h"

/* ---------------------------------------------------------------- helpers */

/* A list of validated queue names; owned strings. */
typedef struct qlist {
    char **names;
    size_t n;
} qlist;

static void qlist_clear(qlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The queues to work on: only (validated) when given, else every queue of
 * P:queues, sorted. Names that are not valid queue names (written by
 * something else) are skipped: they cannot have keys of ours. */
static int queues_of(tq_client *c, const char *only, qlist *l)
{
    redisReply *r = NULL;
    tq_perr e;
    int rv = 0;

    memset(l, 0, sizeof *l);
    if (only) {
        if (tq_queue_check(only, &e))
            return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
        l->names = malloc(sizeof *l->names);
        if (!l->names || !(l->names[0] = strdup(only))) {
            free(l->names);
            l->names = NULL;
            return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        }
        l->n = 1;
        return 0;
    }
    if ((rv = tq_client_connect(c)))
        return rv;
    const char *argv[] = {"SMEMBERS", c->nk.queues};
    r = redisCommandArgv(c->rc, 2, argv, NULL);
    if ((rv = tq_client_check(c, r, "SMEMBERS queues")))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY) {
        rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered SMEMBERS with something else");
        goto done;
    }
    l->names = calloc(r->elements ? r->elements : 1, sizeof *l->names);
    if (!l->names) {
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const char *q = tq_reply_str(r, i, NULL);
        if (!q || tq_queue_check(q, &e))
            continue;
        if (!(l->names[l->n] = strdup(q))) {
            rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
            goto done;
        }
        l->n++;
    }
    qsort(l->names, l->n, sizeof *l->names, cmp_str);
done:
    if (r)
        freeReplyObject(r);
    if (rv)
        qlist_clear(l);
    return rv;
}

/* The keys of every queue of l, in order. NULL on OOM (errstr set). */
static tq_qkeys **keys_of(tq_client *c, const qlist *l)
{
    tq_qkeys **k = calloc(l->n ? l->n : 1, sizeof *k);
    if (!k) {
        tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < l->n; i++) {
        tq_client_queue *q = tq_client_queue_get(c, l->names[i]);
        if (!q) {
            free(k);
            return NULL;
        }
        k[i] = q->keys;
    }
    return k;
}

/* A number from a Redis string, as JSON: an integer when it is one, a real
 * when it parses as one, else the text itself (never lose what is there). */
static json_t *num_or_str(const char *s)
{
    char *end;
    if (!s)
        return json_null();
    long long v = strtoll(s, &end, 10);
    if (*s && !*end)
        return json_integer(v);
    double d = strtod(s, &end);
    if (*s && !*end && isfinite(d))
        return json_real(d);
    return json_string(s);
}

/* Seconds rounded to the millisecond, for differences of two clocks. */
static double msround(double s)
{
    return round(s * 1000) / 1000;
}

static int set_new(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

static int reply_int(const redisReply *r, long long *v)
{
    if (r->type != REDIS_REPLY_INTEGER)
        return -1;
    *v = r->integer;
    return 0;
}

/* ---------------------------------------------------------------- stats */

/* LLEN p0..p9, ZCARD sched active dead, EXISTS paused, HGETALL fair (the
 * ids in fair keys' lists, per priority: lib.lua push_ids; HGETALL, not
 * HVALS: the least-privilege ACL of deploy/redis/users.acl has it), HGETALL
 * stats */
#define STATS_CMDS (TQ_NPRIO + 6)
#define STATS_FAIR (TQ_NPRIO + 4)

typedef struct stats_ctx {
    tq_qkeys **k;
    json_t *out;      /* array of queue objects */
    long long pending;
    char key[TQ_KEY_SIZE];
} stats_ctx;

static int stats_argv(const char **argv, size_t *lens, size_t i, void *ud)
{
    stats_ctx *s = ud;
    tq_qkeys *k = s->k[i / STATS_CMDS];
    size_t j = i % STATS_CMDS;
    if (j < TQ_NPRIO) {
        argv[0] = "LLEN";
        argv[1] = k->pending[j];
        return 2;
    }
    argv[0] = "ZCARD";
    switch (j - TQ_NPRIO) {
    case 0: argv[1] = k->sched; return 2;
    case 1: argv[1] = k->active; return 2;
    case 2: argv[1] = k->dead; return 2;
    case 3: {
        /* P:{Q}:paused, next to the job prefix P:{Q}:j: (tq queue pause) */
        size_t plen = strlen(k->job_prefix);
        if (plen < 2 || plen + 5 > sizeof s->key)
            return -1;
        snprintf(s->key, sizeof s->key, "%.*spaused", (int)(plen - 2), k->job_prefix);
        argv[0] = "EXISTS";
        argv[1] = s->key;
        return 2;
    }
    case 4: {
        /* P:{Q}:fair, next to the job prefix P:{Q}:j: */
        size_t plen = strlen(k->job_prefix);
        if (plen < 2 || plen + 3 > sizeof s->key)
            return -1;
        snprintf(s->key, sizeof s->key, "%.*sfair", (int)(plen - 2), k->job_prefix);
        argv[0] = "HGETALL";
        argv[1] = s->key;
        return 2;
    }
    }
    argv[0] = "HGETALL";
    argv[1] = k->stats;
    return 2;
}

static int stats_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    static const char *const counts[] = {"scheduled", "active", "dead"};
    static const char *const totals[] = {"processed", "succeeded", "failed",
                                         "dead", "retried", "lost", "cancelled"};
    stats_ctx *s = ud;
    json_t *q = json_array_get(s->out, i / STATS_CMDS);
    size_t j = i % STATS_CMDS;
    long long v;

    if (j == STATS_FAIR) {
        /* a value that is not a count adds nothing */
        for (size_t f = 1; r->type == REDIS_REPLY_ARRAY && f < r->elements; f += 2) {
            const char *val = tq_reply_str(r, f, NULL);
            long long n = val ? strtoll(val, NULL, 10) : 0;
            if (n > 0)
                s->pending += n;
        }
        return set_new(q, "pending", json_integer(s->pending)) ? tq_client_seterr(
                   c, TQ_ENOMEM, "out of memory") : 0;
    }
    if (j < STATS_CMDS - 1) {
        if (reply_int(r, &v))
            return tq_client_seterr(c, TQ_EPROTO, "Redis answered a count with something else");
        if (j < TQ_NPRIO) {
            s->pending = (j == 0 ? 0 : s->pending) + v;
            if (j == TQ_NPRIO - 1 && set_new(q, "pending", json_integer(s->pending)))
                goto oom;
            return 0;
        }
        if (j - TQ_NPRIO == 3)
            return set_new(q, "paused", json_boolean(v > 0)) ? tq_client_seterr(
                       c, TQ_ENOMEM, "out of memory") : 0;
        if (set_new(q, counts[j - TQ_NPRIO], json_integer(v)))
            goto oom;
        return 0;
    }
    json_t *t = json_object();
    if (set_new(q, "totals", t))
        goto oom;
    for (size_t f = 0; f < sizeof totals / sizeof *totals; f++)
        if (set_new(t, totals[f], json_integer(0)))
            goto oom;
    if (r->type != REDIS_REPLY_ARRAY)
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered HGETALL with something else");
    for (size_t f = 0; f + 1 < r->elements; f += 2) {
        const char *name = tq_reply_str(r, f, NULL);
        const char *val = tq_reply_str(r, f + 1, NULL);
        if (name && set_new(t, name, num_or_str(val)))
            goto oom;
    }
    return 0;
oom:
    return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
}

int tq_admin_stats(tq_client *c, json_t **out)
{
    stats_ctx s = {0};
    qlist l;
    int rv;

    *out = NULL;
    if ((rv = tq_client_begin(c)) || (rv = queues_of(c, NULL, &l)))
        return rv;
    if (!(s.k = keys_of(c, &l)) || !(s.out = json_array())) {
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < l.n; i++) {
        json_t *q = json_object();
        if (json_array_append_new(s.out, q) || set_new(q, "queue", json_string(l.names[i]))) {
            rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
            goto done;
        }
    }
    rv = tq_client_pipeline_argv(c, l.n * STATS_CMDS, stats_argv, stats_reply, &s);
done:
    if (!rv) {
        *out = s.out;
        s.out = NULL;
    }
    json_decref(s.out);
    free(s.k);
    qlist_clear(&l);
    return rv;
}

/* ---------------------------------------------------------------- workers */

/* A worker beats every second (worker/worker.c). One whose last beat is
 * older than this is shown `stale` at once: it is dead or cut off, though
 * the reclaimer buries it (and frees its jobs) only after ~10 s. */
#define WORKER_STALE_S 3.0

typedef struct workers_ctx {
    tq_client *c;
    json_t *out;
    char key[TQ_KEY_SIZE];
    double now;       /* Redis's clock, seconds */
} workers_ctx;

static int card_argv(const char **argv, size_t *lens, size_t i, void *ud)
{
    workers_ctx *w = ud;
    json_t *o = json_array_get(w->out, i);
    const char *id = json_string_value(json_object_get(o, "id"));
    if (!tq_key_join(w->key, sizeof w->key, w->c->nk.worker_prefix, id))
        return -1;
    argv[0] = "HGETALL";
    argv[1] = w->key;
    return 2;
}

static int card_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    static const char *const ints[] = {"pid", "concurrency", "busy"};
    workers_ctx *w = ud;
    json_t *o = json_array_get(w->out, i);
    const char *host = NULL, *queues = NULL, *started = NULL, *version = NULL;
    const char *num[3] = {NULL, NULL, NULL};

    if (r->type != REDIS_REPLY_ARRAY)
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered HGETALL with something else");
    for (size_t f = 0; f + 1 < r->elements; f += 2) {
        const char *name = tq_reply_str(r, f, NULL);
        const char *val = tq_reply_str(r, f + 1, NULL);
        if (!name || !val)
            continue;
        if (!strcmp(name, "host"))
            host = val;
        else if (!strcmp(name, "queues"))
            queues = val;
        else if (!strcmp(name, "started"))
            started = val;
        else if (!strcmp(name, "version"))
            version = val;
        for (int k = 0; k < 3; k++)
            if (!strcmp(name, ints[k]))
                num[k] = val;
    }
    json_t *qs = NULL;
    if (queues) {
        qs = json_loads(queues, JSON_DECODE_ANY, NULL);
        if (!qs)
            qs = json_string(queues);
    }
    double st = started ? strtod(started, NULL) : 0;
    double hb = json_real_value(json_object_get(o, "heartbeat"));
    double age = msround(w->now - hb);
    int stale = !(age <= WORKER_STALE_S); /* a NaN age (junk score) is stale */
    int bad = set_new(o, "host", host ? json_string(host) : json_null()) ||
              set_new(o, "pid", num_or_str(num[0])) ||
              set_new(o, "queues", qs ? qs : json_null()) ||
              set_new(o, "concurrency", num_or_str(num[1])) ||
              set_new(o, "busy", num_or_str(num[2])) ||
              set_new(o, "started", st > 0 ? json_real(st) : json_null()) ||
              set_new(o, "uptime", st > 0 ? json_real(msround(w->now - st)) : json_null()) ||
              set_new(o, "heartbeat_age", isfinite(age) ? json_real(age) : json_null()) ||
              set_new(o, "state", json_string(stale ? "stale" : "ok")) ||
              set_new(o, "stale", json_boolean(stale)) ||
              set_new(o, "version", version ? json_string(version) : json_null());
    return bad ? tq_client_seterr(c, TQ_ENOMEM, "out of memory") : 0;
}

/* A heartbeat score (ms) as Unix seconds; 0 for one that is not a finite
 * number (ZADD takes "inf"), which then reads as stale. */
static double hb_of(const char *score)
{
    double ms = score ? strtod(score, NULL) : 0;
    return isfinite(ms) ? ms / 1000 : 0;
}

int tq_admin_workers(tq_client *c, json_t **out)
{
    workers_ctx w;
    redisReply *r = NULL;
    int64_t now;
    int rv;

    *out = NULL;
    memset(&w, 0, sizeof w);
    w.c = c;
    if ((rv = tq_client_begin(c)) || (rv = tq_client_redis_time(c, &now)))
        return rv;
    w.now = (double)now / 1000;
    const char *argv[] = {"ZRANGE", c->nk.workers, "0", "-1", "WITHSCORES"};
    r = redisCommandArgv(c->rc, 5, argv, NULL);
    if ((rv = tq_client_check(c, r, "ZRANGE workers")))
        goto done;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered ZRANGE with something else");
        goto done;
    }
    if (!(w.out = json_array())) {
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *id = tq_reply_str(r, i, NULL);
        const char *score = tq_reply_str(r, i + 1, NULL);
        if (!id || strlen(id) > 256)
            continue;
        json_t *o = json_object();
        if (json_array_append_new(w.out, o) || set_new(o, "id", json_string(id)) ||
            set_new(o, "heartbeat", json_real(hb_of(score)))) {
            rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
            goto done;
        }
    }
    rv = tq_client_pipeline_argv(c, json_array_size(w.out), card_argv, card_reply, &w);
done:
    if (r)
        freeReplyObject(r);
    if (!rv) {
        *out = w.out;
        w.out = NULL;
    }
    json_decref(w.out);
    return rv;
}

/* ---------------------------------------------------------------- dead-letter list */

/* Reads the ids of the dead-letter lists of l's queues (ZRANGE WITHSCORES),
 * one array of [id, queue index] pairs per the order of l. */
typedef struct dead_ctx {
    tq_client *c;
    tq_qkeys **k;
    json_t *out;       /* listing objects, or ids to act on */
    size_t *qidx;      /* queue index of each entry of out */
    size_t cap;
    int with_scores;
    char key[TQ_KEY_SIZE];
} dead_ctx;

static int dead_argv(const char **argv, size_t *lens, size_t i, void *ud)
{
    dead_ctx *d = ud;
    argv[0] = "ZRANGE";
    argv[1] = d->k[i]->dead;
    argv[2] = "0";
    argv[3] = "-1";
    argv[4] = "WITHSCORES";
    return d->with_scores ? 5 : 4;
}

static int dead_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    dead_ctx *d = ud;
    size_t step = d->with_scores ? 2 : 1;
    tq_perr e;

    if (r->type != REDIS_REPLY_ARRAY)
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered ZRANGE with something else");
    for (size_t j = 0; j + step - 1 < r->elements; j += step) {
        const char *id = tq_reply_str(r, j, NULL);
        if (!id || tq_id_check(id, &e))
            continue;
        size_t at = json_array_size(d->out);
        if (at == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 64;
            size_t *q = realloc(d->qidx, cap * sizeof *q);
            if (!q)
                return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
            d->qidx = q;
            d->cap = cap;
        }
        d->qidx[at] = i;
        json_t *o = json_object();
        if (json_array_append_new(d->out, o) || set_new(o, "id", json_string(id)) ||
            set_new(o, "queue", json_string(d->k[i]->queue)))
            return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    }
    return 0;
}

static const char *dead_id(const dead_ctx *d, size_t i)
{
    return json_string_value(json_object_get(json_array_get(d->out, i), "id"));
}

static int dlq_fields_argv(const char **argv, size_t *lens, size_t i, void *ud)
{
    dead_ctx *d = ud;
    if (!tq_key_join(d->key, sizeof d->key, d->k[d->qidx[i]]->job_prefix, dead_id(d, i)))
        return -1;
    argv[0] = "HMGET";
    argv[1] = d->key;
    argv[2] = "task";
    argv[3] = "error";
    argv[4] = "attempt";
    argv[5] = "finished_at";
    return 6;
}

static int dlq_fields_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    dead_ctx *d = ud;
    json_t *o = json_array_get(d->out, i);
    const char *task = tq_reply_str(r, 0, NULL), *error = tq_reply_str(r, 1, NULL);
    const char *attempt = tq_reply_str(r, 2, NULL), *fin = tq_reply_str(r, 3, NULL);
    double t = fin ? strtod(fin, NULL) : 0;
    if (set_new(o, "task", task ? json_string(task) : json_null()) ||
        set_new(o, "error", error ? json_string(error) : json_null()) ||
        set_new(o, "attempt", num_or_str(attempt)) ||
        set_new(o, "finished_at", t > 0 ? json_real(t) : json_null()))
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    return 0;
}

/* Collects the dead ids of queue (NULL = all) into d->out. */
static int dead_collect(tq_client *c, const char *queue, qlist *l, dead_ctx *d,
                        int with_scores)
{
    int rv;
    memset(d, 0, sizeof *d);
    d->c = c;
    d->with_scores = with_scores;
    if ((rv = queues_of(c, queue, l)))
        return rv;
    if (!(d->k = keys_of(c, l)))
        return c->err;
    if (!(d->out = json_array()))
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    return tq_client_pipeline_argv(c, l->n, dead_argv, dead_reply, d);
}

static void dead_clear(dead_ctx *d, qlist *l)
{
    json_decref(d->out);
    free(d->qidx);
    free(d->k);
    qlist_clear(l);
}

int tq_admin_dlq_list(tq_client *c, const char *queue, json_t **out)
{
    dead_ctx d;
    qlist l;
    int rv;

    *out = NULL;
    if ((rv = tq_client_begin(c)))
        return rv;
    rv = dead_collect(c, queue, &l, &d, 1);
    if (!rv)
        rv = tq_client_pipeline_argv(c, json_array_size(d.out), dlq_fields_argv,
                                     dlq_fields_reply, &d);
    if (!rv) {
        *out = d.out;
        d.out = NULL;
    }
    dead_clear(&d, &l);
    return rv;
}

/* retry: KEYS job dead wake p0..p9; ARGV id. */
static void retry_keys(tq_cmd *cmd, const tq_qkeys *k, const char *jk)
{
    tq_cmd_key(cmd, jk);
    tq_cmd_key(cmd, k->dead);
    tq_cmd_key(cmd, k->wake);
    for (int p = 0; p < TQ_NPRIO; p++)
        tq_cmd_key(cmd, k->pending[p]);
}

typedef struct retry_ctx {
    dead_ctx *d;
    long long n;
    char jk[TQ_KEY_SIZE];
} retry_ctx;

static int retry_build(tq_cmd *cmd, size_t i, void *ud)
{
    retry_ctx *r = ud;
    const char *id = dead_id(r->d, i);
    if (!tq_key_join(r->jk, sizeof r->jk, r->d->k[r->d->qidx[i]]->job_prefix, id))
        return TQ_ENOMEM;
    retry_keys(cmd, r->d->k[r->d->qidx[i]], r->jk);
    tq_cmd_args(cmd, id);
    return 0;
}

static int retry_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    retry_ctx *ctx = ud;
    if (r->type != REDIS_REPLY_INTEGER)
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered retry with something else");
    ctx->n += r->integer == 1;
    return 0;
}

int tq_admin_dlq_retry_all(tq_client *c, const char *queue, long long *n)
{
    retry_ctx r;
    dead_ctx d;
    qlist l;
    int rv;

    *n = 0;
    if ((rv = tq_client_begin(c)))
        return rv;
    memset(&r, 0, sizeof r);
    r.d = &d;
    rv = dead_collect(c, queue, &l, &d, 0);
    if (!rv)
        rv = tq_client_pipeline(c, TQ_SCRIPT_RETRY, json_array_size(d.out),
                                retry_build, retry_reply, &r);
    *n = r.n;
    dead_clear(&d, &l);
    return rv;
}

int tq_admin_dlq_retry(tq_client *c, const char *id)
{
    char jk[TQ_KEY_SIZE];
    redisReply *r = NULL;
    tq_client_queue *q;
    long long n;
    tq_cmd cmd;
    int rv;

    if ((rv = tq_client_job_of(c, id, &q, jk)))
        return rv;
    tq_cmd_init(&cmd, TQ_SCRIPT_RETRY);
    retry_keys(&cmd, q->keys, jk);
    tq_cmd_args(&cmd, id);
    if ((rv = tq_client_run_job(c, &cmd, "retry", id, &n)) || n != 0)
        return rv;
    /* 0: the job is there but not dead; say what it is */
    const char *hget[] = {"HGET", jk, "state"};
    r = redisCommandArgv(c->rc, 3, hget, NULL);
    if (!(rv = tq_client_check(c, r, "HGET state")))
        rv = tq_client_seterr(c, TQ_EINVAL,
                              "job '%s' is not in the dead-letter list (it is %s)", id,
                              r->type == REDIS_REPLY_STRING ? r->str : "gone");
    if (r)
        freeReplyObject(r);
    return rv;
}

/* ---------------------------------------------------------------- purges */

typedef struct purge_ctx {
    tq_client *c;
    tq_qkeys **k;
    long long n;
} purge_ctx;

/* dlqpurge: KEYS dead; ARGV PJ PD. */
static int dlqpurge_build(tq_cmd *cmd, size_t i, void *ud)
{
    purge_ctx *p = ud;
    tq_cmd_key(cmd, p->k[i]->dead);
    tq_cmd_args(cmd, p->k[i]->job_prefix);
    tq_cmd_args(cmd, p->c->nk.done_prefix);
    return 0;
}

static int purge_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    purge_ctx *p = ud;
    if (r->type != REDIS_REPLY_INTEGER)
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered a purge with something else");
    p->n += r->integer;
    return 0;
}

int tq_admin_dlq_purge(tq_client *c, const char *queue, long long *n)
{
    purge_ctx p = {c, NULL, 0};
    qlist l;
    int rv;

    *n = 0;
    if ((rv = tq_client_begin(c)) || (rv = queues_of(c, queue, &l)))
        return rv;
    if ((p.k = keys_of(c, &l)))
        rv = tq_client_pipeline(c, TQ_SCRIPT_DLQPURGE, l.n, dlqpurge_build,
                                purge_reply, &p);
    else
        rv = c->err;
    *n = p.n;
    free(p.k);
    qlist_clear(&l);
    return rv;
}

int tq_admin_purge(tq_client *c, const char *queue, long long *n)
{
    redisReply *r = NULL;
    tq_client_queue *q;
    tq_cmd cmd;
    int rv;

    *n = 0;
    if ((rv = tq_client_begin(c)))
        return rv;
    if (!(q = tq_client_queue_of(c, queue)))
        return c->err;
    /* KEYS p0..p9; ARGV PJ PD */
    tq_cmd_init(&cmd, TQ_SCRIPT_PURGE);
    for (int p = 0; p < TQ_NPRIO; p++)
        tq_cmd_key(&cmd, q->keys->pending[p]);
    tq_cmd_args(&cmd, q->keys->job_prefix);
    tq_cmd_args(&cmd, c->nk.done_prefix);
    if ((rv = tq_client_run(c, &cmd, "purge", &r)))
        return rv;
    if (r->type != REDIS_REPLY_INTEGER)
        rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered purge with something else");
    else
        *n = r->integer;
    freeReplyObject(r);
    return rv;
}
