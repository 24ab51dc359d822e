/* fuzz.h -- what the libFuzzer targets of fuzz/ share.
 *
 * A target gets one byte string per run. These helpers cut it into pieces
 * (a selector byte, NUL-separated strings) and turn RESP bytes into the
 * redisReply trees the worker and the clients decode: hiredis's own reader
 * builds them, as it does for a live connection, so a decoder sees exactly
 * what a (broken, hostile or corrupt) Redis could send it. Every check a
 * target makes beyond "does not crash" is an invariant of the contract the
 * parser documents (e.g. an error message is one line of printable text).
 */
#ifndef TQ_FUZZ_H
#define TQ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input, consumed from the front. */
typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

static inline unsigned fz_byte(fz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* The bytes up to the next NUL (or the end), as a malloc'd C string; the
 * NUL is consumed. Never NULL unless out of memory. */
static inline char *fz_str(fz_in *in)
{
    const uint8_t *z = memchr(in->p, 0, in->n);
    size_t len = z ? (size_t)(z - in->p) : in->n;
    char *s = malloc(len + 1);

    if (s) {
        memcpy(s, in->p, len);
        s[len] = '\0';
    }
    in->p += len + (z ? 1 : 0);
    in->n -= len + (z ? 1 : 0);
    return s;
}

/* The rest of the input as a malloc'd C string (may hold NULs). */
static inline char *fz_rest(fz_in *in, size_t *len)
{
    char *s = malloc(in->n + 1);

    if (s) {
        memcpy(s, in->p, in->n);
        s[in->n] = '\0';
    }
    *len = in->n;
    in->p += in->n;
    in->n = 0;
    return s;
}

/* The next complete reply of the RESP bytes fed to r, or NULL when they
 * hold no more (or a protocol error). The caller frees it. */
static inline redisReply *fz_reply(redisReader *r)
{
    void *rep = NULL;

    if (redisReaderGetReply(r, &rep) != REDIS_OK)
        return NULL;
    return rep;
}

/* A reader fed the rest of the input. NULL when out of memory. */
static inline redisReader *fz_reader(fz_in *in)
{
    redisReader *r = redisReaderCreate();

    if (r && redisReaderFeed(r, (const char *)in->p, in->n) != REDIS_OK) {
        redisReaderFree(r);
        return NULL;
    }
    in->p += in->n;
    in->n = 0;
    return r;
}

/* A message for a human must be one NUL-terminated line of printable text:
 * no control character may come from the input (proto_private.h). */
static inline void fz_check_line(const char *text, size_t size)
{
    size_t i;

    if (!memchr(text, 0, size))
        abort();
    for (i = 0; text[i]; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            abort();
}

/* A log line: one line, no terminal escapes; a tab may stay (the worker's
 * tq_text_clean keeps it). */
static inline void fz_check_log(const char *text)
{
    for (; *text; text++)
        if (((unsigned char)*text < 0x20 && *text != '\t') || *text == 0x7f)
            abort();
}

#endif
