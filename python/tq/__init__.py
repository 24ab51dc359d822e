"""tq: a Python client and asyncio task-server runtime for tq, the task queue in C.

    client = tq.Client()                        # $TQ_REDIS_URL, $TQ_NAMESPACE
    jid = client.submit("resize", {"url": u}, queue="images", timeout="30s")
    print(client.wait(jid, timeout=60))

    @tq.task("resize")                          # served by: tq-worker --task-server
    async def resize(url):                      #   resize=python3 -m tq.serve mytasks
        await tq.progress(50)
        return {"ok": True}

The client loads libtq.so (ctypes) when the first one is made; the runtime
needs no C library at all.
"""
from ._lib import LibraryNotFound
from .aio import AsyncClient
from .client import Client, Group
from .errors import (DurableError, Error, InvalidArgument, JobCancelled, JobFailed, NoSuchJob,
                     RedisError, Timeout)
from .runtime import JobInfo, current_job, progress, registered, serve, task

__version__ = "0.1.0"

for _c in (Client, AsyncClient, Group, Error, JobFailed, JobCancelled, Timeout, NoSuchJob,
           RedisError, InvalidArgument, DurableError, LibraryNotFound, JobInfo):
    _c.__module__ = "tq"  # tracebacks and help() name them as users write them
del _c

__all__ = ["Client", "AsyncClient", "Group", "Error", "JobFailed", "JobCancelled", "Timeout",
           "NoSuchJob", "RedisError", "InvalidArgument", "DurableError", "LibraryNotFound",
           "task", "serve", "progress", "current_job", "registered", "JobInfo"]
