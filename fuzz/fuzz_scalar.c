/* fuzz_scalar.c -- the one-string parsers of user and Redis text: durations
 * (proto/duration.c), whole numbers, names and queue names (proto/names.c),
 * job ids (proto/id.c), states (proto/state.c) and the broker URL
 * (broker/redis.c).
 *
 * Input: one byte picks the parser, the rest (up to a NUL) is the text.
 * Beyond not crashing: a refusal is one line of printable text, and a URL
 * refused never quotes the password it held (a secret must not reach a log).
 */
#include <stdio.h>

#include "fuzz/fuzz.h"
#include "proto/proto.h"
#include "broker/broker.h"

static void url(const char *s)
{
    tq_redis_addr a;
    tq_perr e;
    const char *at, *colon;

    e.text[0] = '\0';
    if (tq_redis_url_parse(s, &a, &e) == 0) {
        if (a.port < 0 || a.port > 65535 || a.db < 0)
            abort();
        if (!memchr(a.host, 0, sizeof a.host) || !memchr(a.path, 0, sizeof a.path) ||
            !memchr(a.user, 0, sizeof a.user) || !memchr(a.pass, 0, sizeof a.pass))
            abort();
        return;
    }
    fz_check_line(e.text, sizeof e.text);
    /* redis://user:PASS@...: PASS (when it is 4+ bytes) must not be quoted */
    if (!strncmp(s, "redis://", 8) && (at = strrchr(s + 8, '@')) &&
        (colon = memchr(s + 8, ':', (size_t)(at - (s + 8)))) &&
        at - colon - 1 >= 4) {
        char pass[256];
        size_t n = (size_t)(at - colon - 1);
        if (n < sizeof pass) {
            memcpy(pass, colon + 1, n);
            pass[n] = '\0';
            char masked[600]; /* what the message may quote */
            snprintf(masked, sizeof masked, "redis://***%s", at);
            if (strstr(e.text, pass) && !strstr(masked, pass))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    unsigned sel = fz_byte(&in);
    char *s = fz_str(&in);
    tq_perr e;
    int64_t ms;
    long long v;
    int rc;

    if (!s)
        return 0;
    e.text[0] = '\0';
    switch (sel % 7) {
    case 0:
        rc = tq_duration_check("--timeout", s, &ms, &e);
        if (rc == 0 && ms < 0)
            abort();
        if ((rc == 0) != (tq_duration_parse(s, &ms) == 0))
            abort();
        break;
    case 1:
        rc = tq_int_check("--priority", s, -1000, 1000, &v, &e);
        if (rc == 0 && (v < -1000 || v > 1000))
            abort();
        break;
    case 2:
        rc = tq_name_check("task", s, &e);
        break;
    case 3:
        rc = tq_queue_check(s, &e);
        if (rc == 0 && strpbrk(s, "{}"))
            abort();
        break;
    case 4:
        rc = tq_id_check(s, &e);
        if (rc == 0 && (!*s || strlen(s) > TQ_ID_MAX))
            abort();
        break;
    case 5: {
        tq_state st = tq_state_parse(s);
        if (st != TQ_STATE_UNKNOWN && strcmp(tq_state_name(st), s))
            abort();
        rc = 0;
        break;
    }
    default:
        url(s);
        rc = 0;
        break;
    }
    if (rc != 0)
        fz_check_line(e.text, sizeof e.text);
    free(s);
    return 0;
}
