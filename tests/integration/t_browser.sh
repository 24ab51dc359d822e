#!/usr/bin/env bash
# t_browser: tq dashboard driven by headless Chromium (Selenium), against a
# real dashboard, worker and Redis: tests/browser/test_dashboard.py says
# what it checks (numbers, live counts, chart, cancel, retry, pause, the
# attempts' timeline, no injected script ever runs). Screenshots go to
# $TQ_BIN/integration-logs/t_browser-shots/; TQ_UPDATE_SCREENSHOT=1 also
# copies the queues page to docs/dashboard.png (the README's: taken before
# the test makes its queue named with markup).
# SKIPs (passes, saying so on its first line) when chromium, chromedriver
# or Debian's python3-selenium is missing; .ci/deps installs them.
source "$(dirname "$0")/lib.sh"

py=/usr/bin/python3
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 ||
    ! "$py" -c 'import selenium' >/dev/null 2>&1; then
    echo "SKIP: t_browser needs chromium, chromium-driver and python3-selenium (sh .ci/deps)"
    exit 0
fi

start_redis
start_worker --queue default --concurrency 4 --name browser-w1

# the jobs the browser looks at
running=$(tq submit tq.sleep 60000)
dead=$(tq submit --retries 0 tq.fail \
    '"boom <script>window.__x=1</script><img src=x onerror=\"window.__x=2;alert(2)\">"')
flaky=$(tq submit --retries 2 --backoff 100ms tq.fail '"flaky <b>x</b><script>window.__x=7</script>"')
printf '%s\n' 1 2 3 | tq submit-many --queue live tq.noop >/dev/null
tq semaphore set pool 3
tq ratelimit set api 10/s
tq schedule add '<b>sched</b>' '@every 1h' tq.noop '"x"'
wait_until 10 state_is "$running" active
wait_until 10 state_is "$dead" failed
wait_until 10 state_is "$flaky" failed

# a steady trickle, so the chart has something to draw
( while true; do printf '%s\n' $(seq 1 20) | "$TQ_BIN/tq" submit-many tq.noop >/dev/null; sleep 0.5; done ) &
track_bg $!

start_dashboard
log "dashboard at $DASH"

shots=$TQ_BIN/integration-logs/t_browser-shots
rm -rf "$shots"
mkdir -p "$shots"
DASH=$DASH SHOTS=$shots RUNNING=$running DEAD=$dead FLAKY=$flaky \
    TQ_BIN=$TQ_BIN timeout 90 "$py" "$(dirname "$0")/../browser/test_dashboard.py" ||
    fail "the browser test failed (screenshots in $shots)"
if [[ ${TQ_UPDATE_SCREENSHOT:-0} == 1 ]]; then
    cp "$shots/dashboard-queues.png" "$(dirname "$0")/../../docs/dashboard.png"
    log "docs/dashboard.png updated"
fi
pid_alive "$DASH_PID" || fail "the dashboard died: $(cat "$DASH_LOG")"
log "ok"
