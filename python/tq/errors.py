"""tq's errors as exceptions: one class per code of include/tq/tq.h.

Every exception carries `code` (the negative TQ_E* value), `exit_code` (the
`tq` command line's exit status for it, README's exit-code table), `message` (libtq's text)
and, where one job is concerned, `job_id`.
"""

from . import _lib


class Error(Exception):
    """Base of every tq error."""
    code = _lib.TQ_EREDIS
    exit_code = 6

    def __init__(self, message, code=None, job_id=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.job_id = job_id


class JobFailed(Error):
    """The job failed (every attempt); `message` is its error."""
    code, exit_code = _lib.TQ_EFAILED, 1


class InvalidArgument(Error, ValueError):
    """Usage or invalid input, refused before anything reached Redis."""
    code, exit_code = _lib.TQ_EINVAL, 2


class Timeout(Error, TimeoutError):
    """Timed out waiting, or the result of a job not finished yet."""
    code, exit_code = _lib.TQ_ETIMEDOUT, 3


class JobCancelled(Error):
    """The job was cancelled (or an input of its chain or group did not succeed)."""
    code, exit_code = _lib.TQ_ECANCELLED, 4


class NoSuchJob(Error, LookupError):
    """No such job or group (or its record expired)."""
    code, exit_code = _lib.TQ_ENOTFOUND, 5


class RedisError(Error):
    """Redis unreachable, answered an error, or answered what tq cannot decode."""
    code, exit_code = _lib.TQ_EREDIS, 6


class DurableError(Error):
    """A durable submit was accepted but fewer replicas confirmed it in time;
    the jobs exist: `ids` holds them."""
    code, exit_code = _lib.TQ_EDURABLE, 7
    ids = ()


_BY_CODE = {
    _lib.TQ_EFAILED: JobFailed,
    _lib.TQ_EINVAL: InvalidArgument,
    _lib.TQ_ETIMEDOUT: Timeout,
    _lib.TQ_ECANCELLED: JobCancelled,
    _lib.TQ_ENOTFOUND: NoSuchJob,
    _lib.TQ_EREDIS: RedisError,
    _lib.TQ_ENOMEM: RedisError,
    _lib.TQ_EPROTO: RedisError,
    _lib.TQ_EDURABLE: DurableError,
}


def from_code(code, message, job_id=None):
    """The exception for a TQ_E* code (RedisError for an unknown one)."""
    return _BY_CODE.get(code, RedisError)(message, code=code, job_id=job_id)
