/* proto_private.h -- libtq's own helpers from proto/: not in the public API.
 *
 * The files of proto/ share the message helpers below; the rest of libtq
 * (broker/, client/, worker/, the programs) uses tq_text_oneline and map.c's
 * one hash table, one hash and one monotonic clock. Nothing here is exported
 * from libtq.so (TQ_HIDDEN).
 *
 * Every check in proto/ ends the same way: one line of text in a tq_perr that
 * says what is wrong and where, quoting the offending input. The input is the
 * user's (or whatever a Redis record held), so it is never copied raw: control
 * characters and bytes that are not UTF-8 are escaped and long text is cut,
 * which is what keeps every message on one line and free of terminal escapes.
 */
#ifndef TQ_PROTO_PRIVATE_H
#define TQ_PROTO_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* Internal to libtq: not exported from libtq.so. */
#define TQ_HIDDEN __attribute__((visibility("hidden")))

/* Room for a quoted piece of input inside a 256-byte message. */
#define TQ_QUOTE_SIZE 48

/* printf into e->text (nothing when e is NULL). Whatever the arguments held,
 * the result is one line: a control character becomes a space, and a UTF-8
 * sequence cut by truncation is dropped. */
TQ_HIDDEN void tq_perr_set(tq_perr *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Makes the C string text one line in place, as tq_perr_set does: control
 * characters become spaces, bytes that are not UTF-8 become '?', and a
 * sequence cut at the end is dropped. For every error text a caller
 * formats from input or a Redis reply (client errstr). */
TQ_HIDDEN void tq_text_oneline(char *text);

/* Writes the len bytes at src into dst (n bytes, NUL included) as valid
 * UTF-8: a byte that does not start a valid sequence becomes U+FFFD. With
 * fold, for a log line: runs of CR/LF become " | " (none at the ends) and
 * other control characters but TAB become '?'. What does not fit is cut at
 * a character boundary. Returns the length written. */
TQ_HIDDEN size_t tq_text_clean(char *dst, size_t n, const char *src,
                               size_t len, int fold);

/* Writes the len bytes at s into buf (size bytes, at least 8) for quoting in
 * a message: printable ASCII and valid UTF-8 as they are, '\' as "\\", control
 * characters and stray bytes as "\xNN"; text that does not fit ends in "...".
 * Returns buf. */
TQ_HIDDEN const char *tq_quote(char *buf, size_t size, const char *s,
                               size_t len);

/* Decodes the UTF-8 sequence at the start of s (len bytes available) into
 * *cp. Returns its length (1..4), or 0 when s does not start with the
 * shortest encoding of a Unicode scalar value (overlong forms, surrogates and
 * values past U+10FFFF are all refused). */
TQ_HIDDEN size_t tq_utf8_decode(const unsigned char *s, size_t len,
                                uint32_t *cp);

/* ---------------------------------------------------------------- map.c */

/* FNV-1a 64 of n bytes: the one hash of tq (tables, queue tags). */
TQ_HIDDEN uint64_t tq_hash64(const void *p, size_t n);

/* Milliseconds on CLOCK_MONOTONIC, with a fraction: the one clock tq uses
 * for timeouts and durations measured in one process. */
TQ_HIDDEN double tq_mono_ms(void);

/* A table from strings to borrowed pointers (map.c). Keys are copied;
 * values belong to the caller. */
typedef struct tq_map tq_map;
typedef struct tq_map_iter {
    size_t bucket;
    void *next;
} tq_map_iter;                      /* start with {0} */

TQ_HIDDEN tq_map *tq_map_new(void);               /* NULL on OOM */
TQ_HIDDEN void tq_map_free(tq_map *m);            /* NULL: nothing */
TQ_HIDDEN void *tq_map_get(const tq_map *m, const char *key);
/* Adds or replaces. 0, or TQ_ENOMEM (the map unchanged). */
TQ_HIDDEN int tq_map_put(tq_map *m, const char *key, void *value);
/* Removes key; returns its value (NULL if absent). */
TQ_HIDDEN void *tq_map_del(tq_map *m, const char *key);
TQ_HIDDEN size_t tq_map_count(const tq_map *m);
/* The next entry: 1 with its key and value, or 0 at the end. The entry returned
 * may be deleted before the next call. */
TQ_HIDDEN int tq_map_next(const tq_map *m, tq_map_iter *it, const char **key,
                          void **value);

#endif
