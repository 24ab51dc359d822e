#!/usr/bin/env bash
# t_locate: finding a job's queue from its id stays cheap with 2,000 queues.
# An id ends with its queue's tag (the top 40 bits of FNV-1a 64 of the name,
# docs/design.md §2) and locate looks the tag up in P:qt:TAG, so `tq wait` of
# 2,000 ids and `tq status` cost Redis a few µs per id, not a probe of every
# queue (it was ~1 ms per id here, and a 500-id locate call held Redis for
# half a second). Also: two queue names whose tags collide both resolve; a
# job id of the older 26-character form still resolves (by the old probe);
# an id tq never made is not found, without a probe.
source "$(dirname "$0")/lib.sh"

NQ=2000       # queues in P:queues
NREAL=4       # of which real ones, with 500 jobs each
PER=500
NS=$TQ_NAMESPACE
start_redis

# tag NAME: the tag of a queue name, as proto/id.c computes it.
tag() {
    local s=$1 h=-3750763034362895579 i c a=0123456789abcdefghjkmnpqrstvwxyz out=""
    for ((i = 0; i < ${#s}; i++)); do
        printf -v c '%d' "'${s:i:1}"
        h=$(((h ^ c) * 1099511628211))
    done
    h=$(((h >> 24) & 0xFFFFFFFFFF))
    for ((i = 0; i < 8; i++)); do
        out=${a:h & 31:1}$out
        h=$((h >> 5))
    done
    echo "$out"
}

# ---- 2,000 queues registered as a client registers them (P:qt:TAG, P:queues).
t0=$(now)
for ((i = 0; i < NQ - NREAL; i++)); do
    q=q$i
    echo "SADD $NS:qt:$(tag "$q") $q"
    echo "SADD $NS:queues $q"
done >"$TMP/reg"
rcli <"$TMP/reg" >/dev/null
log "registered $((NQ - NREAL)) queues in $(elapsed_since "$t0") s"

# ---- real jobs in 4 more queues.
real=()
for ((k = 0; k < NREAL; k++)); do real+=("real$k"); done
start_worker --concurrency 50 --name locw $(printf -- '--queue %s ' "${real[@]}")
wait_worker_registered locw
: >"$TMP/ids"
for ((k = 0; k < NREAL; k++)); do
    seq $((k * PER + 1)) $(((k + 1) * PER)) >"$TMP/args"
    tq submit-many --queue "real$k" tq.noop <"$TMP/args" >>"$TMP/ids"
done
assert_eq "$NQ" "$(rcli scard "$NS:queues")" "queues in P:queues"
mapfile -t ids <"$TMP/ids"
assert_eq $((NREAL * PER)) "${#ids[@]}" "ids"
first=${ids[0]}
assert_match "$first" '^[0-7][0-9a-hjkmnp-tv-z]{33}$' "a new id"
assert_eq "$(tag real0)" "${first:26}" "the tag an id of real0 ends with"
assert_eq real0 "$(rcli smembers "$NS:qt:$(tag real0)")" "P:qt of real0's tag"

# ---- tq wait of all 2,000: no command over 20 ms, few µs per id.
rcli config set slowlog-log-slower-than 20000 >/dev/null
rcli slowlog reset >/dev/null
rcli config resetstat >/dev/null
t0=$(now)
tq wait "${ids[@]}" --timeout 60s >"$TMP/results"
log "tq wait of ${#ids[@]} ids took $(elapsed_since "$t0") s"
diff -q <(seq 1 $((NREAL * PER))) "$TMP/results" >/dev/null || fail "results differ from args"
stats=$(rcli info commandstats | tr -d '\r' | grep '^cmdstat_evalsha:')
log "during tq wait: $stats"
slow=$(rcli slowlog get 10 | grep -ci evalsha || true)
log "EVALSHA calls over 20 ms: $slow"
usec=$(sed -E 's/.*[:,]usec=([0-9]+),.*/\1/' <<<"$stats")
assert_le "$usec" 300000 "µs of EVALSHA (locate, waitprep, the worker's) for tq wait of 2,000 ids"
assert_eq 0 "$slow" "EVALSHA calls over 20 ms during tq wait"
stop_worker "$WORKER_PID" # from here on, every EVALSHA is a locate

# ---- tq status: each is one locate (the one EVALSHA) and an HGETALL.
rcli config resetstat >/dev/null
for ((i = 0; i < NREAL * PER; i += 40)); do
    assert_eq succeeded "$(tq status "${ids[$i]}")" "status of job $i"
done
assert_exit 5 tq status "${first:0:26}$(tag nosuchqueue)"
assert_exit 5 tq status "7zzzzzzzzzzzzzzzzzzzzzzzzz$(tag real0)"
assert_exit 5 tq status nosuchjob
stats=$(rcli info commandstats | tr -d '\r' | grep '^cmdstat_evalsha:')
log "tq status of 53 ids: $stats"
per=$(sed -E 's/.*usec_per_call=([0-9.]+).*/\1/' <<<"$stats")
assert_le "$per" 400 "µs per locate call of tq status with $NQ queues"

# ---- a collision of tags: both queues' jobs are found, each in its own.
a=q8696470 b=q12106645
assert_eq "$(tag $a)" "$(tag $b)" "the two names' tags"
ja=$(tq submit --queue $a tq.noop '"a"')
jb=$(tq submit --queue $b tq.noop '"b"')
assert_eq "${ja:26}" "${jb:26}" "the tags of their ids"
assert_eq "$(printf '%s\n' $a $b | sort | xargs)" \
    "$(rcli smembers "$NS:qt:${ja:26}" | sort | xargs)" "P:qt of the shared tag"
assert_eq $a "$(field "$ja" queue)" "queue of the job in $a"
assert_eq $b "$(field "$jb" queue)" "queue of the job in $b"
assert_exit 0 tq cancel "$ja" "$jb"
assert_eq "cancelled cancelled" "$(tq status "$ja") $(tq status "$jb")" "both cancelled"

# ---- an id of the old form (26 characters) in queue q1500: the old probe.
old=01m8kcde0zbfk24ttyegqw5h8s
rcli hset "$NS:{q1500}:j:$old" state succeeded task tq.noop args 7 result 42 \
    created_at 1700000000.000000 finished_at 1700000001.000000 >/dev/null
rcli config resetstat >/dev/null
assert_eq succeeded "$(tq status "$old")" "status of an old-form id"
stats=$(rcli info commandstats | tr -d '\r' | grep '^cmdstat_evalsha:')
log "tq status of an old-form id with $NQ queues: $stats"
assert_eq q1500 "$(field "$old" queue)" "queue of the old-form id"
assert_eq 42 "$(tq wait "$old" "$first" --timeout 5s | head -1)" "wait on an old-form id"

log "ok"
