#!/usr/bin/env bash
# t_progress: job progress (SPEC §12). An exec task writes one JSON value per
# line to the descriptor named in TQ_PROGRESS_FD; the worker keeps the latest
# on the record (`progress`, `progress_at`: tq status --json), rate-limited to
# one write per 250 ms per job, the last value always written before the
# outcome; `tq wait --progress` prints each value as it comes (stderr,
# "progress ID JSON") and then the result (stdout). Bad lines are ignored
# (logged once); a stale delivery (SIGSTOP past its lease) writes nothing.
source "$(dirname "$0")/lib.sh"

start_redis

cat >"$TMP/steps.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
for i in 1 2 3 4 5; do
    echo "{\"step\":$i,\"of\":5}" >&"$TQ_PROGRESS_FD"
    sleep 0.4
done
echo '{"done":true}'
EOF
# 10,000 values in about a second, in bursts of 100
cat >"$TMP/chatty.py" <<'EOF'
import os, sys, time
sys.stdin.read()
fd = int(os.environ["TQ_PROGRESS_FD"])
for b in range(100):
    os.write(fd, "".join('{"n":%d}\n' % (b * 100 + i + 1) for i in range(100)).encode())
    time.sleep(0.01)
print('"chatty"')
EOF
cat >"$TMP/bad.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
echo 'not json at all' >&"$TQ_PROGRESS_FD"
echo '{"a":1}' >&"$TQ_PROGRESS_FD"
head -c 70000 /dev/zero | tr '\0' 'x' >&"$TQ_PROGRESS_FD"
echo >&"$TQ_PROGRESS_FD"
printf '{"unterminated":' >&"$TQ_PROGRESS_FD"
echo >&"$TQ_PROGRESS_FD"
echo '"<script>alert(1)</script>"' >&"$TQ_PROGRESS_FD"
sleep 0.3
printf '{"final":true}' >&"$TQ_PROGRESS_FD"
echo '"ok"'
EOF
cat >"$TMP/stale.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
if [ "$TQ_ATTEMPT" = 1 ]; then
    i=0
    while [ $i -lt 80 ]; do
        echo "{\"who\":\"A\",\"i\":$i}" >&"$TQ_PROGRESS_FD"
        i=$((i + 1))
        sleep 0.1
    done
else
    echo '{"who":"B"}' >&"$TQ_PROGRESS_FD"
    sleep 4
fi
echo '"done"'
EOF
chmod +x "$TMP"/*.sh

start_worker --concurrency 4 --name progw --task "steps=$TMP/steps.sh" \
    --task "chatty=python3 $TMP/chatty.py" --task "bad=$TMP/bad.sh"
wpid=$WORKER_PID

# ---- tq wait --progress: every value, in order, then the result
id=$(tq submit steps)
tq wait --progress "$id" --timeout 20s >"$TMP/out" 2>"$TMP/err"
log "wait --progress said: $(tr '\n' '|' <"$TMP/err")"
assert_json_eq '{"done":true}' "$(cat "$TMP/out")" "result on stdout"
steps=$(grep "^progress $id " "$TMP/err" | sed "s/^progress $id //" | jq -c .step | uniq | tr '\n' ' ')
assert_eq "1 2 3 4 5 " "$steps" "progress values in order"
js=$(tq status --json "$id")
assert_json_eq '{"step":5,"of":5}' "$(jq -c .progress <<<"$js")" "status --json progress"
jq -e '.progress_at > .started_at and .progress_at <= .finished_at' <<<"$js" >/dev/null ||
    fail "progress_at not within the run: $js"

# ---- a chatty task: at most ~4 writes a second, and the last value kept
rcli CONFIG RESETSTAT >/dev/null
id=$(tq submit chatty)
wait_until 20 state_is "$id" succeeded
js=$(tq status --json "$id")
assert_json_eq '{"n":10000}' "$(jq -c .progress <<<"$js")" "the last value is kept"
pubs=$(rcli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_publish:calls=\([0-9]*\),.*/\1/p')
dur=$(jq -r '.finished_at - .started_at' <<<"$js")
max=$(awk -v d="$dur" 'BEGIN{printf "%d", d / 0.25 + 2}')
log "chatty: 10000 values in ${dur}s, ${pubs:-0} progress writes (at most $max)"
assert_le "${pubs:-0}" "$max" "progress writes of a chatty task"
[[ ${pubs:-0} -ge 2 ]] || fail "expected at least 2 progress writes, saw ${pubs:-0}"

# ---- bad lines: ignored, logged once, the worker goes on
id=$(tq submit bad)
assert_eq '"ok"' "$(tq wait "$id" --timeout 20s)" "bad lines: the job still succeeds"
assert_json_eq '{"final":true}' "$(field "$id" progress)" "a last line without newline counts"
n=$(grep -c "$id: a line on TQ_PROGRESS_FD" "${WORKER_LOG[$wpid]}" || true)
assert_eq 1 "$n" "bad lines logged once per job"
pid_alive "$wpid" || fail "the worker died on bad progress lines"

# ---- a stale delivery cannot overwrite progress
stop_worker "$wpid"
start_worker --concurrency 2 --lease 2s --name staleA --task "stale=$TMP/stale.sh"
pidA=$WORKER_PID
id=$(tq submit --retries 0 stale)
wait_until 10 field_test "$id" '.progress.who == "A"'
kill -STOP "$pidA"
log "worker A stopped while its job reports progress"
start_worker --concurrency 2 --lease 2s --name staleB --task "stale=$TMP/stale.sh"
wait_until 15 field_test "$id" '.attempt == 2 and .progress.who == "B"'
kill -CONT "$pidA"
log "A woke up; its child wrote on meanwhile"
sleep 1.5
assert_json_eq '{"who":"B"}' "$(field "$id" progress)" "progress after A woke"
assert_eq '"done"' "$(tq wait "$id" --timeout 20s)" "the second delivery's result"
assert_json_eq '{"who":"B"}' "$(field "$id" progress)" "progress at the end"
log "ok"
