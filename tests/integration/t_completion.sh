#!/usr/bin/env bash
# t_completion: the bash and zsh completion scripts generated from the help
# tables (build/completion/) load in their shells and complete: commands,
# subcommands, flags per command, a flag's values, and names read from a
# real redis-server (queues from `tq stats --json`, schedules, rate limits,
# semaphores); against a Redis that is not there they complete nothing,
# quickly. bash: a real completion run (COMP_WORDS, COMP_LINE, the complete
# -F function); zsh: `zsh -n`, registration through compinit in a temp
# ZDOTDIR, then the function run with compadd stubbed (no zpty).
source "$(dirname "$0")/lib.sh"
# got_eq GOT WANT [WHAT]: assert_eq with what a command printed first
got_eq() { assert_eq "$2" "$1" "${3:-value}"; }
BASH_TQ=$TQ_BIN/completion/bash/tq
ZSH_DIR=$TQ_BIN/completion/zsh
for f in "$BASH_TQ" "$TQ_BIN/completion/bash/tq-worker" "$ZSH_DIR/_tq" "$ZSH_DIR/_tq-worker"; do
    [[ -s $f ]] || fail "$f was not generated"
done
command -v zsh >/dev/null || fail "zsh is not installed (.ci/deps installs it)"

start_redis
tq submit x --queue images >/dev/null
tq submit x --queue mail >/dev/null
tq schedule add nightly '0 3 * * *' backup >/dev/null
tq ratelimit set api 20/s >/dev/null
tq semaphore set gpu 2 >/dev/null
conn="--redis $TQ_REDIS_URL --namespace $TQ_NAMESPACE"

# bash: completes LINE (the cursor at its end) as bash would, prints COMPREPLY
bcomp() {
    bash --norc --noprofile -c '
        source "$1"
        line=$2
        COMP_LINE=$line; COMP_POINT=${#line}
        read -r -a COMP_WORDS <<< "$line"
        [[ $line == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        complete -p "$3" >/dev/null || exit 9
        fn=$(complete -p "$3" | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
        "$fn" "$3" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        echo "${COMPREPLY[*]}"' _ "$1" "$2" "${3:-tq}"
}
PATH=$TQ_BIN:$PATH

assert_exit 0 bash -n "$BASH_TQ"
assert_exit 0 bash -n "$TQ_BIN/completion/bash/tq-worker"
got_eq "$(bcomp "$BASH_TQ" "tq su")" "submit submit-many" "bash: commands"
got_eq "$(bcomp "$BASH_TQ" "tq group ")" "submit wait status cancel" "bash: subcommands"
got_eq "$(bcomp "$BASH_TQ" "tq dlq retry --a")" "--all" "bash: a subcommand's flag"
got_eq "$(bcomp "$BASH_TQ" "tq logs -")" \
    "-f --follow --redis --namespace --redis-password-file --connect-timeout --json -h --help --version" \
    "bash: flags of logs"
got_eq "$(bcomp "$BASH_TQ" "tq jobs --state f")" "failed" "bash: a flag's values"
got_eq "$(bcomp "$BASH_TQ" "tq help sch")" "schedule" "bash: tq help CMD"
# names from Redis: the connection flags on the line are used
got_eq "$(bcomp "$BASH_TQ" "tq $conn queue pause ")" "default images mail" "bash: queues"
got_eq "$(bcomp "$BASH_TQ" "tq $conn submit x --queue i")" "images" "bash: --queue value"
got_eq "$(bcomp "$BASH_TQ" "tq $conn schedule rm ")" "nightly" "bash: schedules"
got_eq "$(bcomp "$BASH_TQ" "tq $conn ratelimit show ")" "api" "bash: rate limits"
got_eq "$(bcomp "$BASH_TQ" "tq $conn semaphore set ")" "gpu" "bash: semaphores"
# the environment works as well as flags do
got_eq "$(TQ_REDIS_URL=$TQ_REDIS_URL TQ_NAMESPACE=$TQ_NAMESPACE bcomp "$BASH_TQ" "tq queue rm im")" \
    "images" "bash: queues through TQ_REDIS_URL"
# no Redis there: nothing, at once, and silently
t0=$(now)
got_eq "$(bcomp "$BASH_TQ" "tq --redis redis://127.0.0.1:$(free_port) queue pause " 2>&1)" "" \
    "bash: no Redis"
assert_le "$(elapsed_since "$t0")" 3 "bash: no Redis, quickly"
# tq-worker
wc=$TQ_BIN/completion/bash/tq-worker
got_eq "$(bcomp "$wc" "tq-worker --conc" tq-worker)" "--concurrency" "bash: tq-worker flags"
got_eq "$(bcomp "$wc" "tq-worker --log-format " tq-worker)" "text json" "bash: tq-worker values"
got_eq "$(bcomp "$wc" "tq-worker $conn --queue " tq-worker)" "default images mail" \
    "bash: tq-worker --queue from Redis"

# zsh: syntax, then compinit registers both from a temp ZDOTDIR
assert_exit 0 zsh -n "$ZSH_DIR/_tq"
assert_exit 0 zsh -n "$ZSH_DIR/_tq-worker"
mkdir -p "$TMP/zdot"
assert_exit 0 env ZDOTDIR="$TMP/zdot" zsh -f -c "
    fpath=($ZSH_DIR \$fpath)
    autoload -Uz compinit && compinit -u -d $TMP/zdot/.zcompdump
    print -r -- \"\$_comps[tq] \$_comps[tq-worker]\""
got_eq "$OUT" "_tq _tq-worker" "zsh: compinit registers both"
# zcomp LINE: runs the autoloaded _tq as completion would, compadd stubbed
zcomp() {
    ZDOTDIR="$TMP/zdot" zsh -f -c '
        fpath=("$1" $fpath)
        autoload -Uz compinit && compinit -u -d "$2/.zcompdump"
        compadd() { [[ $1 == -a ]] && print -r -- ${(P)2}; }
        _files() { print -r -- "(files)"; }
        words=(${(z)3})
        [[ $3 == *" " ]] && words+=("")
        CURRENT=${#words}
        $_comps[${words[1]}]' _ "$ZSH_DIR" "$TMP/zdot" "$1"
}
got_eq "$(zcomp "tq su")" "submit submit-many" "zsh: commands"
got_eq "$(zcomp "tq schedule ")" "add list rm pause resume run" "zsh: subcommands"
got_eq "$(zcomp "tq wait --p")" "--progress" "zsh: flags"
got_eq "$(zcomp "tq $conn queue resume ")" "default images mail" "zsh: queues from Redis"
got_eq "$(zcomp "tq $conn schedule run n")" "nightly" "zsh: schedules from Redis"
got_eq "$(zcomp "tq --redis-password-file ")" "(files)" "zsh: a file"
got_eq "$(zcomp "tq-worker --log-level w")" "warn" "zsh: tq-worker values"
log "ok"
