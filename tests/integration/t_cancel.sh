#!/usr/bin/env bash
# t_cancel: `tq cancel` from another process. A pending job never runs; a
# running built-in job is stopped and its slot freed at once; a running exec
# job's whole process group (child and grandchild) is gone; a cancelled job
# ends `cancelled`, is never retried, and `tq wait` on it exits 4. A worker
# that missed the cancel message (paused with SIGSTOP while it was
# published) still honours it: the request is recorded on the job and read
# back by the heartbeat.
source "$(dirname "$0")/lib.sh"

start_redis

# An exec task that records its pid and its grandchild's, then waits.
printf '%s\n' '#!/bin/sh' 'cat >/dev/null' \
    "echo \$\$ >\"$TMP/\$TQ_JOB_ID.pid\"" \
    'sleep 300 &' \
    "echo \$! >\"$TMP/\$TQ_JOB_ID.gpid\"" \
    "echo \"\$TQ_JOB_ID\" >>\"$TMP/ran.log\"" \
    'wait' >"$TMP/hang.sh"
chmod +x "$TMP/hang.sh"
touch "$TMP/ran.log"

# ---- a pending job never runs (no worker serves its queue yet)
p=$(tq submit --queue later hang '{}')
assert_exit 0 tq cancel "$p"
assert_eq cancelled "$(tq status "$p")" "pending job after cancel"
assert_exit 4 tq wait "$p" --timeout 2s

# ---- running jobs: one slot, so a freed slot shows at once
start_worker --concurrency 1 --name cancelw --queue default --queue later \
    --task "hang=$TMP/hang.sh" --kill-grace 5s
w1=$WORKER_PID

s=$(tq submit --retries 3 tq.sleep 60000)
wait_until 10 state_is "$s" active || fail "tq.sleep job never started"
t0=$(now)
assert_exit 0 tq cancel "$s"
assert_exit 4 tq wait "$s" --timeout 5s
log "built-in job cancelled in $(elapsed_since "$t0") s"
assert_le "$(elapsed_since "$t0")" 1 "cancel of a running tq.sleep"
next=$(tq submit tq.noop '"slot free"')
assert_eq '"slot free"' "$(tq wait "$next" --timeout 3s)" "the one slot is free again"

e=$(tq submit --retries 3 hang '{}')
wait_until 10 test -s "$TMP/$e.gpid" || fail "exec job never started"
pid=$(cat "$TMP/$e.pid"); gpid=$(cat "$TMP/$e.gpid")
pid_alive "$pid" || fail "exec job's process $pid is not running"
pid_alive "$gpid" || fail "exec job's grandchild $gpid is not running"
t0=$(now)
assert_exit 0 tq cancel "$e"
assert_exit 4 tq wait "$e" --timeout 5s
# (a killed grandchild may linger as a zombie until init reaps it: gone)
gone() { ! pid_alive "$pid" && ! pid_alive "$gpid"; }
wait_until 3 gone || fail "exec job's processes still there after cancel (pid $pid, grandchild $gpid)"
log "exec job and its grandchild gone $(elapsed_since "$t0") s after cancel"
assert_le "$(elapsed_since "$t0")" 1 "cancel of a running exec job"

# never retried, and the pending job never ran even once a worker served its queue
sleep 1
assert_eq cancelled "$(tq status "$s")" "built-in job stays cancelled"
assert_eq cancelled "$(tq status "$e")" "exec job stays cancelled"
assert_eq 1 "$(field "$e" attempt)" "attempts of the cancelled exec job"
assert_eq 0 "$(grep -c "$p" "$TMP/ran.log")" "runs of the job cancelled while pending"

# ---- a worker that missed the message still honours the cancel
m=$(tq submit --retries 3 tq.sleep 60000)
wait_until 10 state_is "$m" active || fail "job never started"
kill -STOP "$w1"
assert_exit 0 tq cancel "$m"
sleep 0.5
kill -CONT "$w1"
# the heartbeat (every lease/3 = 10 s by default) reads the flag
assert_exit 4 tq wait "$m" --timeout 20s
assert_eq cancelled "$(tq status "$m")" "cancel recorded on the job, honoured later"
stop_worker "$w1"
assert_eq 0 "$WORKER_RC" "worker exit code"
