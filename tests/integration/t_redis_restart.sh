#!/usr/bin/env bash
# t_redis_restart: Redis down is not a crash (SPEC §2, PEERS #7). With AOF on,
# Redis is restarted on the same port under a running job: the worker keeps
# running, reports the outcome once Redis is back, and goes on claiming new
# jobs promptly (scripts re-loaded, blocking fetch and subscription re-issued).
# An acknowledged submit survives the restart.
source "$(dirname "$0")/lib.sh"

aof=(--appendonly yes --appendfsync always)
start_redis "${aof[@]}"
port=$REDIS_PORT

start_worker --concurrency 4 --name rrw
wpid=$WORKER_PID
wait_worker_registered rrw

kept=$(tq submit --queue idle tq.noop '"kept"')
id=$(tq submit tq.sleep 3000)
wait_until 10 state_is "$id" active

# Stop Redis (SIGTERM: it flushes the AOF) and bring it back on the same port.
kill -TERM "$REDIS_PID"
wait_exit "$REDIS_PID" 10 || fail "redis did not stop"
log "redis stopped"
sleep 1
pid_alive "$wpid" || fail "the worker died when Redis went away"
redis-server --port "$port" --bind 127.0.0.1 --save '' "${aof[@]}" --dir "$TMP" \
    --daemonize no >>"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
wait_until 10 rcli ping
log "redis back, pid $REDIS_PID"

assert_eq pending "$(tq status "$kept")" "a job submitted before the restart"

# The running job's outcome is reported after the reconnect.
assert_eq 3000 "$(tq wait "$id" --timeout 20s)" "result of the job that ran through the restart"
assert_eq 1 "$(field "$id" attempt)" "attempt (the job was not delivered again)"

# New work is claimed promptly by the same worker: no polling left behind.
t0=$(now)
id2=$(tq submit tq.noop '"after restart"')
assert_eq '"after restart"' "$(tq wait "$id2" --timeout 20s)" "a job after the restart"
took=$(elapsed_since "$t0")
log "a job submitted after the restart ran in $took s"
assert_le "$took" 3 "seconds for a job after the restart"
assert_contains "$(field "$id2" worker)" rrw "worker"
# And again after a moment idle (the blocking fetch was re-issued).
sleep 2.5
t0=$(now)
id3=$(tq submit tq.noop 3)
assert_eq 3 "$(tq wait "$id3" --timeout 20s)" "a job after an idle moment"
assert_le "$(elapsed_since "$t0")" 1 "seconds for a job submitted to an idle worker"

# Cancel still reaches a running job (the subscription was re-issued).
id4=$(tq submit tq.sleep 30000)
wait_until 10 state_is "$id4" active
assert_exit 0 tq cancel "$id4"
assert_exit 4 tq wait "$id4" --timeout 10s

stop_worker "$wpid"
assert_eq 0 "$WORKER_RC" "worker exit"
log "ok"
