#!/usr/bin/env python3
"""A complete tq task server (protocol version 1), standard library only.

Run by: tq-worker --task-server demo.add,demo.sleep="python3 server.py"
Jobs come as JSON lines on stdin; answers go as JSON lines to stdout.
"""
import asyncio, json, sys

async def add(args):                      # a task: an async function of args
    return args["a"] + args["b"]

async def sleep(args):
    await asyncio.sleep(args)
    return args

TASKS = {"demo.add": add, "demo.sleep": sleep}

def send(msg):                            # one line each, flushed at once
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()

async def run(job, running):
    try:
        send({"id": job["id"], "result": await TASKS[job["task"]](job["args"])})
    except asyncio.CancelledError:        # {"cancel": id} came: answer anyway
        send({"id": job["id"], "error": "cancelled"})
    except Exception as e:                # the job failed: tq retries it
        send({"id": job["id"], "error": f"{type(e).__name__}: {e}"})
    finally:
        running.pop(job["id"], None)

async def main():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    running = {}                          # id -> the asyncio task running it
    while line := await reader.readline():    # b"" at EOF: the worker stops
        msg = json.loads(line)
        if "hello" in msg:                # ready (imports done): version 1
            send({"hello": 1})
        elif "cancel" in msg:
            if msg["cancel"] in running:
                running[msg["cancel"]].cancel()
        else:
            running[msg["id"]] = asyncio.create_task(run(msg, running))

asyncio.run(main())
