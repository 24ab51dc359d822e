#!/usr/bin/env bash
# t_unreachable: when Redis cannot be reached, or answers an error, tq exits 6
# with one line on stderr, promptly.
source "$(dirname "$0")/lib.sh"

# A port nothing listens on.
port=$(free_port)
dead="redis://127.0.0.1:$port/0"

# unreachable ARGS...: exit 6, one line, within 10 s.
unreachable() {
    local t0 took
    t0=$(now)
    assert_exit 6 timeout 30 "$@"
    took=$(elapsed_since "$t0")
    assert_one_line "$ERR" "stderr of: $*"
    assert_le "$took" 10 "seconds to give up"
    log "exit 6 in ${took}s: $* -> $ERR"
}

export TQ_REDIS_URL=$dead
unreachable "$TQ_BIN/tq" submit tq.noop 1
unreachable "$TQ_BIN/tq" status 01JAAAAAAAAAAAAAAAAAAAAAAA
unreachable "$TQ_BIN/tq" wait 01JAAAAAAAAAAAAAAAAAAAAAAA --timeout 1s
unreachable "$TQ_BIN/tq" stats
unreachable "$TQ_BIN/tq" workers
unreachable "$TQ_BIN/tq" submit-many tq.noop < <(seq 1 10)
unset TQ_REDIS_URL
# The flag, as well as the variable.
unreachable "$TQ_BIN/tq" submit --redis "$dead" tq.noop 1
unreachable "$TQ_BIN/tq" status --redis "$dead" 01JAAAAAAAAAAAAAAAAAAAAAAA
unreachable "$TQ_BIN/tq" submit --redis "unix://$TMP/no-such.sock" tq.noop 1

# Redis answers an error: a password is required and not given.
REDIS_PASS=s3cret
start_redis --requirepass s3cret
unreachable "$TQ_BIN/tq" submit --redis "redis://127.0.0.1:$REDIS_PORT/0" tq.noop 1
unreachable "$TQ_BIN/tq" submit --redis "redis://:wrong@127.0.0.1:$REDIS_PORT/0" tq.noop 1
# With the password (TQ_REDIS_URL from start_redis carries it) it works.
assert_exit 0 tq submit tq.noop 1
id=$OUT
assert_eq pending "$(tq status "$id")" "state of a job submitted with a password"

log "ok"
