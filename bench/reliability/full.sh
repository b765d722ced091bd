#!/usr/bin/env bash
# The by-hand run of internal/reliability whose figures are in
# docs/reliability.md. CI runs the same tests with the small defaults
# (go test ./internal/reliability/...). Takes about 15-25 minutes on a
# 2-core machine, most of it scrypt (rekey and passwd kills).
# Figures go to stdout (FIGURE lines) and to $OUT (default
# ./reliability-figures.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
export TGVAULT_CRASH_KILLS=${TGVAULT_CRASH_KILLS:-150}
export TGVAULT_CRASH_KILLS_IMPORT=${TGVAULT_CRASH_KILLS_IMPORT:-25}
export TGVAULT_CRASH_KILLS_MOVE=${TGVAULT_CRASH_KILLS_MOVE:-60}
export TGVAULT_CRASH_KILLS_REKEY=${TGVAULT_CRASH_KILLS_REKEY:-30}
export TGVAULT_CRASH_KILLS_PASSWD=${TGVAULT_CRASH_KILLS_PASSWD:-30}
export TGVAULT_CRASH_IMPORT_FILES=${TGVAULT_CRASH_IMPORT_FILES:-300}
export TGVAULT_CONC_ROUNDS=${TGVAULT_CONC_ROUNDS:-4}
export TGVAULT_CONC_IMPORT_FILES=${TGVAULT_CONC_IMPORT_FILES:-200}
export TGVAULT_CONC_WRITES=${TGVAULT_CONC_WRITES:-60}
export TGVAULT_CONC_READERS=${TGVAULT_CONC_READERS:-2}
export TGVAULT_RUN_KILLS=${TGVAULT_RUN_KILLS:-60}
export TGVAULT_RUN_ACCOUNTS=${TGVAULT_RUN_ACCOUNTS:-8}
export TGVAULT_API_CLIENTS=${TGVAULT_API_CLIENTS:-1000}
export TGVAULT_API_SLOWLORIS=${TGVAULT_API_SLOWLORIS:-64}
export TGVAULT_RELIABILITY_FIGURES=${OUT:-$PWD/reliability-figures.txt}
go test -count=1 -timeout ${TIMEOUT:-90m} -v ./internal/reliability/ | grep -E '^(FIGURE|--- |ok|FAIL|PASS)'
