#!/usr/bin/env bash
# bench.sh -- `make bench`: tq's own benchmark against a private redis-server.
#
# Measures (bench/README.md says how, and what each figure means):
#   enqueue    bulk enqueue rate: tq submit-many of N no-ops (jobs/s)
#   drain      no-op drain rate: one worker, concurrency 100, N jobs (jobs/s)
#   latency    enqueue-to-start p50/p99 at a steady submit rate (ms)
#   sleep      2,000 x tq.sleep 50 at concurrency 100: ideal 1 s / actual
#   rss        the worker's peak RSS (VmHWM) over the drain and sleep runs
#   cancel     tq cancel of a running job: exec child gone / tq.sleep record
#              cancelled (tq wait woken), p50/p99 (ms)
#   timeout    --timeout 200ms on tq.sleep 5000 and an exec sleep: how late
#              past started_at + timeout the failure is recorded, p50/p99 (ms)
# Prints a table; writes bench/results/bench-<timestamp>.json and latest.json.
#
#   TQ_BIN=build bash bench/bench.sh
#   TQ_BENCH_N=100000   jobs for enqueue and drain
#   TQ_BENCH_OUT=dir    where the JSON goes (default bench/results)
#   TQ_BENCH_CANCEL_N=50  TQ_BENCH_TIMEOUT_N=50   runs of (e) and (f), per kind
set -Eeuo pipefail

: "${TQ_BIN:?TQ_BIN must name the build directory (make bench sets it)}"
TQ_BIN=$(cd "$TQ_BIN" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
OUTDIR=${TQ_BENCH_OUT:-$HERE/results}
N=${TQ_BENCH_N:-100000}
SLEEP_N=2000 SLEEP_MS=50 CONC=100
LAT_N=${TQ_BENCH_LAT_N:-500} LAT_RATE=${TQ_BENCH_LAT_RATE:-100}
CANCEL_N=${TQ_BENCH_CANCEL_N:-50} TMO_N=${TQ_BENCH_TIMEOUT_N:-50} TMO_MS=200
NS=bench

for c in redis-server redis-cli awk; do
    command -v "$c" >/dev/null || { echo "bench: $c is required" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-bench.XXXXXX")
REDIS_PID=""
WPIDS=()

alive() { [[ -e /proc/$1 && $(sed 's/.*) //;s/ .*//' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

cleanup() {
    local rc=$? p
    set +e
    for p in "${WPIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [[ -n $REDIS_PID ]] && { kill -KILL "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; }
    if [[ $rc != 0 ]]; then
        for f in "$TMP"/*.log; do [[ -f $f ]] && { echo "--- ${f##*/}" >&2; tail -n 20 "$f" >&2; }; done
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

die() { echo "bench: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b-a}'; }
note() { printf '  %s\n' "$*" >&2; }

# ---------------------------------------------------------------- redis

for _ in 1 2 3 4 5; do
    PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && continue
    redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$TMP" --daemonize no >"$TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 100); do
        redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break 2
        sleep 0.05
    done
    kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=""
done
[[ -n $REDIS_PID ]] || die "could not start redis-server"
export TQ_REDIS_URL="redis://127.0.0.1:$PORT/0" TQ_NAMESPACE=$NS
R() { redis-cli -p "$PORT" "$@"; }

tq() { "$TQ_BIN/tq" "$@"; }

# start_worker NAME ARGS...: sets WPID. Logs only warnings: a line per job
# would make the benchmark measure the log.
start_worker() {
    local name=$1
    shift
    "$TQ_BIN/tq-worker" --redis "$TQ_REDIS_URL" --namespace "$NS" --log-level warn "$@" \
        >"$TMP/$name.log" 2>&1 &
    WPID=$!
    WPIDS+=("$WPID")
}
stop_worker() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 100); do alive "$1" || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# processed QUEUE: outcomes the broker counted in the queue (docs/design.md §2).
processed() { local v; v=$(R hget "$NS:{$1}:stats" processed); echo "${v:-0}"; }

# until_processed QUEUE COUNT SECS: polls the counter every 10 ms.
until_processed() {
    local end
    end=$(awk -v n="$(now)" -v s="$3" 'BEGIN{printf "%.3f", n+s}')
    while [[ $(processed "$1") -lt $2 ]]; do
        awk -v n="$(now)" -v e="$end" 'BEGIN{exit !(n > e)}' &&
            die "queue $1: $(processed "$1") of $2 processed after $3 s"
        sleep 0.01
    done
}

# pct P FILE: the P-th percentile (nearest rank) of the sorted numbers in FILE.
pct() { awk -v p="$1" '{a[NR]=$1} END{i=int(NR*p/100+0.999999); if(i<1)i=1; if(i>NR)i=NR; printf "%.2f", a[i]}' "$2"; }

# nap SECS: sleeps without a fork (a read with a timeout on a FIFO nobody
# writes), so the polling loops below can look every 0.2 ms.
mkfifo "$TMP/nap"
exec {NAP}<>"$TMP/nap"
nap() { read -r -t "$1" -u "$NAP" _ || true; }
# us: microseconds since the epoch (bash's own clock, no fork).
us() { echo "${EPOCHREALTIME/./}"; }

echo "tq bench: redis $(redis-server --version | grep -o 'v=[^ ]*' | cut -c3-) on 127.0.0.1:$PORT, $(nproc) cores" >&2

# ---------------------------------------------------------------- (a) enqueue

echo "(a) enqueue: tq submit-many of $N no-ops" >&2
seq 1 "$N" >"$TMP/args"
t=$(now)
tq submit-many --queue drain tq.noop <"$TMP/args" >"$TMP/ids"
enq_s=$(since "$t")
[[ $(wc -l <"$TMP/ids") == "$N" ]] || die "submit-many printed $(wc -l <"$TMP/ids") ids for $N jobs"
enq_rate=$(awk -v n="$N" -v s="$enq_s" 'BEGIN{printf "%.0f", n/s}')
note "$N jobs in ${enq_s}s: $enq_rate jobs/s"

# ---------------------------------------------------------------- (b) drain

echo "(b) drain: one worker, concurrency $CONC, $N no-ops" >&2
t=$(now)
start_worker drain --queue drain --concurrency "$CONC"
wd=$WPID
until_processed drain "$N" 300
drain_s=$(since "$t")
drain_rate=$(awk -v n="$N" -v s="$drain_s" 'BEGIN{printf "%.0f", n/s}')
rss_drain=$(hwm_kb "$wd")
stop_worker "$wd"
note "$N jobs in ${drain_s}s: $drain_rate jobs/s (worker peak RSS ${rss_drain} KiB)"
# Spot-check: the last job succeeded with its own args as result.
last=$(tail -n 1 "$TMP/ids")
[[ $(tq result "$last") == "$N" ]] || die "job $last: result is not $N"

# ---------------------------------------------------------------- (c) latency

echo "(c) latency: $LAT_N no-ops submitted one by one at ~$LAT_RATE/s to an idle worker" >&2
start_worker latency --queue lat --concurrency "$CONC"
wl=$WPID
until R zcard "$NS:workers" | grep -q '^[1-9]'; do sleep 0.05; done
sleep 0.3
gap_us=$((1000000 / LAT_RATE))
t=$(now)
t_us=${EPOCHREALTIME/./}
for ((i = 1; i <= LAT_N; i++)); do
    tq submit --queue lat tq.noop "$i" >>"$TMP/lat-ids"
    # Pace to the target rate from the start time (no drift).
    ahead=$((t_us + i * gap_us - ${EPOCHREALTIME/./}))
    ((ahead > 0)) && sleep "$((ahead / 1000000)).$(printf '%06d' $((ahead % 1000000)))"
done
lat_rate_real=$(awk -v n="$LAT_N" -v s="$(since "$t")" 'BEGIN{printf "%.0f", n/s}')
until_processed lat "$LAT_N" 60
stop_worker "$wl"
# created_at and started_at are both stamped by Redis's clock (TIME in the scripts).
while read -r id; do echo "HMGET $NS:{lat}:j:$id created_at started_at"; done <"$TMP/lat-ids" |
    R >"$TMP/lat-times"
paste - - <"$TMP/lat-times" | awk '{printf "%.3f\n", ($2-$1)*1000}' | sort -n >"$TMP/lat-ms"
[[ $(grep -c . "$TMP/lat-ms") == "$LAT_N" ]] || die "latency: $(grep -c . "$TMP/lat-ms") of $LAT_N records read"
lat_p50=$(pct 50 "$TMP/lat-ms") lat_p99=$(pct 99 "$TMP/lat-ms") lat_max=$(pct 100 "$TMP/lat-ms")
note "enqueue-to-start at $lat_rate_real/s: p50 ${lat_p50} ms, p99 ${lat_p99} ms, max ${lat_max} ms"

# ---------------------------------------------------------------- (d) sleep

echo "(d) sleep: $SLEEP_N x tq.sleep $SLEEP_MS at concurrency $CONC" >&2
for ((i = 0; i < SLEEP_N; i++)); do echo "$SLEEP_MS"; done | tq submit-many --queue sleep tq.sleep >/dev/null
ideal=$(awk -v n="$SLEEP_N" -v ms="$SLEEP_MS" -v c="$CONC" 'BEGIN{printf "%.3f", n/c*ms/1000}')
t=$(now)
start_worker sleep --queue sleep --concurrency "$CONC"
ws=$WPID
until_processed sleep "$SLEEP_N" 120
sleep_s=$(since "$t")
rss_sleep=$(hwm_kb "$ws")
stop_worker "$ws"
eff=$(awk -v i="$ideal" -v a="$sleep_s" 'BEGIN{printf "%.3f", i/a}')
note "${sleep_s}s for an ideal ${ideal}s: efficiency $eff (worker peak RSS ${rss_sleep} KiB)"

rss=$((rss_drain > rss_sleep ? rss_drain : rss_sleep))

# ---------------------------------------------------------------- (e) cancel

# An exec task that writes its pid (the shell's, kept by exec) where the
# bench can see it, then sleeps: tq cancel must SIGTERM its process group.
cat >"$TMP/sleeper" <<EOF
#!/bin/sh
echo \$\$ >"$TMP/pid.\$TQ_JOB_ID"
exec sleep 60
EOF
chmod +x "$TMP/sleeper"

echo "(e) cancel: $CANCEL_N running exec 'sleep 60' and $CANCEL_N tq.sleep 60000, one at a time" >&2
start_worker cancel --queue cancel --concurrency 10 --task "bench.sleeper=$TMP/sleeper"
wc_=$WPID
until R zcard "$NS:workers" | grep -q '^[1-9]'; do sleep 0.05; done
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
    sleep 0.05
done
sort -n "$TMP/cancel-exec-ms" -o "$TMP/cancel-exec-ms"
cx_p50=$(pct 50 "$TMP/cancel-exec-ms") cx_p99=$(pct 99 "$TMP/cancel-exec-ms") cx_max=$(pct 100 "$TMP/cancel-exec-ms")
note "exec: tq cancel -> child pid gone: p50 ${cx_p50} ms, p99 ${cx_p99} ms, max ${cx_max} ms"

: >"$TMP/cancel-sleep-ms"
for ((i = 1; i <= CANCEL_N; i++)); do
    id=$(tq submit --queue cancel --retries 0 tq.sleep 60000)
    jk="$NS:{cancel}:j:$id"
    end=$(($(us) + 10000000))
    until [[ $(R hget "$jk" state) == active ]]; do
        (($(us) < end)) || die "cancel: tq.sleep job $id not active within 10 s"
        nap 0.0005
    done
    # tq wait subscribes to the job's done channel, then sets w=1 (waitprep):
    # once w is set, it is waiting and will be woken by the broker.
    { rc=0; tq wait --timeout 10s "$id" >/dev/null 2>&1 || rc=$?; echo "$(us) $rc" >"$TMP/woke"; } &
    wpid=$!
    until [[ $(R hget "$jk" w) == 1 ]]; do
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

# ---------------------------------------------------------------- (f) timeout

echo "(f) timeout: $TMO_N x tq.sleep 5000 and $TMO_N x exec 'sleep 5', --timeout ${TMO_MS}ms --retries 0" >&2
start_worker timeout --queue tmo --concurrency 100 --task "bench.sleep5=sleep 5"
wt=$WPID
until R zcard "$NS:workers" | grep -q '^[1-9]'; do sleep 0.05; done
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
until_processed tmo "$((2 * TMO_N))" 30
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
# targets (bench/README.md): p99 under 50 ms, and a timeout never early
for f in "cancel exec:$cx_p99" "cancel tq.sleep:$cs_p99" "timeout tq.sleep:$ts_p99" "timeout exec:$tx_p99"; do
    if awk -v v="${f##*:}" 'BEGIN{exit !(v+0 > 50)}'; then note "WARNING: ${f%:*} p99 ${f##*:} ms is above the 50 ms target"; fi
done
for f in "tq.sleep:$ts_min" "exec:$tx_min"; do
    if awk -v v="${f##*:}" 'BEGIN{exit !(v+0 < 0)}'; then note "WARNING: a ${f%:*} job failed ${f##*:} ms before its deadline"; fi
done

# ---------------------------------------------------------------- report

stamp=$(date -u +%Y%m%dT%H%M%SZ)
commit=$(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$HERE/.." status --porcelain 2>/dev/null | grep -qv '^??' && echo true || echo false)
mkdir -p "$OUTDIR"
json=$OUTDIR/bench-$stamp.json
cat >"$json" <<EOF
{
  "timestamp": "$stamp",
  "commit": "$commit",
  "dirty": $dirty,
  "host": {"cores": $(nproc), "kernel": "$(uname -r)", "redis": "$(redis-server --version | grep -o 'v=[^ ]*' | cut -c3-)"},
  "enqueue": {"jobs": $N, "seconds": $enq_s, "jobs_per_s": $enq_rate},
  "drain": {"jobs": $N, "concurrency": $CONC, "seconds": $drain_s, "jobs_per_s": $drain_rate},
  "latency": {"jobs": $LAT_N, "submit_rate": $lat_rate_real, "p50_ms": $lat_p50, "p99_ms": $lat_p99, "max_ms": $lat_max},
  "sleep": {"jobs": $SLEEP_N, "ms": $SLEEP_MS, "concurrency": $CONC, "ideal_s": $ideal, "seconds": $sleep_s, "efficiency": $eff},
  "worker_peak_rss_kib": {"drain": $rss_drain, "sleep": $rss_sleep, "max": $rss},
  "cancel": {"runs": $CANCEL_N,
    "exec": {"what": "tq cancel -> child pid gone", "p50_ms": $cx_p50, "p99_ms": $cx_p99, "max_ms": $cx_max},
    "sleep": {"what": "tq cancel -> tq wait woken (cancelled)", "p50_ms": $cs_p50, "p99_ms": $cs_p99, "max_ms": $cs_max}},
  "timeout": {"jobs": $TMO_N, "timeout_ms": $TMO_MS,
    "sleep": {"what": "finished_at - (started_at + timeout)", "p50_ms": $ts_p50, "p99_ms": $ts_p99, "min_ms": $ts_min, "max_ms": $ts_max},
    "exec": {"what": "finished_at - (started_at + timeout)", "p50_ms": $tx_p50, "p99_ms": $tx_p99, "min_ms": $tx_min, "max_ms": $tx_max}}
}
EOF
cp "$json" "$OUTDIR/latest.json"

printf '\n%-44s %14s\n' "tq bench ($commit, $(nproc) cores)" "value"
printf '%-44s %14s\n' "--------------------------------------------" "--------------"
printf '%-44s %10s /s\n' "enqueue, submit-many ($N)" "$enq_rate"
printf '%-44s %10s /s\n' "drain, 1 worker x $CONC no-ops" "$drain_rate"
printf '%-44s %11s ms\n' "enqueue-to-start p50 (at $lat_rate_real/s)" "$lat_p50"
printf '%-44s %11s ms\n' "enqueue-to-start p99" "$lat_p99"
printf '%-44s %14s\n' "sleep $SLEEP_N x ${SLEEP_MS}ms @ $CONC: ideal/actual" "$eff"
printf '%-44s %14s\n' "  (actual / ideal seconds)" "$sleep_s / $ideal"
printf '%-44s %10s KiB\n' "worker peak RSS (VmHWM)" "$rss"
printf '%-44s %11s ms\n' "cancel exec -> pid gone p50 ($CANCEL_N)" "$cx_p50"
printf '%-44s %11s ms\n' "cancel exec -> pid gone p99" "$cx_p99"
printf '%-44s %11s ms\n' "cancel tq.sleep -> cancelled p50 ($CANCEL_N)" "$cs_p50"
printf '%-44s %11s ms\n' "cancel tq.sleep -> cancelled p99" "$cs_p99"
printf '%-44s %11s ms\n' "timeout ${TMO_MS}ms tq.sleep, late p50 ($TMO_N)" "$ts_p50"
printf '%-44s %11s ms\n' "timeout ${TMO_MS}ms tq.sleep, late p99" "$ts_p99"
printf '%-44s %11s ms\n' "timeout ${TMO_MS}ms exec, late p50 ($TMO_N)" "$tx_p50"
printf '%-44s %11s ms\n' "timeout ${TMO_MS}ms exec, late p99" "$tx_p99"
printf '\nJSON: %s\n' "$json"
