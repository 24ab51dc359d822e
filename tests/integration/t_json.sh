#!/usr/bin/env bash
# t_json: every command that prints something prints JSON with --json, in
# the shapes README's "Machine-readable output" documents (each parsed by
# python3's json module, not jq, and checked for its keys); errors stay one
# line on stderr with nothing on stdout. The messages of jobs that failed or
# were cancelled never repeat a word ("was cancelled: cancelled"); a bare
# word as JSON args gets the hint; tq stats' headers say what they count.
source "$(dirname "$0")/lib.sh"

# jcheck WHAT MODE KEYS...: $OUT is JSON as MODE says: one (one value on one
# line), lines (JSON Lines, at least one), array (one array on one line,
# every element checked); each object has every key.
JCHECK='
import json, sys
mode, keys, text = sys.argv[1], sys.argv[2:], sys.stdin.read()
lines = text.split("\n")
if lines and lines[-1] == "":
    lines.pop()
if mode in ("one", "array") and len(lines) != 1:
    sys.exit("expected one line, got %d" % len(lines))
if not lines:
    sys.exit("no output")
vals = [json.loads(l) for l in lines]
if mode == "array":
    if not isinstance(vals[0], list):
        sys.exit("not an array")
    vals = vals[0]
for v in vals:
    if not isinstance(v, dict):
        sys.exit("not an object: %r" % (v,))
    miss = [k for k in keys if k not in v]
    if miss:
        sys.exit("missing %s in %s" % (miss, json.dumps(v)))
'
jcheck() {
    local what=$1 why
    shift
    why=$(python3 -c "$JCHECK" "$@" <<<"$OUT" 2>&1) ||
        fail "$what: --json output [${OUT:0:400}]: ${why##*$'\n'}"
}
# jget EXPR: a value of $OUT's JSON (the first line), as python prints it.
jget() { python3 -c "import json,sys; v=json.loads(sys.stdin.readline()); print(json.dumps($1))" <<<"$OUT"; }

# no_repeat WHAT TEXT: no word of an error line is said twice in a row
# ("cancelled: cancelled", "failed: failed", "timeout: timeout").
no_repeat() {
    if grep -Eiq '\b([a-z]+)\b[: ]+\1\b' <<<"$2"; then
        fail "$1: a word repeats itself: [$2]"
    fi
}

start_redis
start_worker --concurrency 4 --queue default --queue cnt
wait_worker_registered "$WORKER_PID"

# ---- submit, submit --then, submit --wait, submit-many, status, result
assert_exit 0 tq submit --json tq.noop '{"a":1}'
jcheck "submit" one id
id=$(jget 'v["id"]' | tr -d '"')
assert_exit 0 tq submit --json --then tq.noop --then tq.noop tq.noop 2
jcheck "submit --then" one id ids
assert_eq 3 "$(jget 'len(v["ids"])')" "a chain's ids"
assert_eq true "$(jget 'v["id"] == v["ids"][0]')" "a chain's id is its head"
assert_exit 0 tq submit --json --wait tq.noop '"x"'
jcheck "submit --wait" one id state result error
assert_eq '["succeeded", "x", null]' "$(jget '[v["state"], v["result"], v["error"]]')" "submit --wait"
assert_exit 0 tq submit-many --json tq.noop <<<$'1\n2\n3'
jcheck "submit-many" lines id
assert_eq 3 "$(grep -c . <<<"$OUT")" "submit-many: a line per job"
wait_until 10 state_is "$id" succeeded || fail "job $id did not succeed"
assert_exit 0 tq status --json "$id"
jcheck "status" one id queue task args state attempt created_at result
assert_exit 0 tq result --json "$id"
jcheck "result" one id result
assert_eq '{"a": 1}' "$(jget 'v["result"]')" "result"

# ---- wait: one object per id, in order; the messages of the others
fl=$(tq submit --retries 0 tq.fail '"failed: boom"')
pend=$(tq submit --queue later tq.noop)
assert_exit 0 tq cancel --json "$pend"
jcheck "cancel" lines id before
assert_eq '"pending"' "$(jget 'v["before"]')" "cancel: before"
run=$(tq submit tq.sleep 60000)
wait_until 10 state_is "$run" active || fail "tq.sleep job never started"
assert_exit 0 tq cancel "$run"
tmo=$(tq submit --retries 0 --timeout 100ms tq.sleep 5000)
chain=$(tq submit --retries 0 --then tq.noop tq.fail '"x"' | tail -n1)
for j in "$fl" "$run" "$tmo" "$chain"; do
    wait_until 10 eval "tq status $j | grep -qE 'failed|cancelled'" || fail "job $j did not end"
done
missing=01m8m1s6c2vnq6r2wv855r07grkvkhsv1a
assert_exit 5 tq wait --json "$id" "$fl" "$pend" "$missing" --timeout 2s
jcheck "wait" lines id state result error
assert_eq 4 "$(grep -c . <<<"$OUT")" "wait: a line per id"
states=$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["state"] for l in sys.stdin))' <<<"$OUT")
assert_eq "succeeded failed cancelled missing" "$states" "wait: states in order"
assert_eq 3 "$(grep -c . <<<"$ERR")" "wait: a stderr line per job that did not succeed"
assert_exit 4 tq wait "$pend"
assert_eq "tq: job $pend was cancelled by user" "$ERR" "a cancel by the user"
assert_exit 4 tq wait "$run"
assert_eq "tq: job $run was cancelled" "$ERR" "a running job cancelled"
assert_exit 1 tq wait "$fl"
assert_eq "tq: job $fl failed: boom" "$ERR" "an error that says failed"
assert_exit 1 tq wait "$tmo"
no_repeat "a timeout" "$ERR"
assert_contains "$ERR" "failed: timeout" "a timeout"
assert_exit 4 tq wait "$chain"
assert_match "$ERR" "^tq: job $chain was cancelled: [0-9a-z]+ failed$" "a chain's link"
assert_exit 4 tq result "$pend"
assert_eq "tq: job $pend was cancelled by user" "$ERR" "result of a cancelled job"
for e in "$fl" "$run" "$tmo" "$chain" "$pend"; do
    tq wait "$e" >/dev/null 2>"$TMP/err" || true
    no_repeat "tq wait $e" "$(cat "$TMP/err")"
done

# ---- errors with --json: one line on stderr, nothing on stdout
assert_exit 5 tq status --json "$missing"
assert_eq "" "$OUT" "stdout of an error with --json"
assert_one_line "$ERR"
assert_exit 3 tq result --json "$(tq submit --queue later tq.noop)"
assert_eq "" "$OUT" "result --json of an unfinished job"
assert_exit 2 tq logs --json "$id"
assert_contains "$ERR" "--json does not apply to 'tq logs'"

# ---- stats: JSON, and headers that say what they count
cf=$(tq submit --queue cnt --retries 1 --backoff 10ms tq.fail '"twice"')
wait_until 10 state_is "$cf" failed || fail "job $cf did not fail"
assert_exit 0 tq stats --json
jcheck "stats" array queue pending scheduled active dead paused totals
assert_exit 0 tq stats
col() { # col NAME: queue cnt's value in stats' column NAME
    awk -v c="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i }
                   $1 == "cnt" { print $k }' <<<"$OUT"
}
assert_eq "2 2 1 1 0" "$(col ATTEMPTS) $(col ATTEMPTS-FAILED) $(col RETRIED) $(col JOBS-FAILED) $(col SUCCEEDED)" \
    "stats of one job that failed twice (ATTEMPTS ATTEMPTS-FAILED RETRIED JOBS-FAILED SUCCEEDED)"

# ---- workers, jobs, dlq
assert_exit 0 tq workers --json
jcheck "workers" array id host pid queues concurrency busy state stale
assert_exit 0 tq jobs --json --limit 5
jcheck "jobs" array id queue task state attempt created_at error
assert_exit 0 tq dlq list --json
jcheck "dlq list" array id queue task attempt finished_at error
assert_exit 0 tq dlq retry --json "$fl"
jcheck "dlq retry" lines id retried
assert_exit 0 tq dlq retry --all --json --queue cnt
jcheck "dlq retry --all" one retried
assert_exit 0 tq dlq purge --json
jcheck "dlq purge" one purged

# ---- queues (a name that needs escaping in JSON)
q='a"b'
tq submit --queue "$q" tq.noop >/dev/null
assert_exit 0 tq queue pause --json "$q"
jcheck "queue pause" one queue paused changed
assert_eq true "$(jget 'v["queue"] == "a" + chr(34) + "b" and v["paused"]')" "queue pause: name escaped"
assert_exit 0 tq queue resume --json "$q"
jcheck "queue resume" one queue paused changed
assert_exit 0 tq purge --json "$q" --yes
jcheck "purge" one purged
assert_exit 0 tq queue rm --json "$q" --yes
jcheck "queue rm" one queue removed jobs

# ---- groups
assert_exit 0 tq group submit --json tq.noop <<<$'1\n2'
jcheck "group submit" one group fanin members
gid=$(jget 'v["group"]' | tr -d '"')
assert_exit 0 tq group wait --json "$gid" --timeout 10s
jcheck "group wait" lines id state result error
assert_eq 2 "$(grep -c . <<<"$OUT")" "group wait: a line per member"
assert_exit 0 tq group status --json "$gid"
jcheck "group status" one id queue total done succeeded sealed finished states fanin fanin_state
assert_exit 0 tq group cancel --json "$gid"
jcheck "group cancel" one group cancelled stopping

# ---- semaphores, rate limits, schedules
assert_exit 0 tq semaphore set --json gpu 2
jcheck "semaphore set" one name capacity
assert_exit 0 tq semaphore show --json
jcheck "semaphore show" array name capacity capacity_set holders waiting
assert_exit 0 tq ratelimit set --json 'r"1' 10/s --burst 2
jcheck "ratelimit set" one name rate burst interval_us
assert_exit 0 tq ratelimit show --json
jcheck "ratelimit show" array name rate burst
assert_exit 0 tq ratelimit show --json 'r"1'
jcheck "ratelimit show NAME" array name rate burst keys
assert_exit 0 tq ratelimit rm --json 'r"1'
jcheck "ratelimit rm" one removed
assert_exit 0 tq schedule add --json s1 '@every 1h' tq.noop
jcheck "schedule add" one name next_run
assert_exit 0 tq schedule list --json
jcheck "schedule list" array name spec tz task queue next_run last_run paused
assert_exit 0 tq schedule run --json s1
jcheck "schedule run" one name id
assert_exit 0 tq schedule pause --json s1
jcheck "schedule pause" one name paused
assert_exit 0 tq schedule resume --json s1
jcheck "schedule resume" one name paused
assert_exit 0 tq schedule rm --json s1
jcheck "schedule rm" one name removed

# ---- a bare word where JSON is expected
assert_exit 2 tq submit t hello
assert_one_line "$ERR"
assert_contains "$ERR" "(strings need quotes: '\"hello\"')" "the hint"
assert_exit 2 tq submit-many t <<<$'1\nhello'
assert_contains "$ERR" "line 2:" "submit-many's line"
assert_contains "$ERR" '(strings need quotes: "hello")' "the hint for a line of stdin"
assert_exit 2 tq schedule add s2 '@every 1h' t hello
assert_contains "$ERR" "(strings need quotes: '\"hello\"')" "schedule add's hint"
assert_exit 2 tq submit t '{"a":'
[[ $ERR != *"need quotes"* ]] || fail "a hint for broken JSON that is not a word: [$ERR]"

# ---- a flag's message says the flag's words once
assert_exit 2 tq submit --rate-limit '' t
assert_eq "tq: --rate-limit name is empty" "$ERR" "--rate-limit ''"
assert_exit 2 tq --redis foo://x stats
assert_match "$ERR" "^tq: --redis URL 'foo://x' must start with" "--redis foo://x"
no_repeat "--redis foo://x" "$ERR"

log "every --json output parsed with its keys"
