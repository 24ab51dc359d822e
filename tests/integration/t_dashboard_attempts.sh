#!/usr/bin/env bash
# t_dashboard_attempts: the attempts log (the record's `alog`, `attempts_log`
# in tq status --json and the dashboard's job API). A job that fails twice
# then succeeds shows its two failed attempts (attempt, worker, times, both
# errors, when each was retried) and its third, final attempt in the record
# itself; a delivery lost to a killed worker shows as outcome "lost"; a dead
# letter retried keeps its failed attempt; a job whose first attempt ends it
# writes no log at all (the plain path writes nothing new); the log keeps
# the latest 10; an alog that is not JSON is read as text, never a crash.
source "$(dirname "$0")/lib.sh"

start_redis

cat >"$TMP/flaky.sh" <<EOF
#!/bin/sh
cat >/dev/null
if [ "\$TQ_ATTEMPT" -lt 3 ]; then
    echo "flaky failure on attempt \$TQ_ATTEMPT" >&2
    exit 1
fi
echo '"ok"'
EOF
chmod +x "$TMP/flaky.sh"
start_worker --concurrency 4 --lease 2s --name aw1 --task "flaky=$TMP/flaky.sh"
w1=$WORKER_PID
wait_worker_registered aw1

# ---- fails twice, then succeeds
id=$(tq submit --retries 3 --backoff 100ms flaky '{}')
assert_eq '"ok"' "$(tq wait "$id" --timeout 20s)" "result"
js=$(tq status --json "$id")
log "record: $js"
assert_eq 3 "$(jq -r .attempt <<<"$js")" "attempt"
assert_eq 2 "$(jq '.attempts_log | length' <<<"$js")" "attempts logged (the 3rd is the record's)"
assert_eq "1 2" "$(jq -r '[.attempts_log[].attempt] | join(" ")' <<<"$js")" "attempt numbers"
assert_eq "failed failed" "$(jq -r '[.attempts_log[].outcome] | join(" ")' <<<"$js")" "outcomes"
assert_contains "$(jq -r '.attempts_log[0].error' <<<"$js")" "flaky failure on attempt 1" "error 1"
assert_contains "$(jq -r '.attempts_log[1].error' <<<"$js")" "flaky failure on attempt 2" "error 2"
assert_contains "$(jq -r '.attempts_log[0].worker' <<<"$js")" aw1 "worker of attempt 1"
assert_eq true "$(jq '.attempts_log | all(.started_at <= .ended_at and .ended_at < .retry_at)' <<<"$js")" \
    "started <= ended < retry_at"
assert_eq true "$(jq '.attempts_log[1].started_at >= .attempts_log[0].retry_at - 0.01' <<<"$js")" \
    "attempt 2 started after attempt 1's retry time"
assert_eq true "$(jq '.started_at >= .attempts_log[1].ended_at' <<<"$js")" "the final attempt came last"

# ---- the plain path writes nothing: a job that succeeds at once, one that fails at once
ok=$(tq submit tq.noop '1')
bad=$(tq submit --retries 0 tq.fail '"boom"')
tq wait "$ok" --timeout 10s >/dev/null
tq wait "$bad" --timeout 10s >/dev/null 2>&1 || true
assert_eq 0 "$(rcli hexists "$TQ_NAMESPACE:{default}:j:$ok" alog)" "alog of a job that succeeded at once"
assert_eq 0 "$(rcli hexists "$TQ_NAMESPACE:{default}:j:$bad" alog)" "alog of a job that failed at once"
assert_eq null "$(tq status --json "$ok" | jq .attempts_log)" "attempts_log of a plain job"

# ---- a dead letter retried keeps its failed attempt
assert_exit 0 tq dlq retry "$bad"
wait_until 10 state_is "$bad" failed
js=$(tq status --json "$bad")
assert_eq 1 "$(jq '.attempts_log | length' <<<"$js")" "attempts logged after a dlq retry"
assert_eq "1 failed" "$(jq -r '.attempts_log[0] | "\(.attempt) \(.outcome)"' <<<"$js")" "the dead letter's attempt"
assert_eq 2 "$(jq -r .attempt <<<"$js")" "attempt after the dlq retry"

# ---- a lost delivery: the worker is killed, the lease (2 s) runs out
lost=$(tq submit tq.sleep 1500)
wait_until 10 state_is "$lost" active
kill_worker "$w1"
start_worker --concurrency 2 --lease 2s --name aw2
tq wait "$lost" --timeout 20s >/dev/null
js=$(tq status --json "$lost")
log "lost: $(jq -c .attempts_log <<<"$js")"
assert_eq "1 lost worker lost" "$(jq -r '.attempts_log[0] | "\(.attempt) \(.outcome) \(.error)"' <<<"$js")" \
    "the lost attempt"
assert_contains "$(jq -r '.attempts_log[0].worker' <<<"$js")" aw1 "the lost attempt's worker"
assert_contains "$(jq -r .worker <<<"$js")" aw2 "the final attempt's worker"

# ---- the latest 10 kept; a long error cut; an alog that is not JSON
many=$(tq submit --retries 12 --backoff 1ms tq.fail "\"$(head -c 2000 /dev/zero | tr '\0' x)\"")
tq wait "$many" --timeout 30s >/dev/null 2>&1 || true
js=$(tq status --json "$many")
assert_eq 10 "$(jq '.attempts_log | length' <<<"$js")" "entries kept"
assert_eq "3 12" "$(jq -r '"\(.attempts_log[0].attempt) \(.attempts_log[9].attempt)"' <<<"$js")" "the latest kept"
assert_eq 512 "$(jq '.attempts_log[0].error | length' <<<"$js")" "an error cut to 512 bytes"
rcli hset "$TQ_NAMESPACE:{default}:j:$ok" alog '{not json' >/dev/null
assert_eq '"{not json"' "$(tq status --json "$ok" | jq -c .attempts_log)" "an alog that is not JSON"

# ---- the dashboard's job API gives it
start_dashboard --no-schedules
assert_eq 2 "$(curl -s "$DASH/api/job/$id" | jq '.attempts_log | length')" "attempts_log in /api/job"
log "ok"
