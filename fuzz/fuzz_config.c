/* fuzz_config.c -- tq-worker --config FILE: cmd/tq-worker/main.c's JSON config
 * loader and everything the program does with the settings before it
 * reaches Redis (merge, tq_worker_new, exec tasks, limits, --metrics).
 *
 * The program's own main() runs, #included here under another name, on
 * `tq-worker --config /proc/self/fd/N` with the input as the file. Three
 * things are redirected, nothing else: exit() returns here (longjmp), the
 * call to tq_worker_start stops the run there (what follows is the loop,
 * which needs Redis), and main.c's own allocations (and the JSON tree it
 * loads) are tracked so what a die() leaves behind (the program is exiting)
 * is freed before the next input.
 * stderr is captured: a refusal must be exit 2 with exactly one line,
 * "tq-worker: ...", free of control characters (the README's contract).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <event2/event.h>
#include <jansson.h>

#include "tq/tq.h"
#include "tq/worker.h"
#include "fuzz/fuzz.h"

/* ---------------------------------------------------------------- tracked allocations */

typedef struct fz_blk {
    struct fz_blk *prev, *next;
    size_t size;
    max_align_t data[];
} fz_blk;

static fz_blk *blocks;

static void *fz_malloc(size_t n)
{
    fz_blk *b = malloc(sizeof *b + n);

    if (!b)
        return NULL;
    b->size = n;
    b->prev = NULL;
    b->next = blocks;
    if (blocks)
        blocks->prev = b;
    blocks = b;
    return b->data;
}

static void fz_free(void *p)
{
    fz_blk *b;

    if (!p)
        return;
    b = (fz_blk *)((char *)p - offsetof(fz_blk, data));
    if (b->prev)
        b->prev->next = b->next;
    else
        blocks = b->next;
    if (b->next)
        b->next->prev = b->prev;
    free(b);
}

static void *fz_realloc(void *p, size_t n)
{
    fz_blk *b;
    void *q;

    if (!p)
        return fz_malloc(n);
    b = (fz_blk *)((char *)p - offsetof(fz_blk, data));
    if (!(q = fz_malloc(n)))
        return NULL;
    memcpy(q, p, b->size < n ? b->size : n);
    fz_free(p);
    return q;
}

static char *fz_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = fz_malloc(len + 1);

    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static char *fz_strdup(const char *s)
{
    return fz_strndup(s, (size_t)-1);
}

static void fz_free_all(void)
{
    while (blocks)
        fz_free(blocks->data);
}

/* ---------------------------------------------------------------- the program's exits */

static jmp_buf jb;
static int exit_code;
static tq_worker *worker;

static void fz_exit(int code) __attribute__((noreturn));
static void fz_exit(int code)
{
    exit_code = code;
    longjmp(jb, 1);
}

static tq_worker *fz_worker_new(const tq_worker_opts *o, char *err, size_t n)
{
    return worker = tq_worker_new(o, err, n);
}

/* The config's JSON tree: load_config frees it at its end, not when it
 * dies half way; then it is freed here. */
static json_t *fz_root;

static json_t *fz_json_load_file(const char *path, size_t flags, json_error_t *e)
{
    return fz_root = json_load_file(path, flags, e);
}

static void fz_json_decref(json_t *j)
{
    if (j == fz_root)
        fz_root = NULL;
    json_decref(j);
}

/* Where main() would first reach Redis (the start-up check, then the
 * start): the settings were all accepted. Nothing here touches the
 * network. */
static int fz_started(struct event *a, struct event *b) __attribute__((noreturn));
static int fz_started(struct event *a, struct event *b)
{
    event_free(a);
    event_free(b);
    exit_code = 100;
    longjmp(jb, 1);
}

#define malloc fz_malloc
#define realloc fz_realloc
#define free fz_free
#define strdup fz_strdup
#define strndup fz_strndup
#define exit fz_exit
#define main tq_worker_main
#define tq_worker_new fz_worker_new
#define json_load_file fz_json_load_file
#define json_decref fz_json_decref
#define tq_worker_check(w, ms) fz_started(ev_term, ev_int)
#define tq_worker_start(w) fz_started(ev_term, ev_int)
#include "cmd/tq-worker/main.c"
#undef malloc
#undef realloc
#undef free
#undef strdup
#undef strndup
#undef exit
#undef main
#undef tq_worker_new
#undef json_load_file
#undef json_decref
#undef tq_worker_start

/* ---------------------------------------------------------------- the target */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char errbuf[8192];
    char path[64];
    char *argv[4] = {(char *)"tq-worker", (char *)"--config", path, NULL};
    FILE *saved = stderr, *cap;
    int fd = memfd_create("tq-fuzz-config", 0);
    volatile int ran = 0;

    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    memset(errbuf, 0, sizeof errbuf);
    if (!(cap = fmemopen(errbuf, sizeof errbuf - 1, "w")))
        abort();
    stderr = cap;
    exit_code = -1;
    worker = NULL;
    if (setjmp(jb) == 0) {
        ran = 1;
        tq_worker_main(3, argv);
    }
    fclose(cap);
    stderr = saved;
    close(fd);
    tq_worker_free(worker);
    json_decref(fz_root);
    fz_root = NULL;
    fz_free_all();

    if (!ran)
        abort();
    if (exit_code == 2) {
        /* one line: "tq-worker: " text "\n", nothing else */
        char *nl = strchr(errbuf, '\n');
        if (strncmp(errbuf, "tq-worker: ", 11) || !nl || nl[1] || nl == errbuf + 11)
            abort();
        *nl = '\0';
        fz_check_line(errbuf, sizeof errbuf);
    } else if (exit_code != 100) {
        abort();
    }
    return 0;
}
