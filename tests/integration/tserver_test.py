#!/usr/bin/env python3
"""The task server the integration tests run (protocol 1, standard library).

  tserver_test.py [MODE]   MODE: ok (default), stubborn (ignores cancels),
                           nohello (never says hello), v2 (answers hello 2)
Each start appends "PID MODE" to the file $TS_STARTS (when set), and each
cancel line received "ID REASON" to $TS_CANCELS.
Tasks, by the last part of their name (t.noop, x.noop, ...): noop (result =
args), sleep (args: seconds), progress (three progress values, then
"done"), fail (error = args), die (os._exit(3) at attempt 1, result
"survived" later), bad (bad lines first, then its result, then a second
answer; args "long": a line over 1 MiB with its id instead), env (the TQ_*
variables it sees), job (the job's line as it came).
"""
import asyncio, json, os, sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "ok"

def note(var, text):
    path = os.environ.get(var)
    if path:
        with open(path, "a") as f:
            f.write(text + "\n")

def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()

async def t_noop(job):
    return job["args"]

async def t_sleep(job):
    await asyncio.sleep(job["args"])
    return job["args"]

async def t_progress(job):
    for i in range(3):
        send({"id": job["id"], "progress": {"step": i + 1, "of": 3}})
        await asyncio.sleep(0.3)
    return "done"

async def t_fail(job):
    raise RuntimeError(job["args"])

async def t_die(job):
    if job["attempt"] == 1:
        await asyncio.sleep(0.2)
        os._exit(3)
    return "survived"

async def t_bad(job):
    sys.stdout.write("this is not json\n")
    sys.stdout.write("[1,2,3]\n")
    sys.stdout.write('{"id": "no-such-job", "result": 1}\n')
    sys.stdout.write('{"id": %s}\n' % json.dumps(job["id"]))
    sys.stdout.write('{"id": %s, "result": "%s"}\n' % (json.dumps(job["id"]) if job["args"] == "long" else '"other-id"', "x" * 2000000))
    sys.stdout.flush()
    if job["args"] == "long":
        return None  # the long line above failed this job already
    send({"id": job["id"], "result": "fine"})
    send({"id": job["id"], "result": "second"})
    raise asyncio.CancelledError  # no answer from run(): sent above

async def t_job(job):
    return job

async def t_env(job):
    return {k: v for k, v in os.environ.items() if k.startswith("TQ_")}

TASKS = {"noop": t_noop, "sleep": t_sleep, "progress": t_progress,
         "fail": t_fail, "die": t_die, "bad": t_bad, "env": t_env, "job": t_job}

def kind(job):
    return job["task"].rsplit(".", 1)[-1]

async def run(job, running):
    try:
        r = await TASKS[kind(job)](job)
        if kind(job) != "bad":
            send({"id": job["id"], "result": r})
    except asyncio.CancelledError:
        if kind(job) != "bad":
            send({"id": job["id"], "error": "cancelled"})
    except Exception as e:
        send({"id": job["id"], "error": str(e)})
    finally:
        running.pop(job["id"], None)

async def main():
    note("TS_STARTS", "%d %s" % (os.getpid(), MODE))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    running = {}
    while line := await reader.readline():
        msg = json.loads(line)
        if "hello" in msg:
            if MODE == "nohello":
                continue
            send({"hello": 2 if MODE == "v2" else 1})
        elif "cancel" in msg:
            note("TS_CANCELS", "%s %s" % (msg["cancel"], msg.get("reason")))
            if MODE != "stubborn" and msg["cancel"] in running:
                running[msg["cancel"]].cancel()
        else:
            running[msg["id"]] = asyncio.create_task(run(msg, running))

asyncio.run(main())
