#!/usr/bin/env bash
# t_demo: `make demo`'s script (deploy/demo.sh) runs to its end against the
# binaries under test: every step it checks holds (a failing job's record, a
# crashed worker's job delivered again as attempt 2, the failover's 60 jobs),
# and it stops every process it started (it kills them by pid on exit). The
# demo is what a new user runs first: a record field added to `tq status
# --json` once broke its parsing, and nothing in the tests noticed.
source "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/../.." && pwd)
out="$TMP/demo.out"
rc=0
TQ_BIN="$TQ_BIN" timeout $((120 * TQ_SLOW)) bash "$root/deploy/demo.sh" >"$out" 2>&1 || rc=$?
[[ $rc == 0 ]] || { tail -n 30 "$out" >&2; fail "deploy/demo.sh exited $rc"; }
assert_contains "$(cat "$out")" 'state "failed", attempt 3' "the failing job's record"
assert_contains "$(cat "$out")" 'attempt 2, worker "demo-rescuer' "the crashed worker's job, run again"
assert_contains "$(cat "$out")" 'all 60 jobs finished' "the failover"
assert_contains "$(cat "$out")" 'demo done in' "the end"
