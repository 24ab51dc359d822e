/* unit.h -- what every cmocka test of tq needs besides cmocka.
 *
 * cmocka.h wants <stdarg.h>, <stddef.h>, <stdint.h> and <setjmp.h> first;
 * this header includes them in that order, then cmocka, then a few asserts
 * on the one-line messages that proto/'s checks write.
 */
#ifndef TQ_TESTS_UNIT_H
#define TQ_TESTS_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* A check's message: not empty, one line, no control character. */
#define assert_one_line(text)                                           \
    do {                                                                \
        const char *t_ = (text);                                        \
        assert_true(t_[0] != '\0');                                     \
        for (; *t_; t_++)                                               \
            assert_true((unsigned char)*t_ >= 0x20 && *t_ != 0x7f);     \
    } while (0)

/* needle occurs in hay; prints both when it does not. */
#define assert_contains(hay, needle)                                    \
    do {                                                                \
        const char *h_ = (hay), *n_ = (needle);                         \
        if (!strstr(h_, n_))                                            \
            fail_msg("'%s' does not contain '%s'", h_, n_);             \
    } while (0)

#endif
