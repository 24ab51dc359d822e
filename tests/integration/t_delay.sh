#!/usr/bin/env bash
# t_delay: --delay and --at keep a job `scheduled` until its time, never
# start it early, and start it promptly after with an idle worker; the idle
# worker blocks on Redis until then instead of polling. Delays work on every
# way to submit (submit, submit-many, group submit, a chain's head), and a
# scheduled job can be cancelled.
#
# Lateness is measured against --at (the exact due time) with the broker's
# clock (started_at). Redis ends a blocking call's timeout on its cron tick
# (`hz`, 10 by default: up to 100 ms late), so the worker keeps a timer of
# its own for the next due job; lateness must not depend on hz. Both are
# measured and bounded here.
source "$(dirname "$0")/lib.sh"

start_redis
start_worker --concurrency 4 --name delayw

# late_ms AT ID: how late the job started, in ms (negative = early).
late_ms() { awk -v a="$1" -v s="$(field "$2" started_at)" 'BEGIN{printf "%.1f", (s - a) * 1000}'; }

# measure N: N jobs --at staggered times; sets MAX and MEAN lateness in
# ms; fails if one started early.
measure() {
    local n=$1 i at id late sum=0 max=-1000 ids=() ats=()
    for ((i = 0; i < n; i++)); do
        at=$(awk -v t="$(now)" -v k="$i" 'BEGIN{printf "%.3f", t + 0.4 + k * 0.137}')
        id=$(tq submit --at "$at" tq.noop "$i")
        assert_eq scheduled "$(state_of "$id")" "state of a job due in the future"
        ids+=("$id")
        ats+=("$at")
    done
    tq wait "${ids[@]}" --timeout 20s >/dev/null
    for ((i = 0; i < n; i++)); do
        late=$(late_ms "${ats[$i]}" "${ids[$i]}")
        # --at is rounded to the ms; started_at has µs: allow 1 ms.
        assert_le -1 "$late" "job due at ${ats[$i]} started early (${late} ms)"
        sum=$(awk -v a="$sum" -v b="$late" 'BEGIN{print a + b}')
        max=$(awk -v a="$max" -v b="$late" 'BEGIN{print (b > a) ? b : a}')
        echo "$late" >>"$TMP/late.log"
    done
    MAX=$max
    MEAN=$(awk -v s="$sum" -v n="$n" 'BEGIN{printf "%.1f", s / n}')
}

# ---- --delay: scheduled, then run no earlier than asked.
id=$(tq submit --delay 1s tq.noop '"later"')
assert_eq scheduled "$(state_of "$id")" "state right after submit --delay 1s"
sleep 0.6
assert_eq scheduled "$(state_of "$id")" "state 0.6 s later"
assert_eq '"later"' "$(tq wait "$id" --timeout 10s)" "result"
gap=$(awk -v c="$(field "$id" created_at)" -v s="$(field "$id" started_at)" 'BEGIN{printf "%.3f", s - c}')
log "--delay 1s: started $gap s after created"
assert_le 0.999 "$gap" "--delay 1s started early"
assert_le "$gap" 1.3 "--delay 1s started late"

# ---- the idle worker waits on Redis, not in a polling loop: a few calls
# over 3 s while the only job is due in 4 s.
id=$(tq submit --delay 4s tq.noop 1)
rcli config resetstat >/dev/null
sleep 3
stats=$(rcli info commandstats)
calls() { sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" <<<"$stats" | tr -d '\r'; }
log "commands in 3 s of waiting: evalsha $(calls evalsha), blpop $(calls blpop)"
assert_le "$(calls evalsha)" 20 "script calls by an idle worker in 3 s"
assert_le "$(calls blpop)" 6 "BLPOPs by an idle worker in 3 s"
assert_eq 1 "$(tq wait "$id" --timeout 10s)" "the job due in 4 s"

# ---- --at: never early; lateness with the default hz 10.
measure 8
log "lateness with hz 10: max $MAX ms, mean $MEAN ms"
assert_le "$MAX" 60 "worst lateness (ms) with hz 10"
# ... and with hz 100.
rcli config set hz 100 >/dev/null
measure 8
log "lateness with hz 100: max $MAX ms, mean $MEAN ms"
assert_le "$MAX" 60 "worst lateness (ms) with hz 100"
rcli config set hz 10 >/dev/null

# ---- every way to submit honours the delay.
mapfile -t ids < <(printf '%s\n' 1 2 3 | tq submit-many --delay 700ms tq.noop)
for id in "${ids[@]}"; do assert_eq scheduled "$(state_of "$id")" "submit-many --delay"; done
gid=$(printf '%s\n' 1 2 | tq group submit --delay 700ms tq.noop)
assert_eq 2 "$(tq group status --json "$gid" | jq .states.scheduled)" "group submit --delay"
mapfile -t chain < <(tq submit --delay 700ms --then tq.noop tq.noop 5)
assert_eq scheduled "$(state_of "${chain[0]}")" "chain head with --delay"
t0=$(now)
assert_eq "1 2 3" "$(tq wait "${ids[@]}" --timeout 10s | xargs)" "submit-many results"
assert_exit 0 tq group wait "$gid" --timeout 10s
assert_eq 5 "$(tq wait "${chain[1]}" --timeout 10s)" "chain result"
for id in "${ids[@]}" "${chain[0]}"; do
    gap=$(awk -v c="$(field "$id" created_at)" -v s="$(field "$id" started_at)" 'BEGIN{printf "%.3f", s - c}')
    assert_le 0.699 "$gap" "job $id started early"
done

# ---- a scheduled job cancelled never runs.
id=$(tq submit --delay 1s tq.noop 1)
assert_exit 0 tq cancel "$id"
assert_eq cancelled "$(state_of "$id")" "cancelled while scheduled"
sleep 1.3
assert_eq cancelled "$(state_of "$id")" "after its due time"
assert_eq 0 "$(field "$id" attempt)" "attempt of a job cancelled while scheduled"

# ---- bad input
assert_exit 2 tq submit --delay -1s tq.noop
assert_exit 2 tq submit --delay 1s --at 1900000000 tq.noop
assert_exit 2 tq submit --at yesterday tq.noop

log "ok"
