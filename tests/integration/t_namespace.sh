#!/usr/bin/env bash
# t_namespace: one namespace rule for every entry point (proto/names.c
# tq_ns_check). A brace would break the queues' hash tags ("P:{Q}:p0"), so
# tq-worker refuses it from --namespace, TQ_NAMESPACE and its config file as
# tq does: exit 2, one line naming the rule and where the value came from.
source "$(dirname "$0")/lib.sh"

start_redis

# worker_refuses WHAT cmd...: the worker exits 2 at once with one line.
worker_refuses() {
    local what=$1
    shift
    assert_exit 2 timeout 10 "$@"
    assert_one_line "$ERR" "tq-worker stderr ($what)"
    assert_contains "$ERR" "$what: namespace name '" "names the source"
    assert_contains "$ERR" "braces are reserved for the Redis Cluster hash tag"
    log "refused ($what): $ERR"
}

W=$TQ_BIN/tq-worker
worker_refuses --namespace "$W" --redis "$TQ_REDIS_URL" --namespace 'a{b'
worker_refuses TQ_NAMESPACE env TQ_NAMESPACE='a}b' "$W" --redis "$TQ_REDIS_URL"
printf '{"namespace": "x{y}"}\n' >"$TMP/cfg.json"
worker_refuses "config 'namespace'" env -u TQ_NAMESPACE "$W" --redis "$TQ_REDIS_URL" \
    --config "$TMP/cfg.json"

# The client says the same words.
assert_exit 2 tq --namespace 'a{b' stats
assert_one_line "$ERR"
assert_contains "$ERR" "namespace name 'a{b' has '{' at offset 1"
assert_exit 2 env TQ_NAMESPACE='a}b' "$TQ_BIN/tq" stats
assert_contains "$ERR" "TQ_NAMESPACE: namespace name 'a}b' has '}'"

# Nothing was written by any of them.
assert_eq 0 "$(rcli dbsize)" "keys written"

log "done"
