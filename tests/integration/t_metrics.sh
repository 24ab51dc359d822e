#!/usr/bin/env bash
# t_metrics: tq-worker --metrics HOST:PORT serves Prometheus text at /metrics
# (SPEC §5): a counter per queue, task and outcome, busy and total slots,
# tq_up, the duration and queue-wait histograms per queue and task, whose
# counts agree with the jobs run (task labels bounded: 64 then "other"), and
# tq_build_info. Label values are escaped; other paths get 404; an idle or
# garbage-speaking HTTP client does not hold up jobs; a bad address (syntax,
# or a port already taken) is exit 2 with one line, before Redis is reached.
source "$(dirname "$0")/lib.sh"

start_redis

# http PATH [METHOD]: the whole response to METHOD PATH on the metrics port,
# through bash's /dev/tcp (curl may be missing).
http() {
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "%s %s HTTP/1.0\r\n\r\n" "$3" "$2" >&3
        cat <&3' _ "$MPORT" "$1" "${2:-GET}"
}

# try_scrape: the body of /metrics in PAGE; returns 1 if there was none
# (polled by wait_until, so it must not fail the test itself). scrape: must work.
PAGE=""
try_scrape() {
    local r
    r=$(http /metrics) || return 1
    [[ $r == "HTTP/1."?" 200 "* ]] || return 1
    PAGE=${r#*$'\r\n\r\n'}
}
scrape() { try_scrape || fail "GET /metrics failed"; }

# metric SERIES: its value in PAGE (SERIES as printed: name{labels}; through
# the environment, as awk -v would undo the escapes of label values).
metric() { K=$1 awk '$1 == ENVIRON["K"] { print $2 }' <<<"$PAGE"; }

_up() { try_scrape && [[ $(metric tq_up) == 1 ]]; }

start_worker_listening --metrics --concurrency 4 --name mx
MPORT=$LISTEN_PORT
wait_until 10 _up
scrape
assert_eq 4 "$(metric tq_slots)" "tq_slots"
assert_eq 0 "$(metric tq_busy_slots)" "tq_busy_slots of an idle worker"
assert_eq 0 "$(grep -c '^tq_job_duration_seconds' <<<"$PAGE")" "durations before any job"
assert_contains "$PAGE" "# TYPE tq_job_duration_seconds histogram" "duration family announced"
bi=$(grep '^tq_build_info{' <<<"$PAGE")
log "build info: $bi"
assert_match "$bi" '^tq_build_info\{version="[0-9]+\.[0-9]+\.[0-9]+",commit="[A-Za-z0-9._+-]+"\} 1$' "tq_build_info"
assert_contains "$bi" "version=\"$("$TQ_BIN/tq-worker" --version | awk '{print $2}')\"" "tq_build_info's version is --version's"
assert_contains "$(http /metrics)" "Content-Type: text/plain; version=0.0.4" "content type"

# A few noops, one failure, one timeout, one unknown task with quote and backslash.
ids=()
for i in 1 2 3; do ids+=("$(tq submit tq.noop "$i")"); done
ids+=("$(tq submit --retries 0 tq.fail '"boom"')")
ids+=("$(tq submit --retries 0 --timeout 300ms tq.sleep 5000)")
odd='we"ird\task'
ids+=("$(tq submit --retries 0 --max-lost 0 "$odd" 1)")
tq wait "${ids[@]}" --timeout 20s >/dev/null 2>&1 || true
for id in "${ids[@]}"; do state_is "$id" succeeded || state_is "$id" dead ||
    state_is "$id" failed || fail "job $id not finished: $(state_of "$id")"; done

# The outcome counters are written with the log line: wait for the last one.
_counted() { try_scrape && [[ $(metric 'tq_jobs_total{queue="default",task="tq.sleep",outcome="timeout"}') == 1 ]]; }
wait_until 5 _counted
log "scraped:"$'\n'"$(grep -v '^#' <<<"$PAGE" | grep -v _bucket)"
assert_eq 3 "$(metric 'tq_jobs_total{queue="default",task="tq.noop",outcome="succeeded"}')" "noops succeeded"
assert_eq 1 "$(metric 'tq_jobs_total{queue="default",task="tq.fail",outcome="failed"}')" "tq.fail failed"
assert_eq 1 "$(metric 'tq_jobs_total{queue="default",task="we\"ird\\task",outcome="notask"}')" "escaped task label (an unknown task: notask)"
assert_eq 0 "$(metric tq_busy_slots)" "tq_busy_slots after the jobs"

# Five jobs ran (the unknown task never started): both histograms count them
# per queue and task, the +Inf bucket equals _count, and the 300 ms timeout
# lies above 0.1 s.
D='tq_job_duration_seconds' W='tq_queue_wait_seconds' L='queue="default",task='
assert_eq 3 "$(metric "${D}_count{${L}\"tq.noop\"}")" "noop durations"
assert_eq 1 "$(metric "${D}_count{${L}\"tq.fail\"}")" "tq.fail durations"
assert_eq 1 "$(metric "${D}_count{${L}\"tq.sleep\"}")" "tq.sleep durations"
assert_eq 3 "$(metric "${D}_bucket{${L}\"tq.noop\",le=\"+Inf\"}")" "noop duration +Inf bucket"
assert_eq 3 "$(metric "${W}_count{${L}\"tq.noop\"}")" "noop queue waits"
assert_eq 3 "$(metric "${W}_bucket{${L}\"tq.noop\",le=\"+Inf\"}")" "noop queue-wait +Inf bucket"
sum_of() { awk -v p="$1{" 'index($1, p) == 1 { s += $2 } END { print s + 0 }' <<<"$PAGE"; }
assert_eq 5 "$(sum_of ${D}_count)" "durations over all series"
assert_eq 5 "$(sum_of ${W}_count)" "queue waits over all series"
assert_eq 0 "$(grep -c 'task="we' <<<"$(grep "^${D}" <<<"$PAGE")")" "no duration series for a task that never ran"
assert_eq 0 "$(metric "${D}_bucket{${L}\"tq.sleep\",le=\"0.1\"}")" "the timeout is above 0.1 s"
assert_le 0.29 "$(metric "${D}_sum{${L}\"tq.sleep\"}")" "duration sum (a 300 ms timeout)"

# Other paths and methods are refused; a garbage request gets an error, not a crash.
assert_match "$(http /nope | head -n 1)" '^HTTP/1\.[01] 404' "GET /nope"
assert_match "$(http /metrics POST | head -n 1)" '^HTTP/1\.[01] (405|501)' "POST /metrics"
r=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "\x01\x02 garbage\r\n\r\n" >&3; cat <&3' _ "$MPORT") || true
log "garbage request answered: ${r%%$'\r'*}"

# An idle client (connected, silent) holds up neither jobs nor other scrapes.
exec 4<>"/dev/tcp/127.0.0.1/$MPORT"
printf 'GET /metr' >&4
id=$(tq submit tq.noop 1)
assert_exit 0 tq wait "$id" --timeout 5s
scrape
assert_eq 4 "$(metric 'tq_jobs_total{queue="default",task="tq.noop",outcome="succeeded"}')" "noops after an idle client"
exec 4<&-

# Task labels are bounded: past 200 names without a handler, the rest count
# as task="other"; the tasks the worker has keep their own series.
for i in $(seq 1 205); do tq submit --retries 0 --max-lost 0 "junk.$i" 1 >/dev/null; done
id=$(tq submit tq.noop 1)
assert_exit 0 tq wait "$id" --timeout 10s
_junk_counted() { try_scrape && [[ $(metric 'tq_jobs_total{queue="default",task="other",outcome="notask"}') == 6 ]]; }
wait_until 10 _junk_counted
assert_eq 5 "$(metric 'tq_jobs_total{queue="default",task="tq.noop",outcome="succeeded"}')" "noops beside junk names"
n=$(grep -o 'task="junk\.[0-9]*"' <<<"$PAGE" | sort -u | wc -l)
assert_eq 199 "$n" "junk task labels (200 unknown names: 199 junk + we\"ird\\task)"

# Bad addresses: one line, exit 2, before Redis is reached.
for bad in nonsense 127.0.0.1 127.0.0.1:0 127.0.0.1:99999 ::1:9100 '' 'host:12x'; do
    assert_exit 2 "$TQ_BIN/tq-worker" --metrics "$bad"
    assert_one_line "$ERR" "stderr for --metrics '$bad'"
    assert_contains "$ERR" "--metrics" "message for --metrics '$bad'"
done
log "bad syntax: $ERR"
echo '{"metrics": "no-port"}' >"$TMP/cfg.json"
assert_exit 2 "$TQ_BIN/tq-worker" --config "$TMP/cfg.json"
assert_one_line "$ERR" "stderr for config metrics"
assert_exit 2 "$TQ_BIN/tq-worker" --redis "$TQ_REDIS_URL" --metrics "127.0.0.1:$MPORT"
assert_one_line "$ERR" "stderr for a port in use"
assert_contains "$ERR" "--metrics 127.0.0.1:$MPORT: cannot listen: Address already in use" "port in use"
log "port in use: $ERR"

# A stopped worker closes its endpoint.
stop_worker "$WORKER_PID"
assert_eq 0 "$WORKER_RC" "worker exit code"
if (exec 3<>"/dev/tcp/127.0.0.1/$MPORT") 2>/dev/null; then
    fail "the metrics port still accepts after the worker stopped"
fi

# Histogram task labels are bounded too: of 66 tasks that ran (exec tasks of
# this worker), 64 get series of their own and the rest share task="other".
targs=()
for i in $(seq 1 66); do targs+=(--task "h.$i=true"); done
start_worker_listening --metrics --concurrency 8 --queue hq --name mx2 "${targs[@]}"
MPORT=$LISTEN_PORT
ids=()
for i in $(seq 1 66); do ids+=("$(tq submit --queue hq "h.$i" 1)"); done
tq wait "${ids[@]}" --timeout 30s >/dev/null 2>&1 || true
_all_counted() { try_scrape && [[ $(awk 'index($1, "tq_job_duration_seconds_count{") == 1 { s += $2 } END { print s + 0 }' <<<"$PAGE") == 66 ]]; }
wait_until 15 _all_counted
n=$(grep -o '^tq_job_duration_seconds_count{queue="hq",task="h\.[0-9]*"}' <<<"$PAGE" | wc -l)
assert_eq 64 "$n" "duration series of their own"
assert_eq 2 "$(metric 'tq_job_duration_seconds_count{queue="hq",task="other"}')" "durations of the tasks past 64"
assert_eq 2 "$(metric 'tq_queue_wait_seconds_count{queue="hq",task="other"}')" "queue waits of the tasks past 64"
assert_eq 66 "$(grep -c '^tq_jobs_total{queue="hq",task="h\.' <<<"$PAGE")" "the counters keep every task with a handler"
stop_worker "$WORKER_PID"
log "ok"
