"""tq.AsyncClient: the client's calls as coroutines, for asyncio programs.

One idea: libtq's blocking calls run in a small thread pool of this client's
own, each thread with its own tq_client (Client keeps one per thread), and
a wait is a series of short tq_wait calls (<= WAIT_SLICE each): so awaiting
never blocks the event loop, and a cancelled await gives its thread back
within one slice. Cancelling an await never cancels the job, unless the
call was made with cancel_on_cancel=True.
"""
import asyncio
import concurrent.futures
import functools

from .client import Client, Deadline, outcome
from .errors import Timeout


class AsyncClient:
    """The asynchronous client: the same methods as tq.Client, as coroutines.
    threads: how many blocking calls may run at once (each thread keeps a
    connection of its own). Connections are made on first use."""

    def __init__(self, redis=None, namespace=None, connect_timeout=None, threads=8):
        self._sync = Client(redis, namespace, connect_timeout, _eager=False)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads,
                                                           thread_name_prefix="tq-client")

    async def _run(self, fn, *args, **kw):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kw))

    async def close(self):
        """Waits for the calls under way (at most one wait slice), then frees
        every connection."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, functools.partial(self._pool.shutdown, wait=True))
        self._sync.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def submit(self, task, args=None, **opts):
        return await self._run(self._sync.submit, task, args, **opts)

    async def submit_many(self, task, args_list, **opts):
        return await self._run(self._sync.submit_many, task, list(args_list), **opts)

    async def chain(self, tasks, args=None, **opts):
        return await self._run(self._sync.chain, list(tasks), args, **opts)

    async def group(self, task, args_list, then=None, **opts):
        return await self._run(self._sync.group, task, list(args_list), then, **opts)

    async def status(self, job_id):
        return await self._run(self._sync.status, job_id)

    async def result(self, job_id):
        return await self._run(self._sync.result, job_id)

    async def cancel(self, job_id):
        return await self._run(self._sync.cancel, job_id)

    async def group_status(self, gid):
        return await self._run(self._sync.group_status, gid)

    async def group_cancel(self, gid):
        return await self._run(self._sync.group_cancel, gid)

    async def _sliced(self, slice_fn, key, timeout, what):
        """Client._sliced with each slice run in the pool."""
        d = Deadline(timeout)
        while True:
            recs = await self._run(slice_fn, key, d.next_slice())
            if recs is not None:
                return recs
            if d.over():
                raise Timeout("timed out waiting for %s" % what,
                              job_id=key if isinstance(key, str) else None)

    async def wait(self, job_id, timeout=None, cancel_on_cancel=False):
        """Waits until the job (or every job of a list) is terminal; returns
        the result (or the list of results), raising as Client.wait does.
        Cancelling the await leaves the job alone, unless cancel_on_cancel:
        then the job (every job of the list) is cancelled too."""
        ids = [job_id] if isinstance(job_id, str) else list(job_id)
        try:
            recs = await self._sliced(self._sync._wait_slice, ids, timeout, ", ".join(ids[:3]))
        except asyncio.CancelledError:
            if cancel_on_cancel:
                await asyncio.shield(self._cancel_all(ids))
            raise
        results = [outcome(r, i) for r, i in zip(recs, ids)]
        return results[0] if isinstance(job_id, str) else results

    async def _cancel_all(self, ids):
        for i in ids:
            try:
                await self._run(self._sync.cancel, i)
            except Exception:
                pass

    async def group_wait(self, gid, timeout=None, cancel_on_cancel=False):
        """Waits for every member of a group; returns their results in order."""
        try:
            recs = await self._sliced(self._sync._group_slice, gid, timeout, "group " + gid)
        except asyncio.CancelledError:
            if cancel_on_cancel:
                await asyncio.shield(self._run(self._sync.group_cancel, gid))
            raise
        return [outcome(r, None) for r in recs]
