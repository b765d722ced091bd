# Shared by bench/pool.sh and bench/readypairs.sh (sourced, not run): the
# result file, the temp directory and its cleanup, the helpers that read
# /proc and run's /metrics, the ephemeral port range, and the setup of N
# seeded accounts in a fresh vault.

# bench_start NAME: the result file bench/results/NAME-<UTC>.txt ($out),
# a temp directory ($tmp), and at exit: every process in $pids stopped,
# $tmp removed, the port range put back (widen_ports).
bench_start() {
	mkdir -p bench/results
	out="bench/results/$1-$(date -u +%Y-%m-%dT%H%M%SZ).txt"
	: >"$out"
	tmp=$(mktemp -d)
	pids=()
	ports_saved=""
	trap bench_cleanup EXIT
}

bench_cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
	if [[ -n "${ports_saved:-}" ]]; then printf '%s\n' "$ports_saved" >/proc/sys/net/ipv4/ip_local_port_range || true; fi
}

say() { printf '%s\n' "$*" | tee -a "$out"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
# cpu_s PID: the process's CPU time (user + system) in seconds.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }
# metric SOCKET NAME: the sum of a metric's samples in run's /metrics.
metric() { curl -s --unix-socket "$1" http://tgvault/metrics | awk -v m="$2" '$1 ~ "^"m"({|$)" {s += $2} END {print s + 0}'; }

# widen_ports NEED: every connection to the one dev server address takes a
# local port; when the ephemeral port range holds fewer than NEED, it is
# widened to 1024-65535 for the script's duration (root only; put back at
# exit). Sets ports_note to what it found and did.
widen_ports() {
	local file=/proc/sys/net/ipv4/ip_local_port_range lo hi
	read -r lo hi <"$file"
	if ((hi - lo + 1 >= $1)); then
		ports_note="$lo-$hi"
	elif [[ -w "$file" ]] && printf '1024 65535\n' >"$file" 2>/dev/null; then
		ports_saved="$lo $hi"
		ports_note="$lo-$hi is fewer than the $1 needed; widened to 1024-65535 for this script"
	else
		ports_note="$lo-$hi is fewer than the $1 needed and cannot be widened here: the largest N may fail"
	fi
}

# seed_vault DIR N TGVAULT: a fresh vault in DIR/vault unlocked as by the
# OS keyring (no scrypt in each process: the vault identity in a file,
# copied from init's file-backed keyring; TGVAULT_DIR, TGVAULT_SOCKET and
# TGVAULT_IDENTITY exported), and a dev server seeding N accounts (its pid
# $dev, added to $pids; its address $addr; the seeds' directory $seeds),
# not yet imported.
seed_vault() {
	local d=$1 n=$2 tg=$3 kf
	mkdir -p "$d"
	printf 'bench passphrase\n' >"$d/pass"
	export TGVAULT_DIR="$d/vault" TGVAULT_SOCKET="$d/run.sock"
	TGVAULT_PASSPHRASE_FILE="$d/pass" TGVAULT_INSECURE_TEST_KEYRING="$d/keyring" "$tg" init >/dev/null 2>&1
	kf=("$d"/keyring/*)
	{ cat "${kf[0]}"; echo; } >"$d/identity"
	chmod 600 "$d/identity"
	export TGVAULT_IDENTITY="$d/identity"
	"$tg" dev-server --json --state "$d/dev" --seed-accounts "$n" --info-file "$d/info.json" --stats-file "$d/stats.json" >/dev/null &
	dev=$!
	pids+=("$dev")
	for _ in $(seq 6000); do [[ -s "$d/info.json" ]] && break; sleep 0.1; done
	addr=$(jq -r .addr "$d/info.json")
	seeds=$(jq -r .seeds "$d/info.json")
}
