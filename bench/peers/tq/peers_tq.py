"""peers_tq.py -- tq with Python handlers, as a peer of Celery and RQ (the
`tq-python` row of bench/peers/run.sh; modes: see bench/peers/node/common.js).

The same file is the task module the worker's task server imports
(`tq-worker --task-server 'py.noop,py.sleep,py.lat=python3 -m tq.serve
peers_tq'`: one Python process, asyncio, up to --server-inflight jobs at
once) and the producer (tq.Client, the Python package on libtq). The worker
counts completions itself (tq:{bench}:stats processed), as for the tq row.
The latency handler appends (start - sent) in microseconds to PEERS_LAT_FILE
with one write(2), as the tq row's C plugin does.
"""
import asyncio
import json
import os
import sys
import time

import tq

mono = time.monotonic  # CLOCK_MONOTONIC, as the other peers use
QUEUE = "bench"
_lat_fd = None


@tq.task("py.noop", raw=True)
async def noop(i):
    return None


@tq.task("py.sleep", raw=True)
async def sleep_ms(ms):
    await asyncio.sleep(ms / 1000.0)


@tq.task("py.lat", raw=True)
async def lat(args):
    global _lat_fd
    d = mono() - args["t"]
    if _lat_fd is None:
        _lat_fd = os.open(os.environ["PEERS_LAT_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_lat_fd, b"%d\n" % round(d * 1e6))


# ------------------------------------------------------------ producer

def report(obj):
    print(json.dumps(obj), flush=True)


def main(argv):
    mode = argv[1]
    c = tq.Client("redis://127.0.0.1:%s/0" % os.environ["PEERS_PORT"])
    if mode == "bulk":
        n = int(argv[2])
        t0 = mono()
        c.submit_many("py.noop", range(1, n + 1), queue=QUEUE)
        report({"seconds": mono() - t0})
    elif mode == "one":
        n = int(argv[2])
        t0 = mono()
        for i in range(1, n + 1):
            c.submit("py.noop", i, queue=QUEUE)
        report({"seconds": mono() - t0})
    elif mode == "sleep":
        c.submit_many("py.sleep", [int(argv[3])] * int(argv[2]), queue=QUEUE)
    elif mode == "lat":
        path = os.environ["PEERS_LAT_FILE"]
        size = lambda: os.path.getsize(path) if os.path.exists(path) else 0  # noqa: E731
        c.submit("py.lat", {"t": mono()}, queue=QUEUE)
        for _ in range(600):
            if size():
                break
            time.sleep(0.05)
        else:
            raise SystemExit("warm-up job not run within 30 s")
        os.truncate(path, 0)
        rate, count = float(argv[2]), int(argv[3])
        t0 = mono()
        for i in range(count):
            ahead = t0 + i / rate - mono()
            if ahead > 0:
                time.sleep(ahead)
            c.submit("py.lat", {"t": mono()}, queue=QUEUE)
        report({"rate": count / (mono() - t0)})
    else:
        raise SystemExit("unknown mode %s" % mode)


if __name__ == "__main__":
    main(sys.argv)
