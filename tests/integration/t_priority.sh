#!/usr/bin/env bash
# t_priority: --priority 0..9, higher first within a queue (FIFO within a
# priority), even at concurrency 1 (no prefetch); a worker's --queue flags in
# strict order; every way to submit carries the priority (submit-many, group
# members and fan-in, chain links).
source "$(dirname "$0")/lib.sh"

start_redis

# start_order ID...: the ids sorted by started_at.
start_order() {
    local id
    for id in "$@"; do echo "$(field "$id" started_at) $id"; done | sort -n | cut -d' ' -f2 | xargs
}

# ---- one queue, concurrency 1: a backlog piles up behind a running job.
start_worker --concurrency 1 --name prio1
pid1=$WORKER_PID
blocker=$(tq submit tq.sleep 1500)
wait_until 10 state_is "$blocker" active
a=$(tq submit --priority 0 tq.noop '"a0"')
b=$(tq submit --priority 5 tq.noop '"b5"')
c=$(tq submit --priority 9 tq.noop '"c9"')
d=$(tq submit tq.noop '"d0"')
e=$(tq submit --priority 9 tq.noop '"e9"')
f=$(tq submit --priority 3 tq.noop '"f3"')
mapfile -t many < <(printf '"m7a"\n"m7b"\n' | tq submit-many --priority 7 tq.noop)
member=$(printf '"g8"\n' | tq group submit --json --priority 8 tq.noop | jq -r '.members[0]')
tq wait "$a" "$b" "$c" "$d" "$e" "$f" "${many[@]}" "$member" --timeout 20s >/dev/null
got=$(start_order "$c" "$e" "$member" "${many[@]}" "$b" "$f" "$a" "$d")
want="$c $e $member ${many[*]} $b $f $a $d"
log "start order: $(for id in $got; do tq result "$id"; done | xargs)"
assert_eq "$want" "$got" "start order by priority (9 9 8 7 7 5 3 0 0)"
# The worker claims the next job once the blocker's slot is free, before the
# broker has recorded the blocker's end (docs/design.md §5): so the bound is
# the blocker's 1.5 s, not its finished_at.
for id in $got; do
    assert_le "$(awk -v s="$(field "$blocker" started_at)" 'BEGIN{printf "%.6f", s + 1.5}')" \
        "$(field "$id" started_at)" "no job ran beside the blocker"
done

# ---- chain links and fan-in jobs carry the priority.
mapfile -t chain < <(tq submit --priority 6 --then tq.noop tq.noop 1)
assert_eq 6 "$(field "${chain[1]}" priority)" "priority of a chain link"
mapfile -t gf < <(printf '1\n' | tq group submit --priority 4 --then tq.noop tq.noop)
assert_eq 4 "$(field "${gf[1]}" priority)" "priority of a fan-in job"
tq wait "${chain[1]}" "${gf[1]}" --timeout 10s >/dev/null
# A chain link that becomes ready jumps a lower-priority backlog.
blocker=$(tq submit tq.sleep 600)
wait_until 10 state_is "$blocker" active
mapfile -t chain < <(tq submit --priority 9 --then tq.noop tq.sleep 300)
mapfile -t low < <(seq 1 5 | tq submit-many --priority 1 tq.noop)
tq wait "${chain[1]}" "${low[@]}" --timeout 20s >/dev/null
got=$(start_order "${chain[1]}" "${low[@]}")
assert_eq "${chain[1]}" "${got%% *}" "the p9 chain link ran before the p1 backlog"
stop_worker "$pid1"

# ---- --queue flags in strict order, at concurrency 1.
start_worker --concurrency 1 --queue hi --queue lo --name prio2
blocker=$(tq submit --queue hi tq.sleep 1500)
wait_until 10 state_is "$blocker" active
mapfile -t lo < <(printf '%s\n' 1 2 3 | tq submit-many --queue lo --priority 9 tq.noop)
mapfile -t hi < <(printf '%s\n' 4 5 6 | tq submit-many --queue hi tq.noop)
tq wait "${lo[@]}" "${hi[@]}" --timeout 20s >/dev/null
got=$(start_order "${lo[@]}" "${hi[@]}")
log "start order across queues: $(for id in $got; do tq result "$id"; done | xargs)"
assert_eq "${hi[*]} ${lo[*]}" "$got" "queue hi (even at p0) before queue lo (p9)"

# ---- bad priorities are refused.
assert_exit 2 tq submit --priority 10 tq.noop
assert_exit 2 tq submit --priority -1 tq.noop
assert_exit 2 tq submit --priority high tq.noop

log "ok"
