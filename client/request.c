/* request.c -- what the blocking and the async client both send and read.
 *
 * A submit is a sequence of script calls whose KEYS and ARGV depend only on
 * the request (task, normalized args, options, ids, due time), never on how
 * the calls travel: the blocking client (submit.c) pipelines them on its
 * redisContext, the async client (async_submit.c) sends them through its
 * link (tq_link_send_script). So the request is described once here, as "call i of
 * tq_submit_req_calls()", built by tq_submit_req_build and checked by
 * tq_submit_req_reply; neither client spells a submit's argv itself.
 *
 * Records are decoded here too (an HGETALL reply into a tq_job), and the
 * checks every submit makes first (options, args), so both clients refuse
 * the same input with the same words before anything is sent.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_private.h"

/* ---------------------------------------------------------------- options and args */

void tq_submit_opts_init(tq_submit_opts *o)
{
    memset(o, 0, sizeof *o);
    o->queue = "default";
    o->max_retries = TQ_DEFAULT_RETRIES;
    o->backoff_ms = TQ_DEFAULT_BACKOFF_MS;
    o->result_ttl_ms = TQ_DEFAULT_RESULT_TTL_MS;
    o->max_lost = TQ_DEFAULT_MAX_LOST;
    o->max_args = TQ_MAX_ARGS_DEFAULT;
    o->durable_timeout_ms = TQ_DURABLE_TIMEOUT_DEFAULT;
}

int tq_client_opts_check(const char *task, const tq_submit_opts *o, tq_perr *e)
{
    if (!task) {
        snprintf(e->text, sizeof e->text, "a task name is required");
        return TQ_EINVAL;
    }
    if (tq_name_check("task", task, e))
        return TQ_EINVAL;
    if (!o->queue) {
        snprintf(e->text, sizeof e->text, "a queue name is required");
        return TQ_EINVAL;
    }
    if (tq_queue_check(o->queue, e))
        return TQ_EINVAL;
    if (o->semaphore && tq_keyed_check("--semaphore", o->semaphore, e))
        return TQ_EINVAL;
    if (o->rate_limit && tq_keyed_check("--rate-limit", o->rate_limit, e))
        return TQ_EINVAL;
    if (o->unique && tq_name_check("--unique", o->unique, e))
        return TQ_EINVAL;
    if (o->fair_key && tq_name_check("--fair-key", o->fair_key, e))
        return TQ_EINVAL;
#define RANGE(cond, ...) \
    do { if (!(cond)) { snprintf(e->text, sizeof e->text, __VA_ARGS__); return TQ_EINVAL; } } while (0)
    RANGE(o->priority >= 0 && o->priority <= TQ_PRIORITY_MAX,
          "--priority must be from 0 to %d (got %d)", TQ_PRIORITY_MAX, o->priority);
    RANGE(o->delay_ms >= 0, "--delay must not be negative");
    RANGE(isfinite(o->at) && o->at >= 0 && o->at < 1e13,
          "--at must be a Unix time in seconds");
    RANGE(o->timeout_ms >= 0, "--timeout must not be negative");
    RANGE(o->max_retries >= 0, "--retries must not be negative (got %d)", o->max_retries);
    RANGE(o->backoff_ms >= 0, "--backoff must not be negative");
    RANGE(o->result_ttl_ms >= 0, "--result-ttl must not be negative");
    RANGE(o->max_lost >= 0, "--max-lost must not be negative (got %d)", o->max_lost);
    RANGE(o->durable >= 0 && o->durable <= TQ_DURABLE_MAX,
          "--durable must be from 0 to %d replicas (got %d)", TQ_DURABLE_MAX, o->durable);
    RANGE(!o->durable || (o->durable_timeout_ms > 0 && o->durable_timeout_ms <= TQ_DURABLE_TIMEOUT_MAX),
          "--durable-timeout must be more than 0 and at most 1h");
#undef RANGE
    return 0;
}

int tq_args_normalize_many(const char *const *args, size_t n, size_t max,
                           char ***out, tq_perr *e)
{
    char **norm = calloc(n ? n : 1, sizeof *norm);
    int rv;

    *out = NULL;
    if (!norm) {
        snprintf(e->text, sizeof e->text, "out of memory");
        return TQ_ENOMEM;
    }
    if (!max)
        max = TQ_MAX_ARGS_DEFAULT;
    for (size_t i = 0; i < n; i++) {
        const char *a = args ? args[i] : NULL;
        tq_perr one;
        rv = tq_args_normalize(a, a ? strlen(a) : 0, max, &norm[i], &one);
        if (rv) {
            if (rv == TQ_ENOMEM)
                snprintf(e->text, sizeof e->text, "out of memory");
            else if (n == 1)
                snprintf(e->text, sizeof e->text, "%s", one.text);
            else
                snprintf(e->text, sizeof e->text, "args %zu: %.200s", i, one.text);
            tq_args_free_many(norm, i);
            return rv == TQ_ENOMEM ? TQ_ENOMEM : TQ_EINVAL;
        }
    }
    *out = norm;
    return 0;
}

void tq_args_free_many(char **norm, size_t n)
{
    for (size_t i = 0; norm && i < n; i++)
        free(norm[i]);
    free(norm);
}

int tq_ids_new(char (*ids)[TQ_ID_SIZE], size_t n, const char *queue, tq_perr *e)
{
    char tag[TQ_ID_TAG_LEN + 1];

    tq_id_tag(queue, tag);
    for (size_t i = 0; i < n; i++)
        if (tq_id_new(ids[i], tag)) {
            snprintf(e->text, sizeof e->text, "cannot make a job id: no entropy");
            return TQ_EFAILED;
        }
    return 0;
}

long long tq_due_ms(const tq_submit_opts *o)
{
    if (o->at > 0)
        return llround(o->at * 1000.0);
    if (o->delay_ms <= 0)
        return -1;
    return -2 - (long long)o->delay_ms;
}

void tq_cmd_due(tq_cmd *cmd, long long due_ms)
{
    char buf[32];
    if (due_ms >= -1) {
        tq_cmd_argi(cmd, due_ms);
        return;
    }
    int n = snprintf(buf, sizeof buf, "+%lld", -2 - due_ms);
    tq_cmd_argdup(cmd, buf, (size_t)n);
}

/* ---------------------------------------------------------------- submit calls */

int tq_submit_req_init(tq_submit_req *r, const char *task,
                       const char *const *args, size_t n,
                       const tq_submit_opts *o, const tq_qkeys *k,
                       const tq_nskeys *nk, char (*ids)[TQ_ID_SIZE],
                       tq_perr *e)
{
    memset(r, 0, sizeof *r);
    r->task = task;
    r->args = args;
    r->n = n;
    r->o = o;
    r->k = k;
    r->nk = nk;
    r->ids = ids;
    r->due_ms = -1;
    if (o->unique && !tq_key_join(r->uk, sizeof r->uk, k->unique_prefix, o->unique)) {
        snprintf(e->text, sizeof e->text, "--unique key is too long");
        return TQ_EINVAL;
    }
    return 0;
}

int tq_submit_req_group(tq_submit_req *r, const char *gid, const char *then,
                        const char *fanin, tq_perr *e)
{
    r->gid = gid;
    r->then = then;
    r->fanin = then ? fanin : NULL;
    if (!tq_key_join(r->gk, sizeof r->gk, r->k->group_prefix, gid) ||
        !tq_key_join(r->gmk, sizeof r->gmk, r->k->members_prefix, gid)) {
        snprintf(e->text, sizeof e->text, "group key too long");
        return TQ_EINVAL;
    }
    return 0;
}

static size_t batch_chunks(size_t n)
{
    return (n + TQ_SUBMIT_BATCH - 1) / TQ_SUBMIT_BATCH;
}

size_t tq_submit_req_calls(const tq_submit_req *r)
{
    if (r->o->unique && !r->gid)
        return r->n;
    return batch_chunks(r->n) + (r->gid ? 2 : 0);
}

tq_script tq_submit_req_script(const tq_submit_req *r)
{
    if (r->gid)
        return TQ_SCRIPT_GNEW;
    return r->o->unique ? TQ_SCRIPT_SUBMIT : TQ_SCRIPT_SUBMITN;
}

void tq_submit_push_opts(tq_cmd *cmd, const tq_submit_opts *o)
{
    tq_cmd_args(cmd, o->queue);
    tq_cmd_argi(cmd, o->priority);
    tq_cmd_argi(cmd, o->max_retries);
    tq_cmd_argi(cmd, o->timeout_ms);
    tq_cmd_argi(cmd, o->backoff_ms);
    tq_cmd_argi(cmd, o->result_ttl_ms);
    tq_cmd_argi(cmd, o->max_lost);
    tq_cmd_args(cmd, o->semaphore ? o->semaphore : "");
    tq_cmd_args(cmd, o->rate_limit ? o->rate_limit : "");
}

/* submit (--unique, one job per call): KEYS job pending sched wake unique; ARGV id queue task args priority max_retries timeout_ms backoff_ms
 * result_ttl_ms max_lost due_ms semaphore unique rate_limit
 * fair_key. */
static int build_unique(tq_submit_req *r, size_t i, tq_cmd *cmd)
{
    const tq_submit_opts *o = r->o;
    const char *id = r->ids[i];

    cmd->script = TQ_SCRIPT_SUBMIT;
    if (!tq_key_join(r->jk, sizeof r->jk, r->k->job_prefix, id))
        return TQ_ENOMEM;
    tq_cmd_key(cmd, r->jk);
    tq_cmd_key(cmd, r->k->pending[o->priority]);
    tq_cmd_key(cmd, r->k->sched);
    tq_cmd_key(cmd, r->k->wake);
    tq_cmd_key(cmd, r->uk);
    tq_cmd_args(cmd, id);
    tq_cmd_args(cmd, o->queue);
    tq_cmd_args(cmd, r->task);
    tq_cmd_args(cmd, r->args[i]);
    tq_cmd_argi(cmd, o->priority);
    tq_cmd_argi(cmd, o->max_retries);
    tq_cmd_argi(cmd, o->timeout_ms);
    tq_cmd_argi(cmd, o->backoff_ms);
    tq_cmd_argi(cmd, o->result_ttl_ms);
    tq_cmd_argi(cmd, o->max_lost);
    tq_cmd_due(cmd, r->due_ms);
    tq_cmd_args(cmd, o->semaphore ? o->semaphore : "");
    tq_cmd_args(cmd, o->unique);
    tq_cmd_args(cmd, o->rate_limit ? o->rate_limit : "");
    tq_cmd_args(cmd, o->fair_key ? o->fair_key : "");
    return 0;
}

int tq_submit_req_build(tq_submit_req *r, size_t i, tq_cmd *cmd)
{
    const tq_submit_opts *o = r->o;

    if (o->unique && !r->gid)
        return build_unique(r, i, cmd);
    if (r->gid && i == 0) {
        /* gnew: KEYS group; ARGV PJ gid opts fanin_id fanin_task fair_key */
        cmd->script = TQ_SCRIPT_GNEW;
        tq_cmd_key(cmd, r->gk);
        tq_cmd_args(cmd, r->k->job_prefix);
        tq_cmd_args(cmd, r->gid);
        tq_submit_push_opts(cmd, o);
        tq_cmd_args(cmd, r->fanin ? r->fanin : "");
        tq_cmd_args(cmd, r->then ? r->then : "");
        tq_cmd_args(cmd, o->fair_key ? o->fair_key : "");
        return 0;
    }
    if (r->gid && i == tq_submit_req_calls(r) - 1) {
        /* gseal: KEYS group; ARGV PJ PD gid */
        cmd->script = TQ_SCRIPT_GSEAL;
        tq_cmd_key(cmd, r->gk);
        tq_cmd_args(cmd, r->k->job_prefix);
        tq_cmd_args(cmd, r->nk->done_prefix);
        tq_cmd_args(cmd, r->gid);
        return 0;
    }
    if (r->gid)
        i--;
    /* submitn: KEYS pending sched wake [group members]; ARGV PJ due_ms gid
     * opts task n (id args) * n fair_key */
    size_t lo = i * TQ_SUBMIT_BATCH;
    size_t hi = lo + TQ_SUBMIT_BATCH < r->n ? lo + TQ_SUBMIT_BATCH : r->n;
    cmd->script = TQ_SCRIPT_SUBMITN;
    tq_cmd_key(cmd, r->k->pending[o->priority]);
    tq_cmd_key(cmd, r->k->sched);
    tq_cmd_key(cmd, r->k->wake);
    if (r->gid) {
        tq_cmd_key(cmd, r->gk);
        tq_cmd_key(cmd, r->gmk);
    }
    tq_cmd_args(cmd, r->k->job_prefix);
    tq_cmd_due(cmd, r->due_ms);
    tq_cmd_args(cmd, r->gid ? r->gid : "");
    tq_submit_push_opts(cmd, o);
    tq_cmd_args(cmd, r->task);
    tq_cmd_argi(cmd, (long long)(hi - lo));
    for (size_t j = lo; j < hi; j++) {
        tq_cmd_args(cmd, r->ids[j]);
        tq_cmd_args(cmd, r->args[j]);
    }
    tq_cmd_args(cmd, o->fair_key ? o->fair_key : "");
    return 0;
}

static int submit_reply(tq_submit_req *r, size_t i, const redisReply *reply,
                        tq_perr *e);

/* Call i's ids: [*lo, hi). gnew and gseal (a group's first and last
 * calls) have none. */
static size_t call_ids(const tq_submit_req *r, size_t i, size_t *lo)
{
    size_t hi;

    *lo = 0;
    if (r->o->unique && !r->gid) {
        *lo = i;
        return i + 1;
    }
    if (r->gid && (i == 0 || i == tq_submit_req_calls(r) - 1))
        return 0;
    if (r->gid)
        i--;
    *lo = i * TQ_SUBMIT_BATCH;
    hi = *lo + TQ_SUBMIT_BATCH;
    return hi < r->n ? hi : r->n;
}

size_t tq_submit_req_settle(tq_submit_req *r)
{
    size_t calls = tq_submit_req_calls(r), left = 0;

    for (size_t i = 0; i < calls; i++) {
        size_t lo, hi = call_ids(r, i, &lo);
        int ok = r->answered && r->answered[i];
        for (size_t j = lo; j < hi; j++) {
            if (!ok)
                r->ids[j][0] = '\0';
            else
                left++;
        }
    }
    return left;
}

int tq_submit_req_reply(tq_submit_req *r, size_t i, const redisReply *reply,
                        tq_perr *e)
{
    int rv = submit_reply(r, i, reply, e);

    if (rv == 0 && r->answered)
        r->answered[i] = 1;
    return rv;
}

static int submit_reply(tq_submit_req *r, size_t i, const redisReply *reply,
                        tq_perr *e)
{
    if (r->o->unique && !r->gid) {
        /* {id, isnew}: id is another job's when the unique key matched */
        size_t len = 0;
        const char *id = tq_reply_str(reply, 0, &len);
        if (!id || len == 0 || len > TQ_ID_MAX) {
            snprintf(e->text, sizeof e->text, "Redis answered submit with no job id");
            return TQ_EPROTO;
        }
        memcpy(r->ids[i], id, len);
        r->ids[i][len] = '\0';
        return 0;
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
        snprintf(e->text, sizeof e->text, "Redis answered a submit with something else");
        return TQ_EPROTO;
    }
    return 0;
}

/* ---------------------------------------------------------------- locate */

void tq_locate_cmd(tq_cmd *cmd, const tq_nskeys *nk, const char *kind,
                   const char *const *ids, size_t n)
{
    cmd->script = TQ_SCRIPT_LOCATE;
    tq_cmd_key(cmd, nk->queues);
    tq_cmd_args(cmd, nk->ns);
    tq_cmd_args(cmd, kind);
    for (size_t i = 0; i < n; i++)
        tq_cmd_args(cmd, ids[i]);
}

/* ---------------------------------------------------------------- cancel */

#define CANCEL_REASON "cancelled by user"

int tq_cancel_req_build(tq_cmd *cmd, const tq_qkeys *k, const tq_nskeys *nk,
                        const char *id, char jk[TQ_KEY_SIZE], tq_perr *e)
{
    if (!tq_key_join(jk, TQ_KEY_SIZE, k->job_prefix, id)) {
        snprintf(e->text, sizeof e->text, "job id '%s' is too long", id);
        return TQ_EINVAL;
    }
    cmd->script = TQ_SCRIPT_CANCEL;
    tq_cmd_key(cmd, jk);
    tq_cmd_key(cmd, k->sched);
    tq_cmd_key(cmd, k->stats);
    tq_cmd_args(cmd, nk->done_prefix);
    tq_cmd_args(cmd, nk->cancel_chan);
    tq_cmd_args(cmd, CANCEL_REASON);
    tq_cmd_args(cmd, id);
    return 0;
}

int tq_cancel_req_reply(const redisReply *r, const char *id, tq_state *before,
                        tq_perr *e)
{
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
        snprintf(e->text, sizeof e->text, "Redis answered cancel with something else");
        return TQ_EPROTO;
    }
    if (!strcmp(r->str, "missing")) {
        snprintf(e->text, sizeof e->text, "no such job '%s'", id);
        return TQ_ENOTFOUND;
    }
    *before = tq_state_parse(r->str);
    return 0;
}

/* ---------------------------------------------------------------- records */

int tq_record_decode(const char *id, const char *queue, const redisReply *r,
                     tq_job **out, tq_perr *e)
{
    const char **fields = NULL, **values = NULL;
    size_t n;
    tq_perr pe;
    int rv = 0;

    *out = NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        snprintf(e->text, sizeof e->text, "job '%s': its record is not a hash", id);
        return TQ_EPROTO;
    }
    n = r->elements / 2;
    if (n == 0)
        return 0;
    fields = malloc(n * sizeof *fields);
    values = malloc(n * sizeof *values);
    if (!fields || !values) {
        snprintf(e->text, sizeof e->text, "out of memory");
        rv = TQ_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *f = r->element[2 * i], *v = r->element[2 * i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            snprintf(e->text, sizeof e->text, "job '%s': its record is not a hash", id);
            rv = TQ_EPROTO;
            goto done;
        }
        fields[i] = f->str;
        values[i] = v->str;
    }
    rv = tq_job_from_pairs(out, id, queue, fields, values, n, &pe);
    if (rv == TQ_ENOMEM)
        snprintf(e->text, sizeof e->text, "out of memory");
    else if (rv) {
        snprintf(e->text, sizeof e->text, "job '%.40s': %.200s", id, pe.text);
        rv = TQ_EPROTO;
    }
done:
    free(fields);
    free(values);
    return rv;
}

tq_job *tq_record_minimal(const char *id, const char *queue, tq_state st)
{
    tq_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->id = strdup(id);
    j->queue = strdup(queue);
    j->task = strdup("");
    j->state = st;
    if (!j->id || !j->queue || !j->task) {
        tq_job_free(j);
        return NULL;
    }
    return j;
}

char *tq_job_json(const tq_job *job)
{
    if (!job)
        return NULL;
    json_t *o = tq_job_to_json(job);
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(16));
    json_decref(o);
    return s;
}
