/* id.c -- job ids: time-ordered, random, unique without coordination, and
 * carrying the tag of their queue.
 *
 * An id is 128 bits written as 26 characters of lowercase Crockford base32:
 * 48 bits of Unix milliseconds, then 80 random bits (the layout of a ULID).
 * Ids made later sort later, and two machines making ids in the same
 * millisecond collide with odds of 2^-80 per pair, so no one hands out ids.
 *
 * Ids made for a queue (every job, group and fan-in id since issue 10) end
 * with 8 more characters: the queue's tag, 40 bits of a hash of its name.
 * The broker maps a tag back to its queue(s) (P:qt:TAG, docs/design.md §2),
 * so finding a job's queue from its id costs one lookup, not a probe of
 * every queue. Ids of the older 26-character form are still recognised.
 *
 * The random bits come from xoshiro256**, seeded from getrandom() once per
 * thread and again whenever the process id changed: a forked child that
 * kept its parent's generator would make its parent's ids. Within one
 * millisecond a thread adds 1 to the last random part instead of drawing a
 * new one, so its ids are strictly increasing.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto_private.h"

#define ID_LEN TQ_ID_ULID_LEN
#define TS_MASK ((UINT64_C(1) << 48) - 1)
#define HI_MASK UINT64_C(0xffff) /* the top 16 of the 80 random bits */

/* Within this much of a clock step backwards, a thread keeps its last
 * timestamp rather than break the order of its ids. */
#define BACKSTEP_MS 1000

static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* One generator per thread: no lock, and no thread sees another's state. */
typedef struct id_gen {
    uint64_t s[4];   /* xoshiro256** state, never all zero */
    pid_t pid;       /* the process that seeded it; 0 = not seeded */
    uint64_t ms;     /* timestamp of the last id */
    uint64_t hi, lo; /* random part of the last id: 16 + 64 bits */
} id_gen;

static _Thread_local id_gen gen;

/* ---------------------------------------------------------------- generator */

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** 1.0 (Blackman and Vigna): fast, 256 bits of state, passes
 * BigCrush; ids need unpredictable-enough, not cryptographic, bits. */
static uint64_t next64(void)
{
    uint64_t *s = gen.s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static int seed(pid_t pid)
{
    unsigned char *p = (unsigned char *)gen.s;
    size_t got = 0;

    while (got < sizeof gen.s) {
        ssize_t n = getrandom(p + got, sizeof gen.s - got, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return TQ_EFAILED;
        }
        got += (size_t)n;
    }
    if ((gen.s[0] | gen.s[1] | gen.s[2] | gen.s[3]) == 0)
        gen.s[0] = 1;
    gen.pid = pid;
    gen.ms = 0;
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) & TS_MASK;
}

/* ---------------------------------------------------------------- ids */

/* The id alphabet's value of c, or -1 when c is not in it (lowercase only:
 * tq never made an id with a capital). */
static int crockford_value(unsigned char c)
{
    const char *p = c ? strchr(crockford, c) : NULL;
    return p ? (int)(p - crockford) : -1;
}

void tq_id_tag(const char *queue, char tag[TQ_ID_TAG_LEN + 1])
{
    uint64_t h = tq_hash64(queue, strlen(queue));
    int i;

    h >>= 64 - 5 * TQ_ID_TAG_LEN; /* the top 40 bits: they depend on every byte */
    for (i = TQ_ID_TAG_LEN - 1; i >= 0; i--) {
        tag[i] = crockford[h & 31];
        h >>= 5;
    }
    tag[TQ_ID_TAG_LEN] = '\0';
}

tq_id_form tq_id_parse(const char *id, char tag[TQ_ID_TAG_LEN + 1])
{
    size_t len = id ? strlen(id) : 0;
    size_t i;

    if (tag)
        tag[0] = '\0';
    if (len != ID_LEN && len != ID_LEN + TQ_ID_TAG_LEN)
        return TQ_ID_OTHER;
    if (id[0] < '0' || id[0] > '7') /* 130 bits of text for 128 of data */
        return TQ_ID_OTHER;
    for (i = 0; i < len; i++)
        if (crockford_value((unsigned char)id[i]) < 0)
            return TQ_ID_OTHER;
    if (len == ID_LEN)
        return TQ_ID_PLAIN;
    if (tag)
        memcpy(tag, id + ID_LEN, TQ_ID_TAG_LEN + 1);
    return TQ_ID_TAGGED;
}

int tq_id_new(char out[TQ_ID_SIZE], const char *tag)
{
    pid_t pid = getpid();
    uint64_t ms, hi, lo;
    int i;

    if (gen.pid != pid && seed(pid) != 0)
        return TQ_EFAILED;

    ms = now_ms();
    if (gen.ms != 0 && ms <= gen.ms && gen.ms - ms < BACKSTEP_MS) {
        ms = gen.ms;
        if (++gen.lo == 0 && ++gen.hi > HI_MASK) {
            /* 2^80 ids in one millisecond: borrow the next one. */
            ms = (ms + 1) & TS_MASK;
            gen.hi = next64() & HI_MASK;
            gen.lo = next64();
        }
    } else {
        gen.hi = next64() & HI_MASK;
        gen.lo = next64();
    }
    gen.ms = ms;

    /* 130 bits from the bottom up: the top character holds 3 bits. */
    hi = (ms << 16) | gen.hi;
    lo = gen.lo;
    for (i = ID_LEN - 1; i >= 0; i--) {
        out[i] = crockford[lo & 31];
        lo = (lo >> 5) | (hi << 59);
        hi >>= 5;
    }
    out[ID_LEN] = '\0';
    if (tag) {
        memcpy(out + ID_LEN, tag, TQ_ID_TAG_LEN);
        out[ID_LEN + TQ_ID_TAG_LEN] = '\0';
    }
    return 0;
}

int tq_id_check(const char *id, tq_perr *e)
{
    char q[TQ_QUOTE_SIZE], c[TQ_QUOTE_SIZE];
    size_t len, i;

    if (!id || !*id) {
        tq_perr_set(e, "id is empty");
        return TQ_EINVAL;
    }
    len = strlen(id);
    if (len > TQ_ID_MAX) {
        tq_perr_set(e, "id '%s' is %zu characters, over the limit of %d",
                    tq_quote(q, sizeof q, id, len), len, TQ_ID_MAX);
        return TQ_EINVAL;
    }
    i = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789_-");
    if (i < len) {
        uint32_t cp;
        size_t k = tq_utf8_decode((const unsigned char *)id + i, len - i, &cp);

        tq_perr_set(e, "id '%s' has '%s' at offset %zu (ids are 1 to %d of "
                    "A-Z a-z 0-9 _ -)",
                    tq_quote(q, sizeof q, id, len),
                    tq_quote(c, sizeof c, id + i, k ? k : 1), i, TQ_ID_MAX);
        return TQ_EINVAL;
    }
    return 0;
}
