#!/usr/bin/env bash
# The seed failure on this swarm, and ghostpeer naming it:
#   a server service (dnsrr, so clients connect to the task's own address)
#   that closes its write side at once, a client service writing a line every
#   100 ms, then `docker service update --force` of the server: a new task on
#   a new address; the client keeps writing to the old one, and nothing
#   answers. ghostpeer reports the client within a few snapshot intervals.
#   deploy/demo.sh           run it (ghostpeer must be up: deploy/up.sh)
#   deploy/demo.sh --clean   remove the demo's services and network
set -euo pipefail
cd "$(dirname "$0")/.."
cli=${BUILD_DIR:-build}/bin/ghostpeer

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
docker network inspect gpx-demo-net >/dev/null 2>&1 ||
  docker network create -d overlay --attachable gpx-demo-net >/dev/null
docker service rm gpx-demo-cli gpx-demo-srv >/dev/null 2>&1 || true
echo "demo: server service (dnsrr) and a client writing to it every 100 ms"
docker service create -q --name gpx-demo-srv --network gpx-demo-net \
  --endpoint-mode dnsrr "$image" \
  sh -c 'while true; do nc -l -p 27017 >/dev/null </dev/null; done' >/dev/null
docker service create -q --name gpx-demo-cli --network gpx-demo-net \
  "$image" logc gpx-demo-srv 27017 >/dev/null
sleep 8
# When swarm kills the old server, its socket closes a few milliseconds
# before its network goes; a client write landing in between draws an RST
# and the client fails loudly (no ghost). Restart again when that happens.
for attempt in 1 2 3; do
  echo "demo: restarting the server: new task, new address"
  docker service update -q --force gpx-demo-srv >/dev/null
  echo "demo: waiting for ghostpeer to notice (up to 40 s)"
  found=false
  for _ in $(seq 1 20); do
    rc=0
    "$cli" check --severity critical >/dev/null 2>&1 || rc=$?
    if ((rc == 1)); then found=true; break; fi
    sleep 2
  done
  $found && break
  echo "demo: this time the dying server reset the client (no ghost); again"
done
"$cli" findings
echo
echo "The client's log shows no error at all:"
docker service logs --raw --tail 3 gpx-demo-cli 2>&1 | sed 's/^/  /'
echo
echo "Remove the demo with: deploy/demo.sh --clean"
