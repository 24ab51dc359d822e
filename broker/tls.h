/* tls.h -- rediss://: a TLS transport for hiredis 0.14, which has none.
 *
 * A bridge per connection: hiredis speaks plain RESP to one end of a local
 * socket pair, and a libevent OpenSSL bufferevent on the other end carries
 * the bytes to Redis over TLS, copying both ways on one event_base. The
 * server's certificate is verified against ?ca= (or the system's store)
 * with the host's name (or ?sni=) checked, unless ?verify=0; ?cert=&key=
 * give a client certificate. No crypto here: OpenSSL does all of it.
 *
 * Two ways in:
 *  - tq_tls_async_connect (the link layer): a redisAsyncContext on the
 *    caller's event_base, whose bridge runs on that same base;
 *  - tq_tls_connect (the blocking client, tq_redis_connect): the handshake
 *    is done before it returns, then a small thread of the bridge's own
 *    pumps the bytes until hiredis closes its end (redisFree).
 * A failure (a certificate refused, the server gone) is one line that
 * names the reason OpenSSL gives, never a password.
 */
#ifndef TQ_TLS_H
#define TQ_TLS_H

#include <stddef.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "broker/broker.h"

struct event_base;

typedef struct tq_tls tq_tls;

/* The TLS side failed or closed: reason is one line ("certificate verify
 * failed: certificate has expired"). Called at most once, from an event of
 * the bridge's base, before hiredis sees its end close. */
typedef void tq_tls_fail_fn(tq_tls *t, const char *reason, void *ud);

/* A hiredis async context whose bytes go to a->host:a->port over TLS,
 * through a bridge on base. The context is not attached to any loop yet
 * (the caller attaches it, as for redisAsyncConnect); *out receives the
 * bridge, which the caller frees with tq_tls_free after the context.
 * NULL with a one-line reason in err (a file of ?ca= ?cert= ?key= that
 * cannot be read, no socket). */
redisAsyncContext *tq_tls_async_connect(struct event_base *base,
                                        const tq_redis_addr *a,
                                        tq_tls_fail_fn *fn, void *ud,
                                        tq_tls **out, char *err,
                                        size_t errlen);
void tq_tls_free(tq_tls *t);

/* A blocking context to a->host:a->port over TLS, the handshake done
 * within timeout_ms. *out receives a reference to the bridge so the
 * caller can ask tq_tls_reason why the connection closed (a server that
 * wants a client certificate says so after the handshake); drop it with
 * tq_tls_release. NULL with a one-line reason in err. */
redisContext *tq_tls_connect(const tq_redis_addr *a, int timeout_ms,
                             tq_tls **out, char *err, size_t errlen);
/* Copies the reason the TLS side ended into buf ("" while it is up). */
void tq_tls_reason(tq_tls *t, char *buf, size_t n);
void tq_tls_release(tq_tls *t);

/* A reason of these functions that no retry will cure (a certificate
 * refused either way, a ?ca= ?cert= ?key= file that cannot be used): the
 * worker's start-up check exits 6 on it instead of waiting for Redis. */
int tq_tls_permanent(const char *reason);

#endif
