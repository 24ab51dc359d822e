#!/usr/bin/env python3
"""workload.py -- the chaos suite's client: submits a seeded mix of chaos.rec
jobs for a fixed time through the real `tq` CLI, and records every command.

    python3 chaos/workload.py --bin BUILD --out OUT --url URL \
        --seconds W --jobs J --seed S

Four threads each submit a quarter of about J jobs, paced evenly over W
seconds (a thread that falls behind, say while Redis fails over, catches up
as fast as its commands return; none submits after W). Each command is a
`tq` process (30 s timeout, then killed and recorded with rc -9), and each
leaves one line in OUT/submits.jsonl, written under a lock and flushed, in
the format of the chaos contract (docs/chaos.md). Thread i draws from
random.Random(seed + i), so the mix each thread submits is reproducible;
the job numbers "n" come from one counter shared by the threads.

Kinds, by share of jobs: plain 55% (bulk submit-many of 20-200, a third
with a fair key; 5% of them single submits, a third rate-limited), retry 6%, timeout 2%, cancel 3% (a single submit, then
`tq cancel` 0-1 s later), chain 9% (3 jobs), group 12% (5-20 members and the
fan-in), sem 7%, delay 6%.

Exit 0 when it ran (whatever the commands returned: the checker judges), 2
with one line when it could not run at all.
"""
import argparse
import heapq
import json
import os
import random
import subprocess
import sys
import threading
import time

THREADS = 4
CMD_TIMEOUT = 30.0
TASK = "chaos.rec"

# (unit, share of all jobs, mean jobs per unit). A unit is one submit command
# (plus a cancel for "cancel"); it is drawn with weight share/size so that the
# shares hold by jobs, not by commands.
UNITS = [
    ("bulk", 0.55 * 0.95, 110.0),
    ("plain", 0.55 * 0.05, 1.0),
    ("retry", 0.06, 1.0),
    ("timeout", 0.02, 1.0),
    ("cancel", 0.03, 1.0),
    ("chain", 0.09, 3.0),
    ("group", 0.12, 13.5),
    ("sem", 0.07, 1.0),
    ("delay", 0.06, 1.0),
]


class Shared:
    """What the threads share: the n counter, the record file, the tallies."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.n = 0
        self.f = open(path, "a", encoding="utf-8")
        self.ops = {}     # op -> {rc: count}
        self.jobs = 0     # jobs in submit commands (whatever their rc)

    def next_n(self):
        with self.lock:
            self.n += 1
            return self.n

    def record(self, rec, njobs):
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        with self.lock:
            self.f.write(line)
            self.f.flush()
            by_rc = self.ops.setdefault(rec["op"], {})
            by_rc[rec["rc"]] = by_rc.get(rec["rc"], 0) + 1
            self.jobs += njobs


class Client:
    """Runs tq commands; one per thread (it holds nothing but settings)."""

    def __init__(self, args):
        self.tq = os.path.join(args.bin, "tq")
        self.common = ["--redis", args.url, "--namespace", "chaos",
                       "--connect-timeout", "5s"]
        self.submit = ["--queue", "chaos", "--max-lost", "20",
                       "--durable", str(args.durable), "--durable-timeout", "2s"]

    def run(self, argv, stdin=None):
        """Runs tq COMMAND...; returns (t0, t1, rc, stdout lines, stderr tail)."""
        cmd = [self.tq] + self.common + argv
        t0 = time.time()
        try:
            p = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                               timeout=CMD_TIMEOUT)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:  # run() killed and reaped it
            rc = -9
            out = e.stdout or ""
            err = (e.stderr or "") + "\nworkload: killed after %gs" % CMD_TIMEOUT
            out = out.decode(errors="replace") if isinstance(out, bytes) else out
            err = err.decode(errors="replace") if isinstance(err, bytes) else err
        except OSError as e:
            rc, out, err = -1, "", "workload: %s" % e
        t1 = time.time()
        return t0, t1, rc, [x for x in out.split("\n") if x.strip()], err.strip()[-500:]


def rec(op, t0, t1, rc, args, ids, err, group=None, fanin=None, target=None):
    r = {"op": op, "t0": t0, "t1": t1, "rc": rc, "args": args, "ids": ids,
         "group": group, "fanin": fanin}
    if target is not None:
        r["target"] = target
    r["err"] = err
    return r


def lines(objs):
    return "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objs)


class Worker(threading.Thread):
    """One submitting thread: its own rng, its quota, its pending cancels."""

    def __init__(self, i, args, shared, t_start):
        super().__init__(name="submit-%d" % i, daemon=True)
        self.rng = random.Random(args.seed + i)
        self.cl = Client(args)
        self.sh = shared
        self.t_start = t_start
        self.t_end = t_start + args.seconds
        self.quota = args.jobs // THREADS + (1 if i < args.jobs % THREADS else 0)
        self.seconds = args.seconds
        self.done = 0          # jobs this thread has submitted
        self.cancels = []      # heap of (due, seq, id)
        self.seq = 0
        self.weights = [share / size for _, share, size in UNITS]

    # ------------------------------------------------------------ one unit each

    def ms(self, lo=0, hi=300):
        return self.rng.randint(lo, hi)

    def single(self, a, flags=()):
        argv = ["submit"] + self.cl.submit + list(flags) + [TASK, json.dumps(a)]
        t0, t1, rc, out, err = self.cl.run(argv)
        self.sh.record(rec("submit", t0, t1, rc, [a], out, err), 1)
        return rc, out

    def unit(self, kind):
        """Submits one unit; returns how many jobs it held."""
        r, n = self.rng, self.sh.next_n
        if kind == "bulk":
            k = r.randint(20, 200)
            k = max(1, min(k, self.quota - self.done))
            objs = [{"n": n(), "k": "plain", "ms": self.ms()} for _ in range(k)]
            # a third of the bulk goes round-robin across four fair keys
            fair = ["--fair-key", "f%d" % r.randint(0, 3)] if r.random() < 1 / 3 else []
            t0, t1, rc, out, err = self.cl.run(["submit-many"] + self.cl.submit + fair + [TASK],
                                               lines(objs))
            self.sh.record(rec("submit-many", t0, t1, rc, objs, out, err), k)
            return k
        if kind == "plain":
            # a third of the single ones under the rate limit `chaos` (2/s per
            # key, run.py sets it), so some are parked for their token
            rl = ["--rate-limit", "chaos:k%d" % r.randint(0, 1)] if r.random() < 1 / 3 else []
            self.single({"n": n(), "k": "plain", "ms": self.ms()}, rl)
        elif kind == "retry":
            self.single({"n": n(), "k": "retry", "ms": self.ms(), "f": r.randint(1, 2)},
                        ["--retries", "3", "--backoff", "0.2"])
        elif kind == "timeout":
            self.single({"n": n(), "k": "timeout", "ms": self.ms(2000, 3000)},
                        ["--timeout", "0.3", "--retries", "1"])
        elif kind == "cancel":
            rc, out = self.single({"n": n(), "k": "cancel", "ms": self.ms(2000, 4000)})
            if out:
                self.seq += 1
                heapq.heappush(self.cancels, (time.time() + r.uniform(0, 1), self.seq, out[0]))
        elif kind == "chain":
            a = {"n": n(), "k": "chain", "step": 0, "ms": self.ms()}
            argv = ["submit"] + self.cl.submit + ["--then", TASK, "--then", TASK,
                                                  TASK, json.dumps(a)]
            t0, t1, rc, out, err = self.cl.run(argv)
            self.sh.record(rec("chain", t0, t1, rc, [a], out, err), 3)
            return 3
        elif kind == "group":
            g = n()
            k = max(5, min(r.randint(5, 20), self.quota - self.done - 1))
            objs = [{"n": n(), "k": "member", "g": g, "i": i, "ms": self.ms()}
                    for i in range(k)]
            argv = ["group", "submit"] + self.cl.submit + ["--then", TASK, TASK]
            t0, t1, rc, out, err = self.cl.run(argv, lines(objs))
            self.sh.record(rec("group", t0, t1, rc, objs, [], err,
                               group=out[0] if out else None,
                               fanin=out[1] if len(out) > 1 else None), k + 1)
            return k + 1
        elif kind == "sem":
            self.single({"n": n(), "k": "sem", "ms": self.ms(50, 300)},
                        ["--semaphore", "chaos"])
        elif kind == "delay":
            d = round(r.uniform(0.5, 3.0), 3)
            self.single({"n": n(), "k": "delay", "ms": self.ms(), "d": d},
                        ["--delay", "%g" % d])
        return 1

    def cancel_due(self, now):
        while self.cancels and self.cancels[0][0] <= now:
            _, _, jid = heapq.heappop(self.cancels)
            t0, t1, rc, out, err = self.cl.run(["cancel", jid])
            self.sh.record(rec("cancel", t0, t1, rc, [], [], err, target=jid), 0)

    # ------------------------------------------------------------ the loop

    def run(self):
        names = [u[0] for u in UNITS]
        while self.done < self.quota:
            # The next unit is due when this thread's share of the time
            # matches its share of the jobs: an even pace.
            due = self.t_start + self.seconds * self.done / max(self.quota, 1)
            while True:
                now = time.time()
                if now >= self.t_end:
                    break
                self.cancel_due(now)
                wake = min([due] + [c[0] for c in self.cancels[:1]])
                if now >= due:
                    break
                time.sleep(max(0.0, min(wake - now, 0.5)))
            if time.time() >= self.t_end:
                break
            kind = self.rng.choices(names, self.weights)[0]
            self.done += self.unit(kind)
        while self.cancels:  # the last cancels, each at its time
            time.sleep(max(0.0, min(self.cancels[0][0] - time.time(), 0.5)))
            self.cancel_due(time.time())


def main():
    ap = argparse.ArgumentParser(description="chaos workload: submit chaos.rec jobs")
    ap.add_argument("--bin", required=True, help="build directory with tq")
    ap.add_argument("--out", required=True, help="run directory (submits.jsonl)")
    ap.add_argument("--url", required=True, help="Redis URL for every tq command")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--durable", type=int, default=1,
                    help="--durable N of every submit (1; 0 only to test without a replica)")
    args = ap.parse_args()

    tq = os.path.join(args.bin, "tq")
    if not os.access(tq, os.X_OK):
        print("workload: %s is not an executable tq (build first)" % tq, file=sys.stderr)
        return 2
    if args.seconds <= 0 or args.jobs <= 0:
        print("workload: --seconds and --jobs must be more than 0", file=sys.stderr)
        return 2
    try:
        os.makedirs(args.out, exist_ok=True)
        shared = Shared(os.path.join(args.out, "submits.jsonl"))
    except OSError as e:
        print("workload: cannot write in %s: %s" % (args.out, e), file=sys.stderr)
        return 2

    t_start = time.time()
    threads = [Worker(i, args, shared, t_start) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.f.close()

    took = time.time() - t_start
    print("workload: seed %d, %d jobs in %.1fs (asked %d in %gs), last n %d"
          % (args.seed, shared.jobs, took, args.jobs, args.seconds, shared.n),
          file=sys.stderr)
    for op in sorted(shared.ops):
        by_rc = shared.ops[op]
        print("workload: %-12s %6d  rc %s" % (op, sum(by_rc.values()),
              " ".join("%s:%d" % (k, by_rc[k]) for k in sorted(by_rc))), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
