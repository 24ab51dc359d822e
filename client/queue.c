/* queue.c -- managing a queue as a whole: pause and resume, removing it, and
 * listing its jobs by state (`tq queue`, `tq jobs`).
 *
 * The one idea: every key of a queue lives under its hash tag P:{Q}:, so the
 * queue's pause flag (P:{Q}:paused, read first by every claim), its terminal
 * index (P:{Q}:done:STATE, written by lib.lua finish()) and, for rm, the
 * whole queue (SCAN P:{Q}:*) are reached from its key prefix alone. Every
 * change goes through a script (qpause, qresume, qrm, jobs), so a claim
 * never sees half of one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/admin.h"
#include "client/client_private.h"
#include "proto/proto_private.h"

/* ---------------------------------------------------------------- keys */

/* P:{Q}:<suffix> in buf, from the queue's job prefix P:{Q}:j: (so the
 * queue's keys need no new field in tq_qkeys). NULL when it does not fit. */
static char *qkey(char *buf, size_t n, const tq_qkeys *k, const char *suffix)
{
    size_t plen = strlen(k->job_prefix);
    if (plen < 2 || plen - 2 + strlen(suffix) + 1 > n)
        return NULL;
    memcpy(buf, k->job_prefix, plen - 2);
    strcpy(buf + plen - 2, suffix);
    return buf;
}

/* ---------------------------------------------------------------- pause */

int tq_admin_queue_pause(tq_client *c, const char *queue, int pause, int *changed)
{
    char pk[TQ_KEY_SIZE];
    redisReply *r = NULL;
    tq_client_queue *q;
    tq_cmd cmd;
    int rv;

    *changed = 0;
    if ((rv = tq_client_begin(c)))
        return rv;
    if (!(q = tq_client_queue_of(c, queue)))
        return c->err;
    if (!qkey(pk, sizeof pk, q->keys, "paused"))
        return tq_client_seterr(c, TQ_EINVAL, "queue name '%s' is too long", queue);
    /* a queue paused before its first submit shows in tq stats */
    if (pause && (rv = tq_client_register_queue(c, q)))
        return rv;
    tq_cmd_init(&cmd, pause ? TQ_SCRIPT_QPAUSE : TQ_SCRIPT_QRESUME);
    tq_cmd_key(&cmd, pk);
    if (!pause)
        tq_cmd_key(&cmd, q->keys->wake);
    if ((rv = tq_client_run(c, &cmd, pause ? "qpause" : "qresume", &r)))
        return rv;
    if (r->type != REDIS_REPLY_INTEGER)
        rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered %s with something else",
                              pause ? "qpause" : "qresume");
    else
        *changed = r->integer == 1;
    freeReplyObject(r);
    return rv;
}

/* ---------------------------------------------------------------- counts */

enum { QC_LLEN0 = 0, QC_SCHED = TQ_NPRIO, QC_ACTIVE, QC_DEAD, QC_SUCC, QC_FAIL,
       QC_CANC, QC_PAUSED, QC_FAIR, QC_N };

typedef struct counts_ctx {
    tq_client_queue *q;
    tq_client *c;
    char key[TQ_KEY_SIZE];
    long long v[QC_N];
} counts_ctx;

static int counts_argv(const char **argv, size_t *lens, size_t i, void *ud)
{
    static const char *const done[] = {"done:succeeded", "done:failed", "done:cancelled"};
    counts_ctx *x = ud;
    const tq_qkeys *k = x->q->keys;

    if (i < TQ_NPRIO) {
        argv[0] = "LLEN";
        argv[1] = k->pending[i];
        return 2;
    }
    argv[0] = "ZCARD";
    switch (i) {
    case QC_SCHED: argv[1] = k->sched; return 2;
    case QC_ACTIVE: argv[1] = k->active; return 2;
    case QC_DEAD: argv[1] = k->dead; return 2;
    case QC_SUCC: case QC_FAIL: case QC_CANC:
        if (!qkey(x->key, sizeof x->key, k, done[i - QC_SUCC]))
            return -1;
        argv[0] = "LLEN"; /* the terminal index, a list (lib.lua done_add) */
        argv[1] = x->key;
        return 2;
    }
    if (i == QC_FAIR) {
        /* the ids in fair keys' lists, per priority (lib.lua push_ids) */
        if (!qkey(x->key, sizeof x->key, k, "fair"))
            return -1;
        argv[0] = "HGETALL";
        argv[1] = x->key;
        return 2;
    }
    if (!qkey(x->key, sizeof x->key, k, "paused"))
        return -1;
    argv[0] = "EXISTS";
    argv[1] = x->key;
    return 2;
}

static int counts_reply(tq_client *c, redisReply *r, size_t i, void *ud)
{
    counts_ctx *x = ud;
    /* a key of another type (WRONGTYPE) counts as nothing: rm deletes it */
    x->v[i] = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    for (size_t f = 1; i == QC_FAIR && r->type == REDIS_REPLY_ARRAY && f < r->elements; f += 2) {
        const char *v = tq_reply_str(r, f, NULL);
        long long n = v ? strtoll(v, NULL, 10) : 0;
        if (n > 0)
            x->v[i] += n;
    }
    return 0;
}

int tq_admin_queue_counts(tq_client *c, const char *queue, json_t **out)
{
    counts_ctx x;
    long long pending = 0;
    int rv;

    *out = NULL;
    memset(&x, 0, sizeof x);
    x.c = c;
    if ((rv = tq_client_begin(c)))
        return rv;
    if (!(x.q = tq_client_queue_of(c, queue)))
        return c->err;
    if ((rv = tq_client_pipeline_argv(c, QC_N, counts_argv, counts_reply, &x)))
        return rv;
    for (int p = 0; p < TQ_NPRIO; p++)
        pending += x.v[p];
    pending += x.v[QC_FAIR];
    *out = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
                     "queue", queue, "pending", (json_int_t)pending,
                     "scheduled", (json_int_t)x.v[QC_SCHED],
                     "active", (json_int_t)x.v[QC_ACTIVE], "dead", (json_int_t)x.v[QC_DEAD],
                     "succeeded", (json_int_t)x.v[QC_SUCC],
                     "failed", (json_int_t)x.v[QC_FAIL],
                     "cancelled", (json_int_t)x.v[QC_CANC],
                     "paused", (int)(x.v[QC_PAUSED] > 0));
    return *out ? 0 : tq_client_seterr(c, TQ_ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------- rm */

/* SCAN's MATCH pattern for every key of the queue: P:{Q}:* with the glob
 * characters of the prefix escaped (queue names may hold * ? [ ] \). */
static char *match_of(const tq_qkeys *k)
{
    size_t plen = strlen(k->job_prefix) - 2, o = 0;
    char *p = malloc(plen * 2 + 2);
    if (!p)
        return NULL;
    for (size_t i = 0; i < plen; i++) {
        char ch = k->job_prefix[i];
        if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\')
            p[o++] = '\\';
        p[o++] = ch;
    }
    p[o++] = '*';
    p[o] = '\0';
    return p;
}

#define RM_SCAN_COUNT "1000"

int tq_admin_queue_rm(tq_client *c, const char *queue, long long *n)
{
    redisReply *r = NULL, *d = NULL;
    tq_client_queue *q;
    char cursor[32] = "0", *pat = NULL;
    int rv;

    *n = 0;
    if ((rv = tq_client_begin(c)))
        return rv;
    if (!(q = tq_client_queue_of(c, queue)))
        return c->err;
    if ((rv = tq_client_connect(c)))
        return rv;
    if (!(pat = match_of(q->keys)))
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    do {
        const char *scan[] = {"SCAN", cursor, "MATCH", pat, "COUNT", RM_SCAN_COUNT};
        if ((rv = tq_client_command(c, 6, scan, "SCAN", &r)))
            goto done;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[0]->len >= sizeof cursor ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered SCAN with something else");
            goto done;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        redisReply *keys = r->element[1];
        tq_cmd cmd;
        size_t nk = 0;
        tq_cmd_init(&cmd, TQ_SCRIPT_QRM);
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *k = keys->element[i];
            /* a key holding a NUL cannot be passed as a C string: left */
            if (k->type == REDIS_REPLY_STRING && strlen(k->str) == k->len) {
                tq_cmd_key(&cmd, k->str);
                nk++;
            }
        }
        tq_cmd_args(&cmd, q->keys->job_prefix);
        tq_cmd_args(&cmd, c->nk.done_prefix);
        if (!nk) {
            tq_cmd_clear(&cmd);
        } else {
            if ((rv = tq_client_run(c, &cmd, "qrm", &d)))
                goto done;
            if (d->type != REDIS_REPLY_INTEGER) {
                rv = tq_client_seterr(c, TQ_EPROTO, "Redis answered qrm with something else");
                goto done;
            }
            *n += d->integer;
            freeReplyObject(d);
            d = NULL;
        }
        freeReplyObject(r);
        r = NULL;
    } while (strcmp(cursor, "0"));
    /* Forgotten by tq stats. P:qt:TAG keeps the name: a long-lived client
     * that registered the queue before the rm registers it only once, and
     * its later jobs must still be found by locate (docs/design.md §2). */
    const char *srem[] = {"SREM", c->nk.queues, queue};
    if ((rv = tq_client_command(c, 3, srem, "SREM queues", &r)))
        goto done;
    q->registered = 0;
done:
    if (r)
        freeReplyObject(r);
    if (d)
        freeReplyObject(d);
    free(pat);
    return rv;
}

/* ---------------------------------------------------------------- jobs */

static const char *const listable[] = {"pending", "scheduled", "active", "waiting",
                                       "dead", "succeeded", "failed", "cancelled"};

int tq_admin_jobs_state_check(const char *state, tq_perr *e)
{
    for (size_t i = 0; i < sizeof listable / sizeof *listable; i++)
        if (!strcmp(state, listable[i]))
            return 0;
    tq_perr_set(e, "--state: '%.40s' is not one of pending, scheduled, active, waiting, dead, "
                "succeeded, failed, cancelled", state);
    return TQ_EINVAL;
}

static json_t *str_or_null(const redisReply *r, size_t i)
{
    const char *s = tq_reply_str(r, i, NULL);
    return s ? json_string(s) : json_null();
}

static json_t *time_or_null(const redisReply *r, size_t i)
{
    const char *s = tq_reply_str(r, i, NULL);
    double t = s ? strtod(s, NULL) : 0;
    return t > 0 ? json_real(t) : json_null();
}

/* One state's listing, appended to out. */
static int jobs_one(tq_client *c, tq_client_queue *q, const char *state,
                    long long limit, json_t *out)
{
    char dk[TQ_KEY_SIZE];
    redisReply *r = NULL;
    tq_cmd cmd;
    int rv;

    tq_cmd_init(&cmd, TQ_SCRIPT_JOBS);
    if (!strcmp(state, "pending")) {
        for (int p = 0; p < TQ_NPRIO; p++)
            tq_cmd_key(&cmd, q->keys->pending[p]);
    } else if (!strcmp(state, "scheduled")) {
        tq_cmd_key(&cmd, q->keys->sched);
    } else if (!strcmp(state, "active")) {
        tq_cmd_key(&cmd, q->keys->active);
    } else if (!strcmp(state, "dead")) {
        tq_cmd_key(&cmd, q->keys->dead);
    } else if (!strcmp(state, "waiting")) {
        if (!qkey(dk, sizeof dk, q->keys, "waiting")) {
            tq_cmd_clear(&cmd);
            return tq_client_seterr(c, TQ_EINVAL, "queue name is too long");
        }
        tq_cmd_key(&cmd, dk);
    } else {
        char suffix[32];
        snprintf(suffix, sizeof suffix, "done:%s", state);
        if (!qkey(dk, sizeof dk, q->keys, suffix)) {
            tq_cmd_clear(&cmd);
            return tq_client_seterr(c, TQ_EINVAL, "queue name is too long");
        }
        tq_cmd_key(&cmd, dk);
    }
    tq_cmd_args(&cmd, q->keys->job_prefix);
    tq_cmd_args(&cmd, state);
    tq_cmd_argi(&cmd, limit);
    if ((rv = tq_client_run(c, &cmd, "jobs", &r)))
        return rv;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 8) {
        freeReplyObject(r);
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered jobs with something else");
    }
    for (size_t b = 0; b < r->elements; b += 8) {
        const char *id = tq_reply_str(r, b, NULL), *att = tq_reply_str(r, b + 3, NULL);
        if (!id)
            continue;
        long long a = att ? strtoll(att, NULL, 10) : 0;
        json_t *o = json_object();
        if (!o || json_array_append_new(out, o) ||
            json_object_set_new(o, "id", json_string(id)) ||
            json_object_set_new(o, "queue", json_string(q->keys->queue)) ||
            json_object_set_new(o, "task", str_or_null(r, b + 1)) ||
            json_object_set_new(o, "state", str_or_null(r, b + 2)) ||
            json_object_set_new(o, "attempt", json_integer(a)) ||
            json_object_set_new(o, "created_at", time_or_null(r, b + 4)) ||
            json_object_set_new(o, "started_at", time_or_null(r, b + 5)) ||
            json_object_set_new(o, "finished_at", time_or_null(r, b + 6)) ||
            json_object_set_new(o, "error", str_or_null(r, b + 7))) {
            freeReplyObject(r);
            return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        }
    }
    freeReplyObject(r);
    return 0;
}

static int newer_first(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    double tx = json_number_value(json_object_get(x, "created_at"));
    double ty = json_number_value(json_object_get(y, "created_at"));
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

int tq_admin_jobs(tq_client *c, const char *queue, const char *state,
                  long long limit, json_t **out)
{
    static const char *const every[] = {"pending", "scheduled", "active", "waiting",
                                        "succeeded", "failed", "cancelled"};
    tq_client_queue *q;
    json_t *all = NULL;
    tq_perr e;
    int rv = 0;

    *out = NULL;
    if ((rv = tq_client_begin(c)))
        return rv;
    if (state && tq_admin_jobs_state_check(state, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if (limit < 1 || limit > TQ_JOBS_LIMIT_MAX)
        return tq_client_seterr(c, TQ_EINVAL, "--limit must be 1 to %d", TQ_JOBS_LIMIT_MAX);
    if (!(q = tq_client_queue_of(c, queue)))
        return c->err;
    if (!(all = json_array()))
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    if (state) {
        rv = jobs_one(c, q, state, limit, all);
    } else {
        /* every state: the newest `limit` of each, merged by creation */
        for (size_t i = 0; !rv && i < sizeof every / sizeof *every; i++)
            rv = jobs_one(c, q, every[i], limit, all);
        if (!rv) {
            size_t n = json_array_size(all);
            json_t **v = malloc((n ? n : 1) * sizeof *v), *sorted = json_array();
            if (!v || !sorted) {
                free(v);
                json_decref(sorted);
                rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
            } else {
                for (size_t i = 0; i < n; i++)
                    v[i] = json_array_get(all, i);
                qsort(v, n, sizeof *v, newer_first);
                for (size_t i = 0; i < n && (long long)i < limit; i++)
                    json_array_append(sorted, v[i]);
                free(v);
                json_decref(all);
                all = sorted;
            }
        }
    }
    if (rv) {
        json_decref(all);
        return rv;
    }
    *out = all;
    return 0;
}
