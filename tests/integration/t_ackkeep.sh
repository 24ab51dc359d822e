#!/usr/bin/env bash
# t_ackkeep: an outcome Redis refuses (here NOPERM: the worker's ACL user lost
# EVALSHA while a job ran; OOM, READONLY, LOADING... are the same class) is
# never dropped: it stays queued and is sent again after the backoff, and
# the job ends with that outcome once Redis takes it (attempt 1, not run
# again after its lease ran out).
source "$(dirname "$0")/lib.sh"

start_redis
rcli ACL SETUSER wk on '>pw' '~*' '&*' '+@all' >/dev/null
url="redis://wk:pw@127.0.0.1:$REDIS_PORT/0"
start_worker --redis "$url" --name keepw
w=$WORKER_PID
id=$(tq submit tq.sleep 1000)
wait_until 10 state_is "$id" active
rcli ACL SETUSER wk -evalsha -eval >/dev/null
# the job ends on the worker; its ack is refused again and again for 9 s
# (the worker used to give up after 5 refusals)
sleep 9
assert_eq active "$(tq status "$id")" "while the ack is refused"
n=$(grep -c "refused ack" "${WORKER_LOG[$w]}" || true)
log "'refused ack' logged $n time(s)"
rcli ACL SETUSER wk +evalsha +eval >/dev/null
wait_until 10 state_is "$id" succeeded
assert_eq 1 "$(field "$id" attempt)" "ran once: the outcome was kept"
! grep -q "dropped" "${WORKER_LOG[$w]}" || fail "an outcome was dropped"
stop_worker "$w"
log "PASS"
