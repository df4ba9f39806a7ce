#!/usr/bin/env bash
# The README's test command, and what CI runs: installs what is missing (apt,
# idempotent), builds, starts dockerd and a single-node swarm for the
# end-to-end tests, and runs every test. ctest's summary ends the output.
#   scripts/test.sh                 the whole gate, in this order:
#                                   1. formatting (scripts/check-format.sh)
#                                   2. the unit tests under ASan + UBSan
#                                   3. every fuzzer, GHOSTPEER_FUZZ_RUNS
#                                      (default 100000) executions each from
#                                      a fixed seed: the same every run
#                                   4. unit + integration + e2e
#   scripts/test.sh -L unit         any ctest arguments: step 4 only, narrowed
#   scripts/test.sh --sanitize address [ctest args]
#   scripts/test.sh --sanitize thread  [ctest args]
#       builds with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#       or ThreadSanitizer (build-tsan/) and runs the unit and integration
#       tests (-L 'unit|integration' unless ctest arguments are given; never
#       e2e, whose stack runs the deployed image, not these binaries). Any
#       report fails its test. Suppressions: tests/sanitizers/.
# Needs root (network namespaces, dockerd): run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizer=""
if [[ "${1:-}" == --sanitize || "${1:-}" == --sanitize=* ]]; then
  if [[ "$1" == --sanitize=* ]]; then
    sanitizer=${1#--sanitize=}
    shift
  else
    sanitizer=${2:-}
    shift $(($# < 2 ? 1 : 2))
  fi
  if [[ "$sanitizer" != address && "$sanitizer" != thread ]]; then
    echo "scripts/test.sh: --sanitize takes address or thread," \
         "not '$sanitizer'" >&2
    exit 2
  fi
fi

if [[ $EUID -ne 0 ]]; then
  echo "scripts/test.sh: the integration tests create network namespaces and" \
       "the e2e tests drive dockerd: run as root (sudo $0)" >&2
  exit 2
fi

# The whole gate: the cheap checks first, so a formatting slip fails in
# seconds; the full suite last, so its summary ends the output.
if [[ -z "$sanitizer" && $# -eq 0 ]]; then
  step() { echo; echo "=== scripts/test.sh: $*"; }
  scripts/install-deps.sh --docker --fuzz
  step "1/4 formatting"
  scripts/check-format.sh
  step "2/4 unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  scripts/test.sh --sanitize address -L unit
  step "3/4 fuzzers, ${GHOSTPEER_FUZZ_RUNS:-100000} executions each, seed 1"
  scripts/fuzz.sh --seed 1 --runs "${GHOSTPEER_FUZZ_RUNS:-100000}"
  step "4/4 every test: unit, integration, e2e"
fi

scripts/install-deps.sh --docker
# The unit label needs only the unit test executables (and no dockerd).
unit_only=false
if [[ "$*" == "-L unit" ]]; then unit_only=true; fi
if [[ -z "$sanitizer" ]]; then
  scripts/build.sh
else
  build_dir=build-asan
  if [[ "$sanitizer" == thread ]]; then build_dir=build-tsan; fi
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
              -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGHOSTPEER_SANITIZE="$sanitizer" "${launcher[@]}" >/dev/null
  if $unit_only; then
    BUILD_DIR=$build_dir scripts/build.sh unit_tests
  else
    BUILD_DIR=$build_dir scripts/build.sh
  fi
fi
# End-to-end tests need a running dockerd and an active swarm; the script is
# idempotent and leaves an existing engine alone.
$unit_only || scripts/docker-up.sh

if [[ -z "$sanitizer" ]]; then
  cd build
  ctest --output-on-failure --timeout 600 "$@"
  exit
fi

# A report is a failure: ASan stops at the first one, UBSan and TSan too,
# each with a full stack. The suppression files name only uninstrumented
# library internals. Reports go to files, not stderr, because the
# integration tests start the agent and the aggregator as child processes
# whose exit status on SIGTERM nobody checks: the files catch those too.
# ASan and UBSan share one runtime, whose log_path is UBSAN_OPTIONS's.
supp=$PWD/tests/sanitizers
reports=$PWD/$build_dir/sanitizer-reports
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:check_initialization_order=1:log_path=$reports/$sanitizer"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/$sanitizer"
export TSAN_OPTIONS="halt_on_error=1:ignore_noninstrumented_modules=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp:print_suppressions=0:log_path=$reports/$sanitizer"
if (($# == 0)); then set -- -L 'unit|integration'; fi
cd "$build_dir"
status=0
ctest --output-on-failure --timeout 1200 "$@" || status=$?
shopt -s nullglob
found=("$reports"/*)
if ((${#found[@]} > 0)); then
  cat "${found[@]}" >&2
  echo "scripts/test.sh: ${#found[@]} sanitizer report(s), above and in" \
       "$reports" >&2
  exit 1
fi
exit "$status"
