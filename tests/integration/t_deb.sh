#!/usr/bin/env bash
# t_deb: the Debian packages of `make deb` (debian/), installed and run.
# Builds them (or reuses build/deb when its .debs are newer than every source
# file), checks their contents with dpkg-deb -c, installs tq, libtq0 and
# libtq-dev with dpkg -i into a temporary root (dpkg --root, a dpkg database
# holding the machine's package list so dependencies are checked for real;
# maintainer scripts run with DPKG_ROOT: --force-script-chrootless), and
# checks what the postinst did there: the system user and group tq
# (systemd-sysusers), /etc/tq 0750 root:tq, an empty redis-password 0640
# root:tq. Then it runs the installed tq-worker the way the installed
# tq-worker@.service does (its ExecStart line, expanded from the installed
# /etc/tq/default.env with only the Redis address and metrics changed, the
# password handed over as a credential) as the ACL user tq of the installed
# users.acl, against a real redis-server; submits with the installed tq and
# sees the job succeed; builds a program with `pkg-config tq` from the root's
# libtq-dev, runs it on the root's libtq.so.0 and sees its job succeed too;
# purges tq. The machine's own / is never installed into: its passwd is
# checked unchanged. SKIPs (one line) when not root or without
# dpkg-buildpackage/debhelper (sh .ci/deps installs them).
source "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
if [[ $(id -u) != 0 ]]; then
    echo "SKIP: t_deb needs root (dpkg --root, the installed files' owners)"
    exit 0
fi
if ! command -v dpkg-buildpackage >/dev/null 2>&1 || ! command -v dh >/dev/null 2>&1; then
    echo "SKIP: t_deb needs dpkg-dev and debhelper (sh .ci/deps)"
    exit 0
fi

# ---------------------------------------------------------------- build

DEBS=$REPO/build/deb
version=$(sed -n 's/^#define TQ_VERSION "\(.*\)"$/\1/p' "$REPO/include/tq/tq.h")
newer=x
if [[ -f $DEBS/tq_${version}_$(dpkg --print-architecture).deb ]]; then
    newer=$(find "$REPO" \( -path "$REPO/build" -o -path "$REPO/.git" -o -name __pycache__ \) -prune \
        -o -type f -newer "$DEBS/tq_${version}_$(dpkg --print-architecture).deb" -print -quit)
fi
if [[ -n $newer ]]; then
    log "make deb (sources newer than build/deb: ${newer#"$REPO"/})"
    make -C "$REPO" --no-print-directory deb >"$TMP/make-deb.log" 2>&1 ||
        { cat "$TMP/make-deb.log" >&2; fail "make deb failed"; }
else
    log "build/deb is newer than the sources: reused"
fi
arch=$(dpkg --print-architecture)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for p in tq libtq0 libtq-dev; do
    [[ -f $DEBS/${p}_${version}_$arch.deb ]] || fail "make deb did not make ${p}_${version}_$arch.deb"
done
DEB_TQ=$DEBS/tq_${version}_$arch.deb
DEB_LIB=$DEBS/libtq0_${version}_$arch.deb
DEB_DEV=$DEBS/libtq-dev_${version}_$arch.deb

# ---------------------------------------------------------------- contents

# has DEB PATH...: dpkg-deb -c lists each PATH (./usr/bin/tq ...)
has() {
    local deb=$1 list f
    shift
    list=$(dpkg-deb -c "$deb" | awk '{print $6}')
    for f in "$@"; do
        grep -qxF "./$f" <<<"$list" || fail "$(basename "$deb") lacks $f"
    done
}
has "$DEB_TQ" usr/bin/tq usr/bin/tq-worker lib/systemd/system/tq-worker@.service \
    etc/tq/default.env usr/lib/sysusers.d/tq.conf usr/lib/tmpfiles.d/tq.conf \
    usr/share/tq/tq-worker.env.example usr/share/tq/redis/users.acl \
    usr/share/doc/tq/README.md usr/share/doc/tq/copyright \
    usr/share/man/man1/tq.1.gz usr/share/man/man8/tq-worker.8.gz \
    usr/share/bash-completion/completions/tq usr/share/bash-completion/completions/tq-worker \
    usr/share/zsh/vendor-completions/_tq usr/share/zsh/vendor-completions/_tq-worker
has "$DEB_LIB" "usr/lib/$ma/libtq.so.$version" "usr/lib/$ma/libtq.so.0"
has "$DEB_DEV" usr/include/tq/tq.h usr/include/tq/async.h usr/include/tq/worker.h \
    "usr/lib/$ma/libtq.a" "usr/lib/$ma/libtq.so" "usr/lib/$ma/pkgconfig/tq.pc" \
    usr/share/man/man3/libtq.3.gz
# no library in tq, no program in the libraries
dpkg-deb -c "$DEB_TQ" | grep -q 'libtq\.so' && fail "tq holds libtq.so"
dpkg-deb -c "$DEB_LIB" | grep -q 'usr/bin' && fail "libtq0 holds programs"
assert_eq "etc/tq/default.env" "$(dpkg-deb --ctrl-tarfile "$DEB_TQ" | tar -xOf - ./conffiles | sed 's|^/||')" \
    "tq's conffiles"
assert_contains "$(dpkg-deb -f "$DEB_LIB" Depends)" "libhiredis" "libtq0 Depends"
assert_contains "$(dpkg-deb -f "$DEB_DEV" Depends)" "libtq0 (= $version)" "libtq-dev Depends"
# the shared library names itself libtq.so.0 and dh_makeshlibs says so
assert_eq "libtq 0 libtq0 (>= $version)" \
    "$(dpkg-deb --ctrl-tarfile "$DEB_LIB" | tar -xOf - ./shlibs)" "libtq0 shlibs"
# everything `make install DESTDIR=... PREFIX=/usr` installs is in a package
# (man pages and completions too, whenever make install has them): the
# library moved to the multiarch directory, the unit to /lib, man pages
# compressed
make -C "$REPO" --no-print-directory -s BUILD="$TQ_BIN" PREFIX=/usr DESTDIR="$TMP/inst" install \
    >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log" >&2; fail "make install DESTDIR= failed"; }
all=$(for d in "$DEB_TQ" "$DEB_LIB" "$DEB_DEV"; do dpkg-deb -c "$d"; done | awk '{print $6}')
n=0
while IFS= read -r f; do
    f=${f#"$TMP/inst/"}
    case $f in
        usr/lib/libtq*) want=usr/lib/$ma/${f#usr/lib/} ;;
        usr/lib/pkgconfig/*) want=usr/lib/$ma/${f#usr/lib/} ;;
        usr/lib/systemd/*) want=${f#usr/} ;;
        *) want=$f ;;
    esac
    grep -qxF -e "./$want" -e "./$want.gz" <<<"$all" ||
        fail "make install installs $f, no package holds it (./$want)"
    n=$((n + 1))
done < <(find "$TMP/inst" \( -type f -o -type l \))
log "contents checked: the $n files of make install are all packaged"

# ---------------------------------------------------------------- install

ROOT=$TMP/root
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates" "$ROOT/var/lib/dpkg/triggers"
# the machine's package list: dependencies are checked against what it has
# installed (the root holds no files of them: the programs use the machine's)
cp /var/lib/dpkg/status "$ROOT/var/lib/dpkg/status"
: >"$ROOT/var/lib/dpkg/available"
passwd_before=$(cksum </etc/passwd)$(cksum </etc/group)
rdpkg() { dpkg --root="$ROOT" --force-script-chrootless --log="$TMP/dpkg.log" "$@"; }
rdpkg -i "$DEB_TQ" "$DEB_LIB" "$DEB_DEV" >"$TMP/dpkg-i.log" 2>&1 ||
    { cat "$TMP/dpkg-i.log" >&2; fail "dpkg -i into $ROOT failed"; }
rq() { dpkg-query --root="$ROOT" -W -f '${Status}' "$1"; }
for p in tq libtq0 libtq-dev; do
    assert_eq "install ok installed" "$(rq "$p")" "dpkg status of $p"
done
assert_eq "$passwd_before" "$(cksum </etc/passwd)$(cksum </etc/group)" "the machine's passwd and group"

# the postinst's work, in the root
pw_line=$(grep '^tq:' "$ROOT/etc/passwd") || fail "no user tq in the root's passwd"
gr_line=$(grep '^tq:' "$ROOT/etc/group") || fail "no group tq in the root's group"
IFS=: read -r _ _ tq_uid tq_gid _ tq_home tq_shell <<<"$pw_line"
assert_eq "$tq_gid" "$(cut -d: -f3 <<<"$gr_line")" "user tq's group"
[[ $tq_uid -lt 1000 ]] || fail "tq is not a system user (uid $tq_uid)"
assert_eq "/nonexistent /usr/sbin/nologin" "$tq_home $tq_shell" "tq's home and shell"
assert_eq "750 0 $tq_gid" "$(stat -c '%a %u %g' "$ROOT/etc/tq")" "/etc/tq mode, owner, group"
assert_eq "640 0 $tq_gid 0" "$(stat -c '%a %u %g %s' "$ROOT/etc/tq/redis-password")" \
    "/etc/tq/redis-password mode, owner, group, size"
log "installed: user tq uid $tq_uid, /etc/tq 750 root:tq, empty redis-password 640 root:tq"

# ---------------------------------------------------------------- the unit's worker

start_redis
PW="deb-$RANDOM$RANDOM"
# the ACL user tq exactly as the installed users.acl has it, with a password
acl=$(grep '^user tq ' "$ROOT/usr/share/tq/redis/users.acl") || fail "users.acl has no user tq"
read -r -a acl_rules <<<"${acl#user tq }"
acl_rules=("${acl_rules[@]/#>CHANGE-ME-tq/>$PW}")
rcli ACL SETUSER tq "${acl_rules[@]}" >/dev/null

# /etc/tq/default.env as installed, but for this Redis and without metrics
ENVF=$TMP/default.env
sed -e "s|^TQ_REDIS_URL=.*|TQ_REDIS_URL=redis://tq:@127.0.0.1:$REDIS_PORT/0|" \
    -e 's|^TQ_METRICS=.*|TQ_METRICS=off|' "$ROOT/etc/tq/default.env" >"$ENVF"
mkdir -p "$TMP/creds"
printf '%s\n' "$PW" >"$TMP/creds/redis-password"
declare -A ENV=([CREDENTIALS_DIRECTORY]=$TMP/creds)
while IFS= read -r line; do
    [[ $line =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]] && ENV[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
done <"$ENVF"

# ExecStart as systemd reads it: split on spaces; a word that is $VAR alone
# becomes the value's words, ${VAR} inside a word its value; %H %i specifiers
unit=$ROOT/lib/systemd/system/tq-worker@.service
exec_line=$(sed -n 's/^ExecStart=//p' "$unit")
[[ -n $exec_line ]] || fail "the unit has no ExecStart"
grep -q '^EnvironmentFile=/etc/tq/%i.env$' "$unit" || fail "the unit does not read /etc/tq/%i.env"
grep -q '^User=tq$' "$unit" || fail "the unit does not run as tq"
argv=()
for w in $exec_line; do
    if [[ $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
        [[ -v ENV[${BASH_REMATCH[1]}] ]] || fail "ExecStart's $w is not in default.env"
        read -r -a words <<<"${ENV[${BASH_REMATCH[1]}]}"
        argv+=("${words[@]}")
        continue
    fi
    while [[ $w =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do
        [[ -v ENV[${BASH_REMATCH[1]}] ]] || fail "ExecStart's \${${BASH_REMATCH[1]}} is not in default.env"
        w=${w//"${BASH_REMATCH[0]}"/"${ENV[${BASH_REMATCH[1]}]}"}
    done
    w=${w//%H/$(hostname)}
    w=${w//%i/default}
    argv+=("$w")
done
assert_eq /usr/bin/tq-worker "${argv[0]}" "ExecStart's program"
argv[0]=$ROOT/usr/bin/tq-worker
log "worker: ${argv[*]}"
"${argv[@]}" >"$TMP/worker-deb.log" 2>&1 &
WORKER_PID=$!
WORKER_PIDS+=("$WORKER_PID")
WORKER_LOG[$WORKER_PID]=$TMP/worker-deb.log

# the installed tq, as the user tq with its password file
TQI=("$ROOT/usr/bin/tq" --redis "redis://tq:@127.0.0.1:$REDIS_PORT/0"
     --redis-password-file "$TMP/creds/redis-password" --namespace tq)
id=$("${TQI[@]}" submit tq.noop '{"from":"deb"}')
assert_match "$id" '^[0-9A-Za-z]+$' "submit's id"
assert_exit 0 timeout 20 "${TQI[@]}" wait "$id"
assert_json_eq '{"from":"deb"}' "$OUT" "the job's result"
assert_eq succeeded "$("${TQI[@]}" status "$id")" "the job's state"
pid_alive "$WORKER_PID" || fail "the installed tq-worker exited: $(tail -n 5 "$TMP/worker-deb.log")"
log "job $id succeeded on the installed worker"

# ---------------------------------------------------------------- libtq-dev

if command -v "${CC:-cc}" >/dev/null 2>&1; then
    cat >"$TMP/prog.c" <<'EOF'
/* submits tq.noop through libtq and prints its result */
#include <stdio.h>
#include <stdlib.h>
#include <tq/tq.h>
int main(int argc, char **argv)
{
    char id[TQ_ID_SIZE], *res = NULL;
    tq_client *c = tq_client_new(argv[1], "tq");
    const char *ids[1] = {id};
    tq_job *job = NULL;
    if (argc != 2 || !c || tq_submit(c, "tq.noop", "[\"lib\"]", NULL, id) ||
        tq_wait(c, ids, 1, 20000, &job) || tq_result(c, id, &res)) {
        fprintf(stderr, "prog: %s\n", c ? tq_client_errstr(c) : "no client");
        return 1;
    }
    printf("%s\n", res);
    free(res);
    tq_job_free(job);
    tq_client_free(c);
    return 0;
}
EOF
    # the root's tq.pc says prefix=/usr: pkg-config puts the root in front
    pcflags=$(PKG_CONFIG_SYSROOT_DIR=$ROOT \
        PKG_CONFIG_LIBDIR=$ROOT/usr/lib/$ma/pkgconfig:/usr/lib/$ma/pkgconfig:/usr/share/pkgconfig \
        pkg-config --cflags --libs tq) || fail "pkg-config does not find the root's tq.pc"
    assert_contains "$pcflags" "-L$ROOT/usr/lib/$ma" "pkg-config --libs tq"
    # shellcheck disable=SC2086
    "${CC:-cc}" -o "$TMP/prog" "$TMP/prog.c" $pcflags || fail "cannot build against libtq-dev"
    assert_contains "$(LD_LIBRARY_PATH=$ROOT/usr/lib/$ma ldd "$TMP/prog")" \
        "libtq.so.0 => $ROOT/usr/lib/$ma/libtq.so.0" "the program's libtq"
    assert_exit 0 env LD_LIBRARY_PATH="$ROOT/usr/lib/$ma" "$TMP/prog" \
        "redis://tq:$PW@127.0.0.1:$REDIS_PORT/0"
    assert_json_eq '["lib"]' "$OUT" "libtq's job result"
    log "a program built with pkg-config tq ran on the root's libtq.so.0"
fi

stop_worker "$WORKER_PID"
assert_eq 0 "$WORKER_RC" "the installed worker's exit on SIGTERM"

# ---------------------------------------------------------------- purge

rdpkg --purge libtq-dev libtq0 tq >"$TMP/dpkg-purge.log" 2>&1 ||
    { cat "$TMP/dpkg-purge.log" >&2; fail "dpkg --purge failed"; }
[[ ! -e $ROOT/usr/bin/tq && ! -e $ROOT/etc/tq ]] || fail "purge left $(ls -d "$ROOT"/usr/bin/tq "$ROOT"/etc/tq 2>/dev/null)"
grep -q '^tq:' "$ROOT/etc/passwd" || fail "purge removed the user tq (policy keeps it)"
assert_eq "$passwd_before" "$(cksum </etc/passwd)$(cksum </etc/group)" "the machine's passwd and group"
log "purged: files and /etc/tq gone, user tq kept"
