"""What the Python tests share: a private redis-server on a free port, real
tq-worker processes, and the paths of the repository's build.

The pattern of tests/integration/lib.sh in Python: a test owns what it
starts (started on a free port, waited on until it answers, stopped by its
pid) and nothing else. TQ_BIN names the build directory (default: the
repository's build/); libtq.so is taken from there (TQ_LIBTQ).
"""
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import unittest

TESTS = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(TESTS)
REPO = os.path.dirname(PYDIR)
BIN = os.path.abspath(os.environ.get("TQ_BIN") or os.path.join(REPO, "build"))
os.environ.setdefault("TQ_LIBTQ", os.path.join(BIN, "libtq.so"))
if PYDIR not in sys.path:
    sys.path.insert(0, PYDIR)

import tq  # noqa: E402  (after the path is set)


def free_port():
    for _ in range(100):
        p = random.randint(20000, 59999)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", p)) != 0:
                return p
    raise RuntimeError("no free TCP port")


def wait_until(pred, secs=10.0, step=0.05):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def have_bins():
    return all(os.access(os.path.join(BIN, b), os.X_OK) for b in ("tq", "tq-worker", "libtq.so"))


def worker_has_task_servers():
    try:
        out = subprocess.run([os.path.join(BIN, "tq-worker"), "--help"], capture_output=True,
                             text=True, timeout=10)
    except OSError:
        return False
    return "--task-server" in out.stdout + out.stderr


class Redis:
    """A private, non-persistent redis-server; .url, .stop()."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tq-py-")
        for _ in range(5):
            self.port = free_port()
            self.log = open(os.path.join(self.dir, "redis.log"), "w")
            self.proc = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                 "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
                stdout=self.log, stderr=subprocess.STDOUT)
            # _ours also ends the wait when the server died (its port was
            # taken between free_port and the bind): then try another port
            if wait_until(self._ours, 10) and self.proc.poll() is None:
                self.url = "redis://127.0.0.1:%d/0" % self.port
                return
            self.stop()
        raise RuntimeError("redis-server did not start")

    def _ours(self):
        if self.proc.poll() is not None:
            return True  # stop waiting: it died
        out = subprocess.run(["redis-cli", "-p", str(self.port), "info", "server"],
                             capture_output=True, text=True)
        return ("process_id:%d" % self.proc.pid) in out.stdout

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port)] + list(args),
                              capture_output=True, text=True).stdout.strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


class Worker:
    """A tq-worker on the test's redis and namespace; its log in .logfile."""

    def __init__(self, redis, namespace, *args, env=None):
        self.logfile = os.path.join(redis.dir, "worker-%d.log" % random.randrange(1 << 30))
        self.log = open(self.logfile, "w")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([os.path.join(BIN, "tq-worker"), "--redis", redis.url,
                                      "--namespace", namespace] + list(args),
                                     stdout=self.log, stderr=subprocess.STDOUT, env=e,
                                     start_new_session=True)

    def text(self):
        with open(self.logfile) as f:
            return f.read()

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class RedisTest(unittest.TestCase):
    """One redis-server for the class, a namespace per test."""

    @classmethod
    def setUpClass(cls):
        if not have_bins():
            raise unittest.SkipTest("%s lacks tq, tq-worker or libtq.so: run make" % BIN)
        cls.redis = Redis()

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()

    def setUp(self):
        self.ns = "tqpy-%s-%d" % (self._testMethodName[:40], os.getpid())
        self.workers = []

    def tearDown(self):
        for w in self.workers:
            w.stop()
            # an ASan/UBSan build's report fails the test (make asan, lib.sh's rule)
            text = w.text()
            for mark in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
                self.assertNotIn(mark, text, "the worker's log:\n" + text[-4000:])

    def worker(self, *args, env=None):
        w = Worker(self.redis, self.ns, *args, env=env)
        self.workers.append(w)
        return w

    def client(self):
        c = tq.Client(self.redis.url, self.ns)
        self.addCleanup(c.close)
        return c
