"""Finding libtq.so and declaring the part of include/tq/tq.h the client uses.

The one idea: ctypes needs no compiler at install time, so the package is
pure Python and the C library is found when a client is first made (never at
`import tq`: the task-server runtime does not need libtq at all). Every
declaration here mirrors include/tq/tq.h; tests/test_layout.py checks the
tq_submit_opts layout against the C compiler's.
"""
import ctypes
import os
import threading

# ---------------------------------------------------------------- constants

TQ_OK = 0
TQ_EFAILED = -1
TQ_EINVAL = -2
TQ_ETIMEDOUT = -3
TQ_ECANCELLED = -4
TQ_ENOTFOUND = -5
TQ_EREDIS = -6
TQ_ENOMEM = -7
TQ_EPROTO = -8
TQ_EDURABLE = -9

TQ_ID_MAX = 40
TQ_ID_SIZE = TQ_ID_MAX + 1
TQ_NAME_MAX = 128
TQ_STATE_CANCELLED = 7

IdBuf = ctypes.c_char * TQ_ID_SIZE


class SubmitOpts(ctypes.Structure):
    """struct tq_submit_opts, field by field (ctypes applies the C ABI's
    natural alignment, as the compiler does)."""
    _fields_ = [
        ("queue", ctypes.c_char_p),
        ("priority", ctypes.c_int),
        ("delay_ms", ctypes.c_int64),
        ("at", ctypes.c_double),
        ("timeout_ms", ctypes.c_int64),
        ("max_retries", ctypes.c_int),
        ("backoff_ms", ctypes.c_int64),
        ("result_ttl_ms", ctypes.c_int64),
        ("max_lost", ctypes.c_int),
        ("semaphore", ctypes.c_char_p),
        ("unique", ctypes.c_char_p),
        ("max_args", ctypes.c_size_t),
        ("durable", ctypes.c_int),
        ("durable_timeout_ms", ctypes.c_int64),
        ("rate_limit", ctypes.c_char_p),
        ("fair_key", ctypes.c_char_p),
    ]


class GroupInfo(ctypes.Structure):
    """struct tq_group_info."""
    _fields_ = [
        ("id", IdBuf),
        ("queue", ctypes.c_char * (TQ_NAME_MAX + 1)),
        ("fanin", IdBuf),
        ("fanin_state", ctypes.c_int),
        ("total", ctypes.c_size_t),
        ("done", ctypes.c_size_t),
        ("ok", ctypes.c_size_t),
        ("sealed", ctypes.c_int),
        ("finished", ctypes.c_int),
        ("created_at", ctypes.c_double),
        ("finished_at", ctypes.c_double),
        ("count", ctypes.c_size_t * (TQ_STATE_CANCELLED + 1)),
    ]


# ---------------------------------------------------------------- finding it

class LibraryNotFound(ImportError):
    """libtq.so could not be loaded; the message says where it looked."""


_HOW = ("build it with `make` in the tq repository and set TQ_LIBTQ=/path/to/build/libtq.so, "
        "or `make install` (then pkg-config tq finds it)")


def _candidates():
    import ctypes.util  # here: they cost the runtime's start-up ~20 ms otherwise
    import subprocess
    env = os.environ.get("TQ_LIBTQ")
    if env:
        yield "TQ_LIBTQ", os.path.join(env, "libtq.so") if os.path.isdir(env) else env
        return  # an explicit choice is not second-guessed
    try:
        out = subprocess.run(["pkg-config", "--variable=libdir", "tq"], capture_output=True,
                             text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            yield "pkg-config tq", os.path.join(out.stdout.strip(), "libtq.so")
    except (OSError, subprocess.SubprocessError):
        pass
    # run from the repository: python/tq/_lib.py -> <repo>/build/libtq.so
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.exists(os.path.join(repo, "include", "tq", "tq.h")):
        yield "the repository's build/", os.path.join(repo, "build", "libtq.so")
    yield "the system loader", ctypes.util.find_library("tq") or "libtq.so.0"


_lib = None
_lock = threading.Lock()


def lib():
    """The loaded libtq with its prototypes declared (loaded once)."""
    global _lib
    with _lock:
        if _lib is None:
            tried = []
            for where, path in _candidates():
                try:
                    handle = ctypes.CDLL(path)
                    handle.tq_submit  # a libtq, not some other libtq.so
                except (OSError, AttributeError) as e:
                    tried.append("%s (%s): %s" % (where, path, e))
                    continue
                _declare(handle)
                _lib = handle
                break
            else:
                raise LibraryNotFound("tq: cannot load libtq.so; tried " + "; ".join(tried)
                                      + ". To fix: " + _HOW)
        return _lib


def _declare(L):
    P, I, I64, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_char_p
    sz = ctypes.c_size_t
    protos = {
        "tq_strerror": (S, [I]),
        "tq_client_new_timeout": (P, [S, S, I64]),
        "tq_client_free": (None, [P]),
        "tq_client_err": (I, [P]),
        "tq_client_errstr": (S, [P]),
        "tq_submit_opts_init": (None, [ctypes.POINTER(SubmitOpts)]),
        "tq_duration_parse": (I, [S, ctypes.POINTER(I64)]),
        "tq_submit": (I, [P, S, S, ctypes.POINTER(SubmitOpts), IdBuf]),
        "tq_submit_many": (I, [P, S, ctypes.POINTER(S), sz, ctypes.POINTER(SubmitOpts),
                               ctypes.POINTER(IdBuf)]),
        "tq_submit_chain": (I, [P, ctypes.POINTER(S), sz, S, ctypes.POINTER(SubmitOpts),
                                ctypes.POINTER(IdBuf)]),
        "tq_group_submit": (I, [P, S, ctypes.POINTER(S), sz, ctypes.POINTER(SubmitOpts), S,
                                IdBuf, IdBuf, ctypes.POINTER(IdBuf)]),
        "tq_group_status": (I, [P, S, ctypes.POINTER(GroupInfo)]),
        "tq_group_wait": (I, [P, S, I64, P, P, ctypes.POINTER(ctypes.POINTER(P)),
                              ctypes.POINTER(sz)]),
        "tq_group_cancel": (I, [P, S, ctypes.POINTER(sz), ctypes.POINTER(sz)]),
        "tq_status": (I, [P, S, ctypes.POINTER(P)]),
        "tq_result": (I, [P, S, ctypes.POINTER(P)]),
        "tq_wait": (I, [P, ctypes.POINTER(S), sz, I64, ctypes.POINTER(P)]),
        "tq_cancel": (I, [P, S, ctypes.POINTER(I)]),
        "tq_job_json": (P, [P]),
        "tq_job_free": (None, [P]),
        "tq_jobs_free": (None, [ctypes.POINTER(P), sz]),
        "tq_state_name": (S, [I]),
    }
    for name, (res, args) in protos.items():
        fn = getattr(L, name)
        fn.restype = res
        fn.argtypes = args


_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]
_libc.free.restype = None


def take_string(ptr):
    """Copies a malloc'd C string the library handed over, then frees it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        _libc.free(ptr)
