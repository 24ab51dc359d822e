#!/usr/bin/env bash
# t_retry: retries with backoff. An exec task that fails on attempts 1 and 2
# (it reads $TQ_ATTEMPT) and succeeds on 3 ends succeeded at attempt 3, the
# retries spaced by the doubling backoff; with one retry fewer it ends failed
# with the last attempt's error.
source "$(dirname "$0")/lib.sh"

start_redis

cat >"$TMP/flaky.sh" <<EOF
#!/bin/sh
cat >/dev/null
echo "\$TQ_JOB_ID \$TQ_ATTEMPT \$(date +%s.%N)" >>"$TMP/attempts.log"
if [ "\$TQ_ATTEMPT" -lt 3 ]; then
    echo "flaky failure on attempt \$TQ_ATTEMPT" >&2
    exit 1
fi
echo "{\"ok\":true,\"attempt\":\$TQ_ATTEMPT}"
EOF
chmod +x "$TMP/flaky.sh"

start_worker --concurrency 4 --name retryw --task "flaky=$TMP/flaky.sh"

id=$(tq submit --retries 2 --backoff 500ms flaky '{}')
idf=$(tq submit --retries 1 --backoff 100ms flaky '{}')

out=$(tq wait "$id" --timeout 30s)
assert_json_eq '{"ok":true,"attempt":3}' "$out" "result"
js=$(tq status --json "$id")
log "record: $js"
assert_eq succeeded "$(jq -r .state <<<"$js")" "state"
assert_eq 3 "$(jq -r .attempt <<<"$js")" "attempt"

# Attempts 1, 2, 3 ran once each, in order, spaced by backoff 0.5 s then 1 s
# (jitter 0.75..1.25), and not much later than that.
mapfile -t times < <(awk -v id="$id" '$1 == id {print $2, $3}' "$TMP/attempts.log")
log "attempts of $id: ${times[*]}"
assert_eq 3 "${#times[@]}" "runs of the script"
assert_eq "1 2 3" "$(for t in "${times[@]}"; do echo "${t%% *}"; done | xargs)" "attempt numbers"
g1=$(awk -v a="${times[0]#* }" -v b="${times[1]#* }" 'BEGIN{print b-a}')
g2=$(awk -v a="${times[1]#* }" -v b="${times[2]#* }" 'BEGIN{print b-a}')
log "gaps: $g1 s, $g2 s"
assert_le 0.37 "$g1" "first retry delay (backoff 0.5 s, jitter >= 0.75)"
assert_le "$g1" 2.5 "first retry delay"
assert_le 0.75 "$g2" "second retry delay (doubled)"
assert_le "$g2" 3.5 "second retry delay"

# One retry fewer: failed after attempt 2, with attempt 2's stderr.
assert_exit 1 tq wait "$idf" --timeout 20s
js=$(tq status --json "$idf")
assert_eq failed "$(jq -r .state <<<"$js")" "state with --retries 1"
assert_eq 2 "$(jq -r .attempt <<<"$js")" "attempt with --retries 1"
assert_contains "$(jq -r .error <<<"$js")" "flaky failure on attempt 2" "error"
assert_eq 2 "$(grep -c "^$idf " "$TMP/attempts.log")" "runs of the failing job"

# A timeout is a failure like any other: retried while attempts remain.
id=$(tq submit --retries 1 --backoff 100ms --timeout 300ms tq.sleep 5000)
assert_exit 1 tq wait "$id" --timeout 20s
js=$(tq status --json "$id")
assert_eq 2 "$(jq -r .attempt <<<"$js")" "attempts of a job that times out"
assert_contains "$(jq -r .error <<<"$js")" timeout "error of a timed-out job"

log "ok"
