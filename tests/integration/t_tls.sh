#!/usr/bin/env bash
# t_tls: rediss:// (SPEC §9). A Redis with a TLS port and certificates made
# here by openssl: tq and a worker talk to it with the server certificate
# verified against ?ca=; a wrong CA, an expired certificate, a hostname
# mismatch and a server that wants a client certificate are each exit 6
# with one line naming the cause (tq and the worker's start-up check);
# ?verify=0 connects anyway; ?cert=&key= passes tls-auth-clients; a worker
# over TLS reconnects after Redis restarts; tq dashboard reads over TLS. No
# password in any output.
source "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || fail "openssl (the program) is needed to make certificates"
start_tls_redis server
C=$TMP/certs
good=$TQ_REDIS_URL

# refused WORD URL: tq submit and tq-worker both exit 6, one line naming WORD.
refused() {
    local word=$1 url=$2
    assert_exit 6 tq submit --redis "$url" tq.noop '{}'
    assert_one_line "$ERR" "stderr of tq submit"
    assert_contains "$ERR" "$word" "tq's reason"
    [[ $ERR != *s3cret* ]] || fail "a password in: $ERR"
    log "$ERR"
    assert_exit 6 timeout 20 "$TQ_BIN/tq-worker" --redis "$url" --namespace "$TQ_NAMESPACE"
    assert_one_line "$ERR" "stderr of tq-worker"
    assert_contains "$ERR" "$word" "tq-worker's reason"
    [[ $ERR != *s3cret* ]] || fail "a password in: $ERR"
}

# ---- the happy path: a worker drains over TLS, tq waits over TLS
start_worker --concurrency 8 --name tlsw
wait_worker_registered tlsw
ids=()
for i in $(seq 1 20); do ids+=("$(tq submit tq.noop "$i")"); done
for i in $(seq 1 20); do
    assert_eq "$i" "$(tq wait "${ids[$((i - 1))]}" --timeout 10s)" "job $i over TLS"
done
# by IP address: the certificate names 127.0.0.1 too
id=$(tq submit --redis "rediss://127.0.0.1:$TLS_PORT/0?ca=$C/ca.pem" tq.noop '"ip"')
assert_eq '"ip"' "$(tq wait "$id" --timeout 10s)" "a job submitted to 127.0.0.1"
# Redis sees TLS clients only on its TLS port: the worker's connections are there
rcli CLIENT LIST | grep -q "laddr=127.0.0.1:$TLS_PORT" || fail "no client on the TLS port"

# ---- tq dashboard over TLS (the async client's link): its API reads what
# tq stats reads
start_dashboard
body=$(curl -s "$DASH/api/queues")
want=$(tq stats --json | jq '.[] | select(.queue == "default") | .totals.processed')
assert_eq 21 "$want" "jobs processed over TLS"
assert_eq "$want" "$(jq '.queues[] | select(.queue == "default") | .totals.processed' <<<"$body")" \
    "processed, as the dashboard reads it over TLS"
stop_dashboard
log "tq dashboard over TLS: /api/queues answers"

# ---- refusals: exit 6 and OpenSSL's reason
refused "certificate verify failed" "rediss://:s3cret@localhost:$TLS_PORT/0?ca=$C/other-ca.pem"
refused "hostname mismatch" "rediss://localhost:$TLS_PORT/0?ca=$C/ca.pem&sni=other.example"
refused "cannot read the TLS CA" "rediss://localhost:$TLS_PORT/0?ca=$C/nothing.pem"
# ?verify=0: no check at all (not even the CA)
id=$(tq submit --redis "rediss://localhost:$TLS_PORT/0?verify=0" tq.noop '"noverify"')
assert_eq '"noverify"' "$(tq wait "$id" --timeout 10s)" "?verify=0"

# Redis 7 takes a new certificate at run time: an expired one, then one for
# another name; new connections get it.
rcli CONFIG SET tls-cert-file "$C/expired.pem" tls-key-file "$C/expired.key" >/dev/null
refused "certificate has expired" "$good"
rcli CONFIG SET tls-cert-file "$C/wrong.pem" tls-key-file "$C/wrong.key" >/dev/null
refused "hostname mismatch" "$good"
# ... unless asked for by ?sni= (the name the certificate has)
sni="rediss://127.0.0.1:$TLS_PORT/0?ca=$C/ca.pem&sni=other.example"
id=$(tq submit --redis "$sni" tq.noop '"sni"')
assert_eq '"sni"' "$(tq wait --redis "$sni" "$id" --timeout 10s)" "?sni= naming the certificate's name"
rcli CONFIG SET tls-cert-file "$C/server.pem" tls-key-file "$C/server.key" >/dev/null

# A server that wants client certificates.
rcli CONFIG SET tls-auth-clients yes >/dev/null
refused "certificate" "$good"
withcert="$good&cert=$C/client.pem&key=$C/client.key"
id=$(tq submit --redis "$withcert" tq.noop '"client cert"')
assert_eq '"client cert"' "$(tq wait --redis "$withcert" "$id" --timeout 10s)" "with ?cert=&key="
refused "cannot use the TLS key" "$good&cert=$C/client.pem&key=$C/server.key"
rcli CONFIG SET tls-auth-clients no >/dev/null

# ---- Redis restarts under the TLS worker: it reconnects and goes on
w=$WORKER_PID
restart_tls_redis
log "redis restarted, pid $REDIS_PID"
id=$(tq submit tq.noop '"after restart"')
assert_eq '"after restart"' "$(tq wait "$id" --timeout 20s)" "a job after the restart"
wait_until 10 grep -q "reconnected to redis" "${WORKER_LOG[$w]}"
grep -q "over TLS" "${WORKER_LOG[$w]}" || fail "the worker's log does not say the TLS link went"

stop_worker "$w"
assert_eq 0 "$WORKER_RC" "worker exit"
! grep -q s3cret "${WORKER_LOG[$w]}" || fail "a password in the worker's log"
log "ok"
