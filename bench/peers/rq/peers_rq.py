"""peers_rq.py -- RQ as a peer of tq (modes: see bench/peers/node/common.js).

Default queue and worker: `rq worker` forks a work horse for every job (one
job at a time per worker: RQ has no concurrency setting), results are kept
500 s and each finished job is added to the registry rq:finished:default,
which is what the drain counts. The worker imports this module to run the
jobs (bench/peers/run.sh puts this folder on PYTHONPATH).
"""
import json
import os
import sys
import time

from redis import Redis
from rq import Queue, get_current_job

PORT = int(os.environ['PEERS_PORT'])
mono = time.monotonic  # CLOCK_MONOTONIC, as the other peers use


def noop(i):
    pass


def sleep_ms(ms):
    time.sleep(ms / 1000.0)


def lat(t):
    d = mono() - t
    get_current_job().connection.rpush('peers:lat', round(d * 1e6))


def report(obj):
    print(json.dumps(obj), flush=True)


def paced(rate, count, send):
    t0 = mono()
    for i in range(count):
        ahead = t0 + i / rate - mono()
        if ahead > 0:
            time.sleep(ahead)
        send()
    return count / (mono() - t0)


def main(argv):
    # jobs name their function by module path: run as a script, this file
    # is __main__, which a worker cannot import
    mode = argv[1]
    r = Redis(host='127.0.0.1', port=PORT)
    r.ping()
    q = Queue('default', connection=r)
    if mode == 'bulk':
        n = int(argv[2])
        t0 = mono()
        q.enqueue_many([Queue.prepare_data('peers_rq.noop', (i,)) for i in range(1, n + 1)])
        report({'seconds': mono() - t0})
    elif mode == 'one':
        n = int(argv[2])
        t0 = mono()
        for i in range(1, n + 1):
            q.enqueue('peers_rq.noop', i)
        report({'seconds': mono() - t0})
    elif mode == 'sleep':
        ms = int(argv[3])
        q.enqueue_many([Queue.prepare_data('peers_rq.sleep_ms', (ms,)) for _ in range(int(argv[2]))])
    elif mode == 'lat':
        r.delete('peers:lat')
        q.enqueue('peers_rq.lat', mono())
        for _ in range(600):
            if r.llen('peers:lat'):
                break
            time.sleep(0.05)
        else:
            raise SystemExit('warm-up job not run within 30 s')
        r.delete('peers:lat')
        rate = paced(float(argv[2]), int(argv[3]), lambda: q.enqueue('peers_rq.lat', mono()))
        report({'rate': rate})
    else:
        raise SystemExit(f'unknown mode {mode}')


if __name__ == '__main__':
    main(sys.argv)
