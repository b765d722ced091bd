#!/usr/bin/env bash
# The by-hand run of internal/reliability's fleet harness (TestFleetPause)
# whose figures are in docs/fleet.md: three `tgvault run --worker` on a
# real PostgreSQL, 3,000 accounts, each worker stopped (SIGSTOP) for 1, 2
# and 4 lease periods, then killed (SIGKILL) and restarted, for a 3 s and a
# 10 s lease. CI runs the same test with 60 accounts, one lease, one kill.
# Takes about 15 minutes on a 2-core machine. Figures go to stdout (FIGURE
# lines) and to $OUT (default ./fleet-figures.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
export TGVAULT_FLEET_PAUSE_ACCOUNTS=${TGVAULT_FLEET_PAUSE_ACCOUNTS:-3000}
export TGVAULT_FLEET_PAUSE_LEASES=${TGVAULT_FLEET_PAUSE_LEASES:-3s,10s}
export TGVAULT_FLEET_PAUSES=${TGVAULT_FLEET_PAUSES:-1,2,4,1,2,4}
export TGVAULT_FLEET_KILLS=${TGVAULT_FLEET_KILLS:-6}
export TGVAULT_RELIABILITY_FIGURES=${OUT:-$PWD/fleet-figures.txt}
go test -count=1 -timeout ${TIMEOUT:-60m} -run 'TestFleetPause' -v ./internal/reliability/ | grep -E '^(FIGURE|--- |    fleet_test|ok|FAIL|PASS)'
