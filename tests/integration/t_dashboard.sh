#!/usr/bin/env bash
# t_dashboard: tq dashboard's JSON API, actions and safety, through curl
# against a real dashboard, worker and Redis (the page itself is driven by
# a browser in t_browser). The API's numbers are tq stats' numbers; a
# listing pages newest first; the job API gives the whole record with
# <script> in its args and error as plain JSON strings; POST actions need
# the X-TQ-CSRF header of the page (403 without), do what they say (cancel,
# retry, delete, pause/resume, retry-all, schedule pause/run); --read-only
# refuses every POST (403) and says so to the page; --token is needed by
# the API and /metrics (401 without); a non-loopback --listen without
# --token or --read-only exits 2 with one line; a foreign Host header is
# refused on loopback (DNS rebinding); /metrics has the per-queue gauges
# and counters; the rates ring turns processed totals into jobs/s.
source "$(dirname "$0")/lib.sh"

start_redis


# get PATH [CURL ARGS...]: body in BODY, status in CODE.
get() {
    local p=$1
    shift
    CODE=$(curl -s -o "$TMP/.body" -w '%{http_code}' "$@" "$DASH$p")
    BODY=$(cat "$TMP/.body")
}
post() {
    local p=$1
    shift
    CODE=$(curl -s -o "$TMP/.body" -w '%{http_code}' -X POST "$@" "$DASH$p")
    BODY=$(cat "$TMP/.body")
}
csrf_of() { curl -s "$DASH/" | sed -n 's/.*name="tq-csrf" content="\([0-9a-f]*\)".*/\1/p'; }

# ---- refusals at start: exit 2, one line, nothing served
assert_exit 2 tq dashboard --listen 0.0.0.0:0
assert_one_line "$ERR"
assert_contains "$ERR" "--token"
assert_exit 2 tq dashboard --listen nonsense
assert_one_line "$ERR"
assert_exit 2 tq dashboard --listen 127.0.0.1:99999
assert_exit 2 tq dashboard extra
assert_exit 2 tq dashboard --token ''

# ---- jobs to look at: 3 pending in q1 (no worker on it), a dead letter
# and a succeeded job in default
xss='<script>window.__x=1</script><img src=x onerror="window.__x=2">'
p1=$(tq submit --queue q1 tq.noop '1')
p2=$(tq submit --queue q1 tq.noop '2')
p3=$(tq submit --queue q1 tq.noop "$(jq -cn --arg s "$xss" '{s: $s}')")
printf '#!/bin/sh\ncat >/dev/null\necho "said <b>it</b>" >&2\necho 1\n' >"$TMP/say.sh"
chmod +x "$TMP/say.sh"
start_worker --queue default --concurrency 2 --task "say=$TMP/say.sh"
said=$(tq submit say)
dead=$(tq submit --retries 0 tq.fail "$(jq -cn --arg s "$xss" '$s')")
ok=$(tq submit tq.noop '"fine"')
tq wait "$ok" "$said" --timeout 10s >/dev/null
wait_until 10 state_is "$dead" failed

start_dashboard
log "dashboard at $DASH"
CSRF=$(csrf_of)
assert_match "$CSRF" '^[0-9a-f]{64}$' "the page's CSRF token"

# ---- the page and its headers
hdr=$(curl -s -D - -o /dev/null "$DASH/")
assert_contains "$hdr" "Content-Security-Policy: default-src 'self'"
assert_contains "$hdr" "X-Frame-Options: DENY"
assert_contains "$hdr" "X-Content-Type-Options: nosniff"
page=$(curl -s "$DASH/")
assert_contains "$page" '<script src="/app.js" defer></script>'
[[ $page != *redis://* ]] || fail "the page names the Redis URL"
get /app.js
assert_eq 200 "$CODE" "app.js"
for bad in .innerHTML .outerHTML insertAdjacentHTML document.write eval\( 'new Function'; do
    [[ $BODY != *"$bad"* ]] || fail "app.js uses $bad"
done
# a finished job's kept stderr comes with its record, as text
get "/api/job/$said"
assert_eq 200 "$CODE" "a job with output"
assert_eq 'said <b>it</b>' "$(jq -r .output <<<"$BODY" | tr -d '\n')" "the job's kept stderr"
get "/api/job/$ok"
assert_eq null "$(jq .output <<<"$BODY")" "a job that wrote nothing has no output"
get /nothing
assert_eq 404 "$CODE" "an unknown path"

# ---- the API: numbers as tq stats has them
get /api/queues
assert_eq 200 "$CODE" "/api/queues"
stats=$(tq stats --json)
for q in q1 default; do
    for f in pending active dead; do
        assert_eq "$(jq --arg q "$q" ".[] | select(.queue == \$q) | .$f" <<<"$stats")" \
            "$(jq --arg q "$q" ".queues[] | select(.queue == \$q) | .$f" <<<"$BODY")" "$q $f"
    done
done
assert_eq 3 "$(jq '.queues[] | select(.queue == "q1") | .pending' <<<"$BODY")" "q1 pending"
age=$(jq '.queues[] | select(.queue == "q1") | .oldest_pending_age' <<<"$BODY")
assert_match "$age" '^[0-9.]+$' "q1's oldest pending age"
assert_le "$age" 60 "q1's oldest pending age"
assert_eq null "$(jq '.queues[] | select(.queue == "default") | .oldest_pending_age' <<<"$BODY")" \
    "nothing pending: no age"

# ---- a listing, newest first, paged
get '/api/queue/q1/jobs?state=pending&limit=2'
assert_eq 200 "$CODE" "jobs"
assert_eq "$p3 $p2" "$(jq -r '[.jobs[].id] | join(" ")' <<<"$BODY")" "page 1, newest first"
assert_eq true "$(jq .more <<<"$BODY")" "page 1 has more"
get '/api/queue/q1/jobs?state=pending&limit=2&offset=2'
assert_eq "$p1" "$(jq -r '[.jobs[].id] | join(" ")' <<<"$BODY")" "page 2"
assert_eq false "$(jq .more <<<"$BODY")" "page 2 is the last"
get '/api/queue/q1/jobs?state=waiting'
assert_eq 200 "$CODE" "state waiting (chain links and fan-ins)"
get '/api/queue/q1/jobs?state=nosuch'
assert_eq 400 "$CODE" "an unknown state"
get '/api/queue/q1/jobs?limit=0'
assert_eq 400 "$CODE" "limit 0"
get '/api/queue/q1'
assert_eq 3 "$(jq .pending <<<"$BODY")" "queue counts"

# ---- a job: the whole record; <script> is a JSON string, nothing more
get "/api/job/$p3"
assert_eq 200 "$CODE" "job"
hdr=$(curl -s -D - -o /dev/null "$DASH/api/job/$p3")
assert_contains "$hdr" "Content-Type: application/json"
assert_eq "$xss" "$(jq -r .args.s <<<"$BODY")" "args with <script>"
get "/api/job/$dead"
assert_eq "$xss" "$(jq -r .error <<<"$BODY")" "error with <script>"
get "/api/job/nosuchjob123"
assert_eq 404 "$CODE" "no such job"
assert_contains "$(jq -r .error <<<"$BODY")" "no such job"
get "/api/job/bad%00id"
assert_eq 400 "$CODE" "a NUL in the path"

# ---- the other reads
get /api/workers
assert_eq 1 "$(jq length <<<"$BODY")" "workers"
get /api/dlq
assert_eq "$dead" "$(jq -r '.[0].id' <<<"$BODY")" "dlq"
tq semaphore set s1 2
tq ratelimit set r1 5/s
tq schedule add nightly '@every 1h' tq.noop '"tick"'
get /api/semaphores
assert_eq s1 "$(jq -r '.[0].name' <<<"$BODY")" "semaphores"
get /api/ratelimits
assert_eq r1 "$(jq -r '.[0].name' <<<"$BODY")" "ratelimits"
get /api/schedules
assert_eq nightly "$(jq -r '.[0].name' <<<"$BODY")" "schedules"

# ---- CSRF: a POST without the header (or a wrong one) changes nothing
post "/api/job/$p1/cancel"
assert_eq 403 "$CODE" "POST without X-TQ-CSRF"
# the real token with its last character changed (never equal to it)
if [ "${CSRF: -1}" = 0 ]; then WRONG="${CSRF%?}1"; else WRONG="${CSRF%?}0"; fi
post "/api/job/$p1/cancel" -H "X-TQ-CSRF: $WRONG"
assert_eq 403 "$CODE" "POST with a wrong X-TQ-CSRF"
assert_eq pending "$(state_of "$p1")" "nothing cancelled"
get "/api/job/$p1/cancel"
assert_eq 404 "$CODE" "an action by GET"

# ---- actions
H=(-H "X-TQ-CSRF: $CSRF")
post "/api/job/$p1/cancel" "${H[@]}"
assert_eq 200 "$CODE" "cancel"
assert_eq pending "$(jq -r .was <<<"$BODY")"
assert_eq cancelled "$(state_of "$p1")" "cancelled by the API"
post "/api/job/$p1/delete" "${H[@]}"
assert_eq 200 "$CODE" "delete"
assert_exit 5 tq status "$p1"
post "/api/job/$p2/delete" "${H[@]}"
assert_eq 200 "$CODE" "delete of a pending job: cancelled, then deleted"
assert_json_eq '{"cancelled": true, "deleted": true}' "$BODY"
assert_exit 5 tq status "$p2"
post "/api/job/$ok/retry" "${H[@]}"
assert_eq 409 "$CODE" "retry of a job not dead"
post "/api/job/$dead/retry" "${H[@]}"
assert_eq 200 "$CODE" "retry"
wait_until 10 state_is "$dead" failed
get /api/dlq
assert_eq 1 "$(jq length <<<"$BODY")" "dead again"
post /api/dlq/retry-all "${H[@]}"
assert_eq 1 "$(jq .retried <<<"$BODY")" "retry-all"
wait_until 10 state_is "$dead" failed
post /api/dlq/purge "${H[@]}"
assert_eq 1 "$(jq .purged <<<"$BODY")" "purge"
post /api/queue/default/pause "${H[@]}"
assert_eq true "$(jq .changed <<<"$BODY")" "pause"
get /api/queues
assert_eq true "$(jq '.queues[] | select(.queue == "default") | .paused' <<<"$BODY")" "paused shows"
held=$(tq submit tq.noop '"held"')
sleep 1
assert_eq pending "$(state_of "$held")" "a paused queue starts nothing"
post /api/queue/default/resume "${H[@]}"
assert_eq true "$(jq .changed <<<"$BODY")" "resume"
tq wait "$held" --timeout 10s >/dev/null
post /api/schedule/nightly/pause "${H[@]}"
assert_eq 200 "$CODE" "schedule pause"
get /api/schedules
assert_eq true "$(jq '.[0].paused' <<<"$BODY")" "schedule paused"
post /api/schedule/nightly/run "${H[@]}"
sid=$(jq -r .job <<<"$BODY")
assert_eq '"tick"' "$(tq wait "$sid" --timeout 10s)" "schedule run"
post /api/schedule/nosuch/run "${H[@]}"
assert_eq 404 "$CODE" "no such schedule"
post /api/job/nosuchjob123/cancel "${H[@]}"
assert_eq 404 "$CODE" "cancel of no such job"

# ---- DNS rebinding: a foreign Host is refused on loopback
get /api/queues -H 'Host: evil.example:80'
assert_eq 403 "$CODE" "a foreign Host"

# ---- /metrics
get /metrics
assert_eq 200 "$CODE" "/metrics"
# (pending is tq stats' count: it may include cancelled ids claim will skip)
assert_contains "$BODY" "tq_queue_jobs{queue=\"q1\",state=\"pending\"} $(tq stats --json | jq '.[] | select(.queue == "q1") | .pending')"
assert_contains "$BODY" 'tq_queue_paused{queue="default"} 0'
assert_contains "$BODY" '# TYPE tq_queue_processed_total counter'
assert_match "$BODY" 'tq_queue_processed_total\{queue="default"\} [1-9]'
assert_match "$BODY" 'tq_queue_oldest_pending_age_seconds\{queue="q1"\} [0-9.]+'

# ---- rates: jobs/s from the 5 s samples (the first is the baseline)
printf '%s\n' $(seq 1 50) | tq submit-many tq.noop >/dev/null
wait_until 15 bash -c "curl -s '$DASH/api/rates' | jq -e '.queues.default | length >= 1 and add > 0'"
get /api/rates
assert_eq 5 "$(jq .interval <<<"$BODY")" "the rates' interval"
stop_dashboard

# ---- --read-only: no action, said to the page
start_dashboard --read-only
CSRF=$(csrf_of)
assert_contains "$(curl -s "$DASH/")" '<meta name="tq-read-only" content="1">'
post "/api/job/$p3/cancel" -H "X-TQ-CSRF: $CSRF"
assert_eq 403 "$CODE" "read-only POST"
assert_contains "$BODY" "read-only"
assert_eq pending "$(state_of "$p3")" "read-only cancelled nothing"
get /api/queues
assert_eq 200 "$CODE" "read-only reads"
stop_dashboard

# ---- --token: the API, /metrics and actions need it; the page does not
start_dashboard --token s3cret-tok
CSRF=$(csrf_of)
get /
assert_eq 200 "$CODE" "the page without the token"
get /api/queues
assert_eq 401 "$CODE" "API without the token"
get /api/queues -H 'Authorization: Bearer wrong'
assert_eq 401 "$CODE" "API with a wrong token"
get /metrics
assert_eq 401 "$CODE" "/metrics without the token"
get /api/queues -H 'Authorization: Bearer s3cret-tok'
assert_eq 200 "$CODE" "API with the token"
post "/api/job/$p3/cancel" -H "X-TQ-CSRF: $CSRF"
assert_eq 401 "$CODE" "action without the token"
post "/api/job/$p3/cancel" -H "X-TQ-CSRF: $CSRF" -H 'Authorization: Bearer s3cret-tok'
assert_eq 200 "$CODE" "action with the token"
assert_eq cancelled "$(state_of "$p3")"
stop_dashboard

# ---- a non-loopback address with --read-only starts
"$TQ_BIN/tq" dashboard --listen 0.0.0.0:0 --read-only >"$TMP/ro.log" 2>&1 &
pid=$!
track_bg "$pid"
wait_until 5 grep -q '(read-only)' "$TMP/ro.log"
kill "$pid"
log "ok"
