#!/usr/bin/env bash
# The silent-loss window of guarded remediation (issue 11's "done means"):
# seconds from a server's departure to the first error its client sees,
# with `ghostpeer-aggregator --remediation auto` and agents at
# --interval 1s and at the default 5s, FIN-first and link-cut-first runs,
# RUNS of each (default 5). Prints every run, min/median/max per case and
# per interval, and the ratio against the kernel's own timeout
# (tcp_retries2=15: 924.6 s, computed). Needs root; builds what it runs.
#   scripts/remediation-window.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
BUILD_DIR=${BUILD_DIR:-build} JOBS=${JOBS:-2} scripts/build.sh \
  remediation_system_test >/dev/null
GHOSTPEER_WINDOW_RUNS=$runs "${BUILD_DIR:-build}/bin/remediation_system_test" \
  --gtest_filter='Cases/SilentLossWindowTest.*' | grep -E '^\[ window \]|FAILED|PASSED'
