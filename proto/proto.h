/* proto.h -- the job envelope: ids, names, args, durations, the record.
 *
 * Pure code: no I/O, no Redis, no event loop. Everything that decides whether
 * input is acceptable lives here, so the CLI, the library and the worker refuse
 * the same things with the same words. Checks fill a tq_perr with one line
 * saying what is wrong and where (jansson's json_error_t, made smaller).
 */
#ifndef TQ_PROTO_H
#define TQ_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "tq/tq.h"

/* One-line description of why input was refused. */
typedef struct tq_perr {
    char text[256];
} tq_perr;

/* ---------------------------------------------------------------- ids */

/* Ids tq makes (docs/design.md §2): a ULID, 26 characters of lowercase
 * Crockford base32 (48 bits of milliseconds then 80 random bits, seeded once
 * from getrandom, so ids sort by creation and are unique across machines
 * without coordination), then, for an id made for a queue, that queue's tag:
 * 8 more characters, the top 40 bits of the FNV-1a 64 hash of its name. The
 * broker finds a job's queue from the tag; ids of the plain 26-character
 * form (made before tags) are found by a probe of every queue. */
#define TQ_ID_ULID_LEN 26
#define TQ_ID_TAG_LEN 8

/* The tag of queue (any name; NUL-terminated, 8 characters). */
void tq_id_tag(const char *queue, char tag[TQ_ID_TAG_LEN + 1]);

/* A new id, written with its NUL to out: the ULID followed by tag (from
 * tq_id_tag), or the plain 26-character form when tag is NULL. Returns 0, or
 * TQ_EFAILED if the system has no entropy to give. */
int tq_id_new(char out[TQ_ID_SIZE], const char *tag);

/* The form of an id: TQ_ID_TAGGED (34 characters: ULID + tag, the tag
 * copied to tag when it is not NULL), TQ_ID_PLAIN (the 26-character ULID of
 * older ids), or TQ_ID_OTHER (anything else, which tq never made: no job has
 * such an id, and no one need look for it). */
typedef enum tq_id_form {
    TQ_ID_OTHER,
    TQ_ID_PLAIN,
    TQ_ID_TAGGED
} tq_id_form;
tq_id_form tq_id_parse(const char *id, char tag[TQ_ID_TAG_LEN + 1]);

/* 0 when id is 1..TQ_ID_MAX chars of [A-Za-z0-9_-]; else TQ_EINVAL with e. */
int tq_id_check(const char *id, tq_perr *e);

/* ---------------------------------------------------------------- names */

/* Checks a task, queue, semaphore or unique-key name. what names it in the
 * message ("task", "queue"). Refused: empty, longer than TQ_NAME_MAX bytes,
 * control characters, and for queues '{' '}' (reserved for the hash tag).
 * Worker names (--name) are names too: tq_name_check("name", ...).
 * Returns 0 or TQ_EINVAL. */
int tq_name_check(const char *what, const char *name, tq_perr *e);
int tq_queue_check(const char *name, tq_perr *e);
/* Checks NAME or NAME:KEY (--semaphore, --rate-limit): a name as above as
 * a whole; split at the first ':', NAME is not empty and KEY is not empty.
 * Returns 0 or TQ_EINVAL. */
int tq_keyed_check(const char *what, const char *name, tq_perr *e);

/* Checks a namespace (--namespace, TQ_NAMESPACE, a worker's config file,
 * tq_client_new, tq_async_new, tq_worker_new): a name, and like a queue no
 * '{' or '}', as it prefixes every key's hash tag. 0 or TQ_EINVAL. */
int tq_ns_check(const char *ns, tq_perr *e);

/* ---------------------------------------------------------------- args */

/* Validates args (JSON text of len bytes, any JSON value; NULL = null) and
 * returns its compact encoding in *out (malloc'd, the caller frees). Refused
 * with TQ_EINVAL: invalid JSON (the message gives line and column), text over
 * max bytes. TQ_ENOMEM if allocation fails. */
int tq_args_normalize(const char *text, size_t len, size_t max, char **out,
                      tq_perr *e);

/* ---------------------------------------------------------------- durations */

/* As tq_duration_parse, with a message naming what (e.g. "--timeout"). */
int tq_duration_check(const char *what, const char *text, int64_t *ms,
                      tq_perr *e);

/* Parses a whole decimal integer in [min, max]; what names it in the message. */
int tq_int_check(const char *what, const char *text, long long min,
                 long long max, long long *out, tq_perr *e);

/* ---------------------------------------------------------------- records */

/* The submit options' defaults. A record stores only the options that
 * differ from them (broker/lua/lib.lua opt_fields), so every reader falls
 * back on them. Written here alone: broker/gen-scripts.sh copies them into
 * lib.lua's DEF_* line, so each value must stay a whole number or a product
 * of them. */
#define TQ_DEFAULT_RETRIES 3
#define TQ_DEFAULT_BACKOFF_MS 1000
#define TQ_DEFAULT_RESULT_TTL_MS (24LL * 3600 * 1000)
#define TQ_DEFAULT_MAX_LOST 3

/* Builds a record from the field/value pairs of the job hash (as HGETALL
 * returns them; values are NUL-terminated). The record's strings are copies.
 * Unknown fields are ignored; absent options take the TQ_DEFAULT_* values.
 * id and queue are the job's, from its key: records do not store them (older
 * ones did, and win); NULL requires the field. Returns TQ_EPROTO with e when
 * a required field (id, queue, state) is missing or the state is not one.
 * A number that does not parse (junk, out of range) is no error: the field
 * keeps its default (TQ_DEFAULT_* or 0) and, on success, e->text names the
 * first such field ("" when there was none), for a caller that wants to say. */
int tq_job_from_pairs(tq_job **out, const char *id, const char *queue,
                      const char *const *fields, const char *const *values,
                      size_t n, tq_perr *e);

/* The record as a JSON object, as `tq status --json` prints it: every field
 * of SPEC §3 that is set; args and result as JSON values, times as numbers,
 * durations in seconds. New reference; NULL on allocation failure. */
json_t *tq_job_to_json(const tq_job *job);

/* Formats a Unix time in seconds for the record ("%.6f"). */
void tq_time_format(double t, char buf[32]);

#endif
