#!/usr/bin/env bash
# t_limit: --limit TASK=K caps the jobs of one task running at once in a
# worker, while other tasks use the remaining slots. Each job records its
# own start and end; at no instant do more than K of the limited task
# overlap, and jobs of other tasks are not held up behind them.
source "$(dirname "$0")/lib.sh"

start_redis

printf '%s\n' '#!/bin/sh' 'cat >/dev/null' 's=$(date +%s.%N)' 'sleep 0.3' \
    "echo \"\$s \$(date +%s.%N)\" >>\"$TMP/spans.log\"" 'echo 1' >"$TMP/slow.sh"
chmod +x "$TMP/slow.sh"

start_worker --concurrency 10 --name limitw --task "slow=$TMP/slow.sh" --limit slow=2

mapfile -t ids < <(yes '{}' | head -n 6 | tq submit-many slow)
assert_eq 6 "${#ids[@]}" "ids"
t0=$(now)
quick=$(tq submit tq.noop '"quick"')
assert_eq '"quick"' "$(tq wait "$quick" --timeout 5s)" "other task result"
log "a tq.noop behind six limited jobs finished in $(elapsed_since "$t0") s"
assert_le "$(elapsed_since "$t0")" 1.5 "other tasks are not held up by the limit"

out=$(tq wait "${ids[@]}" --timeout 30s)
assert_eq 6 "$(grep -c '^1$' <<<"$out")" "all six limited jobs succeeded"
maxc=$(awk '{print $1, 1; print $2, -1}' "$TMP/spans.log" | sort -k1,1n -k2,2n |
       awk '{c += $2; if (c > m) m = c} END {print m}')
log "most 'slow' jobs running at once: $maxc"
assert_eq 2 "$maxc" "max concurrent jobs of the limited task"
for id in "${ids[@]}"; do
    assert_eq 1 "$(field "$id" attempt)" "attempt of $id (a job given back by the limit is not charged)"
done
