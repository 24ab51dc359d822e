#!/usr/bin/env bash
# t_health: tq-worker --metrics answers /healthz (SPEC §12): 200 "ok" while
# connected and working; 503 with a one-line reason when Redis has been
# unreachable for more than --lease (Redis stopped with SIGSTOP, back to 200
# after SIGCONT), or when the worker has free slots, jobs are pending on its
# queue and it starts none (its ACL user loses EVAL/EVALSHA, so every claim
# is refused), back to 200 once it may claim again. A paused queue with jobs
# waiting stays 200, and so do jobs parked on a semaphore. TQ_HEALTH_STALL_MS (for tests only) shortens the
# documented 30 s to 1.5 s.
source "$(dirname "$0")/lib.sh"

start_redis
export TQ_HEALTH_STALL_MS=1500

# the worker's own ACL user, so that its rights can be taken away alone
rcli ACL SETUSER tqw on '>tqwpw' '~*' '&*' '+@all' >/dev/null
WURL="redis://tqw:@127.0.0.1:$REDIS_PORT/0"
printf 'tqwpw\n' >"$TMP/pw"

# health: CODE and BODY of GET /healthz (bash's /dev/tcp; curl may be missing)
CODE="" BODY=""
health() {
    local r
    r=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET /healthz HTTP/1.0\r\n\r\n" >&3
        cat <&3' _ "$MPORT") || return 1
    CODE=$(head -n 1 <<<"$r" | awk '{print $2}')
    BODY=${r#*$'\r\n\r\n'}
}
code_is() { health && [[ $CODE == "$1" ]]; }

start_worker_listening --metrics --redis "$WURL" --redis-password-file "$TMP/pw" --lease 2s --concurrency 2 --name hz
MPORT=$LISTEN_PORT
wait_until 10 code_is 200
assert_eq "ok" "$BODY" "healthy body"
id=$(tq submit tq.noop 1)
assert_exit 0 tq wait "$id" --timeout 5s
sleep 2 # idle past the stall: an idle worker with nothing pending is healthy
code_is 200 || fail "idle worker: $CODE $BODY"

# Redis stops answering: the link's watchdog notices (5 s), then --lease.
t0=$(now)
kill -STOP "$REDIS_PID"
wait_until 20 code_is 503
log "redis stopped: 503 after $(elapsed_since "$t0") s: $BODY"
assert_one_line "$BODY" "503 body (redis)"
assert_contains "$BODY" "redis unreachable" "reason names redis"
assert_contains "$BODY" "--lease 2 s" "reason names the lease"
kill -CONT "$REDIS_PID"
t0=$(now)
wait_until 15 code_is 200
log "redis back: 200 after $(elapsed_since "$t0") s"

# A paused queue holding jobs is not a stuck worker.
assert_exit 0 tq queue pause default
ids=()
for i in 1 2 3; do ids+=("$(tq submit tq.noop "$i")"); done
sleep 3 # twice the stall: the probe has run and found the queue paused
code_is 200 || fail "paused queue with pending jobs: $CODE $BODY"
state_is "${ids[0]}" pending || fail "job ran on a paused queue: $(state_of "${ids[0]}")"

# The worker's claims are refused (its user loses the scripts); jobs pending
# on a queue that is not paused: stuck.
rcli ACL SETUSER tqw -eval -evalsha -eval_ro -evalsha_ro >/dev/null
assert_exit 0 tq queue resume default
t0=$(now)
wait_until 15 code_is 503
log "claims refused: 503 after $(elapsed_since "$t0") s: $BODY"
assert_one_line "$BODY" "503 body (stuck)"
assert_match "$BODY" '^stuck: 2 free slot\(s\) and 3 job\(s\) pending \(queue default\)' "stuck reason"
state_is "${ids[0]}" pending || fail "job left pending: $(state_of "${ids[0]}")"
grep -q "NOPERM" "${WORKER_LOG[$WORKER_PID]}" || fail "the worker did not log its refused claims"
# a job with a fair key is found too (its list is under the ring)
ids+=("$(tq submit --fair-key acme tq.noop 4)")
_fair_seen() { code_is 503 && [[ $BODY == *"jobs pending in fair lists (queue default)"* ]]; }
wait_until 5 _fair_seen
log "with a fair key: $BODY"

# Rights back: it claims (after its error backoff), runs the jobs, healthy.
rcli ACL SETUSER tqw '+@all' >/dev/null
t0=$(now)
assert_exit 0 tq wait "${ids[@]}" --timeout 20s
wait_until 5 code_is 200
log "rights back: jobs done and 200 after $(elapsed_since "$t0") s"

# Jobs parked by a semaphore (one permit, held by a running job) are not
# pending: a free slot waiting for the permit is not stuck.
assert_exit 0 tq semaphore set one 1
holder=$(tq submit --semaphore one tq.sleep 4000)
parked=()
for i in 1 2; do parked+=("$(tq submit --semaphore one tq.noop "$i")"); done
wait_until 5 state_is "$holder" active
sleep 2.5 # past the stall
code_is 200 || fail "jobs parked on a semaphore: $CODE $BODY"
state_is "${parked[0]}" pending || fail "parked job: $(state_of "${parked[0]}")"
assert_exit 0 tq wait "$holder" "${parked[@]}" --timeout 15s

stop_worker "$WORKER_PID"
assert_eq 0 "$WORKER_RC" "worker exit code"
log "ok"
