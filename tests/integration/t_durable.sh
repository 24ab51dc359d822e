#!/usr/bin/env bash
# t_durable: --durable N makes a submit return only once N replicas have
# its jobs (WAIT on the submit's connection), else exit 7 with the ids
# printed: the jobs exist. A real replica (redis-server --replicaof) up,
# paused (SIGSTOP) and absent; every submit command; TQ_DURABLE; bad values.
source "$(dirname "$0")/lib.sh"

start_redis --repl-diskless-sync-delay 0

# The replica: a second private redis-server following ours.
spawn_redis "$TMP/replica.log" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$TMP" --dbfilename replica.rdb --daemonize no \
    --replicaof 127.0.0.1 "$REDIS_PORT"
REPLICA_PORT=$SPAWN_PORT
REPLICA_PID=$SPAWN_PID
wait_until 10 eval '[[ $(rcli info replication | tr -d "\r" | grep -c "^slave0:.*state=online") == 1 ]]' ||
    fail "the replica did not come online"
log "replica pid $REPLICA_PID on port $REPLICA_PORT"

# --- up: exit 0, the id printed, and the replica has the job
assert_exit 0 tq submit --durable 1 tq.noop '{"d":1}'
id=$OUT
assert_match "$id" '^[0-9a-z]' "id of a durable submit"
k=$(redis-cli -p "$REPLICA_PORT" --scan --pattern "$TQ_NAMESPACE:*$id*" | head -1)
[[ -n $k ]] || fail "the replica does not have job $id right after the durable submit"
log "durable submit confirmed, the replica has $k"

printf '{"i":1}\n{"i":2}\n{"i":3}\n' >"$TMP/many"
assert_exit 0 tq submit-many --durable 1 tq.noop <"$TMP/many"
assert_eq 3 "$(wc -l <<<"$OUT")" "ids of submit-many --durable 1"
assert_exit 0 tq group submit --durable 1 tq.noop <"$TMP/many"
assert_exit 0 tq submit --durable 1 --then tq.noop tq.noop '{"c":1}'
assert_eq 2 "$(wc -l <<<"$OUT")" "ids of a durable chain"
TQ_DURABLE=1 assert_exit 0 tq submit tq.noop '{"env":1}'

# --- two replicas asked for, one there: exit 7 after the timeout, id printed
assert_exit 7 tq submit --durable 2 --durable-timeout 300ms tq.noop '{"two":1}'
assert_one_line "$ERR" "stderr of a durable submit not confirmed"
assert_contains "$ERR" "not yet on 2 replicas (1 confirmed within 300ms)" "the reason"
id=$OUT
assert_eq pending "$(tq status "$id")" "state of the unconfirmed job"
log "exit 7: $ERR"

# --- paused replica: exit 7 after ~the timeout, the jobs exist
kill -STOP "$REPLICA_PID"
assert_exit 7 tq submit --durable 1 --durable-timeout 500ms tq.noop '{"paused":1}'
assert_contains "$ERR" "not yet on 1 replica (0 confirmed within 500ms)" "the reason"
assert_eq pending "$(tq status "$OUT")" "state of the job the paused replica missed"
assert_exit 7 tq submit-many --durable 1 --durable-timeout 200ms tq.noop <"$TMP/many"
assert_eq 3 "$(wc -l <<<"$OUT")" "ids printed by submit-many when not confirmed"
for j in $OUT; do assert_eq pending "$(tq status "$j")" "state of $j"; done
assert_exit 7 tq group submit --durable 1 --durable-timeout 200ms --then tq.noop tq.noop <"$TMP/many"
assert_eq 2 "$(wc -l <<<"$OUT")" "group id and fan-in id printed"
gid=$(head -1 <<<"$OUT")
assert_exit 0 tq group status "$gid"
TQ_DURABLE=1 assert_exit 7 tq submit --durable-timeout 200ms tq.noop '{"env":2}'
# the flag wins over the environment
TQ_DURABLE=1 assert_exit 0 tq submit --durable 0 tq.noop '{"env":3}'
kill -CONT "$REPLICA_PID"
wait_until 10 tq submit --durable 1 tq.noop '{"back":1}' >/dev/null ||
    fail "durable submits did not recover after SIGCONT"
log "paused replica: exit 7, jobs exist; resumed: exit 0"

# --- no replica at all
{ kill -KILL "$REPLICA_PID"; wait "$REPLICA_PID"; } 2>/dev/null || true
wait_until 10 eval '[[ $(rcli info replication | tr -d "\r" | grep -c "^connected_slaves:0") == 1 ]]' ||
    fail "the master still counts a replica"
assert_exit 7 tq submit --durable 1 --durable-timeout 200ms tq.noop '{"none":1}'
assert_contains "$ERR" "(0 confirmed within 200ms)" "the reason with no replica"
assert_eq pending "$(tq status "$OUT")" "state of the job no replica has"

# --- the jobs submitted under exit 7 run all the same
start_worker --concurrency 4
wait_until 20 eval '[[ $(tq stats --json | jq "[.[] | .pending + .active + .scheduled] | add") == 0 ]]' ||
    fail "the jobs did not all run"

# --- bad values: exit 2 before anything is sent
assert_exit 2 tq submit --durable -1 tq.noop
assert_exit 2 tq submit --durable x tq.noop
assert_exit 2 tq submit --durable 1 --durable-timeout 0 tq.noop
assert_exit 2 tq submit --durable-timeout 2h tq.noop
TQ_DURABLE=abc assert_exit 2 tq submit tq.noop
assert_exit 2 tq status --durable 1 abc
log "ok"
