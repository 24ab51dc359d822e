#!/usr/bin/env bash
# t_schedule_crash: no tick twice and none lost while any worker runs, with
# workers SIGKILLed and restarted mid-run (no leader to lose); catch-up
# after every worker was down: with --catchup the missed ticks fire once
# each, oldest first, on the next start; without, they are skipped and
# counted and only the next tick fires.
source "$(dirname "$0")/lib.sh"

start_redis

sched() { tq schedule list --json | jq ".[] | select(.name == \"$1\") | .$2"; }

# ---- kills and restarts while it runs: always one worker up
start_worker --name a; a=$WORKER_PID
start_worker --name b; b=$WORKER_PID
wait_worker_registered b
assert_exit 0 tq schedule add s '@every 1s' tq.noop
for round in 1 2 3 4; do
    sleep 1.3
    kill_worker "$a"
    start_worker --name "a$round"; a=$b; b=$WORKER_PID
done
sleep 1.3
assert_exit 0 tq schedule pause s
sleep 0.3
schedule_ticks s >"$TMP/s"
n=$(wc -l <"$TMP/s")
log "SIGKILL and restart every 1.3 s: $n jobs over ~6.5 s"
assert_le 5 "$n" "jobs while workers were killed and restarted"
assert_eq "$n" "$(awk '{print $1}' "$TMP/s" | sort -u | wc -l)" "a tick fired twice"
assert_eq 0 "$(tick_gaps "$TMP/s")" "a tick lost while a worker ran"
assert_eq "$n" "$(sched s fired)" "fired count"
assert_exit 0 tq schedule rm s

# ---- every worker down for ~3.5 s, then one starts
assert_exit 0 tq schedule add up '@every 1s' tq.noop --catchup 1m
assert_exit 0 tq schedule add nocatch '@every 1s' tq.noop
sleep 2.2
kill_worker "$a"
kill_worker "$b"
down=$(now)
sleep 3.5
start_worker --name late
sleep 1.5
assert_exit 0 tq schedule pause up
assert_exit 0 tq schedule pause nocatch
sleep 0.3
schedule_ticks up >"$TMP/up"
schedule_ticks nocatch >"$TMP/nocatch"
log "catch-up 1m: $(wc -l <"$TMP/up") jobs; no catch-up: $(wc -l <"$TMP/nocatch") jobs, $(sched nocatch skipped) skipped"
# --catchup: every tick fired once, none missing, the missed ones soon after
# the start (created after the worker came back, tick order = creation order)
assert_eq 0 "$(tick_gaps "$TMP/up")" "--catchup 1m: a missed tick did not fire"
assert_le 6 "$(wc -l <"$TMP/up")" "--catchup 1m: jobs"
assert_eq 0 "$(sched up skipped)" "--catchup 1m: skipped"
assert_eq "$(awk '{print $1}' "$TMP/up" | tr '\n' ' ')" \
    "$(sort -k2,2n "$TMP/up" | awk '{print $1}' | tr '\n' ' ')" "catch-up oldest first"
late=$(awk -v d="$down" '$2 > d + 3 {n++} END {print n + 0}' "$TMP/up")
assert_le 3 "$late" "--catchup 1m: missed ticks fired after the restart"
# no catch-up: the missed ticks are skipped and counted, a gap in the ticks
assert_le 2 "$(sched nocatch skipped)" "no catch-up: ticks skipped"
assert_le 1 "$(tick_gaps "$TMP/nocatch")" "no catch-up: missed ticks fired"
assert_eq "$(wc -l <"$TMP/nocatch")" "$(sched nocatch fired)" "no catch-up: fired count"
log "ok"
