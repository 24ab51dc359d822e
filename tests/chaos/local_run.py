#!/usr/bin/env python3
"""A small chaos run on one host, without namespaces or root: to try the
checker on real tq output (not part of `make test`; `make chaos` is the
real suite).

    python3 tests/chaos/local_run.py --out DIR [--seconds 30] [--jobs 1500]
        [--redis-fault restart|failover] [--build build] [--plugin FILE.so]
        [--workload chaos/workload.py]

A master and a replica (AOF, appendfsync always) on free ports, one
Sentinel (for --redis-fault failover), three workers w1..w3 with the chaos
plugin, the workload for SECONDS; then one fault of each kind in order:
SIGKILL w1 (restarted), SIGSTOP w2 for 5 s (past its 3 s lease), SIGTERM w3
(restarted), then a Redis restart or a Sentinel failover. It settles for
12 s, stops the workers (SIGTERM), runs chaos/check.py and exits with its
status. Every process it starts is stopped by its pid, also on error.
The plugin is built from chaos/plugin.c when --plugin is not given.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port)] + list(args),
                          capture_output=True, text=True).stdout.strip()


class Run:
    def __init__(self, a):
        self.a, self.out = a, os.path.abspath(a.out)
        self.procs = []          # every process we started
        self.count = {}
        self.ws = {}

    def jl(self, name, obj):
        with open(os.path.join(self.out, name), "a") as f:
            f.write(json.dumps(obj) + "\n")

    def spawn(self, argv, log, **kw):
        p = subprocess.Popen(argv, stdout=open(os.path.join(self.out, log), "w"),
                             stderr=subprocess.STDOUT, **kw)
        self.procs.append(p)
        return p

    def redis(self, port, d, *extra):
        os.makedirs(os.path.join(self.out, d), exist_ok=True)
        return self.spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                           "--dir", os.path.join(self.out, d), "--save", "", "--appendonly", "yes",
                           "--appendfsync", "always"] + list(extra), os.path.join(d, "log"))

    def wait_ping(self, port):
        for _ in range(200):
            if cli(port, "PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis on port %d did not answer" % port)

    def worker(self, host):
        n = self.count.get(host, 0)
        self.count[host] = n + 1
        log = "workers/%s-%d.log" % (host, n)
        env = dict(os.environ, CHAOS_HOST=host, CHAOS_EXEC_DIR=os.path.join(self.out, "exec"))
        p = self.spawn([os.path.join(self.a.build, "tq-worker"), "--redis", self.url,
                        "--namespace", "chaos", "--queue", "chaos", "--concurrency", "40",
                        "--lease", "3s", "--shutdown-grace", "2s", "--kill-grace", "1s",
                        "--log-format", "json", "--plugin", self.plugin], log, env=env)
        rec = {"host": host, "n": n, "pid": p.pid, "log": log, "t_start": time.time(),
               "t_end": None, "end": None}
        self.jl("workers.jsonl", rec)
        self.ws[host] = (p, rec)

    def worker_end(self, host, how):
        p, rec = self.ws[host]
        p.wait()
        self.jl("workers.jsonl", dict(rec, t_end=time.time(), end=how))

    def fault(self, **f):
        self.jl("faults.jsonl", dict({"target": None, "pid": None, "ok": True, "detail": ""}, **f))

    def main(self):
        a = self.a
        shutil.rmtree(self.out, ignore_errors=True)
        for d in ("exec", "workers"):
            os.makedirs(os.path.join(self.out, d))
        self.plugin = a.plugin
        if not self.plugin:
            self.plugin = os.path.join(self.out, "chaos.so")
            cflags = subprocess.run(["pkg-config", "--cflags", "jansson", "libevent"],
                                    capture_output=True, text=True, check=True).stdout.split()
            subprocess.run(["cc", "-shared", "-fPIC", "-std=c11", "-I" + os.path.join(ROOT, "include")]
                           + cflags + ["-o", self.plugin, os.path.join(ROOT, "chaos", "plugin.c")],
                           check=True)
        pm, pr = free_port(), free_port()
        self.redis(pm, "redis/m")
        self.wait_ping(pm)
        self.redis(pr, "redis/r", "--replicaof", "127.0.0.1", str(pm))
        self.wait_ping(pr)
        while "master_link_status:up" not in cli(pr, "INFO", "replication"):
            time.sleep(0.1)
        ps = None
        if a.redis_fault == "failover":
            ps = free_port()
            os.makedirs(os.path.join(self.out, "sentinel"))
            conf = os.path.join(self.out, "sentinel", "s.conf")
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor m 127.0.0.1 %d 1\n"
                        "sentinel down-after-milliseconds m 2000\nsentinel failover-timeout m 10000\n"
                        % (ps, os.path.dirname(conf), pm))
            self.spawn(["redis-server", conf, "--sentinel"], "sentinel/log")
            self.wait_ping(ps)
            while not cli(ps, "SENTINEL", "replicas", "m"):
                time.sleep(0.2)
            self.url = "redis+sentinel://127.0.0.1:%d/m/0" % ps
        else:
            self.url = "redis://127.0.0.1:%d/0" % pm
        tq = os.path.join(a.build, "tq")
        subprocess.run([tq, "--redis", self.url, "--namespace", "chaos", "semaphore", "set",
                        "chaos", "4"], check=True, capture_output=True)
        subprocess.run([tq, "--redis", self.url, "--namespace", "chaos", "ratelimit", "set",
                        "chaos", "2/s"], check=True, capture_output=True)
        for h in ("w1", "w2", "w3"):
            self.worker(h)
        params = {"seed": a.seed, "seconds": a.seconds, "jobs": a.jobs, "prefix": "local",
                  "url": self.url if ps else "redis+sentinel://127.0.0.1:1/m/0",
                  "namespace": "chaos", "queue": "chaos", "lease_s": 3, "sem_capacity": 4,
                  "hosts": {}, "t_start": time.time(), "t_faults_end": None, "t_settled": None}
        with open(os.path.join(self.out, "params.json"), "w") as f:
            json.dump(params, f)
        wl = subprocess.Popen([sys.executable, a.workload,
                               "--bin", a.build, "--out", self.out, "--url", self.url,
                               "--seconds", str(a.seconds), "--jobs", str(a.jobs),
                               "--seed", str(a.seed)])
        self.procs.append(wl)
        S = a.seconds
        time.sleep(S * 0.25)
        p, rec = self.ws["w1"]
        t = time.time()
        p.kill()
        self.worker_end("w1", "kill")
        self.worker("w1")
        self.fault(kind="kill", target="w1", pid=rec["pid"], t=t, t_end=time.time())
        time.sleep(S * 0.15)
        p, rec = self.ws["w2"]
        t = time.time()
        p.send_signal(signal.SIGSTOP)
        time.sleep(5)
        p.send_signal(signal.SIGCONT)
        self.fault(kind="stop", target="w2", pid=rec["pid"], t=t, t_end=time.time())
        time.sleep(S * 0.1)
        p, rec = self.ws["w3"]
        t = time.time()
        p.terminate()
        self.worker_end("w3", "term")
        self.worker("w3")
        self.fault(kind="term", target="w3", pid=rec["pid"], t=t, t_end=time.time())
        time.sleep(S * 0.1)
        t = time.time()
        if ps:
            r = cli(ps, "SENTINEL", "FAILOVER", "m")
            while time.time() - t < 20:
                got = cli(ps, "SENTINEL", "get-master-addr-by-name", "m").split()
                if got and got[-1] == str(pr):
                    break
                time.sleep(0.1)
            self.fault(kind="failover", t=t, t_end=time.time(), ok=r == "OK", detail=r)
        else:
            old = self.procs[0]
            old.kill()
            old.wait()
            self.procs[0] = self.redis(pm, "redis/m")
            self.wait_ping(pm)
            self.fault(kind="restart-redis", target="r1", pid=self.procs[0].pid, t=t,
                       t_end=time.time())
        params["t_faults_end"] = time.time()
        wl.wait()
        time.sleep(12)
        params["t_settled"] = time.time()
        with open(os.path.join(self.out, "params.json"), "w") as f:
            json.dump(params, f)
        for h in self.ws:
            self.ws[h][0].terminate()
        for h in list(self.ws):
            self.worker_end(h, "final")
        argv = [sys.executable, os.path.join(ROOT, "chaos", "check.py"), "--out", self.out]
        if not ps:
            argv += ["--redis", "127.0.0.1:%d" % pm]
        return subprocess.run(argv).returncode

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGCONT)
                    p.kill()
                except ProcessLookupError:
                    pass
                p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--jobs", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--redis-fault", choices=("restart", "failover"), default="restart")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--plugin")
    ap.add_argument("--workload", default=os.path.join(ROOT, "chaos", "workload.py"))
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    r = Run(a)
    try:
        return r.main()
    finally:
        r.stop_all()


if __name__ == "__main__":
    sys.exit(main())
