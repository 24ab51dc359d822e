#!/usr/bin/env bash
# t_record: reading a job record never fails a command that can show what is
# there. A numeric field that does not parse (result_ttl 'x' made `tq status`
# exit 6) is read as its default; only a key that is not a hash is an error
# (exit 6, one line).
source "$(dirname "$0")/lib.sh"

start_redis
start_worker
P=$TQ_NAMESPACE

ok_id=$(tq submit tq.noop '{"v":1}')
fail_id=$(tq submit --retries 0 tq.fail '"boom"')
tq wait --timeout 10s "$ok_id" >/dev/null
assert_exit 1 tq wait --timeout 10s "$fail_id"
pend_id=$(tq submit --delay 1h tq.noop 2)

# Junk in every numeric field, negative and huge values too.
for id in "$ok_id" "$fail_id" "$pend_id"; do
    rcli hset "$P:{default}:j:$id" result_ttl x attempt junk max_retries -5 \
        max_lost 1e400 priority 99999999999999 timeout 12x backoff '' \
        created_at yesterday started_at nan finished_at 1e300 >/dev/null
done

assert_exit 0 tq status "$ok_id"
assert_eq succeeded "$OUT" "status of a record with junk numbers"
assert_exit 0 tq status --json "$ok_id"
assert_eq 86400 "$(jq -r .result_ttl <<<"$OUT")" "a junk result_ttl reads as the default"
assert_eq -5 "$(jq -r .max_retries <<<"$OUT")" "a negative number is shown as it is"
assert_eq 0 "$(jq -r .attempt <<<"$OUT")" "a junk attempt reads as 0"
assert_exit 0 tq result "$ok_id"
assert_json_eq '{"v":1}' "$OUT" "result"
assert_exit 0 tq wait "$ok_id"
assert_json_eq '{"v":1}' "$OUT" "wait"
assert_exit 1 tq result "$fail_id"
assert_exit 1 tq wait "$fail_id"
assert_exit 0 tq status "$pend_id"
assert_eq scheduled "$OUT"
assert_exit 0 tq dlq list
assert_contains "$OUT" "$fail_id" "dlq list shows the record"
assert_exit 0 tq dlq list --json
assert_eq "$fail_id" "$(jq -r '.[0].id' <<<"$OUT")"
assert_exit 3 tq wait --timeout 0.2s "$pend_id"

# A key that is not a hash: a clear one-line error, exit 6, never a crash.
bad_id=01zzzzzzzzzzzzzzzzzzzzzzzz
rcli set "$P:{default}:j:$bad_id" "not a hash" >/dev/null
for cmd in status result wait; do
    assert_exit 6 tq "$cmd" "$bad_id"
    assert_one_line "$ERR" "tq $cmd of a string key"
    assert_contains "$ERR" "WRONGTYPE"
    log "tq $cmd of a string key: $ERR"
done
assert_exit 6 tq status --json "$bad_id"
assert_one_line "$ERR"
log "done"
