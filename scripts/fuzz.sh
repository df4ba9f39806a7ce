#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) into build-fuzz/ with clang,
# ASan and UBSan, and runs each in turn, seeded from tests/testdata.
# Exits non-zero when any target crashes, leaks, times out or runs out of
# memory; the input that did it stays in build-fuzz/fuzz/artifacts/<target>/.
#   scripts/fuzz.sh [seconds-per-target]   default 60
#   scripts/fuzz.sh --runs N [seconds]     N executions per target (or the
#                                          seconds, if given, whichever first)
#   scripts/fuzz.sh --only REGEX 20        only the targets matching REGEX
#   scripts/fuzz.sh --seed 1 --runs 50000  the same executions every time:
#                                          what the test gate runs, so that
#                                          it passes or fails on the code,
#                                          never on a random draw
# The working corpora (build-fuzz/fuzz/corpus/<target>/) grow from run to
# run; the source tree is never written. Logs: build-fuzz/fuzz/logs/.
#   BUILD_DIR=build-fuzz JOBS=2 scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 [--runs N] [--seed N] [--only REGEX] [seconds-per-target]" >&2
  exit 2
}

seconds=""
runs=""
random_seed=""
only="."
while (($# > 0)); do
  case "$1" in
    --runs) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || usage; runs=$2; shift 2 ;;
    --seed) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || usage; random_seed=$2; shift 2 ;;
    --only) [[ -n "${2:-}" ]] || usage; only=$2; shift 2 ;;
    -h | --help) usage ;;
    *) [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage; seconds=$1; shift ;;
  esac
done

if [[ -z "$runs" && -z "$seconds" ]]; then seconds=60; fi
build_dir=${BUILD_DIR:-build-fuzz}
jobs=${JOBS:-$(nproc)}
work="$build_dir/fuzz"
testdata=tests/testdata

scripts/install-deps.sh --fuzz
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache
              -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DGHOSTPEER_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
fi
cmake --build "$build_dir" -j "$jobs" --target ghostpeer_fuzzers

# Seeds per target: golden files, copied (never fuzzed in place), and the
# inputs in tests/testdata/fuzz/<target without _fuzzer>/.
declare -A seeds=(
  [sock_diag_fuzzer]="$testdata/agent/tcp_dump.nlbin $testdata/agent/udp_dump.nlbin $testdata/agent/udp6_dump.nlbin"
  [rtnetlink_fuzzer]="$testdata/agent/addresses.nlbin $testdata/agent/links.nlbin"
  [proc_net_tcp_fuzzer]="$(echo $testdata/agent/proc_net_{tcp,tcp6,udp,udp6}.txt)"
  [cgroup_fuzzer]="$(echo $testdata/agent/cgroup_*.txt)"
  [proc_pid_fuzzer]="$testdata/agent/proc_pid_stat.txt $testdata/agent/proc_pid_status.txt"
  [ctnetlink_fuzzer]="$testdata/agent/conntrack_dump.nlbin $testdata/agent/conntrack_eperm.nlbin"
  [conntrack_event_fuzzer]="$testdata/agent/conntrack_events.nlbin"
  # an order (protobuf) and a kernel dump; more in tests/testdata/fuzz/remediation/
  [remediation_fuzzer]="$testdata/agent/tcp_dump.nlbin"
  [translation_text_fuzzer]="$testdata/agent/ip_vs_conn.txt $testdata/agent/nf_conntrack.txt"
  [docker_containers_fuzzer]="$(echo $testdata/docker/container{s,_inspect}*.json $testdata/docker/error_*.json)"
  [docker_tasks_fuzzer]="$testdata/docker/tasks.json"
  [docker_services_fuzzer]="$testdata/docker/services.json $testdata/docker/services_labelled.json"
  [docker_networks_fuzzer]="$testdata/docker/networks.json $testdata/docker/nodes.json $testdata/docker/nodes_down.json $testdata/docker/info.json"
  [docker_events_fuzzer]="$(echo $testdata/docker/events_*.jsonl)"
  # made from tests/testdata/ingest/ by write_ingest_seeds
  [ingest_fuzzer]=""
  [ingest_stream_fuzzer]=""
)
targets=(sock_diag_fuzzer rtnetlink_fuzzer proc_net_tcp_fuzzer cgroup_fuzzer
         proc_pid_fuzzer ctnetlink_fuzzer translation_text_fuzzer
         conntrack_event_fuzzer remediation_fuzzer
         docker_containers_fuzzer docker_tasks_fuzzer
         docker_services_fuzzer docker_networks_fuzzer docker_events_fuzzer
         ingest_fuzzer ingest_stream_fuzzer)

# Ingest seeds from tests/testdata/ingest/<stream>/*.txtpb (text protos):
# ingest_fuzzer gets each message encoded alone; ingest_stream_fuzzer gets
# each stream, its messages framed as gRPC does (a zero byte, the length as
# 4 bytes big-endian) in name order.
encode_agent_message() {
  protoc --encode=ghostpeer.v1.AgentMessage -I proto -I /usr/include \
    proto/ghostpeer/v1/ingest.proto <"$1"
}
write_ingest_seeds() {
  local target=$1 out=$2 stream file length
  for stream in "$testdata"/ingest/*/; do
    local name seed
    name=$(basename "$stream")
    seed="$out/$name"
    : >"$seed"
    for file in "$stream"*.txtpb; do
      if [[ "$target" == ingest_fuzzer ]]; then
        encode_agent_message "$file" >"$out/$name-$(basename "$file" .txtpb)"
        continue
      fi
      encode_agent_message "$file" >"$out/message.bin"
      length=$(stat -c %s "$out/message.bin")
      printf '%b' "$(printf '\\x00\\x%02x\\x%02x\\x%02x\\x%02x' \
        $((length >> 24 & 255)) $((length >> 16 & 255)) \
        $((length >> 8 & 255)) $((length & 255)))" >>"$seed"
      cat "$out/message.bin" >>"$seed"
    done
    rm -f "$out/message.bin"
    if [[ ! -s "$seed" ]]; then rm -f "$seed"; fi
  done
}
# A target built but not listed here would never run.
for binary in "$build_dir"/bin/*_fuzzer; do
  if [[ ! -v "seeds[$(basename "$binary")]" ]]; then
    echo "fuzz: $(basename "$binary") is built but not listed in $0" >&2
    exit 2
  fi
done

mkdir -p "$work/logs"
failed=()
summary=()
for target in "${targets[@]}"; do
  [[ "$target" =~ $only ]] || continue
  seed_dir="$work/seeds/$target"
  corpus="$work/corpus/$target"
  if [[ -n "$random_seed" ]]; then
    # A grown corpus would change the executions: start from the seeds only.
    corpus="$work/corpus-seeded/$target"
    rm -rf "$corpus"
  fi
  artifacts="$work/artifacts/$target"
  log="$work/logs/$target.log"
  rm -rf "$seed_dir"
  mkdir -p "$seed_dir" "$corpus" "$artifacts"
  if [[ "$target" == ingest_* ]]; then
    write_ingest_seeds "$target" "$seed_dir"
  else
    # shellcheck disable=SC2086  # a list of paths without spaces
    cp ${seeds[$target]} "$seed_dir/"
  fi
  # Inputs that once crashed a target (each has a unit test) run first.
  regressions="$testdata/fuzz/${target%_fuzzer}"
  if [[ -d "$regressions" ]]; then cp "$regressions"/* "$seed_dir/"; fi
  options=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1
           -artifact_prefix="$artifacts/")
  if [[ -n "$runs" ]]; then options+=(-runs="$runs"); fi
  if [[ -n "$seconds" ]]; then options+=(-max_total_time="$seconds"); fi
  if [[ -n "$random_seed" ]]; then options+=(-seed="$random_seed"); fi
  if [[ "$target" == docker_* ]]; then
    options+=(-dict=tests/fuzz/json.dict)
  fi
  budget=$(printf '%s' "${runs:+$runs runs, }${seconds:+${seconds}s, }${random_seed:+seed $random_seed, }")
  echo "fuzz: $target (${budget%, }), log $log"
  started=$(date +%s)
  status=0
  "$build_dir/bin/$target" "${options[@]}" "$corpus" "$seed_dir" \
    >"$log" 2>&1 || status=$?
  elapsed=$(($(date +%s) - started))
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  line=$(printf '%-26s %12s executions %8s exec/s %6ss' "$target" \
    "${executions:-?}" "${per_second:-?}" "$elapsed")
  if ((status != 0)); then
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    line+="  FAILED (exit $status${crash:+, input $crash})"
    failed+=("$target")
    # The report itself: sanitizer or FUZZ_CHECK output and the stack.
    grep -E -A30 '^==[0-9]+==ERROR|FUZZ_CHECK failed|runtime error' "$log" \
      | head -60 >&2 || true
  fi
  summary+=("$line")
  echo "$line"
done

if ((${#summary[@]} == 0)); then
  echo "fuzz: no target matches '$only': ${targets[*]}" >&2
  exit 2
fi
echo "fuzz: summary"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $work/artifacts/)" >&2
  exit 1
fi
echo "fuzz: all ${#summary[@]} targets passed"
