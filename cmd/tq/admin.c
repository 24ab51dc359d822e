/* admin.c -- `tq stats`, `tq workers`, `tq dlq`, `tq purge`,
 * `tq semaphore`, `tq queue` and `tq jobs`: what client/admin.c and
 * client/queue.c answer, printed.
 *
 * Each admin call answers JSON; --json prints it as it is, else a table for
 * humans is made of it (columns as wide as their widest cell).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/tq/cli.h"

/* ---------------------------------------------------------------- tables */

/* An aligned table for humans: columns as wide as their widest cell, numbers
 * right-aligned (align[i] == 'r'). Cells are owned copies. */
typedef struct table {
    size_t ncols, nrows, cap;
    const char *align;
    char **cells;
} table;

static int table_add(table *t, ...)
{
    va_list ap;
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c)
            return -1;
        t->cells = c;
        t->cap = cap;
    }
    va_start(ap, t);
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        t->cells[t->nrows * t->ncols + i] = strdup(s ? s : "-");
    }
    va_end(ap);
    t->nrows++;
    return 0;
}

static void table_print(table *t)
{
    size_t w[16] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            size_t len = s ? strlen(s) : 0;
            if (len > w[i])
                w[i] = len;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++) {
            const char *s = t->cells[r * t->ncols + i];
            int last = i + 1 == t->ncols;
            if (!s)
                s = "?";
            if (t->align[i] == 'r')
                printf("%*s", (int)w[i], s);
            else if (last)
                fputs(s, stdout);
            else
                printf("%-*s", (int)w[i], s);
            if (!last)
                fputs("  ", stdout);
        }
        putchar('\n');
    }
}

static void table_clear(table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

static const char *num(json_t *v, char buf[32])
{
    if (json_is_integer(v))
        snprintf(buf, 32, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, 32, "%g", json_real_value(v));
    else if (json_is_string(v))
        snprintf(buf, 32, "%s", json_string_value(v));
    else
        return "-";
    return buf;
}

/* 42s, 3m07s, 2h05m, 4d03h */
static const char *span(json_t *v, char buf[32])
{
    if (!json_is_number(v))
        return "-";
    double s = json_number_value(v);
    long long t = s < 0 ? 0 : (long long)s;
    if (t < 60)
        snprintf(buf, 32, "%llds", t);
    else if (t < 3600)
        snprintf(buf, 32, "%lldm%02llds", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, 32, "%lldh%02lldm", t / 3600, t % 3600 / 60);
    else
        snprintf(buf, 32, "%lldd%02lldh", t / 86400, t % 86400 / 3600);
    return buf;
}

const char *when(json_t *v, char buf[32])
{
    if (!json_is_number(v))
        return "-";
    time_t t = (time_t)json_number_value(v);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm))
        return "-";
    return buf;
}

/* ---------------------------------------------------------------- stats, workers, dlq, purge */

/* Fills a table from an admin call's answer: the header row, then a row per
 * element. Nonzero when memory ran out. */
typedef int (listing_fill)(table *t, json_t *out);

/* Prints an admin call's answer: JSON with --json, else the table fill()
 * makes of it (align: 'l' or 'r' per column). Releases out; returns the
 * exit code. */
static int print_listing(const cli *cl, json_t *out, const char *align,
                         listing_fill *fill)
{
    int code = EXIT_OK;

    if (cl->json) {
        code = print_json(out);
    } else {
        table t = {strlen(align), 0, 0, align, NULL};
        if (fill(&t, out))
            code = fail(EXIT_REDIS, "out of memory");
        else
            table_print(&t);
        table_clear(&t);
    }
    json_decref(out);
    return code;
}

/* The columns say what they count: DEAD is the dead-letter list now (like
 * PENDING, SCHEDULED, ACTIVE); the totals since the queue's first job count
 * attempts (ATTEMPTS: outcomes reported, ATTEMPTS-FAILED: each failed
 * attempt, retried or not, RETRIED, LOST) or jobs (SUCCEEDED, JOBS-FAILED:
 * failed for good, dead-lettered; CANCELLED). */
static int stats_rows(table *t, json_t *out)
{
    static const char *const totals[] = {"processed", "succeeded", "failed", "retried",
                                         "lost", "dead", "cancelled"};
    size_t i;
    json_t *q;
    int err = table_add(t, "QUEUE", "PENDING", "SCHEDULED", "ACTIVE", "DEAD",
                        "ATTEMPTS", "SUCCEEDED", "ATTEMPTS-FAILED", "RETRIED", "LOST",
                        "JOBS-FAILED", "CANCELLED", "PAUSED");
    json_array_foreach(out, i, q) {
        char b[11][32];
        json_t *tot = json_object_get(q, "totals");
        err |= table_add(t, json_string_value(json_object_get(q, "queue")),
                         num(json_object_get(q, "pending"), b[0]),
                         num(json_object_get(q, "scheduled"), b[1]),
                         num(json_object_get(q, "active"), b[2]),
                         num(json_object_get(q, "dead"), b[3]),
                         num(json_object_get(tot, totals[0]), b[4]),
                         num(json_object_get(tot, totals[1]), b[5]),
                         num(json_object_get(tot, totals[2]), b[6]),
                         num(json_object_get(tot, totals[3]), b[7]),
                         num(json_object_get(tot, totals[4]), b[8]),
                         num(json_object_get(tot, totals[5]), b[9]),
                         num(json_object_get(tot, totals[6]), b[10]),
                         json_is_true(json_object_get(q, "paused")) ? "paused" : "-");
    }
    return err;
}

/* A command without arguments that prints what one admin call answers. */
static int cmd_listing(cli *cl, int (*fetch)(tq_client *, json_t **),
                       const char *align, listing_fill *fill)
{
    tq_client *c;
    json_t *out = NULL;
    int code;

    if ((code = want_args(cl, 0, 0, "")) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    code = fetch(c, &out) ? fail_client(c) : print_listing(cl, out, align, fill);
    tq_client_free(c);
    return code;
}

int cmd_stats(cli *cl)
{
    return cmd_listing(cl, tq_admin_stats, "lrrrrrrrrrrrl", stats_rows);
}

/* The queues of a worker's card (a JSON array) as "a,b". */
static const char *joined(json_t *v, char *buf, size_t n)
{
    size_t i, at = 0;
    json_t *q;
    if (json_is_string(v))
        return json_string_value(v);
    if (!json_is_array(v))
        return "-";
    buf[0] = '\0';
    json_array_foreach(v, i, q) {
        const char *s = json_string_value(q);
        int k = snprintf(buf + at, n - at, "%s%s", i ? "," : "", s ? s : "?");
        if (k < 0 || (size_t)k >= n - at)
            break;
        at += (size_t)k;
    }
    return buf;
}

static int workers_rows(table *t, json_t *out)
{
    size_t i;
    json_t *w;
    int err = table_add(t, "ID", "STATE", "HOST", "PID", "QUEUES", "CONCURRENCY", "BUSY",
                        "UPTIME", "LAST HEARTBEAT");
    json_array_foreach(out, i, w) {
        char b[5][32], qs[256], ago[48];
        snprintf(ago, sizeof ago, "%s ago", span(json_object_get(w, "heartbeat_age"), b[4]));
        const char *st = json_string_value(json_object_get(w, "state"));
        err |= table_add(t, json_string_value(json_object_get(w, "id")), st ? st : "-",
                         json_string_value(json_object_get(w, "host")),
                         num(json_object_get(w, "pid"), b[0]),
                         joined(json_object_get(w, "queues"), qs, sizeof qs),
                         num(json_object_get(w, "concurrency"), b[1]),
                         num(json_object_get(w, "busy"), b[2]),
                         span(json_object_get(w, "uptime"), b[3]), ago);
    }
    return err;
}

int cmd_workers(cli *cl)
{
    return cmd_listing(cl, tq_admin_workers, "lllrlrrrl", workers_rows);
}

/* The first line of an error, escaped, at most 72 characters. */
static const char *short_error(const char *s, char *buf, size_t n)
{
    size_t at = 0;
    if (!s)
        return "-";
    for (; *s && *s != '\n' && at + 4 < n && at < 72; s++)
        buf[at++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s;
    if (*s) {
        /* cut short: say so */
        if (at > 3 && *s != '\n')
            at -= 3;
        memcpy(buf + at, "...", 3);
        at += 3;
    }
    buf[at] = '\0';
    return buf;
}

static int dlq_rows(table *t, json_t *out)
{
    size_t i;
    json_t *d;
    int err = table_add(t, "ID", "QUEUE", "TASK", "ATTEMPT", "FINISHED", "ERROR");
    json_array_foreach(out, i, d) {
        char b[2][32], e[96];
        json_t *task = json_object_get(d, "task");
        err |= table_add(t, json_string_value(json_object_get(d, "id")),
                         json_string_value(json_object_get(d, "queue")),
                         task ? json_string_value(task) : "(expired)",
                         num(json_object_get(d, "attempt"), b[0]),
                         when(json_object_get(d, "finished_at"), b[1]),
                         short_error(json_string_value(json_object_get(d, "error")),
                                     e, sizeof e));
    }
    return err;
}

static int cmd_dlq_list(cli *cl, tq_client *c)
{
    json_t *out = NULL;
    if (tq_admin_dlq_list(c, cl->dlq_queue, &out))
        return fail_client(c);
    return print_listing(cl, out, "lllrll", dlq_rows);
}

int cmd_dlq(cli *cl)
{
    const char *sub = cl->npos ? cl->pos[0] : NULL;
    tq_client *c;
    long long n = 0;
    int code;

    if (!sub)
        return fail(EXIT_USAGE, "usage: tq dlq list|retry|purge (no subcommand given)");
    if (strcmp(sub, "list") && strcmp(sub, "retry") && strcmp(sub, "purge"))
        return fail(EXIT_USAGE, "unknown subcommand 'tq dlq %s' (list, retry or purge)", sub);
    int retry = !strcmp(sub, "retry");
    if (cl->all && !retry)
        return fail(EXIT_USAGE, "--all applies to 'tq dlq retry' only");
    if (cl->yes && strcmp(sub, "purge"))
        return fail(EXIT_USAGE, "--yes does not apply to 'tq dlq %s'", sub);
    if (retry) {
        if (cl->all && cl->npos > 1)
            return fail(EXIT_USAGE, "tq dlq retry: give ids or --all, not both");
        if (!cl->all && cl->npos < 2)
            return fail(EXIT_USAGE, "usage: tq dlq retry ID...|--all [--queue Q]");
        if (!cl->all && cl->dlq_queue)
            return fail(EXIT_USAGE, "--queue applies to 'tq dlq retry --all' only");
        if ((code = check_ids("job", cl->pos + 1, cl->npos - 1)) >= 0)
            return code;
    } else if (cl->npos > 1) {
        return fail(EXIT_USAGE, "tq dlq %s: unexpected argument '%s'", sub, cl->pos[1]);
    }
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    code = EXIT_OK;
    if (!strcmp(sub, "list")) {
        code = cmd_dlq_list(cl, c);
    } else if (!strcmp(sub, "purge")) {
        if (tq_admin_dlq_purge(c, cl->dlq_queue, &n))
            code = fail_client(c);
        else if (cl->json)
            printf("{\"purged\":%lld}\n", n);
        else
            printf("purged %lld job%s from the dead-letter list\n", n, n == 1 ? "" : "s");
    } else if (cl->all) {
        if (tq_admin_dlq_retry_all(c, cl->dlq_queue, &n))
            code = fail_client(c);
        else if (cl->json)
            printf("{\"retried\":%lld}\n", n);
        else
            printf("retried %lld job%s\n", n, n == 1 ? "" : "s");
    } else {
        int worst = EXIT_OK;
        for (size_t i = 1; i < cl->npos; i++) {
            int rv = tq_admin_dlq_retry(c, cl->pos[i]);
            if (rv == TQ_EREDIS || rv == TQ_ENOMEM || rv == TQ_EPROTO) {
                worst = fail_client(c);
                break;
            }
            if (rv) {
                int k = fail_client(c);
                /* 5 (no such job) before 2 (not dead-lettered) */
                if (worst == EXIT_OK || k == EXIT_NOTFOUND)
                    worst = k;
                continue;
            }
            if (cl->json)
                printf("{\"id\":\"%s\",\"retried\":true}\n", cl->pos[i]);
            else
                printf("%s retried\n", cl->pos[i]);
        }
        code = worst;
    }
    tq_client_free(c);
    return code;
}

/* tq semaphore set NAME N | tq semaphore show [NAME] */
static int semaphore_rows(table *t, json_t *out)
{
    size_t i;
    json_t *sem;
    int err = table_add(t, "NAME", "CAPACITY", "WAITING", "HOLDERS");
    json_array_foreach(out, i, sem) {
        char cap[48], waiting[24], holders[200] = "";
        json_t *h;
        size_t k, len = 0;
        snprintf(cap, sizeof cap, "%lld%s",
                 (long long)json_integer_value(json_object_get(sem, "capacity")),
                 json_is_true(json_object_get(sem, "capacity_set")) ? "" : " (default)");
        snprintf(waiting, sizeof waiting, "%lld",
                 (long long)json_integer_value(json_object_get(sem, "waiting")));
        json_array_foreach(json_object_get(sem, "holders"), k, h) {
            const char *id = json_string_value(json_object_get(h, "job"));
            int n = snprintf(holders + len, sizeof holders - len, "%s%s",
                             k ? " " : "", id ? id : "?");
            if (n < 0 || (size_t)n >= sizeof holders - len) {
                snprintf(holders + sizeof holders - 5, 5, " ...");
                break;
            }
            len += (size_t)n;
        }
        err |= table_add(t, json_string_value(json_object_get(sem, "name")), cap,
                         waiting, len ? holders : "-");
    }
    return err;
}

static int cmd_semaphore_show(cli *cl, tq_client *c, const char *name)
{
    json_t *out = NULL;
    if (tq_admin_semaphore_show(c, name, &out))
        return fail_client(c);
    return print_listing(cl, out, "lrrl", semaphore_rows);
}

int cmd_semaphore(cli *cl)
{
    const char *sub = cl->npos ? cl->pos[0] : NULL;
    long long cap = 0;
    tq_client *c;
    tq_perr e;
    int code;

    if (!sub || (strcmp(sub, "set") && strcmp(sub, "show")))
        return fail(EXIT_USAGE, "usage: tq semaphore set NAME N | tq semaphore show [NAME]");
    if (!strcmp(sub, "set")) {
        if (cl->npos != 3)
            return fail(EXIT_USAGE, "usage: tq semaphore set NAME N");
        if (tq_name_check("semaphore", cl->pos[1], &e))
            return fail(EXIT_USAGE, "%s", e.text);
        if (strchr(cl->pos[1], ':'))
            return fail(EXIT_USAGE, "semaphore name '%s' has a ':': the capacity of NAME "
                        "is that of each of its keys (--semaphore NAME:KEY)", cl->pos[1]);
        if (tq_int_check("semaphore capacity", cl->pos[2], 0, 1000000000, &cap, &e))
            return fail(EXIT_USAGE, "%s", e.text);
    } else {
        if (cl->npos > 2)
            return fail(EXIT_USAGE, "usage: tq semaphore show [NAME]");
        if (cl->npos == 2 && tq_keyed_check("semaphore", cl->pos[1], &e))
            return fail(EXIT_USAGE, "%s", e.text);
    }
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (!strcmp(sub, "show")) {
        code = cmd_semaphore_show(cl, c, cl->npos == 2 ? cl->pos[1] : NULL);
    } else if (tq_admin_semaphore_set(c, cl->pos[1], cap)) {
        code = fail_client(c);
    } else {
        code = EXIT_OK;
        if (cl->json) {
            json_t *o = json_pack("{s:s, s:I}", "name", cl->pos[1],
                                  "capacity", (json_int_t)cap);
            code = print_json(o);
            json_decref(o);
        } else
            printf("semaphore %s: capacity %lld\n", cl->pos[1], cap);
    }
    tq_client_free(c);
    return code;
}

int cmd_purge(cli *cl)
{
    tq_client *c;
    tq_perr e;
    long long n = 0;
    int code;

    if ((code = want_args(cl, 1, 1, "QUEUE --yes")) >= 0)
        return code;
    if (tq_queue_check(cl->pos[0], &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if (!cl->yes)
        return fail(EXIT_USAGE, "purge drops every pending job of queue '%s': add --yes "
                    "to confirm", cl->pos[0]);
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (tq_admin_purge(c, cl->pos[0], &n))
        code = fail_client(c);
    else if (cl->json)
        printf("{\"purged\":%lld}\n", n);
    else
        printf("purged %lld pending job%s from '%s'\n", n, n == 1 ? "" : "s", cl->pos[0]);
    tq_client_free(c);
    return code;
}

/* ---------------------------------------------------------------- queue, jobs */

/* tq queue pause|resume Q | tq queue rm Q --yes [--force] */
int cmd_queue(cli *cl)
{
    const char *sub = cl->npos ? cl->pos[0] : NULL;
    const char *q = cl->npos > 1 ? cl->pos[1] : NULL;
    json_t *counts = NULL;
    tq_client *c;
    tq_perr e;
    int code, changed = 0;

    if (!sub || (strcmp(sub, "pause") && strcmp(sub, "resume") && strcmp(sub, "rm")))
        return fail(EXIT_USAGE, "usage: tq queue pause|resume Q | tq queue rm Q --yes [--force]");
    if (cl->npos != 2)
        return fail(EXIT_USAGE, "usage: tq queue %s Q%s", sub,
                    strcmp(sub, "rm") ? "" : " --yes [--force]");
    if (tq_queue_check(q, &e))
        return fail(EXIT_USAGE, "%s", e.text);
    int rm = !strcmp(sub, "rm");
    if (!rm && (cl->yes || cl->force))
        return fail(EXIT_USAGE, "%s applies to 'tq queue rm' only", cl->yes ? "--yes" : "--force");
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (!rm) {
        int pause = !strcmp(sub, "pause");
        if (tq_admin_queue_pause(c, q, pause, &changed))
            code = fail_client(c);
        else if (cl->json)
            code = print_json_new(json_pack("{s:s, s:b, s:b}", "queue", q, "paused", pause,
                                            "changed", changed));
        else
            printf("queue %s %s%s\n", q, changed ? "" : "was already ",
                   pause ? "paused" : (changed ? "resumed" : "running"));
        tq_client_free(c);
        return code;
    }
    /* rm: look first (read-only), then refuse or delete */
    if (tq_admin_queue_counts(c, q, &counts)) {
        code = fail_client(c);
        tq_client_free(c);
        return code;
    }
    long long pending = json_integer_value(json_object_get(counts, "pending"));
    long long sched = json_integer_value(json_object_get(counts, "scheduled"));
    long long active = json_integer_value(json_object_get(counts, "active"));
    long long dead = json_integer_value(json_object_get(counts, "dead"));
    long long kept = json_integer_value(json_object_get(counts, "succeeded")) +
                     json_integer_value(json_object_get(counts, "cancelled"));
    json_decref(counts);
    if (!cl->yes) {
        code = fail(EXIT_USAGE, "this deletes queue '%s' and its jobs (%lld pending, "
                    "%lld scheduled, %lld active, %lld dead-lettered, %lld more "
                    "finished): add --yes", q, pending, sched, active, dead, kept);
    } else if (active > 0 && !cl->force) {
        code = fail(EXIT_FAILED, "queue '%s' has %lld job%s running: wait for %s, "
                    "or add --force (a forced rm drops them: their outcomes are "
                    "refused)", q, active, active == 1 ? "" : "s",
                    active == 1 ? "it" : "them");
    } else {
        long long n = 0;
        if (tq_admin_queue_rm(c, q, &n))
            code = fail_client(c);
        else if (cl->json)
            code = print_json_new(json_pack("{s:s, s:b, s:I}", "queue", q, "removed", 1,
                                            "jobs", (json_int_t)n));
        else
            printf("removed queue %s (%lld job record%s)\n", q, n, n == 1 ? "" : "s");
    }
    tq_client_free(c);
    return code;
}

static int jobs_rows(table *t, json_t *out)
{
    size_t i;
    json_t *j;
    int err = table_add(t, "ID", "TASK", "STATE", "ATTEMPT", "CREATED", "STARTED", "ERROR");
    json_array_foreach(out, i, j) {
        char b[3][32], e[96], task[48];
        const char *tk = json_string_value(json_object_get(j, "task"));
        snprintf(task, sizeof task, "%s", tk ? tk : "-");
        err |= table_add(t, json_string_value(json_object_get(j, "id")),
                         short_error(task, e, 40),
                         json_string_value(json_object_get(j, "state")),
                         num(json_object_get(j, "attempt"), b[0]),
                         when(json_object_get(j, "created_at"), b[1]),
                         when(json_object_get(j, "started_at"), b[2]),
                         short_error(json_string_value(json_object_get(j, "error")),
                                     e + 40, sizeof e - 40));
    }
    return err;
}

/* tq jobs [--queue Q] [--state S] [--limit N] */
int cmd_jobs(cli *cl)
{
    json_t *out = NULL;
    tq_client *c;
    int code;

    if ((code = want_args(cl, 0, 0, "[--queue Q] [--state S] [--limit N]")) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (tq_admin_jobs(c, cl->dlq_queue ? cl->dlq_queue : "default", cl->state,
                      cl->limit ? cl->limit : 20, &out))
        code = fail_client(c);
    else
        code = print_listing(cl, out, "lllrlll", jobs_rows);
    tq_client_free(c);
    return code;
}
