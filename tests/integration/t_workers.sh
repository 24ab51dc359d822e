#!/usr/bin/env bash
# t_workers: a dead worker is shown stale at once in `tq workers` (its
# heartbeat, one a second, is over 3 s old by Redis's clock), not healthy for
# the ~10 s until it is buried and removed.
source "$(dirname "$0")/lib.sh"

start_redis
start_worker --name alive
start_worker --name doomed
doomed=$WORKER_PID
wait_worker_registered alive
wait_worker_registered doomed

assert_exit 0 tq workers --json
assert_eq "ok ok" "$(jq -r '[.[] | .state] | join(" ")' <<<"$OUT")" "both workers ok"
assert_eq "false" "$(jq -r '[.[] | .stale] | any' <<<"$OUT")"
assert_exit 0 tq workers
assert_match "$(grep doomed <<<"$OUT")" "doomed[^ ]* +ok " "the table's STATE column"

kill_worker "$doomed"
t0=$(now)
doomed_state() { tq workers --json | jq -r '.[] | select(.id | startswith("doomed")) | .state'; }
is_stale() { [[ $(doomed_state) == stale ]]; }
wait_until 5 is_stale
took=$(elapsed_since "$t0")
log "doomed shown stale ${took}s after SIGKILL"
assert_le "$took" 4.5 "stale within ~4 s"
assert_exit 0 tq workers --json
assert_eq true "$(jq -r '.[] | select(.id | startswith("doomed")) | .stale' <<<"$OUT")"
assert_le 3 "$(jq -r '.[] | select(.id | startswith("doomed")) | .heartbeat_age' <<<"$OUT")" \
    "a stale worker's heartbeat_age"
assert_eq ok "$(jq -r '.[] | select(.id | startswith("alive")) | .state' <<<"$OUT")" \
    "the live worker stays ok"
assert_exit 0 tq workers
assert_match "$(grep doomed <<<"$OUT")" "doomed[^ ]* +stale " "the table says stale"
log "$OUT"
