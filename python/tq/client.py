"""tq.Client: the blocking client, on libtq's tq_client through ctypes.

One idea: a tq_client belongs to one thread at a time (include/tq/tq.h), so
a Client keeps one per thread that uses it (made on first use, freed when
the thread ends or at close()). Threads share a Client freely and never
queue behind one another's waits. Long waits run in slices (WAIT_SLICE) so
that Ctrl-C, and AsyncClient's cancellation, are noticed promptly.
"""
import collections
import ctypes
import datetime
import json
import math
import os
import threading
import time
import weakref

from . import _lib
from .errors import Error, InvalidArgument, JobCancelled, JobFailed, NoSuchJob, Timeout, from_code

WAIT_SLICE = 0.5  # seconds: the longest a single tq_wait call blocks

Group = collections.namedtuple("Group", "id fanin ids")
Group.__doc__ = "A submitted group: its id, the fan-in job's id (None without then=), member ids."

# submit option -> (field of tq_submit_opts, kind)
_OPTS = {
    "queue": ("queue", "name"),
    "priority": ("priority", "int"),
    "delay": ("delay_ms", "duration"),
    "at": ("at", "time"),
    "timeout": ("timeout_ms", "duration"),
    "retries": ("max_retries", "int"),
    "backoff": ("backoff_ms", "duration"),
    "result_ttl": ("result_ttl_ms", "duration"),
    "max_lost": ("max_lost", "int"),
    "semaphore": ("semaphore", "name"),
    "unique": ("unique", "name"),
    "max_args": ("max_args", "int"),
    "durable": ("durable", "int"),
    "durable_timeout": ("durable_timeout_ms", "duration"),
    "rate_limit": ("rate_limit", "name"),
    "fair_key": ("fair_key", "name"),
}


def _b(text):
    return None if text is None else str(text).encode("utf-8")


def _json_text(value, what="args"):
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise InvalidArgument("%s is not JSON-serialisable: %s" % (what, e)) from None


def duration_ms(value, name="duration"):
    """Milliseconds of a duration: seconds (int or float), a timedelta, or
    tq's text ("250ms", "30s", "5m", "1h"; a bare number is seconds)."""
    if isinstance(value, bool):
        raise InvalidArgument("%s: not a duration: %r" % (name, value))
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise InvalidArgument("%s: not a duration: %r" % (name, value))
        return int(round(value * 1000))
    if isinstance(value, str):
        out = ctypes.c_int64()
        if _lib.lib().tq_duration_parse(value.encode("utf-8"), ctypes.byref(out)):
            raise InvalidArgument("%s: not a duration: %r (a number of seconds, or 250ms, "
                                  "30s, 5m, 1h)" % (name, value))
        return out.value
    raise InvalidArgument("%s: not a duration: %r" % (name, value))


def make_opts(opts):
    """A tq_submit_opts from keyword options (tq submit's flags with _ for -).
    Returns (struct, keepalive): the bytes the struct points at must live as
    long as it is used."""
    L = _lib.lib()
    o = _lib.SubmitOpts()
    L.tq_submit_opts_init(ctypes.byref(o))
    keep = []
    for key, value in opts.items():
        if key not in _OPTS:
            raise InvalidArgument("unknown submit option %r (known: %s)"
                                  % (key, ", ".join(sorted(_OPTS))))
        if value is None:
            continue
        field, kind = _OPTS[key]
        if kind == "name":
            v = _b(value)
            keep.append(v)
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgument("%s: not an integer: %r" % (key, value))
            v = value
        elif kind == "duration":
            v = duration_ms(value, key)
        else:  # time
            if isinstance(value, datetime.datetime):
                value = value.timestamp()
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise InvalidArgument("at: not a Unix time: %r" % (value,))
            v = float(value)
        try:
            setattr(o, field, v)
        except (TypeError, OverflowError) as e:
            raise InvalidArgument("%s: %s" % (key, e)) from None
    return o, keep


def _ids(arr, n):
    return [arr[i].value.decode() for i in range(n)]


def _batch(texts):
    """For a call on n jobs: a C array of the n byte strings texts and n id
    buffers for the ids it makes. Returns (arr, ids, n)."""
    n = len(texts)
    return (ctypes.c_char_p * max(n, 1))(*texts), (_lib.IdBuf * max(n, 1))(), n


def _records(L, jobs, n):
    """The records (dicts) of n tq_job pointers (None where one is NULL);
    the jobs stay the caller's to free."""
    return [json.loads(_lib.take_string(L.tq_job_json(jobs[i]))) if jobs[i] else None
            for i in range(n)]


class Deadline:
    """A wait's time limit cut into slices of at most WAIT_SLICE seconds
    (timeout: a duration; None: no limit). Client and AsyncClient share it."""

    def __init__(self, timeout):
        self.at = None if timeout is None else time.monotonic() + \
            duration_ms(timeout, "timeout") / 1000.0

    def next_slice(self):
        """Seconds the next slice may block (0 once the limit is past)."""
        if self.at is None:
            return WAIT_SLICE
        return max(min(WAIT_SLICE, self.at - time.monotonic()), 0)

    def over(self):
        return self.at is not None and time.monotonic() >= self.at


class _Handle:
    """One tq_client (for one thread); freed once, by close() or when its
    thread's local storage goes."""
    __slots__ = ("ptr", "__weakref__")

    def __init__(self, ptr):
        self.ptr = ptr

    def free(self):
        ptr, self.ptr = self.ptr, None
        if ptr:
            _lib.lib().tq_client_free(ptr)

    def __del__(self):
        try:
            self.free()
        except Exception:  # interpreter shutdown
            pass


class Client:
    """The blocking client. redis: a URL (default $TQ_REDIS_URL, else
    redis://127.0.0.1:6379/0); namespace (default $TQ_NAMESPACE, else "tq");
    connect_timeout: seconds a Sentinel URL keeps trying (default 10).
    Raises tq.RedisError when Redis cannot be reached, tq.InvalidArgument
    for a bad URL, tq.LibraryNotFound when libtq.so is not found."""

    def __init__(self, redis=None, namespace=None, connect_timeout=None, _eager=True):
        _lib.lib()
        self._url = _b(redis or os.environ.get("TQ_REDIS_URL") or None)
        self._ns = _b(namespace or os.environ.get("TQ_NAMESPACE") or None)
        self._cto = 0 if connect_timeout is None else duration_ms(connect_timeout,
                                                                  "connect_timeout")
        self._local = threading.local()
        self._handles = weakref.WeakSet()
        self._hlock = threading.Lock()
        self._closed = False
        if _eager:
            self._h()

    # ------------------------------------------------------------ plumbing

    def _h(self):
        """This thread's tq_client, connected on first use."""
        h = getattr(self._local, "h", None)
        if h is not None and h.ptr:
            return h.ptr
        if self._closed:
            raise Error("tq: the client is closed")
        L = _lib.lib()
        ptr = L.tq_client_new_timeout(self._url, self._ns, self._cto)
        if not ptr:
            raise MemoryError("tq_client_new")
        err = L.tq_client_err(ptr)
        if err:
            msg = (L.tq_client_errstr(ptr) or b"").decode("utf-8", "replace")
            L.tq_client_free(ptr)
            raise from_code(err, msg or L.tq_strerror(err).decode())
        h = _Handle(ptr)
        with self._hlock:
            self._handles.add(h)
        self._local.h = h
        return ptr

    def _raise(self, c, rv, job_id=None):
        L = _lib.lib()
        msg = (L.tq_client_errstr(c) or b"").decode("utf-8", "replace")
        raise from_code(rv, msg or L.tq_strerror(rv).decode(), job_id)

    def close(self):
        """Frees every connection (of every thread). Idempotent."""
        self._closed = True
        with self._hlock:
            hs = list(self._handles)
        for h in hs:
            h.free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ submitting

    def submit(self, task, args=None, **opts):
        """Enqueues one job; returns its id. args: any JSON-serialisable value."""
        c = self._h()
        o, keep = make_opts(opts)
        idb = _lib.IdBuf()
        rv = _lib.lib().tq_submit(c, _b(task), _json_text(args), ctypes.byref(o), idb)
        if rv and rv != _lib.TQ_EDURABLE:
            self._raise(c, rv)
        if rv:
            self._durable(c, rv, [idb.value.decode()])
        return idb.value.decode()

    def _durable(self, c, rv, ids):
        try:
            self._raise(c, rv)
        except Error as e:
            e.ids = ids
            raise

    def _made(self, c, rv, ids, n):
        """The ids a call on n jobs made; raises (with them) when rv says so."""
        if rv:
            self._durable(c, rv, _ids(ids, n))
        return _ids(ids, n)

    def submit_many(self, task, args_list, **opts):
        """Enqueues one job per args, pipelined; returns the ids in order. On
        a failure partway the exception's `ids` has "" for the jobs not made."""
        c = self._h()
        o, keep = make_opts(opts)
        arr, ids, n = _batch([_json_text(a) for a in args_list])
        rv = _lib.lib().tq_submit_many(c, _b(task), arr, n, ctypes.byref(o), ids)
        return self._made(c, rv, ids, n)

    def chain(self, tasks, args=None, **opts):
        """A chain: tasks[0] runs with args, each later task with the result
        of the one before. Returns every id, head first."""
        c = self._h()
        arr, ids, n = _batch([_b(t) for t in tasks])
        o, keep = make_opts(opts)
        rv = _lib.lib().tq_submit_chain(c, arr, n, _json_text(args), ctypes.byref(o), ids)
        return self._made(c, rv, ids, n)

    def group(self, task, args_list, then=None, **opts):
        """Fan-out: one job of task per args, in one group. With then=TASK2,
        a fan-in job that gets the list of the members' results. Returns a
        Group(id, fanin, ids)."""
        c = self._h()
        o, keep = make_opts(opts)
        arr, ids, n = _batch([_json_text(a) for a in args_list])
        gid, fanin = _lib.IdBuf(), _lib.IdBuf()
        rv = _lib.lib().tq_group_submit(c, _b(task), arr, n, ctypes.byref(o), _b(then),
                                        gid, fanin, ids)
        return Group(gid.value.decode(), fanin.value.decode() or None,
                     self._made(c, rv, ids, n))

    # ------------------------------------------------------------ reading

    def status(self, job_id):
        """The job's record as a dict (`tq status --json`): state, attempt,
        times, args, result, error, ..."""
        c = self._h()
        L = _lib.lib()
        job = ctypes.c_void_p()
        rv = L.tq_status(c, _b(job_id), ctypes.byref(job))
        if rv:
            self._raise(c, rv, job_id)
        try:
            return json.loads(_lib.take_string(L.tq_job_json(job)))
        finally:
            L.tq_job_free(job)

    def result(self, job_id):
        """The result of a succeeded job, without waiting: raises Timeout
        when it has not finished, JobFailed / JobCancelled, NoSuchJob."""
        c = self._h()
        out = ctypes.c_void_p()
        rv = _lib.lib().tq_result(c, _b(job_id), ctypes.byref(out))
        if rv:
            self._raise(c, rv, job_id)
        return json.loads(_lib.take_string(out.value))

    def cancel(self, job_id):
        """Cancels the job; returns the state it was in ("pending", "active",
        ...; a terminal job is left as it is)."""
        c = self._h()
        L = _lib.lib()
        before = ctypes.c_int()
        rv = L.tq_cancel(c, _b(job_id), ctypes.byref(before))
        if rv:
            self._raise(c, rv, job_id)
        return L.tq_state_name(before.value).decode()

    # ------------------------------------------------------------ waiting

    def _wait_slice(self, ids, seconds):
        """One tq_wait of at most `seconds`: the records (dicts) when every
        job is terminal, None when the slice ran out."""
        c = self._h()
        L = _lib.lib()
        n = len(ids)
        arr = (ctypes.c_char_p * n)(*[_b(i) for i in ids])
        out = (ctypes.c_void_p * n)()
        rv = L.tq_wait(c, arr, n, max(0, int(seconds * 1000)), out)
        try:
            recs = _records(L, out, n)
        finally:
            for i in range(n):
                if out[i]:
                    L.tq_job_free(out[i])
        if rv == _lib.TQ_ETIMEDOUT:
            return None
        if rv:
            self._raise(c, rv, ids[0] if n == 1 else None)
        return recs

    def wait(self, job_id, timeout=None):
        """Blocks until the job is terminal; returns its result. A list of
        ids waits for all and returns their results in order. Raises
        JobFailed, JobCancelled (for the first job, in order, that did not
        succeed), Timeout, NoSuchJob, RedisError."""
        ids = [job_id] if isinstance(job_id, str) else list(job_id)
        recs = self._sliced(self._wait_slice, ids, timeout, ", ".join(ids[:3]),
                            ids[0] if len(ids) == 1 else None)
        results = [outcome(r, i) for r, i in zip(recs, ids)]
        return results[0] if isinstance(job_id, str) else results

    def _sliced(self, slice_fn, key, timeout, what, job_id):
        """slice_fn(key, seconds) again and again until it returns records,
        or Timeout (waiting for what) once timeout is over."""
        d = Deadline(timeout)
        while True:
            recs = slice_fn(key, d.next_slice())
            if recs is not None:
                return recs
            if d.over():
                raise Timeout("timed out waiting for %s" % what, job_id=job_id)

    def _group_slice(self, gid, seconds):
        c = self._h()
        L = _lib.lib()
        arr = ctypes.POINTER(ctypes.c_void_p)()
        n = ctypes.c_size_t()
        rv = L.tq_group_wait(c, _b(gid), max(0, int(seconds * 1000)), None, None,
                             ctypes.byref(arr), ctypes.byref(n))
        try:
            recs = _records(L, arr, n.value) if arr else []
        finally:
            if arr:
                L.tq_jobs_free(arr, n.value)
        if rv == _lib.TQ_ETIMEDOUT:
            return None
        if rv:
            self._raise(c, rv, gid)
        return recs

    def group_wait(self, gid, timeout=None):
        """Waits for every member of a group; returns their results in
        submission order (raises as wait() does for a member that did not
        succeed)."""
        recs = self._sliced(self._group_slice, gid, timeout, "group %s" % gid, gid)
        return [outcome(r, None) for r in recs]

    def group_status(self, gid):
        """Where a group stands: a dict with id, queue, fanin, total, done,
        ok, sealed, finished, created_at, finished_at and counts per state."""
        c = self._h()
        L = _lib.lib()
        g = _lib.GroupInfo()
        rv = L.tq_group_status(c, _b(gid), ctypes.byref(g))
        if rv:
            self._raise(c, rv, gid)
        counts = {}
        for s in range(_lib.TQ_STATE_CANCELLED + 1):
            if g.count[s]:
                counts[L.tq_state_name(s).decode()] = g.count[s]
        return {"id": g.id.decode(), "queue": g.queue.decode(),
                "fanin": g.fanin.decode() or None,
                "fanin_state": L.tq_state_name(g.fanin_state).decode() if g.fanin else None,
                "total": g.total, "done": g.done, "ok": g.ok, "sealed": bool(g.sealed),
                "finished": bool(g.finished), "created_at": g.created_at,
                "finished_at": g.finished_at, "counts": counts}

    def group_cancel(self, gid):
        """Cancels every member not finished and the fan-in job; returns
        (cancelled now, running ones asked to stop)."""
        c = self._h()
        a, b = ctypes.c_size_t(), ctypes.c_size_t()
        rv = _lib.lib().tq_group_cancel(c, _b(gid), ctypes.byref(a), ctypes.byref(b))
        if rv:
            self._raise(c, rv, gid)
        return a.value, b.value


def outcome(rec, job_id):
    """A terminal record's result, or the exception its state stands for."""
    if rec is None:
        raise NoSuchJob("no such job '%s'" % job_id, job_id=job_id)
    jid = rec.get("id", job_id)
    state = rec.get("state")
    if state == "succeeded":
        return rec.get("result")
    err = rec.get("error") or state
    if state == "cancelled":
        e = JobCancelled("job %s was cancelled: %s" % (jid, err), job_id=jid)
    else:
        e = JobFailed("job %s failed: %s" % (jid, err), job_id=jid)
    e.error = err
    raise e
