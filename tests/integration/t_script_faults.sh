#!/usr/bin/env bash
# t_script_faults: nothing a key holds makes a script stop halfway (Redis
# does not roll a script back). Job records and queue keys are corrupted
# with redis-cli under a claim batch and an ack batch: the healthy jobs
# finish normally, exactly once (attempt 1); each corrupt one is in the
# dead-letter list with an error saying what was wrong; nothing stays
# `active` without a lease; the worker goes on. Also: an ack `notask`
# outcome (script side, through EVALSHA), and a result_ttl that is not a
# positive number (docs/design.md §3, §4). Keys of other types: a group, a
# chain's next link, semaphore holders, a --unique key.
source "$(dirname "$0")/lib.sh"

start_redis
ns=$TQ_NAMESPACE
jk() { echo "$ns:{default}:j:$1"; }
qk() { echo "$ns:{default}:$1"; }
dlq_has() { tq dlq list | grep -qF -- "$1"; }
# the error of a dead-lettered job (its record may be a fresh one)
err_of() { rcli hget "$(jk "$1")" error; }
healthy() {
    local id
    for id in "$@"; do
        assert_eq '"ok"' "$(tq wait "$id" --timeout 15s)" "healthy job $id"
        assert_eq 1 "$(field "$id" attempt)" "healthy job $id ran once"
    done
}

# ---- 1. a claim batch: a string over a job hash, state=bogus, attempt=abc
ids=()
for i in $(seq 1 9); do ids+=("$(tq submit tq.noop '"ok"')"); done
str=${ids[2]} bogus=${ids[4]} abc=${ids[6]}
rcli del "$(jk "$str")" >/dev/null
rcli set "$(jk "$str")" junk >/dev/null
rcli hset "$(jk "$bogus")" state bogus >/dev/null
rcli hset "$(jk "$abc")" attempt abc >/dev/null
# a negative and a non-numeric result_ttl must not delete the record at once
neg=${ids[0]} nan=${ids[1]}
rcli hset "$(jk "$neg")" result_ttl -5 >/dev/null
rcli hset "$(jk "$nan")" result_ttl abc >/dev/null

start_worker --concurrency 16 --name faultw
healthy "${ids[3]}" "${ids[5]}" "${ids[7]}" "${ids[8]}"
for id in "$str" "$bogus" "$abc"; do wait_until 10 dlq_has "$id"; done
log "string over a hash -> $(err_of "$str")"
log "state=bogus        -> $(err_of "$bogus")"
log "attempt=abc        -> $(err_of "$abc")"
assert_contains "$(err_of "$str")" "corrupt record: key held a string, moved to $(jk "$str"):bad" "error of a string record"
assert_eq junk "$(rcli get "$(jk "$str"):bad")" "the string, moved aside"
assert_contains "$(err_of "$bogus")" 'unknown state "bogus"' "error of state=bogus"
assert_contains "$(err_of "$abc")" "attempt" "error of attempt=abc"
assert_eq failed "$(tq status "$bogus")" "state of the bogus record"
# (read with redis-cli: reading them in the client is the client's part)
rstate_is() { [[ $(rcli hget "$(jk "$1")" state) == "$2" ]]; }
for id in "$neg" "$nan"; do
    wait_until 10 rstate_is "$id" succeeded
    assert_eq 1 "$(rcli hget "$(jk "$id")" attempt)" "attempt of a record with a bad result_ttl"
    ttl=$(rcli pttl "$(jk "$id")")
    assert_le 3600000 "$ttl" "PTTL of a record with a bad result_ttl"
done
assert_eq 0 "$(rcli zcard "$(qk active)")" "active after the claim batch"

# ---- 2. an ack batch: jobs corrupted while they run, wrong-typed stats and
# dead keys
ids=()
for i in $(seq 1 6); do ids+=("$(tq submit --retries 0 tq.sleep 1500)"); done
failer=$(tq submit --delay 1s --retries 3 tq.fail '"boom"')
rcli hset "$(jk "$failer")" fails abc >/dev/null
wait_until 10 state_is "${ids[5]}" active
str=${ids[1]} bogus=${ids[3]}
rcli del "$(jk "$str")" >/dev/null
rcli rpush "$(jk "$str")" junk >/dev/null
rcli hset "$(jk "$bogus")" state bogus >/dev/null
rcli del "$(qk stats)" "$(qk dead)" >/dev/null
rcli set "$(qk stats)" junk >/dev/null
rcli rpush "$(qk dead)" junk >/dev/null
for id in "${ids[0]}" "${ids[2]}" "${ids[4]}" "${ids[5]}"; do
    assert_eq 1500 "$(tq wait "$id" --timeout 15s)" "healthy job $id"
    assert_eq 1 "$(field "$id" attempt)" "healthy job $id ran once"
done
for id in "$str" "$bogus" "$failer"; do wait_until 10 dlq_has "$id"; done
log "list over a hash -> $(err_of "$str")"
log "state=bogus      -> $(err_of "$bogus")"
log "fails=abc        -> $(err_of "$failer")"
assert_contains "$(err_of "$str")" "key held a list" "error of a list record"
assert_contains "$(err_of "$failer")" "fails" "error of fails=abc"
assert_eq 1 "$(field "$failer" attempt)" "a corrupt record is not retried"
assert_eq hash "$(rcli type "$(qk stats)")" "stats key, rebuilt"
assert_eq zset "$(rcli type "$(qk dead)")" "dead key, rebuilt"
assert_eq junk "$(rcli get "$(qk stats):bad")" "the stats key, moved aside"
assert_exit 0 tq stats --json
log "stats: $(jq -c . <<<"$OUT")"
active_empty() { [[ $(rcli zcard "$(qk active)") == 0 ]]; }
wait_until 10 active_empty

# ---- 3. a group key of another type: its members still finish, once
printf '1000\n1000\n' >"$TMP/members"
gid=$(tq group submit tq.sleep <"$TMP/members")
gk="$ns:{default}:g:$gid"
rcli del "$gk" >/dev/null
rcli set "$gk" junk >/dev/null
mapfile -t members < <(rcli lrange "$ns:{default}:gm:$gid" 0 -1)
assert_eq 2 "${#members[@]}" "members of the group"
for id in "${members[@]}"; do
    assert_eq 1000 "$(tq wait "$id" --timeout 15s)" "member $id"
    assert_eq 1 "$(field "$id" attempt)" "member $id ran once"
done
assert_eq junk "$(rcli get "$gk:bad")" "the group key, moved aside"

# ---- 4. a chain's next link, a semaphore's holders and a --unique key of
# another type: the job that reaches them still finishes, once
mapfile -t chain < <(tq submit tq.sleep 1000 --then tq.noop)
rcli del "$(jk "${chain[1]}")" >/dev/null
rcli set "$(jk "${chain[1]}")" junk >/dev/null
assert_eq 1000 "$(tq wait "${chain[0]}" --timeout 15s)" "head of a chain"
assert_eq 1 "$(field "${chain[0]}" attempt)" "head ran once"
wait_until 10 dlq_has "${chain[1]}"
assert_contains "$(err_of "${chain[1]}")" "key held a string" "error of the next link"
rcli set "$ns:sem:h:s1" junk >/dev/null
id=$(tq submit --semaphore s1 tq.noop '"ok"')
healthy "$id"
assert_eq junk "$(rcli get "$ns:sem:h:s1:bad")" "semaphore holders, moved aside"
uk="$ns:{default}:u:k1"
rcli rpush "$uk" junk >/dev/null
assert_exit 6 tq submit --unique k1 tq.noop '"ok"'
assert_one_line "$ERR" "submit with a unique key of another type"
log "unique key of another type -> $ERR"
assert_eq 0 "$(rcli llen "$(qk p0)")" "nothing pending after the refused submit"
rcli del "$uk" >/dev/null
id=$(tq submit --unique k1 tq.sleep 1000)
wait_until 10 state_is "$id" active
rcli del "$uk" >/dev/null
rcli hset "$uk" junk 1 >/dev/null
assert_eq 1000 "$(tq wait "$id" --timeout 15s)" "job whose unique key became a hash"
assert_eq 1 "$(field "$id" attempt)" "it ran once"
pid_alive "$WORKER_PID" || fail "the worker died"
stop_worker "$WORKER_PID"
assert_eq 0 "$WORKER_RC" "worker exit"

# ---- 5. ack outcome notask (no worker runs here: EVALSHA by hand). It does
# not count in fails; the job is scheduled again 1 s, 2 s, 4 s later while
# notask <= max_lost (3), then fails with an error naming the task.
ack_sha=$(sed -n 's/^#define TQ_LUA_ACK_SHA "\(.*\)"$/\1/p' "$TQ_BIN/gen/tq_scripts.h")
[[ -n $ack_sha ]] || fail "no ack SHA in $TQ_BIN/gen/tq_scripts.h"
rcli script load "$(sed -n '/^#define TQ_LUA_ACK_SRC/,/^    ""$/p' "$TQ_BIN/gen/tq_scripts.h" |
    sed -e '1d' -e '$d' -e 's/^    "//' -e 's/\\n" \\$//' -e 's/\\"/"/g' -e 's/\\\\/\\/g')" >/dev/null
id=$(tq submit --delay 1h tq.nosuch)
rcli zrem "$(qk sched)" "$id" >/dev/null
pkeys=() ; for p in $(seq 0 9); do pkeys+=("$(qk "p$p")"); done
notask_ack() { # tok
    rcli hset "$(jk "$id")" state active tok "$1" attempt "$1" >/dev/null
    rcli zrem "$(qk sched)" "$id" >/dev/null
    rcli zadd "$(qk active)" 9999999999999 "$id" >/dev/null
    rcli evalsha "$ack_sha" 15 "$(qk active)" "$(qk sched)" "$(qk dead)" "$(qk stats)" \
        "$(qk wake)" "${pkeys[@]}" "$ns:{default}:j:" "$ns:done:" "$ns:sem:" 1 \
        "$id" "$1" notask "unknown task 'tq.nosuch'" 1
}
retried0=$(rcli hget "$(qk stats)" retried); retried0=${retried0:-0}
redis_ms() { local sec usec; { read -r sec; read -r usec; } < <(rcli time); echo $(( sec * 1000 + usec / 1000 )); }
for n in 1 2 3; do
    # with jitter 1 the retry is due exactly 2^(n-1) s after the ack ran,
    # which is between the two clock readings around it
    before=$(redis_ms)
    assert_eq 1 "$(notask_ack "$n")" "ack notask $n applied"
    after=$(redis_ms)
    assert_eq scheduled "$(tq status "$id")" "after notask $n"
    assert_eq "$n" "$(rcli hget "$(jk "$id")" notask)" "notask count"
    due=$(rcli zscore "$(qk sched)" "$id")
    want=$(( 1000 * (1 << (n - 1)) ))
    log "notask $n: due $(( due - before )) ms after the ack was sent (want $want)"
    assert_le $(( before + want )) "$due" "delay after notask $n"
    assert_le "$due" $(( after + want )) "delay after notask $n"
done
assert_eq "" "$(rcli hget "$(jk "$id")" fails)" "notask does not count in fails"
assert_eq $((retried0 + 3)) "$(rcli hget "$(qk stats)" retried)" "stats retried"
assert_eq 1 "$(notask_ack 4)" "ack notask 4 applied"
assert_eq failed "$(tq status "$id")" "after notask 4 (max_lost 3)"
log "notask 4 -> $(err_of "$id")"
assert_contains "$(err_of "$id")" "unknown task 'tq.nosuch': no worker that claimed it has this task (4 tries)" "error"
dlq_has "$id" || fail "notask job not in the dead-letter list"
assert_eq 0 "$(rcli zcard "$(qk active)")" "active at the end"
log "ok"
