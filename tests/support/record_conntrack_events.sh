#!/usr/bin/env bash
# Records tests/testdata/agent/conntrack_events.nlbin: the ctnetlink events
# (NFNLGRP_CONNTRACK_NEW and _DESTROY, one message per datagram, as read)
# of a DNAT "VIP" in one private namespace with no link to the host's
# (removed at exit). Traffic stays on that namespace's loopback:
# VIP 10.77.9.9 is DNAT'ed in OUTPUT to backends 10.77.2.11 / .12 on lo.
#   tests/support/record_conntrack_events.sh <output file>
# Events, in order: TCP to VIP:8080 (NEW, backend .11); `conntrack -D` of it
# (DESTROY); the VIP re-pointed to .12 and the same socket sending again, so
# the flow is picked up again and DNAT'ed to .12 (NEW), which resets it
# (DESTROY); UDP to VIP:5353 (NEW, backend .12); UDP straight to .12:5354
# (NEW, no NAT); `conntrack -F` (DESTROY of both UDP flows).
# Needs root, iproute2, iptables, conntrack, python3.
set -euo pipefail
out=${1:?usage: $0 <output file>}
ns="gp-xf-$$-rec"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add 10.77.2.11/32 dev lo
ip -n "$ns" addr add 10.77.2.12/32 dev lo
ip -n "$ns" route add 10.77.9.0/24 dev lo
ip netns exec "$ns" iptables -t nat -A OUTPUT -d 10.77.9.9/32 -p tcp \
  --dport 8080 -j DNAT --to-destination 10.77.2.11:8080
ip netns exec "$ns" iptables -t nat -A OUTPUT -d 10.77.9.9/32 -p udp \
  --dport 5353 -j DNAT --to-destination 10.77.2.12:5353
timeout 30 ip netns exec "$ns" python3 - "$out" <<'PY'
import socket, subprocess, sys, time
events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETFILTER
events.bind((0, 1 | 4))  # NF_NETLINK_CONNTRACK_NEW | _DESTROY
events.setblocking(False)
out = open(sys.argv[1], 'wb')
def drain():
    while True:
        try:
            out.write(events.recv(65536))
        except BlockingIOError:
            return
def run(*argv):
    subprocess.run(argv, check=True, capture_output=True)
servers = []
for backend in ('10.77.2.11', '10.77.2.12'):
    s = socket.socket(); s.bind((backend, 8080)); s.listen(); servers.append(s)
client = socket.create_connection(('10.77.9.9', 8080))
accepted, _ = servers[0].accept()
port = str(client.getsockname()[1])
time.sleep(0.2); drain()
run('conntrack', '-D', '-p', 'tcp', '--orig-port-src', port)
time.sleep(0.1); drain()
run('iptables', '-t', 'nat', '-R', 'OUTPUT', '1', '-d', '10.77.9.9/32', '-p',
    'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination',
    '10.77.2.12:8080')
try:
    client.send(b'x')
except OSError:
    pass
time.sleep(0.3); drain()
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'y', ('10.77.9.9', 5353))
time.sleep(0.2); drain()
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'y', ('10.77.2.12', 5354))
time.sleep(0.2); drain()
run('conntrack', '-F')
time.sleep(0.2); drain()
out.close()
PY
