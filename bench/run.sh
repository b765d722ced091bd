#!/usr/bin/env bash
# Runs the storage benchmarks (package storage) beside Telethon's own
# SQLiteSession under the same workload (bench/telethon_storage.py), and
# the bulk import beside its write-only limit (package vault), interleaved
# round by round, then the sessionstring benchmarks, and
# prints the machine, every output, and the figures the targets are stated
# in, with their ratios (bench/ratios): medians over the rounds. A copy goes
# to bench/results/<UTC date-time>.txt, with the load average at the start
# and end of each round.
#
#   bench/run.sh                    # COUNT=3 rounds, BENCHTIME=2s
#   BENCHTIME=5s COUNT=6 bench/run.sh
#   PYTHON=/usr/bin/python3 bench/run.sh
#   TELETHON=0 bench/run.sh         # without Telethon
#
# Every section runs even if an earlier one fails; the script exits non-zero
# if any did.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BENCHTIME_STORAGE=${BENCHTIME:-2s}
BENCHTIME_SESSIONSTRING=${BENCHTIME:-1s}
COUNT=${COUNT:-3}
TELETHON=${TELETHON:-1}

# The Telethon used is the Debian package (python3-telethon), which lives in
# the system interpreter; a python3 earlier on PATH (pyenv, venv) may not
# see it.
if [[ -z "${PYTHON:-}" ]]; then
	PYTHON=python3
	if ! python3 -c 'import telethon' >/dev/null 2>&1 && [[ -x /usr/bin/python3 ]]; then
		PYTHON=/usr/bin/python3
	fi
fi

mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%dT%H%M%SZ).txt"
: >"$out"

failed=()

section() {
	printf '\n=== %s\n' "$*" | tee -a "$out"
}

# run CMD...: prints and records the command and its output, and notes a
# failure without stopping.
run() {
	printf '$ %s\n' "$*" | tee -a "$out"
	local rc=0
	"$@" 2>&1 | tee -a "$out" || rc=$?
	if ((rc != 0)); then
		printf '(exit status %d)\n' "$rc" | tee -a "$out"
		failed+=("$*")
	fi
}

section machine
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(uname -srm)"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//')"
	echo "memory: $(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "go: $(go version)"
	echo "python: $("$PYTHON" --version 2>&1) ($PYTHON)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git status --porcelain 2>/dev/null | grep -q . && echo ' (dirty)' || true)"
} | tee -a "$out"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The storage benchmarks, and Telethon's storage under the same workload,
# round by round: a change of load on the machine hits both.
benches='^Benchmark(PeerByID|PeerByUsername|PeerByPhone|UpdatePeersInMemory|UpdatePeersDurable|SaveSealed|UpdateAndSaveSealed|PhysicalLimit|OpenSealed|RawChaCha20Poly1305|EncodeImage)$'
run go test -c -o "$tmp/storage.test" ./storage/
run go test -c -o "$tmp/vault.test" ./vault/
for round in $(seq "$COUNT"); do
	section "round $round of $COUNT: storage benchmarks (load $(cut -d' ' -f1-3 /proc/loadavg))"
	printf '$ storage.test -test.run ^$ -test.bench %s -test.benchtime %s\n' "$benches" "$BENCHTIME_STORAGE" | tee -a "$out"
	rc=0
	(cd storage && "$tmp/storage.test" -test.run '^$' -test.bench "$benches" -test.benchtime "$BENCHTIME_STORAGE") 2>&1 | tee -a "$out" "$tmp/storage.txt" || rc=$?
	((rc == 0)) || { printf '(exit status %d)\n' "$rc" | tee -a "$out"; failed+=("storage benchmarks, round $round"); }
	# The bulk import beside its write-only limit, in the same iteration
	# (BenchmarkImportVsLimit: 2,000 .session files; x-limit is the ratio).
	section "round $round of $COUNT: import beside its limit (load $(cut -d' ' -f1-3 /proc/loadavg))"
	printf '$ vault.test -test.run ^$ -test.bench ^BenchmarkImportVsLimit$ -test.benchtime 1x\n' | tee -a "$out"
	rc=0
	(cd vault && "$tmp/vault.test" -test.run '^$' -test.bench '^BenchmarkImportVsLimit$' -test.benchtime 1x) 2>&1 | tee -a "$out" || rc=$?
	((rc == 0)) || { printf '(exit status %d)\n' "$rc" | tee -a "$out"; failed+=("import, round $round"); }
	if ((TELETHON)); then
		section "round $round of $COUNT: telethon SQLiteSession (load $(cut -d' ' -f1-3 /proc/loadavg))"
		printf '$ %s bench/telethon_storage.py\n' "$PYTHON" | tee -a "$out"
		rc=0
		"$PYTHON" bench/telethon_storage.py 2>>"$out" | tee -a "$out" "$tmp/telethon.jsonl" || rc=$?
		((rc == 0)) || { printf '(exit status %d)\n' "$rc" | tee -a "$out"; failed+=("telethon, round $round"); }
	fi
done

section "sessionstring benchmarks"
run go test -run '^$' -bench . -benchtime "$BENCHTIME_SESSIONSTRING" ./sessionstring/

section "ratios"
tele=()
[[ -s "$tmp/telethon.jsonl" ]] && tele=(-telethon "$tmp/telethon.jsonl")
run go run ./bench/ratios -go "$tmp/storage.txt" "${tele[@]}"

section "end load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "saved to $out"
if ((${#failed[@]})); then
	printf 'FAILED: %s\n' "${failed[@]}" | tee -a "$out" >&2
	exit 1
fi
