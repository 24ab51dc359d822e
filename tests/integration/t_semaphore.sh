#!/usr/bin/env bash
# t_semaphore: a cluster-wide semaphore of 2 across three workers. Each job
# records its own start and end time; at no instant do more than 2 overlap,
# yet 2 do run at once (the permits are used). Jobs waiting for a permit hold
# no slot: a plain job submitted behind them runs at once. A SIGKILLed
# worker's permit comes back by itself (its lease ends), and `tq semaphore
# set` wakes parked jobs when the capacity grows.
source "$(dirname "$0")/lib.sh"

start_redis

printf '%s\n' '#!/bin/sh' 'cat >/dev/null' 's=$(date +%s.%N)' 'sleep 0.4' \
    "echo \"\$TQ_JOB_ID \$s \$(date +%s.%N)\" >>\"$TMP/spans.log\"" \
    "echo '\"done\"'" >"$TMP/job.sh"
printf '%s\n' '#!/bin/sh' 'cat >/dev/null' 'sleep 60' >"$TMP/long.sh"
chmod +x "$TMP/job.sh" "$TMP/long.sh"

assert_exit 0 tq semaphore set gpu 2
show=$(tq semaphore show gpu --json)
log "show: $show"
assert_eq 2 "$(jq -r '.[0].capacity' <<<"$show")" "capacity"

for n in a b c; do
    start_worker --concurrency 4 --name "sem-$n" --task "gpu=$TMP/job.sh"
done

ids=()
for i in $(seq 1 9); do ids+=("$(tq submit --semaphore gpu gpu '{}')"); done
# A job with no semaphore, submitted behind the parked ones: slots are free
# (parked jobs hold none), so it runs long before the gpu jobs drain.
free=$(tq submit tq.noop '"free"')
assert_eq '"free"' "$(tq wait "$free" --timeout 30s)" "unblocked job result"

show=$(tq semaphore show gpu --json)
log "while running: $show"
assert_le "$(jq '.[0].holders | length' <<<"$show")" 2 "holders listed"

out=$(tq wait "${ids[@]}" --timeout 30s)
assert_eq 9 "$(grep -c '"done"' <<<"$out")" "all nine succeeded"
# Ordered on Redis's clock, not timed: the plain job ended before the last
# gpu job started (nine 0.4 s jobs, two at a time, take at least 1.6 s).
free_end=$(tq status --json "$free" | jq -r .finished_at)
last_start=$(for id in "${ids[@]}"; do tq status --json "$id" | jq -r .started_at; done | sort -n | tail -1)
log "the plain job finished at $free_end; the last gpu job started at $last_start"
assert_le "$free_end" "$last_start" "plain job not held up behind parked jobs"

# The jobs' own clocks: sweep start/end events, count the overlap.
maxc=$(awk '{print $2, 1; print $3, -1}' "$TMP/spans.log" | sort -k1,1n -k2,2n |
       awk '{c += $2; if (c > m) m = c} END {print m}')
log "most jobs holding the semaphore at once: $maxc"
assert_eq 2 "$maxc" "max concurrent holders (capacity 2, and both used)"

# A dead holder's permit comes back: capacity 1, a long job on a worker
# that is then SIGKILLed; the next job on the semaphore runs once the dead
# worker's lease is gone, on another worker.
assert_exit 0 tq semaphore set one 1
start_worker --concurrency 2 --name sem-dying --lease 2s --queue solo --task "long=$TMP/long.sh"
wa=$WORKER_PID
long=$(tq submit --queue solo --semaphore one --retries 0 --max-lost 0 long '{}')
wait_until 10 state_is "$long" active || fail "long job never started"
next=$(tq submit --queue solo --semaphore one tq.noop '"next"')
sleep 0.5
assert_eq pending "$(tq status "$next")" "second job waits for the permit"
kill_worker "$wa"
start_worker --concurrency 2 --name sem-heir --lease 2s --queue solo
t0=$(now)
assert_eq '"next"' "$(tq wait "$next" --timeout 20s)" "job ran after the holder died"
log "the permit came back after $(elapsed_since "$t0")s"
assert_eq failed "$(tq status "$long")" "the dead holder's job (--max-lost 0)"

# Growing the capacity wakes parked jobs at once.
test_parked() { [[ $(tq semaphore show "$1" --json | jq '.[0].waiting') == "$2" ]]; }
assert_exit 0 tq semaphore set gate 0
g1=$(tq submit --queue solo --semaphore gate tq.noop 1)
g2=$(tq submit --queue solo --semaphore gate tq.noop 2)
wait_until 5 test_parked gate 2 || fail "jobs were not parked on a semaphore of capacity 0"
assert_eq pending "$(tq status "$g1")" "capacity 0 holds jobs back"
assert_exit 0 tq semaphore set gate 5
assert_eq $'1\n2' "$(tq wait "$g1" "$g2" --timeout 5s)" "woken by semaphore set"
