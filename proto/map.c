/* map.c -- the one hash table of tq, and the one monotonic clock.
 *
 * Every table that tq keeps by a name or an id (running jobs by id, metric
 * series by task, pub/sub channels by name) is a tq_map: string keys,
 * borrowed void * values, FNV-1a hashing, chained entries. The one idea:
 * an entry is allocated on its own and never moves, so growing the bucket
 * array (doubling at a load of 1) relinks entries without copying them,
 * and a caller may delete the entry its iterator stands on.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/proto_private.h"

typedef struct map_entry {
    struct map_entry *next;
    uint64_t hash;
    void *value;
    char key[];
} map_entry;

struct tq_map {
    map_entry **b;
    size_t nb, n;
};

uint64_t tq_hash64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = UINT64_C(14695981039346656037);

    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * UINT64_C(1099511628211);
    return h;
}

double tq_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

tq_map *tq_map_new(void)
{
    tq_map *m = calloc(1, sizeof *m);

    if (m && !(m->b = calloc(m->nb = 16, sizeof *m->b))) {
        free(m);
        return NULL;
    }
    return m;
}

void tq_map_free(tq_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nb; i++)
        while (m->b[i]) {
            map_entry *e = m->b[i];
            m->b[i] = e->next;
            free(e);
        }
    free(m->b);
    free(m);
}

static map_entry **slot(const tq_map *m, const char *key, uint64_t h)
{
    map_entry **pp = &m->b[h & (m->nb - 1)];

    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key)))
        pp = &(*pp)->next;
    return pp;
}

void *tq_map_get(const tq_map *m, const char *key)
{
    map_entry *e = *slot(m, key, tq_hash64(key, strlen(key)));

    return e ? e->value : NULL;
}

static void grow(tq_map *m)
{
    size_t nb = m->nb * 2;
    map_entry **b = calloc(nb, sizeof *b);

    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < m->nb; i++)
        while (m->b[i]) {
            map_entry *e = m->b[i];
            m->b[i] = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

int tq_map_put(tq_map *m, const char *key, void *value)
{
    size_t len = strlen(key);
    uint64_t h = tq_hash64(key, len);
    map_entry **pp = slot(m, key, h), *e;

    if (*pp) {
        (*pp)->value = value;
        return 0;
    }
    if (!(e = malloc(sizeof *e + len + 1)))
        return TQ_ENOMEM;
    e->next = NULL;
    e->hash = h;
    e->value = value;
    memcpy(e->key, key, len + 1);
    *pp = e;
    if (++m->n > m->nb)
        grow(m);
    return 0;
}

void *tq_map_del(tq_map *m, const char *key)
{
    map_entry **pp = slot(m, key, tq_hash64(key, strlen(key))), *e = *pp;
    void *v;

    if (!e)
        return NULL;
    *pp = e->next;
    v = e->value;
    free(e);
    m->n--;
    return v;
}

size_t tq_map_count(const tq_map *m)
{
    return m ? m->n : 0;
}

/* The iterator keeps the entry after the one it returned, so the caller may
 * delete what it was given; entries added meanwhile may or may not be seen,
 * and a put that grows the table ends the walk's guarantees (don't). */
int tq_map_next(const tq_map *m, tq_map_iter *it, const char **key,
                void **value)
{
    map_entry *e = it->next;

    while (!e && it->bucket < m->nb)
        e = m->b[it->bucket++];
    if (!e)
        return 0;
    it->next = e->next;
    if (key)
        *key = e->key;
    if (value)
        *value = e->value;
    return 1;
}
