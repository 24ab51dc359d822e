#!/usr/bin/env bash
# t_readme: README.md stays true (issue 17's doc tests), through
# readme_check.py:
#   1. every `tq ...` / `tq-worker ...` line of README's shell blocks and
#      inline code names a command, subcommand and flags that exist (each
#      checked against `tq CMD [SUB] --help` / `tq-worker --help`), and every
#      `--flag` in README's prose is one of tq's or tq-worker's;
#   2. the exit-code table is tq --help's (numbers and meanings) and covers
#      every code tq_exit_code returns;
#   3. the blocks marked <!-- doctest --> run, in order, in one bash against
#      a private Redis (the tour's own worker command, its URL pointed here),
#      and print what README shows; each row of the `tq wait` table is made
#      to happen and compared; the Python block runs when python3 is there.
source "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CHECK="$SRC/tests/integration/readme_check.py"
command -v python3 >/dev/null 2>&1 || fail "python3 is required (see .ci/deps)"

log "commands and flags"
python3 "$CHECK" flags "$SRC/README.md" "$TQ_BIN" || fail "README names a command or flag that does not exist (above)"
log "exit codes"
python3 "$CHECK" exits "$SRC/README.md" "$TQ_BIN" "$SRC" || fail "README's exit codes differ from tq --help's (above)"

start_redis
export TQ_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
[[ -n $REDIS_PASS ]] && TQ_REDIS_URL="redis://:$REDIS_PASS@127.0.0.1:$REDIS_PORT/0"
# the blocks run in a directory of their own (files like `ids`), which sees
# the tree's examples/ and python/; the Python package finds build/'s libtq
work="$TMP/readme"
mkdir -p "$work/out"
ln -s "$SRC/examples" "$work/examples"
ln -s "$SRC/python" "$work/python"
export PYTHONPATH="$SRC/python${PYTHONPATH:+:$PYTHONPATH}" TQ_LIBTQ="$TQ_BIN/libtq.so"
# a sanitizer build's libtq cannot load into an uninstrumented python3: the
# Python block then uses the plain build's, or is left out
if ldd "$TQ_LIBTQ" 2>/dev/null | grep -q 'libasan'; then
    if [[ -f $SRC/build/libtq.so ]] && ! ldd "$SRC/build/libtq.so" | grep -q libasan; then
        TQ_LIBTQ="$SRC/build/libtq.so"
    else
        export TQ_DOCTEST_SKIP_PYTHON=1
        log "the Python block is left out (no uninstrumented libtq.so)"
    fi
fi
log "doc tests"
rc=0
(cd "$work" && python3 "$CHECK" run "$SRC/README.md" "$TQ_BIN" "$work/out") || rc=$?
# the workers the blocks started log to files there (and out/N.out)
if grep -l 'ERROR: \(Address\|Undefined\|Leak\)Sanitizer\|runtime error:' "$work"/*.log "$work"/out/*.out 2>/dev/null; then
    fail "a worker of the doc tests logged a sanitizer report (the file above)"
fi
(( rc == 0 )) || { tail -n 30 "$work/worker.log" 2>/dev/null || true; fail "README's doc tests (above)"; }
log "the tq wait table"
start_worker
python3 "$CHECK" wait "$SRC/README.md" "$TQ_BIN" || fail "README's tq wait table (above)"
stop_worker "$WORKER_PID"
log "README is true"
