#!/usr/bin/env bash
# t_task_server: task servers (--task-server, SPEC §13, docs/task-servers.md).
# K=2 processes with M=10 jobs each run 200 jobs with no process per job;
# the protocol's lines carry the job (id task args attempt deadline queue)
# and the environment says TQ_SERVER_*; progress lines reach the record;
# a cancel reaches the server (a {"cancel"} line) and the job ends
# cancelled; a timeout sends {"cancel", "reason":"timeout"} and fails the
# attempt; --limit applies to a task-server task; the docs' stdlib server
# runs; a missing COMMAND exits 2 at start; SIGTERM stops the processes.
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
SRV="$(cd "$(dirname "$0")" && pwd)/tserver_test.py"
EXAMPLE="$(cd "$(dirname "$0")/../.." && pwd)/examples/task-server/server.py"
export TS_STARTS="$TMP/starts" TS_CANCELS="$TMP/cancels"
: >"$TS_STARTS"
: >"$TS_CANCELS"

start_redis

# a missing program: exit 2 before anything starts
assert_exit 2 "$TQ_BIN/tq-worker" --redis "$TQ_REDIS_URL" \
    --task-server 'x.a,x.b=/no/such/server --flag'
assert_contains "$ERR" "program '/no/such/server' does not exist" "missing COMMAND"
assert_exit 2 "$TQ_BIN/tq-worker" --redis "$TQ_REDIS_URL" --task-server '=cat'
assert_exit 2 "$TQ_BIN/tq-worker" --redis "$TQ_REDIS_URL" --task-server 'a,,b=cat'
assert_exit 2 "$TQ_BIN/tq-worker" --redis "$TQ_REDIS_URL" --task-server 'a=cat' \
    --server-procs 0

export MY_SECRET=hush
start_worker --concurrency 40 --name tsw --env-deny MY_SECRET \
    --task-server "t.noop,t.sleep,t.progress,t.fail,t.env,t.job=$PY $SRV ok" \
    --task-server "demo.add,demo.sleep=$PY $EXAMPLE" \
    --task-server "sh.echo=$(dirname "$EXAMPLE")/echo.sh" \
    --server-procs 2 --server-inflight 10 --limit t.sleep=3
W=$WORKER_PID
wait_until 10 grep -q 'demo.add,demo.sleep (pid [0-9]*): ready' "${WORKER_LOG[$W]}"

# 200 jobs through 2 processes: every one succeeds; 2 processes started
seq 1 200 | tq submit-many t.noop >"$TMP/ids"
out=$(tq wait $(cat "$TMP/ids") --timeout 30s)
assert_eq "$(seq 1 200)" "$out" "200 results in order"
assert_eq 2 "$(grep -c ' ok$' "$TS_STARTS")" "2 processes for 200 jobs (no fork per job)"
assert_eq 2 "$(grep -c 'task server t.noop,t.sleep,t.progress,t.fail,t.env,t.job: process [0-9]* started' "${WORKER_LOG[$W]}")" \
    "the worker started 2 processes"

# the docs' example server
id=$(tq submit demo.add '{"a":2,"b":40}')
assert_eq 42 "$(tq wait "$id" --timeout 10s)" "the docs' server adds"

# the shell example (one job at a time)
id=$(tq submit sh.echo '{"k":[1,"two"]}')
assert_json_eq '{"k":[1,"two"]}' "$(tq wait "$id" --timeout 10s)" "the shell server echoes"

# the job's line: id task args attempt deadline queue
id=$(tq submit --timeout 60s --queue default t.job '{"x":1}')
job=$(tq wait "$id" --timeout 10s)
assert_eq "$id t.job 1 default" "$(jq -r '"\(.id) \(.task) \(.attempt) \(.queue)"' <<<"$job")" "job line"
assert_json_eq '{"x":1}' "$(jq -c .args <<<"$job")" "job args"
jq -e --argjson now "$(date +%s)" '.deadline > $now + 50 and .deadline < $now + 70' <<<"$job" >/dev/null ||
    fail "deadline: $(jq .deadline <<<"$job")"
id=$(tq submit t.job)
assert_eq null "$(tq wait "$id" --timeout 10s | jq .deadline)" "no timeout: deadline null"

# an error line fails the attempt with its text
id=$(tq submit --retries 0 t.fail '"the disk is on fire"')
assert_exit 1 tq wait "$id" --timeout 10s
assert_eq failed "$(state_of "$id")" "t.fail failed"
assert_eq "the disk is on fire" "$(field "$id" error)" "error text"

# the environment: protocol variables in, secrets out
id=$(tq submit t.env)
envj=$(tq wait "$id" --timeout 10s)
assert_eq 1 "$(jq -r .TQ_SERVER_PROTOCOL <<<"$envj")" "TQ_SERVER_PROTOCOL"
assert_eq t.noop,t.sleep,t.progress,t.fail,t.env,t.job "$(jq -r .TQ_SERVER_TASKS <<<"$envj")" "TQ_SERVER_TASKS"
assert_eq 10 "$(jq -r .TQ_SERVER_INFLIGHT <<<"$envj")" "TQ_SERVER_INFLIGHT"
assert_eq null "$(jq -r .TQ_REDIS_URL <<<"$envj")" "no TQ_REDIS_URL"
tq wait "$id" --timeout 1s >/dev/null
[[ $(jq -r 'keys|join(",")' <<<"$envj") != *MY_SECRET* ]] || fail "MY_SECRET leaked"

# progress reaches tq status --json while the job runs
id=$(tq submit t.progress)
wait_until 5 field_test "$id" '.progress.step >= 1'
assert_eq 3 "$(field "$id" progress | jq -r .of)" "progress value"
assert_eq '"done"' "$(tq wait "$id" --timeout 10s)" "t.progress result"

# a cancel reaches the server, which answers; the job ends cancelled
id=$(tq submit t.sleep 30)
wait_until 5 state_is "$id" active
tq cancel "$id" >/dev/null
wait_until 5 state_is "$id" cancelled
wait_until 5 grep -q "^$id cancelled$" "$TS_CANCELS"

# a timeout: {"cancel", "reason":"timeout"}, the attempt fails with "timeout"
id=$(tq submit --timeout 0.5s --retries 0 t.sleep 30)
wait_until 10 state_is "$id" failed
assert_eq timeout "$(field "$id" error)" "timed out"
wait_until 5 grep -q "^$id timeout$" "$TS_CANCELS"

# --limit t.sleep=3: at most 3 at once, though 20 processes' room is free
seq 1 9 | sed 's/.*/0.4/' | tq submit-many t.sleep >"$TMP/sl"
t0=$(now)
tq wait $(cat "$TMP/sl") --timeout 20s >/dev/null
el=$(elapsed_since "$t0")
awk -v e="$el" 'BEGIN{exit !(e >= 1.1)}' || fail "9 x 0.4 s at --limit 3 took $el s (< 1.2 s)"

# still only the 2 + 2 processes
assert_eq 6 "$(grep -c 'process [0-9]* started' "${WORKER_LOG[$W]}")" "no process started again"

# SIGTERM: the worker stops, its servers with it (stdin closed)
pids=$(awk '{print $1}' "$TS_STARTS")
stop_worker "$W" TERM 15
assert_eq 0 "$WORKER_RC" "worker exit code"
for p in $pids; do
    ! kill -0 "$p" 2>/dev/null || fail "server process $p outlived the worker"
done
log "ok"
