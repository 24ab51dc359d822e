"""End to end: @tq.task handlers served by a real `tq-worker --task-server`,
jobs submitted and waited on with tq.Client and tq.AsyncClient."""
import asyncio
import os
import subprocess
import time
import unittest

import support
import tq

TASKS = "add,kw,sleep,steps,forever,boom,notjson,chatty"


@unittest.skipUnless(support.have_bins() and support.worker_has_task_servers(),
                     "tq-worker has no --task-server (issue 16's worker side not built)")
class EndToEnd(support.RedisTest):
    def setUp(self):
        super().setUp()
        self.c = self.client()
        env = {"PYTHONPATH": support.PYDIR + os.pathsep + support.TESTS}
        self.w = self.worker("--concurrency", "200", "--kill-grace", "2s",
                             "--task-server", TASKS + "=python3 -m tq.serve serve_tasks",
                             "--server-procs", "2", "--server-inflight", "100", env=env)

    def wait(self, jid, timeout=20):
        try:
            return self.c.wait(jid, timeout=timeout)
        except tq.Timeout:
            raise AssertionError("job %s did not finish; worker log:\n%s"
                                 % (jid, self.w.text()[-3000:]))

    def test_results_errors_progress(self):
        self.assertEqual(self.wait(self.c.submit("add", [2, 3])), 5)
        self.assertEqual(self.wait(self.c.submit("kw", {"name": "tq"})), "hello tq")
        self.assertEqual(self.wait(self.c.submit("chatty")), "quiet")
        with self.assertRaises(tq.JobFailed) as cm:
            self.wait(self.c.submit("boom", "kaput", retries=0))
        self.assertEqual(cm.exception.error, "ValueError: kaput")
        with self.assertRaises(tq.JobFailed) as cm:
            self.wait(self.c.submit("notjson", retries=0))
        self.assertIn("not JSON", cm.exception.error)
        jid = self.c.submit("steps", 5)
        self.assertEqual(self.wait(jid), 5)
        self.assertEqual(self.c.status(jid).get("progress"), {"done": 5, "of": 5})
        self.assertIn("Traceback", self.w.text())  # the handler's stderr: the worker's log

    def test_cancel_and_timeout(self):
        jid = self.c.submit("forever")
        self.assertTrue(support.wait_until(lambda: self.c.status(jid).get("progress") == "started",
                                           15))  # in the handler
        self.assertEqual(self.c.cancel(jid), "active")
        with self.assertRaises(tq.JobCancelled):
            self.wait(jid)
        self.assertTrue(support.wait_until(lambda: "forever: cancelled" in self.w.text(), 5))
        t0 = time.monotonic()
        with self.assertRaises(tq.JobFailed) as cm:
            self.wait(self.c.submit("forever", timeout=1, retries=0))
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("time", cm.exception.error)
        self.assertEqual(self.wait(self.c.submit("add", [1, 1])), 2)  # the server lives on

    def test_many_sleeps_at_once_and_async_client(self):
        self.assertEqual(self.wait(self.c.submit("add", [0, 0]), 30), 0)  # servers are up

        async def main():
            async with tq.AsyncClient(self.redis.url, self.ns) as a:
                ids = await a.submit_many("sleep", [50] * 400)
                t0 = time.monotonic()
                res = await a.wait(ids, timeout=30)
                return res, time.monotonic() - t0
        res, took = asyncio.run(main())
        self.assertEqual(res, [50] * 400)
        # 400 x 50 ms at 200 in flight: ideal 0.1 s; generous for a shared machine
        self.assertLess(took, 8)


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(support.have_bins() and support.worker_has_task_servers(),
                     "tq-worker has no --task-server (issue 16's worker side not built)")
class Examples(support.RedisTest):
    def test_service_and_tasks(self):
        ex = os.path.join(support.REPO, "examples", "python")
        env = dict(os.environ, PYTHONPATH=support.PYDIR, TQ_REDIS_URL=self.redis.url,
                   TQ_NAMESPACE=self.ns)
        subprocess.run([os.path.join(support.BIN, "tq"), "ratelimit", "set", "api", "20/s"],
                       env=env, check=True, capture_output=True)
        w = self.worker("--concurrency", "100", "--task-server",
                        "fetch,report,watch=python3 -m tq.serve %s/tasks.py" % ex,
                        "--server-inflight", "100", env={"PYTHONPATH": support.PYDIR})
        out = subprocess.run(["python3", os.path.join(ex, "service.py"), "--fetches", "5"],
                             env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr + w.text()[-2000:])
        self.assertIn("fetched 5 items", out.stdout)
        self.assertIn("statuses [200]", out.stdout)
        self.assertIn("last progress: {'rows': 40, 'of': 40}", out.stdout)
        self.assertIn("cancel watch: it was active", out.stdout)
        self.assertIn("watch: job", out.stdout)
        self.assertIn("the job is active", out.stdout)
        self.assertIn("and it still finishes: {'rows': 20", out.stdout)
        self.assertIn("watch prices: stopped after", w.text())
