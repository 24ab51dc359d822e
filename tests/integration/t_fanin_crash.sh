#!/usr/bin/env bash
# t_fanin_crash: a fan-in survives the crash of a member's worker. Members
# held by a SIGKILLed worker are delivered again elsewhere; the broker counts
# each member once, so the fan-in runs exactly once, with the right array.
# Then the other way to deliver twice: a worker paused (SIGSTOP) past its
# lease while the member runs again elsewhere, then resumed: its late report
# is refused, the member is not counted twice and the fan-in runs once.
source "$(dirname "$0")/lib.sh"

start_redis

cat >"$TMP/collect.sh" <<'EOF'
#!/bin/sh
args=$(cat)
echo "$TQ_JOB_ID $args" >>"$TQ_RUNS"
echo "$args"
EOF
chmod +x "$TMP/collect.sh"
export TQ_RUNS=$TMP/runs
: >"$TQ_RUNS"

# gsubmit ARGS... <FILE: tq group submit --json; sets GID, FID, MEMBERS.
gsubmit() {
    local js
    js=$(tq group submit --json "$@")
    GID=$(jq -r .group <<<"$js")
    FID=$(jq -r '.fanin // empty' <<<"$js")
    mapfile -t MEMBERS < <(jq -r '.members[]' <<<"$js")
}
active_on() { field_test "$1" ".state == \"active\" and (.worker | contains(\"$2\"))"; }

# ---- 1. SIGKILL: one member finished before the crash, four die with it.
start_worker --concurrency 8 --lease 3s --name crashA --task "collect=$TMP/collect.sh"
pidA=$WORKER_PID
printf '%s\n' 50 4000 4100 4200 4300 >"$TMP/in"
gsubmit --retries 0 --then collect tq.sleep <"$TMP/in"
log "group $GID, fan-in $FID"
wait_until 10 state_is "${MEMBERS[0]}" succeeded
for m in "${MEMBERS[@]:1}"; do wait_until 10 active_on "$m" crashA; done
assert_eq 1 "$(tq group status --json "$GID" | jq .done)" "done before the crash"
kill_worker "$pidA"
t_kill=$(now)
start_worker --concurrency 8 --lease 3s --name crashB --task "collect=$TMP/collect.sh"

out=$(tq wait "$FID" --timeout 25s)
log "fan-in done $(elapsed_since "$t_kill") s after the kill"
assert_json_eq '[50,4000,4100,4200,4300]' "$out" "fan-in result"
assert_json_eq '[50,4000,4100,4200,4300]' "$(field "$FID" args)" "fan-in args"
assert_eq 1 "$(field "$FID" attempt)" "fan-in attempt"
assert_eq 1 "$(field "${MEMBERS[0]}" attempt)" "attempt of the member done before the crash"
for m in "${MEMBERS[@]:1}"; do
    assert_eq 2 "$(field "$m" attempt)" "attempt of member $m (delivered again)"
    assert_contains "$(field "$m" worker)" crashB "worker of member $m"
done
js=$(tq group status --json "$GID")
assert_eq "5 5 5" "$(jq -r '"\(.total) \(.done) \(.succeeded)"' <<<"$js")" "group counts"
sleep 1
assert_eq 1 "$(grep -c "^$FID " "$TQ_RUNS")" "runs of the fan-in"
assert_exit 0 tq group wait "$GID" --timeout 5s
assert_eq "50 4000 4100 4200 4300" "$(echo $OUT)" "group wait after the crash"

# ---- 2. SIGSTOP past the lease: the member runs again elsewhere, then the
# paused worker wakes and reports too late.
stop_worker "$WORKER_PID"
start_worker --concurrency 4 --lease 2s --queue paused --name crashC --task "collect=$TMP/collect.sh"
pidC=$WORKER_PID
printf '%s\n' 1500 20 >"$TMP/in"
gsubmit --queue paused --retries 0 --then collect tq.sleep <"$TMP/in"
wait_until 10 active_on "${MEMBERS[0]}" crashC
kill -STOP "$pidC"
log "worker C paused while it runs ${MEMBERS[0]}"
start_worker --concurrency 4 --lease 2s --queue paused --name crashD --task "collect=$TMP/collect.sh"
wait_until 15 field_test "${MEMBERS[0]}" '.state == "succeeded" and (.worker | contains("crashD"))'
kill -CONT "$pidC"
log "worker C resumed"
out=$(tq wait "$FID" --timeout 20s)
assert_json_eq '[1500,20]' "$out" "fan-in result after the pause"
sleep 2   # C's late outcome (or its lost-lease notice) has been handled by now
assert_eq 2 "$(field "${MEMBERS[0]}" attempt)" "attempt of the paused member"
assert_contains "$(field "${MEMBERS[0]}" worker)" crashD "who finished it"
js=$(tq group status --json "$GID")
assert_eq "2 2 2" "$(jq -r '"\(.total) \(.done) \(.succeeded)"' <<<"$js")" "group counts after a late report"
assert_eq 1 "$(grep -c "^$FID " "$TQ_RUNS")" "runs of the second fan-in"
assert_eq 1 "$(field "$FID" attempt)" "second fan-in attempt"

log "ok"
