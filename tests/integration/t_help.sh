#!/usr/bin/env bash
# t_help: the usage text of issue 17, from its one source (cmd/tq/help.c,
# cmd/tq-worker/help.c). Every command and subcommand answers `tq help CMD
# [SUB]` and `tq CMD [SUB] --help` with exit 0, its own usage line and flags,
# exit codes and an example; the parsers take exactly the flags the tables
# name (tq --help-check; tq-worker's parser read from its source); a typo
# gets "did you mean", exit 2; --version names the commit. No Redis needed.
source "$(dirname "$0")/lib.sh"
# got_eq GOT WANT [WHAT]: assert_eq with what a command printed first
got_eq() { assert_eq "$2" "$1" "${3:-value}"; }
SRC=$(cd "$(dirname "$0")/../.." && pwd)

# ---- tq --help: every group, every command
assert_exit 0 tq --help
for g in jobs groups queues schedules limits workers 'dead letters' dashboard; do
    assert_contains "$OUT" "$g:" "tq --help"
done
assert_exit 0 tq help
overview=$OUT
assert_exit 0 tq -h
got_eq "$OUT" "$overview" "tq -h is tq help"

# ---- each command of the overview, both ways
cmds=$(printf '%s\n' "$overview" | awk '/^[a-z ]+:$/ { g = 1; next } /^$/ { g = 0 }
    g && /^  [a-z]/ { sub(/   +.*/, ""); print $1 ($2 ~ /^[a-z]+$/ ? " " $2 : "") }')
n=0
while read -r cmd sub; do
    [[ -n $cmd ]] || continue
    # shellcheck disable=SC2086
    assert_exit 0 tq help $cmd $sub
    a=$OUT
    # shellcheck disable=SC2086
    assert_exit 0 tq $cmd $sub --help
    got_eq "$OUT" "$a" "tq $cmd $sub --help is tq help $cmd $sub"
    assert_contains "$OUT" "usage: tq $cmd${sub:+ $sub}" "tq help $cmd $sub"
    assert_contains "$OUT" "exit codes:" "tq help $cmd $sub"
    assert_contains "$OUT" "example:" "tq help $cmd $sub"
    assert_contains "$OUT" "  0  ok" "tq help $cmd $sub"
    n=$((n + 1))
done <<<"$cmds"
log "$n commands and subcommands answer --help"
(( n >= 30 )) || fail "only $n commands in tq --help"

# flags, their defaults, anywhere on the line
assert_exit 0 tq group submit --help
assert_contains "$OUT" "--then TASK2" "group submit --help"
assert_contains "$OUT" "--retries N" "group submit --help"
assert_contains "$OUT" "(default: 3)" "group submit --help"
assert_exit 0 tq dlq retry --help
assert_contains "$OUT" "--all" "dlq retry --help"
assert_exit 0 tq schedule add --help
assert_contains "$OUT" "--overlap skip|allow" "schedule add --help"
assert_contains "$OUT" "(default: skip)" "schedule add --help"
assert_exit 0 tq submit --queue q --help
assert_contains "$OUT" "usage: tq submit" "submit --queue q --help"
# a family alone: each subcommand
assert_exit 0 tq dlq --help
for s in list retry purge; do assert_contains "$OUT" "usage: tq dlq $s" "tq dlq --help"; done

# ---- the parser against the table, both ways
assert_exit 0 tq --help-check
got_eq "$OUT" "" "tq --help-check"
# and the flags of each command's help are taken by it (the parser says
# "does not apply" otherwise; nothing here reaches Redis: a bad port)
assert_exit 2 tq --redis redis://127.0.0.1:1 jobs --burst 3
assert_contains "$ERR" "does not apply" "a flag of another command"

# ---- did you mean
assert_exit 2 tq sbumit x
got_eq "$ERR" "tq: unknown command 'sbumit' (did you mean 'submit'?)" "typo of a command"
assert_exit 2 tq wiat ID
assert_contains "$ERR" "(did you mean 'wait'?)" "typo of wait"
assert_exit 2 tq frobnicate
got_eq "$ERR" "tq: unknown command 'frobnicate' (try tq --help)" "no near command"
assert_exit 2 tq submit --queu q x
got_eq "$ERR" "tq: unknown flag --queu (did you mean --queue?)" "typo of a flag"
assert_exit 2 tq submit --retires=3 x
assert_contains "$ERR" "(did you mean --retries?)" "typo of a flag with ="
assert_exit 2 tq group sbumit x
got_eq "$ERR" "tq: unknown subcommand 'tq group sbumit' (did you mean 'submit'?)" "typo of a sub"
assert_exit 2 tq help dlq retyr
assert_contains "$ERR" "(did you mean 'retry'?)" "tq help with a typo"
assert_exit 2 tq help sbumit
assert_contains "$ERR" "(did you mean 'submit'?)" "tq help with a typo"

# ---- --version: the version and the commit
version=$(sed -n 's/^#define TQ_VERSION "\(.*\)"$/\1/p' "$SRC/include/tq/tq.h")
assert_exit 0 tq --version
assert_match "$OUT" "^tq $version \\(commit [A-Za-z0-9._+-]+\\)$" "tq --version"
assert_exit 0 "$TQ_BIN/tq-worker" --version
assert_match "$OUT" "^tq-worker $version \\(commit [A-Za-z0-9._+-]+\\)$" "tq-worker --version"

# ---- tq-worker: its help names every flag its parser takes, and no other
assert_exit 0 "$TQ_BIN/tq-worker" --help
worker_help=$OUT
parsed=$(grep -o 'strcmp(flag, "--[a-z-]*")' "$SRC/cmd/tq-worker/main.c" |
    sed 's/.*"\(--[a-z-]*\)".*/\1/' | sort -u)
[[ -n $parsed ]] || fail "no flag found in cmd/tq-worker/main.c"
tabled=$("$TQ_BIN/tq-worker" --help-flags | tr ',' '\n' | tr -d ' ' |
    grep -v -x -e '-h' -e '--help' -e '--version' | sort -u)
got_eq "$tabled" "$parsed" "tq-worker: the help table's flags are the parser's"
for f in $parsed; do
    assert_contains "$worker_help" "  $f " "tq-worker --help"
done
assert_exit 2 "$TQ_BIN/tq-worker" --concurency 3
got_eq "$ERR" "tq-worker: unknown flag '--concurency' (did you mean '--concurrency'?)" \
    "tq-worker typo"
assert_exit 2 "$TQ_BIN/tq-worker" --frobnicate
got_eq "$ERR" "tq-worker: unknown flag '--frobnicate' (see --help)" "tq-worker no near flag"
log "ok"
