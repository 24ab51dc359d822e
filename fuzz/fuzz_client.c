/* fuzz_client.c -- the replies the blocking client decodes: locate, the job
 * record (HGETALL), waitprep, the wait connection's SUBSCRIBE confirmations
 * and done messages, cancel, and a group's status (client/status.c,
 * client/wait.c, client/request.c, client/group.c).
 *
 * The client is the real one (tq_client_new); the input plays Redis. Its
 * command connection is one end of a socketpair whose other end already
 * holds the input's RESP bytes and is then shut for writing: the client
 * writes its commands as always and reads the input back as the answers, up
 * to EOF (a dropped connection). tq_wait's second connection, made by the
 * client itself, reaches a unix socket where a thread of this harness
 * answers with the rest of the input. Nothing is copied from the client.
 *
 * Input: a selector byte (the call; how many ids), two bytes of length,
 * that many bytes for the command connection, the rest for the wait
 * connection. Checked beyond "no crash, no leak": the client's error text
 * is one line, and a call returns a documented code.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/client_private.h"
#include "fuzz/fuzz.h"

static char sock_path[108];
static char url[128];
static int listen_fd = -1;

/* What the wait connection answers, handed to the server thread. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t sub_buf[1 << 16];
static size_t sub_len;

/* Accepts each connection, writes the current sub_buf, shuts writing and
 * reads until the client closes. */
static void *server(void *arg)
{
    char sink[4096];
    int fd;

    for (;;) {
        if ((fd = accept(listen_fd, NULL, NULL)) < 0)
            continue;
        pthread_mutex_lock(&mu);
        if (sub_len && send(fd, sub_buf, sub_len, MSG_NOSIGNAL) < 0)
            (void)0;
        pthread_mutex_unlock(&mu);
        shutdown(fd, SHUT_WR);
        while (read(fd, sink, sizeof sink) > 0)
            ;
        close(fd);
    }
    return arg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    pthread_t th;

    snprintf(sock_path, sizeof sock_path, "/tmp/tq-fuzz-client-%ld.sock",
             (long)getpid());
    snprintf(url, sizeof url, "unix://%s", sock_path);
    unlink(sock_path);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(listen_fd, 16) != 0 || pthread_create(&th, NULL, server, NULL) != 0)
        abort();
    pthread_detach(th);
    return 0;
}

static void check_rc(tq_client *c, int rc)
{
    if (rc > 0 || rc < TQ_EPROTO) /* 0 or one of the TQ_E* codes */
        abort();
    if (rc && !*tq_client_errstr(c))
        abort();
    fz_check_line(tq_client_errstr(c), 512);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ids[] = {"01jb0000000000000000000001",
                                      "01jb0000000000000000000002",
                                      "01jb0000000000000000000001"};
    fz_in in = {data, size};
    unsigned sel = fz_byte(&in);
    size_t len = fz_byte(&in) | (size_t)fz_byte(&in) << 8;
    int sv[2], rc = 0, sndbuf = 1 << 20;
    tq_client *c;

    if (len > in.n)
        len = in.n;
    if (in.n - len > sizeof sub_buf)
        return 0;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (len && write(sv[1], in.p, len) != (ssize_t)len)
        abort();
    shutdown(sv[1], SHUT_WR);
    pthread_mutex_lock(&mu);
    memcpy(sub_buf, in.p + len, in.n - len);
    sub_len = in.n - len;
    pthread_mutex_unlock(&mu);

    c = tq_client_new(url, "tq"); /* connects to the server thread: replaced */
    if (!c)
        abort();
    if (c->rc)
        redisFree(c->rc);
    c->rc = redisConnectFd(sv[0]);
    if (!c->rc || c->rc->err)
        abort();
    c->scripts_loaded = (sel & 0x80) != 0;

    switch (sel % 5) {
    case 0: {
        tq_job *job = NULL;
        rc = tq_status(c, ids[(sel >> 3) & 1], &job);
        if ((rc == 0) != (job != NULL))
            abort();
        tq_job_free(job);
        break;
    }
    case 1: {
        char *res = NULL;
        rc = tq_result(c, ids[0], &res);
        if (rc == 0 && !res)
            abort();
        free(res);
        break;
    }
    case 2: {
        tq_state before;
        rc = tq_cancel(c, ids[1], &before);
        break;
    }
    case 3: {
        size_t n = 1 + ((sel >> 3) % 3);
        tq_job *out[3];
        rc = tq_wait(c, ids, n, (sel & 0x40) ? 20 : 0, out);
        for (size_t i = 0; i < n; i++)
            tq_job_free(out[i]);
        break;
    }
    default: {
        tq_group_info gi;
        rc = tq_group_status(c, "01jb0000000000000000000009", &gi);
        if (rc == 0 && (gi.done > gi.total || gi.ok > gi.done))
            abort();
        break;
    }
    }
    check_rc(c, rc);
    tq_client_free(c); /* closes sv[0] */
    close(sv[1]);
    return 0;
}
