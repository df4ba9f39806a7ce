#!/usr/bin/env bash
# Records the conntrack golden files of tests/testdata/agent/ from real
# flows through an iptables DNAT "VIP" (../shared/NOTES-vip-nat.md §5), in
# private namespaces that have no link to the host's (all removed at exit).
#   tests/support/record_conntrack_golden.sh <build dir> <output dir>
# Writes, all from the router namespace of the same run:
#   conntrack_dump.nlbin      ctnetlink dump (AF_UNSPEC: IPv4 and IPv6; the
#                             committed one was recorded before the request
#                             filtered by IPS_DST_NAT, so it holds the
#                             untranslated entries too)
#   conntrack_eperm.nlbin     the same request without CAP_NET_ADMIN
#   nf_conntrack.txt          /proc/net/nf_conntrack
# Flows (client 10.77.1.2 / fd00:77:1::2, VIP 10.77.9.9 / fd00:77:9::9,
# backend .11 / ::11 behind the router's bridge):
#   TCP VIP:8080 ESTABLISHED (v4, v6); TCP VIP:8081 whose backend closed
#   first (client CLOSE_WAIT, conntrack CLOSE_WAIT); UDP VIP:5353 one
#   datagram (UNREPLIED); TCP straight to the backend's port 9000 (no NAT,
#   skipped). The bridge's IGMP entry (neither TCP nor UDP) comes for free.
# Needs root, iproute2, iptables, ip6tables, conntrack, python3.
set -euo pipefail
build=${1:?usage: $0 <build dir> <output dir>}
out=${2:?usage: $0 <build dir> <output dir>}
recorder="$build/bin/record_conntrack_golden"
[[ -x "$recorder" ]] || { echo "build record_conntrack_golden first" >&2; exit 2; }
mkdir -p "$out"

p="gp-xr-rec-$$"
cli="$p-cli" rtr="$p-rtr" be="$p-be1"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for n in "$cli" "$rtr" "$be"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT

for n in "$cli" "$rtr" "$be"; do
  ip netns add "$n"
  ip -n "$n" link set lo up
  # No duplicate address detection: link-local addresses usable at once.
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
    net.ipv6.conf.default.accept_dad=0
done
ip -n "$cli" link add c0 type veth peer name r0 netns "$rtr"
ip -n "$rtr" link add br0 type bridge
ip -n "$be" link add b0 type veth peer name rb1 netns "$rtr"
ip -n "$rtr" link set rb1 master br0
ip -n "$cli" addr add 10.77.1.2/24 dev c0
ip -n "$cli" addr add fd00:77:1::2/64 dev c0 nodad
ip -n "$cli" link set c0 up
ip -n "$cli" route add default via 10.77.1.1
ip -n "$cli" -6 route add default via fd00:77:1::1
ip -n "$rtr" addr add 10.77.1.1/24 dev r0
ip -n "$rtr" addr add fd00:77:1::1/64 dev r0 nodad
ip -n "$rtr" addr add 10.77.2.1/24 dev br0
ip -n "$rtr" addr add fd00:77:2::1/64 dev br0 nodad
for l in r0 br0 rb1; do ip -n "$rtr" link set "$l" up; done
ip -n "$be" addr add 10.77.2.11/24 dev b0
ip -n "$be" addr add fd00:77:2::11/64 dev b0 nodad
ip -n "$be" link set b0 up
ip -n "$be" route add default via 10.77.2.1
ip -n "$be" -6 route add default via fd00:77:2::1
ip netns exec "$rtr" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip netns exec "$rtr" iptables -t nat -A PREROUTING -d 10.77.9.9/32 -p tcp \
  -m multiport --dports 8080,8081 -j DNAT --to-destination 10.77.2.11
ip netns exec "$rtr" iptables -t nat -A PREROUTING -d 10.77.9.9/32 -p udp \
  --dport 5353 -j DNAT --to-destination 10.77.2.11:5353
ip netns exec "$rtr" ip6tables -t nat -A PREROUTING -d fd00:77:9::9/128 -p tcp \
  --dport 8080 -j DNAT --to-destination '[fd00:77:2::11]:8080'

# Backend: listens on 8080 (both families) and 8081; on 8081 it shuts its
# write side after accepting (FIN: the client goes to CLOSE_WAIT).
ip netns exec "$be" python3 -c '
import socket, time
l = socket.socket(socket.AF_INET6); l.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
l.bind(("::", 8080)); l.listen(8)
f = socket.socket(); f.bind(("0.0.0.0", 8081)); f.listen(8)
d = socket.socket(); d.bind(("0.0.0.0", 9000)); d.listen(8)
held = []
for s in (l, l):
    held.append(s.accept()[0])
c = f.accept()[0]; c.shutdown(socket.SHUT_WR); held.append(c)
held.append(d.accept()[0])
time.sleep(600)
' &
pids+=($!)
sleep 0.5
ip netns exec "$cli" python3 -c '
import socket, time
held = []
for fam, vip, port in ((socket.AF_INET, "10.77.9.9", 8080),
                       (socket.AF_INET6, "fd00:77:9::9", 8080),
                       (socket.AF_INET, "10.77.9.9", 8081)):
    s = socket.socket(fam); s.settimeout(5); s.connect((vip, port))
    s.send(b"hello"); held.append(s)
d = socket.socket(); d.settimeout(5); d.connect(("10.77.2.11", 9000))
held.append(d)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"q", ("10.77.9.9", 5353))
time.sleep(600)
' &
pids+=($!)
sleep 2

ip netns exec "$rtr" "$recorder" "$out/conntrack_dump.nlbin"
ip netns exec "$rtr" cat /proc/net/nf_conntrack >"$out/nf_conntrack.txt"
ip netns exec "$rtr" setpriv --inh-caps=-net_admin --bounding-set=-net_admin \
  "$recorder" "$out/conntrack_eperm.nlbin" || true
ip netns exec "$rtr" conntrack -L 2>/dev/null
