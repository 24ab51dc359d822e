"""Handlers the runtime tests serve (python3 -m tq.serve serve_tasks)."""
import asyncio
import sys
import time

import tq


@tq.task("add")
async def add(a, b):
    return a + b


@tq.task("kw")
async def kw(name, greeting="hello"):
    return "%s %s" % (greeting, name)


@tq.task("echo", raw=True)
async def echo(args):
    return {"args": args, "job": tq.current_job().id}


@tq.task("sleep")
async def sleep(ms):
    await asyncio.sleep(ms / 1000)
    return ms


@tq.task("steps")
async def steps(n):
    for i in range(n):
        await tq.progress({"done": i + 1, "of": n})
        await asyncio.sleep(0.01)
    return n


@tq.task("forever")
async def forever():
    await tq.progress("started")
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        sys.stderr.write("forever: cancelled\n")
        raise


@tq.task("stubborn")
async def stubborn():
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        return "cleaned up"


@tq.task("boom")
async def boom(msg):
    raise ValueError(msg)


@tq.task("huge_error")
async def huge_error():
    raise RuntimeError("x" * 100000)


@tq.task("notjson")
async def notjson():
    return object()


@tq.task("chatty")
async def chatty():
    print("this goes to stderr, not the protocol")
    sys.stdout.write("so does this\n")
    return "quiet"


@tq.task
def blocking(ms):
    time.sleep(ms / 1000)
    return "slept %d" % ms
