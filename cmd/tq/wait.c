/* wait.c -- `tq status`, `tq result`, `tq wait` and `tq cancel`: following
 * jobs by id.
 *
 * A job that did not succeed prints "null" on stdout (so the output keeps
 * one line per id) and says why on stderr; the exit code is the worst
 * outcome by the precedence of docs/design.md §6. With --json, wait prints
 * one {"id","state","result","error"} object per id instead (stderr and the
 * exit code the same), result {"id","result"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/tq/cli.h"

/* ---------------------------------------------------------------- waiting */

/* Prints what tq_wait found, one line per id in order (the result, or with
 * --json the job_brief object), and returns the exit code by the precedence
 * of docs/design.md §6: 6, 5, 3, 1, 4, 0. Why a job did not succeed goes
 * to stderr either way. */
static int report_waited(const cli *cl, tq_client *c, const char *const *ids,
                         size_t n, tq_job **out, int rv)
{
    int missing = 0, unfinished = 0, failed = 0, cancelled = 0;

    if (rv && rv != TQ_ETIMEDOUT && rv != TQ_ENOTFOUND)
        return fail_client(c);
    for (size_t i = 0; i < n; i++) {
        tq_job *j = out[i];
        if (cl->json)
            print_brief(ids[i], j); /* out of memory: said on stderr */
        else
            put_result(j);
        if (j && j->state == TQ_STATE_SUCCEEDED)
            continue;
        fputs("tq: ", stderr);
        if (!j) {
            fprintf(stderr, "no such job '%s'", ids[i]);
            missing = 1;
        } else if (j->state == TQ_STATE_FAILED || j->state == TQ_STATE_CANCELLED) {
            fprintf(stderr, "job %s", ids[i]);
            put_why(j);
            failed |= j->state == TQ_STATE_FAILED;
            cancelled |= j->state == TQ_STATE_CANCELLED;
        } else {
            fprintf(stderr, "job %s is not finished (%s) after --timeout %s", ids[i],
                    tq_state_name(j->state), cl->timeout_text ? cl->timeout_text : "");
            unfinished = 1;
        }
        fputc('\n', stderr);
    }
    return worst_exit(missing, unfinished, failed, cancelled);
}

/* tq wait --progress: each value on stderr as "progress ID JSON", one
 * line (stdout keeps one line per id: the results). */
static void put_progress(const char *id, const char *json, size_t len, void *ud)
{
    char *s = malloc(len + 1);

    if (!s)
        return;
    memcpy(s, json, len);
    s[len] = '\0';
    fputs("progress ", stderr);
    put_oneline(stderr, id);
    fputc(' ', stderr);
    put_oneline(stderr, s);
    fputc('\n', stderr);
    fflush(stderr);
    free(s);
}

int wait_and_report(const cli *cl, tq_client *c, const char *const *ids,
                           size_t n, int64_t timeout_ms)
{
    tq_job **out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        return fail(EXIT_REDIS, "out of memory");
    int rv = cl->progress
                 ? tq_wait_progress(c, ids, n, timeout_ms, out, put_progress, NULL)
                 : tq_wait(c, ids, n, timeout_ms, out);
    int code = report_waited(cl, c, ids, n, out, rv);
    for (size_t i = 0; i < n; i++)
        tq_job_free(out[i]);
    free(out);
    return code;
}


int cmd_status(cli *cl, int result)
{
    tq_client *c;
    tq_job *job = NULL;
    int code;

    if ((code = want_args(cl, 1, 1, "ID")) >= 0 || (code = check_ids("job", cl->pos, 1)) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (tq_status(c, cl->pos[0], &job)) {
        code = fail_client(c);
        goto done;
    }
    if (!result) {
        if (cl->json) {
            json_t *o = tq_job_to_json(job);
            code = print_json(o);
            json_decref(o);
        } else {
            puts(tq_state_name(job->state));
            code = EXIT_OK;
        }
        goto done;
    }
    switch (job->state) {
    case TQ_STATE_SUCCEEDED:
        if (cl->json) {
            json_t *full = tq_job_to_json(job), *r = json_object_get(full, "result");
            json_t *o = full ? json_pack("{s:s, s:O}", "id", job->id,
                                         "result", r ? r : json_null()) : NULL;
            code = print_json(o);
            json_decref(o);
            json_decref(full);
            break;
        }
        puts(job->result ? job->result : "null");
        code = EXIT_OK;
        break;
    case TQ_STATE_FAILED:
    case TQ_STATE_CANCELLED:
        fprintf(stderr, "tq: job %s", job->id);
        put_why(job);
        fputc('\n', stderr);
        code = job->state == TQ_STATE_FAILED ? EXIT_FAILED : EXIT_CANCELLED;
        break;
    default:
        code = fail(EXIT_TIMEOUT, "job %s is not finished (%s)", job->id,
                    tq_state_name(job->state));
    }
done:
    tq_job_free(job);
    tq_client_free(c);
    return code;
}

int cmd_wait(cli *cl)
{
    tq_client *c;
    int code;

    if ((code = want_args(cl, 1, (size_t)-1, "ID... [--timeout DUR]")) >= 0 ||
        (code = check_ids("job", cl->pos, cl->npos)) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    code = wait_and_report(cl, c, cl->pos, cl->npos, cl->wait_timeout_ms);
    tq_client_free(c);
    return code;
}

int cmd_cancel(cli *cl)
{
    tq_client *c;
    int code, missing = 0;

    if ((code = want_args(cl, 1, (size_t)-1, "ID...")) >= 0 ||
        (code = check_ids("job", cl->pos, cl->npos)) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    code = EXIT_OK;
    for (size_t i = 0; i < cl->npos; i++) {
        const char *id = cl->pos[i];
        tq_state before;
        int rv = tq_cancel(c, id, &before);
        if (rv == TQ_ENOTFOUND) {
            fail(EXIT_NOTFOUND, "no such job '%s'", id);
            missing = 1;
            continue;
        }
        if (rv) {
            code = fail_client(c);
            break;
        }
        if (cl->json) {
            printf("{\"id\":\"%s\",\"before\":\"%s\"}\n", id, tq_state_name(before));
        } else if (before == TQ_STATE_ACTIVE) {
            printf("%s cancelling: it is running, its worker stops it\n", id);
        } else if (tq_state_terminal(before)) {
            printf("%s already %s: left as it is\n", id, tq_state_name(before));
        } else {
            printf("%s cancelled\n", id);
        }
    }
    tq_client_free(c);
    if (code == EXIT_OK && missing)
        code = EXIT_NOTFOUND;
    return code;
}

/* ---------------------------------------------------------------- logs */

static void put_output(const char *data, size_t len, void *ud)
{
    int *broken = ud;

    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
        *broken = 1;
}

int cmd_logs(cli *cl)
{
    tq_client *c;
    int code, broken = 0;

    if (cl->json)
        return fail(EXIT_USAGE, "--json does not apply to 'tq logs' (it prints the "
                    "job's output as it is)");
    if ((code = want_args(cl, 1, 1, "[-f] ID")) >= 0 ||
        (code = check_ids("job", cl->pos, 1)) >= 0)
        return code;
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (tq_logs(c, cl->pos[0], cl->follow, put_output, &broken))
        code = fail_client(c);
    else
        code = broken ? fail(EXIT_REDIS, "cannot write the output") : EXIT_OK;
    tq_client_free(c);
    return code;
}
