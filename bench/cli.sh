#!/usr/bin/env bash
# Whole-program figures for the tgvault command, each run in a fresh
# process: `tgvault list --json` over 10,000 accounts, bulk import of 1,000
# Pyrogram .session files, and `unlock` + `list` against a real Secret
# Service. Prints the machine and all outputs, and keeps a copy in
# bench/results/cli-<UTC date-time>.txt.
#
#   bench/cli.sh                          # defaults
#   ACCOUNTS=10000 FILES=1000 RUNS=30 WARMUP=3 IMPORT_RUNS=5 UNLOCK_RUNS=10 bench/cli.sh
#   SKIP_SECRET_SERVICE=1 bench/cli.sh    # no gnome-keyring/dbus on this machine
#
# Needs go, hyperfine (installed with apt-get if missing and run as root),
# GNU time (/usr/bin/time) and, for the Secret Service part,
# .ci/secret-service's gnome-keyring and dbus. Sessions are made by
# bench/gensessions (random keys and user ids, api_id 12345). Vaults made
# here use the passphrase in a temporary file, the file-backed test keyring
# (TGVAULT_INSECURE_TEST_KEYRING) or the private Secret Service of
# .ci/secret-service: nothing outside the temporary directory is touched,
# and the directory is removed at the end.
#
# Every section runs even if an earlier one fails; the script exits non-zero
# if any did.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ACCOUNTS=${ACCOUNTS:-10000}
FILES=${FILES:-1000}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
IMPORT_RUNS=${IMPORT_RUNS:-5}
UNLOCK_RUNS=${UNLOCK_RUNS:-10}

failed=()

section() {
	printf '\n=== %s (load %s)\n' "$*" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
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

# bench NAME HYPERFINE-ARGS...: hyperfine without a shell (-N), its
# markdown table appended after its own output.
bench() {
	local name=$1
	shift
	run hyperfine -N --style basic --export-markdown "$tmp/$name.md" "$@"
	[[ -s "$tmp/$name.md" ]] && tee -a "$out" <"$tmp/$name.md"
	return 0
}

# timev CMD...: GNU time -v, keeping the lines that matter (the command's
# own stdout goes to $tmp/timev.out).
timev() {
	printf '$ /usr/bin/time -v %s\n' "$*" | tee -a "$out"
	local rc=0
	/usr/bin/time -v "$@" >"$tmp/timev.out" 2>"$tmp/timev.err" || rc=$?
	grep -v 'TGVAULT_INSECURE_TEST_KEYRING is set' "$tmp/timev.err" |
		grep -E 'Elapsed|User time|System time|Percent of CPU|Maximum resident|context switches|^tgvault|error' | tee -a "$out" || true
	if ((rc != 0)); then
		printf '(exit status %d)\n' "$rc" | tee -a "$out"
		failed+=("/usr/bin/time -v $*")
	fi
}

# count_accounts: the length of the JSON array `tgvault list --json` printed.
count_accounts() {
	if command -v jq >/dev/null; then
		jq length
	else
		grep -o '"name":' | wc -l
	fi
}

# The part that runs inside .ci/secret-service (a private D-Bus session with
# an unlocked gnome-keyring): the vault is created there, with the key in
# that Secret Service, because the service and its keyring go away at the
# end of the session.
if [[ "${1:-}" == --inside-secret-service ]]; then
	tmp=$BENCH_TMP
	out=$BENCH_OUT
	tg=$tmp/tgvault
	unset TGVAULT_INSECURE_TEST_KEYRING TGVAULT_IDENTITY
	export TGVAULT_DIR=$tmp/vault-ss
	pass=$tmp/passphrase

	section "secret service: init and import $ACCOUNTS strings (passphrase file, real keyring)"
	run env TGVAULT_PASSPHRASE_FILE="$pass" "$tg" init
	timev env TGVAULT_PASSPHRASE_FILE="$pass" "$tg" --json import "$tmp/strings"
	jq -c '{imported, failed}' <"$tmp/timev.out" 2>/dev/null | tee -a "$out" || true
	run "$tg" lock

	section "secret service: tgvault unlock (scrypt + keyring write), after tgvault lock each run"
	bench ss-unlock --warmup 1 --runs "$UNLOCK_RUNS" --prepare "$tg lock" \
		"env TGVAULT_PASSPHRASE_FILE=$pass $tg unlock"

	section "secret service: tgvault list --json, key from the real keyring"
	run env TGVAULT_PASSPHRASE_FILE="$pass" "$tg" unlock
	run "$tg" --json status
	printf 'accounts listed: %s\n' "$("$tg" list --json | count_accounts)" | tee -a "$out"
	bench ss-list --warmup "$WARMUP" --runs "$RUNS" "$tg list --json"
	timev "$tg" list --json
	run "$tg" lock
	if ((${#failed[@]})); then
		printf 'FAILED: %s\n' "${failed[@]}" | tee -a "$out" >&2
		exit 1
	fi
	exit 0
fi

if ! command -v hyperfine >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		apt-get install -y hyperfine >/dev/null
	else
		echo "cli.sh: needs hyperfine (apt-get install hyperfine)" >&2
		exit 2
	fi
fi
[[ -x /usr/bin/time ]] || { echo "cli.sh: needs GNU time (apt-get install time)" >&2; exit 2; }

mkdir -p bench/results
out="$PWD/bench/results/cli-$(date -u +%Y-%m-%dT%H%M%SZ).txt"
: >"$out"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tgvault-cli-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tg=$tmp/tgvault
pass=$tmp/passphrase
printf 'cli-bench-throwaway-passphrase\n' >"$pass"
chmod 600 "$pass"
# No ambient vault, identity or keyring: every section says what it uses.
unset TGVAULT_DIR TGVAULT_IDENTITY TGVAULT_PASSPHRASE_FILE TGVAULT_INSECURE_TEST_KEYRING

section machine
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(uname -srm)"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//')"
	echo "memory: $(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
	[[ -r /proc/pressure/cpu ]] && echo "cpu pressure: $(head -1 /proc/pressure/cpu)"
	echo "go: $(go version)"
	echo "hyperfine: $(hyperfine --version)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git status --porcelain 2>/dev/null | grep -q . && echo ' (dirty)' || true)"
	echo "accounts: $ACCOUNTS, files: $FILES, runs: $RUNS (warmup $WARMUP), import runs: $IMPORT_RUNS, unlock runs: $UNLOCK_RUNS"
} | tee -a "$out"

section build
run go build -tags tgvault_testhooks -o "$tg" ./cmd/tgvault
run go build -o "$tmp/gensessions" ./bench/gensessions
run "$tmp/gensessions" -kind string -n "$ACCOUNTS" -out "$tmp/strings"
run "$tmp/gensessions" -kind file -n "$FILES" -out "$tmp/files"

# 1. list over $ACCOUNTS accounts. The vault is made with the file-backed
# test keyring, which is read like the OS keyring would be; its secret is
# the bare identity, copied to an identity file for --identity.
section "1. vault of $ACCOUNTS accounts: init, bulk import of $ACCOUNTS Pyrogram strings (TGVAULT_PASSPHRASE_FILE)"
(
	failed=()
	export TGVAULT_DIR=$tmp/vault-list TGVAULT_INSECURE_TEST_KEYRING=$tmp/keyring-list
	run env TGVAULT_PASSPHRASE_FILE="$pass" "$tg" init
	timev env TGVAULT_PASSPHRASE_FILE="$pass" "$tg" --json import "$tmp/strings"
	jq -c '{imported, failed}' <"$tmp/timev.out" 2>/dev/null | tee -a "$out" || true
	printf 'index.age: %s bytes; accounts/: %s files\n' "$(stat -c %s "$TGVAULT_DIR/index.age")" "$(ls "$TGVAULT_DIR/accounts" | wc -l)" | tee -a "$out"
	((${#failed[@]} == 0)) || exit 1
) || failed+=("vault of $ACCOUNTS accounts")
keyfiles=("$tmp"/keyring-list/*)
{ cat "${keyfiles[0]}"; echo; } >"$tmp/identity"
chmod 600 "$tmp/identity"

section "1. tgvault list --json, $ACCOUNTS accounts, identity from the file-backed test keyring"
(
	failed=()
	export TGVAULT_DIR=$tmp/vault-list TGVAULT_INSECURE_TEST_KEYRING=$tmp/keyring-list
	printf 'accounts listed: %s\n' "$("$tg" list --json 2>/dev/null | count_accounts)" | tee -a "$out"
	bench list-keyring --warmup "$WARMUP" --runs "$RUNS" "$tg list --json"
	timev "$tg" list --json
	((${#failed[@]} == 0)) || exit 1
) || failed+=("list, test keyring")

section "1. tgvault list --json, $ACCOUNTS accounts, --identity FILE"
(
	failed=()
	export TGVAULT_DIR=$tmp/vault-list
	bench list-identity --warmup "$WARMUP" --runs "$RUNS" "$tg --identity $tmp/identity list --json"
	timev "$tg" --identity "$tmp/identity" list --json
	((${#failed[@]} == 0)) || exit 1
) || failed+=("list, identity")

section "1. for comparison: list --json with TGVAULT_PASSPHRASE_FILE (scrypt in every process)"
(
	failed=()
	export TGVAULT_DIR=$tmp/vault-list TGVAULT_PASSPHRASE_FILE=$pass
	bench list-passphrase --warmup 1 --runs 5 "$tg list --json"
	((${#failed[@]} == 0)) || exit 1
) || failed+=("list, passphrase")

section "1. where the time goes: process start, and list over an empty vault (--identity)"
(
	failed=()
	export TGVAULT_DIR=$tmp/vault-empty TGVAULT_INSECURE_TEST_KEYRING=$tmp/keyring-empty
	run env TGVAULT_PASSPHRASE_FILE="$pass" "$tg" init
	kf=("$tmp"/keyring-empty/*)
	{ cat "${kf[0]}"; echo; } >"$tmp/identity-empty"
	unset TGVAULT_INSECURE_TEST_KEYRING
	bench baseline --warmup "$WARMUP" --runs "$RUNS" \
		"$tg completion bash" \
		"$tg --identity $tmp/identity-empty list --json" \
		"$tg --vault $tmp/vault-list --identity $tmp/identity list --json"
	((${#failed[@]} == 0)) || exit 1
) || failed+=("baseline")

# 2. bulk import of $FILES .session files into a fresh vault each run.
section "2. bulk import of $FILES Pyrogram .session files (fresh vault each run, test keyring)"
cat >"$tmp/prepare-import.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
rm -rf "$tmp/vault-import" "$tmp/keyring-import"
TGVAULT_PASSPHRASE_FILE="$pass" "$tg" init >/dev/null 2>&1
EOF
chmod +x "$tmp/prepare-import.sh"
(
	failed=()
	export TGVAULT_DIR=$tmp/vault-import TGVAULT_INSECURE_TEST_KEYRING=$tmp/keyring-import
	bench import-files --runs "$IMPORT_RUNS" --prepare "$tmp/prepare-import.sh" "$tg --json import $tmp/files"
	"$tmp/prepare-import.sh"
	timev "$tg" --json import "$tmp/files"
	jq -c '{imported, failed}' <"$tmp/timev.out" 2>/dev/null | tee -a "$out" || true
	printf 'accounts listed: %s\n' "$("$tg" list --json 2>/dev/null | count_accounts)" | tee -a "$out"
	((${#failed[@]} == 0)) || exit 1
) || failed+=("import files")

# 3. unlock and list against the real Secret Service.
if [[ "${SKIP_SECRET_SERVICE:-}" == 1 ]]; then
	section "3. secret service: skipped (SKIP_SECRET_SERVICE=1)"
else
	section "3. secret service (.ci/secret-service: private D-Bus session, gnome-keyring)"
	# Not through run: the inner script records its own output in $out.
	printf '$ .ci/secret-service bench/cli.sh --inside-secret-service\n' | tee -a "$out"
	rc=0
	env BENCH_TMP="$tmp" BENCH_OUT="$out" ACCOUNTS="$ACCOUNTS" RUNS="$RUNS" WARMUP="$WARMUP" UNLOCK_RUNS="$UNLOCK_RUNS" \
		.ci/secret-service "$PWD/bench/cli.sh" --inside-secret-service || rc=$?
	if ((rc != 0)); then
		printf '(exit status %d)\n' "$rc" | tee -a "$out"
		failed+=("secret service")
	fi
fi

section "end"
echo "cpu pressure: $(head -1 /proc/pressure/cpu 2>/dev/null || echo n/a)" | tee -a "$out"
echo "saved to ${out#"$PWD"/}"
if ((${#failed[@]})); then
	printf 'FAILED: %s\n' "${failed[@]}" | tee -a "$out" >&2
	exit 1
fi
