#!/usr/bin/env bash
# t_wait: tq wait is woken by the broker as soon as the job ends (not by a
# polling loop); --timeout gives exit 3; cancelling a pending job wakes a
# waiter with exit 4; a running job is cancelled by its worker; unknown ids
# give exit 5.
source "$(dirname "$0")/lib.sh"

start_redis
start_worker --concurrency 8 --name waitw

# ---- woken promptly: the gap between finished_at (the broker's clock, same
# machine) and the return of tq wait stays small, every time.
worst=0
for _ in 1 2 3; do
    id=$(tq submit tq.sleep 1200)
    out=$(tq wait "$id" --timeout 20s)
    t_ret=$(now)
    assert_eq 1200 "$out" "result"
    fin=$(field "$id" finished_at)
    lat=$(awk -v a="$fin" -v b="$t_ret" 'BEGIN{printf "%.3f", b-a}')
    log "wait returned $lat s after finished_at"
    worst=$(awk -v a="$worst" -v b="$lat" 'BEGIN{print (b>a)?b:a}')
done
assert_le "$worst" 0.3 "seconds from the job's end to tq wait's return"

# Several ids: results in the order given, not the order of completion.
slow=$(tq submit tq.sleep 800)
fast=$(tq submit tq.sleep 100)
out=$(tq wait "$slow" "$fast" --timeout 20s | xargs)
assert_eq "800 100" "$out" "results of wait SLOW FAST"
# A finished job: at once.
t0=$(now)
assert_exit 0 tq wait "$fast" --timeout 20s
assert_le "$(elapsed_since "$t0")" 1 "wait on a finished job"

# ---- --timeout: exit 3, after about that long.
long=$(tq submit tq.sleep 6000)
t0=$(now)
assert_exit 3 tq wait "$long" --timeout 500ms
took=$(elapsed_since "$t0")
log "wait --timeout 500ms gave up after $took s"
assert_le 0.45 "$took" "wait --timeout 500ms returned too early"
assert_le "$took" 2 "wait --timeout 500ms"
assert_exit 3 tq result "$long"

# ---- cancel of a pending job (queue 'idle' has no worker) wakes its waiter: 4.
id=$(tq submit --queue idle tq.noop 1)
tq wait "$id" --timeout 30s >"$TMP/w.out" 2>"$TMP/w.err" &
wpid=$!
track_bg "$wpid"
sleep 0.5
pid_alive "$wpid" || fail "tq wait on a pending job returned at once"
t0=$(now)
assert_exit 0 tq cancel "$id"
wait_exit "$wpid" 5 || fail "tq wait not woken within 5 s by cancel"
log "waiter woken $(elapsed_since "$t0") s after cancel"
assert_eq 4 "$EXIT_RC" "exit of tq wait on a cancelled job"
assert_le "$(elapsed_since "$t0")" 1.5 "seconds from cancel to the waiter's exit"
assert_eq cancelled "$(tq status "$id")" "state after cancel"
assert_exit 4 tq wait "$id" --timeout 5s

# ---- cancel of a running job: its worker stops it; never retried.
id=$(tq submit --retries 3 tq.sleep 30000)
wait_until 10 state_is "$id" active
t0=$(now)
assert_exit 0 tq cancel "$id"
assert_exit 4 tq wait "$id" --timeout 10s
log "running job cancelled in $(elapsed_since "$t0") s"
assert_eq cancelled "$(tq status "$id")" "state"
assert_eq 1 "$(field "$id" attempt)" "attempt (a cancelled job is not retried)"
# The slot is free again.
id2=$(tq submit tq.noop '"after cancel"')
assert_eq '"after cancel"' "$(tq wait "$id2" --timeout 10s)" "next job"

# ---- unknown ids: 5.
unknown=01JZZZZZZZZZZZZZZZZZZZZZZZ
assert_exit 5 tq status "$unknown"
assert_one_line "$ERR"
assert_exit 5 tq result "$unknown"
assert_exit 5 tq wait "$unknown" --timeout 2s
assert_exit 5 tq cancel "$unknown"
assert_exit 5 tq status --json "$unknown"

# The long job is still running, untouched by all this.
assert_eq active "$(tq status "$long")" "the 6 s job"

log "ok"
