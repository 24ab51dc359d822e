/* sentinel.h -- finding the master through Redis Sentinel (SPEC §9).
 *
 * A redis+sentinel:// address names sentinels and a master, not a host.
 * Before each connection attempt the master's address is asked of each
 * sentinel in turn (SENTINEL get-master-addr-by-name), and the node found
 * there must say with ROLE that it is a master: during a failover a
 * sentinel may still name the old one. The blocking client and the link's
 * resolve hook both come here; the link follows a failover by tearing down
 * and resolving again (a lost master, a READONLY reply, or +switch-master
 * published by a sentinel: tq_sentinel_watch).
 */
#ifndef TQ_SENTINEL_H
#define TQ_SENTINEL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "broker/broker.h"

struct event_base;
struct tq_link;

/* Each step of a resolution (a connect, a reply) waits at most this long
 * in the link's resolve hook, which blocks its event loop meanwhile. */
#define TQ_SENTINEL_STEP_MS 200

/* Asks a's sentinels in turn for a->master, connects to the address named
 * (AUTH and SELECT as a says, through tq_redis_connect) and checks ROLE.
 * Returns that connection (the caller's, redisFree), and fills out when
 * not NULL with a as the data node is reached (host and port of the
 * master, no sentinels). NULL with a one-line reason in err (never a
 * password). step_ms bounds every connect and every reply. */
redisContext *tq_sentinel_connect(const tq_redis_addr *a, int step_ms,
                                  tq_redis_addr *out, char *err, size_t errlen);

/* The same, keeping only the address: the link's resolve hook. 0 or -1
 * with err. */
int tq_sentinel_resolve(const tq_redis_addr *a, int step_ms,
                        tq_redis_addr *out, char *err, size_t errlen);

/* A reply that says the node is no longer the master ("READONLY ..."). */
int tq_sentinel_is_readonly(const char *err);

/* Watches +switch-master on the sentinels (one subscriber tq_link whose
 * attempts go round the sentinels): when a sentinel announces that a's
 * master moved away from where target is connected, target fails and
 * resolves again. NULL on allocation failure. */
typedef struct tq_sentinel_watch tq_sentinel_watch;
tq_sentinel_watch *tq_sentinel_watch_new(struct event_base *base,
                                         const tq_redis_addr *a,
                                         struct tq_link *target);
void tq_sentinel_watch_start(tq_sentinel_watch *w);
void tq_sentinel_watch_stop(tq_sentinel_watch *w);
void tq_sentinel_watch_free(tq_sentinel_watch *w);

#endif
