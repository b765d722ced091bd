#!/usr/bin/env bash
# Whole-program figures for `tgvault run`: N accounts seeded on a dev
# server (random keys written straight into its state: no key exchange),
# imported into a fresh vault, then one `tgvault run` connects them all.
# For each N, for the first run after the import and for a restart: import
# time, time from the start of run until every account is ready (polled through the local API's /metrics), run's RSS per
# account once all are online and after an idle minute, its idle CPU, and
# the key exchanges the dev server saw (must be 0). Prints the machine and
# all outputs, and keeps a copy in bench/results/pool-<UTC date-time>.txt.
#
#   bench/pool.sh                       # N = 100 1000 10000
#   COUNTS="1000" IDLE=60 bench/pool.sh
#
# Needs go, curl and jq. Everything lives in a temporary directory that is
# removed at the end (the vault uses a passphrase file and --no-keyring).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

COUNTS=${COUNTS:-100 1000 10000}
IDLE=${IDLE:-60}

mkdir -p bench/results
out="bench/results/pool-$(date -u +%Y-%m-%dT%H%M%SZ).txt"
: >"$out"
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" | tee -a "$out"; }

say "# tgvault run, whole program ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
say "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
say "go: $(go version)"
say "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"

go build -o "$tmp/tgvault" ./cmd/tgvault
tg="$tmp/tgvault"
ulimit -n "$(ulimit -Hn)"

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { # metric SOCKET NAME: the sum of a metric's samples
	curl -s --unix-socket "$1" http://tgvault/metrics | awk -v m="$2" '$1 ~ "^"m"({|$)" {s += $2} END {print s + 0}'
}

# measure LABEL: one `tgvault run` of the vault in $d until every account
# is ready, its figures, then SIGTERM.
measure() {
	local label=$1
	ex0=$(jq .key_exchanges "$d/stats.json")
	t0=$(date +%s.%N)
	"$tg" run --server "$addr" --server-key "$d/dev/server.pub" >"$d/run.out" 2>"$d/run.err" &
	run=$!
	pids+=($run)
	ready=0
	for _ in $(seq 6000); do
		if [[ -S "$d/run.sock" ]]; then
			ready=$(metric "$d/run.sock" 'tgvault_accounts{state="ready"}' 2>/dev/null || echo 0)
			ready=${ready:-0}
			((ready >= n)) && break
		fi
		sleep 0.05
	done
	t1=$(date +%s.%N)
	online=$(echo "$t1 - $t0" | bc -l)
	say "$label: run: $ready of $n ready after $(printf '%.2f' "$online") s ($(echo "$n / $online" | bc -l | xargs printf '%.0f') accounts/s, vault open and unlock included)"
	rss=$(rss_kib "$run")
	say "$label: run RSS when all are online: $((rss / 1024)) MiB, $(echo "$rss / $n" | bc -l | xargs printf '%.1f') KiB per account"
	c0=$(cpu_ticks "$run")
	sleep "$IDLE"
	c1=$(cpu_ticks "$run")
	hz=$(getconf CLK_TCK)
	rss=$(rss_kib "$run")
	say "$label: run RSS after ${IDLE} s idle: $((rss / 1024)) MiB, $(echo "$rss / $n" | bc -l | xargs printf '%.1f') KiB per account"
	say "$label: idle CPU over ${IDLE} s: $(echo "($c1 - $c0) / $hz / $IDLE * 100" | bc -l | xargs printf '%.2f') % of a core"
	say "$label: goroutines: $(metric "$d/run.sock" go_goroutines)"
	say "$label: key exchanges during run: $(($(jq .key_exchanges "$d/stats.json") - ex0))"
	t0=$(date +%s.%N)
	kill -TERM "$run"
	wait "$run" || true
	t1=$(date +%s.%N)
	say "$label: SIGTERM to exit (every account saved): $(echo "$t1 - $t0" | bc -l | xargs printf '%.2f') s; $(tail -1 "$d/run.err")"
}

for n in $COUNTS; do
	say ""
	say "## N = $n (load $(cut -d' ' -f1-3 /proc/loadavg))"
	d="$tmp/n$n"
	mkdir -p "$d"
	printf 'bench passphrase\n' >"$d/pass"
	export TGVAULT_DIR="$d/vault" TGVAULT_PASSPHRASE_FILE="$d/pass" TGVAULT_SOCKET="$d/run.sock"
	"$tg" init --no-keyring >/dev/null
	"$tg" dev-server --json --state "$d/dev" --seed-accounts "$n" --info-file "$d/info.json" --stats-file "$d/stats.json" >/dev/null &
	pids+=($!)
	for _ in $(seq 600); do [[ -s "$d/info.json" ]] && break; sleep 0.1; done
	addr=$(jq -r .addr "$d/info.json")
	seeds=$(jq -r .seeds "$d/info.json")
	t0=$(date +%s.%N)
	"$tg" import "$seeds" >/dev/null
	t1=$(date +%s.%N)
	say "import of $n .session files: $(echo "$t1 - $t0" | bc -l | xargs printf '%.2f') s"

	measure "first run after the import (each account learns its server address and config; saved by the next flush)"
	measure "restart (what every later start does)"
	kill -INT "${pids[0]}" 2>/dev/null || true
	wait "${pids[0]}" 2>/dev/null || true
	pids=()
done
say ""
say "recorded in $out"
