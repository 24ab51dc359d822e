#!/usr/bin/env bash
# t_jobs: tq jobs --queue Q --state S [--limit N] [--json] lists the right
# ids, newest first, for every state: pending (priority lists), scheduled,
# active, dead (dead-letter list), succeeded/failed/cancelled (the terminal
# index P:{Q}:done:STATE). --limit cuts; a terminal job whose record expired
# is not listed; a retried job is listed once; no --state lists every state;
# bad input exits 2.
source "$(dirname "$0")/lib.sh"

start_redis
NS=$TQ_NAMESPACE
ids() { tq jobs --json "$@" | jq -r '.[].id' | xargs; }

assert_exit 2 tq jobs --state bogus
assert_one_line "$ERR"
assert_contains "$ERR" "bogus"
assert_exit 2 tq jobs --limit 0
assert_exit 2 tq jobs --limit x
assert_exit 2 tq jobs --queue 'a{b}'
assert_exit 2 tq jobs extra

# ---- pending, across priorities, newest created first
p1=$(tq submit --queue jq tq.noop 1); sleep 0.01
p2=$(tq submit --queue jq --priority 5 tq.noop 2); sleep 0.01
p3=$(tq submit --queue jq tq.noop 3)
assert_eq "$p3 $p2 $p1" "$(ids --queue jq --state pending)" "pending, newest first"
assert_eq "$p3 $p2" "$(ids --queue jq --state pending --limit 2)" "--limit 2"
# a cancelled pending job stays in its list but is not listed as pending
assert_exit 0 tq cancel "$p2"
assert_eq "$p3 $p1" "$(ids --queue jq --state pending)" "pending after a cancel"
assert_eq "$p2" "$(ids --queue jq --state cancelled)" "cancelled"

# ---- scheduled: latest due first
s1=$(tq submit --queue jq --delay 1h tq.noop 4)
s2=$(tq submit --queue jq --delay 2h tq.noop 5)
assert_eq "$s2 $s1" "$(ids --queue jq --state scheduled)" "scheduled"

# ---- waiting: the later links of a chain and a group's fan-in, newest
# first, until they are started or cancelled
ch=($(tq submit --queue jw --then tq.noop --then tq.noop tq.noop '"c"'))
gs=($(printf '1\n2\n' | tq group submit --queue jw --then tq.noop tq.noop))
assert_eq "${gs[1]} ${ch[2]} ${ch[1]}" "$(ids --queue jw --state waiting)" "waiting"
assert_exit 0 tq cancel "${ch[0]}"
assert_eq "${gs[1]}" "$(ids --queue jw --state waiting)" "waiting after the chain's head was cancelled"
start_worker --queue jw
assert_exit 0 tq wait "${gs[1]}" --timeout 10s
assert_eq "" "$(ids --queue jw --state waiting)" "waiting after the fan-in ran"
assert_eq 0 "$(rcli zcard "$NS:{jw}:waiting")" "the waiting index is empty"
stop_worker "$WORKER_PID"
w1=($(tq submit --queue jw --then tq.noop tq.noop 1))
assert_exit 0 tq cancel "${w1[1]}"
assert_eq 0 "$(rcli zcard "$NS:{jw}:waiting")" "a waiting link cancelled by hand leaves the index"

# ---- the table: a header and one row per job, columns of SPEC §11
assert_exit 0 tq jobs --queue jq --state pending
assert_match "$(head -1 <<<"$OUT")" '^ID +TASK +STATE +ATTEMPT +CREATED +STARTED +ERROR$' "header"
assert_eq 3 "$(wc -l <<<"$OUT")" "table rows"
assert_match "$(sed -n 2p <<<"$OUT")" "^$p3 +tq.noop +pending +0 " "a row"

# ---- active, succeeded, failed, dead
start_worker --queue jq --concurrency 4 --name j1
tq wait "$p1" "$p3" --timeout 5s >/dev/null
a=$(tq submit --queue jq tq.sleep 5000)
wait_until 10 state_is "$a" active
assert_eq "$a" "$(ids --queue jq --state active)" "active"
assert_exit 0 tq jobs --queue jq --state active --json
assert_eq 1 "$(jq -r '.[0].attempt' <<<"$OUT")" "attempt in --json"
assert_eq jq "$(jq -r '.[0].queue' <<<"$OUT")" "queue in --json"
jq -e '.[0].started_at > 0 and .[0].created_at > 0 and .[0].finished_at == null' <<<"$OUT" >/dev/null ||
    fail "times in --json: $OUT"
assert_eq "$p3 $p1" "$(ids --queue jq --state succeeded)" "succeeded, latest finished first"
long=$(printf 'x%.0s' {1..300})
f1=$(tq submit --queue jq --retries 0 tq.fail "\"first $long\""); tq wait "$f1" >/dev/null 2>&1 || true
f2=$(tq submit --queue jq --retries 0 tq.fail '"second"'); tq wait "$f2" >/dev/null 2>&1 || true
assert_eq "$f2 $f1" "$(ids --queue jq --state failed)" "failed"
assert_eq "$f2 $f1" "$(ids --queue jq --state dead)" "dead-lettered"
assert_exit 0 tq jobs --queue jq --state failed --json
assert_eq "first $long" "$(jq -r '.[1].error' <<<"$OUT")" "the whole error in --json"
assert_exit 0 tq jobs --queue jq --state failed
assert_contains "$OUT" "..." "the error cut short in the table"
[[ $(awk '{print length}' <<<"$OUT" | sort -n | tail -1) -lt 200 ]] || fail "a table row is too wide"

# ---- every state at once: newest created first
assert_eq "$f2 $f1 $a $s2 $s1 $p3 $p2 $p1" "$(ids --queue jq)" "no --state: every state"
assert_eq "$f2 $f1" "$(ids --queue jq --limit 2)" "no --state, --limit 2"

# ---- a terminal job whose record expired is not listed (its id stays in
# the index until the trim pushes it out)
short=$(tq submit --queue jq --result-ttl 300ms tq.noop '"short"')
tq wait "$short" --timeout 5s >/dev/null
assert_eq "$short $p3 $p1" "$(ids --queue jq --state succeeded)" "before expiry"
wait_until 5 bash -c "! redis-cli -p $REDIS_PORT EXISTS '$NS:{jq}:j:$short' | grep -q 1"
assert_eq "$p3 $p1" "$(ids --queue jq --state succeeded)" "after expiry"
assert_eq "$short" "$(rcli LINDEX "$NS:{jq}:done:succeeded" 0)" "the index still names it"
# a failed job retried leaves the failed listing; failing again, it is listed once
assert_exit 0 tq dlq retry "$f1"
tq wait "$f1" >/dev/null 2>&1 || true
assert_eq "$f1 $f2" "$(ids --queue jq --state failed)" "failed after a retry, once each"

# ---- default queue and an empty listing
assert_exit 0 tq jobs --json
assert_eq "[]" "$OUT" "an empty queue"
log "ok"
