#!/usr/bin/env bash
# t_corrupt: a job record that does not decode (written by something else,
# or corrupted) fails with a clear error and goes to the dead-letter list;
# the worker goes on (SPEC §7). Records are edited with redis-cli through
# the key schema of docs/design.md §2.
source "$(dirname "$0")/lib.sh"

start_redis
ns=$TQ_NAMESPACE
jk() { echo "$ns:{default}:j:$1"; }

# Three jobs, corrupted before any worker runs, around good ones.
good1=$(tq submit tq.noop 1)
badargs=$(tq submit tq.noop '{"a":1}')
notask=$(tq submit tq.noop 2)
gone=$(tq submit tq.noop 3)
good2=$(tq submit tq.noop 4)
rcli hset "$(jk "$badargs")" args '{"a":' >/dev/null
rcli hdel "$(jk "$notask")" task >/dev/null
rcli del "$(jk "$gone")" >/dev/null
# Junk in a pending list: an id with no record at all.
rcli rpush "$ns:{default}:p0" "no-such-job" >/dev/null

start_worker --concurrency 4 --name corruptw

assert_eq 1 "$(tq wait "$good1" --timeout 20s)" "good job before the corrupt ones"
assert_eq 4 "$(tq wait "$good2" --timeout 20s)" "good job after the corrupt ones"

wait_until 10 state_is "$badargs" failed
err=$(field "$badargs" error)
log "args not JSON -> $err"
[[ -n $err && $err != null ]] || fail "no error on a record with bad args"
dlq_has() { tq dlq list | grep -qF -- "$1"; }
wait_until 10 dlq_has "$notask"
assert_exit 0 tq dlq list
assert_contains "$OUT" "$badargs" "dlq list"
assert_contains "$OUT" "$notask" "dlq list"
assert_eq 1 "$(field "$badargs" attempt)" "a corrupt record is not retried"
# What is in the dead-letter list can be inspected: status reads what the
# record has (here, all but the task) and shows the worker's error.
assert_exit 0 tq status "$notask"
assert_eq failed "$OUT" "status of a dead-lettered record without a task"
assert_exit 0 tq status --json "$notask"
log "no task -> $(jq -r .error <<<"$OUT")"
assert_contains "$(jq -r .error <<<"$OUT")" task "error of a record without a task"

pid_alive "$WORKER_PID" || fail "the worker died on a corrupt record"
id=$(tq submit tq.noop '"still fine"')
assert_eq '"still fine"' "$(tq wait "$id" --timeout 10s)" "after corrupt records"
stop_worker "$WORKER_PID"
assert_eq 0 "$WORKER_RC" "worker exit"
log "ok"
