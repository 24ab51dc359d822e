# shellcheck shell=bash disable=SC2034 # PORT and REDIS_PID are for the caller
# private-redis.sh -- sourced by deploy/demo.sh and bench/lib.sh (make demo,
# make bench, make bench-peers); not run.

# private_redis DIR [ARGS...]: starts a redis-server of its own on a free
# port of 127.0.0.1, without persistence, its files and its log
# (DIR/redis.log) in DIR, with ARGS added (a TLS port, ...), and waits until
# it answers. Sets PORT and REDIS_PID (the caller stops
# it by that pid). Non-zero when five ports in a row did not work.
private_redis() {
    local dir=$1 _
    shift
    REDIS_PID=""
    for _ in 1 2 3 4 5; do
        PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && continue
        redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir" --daemonize no "$@" >"$dir/redis.log" 2>&1 &
        REDIS_PID=$!
        for _ in $(seq 1 100); do
            redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && return 0
            sleep 0.05
        done
        kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=""
    done
    return 1
}
