/* fuzz_scalar.c -- the one-string parsers of user and Redis text: durations
 * (proto/duration.c), whole numbers, names and queue names (proto/names.c),
 * job ids (proto/id.c), states (proto/state.c) and the broker URL
 * (broker/redis.c).
 *
 * Input: one byte picks the parser, the rest (up to a NUL) is the text.
 * Beyond not crashing: a refusal is one line of printable text, and a URL's
 * message never depends on its password (see url()).
 */
#include <stdio.h>

#include "fuzz/fuzz.h"
#include "proto/proto.h"
#include "broker/broker.h"

/* Parses s, and s with its password replaced by as many 'Z's (or 'Y's):
 * the outcome and the message must be the same, so a message never
 * depends on, and so never quotes, the password (a secret must not reach a
 * terminal or a log). */
static void url(const char *s)
{
    tq_redis_addr a, a2;
    tq_perr e, e2;
    const char *at, *colon;
    int rc, rc2;

    e.text[0] = e2.text[0] = '\0';
    rc = tq_redis_url_parse_any(s, &a, &e);
    if (rc == 0) {
        if (a.port < 0 || a.port > 65535 || a.db < 0)
            abort();
        if (!memchr(a.host, 0, sizeof a.host) || !memchr(a.path, 0, sizeof a.path) ||
            !memchr(a.user, 0, sizeof a.user) || !memchr(a.pass, 0, sizeof a.pass))
            abort();
    } else {
        fz_check_line(e.text, sizeof e.text);
    }
    if (strncmp(s, "redis://", 8) || !(at = strrchr(s + 8, '@')))
        return;
    colon = memchr(s + 8, ':', (size_t)(at - (s + 8)));
    {
        char *t = strdup(s), *p, *q;
        if (!t)
            return;
        p = t + ((colon ? colon + 1 : s + 8) - s);
        q = t + (at - s);
        char z = (p < q && *p == 'Z') ? 'Y' : 'Z';
        for (; p < q; p++)
            *p = z;
        rc2 = tq_redis_url_parse_any(t, &a2, &e2);
        if (rc != rc2 || (rc && strcmp(e.text, e2.text)))
            abort();
        free(t);
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
