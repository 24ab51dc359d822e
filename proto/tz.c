/* tz.c -- a small reentrant reader of the system's tz database (TZif files).
 *
 * A zone is its table of transitions (the 64-bit section of a version 2+
 * file; the 32-bit one of a version 1 file) and, for instants past the
 * table, the POSIX TZ rule of the file's footer ("CET-1CEST,M3.5.0,M10.5.0/3").
 * The one question asked of it is "what is the offset at instant t, and over
 * which span does that offset hold": cron.c walks a zone span by span. No
 * setenv("TZ")/tzset()/localtime(): those change process-wide state, which a
 * library must leave to its host.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cron.h"
#include "proto/proto_private.h"

#define TZ_FILE_MAX (1 << 20)
#define TZ_NAME_MAX 200

/* A POSIX rule's day: Mm.w.d (kind 'M'), Jn (1-365, no leap day) or n
 * (0-365), and the local time of day of the change (seconds, may be <0 or
 * >24h in version 3). */
typedef struct tz_day {
    char kind;            /* 'M', 'J' or 'n' */
    int m, w, d, n;
    int32_t secs;
} tz_day;

typedef struct tz_rule {
    int set;              /* a footer rule was read */
    int32_t std_off, dst_off; /* seconds east of UTC */
    int has_dst;
    tz_day start, end;    /* DST starts / ends (local time, in the offset then in force) */
} tz_rule;

struct tq_tz {
    size_t n;             /* transitions */
    int64_t *at;          /* transition instants, ascending */
    int32_t *off;         /* offset from at[i] on */
    int32_t off0;         /* before the first transition */
    tz_rule rule;
};

/* ---------------------------------------------------------------- civil time */

int64_t tq_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

/* The Unix day (in local terms) of rule day r in year y. */
static int64_t rule_day(const tz_day *r, int64_t y)
{
    int64_t jan1 = tq_days_from_civil(y, 1, 1);

    if (r->kind == 'J') /* 1..365, February 29 never counted */
        return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
    if (r->kind == 'n')
        return jan1 + r->n;
    /* Mm.w.d: day d (0 = Sunday) of week w (5 = the last) of month m */
    int64_t first = tq_days_from_civil(y, r->m, 1);
    int wd = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    int64_t day = first + ((r->d - wd + 7) % 7) + 7 * (r->w - 1);
    while (day - first >= month_days(y, r->m))
        day -= 7;
    return day;
}

/* The year of Unix time t (UTC; close enough for picking rule years). */
static int64_t year_of(int64_t t)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t y = 1970 + days / 365;
    while (tq_days_from_civil(y, 1, 1) > days)
        y--;
    while (tq_days_from_civil(y + 1, 1, 1) <= days)
        y++;
    return y;
}

/* ---------------------------------------------------------------- the POSIX rule */

static const char *parse_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q && q - p >= 4 ? q + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] as seconds; hours up to 167 (v3 rule times). */
static const char *parse_hms(const char *p, int32_t *out)
{
    int sign = 1, h = 0, m = 0, s = 0, nd = 0;

    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    while (*p >= '0' && *p <= '9' && nd < 3) {
        h = h * 10 + (*p++ - '0');
        nd++;
    }
    if (!nd || h > 167)
        return NULL;
    if (*p == ':') {
        p++;
        if (!(p[0] >= '0' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9'))
            return NULL;
        m = (p[0] - '0') * 10 + p[1] - '0';
        p += 2;
        if (*p == ':') {
            p++;
            if (!(p[0] >= '0' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9'))
                return NULL;
            s = (p[0] - '0') * 10 + p[1] - '0';
            p += 2;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *parse_int(const char *p, int lo, int hi, int *out)
{
    int v = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 4) {
        v = v * 10 + (*p++ - '0');
        nd++;
    }
    if (!nd || v < lo || v > hi)
        return NULL;
    *out = v;
    return p;
}

static const char *parse_day(const char *p, tz_day *d)
{
    memset(d, 0, sizeof *d);
    d->secs = 7200; /* 02:00 unless said */
    if (*p == 'M') {
        d->kind = 'M';
        if (!(p = parse_int(p + 1, 1, 12, &d->m)) || *p++ != '.' ||
            !(p = parse_int(p, 1, 5, &d->w)) || *p++ != '.' ||
            !(p = parse_int(p, 0, 6, &d->d)))
            return NULL;
    } else if (*p == 'J') {
        d->kind = 'J';
        if (!(p = parse_int(p + 1, 1, 365, &d->n)))
            return NULL;
    } else {
        d->kind = 'n';
        if (!(p = parse_int(p, 0, 365, &d->n)))
            return NULL;
    }
    if (*p == '/')
        p = parse_hms(p + 1, &d->secs);
    return p;
}

/* The footer: "STDoff[DST[off][,start[/time],end[/time]]]". POSIX offsets
 * count west of UTC; tz_rule's count east. 0 or -1. */
static int parse_rule(const char *s, tz_rule *r)
{
    const char *p = parse_name(s);
    int32_t off;

    memset(r, 0, sizeof *r);
    if (!p || !(p = parse_hms(p, &off)))
        return -1;
    r->std_off = -off;
    r->dst_off = r->std_off;
    r->set = 1;
    if (!*p)
        return 0;
    if (!(p = parse_name(p)))
        return -1;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = parse_hms(p, &off)))
            return -1;
        r->dst_off = -off;
    }
    if (*p != ',') /* a DST name without rules: POSIX's default, M3.2.0,M11.1.0 */
        return *p ? -1 : (r->start = (tz_day){'M', 3, 2, 0, 0, 7200},
                          r->end = (tz_day){'M', 11, 1, 0, 0, 7200}, 0);
    if (!(p = parse_day(p + 1, &r->start)) || *p++ != ',' ||
        !(p = parse_day(p, &r->end)) || *p)
        return -1;
    return 0;
}

/* The rule's two changes in year y as Unix times: DST starts (local time in
 * standard time) and ends (local time in DST). */
static void rule_changes(const tz_rule *r, int64_t y, int64_t *start, int64_t *end)
{
    *start = rule_day(&r->start, y) * 86400 + r->start.secs - r->std_off;
    *end = rule_day(&r->end, y) * 86400 + r->end.secs - r->dst_off;
}

/* The offset of the rule at t and its span. */
static int32_t rule_offset(const tz_rule *r, int64_t t, int64_t *from, int64_t *to)
{
    int64_t ch[8], y = year_of(t);
    int32_t off[8];
    size_t n = 0, i;

    if (!r->has_dst) {
        *from = INT64_MIN;
        *to = INT64_MAX;
        return r->std_off;
    }
    for (int64_t yy = y - 1; yy <= y + 1; yy++) {
        int64_t s, e;
        rule_changes(r, yy, &s, &e);
        /* in order within the year (southern zones start DST late) */
        if (s <= e) {
            ch[n] = s, off[n++] = r->dst_off;
            ch[n] = e, off[n++] = r->std_off;
        } else {
            ch[n] = e, off[n++] = r->std_off;
            ch[n] = s, off[n++] = r->dst_off;
        }
    }
    /* ch[] ascends: t's span lies between two of them (t is within y) */
    for (i = 0; i + 1 < n && ch[i + 1] <= t; i++)
        ;
    if (ch[i] > t) { /* before the first change of y-1: cannot happen for t in y */
        *from = INT64_MIN;
        *to = ch[0];
        return off[1];
    }
    *from = ch[i];
    *to = i + 1 < n ? ch[i + 1] : INT64_MAX;
    return off[i];
}

/* ---------------------------------------------------------------- TZif */

static int64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

typedef struct tzif_hdr {
    int version;
    int64_t isut, isstd, leap, time, type, chars;
} tzif_hdr;

static int read_hdr(const unsigned char *p, size_t len, tzif_hdr *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    h->version = p[4] ? p[4] - '0' : 1;
    h->isut = be(p + 20, 4);
    h->isstd = be(p + 24, 4);
    h->leap = be(p + 28, 4);
    h->time = be(p + 32, 4);
    h->type = be(p + 36, 4);
    h->chars = be(p + 40, 4);
    if (h->isut < 0 || h->isstd < 0 || h->leap < 0 || h->time < 0 ||
        h->type < 1 || h->type > 256 || h->chars < 0 || h->time > 100000)
        return -1;
    return 0;
}

static size_t block_len(const tzif_hdr *h, int tsize)
{
    return (size_t)(h->time * tsize + h->time + h->type * 6 + h->chars +
                    h->leap * (tsize + 4) + h->isstd + h->isut);
}

/* Parses a whole TZif file into tz. 0 or -1 (not a TZif file tq can read). */
static int parse_tzif(const unsigned char *buf, size_t len, tq_tz *tz)
{
    tzif_hdr h;
    const unsigned char *p = buf, *types, *idx;
    int tsize = 4;
    size_t left = len, i;

    if (read_hdr(p, left, &h) != 0 || block_len(&h, 4) > left - 44)
        return -1;
    if (h.version >= 2) { /* skip the 32-bit block: the 64-bit one follows */
        p += 44 + block_len(&h, 4);
        left = len - (size_t)(p - buf);
        if (read_hdr(p, left, &h) != 0 || block_len(&h, 8) > left - 44)
            return -1;
        tsize = 8;
    }
    p += 44;
    idx = p + h.time * tsize;
    types = idx + h.time;
    tz->n = (size_t)h.time;
    tz->at = calloc(tz->n + 1, sizeof *tz->at);
    tz->off = calloc(tz->n + 1, sizeof *tz->off);
    if (!tz->at || !tz->off)
        return TQ_ENOMEM;
    for (i = 0; i < tz->n; i++) {
        if (idx[i] >= h.type)
            return -1;
        tz->at[i] = be(p + i * (size_t)tsize, tsize);
        tz->off[i] = (int32_t)be(types + 6 * idx[i], 4);
        if (i && tz->at[i] <= tz->at[i - 1])
            return -1;
    }
    /* before the first transition: the first standard-time type (RFC 8536
     * says type 0) */
    tz->off0 = (int32_t)be(types, 4);
    if (h.version >= 2) {
        const unsigned char *f = p + block_len(&h, 8), *end = buf + len, *nl;
        if (f < end && *f == '\n' && (nl = memchr(f + 1, '\n', (size_t)(end - f - 1)))) {
            char rule[128];
            size_t rl = (size_t)(nl - f - 1);
            if (rl > 0 && rl < sizeof rule) {
                memcpy(rule, f + 1, rl);
                rule[rl] = '\0';
                if (parse_rule(rule, &tz->rule) != 0)
                    memset(&tz->rule, 0, sizeof tz->rule);
            }
        }
    }
    return 0;
}

/* A zone name as the tz database spells them: letters, digits and . _ + -
 * in parts separated by '/', no part starting with '.', not absolute. */
static int name_ok(const char *name)
{
    size_t len = strlen(name), i;

    if (len == 0 || len > TZ_NAME_MAX || name[0] == '/' || name[len - 1] == '/')
        return 0;
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-' ||
              c == '/' || c == '.'))
            return 0;
        if (c == '.' && (i == 0 || name[i - 1] == '/'))
            return 0;
        if (c == '/' && name[i + 1] == '/')
            return 0;
    }
    return 1;
}

int tq_tz_load(const char *name, tq_tz **out, tq_perr *e)
{
    char path[4096], q[TQ_QUOTE_SIZE];
    const char *dir = getenv("TZDIR");
    unsigned char *buf = NULL;
    size_t len = 0;
    FILE *f;
    tq_tz *tz;
    int rc;

    *out = NULL;
    if (!(tz = calloc(1, sizeof *tz)))
        return TQ_ENOMEM;
    if (!name || !*name || !strcmp(name, "UTC")) {
        tz->rule.set = 1; /* offset 0, no DST */
        *out = tz;
        return 0;
    }
    if (!name_ok(name)) {
        tq_perr_set(e, "unknown time zone '%s' (a name of the tz database, "
                    "e.g. Europe/Berlin)", tq_quote(q, sizeof q, name, strlen(name)));
        free(tz);
        return TQ_EINVAL;
    }
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo",
             name);
    f = fopen(path, "rb");
    if (f) {
        buf = malloc(TZ_FILE_MAX);
        if (buf)
            len = fread(buf, 1, TZ_FILE_MAX, f);
        fclose(f);
        if (!buf) {
            free(tz);
            return TQ_ENOMEM;
        }
    }
    rc = f ? parse_tzif(buf, len, tz) : -1;
    free(buf);
    if (rc != 0) {
        tq_tz_free(tz);
        if (rc == TQ_ENOMEM)
            return TQ_ENOMEM;
        tq_perr_set(e, "unknown time zone '%s' (%s %s)", name,
                    f ? "not a tz database file:" : "no such zone in", f ? path :
                    (dir && *dir ? dir : "/usr/share/zoneinfo"));
        return TQ_EINVAL;
    }
    *out = tz;
    return 0;
}

void tq_tz_free(tq_tz *tz)
{
    if (!tz)
        return;
    free(tz->at);
    free(tz->off);
    free(tz);
}

int32_t tq_tz_offset(const tq_tz *tz, int64_t t, int64_t *from, int64_t *to)
{
    size_t lo = 0, hi;
    int64_t f0, t0;

    if (!tz || (tz->n == 0 && !tz->rule.set)) {
        *from = INT64_MIN;
        *to = INT64_MAX;
        return tz ? tz->off0 : 0;
    }
    if (tz->n == 0 || t >= tz->at[tz->n - 1]) {
        int32_t off;
        if (!tz->rule.set) { /* no footer: the last type forever */
            *from = tz->n ? tz->at[tz->n - 1] : INT64_MIN;
            *to = INT64_MAX;
            return tz->n ? tz->off[tz->n - 1] : tz->off0;
        }
        off = rule_offset(&tz->rule, t, &f0, &t0);
        if (tz->n && f0 < tz->at[tz->n - 1])
            f0 = tz->at[tz->n - 1];
        *from = f0;
        *to = t0;
        return off;
    }
    if (t < tz->at[0]) {
        *from = INT64_MIN;
        *to = tz->at[0];
        return tz->off0;
    }
    hi = tz->n - 1; /* at[lo] <= t < at[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    *from = tz->at[lo];
    *to = tz->at[hi];
    return tz->off[lo];
}
