#!/usr/bin/env bash
# t_exitcodes: every command's success exits 0, and no path of tq exits with
# a code outside README's table (0..7): `tq purge Q --yes` used to print
# "purged N" and exit 255.
source "$(dirname "$0")/lib.sh"

start_redis
start_worker --concurrency 4
wait_worker_registered "$WORKER_PID"

# ok ARGS...: tq ARGS exits 0.
ok() {
    assert_exit 0 tq "$@"
    log "ok: tq $(printf '%q ' "$@")-> ${OUT%%$'\n'*}"
}

id=$(tq submit tq.noop '{"a":1}')
ok wait "$id"
ok status "$id"
ok status --json "$id"
ok result "$id"
ok submit tq.noop 1
ok submit --then tq.noop tq.noop 2
ok submit --wait tq.noop 3
printf '1\n2\n' >"$TMP/lines"
ok submit-many tq.noop <"$TMP/lines"
ok submit-many tq.noop </dev/null
ok cancel "$(tq submit --delay 1h tq.noop 4)"
ok group submit tq.noop <"$TMP/lines"
gid=$OUT
ok group wait "$gid"
ok group status "$gid"
ok group status --json "$gid"
ok group cancel "$gid"
ok semaphore set s1 2
ok semaphore show
ok semaphore show s1
ok workers
ok workers --json
ok stats
ok stats --json
ok dlq list
fid=$(tq submit --retries 0 tq.fail '"boom"')
assert_exit 1 tq wait "$fid"
ok dlq retry "$fid"
assert_exit 1 tq wait "$fid"
ok dlq retry --all
ok dlq purge --yes
ok purge default --yes
ok purge --json nosuchqueue --yes
ok --help
ok --version

# Every failure exits with a code of the table, never 255 or a signal's.
for args in "purge default" "status" "nosuchcmd" "dlq" "group" "semaphore" \
            "status 0000000000000000000000000x" "result 0000000000000000000000000x"; do
    # shellcheck disable=SC2086
    "$TQ_BIN/tq" $args >/dev/null 2>&1 && rc=0 || rc=$?
    [[ $rc -ge 0 && $rc -le 7 ]] || fail "tq $args exited $rc, not a code of the table"
done
log "done"
