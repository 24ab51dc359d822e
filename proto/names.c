/* names.c -- what a task, queue, semaphore or unique-key name may be.
 *
 * A name goes into Redis keys, log lines and the worker's table of handlers,
 * so it must be printable text of bounded length: non-empty, at most
 * TQ_NAME_MAX bytes of valid UTF-8 with no control character (C0, DEL or C1).
 * Queue names also go between the braces of a Redis Cluster hash tag
 * ("P:{Q}:p0"), and the namespace before it, so neither may hold a brace.
 * Every entry point (tq, tq-worker's flags, environment and config file, the
 * library's tq_client_new, tq_async_new and tq_worker_new) checks names here
 * and nowhere else, so they all refuse the same names with the same words.
 */
#include <stdio.h>
#include <string.h>

#include "proto/proto_private.h"

/* Reports the first thing wrong with name; 0 if nothing is. */
static int check_name(const char *what, const char *name, tq_perr *e)
{
    const unsigned char *u = (const unsigned char *)name;
    char q[TQ_QUOTE_SIZE], label[TQ_QUOTE_SIZE + 8];
    size_t len, i = 0;

    /* "task name", or just "name" when the caller did not say */
    snprintf(label, sizeof label, "%s%sname", what ? what : "", what ? " " : "");
    if (!name || !*name) {
        tq_perr_set(e, "%s is empty", label);
        return TQ_EINVAL;
    }
    len = strlen(name);
    if (len > TQ_NAME_MAX) {
        tq_perr_set(e, "%s '%s' is %zu bytes, over the limit of %d", label,
                    tq_quote(q, sizeof q, name, len), len, TQ_NAME_MAX);
        return TQ_EINVAL;
    }
    while (i < len) {
        uint32_t cp;
        size_t k = tq_utf8_decode(u + i, len - i, &cp);

        if (k == 0) {
            tq_perr_set(e, "%s '%s' is not valid UTF-8 at offset %zu",
                        label, tq_quote(q, sizeof q, name, len), i);
            return TQ_EINVAL;
        }
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
            tq_perr_set(e, "%s '%s' has a control character (U+%04X) at offset %zu",
                        label, tq_quote(q, sizeof q, name, len), (unsigned)cp, i);
            return TQ_EINVAL;
        }
        i += k;
    }
    return 0;
}

int tq_name_check(const char *what, const char *name, tq_perr *e)
{
    return check_name(what, name, e);
}

/* A name that goes into a Redis key around a hash tag ("P:{Q}:p0"): a
 * brace in the namespace or the queue would move or split the tag, and a
 * queue's keys would no longer share a slot under Redis Cluster. */
static int check_untagged(const char *what, const char *name, tq_perr *e)
{
    char q[TQ_QUOTE_SIZE];
    size_t brace;
    int rc;

    if ((rc = check_name(what, name, e)) != 0)
        return rc;
    brace = strcspn(name, "{}");
    if (name[brace]) {
        tq_perr_set(e, "%s name '%s' has '%c' at offset %zu (braces are "
                    "reserved for the Redis Cluster hash tag)", what,
                    tq_quote(q, sizeof q, name, strlen(name)), name[brace], brace);
        return TQ_EINVAL;
    }
    return 0;
}

int tq_queue_check(const char *name, tq_perr *e)
{
    return check_untagged("queue", name, e);
}

int tq_keyed_check(const char *what, const char *name, tq_perr *e)
{
    char q[TQ_QUOTE_SIZE];
    const char *colon;
    int rc;

    if ((rc = check_name(what, name, e)) != 0)
        return rc;
    colon = strchr(name, ':');
    if (colon && (colon == name || !colon[1])) {
        tq_perr_set(e, "%s '%s': NAME:KEY needs a NAME and a KEY", what,
                    tq_quote(q, sizeof q, name, strlen(name)));
        return TQ_EINVAL;
    }
    return 0;
}

int tq_ns_check(const char *ns, tq_perr *e)
{
    return check_untagged("namespace", ns, e);
}
