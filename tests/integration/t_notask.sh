#!/usr/bin/env bash
# t_notask: a worker that lacks a job's task (a rolling deploy that adds a
# task) gives the job back with outcome notask: scheduled again with a
# backoff, no retry used up, logged and counted as notask; a worker that has
# the task then runs it.
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
log "PASS"
