#!/usr/bin/env bash
# deploy/up.sh refuses what it cannot honour before it touches anything
# (apt, dockerd, the swarm): these cases all exit before the root check.
#   tests/unit/deploy/up_args_test.sh [PATH_TO_UP_SH]
set -uo pipefail
up=${1:-$(dirname "$0")/../../../deploy/up.sh}
failures=0

# expect STATUS SUBSTRING ARGS...: up.sh ARGS exits STATUS and says SUBSTRING.
expect() {
  local want_status=$1 want_text=$2
  shift 2
  local out status
  out=$("$up" "$@" 2>&1)
  status=$?
  if [[ $status -ne $want_status || "$out" != *"$want_text"* ]]; then
    echo "FAIL: up.sh $* -> status $status (want $want_status), output:" >&2
    echo "$out" | sed 's/^/  /' >&2
    echo "  (want it to contain: $want_text)" >&2
    failures=$((failures + 1))
  fi
}

expect 2 "--registry needs HOST:PORT" --registry
expect 2 "is not HOST or HOST:PORT" --registry 'reg.example/ns'
expect 2 "is not HOST or HOST:PORT" --registry='reg.example:50x0'
expect 2 "exclude each other" --registry reg.example:5000 --start-registry
expect 2 "exclude each other" --start-registry --image-on-nodes
expect 2 "exclude each other" --image-on-nodes --registry=reg.example
expect 2 "unknown argument '--regsitry'" --regsitry reg.example:5000
for option in --registry --start-registry --image-on-nodes DOCKER_HOST \
    GHOSTPEER_AGGREGATOR --insecure-registry --remediation; do
  expect 0 "$option" --help
done

if ((failures > 0)); then
  echo "$failures case(s) failed" >&2
  exit 1
fi
echo "up.sh arguments: all cases pass"
