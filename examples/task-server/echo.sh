#!/bin/sh
# A task server in shell: one job at a time (--server-inflight 1); jq
# answers each job line: result = args.
read -r hello && echo '{"hello":1}'
while read -r line; do
    case $line in '{"cancel"'*) continue ;; esac
    printf '%s\n' "$line" | jq -c '{id: .id, result: .args}'
done
