#!/usr/bin/env bash
# t_ttl: --result-ttl DUR (default 24 h): a terminal job's record expires DUR
# after it ends (and nothing else of the job is left), and then status/wait say "no such job"
# (exit 5). A job not yet terminal never expires. A group member's record
# expires DUR after its own end, as any job's; the group's own keys (and the
# results kept for its fan-in) DUR after its last member ended.
source "$(dirname "$0")/lib.sh"

start_redis
start_worker --concurrency 8 --name ttlw

jkey() { echo "$TQ_NAMESPACE:{${2:-default}}:j:$1"; }

# ---- default: 24 h.
id=$(tq submit tq.noop 1)
tq wait "$id" --timeout 10s >/dev/null
for k in "$(jkey "$id")"; do
    ttl=$(rcli pttl "$k")
    assert_le 86300000 "$ttl" "PTTL of $k (default 24 h)"
    assert_le "$ttl" 86400000 "PTTL of $k (default 24 h)"
done
assert_eq 86400 "$(field "$id" result_ttl)" "result_ttl in the record (s)"

# ---- --result-ttl 1s: gone a second after it ended.
id=$(tq submit --result-ttl 1s tq.noop '"short"')
assert_eq '"short"' "$(tq wait "$id" --timeout 10s)" "result"
ttl=$(rcli pttl "$(jkey "$id")")
assert_le 1 "$ttl" "PTTL right after the end"
assert_le "$ttl" 1000 "PTTL right after the end"
assert_eq '"short"' "$(tq result "$id")" "result within the ttl"
sleep 1.2
assert_exit 5 tq status "$id"
assert_exit 5 tq wait "$id" --timeout 1s
assert_eq "" "$(rcli --scan --pattern "*$id*")" "keys naming the job after expiry"
# Failed and cancelled records expire the same way.
f=$(tq submit --retries 0 --result-ttl 500ms tq.fail '"x"')
c=$(tq submit --queue idle --result-ttl 500ms tq.noop 1)
assert_exit 0 tq cancel "$c"
assert_exit 1 tq wait "$f" --timeout 10s
sleep 0.8
assert_exit 5 tq status "$f"
assert_exit 5 tq status "$c"

# ---- not terminal: no expiry, however short the ttl.
s=$(tq submit --delay 2s --result-ttl 500ms tq.noop 1)
q=$(tq submit --queue idle --result-ttl 500ms tq.noop 1)
mapfile -t chain < <(tq submit --queue idle --result-ttl 500ms --then tq.noop tq.noop 1)
sleep 1
assert_eq scheduled "$(state_of "$s")" "a scheduled job past its ttl"
assert_eq pending "$(state_of "$q")" "a pending job past its ttl"
assert_eq waiting "$(state_of "${chain[1]}")" "a waiting chain link past its ttl"
assert_eq -1 "$(rcli pttl "$(jkey "$q" idle)")" "PTTL of a pending record"
assert_eq 1 "$(tq wait "$s" --timeout 10s)" "the scheduled job still ran"

# ---- groups: each member expires DUR after its own end, the group DUR
# after its last member's; the fan-in gets every result even so (the group
# keeps them for it).
js=$(printf '%s\n' 50 2000 | tq group submit --json --result-ttl 1s --then tq.noop tq.sleep)
gid=$(jq -r .group <<<"$js")
fid=$(jq -r .fanin <<<"$js")
mapfile -t m < <(jq -r '.members[]' <<<"$js")
gkey="$TQ_NAMESPACE:{default}:g:$gid"
wait_until 5 state_is "${m[0]}" succeeded
ttl=$(rcli pttl "$(jkey "${m[0]}")")
assert_le 1 "$ttl" "PTTL of a finished member"
assert_le "$ttl" 1000 "PTTL of a finished member"
sleep 1.2
assert_exit 5 tq status "${m[0]}"
assert_eq -1 "$(rcli pttl "$gkey")" "PTTL of an unfinished group"
assert_exit 0 tq group status "$gid"
assert_json_eq '[50,2000]' "$(tq wait "$fid" --timeout 10s)" "fan-in result after member 1 expired"
assert_exit 5 tq group wait "$gid" --timeout 10s
assert_eq "null 2000" "$(echo $OUT)" "group wait with an expired member"
assert_contains "$ERR" "member 1" "stderr names the expired member"
for k in "$gkey" "$(jkey "${m[1]}")" "$(jkey "$fid")"; do
    ttl=$(rcli pttl "$k")
    assert_le 1 "$ttl" "PTTL of $k once the group is done"
    assert_le "$ttl" 1000 "PTTL of $k once the group is done"
done
sleep 1.2
assert_exit 5 tq group status "$gid"
assert_exit 5 tq group wait "$gid" --timeout 1s
for id in "${m[@]}" "$fid"; do assert_exit 5 tq status "$id"; done
assert_eq 0 "$(rcli --scan --pattern "$TQ_NAMESPACE:*$gid*" | grep -c . || true)" "keys of the group left"

# ---- bad input
assert_exit 2 tq submit --result-ttl 0 tq.noop
assert_exit 2 tq submit --result-ttl soon tq.noop

log "ok"
