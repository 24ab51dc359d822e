/* schedule.c -- `tq schedule add|list|rm|pause|resume|run` (SPEC §10).
 *
 * Everything a schedule is given is checked before connecting (its name,
 * the spec with the position of a bad field, the zone against the system's
 * tz database, the job's options and args), so bad input is exit 2 with
 * nothing sent. The work is libtq's (client/schedule.c); the workers fire
 * the ticks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/tq/cli.h"
#include "proto/cron.h"

static const char usage[] =
    "usage: tq schedule add NAME SPEC TASK [ARGS] [submit opts] [--tz ZONE] "
    "[--overlap skip|allow] [--catchup DUR] | list | rm NAME | pause NAME | "
    "resume NAME | run NAME";

/* The listing as an aligned table. */
static void put_table(json_t *a)
{
    enum { NCOL = 10 };
    static const char *const head[NCOL] = {"NAME", "SPEC", "TZ", "TASK", "QUEUE",
        "NEXT-RUN", "LAST-RUN", "LAST-JOB", "STATE", "PAUSED"};
    size_t n = json_array_size(a), w[NCOL], i, k;
    char (*cell)[NCOL][128] = calloc(n + 1, sizeof *cell);

    if (!cell)
        return;
    for (k = 0; k < NCOL; k++) {
        snprintf(cell[0][k], sizeof cell[0][k], "%s", head[k]);
        w[k] = strlen(head[k]);
    }
    for (i = 0; i < n; i++) {
        json_t *o = json_array_get(a, i);
        const char *s;
        char b[32];
        const char *v[NCOL] = {
            json_string_value(json_object_get(o, "name")),
            json_string_value(json_object_get(o, "spec")),
            json_string_value(json_object_get(o, "tz")),
            json_string_value(json_object_get(o, "task")),
            json_string_value(json_object_get(o, "queue")),
            NULL, NULL,
            json_string_value(json_object_get(o, "last_job")),
            json_string_value(json_object_get(o, "last_state")),
            json_is_true(json_object_get(o, "paused")) ? "yes" : "no",
        };
        for (k = 0; k < NCOL; k++) {
            s = k == 5 ? when(json_object_get(o, "next_run"), b)
              : k == 6 ? when(json_object_get(o, "last_run"), b)
              : v[k] ? v[k] : "-";
            /* what Redis holds stays on one line */
            size_t j, m = 0;
            for (j = 0; s[j] && m + 1 < sizeof cell[0][0]; j++)
                cell[i + 1][k][m++] = (unsigned char)s[j] < 0x20 || s[j] == 0x7f ? ' ' : s[j];
            cell[i + 1][k][m] = '\0';
            if (m > w[k])
                w[k] = m;
        }
    }
    for (i = 0; i <= n; i++)
        for (k = 0; k < NCOL; k++)
            printf(k + 1 < NCOL ? "%-*s  " : "%-*s\n", (int)(k + 1 < NCOL ? w[k] : 0),
                   cell[i][k]);
    free(cell);
}

/* add: NAME SPEC TASK [ARGS], checked; *norm (normalized args) is the
 * caller's. GO_ON or the exit code. */
static int check_add(cli *cl, char **norm)
{
    tq_perr e;
    tq_cron cr;
    tq_tz *tz = NULL;
    int rc;

    if (cl->npos < 4 || cl->npos > 5)
        return fail(EXIT_USAGE, "usage: tq schedule add NAME SPEC TASK [ARGS] "
                    "[submit opts] [--tz ZONE] [--overlap skip|allow] [--catchup DUR]");
    if (tq_name_check("schedule", cl->pos[1], &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if (tq_cron_parse(cl->pos[2], &cr, &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if ((rc = tq_tz_load(cl->sched_tz, &tz, &e)))
        return rc == TQ_ENOMEM ? fail(EXIT_REDIS, "out of memory")
                               : fail(EXIT_USAGE, "--tz: %s", e.text);
    tq_tz_free(tz);
    if (cl->so.delay_ms || cl->so.at > 0 || cl->so.unique || cl->so.durable)
        return fail(EXIT_USAGE, "a schedule's jobs take no --delay, --at, --unique "
                    "or --durable (--overlap skip keeps one at a time)");
    if (tq_client_opts_check(cl->pos[3], &cl->so, &e))
        return fail(EXIT_USAGE, "%s", e.text);
    rc = tq_args_normalize(cl->npos == 5 ? cl->pos[4] : NULL,
                           cl->npos == 5 ? strlen(cl->pos[4]) : 0,
                           cl->so.max_args, norm, &e);
    if (rc == TQ_ENOMEM)
        return fail(EXIT_REDIS, "out of memory");
    if (rc) {
        char hint[96];
        return fail(EXIT_USAGE, "ARGS: %s%s", e.text,
                    args_hint(cl->pos[4], strlen(cl->pos[4]), 1, hint, sizeof hint));
    }
    return GO_ON;
}

int cmd_schedule(cli *cl)
{
    const char *sub = cl->npos ? cl->pos[0] : "";
    char *norm = NULL, idbuf[TQ_ID_SIZE];
    tq_client *c = NULL;
    tq_perr e;
    int code, add = !strcmp(sub, "add"), list = !strcmp(sub, "list");
    int one = !strcmp(sub, "rm") || !strcmp(sub, "pause") ||
              !strcmp(sub, "resume") || !strcmp(sub, "run");

    if (!add && !list && !one)
        return fail(EXIT_USAGE, "%s", usage);
    if (!add && cl->sched_opts)
        return fail(EXIT_USAGE, "--tz, --overlap and --catchup go with 'tq schedule add'");
    if (!add && cl->so_given)
        return fail(EXIT_USAGE, "submit options go with 'tq schedule add'");
    if (add && (code = check_add(cl, &norm)) >= 0)
        return code;
    if (list && cl->npos != 1)
        return fail(EXIT_USAGE, "usage: tq schedule list [--json]");
    if (one && cl->npos != 2)
        return fail(EXIT_USAGE, "usage: tq schedule %s NAME", sub);
    if (one && tq_name_check("schedule", cl->pos[1], &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if (!(c = connect_or_fail(cl, &code)))
        goto done;
    if (add) {
        tq_schedule_def d = {cl->pos[1], cl->pos[2], cl->sched_tz, cl->pos[3], norm,
                             &cl->so, cl->sched_overlap_allow, cl->sched_catchup_ms};
        int64_t next = 0;
        char b[32];
        if (tq_admin_schedule_add(c, &d, &next)) {
            code = fail_client(c);
            goto done;
        }
        json_t *t = json_real((double)next / 1000.0);
        if (cl->json) {
            json_t *o = json_pack("{s:s, s:O}", "name", cl->pos[1], "next_run", t);
            code = print_json(o);
            json_decref(o);
        } else {
            printf("schedule %s: next run %s\n", cl->pos[1], when(t, b));
        }
        json_decref(t);
    } else if (list) {
        json_t *a = NULL;
        if (tq_admin_schedule_list(c, &a)) {
            code = fail_client(c);
            goto done;
        }
        if (cl->json)
            code = print_json(a);
        else
            put_table(a);
        json_decref(a);
    } else if (!strcmp(sub, "run")) {
        if (tq_admin_schedule_run(c, cl->pos[1], idbuf)) {
            code = fail_client(c);
            goto done;
        }
        if (cl->json) {
            json_t *o = json_pack("{s:s, s:s}", "name", cl->pos[1], "id", idbuf);
            code = print_json(o);
            json_decref(o);
        } else {
            puts(idbuf);
        }
    } else if (tq_admin_schedule_ctl(c, cl->pos[1], sub)) {
        code = fail_client(c);
    } else if (cl->json) {
        json_t *o = !strcmp(sub, "rm")
                        ? json_pack("{s:s, s:b}", "name", cl->pos[1], "removed", 1)
                        : json_pack("{s:s, s:b}", "name", cl->pos[1], "paused",
                                    !strcmp(sub, "pause"));
        code = print_json(o);
        json_decref(o);
    } else {
        printf("schedule %s: %s\n", cl->pos[1], !strcmp(sub, "rm") ? "removed"
               : !strcmp(sub, "pause") ? "paused" : "resumed");
    }
done:
    free(norm);
    tq_client_free(c);
    return code;
}
