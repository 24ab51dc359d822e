/* ratelimit.c -- `tq ratelimit`: rate limits shared by every worker.
 *
 * A limit is the hash P:rl:NAME {rate, interval, burst} and its name in the
 * set P:rls. The one idea: a rate is kept as the time between two tokens
 * (interval, in microseconds, rounded up so a limit is never exceeded), and
 * each bucket is one number, the time its next token is due (GCRA's
 * theoretical arrival time), taken at claim time by claim.lua (lib.lua
 * rl_take). Setting and removing go through the rlset script; showing reads
 * the hashes with plain commands and, for one NAME, counts its per-key
 * buckets with SCAN (an operator's call, never on a job's path).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/admin.h"
#include "client/client_private.h"
#include "proto/proto_private.h"

/* ---------------------------------------------------------------- parsing */

int tq_ratelimit_parse(const char *text, int64_t *interval_us, tq_perr *e)
{
    const char *slash = text ? strchr(text, '/') : NULL;
    unsigned long long n;
    double period_us;
    char *end;

    if (!text || !*text) {
        tq_perr_set(e, "rate is empty (e.g. 20/s, 100/m, 1000/h)");
        return TQ_EINVAL;
    }
    if (!slash) {
        tq_perr_set(e, "rate needs a unit: 20/s (got '%.40s'; units s, m, h)",
                 text);
        return TQ_EINVAL;
    }
    errno = 0;
    n = strtoull(text, &end, 10);
    if (!(text[0] >= '0' && text[0] <= '9') || end != slash || errno || n == 0 ||
        n > 1000000000ULL) {
        tq_perr_set(e, "rate '%.40s': the count before '/' must be a "
                 "whole number from 1 to 1000000000", text);
        return TQ_EINVAL;
    }
    if (!strcmp(slash + 1, "s"))
        period_us = 1e6;
    else if (!strcmp(slash + 1, "m"))
        period_us = 60e6;
    else if (!strcmp(slash + 1, "h"))
        period_us = 3600e6;
    else {
        tq_perr_set(e, "rate '%.40s': the unit must be s, m or h "
                 "(e.g. 20/s)", text);
        return TQ_EINVAL;
    }
    if ((double)n > period_us) {
        tq_perr_set(e, "rate '%.40s' is over the limit of 1000000/s", text);
        return TQ_EINVAL;
    }
    /* rounded up: the time between tokens is never shorter than asked */
    *interval_us = (int64_t)(period_us / (double)n);
    if ((double)*interval_us * (double)n < period_us)
        (*interval_us)++;
    return 0;
}

/* A limit's own name: a name (names.c) without ':' (NAME:KEY is a bucket
 * of NAME's, on a job). */
static int name_check(tq_client *c, const char *name)
{
    tq_perr e;
    if (tq_name_check("rate limit", name, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if (strchr(name, ':'))
        return tq_client_seterr(c, TQ_EINVAL, "rate limit name '%s' has a ':' (a job's "
                                "--rate-limit NAME:KEY names a key of limit NAME)", name);
    return 0;
}

static int key_of(tq_client *c, char *buf, size_t size, const char *what, const char *name)
{
    if (snprintf(buf, size, "%s:%s%s", c->nk.ns, what, name ? name : "") >= (int)size)
        return tq_client_seterr(c, TQ_EINVAL, "rate limit name is too long");
    return 0;
}

/* ---------------------------------------------------------------- set and rm */

/* The rlset script's call: KEYS limit names bucket parked; ARGV op name
 * [rate interval_us burst]. */
static int rlset(tq_client *c, const char *op, const char *name, const char *rate,
                 const char *iv, const char *b, redisReply **r)
{
    char lk[TQ_KEY_SIZE], nk[TQ_KEY_SIZE], bk[TQ_KEY_SIZE], pk[TQ_KEY_SIZE];
    tq_cmd cmd;
    int rv;

    if ((rv = key_of(c, lk, sizeof lk, "rl:", name)) || (rv = key_of(c, nk, sizeof nk, "rls", NULL)) ||
        (rv = key_of(c, bk, sizeof bk, "rlb:", name)) || (rv = key_of(c, pk, sizeof pk, "rlp:", name)))
        return rv;
    tq_cmd_init(&cmd, TQ_SCRIPT_RLSET);
    tq_cmd_key(&cmd, lk);
    tq_cmd_key(&cmd, nk);
    tq_cmd_key(&cmd, bk);
    tq_cmd_key(&cmd, pk);
    tq_cmd_args(&cmd, op);
    tq_cmd_args(&cmd, name);
    if (rate) {
        tq_cmd_args(&cmd, rate);
        tq_cmd_args(&cmd, iv);
        tq_cmd_args(&cmd, b);
    }
    if ((rv = tq_client_run(c, &cmd, "rlset", r)))
        return rv;
    if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != 2 ||
        (*r)->element[0]->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(*r);
        *r = NULL;
        return tq_client_seterr(c, TQ_EPROTO, "Redis answered rlset with something else");
    }
    return 0;
}

int tq_admin_ratelimit_set(tq_client *c, const char *name, const char *rate, long long burst)
{
    char iv[24], b[24];
    redisReply *r = NULL;
    int64_t interval;
    tq_perr e;
    int rv;

    if ((rv = tq_client_begin(c)) || (rv = name_check(c, name)))
        return rv;
    if (tq_ratelimit_parse(rate, &interval, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if (burst < 1 || burst > 1000000)
        return tq_client_seterr(c, TQ_EINVAL, "--burst must be from 1 to 1000000");
    snprintf(iv, sizeof iv, "%lld", (long long)interval);
    snprintf(b, sizeof b, "%lld", burst);
    if ((rv = rlset(c, "set", name, rate, iv, b, &r)))
        return rv;
    freeReplyObject(r);
    return 0;
}

int tq_admin_ratelimit_rm(tq_client *c, const char *name, int *existed)
{
    redisReply *r = NULL;
    int rv;

    *existed = 0;
    if ((rv = tq_client_begin(c)) || (rv = name_check(c, name)))
        return rv;
    if ((rv = rlset(c, "rm", name, NULL, NULL, NULL, &r)))
        return rv;
    *existed = r->element[0]->integer == 1;
    freeReplyObject(r);
    return 0;
}

/* ---------------------------------------------------------------- show */

/* Counts the live per-key buckets of name (SCAN P:rlb:NAME:*). */
static int count_keys(tq_client *c, const char *name, long long *n)
{
    char pat[TQ_KEY_SIZE + 8], cursor[32] = "0";
    int rv = 0;

    size_t len = 0;
    const char *parts[] = {c->nk.ns, ":rlb:", name};

    *n = 0;
    for (size_t i = 0; i < 3; i++) /* glob characters matched as themselves */
        for (const char *p = parts[i]; *p; p++) {
            if (len + 4 >= sizeof pat)
                return tq_client_seterr(c, TQ_EINVAL, "rate limit name is too long");
            if (strchr("*?[]\\", *p))
                pat[len++] = '\\';
            pat[len++] = *p;
        }
    memcpy(pat + len, ":*", 3);
    do {
        const char *scan[] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
        redisReply *r = NULL;
        if ((rv = tq_client_command(c, 6, scan, "SCAN", &r)))
            return rv;
        const char *next = tq_reply_str(r, 0, NULL);
        snprintf(cursor, sizeof cursor, "%s", next ? next : "0");
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_ARRAY)
            *n += (long long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0"));
    return 0;
}

/* One limit as {name, rate, burst, interval_us}; NULL in *out when it is
 * not set (or its hash is not one tq wrote). */
static int show_one(tq_client *c, const char *name, int keys, json_t **out)
{
    char lk[TQ_KEY_SIZE];
    redisReply *r = NULL;
    long long iv = 0, burst = 1, n = 0;
    int rv;

    *out = NULL;
    if ((rv = key_of(c, lk, sizeof lk, "rl:", name)))
        return rv;
    const char *hm[] = {"HMGET", lk, "rate", "interval", "burst"};
    r = redisCommandArgv(c->rc, 5, hm, NULL);
    if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "WRONGTYPE", 9)) {
        freeReplyObject(r);
        return 0;
    }
    if ((rv = tq_client_check(c, r, "HMGET"))) {
        if (r)
            freeReplyObject(r);
        return rv;
    }
    const char *rate = tq_reply_str(r, 0, NULL);
    if (!rate || tq_reply_int(r, 1, &iv) || iv < 1) {
        freeReplyObject(r);
        return 0;
    }
    if (tq_reply_int(r, 2, &burst) || burst < 1)
        burst = 1;
    json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "name", name, "rate", rate,
                          "burst", (json_int_t)burst, "interval_us", (json_int_t)iv);
    freeReplyObject(r);
    if (!o)
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    if (keys) {
        if ((rv = count_keys(c, name, &n))) {
            json_decref(o);
            return rv;
        }
        json_object_set_new(o, "keys", json_integer(n));
    }
    *out = o;
    return 0;
}

int tq_admin_ratelimit_show(tq_client *c, const char *name, json_t **out)
{
    char nk[TQ_KEY_SIZE];
    redisReply *r = NULL;
    json_t *list = NULL, *one;
    int rv;

    *out = NULL;
    if ((rv = tq_client_begin(c)) || (name && (rv = name_check(c, name))) ||
        (rv = tq_client_connect(c)))
        return rv;
    if (!(list = json_array()))
        return tq_client_seterr(c, TQ_ENOMEM, "out of memory");
    if (name) {
        if ((rv = show_one(c, name, 1, &one)))
            goto done;
        if (!one) {
            rv = tq_client_seterr(c, TQ_ENOTFOUND, "no rate limit named '%s'", name);
            goto done;
        }
        json_array_append_new(list, one);
    } else {
        if ((rv = key_of(c, nk, sizeof nk, "rls", NULL)))
            goto done;
        const char *sm[] = {"SORT", nk, "ALPHA"};
        r = redisCommandArgv(c->rc, 3, sm, NULL);
        if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "WRONGTYPE", 9)) {
            freeReplyObject(r);
            r = NULL;
        } else if ((rv = tq_client_check(c, r, "SORT")))
            goto done;
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            const char *s = tq_reply_str(r, i, NULL);
            tq_perr e;
            if (!s || tq_name_check(NULL, s, &e) || strchr(s, ':'))
                continue;
            if ((rv = show_one(c, s, 0, &one)))
                goto done;
            if (one)
                json_array_append_new(list, one);
        }
    }
    *out = list;
    list = NULL;
done:
    if (r)
        freeReplyObject(r);
    json_decref(list);
    return rv;
}

/* ---------------------------------------------------------------- at submit */

int tq_client_ratelimit_check(tq_client *c, const char *rl)
{
    char lk[TQ_KEY_SIZE], name[TQ_NAME_MAX + 1];
    redisReply *r = NULL;
    size_t len = strcspn(rl, ":");
    int rv;

    if (len >= sizeof name)
        return tq_client_seterr(c, TQ_EINVAL, "--rate-limit name is too long");
    memcpy(name, rl, len);
    name[len] = '\0';
    if ((rv = key_of(c, lk, sizeof lk, "rl:", name)))
        return rv;
    const char *hx[] = {"HEXISTS", lk, "interval"};
    r = redisCommandArgv(c->rc, 3, hx, NULL);
    if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "WRONGTYPE", 9)) {
        freeReplyObject(r);
        r = NULL;
    } else if ((rv = tq_client_check(c, r, "HEXISTS"))) {
        if (r)
            freeReplyObject(r);
        return rv;
    }
    rv = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1 ? 0
         : tq_client_seterr(c, TQ_EINVAL, "--rate-limit: no rate limit named '%s' "
                            "(set it first: tq ratelimit set %s RATE)", name, name);
    if (r)
        freeReplyObject(r);
    return rv;
}
