#!/usr/bin/env bash
# Whole-program figures for `tgvault run`, beside its yardstick in the same
# run: N accounts seeded on a dev server (random keys written straight into
# its state: no key exchange), imported into a fresh vault, then
#
#   1. the first `tgvault run` after the import: time until every account
#      is ready (polled through the local API's /metrics), then SIGTERM at
#      once: the save of what the first connect taught each account (run
#      prints how many accounts it saved);
#   2. a restart (what every later start does): time until ready, RSS when
#      all are online and after IDLE seconds idle, idle CPU, goroutines,
#      then the SIGTERM save;
#   3. one process of N plain gotd clients on the same stored keys
#      (bench/gotdclients: no vault, no pool, no peer cache): time until
#      ready, RSS when all are online and after IDLE seconds idle.
#
# RSS is VmRSS from /proc/PID/status (what top shows), of the whole process.
# The dev server's key exchanges must stay 0. It prints every figure and
# the ratios the targets are stated in (docs/benchmarks.md), with the load
# average at each step, and keeps a copy in bench/results/pool-<UTC>.txt.
#
#   bench/pool.sh                       # N = 1000 10000, IDLE=60
#   COUNTS="50000" IDLE=60 bench/pool.sh
#   GOTD=0 bench/pool.sh                # without the gotd yardstick
#
# Needs go, curl, jq and bc. Everything lives in a temporary directory that
# is removed at the end. The vault is unlocked as with the OS keyring (the
# identity in a file, TGVAULT_IDENTITY): no scrypt in any measured process.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

COUNTS=${COUNTS:-1000 10000}
IDLE=${IDLE:-60}
GOTD=${GOTD:-1}

. bench/lib.sh
bench_start pool

say "# tgvault run, whole program, beside plain gotd ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
say "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
say "go: $(go version)"
say "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
say "load at start: $(load); IDLE=${IDLE}s"

go build -tags tgvault_testhooks -o "$tmp/tgvault" ./cmd/tgvault
go build -o "$tmp/gotdclients" ./bench/gotdclients
tg="$tmp/tgvault"

# Limits of this host that a large N runs into. Each of the three processes
# (dev server, run, gotd clients) holds one socket per account, and run also
# up to 1,024 temp files of a save batch: an N with N + FD_SPARE open files
# over the limit is skipped (raising a hard limit needs CAP_SYS_RESOURCE).
# Every connection to the one dev server address takes a local port: the
# ephemeral port range is widened for the script's duration (root only; put
# back at exit) when it is narrower than the largest N. Both are printed.
FD_SPARE=${FD_SPARE:-1200}
maxn=0
for n in $COUNTS; do ((n > maxn)) && maxn=$n; done
want_fds=$((maxn + FD_SPARE))
if ((want_fds > $(ulimit -Hn))); then ulimit -Hn "$want_fds" 2>/dev/null || true; fi
ulimit -n "$(ulimit -Hn)"
say "open files limit: $(ulimit -n) per process (hard $(ulimit -Hn)); an N needs N + $FD_SPARE"
widen_ports $((maxn + 2000))
say "ephemeral ports: $ports_note"

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
fmt2() { printf '%.2f' "$1"; }
kib_per() { echo "$1 / $2" | bc -l | xargs printf '%.1f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

# idle LABEL PID N: RSS now, then after IDLE seconds with the CPU used
# meanwhile; sets rss_online and rss_idle (KiB).
idle() {
	local label=$1 pid=$2 n=$3 c0 c1 hz
	rss_online=$(rss_kib "$pid")
	say "$label: RSS when all are online: $((rss_online / 1024)) MiB = $(kib_per "$rss_online" "$n") KiB per account (load $(load))"
	c0=$(cpu_ticks "$pid")
	sleep "$IDLE"
	c1=$(cpu_ticks "$pid")
	hz=$(getconf CLK_TCK)
	rss_idle=$(rss_kib "$pid")
	say "$label: RSS after ${IDLE} s idle: $((rss_idle / 1024)) MiB = $(kib_per "$rss_idle" "$n") KiB per account; idle CPU $(echo "($c1 - $c0) / $hz / $IDLE * 100" | bc -l | xargs printf '%.2f') % of a core (load $(load))"
}

# run_tgvault LABEL IDLE?: one `tgvault run` of the vault in $d until every
# account is ready; with IDLE=1 the idle figures; then SIGTERM. Sets
# ready_s and term_s.
run_tgvault() {
	local label=$1 with_idle=$2 ex0 t0 t1 tsock="" run ready=0 cpu
	ex0=$(jq .key_exchanges "$d/stats.json")
	rm -f "$d/run.sock"
	t0=$(now)
	"$tg" run --server "$addr" --server-key "$d/dev/server.pub" >"$d/run.out" 2>"$d/run.err" &
	run=$!
	pids+=("$run")
	for _ in $(seq 12000); do
		if [[ -S "$d/run.sock" ]]; then
			# run listens once every account is opened (read, decrypted,
			# authenticated) and in the pool; each account starts
			# connecting as soon as it is open, so connects already run
			# during this phase.
			[[ -n "$tsock" ]] || tsock=$(now)
			ready=$(metric "$d/run.sock" 'tgvault_accounts{state="ready"}' 2>/dev/null || echo 0)
			ready=${ready:-0}
			((ready >= n)) && break
		fi
		kill -0 "$run" 2>/dev/null || break
		sleep 0.05
	done
	t1=$(now)
	cpu=$(cpu_s "$run")
	ready_s=$(echo "$t1 - $t0" | bc -l)
	say "$label: $ready of $n ready after $(fmt2 "$ready_s") s ($(echo "$n / $ready_s" | bc -l | xargs printf '%.0f') accounts/s; vault open and unlock included; load $(load))"
	say "$label: of which until the API socket (every account opened; the first connects already run): $(fmt2 "$(echo "${tsock:-$t1} - $t0" | bc -l)") s, then until all are ready: $(fmt2 "$(echo "$t1 - ${tsock:-$t1}" | bc -l)") s; CPU until ready: $(fmt2 "$cpu") s (user + system)"
	ready_cpu=$cpu
	if ((with_idle)); then
		idle "$label" "$run" "$n"
		say "$label: goroutines: $(metric "$d/run.sock" go_goroutines)"
	fi
	say "$label: key exchanges during run: $(($(jq .key_exchanges "$d/stats.json") - ex0))"
	t0=$(now)
	kill -TERM "$run"
	wait "$run" || true
	t1=$(now)
	term_s=$(echo "$t1 - $t0" | bc -l)
	say "$label: SIGTERM to exit (every account saved): $(fmt2 "$term_s") s; $(tail -1 "$d/run.err")"
}

# run_gotd: the plain gotd clients until ready, idle figures, SIGTERM.
run_gotd() {
	local label="plain gotd, one process" t0 t1 g line=""
	"$tmp/gotdclients" -prepare "$d/gotd" -seeds "$seeds" -server "$addr"
	t0=$(now)
	"$tmp/gotdclients" -sessions "$d/gotd" -server "$addr" -server-key "$d/dev/server.pub" >"$d/gotd.out" 2>"$d/gotd.err" &
	g=$!
	pids+=("$g")
	for _ in $(seq 12000); do
		line=$(grep -m1 '^ready' "$d/gotd.out" 2>/dev/null || true)
		[[ -n "$line" ]] && break
		kill -0 "$g" 2>/dev/null || break
		sleep 0.05
	done
	t1=$(now)
	if [[ -z "$line" ]]; then
		say "$label: FAILED: $(tail -3 "$d/gotd.err")"
		gotd_s=""
		return
	fi
	gotd_s=$(echo "$t1 - $t0" | bc -l)
	gotd_cpu=$(cpu_s "$g")
	say "$label: $n ready after $(fmt2 "$gotd_s") s ($(echo "$line" | cut -d' ' -f3) s by its own clock; load $(load)); CPU until ready: $(fmt2 "$gotd_cpu") s"
	idle "$label" "$g" "$n"
	kill -TERM "$g"
	wait "$g" || true
}

for n in $COUNTS; do
	say ""
	if ((n + FD_SPARE > $(ulimit -n))); then
		say "## N = $n: SKIPPED: one process would need $((n + FD_SPARE)) open files, over this host's limit of $(ulimit -n)"
		continue
	fi
	say "## N = $n (load $(load))"
	d="$tmp/n$n"
	seed_vault "$d" "$n" "$tg"
	t0=$(now)
	"$tg" import "$seeds" >/dev/null 2>&1
	t1=$(now)
	import_s=$(echo "$t1 - $t0" | bc -l)
	say "import of $n .session files: $(fmt2 "$import_s") s = $(echo "$n / $import_s" | bc -l | xargs printf '%.0f') files/s (load $(load))"

	run_tgvault "first run after the import" 0
	first_s=$ready_s first_term=$term_s
	run_tgvault "restart" 1
	restart_s=$ready_s run_idle=$rss_idle restart_cpu=$ready_cpu
	gotd_s="" gotd_idle="" rss_idle=""
	if ((GOTD)); then
		run_gotd
		gotd_idle=${rss_idle:-}
	fi
	kill -INT "$dev" 2>/dev/null || true
	wait "$dev" 2>/dev/null || true
	pids=()

	say ""
	say "ratios at N = $n (targets in docs/benchmarks.md):"
	say "  first run ready / restart ready: $(ratio "$first_s" "$restart_s") (target <= 1.2)"
	say "  SIGTERM save after the first run: $(fmt2 "$first_term") s (target <= 2 s at 10,000 accounts with changes)"
	say "  restart: RSS per account after ${IDLE} s idle: $(kib_per "$run_idle" "$n") KiB (target <= 100)"
	if [[ -n "$gotd_s" ]]; then
		say "  restart ready / plain gotd ready: $(ratio "$restart_s" "$gotd_s") (target <= 1.1); CPU until ready: $(ratio "$restart_cpu" "$gotd_cpu")"
		say "  restart RSS / plain gotd RSS after ${IDLE} s idle: $(ratio "$run_idle" "$gotd_idle")"
	fi
	say "  import: $(echo "$n / $import_s" | bc -l | xargs printf '%.0f') files/s (target >= 1500 at 10,000)"
done
say ""
say "load at end: $(load)"
say "recorded in $out"
