#!/usr/bin/env bash
# t_semaphore_key: per-key semaphores (--semaphore NAME:KEY), each key a
# semaphore of its own with NAME's capacity. Capacity 2, two keys, three
# workers: at no instant do more than 2 jobs of a key overlap, and the two
# keys run side by side (4 at once). `tq semaphore show NAME` lists the keys
# in use, and an idle key leaves no key behind. A SIGKILLed worker's
# per-key permit comes back; raising NAME's capacity wakes jobs parked on
# its keys. Bad input is exit 2.
source "$(dirname "$0")/lib.sh"

start_redis

assert_exit 2 tq semaphore set gpu:a 2
assert_exit 2 tq submit --semaphore gpu: tq.noop
assert_exit 2 tq submit --semaphore :a tq.noop
assert_exit 2 tq submit --semaphore "$(printf 'gpu:a\033')" tq.noop

# each job appends "KEY start end" (its args are the key, as JSON)
printf '%s\n' '#!/bin/sh' 'k=$(cat | tr -d "\"")' 's=$(date +%s.%N)' 'sleep 0.4' \
    "echo \"\$k \$s \$(date +%s.%N)\" >>\"$TMP/spans.log\"" \
    "echo '\"done\"'" >"$TMP/job.sh"
printf '%s\n' '#!/bin/sh' 'cat >/dev/null' 'sleep 60' >"$TMP/long.sh"
chmod +x "$TMP/job.sh" "$TMP/long.sh"

assert_exit 0 tq semaphore set gpu 2
for n in a b c; do
    start_worker --concurrency 4 --name "semk-$n" --task "gpu=$TMP/job.sh"
done
ids=()
for i in $(seq 1 6); do
    ids+=("$(tq submit --semaphore gpu:a gpu '"a"')")
    ids+=("$(tq submit --semaphore gpu:b gpu '"b"')")
done
in_use() { [[ $(tq semaphore show gpu --json | jq '[.[] | select(.name | startswith("gpu:"))] | length') == 2 ]]; }
wait_until 5 in_use || fail "semaphore show gpu does not list the two keys in use"
show=$(tq semaphore show gpu --json)
log "show while running: $show"
assert_eq 2 "$(jq -r '.[] | select(.name == "gpu:a") | .capacity' <<<"$show")" "a key has NAME's capacity"
out=$(tq wait "${ids[@]}" --timeout 30s)
assert_eq 12 "$(grep -c '"done"' <<<"$out")" "all twelve succeeded"

overlap() { # the most spans of the lines given on stdin open at once
    awk '{print $2, 1; print $3, -1}' | sort -k1,1n -k2,2n |
        awk '{c += $2; if (c > m) m = c} END {print m}'
}
for k in a b; do
    m=$(grep "^$k " "$TMP/spans.log" | overlap)
    log "key $k: at most $m at once"
    assert_eq 2 "$m" "key $k: capacity 2, and both permits used"
done
all=$(overlap <"$TMP/spans.log")
log "both keys: at most $all at once"
assert_eq 4 "$all" "two keys side by side"
gone() { [[ $(rcli --scan --pattern "$TQ_NAMESPACE:sem:[hw]:gpu:*" | wc -l) == 0 ]]; }
wait_until 3 gone || fail "an idle key left keys behind: $(rcli --scan --pattern "$TQ_NAMESPACE:sem:*")"

# A dead holder's per-key permit comes back.
assert_exit 0 tq semaphore set one 1
start_worker --concurrency 2 --name semk-dying --lease 2s --queue solo --task "long=$TMP/long.sh"
wa=$WORKER_PID
long=$(tq submit --queue solo --semaphore one:x --retries 0 --max-lost 0 long '{}')
wait_until 10 state_is "$long" active || fail "long job never started"
other=$(tq submit --queue solo --semaphore one:y tq.noop '"other key"')
assert_eq '"other key"' "$(tq wait "$other" --timeout 5s)" "another key of the same NAME is free"
next=$(tq submit --queue solo --semaphore one:x tq.noop '"next"')
sleep 0.5
assert_eq pending "$(tq status "$next")" "a job on the held key waits"
kill_worker "$wa"
start_worker --concurrency 2 --name semk-heir --lease 2s --queue solo
assert_eq '"next"' "$(tq wait "$next" --timeout 20s)" "job ran after the key's holder died"

# Raising NAME's capacity wakes jobs parked on its keys.
assert_exit 0 tq semaphore set gate 0
g1=$(tq submit --queue solo --semaphore gate:k1 tq.noop 1)
g2=$(tq submit --queue solo --semaphore gate:k2 tq.noop 2)
parked() { [[ $(tq semaphore show gate --json | jq '[.[].waiting] | add') == 2 ]]; }
wait_until 5 parked || fail "jobs were not parked on keys of a semaphore of capacity 0"
assert_exit 0 tq semaphore set gate 1
assert_eq $'1\n2' "$(tq wait "$g1" "$g2" --timeout 5s)" "keys woken by semaphore set"
