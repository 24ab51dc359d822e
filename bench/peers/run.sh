#!/usr/bin/env bash
# run.sh -- `make bench-peers`: tq against BullMQ, bee-queue, Sidekiq, Celery
# and RQ on the same workloads, each system on a private redis-server of its
# own, one after the other. bench/peers/README.md gives the method.
#
# One idea makes the figures comparable: every system is timed from outside
# the same way. A poller (bash speaking RESP on a /dev/tcp socket: no fork
# per poll) watches the system's own waiting list and its own count of
# completed jobs; the drain runs from the moment the first job leaves the
# waiting list to the moment the count reaches N, and the CPU of the worker
# (its process tree) and of redis-server is read from /proc at exactly those
# two moments. Interpreter start-up is thus outside every figure, tq's
# included.
#
#   TQ_BIN=build bash bench/peers/run.sh
#   TQ_PEERS_SYSTEMS="tq bullmq"   which rows (default: all eight)
#   TQ_PEERS_N=20000      jobs for bulk enqueue and drain
#   TQ_PEERS_ONE_N=2000   jobs for one-at-a-time enqueue
#   TQ_PEERS_LAT_N=1000   jobs for the latency run (at TQ_PEERS_LAT_RATE=200/s)
#   TQ_PEERS_CAP=30       seconds a drain may take before it is cut short
#   TQ_PEERS_SLEEP_CAP=15 the same for the 2,000 x 50 ms sleep run
#   TQ_PEERS_NO_INSTALL=1 use what is installed, install nothing
#   TQ_PEERS_OUT=dir      where the JSON goes (default bench/results)
set -Eeuo pipefail

: "${TQ_BIN:?TQ_BIN must name the build directory (make bench-peers sets it)}"
TQ_BIN=$(cd "$TQ_BIN" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh" # alive nap now_us rcall cpu_tree cpu_one hwm_tree build_tq_helpers
OUTDIR=${TQ_PEERS_OUT:-$ROOT/bench/results}
ALL_SYSTEMS="tq tq-python bullmq bee-queue sidekiq celery celery-threads rq"
SYSTEMS=${TQ_PEERS_SYSTEMS:-$ALL_SYSTEMS}
N=${TQ_PEERS_N:-20000}
ONE_N=${TQ_PEERS_ONE_N:-2000}
LAT_N=${TQ_PEERS_LAT_N:-1000} LAT_RATE=${TQ_PEERS_LAT_RATE:-200}
CAP=${TQ_PEERS_CAP:-30} SLEEP_CAP=${TQ_PEERS_SLEEP_CAP:-15}
declare -A KNOB_OF=([N]=TQ_PEERS_N [ONE_N]=TQ_PEERS_ONE_N [LAT_N]=TQ_PEERS_LAT_N
    [LAT_RATE]=TQ_PEERS_LAT_RATE [CAP]=TQ_PEERS_CAP [SLEEP_CAP]=TQ_PEERS_SLEEP_CAP)
knobs bench-peers "${!KNOB_OF[@]}"
CONC=50 SLEEP_N=2000 SLEEP_MS=50 SLEEP_CONC=100
PY=/usr/bin/python3 # Debian's: the one python3-celery and python3-rq install into
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
export PYTHONDONTWRITEBYTECODE=1

for c in redis-server redis-cli awk jq setsid timeout; do
    command -v "$c" >/dev/null || { echo "bench-peers: $c is required" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-peers.XXXXXX")
RES=$TMP/res
mkdir -p "$RES"
REDIS_PID="" PORT=""

# Progress goes to the console even from inside a workload, whose stderr
# is its error log.
exec {CONSOLE}>&2
note() { printf '  %s\n' "$*" >&"$CONSOLE"; }
die() { echo "bench-peers: $*" >&2; exit 1; }

# Every worker is started with setsid, so its process group is its pid;
# PGIDS (a file, as workers are started in subshells) lists them for the
# final cleanup. Only groups this script started are ever signalled.
kill_group() { kill -KILL -- "-$1" 2>/dev/null || true; }

cleanup() {
    local rc=$? g
    set +e
    if [[ -f $TMP/pgids ]]; then
        while read -r g; do kill_group "$g"; done <"$TMP/pgids"
    fi
    stop_redis
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# put SYS KEY VALUE / get SYS KEY: the results, one file per figure.
put() { mkdir -p "$RES/$1"; printf '%s\n' "$3" >"$RES/$1/$2"; }
get() { if [[ -f $RES/$1/$2 ]]; then cat "$RES/$1/$2"; fi; }

nap_init "$TMP"

# ---------------------------------------------------------------- install

# Debian packages (as root), then BullMQ and bee-queue from the npm registry
# into bench/peers/node/node_modules, pinned by package-lock.json. A failure
# is reported and the peers it concerns are skipped.
install_peers() {
    local pkgs=(python3-celery python3-rq ruby-sidekiq python3-redis ruby-redis) missing=() p
    command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]})); then
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
            note "installing ${missing[*]} (apt-get)"
            export DEBIAN_FRONTEND=noninteractive
            timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$TMP/apt.log" 2>&1 || {
                timeout 300 apt-get update -qq >>"$TMP/apt.log" 2>&1 || true
                timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$TMP/apt.log" 2>&1 ||
                    note "apt-get install failed: $(tail -n 1 "$TMP/apt.log")"
            }
        else
            note "not root: not installing ${missing[*]} (sudo apt-get install ${missing[*]})"
        fi
    fi
    if command -v npm >/dev/null; then
        local mods=$HERE/node/node_modules
        if [[ ! -f $mods/.package-lock.json || $HERE/node/package-lock.json -nt $mods/.package-lock.json ]]; then
            note "installing BullMQ and bee-queue (npm ci --prefix bench/peers/node)"
            # npm ci refuses a lock file without the optional packages of
            # other platforms (msgpackr-extract's prebuilds), which a registry
            # mirror may not carry; npm install --no-save follows the same
            # lock without rewriting it.
            timeout 300 npm ci --prefix "$HERE/node" --no-audit --no-fund --loglevel=error >"$TMP/npm.log" 2>&1 ||
                timeout 300 npm install --prefix "$HERE/node" --no-save --no-audit --no-fund --loglevel=error \
                    >>"$TMP/npm.log" 2>&1 ||
                note "npm install failed: $(grep -v 'Unknown user config' "$TMP/npm.log" | tail -n 1)"
        fi
    fi
}

# available SYS: 0 when it can run; else why not in WHY.
available() {
    WHY=""
    case $1 in
    tq) [[ -x $TQ_BIN/tq && -x $TQ_BIN/tq-worker && -x $TMP/tq_peer && -f $TMP/peers_lat.so ]] ||
        WHY="tq binaries or bench/peers/tq helpers not built" ;;
    tq-python) [[ -x $TQ_BIN/tq-worker && -f $TQ_BIN/libtq.so ]] || { WHY="tq not built"; return 1; }
        [[ $("$TQ_BIN/tq-worker" --help 2>&1) == *--task-server* ]] || { WHY="tq-worker has no --task-server"; return 1; }
        [[ -x $PY ]] && PYTHONPATH=$ROOT/python "$PY" -c 'import tq' >/dev/null 2>&1 || WHY="$PY cannot import python/tq" ;;
    bullmq | bee-queue)
        local m=bullmq
        [[ $1 == bee-queue ]] && m=bee-queue
        command -v node >/dev/null || { WHY="node not installed"; return 1; }
        (cd "$HERE/node" && node -e "require('$m'); require('ioredis')") >/dev/null 2>&1 ||
            WHY="npm package $m not installed (npm ci --prefix bench/peers/node)" ;;
    sidekiq) command -v ruby >/dev/null && command -v sidekiq >/dev/null &&
        ruby -e 'require "sidekiq"' >/dev/null 2>&1 || WHY="ruby-sidekiq not installed" ;;
    celery | celery-threads) [[ -x $PY ]] && "$PY" -c 'import celery, redis' >/dev/null 2>&1 ||
        WHY="python3-celery not installed" ;;
    rq) [[ -x $PY ]] && "$PY" -c 'import rq' >/dev/null 2>&1 || WHY="python3-rq not installed" ;;
    *) WHY="unknown system (known: $ALL_SYSTEMS)" ;;
    esac
    [[ -z $WHY ]]
}

# version SYS: what runs, for the output.
version() {
    case $1 in
    tq) echo "tq $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" ;;
    bullmq) echo "BullMQ $(node -p "require('$HERE/node/node_modules/bullmq/package.json').version") (ioredis $(node -p "require('$HERE/node/node_modules/ioredis/package.json').version"), Node $(node --version))" ;;
    bee-queue) echo "bee-queue $(node -p "require('$HERE/node/node_modules/bee-queue/package.json').version") (node-redis $(node -p "require('$HERE/node/node_modules/bee-queue/node_modules/redis/package.json').version" 2>/dev/null || echo '?'), Node $(node --version))" ;;
    sidekiq) ruby -e 'require "sidekiq"; puts "Sidekiq #{Sidekiq::VERSION} (redis-rb #{Redis::VERSION}, Ruby #{RUBY_VERSION})"' 2>/dev/null ;;
    celery | celery-threads) "$PY" -c 'import celery, kombu, redis, platform; print(f"Celery {celery.__version__} (kombu {kombu.__version__}, redis-py {redis.__version__}, Python {platform.python_version()})")' ;;
    rq) "$PY" -c 'import rq, redis, platform; print(f"RQ {rq.__version__} (redis-py {redis.__version__}, Python {platform.python_version()})")' ;;
    tq-python) echo "tq $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') with python/tq (Python $("$PY" -c 'import platform; print(platform.python_version())'))" ;;
    esac
}

# config SYS: its configuration in words, for the output.
config() {
    case $1 in
    tq) echo "tq-worker --concurrency $CONC (sleep: $SLEEP_CONC) --log-level warn; bulk: tq submit-many; one: tq_submit (libtq)" ;;
    bullmq) echo "Worker concurrency $CONC (sleep: $SLEEP_CONC), other options default (completed jobs kept); bulk: Queue.addBulk; one: Queue.add" ;;
    bee-queue) echo "Queue default settings, process($CONC) (sleep: $SLEEP_CONC); bulk: saveAll; one: job.save" ;;
    sidekiq) echo "sidekiq -c $CONC (sleep: $SLEEP_CONC), BasicFetch (BRPOP: no ack), log level warn; bulk: Client.push_bulk; one: perform_async" ;;
    celery) echo "celery worker, prefork pool, -c default = $NCPU processes (= cores) for every run, acks_late off, prefetch x4, no result backend; bulk: group().apply_async(); one: delay" ;;
    celery-threads) echo "celery worker -P threads -c $CONC (sleep: $SLEEP_CONC), acks_late off, prefetch x4, no result backend; bulk: group().apply_async(); one: delay" ;;
    rq) echo "one rq worker: forks a work horse per job, 1 job at a time (RQ has no concurrency option), log level WARNING; bulk: enqueue_many; one: enqueue" ;;
    tq-python) echo "tq-worker --concurrency $CONC (sleep: $SLEEP_CONC) --log-level warn --task-server 'py.noop,py.sleep,py.lat=python3 -m tq.serve peers_tq': one Python process (asyncio), --server-inflight = concurrency; bulk: tq.Client.submit_many; one: tq.Client.submit" ;;
    esac
}

# ---------------------------------------------------------------- redis

# start_redis: a fresh private Redis (its own dir) for the next system, and
# the poller's connection to it.
start_redis() {
    private_redis "$(mktemp -d "$TMP/redis.XXXXXX")" || return 1
    exec {RFD}<>"/dev/tcp/127.0.0.1/$PORT"
}
stop_redis() {
    [[ -n $REDIS_PID ]] || return 0
    { exec {RFD}>&-; } 2>/dev/null || true
    kill -KILL "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
}
R() { redis-cli -p "$PORT" "$@"; }

# ---------------------------------------------------------------- per system

# wait_cmd / done_cmd SYS: the RESP commands reading the system's waiting
# list and its count of completed jobs.
wait_cmd() {
    case $1 in
    tq | tq-python) echo "LLEN tq:{bench}:p0" ;;
    bullmq) echo "LLEN bull:bench:wait" ;;
    bee-queue) echo "LLEN bq:bench:waiting" ;;
    sidekiq) echo "LLEN queue:default" ;;
    celery | celery-threads) echo "LLEN celery" ;;
    rq) echo "LLEN rq:queue:default" ;;
    esac
}
done_cmd() {
    case $1 in
    tq | tq-python) echo "HGET tq:{bench}:stats processed" ;; # tq's own counter
    bullmq) echo "ZCARD bull:bench:completed" ;;          # completed jobs are kept
    bee-queue) echo "SCARD bq:bench:succeeded" ;;         # succeeded ids are kept
    sidekiq | celery | celery-threads) echo "GET peers:done" ;; # counted in the worker: app.rb, peers_celery.py
    rq) echo "ZCARD rq:finished:default" ;;               # RQ's finished registry
    esac
}

# producer SYS MODE ARGS...: the system's client program (its stdout: one
# JSON line). Bounded by timeout.
producer() {
    local sys=$1
    shift
    case $sys in
    tq) PEERS_PORT=$PORT PEERS_LAT_FILE=$TMP/lat-file timeout 120 "$TMP/tq_peer" "$@" ;;
    bullmq) PEERS_PORT=$PORT timeout 120 node "$HERE/node/bullmq.js" "$@" ;;
    bee-queue) PEERS_PORT=$PORT timeout 120 node "$HERE/node/beequeue.js" "$@" ;;
    sidekiq) REDIS_URL=redis://127.0.0.1:$PORT/0 timeout 120 ruby "$HERE/sidekiq/client.rb" "$@" ;;
    celery | celery-threads) PEERS_PORT=$PORT PYTHONPATH=$HERE/celery timeout 120 "$PY" "$HERE/celery/peers_celery.py" "$@" ;;
    rq) PEERS_PORT=$PORT PYTHONPATH=$HERE/rq timeout 120 "$PY" "$HERE/rq/peers_rq.py" "$@" ;;
    tq-python) PEERS_PORT=$PORT PEERS_LAT_FILE=$TMP/lat-file TQ_LIBTQ=$TQ_BIN/libtq.so PYTHONPATH=$ROOT/python \
        timeout 120 "$PY" "$HERE/tq/peers_tq.py" "$@" ;;
    esac
}

# start_worker SYS CONC NAME [COUNT]: one worker process of SYS in the
# background, in a process group of its own; WPID. COUNT is what the
# in-worker counters (Sidekiq, Celery) flush at.
start_worker() {
    local sys=$1 conc=$2 name=$3 count=${4:-0} log=$TMP/$1-$3.log
    local -a cmd env=(PEERS_PORT="$PORT" PEERS_N="$count" PEERS_LAT_FILE="$TMP/lat-file")
    case $sys in
    tq) cmd=("$TQ_BIN/tq-worker" --redis "redis://127.0.0.1:$PORT/0" --queue bench
        --concurrency "$conc" --log-level warn)
        [[ $name == lat ]] && cmd+=(--plugin "$TMP/peers_lat.so") ;;
    bullmq) cmd=(node "$HERE/node/bullmq.js" worker "$conc") ;;
    bee-queue) cmd=(node "$HERE/node/beequeue.js" worker "$conc") ;;
    sidekiq) env+=(REDIS_URL="redis://127.0.0.1:$PORT/0")
        cmd=(sidekiq -r "$HERE/sidekiq/app.rb" -c "$conc") ;;
    celery) env+=(PYTHONPATH="$HERE/celery")
        cmd=("$PY" -m celery -A peers_celery worker -l WARNING) ;;
    celery-threads) env+=(PYTHONPATH="$HERE/celery")
        cmd=("$PY" -m celery -A peers_celery worker -l WARNING -P threads -c "$conc") ;;
    rq) env+=(PYTHONPATH="$HERE/rq")
        cmd=("$PY" -m rq.cli worker -u "redis://127.0.0.1:$PORT/0" --logging_level WARNING default) ;;
    tq-python) env+=(PYTHONPATH="$ROOT/python:$HERE/tq")
        cmd=("$TQ_BIN/tq-worker" --redis "redis://127.0.0.1:$PORT/0" --queue bench
            --concurrency "$conc" --log-level warn --server-inflight "$conc"
            --task-server "py.noop,py.sleep,py.lat=$PY -m tq.serve peers_tq") ;;
    esac
    (cd "$TMP" && exec env "${env[@]}" setsid "${cmd[@]}") >"$log" 2>&1 &
    WPID=$!
    echo "$WPID" >>"$TMP/pgids"
    WPIDS+=("$WPID")
}

# stop_worker PID: SIGTERM, up to 15 s to exit, then SIGKILL to its group.
stop_worker() {
    local i
    kill -TERM "$1" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do alive "$1" || break; sleep 0.1; done
    kill_group "$1"
    wait "$1" 2>/dev/null || true
}
stop_workers() {
    local p
    for p in "${WPIDS[@]}"; do stop_worker "$p"; done
    WPIDS=()
}

# measure SYS WPID TOTAL CAP: polls until the first job leaves the waiting
# list (within 60 s of the worker's start), then until TOTAL jobs are
# counted complete or CAP seconds have passed. Sets ELAPSED (s), DONE, and
# the worker tree's and redis-server's CPU ticks over that window, the
# tree's peak VmHWM sum (KiB, sampled every ~100 ms) and the root's.
measure() {
    local sys=$1 wpid=$2 total=$3 cap=$4 wc dc t0 t1 end i=0 w1 r1
    wc=$(wait_cmd "$sys") dc=$(done_cmd "$sys")
    now_us
    end=$((NOW + 60000000))
    while :; do
        rcall "$wc"
        [[ $RV =~ ^[0-9]+$ ]] || return 1
        ((RV < total)) && break
        alive "$wpid" || { echo "worker exited before its first job" >&2; return 1; }
        now_us
        ((NOW < end)) || { echo "no job started within 60 s" >&2; return 1; }
        nap 0.001
    done
    now_us
    t0=$NOW
    cpu_tree "$wpid"; w1=$TICKS
    cpu_one "$REDIS_PID"; r1=$TICKS
    end=$((t0 + cap * 1000000))
    PEAK=0 PEAK_ROOT=0
    while :; do
        rcall "$dc"
        DONE=${RV:-0}
        [[ $DONE =~ ^[0-9]+$ ]] || DONE=0
        ((DONE >= total)) && break
        now_us
        ((NOW < end)) || break
        if ((i++ % 50 == 0)); then
            hwm_tree "$wpid"
            ((HWM > PEAK)) && PEAK=$HWM
            ((HWM_ROOT > PEAK_ROOT)) && PEAK_ROOT=$HWM_ROOT
        fi
        nap 0.002
    done
    now_us
    t1=$NOW
    cpu_tree "$wpid"; WTICKS=$((TICKS - w1))
    cpu_one "$REDIS_PID"; RTICKS=$((TICKS - r1))
    hwm_tree "$wpid"
    ((HWM > PEAK)) && PEAK=$HWM
    ((HWM_ROOT > PEAK_ROOT)) && PEAK_ROOT=$HWM_ROOT
    ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", (b-a)/1e6}')
}

# ---------------------------------------------------------------- workloads
# Each runs in a subshell of its own (a failure loses that figure only) and
# writes its figures with put.

# (1) bulk enqueue of N no-ops, then (2-4) the drain by one worker at
# concurrency CONC: jobs/s, peak RSS, worker and redis CPU per job.
wl_drain() {
    local sys=$1 s t0
    if [[ $sys == tq ]]; then
        seq 1 "$N" >"$TMP/args"
        now_us; t0=$NOW
        "$TQ_BIN/tq" --redis "redis://127.0.0.1:$PORT/0" submit-many --queue bench tq.noop <"$TMP/args" >/dev/null
        now_us
        s=$(awk -v a="$t0" -v b="$NOW" 'BEGIN{printf "%.4f", (b-a)/1e6}')
    else
        s=$(producer "$sys" bulk "$N" | jq -r '.seconds * 10000 | round / 10000')
    fi
    rcall "$(wait_cmd "$sys")"
    [[ $RV == "$N" ]] || { echo "bulk enqueue: $RV of $N jobs waiting" >&2; return 1; }
    put "$sys" enqueue_s "$s"
    put "$sys" enqueue_rate "$(awk -v n="$N" -v s="$s" 'BEGIN{printf "%.0f", n/s}')"
    note "bulk enqueue: $N in ${s}s = $(get "$sys" enqueue_rate)/s"

    start_worker "$sys" "$CONC" drain "$N"
    measure "$sys" "$WPID" "$N" "$CAP"
    stop_worker "$WPID"
    ((DONE > 0)) || { echo "drain: nothing completed" >&2; return 1; }
    put "$sys" drain_jobs "$DONE"
    put "$sys" drain_s "$ELAPSED"
    put "$sys" drain_rate "$(awk -v n="$DONE" -v s="$ELAPSED" 'BEGIN{printf "%.0f", n/s}')"
    ((DONE < N)) && put "$sys" drain_partial "$DONE of $N in ${CAP}s"
    put "$sys" rss_kib "$PEAK"
    put "$sys" rss_root_kib "$PEAK_ROOT"
    put "$sys" worker_us "$(awk -v t="$WTICKS" -v hz="$HZ" -v n="$DONE" 'BEGIN{printf "%.1f", t*1e6/hz/n}')"
    put "$sys" redis_us "$(awk -v t="$RTICKS" -v hz="$HZ" -v n="$DONE" 'BEGIN{printf "%.1f", t*1e6/hz/n}')"
    note "drain: $DONE in ${ELAPSED}s = $(get "$sys" drain_rate)/s$( ((DONE < N)) && echo " (cut at ${CAP}s)"); peak RSS $((PEAK / 1024)) MiB; worker $(get "$sys" worker_us) us/job, redis $(get "$sys" redis_us) us/job"
}

# one-at-a-time enqueue through the library, each call awaited.
wl_one() {
    local sys=$1 s
    s=$(producer "$sys" one "$ONE_N" | jq -r '.seconds * 10000 | round / 10000')
    rcall "$(wait_cmd "$sys")"
    [[ $RV == "$ONE_N" ]] || { echo "one-at-a-time: $RV of $ONE_N jobs waiting" >&2; return 1; }
    put "$sys" one_rate "$(awk -v n="$ONE_N" -v s="$s" 'BEGIN{printf "%.0f", n/s}')"
    note "one-at-a-time enqueue: $ONE_N in ${s}s = $(get "$sys" one_rate)/s"
}

# 2,000 jobs sleeping 50 ms, one worker at concurrency 100: ideal 1 s.
wl_sleep() {
    local sys=$1 ideal eff i
    if [[ $sys == tq ]]; then
        for ((i = 0; i < SLEEP_N; i++)); do echo "$SLEEP_MS"; done |
            "$TQ_BIN/tq" --redis "redis://127.0.0.1:$PORT/0" submit-many --queue bench tq.sleep >/dev/null
    else
        producer "$sys" sleep "$SLEEP_N" "$SLEEP_MS" >/dev/null
    fi
    rcall "$(wait_cmd "$sys")"
    [[ $RV == "$SLEEP_N" ]] || { echo "sleep: $RV of $SLEEP_N jobs waiting" >&2; return 1; }
    start_worker "$sys" "$SLEEP_CONC" sleep "$SLEEP_N"
    measure "$sys" "$WPID" "$SLEEP_N" "$SLEEP_CAP"
    stop_worker "$WPID"
    ((DONE > 0)) || { echo "sleep: nothing completed" >&2; return 1; }
    # ideal for the jobs done: done / 100 x 50 ms
    ideal=$(awk -v d="$DONE" -v c="$SLEEP_CONC" -v ms="$SLEEP_MS" 'BEGIN{printf "%.4f", d/c*ms/1000}')
    eff=$(awk -v i="$ideal" -v a="$ELAPSED" 'BEGIN{printf "%.3f", i/a}')
    put "$sys" sleep_jobs "$DONE"
    put "$sys" sleep_s "$ELAPSED"
    put "$sys" sleep_eff "$eff"
    put "$sys" sleep_rss_kib "$PEAK"
    ((DONE < SLEEP_N)) && put "$sys" sleep_partial "$DONE of $SLEEP_N in ${SLEEP_CAP}s"
    note "sleep: $DONE x ${SLEEP_MS}ms in ${ELAPSED}s, ideal ${ideal}s: efficiency $eff"
}

# enqueue-to-start at LAT_RATE/s: each job carries the CLOCK_MONOTONIC time
# it was sent; its handler records (start - sent).
wl_lat() {
    local sys=$1 rate i got=0 lf=$TMP/lat-us
    : >"$TMP/lat-file"
    start_worker "$sys" "$CONC" lat
    rate=$(producer "$sys" lat "$LAT_RATE" "$LAT_N" | jq -r .rate)
    for ((i = 0; i < 300; i++)); do
        if [[ $sys == tq* ]]; then got=$(grep -c . "$TMP/lat-file" || true); else rcall "LLEN peers:lat"; got=$RV; fi
        ((got >= LAT_N)) && break
        sleep 0.05
    done
    if [[ $sys == tq* ]]; then sort -n "$TMP/lat-file" >"$lf"; else R lrange peers:lat 0 -1 | sort -n >"$lf"; fi
    stop_worker "$WPID"
    got=$(grep -c . "$lf" || true)
    ((got > 0)) || { echo "latency: no job started" >&2; return 1; }
    put "$sys" lat_rate "$(printf '%.0f' "$rate")"
    put "$sys" lat_started "$got"
    # nearest rank over all LAT_N sent; a job never started counts as
    # infinitely late (then the percentile is reported as missing)
    put "$sys" lat_p50_ms "$(awk -v p=50 -v n="$LAT_N" '{a[NR]=$1} END{i=int(n*p/100+0.999999); if(i>NR) print "null"; else printf "%.3f", a[i]/1000}' "$lf")"
    put "$sys" lat_p99_ms "$(awk -v p=99 -v n="$LAT_N" '{a[NR]=$1} END{i=int(n*p/100+0.999999); if(i>NR) print "null"; else printf "%.3f", a[i]/1000}' "$lf")"
    note "latency at $(get "$sys" lat_rate)/s: p50 $(get "$sys" lat_p50_ms) ms, p99 $(get "$sys" lat_p99_ms) ms ($got of $LAT_N started)"
}

run_workload() {
    local sys=$1 wl=$2 rc f
    R flushall >/dev/null
    set +e
    (
        set -Eeuo pipefail
        WPIDS=()
        trap 'stop_workers' EXIT
        trap '[[ $BASH_COMMAND == return* ]] || echo "line $LINENO: $BASH_COMMAND: exit $?" >&2' ERR
        "wl_$wl" "$sys"
    ) 2>>"$TMP/$sys-errors.log"
    rc=$?
    set -e
    if ((rc != 0)); then
        put "$sys" "fail_$wl" "$(tail -n 1 "$TMP/$sys-errors.log" 2>/dev/null)"
        note "$wl FAILED: $(tail -n 1 "$TMP/$sys-errors.log" 2>/dev/null)"
        f=$TMP/$sys-$wl.log
        [[ -f $f ]] && { echo "--- ${f##*/}" >&2; tail -n 5 "$f" >&2; }
    fi
    return 0
}

# ---------------------------------------------------------------- main

T_START=$SECONDS
echo "tq bench-peers: redis $(redis-server --version | grep -o 'v=[^ ]*' | cut -c3-), $NCPU cores, N=$N" >&2
[[ -n ${TQ_PEERS_NO_INSTALL:-} ]] || install_peers

# tq's helpers: a libtq client for one-at-a-time and latency, and a plugin
# with the latency handler.
build_tq_helpers "$TQ_BIN" "$ROOT" "$TMP" ||
    note "building bench/peers/tq helpers failed: $(head -n 3 "$TMP/cc.log")"

RAN=()
for sys in $SYSTEMS; do
    if ! available "$sys"; then
        echo "$sys: skipped: $WHY" >&2
        put "$sys" skipped "$WHY"
        continue
    fi
    put "$sys" version "$(version "$sys")"
    put "$sys" config "$(config "$sys")"
    echo "$sys: $(get "$sys" version)" >&2
    note "config: $(get "$sys" config)"
    start_redis || { echo "$sys: skipped: could not start redis-server" >&2; put "$sys" skipped "redis-server did not start"; continue; }
    for wl in drain one sleep lat; do run_workload "$sys" "$wl"; done
    stop_redis
    RAN+=("$sys")
done

# ---------------------------------------------------------------- report

num() { local v; v=$(get "$1" "$2"); [[ $v =~ ^[0-9.]+$ ]] && echo "$v" || echo null; }
str() { get "$1" "$2" | jq -R -s 'rtrimstr("\n") | if . == "" then null else . end'; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo true || echo false)
mkdir -p "$OUTDIR"
json=$OUTDIR/peers-$stamp.json
{
    for sys in $SYSTEMS; do
        jq -n --arg system "$sys" --argjson skipped "$(str "$sys" skipped)" \
            --argjson version "$(str "$sys" version)" --argjson config "$(str "$sys" config)" \
            --argjson enqueue "$(num "$sys" enqueue_rate)" --argjson enqueue_s "$(num "$sys" enqueue_s)" \
            --argjson one "$(num "$sys" one_rate)" \
            --argjson drain "$(num "$sys" drain_rate)" --argjson drain_jobs "$(num "$sys" drain_jobs)" \
            --argjson drain_s "$(num "$sys" drain_s)" --argjson drain_partial "$(str "$sys" drain_partial)" \
            --argjson rss "$(num "$sys" rss_kib)" --argjson rss_root "$(num "$sys" rss_root_kib)" \
            --argjson wus "$(num "$sys" worker_us)" --argjson rus "$(num "$sys" redis_us)" \
            --argjson lat_rate "$(num "$sys" lat_rate)" --argjson lat_started "$(num "$sys" lat_started)" \
            --argjson p50 "$(num "$sys" lat_p50_ms)" --argjson p99 "$(num "$sys" lat_p99_ms)" \
            --argjson sleep_jobs "$(num "$sys" sleep_jobs)" --argjson sleep_s "$(num "$sys" sleep_s)" \
            --argjson sleep_eff "$(num "$sys" sleep_eff)" --argjson sleep_partial "$(str "$sys" sleep_partial)" \
            --argjson sleep_rss "$(num "$sys" sleep_rss_kib)" \
            --argjson failed "$(for w in drain one sleep lat; do [[ -f $RES/$sys/fail_$w ]] && jq -n --arg w "$w" --arg e "$(get "$sys" "fail_$w")" '{($w): $e}'; done | jq -s 'add // {}')" \
            '{system: $system, skipped: $skipped, version: $version, config: $config,
              enqueue_bulk: {jobs_per_s: $enqueue, seconds: $enqueue_s},
              enqueue_one: {jobs_per_s: $one},
              drain: {jobs_per_s: $drain, jobs: $drain_jobs, seconds: $drain_s, cut_short: $drain_partial,
                      worker_peak_rss_kib: $rss, worker_root_peak_rss_kib: $rss_root,
                      worker_cpu_us_per_job: $wus, redis_cpu_us_per_job: $rus},
              latency: {rate: $lat_rate, started: $lat_started, p50_ms: $p50, p99_ms: $p99},
              sleep: {jobs: $sleep_jobs, seconds: $sleep_s, efficiency: $sleep_eff, cut_short: $sleep_partial,
                      worker_peak_rss_kib: $sleep_rss},
              failed: $failed}'
    done
} | jq -s --arg ts "$stamp" --arg commit "$commit" --argjson dirty "$dirty" \
    --argjson cores "$NCPU" --arg kernel "$(uname -r)" \
    --arg redis "$(redis-server --version | grep -o 'v=[^ ]*' | cut -c3-)" \
    --argjson n "$N" --argjson one_n "$ONE_N" --argjson conc "$CONC" --argjson lat_n "$LAT_N" \
    --argjson lat_rate "$LAT_RATE" --argjson cap "$CAP" --argjson sleep_cap "$SLEEP_CAP" \
    '{timestamp: $ts, commit: $commit, dirty: $dirty,
      host: {cores: $cores, kernel: $kernel, redis: $redis},
      workloads: {bulk_jobs: $n, one_jobs: $one_n, drain_jobs: $n, drain_concurrency: $conc, drain_cap_s: $cap,
                  sleep: "2000 x 50 ms at concurrency 100, ideal 1 s", sleep_cap_s: $sleep_cap,
                  latency_jobs: $lat_n, latency_rate: $lat_rate},
      systems: .}' >"$json"

# The table: figures, then tq/peer for each.
cell() { local v; v=$(get "$1" "$2"); echo "${v:--}"; }
mib() { local v; v=$(get "$1" rss_kib); [[ -n $v ]] && awk -v k="$v" 'BEGIN{printf "%.1f", k/1024}' || echo -; }
mark() { [[ -n $(get "$1" "$2") ]] && echo "*" || echo ""; }
printf '\ntq bench-peers (%s, %s cores, Redis %s; N=%s, drain at concurrency %s)\n\n' \
    "$commit" "$NCPU" "$(redis-server --version | grep -o 'v=[^ ]*' | cut -c3-)" "$N" "$CONC"
# shellcheck disable=SC2059 # one format for every row
fmt='%-15s %10s %9s %10s %8s %9s %9s %8s %8s %7s\n'
printf "$fmt" system "enqueue/s" "one/s" "drain/s" "RSS MB" "wrk us/j" "rds us/j" "p50 ms" "p99 ms" "sleep"
printf "$fmt" --------------- ---------- --------- ---------- -------- --------- --------- -------- -------- -------
for sys in $SYSTEMS; do
    if [[ -n $(get "$sys" skipped) ]]; then
        printf '%-15s skipped: %s\n' "$sys" "$(get "$sys" skipped)"
        continue
    fi
    printf "$fmt" "$sys" "$(cell "$sys" enqueue_rate)" "$(cell "$sys" one_rate)" \
        "$(cell "$sys" drain_rate)$(mark "$sys" drain_partial)" "$(mib "$sys")" \
        "$(cell "$sys" worker_us)" "$(cell "$sys" redis_us)" \
        "$(cell "$sys" lat_p50_ms)" "$(cell "$sys" lat_p99_ms)" \
        "$(cell "$sys" sleep_eff)$(mark "$sys" sleep_partial)"
done

ratio() { # ratio KEY PEER: tq's figure / the peer's
    local a b
    a=$(get tq "$1") b=$(get "$2" "$1")
    [[ $a =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]] && awk -v a="$a" -v b="$b" 'BEGIN{if (b > 0) printf "%.2f", a/b; else print "-"}' || echo -
}
if [[ -f $RES/tq/version && -z $(get tq skipped) ]]; then
    printf '\ntq/peer (rates and sleep efficiency: above 1 = tq ahead; RSS, CPU per job and latency: below 1 = tq ahead)\n\n'
    printf "$fmt" peer "enqueue" "one" "drain" "RSS" "wrk cpu" "rds cpu" "p50" "p99" "sleep"
    printf "$fmt" --------------- ---------- --------- ---------- -------- --------- --------- -------- -------- -------
    for sys in $SYSTEMS; do
        [[ $sys == tq || -n $(get "$sys" skipped) ]] && continue
        printf "$fmt" "$sys" "$(ratio enqueue_rate "$sys")" "$(ratio one_rate "$sys")" "$(ratio drain_rate "$sys")" \
            "$(ratio rss_kib "$sys")" "$(ratio worker_us "$sys")" "$(ratio redis_us "$sys")" \
            "$(ratio lat_p50_ms "$sys")" "$(ratio lat_p99_ms "$sys")" "$(ratio sleep_eff "$sys")"
    done
fi

printf '\nConfigurations:\n'
for sys in $SYSTEMS; do
    [[ -n $(get "$sys" skipped) ]] && continue
    printf '  %-15s %s\n  %-15s %s\n' "$sys" "$(get "$sys" version)" "" "$(get "$sys" config)"
done
notes=""
for sys in $SYSTEMS; do
    [[ -n $(get "$sys" drain_partial) ]] && notes+="  * $sys drain cut short: $(get "$sys" drain_partial) (rate = jobs done / time)"$'\n'
    [[ -n $(get "$sys" sleep_partial) ]] && notes+="  * $sys sleep cut short: $(get "$sys" sleep_partial) (efficiency over the jobs done)"$'\n'
    for w in drain one sleep lat; do
        [[ -f $RES/$sys/fail_$w ]] && notes+="  ! $sys: $w failed: $(get "$sys" "fail_$w")"$'\n'
    done
    n=$(get "$sys" lat_started)
    [[ -n $n && $n != "$LAT_N" ]] && notes+="  ! $sys: latency: only $n of $LAT_N jobs started within 15 s of the last send"$'\n'
done
[[ -n $notes ]] && printf '\nNotes:\n%s' "$notes"
printf '\nRSS: sum of VmHWM over the worker and its children during the drain (forked children share pages: Celery prefork and RQ are over-counted).\n'
printf 'one/s: one-at-a-time enqueue (%s jobs), each call awaited. p50/p99: enqueue-to-start at %s jobs/s (%s jobs).\n' "$ONE_N" "$LAT_RATE" "$LAT_N"
printf 'sleep: 2,000 x 50 ms at concurrency 100 (ideal 1 s) / actual; a system run at less than 100 is still held to 1 s.\n'
printf '\nJSON: %s  (%d s)\n' "$json" "$((SECONDS - T_START))"
