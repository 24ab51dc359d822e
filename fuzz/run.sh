#!/bin/sh
# fuzz/run.sh BINDIR TARGET... -- runs each libFuzzer target for $FUZZ_S
# seconds (default 60) on a scratch copy of its seed corpus
# (fuzz/corpus/TARGET), one after the other. A crash leaves its input in
# build/fuzz/crashes/TARGET/ and makes the run fail (after the others ran).
# FUZZ_JOBS=N runs N targets at a time.
set -u
bin=$1; shift
secs=${FUZZ_S:-60}
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$bin/.." && pwd)
failed=""
# hiredis 0.14 allocates what a reply declares ("*1900000123": 15 GB):
# such an allocation must fail as it does in production (NULL: an OOM error
# the caller handles), not stop the run, nor make ASan poison gigabytes.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=1024"
run_one() {
    t=$1
    work="$out/corpus/$t"; crash="$out/crashes/$t"; log="$out/logs/$t.log"
    mkdir -p "$work" "$crash" "$out/logs"
    [ -d "$here/corpus/$t" ] && cp -n "$here/corpus/$t"/* "$work"/ 2>/dev/null
    opts=""
    [ -f "$here/$t.options" ] && opts=$(cat "$here/$t.options")
    # shellcheck disable=SC2086
    if "$bin/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$crash/" -print_final_stats=1 $opts "$work" >"$log" 2>&1; then
        echo "fuzz $t: ok ($(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1))"
        return 0
    fi
    echo "fuzz $t: FAILED (log $log, input in $crash/)" >&2
    tail -40 "$log" >&2
    return 1
}
for t in "$@"; do
    run_one "$t" || failed="$failed $t"
done
[ -z "$failed" ] || { echo "fuzz: crashed:$failed" >&2; exit 1; }
