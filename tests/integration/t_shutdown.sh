#!/usr/bin/env bash
# t_shutdown: SIGTERM stops claiming, lets running jobs finish within
# --shutdown-grace, gives the rest back to the queue (not counted as an
# attempt) and exits 0; a second SIGTERM gives everything back at once.
source "$(dirname "$0")/lib.sh"

start_redis

# ---- 1. a short job finishes; nothing new is claimed; exit 0.
start_worker --concurrency 4 --name shutA
pid=$WORKER_PID
id=$(tq submit tq.sleep 2000)
wait_until 10 state_is "$id" active
t0=$(now)
kill -TERM "$pid"
sleep 0.2
late=$(tq submit tq.noop '"late"')
stop_worker "$pid" none 20
took=$(elapsed_since "$t0")
log "worker exited $WORKER_RC, $took s after SIGTERM"
assert_eq 0 "$WORKER_RC" "exit after SIGTERM"
assert_eq succeeded "$(tq status "$id")" "the running job finished"
assert_eq 2000 "$(tq result "$id")" "its result"
assert_eq pending "$(tq status "$late")" "a job submitted after SIGTERM was not claimed"
assert_eq 0 "$(field "$late" attempt)" "attempt of the unclaimed job"
assert_le "$took" 5 "seconds to exit with a 2 s job running"
tq cancel "$late" >/dev/null

# ---- 2. --shutdown-grace 1s: a 4 s job goes back, attempt not counted.
start_worker --concurrency 4 --shutdown-grace 1s --name shutB
pid=$WORKER_PID
id=$(tq submit tq.sleep 4000)
wait_until 10 state_is "$id" active
assert_eq 1 "$(field "$id" attempt)" "attempt while running"
t0=$(now)
stop_worker "$pid" TERM 10
took=$(elapsed_since "$t0")
log "worker exited $WORKER_RC, $took s after SIGTERM (grace 1 s)"
assert_eq 0 "$WORKER_RC" "exit after the grace"
assert_le 0.8 "$took" "the worker waited for the grace"
assert_le "$took" 3 "the worker did not wait for the 4 s job"
js=$(tq status --json "$id")
assert_eq pending "$(jq -r .state <<<"$js")" "state of the given-back job"
assert_eq 0 "$(jq -r .attempt <<<"$js")" "attempt of the given-back job (not counted)"
# Another worker runs it from the start: attempt 1.
start_worker --concurrency 4 --name shutC
pid=$WORKER_PID
assert_eq 4000 "$(tq wait "$id" --timeout 20s)" "result after the hand-over"
assert_eq 1 "$(field "$id" attempt)" "attempt after the hand-over"
assert_contains "$(field "$id" worker)" shutC "worker that ran it"

# ---- 3. a second SIGTERM gives everything back at once (default grace 30 s).
id=$(tq submit tq.sleep 20000)
wait_until 10 state_is "$id" active
t0=$(now)
kill -TERM "$pid"
sleep 0.3
stop_worker "$pid" TERM 10
took=$(elapsed_since "$t0")
log "worker exited $WORKER_RC, $took s after two SIGTERMs"
assert_eq 0 "$WORKER_RC" "exit after a second SIGTERM"
assert_le "$took" 3 "seconds to exit after a second SIGTERM"
assert_eq pending "$(tq status "$id")" "state after a second SIGTERM"
assert_eq 0 "$(field "$id" attempt)" "attempt after a second SIGTERM"

# ---- 4. SIGINT: everything back at once, exit 0; also for an exec job.
cat >"$TMP/long.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
sleep 20
echo '"done"'
EOF
chmod +x "$TMP/long.sh"
start_worker --concurrency 4 --name shutD --task "long=$TMP/long.sh"
pid=$WORKER_PID
id2=$(tq submit long)
wait_until 10 state_is "$id2" active
wait_until 10 state_is "$id" active
t0=$(now)
stop_worker "$pid" INT 10
took=$(elapsed_since "$t0")
assert_eq 0 "$WORKER_RC" "exit after SIGINT"
assert_le "$took" 8 "seconds to exit after SIGINT with an exec job running"
assert_eq pending "$(tq status "$id2")" "exec job after SIGINT"
assert_eq 0 "$(field "$id2" attempt)" "attempt of the exec job after SIGINT"
assert_eq pending "$(tq status "$id")" "built-in job after SIGINT"
# The exec job's process group is gone with it.
sleep 0.5
left=$(pids_running "$TMP/long.sh")
[[ -z $left ]] || fail "the exec job's process outlived its worker: pid $left"

log "ok"
