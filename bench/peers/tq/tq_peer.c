/* tq_peer.c -- the producer side of tq in bench/peers, through libtq.
 *
 * The bulk figure uses `tq submit-many` itself; this program covers what the
 * command line cannot do from one process (modes as in
 * bench/peers/node/common.js, the private Redis in PEERS_PORT, queue
 * "bench", namespace "tq"):
 *
 *   one N           N x tq_submit of tq.noop, one at a time; prints
 *                   {"seconds": S} timed after connecting
 *   lat RATE COUNT  one warm-up job, then COUNT x peers.lat at RATE/s, each
 *                   with args {"t": CLOCK_MONOTONIC seconds when sent}; the
 *                   plugin peers_lat.so appends (start - t) in us to
 *                   PEERS_LAT_FILE; prints {"rate": achieved}
 *
 * PEERS_URL, when set, is the Redis URL instead (make bench: rediss://...
 * for the TLS figures); PEERS_DURABLE=N submits with --durable N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tq/tq.h"

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void submit(tq_client *c, const char *task, const char *args, const tq_submit_opts *o)
{
    char id[TQ_ID_SIZE];
    int rc = tq_submit(c, task, args, o, id);
    if (rc != 0) {
        fprintf(stderr, "tq_peer: submit: %s\n", tq_client_errstr(c));
        exit(1);
    }
}

static void submit_lat(tq_client *c, const tq_submit_opts *o)
{
    char args[64];
    snprintf(args, sizeof args, "{\"t\":%.9f}", mono());
    submit(c, "peers.lat", args, o);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

int main(int argc, char **argv)
{
    const char *port = getenv("PEERS_PORT");
    const char *peers_url = getenv("PEERS_URL");
    char url[128];
    tq_client *c;
    tq_submit_opts o;

    if (argc < 3 || (!port && !peers_url)) {
        fprintf(stderr, "usage: PEERS_PORT=P|PEERS_URL=U tq_peer one N | lat RATE COUNT\n");
        return 2;
    }
    snprintf(url, sizeof url, "redis://127.0.0.1:%s/0", port ? port : "");
    c = tq_client_new(peers_url ? peers_url : url, NULL);
    if (!c || tq_client_err(c)) {
        fprintf(stderr, "tq_peer: %s\n", c ? tq_client_errstr(c) : "out of memory");
        return 1;
    }
    tq_submit_opts_init(&o);
    o.queue = "bench";
    if (getenv("PEERS_DURABLE")) /* make bench: the cost of --durable N */
        o.durable = atoi(getenv("PEERS_DURABLE"));

    if (strcmp(argv[1], "one") == 0) {
        long n = atol(argv[2]), i;
        char args[32];
        double t0 = mono();
        for (i = 1; i <= n; i++) {
            snprintf(args, sizeof args, "%ld", i);
            submit(c, "tq.noop", args, &o);
        }
        printf("{\"seconds\": %.6f}\n", mono() - t0);
    } else if (strcmp(argv[1], "lat") == 0 && argc >= 4) {
        double rate = atof(argv[2]), t0;
        long count = atol(argv[3]), i;
        const char *file = getenv("PEERS_LAT_FILE");
        if (!file) {
            fprintf(stderr, "tq_peer: PEERS_LAT_FILE is not set\n");
            return 2;
        }
        submit_lat(c, &o);
        for (i = 0; i < 600 && file_size(file) == 0; i++)
            nap(0.05);
        if (file_size(file) == 0) {
            fprintf(stderr, "tq_peer: warm-up job not run within 30 s\n");
            return 1;
        }
        if (truncate(file, 0) != 0) {
            perror("tq_peer: truncate");
            return 1;
        }
        t0 = mono();
        for (i = 0; i < count; i++) {
            double ahead = t0 + (double)i / rate - mono();
            if (ahead > 0)
                nap(ahead);
            submit_lat(c, &o);
        }
        printf("{\"rate\": %.1f}\n", (double)count / (mono() - t0));
    } else {
        fprintf(stderr, "tq_peer: unknown mode %s\n", argv[1]);
        return 2;
    }
    tq_client_free(c);
    return 0;
}
