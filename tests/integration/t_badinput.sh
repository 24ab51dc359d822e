#!/usr/bin/env bash
# t_badinput: bad input is refused before anything reaches Redis (SPEC §7):
# exit 2, one line on stderr saying what, and not one key written.
source "$(dirname "$0")/lib.sh"

start_redis
# No worker: it would write keys of its own.

# refuse ARGS...: tq ARGS must exit 2 with one line on stderr.
refuse() {
    assert_exit 2 tq "$@"
    assert_one_line "$ERR" "stderr of: tq $*"
    log "refused: tq $(printf '%q ' "$@")-> $ERR"
}

# Invalid JSON, in ARGS and on stdin; the message says where.
refuse submit tq.noop '{"a":'
assert_match "$ERR" '[0-9]' "a JSON error gives a position"
refuse submit tq.noop '[1,2,]'
refuse submit tq.noop 'hello'
assert_exit 2 tq submit tq.noop - <<<'{"unterminated'
assert_one_line "$ERR"

# Oversized args: over the default 512 KiB, and over --max-args.
big=$(head -c 600000 /dev/zero | tr '\0' a)
printf '"%s"' "$big" >"$TMP/big.json"
assert_exit 2 tq submit tq.noop - <"$TMP/big.json"
assert_one_line "$ERR" "stderr for 600 KB of args"
log "refused 600 KB args: $ERR"
refuse submit --max-args 100 tq.noop "\"$(head -c 200 /dev/zero | tr '\0' b)\""

# Names: empty task, empty queue, control characters.
refuse submit '' 1
refuse submit --queue '' tq.noop 1
refuse submit --queue $'bad\tqueue' tq.noop 1
refuse submit --queue $'bad\nqueue' tq.noop 1
refuse submit --queue $'bell\a' tq.noop 1
refuse submit $'task\x01' 1

# Durations that do not parse.
refuse submit --delay 5x tq.noop 1
refuse submit --timeout abc tq.noop 1
refuse submit --backoff -1s tq.noop 1
refuse submit --result-ttl '' tq.noop 1
refuse wait --timeout forever 01JAAAAAAAAAAAAAAAAAAAAAAA

# Unknown flags and commands.
refuse submit --frobnicate tq.noop 1
refuse --frobnicate status 01JAAAAAAAAAAAAAAAAAAAAAAA
refuse frobnicate

# Priority outside 0..9; retries not a count.
refuse submit --priority 10 tq.noop 1
refuse submit --priority -1 tq.noop 1
refuse submit --priority high tq.noop 1
refuse submit --retries -1 tq.noop 1
refuse submit --retries 3x tq.noop 1

# submit-many validates every line first: one bad line, nothing sent.
printf '1\n2\n{"x":\n4\n' >"$TMP/lines"
assert_exit 2 tq submit-many tq.noop <"$TMP/lines"
assert_one_line "$ERR" "stderr of submit-many with a bad line"
assert_match "$ERR" '3' "submit-many names the bad line (3)"
assert_eq "" "$OUT" "ids printed by a refused submit-many"
refuse submit-many --queue '' tq.noop </dev/null

# group submit too.
assert_exit 2 tq group submit tq.noop <"$TMP/lines"
assert_one_line "$ERR" "stderr of group submit with a bad line"

# A bad id says which kind of id it is.
assert_exit 2 tq status 'bad id!'
assert_match "$ERR" "^tq: job id 'bad id!'" "a bad job id"
assert_exit 2 tq group status 'bad id!'
assert_match "$ERR" "^tq: group id 'bad id!'" "a bad group id"

# Not one key in the private Redis.
keys=$(rcli --scan | head -20)
[[ -z $keys ]] || fail "refused input wrote keys: $(echo "$keys" | xargs)"

# And the same client does write when the input is good (the check above can fail).
tq submit tq.noop 1 >/dev/null
[[ -n $(rcli --scan | head -1) ]] || fail "a good submit wrote no key: the scan proves nothing"

log "ok"
