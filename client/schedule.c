/* schedule.c -- `tq schedule`: creating, listing, pausing, resuming,
 * removing and running schedules (SPEC §10, docs/design.md §11).
 *
 * A schedule is the hash P:schedule:NAME (its spec, zone, job and options,
 * and what it did) and its member NAME of the sorted set P:schedules, scored
 * by its next tick in Unix ms (+inf while paused). The first tick is
 * computed here from Redis's clock (TIME), in C (proto/cron.c), as the
 * workers compute every later one; the workers fire them (worker/sched.c).
 * The queue is registered as a submit registers it, so `tq status` finds
 * the ticks' jobs by their ids' tag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/admin.h"
#include "client/client_private.h"
#include "proto/cron.h"
#include "proto/proto_private.h"

#define NEVER_MS (10LL * 366 * 86400 * 1000) /* a spec that never matches: */

static int set_new(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

static int keys_of(tq_client *c, const char *name, char *zk, char *hk)
{
    tq_perr e;

    if (tq_name_check("schedule", name, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    snprintf(zk, TQ_KEY_SIZE, "%s:schedules", c->nk.ns);
    if (snprintf(hk, TQ_KEY_SIZE, "%s:schedule:%s", c->nk.ns, name) >= TQ_KEY_SIZE)
        return tq_client_seterr(c, TQ_EINVAL, "schedule name is too long");
    return 0;
}

/* Redis's clock in Unix ms. */
static int redis_now(tq_client *c, int64_t *ms)
{
    const char *argv[] = {"TIME"};
    redisReply *r = NULL;
    long long s = 0, us = 0;
    int rv;

    if ((rv = tq_client_command(c, 1, argv, "TIME", &r)))
        return rv;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        tq_reply_int(r, 0, &s) || tq_reply_int(r, 1, &us)) {
        freeReplyObject(r);
        return tq_client_seterr(c, TQ_EPROTO, "TIME: unexpected reply");
    }
    freeReplyObject(r);
    *ms = (int64_t)s * 1000 + us / 1000;
    return 0;
}

/* The first tick after now of spec in zone. */
static int first_tick(tq_client *c, const char *spec, const char *zone,
                      int64_t now, int64_t *next)
{
    tq_cron cr;
    tq_tz *tz = NULL;
    tq_perr e;
    int rv;

    if (tq_cron_parse(spec, &cr, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if ((rv = tq_tz_load(zone, &tz, &e)))
        return tq_client_seterr(c, rv, "%s", rv == TQ_ENOMEM ? "out of memory" : e.text);
    *next = tq_cron_next(&cr, tz, now);
    tq_tz_free(tz);
    if (*next < 0)
        *next = now + NEVER_MS;
    return 0;
}

/* The 16 characters a schedule's job ids carry after the tick: 80 bits of
 * two FNV-1a hashes of the name, in the ids' base32. */
static void name_hash(const char *name, char out[17])
{
    static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";
    char salted[300];
    uint64_t lo = tq_hash64(name, strlen(name)), hi;
    int n = snprintf(salted, sizeof salted, "tq:schedule:%s", name);

    hi = tq_hash64(salted, (size_t)n) >> 48; /* 16 more bits */
    for (int i = 15; i >= 0; i--) {
        out[i] = b32[lo & 31];
        lo = (lo >> 5) | (hi << 59);
        hi >>= 5;
    }
    out[16] = '\0';
}

int tq_admin_schedule_add(tq_client *c, const tq_schedule_def *d, int64_t *next_ms)
{
    char zk[TQ_KEY_SIZE], hk[TQ_KEY_SIZE], idh[TQ_ID_SIZE], tag[TQ_ID_TAG_LEN + 1];
    char nxt[24], n[10][24];
    const tq_submit_opts *o = d->o;
    const char *queue = o && o->queue ? o->queue : "default";
    tq_client_queue *q;
    tq_submit_opts def;
    redisReply *r = NULL;
    tq_perr e;
    tq_cmd cmd;
    int64_t now = 0, next = 0;
    int rv;

    if ((rv = tq_client_begin(c)) || (rv = keys_of(c, d->name, zk, hk)))
        return rv;
    if (!o) {
        tq_submit_opts_init(&def);
        o = &def;
    }
    if (tq_client_opts_check(d->task, o, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if (o->unique || o->delay_ms || o->at > 0)
        return tq_client_seterr(c, TQ_EINVAL, "a schedule's jobs take no --unique, "
                                "--delay or --at (--overlap skip keeps one at a time)");
    {   /* spec and zone checked before anything is sent */
        tq_cron cr;
        tq_tz *tz = NULL;
        if (tq_cron_parse(d->spec, &cr, &e))
            return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
        if ((rv = tq_tz_load(d->tz, &tz, &e)))
            return tq_client_seterr(c, rv, "%s", rv == TQ_ENOMEM ? "out of memory" : e.text);
        tq_tz_free(tz);
    }
    if (!(q = tq_client_queue_get(c, queue)))
        return tq_client_err(c) ? tq_client_err(c)
                                : tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    if ((rv = tq_client_register_queue(c, q)) || (rv = redis_now(c, &now)) ||
        (rv = first_tick(c, d->spec, d->tz, now, &next)))
        return rv;
    name_hash(d->name, idh);
    tq_id_tag(queue, tag);
    strcat(idh, tag);
    snprintf(nxt, sizeof nxt, "%lld", (long long)next);
    snprintf(n[0], sizeof n[0], "%d", o->priority);
    snprintf(n[1], sizeof n[1], "%d", o->max_retries);
    snprintf(n[2], sizeof n[2], "%lld", (long long)o->timeout_ms);
    snprintf(n[3], sizeof n[3], "%lld", (long long)o->backoff_ms);
    snprintf(n[4], sizeof n[4], "%lld", (long long)o->result_ttl_ms);
    snprintf(n[5], sizeof n[5], "%d", o->max_lost);
    snprintf(n[6], sizeof n[6], "%lld", (long long)d->catchup_ms);
    /* KEYS schedules schedule; ARGV name next (field value)... */
    tq_cmd_init(&cmd, TQ_SCRIPT_SCHEDSET);
    tq_cmd_key(&cmd, zk);
    tq_cmd_key(&cmd, hk);
    tq_cmd_args(&cmd, d->name);
    tq_cmd_args(&cmd, nxt);
    const char *fv[] = {
        "spec", d->spec, "tz", d->tz && *d->tz ? d->tz : "UTC", "task", d->task,
        "args", d->args ? d->args : "null", "queue", queue,
        "priority", n[0], "max_retries", n[1], "timeout", n[2], "backoff", n[3],
        "result_ttl", n[4], "max_lost", n[5],
        "semaphore", o->semaphore ? o->semaphore : "",
        "rate_limit", o->rate_limit ? o->rate_limit : "",
        "overlap", d->overlap_allow ? "allow" : "skip", "catchup", n[6],
        "idh", idh, "fk", o->fair_key ? o->fair_key : "",
    };
    for (size_t i = 0; i < sizeof fv / sizeof *fv; i++)
        tq_cmd_args(&cmd, fv[i]);
    if ((rv = tq_client_run(c, &cmd, "schedset", &r)))
        return rv;
    freeReplyObject(r);
    if (next_ms)
        *next_ms = next;
    return 0;
}

int tq_admin_schedule_ctl(tq_client *c, const char *name, const char *op)
{
    char zk[TQ_KEY_SIZE], hk[TQ_KEY_SIZE], nxt[24] = "";
    redisReply *r = NULL;
    tq_cmd cmd;
    int rv;

    if ((rv = tq_client_begin(c)) || (rv = keys_of(c, name, zk, hk)))
        return rv;
    if (!strcmp(op, "resume")) {
        /* the next tick from now: missed ticks are not caught up */
        const char *argv[] = {"HMGET", hk, "spec", "tz"};
        const char *spec, *tz;
        int64_t now = 0, next = 0;
        if ((rv = tq_client_command(c, 4, argv, "schedule resume", &r)))
            return rv;
        spec = tq_reply_str(r, 0, NULL);
        tz = tq_reply_str(r, 1, NULL);
        if (r->type != REDIS_REPLY_ARRAY || !spec) {
            freeReplyObject(r);
            return tq_client_seterr(c, TQ_ENOTFOUND, "no schedule '%s'", name);
        }
        rv = redis_now(c, &now);
        if (!rv)
            rv = first_tick(c, spec, tz ? tz : "UTC", now, &next);
        freeReplyObject(r);
        r = NULL;
        if (rv == TQ_EINVAL) /* a spec stored by something else */
            return tq_client_seterr(c, TQ_EPROTO, "schedule '%s': %s", name,
                                    tq_client_errstr(c));
        if (rv)
            return rv;
        snprintf(nxt, sizeof nxt, "%lld", (long long)next);
    }
    tq_cmd_init(&cmd, TQ_SCRIPT_SCHEDCTL);
    tq_cmd_key(&cmd, zk);
    tq_cmd_key(&cmd, hk);
    tq_cmd_args(&cmd, name);
    tq_cmd_args(&cmd, op);
    if (*nxt)
        tq_cmd_args(&cmd, nxt);
    if ((rv = tq_client_run(c, &cmd, "schedctl", &r)))
        return rv;
    rv = r->type == REDIS_REPLY_INTEGER && r->integer == 1
             ? 0 : tq_client_seterr(c, TQ_ENOTFOUND, "no schedule '%s'", name);
    freeReplyObject(r);
    return rv;
}

/* A field of an HGETALL reply, or NULL. */
static const char *field(const redisReply *r, const char *name)
{
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const char *k = tq_reply_str(r, i, NULL);
        if (k && !strcmp(k, name))
            return tq_reply_str(r, i + 1, NULL);
    }
    return NULL;
}

static long long num(const redisReply *r, const char *name, long long def)
{
    const char *v = field(r, name);
    char *end;
    long long n;

    if (!v || !*v)
        return def;
    n = strtoll(v, &end, 10);
    return *end ? def : n;
}

int tq_admin_schedule_run(tq_client *c, const char *name, char id[TQ_ID_SIZE])
{
    char zk[TQ_KEY_SIZE], hk[TQ_KEY_SIZE];
    redisReply *r = NULL;
    tq_submit_opts o;
    const char *task, *args;
    int rv;

    if ((rv = tq_client_begin(c)) || (rv = keys_of(c, name, zk, hk)))
        return rv;
    const char *argv[] = {"HGETALL", hk};
    if ((rv = tq_client_command(c, 2, argv, "schedule run", &r)))
        return rv;
    task = field(r, "task");
    args = field(r, "args");
    if (!task) {
        freeReplyObject(r);
        return tq_client_seterr(c, TQ_ENOTFOUND, "no schedule '%s'", name);
    }
    tq_submit_opts_init(&o);
    o.queue = field(r, "queue");
    o.priority = (int)num(r, "priority", o.priority);
    o.max_retries = (int)num(r, "max_retries", o.max_retries);
    o.timeout_ms = num(r, "timeout", o.timeout_ms);
    o.backoff_ms = num(r, "backoff", o.backoff_ms);
    o.result_ttl_ms = num(r, "result_ttl", o.result_ttl_ms);
    o.max_lost = (int)num(r, "max_lost", o.max_lost);
    o.semaphore = field(r, "semaphore");
    if (o.semaphore && !*o.semaphore)
        o.semaphore = NULL;
    o.rate_limit = field(r, "rate_limit");
    if (o.rate_limit && !*o.rate_limit)
        o.rate_limit = NULL;
    o.fair_key = field(r, "fk");
    if (o.fair_key && !*o.fair_key)
        o.fair_key = NULL;
    o.max_args = (size_t)512 << 20;
    rv = tq_submit(c, task, args ? args : "null", &o, id);
    freeReplyObject(r);
    return rv;
}

/* One schedule of the listing, from its HGETALL reply h, its score and the
 * state of its last job (NULL: none, or gone). */
static json_t *one(const char *name, const char *score, const redisReply *h,
                   const char *last_state)
{
    json_t *o = json_object();
    const char *v;
    double next = score ? strtod(score, NULL) : 0;
    int paused = (v = field(h, "paused")) && !strcmp(v, "1");

    if (!o)
        return NULL;
    set_new(o, "name", json_string(name));
    set_new(o, "spec", (v = field(h, "spec")) ? json_string(v) : json_null());
    set_new(o, "tz", json_string((v = field(h, "tz")) ? v : "UTC"));
    set_new(o, "task", (v = field(h, "task")) ? json_string(v) : json_null());
    set_new(o, "queue", (v = field(h, "queue")) ? json_string(v) : json_null());
    set_new(o, "next_run", paused || !(next < 1e15) ? json_null()
                                                    : json_real(next / 1000.0));
    set_new(o, "last_run", (v = field(h, "last_run")) ? json_real(strtod(v, NULL))
                                                      : json_null());
    set_new(o, "last_tick", (v = field(h, "last_tick"))
                                ? json_real(strtod(v, NULL) / 1000.0) : json_null());
    set_new(o, "last_job", (v = field(h, "last_job")) ? json_string(v) : json_null());
    set_new(o, "last_state", last_state ? json_string(last_state)
                                        : field(h, "last_job") ? json_string("expired")
                                                               : json_null());
    set_new(o, "paused", json_boolean(paused));
    set_new(o, "overlap", json_string((v = field(h, "overlap")) ? v : "skip"));
    set_new(o, "catchup", json_real((double)num(h, "catchup", 0) / 1000.0));
    set_new(o, "fired", json_integer(num(h, "fired", 0)));
    set_new(o, "skipped", json_integer(num(h, "skipped", 0)));
    return o;
}

int tq_admin_schedule_list(tq_client *c, json_t **out)
{
    char zk[TQ_KEY_SIZE];
    redisReply *z = NULL, **h = NULL, **st = NULL;
    json_t *a = NULL;
    size_t n = 0, i;
    int rv;

    *out = NULL;
    if ((rv = tq_client_begin(c)))
        return rv;
    snprintf(zk, sizeof zk, "%s:schedules", c->nk.ns);
    const char *zr[] = {"ZRANGE", zk, "0", "-1", "WITHSCORES"};
    if ((rv = tq_client_command(c, 5, zr, "schedule list", &z)))
        return rv;
    if (z->type == REDIS_REPLY_ARRAY)
        n = z->elements / 2;
    h = calloc(n + 1, sizeof *h);
    st = calloc(n + 1, sizeof *st);
    if (!(a = json_array()) || !h || !st) {
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        goto done;
    }
    /* every hash, pipelined; then the state of every last job */
    for (int pass = 0; pass < 2; pass++) {
        size_t sent = 0;
        for (i = 0; i < n; i++) {
            char hk[TQ_KEY_SIZE];
            const char *name = tq_reply_str(z, 2 * i, NULL), *jk;
            if (pass == 0) {
                snprintf(hk, sizeof hk, "%s:schedule:%s", c->nk.ns, name ? name : "");
                const char *argv[] = {"HGETALL", hk};
                redisAppendCommandArgv(c->rc, 2, argv, NULL);
                sent++;
            } else if ((jk = field(h[i], "last_jk"))) {
                const char *argv[] = {"HGET", jk, "state"};
                redisAppendCommandArgv(c->rc, 3, argv, NULL);
                sent++;
            }
        }
        for (i = 0; i < n && sent; i++) {
            void *rep = NULL;
            if (pass == 1 && !field(h[i], "last_jk"))
                continue;
            if (redisGetReply(c->rc, &rep) != REDIS_OK) {
                rv = tq_client_check(c, NULL, "schedule list");
                goto done;
            }
            if (pass == 0)
                h[i] = rep;
            else
                st[i] = rep;
            sent--;
        }
    }
    for (i = 0; i < n; i++) {
        const char *name = tq_reply_str(z, 2 * i, NULL);
        const char *state = st[i] && st[i]->type == REDIS_REPLY_STRING ? st[i]->str : NULL;
        json_t *o;
        if (!name || (h[i] && h[i]->type != REDIS_REPLY_ARRAY))
            continue; /* a hash of another type: schedfire moves it aside */
        if (!(o = one(name, tq_reply_str(z, 2 * i + 1, NULL), h[i], state)) ||
            json_array_append_new(a, o)) {
            rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
            goto done;
        }
    }
    *out = a;
    a = NULL;
done:
    for (i = 0; i < n; i++) {
        if (h && h[i])
            freeReplyObject(h[i]);
        if (st && st[i])
            freeReplyObject(st[i]);
    }
    free(h);
    free(st);
    freeReplyObject(z);
    json_decref(a);
    return rv;
}
