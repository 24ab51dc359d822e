#!/usr/bin/env bash
# t_task_server_faults: task servers that misbehave (docs/task-servers.md).
# A server that ignores a cancel is killed after --kill-grace and restarted;
# its other jobs fail ("task server died") and are retried and succeed. A
# server that dies mid-job (os._exit): its jobs are retried, it is
# restarted with backoff. Bad lines (not JSON, not an object, unknown id, no
# answer, a second answer, a line over --max-result) are logged and
# dropped; the worker survives and other jobs are fine; a long line whose
# id can be read fails that job. A server that never says hello, or says a
# version the worker does not speak, is killed after --server-start-timeout
# and restarted.
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
SRV="$(cd "$(dirname "$0")" && pwd)/tserver_test.py"
export TS_STARTS="$TMP/starts" TS_CANCELS="$TMP/cancels"
: >"$TS_STARTS"
: >"$TS_CANCELS"
starts() { grep -c " $1\$" "$TS_STARTS" || true; }
starts_ge() { (($(starts "$1") >= $2)); }

# the metrics page through bash's /dev/tcp: metric NAME prints its value
metric() {
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET /metrics HTTP/1.0\r\n\r\n" >&3
        cat <&3' _ "$LISTEN_PORT" | awk -v k="$1" '$1 == k { print $2 }'
}

start_redis
# the config file's task servers, with a start timeout of their own
cat >"$TMP/cfg.json" <<EOF2
{"task_servers": [
  {"tasks": ["n.noop"], "command": ["$PY", "$SRV", "nohello"], "start_timeout": "1s"},
  {"tasks": ["v.noop"], "command": "$PY $SRV v2", "start_timeout": 1, "procs": 1},
  {"tasks": ["f.noop"], "command": "$PY $SRV deaf", "inflight": 20}
]}
EOF2
start_worker_listening --metrics --concurrency 40 --kill-grace 1s --config "$TMP/cfg.json" \
    --task-server "s.sleep,s.noop=$PY $SRV stubborn" \
    --task-server "d.die,d.noop=$PY $SRV ok" \
    --task-server "b.bad,b.sleep=$PY $SRV ok" \
    --server-inflight 10 --server-start-timeout 20s
W=$WORKER_PID
LOGF=${WORKER_LOG[$W]}
wait_until 10 grep -q 'd.die,d.noop (pid [0-9]*): ready' "$LOGF"
wait_until 10 grep -q 's.sleep,s.noop (pid [0-9]*): ready' "$LOGF"

# --- a server that ignores a cancel: killed after --kill-grace, restarted;
# the jobs it had fail and are retried, and succeed
a=$(tq submit s.sleep 30)
b=$(tq submit --backoff 0.2s s.sleep 2)
c=$(tq submit --backoff 0.2s s.sleep 2)
wait_until 5 state_is "$c" active
tq cancel "$a" >/dev/null
wait_until 5 state_is "$a" cancelled
wait_until 5 grep -q "^$a cancelled$" "$TS_CANCELS"
wait_until 5 grep -q 'job .* not answered within --kill-grace of its cancel: killing' "$LOGF"
assert_eq '2
2' "$(tq wait "$b" "$c" --timeout 20s)" "the stubborn server's other jobs succeed"
assert_eq 2 "$(field "$b" attempt)" "retried once"
assert_eq 2 "$(starts stubborn)" "the stubborn server was restarted"

# --- a server that dies mid-job: the job fails, is retried and succeeds;
# the process is restarted with backoff
id=$(tq submit --backoff 0.2s d.die)
assert_eq '"survived"' "$(tq wait "$id" --timeout 20s)" "retried after the death"
assert_eq 2 "$(field "$id" attempt)" "second attempt"
grep -q 'task server d.die,d.noop (pid [0-9]*): exit status 3; restarting in [0-9.]* s' "$LOGF" ||
    fail "no restart with backoff logged"
# the first death's error: "task server exited (exit status 3)"
tq status --json "$id" | jq -e '.attempt == 2' >/dev/null || fail "attempt"
assert_eq '"x"' "$(tq wait "$(tq submit d.noop '"x"')" --timeout 10s)" "restarted server works"

# --- bad lines: logged and dropped; the job's one answer counts; others fine
busy=$(tq submit b.sleep 1)
id=$(tq submit b.bad '"x"')
assert_eq '"fine"' "$(tq wait "$id" --timeout 10s)" "the answer after bad lines"
id2=$(tq submit --retries 0 b.bad '"long"')
assert_exit 1 tq wait "$id2" --timeout 10s
assert_match "$(field "$id2" error)" '^result over --max-result' "a long line fails its job"
assert_eq 1 "$(tq wait "$busy" --timeout 10s)" "a job beside the bad lines"
grep -q 'task server b.bad,b.sleep (pid [0-9]*): bad line dropped: not JSON' "$LOGF" ||
    fail "not-JSON line not logged"
grep -q 'bad line dropped: a line over --max-result' "$LOGF" || fail "long line not logged"
pid_alive "$W" || fail "the worker died"

# --- a process that never reads: 20 jobs of 200 KB args fill its pipe; the
# worker goes on (other jobs run at once), and their timeouts end them; the
# process, silent to the cancels, is killed after --kill-grace
wait_until 10 grep -q 'task server f.noop (pid [0-9]*): ready' "$LOGF"
big=$("$PY" -c 'import json; print(json.dumps("x" * 200000))')
for i in $(seq 1 20); do echo "$big"; done | tq submit-many --timeout 1s --retries 0 f.noop >"$TMP/deaf"
wait_until 5 state_is "$(tail -n 1 "$TMP/deaf")" active
t0=$(now)
assert_eq '"quick"' "$(tq wait "$(tq submit d.noop '"quick"')" --timeout 5s)" "a job beside a full pipe"
# (a blocked loop would never run it: the pipe is never read; the bound is
# TQ_SLOW seconds, as valgrind slows the worker down ~20 times)
assert_le "$(elapsed_since "$t0")" "$TQ_SLOW" "the loop is not blocked"
wait_until 10 state_is "$(tail -n 1 "$TMP/deaf")" failed
assert_eq timeout "$(field "$(head -n 1 "$TMP/deaf")" error)" "the deaf server's jobs timed out"
wait_until 10 grep -q 'task server f.noop (pid [0-9]*): job .* not answered within --kill-grace' "$LOGF"
wait_until 10 starts_ge deaf 2

# --- never says hello / says version 2: killed after the start timeout,
# restarted; a job waiting for it fails (retried as any failure) rather
# than hold its slot for a server that does not come up
id=$(tq submit --retries 0 n.noop)
wait_until 10 state_is "$id" failed
assert_match "$(field "$id" error)" '^task server not running \(task server did not start\)' "a job of a server that does not start"
wait_until 10 starts_ge nohello 2
grep -q 'task server n.noop (pid [0-9]*): no hello within --server-start-timeout (1.0 s)' "$LOGF" ||
    fail "no-hello kill not logged"
wait_until 10 starts_ge v2 2
grep -q 'task server v.noop (pid [0-9]*): speaks protocol version 2' "$LOGF" ||
    fail "version 2 not logged"

# metrics: 6 processes configured, the restarts counted, the ready ones
assert_eq 6 "$(metric tq_task_server_procs)" "tq_task_server_procs"
r=$(metric tq_task_server_restarts_total)
[[ $r -ge 6 ]] || fail "tq_task_server_restarts_total $r < 6"
u=$(metric tq_task_server_procs_up)
[[ $u -ge 3 && $u -le 6 ]] || fail "tq_task_server_procs_up $u"
metric tq_jobs_total'{queue="default",task="d.die",outcome="failed"}' | grep -qx 1 ||
    fail "the per-task counters count task-server jobs"

stop_worker "$W" TERM 15
assert_eq 0 "$WORKER_RC" "worker exit code"
log "ok"
