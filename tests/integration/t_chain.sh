#!/usr/bin/env bash
# t_chain: `tq submit --then B --then C A ARGS` creates every job of the chain
# at once (later ones `waiting`) and prints the ids head first; each later
# job runs with the previous one's result as its args; a job that does not
# succeed (fails, is cancelled) cancels the rest of its chain, with an error
# naming it; --wait waits for the last link; tq wait on any link returns
# within a few ms of it ending.
source "$(dirname "$0")/lib.sh"

start_redis

cat >"$TMP/inc.sh" <<'EOF'
#!/bin/sh
# args: a number; result: that number + 1
n=$(cat)
echo $((n + 1))
EOF
cat >"$TMP/wrap.sh" <<'EOF'
#!/bin/sh
# args: any JSON; result: {"got": args}
printf '{"got":%s}\n' "$(cat)"
EOF
chmod +x "$TMP"/*.sh

# ---- created at once, before any worker runs: head pending, rest waiting.
mapfile -t ids < <(tq submit --then inc --then wrap inc 41)
assert_eq 3 "${#ids[@]}" "ids printed by a chain of 3"
for i in 0 1 2; do assert_match "${ids[$i]}" '^[0-9a-z]{34}$' "id $i"; done
assert_eq pending "$(state_of "${ids[0]}")" "head before a worker"
assert_eq waiting "$(state_of "${ids[1]}")" "link 2 before a worker"
assert_eq waiting "$(state_of "${ids[2]}")" "link 3 before a worker"
assert_eq "${ids[1]}" "$(field "${ids[0]}" next)" "head's next"
assert_eq "${ids[0]}" "$(field "${ids[1]}" parent)" "link 2's parent"
assert_eq "${ids[2]}" "$(field "${ids[1]}" next)" "link 2's next"
assert_eq "${ids[1]}" "$(field "${ids[2]}" parent)" "link 3's parent"
assert_eq null "$(field "${ids[1]}" args)" "args of a waiting link"

start_worker --concurrency 4 --name chainw --task "inc=$TMP/inc.sh" --task "wrap=$TMP/wrap.sh"

# ---- each link gets the previous result; tq wait on the last link.
out=$(tq wait "${ids[2]}" --timeout 20s)
assert_json_eq '{"got":43}' "$out" "result of inc 41 | inc | wrap"
assert_eq 42 "$(tq result "${ids[0]}")" "head's result"
assert_eq 43 "$(tq result "${ids[1]}")" "link 2's result"
assert_eq 42 "$(field "${ids[1]}" args)" "link 2's args = head's result"
assert_eq 43 "$(field "${ids[2]}" args)" "link 3's args = link 2's result"
for i in 0 1 2; do assert_eq 1 "$(field "${ids[$i]}" attempt)" "attempt of link $i"; done
# Links ran in order: each started after the one before finished.
for i in 1 2; do
    fin=$(field "${ids[$((i - 1))]}" finished_at)
    st=$(field "${ids[$i]}" started_at)
    assert_le "$fin" "$st" "link $i started after link $((i - 1)) finished"
done

# ---- --wait: the result of the last link, after a longer chain.
out=$(tq submit --wait --then inc --then inc --then inc --then inc inc 0)
assert_eq 5 "$out" "submit --wait of a chain of 5 incs"

# ---- a link that fails cancels the rest, naming it.
mapfile -t ids < <(tq submit --retries 0 --then tq.fail --then inc --then inc tq.noop '"boom"')
assert_exit 4 tq wait "${ids[3]}" --timeout 20s
assert_eq null "$OUT" "stdout of wait on a cancelled link"
assert_eq succeeded "$(state_of "${ids[0]}")" "head"
assert_eq failed "$(state_of "${ids[1]}")" "the failing link"
assert_eq boom "$(field "${ids[1]}" error)" "its error"
assert_eq cancelled "$(state_of "${ids[2]}")" "link after the failure"
assert_eq cancelled "$(state_of "${ids[3]}")" "last link"
assert_eq "cancelled: ${ids[1]} failed" "$(field "${ids[2]}" error)" "error of link 3"
assert_eq "cancelled: ${ids[2]} cancelled" "$(field "${ids[3]}" error)" "error of link 4"
assert_eq 0 "$(field "${ids[2]}" attempt)" "a cancelled link never ran"
assert_exit 4 tq submit --wait --retries 0 --then inc tq.fail '"x"'
assert_contains "$ERR" "cancelled: " "stderr of --wait on a chain whose head fails"

# ---- cancelling a waiting link by hand cancels the links after it, and the
# link before it still runs. Queue 'held' has no worker yet.
mapfile -t ids < <(tq submit --queue held --then inc --then inc --then inc inc 0)
assert_exit 0 tq cancel "${ids[1]}"
assert_eq pending "$(state_of "${ids[0]}")" "head after cancelling link 2"
assert_eq cancelled "$(state_of "${ids[1]}")" "link 2"
assert_eq cancelled "$(state_of "${ids[2]}")" "link 3 (cascade)"
assert_eq cancelled "$(state_of "${ids[3]}")" "link 4 (cascade)"
assert_eq "cancelled: ${ids[2]} cancelled" "$(field "${ids[3]}" error)" "error of link 4"
start_worker --concurrency 2 --queue held --name heldw --task "inc=$TMP/inc.sh"
assert_eq 1 "$(tq wait "${ids[0]}" --timeout 20s)" "the head still runs"
sleep 0.3
assert_eq cancelled "$(state_of "${ids[1]}")" "link 2 stays cancelled after the head succeeded"

# ---- tq wait on a middle link returns within a few ms of it ending.
mapfile -t ids < <(tq submit --then tq.sleep --then tq.sleep tq.sleep 300)
out=$(tq wait "${ids[1]}" --timeout 20s)
t_ret=$(now)
assert_eq 300 "$out" "result of link 2"
fin=$(field "${ids[1]}" finished_at)
lat=$(awk -v a="$fin" -v b="$t_ret" 'BEGIN{printf "%.3f", b-a}')
log "wait on a chain link returned $lat s after it finished"
assert_le "$lat" 0.3 "seconds from link 2's end to tq wait's return"
assert_eq 300 "$(tq wait "${ids[2]}" --timeout 20s)" "last link"

# ---- a delayed chain: the head is scheduled, the rest wait for it.
mapfile -t ids < <(tq submit --delay 1s --then inc inc 1)
assert_eq scheduled "$(state_of "${ids[0]}")" "head of a delayed chain"
assert_eq waiting "$(state_of "${ids[1]}")" "link 2 of a delayed chain"
assert_eq 3 "$(tq wait "${ids[1]}" --timeout 20s)" "delayed chain's result"

# ---- bad input: refused before anything reaches Redis.
before=$(rcli dbsize)
assert_exit 2 tq submit --then '' inc 1
assert_one_line "$ERR"
assert_exit 2 tq submit --unique k --then inc inc 1
assert_contains "$ERR" "--unique" "stderr"
assert_exit 2 tq submit --then inc inc '{bad'
assert_exit 2 tq submit-many --then inc inc </dev/null
assert_eq "$before" "$(rcli dbsize)" "keys after refused chains"

log "ok"
