#!/usr/bin/env bash
# t_exec: exec tasks (--task NAME=COMMAND). COMMAND is split on spaces, no
# shell; stdin is the args JSON; stdout is the result (JSON, or a JSON string
# when it is not JSON); a non-zero exit or a signal fails the attempt with the
# status and the tail of stderr; TQ_* variables describe the job; only tasks
# named on the worker's command line ever run.
source "$(dirname "$0")/lib.sh"

# A password, so that TQ_REDIS_PASSWORD (exported below: the worker uses it
# to log in) is a real one the jobs must not see.
REDIS_PASS=pw
start_redis --requirepass pw

cat >"$TMP/env.sh" <<'EOF'
#!/bin/sh
input=$(cat)
printf '{"input":%s,"id":"%s","task":"%s","queue":"%s","attempt":%s,"deadline":"%s"}\n' \
    "$input" "$TQ_JOB_ID" "$TQ_TASK" "$TQ_QUEUE" "$TQ_ATTEMPT" "$TQ_DEADLINE"
EOF
cat >"$TMP/bad.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
echo "some noise first" >&2
echo "the disk is on fire" >&2
exit 3
EOF
cat >"$TMP/killself.sh" <<'EOF'
#!/bin/sh
kill -9 $$
EOF
chmod +x "$TMP"/*.sh

# Secrets of the worker's environment: TQ_REDIS_URL (exported by start_redis,
# with a password in real life), and what --env-deny names.
export MY_SECRET=hush AWS_KEY=k1 AWS_OTHER=k2 KEEP_ME=ok TQ_REDIS_PASSWORD=pw TQ_JOB_ID=stale
start_worker --concurrency 8 --name execw --env-deny MY_SECRET --env-deny 'AWS_*' \
    --task 'printenv=env' \
    --task 'upper=tr a-z A-Z' \
    --task echo=cat \
    --task 'words=echo hello   world' \
    --task "env=$TMP/env.sh" \
    --task "bad=$TMP/bad.sh" \
    --task "killself=$TMP/killself.sh" \
    --task 'big=seq 1 400000'

# tr turns the JSON string "hello world" into "HELLO WORLD": still JSON.
id=$(tq submit upper '"hello world"')
assert_json_eq '"HELLO WORLD"' "$(tq wait "$id" --timeout 20s)" "upper"

# cat echoes its stdin: the result is the args.
args='{"k":[1,2,{"z":null}],"s":"x y"}'
id=$(tq submit echo "$args")
assert_json_eq "$args" "$(tq wait "$id" --timeout 20s)" "echo=cat"

# Not JSON on stdout: a JSON string, one trailing newline dropped. Split on
# spaces without a shell: echo gets "hello" and "world" (runs of spaces are
# one separator, or empty arguments; either way no shell ran).
id=$(tq submit words)
out=$(tq wait "$id" --timeout 20s)
assert_match "$out" '^"hello +world"$' "non-JSON stdout becomes a JSON string"

# A script printing JSON, with the TQ_* environment.
id=$(tq submit --timeout 30s env '{"a":1}')
out=$(tq wait "$id" --timeout 20s)
log "env.sh said: $out"
assert_json_eq '{"a":1}' "$(jq -c .input <<<"$out")" "stdin of the script"
assert_eq "$id" "$(jq -r .id <<<"$out")" "TQ_JOB_ID"
assert_eq env "$(jq -r .task <<<"$out")" "TQ_TASK"
assert_eq default "$(jq -r .queue <<<"$out")" "TQ_QUEUE"
assert_eq 1 "$(jq -r .attempt <<<"$out")" "TQ_ATTEMPT"
dl=$(jq -r .deadline <<<"$out")
nowsec=$(date +%s)
awk -v d="$dl" -v n="$nowsec" 'BEGIN{exit !(d+0 > n && d+0 < n+60)}' ||
    fail "TQ_DEADLINE [$dl] is not ~30 s after now ($nowsec)"

# The job's environment: the worker's minus its own TQ_* settings and the
# denied names, plus the job variables (an inherited TQ_JOB_ID is replaced).
unset MY_SECRET AWS_KEY AWS_OTHER KEEP_ME TQ_REDIS_PASSWORD TQ_JOB_ID
id=$(tq submit printenv)
envtext=$(tq wait "$id" --timeout 20s | jq -r .)
grep -q '^KEEP_ME=ok$' <<<"$envtext" || fail "an ordinary variable is missing from the job's env"
grep -q "^TQ_JOB_ID=$id\$" <<<"$envtext" || fail "TQ_JOB_ID missing"
grep -q '^TQ_TASK=printenv$' <<<"$envtext" || fail "TQ_TASK missing"
grep -q '^TQ_QUEUE=default$' <<<"$envtext" || fail "TQ_QUEUE missing"
grep -q '^TQ_ATTEMPT=1$' <<<"$envtext" || fail "TQ_ATTEMPT missing"
grep -q '^TQ_DEADLINE=' <<<"$envtext" || fail "TQ_DEADLINE missing"
for v in TQ_REDIS_URL TQ_REDIS_PASSWORD TQ_NAMESPACE MY_SECRET AWS_KEY AWS_OTHER; do
    ! grep -q "^$v=" <<<"$envtext" || fail "$v reached the job"
done
assert_eq 1 "$(grep -c '^TQ_JOB_ID=' <<<"$envtext")" "TQ_JOB_ID lines (the inherited one replaced)"

# Non-zero exit: failed, error = status and the tail of stderr.
id=$(tq submit --retries 0 bad '{}')
assert_exit 1 tq wait "$id" --timeout 20s
assert_eq null "$OUT" "wait prints null for a failed job"
assert_eq failed "$(tq status "$id")" "state after exit 3"
err=$(field "$id" error)
log "error of bad.sh: $err"
assert_contains "$err" "the disk is on fire" "error has the tail of stderr"
assert_match "$err" '3' "error has the exit status"

# Killed by a signal: failed too, and the error says so.
id=$(tq submit --retries 0 killself)
assert_exit 1 tq wait "$id" --timeout 20s
err=$(field "$id" error)
log "error of killself.sh: $err"
assert_match "$err" '(9|KILL|[Kk]ill)' "error names the signal"

# Output beyond --max-result (1 MiB): the attempt fails.
id=$(tq submit --retries 0 big)
assert_exit 1 tq wait "$id" --timeout 20s
assert_eq failed "$(tq status "$id")" "state of a job printing 2.6 MB"

# A job never chooses a program: 'sh' and 'tr' are not tasks of this worker.
# (--max-lost 0: an unknown task is given back to other workers max-lost
# times, without using up retries; here it fails at once)
id=$(tq submit --retries 0 --max-lost 0 sh '"-c touch '"$TMP"'/pwned"')
assert_exit 1 tq wait "$id" --timeout 20s
assert_contains "$(field "$id" error)" "unknown task 'sh'" "error of an unknown task"
[[ ! -e $TMP/pwned ]] || fail "a job ran a program of its choosing"

# The worker survived all of it.
pid_alive "$WORKER_PID" || fail "worker died"
id=$(tq submit upper '"still here"')
assert_json_eq '"STILL HERE"' "$(tq wait "$id" --timeout 20s)" "worker after failures"

log "ok"
