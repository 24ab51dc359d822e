"""tq.Client against a real redis-server and tq-worker: every call, every
option reaching the job's record, and each error with its code."""
import os
import subprocess
import threading
import time
import unittest

import support
import tq


class ClientTest(support.RedisTest):
    def setUp(self):
        super().setUp()
        self.c = self.client()

    def tq(self, *args):
        return subprocess.run([os.path.join(support.BIN, "tq"), "--redis", self.redis.url,
                               "--namespace", self.ns] + list(args),
                              capture_output=True, text=True, check=True).stdout

    def test_submit_wait_status_result(self):
        self.worker()
        jid = self.c.submit("tq.noop", {"hello": ["world", 1, None]})
        self.assertEqual(len(jid), 34)
        self.assertEqual(self.c.wait(jid, timeout=10), {"hello": ["world", 1, None]})
        st = self.c.status(jid)
        self.assertEqual((st["state"], st["task"], st["attempt"]), ("succeeded", "tq.noop", 1))
        self.assertEqual(self.c.result(jid), {"hello": ["world", 1, None]})
        self.assertEqual(self.c.cancel(jid), "succeeded")  # terminal: left as it is
        self.assertIsNone(self.c.wait(self.c.submit("tq.noop"), timeout=10))  # args None: null

    def test_options_reach_the_record(self):
        jid = self.c.submit("t", [1], queue="other", priority=7, timeout="2m", retries=5,
                            backoff=0.5, result_ttl="2h", max_lost=2, fair_key="cust-1")
        st = self.c.status(jid)
        self.assertEqual((st["queue"], st["priority"], st["timeout"], st["max_retries"]),
                         ("other", 7, 120.0, 5))
        self.assertEqual((st["backoff"], st["result_ttl"], st["max_lost"], st["state"]),
                         (0.5, 7200.0, 2, "pending"))
        self.assertEqual(st["fair_key"], "cust-1")
        self.assertEqual(self.c.status(self.c.submit("t", delay=60))["state"], "scheduled")
        self.assertEqual(self.c.status(self.c.submit("t", at=time.time() + 60))["state"],
                         "scheduled")
        u1 = self.c.submit("t", 1, unique="k")
        self.assertEqual(self.c.submit("t", 2, unique="k"), u1)
        self.tq("semaphore", "set", "sem", "2")
        self.assertEqual(self.c.status(self.c.submit("t", semaphore="sem"))["semaphore"], "sem")
        self.tq("ratelimit", "set", "api", "20/s")
        self.assertEqual(self.c.status(self.c.submit("t", rate_limit="api:k"))["rate_limit"],
                         "api:k")
        with self.assertRaises(tq.InvalidArgument) as cm:
            self.c.submit("t", rate_limit="never-set")
        self.assertIn("never-set", str(cm.exception))

    def test_submit_many_chain_group(self):
        self.worker()
        ids = self.c.submit_many("tq.noop", [{"n": i} for i in range(50)])
        self.assertEqual(self.c.wait(ids, timeout=10), [{"n": i} for i in range(50)])
        self.assertEqual(self.c.submit_many("tq.noop", []), [])
        chain = self.c.chain(["tq.noop", "tq.noop", "tq.noop"], "x")
        self.assertEqual(len(chain), 3)
        self.assertEqual(self.c.wait(chain[-1], timeout=10), "x")
        self.assertEqual(self.c.status(chain[1])["parent"], chain[0])
        g = self.c.group("tq.noop", [1, 2, 3], then="tq.noop")
        self.assertEqual(len(g.ids), 3)
        self.assertEqual(self.c.group_wait(g.id, timeout=10), [1, 2, 3])
        self.assertEqual(self.c.wait(g.fanin, timeout=10), [1, 2, 3])
        gs = self.c.group_status(g.id)
        self.assertEqual((gs["total"], gs["ok"], gs["finished"], gs["counts"]),
                         (3, 3, True, {"succeeded": 3}))
        self.assertEqual(gs["fanin_state"], "succeeded")
        self.assertIsNone(self.c.group("tq.noop", [1]).fanin)

    def test_group_cancel(self):
        g = self.c.group("nobody-serves-this", [1, 2], then="tq.noop")
        self.assertEqual(self.c.group_cancel(g.id), (2, 0))
        with self.assertRaises(tq.JobCancelled):
            self.c.group_wait(g.id, timeout=5)
        with self.assertRaises(tq.JobCancelled) as cm:
            self.c.wait(g.fanin, timeout=5)
        self.assertEqual(cm.exception.code, -4)

    def test_errors_carry_codes(self):
        self.worker()
        f = self.c.submit("tq.fail", "no luck", retries=0)
        with self.assertRaises(tq.JobFailed) as cm:
            self.c.wait(f, timeout=10)
        e = cm.exception
        self.assertEqual((e.code, e.exit_code, e.job_id, e.error), (-1, 1, f, "no luck"))
        with self.assertRaises(tq.JobFailed) as cm:
            self.c.result(f)
        self.assertIn("no luck", str(cm.exception))
        s = self.c.submit("tq.sleep", 5000)
        with self.assertRaises(tq.Timeout) as cm:
            self.c.wait(s, timeout=0.3)
        self.assertEqual((cm.exception.code, cm.exception.exit_code), (-3, 3))
        self.assertIsInstance(cm.exception, TimeoutError)
        with self.assertRaises(tq.Timeout):
            self.c.result(s)  # not finished
        wait_active = support.wait_until(lambda: self.c.status(s)["state"] == "active", 5)
        self.assertTrue(wait_active)
        self.assertEqual(self.c.cancel(s), "active")
        with self.assertRaises(tq.JobCancelled) as cm:
            self.c.wait(s, timeout=10)
        self.assertEqual(cm.exception.code, -4)
        for bad in ("01m85hm48nfaajrpz4k87cmkppxepta5m6", "nope"):
            for call in (self.c.status, self.c.result, self.c.cancel, self.c.wait):
                with self.assertRaises(tq.NoSuchJob, msg=call.__name__) as cm:
                    call(bad)
                self.assertEqual((cm.exception.code, cm.exception.exit_code), (-5, 5))
        with self.assertRaises(tq.NoSuchJob):
            self.c.group_status("01m85hm48nfaajrpz4k87cmkppxepta5m6")
        with self.assertRaises(tq.InvalidArgument) as cm:
            self.c.submit("tq.noop", object())
        self.assertEqual(cm.exception.code, -2)
        with self.assertRaises(tq.InvalidArgument):
            self.c.submit("", 1)
        with self.assertRaises(tq.InvalidArgument):
            self.c.submit("t", "x" * (600 * 1024))  # over --max-args
        with self.assertRaises(tq.InvalidArgument):
            self.c.chain(["a", "b"], unique="k")

    def test_durable_without_replicas(self):
        with self.assertRaises(tq.DurableError) as cm:
            self.c.submit("t", 1, durable=1, durable_timeout="100ms")
        e = cm.exception
        self.assertEqual((e.code, e.exit_code, len(e.ids)), (-9, 7, 1))
        self.assertEqual(self.c.status(e.ids[0])["state"], "pending")  # the job exists
        with self.assertRaises(tq.DurableError) as cm:
            self.c.submit_many("t", [1, 2], durable=1, durable_timeout=0.1)
        self.assertEqual(len([i for i in cm.exception.ids if i]), 2)

    def test_unreachable_redis_and_bad_url(self):
        with self.assertRaises(tq.RedisError) as cm:
            tq.Client("redis://127.0.0.1:%d/0" % support.free_port(), self.ns)
        self.assertEqual((cm.exception.code, cm.exception.exit_code), (-6, 6))
        with self.assertRaises(tq.InvalidArgument):
            tq.Client("http://nowhere", self.ns)

    def test_environment_defaults(self):
        old = dict(os.environ)
        try:
            os.environ["TQ_REDIS_URL"], os.environ["TQ_NAMESPACE"] = self.redis.url, self.ns
            c = tq.Client()
            jid = c.submit("t")
            c.close()
            self.assertEqual(self.c.status(jid)["state"], "pending")  # same namespace
            self.assertTrue(self.redis.cli("keys", self.ns + ":*"))
        finally:
            os.environ.clear()
            os.environ.update(old)

    def test_threads_share_a_client(self):
        self.worker("--concurrency", "50")
        errors, results = [], []

        def run(k):
            try:
                ids = [self.c.submit("tq.sleep", 50) for _ in range(5)]
                results.append(self.c.wait(ids, timeout=20))
            except Exception as e:  # pragma: no cover
                errors.append(e)
        ts = [threading.Thread(target=run, args=(k,)) for k in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(results, [[50] * 5] * 8)
        self.c.close()
        with self.assertRaises(tq.Error):
            self.c.submit("t")


if __name__ == "__main__":
    unittest.main()
