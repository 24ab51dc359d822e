#!/usr/bin/env bash
# t_bury: a dead worker's job, buried by a worker that does not serve its
# queue, goes back to pending at once (bury.lua does what reclaim does:
# lost + 1, semaphore permit released), and `tq stats` counts it pending;
# a worker of its queue then runs it again (attempt 2).
source "$(dirname "$0")/lib.sh"

start_redis
ns=$TQ_NAMESPACE

id=$(tq submit --queue qa tq.sleep 60000)
start_worker --queue qa --concurrency 2 --name buryA
pidA=$WORKER_PID
wait_until 10 state_is "$id" active
start_worker --queue qb --concurrency 2 --name buryB
pidB=$WORKER_PID
wait_worker_registered buryB
kill_worker "$pidA"
t_kill=$(now)

# B notices A's heartbeat stopped (~10 s) and buries it in qa.
wait_until 20 state_is "$id" pending
log "pending $(elapsed_since "$t_kill") s after the kill"
assert_eq 1 "$(rcli hget "$ns:{qa}:j:$id" lost)" "lost"
assert_eq 0 "$(rcli zcard "$ns:{qa}:active")" "active in qa"
assert_exit 0 tq stats --json
qa=$(jq -c '.[] | select(.queue == "qa")' <<<"$OUT")
log "stats of qa: $qa"
assert_eq 1 "$(jq -r .pending <<<"$qa")" "pending in qa"
assert_eq 0 "$(jq -r .active <<<"$qa")" "active in qa"
assert_eq 1 "$(jq -r .totals.lost <<<"$qa")" "lost in qa"
grep -q "buryA" <<<"$(worker_log "$pidB")" || fail "B did not say it buried A"

start_worker --queue qa --concurrency 2 --name buryC
wait_until 10 state_is "$id" active
assert_eq 2 "$(field "$id" attempt)" "attempt of the delivery after the burial"
assert_contains "$(field "$id" worker)" buryC "holder"
tq cancel "$id" >/dev/null
wait_until 10 state_is "$id" cancelled
log "ok"
