/* fuzz_cron.c -- the schedule and rate-limit text of `tq schedule add` and
 * `tq ratelimit set`: cron expressions and @every/@daily... (proto/cron.c),
 * the next tick in UTC and in a zone with daylight saving (proto/tz.c),
 * and rates like 20/s (client/ratelimit.c).
 *
 * Input: one byte picks the parser; for cron, 8 bytes more give the instant
 * to start from; the rest (up to a NUL) is the text. Beyond not crashing: a
 * refusal is one line of printable text; a next tick is after the instant
 * it was asked from, or -1 (never); asking again from just before a cron
 * tick gives it again (the walk does not skip the tick it found), and
 * @every is the period after the instant asked.
 */
#include <stdio.h>

#include "fuzz/fuzz.h"
#include "proto/proto.h"
#include "proto/cron.h"
#include "client/admin.h"

/* A zone with both daylight-saving transitions, loaded once (NULL when the
 * machine has no tz database: UTC only then). */
static const tq_tz *zone(void)
{
    static tq_tz *tz;
    static int tried;
    tq_perr e;

    if (!tried) {
        tried = 1;
        if (tq_tz_load("Europe/Berlin", &tz, &e))
            tz = NULL;
    }
    return tz;
}

static void next_checked(const tq_cron *c, const tq_tz *tz, int64_t after)
{
    int64_t n = tq_cron_next(c, tz, after);

    if (n == -1)
        return;
    if (n <= after)
        abort();
    if (c->every_ms) { /* a fixed period from the instant asked */
        if (n != after + c->every_ms)
            abort();
        return;
    }
    if (tq_cron_next(c, tz, n - 1) != n)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    unsigned sel = fz_byte(&in);
    uint64_t t = 0;
    char *s;
    tq_perr e;
    tq_cron c;
    int64_t us;

    for (int i = 0; i < 8; i++)
        t = t << 8 | fz_byte(&in);
    if (!(s = fz_str(&in)))
        return 0;
    e.text[0] = '\0';
    if (sel % 2 == 0) {
        if (tq_cron_parse(s, &c, &e)) {
            fz_check_line(e.text, sizeof e.text);
        } else {
            /* from 1970 to 2100, to the millisecond */
            int64_t after = (int64_t)(t % 4102444800000ULL);
            next_checked(&c, NULL, after);
            if (zone())
                next_checked(&c, zone(), after);
        }
    } else {
        if (tq_ratelimit_parse(s, &us, &e))
            fz_check_line(e.text, sizeof e.text);
        else if (us <= 0)
            abort();
    }
    free(s);
    return 0;
}
