#!/usr/bin/env bash
# Time until ready of two `tgvault run` binaries and of plain gotd, as
# interleaved rounds in one run: the before/after comparison of a change to
# run's start on a shared machine, where figures taken minutes apart are
# not comparable. Same setup as bench/pool.sh (N accounts seeded on a dev
# server, imported into a fresh vault unlocked by an identity file, no
# scrypt; the gotd clients on the same keys), then
#
#   - one run of the first binary, not counted: the first run after the
#     import, which writes what the first connect teaches (bench/pool.sh
#     measures it);
#   - ROUNDS rounds of: binary A, binary B, plain gotd (bench/gotdclients),
#     each until every account is ready, then SIGTERM.
#
# Each line: time until ready (polled through the local API's /metrics,
# process start and vault unlock included), time until the API socket
# appears, the process's CPU time (user + system) until ready, and the dev
# server's CPU meanwhile. At the end: the medians and the ratios to plain
# gotd's medians. The dev server's key exchanges must stay 0.
#
#   bench/readypairs.sh OLD_TGVAULT NEW_TGVAULT      # N=3000, ROUNDS=5
#   N=10000 ROUNDS=3 bench/readypairs.sh old new
#
# Build the binaries with `go build -tags tgvault_testhooks -o X
# ./cmd/tgvault` at the two commits. Needs go, curl, jq, bc; root widens the
# ephemeral port range for the script's duration, as bench/pool.sh does.
set -euo pipefail

if (($# != 2)); then
	echo "usage: $0 TGVAULT_A TGVAULT_B" >&2
	exit 2
fi
bins=("$(realpath "$1")" "$(realpath "$2")")
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${N:-3000}
ROUNDS=${ROUNDS:-5}
. bench/lib.sh
bench_start readypairs
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

say "# time until ready: two tgvault binaries and plain gotd, interleaved ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
say "machine: $(nproc) cores, $(uname -sr); N=$N, ROUNDS=$ROUNDS; load at start: $(load)"
say "A: ${bins[0]}"
say "B: ${bins[1]}"
go build -o "$tmp/gotdclients" ./bench/gotdclients
tg=${bins[1]}

ulimit -n "$(ulimit -Hn)"
if ((N + 1200 > $(ulimit -n))); then
	say "N=$N needs $((N + 1200)) open files; this host allows $(ulimit -n)"
	exit 1
fi
widen_ports $((3 * N + 2000))

d="$tmp/n$N"
seed_vault "$d" "$N" "$tg"
"$tg" import "$seeds" >/dev/null 2>&1
"$tmp/gotdclients" -prepare "$d/gotd" -seeds "$seeds" -server "$addr"

# line LABEL READY SOCKET CPU DEVCPU
line() { say "$(printf '%-6s ready %7.2f s   socket %6s   CPU until ready %6.2f s   dev server CPU %5.2f s   load %s' "$1" "$2" "$3" "$4" "$5" "$(load)")"; }

# run_tgvault LABEL BIN: one run until every account is ready, then SIGTERM.
run_tgvault() {
	local label=$1 bin=$2 t0 t1 tsock="" ready=0 run dev0 cpu
	dev0=$(cpu_s "$dev")
	rm -f "$d/run.sock"
	t0=$(now)
	"$bin" run --server "$addr" --server-key "$d/dev/server.pub" >"$d/run.out" 2>"$d/run.err" &
	run=$!
	for _ in $(seq 12000); do
		if [[ -S "$d/run.sock" ]]; then
			[[ -n "$tsock" ]] || tsock=$(now)
			ready=$(metric "$d/run.sock" 'tgvault_accounts{state="ready"}' 2>/dev/null || echo 0)
			((${ready:-0} >= N)) && break
		fi
		kill -0 "$run" 2>/dev/null || break
		sleep 0.05
	done
	t1=$(now)
	cpu=$(cpu_s "$run")
	kill -TERM "$run"
	wait "$run" || true
	if ((${ready:-0} < N)); then
		say "$label: only ${ready:-0} of $N ready: $(tail -2 "$d/run.err")"
		exit 1
	fi
	line "$label" "$(echo "$t1 - $t0" | bc -l)" "$(printf '%.2f s' "$(echo "${tsock:-$t1} - $t0" | bc -l)")" "$cpu" "$(echo "$(cpu_s "$dev") - $dev0" | bc -l)"
	echo "$label $(echo "$t1 - $t0" | bc -l) $cpu" >>"$d/figures"
}

run_gotd() {
	local t0 t1 g got="" dev0 cpu
	dev0=$(cpu_s "$dev")
	t0=$(now)
	"$tmp/gotdclients" -sessions "$d/gotd" -server "$addr" -server-key "$d/dev/server.pub" >"$d/gotd.out" 2>"$d/gotd.err" &
	g=$!
	for _ in $(seq 12000); do
		got=$(grep -m1 '^ready' "$d/gotd.out" 2>/dev/null || true)
		[[ -n "$got" ]] && break
		kill -0 "$g" 2>/dev/null || break
		sleep 0.05
	done
	t1=$(now)
	cpu=$(cpu_s "$g")
	kill -TERM "$g"
	wait "$g" || true
	if [[ -z "$got" ]]; then
		say "gotd: FAILED: $(tail -2 "$d/gotd.err")"
		exit 1
	fi
	line gotd "$(echo "$t1 - $t0" | bc -l)" "–" "$cpu" "$(echo "$(cpu_s "$dev") - $dev0" | bc -l)"
	echo "gotd $(echo "$t1 - $t0" | bc -l) $cpu" >>"$d/figures"
}

run_tgvault first "${bins[0]}" >/dev/null # its line is kept in the file
: >"$d/figures"
say "(\"first\": the first run after the import, not counted)"
for r in $(seq "$ROUNDS"); do
	say "round $r:"
	run_tgvault A "${bins[0]}"
	run_tgvault B "${bins[1]}"
	run_gotd
done
say "key exchanges: $(jq .key_exchanges "$d/stats.json") (must be 0)"
say ""
say "medians of $ROUNDS rounds (ready s, CPU s) and ratios to plain gotd's:"
gr=$(awk '$1 == "gotd" {print $2}' "$d/figures" | median)
gc=$(awk '$1 == "gotd" {print $3}' "$d/figures" | median)
for l in A B gotd; do
	r=$(awk -v l="$l" '$1 == l {print $2}' "$d/figures" | median)
	c=$(awk -v l="$l" '$1 == l {print $3}' "$d/figures" | median)
	say "$(printf '  %-5s ready %6.2f s (%.2fx gotd)   CPU %6.2f s (%.2fx gotd)' "$l" "$r" "$(echo "$r / $gr" | bc -l)" "$c" "$(echo "$c / $gc" | bc -l)")"
done
say "per round, B / A ready: $(paste -d' ' <(awk '$1 == "A" {print $2}' "$d/figures") <(awk '$1 == "B" {print $2}' "$d/figures") | awk '{printf "%.2f ", $2 / $1}')"
say "recorded in $out"
