#!/usr/bin/env python3
"""The chaos checker: account for every job of a chaos run.

    chaos/check.py --out OUT [--redis HOST:PORT] [--no-collect]

Two steps. *collect* reads from the broker's master every job record the
analysis needs (the ids of submits.jsonl, of the execution records and the
worker logs, every group's members, and a SCAN for job keys nobody named)
and writes them to OUT/final.jsonl. *analyze* is pure: it reads only the run
directory (params.json, submits.jsonl, faults.jsonl, workers.jsonl,
workers/*.log, exec/*.jsonl, final.jsonl), prints the table (also
OUT/report.txt), writes OUT/report.json, and exits 1 on any violation, 0
when there is none, 2 when the inputs are missing or broken.

The one idea: every claim the table makes is built from two independent
witnesses, what the broker holds at the end (final.jsonl) and what the
handlers did (the plugin's exec records, one write(2) per line, so they
survive a SIGKILL), and a duplicate run is forgiven only when a third
witness (a worker log line or a recorded fault) says why it happened.
The rules are written down in docs/chaos.md, "Checker".
"""

import argparse
import glob
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resp  # noqa: E402

TERMINAL = ("succeeded", "failed", "cancelled")
STATES = ("waiting", "scheduled", "pending", "active") + TERMINAL
# Kinds whose end state is decided by the workload alone: anything but
# `succeeded` is a violation unless a recorded cause explains it.
DETERMINISTIC = ("plain", "retry", "sem", "delay", "chain", "member", "fanin")
WORKER_FAULTS = ("kill", "stop", "term", "cut")
REDIS_FAULTS = ("failover", "restart-redis")
ROLLBACK_WINDOW = 10.0   # (c): a failover this long after a run may undo its ack
SEM_WINDOW = 5.0         # semaphore runs this close to a Redis fault are not counted
FAULT_SLACK = 0.5        # clock slack when matching a run to a worker fault
DELAY_SLACK = 0.05
LIST_MAX = 10
DEAD_CAP = 10000         # the dead-letter list keeps the newest 10,000
INF = math.inf


class InputError(Exception):
    """The run directory is missing a file or holds a broken one (exit 2)."""


# ============================================================ reading files

def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError("missing %s" % path)
    except (OSError, ValueError) as e:
        raise InputError("cannot read %s: %s" % (path, e))


def read_jsonl(path, required=True):
    """Every line as an object. A line that is not JSON is a broken input:
    our writers append whole lines, so a torn one means the file is not
    what the contract says."""
    if not os.path.exists(path):
        if required:
            raise InputError("missing %s" % path)
        return []
    out = []
    with open(path, errors="replace") as f:
        for no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise InputError("%s:%d: not JSON (%s)" % (path, no, e))
    return out


def as_int(v, default=None):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def parse_args_json(text):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def arg_n(a):
    return a.get("n") if isinstance(a, dict) else None


def arg_kind(a):
    if isinstance(a, list):
        return "fanin"
    if isinstance(a, dict):
        return a.get("k")
    return None


# ============================================================ collect

def parse_sentinel_url(url):
    """redis+sentinel://H:P,H:P/NAME/DB -> ([(H, P)], NAME)."""
    if not url.startswith("redis+sentinel://"):
        raise InputError("params.json url is not redis+sentinel://: %s" % url)
    rest = url[len("redis+sentinel://"):]
    hosts, _, path = rest.partition("/")
    if "@" in hosts:
        hosts = hosts.rsplit("@", 1)[1]
    name = path.split("/")[0] or "m"
    addrs = []
    for hp in hosts.split(","):
        h, _, p = hp.rpartition(":")
        addrs.append((h.strip("[]"), int(p or 26379)))
    return addrs, name


def find_master(params):
    """The master's address: each sentinel's answer in turn, the first one
    whose ROLE says master (a sentinel cut off during the run may still name
    the old one)."""
    addrs, name = parse_sentinel_url(params["url"])
    errs, seen = [], []
    for h, p in addrs:
        try:
            with resp.Redis(h, p, connect_timeout=3, timeout=5) as s:
                r = s.call("SENTINEL", "get-master-addr-by-name", name)
        except (OSError, resp.RespError) as e:
            errs.append("sentinel %s:%d: %s" % (h, p, e))
            continue
        if not r:
            errs.append("sentinel %s:%d: no master %s" % (h, p, name))
            continue
        addr = (r[0], int(r[1]))
        if addr in seen:
            continue
        seen.append(addr)
        try:
            with resp.Redis(addr[0], addr[1], connect_timeout=3, timeout=5) as m:
                role = m.call("ROLE")
        except (OSError, resp.RespError) as e:
            errs.append("%s:%d: %s" % (addr[0], addr[1], e))
            continue
        if role and role[0] == "master":
            return addr
        errs.append("%s:%d is a %s" % (addr[0], addr[1], role[0] if role else "?"))
    raise ConnectionError("no master found: " + "; ".join(errs))


def wanted_ids(out):
    """Ids the analysis needs records of, and the group ids to list."""
    ids, groups = set(), set()
    for s in read_jsonl(os.path.join(out, "submits.jsonl")):
        ids.update(i for i in s.get("ids") or [] if i)
        for k in ("fanin", "target"):
            if s.get(k):
                ids.add(s[k])
        if s.get("group"):
            groups.add(s["group"])
    for path in glob.glob(os.path.join(out, "exec", "*.jsonl")):
        for r in read_jsonl(path):
            if r.get("id"):
                ids.add(r["id"])
    for path in glob.glob(os.path.join(out, "workers", "*.log")):
        for r in log_lines(path):
            if r.get("job"):
                ids.add(r["job"])
    return ids, groups


def collect(out, redis_addr=None, batch=500):
    """Read the broker's view of the run into OUT/final.jsonl."""
    params = read_json(os.path.join(out, "params.json"))
    ns, q = params.get("namespace", "chaos"), params.get("queue", "chaos")
    base = "%s:{%s}:" % (ns, q)
    if redis_addr:
        h, _, p = redis_addr.rpartition(":")
        host, port = h, int(p)
    else:
        host, port = find_master(params)
    ids, groups = wanted_ids(out)
    lines = []
    with resp.Redis(host, port, connect_timeout=5, timeout=60) as r:
        role = r.call("ROLE")
        lines.append({"meta": {"master": "%s:%d" % (host, port), "role": role[0] if role else None,
                               "t": time.time()}})
        glist = sorted(groups)
        for i in range(0, len(glist), batch):
            part = glist[i:i + batch]
            cmds = []
            for g in part:
                cmds += [("LRANGE", base + "gm:" + g, 0, -1), ("LRANGE", base + "gr:" + g, 0, -1),
                         ("HGETALL", base + "g:" + g)]
            rep = r.pipeline(cmds)
            for j, g in enumerate(part):
                gm, gr, gh = rep[3 * j:3 * j + 3]
                for x in (gm, gr, gh):
                    if isinstance(x, resp.RespError):
                        raise x
                lines.append({"group": g, "members": gm, "results": gr, "rec": resp.pairs(gh)})
                ids.update(gm)
        # every job key, to find the ones nobody named
        scanned, bad, cur = set(), [], "0"
        jp = base + "j:"
        while True:
            cur, keys = r.call("SCAN", cur, "MATCH", jp + "*", "COUNT", 1000)
            for k in keys:
                rest = k[len(jp):]
                if ":" in rest:
                    bad.append(k)
                else:
                    scanned.add(rest)
            if cur == "0":
                break
        extra = scanned - ids
        allids = sorted(ids) + sorted(extra)
        for i in range(0, len(allids), batch):
            part = allids[i:i + batch]
            rep = r.pipeline([("HGETALL", jp + x) for x in part])
            for x, rec in zip(part, rep):
                if isinstance(rec, resp.RespError):
                    lines.append({"id": x, "rec": None, "err": str(rec)})
                    continue
                line = {"id": x, "rec": resp.pairs(rec)}
                if x in extra:
                    line["scan"] = True
                lines.append(line)
        for k in bad:
            lines.append({"badkey": k})
        cmds = [("LLEN", base + "p%d" % i) for i in range(10)]
        cmds += [("ZCARD", base + "sched"), ("ZCARD", base + "active"), ("ZCARD", base + "dead"),
                 ("LLEN", base + "wake"), ("HGETALL", base + "stats"),
                 ("ZCARD", "%s:sem:h:%s" % (ns, ns)), ("LLEN", "%s:sem:w:%s" % (ns, ns)),
                 ("HGETALL", "%s:sem:cap" % ns)]
        rep = [None if isinstance(x, resp.RespError) else x for x in r.pipeline(cmds)]
        queues = {"p%d" % i: rep[i] for i in range(10)}
        queues.update({"sched": rep[10], "active": rep[11], "dead": rep[12], "wake": rep[13],
                       "stats": resp.pairs(rep[14]) or {}, "sem_holders": rep[15],
                       "sem_waiters": rep[16], "sem_cap": resp.pairs(rep[17]) or {},
                       "job_keys": len(scanned), "bad_keys": len(bad)})
        lines.append({"queues": queues})
        dead = r.call("ZRANGE", base + "dead", 0, -1)
        lines.append({"dead": dead})
    tmp = os.path.join(out, "final.jsonl.tmp")
    with open(tmp, "w") as f:
        for line in lines:
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
    os.replace(tmp, os.path.join(out, "final.jsonl"))
    return len(allids)


# ============================================================ analysis model

def log_lines(path):
    """JSON lines of a worker log (lines for people, not JSON, skipped)."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


class Run:
    """One execution of a handler: an exec start record and its end."""
    __slots__ = ("id", "att", "tok", "pid", "host", "t", "k", "n", "args", "end", "t_end",
                 "words")

    def __init__(self, r):
        self.id, self.att, self.tok = r["id"], as_int(r.get("att")), str(r.get("tok"))
        self.pid, self.host, self.t = as_int(r.get("pid")), r.get("host"), float(r["t"])
        self.args = r.get("args")
        self.k = r.get("k") or arg_kind(self.args)
        self.n = r.get("n") if r.get("n") is not None else arg_n(self.args)
        self.end, self.t_end, self.words = None, None, set()

    def brief(self):
        e = self.end
        return {"host": self.host, "pid": self.pid, "att": self.att, "tok": self.tok,
                "t": round(self.t, 3), "t_end": None if self.t_end is None else round(self.t_end, 3),
                "end": None if e is None else (e.get("out") + ("/" + e["why"] if e.get("why") else "")),
                "log": sorted(self.words)}


class Job:
    """What the submits say about one job id."""
    __slots__ = ("id", "cmd", "cls", "kind", "n", "arg", "t0", "role")

    def __init__(self, id_, cmd, cls, kind, n, arg, t0, role):
        self.id, self.cmd, self.cls, self.kind = id_, cmd, cls, kind
        self.n, self.arg, self.t0, self.role = n, arg, t0, role


def rc_class(rc):
    return "ack" if rc == 0 else "nd" if rc == 7 else "unk"


class Model:
    def __init__(self, out):
        self.out = out
        self.params = read_json(os.path.join(out, "params.json"))
        if not isinstance(self.params, dict):
            raise InputError("params.json is not an object")
        self.submits = read_jsonl(os.path.join(out, "submits.jsonl"))
        self.faults = read_jsonl(os.path.join(out, "faults.jsonl"), required=False)
        self.workers = {}
        for w in read_jsonl(os.path.join(out, "workers.jsonl")):
            if as_int(w.get("pid")) is not None:
                self.workers[as_int(w["pid"])] = w   # the last line per pid wins
        final = read_jsonl(os.path.join(out, "final.jsonl"))
        self.recs, self.scan, self.groups, self.queues, self.badkeys = {}, set(), {}, {}, []
        self.meta, self.dead = {}, None
        for line in final:
            if "id" in line:
                self.recs[line["id"]] = line.get("rec")
                if line.get("scan"):
                    self.scan.add(line["id"])
            elif "group" in line:
                self.groups[line["group"]] = line
            elif "queues" in line:
                self.queues = line["queues"]
            elif "badkey" in line:
                self.badkeys.append(line["badkey"])
            elif "meta" in line:
                self.meta = line["meta"]
            elif "dead" in line:
                self.dead = line["dead"]
        if not self.meta and not self.recs and not self.queues:
            raise InputError("final.jsonl is empty (run the collect step)")
        self.cap = as_int(self.params.get("sem_capacity"), 4)
        self._read_exec()
        self._read_logs()
        self._read_submits()

    # ------------------------------------------------------------ exec records
    def _read_exec(self):
        self.runs = {}          # id -> [Run] by start time
        self.exec_files = 0
        for path in sorted(glob.glob(os.path.join(self.out, "exec", "*.jsonl"))):
            self.exec_files += 1
            open_runs = {}
            ends = []
            for r in read_jsonl(path):
                if r.get("ev") == "start":
                    try:
                        run = Run(r)
                    except (KeyError, TypeError, ValueError) as e:
                        raise InputError("%s: bad start record %r (%s)" % (path, r, e))
                    self.runs.setdefault(run.id, []).append(run)
                    open_runs.setdefault((run.id, run.att, run.tok), []).append(run)
                elif r.get("ev") == "end":
                    ends.append(r)
            for e in ends:
                lst = open_runs.get((e.get("id"), as_int(e.get("att")), str(e.get("tok"))))
                if lst:
                    run = lst.pop(0)
                    run.end = e
                    run.t_end = float(e["t"])
        # in delivery order: by token (every claim raises it), not by start:
        # a worker paused between its claim and the handler's start starts a
        # run after the delivery that replaced it
        for lst in self.runs.values():
            lst.sort(key=lambda x: (tok_key(x.tok), x.t))
            for run in lst:
                if run.t_end is None:
                    w = self.workers.get(run.pid)
                    if w and w.get("t_end") is not None:
                        run.t_end = float(w["t_end"])

    # ------------------------------------------------------------ worker logs
    def _read_logs(self):
        """(pid, job, attempt) -> outcome words and refused events."""
        self.logw = {}
        self.fenced = 0
        self.log_jobs = {}      # job id -> first (outcome, log) seen
        seen = set()
        paths = []
        for pid, w in self.workers.items():
            if w.get("log"):
                p = os.path.join(self.out, w["log"])
                paths.append((pid, p))
                seen.add(os.path.abspath(p))
        for p in sorted(glob.glob(os.path.join(self.out, "workers", "*.log"))):
            if os.path.abspath(p) not in seen:
                paths.append((None, p))
        self.log_files = len(paths)
        for pid, p in paths:
            for r in log_lines(p):
                job = r.get("job")
                if not job:
                    continue
                word = r.get("outcome") or r.get("event")
                if not word:
                    continue
                if word in ("refused", "refused-resend"):
                    self.fenced += 1
                self.log_jobs.setdefault(job, (word, os.path.basename(p)))
                if pid is not None:
                    self.logw.setdefault((pid, job, as_int(r.get("attempt"))), set()).add(word)
        for lst in self.runs.values():
            for run in lst:
                run.words = self.logw.get((run.pid, run.id, run.att), set())

    # ------------------------------------------------------------ submits
    def _read_submits(self):
        self.jobs = {}           # id -> Job
        self.tried = {}          # n -> [cmd index]
        self.n_claimed = set()   # n whose job has a known id
        self.cmd_jobs = []       # per command: expected number of jobs
        self.no_id = []          # (cmd, reason, count) acknowledged without ids
        self.chains, self.groups_sub = [], []
        for ci, s in enumerate(self.submits):
            op, rc = s.get("op"), as_int(s.get("rc"), -1)
            cls = rc_class(rc)
            args = s.get("args") or []
            ids = [i for i in (s.get("ids") or []) if i]
            t0 = float(s.get("t0") or 0)
            if op != "cancel":
                for a in args:
                    if arg_n(a) is not None:
                        self.tried.setdefault(arg_n(a), []).append(ci)
            if op in ("submit", "submit-many"):
                self.cmd_jobs.append(len(args))
                for a, i in zip(args, ids):
                    self._job(i, ci, cls, arg_kind(a), arg_n(a), a, t0, op)
                if cls == "ack" and len(ids) < len(args):
                    self.no_id.append((ci, "%s printed %d ids for %d jobs" % (op, len(ids), len(args)),
                                       len(args) - len(ids)))
            elif op == "chain":
                self.cmd_jobs.append(3)
                head = args[0] if args else {}
                for step, i in enumerate(ids[:3]):
                    a = dict(head, step=step) if isinstance(head, dict) else head
                    self._job(i, ci, cls, "chain", arg_n(head), a, t0, "chain%d" % step)
                if len(ids) >= 3:
                    self.chains.append((ci, cls, ids[:3], head))
                elif cls == "ack":
                    self.no_id.append((ci, "chain printed %d ids" % len(ids), 3 - len(ids)))
            elif op == "group":
                self.cmd_jobs.append(len(args) + 1)
                g, fanin = s.get("group"), s.get("fanin")
                gl = self.groups.get(g) if g else None
                members = (gl or {}).get("members") or []
                for a, i in zip(args, members):
                    self._job(i, ci, cls, "member", arg_n(a), a, t0, "member")
                expect = [{"n": arg_n(a), "i": a.get("i") if isinstance(a, dict) else None}
                          for a in args]
                if fanin:
                    self._job(fanin, ci, cls, "fanin", None, expect, t0, "fanin")
                if g and fanin:
                    self.groups_sub.append((ci, cls, g, fanin, members, args, expect))
                if cls == "ack":
                    if not g or not fanin:
                        self.no_id.append((ci, "group printed no group/fan-in id", len(args) + 1))
                    elif len(members) < len(args):
                        self.no_id.append((ci, "group %s lists %d members of %d submitted"
                                           % (g, len(members), len(args)),
                                           len(args) - len(members)))
            else:
                self.cmd_jobs.append(0)

    def _job(self, id_, ci, cls, kind, n, arg, t0, role):
        if id_ in self.jobs:
            return
        self.jobs[id_] = Job(id_, ci, cls, kind, n, arg, t0, role)
        if n is not None and role in ("submit", "submit-many", "member", "chain0"):
            self.n_claimed.add(n)

    # ------------------------------------------------------------ faults
    def fault_end(self, f):
        e = f.get("t_end")
        return float(e) if e is not None else INF

    def redis_faults(self):
        return [f for f in self.faults if f.get("kind") in REDIS_FAULTS
                and (f.get("kind") != "failover" or f.get("ok") is not False)]

    def worker_faults(self, run, t0, t1):
        """Faults on the run's worker process or host overlapping [t0, t1]."""
        out = []
        for f in self.faults:
            k = f.get("kind")
            if k not in WORKER_FAULTS:
                continue
            if k == "cut":
                if f.get("target") != run.host:
                    continue
            elif f.get("pid") is not None:
                if as_int(f["pid"]) != run.pid:
                    continue
            elif f.get("target") != run.host:
                continue
            if float(f["t"]) <= t1 + FAULT_SLACK and self.fault_end(f) >= t0 - FAULT_SLACK:
                out.append(f)
        return out

    def run_span(self, run):
        end = run.t_end
        if end is None:
            w = self.workers.get(run.pid)
            end = float(w["t_end"]) if w and w.get("t_end") is not None else INF
        return run.t, end


# ============================================================ the rules

def rec_state(rec):
    return rec.get("state") if rec else None


def analyze(out):
    m = Model(out)
    R = {"seed": m.params.get("seed"), "prefix": m.params.get("prefix"),
         "seconds": m.params.get("seconds"), "jobs_planned": m.params.get("jobs")}
    viol = []
    detail = {}

    # -------------------------------------------------------- submitted
    by_op, jobs_by_op = {}, {}
    counts = {"ack": 0, "nd": 0, "unk": 0}
    for ci, s in enumerate(m.submits):
        op = s.get("op") or "?"
        cls = rc_class(as_int(s.get("rc"), -1))
        by_op.setdefault(op, {"ack": 0, "nd": 0, "unk": 0})[cls] += 1
        jobs_by_op[op] = jobs_by_op.get(op, 0) + m.cmd_jobs[ci]
        if op != "cancel":
            counts[cls] += m.cmd_jobs[ci]
    R["commands"] = len(m.submits)
    R["commands_by_op"] = by_op
    R["jobs_by_op"] = jobs_by_op
    R["submitted"] = sum(jobs_by_op.values())
    R["acknowledged"] = counts["ack"]
    R["not_durable"] = counts["nd"]
    R["unknown"] = counts["unk"]
    R["cancels"] = sum(by_op.get("cancel", {}).values())

    # -------------------------------------------------------- states
    kind_of = {}
    for i, j in m.jobs.items():
        kind_of[i] = j.kind
    for i in m.scan:
        kind_of.setdefault(i, arg_kind(parse_args_json((m.recs.get(i) or {}).get("args"))))
    states, per_kind = {}, {}
    for i, k in kind_of.items():
        st = rec_state(m.recs.get(i)) or "missing"
        states[st] = states.get(st, 0) + 1
        pk = per_kind.setdefault(k or "?", {})
        pk[st] = pk.get(st, 0) + 1
    R["states"] = states
    R["states_by_kind"] = per_kind

    wrong, wrong_v, worker_lost = [], 0, 0
    for i, k in kind_of.items():
        rec = m.recs.get(i)
        st = rec_state(rec)
        if st not in TERMINAL:
            continue
        err = rec.get("error") or ""
        if st == "failed" and err == "worker lost":
            worker_lost += 1
            continue
        ok, why = outcome_ok(m, i, k, rec)
        if ok:
            continue
        wrong.append({"id": i, "kind": k, "state": st, "error": err[:120], "violation": why})
        if why:
            wrong_v += 1
    R["worker_lost"] = worker_lost
    R["wrong_outcome"] = len(wrong)
    R["wrong_outcome_violations"] = wrong_v
    detail["wrong_outcome"] = sorted(wrong, key=lambda w: not w["violation"])[:LIST_MAX]
    if wrong_v:
        viol.append("wrong outcome (%d)" % wrong_v)

    # -------------------------------------------------------- lost
    lost, nd_missing, stuck_unacked = [], 0, []
    for i, j in m.jobs.items():
        rec = m.recs.get(i)
        st = rec_state(rec)
        if j.cls == "ack":
            if st not in TERMINAL:
                lost.append({"id": i, "kind": j.kind, "state": st or "missing", "cmd": j.cmd})
        elif rec is None:
            nd_missing += j.cls == "nd"
        elif st not in TERMINAL:
            stuck_unacked.append({"id": i, "kind": j.kind, "state": st, "rc": j.cls})
    for ci, why, cnt in m.no_id:
        lost.append({"cmd": ci, "state": why, "count": cnt})
    R["lost"] = sum(x.get("count", 1) for x in lost)
    R["not_durable_missing"] = nd_missing
    R["stuck_unacknowledged"] = len(stuck_unacked)
    detail["lost"] = lost[:LIST_MAX]
    detail["stuck_unacknowledged"] = stuck_unacked[:LIST_MAX]
    if R["lost"]:
        viol.append("lost (%d)" % R["lost"])

    # -------------------------------------------------------- runs, duplicates
    rfaults = m.redis_faults()
    dup = {"lease": 0, "giveback": 0, "failover": 0, "restart": 0, "unexplained": 0}
    retried_runs, jobs_dup, unexplained = 0, 0, []
    for i, runs in m.runs.items():
        if len(runs) < 2:
            continue
        rec = m.recs.get(i)
        lostn = as_int((rec or {}).get("lost"), 0)
        had = False
        for run in runs[:-1]:
            e = run.end or {}
            if (e.get("out") == "fail" or e.get("why") == "timeout"
                    or run.words & {"failed", "timeout"}):
                retried_runs += 1
                continue
            had = True
            cat = explain(m, run, lostn, rfaults)
            if cat == "restart":
                dup["restart"] += 1
                cat = "failover"
            dup[cat] += 1
            if cat == "unexplained":
                unexplained.append({"id": i, "kind": run.k, "lost": lostn,
                                    "state": rec_state(rec),
                                    "runs": [x.brief() for x in runs]})
        jobs_dup += had
    R["runs"] = sum(len(x) for x in m.runs.values())
    R["runs_retried"] = retried_runs
    R["jobs_duplicated"] = jobs_dup
    R["dup_lease"] = dup["lease"]
    R["dup_giveback"] = dup["giveback"]
    R["dup_failover"] = dup["failover"]
    R["dup_failover_restart_only"] = dup["restart"]
    R["dup_explained"] = dup["lease"] + dup["giveback"] + dup["failover"]
    R["dup_unexplained"] = dup["unexplained"]
    detail["dup_unexplained"] = unexplained[:LIST_MAX]
    if dup["unexplained"]:
        viol.append("unexplained duplicates (%d)" % dup["unexplained"])

    # -------------------------------------------------------- fencing
    reused = []
    for i, runs in m.runs.items():
        bytok = {}
        for run in runs:
            bytok.setdefault(run.tok, []).append(run)
        for tok, lst in bytok.items():
            if len(lst) < 2:
                continue
            if len({r.pid for r in lst}) > 1 or len({r.t for r in lst}) > 1:
                t0, t1 = lst[0].t, lst[-1].t
                near = any(t0 - 1 <= float(f["t"]) <= t1 for f in rfaults)
                reused.append({"id": i, "tok": tok, "after_redis_fault": near,
                               "runs": [r.brief() for r in lst]})
    R["fenced"] = m.fenced
    R["token_reused"] = len(reused)
    R["token_reused_after_redis_fault"] = sum(x["after_redis_fault"] for x in reused)
    detail["token_reused"] = reused[:LIST_MAX]
    if reused:
        viol.append("token reused (%d)" % len(reused))

    # -------------------------------------------------------- unexpected
    unexpected = {}
    for i, runs in m.runs.items():
        for run in runs:
            why = m_unexpected(m, i, run.n, run.k)
            if why:
                unexpected.setdefault(i, {"id": i, "seen": "exec", "n": run.n, "why": why})
                break
    for i, (word, log) in m.log_jobs.items():
        if i in unexpected or i in m.runs:
            continue
        rec = m.recs.get(i)
        a = parse_args_json((rec or {}).get("args"))
        why = m_unexpected(m, i, arg_n(a), arg_kind(a))
        if why:
            unexpected[i] = {"id": i, "seen": "log %s %s" % (log, word), "why": why}
    for i in m.scan:
        if i in unexpected:
            continue
        a = parse_args_json((m.recs.get(i) or {}).get("args"))
        why = m_unexpected(m, i, arg_n(a), arg_kind(a))
        if why:
            unexpected[i] = {"id": i, "seen": "scan", "n": arg_n(a), "why": why}
    for k in m.badkeys:
        unexpected[k] = {"id": k, "seen": "scan", "why": "a job key moved aside as corrupt"}
    R["unexpected"] = len(unexpected)
    detail["unexpected"] = list(unexpected.values())[:LIST_MAX]
    if unexpected:
        viol.append("unexpected (%d)" % len(unexpected))

    # -------------------------------------------------------- succeeded without a run
    norun = [i for i, j in m.jobs.items()
             if rec_state(m.recs.get(i)) == "succeeded" and i not in m.runs]
    R["succeeded_without_run"] = len(norun)
    detail["succeeded_without_run"] = norun[:LIST_MAX]
    if norun:
        viol.append("succeeded without a run (%d)" % len(norun))

    # -------------------------------------------------------- chains
    chain_broken = []
    n_chains = 0
    for ci, cls, ids, head in m.chains:
        if cls != "ack":
            continue
        n_chains += 1
        why = check_chain(m, ids, head)
        if why:
            chain_broken.append({"cmd": ci, "ids": ids, "why": why})
    R["chains"] = n_chains
    R["chain_broken"] = len(chain_broken)
    detail["chain_broken"] = chain_broken[:LIST_MAX]
    if chain_broken:
        viol.append("chain broken (%d)" % len(chain_broken))

    # -------------------------------------------------------- fan-in
    fan_broken, n_groups, fan_runs, fan_multi = [], 0, 0, 0
    for ci, cls, g, fanin, members, args, expect in m.groups_sub:
        if cls != "ack":
            continue
        n_groups += 1
        runs = m.runs.get(fanin, [])
        fan_runs += len(runs)
        fan_multi += len(runs) > 1
        why = check_fanin(m, g, fanin, members, args, expect, runs)
        if why:
            fan_broken.append({"cmd": ci, "group": g, "fanin": fanin, "why": why})
    R["groups"] = n_groups
    R["fanin_runs"] = fan_runs
    R["fanin_ran_twice"] = fan_multi
    R["fanin_broken"] = len(fan_broken)
    detail["fanin_broken"] = fan_broken[:LIST_MAX]
    if fan_broken:
        viol.append("fan-in broken (%d)" % len(fan_broken))

    # -------------------------------------------------------- semaphore
    sem_all, sem_clean = [], []
    windows = [(float(f["t"]), m.fault_end(f) + SEM_WINDOW) for f in rfaults]
    for runs in m.runs.values():
        for run in runs:
            if run.k != "sem":
                continue
            t0, t1 = m.run_span(run)
            if t1 == INF:
                t1 = t0  # never ended, worker never ended: counted as a point
            sem_all.append((t0, t1))
            if m.worker_faults(run, t0, t1):
                continue
            if any(a <= t1 and t0 <= b for a, b in windows):
                continue
            sem_clean.append((t0, t1))
    R["sem_runs"] = len(sem_all)
    R["sem_runs_counted"] = len(sem_clean)
    R["sem_peak_raw"], _ = peak(sem_all)
    R["sem_peak"], at = peak(sem_clean)
    R["sem_capacity"] = m.cap
    if R["sem_peak"] > m.cap:
        detail["sem_overrun_at"] = at
        viol.append("semaphore peak %d > capacity %d" % (R["sem_peak"], m.cap))

    # -------------------------------------------------------- delayed
    early = []
    n_delay = 0
    for i, j in m.jobs.items():
        if j.kind != "delay" or not isinstance(j.arg, dict):
            continue
        n_delay += 1
        runs = m.runs.get(i)
        d = j.arg.get("d")
        if not runs or d is None:
            continue
        due = j.t0 + float(d)
        if runs[0].t < due - DELAY_SLACK:
            early.append({"id": i, "t0": j.t0, "d": d, "first_run": runs[0].t,
                          "early_by": round(due - runs[0].t, 3)})
    R["delayed"] = n_delay
    R["delayed_early"] = len(early)
    detail["delayed_early"] = early[:LIST_MAX]
    if early:
        viol.append("delayed jobs run early (%d)" % len(early))

    # -------------------------------------------------------- dead-letter list
    if m.dead is not None:
        dset = set(m.dead)
        miss = [i for i in kind_of if rec_state(m.recs.get(i)) == "failed" and i not in dset]
        extra = [i for i in m.dead if rec_state(m.recs.get(i)) != "failed"]
        R["dead_missing"], R["dead_extra"] = len(miss), len(extra)
        detail["dead_missing"] = miss[:LIST_MAX]
        detail["dead_extra"] = extra[:LIST_MAX]
        if (miss or extra) and len(m.dead) < DEAD_CAP:
            viol.append("dead-letter list mismatch (%d failed not in it, %d in it not failed)"
                        % (len(miss), len(extra)))

    # -------------------------------------------------------- faults, broker
    fk = {}
    for f in m.faults:
        e = fk.setdefault(f.get("kind") or "?", {"ok": 0, "refused": 0})
        e["ok" if f.get("ok") is not False else "refused"] += 1
    R["faults"] = fk
    R["workers_started"] = len(m.workers)
    R["exec_files"] = m.exec_files
    R["log_files"] = m.log_files
    q = m.queues or {}
    R["queue_left"] = {k: q.get(k) for k in ("sched", "active", "sem_holders", "sem_waiters")}
    R["queue_left"]["pending"] = sum(q.get("p%d" % i) or 0 for i in range(10))
    R["dead"] = q.get("dead")
    R["job_keys"] = q.get("job_keys")
    R["violations"] = viol
    R["pass"] = not viol
    R["detail"] = detail
    return R


def outcome_ok(m, i, k, rec):
    """(True, _) when the end state is what kind k leads to; else (False,
    violation?) where violation says whether the workload made any other
    state impossible (a recorded cause excepted)."""
    st, err = rec.get("state"), rec.get("error") or ""
    if k in DETERMINISTIC:
        if st == "succeeded":
            return True, False
        if st == "cancelled" and k == "chain":
            prev = rec.get("parent")
            if prev and rec_state(m.recs.get(prev)) != "succeeded":
                return False, False       # a link before it did not succeed
        if k == "fanin" and st == "cancelled":
            g = m.groups.get(rec.get("parent") or "")
            mem = (g or {}).get("members") or []
            if any(rec_state(m.recs.get(x)) != "succeeded" for x in mem):
                return False, False       # a member did not succeed
        return False, True
    if k == "timeout":
        if st == "failed" and err == "timeout":
            return True, False
        return False, st == "succeeded"
    if k == "cancel":
        return st in ("cancelled", "succeeded"), False
    return False, False


def tok_key(tok):
    """A token as a number for ordering deliveries (0 when it is not one)."""
    try:
        return int(tok)
    except (TypeError, ValueError):
        return 0


def explain(m, run, lostn, rfaults):
    """Why a superseded run that did not fail by itself was followed by
    another: 'lease', 'giveback', 'failover' or 'unexplained'."""
    e = run.end or {}
    if run.words & {"lost", "refused", "refused-resend"} or e.get("why") == "lost":
        return "lease"
    t0, t1 = m.run_span(run)
    if lostn >= 1 and m.worker_faults(run, t0, t1):
        return "lease"
    if "released" in run.words or e.get("why") == "shutdown":
        return "giveback"
    # a Redis fault still going on when the run started, or started after it
    # (up to ROLLBACK_WINDOW after its end): the old master may have taken
    # writes the new one never saw until the Sentinels demoted it
    lim = (run.t_end if run.t_end is not None else run.t) + ROLLBACK_WINDOW
    kinds = set()
    for f in rfaults:
        ft = float(f["t"])
        fe = float(f["t_end"]) if f.get("t_end") is not None else ft
        if ft <= lim and fe >= run.t:
            kinds.add(f.get("kind"))
    if kinds:
        return "failover" if "failover" in kinds else "restart"
    return "unexplained"


def m_unexpected(m, i, n, k):
    """Why job id i (args n, kind k) could not have come from any submit,
    or None when it could."""
    j = m.jobs.get(i)
    if j is not None:
        if n is not None and j.n is not None and n != j.n:
            return "args n=%s, submitted with n=%s" % (n, j.n)
        return None
    if n is not None:
        if n not in m.tried:
            return "args n=%s never submitted" % n
        if n in m.n_claimed and k != "chain":
            return "n=%s belongs to another id" % n
        return None
    # a fan-in nobody printed: its group's members must come from a group submit
    rec = m.recs.get(i)
    if rec and k == "fanin" and rec.get("parent"):
        g = rec["parent"]
        mem = [x for x, r in m.recs.items() if r and r.get("group") == g]
        if mem and all(arg_n(parse_args_json(m.recs[x].get("args"))) in m.tried for x in mem):
            return None
    return "no submit made this id"


def check_chain(m, ids, head):
    ok_end = []
    for step, i in enumerate(ids):
        runs = m.runs.get(i, [])
        for run in runs:
            a = run.args if isinstance(run.args, dict) else {}
            if a.get("step") != step or a.get("n") != arg_n(head):
                return "link %d ran with args %s" % (step, json.dumps(run.args))
        if step:
            rec = m.recs.get(i) or {}
            if rec.get("parent") not in (None, ids[step - 1]):
                return "link %d parent %s, not link %d" % (step, rec.get("parent"), step - 1)
            if runs:
                if not ok_end:
                    return "link %d ran but link %d never succeeded" % (step, step - 1)
                if runs[0].t < min(ok_end):
                    return "link %d started %.3f s before link %d succeeded" % (
                        step, min(ok_end) - runs[0].t, step - 1)
        ok_end = [r.t_end for r in runs if r.end and r.end.get("out") == "ok"]
    return None


def check_fanin(m, g, fanin, members, args, expect, runs):
    if len(members) != len(args):
        return "group lists %d members, %d submitted" % (len(members), len(args))
    all_ok = all(rec_state(m.recs.get(x)) == "succeeded" for x in members)
    for run in runs:
        if run.args != expect:
            return "fan-in ran with args %s, expected %s" % (
                json.dumps(run.args)[:200], json.dumps(expect)[:200])
    rec = m.recs.get(fanin) or {}
    if all_ok:
        if not runs:
            return "all members succeeded, fan-in never ran (state %s)" % rec.get("state")
        if rec.get("state") == "succeeded":
            res = parse_args_json(rec.get("result"))
            if res != {"fanin": len(members)}:
                return "fan-in result %s" % rec.get("result")
    elif runs:
        return "fan-in ran though a member did not succeed"
    return None


def peak(spans):
    """Most spans open at once (an end before a start at the same time)."""
    ev = []
    for a, b in spans:
        ev.append((a, 1))
        ev.append((b, -1))
    ev.sort(key=lambda e: (e[0], e[1]))
    cur = best = 0
    at = None
    for t, d in ev:
        cur += d
        if cur > best:
            best, at = cur, t
    return best, at


# ============================================================ the table

def table(R):
    rows = []

    def row(name, val):
        rows.append("%-42s %s" % (name, val))

    def kv(d):
        return " ".join("%s=%s" % (k, d[k]) for k in sorted(d)) if d else "-"

    row("seed", R.get("seed"))
    row("submit commands (ack/not-durable/unk)", "%d (%s)" % (R["commands"], " ".join(
        "%s=%d/%d/%d" % (op, c["ack"], c["nd"], c["unk"]) for op, c in sorted(R["commands_by_op"].items()))))
    row("jobs submitted", "%d (%s)" % (R["submitted"], kv(R["jobs_by_op"])))
    row("acknowledged (rc 0)", R["acknowledged"])
    row("accepted, not durable (rc 7)", "%d (missing at the end: %d)" % (
        R["not_durable"], R["not_durable_missing"]))
    row("unknown (other rc)", R["unknown"])
    row("terminal by state", kv(R["states"]))
    for k in sorted(R["states_by_kind"]):
        row("  " + k, kv(R["states_by_kind"][k]))
    row("failed 'worker lost' (over max-lost)", R["worker_lost"])
    row("wrong outcome (violations)", "%d (%d)" % (R["wrong_outcome"], R["wrong_outcome_violations"]))
    row("LOST (acknowledged, never terminal)", R["lost"])
    row("stuck, unacknowledged (info)", R["stuck_unacknowledged"])
    row("runs (handler executions)", "%d (retries after a failure: %d)" % (R["runs"], R["runs_retried"]))
    row("jobs run more than once", R["jobs_duplicated"])
    row("duplicate runs explained", "%d (lost lease %d, give-back %d)" % (
        R["dup_lease"] + R["dup_giveback"], R["dup_lease"], R["dup_giveback"]))
    row("duplicate runs rolled back by failover", "%d (by a restart-redis alone: %d)" % (
        R["dup_failover"], R["dup_failover_restart_only"]))
    row("DUPLICATES UNEXPLAINED", R["dup_unexplained"])
    row("UNEXPECTED ids", R["unexpected"])
    row("stale outcomes fenced", R["fenced"])
    row("TOKEN REUSED", "%d (after a Redis fault: %d)" % (
        R["token_reused"], R["token_reused_after_redis_fault"]))
    row("succeeded without a run", R["succeeded_without_run"])
    row("chains acknowledged / BROKEN", "%d / %d" % (R["chains"], R["chain_broken"]))
    row("groups acknowledged / fan-in BROKEN", "%d / %d" % (R["groups"], R["fanin_broken"]))
    row("fan-in runs (fan-ins run twice)", "%d (%d)" % (R["fanin_runs"], R["fanin_ran_twice"]))
    row("semaphore peak / capacity", "%d / %d (raw %d; %d of %d runs counted)" % (
        R["sem_peak"], R["sem_capacity"], R["sem_peak_raw"], R["sem_runs_counted"], R["sem_runs"]))
    row("delayed jobs / run EARLY", "%d / %d" % (R["delayed"], R["delayed_early"]))
    row("faults (kind=ok/refused)", " ".join(
        "%s=%d/%d" % (k, v["ok"], v["refused"]) for k, v in sorted(R["faults"].items())) or "-")
    row("workers started / exec files / logs", "%d / %d / %d" % (
        R["workers_started"], R["exec_files"], R["log_files"]))
    row("left in the broker", kv({k: v for k, v in R["queue_left"].items() if v is not None}))
    row("dead-letter list / job keys", "%s / %s" % (R["dead"], R["job_keys"]))
    if "dead_missing" in R:
        row("failed not in dead-letter / in it not failed", "%d / %d" % (R["dead_missing"], R["dead_extra"]))
    for name, lst in R["detail"].items():
        if not lst:
            continue
        rows.append("")
        rows.append("%s (first %d):" % (name, LIST_MAX))
        for x in (lst if isinstance(lst, list) else [lst]):
            rows.append("  " + json.dumps(x, separators=(",", ":")))
    rows.append("")
    rows.append("PASS" if R["pass"] else "FAIL: " + "; ".join(R["violations"]))
    return "\n".join(rows) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description="account for every job of a chaos run")
    ap.add_argument("--out", default="build/chaos", help="the run directory")
    ap.add_argument("--redis", help="HOST:PORT of the master (default: ask the sentinels)")
    ap.add_argument("--no-collect", action="store_true", help="analyze final.jsonl as it is")
    a = ap.parse_args(argv)
    try:
        if not os.path.isdir(a.out):
            raise InputError("no run directory %s" % a.out)
        if not a.no_collect:
            try:
                collect(a.out, a.redis)
            except (OSError, resp.RespError) as e:
                raise InputError("collect: cannot read the broker: %s" % e)
        R = analyze(a.out)
    except InputError as e:
        print("check: inputs missing or broken: %s" % e, file=sys.stderr)
        return 2
    txt = table(R)
    sys.stdout.write(txt)
    with open(os.path.join(a.out, "report.txt"), "w") as f:
        f.write(txt)
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(R, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0 if R["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
