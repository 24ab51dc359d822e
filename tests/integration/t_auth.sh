#!/usr/bin/env bash
# t_auth: the worker checks Redis's answers to AUTH and SELECT, and what an
# ACL lets it run. At start a refusal is one line naming the cause and exit
# 6; after start (a password changed under it) the refusal is logged once per
# reconnect backoff, never a storm, and the worker carries on when it is
# fixed. The password never shows in the worker's log.
source "$(dirname "$0")/lib.sh"

REDIS_PASS=s3cret
start_redis --requirepass s3cret

# refused ARGS... WORD: tq-worker exits 6 within a few seconds, one line
# naming WORD.
refused() {
    local word=$1 t0 took
    shift
    t0=$(now)
    assert_exit 6 timeout 20 "$TQ_BIN/tq-worker" --namespace "$TQ_NAMESPACE" "$@"
    took=$(elapsed_since "$t0")
    assert_one_line "$ERR" "stderr of tq-worker $*"
    assert_contains "$ERR" "$word" "the reason"
    assert_le "$took" 5 "seconds to give up"
    [[ $ERR != *s3cret* && $ERR != *wrongpw* ]] || fail "a password in: $ERR"
    log "exit 6 in ${took}s: $ERR"
}

refused AUTH --redis "redis://:wrongpw@127.0.0.1:$REDIS_PORT/0"
refused NOAUTH --redis "redis://127.0.0.1:$REDIS_PORT/0"
# 16 databases (0..15): /16 does not exist
refused SELECT --redis "redis://:s3cret@127.0.0.1:$REDIS_PORT/16"
# an ACL user that may not run scripts
rcli ACL SETUSER noeval on '>pw1' '~*' '&*' '+@all' '-evalsha' '-eval' >/dev/null
refused NOPERM --redis "redis://noeval:pw1@127.0.0.1:$REDIS_PORT/0"
# an ACL user that may run scripts but not hear of cancellations
rcli ACL SETUSER nochan on '>pw3' '~*' resetchannels '+@all' >/dev/null
refused SUBSCRIBE --redis "redis://nochan:pw3@127.0.0.1:$REDIS_PORT/0"

# Database 3: the worker runs the jobs of database 3, not of 0.
url3="redis://:s3cret@127.0.0.1:$REDIS_PORT/3"
start_worker --redis "$url3" --name authw
w=$WORKER_PID
id=$(tq submit --redis "$url3" tq.noop '{"db":3}')
assert_json_eq '{"db":3}' "$(tq wait --redis "$url3" "$id" --timeout 10s)" "job in db 3"

# The password changes under a running worker: its connections are cut, and
# it cannot get back in. A few lines over 8 s, not hundreds.
rcli CONFIG SET requirepass n3w >/dev/null
REDIS_PASS=n3w
before=$(grep -c 'refused AUTH' "${WORKER_LOG[$w]}" || true)
rcli CLIENT KILL TYPE normal >/dev/null
rcli CLIENT KILL TYPE pubsub >/dev/null || true
sleep 8
after=$(grep -c 'refused AUTH' "${WORKER_LOG[$w]}" || true)
n=$((after - before))
log "refused AUTH logged $n times in 8 s"
(( n >= 1 )) || fail "the refusal was not logged"
assert_le "$n" 12 "log lines about the refused AUTH in 8 s"
total=$(wc -l <"${WORKER_LOG[$w]}")
assert_le "$total" 60 "worker log lines"
# Back to the old password: the worker carries on by itself.
rcli CONFIG SET requirepass s3cret >/dev/null
REDIS_PASS=s3cret
id=$(tq submit --redis "$url3" tq.noop '"again"')
assert_json_eq '"again"' "$(tq wait --redis "$url3" "$id" --timeout 15s)" "job after the password came back"
! grep -q s3cret "${WORKER_LOG[$w]}" || fail "the password is in the worker log"
stop_worker "$w"

# An ACL changed under a running worker: its user may no longer run scripts.
# Every call is refused with NOPERM: a line per backoff period (1 s, 2 s,
# 4 s ...), not per call; when the ACL is set back, it carries on.
rcli ACL SETUSER wk on '>pw2' '~*' '&*' '+@all' >/dev/null
urlw="redis://wk:pw2@127.0.0.1:$REDIS_PORT/0"
start_worker --redis "$urlw" --name aclw
w=$WORKER_PID
id=$(tq submit tq.noop '"before"')
assert_json_eq '"before"' "$(tq wait "$id" --timeout 10s)" "job before the ACL change"
rcli ACL SETUSER wk -evalsha -eval >/dev/null
id=$(tq submit tq.noop '"after"')
sleep 6
n=$(grep -c 'NOPERM' "${WORKER_LOG[$w]}" || true)
log "NOPERM logged $n times in 6 s"
(( n >= 1 )) || fail "the refusal was not logged"
assert_le "$n" 5 "log lines about NOPERM in 6 s"
assert_eq pending "$(tq status "$id")" "job while the worker may not claim"
rcli ACL SETUSER wk +evalsha +eval >/dev/null
assert_json_eq '"after"' "$(tq wait "$id" --timeout 20s)" "job after the ACL came back"
stop_worker "$w"
assert_eq 0 "$WORKER_RC" "worker exit"
log "PASS"
