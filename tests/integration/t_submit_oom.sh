#!/usr/bin/env bash
# t_submit_oom: `tq submit-many` that fails partway (Redis out of memory
# after some thousands of jobs) prints the ids of the jobs it did submit, in
# order, then one error line, and exits 6: the printed ids are exactly the
# jobs that exist, so a retry can leave them out. `tq group submit` cut short
# prints the group id when the group was created. Holds whether a submit
# script refused under OOM writes nothing up front or stops at its first
# write: either way a call is all or nothing.
source "$(dirname "$0")/lib.sh"

start_redis --maxmemory-policy noeviction
P=$TQ_NAMESPACE
N=20000

# 20,000 jobs of ~300-byte args; memory for about a quarter of them.
pad=$(head -c 300 /dev/zero | tr '\0' x)
for ((i = 0; i < N; i++)); do printf '{"i":%d,"p":"%s"}\n' "$i" "$pad"; done >"$TMP/args"
used=$(rcli info memory | awk -F: '/^used_memory:/{print $2+0}')
rcli config set maxmemory $((used + 3 * 1024 * 1024)) >/dev/null

assert_exit 6 tq submit-many tq.noop <"$TMP/args"
assert_one_line "$ERR" "stderr of a submit-many cut short"
assert_contains "$ERR" "jobs submitted: their ids are printed; the rest were not"
log "stderr: $ERR"
printed=$(grep -c . <<<"$OUT" || true)
log "printed $printed ids of $N"
[[ $printed -gt 0 && $printed -lt $N ]] || fail "expected a partial submit, got $printed of $N"

rcli config set maxmemory 0 >/dev/null
records=$(rcli --scan --pattern "$P:{default}:j:*" | sort)
assert_eq "$printed" "$(grep -c . <<<"$records")" "records in Redis == ids printed"
[[ "$(sort <<<"$OUT" | sed "s/^/$P:{default}:j:/")" == "$records" ]] ||
    fail "the printed ids are not the jobs that exist"
assert_eq "$printed" "$(rcli llen "$P:{default}:p0")" "pending == printed"
# The ids are in submission order: the args of line k went to the k-th id.
first=$(head -1 <<<"$OUT")
last=$(tail -1 <<<"$OUT")
assert_eq 0 "$(rcli hget "$P:{default}:j:$first" args | jq .i)" "first printed id is line 1"
assert_eq $((printed - 1)) "$(rcli hget "$P:{default}:j:$last" args | jq .i)" \
    "the last printed id is line $printed"

# A group cut short: the group id is printed when the group exists.
rcli flushall >/dev/null
used=$(rcli info memory | awk -F: '/^used_memory:/{print $2+0}')
rcli config set maxmemory $((used + 3 * 1024 * 1024)) >/dev/null
assert_exit 6 tq group submit tq.noop <"$TMP/args"
assert_one_line "$ERR" "stderr of a group submit cut short"
log "group stderr: $ERR"
rcli config set maxmemory 0 >/dev/null
gid=$OUT
assert_match "$gid" '^[0-9a-z]{34}$' "the group id is printed"
assert_contains "$ERR" "group $gid was created with"
made=$(sed -E 's/.*created with ([0-9]+) of.*/\1/' <<<"$ERR")
assert_eq "$made" "$(rcli llen "$P:{default}:gm:$gid")" "members said == members made"
assert_exit 0 tq group cancel "$gid"
log "done"
