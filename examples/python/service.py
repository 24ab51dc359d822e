"""An asyncio service that submits jobs and waits for them (tq.AsyncClient).

    python3 examples/python/service.py [--api URL]

It needs the worker of tasks.py running and a rate limit named "api"
(tq ratelimit set api 5/s). Without --api it serves a tiny JSON API of its
own on 127.0.0.1 for the fetch jobs to call.
"""
import argparse
import asyncio
import http.server
import json
import threading
import time

import tq


def local_api():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"path": self.path, "at": time.time()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d" % srv.server_address[1]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", help="base URL the fetch jobs call (default: a local one)")
    ap.add_argument("--fetches", type=int, default=10)
    opts = ap.parse_args()
    api = opts.api or local_api()

    async with tq.AsyncClient() as client:     # TQ_REDIS_URL, TQ_NAMESPACE
        # ten API calls, started at the "api" limit's rate by the workers
        t0 = time.monotonic()
        ids = await client.submit_many("fetch", [["%s/item/%d" % (api, i)]
                                                 for i in range(opts.fetches)],
                                       rate_limit="api", timeout="30s")
        report = await client.submit("report", [40], timeout="1m")
        fetched = await client.wait(ids, timeout=120)
        print("fetched %d items in %.1fs (statuses %s)"
              % (len(fetched), time.monotonic() - t0, sorted({f["status"] for f in fetched})))
        print("report:", await client.wait(report, timeout=60),
              "last progress:", (await client.status(report)).get("progress"))

        # a job that runs until cancelled: stop it from here
        watch = await client.submit("watch", ["prices"])
        await asyncio.sleep(1)
        print("cancel watch: it was", await client.cancel(watch))
        try:
            await client.wait(watch, timeout=30)
        except tq.JobCancelled as e:
            print("watch:", e)

        # waiting is cancellable: the job goes on unless cancel_on_cancel=True
        slow = await client.submit("report", [20], timeout="1m")
        try:
            await asyncio.wait_for(client.wait(slow), timeout=0.2)
        except asyncio.TimeoutError:
            print("gave up waiting; the job is", (await client.status(slow))["state"])
        print("and it still finishes:", await client.wait(slow, timeout=60))


if __name__ == "__main__":
    asyncio.run(main())
