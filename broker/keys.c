/* keys.c -- the key schema of docs/design.md §2, spelled in one place.
 *
 * A queue's keys share the hash tag {Q} (P:{Q}:p0, P:{Q}:j:ID, ...), so under
 * Redis Cluster a queue and its job records live in one slot and a script may
 * touch them together.
 * The one per-queue key outside that slot is P:qt:TAG, which maps the tag the
 * queue's ids end with (proto/id.c) back to the queue.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"

static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

int tq_nskeys_init(tq_nskeys *k, const char *ns)
{
    memset(k, 0, sizeof *k);
    k->ns = strdup(ns);
    k->done_prefix = fmt("%s:done:", ns);
    k->cancel_chan = fmt("%s:cancel", ns);
    k->queues = fmt("%s:queues", ns);
    k->workers = fmt("%s:workers", ns);
    k->worker_prefix = fmt("%s:w:", ns);
    k->sem_prefix = fmt("%s:sem:", ns);
    k->sem_cap = fmt("%s:sem:cap", ns);
    if (!k->ns || !k->done_prefix || !k->cancel_chan ||
        !k->queues || !k->workers || !k->worker_prefix || !k->sem_prefix ||
        !k->sem_cap) {
        tq_nskeys_clear(k);
        return TQ_ENOMEM;
    }
    return 0;
}

void tq_nskeys_clear(tq_nskeys *k)
{
    if (!k)
        return;
    free(k->ns);
    free(k->done_prefix);
    free(k->cancel_chan);
    free(k->queues);
    free(k->workers);
    free(k->worker_prefix);
    free(k->sem_prefix);
    free(k->sem_cap);
    memset(k, 0, sizeof *k);
}

tq_qkeys *tq_qkeys_new(const char *ns, const char *queue)
{
    char tag[TQ_ID_TAG_LEN + 1];
    tq_qkeys *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    tq_id_tag(queue, tag);
    k->qtag = fmt("%s:qt:%s", ns, tag);
    k->queue = strdup(queue);
    k->job_prefix = fmt("%s:{%s}:j:", ns, queue);
    k->unique_prefix = fmt("%s:{%s}:u:", ns, queue);
    k->group_prefix = fmt("%s:{%s}:g:", ns, queue);
    k->members_prefix = fmt("%s:{%s}:gm:", ns, queue);
    k->sched = fmt("%s:{%s}:sched", ns, queue);
    k->active = fmt("%s:{%s}:active", ns, queue);
    k->dead = fmt("%s:{%s}:dead", ns, queue);
    k->wake = fmt("%s:{%s}:wake", ns, queue);
    k->stats = fmt("%s:{%s}:stats", ns, queue);
    int ok = k->queue && k->qtag && k->job_prefix && k->unique_prefix && k->group_prefix &&
             k->members_prefix && k->sched && k->active && k->dead && k->wake && k->stats;
    for (int p = 0; p < TQ_NPRIO; p++) {
        k->pending[p] = fmt("%s:{%s}:p%d", ns, queue, p);
        ok = ok && k->pending[p];
    }
    if (!ok) {
        tq_qkeys_free(k);
        return NULL;
    }
    return k;
}

void tq_qkeys_free(tq_qkeys *k)
{
    if (!k)
        return;
    free(k->queue);
    free(k->job_prefix);
    free(k->unique_prefix);
    free(k->group_prefix);
    free(k->members_prefix);
    for (int p = 0; p < TQ_NPRIO; p++)
        free(k->pending[p]);
    free(k->sched);
    free(k->active);
    free(k->dead);
    free(k->wake);
    free(k->stats);
    free(k->qtag);
    free(k);
}

char *tq_key_join(char *buf, size_t n, const char *prefix, const char *id)
{
    int len = snprintf(buf, n, "%s%s", prefix, id);
    if (len < 0 || (size_t)len >= n)
        return NULL;
    return buf;
}
