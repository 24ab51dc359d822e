#!/usr/bin/env bash
# t_unique: --unique KEY: while a job with that key in that queue is not
# terminal (scheduled, pending, active), submit returns its id and makes no
# new job; the key is per queue; once the job ends (succeeded, failed,
# cancelled) the next submit makes a new job. Concurrent submits agree on
# one job.
source "$(dirname "$0")/lib.sh"

start_redis

count_jobs() { rcli --scan --pattern "$TQ_NAMESPACE:{$1}:j:*" | grep -c . || true; }

# ---- pending (no worker on queue 'uq'): same id, one job.
id1=$(tq submit --queue uq --unique report-42 tq.noop 1)
id2=$(tq submit --queue uq --unique report-42 tq.noop 2)
assert_eq "$id1" "$id2" "second submit with the same key"
assert_eq 1 "$(field "$id1" args)" "the first job's args are kept"
assert_eq report-42 "$(field "$id1" unique)" "unique field"
mapfile -t many < <(printf '%s\n' 3 4 5 | tq submit-many --queue uq --unique report-42 tq.noop)
assert_eq "$id1 $id1 $id1" "${many[*]}" "submit-many with the key"
assert_eq 1 "$(count_jobs uq)" "job records in queue uq"
# Another key, or the same key in another queue: new jobs.
other=$(tq submit --queue uq --unique report-43 tq.noop 1)
[[ $other != "$id1" ]] || fail "another key gave the same job"
elsewhere=$(tq submit --queue uq2 --unique report-42 tq.noop 1)
[[ $elsewhere != "$id1" ]] || fail "the same key in another queue gave the same job"

# ---- concurrent submits: one job.
pids=()
for i in $(seq 1 10); do
    tq submit --queue uq --unique race tq.noop "$i" >"$TMP/race.$i" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent submit failed"; done
assert_eq 1 "$(cat "$TMP"/race.* | sort -u | grep -c .)" "distinct ids from 10 concurrent submits"
assert_eq 3 "$(count_jobs uq)" "job records in queue uq after the race"

# ---- cancelled: the key is free again.
assert_exit 0 tq cancel "$id1"
id3=$(tq submit --queue uq --unique report-42 tq.noop 6)
[[ $id3 != "$id1" ]] || fail "submit after cancel returned the cancelled job"
assert_eq pending "$(state_of "$id3")" "the new job"

# ---- scheduled and active jobs hold the key; succeeded frees it.
start_worker --concurrency 4 --name uniqw
s1=$(tq submit --delay 1s --unique nightly tq.sleep 500)
assert_eq scheduled "$(state_of "$s1")" "delayed unique job"
assert_eq "$s1" "$(tq submit --unique nightly tq.noop 1)" "submit while it is scheduled"
wait_until 10 state_is "$s1" active
assert_eq "$s1" "$(tq submit --unique nightly tq.noop 1)" "submit while it is active"
assert_eq 500 "$(tq wait "$s1" --timeout 10s)" "result"
s2=$(tq submit --unique nightly tq.noop '"again"')
[[ $s2 != "$s1" ]] || fail "submit after success returned the finished job"
assert_eq '"again"' "$(tq wait "$s2" --timeout 10s)" "the new job ran"

# ---- failed frees it too.
f1=$(tq submit --retries 0 --unique flaky tq.fail '"no"')
assert_exit 1 tq wait "$f1" --timeout 10s
f2=$(tq submit --unique flaky tq.noop 1)
[[ $f2 != "$f1" ]] || fail "submit after failure returned the failed job"

# ---- --wait with a key that matches: waits for the live job.
long=$(tq submit --unique shared tq.sleep 400)
assert_eq 400 "$(tq submit --wait --unique shared tq.noop '"mine"')" "submit --wait on a matched key"

# ---- refused combinations.
assert_exit 2 tq submit --unique '' tq.noop
assert_exit 2 tq submit --unique k --then tq.noop tq.noop
assert_exit 2 tq group submit --unique k tq.noop </dev/null

log "ok"
