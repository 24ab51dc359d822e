/* args.c -- a job's args: any JSON value, checked once at the door.
 *
 * jansson decides whether the text is JSON and, when it is not, where it
 * breaks. What is stored is the user's own text with the whitespace between
 * tokens taken out, not jansson's re-encoding of it: json_dumps would turn
 * 0.1 into 0.10000000000000001 and 1e2 into 100.0, and a task queue should
 * hand a handler the numbers it was given. Integers are read as reals while
 * checking (JSON_DECODE_INT_AS_REAL), so a 64-bit unsigned id is accepted
 * and passed on verbatim instead of being refused as "too big integer".
 */
#include <stdlib.h>
#include <string.h>

#include "proto/proto_private.h"

/* Copies the JSON text at in without whitespace outside strings. in must be
 * valid JSON (jansson said so): a string's escapes are then complete. Returns
 * the length written; out needs len bytes at most. */
static size_t compact(const char *in, size_t len, char *out)
{
    size_t i, o = 0;
    int in_string = 0;

    for (i = 0; i < len; i++) {
        char c = in[i];

        if (in_string) {
            out[o++] = c;
            if (c == '\\' && i + 1 < len)
                out[o++] = in[++i];
            else if (c == '"')
                in_string = 0;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            out[o++] = c;
            in_string = c == '"';
        }
    }
    return o;
}

/* Only whitespace (or nothing): jansson would say "unexpected token near end
 * of file", which does not tell a user what to do. */
static int blank(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 0;
    return 1;
}

/* max 0 means the default, TQ_MAX_ARGS_DEFAULT: a zeroed options struct
 * should limit args the usual way, not refuse every one. */
int tq_args_normalize(const char *text, size_t len, size_t max, char **out,
                      tq_perr *e)
{
    char why[200];
    json_error_t je;
    json_t *v;
    size_t n;

    *out = NULL;
    if (!text) {
        text = "null";
        len = 4;
    }
    if (max == 0)
        max = TQ_MAX_ARGS_DEFAULT;
    if (len > max) {
        tq_perr_set(e, "args are %zu bytes, over the limit of %zu (--max-args)",
                    len, max);
        return TQ_EINVAL;
    }
    if (blank(text, len)) {
        tq_perr_set(e, "args are empty: give a JSON value (null for none)");
        return TQ_EINVAL;
    }

    /* A record holds args as a C string, and jansson takes a NUL after a
     * number ("[0\0]"): such text would be stored cut short, not JSON. */
    if (memchr(text, '\0', len)) {
        tq_perr_set(e, "invalid JSON args: a NUL byte at offset %zu",
                    (size_t)((const char *)memchr(text, '\0', len) - text));
        return TQ_EINVAL;
    }

    /* jansson 2.14 returns NULL on most allocation failures without
     * filling in je (not even its error code): cleared first, a je with no
     * text means memory ran out. (Some failures come out as plausible syntax
     * errors instead: nothing tells those apart.) */
    memset(&je, 0, sizeof je);
    v = json_loadb(text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &je);
    if (!v) {
        if (je.text[0] == '\0' ||
            json_error_code(&je) == json_error_out_of_memory) {
            tq_perr_set(e, "out of memory reading args");
            return TQ_ENOMEM;
        }
        /* jansson quotes the input near the error: escape it. */
        tq_quote(why, sizeof why, je.text, strnlen(je.text, sizeof je.text));
        if (je.line > 0)
            tq_perr_set(e, "invalid JSON args at line %d, column %d: %s",
                        je.line, je.column, why);
        else
            tq_perr_set(e, "invalid JSON args: %s", why);
        return TQ_EINVAL;
    }
    json_decref(v);

    if (!(*out = malloc(len + 1))) {
        tq_perr_set(e, "out of memory reading args");
        return TQ_ENOMEM;
    }
    n = compact(text, len, *out);
    (*out)[n] = '\0';
    return 0;
}
