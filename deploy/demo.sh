#!/usr/bin/env bash
# The seed failure on this swarm, and ghostpeer naming it:
#   a server service (dnsrr, so clients connect to the task's own address)
#   that closes its write side at once, a client service writing a line every
#   100 ms, then `docker service update --force` of the server: a new task on
#   a new address; the client keeps writing to the old one, and nothing
#   answers. ghostpeer reports the client within a few snapshot intervals;
#   with remediation on (deploy/up.sh --remediation) the client's agent then
#   destroys the ghost socket, the client's write fails and it reconnects to
#   the new task (its log shows both).
#
#   deploy/demo.sh           run it (ghostpeer must be up: deploy/up.sh)
#   deploy/demo.sh --clean   remove the demo's services and network
#
# The client runs on the manager the docker CLI points at (it is paused and
# its log read there). With GHOSTPEER_REGISTRY (deploy/up.sh --demo passes
# its registry) the demo image is pushed there and, on a multi-node swarm,
# the server runs on another node than the client: the cross-node case.
# GHOSTPEER_CLI_ARGS: extra arguments for the CLI (--server, TLS); without
# it or GHOSTPEER_SERVER, the CLI asks the manager's address, port 7070.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v ghostpeer >/dev/null 2>&1; then cli=ghostpeer; else cli=${BUILD_DIR:-build}/bin/ghostpeer; fi
read -r -a cli_args <<<"${GHOSTPEER_CLI_ARGS:-}"

clean() {
  docker service rm gpx-demo-cli gpx-demo-srv >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do
    docker ps -q -f name=gpx-demo- | grep -q . || break
    sleep 1
  done
  docker network rm gpx-demo-net >/dev/null 2>&1 || true
}
if [[ "${1:-}" == "--clean" ]]; then clean; echo "demo: removed"; exit 0; fi

image=$(deploy/demo/build-image.sh)
read -r manager manager_addr <<<"$(docker info --format '{{.Swarm.NodeID}} {{.Swarm.NodeAddr}}')"
[[ "$manager" =~ ^[a-z0-9]+$ ]] || { echo "demo: not on a swarm manager" >&2; exit 1; }
# Run on its own, the demo asks the aggregator where deploy/up.sh puts it:
# on this manager.
if [[ -z "${GHOSTPEER_CLI_ARGS:-}" && -z "${GHOSTPEER_SERVER:-}" &&
      "$manager_addr" =~ ^[0-9.]+$ ]]; then
  cli_args=(--server "$manager_addr:7070")
fi
# A locally imported image is in no registry: say so, so that docker does
# not try and warn about it.
resolve=(--no-resolve-image)
server_place=(--constraint "node.id == $manager")
if [[ -n "${GHOSTPEER_REGISTRY:-}" ]]; then
  docker tag "$image" "$GHOSTPEER_REGISTRY/$image"
  docker push "$GHOSTPEER_REGISTRY/$image" >/dev/null
  image="$GHOSTPEER_REGISTRY/$image"
  resolve=()
  if (($(docker node ls -q | wc -l) > 1)); then
    server_place=(--constraint "node.id != $manager")
  fi
fi
docker network inspect gpx-demo-net >/dev/null 2>&1 ||
  docker network create -d overlay --attachable gpx-demo-net >/dev/null
docker service rm gpx-demo-cli gpx-demo-srv >/dev/null 2>&1 || true
echo "demo: server service (dnsrr) and a client writing to it every 100 ms"
docker service create -q "${resolve[@]}" --name gpx-demo-srv \
  --network gpx-demo-net --endpoint-mode dnsrr "${server_place[@]}" "$image" \
  sh -c 'while true; do nc -l -p 27017 >/dev/null </dev/null; done' >/dev/null
docker service create -q "${resolve[@]}" --name gpx-demo-cli \
  --network gpx-demo-net --constraint "node.id == $manager" \
  "$image" logc gpx-demo-srv 27017 >/dev/null

# The client's container (this task's), once it has connected.
client=""
for _ in $(seq 1 60); do
  client=$(docker ps -q --filter label=com.docker.swarm.service.name=gpx-demo-cli | head -n 1)
  if [[ -n "$client" ]] && docker logs "$client" 2>&1 | grep -q 'logc: connected'; then break; fi
  client=""
  sleep 1
done
[[ -n "$client" ]] || { echo "demo: the client did not connect within 60 s" >&2; exit 1; }
sleep 6 # a snapshot or two of the healthy connection

# When swarm stops the old server, its socket closes a few milliseconds
# before its address goes; a client write landing in between would draw an
# RST and fail the client loudly (no ghost). Frozen across the restart, the
# client writes only once the old address is nobody's.
echo "demo: freezing the client (docker pause) and restarting the server: new task, new address"
docker pause "$client" >/dev/null
trap 'docker unpause "$client" >/dev/null 2>&1 || true' EXIT
docker service update -q --force "${resolve[@]}" gpx-demo-srv >/dev/null
docker unpause "$client" >/dev/null
trap - EXIT
echo "demo: the client writes on; waiting for ghostpeer to notice (up to 40 s)"
found=false
for _ in $(seq 1 20); do
  rc=0
  "$cli" "${cli_args[@]}" check --severity critical >/dev/null 2>&1 || rc=$?
  if ((rc == 1)); then found=true; break; fi
  sleep 2
done
"$cli" "${cli_args[@]}" findings
if [[ -n "${GHOSTPEER_WEB_URL:-}" ]]; then
  echo
  echo "See it on the page: $GHOSTPEER_WEB_URL (the finding live; its peer's link draws who held the address, and the gap)"
fi
echo
# With remediation on (deploy/up.sh --remediation), the client's agent
# destroys the ghost socket: logc's next write fails, and its reconnect
# logic finds the server's new task.
recovered=false
if $found; then
  echo "demo: waiting for the client to recover (remediation on; up to 30 s)"
  for _ in $(seq 1 15); do
    if docker logs "$client" 2>&1 | grep -q 'logc: connected to .* again'; then
      recovered=true
      break
    fi
    sleep 2
  done
  "$cli" "${cli_args[@]}" remediations 2>/dev/null || true
  echo
fi
log=$(docker logs --tail 4 "$client" 2>&1)
if $recovered; then
  echo "The client's log shows the error remediation gave it, and its reconnect:"
elif grep -q 'logc: write' <<<"$log"; then
  echo "The client's log shows the write failing (its peer answered, so no ghost):"
else
  echo "The client's log shows no error at all (remediation off or dry-run;" \
    "deploy/up.sh --remediation turns it on):"
fi
sed 's/^/  /' <<<"$log"
echo
if ! $found; then
  echo "demo: ghostpeer named no critical finding within 40 s: $cli ${cli_args[*]} nodes," \
    "docker service logs ghostpeer_agent" >&2
fi
echo "Remove the demo with: deploy/demo.sh --clean"
$found
