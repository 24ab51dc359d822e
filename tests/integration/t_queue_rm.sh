#!/usr/bin/env bash
# t_queue_rm: tq queue rm Q --yes deletes every key of the queue (pending,
# scheduled, dead-lettered, finished records, groups, unique keys, the
# pause flag, the terminal index) and tq stats no longer lists it; other
# queues are untouched. Without --yes: exit 2 naming what would go; with
# jobs running and no --force: exit 1, nothing deleted. A waiter on a
# deleted job is told. Bad names exit 2.
source "$(dirname "$0")/lib.sh"

start_redis
NS=$TQ_NAMESPACE

assert_exit 2 tq queue rm
assert_exit 2 tq queue rm 'bad{q}' --yes
assert_one_line "$ERR"
assert_exit 2 tq queue pause typo --force

# a queue with something in every place (no worker yet)
tq submit --queue typo tq.noop 1 >/dev/null
tq submit --queue typo --delay 1h tq.noop 2 >/dev/null
tq submit --queue typo --unique u1 tq.noop 3 >/dev/null
printf '1\n2\n' | tq group submit --queue typo --then tq.noop tq.noop >/dev/null
waited=$(tq submit --queue typo tq.noop '"w"')
keep=$(tq submit --queue keep tq.noop '"keep"')
tq queue pause typo >/dev/null
# a job that ran to the end (terminal index) and one dead-lettered
start_worker --queue typo --concurrency 2 --name rm1
tq queue resume typo >/dev/null
f=$(tq submit --queue typo --retries 0 tq.fail '"boom"')
wait_until 10 state_is "$f" failed
tq wait "$waited" --timeout 5s >/dev/null
stop_worker "$WORKER_PID"
log "keys of typo: $(rcli --scan --pattern "$NS:{typo}:*" | wc -l)"

# ---- without --yes: exit 2, says what would go, nothing deleted
assert_exit 2 tq queue rm typo
assert_one_line "$ERR"
assert_contains "$ERR" "add --yes"
assert_contains "$ERR" "pending"
[[ $(rcli --scan --pattern "$NS:{typo}:*" | wc -l) -gt 5 ]] || fail "keys gone without --yes"

# ---- running jobs, no --force: exit 1, nothing deleted
start_worker --queue typo --concurrency 1 --name rm2
wpid=$WORKER_PID
r=$(tq submit --queue typo tq.sleep 3000)
wait_until 10 state_is "$r" active
assert_exit 1 tq queue rm typo --yes
assert_contains "$ERR" "--force"
assert_eq active "$(state_of "$r")" "a refused rm deletes nothing"
stop_worker "$wpid" KILL
w2=$(tq submit --queue typo tq.noop '"w2"')
tq wait "$w2" --timeout 30s >"$TMP/waitout" 2>&1 &
track_bg $!
waiter=$!
waits() { [[ -n $(rcli HGET "$NS:{typo}:j:$w2" w) ]]; }
wait_until 5 waits

# ---- --force: everything goes
assert_exit 0 tq queue rm typo --yes --force
log "$OUT"
assert_contains "$OUT" "removed queue typo"
assert_eq 0 "$(rcli --scan --pattern "$NS:{typo}:*" | wc -l)" "keys of the removed queue"
assert_exit 0 tq stats --json
assert_eq "" "$(jq -r '.[] | select(.queue == "typo") | .queue' <<<"$OUT")" "stats no longer lists it"
assert_eq keep "$(jq -r '.[] | select(.queue == "keep") | .queue' <<<"$OUT")" "other queue kept"
assert_eq pending "$(state_of "$keep")" "a job of another queue"
wait_exit "$waiter" 10 || fail "the waiter on a deleted job still waits"
log "waiter: exit $EXIT_RC: $(tr '\n' ' ' <"$TMP/waitout")"
assert_eq 5 "$EXIT_RC" "tq wait on a job deleted by rm"
assert_exit 5 tq status "$w2"

# ---- the queue can be used again: a new submit registers it
id=$(tq submit --queue typo tq.noop 1)
assert_exit 0 tq stats --json
assert_eq 1 "$(jq -r '.[] | select(.queue == "typo") | .pending' <<<"$OUT")" "queue used again"
assert_exit 0 tq queue rm typo --yes --json
assert_eq true "$(jq -r .removed <<<"$OUT")" "rm --json"
assert_exit 5 tq status "$id"
log "ok"
