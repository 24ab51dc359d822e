/* ratelimit.c -- `tq ratelimit set|show|rm`: what client/ratelimit.c
 * answers, printed. Every argument is checked before connecting, so bad
 * input is exit 2 with nothing sent to Redis.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/tq/cli.h"
#include "client/admin.h"

static const char usage[] =
    "usage: tq ratelimit set NAME RATE [--burst N] | tq ratelimit show [NAME] | "
    "tq ratelimit rm NAME";

/* A limit's name: a name without ':' (a job's NAME:KEY is a key of NAME). */
static int check_limit_name(const char *name)
{
    tq_perr e;
    if (tq_name_check("rate limit", name, &e))
        return fail(EXIT_USAGE, "%s", e.text);
    if (strchr(name, ':'))
        return fail(EXIT_USAGE, "rate limit name '%s' has a ':' (a job's --rate-limit "
                    "NAME:KEY names a key of limit NAME)", name);
    return GO_ON;
}

static int show(cli *cl, tq_client *c, const char *name)
{
    json_t *out = NULL, *l;
    size_t i;
    int code = EXIT_OK;

    if (tq_admin_ratelimit_show(c, name, &out))
        return fail_client(c);
    if (cl->json) {
        code = print_json(out);
    } else {
        printf("%-24s %12s %8s%s\n", "NAME", "RATE", "BURST", name ? "     KEYS" : "");
        json_array_foreach(out, i, l) {
            printf("%-24s %12s %8lld", json_string_value(json_object_get(l, "name")),
                   json_string_value(json_object_get(l, "rate")),
                   (long long)json_integer_value(json_object_get(l, "burst")));
            if (name)
                printf(" %8lld", (long long)json_integer_value(json_object_get(l, "keys")));
            putchar('\n');
        }
    }
    json_decref(out);
    return code;
}

int cmd_ratelimit(cli *cl)
{
    const char *sub = cl->npos ? cl->pos[0] : NULL;
    int64_t interval;
    tq_client *c;
    tq_perr e;
    int code, existed = 0;

    if (!sub || (strcmp(sub, "set") && strcmp(sub, "show") && strcmp(sub, "rm")))
        return fail(EXIT_USAGE, "%s", usage);
    if (cl->burst && strcmp(sub, "set"))
        return fail(EXIT_USAGE, "--burst applies to 'tq ratelimit set' only");
    if (!strcmp(sub, "set")) {
        if (cl->npos != 3)
            return fail(EXIT_USAGE, "usage: tq ratelimit set NAME RATE [--burst N]");
        if ((code = check_limit_name(cl->pos[1])) >= 0)
            return code;
        if (tq_ratelimit_parse(cl->pos[2], &interval, &e))
            return fail(EXIT_USAGE, "%s", e.text);
    } else if (!strcmp(sub, "rm")) {
        if (cl->npos != 2)
            return fail(EXIT_USAGE, "usage: tq ratelimit rm NAME");
        if ((code = check_limit_name(cl->pos[1])) >= 0)
            return code;
    } else {
        if (cl->npos > 2)
            return fail(EXIT_USAGE, "usage: tq ratelimit show [NAME]");
        if (cl->npos == 2 && (code = check_limit_name(cl->pos[1])) >= 0)
            return code;
    }
    if (!(c = connect_or_fail(cl, &code)))
        return code;
    if (!strcmp(sub, "show")) {
        code = show(cl, c, cl->npos == 2 ? cl->pos[1] : NULL);
    } else if (!strcmp(sub, "rm")) {
        if (tq_admin_ratelimit_rm(c, cl->pos[1], &existed))
            code = fail_client(c);
        else if (!existed)
            code = fail(EXIT_NOTFOUND, "no rate limit named '%s'", cl->pos[1]);
        else if (cl->json)
            code = print_json_new(json_pack("{s:s}", "removed", cl->pos[1]));
        else
            printf("rate limit %s removed\n", cl->pos[1]);
    } else {
        long long burst = cl->burst ? cl->burst : 1;
        if (tq_admin_ratelimit_set(c, cl->pos[1], cl->pos[2], burst)) {
            code = fail_client(c);
        } else if (cl->json) {
            json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "name", cl->pos[1], "rate",
                                  cl->pos[2], "burst", (json_int_t)burst,
                                  "interval_us", (json_int_t)interval);
            code = print_json(o);
            json_decref(o);
        } else {
            printf("rate limit %s: %s, burst %lld\n", cl->pos[1], cl->pos[2], burst);
        }
    }
    tq_client_free(c);
    return code;
}
