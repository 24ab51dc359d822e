# lib.sh -- the harness every integration test sources.
#
# One idea: a test owns everything it starts, and nothing else. It gets a
# private redis-server on a free port in a fresh temp dir, starts workers and
# background clients through the helpers here, which record each pid; an EXIT
# trap kills exactly those pids and removes the temp dir, whether the test
# passed, failed an assertion, hit an unexpected error, or was stopped by
# run.sh's time limit (timeout sends SIGTERM to the whole process group).
#
# Binaries come from $TQ_BIN (the Makefile sets it to the absolute build dir).
# TQ_VALGRIND=1 runs every worker under valgrind (memcheck); a worker that
# exits with valgrind's error code, or whose log shows errors, fails the test,
# and so does a worker whose log shows an ASan/UBSan report (make asan).
# TQ_KEEP_TMP=1 keeps the temp dir (redis and worker logs) for a post-mortem.
#
# Conventions for tests:
#   start_redis                      once, first
#   start_worker ARGS...             sets WORKER_PID (not a subshell: no $(...))
#   id=$(tq submit ...)              tq talks to the private redis, own namespace
#   assert_exit CODE cmd...          sets OUT and ERR (stdout / stderr text)
#   wait_until SECS cmd...           polls cmd every 0.1 s, bounded
#   stop_worker PID [SIG|none] [SECS] sets WORKER_RC; kill_worker PID (SIGKILL)
#   start_dashboard ARGS...          sets DASH (base URL), DASH_PID, DASH_LOG
#   stop_dashboard [PID]             SIGTERM; exit 0, no sanitizer report
#   tq ... &; track_bg $!            background clients are killed at exit too
# Polling in tests is fine; the product itself must not poll.

set -Eeuo pipefail

: "${TQ_BIN:?TQ_BIN must name the build directory that holds tq and tq-worker}"
TQ_BIN=$(cd "$TQ_BIN" && pwd)
TEST_NAME=$(basename "${0%.sh}")
TEST_START=$(date +%s.%N)

# Timeouts of wait_until are multiplied by this: valgrind makes workers slow.
TQ_SLOW=1
[[ ${TQ_VALGRIND:-0} == 1 ]] && TQ_SLOW=4

REDIS_PORT=""
REDIS_PID=""
REDIS_PASS=""
WORKER_PID=""
WORKER_RC=""
WORKER_PIDS=()          # every worker ever started, in order
BG_PIDS=()              # other background processes (tq wait ... &)
declare -A WORKER_LOG=()    # pid -> log file
declare -A WORKER_DONE=()   # pid -> exit code, once reaped
declare -A WORKER_KILLED=() # pid -> 1 when SIGKILLed on purpose (no valgrind check)
FAILED_MSG=""

# A unique namespace per test: tests could share one Redis and not see each other.
export TQ_NAMESPACE="tqit-${TEST_NAME}-$$"

for _cmd in redis-server redis-cli jq timeout; do
    command -v "$_cmd" >/dev/null 2>&1 ||
        { echo "FAIL: '$_cmd' is required (see .ci/deps)" >&2; exit 1; }
done
for _b in tq tq-worker; do
    [[ -x $TQ_BIN/$_b ]] || { echo "FAIL: $TQ_BIN/$_b is not built" >&2; exit 1; }
done
if [[ ${TQ_VALGRIND:-0} == 1 ]] && ! command -v valgrind >/dev/null 2>&1; then
    echo "FAIL: TQ_VALGRIND=1 but valgrind is not installed" >&2
    exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tq-${TEST_NAME}.XXXXXX")

# ---------------------------------------------------------------- output

# Seconds since the test started, for log lines.
_elapsed() { awk -v s="$TEST_START" -v n="$(date +%s.%N)" 'BEGIN{printf "%6.2f", n-s}'; }

log() { echo "[$(_elapsed)] $*"; }

# fail MSG: the test fails here. The EXIT trap prints the logs of what it
# started and repeats MSG as the last line, where run.sh's tail shows it.
fail() {
    FAILED_MSG="$*"
    echo "FAIL: $*" >&2
    exit 1
}

# An unexpected failure in the test's own shell fails the test. In a
# subshell ($(...), a background job) it does nothing: the subshell exits
# with the command's own status and the caller sees that status (so
# `rc=0; out=$(tq wait ...) || rc=$?` gets tq's exit code, not 1).
_on_err() {
    local rc=$? line=$1 cmd=$2
    [[ $BASHPID == "$$" ]] || return "$rc"
    FAILED_MSG="unexpected exit $rc at line $line: $cmd"
    echo "FAIL: $FAILED_MSG" >&2
    exit 1
}
trap '_on_err "$LINENO" "$BASH_COMMAND"' ERR

# ---------------------------------------------------------------- processes

# pid_alive PID: running (a zombie, exited but not reaped, is not alive).
pid_alive() {
    local st
    [[ -r /proc/$1/stat ]] || return 1
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $st && $st != Z && $st != X ]]
}

# wait_exit PID SECS: waits (bounded) for a child to exit, reaps it and sets
# EXIT_RC. Returns 1, leaving it running, if it did not exit in time.
EXIT_RC=""
wait_exit() {
    local pid=$1 limit i n
    limit=$(awk -v s="$2" -v k="$TQ_SLOW" 'BEGIN{printf "%d", s*k*10}')
    for ((i = 0; i < limit; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    pid_alive "$pid" && return 1
    n=0
    wait "$pid" 2>/dev/null || n=$?
    EXIT_RC=$n
    return 0
}

track_bg() { BG_PIDS+=("$1"); }

# pids_running TEXT: pids of live processes whose command line contains TEXT
# (no procps on a bare machine: reads /proc).
pids_running() {
    local d out=""
    for d in /proc/[0-9]*; do
        [[ -r $d/cmdline ]] || continue
        if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$1"; then
            pid_alive "${d#/proc/}" && out+="${d#/proc/} "
        fi
    done
    echo "${out% }"
}

# ---------------------------------------------------------------- redis

# free_port: a TCP port on 127.0.0.1 nothing listens on now. (start_redis
# retries with another one if it was taken in between.)
free_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

rcli() {
    if [[ -n $REDIS_PASS ]]; then
        redis-cli -p "$REDIS_PORT" -a "$REDIS_PASS" --no-auth-warning "$@"
    else
        redis-cli -p "$REDIS_PORT" "$@"
    fi
}

# start_redis [EXTRA redis-server ARGS...]: a private, non-persistent redis on
# a free port; sets REDIS_PORT, REDIS_PID and exports TQ_REDIS_URL. Waits until
# it answers, and checks the one answering is ours (its pid).
start_redis() {
    spawn_redis "$TMP/redis.log" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$TMP" --daemonize no "$@"
    REDIS_PORT=$SPAWN_PORT
    REDIS_PID=$SPAWN_PID
    # not a background process to kill first: the exit trap stops the
    # workers (which give jobs back to it) before it
    unset 'BG_PIDS[-1]'
    export TQ_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    [[ -n $REDIS_PASS ]] && TQ_REDIS_URL="redis://:$REDIS_PASS@127.0.0.1:$REDIS_PORT/0"
    log "redis-server pid $REDIS_PID on port $REDIS_PORT"
}

# spawn_redis LOG ARGS...: a redis-server (or a sentinel: ARGS hold
# --sentinel) on a free port, `--port P` appended to ARGS (and @PORT2@ in
# ARGS replaced by a second free port, SPAWN_PORT2); started again on
# another port when the process dies before it answers (a port taken
# between the probe and the bind: the ephemeral range is busy here). It is
# ours when INFO names its pid, so a server that already held the port is
# never mistaken for it. Sets SPAWN_PORT and SPAWN_PID; the pid is killed
# at exit.
spawn_redis() {
    local logf=$1 try i auth=()
    shift
    [[ -n $REDIS_PASS ]] && auth=(--no-auth-warning -a "$REDIS_PASS")
    local args
    for ((try = 0; try < 5; try++)); do
        SPAWN_PORT=$(free_port) || fail "no free TCP port"
        SPAWN_PORT2=$(free_port) || fail "no free TCP port"
        args=("${@//@PORT2@/$SPAWN_PORT2}")
        redis-server "${args[@]}" --port "$SPAWN_PORT" >"$logf" 2>&1 &
        SPAWN_PID=$!
        for ((i = 0; i < 200; i++)); do
            pid_alive "$SPAWN_PID" || break
            if redis-cli -p "$SPAWN_PORT" "${auth[@]}" info server 2>/dev/null |
                grep -q "^process_id:$SPAWN_PID"; then
                track_bg "$SPAWN_PID"
                return 0
            fi
            sleep 0.05
        done
        kill -9 "$SPAWN_PID" 2>/dev/null || true
        wait "$SPAWN_PID" 2>/dev/null || true
    done
    cat "$logf" >&2 || true
    fail "redis-server $* did not start"
}

# ---------------------------------------------------------------- tq and workers

# tq ARGS...: the client, on the private redis and the test's namespace
# (through TQ_REDIS_URL / TQ_NAMESPACE, so the flags stay where tests put them).
tq() { "$TQ_BIN/tq" "$@"; }

# start_worker ARGS...: runs tq-worker in the background on the private redis
# with the test's namespace; its stdout+stderr go to $TMP/worker-N.log. Sets
# WORKER_PID. Under TQ_VALGRIND=1 it runs in valgrind (memcheck).
start_worker() {
    local n=${#WORKER_PIDS[@]} logf
    logf="$TMP/worker-$n.log"
    local cmd=("$TQ_BIN/tq-worker" --redis "$TQ_REDIS_URL" --namespace "$TQ_NAMESPACE" "$@")
    if [[ ${TQ_VALGRIND:-0} == 1 ]]; then
        cmd=(valgrind -q --error-exitcode=99 --leak-check=full
             --errors-for-leak-kinds=definite --show-leak-kinds=definite
             --track-fds=no "${cmd[@]}")
    fi
    "${cmd[@]}" >"$logf" 2>&1 &
    WORKER_PID=$!
    WORKER_PIDS+=("$WORKER_PID")
    WORKER_LOG[$WORKER_PID]=$logf
    local tag=""
    [[ ${TQ_VALGRIND:-0} == 1 ]] && tag=" (under valgrind)"
    log "worker $n pid $WORKER_PID: tq-worker $*$tag"
}

# start_worker_listening FLAG ARGS...: start_worker ARGS... FLAG 127.0.0.1:P
# (FLAG: --metrics) on a free port P, started again on another port when
# the one picked was taken before the worker bound it (free_port only
# probes). Waits until the worker logs that it listens; sets LISTEN_PORT.
start_worker_listening() {
    local flag=$1 try i
    shift
    for ((try = 0; try < 5; try++)); do
        LISTEN_PORT=$(free_port) || fail "no free TCP port"
        start_worker "$@" "$flag" "127.0.0.1:$LISTEN_PORT"
        for ((i = 0; i < 100 * TQ_SLOW; i++)); do
            grep -q "at http://127.0.0.1:$LISTEN_PORT/" "${WORKER_LOG[$WORKER_PID]}" && return 0
            pid_alive "$WORKER_PID" || break
            sleep 0.1
        done
        grep -q 'Address already in use' "${WORKER_LOG[$WORKER_PID]}" ||
            fail "tq-worker $flag 127.0.0.1:$LISTEN_PORT did not listen: $(tail -n 3 "${WORKER_LOG[$WORKER_PID]}")"
        wait "$WORKER_PID" 2>/dev/null || true
        unset 'WORKER_PIDS[-1]'
    done
    fail "no free port for $flag after 5 tries"
}

worker_log() { cat "${WORKER_LOG[$1]}"; }

# _valgrind_check PID RC: a worker must not have tripped a sanitizer (make
# asan builds them in), and under valgrind a worker that exited by itself
# must have reported no errors.
_valgrind_check() {
    local pid=$1 rc=$2
    if grep -qE '^==[0-9]+==ERROR: (Address|Leak)Sanitizer|runtime error: ' "${WORKER_LOG[$pid]}"; then
        echo "---- sanitizer report of worker pid $pid:" >&2
        grep -E -A12 '^==[0-9]+==ERROR: |runtime error: ' "${WORKER_LOG[$pid]}" | head -n 60 >&2 || true
        return 1
    fi
    [[ ${TQ_VALGRIND:-0} == 1 ]] || return 0
    [[ -z ${WORKER_KILLED[$pid]:-} ]] || return 0
    if [[ $rc == 99 ]] || grep -qE 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write)' "${WORKER_LOG[$pid]}"; then
        echo "---- valgrind report of worker pid $pid:" >&2
        grep -E '^==[0-9]+==' "${WORKER_LOG[$pid]}" | tail -n 60 >&2 || true
        return 1
    fi
    return 0
}

# stop_worker PID [SIG] [SECS]: sends SIG (default TERM; "none" sends
# nothing, for a worker already signalled), waits up to SECS (default 30) for
# the worker to exit, and sets WORKER_RC. Fails the test if it did not exit,
# or (valgrind) if memcheck found errors.
stop_worker() {
    local pid=$1 sig=${2:-TERM} secs=${3:-30}
    [[ $sig == none ]] || kill "-$sig" "$pid" 2>/dev/null || true
    wait_exit "$pid" "$secs" || fail "worker pid $pid did not exit within ${secs}s of SIG$sig"
    WORKER_RC=$EXIT_RC
    WORKER_DONE[$pid]=$EXIT_RC
    log "worker pid $pid exited $WORKER_RC after SIG$sig"
    _valgrind_check "$pid" "$WORKER_RC" || fail "memory errors in worker pid $pid (see above)"
}

# kill_worker PID: SIGKILL, on purpose (a crash); reaps it.
kill_worker() {
    local pid=$1
    WORKER_KILLED[$pid]=1
    disown "$pid" 2>/dev/null || true   # no "Killed" notice from bash; it still reaps it
    kill -KILL "$pid" 2>/dev/null || true
    wait_exit "$pid" 10 || fail "worker pid $pid survived SIGKILL"
    WORKER_DONE[$pid]=137
    log "worker pid $pid SIGKILLed"
}

# start_dashboard ARGS...: tq dashboard on a free port in the background;
# sets DASH (its base URL, from the line it prints), DASH_PID and DASH_LOG.
declare -A DASH_LOGS=()
start_dashboard() {
    local logf="$TMP/dashboard-$RANDOM.log" i
    DASH_LOG=$logf
    : >"$logf" # there before the loop below reads it
    "$TQ_BIN/tq" dashboard --listen 127.0.0.1:0 "$@" >"$logf" 2>&1 &
    DASH_PID=$!
    DASH_LOGS[$DASH_PID]=$logf
    track_bg "$DASH_PID"
    for ((i = 0; i < 200; i++)); do
        DASH=$(sed -n 's|^tq dashboard: \(http://[^ ]*\)/.*|\1|p' "$logf")
        [[ -n $DASH ]] && return 0
        pid_alive "$DASH_PID" || break
        sleep 0.05
    done
    cat "$logf" >&2
    fail "tq dashboard $* did not start"
}

# stop_dashboard [PID]: SIGTERM to PID (default DASH_PID); it exits 0 within
# 5 s, with no sanitizer report (make asan: leaks show at exit).
stop_dashboard() {
    local pid=${1:-$DASH_PID}
    kill "$pid"
    wait_exit "$pid" 5 || fail "the dashboard did not stop on SIGTERM"
    assert_eq 0 "$EXIT_RC" "the dashboard's exit code"
    ! grep -q 'Sanitizer' "${DASH_LOGS[$pid]}" ||
        fail "sanitizer report: $(cat "${DASH_LOGS[$pid]}")"
}

# schedule_ticks NAME: "tick created_at key" of every job of schedule NAME
# in the default queue, by tick.
schedule_ticks() {
    local k
    rcli --scan --pattern "$TQ_NAMESPACE:{default}:j:*" | while read -r k; do
        [[ $(rcli hget "$k" schedule) == "$1" ]] || continue
        echo "$(rcli hget "$k" tick) $(rcli hget "$k" created_at) $k"
    done | sort -n
}

# tick_gaps FILE: how many ticks of schedule_ticks' FILE are not 1000 ms
# after the one before.
tick_gaps() { awk 'NR > 1 && $1 - p != 1000 {bad++} {p = $1} END {print bad + 0}' "$1"; }

# wait_worker_registered NAME [SECS]: until `tq workers` lists a worker whose
# line mentions NAME (the --name given to it).
wait_worker_registered() {
    wait_until "${2:-10}" _workers_mention "$1"
}
_workers_mention() { tq workers 2>/dev/null | grep -qF -- "$1"; }

# ---------------------------------------------------------------- cleanup

_cleanup() {
    local rc=$? pid
    trap - ERR
    set +e
    # Background clients first, then workers (TERM, then KILL), then redis.
    for pid in "${BG_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    local alive=()
    for pid in "${WORKER_PIDS[@]}"; do
        [[ -n ${WORKER_DONE[$pid]:-} ]] && continue
        if pid_alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null
            alive+=("$pid")
        else
            wait "$pid" 2>/dev/null
            WORKER_DONE[$pid]=$?
        fi
    done
    local i
    for ((i = 0; i < 50 * TQ_SLOW; i++)); do
        local any=0
        for pid in "${alive[@]}"; do pid_alive "$pid" && any=1; done
        [[ $any == 0 ]] && break
        sleep 0.1
    done
    for pid in "${alive[@]}"; do
        if pid_alive "$pid"; then
            echo "note: worker pid $pid ignored SIGTERM for 5s; SIGKILL" >&2
            WORKER_KILLED[$pid]=1
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        WORKER_DONE[$pid]=$?
        if ! _valgrind_check "$pid" "${WORKER_DONE[$pid]}"; then
            [[ $rc == 0 ]] && { rc=1; FAILED_MSG="memory errors in worker pid $pid (see above)"; }
        fi
    done
    if [[ -n $REDIS_PID ]]; then
        kill -KILL "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
    fi
    if [[ $rc != 0 ]]; then
        for pid in "${WORKER_PIDS[@]}"; do
            echo "---- last lines of worker pid $pid (${WORKER_LOG[$pid]##*/}, exit ${WORKER_DONE[$pid]:-?}):" >&2
            tail -n 15 "${WORKER_LOG[$pid]}" >&2 2>/dev/null
        done
        [[ -n $FAILED_MSG ]] && echo "FAIL: $FAILED_MSG" >&2
    fi
    if [[ -n ${TQ_KEEP_TMP:-} ]]; then
        echo "kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap _cleanup EXIT
trap 'FAILED_MSG="stopped by SIGTERM (the time limit of run.sh?)"; exit 143' TERM
trap 'FAILED_MSG="interrupted"; exit 130' INT

# ---------------------------------------------------------------- assertions

assert_eq() {
    local want=$1 got=$2 what=${3:-value}
    [[ $want == "$got" ]] || fail "$what: expected [$want], got [$got]"
}

# assert_json_eq WANT GOT [WHAT]: equal as JSON values (key order, spacing ignored).
assert_json_eq() {
    local want got what=${3:-JSON}
    want=$(jq -cS . <<<"$1" 2>/dev/null) || fail "$what: expected value is not JSON: [$1]"
    got=$(jq -cS . <<<"$2" 2>/dev/null) || fail "$what: not JSON: [$2]"
    [[ $want == "$got" ]] || fail "$what: expected $want, got $got"
}

assert_contains() {
    local hay=$1 needle=$2 what=${3:-text}
    [[ $hay == *"$needle"* ]] || fail "$what: [$hay] does not contain [$needle]"
}

assert_match() {
    local text=$1 re=$2 what=${3:-text}
    [[ $text =~ $re ]] || fail "$what: [$text] does not match /$re/"
}

# assert_le A B [WHAT]: A <= B as numbers (floats fine).
assert_le() {
    awk -v a="$1" -v b="$2" 'BEGIN{exit !(a+0 <= b+0)}' || fail "${3:-value}: expected $1 <= $2"
}

# assert_exit CODE cmd...: runs cmd, checks its exit status; leaves its
# stdout in OUT and stderr in ERR.
OUT=""
ERR=""
assert_exit() {
    local want=$1 rc=0
    shift
    "$@" >"$TMP/.out" 2>"$TMP/.err" || rc=$?
    OUT=$(cat "$TMP/.out")
    ERR=$(cat "$TMP/.err")
    [[ $rc == "$want" ]] ||
        fail "exit $rc, expected $want: $(printf '%q ' "$@")
  stdout: ${OUT:0:600}
  stderr: ${ERR:0:600}"
}

# assert_one_line TEXT [WHAT]: exactly one non-empty line (an error message).
assert_one_line() {
    local n
    n=$(printf '%s\n' "$1" | grep -c .) || true
    [[ $n == 1 ]] || fail "${2:-stderr}: expected one line, got $n: [$1]"
}

# wait_until SECS cmd...: polls cmd every 0.1 s until it succeeds; fails the
# test after SECS (scaled by TQ_SLOW under valgrind).
wait_until() {
    local secs=$1 deadline
    shift
    deadline=$(awk -v n="$(date +%s.%N)" -v s="$secs" -v k="$TQ_SLOW" 'BEGIN{printf "%.3f", n+s*k}')
    while true; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        if awk -v n="$(date +%s.%N)" -v d="$deadline" 'BEGIN{exit !(n > d)}'; then
            fail "not true within ${secs}s: $*"
        fi
        sleep 0.1
    done
}

# ---------------------------------------------------------------- job helpers

now() { date +%s.%N; }
elapsed_since() { awk -v s="$1" -v n="$(date +%s.%N)" 'BEGIN{printf "%.3f", n-s}'; }

state_of() { tq status "$1"; }
state_is() { [[ $(tq status "$1" 2>/dev/null) == "$2" ]]; }

# field ID NAME: a field of `tq status --json ID`, raw (strings unquoted).
field() { tq status --json "$1" | jq -r --arg f "$2" '.[$f] | if type == "string" then . else tojson end'; }

# field_test ID JQ-EXPR: true when the expression holds on the record.
field_test() { tq status --json "$1" 2>/dev/null | jq -e "$2" >/dev/null 2>&1; }

# ---------------------------------------------------------------- a Sentinel group (t_sentinel)
# start_sentinel_group: after start_redis (the master, REDIS_PORT), a replica
# of it and three sentinels monitoring it as master "m" (quorum 2,
# down-after 1000 ms, failover-timeout 3000 ms), all on loopback in $TMP.
# Sets REPLICA_PORT, REPLICA_PID, SENTINEL_PORTS (array) and exports
# TQ_REDIS_URL=redis+sentinel://127.0.0.1:S1,...,S3/m/0. Waits until every
# sentinel knows the replica and the two other sentinels. Every process is
# killed at exit (track_bg). No password (the group's own tests add none).
SENTINEL_PORTS=()

start_sentinel_group() {
    local i p d
    mkdir -p "$TMP/replica"
    spawn_redis "$TMP/replica.log" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$TMP/replica" --daemonize no \
        --replicaof 127.0.0.1 "$REDIS_PORT"
    REPLICA_PORT=$SPAWN_PORT
    REPLICA_PID=$SPAWN_PID
    wait_until 20 _replica_linked "$REPLICA_PORT"
    for i in 0 1 2; do
        d="$TMP/sentinel-$i"
        mkdir -p "$d"
        cat >"$d/sentinel.conf" <<CONF
bind 127.0.0.1
dir $d
sentinel monitor m 127.0.0.1 $REDIS_PORT 2
sentinel down-after-milliseconds m 1000
sentinel failover-timeout m 3000
sentinel parallel-syncs m 1
CONF
        spawn_redis "$d/log" "$d/sentinel.conf" --sentinel
        SENTINEL_PORTS+=("$SPAWN_PORT")
    done
    for p in "${SENTINEL_PORTS[@]}"; do
        wait_until 20 _sentinel_sees_all "$p"
    done
    export TQ_REDIS_URL="redis+sentinel://127.0.0.1:${SENTINEL_PORTS[0]},127.0.0.1:${SENTINEL_PORTS[1]},127.0.0.1:${SENTINEL_PORTS[2]}/m/0"
    log "sentinel group: master $REDIS_PORT, replica $REPLICA_PORT (pid $REPLICA_PID), sentinels ${SENTINEL_PORTS[*]}"
}
# ---- jobs through a failover (t_sentinel, t_sentinel_tls)
# submitter N: N jobs of 50 ms, one `tq submit` each, the acknowledged ids
# in $TMP/acked; a submit that failed (exit 6, or 7 for --durable) is
# counted apart. SUBMIT_ARGS (words) go before the task: --durable 1.
submitter() {
    local i id
    for ((i = 0; i < $1; i++)); do
        # shellcheck disable=SC2086
        if id=$(tq submit ${SUBMIT_ARGS-} tq.sleep 50 2>>"$TMP/submit.err"); then
            echo "$id" >>"$TMP/acked"
        else
            echo x >>"$TMP/refused"
        fi
        sleep 0.02
    done
}
# lost: acknowledged jobs that are not succeeded (after the worker drained).
count_not_succeeded() {
    local n=0 id
    while read -r id; do
        [[ $(tq status "$id" 2>/dev/null) == succeeded ]] || n=$((n + 1))
    done <"$TMP/acked"
    echo "$n"
}
# wait_drained SECS: until every acknowledged job succeeded, or SECS passed.
wait_drained() {
    local deadline=$(( $(date +%s) + $1 )) id st
    # by wall time: one count asks for every acknowledged job's state
    while (( $(date +%s) < deadline )); do
        [[ $(count_not_succeeded) == 0 ]] && return 0
        sleep 0.2
    done
    while read -r id; do
        st=$(tq status "$id" 2>&1) || true
        [[ $st == succeeded ]] || log "  not succeeded: $id: $st"
    done <"$TMP/acked"
}

_replica_linked() { redis-cli -p "$1" info replication 2>/dev/null | grep -q '^master_link_status:up'; }
_sentinel_sees_all() {
    local out
    out=$(redis-cli -p "$1" sentinel master m 2>/dev/null | tr -d '\r') || return 1
    [[ $(sed -n '/^num-slaves$/{n;p}' <<<"$out") == 1 &&
       $(sed -n '/^num-other-sentinels$/{n;p}' <<<"$out") == 2 ]]
}
# sentinel_master_port: the master's port as the first sentinel answering names it.
sentinel_master_port() {
    local p
    for p in "${SENTINEL_PORTS[@]}"; do
        redis-cli -p "$p" sentinel get-master-addr-by-name m 2>/dev/null | sed -n 2p && return 0
    done
    return 1
}
sentinel_master_is() { [[ $(sentinel_master_port) == "$1" ]]; }

# ---------------------------------------------------------------- TLS (t_tls; helper "tls")
#
# tls_certs DIR: certificates made by openssl for a test, EC keys (fast):
#   ca.pem/.key        the CA every good certificate is signed by
#   other-ca.pem       a CA that signed nothing here (a wrong ?ca=)
#   server.pem/.key    for localhost and 127.0.0.1
#   expired.pem/.key   the same names, valid in January 2020 only (openssl ca)
#   wrong.pem/.key     for other.example only (a hostname mismatch)
#   client.pem/.key    a client certificate (tls-auth-clients yes)
tls_certs() {
    local d=$1 n
    mkdir -p "$d/ca.db"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
        -subj /CN=tq-test-ca 2>/dev/null
    openssl req -x509 "${ec[@]}" -keyout "$d/other-ca.key" -out "$d/other-ca.pem" \
        -days 2 -subj /CN=tq-other-ca 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/san-good"
    printf 'subjectAltName=DNS:other.example\n' >"$d/san-wrong"
    printf 'extendedKeyUsage=clientAuth\n' >"$d/ext-client"
    for n in server expired wrong client; do
        openssl req -new "${ec[@]}" -keyout "$d/$n.key" -out "$d/$n.csr" \
            -subj "/CN=$n" 2>/dev/null
    done
    _tls_sign "$d" server san-good
    _tls_sign "$d" wrong san-wrong
    _tls_sign "$d" client ext-client
    # openssl x509 cannot back-date: openssl ca can
    : >"$d/ca.db/index.txt"
    echo 01 >"$d/ca.db/serial"
    cat >"$d/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $d/ca.db/index.txt
new_certs_dir = $d/ca.db
serial = $d/ca.db/serial
default_md = sha256
policy = p
[p]
commonName = supplied
CNF
    openssl ca -batch -config "$d/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" \
        -in "$d/expired.csr" -out "$d/expired.pem" -notext \
        -startdate 20200101000000Z -enddate 20200102000000Z \
        -extfile "$d/san-good" 2>/dev/null
}
_tls_sign() {
    openssl x509 -req -in "$1/$2.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" \
        -CAcreateserial -out "$1/$2.pem" -days 2 -extfile "$1/$3" 2>/dev/null
}

# start_tls_redis CERT [EXTRA redis-server ARGS...]: start_redis (plain port
# for rcli) plus a TLS port serving CERT (a name of tls_certs: server,
# expired, wrong) from $TMP/certs, client certificates checked against
# ca.pem when asked (--tls-auth-clients yes; default no). Sets TLS_PORT and
# exports TQ_REDIS_URL as rediss://localhost:TLS_PORT/0?ca=... ; the
# arguments are kept in TLS_REDIS_ARGS for restart_tls_redis.
start_tls_redis() {
    local cert=$1
    shift
    [[ -f $TMP/certs/ca.pem ]] || tls_certs "$TMP/certs"
    TLS_REDIS_ARGS=(--tls-port @PORT2@ --tls-cert-file "$TMP/certs/$cert.pem"
        --tls-key-file "$TMP/certs/$cert.key" --tls-ca-cert-file "$TMP/certs/ca.pem"
        --tls-auth-clients no "$@")
    # both ports are picked again when either was taken meanwhile
    start_redis "${TLS_REDIS_ARGS[@]}"
    TLS_PORT=$SPAWN_PORT2
    TLS_REDIS_ARGS=("${TLS_REDIS_ARGS[@]//@PORT2@/$TLS_PORT}")
    export TQ_REDIS_URL="rediss://localhost:$TLS_PORT/0?ca=$TMP/certs/ca.pem"
    log "TLS on port $TLS_PORT ($cert.pem)"
}

# restart_tls_redis: the same redis again on the same ports (a restart
# under running workers), after a SIGKILL of the old one.
restart_tls_redis() {
    local i
    kill -KILL "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$TMP" --daemonize no "${TLS_REDIS_ARGS[@]}" \
        >>"$TMP/redis.log" 2>&1 &
    REDIS_PID=$!
    for ((i = 0; i < 100; i++)); do
        rcli info server 2>/dev/null | grep -q "^process_id:$REDIS_PID" && return 0
        sleep 0.05
    done
    fail "redis-server did not come back on port $REDIS_PORT"
}

# ---------------------------------------------------------------- a TLS Sentinel group (t_sentinel_tls; helper "stls")
# start_tls_sentinel_group: like start_sentinel_group, every node on TLS
# only (port 0): a master and a replica (tls-replication yes) and three
# sentinels (tls-port, tls-replication yes) monitoring master "m" (quorum 2,
# down-after 1000 ms, failover-timeout 3000 ms), certificates of tls_certs
# (server.pem for 127.0.0.1 and localhost; no client certificates asked).
# Sets REDIS_PORT/REDIS_PID (the master), REPLICA_PORT/REPLICA_PID,
# SENTINEL_PORTS, and exports
# TQ_REDIS_URL=rediss+sentinel://127.0.0.1:S1,...,S3/m/0?ca=$TMP/certs/ca.pem.
# With TLS_GROUP_PASS set (no spaces), every node and sentinel wants that
# password (requirepass, masterauth, sentinel auth-pass and sentinel-pass),
# and the URL carries it (:PASS@ and &sentinel_pass=PASS).
# tcli PORT ARGS...: redis-cli over TLS to a node of the group.
TLS_GROUP_PASS=${TLS_GROUP_PASS:-}
tcli() {
    local p=$1 auth=()
    shift
    [[ -n $TLS_GROUP_PASS ]] && auth=(-a "$TLS_GROUP_PASS" --no-auth-warning)
    redis-cli --tls --cacert "$TMP/certs/ca.pem" -h 127.0.0.1 -p "$p" "${auth[@]}" "$@"
}
_tls_node_args() {
    echo --port 0 --tls-port "$1" --tls-cert-file "$TMP/certs/server.pem" \
        --tls-key-file "$TMP/certs/server.key" --tls-ca-cert-file "$TMP/certs/ca.pem" \
        --tls-auth-clients no --tls-replication yes
    [[ -z $TLS_GROUP_PASS ]] || echo --requirepass "$TLS_GROUP_PASS" --masterauth "$TLS_GROUP_PASS"
}
start_tls_sentinel_group() {
    local i d
    [[ -f $TMP/certs/ca.pem ]] || tls_certs "$TMP/certs"
    mkdir -p "$TMP/master" "$TMP/replica"
    _tls_start node "$TMP/master" "$TMP/redis.log"
    REDIS_PORT=$NODE_PORT REDIS_PID=$NODE_PID
    _tls_start node "$TMP/replica" "$TMP/replica.log" --replicaof 127.0.0.1 "$REDIS_PORT"
    REPLICA_PORT=$NODE_PORT REPLICA_PID=$NODE_PID
    track_bg "$REPLICA_PID"
    wait_until 10 _tls_replica_linked "$REPLICA_PORT"
    for i in 0 1 2; do
        d="$TMP/sentinel-$i"
        mkdir -p "$d"
        _tls_start sentinel "$d" "$d/log"
        track_bg "$NODE_PID"
        SENTINEL_PORTS+=("$NODE_PORT")
    done
    for i in "${SENTINEL_PORTS[@]}"; do
        wait_until 20 _tls_sentinel_sees_all "$i"
    done
    local auth="" q=""
    [[ -n $TLS_GROUP_PASS ]] && auth=":$TLS_GROUP_PASS@" q="&sentinel_pass=$TLS_GROUP_PASS"
    export TQ_REDIS_URL="rediss+sentinel://${auth}127.0.0.1:${SENTINEL_PORTS[0]},127.0.0.1:${SENTINEL_PORTS[1]},127.0.0.1:${SENTINEL_PORTS[2]}/m/0?ca=$TMP/certs/ca.pem$q"
    log "TLS sentinel group: master $REDIS_PORT (pid $REDIS_PID), replica $REPLICA_PORT (pid $REPLICA_PID), sentinels ${SENTINEL_PORTS[*]}"
}
_tls_pid_is() { tcli "$1" info server 2>/dev/null | grep -q "^process_id:$2"; }
# _tls_start node|sentinel DIR LOG [ARGS...]: a TLS-only redis-server (or
# sentinel, its config in DIR) on a free port, answering over TLS; another
# port when that one was taken meanwhile (free_port only probes). Sets
# NODE_PORT and NODE_PID.
_tls_start() {
    local kind=$1 dir=$2 logf=$3 try i
    shift 3
    for ((try = 0; try < 5; try++)); do
        NODE_PORT=$(free_port) || fail "no free TCP port"
        if [[ $kind == node ]]; then
            # shellcheck disable=SC2046
            redis-server $(_tls_node_args "$NODE_PORT") --bind 127.0.0.1 --save '' \
                --appendonly no --dir "$dir" --daemonize no "$@" >"$logf" 2>&1 &
        else
            _tls_sentinel_conf "$NODE_PORT" "$dir" >"$dir/sentinel.conf"
            redis-server "$dir/sentinel.conf" --sentinel >"$logf" 2>&1 &
        fi
        NODE_PID=$!
        for ((i = 0; i < 200 * TQ_SLOW; i++)); do
            _tls_pid_is "$NODE_PORT" "$NODE_PID" && return 0
            pid_alive "$NODE_PID" || break
            sleep 0.1
        done
        kill -KILL "$NODE_PID" 2>/dev/null || true
        wait "$NODE_PID" 2>/dev/null || true
    done
    cat "$logf" >&2
    fail "redis-server ($kind) does not answer over TLS"
}
_tls_sentinel_conf() {
    cat <<CONF
port 0
tls-port $1
tls-cert-file $TMP/certs/server.pem
tls-key-file $TMP/certs/server.key
tls-ca-cert-file $TMP/certs/ca.pem
tls-auth-clients no
tls-replication yes
bind 127.0.0.1
dir $2
sentinel monitor m 127.0.0.1 $REDIS_PORT 2
sentinel down-after-milliseconds m 1000
sentinel failover-timeout m 3000
sentinel parallel-syncs m 1
CONF
    [[ -z $TLS_GROUP_PASS ]] || printf '%s\n' "requirepass $TLS_GROUP_PASS" \
        "sentinel auth-pass m $TLS_GROUP_PASS" "sentinel sentinel-pass $TLS_GROUP_PASS"
}
_tls_replica_linked() { tcli "$1" info replication 2>/dev/null | grep -q '^master_link_status:up'; }
_tls_sentinel_sees_all() {
    local out
    out=$(tcli "$1" sentinel master m 2>/dev/null | tr -d '\r') || return 1
    [[ $(sed -n '/^num-slaves$/{n;p}' <<<"$out") == 1 &&
       $(sed -n '/^num-other-sentinels$/{n;p}' <<<"$out") == 2 ]]
}
# tls_sentinel_master_port: the master's port as the first sentinel answering names it.
tls_sentinel_master_port() {
    local p
    for p in "${SENTINEL_PORTS[@]}"; do
        tcli "$p" sentinel get-master-addr-by-name m 2>/dev/null | sed -n 2p && return 0
    done
    return 1
}
tls_sentinel_master_is() { [[ $(tls_sentinel_master_port) == "$1" ]]; }
