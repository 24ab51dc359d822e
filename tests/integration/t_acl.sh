#!/usr/bin/env bash
# t_acl: tq and tq-worker work under an ACL user with exactly the least
# privileges deploy/redis/users.acl (and README.md's ACL section) list: the commands
# tq runs, directly or from its scripts, keys ~NS:* and channels &NS:*,
# nothing else. The whole flow: submit (one, many, chain, group with
# fan-in, unique, delayed, durable), a worker draining with limits, a
# semaphore, retries into the dead-letter list and back, wait, result,
# status, cancel (pending and running), stats, workers, purge.
# TQ_ACL_LEARN=1 runs it as an all-powerful user instead and prints the
# commands Redis saw (INFO commandstats): how the list was made.
source "$(dirname "$0")/lib.sh"

REDIS_PASS=adminpw
start_redis --requirepass adminpw
NS=$TQ_NAMESPACE
# The list of deploy/redis/users.acl, with this test's namespace.
ACL_FILE=$(dirname "$0")/../../deploy/redis/users.acl
[[ -f $ACL_FILE ]] || fail "no $ACL_FILE"
line=$(grep -E '^user tq ' "$ACL_FILE") || fail "no 'user tq' line in $ACL_FILE"
read -r -a rules <<<"${line#user tq }"
args=()
for r in "${rules[@]}"; do
    case $r in
    '>'* | '#'*) args+=('>tqpw') ;;                   # this test's password
    '~tq:*') args+=("~$NS:*") ;;
    '&tq:*') args+=("&$NS:*") ;;
    *) args+=("$r") ;;
    esac
done
if [[ ${TQ_ACL_LEARN:-0} == 1 ]]; then
    args=(on '>tqpw' '~*' '&*' '+@all')
fi
rcli ACL SETUSER tq reset "${args[@]}" >/dev/null
log "ACL SETUSER tq ${args[*]}"
rcli CONFIG RESETSTAT >/dev/null
export TQ_REDIS_URL="redis://tq:@127.0.0.1:$REDIS_PORT/0" TQ_REDIS_PASSWORD=tqpw

# --- a user with these rules cannot touch other namespaces' keys
rcli SET other:key 1 >/dev/null
if [[ ${TQ_ACL_LEARN:-0} != 1 ]]; then
    assert_exit 0 redis-cli -p "$REDIS_PORT" --user tq --pass tqpw --no-auth-warning GET other:key
    assert_contains "$OUT" "NOPERM" "a key outside the namespace"
fi

# --- submits, before any worker
assert_exit 0 tq semaphore set gpu 1
assert_exit 0 tq semaphore show gpu
id1=$(tq submit tq.noop '{"a":1}')
printf '1\n2\n3\n' | tq submit-many tq.noop >"$TMP/many"
assert_eq 3 "$(wc -l <"$TMP/many")" "submit-many ids"
chain=$(tq submit --then tq.noop tq.noop '{"c":1}' | tail -1)
grp=$(printf '1\n2\n' | tq group submit --then tq.noop tq.noop | head -1)
u1=$(tq submit --unique k1 tq.noop 1)
u2=$(tq submit --unique k1 tq.noop 1)
assert_eq "$u1" "$u2" "a unique submit answers the live job"
later=$(tq submit --delay 1s tq.noop '"later"')
sem=$(tq submit --semaphore gpu tq.noop '"sem"')
bad=$(tq submit --retries 1 --backoff 100ms tq.fail '"boom"')
gone=$(tq submit --queue other tq.noop 1)
assert_exit 0 tq cancel "$gone"
assert_exit 0 tq purge other --yes
assert_exit 0 tq stats
assert_exit 0 tq status "$id1"
assert_exit 0 tq semaphore show
# WAIT is allowed: no replica here, so exit 7 (not 6, a refusal)
assert_exit 7 tq submit --durable 1 --durable-timeout 100ms tq.noop '"durable"'
dur=$OUT

# --- a worker drains them
start_worker --limit tq.sleep=2 --concurrency 4 --name aclw
wait_worker_registered aclw || fail "the worker did not register under the ACL user"
assert_exit 0 tq workers
assert_contains "$OUT" aclw "tq workers"
assert_exit 0 tq workers --json
assert_json_eq '{"a":1}' "$(tq wait "$id1" --timeout 15s)" "the first job"
assert_exit 0 tq wait $(cat "$TMP/many") --timeout 15s
assert_exit 0 tq wait "$chain" --timeout 15s
assert_exit 0 tq group wait "$grp" --timeout 15s
assert_exit 0 tq group status "$grp"
assert_exit 0 tq wait "$later" "$sem" "$u1" "$dur" --timeout 15s
assert_exit 0 tq result "$id1"
assert_exit 1 tq wait "$bad" --timeout 15s
assert_exit 0 tq dlq list
assert_contains "$OUT" "$bad" "the failed job in the dead-letter list"
assert_exit 0 tq dlq retry "$bad"
assert_exit 1 tq wait "$bad" --timeout 15s
assert_exit 0 tq dlq purge --yes
# cancel a running job and a pending one
run=$(tq submit tq.sleep 30000)
wait_until 10 state_is "$run" active || fail "tq.sleep did not start"
assert_exit 0 tq cancel "$run"
assert_exit 4 tq wait "$run" --timeout 15s
g2=$(printf '60000\n60000\n' | tq group submit tq.sleep | head -1)
assert_exit 0 tq group cancel "$g2"
assert_exit 0 tq stats --json
stop_worker "$WORKER_PID"
assert_eq 0 "$WORKER_RC" "the worker's exit under the ACL user"
if grep -E 'NOPERM|refused' "${WORKER_LOG[$WORKER_PID]}"; then
    fail "the worker was refused something"
fi

if [[ ${TQ_ACL_LEARN:-0} == 1 ]]; then
    rcli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_\([^:]*\):.*/\1/p' | sort
fi
log "PASS"
