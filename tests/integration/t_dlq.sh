#!/usr/bin/env bash
# t_dlq: a job that fails every attempt ends failed, with its error, in the
# dead-letter list; `tq dlq retry` puts it back in its queue; `tq dlq purge`
# empties the list.
source "$(dirname "$0")/lib.sh"

start_redis
start_worker --concurrency 4 --name dlqw

id=$(tq submit --retries 1 --backoff 100ms tq.fail '"no good: boom"')
log "submitted $id"
assert_exit 1 tq wait "$id" --timeout 20s
assert_eq null "$OUT" "wait prints null for a failed job"
js=$(tq status --json "$id")
log "record: $js"
assert_eq failed "$(jq -r .state <<<"$js")" "state"
assert_eq 2 "$(jq -r .attempt <<<"$js")" "attempt (1 + 1 retry)"
assert_contains "$(jq -r .error <<<"$js")" "no good: boom" "error"
assert_exit 1 tq wait "$id" --timeout 5s   # a finished failed job: at once, 1 again
rc=0; res=$(tq result "$id" 2>/dev/null) || rc=$?
[[ $rc == 1 || $rc == 3 ]] || fail "tq result of a failed job exited $rc (expected 1 or 3)"
[[ -z $res || $res == null ]] || fail "tq result of a failed job printed [$res]"

# A job that succeeds is not dead-lettered; one with --retries 0 is, after one attempt.
ok=$(tq submit tq.noop 1)
id0=$(tq submit --retries 0 tq.fail '"once"')
tq wait "$ok" --timeout 20s >/dev/null
assert_exit 1 tq wait "$id0" --timeout 20s
assert_eq 1 "$(field "$id0" attempt)" "attempts of --retries 0"

assert_exit 0 tq dlq list
log "dlq list: $OUT"
assert_contains "$OUT" "$id" "dlq list"
assert_contains "$OUT" "$id0" "dlq list"
[[ $OUT != *"$ok"* ]] || fail "a succeeded job is in the dead-letter list: $OUT"
assert_exit 0 tq dlq list --queue default
assert_contains "$OUT" "$id" "dlq list --queue default"
assert_exit 0 tq dlq list --queue other
[[ $OUT != *"$id"* ]] || fail "dlq list --queue other shows a job of queue default: $OUT"

# Retry with no worker running: the job is back in its queue and stays there.
stop_worker "$WORKER_PID"
assert_eq 0 "$WORKER_RC" "worker exit"
assert_exit 0 tq dlq retry "$id"
assert_eq pending "$(tq status "$id")" "state after dlq retry"
assert_exit 0 tq dlq list
[[ $OUT != *"$id"* ]] || fail "retried job still in the dead-letter list: $OUT"
assert_contains "$OUT" "$id0" "the other job stays dead"

# A worker picks it up again: it runs (and fails again, being tq.fail).
start_worker --concurrency 4 --name dlqw2
wait_until 20 state_is "$id" failed
a=$(field "$id" attempt)
[[ $a -ge 3 ]] || fail "retried job did not run again (attempt $a)"
assert_exit 0 tq dlq list
assert_contains "$OUT" "$id" "dead again"

# Purge: the list is empty.
assert_exit 0 tq dlq purge
assert_exit 0 tq dlq list
[[ $OUT != *"$id"* && $OUT != *"$id0"* ]] || fail "dlq list after purge: $OUT"
assert_exit 5 tq status "$id"   # purge deletes the records (docs/design.md §4)

# Retrying what is not dead-lettered is refused (no such job in the list).
rc=0; tq dlq retry "$ok" >/dev/null 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "dlq retry of a succeeded job exited 0"
assert_eq succeeded "$(tq status "$ok")" "a succeeded job stays succeeded"

log "ok"
