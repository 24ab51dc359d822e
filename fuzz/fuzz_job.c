/* fuzz_job.c -- job records as HGETALL returns them: tq_job_from_pairs and
 * what is done with a record once read (tq_job_to_json, tq_job_json).
 *
 * Input: NUL-separated strings, taken as field, value, field, value... A
 * first byte says whether id and queue come from the key (as the clients
 * call it) or must be in the record. Whatever Redis holds, the decoder
 * returns a record or TQ_EPROTO with one line, and the record prints.
 */
#include "fuzz/fuzz.h"
#include "proto/proto.h"

#define MAXF 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = {data, size};
    unsigned mode = fz_byte(&in);
    char *f[MAXF], *v[MAXF];
    size_t n = 0, i;
    tq_job *job = NULL;
    tq_perr e;
    int rc;

    while (in.n && n < MAXF) {
        f[n] = fz_str(&in);
        v[n] = fz_str(&in);
        if (!f[n] || !v[n]) {
            free(f[n]);
            free(v[n]);
            break;
        }
        n++;
    }
    e.text[0] = '\0';
    rc = tq_job_from_pairs(&job, (mode & 1) ? "01hzzzzzzzzzzzzzzzzzzzzzzz" : NULL,
                           (mode & 2) ? "default" : NULL,
                           (const char *const *)f, (const char *const *)v, n, &e);
    if (rc == 0) {
        json_t *j = tq_job_to_json(job);
        char *s = tq_job_json(job);
        if (!job || !j || !s)
            abort();
        json_decref(j);
        free(s);
        tq_job_free(job);
    } else {
        if (rc != TQ_EPROTO && rc != TQ_ENOMEM)
            abort();
        fz_check_line(e.text, sizeof e.text);
    }
    for (i = 0; i < n; i++) {
        free(f[i]);
        free(v[i]);
    }
    return 0;
}
