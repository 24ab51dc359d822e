#!/usr/bin/env bash
# t_logs: an exec job's stderr is kept with its record (SPEC §12): the last
# 64 KiB, for success and failure alike, expiring with the record; `tq logs
# ID` prints it (exit 5: no such job), and what a running job wrote so far;
# `tq logs -f ID` follows a running job live (each byte once) and ends when
# the job ends.
source "$(dirname "$0")/lib.sh"

start_redis

cat >"$TMP/ok.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
echo "warming up" >&2
echo "<script>alert(1)</script>" >&2
echo '{"r":1}'
EOF
cat >"$TMP/bad.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
echo "about to fail" >&2
echo "the disk is on fire" >&2
exit 3
EOF
cat >"$TMP/big.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
seq 1 40000 >&2
echo '"big"'
EOF
cat >"$TMP/slow.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
i=1
while [ $i -le 12 ]; do
    echo "tick $i" >&2
    i=$((i + 1))
    sleep 0.3
done
echo '"slow"'
EOF
chmod +x "$TMP"/*.sh
seq 1 40000 >"$TMP/big.all"

start_worker --concurrency 4 --name logw --task "ok=$TMP/ok.sh" \
    --task "bad=$TMP/bad.sh" --task "big=$TMP/big.sh" --task "slow=$TMP/slow.sh"

# ---- success: kept
id=$(tq submit ok)
assert_json_eq '{"r":1}' "$(tq wait "$id" --timeout 20s)" "result"
assert_eq $'warming up\n<script>alert(1)</script>' "$(tq logs "$id")" "tq logs of a success"
assert_eq 37 "$(field "$id" log_bytes)" "log_bytes"

# ---- failure: kept too (and the error still has its tail)
id=$(tq submit --retries 0 bad)
assert_exit 1 tq wait "$id" --timeout 20s
assert_eq $'about to fail\nthe disk is on fire' "$(tq logs "$id")" "tq logs of a failure"
assert_contains "$(field "$id" error)" "the disk is on fire" "error text"

# ---- only the last 64 KiB
id=$(tq submit big)
assert_eq '"big"' "$(tq wait "$id" --timeout 20s)" "big result"
tq logs "$id" >"$TMP/big.kept"
assert_eq 65536 "$(wc -c <"$TMP/big.kept" | tr -d ' ')" "kept bytes"
tail -c 65536 "$TMP/big.all" | cmp -s - "$TMP/big.kept" || fail "kept text is not the last 64 KiB"
assert_eq "$(wc -c <"$TMP/big.all" | tr -d ' ')" "$(field "$id" log_bytes)" "log_bytes of big"

# ---- expires with the record
id=$(tq submit --result-ttl 2s ok)
tq wait "$id" --timeout 20s >/dev/null
lk="$TQ_NAMESPACE:{default}:log:$id"
jk="$TQ_NAMESPACE:{default}:j:$id"
ttl=$(rcli PTTL "$lk")
jttl=$(rcli PTTL "$jk")
log "log key PTTL $ttl ms, record PTTL $jttl ms"
[[ $ttl -gt 0 && $ttl -le 2000 && $jttl -gt 0 ]] || fail "log key PTTL $ttl, record $jttl"
d=$((ttl - jttl)); d=${d#-}
assert_le "$d" 100 "log and record expire together (ms apart)"
wait_until 5 bash -c "[[ \$(redis-cli -p $REDIS_PORT EXISTS '$lk' '$jk') == 0 ]]"
assert_exit 5 tq logs "$id"
assert_contains "$ERR" "no such job" "tq logs of an expired job"
assert_exit 5 tq logs 01m8ks7kdxhg8pjmdprpn9p2w9xepta5m6
assert_exit 2 tq logs 'a b/c'

# ---- a running job: what it wrote so far, and -f follows it live
id=$(tq submit slow)
wait_until 10 state_is "$id" active
sleep 1
now=$(tq logs "$id")
log "so far: $(tr '\n' '|' <<<"$now")"
assert_contains "$now" "tick 1" "tq logs of a running job"
tq logs -f "$id" >"$TMP/follow.out" 2>"$TMP/follow.err" &
fpid=$!
track_bg $fpid
sleep 1.2
live=$(cat "$TMP/follow.out")
log "follower after 1.2 s: $(tr '\n' '|' <<<"$live")"
state_is "$id" active || fail "the job ended before the live check"
n1=$(grep -c tick <<<"$live" || true)
[[ $n1 -ge 4 ]] || fail "the follower shows $n1 lines while running"
sleep 1
n2=$(grep -c tick "$TMP/follow.out" || true)
[[ $n2 -gt $n1 ]] || fail "no new lines reached the follower live ($n1 then $n2)"
wait_exit "$fpid" 10 || fail "tq logs -f did not end with the job"
[[ $EXIT_RC == 0 ]] || fail "tq logs -f exited $EXIT_RC: $(cat "$TMP/follow.err")"
state_is "$id" succeeded || fail "follower ended before the job"
expect=$(for i in $(seq 1 12); do echo "tick $i"; done)
assert_eq "$expect" "$(cat "$TMP/follow.out")" "followed output: every line once, in order"
# -f of a finished job prints what is kept and ends at once
assert_eq "$expect" "$(timeout 5 "$TQ_BIN/tq" logs -f "$id")" "tq logs -f of a finished job"
log "ok"
