/* semaphore.c -- `tq semaphore`: the capacity of a cluster-wide semaphore,
 * and who holds and waits for its permits.
 *
 * A semaphore is P:sem:cap's field NAME (its capacity; unset: 1), the
 * sorted set P:sem:h:NAME of its holders scored by their lease deadline, and
 * the list P:sem:w:NAME of jobs parked for a permit. Setting a capacity goes
 * through the semset script, which wakes parked jobs a larger capacity lets
 * run; showing one reads the three with plain commands, and counts a holder
 * whose lease ran out (a dead worker) as a free permit, as claim does.
 * A per-key semaphore NAME:KEY (--semaphore NAME:KEY) has keys of its own
 * (h:NAME:KEY, w:NAME:KEY, gone when empty) and NAME's capacity; showing
 * NAME lists its keys in use too (SCAN).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/admin.h"
#include "client/client_private.h"

static int set_new(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

int tq_admin_semaphore_set(tq_client *c, const char *name, long long cap)
{
    char hk[TQ_KEY_SIZE], capstr[24];
    redisReply *r = NULL;
    tq_perr e;
    tq_cmd cmd;
    int rv;

    if ((rv = tq_client_begin(c)))
        return rv;
    if (tq_name_check("semaphore", name, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if (strchr(name, ':'))
        return tq_client_seterr(c, TQ_EINVAL, "semaphore name '%s' has a ':': the "
                                "capacity of NAME is that of each of its keys", name);
    if (cap < 0 || cap > 1000000000)
        return tq_client_seterr(c, TQ_EINVAL, "semaphore capacity must be from 0 to 1000000000");
    if (!tq_key_join(hk, sizeof hk, c->nk.sem_prefix, "h:") ||
        strlen(hk) + strlen(name) >= sizeof hk)
        return tq_client_seterr(c, TQ_EINVAL, "semaphore name is too long");
    strcat(hk, name);
    snprintf(capstr, sizeof capstr, "%lld", cap);
    /* KEYS cap holders; ARGV SP name capacity */
    tq_cmd_init(&cmd, TQ_SCRIPT_SEMSET);
    tq_cmd_key(&cmd, c->nk.sem_cap);
    tq_cmd_key(&cmd, hk);
    tq_cmd_args(&cmd, c->nk.sem_prefix);
    tq_cmd_args(&cmd, name);
    tq_cmd_args(&cmd, capstr);
    if ((rv = tq_client_run(c, &cmd, "semset", &r)))
        return rv;
    freeReplyObject(r);
    return 0;
}

/* One semaphore's capacity, live holders (job id and lease deadline) and
 * the number of jobs parked waiting for a permit. */
static int semaphore_one(tq_client *c, const char *name, double now, json_t **out)
{
    char hk[TQ_KEY_SIZE], wk[TQ_KEY_SIZE];
    redisReply *r[3] = {NULL, NULL, NULL};
    int rv = 0;

    if (snprintf(hk, sizeof hk, "%sh:%s", c->nk.sem_prefix, name) >= (int)sizeof hk ||
        snprintf(wk, sizeof wk, "%sw:%s", c->nk.sem_prefix, name) >= (int)sizeof wk)
        return tq_client_seterr(c, TQ_EINVAL, "semaphore name is too long");
    char capname[TQ_NAME_MAX + 1];
    size_t clen = strcspn(name, ":"); /* NAME:KEY has NAME's capacity */
    if (clen >= sizeof capname)
        return tq_client_seterr(c, TQ_EINVAL, "semaphore name is too long");
    memcpy(capname, name, clen);
    capname[clen] = '\0';
    const char *hget[] = {"HGET", c->nk.sem_cap, capname};
    const char *zr[] = {"ZRANGE", hk, "0", "-1", "WITHSCORES"};
    const char *llen[] = {"LLEN", wk};
    redisAppendCommandArgv(c->rc, 3, hget, NULL);
    redisAppendCommandArgv(c->rc, 5, zr, NULL);
    redisAppendCommandArgv(c->rc, 2, llen, NULL);
    for (int i = 0; i < 3; i++) {
        void *rep = NULL;
        if (redisGetReply(c->rc, &rep) != REDIS_OK) {
            rv = tq_client_check(c, NULL, "semaphore show");
            goto done;
        }
        r[i] = rep;
        if (!rv)
            rv = tq_client_check(c, r[i], "semaphore show");
    }
    if (rv)
        goto done;
    json_t *o = json_object(), *holders = json_array();
    *out = o;
    if (!o || !holders) {
        json_decref(holders);
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        goto done;
    }
    int isset = r[0]->type == REDIS_REPLY_STRING;
    set_new(o, "name", json_string(name));
    set_new(o, "capacity", json_integer(isset ? strtoll(r[0]->str, NULL, 10) : 1));
    set_new(o, "capacity_set", json_boolean(isset));
    for (size_t i = 0; r[1]->type == REDIS_REPLY_ARRAY && i + 1 < r[1]->elements; i += 2) {
        const char *id = tq_reply_str(r[1], i, NULL);
        const char *score = tq_reply_str(r[1], i + 1, NULL);
        double until = score ? strtod(score, NULL) / 1000 : 0;
        if (!id || until < now) /* a permit whose lease ran out is free */
            continue;
        json_t *h = json_object();
        json_array_append_new(holders, h);
        set_new(h, "job", json_string(id));
        set_new(h, "lease_until", json_real(until));
    }
    set_new(o, "holders", holders);
    set_new(o, "waiting", json_integer(r[2]->type == REDIS_REPLY_INTEGER ? r[2]->integer : 0));
done:
    for (int i = 0; i < 3; i++)
        if (r[i])
            freeReplyObject(r[i]);
    return rv;
}

/* The SCAN pattern PREFIX?:NAME:* for the keys of NAME's per-key
 * semaphores, NAME's glob characters matched as themselves. */
static int glob_keys(char *pat, size_t size, const char *prefix, const char *name)
{
    size_t len = (size_t)snprintf(pat, size, "%s?:", prefix);
    if (len >= size)
        return -1;
    for (; *name; name++) {
        if (len + 4 >= size)
            return -1;
        if (strchr("*?[]\\", *name))
            pat[len++] = '\\';
        pat[len++] = *name;
    }
    memcpy(pat + len, ":*", 3);
    return 0;
}

/* Names: those given a capacity, and those with holders or waiters; with
 * of (a NAME), the keys NAME:KEY of NAME in use alone. */
static int semaphore_names(tq_client *c, json_t *names, const char *of)
{
    char pat[TQ_KEY_SIZE];
    size_t plen = strlen(c->nk.sem_prefix) + 2;
    redisReply *r = NULL;
    int rv = 0;
    if (!of) {
        const char *hkeys[] = {"HKEYS", c->nk.sem_cap};
        r = redisCommandArgv(c->rc, 2, hkeys, NULL);
        rv = tq_client_check(c, r, "HKEYS");
        for (size_t i = 0; !rv && i < r->elements; i++) {
            const char *s = tq_reply_str(r, i, NULL);
            if (s)
                json_object_set_new(names, s, json_true());
        }
        if (r)
            freeReplyObject(r);
        if (rv)
            return rv;
    }
    if (!of)
        snprintf(pat, sizeof pat, "%s?:*", c->nk.sem_prefix);
    else if (glob_keys(pat, sizeof pat, c->nk.sem_prefix, of))
        return tq_client_seterr(c, TQ_EINVAL, "semaphore name is too long");
    char cursor[32] = "0";
    do {
        const char *scan[] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
        r = redisCommandArgv(c->rc, 6, scan, NULL);
        if ((rv = tq_client_check(c, r, "SCAN")))
            break;
        const char *next = tq_reply_str(r, 0, NULL);
        snprintf(cursor, sizeof cursor, "%s", next ? next : "0");
        redisReply *keys = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1] : NULL;
        for (size_t i = 0; keys && i < keys->elements; i++) {
            const char *k = tq_reply_str(keys, i, NULL);
            if (k && strlen(k) > plen && (k[plen - 2] == 'h' || k[plen - 2] == 'w'))
                json_object_set_new(names, k + plen, json_true());
        }
        freeReplyObject(r);
        r = NULL;
    } while (strcmp(cursor, "0"));
    if (r)
        freeReplyObject(r);
    return rv;
}

int tq_admin_semaphore_show(tq_client *c, const char *name, json_t **out)
{
    int64_t now;
    int rv;
    tq_perr e;

    *out = NULL;
    if ((rv = tq_client_begin(c)))
        return rv;
    if (name && tq_keyed_check("semaphore", name, &e))
        return tq_client_seterr(c, TQ_EINVAL, "%s", e.text);
    if ((rv = tq_client_connect(c)) || (rv = tq_client_redis_time(c, &now)))
        return rv;
    json_t *list = json_array(), *names = json_object();
    if (!list || !names) {
        rv = tq_client_seterr(c, TQ_ENOMEM, "out of memory");
        goto done;
    }
    if (name)
        json_object_set_new(names, name, json_true());
    if ((!name || !strchr(name, ':')) && (rv = semaphore_names(c, names, name)))
        goto done;
    const char *k;
    json_t *v;
    json_object_foreach(names, k, v) {
        json_t *one = NULL;
        if ((rv = semaphore_one(c, k, (double)now / 1000, &one))) {
            json_decref(one);
            goto done;
        }
        json_array_append_new(list, one);
    }
    *out = list;
    list = NULL;
done:
    json_decref(list);
    json_decref(names);
    return rv;
}
