"""tq.AsyncClient: the client's calls as coroutines; cancelling an await
frees its thread promptly and leaves the job alone unless asked."""
import asyncio
import time
import unittest

import support
import tq


class AsyncClientTest(support.RedisTest):
    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 30))

    def test_every_call(self):
        self.worker()

        async def main():
            async with tq.AsyncClient(self.redis.url, self.ns) as a:
                jid = await a.submit("tq.noop", {"x": 1}, queue="default", retries=1)
                self.assertEqual(await a.wait(jid, timeout=10), {"x": 1})
                self.assertEqual((await a.status(jid))["state"], "succeeded")
                self.assertEqual(await a.result(jid), {"x": 1})
                ids = await a.submit_many("tq.noop", range(20))
                self.assertEqual(await a.wait(ids, timeout=10), list(range(20)))
                chain = await a.chain(["tq.noop", "tq.noop"], 5)
                self.assertEqual(await a.wait(chain[1], timeout=10), 5)
                g = await a.group("tq.noop", [1, 2], then="tq.noop")
                self.assertEqual(await a.group_wait(g.id, timeout=10), [1, 2])
                self.assertEqual(await a.wait(g.fanin, timeout=10), [1, 2])
                self.assertEqual((await a.group_status(g.id))["ok"], 2)
                f = await a.submit("tq.fail", "nope", retries=0)
                with self.assertRaises(tq.JobFailed) as cm:
                    await a.wait(f, timeout=10)
                self.assertEqual(cm.exception.code, -1)
                with self.assertRaises(tq.NoSuchJob):
                    await a.status("01m85hm48nfaajrpz4k87cmkppxepta5m6")
                s = await a.submit("tq.sleep", 3000)
                with self.assertRaises(tq.Timeout):
                    await a.wait(s, timeout=0.2)
                self.assertIn(await a.cancel(s), ("pending", "active"))
                with self.assertRaises(tq.JobCancelled):
                    await a.wait(s, timeout=10)
                g2 = await a.group("nobody", [1], queue="nowhere")  # no worker takes it
                self.assertEqual(await a.group_cancel(g2.id), (1, 0))
        self.run_async(main())

    def test_many_waits_at_once_on_one_loop(self):
        self.worker("--concurrency", "100")

        async def main():
            async with tq.AsyncClient(self.redis.url, self.ns, threads=4) as a:
                ids = await a.submit_many("tq.sleep", [300] * 40)
                t0 = time.monotonic()
                res = await asyncio.gather(*(a.wait(i, timeout=20) for i in ids))
                return res, time.monotonic() - t0
        res, took = self.run_async(main())
        self.assertEqual(res, [300] * 40)
        self.assertLess(took, 10)

    def test_cancelling_an_await_leaves_the_job_and_frees_the_thread(self):
        self.worker()

        async def main():
            async with tq.AsyncClient(self.redis.url, self.ns, threads=1) as a:
                jid = await a.submit("tq.sleep", 4000)
                t = asyncio.ensure_future(a.wait(jid))
                await asyncio.sleep(0.3)
                t.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await t
                # the one thread is free again within a wait slice
                t0 = time.monotonic()
                st = await a.status(jid)
                self.assertLess(time.monotonic() - t0, 1.5)
                self.assertIn(st["state"], ("pending", "active"))
                # cancel_on_cancel: the job goes too
                t = asyncio.ensure_future(a.wait(jid, cancel_on_cancel=True))
                await asyncio.sleep(0.3)
                t.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await t
                with self.assertRaises(tq.JobCancelled):
                    await a.wait(jid, timeout=10)
        self.run_async(main())

    def test_errors_surface_on_first_call(self):
        async def main():
            a = tq.AsyncClient("redis://127.0.0.1:%d/0" % support.free_port(), self.ns)
            try:
                with self.assertRaises(tq.RedisError):
                    await a.submit("t")
            finally:
                await a.close()
        self.run_async(main())


if __name__ == "__main__":
    unittest.main()
