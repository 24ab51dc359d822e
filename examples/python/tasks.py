"""Three async tasks served to tq-worker by the Python runtime:

    tq-worker --task-server 'fetch,report,watch=python3 -m tq.serve examples/python/tasks.py' \
        --server-inflight 100 --concurrency 100

fetch   calls an HTTP API; submit it with rate_limit="api" (tq ratelimit set api 5/s)
        and tq starts at most 5 a second across every worker.
report  works in steps and reports its progress (tq status --json shows it).
watch   polls until cancelled: `tq cancel ID` raises CancelledError in it.
"""
import asyncio
import json
import sys
import urllib.request

import tq


@tq.task("fetch")
async def fetch(url, timeout=10):
    # urllib blocks: run it in a thread, so the loop keeps serving other jobs
    def get():
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(4096).decode("utf-8", "replace")
    status, body = await asyncio.to_thread(get)
    try:
        body = json.loads(body)
    except ValueError:
        pass
    return {"url": url, "status": status, "body": body}


@tq.task("report")
async def report(rows, step=0.05):
    total = 0
    for i in range(rows):
        await asyncio.sleep(step)          # a row's worth of work
        total += i
        if i % 10 == 9 or i == rows - 1:
            await tq.progress({"rows": i + 1, "of": rows})
    return {"rows": rows, "sum": total}


@tq.task("watch")
async def watch(name, every=0.2):
    polls = 0
    try:
        while True:                        # until cancelled (or its timeout)
            polls += 1
            await asyncio.sleep(every)
    except asyncio.CancelledError:
        print("watch %s: stopped after %d polls, cleaning up" % (name, polls))  # to stderr
        raise


if __name__ == "__main__":
    sys.exit(tq.serve())                   # `python3 tasks.py` serves them too
