/* secret.c -- the Redis password from somewhere other than the URL.
 *
 * A URL on a command line shows in every process list, and one in a unit
 * file or a shell history stays there. The programs take the password from
 * a file (--redis-password-file) or the environment (TQ_REDIS_PASSWORD) and
 * put it into the URL they hand to the library, so that every transport and
 * every log line (which shows host:port, never the URL) works as before.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "proto/proto_private.h"

int tq_redis_url_with_password(const char *url, const char *pass, char **out,
                               tq_perr *e)
{
    tq_redis_addr *a;
    const char *p, *at, *colon;
    size_t ulen = 0, len;
    char *s;

    *out = NULL;
    if (!url || !*url)
        url = "redis://127.0.0.1:6379/0";
    if (!pass || !*pass) {
        snprintf(e->text, sizeof e->text, "the password is empty");
        return TQ_EINVAL;
    }
    if (strlen(pass) >= sizeof ((tq_redis_addr *)0)->pass) {
        snprintf(e->text, sizeof e->text, "the password is longer than %zu bytes",
                 sizeof ((tq_redis_addr *)0)->pass - 1);
        return TQ_EINVAL;
    }
    if (!strncmp(url, "unix://", 7)) {
        snprintf(e->text, sizeof e->text, "a unix:// URL takes no password "
                 "(the socket's permissions guard it): use redis:// for AUTH");
        return TQ_EINVAL;
    }
    if (!(p = strstr(url, "://"))) {
        snprintf(e->text, sizeof e->text, "the redis URL has no scheme (redis://...)");
        return TQ_EINVAL;
    }
    p += 3;
    /* the parser's rule: the user is up to the first ':', the password up
     * to the last '@'; "PASS@" alone is a password without a user */
    if ((at = strrchr(p, '@'))) {
        colon = memchr(p, ':', (size_t)(at - p));
        ulen = colon ? (size_t)(colon - p) : 0;
    }
    len = (size_t)(p - url) + ulen + 1 + strlen(pass) + 1 + strlen(at ? at + 1 : p) + 1;
    if (!(s = malloc(len))) {
        snprintf(e->text, sizeof e->text, "out of memory");
        return TQ_ENOMEM;
    }
    snprintf(s, len, "%.*s%.*s:%s@%s", (int)(p - url), url, (int)ulen, p, pass,
             at ? at + 1 : p);
    /* check that the URL now says what was meant */
    if (!(a = malloc(sizeof *a))) {
        free(s);
        snprintf(e->text, sizeof e->text, "out of memory");
        return TQ_ENOMEM;
    }
    int rv = tq_redis_url_parse_any(s, a, e);
    if (!rv && strcmp(a->pass, pass)) {
        snprintf(e->text, sizeof e->text, "the password has a character the "
                 "redis URL cannot carry here");
        rv = TQ_EINVAL;
    }
    memset(a, 0, sizeof *a);
    free(a);
    if (rv) {
        memset(s, 0, strlen(s));
        free(s);
        return rv;
    }
    *out = s;
    return 0;
}

int tq_password_file_read(const char *path, char *buf, size_t cap, tq_perr *e)
{
    char q[80];
    FILE *f = fopen(path, "r");
    size_t n;

    tq_quote(q, sizeof q, path, strlen(path));
    if (!f) {
        snprintf(e->text, sizeof e->text, "cannot read '%s': %s", q, strerror(errno));
        return TQ_EINVAL;
    }
    if (!fgets(buf, (int)cap, f)) {
        int err = ferror(f);
        fclose(f);
        buf[0] = '\0';
        snprintf(e->text, sizeof e->text, "'%s' %s", q,
                 err ? "cannot be read" : "is empty");
        return TQ_EINVAL;
    }
    fclose(f);
    n = strlen(buf);
    if (n == cap - 1 && buf[n - 1] != '\n') {
        memset(buf, 0, cap);
        snprintf(e->text, sizeof e->text, "'%s': the password is longer than %zu bytes",
                 q, cap - 2);
        return TQ_EINVAL;
    }
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (!n) {
        snprintf(e->text, sizeof e->text, "'%s' starts with an empty line "
                 "(the password is its first line)", q);
        return TQ_EINVAL;
    }
    return 0;
}
