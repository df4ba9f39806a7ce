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
#   deploy/up.sh --tls      mutual TLS and a bearer token from swarm secrets
#                           (certificates made in /etc/ghostpeer/tls if absent)
set -euo pipefail
cd "$(dirname "$0")/.."
demo=false
tls=false
for arg in "$@"; do
  case "$arg" in
    --demo) demo=true ;;
    --tls) tls=true ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

stack_files=(-c deploy/stack.yml)
cli_args=()
if $tls; then
  tls_dir=/etc/ghostpeer/tls
  deploy/tls/make-certs.sh "$tls_dir"
  # name:file pairs; a swarm secret cannot change, so create only missing ones.
  for pair in ghostpeer_ca:ca.pem ghostpeer_token:token \
      ghostpeer_agent_cert:agent.pem ghostpeer_agent_key:agent-key.pem \
      ghostpeer_aggregator_cert:aggregator.pem \
      ghostpeer_aggregator_key:aggregator-key.pem; do
    name=${pair%%:*}
    docker secret inspect "$name" >/dev/null 2>&1 ||
      docker secret create "$name" "$tls_dir/${pair#*:}" >/dev/null
  done
  stack_files+=(-c deploy/stack.tls.yml)
  cli_args=(--tls-ca "$tls_dir/ca.pem" --tls-cert "$tls_dir/cli.pem"
            --tls-key "$tls_dir/cli-key.pem" --token-file "$tls_dir/token")
fi
echo "deploy: deploying stack 'ghostpeer' with $image"
GHOSTPEER_IMAGE=$image docker stack deploy --resolve-image never \
  "${stack_files[@]}" ghostpeer

# Every node of the swarm must report before we call it up.
nodes=$(docker node ls -q | wc -l)
echo "deploy: waiting for $nodes node(s) to report (up to 180 s)"
cli=${BUILD_DIR:-build}/bin/ghostpeer
deadline=$((SECONDS + 180))
while :; do
  reporting=$("$cli" "${cli_args[@]}" nodes -o json 2>/dev/null |
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
"$cli" "${cli_args[@]}" nodes
if $tls; then
  cli="$cli ${cli_args[*]}"
fi
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
