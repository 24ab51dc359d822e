#!/usr/bin/env bash
# t_happy: one job through the whole path. submit -> worker -> wait prints the
# args back; status, result and status --json tell the same story (SPEC §3).
source "$(dirname "$0")/lib.sh"

start_redis
start_worker --concurrency 4 --name happyw

args='{"n":42,"list":[1,2.5,"three",null,true],"s":"h\u00e9llo \"q\"","o":{}}'
id=$(tq submit tq.noop "$args")
assert_match "$id" '^[A-Za-z0-9_-]{1,40}$' "job id"
log "submitted $id"

out=$(tq wait "$id" --timeout 20s)
assert_json_eq "$args" "$out" "tq wait output"
assert_eq succeeded "$(tq status "$id")" "tq status"
assert_json_eq "$args" "$(tq result "$id")" "tq result"

# The whole record, as SPEC §3 names its fields.
js=$(tq status --json "$id")
log "status --json: $js"
for f in id queue task args state attempt max_retries timeout priority \
         created_at started_at finished_at worker result; do
    jq -e --arg f "$f" 'has($f)' >/dev/null <<<"$js" || fail "status --json has no '$f': $js"
done
assert_eq "$id" "$(jq -r .id <<<"$js")" "id"
assert_eq default "$(jq -r .queue <<<"$js")" "queue"
assert_eq tq.noop "$(jq -r .task <<<"$js")" "task"
assert_eq succeeded "$(jq -r .state <<<"$js")" "state"
assert_eq 1 "$(jq -r .attempt <<<"$js")" "attempt"
assert_eq 3 "$(jq -r .max_retries <<<"$js")" "max_retries (default)"
assert_eq 0 "$(jq -r .priority <<<"$js")" "priority (default)"
assert_eq 1 "$(jq -r .backoff <<<"$js")" "backoff (default, seconds)"
assert_eq 86400 "$(jq -r .result_ttl <<<"$js")" "result_ttl (default, seconds)"
assert_eq 3 "$(jq -r .max_lost <<<"$js")" "max_lost (default)"
assert_json_eq "$args" "$(jq -c .args <<<"$js")" "args in record"
assert_json_eq "$args" "$(jq -c .result <<<"$js")" "result in record"
jq -e '.worker | type == "string" and length > 0' >/dev/null <<<"$js" || fail "worker is not set: $js"
assert_contains "$(jq -r .worker <<<"$js")" happyw "worker id carries --name"
jq -e '(.created_at|type) == "number" and (.started_at|type) == "number" and (.finished_at|type) == "number"' \
    >/dev/null <<<"$js" || fail "times are not numbers: $js"
jq -e '.created_at <= .started_at and .started_at <= .finished_at' >/dev/null <<<"$js" ||
    fail "times out of order: $js"
nowsec=$(date +%s)
jq -e --argjson now "$nowsec" '.created_at > $now - 60 and .finished_at < $now + 5' >/dev/null <<<"$js" ||
    fail "times are not Unix seconds of now ($nowsec): $js"

# No ARGS means null; '-' reads them from stdin.
id2=$(tq submit tq.noop)
assert_eq null "$(tq wait "$id2" --timeout 20s)" "result of a job without args"
id3=$(printf '[1, 2,\n 3]\n' | tq submit tq.noop -)
assert_json_eq '[1,2,3]' "$(tq wait "$id3" --timeout 20s)" "args from stdin"

# submit --wait prints the result as tq wait does.
assert_exit 0 tq submit --wait tq.noop '"round trip"'
assert_eq '"round trip"' "$OUT" "submit --wait"

# Options land in the record. Nothing serves queue 'elsewhere': it stays pending.
id4=$(tq submit --queue elsewhere --priority 7 --retries 5 --timeout 2500ms tq.noop 7)
js=$(tq status --json "$id4")
assert_eq elsewhere "$(jq -r .queue <<<"$js")" "queue"
assert_eq 7 "$(jq -r .priority <<<"$js")" "priority"
assert_eq 5 "$(jq -r .max_retries <<<"$js")" "max_retries"
assert_eq 2.5 "$(jq -r .timeout <<<"$js")" "timeout (seconds)"
assert_eq pending "$(jq -r .state <<<"$js")" "state of a job nobody serves"
assert_eq 0 "$(jq -r .attempt <<<"$js")" "attempt before any claim"
assert_exit 3 tq result "$id4"

# ids are unique.
ids=$(for i in 1 2 3 4 5; do tq submit tq.noop "$i"; done | sort -u | wc -l)
assert_eq 5 "$ids" "distinct ids of 5 submits"

log "ok"
