#!/usr/bin/env bash
# t_crash: a worker SIGKILLed mid-job loses nothing. Its job is delivered
# again to another worker (attempt 2), and the lost delivery does not use up
# --retries. Two paths: the lease running out (--lease 3s), and the default
# 30 s lease cut short because the dead worker's heartbeat stopped (~12 s).
source "$(dirname "$0")/lib.sh"

start_redis

# ---- 1. lease expiry: --lease 3s
start_worker --concurrency 4 --lease 3s --name crashA
pidA=$WORKER_PID
id=$(tq submit --retries 0 tq.sleep 3000)
log "submitted $id"
wait_until 10 state_is "$id" active
assert_contains "$(field "$id" worker)" crashA "holder of the job"
assert_eq 1 "$(field "$id" attempt)" "attempt while A runs it"

kill_worker "$pidA"
t_kill=$(now)
start_worker --concurrency 4 --lease 3s --name crashB
pidB=$WORKER_PID

out=$(tq wait "$id" --timeout 20s)
took=$(elapsed_since "$t_kill")
log "job done $took s after the kill"
assert_eq 3000 "$out" "result of tq.sleep 3000"
js=$(tq status --json "$id")
log "record: $js"
assert_eq succeeded "$(jq -r .state <<<"$js")" "state (a lost delivery is not a failed attempt)"
assert_eq 2 "$(jq -r .attempt <<<"$js")" "attempt"
assert_contains "$(jq -r .worker <<<"$js")" crashB "worker that finished it"
assert_le "$took" 20 "time from the kill to the outcome"

stop_worker "$pidB"
assert_eq 0 "$WORKER_RC" "exit of worker B after SIGTERM"

# ---- 2. heartbeat: default 30 s lease, the dead worker found within ~12 s
start_worker --concurrency 4 --name crashC
pidC=$WORKER_PID
id=$(tq submit --retries 0 tq.sleep 2000)
wait_until 10 state_is "$id" active
assert_contains "$(field "$id" worker)" crashC "holder of the job"
kill_worker "$pidC"
t_kill=$(now)
start_worker --concurrency 4 --name crashD

wait_until 16 field_test "$id" '.attempt >= 2 and (.worker | contains("crashD"))'
took=$(elapsed_since "$t_kill")
log "re-delivered $took s after the kill (lease 30 s)"
assert_le "$took" 15 "re-delivery after a dead heartbeat (default lease 30 s)"

out=$(tq wait "$id" --timeout 20s)
assert_eq 2000 "$out" "result"
assert_eq 2 "$(field "$id" attempt)" "attempt"

log "ok"
