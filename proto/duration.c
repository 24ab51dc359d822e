/* duration.c -- numbers people type: durations and whole numbers.
 *
 * A duration is a decimal number with an optional unit: "0.5" (seconds),
 * "250ms", "30s", "5m", "1h". It is parsed exactly, in integers, never
 * through a double: "1.5ms" is 2 ms and "0.0005" is 1 ms (halves round up),
 * whatever binary floating point would have made of them. No sign, exponent,
 * spaces, "nan" or "inf": what a person did not write as a duration is not
 * one. The ceiling is TQ_DURATION_MAX_MS (~292 years), the longest span whose
 * nanoseconds still fit an int64_t, so a caller may convert freely.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto_private.h"

#define TQ_DURATION_MAX_MS (INT64_MAX / 1000000)

/* Fraction digits kept: 10^12 * 3,600,000 (ms in an hour) fits a uint64_t.
 * Digits past the twelfth are below a nanosecond and change nothing. */
#define FRAC_DIGITS 12
#define FRAC_ONE UINT64_C(1000000000000)

#define HINT "use 500ms, 2.5s, 1m, 1h or a number of seconds"

enum { DUR_OK, DUR_SYNTAX, DUR_RANGE };

/* ---------------------------------------------------------------- parsing */

static int parse(const char *p, int64_t *ms)
{
    uint64_t whole = 0, frac = 0, unit, q, r;
    size_t nwhole = 0, nfrac = 0, kept = 0;
    int big = 0;

    for (; isdigit((unsigned char)*p); p++, nwhole++) {
        unsigned d = (unsigned)(*p - '0');

        if (whole > (UINT64_MAX - d) / 10)
            big = 1;
        else
            whole = whole * 10 + d;
    }
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++, nfrac++)
            if (kept < FRAC_DIGITS)
                frac = frac * 10 + (uint64_t)(*p - '0'), kept++;
    }
    if (nwhole == 0 && nfrac == 0)
        return DUR_SYNTAX; /* "", ".", "s", "-1", "nan" ... */
    for (; kept < FRAC_DIGITS; kept++)
        frac *= 10;

    if (*p == '\0' || strcmp(p, "s") == 0)
        unit = 1000;
    else if (strcmp(p, "ms") == 0)
        unit = 1;
    else if (strcmp(p, "m") == 0)
        unit = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        unit = 3600 * 1000;
    else
        return DUR_SYNTAX;

    if (big || whole > (uint64_t)TQ_DURATION_MAX_MS / unit)
        return DUR_RANGE;
    q = frac * unit / FRAC_ONE;
    r = frac * unit % FRAC_ONE;
    if (r >= FRAC_ONE / 2)
        q++;
    whole *= unit;
    if (whole > (uint64_t)TQ_DURATION_MAX_MS - q)
        return DUR_RANGE;
    *ms = (int64_t)(whole + q);
    return DUR_OK;
}

int tq_duration_parse(const char *text, int64_t *ms)
{
    int64_t v;

    if (!text || parse(text, &v) != DUR_OK)
        return TQ_EINVAL;
    *ms = v;
    return 0;
}

/* ---------------------------------------------------------------- checks */

int tq_duration_check(const char *what, const char *text, int64_t *ms,
                      tq_perr *e)
{
    char q[TQ_QUOTE_SIZE];
    int64_t v;
    int r;

    if (!what)
        what = "duration";
    if (!text || !*text) {
        tq_perr_set(e, "%s: empty duration (" HINT ")", what);
        return TQ_EINVAL;
    }
    tq_quote(q, sizeof q, text, strlen(text));
    r = parse(text, &v);
    if (r == DUR_OK) {
        *ms = v;
        return 0;
    }
    if (r == DUR_RANGE)
        tq_perr_set(e, "%s: '%s' is too long (at most 292 years)", what, q);
    else if (text[0] == '-' && parse(text + 1, &v) != DUR_SYNTAX)
        tq_perr_set(e, "%s: '%s' is negative", what, q);
    else
        tq_perr_set(e, "%s: '%s' is not a duration (" HINT ")", what, q);
    return TQ_EINVAL;
}

/* A whole number as a person writes it: an optional '-', then digits, and
 * nothing else (strtoll alone would take spaces, '+' and "12abc"). */
int tq_int_check(const char *what, const char *text, long long min,
                 long long max, long long *out, tq_perr *e)
{
    const char *digits = text;
    char q[TQ_QUOTE_SIZE], *end;
    long long v;

    if (!what)
        what = "number";
    if (!text || !*text) {
        tq_perr_set(e, "%s: empty, expected a whole number", what);
        return TQ_EINVAL;
    }
    tq_quote(q, sizeof q, text, strlen(text));
    if (*digits == '-')
        digits++;
    if (!isdigit((unsigned char)*digits) ||
        digits[strspn(digits, "0123456789")] != '\0') {
        tq_perr_set(e, "%s: '%s' is not a whole number", what, q);
        return TQ_EINVAL;
    }
    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno == ERANGE || v < min || v > max) {
        tq_perr_set(e, "%s: '%s' is out of range (%lld to %lld)", what, q,
                    min, max);
        return TQ_EINVAL;
    }
    *out = v;
    return 0;
}
