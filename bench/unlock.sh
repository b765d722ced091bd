#!/usr/bin/env bash
# Where the unlocked key lives, and what `tgvault list` costs on top of it:
# `list --json` and `list` (the table) over a vault of $ACCOUNTS accounts and
# over a vault of one account, with the key read from the real OS keyring
# (gnome-keyring on a private D-Bus, .ci/secret-service) and from the
# tgvault agent (the same vault, unlocked with D-Bus out of reach, as on a
# headless server), each in a fresh process, warm. The agent's figure must
# be within 10 ms of the keyring's; both forms of list over 10,000 accounts
# within 50 ms. Prints the machine and all outputs and keeps a copy in
# bench/results/unlock-<UTC date-time>.txt.
#
#   bench/unlock.sh                          # ACCOUNTS=10000 RUNS=30 WARMUP=3
#
# Needs go, hyperfine, gnome-keyring and dbus (.ci/secret-service). Nothing
# outside a temporary directory is touched; the agent it starts is locked
# (and so exits) at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ACCOUNTS=${ACCOUNTS:-10000}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
failed=()

section() { printf '\n=== %s (load %s)\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"; }
run() {
	printf '$ %s\n' "$*" | tee -a "$out"
	local rc=0
	"$@" 2>&1 | tee -a "$out" || rc=$?
	if ((rc != 0)); then
		printf '(exit status %d)\n' "$rc" | tee -a "$out"
		failed+=("$*")
	fi
}
bench() {
	local name=$1
	shift
	run hyperfine -N --style basic --export-json "$tmp/$name.json" --export-markdown "$tmp/$name.md" "$@"
	[[ -s "$tmp/$name.md" ]] && tee -a "$out" <"$tmp/$name.md"
	return 0
}
# mean NAME INDEX: a benchmark's mean in ms.
mean() { jq -r ".results[$2].mean * 1000 | . * 10 | round / 10" "$tmp/$1.json"; }

if [[ "${1:-}" == --inside-secret-service ]]; then
	tmp=$BENCH_TMP out=$BENCH_OUT tg=$tmp/tgvault pass=$tmp/passphrase
	unset TGVAULT_INSECURE_TEST_KEYRING TGVAULT_IDENTITY TGVAULT_PASSPHRASE_FILE
	export TGVAULT_AGENT_SOCKET=$tmp/agent/agent.sock
	bus=$DBUS_SESSION_BUS_ADDRESS
	nobus=unix:path=$tmp/no-such-bus
	trap 'for v in big one; do TGVAULT_DIR=$tmp/vault-$v DBUS_SESSION_BUS_ADDRESS=$nobus "$tg" lock >/dev/null 2>&1 || true; TGVAULT_DIR=$tmp/vault-$v "$tg" lock >/dev/null 2>&1 || true; done' EXIT

	section "vaults: $ACCOUNTS accounts and 1 account, made with the key in the real Secret Service"
	for v in big one; do
		run env TGVAULT_DIR="$tmp/vault-$v" TGVAULT_PASSPHRASE_FILE="$pass" "$tg" init
	done
	printf '$ tgvault --json import %s (%s strings; output not shown)\n' "$tmp/strings" "$ACCOUNTS" | tee -a "$out"
	TGVAULT_DIR="$tmp/vault-big" "$tg" --json import "$tmp/strings" >"$tmp/import.json" 2>"$tmp/import.err" || failed+=("import: $(tail -1 "$tmp/import.err")")
	jq -c '{imported, failed}' <"$tmp/import.json" 2>/dev/null | tee -a "$out" || true
	run env TGVAULT_DIR="$tmp/vault-one" "$tg" import --name one "$tmp/one/acct-00001.txt"
	for v in big one; do run env TGVAULT_DIR="$tmp/vault-$v" "$tg" status; done

	section "key in the OS keyring (gnome-keyring over D-Bus)"
	bench keyring --warmup "$WARMUP" --runs "$RUNS" \
		-n "keyring, list --json, $ACCOUNTS" "env TGVAULT_DIR=$tmp/vault-big $tg list --json" \
		-n "keyring, list, $ACCOUNTS" "env TGVAULT_DIR=$tmp/vault-big $tg list" \
		-n "keyring, list --json, 1" "env TGVAULT_DIR=$tmp/vault-one $tg list --json" \
		-n "keyring, list, 1" "env TGVAULT_DIR=$tmp/vault-one $tg list"

	section "the same vaults, key in the tgvault agent (D-Bus out of reach)"
	for v in big one; do
		run env TGVAULT_DIR="$tmp/vault-$v" "$tg" lock
		run env TGVAULT_DIR="$tmp/vault-$v" DBUS_SESSION_BUS_ADDRESS="$nobus" TGVAULT_PASSPHRASE_FILE="$pass" "$tg" unlock
		run env TGVAULT_DIR="$tmp/vault-$v" DBUS_SESSION_BUS_ADDRESS="$nobus" "$tg" status
	done
	bench agent --warmup "$WARMUP" --runs "$RUNS" \
		-n "agent, list --json, $ACCOUNTS" "env TGVAULT_DIR=$tmp/vault-big DBUS_SESSION_BUS_ADDRESS=$nobus $tg list --json" \
		-n "agent, list, $ACCOUNTS" "env TGVAULT_DIR=$tmp/vault-big DBUS_SESSION_BUS_ADDRESS=$nobus $tg list" \
		-n "agent, list --json, 1" "env TGVAULT_DIR=$tmp/vault-one DBUS_SESSION_BUS_ADDRESS=$nobus $tg list --json" \
		-n "agent, list, 1" "env TGVAULT_DIR=$tmp/vault-one DBUS_SESSION_BUS_ADDRESS=$nobus $tg list"
	pid=$(pgrep -f "agent --socket $TGVAULT_AGENT_SOCKET" | head -1 || true)
	if [[ -n "$pid" ]]; then
		grep -E '^(VmRSS|VmLck|VmHWM)' "/proc/$pid/status" | sed 's/^/agent /' | tee -a "$out"
	fi

	section "summary (mean ms; agent - keyring)"
	names=("list --json, $ACCOUNTS" "list, $ACCOUNTS" "list --json, 1" "list, 1")
	for i in 0 1 2 3; do
		k=$(mean keyring "$i") a=$(mean agent "$i")
		printf '%-22s keyring %7s  agent %7s  difference %6s ms\n' "${names[$i]}" "$k" "$a" "$(jq -n "($a - $k) * 10 | round / 10")" | tee -a "$out"
	done
	((${#failed[@]} == 0)) || { printf 'FAILED: %s\n' "${failed[@]}" | tee -a "$out" >&2; exit 1; }
	exit 0
fi

command -v hyperfine >/dev/null || { echo "unlock.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
command -v jq >/dev/null || { echo "unlock.sh: needs jq (apt-get install jq)" >&2; exit 2; }
mkdir -p bench/results
out="$PWD/bench/results/unlock-$(date -u +%Y-%m-%dT%H%M%SZ).txt"
: >"$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tgvault-unlock-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -m 0700 "$tmp/agent"
printf 'unlock-bench-throwaway-passphrase\n' >"$tmp/passphrase"
chmod 600 "$tmp/passphrase"

section machine
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(uname -srm)"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//')"
	echo "go: $(go version)"
	echo "hyperfine: $(hyperfine --version)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git status --porcelain 2>/dev/null | grep -q . && echo ' (dirty)' || true)"
	echo "accounts: $ACCOUNTS, runs: $RUNS (warmup $WARMUP)"
} | tee -a "$out"

section build
run go build -tags tgvault_testhooks -o "$tmp/tgvault" ./cmd/tgvault
run go build -o "$tmp/gensessions" ./bench/gensessions
run "$tmp/gensessions" -kind string -n "$ACCOUNTS" -out "$tmp/strings"
run "$tmp/gensessions" -kind string -n 1 -out "$tmp/one"

printf '$ .ci/secret-service bench/unlock.sh --inside-secret-service\n' | tee -a "$out"
rc=0
env BENCH_TMP="$tmp" BENCH_OUT="$out" ACCOUNTS="$ACCOUNTS" RUNS="$RUNS" WARMUP="$WARMUP" \
	.ci/secret-service "$PWD/bench/unlock.sh" --inside-secret-service || rc=$?
((rc == 0)) || failed+=("inside the Secret Service: exit $rc")
section end
((${#failed[@]} == 0)) || { printf 'FAILED: %s\n' "${failed[@]}" | tee -a "$out" >&2; exit 1; }
echo "results: $out"
