#!/usr/bin/env bash
# t_fair_paths: every way a job becomes pending keeps its --fair-key: a
# delayed job (promoted by claim), a retry after backoff, a chain's next
# link, a group's members and fan-in, a dead-lettered job retried with tq
# dlq retry, a semaphore waiter woken, a job given back at shutdown, and a
# schedule's tick job. Each lands in its key's list (P:{Q}:p<p>:f:KEY) and
# runs; when all is done no ring, fair list or P:{Q}:fair is left.
source "$(dirname "$0")/lib.sh"

start_redis
P="$TQ_NAMESPACE:{default}"
no_fair_left() {
    assert_eq "" "$(rcli --scan --pattern "$P:p*:*")" "no ring or fair list left"
    assert_eq 0 "$(rcli EXISTS "$P:fair")" "no P:{Q}:fair left"
}

# ---- with no worker: where things land
d=$(tq submit --fair-key K --delay 200ms tq.noop '"d"')
chain=$(tq submit --fair-key K --then tq.noop tq.noop '"c"')
head=$(sed -n 1p <<<"$chain") next=$(sed -n 2p <<<"$chain")
assert_eq K "$(field "$next" fair_key)" "a chain's later link keeps the key"
assert_eq 1 "$(rcli LLEN "$P:p0:f:K")" "the chain's head in K's list"
gs=$(printf '1\n2\n3\n' | tq group submit --fair-key G --priority 3 --then tq.noop tq.noop)
gid=$(sed -n 1p <<<"$gs") fanin=$(sed -n 2p <<<"$gs")
assert_eq 3 "$(rcli LLEN "$P:p3:f:G")" "group members in G's list at priority 3"
assert_eq G "$(field "$fanin" fair_key)" "the fan-in has the key"
assert_eq 1 "$(rcli HGET "$P:fair" 0)" "P:{Q}:fair counts priority 0 fair ids (the delayed one is not pending yet)"

# ---- run them
start_worker --concurrency 4
w=$WORKER_PID
assert_eq '"d"' "$(tq wait "$d" --timeout 10s)" "delayed fair job (promoted) ran"
assert_eq '"c"' "$(tq wait "$next" --timeout 10s)" "the chain's next link ran"
tq group wait "$gid" --timeout 10s >/dev/null
assert_eq '[1,2,3]' "$(tq wait "$fanin" --timeout 10s)" "the fan-in ran with the members' results"

# ---- retry after backoff, then the dead-letter retry
f=$(tq submit --fair-key R --retries 1 --backoff 100ms tq.fail '"boom"')
wait_until 10 state_is "$f" failed
assert_eq 2 "$(field "$f" attempt)" "retried once after its backoff"
stop_worker "$w"
assert_exit 0 tq dlq retry "$f"
assert_eq 1 "$(rcli LLEN "$P:p0:f:R")" "dlq retry puts it back in its key's list"
start_worker --concurrency 4 --shutdown-grace 200ms
w=$WORKER_PID
wait_until 10 state_is "$f" failed

# ---- a semaphore waiter woken keeps its key
tq semaphore set one 1 >/dev/null
s1=$(tq submit --fair-key S --semaphore one tq.sleep 300)
s2=$(tq submit --fair-key S --semaphore one tq.sleep 300)
s3=$(tq submit --fair-key T --semaphore one tq.sleep 300)
tq wait "$s1" "$s2" "$s3" --timeout 15s >/dev/null
assert_eq succeeded "$(state_of "$s3")" "semaphore waiters ran"

# ---- given back at shutdown: to the front of its key's list
g=$(tq submit --fair-key B tq.sleep 20000)
wait_until 10 state_is "$g" active
stop_worker "$w" TERM 5
assert_eq pending "$(state_of "$g")" "given back at shutdown"
assert_eq "$g" "$(rcli LINDEX "$P:p0:f:B" 0)" "at the front of its key's list"
assert_exit 0 tq cancel "$g"

# ---- a schedule's tick job
assert_exit 0 tq schedule add fk.tick '@every 1s' tq.noop --fair-key Z
start_worker --concurrency 2
w=$WORKER_PID
wait_until 10 bash -c "[[ \$('$TQ_BIN/tq' schedule list --json | jq -r '.[0].last_job // empty') != '' ]]"
job=$(tq schedule list --json | jq -r '.[0].last_job')
assert_eq Z "$(field "$job" fair_key)" "the tick's job has the key"
tq schedule rm fk.tick >/dev/null
tq wait "$job" --timeout 10s >/dev/null
sleep 0.5
no_fair_left
log "ok"
