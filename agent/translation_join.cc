#include "agent/translation_join.h"

#include <netinet/in.h>

#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ghostpeer::agent {
namespace {

constexpr int kMaxHops = 4;

// An original tuple. The views point into the tables and the socket
// records, which outlive the index.
struct FlowKey {
  uint8_t protocol = 0;
  absl::string_view client_ip;
  uint16_t client_port = 0;
  absl::string_view service_ip;
  uint16_t service_port = 0;

  friend bool operator==(const FlowKey& a, const FlowKey& b) {
    return a.protocol == b.protocol && a.client_port == b.client_port &&
           a.service_port == b.service_port && a.client_ip == b.client_ip &&
           a.service_ip == b.service_ip;
  }
  template <typename H>
  friend H AbslHashValue(H state, const FlowKey& key) {
    return H::combine(std::move(state), key.protocol, key.client_ip,
                      key.client_port, key.service_ip, key.service_port);
  }
};

struct Candidate {
  const Translation* flow = nullptr;
  uint64_t netns_inode = 0;
  // Another translation of the same tuple named a different backend.
  bool ambiguous = false;
};

// Rule 2 of the header: IPVS first, then the namespace, then the backend.
bool Better(const Candidate& a, const Candidate& b) {
  const auto rank = [](const Candidate& c) {
    return std::make_tuple(c.flow->translator == Translator::kIpvs ? 0 : 1,
                           c.netns_inode, absl::string_view(c.flow->backend_ip),
                           c.flow->backend_port);
  };
  return rank(a) < rank(b);
}

bool SameBackend(const Translation& a, const Translation& b) {
  return a.backend_port == b.backend_port && a.backend_ip == b.backend_ip;
}

uint8_t ProtocolOf(const v1::SocketRecord& socket) {
  return socket.protocol() == v1::PROTOCOL_UDP ? IPPROTO_UDP : IPPROTO_TCP;
}

v1::Translator ToProto(Translator translator) {
  switch (translator) {
    case Translator::kConntrack:
      return v1::TRANSLATOR_CONNTRACK;
    case Translator::kIpvs:
      return v1::TRANSLATOR_IPVS;
  }
  return v1::TRANSLATOR_UNSPECIFIED;
}

void ClearTranslation(v1::SocketRecord* socket) {
  socket->clear_backend_ip();
  socket->clear_backend_port();
  socket->clear_translated_by();
  socket->clear_translation_netns_inode();
}

}  // namespace

JoinResult JoinTranslations(
    absl::Span<const TranslationTable> tables,
    google::protobuf::RepeatedPtrField<v1::SocketRecord>* sockets) {
  // 1. Index every real translation by its original tuple, keeping the best
  //    candidate per tuple (rules 1 and 2).
  size_t total = 0;
  for (const TranslationTable& table : tables) total += table.flows.size();
  absl::flat_hash_map<FlowKey, Candidate> index;
  index.reserve(total);
  for (const TranslationTable& table : tables) {
    for (const Translation& flow : table.flows) {
      if (flow.backend_ip == flow.service_ip &&
          flow.backend_port == flow.service_port) {
        continue;
      }
      const FlowKey key{flow.protocol, flow.client_ip, flow.client_port,
                        flow.service_ip, flow.service_port};
      Candidate candidate{&flow, table.netns_inode, false};
      auto [it, inserted] = index.try_emplace(key, candidate);
      if (inserted) continue;
      Candidate& best = it->second;
      candidate.ambiguous =
          best.ambiguous || !SameBackend(*best.flow, *candidate.flow);
      if (Better(candidate, best)) {
        best = candidate;
      } else {
        best.ambiguous = candidate.ambiguous;
      }
    }
  }

  // 2. Each socket's 4-tuple is an original tuple; follow the chain of
  //    translations for the same client (rule 3), never revisiting an
  //    address.
  JoinResult result;
  for (v1::SocketRecord& socket : *sockets) {
    ClearTranslation(&socket);
    if (index.empty() || socket.remote_ip().empty() ||
        socket.remote_port() == 0 || socket.local_port() == 0 ||
        socket.remote_port() > 0xFFFF || socket.local_port() > 0xFFFF) {
      continue;
    }
    const uint8_t protocol = ProtocolOf(socket);
    const uint16_t local_port = static_cast<uint16_t>(socket.local_port());
    FlowKey key{protocol, socket.local_ip(), local_port, socket.remote_ip(),
                static_cast<uint16_t>(socket.remote_port())};
    auto it = index.find(key);
    if (it == index.end()) continue;
    const Candidate* hop = &it->second;
    bool ambiguous = hop->ambiguous;
    // Addresses already on the path: the socket's remote, then each hop's
    // backend.
    std::pair<absl::string_view, uint16_t> seen[kMaxHops + 1];
    int seen_count = 0;
    seen[seen_count++] = {key.service_ip, key.service_port};
    seen[seen_count++] = {hop->flow->backend_ip, hop->flow->backend_port};
    for (int hops = 1; hops < kMaxHops; ++hops) {
      auto next =
          index.find(FlowKey{protocol, socket.local_ip(), local_port,
                             hop->flow->backend_ip, hop->flow->backend_port});
      if (next == index.end()) break;
      const Translation& flow = *next->second.flow;
      bool cycle = false;
      for (int i = 0; i < seen_count; ++i) {
        if (seen[i].first == flow.backend_ip &&
            seen[i].second == flow.backend_port) {
          cycle = true;
        }
      }
      if (cycle) break;
      hop = &next->second;
      ambiguous = ambiguous || hop->ambiguous;
      seen[seen_count++] = {flow.backend_ip, flow.backend_port};
    }
    socket.set_backend_ip(hop->flow->backend_ip);
    socket.set_backend_port(hop->flow->backend_port);
    socket.set_translated_by(ToProto(hop->flow->translator));
    socket.set_translation_netns_inode(hop->netns_inode);
    ++result.translated;
    if (ambiguous) ++result.ambiguous;
  }
  return result;
}

std::string TranslationStatus(const v1::NodeSnapshot& snapshot) {
  int failed = 0;
  const v1::NamespaceInfo* first = nullptr;
  for (const v1::NamespaceInfo& info : snapshot.namespaces()) {
    if (info.translation_error().empty()) continue;
    if (failed++ == 0) first = &info;
  }
  if (first == nullptr) return "ok";
  const std::string name = first->is_host()               ? "host"
                           : !first->netns_name().empty() ? first->netns_name()
                                                          : first->path();
  return absl::StrCat("unavailable: translations unreadable in ", failed,
                      " of ", snapshot.namespaces_size(), " namespaces (", name,
                      ": ", first->translation_error(), ")");
}

}  // namespace ghostpeer::agent
