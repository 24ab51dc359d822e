#!/usr/bin/env bash
# t_configs: every configuration file tq ships loads in the redis-server the
# tests use (deploy/**/*.conf: redis, its replica, sentinel with --sentinel), with
# only what a test must change overridden (port, dir, log, daemonize); each
# answers PING and is stopped by its pid. Shipped systemd units pass
# `systemd-analyze verify` (warnings included) when it is installed.
# tq-worker rejects a bad --config with exit 2 and exactly one line.
source "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/../.." && pwd)
mapfile -t confs < <(find "$root/deploy" -name '*.conf' | sort)
[[ ${#confs[@]} -gt 0 ]] || fail "no shipped *.conf found under deploy/"

# conf_load FILE N [TRY]: redis-server (or redis-sentinel) FILE + overrides; PING.
conf_load() {
    local f=$1 dir="$TMP/conf$2" port pid pass i args=()
    mkdir -p "$dir"
    port=$(free_port) || fail "no free TCP port"
    # a sentinel config is rewritten by the sentinel: give it a copy
    if grep -qE '^[[:space:]]*sentinel[[:space:]]' "$f"; then
        cp "$f" "$dir/sentinel.conf"
        f=$dir/sentinel.conf
        args+=(--sentinel)
    fi
    pass=$(awk '$1 == "requirepass" {print $2}' "$f" | tail -n 1)
    redis-server "$f" "${args[@]}" --port "$port" --dir "$dir" --daemonize no \
        --logfile "" --pidfile "" >"$dir/redis.log" 2>&1 &
    pid=$!
    track_bg "$pid"
    for ((i = 0; i < 100; i++)); do
        if ! pid_alive "$pid" && grep -q 'Address already in use' "$dir/redis.log" &&
            ((${3:-0} < 5)); then
            # the port was taken meanwhile (a busy machine): another one
            conf_load "$1" "$2" $((${3:-0} + 1))
            return
        fi
        pid_alive "$pid" || break
        if [[ $(redis-cli -p "$port" ${pass:+-a "$pass"} --no-auth-warning ping 2>/dev/null) == PONG ]]; then
            log "$(basename "$f"): loaded, PONG on port $port (pid $pid)"
            kill -TERM "$pid"
            wait_exit "$pid" 10 || { kill -KILL "$pid"; fail "$f: redis-server pid $pid ignored SIGTERM"; }
            return 0
        fi
        sleep 0.05
    done
    cat "$dir/redis.log" >&2
    fail "$f does not load in $(redis-server --version | grep -o 'v=[0-9.]*')"
}

n=0
for f in "${confs[@]}"; do
    conf_load "$f" $((n++))
done

# deploy/redis/users.acl: loads (an ACL file takes no comments) into the
# shipped redis.conf; the admin user gets in, the default user does not.
acl_dir="$TMP/acl"
mkdir -p "$acl_dir"
cp "$root/deploy/redis/users.acl" "$acl_dir/"
for ((try = 0; try < 5; try++)); do
    port=$(free_port) || fail "no free TCP port"
    redis-server "$root/deploy/redis/redis.conf" --port "$port" --dir "$acl_dir" \
        --aclfile "$acl_dir/users.acl" --daemonize no --logfile "" >"$acl_dir/redis.log" 2>&1 &
    acl_pid=$!
    track_bg "$acl_pid"
    sleep 0.2
    pid_alive "$acl_pid" || ! grep -q 'Address already in use' "$acl_dir/redis.log" || continue
    break
done
wait_until 5 eval '[[ $(redis-cli -p "$port" --user admin --pass CHANGE-ME-admin --no-auth-warning ping 2>/dev/null) == PONG ]]' ||
    { cat "$acl_dir/redis.log" >&2; fail "users.acl does not load"; }
assert_contains "$(redis-cli -p "$port" ping 2>&1)" NOAUTH "the default user is off"
kill -TERM "$acl_pid"
wait_exit "$acl_pid" 10 || fail "redis-server pid $acl_pid ignored SIGTERM"
log "users.acl: loaded; admin gets in, the default user does not"

# systemd units: verify a copy named as an instance, running the built binary
mapfile -t units < <(find "$root/deploy" -name '*.service' | sort)
if ! command -v systemd-analyze >/dev/null 2>&1; then
    log "note: systemd-analyze not installed; ${#units[@]} unit(s) not verified"
else
    for u in "${units[@]}"; do
        name=$(basename "$u")
        [[ $name == *@.service ]] && name=${name%@.service}@test.service
        sed "s|/usr/local/bin/|$TQ_BIN/|g" "$u" >"$TMP/$name"
        assert_exit 0 timeout 30 systemd-analyze verify "$TMP/$name"
        [[ -z $ERR ]] || fail "systemd-analyze verify $(basename "$u"): $ERR"
        log "$(basename "$u"): systemd-analyze verify: clean"
        # the hardening: exposure at most 3.0 ("OK"), where this systemd can
        # rate a unit file offline (252 can)
        if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
            assert_exit 0 timeout 30 systemd-analyze security --offline=yes --no-pager "$TMP/$name"
            score=$(grep -o 'Overall exposure level for [^:]*: [0-9.]*' <<<"$OUT" | awk '{print $NF}')
            [[ -n $score ]] || fail "systemd-analyze security printed no exposure: $OUT"
            assert_le "$score" 3.0 "systemd-analyze security exposure of $(basename "$u")"
            log "$(basename "$u"): systemd-analyze security: $score"
        else
            log "note: this systemd-analyze has no --offline; security not rated"
        fi
        grep -q '^RestartPreventExitStatus=2$' "$u" ||
            fail "$(basename "$u") restarts on exit 2 (a bad config) in a loop"
    done
fi

# tq-worker --config: a refused file is exit 2 and one line, even when it
# quotes a key holding a newline (found by fuzz_config).
printf '{"bogus\\nkey": 1}' >"$TMP/bad.json"
assert_exit 2 "$TQ_BIN/tq-worker" --config "$TMP/bad.json"
assert_one_line "$ERR" "tq-worker --config with a newline in a key"
assert_contains "$ERR" "unknown key"
printf '{"queues": ["a\\u001b[2Jb"]}' >"$TMP/esc.json"
assert_exit 2 "$TQ_BIN/tq-worker" --config "$TMP/esc.json"
assert_one_line "$ERR" "tq-worker --config with an escape in a queue"
log "PASS"
