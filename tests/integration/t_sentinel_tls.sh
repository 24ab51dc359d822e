#!/usr/bin/env bash
# t_sentinel_tls: rediss+sentinel:// (SPEC §9). A master, a replica and
# three sentinels on loopback, every one on TLS only (port 0, tls-port,
# tls-replication yes), certificates made here by openssl for 127.0.0.1.
# tq and tq-worker ask the sentinels over TLS and reach the master over
# TLS, both verified against ?ca=; a worker drains jobs while a client
# submits through a SENTINEL FAILOVER: every acknowledged job ends
# succeeded. A wrong ?ca= is exit 6 with one line naming the cause. Every
# node and sentinel wants a password (in the URL: :PASS@ and
# &sentinel_pass=), never printed.
source "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || fail "openssl (the program) is needed to make certificates"
TLS_GROUP_PASS=s3cret
start_tls_sentinel_group
C=$TMP/certs
url=$TQ_REDIS_URL

# ---- a wrong CA: the sentinels' certificates do not verify
bad="${url%%\?*}?ca=$C/other-ca.pem&sentinel_pass=s3cret"
assert_exit 6 tq --connect-timeout 300ms --redis "$bad" submit tq.noop '{}'
assert_one_line "$ERR" "stderr of tq submit"
assert_contains "$ERR" "certificate verify failed" "tq's reason"
[[ $ERR != *s3cret* ]] || fail "a password in: $ERR"
log "$ERR"
assert_exit 6 timeout 20 "$TQ_BIN/tq-worker" --redis "$bad" \
    --namespace "$TQ_NAMESPACE"
assert_one_line "$ERR" "stderr of tq-worker"
assert_contains "$ERR" "certificate verify failed" "tq-worker's reason"
[[ $ERR != *s3cret* ]] || fail "a password in: $ERR"
# the right CA but a wrong sentinel password: the sentinels' refusal, once
assert_exit 6 tq --connect-timeout 300ms --redis "${url/sentinel_pass=s3cret/sentinel_pass=nope}" stats
assert_one_line "$ERR"
assert_contains "$ERR" "AUTH"
log "$ERR"
# ... and no CA at all (the system store knows not this test CA)
assert_exit 6 tq --connect-timeout 300ms --redis "${url%%\?*}" stats
assert_contains "$ERR" "certificate verify failed" "without ?ca="

# ---- a worker on rediss+sentinel:// finds the master over TLS
start_worker --concurrency 4 --name stw --lease 2s
wpid=$WORKER_PID
wait_worker_registered stw
assert_contains "$(worker_log "$wpid")" "connected to redis at 127.0.0.1:$REDIS_PORT"
id=$(tq submit tq.noop '"hello"')
assert_eq '"hello"' "$(tq wait "$id" --timeout 10s)" "a job through the TLS sentinels"
# the worker's connections are TLS clients of the master (it has no other port)
tcli "$REDIS_PORT" CLIENT LIST | grep -q "laddr=127.0.0.1:$REDIS_PORT" ||
    fail "no client on the master's TLS port"
# ... and its watch (+switch-master) is a TLS subscriber of a sentinel
# (sentinels subscribe to no other sentinel: a subscriber there is ours)
_watching() {
    local p
    for p in "${SENTINEL_PORTS[@]}"; do
        tcli "$p" CLIENT LIST 2>/dev/null | grep -q "cmd=subscribe" && return 0
    done
    return 1
}
wait_until 10 _watching


# ---- a controlled failover while the worker drains and a client submits
: >"$TMP/acked"
: >"$TMP/refused"
submitter 100 &
spid=$!
track_bg "$spid"
wait_until 10 test -s "$TMP/acked"
sleep 0.5
log "SENTINEL FAILOVER m"
tcli "${SENTINEL_PORTS[0]}" sentinel failover m >/dev/null
wait_until 15 tls_sentinel_master_is "$REPLICA_PORT"
log "the sentinels name the replica ($REPLICA_PORT) as master"
wait "$spid" || true
wait_drained 30
lost=$(count_not_succeeded)
log "TLS failover: $(wc -l <"$TMP/acked") acknowledged, $(wc -l <"$TMP/refused") refused, $lost not succeeded"
assert_eq 0 "$lost" "acknowledged jobs lost in a SENTINEL FAILOVER over TLS"
assert_contains "$(worker_log "$wpid")" "127.0.0.1:$REPLICA_PORT"
pid_alive "$wpid" || fail "the worker died in the failover"
# a job after the failover, on the new master
id=$(tq submit tq.noop '"after"')
assert_eq '"after"' "$(tq wait "$id" --timeout 10s)" "a job after the failover"
tcli "$REPLICA_PORT" ROLE | head -1 | grep -q master || fail "the replica is not master"

stop_worker "$wpid"
assert_eq 0 "$WORKER_RC" "worker exit"
! grep -q s3cret "${WORKER_LOG[$wpid]}" "$TMP/submit.err" || fail "a password in the worker's log"
log "ok"
