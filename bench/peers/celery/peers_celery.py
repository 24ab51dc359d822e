"""peers_celery.py -- Celery as a peer of tq (modes: see bench/peers/node/common.js).

The app is Celery's default but for the broker URL (the private Redis in
PEERS_PORT): no result backend, acks_late off (a task is acknowledged when a
pool process accepts it), prefetch multiplier 4. The worker is started by
bench/peers/run.sh with `celery -A peers_celery worker`.

Celery keeps no record of a finished task in Redis without a result backend,
so the worker counts completions in its main process: the Request class the
worker builds for each task type is wrapped so that its on_success (called
in the main process when the pool reports the result) also counts, and the
count is written to peers:done every 1,000 tasks, at PEERS_N, and when 50 ms
have passed since the last write (so slow tasks are counted too). That adds
a Python call per task and a SET per 1,000 tasks or 50 ms.
"""
import json
import os
import sys
import threading
import time

import redis
from celery import Celery, group
import celery.worker.strategy as _strategy

PORT = int(os.environ['PEERS_PORT'])
app = Celery('peers', broker=f'redis://127.0.0.1:{PORT}/0')
mono = time.monotonic  # CLOCK_MONOTONIC, as the other peers use

_side = None


def side():
    global _side
    if _side is None:
        _side = redis.Redis(host='127.0.0.1', port=PORT)
    return _side


# ------------------------------------------------------------ completion count

_lock = threading.Lock()
_done = 0
_flushed = 0.0
_flush_at = int(os.environ.get('PEERS_N', '0'))
_make_request_cls = _strategy.create_request_cls


def _counting_request_cls(*args, **kwargs):
    base = _make_request_cls(*args, **kwargs)

    class CountingRequest(base):
        def on_success(self, *a, **kw):
            global _done, _flushed
            base.on_success(self, *a, **kw)
            now = mono()
            with _lock:
                _done += 1
                n = _done
                flush = n % 1000 == 0 or n == _flush_at or now - _flushed > 0.05
                if flush:
                    _flushed = now
            if flush:
                side().set('peers:done', n)

    return CountingRequest


_strategy.create_request_cls = _counting_request_cls


# ------------------------------------------------------------ tasks

@app.task(name='noop')
def noop(i):
    pass


@app.task(name='sleep')
def sleep_ms(ms):
    time.sleep(ms / 1000.0)


@app.task(name='lat')
def lat(t):
    d = mono() - t
    side().rpush('peers:lat', round(d * 1e6))


# ------------------------------------------------------------ producer

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
    mode = argv[1]
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=3)
    if mode == 'bulk':
        n = int(argv[2])
        t0 = mono()
        group(noop.s(i) for i in range(1, n + 1)).apply_async()
        report({'seconds': mono() - t0})
    elif mode == 'one':
        n = int(argv[2])
        t0 = mono()
        for i in range(1, n + 1):
            noop.delay(i)
        report({'seconds': mono() - t0})
    elif mode == 'sleep':
        group(sleep_ms.s(int(argv[3])) for _ in range(int(argv[2]))).apply_async()
    elif mode == 'lat':
        r = side()
        r.delete('peers:lat')
        lat.delay(mono())
        for _ in range(600):
            if r.llen('peers:lat'):
                break
            time.sleep(0.05)
        else:
            raise SystemExit('warm-up task not run within 30 s')
        r.delete('peers:lat')
        rate = paced(float(argv[2]), int(argv[3]), lambda: lat.delay(mono()))
        report({'rate': rate})
    else:
        raise SystemExit(f'unknown mode {mode}')


if __name__ == '__main__':
    main(sys.argv)
