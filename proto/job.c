/* job.c -- the job record: from the Redis hash, and out as JSON.
 *
 * The hash is written by the broker's scripts and read back here, and nothing
 * else about it can be trusted: a record may have been written by an older
 * tq, by hand, or half-corrupted. So decoding is table-driven, strict only
 * about what it cannot do without (id, queue, a known state) and deaf to what
 * it does not know (tok, fails, lost, w, cancel and whatever a later version
 * adds). A number that does not parse (junk, out of range) never fails the
 * read: a command that can show what is there must not fail on one bad
 * field, so the field keeps its default and the decoder notes which one.
 * Encoding never fails on content: args or a result that are not JSON are
 * shown as JSON strings, so `tq status --json` can always show a record.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto_private.h"

/* ---------------------------------------------------------------- fields */

typedef enum field_kind {
    F_STR,   /* char *, copied */
    F_INT,   /* int */
    F_I64,   /* int64_t: milliseconds */
    F_TIME,  /* double: Unix seconds */
    F_STATE  /* tq_state, by name */
} field_kind;

typedef struct field {
    const char *name;
    field_kind kind;
    size_t off;      /* where it goes in a tq_job */
    int required;    /* a record without it is refused */
} field;

#define FIELD(n, k) {#n, k, offsetof(tq_job, n), 0}
#define NEEDED(n, k) {#n, k, offsetof(tq_job, n), 1}

/* The fields of the record (docs/design.md §3) that a tq_job holds. */
static const field fields[] = {
    NEEDED(id, F_STR),    /* these two tq_job_from_pairs may take from */
    NEEDED(queue, F_STR), /* its arguments: records do not store them */
    FIELD(task, F_STR),  /* a corrupt record may lack it: read as "" */
    FIELD(args, F_STR),
    NEEDED(state, F_STATE),
    FIELD(attempt, F_INT),
    FIELD(max_retries, F_INT),
    FIELD(max_lost, F_INT),
    FIELD(priority, F_INT),
    {"timeout", F_I64, offsetof(tq_job, timeout_ms), 0},
    {"backoff", F_I64, offsetof(tq_job, backoff_ms), 0},
    {"result_ttl", F_I64, offsetof(tq_job, result_ttl_ms), 0},
    FIELD(created_at, F_TIME),
    FIELD(started_at, F_TIME),
    FIELD(finished_at, F_TIME),
    FIELD(worker, F_STR),
    FIELD(result, F_STR),
    FIELD(error, F_STR),
    FIELD(group, F_STR),
    FIELD(parent, F_STR),
    FIELD(next, F_STR),
    FIELD(semaphore, F_STR),
    FIELD(unique, F_STR),
    {"rl", F_STR, offsetof(tq_job, rate_limit), 0},
    {"fk", F_STR, offsetof(tq_job, fair_key), 0},
    FIELD(progress, F_STR),
    FIELD(progress_at, F_TIME),
    {"log", F_I64, offsetof(tq_job, log_bytes), 0},
    {"alog", F_STR, offsetof(tq_job, attempts_log), 0},
};

#define NFIELDS (sizeof fields / sizeof fields[0])
_Static_assert(NFIELDS <= 32, "tq_job_from_pairs keeps a 32-bit mask of fields");

static const field *field_find(const char *name)
{
    size_t i;

    for (i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/* ---------------------------------------------------------------- numbers */

/* Decimal notation and nothing else: strtoll and strtod alone would also
 * take leading spaces, '+', hex ("0x10") and "infinity". */
static int decimal(const char *s)
{
    return (isdigit((unsigned char)*s) || *s == '-') &&
           s[strspn(s, "0123456789-+.eE")] == '\0';
}

/* A whole number in [lo, hi]. Scripts write integers, but Lua prints a
 * number it computed as "%.14g" ("1e+15", "3.0" from other writers), so an
 * integral real in range is accepted too. */
static int parse_whole(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    double d;
    long long v;

    if (!decimal(s))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0 && end != s) {
        if (v < lo || v > hi)
            return -1;
        *out = v;
        return 0;
    }
    d = strtod(s, &end);
    if (*end != '\0' || end == s || !isfinite(d) || d != floor(d) ||
        d < (double)lo || d >= -(double)INT64_MIN || d > (double)hi)
        return -1;
    *out = (int64_t)d;
    return 0;
}

static int parse_time(const char *s, double *out)
{
    char *end;
    double d;

    if (!decimal(s))
        return -1;
    d = strtod(s, &end);
    if (*end != '\0' || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

/* ---------------------------------------------------------------- decoding */

void tq_job_free(tq_job *job)
{
    size_t i;

    if (!job)
        return;
    for (i = 0; i < NFIELDS; i++)
        if (fields[i].kind == F_STR)
            free(*(char **)((char *)job + fields[i].off));
    free(job);
}

/* Stores value into the field f of job. Returns 0; 1 when a number does not
 * parse (the field keeps its default; e says which, once); TQ_EPROTO (with
 * e) for a state that is not one; TQ_ENOMEM. */
static int field_set(tq_job *job, const field *f, const char *value,
                     tq_perr *e)
{
    char *at = (char *)job + f->off;
    char q[TQ_QUOTE_SIZE];
    int64_t v;
    char *copy;

    switch (f->kind) {
    case F_STR:
        if (!(copy = strdup(value)))
            return TQ_ENOMEM;
        free(*(char **)at);
        *(char **)at = copy;
        return 0;
    case F_INT:
        if (parse_whole(value, INT_MIN, INT_MAX, &v) != 0)
            break;
        *(int *)at = (int)v;
        return 0;
    case F_I64:
        if (parse_whole(value, INT64_MIN, INT64_MAX, &v) != 0)
            break;
        *(int64_t *)at = v;
        return 0;
    case F_TIME:
        if (parse_time(value, (double *)at) != 0)
            break;
        return 0;
    case F_STATE:
        if ((*(tq_state *)at = tq_state_parse(value)) == TQ_STATE_UNKNOWN) {
            tq_perr_set(e, "job record: field 'state' is '%s', not a state",
                        tq_quote(q, sizeof q, value, strlen(value)));
            return TQ_EPROTO;
        }
        return 0;
    }
    if (e && !e->text[0])
        tq_perr_set(e, "job record: field '%s' is '%s', not a number (read as "
                    "its default)", f->name,
                    tq_quote(q, sizeof q, value, strlen(value)));
    return 1;
}

int tq_job_from_pairs(tq_job **out, const char *id, const char *queue,
                      const char *const *names, const char *const *values,
                      size_t n, tq_perr *e)
{
    unsigned seen = 0; /* bit i: fields[i] was present */
    tq_job *job;
    size_t i;
    int rc = 0;

    *out = NULL;
    if (e)
        e->text[0] = '\0';
    if (!(job = calloc(1, sizeof *job))) {
        tq_perr_set(e, "out of memory reading a job record");
        return TQ_ENOMEM;
    }
    job->max_retries = TQ_DEFAULT_RETRIES;
    job->backoff_ms = TQ_DEFAULT_BACKOFF_MS;
    job->result_ttl_ms = TQ_DEFAULT_RESULT_TTL_MS;
    job->max_lost = TQ_DEFAULT_MAX_LOST;
    for (i = 0; i < n; i++) {
        const field *f;

        if (!names[i] || !values[i] || !(f = field_find(names[i])))
            continue;
        if ((rc = field_set(job, f, values[i], e)) < 0)
            goto fail;
        rc = 0;
        seen |= 1u << (f - fields);
    }
    if ((!job->id && id && !(job->id = strdup(id))) ||
        (!job->queue && queue && !(job->queue = strdup(queue)))) {
        rc = TQ_ENOMEM;
        goto fail;
    }
    if (job->id)
        seen |= 1u << (field_find("id") - fields);
    if (job->queue)
        seen |= 1u << (field_find("queue") - fields);
    for (i = 0; i < NFIELDS; i++) {
        char q[TQ_QUOTE_SIZE];

        if (!fields[i].required || (seen & (1u << i)))
            continue;
        if (job->id)
            tq_perr_set(e, "job record '%s' has no '%s' field",
                        tq_quote(q, sizeof q, job->id, strlen(job->id)),
                        fields[i].name);
        else
            tq_perr_set(e, "job record has no '%s' field", fields[i].name);
        rc = TQ_EPROTO;
        goto fail;
    }
    /* A record the worker dead-lettered for having no task must still be
     * readable by `tq status` and `tq dlq list`. */
    if (!job->task && !(job->task = strdup(""))) {
        rc = TQ_ENOMEM;
        goto fail;
    }
    *out = job;
    return 0;

fail:
    if (rc == TQ_ENOMEM)
        tq_perr_set(e, "out of memory reading a job record");
    tq_job_free(job);
    return rc;
}

/* ---------------------------------------------------------------- encoding */

/* A time that is not finite, or too far from now for "%.6f" to fit 32
 * bytes, is written as 0 (not set) rather than cut short. */
void tq_time_format(double t, char buf[32])
{
    if (!isfinite(t) || fabs(t) >= 1e15)
        t = 0;
    snprintf(buf, 32, "%.6f", t);
}

/* A JSON string of s. jansson refuses text that is not UTF-8, and a record's
 * text (an exec's stderr in error, say) may not be: its stray bytes become
 * U+FFFD. NULL only when memory runs out. */
static json_t *text_value(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, o = 0;
    json_t *v;
    char *fixed;

    if ((v = json_string(s)))
        return v;
    if (!(fixed = malloc(len * 3 + 1)))
        return NULL;
    while (i < len) {
        uint32_t cp;
        size_t k = tq_utf8_decode(u + i, len - i, &cp);

        if (k) {
            memcpy(fixed + o, s + i, k);
            o += k, i += k;
        } else {
            memcpy(fixed + o, "\xef\xbf\xbd", 3);
            o += 3, i++;
        }
    }
    v = json_stringn(fixed, o);
    free(fixed);
    return v;
}

/* Stored JSON text as a value; text that is not JSON as a string. Args may
 * hold integers past 64 bits (tq_args_normalize lets them through): jansson
 * reads those only as reals, which keeps the value's shape if not its last
 * digits. */
static json_t *embed(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

    if (!v)
        v = json_loads(text, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    return v ? v : text_value(text);
}

/* json_object_set_new steals v even when it fails, so a NULL v (out of
 * memory) only needs to be noticed, not freed. */
static int put(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new(o, key, v) : -1;
}

static int put_str(json_t *o, const char *key, const char *s)
{
    return s ? put(o, key, text_value(s)) : 0;
}

static int put_time(json_t *o, const char *key, double t)
{
    return t != 0 ? put(o, key, json_real(t)) : 0;
}

json_t *tq_job_to_json(const tq_job *job)
{
    json_t *o;
    int err = 0;

    if (!job || !(o = json_object()))
        return NULL;
    err |= put_str(o, "id", job->id);
    err |= put_str(o, "queue", job->queue);
    err |= put_str(o, "task", job->task);
    err |= put(o, "args", job->args ? embed(job->args) : json_null());
    err |= put(o, "state", json_string(tq_state_name(job->state)));
    err |= put(o, "attempt", json_integer(job->attempt));
    err |= put(o, "max_retries", json_integer(job->max_retries));
    err |= put(o, "max_lost", json_integer(job->max_lost));
    err |= put(o, "priority", json_integer(job->priority));
    err |= put(o, "timeout", json_real((double)job->timeout_ms / 1000));
    err |= put(o, "backoff", json_real((double)job->backoff_ms / 1000));
    err |= put(o, "result_ttl", json_real((double)job->result_ttl_ms / 1000));
    err |= put_time(o, "created_at", job->created_at);
    err |= put_time(o, "started_at", job->started_at);
    err |= put_time(o, "finished_at", job->finished_at);
    err |= put_str(o, "worker", job->worker);
    if (job->result)
        err |= put(o, "result", embed(job->result));
    err |= put_str(o, "error", job->error);
    err |= put_str(o, "group", job->group);
    err |= put_str(o, "parent", job->parent);
    err |= put_str(o, "next", job->next);
    err |= put_str(o, "semaphore", job->semaphore);
    err |= put_str(o, "unique", job->unique);
    err |= put_str(o, "rate_limit", job->rate_limit);
    err |= put_str(o, "fair_key", job->fair_key);
    if (job->progress)
        err |= put(o, "progress", embed(job->progress));
    err |= put_time(o, "progress_at", job->progress_at);
    if (job->log_bytes > 0)
        err |= put(o, "log_bytes", json_integer(job->log_bytes));
    if (job->attempts_log)
        err |= put(o, "attempts_log", embed(job->attempts_log));
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}
