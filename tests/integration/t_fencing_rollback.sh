#!/usr/bin/env bash
# t_fencing_rollback: a failover can roll a claim back (Redis replicates
# asynchronously: the new master may never have seen it). The job is pending
# again there and is delivered again while the first holder still runs it.
# The new delivery must get a token the lost one never had, so the first
# holder's outcome is refused and the record keeps the second's (SPEC §2,
# Fencing). A counter kept in the record alone hands out the same token twice.
source "$(dirname "$0")/lib.sh"

start_redis
jk() { echo "$TQ_NAMESPACE:{default}:j:$1"; }

cat >"$TMP/who.sh" <<'EOF2'
#!/bin/sh
cat >/dev/null
sleep 2
echo "\"$TQ_WHO\""
EOF2
chmod +x "$TMP/who.sh"

TQ_WHO=A start_worker --concurrency 1 --name rollA --task "who=$TMP/who.sh"
pidA=$WORKER_PID
id=$(tq submit --retries 0 who)
wait_until 10 state_is "$id" active
tokA=$(rcli hget "$(jk "$id")" tok)
log "A holds $id with token $tokA"

# What the record looked like before the claim, as a promoted replica that
# missed the claim has it: pending, in its queue, no lease.
rcli hset "$(jk "$id")" state pending tok 0 attempt 0 >/dev/null
rcli hdel "$(jk "$id")" worker started_at >/dev/null
rcli zrem "$TQ_NAMESPACE:{default}:active" "$id" >/dev/null
prio=$(rcli hget "$(jk "$id")" priority)
rcli rpush "$TQ_NAMESPACE:{default}:p${prio:-0}" "$id" >/dev/null

TQ_WHO=B start_worker --concurrency 1 --name rollB --task "who=$TMP/who.sh"
pidB=$WORKER_PID
wait_until 10 field_test "$id" '.worker | contains("rollB")'
tokB=$(rcli hget "$(jk "$id")" tok)
log "B holds $id with token $tokB"
[[ $tokB != "$tokA" ]] || fail "the second delivery got the lost one's token $tokA"

out=$(tq wait "$id" --timeout 20s)
assert_eq '"B"' "$out" "result (the second delivery's)"
wait_until 10 grep -q '"event":"refused"\|outcome refused' "${WORKER_LOG[$pidA]}"
assert_eq B "$(field "$id" result)" "result after A reported"
assert_contains "$(field "$id" worker)" rollB "worker"
grep -q 'outcome refused' "${WORKER_LOG[$pidB]}" && fail "B's outcome was refused"
log "ok"
