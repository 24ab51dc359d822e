#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq programs are single-quoted: their $names are jq's
# bench.sh -- `make bench`: tq's own benchmark against a private redis-server.
#
# Measures (bench/README.md gives the method of each figure and its target):
#   enqueue   bulk: tq submit-many of N no-ops; one at a time: tq_submit
#             through libtq (bench/peers/tq/tq_peer.c), each call awaited
#   drain     one worker, concurrency 100, N no-ops: jobs/s, worker and
#             redis-server CPU per job, worker peak RSS; and the same with
#             every job under a 100000/s rate limit (burst 1 and 100):
#             jobs/s and redis-server CPU per job
#   redis     commands per job from INFO commandstats, for both enqueues and
#             the drain
#   latency   enqueue-to-start p50/p99/max at 200 jobs/s, paced by tq_peer
#   sleep     2,000 x tq.sleep 50 at concurrency 100 (ideal 1 s), and
#             100,000 x tq.sleep 50 at concurrency 10,000 (ideal 0.5 s)
#   cancel    tq cancel of a running job: exec child gone / tq.sleep record
#             cancelled (tq wait woken), p50/p99 (ms)
#   timeout   --timeout 200ms on tq.sleep 5000 and an exec sleep: how late
#             past started_at + timeout the failure is recorded (ms)
#   failover  a worker SIGKILLed while running jobs: time until they run on
#             another worker, default settings (s)
#   durable   what --durable 1 adds per one-at-a-time submit (us) and per
#             submit-many batch of 1,000 (ms), with a replica on this machine
#   schedule  tick lateness (job created_at - tick) p50/p99 of @every 1s
#             with 5 workers racing for each tick (TQ_BENCH_SCHED_S=10)
#   fair      N no-ops of --fair-key A, then 10 of B: B's wait (enqueue to
#             start) and the drain's CPU per job; the same without keys
#             (B behind A's backlog)
#   tservers  no-op jobs through a Python task server (K=1, K=2), its CPU
#             per job, 2,000 x asyncio.sleep(0.05) at M=100, beside a Python
#             exec task, tq.noop, tq.sleep and an exec sleep
#   tls       the one-at-a-time enqueue and the no-op drain on a second
#             private redis-server, plain and then over TLS (rediss://,
#             certificates made by openssl), back to back: the ratio
# Prints a table with a target per figure; writes
# bench/results/bench-<timestamp>.json and latest.json.
#
#   TQ_BIN=build bash bench/bench.sh
#   TQ_BENCH_N=100000        jobs for bulk enqueue and the drain
#   TQ_BENCH_ONE_N=5000      jobs for one-at-a-time enqueue
#   TQ_BENCH_LAT_N=1000 TQ_BENCH_LAT_RATE=200   latency run
#   TQ_BENCH_BIG_N=100000 TQ_BENCH_BIG_CONC=10000   the large sleep run
#   TQ_BENCH_CAP=60          seconds a drain or sleep run may take before it
#                            is cut short (then judged on the jobs done)
#   TQ_BENCH_CANCEL_N=50 TQ_BENCH_TIMEOUT_N=50   runs per kind
#   TQ_BENCH_KILL_JOBS=3     jobs held by the worker that is SIGKILLed
#   TQ_BENCH_DURABLE_N=2000  one-at-a-time submits per durable run
#   TQ_BENCH_RL_N=20000      jobs per rate-limited drain (burst 1, burst 100)
#   TQ_BENCH_TS_N=20000 TQ_BENCH_TS_EXEC_N=400   task-server and Python exec runs
#   TQ_BENCH_PYTHON_DIR=python   the tq package for the tq.serve rows
#   TQ_BENCH_OUT=dir         where the JSON goes (default bench/results)
set -Eeuo pipefail

: "${TQ_BIN:?TQ_BIN must name the build directory (make bench sets it)}"
TQ_BIN=$(cd "$TQ_BIN" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh" # alive nap now_us rcall rbulk cpu_one build_tq_helpers
OUTDIR=${TQ_BENCH_OUT:-$HERE/results}
N=${TQ_BENCH_N:-100000}
ONE_N=${TQ_BENCH_ONE_N:-5000}
CONC=100
LAT_N=${TQ_BENCH_LAT_N:-1000} LAT_RATE=${TQ_BENCH_LAT_RATE:-200}
SLEEP_N=2000 SLEEP_MS=50
BIG_N=${TQ_BENCH_BIG_N:-100000} BIG_CONC=${TQ_BENCH_BIG_CONC:-10000}
CAP=${TQ_BENCH_CAP:-60}
CANCEL_N=${TQ_BENCH_CANCEL_N:-50} TMO_N=${TQ_BENCH_TIMEOUT_N:-50} TMO_MS=200
KILL_JOBS=${TQ_BENCH_KILL_JOBS:-3}
SCHED_S=${TQ_BENCH_SCHED_S:-10}
RL_N=${TQ_BENCH_RL_N:-20000}
TS_N=${TQ_BENCH_TS_N:-20000} TS_EXEC_N=${TQ_BENCH_TS_EXEC_N:-400}
declare -A KNOB_OF=([SCHED_S]=TQ_BENCH_SCHED_S [N]=TQ_BENCH_N [ONE_N]=TQ_BENCH_ONE_N [LAT_N]=TQ_BENCH_LAT_N
    [LAT_RATE]=TQ_BENCH_LAT_RATE [BIG_N]=TQ_BENCH_BIG_N [BIG_CONC]=TQ_BENCH_BIG_CONC
    [CAP]=TQ_BENCH_CAP [CANCEL_N]=TQ_BENCH_CANCEL_N [TMO_N]=TQ_BENCH_TIMEOUT_N
    [KILL_JOBS]=TQ_BENCH_KILL_JOBS [RL_N]=TQ_BENCH_RL_N)
KNOB_OF[TS_N]=TQ_BENCH_TS_N KNOB_OF[TS_EXEC_N]=TQ_BENCH_TS_EXEC_N
knobs bench "${!KNOB_OF[@]}"
NS=bench
HZ=$(getconf CLK_TCK)

for c in redis-server redis-cli awk jq cc pkg-config timeout openssl; do
    command -v "$c" >/dev/null || { echo "bench: $c is required" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-bench.XXXXXX")
REDIS_PID=""
WPIDS=()

cleanup() {
    local rc=$? p
    set +e
    for p in "${WPIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [[ -n $REDIS_PID ]] && { kill -KILL "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; }
    if [[ $rc != 0 ]]; then
        for f in "$TMP"/*.log; do [[ -s $f ]] && { echo "--- ${f##*/}" >&2; tail -n 20 "$f" >&2; }; done
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

die() { echo "bench: $*" >&2; exit 1; }
note() { printf '  %s\n' "$*" >&2; }
# us: microseconds since the epoch, printed (bash's clock).
us() { echo "${EPOCHREALTIME/./}"; }
# secs A B: (B - A) microseconds as seconds.
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", (b-a)/1e6}'; }
# rate N SECS: N / SECS, rounded.
rate() { awk -v n="$1" -v s="$2" 'BEGIN{printf "%.0f", n/s}'; }
# pct P FILE: the P-th percentile (nearest rank) of the sorted numbers in FILE.
pct() { awk -v p="$1" '{a[NR]=$1} END{i=int(NR*p/100+0.999999); if(i<1)i=1; if(i>NR)i=NR; printf "%.3f", a[i]}' "$2"; }
nap_init "$TMP"

# ---------------------------------------------------------------- redis

private_redis "$TMP" || die "could not start redis-server"
REDIS_VERSION=$(redis-server --version | grep -o 'v=[^ ]*' | cut -c3-)
export TQ_REDIS_URL="redis://127.0.0.1:$PORT/0" TQ_NAMESPACE=$NS
R() { redis-cli -p "$PORT" "$@"; }
# The poller's connection (rcall, rbulk): no fork per poll.
exec {RFD}<>"/dev/tcp/127.0.0.1/$PORT"

tq() { "$TQ_BIN/tq" "$@"; }

# fresh: FLUSHALL between runs that do not share data (keeps Redis's
# script cache).
fresh() { rcall FLUSHALL; [[ $RV == OK ]] || die "FLUSHALL: $RV"; }

# start_worker NAME ARGS...: sets WPID. Namespace from TQ_NAMESPACE unless
# ARGS say otherwise. Logs only warnings: a line per job would make the
# benchmark measure the log.
start_worker() {
    local name=$1
    shift
    "$TQ_BIN/tq-worker" --log-level warn "$@" >"$TMP/$name.log" 2>&1 &
    WPID=$!
    WPIDS+=("$WPID")
}
forget() {
    local p keep=()
    for p in "${WPIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    WPIDS=("${keep[@]}")
}
# stop_worker PID: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_worker() {
    local i
    kill -TERM "$1" 2>/dev/null || true
    for ((i = 0; i < 1000; i++)); do alive "$1" || break; nap 0.01; done
    kill_worker "$1"
}
kill_worker() {
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

# wait_workers NS COUNT: until COUNT workers are registered in NS, 10 s at most.
wait_workers() {
    local end p
    now_us
    end=$((NOW + 10000000))
    while :; do
        rcall "ZCARD $1:workers"
        [[ $RV == "$2" ]] && return 0
        for p in "${WPIDS[@]}"; do alive "$p" || die "worker $p exited"; done
        now_us
        ((NOW < end)) || die "$RV workers registered in $1, not $2, 10 s after starting them"
        nap 0.01
    done
}

# processed_at_least KP COUNT SECS: polls KP:stats processed (the queue's
# count of outcomes, docs/design.md §2) every 10 ms until it reaches COUNT.
processed_at_least() {
    local end
    now_us
    end=$((NOW + $3 * 1000000))
    while :; do
        rcall "HGET $1:stats processed"
        ((${RV:-0} >= $2)) && return 0
        now_us
        ((NOW < end)) || die "$1: ${RV:-0} of $2 processed after $3 s"
        nap 0.01
    done
}

# measure KP WPID TOTAL [LIST]: the window of a drain, as bench/peers/run.sh
# takes it. Polls (RESP on RFD) until the first job leaves the pending list
# LIST (default KP:p0; every 1 ms, 30 s at most), then until KP:stats
# processed reaches TOTAL (every 2 ms, CAP s at most). At the first moment: CPU of the worker and of
# redis-server, CONFIG RESETSTAT; at the last: CPU again and INFO
# commandstats. Sets T0 T1 (us), ELAPSED (s), DONE, WTICKS, RTICKS,
# CMDSTATS (the INFO text) and POLLS (the HGETs the poller sent after the
# reset: they are in CMDSTATS).
measure() {
    local kp=$1 wpid=$2 total=$3 end w1 r1 first=${4:-$1:p0}
    now_us
    end=$((NOW + 30000000))
    while :; do
        rcall "LLEN $first"
        [[ $RV =~ ^[0-9]+$ ]] || die "LLEN $first: $RV"
        ((RV < total)) && break
        alive "$wpid" || die "worker $wpid exited before its first claim"
        now_us
        ((NOW < end)) || die "no job of $kp claimed within 30 s of the worker's start"
        nap 0.001
    done
    now_us
    T0=$NOW
    cpu_one "$wpid"; w1=$TICKS
    cpu_one "$REDIS_PID"; r1=$TICKS
    rcall "CONFIG RESETSTAT"
    POLLS=0
    end=$((T0 + CAP * 1000000))
    while :; do
        rcall "HGET $kp:stats processed"
        POLLS=$((POLLS + 1))
        DONE=${RV:-0}
        ((DONE >= total)) && break
        now_us
        ((NOW < end)) || break
        nap 0.002
    done
    now_us
    T1=$NOW
    cpu_one "$wpid"; WTICKS=$((TICKS - w1))
    cpu_one "$REDIS_PID"; RTICKS=$((TICKS - r1))
    rbulk "INFO commandstats"
    CMDSTATS=$RV
    ELAPSED=$(secs "$T0" "$T1")
    ((DONE > 0)) || die "$kp: nothing processed in $CAP s"
}

# cmdstats NAME JOBS [HGETS]: CMDSTATS (taken after a CONFIG RESETSTAT) per
# job, as JSON in $TMP/cmd-NAME.json, and the top-level calls per job in
# CALLS. The bench's own commands are taken out: CONFIG RESETSTAT, INFO,
# and HGETS poller HGETs. A command is counted as top-level when its COMMAND
# INFO flags include noscript (EVALSHA, BLPOP, SUBSCRIBE, SCRIPT LOAD...:
# every call came from a client), as is a subcommand (script|load, shown as
# script-load); the others ran inside the scripts (tq's
# clients send no other command while jobs flow: bench/README.md).
cmdstats() {
    local name=$1 jobs=$2 hgets=${3:-0} names
    printf '%s\n' "$CMDSTATS" |
        awk -F'[:,=]' -v h="$hgets" '/^cmdstat_/ {
            sub(/^cmdstat_/, "", $1)
            if ($1 == "info" || $1 == "config|resetstat") next
            if ($1 == "hget") $3 -= h
            gsub(/\|/, "-", $1) # script|load: "|" separates the table rows
            if ($3 > 0) print $1, $3, $5 }' >"$TMP/cmd-$name.txt"
    names=$(cut -d' ' -f1 "$TMP/cmd-$name.txt" | tr '\n' ' ')
    # shellcheck disable=SC2086 # one argument per command name
    R --json COMMAND INFO $names |
        jq -c '[.[] | select(. != null) | {key: .[0], value: (.[2] | index("noscript") != null)}] | from_entries' \
            >"$TMP/cmd-$name.flags"
    jq -R -s --argjson jobs "$jobs" --slurpfile top "$TMP/cmd-$name.flags" '
        [split("\n")[] | select(length > 0) | split(" ")
         | {name: .[0], calls: (.[1] | tonumber), usec: (.[2] | tonumber)}
         | .in_script = ((.name | contains("-") | not) and (($top[0][.name] // false) | not))] as $c
        | {jobs: $jobs,
           calls_per_job: (([$c[] | select(.in_script | not) | .calls] | add // 0) / $jobs),
           script_calls_per_job: (([$c[] | select(.in_script) | .calls] | add // 0) / $jobs),
           commands: ($c | sort_by(-.usec) | map({key: .name, value: {
               calls: .calls, in_script: .in_script,
               calls_per_job: (.calls / $jobs), usec_per_job: (.usec / $jobs)}}) | from_entries)}' \
        "$TMP/cmd-$name.txt" >"$TMP/cmd-$name.json"
    CALLS=$(printf '%.3f' "$(jq .calls_per_job "$TMP/cmd-$name.json")")
}

# fig KEY LABEL VALUE UNIT [OP TARGET]: one row of the table and of the
# JSON's figures; OP is >= or <=. Fields are |-separated in $TMP/figs.
fig() { printf '%s|%s|%s|%s|%s|%s\n' "$1" "$2" "$3" "$4" "${5:-}" "${6:-}" >>"$TMP/figs"; }
# sub LABEL VALUE UNIT: an indented row of the table only (a breakdown).
sub() { printf '%s|  %s|%s|%s||\n' - "$1" "$2" "$3" >>"$TMP/figs"; }
# top3 NAME: sub rows for the three commands that took the most time.
top3() {
    jq -r '.commands | to_entries[:3][] | [.key + (if .value.in_script then "*" else "" end),
        .value.calls_per_job, .value.usec_per_job] | @tsv' "$TMP/cmd-$1.json" |
        while IFS=$'\t' read -r c n u; do
            sub "$(printf '%s, %.3f calls/job' "$c" "$n")" "$(printf '%.2f' "$u")" us/job
        done
}
# detail NAME JQ-ARGS... FILTER: a section of the JSON's details.
detail() { local name=$1; shift; jq -n "$@" >"$TMP/detail-$name.json"; }
: >"$TMP/figs"

echo "tq bench: redis $REDIS_VERSION on 127.0.0.1:$PORT, $(nproc) cores" >&2
build_tq_helpers "$TQ_BIN" "$ROOT" "$TMP" || die "building bench/peers/tq helpers failed: $(head -n 3 "$TMP/cc.log")"

# ---------------------------------------------------------------- enqueue, bulk

echo "(a) bulk enqueue: tq submit-many of $N no-ops" >&2
seq 1 "$N" >"$TMP/args"
rcall "CONFIG RESETSTAT"
now_us; t0=$NOW
tq submit-many --queue drain tq.noop <"$TMP/args" >"$TMP/ids"
now_us; t1=$NOW
rbulk "INFO commandstats"; CMDSTATS=$RV
enq_s=$(secs "$t0" "$t1")
[[ $(wc -l <"$TMP/ids") == "$N" ]] || die "submit-many printed $(wc -l <"$TMP/ids") ids for $N jobs"
rcall "LLEN $NS:{drain}:p0"
[[ $RV == "$N" ]] || die "bulk enqueue: $RV of $N jobs pending"
enq_rate=$(rate "$N" "$enq_s")
cmdstats enqueue "$N"
enq_calls=$CALLS
note "$N jobs in ${enq_s}s: $enq_rate jobs/s; $enq_calls Redis calls/job"
fig enqueue_bulk "bulk enqueue, tq submit-many ($N)" "$enq_rate" jobs/s ">=" 250000
detail enqueue_bulk --argjson jobs "$N" --argjson s "$enq_s" --argjson r "$enq_rate" \
    '{jobs: $jobs, seconds: $s, jobs_per_s: $r}'

# ---------------------------------------------------------------- enqueue, one at a time

echo "(b) one-at-a-time enqueue: $ONE_N x tq_submit (libtq), each awaited" >&2
# namespace tq (tq_peer's): apart from the drain's jobs, no FLUSHALL needed
rcall "CONFIG RESETSTAT"
one_s=$(PEERS_PORT=$PORT timeout 120 "$TMP/tq_peer" one "$ONE_N" | jq -r .seconds) ||
    die "tq_peer one $ONE_N failed"
rbulk "INFO commandstats"; CMDSTATS=$RV
rcall "LLEN tq:{bench}:p0"
[[ $RV == "$ONE_N" ]] || die "one-at-a-time: $RV of $ONE_N jobs pending"
one_rate=$(rate "$ONE_N" "$one_s")
cmdstats one "$ONE_N"
one_calls=$CALLS
note "$ONE_N jobs in ${one_s}s: $one_rate jobs/s; $one_calls Redis calls/job"
fig enqueue_one "one-at-a-time enqueue, libtq ($ONE_N)" "$one_rate" jobs/s ">=" 10000
detail enqueue_one --argjson jobs "$ONE_N" --argjson s "$one_s" --argjson r "$one_rate" \
    '{jobs: $jobs, seconds: $s, jobs_per_s: $r}'

# ---------------------------------------------------------------- drain

echo "(c) drain: one worker, concurrency $CONC, $N no-ops" >&2
start_worker drain --queue drain --concurrency "$CONC"
wd=$WPID
measure "$NS:{drain}" "$wd" "$N"
((DONE == N)) || die "drain: $DONE of $N processed in $CAP s"
rss_drain=$(hwm_kb "$wd")
stop_worker "$wd"
drain_rate=$(rate "$N" "$ELAPSED")
wus=$(awk -v t="$WTICKS" -v hz="$HZ" -v n="$N" 'BEGIN{printf "%.2f", t*1e6/hz/n}')
rus=$(awk -v t="$RTICKS" -v hz="$HZ" -v n="$N" 'BEGIN{printf "%.2f", t*1e6/hz/n}')
cmdstats drain "$N" "$POLLS"
drain_calls=$CALLS
note "$N jobs in ${ELAPSED}s: $drain_rate jobs/s; CPU/job: worker $wus us, redis $rus us; peak RSS $rss_drain KiB; $drain_calls Redis calls/job"
# Spot-check: the last job succeeded with its own args as result.
last=$(tail -n 1 "$TMP/ids")
[[ $(tq result "$last") == "$N" ]] || die "job $last: result is not $N"
fig drain "no-op drain, 1 worker x $CONC ($N)" "$drain_rate" jobs/s ">=" 100000
fig rss_drain "worker peak RSS (VmHWM), drain" "$(mib "$rss_drain")" MiB "<=" 8
fig cpu_worker "worker CPU per job, drain" "$wus" us "<=" 8
fig cpu_redis "redis-server CPU per job, drain" "$rus" us "<=" 15
detail drain --argjson jobs "$N" --argjson conc "$CONC" --argjson s "$ELAPSED" --argjson r "$drain_rate" \
    --argjson wt "$WTICKS" --argjson rt "$RTICKS" --argjson hz "$HZ" --argjson rss "$rss_drain" \
    --argjson wus "$wus" --argjson rus "$rus" \
    '{jobs: $jobs, concurrency: $conc, seconds: $s, jobs_per_s: $r, worker_peak_rss_kib: $rss,
      cpu: {clock_ticks_per_s: $hz, worker_ticks: $wt, redis_ticks: $rt,
            worker_us_per_job: $wus, redis_us_per_job: $rus}}'

# ---------------------------------------------------------------- rate-limited drain

# The same drain with every job under one rate limit far above what one
# worker does (so it measures the cost of the token, not the wait): with
# burst 1 nearly every job is parked for its reserved token, then promoted
# (the worst case); with burst 100 most take a token at once.
for rl_burst in 1 100; do
    echo "(c$rl_burst) rate-limited drain: $RL_N no-ops, --rate-limit at 100000/s, burst $rl_burst, one worker" >&2
    fresh
    tq ratelimit set bench 100000/s --burst "$rl_burst" >/dev/null
    seq 1 "$RL_N" | tq submit-many --queue rl --rate-limit bench tq.noop >/dev/null
    start_worker rl --queue rl --concurrency "$CONC"
    wr=$WPID
    measure "$NS:{rl}" "$wr" "$RL_N"
    ((DONE == RL_N)) || die "rate-limited drain: $DONE of $RL_N processed in $CAP s"
    stop_worker "$wr"
    rl_rate=$(rate "$RL_N" "$ELAPSED")
    rl_rus=$(awk -v t="$RTICKS" -v hz="$HZ" -v n="$RL_N" 'BEGIN{printf "%.2f", t*1e6/hz/n}')
    note "$RL_N jobs in ${ELAPSED}s: $rl_rate jobs/s; redis CPU $rl_rus us/job"
    fig "drain_rl_b$rl_burst" "rate-limited drain, burst $rl_burst ($RL_N)" "$rl_rate" jobs/s
    fig "cpu_redis_rl_b$rl_burst" "redis-server CPU per job, rate-limited, burst $rl_burst" "$rl_rus" us
done

# Redis commands per job: totals, and the top three by time of the bulk
# enqueue and the drain
fig calls_enqueue "Redis calls/job, bulk enqueue" "$enq_calls" calls
top3 enqueue
fig calls_one "Redis calls/job, one-at-a-time enqueue" "$one_calls" calls
fig calls_drain "Redis calls/job, drain" "$drain_calls" calls
top3 drain

# ---------------------------------------------------------------- latency

echo "(d) latency: $LAT_N no-ops at $LAT_RATE/s, paced by tq_peer (libtq), to an idle worker" >&2
fresh
: >"$TMP/lat-file"
# the plugin appends to PEERS_LAT_FILE (a variable set for one call is
# exported for that call, so the worker inherits it)
PEERS_LAT_FILE=$TMP/lat-file start_worker latency --namespace tq --queue bench --concurrency "$CONC" \
    --plugin "$TMP/peers_lat.so"
wl=$WPID
wait_workers tq 1
# tq_peer sends one warm-up job and waits for it to run, then LAT_N on a
# fixed schedule (it sleeps until each one's time: no drift)
lat_rate_real=$(PEERS_PORT=$PORT PEERS_LAT_FILE=$TMP/lat-file timeout 120 "$TMP/tq_peer" lat "$LAT_RATE" "$LAT_N" |
    jq -r '.rate | round') || die "tq_peer lat failed"
processed_at_least "tq:{bench}" "$((LAT_N + 1))" 15
stop_worker "$wl"
# Redis's clock: created_at (submit script) to started_at (claim script), of
# every job but the warm-up (the first created)
R --scan --pattern 'tq:{bench}:j:*' | awk '{print "HMGET " $1 " created_at started_at"}' | R |
    paste - - | sort -n | tail -n +2 | awk '{printf "%.3f\n", ($2-$1)*1000}' | sort -n >"$TMP/lat-ms"
[[ $(grep -c . "$TMP/lat-ms") == "$LAT_N" ]] || die "latency: $(grep -c . "$TMP/lat-ms") of $LAT_N records read"
# the client's clock: CLOCK_MONOTONIC when sent (in the args) to the
# handler's entry, written by the plugin peers_lat.so
awk '{printf "%.3f\n", $1/1000}' "$TMP/lat-file" | sort -n >"$TMP/lat-e2e-ms"
[[ $(grep -c . "$TMP/lat-e2e-ms") == "$LAT_N" ]] || die "latency: the handler ran $(grep -c . "$TMP/lat-e2e-ms") of $LAT_N jobs"
lat_p50=$(pct 50 "$TMP/lat-ms") lat_p99=$(pct 99 "$TMP/lat-ms") lat_max=$(pct 100 "$TMP/lat-ms")
e2e_p50=$(pct 50 "$TMP/lat-e2e-ms") e2e_p99=$(pct 99 "$TMP/lat-e2e-ms") e2e_max=$(pct 100 "$TMP/lat-e2e-ms")
note "created_at -> started_at at $lat_rate_real/s: p50 $lat_p50 ms, p99 $lat_p99 ms, max $lat_max ms"
note "sent -> handler (client's clock): p50 $e2e_p50 ms, p99 $e2e_p99 ms, max $e2e_max ms"
fig lat_p50 "enqueue-to-start p50 at $lat_rate_real/s ($LAT_N)" "$lat_p50" ms "<=" 0.3
fig lat_p99 "enqueue-to-start p99" "$lat_p99" ms "<=" 1.0
fig lat_max "enqueue-to-start max" "$lat_max" ms
sub "sent-to-handler p50 (client clock)" "$e2e_p50" ms
sub "sent-to-handler p99 (client clock)" "$e2e_p99" ms
detail latency --argjson jobs "$LAT_N" --argjson rate "$LAT_RATE" --argjson real "$lat_rate_real" \
    --argjson p50 "$lat_p50" --argjson p99 "$lat_p99" --argjson max "$lat_max" \
    --argjson e50 "$e2e_p50" --argjson e99 "$e2e_p99" --argjson emax "$e2e_max" \
    '{jobs: $jobs, target_rate: $rate, achieved_rate: $real,
      created_to_started: {what: "started_at - created_at, Redis clock", p50_ms: $p50, p99_ms: $p99, max_ms: $max},
      sent_to_handler: {what: "handler entry - send, CLOCK_MONOTONIC", p50_ms: $e50, p99_ms: $e99, max_ms: $emax}}'

# ---------------------------------------------------------------- sleep

# sleep_run KEY COUNT CONC: COUNT x tq.sleep SLEEP_MS pending, then a worker
# at CONC; efficiency = ideal / actual with actual the span, on Redis's
# clock, from the first started_at to the last finished_at (the poll
# window of measure is kept as a check). Sets EFF, SPAN, WIN, IDEAL, RSS.
sleep_run() {
    local key=$1 count=$2 conc=$3 w
    fresh
    awk -v n="$count" -v ms="$SLEEP_MS" 'BEGIN{for (i = 0; i < n; i++) print ms}' |
        tq submit-many --queue "$key" tq.sleep >"$TMP/$key-ids"
    start_worker "$key" --queue "$key" --concurrency "$conc"
    w=$WPID
    measure "$NS:{$key}" "$w" "$count"
    RSS=$(hwm_kb "$w")
    stop_worker "$w"
    WIN=$ELAPSED
    # the finished jobs' started_at and finished_at, by started_at
    awk -v k="$NS:{$key}:j:" '{print "HMGET " k $1 " started_at finished_at"}' "$TMP/$key-ids" | R |
        paste - - | awk -F'\t' '$2 != ""' | sort -n >"$TMP/$key-rec"
    # span: first start to last finish; gap: the longest pause between two
    # starts; held: the mean of finished_at - started_at (claim to ack);
    # running: jobs held at once on average (the sum of the held times over
    # the span, Little's law)
    awk 'NR == 1 {s = $1}
        {if (NR > 1 && $1 - p > g) g = $1 - p; p = $1; if ($2 > f) f = $2; h += $2 - $1}
        END{printf "%d %.4f %.4f %.4f\n", NR, f - s, g, h / NR}' "$TMP/$key-rec" >"$TMP/$key-span"
    read -r DONE SPAN GAP HELD <"$TMP/$key-span"
    ((DONE > 0)) || die "$key: no job finished"
    RUNNING=$(awk -v n="$DONE" -v h="$HELD" -v s="$SPAN" 'BEGIN{printf "%.0f", n*h/s}')
    # peak: the most jobs between claim and ack at one moment (+1 at each
    # started_at, -1 at each finished_at; at equal times the -1 first)
    PEAK=$(awk '{print $1, 1; print $2, -1}' "$TMP/$key-rec" | sort -k1,1n -k2,2n |
        awk '{r += $2; if (r > m) m = r} END{print m + 0}')
    # the ideal for the jobs done: done / conc x ms
    IDEAL=$(awk -v d="$DONE" -v c="$conc" -v ms="$SLEEP_MS" 'BEGIN{printf "%.4f", d/c*ms/1000}')
    EFF=$(awk -v i="$IDEAL" -v a="$SPAN" 'BEGIN{printf "%.3f", i/a}')
    LOGN=$(grep -c . "$TMP/$key.log" || true)
    note "$DONE x ${SLEEP_MS}ms in ${SPAN}s (poll window ${WIN}s), ideal ${IDEAL}s: efficiency $EFF; peak RSS $RSS KiB"
    note "$(rate "$DONE" "$SPAN") jobs/s; jobs between claim and ack: peak $PEAK, mean $RUNNING (concurrency $conc); claim to ack ${HELD}s on average; longest pause between two starts ${GAP}s"
    ((DONE == count)) || note "cut short: $DONE of $count done in $CAP s"
    ((LOGN == 0)) || note "worker log: $LOGN lines, the first: $(head -n 3 "$TMP/$key.log" | tr '\n' '|')"
    detail "$key" --argjson jobs "$count" --argjson ndone "$DONE" --argjson ms "$SLEEP_MS" --argjson conc "$conc" \
        --argjson ideal "$IDEAL" --argjson span "$SPAN" --argjson win "$WIN" --argjson eff "$EFF" \
        --argjson peak "$PEAK" --argjson gap "$GAP" --argjson held "$HELD" --argjson running "$RUNNING" --argjson rss "$RSS" --argjson logn "$LOGN" \
        '{jobs: $jobs, done: $ndone, sleep_ms: $ms, concurrency: $conc, ideal_s: $ideal,
          seconds: $span, poll_window_s: $win, efficiency: $eff, jobs_per_s: ($ndone / $span | round),
          peak_running: $peak, mean_running: $running, mean_claim_to_ack_s: $held, longest_start_gap_s: $gap,
          worker_peak_rss_kib: $rss, worker_log_lines: $logn}'
}

echo "(e) sleep: $SLEEP_N x tq.sleep $SLEEP_MS at concurrency $CONC" >&2
sleep_run sleep "$SLEEP_N" "$CONC"
fig sleep "sleep $SLEEP_N x ${SLEEP_MS}ms @ $CONC: ideal/actual" "$EFF" "" ">=" 0.97
sub "actual / ideal" "$SPAN / $IDEAL" s
((DONE == SLEEP_N)) || sub "cut short at ${CAP}s: jobs done" "$DONE" ""

echo "(f) sleep: $BIG_N x tq.sleep $SLEEP_MS at concurrency $BIG_CONC" >&2
sleep_run big "$BIG_N" "$BIG_CONC"
fig sleep_big "sleep $BIG_N x ${SLEEP_MS}ms @ $BIG_CONC: ideal/actual" "$EFF" "" ">=" 0.95
sub "actual / ideal" "$SPAN / $IDEAL" s
sub "between claim and ack, peak / mean" "$PEAK / $RUNNING" jobs
((DONE == BIG_N)) || sub "cut short at ${CAP}s: jobs done" "$DONE" ""
fig rss_big "worker peak RSS (VmHWM), sleep @ $BIG_CONC" "$(mib "$RSS")" MiB

# ---------------------------------------------------------------- cancel

# An exec task that writes its pid (the shell's, kept by exec) where the
# bench can see it, then sleeps: tq cancel must SIGTERM its process group.
cat >"$TMP/sleeper" <<EOF
#!/bin/sh
echo \$\$ >"$TMP/pid.\$TQ_JOB_ID"
exec sleep 60
EOF
chmod +x "$TMP/sleeper"

echo "(g) cancel: $CANCEL_N running exec 'sleep 60' and $CANCEL_N tq.sleep 60000, one at a time" >&2
fresh
start_worker cancel --queue cancel --concurrency 10 --task "bench.sleeper=$TMP/sleeper"
wc_=$WPID
wait_workers "$NS" 1
: >"$TMP/cancel-exec-ms"
: >"$TMP/cancel-exec-ids"
for ((i = 1; i <= CANCEL_N; i++)); do
    id=$(tq submit --queue cancel --retries 0 bench.sleeper)
    echo "$id" >>"$TMP/cancel-exec-ids"
    # running: its pid file holds a pid
    pid="" end=$(($(us) + 10000000))
    while :; do
        [[ -s $TMP/pid.$id ]] && read -r pid <"$TMP/pid.$id" && [[ $pid =~ ^[0-9]+$ ]] && break
        (($(us) < end)) || die "cancel: exec job $id did not start within 10 s"
        nap 0.0002
    done
    t0=$(us)
    tq cancel "$id" >/dev/null &
    cpid=$!
    # gone: /proc/PID disappears once the worker has reaped it
    end=$((t0 + 10000000))
    while [[ -e /proc/$pid ]]; do
        (($(us) < end)) || die "cancel: pid $pid of job $id still there 10 s after tq cancel"
        nap 0.0002
    done
    t1=$(us)
    wait "$cpid" || die "cancel: tq cancel $id exited $?"
    awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", (b-a)/1000}' >>"$TMP/cancel-exec-ms"
done
# every one of them ended cancelled (the worker acks the cancel on its own time)
end=$(($(us) + 10000000))
while :; do
    bad=$(while read -r id; do echo "HGET $NS:{cancel}:j:$id state"; done <"$TMP/cancel-exec-ids" | R | grep -cvx cancelled || true)
    [[ $bad == 0 ]] && break
    (($(us) < end)) || die "cancel: $bad exec job(s) not cancelled 10 s after the last tq cancel"
    nap 0.05
done
sort -n "$TMP/cancel-exec-ms" -o "$TMP/cancel-exec-ms"
cx_p50=$(pct 50 "$TMP/cancel-exec-ms") cx_p99=$(pct 99 "$TMP/cancel-exec-ms") cx_max=$(pct 100 "$TMP/cancel-exec-ms")
note "exec: tq cancel -> child pid gone: p50 ${cx_p50} ms, p99 ${cx_p99} ms, max ${cx_max} ms"

: >"$TMP/cancel-sleep-ms"
for ((i = 1; i <= CANCEL_N; i++)); do
    id=$(tq submit --queue cancel --retries 0 tq.sleep 60000)
    jk="$NS:{cancel}:j:$id"
    end=$(($(us) + 10000000))
    until rcall "HGET $jk state" && [[ $RV == active ]]; do
        (($(us) < end)) || die "cancel: tq.sleep job $id not active within 10 s"
        nap 0.0005
    done
    # tq wait subscribes to the job's done channel, then sets w=1 (waitprep):
    # once w is set, it is waiting and will be woken by the broker.
    { rc=0; tq wait --timeout 10s "$id" >/dev/null 2>&1 || rc=$?; echo "$(us) $rc" >"$TMP/woke"; } &
    wpid=$!
    until rcall "HGET $jk w" && [[ $RV == 1 ]]; do
        (($(us) < end)) || die "cancel: tq wait $id did not start waiting within 10 s"
        nap 0.0005
    done
    t0=$(us)
    tq cancel "$id" >/dev/null || die "cancel: tq cancel $id exited $?"
    wait "$wpid"
    read -r t1 rc <"$TMP/woke"
    [[ $rc == 4 ]] || die "cancel: tq wait $id exited $rc, not 4 (cancelled)"
    awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", (b-a)/1000}' >>"$TMP/cancel-sleep-ms"
done
stop_worker "$wc_"
sort -n "$TMP/cancel-sleep-ms" -o "$TMP/cancel-sleep-ms"
cs_p50=$(pct 50 "$TMP/cancel-sleep-ms") cs_p99=$(pct 99 "$TMP/cancel-sleep-ms") cs_max=$(pct 100 "$TMP/cancel-sleep-ms")
note "tq.sleep: tq cancel -> tq wait woken, cancelled: p50 ${cs_p50} ms, p99 ${cs_p99} ms, max ${cs_max} ms"
fig cancel_exec_p50 "cancel exec -> process gone p50 ($CANCEL_N)" "$cx_p50" ms
fig cancel_exec_p99 "cancel exec -> process gone p99" "$cx_p99" ms "<=" 10
fig cancel_sleep_p50 "cancel tq.sleep -> tq wait woken p50 ($CANCEL_N)" "$cs_p50" ms
fig cancel_sleep_p99 "cancel tq.sleep -> tq wait woken p99" "$cs_p99" ms "<=" 50
detail cancel --argjson runs "$CANCEL_N" \
    --argjson x50 "$cx_p50" --argjson x99 "$cx_p99" --argjson xmax "$cx_max" \
    --argjson s50 "$cs_p50" --argjson s99 "$cs_p99" --argjson smax "$cs_max" \
    '{runs: $runs,
      exec: {what: "tq cancel -> child pid gone", p50_ms: $x50, p99_ms: $x99, max_ms: $xmax},
      sleep: {what: "tq cancel -> tq wait woken (cancelled)", p50_ms: $s50, p99_ms: $s99, max_ms: $smax}}'

# ---------------------------------------------------------------- timeout

echo "(h) timeout: $TMO_N x tq.sleep 5000 and $TMO_N x exec 'sleep 5', --timeout ${TMO_MS}ms --retries 0" >&2
fresh
start_worker timeout --queue tmo --concurrency 100 --task "bench.sleep5=sleep 5"
wt=$WPID
wait_workers "$NS" 1
: >"$TMP/tmo-ids"
# one submit every 20 ms, the two kinds alternating: ~10 jobs running at
# once, so each timeout fires on its own rather than in a burst
gap_us=20000
t_us=$(us)
for ((i = 1; i <= 2 * TMO_N; i++)); do
    if ((i % 2)); then
        echo "sleep $(tq submit --queue tmo --timeout "${TMO_MS}ms" --retries 0 tq.sleep 5000)" >>"$TMP/tmo-ids"
    else
        echo "exec $(tq submit --queue tmo --timeout "${TMO_MS}ms" --retries 0 bench.sleep5)" >>"$TMP/tmo-ids"
    fi
    ahead=$((t_us + i * gap_us - $(us)))
    ((ahead > 0)) && nap "$((ahead / 1000000)).$(printf '%06d' $((ahead % 1000000)))"
done
processed_at_least "$NS:{tmo}" "$((2 * TMO_N))" 30
stop_worker "$wt"
# started_at (claim) and finished_at (the ack of the failure) are both
# stamped by Redis's clock; timeout is the job's, in ms.
while read -r _ id; do echo "HMGET $NS:{tmo}:j:$id started_at finished_at timeout state error"; done <"$TMP/tmo-ids" |
    R >"$TMP/tmo-rec"
paste - - - - - <"$TMP/tmo-rec" | paste <(cut -d' ' -f1 "$TMP/tmo-ids") - >"$TMP/tmo-rows"
awk -F'\t' '$5 != "failed" || $6 != "timeout" {bad++} END{exit bad > 0}' "$TMP/tmo-rows" ||
    die "timeout: not every job ended failed with error timeout: $(awk -F'\t' '$5 != "failed" || $6 != "timeout"' "$TMP/tmo-rows" | head -n 3)"
for k in sleep exec; do
    awk -F'\t' -v k="$k" '$1 == k {printf "%.3f\n", ($3 - $2) * 1000 - $4}' "$TMP/tmo-rows" | sort -n >"$TMP/tmo-$k-ms"
    [[ $(grep -c . "$TMP/tmo-$k-ms") == "$TMO_N" ]] || die "timeout: $(grep -c . "$TMP/tmo-$k-ms") of $TMO_N $k records read"
done
ts_p50=$(pct 50 "$TMP/tmo-sleep-ms") ts_p99=$(pct 99 "$TMP/tmo-sleep-ms") ts_max=$(pct 100 "$TMP/tmo-sleep-ms") ts_min=$(pct 0 "$TMP/tmo-sleep-ms")
tx_p50=$(pct 50 "$TMP/tmo-exec-ms") tx_p99=$(pct 99 "$TMP/tmo-exec-ms") tx_max=$(pct 100 "$TMP/tmo-exec-ms") tx_min=$(pct 0 "$TMP/tmo-exec-ms")
note "tq.sleep: failed past the deadline by p50 ${ts_p50} ms, p99 ${ts_p99} ms (min ${ts_min}, max ${ts_max})"
note "exec:     failed past the deadline by p50 ${tx_p50} ms, p99 ${tx_p99} ms (min ${tx_min}, max ${tx_max})"
fig timeout_sleep_p99 "timeout ${TMO_MS}ms tq.sleep, late p99 ($TMO_N)" "$ts_p99" ms "<=" 50
fig timeout_sleep_min "timeout ${TMO_MS}ms tq.sleep, late min" "$ts_min" ms ">=" 0
fig timeout_exec_p99 "timeout ${TMO_MS}ms exec, late p99 ($TMO_N)" "$tx_p99" ms "<=" 50
fig timeout_exec_min "timeout ${TMO_MS}ms exec, late min" "$tx_min" ms ">=" 0
detail timeout --argjson jobs "$TMO_N" --argjson tmo "$TMO_MS" \
    --argjson s50 "$ts_p50" --argjson s99 "$ts_p99" --argjson smin "$ts_min" --argjson smax "$ts_max" \
    --argjson x50 "$tx_p50" --argjson x99 "$tx_p99" --argjson xmin "$tx_min" --argjson xmax "$tx_max" \
    '{jobs: $jobs, timeout_ms: $tmo,
      sleep: {what: "finished_at - (started_at + timeout)", p50_ms: $s50, p99_ms: $s99, min_ms: $smin, max_ms: $smax},
      exec: {what: "finished_at - (started_at + timeout)", p50_ms: $x50, p99_ms: $x99, min_ms: $xmin, max_ms: $xmax}}'

# ---------------------------------------------------------------- failover

echo "(i) failover: $KILL_JOBS x tq.sleep 60000 on worker A, SIGKILL A; worker B (both default settings) takes them" >&2
fresh
start_worker failover-a --queue kill
wa=$WPID
wait_workers "$NS" 1
: >"$TMP/kill-ids"
for ((i = 0; i < KILL_JOBS; i++)); do tq submit --queue kill tq.sleep 60000 >>"$TMP/kill-ids"; done
# all running on A
now_us
end=$((NOW + 10000000))
while :; do
    n=$(awk -v k="$NS:{kill}:j:" '{print "HGET " k $1 " state"}' "$TMP/kill-ids" | R | grep -cx active || true)
    ((n == KILL_JOBS)) && break
    now_us
    ((NOW < end)) || die "failover: $n of $KILL_JOBS jobs active on worker A after 10 s"
    nap 0.005
done
owner=$(R hget "$NS:{kill}:j:$(head -n 1 "$TMP/kill-ids")" worker)
start_worker failover-b --queue kill
wb=$WPID
wait_workers "$NS" 2
# a random 0-2 s first: runs then sample every phase of A's 1 s heartbeat and
# B's 2 s burial cycle, not one fixed point of them
nap "$(awk -v r="$RANDOM" 'BEGIN{printf "%.3f", (r % 2000) / 1000}')"
now_us
t_kill=$NOW
kill_worker "$wa"
# each job: active again, attempt 2, on another worker; the lease is 30 s,
# so 45 s bounds the wait
end=$((t_kill + 45000000))
while :; do
    awk -v k="$NS:{kill}:j:" '{print "HMGET " k $1 " state attempt worker started_at"}' "$TMP/kill-ids" | R |
        paste - - - - >"$TMP/kill-rec"
    n=$(awk -v o="$owner" '$1 == "active" && $2 == 2 && $3 != o' "$TMP/kill-rec" | wc -l)
    ((n == KILL_JOBS)) && break
    now_us
    ((NOW < end)) || die "failover: $n of $KILL_JOBS jobs running elsewhere 45 s after SIGKILL: $(head -n 3 "$TMP/kill-rec" | tr '\t\n' ' |')"
    nap 0.05
done
kill_worker "$wb" # it holds 60 s sleeps: SIGTERM would wait for them
# started_at of the new delivery (Redis's clock, Unix time) - the moment of
# the SIGKILL (bash's clock, Unix time; the same host)
awk -v t="$t_kill" '{printf "%.3f\n", $4 - t/1e6}' "$TMP/kill-rec" | sort -n >"$TMP/kill-s"
ko_max=$(pct 100 "$TMP/kill-s") ko_min=$(pct 0 "$TMP/kill-s")
note "$KILL_JOBS jobs running on worker B ${ko_min}-${ko_max}s after worker A's SIGKILL"
fig failover "worker SIGKILLed -> jobs running elsewhere" "$ko_max" s "<=" 15
detail failover --argjson jobs "$KILL_JOBS" --argjson min "$ko_min" --argjson max "$ko_max" \
    --argjson each "$(jq -s . "$TMP/kill-s")" \
    '{jobs: $jobs, what: "started_at of attempt 2 on the other worker - time of the SIGKILL",
      min_s: $min, max_s: $max, each_s: $each}'

# ---------------------------------------------------------------- durable submit

# What --durable 1 (WAIT 1 after the submit's calls) costs, with a replica
# of the bench's Redis on this machine: one-at-a-time submits through libtq
# and tq submit-many batches, each run with and without it, the replica
# attached to both. Self-contained: its replica is stopped at the end.
durable_cost() {
    local mport=$PORT mpid=$REDIS_PID rport rpid i t0 t1 plain dur
    local dn=${TQ_BENCH_DURABLE_N:-2000} batches=20 bsize=1000
    mkdir -p "$TMP/replica"
    private_redis "$TMP/replica" || die "could not start the replica"
    rport=$PORT rpid=$REDIS_PID
    PORT=$mport REDIS_PID=$mpid
    WPIDS+=("$rpid")
    R CONFIG SET repl-diskless-sync-delay 0 >/dev/null
    redis-cli -p "$rport" REPLICAOF 127.0.0.1 "$mport" >/dev/null
    for ((i = 0; i < 200; i++)); do
        R INFO replication | grep -q '^slave0:.*state=online' && break
        sleep 0.05
    done
    R INFO replication | grep -q '^slave0:.*state=online' || die "the replica did not come online"
    echo "(j) durable submit: $dn x tq_submit and $batches x submit-many of $bsize, with and without --durable 1" >&2
    plain=$(PEERS_PORT=$PORT timeout 120 "$TMP/tq_peer" one "$dn" | jq -r .seconds) ||
        die "tq_peer one $dn failed"
    dur=$(PEERS_DURABLE=1 PEERS_PORT=$PORT timeout 120 "$TMP/tq_peer" one "$dn" | jq -r .seconds) ||
        die "tq_peer one $dn --durable 1 failed (is the replica confirming?)"
    DUR_ONE_US=$(awk -v a="$plain" -v b="$dur" -v n="$dn" 'BEGIN{printf "%.1f", (b-a)*1e6/n}')
    note "one at a time: $(rate "$dn" "$plain") jobs/s plain, $(rate "$dn" "$dur") jobs/s durable: +$DUR_ONE_US us per submit"
    seq 1 "$bsize" >"$TMP/dargs"
    now_us; t0=$NOW
    for ((i = 0; i < batches; i++)); do tq submit-many --queue dur tq.noop <"$TMP/dargs" >/dev/null; done
    now_us; t1=$NOW
    plain=$(secs "$t0" "$t1")
    now_us; t0=$NOW
    for ((i = 0; i < batches; i++)); do
        tq submit-many --durable 1 --queue dur tq.noop <"$TMP/dargs" >/dev/null ||
            die "submit-many --durable 1 was not confirmed"
    done
    now_us; t1=$NOW
    dur=$(secs "$t0" "$t1")
    DUR_BATCH_MS=$(awk -v a="$plain" -v b="$dur" -v n="$batches" 'BEGIN{printf "%.2f", (b-a)*1e3/n}')
    note "submit-many of $bsize: $(awk -v s="$plain" -v n="$batches" 'BEGIN{printf "%.1f", s*1e3/n}') ms plain, $(awk -v s="$dur" -v n="$batches" 'BEGIN{printf "%.1f", s*1e3/n}') ms durable: +$DUR_BATCH_MS ms per batch"
    kill -KILL "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null || true
    forget "$rpid"
    detail durable --argjson n "$dn" --argjson batches "$batches" --argjson bsize "$bsize" \
        --argjson one "$DUR_ONE_US" --argjson batch "$DUR_BATCH_MS" \
        --argjson bp "$plain" --argjson bd "$dur" \
        '{replicas: 1, one_at_a_time: {submits: $n, added_us_per_submit: $one},
          submit_many: {batches: $batches, batch_size: $bsize, plain_s: $bp, durable_s: $bd,
                        added_ms_per_batch: $batch}}'
    fig durable_one "--durable 1 cost per one-at-a-time submit" "$DUR_ONE_US" us
    fig durable_batch "--durable 1 cost per submit-many of $bsize" "$DUR_BATCH_MS" ms
}
durable_cost

# ---------------------------------------------------------------- TLS

# What TLS costs: a second private redis-server with a plain port and a TLS
# port (a CA and a server certificate made by openssl in the temp dir; no
# client certificates). On it, back to back, the one-at-a-time enqueue
# (tq_peer) and the no-op drain (the same N, the same worker flags; the jobs
# enqueued over the plain port, unmeasured) are run plain (redis://) and then
# over TLS (rediss://localhost with ?ca=): the ratio compares two runs a few
# seconds apart on the same Redis, not figures taken a minute apart on a
# machine whose load moves. The poller speaks to the plain port meanwhile.
# Self-contained: that Redis is stopped at the end.

# tls_one URL: ONE_N one-at-a-time submits through URL; jobs/s in ONE.
tls_one() {
    local s
    rcall "DEL tq:{bench}:p0"
    s=$(PEERS_URL=$1 timeout 120 "$TMP/tq_peer" one "$ONE_N" | jq -r .seconds) ||
        die "tq_peer one $ONE_N through ${1%%:*}:// failed"
    rcall "LLEN tq:{bench}:p0"
    [[ $RV == "$ONE_N" ]] || die "one-at-a-time through ${1%%:*}://: $RV of $ONE_N jobs pending"
    ONE=$(rate "$ONE_N" "$s")
}
# tls_drain NAME URL: N no-ops enqueued over the plain port, then the drain
# worker through URL; sets DRATE, DWUS, DRUS (CPU us per job) and ELAPSED.
tls_drain() {
    local w
    fresh # the previous run's stats:processed too
    TQ_REDIS_URL="redis://127.0.0.1:$PORT/0" tq submit-many --queue drain tq.noop <"$TMP/args" >/dev/null
    rcall "LLEN $NS:{drain}:p0"
    [[ $RV == "$N" ]] || die "drain $1: $RV of $N jobs pending"
    TQ_REDIS_URL=$2 start_worker "drain-$1" --queue drain --concurrency "$CONC"
    w=$WPID
    measure "$NS:{drain}" "$w" "$N"
    ((DONE == N)) || die "drain $1: $DONE of $N processed in $CAP s"
    stop_worker "$w"
    DRATE=$(rate "$N" "$ELAPSED")
    DWUS=$(awk -v t="$WTICKS" -v hz="$HZ" -v n="$N" 'BEGIN{printf "%.2f", t*1e6/hz/n}')
    DRUS=$(awk -v t="$RTICKS" -v hz="$HZ" -v n="$N" 'BEGIN{printf "%.2f", t*1e6/hz/n}')
}
tls_cost() {
    local mport=$PORT mpid=$REDIS_PID mrfd=$RFD trfd url plain_url
    local one_p one_t dr_p dr_t wus_p wus_t rus_p rus_t secs_t one_x dr_x
    bench_tls_certs "$TMP/certs" || die "openssl could not make the TLS certificates"
    mkdir -p "$TMP/tls"
    private_tls_redis "$TMP/tls" "$TMP/certs" || die "could not start a redis-server with a TLS port"
    WPIDS+=("$REDIS_PID")
    plain_url="redis://127.0.0.1:$PORT/0"
    url="rediss://localhost:$TLS_PORT/0?ca=$TMP/certs/ca.pem"
    exec {trfd}<>"/dev/tcp/127.0.0.1/$PORT"
    RFD=$trfd
    echo "(k) TLS: $ONE_N x tq_submit (libtq) and a drain of $N no-ops (1 worker x $CONC), plain then over rediss://, on a second redis-server" >&2
    tls_one "$plain_url"; one_p=$ONE
    tls_one "$url"; one_t=$ONE
    one_x=$(awk -v a="$one_t" -v b="$one_p" 'BEGIN{printf "%.2f", a/b}')
    note "one at a time: $one_t jobs/s over TLS, $one_p plain: x$one_x"
    tls_drain plain "$plain_url"
    dr_p=$DRATE wus_p=$DWUS rus_p=$DRUS
    tls_drain tls "$url"
    dr_t=$DRATE wus_t=$DWUS rus_t=$DRUS secs_t=$ELAPSED
    dr_x=$(awk -v a="$dr_t" -v b="$dr_p" 'BEGIN{printf "%.2f", a/b}')
    note "drain: $dr_t jobs/s over TLS, $dr_p plain: x$dr_x; CPU/job over TLS (plain): worker $wus_t ($wus_p) us, redis $rus_t ($rus_p) us"
    exec {trfd}>&-
    kill -KILL "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null || true
    forget "$REDIS_PID"
    PORT=$mport REDIS_PID=$mpid RFD=$mrfd
    fig tls_drain "no-op drain over TLS, 1 worker x $CONC ($N)" "$dr_t" jobs/s
    sub "plain $dr_p jobs/s; TLS / plain" "$dr_x" x
    sub "CPU/job over TLS (plain): worker" "$wus_t ($wus_p)" us
    sub "CPU/job over TLS (plain): redis-server" "$rus_t ($rus_p)" us
    fig tls_one "one-at-a-time enqueue over TLS, libtq ($ONE_N)" "$one_t" jobs/s
    sub "plain $one_p jobs/s; TLS / plain" "$one_x" x
    detail tls --argjson jobs "$N" --argjson one_jobs "$ONE_N" --argjson conc "$CONC" \
        --argjson dr "$dr_t" --argjson dp "$dr_p" --argjson dx "$dr_x" --argjson ds "$secs_t" \
        --argjson wt "$wus_t" --argjson wp "$wus_p" --argjson rt "$rus_t" --argjson rp "$rus_p" \
        --argjson orate "$one_t" --argjson oplain "$one_p" --argjson ox "$one_x" \
        '{what: "rediss://localhost with ?ca= (server certificate verified, no client certificate) against redis:// on the same second redis-server, run just before",
          drain: {jobs: $jobs, concurrency: $conc, seconds: $ds, jobs_per_s: $dr, plain_jobs_per_s: $dp, tls_over_plain: $dx,
                  worker_us_per_job: $wt, plain_worker_us_per_job: $wp, redis_us_per_job: $rt, plain_redis_us_per_job: $rp},
          enqueue_one: {jobs: $one_jobs, jobs_per_s: $orate, plain_jobs_per_s: $oplain, tls_over_plain: $ox}}'
}
tls_cost

# ---------------------------------------------------------------- schedules

# Tick lateness of a schedule with 5 workers racing for every tick (no
# leader): created_at of each tick's job (Redis's clock) - its tick.
echo "(l) schedule: @every 1s for ${SCHED_S} s, 5 workers; lateness = job's created_at - its tick" >&2
fresh
sws=()
for i in 1 2 3 4 5; do start_worker "sched-$i" --queue sched; sws+=("$WPID"); done
wait_workers "$NS" 5
tq schedule add bench.tick '@every 1s' tq.noop --queue sched >/dev/null
nap "$SCHED_S.2"
tq schedule rm bench.tick >/dev/null
for p in "${sws[@]}"; do stop_worker "$p"; done
R --scan --pattern "$NS:{sched}:j:*" | while read -r k; do echo "HMGET $k tick created_at"; done | R |
    paste - - | awk 'NF == 2 && $1 > 0 {printf "%.3f\n", $2 * 1000 - $1}' | sort -n >"$TMP/sched-ms"
sn=$(grep -c . "$TMP/sched-ms" || true)
((sn > 0)) || die "schedule: no tick fired in ${SCHED_S} s"
sl_p50=$(pct 50 "$TMP/sched-ms") sl_p99=$(pct 99 "$TMP/sched-ms") sl_max=$(pct 100 "$TMP/sched-ms")
note "$sn ticks in ${SCHED_S} s; late p50 ${sl_p50} ms, p99 ${sl_p99} ms, max ${sl_max} ms"
fig sched_late_p99 "schedule tick lateness p99 (5 workers, $sn ticks)" "$sl_p99" ms "<=" 1000
sub "p50; max" "$sl_p50; $sl_max" ms
detail schedule --argjson ticks "$sn" --argjson secs "$SCHED_S" --argjson p50 "$sl_p50" \
    --argjson p99 "$sl_p99" --argjson max "$sl_max" \
    '{what: "created_at of the tick job (Redis clock) - its tick", workers: 5, spec: "@every 1s",
      seconds: $secs, ticks: $ticks, p50_ms: $p50, p99_ms: $p99, max_ms: $max}'

# ---------------------------------------------------------------- fairness

# --fair-key: N no-ops of key A queued, then 10 of key B, one worker at
# concurrency CONC: how long B's jobs wait (started_at - created_at, Redis's
# clock; the longest of the 10), and the drain's Redis CPU per job with fair
# keys; then the same jobs without keys, where B waits behind A's backlog.
fair_run() { # NAME KEYED(0|1): sets FAIR_B_MS FAIR_RATE FAIR_RUS FAIR_CALLS
    local keyed=$2 a=() b=() first="$NS:{fair}:p0"
    ((keyed)) && a=(--fair-key A) b=(--fair-key B) first="$NS:{fair}:p0:f:A"
    fresh
    tq submit-many --queue fair "${a[@]}" tq.noop <"$TMP/args" >/dev/null
    seq 1 10 | tq submit-many --queue fair "${b[@]}" tq.noop >"$TMP/fair-b"
    start_worker "$1" --queue fair --concurrency "$CONC"
    measure "$NS:{fair}" "$WPID" "$((N + 10))" "$first"
    ((DONE == N + 10)) || die "fair ($1): $DONE of $((N + 10)) processed in $CAP s"
    stop_worker "$WPID"
    FAIR_B_MS=$(awk -v k="$NS:{fair}:j:" '{print "HMGET " k $1 " created_at started_at"}' "$TMP/fair-b" | R |
        paste - - | awk '{printf "%.3f\n", ($2 - $1) * 1000}' | sort -n | tail -n 1)
    FAIR_RATE=$(rate "$((N + 10))" "$ELAPSED")
    FAIR_RUS=$(awk -v t="$RTICKS" -v hz="$HZ" -v n="$((N + 10))" 'BEGIN{printf "%.2f", t*1e6/hz/n}')
    cmdstats "$1" "$((N + 10))" "$POLLS"
    FAIR_CALLS=$(jq .script_calls_per_job "$TMP/cmd-$1.json")
}
echo "(m) fairness: $N no-ops of --fair-key A, then 10 of B, 1 worker x $CONC; then the same without keys" >&2
fair_run fair 1
fk_b=$FAIR_B_MS fk_rate=$FAIR_RATE fk_rus=$FAIR_RUS fk_calls=$FAIR_CALLS
fair_run nofair 0
nk_b=$FAIR_B_MS nk_rate=$FAIR_RATE nk_rus=$FAIR_RUS nk_calls=$FAIR_CALLS
note "B's wait: ${fk_b} ms with fair keys, ${nk_b} ms without; drain ${fk_rate} vs ${nk_rate} jobs/s, redis ${fk_rus} vs ${nk_rus} us/job"
fig fair_b_wait "fair keys: B's 10 jobs behind A's $N, max wait" "$fk_b" ms "<=" 100
sub "the same without keys (B after A's backlog)" "$nk_b" ms
fig fair_drain "no-op drain with a fair key, 1 worker x $CONC" "$fk_rate" jobs/s
fig fair_cpu_redis "redis-server CPU per job, fair-key drain" "$fk_rus" us
sub "the same jobs without keys" "$nk_rus" us
sub "in-script Redis commands/job: fair keys; none" "$(printf '%.2f; %.2f' "$fk_calls" "$nk_calls")" calls
detail fair --argjson jobs "$N" --argjson fb "$fk_b" --argjson nb "$nk_b" --argjson fr "$fk_rate" \
    --argjson nr "$nk_rate" --argjson fu "$fk_rus" --argjson nu "$nk_rus" --argjson fc "$fk_calls" --argjson nc "$nk_calls" \
    '{what: "N no-ops of key A queued, then 10 of key B; 1 worker", jobs_a: $jobs, jobs_b: 10,
      fair_keys: {b_wait_max_ms: $fb, drain_jobs_per_s: $fr, redis_us_per_job: $fu, script_calls_per_job: $fc},
      no_keys: {b_wait_max_ms: $nb, drain_jobs_per_s: $nr, redis_us_per_job: $nu, script_calls_per_job: $nc}}'

# ---------------------------------------------------------------- task servers

# Python handlers without a fork per job (docs/task-servers.md): no-op jobs
# through a task server with K=1 and K=2 processes (the standard-library
# server of examples/task-server/ and, when python/ is there, the tq
# package's runtime), beside the same through an exec task running the same
# Python per job, and the C built-in tq.noop; then 2,000 x a 50 ms asyncio
# sleep at M=100 against tq.sleep and an exec `sleep 0.05`. Each run: the
# queue is paused, the jobs enqueued, the worker started and warmed (one job
# on a second queue went through its servers: they said hello), the queue
# resumed; the window is measure's. CPU per job: the worker's whole process
# tree (its live servers, its reaped exec children: cpu_tree).
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3 || true)
TS_EXAMPLE="$ROOT/examples/task-server/server.py"
PYDIR=${TQ_BENCH_PYTHON_DIR:-$ROOT/python}
have_rt=0
[[ -n $PY && -f $PYDIR/tq/serve.py ]] &&
    PYTHONPATH="$PYDIR" "$PY" -c 'import tq' 2>/dev/null && have_rt=1
# ts_run NAME TASK COUNT ARGS_FILE WORKER_ARGS...: the run; sets DONE,
# ELAPSED, TS_RATE, TS_US (tree CPU per job) and $TMP/NAME-ids.
ts_run() {
    local name=$1 task=$2 count=$3 argsf=$4 w c0 c1
    shift 4
    fresh
    tq queue pause ts >/dev/null
    tq submit-many --queue ts "$task" <"$argsf" >"$TMP/$name-ids"
    start_worker "$name" --queue ts --queue tswarm --concurrency 100 "$@"
    w=$WPID
    tq submit --queue tswarm "$task" "$(head -n 1 "$argsf")" >/dev/null
    processed_at_least "$NS:{tswarm}" 1 60
    cpu_tree "$w"; c0=$TICKS
    tq queue resume ts >/dev/null
    measure "$NS:{ts}" "$w" "$count"
    cpu_tree "$w"; c1=$TICKS
    stop_worker "$w"
    ((DONE == count)) || die "$name: $DONE of $count processed in $CAP s"
    TS_RATE=$(rate "$count" "$ELAPSED")
    # the tree's ticks from the warm-up's end: start-up is not counted
    TS_US=$(awk -v t="$((c1 - c0))" -v hz="$HZ" -v n="$count" 'BEGIN{printf "%.1f", t*1e6/hz/n}')
    note "$name: $count x $task in ${ELAPSED}s: $TS_RATE jobs/s; CPU/job (worker + its servers or children) $TS_US us"
}
# ts_eff NAME CONC MS: efficiency ideal/actual of NAME's finished jobs, span
# on Redis's clock (first started_at to last finished_at) as sleep_run.
ts_eff() {
    local name=$1 conc=$2 ms=$3 n span
    awk -v k="$NS:{ts}:j:" '{print "HMGET " k $1 " started_at finished_at"}' "$TMP/$name-ids" | R |
        paste - - | awk -F'\t' '$2 != ""' | sort -n >"$TMP/$name-rec"
    read -r n span < <(awk 'NR == 1 {s = $1} {if ($2 > f) f = $2} END{printf "%d %.4f\n", NR, f - s}' "$TMP/$name-rec")
    TS_IDEAL=$(awk -v d="$n" -v c="$conc" -v ms="$ms" 'BEGIN{printf "%.4f", d/c*ms/1000}')
    TS_SPAN=$span
    TS_EFF=$(awk -v i="$TS_IDEAL" -v a="$span" 'BEGIN{printf "%.3f", i/a}')
    note "$name: $n jobs in ${span}s, ideal ${TS_IDEAL}s: efficiency $TS_EFF"
}
echo "(n) task servers: $TS_N no-ops through a Python task server (K=1, K=2; M=100), $TS_EXEC_N through a Python exec task, tq.noop; 2,000 x 50 ms sleeps at M=100" >&2
if [[ -z $PY ]]; then
    note "no python3: the task-server rows are skipped"
    echo '{"skipped": "no python3"}' >"$TMP/detail-tserver.json"
else
    seq 1 "$TS_N" >"$TMP/ts-args"
    TSRV=(--server-inflight 100 --task-server "demo.echo,demo.sleep=$PY $TS_EXAMPLE")
    ts_run ts_k1 demo.echo "$TS_N" "$TMP/ts-args" "${TSRV[@]}" --server-procs 1
    k1_rate=$TS_RATE k1_us=$TS_US
    ts_run ts_k2 demo.echo "$TS_N" "$TMP/ts-args" "${TSRV[@]}" --server-procs 2
    k2_rate=$TS_RATE k2_us=$TS_US
    rt1_rate=null rt1_us=null rt2_rate=null rt2_us=null rts_eff=null
    if ((have_rt)); then
        export PYTHONPATH="$PYDIR:$HERE"
        RTS=(--server-inflight 100 --task-server "bench.pynoop,bench.pysleep=$PY -m tq.serve py_tasks")
        ts_run rt_k1 bench.pynoop "$TS_N" "$TMP/ts-args" "${RTS[@]}" --server-procs 1
        rt1_rate=$TS_RATE rt1_us=$TS_US
        ts_run rt_k2 bench.pynoop "$TS_N" "$TMP/ts-args" "${RTS[@]}" --server-procs 2
        rt2_rate=$TS_RATE rt2_us=$TS_US
    else
        note "python/ (the tq package) is not there: its runtime's rows are skipped"
    fi
    head -n "$TS_EXEC_N" "$TMP/ts-args" >"$TMP/ts-exec-args"
    ts_run ts_exec bench.pyexec "$TS_EXEC_N" "$TMP/ts-exec-args" --task "bench.pyexec=$PY $HERE/exec_noop.py"
    ex_rate=$TS_RATE ex_us=$TS_US
    ts_run ts_builtin tq.noop "$TS_N" "$TMP/ts-args"
    bi_rate=$TS_RATE bi_us=$TS_US
    awk 'BEGIN{for (i = 0; i < 2000; i++) print 0.05}' >"$TMP/ts-sleep-args"
    ts_run ts_sleep demo.sleep 2000 "$TMP/ts-sleep-args" "${TSRV[@]}" --server-procs 1
    ts_eff ts_sleep 100 50
    ss_eff=$TS_EFF ss_span=$TS_SPAN
    if ((have_rt)); then
        ts_run rt_sleep bench.pysleep 2000 "$TMP/ts-sleep-args" "${RTS[@]}" --server-procs 1
        ts_eff rt_sleep 100 50
        rts_eff=$TS_EFF
    fi
    awk 'BEGIN{for (i = 0; i < 2000; i++) print 50}' >"$TMP/ts-tqsleep-args"
    ts_run ts_tqsleep tq.sleep 2000 "$TMP/ts-tqsleep-args"
    ts_eff ts_tqsleep 100 50
    bs_eff=$TS_EFF
    ts_run ts_execsleep bench.sleep 2000 "$TMP/ts-sleep-args" --task "bench.sleep=sleep 0.05"
    ts_eff ts_execsleep 100 50
    es_eff=$TS_EFF
    fig ts_noop_k1 "Python task server no-op, K=1 M=100 ($TS_N)" "$k1_rate" jobs/s
    sub "CPU per job, worker + server" "$k1_us" us
    fig ts_noop_k2 "Python task server no-op, K=2 M=100" "$k2_rate" jobs/s
    sub "CPU per job, worker + servers" "$k2_us" us
    if ((have_rt)); then
        fig ts_rt_k1 "tq.serve (python/) no-op, K=1 M=100" "$rt1_rate" jobs/s
        sub "CPU per job, worker + server" "$rt1_us" us
        fig ts_rt_k2 "tq.serve (python/) no-op, K=2 M=100" "$rt2_rate" jobs/s
        sub "CPU per job, worker + servers" "$rt2_us" us
    fi
    fig ts_exec "Python exec task no-op, a process per job ($TS_EXEC_N)" "$ex_rate" jobs/s
    sub "CPU per job, worker + children" "$ex_us" us
    fig ts_builtin "C built-in tq.noop, the same runs ($TS_N)" "$bi_rate" jobs/s
    sub "CPU per job, worker" "$bi_us" us
    fig ts_sleep "Python task server 2,000 x asyncio.sleep(0.05) @ M=100: ideal/actual" "$ss_eff" ""
    ((have_rt)) && sub "the same through tq.serve (python/)" "$rts_eff" ""
    sub "tq.sleep 50 @ 100; exec 'sleep 0.05' @ 100" "$bs_eff; $es_eff" ""
    detail tserver --argjson n "$TS_N" --argjson en "$TS_EXEC_N" \
        --argjson k1 "$k1_rate" --argjson k1u "$k1_us" --argjson k2 "$k2_rate" --argjson k2u "$k2_us" \
        --argjson r1 "$rt1_rate" --argjson r1u "$rt1_us" --argjson r2 "$rt2_rate" --argjson r2u "$rt2_us" \
        --argjson ex "$ex_rate" --argjson exu "$ex_us" --argjson bi "$bi_rate" --argjson biu "$bi_us" \
        --argjson ss "$ss_eff" --argjson sss "$ss_span" --argjson rs "$rts_eff" --argjson bs "$bs_eff" --argjson es "$es_eff" \
        '{noop: {jobs: $n, concurrency: 100, inflight: 100,
                 stdlib_server: {k1: {jobs_per_s: $k1, cpu_us_per_job: $k1u}, k2: {jobs_per_s: $k2, cpu_us_per_job: $k2u}},
                 tq_serve: {k1: {jobs_per_s: $r1, cpu_us_per_job: $r1u}, k2: {jobs_per_s: $r2, cpu_us_per_job: $r2u}},
                 python_exec: {jobs: $en, jobs_per_s: $ex, cpu_us_per_job: $exu},
                 builtin: {jobs_per_s: $bi, cpu_us_per_job: $biu}},
          sleep: {jobs: 2000, ms: 50, concurrency: 100,
                  stdlib_server_efficiency: $ss, stdlib_server_seconds: $sss, tq_serve_efficiency: $rs,
                  tq_sleep_efficiency: $bs, exec_sleep_efficiency: $es}}'
fi

# ---------------------------------------------------------------- report

stamp=$(date -u +%Y%m%dT%H%M%SZ)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo true || echo false)
mkdir -p "$OUTDIR"
json=$OUTDIR/bench-$stamp.json
# figures: one object per row of the table (the breakdown rows aside)
awk -F'|' '$1 != "-"' "$TMP/figs" | jq -R -s '
    [split("\n")[] | select(length > 0) | split("|")
     | {name: .[0], label: .[1], value: (.[2] | tonumber), unit: .[3]}
       + (if .[4] == "" then {target: null, met: null}
          else {target: {op: .[4], value: (.[5] | tonumber)}} end)
     | if .target then .met = (if .target.op == ">=" then .value >= .target.value else .value <= .target.value end) else . end]' \
    >"$TMP/figs.json"
jq -n --arg ts "$stamp" --arg commit "$commit" --argjson dirty "$dirty" \
    --argjson cores "$(nproc)" --arg kernel "$(uname -r)" --arg redis "$REDIS_VERSION" \
    --slurpfile figs "$TMP/figs.json" \
    --slurpfile enqueue_bulk "$TMP/detail-enqueue_bulk.json" --slurpfile enqueue_one "$TMP/detail-enqueue_one.json" \
    --slurpfile drain "$TMP/detail-drain.json" --slurpfile latency "$TMP/detail-latency.json" \
    --slurpfile sleep "$TMP/detail-sleep.json" --slurpfile big "$TMP/detail-big.json" \
    --slurpfile cancel "$TMP/detail-cancel.json" --slurpfile timeout "$TMP/detail-timeout.json" \
    --slurpfile failover "$TMP/detail-failover.json" \
    --slurpfile durable "$TMP/detail-durable.json" --slurpfile tls "$TMP/detail-tls.json" \
    --slurpfile fair "$TMP/detail-fair.json" --slurpfile tserver "$TMP/detail-tserver.json" \
    --slurpfile c_enq "$TMP/cmd-enqueue.json" --slurpfile c_one "$TMP/cmd-one.json" --slurpfile c_drain "$TMP/cmd-drain.json" \
    '{timestamp: $ts, commit: $commit, dirty: $dirty,
      host: {cores: $cores, kernel: $kernel, redis: $redis},
      figures: $figs[0],
      enqueue_bulk: $enqueue_bulk[0], enqueue_one: $enqueue_one[0], drain: $drain[0], latency: $latency[0],
      sleep: $sleep[0], sleep_large: $big[0], cancel: $cancel[0], timeout: $timeout[0], failover: $failover[0],
      durable: $durable[0], tls: $tls[0], fair: $fair[0], task_servers: $tserver[0],
      commandstats: {enqueue_bulk: $c_enq[0], enqueue_one: $c_one[0], drain: $c_drain[0]}}' >"$json"
cp "$json" "$OUTDIR/latest.json"

row() { printf '%-50s %12s %-6s %10s  %s\n' "$@"; }
echo
row "tq bench ($commit, $(nproc) cores, Redis $REDIS_VERSION)" value unit target ""
row "$(printf '%.0s-' {1..50})" ------------ ------ ---------- ----
while IFS='|' read -r _ label value unit op target; do
    met=""
    if [[ -n $op ]]; then
        met=miss
        awk -v v="$value" -v o="$op" -v t="$target" 'BEGIN{exit !(o == ">=" ? v >= t : v <= t)}' && met=ok
    fi
    row "$label" "$value" "$unit" "${op:+$op $target}" "$met"
done <"$TMP/figs"
printf '\n* run inside a script (its time is also in EVALSHA'"'"'s). Method: bench/README.md\n'
printf 'JSON: %s\n' "$json"
