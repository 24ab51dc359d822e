#!/usr/bin/env bash
# t_embed: libtq as a user gets it (SPEC §6). make install into a temporary
# prefix; check what landed there (soname, symlinks, headers, tq.pc, only
# tq_* exported); build the examples, docs/api.md's programs and a test
# program with nothing but `pkg-config tq` (shared, and static with
# --static); then run them against a private redis-server: the embedding
# program (blocking + async client + in-process worker, under valgrind when
# it is installed), the HTTP service of examples/http-enqueue.c spoken to
# over bash's /dev/tcp, and the plugin of examples/plugin-sleep.c in the
# installed tq-worker, whose job completes and whose cancel is honoured.
source "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PREFIX=$TMP/prefix
command -v "${CC:-cc}" >/dev/null || fail "no C compiler"
command -v pkg-config >/dev/null || fail "pkg-config is required"

# A sanitizer build (make asan) puts the runtime's symbols into libtq; what
# links against it needs the same flags.
SAN=""
if [[ $(nm -D "$TQ_BIN/libtq.so" 2>/dev/null) == *__asan_init* ]]; then
    SAN="-fsanitize=address,undefined"
fi
CFLAGS_T="-O1 -g -Wall -Wextra -Wno-unused-parameter -Werror $SAN"

# ---------------------------------------------------------------- install

log "make install PREFIX=$PREFIX"
make -C "$REPO" --no-print-directory -s BUILD="$TQ_BIN" PREFIX="$PREFIX" install \
    >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log" >&2; fail "make install failed"; }

for f in bin/tq bin/tq-worker lib/libtq.a lib/libtq.so.0.1.0 include/tq/tq.h \
         include/tq/async.h include/tq/worker.h lib/pkgconfig/tq.pc; do
    [[ -e $PREFIX/$f ]] || fail "make install did not install $f"
done
# the worker's unit, its env file example, the Redis configs and the docs
# the unit points at, with the unit's paths made PREFIX's (issue 12)
for f in lib/systemd/system/tq-worker@.service share/tq/tq-worker.env.example \
         share/tq/redis/redis.conf share/tq/redis/redis-replica.conf \
         share/tq/redis/sentinel.conf share/tq/redis/users.acl \
         share/doc/tq/README.md share/doc/tq/scaling.md; do
    [[ -s $PREFIX/$f ]] || fail "make install did not install $f"
done
unit=$(cat "$PREFIX/lib/systemd/system/tq-worker@.service")
assert_contains "$unit" "ExecStart=$PREFIX/bin/tq-worker " "the installed unit runs PREFIX's tq-worker"
assert_contains "$unit" "file://$PREFIX/share/doc/tq/scaling.md" "the installed unit points at PREFIX's docs"
[[ $unit != */usr/local/* ]] || fail "the installed unit still names /usr/local"
assert_eq libtq.so.0.1.0 "$(readlink "$PREFIX/lib/libtq.so.0")" "libtq.so.0 ->"
assert_eq libtq.so.0 "$(readlink "$PREFIX/lib/libtq.so")" "libtq.so ->"
assert_contains "$(readelf -d "$PREFIX/lib/libtq.so.0.1.0")" "Library soname: [libtq.so.0]" "soname"

# Only the public API is exported: every defined dynamic symbol is tq_*, and
# every one of them is declared in an installed header.
syms=$(nm -D --defined-only "$PREFIX/lib/libtq.so.0.1.0" | awk '{print $3}')
others=$(grep -v '^tq_' <<<"$syms" || true)
[[ -z $others ]] || fail "libtq.so exports internal symbols: $(echo $others | head -c 300)"
for s in $syms; do
    grep -qw "$s" "$PREFIX"/include/tq/*.h || fail "libtq.so exports $s, which no header declares"
done
for s in tq_client_new tq_submit tq_result tq_async_new tq_async_submit tq_async_wait \
         tq_async_cancel tq_async_status tq_worker_new tq_worker_register tq_task_succeed; do
    grep -qx "$s" <<<"$syms" || fail "libtq.so does not export $s"
done
log "libtq.so exports $(wc -l <<<"$syms") symbols, all tq_* and declared"

# ---------------------------------------------------------------- pkg-config

export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
pc() { pkg-config "$@" tq; }
pc --exists || fail "pkg-config does not find tq in $PKG_CONFIG_PATH"
assert_eq 0.1.0 "$(pc --modversion)" "pkg-config --modversion tq"
assert_contains "$(pc --cflags)" "-I$PREFIX/include" "pkg-config --cflags tq"
assert_contains "$(pc --libs)" "-L$PREFIX/lib" "pkg-config --libs tq"
assert_contains "$(pc --libs)" "-ltq" "pkg-config --libs tq"
assert_contains "$(pc --libs)" "-levent" "pkg-config --libs tq (libevent for the caller's loop)"
assert_contains "$(pc --static --libs)" "-lhiredis" "pkg-config --static --libs tq"

# ---------------------------------------------------------------- building as a user

log "building examples/ against the installed library"
make -C "$REPO/examples" --no-print-directory OUT="$TMP/ex" CFLAGS="$CFLAGS_T" \
    >"$TMP/examples.log" 2>&1 || { cat "$TMP/examples.log" >&2; fail "make -C examples failed"; }
grep -q -- "-I$REPO" "$TMP/examples.log" && fail "examples were built with flags from the tree"
[[ -x $TMP/ex/http-enqueue && -f $TMP/ex/plugin-sleep.so ]] || fail "examples not built"

# The test program, linked with libtq.so ...
cc $CFLAGS_T $(pc --cflags) -o "$TMP/embed_check" "$REPO/tests/integration/embed_check.c" \
    $(pc --libs) -Wl,-rpath,"$PREFIX/lib" 2>"$TMP/cc.log" ||
    { cat "$TMP/cc.log" >&2; fail "embed_check does not build with pkg-config tq"; }
ldd "$TMP/embed_check" >"$TMP/ldd.out" 2>&1 || true
grep -q "libtq.so.0 => $PREFIX/lib/libtq.so.0" "$TMP/ldd.out" ||
    fail "embed_check does not load the installed libtq.so.0: $(cat "$TMP/ldd.out")"
# ... and all static, with pkg-config --static (libtq.a, hiredis, libevent,
# jansson archives); glibc's static getaddrinfo warning is expected.
static_ok=0
if [[ -z $SAN ]]; then
    if cc $CFLAGS_T -static $(pc --cflags) -o "$TMP/embed_check_static" \
        "$REPO/tests/integration/embed_check.c" $(pc --static --libs) 2>"$TMP/cc-static.log"; then
        static_ok=1
        readelf -d "$TMP/embed_check_static" >"$TMP/readelf.out" 2>&1 || true
        grep -q NEEDED "$TMP/readelf.out" && fail "embed_check_static is not static"
    else
        log "note: no fully static build here ($(grep -m1 -o 'cannot find -l[a-z_]*' "$TMP/cc-static.log" || echo see cc-static.log)); linking libtq.a alone"
        cc $CFLAGS_T $(pc --cflags) -o "$TMP/embed_check_static" "$REPO/tests/integration/embed_check.c" \
            -Wl,-Bstatic -ltq -Wl,-Bdynamic $(pc --static --libs | sed 's/-ltq//') -L"$PREFIX/lib" ||
            fail "embed_check does not link with libtq.a and pkg-config --static"
        static_ok=1
    fi
fi

# docs/api.md's programs, exactly as printed.
for name in api-blocking api-async api-handler; do
    awk -v want="<!-- file: $name.c -->" '
        $0 == want { on = 1; next }
        on == 1 && /^```c$/ { on = 2; next }
        on == 2 && /^```$/ { exit }
        on == 2 { print }' "$REPO/docs/api.md" >"$TMP/$name.c"
    [[ -s $TMP/$name.c ]] || fail "docs/api.md has no program $name.c"
    cc $CFLAGS_T $(pc --cflags) -o "$TMP/$name" "$TMP/$name.c" $(pc --libs) \
        -Wl,-rpath,"$PREFIX/lib" 2>"$TMP/cc-$name.log" ||
        { cat "$TMP/cc-$name.log" >&2; fail "docs/api.md's $name.c does not build"; }
done
log "built: examples, embed_check (shared$([[ $static_ok == 1 ]] && echo ", static")), docs programs"

# From here on, the installed binaries.
TQ_BIN=$PREFIX/bin
aof=(--appendonly yes --appendfsync always) # jobs survive the restart below
start_redis "${aof[@]}"

# ---------------------------------------------------------------- the embedding program

run_check() {
    local bin=$1 vg=()
    if [[ ${2:-} == valgrind ]]; then
        vg=(valgrind -q --error-exitcode=99 --leak-check=full
            --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect)
    fi
    local rc=0
    "${vg[@]}" "$bin" "$TQ_REDIS_URL" "$TQ_NAMESPACE-$(basename "$bin")" \
        >"$TMP/$(basename "$bin").out" 2>&1 || rc=$?
    if [[ $rc != 0 ]]; then
        cat "$TMP/$(basename "$bin").out" >&2
        fail "$(basename "$bin") ${vg:+under valgrind }exited $rc"
    fi
    log "$(basename "$bin") ${vg:+(valgrind) }: $(tail -n 1 "$TMP/$(basename "$bin").out")"
}
if command -v valgrind >/dev/null && [[ -z $SAN ]]; then
    run_check "$TMP/embed_check" valgrind
else
    run_check "$TMP/embed_check"
fi
[[ $static_ok == 1 ]] && run_check "$TMP/embed_check_static"

# ---------------------------------------------------------------- docs programs

# api-handler is a worker (with the built-ins): it serves the other two too.
"$TMP/api-handler" >"$TMP/api-handler.log" 2>&1 &
hpid=$!
track_bg "$hpid"

assert_exit 0 "$TMP/api-blocking"
assert_contains "$OUT" 'succeeded: {"greeting":"hello"}' "api-blocking output"
assert_exit 0 "$TMP/api-async"
assert_contains "$OUT" 'succeeded: {"ms":50}' "api-async output"

out=$(tq submit --wait greet '{"name": "tq"}')
assert_json_eq '{"hello":"tq"}' "$out" "api-handler's greet"
kill -TERM "$hpid"
wait_exit "$hpid" 10 || fail "api-handler did not stop on SIGTERM"
assert_eq 0 "$EXIT_RC" "api-handler exit status after SIGTERM"
assert_contains "$(cat "$TMP/api-handler.log")" "stopped" "api-handler log"

# ---------------------------------------------------------------- plugins

# A missing file, and a library without the entry point: refused clearly.
assert_exit 2 "$TQ_BIN/tq-worker" --redis "$TQ_REDIS_URL" --plugin "$TMP/nope.so"
assert_contains "$ERR" "nope.so" "missing plugin"
assert_contains "$ERR" "No such file" "missing plugin"
echo 'int not_a_plugin(void) { return 0; }' >"$TMP/empty.c"
cc -fPIC -shared -o "$TMP/empty.so" "$TMP/empty.c"
assert_exit 2 "$TQ_BIN/tq-worker" --redis "$TQ_REDIS_URL" --plugin "$TMP/empty.so"
assert_contains "$ERR" "no tq_plugin_init symbol" "plugin without its entry point"
assert_one_line "$ERR"

start_worker --plugin "$TMP/ex/plugin-sleep.so" --concurrency 4 --name embedw
wait_worker_registered embedw

out=$(tq submit --wait example.sleep '{"ms": 200}')
assert_json_eq '{"slept_ms":200}' "$out" "example.sleep result"

# A running nap, cancelled: the handler's cancel callback frees its timer
# (under valgrind, a leak would show) and the job ends cancelled at once.
id=$(tq submit example.sleep 60000)
wait_until 10 state_is "$id" active
t0=$(now)
tq cancel "$id" >/dev/null
assert_exit 4 tq wait "$id" --timeout 10s
assert_le "$(elapsed_since "$t0")" 5 "seconds for the cancel to end the nap"
assert_eq cancelled "$(state_of "$id")" "state of the cancelled nap"
naps=$(tq submit --wait example.naps)
assert_eq 1 "$(jq .cancelled <<<"$naps")" "naps cancelled (the plugin's cancel callback ran): $naps"
assert_eq 1 "$(jq .finished <<<"$naps")" "naps finished: $naps"
assert_exit 1 tq submit --wait --retries 0 example.sleep '"soon"'
assert_contains "$ERR" "example.sleep: args must be" "a bad args error from the plugin"

# ---------------------------------------------------------------- the HTTP service

"$TMP/ex/http-enqueue" --listen 127.0.0.1:0 >"$TMP/http.out" 2>"$TMP/http.err" &
httpd=$!
track_bg "$httpd"
wait_until 10 grep -q '^listening on http://' "$TMP/http.out"
HPORT=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$TMP/http.out")
[[ -n $HPORT ]] || fail "no port in: $(cat "$TMP/http.out")"
log "http-enqueue on port $HPORT"

# http METHOD PATH [BODY]: one request over /dev/tcp (no curl needed); sets
# CODE (the status), BODY (the body) and HEAD (the headers).
http() {
    local method=$1 path=$2 body=${3:-} resp
    exec 3<>"/dev/tcp/127.0.0.1/$HPORT"
    printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s' \
        "$method" "$path" "${#body}" "$body" >&3
    resp=$(cat <&3 | tr -d '\r')
    exec 3<&-
    CODE=$(head -n 1 <<<"$resp" | awk '{print $2}')
    HEAD=$(sed -n '2,/^$/p' <<<"$resp")
    BODY=$(sed '1,/^$/d' <<<"$resp")
}

http POST /jobs/example.sleep '{"ms": 100}'
assert_eq 202 "$CODE" "POST /jobs/example.sleep: $BODY"
hid=$(jq -r .id <<<"$BODY")
assert_match "$hid" '^[A-Za-z0-9_-]{1,40}$' "id in the 202 answer"
assert_contains "$HEAD" "Location: /jobs/$hid" "Location header"

http GET "/jobs/$hid?wait=10000"
assert_eq 200 "$CODE" "GET ?wait: $BODY"
assert_eq succeeded "$(jq -r .state <<<"$BODY")" "state through HTTP"
assert_json_eq '{"slept_ms":100}' "$(jq -c .result <<<"$BODY")" "result through HTTP"
assert_eq succeeded "$(state_of "$hid")" "tq status agrees"
http GET "/jobs/$hid"
assert_eq 200 "$CODE" "GET status"
assert_eq "$hid" "$(jq -r .id <<<"$BODY")" "the record's id"

# The service never blocks: while one request waits on a long job, others
# are answered at once.
http POST /jobs/example.sleep 3000
long=$(jq -r .id <<<"$BODY")
(http GET "/jobs/$long?wait=20000"; echo "$CODE $BODY" >"$TMP/longwait") &
track_bg $!
sleep 0.2
t0=$(now)
http POST /jobs/tq.noop '[1, 2, 3]'
assert_eq 202 "$CODE" "POST while a wait is pending"
quick=$(jq -r .id <<<"$BODY")
http GET "/jobs/$quick?wait=5000"
assert_json_eq '[1,2,3]' "$(jq -c .result <<<"$BODY")" "a quick job's result while another waits"
assert_le "$(elapsed_since "$t0")" 2 "seconds for a request while another one waits"
[[ ! -s $TMP/longwait ]] || fail "the long wait answered too early: $(cat "$TMP/longwait")"

# Cancel through HTTP: the running nap ends at once, the long wait wakes.
http DELETE "/jobs/$long"
assert_eq 202 "$CODE" "DELETE: $BODY"
wait_until 10 test -s "$TMP/longwait"
assert_contains "$(cat "$TMP/longwait")" '"state":"cancelled"' "the long wait sees the cancel"

# Errors come back as HTTP statuses with tq's message.
http POST /jobs/example.sleep '{"ms": '
assert_eq 400 "$CODE" "POST with bad JSON"
assert_contains "$(jq -r .error <<<"$BODY")" "line 1" "bad JSON message"
http POST '/jobs/bad%01task' '1'
assert_eq 400 "$CODE" "POST with a bad task name: $BODY"
http GET /jobs/nosuchjob
assert_eq 404 "$CODE" "GET of a missing job"
http GET '/jobs/has%20space'
assert_eq 400 "$CODE" "GET of an invalid id: $BODY"
http GET "/jobs/$long?wait=0"
assert_eq 200 "$CODE" "wait=0 on a finished job"

# Redis restarts under a pending wait: meanwhile new requests get 503 at
# once; the async client reconnects by itself, the wait resubscribes and
# answers when the job (which ran on through the restart) has finished.
http POST /jobs/example.sleep 2500
rjob=$(jq -r .id <<<"$BODY")
wait_until 10 state_is "$rjob" active
(http GET "/jobs/$rjob?wait=30000"; echo "$CODE $BODY" >"$TMP/rwait") &
track_bg $!
sleep 0.3
port=$REDIS_PORT
kill -TERM "$REDIS_PID"
wait_exit "$REDIS_PID" 10 || fail "redis did not stop"
log "redis stopped"
sleep 0.3
http POST /jobs/tq.noop 1
assert_eq 503 "$CODE" "POST while Redis is down: $BODY"
assert_contains "$(jq -r .error <<<"$BODY")" "Redis" "503 message"
redis-server --port "$port" --bind 127.0.0.1 --save '' "${aof[@]}" --dir "$TMP" \
    --daemonize no >>"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
wait_until 10 rcli ping
log "redis back"
wait_until 20 test -s "$TMP/rwait"
assert_contains "$(cat "$TMP/rwait")" '"state":"succeeded"' "the wait across the restart"
_post_ok() { http POST /jobs/tq.noop 2; [[ $CODE == 202 ]]; }
wait_until 10 _post_ok
log "POST accepted again after the reconnect"

# Scripts flushed under the client (SCRIPT FLUSH): each call that meets
# NOSCRIPT loads them again and is resent.
rcli SCRIPT FLUSH >/dev/null
http POST /jobs/tq.noop '"after flush"'
assert_eq 202 "$CODE" "POST after SCRIPT FLUSH: $BODY"
fid=$(jq -r .id <<<"$BODY")
rcli SCRIPT FLUSH >/dev/null
http GET "/jobs/$fid?wait=10000"
assert_eq 200 "$CODE" "GET ?wait after SCRIPT FLUSH: $BODY"
assert_eq '"after flush"' "$(jq -c .result <<<"$BODY")" "result after SCRIPT FLUSH"
http POST '/jobs/tq.noop?queue=embed-idle' 3
iid=$(jq -r .id <<<"$BODY")
assert_eq pending "$(state_of "$iid")" "a job POSTed to ?queue=embed-idle"
rcli SCRIPT FLUSH >/dev/null
http DELETE "/jobs/$iid"
assert_eq 202 "$CODE" "DELETE after SCRIPT FLUSH: $BODY"
assert_eq cancelled "$(state_of "$iid")" "state after a DELETE"

kill -TERM "$httpd"
wait_exit "$httpd" 10 || fail "http-enqueue did not stop on SIGTERM"
assert_eq 0 "$EXIT_RC" "http-enqueue exit status"

stop_worker "$WORKER_PID"
assert_eq 0 "$WORKER_RC" "worker exit status"
log "ok"
