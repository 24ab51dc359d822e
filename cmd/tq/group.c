/* group.c -- `tq group submit|wait|status|cancel`.
 *
 * A group is submitted from stdin like submit-many; waiting for it draws a
 * progress bar on a terminal; a submit that failed partway still prints the
 * group's id, since its members made so far run and can be cancelled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/tq/cli.h"
#include "proto/proto_private.h"

/* The progress bar of `tq group wait` on a terminal: redrawn in place at
 * most ten times a second, and once more when the group is done. */
typedef struct bar {
    int64_t last;
    size_t done, total;   /* as last drawn */
    int drawn;
} bar;

static void bar_draw(size_t done, size_t total, void *ud)
{
    static const char full[] = "##############################";
    static const char empty[] = "..............................";
    const int width = (int)sizeof full - 1;
    bar *b = ud;
    int64_t now = (int64_t)tq_mono_ms();
    if (b->drawn && ((done == b->done && total == b->total) ||
                     (done < total && now - b->last < 100)))
        return;
    b->last = now;
    b->done = done;
    b->total = total;
    int fill = total ? (int)((double)done * width / (double)total) : 0;
    if (fill > width)
        fill = width;
    fprintf(stderr, "\r[%.*s%.*s] %zu/%zu members done", fill, full, width - fill, empty,
            done, total);
    fflush(stderr);
    b->drawn = 1;
}

/* What group submit prints: the group id and, with --then, the fan-in's,
 * one a line; --json, {"group","fanin","members"} (the members made: a
 * blank id is one that was not). */
static int put_group(const cli *cl, const char *gid, const char *fanin,
                     const char (*ids)[TQ_ID_SIZE], size_t n)
{
    if (!cl->json) {
        puts(gid);
        if (fanin)
            puts(fanin);
        return EXIT_OK;
    }
    json_t *o = json_object(), *m = json_array();
    int err = !o || !m;
    for (size_t i = 0; !err && i < n; i++)
        if (ids[i][0])
            err = json_array_append_new(m, json_string(ids[i]));
    if (!err)
        err = json_object_set_new(o, "group", json_string(gid)) ||
              json_object_set_new(o, "fanin", fanin ? json_string(fanin) : json_null()) ||
              json_object_set(o, "members", m);
    int code = err ? fail(EXIT_REDIS, "out of memory") : print_json(o);
    json_decref(o);
    json_decref(m);
    return code;
}

static int group_submit(cli *cl)
{
    char **args = NULL;
    char (*ids)[TQ_ID_SIZE] = NULL;
    char gid[TQ_ID_SIZE], fanin[TQ_ID_SIZE];
    const char *task = cl->npos == 2 ? cl->pos[1] : NULL;
    const char *then = cl->nthen ? cl->then[0] : NULL;
    size_t n = 0;
    tq_client *c = NULL;
    tq_perr e;
    int code;

    if (!task)
        return fail(EXIT_USAGE, "usage: tq group submit [opts] TASK [--then TASK2] < FILE");
    if (tq_client_opts_check(task, &cl->so, &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if (cl->so.unique)
        return fail(EXIT_USAGE, "--unique does not apply to 'tq group submit'");
    if ((code = read_lines(cl, &args, &n)) >= 0)
        return code;
    if (!(ids = malloc((n ? n : 1) * sizeof *ids))) {
        code = fail(EXIT_REDIS, "out of memory");
        goto done;
    }
    if (!(c = connect_or_fail(cl, &code)))
        goto done;
    int rv = tq_client_group_submit_normalized(c, task, (const char *const *)args, n,
                                               &cl->so, then, gid, fanin, ids);
    if (rv && rv != TQ_EDURABLE) {
        size_t made = 0;
        for (size_t i = 0; i < n; i++)
            made += ids[i][0] != '\0';
        if (!gid[0]) {
            code = fail_client(c);
            goto done;
        }
        /* The group exists, unsealed, with the members made so far (they
         * run): say which group, so it can be cancelled. */
        put_group(cl, gid, then ? fanin : NULL, (const char (*)[TQ_ID_SIZE])ids, n);
        fflush(stdout);
        code = fail(tq_exit_code(tq_client_err(c)), "%s (group %s was created with %zu "
                    "of %zu members, which will run; 'tq group cancel %s' cancels them)",
                    tq_client_errstr(c), gid, made, n, gid);
        goto done;
    }
    code = put_group(cl, gid, then ? fanin : NULL, (const char (*)[TQ_ID_SIZE])ids, n);
    if (rv == TQ_EDURABLE && code == EXIT_OK) {
        fflush(stdout);
        code = fail_submit(c); /* every member exists: the replicas lag */
    }
done:
    free_lines(args, n);
    free(ids);
    tq_client_free(c);
    return code;
}

/* Prints each member's result on its own line (null for the others, with a
 * note on stderr for the first few; json: job_brief's object instead), and
 * returns the exit code by the precedence of docs/design.md §6: 5, 3, 1, 4,
 * 0. */
static int report_group(const char *gid, tq_job **out, size_t n, int timedout, int json)
{
    size_t missing = 0, unfinished = 0, failed = 0, cancelled = 0, notes = 0;
    const size_t max_notes = 10;

    for (size_t i = 0; i < n; i++) {
        tq_job *j = out[i];
        if (json)
            print_brief(NULL, j); /* out of memory: said on stderr */
        else
            put_result(j);
        if (j && j->state == TQ_STATE_SUCCEEDED)
            continue;
        int note = notes++ < max_notes;
        if (note)
            fputs("tq: ", stderr);
        if (!j) {
            missing++;
            if (note)
                fprintf(stderr, "member %zu: its record is gone (expired?)", i + 1);
        } else if (j->state == TQ_STATE_FAILED || j->state == TQ_STATE_CANCELLED) {
            failed += j->state == TQ_STATE_FAILED;
            cancelled += j->state == TQ_STATE_CANCELLED;
            if (note) {
                fprintf(stderr, "member %zu (%s)", i + 1, j->id);
                put_why(j);
            }
        } else {
            unfinished++;
            if (note)
                fprintf(stderr, "member %zu (%s) is not finished (%s)", i + 1, j->id,
                        tq_state_name(j->state));
        }
        if (note)
            fputc('\n', stderr);
    }
    if (notes > max_notes)
        fprintf(stderr, "tq: ... and %zu more members that did not succeed\n",
                notes - max_notes);
    if (notes)
        fprintf(stderr, "tq: group %s: %zu of %zu members did not succeed (%zu failed, "
                "%zu cancelled, %zu not finished, %zu gone)\n", gid, notes, n, failed,
                cancelled, unfinished, missing);
    return worst_exit(missing, timedout || unfinished, failed, cancelled);
}

static int group_wait(cli *cl, tq_client *c, const char *gid)
{
    tq_job **out = NULL;
    size_t n = 0;
    bar b = {0, 0, 0, 0};
    int rv = tq_group_wait(c, gid, cl->wait_timeout_ms,
                           isatty(STDERR_FILENO) ? bar_draw : NULL, &b, &out, &n);
    if (b.drawn)
        fputc('\n', stderr);
    if (rv && rv != TQ_ETIMEDOUT)
        return fail_client(c);
    int code = report_group(gid, out, n, rv == TQ_ETIMEDOUT, cl->json);
    if (rv == TQ_ETIMEDOUT)
        fail(EXIT_TIMEOUT, "%s", tq_client_errstr(c));
    tq_jobs_free(out, n);
    return code;
}

static int group_status(cli *cl, tq_client *c, const char *gid)
{
    static const tq_state order[] = {TQ_STATE_WAITING, TQ_STATE_SCHEDULED,
                                     TQ_STATE_PENDING, TQ_STATE_ACTIVE,
                                     TQ_STATE_SUCCEEDED, TQ_STATE_FAILED,
                                     TQ_STATE_CANCELLED};
    tq_group_info g;
    char buf[32];

    if (tq_group_status(c, gid, &g))
        return fail_client(c);
    if (cl->json) {
        json_t *o = json_object(), *st = json_object();
        int err = !o || !st;
        for (size_t i = 0; !err && i < sizeof order / sizeof *order; i++)
            err = json_object_set_new(st, tq_state_name(order[i]),
                                      json_integer((json_int_t)g.count[order[i]]));
        if (!err)
            err = json_object_set_new(st, "expired",
                                      json_integer((json_int_t)g.count[TQ_STATE_UNKNOWN])) ||
                  json_object_set_new(o, "id", json_string(g.id)) ||
                  json_object_set_new(o, "queue", json_string(g.queue)) ||
                  json_object_set_new(o, "total", json_integer((json_int_t)g.total)) ||
                  json_object_set_new(o, "done", json_integer((json_int_t)g.done)) ||
                  json_object_set_new(o, "succeeded", json_integer((json_int_t)g.ok)) ||
                  json_object_set_new(o, "sealed", json_boolean(g.sealed)) ||
                  json_object_set_new(o, "finished", json_boolean(g.finished)) ||
                  json_object_set_new(o, "created_at", json_real(g.created_at)) ||
                  json_object_set_new(o, "finished_at",
                                      g.finished ? json_real(g.finished_at) : json_null()) ||
                  json_object_set(o, "states", st) ||
                  json_object_set_new(o, "fanin", g.fanin[0] ? json_string(g.fanin)
                                                             : json_null()) ||
                  json_object_set_new(o, "fanin_state",
                                      g.fanin[0] && g.fanin_state
                                          ? json_string(tq_state_name(g.fanin_state))
                                          : json_null());
        int code = err ? fail(EXIT_REDIS, "out of memory") : print_json(o);
        json_decref(o);
        json_decref(st);
        return code;
    }
    printf("group     %s (queue %s)\n", g.id, g.queue);
    printf("members   %zu%s\n", g.total, g.sealed ? "" : " so far (still being created)");
    if (g.finished) {
        json_t *t = json_real(g.finished_at);
        printf("finished  all, at %s (%zu succeeded)\n", when(t, buf), g.ok);
        json_decref(t);
    }
    else
        printf("finished  %zu of %zu (%zu succeeded)\n", g.done, g.total, g.ok);
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        if (g.count[order[i]])
            printf("%-9s %zu\n", tq_state_name(order[i]), g.count[order[i]]);
    if (g.count[TQ_STATE_UNKNOWN])
        printf("%-9s %zu\n", "expired", g.count[TQ_STATE_UNKNOWN]);
    if (g.fanin[0])
        printf("fan-in    %s %s\n", g.fanin,
               g.fanin_state ? tq_state_name(g.fanin_state) : "expired");
    return EXIT_OK;
}

static int group_cancel(cli *cl, tq_client *c, const char *gid)
{
    size_t now = 0, stopping = 0;
    if (tq_group_cancel(c, gid, &now, &stopping))
        return fail_client(c);
    if (cl->json)
        printf("{\"group\":\"%s\",\"cancelled\":%zu,\"stopping\":%zu}\n", gid, now, stopping);
    else
        printf("group %s: %zu cancelled, %zu running being stopped by their workers\n", gid,
               now, stopping);
    return EXIT_OK;
}

int cmd_group(cli *cl)
{
    const char *sub = cl->npos ? cl->pos[0] : NULL;
    tq_client *c;
    int code;

    if (!sub)
        return fail(EXIT_USAGE, "usage: tq group submit|wait|status|cancel ...");
    int submit = !strcmp(sub, "submit");
    if (!submit && strcmp(sub, "wait") && strcmp(sub, "status") && strcmp(sub, "cancel"))
        return fail(EXIT_USAGE, "unknown subcommand 'tq group %s' (submit, wait, status "
                    "or cancel)", sub);
    /* submit options belong to submit; wait takes --timeout */
    for (size_t i = 0; i < cl->nflags && !submit; i++) {
        const struct flag *f = cl->flags[i].flag;
        if (f->cmds == ANY || (f->id == F_TIMEOUT && !strcmp(sub, "wait")))
            continue;
        return fail(EXIT_USAGE, "%s does not apply to 'tq group %s'", f->name, sub);
    }
    if (submit)
        return group_submit(cl);
    if (cl->npos != 2)
        return fail(EXIT_USAGE, cl->npos < 2 ? "usage: tq group %s GID" :
                    "tq group %s takes one group id", sub);
    if ((code = check_ids("group", cl->pos + 1, 1)) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (!strcmp(sub, "wait"))
        code = group_wait(cl, c, cl->pos[1]);
    else if (!strcmp(sub, "status"))
        code = group_status(cl, c, cl->pos[1]);
    else
        code = group_cancel(cl, c, cl->pos[1]);
    tq_client_free(c);
    return code;
}
