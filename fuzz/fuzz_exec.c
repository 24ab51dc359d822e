/* fuzz_exec.c -- how an exec task's output becomes its outcome
 * (worker/exec.c): stdout read through out_cb up to --max-result and
 * decoded by child_complete (JSON, else a string of cleaned UTF-8), the
 * stderr tail kept by err_read, and the exit status turned into an error.
 *
 * A real worker holds a real task (delivered by claim.c's job_from_reply,
 * handed to a handler that keeps it); exec.c's child record is set up as
 * exec_run leaves it, except that there is no process: the pipes are fed
 * by this harness in chunks, and the "child" has already exited with the
 * status the input gives. Its pid is one no process can have, so a signal
 * (the --max-result kill) reaches nothing. exec.c and claim.c are
 * #included for their static functions; none is copied.
 *
 * Input: a selector (status; chunk size), a byte for --max-result, two
 * bytes of stdout length, stdout, then stderr. Checked: an ok outcome is
 * JSON no longer than --max-result; a failure's text is one line of UTF-8.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "worker/exec.c"
#include "worker/claim.c"
#include "proto/proto_private.h"
#include "fuzz/fuzz.h"

static struct event_base *base;
static tq_task *held;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!(base = event_base_new()))
        abort();
    return 0;
}

static void hold(tq_task *t, void *ud)
{
    held = t;
}

/* The task's delivery, as the claim script returns it. */
static const char claim_reply[] =
    "*8\r\n$26\r\n01jb0000000000000000000001\r\n$4\r\ntok1\r\n:1\r\n"
    "$4\r\nhold\r\n$7\r\n{\"n\":1}\r\n:0\r\n$17\r\n1700000000.000001\r\n$0\r\n\r\n";

static void check_outcome(tq_worker *w)
{
    wk_queue *q = &w->queues[0];
    size_t i;

    for (i = 0; i < q->rp.nout; i++) {
        wk_outcome *o = &q->rp.out[i];
        if (o->out == WK_OUT_OK) {
            json_t *j = json_loadb(o->payload, o->plen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            if (!j || o->plen > w->o.max_result)
                abort();
            json_decref(j);
        } else {
            size_t k = 0;
            uint32_t cp;
            while (k < o->plen) {
                size_t n = tq_utf8_decode((const unsigned char *)o->payload + k,
                                          o->plen - k, &cp);
                if (!n || cp == '\n' || cp == '\r')
                    abort();
                k += n;
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t maxes[] = {1, 16, 100, 4096, 65536, TQ_MAX_RESULT_DEFAULT};
    fz_in in = {data, size};
    unsigned sel = fz_byte(&in), msel = fz_byte(&in);
    size_t olen = fz_byte(&in) | (size_t)fz_byte(&in) << 8, chunk, off;
    int opipe[2], epipe[2];
    tq_worker_opts o;
    tq_worker *w;
    redisReader *r;
    redisReply *rep;
    wk_child *c;
    char err[256];

    tq_worker_opts_init(&o);
    o.base = base;
    o.max_result = maxes[msel % 6];
    w = tq_worker_new(&o, err, sizeof err);
    if (!w || tq_worker_register(w, "hold", hold, NULL, NULL) != 0)
        abort();
    w->state = WK_RUNNING;
    held = NULL;
    r = redisReaderCreate();
    if (!r || redisReaderFeed(r, claim_reply, sizeof claim_reply - 1) != REDIS_OK ||
        !(rep = fz_reply(r)))
        abort();
    job_from_reply(w, &w->queues[0], rep, 0, 1700000001000LL);
    freeReplyObject(rep);
    redisReaderFree(r);
    if (!held)
        abort();

    if (pipe2(opipe, O_NONBLOCK) != 0 || pipe2(epipe, O_NONBLOCK) != 0)
        abort();
    c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->w = w;
    c->t = held;
    c->pid = 2000000000; /* above any pid_max: kill(-pid) finds no group */
    c->in_fd = -1;
    c->out_fd = opipe[0];
    c->err_fd = epipe[0];
    c->exited = 1;
    switch (sel & 3) {
    case 0: c->status = 0; break;                        /* exit 0 */
    case 1: c->status = (int)((sel >> 2) & 0xff) << 8;   /* exit N */
        break;
    case 2: c->status = (int)(1 + ((sel >> 2) % 31));    /* killed by a signal */
        break;
    default: c->reaped_elsewhere = 1; break;
    }
    w->ex.children = c;
    tq_task_set_data(held, c);
    chunk = 1 + ((sel >> 4) * 397);

    if (olen > in.n)
        olen = in.n;
    /* stderr first, in chunks, as err_cb reads it */
    for (off = olen; off < in.n; off += chunk) {
        size_t k = in.n - off < chunk ? in.n - off : chunk;
        if (write(epipe[1], in.p + off, k) != (ssize_t)k)
            abort();
        err_cb(c->err_fd, EV_READ, c);
    }
    close(epipe[1]);
    err_cb(c->err_fd, EV_READ, c); /* EOF: closes the read end */
    /* then stdout; a result over --max-result ends the child (and frees c) */
    for (off = 0; off < olen && w->ex.children == c && c->t; off += chunk) {
        size_t k = olen - off < chunk ? olen - off : chunk;
        if (write(opipe[1], in.p + off, k) != (ssize_t)k)
            abort();
        out_cb(c->out_fd, EV_READ, c);
    }
    close(opipe[1]);
    if (w->ex.children == c && c->out_fd >= 0)
        out_cb(c->out_fd, EV_READ, c); /* EOF: the outcome */
    if (w->ex.children)
        abort(); /* exited, both pipes at EOF: the record must be gone */
    check_outcome(w);
    tq_worker_free(w);
    return 0;
}
