/* test_tls.c -- the TLS bridge's edges (broker/tls.c) that need no
 * certificate: files that cannot be read, a port that refuses, a port that
 * accepts and never speaks TLS, the async way's private socket (nothing
 * left in TMPDIR), and which reasons count as permanent. The handshakes
 * themselves (verify, expiry, names, client certificates) are t_tls's,
 * against a real redis-server with certificates made by openssl.
 */
#include "unit.h"

#include "redis_srv.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/tls.h"

static tq_redis_addr tls_addr(int port, const char *query)
{
    tq_redis_addr a;
    tq_perr e;
    char url[512];

    snprintf(url, sizeof url, "rediss://127.0.0.1:%d/0%s", port, query);
    assert_int_equal(tq_redis_url_parse(url, &a, &e), 0);
    return a;
}

static void test_tls_unreadable_ca_is_named_and_permanent(void **state)
{
    tq_redis_addr a = tls_addr(free_port(0, NULL), "?ca=/nonexistent/ca.pem");
    char err[300] = "";
    redisContext *c = tq_redis_connect(&a, 1000, err, sizeof err);

    assert_null(c);
    assert_one_line(err);
    assert_contains(err, "/nonexistent/ca.pem");
    assert_contains(err, "No such file");
    assert_true(tq_tls_permanent(err));
}

static void test_tls_cert_without_a_readable_key_is_refused(void **state)
{
    tq_redis_addr a = tls_addr(free_port(0, NULL),
                               "?verify=0&cert=/etc/hostname&key=/nonexistent.key");
    char err[300] = "";

    assert_null(tq_redis_connect(&a, 1000, err, sizeof err));
    assert_one_line(err);
    assert_contains(err, "/nonexistent.key");
    assert_true(tq_tls_permanent(err));
}

static void test_tls_refused_port_is_not_permanent(void **state)
{
    tq_redis_addr a = tls_addr(free_port(0, NULL), "?verify=0");
    char err[300] = "";

    assert_null(tq_redis_connect(&a, 1000, err, sizeof err));
    assert_one_line(err);
    assert_contains(err, "over TLS: Connection refused");
    assert_false(tq_tls_permanent(err)); /* Redis may come up: retried */
}

/* A port that accepts and never answers the ClientHello (a plain Redis,
 * which waits for a newline): the deadline, with a hint. */
static void test_tls_silent_port_times_out_with_a_hint(void **state)
{
    int lfd, port = free_port(1, &lfd);
    tq_redis_addr a = tls_addr(port, "?verify=0");
    char err[300] = "";

    assert_null(tq_redis_connect(&a, 200, err, sizeof err));
    assert_one_line(err);
    assert_contains(err, "no TLS handshake within 200 ms");
    assert_contains(err, "TLS port?");
    close(lfd);
}

static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* The async way listens on a path in a private directory of TMPDIR only
 * while hiredis connects: nothing is left there, and the context and the
 * bridge free cleanly before anything happened on the loop. */
static void test_tls_async_leaves_nothing_in_tmpdir(void **state)
{
    char tmp[] = "/tmp/tq-test-tls-XXXXXX", err[300] = "";
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    int lfd, port = free_port(1, &lfd);
    tq_redis_addr a = tls_addr(port, "?verify=0");
    struct event_base *base = event_base_new();
    redisAsyncContext *ac;
    tq_tls *t = NULL;

    assert_non_null(mkdtemp(tmp));
    setenv("TMPDIR", tmp, 1);
    for (int i = 0; i < 3; i++) {
        ac = tq_tls_async_connect(base, &a, NULL, NULL, &t, err, sizeof err);
        assert_non_null(ac);
        assert_non_null(t);
        assert_int_equal(ac->err, 0);
        redisAsyncFree(ac);
        tq_tls_free(t);
    }
    assert_int_equal(dir_entries(tmp), 0);
    if (saved)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    free(saved);
    rmdir(tmp);
    close(lfd);
    event_base_free(base);
}

static void test_tls_permanent_reasons(void **state)
{
    assert_true(tq_tls_permanent("x over TLS: certificate verify failed: certificate has expired"));
    assert_true(tq_tls_permanent("x over TLS: TLS error: tlsv13 alert certificate required"));
    assert_false(tq_tls_permanent("cannot reach Redis at h:1 over TLS: Connection refused"));
    assert_false(tq_tls_permanent("no TLS handshake within 200 ms (is it a TLS port?)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_unreadable_ca_is_named_and_permanent),
        cmocka_unit_test(test_tls_cert_without_a_readable_key_is_refused),
        cmocka_unit_test(test_tls_refused_port_is_not_permanent),
        cmocka_unit_test(test_tls_silent_port_times_out_with_a_hint),
        cmocka_unit_test(test_tls_async_leaves_nothing_in_tmpdir),
        cmocka_unit_test(test_tls_permanent_reasons),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
