#!/usr/bin/env python3
"""run.py -- make chaos: tq across network namespaces under a seeded schedule
of faults, then the checker (docs/chaos.md, "Hosts and faults").

  python3 chaos/run.py --bin BUILD --out DIR [--seconds T] [--jobs J]
                       [--seed S] [--keep]

Hosts (hosts.py): r1 (Redis master + Sentinel), r2 (replica + Sentinel), r3
(Sentinel), w1..w3 (a tq-worker each), c (the workload and the checker).
T is the fault phase: the workload submits for T seconds while faults run
during its first T - 10 s; then everything is healed, the queue drains (up to
120 s), the workers stop (SIGTERM) and chaos/check.py judges OUT.

Exit: the checker's (0 pass, 1 violations); 2 a setup error; 0 with a SKIP
line when network namespaces cannot be made (not root); 130 interrupted.
Hidden flags for the lead and for testing: --workload FILE, --checker FILE,
--plugin FILE; --remove PREFIX removes what a --keep run left.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hosts  # noqa: E402

LEASE_S = 3
WORKER_HOSTS = ["w1", "w2", "w3"]
REDIS_HOSTS = ["r1", "r2"]
SENTINEL_HOSTS = ["r1", "r2", "r3"]
KINDS = ["kill", "stop", "cut", "cut-client", "restart-redis", "failover", "term"]
WORKER_KINDS = ("kill", "stop", "cut", "term")
REDIS_KINDS = ("restart-redis", "failover")
# relative frequency of each kind once every kind has happened
WEIGHTS = {"kill": 2, "stop": 2, "cut": 2, "term": 1.5, "cut-client": 1.5,
           "restart-redis": 1, "failover": 1}
REDIS_GAP_S = 10      # redis faults at least this far apart (end to start)
QUIET_S = 10          # no fault starts in the last QUIET_S of the fault phase
SETTLE_S = 120


def log(msg):
    print("chaos: " + msg, file=sys.stderr, flush=True)


class SetupError(Exception):
    pass


class Interrupted(BaseException):
    pass


# ---------------------------------------------------------------- the plan

def make_plan(rng, seconds):
    """The fault schedule: [{"at","kind","target","dur"}], about one fault
    every 3-4 s during the first seconds - QUIET_S, every kind at least once
    when there is room; worker faults never on a host already under one,
    redis faults >= REDIS_GAP_S apart (plus room for the fault itself)."""
    end = seconds - QUIET_S
    plan = []
    free_at = {h: 0.0 for h in WORKER_HOSTS}
    client_free = 0.0
    redis_free = 0.0
    must = list(KINDS)
    rng.shuffle(must)
    t = 2.0
    while True:
        t += rng.uniform(2.5, 4.5)
        if t > end:
            break
        hosts_free = [h for h in WORKER_HOSTS if free_at[h] <= t]

        def feasible(k):
            if k in WORKER_KINDS:
                return bool(hosts_free)
            if k == "cut-client":
                return client_free <= t
            return redis_free <= t

        cands = [k for k in must if feasible(k)]
        if cands:
            kind = cands[0]
        else:
            ks = [k for k in KINDS if feasible(k)]
            if not ks:
                continue
            kind = rng.choices(ks, [WEIGHTS[k] for k in ks])[0]
        if kind in must:
            must.remove(kind)
        target, dur = None, None
        if kind in WORKER_KINDS:
            target = rng.choice(hosts_free)
            dur = {"kill": rng.uniform(1, 5), "stop": rng.uniform(4, 7),
                   "cut": rng.uniform(4, 7), "term": rng.uniform(1, 3)}[kind]
            # room after it: a term's worker may take its grace to exit
            free_at[target] = t + dur + (4.0 if kind == "term" else 1.0)
        elif kind == "cut-client":
            target = "c"
            dur = rng.uniform(1, 4)
            client_free = t + dur + 1.0
        else:
            # a failover may take a while; restart-redis a few seconds
            redis_free = t + REDIS_GAP_S + (8.0 if kind == "failover" else 3.0)
        plan.append({"at": round(t, 3), "kind": kind, "target": target,
                     "dur": None if dur is None else round(dur, 3)})
    return plan


# ---------------------------------------------------------------- the run

class Run:
    def __init__(self, a):
        self.a = a
        self.bin = os.path.abspath(a.bin)
        self.out = os.path.abspath(a.out)
        here = os.path.dirname(os.path.abspath(__file__))
        self.workload = os.path.abspath(a.workload or os.path.join(here, "workload.py"))
        self.checker = os.path.abspath(a.checker or os.path.join(here, "check.py"))
        self.plugin = os.path.abspath(a.plugin or os.path.join(self.bin, "plugins", "chaos.so"))
        self.net = hosts.Net()
        self.url = "redis+sentinel://%s/m/0" % ",".join(
            "%s:26379" % self.net.addr[h] for h in SENTINEL_HOSTS)
        self.lock = threading.RLock()
        self.stopping = threading.Event()   # the run is ending: no new faults
        self.workers = {}                   # host -> (Popen, record)
        self.wn = {h: 0 for h in WORKER_HOSTS}
        self.expected = set()               # worker pids we signalled to end
        self.busy = set()                   # worker hosts under a fault now
        self.redis = {}                     # host -> Popen of its redis-server
        self.sentinels = {}
        self.redis_lock = threading.Lock()  # redis faults one at a time
        self.redis_last_end = 0.0
        self.nfaults = 0
        self.fault_threads = []
        self.t_start = None
        self.params = None
        self.sub_off = 0
        self.sub_count = 0

    # ------------------------------------------------ files

    def path(self, *p):
        return os.path.join(self.out, *p)

    def append(self, name, obj):
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        with self.lock:
            with open(self.path(name), "a") as f:
                f.write(line)

    def write_json(self, name, obj):
        tmp = self.path(name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
            f.write("\n")
        os.replace(tmp, self.path(name))

    # ------------------------------------------------ redis and sentinels

    def cli(self, host_ip, port, *args, timeout=5):
        """redis-cli from the client host; (rc, stdout)."""
        rc, out, err = self.net.run("c", ["redis-cli", "-h", host_ip, "-p", str(port), *args],
                                    timeout=timeout)
        return rc, (out + err).strip()

    def start_redis(self, host, replicaof=None):
        d = self.path("redis", host)
        os.makedirs(d, exist_ok=True)
        argv = ["redis-server", "--port", "6379", "--bind", "0.0.0.0",
                "--protected-mode", "no", "--appendonly", "yes",
                "--appendfsync", "always", "--dir", d, "--save", ""]
        if replicaof:
            argv += ["--replicaof", replicaof, "6379"]
        with open(self.path("redis", host + ".log"), "ab") as f:
            p = self.net.popen(host, argv, stdout=f, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
        self.redis[host] = p
        return p

    def start_sentinel(self, host):
        d = self.path("sentinel", host)
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("port 26379\nprotected-mode no\ndir %s\n"
                    "sentinel monitor m %s 6379 2\n"
                    "sentinel down-after-milliseconds m 3000\n"
                    "sentinel failover-timeout m 6000\n"
                    "sentinel parallel-syncs m 1\n" % (d, self.net.addr["r1"]))
        with open(os.path.join(d, "sentinel.log"), "ab") as f:
            p = self.net.popen(host, ["redis-server", conf, "--sentinel"], stdout=f,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.sentinels[host] = p

    def ping(self, host):
        rc, out = self.cli(self.net.addr[host], 6379, "PING", timeout=3)
        return rc == 0 and out == "PONG"

    def master(self):
        """The host the Sentinels name as master (first that answers), or
        None."""
        by_ip = {v: k for k, v in self.net.addr.items()}
        for h in ("r3", "r1", "r2"):
            rc, out = self.cli(self.net.addr[h], 26379, "SENTINEL",
                               "get-master-addr-by-name", "m", timeout=3)
            lines = out.split()
            if rc == 0 and len(lines) >= 1 and lines[0] in by_ip:
                return by_ip[lines[0]]
        return None

    def masters_named(self):
        by_ip = {v: k for k, v in self.net.addr.items()}
        names = []
        for h in SENTINEL_HOSTS:
            rc, out = self.cli(self.net.addr[h], 26379, "SENTINEL",
                               "get-master-addr-by-name", "m", timeout=3)
            lines = out.split()
            names.append(by_ip.get(lines[0]) if rc == 0 and lines else None)
        return names

    def sentinel_master_fields(self, h):
        rc, out = self.cli(self.net.addr[h], 26379, "SENTINEL", "MASTER", "m", timeout=3)
        if rc != 0:
            return {}
        v = out.splitlines()
        return dict(zip(v[0::2], v[1::2]))

    def start_broker(self):
        self.start_redis("r1")
        self.start_redis("r2", replicaof=self.net.addr["r1"])
        deadline = time.time() + 30
        while not (self.ping("r1") and self.ping("r2")):
            if time.time() > deadline:
                raise SetupError("redis-server did not answer PING in 30 s (see %s)"
                                 % self.path("redis"))
            time.sleep(0.2)
        for h in SENTINEL_HOSTS:
            self.start_sentinel(h)
        deadline = time.time() + 60
        while True:
            rc, out = self.cli(self.net.addr["r2"], 6379, "INFO", "replication")
            linked = "master_link_status:up" in out
            ok = linked
            for h in SENTINEL_HOSTS:
                f = self.sentinel_master_fields(h)
                if f.get("num-slaves") != "1" or f.get("num-other-sentinels") != "2":
                    ok = False
            if ok:
                return
            if time.time() > deadline:
                raise SetupError("the replica and the Sentinels did not come up in 60 s "
                                 "(see %s and %s)" % (self.path("redis"), self.path("sentinel")))
            time.sleep(0.5)

    # ------------------------------------------------ workers

    def tq(self, *args, timeout=30):
        return self.net.run("c", [os.path.join(self.bin, "tq"), "--redis", self.url,
                                  "--namespace", "chaos", "--connect-timeout", "5s",
                                  *args], timeout=timeout)

    def start_worker(self, host):
        with self.lock:
            n = self.wn[host]
            self.wn[host] += 1
            rel = "workers/%s-%d.log" % (host, n)
            env = dict(os.environ, CHAOS_HOST=host, CHAOS_EXEC_DIR=self.path("exec"))
            argv = [os.path.join(self.bin, "tq-worker"), "--redis", self.url,
                    "--namespace", "chaos", "--queue", "chaos", "--concurrency", "40",
                    "--lease", "%ds" % LEASE_S, "--shutdown-grace", "2s",
                    "--kill-grace", "1s", "--log-format", "json", "--plugin", self.plugin]
            with open(self.path(rel), "ab") as f:
                p = self.net.popen(host, argv, env=env, stdout=f, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
            rec = {"host": host, "n": n, "pid": p.pid, "log": rel, "t_start": time.time(),
                   "t_end": None, "end": None}
            self.append("workers.jsonl", rec)
            self.workers[host] = (p, rec)
            return p

    def worker_ended(self, p, rec, how):
        rec = dict(rec, t_end=time.time(), end=how, rc=p.returncode)
        self.append("workers.jsonl", rec)

    def end_worker(self, host, sig, how, wait=True, grace=15.0):
        """Signals host's current worker (then SIGCONT, in case it was
        stopped); reaps it (SIGKILL after grace) and records its end, here
        (wait) or in a thread, which is returned."""
        with self.lock:
            cur = self.workers.pop(host, None)
            if not cur:
                return None
            p, rec = cur
            self.expected.add(p.pid)
        try:
            os.kill(p.pid, sig)
            if sig != signal.SIGKILL:
                os.kill(p.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

        def reap():
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log("worker %s pid %d did not exit %.0f s after %s: SIGKILL"
                    % (host, p.pid, grace, how))
                p.kill()
                p.wait()
            self.worker_ended(p, rec, how)

        if wait:
            reap()
            return None
        th = threading.Thread(target=reap, daemon=True)
        th.start()
        return th

    def monitor(self):
        """A worker that exits unbidden is a finding: recorded (end "crash",
        its exit code) and replaced."""
        while not self.stopping.wait(0.5):
            with self.lock:
                dead = [(h, p, r) for h, (p, r) in self.workers.items()
                        if p.poll() is not None and p.pid not in self.expected]
                for h, p, r in dead:
                    del self.workers[h]
            for h, p, r in dead:
                log("worker %s pid %d exited by itself (rc %s): see %s"
                    % (h, p.pid, p.returncode, r["log"]))
                self.worker_ended(p, r, "crash")
                if not self.stopping.is_set():
                    self.start_worker(h)

    # ------------------------------------------------ faults

    def fault_done(self, kind, target, pid, t, ok, detail):
        self.append("faults.jsonl", {"kind": kind, "target": target, "pid": pid, "t": t,
                                     "t_end": time.time(), "ok": ok, "detail": detail})
        with self.lock:
            self.nfaults += 1

    def sleep(self, s):
        """Sleeps s seconds; True when the run is ending meanwhile."""
        return self.stopping.wait(s)

    def worker_fault(self, f):
        kind, host, dur = f["kind"], f["target"], f["dur"]
        with self.lock:
            cur = self.workers.get(host)
            if host in self.busy or not cur:
                self.fault_done(kind, host, None, time.time(), False,
                                "host busy or without a worker: not applied")
                return
            self.busy.add(host)
            pid = cur[0].pid
        t = time.time()
        try:
            if kind == "kill":
                self.end_worker(host, signal.SIGKILL, "kill")
                self.sleep(dur)
                if self.stopping.is_set():
                    return  # settle starts the replacement
                self.start_worker(host)
                self.fault_done(kind, host, pid, t, True, "SIGKILL; replaced after %.1fs" % dur)
            elif kind == "term":
                self.end_worker(host, signal.SIGTERM, "term", wait=False)
                self.sleep(dur)
                if self.stopping.is_set():
                    return
                self.start_worker(host)
                self.fault_done(kind, host, pid, t, True, "SIGTERM; replaced after %.1fs" % dur)
            elif kind == "stop":
                os.kill(pid, signal.SIGSTOP)
                self.sleep(dur)
                os.kill(pid, signal.SIGCONT)
                self.fault_done(kind, host, pid, t, True, "SIGSTOP %.1fs" % dur)
            elif kind == "cut":
                self.net.cut(host)
                self.sleep(dur)
                self.net.heal(host)
                self.fault_done(kind, host, pid, t, True, "link down %.1fs" % dur)
        except (ProcessLookupError, RuntimeError) as e:
            self.fault_done(kind, host, pid, t, False, str(e))
        finally:
            with self.lock:
                self.busy.discard(host)

    def client_cut(self, f):
        t = time.time()
        try:
            self.net.cut("c")
            self.sleep(f["dur"])
            self.net.heal("c")
            self.fault_done("cut-client", "c", None, t, True, "link down %.1fs" % f["dur"])
        except RuntimeError as e:
            self.fault_done("cut-client", "c", None, t, False, str(e))

    def redis_fault(self, f):
        kind = f["kind"]
        with self.redis_lock:
            wait = self.redis_last_end + REDIS_GAP_S - time.time()
            if wait > 0 and self.sleep(wait):
                return
            if time.time() > self.t_start + self.a.seconds - QUIET_S:
                self.fault_done(kind, None, None, time.time(), False,
                                "the previous Redis fault ran late: not applied")
                return
            try:
                if kind == "restart-redis":
                    self.restart_redis()
                else:
                    self.failover()
            finally:
                self.redis_last_end = time.time()

    def restart_redis(self):
        t = time.time()
        m = self.master()
        if m not in self.redis:
            self.fault_done("restart-redis", m, None, t, False,
                            "no Sentinel names a master we run (%s)" % m)
            return
        p = self.redis[m]
        pid = p.pid
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        self.start_redis(m)
        deadline = time.time() + 60
        while not self.ping(m):
            if time.time() > deadline or self.stopping.is_set():
                self.fault_done("restart-redis", m, pid, t, False,
                                "restarted, no PONG in 60 s")
                return
            time.sleep(0.1)
        self.fault_done("restart-redis", m, pid, t, True,
                        "SIGKILL, restarted as master (pid %d)" % self.redis[m].pid)

    def failover(self):
        t = time.time()
        old = self.master()
        last = ""
        deadline = time.time() + 5
        while True:
            rc, out = self.cli(self.net.addr["r3"], 26379, "SENTINEL", "FAILOVER", "m")
            if rc == 0 and out == "OK":
                break
            last = out or "rc %s" % rc
            if time.time() > deadline or self.stopping.is_set():
                self.fault_done("failover", old, None, t, False, "refused: " + last)
                return
            time.sleep(0.5)
        deadline = time.time() + 30
        while True:
            names = self.masters_named()
            new = [n for n in names if n and n != old]
            if len(new) >= 2:
                self.fault_done("failover", old, None, t, True,
                                "master %s -> %s" % (old, new[0]))
                return
            if time.time() > deadline or self.stopping.is_set():
                self.fault_done("failover", old, None, t, False,
                                "accepted, no new master named in 30 s (%s)" % names)
                return
            time.sleep(0.2)

    def run_fault(self, f):
        try:
            if f["kind"] in WORKER_KINDS:
                self.worker_fault(f)
            elif f["kind"] == "cut-client":
                self.client_cut(f)
            else:
                self.redis_fault(f)
        except Exception as e:  # a fault must not end the run
            if not self.stopping.is_set():
                log("fault %s failed: %r" % (f, e))
                self.fault_done(f["kind"], f["target"], None, time.time(), False, repr(e))

    def scheduler(self, plan):
        for f in plan:
            if self.stopping.wait(max(0.0, self.t_start + f["at"] - time.time())):
                return
            th = threading.Thread(target=self.run_fault, args=(f,), daemon=True)
            with self.lock:
                self.fault_threads.append(th)
            th.start()

    # ------------------------------------------------ progress

    def submitted(self):
        """Acknowledged jobs in submits.jsonl so far (read on from where the
        last call stopped)."""
        try:
            with open(self.path("submits.jsonl"), "rb") as f:
                f.seek(self.sub_off)
                data = f.read()
        except FileNotFoundError:
            return 0
        end = data.rfind(b"\n") + 1
        self.sub_off += end
        for line in data[:end].splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("op") != "cancel" and r.get("rc") in (0, 7):
                self.sub_count += len(r.get("ids") or []) if r.get("op") != "group" \
                    else len(r.get("args") or []) + 1
        return self.sub_count

    def progress(self, phase):
        while not self.progress_stop.wait(10):
            with self.lock:
                nw = sum(1 for p, _ in self.workers.values() if p.poll() is None)
                nf = self.nfaults
            log("%4.0fs %s: faults %d, submitted %d, workers %d"
                % (time.time() - self.t_start, phase[0], nf, self.submitted(), nw))

    # ------------------------------------------------ settle

    def queue_left(self):
        """(pending, scheduled, active, parked) or None when tq cannot tell."""
        rc, out, err = self.tq("--json", "stats", timeout=20)
        if rc != 0:
            return None
        try:
            qs = {q["queue"]: q for q in json.loads(out)}
        except (ValueError, KeyError, TypeError):
            return None
        q = qs.get("chaos", {})
        rc, out, err = self.tq("--json", "semaphore", "show", "chaos", timeout=20)
        parked = 0
        if rc == 0:
            try:
                parked = sum(s.get("waiting", 0) for s in json.loads(out))
            except (ValueError, TypeError, AttributeError):
                pass
        return (q.get("pending", 0), q.get("scheduled", 0), q.get("active", 0), parked)

    def settle(self, wl, t_faults_end):
        self.stopping.set()
        for h in hosts.HOSTS:
            self.net.heal(h)
        with self.lock:
            for p, _ in self.workers.values():
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            for h in WORKER_HOSTS:
                cur = self.workers.get(h)
                if cur and cur[0].poll() is not None and cur[0].pid not in self.expected:
                    del self.workers[h]
                    log("worker %s pid %d exited by itself (rc %s)"
                        % (h, cur[0].pid, cur[0].returncode))
                    self.worker_ended(cur[0], cur[1], "crash")
                if h not in self.workers:
                    self.start_worker(h)
        for h in REDIS_HOSTS:
            if self.redis[h].poll() is not None:
                m = self.master()
                log("redis-server on %s was not running: started again" % h)
                self.start_redis(h, replicaof=None if m == h else self.net.addr[m or "r1"])
        limit = self.t_start + self.a.seconds + 60
        try:
            wl.wait(timeout=max(1.0, limit - time.time()))
        except subprocess.TimeoutExpired:
            log("the workload did not exit %d s after the fault phase: SIGKILL" % 60)
            wl.kill()
            wl.wait()
        if wl.returncode != 0:
            log("the workload exited %s (see %s)" % (wl.returncode, self.path("workload.log")))
        deadline = time.time() + SETTLE_S
        left = None
        while True:
            left = self.queue_left()
            if left is not None and not any(left):
                log("settled: nothing pending, scheduled, active or parked")
                break
            if time.time() > deadline:
                log("NOT settled after %d s: pending, scheduled, active, parked = %s"
                    % (SETTLE_S, left if left else "unknown (tq stats failed)"))
                break
            time.sleep(2)
        t_settled = time.time()
        with self.lock:
            hs = list(self.workers)
        reapers = [self.end_worker(h, signal.SIGTERM, "final", wait=False) for h in hs]
        for th in reapers:
            if th:
                th.join()
        # and the workers of a term fault still on their way out
        deadline = time.time() + 20
        while time.time() < deadline:
            with self.lock:
                alive = [p for p in self.net.procs if p.pid in self.expected and p.poll() is None]
            if not alive:
                break
            time.sleep(0.2)
        time.sleep(0.3)
        self.params["t_faults_end"] = t_faults_end
        self.params["t_settled"] = t_settled
        self.write_json("params.json", self.params)

    # ------------------------------------------------ main

    def main(self):
        a = self.a
        for f, what in ((os.path.join(self.bin, "tq"), "tq"),
                        (os.path.join(self.bin, "tq-worker"), "tq-worker"),
                        (self.plugin, "the chaos plugin"), (self.workload, "the workload"),
                        (self.checker, "the checker")):
            if not os.path.exists(f):
                raise SetupError("%s not found: %s" % (what, f))
        for prog in ("redis-server", "redis-cli"):
            if not any(os.access(os.path.join(d, prog), os.X_OK)
                       for d in os.environ.get("PATH", "").split(os.pathsep)):
                raise SetupError("%s not found in PATH" % prog)
        hosts.remove_stale(log)
        if os.path.isdir(self.out):
            subprocess.run(["rm", "-rf", self.out], check=True)
        for d in ("workers", "exec", "redis", "sentinel"):
            os.makedirs(self.path(d), exist_ok=True)
        rng = random.Random(a.seed)
        plan = make_plan(rng, a.seconds)
        self.write_json("schedule.json", plan)
        open(self.path("faults.jsonl"), "w").close()
        open(self.path("workers.jsonl"), "w").close()

        log("hosts %s-* on %s.0/24" % (self.net.prefix, self.net.subnet))
        self.net.setup()
        self.start_broker()
        log("redis master r1, replica r2, 3 sentinels up")
        rc, out, err = self.tq("semaphore", "set", "chaos", "4")
        if rc != 0:
            raise SetupError("tq semaphore set chaos 4 failed (%s): %s" % (rc, (out + err).strip()))
        rc, out, err = self.tq("ratelimit", "set", "chaos", "2/s")
        if rc != 0:
            raise SetupError("tq ratelimit set chaos 2/s failed (%s): %s" % (rc, (out + err).strip()))
        for h in WORKER_HOSTS:
            self.start_worker(h)
        time.sleep(1.5)
        for h, (p, rec) in self.workers.items():
            if p.poll() is not None:
                with open(self.path(rec["log"]), errors="replace") as f:
                    tail = f.read().strip().splitlines()[-1:] or ["(no output)"]
                raise SetupError("tq-worker on %s exited at start (rc %s): %s"
                                 % (h, p.returncode, tail[0]))
        self.params = {"seed": a.seed, "seconds": a.seconds, "jobs": a.jobs,
                       "prefix": self.net.prefix, "url": self.url, "namespace": "chaos",
                       "queue": "chaos", "lease_s": LEASE_S, "sem_capacity": 4,
                       "hosts": dict(self.net.addr), "t_start": time.time(),
                       "t_faults_end": None, "t_settled": None}
        self.write_json("params.json", self.params)
        self.t_start = self.params["t_start"]
        with open(self.path("workload.log"), "ab") as f:
            wl = self.net.popen("c", [sys.executable, self.workload, "--bin", self.bin,
                                      "--out", self.out, "--url", self.url,
                                      "--seconds", str(a.seconds), "--jobs", str(a.jobs),
                                      "--seed", str(a.seed)],
                                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log("workload started: %d jobs over %d s; %d faults planned" % (a.jobs, a.seconds, len(plan)))
        phase = ["faults"]
        self.progress_stop = threading.Event()
        threading.Thread(target=self.progress, args=(phase,), daemon=True).start()
        threading.Thread(target=self.monitor, daemon=True).start()
        sched = threading.Thread(target=self.scheduler, args=(plan,), daemon=True)
        sched.start()
        sched.join()
        # the faults in flight end by themselves (a failover may take 30 s)
        with self.lock:
            ths = list(self.fault_threads)
        for th in ths:
            th.join(timeout=max(1.0, self.t_start + a.seconds + 40 - time.time()))
        t_faults_end = time.time()
        phase[0] = "settle"
        self.settle(wl, t_faults_end)
        self.progress_stop.set()
        with open(self.path("faults.jsonl")) as f:
            kinds = [json.loads(x)["kind"] for x in f if x.strip()]
        log("faults applied: %s" % ", ".join("%s %d" % (k, kinds.count(k)) for k in KINDS))
        log("checking")
        p = self.net.popen("c", [sys.executable, self.checker, "--out", self.out],
                           stdin=subprocess.DEVNULL)
        return p.wait()

    def keep_note(self):
        log("kept Redis running in namespaces %s-* (redis-cli: ip netns exec %s "
            "redis-cli -h %s); remove: python3 %s --remove %s"
            % (self.net.prefix, self.net.ns("c"), self.master() and
               self.net.addr[self.master()] or self.net.addr["r1"],
               os.path.relpath(os.path.abspath(__file__)), self.net.prefix))


def remove(prefix):
    for ns in hosts.netns_list():
        if ns.startswith(prefix + "-"):
            for pid in hosts.netns_pids(ns):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            hosts.ip("netns", "del", ns, check=False)
            log("removed %s" % ns)
    return 0


def main():
    ap = argparse.ArgumentParser(description="tq under faults across network namespaces")
    ap.add_argument("--bin", default="build")
    ap.add_argument("--out", default="build/chaos")
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--jobs", type=int, default=100000)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    ap.add_argument("--checker", help=argparse.SUPPRESS)
    ap.add_argument("--plugin", help=argparse.SUPPRESS)
    ap.add_argument("--remove", metavar="PREFIX", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.remove:
        return remove(a.remove)
    if a.seed is None:
        a.seed = int.from_bytes(os.urandom(4), "big") % 1000000000
    print("chaos: seed %d (replay: make chaos CHAOS_SEED=%d CHAOS_S=%d CHAOS_JOBS=%d)"
          % (a.seed, a.seed, a.seconds, a.jobs), flush=True)
    if a.seconds < QUIET_S + 10:
        log("--seconds must be at least %d" % (QUIET_S + 10))
        return 2
    if not hosts.can_netns():
        print("chaos: SKIP: needs root to make network namespaces (ip netns)", flush=True)
        return 0

    def on_signal(sig, frame):
        raise Interrupted(signal.Signals(sig).name)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    r = Run(a)
    rc = 2
    try:
        rc = r.main()
    except SetupError as e:
        log("setup error: %s" % e)
        rc = 2
    except Interrupted as e:
        log("interrupted (%s): cleaning up" % e)
        rc = 130
    finally:
        # a second signal during cleanup must not leave namespaces behind
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        r.stopping.set()
        if getattr(r, "progress_stop", None):
            r.progress_stop.set()
        if a.keep and rc != 2 and r.net.made:
            keep = [p for p in list(r.redis.values()) + list(r.sentinels.values())]
            r.net.stop_all(keep=keep)
            r.keep_note()
        else:
            r.net.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
