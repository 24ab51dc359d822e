/* redis_srv.h -- a throwaway redis-server for the unit tests that need a
 * real one (test_link.c, test_async.c): started on a free port in a temp
 * dir, with extra config lines, and killed by pid (SIGKILL, after SIGCONT
 * for a paused one) in the teardown even when an assertion ended the test
 * early. Include after unit.h; one server per running test.
 */
#ifndef TQ_TESTS_REDIS_SRV_H
#define TQ_TESTS_REDIS_SRV_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

typedef struct srv {
    pid_t pid;
    int port;
    char dir[64];
} srv;

static inline int free_port(int listen_too, int *fd_out)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    if (listen_too) {
        assert_int_equal(listen(fd, 16), 0);
        *fd_out = fd;
    } else {
        close(fd);
    }
    return ntohs(sa.sin_port);
}

static inline redisContext *srv_ctx(const srv *s)
{
    redisContext *c = redisConnect("127.0.0.1", s->port);

    assert_non_null(c);
    return c;
}

/* The server of the running test, stopped by the teardown even when an
 * assertion ended the test early. */
static srv *current;

static inline void srv_stop(srv *s);

static inline int srv_teardown(void **state)
{
    if (current)
        srv_stop(current);
    current = NULL;
    return 0;
}

/* A redis-server of our own, with extra config lines (requirepass, ACL). */
static inline void srv_start(srv *s, const char *extra)
{
    char conf[128], port[16];
    FILE *f;

    snprintf(s->dir, sizeof s->dir, "/tmp/tq-unit-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    s->port = free_port(0, NULL);
    snprintf(conf, sizeof conf, "%s/redis.conf", s->dir);
    assert_non_null(f = fopen(conf, "w"));
    fprintf(f, "port %d\nbind 127.0.0.1\ndir %s\nsave \"\"\nappendonly no\n"
               "databases 16\n%s\n", s->port, s->dir, extra ? extra : "");
    fclose(f);
    snprintf(port, sizeof port, "%d", s->port);
    current = s;
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        redisContext *c = redisConnect("127.0.0.1", s->port);
        int ok = c && !c->err;
        redisFree(c);
        if (ok)
            return;
        usleep(50 * 1000);
    }
    fail_msg("redis-server did not start on port %d", s->port);
}

static inline void srv_stop(srv *s)
{
    char cmd[128];

    if (s->pid > 0) {
        kill(s->pid, SIGCONT);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", s->dir);
    if (s->dir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", s->dir);
    s->dir[0] = '\0';
    if (current == s)
        current = NULL;
}

#endif
