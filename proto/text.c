/* text.c -- the one-line messages of proto/'s checks.
 *
 * A message quotes input that nobody vetted yet, so it goes through
 * tq_quote(), which escapes what a terminal or a log line must not see, and
 * tq_perr_set() makes a last pass so that truncation or a careless format
 * cannot leave a newline or half a UTF-8 character behind. tq_text_clean()
 * is the same idea for a log line or a result: valid UTF-8 out whatever
 * came in, one line when asked. All three decode with tq_utf8_decode.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto_private.h"

/* ---------------------------------------------------------------- UTF-8 */

size_t tq_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t c, min;
    size_t n, i;

    if (len == 0)
        return 0;
    c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, c &= 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, c &= 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0; /* a continuation byte, or 0xf8..0xff */
    }
    if (len < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* ---------------------------------------------------------------- quoting */

const char *tq_quote(char *buf, size_t size, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t room = size - 4; /* keeps space for "..." and the NUL */
    size_t i = 0, o = 0;

    while (i < len) {
        char piece[8];
        size_t plen, k = 1;
        uint32_t cp;

        if (u[i] >= 0x20 && u[i] < 0x7f) {
            if (u[i] == '\\')
                memcpy(piece, "\\\\", plen = 2);
            else
                piece[0] = (char)u[i], plen = 1;
        } else if (u[i] >= 0x80 && (k = tq_utf8_decode(u + i, len - i, &cp)) &&
                   cp > 0x9f) {
            memcpy(piece, u + i, plen = k); /* C1 controls fall through */
        } else {
            k = 1;
            plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", u[i]);
        }
        if (o + plen > room) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, piece, plen);
        o += plen;
        i += k;
    }
    buf[o] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- messages */

void tq_text_oneline(char *text)
{
    unsigned char *t = (unsigned char *)text;
    size_t len = strlen(text), i = 0;

    while (i < len) {
        uint32_t cp;
        size_t k = tq_utf8_decode(t + i, len - i, &cp);

        if (k == 0 && len - i < 4) { /* a sequence cut by truncation */
            t[i] = '\0';
            break;
        }
        if (k == 0) {
            t[i++] = '?';
            continue;
        }
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
            memset(t + i, ' ', k);
        i += k;
    }
}

size_t tq_text_clean(char *dst, size_t n, const char *src, size_t len,
                     int fold)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, o = 0;

    if (n == 0)
        return 0;
    while (i < len) {
        uint32_t cp;
        size_t k;

        if (fold && (s[i] == '\n' || s[i] == '\r')) {
            while (i < len && (s[i] == '\n' || s[i] == '\r'))
                i++;
            if (o > 0 && i < len) {
                if (o + 3 >= n)
                    break;
                memcpy(dst + o, " | ", 3);
                o += 3;
            }
            continue;
        }
        k = tq_utf8_decode(s + i, len - i, &cp);
        if (k == 0) {
            if (o + 3 >= n)
                break;
            memcpy(dst + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        if (o + k >= n)
            break;
        if (k == 1 && fold && (s[i] < 0x20 || s[i] == 0x7F) && s[i] != '\t')
            dst[o] = '?';
        else
            memcpy(dst + o, s + i, k);
        o += k;
        i += k;
    }
    dst[o] = '\0';
    return o;
}

void tq_perr_set(tq_perr *e, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!e)
        return;
    va_start(ap, fmt);
    n = vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(e->text, sizeof e->text, "invalid input");
        return;
    }
    tq_text_oneline(e->text);
}
