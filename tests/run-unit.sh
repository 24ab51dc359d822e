#!/bin/sh
# run-unit.sh -- runs cmocka unit-test binaries and sums up their test cases.
#
#   sh tests/run-unit.sh build/tests/test_job build/tests/test_id ...
#
# Each binary's output is shown as it is. The last line is "N passed, N failed",
# counting test cases from cmocka's "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s)" lines. A binary that crashed before its summary
# counts the tests it finished as passed and one failure; one that exited
# non-zero without reporting a failure (a sanitizer, valgrind) counts one
# failure. The exit status is 0 only when nothing failed.
#
# TQ_UNIT_WRAPPER, when set, prefixes every run, e.g.
#   TQ_UNIT_WRAPPER="valgrind -q --error-exitcode=9 --leak-check=full"

if [ $# -eq 0 ]; then
    echo "usage: sh tests/run-unit.sh TEST_BINARY..." >&2
    exit 2
fi

out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT
trap 'exit 130' INT TERM

# cmocka writes failures and its summary to stderr and the rest to stdout;
# line-buffer both so that the two stay in order in the captured output.
# stdbuf works by LD_PRELOAD, which ASan would refuse to start under (its
# runtime must come first) unless told not to check.
linebuf=
if [ -z "$TQ_UNIT_WRAPPER" ] && command -v stdbuf >/dev/null 2>&1; then
    linebuf="stdbuf -oL -eL"
    ASAN_OPTIONS="verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export ASAN_OPTIONS
fi

passed=0
failed=0
for bin in "$@"; do
    echo "== $bin"
    if [ ! -x "$bin" ]; then
        echo "$bin: no such test binary"
        failed=$((failed + 1))
        continue
    fi
    # shellcheck disable=SC2086 # both are command lines, split on purpose
    CMOCKA_MESSAGE_OUTPUT=stdout $linebuf $TQ_UNIT_WRAPPER "$bin" >"$out" 2>&1
    status=$?
    cat "$out"

    # Cases passed and failed by the summary, cases finished (for a crash),
    # and whether the summary was printed at all.
    read -r p f ok summary <<EOF
$(awk '
        /^\[  PASSED  \] [0-9]+ test\(s\)/ { p += $4 }
        /^\[  FAILED  \] [0-9]+ test\(s\)/ { f += $4 }
        /^\[       OK \] /                  { ok++ }
        /^\[==========\] [0-9]+ test\(s\) run\./ { s = 1 }
        END { printf "%d %d %d %d\n", p, f, ok, s }
    ' "$out")
EOF

    if [ "$summary" -eq 0 ]; then
        if [ "$status" -gt 128 ]; then
            echo "$bin: killed by signal $((status - 128)) after $ok passing test(s)"
        else
            echo "$bin: exited with status $status before its summary"
        fi
        passed=$((passed + ok))
        failed=$((failed + 1))
        continue
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$bin: every test passed but it exited with status $status"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
