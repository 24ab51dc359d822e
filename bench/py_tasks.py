"""The bench's tasks for the Python package's runtime (python3 -m tq.serve
py_tasks, with bench/ on PYTHONPATH): a no-op and an asyncio sleep."""
import asyncio

import tq


@tq.task("bench.pynoop")
async def noop(x):
    return x


@tq.task("bench.pysleep")
async def sleep(s):
    await asyncio.sleep(s)
    return s
