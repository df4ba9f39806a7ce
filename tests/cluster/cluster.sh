#!/usr/bin/env bash
# A multi-node Docker swarm on this one machine, for tests: N containers on a
# bridge network of their own, each running its own dockerd (Docker in
# Docker), node 1 the manager, the others workers.
#
#   tests/cluster/cluster.sh up N          start N nodes (gp-node-1..N) and a
#                                          swarm over them; prints how to reach
#                                          the manager. Again with the same N on
#                                          a healthy cluster: changes nothing.
#   tests/cluster/cluster.sh down          remove everything `up` made, by name
#                                          (idempotent); the node image stays,
#                                          a cache (docker rmi gp-cluster-node:TAG)
#   tests/cluster/cluster.sh status        the node containers and the swarm's
#                                          node table
#   tests/cluster/cluster.sh exec NODE CMD...
#                                          run CMD on a node (NODE: 2 or
#                                          gp-node-2), e.g. `exec 1 docker ps`
#   tests/cluster/cluster.sh load IMAGE... copy local images into every node
#                                          (docker save | docker load; skipped
#                                          on nodes that already have them)
#   tests/cluster/cluster.sh poweroff NODE a power loss: cut the node's link
#                                          first (no FIN or RST escapes), then
#                                          kill its container
#   tests/cluster/cluster.sh image         build the node image only; prints it
#
# Reaching the swarm from this machine: DOCKER_HOST=tcp://<manager>:2375
# docker node ls (the address is printed by `up` and `status`; plain TCP,
# reachable only on the test bridge).
#
# The node image is built once from Debian 12 packages only (debootstrap
# from the mirror apt already uses, then `docker import`), tagged by a hash
# of its recipe, so a changed recipe builds a new one. Needs root and a
# running dockerd; installs debootstrap with apt if it is missing.
#
# Environment (defaults in brackets):
#   GP_CLUSTER_SUBNET   the test bridge, a /24 [172.31.240.0/24]; node K is
#                       .(10+K), the host side .1
#   GP_CLUSTER_POOL     the swarm's overlay address pool [100.80.0.0/16];
#                       each node's local networks come from 100.64.K.0/24
#   GP_CLUSTER_WAIT_S   bound on each wait [90]
# Names: containers gp-node-K, network gp-cluster-net, volumes
# gp-node-K-docker, image gp-cluster-node:<hash>. The ranges avoid Docker's
# defaults (172.17-30.0.0/16, 192.168.0.0/16, 10.0.0.0/8) so that a host
# engine and its swarm never hand out the same addresses: ghostpeer on the
# host sees every network namespace of the machine, nested ones included.
set -euo pipefail

readonly network=gp-cluster-net
readonly subnet=${GP_CLUSTER_SUBNET:-172.31.240.0/24}
readonly pool=${GP_CLUSTER_POOL:-100.80.0.0/16}
readonly wait_s=${GP_CLUSTER_WAIT_S:-90}
readonly prefix=${subnet%.*}
readonly packages=(docker.io tini iproute2 iptables ca-certificates procps)
# Cgroups are shared by every engine of the machine (the nodes run with
# --cgroupns=host), also by a cluster nested in a container: a per-machine
# parent keeps two clusters' cgroups apart.
cgroup_root="gp-cluster.$(hostname)"
readonly cgroup_root

say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

node_name() {
  local node=$1
  if [[ "$node" =~ ^[0-9]+$ ]]; then node="gp-node-$node"; fi
  [[ "$node" =~ ^gp-node-[0-9]+$ ]] ||
    die "no such node '$1': give its number (2) or its name (gp-node-2)"
  echo "$node"
}
node_index() { echo "${1#gp-node-}"; }
node_addr() { echo "$prefix.$((10 + $(node_index "$1")))"; }

# The node containers this script made, in order (running or not).
nodes() {
  docker ps -a --filter label=ghostpeer.cluster=node --format '{{.Names}}' |
    grep -E '^gp-node-[0-9]+$' | sort -t- -k3 -n || true
}

# The last lines of a node's dockerd log (its container's output).
log_tail() {
  echo "--- last lines of $1's dockerd log (docker logs $1):" >&2
  docker logs --tail 25 "$1" 2>&1 | sed 's/^/  /' >&2 || true
}

need_root_and_docker() {
  [[ $EUID -eq 0 ]] || die "needs root (dockerd, debootstrap): sudo $0 $*"
  docker info >/dev/null 2>&1 ||
    die "no dockerd answers here (scripts/docker-up.sh starts one)"
}

# --- the node image ---------------------------------------------------------

debian_mirror() {
  local mirror=""
  if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
    mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [[ -z "$mirror" && -r /etc/apt/sources.list ]]; then
    mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm/ { print $2; exit }' /etc/apt/sources.list)
  fi
  [[ -n "$mirror" ]] ||
    die "no Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  echo "$mirror"
}

build_node_image() {
  local image=$1 mirror root log
  mirror=$(debian_mirror)
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends debootstrap >/dev/null
  fi
  root=$(mktemp -d /tmp/gp-cluster-root.XXXXXX)
  log=$(mktemp /tmp/gp-cluster-debootstrap.XXXXXX.log)
  say "building $image: debootstrap bookworm from $mirror (a few minutes, once)"
  if ! debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
      bookworm "$root" "$mirror" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -rf "$root"
    die "debootstrap failed (log: $log)"
  fi
  # Nothing the image needs at run time: the downloaded packages and lists.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENTRYPOINT ["/usr/bin/tini", "--"]' - "$image" >/dev/null
  rm -rf "$root" "$log"
  say "built $image"
}

# The image's tag is a hash of what makes it: a changed package list or
# build step yields a new image; an unchanged one is reused.
node_image() {
  local tag image
  tag=$( (echo "${packages[*]}"; declare -f build_node_image) | sha256sum | cut -c1-12)
  image="gp-cluster-node:$tag"
  docker image inspect "$image" >/dev/null 2>&1 || build_node_image "$image"
  echo "$image"
}

# --- up ---------------------------------------------------------------------

# Whether `ip route` already has a route overlapping the test subnet that is
# not our own network's bridge.
check_subnet_free() {
  if docker network inspect "$network" >/dev/null 2>&1; then return 0; fi
  local clash
  clash=$(ip -4 route show to match "$prefix.1" 2>/dev/null | grep -v '^default' || true)
  [[ -z "$clash" ]] ||
    die "the test subnet $subnet clashes with a route here: '$clash' (set GP_CLUSTER_SUBNET)"
}

start_node() {
  local name=$1 image=$2 k addr
  k=$(node_index "$name")
  addr=$(node_addr "$name")
  docker volume create --label ghostpeer.cluster=node "$name-docker" >/dev/null
  # --privileged fails on machines whose bounding set lacks CAP_SYS_RESOURCE;
  # these flags are what dockerd and a swarm need (NOTES-linux-docker.md §8).
  # The tcp listener is on the test bridge only; --tls=false says so
  # explicitly, which spares dockerd's 15 s "insecure" start-up delay.
  docker run -d --name "$name" --hostname "$name" \
    --label ghostpeer.cluster=node \
    --network "$network" --ip "$addr" \
    --cap-add=ALL --cap-drop=SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined \
    --device /dev/net/tun --cgroupns=host \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /tmp \
    -v "$name-docker:/var/lib/docker" \
    -e DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
    "$image" dockerd \
    -H unix:///var/run/docker.sock -H "tcp://$addr:2375" --tls=false \
    --cgroup-parent="/$cgroup_root/$name" \
    --default-address-pool "base=100.64.$k.0/24,size=27" \
    >/dev/null
}

wait_dockerd() {
  local name=$1 i
  for ((i = 0; i < wait_s * 2; i++)); do
    if docker exec "$name" docker info >/dev/null 2>&1; then return 0; fi
    if [[ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]]; then
      log_tail "$name"
      die "$name's dockerd exited"
    fi
    sleep 0.5
  done
  log_tail "$name"
  die "$name's dockerd did not answer within ${wait_s}s"
}

ready_count() {
  docker exec gp-node-1 docker node ls --format '{{.Status}}' 2>/dev/null |
    grep -cx Ready || true
}

up() {
  local n=${1:-}
  [[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 50)) ||
    die "up takes the number of nodes, 1 to 50: up 3"
  need_root_and_docker up "$n"
  local existing
  existing=$(nodes | wc -l)
  if ((existing > 0)); then
    if ((existing == n)) && [[ "$(ready_count)" == "$n" ]]; then
      say "$n nodes already up"
      status
      return 0
    fi
    die "a cluster of $existing node(s) exists already (not $n Ready): run '$0 down' first"
  fi
  check_subnet_free
  local image start=$SECONDS
  image=$(node_image)
  docker network inspect "$network" >/dev/null 2>&1 ||
    docker network create --driver bridge --subnet "$subnet" \
      --gateway "$prefix.1" --label ghostpeer.cluster=node "$network" >/dev/null
  local k
  for ((k = 1; k <= n; k++)); do start_node "gp-node-$k" "$image"; done
  for ((k = 1; k <= n; k++)); do wait_dockerd "gp-node-$k"; done

  local manager
  manager=$(node_addr gp-node-1)
  docker exec gp-node-1 docker swarm init --advertise-addr "$manager" \
    --listen-addr "$manager:2377" --default-addr-pool "$pool" \
    --default-addr-pool-mask-length 24 >/dev/null ||
    { log_tail gp-node-1; die "swarm init on gp-node-1 failed"; }
  local token
  token=$(docker exec gp-node-1 docker swarm join-token -q worker)
  for ((k = 2; k <= n; k++)); do
    docker exec "gp-node-$k" docker swarm join --token "$token" \
      --advertise-addr "$(node_addr "gp-node-$k")" "$manager:2377" >/dev/null ||
      { log_tail "gp-node-$k"; die "gp-node-$k could not join the swarm"; }
  done
  local i ready=0
  for ((i = 0; i < wait_s; i++)); do
    ready=$(ready_count)
    ((ready == n)) && break
    sleep 1
  done
  if ((ready != n)); then
    docker exec gp-node-1 docker node ls >&2 || true
    log_tail gp-node-1
    die "only $ready of $n nodes Ready after ${wait_s}s"
  fi
  say "$n nodes Ready in $((SECONDS - start)) s"
  status
}

# --- down, status, exec, load, poweroff -----------------------------------

down() {
  [[ $EUID -eq 0 ]] || die "needs root: sudo $0 down"
  local name
  for name in $(nodes); do
    docker rm -f -v "$name" >/dev/null 2>&1 || true
  done
  if docker network inspect "$network" >/dev/null 2>&1; then
    docker network rm "$network" >/dev/null
  fi
  for name in $(docker volume ls -q --filter label=ghostpeer.cluster=node |
      grep -E '^gp-node-[0-9]+-docker$' || true); do
    docker volume rm "$name" >/dev/null
  done
  # The nodes' containers' cgroups (empty now that the nodes are gone),
  # deepest first.
  local dir
  for dir in /sys/fs/cgroup/*/"$cgroup_root" /sys/fs/cgroup/"$cgroup_root"; do
    [[ -d "$dir" ]] || continue
    find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  say "down: nothing left"
}

status() {
  local list
  list=$(nodes)
  if [[ -z "$list" ]]; then
    say "no cluster (tests/cluster/cluster.sh up 3)"
    return 0
  fi
  local name
  for name in $list; do
    printf '%-12s %-16s %s\n' "$name" "$(node_addr "$name")" \
      "$(docker inspect -f '{{.State.Status}}' "$name")"
  done
  echo
  docker exec gp-node-1 docker node ls 2>/dev/null || say "gp-node-1 answers no 'docker node ls'"
  echo
  echo "manager: export DOCKER_HOST=tcp://$(node_addr gp-node-1):2375"
}

exec_on() {
  (($# >= 2)) || die "exec takes a node and a command: exec 1 docker ps"
  local name
  name=$(node_name "$1")
  shift
  local tty=()
  if [[ -t 0 && -t 1 ]]; then tty=(-t); fi
  exec docker exec -i "${tty[@]}" "$name" "$@"
}

load() {
  (($# >= 1)) || die "load takes one or more local images: load ghostpeer:latest"
  local list
  list=$(nodes)
  [[ -n "$list" ]] || die "no cluster to load into (up N first)"
  local image id name archive pids=() failed=0
  for image in "$@"; do
    id=$(docker image inspect -f '{{.Id}}' "$image") || die "no local image $image"
    archive=$(mktemp /tmp/gp-cluster-image.XXXXXX.tar)
    docker save -o "$archive" "$image"
    pids=()
    for name in $list; do
      if [[ "$(docker exec "$name" docker image inspect -f '{{.Id}}' "$image" 2>/dev/null)" == "$id" ]]; then
        continue
      fi
      docker exec -i "$name" docker load -q <"$archive" >/dev/null &
      pids+=("$!:$name")
    done
    local entry
    for entry in "${pids[@]}"; do
      wait "${entry%%:*}" || { say "loading $image into ${entry#*:} failed"; failed=1; }
    done
    rm -f "$archive"
    ((failed == 0)) || exit 1
    say "$image on every node"
  done
}

poweroff() {
  (($# == 1)) || die "poweroff takes one node: poweroff 2"
  local name
  name=$(node_name "$1")
  docker inspect "$name" >/dev/null 2>&1 || die "no node $name"
  # The link goes first: the kill then closes sockets with no wire left to
  # carry their FINs, as a power loss would.
  docker network disconnect -f "$network" "$name"
  docker kill "$name" >/dev/null
  say "$name: link cut, then killed"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  status) status ;;
  exec) shift; exec_on "$@" ;;
  load) shift; need_root_and_docker load; load "$@" ;;
  poweroff) shift; poweroff "$@" ;;
  image) need_root_and_docker image; node_image ;;
  -h|--help|help) usage ;;
  "") usage >&2; exit 2 ;;
  *) say "unknown command '$1'"; usage >&2; exit 2 ;;
esac
