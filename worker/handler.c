/* handler.c -- what a worker runs: task names to handlers and limits, and
 * the API a handler uses on its task (tq_task_*, <tq/worker.h>).
 *
 * A handler ends its task exactly once, with tq_task_succeed or
 * tq_task_fail; both go through task.c's wk_task_complete, which refuses a
 * task already ended (a timeout or a cancel got there first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/worker_private.h"

/* ================================================================ handlers */

wk_handler *wk_handler_find(tq_worker *w, const char *name)
{
    wk_handler *h;

    for (h = w->handlers; h; h = h->next)
        if (strcmp(h->name, name) == 0)
            return h;
    return NULL;
}

wk_handler *wk_handler_get(tq_worker *w, const char *name)
{
    wk_handler *h = wk_handler_find(w, name);

    if (h)
        return h;
    h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->name = strdup(name);
    if (!h->name) {
        free(h);
        return NULL;
    }
    h->next = w->handlers;
    w->handlers = h;
    return h;
}

/* The entry of a task name given by the user: checked, made if new. NULL
 * with *rc TQ_EINVAL (w->err says why) or TQ_ENOMEM. */
static wk_handler *handler_named(tq_worker *w, const char *task, int *rc)
{
    tq_perr e;
    wk_handler *h;

    if (tq_name_check("task", task, &e) != 0) {
        snprintf(w->err, sizeof w->err, "%s", e.text);
        *rc = TQ_EINVAL;
        return NULL;
    }
    if (!(h = wk_handler_get(w, task)))
        *rc = TQ_ENOMEM;
    return h;
}

int tq_worker_register(tq_worker *w, const char *task, tq_handler_fn *fn,
                       tq_cancel_fn *cancel, void *ud)
{
    wk_handler *h;
    int rc = 0;

    if (!w || !task || !fn)
        return TQ_EINVAL;
    if (!(h = handler_named(w, task, &rc)))
        return rc;
    if (h->running > 0) {
        snprintf(w->err, sizeof w->err, "task '%s' has jobs running", task);
        return TQ_EINVAL;
    }
    wk_exec_spec_free(h->exec);
    h->exec = NULL;
    h->fn = fn;
    h->cancel = cancel;
    h->ud = ud;
    return 0;
}

int tq_worker_register_exec(tq_worker *w, const char *task,
                            const char *const *argv)
{
    if (!w || !task || !argv || !argv[0] || !argv[0][0])
        return TQ_EINVAL;
    return wk_exec_register(w, task, argv);
}

int tq_worker_limit(tq_worker *w, const char *task, int k)
{
    wk_handler *h;
    int rc = 0;

    if (!w || !task || k < 0)
        return TQ_EINVAL;
    if (!(h = handler_named(w, task, &rc)))
        return rc;
    if (h->limit == 0 && k > 0)
        w->nlimits++;
    else if (h->limit > 0 && k == 0)
        w->nlimits--;
    h->limit = k;
    return 0;
}

/* ================================================================ task API */

const char *tq_task_id(const tq_task *t) { return t->id; }
const char *tq_task_name(const tq_task *t) { return t->name; }
const char *tq_task_queue(const tq_task *t) { return t->q->k->queue; }
json_t *tq_task_args(const tq_task *t) { return t->args; }
const char *tq_task_args_text(const tq_task *t) { return t->args_text; }
int tq_task_attempt(const tq_task *t) { return t->attempt; }
const char *tq_task_token(const tq_task *t) { return t->tok; }
double tq_task_deadline(const tq_task *t) { return t->deadline; }
struct event_base *tq_task_base(const tq_task *t) { return t->w->base; }
tq_worker *tq_task_worker(const tq_task *t) { return t->w; }
void tq_task_set_data(tq_task *t, void *data) { t->data = data; }
void *tq_task_data(const tq_task *t) { return t->data; }

int tq_task_succeed(tq_task *t, json_t *result)
{
    char *s, err[96];
    size_t len;
    int rc;

    if (!t || t->done) {
        json_decref(result);
        return TQ_EINVAL;
    }
    s = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY)
               : strdup("null");
    json_decref(result);
    if (!s)
        return tq_task_fail(t, "the result could not be encoded as JSON");
    len = strlen(s);
    if (len > t->w->o.max_result) {
        free(s);
        snprintf(err, sizeof err, "result exceeds --max-result (%zu bytes)",
                 t->w->o.max_result);
        return tq_task_fail(t, err);
    }
    rc = wk_task_complete(t, WK_OUT_OK, s, len, NULL);
    free(s);
    return rc;
}

int tq_task_fail(tq_task *t, const char *error)
{
    char buf[8192];
    size_t n;

    if (!t || t->done)
        return TQ_EINVAL;
    if (!error || !*error)
        error = "failed";
    n = tq_text_clean(buf, sizeof buf, error, strlen(error), 0);
    return wk_task_complete(t, WK_OUT_FAILED, buf, n, buf);
}
