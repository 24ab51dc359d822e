#!/usr/bin/env bash
# t_schedule: schedules (SPEC §10). Bad specs, zones and durations are exit 2
# naming the mistake, with nothing sent. Five workers and an `@every 1s`
# schedule for 10 s give 10 jobs (±1 at the edges): ids unique, ticks
# consecutive, none twice though every worker races for every tick; each
# fires within 1 s of its tick on Redis's clock (lateness printed). Overlap
# skip with a job longer than the period; pause/resume; run; rm.
source "$(dirname "$0")/lib.sh"

start_redis

# ---- bad input: exit 2, the position of the mistake, nothing in Redis
assert_exit 2 tq schedule add s '0 0 32 * *' tq.noop
assert_contains "$ERR" "cron field 3 (day of month): 32 is out of range 1-31"
assert_exit 2 tq schedule add s '*/5 * * *' tq.noop
assert_contains "$ERR" "has 4 fields"
assert_exit 2 tq schedule add s '0 61 * * * *' tq.noop
assert_contains "$ERR" "cron field 2 (minute): 61 is out of range 0-59"  # seconds first
assert_exit 2 tq schedule add s '@daily' tq.noop --tz Mars/Olympus
assert_contains "$ERR" "unknown time zone 'Mars/Olympus'"
assert_exit 2 tq schedule add s '@every 5x' tq.noop
assert_contains "$ERR" "@every"
assert_exit 2 tq schedule add s '@daily' tq.noop --catchup soon
assert_contains "$ERR" "--catchup"
assert_exit 2 tq schedule add s '@daily' tq.noop --overlap sometimes
assert_exit 2 tq schedule add $'bad\tname' '@daily' tq.noop
assert_contains "$ERR" "schedule name"
assert_exit 2 tq schedule add s '@daily' tq.noop --delay 1s
assert_exit 2 tq schedule add s '@daily' tq.noop '{bad'
assert_exit 2 tq schedule pause s --tz UTC
assert_eq "" "$(rcli --scan --pattern "$TQ_NAMESPACE:*")" "keys after bad input"
assert_exit 5 tq schedule rm nosuch

# ---- five workers, @every 1s, 10 s
for i in 1 2 3 4 5; do start_worker --concurrency 2 --name "w$i"; done
wait_worker_registered w5
assert_exit 0 tq schedule add every '@every 1s' tq.noop '{"n":1}'
sleep 10.2
assert_exit 0 tq schedule pause every
sleep 0.3   # a fire in flight lands

schedule_ticks every >"$TMP/every"
n=$(wc -l <"$TMP/every")
log "@every 1s for 10.2 s with 5 workers: $n jobs"
assert_le 9 "$n" "jobs of @every 1s in 10 s"
assert_le "$n" 11 "jobs of @every 1s in 10 s"
assert_eq "$n" "$(awk '{print $3}' "$TMP/every" | sort -u | wc -l)" "distinct ids"
assert_eq "$n" "$(awk '{print $1}' "$TMP/every" | sort -u | wc -l)" "distinct ticks"
# consecutive: each tick 1000 ms after the one before
assert_eq 0 "$(tick_gaps "$TMP/every")" "ticks not 1 s apart"
awk '{printf "%.1f\n", $2 * 1000 - $1}' "$TMP/every" | sort -n >"$TMP/late"
log "tick lateness ms: min $(head -1 "$TMP/late") p50 $(sed -n "$(((n + 1) / 2))p" "$TMP/late") max $(tail -1 "$TMP/late")"
assert_le -1 "$(head -1 "$TMP/late")" "a tick fired early"
assert_le "$(tail -1 "$TMP/late")" 1000 "a tick fired over 1 s late"
tq schedule list --json >"$TMP/list"
assert_eq "$n" "$(jq '.[] | select(.name == "every") | .fired' "$TMP/list")" "fired count"
assert_eq true "$(jq '.[] | select(.name == "every") | .paused' "$TMP/list")" "paused"
# the job ids are found like any id
id=$(awk 'NR == 1 {sub(/.*:j:/, "", $3); print $3}' "$TMP/every")
assert_eq succeeded "$(state_of "$id")" "state of a schedule's job"

# ---- paused: nothing fires; resume: it fires again
sleep 1.5
assert_eq "$n" "$(schedule_ticks every | wc -l)" "jobs while paused"
assert_exit 0 tq schedule resume every
fired_over() { [[ $(tq schedule list --json | jq ".[] | select(.name == \"$1\") | .fired") -gt $2 ]]; }
wait_until 5 fired_over every "$n"
assert_exit 0 tq schedule rm every
assert_eq 0 "$(rcli exists "$TQ_NAMESPACE:schedule:every")" "schedule key after rm"

# ---- overlap skip: a 1.5 s job every second runs one at a time
assert_exit 0 tq schedule add slow '@every 1s' tq.sleep 1500
sleep 4.3
assert_exit 0 tq schedule pause slow
skipped=$(tq schedule list --json | jq '.[] | select(.name == "slow") | .skipped')
assert_exit 0 tq schedule rm slow
schedule_ticks slow >"$TMP/slow"
ns=$(wc -l <"$TMP/slow")
log "overlap skip: $ns jobs of a 1.5 s job @every 1s in 4.3 s, $skipped ticks skipped"
assert_le 2 "$ns" "jobs with overlap skip"
assert_le "$ns" 3 "jobs with overlap skip"
assert_le 1 "$skipped" "ticks skipped"
# none started before the one before it finished
prev=""
while read -r _ _ k; do
    if [[ -n $prev ]]; then
        assert_le "$(rcli hget "$prev" finished_at)" "$(rcli hget "$k" started_at)" \
            "a job started while the one before ran"
    fi
    prev=$k
done <"$TMP/slow"

# ---- overlap allow: they run side by side
assert_exit 0 tq schedule add fast '@every 1s' tq.sleep 1500 --overlap allow
sleep 3.3
assert_exit 0 tq schedule rm fast
schedule_ticks fast >"$TMP/fast"
assert_le 3 "$(wc -l <"$TMP/fast")" "jobs with overlap allow"
k1=$(awk 'NR == 1 {print $3}' "$TMP/fast")
k2=$(awk 'NR == 2 {print $3}' "$TMP/fast")
wait_until 5 bash -c "[[ -n \$(redis-cli -p $REDIS_PORT hget '$k1' finished_at) ]]"
assert_le "$(rcli hget "$k2" started_at)" "$(rcli hget "$k1" finished_at)" \
    "--overlap allow: the second job started after the first ended"

# ---- run: one job now with a fresh id; the schedule unchanged
assert_exit 0 tq schedule add daily '@daily' tq.noop '"d"' --priority 5
next=$(tq schedule list --json | jq '.[] | select(.name == "daily") | .next_run')
assert_exit 0 tq schedule run daily
id=$OUT
assert_eq '"d"' "$(tq wait "$id" --timeout 10s)" "result of schedule run"
assert_eq default "$(field "$id" queue)" "queue of schedule run's job"
assert_eq 5 "$(field "$id" priority)" "priority of schedule run's job"
assert_eq "$next" "$(tq schedule list --json | jq '.[] | select(.name == "daily") | .next_run')" \
    "next run after schedule run"

# ---- the submit options reach the jobs: a rate limit, when fired and when run
assert_exit 0 tq ratelimit set srl 100/s
assert_exit 0 tq schedule add limited '@every 1s' tq.noop '"l"' --rate-limit srl:k
lim_job() { [[ -n $(tq schedule list --json | jq -r '.[] | select(.name == "limited") | .last_job // empty') ]]; }
wait_until 5 lim_job
lid=$(tq schedule list --json | jq -r '.[] | select(.name == "limited") | .last_job')
assert_eq srl:k "$(rcli hget "$TQ_NAMESPACE:{default}:j:$lid" rl)" "rate limit of a fired job"
assert_exit 0 tq schedule run limited
assert_eq srl:k "$(rcli hget "$TQ_NAMESPACE:{default}:j:$OUT" rl)" "rate limit of schedule run's job"
assert_exit 0 tq schedule rm limited
tq schedule list
log "ok"
