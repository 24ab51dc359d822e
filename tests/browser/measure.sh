#!/usr/bin/env bash
# measure.sh -- what tq dashboard costs Redis: 30 s of a steady job flow
# (a worker, 40 jobs/s) with the dashboard running and no browser, then 30 s
# more with 3 headless Chromium pages open on the queues view (each polls
# /api/queues every second and /api/rates every 5 s). Prints Redis's CPU
# (used_cpu_sys + used_cpu_user) and commands for each half, the
# difference, and the dashboard process's own CPU. Not part of the suite:
#   TQ_BIN=$PWD/build bash tests/browser/measure.sh
source "$(dirname "$0")/../integration/lib.sh"
py=/usr/bin/python3
SECS=${SECS:-30}

start_redis
start_worker --queue default --concurrency 4
( while true; do printf '%s\n' $(seq 1 20) | "$TQ_BIN/tq" submit-many tq.noop >/dev/null; sleep 0.5; done ) &
track_bg $!
"$TQ_BIN/tq" dashboard --listen 127.0.0.1:0 >"$TMP/dashboard.log" 2>&1 &
dash_pid=$!
track_bg "$dash_pid"
wait_until 5 grep -q '^tq dashboard: http' "$TMP/dashboard.log"
DASH=$(sed -n 's|^tq dashboard: \(http://[^ ]*\)/.*|\1|p' "$TMP/dashboard.log")

redis_cpu() { rcli info cpu | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f", s}'; }
redis_cmds() { rcli info stats | awk -F: '/^total_commands_processed:/ {print $2+0}'; }
dash_cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$dash_pid/stat"; }

half() {
    local c0 n0 d0
    c0=$(redis_cpu); n0=$(redis_cmds); d0=$(dash_cpu)
    "$@"
    awk -v a="$c0" -v b="$(redis_cpu)" -v n="$n0" -v m="$(redis_cmds)" -v d="$d0" -v e="$(dash_cpu)" -v s="$SECS" \
        'BEGIN {printf "redis cpu %.2f s (%.1f%%), %d commands (%.0f/s); dashboard cpu %.2f s\n", b-a, (b-a)*100/s, m-n, (m-n)/s, e-d}'
}

sleep 3
echo "== no browser, ${SECS}s"
half sleep "$SECS"
echo "== 3 browsers on the queues page, ${SECS}s"
half "$py" - "$DASH" "$SECS" <<'PY'
import sys, time
from selenium import webdriver
url, secs = sys.argv[1], float(sys.argv[2])
ds = []
for i in range(3):
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        o.add_argument(a)
    d = webdriver.Chrome(options=o)
    t0 = time.time()
    d.get(url + "/#/")
    while not d.find_elements("css selector", "td[data-state='pending']"):
        time.sleep(0.02)
    print("page %d loaded and rendered in %.0f ms" % (i, (time.time() - t0) * 1000))
    ds.append(d)
time.sleep(secs)
for d in ds:
    d.quit()
PY
