#!/usr/bin/env bash
# The README's test command: installs what is missing (apt, idempotent),
# builds, starts dockerd and a single-node swarm for the end-to-end tests,
# and runs every test with ctest, whose summary ends the output.
#   scripts/test.sh                 unit + integration + e2e
#   scripts/test.sh -L unit         any ctest arguments narrow the run
# Needs root (network namespaces, dockerd): run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
  echo "scripts/test.sh: the integration tests create network namespaces and" \
       "the e2e tests drive dockerd: run as root (sudo $0)" >&2
  exit 2
fi

scripts/install-deps.sh --docker
scripts/build.sh
# End-to-end tests need a running dockerd and an active swarm; the script is
# idempotent and leaves an existing engine alone.
scripts/docker-up.sh

cd build
ctest --output-on-failure --timeout 600 "$@"
