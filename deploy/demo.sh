#!/usr/bin/env bash
# demo.sh -- `make demo`: tq on real work, in under a minute.
#
# Starts a private redis-server on a free port in a temp dir and a worker
# with 20 slots and two exec tasks, then submits real work and shows each
# step: a few no-ops, 50 sleeps running at once, exec jobs, a failing job
# reaching the dead-letter list, a worker SIGKILLed mid-job whose job is
# finished by another, and a failover: a Redis master with a replica and
# three Sentinels, the master SIGKILLed while a worker drains jobs through
# redis+sentinel://. Everything it started is stopped by pid on exit.
#
#   TQ_BIN=build bash deploy/demo.sh
set -Eeuo pipefail

: "${TQ_BIN:?TQ_BIN must name the build directory (make demo sets it)}"
TQ_BIN=$(cd "$TQ_BIN" && pwd)
for c in redis-server redis-cli; do
    command -v "$c" >/dev/null || { echo "demo: $c is required (sh .ci/deps installs it)" >&2; exit 1; }
done

# shellcheck source=deploy/private-redis.sh
. "$(dirname "${BASH_SOURCE[0]}")/private-redis.sh" # private_redis

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-demo.XXXXXX")
PIDS=()
GROUP_PIDS=()   # the failover's Redis nodes and sentinels
REDIS_PID=""
T0=$(date +%s.%N)

# alive PID: running, and not a zombie waiting to be reaped.
alive() { [[ -e /proc/$1 && $(sed 's/.*) //;s/ .*//' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

cleanup() {
    local rc=$? p
    set +e
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    for p in "${GROUP_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if [[ -n $REDIS_PID ]]; then kill -TERM "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; fi
    if [[ $rc != 0 ]]; then
        echo
        echo "demo FAILED (exit $rc). Worker logs:"
        for f in "$TMP"/*.log; do [[ -f $f ]] && { echo "--- ${f##*/}"; tail -n 20 "$f"; }; done
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# ---------------------------------------------------------------- helpers

B=$'\e[1m'; D=$'\e[2m'; N=$'\e[0m'
[[ -t 1 ]] || { B=""; D=""; N=""; }

step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
say() { printf '%s\n' "$*"; }
# quoted ARGS...: the words as a user would type them in a shell.
quoted() {
    local a out=""
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
    done
    printf '%s' "${out# }"
}
# show CMD...: print it as a user would type it, run it, indent its output.
show() {
    printf '%s$ %s%s\n' "$D" "$(quoted "$@")" "$N"
    "$@" 2>&1 | sed 's/^/  /'
    return "${PIPESTATUS[0]}"
}
die() { echo "demo: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}'; }

tq() { "$TQ_BIN/tq" "$@"; }
tq_worker_bg() {    # tq_worker_bg LOGNAME ARGS...: sets WPID
    local name=$1
    shift
    "$TQ_BIN/tq-worker" --redis "$TQ_REDIS_URL" "$@" >"$TMP/$name.log" 2>&1 &
    WPID=$!
    PIDS+=("$WPID")
}
until_true() {      # until_true SECS cmd...
    local end=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [[ $(date +%s) -le $end ]] || die "timed out waiting for: $*"
        sleep 0.1
    done
}
state_is() { [[ $(tq status "$1" 2>/dev/null) == "$2" ]]; }
listed() { tq workers 2>/dev/null | grep -qF -- "$1"; }

# ---------------------------------------------------------------- redis

step "A private Redis"
private_redis "$TMP" || die "could not start redis-server"
export TQ_REDIS_URL="redis://127.0.0.1:$PORT/0"
export TQ_NAMESPACE=demo
say "redis-server pid $REDIS_PID on 127.0.0.1:$PORT (temp dir $TMP)"
say "every command below runs with TQ_REDIS_URL=$TQ_REDIS_URL TQ_NAMESPACE=demo"

# ---------------------------------------------------------------- worker

step "A worker: 20 slots on one event loop, two exec tasks"
printf '%s$ tq-worker --concurrency 20 --task "wc=wc -c" --task "upper=tr a-z A-Z" --name demo-main &%s\n' "$D" "$N"
tq_worker_bg main --namespace demo --concurrency 20 --task 'wc=wc -c' \
    --task 'upper=tr a-z A-Z' --name demo-main

until_true 10 listed demo-main
show tq workers

# ---------------------------------------------------------------- no-ops

step "A few no-ops: the result is the args"
ids=()
for a in '"hello"' '{"user":42,"tags":["a","b"]}' '[1,2,3]'; do
    printf '%s$ tq submit tq.noop %s%s\n' "$D" "'$a'" "$N"
    id=$(tq submit tq.noop "$a")
    say "  $id"
    ids+=("$id")
done
show tq wait "${ids[@]}" --timeout 10s
show tq status "${ids[0]}"

# ---------------------------------------------------------------- sleeps

step "50 x tq.sleep 200 (ms): they wait on the loop side by side, 20 at a time"
printf '200\n%.0s' {1..50} >"$TMP/sleeps"
printf '%s$ yes 200 | head -n 50 | tq submit-many tq.sleep > ids%s\n' "$D" "$N"
t=$(now)
tq submit-many tq.sleep <"$TMP/sleeps" >"$TMP/sleep-ids"
mapfile -t sids <"$TMP/sleep-ids"
printf '%s$ tq wait $(cat ids)%s\n' "$D" "$N"
tq wait "${sids[@]}" --timeout 30s >"$TMP/sleep-results"
took=$(since "$t")
[[ $(grep -c '^200$' "$TMP/sleep-results") == 50 ]] || die "not every sleep returned 200"
say "  50 results of 200 in ${took}s: one after another would take 10 s; 20 slots need 3 rounds (0.6 s)"
awk -v t="$took" 'BEGIN{exit !(t < 5)}' || die "the sleeps did not run concurrently (${took}s)"

# ---------------------------------------------------------------- exec

step "Exec tasks: a program gets the args on stdin, its stdout is the result"
show tq submit --wait wc '"count these bytes"'
show tq submit --wait upper '"shout, please"'
say "  (a job names a task; only tasks given to the worker with --task can run)"

# ---------------------------------------------------------------- failure

step "A job that always fails: retried, then dead-lettered"
show tq submit --retries 2 --backoff 200ms tq.fail '"the payment gateway said no"' >"$TMP/fail.out"
cat "$TMP/fail.out"
fid=$(tail -n 1 "$TMP/fail.out" | tr -d ' ')
rc=0
show tq wait "$fid" --timeout 20s || rc=$?
say "  exit code $rc (1: a job failed)"
[[ $rc == 1 ]] || die "tq wait of a failing job exited $rc"
tq status --json "$fid" >"$TMP/fail.json"
say "  state $(jq -c .state "$TMP/fail.json"), attempt $(jq .attempt "$TMP/fail.json"), error $(jq -c .error "$TMP/fail.json")"
show tq dlq list

# ---------------------------------------------------------------- crash

step "Crash recovery: a worker is SIGKILLed mid-job; another one finishes it"
printf '%s$ tq-worker --queue reports --lease 3s --name demo-victim &%s\n' "$D" "$N"
tq_worker_bg victim --namespace demo --queue reports --lease 3s --concurrency 4 --name demo-victim
VICTIM=$WPID
until_true 10 listed demo-victim
printf '%s$ tq submit --queue reports --retries 0 tq.sleep 2500%s\n' "$D" "$N"
cid=$(tq submit --queue reports --retries 0 tq.sleep 2500)
say "  $cid"
until_true 10 state_is "$cid" active
show tq status "$cid"
printf '%s$ kill -KILL %s   # the worker dies holding the job%s\n' "$D" "$VICTIM" "$N"
disown "$VICTIM"    # (so bash does not print a "Killed" notice)
kill -KILL "$VICTIM"
t=$(now)
printf '%s$ tq-worker --queue reports --lease 3s --name demo-rescuer &%s\n' "$D" "$N"
tq_worker_bg rescuer --namespace demo --queue reports --lease 3s --concurrency 4 --name demo-rescuer
show tq wait "$cid" --timeout 30s
say "  finished $(since "$t")s after the kill: the lease ran out (3 s), the job was delivered again"
tq status --json "$cid" >"$TMP/crash.json"
att=$(jq .attempt "$TMP/crash.json")
say "  attempt $att, worker $(jq -c .worker "$TMP/crash.json"); --retries 0 was not used up: a lost delivery is not a failure"
[[ $att == 2 ]] || die "expected attempt 2 after the crash, got $att"

# ---------------------------------------------------------------- failover

step "A failover: a worker drains jobs through Sentinel while the master is SIGKILLed"
free_port() {
    local p
    while :; do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
mkdir -p "$TMP/fo/master" "$TMP/fo/replica"
MPORT=$(free_port)
redis-server --port "$MPORT" --bind 127.0.0.1 --save '' --dir "$TMP/fo/master" \
    --daemonize no >"$TMP/fo/master.redis" 2>&1 &
FO_MASTER=$!
GROUP_PIDS+=("$FO_MASTER")
until_true 10 redis-cli -p "$MPORT" ping
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --dir "$TMP/fo/replica" \
    --daemonize no --replicaof 127.0.0.1 "$MPORT" >"$TMP/fo/replica.redis" 2>&1 &
GROUP_PIDS+=($!)
linked() { redis-cli -p "$1" info replication 2>/dev/null | grep -q '^master_link_status:up'; }
until_true 10 linked "$RPORT"
SPORTS=()
for i in 1 2 3; do
    sp=$(free_port)
    mkdir -p "$TMP/fo/s$i"
    printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor m 127.0.0.1 %s 2\nsentinel down-after-milliseconds m 1000\nsentinel failover-timeout m 3000\n' \
        "$sp" "$TMP/fo/s$i" "$MPORT" >"$TMP/fo/s$i/sentinel.conf"
    redis-server "$TMP/fo/s$i/sentinel.conf" --sentinel >"$TMP/fo/s$i.redis" 2>&1 &
    GROUP_PIDS+=($!)
    SPORTS+=("$sp")
done
sees_all() {
    local out
    out=$(redis-cli -p "$1" sentinel master m 2>/dev/null | tr -d '\r')
    [[ $(sed -n '/^num-slaves$/{n;p}' <<<"$out") == 1 &&
       $(sed -n '/^num-other-sentinels$/{n;p}' <<<"$out") == 2 ]]
}
for sp in "${SPORTS[@]}"; do until_true 30 sees_all "$sp"; done
FO_URL="redis+sentinel://127.0.0.1:${SPORTS[0]},127.0.0.1:${SPORTS[1]},127.0.0.1:${SPORTS[2]}/m"
say "master :$MPORT, replica :$RPORT, sentinels ${SPORTS[*]} (monitor m, quorum 2, down after 1 s)"
printf '%s$ tq-worker --redis %s --concurrency 8 --name demo-fo &%s\n' "$D" "$FO_URL" "$N"
tq_worker_bg failover --redis "$FO_URL" --namespace demo --concurrency 8 --name demo-fo
printf '300\n%.0s' {1..60} >"$TMP/fo/jobs"
printf '%s$ yes 300 | head -n 60 | tq --redis %s submit-many tq.sleep > ids%s\n' "$D" "$FO_URL" "$N"
tq --redis "$FO_URL" submit-many tq.sleep <"$TMP/fo/jobs" >"$TMP/fo/ids"
mapfile -t foids <"$TMP/fo/ids"
sleep 1
printf '%s$ kill -KILL %s   # the master dies with jobs running%s\n' "$D" "$FO_MASTER" "$N"
disown "$FO_MASTER"   # (no "Killed" notice)
kill -KILL "$FO_MASTER"
t=$(now)
printf '%s$ tq --redis %s wait $(cat ids)%s\n' "$D" "$FO_URL" "$N"
tq --redis "$FO_URL" --connect-timeout 30s wait "${foids[@]}" --timeout 60s >"$TMP/fo/results" ||
    die "the jobs did not all finish after the failover"
[[ $(grep -c '^300$' "$TMP/fo/results") == 60 ]] || die "not every job returned 300"
say "  all 60 jobs finished, $(since "$t")s after the kill; the worker's log:"
grep -E 'connected|lost redis' "$TMP/failover.log" | sed 's/^/    /'
say "  (the jobs submitted before the kill were on the replica: replication is"
say "   asynchronous, so a job the master had not yet passed on could be lost: --durable)"

# ---------------------------------------------------------------- totals

step "Totals"
show tq stats
show tq workers

step "Graceful stop: SIGTERM lets running jobs finish, then the workers exit 0"
for p in "${PIDS[@]}"; do
    [[ $p == "$VICTIM" ]] && continue
    kill -TERM "$p"
    for _ in $(seq 1 100); do alive "$p" || break; sleep 0.1; done
    alive "$p" && die "worker pid $p still running 10 s after SIGTERM"
    rc=0
    wait "$p" || rc=$?
    say "  worker pid $p exited $rc"
    [[ $rc == 0 ]] || die "worker pid $p exited $rc after SIGTERM"
done
PIDS=()
say
say "demo done in $(since "$T0")s"
