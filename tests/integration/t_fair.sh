#!/usr/bin/env bash
# t_fair: --fair-key KEY (SPEC §11 "Fairness"). One worker at concurrency 1
# drains 200 jobs of key A queued before 5 of key B and 5 without a key:
# the B jobs and the keyless ones (one key together) start within the first
# ~15 starts (round-robin), not after A's 200; a priority 9 job without a
# key, queued last, still starts first. tq jobs --state pending lists the
# fair jobs, tq stats counts them; once drained no ring is left. A fair job
# whose worker is SIGKILLed is reclaimed and runs again. tq purge and tq
# queue rm leave no key of the queue. Bad keys exit 2, nothing sent.
source "$(dirname "$0")/lib.sh"

start_redis
P="$TQ_NAMESPACE:{default}"

# ---- bad input: exit 2, one line, nothing sent
assert_exit 2 tq submit --fair-key $'a\001b' tq.noop
assert_one_line "$ERR"
assert_contains "$ERR" "--fair-key"
assert_contains "$ERR" "control character"
assert_exit 2 tq submit --fair-key "$(printf 'k%.0s' $(seq 1 129))" tq.noop
assert_contains "$ERR" "over the limit"
assert_exit 2 tq submit --fair-key '' tq.noop
assert_exit 2 tq submit-many --fair-key $'x\ty' tq.noop <<<'1'
assert_exit 2 tq group submit --fair-key $'x\ty' tq.noop <<<'1'
assert_exit 2 tq submit --fair-key
assert_eq 0 "$(rcli DBSIZE)" "nothing reached Redis"

# ---- the backlog: 200 x A, then 5 x B, 5 without a key, 1 priority 9
seq 1 200 | tq submit-many --fair-key A tq.noop >"$TMP/a"
seq 1 5 | tq submit-many --fair-key B tq.noop >"$TMP/b"
seq 1 5 | tq submit-many tq.noop >"$TMP/plain"
hi=$(tq submit --priority 9 tq.noop '"hi"')
assert_eq 200 "$(rcli LLEN "$P:p0:f:A")" "A's list"
assert_eq "A,B," "$(rcli LRANGE "$P:p0:ring" 0 -1 | paste -sd,)" "the ring: A, B, then '' (the keyless jobs)"
assert_eq A "$(field "$(head -n 1 "$TMP/a")" fair_key)" "the record's fk"

# tq jobs --state pending lists them all
assert_exit 0 tq jobs --state pending --limit 1000 --json
assert_eq 211 "$(jq length <<<"$OUT")" "tq jobs --state pending: fair jobs too"
assert_exit 0 tq stats --json
assert_eq 211 "$(jq '.[] | select(.queue == "default") | .pending' <<<"$OUT")" "tq stats: pending counts fair jobs"

start_worker --concurrency 1
w1=$WORKER_PID
wait_until 30 state_is "$(tail -n 1 "$TMP/a")" succeeded
# start order, by started_at (Redis's clock, us)
: >"$TMP/starts"
for f in a b plain; do
    while read -r id; do
        echo "$(field "$id" started_at) $f" >>"$TMP/starts"
    done <"$TMP/$f"
done
echo "$(field "$hi" started_at) hi" >>"$TMP/starts"
sort -n "$TMP/starts" | awk '{print NR, $2}' >"$TMP/order"
assert_eq "1 hi" "$(head -n 1 "$TMP/order")" "priority 9 without a key first"
lastb=$(awk '$2 == "b" {n = $1} END {print n}' "$TMP/order")
lastp=$(awk '$2 == "plain" {n = $1} END {print n}' "$TMP/order")
log "last B job started #$lastb, last keyless job #$lastp (of 211)"
assert_le "$lastb" 20 "the 5 B jobs start within the first ~20 starts"
assert_le "$lastp" 20 "the 5 keyless jobs start within the first ~20 starts"
assert_eq 0 "$(rcli EXISTS "$P:p0:ring" "$P:p0:f:A" "$P:p0:f:B" "$P:fair")" "drained: no ring, list or fair hash left"

# ---- a fair job whose worker dies is reclaimed and runs again
stop_worker "$w1"
start_worker --concurrency 1 --lease 1s
w2=$WORKER_PID
lost=$(tq submit --fair-key C tq.sleep 3000)
wait_until 10 state_is "$lost" active
kill_worker "$w2"
start_worker --concurrency 1 --lease 1s
assert_eq '3000' "$(tq wait "$lost" --timeout 20s)" "the reclaimed fair job ran again"
assert_eq 2 "$(field "$lost" attempt)" "delivered again after the kill"
assert_eq 1 "$(rcli HGET "$P:j:$lost" lost)" "counted lost once"
assert_eq 0 "$(rcli EXISTS "$P:p0:ring" "$P:p0:f:C" "$P:fair")" "no ring left"

# ---- tq purge and tq queue rm leave no key behind
seq 1 3 | tq submit-many --queue fq --fair-key K tq.noop >/dev/null
seq 1 3 | tq submit-many --queue fq --priority 4 --fair-key L tq.noop >/dev/null
tq submit --queue fq tq.noop >/dev/null
assert_exit 0 tq purge fq --yes
assert_eq "" "$(rcli --scan --pattern "$TQ_NAMESPACE:{fq}:p*")" "purge: no pending list, ring or fair list"
assert_eq 0 "$(rcli EXISTS "$TQ_NAMESPACE:{fq}:fair")" "purge: no fair hash"
seq 1 3 | tq submit-many --queue fr --fair-key K tq.noop >/dev/null
tq submit --queue fr --fair-key "a key:with {odd} chars" tq.noop >/dev/null
assert_exit 2 tq queue rm fr
assert_contains "$ERR" "(4 pending" "queue rm counts the fair jobs"
assert_exit 0 tq queue rm fr --yes
assert_eq "" "$(rcli --scan --pattern "$TQ_NAMESPACE:{fr}:*")" "queue rm: no key of the queue left"
log "ok"
