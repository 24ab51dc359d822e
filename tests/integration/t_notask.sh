#!/usr/bin/env bash
# t_notask: a worker that lacks a job's task (a rolling deploy that adds a
# task) gives the job back with outcome notask: scheduled again with a
# backoff, no retry used up, logged and counted as notask; a worker that has
# the task then runs it. When no worker that claims it has the task, the job
# ends failed after --max-lost give-backs, with an error saying so.
source "$(dirname "$0")/lib.sh"

start_redis
start_worker --name lacksx --concurrency 2
a=$WORKER_PID
wait_worker_registered lacksx
id=$(tq submit --retries 0 x.new '"hi"')
wait_until 10 grep -q "outcome=notask" "${WORKER_LOG[$a]}"
grep "outcome=notask" "${WORKER_LOG[$a]}" | head -1 | cut -c1-200
st=$(tq status "$id")
[[ $st == scheduled || $st == pending || $st == active ]] ||
    fail "after a worker without the task saw it: $st (expected it back in the queue)"
assert_eq null "$(field "$id" fails)" "no retry used up"
assert_contains "$(grep outcome=notask "${WORKER_LOG[$a]}" | head -1)" "unknown task 'x.new'" "log line"

# (A stops first, as in a rolling deploy: were it still there, it could win
# the job back each time it is due, up to --max-lost times)
stop_worker "$a"
start_worker --name hasx --task x.new=cat
assert_eq '"hi"' "$(tq wait "$id" --timeout 15s)" "run by the worker that has the task"
assert_eq succeeded "$(tq status "$id")" "state"

# Nobody has y.new: given back --max-lost times (1 s backoff), then failed
# with a clear error, still no retry used.
id=$(tq submit --retries 3 --max-lost 1 y.new '"nobody"')
assert_exit 1 tq wait "$id" --timeout 15s
assert_eq failed "$(tq status "$id")" "state after max-lost give-backs"
assert_contains "$(field "$id" error)" "no worker that claimed it has this task (2 tries)" "error"
assert_contains "$(field "$id" error)" "y.new" "error names the task"
assert_eq null "$(field "$id" fails)" "no retry used up"
log "PASS"
