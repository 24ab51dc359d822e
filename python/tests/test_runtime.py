"""The task-server runtime through its pipe protocol: this test plays the
worker's side of docs/task-servers.md over `python3 -m tq.serve`."""
import json
import os
import select
import subprocess
import tempfile
import time
import unittest

import support


class Server:
    """python3 -m tq.serve serve_tasks, driven over its stdin/stdout."""

    def __init__(self, *modules):
        env = dict(os.environ, PYTHONPATH=support.PYDIR + os.pathsep + support.TESTS)
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(["python3", "-m", "tq.serve"] + list(modules or ["serve_tasks"]),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err, env=env, cwd=support.TESTS)
        self.buf = b""
        self.errtext = None

    def send(self, obj):
        line = obj if isinstance(obj, bytes) else (json.dumps(obj) + "\n").encode()
        self.p.stdin.write(line)
        self.p.stdin.flush()

    def read(self, timeout=10):
        """The next line as a dict (None at EOF)."""
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no line from the server in %ss" % timeout)
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def answer(self, timeout=10):
        """The next answer line, skipping progress lines."""
        while True:
            msg = self.read(timeout)
            if msg is None or "progress" not in msg:
                return msg

    def hello(self, tasks=()):
        self.send({"hello": 1, "tasks": list(tasks), "inflight": 100})
        return self.read()

    def job(self, jid, task, args=None, deadline=None):
        self.send({"id": jid, "task": task, "args": args, "attempt": 1, "deadline": deadline,
                   "queue": "default"})

    def close(self):
        """Closes its stdin (EOF), waits for it; its stderr text."""
        if self.errtext is None:
            if not self.p.stdin.closed:
                self.p.stdin.close()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
            self.p.stdout.close()
            self.err.seek(0)
            self.errtext = self.err.read().decode()
            self.err.close()
        return self.errtext


class RuntimeTest(unittest.TestCase):
    def setUp(self):
        self.s = Server()
        self.addCleanup(self.s.close)

    def test_hello_and_args(self):
        self.assertEqual(self.s.hello(["add", "kw"]), {"hello": 1})
        self.s.job("a", "add", [2, 3])
        self.assertEqual(self.s.read(), {"id": "a", "result": 5})
        self.s.job("k", "kw", {"name": "tq", "greeting": "hi"})
        self.assertEqual(self.s.read(), {"id": "k", "result": "hi tq"})
        self.s.job("e", "echo", [1, {"x": None}])
        self.assertEqual(self.s.read(), {"id": "e", "result": {"args": [1, {"x": None}],
                                                               "job": "e"}})
        self.s.job("s", "sleep", 10)  # a scalar is one argument
        self.assertEqual(self.s.read(), {"id": "s", "result": 10})
        self.s.job("b", "blocking", 20)  # a plain def, in a thread
        self.assertEqual(self.s.read(), {"id": "b", "result": "slept 20"})

    def test_a_newer_worker_gets_version_1_and_unknown_keys_are_ignored(self):
        self.s.send({"hello": 7, "tasks": ["add"], "inflight": 1, "future": True})
        self.assertEqual(self.s.read(), {"hello": 1})
        self.s.send({"id": "a", "task": "add", "args": [1, 1], "attempt": 1, "deadline": None,
                     "queue": "q", "trace": "x"})
        self.assertEqual(self.s.read(), {"id": "a", "result": 2})
        self.s.send({"something": "new"})
        self.s.job("b", "add", [2, 2])
        self.assertEqual(self.s.read(), {"id": "b", "result": 4})

    def test_errors_bad_output_and_bad_input(self):
        self.s.hello()
        self.s.job("x", "boom", "it broke")
        self.assertEqual(self.s.read(), {"id": "x", "error": "ValueError: it broke"})
        self.s.job("n", "notjson")
        ans = self.s.read()
        self.assertEqual(ans["id"], "n")
        self.assertTrue(ans["error"].startswith("result is not JSON-serialisable"), ans)
        self.s.job("u", "no-such-task", 1)
        self.assertEqual(self.s.read(), {"id": "u", "error": "no handler for task 'no-such-task' "
                                                              "in this server"})
        self.s.job("t", "add", [1])  # wrong arity: the handler's TypeError
        self.assertTrue(self.s.read()["error"].startswith("TypeError: "))
        self.s.job("h", "huge_error")  # a long message is cut, the answer stays small
        ans = self.s.read()
        self.assertEqual(len(ans["error"]), 8192)
        self.assertTrue(ans["error"].startswith("RuntimeError: xxx") and ans["error"].endswith("..."))
        self.s.send(b"this is not json\n")
        self.s.send(b"[1,2]\n")
        self.s.job("c", "chatty")  # print() must not reach the protocol
        self.assertEqual(self.s.read(), {"id": "c", "result": "quiet"})
        err = self.s.close()
        self.assertIn("ValueError: it broke", err)  # the traceback went to stderr
        self.assertIn("Traceback", err)
        self.assertIn("this goes to stderr, not the protocol", err)
        self.assertIn("not JSON", err)

    def test_progress_then_answer(self):
        self.s.hello()
        self.s.job("p", "steps", 3)
        got = [self.s.read() for _ in range(4)]
        self.assertEqual(got, [{"id": "p", "progress": {"done": 1, "of": 3}},
                               {"id": "p", "progress": {"done": 2, "of": 3}},
                               {"id": "p", "progress": {"done": 3, "of": 3}},
                               {"id": "p", "result": 3}])

    def test_cancel_raises_cancelled_error_in_the_handler(self):
        self.s.hello()
        self.s.job("f", "forever")
        self.s.job("g", "stubborn")
        time.sleep(0.2)
        self.s.send({"cancel": "f", "reason": "cancelled"})
        self.assertEqual(self.s.answer(), {"id": "f", "error": "stopped (cancelled)"})
        self.s.send({"cancel": "g", "reason": "shutdown"})
        self.assertEqual(self.s.answer(), {"id": "g", "result": "cleaned up"})
        self.s.send({"cancel": "never-seen"})  # ignored
        self.s.job("a", "add", [1, 2])
        self.assertEqual(self.s.answer(), {"id": "a", "result": 3})
        self.assertIn("forever: cancelled", self.s.close())

    def test_cancel_right_behind_the_job_still_answers(self):
        self.s.hello()
        for i in range(20):  # the cancel lands before the job's task ran
            self.s.job("r%d" % i, "forever")
            self.s.send({"cancel": "r%d" % i, "reason": "cancelled"})
        got = sorted(self.s.answer()["id"] for _ in range(20))
        self.assertEqual(got, sorted("r%d" % i for i in range(20)))

    def test_deadline_is_kept(self):
        self.s.hello()
        t0 = time.time()
        self.s.job("d", "forever", deadline=t0 + 0.3)
        self.assertEqual(self.s.answer(), {"id": "d", "error": "timed out"})
        self.assertLess(time.time() - t0, 2)
        self.s.job("d2", "forever", deadline=t0 - 10)  # already past
        self.assertEqual(self.s.answer(), {"id": "d2", "error": "timed out"})

    def test_many_jobs_at_once_on_one_loop(self):
        self.s.hello()
        t0 = time.monotonic()
        for i in range(300):
            self.s.job("j%d" % i, "sleep", 300)
        got = {}
        for _ in range(300):
            ans = self.s.read()
            got[ans["id"]] = ans["result"]
        took = time.monotonic() - t0
        self.assertEqual(got, {"j%d" % i: 300 for i in range(300)})
        self.assertLess(took, 3)  # together, not 300 x 0.3 s

    def test_eof_stops_running_jobs(self):
        self.s.hello()
        self.s.job("f", "forever")
        time.sleep(0.2)
        t0 = time.monotonic()
        err = self.s.close()
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(self.s.p.returncode, 0)
        self.assertIn("forever: cancelled", err)

    def test_bad_module_exits_2(self):
        s = Server("no_such_module_here")
        s.p.stdin.close()
        s.p.wait(10)
        self.assertEqual(s.p.returncode, 2)
        self.assertIn("cannot import no_such_module_here", s.close())


if __name__ == "__main__":
    unittest.main()
