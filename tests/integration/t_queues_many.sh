#!/usr/bin/env bash
# t_queues_many: one tq command on jobs of many queues. `tq wait` and `tq
# cancel` of ids spread over 12 queues (the blocking client's table of queues
# grows while it holds entries of it: it once crashed at the fifth queue),
# `tq status` of each, a group in yet another queue, and the finished jobs'
# results in the order given.
source "$(dirname "$0")/lib.sh"

NQ=12
start_redis
qs=()
for ((i = 0; i < NQ; i++)); do qs+=("mq$i"); done
start_worker --concurrency 8 --name manyq $(printf -- '--queue %s ' "${qs[@]}")
wait_worker_registered manyq

# One job per queue, each with its own result.
ids=()
for ((i = 0; i < NQ; i++)); do
    ids+=("$(tq submit --queue "${qs[$i]}" tq.noop "$i")")
done
assert_exit 0 tq wait "${ids[@]}" --timeout 20s
assert_eq "$(seq 0 $((NQ - 1)) | xargs)" "$(xargs <<<"$OUT")" "results of wait over $NQ queues"

# The same ids, reversed and with a repeat: the order given is kept.
rev=()
for ((i = NQ - 1; i >= 0; i--)); do rev+=("${ids[$i]}"); done
assert_exit 0 tq wait "${rev[@]}" "${ids[0]}" --timeout 20s
assert_eq "$(seq $((NQ - 1)) -1 0 | xargs) 0" "$(xargs <<<"$OUT")" "results of the reversed wait"

# --timeout over many queues: jobs of queues no worker serves stay pending.
idle=()
for ((i = 0; i < NQ; i++)); do
    idle+=("$(tq submit --queue "idle$i" tq.noop "$i")")
done
assert_exit 3 tq wait "${idle[@]}" "${ids[@]}" --timeout 300ms
assert_eq "$((2 * NQ))" "$(grep -c . <<<"$OUT")" "lines printed on a timeout"
for ((i = 0; i < NQ; i++)); do
    assert_eq pending "$(tq status "${idle[$i]}")" "status of the job in idle$i"
done

# cancel of every one in one command, then wait: all cancelled (exit 4).
assert_exit 0 tq cancel "${idle[@]}"
assert_exit 4 tq wait "${idle[@]}" --timeout 5s
for ((i = 0; i < NQ; i++)); do
    assert_eq cancelled "$(tq status "${idle[$i]}")" "status after cancel in idle$i"
done

# A group in one queue and jobs in all the others, then group status.
printf '1\n2\n3\n' >"$TMP/lines"
gid=$(tq group submit --queue mq3 tq.noop <"$TMP/lines")
assert_exit 0 tq group wait "$gid" --timeout 20s
assert_eq "1 2 3" "$(xargs <<<"$OUT")" "group results"

log "ok"
