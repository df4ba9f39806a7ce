#!/usr/bin/env bash
# Makes a Docker engine with an active single-node swarm available on this
# machine, from Debian 12's packages, without systemd. Idempotent: every step
# checks before it acts, so running it again changes nothing.
#
#   1. apt-get install docker.io busybox-static if dockerd or busybox is missing
#      (a docker *client* alone, as some images ship in /usr/local/bin, is not
#      an engine).
#   2. If `docker info` fails, start dockerd in the background (it starts its
#      own containerd when none is given), log to /var/log/ghostpeer-dockerd.log,
#      and wait, bounded, until it answers.
#   3. If the swarm is not active, `docker swarm init --advertise-addr
#      127.0.0.1`, so no swarm traffic ever leaves loopback.
#
# Environment: GHOSTPEER_DOCKER_WAIT_S (default 60) bounds the wait in step 2.
set -euo pipefail

log=/var/log/ghostpeer-dockerd.log
wait_s=${GHOSTPEER_DOCKER_WAIT_S:-60}

say() { echo "docker-up: $*"; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
[[ -x /bin/busybox ]] || missing+=(busybox-static)
if ((${#missing[@]} > 0)); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if docker info >/dev/null 2>&1; then
  say "dockerd answers"
else
  say "starting dockerd (log: $log)"
  # setsid: dockerd must outlive this script and not get its terminal's
  # signals; its pid is printed so whoever started it can stop it by pid.
  setsid dockerd >>"$log" 2>&1 </dev/null &
  pid=$!
  say "dockerd pid $pid"
  for ((i = 0; i < wait_s * 2; i++)); do
    if docker info >/dev/null 2>&1; then
      break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      say "dockerd exited; last lines of $log:"
      tail -n 20 "$log" >&2
      exit 1
    fi
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    say "dockerd did not answer within ${wait_s}s; last lines of $log:"
    tail -n 20 "$log" >&2
    exit 1
  fi
  say "dockerd answers"
fi

state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [[ "$state" == "active" ]]; then
  say "swarm active"
else
  say "initialising a single-node swarm on 127.0.0.1 (was: ${state:-none})"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  say "swarm active"
fi
