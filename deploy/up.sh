#!/usr/bin/env bash
# Brings ghostpeer up on this machine's swarm, from nothing:
#   installs what is missing (apt), starts dockerd if none runs, initialises
#   a single-node swarm (--advertise-addr 127.0.0.1) if none is active,
#   builds the binaries and the image, deploys the stack (agent on every
#   node, aggregator on a manager), waits until every node reports, and
#   prints how to query it. Running it again updates the stack in place.
#
#   deploy/up.sh            deploy (or update)
#   deploy/up.sh --demo     then reproduce the seed failure (a client writing
#                           to a restarted server's old address) and show
#                           ghostpeer naming it; deploy/demo.sh --clean removes it
set -euo pipefail
cd "$(dirname "$0")/.."
demo=false
for arg in "$@"; do
  case "$arg" in
    --demo) demo=true ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deploy/up.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
if [[ $EUID -ne 0 ]]; then
  echo "deploy/up.sh: needs root (apt, dockerd, swarm): sudo $0" >&2
  exit 2
fi

scripts/install-deps.sh --docker
scripts/docker-up.sh
image=$(deploy/build-image.sh)

echo "deploy: deploying stack 'ghostpeer' with $image"
GHOSTPEER_IMAGE=$image docker stack deploy --resolve-image never \
  -c deploy/stack.yml ghostpeer

# Every node of the swarm must report before we call it up.
nodes=$(docker node ls -q | wc -l)
echo "deploy: waiting for $nodes node(s) to report (up to 180 s)"
cli=build/bin/ghostpeer
deadline=$((SECONDS + 180))
while :; do
  reporting=$("$cli" nodes -o json 2>/dev/null |
    grep -o '"connected": *true' | wc -l || true)
  if ((reporting >= nodes)); then break; fi
  if ((SECONDS > deadline)); then
    echo "deploy: only $reporting of $nodes node(s) report after 180 s." >&2
    echo "  docker service ps ghostpeer_agent ghostpeer_aggregator --no-trunc" >&2
    echo "  docker service logs ghostpeer_agent" >&2
    exit 1
  fi
  sleep 2
done
"$cli" nodes
cat <<EOT

ghostpeer is up: an agent on each of $nodes node(s), the aggregator on port 7070.
  $cli findings            clients writing to vanished peers
  $cli watch               follow findings as they open and resolve
  $cli check               exit 1 when critical findings are open (for scripts)
  $cli history 10.0.1.6    who held an address, and when
  deploy/down.sh           remove the stack
EOT

if $demo; then
  deploy/demo.sh
fi
