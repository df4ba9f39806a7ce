// Joining a node's sockets to the translations that carry them: a client of
// a VIP holds a socket naming the VIP, and only a conntrack (DNAT) or IPVS
// entry, possibly in another namespace of the node (Docker's lb_*, the
// host's for kube-proxy, a router's), names the real backend
// (../shared/NOTES-vip-nat.md). Pure.
#ifndef GHOSTPEER_AGENT_TRANSLATION_JOIN_H_
#define GHOSTPEER_AGENT_TRANSLATION_JOIN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "agent/translation.h"
#include "ghostpeer/v1/model.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace ghostpeer::agent {

// The translations one namespace holds.
struct TranslationTable {
  uint64_t netns_inode = 0;
  std::vector<Translation> flows;
};

struct JoinResult {
  // Sockets that were given a backend.
  uint32_t translated = 0;
  // Of those, how many had more than one candidate backend for their tuple
  // (the same original tuple translated differently in two namespaces):
  // the rule below chose, but the answer may be wrong where namespaces
  // reuse addresses.
  uint32_t ambiguous = 0;
};

// Sets backend_ip, backend_port, translated_by and translation_netns_inode
// on every socket of `sockets` whose (protocol, local ip:port, remote
// ip:port) is the original tuple (protocol, client, service) of a
// translation in any of `tables`, and clears them on every other socket (a
// record is a reading of now: a translation that expired takes its backend
// with it).
//
// The rules, in order:
//  1. A translation whose backend is its service address (ip and port) is
//     no translation: ignored.
//  2. Several translations with the same original tuple: IPVS before
//     conntrack (in a swarm lb_ namespace with vs/conntrack=1 both hold the
//     flow; IPVS is the balancer that chose the backend), then a backend
//     that differs from the others' by the lowest namespace inode, then the
//     lowest backend (deterministic; such a tie means two namespaces reuse
//     the same addresses, which the node's agent cannot tell apart).
//  3. Chains: when the chosen backend is itself translated for the same
//     client (client:port -> backend as an original tuple in another
//     namespace: a DNAT in the client's own namespace, then a router's),
//     the last hop's backend wins, at most 4 hops, never around a cycle.
//     The socket is then reported with that last hop's translator and
//     namespace: the one that picked where the data really goes.
// Sockets without a remote address or port (listeners, unconnected UDP)
// are never joined. A record's protocol UNSPECIFIED means TCP.
JoinResult JoinTranslations(
    absl::Span<const TranslationTable> tables,
    google::protobuf::RepeatedPtrField<v1::SocketRecord>* sockets);

// NodeSnapshot.translation_status from its namespaces' translation_error:
// "ok" when none has one (a namespace without conntrack or IPVS has nothing
// to read and no error), else "unavailable: translations unreadable in N of
// M namespaces (<first such namespace>: <its error>)", the namespace named
// "host", by its netns name, or by its path. A node that is not "ok" may
// hold sockets to VIPs with no backend: no finding can be made about them.
std::string TranslationStatus(const v1::NodeSnapshot& snapshot);

}  // namespace ghostpeer::agent

#endif  // GHOSTPEER_AGENT_TRANSLATION_JOIN_H_
