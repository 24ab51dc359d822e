/* submit.c -- `tq submit` (one job, a --then chain, --wait) and
 * `tq submit-many`.
 *
 * Args are read and normalized before connecting: a bad line of
 * submit-many is refused naming its number, and nothing was sent. After a
 * failure partway, the ids of the jobs that exist are printed all the same
 * (the library blanks the others), so a retry can leave them out. A
 * durable submit the replicas did not confirm in time prints its ids too,
 * then exits 7.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cmd/tq/cli.h"

/* ---------------------------------------------------------------- submit */

/* The ids of a submit: plain, one per line; --json, {"id": FIRST} and for a
 * chain (n > 1) "ids" too, head first. */
static int put_ids(const cli *cl, const char (*ids)[TQ_ID_SIZE], size_t n)
{
    if (!cl->json) {
        for (size_t i = 0; i < n; i++)
            puts(ids[i]);
        return EXIT_OK;
    }
    json_t *o = json_pack("{s:s}", "id", ids[0]), *a = n > 1 ? json_array() : NULL;
    int err = !o || (n > 1 && !a);
    for (size_t i = 0; !err && a && i < n; i++)
        err = json_array_append_new(a, json_string(ids[i]));
    if (!err && a)
        err = json_object_set(o, "ids", a);
    int code = err ? fail(EXIT_REDIS, "out of memory") : print_json(o);
    json_decref(a);
    json_decref(o);
    return code;
}

/* Reads all of stdin, refusing more than max bytes. */
static int read_stdin(size_t max, char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return fail(EXIT_REDIS, "out of memory");
    for (;;) {
        if (n == cap) {
            char *b = cap > max ? NULL : realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                if (cap > max)
                    return fail(EXIT_USAGE, "stdin: args are over the limit of %zu "
                                "bytes (--max-args)", max);
                return fail(EXIT_REDIS, "out of memory");
            }
            buf = b;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, stdin);
        n += k;
        if (k == 0)
            break;
    }
    if (ferror(stdin)) {
        free(buf);
        return fail(EXIT_USAGE, "stdin: %s", strerror(errno));
    }
    *out = buf;
    *len = n;
    return GO_ON;
}

/* submit --then B --then C A ARGS: every job of the chain at once; prints
 * the ids head first, or with --wait the result of the last link. */
static int submit_chain(const cli *cl, tq_client *c, const char *args)
{
    size_t n = cl->nthen + 1;
    const char **tasks = malloc(n * sizeof *tasks);
    char (*ids)[TQ_ID_SIZE] = malloc(n * sizeof *ids);
    int code = EXIT_OK;

    if (!tasks || !ids) {
        code = fail(EXIT_REDIS, "out of memory");
        goto done;
    }
    tasks[0] = cl->pos[0];
    for (size_t i = 0; i < cl->nthen; i++)
        tasks[i + 1] = cl->then[i];
    if (tq_submit_chain(c, tasks, n, args, &cl->so, ids)) {
        if (tq_client_err(c) == TQ_EDURABLE)
            put_ids(cl, (const char (*)[TQ_ID_SIZE])ids, n);
        fflush(stdout);
        code = fail_submit(c);
        goto done;
    }
    if (cl->wait) {
        const char *last[] = {ids[n - 1]};
        code = wait_and_report(cl, c, last, 1, -1);
        goto done;
    }
    code = put_ids(cl, (const char (*)[TQ_ID_SIZE])ids, n);
done:
    free(tasks);
    free(ids);
    return code;
}

int cmd_submit(cli *cl)
{
    int code;
    char *text = NULL, *norm = NULL;
    size_t len = 0;
    const char *where = "ARGS";
    tq_client *c = NULL;
    tq_perr e;
    char id[TQ_ID_SIZE];

    if ((code = want_args(cl, 1, 2, "[opts] TASK [ARGS]")) >= 0)
        return code;
    if (tq_client_opts_check(cl->pos[0], &cl->so, &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if (cl->npos == 2 && !strcmp(cl->pos[1], "-")) {
        if ((code = read_stdin(cl->so.max_args, &text, &len)) >= 0)
            return code;
        where = "stdin";
    } else if (cl->npos == 2) {
        len = strlen(cl->pos[1]);
    }
    code = tq_args_normalize(text ? text : cl->npos == 2 ? cl->pos[1] : NULL, len,
                             cl->so.max_args, &norm, &e);
    if (code && code != TQ_ENOMEM) {
        char hint[96];
        fail(EXIT_USAGE, "%s: %s%s", where, e.text,
             args_hint(text ? text : cl->pos[1], len, !text, hint, sizeof hint));
    }
    free(text);
    if (code == TQ_ENOMEM)
        return fail(EXIT_REDIS, "out of memory");
    if (code)
        return EXIT_USAGE;
    if (!(c = connect_or_fail(cl, &code)))
        goto done;
    if (cl->nthen) {
        code = submit_chain(cl, c, norm);
        goto done;
    }
    const char *one = norm;
    if (tq_client_submit_normalized(c, cl->pos[0], &one, 1, &cl->so,
                                    (char (*)[TQ_ID_SIZE])id)) {
        /* not confirmed by the replicas: the job exists, say which (and
         * do not wait for it: the caller must decide what to do) */
        if (tq_client_err(c) == TQ_EDURABLE)
            put_ids(cl, (const char (*)[TQ_ID_SIZE])id, 1);
        fflush(stdout);
        code = fail_submit(c);
        goto done;
    }
    if (!cl->wait) {
        code = put_ids(cl, (const char (*)[TQ_ID_SIZE])id, 1);
        goto done;
    }
    const char *ids[] = {id};
    code = wait_and_report(cl, c, ids, 1, -1);
done:
    free(norm);
    tq_client_free(c);
    return code;
}

/* "invalid JSON args at line 1, column 3: x" -> "... at column 3: x": the
 * line of the file is the one that counts. */
static const char *drop_line_one(const char *text)
{
    static char buf[sizeof ((tq_perr *)0)->text];
    const char *at = strstr(text, "at line 1, column ");
    if (!at)
        return text;
    snprintf(buf, sizeof buf, "%.*sat %s", (int)(at - text), text,
             at + strlen("at line 1, "));
    return buf;
}

/* Reads stdin: one job's JSON args per line (blank lines skipped), each
 * normalized; a bad line is refused naming its number. *args (n strings)
 * is the caller's, freed with free_lines. Returns GO_ON to go on, else the
 * exit code. */
int read_lines(const cli *cl, char ***args_out, size_t *n_out)
{
    char **args = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    tq_perr e;
    int code = GO_ON;

    while ((got = getline(&line, &linecap, stdin)) >= 0) {
        size_t len = (size_t)got;
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (strspn(line, " \t") >= len)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            char **a = realloc(args, nc * sizeof *a);
            if (!a) {
                code = fail(EXIT_REDIS, "out of memory");
                goto done;
            }
            args = a;
            cap = nc;
        }
        int rv = tq_args_normalize(line, len, cl->so.max_args, &args[n], &e);
        if (rv == TQ_ENOMEM) {
            code = fail(EXIT_REDIS, "out of memory");
            goto done;
        }
        if (rv) {
            char hint[96];
            code = fail(EXIT_USAGE, "line %zu: %s%s", lineno, drop_line_one(e.text),
                        args_hint(line, len, 0, hint, sizeof hint));
            goto done;
        }
        n++;
    }
    if (ferror(stdin))
        code = fail(EXIT_USAGE, "stdin: %s", strerror(errno));
done:
    free(line);
    if (code >= 0) {
        for (size_t i = 0; i < n; i++)
            free(args[i]);
        free(args);
        return code;
    }
    *args_out = args;
    *n_out = n;
    return GO_ON;
}

void free_lines(char **args, size_t n)
{
    for (size_t i = 0; args && i < n; i++)
        free(args[i]);
    free(args);
}

int cmd_submit_many(cli *cl)
{
    char **args = NULL;
    char (*ids)[TQ_ID_SIZE] = NULL;
    size_t n = 0;
    tq_client *c = NULL;
    tq_perr e;
    int code;

    if ((code = want_args(cl, 1, 1, "[opts] TASK < FILE")) >= 0)
        return code;
    if (tq_client_opts_check(cl->pos[0], &cl->so, &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if ((code = read_lines(cl, &args, &n)) >= 0)
        return code;
    if (n == 0) {
        code = EXIT_OK;
        goto done;
    }
    if (!(ids = malloc(n * sizeof *ids))) {
        code = fail(EXIT_REDIS, "out of memory");
        goto done;
    }
    if (!(c = connect_or_fail(cl, &code)))
        goto done;
    int rv = tq_client_submit_normalized(c, cl->pos[0], (const char *const *)args, n,
                                         &cl->so, ids);
    /* On a failure partway, the jobs accepted so far exist and will run:
     * their ids are printed (the library blanks the others), so a retry
     * can leave them out. */
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ids[i][0])
            continue;
        if (cl->json)
            printf("{\"id\":\"%s\"}\n", ids[i]); /* an id is [0-9a-z] */
        else
            puts(ids[i]);
        accepted++;
    }
    if (rv == TQ_EDURABLE) {
        fflush(stdout);
        code = fail_submit(c);
        goto done;
    }
    if (rv) {
        fflush(stdout);
        code = fail(tq_exit_code(tq_client_err(c)), "%s (%zu of %zu jobs submitted: "
                    "their ids are printed; the rest were not)", tq_client_errstr(c),
                    accepted, n);
        goto done;
    }
    code = EXIT_OK;
done:
    free_lines(args, n);
    free(ids);
    tq_client_free(c);
    return code;
}
