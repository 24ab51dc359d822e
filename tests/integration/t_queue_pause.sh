#!/usr/bin/env bash
# t_queue_pause: tq queue pause|resume Q, cluster-wide and immediate. With
# two idle workers, a job submitted to a paused queue does not start (within
# 2 s), nor does a delayed job that comes due meanwhile (it stays
# scheduled); another queue of the same workers goes on; a job running when
# the pause came finishes; tq stats shows PAUSED (table and --json); the
# idle workers make no more than a few claims while paused (they park, no
# spinning); resume starts everything within ~1 s. Bad input exits 2.
source "$(dirname "$0")/lib.sh"

start_redis
start_worker --concurrency 2 --queue default --queue other --name p1
start_worker --concurrency 2 --queue default --queue other --name p2

# ---- bad input: exit 2, one line, nothing sent
assert_exit 2 tq queue
assert_exit 2 tq queue pause
assert_exit 2 tq queue stop default
assert_exit 2 tq queue pause 'a{b}'
assert_one_line "$ERR"
assert_exit 2 tq queue pause default --yes

# ---- a job running when the pause comes finishes
running=$(tq submit tq.sleep 1500)
wait_until 10 state_is "$running" active
assert_exit 0 tq queue pause default
assert_contains "$OUT" "paused"
assert_exit 0 tq queue pause default
assert_contains "$OUT" "already"
t0=$(now)

# ---- submitted while paused: accepted, not started
a=$(tq submit tq.noop '"a"')
mapfile -t many < <(printf '1\n2\n3\n4\n' | tq submit-many tq.noop)
due=$(tq submit --delay 300ms tq.noop '"due"')
o=$(tq submit --queue other tq.noop '"other"')
assert_eq '"other"' "$(tq wait "$o" --timeout 5s)" "another queue of the same workers runs"
tq wait "$running" --timeout 5s >/dev/null
assert_eq succeeded "$(state_of "$running")" "the running job finished during the pause"

rcli CONFIG RESETSTAT >/dev/null
sleep 2
for id in "$a" "${many[@]}"; do
    assert_eq pending "$(state_of "$id")" "a job of the paused queue, 2 s on"
done
assert_eq scheduled "$(state_of "$due")" "a delayed job that came due while paused"
calls=$(rcli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p')
log "EVALSHA calls in 2 s of pause with 2 idle workers: ${calls:-0}"
# each worker: a claim of each queue every 2 s (the BLPOP's longest wait),
# plus reclaims and beats (~1/s each): no spinning
assert_le "${calls:-0}" 40 "script calls while paused"

# ---- tq stats shows it
assert_exit 0 tq stats
assert_match "$(grep '^default ' <<<"$OUT")" 'paused$' "stats table: PAUSED column"
assert_exit 0 tq stats --json
assert_eq true "$(jq -r '.[] | select(.queue == "default") | .paused' <<<"$OUT")" "stats --json: paused"
assert_eq false "$(jq -r '.[] | select(.queue == "other") | .paused' <<<"$OUT")" "stats --json: other queue"

# ---- resume: everything starts within ~1 s
t1=$(now)
assert_exit 0 tq queue resume default --json
assert_eq true "$(jq -r .changed <<<"$OUT")" "resume --json"
tq wait "$a" "${many[@]}" "$due" --timeout 5s >/dev/null
for id in "$a" "${many[@]}" "$due"; do
    s=$(field "$id" started_at)
    lag=$(awk -v s="$s" -v t="$t1" 'BEGIN{printf "%.3f", s - t}')
    log "job $id started $lag s after resume"
    assert_le "$lag" 1.0 "start after resume"
    assert_le "$(awk -v t="$t0" 'BEGIN{printf "%.3f", t + 2}')" "$s" "nothing started during the pause"
done
assert_exit 0 tq queue resume default
assert_contains "$OUT" "already"
assert_exit 0 tq stats --json
assert_eq false "$(jq -r '.[] | select(.queue == "default") | .paused' <<<"$OUT")" "stats after resume"

# ---- a queue paused before its first submit is listed (and paused)
assert_exit 0 tq queue pause fresh
assert_exit 0 tq stats --json
assert_eq true "$(jq -r '.[] | select(.queue == "fresh") | .paused' <<<"$OUT")" "a fresh paused queue"
log "ok"
