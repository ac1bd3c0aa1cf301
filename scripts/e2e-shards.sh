#!/usr/bin/env bash
# e2e-shards.sh — the e2e suite as E2E_SHARDS (default 2) go test processes side by side, the
# tests dealt out by name in turn; each shard's output is printed whole when all have ended.
# The tests spend most of their time waiting on timeouts (ttl, loop_wait), so two shards on
# two cores take little more than half the time of one. Extra arguments go to every go test.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
shards=${E2E_SHARDS:-2}
mapfile -t tests < <($GO test -tags e2e -list '.*' ./test/e2e/ | grep -E '^Test')
((${#tests[@]})) || { echo "e2e-shards: no tests listed" >&2; exit 1; }

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
began=$(date +%s)
pids=()
for ((s = 0; s < shards; s++)); do
	names=()
	for ((i = s; i < ${#tests[@]}; i += shards)); do names+=("${tests[i]}"); done
	((${#names[@]})) || continue
	pattern="^($(IFS='|'; echo "${names[*]}"))\$"
	(
		start=$(date +%s) rc=0
		$GO test -count=1 -v -tags e2e -run "$pattern" "$@" ./test/e2e/ >"$logs/$s.log" 2>&1 || rc=$?
		echo "measured: e2e shard $((s + 1))/$shards (${#names[@]} tests) in $(($(date +%s) - start))s" >>"$logs/$s.log"
		echo "$rc" >"$logs/$s.rc"
	) &
	pids+=($!)
done
wait "${pids[@]}" || true
failed=0
for ((s = 0; s < shards; s++)); do
	[[ -f $logs/$s.log ]] || continue
	echo "=== e2e shard $((s + 1))/$shards"
	cat "$logs/$s.log"
	[[ $(cat "$logs/$s.rc" 2>/dev/null) == 0 ]] || failed=1
done
echo "measured: e2e suite in $(($(date +%s) - began))s ($shards shards side by side)"
exit $failed
