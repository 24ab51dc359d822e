#!/usr/bin/env bash
# t_secrets: the password can come from a file (--redis-password-file) or
# TQ_REDIS_PASSWORD instead of the URL, for tq and tq-worker (file > env >
# URL), and it never shows: not in an error, a worker log line, the worker
# card (tq workers), anything stored in Redis, the worker's command line,
# or an exec job's environment.
source "$(dirname "$0")/lib.sh"

PW='pW-s3cr3t:x@y/z?w'     # ':', '@', '/', '?': the URL must carry it as is
REDIS_PASS=$PW
start_redis --requirepass "$PW"
plain="redis://127.0.0.1:$REDIS_PORT/0"
export TQ_REDIS_URL=$plain
printf '%s\n' "$PW" >"$TMP/pw"
printf 'wrong\n' >"$TMP/bad"
: >"$TMP/empty"

no_secret() { # TEXT WHAT
    [[ $1 != *"$PW"* && $1 != *s3cr3t* ]] || fail "the password shows in $2: $1"
}

# --- tq: no password anywhere -> NOAUTH, exit 6
assert_exit 6 tq stats
assert_contains "$ERR" "NOAUTH" "refusal without a password"
# --- from the environment, from the file; precedence file > env > URL
TQ_REDIS_PASSWORD=$PW assert_exit 0 tq submit tq.noop '{"env":1}'
assert_exit 0 tq submit --redis-password-file "$TMP/pw" tq.noop '{"file":1}'
TQ_REDIS_PASSWORD=wrong assert_exit 0 tq --redis-password-file "$TMP/pw" stats
TQ_REDIS_PASSWORD=$PW assert_exit 0 tq --redis "redis://:wrong@127.0.0.1:$REDIS_PORT/0" stats
TQ_REDIS_PASSWORD=$PW assert_exit 6 tq --redis-password-file "$TMP/bad" stats
assert_contains "$ERR" "AUTH" "the file wins over the environment"
no_secret "$ERR" "the refusal"
# a user in the URL (USER:@, the password left out) is kept, the password
# supplied: app's password is not the default user's, so only app gets in
rcli ACL SETUSER app on '>app-s3cr3t' '~*' '&*' '+@all' >/dev/null
printf 'app-s3cr3t\n' >"$TMP/apppw"
assert_exit 0 tq --redis "redis://app:@127.0.0.1:$REDIS_PORT/0" --redis-password-file "$TMP/apppw" stats
TQ_REDIS_PASSWORD=app-s3cr3t assert_exit 0 tq --redis "redis://app:old@127.0.0.1:$REDIS_PORT/0" stats
TQ_REDIS_PASSWORD=app-s3cr3t assert_exit 6 tq stats
no_secret "$ERR" "the refusal of the default user"
# --- bad password sources: exit 2, one line, nothing secret
assert_exit 2 tq --redis-password-file "$TMP/nope" stats
assert_one_line "$ERR" "stderr for a missing file"
assert_contains "$ERR" "--redis-password-file" "names the flag"
assert_exit 2 tq --redis-password-file "$TMP/empty" stats
assert_contains "$ERR" "empty" "an empty file"
chmod 000 "$TMP/pw"
if ! cat "$TMP/pw" >/dev/null 2>&1; then   # root reads anything
    assert_exit 2 tq --redis-password-file "$TMP/pw" stats
    assert_contains "$ERR" "cannot read" "an unreadable file"
fi
chmod 600 "$TMP/pw"
TQ_REDIS_PASSWORD=$PW assert_exit 2 tq --redis unix:///tmp/x.sock stats
assert_contains "$ERR" "unix://" "unix:// takes no password"
no_secret "$ERR" "the unix:// refusal"
# --- a password in a bad URL is masked in the error
assert_exit 2 tq --redis "redis://u:$PW@" stats
no_secret "$ERR" "a URL error"
assert_exit 2 tq --redis "redis://u:$PW@127.0.0.1:99999/0" stats
no_secret "$ERR" "a URL error"
log "tq: env and file work, precedence holds, errors are clean"

# --- tq-worker: from the file (the URL has none), then from the environment
cat >"$TMP/envcheck.sh" <<'SH'
#!/bin/sh
if env | grep -q 's3cr3t\|TQ_REDIS'; then echo '"leak"'; else echo '"clean"'; fi
SH
chmod +x "$TMP/envcheck.sh"
# the file wins over a wrong TQ_REDIS_PASSWORD in the worker's environment
export TQ_REDIS_PASSWORD=wrong
start_worker --redis-password-file "$TMP/pw" --task envcheck="$TMP/envcheck.sh" --name secw
w1=$WORKER_PID
export TQ_REDIS_PASSWORD=$PW
wait_worker_registered secw || fail "the worker did not register"
id=$(tq submit envcheck)
assert_json_eq '"clean"' "$(tq wait "$id" --timeout 15s)" "an exec job's environment"
no_secret "$(tr '\0' ' ' </proc/$w1/cmdline)" "the worker's command line"
stop_worker "$w1"
assert_eq 0 "$WORKER_RC" "worker exit"
start_worker --name secenv
w2=$WORKER_PID
id=$(tq submit envcheck)
wait_until 10 _workers_mention secenv || fail "the env worker did not register"
assert_exit 0 tq workers
no_secret "$OUT" "tq workers"
assert_exit 0 tq workers --json
no_secret "$OUT" "tq workers --json"
id=$(tq submit tq.noop '{"w2":1}')
assert_json_eq '{"w2":1}' "$(tq wait "$id" --timeout 15s)" "job run by the env worker"
# the worker refused: wrong password file -> exit 6, one line, clean
assert_exit 6 timeout 20 "$TQ_BIN/tq-worker" --namespace "$TQ_NAMESPACE" --redis-password-file "$TMP/bad"
no_secret "$ERR" "the worker's refusal"
assert_exit 2 "$TQ_BIN/tq-worker" --namespace "$TQ_NAMESPACE" --redis-password-file "$TMP/nope"
assert_one_line "$ERR" "the worker's bad password file"
stop_worker "$w2"
# --- nothing stored in Redis holds it, no log line has it
rcli SAVE >/dev/null
[[ -f $TMP/dump.rdb ]] || fail "no dump.rdb to check"
! grep -qaF "s3cr3t" "$TMP/dump.rdb" || fail "the password is stored in Redis"
for f in "$TMP"/worker-*.log; do
    ! grep -qF "s3cr3t" "$f" || fail "the password is in $f"
done
log "PASS"
