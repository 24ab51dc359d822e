#!/usr/bin/env bash
# t_oom: the worker under a Redis out of memory (maxmemory + noeviction).
# Claims are refused; the worker says so once per backoff period (1 s
# doubling), not once per call, keeps renewing leases, beating and acking,
# and claims again by itself when memory is back. Jobs submitted before end
# succeeded exactly once (not "worker lost").
source "$(dirname "$0")/lib.sh"

start_redis --maxmemory-policy noeviction
start_worker --concurrency 2 --lease 1.5s --name oomw
w=$WORKER_PID
wait_worker_registered oomw
ids=()
for i in 1 2 3 4; do ids+=("$(tq submit tq.sleep 2500)"); done
wait_until 10 state_is "${ids[0]}" active

# Out of memory: junk in database 9 pushes used memory over maxmemory.
used=$(rcli info memory | tr -d '\r' | sed -n 's/^used_memory://p')
rcli config set maxmemory $((used + 2000000)) >/dev/null
rcli -n 9 eval "for i = 1, 60 do redis.call('SET', 'junk:' .. i, string.rep('x', 100000)) end" 0 >/dev/null
rcli set oomprobe 1 2>&1 | grep -q OOM || fail "redis is not out of memory"
t0=$(now)
log "out of memory"

# The two running jobs finish (leases renewed past 1.5 s, acks taken); the
# two pending ones wait. The worker stays listed (its beat is taken).
wait_until 10 state_is "${ids[0]}" succeeded
wait_until 10 state_is "${ids[1]}" succeeded
tq workers | grep -q oomw || fail "tq workers does not list the worker under OOM"
sleep 3
assert_eq pending "$(tq status "${ids[2]}")" "third job under OOM"
tq workers | grep -q oomw || fail "tq workers does not list the worker under OOM"
log "OOM for $(elapsed_since "$t0") s"

# Memory back: the worker claims again by itself.
rcli -n 9 flushdb >/dev/null
for id in "${ids[@]}"; do
    wait_until 20 state_is "$id" succeeded
    assert_eq 1 "$(field "$id" attempt)" "job $id ran once"
    assert_eq null "$(field "$id" lost)" "job $id never lost"
done
logf=${WORKER_LOG[$w]}
{ grep 'out of memory' "$logf" || true; } | head -3 | cut -c1-300
n=$(grep -c 'OOM' "$logf" || true)
log "OOM in $n log line(s)"
(( n >= 1 )) || fail "the worker never said Redis was out of memory"
assert_le "$n" 4 "log lines naming OOM (once per backoff period)"
grep -q 'out of memory' "$logf" || fail "no clear 'out of memory' line"
grep -q 'accepts claims again' "$logf" || fail "no line when memory came back"
stop_worker "$w"
assert_eq 0 "$WORKER_RC" "worker exit"
log "PASS"
