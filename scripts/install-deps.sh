#!/usr/bin/env bash
# Installs what ghostpeer needs to build and test, from Debian 12's packages.
# Idempotent: packages already present are not touched, and apt is not even
# asked when nothing is missing.
#   scripts/install-deps.sh           build + test dependencies
#   scripts/install-deps.sh --docker  also docker.io and busybox-static (e2e),
#                                     debootstrap (tests/cluster node image)
#   scripts/install-deps.sh --fuzz    also clang and its libFuzzer/sanitizer
#                                     runtimes (scripts/fuzz.sh)
# Flags combine: --docker --fuzz.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev
  protobuf-compiler grpc-proto libabsl-dev libspdlog-dev libcli11-dev
  nlohmann-json3-dev libsqlite3-dev libcurl4-openssl-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  iproute2 procps clang-format
  # Tests read agents' /metrics with it.
  curl
  # VIP translations: the integration tests and agent_bench make DNAT
  # conntrack entries in private namespaces and compare with `conntrack -L`.
  iptables conntrack
  # The IPVS VIP integration test (swarm's lb_ balancer); it runs where the
  # kernel has IPVS and says so where it does not.
  ipvsadm
  libcpp-httplib-dev libssl-dev openssl prometheus prometheus-alertmanager
  # The aggregator's PostgreSQL history store (--db postgresql://...) links
  # libpq; its tests and store_bench start a private PostgreSQL 15 server
  # from /usr/lib/postgresql/15/bin (tests/support/postgres_cluster.h).
  libpq-dev postgresql
  # The web page's browser test (system_test WebPage...): headless Chromium
  # driven over the DevTools protocol from Python.
  chromium python3 python3-websocket
)
for flag in "$@"; do
  case "$flag" in
    --docker) packages+=(docker.io busybox-static debootstrap) ;;
    # Debian 12's clang is clang-14; libclang-rt-14-dev holds libFuzzer and
    # the ASan/UBSan runtimes it links, llvm-14 the symbolizer for reports.
    --fuzz) packages+=(clang libclang-rt-14-dev llvm-14) ;;
    *) echo "install-deps: unknown flag $flag (--docker, --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $EUID -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
echo "install-deps: done"
