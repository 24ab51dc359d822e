#!/usr/bin/env bash
# t_group: `tq group submit TASK < FILE` makes one job per line in one group
# and prints the group id; `tq group wait` waits for every member (woken by
# the broker), prints their results in submission order, draws a progress
# bar on a terminal only, and exits 1/4/3/5 when a member failed / was
# cancelled / the wait timed out / there is no such group; `tq group status`
# counts per state (and --json); `tq group cancel` cancels every member not
# finished. A group of thousands is created in chunks and keeps its order.
source "$(dirname "$0")/lib.sh"

start_redis
start_worker --concurrency 16 --name groupw

# ---- results in submission order, though members finish in another order.
printf '%s\n' 600 50 400 10 250 '{"ms":120}' >"$TMP/sleeps"
assert_exit 0 tq group submit tq.sleep <"$TMP/sleeps"
gid=$OUT
assert_match "$gid" '^[0-9a-z]{34}$' "group id"
assert_exit 0 tq group wait "$gid" --timeout 20s
t_ret=$(now)
assert_eq '600 50 400 10 250 {"ms":120}' "$(tr "\n" " " <<<"$OUT" | sed "s/ *$//")" \
    "results of group wait"
assert_eq "" "$ERR" "stderr of group wait when stderr is no terminal (no progress bar)"
js=$(tq group status --json "$gid")
log "group status --json: $js"
assert_eq 6 "$(jq .total <<<"$js")" "total"
assert_eq 6 "$(jq .done <<<"$js")" "done"
assert_eq 6 "$(jq .succeeded <<<"$js")" "succeeded"
assert_eq true "$(jq .sealed <<<"$js")" "sealed"
assert_eq true "$(jq .finished <<<"$js")" "finished"
assert_eq 6 "$(jq .states.succeeded <<<"$js")" "states.succeeded"
assert_eq null "$(jq .fanin <<<"$js")" "fanin of a group without --then"
# Every member is a job of the group, in its queue, that ran once.
mapfile -t members < <(tq group submit --json tq.noop <<<'1' | jq -r '.members[]')
assert_eq 1 "${#members[@]}" "members listed by group submit --json"
assert_eq 1 "$(tq wait "${members[0]}" --timeout 10s)" "tq wait on a member"
assert_match "$(field "${members[0]}" group)" '^[0-9a-z]{34}$' "a member's group field"

# ---- group wait is woken by the broker: it returns right after the last
# member ends.
gid=$(printf '%s\n' 300 700 | tq group submit tq.sleep)
tq group wait "$gid" --timeout 20s >/dev/null
t_ret=$(now)
fin=$(tq group status --json "$gid" | jq -r .finished_at)
lat=$(awk -v a="$fin" -v b="$t_ret" 'BEGIN{printf "%.3f", b-a}')
log "group wait returned $lat s after the group finished"
assert_le "$lat" 0.3 "seconds from the group's end to group wait's return"
# ... and a member's wait too.
gid=$(printf '%s\n' 200 500 | tq group submit --json tq.sleep)
m2=$(jq -r '.members[1]' <<<"$gid")
out=$(tq wait "$m2" --timeout 20s)
t_ret=$(now)
assert_eq 500 "$out" "member 2's result"
lat=$(awk -v a="$(field "$m2" finished_at)" -v b="$t_ret" 'BEGIN{printf "%.3f", b-a}')
log "tq wait on a member returned $lat s after it finished"
assert_le "$lat" 0.3 "seconds from a member's end to tq wait's return"

# ---- a progress bar on stderr when it is a terminal (script gives a pty).
gid=$(seq 1 20 | sed 's/.*/150/' | tq group submit tq.sleep)
script -qec "$TQ_BIN/tq group wait $gid --timeout 20s >$TMP/bar.out" "$TMP/bar.tty" >/dev/null
bar=$(tr '\r' '\n' <"$TMP/bar.tty")
log "progress bar, last line: $(grep 'members done' <<<"$bar" | tail -n 1)"
assert_contains "$bar" "20/20 members done" "progress bar on a terminal"
assert_eq 20 "$(grep -c . "$TMP/bar.out")" "results printed with the bar"

# ---- a member that fails: the others still run; exit 1, its line null.
printf '%s\n' 1 '"not a number"' 3 >"$TMP/mixed"
gid=$(tq group submit --retries 0 tq.sleep <"$TMP/mixed")
assert_exit 1 tq group wait "$gid" --timeout 20s
assert_eq "1 null 3" "$(echo $OUT)" "results with a failed member"
assert_contains "$ERR" "member 2" "stderr names the failed member"
assert_contains "$ERR" "failed" "stderr"
js=$(tq group status --json "$gid")
assert_eq 2 "$(jq .states.succeeded <<<"$js")" "succeeded members"
assert_eq 1 "$(jq .states.failed <<<"$js")" "failed members"
assert_eq 1 "$(jq '.total - .succeeded' <<<"$js")" "members that did not succeed"
assert_exit 0 tq group status "$gid"
assert_contains "$OUT" "failed    1" "human group status"

# ---- cancel: members not yet run never run; exit 4. Queue 'idle' has no worker.
gid=$(seq 1 5 | tq group submit --queue idle tq.noop)
assert_eq 5 "$(tq group status --json "$gid" | jq .states.pending)" "pending members"
assert_exit 3 tq group wait "$gid" --timeout 300ms
assert_eq "null null null null null" "$(echo $OUT)" "lines of a timed-out group wait"
assert_contains "$ERR" "timed out" "stderr of a timed-out group wait"
tq group wait "$gid" --timeout 20s >"$TMP/gw.out" 2>&1 &
w=$!
track_bg "$w"
sleep 0.3
t0=$(now)
assert_exit 0 tq group cancel "$gid"
assert_contains "$OUT" "5 cancelled" "group cancel output"
wait_exit "$w" 5 || fail "group wait not woken by group cancel"
log "group wait woken $(elapsed_since "$t0") s after group cancel"
assert_eq 4 "$EXIT_RC" "exit of group wait on a cancelled group"
js=$(tq group status --json "$gid")
assert_eq 5 "$(jq .states.cancelled <<<"$js")" "cancelled members"
assert_eq true "$(jq .finished <<<"$js")" "a cancelled group is finished"
# Cancelling again changes nothing.
assert_exit 0 tq group cancel --json "$gid"
assert_eq 0 "$(jq .cancelled <<<"$OUT")" "second group cancel"
# A running member is stopped by its worker.
gid=$(printf '%s\n' 30000 30000 | tq group submit tq.sleep)
wait_until 10 bash -c "[[ \$('$TQ_BIN/tq' group status --json $gid | jq .states.active) == 2 ]]"
assert_exit 0 tq group cancel --json "$gid"
assert_eq 2 "$(jq .stopping <<<"$OUT")" "running members asked to stop"
assert_exit 4 tq group wait "$gid" --timeout 10s

# ---- a big group: created in chunks, order kept, counted exactly.
seq 1 3000 >"$TMP/big"
t0=$(now)
gid=$(tq group submit tq.noop <"$TMP/big")
log "group submit of 3000 took $(elapsed_since "$t0") s"
assert_exit 0 tq group wait "$gid" --timeout 60s
assert_eq 3000 "$(grep -c . <<<"$OUT")" "lines of group wait"
[[ $OUT == "$(cat "$TMP/big")" ]] || fail "results of a 3000-member group are not in submission order"
js=$(tq group status --json "$gid")
assert_eq "3000 3000 3000" "$(jq -r '"\(.total) \(.done) \(.succeeded)"' <<<"$js")" "counts"

# ---- an empty group is finished at once.
gid=$(tq group submit tq.noop </dev/null)
assert_exit 0 tq group wait "$gid" --timeout 5s
assert_eq "" "$OUT" "group wait of an empty group"
assert_eq true "$(tq group status --json "$gid" | jq .finished)" "empty group finished"

# ---- unknown groups, bad input.
unknown=01jzzzzzzzzzzzzzzzzzzzzzzz
for sub in wait status cancel; do
    assert_exit 5 tq group "$sub" "$unknown"
    assert_one_line "$ERR"
done
assert_exit 2 tq group
assert_exit 2 tq group frob x
assert_exit 2 tq group wait
assert_exit 2 tq group wait --priority 3 "$unknown"
assert_exit 2 tq group submit --unique k tq.noop </dev/null
assert_exit 2 tq group submit tq.noop <<<'{bad'
assert_contains "$ERR" "line 1" "stderr of a bad line"

log "ok"
