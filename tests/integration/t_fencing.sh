#!/usr/bin/env bash
# t_fencing: a worker paused past its lease (SIGSTOP) loses the job to
# another worker; when it wakes up, its outcome carries a stale token and is
# refused: the record keeps the outcome of the delivery that replaced it, and
# the paused worker logs that it lost the lease (SPEC §2, Fencing).
source "$(dirname "$0")/lib.sh"

start_redis

# The script's result says which delivery produced it.
cat >"$TMP/who.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
sleep 2
echo "{\"attempt\":$TQ_ATTEMPT}"
EOF
chmod +x "$TMP/who.sh"

start_worker --concurrency 2 --lease 2s --name fenceA --task "who=$TMP/who.sh"
pidA=$WORKER_PID
id=$(tq submit --retries 0 who)
wait_until 10 state_is "$id" active
assert_contains "$(field "$id" worker)" fenceA "first holder"
kill -STOP "$pidA"
log "worker A stopped while holding $id"

start_worker --concurrency 2 --lease 2s --name fenceB --task "who=$TMP/who.sh"
wait_until 15 field_test "$id" '.attempt == 2 and (.worker | contains("fenceB"))'
log "delivered again to B"
# Wake A while B runs the job: A's child has finished long ago; A reports it.
kill -CONT "$pidA"
out=$(tq wait "$id" --timeout 20s)
assert_json_eq '{"attempt":2}' "$out" "result (the second delivery's)"
sleep 2
js=$(tq status --json "$id")
log "record: $js"
assert_json_eq '{"attempt":2}' "$(jq -c .result <<<"$js")" "result after A woke up"
assert_eq succeeded "$(jq -r .state <<<"$js")" "state"
assert_eq 2 "$(jq -r .attempt <<<"$js")" "attempt"
assert_contains "$(jq -r .worker <<<"$js")" fenceB "worker"
grep -qiE 'lost|lease' "${WORKER_LOG[$pidA]}" ||
    fail "worker A did not log that it lost the lease: $(tail -n 5 "${WORKER_LOG[$pidA]}")"
log "A says: $(grep -iE 'lost|lease' "${WORKER_LOG[$pidA]}" | tail -n 1)"

# A is still a working worker afterwards.
pid_alive "$pidA" || fail "worker A died after losing a lease"
stop_worker "$WORKER_PID"
id2=$(tq submit tq.noop '"A again"')
assert_eq '"A again"' "$(tq wait "$id2" --timeout 10s)" "a job for A after it woke"
assert_contains "$(field "$id2" worker)" fenceA "worker of the new job"
log "ok"
