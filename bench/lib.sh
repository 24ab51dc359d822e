# shellcheck shell=bash disable=SC2034 # NOW, TICKS, HWM... are for the caller
# lib.sh -- helpers shared by bench/bench.sh (`make bench`) and
# bench/peers/run.sh (`make bench-peers`); sourced, not run.
#
# Nothing here forks in the hot paths: the poller speaks RESP to Redis on a
# /dev/tcp socket, sleeps are reads with a timeout, clocks are bash's own.

# alive PID: the process exists and is not a zombie.
alive() { [[ -e /proc/$1 && $(sed 's/.*) //;s/ .*//' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# nap_init DIR, then nap SECS: sleeps without a fork (a read with a timeout
# on a FIFO nobody writes).
nap_init() {
    mkfifo "$1/nap"
    exec {NAP}<>"$1/nap"
}
nap() { read -r -t "$1" -u "$NAP" _ || true; }
# now_us: microseconds since the epoch in NOW, without a fork.
now_us() { NOW=${EPOCHREALTIME/./}; }

# knobs WHO NAME... : every variable NAME must hold a whole number >= 1 (the
# knobs of the environment, already defaulted); else one line on stderr
# ("WHO: TQ_..._N must be ...") and exit 2, before anything has started.
knobs() {
    local who=$1 name
    shift
    for name in "$@"; do
        [[ ${!name} =~ ^[1-9][0-9]{0,8}$ ]] && continue
        echo "$who: ${KNOB_OF[$name]:-$name} must be a whole number from 1 to 999999999 (got '${!name}')" >&2
        exit 2
    done
}

# ---------------------------------------------------------------- Redis

# shellcheck source=deploy/private-redis.sh
. "$(dirname "${BASH_SOURCE[0]}")/../deploy/private-redis.sh" # private_redis

# rcall CMD: one inline command on the poller's connection (fd RFD, opened
# by the caller: exec {RFD}<>/dev/tcp/127.0.0.1/PORT); the reply (an
# integer, a status or a one-line bulk string; nil = empty) in RV.
rcall() {
    local l
    printf '%s\r\n' "$1" >&"$RFD"
    IFS= read -r l <&"$RFD"
    l=${l%$'\r'}
    case $l in
    :* | +*) RV=${l:1} ;;
    '$-1') RV="" ;;
    \$*) IFS= read -r l <&"$RFD"; RV=${l%$'\r'} ;;
    *) RV="ERR ${l:1}" ;;
    esac
}

# rbulk CMD: as rcall, for a reply that is a multi-line bulk string (INFO):
# the whole text in RV, CRs removed.
rbulk() {
    local l n LC_ALL=C # read -N counts characters: bytes, in the C locale
    printf '%s\r\n' "$1" >&"$RFD"
    IFS= read -r l <&"$RFD"
    l=${l%$'\r'}
    [[ $l == \$* ]] || { RV="ERR ${l:1}"; return 0; }
    n=${l:1}
    IFS= read -r -N "$((n + 2))" RV <&"$RFD" # the text and its CRLF
    RV=${RV//$'\r'/}
}

# ---------------------------------------------------------------- /proc

# tree ROOT: ROOT and its descendants in TREE (from /proc/PID/task/*/children).
tree() {
    TREE=()
    _walk "$1"
}
_walk() {
    local f c kids
    TREE+=("$1")
    for f in /proc/"$1"/task/*/children; do
        [[ -r $f ]] || continue
        kids=()
        read -r -a kids <"$f" 2>/dev/null || true
        for c in "${kids[@]}"; do _walk "$c"; done
    done
}

# cpu_tree ROOT: clock ticks used by ROOT's tree in TICKS: utime + stime of
# each live process (all its threads, exited ones included) + cutime +
# cstime (children it has reaped, e.g. RQ's work horses).
cpu_tree() {
    local p s
    local -a fld
    TICKS=0
    tree "$1"
    for p in "${TREE[@]}"; do
        s=""
        { read -r s <"/proc/$p/stat"; } 2>/dev/null || continue
        s=${s##*) }
        read -r -a fld <<<"$s"
        TICKS=$((TICKS + fld[11] + fld[12] + fld[13] + fld[14]))
    done
}
# cpu_one PID: utime + stime of one process (fields 14 and 15 of
# /proc/PID/stat, all its threads) in TICKS.
cpu_one() {
    local s
    local -a fld
    TICKS=0
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 0
    s=${s##*) }
    read -r -a fld <<<"$s"
    TICKS=$((fld[11] + fld[12]))
}
# hwm_tree ROOT: the sum of VmHWM (KiB) over ROOT's live tree in HWM, and
# ROOT's own in HWM_ROOT. Forked children share pages with their parent
# (Celery's pool, RQ's horse), so the sum over-counts those.
hwm_tree() {
    local p k v _
    HWM=0 HWM_ROOT=0
    tree "$1"
    for p in "${TREE[@]}"; do
        while read -r k v _; do
            if [[ $k == VmHWM: ]]; then
                HWM=$((HWM + v))
                [[ $p == "$1" ]] && HWM_ROOT=$v
                break
            fi
        done <"/proc/$p/status" 2>/dev/null || true
    done
}

# ---------------------------------------------------------------- tq helpers

# build_tq_helpers TQ_BIN ROOT OUTDIR: compiles bench/peers/tq/tq_peer.c (a
# libtq client: one-at-a-time enqueue, the paced latency run) to
# OUTDIR/tq_peer and bench/peers/tq/peers_lat.c (a tq-worker plugin, the
# handler peers.lat) to OUTDIR/peers_lat.so. Compiler output in
# OUTDIR/cc.log; non-zero on failure. libtq.a's TLS bridge needs
# libevent_openssl, OpenSSL and pthreads (build/tq.pc's Requires.private).
build_tq_helpers() {
    local bin=$1 root=$2 out=$3
    local -a cflags=(-O2 -std=c11 -D_GNU_SOURCE -I"$root/include")
    # shellcheck disable=SC2046 # pkg-config's words are separate flags
    cc "${cflags[@]}" "$root/bench/peers/tq/tq_peer.c" "$bin/libtq.a" \
        $(pkg-config --libs hiredis libevent_openssl libevent jansson openssl) -lm -pthread \
        -o "$out/tq_peer" 2>"$out/cc.log" &&
        cc "${cflags[@]}" $(pkg-config --cflags jansson) -shared -fPIC "$root/bench/peers/tq/peers_lat.c" \
            -o "$out/peers_lat.so" 2>>"$out/cc.log"
}

# ---------------------------------------------------------------- TLS

# bench_tls_certs DIR: a CA (DIR/ca.pem) and a server certificate it signed
# (DIR/server.pem, .key) for localhost and 127.0.0.1, EC keys (fast), made
# by openssl as tests/integration/lib.sh's tls_certs makes them. Non-zero on
# failure.
bench_tls_certs() {
    local d=$1
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    mkdir -p "$d" &&
        openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
            -subj /CN=tq-bench-ca 2>/dev/null &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/san" &&
        openssl req -new "${ec[@]}" -keyout "$d/server.key" -out "$d/server.csr" \
            -subj /CN=server 2>/dev/null &&
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
            -CAcreateserial -out "$d/server.pem" -days 2 -extfile "$d/san" 2>/dev/null
}

# private_tls_redis DIR CERTDIR: as private_redis (deploy/private-redis.sh),
# plus a TLS port serving CERTDIR/server.pem (bench_tls_certs; clients not
# asked for certificates). The plain port is for the poller and redis-cli.
# Sets PORT, TLS_PORT and REDIS_PID. Non-zero when five tries did not work.
private_tls_redis() {
    local dir=$1 c=$2 _
    for _ in 1 2 3 4 5; do
        TLS_PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null && continue
        private_redis "$dir" --tls-port "$TLS_PORT" --tls-cert-file "$c/server.pem" \
            --tls-key-file "$c/server.key" --tls-ca-cert-file "$c/ca.pem" \
            --tls-auth-clients no && return 0
    done
    return 1
}
