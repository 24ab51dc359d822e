#!/usr/bin/env bash
# t_many: 2,000 jobs through submit-many and two workers at concurrency 50.
# Every job runs, each result is its own args, in the order of the ids, both
# workers take a share, and tq stats counts 2,000 processed.
source "$(dirname "$0")/lib.sh"

N=2000
start_redis
start_worker --concurrency 50 --name manyA
start_worker --concurrency 50 --name manyB
wait_worker_registered manyA
wait_worker_registered manyB

assert_exit 0 tq workers
log "tq workers:"$'\n'"$OUT"

seq 1 "$N" >"$TMP/args"
t0=$(now)
tq submit-many tq.noop <"$TMP/args" >"$TMP/ids"
log "submit-many of $N took $(elapsed_since "$t0") s"
assert_eq "$N" "$(wc -l <"$TMP/ids")" "ids printed"
assert_eq "$N" "$(sort -u "$TMP/ids" | wc -l)" "distinct ids"
grep -qvE '^[A-Za-z0-9_-]{1,40}$' "$TMP/ids" && fail "a malformed id: $(grep -vE '^[A-Za-z0-9_-]{1,40}$' "$TMP/ids" | head -1)"

mapfile -t ids <"$TMP/ids"
tq wait "${ids[@]}" --timeout 60s >"$TMP/results"
log "all $N done $(elapsed_since "$t0") s after the submit"
diff -q <(seq 1 "$N") "$TMP/results" >/dev/null ||
    fail "results differ from args (first differences: $(diff <(seq 1 "$N") "$TMP/results" | head -5 | xargs))"

# A sample of records: succeeded at the first attempt.
for i in 0 999 1999; do
    js=$(tq status --json "${ids[$i]}")
    assert_eq succeeded "$(jq -r .state <<<"$js")" "state of job $((i + 1))"
    assert_eq 1 "$(jq -r .attempt <<<"$js")" "attempt of job $((i + 1))"
    assert_eq "$((i + 1))" "$(jq -c .result <<<"$js")" "result of job $((i + 1))"
done

# Both workers took part (each logs one line per outcome, with the id).
a=$(grep -ohF -f "$TMP/ids" "${WORKER_LOG[${WORKER_PIDS[0]}]}" | sort -u | wc -l)
b=$(grep -ohF -f "$TMP/ids" "${WORKER_LOG[${WORKER_PIDS[1]}]}" | sort -u | wc -l)
log "outcomes logged: worker A $a, worker B $b"
[[ $a -gt 0 && $b -gt 0 ]] || fail "one worker did nothing (A $a, B $b)"
assert_eq "$N" "$(cat "${WORKER_LOG[@]}" | grep -ohF -f "$TMP/ids" | sort -u | wc -l)" "ids in the workers' outcome lines"

# tq stats: 2,000 processed in queue default.
assert_exit 0 tq stats
log "tq stats:"$'\n'"$OUT"
assert_contains "$OUT" "$N" "tq stats"
assert_exit 0 tq stats --json
p=$(jq '[.. | objects | select(has("processed")) | .processed | tonumber] | max' <<<"$OUT")
assert_eq "$N" "$p" "processed in tq stats --json ($OUT)"

log "ok"
