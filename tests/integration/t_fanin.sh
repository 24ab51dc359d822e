#!/usr/bin/env bash
# t_fanin: `tq group submit --then TASK2` creates the fan-in job at once, in
# state `waiting`, and prints its id on a second line. It runs once, with the
# JSON array of the members' results in submission order, when every member
# has succeeded; if any member ends otherwise it ends `cancelled`, its error
# naming the members that did not succeed (the first 10, then "and N more").
# tq wait on the fan-in returns within a few ms of its end. A dead-lettered
# member retried later is counted once.
source "$(dirname "$0")/lib.sh"

start_redis

# The fan-in task records each run, so a second run would show.
cat >"$TMP/sum.sh" <<'EOF'
#!/bin/sh
args=$(cat)
echo "$TQ_JOB_ID $args" >>"$TQ_RUNS"
echo "$args" | jq -c '{n: length, sum: (map(if type == "number" then . else .ms end) | add)}'
EOF
chmod +x "$TMP/sum.sh"
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

# ---- created at once; waiting while the members run. (No worker yet.)
printf '%s\n' 300 '{"ms":100}' 200 5 >"$TMP/in"
mapfile -t out < <(tq group submit --then sum tq.sleep <"$TMP/in")
assert_eq 2 "${#out[@]}" "lines printed by group submit --then"
gid=${out[0]}
fid=${out[1]}
assert_match "$fid" '^[0-9a-z]{34}$' "fan-in id"
assert_eq waiting "$(state_of "$fid")" "fan-in before any member ran"
assert_eq "$gid" "$(field "$fid" parent)" "fan-in's parent is its group"
assert_eq sum "$(field "$fid" task)" "fan-in's task"
assert_eq "$fid" "$(tq group status --json "$gid" | jq -r .fanin)" "group's fanin"
assert_eq waiting "$(tq group status --json "$gid" | jq -r .fanin_state)" "fanin_state"

start_worker --concurrency 8 --name faninw --task "sum=$TMP/sum.sh"

# ---- runs with the results in submission order, once.
out=$(tq wait "$fid" --timeout 20s)
t_ret=$(now)
assert_json_eq '{"n":4,"sum":605}' "$out" "fan-in result"
assert_json_eq '[300,{"ms":100},200,5]' "$(field "$fid" args)" "fan-in args"
lat=$(awk -v a="$(field "$fid" finished_at)" -v b="$t_ret" 'BEGIN{printf "%.3f", b-a}')
log "tq wait on the fan-in returned $lat s after it finished"
assert_le "$lat" 0.3 "seconds from the fan-in's end to tq wait's return"
assert_eq 1 "$(field "$fid" attempt)" "fan-in attempt"
# It started only after the group (its last member) finished.
last=$(tq group status --json "$gid" | jq -r .finished_at)
assert_le "$last" "$(field "$fid" started_at)" "fan-in started after the last member"
sleep 0.5
assert_eq 1 "$(grep -c "^$fid " "$TQ_RUNS")" "runs of the fan-in"

# ---- results in submission order for a group bigger than one chunk.
seq 1 1200 | tq group submit --then sum tq.noop >"$TMP/ids"
fid=$(sed -n 2p "$TMP/ids")
assert_json_eq '{"n":1200,"sum":720600}' "$(tq wait "$fid" --timeout 30s)" "fan-in of 1200"
[[ $(field "$fid" args) == "[$(seq -s, 1 1200)]" ]] || fail "fan-in args of 1200 members are not 1..1200 in order"

# ---- a member that fails: the fan-in is cancelled, naming it; it never runs.
printf '%s\n' 10 '"x"' 30 >"$TMP/in"
gsubmit --retries 0 --then sum tq.sleep <"$TMP/in"
gid=$GID
fid=$FID
assert_exit 4 tq wait "$fid" --timeout 20s
assert_eq cancelled "$(state_of "$fid")" "fan-in after a member failed"
bad=${MEMBERS[1]}
err=$(field "$fid" error)
log "fan-in error: $err"
assert_contains "$err" "$bad failed" "fan-in error names the failed member"
assert_contains "$err" "1 of 3" "fan-in error counts"
assert_eq 0 "$(field "$fid" attempt)" "a cancelled fan-in never ran"
assert_eq 0 "$(grep -c "^$fid " "$TQ_RUNS")" "runs of the cancelled fan-in"
assert_exit 1 tq group wait "$gid" --timeout 5s

# ---- many failures: the first 10 named, then "and N more".
mapfile -t out < <(seq 1 25 | sed 's/.*/"bad"/' | tq group submit --retries 0 --then sum tq.fail)
fid=${out[1]}
assert_exit 4 tq wait "$fid" --timeout 20s
err=$(field "$fid" error)
assert_contains "$err" "25 of 25 members" "error of a fan-in with 25 failures"
assert_contains "$err" "and 15 more" "error of a fan-in with 25 failures"
assert_eq 10 "$(grep -o ' failed' <<<"$err" | wc -l)" "members named"

# ---- a cancelled member (group cancel while members wait): fan-in cancelled.
mapfile -t out < <(seq 1 3 | tq group submit --queue idle --then sum tq.noop)
gid=${out[0]}
fid=${out[1]}
tq wait "$fid" --timeout 20s >/dev/null 2>&1 &
w=$!
track_bg "$w"
sleep 0.2
assert_exit 0 tq group cancel "$gid"
wait_exit "$w" 5 || fail "tq wait on the fan-in not woken by group cancel"
assert_eq 4 "$EXIT_RC" "exit of tq wait on the fan-in of a cancelled group"
assert_contains "$(field "$fid" error)" "3 of 3 members" "error of the fan-in"
# Cancelling the fan-in itself leaves the members alone.
mapfile -t out < <(printf '%s\n' 400 400 | tq group submit --then sum tq.sleep)
gid=${out[0]}
fid=${out[1]}
assert_exit 0 tq cancel "$fid"
assert_eq cancelled "$(state_of "$fid")" "fan-in cancelled by hand"
assert_exit 0 tq group wait "$gid" --timeout 20s
assert_eq "400 400" "$(echo $OUT)" "members after their fan-in was cancelled"
assert_eq cancelled "$(state_of "$fid")" "fan-in stays cancelled"

# ---- a failed member retried from the dead-letter list is counted once.
printf '%s\n' 1 '"oops"' >"$TMP/in"
gsubmit --retries 0 --then sum tq.sleep <"$TMP/in"
gid=$GID
assert_exit 1 tq group wait "$gid" --timeout 20s
assert_eq "2 1" "$(tq group status --json "$gid" | jq -r '"\(.done) \(.succeeded)"')" \
    "done/succeeded with a failed member"
bad=${MEMBERS[1]}
fin1=$(tq group status --json "$gid" | jq -r .finished_at)
assert_exit 0 tq dlq retry "$bad"
wait_until 10 field_test "$bad" '.attempt == 2 and .state == "failed"'
assert_exit 1 tq group wait "$gid" --timeout 20s
js=$(tq group status --json "$gid")
assert_eq "2 2 1" "$(jq -r '"\(.total) \(.done) \(.succeeded)"' <<<"$js")" \
    "counts after the retried member failed again (done not 3)"
fin2=$(tq group status --json "$gid" | jq -r .finished_at)
assert_le "$fin1" "$fin2" "the group completed again"
[[ $fin1 != "$fin2" ]] || fail "the group was not reopened by the retry"

log "ok"
