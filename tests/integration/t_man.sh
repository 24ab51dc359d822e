#!/usr/bin/env bash
# t_man: the man pages made at build time -- tq(1) and tq-worker(8) from the
# help tables, libtq(3) from docs/api.md -- render with man -l (man-db) and
# groff -ww without a warning (and mandoc -T lint clean, where mandoc is),
# say what they must, and `make install DESTDIR=...` puts them, and the
# completion scripts, where man and the shells look.
source "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
command -v man >/dev/null || fail "man is not installed (.ci/deps installs man-db)"

for page in tq.1 tq-worker.8 libtq.3; do
    f=$TQ_BIN/man/$page
    [[ -s $f ]] || fail "$f was not generated"
    # shellcheck disable=SC2034
    text=$(MANWIDTH=80 man -l "$f" 2>"$TMP/man.err")
    [[ ! -s $TMP/man.err ]] || fail "man -l $page: $(cat "$TMP/man.err")"
    warn=$(groff -ww -z -man "$f" 2>&1)
    [[ -z $warn ]] || fail "groff -ww $page: $warn"
    if command -v mandoc >/dev/null; then
        lint=$(mandoc -T lint "$f" 2>&1) || true
        [[ -z $lint ]] || fail "mandoc -T lint $page: $lint"
    fi
    # no line wider than MANWIDTH (libtq(3)'s code blocks are docs/api.md's)
    [[ $page == libtq.3 ]] || long=$(printf '%s\n' "$text" | awk 'length > 80' | head -3)
    [[ -z ${long-} ]] || fail "$page renders lines wider than 80: $long"
    log "$page: $(printf '%s\n' "$text" | wc -l) lines, no warnings"
done

tq1=$(MANWIDTH=80 man -l "$TQ_BIN/man/tq.1")
assert_contains "$tq1" "tq - submit, watch and manage" "tq(1) NAME"
for s in SYNOPSIS DESCRIPTION COMMANDS OPTIONS "EXIT STATUS" ENVIRONMENT EXAMPLES "SEE ALSO"; do
    assert_contains "$tq1" "$s" "tq(1) sections"
done
# every command of tq --help has its entry, with the flags of its --help
while read -r cmd sub; do
    [[ -n $cmd ]] || continue
    assert_contains "$tq1" "tq $cmd${sub:+ $sub}" "tq(1)"
done < <(tq --help | awk '/^[a-z ]+:$/ { g = 1; next } /^$/ { g = 0 }
    g && /^  [a-z]/ { sub(/   +.*/, ""); print $1 ($2 ~ /^[a-z]+$/ ? " " $2 : "") }')
assert_contains "$tq1" "--durable-timeout DUR" "tq(1) flags"
assert_contains "$tq1" "--overlap skip|allow" "tq(1) flags"
w8=$(MANWIDTH=80 man -l "$TQ_BIN/man/tq-worker.8")
for f in $("$TQ_BIN/tq-worker" --help-flags | tr -d ','); do
    assert_contains "$w8" "$f" "tq-worker(8) names each flag"
done
assert_contains "$w8" "TQ-WORKER(8)" "tq-worker(8) header"
l3=$(MANWIDTH=80 man -l "$TQ_BIN/man/libtq.3")
assert_contains "$l3" "THE BLOCKING CLIENT" "libtq(3) sections"
assert_contains "$l3" "tq_client_new" "libtq(3) text"
assert_contains "$l3" "#include <tq/tq.h>" "libtq(3) code"

# make install: the pages and the completion where they are looked for
dest=$TMP/dest
make -s -C "$SRC" BUILD="$TQ_BIN" install DESTDIR="$dest" PREFIX=/usr >"$TMP/install.log" 2>&1 ||
    fail "make install: $(tail -5 "$TMP/install.log")"
for f in share/man/man1/tq.1 share/man/man8/tq-worker.8 share/man/man3/libtq.3 \
    share/bash-completion/completions/tq share/bash-completion/completions/tq-worker \
    share/zsh/vendor-completions/_tq share/zsh/vendor-completions/_tq-worker; do
    [[ -s $dest/usr/$f ]] || fail "make install did not install /usr/$f"
done
assert_exit 0 env MANPATH="$dest/usr/share/man" MANWIDTH=80 man tq-worker
assert_contains "$OUT" "tq-worker - run the jobs" "man tq-worker from the installed tree"
log "ok"
