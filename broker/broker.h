/* broker.h -- what speaks Redis: addresses, key names, scripts, replies.
 *
 * Only broker/ knows the key schema (docs/design.md §2) and the scripts that
 * move jobs (§4). The client and the worker build keys through tq_qkeys and
 * tq_nskeys, and run a script by filling a tq_cmd (tq_cmd_run on a blocking
 * connection, tq_link_send_script on an event loop's); they never spell a
 * key. The connections an event loop keeps up are broker/link.h's.
 */
#ifndef TQ_BROKER_H
#define TQ_BROKER_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "proto/proto.h"

/* ---------------------------------------------------------------- addresses */

#define TQ_SENTINELS_MAX 8

/* Where Redis is and how to reach it: every URL form of SPEC §9 parses
 * into this. A Sentinel URL has no host until a resolver asked one of the
 * sentinels for the master (host/port are then the master's). */
typedef struct tq_redis_addr {
    char host[256];   /* empty when unix, or a sentinel URL not resolved */
    int port;
    char path[256];   /* unix socket path, empty for TCP */
    char user[128];   /* empty: no ACL user */
    char pass[256];   /* empty: no AUTH */
    int db;
    /* rediss:// and rediss+sentinel:// */
    int tls;
    int tls_verify;             /* 1 unless ?verify=0 */
    char tls_ca[256];           /* ?ca=FILE, empty: the system's CA store */
    char tls_cert[256], tls_key[256]; /* ?cert=&key=: a client certificate */
    char tls_sni[256];          /* ?sni=NAME, empty: the host's name */
    /* redis+sentinel:// and rediss+sentinel:// */
    int nsentinels;             /* 0: not a sentinel URL */
    struct {
        char host[256];
        int port;               /* default 26379 */
    } sentinels[TQ_SENTINELS_MAX];
    char master[128];
    char sentinel_user[128], sentinel_pass[256]; /* ?sentinel_user=&sentinel_pass= */
} tq_redis_addr;

/* Parses every URL of SPEC §9:
 *   redis://[USER:PASS@]HOST[:PORT][/DB]       (also redis://:PASS@HOST)
 *   rediss://...same...[?ca=FILE&cert=FILE&key=FILE&sni=NAME&verify=0]
 *   redis+sentinel://[USER:PASS@]H:P[,H:P...]/MASTER[/DB][?sentinel_user=&sentinel_pass=]
 *   rediss+sentinel://...both sets of parameters
 *   unix:///PATH[?db=N]
 * NULL or "" = redis://127.0.0.1:6379/0. The password is everything between
 * the first ':' of the user part and the last '@' (any byte but those that
 * end it); query values are percent-decoded. TQ_EINVAL with e (one line,
 * never the password). tq_redis_url_parse_any parses every form;
 * tq_redis_url_parse is the same now that every form is reached (kept for
 * a form parsed before a transport reaches it). */
int tq_redis_url_parse_any(const char *url, tq_redis_addr *a, tq_perr *e);
int tq_redis_url_parse(const char *url, tq_redis_addr *a, tq_perr *e);

/* The address as a message may show it: host:port or unix:PATH, never a
 * password. The one formatter of addresses. */
void tq_redis_addr_text(const tq_redis_addr *a, char *buf, size_t n);

/* The set-up of a connection, whatever its transport: AUTH [user] pass when
 * there is a password, then SELECT db when db is not 0, as argv commands (a
 * password may hold any byte), each sent before anything of the caller's
 * and its reply checked. The words borrow a and s. what names the command in
 * a refusal ("AUTH", "SELECT 3"), never with the password. */
typedef struct tq_redis_setup_cmd {
    int argc;
    const char *argv[3];
    char what[24];
} tq_redis_setup_cmd;
typedef struct tq_redis_setup {
    int n;                      /* 0 .. 2 commands */
    tq_redis_setup_cmd cmd[2];
    char db[16];
} tq_redis_setup;
/* Fills s for a; returns s->n. */
int tq_redis_setup_init(tq_redis_setup *s, const tq_redis_addr *a);
/* The one wording of a refused set-up: "Redis refused WHAT: TEXT". */
void tq_redis_refused(char *buf, size_t n, const char *what, const char *text);

/* Blocking connect + AUTH + SELECT with a timeout. Returns the context, or
 * NULL with a one-line reason in err (unreachable, refused AUTH, ...). */
redisContext *tq_redis_connect(const tq_redis_addr *a, int timeout_ms,
                               char *err, size_t errlen);

/* Sets SIGPIPE to SIG_IGN when it is at its default (see <tq/worker.h>):
 * a write to a connection Redis closed (hiredis writes with write(2)), or to
 * a pipe an exec child closed, must be an error (EPIPE), not a kill. A
 * handler the program installed is left alone. */
void tq_sigpipe_ignore(void);

/* ---------------------------------------------------------------- keys */

#define TQ_NPRIO 10
#define TQ_DLQ_CAP 10000

/* The keys of one queue, built once (queue names are validated first). */
typedef struct tq_qkeys {
    char *queue;
    char *job_prefix;        /* P:{Q}:j:  (append the id) */
    char *pending[TQ_NPRIO]; /* P:{Q}:p0 .. P:{Q}:p9 */
    char *unique_prefix;     /* P:{Q}:u:  (append the unique key) */
    char *group_prefix;      /* P:{Q}:g:  (append the group id): the group hash */
    char *members_prefix;    /* P:{Q}:gm: (append the group id): member ids, in order */
    char *sched, *active, *dead, *wake, *stats;
    char *qtag;              /* P:qt:TAG: the queues of its ids' tag (not in its slot) */
} tq_qkeys;

/* Namespace-wide names. */
typedef struct tq_nskeys {
    char *ns;
    char *done_prefix;   /* P:done:  (channel) */
    char *cancel_chan;   /* P:cancel */
    char *queues;        /* P:queues */
    char *workers;       /* P:workers */
    char *worker_prefix; /* P:w:  */
    char *sem_prefix;    /* P:sem:  (h:NAME holders, w:NAME waiters, cap) */
    char *sem_cap;       /* P:sem:cap */
} tq_nskeys;

int tq_nskeys_init(tq_nskeys *k, const char *ns);   /* 0 or TQ_ENOMEM */
void tq_nskeys_clear(tq_nskeys *k);
tq_qkeys *tq_qkeys_new(const char *ns, const char *queue); /* NULL on OOM */
void tq_qkeys_free(tq_qkeys *k);

/* Joins a prefix and an id into buf (size n); returns buf, or NULL if it does
 * not fit. */
char *tq_key_join(char *buf, size_t n, const char *prefix, const char *id);

/* ---------------------------------------------------------------- scripts */

/* tq_script: one per file of broker/lua/ but the prelude lib.lua,
 * TQ_SCRIPT_<NAME> in file-name order, then TQ_SCRIPT__COUNT. Generated by
 * broker/gen-scripts.sh (build/gen/tq_script_ids.h), as the table of
 * scripts.c is: adding a script is adding a file. */
#include "tq_script_ids.h"

/* A script's file name without .lua ("?" when s is out of range), its
 * flags as its "-- flags:" line declares them ("" none), the SHA1 of its
 * source (40 hex chars) and the source as sent: the shebang line with the
 * flags, the prelude unless the script is standalone, the script. */
const char *tq_script_name(tq_script s);
const char *tq_script_flags(tq_script s);
const char *tq_script_sha(tq_script s);
const char *tq_script_source(tq_script s);

/* A growable argv for EVALSHA: "EVALSHA sha nkeys keys... args...".
 * tq_cmd_key/arg copy nothing: the strings must outlive the send. Use
 * tq_cmd_argf / tq_cmd_argn for numbers and owned text (copied into the
 * command's own arena). */
typedef struct tq_cmd {
    tq_script script;
    int argc, cap, nkeys;
    const char **argv;
    size_t *argvlen;
    char nkeys_buf[16];
    struct tq_cmd_block *block; /* arena of copies: blocks never move */
    size_t block_used, block_cap;
    int oom;               /* an allocation failed: the command must not run */
} tq_cmd;

void tq_cmd_init(tq_cmd *c, tq_script s);  /* EVALSHA sha <nkeys> */
void tq_cmd_key(tq_cmd *c, const char *key);           /* before any arg */
void tq_cmd_arg(tq_cmd *c, const char *s, size_t len); /* borrowed */
void tq_cmd_args(tq_cmd *c, const char *s);            /* borrowed, strlen */
void tq_cmd_argi(tq_cmd *c, long long v);              /* copied */
void tq_cmd_argd(tq_cmd *c, double v);                 /* copied, %.17g */
void tq_cmd_argdup(tq_cmd *c, const char *s, size_t len); /* copied */
void tq_cmd_clear(tq_cmd *c);
/* Fills the head (EVALSHA sha nkeys) as the senders here do before
 * sending: for one that sends argv itself (broker/link.c). */
void tq_cmd_head(tq_cmd *c);

/* Runs the command on a blocking connection: EVALSHA, then EVAL when Redis
 * answers NOSCRIPT. Returns the reply (caller frees with freeReplyObject) or
 * NULL when the connection failed (c->errstr) or c->oom. */
redisReply *tq_cmd_run(redisContext *rc, tq_cmd *c);

/* Appends the command to a blocking connection's pipeline (redisAppendCommandArgv)
 * as EVALSHA; read with tq_cmd_read. Returns 0 or TQ_EREDIS/TQ_ENOMEM. */
int tq_cmd_append(redisContext *rc, tq_cmd *c);
/* Reads one reply appended by tq_cmd_append. On NOSCRIPT the caller reruns with
 * tq_cmd_run (scripts get loaded by tq_scripts_load first, so this is rare). */
redisReply *tq_cmd_read(redisContext *rc);

/* Loads every script (SCRIPT LOAD) on a blocking connection. 0 or TQ_EREDIS. */
int tq_scripts_load(redisContext *rc, char *err, size_t errlen);

/* ---------------------------------------------------------------- replies */

/* Small helpers for reading script replies defensively: a reply of another
 * type or shape must never crash the caller. */
int tq_reply_is_noscript(const redisReply *r);
/* Element i of an array reply as a string (NULL if absent, nil or not text). */
const char *tq_reply_str(const redisReply *r, size_t i, size_t *len);
/* Element i as an integer (from an integer or a numeric string); 0 on success. */
int tq_reply_int(const redisReply *r, size_t i, long long *out);

/* ---------------------------------------------------------------- secrets (secret.c) */

/* url (NULL or "" = the default URL) with its password replaced by pass, or
 * given one: redis://[USER:]PASS@..., the user kept. So a password can come
 * from a file or the environment (TQ_REDIS_PASSWORD) rather than a URL that
 * shows in a process list. *out is malloc'd (the caller frees it, ideally
 * after zeroing it). TQ_EINVAL for a unix:// URL (no password there), an
 * empty or too long password, or a URL that does not parse; e never holds
 * the password. */
int tq_redis_url_with_password(const char *url, const char *pass, char **out,
                               tq_perr *e);

/* The first line of the file at path (the newline, and a '\r' before it,
 * dropped) into buf: a password file. TQ_EINVAL (e names the file, never
 * its content) when it cannot be read, is empty or the line does not fit. */
int tq_password_file_read(const char *path, char *buf, size_t cap, tq_perr *e);

#endif
