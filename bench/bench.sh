#!/usr/bin/env bash
# bench.sh -- `make bench`: tq's own benchmark against a private redis-server.
#
# Measures (bench/README.md says how, and what each figure means):
#   enqueue    bulk enqueue rate: tq submit-many of N no-ops (jobs/s)
#   drain      no-op drain rate: one worker, concurrency 100, N jobs (jobs/s)
#   latency    enqueue-to-start p50/p99 at a steady submit rate (ms)
#   sleep      2,000 x tq.sleep 50 at concurrency 100: ideal 1 s / actual
#   rss        the worker's peak RSS (VmHWM) over the drain and sleep runs
# Prints a table; writes bench/results/bench-<timestamp>.json and latest.json.
#
#   TQ_BIN=build bash bench/bench.sh
#   TQ_BENCH_N=100000   jobs for enqueue and drain
#   TQ_BENCH_OUT=dir    where the JSON goes (default bench/results)
set -Eeuo pipefail

: "${TQ_BIN:?TQ_BIN must name the build directory (make bench sets it)}"
TQ_BIN=$(cd "$TQ_BIN" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
OUTDIR=${TQ_BENCH_OUT:-$HERE/results}
N=${TQ_BENCH_N:-100000}
SLEEP_N=2000 SLEEP_MS=50 CONC=100
LAT_N=${TQ_BENCH_LAT_N:-500} LAT_RATE=${TQ_BENCH_LAT_RATE:-100}
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
pct() { awk -v p="$1" '{a[NR]=$1} END{i=int(NR*p/100+0.999999); if(i<1)i=1; if(i>NR)i=NR; printf "%.2f", a[i]}' "$TMP/lat-ms"; }
lat_p50=$(pct 50) lat_p99=$(pct 99) lat_max=$(pct 100)
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
  "worker_peak_rss_kib": {"drain": $rss_drain, "sleep": $rss_sleep, "max": $rss}
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
printf '\nJSON: %s\n' "$json"
