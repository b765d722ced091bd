#!/usr/bin/env bash
# Runs the storage and sessionstring Go benchmarks and the Telethon
# comparison (bench/telethon_storage.py), prints the machine and all
# outputs, and keeps a copy in bench/results/<UTC date-time>.txt.
#
#   bench/run.sh                    # defaults
#   BENCHTIME=5s COUNT=6 bench/run.sh
#   PYTHON=/usr/bin/python3 bench/run.sh
#
# Every section runs even if an earlier one fails; the script exits non-zero
# if any did.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BENCHTIME_STORAGE=${BENCHTIME:-2s}
BENCHTIME_SESSIONSTRING=${BENCHTIME:-1s}
COUNT=${COUNT:-1}

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

section "storage benchmarks"
run go test -run '^$' \
	-bench 'BenchmarkUpdatePeers|BenchmarkPeerByID|BenchmarkPeerByUsername|BenchmarkPeerByPhone|BenchmarkSaveSealed|BenchmarkOpenSealed|BenchmarkUpdateAndSaveSealed|BenchmarkRawChaCha20Poly1305|BenchmarkEncodeImage' \
	-benchtime "$BENCHTIME_STORAGE" -count "$COUNT" ./storage/

section "sessionstring benchmarks"
run go test -run '^$' -bench . -benchtime "$BENCHTIME_SESSIONSTRING" ./sessionstring/

section "telethon SQLiteSession"
run "$PYTHON" bench/telethon_storage.py

section "end load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "saved to $out"
if ((${#failed[@]})); then
	printf 'FAILED: %s\n' "${failed[@]}" | tee -a "$out" >&2
	exit 1
fi
