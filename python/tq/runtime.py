"""The asyncio task-server runtime: @tq.task handlers served to a
`tq-worker --task-server` over the protocol of docs/task-servers.md.

One idea: the worker does the hard part (leases, retries, timeouts,
semaphores), so this side is a loop that reads job lines from stdin, runs
each job as an asyncio task on one event loop (many at once, up to the
worker's --server-inflight), and writes one answer line per job to stdout.
A cancel line (cancel, timeout, shutdown) cancels that job's task, so the
handler sees asyncio.CancelledError where it awaits; the job's deadline is
kept here too. stdout belongs to the protocol: it is moved to a private
descriptor at start, and fd 1 and sys.stdout are pointed at stderr, so a
stray print() (or a child process) in a handler cannot corrupt the stream.
"""
import asyncio
import collections
import contextvars
import inspect
import json
import os
import sys
import time
import traceback

PROTOCOL_VERSION = 1
READ_LIMIT = 64 << 20  # longest line read from the worker (its args are smaller)
WRITE_HIGH = 1 << 20   # bytes queued for the worker before a handler waits
ERROR_MAX = 8192       # longest error text sent (a job's error is for people)

Task = collections.namedtuple("Task", "name fn raw")
JobInfo = collections.namedtuple("JobInfo", "id task args attempt deadline queue")
JobInfo.__doc__ = "The job a handler runs for (tq.current_job()): deadline is Unix seconds or None."

_registry = {}
_current = contextvars.ContextVar("tq_current_job", default=None)


# ---------------------------------------------------------------- registering

def task(name=None, *, raw=False):
    """Registers a handler: `@tq.task("resize")` on an `async def` (a plain
    def runs in a thread; it cannot be interrupted by a cancel). How the
    job's args reach it (the way Celery's delay(*args, **kwargs) does):
    a JSON array is spread as positional arguments, an object as keyword
    arguments, null as none, any other value as one argument. raw=True
    passes the args value as one argument whatever it is (for fan-in jobs,
    which get the list of the members' results). Bare `@tq.task` uses the
    function's name."""
    if callable(name):
        return task(None)(name)

    def deco(fn):
        n = name or fn.__name__
        if not isinstance(n, str) or not n:
            raise ValueError("tq.task: a task name is a non-empty string")
        old = _registry.get(n)
        if old is not None and old.fn is not fn:
            raise ValueError("tq.task: %r is registered twice (%s and %s)"
                             % (n, _qual(old.fn), _qual(fn)))
        _registry[n] = Task(n, fn, raw)
        return fn
    return deco


def _qual(fn):
    return "%s.%s" % (getattr(fn, "__module__", "?"), getattr(fn, "__qualname__", fn))


def registered():
    """The names of the registered tasks."""
    return sorted(_registry)


def current_job():
    """The JobInfo of the job the calling handler runs for (None outside one)."""
    return _current.get()


async def progress(value):
    """Reports the job's progress (any JSON value; the worker rate-limits it
    and `tq wait`/Client watchers see it). Only inside a handler."""
    job = _current.get()
    srv = _server
    if job is None or srv is None:
        raise RuntimeError("tq.progress() is called from inside a task handler")
    line = _dumps({"id": job.id, "progress": value})  # TypeError when not JSON
    await srv.send_line(line)


def _dumps(obj):
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError("not JSON-serialisable: %s" % e) from None


def _log(fmt, *args):
    sys.stderr.write("tq.serve[%d]: %s\n" % (os.getpid(), fmt % args if args else fmt))
    sys.stderr.flush()


# ---------------------------------------------------------------- the server

_server = None


class _Server:
    def __init__(self, tasks, reader, writer):
        self.tasks = tasks
        self.reader = reader
        self.writer = writer
        self.jobs = {}      # id -> asyncio.Task
        self.running = set()  # ids whose task has started (a task cancelled
                              # before its first step would never answer)
        self.reasons = {}   # id -> why it was stopped ("cancelled", "timeout", ...)
        self.said_hello = False
        self.out = []       # lines queued for the next write
        self.flushing = False

    async def send_line(self, line):
        """Queues one line; the lines of one turn of the loop go out in one
        write. Waits only when the pipe is backed up (the worker is slow)."""
        self.out.append(line)
        if not self.flushing:
            self.flushing = True
            asyncio.get_running_loop().call_soon(self.flush)
        if self.writer.transport.get_write_buffer_size() > WRITE_HIGH:
            await self.writer.drain()

    def flush(self):
        self.flushing = False
        if self.out:
            data = "\n".join(self.out).encode("utf-8") + b"\n"
            self.out.clear()
            if not self.writer.transport.is_closing():
                self.writer.write(data)

    async def send(self, obj):
        await self.send_line(_dumps(obj))

    # -------------------------------------------------------- reading

    async def run(self):
        while True:
            try:
                line = await self.reader.readline()
            except ValueError:  # over READ_LIMIT: the reader dropped it
                _log("dropped a line over %d bytes", READ_LIMIT)
                continue
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                _log("dropped a line that is not JSON: %.80r", line)
                continue
            if not isinstance(msg, dict):
                _log("dropped a line that is not an object: %.80r", line)
                continue
            if "hello" in msg:
                await self.hello(msg)
            elif "cancel" in msg:
                self.cancel(msg.get("cancel"), msg.get("reason") or "cancelled")
            elif "id" in msg and "task" in msg:
                self.start(msg)
            # anything else: a later version's line; ignored
        await self.shutdown()

    async def hello(self, msg):
        v = msg.get("hello")
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            _log("the worker speaks protocol %r; this runtime speaks %d", v, PROTOCOL_VERSION)
            raise SystemExit(2)
        missing = [t for t in msg.get("tasks") or [] if t not in self.tasks]
        if missing:
            _log("no handler for %s (registered: %s)", ", ".join(map(str, missing)),
                 ", ".join(sorted(self.tasks)) or "none")
        self.said_hello = True
        await self.send({"hello": min(v, PROTOCOL_VERSION)})

    def start(self, msg):
        jid = msg.get("id")
        if not isinstance(jid, str) or jid in self.jobs:
            _log("dropped a job line with a bad or running id: %.80r", jid)
            return
        deadline = msg.get("deadline")
        if not isinstance(deadline, (int, float)) or isinstance(deadline, bool):
            deadline = None
        job = JobInfo(jid, msg.get("task"), msg.get("args"), msg.get("attempt"), deadline,
                      msg.get("queue"))
        t = asyncio.get_running_loop().create_task(self.run_job(job))
        self.jobs[jid] = t

    def cancel(self, jid, reason):
        t = self.jobs.get(jid)
        if t is None:
            return  # answered already, or never ours
        self.reasons.setdefault(jid, reason)
        if jid in self.running:
            t.cancel()
        # else run_job sees the reason when it starts and answers at once

    # -------------------------------------------------------- one job

    async def run_job(self, job):
        _current.set(job)  # this task's own context: progress() finds the job
        loop = asyncio.get_running_loop()
        timer = None
        self.running.add(job.id)
        try:
            if job.id in self.reasons:  # stopped before it started
                raise asyncio.CancelledError()
            if job.deadline is not None:
                # a little after the worker's own timer, which then speaks first
                delay = max(0.0, job.deadline - time.time() + 0.1)
                timer = loop.call_later(delay, self.cancel, job.id, "timeout")
            answer = await self.call(job)
        except asyncio.CancelledError:
            reason = self.reasons.get(job.id, "shutdown")
            answer = _answer(job.id, "error", "timed out" if reason == "timeout"
                             else "stopped (%s)" % reason)
        finally:
            if timer is not None:
                timer.cancel()
        self.jobs.pop(job.id, None)
        self.reasons.pop(job.id, None)
        self.running.discard(job.id)
        try:
            await self.send_line(answer)
        except (ConnectionError, OSError):
            pass  # the worker went away; run() sees EOF

    async def call(self, job):
        """Runs the handler; its answer line."""
        t = self.tasks.get(job.task)
        if t is None:
            return _answer(job.id, "error", "no handler for task %r in this server" % job.task)
        a, kw = ((job.args,), {}) if t.raw else _spread(job.args)
        try:
            if inspect.iscoroutinefunction(t.fn):
                result = await t.fn(*a, **kw)
            else:
                ctx = contextvars.copy_context()
                result = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: ctx.run(t.fn, *a, **kw))
                if inspect.isawaitable(result):
                    result = await result
        except asyncio.CancelledError:
            raise
        except Exception as e:
            _log("job %s (%s) raised:\n%s", job.id, job.task, traceback.format_exc().rstrip())
            return _answer(job.id, "error", _describe(e))
        try:
            return _answer(job.id, "result", result)
        except TypeError as e:
            _log("job %s (%s): its result is %s", job.id, job.task, e)
            return _answer(job.id, "error", "result is %s" % e)

    async def shutdown(self):
        """stdin closed: the worker is gone or stopping. Cancel what runs and
        give each a moment to answer."""
        for jid in list(self.jobs):
            self.cancel(jid, "shutdown")
        if self.jobs:
            await asyncio.wait(list(self.jobs.values()), timeout=5)
        self.flush()
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            pass


def _answer(jid, key, value):
    """The line {"id": jid, key: value}; TypeError when value is not JSON."""
    return '{"id":%s,"%s":%s}' % (json.dumps(jid), key, _dumps(value))


def _spread(args):
    if isinstance(args, list):
        return tuple(args), {}
    if isinstance(args, dict):
        return (), args
    if args is None:
        return (), {}
    return (args,), {}


def _describe(e):
    """"ExcType: message", at most ERROR_MAX characters (the traceback,
    whole, is on stderr)."""
    try:
        text = str(e)
    except Exception:
        text = "(its str() failed)"
    name = type(e).__name__
    out = "%s: %s" % (name, text) if text else name
    return out if len(out) <= ERROR_MAX else out[:ERROR_MAX - 3] + "..."


# ---------------------------------------------------------------- serving

def serve(tasks=None):
    """Serves the registered tasks (or those given: a dict name -> function,
    or a list of decorated functions' names) on stdin/stdout until stdin
    closes: what `tq-worker --task-server NAME=COMMAND` runs. Returns 0."""
    table = dict(_registry)
    if tasks is not None:
        table = {n: _registry[n] for n in tasks} if not isinstance(tasks, dict) else \
            {n: Task(n, f, False) for n, f in tasks.items()}
    # the protocol gets a private copy of fd 1; fd 1 itself becomes stderr
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        return asyncio.run(_main(table, proto_fd))
    except KeyboardInterrupt:
        return 130


async def _main(table, proto_fd):
    global _server
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    wt, wp = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                           os.fdopen(proto_fd, "wb", buffering=0))
    writer = asyncio.StreamWriter(wt, wp, None, loop)
    _server = _Server(table, reader, writer)
    if not table:
        _log("no tasks registered (decorate async functions with @tq.task(NAME))")
    try:
        await _server.run()
    finally:
        _server = None
        wt.close()
    return 0
