#!/usr/bin/env bash
# t_worker_badinput: tq-worker refuses, at start and before reaching Redis,
# a --task whose program does not exist or cannot be executed (looked up in
# PATH as execvp does; from the command line or a --config argv array), and a
# bad --env-deny or --cgroup: one line naming the task / flag, exit 2.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
url="redis://127.0.0.1:$port/0"   # nothing listens: the checks come first

bad() {
    local word=$1
    shift
    assert_exit 2 timeout 10 "$TQ_BIN/tq-worker" --redis "$url" "$@"
    assert_one_line "$ERR" "stderr of tq-worker $*"
    assert_contains "$ERR" "$word" "stderr of tq-worker $*"
    log "exit 2: $ERR"
}

printf '#!/bin/sh\necho 1\n' >"$TMP/noexec.sh"   # not chmod +x
mkdir "$TMP/adir"
bad "task 'a': program 'no-such-program-tq' not found in PATH" --task a=no-such-program-tq
bad "task 'b': program '$TMP/nothing' does not exist" --task "b=$TMP/nothing arg"
bad "task 'c': program '$TMP/noexec.sh' is not an executable file" --task "c=$TMP/noexec.sh"
bad "task 'd': program '$TMP/adir'" --task "d=$TMP/adir"
printf '{"tasks": {"e": ["no-such-program-tq", "x y"]}}\n' >"$TMP/cfg.json"
bad "task 'e': program 'no-such-program-tq'" --config "$TMP/cfg.json"
# PATH is searched as execvp would: a program found there is accepted (the
# worker starts and waits for its Redis until timeout stops it).
mkdir "$TMP/bin"
printf '#!/bin/sh\ncat\n' >"$TMP/bin/mytool"
chmod +x "$TMP/bin/mytool"
PATH="$TMP/bin:$PATH" assert_exit 124 timeout 1 "$TQ_BIN/tq-worker" --redis "$url" --task f=mytool
bad "--env-deny" --env-deny 'A=B'
bad "--env-deny" --env-deny ''
# A bad URL is named without its password.
bad "the port is not a number" --redis 'redis://u:sekrit@host:99999/0'
[[ $ERR != *sekrit* ]] || fail "the password is shown: $ERR"
bad "has no host" --redis 'redis://:sekrit@:1/0'
[[ $ERR != *sekrit* ]] || fail "the password is shown: $ERR"
log "PASS"
