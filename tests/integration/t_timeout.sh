#!/usr/bin/env bash
# t_timeout: a timeout really stops the work (SPEC §5, PEERS #15). An exec
# job past its --timeout gets SIGTERM on its whole process group (children
# included), SIGKILL after --kill-grace if it ignores that, and the attempt
# fails with error "timeout"; --default-timeout applies to jobs without one;
# the slot is free again at once.
source "$(dirname "$0")/lib.sh"

start_redis
# A script with a grandchild: both must die with the process group.
cat >"$TMP/slow.sh" <<EOF
#!/bin/sh
cat >/dev/null
sleep 300 &
echo \$! >"$TMP/grandchild.\$TQ_JOB_ID"
wait
EOF
# A script that ignores SIGTERM.
cat >"$TMP/stubborn.sh" <<EOF
#!/bin/sh
cat >/dev/null
trap '' TERM
echo \$\$ >"$TMP/stubborn.\$TQ_JOB_ID"
while :; do sleep 0.2; done
EOF
chmod +x "$TMP"/*.sh

start_worker --concurrency 2 --kill-grace 1s --default-timeout 2s --name tow \
    --task "slow=$TMP/slow.sh" --task "stubborn=$TMP/stubborn.sh"

# --timeout 1s on the job: failed after ~1 s, the grandchild gone too.
t0=$(now)
id=$(tq submit --timeout 1s --retries 0 slow)
assert_exit 1 tq wait "$id" --timeout 20s
took=$(elapsed_since "$t0")
log "timed out after $took s: $(field "$id" error)"
assert_contains "$(field "$id" error)" timeout "error"
assert_le 0.9 "$took" "seconds before the timeout"
assert_le "$took" 4 "seconds to time out a 1 s job"
gc=$(cat "$TMP/grandchild.$id")
wait_until 5 bash -c "! kill -0 $gc 2>/dev/null"

# No --timeout: the worker's --default-timeout (2 s).
t0=$(now)
id=$(tq submit --retries 0 slow)
assert_exit 1 tq wait "$id" --timeout 20s
took=$(elapsed_since "$t0")
log "default timeout after $took s"
assert_contains "$(field "$id" error)" timeout "error with --default-timeout"
assert_le 1.9 "$took" "seconds before the default timeout"
assert_le "$took" 5 "seconds to time out under --default-timeout 2s"

# Ignores SIGTERM: SIGKILL after --kill-grace 1s.
t0=$(now)
id=$(tq submit --timeout 1s --retries 0 stubborn)
assert_exit 1 tq wait "$id" --timeout 20s
took=$(elapsed_since "$t0")
log "stubborn job ended after $took s"
assert_contains "$(field "$id" error)" timeout "error of a job ignoring SIGTERM"
assert_le "$took" 5 "timeout 1 s + kill grace 1 s"
sp=$(cat "$TMP/stubborn.$id")
wait_until 5 bash -c "! kill -0 $sp 2>/dev/null"

# Built-in handlers are cancelled on the loop too, and retried while attempts remain.
id=$(tq submit --timeout 300ms --retries 1 --backoff 100ms tq.sleep 10000)
assert_exit 1 tq wait "$id" --timeout 20s
assert_eq 2 "$(field "$id" attempt)" "attempts of a built-in job timing out"

# The slots are free: two jobs at once run right away.
a=$(tq submit tq.sleep 300)
b=$(tq submit tq.sleep 300)
t0=$(now)
tq wait "$a" "$b" --timeout 10s >/dev/null
assert_le "$(elapsed_since "$t0")" 1.5 "two 300 ms jobs on two freed slots"
log "ok"
