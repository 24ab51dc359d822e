/* peers_lat.c -- a tq-worker plugin for bench/peers: the C handler
 * "peers.lat" measures enqueue-to-start the way the peers' handlers do.
 *
 * Its args are {"t": CLOCK_MONOTONIC seconds when the producer sent it}; on
 * entry the handler appends (now - t) in microseconds as a line to
 * PEERS_LAT_FILE (O_APPEND, one write(2) per job) and succeeds at once.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "tq/worker.h"

static int lat_fd = -1;

static void lat_handler(tq_task *t, void *ud)
{
    struct timespec ts;
    double now, sent;
    char line[32];
    int n;

    (void)ud;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    sent = json_number_value(json_object_get(tq_task_args(t), "t"));
    n = snprintf(line, sizeof line, "%.0f\n", (now - sent) * 1e6);
    if (write(lat_fd, line, (size_t)n) != n) {
        tq_task_fail(t, "peers.lat: write failed");
        return;
    }
    tq_task_succeed(t, NULL);
}

int tq_plugin_init(tq_worker *w);

int tq_plugin_init(tq_worker *w)
{
    const char *file = getenv("PEERS_LAT_FILE");

    if (!file)
        return -1;
    lat_fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (lat_fd < 0)
        return -1;
    return tq_worker_register(w, "peers.lat", lat_handler, NULL, NULL);
}
