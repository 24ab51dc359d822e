#!/usr/bin/env bash
# t_oom_scripts: Redis out of memory (maxmemory + noeviction). No job may be
# claimed that could not be acknowledged: claim (and submit) are refused
# before they run, the pending lists stay as they were and nothing is
# active; the scripts that free or settle (ack, heartbeat, beat, reclaim)
# still run, so the jobs claimed before the OOM end normally, and a dead
# worker's job goes back to pending. Once memory is freed, claims resume.
# (The script flags of docs/design.md §4.)
source "$(dirname "$0")/lib.sh"

start_redis --maxmemory-policy noeviction
ns=$TQ_NAMESPACE
rk() { echo "$ns:{$1}:$2"; }

# D runs on worker W2 (queue qd), which will die during the OOM.
d=$(tq submit --queue qd tq.sleep 60000)
start_worker --queue qd --concurrency 1 --lease 1.5s --name oomW2
w2=$WORKER_PID
wait_until 10 state_is "$d" active
# A runs on worker W1, which serves both queues, one job at a time.
a=$(tq submit --retries 0 tq.sleep 4000)
start_worker --queue default --queue qd --concurrency 1 --lease 1.5s --name oomW1
wait_until 10 state_is "$a" active
b=$(tq submit tq.noop '"b"')
c=$(tq submit tq.noop '"c"')

# Out of memory: junk in another namespace pushes used memory over maxmemory.
used=$(rcli info memory | tr -d '\r' | sed -n 's/^used_memory://p')
rcli config set maxmemory $((used + 2000000)) >/dev/null
rcli eval "for i = 1, 60 do redis.call('SET', 'junk:' .. i, string.rep('x', 100000)) end" 0 >/dev/null
oom() { rcli set oomprobe 1 2>&1 | grep -q OOM; }
oom || fail "redis is not out of memory"
log "out of memory: used $(rcli info memory | tr -d '\r' | sed -n 's/^used_memory_human://p'), max $(rcli config get maxmemory | tail -1)"

# A new job is refused (Redis unreachable or error: exit 6), one clear line.
assert_exit 6 tq submit tq.noop 1
assert_one_line "$ERR" "submit under OOM"
assert_contains "$ERR" OOM "submit under OOM"

# W2 dies holding D: its lease runs out and W1's reclaimer puts D back.
kill_worker "$w2"
beat0=$(rcli zscore "$ns:workers" "$(field "$a" worker)")

# A outlives its 1.5 s lease twice: heartbeat renews it, ack settles it.
assert_eq 4000 "$(tq wait "$a" --timeout 15s)" "A, claimed before the OOM"
assert_eq 1 "$(field "$a" attempt)" "A ran once (its lease was renewed)"
wait_until 10 state_is "$d" pending
assert_eq 1 "$(rcli hget "$(rk qd j:"$d")" lost)" "D reclaimed once"
beat1=$(rcli zscore "$ns:workers" "$(field "$a" worker)")
assert_le $((beat0 + 1)) "$beat1" "W1's beat goes on under OOM"

# W1 is idle and tries to claim: refused before anything is popped.
sleep 2
assert_eq 2 "$(rcli llen "$(rk default p0)")" "default's pending list under OOM"
assert_eq 1 "$(rcli llen "$(rk qd p0)")" "qd's pending list under OOM"
assert_eq 0 "$(rcli zcard "$(rk default active)")" "active in default under OOM"
assert_eq 0 "$(rcli zcard "$(rk qd active)")" "active in qd under OOM"
assert_eq pending "$(tq status "$b")" "B under OOM"
assert_eq pending "$(tq status "$c")" "C under OOM"
oom || fail "no longer out of memory"

# Memory freed: the waiting jobs run, each once.
for i in $(seq 1 60); do rcli del "junk:$i" >/dev/null; done
assert_eq '"b"' "$(tq wait "$b" --timeout 15s)" "B after the OOM"
assert_eq '"c"' "$(tq wait "$c" --timeout 15s)" "C after the OOM"
assert_eq 1 "$(field "$b" attempt)" "B ran once"
assert_eq 1 "$(field "$c" attempt)" "C ran once"
wait_until 10 state_is "$d" active
assert_eq 2 "$(field "$d" attempt)" "D, delivered again after the OOM"
tq cancel "$d" >/dev/null
wait_until 10 state_is "$d" cancelled
log "ok"
