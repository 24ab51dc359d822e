#!/usr/bin/env bash
# t_sentinel_durable: a SIGKILL of the master (SPEC §9) while a worker drains
# and a client submits with --durable 1, through a master, a replica and
# three sentinels on loopback. Every submit that exited 0 was confirmed by
# the replica, so it survives the promotion: each ends succeeded (asserted).
# Also logs the failover time a worker sees: from the kill to the first
# job outcome the new master recorded (the earliest finished_at after the
# kill in the new master's records). t_sentinel does the same kill without
# --durable, where an acknowledged job may be lost (reported there).
source "$(dirname "$0")/lib.sh"

_acked_at_least() { (( $(wc -l <"$TMP/acked") >= $1 )); }

start_redis
start_sentinel_group
start_worker --concurrency 4 --name dw --lease 2s
wpid=$WORKER_PID
wait_worker_registered dw

# A durable submit through the sentinels is confirmed by the replica.
id=$(tq submit --durable 1 tq.noop '"durable"')
assert_eq '"durable"' "$(tq wait "$id" --timeout 10s)" "a durable job through the sentinels"

: >"$TMP/acked"
: >"$TMP/refused"
# After the kill the new master has no replica: each durable submit then
# waits --durable-timeout and exits 7 (kept short so the test is too).
SUBMIT_ARGS="--durable 1 --durable-timeout 300ms" submitter 60 &
spid=$!
track_bg "$spid"
wait_until 10 _acked_at_least 15
t0=$(now)
kill -KILL "$REDIS_PID"
log "SIGKILL of the master (port $REDIS_PORT) at $t0"
wait_until 15 sentinel_master_is "$REPLICA_PORT"
log "the sentinels name the replica ($REPLICA_PORT) as master: $(elapsed_since "$t0") s after the kill"
wait "$spid" || true
acked=$(wc -l <"$TMP/acked")
refused=$(wc -l <"$TMP/refused")
wait_drained 30
lost=$(count_not_succeeded)
log "SIGKILL failover with --durable 1: $acked acknowledged, $refused refused (exit 6/7: no replica left to confirm), $lost lost"
assert_eq 0 "$lost" "durable jobs lost in a SIGKILL failover"
(( acked > 0 )) || fail "no durable submit was acknowledged"

# The first outcome the new master took after the kill.
first=$(redis-cli -p "$REPLICA_PORT" --scan --pattern "$TQ_NAMESPACE:{default}:j:*" |
    while read -r k; do redis-cli -p "$REPLICA_PORT" hget "$k" finished_at; done |
    awk -v t0="$t0" '$1 > t0 && (m == "" || $1 < m) { m = $1 } END { if (m != "") printf "%.3f", m - t0 }')
[[ -n $first ]] || fail "no job was finished on the new master after the kill"
log "failover seen by the worker: kill -> first job acked on the new master: $first s"
pid_alive "$wpid" || fail "the worker died in the failover"
grep -q 'lost redis' "${WORKER_LOG[$wpid]}" || fail "the worker never saw the master go"
stop_worker "$wpid"
log "ok"
