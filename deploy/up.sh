#!/usr/bin/env bash
# Brings ghostpeer up on a swarm, from nothing, and updates it in place when
# run again: builds the binaries and the image here, deploys the stack (an
# agent on every node, the aggregator on the manager it deploys to), waits
# until every node reports, installs the CLI as /usr/local/bin/ghostpeer and
# prints how to query it.
#
# Which swarm: the one Docker's own conventions point at. With DOCKER_HOST
# or a docker context naming a remote engine (tcp://, ssh://), that engine,
# which must be a swarm manager: nothing is started here. Otherwise this
# machine's engine: dockerd is started if none runs (apt installs it) and a
# single-node swarm (--advertise-addr 127.0.0.1) initialised if none is active.
#
#   deploy/up.sh                     deploy (or update); a multi-node swarm
#                                    needs one of the two options below
#   deploy/up.sh --registry H:P      push the image to the registry H:P and
#                                    deploy that reference (every node pulls)
#   deploy/up.sh --start-registry    run a registry on the manager (Debian's
#                                    docker-registry, port 5000 or
#                                    $GHOSTPEER_REGISTRY_PORT) and use it;
#                                    nodes' dockerd must allow it:
#                                    --insecure-registry MANAGER:5000
#   deploy/up.sh --image-on-nodes    the image (deploy/build-image.sh prints
#                                    it) is on every node already, e.g. by
#                                    docker save | docker load: deploy as is
#   deploy/up.sh --demo              then reproduce the seed failure (a client
#                                    writing to a restarted server's old
#                                    address) and show ghostpeer naming it
#   deploy/up.sh --tls               mutual TLS and a bearer token from swarm
#                                    secrets (made in /etc/ghostpeer/tls)
#   deploy/up.sh --remediation       the aggregator orders (--remediation
#                                    auto) and agents act on the orders
#                                    (deploy/stack.remediation.yml: adds
#                                    CAP_NET_ADMIN for SOCK_DESTROY)
#   deploy/up.sh --postgres          the history in PostgreSQL (Debian's,
#                                    in an image built here, its data on
#                                    the volume of the node labelled
#                                    ghostpeer.postgres=true: this manager
#                                    unless one is) and two aggregators on
#                                    the managers sharing it
#                                    (deploy/stack.postgres.yml and
#                                    stack.postgres-server.yml; the
#                                    password: /etc/ghostpeer/postgres)
#   GHOSTPEER_DB=postgresql://ghostpeer@db.example:5432/ghostpeer \
#     deploy/up.sh --postgres        the aggregators on a PostgreSQL of
#                                    yours instead; the password from the
#                                    secret ghostpeer_postgres_passfile
#                                    (README: "Several aggregators on
#                                    PostgreSQL")
#
# Environment: GHOSTPEER_AGGREGATOR (HOST:PORT the agents dial; default the
# manager's swarm address, port 7070; with --postgres and no --tls, every
# manager's, this one first: agents fail over between them),
# GHOSTPEER_INTERVAL (agent snapshot interval, 5s), GHOSTPEER_DEPLOY_WAIT_S
# (bound on the wait for reports, 180); with --postgres:
# GHOSTPEER_AGGREGATOR_REPLICAS (2), GHOSTPEER_POSTGRES_PORT (5432, on the
# database node's swarm address).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "deploy: $*"; }
die() { echo "deploy: $*" >&2; exit 1; }

demo=false
tls=false
remediation=false
postgres=false
registry=""
start_registry=false
image_on_nodes=false
while (($# > 0)); do
  case "$1" in
    --demo) demo=true ;;
    --tls) tls=true ;;
    --remediation) remediation=true ;;
    --postgres) postgres=true ;;
    --registry)
      (($# > 1)) || { echo "deploy/up.sh: --registry needs HOST:PORT" >&2; exit 2; }
      registry=$2
      shift
      ;;
    --registry=*) registry=${1#*=} ;;
    --start-registry) start_registry=true ;;
    --image-on-nodes) image_on_nodes=true ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "deploy/up.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
sources=0 # how the nodes get the image: one way at most
if [[ -n "$registry" ]]; then sources=$((sources + 1)); fi
if $start_registry; then sources=$((sources + 1)); fi
if $image_on_nodes; then sources=$((sources + 1)); fi
if ((sources > 1)); then
  echo "deploy/up.sh: --registry, --start-registry and --image-on-nodes exclude each other" >&2
  exit 2
fi
# A registry reference is HOST[:PORT] (what `docker tag` accepts before the
# first slash); anything else would make a tag nobody can pull.
if [[ -n "$registry" && ! "$registry" =~ ^[A-Za-z0-9.-]+(:[0-9]+)?$ ]]; then
  echo "deploy/up.sh: --registry '$registry' is not HOST or HOST:PORT" >&2
  exit 2
fi
# --postgres runs a PostgreSQL unless GHOSTPEER_DB names one already.
own_postgres=false
if [[ -n "${GHOSTPEER_DB:-}" ]] && ! $postgres; then
  echo "deploy/up.sh: GHOSTPEER_DB is for --postgres (several aggregators on a PostgreSQL of yours)" >&2
  exit 2
fi
if $postgres && [[ -z "${GHOSTPEER_DB:-}" ]]; then own_postgres=true; fi
if [[ $EUID -ne 0 ]]; then
  echo "deploy/up.sh: needs root (apt, dockerd, /usr/local/bin): sudo $0" >&2
  exit 2
fi

scripts/install-deps.sh --docker

# The engine Docker's conventions point at: DOCKER_HOST, else the current
# context (DOCKER_CONTEXT or `docker context use`). Only this machine's
# default socket is ours to start; any other engine must already run.
if [[ -n "${DOCKER_HOST:-}" ]]; then
  endpoint=$DOCKER_HOST
else
  endpoint=$(docker context inspect --format '{{.Endpoints.docker.Host}}' 2>/dev/null || true)
fi
case "$endpoint" in
  "" | unix:///var/run/docker.sock | unix:///run/docker.sock) remote=false ;;
  *) remote=true ;;
esac
if $remote; then
  if ! err=$(docker info --format '{{.ID}}' 2>&1 >/dev/null); then
    die "cannot reach the Docker engine at $endpoint (DOCKER_HOST / docker context): $err"
  fi
else
  scripts/docker-up.sh
fi

# The manager we deploy through: it runs the aggregator, and its swarm
# address is what agents on every node dial.
info=$(docker info --format \
  '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}} {{.Swarm.NodeAddr}} {{.Name}}')
read -r state control node_id node_addr node_name <<<"$info"
if [[ "$state" != active ]]; then
  die "the engine at $endpoint is not in a swarm (state: ${state:-unknown}); make it a manager first: docker swarm init --advertise-addr ADDRESS"
fi
if [[ "$control" != true ]]; then
  die "$node_name ($endpoint) is a swarm worker, not a manager: point DOCKER_HOST (or docker context) at a manager; 'docker node ls' on a manager lists them"
fi
# Docker's answers go into a constraint, an address and an image name:
# refuse shapes they never have.
[[ "$node_id" =~ ^[a-z0-9]+$ ]] || die "unexpected swarm node id '$node_id' from $endpoint"
[[ "$node_addr" =~ ^[0-9A-Fa-f.:]+$ ]] || die "unexpected swarm address '$node_addr' from $endpoint"
# Nodes that will run an agent: Ready and not paused or drained.
nodes=$(docker node ls --format '{{.Status}} {{.Availability}}' | grep -c '^Ready Active$' || true)
all_nodes=$(docker node ls -q | wc -l)
say "deploying to the swarm managed by $node_name ($node_addr, node $node_id) through ${endpoint:-the default socket}; $nodes of $all_nodes node(s) ready"

if ((all_nodes > 1)) && [[ -z "$registry" ]] && ! $start_registry && ! $image_on_nodes; then
  die "this swarm has $all_nodes nodes, and an image built here reaches $node_name only: the others would fail with 'No such image'. Either
    deploy/up.sh --registry HOST:PORT    push it to a registry every node can pull from
    deploy/up.sh --start-registry        run one on $node_name ($node_addr:${GHOSTPEER_REGISTRY_PORT:-5000}); every node's dockerd must then allow it: --insecure-registry $node_addr:${GHOSTPEER_REGISTRY_PORT:-5000}
    deploy/up.sh --image-on-nodes        you put the image (deploy/build-image.sh prints it) on every node yourself"
fi

image=$(deploy/build-image.sh)

# Every node needs the image. A single-node swarm has it already; more nodes
# pull it from a registry, or were given it (--image-on-nodes).
if $start_registry; then
  registry=$(deploy/registry.sh "$node_addr" "${GHOSTPEER_REGISTRY_PORT:-5000}")
fi
# push IMAGE REF: tag IMAGE as REF and push it to $registry.
push() {
  local image=$1 ref=$2 attempt push_err
  docker tag "$image" "$ref"
  say "pushing $ref"
  # A registry just started may take a moment to listen: retry briefly.
  for attempt in 1 2 3 4 5 6; do
    if push_err=$(docker push "$ref" 2>&1 >/dev/null); then break; fi
    if grep -q 'HTTP response to HTTPS client' <<<"$push_err"; then
      die "$registry is plain HTTP and $node_name's dockerd does not allow it: start every node's dockerd with --insecure-registry $registry (or add it to \"insecure-registries\" in /etc/docker/daemon.json and restart dockerd), then run deploy/up.sh again"
    fi
    if ((attempt == 6)); then
      echo "$push_err" | tail -n 3 | sed 's/^/  /' >&2
      die "cannot push to $registry from $node_name (is it running and reachable from the manager?)"
    fi
    sleep 2
  done
}
# A node's swarm address. A manager may report 0.0.0.0 as its status
# address; its manager address is then the one.
swarm_address() {
  local addr
  addr=$(docker node inspect --format '{{.Status.Addr}}' "$1")
  if [[ "$addr" == 0.0.0.0 ]]; then
    addr=$(docker node inspect --format '{{if .ManagerStatus}}{{.ManagerStatus.Addr}}{{end}}' "$1")
    addr=${addr%:*}
    addr=${addr#[}
    addr=${addr%]}
  fi
  [[ "$addr" =~ ^[0-9A-Fa-f.:]+$ && "$addr" != 0.0.0.0 ]] ||
    die "unexpected swarm address '$addr' of node $1"
  echo "$addr"
}
if $own_postgres; then
  postgres_image=$(deploy/postgres/build-image.sh)
fi
if [[ -n "$registry" ]]; then
  ref="$registry/$image"
  push "$image" "$ref"
  if $own_postgres; then
    postgres_ref="$registry/$postgres_image"
    push "$postgres_image" "$postgres_ref"
  fi
  # The registry can tell each node the digest: pin it, so every node runs
  # the same bytes.
  resolve=(--resolve-image always)
else
  ref=$image
  postgres_ref=${postgres_image:-}
  # A locally imported image is in no registry: asking one only warns.
  resolve=(--resolve-image never)
fi

aggregator_chosen=${GHOSTPEER_AGGREGATOR:+yes}
export GHOSTPEER_AGGREGATOR=${GHOSTPEER_AGGREGATOR:-$node_addr:7070}
if [[ "$node_addr" == *:* && "$GHOSTPEER_AGGREGATOR" == "$node_addr:7070" ]]; then
  export GHOSTPEER_AGGREGATOR="[$node_addr]:7070"
fi

stack_files=(-c deploy/stack.yml)
cli_args=()
if $tls; then
  tls_dir=/etc/ghostpeer/tls
  # The certificate must name what the agents dial (the manager's address,
  # or the host of GHOSTPEER_AGGREGATOR).
  agg_host=${GHOSTPEER_AGGREGATOR%:*}
  agg_host=${agg_host#[}
  agg_host=${agg_host%]}
  deploy/tls/make-certs.sh "$tls_dir" "$agg_host"
  if [[ "$agg_host" =~ ^[0-9.]+$ || "$agg_host" == *:* ]]; then check=-checkip; else check=-checkhost; fi
  if ! openssl x509 -in "$tls_dir/aggregator.pem" -noout "$check" "$agg_host" | grep -q ' does match'; then
    die "$tls_dir/aggregator.pem does not name $agg_host, which the agents dial: it was made for another address. Remove the stack (deploy/down.sh), the secrets ghostpeer_aggregator_cert and ghostpeer_aggregator_key (docker secret rm) and $tls_dir/aggregator*.pem, then run deploy/up.sh --tls again"
  fi
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
if $remediation; then
  stack_files+=(-c deploy/stack.remediation.yml)
fi
# The single aggregator stays on this manager, beside its database file.
aggregator_constraint="node.id == $node_id"
if $postgres; then
  export GHOSTPEER_AGGREGATOR_REPLICAS=${GHOSTPEER_AGGREGATOR_REPLICAS:-2}
  [[ "$GHOSTPEER_AGGREGATOR_REPLICAS" =~ ^[1-9][0-9]?$ ]] ||
    die "GHOSTPEER_AGGREGATOR_REPLICAS '$GHOSTPEER_AGGREGATOR_REPLICAS' is not 1-99"
  pg_dir=/etc/ghostpeer/postgres
  if $own_postgres; then
    # The node that keeps the database: the one labelled, else this
    # manager. Its volume is local to it, so the label, once set, stays.
    pg_node=$(docker node ls -q --filter node.label=ghostpeer.postgres=true)
    if [[ -z "$pg_node" ]]; then
      docker node update --label-add ghostpeer.postgres=true "$node_id" >/dev/null
      pg_node=$node_id
      say "labelled $node_name ghostpeer.postgres=true: PostgreSQL keeps its data there"
    fi
    [[ "$pg_node" =~ ^[a-z0-9]+$ ]] ||
      die "several nodes are labelled ghostpeer.postgres=true ($(tr '\n' ' ' <<<"$pg_node")); the database's volume is on one of them: remove the label from the others (docker node update --label-rm ghostpeer.postgres NODE)"
    # Its swarm address: where PostgreSQL listens, and what --db names.
    pg_addr=$(swarm_address "$pg_node") || exit 1
    pg_port=${GHOSTPEER_POSTGRES_PORT:-5432}
    if ! [[ "$pg_port" =~ ^[0-9]+$ ]] || ((pg_port < 1 || pg_port > 65535)); then
      die "GHOSTPEER_POSTGRES_PORT '$pg_port' is not 1-65535"
    fi
    # Who may log in: the swarm's nodes (where aggregators may run), each
    # by its one address. A node that joins later needs deploy/up.sh again.
    clients=""
    for node in $(docker node ls -q); do
      addr=$(swarm_address "$node") || exit 1
      if [[ "$addr" == *:* ]]; then clients+=" $addr/128"; else clients+=" $addr/32"; fi
    done
    # The password, made once: a libpq passfile, which is also what the
    # aggregators read (PGPASSFILE), as a swarm secret. The database keeps
    # the password it was first started with.
    if [[ ! -s "$pg_dir/passfile" ]]; then
      install -d -m 0700 "$pg_dir"
      (
        umask 077
        echo "*:*:ghostpeer:ghostpeer:$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
          >"$pg_dir/passfile"
      )
      say "made the database password: $pg_dir/passfile"
    fi
    pg_host=$pg_addr
    [[ "$pg_host" == *:* ]] && pg_host="[$pg_host]"
    export GHOSTPEER_DB="postgresql://ghostpeer@$pg_host:$pg_port/ghostpeer"
    export GHOSTPEER_POSTGRES_IMAGE=$postgres_ref GHOSTPEER_POSTGRES_ADDR=$pg_addr
    export GHOSTPEER_POSTGRES_PORT=$pg_port GHOSTPEER_POSTGRES_CLIENTS=${clients# }
    stack_files+=(-c deploy/stack.postgres.yml -c deploy/stack.postgres-server.yml)
  else
    # A PostgreSQL of the operator's: the password comes from the secret,
    # never from the URI, which the service spec and `ps` would show.
    [[ "$GHOSTPEER_DB" =~ ^postgres(ql)?:// ]] ||
      die "GHOSTPEER_DB '$GHOSTPEER_DB' is not a postgresql:// URI"
    [[ ! "$GHOSTPEER_DB" =~ ^postgres(ql)?://[^/@]*:[^/@]*@ ]] ||
      die "GHOSTPEER_DB has a password: leave it out, and put it in the secret ghostpeer_postgres_passfile (README, \"Several aggregators on PostgreSQL\")"
    stack_files+=(-c deploy/stack.postgres.yml)
  fi
  # A secret cannot change: made once, from the passfile.
  if ! docker secret inspect ghostpeer_postgres_passfile >/dev/null 2>&1; then
    [[ -s "$pg_dir/passfile" ]] ||
      die "no secret ghostpeer_postgres_passfile and no $pg_dir/passfile: write the role's password there as a libpq passfile line, *:*:DATABASE:ROLE:PASSWORD (mode 0600), and run deploy/up.sh --postgres again"
    docker secret create ghostpeer_postgres_passfile "$pg_dir/passfile" >/dev/null
  fi
  say "aggregators on $GHOSTPEER_DB (password: secret ghostpeer_postgres_passfile)"
  db_where=$GHOSTPEER_DB
  if $own_postgres; then db_where="PostgreSQL on $pg_addr:$pg_port"; fi
  # The aggregators hold no file: any manager will do.
  aggregator_constraint="node.role == manager"
  # With several managers, agents (and the CLI) are given every manager,
  # this one first, and move to the next when one does not answer. Not
  # with --tls: the aggregator's certificate names this manager only.
  managers=$(docker node ls -q --filter role=manager)
  if [[ -z "$aggregator_chosen" ]] && ! $tls && (($(wc -w <<<"$managers") > 1)); then
    for manager in $managers; do
      [[ "$manager" == "$node_id" ]] && continue
      addr=$(swarm_address "$manager") || exit 1
      [[ "$addr" == *:* ]] && addr="[$addr]"
      GHOSTPEER_AGGREGATOR+=",$addr:7070"
    done
  fi
fi

tasks_before=$(docker service ps -q --no-trunc ghostpeer_agent 2>/dev/null || true)
tasks_before=${tasks_before:-none}
if $postgres; then
  say "deploying stack 'ghostpeer' with $ref; ${GHOSTPEER_AGGREGATOR_REPLICAS:-2} aggregators on the managers, $db_where; agents dial $GHOSTPEER_AGGREGATOR"
else
  say "deploying stack 'ghostpeer' with $ref; aggregator on $node_name, agents dial $GHOSTPEER_AGGREGATOR"
fi
# Newer docker CLIs warn unless told not to wait for convergence; the wait
# below is ours (it names the nodes that cannot pull).
detach=()
if docker stack deploy --help 2>/dev/null | grep -q -- '--detach'; then detach=(--detach=true); fi
# --prune: a service the files no longer name goes (the database, when
# --postgres is left out again; the aggregator goes back to its file).
GHOSTPEER_IMAGE=$ref GHOSTPEER_AGGREGATOR_CONSTRAINT=$aggregator_constraint \
  docker stack deploy "${detach[@]}" --prune "${resolve[@]}" "${stack_files[@]}" ghostpeer

# The CLI on the PATH, as the README and the hints below call it.
cli=${BUILD_DIR:-build}/bin/ghostpeer
if ! cmp -s "$cli" /usr/local/bin/ghostpeer; then
  install -m 0755 "$cli" /usr/local/bin/ghostpeer
  say "installed the CLI as /usr/local/bin/ghostpeer"
fi
cli_args=(--server "$GHOSTPEER_AGGREGATOR" "${cli_args[@]}")

# A node that cannot get the image never starts its agent: say which, and
# why, instead of waiting out the deadline. Only tasks of this deployment
# count (an earlier failed one leaves rejected tasks behind).
pull_failures() {
  docker service ps ghostpeer_agent --no-trunc \
    --format '{{.ID}}|{{.Node}}|{{.Image}}|{{.Error}}' 2>/dev/null |
    grep -vF -f <(echo "$tasks_before") |
    awk -F'|' -v ref="$ref" \
      'index($3, ref) == 1 && $4 ~ /No such image|pull|manifest|HTTPS client/ {print $2 ": " $4}' |
    sort -u || true
}

# A rolling update still under way: agents of the old image report too.
updating() {
  local service state
  for service in ghostpeer_agent ghostpeer_aggregator ghostpeer_postgres; do
    state=$(docker service inspect --format \
      '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$service" 2>/dev/null || true)
    case "$state" in
      updating | rollback_started) return 0 ;;
      paused | rollback_paused)
        die "the update of $service stopped ($state): docker service ps $service --no-trunc" ;;
    esac
  done
  return 1
}

# Every node of the swarm must report before we call it up.
wait_s=${GHOSTPEER_DEPLOY_WAIT_S:-180}
say "waiting for $nodes node(s) to report (up to $wait_s s)"
started=$SECONDS
sleep 2 # the swarm marks an update as started a moment after the deploy
deadline=$((SECONDS + wait_s))
while :; do
  reporting=$("$cli" "${cli_args[@]}" nodes -o json 2>/dev/null |
    grep -o '"connected": *true' | wc -l || true)
  if ((reporting >= nodes)) && ! updating; then break; fi
  failed=$(pull_failures)
  if [[ -n "$failed" ]]; then
    echo "$failed" | sed 's/^/  /' >&2
    if [[ -n "$registry" ]]; then
      die "these nodes cannot pull $ref. If $registry is plain HTTP, every node's dockerd must allow it: --insecure-registry $registry (or \"insecure-registries\" in /etc/docker/daemon.json, then restart dockerd); a dockerd with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 in its environment never pulls for services. Then run deploy/up.sh again"
    fi
    die "these nodes do not have $image: put it there (docker save | docker load) or deploy with --registry HOST:PORT or --start-registry"
  fi
  if ((SECONDS > deadline)); then
    echo "deploy: only $reporting of $nodes node(s) report after $wait_s s." >&2
    echo "  docker service ps ghostpeer_agent ghostpeer_aggregator --no-trunc" >&2
    echo "  docker service logs ghostpeer_agent" >&2
    exit 1
  fi
  sleep 2
done
say "$nodes node(s) report after $((SECONDS - started)) s"
"$cli" "${cli_args[@]}" nodes

# The hints name the aggregator only when the CLI's default would miss it.
hint=ghostpeer
if $tls; then
  hint="$hint ${cli_args[*]:2}"
fi
# The page: the aggregator's --http-listen port (9470 in stack.yml), on the
# host the agents dial.
first_aggregator=${GHOSTPEER_AGGREGATOR%%,*}
web_url="http://${first_aggregator%:*}:9470/"
echo
if $postgres; then
  echo "ghostpeer is up: an agent on each of $nodes node(s), ${GHOSTPEER_AGGREGATOR_REPLICAS:-2} aggregators on the managers sharing $db_where; agents and the CLI reach them at $GHOSTPEER_AGGREGATOR."
else
  echo "ghostpeer is up: an agent on each of $nodes node(s), the aggregator on $node_name ($GHOSTPEER_AGGREGATOR)."
fi
echo "The page: $web_url (findings live, address timelines, nodes)"
rows=()
if [[ "$GHOSTPEER_AGGREGATOR" != 127.0.0.1:7070 ]]; then
  rows+=("export GHOSTPEER_SERVER=$GHOSTPEER_AGGREGATOR" "where the CLI finds the aggregator")
fi
rows+=(
  "$hint findings" "clients writing to vanished peers"
  "$hint watch" "follow findings as they open and resolve"
  "$hint check" "exit 1 when critical findings are open (for scripts)"
  "$hint history 10.0.1.6" "who held an address, and when"
  "deploy/down.sh" "remove the stack")
width=0
for ((i = 0; i < ${#rows[@]}; i += 2)); do
  ((${#rows[i]} > width)) && width=${#rows[i]}
done
((width > 36)) && width=36 # long TLS commands: no column then
for ((i = 0; i < ${#rows[@]}; i += 2)); do
  printf '  %-*s  %s\n' "$width" "${rows[i]}" "${rows[i + 1]}"
done

if $demo; then
  GHOSTPEER_REGISTRY=$registry GHOSTPEER_CLI_ARGS="${cli_args[*]}" \
    GHOSTPEER_WEB_URL=$web_url deploy/demo.sh
fi
