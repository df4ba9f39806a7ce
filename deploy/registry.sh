#!/usr/bin/env bash
# Runs a plain-HTTP image registry on the swarm manager the docker CLI points
# at (local engine, DOCKER_HOST or docker context), so that every node can
# pull ghostpeer's image: what `deploy/up.sh --start-registry` uses when the
# cluster has no registry of its own.
#
# The registry is Debian's `docker-registry` (distribution 2.8), whose binary
# links libc only: imported with `docker import` like build-image.sh does, no
# registry needed to get the registry. It runs as the container
# `ghostpeer-registry` on the manager (restart unless-stopped), port PORT
# published on every address of that node, blobs in the volume
# `ghostpeer-registry-data`. No TLS, no authentication: for a trusted
# network. Every node's dockerd must allow it (`--insecure-registry
# ADDR:PORT`, or "insecure-registries" in /etc/docker/daemon.json), except
# on a single-node swarm advertised on 127.0.0.1 (loopback always is).
#
#   deploy/registry.sh ADDR [PORT]    start it if needed (PORT 5000); prints
#                                     ADDR:PORT, the registry the nodes use
#   deploy/registry.sh --remove       remove the container (the volume stays)
set -euo pipefail
cd "$(dirname "$0")/.."
readonly name=ghostpeer-registry

if [[ "${1:-}" == "--remove" ]]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  exit 0
fi
addr=${1:?usage: deploy/registry.sh ADDR [PORT] | --remove}
port=${2:-5000}
if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
  echo "registry: port '$port' is not 1-65535" >&2
  exit 2
fi
# The binary from Debian's package. Installing the package would also start
# its own registry on port 5000 wherever systemd runs it (with htpasswd auth
# asked for): take the binary out of the .deb instead when it is not here.
binary=/usr/bin/docker-registry
work=$(mktemp -d /tmp/ghostpeer-registry.XXXXXX)
chmod 755 "$work" # apt-get download runs as _apt
trap 'rm -rf "$work"' EXIT
if [[ ! -x "$binary" ]]; then
  if ! (cd "$work" && apt-get download -qq docker-registry >/dev/null 2>&1); then
    (apt-get update -qq && cd "$work" && apt-get download -qq docker-registry >/dev/null) ||
      { echo "registry: cannot download Debian's docker-registry package" >&2; exit 1; }
  fi
  dpkg-deb -x "$work"/docker-registry_*.deb "$work/deb"
  binary="$work/deb/usr/bin/docker-registry"
fi

rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,etc/docker/registry,var/lib/registry,tmp}
chmod 1777 "$rootfs/tmp"
install -m 0755 "$binary" "$rootfs/bin/docker-registry"
ldd "$binary" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' |
  while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -Ln "$lib" "$rootfs$lib"
  done
# Debian's own config asks for htpasswd auth and a path of its package;
# this one serves anonymously from the volume.
cat >"$rootfs/etc/docker/registry/config.yml" <<'EOT'
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
EOT
digest=$(tar -C "$rootfs" --sort=name --mtime=@0 --owner=0 --group=0 -c . | sha256sum | cut -c1-12)
image="ghostpeer-registry:$digest"
if ! docker image inspect "$image" >/dev/null 2>&1; then
  tar -C "$rootfs" -c . | docker import \
    --change 'ENTRYPOINT ["/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]' \
    - "$image" >/dev/null
  echo "registry: built image $image" >&2
fi

# Keep a running registry of the same image and port; replace anything else
# (its blobs are in the volume and survive).
want="$image 0.0.0.0:$port"
have=$(docker inspect --format \
  '{{.Config.Image}} {{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIp}}{{if not .HostIp}}0.0.0.0{{end}}:{{.HostPort}}{{end}}{{end}}' \
  "$name" 2>/dev/null || true)
running=$(docker inspect --format '{{.State.Running}}' "$name" 2>/dev/null || true)
if [[ "$have" != "$want" || "$running" != true ]]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --restart unless-stopped \
    --label ghostpeer.registry=1 \
    -p "$port:5000" -v ghostpeer-registry-data:/var/lib/registry \
    "$image" >/dev/null
  echo "registry: started $name on $(docker info --format "{{.Name}}"), port $port" >&2
else
  echo "registry: $name runs (port $port)" >&2
fi
echo "$addr:$port"
