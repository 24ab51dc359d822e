/* fuzz_worker.c -- every reply the worker decodes: claim (job_from_reply),
 * lease renewal (hb_cb), the worker heartbeat and burial (beat_cb), acks,
 * reclaim, and the NOSCRIPT recovery path of each.
 *
 * A real tq_worker (tq_worker_new, two queues, a handler that holds its
 * task and one that succeeds at once) whose command connection is a real
 * hiredis async context, connected to a socket nobody answers, adopted by
 * the worker's tq_link (tq_link_adopt). The worker sends its
 * commands the way it always does (the callbacks queue in the context); the
 * input plays Redis: a program of one-byte operations, "send a claim",
 * "send a heartbeat", ..., and "answer": RESP bytes parsed by hiredis's
 * reader, each reply handed to the oldest pending callback exactly as
 * hiredis's redisProcessCallbacks does (the callbacks are the link's, which
 * hand each reply to the worker's). Whatever is left pending is answered
 * with NULL when tq_worker_free frees the link, as when a link drops.
 * claim.c and report.c are #included for their static senders; the decoders
 * are theirs, not copies.
 *
 * Checked beyond "no crash, no leak": every log line is one line (a reply's
 * text must not forge another).
 */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <fcntl.h>

#include "worker/claim.c"
#include "worker/report.c"

#include "fuzz/fuzz.h"

static struct event_base *base;
static char sock_path[108];
static int listen_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    base = event_base_new();
    snprintf(sock_path, sizeof sock_path, "/tmp/tq-fuzz-worker-%ld.sock",
             (long)getpid());
    unlink(sock_path);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (!base || listen_fd < 0 ||
        bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(listen_fd, 64) != 0)
        abort();
    return 0;
}

static void log_fn(tq_log_level lvl, const char *msg, const char *const *fields,
                   void *ud)
{
    size_t i;

    fz_check_log(msg);
    for (i = 0; fields && fields[i]; i++)
        fz_check_log(fields[i]);
}

static void hold(tq_task *t, void *ud)
{
    (void)t; (void)ud; /* runs until the heartbeat, a cancel or the free ends it */
}

static void done(tq_task *t, void *ud)
{
    tq_task_succeed(t, json_incref(tq_task_args(t)));
}

/* Hands reply to the oldest pending callback of ac (hiredis's
 * __redisShiftCallback + __redisRunCallback), then frees it. A reply with
 * no callback waiting is dropped: hiredis 0.14 asserts on it. */
static void answer(redisAsyncContext *ac, redisReply *reply)
{
    redisCallback *cb = ac->replies.head;

    if (cb) {
        ac->replies.head = cb->next;
        if (!ac->replies.head)
            ac->replies.tail = NULL;
        if (cb->fn)
            cb->fn(ac, reply, cb->privdata);
        free(cb);
    }
    freeReplyObject(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const queues[] = {"default", "low"};
    fz_in in = {data, size};
    tq_worker_opts o;
    tq_worker *w;
    redisAsyncContext *ac;
    char err[256];
    int fd, steps = 0;

    tq_worker_opts_init(&o);
    o.redis_url = "unix:///nonexistent";
    o.queues = queues;
    o.nqueues = 2;
    o.concurrency = 1 + (int)(fz_byte(&in) % 8);
    o.base = base;
    o.log = log_fn;
    o.log_level = TQ_LOG_DEBUG;
    w = tq_worker_new(&o, err, sizeof err);
    if (!w)
        abort();
    if (tq_worker_register(w, "hold", hold, NULL, NULL) != 0 ||
        tq_worker_register(w, "done", done, NULL, NULL) != 0 ||
        tq_worker_limit(w, "hold", 3) != 0)
        abort();
    ac = redisAsyncConnectUnix(sock_path);
    if (!ac || ac->err)
        abort();
    while ((fd = accept(listen_fd, NULL, NULL)) >= 0)
        close(fd); /* the peer's end: what is written is never read */
    if (tq_link_adopt(w->rd.link, WK_CONN_CMD, ac) != 0)
        abort();
    w->state = WK_RUNNING;

    while (in.n && steps++ < 64) {
        unsigned op = fz_byte(&in);
        switch (op % 8) {
        case 0:
            wk_claim_start(w);
            break;
        case 1:
            hb_tick(w);
            break;
        case 2:
            beat_tick(w);
            break;
        case 3:
            wk_acks_flush(w);
            break;
        case 4:
            reclaim_send(&w->queues[(op >> 3) & 1]);
            break;
        case 5: {
            char *id = fz_str(&in);
            if (id)
                wk_on_cancel_message(w, id);
            free(id);
            break;
        }
        default: { /* answer: RESP bytes, length in the next two bytes */
            size_t len = fz_byte(&in) | (size_t)fz_byte(&in) << 8;
            redisReader *r = redisReaderCreate();
            redisReply *rep;
            if (len > in.n)
                len = in.n;
            if (!r)
                abort();
            redisReaderFeed(r, (const char *)in.p, len);
            in.p += len;
            in.n -= len;
            while ((rep = fz_reply(r)) != NULL)
                answer(ac, rep);
            redisReaderFree(r);
            break;
        }
        }
    }
    tq_worker_free(w); /* pending callbacks get NULL, as on a dropped link */
    return 0;
}
