#!/usr/bin/env bash
# t_dash_sched: tq dashboard fires schedules' ticks as a worker does (SPEC
# §10: "every tq-worker (and tq dashboard)", no leader). With no worker, a
# read-only dashboard alone fires `@every 1s` once per tick (ids and ticks
# distinct and 1 s apart, each within 1 s of its tick on Redis's clock);
# --no-schedules fires nothing; a worker and two dashboards racing still
# make exactly one job per tick; a dashboard started after its schedule's
# ticks were missed catches up those younger than --catchup, oldest first.
source "$(dirname "$0")/lib.sh"

start_redis

# one_per_tick FILE WHAT: ids and ticks distinct, ticks 1 s apart
one_per_tick() {
    local n
    n=$(wc -l <"$1")
    assert_eq "$n" "$(awk '{print $3}' "$1" | sort -u | wc -l)" "$2: distinct ids"
    assert_eq "$n" "$(awk '{print $1}' "$1" | sort -u | wc -l)" "$2: distinct ticks"
    assert_eq 0 "$(tick_gaps "$1")" "$2: ticks not 1 s apart"
}
fired() { tq schedule list --json | jq ".[] | select(.name == \"$1\") | .fired"; }

# ---- a read-only dashboard alone, no worker: @every 1s for 5 s
start_dashboard --read-only
d1=$DASH_PID
# (--overlap allow: no worker runs the jobs, and skip would skip every tick
# after the first while it is pending)
assert_exit 0 tq schedule add solo '@every 1s' tq.noop --overlap allow
sleep 5.2
assert_exit 0 tq schedule pause solo
sleep 0.3
schedule_ticks solo >"$TMP/solo"
n=$(wc -l <"$TMP/solo")
log "@every 1s for 5.2 s, one read-only dashboard and no worker: $n jobs"
assert_le 4 "$n" "jobs fired by the dashboard alone"
assert_le "$n" 6 "jobs fired by the dashboard alone"
one_per_tick "$TMP/solo" "dashboard alone"
assert_eq "$n" "$(fired solo)" "fired count"
awk '{printf "%.1f\n", $2 * 1000 - $1}' "$TMP/solo" | sort -n >"$TMP/late"
log "tick lateness ms: min $(head -1 "$TMP/late") max $(tail -1 "$TMP/late")"
assert_le -1 "$(head -1 "$TMP/late")" "a tick fired early"
assert_le "$(tail -1 "$TMP/late")" 1000 "a tick fired over 1 s late"
assert_eq pending "$(state_of "$(awk 'NR == 1 {sub(/.*:j:/, "", $3); print $3}' "$TMP/solo")")" \
    "a tick's job (no worker runs it)"
stop_dashboard "$d1"

# ---- --no-schedules: nothing fires
start_dashboard --no-schedules
d2=$DASH_PID
assert_exit 0 tq schedule resume solo
sleep 2.5
assert_eq "$n" "$(schedule_ticks solo | wc -l)" "jobs fired with --no-schedules"
stop_dashboard "$d2"
assert_exit 0 tq schedule rm solo

# ---- a worker and two dashboards racing: one job per tick
start_worker --concurrency 2 --name w1
wait_worker_registered w1
start_dashboard
d3=$DASH_PID
start_dashboard --read-only
d4=$DASH_PID
assert_exit 0 tq schedule add race '@every 1s' tq.noop '"r"'
sleep 5.2
assert_exit 0 tq schedule pause race
sleep 0.3
schedule_ticks race >"$TMP/race"
n=$(wc -l <"$TMP/race")
log "@every 1s for 5.2 s, a worker and two dashboards: $n jobs"
assert_le 4 "$n" "jobs with a worker and two dashboards"
assert_le "$n" 6 "jobs with a worker and two dashboards"
one_per_tick "$TMP/race" "worker and dashboards"
assert_eq "$n" "$(fired race)" "fired count"
assert_exit 0 tq schedule rm race
stop_worker "$WORKER_PID"
stop_dashboard "$d3"
stop_dashboard "$d4"

# ---- catch-up: ticks missed while nothing ran fire when a dashboard starts
assert_exit 0 tq schedule add late '@every 1s' tq.noop --catchup 1m
sleep 3.5   # nobody runs: 3 ticks missed
start_dashboard --read-only
d5=$DASH_PID
sleep 0.5
assert_exit 0 tq schedule pause late
schedule_ticks late >"$TMP/late"
n=$(wc -l <"$TMP/late")
log "a dashboard started 3.5 s late with --catchup 1m: $n jobs"
assert_le 3 "$n" "missed ticks caught up"
assert_le "$n" 5 "missed ticks caught up"
one_per_tick "$TMP/late" "catch-up"
stop_dashboard "$d5"
! grep -q 'Sanitizer' "$TMP"/dashboard-*.log || fail "sanitizer report: $(cat "$TMP"/dashboard-*.log)"
log "ok"
