/* scripts.c -- loading and running the Lua scripts that move jobs.
 *
 * The scripts' text, flags and SHA1 are compiled in (build/gen/tq_scripts.h,
 * made from broker/lua by broker/gen-scripts.sh, as the enum tq_script is), so
 * a caller can EVALSHA straight away and pays for the script text only when
 * Redis answers NOSCRIPT. A tq_cmd collects
 * one call's keys and arguments; numbers and copied text live in an arena of
 * blocks that never move, so argv pointers stay valid while it grows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "tq_scripts.h"

/* ---------------------------------------------------------------- the table */

/* TQ_SCRIPT_TABLE comes from broker/gen-scripts.sh, one entry per script. */
static const struct {
    const char *name, *flags, *sha, *src;
} scripts[TQ_SCRIPT__COUNT] = {
    TQ_SCRIPT_TABLE
};

const char *tq_script_name(tq_script s)
{
    return (unsigned)s < TQ_SCRIPT__COUNT ? scripts[s].name : "?";
}

const char *tq_script_flags(tq_script s)
{
    return (unsigned)s < TQ_SCRIPT__COUNT ? scripts[s].flags : "";
}

const char *tq_script_sha(tq_script s)
{
    return (unsigned)s < TQ_SCRIPT__COUNT ? scripts[s].sha : "";
}

const char *tq_script_source(tq_script s)
{
    return (unsigned)s < TQ_SCRIPT__COUNT ? scripts[s].src : "";
}

/* ---------------------------------------------------------------- building a call */

#define ARENA_BLOCK 4096
#define ARENA_SMALL 512   /* larger copies get a block of their own */

void tq_cmd_init(tq_cmd *c, tq_script s)
{
    memset(c, 0, sizeof *c);
    c->script = s;
    c->cap = 16;
    c->argv = malloc((size_t)c->cap * sizeof *c->argv);
    c->argvlen = malloc((size_t)c->cap * sizeof *c->argvlen);
    if (!c->argv || !c->argvlen) {
        c->oom = 1;
        return;
    }
    /* EVALSHA sha nkeys: filled in when sent */
    c->argc = 3;
}

static void push(tq_cmd *c, const char *s, size_t len)
{
    if (c->oom)
        return;
    if (c->argc == c->cap) {
        int cap = c->cap * 2;
        const char **argv = realloc(c->argv, (size_t)cap * sizeof *argv);
        if (argv)
            c->argv = argv;
        size_t *lens = realloc(c->argvlen, (size_t)cap * sizeof *lens);
        if (lens)
            c->argvlen = lens;
        if (!argv || !lens) {
            c->oom = 1;
            return;
        }
        c->cap = cap;
    }
    c->argv[c->argc] = s;
    c->argvlen[c->argc] = len;
    c->argc++;
}

struct tq_cmd_block {
    struct tq_cmd_block *prev;
    char data[];
};

/* Small copies share the current block; a big one gets a block of its own,
 * chained behind the current one so the current block stays in use. */
static char *arena_alloc(tq_cmd *c, size_t len)
{
    size_t need = len + 1;
    if (need <= ARENA_SMALL && c->block && c->block_used + need <= c->block_cap) {
        char *p = c->block->data + c->block_used;
        c->block_used += need;
        return p;
    }
    size_t cap = need > ARENA_SMALL ? need : ARENA_BLOCK;
    struct tq_cmd_block *b = malloc(sizeof *b + cap);
    if (!b) {
        c->oom = 1;
        return NULL;
    }
    if (need > ARENA_SMALL && c->block) {
        b->prev = c->block->prev;
        c->block->prev = b;
        return b->data;
    }
    b->prev = c->block;
    c->block = b;
    c->block_cap = cap;
    c->block_used = need;
    return b->data;
}

void tq_cmd_key(tq_cmd *c, const char *key)
{
    push(c, key, strlen(key));
    if (!c->oom)
        c->nkeys++;
}

void tq_cmd_arg(tq_cmd *c, const char *s, size_t len)
{
    push(c, s, len);
}

void tq_cmd_args(tq_cmd *c, const char *s)
{
    push(c, s, strlen(s));
}

void tq_cmd_argdup(tq_cmd *c, const char *s, size_t len)
{
    char *p = arena_alloc(c, len);
    if (!p)
        return;
    memcpy(p, s, len);
    p[len] = '\0';
    push(c, p, len);
}

void tq_cmd_argi(tq_cmd *c, long long v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%lld", v);
    tq_cmd_argdup(c, buf, (size_t)n);
}

void tq_cmd_argd(tq_cmd *c, double v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%.17g", v);
    tq_cmd_argdup(c, buf, (size_t)n);
}

void tq_cmd_clear(tq_cmd *c)
{
    struct tq_cmd_block *b = c->block;
    while (b) {
        struct tq_cmd_block *prev = b->prev;
        free(b);
        b = prev;
    }
    free(c->argv);
    free(c->argvlen);
    memset(c, 0, sizeof *c);
}

/* Fills the head: EVALSHA sha nkeys, or EVAL source nkeys. */
static void head(tq_cmd *c, int eval)
{
    snprintf(c->nkeys_buf, sizeof c->nkeys_buf, "%d", c->nkeys);
    c->argv[0] = eval ? "EVAL" : "EVALSHA";
    c->argvlen[0] = strlen(c->argv[0]);
    c->argv[1] = eval ? tq_script_source(c->script) : tq_script_sha(c->script);
    c->argvlen[1] = strlen(c->argv[1]);
    c->argv[2] = c->nkeys_buf;
    c->argvlen[2] = strlen(c->nkeys_buf);
}

void tq_cmd_head(tq_cmd *c)
{
    head(c, 0);
}

/* ---------------------------------------------------------------- running a call */

int tq_reply_is_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && r->str &&
           !strncmp(r->str, "NOSCRIPT", 8);
}

redisReply *tq_cmd_run(redisContext *rc, tq_cmd *c)
{
    if (c->oom)
        return NULL;
    head(c, 0);
    redisReply *r = redisCommandArgv(rc, c->argc, c->argv, c->argvlen);
    if (tq_reply_is_noscript(r)) {
        freeReplyObject(r);
        head(c, 1);
        r = redisCommandArgv(rc, c->argc, c->argv, c->argvlen);
    }
    return r;
}

int tq_cmd_append(redisContext *rc, tq_cmd *c)
{
    if (c->oom)
        return TQ_ENOMEM;
    head(c, 0);
    return redisAppendCommandArgv(rc, c->argc, c->argv, c->argvlen) == REDIS_OK
               ? 0 : TQ_EREDIS;
}

redisReply *tq_cmd_read(redisContext *rc)
{
    void *r = NULL;
    if (redisGetReply(rc, &r) != REDIS_OK)
        return NULL;
    return r;
}

int tq_scripts_load(redisContext *rc, char *err, size_t errlen)
{
    for (int s = 0; s < TQ_SCRIPT__COUNT; s++) {
        const char *argv[3] = {"SCRIPT", "LOAD", scripts[s].src};
        if (redisAppendCommandArgv(rc, 3, argv, NULL) != REDIS_OK)
            goto fail;
    }
    int rv = 0;
    for (int s = 0; s < TQ_SCRIPT__COUNT; s++) {
        redisReply *r = tq_cmd_read(rc);
        if (!r)
            goto fail;
        if (r->type == REDIS_REPLY_ERROR && !rv) {
            snprintf(err, errlen, "Redis refused script %s: %s", scripts[s].name, r->str);
            rv = TQ_EREDIS;
        } else if (r->type == REDIS_REPLY_STRING && !rv &&
                   strcmp(r->str, scripts[s].sha) != 0) {
            /* the compiled SHA must name exactly the text sent (shebang
             * included), or every EVALSHA would fall back on EVAL */
            snprintf(err, errlen, "script %s: Redis names it %s, tq %s",
                     scripts[s].name, r->str, scripts[s].sha);
            rv = TQ_EREDIS;
        }
        freeReplyObject(r);
    }
    return rv;
fail:
    snprintf(err, errlen, "Redis connection failed while loading scripts: %s",
             rc->errstr[0] ? rc->errstr : "no reply");
    return TQ_EREDIS;
}

/* ---------------------------------------------------------------- replies */

const char *tq_reply_str(const redisReply *r, size_t i, size_t *len)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    const redisReply *e = r->element[i];
    if (!e || (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS))
        return NULL;
    if (len)
        *len = (size_t)e->len;
    return e->str;
}

int tq_reply_int(const redisReply *r, size_t i, long long *out)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return -1;
    const redisReply *e = r->element[i];
    if (!e)
        return -1;
    if (e->type == REDIS_REPLY_INTEGER) {
        *out = e->integer;
        return 0;
    }
    if (e->type == REDIS_REPLY_STRING && e->len > 0 && e->len < 32) {
        char *end;
        long long v = strtoll(e->str, &end, 10);
        if (*end)
            return -1;
        *out = v;
        return 0;
    }
    return -1;
}
