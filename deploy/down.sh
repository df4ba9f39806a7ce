#!/usr/bin/env bash
# Removes the ghostpeer stack (and the demo's services and the registry of
# `up.sh --start-registry`, if present) from the swarm the docker CLI points
# at. Volumes (the aggregator's history, the agents' journals, the
# registry's blobs, the database of `up.sh --postgres`) are kept unless
# --volumes, which also removes what belonged to that database: its
# password's secret and the node label that pinned it (the password file
# in /etc/ghostpeer/postgres stays, for the next database).
set -euo pipefail
cd "$(dirname "$0")/.."
volumes=false
[[ "${1:-}" == "--volumes" ]] && volumes=true
deploy/demo.sh --clean >/dev/null 2>&1 || true
if docker stack ls --format '{{.Name}}' 2>/dev/null | grep -qx ghostpeer; then
  docker stack rm ghostpeer
  # Wait for the tasks to go (bounded) so volumes can be removed.
  for _ in $(seq 1 60); do
    docker ps -q -f label=com.docker.stack.namespace=ghostpeer | grep -q . || break
    sleep 1
  done
fi
deploy/registry.sh --remove
if $volumes; then
  # A stopped task's container may hold a volume a few seconds after the
  # stack is gone: retry (bounded), and say so if one stays.
  # (Volumes of other nodes stay: a volume is local to its node.)
  for volume in ghostpeer_agent-state ghostpeer_aggregator-data ghostpeer-registry-data \
      ghostpeer_postgres-data; do
    for _ in $(seq 1 30); do
      docker volume inspect "$volume" >/dev/null 2>&1 || break
      docker volume rm "$volume" >/dev/null 2>&1 && break
      sleep 1
    done
    if docker volume inspect "$volume" >/dev/null 2>&1; then
      echo "deploy: volume $volume is still in use; not removed" >&2
      exit 1
    fi
  done
  docker secret rm ghostpeer_postgres_passfile >/dev/null 2>&1 || true
  for node in $(docker node ls -q --filter node.label=ghostpeer.postgres=true 2>/dev/null); do
    docker node update --label-rm ghostpeer.postgres "$node" >/dev/null
  done
fi
echo "deploy: ghostpeer removed"
