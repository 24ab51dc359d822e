#!/usr/bin/env bash
# t_sentinel: redis+sentinel:// (SPEC §9). A master, a replica and three
# sentinels on loopback. tq and tq-worker find the master through the
# sentinels; a worker drains jobs while a client submits, through a
# controlled failover (SENTINEL FAILOVER: every acknowledged job ends
# succeeded, jobs may run twice) and then a SIGKILL of the new master
# (losses of unreplicated submits are reported, not asserted: only
# --durable can promise them).
source "$(dirname "$0")/lib.sh"

start_redis
start_sentinel_group
url=$TQ_REDIS_URL

# A master no sentinel knows: one line, exit 6, after --connect-timeout.
assert_exit 6 tq --connect-timeout 300ms \
    --redis "redis+sentinel://127.0.0.1:${SENTINEL_PORTS[0]}/nosuch" stats
assert_one_line "$ERR"
assert_contains "$ERR" "nosuch"
# No sentinel answers: the same, naming the sentinel.
dead=$(free_port)
assert_exit 6 tq --connect-timeout 300ms --redis "redis+sentinel://127.0.0.1:$dead/m" stats
assert_contains "$ERR" "127.0.0.1:$dead"
assert_exit 2 tq --connect-timeout soon stats

start_worker --concurrency 4 --name sw --lease 2s
wpid=$WORKER_PID
wait_worker_registered sw
assert_contains "$(worker_log "$wpid")" "connected to redis at 127.0.0.1:$REDIS_PORT"
id=$(tq submit tq.noop '"hello"')
assert_eq '"hello"' "$(tq wait "$id" --timeout 10s)" "a job through the sentinels"


# ---- a controlled failover while the worker drains and a client submits
: >"$TMP/acked"
submitter 150 &
spid=$!
track_bg "$spid"
wait_until 10 test -s "$TMP/acked"
sleep 0.5
log "SENTINEL FAILOVER m"
redis-cli -p "${SENTINEL_PORTS[0]}" sentinel failover m >/dev/null
wait_until 15 sentinel_master_is "$REPLICA_PORT"
log "the sentinels name the replica ($REPLICA_PORT) as master"
wait "$spid" || true
log "submitted $(wc -l <"$TMP/acked") acknowledged, $(cat "$TMP/refused" 2>/dev/null | wc -l) refused"
wait_drained 30
lost=$(count_not_succeeded)
log "controlled failover: $(wc -l <"$TMP/acked") acknowledged, $lost not succeeded"
assert_eq 0 "$lost" "acknowledged jobs lost in a SENTINEL FAILOVER"
assert_contains "$(worker_log "$wpid")" "127.0.0.1:$REPLICA_PORT"
pid_alive "$wpid" || fail "the worker died in the failover"

# ---- the new master is killed: the old one (a replica now) takes over
wait_until 20 _replica_linked "$REDIS_PORT"
: >"$TMP/acked"
: >"$TMP/refused"
submitter 100 &
spid=$!
track_bg "$spid"
wait_until 10 test -s "$TMP/acked"
t0=$(now)
kill -KILL "$REPLICA_PID"
log "SIGKILL of the master (port $REPLICA_PORT)"
id=$(tq --connect-timeout 20s submit tq.noop '"after the kill"')
assert_eq '"after the kill"' "$(tq --connect-timeout 20s wait "$id" --timeout 20s)" \
    "a job submitted after the kill"
log "kill -> first job done on the new master: $(elapsed_since "$t0") s"
# every sentinel comes to name it (the one that led may be ahead of the rest)
wait_until 10 sentinel_master_is "$REDIS_PORT"
wait "$spid" || true
wait_drained 30
log "SIGKILL failover: $(wc -l <"$TMP/acked") acknowledged, $(cat "$TMP/refused" | wc -l) refused, $(count_not_succeeded) lost (not asserted)"
pid_alive "$wpid" || fail "the worker died in the failover"
grep -q 'lost redis' "$(echo "${WORKER_LOG[$wpid]}")" || fail "the worker never saw the master go"
! grep -E 'Error|panic' "$TMP/submit.err" >/dev/null || true
stop_worker "$wpid"
log "ok"
