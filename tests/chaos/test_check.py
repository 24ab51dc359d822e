#!/usr/bin/env python3
"""Tests of the chaos checker (chaos/check.py): synthetic run directories,
written exactly per the contract of docs/chaos.md, and one collect against a
throwaway redis-server.

    python3 tests/chaos/test_check.py [-v]
"""

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "chaos"))
import check  # noqa: E402
import resp  # noqa: E402

T0 = 1_800_000_000.0


class Synth:
    """A clean chaos run in memory: every kind once, one worker; write() lays
    it out as a run directory."""

    def __init__(self):
        self.params = {"seed": 42, "seconds": 60, "jobs": 30, "prefix": "tqc1",
                       "url": "redis+sentinel://127.0.0.1:1/m/0", "namespace": "chaos",
                       "queue": "chaos", "lease_s": 3, "sem_capacity": 4,
                       "hosts": {"w1": "10.0.0.11"}, "t_start": T0,
                       "t_faults_end": T0 + 50, "t_settled": T0 + 60}
        self.submits, self.recs, self.groups = [], {}, {}
        self.exec, self.logs, self.faults = {}, {}, []
        self.workers = [{"host": "w1", "n": 0, "pid": 100, "log": "workers/w1-0.log",
                         "t_start": T0 - 1, "t_end": None, "end": None},
                        {"host": "w2", "n": 0, "pid": 200, "log": "workers/w2-0.log",
                         "t_start": T0 - 1, "t_end": None, "end": None}]
        self.extra_final = []
        self.dead = ["t1"]
        self.clean()

    # ---------------------------------------------------------------- parts
    def submit(self, op, args, ids, rc=0, t0=T0, **kw):
        s = {"op": op, "t0": t0, "t1": t0 + 0.01, "rc": rc, "args": args, "ids": ids,
             "group": None, "fanin": None, "err": ""}
        s.update(kw)
        self.submits.append(s)
        return s

    def rec(self, id_, args, state="succeeded", result=None, **kw):
        r = {"task": "chaos.rec", "args": json.dumps(args, separators=(",", ":")),
             "state": state, "attempt": "1", "tok": "1", "created_at": "%.6f" % T0}
        if state == "succeeded":
            r["result"] = json.dumps(result if result is not None else {"n": args["n"]},
                                     separators=(",", ":"))
        r.update({k: str(v) for k, v in kw.items()})
        self.recs[id_] = r
        return r

    def run(self, id_, args, t, dur=0.1, pid=100, att=1, tok=1, out="ok", why=None,
            log="succeeded", host=None):
        host = host or ("w1" if pid == 100 else "w2")
        n = args.get("n") if isinstance(args, dict) else None
        k = args.get("k") if isinstance(args, dict) else "fanin"
        lines = self.exec.setdefault(pid, [])
        lines.append({"ev": "start", "id": id_, "att": att, "tok": str(tok), "host": host,
                      "pid": pid, "t": t, "k": k, "n": n, "args": args})
        if out is not None:
            e = {"ev": "end", "id": id_, "att": att, "tok": str(tok), "t": t + dur, "out": out}
            if why:
                e["why"] = why
            lines.append(e)
        if log:
            self.log(pid, id_, att, log)

    def log(self, pid, id_, att, word, event=False):
        line = {"ts": "2027-01-15T08:00:00.000Z", "level": "info", "msg": "job",
                "job": id_, "attempt": str(att)}
        if event:
            line["event"] = word
        else:
            line.update({"task": "chaos.rec", "outcome": word})
        self.logs.setdefault(pid, []).append(line)

    def plain(self, id_, n, t=T0 + 1, **kw):
        a = {"n": n, "k": "plain", "ms": 10}
        self.submit("submit", [a], [id_], t0=t - 0.5)
        self.rec(id_, a)
        self.run(id_, a, t, **kw)
        return a

    def clean(self):
        self.plain("p1", 1)
        many = [{"n": 2 + i, "k": "plain", "ms": 5} for i in range(3)]
        self.submit("submit-many", many, ["m1", "m2", "m3"])
        for i, a in enumerate(many):
            self.rec("m%d" % (i + 1), a)
            self.run("m%d" % (i + 1), a, T0 + 2 + i)
        a = {"n": 5, "k": "retry", "ms": 5, "f": 1}
        self.submit("submit", [a], ["r1"])
        self.rec("r1", a, attempt=2, tok=2, fails=1)
        self.run("r1", a, T0 + 3, out="fail", log="failed")
        self.run("r1", a, T0 + 4, att=2, tok=2)
        a = {"n": 6, "k": "timeout", "ms": 3000}
        self.submit("submit", [a], ["t1"])
        self.rec("t1", a, state="failed", error="timeout", attempt=2, tok=2, fails=2)
        self.run("t1", a, T0 + 3, dur=0.3, out="stop", why="timeout", log="timeout")
        self.run("t1", a, T0 + 5, dur=0.3, att=2, tok=2, out="stop", why="timeout",
                 log="timeout")
        a = {"n": 7, "k": "cancel", "ms": 3000}
        self.submit("submit", [a], ["c1"])
        self.submit("cancel", [], [], target="c1")
        self.rec("c1", a, state="cancelled", cancel=1)
        self.run("c1", a, T0 + 3, out="stop", why="cancelled", log="cancelled")
        # chain
        a = {"n": 8, "k": "chain", "step": 0, "ms": 5}
        self.submit("chain", [a], ["h0", "h1", "h2"])
        for i in range(3):
            ai = dict(a, step=i)
            self.rec("h%d" % i, ai, result=dict(a, step=i + 1),
                     **({"parent": "h%d" % (i - 1)} if i else {}))
            self.run("h%d" % i, ai, T0 + 6 + i)
        # group with a fan-in
        mem = [{"n": 9 + i, "k": "member", "g": 1, "i": i, "ms": 5} for i in range(3)]
        self.submit("group", mem, [], group="g1", fanin="f1")
        self.groups["g1"] = ["g1a", "g1b", "g1c"]
        for i, a in enumerate(mem):
            self.rec("g1" + "abc"[i], a, result={"n": a["n"], "i": i}, group="g1", gi=i)
            self.run("g1" + "abc"[i], a, T0 + 10 + 0.1 * i)
        fa = [{"n": 9 + i, "i": i} for i in range(3)]
        self.rec("f1", fa, result={"fanin": 3}, parent="g1")
        self.run("f1", fa, T0 + 11)
        # semaphore: four at once, the capacity
        for i in range(4):
            a = {"n": 12 + i, "k": "sem", "ms": 200}
            self.submit("submit", [a], ["s%d" % i], semaphore="chaos")
            self.rec("s%d" % i, a)
            self.run("s%d" % i, a, T0 + 12 + 0.01 * i, dur=0.2)
        # delayed
        a = {"n": 17, "k": "delay", "ms": 5, "d": 1.0}
        self.submit("submit", [a], ["d1"], t0=T0 + 13)
        self.rec("d1", a)
        self.run("d1", a, T0 + 14.1)

    # ---------------------------------------------------------------- files
    def write(self, d):
        os.makedirs(os.path.join(d, "exec"), exist_ok=True)
        os.makedirs(os.path.join(d, "workers"), exist_ok=True)

        def jl(path, lines):
            with open(os.path.join(d, path), "w") as f:
                for x in lines:
                    f.write(json.dumps(x) + "\n")
        with open(os.path.join(d, "params.json"), "w") as f:
            json.dump(self.params, f)
        jl("submits.jsonl", self.submits)
        jl("faults.jsonl", self.faults)
        jl("workers.jsonl", self.workers)
        for w in self.workers:
            jl(w["log"], self.logs.get(w["pid"], []))
            jl("exec/%s-%d.jsonl" % (w["host"], w["pid"]), self.exec.get(w["pid"], []))
        final = [{"meta": {"master": "x:1", "t": T0 + 60}}]
        final += [{"id": i, "rec": r} for i, r in self.recs.items()]
        final += [{"group": g, "members": m, "results": [], "rec": {}}
                  for g, m in self.groups.items()]
        final += self.extra_final
        final.append({"queues": {"sched": 0, "active": 0, "dead": len(self.dead),
                                 "job_keys": len(self.recs)}})
        final.append({"dead": self.dead})
        jl("final.jsonl", final)


def analyze(s, d):
    """Write the run, check it; (exit code, report.txt, report.json)."""
    s.write(d)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = check.main(["--out", d, "--no-collect"])
    rep = None
    if os.path.exists(os.path.join(d, "report.json")):
        with open(os.path.join(d, "report.json")) as f:
            rep = json.load(f)
    return rc, buf.getvalue(), rep


class TestAnalyze(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp(prefix="tqcheck.")
        self.s = Synth()

    def tearDown(self):
        shutil.rmtree(self.d, ignore_errors=True)

    def check(self, want_rc, want=None):
        rc, out, rep = analyze(self.s, self.d)
        self.assertEqual(rc, want_rc, out)
        last = out.strip().splitlines()[-1]
        if want_rc == 0:
            self.assertEqual(last, "PASS", out)
        elif want_rc == 1:
            self.assertTrue(last.startswith("FAIL: "), out)
            if want:
                self.assertIn(want, last, out)
        return rep, out

    def dup_p1(self, **kw):
        """p1 runs a second time on w2 after its first run on w1."""
        a = json.loads(self.s.recs["p1"]["args"])
        self.s.run("p1", a, T0 + 20, pid=200, att=2, tok=2, **kw)
        self.s.recs["p1"].update(attempt="2", tok="2")

    def test_clean_run_passes(self):
        rep, out = self.check(0)
        self.assertEqual(rep["lost"], 0)
        self.assertEqual(rep["acknowledged"], 19)
        self.assertEqual(rep["runs_retried"], 2)
        self.assertEqual(rep["states"], {"succeeded": 17, "failed": 1, "cancelled": 1})
        self.assertEqual(rep["sem_peak"], 4)
        self.assertEqual(rep["fanin_runs"], 1)
        self.assertEqual(rep["chains"], 1)
        self.assertTrue(os.path.exists(os.path.join(self.d, "report.txt")))

    def test_lost_job_fails(self):
        self.s.recs["m2"]["state"] = "pending"
        rep, _ = self.check(1, "lost (1)")
        self.assertEqual(rep["detail"]["lost"][0]["id"], "m2")

    def test_missing_record_is_lost(self):
        del self.s.recs["h2"]
        self.check(1, "lost (1)")

    def test_missing_unacknowledged_is_not_lost(self):
        self.s.submits[0]["rc"] = 7
        del self.s.recs["p1"]
        rep, _ = self.check(0)
        self.assertEqual((rep["lost"], rep["not_durable"], rep["not_durable_missing"]), (0, 1, 1))

    def test_unexplained_duplicate_fails(self):
        self.dup_p1()
        rep, _ = self.check(1, "unexplained duplicates (1)")
        self.assertEqual(rep["detail"]["dup_unexplained"][0]["id"], "p1")

    def test_duplicate_after_lost_lease_log_passes(self):
        self.dup_p1()
        self.s.log(100, "p1", 1, "lost")
        rep, _ = self.check(0)
        self.assertEqual(rep["dup_lease"], 1)

    def test_duplicate_after_refused_outcome_passes(self):
        self.dup_p1()
        self.s.log(100, "p1", 1, "refused", event=True)
        rep, _ = self.check(0)
        self.assertEqual((rep["dup_lease"], rep["fenced"]), (1, 1))

    def test_duplicate_of_a_stopped_worker_passes(self):
        self.dup_p1()
        self.s.recs["p1"]["lost"] = "1"
        self.s.faults.append({"kind": "stop", "target": "w1", "pid": 100, "t": T0 + 1.05,
                              "t_end": T0 + 9, "ok": True, "detail": ""})
        rep, _ = self.check(0)
        self.assertEqual(rep["dup_lease"], 1)

    def test_fault_without_lost_count_does_not_explain(self):
        self.dup_p1()
        self.s.faults.append({"kind": "stop", "target": "w1", "pid": 100, "t": T0 + 1.05,
                              "t_end": T0 + 9, "ok": True, "detail": ""})
        self.check(1, "unexplained duplicates (1)")

    def test_duplicate_after_give_back_passes(self):
        self.dup_p1()
        self.s.log(100, "p1", 1, "released")
        rep, _ = self.check(0)
        self.assertEqual(rep["dup_giveback"], 1)

    def test_duplicate_rolled_back_by_failover_passes(self):
        self.dup_p1()
        self.s.faults.append({"kind": "failover", "target": None, "pid": None, "t": T0 + 5,
                              "t_end": T0 + 8, "ok": True, "detail": ""})
        rep, out = self.check(0)
        self.assertEqual((rep["dup_failover"], rep["dup_unexplained"]), (1, 0))
        self.assertIn("rolled back by failover", out)

    def test_duplicate_near_a_redis_restart_is_counted_apart(self):
        self.dup_p1()
        self.s.faults.append({"kind": "restart-redis", "target": "r1", "pid": 9, "t": T0 + 5,
                              "t_end": T0 + 6, "ok": True, "detail": ""})
        rep, _ = self.check(0)
        self.assertEqual((rep["dup_failover"], rep["dup_failover_restart_only"]), (1, 1))

    def test_run_during_a_failover_is_rolled_back(self):
        self.dup_p1()
        self.s.faults.append({"kind": "failover", "target": None, "pid": None, "t": T0 + 0.5,
                              "t_end": T0 + 1.5, "ok": True, "detail": "OK"})
        rep, _ = self.check(0)
        self.assertEqual(rep["dup_failover"], 1)

    def test_failover_before_the_run_explains_nothing(self):
        self.dup_p1()
        self.s.faults.append({"kind": "failover", "target": None, "pid": None, "t": T0 + 0.2,
                              "t_end": T0 + 0.9, "ok": True, "detail": "OK"})
        self.check(1, "unexplained duplicates (1)")

    def test_refused_failover_explains_nothing(self):
        self.dup_p1()
        self.s.faults.append({"kind": "failover", "target": None, "pid": None, "t": T0 + 5,
                              "t_end": None, "ok": False, "detail": "NOGOODSLAVE"})
        rep, _ = self.check(1, "unexplained duplicates (1)")
        self.assertEqual(rep["faults"]["failover"], {"ok": 0, "refused": 1})

    def test_unexpected_id_fails(self):
        self.s.run("zz", {"n": 999, "k": "plain", "ms": 1}, T0 + 30)
        rep, _ = self.check(1, "unexpected (1)")
        self.assertIn("never submitted", rep["detail"]["unexpected"][0]["why"])

    def test_unexpected_scanned_key_fails(self):
        self.s.extra_final.append({"id": "zz", "scan": True,
                                   "rec": {"state": "pending", "args": '{"n":998}'}})
        self.check(1, "unexpected (1)")

    def test_job_of_an_unknown_submit_is_expected(self):
        a = {"n": 50, "k": "plain", "ms": 1}
        self.s.submit("submit", [a], [], rc=1)
        self.s.extra_final.append({"id": "u1", "scan": True,
                                   "rec": {"state": "succeeded", "args": '{"n":50,"k":"plain","ms":1}',
                                           "result": '{"n":50}'}})
        self.s.run("u1", a, T0 + 31)
        rep, _ = self.check(0)
        self.assertEqual(rep["unknown"], 1)

    def test_outcome_logged_for_unknown_id_fails(self):
        self.s.log(200, "ghost", 1, "succeeded")
        self.check(1, "unexpected (1)")

    def test_broken_fanin_fails(self):
        fa = [{"n": 10, "i": 1}, {"n": 9, "i": 0}, {"n": 11, "i": 2}]
        self.s.exec[100] = [x for x in self.s.exec[100] if x.get("id") != "f1"]
        self.s.run("f1", fa, T0 + 11)
        rep, _ = self.check(1, "fan-in broken (1)")
        self.assertIn("expected", rep["detail"]["fanin_broken"][0]["why"])

    def test_fanin_that_never_ran_fails(self):
        self.s.exec[100] = [x for x in self.s.exec[100] if x.get("id") != "f1"]
        self.s.recs["f1"]["state"] = "pending"
        self.check(1, "fan-in broken (1)")

    def test_semaphore_overrun_fails(self):
        a = {"n": 60, "k": "sem", "ms": 200}
        self.s.submit("submit", [a], ["s9"], semaphore="chaos")
        self.s.rec("s9", a)
        self.s.run("s9", a, T0 + 12.1, pid=200)
        rep, _ = self.check(1, "semaphore peak 5 > capacity 4")
        self.assertEqual(rep["sem_peak_raw"], 5)

    def test_semaphore_overrun_under_a_fault_is_not_counted(self):
        a = {"n": 60, "k": "sem", "ms": 200}
        self.s.submit("submit", [a], ["s9"], semaphore="chaos")
        self.s.rec("s9", a)
        self.s.run("s9", a, T0 + 12.1, pid=200)
        self.s.faults.append({"kind": "restart-redis", "target": "r1", "pid": 9, "t": T0 + 9,
                              "t_end": T0 + 10, "ok": True, "detail": ""})
        rep, _ = self.check(0)
        self.assertEqual((rep["sem_peak_raw"], rep["sem_peak"]), (5, 0))

    def test_token_reuse_fails(self):
        self.dup_p1()
        self.s.exec[200][-2]["tok"] = "1"
        self.s.exec[200][-1]["tok"] = "1"
        self.s.log(100, "p1", 1, "lost")
        rep, _ = self.check(1, "token reused (1)")
        self.assertEqual(rep["dup_unexplained"], 0)

    def test_chain_out_of_order_fails(self):
        ex = self.s.exec[100]
        for x in ex:
            if x.get("id") == "h1":
                x["t"] = T0 + 6.05 if x["ev"] == "start" else T0 + 6.15
        rep, _ = self.check(1, "chain broken (1)")
        self.assertIn("before link 0 succeeded", rep["detail"]["chain_broken"][0]["why"])

    def test_chain_wrong_step_fails(self):
        for x in self.s.exec[100]:
            if x.get("id") == "h2" and x["ev"] == "start":
                x["args"] = dict(x["args"], step=1)
        self.check(1, "chain broken (1)")

    def test_early_delayed_job_fails(self):
        for x in self.s.exec[100]:
            if x.get("id") == "d1":
                x["t"] -= 0.5
        rep, _ = self.check(1, "delayed jobs run early (1)")
        self.assertEqual(rep["detail"]["delayed_early"][0]["id"], "d1")

    def test_timeout_that_succeeded_fails(self):
        self.s.recs["t1"].update(state="succeeded", result='{"n":6}', error="")
        self.check(1, "wrong outcome (1)")

    def test_worker_lost_is_reported_not_failed(self):
        self.s.recs["m1"].update(state="failed", error="worker lost")
        del self.s.recs["m1"]["result"]
        self.s.dead.append("m1")
        rep, _ = self.check(0)
        self.assertEqual(rep["worker_lost"], 1)

    def test_plain_job_failed_fails(self):
        self.s.recs["m3"].update(state="failed", error="chaos: planned failure")
        self.check(1, "wrong outcome (1)")

    def test_failed_job_not_dead_lettered_fails(self):
        self.s.dead = []
        rep, _ = self.check(1, "dead-letter list mismatch (1 failed not in it, 0 in it not failed)")
        self.assertEqual(rep["detail"]["dead_missing"], ["t1"])

    def test_missing_inputs_exit_2(self):
        self.s.write(self.d)
        os.unlink(os.path.join(self.d, "submits.jsonl"))
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = check.main(["--out", self.d, "--no-collect"])
        self.assertEqual(rc, 2)
        self.assertIn("submits.jsonl", buf.getvalue())
        self.assertEqual(len(buf.getvalue().strip().splitlines()), 1)

    def test_broken_line_exit_2(self):
        self.s.write(self.d)
        with open(os.path.join(self.d, "exec", "w1-100.jsonl"), "a") as f:
            f.write('{"ev":"start","id":\n')
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = check.main(["--out", self.d, "--no-collect"])
        self.assertEqual(rc, 2)

    def test_no_run_directory_exit_2(self):
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(check.main(["--out", self.d + "/nope", "--no-collect"]), 2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(shutil.which("redis-server"), "no redis-server")
class TestCollect(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.mkdtemp(prefix="tqcheck.")
        self.proc = None
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", self.d, "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(50):
                try:
                    with resp.Redis("127.0.0.1", self.port, connect_timeout=0.2) as r:
                        if r.call("PING") == "PONG":
                            return
                except OSError:
                    time.sleep(0.05)
                if self.proc.poll() is not None:
                    break
            self.proc.kill()
            self.proc.wait()
        self.fail("redis-server did not start")

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()   # ours, by its pid
            self.proc.wait()
        shutil.rmtree(self.d, ignore_errors=True)

    def test_collect_reads_records_groups_and_strays(self):
        s = Synth()
        s.write(self.d)
        os.unlink(os.path.join(self.d, "final.jsonl"))
        with resp.Redis("127.0.0.1", self.port) as r:
            cmds = []
            for i, rec in s.recs.items():
                flat = [x for kv in rec.items() for x in kv]
                cmds.append(["HSET", "chaos:{chaos}:j:" + i] + flat)
            cmds.append(["RPUSH", "chaos:{chaos}:gm:g1"] + s.groups["g1"])
            cmds.append(["HSET", "chaos:{chaos}:j:stray", "state", "pending", "args", '{"n":777}'])
            cmds.append(["RPUSH", "chaos:{chaos}:p0", "stray"])
            cmds.append(["HSET", "chaos:{chaos}:stats", "processed", "5"])
            rep = r.pipeline(cmds)
            self.assertFalse([x for x in rep if isinstance(x, resp.RespError)])
            # errors come back in place in a pipeline, and raise from call()
            e = r.pipeline([("LLEN", "chaos:{chaos}:j:p1"), ("PING",)])
            self.assertIsInstance(e[0], resp.RespError)
            self.assertEqual(e[1], "PONG")
            with self.assertRaises(resp.RespError):
                r.call("LLEN", "chaos:{chaos}:j:p1")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = check.main(["--out", self.d, "--redis", "127.0.0.1:%d" % self.port])
        with open(os.path.join(self.d, "final.jsonl")) as f:
            lines = [json.loads(x) for x in f]
        recs = {x["id"]: x for x in lines if "id" in x}
        self.assertEqual(recs["p1"]["rec"]["state"], "succeeded")
        self.assertEqual(recs["g1b"]["rec"]["group"], "g1")   # found through the group only
        self.assertTrue(recs["stray"].get("scan"))
        self.assertNotIn("scan", recs["p1"])
        grp = [x for x in lines if "group" in x][0]
        self.assertEqual(grp["members"], ["g1a", "g1b", "g1c"])
        self.assertEqual([x for x in lines if "dead" in x], [{"dead": []}])
        q = [x for x in lines if "queues" in x][0]["queues"]
        self.assertEqual((q["p0"], q["stats"]["processed"], q["job_keys"]),
                         (1, "5", len(s.recs) + 1))
        # the stray key is reported, and nothing else
        self.assertEqual(rc, 1, buf.getvalue())
        self.assertIn("FAIL: unexpected (1)", buf.getvalue())

    def test_collect_finds_the_master_through_a_sentinel(self):
        sport = free_port()
        conf = os.path.join(self.d, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor m 127.0.0.1 %d 1\n"
                    % (sport, self.d, self.port))
        sent = subprocess.Popen(["redis-server", conf, "--sentinel"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            s = Synth()
            # the first sentinel is down: the next one answers
            s.params["url"] = "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d/m/0" % (free_port(), sport)
            s.write(self.d)
            for _ in range(50):
                try:
                    with resp.Redis("127.0.0.1", sport, connect_timeout=0.2) as r:
                        r.call("PING")
                        break
                except OSError:
                    time.sleep(0.05)
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                rc = check.main(["--out", self.d])
            with open(os.path.join(self.d, "final.jsonl")) as f:
                meta = json.loads(f.readline())["meta"]
            self.assertEqual(meta["master"], "127.0.0.1:%d" % self.port, buf.getvalue())
            self.assertEqual(rc, 1)   # an empty broker: every acknowledged job is lost
            self.assertIn("FAIL: lost (19)", buf.getvalue())
        finally:
            sent.kill()   # ours, by its pid
            sent.wait()

    def test_collect_unreachable_redis_exit_2(self):
        Synth().write(self.d)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            rc = check.main(["--out", self.d, "--redis", "127.0.0.1:%d" % free_port()])
        self.assertEqual(rc, 2)
        self.assertIn("collect", buf.getvalue())


if __name__ == "__main__":
    unittest.main()
