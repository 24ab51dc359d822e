#!/usr/bin/env bash
# t_ratelimit: rate limits counted across workers, taken at claim time.
# 3 workers and 200 jobs at 20/s (burst 1): the starts (started_at, Redis's
# clock) never exceed 20 in any 1-second window, and the whole run takes
# ~10 s (tokens are reserved 50 ms apart, so jobs wait parked, holding no
# slot: a plain job submitted behind them runs at once). Two keys of a
# per-key limit at 5/s run side by side, each at its own 5/s, and a key's
# bucket is gone once idle. Removing a limit releases the jobs parked under
# it. Bad input is exit 2 with nothing sent.
source "$(dirname "$0")/lib.sh"

start_redis

# ---- bad input
assert_exit 2 tq ratelimit set r 20
assert_contains "$(tq ratelimit set r 20 2>&1)" "rate needs a unit: 20/s"
assert_exit 2 tq ratelimit set r 20/d
assert_exit 2 tq ratelimit set r 0/s
assert_exit 2 tq ratelimit set r 2000000/s
assert_exit 2 tq ratelimit set r 20/s --burst 0
assert_exit 2 tq ratelimit set a:b 20/s
assert_exit 2 tq submit --rate-limit "$(printf 'r:k\001')" tq.noop
assert_contains "$(tq submit --rate-limit "$(printf 'r:k\001')" tq.noop 2>&1)" "control character"
assert_exit 2 tq submit --rate-limit ":k" tq.noop
assert_exit 2 tq submit --rate-limit "r:" tq.noop
assert_exit 2 tq submit --rate-limit nosuch tq.noop
assert_contains "$(tq submit --rate-limit nosuch tq.noop 2>&1)" "no rate limit named 'nosuch'"
assert_eq 0 "$(rcli dbsize)" "nothing written by bad input"

# ---- 200 jobs at 20/s, 3 workers
assert_exit 0 tq ratelimit set r 20/s
show=$(tq ratelimit show --json)
log "show: $show"
assert_eq '20/s' "$(jq -r '.[0].rate' <<<"$show")" "rate shown"
assert_eq 1 "$(jq -r '.[0].burst' <<<"$show")" "default burst"

for n in a b c; do start_worker --concurrency 4 --name "rl-$n"; done
t0=$(now)
seq 1 200 | tq submit-many --rate-limit r tq.noop >"$TMP/ids"
assert_eq 200 "$(wc -l <"$TMP/ids")" "200 submitted"
free=$(tq submit tq.noop '"free"')
assert_eq '"free"' "$(tq wait "$free" --timeout 5s)" "a plain job is not held up by parked ones"
tq wait $(cat "$TMP/ids") --timeout 30s >/dev/null || fail "rate-limited jobs did not all finish"
log "200 jobs at 20/s took $(elapsed_since "$t0")s"

while read -r id; do echo "HGET $TQ_NAMESPACE:{default}:j:$id started_at"; done <"$TMP/ids" |
    rcli >"$TMP/starts"
assert_eq 200 "$(grep -c . "$TMP/starts")" "200 start times"
# the most starts in any window [s, s+1) beginning at a start
maxw=$(sort -n "$TMP/starts" | awk '{t[NR] = $1} END {j = 1; m = 0;
    for (i = 1; i <= NR; i++) { while (t[i] - t[j] >= 1) j++; if (i - j + 1 > m) m = i - j + 1 }
    print m}')
span=$(sort -n "$TMP/starts" | awk 'NR == 1 {f = $1} {l = $1} END {printf "%.2f", l - f}')
log "most starts in one second: $maxw; first to last start: ${span}s"
assert_le "$maxw" 21 "starts per second (20/s, burst 1)"
assert_le 9.8 "$span" "199 intervals of 50 ms"
assert_le "$span" 12 "no stall"

# ---- per-key buckets: independent, and gone when idle
assert_exit 0 tq ratelimit set k 5/s
seq 1 10 | tq submit-many --rate-limit k:a tq.noop >"$TMP/a"
seq 1 10 | tq submit-many --rate-limit k:b tq.noop >"$TMP/b"
t1=$(now)
tq wait $(cat "$TMP/a" "$TMP/b") --timeout 20s >/dev/null || fail "per-key jobs did not finish"
took=$(elapsed_since "$t1")
log "two keys of 10 jobs at 5/s each took ${took}s"
assert_le 1.7 "$took" "each key at its own 5/s (9 intervals of 200 ms)"
assert_le "$took" 3.5 "keys run side by side (one shared bucket would take 3.8 s)"
for k in a b; do
    while read -r id; do echo "HGET $TQ_NAMESPACE:{default}:j:$id started_at"; done <"$TMP/$k" |
        rcli | sort -n | awk -v k="$k" 'NR > 1 && $1 - p < 0.19 {print "key " k ": starts " $1 - p "s apart"; bad = 1}
            {p = $1} END {exit bad}' || fail "a key's jobs started closer than its rate allows"
done
key_gone() { [[ $(rcli exists "$TQ_NAMESPACE:rlb:k:a") == 0 ]]; }
wait_until 3 key_gone || fail "an idle key's bucket did not expire"
assert_eq 0 "$(tq ratelimit show k --json | jq '.[0].keys')" "no live keys once idle"

# ---- group submit and chains carry the limit on every job
gid=$(printf '1\n2\n' | tq group submit --rate-limit k:g tq.noop)
assert_eq $'1\n2' "$(tq group wait "$gid" --timeout 10s)" "a rate-limited group runs"
c=($(tq submit --rate-limit k:c --then tq.noop tq.noop '"x"'))
assert_eq '"x"' "$(tq wait "${c[1]}" --timeout 10s)" "a rate-limited chain runs"
assert_eq k:c "$(tq status --json "${c[1]}" | jq -r .rate_limit)" "every link carries the limit"

# ---- removing a limit releases its parked jobs: they run unlimited
assert_exit 0 tq ratelimit set slow 1/h
s1=$(tq submit --rate-limit slow tq.noop 1)
s2=$(tq submit --rate-limit slow tq.noop 2)
assert_eq 1 "$(tq wait "$s1" --timeout 5s)" "the first token is free"
wait_until 5 state_is "$s2" scheduled || fail "the second job was not parked"
assert_exit 0 tq ratelimit rm slow
assert_eq 2 "$(tq wait "$s2" --timeout 5s)" "parked job released by rm"
assert_exit 5 tq ratelimit rm slow
assert_exit 5 tq ratelimit show slow

# ---- a new rate re-charges the jobs parked under the old one
assert_exit 0 tq ratelimit set slow 1/h
s3=$(tq submit --rate-limit slow:k tq.noop 3)
s4=$(tq submit --rate-limit slow:k tq.noop 4)
assert_eq 3 "$(tq wait "$s3" --timeout 5s)" "the first token is free"
wait_until 5 state_is "$s4" scheduled || fail "the second job was not parked"
assert_exit 0 tq ratelimit set slow 10/s
assert_eq 4 "$(tq wait "$s4" --timeout 5s)" "parked job charged again at the new rate"
