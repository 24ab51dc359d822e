#!/usr/bin/env bash
# t_contain: the processes an exec job starts. A job whose main process has
# exited ends promptly with its result even when a daemon it started still
# holds stdout; what is left in its process group is killed; an orphan of a
# killed job is reaped by tq-worker (a child subreaper: no zombie left with
# it as parent); and with --cgroup DIR even a setsid daemon is gone when its
# job ends (skipped, with a note, where no cgroup v2 is writable).
source "$(dirname "$0")/lib.sh"

start_redis
GONE=()
cgroot=""
cleanup_pids() {
    local p
    for p in "${GONE[@]}" $(cat "$TMP"/daemon.* "$TMP"/orphan.* "$TMP"/left.* 2>/dev/null); do
        kill -9 "$p" 2>/dev/null || true
    done
    [[ -z $cgroot ]] || rmdir "$cgroot"/job-* "$cgroot" 2>/dev/null || true
}
trap 'cleanup_pids; _cleanup' EXIT

# state PID: the state letter of /proc/PID/stat ("" when there is no PID)
state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true; }
gone() { [[ -z $(state "$1") ]]; }
zombies_of() { # PIDs in state Z whose parent is $1
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v pp="$1" '$3 == "Z" && $4 == pp {print $1}' || true
}

cat >"$TMP/daemon.sh" <<EOF
#!/bin/sh
setsid sleep 1001 &
echo \$! >"$TMP/daemon.\$TQ_JOB_ID"
echo '"done"'
EOF
cat >"$TMP/orphan.sh" <<EOF
#!/bin/sh
( trap '' TERM; exec sleep 1002 ) >/dev/null 2>&1 &
echo \$! >"$TMP/orphan.\$TQ_JOB_ID"
sleep 1000
EOF
cat >"$TMP/leftover.sh" <<EOF
#!/bin/sh
sleep 1003 >/dev/null 2>&1 &
echo \$! >"$TMP/left.\$TQ_JOB_ID"
echo '"main done"'
EOF
chmod +x "$TMP"/*.sh

start_worker --name contw --kill-grace 1s --task "daemon=$TMP/daemon.sh" \
    --task "orphan=$TMP/orphan.sh" --task "leftover=$TMP/leftover.sh"
w=$WORKER_PID

# 1. A setsid daemon holds stdout: the job still ends when its main process
# does, with what it printed.
t0=$(now)
id=$(tq submit daemon)
assert_eq '"done"' "$(tq wait "$id" --timeout 5s)" "result of a job whose daemon holds stdout"
took=$(elapsed_since "$t0")
assert_le "$took" 3 "seconds for the job to end"
d=$(cat "$TMP/daemon.$id")
GONE+=("$d")
log "daemon $d: state $(state "$d") (no --cgroup: it escapes, as documented)"

# 2. What a finished job left in its process group is killed, and reaped.
id=$(tq submit leftover)
assert_eq '"main done"' "$(tq wait "$id" --timeout 5s)" "result"
l=$(cat "$TMP/left.$id")
GONE+=("$l")
wait_until 5 gone "$l"

# 3. A killed job's grandchild outlives its parent (it ignores SIGTERM),
# comes to tq-worker, gets SIGKILL after --kill-grace and is reaped by it.
id=$(tq submit --timeout 1s --retries 0 orphan)
assert_exit 1 tq wait "$id" --timeout 10s
o=$(cat "$TMP/orphan.$id")
GONE+=("$o")
wait_until 6 gone "$o"
z=$(zombies_of "$w")
[[ -z $z ]] || fail "zombies left with tq-worker ($w) as parent: $z"
stop_worker "$w"

# 4. --cgroup: every process of a job, a setsid daemon too, ends with it.
for base in /sys/fs/cgroup/unified /sys/fs/cgroup; do
    if [[ $(stat -f -c %T "$base" 2>/dev/null) == cgroup2fs ]] &&
        mkdir "$base/tq-test-$$" 2>/dev/null; then
        cgroot="$base/tq-test-$$"
        break
    fi
done
if [[ -z $cgroot ]]; then
    log "NOTE: no writable cgroup v2 here: the --cgroup part is skipped"
else
    start_worker --name contcg --cgroup "$cgroot" --task "daemon=$TMP/daemon.sh"
    wc=$WORKER_PID
    id=$(tq submit daemon)
    assert_eq '"done"' "$(tq wait "$id" --timeout 5s)" "result under --cgroup"
    d=$(cat "$TMP/daemon.$id")
    GONE+=("$d")
    wait_until 5 gone "$d"
    wait_until 5 bash -c "! ls -d '$cgroot'/job-* >/dev/null 2>&1"
    z=$(zombies_of "$wc")
    [[ -z $z ]] || fail "zombies left with tq-worker ($wc) as parent: $z"
    stop_worker "$wc"
    # not a cgroup2 directory: refused at start
    assert_exit 2 "$TQ_BIN/tq-worker" --cgroup "$TMP" --task "daemon=$TMP/daemon.sh"
    assert_one_line "$ERR"
    assert_contains "$ERR" "cgroup" "--cgroup on a plain directory"
fi
log "PASS"
