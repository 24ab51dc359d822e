/* client_private.h -- what the files of client/ share, and what the `tq`
 * program (cmd/tq/) may use of them.
 *
 * The blocking client is one hiredis connection plus the namespace's key
 * names and a small cache of per-queue keys (client.c). submit.c, status.c,
 * wait.c, group.c, admin.c and semaphore.c build their calls on the same
 * connection, error slot and pipeline helpers, so every command of `tq`
 * reports errors the same way; request.c holds what the blocking and the async client
 * (async*.c) both send and read. Nothing here is installed or public.
 */
#ifndef TQ_CLIENT_PRIVATE_H
#define TQ_CLIENT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "tq/tq.h"
#include "proto/proto.h"
#include "broker/broker.h"

/* Internal to libtq: not exported from libtq.so (the CLI links libtq.a). */
#pragma GCC visibility push(hidden)

#define TQ_CLIENT_CONNECT_MS 2000
#define TQ_CLIENT_FAILOVER_MS 10000 /* a Sentinel URL's default patience */
#define TQ_CLIENT_REPLY_MS 5000 /* a reply later than this: the connection is dead
                                   (tq_redis_connect's timeout) */
#define TQ_DURABLE_TIMEOUT_MAX 3600000 /* --durable-timeout: at most 1 h */
#define TQ_KEY_SIZE 512 /* ns (<=128) + queue (<=128) + id (<=40) + glue */

/* One queue this client has touched: its keys, and whether this client has
 * already registered it (P:qt:TAG and P:queues, once, before its first
 * submit). Each is
 * allocated on its own and never moves: callers keep pointers to entries
 * (tq_client_locate's answers) while the table grows. */
typedef struct tq_client_queue {
    tq_qkeys *keys;
    int registered;
} tq_client_queue;

struct tq_client {
    redisContext *rc;       /* NULL until connected, or after the link broke */
    tq_redis_addr addr;
    tq_nskeys nk;
    int scripts_loaded;     /* SCRIPT LOAD done on this connection */
    int64_t connect_timeout_ms; /* Sentinel: how long to keep trying */
    int readonly;           /* the last error was READONLY (Sentinel only) */
    tq_client_queue **queues; /* entries owned, stable; the array may move */
    size_t nqueues, capqueues;
    int err;
    char errstr[512];
};

/* Records err and its text as the client's last error; returns err. */
int tq_client_seterr(tq_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears the last error (every public call starts with it). */
void tq_client_clearerr(tq_client *c);

/* Starts a public call: a client whose set-up failed (bad URL or namespace)
 * keeps answering with that error; any other has its last error cleared.
 * 0 or that error. */
int tq_client_begin(tq_client *c);

/* Makes sure the connection is up, reconnecting once when a previous call
 * lost it. 0 or TQ_EREDIS (errstr set). */
int tq_client_connect(tq_client *c);

/* Records the failure of the connection (reply NULL): TQ_EREDIS with
 * "what: <hiredis's reason>", drops the connection so the next call
 * reconnects. Returns TQ_EREDIS. */
int tq_client_connfail(tq_client *c, const char *what);

/* Checks a reply: NULL (connection failure) or an error reply becomes
 * TQ_EREDIS with text naming what; else 0. Does not free r. */
int tq_client_check(tq_client *c, const redisReply *r, const char *what);

/* The keys of queue (validated by the caller), cached for the client's life:
 * the entry stays where it is until tq_client_free, whatever is added after.
 * NULL with TQ_ENOMEM set when memory runs out. */
tq_client_queue *tq_client_queue_get(tq_client *c, const char *queue);
/* The same for a name from the caller: TQ_EINVAL (errstr says why) and NULL
 * when it is not a valid queue name. */
tq_client_queue *tq_client_queue_of(tq_client *c, const char *queue);

/* A pipeline of n script calls on the client's connection, in chunks: build
 * fills cmd for call i (tq_cmd_init already done with s; build may set
 * cmd->script to run another script for this call; keys it borrows must live
 * until build is called again), reply consumes the reply of call i (borrowed;
 * never an error reply's NULL: connection failures end the run). A reply
 * callback's error is remembered while the chunk's other replies are still
 * read, so the connection stays in step. Scripts are loaded first when
 * n > 1, so EVALSHA never meets NOSCRIPT; a lone NOSCRIPT is rerun with
 * EVAL. Returns 0 or the first error. */
typedef int (tq_client_build_fn)(tq_cmd *cmd, size_t i, void *ud);
typedef int (tq_client_reply_fn)(tq_client *c, redisReply *r, size_t i, void *ud);
int tq_client_pipeline(tq_client *c, tq_script s, size_t n,
                       tq_client_build_fn *build, tq_client_reply_fn *reply,
                       void *ud);
/* As tq_client_pipeline, and after a call failed, late (its result ignored)
 * still sees each later reply of the same round trip that is not an error:
 * those calls were already sent and ran, and a submit must know which. */
int tq_client_pipeline_noting(tq_client *c, tq_script s, size_t n,
                              tq_client_build_fn *build, tq_client_reply_fn *reply,
                              tq_client_reply_fn *late, void *ud);

/* A pipeline of n plain commands: argv_of fills the argv of command i (at
 * most 16 words, borrowed until the next call), reply as above. */
typedef int (tq_client_argv_fn)(const char **argv, size_t *argvlen, size_t i,
                                void *ud);
int tq_client_pipeline_argv(tq_client *c, size_t n, tq_client_argv_fn *argv_of,
                            tq_client_reply_fn *reply, void *ud);

/* The end of a durable submit (o->durable > 0; else 0 at once): WAIT
 * o->durable o->durable_timeout_ms on the connection the submit's calls
 * went on, so it covers every write they made. 0 when that many replicas
 * confirmed, TQ_EDURABLE ("accepted by the master, not yet on N replicas
 * (M confirmed within T)") when fewer did, TQ_EREDIS when the connection
 * broke or Redis refused WAIT. The jobs exist whatever it returns. */
int tq_client_durable(tq_client *c, const tq_submit_opts *o);

/* One plain command, its reply checked (an error reply is TQ_EREDIS). The
 * caller frees *out. */
int tq_client_command(tq_client *c, int argc, const char **argv,
                      const char *what, redisReply **out);

/* One script call on the connection (connected first), its reply checked
 * as tq_client_check does; cmd is cleared either way. *out (NULL on error)
 * is the caller's. */
int tq_client_run(tq_client *c, tq_cmd *cmd, const char *what, redisReply **out);

/* tq_client_run of a script about one job (id) that answers an integer,
 * a negative one meaning the job is not there (TQ_ENOTFOUND, "no such job
 * 'ID'"); *n receives it otherwise. Any other answer is TQ_EPROTO. */
int tq_client_run_job(tq_client *c, tq_cmd *cmd, const char *what, const char *id,
                      long long *n);

/* The queue of each job (kind TQ_LOCATE_JOB) or group (TQ_LOCATE_GROUP)
 * id, found by the locate script: queues[i] NULL when there is no such id. */
#define TQ_LOCATE_JOB "j"
#define TQ_LOCATE_GROUP "g"
int tq_client_locate(tq_client *c, const char *kind, const char *const *ids,
                     size_t n, tq_client_queue **queues);
/* A call about one job: begins the call, checks id, finds its queue (*q)
 * and its record's key (jk). TQ_ENOTFOUND when no queue holds it. */
int tq_client_job_of(tq_client *c, const char *id, tq_client_queue **q,
                     char jk[TQ_KEY_SIZE]);

/* TQ_EINVAL (errstr says why) unless id is a valid id. */
int tq_client_check_id(tq_client *c, const char *id);

/* Registers the queue, once per client, before its first job: adds it to
 * the set of its tag (P:qt:TAG, what locate reads to find the queue of an id
 * ending with that tag) and to P:queues. */
int tq_client_register_queue(tq_client *c, tq_client_queue *q);

/* The next message on a subscribed connection: 1 with *r (the caller frees
 * it); 0 after recheck_ms of silence (the caller re-reads by other means, a
 * safety net for a deleted record or a silently dead link); TQ_ETIMEDOUT at
 * the deadline (monotonic ms, < 0 none); or an error. Messages already
 * buffered come back at once. */
int tq_client_sub_next(tq_client *c, redisContext *sub, int64_t deadline,
                       int64_t recheck_ms, redisReply **r);

/* Builds a record from an HGETALL reply. *out NULL (and 0) when the reply is
 * empty: no such record. TQ_EPROTO when it does not decode. */
int tq_client_record(tq_client *c, const char *id, const char *queue,
                     const redisReply *r, tq_job **out);

/* TQ_EINVAL ("no rate limit named NAME") unless the rate limit NAME of rl
 * (NAME or NAME:KEY) is set: a submit with --rate-limit checks it first
 * (ratelimit.c). Connected already. */
int tq_client_ratelimit_check(tq_client *c, const char *rl);

/* Redis's clock in ms (TIME): the clock of due times and heartbeats. */
int tq_client_redis_time(tq_client *c, int64_t *ms);

/* tq_submit_many for args already normalized by tq_args_normalize (the CLI
 * validates every line before connecting, and need not pay twice). The
 * options are checked here. */
int tq_client_submit_normalized(tq_client *c, const char *task,
                                const char *const *args, size_t n,
                                const tq_submit_opts *o,
                                char (*ids)[TQ_ID_SIZE]);

/* tq_group_submit for args already normalized. */
int tq_client_group_submit_normalized(tq_client *c, const char *task,
                                      const char *const *args, size_t n,
                                      const tq_submit_opts *o, const char *then,
                                      char gid[TQ_ID_SIZE], char fanin[TQ_ID_SIZE],
                                      char (*ids)[TQ_ID_SIZE]);

/* ---------------------------------------------------------------- request.c
 *
 * What the blocking client (submit.c, status.c) and the async one (async*.c)
 * both send and read, so that neither spells a submit's KEYS and ARGV on its
 * own. */

/* Checks submit options and the task name with messages naming the option
 * as the CLI spells it ("--priority"). 0 or TQ_EINVAL with e. */
int tq_client_opts_check(const char *task, const tq_submit_opts *o,
                         tq_perr *e);

/* Normalizes n args (NULL = null; args NULL = n nulls) into *out: n
 * malloc'd strings, freed by tq_args_free_many. max 0 = the default.
 * TQ_EINVAL with e naming the one at fault ("args 3: ..." when n > 1), or
 * TQ_ENOMEM. */
int tq_args_normalize_many(const char *const *args, size_t n, size_t max,
                           char ***out, tq_perr *e);
void tq_args_free_many(char **norm, size_t n);

/* n fresh ids of queue (tq_id_new, tagged with the queue's tag, so the
 * broker finds their queue from the id); 0 or TQ_EFAILED with e. */
int tq_ids_new(char (*ids)[TQ_ID_SIZE], size_t n, const char *queue, tq_perr *e);

/* When a job is due, as the submit scripts' due_ms argument: an absolute
 * time in ms (--at), -1 for now, or a delay (--delay) encoded as -2 - ms and
 * sent by tq_cmd_due as "+ms", which the script adds to its own clock: the
 * delay runs from the job's creation on Redis's clock, with no TIME round
 * trip and no skew. */
long long tq_due_ms(const tq_submit_opts *o);
void tq_cmd_due(tq_cmd *cmd, long long due_ms);

/* Jobs per submitn call: a few ms of Redis time at most, so a big
 * submit-many never stalls the broker for long. */
#define TQ_SUBMIT_BATCH 500

/* A submit as script calls: with o->unique one submit call per job (its
 * answer may be a live job's id); else submitn calls of TQ_SUBMIT_BATCH jobs,
 * and for a group gnew before them and gseal after (docs/design.md §4).
 * Everything it points to is borrowed and must outlive the calls; the key
 * buffers are its own, rewritten by each build, so a call must be sent (its
 * argv copied by hiredis) before the next one is built. */
typedef struct tq_submit_req {
    const char *task;
    const char *const *args;    /* n normalized args */
    size_t n;
    const tq_submit_opts *o;    /* checked by tq_client_opts_check */
    const tq_qkeys *k;
    const tq_nskeys *nk;
    char (*ids)[TQ_ID_SIZE];    /* n fresh ids; a unique match overwrites one */
    unsigned char *answered;    /* per call: 1 once it succeeded (NULL: not kept) */
    long long due_ms;           /* tq_due_ms; -1 (now) after init */
    const char *gid;            /* a group's id, or NULL: plain jobs */
    const char *then, *fanin;   /* the group's fan-in task and id, or NULL */
    char jk[TQ_KEY_SIZE], uk[TQ_KEY_SIZE];
    char gk[TQ_KEY_SIZE], gmk[TQ_KEY_SIZE];
} tq_submit_req;

/* Fills r; TQ_EINVAL with e when the unique key does not fit a key. */
int tq_submit_req_init(tq_submit_req *r, const char *task,
                       const char *const *args, size_t n,
                       const tq_submit_opts *o, const tq_qkeys *k,
                       const tq_nskeys *nk, char (*ids)[TQ_ID_SIZE],
                       tq_perr *e);
/* Makes r the creation of group gid (then: the fan-in task or NULL, whose
 * id is fanin). TQ_EINVAL with e when a key does not fit. */
int tq_submit_req_group(tq_submit_req *r, const char *gid, const char *then,
                        const char *fanin, tq_perr *e);
size_t tq_submit_req_calls(const tq_submit_req *r);
tq_script tq_submit_req_script(const tq_submit_req *r);  /* of call 0 */
/* Fills cmd (tq_cmd_init done) for call i, setting cmd->script. 0 or
 * TQ_ENOMEM (a key did not fit). */
int tq_submit_req_build(tq_submit_req *r, size_t i, tq_cmd *cmd);
/* Checks the (non-error) reply of call i; for a unique submit it writes the
 * id that Redis answered; marks call i answered. 0 or TQ_EPROTO with e. */
int tq_submit_req_reply(tq_submit_req *r, size_t i, const redisReply *reply,
                        tq_perr *e);
/* After a submit that failed: blanks (ids[i][0] = '\0') the id of every job
 * whose call was not answered (all of them when r->answered is NULL), so
 * ids holds exactly the jobs that were created. Each script call is all or
 * nothing (a script refused under OOM writes nothing), so a call that
 * failed created none of its jobs. Returns how many ids are left. */
size_t tq_submit_req_settle(tq_submit_req *r);
/* The options shared by new records, in lib.lua's new_record order. */
void tq_submit_push_opts(tq_cmd *cmd, const tq_submit_opts *o);

/* locate: KEYS P:queues; ARGV P kind id... (kind TQ_LOCATE_JOB or _GROUP).
 * Reply: per id, the queue's name or nil. Sets cmd->script. A call carries
 * ids worth at most TQ_LOCATE_BATCH: a tagged id (or one of no tq form) costs
 * 1, a plain one TQ_LOCATE_PLAIN_COST (it is probed in every queue), so a
 * call stays short in Redis whatever the form of the ids. */
#define TQ_LOCATE_BATCH 500
#define TQ_LOCATE_PLAIN_COST 50
void tq_locate_cmd(tq_cmd *cmd, const tq_nskeys *nk, const char *kind,
                   const char *const *ids, size_t n);

/* cancel: KEYS job sched stats; ARGV PD cancel_channel reason id. jk is the
 * caller's buffer for the job key (borrowed by cmd). 0 or TQ_EINVAL with e
 * (the id does not fit a key). */
int tq_cancel_req_build(tq_cmd *cmd, const tq_qkeys *k, const tq_nskeys *nk,
                        const char *id, char jk[TQ_KEY_SIZE], tq_perr *e);
/* Reads cancel's reply: the state before, TQ_ENOTFOUND ("missing") or
 * TQ_EPROTO, with e. */
int tq_cancel_req_reply(const redisReply *r, const char *id, tq_state *before,
                        tq_perr *e);

/* Decodes an HGETALL reply of job id in queue into *out (NULL, and 0, when
 * the reply is empty: no such record). TQ_EPROTO or TQ_ENOMEM with e. */
int tq_record_decode(const char *id, const char *queue, const redisReply *r,
                     tq_job **out, tq_perr *e);

/* A record made from what a done message or waitprep said, for a job whose
 * record expired before it could be read (a --result-ttl shorter than the
 * trip). Freed by tq_job_free like any other; NULL when memory ran out. */
tq_job *tq_record_minimal(const char *id, const char *queue, tq_state st);

#pragma GCC visibility pop

#endif
