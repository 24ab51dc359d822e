/* fuzz_args.c -- args JSON as the CLI, the library and the async client take
 * it: tq_args_normalize (proto/args.c).
 *
 * Input: one byte picks the size limit, the rest is the args text. On
 * success the compact form must itself be accepted and come back unchanged
 * (normalizing is idempotent); on refusal the message is one line.
 */
#include "fuzz/fuzz.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {16, 256, 65536, (size_t)1 << 20};
    fz_in in = {data, size};
    size_t max = limits[fz_byte(&in) & 3], len;
    char *text = fz_rest(&in, &len), *out = NULL, *again = NULL;
    tq_perr e;
    int rc;

    if (!text)
        return 0;
    e.text[0] = '\0';
    rc = tq_args_normalize(text, len, max, &out, &e);
    if (rc == 0) {
        size_t olen = strlen(out);
        if (olen > max && olen > len) /* at most the input's size, or max */
            abort();
        if (tq_args_normalize(out, olen, (size_t)1 << 20, &again, &e) != 0 ||
            strcmp(out, again) != 0)
            abort();
    } else {
        fz_check_line(e.text, sizeof e.text);
    }
    free(again);
    free(out);
    free(text);
    return 0;
}
