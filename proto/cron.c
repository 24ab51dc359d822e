/* cron.c -- cron expressions and the next tick of a schedule (SPEC §10).
 *
 * A cron expression is a set of bit masks, one per field. The next tick is
 * found in local "civil" seconds (a wall-clock time counted as if it were
 * UTC) by jumping field by field to the next match, and mapped back to real
 * instants one span of constant UTC offset at a time (tq_tz_offset): within
 * a span civil = instant + offset, so matches are exact; at a span's end the
 * clock jumps, and the daylight-saving rule of cron.h decides what a match
 * in the skipped or the repeated stretch of civil time does.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/cron.h"
#include "proto/proto_private.h"

#define SEARCH_DAYS (366 * 10)  /* a match must come within ten years */

/* ---------------------------------------------------------------- parsing */

typedef struct field_def {
    const char *name;
    int lo, hi;
    const char *const *names;   /* names for lo.., or NULL */
} field_def;

static const char *const mon_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
    "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI",
    "SAT", NULL};

static const field_def defs[6] = {
    {"second", 0, 59, NULL},
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL},
    {"month", 1, 12, mon_names},
    {"day of week", 0, 7, dow_names},   /* 7 = Sunday again */
};

/* A number or a name of field f at *p; advances *p. 0 or -1 (what it saw
 * is put in e by the caller). */
static int parse_value(const char **p, const field_def *f, int *out)
{
    const char *s = *p;
    long v = 0;
    int nd = 0;

    if (f->names && ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))) {
        for (int i = 0; f->names[i]; i++)
            if (!strncasecmp(s, f->names[i], 3) &&
                !((s[3] >= 'A' && s[3] <= 'Z') || (s[3] >= 'a' && s[3] <= 'z'))) {
                *out = f->lo + i;
                *p = s + 3;
                return 0;
            }
        return -1;
    }
    while (*s >= '0' && *s <= '9') {
        if (nd++ < 6)
            v = v * 10 + (*s - '0');
        s++;
    }
    if (!nd)
        return -1;
    *out = v > 1000000 ? 1000000 : (int)v;
    *p = s;
    return 0;
}

/* Field number pos (1-based, as the user counts) of kind f, text [s, end),
 * into the mask *m (bit n = value n). Returns 0 or TQ_EINVAL with e. */
static int parse_field(const char *s, const char *end, int pos, const field_def *f,
                       uint64_t *m, int *star, tq_perr *e)
{
    char text[64];
    size_t tl = (size_t)(end - s) < sizeof text - 1 ? (size_t)(end - s) : sizeof text - 1;

    memcpy(text, s, tl);
    text[tl] = '\0';
    *m = 0;
    *star = *s == '*';
    while (s < end) {
        const char *item = s, *p = s;
        int a, b, step = 1;

        if (*p == '*') {
            a = f->lo;
            b = f->hi == 7 ? 6 : f->hi;
            p++;
        } else {
            if (parse_value(&p, f, &a) != 0)
                goto bad;
            b = a;
            if (*p == '-') {
                p++;
                if (parse_value(&p, f, &b) != 0)
                    goto bad;
            }
            if (a < f->lo || a > f->hi || b < f->lo || b > f->hi) {
                int v = a < f->lo || a > f->hi ? a : b;
                tq_perr_set(e, "cron field %d (%s): %d is out of range %d-%d",
                            pos, f->name, v, f->lo, f->hi);
                return TQ_EINVAL;
            }
            if (b < a) {
                tq_perr_set(e, "cron field %d (%s): range %d-%d goes backwards",
                            pos, f->name, a, b);
                return TQ_EINVAL;
            }
        }
        if (*p == '/') {
            p++;
            if (parse_value(&p, &(field_def){0}, &step) != 0 || step < 1 ||
                step > f->hi) {
                tq_perr_set(e, "cron field %d (%s): the step in '%s' must be "
                            "1-%d", pos, f->name, text, f->hi);
                return TQ_EINVAL;
            }
            if (item[0] != '*' && b == a)
                b = f->hi == 7 ? 6 : f->hi; /* "5/15" = 5-max/15 */
        }
        if (p < end && *p != ',')
            goto bad;
        for (int v = a; v <= b; v += step)
            *m |= UINT64_C(1) << (f->hi == 7 && v == 7 ? 0 : v);
        s = p < end ? p + 1 : p;
        if (p < end && s == end)
            goto bad; /* a trailing comma */
    }
    if (!*m)
        goto bad;
    return 0;
bad:
    tq_perr_set(e, "cron field %d (%s): cannot read '%s' (use *, N, A-B, "
                "lists A,B and steps /N%s)", pos, f->name, text,
                f->names ? (f->names == mon_names ? ", or JAN-DEC" : ", or SUN-SAT") : "");
    return TQ_EINVAL;
}

int tq_cron_parse(const char *text, tq_cron *c, tq_perr *e)
{
    static const struct {
        const char *name, *expr;
    } macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"},
        {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
        {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    const char *f[7], *fe[7], *p;
    int n = 0, star;
    uint64_t m;
    char q[TQ_QUOTE_SIZE];

    memset(c, 0, sizeof *c);
    if (!text || !*text) {
        tq_perr_set(e, "schedule spec is empty (a cron expression, @every DUR, "
                    "@hourly, @daily, @weekly or @monthly)");
        return TQ_EINVAL;
    }
    if (text[0] == '@') {
        if (!strncmp(text, "@every", 6) && (text[6] == ' ' || text[6] == '\0')) {
            tq_perr de;
            const char *d = text + 6;
            while (*d == ' ')
                d++;
            if (tq_duration_check("@every", d, &c->every_ms, &de) != 0) {
                tq_perr_set(e, "%s", de.text);
                return TQ_EINVAL;
            }
            if (c->every_ms < 1000) {
                tq_perr_set(e, "@every: '%s' is less than 1s", d);
                return TQ_EINVAL;
            }
            return 0;
        }
        for (size_t i = 0; i < sizeof macros / sizeof *macros; i++)
            if (!strcmp(text, macros[i].name))
                return tq_cron_parse(macros[i].expr, c, e);
        tq_perr_set(e, "unknown schedule '%s' (@every DUR, @hourly, @daily, "
                    "@weekly, @monthly, @yearly)", tq_quote(q, sizeof q, text, strlen(text)));
        return TQ_EINVAL;
    }
    for (p = text; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == 6) {
            tq_perr_set(e, "cron expression '%s' has more than 6 fields",
                        tq_quote(q, sizeof q, text, strlen(text)));
            return TQ_EINVAL;
        }
        f[n] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        fe[n++] = p;
    }
    if (n != 5 && n != 6) {
        tq_perr_set(e, "cron expression '%s' has %d field%s: it takes 5 (minute "
                    "hour day-of-month month day-of-week) or 6 (seconds first)",
                    tq_quote(q, sizeof q, text, strlen(text)), n, n == 1 ? "" : "s");
        return TQ_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        int kind = n == 6 ? i : i + 1;
        if (parse_field(f[i], fe[i], i + 1, &defs[kind], &m, &star, e) != 0)
            return TQ_EINVAL;
        switch (kind) {
        case 0: c->sec = m; break;
        case 1: c->min = m; break;
        case 2: c->hour = (uint32_t)m; c->hour_star = star; break;
        case 3: c->dom = (uint32_t)m; c->dom_star = star; break;
        case 4: c->mon = (uint32_t)m; break;
        case 5: c->dow = (uint8_t)m; c->dow_star = star; break;
        }
    }
    if (n == 5)
        c->sec = 1; /* second 0 */
    return 0;
}

/* ---------------------------------------------------------------- civil time */

typedef struct civil {
    int64_t y;
    int mo, d, h, mi, s;
    int wd;                     /* 0 = Sunday */
} civil;

static int64_t fdiv(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static void civil_from(int64_t t, civil *c)
{
    int64_t days = fdiv(t, 86400), sod = t - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    c->d = (int)(doy - (153 * mp + 2) / 5 + 1);
    c->mo = (int)(mp < 10 ? mp + 3 : mp - 9);
    c->y = yoe + era * 400 + (c->mo <= 2);
    c->h = (int)(sod / 3600);
    c->mi = (int)(sod / 60 % 60);
    c->s = (int)(sod % 60);
    c->wd = (int)(((days + 4) % 7 + 7) % 7);
}

static int64_t civil_to(int64_t y, int mo, int d, int h, int mi, int s)
{
    return tq_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* The lowest set bit of m at or above v, or -1. */
static int next_bit(uint64_t m, int v)
{
    if (v > 63)
        return -1;
    m &= ~UINT64_C(0) << v;
    return m ? __builtin_ctzll(m) : -1;
}

static int day_matches(const tq_cron *c, const civil *t)
{
    int dom = (c->dom >> t->d) & 1, dow = (c->dow >> t->wd) & 1;

    if (c->dom_star || c->dow_star) /* one of them '*': both must match */
        return dom && dow;
    return dom || dow;              /* both restricted: either (cron's rule) */
}

/* The first civil second >= t (civil seconds) that c matches, or INT64_MAX
 * when none within SEARCH_DAYS. */
static int64_t civil_next(const tq_cron *c, int64_t t)
{
    int64_t limit = t + (int64_t)SEARCH_DAYS * 86400;
    civil v;
    int b;

    while (t < limit) {
        civil_from(t, &v);
        if (!((c->mon >> v.mo) & 1)) {
            t = v.mo == 12 ? civil_to(v.y + 1, 1, 1, 0, 0, 0)
                           : civil_to(v.y, v.mo + 1, 1, 0, 0, 0);
            continue;
        }
        if (!day_matches(c, &v)) {
            t = civil_to(v.y, v.mo, v.d, 0, 0, 0) + 86400;
            continue;
        }
        if ((b = next_bit(c->hour, v.h)) != v.h) {
            t = b < 0 ? civil_to(v.y, v.mo, v.d, 0, 0, 0) + 86400
                      : civil_to(v.y, v.mo, v.d, b, 0, 0);
            continue;
        }
        if ((b = next_bit(c->min, v.mi)) != v.mi) {
            t = b < 0 ? civil_to(v.y, v.mo, v.d, v.h, 0, 0) + 3600
                      : civil_to(v.y, v.mo, v.d, v.h, b, 0);
            continue;
        }
        if ((b = next_bit(c->sec, v.s)) != v.s) {
            t = b < 0 ? civil_to(v.y, v.mo, v.d, v.h, v.mi, 0) + 60
                      : civil_to(v.y, v.mo, v.d, v.h, v.mi, b);
            continue;
        }
        return t;
    }
    return INT64_MAX;
}

/* ---------------------------------------------------------------- the next tick */

/* Walks the zone's spans from the one holding instant `after` (seconds).
 * In span [from, to) with offset off, civil time runs [from+off, to+off).
 * Civil times already covered by the span before (the clock went back) are
 * skipped unless the hours follow real time; a match in a gap between the
 * spans (the clock jumped forward) fires at the jump, unless hours follow
 * real time. Returns the instant in seconds, or INT64_MAX. */
static int64_t next_in_zone(const tq_cron *c, const tq_tz *tz, int64_t after)
{
    int64_t from, to, pfrom, pto, cur = after + 1;
    int32_t off = tq_tz_offset(tz, cur, &from, &to), poff;
    int64_t seen_end = INT64_MIN;   /* civil end of the span before */
    int real = c->hour_star;

    if (from != INT64_MIN) {
        poff = tq_tz_offset(tz, from - 1, &pfrom, &pto);
        seen_end = from + poff;
        /* Asked from the last second before a jump forward: the gap lies
         * behind the span we start in, so the walk below never meets it;
         * a match in it fires at the jump, as it does there. */
        if (!real && cur == from && seen_end < from + off &&
            civil_next(c, seen_end) < from + off)
            return from;
    }
    for (int i = 0; i < 200; i++) {
        int64_t cstart = cur + off, cend = to == INT64_MAX ? INT64_MAX : to + off;
        int64_t lo = cstart, m;

        if (!real && seen_end > lo)
            lo = seen_end;                  /* repeated civil time: fired already */
        if (lo < cend) {
            m = civil_next(c, lo);
            if (m == INT64_MAX && cend == INT64_MAX)
                return INT64_MAX;
            if (m < cend)
                return m - off;
        }
        if (to == INT64_MAX)
            return INT64_MAX;
        /* the next span: a gap in civil time fires at the jump */
        int64_t nfrom, nto;
        int32_t noff = tq_tz_offset(tz, to, &nfrom, &nto);
        if (!real && to + noff > cend) {
            m = civil_next(c, cend);
            if (m < to + noff && to > after)
                return to;
        }
        seen_end = cend > seen_end ? cend : seen_end;
        cur = to;
        off = noff;
        from = nfrom;
        to = nto;
        (void)from;
    }
    return INT64_MAX;
}

int64_t tq_cron_next(const tq_cron *c, const tq_tz *tz, int64_t after_ms)
{
    int64_t after, t;

    if (c->every_ms > 0)
        return after_ms + c->every_ms;
    after = fdiv(after_ms, 1000); /* the tick after 12:00:00.500 may be 12:00:01 */
    t = next_in_zone(c, tz, after);
    if (t == INT64_MAX || t > INT64_MAX / 1000 - 1)
        return -1;
    return t * 1000;
}
