#!/usr/bin/env bash
# run.sh -- runs the integration tests: every tests/integration/t_*.sh, each in
# its own bash process under a time limit, one after the other (each starts its
# own redis-server and workers, and cleans them up).
#
#   TQ_BIN=build bash tests/integration/run.sh [NAME...]   (make integration)
#
# NAME picks tests (t_happy or happy). Prints PASS/FAIL per test, the tail of
# the log of each failure, and ends with one line "N passed, N failed"; exits
# 1 if any failed. Full logs stay in $TQ_BIN/integration-logs/.
#   TQ_TEST_TIMEOUT  seconds per test (default 120; x3 under TQ_VALGRIND=1)
#   TQ_VALGRIND=1    workers run under valgrind (make valgrind)
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${TQ_BIN:?TQ_BIN must name the build directory (make integration sets it)}"
TQ_BIN=$(cd "$TQ_BIN" && pwd)
export TQ_BIN

limit=${TQ_TEST_TIMEOUT:-120}
[[ ${TQ_VALGRIND:-0} == 1 ]] && limit=$((limit * 3))

tests=()
if [[ $# -gt 0 ]]; then
    for n in "$@"; do
        n=${n%.sh}; n=${n#t_}
        [[ -f $here/t_$n.sh ]] || { echo "no test t_$n.sh" >&2; exit 2; }
        tests+=("$here/t_$n.sh")
    done
else
    tests=("$here"/t_*.sh)
fi

logdir=$TQ_BIN/integration-logs
mkdir -p "$logdir"

missing=""
for c in redis-server redis-cli jq timeout; do
    command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
[[ -x $TQ_BIN/tq && -x $TQ_BIN/tq-worker ]] || missing="$missing $TQ_BIN/{tq,tq-worker}"
if [[ -n $missing ]]; then
    echo "integration: missing:$missing" >&2
    echo "0 passed, ${#tests[@]} failed"
    exit 1
fi

mode=""
[[ ${TQ_VALGRIND:-0} == 1 ]] && mode=" (workers under valgrind)"
echo "integration: ${#tests[@]} tests, binaries from $TQ_BIN$mode"

pass=0
failed=0
t_all=$(date +%s.%N)
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    logf=$logdir/$name.log
    t0=$(date +%s.%N)
    rc=0
    timeout -k 15 "$limit" bash "$t" >"$logf" 2>&1 </dev/null || rc=$?
    took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
    if [[ $rc == 0 ]]; then
        pass=$((pass + 1))
        printf 'PASS  %-16s %6ss\n' "$name" "$took"
    else
        failed=$((failed + 1))
        why="exit $rc"
        [[ $rc == 124 || $rc == 137 ]] && why="timed out after ${limit}s"
        printf 'FAIL  %-16s %6ss  (%s; log: %s)\n' "$name" "$took" "$why" "$logf"
        tail -n 30 "$logf" | sed 's/^/    | /'
    fi
done
took=$(awk -v a="$t_all" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b-a}')
echo "integration: ${took}s"
echo "$pass passed, $failed failed"
[[ $failed == 0 ]]
