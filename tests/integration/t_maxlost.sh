#!/usr/bin/env bash
# t_maxlost: a job that kills its worker cannot loop forever. Each delivery
# SIGKILLs the worker that runs it; after more than --max-lost lost
# deliveries the job ends failed with error "worker lost", in the
# dead-letter list, and the next worker goes on with other work.
source "$(dirname "$0")/lib.sh"

start_redis
cat >"$TMP/poison.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
echo "$TQ_ATTEMPT" >>"$(dirname "$0")/poison.log"
kill -9 $PPID
sleep 5
EOF
chmod +x "$TMP/poison.sh"

id=$(tq submit --max-lost 1 --retries 5 poison)
log "submitted $id (--max-lost 1)"

# Keep one worker alive: start a new one each time the poison kills it.
deadline=$(($(date +%s) + 40 * TQ_SLOW))
starts=0
while :; do
    st=$(tq status "$id")
    [[ $st == failed || $st == succeeded || $st == cancelled ]] && break
    [[ $(date +%s) -lt $deadline ]] || fail "job still $st after 40 s ($starts workers started)"
    if [[ -z ${WORKER_PID:-} ]] || ! pid_alive "$WORKER_PID"; then
        [[ -n ${WORKER_PID:-} ]] && { WORKER_KILLED[$WORKER_PID]=1; wait "$WORKER_PID" 2>/dev/null || true; }
        [[ $starts -lt 6 ]] || fail "the poison job killed $starts workers and still runs"
        start_worker --concurrency 2 --lease 2s --name "poisoned$starts" --task "poison=$TMP/poison.sh"
        starts=$((starts + 1))
    fi
    sleep 0.2
done
js=$(tq status --json "$id")
log "record: $js ($starts workers started)"
assert_eq failed "$(jq -r .state <<<"$js")" "state"
assert_contains "$(jq -r .error <<<"$js")" "worker lost" "error"
assert_eq 2 "$(jq -r .attempt <<<"$js")" "deliveries (1 + max-lost 1)"
assert_eq 2 "$(grep -c . "$TMP/poison.log")" "runs of the poison script"
assert_exit 0 tq dlq list
assert_contains "$OUT" "$id" "dlq list"

# A surviving worker still serves: the poison is gone from the queue.
pid_alive "$WORKER_PID" || start_worker --concurrency 2 --lease 2s --name survivor --task "poison=$TMP/poison.sh"
id2=$(tq submit tq.noop '"fine"')
assert_eq '"fine"' "$(tq wait "$id2" --timeout 20s)" "a job after the poison"
log "ok"
