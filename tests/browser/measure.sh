#!/usr/bin/env bash
# measure.sh -- what tq dashboard costs Redis with 3 browsers open, under
# a load of RATE no-op jobs/s (default 10,000: a submitter of bulk batches,
# `tq submit-many` of RATE/10 every 0.1 s, paced, and 2 workers of
# concurrency 100), and how long a page takes to load.
#
# RUNS times (default 3), alternating: SECS (default 20) with the dashboard
# running and no browser, then SECS with 3 headless Chromium pages open on
# the queues view (each polls /api/queues every second and /api/rates every
# 5 s). For each half: Redis's time spent in the dashboard's own commands,
# attributed by connection (SLOWLOG at threshold 0 records every command's
# execution time, the clock INFO commandstats uses, with the client's
# address; the dashboard's address comes from `ss`), as a share of one
# core; the same for every non-blocking command (for scale); used_cpu_sys + used_cpu_user
# (the whole server: noisy on a shared machine); jobs/s done; the dashboard
# process's CPU. Then the page loads (navigation to a rendered queues table,
# under the load). Not part of the suite:
#   TQ_BIN=$PWD/build bash tests/browser/measure.sh
#   RATE=10000 RUNS=3 SECS=20 TQ_BIN=$PWD/build bash tests/browser/measure.sh
source "$(dirname "$0")/../integration/lib.sh"
py=/usr/bin/python3
SECS=${SECS:-20}
RUNS=${RUNS:-3}
RATE=${RATE:-10000}

start_redis
rcli config set slowlog-log-slower-than 0 >/dev/null
rcli config set slowlog-max-len 2000000 >/dev/null
for i in 1 2; do start_worker --queue default --concurrency 100 --log-level warn; done
batch=$((RATE / 10))
seq 1 "$batch" >"$TMP/batch"
# the submitter: a batch every 0.1 s on a fixed beat (a late batch does not
# push the ones after it back)
(
    t0=$(date +%s%N)
    for ((k = 1; ; k++)); do
        "$TQ_BIN/tq" submit-many tq.noop <"$TMP/batch" >/dev/null
        left=$(((t0 + k * 100000000 - $(date +%s%N)) / 1000000))
        ((left > 0)) && sleep "$(printf '0.%03d' "$left")"
    done
) &
track_bg $!
"$TQ_BIN/tq" dashboard --listen 127.0.0.1:0 >"$TMP/dashboard.log" 2>&1 &
dash_pid=$!
track_bg "$dash_pid"
wait_until 5 grep -q '^tq dashboard: http' "$TMP/dashboard.log"
DASH=$(sed -n 's|^tq dashboard: \(http://[^ ]*\)/.*|\1|p' "$TMP/dashboard.log")
sleep 3

REDIS_PORT=$REDIS_PORT DASH_PID=$dash_pid NS=$TQ_NAMESPACE "$py" - "$DASH" "$SECS" "$RUNS" <<'PY'
import os, re, socket, subprocess, sys, time
from selenium import webdriver

url, secs, runs = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
port, dash_pid, ns = int(os.environ["REDIS_PORT"]), os.environ["DASH_PID"], os.environ["NS"]

class Redis:
    """Just enough RESP for INFO and SLOWLOG GET."""
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")
    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()
    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t in (b"+", b"-"):
            return rest.decode()
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode("utf-8", "replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(line)

r = Redis()

def info(section, field):
    m = re.search(r"^%s:([0-9.]+)" % field, r.call("INFO", section), re.M)
    return float(m.group(1))

def redis_cpu():
    return info("cpu", "used_cpu_sys") + info("cpu", "used_cpu_user")

def processed():
    v = r.call("HGET", ns + ":{default}:stats", "processed")
    return int(v or 0)

def dash_cpu():
    f = open("/proc/%s/stat" % dash_pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def dash_addrs():
    """The dashboard's connections to Redis, as Redis names them."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", "( dport = :%d )" % port],
                         capture_output=True, text=True).stdout
    return {l.split()[2] for l in out.splitlines() if "pid=%s," % dash_pid in l}

def half(body):
    addrs = dash_addrs()
    r.call("SLOWLOG", "RESET")
    c0, p0, d0, t0 = redis_cpu(), processed(), dash_cpu(), time.time()
    body()
    el = time.time() - t0
    c1, p1, d1 = redis_cpu(), processed(), dash_cpu()
    log = r.call("SLOWLOG", "GET", "-1")
    addrs |= dash_addrs()
    mine = [e for e in log if len(e) > 4 and e[4] in addrs]
    # blocking commands (BLPOP of idle workers) count their wait: left out
    us_all = sum(e[2] for e in log if not e[3][0].lower().startswith("b"))
    us_dash = sum(e[2] for e in mine)
    cmds = {}
    for e in mine:
        cmds[e[3][0].lower()] = cmds.get(e[3][0].lower(), 0) + 1
    return {"s": el, "jobs": (p1 - p0) / el, "cpu": (c1 - c0) / el * 100,
            "all": us_all / 1e6 / el * 100, "dash": us_dash / 1e6 / el * 100,
            "dash_cmds": len(mine) / el, "dash_proc": (d1 - d0) / el * 100,
            "kinds": " ".join("%s %.1f/s" % (k, v / el) for k, v in sorted(cmds.items())),
            "n": len(log)}

def show(what, h):
    print("%-12s %6.0f jobs/s | redis: dashboard's commands %.3f%% of a core (%.1f calls/s: %s), "
          "all non-blocking commands %.1f%%, used_cpu %.1f%% | dashboard process %.2f%%"
          % (what, h["jobs"], h["dash"], h["dash_cmds"], h["kinds"], h["all"], h["cpu"], h["dash_proc"]))
    sys.stdout.flush()

def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        o.add_argument(a)
    return webdriver.Chrome(options=o)

def load(d):
    t0 = time.time()
    d.get(url + "/#/")
    while not d.find_elements("css selector", "td[data-state='pending']"):
        time.sleep(0.01)
    return (time.time() - t0) * 1000

ds = [browser() for _ in range(3)]
loads = []
res = {"none": [], "three": []}
for run in range(runs):
    for d in ds:
        d.get("about:blank")
    h = half(lambda: time.sleep(secs))
    show("no page", h)
    res["none"].append(h)
    for d in ds:
        loads.append(load(d))
    h = half(lambda: time.sleep(secs))
    show("3 pages", h)
    res["three"].append(h)
for d in ds:
    d.quit()
med = lambda xs: sorted(xs)[len(xs) // 2]
for k in ("none", "three"):
    hs = res[k]
    print("median, %s: %.0f jobs/s; dashboard's commands %.3f%% of a core; used_cpu %.1f%%; "
          "dashboard process %.2f%%" % ("no page" if k == "none" else "3 pages", med([h["jobs"] for h in hs]),
          med([h["dash"] for h in hs]), med([h["cpu"] for h in hs]), med([h["dash_proc"] for h in hs])))
print("pages: queues view loaded and rendered in %s ms (median %.0f)"
      % (" ".join("%.0f" % x for x in loads), med(loads)))
PY
